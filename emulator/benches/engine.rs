//! The emulator's sans-IO core on a fake clock: what one packet costs in the engine (parse,
//! route, three ports of the dumbbell, timing bookkeeping), without TUN I/O. The real
//! ceiling, with the devices and the kernel, is measured by the `emulator bench` command; this
//! separates the engine's share of it.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use emulator::config::EmulatorConfig;
use emulator::{Clock, Engine, FakeClock, Pump};
use netmodels::topology::{node_ip, LinkParams, TopologyConfig};
use sim_core::{SimDuration, SimTime};

const PACKETS: u64 = 1_000;
const LEN: usize = 1_500;

fn udp(sport: u16) -> Bytes {
    let mut p = vec![0u8; LEN];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(LEN as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&node_ip(0).octets());
    p[16..20].copy_from_slice(&node_ip(1).octets());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&9u16.to_be_bytes());
    Bytes::from(p)
}

fn pump() -> Pump<FakeClock> {
    let mut c = EmulatorConfig::new(TopologyConfig::Dumbbell {
        pairs: 1,
        bottleneck: LinkParams::fixed(1_000_000_000, 10_000.0, 2_000),
        access: LinkParams::fixed(10_000_000_000, 0.0, 2_000),
        middlebox: None,
    });
    c.max_rate_bps = 10_000_000_000;
    Pump::new(
        Engine::new(&c, SimDuration::ZERO).unwrap(),
        FakeClock::default(),
    )
}

/// 1,000 packets of 1,500 bytes in at 12 µs intervals (1 Gbit/s), every one written out.
fn run(p: &mut Pump<FakeClock>, pkts: &[Bytes]) -> u64 {
    let mut written = 0u64;
    let mut next_in = 0usize;
    loop {
        let now = p.clock.now();
        while next_in < pkts.len() && now >= SimTime::from_nanos(next_in as u64 * 12_000) {
            p.ingress(0, pkts[next_in].clone());
            next_in += 1;
        }
        let wake = p.turn(|_, _| {
            written += 1;
            true
        });
        let arrival = (next_in < pkts.len()).then(|| SimTime::from_nanos(next_in as u64 * 12_000));
        match (wake, arrival) {
            (None, None) => return written,
            (Some(a), Some(b)) => p.clock.set(a.min(b)),
            (Some(a), None) | (None, Some(a)) => p.clock.set(a),
        }
    }
}

fn bench(c: &mut Criterion) {
    let pkts: Vec<Bytes> = (0..PACKETS).map(|i| udp(i as u16)).collect();
    let mut g = c.benchmark_group("emulator_engine");
    g.throughput(Throughput::Elements(PACKETS));
    g.bench_function("dumbbell_1000_packets", |b| {
        b.iter_batched(
            pump,
            |mut p| {
                let n = run(&mut p, &pkts);
                assert_eq!(n, PACKETS);
                n
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
