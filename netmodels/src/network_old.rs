//! The network model: output-queued ports on every link direction, switches that route by
//! shortest path with ECMP, hosts that terminate reliable-transport flows and datagram sockets.
//!
//! Each direction of a link is a [`Port`] at its sending node: a queue discipline, a link server
//! (fixed rate or trace) that serializes one packet at a time, optional i.i.d. loss, and a
//! propagation pipe. Packets move through ports by value; events only name the port, so the
//! event queue stays small and the per-packet cost is a few heap operations.
//!
//! Byte accounting holds at every instant: injected = delivered + dropped + in network
//! (queued, being serialized, or propagating). [`Network::bytes_in_network`] measures the last.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::rc::Rc;

use sim_core::{Handle, Model, Recorder, RngStreams, SeriesId, SimDuration, SimTime};
use transport::{CcKind, Receiver, Sender, TransportConfig};

use crate::link::{LinkServer, LossModel};
use crate::packet::{Ecn, NodeId, Packet, Payload, TCP_IP_HEADER};
use crate::pcap::PcapTap;
use crate::queue::Queue;
use crate::socket::SocketTable;
use crate::topology::{ecmp_pick, NodeKind, PortParams, Routes, Topology, TopologyError};

/// Errors building a network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The topology is malformed.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A port's parameters are invalid.
    #[error("link {link} ({dir}): {msg}")]
    Port {
        /// The link's name.
        link: String,
        /// "forward" or "reverse".
        dir: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// A flow names a node that is not a host, or src equals dst.
    #[error("flow {flow}: {msg}")]
    Flow {
        /// Index of the flow.
        flow: usize,
        /// What is wrong.
        msg: String,
    },
    /// A pcap file could not be created.
    #[error("pcap for link {link}: {msg}")]
    Pcap {
        /// The link's name.
        link: String,
        /// The cause.
        msg: String,
    },
}

/// Index of a port: link `l` has ports `2l` (a → b) and `2l + 1` (b → a).
pub type PortId = u32;

/// The model's events. They carry indices, never packets (except datagrams from tasks).
#[derive(Debug)]
pub enum Event {
    /// The packet being serialized on a port has fully left.
    TxDone(PortId),
    /// The head of a port's propagation pipe reaches the far end.
    Arrive(PortId),
    /// A flow starts.
    FlowStart(u32),
    /// A flow's sender or receiver timer may be due.
    FlowTimer(u32),
    /// Periodic metrics sample.
    Sample,
    /// A packet injected by a task (a datagram socket) at its source host.
    Inject(Box<Packet>),
}

/// Counters of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PortStats {
    /// Packets that finished serialization.
    pub tx_packets: u64,
    /// Bytes that finished serialization.
    pub tx_bytes: u64,
    /// Packets dropped by the queue discipline.
    pub queue_drops: u64,
    /// Packets lost on the wire.
    pub wire_losses: u64,
    /// Bytes dropped (queue or wire).
    pub dropped_bytes: u64,
    /// Packets that left the queue CE-marked (marked here or upstream).
    pub ce_marked: u64,
    /// Largest queue occupancy seen, in bytes.
    pub max_queue_bytes: u64,
}

/// One direction of a link, at its sending node.
pub struct Port {
    /// The link this port belongs to.
    pub link: usize,
    /// Sending node.
    pub from: NodeId,
    /// Receiving node.
    pub to: NodeId,
    queue: Box<dyn Queue>,
    server: LinkServer,
    delay: SimDuration,
    loss: Option<LossModel>,
    busy: Option<Packet>,
    pipe: VecDeque<(SimTime, Packet)>,
    pipe_bytes: u64,
    pcap: Option<PcapTap>,
    /// Counters.
    pub stats: PortStats,
    nominal_bps: u64,
    // Per sample window: sum and count of sojourn times of dequeued packets.
    win_sojourn_ns: u128,
    win_dequeued: u64,
    win_tx_bytes: u64,
}

