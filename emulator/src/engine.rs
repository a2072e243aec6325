//! The sans-IO core. [`Engine`] holds one [`Port`] per link direction and the simulator's
//! routes; it is told `now` and the packets hosts sent, and hands back the packets due at a
//! host's TUN device with their ideal arrival instants. It never reads a clock: [`Pump`] pairs
//! it with a [`Clock`] and measures how late each write was ([`TimingStats`]).
//!
//! Events inside the network are replayed in global time order at their exact instants: the
//! port with the earliest due event is polled at that instant, and a packet reaching a switch
//! is enqueued on the next port at its arrival instant, not at the (later) time of the call.
//! So the schedule a packet follows is the one the simulator would compute for the same
//! arrivals, however late the wall-clock loop wakes up.

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use netmodels::monitoring::{parse_port_ref, port_name, series};
use netmodels::topology::{ecmp_pick, node_for_ip, Routes, Topology};
use netmodels::{Ecn, NodeId, Packet, PacketData, Payload, PcapTap, Port, PortStats};
use sim_core::{Recorder, SeriesId, SimDuration, SimTime};

use crate::clock::Clock;
use crate::config::{build_ports, EmulatorConfig};
use crate::error::EmulatorError;
use crate::ipv4::{self, Malformed};

/// A packet due at a host's TUN device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The destination host.
    pub host: NodeId,
    /// The instant the packet reached the host in the ideal schedule.
    pub due: SimTime,
    /// The IP packet (its ECN field set to CE if a queue marked it).
    pub packet: Bytes,
}

/// What the engine saw beyond the per-port counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineCounters {
    /// Packets read from hosts.
    pub rx_packets: u64,
    /// Bytes read from hosts.
    pub rx_bytes: u64,
    /// Packets that were not IPv4 (IPv6 neighbour discovery, garbage): dropped.
    pub not_ipv4: u64,
    /// IPv4 packets with inconsistent lengths: dropped.
    pub malformed: u64,
    /// Packets to an address that is no host of the topology: dropped.
    pub unknown_dst: u64,
    /// Packets with no route to their destination (or from a host without a link): dropped.
    pub no_route: u64,
    /// Packets handed to their destination host.
    pub delivered_packets: u64,
    /// Bytes handed to their destination host.
    pub delivered_bytes: u64,
    /// Pcap records that could not be written.
    pub pcap_errors: u64,
}

/// Per-port counters as `ports.csv` holds them (the same columns as a simulated run's).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PortRow {
    /// `<link>:<forward|reverse>`.
    pub port: String,
    /// The link's name.
    pub link: String,
    /// `forward` or `reverse`.
    pub direction: &'static str,
    /// Sending node's name.
    pub from: String,
    /// Receiving node's name.
    pub to: String,
    /// Nominal rate.
    pub rate_bps: u64,
    /// Packets that finished serialization.
    pub tx_packets: u64,
    /// Bytes that finished serialization.
    pub tx_bytes: u64,
    /// Queue drops.
    pub queue_drops: u64,
    /// Wire losses.
    pub wire_losses: u64,
    /// CE marks.
    pub ce_marked: u64,
    /// Largest queue occupancy in bytes.
    pub max_queue_bytes: u64,
}

struct Monitor {
    port: usize,
    qlen: SeriesId,
    qdelay: SeriesId,
    sojourn: SeriesId,
    util: SeriesId,
}

/// The emulated network: ports, routes, taps, monitors.
pub struct Engine {
    topo: Topology,
    routes: Routes,
    ports: Vec<Port>,
    host_port: Vec<Option<usize>>,
    taps: Vec<Option<PcapTap>>,
    /// Added to engine time in pcap timestamps (the Unix time of the engine's zero).
    pcap_epoch: SimDuration,
    drops: Vec<Packet>,
    arrived: Vec<(SimTime, Packet)>,
    counters: EngineCounters,
    next_id: u64,
    last_now: SimTime,
    recorder: Recorder,
    monitors: Vec<Monitor>,
    interval: SimDuration,
    next_sample: Option<SimTime>,
    last_sample: SimTime,
}

