//! The switch sequencer (simulation): [`SwitchSequencer`], a `netmodels` node program that
//! stamps and replicates the requests to the groups installed in its [`SequencerTable`], its
//! registration ([`switch_registry`]), and the group's negotiation ([`plan_sequencer`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use chunnel::negotiate::decide;
use chunnel::registry::{Endpoints, Entry, Lease};
use chunnel::{Alternative, NegotiationError, Offer, Registry, Scope};
use netmodels::packet::UDP_IP_HEADER;
use netmodels::{
    node_ip, Datagram, Demand, NodeCtx, NodeId, NodeProgram, Packet, Payload, PortId,
    ProgrammableSwitch,
};
use netrt::{Duration, Instant};

use super::{
    encode_addr, host_offer, stamp, switch_offer, CHUNNEL, SWITCH_IMPL, SWITCH_PRIORITY,
    TAG_REQUEST,
};

/// A group as the switch sequencer serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchGroup {
    /// The group address: requests to it are stamped.
    pub group: SocketAddr,
    /// The receivers every stamped message goes to.
    pub receivers: Vec<SocketAddr>,
    /// The session stamped.
    pub session: u32,
}

/// Counters of the switch sequencer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchStats {
    /// Requests stamped.
    pub stamped: u64,
    /// Copies sent.
    pub copies: u64,
    /// Receivers with no node in the network (their copies not sent).
    pub unroutable: u64,
}

#[derive(Default)]
struct SeqTable {
    groups: BTreeMap<SocketAddr, (SwitchGroup, u64)>,
    stats: SwitchStats,
}

/// The switch's sequencer table, shared by whoever installs groups (the registration's init
/// hook) and the switch program. Cheap to clone.
#[derive(Clone, Default)]
pub struct SequencerTable(Rc<RefCell<SeqTable>>);

impl fmt::Debug for SequencerTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0.borrow();
        f.debug_struct("SequencerTable")
            .field("groups", &t.groups.len())
            .field("stats", &t.stats)
            .finish()
    }
}

impl SequencerTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs (or replaces) a group; its numbers start at 0.
    pub fn install(&self, g: SwitchGroup) {
        self.0.borrow_mut().groups.insert(g.group, (g, 0));
    }

    /// Removes the group at `group`.
    pub fn remove(&self, group: SocketAddr) {
        self.0.borrow_mut().groups.remove(&group);
    }

    /// Whether a group is installed at `group`.
    pub fn has(&self, group: SocketAddr) -> bool {
        self.0.borrow().groups.contains_key(&group)
    }

    /// The program's counters.
    pub fn stats(&self) -> SwitchStats {
        self.0.borrow().stats
    }
}

/// The node whose address is `ip` (the inverse of [`node_ip`]).
pub(super) fn node_of(ip: IpAddr) -> Option<NodeId> {
    let IpAddr::V4(v4) = ip else { return None };
    let [a, b, c, d] = v4.octets();
    if a != 10 || d == 0 {
        return None;
    }
    let n = (NodeId::from(d - 1) << 16) | (NodeId::from(b) << 8) | NodeId::from(c);
    (node_ip(n) == Ipv4Addr::from([a, b, c, d])).then_some(n)
}

/// The switch sequencer program (see the module documentation): requests to an installed
/// group are served in arrival order, each for [`SwitchSequencer::new`]'s `per_packet` (a
/// FIFO server: the device's rate); at the end of its service the request is consumed
/// (dropped in the network's byte accounting) and its stamped copies leave by the routes
/// ([`NodeCtx::originate`]). Everything else is forwarded at once.
pub struct SwitchSequencer {
    table: SequencerTable,
    per_packet: Duration,
    busy_until: Instant,
    held: VecDeque<(Packet, Vec<Packet>)>,
    held_bytes: u64,
}

impl SwitchSequencer {
    /// A program reading `table`, spending `per_packet` per request.
    pub fn new(table: SequencerTable, per_packet: Duration) -> Self {
        SwitchSequencer {
            table,
            per_packet,
            busy_until: Instant::ZERO,
            held: VecDeque::new(),
            held_bytes: 0,
        }
    }

