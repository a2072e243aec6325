//! [`CcpFlow`]: the controller the transport's sender consults for one CCP flow.

use std::fmt;
use std::rc::Rc;

use ccp::datapath::Primitives;
use netrt::{Duration, Instant};
use transport::{AckSignals, CongestionControl, LossEvent, TransportConfig};

use super::{FlowSlot, Host};

/// The controller of one CCP flow.
pub(super) struct CcpFlow {
    pub(super) name: String,
    pub(super) host: Rc<Host>,
    /// `None` when the datapath's flow table was full (the flow then keeps its initial window)
    /// and once closed.
    pub(super) sid: Option<u32>,
    /// The flow's slot at its host while open (`None` exactly when `sid` is).
    pub(super) slot: Option<Rc<FlowSlot>>,
    pub(super) init_cwnd: u64,
    /// One segment, bytes: the window after a retransmission timeout.
    pub(super) mss: u64,
    /// The window once closed (or the initial window if the flow never had a socket id).
    pub(super) closed_cwnd: u64,
    /// Whether the flow ran its native controller before it closed.
    pub(super) fell_back: bool,
    /// What the agent exported about the flow when it closed (the agent forgets the flow once
    /// the close reaches it).
    pub(super) closed_exports: Option<Vec<(&'static str, f64)>>,
    /// The native controller, shadowing the flow; in control during fallback.
    pub(super) native: Box<dyn CongestionControl>,
    pub(super) timeout_invoked: bool,
    pub(super) rt_now: Box<dyn Fn() -> Instant>,
}

impl fmt::Debug for CcpFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CcpFlow")
            .field("name", &self.name)
            .field("sid", &self.sid)
            .finish()
    }
}

fn sat32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl CcpFlow {
    fn invoke(&mut self, now: Instant, prims: &Primitives) {
        let Some(sid) = self.sid else { return };
        let sent = {
            let mut st = self.host.state.borrow_mut();
            st.stats.invocations += 1;
            let inv = st.dp.invoke(now, sid, prims);
            if inv.error.is_some() {
                st.stats.invoke_errors += 1;
            }
            let mut newly_fell_back = false;
            if let Some(slot) = &self.slot {
                if let Some(c) = inv.cwnd {
                    slot.cwnd.set(u64::from(c));
                }
                if let Some(r) = inv.rate {
                    slot.rate.set(Some(r));
                }
                slot.in_fallback.set(inv.fallback);
                if inv.fallback && !slot.fell_back.get() {
                    slot.fell_back.set(true);
                    newly_fell_back = true;
                }
            }
            if newly_fell_back {
                st.stats.flows_fell_back += 1;
            }
            st.flush(now)
        };
        if sent {
            self.host.agent_notify.notify();
        }
    }

    fn in_fallback(&self) -> bool {
        self.slot(|f| f.in_fallback.get()).unwrap_or(false)
    }

    fn slot<T>(&self, f: impl FnOnce(&FlowSlot) -> T) -> Option<T> {
        self.slot.as_deref().map(f)
    }
}

impl CongestionControl for CcpFlow {
    fn name(&self) -> &str {
        &self.name
    }

    fn configure(&mut self, cfg: &TransportConfig) {
        self.native.configure(cfg);
    }

    fn on_loss(&mut self, now: Instant, loss: &LossEvent) {
        self.native.on_loss(now, loss);
    }

    fn on_recovery_exit(&mut self, now: Instant) {
        self.native.on_recovery_exit(now);
    }

    fn enters_cwr_on_ecn(&self) -> bool {
        // Only the native controller reacts to ECN inside the datapath, and only in fallback.
        self.in_fallback() && self.native.enters_cwr_on_ecn()
    }

    fn ssthresh_bytes(&self) -> Option<u64> {
        if self.in_fallback() {
            self.native.ssthresh_bytes()
        } else {
            None
        }
    }

