//! Topologies: nodes and links as plain data, builders for the shapes scenario files name
//! (dumbbell, star/incast, leaf-spine, fat-tree), and shortest-path routing with ECMP
//! ([`Routes`], computed per destination group over the forwarding nodes).

mod fat_tree;
mod routes;
#[cfg(test)]
mod tests;

pub use routes::{ecmp_pick, Routes};

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use petgraph::graph::{NodeIndex, UnGraph};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::link::LinkConfig;
use crate::node::ProgramConfig;
use crate::packet::NodeId;
use crate::queue::QueueConfig;

/// Errors in a topology description. Every message names the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// A count or parameter is out of range.
    #[error("{field}: expected {expected}, got {got}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What was expected.
        expected: String,
        /// What was given.
        got: String,
    },
    /// A link names a node that does not exist.
    #[error("link {link}: node {node} does not exist")]
    NoSuchNode {
        /// Index of the link.
        link: usize,
        /// The node.
        node: NodeId,
    },
}

/// What a node is.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// An end host with a NIC of the given rate (bit/s); it terminates transport flows and
    /// datagram sockets and never forwards.
    Host {
        /// NIC rate in bit/s; the host's egress port serializes at min(NIC, link) rate.
        nic_bps: u64,
    },
    /// An output-queued switch.
    Switch,
    /// A programmable node (a middlebox): it forwards by the routes like a switch, but every
    /// packet goes through a [`crate::node::NodeProgram`], built from `program` (and
    /// replaceable with [`crate::Network::set_program`]).
    Middlebox {
        /// The built-in program it runs.
        program: ProgramConfig,
    },
}

impl NodeKind {
    /// True for nodes that forward packets not addressed to them (switches and middleboxes).
    pub fn forwards(&self) -> bool {
        !matches!(self, NodeKind::Host { .. })
    }
}

/// The IPv4 address of node `n`: `10.(n >> 8 & 255).(n & 255).(1 + (n >> 16))`, so
/// `10.x.y.1` for the first 65,536 nodes. Results and pcap files show hosts by it, and
/// simulated sockets bind and send to it. Unique for the [`MAX_NODES`] nodes a topology may
/// have.
pub fn node_ip(n: NodeId) -> Ipv4Addr {
    Ipv4Addr::new(
        10,
        ((n >> 8) & 255) as u8,
        (n & 255) as u8,
        (1 + ((n >> 16) & 255)) as u8,
    )
}

/// The node whose address is `ip` (the inverse of [`node_ip`]), if `ip` has that form.
pub fn node_for_ip(ip: Ipv4Addr) -> Option<NodeId> {
    let [a, b, c, d] = ip.octets();
    let high = NodeId::from(d).checked_sub(1)?;
    (a == 10 && ((high as usize) << 16) < MAX_NODES)
        .then_some((high << 16) | (NodeId::from(b) << 8) | NodeId::from(c))
}

/// The port of a transport flow at its sender (the receiver listens on [`SERVER_PORT`]).
pub fn flow_port(flow: u32) -> u16 {
    (10_000 + flow % 50_000) as u16
}

/// The port transport receivers listen on.
pub const SERVER_PORT: u16 = 5201;

/// The socket addresses of transport flow `flow` from `src` to `dst` (sender, receiver).
pub fn flow_addrs(src: NodeId, dst: NodeId, flow: u32) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::V4(SocketAddrV4::new(node_ip(src), flow_port(flow))),
        SocketAddr::V4(SocketAddrV4::new(node_ip(dst), SERVER_PORT)),
    )
}

/// The most nodes a topology may have (they must have distinct addresses, see [`node_ip`]).
pub const MAX_NODES: usize = 1 << 20;

/// One node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Human-readable name, used in results and pcap file names.
    pub name: String,
    /// Host or switch.
    pub kind: NodeKind,
}

