//! DCTCP's window reduction as Linux does it: the first ECN echo of a window enters CWR with
//! ssthresh = cwnd · (1 − α/2) (the current α), PRR brings the data in flight down to it over
//! the following round trip, there is no growth until the cumulative ACK passes the `snd_nxt`
//! of entry, and then the window is ssthresh.

use netrt::Instant;
use transport::harness::Fate;
use transport::{
    AckInfo, CcKind, Dctcp, RecoveryMode, SackBlock, Sender, TransportConfig, MAX_SACK_BLOCKS,
};

use crate::util::*;

const M: u64 = 1000;

fn ack(ackno: u64, ece: bool) -> AckInfo {
    AckInfo {
        ack: ackno * M,
        sack: [SackBlock::default(); MAX_SACK_BLOCKS],
        n_sack: 0,
        ece,
        ts_echo: Instant::ZERO,
        segs: 1,
        syn: false,
    }
}

/// DCTCP with α = 1/2, 20 segments in flight; the first ACK echoes CE. Returns the sender and
/// the number of segments each of the 20 ACKs of the window let out.
fn one_marked_window(mode: RecoveryMode) -> (Sender, Vec<usize>) {
    let cfg = no_handshake()
        .with_mss(M as u32)
        .with_init_cwnd_pkts(20)
        .with_ecn(true)
        .with_recovery(mode);
    let cc = Dctcp::new(M as u32, 20).with_initial_alpha(0.5);
    let mut s = Sender::new(cfg, None, Box::new(cc), Instant::ZERO);
    assert_eq!(
        std::iter::from_fn(|| s.poll_transmit(Instant::ZERO)).count(),
        20
    );
    let mut sent = Vec::new();
    for k in 1..=20 {
        // A second echo inside the episode (ACK 5) changes nothing.
        s.on_ack(at_ms(10 + k), &ack(k, k == 1 || k == 5));
        let sig = *s.last_signals().expect("signals");
        assert_eq!(sig.ecn_echo, k == 1, "ACK {k}");
        assert_eq!(sig.in_cwr, k > 1, "ACK {k}");
        assert!(s.in_cwr());
        // The controller's target is set once: 20 · (1 − 0.5/2) = 15 segments.
        assert_eq!(s.cc().cwnd_bytes(), 15 * M, "ACK {k}");
        sent.push(std::iter::from_fn(|| s.poll_transmit(at_ms(10 + k))).count());
    }
    (s, sent)
}

#[test]
fn dctcp_cwr_reduces_gradually_with_prr_over_one_round_trip() {
    let (mut s, sent) = one_marked_window(RecoveryMode::Prr);
    // PRR with prior_cwnd 20 and ssthresh 15: while the pipe exceeds 15, ACK k may have sent
    // ceil(15·k/20) segments in total (the first ACK always sends one): three of every four
    // ACKs send one. From ACK 17 the pipe is at ssthresh and PRR-SSRB holds it there.
    assert_eq!(
        sent,
        vec![1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1]
    );
    assert_eq!(
        sent.iter().sum::<usize>(),
        15,
        "ssthresh segments in the round"
    );
    assert_eq!(s.bytes_in_flight(), 15 * M);
    // The window in force came down gradually: pipe + what PRR allows, now 15 segments.
    assert_eq!(s.cwnd(), 15 * M);
    // The first segment sent during CWR is acknowledged: the episode ends; the window is
    // cwnd · (1 − α/2) = 15 segments, and growth resumes (congestion avoidance).
    s.on_ack(at_ms(40), &ack(21, false));
    assert!(!s.in_cwr());
    assert!(!s.last_signals().expect("signals").in_cwr);
    assert_eq!((s.cwnd(), s.cc().cwnd_bytes()), (15 * M, 15 * M));
    assert_eq!(s.cc().ssthresh_bytes(), Some(15 * M));
    assert_eq!(s.stats().cwr_episodes, 1);
    assert_eq!(std::iter::from_fn(|| s.poll_transmit(at_ms(40))).count(), 1);
    // The next echo starts the next episode.
    s.on_ack(at_ms(41), &ack(22, true));
    assert!(s.in_cwr());
    assert_eq!(s.stats().cwr_episodes, 2);
    assert!(s.cc().cwnd_bytes() < 15 * M);
}

