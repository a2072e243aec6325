use super::*;
use crate::queue::QueueConfig;
use rand::{Rng, SeedableRng};

fn port(rate_bps: u64, delay: SimDuration, limit: usize, loss: Option<LossModel>) -> Port {
    let q = QueueConfig::DropTail {
        limit_packets: Some(limit),
        limit_bytes: None,
    }
    .build(sim_core::RngStreams::new(1).stream("q"))
    .unwrap();
    Port::new(0, 0, 1, q, LinkServer::fixed(rate_bps), delay, loss)
}

fn pkt(id: u64, size: u32) -> Packet {
    Packet::test(id, 1, size)
}

/// Drives one port from a fake monotonic clock that advances in irregular steps (1 ns to
/// 3 ms, seeded), enqueuing bursts at the clock's instants, and checks every arrival against
/// the ideal schedule: departure = max(enqueue, previous departure) + size / rate, arrival =
/// departure + delay, whatever the polling pattern.
#[test]
fn poll_under_an_irregular_fake_clock_follows_the_ideal_schedule() {
    let rate = 12_000_000; // 1500 B = 1 ms
    let delay = SimDuration::from_micros(2_500);
    let mut p = port(rate, delay, 1_000, None);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut drops = Vec::new();
    let mut clock = SimTime::ZERO;
    let mut expected = VecDeque::new();
    let mut free_at = SimTime::ZERO;
    let mut got = Vec::new();
    let mut id = 0;
    let mut wire = 0u64;
    while clock < SimTime::from_nanos(2_000_000_000) {
        // Advance by an irregular step, then poll (late, as a real loop would be).
        let step = match rng.random_range(0..4) {
            0 => rng.random_range(1..1_000),
            1 => rng.random_range(1_000..100_000),
            _ => rng.random_range(100_000..3_000_000),
        };
        clock += SimDuration::from_nanos(step);
        while let Some((at, pk)) = p.poll(clock, &mut drops, |_| wire += 1) {
            assert!(at <= clock, "an arrival is never reported early");
            got.push((at, pk.id));
        }
        if let Some(w) = p.next_wakeup() {
            assert!(w > clock, "after poll, nothing due by now is left");
        }
        // Sometimes a burst arrives now.
        if rng.random_range(0..3) == 0 && clock < SimTime::from_nanos(1_500_000_000) {
            for _ in 0..rng.random_range(1..5) {
                let size = rng.random_range(64..1500);
                let start = clock.max(free_at);
                free_at = start + SimDuration::transmission(u64::from(size), rate);
                expected.push_back((free_at + delay, id));
                p.enqueue(clock, pkt(id, size), &mut drops);
                id += 1;
            }
        }
    }
    while let Some((at, pk)) = p.poll(SimTime::MAX, &mut drops, |_| wire += 1) {
        got.push((at, pk.id));
    }
    assert!(drops.is_empty());
    assert!(id > 200, "the test must exercise many packets ({id})");
    assert_eq!(wire, id);
    assert_eq!(got, Vec::from(expected));
    assert_eq!(p.bytes_in_flight(), 0);
    assert_eq!(p.stats.tx_packets, id);
}

#[test]
fn event_driven_api_reports_each_instant_once() {
    // 1000 B at 8 Mbit/s = 1 ms; delay 5 ms.
    let mut p = port(8_000_000, SimDuration::from_millis(5), 10, None);
    let mut drops = Vec::new();
    let t0 = SimTime::ZERO;
    let done = p.enqueue(t0, pkt(0, 1000), &mut drops);
    assert_eq!(done, Some(SimTime::from_nanos(1_000_000)));
    assert_eq!(
        p.enqueue(t0, pkt(1, 1000), &mut drops),
        None,
        "busy: no new instant"
    );
    let out = p.complete_tx(done.unwrap(), &mut drops, |_| {});
    assert_eq!(out.arrival_due, Some(SimTime::from_nanos(6_000_000)));
    assert_eq!(out.next_tx_done, Some(SimTime::from_nanos(2_000_000)));
    let out2 = p.complete_tx(out.next_tx_done.unwrap(), &mut drops, |_| {});
    assert_eq!(
        out2.arrival_due, None,
        "the pipe was not empty: no second arrival event"
    );
    assert_eq!(out2.next_tx_done, None);
    let (a, next) = p.pop_arrival().unwrap();
    assert_eq!((a.id, next), (0, Some(SimTime::from_nanos(7_000_000))));
    let (b, next) = p.pop_arrival().unwrap();
    assert_eq!((b.id, next), (1, None));
    assert_eq!(p.bytes_in_flight(), 0);
}

#[test]
fn rate_change_applies_from_the_next_packet() {
    let mut p = port(8_000_000, SimDuration::ZERO, 10, None);
    let mut drops = Vec::new();
    let d0 = p.enqueue(SimTime::ZERO, pkt(0, 1000), &mut drops).unwrap();
    p.enqueue(SimTime::ZERO, pkt(1, 1000), &mut drops);
    p.set_rate_bps(4_000_000).unwrap();
    assert_eq!(p.nominal_bps(), 4_000_000);
    assert_eq!(
        d0,
        SimTime::from_nanos(1_000_000),
        "in-service packet keeps its time"
    );
    let out = p.complete_tx(d0, &mut drops, |_| {});
    assert_eq!(out.next_tx_done, Some(SimTime::from_nanos(3_000_000)));
    assert_eq!(p.set_rate_bps(0), Err(PortError::ZeroRate));
}