/// One direction of a link: how packets are served and queued at its sending end. In a
/// scenario file, the `reverse` of a [`LinkParams`]: none of its fields is taken from the
/// forward direction (an omitted `delay_us` is 0, an omitted `queue` the default queue).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortParams {
    /// How the link serves bytes (fixed rate or a Mahimahi trace).
    pub link: LinkConfig,
    /// One-way propagation delay in microseconds; finite and >= 0.
    #[serde(default)]
    #[schemars(range(min = 0), extend("x-unit" = "µs"))]
    pub delay_us: f64,
    /// Queue discipline at the sending end.
    #[serde(default = "default_queue")]
    pub queue: QueueConfig,
    /// Probability of losing each packet on the wire (i.i.d., seeded), in [0, 1].
    #[serde(default)]
    #[schemars(range(min = 0, max = 1), extend("x-unit" = "probability"))]
    pub loss: f64,
    /// Holds packets that reach the far end and releases them together at the next multiple
    /// of this period, in microseconds (> 0): set on the direction that carries a flow's ACKs,
    /// it is an ACK-compression impairment (ACKs arrive in bursts, as behind some cellular and
    /// Wi-Fi links). Unset: every packet arrives when it propagates.
    #[serde(default)]
    #[schemars(extend("x-unit" = "µs", "x-constraint" = "> 0"))]
    pub burst_release_us: Option<f64>,
}

fn default_queue() -> QueueConfig {
    QueueConfig::DropTail {
        limit_packets: Some(1000),
        limit_bytes: None,
    }
}

/// A bidirectional link between two nodes; each direction has its own port parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkSpec {
    /// One end.
    pub a: NodeId,
    /// The other end.
    pub b: NodeId,
    /// The direction a → b.
    pub ab: PortParams,
    /// The direction b → a.
    pub ba: PortParams,
    /// A name for results ("bottleneck", "leaf0-spine1", ...).
    pub name: String,
}

/// Nodes and links.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Topology {
    /// Nodes, indexed by [`NodeId`].
    pub nodes: Vec<Node>,
    /// Links.
    pub links: Vec<LinkSpec>,
}

/// Link parameters as scenario files give them: the forward direction's parameters, and
/// optionally different ones for the reverse direction.
///
/// Without `reverse`, both directions use `link`, `delay_us`, `queue` and `loss` (each its
/// own queue). With `reverse`, the reverse direction takes all four from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkParams {
    /// How the forward direction serves bytes (fixed rate or a Mahimahi trace).
    pub link: LinkConfig,
    /// One-way propagation delay of the forward direction in microseconds (also of the
    /// reverse one unless `reverse` is given); finite and >= 0.
    #[serde(default)]
    #[schemars(range(min = 0), extend("x-unit" = "µs"))]
    pub delay_us: f64,
    /// Queue discipline at the sending end of the forward direction (and of the reverse one
    /// unless `reverse` is given).
    #[serde(default = "default_queue")]
    pub queue: QueueConfig,
    /// Per-packet i.i.d. loss probability of the forward direction (and of the reverse one
    /// unless `reverse` is given), in [0, 1].
    #[serde(default)]
    #[schemars(range(min = 0, max = 1), extend("x-unit" = "probability"))]
    pub loss: f64,
    /// Burst release period of the forward direction (and of the reverse one unless `reverse`
    /// is given), microseconds (> 0): packets reaching the far end are held and released
    /// together at its multiples (ACK compression on an ACK direction). Unset: off.
    #[serde(default)]
    #[schemars(extend("x-unit" = "µs", "x-constraint" = "> 0"))]
    pub burst_release_us: Option<f64>,
    /// The reverse direction; unset: the same parameters as the forward one.
    #[serde(default)]
    pub reverse: Option<PortParams>,
}

impl LinkParams {
    /// A symmetric fixed-rate link with a drop-tail queue of `limit_packets`.
    pub fn fixed(rate_bps: u64, delay_us: f64, limit_packets: usize) -> Self {
        LinkParams {
            link: LinkConfig::fixed_bps(rate_bps),
            delay_us,
            queue: QueueConfig::DropTail {
                limit_packets: Some(limit_packets),
                limit_bytes: None,
            },
            loss: 0.0,
            burst_release_us: None,
            reverse: None,
        }
    }

    fn directions(&self) -> (PortParams, PortParams) {
        let f = PortParams {
            link: self.link.clone(),
            delay_us: self.delay_us,
            queue: self.queue.clone(),
            loss: self.loss,
            burst_release_us: self.burst_release_us,
        };
        let r = self.reverse.clone().unwrap_or_else(|| f.clone());
        (f, r)
    }
}

