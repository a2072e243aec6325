//! [`CcpFactory`]: per-host `ccp` datapath runtimes, their agents, and the per-flow controller
//! the transport's sender consults.
//!
//! Per sending host (keyed by its IPv4 address) the factory creates, on the host's first flow:
//! a [`Datapath`] (which queues READY), an [`Agent`] running the configured algorithm, and an
//! in-memory channel pair with one-way delay [`ShimConfig::staleness`]. Two tasks on the
//! runtime move the bytes: the agent task (receive due messages, run the algorithm, send its
//! answers) and the datapath task (receive the agent's messages at their arrival instant,
//! hand them to the runtime, and apply new `Cwnd`/`Rate` values to the flows at once, waking
//! each flow's sender).
//!
//! Per flow, [`transport::CongestionControl`] is implemented by a controller that turns each
//! ACK's [`transport::AckSignals`] into libccp [`ccp::datapath::Primitives`], runs
//! [`Datapath::invoke`], applies the window and rate the invocation produced, and sends any
//! report to the agent.
//!
//! Differences from libccp, deliberate: libccp applies an agent's UPDATE_FIELDS at the flow's
//! next ACK; here a new `Cwnd` or `Rate` in an UPDATE_FIELDS or CHANGE_PROG takes effect when
//! the message arrives, and the shim then takes it out of the runtime's staging
//! ([`Datapath::take_staged_window`]) so that the next invocation does not apply it a second
//! time over whatever happened in between. A retransmission timeout invokes the program at once with
//! `was_timeout` set (the ACK after it does not report the same timeout again).
//!
//! A retransmission timeout also sets the window to one segment at once, before the program
//! runs, as Linux's `tcp_enter_loss` does under any congestion-control module (ccp-kernel
//! included): the datapath does not keep sending at the pre-timeout window while the report
//! travels to the agent. The program, or the agent's answer, may then set another window.
//!
//! Submodules: `flow` (the per-flow controller) and `tasks` (the agent and datapath tasks).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use ccp::agent::{Agent, AgentConfig, AgentError, Algorithm};
use ccp::datapath::{Config as DpConfig, Datapath, FlowInfo};
use ccp::ipc::{channel_pair, ChannelEnd, Transport};
use netrt::{Duration, Instant, LocalBoxFuture, Runtime};
use transport::{CcFactory, CcKind, CongestionControl, FlowContext, FlowWaker};

use crate::notify::Notify;

mod flow;
mod tasks;

use flow::CcpFlow;
use tasks::{agent_task, datapath_task};

/// How the shim runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShimConfig {
    /// One-way delay of the channel between a datapath and its agent. Default 20 µs.
    pub staleness: Duration,
    /// The datapath falls back to its native controller when the agent has not answered for
    /// this long after a failed send (libccp's `fto_us`). Default 1 s.
    pub fallback_timeout: Duration,
    /// Stops every agent at this instant (a fault to exercise the fallback); `None` (the
    /// default) keeps them running.
    pub agent_stop: Option<Instant>,
    /// Keeps a log of every message, with its direction and send time
    /// ([`CcpFactory::message_log`]). Default off.
    pub log_messages: bool,
    /// The native controller a flow runs while its datapath is in fallback. It sees every
    /// ACK, loss and timeout of the flow from the start (a shadow), so it takes over with a
    /// window that reflects the path. Default Reno.
    pub fallback: CcKind,
}

impl Default for ShimConfig {
    fn default() -> Self {
        ShimConfig {
            staleness: Duration::from_micros(20),
            fallback_timeout: Duration::from_secs(1),
            agent_stop: None,
            log_messages: false,
            fallback: CcKind::Reno,
        }
    }
}

/// Errors building a [`CcpFactory`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShimError {
    /// The algorithm's programs do not form a valid program set.
    #[error("CCP algorithm {alg:?}: {source}")]
    Agent {
        /// The algorithm's name.
        alg: String,
        /// Why.
        source: AgentError,
    },
}

/// Which way a logged message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// Datapath to agent (READY, CREATE, MEASURE).
    ToAgent,
    /// Agent to datapath (INSTALL, UPDATE_FIELDS, CHANGE_PROG).
    ToDatapath,
}

