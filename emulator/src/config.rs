//! What to emulate, and its validation before anything is created: the topology kinds the
//! emulator supports, the most hosts, and the rate ceiling [`MAX_RATE_BPS`]. Also building one
//! [`Port`] per link direction exactly as the simulator configures them (a host's egress port
//! serializes at the slower of its NIC and the link).

use std::path::PathBuf;

use netmodels::link::LinkConfig;
use netmodels::topology::{LinkParams, NodeKind, PortParams, Topology, TopologyConfig};
use netmodels::{LossModel, MahimahiTrace, Port};
use sim_core::{RngStreams, SimDuration};

use crate::error::EmulatorError;

/// The fastest link the emulator accepts, in bit/s (200 Mbit/s). Measured with
/// `emulator bench` on the project's machine kind (Debian 12 VM, 2 cores) while both cores
/// were also running compilers (load average 3.5-4.5): a 200 Mbit/s link held its rate
/// (198.5 Mbit/s received of 240 offered) and a 500 Mbit/s one did not (412 received); the
/// I/O thread needs about 30 % of a core per 100 Mbit/s of 1500-byte packets there. On a quiet
/// machine one unshaped link carried about 950 Mbit/s. Raise [`EmulatorConfig::max_rate_bps`]
/// only on purpose (a dedicated machine, or to measure the ceiling).
pub const MAX_RATE_BPS: u64 = 200_000_000;

/// The most hosts (each is a namespace with a TUN device and a file descriptor pair).
pub const MAX_HOSTS: usize = 64;

/// The MTU of every host's TUN device; the largest IP packet the emulator carries.
pub const MTU: u32 = 1500;

/// An emulation: topology, seeds, what to record.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// The topology, as scenario files give it (dumbbell without middlebox, star, leaf-spine
    /// and fat-tree are supported).
    pub topology: TopologyConfig,
    /// Seed of the ports' random streams (loss, RED, SFQ).
    pub seed: u64,
    /// Ports to sample as time series (`<link>`, `<link>:forward`, `<link>:reverse`).
    pub monitor_links: Vec<String>,
    /// Sampling interval of the time series.
    pub sample_interval: SimDuration,
    /// Capture directory and the links (by name) to capture, one file per direction.
    pub pcap: Option<(PathBuf, Vec<String>)>,
    /// The rate ceiling; [`MAX_RATE_BPS`] unless raised on purpose (only to measure the
    /// emulator's own ceiling: above it the emulated rate is not guaranteed).
    pub max_rate_bps: u64,
    /// Runs the I/O thread at a real-time priority (`SCHED_FIFO`, best effort): far fewer
    /// late writes on a loaded machine. On by default.
    pub realtime: bool,
    /// How long before a wake-up the I/O loop stops sleeping and busy-waits instead.
    pub spin: SimDuration,
}

impl EmulatorConfig {
    /// An emulation of `topology` with defaults: seed 1, no monitoring, no capture.
    pub fn new(topology: TopologyConfig) -> Self {
        EmulatorConfig {
            topology,
            seed: 1,
            monitor_links: Vec::new(),
            sample_interval: SimDuration::from_millis(10),
            pcap: None,
            max_rate_bps: MAX_RATE_BPS,
            realtime: true,
            spin: crate::io::SPIN,
        }
    }

    /// A dumbbell of `pairs` sender/receiver pairs: bottleneck `rate_bps` with one-way delay
    /// `delay_us` and a drop-tail queue of `queue_packets`; access links at `access_bps` with no
    /// delay.
    pub fn dumbbell(
        pairs: u32,
        rate_bps: u64,
        delay_us: f64,
        queue_packets: usize,
        access_bps: u64,
    ) -> Self {
        EmulatorConfig::new(TopologyConfig::Dumbbell {
            pairs,
            bottleneck: LinkParams::fixed(rate_bps, delay_us, queue_packets),
            access: LinkParams::fixed(access_bps, 0.0, queue_packets),
            middlebox: None,
        })
    }

    /// Checks everything that can be checked without privileges and builds the topology.
    /// Errors name the field at fault.
    pub fn validate(&self) -> Result<Topology, EmulatorError> {
        let links: Vec<(&str, &LinkParams)> = match &self.topology {
            TopologyConfig::Dumbbell {
                bottleneck,
                access,
                middlebox,
                ..
            } => {
                if middlebox.is_some() {
                    return Err(EmulatorError::Unsupported {
                        field: "topology.middlebox".into(),
                        reason: "programmable nodes run only in the simulator".into(),
                    });
                }
                vec![
                    ("topology.bottleneck", bottleneck),
                    ("topology.access", access),
                ]
            }
            TopologyConfig::Star {
                link,
                receiver_link,
                ..
            } => {
                let mut v = vec![("topology.link", link)];
                if let Some(r) = receiver_link {
                    v.push(("topology.receiver_link", r));
                }
                v
            }
            TopologyConfig::LeafSpine {
                host_link,
                fabric_link,
                ..
            } => vec![
                ("topology.host_link", host_link),
                ("topology.fabric_link", fabric_link),
            ],
            TopologyConfig::FatTree {
                host_link,
                edge_agg_link,
                agg_core_link,
                ..
            } => vec![
                ("topology.host_link", host_link),
                ("topology.edge_agg_link", edge_agg_link),
                ("topology.agg_core_link", agg_core_link),
            ],
        };
        for (field, lp) in &links {
            self.check_link(&format!("{field}.link"), &lp.link)?;
            if let Some(r) = &lp.reverse {
                self.check_link(&format!("{field}.reverse.link"), &r.link)?;
            }
        }
        if self.sample_interval.is_zero() && !self.monitor_links.is_empty() {
            return Err(EmulatorError::Config {
                field: "sample_interval".into(),
                expected: "a positive interval".into(),
                got: "0".into(),
            });
        }
        let topo = self.topology.build().map_err(|e| EmulatorError::Build {
            field: "topology".into(),
            message: e.to_string(),
        })?;
        topo.validate().map_err(|e| EmulatorError::Build {
            field: "topology".into(),
            message: e.to_string(),
        })?;
        let hosts = topo.hosts().len();
        if hosts > MAX_HOSTS {
            let field = match &self.topology {
                TopologyConfig::Dumbbell { .. } => "topology.pairs",
                TopologyConfig::Star { .. } => "topology.senders",
                TopologyConfig::LeafSpine { .. } => "topology.hosts_per_leaf",
                TopologyConfig::FatTree { .. } => "topology.k",
            };
            return Err(EmulatorError::Config {
                field: field.into(),
                expected: format!("at most {MAX_HOSTS} hosts in all"),
                got: format!("{hosts} hosts"),
            });
        }
        for entry in &self.monitor_links {
            let ok = netmodels::monitoring::parse_port_ref(entry)
                .is_ok_and(|(name, _)| topo.links.iter().any(|l| l.name == name));
            if !ok {
                return Err(EmulatorError::Config {
                    field: "monitor_links".into(),
                    expected: "`<link>`, `<link>:forward` or `<link>:reverse` of an existing link"
                        .into(),
                    got: entry.clone(),
                });
            }
        }
        if let Some((_, names)) = &self.pcap {
            for n in names {
                if !topo.links.iter().any(|l| &l.name == n) {
                    return Err(EmulatorError::Config {
                        field: "pcap".into(),
                        expected: "names of existing links".into(),
                        got: n.clone(),
                    });
                }
            }
        }
        Ok(topo)
    }

