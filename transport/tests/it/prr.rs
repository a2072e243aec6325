//! Proportional Rate Reduction (RFC 6937, PRR-SSRB as Linux's `tcp_cwnd_reduction`), the
//! default `recovery`, against the immediate reduction of RFC 6675, on the two scenarios of
//! RFC 6937's examples: a window of 20 segments (cwnd = FlightSize = pipe = 20, so NewReno's
//! ssthresh is 10) that loses one segment, or a burst of 15.
//!
//! The sender is driven by hand, one ACK at a time, and the test records what each ACK lets
//! out. As in the RFC's figures the first two duplicate ACKs each send a new segment (here not
//! by Limited Transmit but by the RFC 6675 pipe, which SACKed segments leave), so the pipe is
//! 18 (single loss) or 4 (burst) when recovery starts, as in the RFC.
//!
//! Linux refines PRR-SSRB (as the RFC 6937 successor does with its "SafeACK"): the extra
//! segment per ACK is only granted when the ACK advances the cumulative point without new
//! losses, so a SACK-only ACK below ssthresh releases what it delivered (as PRR-CRB).

use netrt::Instant;
use transport::{AckInfo, CcKind, RecoveryMode, SackBlock, Sender, MAX_SACK_BLOCKS};

use crate::util::*;

const M: u64 = 1000;

fn ack(ackno: u64, sack: Option<(u64, u64)>) -> AckInfo {
    let mut blocks = [SackBlock::default(); MAX_SACK_BLOCKS];
    if let Some((s, e)) = sack {
        blocks[0] = SackBlock {
            start: s * M,
            end: e * M,
        };
    }
    AckInfo {
        ack: ackno * M,
        sack: blocks,
        n_sack: u8::from(sack.is_some()),
        ece: false,
        ts_echo: Instant::ZERO,
        segs: 1,
        syn: false,
    }
}

/// NewReno with 20 segments in flight (sent at t = 0).
fn twenty_in_flight(mode: RecoveryMode) -> Sender {
    let cfg = no_handshake()
        .with_mss(M as u32)
        .with_init_cwnd_pkts(20)
        .with_recovery(mode);
    let mut s = Sender::new(cfg, None, CcKind::Reno.build(M as u32, 20), Instant::ZERO);
    assert_eq!(
        std::iter::from_fn(|| s.poll_transmit(Instant::ZERO)).count(),
        20
    );
    s
}

/// Feeds `a`, then drains: the segments sent (segment number, retransmission?).
fn step(s: &mut Sender, t: u64, a: AckInfo) -> Vec<(u64, bool)> {
    s.on_ack(at_ms(t), &a);
    std::iter::from_fn(|| s.poll_transmit(at_ms(t)))
        .map(|g| (g.seq / M, g.retransmit))
        .collect()
}

/// Segment 0 is lost; the ACKs of 1..19 SACK them one by one (loss found on the third).
fn single_loss(mode: RecoveryMode) -> (Sender, Vec<Vec<(u64, bool)>>) {
    let mut s = twenty_in_flight(mode);
    let mut sent = Vec::new();
    for k in 1..=19 {
        let out = step(&mut s, 10 + k, ack(0, Some((1, k + 1))));
        if k >= 3 {
            sent.push(out);
        } else {
            assert_eq!(
                out,
                vec![(19 + k, false)],
                "the pipe lets a new segment out"
            );
        }
    }
    (s, sent)
}

#[test]
fn single_loss_prr_sends_on_every_other_ack_then_holds_the_pipe_at_ssthresh() {
    let (mut s, sent) = single_loss(RecoveryMode::Prr);
    let counts: Vec<usize> = sent.iter().map(Vec::len).collect();
    // While the pipe exceeds ssthresh (10) PRR sends ceil(10 · delivered / 20) in total: one
    // segment per two ACKs, the first (ACK 3, which starts recovery) being the retransmission.
    // The pipe falls by half a segment per ACK and reaches ssthresh on the last ACK.
    assert_eq!(
        counts,
        vec![1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0]
    );
    assert_eq!(sent[0], vec![(0, true)]);
    let new: Vec<u64> = sent[1..].iter().flatten().map(|x| x.0).collect();
    assert_eq!(new, (22..=28).collect::<Vec<_>>());
    // The window in force fell gradually (pipe + what PRR allows) to ssthresh.
    assert_eq!(s.cwnd(), 10 * M);
    assert_eq!(s.cc().cwnd_bytes(), 10 * M);
    assert_eq!(s.bytes_in_flight(), 10 * M);
    // The retransmission and 20, 21 arrive: the cumulative ACK passes the recovery point (22),
    // recovery ends, the window is the controller's ssthresh.
    let out = step(&mut s, 40, ack(22, None));
    assert!(!s.in_recovery());
    assert_eq!(out, vec![(29, false), (30, false), (31, false)]);
    assert_eq!((s.cwnd(), s.bytes_in_flight()), (10 * M, 10 * M));
}