impl Port {
    /// Bytes queued, being serialized, or propagating on this port.
    pub fn bytes_in_flight(&self) -> u64 {
        self.queue.len_bytes()
            + self.busy.as_ref().map_or(0, |p| u64::from(p.size))
            + self.pipe_bytes
    }
    /// Bytes in the queue.
    pub fn queue_bytes(&self) -> u64 {
        self.queue.len_bytes()
    }
    /// Packets in the queue.
    pub fn queue_packets(&self) -> usize {
        self.queue.len_packets()
    }
    /// The link's nominal rate (trace links: their mean rate).
    pub fn nominal_bps(&self) -> u64 {
        self.nominal_bps
    }
}

/// A reliable-transport flow between two hosts.
#[derive(Clone, Debug)]
pub struct FlowSpec {
    /// Sending host.
    pub src: NodeId,
    /// Receiving host.
    pub dst: NodeId,
    /// Bytes to send; `None` for an endless bulk flow.
    pub size: Option<u64>,
    /// When it starts.
    pub start: SimTime,
    /// Congestion control.
    pub cc: CcKind,
    /// Strict-priority band of its packets.
    pub priority: u8,
}

struct Flow {
    spec: FlowSpec,
    sender: Option<Sender>,
    receiver: Receiver,
    timer_at: Option<SimTime>,
    done_at: Option<SimTime>,
    cwnd_series: Option<SeriesId>,
    rtt_series: Option<SeriesId>,
}

/// The outcome of one flow, one row of `flows.csv`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FlowRecord {
    /// Flow index.
    pub flow: u32,
    /// Sending host.
    pub src: NodeId,
    /// Receiving host.
    pub dst: NodeId,
    /// Congestion control.
    pub cc: String,
    /// Bytes to send (empty for bulk flows).
    pub size_bytes: Option<u64>,
    /// Start, seconds.
    pub start_s: f64,
    /// Completion time (last byte delivered in order) minus start, seconds; empty if unfinished.
    pub fct_s: Option<f64>,
    /// Bytes delivered in order to the receiver.
    pub delivered_bytes: u64,
    /// Average goodput over the flow's life (or until the end of the run), Mbit/s.
    pub goodput_mbps: f64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
}

/// Network-wide byte accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes hosts put into their egress ports.
    pub injected_bytes: u64,
    /// Bytes that reached their destination host.
    pub delivered_bytes: u64,
    /// Bytes dropped by queues, lost on the wire, or unroutable.
    pub dropped_bytes: u64,
    /// Packets created.
    pub packets: u64,
}

/// Network options that are not part of the topology.
#[derive(Clone, Debug)]
pub struct NetworkOptions {
    /// Transport parameters for every flow.
    pub transport: TransportConfig,
    /// Interval of the time-series sampler (`None`: no time series).
    pub sample_interval: Option<SimDuration>,
    /// Links whose forward port (a → b) the sampler records queue and utilization for, by name.
    pub monitor_links: Vec<String>,
    /// Whether to record each flow's cwnd and RTT in the time series.
    pub record_flows: bool,
    /// Directory for pcap files, and the links (by name) to capture (both directions).
    pub pcap: Option<(PathBuf, Vec<String>)>,
    /// Drop-tail limit (packets) of every host's egress queue.
    pub host_queue_packets: usize,
    /// Report the model finished once every sized flow has completed (ends the run early).
    /// Without any sized flow this has no effect: bulk flows never complete.
    pub stop_when_done: bool,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            transport: TransportConfig::default(),
            sample_interval: None,
            monitor_links: Vec::new(),
            record_flows: false,
            pcap: None,
            host_queue_packets: 10_000,
            stop_when_done: false,
        }
    }
}

struct Monitor {
    port: PortId,
    qlen: SeriesId,
    qdelay: SeriesId,
    util: SeriesId,
}

/// The whole simulated network: a [`Model`] for [`sim_core::Simulation`].
pub struct Network {
    topo: Topology,
    routes: Routes,
    ports: Vec<Port>,
    /// Egress port of each host (hosts have exactly one link), `None` for switches.
    host_port: Vec<Option<PortId>>,
    flows: Vec<Flow>,
    sockets: Rc<RefCell<SocketTable>>,
    opts: NetworkOptions,
    counters: Counters,
    drops: Vec<Packet>,
    recorder: Recorder,
    monitors: Vec<Monitor>,
    last_sample: SimTime,
    pcap_error: Option<String>,
    sized_remaining: usize,
    sized_total: usize,
}

