use netrt::{Duration, Instant};
use transport::harness::Pair;
use transport::{CcKind, CongestionControl, TransportConfig};

pub const MSS: u64 = 1460;
/// 1460-byte segments serialize in exactly 1 ms at this rate.
pub const ONE_MS_PER_SEG: u64 = 11_680_000;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn at_ms(n: u64) -> Instant {
    Instant::ZERO + ms(n)
}

/// The configuration the exact-timing tests were written for: no handshake, so the first data
/// segment leaves at t = 0 (with the default handshake every time shifts by one round trip).
pub fn no_handshake() -> TransportConfig {
    TransportConfig::default().with_handshake(false)
}

/// A pair with `cfg`, 10 ms one-way delay and a bottleneck of 1 ms per full segment, sending
/// `segs` full segments with `cc`.
pub fn pair(cfg: TransportConfig, segs: u64, cc: CcKind) -> Pair {
    let c = cc.build(cfg.mss, cfg.init_cwnd_pkts);
    Pair::new(cfg, Some(segs * MSS), c, ms(10), Some(ONE_MS_PER_SEG))
}

/// Prints the transmission and ACK logs (shown when a test fails).
pub fn dump(p: &Pair) {
    for r in &p.tx_log {
        eprintln!("{} tx seg {} nth {}", r.at, r.seg_no, r.nth);
    }
    for (t, a) in &p.ack_log {
        let s: Vec<_> = a.sack[..usize::from(a.n_sack)]
            .iter()
            .map(|b| (b.start / MSS, b.end / MSS))
            .collect();
        eprintln!("{} ack {} sack {:?} ece {}", t, a.ack / MSS, s, a.ece);
    }
    eprintln!("{:?}", p.sender.stats());
}

/// A controller with a fixed window and rate, like a CCP shim that was told both.
#[derive(Debug)]
pub struct Fixed {
    pub cwnd: u64,
    pub rate: Option<u64>,
}

impl CongestionControl for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }
    fn cwnd_bytes(&self) -> u64 {
        self.cwnd
    }
    fn pacing_rate_bps(&self) -> Option<u64> {
        self.rate
    }
}

/// Counts of controller callbacks, shared with the test.
#[derive(Debug, Default)]
pub struct Calls {
    pub acks: std::cell::Cell<u64>,
    pub losses: std::cell::Cell<u64>,
    pub exits: std::cell::Cell<u64>,
    pub timeouts: std::cell::Cell<u64>,
    /// (cwnd before, cwnd after) of every `on_loss`.
    pub loss_cwnds: std::cell::RefCell<Vec<(u64, u64)>>,
}

/// Wraps a controller and counts its callbacks.
#[derive(Debug)]
pub struct Counting {
    pub inner: Box<dyn CongestionControl>,
    pub calls: std::rc::Rc<Calls>,
}

impl CongestionControl for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn on_ack(&mut self, now: Instant, s: &transport::AckSignals) {
        self.calls.acks.set(self.calls.acks.get() + 1);
        self.inner.on_ack(now, s);
    }
    fn on_loss(&mut self, now: Instant, l: &transport::LossEvent) {
        self.calls.losses.set(self.calls.losses.get() + 1);
        let before = self.inner.cwnd_bytes();
        self.inner.on_loss(now, l);
        self.calls
            .loss_cwnds
            .borrow_mut()
            .push((before, self.inner.cwnd_bytes()));
    }
    fn on_recovery_exit(&mut self, now: Instant) {
        self.calls.exits.set(self.calls.exits.get() + 1);
        self.inner.on_recovery_exit(now);
    }
    fn on_timeout(&mut self, now: Instant) {
        self.calls.timeouts.set(self.calls.timeouts.get() + 1);
        self.inner.on_timeout(now);
    }
    fn cwnd_bytes(&self) -> u64 {
        self.inner.cwnd_bytes()
    }
    fn ssthresh_bytes(&self) -> Option<u64> {
        self.inner.ssthresh_bytes()
    }
    fn pacing_rate_bps(&self) -> Option<u64> {
        self.inner.pacing_rate_bps()
    }
    fn enters_cwr_on_ecn(&self) -> bool {
        self.inner.enters_cwr_on_ecn()
    }
    fn configure(&mut self, cfg: &TransportConfig) {
        self.inner.configure(cfg);
    }
}

/// Like [`pair`] but with a counting wrapper around the controller.
pub fn counted_pair(cfg: TransportConfig, segs: u64, cc: CcKind) -> (Pair, std::rc::Rc<Calls>) {
    let calls = std::rc::Rc::new(Calls::default());
    let c = Counting {
        inner: cc.build(cfg.mss, cfg.init_cwnd_pkts),
        calls: calls.clone(),
    };
    (
        Pair::new(
            cfg,
            Some(segs * MSS),
            Box::new(c),
            ms(10),
            Some(ONE_MS_PER_SEG),
        ),
        calls,
    )
}
