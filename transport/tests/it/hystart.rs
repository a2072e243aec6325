//! Cubic's HyStart (Linux's): slow start ends (ssthresh = cwnd) before the first loss when the
//! RTT rises or the ACK train outlasts half the minimum RTT, i.e. once the window exceeds the
//! path's BDP; without it slow start runs until the buffer overflows.

use netrt::{Duration, Instant};
use transport::harness::Pair;
use transport::{AckSignals, CcKind, CongestionControl, Cubic, HystartExit, TransportConfig};

use crate::util::*;

/// The dumbbell of the issue: 96 Mbit/s, 20 ms RTT, one BDP (20 ms) of drop-tail buffer.
fn dumbbell(hystart: bool) -> Pair {
    let cfg = TransportConfig::default().with_hystart(hystart);
    let cc = CcKind::Cubic.build(cfg.mss, cfg.init_cwnd_pkts);
    let mut p = Pair::new(cfg, None, cc, ms(10), Some(96_000_000));
    p.header_bytes = 40;
    p.queue_limit = Some(ms(20));
    p
}

/// Runs until `t`, returning when slow start ended (ssthresh became finite) and the first drop.
fn slow_start_end_and_first_drop(p: &mut Pair, t: Instant) -> (Option<Instant>, Option<Instant>) {
    let mut ss_end = None;
    while p.now < t && p.step() {
        if ss_end.is_none() && p.sender.cc().ssthresh_bytes().is_some() {
            ss_end = Some(p.now);
        }
    }
    (ss_end, p.dropped.first().map(|r| r.at))
}

#[test]
fn hystart_ends_slow_start_before_the_first_loss() {
    let mut p = dumbbell(true);
    let (ss_end, first_drop) = slow_start_end_and_first_drop(&mut p, at_ms(1000));
    let ss_end = ss_end.expect("HyStart ended slow start");
    eprintln!(
        "HyStart: slow start ended at {ss_end} with cwnd {} segments; first drop {first_drop:?}; {} drops in 1 s",
        p.sender.cc().ssthresh_bytes().unwrap_or(0) / MSS,
        p.queue_drops
    );
    assert!(
        first_drop.is_none_or(|d| ss_end < d),
        "{ss_end} vs {first_drop:?}"
    );
    assert_eq!(p.sender.stats().timeouts, 0);
    assert!(p.queue_drops <= 2, "{} drops", p.queue_drops);
    // Without HyStart slow start ends with the first loss, hundreds of drops later.
    let mut q = dumbbell(false);
    let (ss_end, first_drop) = slow_start_end_and_first_drop(&mut q, at_ms(1000));
    let (ss_end, first_drop) = (ss_end.expect("a loss"), first_drop.expect("a drop"));
    eprintln!(
        "no HyStart: slow start ended at {ss_end}, first drop at {first_drop}; {} drops in 1 s",
        q.queue_drops
    );
    assert!(ss_end > first_drop);
    assert!(q.queue_drops > 100, "{} drops", q.queue_drops);
}

/// A synthetic flow driven round by round: the RTT is 40 ms until the window exceeds the BDP
/// (50 segments), then grows by 0.8 ms per segment beyond it (a queue); the buffer holds 100
/// segments. ACKs are 5 ms apart at least (no ACK train), so only the delay test can fire.
struct Path {
    now: Instant,
    una: u64,
}

impl Path {
    const MSS: u64 = 1000;
    const BDP: u64 = 50;
    const BUFFER: u64 = 100;

    /// One round: the window's ACKs, each with the RTT the queue gives. Returns false if the
    /// round overflowed the buffer (the controller is told of the loss).
    fn round(&mut self, cc: &mut dyn CongestionControl) -> bool {
        let n = cc.cwnd_bytes() / Self::MSS;
        if n > Self::BDP + Self::BUFFER {
            cc.on_loss(self.now, &Default::default());
            return false;
        }
        let queue = n.saturating_sub(Self::BDP);
        let rtt = ms(40) + Duration::from_micros(800 * queue);
        let nxt = self.una + n * Self::MSS;
        for _ in 0..n {
            self.now += ms(5);
            self.una += Self::MSS;
            let s = AckSignals {
                now: self.now,
                mss: Self::MSS as u32,
                bytes_acked: Self::MSS,
                packets_acked: 1,
                bytes_delivered: Self::MSS,
                packets_delivered: 1,
                rtt_sample: Some(rtt),
                snd_una: self.una,
                snd_nxt: nxt,
                snd_cwnd: cc.cwnd_bytes(),
                ..AckSignals::default()
            };
            cc.on_ack(self.now, &s);
        }
        true
    }
}

