use sim_core::{SimDuration, SimTime};
use transport::harness::Pair;
use transport::{CcKind, CongestionControl, TransportConfig};

pub const MSS: u64 = 1460;
/// 1460-byte segments serialize in exactly 1 ms at this rate.
pub const ONE_MS_PER_SEG: u64 = 11_680_000;

pub fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

pub fn at_ms(n: u64) -> SimTime {
    SimTime::ZERO + ms(n)
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