fn port_error(link: &str, dir: &'static str, msg: impl ToString) -> NetworkError {
    NetworkError::Port {
        link: link.into(),
        dir,
        msg: msg.to_string(),
    }
}

impl Network {
    /// Builds the network for `topo`, drawing every port's random streams from `rng`.
    pub fn new(
        topo: Topology,
        opts: NetworkOptions,
        rng: &RngStreams,
    ) -> Result<Network, NetworkError> {
        topo.validate()?;
        let routes = Routes::compute(&topo);
        let mut ports = Vec::with_capacity(topo.links.len() * 2);
        let mut host_port = vec![None; topo.nodes.len()];
        for (li, l) in topo.links.iter().enumerate() {
            for (dir, from, to, params) in
                [("forward", l.a, l.b, &l.ab), ("reverse", l.b, l.a, &l.ba)]
            {
                let pid = ports.len() as PortId;
                let mut p = build_port(
                    &topo,
                    li,
                    from,
                    to,
                    params,
                    dir,
                    rng,
                    pid,
                    opts.host_queue_packets,
                )?;
                if let Some((dir_path, links)) = &opts.pcap {
                    if links.iter().any(|n| n == &l.name) {
                        let name = format!(
                            "{}-{}-{}.pcap",
                            l.name, topo.nodes[from as usize].name, topo.nodes[to as usize].name
                        );
                        let path = dir_path.join(name);
                        p.pcap = Some(PcapTap::create(&path).map_err(|e| NetworkError::Pcap {
                            link: l.name.clone(),
                            msg: e.to_string(),
                        })?);
                    }
                }
                if topo.is_host(from) {
                    if host_port[from as usize].is_some() {
                        return Err(port_error(&l.name, dir, "a host may have only one link"));
                    }
                    host_port[from as usize] = Some(pid);
                }
                ports.push(p);
            }
        }
        let mut recorder = Recorder::new();
        let mut monitors = Vec::new();
        for name in &opts.monitor_links {
            let Some(li) = topo.links.iter().position(|l| &l.name == name) else {
                return Err(port_error(
                    name,
                    "forward",
                    "monitor_links names a link that does not exist",
                ));
            };
            monitors.push(Monitor {
                port: (2 * li) as PortId,
                qlen: recorder.series(&format!("qlen_pkts/{name}")),
                qdelay: recorder.series(&format!("qdelay_ms/{name}")),
                util: recorder.series(&format!("util/{name}")),
            });
        }
        Ok(Network {
            topo,
            routes,
            ports,
            host_port,
            flows: Vec::new(),
            sockets: Rc::new(RefCell::new(SocketTable::default())),
            opts,
            counters: Counters::default(),
            drops: Vec::new(),
            recorder,
            monitors,
            last_sample: SimTime::ZERO,
            pcap_error: None,
            sized_remaining: 0,
            sized_total: 0,
        })
    }

    /// Adds a flow; schedule its start with [`Network::start_events`]. Returns its index.
    pub fn add_flow(&mut self, spec: FlowSpec) -> Result<u32, NetworkError> {
        let idx = self.flows.len();
        if !self.topo.is_host(spec.src) || !self.topo.is_host(spec.dst) {
            return Err(NetworkError::Flow {
                flow: idx,
                msg: "src and dst must be hosts".into(),
            });
        }
        if spec.src == spec.dst {
            return Err(NetworkError::Flow {
                flow: idx,
                msg: "src and dst must differ".into(),
            });
        }
        if spec.size == Some(0) {
            return Err(NetworkError::Flow {
                flow: idx,
                msg: "size must be at least 1 byte".into(),
            });
        }
        let (cwnd_series, rtt_series) =
            if self.opts.record_flows && self.opts.sample_interval.is_some() {
                (
                    Some(self.recorder.series(&format!("cwnd_bytes/{idx}"))),
                    Some(self.recorder.series(&format!("srtt_ms/{idx}"))),
                )
            } else {
                (None, None)
            };
        if spec.size.is_some() {
            self.sized_remaining += 1;
            self.sized_total += 1;
        }
        self.flows.push(Flow {
            receiver: Receiver::new(self.opts.transport.clone()),
            spec,
            sender: None,
            timer_at: None,
            done_at: None,
            cwnd_series,
            rtt_series,
        });
        Ok(idx as u32)
    }

