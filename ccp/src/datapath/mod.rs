//! The datapath runtime: what libccp 1.2 does, sans-IO.
//!
//! A [`Datapath`] holds the installed programs and the per-flow program state. The host feeds
//! it agent messages with [`Datapath::handle_bytes`] / [`Datapath::handle_msg`], calls
//! [`Datapath::invoke`] on its ACK clock with the flow's [`Primitives`], applies the returned
//! [`Invocation`] (congestion window, rate), and drains messages for the agent with
//! [`Datapath::poll_transmit`]. Every call takes `now` as a [`netrt::Instant`] (the host's clock:
//! virtual time on the simulator, monotonic time on a real datapath); nothing reads a clock.
//! The datapath language counts in microseconds: `Micros` and `Ack.now` are elapsed
//! [`netrt::Duration`]s truncated to whole microseconds when they are loaded into registers.
//!
//! Semantics per invocation, as libccp 1.2 (`ccp_invoke` / `state_machine`):
//! 1. fallback check: if a send failed more than the fallback timeout ago and no agent message
//!    arrived since, the flow runs its [`NativeController`] instead and the invocation says so;
//! 2. the Cwnd and Rate registers are loaded from the primitives;
//! 3. a staged program change is applied (DEF defaults written, Micros rebased to 0);
//! 4. staged field updates are applied (a non-zero Cwnd/Rate update is output immediately);
//! 5. the flag, fallthrough and report registers are cleared, Micros is refreshed;
//! 6. clauses run in order; a true clause stops evaluation unless it set fallthrough;
//! 7. a positive Cwnd and a non-zero Rate are output;
//! 8. if a clause asked to report, a MEASURE with the report registers is queued and the
//!    volatile registers are reset to their defaults.
//!
//! Where libccp misbehaves the runtime aborts the one invocation with an [`InvokeError`] (the
//! flow keeps running) or refuses the message with a [`MessageError`]; see the crate docs'
//! differences table.

mod exec;
mod native;
mod plumbing;

pub use exec::InvalidProgram;
pub use native::{NativeController, NativeReno};
/// Constant per-flow information, sent to the agent in CREATE (the wire type, re-exported).
pub use wire::FlowInfo;

use crate::program::Reg;
use crate::wire::{self, ChangeProg, Create, InstallExpr, Measure, Msg, UpdateField, UpdateFields};
use exec::{Program, Regs};
use netrt::{Duration, Instant};
use plumbing::{
    load_prims, merge, read_updates, update_fields_in_place, validate_updates, write_measure,
};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// libccp resends CREATE at most this often (`CREATE_TIMEOUT_US`, 100 ms).
pub const CREATE_RETRY: Duration = Duration::from_millis(100);

/// Per-invocation measurements, as libccp's `struct ccp_primitives` (with the RTT sample as a
/// [`Duration`] instead of microseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Primitives {
    /// Newly acked in-order bytes.
    pub bytes_acked: u32,
    /// Newly acked in-order packets.
    pub packets_acked: u32,
    /// Out-of-order bytes.
    pub bytes_misordered: u32,
    /// Out-of-order packets.
    pub packets_misordered: u32,
    /// ECN-marked bytes.
    pub ecn_bytes: u32,
    /// ECN-marked packets.
    pub ecn_packets: u32,
    /// Estimated number of lost packets.
    pub lost_pkts_sample: u32,
    /// Whether a timeout was observed.
    pub was_timeout: bool,
    /// Recent RTT sample; zero means none. Programs read it as `Flow.rtt_sample_us`, in whole
    /// microseconds (none reads as `u32::MAX`, as in libccp).
    pub rtt_sample: Duration,
    /// Sending rate sample, bytes/s.
    pub rate_outgoing: u64,
    /// Receiving rate sample, bytes/s.
    pub rate_incoming: u64,
    /// Bytes in flight.
    pub bytes_in_flight: u32,
    /// Packets in flight.
    pub packets_in_flight: u32,
    /// The datapath's current congestion window, bytes.
    pub snd_cwnd: u32,
    /// The datapath's current rate, bytes/s.
    pub snd_rate: u64,
    /// Bytes waiting to be sent.
    pub bytes_pending: u32,
}

