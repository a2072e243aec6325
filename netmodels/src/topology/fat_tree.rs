//! The k-ary fat-tree builder (see [`super::TopologyConfig::FatTree`]).

use super::{invalid, nic_bps, LinkParams, Topology, TopologyError};
use crate::packet::NodeId;

/// The largest `k` accepted: 27,648 hosts and 2,880 switches.
pub(super) const MAX_K: u32 = 48;

/// Adds a k-ary fat-tree to the empty topology `t`: hosts, then edge, aggregation and core
/// switches; host links, then edge–aggregation links, then aggregation–core links.
pub(super) fn build(
    t: &mut Topology,
    k: u32,
    host_link: &LinkParams,
    edge_agg_link: &LinkParams,
    agg_core_link: &LinkParams,
) -> Result<(), TopologyError> {
    if !(2..=MAX_K).contains(&k) || !k.is_multiple_of(2) {
        return Err(invalid(
            "topology.k",
            &format!("an even number in 2..={MAX_K}"),
            k,
        ));
    }
    let half = k / 2;
    let edges = k * half; // also the number of aggregation switches
    let (hf, hr) = host_link.directions();
    let (ef, er) = edge_agg_link.directions();
    let (cf, cr) = agg_core_link.directions();
    let hosts: Vec<NodeId> = (0..edges)
        .flat_map(|e| (0..half).map(move |h| (e, h)))
        .map(|(e, h)| t.add_host(&format!("host{e}.{h}"), nic_bps(&hf.link)))
        .collect();
    let edge_ids: Vec<NodeId> = (0..edges)
        .map(|e| t.add_switch(&format!("edge{e}")))
        .collect();
    let agg_ids: Vec<NodeId> = (0..edges)
        .map(|a| t.add_switch(&format!("agg{a}")))
        .collect();
    let core_ids: Vec<NodeId> = (0..half * half)
        .map(|c| t.add_switch(&format!("core{c}")))
        .collect();
    for (i, h) in hosts.iter().enumerate() {
        let e = edge_ids[i / half as usize];
        t.add_link(&format!("host{i}"), *h, e, hf.clone(), hr.clone());
    }
    for pod in 0..k {
        for e in pod * half..(pod + 1) * half {
            for a in pod * half..(pod + 1) * half {
                t.add_link(
                    &format!("edge{e}-agg{a}"),
                    edge_ids[e as usize],
                    agg_ids[a as usize],
                    ef.clone(),
                    er.clone(),
                );
            }
        }
    }
    for a in 0..edges {
        let j = a % half;
        for c in j * half..(j + 1) * half {
            t.add_link(
                &format!("agg{a}-core{c}"),
                agg_ids[a as usize],
                core_ids[c as usize],
                cf.clone(),
                cr.clone(),
            );
        }
    }
    Ok(())
}
