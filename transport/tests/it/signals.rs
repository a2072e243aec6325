//! AckSignals on a hand-made scenario: the sender is driven directly, ACK by ACK.

use netrt::Instant;
use transport::{AckInfo, AckSignals, CcKind, SackBlock, Sender, MAX_SACK_BLOCKS};

use crate::util::*;

const M: u64 = 1000;

fn ack(ackno: u64, sacks: &[(u64, u64)], ece: bool, ts_echo: Instant) -> AckInfo {
    let mut sack = [SackBlock::default(); MAX_SACK_BLOCKS];
    for (i, &(s, e)) in sacks.iter().enumerate() {
        sack[i] = SackBlock {
            start: s * M,
            end: e * M,
        };
    }
    AckInfo {
        ack: ackno * M,
        sack,
        n_sack: sacks.len() as u8,
        ece,
        ts_echo,
        segs: 1,
        syn: false,
    }
}

/// A sender driven by hand: no handshake, data goes out at once.
fn sender(iw: u32, segs: u64) -> Sender {
    let cfg = no_handshake()
        .with_mss(M as u32)
        .with_init_cwnd_pkts(iw)
        .with_ecn(true);
    Sender::new(
        cfg,
        Some(segs * M),
        CcKind::Reno.build(M as u32, iw),
        Instant::ZERO,
    )
}

fn drain(s: &mut Sender, now: Instant) -> Vec<(u64, bool)> {
    std::iter::from_fn(|| s.poll_transmit(now))
        .map(|g| (g.seq / M, g.retransmit))
        .collect()
}

#[test]
fn signals_on_a_hand_made_scenario() {
    let mut s = sender(4, 8);
    assert_eq!(
        drain(&mut s, Instant::ZERO),
        vec![(0, false), (1, false), (2, false), (3, false)]
    );

    // 10 ms: segment 0 acknowledged.
    s.on_ack(at_ms(10), &ack(1, &[], false, Instant::ZERO));
    let sig = *s.last_signals().expect("signals");
    assert_eq!(
        sig,
        AckSignals {
            now: at_ms(10),
            mss: 1000,
            bytes_acked: 1000,
            packets_acked: 1,
            bytes_delivered: 1000,
            packets_delivered: 1,
            rtt_sample: Some(ms(10)),
            // Everything was sent at t = 0: no send interval yet, so no outgoing rate; 1000 B
            // delivered 10 ms after the flight started.
            rate_outgoing: 0,
            rate_incoming: 100_000,
            bytes_in_flight: 3000,
            packets_in_flight: 3,
            bytes_pending: 4000,
            snd_cwnd: 4000,
            snd_una: 1000,
            snd_nxt: 4000,
            ..AckSignals::default()
        }
    );
    // Slow start: cwnd 5000, two new segments.
    assert_eq!(drain(&mut s, at_ms(10)), vec![(4, false), (5, false)]);

    // 12 ms: segment 1 missing, 2 arrived CE-marked.
    s.on_ack(at_ms(12), &ack(1, &[(2, 3)], true, Instant::ZERO));
    let sig = *s.last_signals().expect("signals");
    assert_eq!((sig.bytes_acked, sig.packets_acked), (0, 0));
    assert_eq!((sig.bytes_misordered, sig.packets_misordered), (1000, 1));
    assert_eq!(
        (sig.bytes_delivered, sig.ecn_bytes, sig.ecn_packets),
        (1000, 1000, 1)
    );
    assert_eq!(sig.rtt_sample, Some(ms(12)));
    // 2000 bytes delivered since segment 2 was sent (at 0, when 0 had been delivered).
    assert_eq!((sig.rate_outgoing, sig.rate_incoming), (0, 166_666));
    assert_eq!(
        (
            sig.bytes_in_flight,
            sig.packets_in_flight,
            sig.lost_pkts_sample
        ),
        (4000, 4, 0)
    );
    assert!(!sig.in_recovery);

    // 13 ms: 3 SACKed, no mark.
    s.on_ack(at_ms(13), &ack(1, &[(2, 4)], false, Instant::ZERO));
    let sig = *s.last_signals().expect("signals");
    assert_eq!(
        (sig.packets_misordered, sig.ecn_packets, sig.bytes_in_flight),
        (1, 0, 3000)
    );
    assert_eq!((sig.lost_pkts_sample, sig.in_recovery), (0, false));

    // 20 ms: 4 (sent at 10 ms) SACKed: three segments above 1, so 1 is lost; recovery starts.
    s.on_ack(at_ms(20), &ack(1, &[(2, 5)], false, at_ms(10)));
    let sig = *s.last_signals().expect("signals");
    assert_eq!(sig.lost_pkts_sample, 1);
    assert!(sig.in_recovery);
    assert_eq!(sig.rtt_sample, Some(ms(10)));
    // Delivered grew 1000 -> 4000 since 4 was sent at 10 ms; the flight began at 0.
    assert_eq!((sig.rate_outgoing, sig.rate_incoming), (300_000, 300_000));
    // Only 5 is in flight (1 is lost, 2..4 SACKed).
    assert_eq!((sig.bytes_in_flight, sig.packets_in_flight), (1000, 1));
    assert_eq!(sig.snd_cwnd, 5000);
    assert_eq!(s.cc().cwnd_bytes(), 2500);
    // The window in force is PRR's (the default recovery): the pipe (1000) plus the forced
    // first retransmission; with `recovery = "immediate"` it would be the controller's 2500.
    // Either way only the retransmission fits now.
    assert_eq!(s.cwnd(), 2000);
    assert_eq!(drain(&mut s, at_ms(20)), vec![(1, true)]);
    assert_eq!(s.stats().fast_retransmits, 1);

    // 30 ms: the retransmission fills the hole: cumulative ACK to 5 (1..4, of which 2..4 had
    // been SACKed: acked 4000 bytes, delivered 1000 new).
    s.on_ack(at_ms(30), &ack(5, &[], false, at_ms(20)));
    let sig = *s.last_signals().expect("signals");
    assert_eq!(
        (sig.bytes_acked, sig.packets_acked, sig.bytes_delivered),
        (4000, 4, 1000)
    );
    assert!(sig.in_recovery, "recovery point is 6");
    assert!(!sig.was_timeout);
}

