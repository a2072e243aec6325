//! Shortest-path routing with ECMP, stored the way switches store it: per (forwarding node,
//! destination group), not per (forwarding node, destination host).
//!
//! A destination host's *group* is the set of forwarding nodes it is linked to (its attachment
//! switch, for a host with one link). Hosts of one group are at the same distance from every
//! forwarding node, so they share every next-hop set except at the attachment switch itself,
//! where the next hop is the host's own link. One breadth-first search per group, over an
//! adjacency of forwarding nodes only (CSR, in ascending link order), gives every forwarding
//! node's next hops towards the group; identical next-hop lists are stored once (a leaf's uplink
//! set is the same for every remote leaf). Memory is one `u32` per (forwarding node, group) plus
//! the distinct lists: a leaf-spine with 100,000 hosts on 1,000 leaves needs a table of
//! (leaves + spines) × leaves entries, whatever the number of hosts per leaf.
//!
//! The candidates and their order are those of a breadth-first search from every destination
//! host that never crosses another host: the links that lie on a shortest path, in ascending link
//! index. [`ecmp_pick`] chooses among them.

use std::collections::HashMap;

use super::Topology;
use crate::packet::NodeId;

/// No route (unreachable, or not a forwarding node / not a destination).
const NONE: u32 = u32::MAX;
/// The forwarding node is linked to the destination host: its candidates are those links.
const ATTACHED: u32 = u32::MAX - 1;

/// Equal-cost next hops: for every (forwarding node, destination host), the links (by index)
/// that lie on a shortest path, in ascending link order, and the ports they leave by. Hosts
/// never forward, so paths never cross a host, and a host's own next hop is its first link.
///
/// Stored per (forwarding node, destination group) as an index into a set of distinct lists
/// (see the module documentation).
#[derive(Clone, Debug)]
pub struct Routes {
    /// Per node: its rank among forwarding nodes, or `NONE`.
    fwd_rank: Vec<u32>,
    /// Per node: true for hosts.
    is_host: Vec<bool>,
    /// Per node: the destination group of a host with a forwarding neighbour, else `NONE`.
    group: Vec<u32>,
    /// Number of groups.
    groups: usize,
    /// `table[rank * groups + group]`: where a list starts in `list_ports`, `NONE` or
    /// `ATTACHED`.
    table: Vec<u32>,
    /// The distinct lists, each stored as its length followed by its ports: the list at `o` is
    /// `list_ports[o + 1..o + 1 + list_ports[o]]`. A switch's lookup then reads the length
    /// beside the ports (one cache line) instead of a separate bounds array first.
    list_ports: Vec<u32>,
    /// The same layout with links (`port / 2`) instead of ports.
    list_links: Vec<u32>,
    /// Number of distinct lists.
    lists: usize,
    /// Per node, CSR over hosts' links: host `h`'s entries are `host_start[h]..host_start[h+1]`,
    /// sorted by (neighbour, link); each gives the neighbour, the link, and the port from the
    /// neighbour towards the host.
    host_start: Vec<u32>,
    host_nbr: Vec<u32>,
    host_links: Vec<u32>,
    host_ports: Vec<u32>,
    /// Per node: a host's first link and the port it sends on (`NONE` otherwise).
    own_link: Vec<u32>,
    own_port: Vec<u32>,
}

/// The port leaving `from` on link `li` (link `l` has ports `2l`, a → b, and `2l + 1`).
fn port_from(t: &Topology, li: usize, from: NodeId) -> u32 {
    if t.links[li].a == from {
        2 * li as u32
    } else {
        2 * li as u32 + 1
    }
}

/// Distinct candidate lists, found by content: a hash picks a chain of lists, compared
/// element by element, so ids depend only on the order lists are first seen.
struct Interner {
    /// Hash → the latest list with that hash; `chain[id]` is the previous one (or `NONE`).
    heads: HashMap<u64, u32>,
    chain: Vec<u32>,
    bounds: Vec<u32>,
    ports: Vec<u32>,
}

impl Interner {
    fn get(&self, id: u32) -> &[u32] {
        &self.ports[self.bounds[id as usize] as usize..self.bounds[id as usize + 1] as usize]
    }