    fn on_ack(&mut self, now: Instant, s: &AckSignals) {
        self.native.on_ack(now, s);
        let snd_rate = self.slot(|f| f.rate.get().unwrap_or(0)).unwrap_or(0);
        let prims = Primitives {
            bytes_acked: sat32(s.bytes_acked),
            packets_acked: sat32(s.packets_acked),
            bytes_misordered: sat32(s.bytes_misordered),
            packets_misordered: sat32(s.packets_misordered),
            ecn_bytes: sat32(s.ecn_bytes),
            ecn_packets: sat32(s.ecn_packets),
            lost_pkts_sample: sat32(s.lost_pkts_sample),
            was_timeout: s.was_timeout && !self.timeout_invoked,
            rtt_sample: s.rtt_sample.unwrap_or(Duration::ZERO),
            rate_outgoing: s.rate_outgoing,
            rate_incoming: s.rate_incoming,
            bytes_in_flight: sat32(s.bytes_in_flight),
            packets_in_flight: sat32(s.packets_in_flight),
            snd_cwnd: sat32(s.snd_cwnd),
            snd_rate,
            bytes_pending: sat32(s.bytes_pending),
        };
        self.timeout_invoked = false;
        self.invoke(now, &prims);
    }

    fn on_timeout(&mut self, now: Instant) {
        self.native.on_timeout(now);
        if !self.in_fallback() {
            if let Some(slot) = &self.slot {
                slot.cwnd.set(self.mss);
            }
        }
        let (cwnd, rate) = self
            .slot(|f| (f.cwnd.get(), f.rate.get().unwrap_or(0)))
            .unwrap_or((self.init_cwnd, 0));
        let prims = Primitives {
            was_timeout: true,
            snd_cwnd: sat32(cwnd),
            snd_rate: rate,
            ..Primitives::default()
        };
        self.timeout_invoked = true;
        self.invoke(now, &prims);
    }

    fn cwnd_bytes(&self) -> u64 {
        if self.in_fallback() {
            return self.native.cwnd_bytes();
        }
        self.slot(|f| f.cwnd.get())
            .unwrap_or(self.closed_cwnd)
            .max(1)
    }

    fn pacing_rate_bps(&self) -> Option<u64> {
        if self.in_fallback() {
            return self.native.pacing_rate_bps();
        }
        self.slot(|f| f.rate.get().map(|r| r.saturating_mul(8)))
            .flatten()
    }

    fn fell_back(&self) -> bool {
        self.fell_back || self.slot(|f| f.fell_back.get()).unwrap_or(false)
    }

    fn exports(&self) -> Vec<(String, f64)> {
        let v = match &self.closed_exports {
            Some(v) => v.clone(),
            None => self.agent_exports(),
        };
        v.into_iter().map(|(k, x)| (k.to_owned(), x)).collect()
    }

    fn on_close(&mut self, now: Instant) {
        // Keep what the results report: the last window, whether it ever fell back, and what
        // the agent exports about the flow (it forgets the flow once the close reaches it).
        if let Some((cwnd, fb)) = self.slot(|f| (f.cwnd.get(), f.fell_back.get())) {
            self.closed_cwnd = cwnd;
            self.fell_back |= fb;
        }
        if self.sid.is_some() {
            self.closed_exports = Some(self.agent_exports());
        }
        self.close(now);
    }
}

impl CcpFlow {
    /// What the agent's algorithm exports about this flow now (nothing when the agent runs
    /// elsewhere or the flow has no socket id).
    fn agent_exports(&self) -> Vec<(&'static str, f64)> {
        let Some(sid) = self.sid else {
            return Vec::new();
        };
        self.host
            .agent_exports
            .borrow()
            .as_ref()
            .map(|f| f(sid))
            .unwrap_or_default()
    }
}

impl CcpFlow {
    /// Closes the flow's socket id (queues the close MEASURE); later calls do nothing.
    fn close(&mut self, now: Instant) {
        let Some(sid) = self.sid.take() else { return };
        self.slot = None;
        let sent = match self.host.state.try_borrow_mut() {
            Ok(mut st) => {
                if let Some(s) = st.flows.get_mut(sid as usize - 1) {
                    *s = None;
                }
                st.dp.close_flow(now, sid);
                st.flush(now)
            }
            Err(_) => false,
        };
        if sent {
            self.host.agent_notify.notify();
        }
    }
}

impl Drop for CcpFlow {
    fn drop(&mut self) {
        let now = (self.rt_now)();
        self.close(now);
    }
}