/// Runtime configuration.
#[derive(Clone, Debug)]
pub struct Config {
    id: u32,
    max_flows: usize,
    max_programs: usize,
    fallback_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            id: 0,
            max_flows: 1024,
            max_programs: 256,
            fallback_timeout: Duration::from_secs(1),
        }
    }
}

impl Config {
    /// The datapath id sent in READY. Default 0.
    pub fn id(mut self, id: u32) -> Self {
        self.id = id;
        self
    }
    /// Most concurrent flows (socket ids 1..=max). Default 1024.
    pub fn max_flows(mut self, n: usize) -> Self {
        self.max_flows = n.clamp(1, usize::from(u16::MAX));
        self
    }
    /// Most installed programs. Default 256.
    pub fn max_programs(mut self, n: usize) -> Self {
        self.max_programs = n.max(1);
        self
    }
    /// Fallback timeout after the first failed send (libccp `fto_us`), at least 1 µs.
    /// Default 1 s.
    pub fn fallback_timeout(mut self, d: Duration) -> Self {
        self.fallback_timeout = d.max(Duration::from_micros(1));
        self
    }
}

/// What one invocation produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// The congestion window to apply, if one was set (bytes, always > 0).
    pub cwnd: Option<u32>,
    /// The rate to apply, if one was set (bytes/s, always > 0).
    pub rate: Option<u64>,
    /// Whether a report (MEASURE) was queued for the agent.
    pub reported: bool,
    /// Whether the flow is in fallback and the native controller decided `cwnd`.
    pub fallback: bool,
    /// Why the program was aborted, if it was. Outputs set before the abort stay valid.
    pub error: Option<InvokeError>,
}

impl Invocation {
    /// `Err` if the invocation was aborted.
    pub fn result(&self) -> Result<(), InvokeError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

/// Why one invocation was aborted. The flow keeps running; the next invocation starts afresh.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvokeError {
    /// No flow with this socket id.
    #[error("unknown flow {0}")]
    UnknownFlow(u32),
    /// The flow has not been given a program yet.
    #[error("flow has no program")]
    NoProgram,
    /// The flow's program was removed or replaced (agent restart); CREATE was re-sent.
    #[error("flow's program {uid} is stale (agent restarted); CREATE re-sent")]
    StaleProgram {
        /// Uid of the stale program.
        uid: u32,
    },
    /// `a + b` overflowed.
    #[error("add overflow: {a} + {b}")]
    AddOverflow {
        /// Left operand.
        a: u64,
        /// Right operand.
        b: u64,
    },
    /// `a - b` underflowed.
    #[error("sub underflow: {a} - {b}")]
    SubUnderflow {
        /// Left operand.
        a: u64,
        /// Right operand.
        b: u64,
    },
    /// `a * b` overflowed.
    #[error("mul overflow: {a} * {b}")]
    MulOverflow {
        /// Left operand.
        a: u64,
        /// Right operand.
        b: u64,
    },
    /// Division by zero.
    #[error("division by zero: {a} / 0")]
    DivByZero {
        /// Dividend.
        a: u64,
    },
    /// An EWMA overflowed or had a weight above 10.
    #[error("ewma overflow: weight {weight}, current {current}, sample {sample}")]
    EwmaOverflow {
        /// Weight (tenths).
        weight: u64,
        /// Current value.
        current: u64,
        /// New sample.
        sample: u64,
    },
}

/// Why an agent message was refused. Nothing was changed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The bytes are not a valid message.
    #[error("decode: {0}")]
    Decode(#[from] wire::DecodeError),
    /// A datapath→agent message (CREATE, MEASURE, READY) arrived at the datapath.
    #[error("message type {0} is not for a datapath")]
    WrongDirection(u16),
    /// The installed program is invalid.
    #[error("invalid program {uid}: {source}")]
    Program {
        /// Program uid.
        uid: u32,
        /// What is wrong.
        source: InvalidProgram,
    },
    /// The program table is full.
    #[error("program table full ({0} programs)")]
    ProgramTableFull(usize),
    /// No flow with this socket id.
    #[error("unknown flow {0}")]
    UnknownFlow(u32),
    /// CHANGE_PROG names a program that is not installed.
    #[error("unknown program uid {0}")]
    UnknownProgram(u32),
    /// An update names a register that cannot be updated or does not exist.
    #[error("update {index}: register {reg} cannot be updated")]
    BadUpdate {
        /// Index of the update in the message.
        index: usize,
        /// The register the update names.
        reg: Reg,
    },
}