impl Engine {
    /// An engine for `cfg` (validated here), with time zero at the start of the emulation.
    /// Pcap files, if any, are created now; their timestamps are engine time plus
    /// `pcap_epoch`.
    pub fn new(cfg: &EmulatorConfig, pcap_epoch: SimDuration) -> Result<Engine, EmulatorError> {
        let topo = cfg.validate()?;
        let ports = build_ports(&topo, cfg.seed)?;
        let routes = Routes::compute(&topo);
        let mut host_port = vec![None; topo.nodes.len()];
        for (i, p) in ports.iter().enumerate() {
            if topo.is_host(p.from) && host_port[p.from as usize].is_none() {
                host_port[p.from as usize] = Some(i);
            }
        }
        let mut taps: Vec<Option<PcapTap>> = (0..ports.len()).map(|_| None).collect();
        if let Some((dir, names)) = &cfg.pcap {
            for (i, p) in ports.iter().enumerate() {
                let l = &topo.links[p.link];
                if names.iter().any(|n| n == &l.name) {
                    let name = format!(
                        "{}-{}-{}.pcap",
                        l.name, topo.nodes[p.from as usize].name, topo.nodes[p.to as usize].name
                    )
                    .replace(['/', '\\', '\0'], "_")
                    .replace("..", "__");
                    let path: PathBuf = dir.join(name);
                    taps[i] = Some(PcapTap::create(&path).map_err(|e| EmulatorError::Build {
                        field: "pcap".into(),
                        message: e.to_string(),
                    })?);
                }
            }
        }
        let mut recorder = Recorder::new();
        let mut monitors = Vec::new();
        for entry in &cfg.monitor_links {
            if let Ok((name, reverse)) = parse_port_ref(entry) {
                if let Some(li) = topo.links.iter().position(|l| l.name == name) {
                    let s = |k: &str| series::name(k, entry);
                    monitors.push(Monitor {
                        port: 2 * li + usize::from(reverse),
                        qlen: recorder.series(&s(series::QLEN_PKTS)),
                        qdelay: recorder.series(&s(series::QDELAY_MS)),
                        sojourn: recorder.series(&s(series::SOJOURN_MS)),
                        util: recorder.series(&s(series::UTIL)),
                    });
                }
            }
        }
        let next_sample = (!monitors.is_empty()).then_some(SimTime::ZERO + cfg.sample_interval);
        Ok(Engine {
            topo,
            routes,
            ports,
            host_port,
            taps,
            pcap_epoch,
            drops: Vec::new(),
            arrived: Vec::new(),
            counters: EngineCounters::default(),
            next_id: 0,
            last_now: SimTime::ZERO,
            recorder,
            monitors,
            interval: cfg.sample_interval,
            next_sample,
            last_sample: SimTime::ZERO,
        })
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }
    /// The ports (link `l` has ports `2l`, a → b, and `2l + 1`).
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }
    /// The counters of every port, in port order.
    pub fn port_stats(&self) -> Vec<PortStats> {
        self.ports.iter().map(|p| p.stats).collect()
    }
    /// The engine's own counters.
    pub fn counters(&self) -> EngineCounters {
        self.counters
    }
    /// The time series recorded so far.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Per-port rows as a simulated run writes them to `ports.csv`.
    pub fn port_rows(&self) -> Vec<PortRow> {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let link = &self.topo.links[p.link];
                PortRow {
                    port: port_name(&link.name, i % 2 == 1),
                    link: link.name.clone(),
                    direction: if i % 2 == 0 { "forward" } else { "reverse" },
                    from: self.topo.nodes[p.from as usize].name.clone(),
                    to: self.topo.nodes[p.to as usize].name.clone(),
                    rate_bps: p.nominal_bps(),
                    tx_packets: p.stats.tx_packets,
                    tx_bytes: p.stats.tx_bytes,
                    queue_drops: p.stats.queue_drops,
                    wire_losses: p.stats.wire_losses,
                    ce_marked: p.stats.ce_marked,
                    max_queue_bytes: p.stats.max_queue_bytes,
                }
            })
            .collect()
    }

    /// The earliest instant something is due inside the network (a transmission completes, a
    /// packet arrives somewhere, a sample is taken); `None` when idle.
    pub fn next_wakeup(&self) -> Option<SimTime> {
        let ports = self.ports.iter().filter_map(Port::next_wakeup).min();
        match (ports, self.next_sample) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Replays every event due by `now`, in time order; packets that reach their destination
    /// host are appended to `out` with their arrival instants.
    pub fn advance(&mut self, now: SimTime, out: &mut Vec<Delivery>) {
        let now = now.max(self.last_now);
        self.last_now = now;
        loop {
            let mut best: Option<(SimTime, usize)> = None;
            for (i, p) in self.ports.iter().enumerate() {
                if let Some(t) = p.next_wakeup() {
                    if t <= now && best.is_none_or(|(b, _)| t < b) {
                        best = Some((t, i));
                    }
                }
            }
            if let Some(s) = self.next_sample.filter(|s| *s <= now) {
                if best.is_none_or(|(b, _)| s <= b) {
                    self.sample(s);
                    continue;
                }
            }
            let Some((t, i)) = best else { break };
            let tap = &mut self.taps[i];
            let epoch = self.pcap_epoch;
            let mut pcap_errors = 0;
            let port = &mut self.ports[i];
            while let Some(a) = port.poll(t, &mut self.drops, |p| {
                if let Some(tap) = tap.as_mut() {
                    if tap.record(t + epoch, p).is_err() {
                        pcap_errors += 1;
                    }
                }
            }) {
                self.arrived.push(a);
            }
            self.counters.pcap_errors += pcap_errors;
            let to = self.ports[i].to;
            self.drops.clear();
            let mut arrived = std::mem::take(&mut self.arrived);
            for (at, pkt) in arrived.drain(..) {
                self.forward(at, to, pkt, out);
            }
            self.arrived = arrived;
        }
    }

    fn forward(&mut self, at: SimTime, node: NodeId, mut pkt: Packet, out: &mut Vec<Delivery>) {
        if self.topo.is_host(node) {
            if node != pkt.dst {
                self.counters.no_route += 1;
                return;
            }
            let Payload::Raw(bytes) =
                std::mem::replace(&mut pkt.payload, Payload::Raw(Bytes::new()))
            else {
                return;
            };
            let packet = if pkt.ecn == Ecn::Ce && pkt.tag != 3 {
                let mut b = BytesMut::from(&bytes[..]);
                ipv4::set_ce(&mut b);
                b.freeze()
            } else {
                bytes
            };
            self.counters.delivered_packets += 1;
            self.counters.delivered_bytes += packet.len() as u64;
            out.push(Delivery {
                host: node,
                due: at,
                packet,
            });
            return;
        }
        let cands = self.routes.candidate_ports(node, pkt.dst);
        if cands.is_empty() {
            self.counters.no_route += 1;
            return;
        }
        let p = cands[ecmp_pick(pkt.flow_key(), node, cands.len())] as usize;
        self.ports[p].enqueue(at, pkt, &mut self.drops);
        self.drops.clear();
    }

    /// Hands the IP packet `bytes` that host `host` sent at `now` to the network (after
    /// replaying everything due by `now`; deliveries that became due go to `out`). Packets
    /// that are not IPv4, are malformed, or go nowhere are dropped and counted.
    pub fn ingress(&mut self, now: SimTime, host: NodeId, bytes: Bytes, out: &mut Vec<Delivery>) {
        self.advance(now, out);
        let now = self.last_now;
        self.counters.rx_packets += 1;
        self.counters.rx_bytes += bytes.len() as u64;
        let info = match ipv4::parse(&bytes) {
            Ok(i) => i,
            Err(Malformed::NotIpv4) => {
                self.counters.not_ipv4 += 1;
                return;
            }
            Err(Malformed::BadLength) => {
                self.counters.malformed += 1;
                return;
            }
        };
        let Some(dst) = node_for_ip(info.dst).filter(|d| self.topo.is_host(*d)) else {
            self.counters.unknown_dst += 1;
            return;
        };
        let Some(port) = self.host_port.get(host as usize).copied().flatten() else {
            self.counters.no_route += 1;
            return;
        };
        if dst == host {
            self.counters.no_route += 1;
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let pkt = Packet::new(PacketData {
            id,
            flow: info.flow,
            src: host,
            dst,
            size: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
            ecn: info.ecn,
            priority: 0,
            tag: u32::from(info.ecn == Ecn::Ce) * 3,
            enqueued_at: now,
            payload: Payload::Raw(bytes),
        });
        self.ports[port].enqueue(now, pkt, &mut self.drops);
        self.drops.clear();
        // A zero-delay, zero-time path can make the packet due at once.
        self.advance(now, out);
    }

    fn sample(&mut self, now: SimTime) {
        let window = now.saturating_since(self.last_sample).as_secs_f64();
        self.last_sample = now;
        self.next_sample = Some(now + self.interval);
        for m in &self.monitors {
            let p = &mut self.ports[m.port];
            self.recorder.record(m.qlen, now, p.queue_packets() as f64);
            let w = p.take_window();
            if p.nominal_bps() > 0 {
                let qd = p.queue_bytes() as f64 * 8.0 / p.nominal_bps() as f64 * 1e3;
                self.recorder.record(m.qdelay, now, qd);
            }
            if w.dequeued > 0 {
                let sj = w.sojourn_ns as f64 / w.dequeued as f64 / 1e6;
                self.recorder.record(m.sojourn, now, sj);
            }
            let util = if window > 0.0 && p.nominal_bps() > 0 {
                w.tx_bytes as f64 * 8.0 / window / p.nominal_bps() as f64
            } else {
                0.0
            };
            self.recorder.record(m.util, now, util);
        }
    }

    /// Flushes the pcap files.
    pub fn flush_pcaps(&mut self) -> Result<(), EmulatorError> {
        for t in self.taps.iter_mut().flatten() {
            t.flush()
                .map_err(|e| EmulatorError::Results(format!("pcap: {e}")))?;
        }
        Ok(())
    }
}

/// Departure timing errors: how much later than its ideal arrival instant each packet was
/// written to its host's TUN device.
#[derive(Clone, Debug, Default)]
pub struct TimingStats {
    errors_ns: Vec<u64>,
    /// Samples not kept once [`TimingStats::MAX_SAMPLES`] were reached.
    pub overflow: u64,
}

/// A summary of [`TimingStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct TimingSummary {
    /// Packets measured.
    pub count: u64,
    /// Median lateness in nanoseconds.
    pub median_ns: u64,
    /// 99th percentile lateness in nanoseconds.
    pub p99_ns: u64,
    /// Largest lateness in nanoseconds.
    pub max_ns: u64,
}