#[test]
fn drops_and_wire_losses_are_counted_and_handed_back() {
    let loss = LossModel::new(1.0, sim_core::RngStreams::new(3).stream("l")).unwrap();
    let mut p = port(8_000_000, SimDuration::ZERO, 1, Some(loss));
    let mut drops = Vec::new();
    let d = p.enqueue(SimTime::ZERO, pkt(0, 1000), &mut drops).unwrap();
    p.enqueue(SimTime::ZERO, pkt(1, 1000), &mut drops);
    p.enqueue(SimTime::ZERO, pkt(2, 1000), &mut drops);
    assert_eq!(drops.iter().map(|p| p.id).collect::<Vec<_>>(), vec![2]);
    assert_eq!(p.stats.queue_drops, 1);
    let out = p.complete_tx(d, &mut drops, |_| {});
    assert_eq!(out.wire_lost_bytes, Some(1000));
    assert_eq!(p.stats.wire_losses, 1);
    assert_eq!(p.stats.dropped_bytes, 2000);
}

/// With a burst release period, packets that would arrive spread out arrive together at the
/// period's multiples, in order; without it they arrive as they propagate.
#[test]
fn burst_release_holds_arrivals_until_the_next_period_boundary() {
    // 1000 B at 8 Mbit/s = 1 ms each; 2.5 ms propagation; release every 5 ms.
    let run = |release: Option<SimDuration>| {
        let mut p = port(8_000_000, SimDuration::from_micros(2_500), 100, None);
        p.set_burst_release(release);
        let mut drops = Vec::new();
        for id in 0..8 {
            p.enqueue(SimTime::ZERO, pkt(id, 1000), &mut drops);
        }
        let mut got = Vec::new();
        while let Some((at, pk)) = p.poll(SimTime::MAX, &mut drops, |_| {}) {
            got.push((at.as_nanos() / 100_000, pk.id));
        }
        got
    };
    // Unimpaired: 3.5, 4.5, ... 10.5 ms (in units of 0.1 ms).
    assert_eq!(
        run(None),
        (0..8).map(|i| (35 + 10 * i, i)).collect::<Vec<_>>()
    );
    // Held: 3.5 and 4.5 leave at 5 ms; 5.5 .. 9.5 at 10 ms; 10.5 at 15 ms.
    let ids = |r: std::ops::Range<u64>, t| r.map(move |i| (t, i));
    let want: Vec<_> = ids(0..2, 50)
        .chain(ids(2..7, 100))
        .chain(ids(7..8, 150))
        .collect();
    assert_eq!(run(Some(SimDuration::from_millis(5))), want);
}

#[test]
fn a_port_stays_within_five_cache_lines() {
    // Every transmission touches most of a port, and in a large fabric the port is usually
    // cold: its size is a cache miss per line (see the layout note on `Port`).
    assert_eq!(std::mem::align_of::<Port>(), 64);
    assert!(
        std::mem::size_of::<Port>() <= 5 * 64,
        "Port grew to {} bytes",
        std::mem::size_of::<Port>()
    );
}

#[test]
fn the_fields_each_event_touches_share_lines() {
    use std::mem::{offset_of, size_of};
    // (field's first byte, its size) must lie on line `l`.
    let on = |l: usize, at: usize, size: usize| at / 64 == l && (at + size - 1) / 64 == l;
    // An arrival: the wire. A finished transmission adds the loss model, the release period
    // and the delay.
    assert!(on(0, offset_of!(Port, pipe), size_of::<Pipe>()));
    assert!(on(0, offset_of!(Port, pipe_bytes), 8));
    assert!(on(0, offset_of!(Port, to), 4));
    assert!(on(0, offset_of!(Port, loss), 8));
    assert!(on(0, offset_of!(Port, release_ns), 8));
    assert!(on(0, offset_of!(Port, delay), 8));
    // Starting a transmission: the packet in service, the server, the sampler's window.
    assert!(on(1, offset_of!(Port, busy), 16));
    assert!(on(1, offset_of!(Port, server), size_of::<LinkServer>()));
    assert!(on(1, offset_of!(Port, win_sojourn_ns), 8));
    assert!(on(1, offset_of!(Port, win_dequeued), 8));
    // The queue spans lines 2 and 3, and the counters every transmission or enqueue updates
    // end line 3.
    assert_eq!(offset_of!(Port, queue), 128);
    let stats = offset_of!(Port, stats);
    assert!(on(3, stats + offset_of!(PortStats, tx_packets), 8));
    assert!(on(3, stats + offset_of!(PortStats, tx_bytes), 8));
    assert!(on(3, stats + offset_of!(PortStats, max_queue_bytes), 8));
    assert!(on(3, stats + offset_of!(PortStats, ce_marked), 8));
}