/// The topology section of a scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[allow(
    clippy::large_enum_variant,
    reason = "a configuration value, built once per run; boxing link parameters would only \
              make scenario code clumsier"
)]
pub enum TopologyConfig {
    /// `pairs` senders on one switch, `pairs` receivers on another, one bottleneck between.
    /// Hosts: senders are 0..pairs, receivers pairs..2·pairs.
    Dumbbell {
        /// Number of sender/receiver pairs, 1..=[`MAX_HOSTS`]/2 (65 536).
        #[schemars(range(min = 1, max = MAX_HOSTS / 2), extend("x-unit" = "pairs"))]
        pairs: u32,
        /// The link between the two switches.
        bottleneck: LinkParams,
        /// Every host's access link.
        access: LinkParams,
        /// An optional middlebox on the senders' side of the bottleneck: `left` →
        /// `middlebox-in` → the middlebox → `middlebox-out` → `core` → `bottleneck` →
        /// `right`. Both middlebox links use `middlebox.link`.
        #[serde(default)]
        middlebox: Option<Box<MiddleboxConfig>>,
    },
    /// `senders` hosts and one receiver on one switch (incast). Hosts: senders are 0..senders,
    /// the receiver is `senders`.
    Star {
        /// Number of senders, 1..=[`MAX_HOSTS`] − 1 (131 071).
        #[schemars(range(min = 1, max = MAX_HOSTS - 1), extend("x-unit" = "hosts"))]
        senders: u32,
        /// Each sender's link to the switch.
        link: LinkParams,
        /// The receiver's link (defaults to `link`); its switch port is the incast bottleneck.
        #[serde(default)]
        receiver_link: Option<LinkParams>,
    },
    /// A two-tier Clos: every leaf connects to every spine; hosts hang off leaves.
    LeafSpine {
        /// Number of leaf switches, 1..=1000.
        #[schemars(
            range(min = 1, max = 1000),
            extend("x-unit" = "switches", "x-constraint" = "leaves × hosts_per_leaf ≤ 131072")
        )]
        leaves: u32,
        /// Number of spine switches, 1..=1000.
        #[schemars(range(min = 1, max = 1000), extend("x-unit" = "switches"))]
        spines: u32,
        /// Hosts per leaf, 1..=10000; `leaves` × `hosts_per_leaf` at most [`MAX_HOSTS`]
        /// (131 072).
        #[schemars(
            range(min = 1, max = 10_000),
            extend("x-unit" = "hosts", "x-constraint" = "leaves × hosts_per_leaf ≤ 131072")
        )]
        hosts_per_leaf: u32,
        /// Host–leaf links.
        host_link: LinkParams,
        /// Leaf–spine links.
        fabric_link: LinkParams,
    },
    /// A three-tier k-ary fat-tree (Al-Fares et al., SIGCOMM 2008): `k` pods of `k/2` edge
    /// and `k/2` aggregation switches, `(k/2)²` core switches, `k/2` hosts per edge switch
    /// (`k³/4` hosts). Aggregation switch `j` of every pod links to core switches
    /// `j·k/2 .. (j+1)·k/2`. Hosts in different pods have `(k/2)²` equal-cost paths, hosts in
    /// one pod under different edge switches `k/2`.
    ///
    /// Nodes: hosts `host{e}.{h}` first (host `h` of edge switch `e`, ids in edge order), then
    /// `edge{e}`, `agg{a}` (switch `e` or `a` is number `e mod k/2` of pod `e div k/2`),
    /// `core{c}`. Links: `host{i}` (host i → its edge switch), then `edge{e}-agg{a}` (edge →
    /// aggregation), then `agg{a}-core{c}` (aggregation → core); the forward direction of each
    /// points up the tree.
    FatTree {
        /// The switches' port count: even, 2..=48.
        #[schemars(range(min = 2, max = fat_tree::MAX_K), extend("x-unit" = "ports", "multipleOf" = 2))]
        k: u32,
        /// Host–edge links.
        host_link: LinkParams,
        /// Edge–aggregation links.
        edge_agg_link: LinkParams,
        /// Aggregation–core links.
        agg_core_link: LinkParams,
    },
}

/// A middlebox in a built-in topology: its program and the links that attach it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MiddleboxConfig {
    /// The program it runs.
    pub program: ProgramConfig,
    /// Both of its links (in and out).
    pub link: LinkParams,
}

/// The most hosts a built-in topology may have. Routing memory does not grow with hosts (it
/// is kept per destination switch, see [`Routes`]); this bounds the per-host state (ports,
/// flows) a scenario can ask for.
pub const MAX_HOSTS: u32 = 131_072;

/// The NIC rate a host gets from its access link: the link's fixed rate, or 0 (no NIC limit)
/// for a trace-driven link.
fn nic_bps(l: &LinkConfig) -> u64 {
    match l {
        LinkConfig::Fixed { rate_mbps } if rate_mbps.is_finite() && *rate_mbps > 0.0 => {
            (rate_mbps * 1e6).round() as u64
        }
        _ => 0,
    }
}

