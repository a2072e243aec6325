//! The network model: output-queued [`Port`]s on every link direction, switches that route by
//! shortest path with ECMP, programmable nodes that run user code, hosts that terminate
//! reliable-transport flows and datagram sockets.
//!
//! This module holds the [`Network`] and the packet path (inject → port → arrive → forward or
//! deliver). Its submodules: `build` (ports from the topology, [`NetworkError`]), `flows`
//! (transport endpoints, their timers and [`FlowRecord`]s). Ports are [`crate::port`], the
//! sampler is [`crate::monitoring`], the events [`crate::events`], sockets
//! [`crate::sockets`], node programs [`crate::node`].
//!
//! Byte accounting holds at every instant: injected = delivered + dropped + in network
//! (queued, being serialized, propagating, or held by a node program).
//! [`Network::bytes_in_network`] measures the last.

mod build;
mod flows;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use sim_core::{Handle, Model, Recorder, SimDuration, SimTime};
use transport::TransportConfig;

pub use build::{Direction, NetworkError, PortProblem};
pub use flows::{FlowProblem, FlowRecord, FlowSpec};

pub use crate::events::{Event, PortId};
pub use crate::port::{Port, PortStats};

use crate::monitoring::Monitoring;
use crate::node::{NodeCtx, NodeProgram};
use crate::packet::{NodeId, Packet, Payload};
use crate::pcap::PcapTap;
use crate::sockets::{SimRuntime, SocketTable};
use crate::topology::{ecmp_pick, Routes, Topology};

/// Network-wide byte accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes hosts put into their egress ports.
    pub injected_bytes: u64,
    /// Bytes that reached their destination host.
    pub delivered_bytes: u64,
    /// Bytes dropped by queues, lost on the wire, unroutable, or dropped by a node program.
    pub dropped_bytes: u64,
    /// Packets created.
    pub packets: u64,
}

/// Network options that are not part of the topology.
#[derive(Clone, Debug, Default)]
pub struct NetworkOptions {
    /// Transport parameters for every flow.
    pub transport: TransportConfig,
    /// Interval of the time-series sampler (`None`: no time series).
    pub sample_interval: Option<SimDuration>,
    /// Ports the sampler records queue, delay and utilization for: `<link>` (its forward
    /// port, a → b), `<link>:forward` or `<link>:reverse`.
    pub monitor_links: Vec<String>,
    /// Whether to record each flow's cwnd and RTT in the time series.
    pub record_flows: bool,
    /// Directory for pcap files, and the links (by name) to capture (both directions).
    pub pcap: Option<(PathBuf, Vec<String>)>,
    /// Report the model finished once every sized flow has completed (ends the run early).
    /// Without any sized flow this has no effect: bulk flows never complete.
    pub stop_when_done: bool,
}

/// What a node does with a packet addressed to another node (see [`Network::receive`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transit {
    /// A host: drops it.
    Drop,
    /// A switch: forwards it by the routes.
    Forward,
    /// A middlebox: hands it to its program.
    Program,
}

/// The whole simulated network: a [`Model`] for [`sim_core::Simulation`].
pub struct Network {
    topo: Topology,
    routes: Routes,
    ports: Vec<Port>,
    /// Capture taps, by port (boxed: 8 bytes for a port without one, read on every
    /// transmission).
    taps: Vec<Option<Box<PcapTap>>>,
    /// Egress port of each host (hosts have exactly one link), `None` for other nodes.
    host_port: Vec<Option<PortId>>,
    /// The program of each programmable node (taken out while it runs).
    programs: Vec<Option<Box<dyn NodeProgram>>>,
    /// What each node does with a packet addressed to another node: one byte per node, read
    /// at every hop (the topology's node records, with names and programs, are much larger).
    transit: Vec<Transit>,
    flows: flows::Flows,
    sockets: Rc<RefCell<SocketTable>>,
    opts: NetworkOptions,
    counters: Counters,
    drops: Vec<Packet>,
    monitoring: Monitoring,
    pcap_error: Option<String>,
}

impl Network {
    /// Schedules every node program's start, the flows' starts and the first metrics sample.
    /// Call once, after adding the flows: flows added later never start. (Flow starts are
    /// scheduled one at a time, each when the previous one fires; a flow starts before any
    /// other model event at its start time, as if all had been scheduled here.)
    pub fn start_events(&self, h: &Handle<Event>) {
        for (n, p) in self.programs.iter().enumerate() {
            if p.is_some() {
                h.schedule_at(SimTime::ZERO, Event::NodeStart(n as NodeId));
            }
        }
        self.flows.start_events(h);
        if let Some(iv) = self.opts.sample_interval {
            h.schedule_in(iv, Event::Sample);
        }
    }

