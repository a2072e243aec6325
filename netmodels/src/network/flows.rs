//! Reliable-transport flows on the network: their specs, the sender and receiver state
//! machines at the hosts, their timers, their controllers (built by the spec's
//! [`CcFactory`], with a [`FlowWaker`] that schedules [`Event::FlowWake`]) and their records.

use std::cell::{Cell, OnceCell};
use std::fmt;
use std::rc::Rc;

use sim_core::{Handle, SimTime};
use transport::{CcFactory, FlowContext, FlowWaker, Receiver, Sender};

use super::{Network, NetworkError};
use crate::events::Event;
use crate::monitoring::FlowSeries;
use crate::packet::{Ecn, NodeId, Packet, PacketData, Payload, TCP_IP_HEADER};
use crate::topology::flow_addrs;

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
    /// Builds the flow's congestion controller (a native [`transport::CcKind`], or any
    /// [`CcFactory`], such as a CCP shim).
    pub cc: Rc<dyn CcFactory>,
    /// Strict-priority band of its packets.
    pub priority: u8,
}

/// What is wrong with a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowProblem {
    /// An endpoint is not a host.
    NotAHost,
    /// Source and destination are the same host.
    SameHost,
    /// A sized flow of zero bytes.
    ZeroSize,
}

impl fmt::Display for FlowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlowProblem::NotAHost => "src and dst must be hosts",
            FlowProblem::SameHost => "src and dst must differ",
            FlowProblem::ZeroSize => "size must be at least 1 byte",
        })
    }
}

pub(crate) struct Flow {
    spec: FlowSpec,
    /// The factory's name, recorded in results.
    cc_name: String,
    sender: Option<Sender>,
    receiver: Receiver,
    timer_at: Option<SimTime>,
    done_at: Option<SimTime>,
    series: Option<FlowSeries>,
    /// When the application stops writing (see [`Network::set_flow_stop`]); cleared once done.
    stop: Option<SimTime>,
}

/// All flows, the completion bookkeeping of sized ones, and their starts.
///
/// Starts are scheduled one at a time, so that the event queue holds one pending start rather
/// than one per future flow (100,000 for a second of web-search traffic on 2,048 hosts, which
/// made every event slower), in the order of events of scheduling them all up front:
/// - `order` lists the flows by (start, index), fixed by the first [`Flows::start_events`];
/// - one [`Event::FlowStart`] of the chain is pending at a time, for `order[wakes - 1]`; when
///   it fires the next one is scheduled, so there is still one such event per flow;
/// - before every event except a [`Event::NodeStart`] (those were scheduled before the
///   starts), the network starts every flow whose start has come, in `order`
///   ([`Network::start_due_flows`]): a flow starting at `t` starts before any other event at
///   `t`, as when its start event, scheduled first, came first.
pub(crate) struct Flows {
    flows: Vec<Flow>,
    sized_remaining: usize,
    sized_total: usize,
    order: OnceCell<Vec<u32>>,
    /// Chain events scheduled so far.
    wakes: Cell<usize>,
    /// Entries of `order` started so far.
    started: usize,
    /// The start of `order[started]`; `SimTime::MAX` when no flow waits.
    next_start: Cell<SimTime>,
}

impl Default for Flows {
    fn default() -> Self {
        Flows {
            flows: Vec::new(),
            sized_remaining: 0,
            sized_total: 0,
            order: OnceCell::new(),
            wakes: Cell::new(0),
            started: 0,
            next_start: Cell::new(SimTime::MAX),
        }
    }
}

impl Flows {
    /// Fixes the start order and schedules the first start. Only the first call schedules
    /// flows: flows added after it never start.
    pub(crate) fn start_events(&self, h: &Handle<Event>) {
        if self.order.get().is_some() {
            return;
        }
        let mut order: Vec<u32> = (0..self.flows.len() as u32).collect();
        order.sort_by_key(|&i| (self.flows[i as usize].spec.start, i));
        if let Some(&first) = order.first() {
            let at = self.flows[first as usize].spec.start;
            h.schedule_at(at, Event::FlowStart(first));
            self.wakes.set(1);
            self.next_start.set(at);
        }
        let _ = self.order.set(order);
    }