    /// The stamped copies of `pkt`, if it is a request to an installed group.
    fn copies(&self, pkt: &Packet) -> Option<Vec<Packet>> {
        let Payload::Datagram(d) = &pkt.payload else {
            return None;
        };
        if d.payload.first() != Some(&TAG_REQUEST) {
            return None;
        }
        let to = SocketAddr::new(IpAddr::V4(node_ip(pkt.dst)), d.dst_port);
        let mut t = self.table.0.borrow_mut();
        let SeqTable { groups, stats } = &mut *t;
        let (g, next) = groups.get_mut(&to)?;
        let from = SocketAddr::new(IpAddr::V4(node_ip(pkt.src)), d.src_port);
        let sender = encode_addr(&from)?;
        let framed = bytes::Bytes::from(stamp(g.session, *next, &sender, &d.payload)?);
        *next += 1;
        stats.stamped += 1;
        let mut out = Vec::with_capacity(g.receivers.len());
        for r in &g.receivers {
            let Some(node) = node_of(r.ip()) else {
                stats.unroutable += 1;
                continue;
            };
            let mut c = pkt.clone();
            c.dst = node;
            c.size = u32::try_from(framed.len())
                .unwrap_or(u32::MAX)
                .saturating_add(UDP_IP_HEADER);
            c.payload = Payload::Datagram(Datagram {
                src_port: d.src_port,
                dst_port: r.port(),
                payload: framed.clone(),
            });
            out.push(c);
        }
        stats.copies += out.len() as u64;
        Some(out)
    }
}

impl NodeProgram for SwitchSequencer {
    fn on_packet(&mut self, now: Instant, _in_port: PortId, pkt: Packet, ctx: &mut NodeCtx<'_>) {
        let Some(copies) = self.copies(&pkt) else {
            ctx.forward(pkt);
            return;
        };
        let start = now.max(self.busy_until);
        let done = start.checked_add(self.per_packet).unwrap_or(Instant::MAX);
        self.busy_until = done;
        self.held_bytes += u64::from(pkt.size);
        self.held.push_back((pkt, copies));
        ctx.set_timer(done, 0);
    }

    fn on_timer(&mut self, _now: Instant, _token: u64, ctx: &mut NodeCtx<'_>) {
        if let Some((req, copies)) = self.held.pop_front() {
            self.held_bytes -= u64::from(req.size);
            ctx.drop_packet(req);
            for c in copies {
                ctx.originate(c);
            }
        }
    }

    fn held_bytes(&self) -> u64 {
        self.held_bytes
    }
}

/// A registry where the switch sequencer is deployed on `switch` for `group`: choosing it
/// reserves one table entry per receiver (the switch's replication entries) and installs the
/// group in `table`; the lease's teardown removes it. Registered with `priority`.
pub fn switch_registry(
    switch: Rc<RefCell<ProgrammableSwitch>>,
    table: &SequencerTable,
    group: SwitchGroup,
    priority: i32,
) -> Registry {
    let reg = Registry::new();
    let entries = group.receivers.len().max(1) as u64;
    let (t1, t2) = (table.clone(), table.clone());
    let addr = group.group;
    reg.register(
        CHUNNEL,
        SWITCH_IMPL,
        Entry::new(Scope::LocalNetwork, Endpoints::One, priority)
            .reserve(switch, Demand::new().table_entries(entries))
            .on_init(move |_| t1.install(group.clone()))
            .on_teardown(move |_| t2.remove(addr)),
    );
    reg
}

/// What the group's negotiation chose.
#[derive(Debug)]
pub struct SequencerPlan {
    /// The chosen sequencer's offer ([`HOST_IMPL`](super::HOST_IMPL) or [`SWITCH_IMPL`]).
    pub chosen: Offer,
    /// Why better-ranked choices were passed over (e.g. the switch's capacity exhausted).
    pub fallbacks: Vec<String>,
    /// The chosen implementation's reservations; dropping it releases them (and removes the
    /// group from the switch).
    pub lease: Lease,
}

impl SequencerPlan {
    /// Whether the switch sequencer was chosen.
    pub fn is_switch(&self) -> bool {
        self.chosen.implementation == SWITCH_IMPL
    }
}

/// The group's negotiation: `chunnel`'s server decision with the members' offer (the host
/// sequencer's, which any member runs) against the alternatives `[switch sequencer, host
/// sequencer]` under `reg`'s discovery rules (the switch one must be registered; its
/// registered priority ranks it first; its capacity is reserved or it is passed over with the
/// reason).
pub fn plan_sequencer(reg: &Registry) -> Result<SequencerPlan, NegotiationError> {
    let alt = |o: Offer| Alternative {
        layers: vec![o],
        penalty: 0,
    };
    let client = [alt(host_offer())];
    let server = [alt(switch_offer(SWITCH_PRIORITY)), alt(host_offer())];
    let d = decide(&client, &server, reg)?;
    let chosen = d
        .matched
        .server
        .first()
        .map(|a| a.local.clone())
        .ok_or_else(|| NegotiationError::BadReply("an empty alternative".into()))?;
    Ok(SequencerPlan {
        chosen,
        fallbacks: d.fallbacks,
        lease: d.lease,
    })
}
