use netrt::Duration;

use super::*;

const MSS: u64 = 1000;

fn cfg() -> TransportConfig {
    TransportConfig::default().with_mss(MSS as u32)
}

fn seg(i: u64, ts_us: u64) -> Segment {
    Segment {
        seq: i * MSS,
        len: MSS as u32,
        ts: t(ts_us),
        retransmit: false,
        fin: false,
        syn: false,
    }
}

fn t(us: u64) -> Instant {
    Instant::ZERO + Duration::from_micros(us)
}

/// SACK blocks in segment numbers, in report order.
fn blocks(a: &AckInfo) -> Vec<(u64, u64)> {
    a.sack[..usize::from(a.n_sack)]
        .iter()
        .map(|b| (b.start / MSS, b.end / MSS))
        .collect()
}

#[test]
fn in_order_segments_are_acked_one_by_one() {
    let mut r = Receiver::new(cfg());
    for i in 0..5 {
        let a = r
            .on_segment(t(100 + i), &seg(i, i), false)
            .expect("immediate ack");
        assert_eq!(a.ack, (i + 1) * MSS);
        assert_eq!(a.n_sack, 0);
        assert_eq!(a.segs, 1);
        assert_eq!(a.ts_echo, t(i));
        assert!(!a.ece);
    }
    assert_eq!(r.delivered_bytes(), 5 * MSS);
    assert!(r.is_complete(5 * MSS));
    assert!(!r.is_complete(5 * MSS + 1));
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn sack_blocks_most_recent_first_rfc2018() {
    let mut r = Receiver::new(cfg());
    r.on_segment(t(0), &seg(0, 0), false);
    let a = r.on_segment(t(1), &seg(2, 1), false).expect("ack");
    assert_eq!((a.ack / MSS, blocks(&a)), (1, vec![(2, 3)]));
    let a = r.on_segment(t(2), &seg(4, 2), false).expect("ack");
    assert_eq!(blocks(&a), vec![(4, 5), (2, 3)]);
    let a = r.on_segment(t(3), &seg(6, 3), false).expect("ack");
    assert_eq!(blocks(&a), vec![(6, 7), (4, 5), (2, 3)]);
    // At most three blocks: the oldest report drops out.
    let a = r.on_segment(t(4), &seg(8, 4), false).expect("ack");
    assert_eq!(blocks(&a), vec![(8, 9), (6, 7), (4, 5)]);
    // Segment 3 joins 2 and 4: the merged block comes first, then the most recently reported.
    let a = r.on_segment(t(5), &seg(3, 5), false).expect("ack");
    assert_eq!(blocks(&a), vec![(2, 5), (8, 9), (6, 7)]);
    // Extending a block moves it to the front.
    let a = r.on_segment(t(6), &seg(7, 6), false).expect("ack");
    assert_eq!(blocks(&a), vec![(6, 9), (2, 5)]);
    // Filling the first hole advances the cumulative ACK over 2..5; at once (hole filled).
    let a = r.on_segment(t(7), &seg(1, 7), false).expect("ack");
    assert_eq!((a.ack / MSS, blocks(&a)), (5, vec![(6, 9)]));
    assert_eq!(a.ts_echo, t(7));
    let a = r.on_segment(t(8), &seg(5, 8), false).expect("ack");
    assert_eq!((a.ack / MSS, blocks(&a)), (9, vec![]));
    assert_eq!(r.out_of_order().count(), 0);
    assert_eq!(r.stats().out_of_order_segments, 6);
}

#[test]
fn duplicates_are_acked_at_once_and_counted() {
    let mut r = Receiver::new(cfg().with_delayed_ack(Some(Duration::from_millis(40))));
    assert_eq!(r.on_segment(t(0), &seg(0, 0), false), None);
    let a = r
        .on_segment(t(1), &seg(1, 1), false)
        .expect("second full segment");
    assert_eq!((a.ack, a.segs), (2 * MSS, 2));
    let a = r
        .on_segment(t(2), &seg(0, 2), false)
        .expect("duplicate: immediate");
    assert_eq!(a.ack, 2 * MSS);
    assert_eq!(r.stats().duplicate_segments, 1);
    assert_eq!(r.delivered_bytes(), 2 * MSS);
}

#[test]
fn delayed_acks_every_second_segment_or_timeout() {
    let d = Duration::from_millis(40);
    let mut r = Receiver::new(cfg().with_delayed_ack(Some(d)));
    assert_eq!(r.on_segment(t(0), &seg(0, 0), false), None);
    assert_eq!(r.poll_timeout(), Some(t(0) + d));
    let a = r
        .on_segment(t(10), &seg(1, 10), false)
        .expect("every second segment");
    // RFC 7323: a delayed ACK echoes the first segment it covers.
    assert_eq!((a.ack, a.segs, a.ts_echo), (2 * MSS, 2, t(0)));
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.on_segment(t(20), &seg(2, 20), false), None);
    assert_eq!(r.on_timeout(t(30)), None, "too early");
    let a = r.on_timeout(t(20) + d).expect("timer");
    assert_eq!((a.ack, a.segs, a.ts_echo), (3 * MSS, 1, t(20)));
    assert_eq!(r.on_timeout(t(20) + d + d), None, "nothing pending");
    // Out of order: immediate, covering the pending segment too.
    assert_eq!(r.on_segment(t(100), &seg(3, 100), false), None);
    let a = r
        .on_segment(t(101), &seg(5, 101), false)
        .expect("out of order");
    assert_eq!((a.ack, a.segs, blocks(&a)), (4 * MSS, 2, vec![(5, 6)]));
    // Hole fill: immediate.
    let a = r
        .on_segment(t(102), &seg(4, 102), false)
        .expect("hole fill");
    assert_eq!((a.ack, a.segs), (6 * MSS, 1));
    // A small segment: pending until a second arrives (bytes < 2 MSS) — and FIN is immediate.
    let fin = Segment {
        seq: 6 * MSS,
        len: 10,
        ts: t(200),
        retransmit: false,
        fin: true,
        syn: false,
    };
    let a = r
        .on_segment(t(200), &fin, false)
        .expect("fin acked at once");
    assert_eq!(a.ack, 6 * MSS + 10);
    assert!(r.is_complete(6 * MSS + 10));
}

