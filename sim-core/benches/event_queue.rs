//! The classic "hold" model: keep N events pending; each step pops the earliest and pushes one
//! at a random later time. Measures the cost of one pop+push at 1 k and 100 k pending events,
//! and the same through the full kernel (`Simulation` with a model that reschedules itself).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::Rng;
use sim_core::{EventQueue, Handle, Model, RngStreams, SimDuration, SimTime, Simulation};

fn hold_queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("event_queue_hold");
    for &n in &[1_000usize, 100_000] {
        let mut rng = RngStreams::new(1).stream("bench");
        let mut q = EventQueue::new();
        for i in 0..n {
            q.push(
                SimTime::from_nanos(rng.random_range(0..1_000_000)),
                i as u32,
            );
        }
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let (t, v) = q.pop().expect("queue never empties");
                q.push(
                    SimTime::from_nanos(t.as_nanos() + rng.random_range(1..1_000_000)),
                    v,
                );
            })
        });
    }
    g.finish();
}

struct Hold {
    rng: sim_core::SimRng,
}
impl Model for Hold {
    type Event = u32;
    fn handle(&mut self, _now: SimTime, ev: u32, sim: &Handle<u32>) {
        sim.schedule_in(
            SimDuration::from_nanos(self.rng.random_range(1..1_000_000)),
            ev,
        );
    }
}

fn hold_kernel(c: &mut Criterion) {
    let mut g = c.benchmark_group("kernel_hold");
    for &n in &[1_000u32, 100_000] {
        let rng = RngStreams::new(1).stream("bench");
        let mut sim = Simulation::new(Hold { rng });
        for i in 0..n {
            sim.handle()
                .schedule_at(SimTime::from_nanos(u64::from(i) * 10), i);
        }
        sim.run_until(SimTime::from_nanos(1_000_000));
        g.throughput(Throughput::Elements(10_000));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                // Advance until 10 000 more events have run.
                let target = sim.stats().events + 10_000;
                while sim.stats().events < target {
                    sim.run_for(SimDuration::from_nanos(50_000));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, hold_queue, hold_kernel);
criterion_main!(benches);
