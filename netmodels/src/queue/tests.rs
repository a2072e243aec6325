use sim_core::{RngStreams, SimDuration, SimTime};

use super::codel::CoDelParams;
use super::step::Threshold;
use super::*;
use crate::packet::{Ecn, Packet, PacketData};

fn pkt(id: u64, flow: u32, size: u32) -> Packet {
    Packet::test(id, flow, size)
}

fn ect(id: u64, size: u32) -> Packet {
    let mut p = Packet::test(id, 0, size);
    p.ecn = Ecn::Ect;
    p
}

fn rng(name: &str) -> sim_core::SimRng {
    RngStreams::new(7).stream(name)
}

fn ms(n: u64) -> SimTime {
    SimTime::from_nanos(n * 1_000_000)
}

fn drain_ids(q: &mut dyn Queue, now: SimTime) -> Vec<u64> {
    let mut drops = Vec::new();
    let mut out = Vec::new();
    while let Some(p) = q.dequeue(now, &mut drops) {
        out.push(p.id);
    }
    assert!(drops.is_empty());
    out
}

fn ids(v: &[Packet]) -> Vec<u64> {
    v.iter().map(|p| p.id).collect()
}

#[test]
fn drop_tail_drops_arrivals_beyond_packet_limit_and_serves_fifo() {
    let mut q = DropTail::new(Limit::packets(3));
    let mut drops = Vec::new();
    for i in 0..5 {
        q.enqueue(pkt(i, 0, 100), SimTime::from_nanos(i), &mut drops);
    }
    assert_eq!(ids(&drops), vec![3, 4]);
    assert_eq!((q.len_packets(), q.len_bytes()), (3, 300));
    assert_eq!(drain_ids(&mut q, ms(1)), vec![0, 1, 2]);
    assert!(q.is_empty());
    assert_eq!(q.len_bytes(), 0);
}

#[test]
fn drop_tail_byte_limit_admits_exactly_up_to_the_limit() {
    let mut q = DropTail::new(Limit::bytes(3000));
    let mut drops = Vec::new();
    q.enqueue(pkt(0, 0, 1000), SimTime::ZERO, &mut drops);
    q.enqueue(pkt(1, 0, 1500), SimTime::ZERO, &mut drops);
    q.enqueue(pkt(2, 0, 600), SimTime::ZERO, &mut drops); // 3100 > 3000
    q.enqueue(pkt(3, 0, 500), SimTime::ZERO, &mut drops); // exactly 3000
    assert_eq!(ids(&drops), vec![2]);
    assert_eq!(q.len_bytes(), 3000);
    assert_eq!(drain_ids(&mut q, ms(1)), vec![0, 1, 3]);
}

#[test]
fn enqueue_stamps_the_packet_with_now() {
    let mut q = DropTail::new(Limit::packets(3));
    let mut drops = Vec::new();
    q.enqueue(pkt(0, 0, 100), ms(7), &mut drops);
    let p = q.dequeue(ms(9), &mut drops).unwrap();
    assert_eq!(p.enqueued_at, ms(7));
}

#[test]
fn drop_head_drops_the_oldest_to_admit_the_new() {
    let mut q = DropHead::new(Limit::packets(3));
    let mut drops = Vec::new();
    for i in 0..5 {
        q.enqueue(pkt(i, 0, 100), SimTime::from_nanos(i), &mut drops);
    }
    assert_eq!(ids(&drops), vec![0, 1]);
    assert_eq!(drain_ids(&mut q, ms(1)), vec![2, 3, 4]);
}

#[test]
fn drop_head_byte_limit_drops_as_many_old_packets_as_needed() {
    let mut q = DropHead::new(Limit::bytes(3000));
    let mut drops = Vec::new();
    q.enqueue(pkt(0, 0, 1000), SimTime::ZERO, &mut drops);
    q.enqueue(pkt(1, 0, 1000), SimTime::ZERO, &mut drops);
    q.enqueue(pkt(2, 0, 1000), SimTime::ZERO, &mut drops);
    q.enqueue(pkt(3, 0, 2500), SimTime::ZERO, &mut drops);
    assert_eq!(ids(&drops), vec![0, 1, 2]);
    // A packet that cannot fit even alone is dropped itself, leaving the queue intact.
    q.enqueue(pkt(4, 0, 3001), SimTime::ZERO, &mut drops);
    assert_eq!(ids(&drops), vec![0, 1, 2, 4]);
    assert_eq!(q.len_bytes(), 2500);
    assert_eq!(drain_ids(&mut q, ms(1)), vec![3]);
}