/// One message of the log ([`ShimConfig::log_messages`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedMsg {
    /// The sending host's IPv4 address.
    pub host: u32,
    /// Direction.
    pub dir: Direction,
    /// When it was sent.
    pub at: Instant,
    /// The wire bytes.
    pub bytes: Vec<u8>,
}

/// Counters over all hosts of a factory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShimStats {
    /// Messages sent by datapaths to their agents.
    pub to_agent: u64,
    /// Messages delivered to datapaths from their agents.
    pub to_datapath: u64,
    /// Program invocations (ACKs and timeouts).
    pub invocations: u64,
    /// Invocations the datapath aborted (the flow kept its window).
    pub invoke_errors: u64,
    /// Agent messages the datapath refused, other than stale ones.
    pub message_errors: u64,
    /// Agent messages for a flow that had already closed (control in flight when the flow
    /// finished: expected, not an error).
    pub stale_messages: u64,
    /// Datapath messages the agent refused.
    pub agent_errors: u64,
    /// Sends that failed (the agent was gone).
    pub send_failures: u64,
    /// Flows that ran their native controller at least once.
    pub flows_fell_back: u64,
}

impl ShimStats {
    /// Adds `o`'s counters to these (to sum factories or hosts).
    pub fn add(&mut self, o: &ShimStats) {
        self.to_agent += o.to_agent;
        self.to_datapath += o.to_datapath;
        self.invocations += o.invocations;
        self.invoke_errors += o.invoke_errors;
        self.message_errors += o.message_errors;
        self.stale_messages += o.stale_messages;
        self.agent_errors += o.agent_errors;
        self.send_failures += o.send_failures;
        self.flows_fell_back += o.flows_fell_back;
    }
}

/// What the sender of one flow reads; shared by the flow's controller and its host (cells, so
/// the sender's per-packet reads touch neither the host's state nor a map).
struct FlowSlot {
    cwnd: Cell<u64>,
    /// Bytes per second.
    rate: Cell<Option<u64>>,
    waker: FlowWaker,
    /// Ever in fallback.
    fell_back: Cell<bool>,
    /// In fallback at the latest invocation.
    in_fallback: Cell<bool>,
}

/// The datapath side of one host.
struct HostState {
    ip: u32,
    dp: Datapath,
    end: ChannelEnd,
    /// Open flows by socket id - 1.
    flows: Vec<Option<Rc<FlowSlot>>>,
    stats: ShimStats,
    log: Option<Vec<LoggedMsg>>,
    /// Reused by `receive`: the flows an agent message updated.
    updated: Vec<u32>,
}

impl HostState {
    /// Appends a message to the log when [`ShimConfig::log_messages`] keeps one. (An associated
    /// function: `flush` calls it while it borrows the runtime's queue.)
    fn log(log: &mut Option<Vec<LoggedMsg>>, host: u32, dir: Direction, at: Instant, m: &[u8]) {
        if let Some(log) = log {
            log.push(LoggedMsg {
                host,
                dir,
                at,
                bytes: m.to_vec(),
            });
        }
    }

    /// Logs a message the agent sent to this host's datapath.
    fn log_to_datapath(&mut self, at: Instant, m: &[u8]) {
        Self::log(&mut self.log, self.ip, Direction::ToDatapath, at, m);
    }

    fn slot(&self, sid: u32) -> Option<&Rc<FlowSlot>> {
        let i = (sid as usize).checked_sub(1)?;
        self.flows.get(i)?.as_ref()
    }

    /// Sends every queued datapath message to the agent. True when the agent must be woken:
    /// something was sent and nothing was in flight before (otherwise the agent already waits
    /// for the earliest message's arrival, and the channel's constant delay keeps arrivals in
    /// send order).
    fn flush(&mut self, now: Instant) -> bool {
        let idle = self.end.in_flight() == 0;
        let mut sent = false;
        while let Some(m) = self.dp.poll_transmit() {
            match self.end.send_to(now, &(), m) {
                Ok(()) => {
                    sent = true;
                    self.stats.to_agent += 1;
                    Self::log(&mut self.log, self.ip, Direction::ToAgent, now, m);
                }
                Err(_) => {
                    self.stats.send_failures += 1;
                    self.dp.notify_send_failed(now);
                }
            }
        }
        sent && idle
    }