    /// True when a flow's start has come at `now` ([`Network::start_due_flows`] has work).
    #[inline]
    pub(crate) fn due(&self, now: SimTime) -> bool {
        now >= self.next_start.get()
    }

    pub(crate) fn all_sized_done(&self) -> bool {
        self.sized_total > 0 && self.sized_remaining == 0
    }
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
    /// Sending host's name (as in ports.csv and pcap file names).
    pub src_name: String,
    /// Receiving host's name.
    pub dst_name: String,
    /// Sending host's IPv4 address.
    pub src_addr: String,
    /// Receiving host's IPv4 address.
    pub dst_addr: String,
    /// Congestion control.
    pub cc: String,
    /// True when the flow's controller ever handed over to a fallback (a CCP flow whose agent
    /// stopped answering ran its datapath's native controller).
    pub cc_fell_back: bool,
    /// What the flow's controller exports about its state
    /// ([`transport::CongestionControl::exports`]), as `name=value` pairs joined by `;`, in
    /// the controller's order; empty when it exports nothing (native controllers).
    pub cc_state: String,
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
    /// The flow's completion time alone in an empty network, seconds (sized flows whose path
    /// is routable): the handshake's round trip (when on), the data path's one-way
    /// propagation delay, and the bytes on the wire (payload plus 40 header bytes per
    /// segment) at the path's slowest link. It ignores per-hop store-and-forward of one
    /// packet and slow start, so real flows take longer.
    pub ideal_fct_s: Option<f64>,
    /// `fct_s / ideal_fct_s` (empty if unfinished): the standard datacenter FCT slowdown.
    pub slowdown: Option<f64>,
}

impl Network {
    /// Adds a flow; schedule its start with [`Network::start_events`]. Returns its index.
    pub fn add_flow(&mut self, spec: FlowSpec) -> Result<u32, NetworkError> {
        let idx = self.flows.flows.len();
        let problem = if !self.topo.is_host(spec.src) || !self.topo.is_host(spec.dst) {
            Some(FlowProblem::NotAHost)
        } else if spec.src == spec.dst {
            Some(FlowProblem::SameHost)
        } else if spec.size == Some(0) {
            Some(FlowProblem::ZeroSize)
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(NetworkError::Flow { flow: idx, problem });
        }
        let series = (self.opts.record_flows && self.opts.sample_interval.is_some())
            .then(|| self.monitoring.add_flow(idx));
        if spec.size.is_some() {
            self.flows.sized_remaining += 1;
            self.flows.sized_total += 1;
        }
        self.flows.flows.push(Flow {
            receiver: Receiver::new(self.opts.transport.clone()),
            cc_name: spec.cc.name(),
            spec,
            sender: None,
            timer_at: None,
            done_at: None,
            series,
            stop: None,
        });
        Ok(idx as u32)
    }

    /// Makes flow `flow` stop writing at `stop`: at its first ACK or timer event at or after
    /// `stop` its application stops handing data to the sender, so the flow becomes a sized
    /// flow of the bytes sent so far (data in flight, lost or not, is still delivered) and
    /// completes when they are all delivered, as `iperf -t` does. Returns false for an unknown
    /// flow.
    pub fn set_flow_stop(&mut self, flow: u32, stop: SimTime) -> bool {
        match self.flows.flows.get_mut(flow as usize) {
            Some(f) => {
                f.stop = Some(stop);
                true
            }
            None => false,
        }
    }

    /// Applies flow `fi`'s stop time if it has come (see [`Network::set_flow_stop`]).
    fn apply_stop(&mut self, now: SimTime, fi: u32) {
        let f = &mut self.flows.flows[fi as usize];
        let (Some(stop), Some(s)) = (f.stop, f.sender.as_mut()) else {
            return;
        };
        if now < stop {
            return;
        }
        f.stop = None;
        let was_sized = f.spec.size.is_some();
        let size = s.end_stream(now);
        f.spec.size = Some(size);
        if !was_sized {
            self.flows.sized_total += 1;
            self.flows.sized_remaining += 1;
        }
        if f.done_at.is_none() && f.receiver.delivered_bytes() >= size {
            f.done_at = Some(now);
            self.flows.sized_remaining -= 1;
        }
    }