impl TimingStats {
    /// Samples kept (about 160 MB); later ones only count in `overflow`.
    pub const MAX_SAMPLES: usize = 20_000_000;

    /// Records one write at `actual` of a packet due at `due`.
    pub fn record(&mut self, due: SimTime, actual: SimTime) {
        if self.errors_ns.len() < Self::MAX_SAMPLES {
            self.errors_ns.push(actual.saturating_since(due).as_nanos());
        } else {
            self.overflow += 1;
        }
    }

    /// The raw samples, in write order.
    pub fn samples(&self) -> &[u64] {
        &self.errors_ns
    }

    /// Median, p99 and maximum (zeros when empty).
    pub fn summary(&self) -> TimingSummary {
        let mut v = self.errors_ns.clone();
        if v.is_empty() {
            return TimingSummary::default();
        }
        v.sort_unstable();
        let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
        TimingSummary {
            count: v.len() as u64,
            median_ns: q(0.5),
            p99_ns: q(0.99),
            max_ns: v[v.len() - 1],
        }
    }
}

/// What was written to one host's device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Packets written.
    pub packets: u64,
    /// Bytes written.
    pub bytes: u64,
    /// When the first was written.
    pub first: SimTime,
    /// When the last was written.
    pub last: SimTime,
}

impl Written {
    /// The rate of the writes in bit/s: the bytes after the first over the time from the
    /// first to the last (0 with fewer than two writes).
    pub fn rate_bps(&self, first_bytes: u64) -> f64 {
        let d = self.last.saturating_since(self.first).as_secs_f64();
        if self.packets < 2 || d <= 0.0 {
            return 0.0;
        }
        self.bytes.saturating_sub(first_bytes) as f64 * 8.0 / d
    }
}