fn red_params(min_th: f64, max_th: f64) -> RedParams {
    RedParams {
        limit: Limit::packets(100),
        min_th,
        max_th,
        max_p: 0.1,
        w_q: 1.0, // average = instantaneous length seen by the arrival
        gentle: false,
        ecn: true,
        harddrop: false,
        mean_pkt_time: Some(SimDuration::from_millis(1)),
    }
}

#[test]
fn red_marks_ect_and_drops_non_ect_above_max_th() {
    // min_th 5, max_th 6: arrivals seeing 0..=5 packets are never touched (pb = 0 at 5).
    let mut q = Red::new(red_params(5.0, 6.0), rng("red"));
    let mut drops = Vec::new();
    for i in 0..6 {
        q.enqueue(pkt(i, 0, 1000), SimTime::ZERO, &mut drops);
    }
    assert!(drops.is_empty());
    assert_eq!(q.len_packets(), 6);
    // Avg 6 >= max_th: the ECT arrival is marked and queued, the non-ECT one dropped.
    q.enqueue(ect(6, 1000), SimTime::ZERO, &mut drops);
    q.enqueue(pkt(7, 0, 1000), SimTime::ZERO, &mut drops);
    assert_eq!(ids(&drops), vec![7]);
    assert_eq!(q.marks, 1);
    assert_eq!(q.early_drops, 1);
    let mut out = Vec::new();
    while let Some(p) = q.dequeue(SimTime::ZERO, &mut drops) {
        out.push(p);
    }
    assert_eq!(ids(&out), vec![0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(out[6].ecn, Ecn::Ce);
    assert!(out[..6].iter().all(|p| p.ecn == Ecn::NotEct));
}

#[test]
fn red_harddrop_or_no_ecn_drops_ect_above_max_th() {
    for (ecn, harddrop) in [(false, false), (true, true)] {
        let mut p = red_params(5.0, 6.0);
        p.ecn = ecn;
        p.harddrop = harddrop;
        let mut q = Red::new(p, rng("red"));
        let mut drops = Vec::new();
        for i in 0..6 {
            q.enqueue(ect(i, 1000), SimTime::ZERO, &mut drops);
        }
        q.enqueue(ect(6, 1000), SimTime::ZERO, &mut drops);
        assert_eq!(ids(&drops), vec![6], "ecn={ecn} harddrop={harddrop}");
        assert_eq!(q.marks, 0);
    }
}

#[test]
fn red_marks_between_thresholds_at_the_uniformized_rate() {
    // A standing queue of 5 with min_th 0, max_th 10, max_p 0.1: pb = 0.05, and with the
    // count-based uniformization the gap between marks is uniform on 1..=20 (mean 10.5).
    let mut p = red_params(0.0, 10.0);
    p.min_th = 0.0;
    let run = |seed_name: &str| {
        let mut q = Red::new(p, rng(seed_name));
        let mut drops = Vec::new();
        let mut seen = 0u64;
        for i in 0..5 {
            q.enqueue(pkt(i, 0, 100), SimTime::ZERO, &mut drops);
        }
        // Those five saw 0..4 packets: pb up to 0.04, so some may have been dropped; refill.
        let mut id = 5;
        while q.len_packets() < 5 {
            q.enqueue(pkt(id, 0, 100), SimTime::ZERO, &mut drops);
            id += 1;
        }
        let before = q.marks;
        let n = 20_000;
        for _ in 0..n {
            q.enqueue(ect(id, 100), SimTime::ZERO, &mut drops);
            id += 1;
            q.dequeue(SimTime::ZERO, &mut drops);
            seen += 1;
        }
        (q.marks - before) as f64 / seen as f64
    };
    let f = run("red-a");
    assert!((0.085..0.105).contains(&f), "mark fraction {f}");
    assert_eq!(run("red-a"), f, "same stream, same decisions");
    assert_ne!(run("red-b"), f, "another stream, other decisions");
}

#[test]
fn red_gentle_region_marks_with_rising_probability() {
    let mut p = red_params(2.0, 4.0);
    p.gentle = true;
    let mut q = Red::new(p, rng("gentle"));
    let mut drops = Vec::new();
    // Fill to 6 (between max_th 4 and 2 max_th 8) with ECT packets; none is dropped.
    let mut id = 0;
    while q.len_packets() < 6 {
        q.enqueue(ect(id, 100), SimTime::ZERO, &mut drops);
        id += 1;
    }
    assert!(drops.is_empty());
    // At avg 6: pb = 0.1 + 0.9 * (6 - 4) / 4 = 0.55; over many arrivals, most are marked
    // but not all (not forced yet).
    let before = q.marks;
    for _ in 0..1000 {
        q.enqueue(ect(id, 100), SimTime::ZERO, &mut drops);
        id += 1;
        q.dequeue(SimTime::ZERO, &mut drops);
    }
    let frac = (q.marks - before) as f64 / 1000.0;
    assert!(frac > 0.5 && frac < 1.0, "gentle mark fraction {frac}");
    // At avg >= 8 every arrival is marked.
    while q.len_packets() < 8 {
        q.enqueue(pkt(id, 0, 100), SimTime::ZERO, &mut drops);
        id += 1;
    }
    let m = q.marks;
    q.enqueue(ect(id, 100), SimTime::ZERO, &mut drops);
    assert_eq!(q.marks, m + 1);
}

#[test]
fn red_average_decays_over_idle_time() {
    let mut p = red_params(50.0, 60.0);
    p.w_q = 0.5;
    let mut q = Red::new(p, rng("idle"));
    let mut drops = Vec::new();
    for i in 0..10 {
        q.enqueue(pkt(i, 0, 100), SimTime::ZERO, &mut drops);
    }
    let avg = q.avg();
    assert!(avg > 8.0);
    while q.dequeue(ms(1), &mut drops).is_some() {}
    // Idle from 1 ms to 11 ms = 10 mean packet times: avg *= 0.5^10.
    q.enqueue(pkt(99, 0, 100), ms(11), &mut drops);
    assert!(
        (q.avg() - avg / 1024.0).abs() < 1e-12,
        "{} vs {}",
        q.avg(),
        avg / 1024.0
    );
}

#[test]
fn step_marking_marks_exactly_at_k_packets() {
    let mut q = StepMark::new(Threshold::Packets(3), Limit::packets(5));
    let mut drops = Vec::new();
    for i in 0..5 {
        q.enqueue(ect(i, 1000), SimTime::ZERO, &mut drops);
    }
    // Non-ECT is never marked; the hard limit drops.
    q.enqueue(pkt(5, 0, 1000), SimTime::ZERO, &mut drops);
    assert_eq!(ids(&drops), vec![5]);
    let out: Vec<Packet> = std::iter::from_fn(|| q.dequeue(SimTime::ZERO, &mut drops)).collect();
    let marks: Vec<bool> = out.iter().map(|p| p.ecn == Ecn::Ce).collect();
    // Arrivals saw 0, 1, 2, 3, 4 packets.
    assert_eq!(marks, vec![false, false, false, true, true]);
    assert_eq!(q.marks, 2);
    // After draining to 2 packets, the next arrival (seeing 2) is not marked.
    let mut q = StepMark::new(Threshold::Packets(3), Limit::packets(100));
    for i in 0..3 {
        q.enqueue(ect(i, 1000), SimTime::ZERO, &mut drops);
    }
    q.dequeue(SimTime::ZERO, &mut drops);
    q.enqueue(ect(3, 1000), SimTime::ZERO, &mut drops);
    q.enqueue(pkt(4, 0, 1000), SimTime::ZERO, &mut drops);
    assert_eq!(q.marks, 0);
    assert!(drops.len() == 1);
}

#[test]
fn step_marking_in_bytes() {
    let mut q = StepMark::new(Threshold::Bytes(3000), Limit::bytes(100_000));
    let mut drops = Vec::new();
    q.enqueue(ect(0, 1500), SimTime::ZERO, &mut drops); // sees 0
    q.enqueue(ect(1, 1499), SimTime::ZERO, &mut drops); // sees 1500
    q.enqueue(ect(2, 1), SimTime::ZERO, &mut drops); // sees 2999
    q.enqueue(ect(3, 1), SimTime::ZERO, &mut drops); // sees 3000: marked
    let out: Vec<Packet> = std::iter::from_fn(|| q.dequeue(SimTime::ZERO, &mut drops)).collect();
    let marks: Vec<bool> = out.iter().map(|p| p.ecn == Ecn::Ce).collect();
    assert_eq!(marks, vec![false, false, false, true]);
}

fn codel(limit: usize) -> CoDel {
    CoDel::new(CoDelParams {
        limit: Limit::packets(limit),
        target: SimDuration::from_millis(5),
        interval: SimDuration::from_millis(100),
        mtu_bytes: 1500,
        ecn: false,
    })
}

#[test]
fn codel_drops_only_after_an_interval_above_target() {
    let mut q = codel(1000);
    let mut drops = Vec::new();
    for i in 0..100 {
        q.enqueue(pkt(i, 0, 1500), SimTime::ZERO, &mut drops);
    }
    // Sojourn 1 ms < target: nothing.
    assert_eq!(q.dequeue(ms(1), &mut drops).map(|p| p.id), Some(0));
    // Sojourn 10 ms >= target: the interval starts now (ends at 110 ms), no drop yet.
    assert_eq!(q.dequeue(ms(10), &mut drops).map(|p| p.id), Some(1));
    assert_eq!(q.dequeue(ms(109), &mut drops).map(|p| p.id), Some(2));
    assert!(drops.is_empty() && !q.dropping());
    // At 110 ms the sojourn has been above target for a whole interval: drop one, send next.
    assert_eq!(q.dequeue(ms(110), &mut drops).map(|p| p.id), Some(4));
    assert_eq!(ids(&drops), vec![3]);
    assert!(q.dropping());
    assert_eq!(q.count(), 1);
    // Next drop is due at 110 + 100 = 210 ms.
    assert_eq!(q.dequeue(ms(209), &mut drops).map(|p| p.id), Some(5));
    assert_eq!(drops.len(), 1);
    assert_eq!(q.dequeue(ms(210), &mut drops).map(|p| p.id), Some(7));
    assert_eq!(ids(&drops), vec![3, 6]);
    assert_eq!(q.count(), 2);
    // Then at 210 + 100/sqrt(2) = 280.710678 ms.
    assert_eq!(
        q.dequeue(SimTime::from_nanos(280_710_677), &mut drops)
            .map(|p| p.id),
        Some(8)
    );
    assert_eq!(drops.len(), 2);
    assert_eq!(
        q.dequeue(SimTime::from_nanos(280_710_678), &mut drops)
            .map(|p| p.id),
        Some(10)
    );
    assert_eq!(ids(&drops), vec![3, 6, 9]);
    assert_eq!(q.count(), 3);
}

#[test]
fn codel_drop_times_follow_interval_over_sqrt_count() {
    // A standing queue (everything enqueued at 0) served once per millisecond.
    let mut q = codel(10_000);
    let mut drops = Vec::new();
    for i in 0..2000 {
        q.enqueue(pkt(i, 0, 1500), SimTime::ZERO, &mut drops);
    }
    let mut drop_times = Vec::new();
    for t in 0..1000u64 {
        let before = drops.len();
        q.dequeue(ms(t), &mut drops);
        for _ in before..drops.len() {
            drop_times.push(t);
        }
    }
    // The first dequeue with sojourn >= 5 ms is at 5 ms; dropping starts at 105 ms. Each next
    // drop is due at drop_next + 100 ms / sqrt(count) and happens at the first dequeue after.
    let mut expect = vec![105u64];
    let mut next_ns = 105_000_000f64 + 100e6;
    let mut count = 1u32;
    while expect.len() < drop_times.len() {
        count += 1;
        let t = (next_ns / 1e6).ceil() as u64;
        expect.push(t);
        next_ns += (100e6 / f64::from(count).sqrt()).floor();
    }
    assert!(drop_times.len() >= 10, "{drop_times:?}");
    assert_eq!(drop_times, expect);
    assert_eq!(&drop_times[..5], &[105, 205, 276, 334, 384]);
}

#[test]
fn codel_leaves_dropping_when_sojourn_falls_below_target() {
    let mut q = codel(1000);
    let mut drops = Vec::new();
    for i in 0..10 {
        q.enqueue(pkt(i, 0, 1500), SimTime::ZERO, &mut drops);
    }
    q.dequeue(ms(10), &mut drops);
    q.dequeue(ms(110), &mut drops);
    assert!(q.dropping());
    // Drain the old packets, then fresh ones with small sojourn.
    while q.dequeue(ms(111), &mut drops).is_some() {}
    assert!(!q.dropping());
    for i in 10..20 {
        q.enqueue(pkt(i, 0, 1500), ms(300), &mut drops);
    }
    let n = drops.len();
    for t in 0..10 {
        assert!(q.dequeue(ms(301 + t), &mut drops).is_some());
    }
    assert_eq!(drops.len(), n, "no drops while sojourn < target");
}

#[test]
fn codel_never_drops_when_only_one_mtu_is_queued() {
    let mut q = codel(1000);
    let mut drops = Vec::new();
    for t in 0..500u64 {
        // One packet in, one out, each waiting 50 ms: sojourn above target, but the queue
        // left behind is at most one MTU.
        q.enqueue(pkt(t, 0, 1500), ms(t), &mut drops);
        if t >= 50 {
            q.dequeue(ms(t), &mut drops);
        }
    }
    // 50 packets of 1500 are queued after each dequeue: this one does drop.
    assert!(!drops.is_empty());
    let mut q = codel(1000);
    let mut drops = Vec::new();
    for t in 0..500u64 {
        q.enqueue(pkt(t, 0, 1500), ms(t), &mut drops);
        q.dequeue(ms(t + 50), &mut drops);
    }
    assert!(drops.is_empty());
}

#[test]
fn codel_with_ecn_marks_instead_of_dropping() {
    let mut q = CoDel::new(CoDelParams {
        limit: Limit::packets(1000),
        target: SimDuration::from_millis(5),
        interval: SimDuration::from_millis(100),
        mtu_bytes: 1500,
        ecn: true,
    });
    let mut drops = Vec::new();
    for i in 0..100 {
        q.enqueue(ect(i, 1500), SimTime::ZERO, &mut drops);
    }
    q.dequeue(ms(10), &mut drops);
    let p = q.dequeue(ms(110), &mut drops).unwrap();
    assert_eq!((p.id, p.ecn), (1, Ecn::Ce));
    assert!(drops.is_empty());
    assert_eq!(q.marks, 1);
}

/// Two flows that land in different buckets of `q`.
fn two_flows(q: &Sfq) -> (u32, u32) {
    let a = 1;
    let b = (2..).find(|&f| q.bucket_of(&pkt(0, f, 1)) != q.bucket_of(&pkt(0, a, 1)));
    (a, b.unwrap_or(2))
}

fn flow_order(q: &mut Sfq) -> Vec<u32> {
    let mut drops = Vec::new();
    std::iter::from_fn(|| q.dequeue(SimTime::ZERO, &mut drops))
        .map(|p| p.flow)
        .collect()
}

#[test]
fn drr_alternates_flows_one_quantum_each() {
    let mut q = Sfq::new(1024, 1500, Limit::packets(100), rng("sfq"));
    let (a, b) = two_flows(&q);
    let mut drops = Vec::new();
    for i in 0..4 {
        q.enqueue(pkt(i, a, 1500), SimTime::ZERO, &mut drops);
    }
    for i in 4..8 {
        q.enqueue(pkt(i, b, 1500), SimTime::ZERO, &mut drops);
    }
    assert_eq!(flow_order(&mut q), vec![a, b, a, b, a, b, a, b]);

    let mut q = Sfq::new(1024, 3000, Limit::packets(100), rng("sfq"));
    for i in 0..4 {
        q.enqueue(pkt(i, a, 1500), SimTime::ZERO, &mut drops);
    }
    for i in 4..8 {
        q.enqueue(pkt(i, b, 1500), SimTime::ZERO, &mut drops);
    }
    assert_eq!(flow_order(&mut q), vec![a, a, b, b, a, a, b, b]);
    assert!(drops.is_empty());
}

#[test]
fn drr_shares_bytes_not_packets() {
    let mut q = Sfq::new(1024, 1500, Limit::packets(100), rng("sfq"));
    let (a, b) = two_flows(&q);
    let mut drops = Vec::new();
    for i in 0..6 {
        q.enqueue(pkt(i, a, 500), SimTime::ZERO, &mut drops);
    }
    for i in 6..8 {
        q.enqueue(pkt(i, b, 1500), SimTime::ZERO, &mut drops);
    }
    assert_eq!(flow_order(&mut q), vec![a, a, a, b, a, a, a, b]);
}

#[test]
fn sfq_overflow_drops_from_the_longest_bucket() {
    let mut q = Sfq::new(1024, 1500, Limit::packets(4), rng("sfq"));
    let (a, b) = two_flows(&q);
    let mut drops = Vec::new();
    for i in 0..4 {
        q.enqueue(pkt(i, a, 1500), SimTime::ZERO, &mut drops);
    }
    q.enqueue(pkt(4, b, 1500), SimTime::ZERO, &mut drops);
    assert_eq!(ids(&drops), vec![3], "tail of the longest bucket");
    assert_eq!(q.len_packets(), 4);
    assert_eq!(q.len_bytes(), 6000);
    assert_eq!(flow_order(&mut q), vec![a, b, a, a]);
}

#[test]
fn sfq_salt_comes_from_the_rng() {
    let a = Sfq::new(1 << 16, 1500, Limit::packets(10), rng("s1"));
    let b = Sfq::new(1 << 16, 1500, Limit::packets(10), rng("s2"));
    let c = Sfq::new(1 << 16, 1500, Limit::packets(10), rng("s1"));
    let buckets = |q: &Sfq| {
        (0..32)
            .map(|f| q.bucket_of(&pkt(0, f, 1)))
            .collect::<Vec<_>>()
    };
    assert_eq!(buckets(&a), buckets(&c));
    assert_ne!(buckets(&a), buckets(&b));
}

#[test]
fn strict_priority_serves_band_zero_first() {
    let mut q = StrictPriority::new(3, Limit::packets(2));
    let mut drops = Vec::new();
    for (id, prio) in [(0, 2u8), (1, 1), (2, 0), (3, 2), (4, 0), (5, 7), (6, 0)] {
        let mut p = pkt(id, 0, 100);
        p.priority = prio;
        q.enqueue(p, SimTime::ZERO, &mut drops);
    }
    // Band 2 holds 0, 3 (5 maps to the last band but it is full); band 0 holds 2, 4 (6 dropped).
    assert_eq!(ids(&drops), vec![5, 6]);
    assert_eq!((q.band_len(0), q.band_len(1), q.band_len(2)), (2, 1, 2));
    assert_eq!(q.len_bytes(), 500);
    let mut drops = Vec::new();
    q.enqueue(
        Packet::new(PacketData {
            priority: 1,
            ..pkt(7, 0, 100).into_data()
        }),
        SimTime::ZERO,
        &mut drops,
    );
    assert_eq!(drain_ids(&mut q, ms(1)), vec![2, 4, 1, 7, 0, 3]);
}

/// A tiny self-describing deserializer so config tests need no format crate: a map of
/// string keys to the values below, which serde reads as TOML would give them.
pub(crate) mod de {
    use serde::de::value::{Error, MapDeserializer};
    use serde::de::{Deserializer, IntoDeserializer, Visitor};

    #[derive(Clone, Copy)]
    pub enum V {
        S(&'static str),
        I(i64),
        F(f64),
        B(bool),
    }

    impl<'de> Deserializer<'de> for V {
        type Error = Error;
        fn deserialize_any<W: Visitor<'de>>(self, v: W) -> Result<W::Value, Error> {
            match self {
                V::S(s) => v.visit_str(s),
                V::I(i) => v.visit_i64(i),
                V::F(f) => v.visit_f64(f),
                V::B(b) => v.visit_bool(b),
            }
        }
        fn deserialize_option<W: Visitor<'de>>(self, v: W) -> Result<W::Value, Error> {
            v.visit_some(self)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
            ignored_any
        }
    }

    impl IntoDeserializer<'_, Error> for V {
        type Deserializer = V;
        fn into_deserializer(self) -> V {
            self
        }
    }

    pub fn from_pairs<T: serde::de::DeserializeOwned>(
        pairs: &[(&'static str, V)],
    ) -> Result<T, Error> {
        T::deserialize(MapDeserializer::new(pairs.iter().copied()))
    }
}

use de::{from_pairs, V};

#[test]
fn queue_config_parses_internally_tagged_variants_with_defaults() {
    let c: QueueConfig = from_pairs(&[
        ("kind", V::S("red")),
        ("limit_packets", V::I(400)),
        ("min_th_packets", V::I(20)),
        ("max_th_packets", V::F(60.0)),
    ])
    .unwrap();
    assert_eq!(
        c,
        QueueConfig::Red {
            limit_packets: Some(400),
            limit_bytes: None,
            min_th_packets: 20.0,
            max_th_packets: 60.0,
            max_p: 0.1,
            w_q: 0.002,
            gentle: true,
            ecn: true,
            harddrop: false,
            mean_pkt_time_us: None,
        }
    );
    assert!(c.build(rng("q")).is_ok());
    let c: QueueConfig = from_pairs(&[
        ("kind", V::S("step_mark")),
        ("limit_packets", V::I(100)),
        ("k_packets", V::I(65)),
    ])
    .unwrap();
    assert_eq!(c.kind(), "step_mark");
    let c: QueueConfig =
        from_pairs(&[("kind", V::S("codel")), ("limit_bytes", V::I(1_000_000))]).unwrap();
    assert!(
        matches!(c, QueueConfig::Codel { target_us, interval_us, .. } if target_us == 5000.0 && interval_us == 100_000.0)
    );
    for kind in ["drop_tail", "drop_head", "codel", "sfq", "priority"] {
        let c: QueueConfig =
            from_pairs(&[("kind", V::S(kind)), ("limit_packets", V::I(10))]).unwrap();
        assert_eq!(c.kind(), kind);
        let q = c.build(rng("q")).unwrap();
        assert!(q.is_empty());
    }
    let _ = V::B(true);
}

#[test]
fn queue_config_rejects_unknown_fields_and_kinds() {
    let e = from_pairs::<QueueConfig>(&[("kind", V::S("drop_tail")), ("limit_pakets", V::I(10))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `limit_pakets`"), "{e}");
    // A field that exists in another variant is unknown here too.
    let e = from_pairs::<QueueConfig>(&[
        ("kind", V::S("drop_tail")),
        ("limit_packets", V::I(10)),
        ("k_packets", V::I(10)),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown field `k_packets`"), "{e}");
    let e = from_pairs::<QueueConfig>(&[("kind", V::S("fifo")), ("limit_packets", V::I(10))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown variant `fifo`"), "{e}");
    let e = from_pairs::<QueueConfig>(&[("limit_packets", V::I(10))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing field `kind`"), "{e}");
    let e = from_pairs::<QueueConfig>(&[("kind", V::S("red")), ("limit_packets", V::I(10))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing field `min_th_packets`"), "{e}");
}

fn build_err(c: QueueConfig) -> String {
    match c.build(rng("q")) {
        Ok(_) => panic!("{c:?} should not build"),
        Err(e) => {
            assert_eq!(
                c.validate().err().map(|e| e.to_string()),
                Some(e.to_string())
            );
            e.to_string()
        }
    }
}

#[test]
fn queue_config_validation_names_the_field_and_what_was_expected() {
    let red = |min: f64, max: f64, max_p: f64| QueueConfig::Red {
        limit_packets: Some(100),
        limit_bytes: None,
        min_th_packets: min,
        max_th_packets: max,
        max_p,
        w_q: 0.002,
        gentle: false,
        ecn: true,
        harddrop: false,
        mean_pkt_time_us: None,
    };
    assert_eq!(
        build_err(red(5.0, 3.0, 0.1)),
        "red.max_th_packets: expected a value greater than min_th_packets (5), got 3"
    );
    assert_eq!(
        build_err(red(5.0, 10.0, 1.5)),
        "red.max_p: expected a probability in (0, 1], got 1.5"
    );
    assert_eq!(
        build_err(red(f64::NAN, 10.0, 0.1)),
        "red.min_th_packets: expected a non-negative number, got NaN"
    );
    assert_eq!(
        build_err(QueueConfig::DropTail {
            limit_packets: None,
            limit_bytes: None
        }),
        "drop_tail.limit_packets: expected limit_packets and/or limit_bytes to be set, got neither"
    );
    assert_eq!(
        build_err(QueueConfig::DropHead {
            limit_packets: Some(0),
            limit_bytes: None
        }),
        "drop_head.limit_packets: expected at least 1, got 0"
    );
    assert_eq!(
        build_err(QueueConfig::StepMark {
            limit_packets: Some(10),
            limit_bytes: None,
            k_packets: Some(3),
            k_bytes: Some(3000),
        }),
        "step_mark.k_bytes: expected exactly one of k_packets or k_bytes, got both"
    );
    assert_eq!(
        build_err(QueueConfig::Codel {
            limit_packets: Some(10),
            limit_bytes: None,
            target_us: -1.0,
            interval_us: 100_000.0,
            mtu_bytes: 1500,
            ecn: false,
        }),
        "codel.target_us: expected a positive number of microseconds, got -1"
    );
    assert_eq!(
        build_err(QueueConfig::Sfq {
            limit_packets: Some(10),
            limit_bytes: None,
            buckets: 0,
            quantum_bytes: 1500,
        }),
        "sfq.buckets: expected a count in 1..=1048576, got 0"
    );
    assert_eq!(
        build_err(QueueConfig::Priority {
            limit_packets: Some(10),
            limit_bytes: None,
            bands: 0,
        }),
        "priority.bands: expected a count in 1..=256, got 0"
    );
}

/// A port's buffer grows to the occupancy it reaches, not to its limit: at occupancy 1 a ring
/// buffer reserved at the limit would walk through all of it (memory growing with simulated
/// time up to ports × limit × packet size).
#[test]
fn packet_buffers_start_small_and_grow_only_with_occupancy() {
    let limit = Limit {
        packets: Some(10_000),
        bytes: None,
    };
    let mut q = ByteFifo::with_capacity(limit.initial_capacity());
    for i in 0..100_000 {
        q.push_back(Packet::test(i, 0, 1500));
        q.pop_front();
    }
    assert!(q.q.capacity() <= 8, "capacity {}", q.q.capacity());
    for i in 0..100 {
        q.push_back(Packet::test(i, 0, 1500));
    }
    assert!(q.q.capacity() >= 100 && q.q.capacity() < 256);
}

#[test]
fn packed_limit_admits_what_the_limit_admits_and_unpacks_to_it() {
    use super::PackedLimit;
    let limits = [
        Limit::default(),
        Limit::packets(3),
        Limit::bytes(4_500),
        Limit {
            packets: Some(2),
            bytes: Some(3_000),
        },
    ];
    for l in limits {
        let p = PackedLimit::from(l);
        assert_eq!(p.unpack(), l);
        for pkts in 0..5 {
            for bytes in [0, 1_500, 2_999, 3_000, 4_500, 9_000] {
                for size in [0, 1, 1_500] {
                    assert_eq!(
                        p.admits(pkts, bytes, size),
                        l.admits(pkts, bytes, size),
                        "{l:?} {pkts} {bytes} {size}"
                    );
                }
            }
        }
    }
}
