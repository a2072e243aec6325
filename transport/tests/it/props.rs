//! Property tests: random sizes, drops, reordering, CE marks, ACK loss and configurations; and
//! random operation sequences fed straight to the sender (s2n-quic style).

use netrt::{Duration, Instant};
use proptest::prelude::*;
use transport::harness::{Fate, Pair, TxRecord};
use transport::{AckInfo, CcKind, SackBlock, Sender, TransportConfig, MAX_SACK_BLOCKS};

use crate::util::*;

#[derive(Clone, Debug)]
struct Net {
    size: u64,
    mss: u32,
    cc: CcKind,
    delack: bool,
    ecn: bool,
    pacing: bool,
    handshake: bool,
    rate: Option<u64>,
    /// Drop-tail buffer at the bottleneck (µs of queueing), if any.
    queue_us: Option<u64>,
    /// Per transmission index (cycled): drop / extra delay (µs) / CE.
    fates: Vec<(bool, u16, bool)>,
    ack_drops: Vec<u64>,
}

fn net() -> impl Strategy<Value = Net> {
    (
        1u64..120_000,
        prop_oneof![Just(1460u32), Just(536), Just(100)],
        prop_oneof![Just(CcKind::Reno), Just(CcKind::Cubic), Just(CcKind::Dctcp)],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(None),
            Just(Some(10_000_000u64)),
            Just(Some(1_000_000_000))
        ],
        prop::collection::vec(
            (
                prop::bool::weighted(0.15),
                0u16..3000,
                prop::bool::weighted(0.2),
            ),
            1..64,
        ),
        prop::collection::vec(0u64..200, 0..10),
        prop::option::of(100u64..5_000),
        any::<bool>(),
    )
        .prop_map(
            |(size, mss, cc, delack, ecn, pacing, rate, fates, ack_drops, queue_us, handshake)| {
                Net {
                    queue_us,
                    handshake,
                    size,
                    mss,
                    cc,
                    delack,
                    ecn,
                    pacing,
                    rate,
                    fates,
                    ack_drops,
                }
            },
        )
}

fn build(n: &Net) -> Pair {
    let cfg = TransportConfig::default()
        .with_mss(n.mss)
        .with_min_rto(ms(1))
        .with_ecn(n.ecn)
        .with_pacing(n.pacing)
        .with_handshake(n.handshake)
        .with_delayed_ack(n.delack.then_some(Duration::from_micros(500)));
    let cc = n.cc.build(cfg.mss, cfg.init_cwnd_pkts);
    let mut p = Pair::new(cfg, Some(n.size), cc, ms(1), n.rate);
    let fates = n.fates.clone();
    p.policy = Some(Box::new(move |r: &TxRecord| {
        let (drop, extra, ce) = fates[(r.index as usize) % fates.len()];
        // Never drop a segment (or the SYN) more than twice, so every run terminates quickly.
        if drop && r.nth <= 2 {
            Fate::Drop
        } else {
            Fate::Deliver {
                extra_delay: Duration::from_micros(u64::from(extra)),
                ce,
            }
        }
    }));
    p.drop_acks = n.ack_drops.clone();
    p.queue_limit = n.queue_us.map(Duration::from_micros);
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_byte_arrives_in_order_exactly_once(n in net()) {
        let mut p = build(&n);
        let mut delivered = 0u64;
        let mut last_now = Instant::ZERO;
        let mut steps = 0u64;
        while !p.is_complete() && steps < 2_000_000 {
            if !p.step() {
                break;
            }
            steps += 1;
            prop_assert!(p.now >= last_now, "time never goes backwards");
            last_now = p.now;
            let d = p.receiver.delivered_bytes();
            prop_assert!(d >= delivered && d <= n.size, "in order: {delivered} -> {d}");
            delivered = d;
            let s = &p.sender;
            prop_assert!(s.snd_una() <= s.snd_nxt() && s.snd_nxt() <= n.size);
            prop_assert!(s.bytes_in_flight() <= s.snd_nxt() - s.snd_una(), "pipe within window");
            prop_assert!(s.packets_in_flight() * u64::from(n.mss) >= s.bytes_in_flight());
            if let Some(g) = s.last_signals() {
                prop_assert!(g.ecn_bytes <= g.bytes_delivered);
                prop_assert!(g.ecn_packets <= g.packets_delivered);
                prop_assert!(g.bytes_delivered <= g.bytes_acked + g.bytes_misordered);
                prop_assert!(g.bytes_acked <= g.packets_acked * u64::from(n.mss));
                prop_assert!(g.snd_una <= g.snd_nxt);
                prop_assert_eq!(g.bytes_pending + g.snd_nxt, n.size);
                prop_assert!(n.ecn || g.ecn_bytes == 0);
                prop_assert!(g.mss == n.mss);
            }
        }
        prop_assert!(p.is_complete(), "incomplete after {} steps at {}: {:?}", steps, p.now, p.sender.stats());
        prop_assert_eq!(p.receiver.delivered_bytes(), n.size);
        // Every delivered byte was sent; nothing was delivered twice in order.
        let increments: u64 = p
            .delivered_log
            .windows(2)
            .map(|w| w[1].1 - w[0].1)
            .sum::<u64>() + p.delivered_log.first().map_or(0, |f| f.1);
        prop_assert_eq!(increments, n.size);
        let st = p.sender.stats();
        prop_assert!(st.bytes_sent >= n.size);
        prop_assert_eq!(st.bytes_sent - st.retransmitted_bytes, n.size, "each byte sent once as new data");
        prop_assert_eq!(p.sender.bytes_in_flight(), 0);
    }
}