#[test]
fn dctcp_cwr_immediate_cuts_at_once() {
    let (s, sent) = one_marked_window(RecoveryMode::Immediate);
    // The window is 15 at once: nothing until the pipe (19 after the first ACK) falls below
    // it, then one segment per ACK: the same 15 segments, in the last three quarters only.
    assert_eq!(
        sent,
        vec![0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    );
    assert_eq!(s.cwnd(), 15 * M);
}

/// End to end over the harness: one CE mark in a window of a DCTCP flow; the window after the
/// episode is the window at the echo times (1 − α/2), with α as it was then, and the segments
/// sent in the reduction round follow PRR.
#[test]
fn one_ce_mark_end_to_end() {
    let cfg = TransportConfig::default().with_ecn(true);
    let (mut p, calls) = counted_pair(cfg, 400, CcKind::Dctcp);
    // Mark one segment sent at 100 ms, when the flow is in slow start.
    let mut marked = false;
    p.policy = Some(Box::new(move |r| {
        let ce = !marked && r.at >= at_ms(100);
        marked |= ce;
        Fate::Deliver {
            extra_delay: netrt::Duration::ZERO,
            ce,
        }
    }));
    // Run until the echo arrives and note the window before it.
    let mut before = None;
    while p.sender.stats().cwr_episodes == 0 {
        before = Some(p.sender.cwnd());
        assert!(p.step());
    }
    let before = before.expect("a window");
    let after = p.sender.cc().cwnd_bytes();
    // α starts at 1 and decays by 15/16 per window without marks; the cut uses the current α.
    let ratio = after as f64 / before as f64;
    assert!((0.5..0.75).contains(&ratio), "{before} -> {after}");
    let alpha = 2.0 * (1.0 - ratio);
    assert!(alpha < 1.0 && alpha > 0.5, "alpha {alpha}");
    assert!(
        p.sender.cwnd() > after,
        "PRR: the window in force comes down gradually"
    );
    while p.sender.in_cwr() {
        assert!(p.step());
        assert!(p.sender.cc().cwnd_bytes() == after, "no growth during CWR");
    }
    assert_eq!(p.sender.cwnd(), after);
    assert!(p.run_until_complete(at_ms(10_000), 1_000_000));
    assert_eq!(p.sender.stats().cwr_episodes, 1);
    assert_eq!(calls.losses.get(), 0);
    assert_eq!(p.sender.stats().retransmitted_segments, 0);
}

/// A loss during CWR turns the episode into fast recovery (the controller halves its target);
/// a timeout ends either.
#[test]
fn loss_during_cwr_becomes_recovery() {
    let cfg = no_handshake()
        .with_mss(M as u32)
        .with_init_cwnd_pkts(20)
        .with_ecn(true);
    let cc = Dctcp::new(M as u32, 20).with_initial_alpha(0.5);
    let mut s = Sender::new(cfg, None, Box::new(cc), Instant::ZERO);
    std::iter::from_fn(|| s.poll_transmit(Instant::ZERO)).count();
    s.on_ack(at_ms(10), &ack(1, true));
    assert!(s.in_cwr());
    std::iter::from_fn(|| s.poll_transmit(at_ms(10))).count();
    // Segment 1 is lost: 2, 3, 4 are SACKed.
    for k in 3..=5 {
        let mut a = ack(1, false);
        a.sack[0] = SackBlock {
            start: 2 * M,
            end: k * M,
        };
        a.n_sack = 1;
        s.on_ack(at_ms(10 + k), &a);
    }
    assert!(s.in_recovery() && !s.in_cwr());
    assert_eq!(s.cc().cwnd_bytes(), 15 * M / 2);
    assert_eq!((s.stats().cwr_episodes, s.stats().recoveries), (1, 1));
    let out: Vec<_> = std::iter::from_fn(|| s.poll_transmit(at_ms(15))).collect();
    assert_eq!(out.first().map(|g| (g.seq, g.retransmit)), Some((M, true)));
    // A timeout ends recovery; the window is one segment.
    let rto = s.poll_timeout().expect("timer");
    s.on_timeout(rto);
    assert!(!s.in_recovery() && !s.in_cwr());
    assert_eq!(s.cwnd(), M);
}
