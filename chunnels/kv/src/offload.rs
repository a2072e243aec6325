//! Offloaded sharding in simulation: a programmable switch in front of the server steers each
//! request of an offloaded connection to its shard's socket by hashing the key at the byte
//! offset the negotiated serializer fixes (a raw-offset sharder: it never decodes).
//!
//! Three pieces:
//! - [`SwitchShard`], the server's Chunnel for it: the Chunnel type `"shard"`, implementation
//!   [`OFFLOAD_IMPL`], [`Compat::Provides`] label `server` (so a plain client may get it, a
//!   client-push one may not), [`Scope::LocalNetwork`], priority [`OffloadConfig::priority`]
//!   (above the host fallback's 0). A local-network implementation must be registered to be
//!   chosen ([`offload_registry`]): the registration reserves one table entry of a
//!   `netmodels` [`ProgrammableSwitch`] per connection, so when the table is full negotiation
//!   falls back to the host sharder and says why. On the server its data path is a
//!   pass-through: the requests never reach the front socket.
//! - [`SteeringTable`], the switch's match-action table: the server installs a [`Rule`] per
//!   offloaded connection when it accepts it (client address and the negotiation's epoch, the
//!   front address, the shard ports and the key offset derived from the negotiated format).
//! - [`SteeringProgram`], the switch's [`NodeProgram`]: a datagram to the front address that
//!   matches a rule (a `chunnel::wire` data frame, tag `D`, the rule's epoch) gets its
//!   destination port rewritten to `shard_ports[FNV-1a-32(4 key bytes at 5 + key_offset) mod
//!   n]` and leaves after the device's per-packet time ([`OffloadConfig::per_packet`], a FIFO
//!   server: the device's rate); everything else is forwarded by the routes at once. A
//!   datagram too short to hold the key is forwarded unchanged (counted), never a panic.
//!
//! The shard sockets serve steered requests as they serve pushed ones: their listeners open
//! connections implicitly under the client's epoch (`NegotiateConfig::implicit_alternative`).
//!
//! The key offset is only valid when the serializer is the bottom layer of the negotiated
//! stack (nothing re-frames the bytes under it), as in this crate's stacks.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use chunnel::registry::{Endpoints, Entry};
use chunnel::wire::{DATA_HEADER, TAG_DATA};
use chunnel::{Chunnel, ChunnelConnection, Compat, Error, Negotiate, Offer, Registry, Scope};
use chunnels::shard::{shard_of, Keyed, CHUNNEL};
use netmodels::{
    node_ip, Demand, NodeCtx, NodeProgram, Packet, Payload, PortId, ProgrammableSwitch,
};
use netrt::{Duration, Instant};

/// The implementation name of the switch-offloaded sharder.
pub const OFFLOAD_IMPL: &str = "switch-steer";

/// The offload's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffloadConfig {
    /// Connections the switch can steer (one table entry each).
    pub table_entries: u64,
    /// Time the device spends per steered packet (its rate is the inverse). Default 0.5 µs
    /// (2 Mpps, the order of one XDP core redirecting packets): an assumption, not measured.
    pub per_packet: Duration,
    /// The registered priority (the host fallback has 0).
    pub priority: i32,
}

impl Default for OffloadConfig {
    fn default() -> Self {
        OffloadConfig {
            table_entries: 64,
            per_packet: Duration::from_nanos(500),
            priority: 10,
        }
    }
}

/// The server's Chunnel for switch-offloaded sharding (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub struct SwitchShard {
    priority: i32,
}

impl SwitchShard {
    /// The Chunnel, declaring `priority`.
    pub fn new(priority: i32) -> Self {
        SwitchShard { priority }
    }
}

impl Default for SwitchShard {
    fn default() -> Self {
        SwitchShard::new(OffloadConfig::default().priority)
    }
}

impl Negotiate for SwitchShard {
    fn capability(&self) -> Offer {
        Offer::new(CHUNNEL, OFFLOAD_IMPL, Compat::Provides)
            .label("server")
            .scope(Scope::LocalNetwork)
            .priority(self.priority)
    }
}

impl<A, M, InC> Chunnel<InC> for SwitchShard
where
    InC: ChunnelConnection<Data = (A, M)>,
    M: Keyed,
{
    type Connection = InC;

    async fn connect_wrap(&mut self, inner: InC) -> Result<InC, Error> {
        Ok(inner)
    }
}

