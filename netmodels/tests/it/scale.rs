//! Speed at size (issue 10, item 16): what keeps large runs from slowing down with the number of
//! flows and ports. Flow starts are scheduled one at a time (the event queue does not hold one
//! entry per future flow), yet every flow starts exactly at its start time with one start
//! event each; a port without a loss model stays small.

use netmodels::network::{Event, NetworkOptions};
use netmodels::topology::LinkParams;
use netmodels::{FlowSpec, Network, Port, TopologyConfig};
use sim_core::{Handle, Model, RngStreams, SimDuration, SimTime, Simulation};
use std::rc::Rc;
use transport::CcKind;

fn fabric(flows: u32, start: impl Fn(u32) -> SimTime) -> Network {
    let topo = TopologyConfig::LeafSpine {
        leaves: 4,
        spines: 2,
        hosts_per_leaf: 4,
        host_link: LinkParams::fixed(1_000_000_000, 5.0, 100),
        fabric_link: LinkParams::fixed(1_000_000_000, 5.0, 100),
    }
    .build()
    .unwrap();
    let mut net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).unwrap();
    for i in 0..flows {
        net.add_flow(FlowSpec {
            src: i % 16,
            dst: (i + 5) % 16,
            size: Some(3_000),
            start: start(i),
            cc: Rc::new(CcKind::Reno),
            priority: 0,
        })
        .unwrap();
    }
    net
}

/// The event queue after `start_events` holds one flow start, not one per flow: an event
/// scheduled next gets the same sequence number with 10 flows as with 10,000.
#[test]
fn pending_flow_starts_do_not_grow_with_the_number_of_flows() {
    let probe = |flows| {
        let sim = Simulation::new(fabric(flows, |i| SimTime::from_nanos(1_000 * u64::from(i))));
        sim.model().start_events(sim.handle());
        sim.handle().schedule_at(SimTime::ZERO, Event::Sample)
    };
    assert_eq!(probe(10), probe(10_000));
}

/// Wraps the network and checks, after every event at `now`, that every flow whose start is
/// before `now` has started and none whose start is after `now` has; counts the start events.
struct Watch {
    net: Network,
    starts: Vec<(SimTime, u32)>,
    start_events: u64,
}

impl Model for Watch {
    type Event = Event;
    fn handle(&mut self, now: SimTime, ev: Event, h: &Handle<Event>) {
        if matches!(ev, Event::FlowStart(_)) {
            self.start_events += 1;
        }
        self.net.handle(now, ev, h);
        for (at, f) in &self.starts {
            let has = self.net.flow_sender(*f).is_some();
            if *at < now {
                assert!(has, "flow {f} (start {at:?}) not started at {now:?}");
            } else if *at > now {
                assert!(!has, "flow {f} (start {at:?}) started at {now:?}");
            }
        }
    }
}

/// Starts tied in groups (bulk workloads start many flows at one instant), out of index order,
/// interleaved with packet events: each flow starts at its start time, with one start event per
/// flow that started by the end of the run.
#[test]
fn every_flow_starts_on_time_with_one_start_event_each() {
    let start = |i: u32| SimTime::from_nanos(20_000 * u64::from((i * 37) % 50 / 7));
    let net = fabric(200, start);
    let mut starts: Vec<(SimTime, u32)> = (0..200).map(|i| (start(i), i)).collect();
    starts.sort();
    let mut sim = Simulation::new(Watch {
        net,
        starts,
        start_events: 0,
    });
    sim.model().net.start_events(sim.handle());
    // Stop between two start instants: flows starting later neither start nor count.
    sim.run_until(SimTime::ZERO + SimDuration::from_nanos(70_000));
    let w = sim.model();
    let due = w.starts.iter().filter(|s| s.0.as_nanos() <= 70_000).count();
    assert!(due > 0 && due < 200);
    assert_eq!(w.start_events, due as u64);
    sim.run_until(SimTime::ZERO + SimDuration::from_secs(1));
    let w = sim.model();
    assert_eq!(w.start_events, 200);
    assert!(w.net.all_sized_flows_done());
}

/// Ports are kept in one array that every event indexes: a port without a loss model must not
/// carry one inline (a loss model's random stream is a few hundred bytes).
#[test]
fn a_port_stays_small() {
    assert!(
        std::mem::size_of::<Port>() <= 448,
        "{} bytes",
        std::mem::size_of::<Port>()
    );
}