fn invalid(field: &str, expected: &str, got: impl ToString) -> TopologyError {
    TopologyError::Invalid {
        field: field.into(),
        expected: expected.into(),
        got: got.to_string(),
    }
}

impl TopologyConfig {
    /// Builds the topology. Hosts always come first (ids 0..hosts), switches after.
    pub fn build(&self) -> Result<Topology, TopologyError> {
        let mut t = Topology::default();
        match self {
            TopologyConfig::Dumbbell {
                pairs,
                bottleneck,
                access,
                middlebox,
            } => {
                if *pairs == 0 || *pairs > MAX_HOSTS / 2 {
                    return Err(invalid(
                        "topology.pairs",
                        &format!("1..={}", MAX_HOSTS / 2),
                        pairs,
                    ));
                }
                let (af, ar) = access.directions();
                let hosts: Vec<NodeId> = (0..2 * pairs)
                    .map(|i| {
                        let name = if i < *pairs {
                            format!("sender{i}")
                        } else {
                            format!("receiver{}", i - pairs)
                        };
                        // A host's NIC sends on its egress direction: forward for senders,
                        // reverse (host → switch) for receivers.
                        let nic = if i < *pairs {
                            nic_bps(&af.link)
                        } else {
                            nic_bps(&ar.link)
                        };
                        t.add_host(&name, nic)
                    })
                    .collect();
                let left = t.add_switch("left");
                let right = t.add_switch("right");
                let (bf, br) = bottleneck.directions();
                match middlebox {
                    None => t.add_link("bottleneck", left, right, bf, br),
                    Some(mb) => {
                        mb.program.validate().map_err(|e| {
                            invalid("topology.middlebox.program", "valid parameters", e)
                        })?;
                        let m = t.add_middlebox("middlebox", mb.program.clone());
                        let core = t.add_switch("core");
                        let (mf, mr) = mb.link.directions();
                        t.add_link("middlebox-in", left, m, mf.clone(), mr.clone());
                        t.add_link("middlebox-out", m, core, mf, mr);
                        t.add_link("bottleneck", core, right, bf, br);
                    }
                }
                for (i, h) in hosts.iter().enumerate() {
                    let (sw, side) = if (i as u32) < *pairs {
                        (left, "left")
                    } else {
                        (right, "right")
                    };
                    // The forward (a → b) direction always carries data: sender → switch on
                    // the left, switch → receiver on the right.
                    if (i as u32) < *pairs {
                        t.add_link(&format!("access-{side}{i}"), *h, sw, af.clone(), ar.clone());
                    } else {
                        t.add_link(&format!("access-{side}{i}"), sw, *h, af.clone(), ar.clone());
                    }
                }
            }
            TopologyConfig::Star {
                senders,
                link,
                receiver_link,
            } => {
                if *senders == 0 || *senders >= MAX_HOSTS {
                    return Err(invalid(
                        "topology.senders",
                        &format!("1..={}", MAX_HOSTS - 1),
                        senders,
                    ));
                }
                let (lf, lr) = link.directions();
                let (rf, rr) = receiver_link.as_ref().unwrap_or(link).directions();
                let hs: Vec<NodeId> = (0..*senders)
                    .map(|i| t.add_host(&format!("sender{i}"), nic_bps(&lf.link)))
                    .collect();
                let rx = t.add_host("receiver", nic_bps(&rr.link).max(nic_bps(&rf.link)));
                let sw = t.add_switch("switch");
                for (i, h) in hs.iter().enumerate() {
                    t.add_link(&format!("sender{i}"), *h, sw, lf.clone(), lr.clone());
                }
                // Data flows switch → receiver: the forward (a → b) direction.
                t.add_link("receiver", sw, rx, rf, rr);
            }
            TopologyConfig::LeafSpine {
                leaves,
                spines,
                hosts_per_leaf,
                host_link,
                fabric_link,
            } => {
                if *leaves == 0 || *leaves > 1000 {
                    return Err(invalid("topology.leaves", "1..=1000", leaves));
                }
                if *spines == 0 || *spines > 1000 {
                    return Err(invalid("topology.spines", "1..=1000", spines));
                }
                if *hosts_per_leaf == 0 || *hosts_per_leaf > 10_000 {
                    return Err(invalid(
                        "topology.hosts_per_leaf",
                        "1..=10000",
                        hosts_per_leaf,
                    ));
                }
                let hosts = u64::from(*leaves) * u64::from(*hosts_per_leaf);
                if hosts > u64::from(MAX_HOSTS) {
                    return Err(invalid(
                        "topology.hosts_per_leaf",
                        &format!("leaves × hosts_per_leaf at most {MAX_HOSTS}"),
                        format!("{leaves} × {hosts_per_leaf} = {hosts}"),
                    ));
                }
                let (hf, hr) = host_link.directions();
                let (ff, fr) = fabric_link.directions();
                let mut hosts = Vec::new();
                for l in 0..*leaves {
                    for h in 0..*hosts_per_leaf {
                        hosts.push(t.add_host(&format!("host{l}.{h}"), nic_bps(&hf.link)));
                    }
                }
                let leaf_ids: Vec<NodeId> = (0..*leaves)
                    .map(|l| t.add_switch(&format!("leaf{l}")))
                    .collect();
                let spine_ids: Vec<NodeId> = (0..*spines)
                    .map(|s| t.add_switch(&format!("spine{s}")))
                    .collect();
                for (i, h) in hosts.iter().enumerate() {
                    let l = leaf_ids[i / *hosts_per_leaf as usize];
                    t.add_link(&format!("host{i}"), *h, l, hf.clone(), hr.clone());
                }
                for (li, l) in leaf_ids.iter().enumerate() {
                    for (si, s) in spine_ids.iter().enumerate() {
                        t.add_link(
                            &format!("leaf{li}-spine{si}"),
                            *l,
                            *s,
                            ff.clone(),
                            fr.clone(),
                        );
                    }
                }
            }
            TopologyConfig::FatTree {
                k,
                host_link,
                edge_agg_link,
                agg_core_link,
            } => fat_tree::build(&mut t, *k, host_link, edge_agg_link, agg_core_link)?,
        }
        Ok(t)
    }
}