/// One step of a random conversation with the sender.
#[derive(Clone, Debug)]
enum Op {
    Transmit,
    Advance(u32),
    Timeout,
    Ack {
        ack: u64,
        sacks: Vec<(u64, u64)>,
        ece: bool,
        ts_back: u32,
        syn: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Transmit),
        2 => (0u32..50_000).prop_map(Op::Advance),
        1 => Just(Op::Timeout),
        4 => (0u64..40, prop::collection::vec((0u64..45, 0u64..45), 0..5), any::<bool>(), 0u32..100_000, prop::bool::weighted(0.1))
            .prop_map(|(ack, sacks, ece, ts_back, syn)| Op::Ack { ack, sacks, ece, ts_back, syn }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Arbitrary (also malformed, stale, duplicate) ACKs never panic or break the invariants.
    #[test]
    fn arbitrary_acks_keep_the_sender_consistent(
        ops in prop::collection::vec(op(), 1..200),
        segs in 1u64..40,
        cc in prop_oneof![Just(CcKind::Reno), Just(CcKind::Cubic), Just(CcKind::Dctcp)],
        handshake in any::<bool>(),
    ) {
        const M: u64 = 100;
        let cfg = TransportConfig::default()
            .with_mss(M as u32)
            .with_ecn(true)
            .with_pacing(true)
            .with_handshake(handshake);
        let mut s = Sender::new(cfg, Some(segs * M), cc.build(M as u32, 10), Instant::ZERO);
        let mut now = Instant::ZERO;
        for o in ops {
            match o {
                Op::Transmit => while s.poll_transmit(now).is_some() {},
                Op::Advance(us) => now += Duration::from_micros(u64::from(us)),
                Op::Timeout => if let Some(t) = s.poll_timeout() {
                    now = now.max(t);
                    s.on_timeout(now);
                },
                Op::Ack { ack, sacks, ece, ts_back, syn } => {
                    let mut sack = [SackBlock::default(); MAX_SACK_BLOCKS];
                    for (i, (a, b)) in sacks.iter().take(MAX_SACK_BLOCKS).enumerate() {
                        sack[i] = SackBlock { start: a * M, end: b * M };
                    }
                    let ts = Instant::from_nanos(now.as_nanos().saturating_sub(u64::from(ts_back) * 1000));
                    let a = AckInfo { ack: ack * M, sack, n_sack: sacks.len() as u8, ece, ts_echo: ts, segs: 1, syn };
                    let una = s.snd_una();
                    s.on_ack(now, &a);
                    prop_assert!(s.snd_una() >= una, "snd_una never moves back");
                }
            }
            prop_assert!(s.snd_una() <= s.snd_nxt() && s.snd_nxt() <= segs * M);
            prop_assert!(s.bytes_in_flight() <= s.snd_nxt() - s.snd_una());
            prop_assert!(s.cwnd() >= 1);
            if let Some(g) = s.last_signals() {
                prop_assert!(g.ecn_bytes <= g.bytes_delivered);
                prop_assert!(g.bytes_in_flight == s.bytes_in_flight() || g.now <= now);
            }
        }
    }
}