    fn id(&mut self, ports: &[u32]) -> u32 {
        let mut h = ports.len() as u64;
        for p in ports {
            h = (h.rotate_left(5) ^ u64::from(*p)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        let head = self.heads.get(&h).copied().unwrap_or(NONE);
        let mut id = head;
        while id != NONE {
            if self.get(id) == ports {
                return id;
            }
            id = self.chain[id as usize];
        }
        let id = self.chain.len() as u32;
        self.chain.push(head);
        self.heads.insert(h, id);
        self.ports.extend_from_slice(ports);
        self.bounds.push(self.ports.len() as u32);
        id
    }
}

impl Routes {
    /// Computes routes: one breadth-first search per destination group over the forwarding
    /// nodes.
    pub fn compute(t: &Topology) -> Routes {
        let n = t.nodes.len();
        let mut fwd_rank = vec![NONE; n];
        let mut fwd_nodes: Vec<NodeId> = Vec::new();
        let is_host: Vec<bool> = t.nodes.iter().map(|x| !x.kind.forwards()).collect();
        for (i, node) in t.nodes.iter().enumerate() {
            if node.kind.forwards() {
                fwd_rank[i] = fwd_nodes.len() as u32;
                fwd_nodes.push(i as NodeId);
            }
        }
        let f = fwd_nodes.len();
        let valid = |x: NodeId| (x as usize) < n;

        // Forwarding-only adjacency (CSR by rank), each row in ascending link order.
        let mut deg = vec![0u32; f + 1];
        let mut host_deg = vec![0u32; n + 1];
        for l in &t.links {
            if !valid(l.a) || !valid(l.b) || l.a == l.b {
                continue;
            }
            let (ra, rb) = (fwd_rank[l.a as usize], fwd_rank[l.b as usize]);
            if ra != NONE && rb != NONE {
                deg[ra as usize] += 1;
                deg[rb as usize] += 1;
            }
            for (h, other) in [(l.a, l.b), (l.b, l.a)] {
                if is_host[h as usize] && fwd_rank[other as usize] != NONE {
                    host_deg[h as usize] += 1;
                }
            }
        }
        let mut adj_start = Vec::with_capacity(f + 1);
        let mut acc = 0u32;
        for d in &deg[..f] {
            adj_start.push(acc);
            acc += d;
        }
        adj_start.push(acc);
        let mut fill = adj_start.clone();
        let mut adj_nbr = vec![0u32; acc as usize];
        let mut adj_port = vec![0u32; acc as usize];
        let mut host_start = Vec::with_capacity(n + 1);
        let mut hacc = 0u32;
        for d in &host_deg[..n] {
            host_start.push(hacc);
            hacc += d;
        }
        host_start.push(hacc);
        let mut hfill = host_start.clone();
        let mut host_entries: Vec<(u32, u32, u32)> = vec![(0, 0, 0); hacc as usize];
        let mut own_link = vec![NONE; n];
        let mut own_port = vec![NONE; n];
        for (li, l) in t.links.iter().enumerate() {
            if !valid(l.a) || !valid(l.b) {
                continue;
            }
            for h in [l.a, l.b] {
                if is_host[h as usize] && own_link[h as usize] == NONE {
                    own_link[h as usize] = li as u32;
                    own_port[h as usize] = port_from(t, li, h);
                }
            }
            if l.a == l.b {
                continue;
            }
            let (ra, rb) = (fwd_rank[l.a as usize], fwd_rank[l.b as usize]);
            if ra != NONE && rb != NONE {
                for (r, other, from) in [(ra, rb, l.a), (rb, ra, l.b)] {
                    let k = fill[r as usize] as usize;
                    adj_nbr[k] = other;
                    adj_port[k] = port_from(t, li, from);
                    fill[r as usize] += 1;
                }
            }
            for (h, other) in [(l.a, l.b), (l.b, l.a)] {
                if is_host[h as usize] && fwd_rank[other as usize] != NONE {
                    let k = hfill[h as usize] as usize;
                    host_entries[k] = (other, li as u32, port_from(t, li, other));
                    hfill[h as usize] += 1;
                }
            }
        }
        drop(fill);
        drop(hfill);

        // Groups: hosts with the same set of forwarding neighbours, numbered in order of the
        // first such host.
        let mut group = vec![NONE; n];
        let mut group_of_set: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut group_seeds: Vec<Vec<u32>> = Vec::new();
        for h in 0..n {
            let (s, e) = (host_start[h] as usize, host_start[h + 1] as usize);
            if !is_host[h] || s == e {
                continue;
            }
            let row = &mut host_entries[s..e];
            row.sort_unstable();
            let mut set: Vec<u32> = row.iter().map(|x| x.0).collect();
            set.dedup();
            let next = group_seeds.len() as u32;
            let g = *group_of_set.entry(set).or_insert_with_key(|set| {
                group_seeds.push(set.iter().map(|x| fwd_rank[*x as usize]).collect());
                next
            });
            group[h] = g;
        }
        drop(group_of_set);
        let groups = group_seeds.len();
        let host_nbr: Vec<u32> = host_entries.iter().map(|x| x.0).collect();
        let host_links: Vec<u32> = host_entries.iter().map(|x| x.1).collect();
        let host_ports: Vec<u32> = host_entries.iter().map(|x| x.2).collect();
        drop(host_entries);

        // One BFS per group. When a node at distance d is taken from the queue, every node at
        // distance d - 1 is known, so one pass over its row both discovers the next layer and
        // collects its candidates (neighbours at d - 1) in ascending link order.
        let mut table = vec![NONE; f * groups];
        let mut interner = Interner {
            heads: HashMap::new(),
            chain: Vec::new(),
            bounds: vec![0],
            ports: Vec::new(),
        };
        let mut dist = vec![u32::MAX; f];
        let mut queue: Vec<u32> = Vec::with_capacity(f);
        let mut cands: Vec<u32> = Vec::new();
        // Each node's last list: a leaf's uplinks come out the same for every remote leaf, and
        // comparing with them is cheaper than hashing.
        let mut last = vec![NONE; f];
        // Per node: how many of its links lead one step closer (counted as the previous layer
        // is scanned), and the id of the list of all its links. A node all of whose links lead
        // closer (a leaf towards a remote leaf) needs no scan: its list is all its links, and
        // it has no undiscovered neighbour.
        let mut closer = vec![0u32; f];
        let mut all = vec![NONE; f];
        for (g, seeds) in group_seeds.iter().enumerate() {
            queue.clear();
            for &r in seeds {
                dist[r as usize] = 0;
                queue.push(r);
                table[r as usize * groups + g] = ATTACHED;
            }
            let mut head = 0;
            while head < queue.len() {
                let x = queue[head] as usize;
                head += 1;
                let d = dist[x];
                let row = adj_start[x] as usize..adj_start[x + 1] as usize;
                if d > 0 && closer[x] as usize == row.len() {
                    if all[x] == NONE {
                        all[x] = interner.id(&adj_port[row]);
                    }
                    table[x * groups + g] = all[x];
                    continue;
                }
                cands.clear();
                for (&v, &port) in adj_nbr[row.clone()].iter().zip(&adj_port[row]) {
                    let v = v as usize;
                    let dv = dist[v];
                    if dv == u32::MAX {
                        dist[v] = d + 1;
                        closer[v] = 1;
                        queue.push(v as u32);
                    } else if dv == d + 1 {
                        closer[v] += 1;
                    } else if dv + 1 == d {
                        cands.push(port);
                    }
                }
                if d > 0 {
                    let id = match last[x] {
                        id if id != NONE && interner.get(id) == cands.as_slice() => id,
                        _ => interner.id(&cands),
                    };
                    last[x] = id;
                    table[x * groups + g] = id;
                }
            }
            for &r in &queue {
                dist[r as usize] = u32::MAX;
                closer[r as usize] = 0;
            }
        }
        // Lists as (length, ports...) runs; the table's list ids become their offsets.
        let lists = interner.bounds.len() - 1;
        let mut list_ports = Vec::with_capacity(interner.ports.len() + lists);
        let mut list_links = Vec::with_capacity(interner.ports.len() + lists);
        let mut offset = Vec::with_capacity(lists);
        for id in 0..lists as u32 {
            let ports = interner.get(id);
            offset.push(list_ports.len() as u32);
            list_ports.push(ports.len() as u32);
            list_ports.extend_from_slice(ports);
            list_links.push(ports.len() as u32);
            list_links.extend(ports.iter().map(|p| p / 2));
        }
        assert!(
            list_ports.len() < ATTACHED as usize,
            "routing lists overflow u32 offsets"
        );
        for e in &mut table {
            if *e != NONE && *e != ATTACHED {
                *e = offset[*e as usize];
            }
        }
        Routes {
            fwd_rank,
            is_host,
            group,
            groups,
            table,
            list_ports,
            list_links,
            lists,
            host_start,
            host_nbr,
            host_links,
            host_ports,
            own_link,
            own_port,
        }
    }

    /// Where the candidates from `node` towards `dst` are stored: `(array, start, end)`, with
    /// array 0 the interned lists, 1 the hosts' links, 2 a host's own link.
    #[inline]
    fn locate(&self, node: NodeId, dst: NodeId) -> (u8, usize, usize) {
        let (n, d) = (node as usize, dst as usize);
        match self.fwd_rank.get(n) {
            Some(&r) if r != NONE => {
                // `group` is `NONE` for anything but a host with a forwarding neighbour (so also
                // for `dst == node`, a forwarding node): no separate host test on this path,
                // which every packet at every switch takes.
                let g = self.group.get(d).copied().unwrap_or(NONE);
                if g == NONE {
                    return (0, 0, 0);
                }
                match self.table[r as usize * self.groups + g as usize] {
                    NONE => (0, 0, 0),
                    ATTACHED => {
                        let (s, e) = (self.host_start[d] as usize, self.host_start[d + 1] as usize);
                        if e == s + 1 {
                            // A host with one link (the usual case): no search.
                            let hit = usize::from(self.host_nbr[s] == node);
                            return (1, s, s + hit);
                        }
                        let row = &self.host_nbr[s..e];
                        let lo = row.partition_point(|x| *x < node);
                        let hi = row.partition_point(|x| *x <= node);
                        (1, s + lo, s + hi)
                    }
                    o => {
                        let s = o as usize + 1;
                        (0, s, s + self.list_ports[o as usize] as usize)
                    }
                }
            }
            Some(_)
                if node != dst
                    && self.is_host.get(d).copied().unwrap_or(false)
                    && self.own_link[n] != NONE =>
            {
                (2, n, n + 1)
            }
            _ => (0, 0, 0),
        }
    }

    /// The candidate links from `node` towards host `dst`, in ascending link order (empty when
    /// unreachable or `dst` is not a host). A host's only candidate is its own (first) link.
    pub fn candidates(&self, node: NodeId, dst: NodeId) -> &[u32] {
        let (a, s, e) = self.locate(node, dst);
        match a {
            0 => &self.list_links[s..e],
            1 => &self.host_links[s..e],
            _ => &self.own_link[s..e],
        }
    }

    /// The ports of [`Routes::candidates`], in the same order: link `l` leaves `node` by port
    /// `2l` when `node` is its `a` end, `2l + 1` otherwise.
    #[inline]
    pub fn candidate_ports(&self, node: NodeId, dst: NodeId) -> &[u32] {
        let (a, s, e) = self.locate(node, dst);
        match a {
            0 => &self.list_ports[s..e],
            1 => &self.host_ports[s..e],
            _ => &self.own_port[s..e],
        }
    }

    /// Number of destination groups (distinct sets of forwarding nodes hosts attach to).
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// Number of distinct next-hop lists stored.
    pub fn distinct_lists(&self) -> usize {
        self.lists
    }

    /// Bytes of memory the routes hold (their arrays' lengths, not capacities).
    pub fn memory_bytes(&self) -> usize {
        4 * (self.fwd_rank.len()
            + self.group.len()
            + self.table.len()
            + self.list_links.len()
            + self.list_ports.len()
            + self.host_start.len()
            + self.host_nbr.len()
            + self.host_links.len()
            + self.host_ports.len()
            + self.own_link.len()
            + self.own_port.len())
            + self.is_host.len()
    }
}

/// ECMP choice among `n` candidates for a flow at a node: a stable hash, so a flow keeps its
/// path and different switches split independently.
pub fn ecmp_pick(flow_key: u64, node: NodeId, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let mut x = flow_key ^ (u64::from(node).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    // splitmix64 finalizer
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x % n as u64) as usize
}