#[test]
fn ecn_echo_is_exact_without_delayed_acks() {
    let mut r = Receiver::new(cfg());
    let marks = [false, true, true, false, true];
    for (i, &ce) in marks.iter().enumerate() {
        let a = r
            .on_segment(t(i as u64), &seg(i as u64, 0), ce)
            .expect("ack");
        assert_eq!(a.ece, ce, "segment {i}");
    }
    assert_eq!(r.stats().ce_segments, 3);
}

#[test]
fn ecn_state_change_flushes_delayed_ack_dctcp_style() {
    let mut r = Receiver::new(cfg().with_delayed_ack(Some(Duration::from_millis(1))));
    assert_eq!(r.on_segment(t(0), &seg(0, 0), false), None);
    // CE arrives while segment 0 waits: ACK segment 0 now with ECE = 0, keep segment 1 pending.
    let a = r.on_segment(t(1), &seg(1, 1), true).expect("flush");
    assert_eq!((a.ack, a.ece, a.segs), (MSS, false, 1));
    let a = r
        .on_segment(t(2), &seg(2, 2), true)
        .expect("second CE segment");
    assert_eq!((a.ack, a.ece, a.segs, a.ts_echo), (3 * MSS, true, 2, t(1)));
    // Unmarked again, while nothing is pending: no flush, normal delay.
    assert_eq!(r.on_segment(t(3), &seg(3, 3), false), None);
    // Change with a pending ACK and an out-of-order segment: two ACKs at the same instant,
    // the second released through the timer.
    let a = r.on_segment(t(4), &seg(5, 4), true).expect("flush");
    assert_eq!((a.ack, a.ece, a.segs), (4 * MSS, false, 1));
    assert_eq!(r.poll_timeout(), Some(t(4)));
    let b = r.on_timeout(t(4)).expect("queued second ack");
    assert_eq!((b.ack, b.ece, blocks(&b)), (4 * MSS, true, vec![(5, 6)]));
    assert_eq!(r.poll_timeout(), None);
}

fn syn(ts_us: u64) -> Segment {
    Segment {
        seq: 0,
        len: 0,
        ts: t(ts_us),
        retransmit: false,
        fin: false,
        syn: true,
    }
}

