//! Connection setup: the SYN / SYN-ACK exchange, its RTT sample, SYN retransmission with
//! backoff, and lost or late handshake packets.
//!
//! Setup as in `recovery.rs` (10 ms one way, 1 ms per full segment at the bottleneck, which a
//! zero-length SYN crosses in no time): the SYN leaves at 0, its SYN-ACK arrives at 20 ms.

use netrt::Duration;
use transport::harness::{Fate, Pair};
use transport::{CcKind, TransportConfig};

use crate::util::*;

#[test]
fn syn_exchange_precedes_data_and_gives_the_first_rtt_sample() {
    let cfg = TransportConfig::default();
    assert!(cfg.handshake, "on by default");
    let mut p = pair(cfg, 20, CcKind::Reno);
    p.pump();
    // Only the SYN goes out at first; data waits for the SYN-ACK.
    assert_eq!(p.tx_log.len(), 1);
    let syn = p.tx_log[0].seg;
    assert!(syn.syn && !syn.retransmit && !syn.fin);
    assert_eq!((syn.seq, syn.len), (0, 0));
    assert!(!p.sender.is_established());
    assert_eq!(p.sender.bytes_in_flight(), 0);
    assert_eq!(p.sender.poll_timeout(), Some(at_ms(1000)), "initial RTO");
    assert!(p.run_until_complete(at_ms(10_000), 100_000));
    dump(&p);
    let (t, synack) = p.ack_log[0];
    assert_eq!(t, at_ms(20));
    assert!(synack.syn);
    assert_eq!((synack.ack, synack.segs, synack.ts_echo), (0, 0, at_ms(0)));
    assert!(p.ack_log[1..].iter().all(|(_, a)| !a.syn));
    assert!(p.tx_log[1..].iter().all(|r| !r.seg.syn));
    // A loss-free flow runs exactly as without the handshake, one round trip later.
    let mut q = pair(no_handshake(), 20, CcKind::Reno);
    assert!(q.run_until_complete(at_ms(10_000), 100_000));
    let shifted: Vec<_> = q.tx_log.iter().map(|r| (r.at + ms(20), r.seg)).collect();
    let data: Vec<_> = p.tx_log[1..].iter().map(|r| (r.at, r.seg)).collect();
    let shape = |v: &[(netrt::Instant, transport::Segment)]| {
        v.iter()
            .map(|(t, s)| (*t, s.seq, s.len, s.fin))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&data), shape(&shifted));
    let st = p.sender.stats();
    assert_eq!(st.segments_sent, 21);
    assert_eq!(
        (st.syn_retransmits, st.timeouts, st.retransmitted_segments),
        (0, 0, 0)
    );
    assert_eq!(st.min_rtt, Some(ms(20)), "the SYN's sample is the smallest");
    assert_eq!(p.receiver.stats().syn_segments, 1);
    assert_eq!(p.receiver.stats().segments, 20);
}

/// The incast tail: a flow whose whole first window is lost. With the handshake the RTO
/// comes from the SYN's RTT sample (srtt 20 ms, rttvar 10 ms: 60 ms), bounded below by min_rto;
/// without it the flow waits for the 1 s initial RTO.
#[test]
fn lost_first_window_recovers_after_an_rto_from_the_syn_sample() {
    for (min_rto, first_rtx) in [(ms(1), at_ms(20 + 60)), (ms(200), at_ms(20 + 200))] {
        let cfg = TransportConfig::default().with_min_rto(min_rto);
        let mut p = pair(cfg, 10, CcKind::Reno);
        p.drops.extend((0..10).map(|i| (i, 1)));
        p.run_until(at_ms(20), 100);
        assert!(p.sender.is_established());
        assert_eq!(p.sender.stats().srtt, Some(ms(20)));
        assert_eq!(p.sender.rto(), min_rto.max(ms(60)));
        assert!(p.run_until_complete(at_ms(10_000), 100_000));
        dump(&p);
        assert_eq!(
            p.retransmissions()[0],
            (first_rtx, 0, 2),
            "min_rto {min_rto}"
        );
        assert_eq!(p.sender.stats().timeouts, 1);
    }
    let mut q = pair(no_handshake(), 10, CcKind::Reno);
    q.drops.extend((0..10).map(|i| (i, 1)));
    assert!(q.run_until_complete(at_ms(10_000), 100_000));
    assert_eq!(q.retransmissions()[0], (at_ms(1000), 0, 2));
}

