//! Building a [`Network`] from a [`Topology`]: one [`Port`] per link direction, pcap taps,
//! monitors, node programs; and the typed [`NetworkError`].

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use sim_core::{RngStreams, SimDuration};

use super::{flows, Counters, Network, NetworkOptions, PortId, Transit};
use crate::link::{LinkConfig, LinkError, LossError, LossModel};
use crate::monitoring::Monitoring;
use crate::packet::NodeId;
use crate::pcap::{PcapError, PcapTap};
use crate::port::Port;
use crate::queue::QueueConfigError;
use crate::sockets::SocketTable;
use crate::topology::{NodeKind, PortParams, Routes, Topology, TopologyError};

/// A direction of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the link's `a` end to its `b` end.
    Forward,
    /// From `b` to `a`.
    Reverse,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
        })
    }
}

/// What is wrong with one direction of a link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortProblem {
    /// The link server (rate or trace) is invalid.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The queue discipline is invalid.
    #[error("queue: {0}")]
    Queue(#[from] QueueConfigError),
    /// The loss probability is invalid.
    #[error(transparent)]
    Loss(#[from] LossError),
    /// The delay is negative or not a number.
    #[error("delay_us: expected a non-negative number, got {0}")]
    Delay(f64),
    /// The burst release period is not a positive number.
    #[error("burst_release_us: expected a positive number of microseconds, got {0}")]
    BurstRelease(f64),
    /// A host has more than one link.
    #[error("a host may have only one link")]
    HostLinks,
    /// A middlebox program's parameters are invalid.
    #[error("middlebox program: {0}")]
    Program(String),
}

/// Errors building a network or adding flows to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The topology is malformed.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A port's parameters are invalid.
    #[error("link {link} ({dir}): {problem}")]
    Port {
        /// The link's name.
        link: String,
        /// Which direction.
        dir: Direction,
        /// What is wrong.
        #[source]
        problem: PortProblem,
    },
    /// `monitor_links` names a port the topology does not have.
    #[error("monitor_links: no port `{0}` (expected `<link>`, `<link>:forward` or `<link>:reverse` of an existing link)")]
    NoSuchLink(String),
    /// A flow is invalid.
    #[error("flow {flow}: {problem}")]
    Flow {
        /// Index of the flow.
        flow: usize,
        /// What is wrong.
        problem: flows::FlowProblem,
    },
    /// A pcap file could not be created.
    #[error("pcap for link {link}: {source}")]
    Pcap {
        /// The link's name.
        link: String,
        /// The cause.
        #[source]
        source: PcapError,
    },
}

