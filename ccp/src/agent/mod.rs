//! The agent core: what portus 0.9's runtime does, sans-IO.
//!
//! An [`Agent`] runs one [`Algorithm`] for any number of datapaths, each identified by an
//! address of the caller's choice (a socket path, `()` for an in-memory pair, ...). Feed it
//! datapath messages with [`Agent::handle_bytes`]; drain its messages with
//! [`Agent::poll_transmit`]. It
//! - installs the algorithm's programs on every datapath that says READY (again after a
//!   datapath restart, dropping that datapath's old flows) or that sends CREATE unannounced;
//! - creates per-flow state on CREATE ([`Algorithm::create`]), or joins the flow to an
//!   aggregate when [`Algorithm::aggregate_key`] maps it to one that exists
//!   ([`Algorithm::create_subflow`]);
//! - routes MEASURE reports to the flow's state ([`FlowState::on_report`]) and closes flows on
//!   the close MEASURE ([`FlowState::close`]);
//! - turns [`Control`] calls (switch program, update fields) into CHANGE_PROG / UPDATE_FIELDS.
//!
//! Program uids: each agent instance is built with an instance tag; uids are
//! `0x8000_0000 | (tag & 0x7f_ffff) << 8 | n` for the n-th program (n ≥ 1), so two agent
//! instances with different tags never share a uid, and no uid is ever 1. Before its programs
//! the agent installs an empty program with uid 1 (configurable), which makes libccp and our
//! runtime drop the previous agent's programs: flows still running them stop (our runtime)
//! or run an empty program (libccp) instead of a foreign program with a recycled uid.

pub mod asm;
pub mod builtin;

use crate::program::{implicit, Program, RegKind, Scope};
use crate::wire::{ChangeProg, Create, InstallExpr, Msg, UpdateField, UpdateFields};
use netrt::Instant;
use std::collections::{BTreeMap, VecDeque};

/// A compiled datapath program with its names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The program's name, used by [`Control::set_program`].
    pub name: String,
    /// The compiled program.
    pub program: Program,
    /// Its names: report fields, control fields.
    pub scope: Scope,
}

impl ProgramSpec {
    /// Compiles `src` with [`crate::lang::compile`] into a program named `name`.
    pub fn compile(name: &str, src: &str) -> Result<Self, crate::lang::CompileError> {
        let c = crate::lang::compile(src, &[])?;
        Ok(ProgramSpec {
            name: name.to_owned(),
            program: c.program,
            scope: c.scope,
        })
    }
}

/// An algorithm: its programs and how it creates per-flow state.
pub trait Algorithm {
    /// Per-flow (or per-aggregate) state.
    type Flow: FlowState;

    /// The algorithm's name.
    fn name(&self) -> &str;

    /// The datapath programs it uses (installed on every datapath).
    fn programs(&self) -> Vec<ProgramSpec>;

    /// Creates state for a new flow, or for a new aggregate whose first flow this is.
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> Self::Flow;

    /// The aggregate a flow belongs to, computed from its addresses; `None` (the default)
    /// keeps every flow separate. Flows of one datapath with equal keys share one state.
    fn aggregate_key(&self, _info: &Create) -> Option<u64> {
        None
    }

    /// A flow joins an existing aggregate. The default does nothing.
    fn create_subflow(&mut self, _agg: &mut Self::Flow, _ctl: &mut Control<'_>, _info: &Create) {}
}

/// Per-flow (or per-aggregate) state.
pub trait FlowState {
    /// A report from one of the flow's programs.
    fn on_report(&mut self, ctl: &mut Control<'_>, report: &Report<'_>);

    /// Flow `sid` ended (for an aggregate, one member ended). The default does nothing.
    fn close(&mut self, _sid: u32) {}

    /// Named numbers of the algorithm's state that a run may want to record beside the flow
    /// (Copa's and BBR's minimum-RTT estimate, a window-based algorithm's window and
    /// threshold), read through [`Agent::flow_exports`]. Units are in the names. The default
    /// exports nothing.
    fn exports(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
}

/// A report, with its field names resolved through the program that sent it.
#[derive(Clone, Copy, Debug)]
pub struct Report<'a> {
    /// The reporting flow.
    pub sid: u32,
    /// Uid of the reporting program.
    pub program_uid: u32,
    /// The reporting program.
    pub program: &'a ProgramSpec,
    /// Raw report fields.
    pub fields: &'a [u64],
}

impl Report<'_> {
    /// The value of `Report.<name>` (either spelling accepted).
    pub fn get(&self, name: &str) -> Option<u64> {
        // As `Scope::report_index`, without building the `Report.`-prefixed name (this runs
        // for every field of every report).
        let key = name.strip_prefix(REPORT_PREFIX).unwrap_or(name).as_bytes();
        let full_len = REPORT_PREFIX.len() + key.len();
        let idx = self
            .program
            .scope
            .named
            .iter()
            .find(|n| {
                let b = n.name.as_bytes();
                b.len() == full_len
                    && &b[REPORT_PREFIX.len()..] == key
                    && b.starts_with(REPORT_PREFIX.as_bytes())
                    && n.reg.kind.is_report()
            })
            .map(|n| n.reg.index as usize)?;
        self.fields.get(idx).copied()
    }
}