    /// A runtime for tasks that act as host `host` of this network: its clock is the
    /// simulation's, its sockets bind on the host's IPv4 address. `None` if `host` is not a
    /// host.
    pub fn runtime(&self, h: &Handle<Event>, host: NodeId) -> Option<SimRuntime> {
        self.topo
            .is_host(host)
            .then(|| SimRuntime::new(h.clone(), self.sockets.clone(), host))
    }

    /// Replaces the program of a programmable node (one built from the topology, or added
    /// with [`Topology::add_middlebox`]). Returns `false`, changing nothing, if `node` is not
    /// programmable. Call before the simulation starts.
    pub fn set_program(&mut self, node: NodeId, program: Box<dyn NodeProgram>) -> bool {
        match self.programs.get_mut(node as usize) {
            Some(slot @ Some(_)) => {
                *slot = Some(program);
                true
            }
            _ => false,
        }
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// The ports (2 per link).
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    pub(crate) fn port_mut(&mut self, pid: PortId) -> &mut Port {
        &mut self.ports[pid as usize]
    }

    /// Byte accounting so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Bytes currently queued, serializing, propagating, or held by node programs.
    pub fn bytes_in_network(&self) -> u64 {
        self.ports.iter().map(Port::bytes_in_flight).sum::<u64>()
            + self
                .programs
                .iter()
                .flatten()
                .map(|p| p.held_bytes())
                .sum::<u64>()
    }

    /// The recorded time series.
    pub fn recorder(&self) -> &Recorder {
        &self.monitoring.recorder
    }

    /// The first error writing a pcap file, if any (capture stops on that port after it).
    pub fn pcap_error(&self) -> Option<&str> {
        self.pcap_error.as_deref()
    }

    /// The ports leaving `node`, in link order.
    pub fn out_ports(&self, node: NodeId) -> Vec<PortId> {
        self.topo
            .links
            .iter()
            .enumerate()
            .filter_map(|(li, l)| {
                if l.a == node {
                    Some((2 * li) as PortId)
                } else if l.b == node {
                    Some((2 * li + 1) as PortId)
                } else {
                    None
                }
            })
            .collect()
    }

    /// The port `node` forwards `pkt` out of by the routes (ECMP by flow), if any.
    pub fn route(&self, node: NodeId, pkt: &Packet) -> Option<PortId> {
        let ports = self.routes.candidate_ports(node, pkt.dst);
        if ports.is_empty() {
            return None;
        }
        Some(ports[ecmp_pick(pkt.flow_key(), node, ports.len())])
    }

    fn drain_drops(&mut self) {
        for p in self.drops.drain(..) {
            self.counters.dropped_bytes += u64::from(p.size);
        }
    }

    pub(crate) fn drop_packet(&mut self, pkt: Packet) {
        self.counters.dropped_bytes += u64::from(pkt.size);
    }

    /// Counts a packet a node program made (see [`NodeCtx::originate`]) as injected and gives
    /// it a fresh id.
    pub(crate) fn count_originated(&mut self, pkt: &mut Packet) {
        pkt.id = self.counters.packets;
        self.counters.packets += 1;
        self.counters.injected_bytes += u64::from(pkt.size);
    }

    /// A host puts `pkt` into its egress port.
    fn inject(&mut self, now: SimTime, pkt: Packet, h: &Handle<Event>) {
        self.counters.injected_bytes += u64::from(pkt.size);
        match self.host_port.get(pkt.src as usize).copied().flatten() {
            Some(pid) => self.enqueue(now, pid, pkt, h),
            None => self.drop_packet(pkt),
        }
    }

    #[inline]
    pub(crate) fn enqueue(&mut self, now: SimTime, pid: PortId, pkt: Packet, h: &Handle<Event>) {
        let done = self.ports[pid as usize].enqueue(now, pkt, &mut self.drops);
        if !self.drops.is_empty() {
            self.drain_drops();
        }
        if let Some(at) = done {
            h.schedule_keyed(at, Event::TxDone(pid), pid);
        }
    }

    fn tx_done(&mut self, now: SimTime, pid: PortId, h: &Handle<Event>) {
        let port = &mut self.ports[pid as usize];
        if !port.is_busy() {
            return;
        }
        let tap = &mut self.taps[pid as usize];
        let pcap_error = &mut self.pcap_error;
        let out = port.complete_tx(now, &mut self.drops, |pkt| {
            if let Some(t) = tap.as_mut() {
                if let Err(e) = t.record(now, pkt) {
                    *tap = None;
                    pcap_error.get_or_insert_with(|| e.to_string());
                }
            }
        });
        if let Some(lost) = out.wire_lost_bytes {
            self.counters.dropped_bytes += u64::from(lost);
        }
        if let Some(at) = out.arrival_due {
            h.schedule_keyed(at, Event::Arrive(pid), pid);
        }
        if let Some(at) = out.next_tx_done {
            h.schedule_keyed(at, Event::TxDone(pid), pid);
        }
        if !self.drops.is_empty() {
            self.drain_drops();
        }
    }

    fn arrive(&mut self, now: SimTime, pid: PortId, h: &Handle<Event>) {
        let port = &mut self.ports[pid as usize];
        let Some((pkt, next)) = port.pop_arrival() else {
            return;
        };
        if let Some(at) = next {
            h.schedule_keyed(at, Event::Arrive(pid), pid);
        }
        let node = port.to;
        self.receive(now, node, pid, pkt, h);
    }

    fn receive(
        &mut self,
        now: SimTime,
        node: NodeId,
        in_port: PortId,
        pkt: Packet,
        h: &Handle<Event>,
    ) {
        if pkt.dst == node {
            self.counters.delivered_bytes += u64::from(pkt.size);
            self.deliver_local(now, pkt, h);
            return;
        }
        match self.transit.get(node as usize) {
            Some(Transit::Forward) => match self.route(node, &pkt) {
                Some(pid) => self.enqueue(now, pid, pkt, h),
                None => self.drop_packet(pkt),
            },
            Some(Transit::Program) => {
                self.run_program(node, now, h, |prog, ctx| {
                    prog.on_packet(now, in_port, pkt, ctx)
                });
            }
            _ => self.drop_packet(pkt),
        }
    }

    /// Runs `f` on `node`'s program with a context on this network.
    fn run_program(
        &mut self,
        node: NodeId,
        now: SimTime,
        h: &Handle<Event>,
        f: impl FnOnce(&mut dyn NodeProgram, &mut NodeCtx<'_>),
    ) {
        let Some(mut prog) = self.programs.get_mut(node as usize).and_then(Option::take) else {
            return;
        };
        let mut ctx = NodeCtx {
            net: self,
            node,
            now,
            h,
        };
        f(&mut *prog, &mut ctx);
        self.programs[node as usize] = Some(prog);
    }

    fn deliver_local(&mut self, now: SimTime, pkt: Packet, h: &Handle<Event>) {
        match pkt.payload {
            Payload::Data(_) | Payload::Ack(_) => self.deliver_to_flow(now, pkt, h),
            Payload::Datagram(_) | Payload::Raw(_) => self.sockets.borrow_mut().deliver(pkt),
        }
    }
}

impl Model for Network {
    type Event = Event;
    fn finished(&self) -> bool {
        self.opts.stop_when_done && self.flows.all_sized_done()
    }

    /// Packet events load their port, which in a large fabric is usually out of cache: they are
    /// scheduled keyed by it, and it is loaded while the event before them is handled.
    #[inline]
    fn prefetch(&self, port: u32) {
        if let Some(port) = self.ports.get(port as usize) {
            sim_core::prefetch(port);
        }
    }

    fn handle(&mut self, now: SimTime, ev: Event, h: &Handle<Event>) {
        if self.flows.due(now) && !matches!(ev, Event::NodeStart(_)) {
            self.start_due_flows(now, h);
        }
        match ev {
            Event::TxDone(p) => self.tx_done(now, p, h),
            Event::Arrive(p) => self.arrive(now, p, h),
            Event::FlowStart(f) => self.flow_start_event(now, f, h),
            Event::FlowTimer(f) => self.flow_timer(now, f, h),
            Event::FlowWake(f) => self.pump(now, f, h),
            Event::NodeStart(n) => self.run_program(n, now, h, |p, ctx| p.on_start(now, ctx)),
            Event::NodeTimer { node, token } => {
                self.run_program(node, now, h, |p, ctx| p.on_timer(now, token, ctx))
            }
            Event::Sample => self.sample(now, h),
            Event::Inject(mut pkt) => {
                let id = self.counters.packets;
                self.counters.packets += 1;
                pkt.id = id;
                self.inject(now, pkt, h);
            }
        }
    }
}