    /// Schedules every flow start and the first metrics sample.
    pub fn start_events(&self, h: &Handle<Event>) {
        for (i, f) in self.flows.iter().enumerate() {
            h.schedule_at(f.spec.start, Event::FlowStart(i as u32));
        }
        if let Some(iv) = self.opts.sample_interval {
            h.schedule_in(iv, Event::Sample);
        }
    }

    /// The socket API for tasks of a simulation running this network.
    pub fn socket_api(&self, h: &Handle<Event>) -> crate::socket::NetApi {
        crate::socket::NetApi::new(h.clone(), self.sockets.clone())
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// The ports (2 per link).
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// Byte accounting so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Bytes currently queued, serializing or propagating anywhere.
    pub fn bytes_in_network(&self) -> u64 {
        self.ports.iter().map(Port::bytes_in_flight).sum()
    }

    /// The recorded time series.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The first error writing a pcap file, if any (capture stops on that port after it).
    pub fn pcap_error(&self) -> Option<&str> {
        self.pcap_error.as_deref()
    }

    /// Number of flows.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// True when every sized flow has delivered all its bytes.
    pub fn all_sized_flows_done(&self) -> bool {
        self.sized_remaining == 0
    }

    /// Bytes the receiver of `flow` has delivered in order.
    pub fn flow_delivered(&self, flow: u32) -> u64 {
        self.flows
            .get(flow as usize)
            .map_or(0, |f| f.receiver.delivered_bytes())
    }

    /// One record per flow, as of `now`.
    pub fn flow_records(&self, now: SimTime) -> Vec<FlowRecord> {
        self.flows
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let delivered = f.receiver.delivered_bytes();
                let end = f.done_at.unwrap_or(now);
                let life = end.saturating_since(f.spec.start).as_secs_f64();
                let (rtx, rto) = f.sender.as_ref().map_or((0, 0), |s| {
                    let st = s.stats();
                    (st.retransmitted_segments, st.timeouts)
                });
                FlowRecord {
                    flow: i as u32,
                    src: f.spec.src,
                    dst: f.spec.dst,
                    cc: f.spec.cc.name().into(),
                    size_bytes: f.spec.size,
                    start_s: f.spec.start.as_secs_f64(),
                    fct_s: f
                        .done_at
                        .map(|d| d.saturating_since(f.spec.start).as_secs_f64()),
                    delivered_bytes: delivered,
                    goodput_mbps: if life > 0.0 {
                        delivered as f64 * 8.0 / life / 1e6
                    } else {
                        0.0
                    },
                    retransmits: rtx,
                    timeouts: rto,
                }
            })
            .collect()
    }

    /// A packet of flow `fi`: data goes src → dst, ACKs dst → src.
    fn flow_packet(&mut self, fi: u32, size: u32, ecn: Ecn, payload: Payload) -> Packet {
        let id = self.counters.packets;
        self.counters.packets += 1;
        let spec = &self.flows[fi as usize].spec;
        let (src, dst) = match payload {
            Payload::Ack(_) => (spec.dst, spec.src),
            _ => (spec.src, spec.dst),
        };
        Packet {
            id,
            flow: fi,
            src,
            dst,
            size,
            ecn,
            priority: spec.priority,
            enqueued_at: SimTime::ZERO,
            payload,
        }
    }

    fn account_drops(&mut self, port: Option<PortId>) {
        for p in self.drops.drain(..) {
            self.counters.dropped_bytes += u64::from(p.size);
            if let Some(pid) = port {
                let st = &mut self.ports[pid as usize].stats;
                st.queue_drops += 1;
                st.dropped_bytes += u64::from(p.size);
            }
        }
    }

    /// A host puts `pkt` into its egress port.
    fn inject(&mut self, now: SimTime, pkt: Packet, h: &Handle<Event>) {
        self.counters.injected_bytes += u64::from(pkt.size);
        match self.host_port.get(pkt.src as usize).copied().flatten() {
            Some(pid) => self.enqueue(now, pid, pkt, h),
            None => {
                self.counters.dropped_bytes += u64::from(pkt.size);
            }
        }
    }

    fn enqueue(&mut self, now: SimTime, pid: PortId, mut pkt: Packet, h: &Handle<Event>) {
        pkt.enqueued_at = now;
        let port = &mut self.ports[pid as usize];
        port.queue.enqueue(pkt, now, &mut self.drops);
        let qb = port.queue.len_bytes();
        if qb > port.stats.max_queue_bytes {
            port.stats.max_queue_bytes = qb;
        }
        let idle = port.busy.is_none();
        if !self.drops.is_empty() {
            self.account_drops(Some(pid));
        }
        if idle {
            self.start_tx(now, pid, h);
        }
    }

    fn start_tx(&mut self, now: SimTime, pid: PortId, h: &Handle<Event>) {
        let port = &mut self.ports[pid as usize];
        let next = port.queue.dequeue(now, &mut self.drops);
        if let Some(pkt) = next {
            port.win_sojourn_ns += u128::from(now.saturating_since(pkt.enqueued_at).as_nanos());
            port.win_dequeued += 1;
            let done = port.server.departure(now, pkt.size);
            port.busy = Some(pkt);
            h.schedule_at(done, Event::TxDone(pid));
        }
        if !self.drops.is_empty() {
            self.account_drops(Some(pid));
        }
    }

    fn tx_done(&mut self, now: SimTime, pid: PortId, h: &Handle<Event>) {
        let port = &mut self.ports[pid as usize];
        let Some(pkt) = port.busy.take() else { return };
        port.stats.tx_packets += 1;
        port.stats.tx_bytes += u64::from(pkt.size);
        port.win_tx_bytes += u64::from(pkt.size);
        if pkt.ecn == Ecn::Ce {
            port.stats.ce_marked += 1;
        }
        if let Some(tap) = port.pcap.as_mut() {
            if let Err(e) = tap.record(now, &pkt) {
                port.pcap = None;
                self.pcap_error.get_or_insert_with(|| e.to_string());
            }
        }
        let lost = port.loss.as_mut().is_some_and(|l| l.drops());
        if lost {
            port.stats.wire_losses += 1;
            port.stats.dropped_bytes += u64::from(pkt.size);
            self.counters.dropped_bytes += u64::from(pkt.size);
        } else {
            let at = now + port.delay;
            port.pipe_bytes += u64::from(pkt.size);
            port.pipe.push_back((at, pkt));
            if port.pipe.len() == 1 {
                h.schedule_at(at, Event::Arrive(pid));
            }
        }
        self.start_tx(now, pid, h);
    }

    fn arrive(&mut self, now: SimTime, pid: PortId, h: &Handle<Event>) {
        let port = &mut self.ports[pid as usize];
        let Some((_, pkt)) = port.pipe.pop_front() else {
            return;
        };
        port.pipe_bytes -= u64::from(pkt.size);
        if let Some((next_at, _)) = port.pipe.front() {
            h.schedule_at(*next_at, Event::Arrive(pid));
        }
        let node = port.to;
        self.receive(now, node, pkt, h);
    }

    fn receive(&mut self, now: SimTime, node: NodeId, pkt: Packet, h: &Handle<Event>) {
        if pkt.dst == node {
            self.counters.delivered_bytes += u64::from(pkt.size);
            self.deliver_local(now, pkt, h);
            return;
        }
        let is_switch = matches!(
            self.topo.nodes.get(node as usize).map(|n| &n.kind),
            Some(NodeKind::Switch)
        );
        let cands = self.routes.candidates(node, pkt.dst);
        if !is_switch || cands.is_empty() {
            self.counters.dropped_bytes += u64::from(pkt.size);
            return;
        }
        let link = cands[ecmp_pick(pkt.flow_key(), node, cands.len())] as usize;
        let l = &self.topo.links[link];
        let pid = if l.a == node { 2 * link } else { 2 * link + 1 } as PortId;
        self.enqueue(now, pid, pkt, h);
    }

    fn deliver_local(&mut self, now: SimTime, pkt: Packet, h: &Handle<Event>) {
        let fi = pkt.flow;
        match pkt.payload {
            Payload::Data(seg) => {
                let Some(f) = self.flows.get_mut(fi as usize) else {
                    return;
                };
                let ack = f.receiver.on_segment(now, &seg, pkt.ecn == Ecn::Ce);
                if f.done_at.is_none()
                    && f.spec
                        .size
                        .is_some_and(|s| f.receiver.delivered_bytes() >= s)
                {
                    f.done_at = Some(now);
                    self.sized_remaining -= 1;
                }
                if let Some(ack) = ack {
                    self.send_ack(now, fi, ack, h);
                }
                self.arm_flow_timer(fi, h);
            }
            Payload::Ack(ack) => {
                let Some(f) = self.flows.get_mut(fi as usize) else {
                    return;
                };
                if let Some(s) = f.sender.as_mut() {
                    s.on_ack(now, &ack);
                }
                self.pump(now, fi, h);
            }
            Payload::Datagram(_) => {
                self.sockets.borrow_mut().deliver(pkt);
            }
        }
    }

    fn send_ack(&mut self, now: SimTime, fi: u32, ack: transport::AckInfo, h: &Handle<Event>) {
        let pkt = self.flow_packet(fi, TCP_IP_HEADER, Ecn::NotEct, Payload::Ack(ack));
        self.inject(now, pkt, h);
    }

    /// Lets the sender of `fi` transmit what its window and pacing allow, then re-arms its timer.
    fn pump(&mut self, now: SimTime, fi: u32, h: &Handle<Event>) {
        let ecn = if self.opts.transport.ecn {
            Ecn::Ect
        } else {
            Ecn::NotEct
        };
        loop {
            let f = &mut self.flows[fi as usize];
            let Some(s) = f.sender.as_mut() else { break };
            let Some(seg) = s.poll_transmit(now) else {
                break;
            };
            let pkt = self.flow_packet(fi, seg.len + TCP_IP_HEADER, ecn, Payload::Data(seg));
            self.inject(now, pkt, h);
        }
        self.arm_flow_timer(fi, h);
    }

    /// Keeps at most one pending timer per flow at the earliest instant anything is due. Later
    /// deadlines (the RTO moving forward on every ACK) do not reschedule: the pending event
    /// re-arms when it fires.
    fn arm_flow_timer(&mut self, fi: u32, h: &Handle<Event>) {
        let f = &mut self.flows[fi as usize];
        let st = f.sender.as_ref().and_then(|s| s.poll_timeout());
        let rt = f.receiver.poll_timeout();
        let due = match (st, rt) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(due) = due {
            if f.timer_at.is_none_or(|t| due < t) {
                f.timer_at = Some(due);
                h.schedule_at(due, Event::FlowTimer(fi));
            }
        }
    }

    fn flow_timer(&mut self, now: SimTime, fi: u32, h: &Handle<Event>) {
        let Some(f) = self.flows.get_mut(fi as usize) else {
            return;
        };
        if f.timer_at.is_some_and(|t| t <= now) {
            f.timer_at = None;
        }
        if f.receiver.poll_timeout().is_some_and(|t| t <= now) {
            if let Some(ack) = f.receiver.on_timeout(now) {
                self.send_ack(now, fi, ack, h);
            }
        }
        let f = &mut self.flows[fi as usize];
        if let Some(s) = f.sender.as_mut() {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.on_timeout(now);
            }
        }
        self.pump(now, fi, h);
    }

    fn flow_start(&mut self, now: SimTime, fi: u32, h: &Handle<Event>) {
        let cfg = self.opts.transport.clone();
        let Some(f) = self.flows.get_mut(fi as usize) else {
            return;
        };
        let cc = f.spec.cc.build(cfg.mss, cfg.init_cwnd_pkts);
        f.sender = Some(Sender::new(cfg, f.spec.size, cc, now));
        self.pump(now, fi, h);
    }

    fn sample(&mut self, now: SimTime, h: &Handle<Event>) {
        let Some(iv) = self.opts.sample_interval else {
            return;
        };
        let window = now.saturating_since(self.last_sample).as_secs_f64();
        self.last_sample = now;
        for m in &self.monitors {
            let p = &mut self.ports[m.port as usize];
            self.recorder
                .record(m.qlen, now, p.queue.len_packets() as f64);
            let qd = if p.win_dequeued > 0 {
                p.win_sojourn_ns as f64 / p.win_dequeued as f64 / 1e6
            } else {
                0.0
            };
            self.recorder.record(m.qdelay, now, qd);
            let util = if window > 0.0 && p.nominal_bps > 0 {
                p.win_tx_bytes as f64 * 8.0 / window / p.nominal_bps as f64
            } else {
                0.0
            };
            self.recorder.record(m.util, now, util);
            p.win_sojourn_ns = 0;
            p.win_dequeued = 0;
            p.win_tx_bytes = 0;
        }
        for f in &self.flows {
            let (Some(cs), Some(rs), Some(s)) = (f.cwnd_series, f.rtt_series, f.sender.as_ref())
            else {
                continue;
            };
            if f.done_at.is_some() {
                continue;
            }
            self.recorder.record(cs, now, s.cwnd() as f64);
            if let Some(srtt) = s.stats().srtt {
                self.recorder.record(rs, now, srtt.as_secs_f64() * 1e3);
            }
        }
        h.schedule_in(iv, Event::Sample);
    }
}