    /// Receives every agent message due at `now`, hands it to the runtime, and applies new
    /// windows and rates at once.
    fn receive(&mut self, now: Instant, buf: &mut [u8]) {
        while let Ok(Some((n, ()))) = self.end.recv_from(now, buf) {
            let bytes = &buf[..n];
            self.stats.to_datapath += 1;
            let mut updated = std::mem::take(&mut self.updated);
            updated.clear();
            let res = self
                .dp
                .handle_bytes_with(now, bytes, |sid, _| updated.push(sid));
            if let Err(e) = res {
                if matches!(e, ccp::datapath::MessageError::UnknownFlow(_)) {
                    self.stats.stale_messages += 1;
                } else {
                    self.stats.message_errors += 1;
                }
            } else {
                // The runtime accepted the message(s): apply Cwnd / Rate updates now, and take
                // them out of the runtime's staging so that the next invocation does not apply
                // them again (after a timeout reset the window, say).
                for &sid in &updated {
                    let (cwnd, rate) = self.dp.take_staged_window(sid);
                    let Some(slot) = self.slot(sid) else {
                        continue;
                    };
                    if let Some(c) = cwnd {
                        slot.cwnd.set(u64::from(c));
                    }
                    if rate.is_some() {
                        slot.rate.set(rate);
                    }
                    if cwnd.is_some() || rate.is_some() {
                        slot.waker.wake();
                    }
                }
            }
            self.updated = updated;
        }
    }
}

/// One host: its datapath state and the wake-up flags of its two tasks.
struct Host {
    state: RefCell<HostState>,
    agent_notify: Notify,
    dp_notify: Notify,
    /// Reads what the agent's algorithm exports about a flow (by socket id); `None` when the
    /// agent runs elsewhere.
    agent_exports: RefCell<Option<ExportsFn>>,
}

/// What [`Host::agent_exports`] holds.
type ExportsFn = Box<dyn Fn(u32) -> Vec<(&'static str, f64)>>;

/// Where each host's agent runs.
enum AgentSide<R: Runtime, A> {
    /// A task on the runtime, running the algorithm this builds.
    Local(Rc<dyn Fn() -> A>),
    /// Elsewhere: a caller's task relays the host's messages (see [`AgentLink`]).
    Remote(Rc<RelayFn<R>>),
}

/// What [`CcpFactory::with_remote_agent`] runs per host: a task that relays the messages of
/// one [`AgentLink`] to an agent outside this runtime.
pub type RelayFn<R> = dyn Fn(AgentLink<R>) -> LocalBoxFuture<'static, ()>;

/// Builds CCP-controlled flows. See the module docs.
pub struct CcpFactory<R: Runtime, A: Algorithm> {
    rt: R,
    agent: AgentSide<R, A>,
    alg_name: String,
    cfg: ShimConfig,
    hosts: RefCell<BTreeMap<u32, Rc<Host>>>,
}

impl<R: Runtime, A: Algorithm + 'static> fmt::Debug for CcpFactory<R, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CcpFactory")
            .field("alg", &self.alg_name)
            .field("cfg", &self.cfg)
            .field("hosts", &self.hosts.borrow().len())
            .finish()
    }
}