/// One turn of the timing loop at a time: the engine, a clock, and the deliveries waiting to
/// be written. The I/O thread runs it on the real clock; tests run it on a fake one.
pub struct Pump<C: Clock> {
    /// The clock.
    pub clock: C,
    /// The engine.
    pub engine: Engine,
    /// Lateness of every write.
    pub timing: TimingStats,
    /// Deliveries that could not be written (the device refused them).
    pub write_failures: u64,
    /// Per host (by node id): bytes written to it and the instants of the first and the
    /// last write.
    pub written: Vec<Written>,
    pending: Vec<Delivery>,
}

impl<C: Clock> Pump<C> {
    /// A pump driving `engine` on `clock`.
    pub fn new(engine: Engine, clock: C) -> Self {
        Pump {
            clock,
            engine,
            timing: TimingStats::default(),
            write_failures: 0,
            written: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Host `host` sent `packet`: it enters the network now.
    pub fn ingress(&mut self, host: NodeId, packet: Bytes) {
        let now = self.clock.now();
        self.engine.ingress(now, host, packet, &mut self.pending);
    }

    /// Replays everything due by now and hands each due packet to `write` (which returns
    /// whether the packet was written), recording its lateness. Returns when to call again.
    pub fn turn(&mut self, mut write: impl FnMut(NodeId, &[u8]) -> bool) -> Option<SimTime> {
        let now = self.clock.now();
        self.engine.advance(now, &mut self.pending);
        for d in self.pending.drain(..) {
            let at = self.clock.now();
            if write(d.host, &d.packet) {
                self.timing.record(d.due, at);
                let h = d.host as usize;
                if self.written.len() <= h {
                    self.written.resize(h + 1, Written::default());
                }
                let w = &mut self.written[h];
                if w.packets == 0 {
                    w.first = at;
                }
                w.last = at;
                w.packets += 1;
                w.bytes += d.packet.len() as u64;
            } else {
                self.write_failures += 1;
            }
        }
        self.engine.next_wakeup()
    }
}
