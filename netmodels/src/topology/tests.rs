use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;
use crate::node::ProgramConfig;

/// The routes as they were first computed: a breadth-first search from every destination host
/// over all links, never expanding through another host, and for every (forwarding node,
/// host) the links to a neighbour one step closer, in ascending link order. The grouped
/// computation must give exactly these lists.
fn reference(t: &Topology) -> Vec<Vec<Vec<u32>>> {
    let n = t.nodes.len();
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for l in &t.links {
        adj[l.a as usize].push(l.b as usize);
        adj[l.b as usize].push(l.a as usize);
    }
    let mut out = vec![vec![Vec::new(); n]; n];
    for dst in 0..n {
        if !t.is_host(dst as NodeId) {
            continue;
        }
        let mut dist = vec![u32::MAX; n];
        dist[dst] = 0;
        let mut q = VecDeque::from([dst]);
        while let Some(u) = q.pop_front() {
            if u != dst && t.is_host(u as NodeId) {
                continue;
            }
            for &v in &adj[u] {
                if dist[v] == u32::MAX {
                    dist[v] = dist[u] + 1;
                    q.push_back(v);
                }
            }
        }
        for (li, l) in t.links.iter().enumerate() {
            for (from, to) in [(l.a as usize, l.b as usize), (l.b as usize, l.a as usize)] {
                if !t.nodes[from].kind.forwards() {
                    continue;
                }
                let (df, dt) = (dist[from], dist[to]);
                let to_ok = to == dst || !t.is_host(to as NodeId);
                if df != u32::MAX && dt != u32::MAX && dt + 1 == df && to_ok {
                    out[from][dst].push(li as u32);
                }
            }
        }
        // A host's next hop is its first link, whatever the destination.
        for (h, row) in out.iter_mut().enumerate() {
            if t.is_host(h as NodeId) && h != dst {
                if let Some(li) = t
                    .links
                    .iter()
                    .position(|l| l.a as usize == h || l.b as usize == h)
                {
                    row[dst] = vec![li as u32];
                }
            }
        }
    }
    out
}

fn check_against_reference(t: &Topology) {
    let r = Routes::compute(t);
    let want = reference(t);
    let n = t.nodes.len() as NodeId;
    for node in 0..n + 2 {
        for dst in 0..n + 2 {
            let got = r.candidates(node, dst);
            let expected: &[u32] = want
                .get(node as usize)
                .and_then(|row| row.get(dst as usize))
                .map_or(&[], |v| v.as_slice());
            assert_eq!(got, expected, "candidates({node}, {dst})");
            let ports = r.candidate_ports(node, dst);
            assert_eq!(ports.len(), got.len());
            for (p, l) in ports.iter().zip(got) {
                let link = &t.links[*l as usize];
                let from = if p % 2 == 0 { link.a } else { link.b };
                assert_eq!((p / 2, from), (*l, node), "port {p} of link {l} at {node}");
            }
        }
    }
}

fn link() -> LinkParams {
    LinkParams::fixed(1_000_000_000, 1.0, 100)
}

fn params() -> PortParams {
    link().directions().0
}

