//! Congestion control: the [`CongestionControl`] trait the sender consults, the per-ACK
//! [`AckSignals`] it is fed (everything CCP's datapath reports), and the native controllers
//! [`NewReno`], [`Cubic`] and [`Dctcp`], chosen in scenario files by [`CcKind`].
//!
//! The trait is also the seam for control from outside the datapath: a CCP shim implements it,
//! forwards the signals to its agent, and returns the window/rate the agent last set. A
//! [`CcFactory`] builds each flow's controller from a [`FlowContext`]; the context's
//! [`FlowWaker`] lets control that arrives between ACKs (an agent's new window or rate) wake
//! the flow's sender at that instant.

mod cubic;
mod dctcp;
mod reno;

pub use cubic::{Cubic, HystartExit};
pub use dctcp::Dctcp;
pub use reno::NewReno;

use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

use netrt::{Duration, Instant};
use serde::{Deserialize, Serialize};

use crate::config::TransportConfig;

/// Everything the sender measured on one ACK. Byte and packet counts are for this ACK only;
/// rates are the latest delivery-rate sample (kept until a newer one exists).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckSignals {
    /// When the ACK arrived.
    pub now: Instant,
    /// The sender's MSS (payload bytes).
    pub mss: u32,
    /// Bytes newly acknowledged by the cumulative ACK (including bytes SACKed earlier).
    pub bytes_acked: u64,
    /// Segments newly acknowledged by the cumulative ACK.
    pub packets_acked: u64,
    /// Bytes newly SACKed above the cumulative ACK (out-of-order arrivals).
    pub bytes_misordered: u64,
    /// Segments newly SACKed above the cumulative ACK, or 1 for a duplicate ACK without new SACK
    /// information.
    pub packets_misordered: u64,
    /// Bytes this ACK newly delivered: cumulatively acknowledged and not SACKed before, plus
    /// newly SACKed (BBR's `delivered` delta). Never counts a byte twice over a flow.
    pub bytes_delivered: u64,
    /// Segments this ACK newly delivered (same rule as `bytes_delivered`).
    pub packets_delivered: u64,
    /// Of `bytes_delivered`, the bytes whose ACK echoed ECN-CE (0 unless ECN is on).
    pub ecn_bytes: u64,
    /// Of `packets_delivered`, the segments whose ACK echoed ECN-CE.
    pub ecn_packets: u64,
    /// Segments newly marked lost while processing this ACK.
    pub lost_pkts_sample: u64,
    /// True when a retransmission timeout fired since the previous ACK.
    pub was_timeout: bool,
    /// RTT measured from the timestamp echo, if this ACK acknowledged new data.
    pub rtt_sample: Option<Duration>,
    /// Delivery-rate sample, send side: bytes delivered over the time it took to send them (B/s).
    pub rate_outgoing: u64,
    /// Delivery-rate sample, ACK side: bytes delivered over the time their ACKs took (B/s).
    pub rate_incoming: u64,
    /// Bytes in flight after this ACK (RFC 6675 pipe).
    pub bytes_in_flight: u64,
    /// Segments in flight after this ACK.
    pub packets_in_flight: u64,
    /// Application bytes not yet sent; `u64::MAX` for an endless flow.
    pub bytes_pending: u64,
    /// Congestion window (bytes) before the controller saw this ACK.
    pub snd_cwnd: u64,
    /// Cumulative ACK point after this ACK.
    pub snd_una: u64,
    /// Next new byte to send (highest sequence sent so far).
    pub snd_nxt: u64,
    /// True while in a fast-recovery episode (SACK/dupack loss recovery).
    pub in_recovery: bool,
    /// True while a CWR episode is under way (it began on an earlier ACK): the window
    /// reduction after an ECN echo, which lasts until the cumulative ACK passes the `snd_nxt`
    /// of its start. A controller does not grow its window meanwhile.
    pub in_cwr: bool,
    /// This ACK echoes ECN-CE (ECN on) and no reduction (recovery after loss or timeout, or
    /// CWR) is under way: the moment RFC 3168 §6.1.2 reacts, at most once per window. With a
    /// controller whose [`CongestionControl::enters_cwr_on_ecn`] is true this ACK starts a CWR
    /// episode: the controller sets its reduced window while handling it, and the sender brings
    /// the data in flight down to that window as [`crate::TransportConfig::recovery`] says
    /// (gradually with PRR, as Linux's CWR state), setting `in_cwr` until the episode ends.
    pub ecn_echo: bool,
}

