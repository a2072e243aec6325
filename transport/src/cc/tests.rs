//! Window evolution of the native controllers, checked in packets over rounds (s2n-quic style):
//! a tiny driver acknowledges one window per round trip, one segment per ACK, ACKs spread evenly
//! over the round. For ECN it plays the sender's part of CWR (`ecn_echo` on a CE-echoing ACK
//! outside an episode, `in_cwr` until the cumulative ACK passes the `snd_nxt` at its start).

use netrt::Duration;

use super::*;

const MSS: u64 = 1000;

/// A synthetic flow: each round sends one cwnd and acknowledges it segment by segment.
struct Rounds {
    now: Instant,
    rtt: Duration,
    una: u64,
    cwr_end: Option<u64>,
}

impl Rounds {
    fn new(rtt: Duration) -> Self {
        Rounds {
            now: Instant::ZERO,
            rtt,
            una: 0,
            cwr_end: None,
        }
    }

    /// One round; `mark(i)` says whether the ACK of the i-th segment of the round echoes CE.
    /// Returns the window (packets) after the round.
    fn round(&mut self, cc: &mut dyn CongestionControl, mark: impl Fn(u64) -> bool) -> u64 {
        let n = (cc.cwnd_bytes() / MSS).max(1);
        let nxt = self.una + n * MSS;
        let step = Duration::from_nanos(self.rtt.as_nanos() / n);
        for i in 0..n {
            self.now += step;
            self.una += MSS;
            let ce = mark(i);
            if self.cwr_end.is_some_and(|end| self.una > end) {
                self.cwr_end = None;
            }
            let in_cwr = self.cwr_end.is_some();
            let s = AckSignals {
                now: self.now,
                mss: MSS as u32,
                bytes_acked: MSS,
                packets_acked: 1,
                bytes_delivered: MSS,
                packets_delivered: 1,
                ecn_bytes: if ce { MSS } else { 0 },
                ecn_packets: u64::from(ce),
                rtt_sample: Some(self.rtt),
                snd_una: self.una,
                snd_nxt: nxt,
                snd_cwnd: cc.cwnd_bytes(),
                in_cwr,
                ecn_echo: ce && !in_cwr,
                ..AckSignals::default()
            };
            cc.on_ack(self.now, &s);
            if s.ecn_echo && cc.enters_cwr_on_ecn() {
                self.cwr_end = Some(nxt);
            }
        }
        cc.cwnd_bytes() / MSS
    }

    fn rounds(&mut self, cc: &mut dyn CongestionControl, k: usize) -> Vec<u64> {
        (0..k).map(|_| self.round(cc, |_| false)).collect()
    }
}

fn loss() -> LossEvent {
    LossEvent::default()
}

#[test]
fn reno_slow_start_halving_and_linear_growth() {
    let mut cc = NewReno::new(MSS as u32, 10);
    let mut r = Rounds::new(Duration::from_millis(100));
    assert_eq!(cc.cwnd_bytes(), 10 * MSS);
    assert_eq!(r.rounds(&mut cc, 3), vec![20, 40, 80]);
    cc.on_loss(r.now, &loss());
    assert_eq!(cc.cwnd_bytes(), 40 * MSS);
    assert_eq!(cc.ssthresh_bytes(), Some(40 * MSS));
    assert_eq!(r.rounds(&mut cc, 5), vec![41, 42, 43, 44, 45]);
    cc.on_loss(r.now, &loss());
    assert_eq!(cc.cwnd_bytes(), 45 * MSS / 2);
    cc.on_timeout(r.now);
    assert_eq!(cc.cwnd_bytes(), MSS);
    assert_eq!(cc.ssthresh_bytes(), Some(11_250));
    // Slow start up to ssthresh (11.25 segments), then one segment per round.
    assert_eq!(r.rounds(&mut cc, 6), vec![2, 4, 8, 11, 12, 13]);
}

#[test]
fn reno_does_not_grow_in_recovery_and_floors_at_two_segments() {
    let mut cc = NewReno::new(MSS as u32, 2);
    let s = AckSignals {
        bytes_acked: MSS,
        in_recovery: true,
        ..AckSignals::default()
    };
    cc.on_ack(Instant::ZERO, &s);
    assert_eq!(cc.cwnd_bytes(), 2 * MSS);
    cc.on_loss(Instant::ZERO, &loss());
    assert_eq!(cc.cwnd_bytes(), 2 * MSS);
    // ABC: one huge cumulative ACK grows slow start by at most 2 MSS.
    let s = AckSignals {
        bytes_acked: 100 * MSS,
        bytes_delivered: 100 * MSS,
        ..AckSignals::default()
    };
    let mut cc = NewReno::new(MSS as u32, 10);
    cc.on_ack(Instant::ZERO, &s);
    assert_eq!(cc.cwnd_bytes(), 12 * MSS);
}