/// Why a flow could not be opened.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowError {
    /// All socket ids are in use.
    #[error("flow table full ({0} flows)")]
    TableFull(usize),
    /// The algorithm name is longer than 63 bytes or contains NUL.
    #[error("algorithm name too long or contains NUL")]
    BadAlgName,
}

#[derive(Debug, Default)]
struct Staged {
    control: Vec<(u16, u64)>,
    cwnd: Option<u64>,
    rate: Option<u64>,
}

impl Staged {
    fn is_empty(&self) -> bool {
        self.control.is_empty() && self.cwnd.is_none() && self.rate.is_none()
    }
    fn clear(&mut self) {
        self.control.clear();
        self.cwnd = None;
        self.rate = None;
    }
}

struct Flow {
    /// The CREATE announcing this flow (socket id and flow information), re-sent as is.
    create: Create,
    regs: Box<Regs>,
    program: Option<Arc<Program>>,
    staged_program: Option<Arc<Program>>,
    staged: Staged,
    last_create_sent: Instant,
    /// The flow's program went stale: re-send CREATE (rate-limited) until a program arrives.
    orphaned: bool,
    native: Box<dyn NativeController + Send>,
}

/// Builds the native controller each flow falls back to.
pub type NativeFactory = Box<dyn Fn(&FlowInfo) -> Box<dyn NativeController + Send> + Send>;

/// The datapath runtime. See the module docs.
pub struct Datapath {
    config: Config,
    created_at: Instant,
    programs: BTreeMap<u32, Arc<Program>>,
    flows: Vec<Option<Flow>>,
    out: Vec<u8>,
    out_pos: usize,
    first_failed_send: Option<Instant>,
    in_fallback: bool,
    native_factory: NativeFactory,
    /// Reused by [`Datapath::handle_bytes_with`].
    update_scratch: Vec<UpdateField>,
}

impl std::fmt::Debug for Datapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datapath")
            .field("config", &self.config)
            .field("programs", &self.programs.len())
            .field("flows", &self.flows.iter().flatten().count())
            .field("in_fallback", &self.in_fallback)
            .finish()
    }
}

impl Datapath {
    /// Creates the runtime at time `now` and queues READY.
    pub fn new(config: Config, now: Instant) -> Self {
        let mut dp = Datapath {
            flows: Vec::new(),
            created_at: now,
            programs: BTreeMap::new(),
            out: Vec::with_capacity(4096),
            out_pos: 0,
            first_failed_send: None,
            in_fallback: false,
            update_scratch: Vec::new(),
            native_factory: Box::new(|info: &FlowInfo| {
                Box::new(NativeReno::new(info)) as Box<dyn NativeController + Send>
            }),
            config,
        };
        let id = dp.config.id;
        dp.queue(&Msg::Ready(wire::Ready { id }));
        dp
    }

