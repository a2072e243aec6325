//! Byte and packet conservation for every queue discipline (proptest): over random sequences
//! of enqueues, dequeues and time steps, enqueued = dequeued + dropped + queued, in bytes and
//! packets, at every step; `len_bytes` equals the sum of queued sizes; every packet comes out
//! exactly once (dequeued or dropped) when the queue is drained.

use std::collections::BTreeSet;

use netmodels::packet::{Ecn, Packet};
use netmodels::queue::QueueConfig;
use proptest::prelude::*;
use sim_core::{RngStreams, SimTime};

#[derive(Clone, Debug)]
enum Op {
    Enqueue {
        flow: u32,
        size: u32,
        prio: u8,
        ecn: u8,
    },
    Dequeue,
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..6, 40u32..3000, 0u8..5, 0u8..3)
            .prop_map(|(flow, size, prio, ecn)| Op::Enqueue { flow, size, prio, ecn }),
        3 => Just(Op::Dequeue),
        1 => (0u64..20_000_000).prop_map(Op::Advance),
    ]
}

fn configs() -> Vec<QueueConfig> {
    vec![
        QueueConfig::DropTail {
            limit_packets: Some(8),
            limit_bytes: None,
        },
        QueueConfig::DropTail {
            limit_packets: None,
            limit_bytes: Some(6000),
        },
        QueueConfig::DropHead {
            limit_packets: Some(8),
            limit_bytes: Some(9000),
        },
        QueueConfig::Red {
            limit_packets: Some(12),
            limit_bytes: None,
            min_th_packets: 2.0,
            max_th_packets: 6.0,
            max_p: 0.3,
            w_q: 0.3,
            gentle: true,
            ecn: true,
            harddrop: false,
            mean_pkt_time_us: Some(100.0),
        },
        QueueConfig::StepMark {
            limit_packets: None,
            limit_bytes: Some(10_000),
            k_packets: Some(3),
            k_bytes: None,
        },
        QueueConfig::Codel {
            limit_packets: Some(20),
            limit_bytes: None,
            target_us: 1000.0,
            interval_us: 5000.0,
            mtu_bytes: 1500,
            ecn: false,
        },
        QueueConfig::Codel {
            limit_packets: Some(20),
            limit_bytes: None,
            target_us: 1000.0,
            interval_us: 5000.0,
            mtu_bytes: 1500,
            ecn: true,
        },
        QueueConfig::Sfq {
            limit_packets: Some(10),
            limit_bytes: Some(12_000),
            buckets: 4,
            quantum_bytes: 1000,
        },
        QueueConfig::Priority {
            limit_packets: Some(3),
            limit_bytes: None,
            bands: 3,
        },
    ]
}

#[derive(Default)]
struct Ledger {
    in_bytes: u64,
    in_pkts: u64,
    out_bytes: u64,
    out_pkts: u64,
    drop_bytes: u64,
    drop_pkts: u64,
    seen: BTreeSet<u64>,
}

impl Ledger {
    fn take(&mut self, p: &Packet, dropped: bool) {
        assert!(
            self.seen.insert(p.id),
            "packet {} left the queue twice",
            p.id
        );
        if dropped {
            self.drop_bytes += u64::from(p.size);
            self.drop_pkts += 1;
        } else {
            self.out_bytes += u64::from(p.size);
            self.out_pkts += 1;
        }
    }
}