/// The ACK that ends a recovery episode cumulatively acknowledges bytes SACKed during it.
/// Those were delivered (and not credited: no growth in recovery) earlier; crediting them
/// again would inflate the window under random loss (+13% goodput vs ns-3 at 1% loss). Growth
/// follows newly delivered bytes, as in Linux.
#[test]
fn bytes_sacked_during_recovery_are_not_credited_again_when_it_ends() {
    let exit = AckSignals {
        bytes_acked: 60 * MSS,
        packets_acked: 60,
        bytes_delivered: MSS,
        packets_delivered: 1,
        rtt_sample: Some(Duration::from_millis(10)),
        ..AckSignals::default()
    };
    // Reno in congestion avoidance at 20 segments: 60 segments of credit would add 3 MSS.
    let mut reno = NewReno::new(MSS as u32, 40);
    reno.on_loss(Instant::ZERO, &loss());
    assert_eq!(reno.cwnd_bytes(), 20 * MSS);
    reno.on_ack(Instant::ZERO, &exit);
    assert_eq!(
        reno.cwnd_bytes(),
        20 * MSS,
        "one delivered segment: no whole MSS yet"
    );
    // Cubic: growth per ACK is proportional to the delivered segments.
    let mut a = Cubic::new(MSS as u32, 40);
    let mut b = Cubic::new(MSS as u32, 40);
    for cc in [&mut a, &mut b] {
        cc.on_loss(Instant::ZERO, &loss());
    }
    let t = Instant::ZERO + Duration::from_millis(500);
    a.on_ack(t, &exit);
    let one = AckSignals {
        bytes_acked: MSS,
        packets_acked: 1,
        ..exit
    };
    b.on_ack(t, &one);
    assert_eq!(
        a.cwnd_bytes(),
        b.cwnd_bytes(),
        "the SACKed 59 segments add nothing"
    );
}

#[test]
fn cubic_follows_w_cubic_after_a_loss() {
    let rtt = Duration::from_millis(100);
    // HyStart off: the driver's ACKs, spread evenly over the round, form an ACK train that
    // would end slow start half way through the first round (see the HyStart tests).
    let mut cc = Cubic::new(MSS as u32, 100).with_hystart(false);
    let mut r = Rounds::new(rtt);
    r.round(&mut cc, |_| false); // an RTT sample; slow start 100 -> 200
    cc.on_loss(r.now, &loss());
    // W_max = 200, cwnd = 0.7·200 = 140, K = ∛(60/0.4) = ∛150 ≈ 5.313 s.
    assert_eq!(cc.cwnd_bytes(), 140 * MSS);
    assert_eq!(cc.w_max(), 200.0);
    let mut snapshot = Vec::new();
    let mut epoch = None;
    for round in 1..=80 {
        let w = r.round(&mut cc, |_| false);
        epoch = epoch.or(cc.epoch_start());
        if round % 10 == 0 {
            snapshot.push(w);
        }
        // At every round boundary the window tracks W_cubic(t) to within two segments (the
        // per-ACK target looks one RTT ahead; growth lags it by about one RTT).
        let t = r.now.saturating_since(epoch.expect("epoch")).as_secs_f64();
        let expect = cc.w_cubic(t);
        assert!(
            (w as f64 - expect).abs() <= 2.0,
            "round {round}: t {t:.2} cwnd {w} W_cubic {expect:.1}"
        );
    }
    assert!((cc.k() - 150f64.cbrt()).abs() < 1e-9);
    // Concave up to W_max around t = K ≈ 5.3 s (round 53), convex beyond.
    assert_eq!(snapshot, vec![167, 185, 195, 199, 199, 200, 201, 207]);
}

#[test]
fn cubic_fast_convergence_and_reno_friendly_region() {
    let mut cc = Cubic::new(MSS as u32, 100);
    let mut r = Rounds::new(Duration::from_millis(1));
    cc.on_loss(r.now, &loss()); // W_max 100, cwnd 70
    cc.on_loss(r.now, &loss()); // 70 < W_max: fast convergence, W_max = 70·1.7/2 = 59.5
    assert_eq!(cc.w_max(), 59.5);
    assert_eq!(cc.cwnd_bytes(), 49 * MSS);
    // With a 1 ms RTT the cubic curve is nearly flat for a while; the Reno-friendly estimate
    // grows by 3(1-β)/(1+β) ≈ 0.53 segment per round and drives the window.
    let w = r.rounds(&mut cc, 10);
    assert_eq!(w, vec![49, 50, 50, 51, 51, 52, 52, 53, 53, 54]);
    // A timeout: cwnd 1 MSS, ssthresh 0.7·cwnd, and (below W_max) fast convergence again.
    let before = cc.cwnd_bytes() as f64;
    cc.on_timeout(r.now);
    assert_eq!(cc.cwnd_bytes(), MSS);
    let ss = cc.ssthresh_bytes().unwrap_or(0) as f64;
    assert!((ss - 0.7 * before).abs() < 1.0, "{ss} vs {before}");
    assert!((cc.w_max() - before / MSS as f64 * 0.85).abs() < 0.01);
}

