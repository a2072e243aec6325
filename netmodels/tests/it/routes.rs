//! Routing at scale (issue 10, item 15): routes are kept per (forwarding node, destination
//! switch), so large fabrics build in little memory; the fat-tree builder; traffic over a
//! fat-tree spreads over every core switch; addresses beyond 65,536 nodes.

use netmodels::topology::{node_for_ip, LinkParams, Routes, MAX_HOSTS};
use netmodels::{node_ip, Network, NetworkOptions, TopologyConfig};
use sim_core::RngStreams;
use transport::CcKind;

fn link(gbps: u64) -> LinkParams {
    LinkParams::fixed(gbps * 1_000_000_000, 1.0, 100)
}

fn fat_tree(k: u32) -> TopologyConfig {
    TopologyConfig::FatTree {
        k,
        host_link: link(1),
        edge_agg_link: link(1),
        agg_core_link: link(1),
    }
}

/// The shape of the reproductions (200 × 200 × 50 took 31 s and 2.1 GB; 1000 × 1000
/// × 20 reached 18.6 GB): the table is (leaves + spines) × leaves entries, whatever the hosts.
#[test]
fn leaf_spine_routes_take_memory_per_leaf_not_per_host() {
    let t = TopologyConfig::LeafSpine {
        leaves: 200,
        spines: 200,
        hosts_per_leaf: 50,
        host_link: link(10),
        fabric_link: link(40),
    }
    .build()
    .unwrap();
    let r = Routes::compute(&t);
    assert_eq!(r.groups(), 200, "one destination group per leaf");
    // Lists: one uplink set per leaf, one downlink per (spine, leaf).
    assert_eq!(r.distinct_lists(), 200 + 200 * 200);
    assert!(
        r.memory_bytes() < 4 << 20,
        "{} bytes of routes",
        r.memory_bytes()
    );
    let leaf0 = 10_000;
    assert_eq!(r.candidates(leaf0, 9_999).len(), 200, "one path per spine");
    assert_eq!(r.candidates(leaf0, 49), [49], "a local host: its own link");
    let spine0 = 10_200;
    assert_eq!(r.candidates(spine0, 9_999).len(), 1);
}

/// 100,000 hosts (beyond the 65,536 addresses of `10.x.y.1`) build, get distinct addresses and
/// routes.
#[test]
fn a_100k_host_fabric_builds_with_routes() {
    let cfg = TopologyConfig::LeafSpine {
        leaves: 1000,
        spines: 16,
        hosts_per_leaf: 100,
        host_link: link(10),
        fabric_link: link(40),
    };
    let t = cfg.build().unwrap();
    t.validate().unwrap();
    assert!(t.hosts().len() as u32 <= MAX_HOSTS);
    let r = Routes::compute(&t);
    assert_eq!(r.groups(), 1000);
    assert!(r.memory_bytes() < 8 << 20, "{} bytes", r.memory_bytes());
    let (first_leaf, first_spine) = (100_000, 101_000);
    assert_eq!(r.candidates(first_leaf, 99_999).len(), 16);
    assert_eq!(r.candidates(first_spine, 99_999).len(), 1);
    let last = t.nodes.len() as u32 - 1;
    assert_eq!(node_ip(last).to_string(), "10.138.151.2");
    assert_eq!(node_for_ip(node_ip(last)), Some(last));
}

/// Every host of a k = 4 fat-tree sends to the host at the same place in the next pod: the
/// flows complete, and ECMP carries traffic through every core switch.
#[test]
fn fat_tree_traffic_crosses_every_core_switch() {
    let topo = fat_tree(4).build().unwrap();
    let mut net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(7)).unwrap();
    let hosts = net.topology().hosts();
    let n = hosts.len() as u32;
    for h in 0..n {
        let dst = (h + 4) % n; // 4 hosts per pod
        net.add_flow(crate::flow(h, dst, Some(200_000), CcKind::Reno))
            .unwrap();
    }
    let sim = crate::run_for(net, 2);
    let net = sim.model();
    assert!(
        net.all_sized_flows_done(),
        "{:?}",
        net.flow_records(sim.now())
    );
    let topo = net.topology();
    for core in topo
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, x)| x.name.starts_with("core"))
    {
        let sent: u64 = net
            .ports()
            .iter()
            .filter(|p| p.from == core.0 as u32)
            .map(|p| p.stats.tx_bytes)
            .sum();
        assert!(sent > 0, "{} forwarded nothing", core.1.name);
    }
}