fn port_error(link: &str, dir: Direction, problem: impl Into<PortProblem>) -> NetworkError {
    NetworkError::Port {
        link: link.into(),
        dir,
        problem: problem.into(),
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
        let mut taps = Vec::with_capacity(topo.links.len() * 2);
        let mut host_port = vec![None; topo.nodes.len()];
        for (li, l) in topo.links.iter().enumerate() {
            for (dir, from, to, params) in [
                (Direction::Forward, l.a, l.b, &l.ab),
                (Direction::Reverse, l.b, l.a, &l.ba),
            ] {
                let pid = ports.len() as PortId;
                let p = build_port(&topo, li, from, to, params, dir, rng, pid)?;
                let largest =
                    u64::from(opts.transport.mss) + u64::from(crate::packet::TCP_IP_HEADER);
                params
                    .queue
                    .check_fits(largest)
                    .map_err(|e| port_error(&l.name, dir, e))?;
                let mut tap = None;
                if let Some((dir_path, links)) = &opts.pcap {
                    if links.iter().any(|n| n == &l.name) {
                        let name = format!(
                            "{}-{}-{}.pcap",
                            l.name, topo.nodes[from as usize].name, topo.nodes[to as usize].name
                        );
                        // Names come from the topology, which accepts any string: keep the
                        // file inside the capture directory.
                        let name = name.replace(['/', '\\', '\0'], "_").replace("..", "__");
                        tap = Some(Box::new(PcapTap::create(dir_path.join(name)).map_err(
                            |source| NetworkError::Pcap {
                                link: l.name.clone(),
                                source,
                            },
                        )?));
                    }
                }
                if topo.is_host(from) {
                    if host_port[from as usize].is_some() {
                        return Err(port_error(&l.name, dir, PortProblem::HostLinks));
                    }
                    host_port[from as usize] = Some(pid);
                }
                ports.push(p);
                taps.push(tap);
            }
        }
        let mut programs: Vec<Option<Box<dyn crate::node::NodeProgram>>> = Vec::new();
        for (n, node) in topo.nodes.iter().enumerate() {
            if let NodeKind::Middlebox { program } = &node.kind {
                if let Err(e) = program.validate() {
                    let link = topo
                        .links
                        .iter()
                        .find(|l| l.a == n as NodeId || l.b == n as NodeId)
                        .map_or_else(|| node.name.clone(), |l| l.name.clone());
                    return Err(port_error(
                        &link,
                        Direction::Forward,
                        PortProblem::Program(e),
                    ));
                }
                if programs.len() <= n {
                    programs.resize_with(topo.nodes.len(), || None);
                }
                programs[n] = Some(program.build());
            }
        }
        let transit = topo
            .nodes
            .iter()
            .map(|n| match n.kind {
                NodeKind::Host { .. } => Transit::Drop,
                NodeKind::Switch => Transit::Forward,
                NodeKind::Middlebox { .. } => Transit::Program,
            })
            .collect();
        let mut monitoring = Monitoring::new();
        for entry in &opts.monitor_links {
            let (name, reverse) = crate::monitoring::parse_port_ref(entry)
                .map_err(|_| NetworkError::NoSuchLink(entry.clone()))?;
            let Some(li) = topo.links.iter().position(|l| l.name == name) else {
                return Err(NetworkError::NoSuchLink(entry.clone()));
            };
            monitoring.add_link(entry, (2 * li + usize::from(reverse)) as PortId);
        }
        Ok(Network {
            topo,
            routes,
            ports,
            taps,
            host_port,
            programs,
            transit,
            flows: flows::Flows::default(),
            sockets: Rc::new(RefCell::new(SocketTable::default())),
            opts,
            counters: Counters::default(),
            drops: Vec::new(),
            monitoring,
            pcap_error: None,
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn build_port(
    topo: &Topology,
    li: usize,
    from: NodeId,
    to: NodeId,
    params: &PortParams,
    dir: Direction,
    rng: &RngStreams,
    pid: PortId,
) -> Result<Port, NetworkError> {
    let name = &topo.links[li].name;
    let mut server = params.link.build().map_err(|e| port_error(name, dir, e))?;
    // A host's egress port serializes at the slower of its NIC and the link; its queue is the
    // one configured for that link direction, like any other port's.
    if let Some(NodeKind::Host { nic_bps }) = topo.nodes.get(from as usize).map(|n| &n.kind) {
        if *nic_bps > 0 && *nic_bps < server.nominal_bps() {
            server = LinkConfig::fixed_bps(*nic_bps)
                .build()
                .map_err(|e| port_error(name, dir, e))?;
        }
    }
    let queue_cfg = &params.queue;
    let queue = queue_cfg
        .build_port(rng.indexed("queue", u64::from(pid)))
        .map_err(|e| port_error(name, dir, e))?;
    if !(0.0..=1.0).contains(&params.loss) || params.loss.is_nan() {
        return Err(port_error(
            name,
            dir,
            LossError::BadProbability(params.loss),
        ));
    }
    if !params.delay_us.is_finite() || params.delay_us < 0.0 {
        return Err(port_error(name, dir, PortProblem::Delay(params.delay_us)));
    }
    let loss = if params.loss > 0.0 {
        Some(
            LossModel::new(params.loss, rng.indexed("loss", u64::from(pid)))
                .map_err(|e| port_error(name, dir, e))?,
        )
    } else {
        None
    };
    let release = match params.burst_release_us {
        Some(us) if !(us.is_finite() && us > 0.0) => {
            return Err(port_error(name, dir, PortProblem::BurstRelease(us)))
        }
        Some(us) => Some(SimDuration::from_secs_f64(us * 1e-6).max(SimDuration::from_nanos(1))),
        None => None,
    };
    let mut port = Port::new(
        li,
        from,
        to,
        queue,
        server,
        SimDuration::from_secs_f64(params.delay_us * 1e-6),
        loss,
    );
    port.set_burst_release(release);
    Ok(port)
}