/// Loss detected by duplicate ACKs / SACK, entering a recovery episode. Reported once per
/// episode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossEvent {
    /// Segments found lost by the ACK that opened the episode.
    pub lost_packets: u64,
    /// Bytes found lost by the ACK that opened the episode.
    pub lost_bytes: u64,
    /// Bytes in flight (pipe) before the lost segments were taken out.
    pub bytes_in_flight: u64,
    /// The highest sequence sent: the episode ends when the cumulative ACK reaches it.
    pub recovery_point: u64,
}

/// A congestion controller. Object safe; every hook except the window has a no-op default.
///
/// Call order per ACK: the sender updates its scoreboard, calls
/// [`CongestionControl::on_recovery_exit`] if the ACK ends a recovery episode,
/// [`CongestionControl::on_loss`] if it starts one, then [`CongestionControl::on_ack`] with the
/// signals.
///
/// Window reductions: after `on_loss` (and on an ACK with [`AckSignals::ecn_echo`] when
/// [`CongestionControl::enters_cwr_on_ecn`]) the controller's window is the new target, which it
/// keeps until the episode ends (`in_recovery` / `in_cwr`). How fast the data in flight comes
/// down to it is the sender's business ([`crate::TransportConfig::recovery`]: PRR or at once),
/// so [`crate::Sender::cwnd`] may differ from [`CongestionControl::cwnd_bytes`] meanwhile.
pub trait CongestionControl: std::fmt::Debug {
    /// Short name (`"reno"`, `"cubic"`, `"dctcp"`, …).
    fn name(&self) -> &str;
    /// Called once by [`crate::Sender::new`], before any other hook, with the flow's transport
    /// configuration: a controller reads the options that concern it (Cubic: `hystart` and
    /// `pacing`). The default ignores it. A wrapper around a controller should forward this.
    fn configure(&mut self, _cfg: &TransportConfig) {}
    /// Every ACK, including duplicate ACKs.
    fn on_ack(&mut self, _now: Instant, _signals: &AckSignals) {}
    /// Loss detected by duplicate ACKs / SACK; once per recovery episode.
    fn on_loss(&mut self, _now: Instant, _loss: &LossEvent) {}
    /// The cumulative ACK passed the recovery point.
    fn on_recovery_exit(&mut self, _now: Instant) {}
    /// A retransmission timeout fired.
    fn on_timeout(&mut self, _now: Instant) {}
    /// Congestion window in bytes. The sender keeps at most this many bytes in flight (but
    /// always lets one segment out when nothing is in flight).
    fn cwnd_bytes(&self) -> u64;
    /// Slow-start threshold in bytes, if the controller has one (informational; pacing uses it).
    fn ssthresh_bytes(&self) -> Option<u64> {
        None
    }
    /// Pacing rate in bits per second; `None` leaves the sender unpaced (or self-paced, see
    /// [`crate::TransportConfig::pacing`]).
    fn pacing_rate_bps(&self) -> Option<u64> {
        None
    }
    /// True when an ECN echo ([`AckSignals::ecn_echo`]) starts a CWR episode, as Linux's
    /// `tcp_enter_cwr`: the controller sets its reduced window (Linux's ssthresh) in the
    /// [`CongestionControl::on_ack`] of that ACK and does not grow while
    /// [`AckSignals::in_cwr`] is set; the sender takes the data in flight down to it (PRR by
    /// default). Default false: ECN echoes reach the controller only as signals
    /// ([`AckSignals::ecn_bytes`]). A wrapper around a controller should forward this.
    fn enters_cwr_on_ecn(&self) -> bool {
        false
    }
    /// True when the controller ever handed control to a fallback (a CCP flow whose agent
    /// stopped answering runs its datapath's native controller). Results record it per flow.
    /// Default false. A wrapper around a controller should forward this.
    fn fell_back(&self) -> bool {
        false
    }
    /// Named numbers of the controller's state for the flow's results record (units in the
    /// names; a CCP flow: what its agent's algorithm exports, e.g. Copa's `min_rtt_us`). Read
    /// when the records are written, also after [`CongestionControl::on_close`]. Default
    /// none. A wrapper around a controller should forward this.
    fn exports(&self) -> Vec<(String, f64)> {
        Vec::new()
    }
    /// Every byte of the flow is acknowledged (called once, after the ACK's other hooks): a
    /// controller may release what it holds (a CCP flow closes its datapath socket id).
    /// Later ACKs may still arrive. The default does nothing.
    fn on_close(&mut self, _now: Instant) {}
}

