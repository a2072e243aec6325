//! Sans-IO reliable byte-stream transport — the "datapath" in CCP terms — with pluggable
//! congestion control. Nothing here does I/O or reads a clock: callers pass `now`, feed
//! segments/ACKs in and drain what to send, quinn-proto style; `netmodels` drives it over the
//! simulated network.
//!
//! Module map:
//! - [`wire`]: [`Segment`], [`AckInfo`], [`SackBlock`] — what the network carries.
//! - [`config`]: [`TransportConfig`] (the `[transport]` table of scenario files) and
//!   [`ConfigError`].
//! - [`sender`]: [`Sender`], segmentation, SACK scoreboard, loss detection and recovery, RTO,
//!   pacing, RTT and delivery-rate sampling; [`SenderStats`].
//! - [`receiver`]: [`Receiver`], reassembly, cumulative ACK + SACK blocks, delayed ACKs, ECN
//!   echo; [`ReceiverStats`].
//! - [`cc`]: the [`CongestionControl`] trait and its [`CcFactory`] (with [`FlowContext`] and
//!   [`FlowWaker`]), the per-ACK [`AckSignals`] (what CCP consumes),
//!   [`LossEvent`], the native [`NewReno`], [`Cubic`] (with Linux's HyStart), [`Dctcp`] (with
//!   Linux's CWR), and [`CcKind`] for scenario files.
//! - [`rtt`]: the RFC 6298 [`RttEstimator`].
//! - [`harness`]: [`harness::Pair`], a sender and receiver joined by a scripted, deterministic
//!   channel (delay, bottleneck rate, drops, reordering, CE marks) for tests.
//! - `rangeset` (private): sorted disjoint byte ranges used by both halves.
//!
//! Model and deliberate simplifications (relative to Linux TCP):
//! - connection setup ([`TransportConfig::handshake`], on by default) is a SYN / SYN-ACK
//!   exchange that takes no sequence space and carries no options; the sender takes its first
//!   RTT sample from it. SYNs are retried without limit (Linux gives up after
//!   `tcp_syn_retries`), and the initial window is not cut to one segment after repeated SYN
//!   losses (Linux: `tcp_init_transfer`, after more than one SYN retransmission). The FIN is a
//!   flag on the last data segment; there is no teardown exchange;
//! - segments are cut once at MSS boundaries and never re-segmented; a retransmission is the
//!   same `(seq, len)` with a fresh timestamp;
//! - loss detection is RFC 6675-style (DupThresh SACKed segments above a hole, or DupThresh
//!   duplicate ACKs), one congestion response per recovery episode (RFC 6582 recovery point);
//!   there is no RACK/TLP, no F-RTO or D-SACK undo, and without SACK a partial ACK does not
//!   retransmit the next hole at once (our receiver always sends SACK blocks);
//! - window reductions (fast recovery, and CWR after an ECN echo for controllers that use it,
//!   such as DCTCP) follow [`TransportConfig::recovery`]: PRR (RFC 6937, PRR-SSRB as Linux's
//!   `tcp_cwnd_reduction`, the default) or the immediate RFC 6675 reduction. A loss during CWR
//!   restarts the reduction as a recovery episode from the window in force (Linux keeps the
//!   CWR episode's PRR counters and end point);
//! - a lost retransmission is only recovered by the RTO (RFC 6298, timestamps make every RTT
//!   sample valid, so a sample clears the backoff);
//! - no receive window and no Nagle: the application always has data (bulk or a known size);
//! - pacing accounts payload bytes only (headers are the network model's business).

#![warn(missing_docs)]

pub mod cc;
pub mod config;
pub mod harness;
mod rangeset;
pub mod receiver;
pub mod rtt;
pub mod sender;
pub mod wire;

pub use cc::{
    AckSignals, CcFactory, CcKind, CongestionControl, Cubic, Dctcp, FlowContext, FlowWaker,
    HystartExit, LossEvent, NewReno,
};
pub use config::{ConfigError, RecoveryMode, TransportConfig};
pub use receiver::{Receiver, ReceiverStats};
pub use rtt::RttEstimator;
pub use sender::{Sender, SenderStats};
pub use wire::{AckInfo, SackBlock, Segment, MAX_SACK_BLOCKS};
