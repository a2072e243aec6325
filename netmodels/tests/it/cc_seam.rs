//! The congestion-control seam: a controller defined here, outside `transport` and
//! `netmodels`, drives a simulated flow; control it receives between ACKs (a window set from a
//! task, as a CCP agent would) takes effect at that virtual instant through the flow's waker.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use netmodels::network::NetworkOptions;
use netmodels::topology::LinkParams;
use netmodels::{FlowSpec, Network, TopologyConfig};
use netrt::Runtime;
use sim_core::{RngStreams, SimDuration, SimTime, Simulation};
use transport::{CcFactory, CongestionControl, FlowContext};

/// A controller whose window is whatever its owner last wrote.
#[derive(Debug)]
struct Remote {
    cwnd: Rc<Cell<u64>>,
}

impl CongestionControl for Remote {
    fn name(&self) -> &str {
        "remote"
    }
    fn cwnd_bytes(&self) -> u64 {
        self.cwnd.get()
    }
}

type Slot = Rc<RefCell<Vec<(FlowContext, Rc<Cell<u64>>)>>>;

/// Builds [`Remote`] controllers with a two-segment window and hands each flow's context
/// (with its waker) and window cell to the test.
#[derive(Debug, Default)]
struct RemoteFactory {
    built: Slot,
}

impl CcFactory for RemoteFactory {
    fn build(&self, ctx: &FlowContext) -> Box<dyn CongestionControl> {
        let cwnd = Rc::new(Cell::new(2 * u64::from(ctx.mss)));
        self.built.borrow_mut().push((ctx.clone(), cwnd.clone()));
        Box::new(Remote { cwnd })
    }
    fn name(&self) -> String {
        "remote".into()
    }
}

const AT: SimTime = SimTime::from_nanos(1_000_000_000);

/// A dumbbell (100 Mbit/s, 20 ms RTT) with one bulk flow from `start` whose controller is a
/// [`Remote`], and an "agent" task on the sender's runtime that raises its window from 2 to
/// 100 segments at exactly 1 s (waking the flow if `wake`).
fn setup(start: SimTime, wake: bool) -> (Simulation<Network>, Slot) {
    let topo = TopologyConfig::Dumbbell {
        pairs: 1,
        bottleneck: LinkParams::fixed(100_000_000, 10_000.0, 1000),
        access: LinkParams::fixed(1_000_000_000, 1.0, 1000),
        middlebox: None,
    }
    .build()
    .unwrap();
    let mut net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(3)).unwrap();
    let factory = Rc::new(RemoteFactory::default());
    let built = factory.built.clone();
    net.add_flow(FlowSpec {
        src: 0,
        dst: 1,
        size: None,
        start,
        cc: factory,
        priority: 0,
    })
    .unwrap();
    let sim = Simulation::new(net);
    sim.model().start_events(sim.handle());
    let rt = sim.model().runtime(sim.handle(), 0).unwrap();
    let slot = built.clone();
    let agent_rt = rt.clone();
    rt.spawn(async move {
        agent_rt.sleep_until(AT).await;
        let log = slot.borrow();
        let (ctx, cwnd) = &log[0];
        cwnd.set(100 * u64::from(ctx.mss));
        if wake {
            ctx.waker.wake();
        }
    });
    (sim, built)
}

/// The sender's highest sequence sent just before and at 1 s, and the factory's log.
fn run(wake: bool) -> (u64, u64, Slot) {
    let (mut sim, built) = setup(SimTime::from_nanos(1_000), wake);
    sim.run_until(AT - SimDuration::from_nanos(1));
    let before = sim.model().flow_sender(0).unwrap().snd_nxt();
    sim.run_until(AT);
    let at = sim.model().flow_sender(0).unwrap().snd_nxt();
    (before, at, built)
}

#[test]
fn window_set_between_acks_takes_effect_at_that_instant() {
    let (before, at, built) = run(true);
    let log = built.borrow();
    assert_eq!(log.len(), 1, "one controller per flow");
    let ctx = &log[0].0;
    assert_eq!(ctx.flow, 0);
    assert_eq!(ctx.src, "10.0.0.1:10000".parse().unwrap());
    assert_eq!(ctx.dst, "10.0.1.1:5201".parse().unwrap());
    assert_eq!(ctx.now, SimTime::from_nanos(1_000));
    let mss = u64::from(ctx.mss);
    // Window-limited at 2 segments, the sender had at most 2 in flight; at 1 s it may send
    // 98 more at once.
    assert!(
        at - before >= 95 * mss,
        "sent {} bytes at the instant of the control message",
        at - before
    );
}

#[test]
fn without_the_waker_nothing_moves_until_the_next_ack() {
    let (before, at, _) = run(false);
    assert_eq!(
        at, before,
        "the control takes effect only when the flow is woken (here: at its next ACK)"
    );
}

#[test]
fn the_window_change_shows_in_the_flow_rate() {
    // Delivered bytes over 0.5 s before and after the change: ~2 segments per RTT vs ~100.
    let (mut sim, _) = setup(SimTime::ZERO, true);
    let half = SimDuration::from_millis(500);
    sim.run_until(AT - half);
    let d0 = sim.model().flow_delivered(0);
    sim.run_until(AT);
    let d1 = sim.model().flow_delivered(0);
    sim.run_until(AT + half);
    let d2 = sim.model().flow_delivered(0);
    let (slow, fast) = ((d1 - d0) as f64, (d2 - d1) as f64);
    assert!(
        fast > 30.0 * slow,
        "rate before {slow} B, after {fast} B per 0.5 s"
    );
}