#[test]
fn dctcp_alpha_converges_to_marking_fraction() {
    let mut cc = Dctcp::new(MSS as u32, 10);
    let mut r = Rounds::new(Duration::from_micros(100));
    assert_eq!(cc.alpha(), 1.0);
    // Half of every window marked. Each window's update: α ← 15/16·α + 1/16·0.5, so after k
    // windows α = 0.5 + 0.5·(15/16)^k.
    let mut alphas = Vec::new();
    for _ in 0..120 {
        r.round(&mut cc, |i| i % 2 == 0);
        alphas.push(cc.alpha());
    }
    // The window floors at two segments (one marked, one not: still 50%).
    assert_eq!(cc.cwnd_bytes(), 2 * MSS);
    // Each observation window ends with the ACK that passes its end (RFC 8257), so windows hold
    // the last n-1 ACKs of one round and the first of the next: F is 0.5 within a segment.
    // α falls monotonically from 1 towards 0.5, like 0.5 + 0.5·(15/16)^k.
    assert!(alphas.windows(2).all(|w| w[1] <= w[0]));
    for (k, a) in alphas.iter().enumerate().skip(1) {
        let closed = 0.5 + 0.5 * (15.0f64 / 16.0).powi(k as i32);
        assert!((a - closed).abs() < 0.01, "round {k}: {a} vs {closed}");
    }
    assert!((cc.alpha() - 0.5).abs() < 0.001);
}

#[test]
fn dctcp_cuts_by_alpha_over_two_once_per_window() {
    // α = 0.5 and 50% marks keep α near 0.5: every window is cut by about 25%, once.
    let mut cc = Dctcp::new(MSS as u32, 100).with_initial_alpha(0.5);
    let mut r = Rounds::new(Duration::from_micros(100));
    let mut w = vec![cc.cwnd_bytes() / MSS];
    for _ in 0..6 {
        w.push(r.round(&mut cc, |i| i % 2 == 0));
        let a = cc.alpha();
        assert!((a - 0.5).abs() < 0.02, "alpha {a}");
    }
    for p in w.windows(2) {
        let ratio = p[1] as f64 / p[0] as f64;
        assert!((ratio - 0.75).abs() < 0.05, "{p:?}");
    }
    assert_eq!(w, vec![100, 75, 56, 42, 31, 23, 17]);
    // No marks: α decays by 15/16 per window and the window grows like Reno (CA: +1/round).
    let w: Vec<u64> = (0..4).map(|_| r.round(&mut cc, |_| false)).collect();
    // (The first unmarked round still ends the last reduction window: no growth yet.)
    assert_eq!(w, vec![17, 18, 19, 20]);
    assert!(cc.alpha() < 0.5 * 0.85, "alpha decays: {}", cc.alpha());
    // Marks only in a single ACK still cut the window (by the current α/2) once.
    let before = cc.cwnd_bytes();
    r.round(&mut cc, |i| i == 3);
    // (α was updated by the round's first ACK, which closed the previous window.)
    let expect = before as f64 * (1.0 - cc.alpha() / 2.0);
    assert!(
        (cc.cwnd_bytes() as f64 - expect).abs() <= MSS as f64,
        "{} vs {expect}",
        cc.cwnd_bytes()
    );
    // Loss halves like Reno.
    let before = cc.cwnd_bytes();
    cc.on_loss(r.now, &loss());
    assert_eq!(cc.cwnd_bytes(), (before / 2).max(2 * MSS));
}

#[test]
fn dctcp_without_marks_is_reno() {
    let mut d = Dctcp::new(MSS as u32, 10);
    let mut n = NewReno::new(MSS as u32, 10);
    let (mut r1, mut r2) = (
        Rounds::new(Duration::from_millis(1)),
        Rounds::new(Duration::from_millis(1)),
    );
    assert_eq!(r1.rounds(&mut d, 3), r2.rounds(&mut n, 3));
    d.on_loss(r1.now, &loss());
    n.on_loss(r2.now, &loss());
    assert_eq!(r1.rounds(&mut d, 5), r2.rounds(&mut n, 5));
}

#[test]
fn cc_kind_builds_and_parses() {
    for (k, name) in [
        (CcKind::Reno, "reno"),
        (CcKind::Cubic, "cubic"),
        (CcKind::Dctcp, "dctcp"),
    ] {
        let cc = k.build(1460, 10);
        assert_eq!(cc.name(), name);
        assert_eq!(k.name(), name);
        assert_eq!(cc.cwnd_bytes(), 14_600);
        assert_eq!(cc.pacing_rate_bps(), None);
    }
}