impl<R: Runtime, A: Algorithm + 'static> CcpFactory<R, A> {
    /// A factory whose agents run the algorithm `make_alg` builds (one instance per host),
    /// on runtime `rt`. Fails when the algorithm's programs are not a valid set.
    pub fn new(
        rt: R,
        cfg: ShimConfig,
        make_alg: impl Fn() -> A + 'static,
    ) -> Result<Self, ShimError> {
        let probe = make_alg();
        let alg_name = probe.name().to_string();
        Agent::<A, ()>::new(probe, AgentConfig::default()).map_err(|source| ShimError::Agent {
            alg: alg_name.clone(),
            source,
        })?;
        Ok(CcpFactory {
            rt,
            agent: AgentSide::Local(Rc::new(make_alg)),
            alg_name,
            cfg,
            hosts: RefCell::new(BTreeMap::new()),
        })
    }

    /// A factory whose agents run outside this runtime (another process, reached over a
    /// socket): for each host, `relay` is spawned with the host's [`AgentLink`] and moves its
    /// messages to and from that agent. `alg_name` is what [`CcFactory::name`] reports
    /// (`ccp:<alg_name>`); the remote agent decides the algorithm. The channel's one-way delay
    /// ([`ShimConfig::staleness`]) applies on top of the relay's own latency (use zero);
    /// [`ShimConfig::agent_stop`] is ignored (stop the remote agent, or end the relay, to
    /// exercise the fallback).
    pub fn with_remote_agent(
        rt: R,
        cfg: ShimConfig,
        alg_name: impl Into<String>,
        relay: impl Fn(AgentLink<R>) -> LocalBoxFuture<'static, ()> + 'static,
    ) -> Self {
        CcpFactory {
            rt,
            agent: AgentSide::Remote(Rc::new(relay)),
            alg_name: alg_name.into(),
            cfg,
            hosts: RefCell::new(BTreeMap::new()),
        }
    }

    /// Counters summed over every host.
    pub fn stats(&self) -> ShimStats {
        let mut s = ShimStats::default();
        for h in self.hosts.borrow().values() {
            s.add(&h.state.borrow().stats);
        }
        s
    }

    /// Every message sent so far, host by host in address order, each host's in send order
    /// (empty unless [`ShimConfig::log_messages`]).
    pub fn message_log(&self) -> Vec<LoggedMsg> {
        self.hosts
            .borrow()
            .values()
            .flat_map(|h| h.state.borrow().log.clone().unwrap_or_default())
            .collect()
    }

    /// The host of `ip`, created (with its agent and tasks) on first use.
    fn host(&self, ip: u32) -> Rc<Host> {
        if let Some(h) = self.hosts.borrow().get(&ip) {
            return h.clone();
        }
        let now = self.rt.now();
        let (dp_end, agent_end) = channel_pair(self.cfg.staleness);
        let index = self.hosts.borrow().len() as u32;
        let dp = Datapath::new(
            DpConfig::default()
                .id(ip)
                .max_flows(usize::from(u16::MAX))
                .fallback_timeout(self.cfg.fallback_timeout),
            now,
        );
        let host = Rc::new(Host {
            state: RefCell::new(HostState {
                ip,
                dp,
                end: dp_end,
                flows: Vec::new(),
                stats: ShimStats::default(),
                log: self.cfg.log_messages.then(Vec::new),
                updated: Vec::new(),
            }),
            agent_notify: Notify::default(),
            dp_notify: Notify::default(),
            agent_exports: RefCell::new(None),
        });
        match &self.agent {
            AgentSide::Local(make_alg) => {
                // Validated in `new`; a failure here would be a non-deterministic algorithm.
                let agent = Agent::new(make_alg(), AgentConfig::default().instance(index + 1)).ok();
                if let Some(agent) = agent {
                    // The agent task borrows the agent only between awaits; a flow reads its
                    // exports from outside the task (at its close and when results are
                    // written).
                    let agent = Rc::new(RefCell::new(agent));
                    let view = Rc::downgrade(&agent);
                    *host.agent_exports.borrow_mut() = Some(Box::new(move |sid| {
                        view.upgrade()
                            .and_then(|a| a.try_borrow().ok().map(|a| a.flow_exports(&(), sid)))
                            .unwrap_or_default()
                    }));
                    self.rt.spawn_boxed(Box::pin(agent_task(
                        self.rt.clone(),
                        agent,
                        agent_end,
                        host.clone(),
                        self.cfg.agent_stop,
                    )));
                }
            }
            AgentSide::Remote(relay) => {
                self.rt.spawn_boxed(relay(AgentLink {
                    rt: self.rt.clone(),
                    end: agent_end,
                    host: host.clone(),
                }));
            }
        }
        self.rt
            .spawn_boxed(Box::pin(datapath_task(self.rt.clone(), host.clone())));
        if host.state.borrow_mut().flush(now) {
            host.agent_notify.notify();
        }
        self.hosts.borrow_mut().insert(ip, host.clone());
        host
    }
}

fn ipv4(a: &SocketAddr) -> u32 {
    match a.ip() {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            u32::from_be_bytes([o[12], o[13], o[14], o[15]])
        }
    }
}

