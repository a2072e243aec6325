//! Receiver behaviour seen end to end: delayed ACKs over the harness.

use transport::harness::Pair;
use transport::CcKind;

use crate::util::*;

#[test]
fn delayed_acks_halve_the_ack_count() {
    let cfg = no_handshake().with_delayed_ack(Some(ms(40)));
    let mut p = pair(cfg, 20, CcKind::Reno);
    assert!(p.run_until_complete(at_ms(10_000), 100_000));
    dump(&p);
    assert_eq!(p.ack_log.len(), 10);
    assert!(p.ack_log.iter().all(|(_, a)| a.segs == 2));
    let st = p.sender.stats();
    assert_eq!((st.retransmitted_segments, st.timeouts), (0, 0));
    // Every ACK covers two segments: the sender's delivery accounting still adds up.
    assert_eq!(p.receiver.stats().acks, 10);
}

#[test]
fn lone_segments_wait_for_the_delayed_ack_timer() {
    let cfg = no_handshake().with_delayed_ack(Some(ms(40)));
    let cc = Box::new(Fixed {
        cwnd: MSS,
        rate: None,
    });
    let mut p = Pair::new(cfg, Some(3 * MSS), cc, ms(10), Some(ONE_MS_PER_SEG));
    assert!(p.run_until_complete(at_ms(10_000), 100_000));
    dump(&p);
    // One segment per window: it arrives 11 ms after sending, waits 40 ms for the timer, and the
    // ACK takes 10 ms more. The last segment carries FIN and is ACKed at once.
    let tx: Vec<_> = p.tx_log.iter().map(|r| r.at).collect();
    assert_eq!(tx, vec![at_ms(0), at_ms(61), at_ms(122)]);
    let acks: Vec<_> = p.ack_log.iter().map(|(t, _)| *t).collect();
    assert_eq!(acks, vec![at_ms(61), at_ms(122), at_ms(143)]);
    // A delayed ACK echoes its segment's timestamp, so the RTT includes the delay: samples 61,
    // 61 and (FIN) 21 ms, srtt = 7/8·61 + 1/8·21 = 56 ms.
    assert_eq!(p.ack_log[0].1.ts_echo, at_ms(0));
    assert_eq!(p.sender.stats().min_rtt, Some(ms(21)));
    assert_eq!(p.sender.stats().srtt, Some(ms(56)));
}
