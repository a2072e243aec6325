//! Pacing: a controller-set rate spaces segments exactly; self-pacing (cfg.pacing) breaks the
//! ACK-clocked bursts.

use netrt::{Duration, Instant};
use transport::harness::Pair;
use transport::CcKind;

use crate::util::*;

#[test]
fn controller_rate_spaces_segments_by_size_over_rate() {
    let cc = Box::new(Fixed {
        cwnd: 100 * MSS,
        rate: Some(ONE_MS_PER_SEG),
    });
    let mut p = Pair::new(no_handshake(), Some(20 * MSS + 730), cc, ms(10), None);
    // At t = 0 only one segment may leave; the pacer wakes the sender 1 ms later.
    p.pump();
    assert_eq!(p.tx_log.len(), 1);
    assert_eq!(p.sender.poll_timeout(), Some(at_ms(1)));
    assert!(p.run_until_complete(at_ms(10_000), 100_000));
    let times: Vec<Instant> = p.tx_log.iter().map(|r| r.at).collect();
    let expect: Vec<Instant> = (0..21).map(at_ms).collect();
    assert_eq!(times, expect);
    assert_eq!(p.tx_log.last().map(|r| r.seg.len), Some(730));
    assert_eq!(p.sender.stats().retransmitted_segments, 0);
}

#[test]
fn rate_zero_means_unpaced_and_window_still_limits() {
    let cc = Box::new(Fixed {
        cwnd: 3 * MSS,
        rate: Some(0),
    });
    let mut p = Pair::new(no_handshake(), Some(20 * MSS), cc, ms(10), None);
    p.pump();
    assert_eq!(p.tx_log.len(), 3);
    assert!(p.tx_log.iter().all(|r| r.at == Instant::ZERO));
    assert!(p.run_until_complete(at_ms(10_000), 100_000));
}

#[test]
fn paced_sender_wakes_only_when_the_window_allows() {
    let cc = Box::new(Fixed {
        cwnd: 2 * MSS,
        rate: Some(ONE_MS_PER_SEG),
    });
    let mut p = Pair::new(no_handshake(), Some(20 * MSS), cc, ms(10), None);
    p.run_until(at_ms(1), 100);
    // Two segments out at 0 and 1 ms; the window is full, so the only wake-up is the RTO.
    assert_eq!(p.tx_log.len(), 2);
    assert_eq!(p.sender.poll_timeout(), Some(at_ms(1000)));
}

#[test]
fn self_pacing_spreads_the_window_over_the_rtt() {
    let cfg = no_handshake().with_pacing(true);
    let cc = CcKind::Reno.build(cfg.mss, cfg.init_cwnd_pkts);
    let mut p = Pair::new(cfg, Some(200 * MSS), cc, ms(10), None);
    assert!(p.run_until_complete(at_ms(10_000), 1_000_000));
    // Unpaced until the first RTT sample: the initial window goes out at once.
    assert_eq!(
        p.tx_log.iter().filter(|r| r.at == Instant::ZERO).count(),
        10
    );
    // Afterwards no two segments leave at the same instant, and every gap is at least one
    // segment at 2·cwnd/srtt with the largest window the flow reached.
    let later: Vec<Instant> = p
        .tx_log
        .iter()
        .map(|r| r.at)
        .filter(|&t| t > Instant::ZERO)
        .collect();
    let max_cwnd = 200 * MSS;
    let max_rate = 2 * max_cwnd * 8 * 1_000_000_000 / ms(20).as_nanos();
    let min_gap = Duration::transmission(MSS, max_rate);
    for w in later.windows(2) {
        assert!(w[1] - w[0] >= min_gap, "{} then {}", w[0], w[1]);
    }
    // Unpaced, the same flow sends bursts at ACK arrivals.
    let cfg = no_handshake();
    let cc = CcKind::Reno.build(cfg.mss, cfg.init_cwnd_pkts);
    let mut q = Pair::new(cfg, Some(200 * MSS), cc, ms(10), None);
    assert!(q.run_until_complete(at_ms(10_000), 1_000_000));
    assert!(q.tx_log.iter().filter(|r| r.at == at_ms(20)).count() >= 10);
}