/// Native congestion controllers, by name in scenario files (`cc = "reno"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CcKind {
    /// NewReno (RFC 5681 congestion avoidance, RFC 6582 recovery): [`NewReno`].
    Reno,
    /// CUBIC (RFC 9438), with HyStart unless `transport.hystart = false`: [`Cubic`].
    Cubic,
    /// DCTCP (RFC 8257): backs off in proportion to the fraction of ECN-marked bytes; meant for
    /// `transport.ecn = true` and marking queues (`step_mark`, `red`): [`Dctcp`].
    Dctcp,
}

impl CcKind {
    /// Builds the controller with an initial window of `init_cwnd_pkts` segments of `mss` bytes.
    pub fn build(&self, mss: u32, init_cwnd_pkts: u32) -> Box<dyn CongestionControl> {
        match self {
            CcKind::Reno => Box::new(NewReno::new(mss, init_cwnd_pkts)),
            CcKind::Cubic => Box::new(Cubic::new(mss, init_cwnd_pkts)),
            CcKind::Dctcp => Box::new(Dctcp::new(mss, init_cwnd_pkts)),
        }
    }
    /// The scenario-file name.
    pub fn name(&self) -> &'static str {
        match self {
            CcKind::Reno => "reno",
            CcKind::Cubic => "cubic",
            CcKind::Dctcp => "dctcp",
        }
    }
}

/// Wakes a flow's sender so it transmits what its controller now allows. Whoever drives the
/// transport (the simulator, a real datapath) creates it; a controller whose window or rate
/// changes outside [`CongestionControl::on_ack`] (e.g. from a CCP agent's message) calls
/// [`FlowWaker::wake`], and the sender is polled at that instant. Waking a finished or
/// unstarted flow does nothing.
#[derive(Clone)]
pub struct FlowWaker(Rc<dyn Fn()>);

impl FlowWaker {
    /// A waker that runs `f` (which must only schedule the sender's poll, never run it inline).
    pub fn new(f: impl Fn() + 'static) -> FlowWaker {
        FlowWaker(Rc::new(f))
    }
    /// A waker that does nothing (for drivers that poll the sender on every event anyway).
    pub fn noop() -> FlowWaker {
        FlowWaker::new(|| {})
    }
    /// Asks the driver to poll the flow's sender now.
    pub fn wake(&self) {
        (self.0)();
    }
}

impl fmt::Debug for FlowWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FlowWaker")
    }
}

/// What a [`CcFactory`] is told about the flow it builds a controller for.
#[derive(Clone, Debug)]
pub struct FlowContext {
    /// The flow's id, unique in its network (the simulator's flow index).
    pub flow: u32,
    /// The sender's address.
    pub src: SocketAddr,
    /// The receiver's address.
    pub dst: SocketAddr,
    /// Maximum segment payload in bytes.
    pub mss: u32,
    /// Initial congestion window in segments.
    pub init_cwnd_pkts: u32,
    /// When the flow starts.
    pub now: Instant,
    /// Wakes this flow's sender (see [`FlowWaker`]).
    pub waker: FlowWaker,
}

/// Builds the congestion controller of each flow; injected through the flow's spec. The
/// native controllers implement it through [`CcKind`]; a CCP shim or a test controller lives
/// outside this crate and implements it the same way.
pub trait CcFactory: fmt::Debug {
    /// A new controller for the flow described by `ctx`.
    fn build(&self, ctx: &FlowContext) -> Box<dyn CongestionControl>;
    /// The name results record for flows built by this factory (e.g. `"reno"`, `"ccp:bbr"`).
    fn name(&self) -> String;
}

impl CcFactory for CcKind {
    fn build(&self, ctx: &FlowContext) -> Box<dyn CongestionControl> {
        CcKind::build(self, ctx.mss, ctx.init_cwnd_pkts)
    }
    fn name(&self) -> String {
        CcKind::name(self).to_string()
    }
}

/// Slow-start growth with appropriate byte counting (RFC 3465, L = 2 segments).
pub(crate) fn slow_start_increase(bytes_acked: u64, mss: u64) -> u64 {
    bytes_acked.min(2 * mss)
}

#[cfg(test)]
mod tests;