    /// Whether flows added from now on get cwnd and RTT series (with a sample interval).
    pub fn set_record_flows(&mut self, on: bool) {
        self.opts.record_flows = on;
    }

    /// Number of flows.
    pub fn flow_count(&self) -> usize {
        self.flows.flows.len()
    }

    /// True when every sized flow has delivered all its bytes.
    pub fn all_sized_flows_done(&self) -> bool {
        self.flows.sized_remaining == 0
    }

    /// Bytes the receiver of `flow` has delivered in order.
    pub fn flow_delivered(&self, flow: u32) -> u64 {
        self.flows
            .flows
            .get(flow as usize)
            .map_or(0, |f| f.receiver.delivered_bytes())
    }

    /// The sender of `flow`, once it has started.
    pub fn flow_sender(&self, flow: u32) -> Option<&Sender> {
        self.flows.flows.get(flow as usize)?.sender.as_ref()
    }

    /// One record per flow, as of `now`.
    pub fn flow_records(&self, now: SimTime) -> Vec<FlowRecord> {
        self.flows
            .flows
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
                let (sa, da) = flow_addrs(f.spec.src, f.spec.dst, i as u32);
                let ideal = f.spec.size.and_then(|size| self.ideal_fct(i as u32, size));
                let fct = f
                    .done_at
                    .map(|d| d.saturating_since(f.spec.start).as_secs_f64());
                FlowRecord {
                    flow: i as u32,
                    src: f.spec.src,
                    dst: f.spec.dst,
                    src_name: self.topo.nodes[f.spec.src as usize].name.clone(),
                    dst_name: self.topo.nodes[f.spec.dst as usize].name.clone(),
                    src_addr: sa.ip().to_string(),
                    dst_addr: da.ip().to_string(),
                    cc: f.cc_name.clone(),
                    cc_fell_back: f.sender.as_ref().is_some_and(|s| s.cc().fell_back()),
                    cc_state: f
                        .sender
                        .as_ref()
                        .map(|s| format_exports(&s.cc().exports()))
                        .unwrap_or_default(),
                    size_bytes: f.spec.size,
                    start_s: f.spec.start.as_secs_f64(),
                    fct_s: fct,
                    delivered_bytes: delivered,
                    goodput_mbps: if life > 0.0 {
                        delivered as f64 * 8.0 / life / 1e6
                    } else {
                        0.0
                    },
                    retransmits: rtx,
                    timeouts: rto,
                    ideal_fct_s: ideal,
                    slowdown: fct.zip(ideal).map(|(a, b)| a / b),
                }
            })
            .collect()
    }

    /// The routed path of flow `fi`'s packets from `from` to `to` (data: src → dst, ACKs the
    /// other way): total propagation delay and the slowest link's rate.
    fn path(&self, fi: u32, from: NodeId, to: NodeId) -> Option<(f64, u64)> {
        let mut probe = Packet::test(0, fi, 0);
        probe.src = from;
        probe.dst = to;
        let mut pid = self.host_port.get(from as usize).copied().flatten()?;
        let (mut delay, mut rate) = (0.0, u64::MAX);
        for _ in 0..self.ports.len() {
            let p = &self.ports[pid as usize];
            delay += p.delay().as_secs_f64();
            rate = rate.min(p.nominal_bps());
            if p.to == to {
                return Some((delay, rate));
            }
            pid = self.route(p.to, &probe)?;
        }
        None
    }

    /// See [`FlowRecord::ideal_fct_s`].
    fn ideal_fct(&self, fi: u32, size: u64) -> Option<f64> {
        let spec = &self.flows.flows.get(fi as usize)?.spec;
        let (fwd, rate) = self.path(fi, spec.src, spec.dst)?;
        let mss = u64::from(self.opts.transport.mss.max(1));
        let wire = size + size.div_ceil(mss) * u64::from(TCP_IP_HEADER);
        let mut t = fwd + wire as f64 * 8.0 / rate.max(1) as f64;
        if self.opts.transport.handshake {
            let (back, _) = self.path(fi, spec.dst, spec.src)?;
            t += fwd + back;
        }
        Some(t)
    }

    /// A packet of flow `fi`: data goes src → dst, ACKs dst → src.
    fn flow_packet(&mut self, fi: u32, size: u32, ecn: Ecn, payload: Payload) -> Packet {
        let id = self.counters.packets;
        self.counters.packets += 1;
        let spec = &self.flows.flows[fi as usize].spec;
        let (src, dst) = match payload {
            Payload::Ack(_) => (spec.dst, spec.src),
            _ => (spec.src, spec.dst),
        };
        Packet::new(PacketData {
            id,
            flow: fi,
            src,
            dst,
            size,
            ecn,
            priority: spec.priority,
            tag: 0,
            enqueued_at: SimTime::ZERO,
            payload,
        })
    }

    /// A data segment or ACK reached its host.
    pub(super) fn deliver_to_flow(&mut self, now: SimTime, pkt: Packet, h: &Handle<Event>) {
        let fi = pkt.flow;
        match pkt.payload {
            Payload::Data(seg) => {
                let Some(f) = self.flows.flows.get_mut(fi as usize) else {
                    return;
                };
                let ack = f.receiver.on_segment(now, &seg, pkt.ecn == Ecn::Ce);
                if f.done_at.is_none()
                    && f.spec
                        .size
                        .is_some_and(|s| f.receiver.delivered_bytes() >= s)
                {
                    f.done_at = Some(now);
                    self.flows.sized_remaining -= 1;
                }
                if let Some(ack) = ack {
                    self.send_ack(now, fi, ack, h);
                }
                self.arm_flow_timer(fi, h);
            }
            Payload::Ack(ack) => {
                let Some(f) = self.flows.flows.get_mut(fi as usize) else {
                    return;
                };
                if let Some(s) = f.sender.as_mut() {
                    s.on_ack(now, &ack);
                }
                self.pump(now, fi, h);
            }
            _ => {}
        }
    }

    fn send_ack(&mut self, now: SimTime, fi: u32, ack: transport::AckInfo, h: &Handle<Event>) {
        let pkt = self.flow_packet(fi, TCP_IP_HEADER, Ecn::NotEct, Payload::Ack(ack));
        self.inject(now, pkt, h);
    }

    /// Lets the sender of `fi` transmit what its window and pacing allow, then re-arms its timer.
    pub(super) fn pump(&mut self, now: SimTime, fi: u32, h: &Handle<Event>) {
        if fi as usize >= self.flows.flows.len() {
            return;
        }
        self.apply_stop(now, fi);
        let ecn = if self.opts.transport.ecn {
            Ecn::Ect
        } else {
            Ecn::NotEct
        };
        loop {
            let f = &mut self.flows.flows[fi as usize];
            let Some(s) = f.sender.as_mut() else { break };
            let Some(seg) = s.poll_transmit(now) else {
                break;
            };
            // A SYN is sent Not-ECT (as Linux does before ECN is negotiated).
            let ecn = if seg.syn { Ecn::NotEct } else { ecn };
            let pkt = self.flow_packet(fi, seg.len + TCP_IP_HEADER, ecn, Payload::Data(seg));
            self.inject(now, pkt, h);
        }
        self.arm_flow_timer(fi, h);
    }

    /// Keeps at most one pending timer per flow at the earliest instant anything is due. Later
    /// deadlines (the RTO moving forward on every ACK) do not reschedule: the pending event
    /// re-arms when it fires.
    fn arm_flow_timer(&mut self, fi: u32, h: &Handle<Event>) {
        let f = &mut self.flows.flows[fi as usize];
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

    pub(super) fn flow_timer(&mut self, now: SimTime, fi: u32, h: &Handle<Event>) {
        let Some(f) = self.flows.flows.get_mut(fi as usize) else {
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
        let f = &mut self.flows.flows[fi as usize];
        if let Some(s) = f.sender.as_mut() {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.on_timeout(now);
            }
        }
        self.pump(now, fi, h);
    }

    /// Starts, in order, every flow whose start time has come (see [`Flows`]).
    pub(super) fn start_due_flows(&mut self, now: SimTime, h: &Handle<Event>) {
        while self.flows.due(now) {
            let Some(order) = self.flows.order.get() else {
                self.flows.next_start.set(SimTime::MAX);
                return;
            };
            let fi = order[self.flows.started];
            self.flows.started += 1;
            let next = order
                .get(self.flows.started)
                .map_or(SimTime::MAX, |&i| self.flows.flows[i as usize].spec.start);
            self.flows.next_start.set(next);
            self.flow_start(now, fi, h);
        }
    }

    /// An [`Event::FlowStart`]: the flow has been started by [`Network::start_due_flows`] (or
    /// is started now, for an event not of the chain); the chain's next start is scheduled.
    pub(super) fn flow_start_event(&mut self, now: SimTime, fi: u32, h: &Handle<Event>) {
        self.flow_start(now, fi, h);
        let w = self.flows.wakes.get();
        let Some(order) = self.flows.order.get() else {
            return;
        };
        if w > 0 && order.get(w - 1) == Some(&fi) {
            if let Some(&next) = order.get(w) {
                h.schedule_at(
                    self.flows.flows[next as usize].spec.start,
                    Event::FlowStart(next),
                );
                self.flows.wakes.set(w + 1);
            }
        }
    }

    /// Starts flow `fi` (nothing if it has started).
    fn flow_start(&mut self, now: SimTime, fi: u32, h: &Handle<Event>) {
        let cfg = self.opts.transport.clone();
        let Some(f) = self.flows.flows.get_mut(fi as usize) else {
            return;
        };
        if f.sender.is_some() {
            return;
        }
        let (src, dst) = flow_addrs(f.spec.src, f.spec.dst, fi);
        let wake_h = h.clone();
        let ctx = FlowContext {
            flow: fi,
            src,
            dst,
            mss: cfg.mss,
            init_cwnd_pkts: cfg.init_cwnd_pkts,
            now,
            waker: FlowWaker::new(move || {
                let now = wake_h.now();
                wake_h.schedule_at(now, Event::FlowWake(fi));
            }),
        };
        let cc = f.spec.cc.build(&ctx);
        f.sender = Some(Sender::new(cfg, f.spec.size, cc, now));
        self.pump(now, fi, h);
    }

    /// Records each live recorded flow's cwnd and smoothed RTT at `now`.
    pub(super) fn sample_flows(&mut self, now: SimTime) {
        for f in &self.flows.flows {
            let (Some(fs), Some(s)) = (f.series, f.sender.as_ref()) else {
                continue;
            };
            if f.done_at.is_some() {
                continue;
            }
            let rec = &mut self.monitoring.recorder;
            rec.record(fs.cwnd, now, s.cwnd() as f64);
            if let Some(srtt) = s.stats().srtt {
                rec.record(fs.srtt, now, srtt.as_secs_f64() * 1e3);
            }
            rec.record(fs.delivered, now, f.receiver.delivered_bytes() as f64);
        }
    }

    pub(super) fn sample(&mut self, now: SimTime, h: &Handle<Event>) {
        let Some(iv) = self.opts.sample_interval else {
            return;
        };
        self.monitoring.sample_links(now, &mut self.ports);
        self.sample_flows(now);
        h.schedule_in(iv, Event::Sample);
    }
}

/// `name=value;name=value`, for [`FlowRecord::cc_state`].
fn format_exports(v: &[(String, f64)]) -> String {
    let mut out = String::new();
    for (i, (k, x)) in v.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&x.to_string());
    }
    out
}