#[test]
fn single_loss_immediate_waits_half_a_window_then_sends_one_per_ack() {
    let (s, sent) = single_loss(RecoveryMode::Immediate);
    let counts: Vec<usize> = sent.iter().map(Vec::len).collect();
    // The forced retransmission, silence until the pipe falls below 10, then one per ACK: the
    // same 8 segments as PRR, but in the second half of the round trip only.
    assert_eq!(
        counts,
        vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    );
    assert_eq!(s.bytes_in_flight(), 10 * M);
}

/// Segments 0..14 are lost; 15..21 arrive (the third SACK finds the burst; 20 and 21 went out
/// on the first two); then the retransmissions are acknowledged in turn.
fn burst_loss(mode: RecoveryMode) -> Vec<Vec<(u64, bool)>> {
    let mut s = twenty_in_flight(mode);
    let mut sent = Vec::new();
    for k in 1..=7 {
        let out = step(&mut s, 10 + k, ack(0, Some((15, 15 + k))));
        if k >= 3 {
            sent.push(out);
        } else {
            assert_eq!(out, vec![(19 + k, false)]);
        }
    }
    for i in 1..=7 {
        sent.push(step(&mut s, 30 + i, ack(i, Some((15, 22)))));
    }
    sent
}

#[test]
fn burst_loss_prr_ssrb_grows_the_pipe_back_like_slow_start() {
    let sent = burst_loss(RecoveryMode::Prr);
    // Pipe 4 < ssthresh: PRR-SSRB. SACK-only ACKs release what they deliver (one segment);
    // ACKs that advance the cumulative point one more: two per ACK, slow start, until the
    // pipe reaches ssthresh (10), then one per ACK.
    let counts: Vec<usize> = sent.iter().map(Vec::len).collect();
    assert_eq!(counts, vec![1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 1, 1]);
    let order: Vec<(u64, bool)> = sent.into_iter().flatten().collect();
    let mut expect: Vec<(u64, bool)> = (0..15).map(|i| (i, true)).collect();
    expect.extend([(22, false), (23, false)]);
    assert_eq!(order, expect);
}

#[test]
fn burst_loss_immediate_sends_a_burst() {
    let sent = burst_loss(RecoveryMode::Immediate);
    // RFC 6675: the whole gap between pipe and ssthresh at once (6 segments), then one per ACK.
    let counts: Vec<usize> = sent.iter().map(Vec::len).collect();
    assert_eq!(counts, vec![6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
}

/// `recovery.rs`'s two drops under PRR: the same single reduction and retransmissions, but the
/// window in force comes down gradually (half a segment per delivered segment) instead of
/// at once.
#[test]
fn two_drops_with_prr() {
    let (mut p, calls) = counted_pair(no_handshake(), 20, CcKind::Reno);
    p.drops.extend([(5, 1), (7, 1)]);
    p.run_until(at_ms(28), 100_000);
    assert_eq!(p.retransmissions(), vec![(at_ms(28), 5, 2)]);
    assert_eq!(p.sender.cc().cwnd_bytes(), 15 * MSS / 2);
    // Pipe 11 segments (15 sent, 3 SACKed, 5 lost) plus the retransmission.
    assert_eq!(p.sender.cwnd(), 12 * MSS);
    assert!(p.run_until_complete(at_ms(10_000), 100_000));
    dump(&p);
    let rtx: Vec<_> = p.retransmissions().iter().map(|r| (r.1, r.2)).collect();
    assert_eq!(rtx, vec![(5, 2), (7, 2)]);
    let st = p.sender.stats();
    assert_eq!((st.recoveries, st.timeouts), (1, 0));
    assert_eq!((calls.losses.get(), calls.exits.get()), (1, 1));
    assert!(!p.sender.in_recovery());
    assert_eq!(p.sender.cwnd(), p.sender.cc().cwnd_bytes());
}