#[allow(clippy::too_many_arguments)]
fn build_port(
    topo: &Topology,
    li: usize,
    from: NodeId,
    to: NodeId,
    params: &PortParams,
    dir: &'static str,
    rng: &RngStreams,
    pid: PortId,
    host_queue_packets: usize,
) -> Result<Port, NetworkError> {
    let name = &topo.links[li].name;
    let mut server = params.link.build().map_err(|e| port_error(name, dir, e))?;
    let mut nominal = server.nominal_bps();
    // A host's egress port serializes at the slower of its NIC and the link.
    let queue_cfg =
        if let Some(NodeKind::Host { nic_bps }) = topo.nodes.get(from as usize).map(|n| &n.kind) {
            if *nic_bps > 0 && *nic_bps < nominal {
                server = crate::link::LinkConfig::fixed_bps(*nic_bps)
                    .build()
                    .map_err(|e| port_error(name, dir, e))?;
                nominal = *nic_bps;
            }
            crate::queue::QueueConfig::DropTail {
                limit_packets: Some(host_queue_packets),
                limit_bytes: None,
            }
        } else {
            params.queue.clone()
        };
    let mut queue = queue_cfg
        .build(rng.indexed("queue", u64::from(pid)))
        .map_err(|e| port_error(name, dir, format!("queue: {e}")))?;
    queue.set_service_rate(nominal);
    if !(0.0..=1.0).contains(&params.loss) || params.loss.is_nan() {
        return Err(port_error(
            name,
            dir,
            format!(
                "loss: expected a probability in [0, 1], got {}",
                params.loss
            ),
        ));
    }
    if !params.delay_us.is_finite() || params.delay_us < 0.0 {
        return Err(port_error(
            name,
            dir,
            format!(
                "delay_us: expected a non-negative number, got {}",
                params.delay_us
            ),
        ));
    }
    let loss = if params.loss > 0.0 {
        Some(
            LossModel::new(params.loss, rng.indexed("loss", u64::from(pid)))
                .map_err(|e| port_error(name, dir, e))?,
        )
    } else {
        None
    };
    Ok(Port {
        link: li,
        from,
        to,
        queue,
        server,
        delay: SimDuration::from_secs_f64(params.delay_us * 1e-6),
        loss,
        busy: None,
        pipe: VecDeque::new(),
        pipe_bytes: 0,
        pcap: None,
        stats: PortStats::default(),
        nominal_bps: nominal,
        win_sojourn_ns: 0,
        win_dequeued: 0,
        win_tx_bytes: 0,
    })
}

impl Model for Network {
    type Event = Event;
    fn finished(&self) -> bool {
        self.opts.stop_when_done && self.sized_total > 0 && self.sized_remaining == 0
    }

    fn handle(&mut self, now: SimTime, ev: Event, h: &Handle<Event>) {
        match ev {
            Event::TxDone(p) => self.tx_done(now, p, h),
            Event::Arrive(p) => self.arrive(now, p, h),
            Event::FlowStart(f) => self.flow_start(now, f, h),
            Event::FlowTimer(f) => self.flow_timer(now, f, h),
            Event::Sample => self.sample(now, h),
            Event::Inject(mut pkt) => {
                let id = self.counters.packets;
                self.counters.packets += 1;
                pkt.id = id;
                self.inject(now, *pkt, h);
            }
        }
    }
}