#[test]
fn three_duplicate_acks_without_sack_mark_the_hole_lost() {
    let mut s = sender(6, 6);
    drain(&mut s, Instant::ZERO);
    s.on_ack(at_ms(10), &ack(1, &[], false, Instant::ZERO));
    drain(&mut s, at_ms(10));
    for i in 1..=3u64 {
        s.on_ack(at_ms(10 + i), &ack(1, &[], false, Instant::ZERO));
        let sig = *s.last_signals().expect("signals");
        // A duplicate ACK: nothing delivered, one misordered segment, no RTT sample.
        assert_eq!(
            (sig.bytes_acked, sig.bytes_delivered, sig.packets_misordered),
            (0, 0, 1)
        );
        assert_eq!(sig.rtt_sample, None);
        assert_eq!(sig.lost_pkts_sample, u64::from(i == 3), "dupack {i}");
    }
    assert!(s.in_recovery());
    assert_eq!(drain(&mut s, at_ms(13)), vec![(1, true)]);
}

#[test]
fn timeout_is_flagged_on_the_next_ack() {
    let mut s = sender(2, 4);
    drain(&mut s, Instant::ZERO);
    let rto = s.poll_timeout().expect("rto armed");
    assert_eq!(rto, at_ms(1000));
    s.on_timeout(at_ms(999));
    assert_eq!(s.stats().timeouts, 0, "early call does nothing");
    s.on_timeout(rto);
    assert_eq!(s.stats().timeouts, 1);
    assert_eq!((s.cwnd(), s.bytes_in_flight()), (1000, 0));
    assert_eq!(drain(&mut s, rto), vec![(0, true)]);
    assert_eq!(s.poll_timeout(), Some(rto + ms(2000)), "backed off");
    s.on_ack(rto + ms(10), &ack(1, &[], false, rto));
    assert!(s.last_signals().is_some_and(|g| g.was_timeout));
    s.on_ack(rto + ms(11), &ack(1, &[], false, rto));
    assert!(s.last_signals().is_some_and(|g| !g.was_timeout));
}

#[test]
fn malformed_acks_are_ignored_without_panics() {
    let mut s = sender(4, 8);
    drain(&mut s, Instant::ZERO);
    // Beyond what was sent, inverted and out-of-window SACKs, a timestamp from the future.
    s.on_ack(at_ms(1), &ack(100, &[(50, 40), (0, 2)], true, at_ms(999)));
    assert_eq!(s.snd_una(), 4000, "clamped to snd_nxt");
    assert_eq!(s.bytes_in_flight(), 0);
    let mut bad = ack(1, &[(5, 7)], false, Instant::MAX);
    bad.n_sack = 200;
    s.on_ack(at_ms(2), &bad);
    s.on_ack(
        at_ms(3),
        &AckInfo {
            ack: u64::MAX,
            ..bad
        },
    );
    drain(&mut s, at_ms(3));
    assert!(s.bytes_in_flight() <= s.snd_nxt() - s.snd_una());
}