    fn check_link(&self, field: &str, l: &LinkConfig) -> Result<(), EmulatorError> {
        let ceiling = self.max_rate_bps;
        match l {
            LinkConfig::Fixed { rate_mbps } => {
                let bps = rate_mbps * 1e6;
                if !(bps.is_finite() && bps >= 1.0 && bps <= ceiling as f64) {
                    return Err(EmulatorError::Config {
                        field: format!("{field}.rate_mbps"),
                        expected: format!(
                            "a rate between 0.000001 and {} Mbit/s (the emulator's ceiling)",
                            ceiling as f64 / 1e6
                        ),
                        got: rate_mbps.to_string(),
                    });
                }
            }
            LinkConfig::Trace { path } => {
                let t = MahimahiTrace::from_file(path).map_err(|e| EmulatorError::Build {
                    field: format!("{field}.path"),
                    message: e.to_string(),
                })?;
                // A trace delivers at most all its opportunities of one millisecond at once;
                // the mean rate is what the emulator must sustain.
                if t.mean_rate_bps() > ceiling as f64 {
                    return Err(EmulatorError::Config {
                        field: format!("{field}.path"),
                        expected: format!(
                            "a trace whose mean rate is at most {} Mbit/s (the emulator's ceiling)",
                            ceiling as f64 / 1e6
                        ),
                        got: format!("{:.1} Mbit/s", t.mean_rate_bps() / 1e6),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Builds one port per link direction (link `l` has ports `2l`, a → b, and `2l + 1`), as the
/// simulator does.
pub fn build_ports(topo: &Topology, seed: u64) -> Result<Vec<Port>, EmulatorError> {
    let rng = RngStreams::new(seed);
    let mut ports = Vec::with_capacity(topo.links.len() * 2);
    for (li, l) in topo.links.iter().enumerate() {
        for (dir, from, to, params) in [("forward", l.a, l.b, &l.ab), ("reverse", l.b, l.a, &l.ba)]
        {
            let pid = ports.len() as u64;
            let field = format!("link {} ({dir})", l.name);
            ports.push(build_port(topo, li, from, to, params, &rng, pid, &field)?);
        }
    }
    Ok(ports)
}

#[allow(clippy::too_many_arguments)]
fn build_port(
    topo: &Topology,
    li: usize,
    from: u32,
    to: u32,
    params: &PortParams,
    rng: &RngStreams,
    pid: u64,
    field: &str,
) -> Result<Port, EmulatorError> {
    let err = |message: String| EmulatorError::Build {
        field: field.to_string(),
        message,
    };
    let mut server = params.link.build().map_err(|e| err(e.to_string()))?;
    if let Some(NodeKind::Host { nic_bps }) = topo.nodes.get(from as usize).map(|n| &n.kind) {
        if *nic_bps > 0 && *nic_bps < server.nominal_bps() {
            server = LinkConfig::fixed_bps(*nic_bps)
                .build()
                .map_err(|e| err(e.to_string()))?;
        }
    }
    params
        .queue
        .check_fits(u64::from(MTU))
        .map_err(|e| err(format!("queue: {e}")))?;
    let queue = params
        .queue
        .build(rng.indexed("queue", pid))
        .map_err(|e| err(format!("queue: {e}")))?;
    if !(0.0..=1.0).contains(&params.loss) {
        return Err(err(format!(
            "loss: expected a probability in [0, 1], got {}",
            params.loss
        )));
    }
    if !params.delay_us.is_finite() || params.delay_us < 0.0 {
        return Err(err(format!(
            "delay_us: expected a non-negative number, got {}",
            params.delay_us
        )));
    }
    let loss = if params.loss > 0.0 {
        Some(
            LossModel::new(params.loss, rng.indexed("loss", pid))
                .map_err(|e| err(e.to_string()))?,
        )
    } else {
        None
    };
    let release = match params.burst_release_us {
        Some(us) if !(us.is_finite() && us > 0.0) => {
            return Err(err(format!(
                "burst_release_us: expected a positive number of microseconds, got {us}"
            )))
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
