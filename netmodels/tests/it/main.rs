//! Integration tests of the network models, one binary (`cargo test -p netmodels --test it`).

mod cc_seam;
mod middlebox;
mod network;
mod queues;
mod routes;
mod runtime;
mod scale;

use std::rc::Rc;

use netmodels::{FlowSpec, Network, NodeId};
use sim_core::{SimDuration, SimTime, Simulation};
use transport::CcFactory;

/// A flow from `src` to `dst` starting at time zero (`size` `None`: endless).
pub fn flow(src: NodeId, dst: NodeId, size: Option<u64>, cc: impl CcFactory + 'static) -> FlowSpec {
    FlowSpec {
        src,
        dst,
        size,
        start: SimTime::ZERO,
        cc: Rc::new(cc),
        priority: 0,
    }
}

/// Starts `net`'s events and runs it for `secs` seconds of virtual time.
pub fn run_for(net: Network, secs: u64) -> Simulation<Network> {
    let mut sim = Simulation::new(net);
    sim.model().start_events(sim.handle());
    sim.run_until(SimTime::ZERO + SimDuration::from_secs(secs));
    sim
}