#[test]
fn delay_increase_ends_slow_start_on_a_synthetic_queue() {
    let run = |hystart: bool| {
        let mut cc = Cubic::new(Path::MSS as u32, 10).with_hystart(hystart);
        let mut path = Path {
            now: Instant::ZERO,
            una: 0,
        };
        let mut windows = Vec::new();
        let mut lost = false;
        for _ in 0..8 {
            windows.push(cc.cwnd_bytes() / Path::MSS);
            if !path.round(&mut cc) {
                lost = true;
                break;
            }
        }
        (cc, windows, lost)
    };
    let (cc, windows, lost) = run(true);
    // Rounds of 10, 20, 40, 80 segments: the round at 80 has 30 segments queued (RTT 64 ms,
    // above 40 ms + clamp(40/8, 4, 16) ms). Its first 8 samples only count; the ninth ACK
    // fires the delay test before its own growth: at 80 + 8 = 88 segments.
    assert_eq!(cc.hystart_exit(), Some(HystartExit::Delay));
    assert_eq!(cc.ssthresh_bytes(), Some(88 * Path::MSS));
    assert!(!lost, "{windows:?}");
    assert!(
        windows.iter().all(|&w| w <= Path::BDP + Path::BUFFER),
        "{windows:?}"
    );
    // Without HyStart: 10, 20, 40, 80, 160 > 150: the buffer overflows.
    let (cc, windows, lost) = run(false);
    assert!(lost, "{windows:?}");
    assert_eq!(windows, vec![10, 20, 40, 80, 160]);
    assert_eq!(cc.hystart_exit(), None);
}

/// Constant RTT, but the ACKs of a round arrive back to back (a bottleneck spacing them 0.5 ms
/// apart): once a round's train lasts longer than half the minimum RTT, the window exceeds
/// what the path carries in half a round trip and the ACK-train test fires. With pacing the
/// threshold is the whole minimum RTT.
#[test]
fn ack_train_ends_slow_start() {
    let run = |paced: bool| {
        let mut cc = Cubic::new(1000, 10);
        cc.configure(&TransportConfig::default().with_pacing(paced));
        let (mut now, mut una) = (Instant::ZERO, 0u64);
        let rtt = ms(20);
        for _ in 0..10 {
            let n = cc.cwnd_bytes() / 1000;
            let nxt = una + n * 1000;
            now += rtt;
            for _ in 0..n {
                now += Duration::from_micros(500);
                una += 1000;
                let s = AckSignals {
                    now,
                    mss: 1000,
                    bytes_acked: 1000,
                    packets_acked: 1,
                    bytes_delivered: 1000,
                    packets_delivered: 1,
                    rtt_sample: Some(rtt),
                    snd_una: una,
                    snd_nxt: nxt,
                    ..AckSignals::default()
                };
                cc.on_ack(now, &s);
                if cc.hystart_exit().is_some() {
                    return cc;
                }
            }
        }
        cc
    };
    // Unpaced: the train must exceed 10 ms, i.e. 21 ACKs 0.5 ms apart after the round's
    // first: in the round that starts at 40 segments, at 40 + 21 = 61.
    let cc = run(false);
    assert_eq!(cc.hystart_exit(), Some(HystartExit::AckTrain));
    assert_eq!(cc.ssthresh_bytes(), Some(61_000));
    // Paced: 20 ms, 41 ACKs: in the round that starts at 80 segments, at 121.
    let cc = run(true);
    assert_eq!(cc.hystart_exit(), Some(HystartExit::AckTrain));
    assert_eq!(cc.ssthresh_bytes(), Some(121_000));
}

#[test]
fn hystart_rearms_after_a_timeout_and_is_switchable() {
    let mut cc = Cubic::new(1000, 10);
    cc.configure(&TransportConfig::default().with_hystart(false));
    let mut path = Path {
        now: Instant::ZERO,
        una: 0,
    };
    while path.round(&mut cc) {}
    assert_eq!(cc.hystart_exit(), None, "configured off");
    let mut cc = Cubic::new(1000, 10);
    cc.configure(&TransportConfig::default());
    let mut path = Path {
        now: Instant::ZERO,
        una: 0,
    };
    for _ in 0..5 {
        path.round(&mut cc);
    }
    assert_eq!(cc.hystart_exit(), Some(HystartExit::Delay));
    cc.on_timeout(path.now);
    assert_eq!(cc.hystart_exit(), None);
    assert_eq!(cc.cwnd_bytes(), 1000);
}