const REPORT_PREFIX: &str = "Report.";

/// Most spare message buffers an agent keeps.
const MAX_SPARE: usize = 64;

impl Report<'_> {
    #[cfg(test)]
    fn get_reference(&self, name: &str) -> Option<u64> {
        let idx = self.program.scope.report_index(name)?;
        self.fields.get(idx).copied()
    }
}

/// Errors of [`Control`] calls.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ControlError {
    /// No program with this name.
    #[error("unknown program {0:?}")]
    UnknownProgram(String),
    /// The flow's program has no field with this name.
    #[error("unknown field {0:?}")]
    UnknownField(String),
    /// The flow has no program yet, so its fields cannot be named.
    #[error("flow has no program")]
    NoProgram,
}

/// Errors of the agent.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentError {
    /// The bytes are not a valid message.
    #[error("decode: {0}")]
    Decode(#[from] crate::wire::DecodeError),
    /// An agent→datapath message arrived at the agent.
    #[error("message type {0} is not for an agent")]
    WrongDirection(u16),
    /// The algorithm declares more than 255 programs, or two with one name.
    #[error("bad program set: {0}")]
    BadPrograms(String),
    /// A program cannot be encoded.
    #[error("program {name:?}: {source}")]
    Encode {
        /// Program name.
        name: String,
        /// Why.
        source: crate::wire::EncodeError,
    },
}

/// Agent configuration.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    instance: u32,
    reset_uid1: bool,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            instance: 1,
            reset_uid1: true,
        }
    }
}

impl AgentConfig {
    /// The instance tag (23 bits used) that makes this agent's program uids unique; give each
    /// agent start a fresh one (e.g. from the clock and process id). Default 1.
    pub fn instance(mut self, tag: u32) -> Self {
        self.instance = tag;
        self
    }
    /// Whether to install the empty uid-1 program first (see module docs). Default true.
    pub fn reset_datapath_programs(mut self, yes: bool) -> Self {
        self.reset_uid1 = yes;
        self
    }
}

struct Installed {
    spec: ProgramSpec,
    uid: u32,
}

/// Lets algorithm code steer one flow: switch its program or update its fields.
pub struct Control<'a> {
    sid: u32,
    programs: &'a [Installed],
    current: &'a mut Option<usize>,
    /// The encoded messages (concatenated), moved to the agent's queue after the call.
    out: &'a mut Vec<u8>,
}

impl Control<'_> {
    /// The flow this control acts on.
    pub fn sid(&self) -> u32 {
        self.sid
    }

    fn resolve(
        spec: &ProgramSpec,
        fields: &[(&str, u64)],
    ) -> Result<Vec<UpdateField>, ControlError> {
        fields
            .iter()
            .map(|&(name, value)| {
                let reg = spec
                    .scope
                    .lookup(name)
                    .filter(|r| {
                        r.kind.is_control()
                            || (r.kind == RegKind::Implicit
                                && (r.index == implicit::CWND || r.index == implicit::RATE))
                    })
                    .ok_or_else(|| ControlError::UnknownField(name.to_owned()))?;
                Ok(UpdateField { reg, value })
            })
            .collect()
    }

    /// Switches the flow to program `name`, with initial values for some of its fields.
    pub fn set_program(&mut self, name: &str, fields: &[(&str, u64)]) -> Result<(), ControlError> {
        let idx = self
            .programs
            .iter()
            .position(|p| p.spec.name == name)
            .ok_or_else(|| ControlError::UnknownProgram(name.to_owned()))?;
        let p = &self.programs[idx];
        let updates = Self::resolve(&p.spec, fields)?;
        *self.current = Some(idx);
        // Control only builds messages with validated, bounded contents.
        let _ = Msg::ChangeProg(ChangeProg {
            sid: self.sid,
            program_uid: p.uid,
            updates,
        })
        .encode_into(self.out);
        Ok(())
    }

    /// Updates fields of the flow's current program (`Cwnd`, `Rate`, control variables).
    pub fn update_fields(&mut self, fields: &[(&str, u64)]) -> Result<(), ControlError> {
        let idx = self.current.ok_or(ControlError::NoProgram)?;
        let updates = Self::resolve(&self.programs[idx].spec, fields)?;
        let _ = Msg::UpdateFields(UpdateFields {
            sid: self.sid,
            updates,
        })
        .encode_into(self.out);
        Ok(())
    }

    /// Sets the congestion window (bytes).
    pub fn set_cwnd(&mut self, bytes: u64) {
        put_single_update(self.out, self.sid, UpdateField::cwnd(bytes));
    }

    /// Sets the rate (bytes/s).
    pub fn set_rate(&mut self, bytes_per_sec: u64) {
        put_single_update(self.out, self.sid, UpdateField::rate(bytes_per_sec));
    }
}