/// A registry where the switch-offloaded sharder is deployed on `switch`, one table entry per
/// connection.
pub fn offload_registry(switch: Rc<RefCell<ProgrammableSwitch>>, cfg: &OffloadConfig) -> Registry {
    let reg = Registry::new();
    reg.register(
        CHUNNEL,
        OFFLOAD_IMPL,
        Entry::new(Scope::LocalNetwork, Endpoints::One, cfg.priority)
            .reserve(switch, Demand::new().table_entries(1)),
    );
    reg
}

/// A steering rule: where one offloaded connection's requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The service's front address (what the client sends to).
    pub front: SocketAddr,
    /// The shards' ports on the front's host, in shard order.
    pub shard_ports: Vec<u16>,
    /// The key's offset in the serialized message (from the negotiated format).
    pub key_offset: usize,
}

/// Counters of the switch program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SteeringStats {
    /// Datagrams steered to a shard.
    pub steered: u64,
    /// Datagrams of a rule too short to hold the key (forwarded unchanged).
    pub short: u64,
}

#[derive(Default)]
struct Table {
    rules: BTreeMap<(SocketAddr, u32), Rule>,
    stats: SteeringStats,
}

/// The switch's match-action table, shared by the server (which installs rules) and the
/// switch program (which reads them). Cheap to clone.
#[derive(Clone, Default)]
pub struct SteeringTable(Rc<RefCell<Table>>);

impl SteeringTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs the rule of the connection of `client` negotiated under `epoch`.
    pub fn install(&self, client: SocketAddr, epoch: u32, rule: Rule) {
        self.0.borrow_mut().rules.insert((client, epoch), rule);
    }

    /// Removes a rule.
    pub fn remove(&self, client: SocketAddr, epoch: u32) {
        self.0.borrow_mut().rules.remove(&(client, epoch));
    }

    /// Rules installed.
    pub fn rules(&self) -> usize {
        self.0.borrow().rules.len()
    }

    /// The program's counters.
    pub fn stats(&self) -> SteeringStats {
        self.0.borrow().stats
    }

    /// The shard port `pkt` should go to, if it matches a rule.
    fn steer(&self, pkt: &Packet) -> Option<u16> {
        let Payload::Datagram(d) = &pkt.payload else {
            return None;
        };
        let b = &d.payload[..];
        if b.first() != Some(&TAG_DATA) {
            return None;
        }
        let epoch = u32::from_le_bytes(b.get(1..5)?.try_into().ok()?);
        let client = SocketAddr::new(IpAddr::V4(node_ip(pkt.src)), d.src_port);
        let mut t = self.0.borrow_mut();
        let rule = t.rules.get(&(client, epoch))?;
        let to = SocketAddr::new(IpAddr::V4(node_ip(pkt.dst)), d.dst_port);
        if to != rule.front || rule.shard_ports.is_empty() {
            return None;
        }
        let at = DATA_HEADER.checked_add(rule.key_offset)?;
        let Some(key) = b.get(at..at.checked_add(4)?) else {
            t.stats.short += 1;
            return None;
        };
        let port = rule.shard_ports[shard_of(key, rule.shard_ports.len())];
        t.stats.steered += 1;
        Some(port)
    }
}

/// The switch program (see the module documentation).
pub struct SteeringProgram {
    table: SteeringTable,
    per_packet: Duration,
    busy_until: Instant,
    held: VecDeque<Packet>,
    held_bytes: u64,
}

impl SteeringProgram {
    /// A program reading `table`, spending `per_packet` per steered packet.
    pub fn new(table: SteeringTable, per_packet: Duration) -> Self {
        SteeringProgram {
            table,
            per_packet,
            busy_until: Instant::ZERO,
            held: VecDeque::new(),
            held_bytes: 0,
        }
    }
}

impl NodeProgram for SteeringProgram {
    fn on_packet(
        &mut self,
        now: Instant,
        _in_port: PortId,
        mut pkt: Packet,
        ctx: &mut NodeCtx<'_>,
    ) {
        let Some(port) = self.table.steer(&pkt) else {
            ctx.forward(pkt);
            return;
        };
        if let Payload::Datagram(d) = &mut pkt.payload {
            d.dst_port = port;
        }
        let start = now.max(self.busy_until);
        let done = start.checked_add(self.per_packet).unwrap_or(Instant::MAX);
        self.busy_until = done;
        self.held_bytes += u64::from(pkt.size);
        self.held.push_back(pkt);
        ctx.set_timer(done, 0);
    }

    fn on_timer(&mut self, _now: Instant, _token: u64, ctx: &mut NodeCtx<'_>) {
        if let Some(pkt) = self.held.pop_front() {
            self.held_bytes -= u64::from(pkt.size);
            ctx.forward(pkt);
        }
    }

    fn held_bytes(&self) -> u64 {
        self.held_bytes
    }
}