#[test]
fn lost_syns_are_retransmitted_with_exponential_backoff() {
    let mut p = pair(TransportConfig::default(), 20, CcKind::Reno);
    p.drop_syns.extend([1, 2]);
    p.run_until(at_ms(2999), 100);
    assert_eq!(p.sender.rto(), ms(2000), "backed off once");
    p.run_until(at_ms(3020), 100);
    // The third SYN's SYN-ACK echoes its timestamp: a valid 20 ms sample that clears the
    // backoff; data starts at once.
    assert_eq!(p.sender.stats().srtt, Some(ms(20)));
    assert_eq!(p.sender.rto(), ms(200));
    assert!(p.run_until_complete(at_ms(10_000), 100_000));
    dump(&p);
    // Initial RTO 1 s, then 2 s.
    let syns: Vec<_> = p
        .tx_log
        .iter()
        .filter(|r| r.seg.syn)
        .map(|r| (r.at, r.nth, r.seg.retransmit))
        .collect();
    assert_eq!(
        syns,
        vec![
            (at_ms(0), 1, false),
            (at_ms(1000), 2, true),
            (at_ms(3000), 3, true)
        ]
    );
    assert_eq!(p.tx_log[3].at, at_ms(3020));
    assert!(!p.tx_log[3].seg.syn);
    let st = p.sender.stats();
    assert_eq!(
        (st.syn_retransmits, st.timeouts, st.retransmitted_segments),
        (2, 2, 2)
    );
    assert_eq!(st.retransmitted_bytes, 0);
    assert_eq!(p.retransmissions(), vec![], "no data retransmission");
    assert_eq!(p.receiver.stats().syn_segments, 1);
}

#[test]
fn a_lost_syn_ack_means_a_second_syn_and_a_second_answer() {
    let mut p = pair(TransportConfig::default(), 20, CcKind::Reno);
    p.drop_acks.push(0);
    assert!(p.run_until_complete(at_ms(10_000), 100_000));
    dump(&p);
    assert_eq!(p.receiver.stats().syn_segments, 2);
    assert_eq!(p.ack_log[0].0, at_ms(1020));
    assert_eq!(p.ack_log[0].1.ts_echo, at_ms(1000));
    assert_eq!(p.sender.stats().syn_retransmits, 1);
    assert_eq!(p.retransmissions(), vec![]);
}

/// The first SYN is delayed past its timeout: the retransmitted SYN establishes the connection,
/// and the original arrives in the middle of the transfer. The receiver answers it (with its
/// current cumulative ACK); the sender ignores that SYN-ACK: it is no duplicate ACK, and the
/// transfer runs exactly as an undisturbed one, 1 s later.
#[test]
fn late_duplicate_syn_and_syn_ack_change_nothing() {
    let mut p = pair(TransportConfig::default(), 200, CcKind::Reno);
    p.policy = Some(Box::new(|r| Fate::Deliver {
        extra_delay: if r.seg.syn && r.nth == 1 {
            ms(1100)
        } else {
            Duration::ZERO
        },
        ce: false,
    }));
    assert!(p.run_until_complete(at_ms(10_000), 1_000_000));
    dump(&p);
    let late: Vec<_> = p.ack_log.iter().filter(|(_, a)| a.syn).collect();
    assert_eq!(late.len(), 2);
    assert_eq!((late[1].0, late[1].1.ts_echo), (at_ms(1120), at_ms(0)));
    assert!(late[1].1.ack > 0, "mid-transfer: {}", late[1].1.ack);
    let last = p.ack_log.last().map(|a| a.0);
    assert!(
        last > Some(at_ms(1120)),
        "it arrives before the end: {last:?}"
    );
    let st = p.sender.stats();
    assert_eq!((st.recoveries, st.fast_retransmits), (0, 0));
    assert_eq!(p.retransmissions(), vec![]);
    assert_eq!(p.receiver.stats().duplicate_segments, 0);
    let mut q = pair(TransportConfig::default(), 200, CcKind::Reno);
    assert!(q.run_until_complete(at_ms(10_000), 1_000_000));
    let data = |p: &Pair, shift: Duration| -> Vec<_> {
        p.tx_log
            .iter()
            .filter(|r| !r.seg.syn)
            .map(|r| {
                (
                    r.at.saturating_since(netrt::Instant::ZERO + shift),
                    r.seg.seq,
                )
            })
            .collect()
    };
    assert_eq!(data(&p, ms(1000)), data(&q, Duration::ZERO));
}

#[test]
fn paced_sender_does_not_spin_during_the_handshake() {
    let cc = Box::new(Fixed {
        cwnd: 10 * MSS,
        rate: Some(ONE_MS_PER_SEG),
    });
    let mut p = Pair::new(TransportConfig::default(), Some(5 * MSS), cc, ms(10), None);
    p.pump();
    assert_eq!(p.tx_log.len(), 1);
    assert_eq!(p.sender.poll_timeout(), Some(at_ms(1000)));
    assert!(p.run_until_complete(at_ms(10_000), 1_000));
    let times: Vec<_> = p.tx_log.iter().map(|r| r.at).collect();
    assert_eq!(
        times,
        vec![
            at_ms(0),
            at_ms(20),
            at_ms(21),
            at_ms(22),
            at_ms(23),
            at_ms(24)
        ]
    );
}
