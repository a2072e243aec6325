//! Native congestion controllers a flow falls back to when the agent is unreachable.

use super::{FlowInfo, Primitives};
use netrt::Instant;

/// A congestion controller that runs inside the datapath, without the agent.
pub trait NativeController {
    /// Called on each invocation while in fallback; returns the congestion window (bytes).
    fn on_invoke(&mut self, now: Instant, prims: &Primitives) -> u32;
}

/// A minimal Reno: slow start, additive increase of one MSS per window, halving on loss,
/// reset to the initial window on timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeReno {
    mss: u32,
    init_cwnd: u32,
    cwnd: u32,
    ssthresh: u32,
    started: bool,
}

impl NativeReno {
    /// A controller for a flow with these parameters (MSS defaults to 1460 if 0).
    pub fn new(info: &FlowInfo) -> Self {
        let mss = if info.mss == 0 { 1460 } else { info.mss };
        let init_cwnd = info.init_cwnd.max(mss);
        NativeReno {
            mss,
            init_cwnd,
            cwnd: init_cwnd,
            ssthresh: u32::MAX,
            started: false,
        }
    }

    /// The current window.
    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }
}

impl NativeController for NativeReno {
    fn on_invoke(&mut self, _now: Instant, p: &Primitives) -> u32 {
        if !self.started {
            // Continue from whatever window the datapath had when fallback began.
            self.started = true;
            if p.snd_cwnd > 0 {
                self.cwnd = p.snd_cwnd;
            }
        }
        if p.was_timeout {
            self.ssthresh = (self.cwnd / 2).max(self.mss.saturating_mul(2));
            self.cwnd = self.init_cwnd;
        } else if p.lost_pkts_sample > 0 {
            self.ssthresh = (self.cwnd / 2).max(self.mss.saturating_mul(2));
            self.cwnd = self.ssthresh;
        } else if p.bytes_acked > 0 {
            let inc = if self.cwnd < self.ssthresh {
                u64::from(p.bytes_acked)
            } else {
                u64::from(self.mss) * u64::from(p.bytes_acked) / u64::from(self.cwnd.max(1))
            };
            self.cwnd = u32::try_from(u64::from(self.cwnd) + inc.max(1)).unwrap_or(u32::MAX);
        }
        self.cwnd.max(self.mss)
    }
}