    /// Replaces the factory of fallback controllers (default: [`NativeReno`]).
    pub fn set_native_factory(&mut self, f: NativeFactory) {
        self.native_factory = f;
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the runtime is in fallback (flows run their native controller).
    pub fn in_fallback(&self) -> bool {
        self.in_fallback
    }

    /// Uids of the installed programs.
    pub fn program_uids(&self) -> Vec<u32> {
        self.programs.keys().copied().collect()
    }

    /// The uid of the program a flow runs (after any staged change is applied).
    pub fn flow_program(&self, sid: u32) -> Option<u32> {
        self.flow(sid)
            .and_then(|f| f.program.as_ref().map(|p| p.uid))
    }

    /// The current value of one of a flow's report registers.
    pub fn report_register(&self, sid: u32, index: usize) -> Option<u64> {
        let f = self.flow(sid)?;
        (index < wire::MAX_REPORT_REGS).then(|| f.regs.file[exec::REPORT_BASE + index])
    }

    /// The current value of one of a flow's control registers.
    pub fn control_register(&self, sid: u32, index: usize) -> Option<u64> {
        let f = self.flow(sid)?;
        (index < wire::MAX_CONTROL_REGS).then(|| f.regs.file[exec::CONTROL_BASE + index])
    }

    /// The flow's information.
    pub fn flow_info(&self, sid: u32) -> Option<&FlowInfo> {
        self.flow(sid).map(|f| &f.create.flow)
    }

    fn flow(&self, sid: u32) -> Option<&Flow> {
        let i = (sid as usize).checked_sub(1)?;
        self.flows.get(i)?.as_ref()
    }

    fn flow_mut(&mut self, sid: u32) -> Option<&mut Flow> {
        let i = (sid as usize).checked_sub(1)?;
        self.flows.get_mut(i)?.as_mut()
    }

    fn queue(&mut self, msg: &Msg) {
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        // Only messages this module builds are queued; they are always encodable.
        let _ = msg.encode_into(&mut self.out);
    }

    /// The next message for the agent, if any.
    pub fn poll_transmit(&mut self) -> Option<&[u8]> {
        let rest = self.out.get(self.out_pos..)?;
        if rest.len() < wire::HEADER_LEN {
            return None;
        }
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        let msg = rest.get(..len)?;
        self.out_pos += len;
        Some(msg)
    }

    /// Tells the runtime that sending a message to the agent failed at `now` (libccp starts
    /// its fallback timer at the first failed send).
    pub fn notify_send_failed(&mut self, now: Instant) {
        if self.first_failed_send.is_none() {
            self.first_failed_send = Some(now);
        }
    }

    /// Opens a flow at `now`: assigns the lowest free socket id and queues CREATE.
    pub fn open_flow(&mut self, now: Instant, info: FlowInfo) -> Result<u32, FlowError> {
        if let Some(a) = &info.alg {
            if a.len() >= wire::ALG_NAME_LEN || a.as_bytes().contains(&0) {
                return Err(FlowError::BadAlgName);
            }
        }
        let slot = match self.flows.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.flows.len() < self.config.max_flows => {
                self.flows.push(None);
                self.flows.len() - 1
            }
            None => return Err(FlowError::TableFull(self.config.max_flows)),
        };
        let sid = slot as u32 + 1;
        let native = (self.native_factory)(&info);
        let create = Create { sid, flow: info };
        self.queue(&Msg::Create(create.clone()));
        self.flows[slot] = Some(Flow {
            create,
            regs: Box::new(Regs::new(self.created_at)),
            program: None,
            staged_program: None,
            staged: Staged::default(),
            last_create_sent: now,
            orphaned: false,
            native,
        });
        Ok(sid)
    }

    /// Closes a flow: frees its socket id and queues the close MEASURE. Unknown ids are ignored.
    pub fn close_flow(&mut self, _now: Instant, sid: u32) {
        let Some(i) = (sid as usize).checked_sub(1) else {
            return;
        };
        if let Some(slot) = self.flows.get_mut(i) {
            if slot.take().is_some() {
                self.queue(&Msg::Measure(Measure::close(sid)));
            }
        }
    }

    /// Takes the non-zero `Cwnd` and `Rate` an agent message staged for flow `sid`, so the next
    /// invocation does not output them again. For a host that applies a window or rate when the
    /// agent's message arrives (libccp 1.x calls the datapath's `set_cwnd` from its message
    /// handler) rather than at the next invocation: without this, a value the host already
    /// applied would be applied a second time at the next invocation, undoing whatever the
    /// host did in between (a retransmission timeout's one-segment window, say). The registers
    /// then start the next invocation from the primitives, which carry what the host applied.
    /// A zero value stays staged (the program sees it; nothing is output, as libccp).
    pub fn take_staged_window(&mut self, sid: u32) -> (Option<u32>, Option<u64>) {
        let Some(flow) = self.flow_mut(sid) else {
            return (None, None);
        };
        let cwnd = flow.staged.cwnd.filter(|&c| c != 0);
        if cwnd.is_some() {
            flow.staged.cwnd = None;
        }
        let rate = flow.staged.rate.filter(|&r| r != 0);
        if rate.is_some() {
            flow.staged.rate = None;
        }
        (cwnd.map(clamp_cwnd), rate)
    }