fn run(cfg: &QueueConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut q = cfg
        .build(RngStreams::new(3).stream("q"))
        .expect("valid config");
    let mut led = Ledger::default();
    let mut drops = Vec::new();
    let mut now = SimTime::ZERO;
    let mut next_id = 0;
    let check = |q: &dyn netmodels::Queue, led: &Ledger| -> Result<(), TestCaseError> {
        prop_assert_eq!(led.in_bytes, led.out_bytes + led.drop_bytes + q.len_bytes());
        prop_assert_eq!(
            led.in_pkts,
            led.out_pkts + led.drop_pkts + q.len_packets() as u64
        );
        prop_assert_eq!(q.is_empty(), q.len_packets() == 0);
        Ok(())
    };
    for op in ops {
        match *op {
            Op::Enqueue {
                flow,
                size,
                prio,
                ecn,
            } => {
                let mut p = Packet::test(next_id, flow, size);
                next_id += 1;
                p.priority = prio;
                p.ecn = [Ecn::NotEct, Ecn::Ect, Ecn::Ce][usize::from(ecn)];
                led.in_bytes += u64::from(size);
                led.in_pkts += 1;
                q.enqueue(p, now, &mut drops);
            }
            Op::Dequeue => {
                if let Some(p) = q.dequeue(now, &mut drops) {
                    prop_assert!(p.enqueued_at <= now);
                    led.take(&p, false);
                }
            }
            Op::Advance(ns) => now = SimTime::from_nanos(now.as_nanos() + ns),
        }
        for p in drops.drain(..) {
            led.take(&p, true);
        }
        check(&*q, &led)?;
    }
    // Drain: everything comes out exactly once, and the queue ends empty with zero bytes.
    now = SimTime::from_nanos(now.as_nanos() + 1_000_000_000);
    while let Some(p) = q.dequeue(now, &mut drops) {
        led.take(&p, false);
        for d in drops.drain(..) {
            led.take(&d, true);
        }
    }
    for d in drops.drain(..) {
        led.take(&d, true);
    }
    check(&*q, &led)?;
    prop_assert_eq!(q.len_bytes(), 0);
    prop_assert_eq!(led.seen.len() as u64, next_id);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_discipline_conserves_bytes_and_packets(ops in prop::collection::vec(op(), 0..300)) {
        for cfg in configs() {
            run(&cfg, &ops).map_err(|e| TestCaseError::fail(format!("{}: {e}", cfg.kind())))?;
        }
    }
}

#[test]
fn all_disciplines_are_covered() {
    let kinds: BTreeSet<&str> = configs().iter().map(QueueConfig::kind).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec![
            "codel",
            "drop_head",
            "drop_tail",
            "priority",
            "red",
            "sfq",
            "step_mark"
        ]
    );
}

/// Counts allocations made by the current thread (other tests run on other threads).
mod counting_alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    pub struct Counting;

    // SAFETY: forwards to the system allocator unchanged; only counts calls.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as ours.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as ours.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as ours.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    pub fn count() -> u64 {
        COUNT.with(Cell::get)
    }
}

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

#[test]
fn drop_tail_and_fixed_rate_link_do_not_allocate_per_packet() {
    use netmodels::link::LinkServer;
    let mut q = QueueConfig::DropTail {
        limit_packets: Some(200),
        limit_bytes: None,
    }
    .build(RngStreams::new(1).stream("q"))
    .unwrap();
    let mut link = LinkServer::fixed(96_000_000);
    let mut drops = Vec::with_capacity(16);
    let mut now = SimTime::ZERO;
    let mut id = 0;
    // Returns the allocations made inside the queue and link calls (a packet's own box is
    // made before, by its sender, and is not the queue's doing).
    let mut cycle = |q: &mut dyn netmodels::Queue, drops: &mut Vec<Packet>, n: usize| {
        let mut inside = 0;
        for i in 0..n {
            // Bursts of three arrivals per departure until the queue overflows, then drain.
            let arrivals = if (i / 500) % 2 == 0 { 3 } else { 0 };
            for _ in 0..arrivals {
                let pkt = Packet::test(id, 1, 1500);
                let before = counting_alloc::count();
                q.enqueue(pkt, now, drops);
                inside += counting_alloc::count() - before;
                id += 1;
            }
            drops.clear();
            let before = counting_alloc::count();
            if let Some(p) = q.dequeue(now, drops) {
                now = link.departure(now, p.size);
            }
            inside += counting_alloc::count() - before;
        }
        inside
    };
    cycle(&mut *q, &mut drops, 2_000); // warm-up: buffers reach their working size
    let before = counting_alloc::count();
    drop(std::hint::black_box(Vec::<u8>::with_capacity(10)));
    assert_eq!(
        counting_alloc::count() - before,
        1,
        "the counter sees this thread"
    );
    assert_eq!(
        cycle(&mut *q, &mut drops, 100_000),
        0,
        "allocations per packet"
    );
}