#[test]
fn syns_are_answered_at_once_and_change_nothing_else() {
    let d = Duration::from_millis(40);
    let mut r = Receiver::new(cfg().with_delayed_ack(Some(d)));
    let a = r.on_segment(t(0), &syn(0), true).expect("syn-ack at once");
    assert!(a.syn && !a.ece, "a SYN's CE mark is not echoed");
    assert_eq!((a.ack, a.n_sack, a.segs, a.ts_echo), (0, 0, 0, t(0)));
    assert_eq!(r.poll_timeout(), None);
    // Data with a delayed ACK pending, then a retransmitted SYN: answered at once with the
    // current state; the pending ACK is untouched.
    assert_eq!(r.on_segment(t(10), &seg(0, 10), false), None);
    assert_eq!(
        r.on_segment(t(11), &seg(2, 11), false).map(|a| a.segs),
        Some(2)
    );
    assert_eq!(
        r.on_segment(t(12), &seg(3, 12), false).map(|a| a.segs),
        Some(1)
    );
    assert_eq!(
        r.on_segment(t(13), &seg(1, 13), false).map(|a| a.ack),
        Some(4 * MSS)
    );
    assert_eq!(r.on_segment(t(20), &seg(4, 20), false), None);
    let a = r.on_segment(t(21), &syn(5), false).expect("syn-ack");
    assert!(a.syn);
    assert_eq!((a.ack, a.segs, a.ts_echo), (5 * MSS, 0, t(5)));
    assert_eq!(
        r.poll_timeout(),
        Some(t(20) + d),
        "delayed ACK still pending"
    );
    let a = r.on_timeout(t(20) + d).expect("delayed ack");
    assert!(!a.syn);
    assert_eq!((a.ack, a.segs, a.ts_echo), (5 * MSS, 1, t(20)));
    let st = r.stats();
    assert_eq!((st.syn_segments, st.segments, st.ce_segments), (2, 5, 0));
    assert_eq!((st.duplicate_segments, st.acks), (0, 6));
    // Out-of-order data in the buffer shows in a SYN-ACK's SACK blocks.
    r.on_segment(t(30), &seg(7, 30), false);
    let a = r.on_segment(t(31), &syn(6), false).expect("syn-ack");
    assert_eq!((a.ack, blocks(&a)), (5 * MSS, vec![(7, 8)]));
}

#[test]
fn malformed_segments_do_not_panic() {
    let mut r = Receiver::new(cfg());
    let weird = [
        Segment {
            seq: u64::MAX - 5,
            len: 100,
            ts: t(0),
            retransmit: false,
            fin: true,
            syn: false,
        },
        Segment {
            seq: 0,
            len: 0,
            ts: t(0),
            retransmit: false,
            fin: false,
            syn: false,
        },
        Segment {
            seq: u64::MAX,
            len: u32::MAX,
            ts: Instant::MAX,
            retransmit: true,
            fin: false,
            syn: false,
        },
    ];
    for s in &weird {
        let a = r.on_segment(t(1), s, true).expect("acked");
        assert_eq!(a.ack, 0);
    }
    let a = r.on_segment(t(2), &seg(0, 2), false).expect("ack");
    assert_eq!(a.ack, MSS);
    let zero = Receiver::new(TransportConfig {
        mss: 0,
        ..TransportConfig::default()
    });
    assert_eq!(zero.delivered_bytes(), 0);
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any arrival order (with duplicates): blocks are disjoint, above the cumulative ACK,
        /// at most MAX_SACK_BLOCKS, exactly the buffered data when few, and the first block
        /// holds the segment that triggered an out-of-order ACK.
        #[test]
        fn sack_blocks_are_consistent(order in prop::collection::vec(0u64..30, 1..120)) {
            let mut r = Receiver::new(cfg());
            let mut got = std::collections::BTreeSet::new();
            for (k, &i) in order.iter().enumerate() {
                got.insert(i);
                let a = r.on_segment(t(k as u64), &seg(i, k as u64), false).expect("ack");
                let expect_ack = (0..).find(|x| !got.contains(x)).unwrap_or(0) * MSS;
                prop_assert_eq!(a.ack, expect_ack);
                prop_assert_eq!(r.delivered_bytes(), expect_ack);
                let b = blocks(&a);
                prop_assert!(b.len() <= MAX_SACK_BLOCKS);
                for (x, y) in &b {
                    prop_assert!(x < y && x * MSS > a.ack);
                    prop_assert!((*x..*y).all(|s| got.contains(&s)));
                    prop_assert!(!got.contains(&(x - 1)) && !got.contains(y), "maximal");
                }
                for (m, p) in b.iter().enumerate() {
                    for q in &b[m + 1..] {
                        prop_assert!(p.1 < q.0 || q.1 < p.0, "disjoint");
                    }
                }
                if i * MSS >= a.ack {
                    prop_assert!(b.first().is_some_and(|(x, y)| *x <= i && i < *y), "most recent first");
                }
                let ranges = r.out_of_order().count();
                prop_assert_eq!(b.len(), ranges.min(MAX_SACK_BLOCKS));
            }
        }
    }
}
