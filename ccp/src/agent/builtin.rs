//! Built-in algorithms, so that the `ccp` binary can run something.
//!
//! - [`ConstCwnd`] (`"const"`): holds the congestion window at a fixed number of packets.
//! - [`Reno`] (`"reno"`): per-RTT reports of acked bytes, losses and timeouts; slow start,
//!   additive increase, multiplicative decrease computed in the agent.

use super::asm::{self, bind, flag, imm, ins, prim, tmp, ProgramBuilder};
use super::{Algorithm, Control, FlowState, ProgramSpec, Report};
use crate::program::Op;
use crate::wire::Create;

/// Names of the built-in algorithms.
pub const NAMES: &[&str] = &["const", "reno"];

/// Holds every flow's window at `packets` × MSS.
#[derive(Clone, Debug)]
pub struct ConstCwnd {
    /// Window in packets.
    pub packets: u32,
}

impl Default for ConstCwnd {
    fn default() -> Self {
        ConstCwnd { packets: 10 }
    }
}

/// The program of [`ConstCwnd`]: `Cwnd := cwnd` on every ACK, where `cwnd` is a control field.
pub fn const_program() -> ProgramSpec {
    let mut b = ProgramBuilder::new();
    let c = b.control("cwnd", 14_600, false);
    b.always(vec![bind(asm::cwnd(), c)]);
    b.build("const")
}

/// Flow state of [`ConstCwnd`] (nothing to keep).
#[derive(Clone, Copy, Debug, Default)]
pub struct ConstFlow;

impl FlowState for ConstFlow {
    fn on_report(&mut self, _ctl: &mut Control<'_>, _report: &Report<'_>) {}
}

impl Algorithm for ConstCwnd {
    type Flow = ConstFlow;
    fn name(&self) -> &str {
        "const"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![const_program()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> ConstFlow {
        let w = u64::from(self.packets) * u64::from(info.flow.mss.max(1));
        // The program is ours and has the field: this cannot fail.
        let _ = ctl.set_program("const", &[("cwnd", w)]);
        ConstFlow
    }
}

/// The Reno-like algorithm.
#[derive(Clone, Debug, Default)]
pub struct Reno;

/// The program of [`Reno`]: accumulate per ACK; report at once on loss or timeout, else when
/// `Micros` exceeds the latest RTT sample (then restart `Micros`).
pub fn reno_program() -> ProgramSpec {
    let mut b = ProgramBuilder::new();
    let acked = b.report("acked", 0, true);
    let loss = b.report("loss", 0, true);
    let timeout = b.report("timeout", 0, true);
    let rtt = b.report("rtt", 0, false);
    b.always(vec![
        ins(Op::Add, tmp(0), acked, prim(asm::prim::ACK_BYTES_ACKED)),
        bind(acked, tmp(0)),
        ins(Op::Add, tmp(1), loss, prim(asm::prim::ACK_LOST_PKTS_SAMPLE)),
        bind(loss, tmp(1)),
        ins(Op::Max, tmp(2), timeout, prim(asm::prim::FLOW_WAS_TIMEOUT)),
        bind(timeout, tmp(2)),
        bind(rtt, prim(asm::prim::FLOW_RTT_SAMPLE_US)),
        bind(asm::fallthrough(), imm(1)),
    ]);
    b.clause(
        vec![
            ins(Op::Gt, tmp(0), loss, imm(0)),
            ins(Op::Max, flag(), tmp(0), timeout),
        ],
        vec![
            bind(asm::should_report(), imm(1)),
            bind(asm::micros(), imm(0)),
        ],
    );
    b.clause(
        vec![ins(Op::Gt, flag(), asm::micros(), rtt)],
        vec![
            bind(asm::should_report(), imm(1)),
            bind(asm::micros(), imm(0)),
        ],
    );
    b.build("reno")
}

/// Per-flow Reno state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenoFlow {
    /// Window, bytes.
    pub cwnd: u64,
    /// Slow-start threshold, bytes.
    pub ssthresh: u64,
    /// MSS, bytes.
    pub mss: u64,
    /// Initial window, bytes.
    pub init_cwnd: u64,
}

impl RenoFlow {
    /// The window after a report of `acked` bytes, `loss` lost packets and `timeout`.
    pub fn step(&mut self, acked: u64, loss: u64, timeout: bool) -> u64 {
        if timeout {
            self.ssthresh = (self.cwnd / 2).max(2 * self.mss);
            self.cwnd = self.init_cwnd;
        } else if loss > 0 {
            self.cwnd = (self.cwnd / 2).max(2 * self.mss);
            self.ssthresh = self.cwnd;
        } else if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(acked);
        } else {
            let inc = self.mss.saturating_mul(acked) / self.cwnd.max(1);
            self.cwnd = self.cwnd.saturating_add(inc);
        }
        self.cwnd
    }
}

impl FlowState for RenoFlow {
    fn on_report(&mut self, ctl: &mut Control<'_>, r: &Report<'_>) {
        let acked = r.get("acked").unwrap_or(0);
        let loss = r.get("loss").unwrap_or(0);
        let timeout = r.get("timeout").unwrap_or(0) != 0;
        let w = self.step(acked, loss, timeout);
        ctl.set_cwnd(w);
    }
}

impl Algorithm for Reno {
    type Flow = RenoFlow;
    fn name(&self) -> &str {
        "reno"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![reno_program()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> RenoFlow {
        let mss = u64::from(info.flow.mss.max(1));
        let init = u64::from(info.flow.init_cwnd).max(mss);
        let _ = ctl.set_program("reno", &[("Cwnd", init)]);
        RenoFlow {
            cwnd: init,
            ssthresh: u64::MAX,
            mss,
            init_cwnd: init,
        }
    }
}