impl<R: Runtime, A: Algorithm + 'static> CcFactory for CcpFactory<R, A> {
    fn build(&self, ctx: &FlowContext) -> Box<dyn CongestionControl> {
        let ip = ipv4(&ctx.src);
        let host = self.host(ip);
        let init_cwnd = u64::from(ctx.init_cwnd_pkts.max(1)) * u64::from(ctx.mss.max(1));
        let info = FlowInfo {
            init_cwnd: u32::try_from(init_cwnd).unwrap_or(u32::MAX),
            mss: ctx.mss,
            src_ip: ip,
            src_port: u32::from(ctx.src.port()),
            dst_ip: ipv4(&ctx.dst),
            dst_port: u32::from(ctx.dst.port()),
            alg: None,
        };
        let (sid, slot) = {
            let mut st = host.state.borrow_mut();
            let sid = st.dp.open_flow(ctx.now, info).ok();
            let slot = sid.map(|sid| {
                let slot = Rc::new(FlowSlot {
                    cwnd: Cell::new(init_cwnd),
                    rate: Cell::new(None),
                    waker: ctx.waker.clone(),
                    fell_back: Cell::new(false),
                    in_fallback: Cell::new(false),
                });
                let i = sid as usize - 1;
                if st.flows.len() <= i {
                    st.flows.resize(i + 1, None);
                }
                st.flows[i] = Some(slot.clone());
                slot
            });
            if st.flush(ctx.now) {
                host.agent_notify.notify();
            }
            (sid, slot)
        };
        Box::new(CcpFlow {
            name: format!("ccp:{}", self.alg_name),
            host,
            sid,
            slot,
            init_cwnd,
            mss: u64::from(ctx.mss.max(1)),
            closed_cwnd: init_cwnd,
            fell_back: false,
            closed_exports: None,
            native: self.cfg.fallback.build(ctx.mss, ctx.init_cwnd_pkts),
            timeout_invoked: false,
            rt_now: {
                let rt = self.rt.clone();
                Box::new(move || rt.now())
            },
        })
    }

    fn name(&self) -> String {
        format!("ccp:{}", self.alg_name)
    }
}

/// The agent's end of one host's channel, handed to the relay of
/// [`CcpFactory::with_remote_agent`]: the relay forwards what [`AgentLink::recv`] returns to
/// the remote agent and hands the agent's answers to [`AgentLink::send`]. Dropping it cuts
/// the host off from its agent (the datapath's sends fail and its fallback timer starts).
pub struct AgentLink<R: Runtime> {
    rt: R,
    end: ChannelEnd,
    host: Rc<Host>,
}

impl<R: Runtime> fmt::Debug for AgentLink<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentLink")
            .field("host", &self.host_ip())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> AgentLink<R> {
    /// The host's IPv4 address (its datapath id).
    pub fn host_ip(&self) -> u32 {
        self.host.state.borrow().ip
    }

    /// The next message from the host's datapath (libccp wire bytes, one or more messages),
    /// written to `buf` (truncated if longer); waits until one is due. Cancel-safe: a message
    /// is taken only when the future completes.
    pub async fn recv(&mut self, buf: &mut [u8]) -> usize {
        loop {
            let now = self.rt.now();
            if let Ok(Some((n, ()))) = self.end.recv_from(now, buf) {
                return n;
            }
            match self.end.next_arrival() {
                Some(t) => {
                    let _ = self
                        .rt
                        .timeout(t.saturating_since(now), self.host.agent_notify.notified())
                        .await;
                }
                None => self.host.agent_notify.notified().await,
            }
        }
    }

    /// Hands a message from the agent to the host's datapath; it takes effect when it
    /// arrives (now plus [`ShimConfig::staleness`]). False if the datapath side is gone or
    /// the message is longer than a CCP message may be.
    pub fn send(&mut self, msg: &[u8]) -> bool {
        let now = self.rt.now();
        let idle = self.end.in_flight() == 0;
        let ok = self.end.send_to(now, &(), msg).is_ok();
        if ok {
            self.host.state.borrow_mut().log_to_datapath(now, msg);
        }
        if ok && idle {
            self.host.dp_notify.notify();
        }
        ok
    }
}