    /// Handles one message (or several concatenated) from the agent.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> Result<(), MessageError> {
        self.handle_bytes_with(now, bytes, |_, _| {})
    }

    /// Like [`Datapath::handle_bytes`], and calls `on_updates(sid, updates)` for every
    /// UPDATE_FIELDS or CHANGE_PROG the runtime accepted, in message order, right after the
    /// message is handled (so when an error stops a batch, the messages before it were
    /// reported). UPDATE_FIELDS is read in place, without allocation.
    pub fn handle_bytes_with(
        &mut self,
        now: Instant,
        bytes: &[u8],
        mut on_updates: impl FnMut(u32, &[UpdateField]),
    ) -> Result<(), MessageError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if let Some((sid, n)) = update_fields_in_place(rest) {
                let updates = || read_updates(rest, n);
                // As `handle_msg`: any valid agent message turns the fallback timer off, even
                // one refused below.
                self.first_failed_send = None;
                self.in_fallback = false;
                let staged = validate_updates(updates())?;
                let flow = self.flow_mut(sid).ok_or(MessageError::UnknownFlow(sid))?;
                merge(&mut flow.staged, staged);
                let mut list = std::mem::take(&mut self.update_scratch);
                list.clear();
                list.extend(updates());
                on_updates(sid, &list);
                self.update_scratch = list;
                rest = rest
                    .get(wire::HEADER_LEN + 4 + wire::UPDATE_LEN * n..)
                    .unwrap_or(&[]);
                continue;
            }
            let (msg, used) = Msg::decode(rest)?;
            let changes = match &msg {
                Msg::UpdateFields(u) => Some((u.sid, u.updates.clone())),
                Msg::ChangeProg(c) => Some((c.sid, c.updates.clone())),
                _ => None,
            };
            self.handle_msg(now, msg)?;
            if let Some((sid, updates)) = changes {
                on_updates(sid, &updates);
            }
            rest = rest.get(used..).unwrap_or(&[]);
        }
        Ok(())
    }

    /// Handles one decoded message from the agent.
    pub fn handle_msg(&mut self, _now: Instant, msg: Msg) -> Result<(), MessageError> {
        match msg {
            Msg::Create(_) | Msg::Measure(_) | Msg::Ready(_) => {
                return Err(MessageError::WrongDirection(msg.msg_type()))
            }
            _ => {}
        }
        // Any message from the agent turns the fallback timer off (libccp does so once the
        // header is valid).
        self.first_failed_send = None;
        self.in_fallback = false;
        match msg {
            Msg::InstallExpr(m) => self.install(m),
            Msg::UpdateFields(UpdateFields { sid, updates }) => {
                let staged = validate_updates(updates.iter().copied())?;
                let flow = self.flow_mut(sid).ok_or(MessageError::UnknownFlow(sid))?;
                merge(&mut flow.staged, staged);
                Ok(())
            }
            Msg::ChangeProg(ChangeProg {
                sid,
                program_uid,
                updates,
            }) => {
                let staged = validate_updates(updates.iter().copied())?;
                if self.flow(sid).is_none() {
                    return Err(MessageError::UnknownFlow(sid));
                }
                let prog = self
                    .programs
                    .get(&program_uid)
                    .cloned()
                    .ok_or(MessageError::UnknownProgram(program_uid))?;
                let flow = self.flow_mut(sid).ok_or(MessageError::UnknownFlow(sid))?;
                flow.staged_program = Some(prog);
                flow.staged = staged;
                Ok(())
            }
            Msg::Create(_) | Msg::Measure(_) | Msg::Ready(_) => Ok(()),
        }
    }

    fn install(&mut self, m: InstallExpr) -> Result<(), MessageError> {
        let uid = m.program_uid;
        let prog = Program::build(m).map_err(|source| MessageError::Program { uid, source })?;
        if uid == 1 {
            // portus's convention: uid 1 is the first program of a fresh agent; drop the old
            // agent's programs (flows running them notice at their next invocation).
            for p in self.programs.values() {
                p.retired.store(true, Ordering::Relaxed);
            }
            self.programs.clear();
        }
        if let Some(old) = self.programs.get(&uid) {
            if old.raw == prog.raw {
                return Ok(());
            }
            old.retired.store(true, Ordering::Relaxed);
        } else if self.programs.len() >= self.config.max_programs {
            return Err(MessageError::ProgramTableFull(self.config.max_programs));
        }
        self.programs.insert(uid, Arc::new(prog));
        Ok(())
    }

    /// Runs one flow's program for one ACK-clock tick. See the module docs for the order.
    pub fn invoke(&mut self, now: Instant, sid: u32, prims: &Primitives) -> Invocation {
        let mut inv = Invocation::default();
        // 1. fallback
        let fto = self.config.fallback_timeout;
        self.in_fallback = self.first_failed_send.is_some_and(|t| now - t > fto);
        let created_at = self.created_at;
        let in_fallback = self.in_fallback;
        let Some(i) = (sid as usize).checked_sub(1) else {
            inv.error = Some(InvokeError::UnknownFlow(sid));
            return inv;
        };
        let Some(Some(flow)) = self.flows.get_mut(i) else {
            inv.error = Some(InvokeError::UnknownFlow(sid));
            return inv;
        };
        if in_fallback {
            inv.fallback = true;
            inv.cwnd = Some(flow.native.on_invoke(now, prims).max(1));
            return inv;
        }
        let regs = &mut *flow.regs;
        // 2. cwnd and rate from the datapath
        regs.file[exec::CWND] = u64::from(prims.snd_cwnd);
        regs.file[exec::RATE] = prims.snd_rate;
        // 3. staged program change
        if let Some(p) = flow.staged_program.take() {
            regs.apply_defs(&p.volatile_defs);
            regs.apply_defs(&p.init_defs);
            regs.time_zero = now;
            regs.micros_offset = 0;
            regs.file[exec::MICROS] = 0;
            flow.program = Some(p);
        }
        // 4. staged updates
        if !flow.staged.is_empty() {
            for &(i, v) in &flow.staged.control {
                regs.file[exec::CONTROL_BASE + usize::from(i)] = v;
            }
            if let Some(c) = flow.staged.cwnd {
                regs.file[exec::CWND] = c;
                if c != 0 {
                    inv.cwnd = Some(clamp_cwnd(c));
                }
            }
            if let Some(r) = flow.staged.rate {
                regs.file[exec::RATE] = r;
                if r != 0 {
                    inv.rate = Some(r);
                }
            }
            flow.staged.clear();
        }
        let stale = match flow.program.as_deref() {
            None => {
                inv.error = Some(InvokeError::NoProgram);
                true
            }
            Some(p) if p.is_retired() => {
                inv.error = Some(InvokeError::StaleProgram { uid: p.uid });
                flow.program = None;
                flow.orphaned = true;
                true
            }
            Some(_) => false,
        };
        if stale {
            if flow.orphaned && now - flow.last_create_sent >= CREATE_RETRY {
                flow.last_create_sent = now;
                let c = Msg::Create(flow.create.clone());
                self.queue(&c);
            }
            return inv;
        }
        flow.orphaned = false;
        let Some(prog) = flow.program.as_deref() else {
            return inv;
        };
        // 5. implicit registers and primitives
        regs.file[exec::FLAG] = 0;
        regs.file[exec::FALLTHROUGH] = 0;
        regs.file[exec::REPORT] = 0;
        regs.file[exec::MICROS] = regs.micros(now);
        load_prims(&mut regs.file, prims, (now - created_at).as_micros());
        // 6. clauses
        if let Err(e) = exec::run(prog, regs, now) {
            inv.error = Some(e);
            return inv;
        }
        // 7. outputs
        let c = regs.file[exec::CWND];
        if c > 0 {
            inv.cwnd = Some(clamp_cwnd(c));
        }
        let r = regs.file[exec::RATE];
        if r != 0 {
            inv.rate = Some(r);
        }
        // 8. report, then volatile reset
        if regs.file[exec::REPORT] != 0 {
            inv.reported = true;
            let n = prog.num_to_return;
            let uid = prog.uid;
            let fields = &regs.file[exec::REPORT_BASE..exec::REPORT_BASE + n];
            if self.out_pos == self.out.len() {
                self.out.clear();
                self.out_pos = 0;
            }
            write_measure(&mut self.out, sid, uid, fields);
            regs.apply_defs(&prog.volatile_defs);
        }
        inv
    }
}

fn clamp_cwnd(c: u64) -> u32 {
    u32::try_from(c).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