fn random_topology(kinds: &[u8], links: &[(usize, usize)]) -> Topology {
    let mut t = Topology::default();
    for (i, k) in kinds.iter().enumerate() {
        match k % 4 {
            0 | 1 => t.add_host(&format!("h{i}"), 0),
            2 => t.add_switch(&format!("s{i}")),
            _ => t.add_middlebox(&format!("m{i}"), ProgramConfig::Forward),
        };
    }
    for (i, (a, b)) in links.iter().enumerate() {
        let (a, b) = ((a % kinds.len()) as NodeId, (b % kinds.len()) as NodeId);
        t.add_link(&format!("l{i}"), a, b, params(), params());
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Any graph: hosts with zero, one or several links (to switches, middleboxes or other
    /// hosts), parallel links, self-loops, disconnected parts.
    #[test]
    fn grouped_routes_equal_per_host_routes(
        kinds in proptest::collection::vec(0u8..4, 1..14),
        links in proptest::collection::vec((0usize..14, 0usize..14), 0..30),
    ) {
        check_against_reference(&random_topology(&kinds, &links));
    }
}

#[test]
fn grouped_routes_equal_per_host_routes_on_the_builders() {
    let cfgs = [
        TopologyConfig::LeafSpine {
            leaves: 3,
            spines: 4,
            hosts_per_leaf: 3,
            host_link: link(),
            fabric_link: link(),
        },
        TopologyConfig::FatTree {
            k: 4,
            host_link: link(),
            edge_agg_link: link(),
            agg_core_link: link(),
        },
        TopologyConfig::Dumbbell {
            pairs: 3,
            bottleneck: link(),
            access: link(),
            middlebox: Some(Box::new(MiddleboxConfig {
                program: ProgramConfig::Forward,
                link: link(),
            })),
        },
        TopologyConfig::Star {
            senders: 4,
            link: link(),
            receiver_link: None,
        },
    ];
    for cfg in cfgs {
        check_against_reference(&cfg.build().unwrap());
    }
}

fn fat_tree(k: u32) -> TopologyConfig {
    TopologyConfig::FatTree {
        k,
        host_link: link(),
        edge_agg_link: LinkParams::fixed(2_000_000_000, 1.0, 100),
        agg_core_link: LinkParams::fixed(4_000_000_000, 1.0, 100),
    }
}

#[test]
fn fat_tree_shape() {
    for k in [2u32, 4, 6, 8] {
        let t = fat_tree(k).build().unwrap();
        let h = k * k / 2 * k / 2; // k³/4
        let sw = k * k + k * k / 4; // k²/2 edge + k²/2 aggregation + (k/2)² core
        assert_eq!(t.hosts(), (0..h).collect::<Vec<_>>(), "k={k}: hosts first");
        assert_eq!(t.nodes.len() as u32, h + sw, "k={k}");
        assert_eq!(t.links.len() as u32, 3 * h, "k={k}: k³/4 links per tier");
        let mut degree = vec![0u32; t.nodes.len()];
        for l in &t.links {
            degree[l.a as usize] += 1;
            degree[l.b as usize] += 1;
        }
        for (i, d) in degree.iter().enumerate() {
            let want = if t.is_host(i as NodeId) { 1 } else { k };
            assert_eq!(*d, want, "k={k}: degree of {}", t.nodes[i].name);
        }
        t.validate().unwrap();
    }
    let t = fat_tree(4).build().unwrap();
    let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(&names[..3], ["host0.0", "host0.1", "host1.0"]);
    assert_eq!(
        &names[16..],
        [
            "edge0", "edge1", "edge2", "edge3", "edge4", "edge5", "edge6", "edge7", "agg0", "agg1",
            "agg2", "agg3", "agg4", "agg5", "agg6", "agg7", "core0", "core1", "core2", "core3"
        ]
    );
    let lnames: Vec<&str> = t.links.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(lnames[0], "host0");
    assert_eq!(
        lnames[16..20],
        ["edge0-agg0", "edge0-agg1", "edge1-agg0", "edge1-agg1"]
    );
    // Aggregation switch j of each pod reaches cores j·k/2 .. (j+1)·k/2.
    assert_eq!(
        lnames[32..36],
        ["agg0-core0", "agg0-core1", "agg1-core2", "agg1-core3"]
    );
    assert_eq!(lnames[46..48], ["agg7-core2", "agg7-core3"]);
    // Forward directions point up: host → edge → aggregation → core.
    for l in &t.links {
        let rank = |n: NodeId| match t.nodes[n as usize].name.trim_end_matches(char::is_numeric) {
            "edge" => 1,
            "agg" => 2,
            "core" => 3,
            _ => 0,
        };
        assert_eq!(rank(l.a) + 1, rank(l.b), "{}", l.name);
    }
}

#[test]
fn fat_tree_k_is_checked() {
    for k in [0u32, 1, 3, 7, 50, 64] {
        let err = fat_tree(k).build().unwrap_err();
        assert!(
            matches!(&err, TopologyError::Invalid { field, .. } if field == "topology.k"),
            "k={k}: {err}"
        );
    }
    assert_eq!(fat_tree(48).build().unwrap().hosts().len(), 27_648);
}

/// Number of distinct shortest paths from `src` to `dst` following the candidates.
fn paths(t: &Topology, r: &Routes, src: NodeId, dst: NodeId) -> u64 {
    if src == dst {
        return 1;
    }
    r.candidates(src, dst)
        .iter()
        .map(|l| {
            let l = &t.links[*l as usize];
            let next = if l.a == src { l.b } else { l.a };
            paths(t, r, next, dst)
        })
        .sum()
}

#[test]
fn fat_tree_equal_cost_paths() {
    for k in [4u32, 6, 8] {
        let t = fat_tree(k).build().unwrap();
        let r = Routes::compute(&t);
        let half = k / 2;
        let per_pod = half * half;
        let hosts = t.hosts().len() as u32;
        let pod = |h: u32| h / per_pod;
        let edge = |h: u32| h / half;
        for src in (0..hosts).step_by(3) {
            for dst in (0..hosts).step_by(5) {
                let want = if src == dst {
                    continue;
                } else if pod(src) != pod(dst) {
                    u64::from(half * half)
                } else if edge(src) != edge(dst) {
                    u64::from(half)
                } else {
                    1
                };
                assert_eq!(paths(&t, &r, src, dst), want, "k={k}: {src} → {dst}");
            }
        }
        // Hop by hop: the edge switch spreads over k/2 aggregation switches, each of those over
        // k/2 cores; going down there is one choice.
        let (src, dst) = (0, hosts - 1);
        let e = t.links[r.candidates(src, dst)[0] as usize].b;
        assert_eq!(r.candidates(e, dst).len() as u32, half);
        let a = t.links[r.candidates(e, dst)[0] as usize].b;
        assert_eq!(r.candidates(a, dst).len() as u32, half);
        let c = t.links[r.candidates(a, dst)[0] as usize].b;
        assert_eq!(r.candidates(c, dst).len(), 1);
        // One group per edge switch; lists shared.
        assert_eq!(r.groups() as u32, k * half);
    }
}

#[test]
fn routes_are_stored_per_attachment_switch_not_per_host() {
    let ls = |hosts_per_leaf| {
        let t = TopologyConfig::LeafSpine {
            leaves: 20,
            spines: 8,
            hosts_per_leaf,
            host_link: link(),
            fabric_link: link(),
        }
        .build()
        .unwrap();
        Routes::compute(&t)
    };
    let (small, big) = (ls(2), ls(200));
    assert_eq!((small.groups(), big.groups()), (20, 20));
    // Lists: each leaf's uplink set (shared by every remote leaf) and each spine's downlinks.
    assert_eq!(small.distinct_lists(), 20 + 20 * 8);
    assert_eq!(big.distinct_lists(), small.distinct_lists());
    // Memory grows with hosts only through per-host arrays (a few words per host).
    let per_host = (big.memory_bytes() - small.memory_bytes()) / (20 * 198);
    assert!(per_host <= 48, "{per_host} bytes per host");
}

#[test]
fn host_cap_applies_to_every_builder() {
    let err = TopologyConfig::LeafSpine {
        leaves: 1000,
        spines: 1,
        hosts_per_leaf: 1000,
        host_link: link(),
        fabric_link: link(),
    }
    .build()
    .unwrap_err();
    assert!(
        matches!(&err, TopologyError::Invalid { field, got, .. }
            if field == "topology.hosts_per_leaf" && got.contains("1000000")),
        "{err}"
    );
    let ok = TopologyConfig::LeafSpine {
        leaves: 1000,
        spines: 1,
        hosts_per_leaf: 100,
        host_link: link(),
        fabric_link: link(),
    }
    .build()
    .unwrap();
    assert_eq!(ok.hosts().len(), 100_000);
    ok.validate().unwrap();
}

#[test]
fn addresses_are_unique_up_to_max_nodes() {
    assert_eq!(node_ip(0).to_string(), "10.0.0.1");
    assert_eq!(node_ip(65_535).to_string(), "10.255.255.1");
    assert_eq!(node_ip(65_536).to_string(), "10.0.0.2");
    assert_eq!(node_ip(100_000).to_string(), "10.134.160.2");
    for n in (0..MAX_NODES as NodeId)
        .step_by(997)
        .chain([MAX_NODES as NodeId - 1])
    {
        assert_eq!(node_for_ip(node_ip(n)), Some(n));
    }
    assert_eq!(node_for_ip("10.0.0.0".parse().unwrap()), None);
    assert_eq!(node_for_ip("10.0.0.17".parse().unwrap()), None);
    assert_eq!(node_for_ip("11.0.0.1".parse().unwrap()), None);
}