/// Appends an UPDATE_FIELDS with one update, encoded as [`Msg::encode_into`] does, without
/// building the message (no allocation on the per-report path).
fn put_single_update(out: &mut Vec<u8>, sid: u32, u: UpdateField) {
    const LEN: usize = crate::wire::HEADER_LEN + 4 + crate::wire::UPDATE_LEN;
    out.reserve(LEN);
    out.extend_from_slice(&crate::wire::msg_type::UPDATE_FIELDS.to_le_bytes());
    out.extend_from_slice(&(LEN as u16).to_le_bytes());
    out.extend_from_slice(&sid.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    u.reg.encode_into(out);
    out.extend_from_slice(&u.value.to_le_bytes());
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Single(u32),
    Aggregate(u64),
}

struct FlowEntry {
    key: Key,
    program: Option<usize>,
}

/// One datapath's flows. Ordered maps: whatever iterates them (and calls algorithm code on
/// the way) does so in socket-id / key order, so an agent inside the deterministic simulator
/// behaves the same on every run.
struct DatapathState<F> {
    flows: BTreeMap<u32, FlowEntry>,
    states: BTreeMap<Key, (F, usize)>,
}

impl<F> Default for DatapathState<F> {
    fn default() -> Self {
        DatapathState {
            flows: BTreeMap::new(),
            states: BTreeMap::new(),
        }
    }
}

/// Counters, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Reports handed to flows.
    pub reports: u64,
    /// Reports dropped: unknown datapath or flow, or a uid this agent never issued.
    pub dropped_reports: u64,
    /// Flows created (including subflows).
    pub creates: u64,
    /// Flows closed.
    pub closes: u64,
    /// READY messages handled.
    pub readies: u64,
}

/// The agent. See the module docs.
pub struct Agent<A: Algorithm, D> {
    alg: A,
    programs: Vec<Installed>,
    install_msgs: Vec<Vec<u8>>,
    datapaths: BTreeMap<D, DatapathState<A::Flow>>,
    out: VecDeque<(D, Vec<u8>)>,
    /// Messages built by [`Control`] calls, concatenated.
    scratch: Vec<u8>,
    /// Buffers of sent messages, reused (see [`Agent::poll_transmit_with`]).
    spare: Vec<Vec<u8>>,
    stats: AgentStats,
}