impl Topology {
    /// Adds a host; returns its id.
    pub fn add_host(&mut self, name: &str, nic_bps: u64) -> NodeId {
        self.nodes.push(Node {
            name: name.into(),
            kind: NodeKind::Host { nic_bps },
        });
        (self.nodes.len() - 1) as NodeId
    }

    /// Adds a programmable node running `program`; returns its id.
    pub fn add_middlebox(&mut self, name: &str, program: ProgramConfig) -> NodeId {
        self.nodes.push(Node {
            name: name.into(),
            kind: NodeKind::Middlebox { program },
        });
        (self.nodes.len() - 1) as NodeId
    }

    /// Adds a switch; returns its id.
    pub fn add_switch(&mut self, name: &str) -> NodeId {
        self.nodes.push(Node {
            name: name.into(),
            kind: NodeKind::Switch,
        });
        (self.nodes.len() - 1) as NodeId
    }

    /// Adds a bidirectional link.
    pub fn add_link(&mut self, name: &str, a: NodeId, b: NodeId, ab: PortParams, ba: PortParams) {
        self.links.push(LinkSpec {
            a,
            b,
            ab,
            ba,
            name: name.into(),
        });
    }

    /// Ids of all hosts, ascending.
    pub fn hosts(&self) -> Vec<NodeId> {
        (0..self.nodes.len() as NodeId)
            .filter(|n| self.is_host(*n))
            .collect()
    }

    /// True when `n` is a host.
    pub fn is_host(&self, n: NodeId) -> bool {
        matches!(
            self.nodes.get(n as usize).map(|x| &x.kind),
            Some(NodeKind::Host { .. })
        )
    }

    /// Checks that every link names existing nodes.
    pub fn validate(&self) -> Result<(), TopologyError> {
        if self.nodes.len() > MAX_NODES {
            return Err(invalid(
                "topology",
                &format!("at most {MAX_NODES} nodes (each needs a distinct address)"),
                self.nodes.len(),
            ));
        }
        let n = self.nodes.len() as NodeId;
        for (i, l) in self.links.iter().enumerate() {
            for node in [l.a, l.b] {
                if node >= n {
                    return Err(TopologyError::NoSuchNode { link: i, node });
                }
            }
        }
        Ok(())
    }

    /// The topology as a petgraph graph (node weights are node ids, edge weights link indices).
    pub fn graph(&self) -> UnGraph<NodeId, usize> {
        let mut g = UnGraph::new_undirected();
        let idx: Vec<NodeIndex> = (0..self.nodes.len() as NodeId)
            .map(|n| g.add_node(n))
            .collect();
        for (i, l) in self.links.iter().enumerate() {
            g.add_edge(idx[l.a as usize], idx[l.b as usize], i);
        }
        g
    }
}