impl<A: Algorithm, D: Clone + Ord> Agent<A, D> {
    /// Builds an agent: assigns program uids and pre-encodes the INSTALL messages.
    pub fn new(alg: A, config: AgentConfig) -> Result<Self, AgentError> {
        let specs = alg.programs();
        if specs.len() > 255 {
            return Err(AgentError::BadPrograms(format!(
                "{} programs, at most 255",
                specs.len()
            )));
        }
        let tag = (config.instance & 0x7f_ffff) << 8;
        let mut programs: Vec<Installed> = Vec::with_capacity(specs.len());
        let mut install_msgs = Vec::new();
        if config.reset_uid1 {
            let m = Msg::InstallExpr(InstallExpr {
                sid: 0,
                program_uid: 1,
                program: Program::default(),
            });
            install_msgs.push(m.encode().map_err(|source| AgentError::Encode {
                name: String::new(),
                source,
            })?);
        }
        for (n, spec) in specs.into_iter().enumerate() {
            if programs.iter().any(|p| p.spec.name == spec.name) {
                return Err(AgentError::BadPrograms(format!(
                    "duplicate program name {:?}",
                    spec.name
                )));
            }
            let uid = 0x8000_0000 | tag | (n as u32 + 1);
            let m = Msg::InstallExpr(InstallExpr {
                sid: 0,
                program_uid: uid,
                program: spec.program.clone(),
            });
            install_msgs.push(m.encode().map_err(|source| AgentError::Encode {
                name: spec.name.clone(),
                source,
            })?);
            programs.push(Installed { spec, uid });
        }
        Ok(Agent {
            alg,
            programs,
            install_msgs,
            datapaths: BTreeMap::new(),
            out: VecDeque::new(),
            scratch: Vec::new(),
            spare: Vec::new(),
            stats: AgentStats::default(),
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> &A {
        &self.alg
    }

    /// The algorithm, mutably.
    pub fn algorithm_mut(&mut self) -> &mut A {
        &mut self.alg
    }

    /// Counters.
    pub fn stats(&self) -> AgentStats {
        self.stats
    }

    /// The uid assigned to program `name`.
    pub fn program_uid(&self, name: &str) -> Option<u32> {
        self.programs
            .iter()
            .find(|p| p.spec.name == name)
            .map(|p| p.uid)
    }

    /// Socket ids of the flows of datapath `dp`, sorted.
    pub fn flows(&self, dp: &D) -> Vec<u32> {
        self.datapaths
            .get(dp)
            .map(|d| d.flows.keys().copied().collect())
            .unwrap_or_default()
    }

    /// What the state of flow `sid` of datapath `dp` exports ([`FlowState::exports`]; for a
    /// member of an aggregate, the aggregate's); empty for an unknown flow.
    pub fn flow_exports(&self, dp: &D, sid: u32) -> Vec<(&'static str, f64)> {
        self.datapaths
            .get(dp)
            .and_then(|d| {
                let key = d.flows.get(&sid)?.key;
                d.states.get(&key).map(|(state, _)| state.exports())
            })
            .unwrap_or_default()
    }

    /// Number of known datapaths.
    pub fn num_datapaths(&self) -> usize {
        self.datapaths.len()
    }

    /// The next message to send, with its destination.
    pub fn poll_transmit(&mut self) -> Option<(D, Vec<u8>)> {
        self.out.pop_front()
    }

    /// Like [`Agent::poll_transmit`], but lends the next message to `f` and keeps its buffer
    /// for a later message (no allocation per message once warm).
    pub fn poll_transmit_with<R>(&mut self, f: impl FnOnce(&D, &[u8]) -> R) -> Option<R> {
        let (dp, buf) = self.out.pop_front()?;
        let r = f(&dp, &buf);
        if self.spare.len() < MAX_SPARE {
            self.spare.push(buf);
        }
        Some(r)
    }

    /// Handles one or more concatenated messages from datapath `from`.
    pub fn handle_bytes(&mut self, now: Instant, from: &D, bytes: &[u8]) -> Result<(), AgentError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            // Reports (the bulk of the traffic) are read in place; anything else, including
            // every malformed message, goes through the decoder.
            if let Some(used) = self.try_report_in_place(from, rest) {
                rest = rest.get(used..).unwrap_or(&[]);
                continue;
            }
            let (msg, used) = Msg::decode(rest)?;
            self.handle_msg(now, from, msg)?;
            rest = rest.get(used..).unwrap_or(&[]);
        }
        Ok(())
    }

    fn install_on(&mut self, dp: &D) {
        for m in &self.install_msgs {
            self.out.push_back((dp.clone(), m.clone()));
        }
    }

    /// Moves the messages [`Control`] encoded into the send queue, one buffer each.
    fn flush(&mut self, dp: &D) {
        let mut rest = &self.scratch[..];
        while rest.len() >= crate::wire::HEADER_LEN {
            let len = usize::from(u16::from_le_bytes([rest[2], rest[3]])).min(rest.len());
            let mut b = self.spare.pop().unwrap_or_default();
            b.clear();
            b.extend_from_slice(&rest[..len]);
            self.out.push_back((dp.clone(), b));
            rest = &rest[len..];
        }
        self.scratch.clear();
    }

    /// If `buf` starts with a well-formed MEASURE that has fields (a report, not a close),
    /// handles it exactly as [`Agent::handle_msg`] would and returns its length.
    fn try_report_in_place(&mut self, from: &D, buf: &[u8]) -> Option<usize> {
        use crate::wire::{msg_type, HEADER_LEN, MAX_MSG_LEN, MAX_REPORT_REGS};
        let u32_at = |i: usize| -> Option<u32> {
            Some(u32::from_le_bytes(buf.get(i..i + 4)?.try_into().ok()?))
        };
        if buf.len() < HEADER_LEN + 8 || u16::from_le_bytes([buf[0], buf[1]]) != msg_type::MEASURE {
            return None;
        }
        let len = usize::from(u16::from_le_bytes([buf[2], buf[3]]));
        let sid = u32_at(4)?;
        let uid = u32_at(HEADER_LEN)?;
        let n = u32_at(HEADER_LEN + 4)? as usize;
        if !(HEADER_LEN..=MAX_MSG_LEN).contains(&len)
            || len > buf.len()
            || n == 0
            || n > MAX_REPORT_REGS
            || len != HEADER_LEN + 8 + 8 * n
        {
            return None;
        }
        let mut fields = [0u64; MAX_REPORT_REGS];
        for (i, f) in fields[..n].iter_mut().enumerate() {
            let at = HEADER_LEN + 8 + 8 * i;
            *f = u64::from_le_bytes(buf.get(at..at + 8)?.try_into().ok()?);
        }
        self.handle_report(from, sid, uid, &fields[..n]);
        Some(len)
    }

    /// A report (a MEASURE with fields) from datapath `from`.
    fn handle_report(&mut self, from: &D, sid: u32, program_uid: u32, fields: &[u64]) {
        let Some(pidx) = self.programs.iter().position(|p| p.uid == program_uid) else {
            self.stats.dropped_reports += 1;
            return;
        };
        let Some(dps) = self.datapaths.get_mut(from) else {
            self.stats.dropped_reports += 1;
            return;
        };
        let Some(entry) = dps.flows.get_mut(&sid) else {
            self.stats.dropped_reports += 1;
            return;
        };
        let Some((state, _)) = dps.states.get_mut(&entry.key) else {
            self.stats.dropped_reports += 1;
            return;
        };
        self.stats.reports += 1;
        let report = Report {
            sid,
            program_uid,
            program: &self.programs[pidx].spec,
            fields,
        };
        let mut ctl = Control {
            sid,
            programs: &self.programs,
            current: &mut entry.program,
            out: &mut self.scratch,
        };
        state.on_report(&mut ctl, &report);
        self.flush(from);
    }

    /// Handles one decoded message from datapath `from`.
    pub fn handle_msg(&mut self, _now: Instant, from: &D, msg: Msg) -> Result<(), AgentError> {
        match msg {
            Msg::Ready(_) => {
                self.stats.readies += 1;
                if let Some(old) = self.datapaths.remove(from) {
                    close_all(old);
                }
                self.datapaths
                    .insert(from.clone(), DatapathState::default());
                self.install_on(from);
            }
            Msg::Create(c) => {
                if !self.datapaths.contains_key(from) {
                    self.datapaths
                        .insert(from.clone(), DatapathState::default());
                    self.install_on(from);
                }
                self.stats.creates += 1;
                self.close_flow(from, c.sid);
                let agg = self.alg.aggregate_key(&c);
                let Some(dps) = self.datapaths.get_mut(from) else {
                    return Ok(());
                };
                let mut program = None;
                let key = match agg {
                    Some(k) => Key::Aggregate(k),
                    None => Key::Single(c.sid),
                };
                let mut ctl = Control {
                    sid: c.sid,
                    programs: &self.programs,
                    current: &mut program,
                    out: &mut self.scratch,
                };
                match dps.states.get_mut(&key) {
                    Some((state, members)) => {
                        *members += 1;
                        self.alg.create_subflow(state, &mut ctl, &c);
                    }
                    None => {
                        let state = self.alg.create(&mut ctl, &c);
                        dps.states.insert(key, (state, 1));
                    }
                }
                dps.flows.insert(c.sid, FlowEntry { key, program });
                self.flush(from);
            }
            Msg::Measure(m) => {
                if m.is_close() {
                    self.close_flow(from, m.sid);
                    return Ok(());
                }
                self.handle_report(from, m.sid, m.program_uid, &m.fields);
            }
            other => return Err(AgentError::WrongDirection(other.msg_type())),
        }
        Ok(())
    }

    fn close_flow(&mut self, dp: &D, sid: u32) {
        let Some(dps) = self.datapaths.get_mut(dp) else {
            return;
        };
        let Some(entry) = dps.flows.remove(&sid) else {
            return;
        };
        self.stats.closes += 1;
        if let Some((state, members)) = dps.states.get_mut(&entry.key) {
            state.close(sid);
            *members -= 1;
            if *members == 0 {
                dps.states.remove(&entry.key);
            }
        }
    }
}

/// Tells every flow of a datapath that it ended, in socket-id order.
fn close_all<F: FlowState>(dps: DatapathState<F>) {
    let DatapathState { flows, mut states } = dps;
    for (sid, entry) in flows {
        if let Some((state, _)) = states.get_mut(&entry.key) {
            state.close(sid);
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod in_place_tests;
