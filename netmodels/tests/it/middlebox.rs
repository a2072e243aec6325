//! Programmable nodes on the path: a pacer just under the bottleneck rate moves the standing
//! queue from the bottleneck to itself; tags and timers reach user programs.

use std::cell::RefCell;
use std::rc::Rc;

use netmodels::network::NetworkOptions;
use netmodels::node::{NodeCtx, NodeError, NodeProgram, ProgramConfig};
use netmodels::topology::{LinkParams, MiddleboxConfig};
use netmodels::{Network, Packet, PortId, TopologyConfig};
use sim_core::{RngStreams, SimDuration, SimTime};
use transport::CcKind;

const BOTTLENECK_BPS: u64 = 100_000_000;

fn dumbbell(program: ProgramConfig) -> TopologyConfig {
    TopologyConfig::Dumbbell {
        pairs: 2,
        bottleneck: LinkParams::fixed(BOTTLENECK_BPS, 5_000.0, 1000),
        access: LinkParams::fixed(1_000_000_000, 1.0, 1000),
        middlebox: Some(Box::new(MiddleboxConfig {
            program,
            link: LinkParams::fixed(1_000_000_000, 1.0, 1000),
        })),
    }
}

fn forward_port(net: &Network, link: &str) -> PortId {
    let li = net
        .topology()
        .links
        .iter()
        .position(|l| l.name == link)
        .unwrap();
    (2 * li) as PortId
}

/// Max queue (bytes) at the bottleneck and at the middlebox's out-port, and bottleneck
/// utilization, after 4 s of two bulk Reno flows.
fn run(program: ProgramConfig) -> (u64, u64, f64) {
    let topo = dumbbell(program).build().unwrap();
    let mut net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).unwrap();
    for i in 0..2 {
        let mut f = crate::flow(i, 2 + i, None, CcKind::Reno);
        f.start = SimTime::from_nanos(u64::from(i) * 1_000_000);
        net.add_flow(f).unwrap();
    }
    let secs = 4;
    let sim = crate::run_for(net, secs);
    let net = sim.model();
    let b = &net.ports()[forward_port(net, "bottleneck") as usize];
    let m = &net.ports()[forward_port(net, "middlebox-out") as usize];
    let util = b.stats.tx_bytes as f64 * 8.0 / secs as f64 / BOTTLENECK_BPS as f64;
    (b.stats.max_queue_bytes, m.stats.max_queue_bytes, util)
}

#[test]
fn pacer_just_under_the_bottleneck_moves_the_queue_to_itself() {
    let (bq, mq, _) = run(ProgramConfig::Forward);
    assert!(
        bq > 500_000,
        "without pacing the bottleneck queue builds: {bq} B"
    );
    assert!(
        mq < 10_000,
        "a forwarding middlebox at 1 Gbit/s queues little: {mq} B"
    );

    let (bq, mq, util) = run(ProgramConfig::Pacer { rate_mbps: 95.0 });
    assert!(
        bq <= 2 * 1540,
        "paced at 95% of the bottleneck, its queue holds at most a packet or two: {bq} B"
    );
    assert!(mq > 500_000, "the queue moved to the pacer: {mq} B");
    assert!(
        (0.9..=0.96).contains(&util),
        "the bottleneck runs at the paced rate: {util:.3}"
    );
}

/// Marks packets with an epoch tag that changes on a timer, and records the tags a second
/// program downstream sees.
struct Marker {
    epoch: u32,
}

impl NodeProgram for Marker {
    fn on_start(&mut self, now: SimTime, ctx: &mut NodeCtx<'_>) {
        ctx.set_timer(now + SimDuration::from_millis(10), 7);
        // Enqueueing on a port that is not ours is refused (and the packet is dropped).
        let stray = Packet::test(0, 0, 100);
        assert!(matches!(
            ctx.enqueue(0, stray),
            Err(NodeError::NotOwnPort { port: 0, .. })
        ));
        for p in ctx.out_ports() {
            assert_eq!(ctx.port_rate_bps(p), Ok(1_000_000_000));
        }
    }
    fn on_timer(&mut self, now: SimTime, token: u64, ctx: &mut NodeCtx<'_>) {
        assert_eq!(token, 7);
        self.epoch += 1;
        ctx.set_timer(now + SimDuration::from_millis(10), 7);
    }
    fn on_packet(&mut self, _now: SimTime, _in: PortId, mut pkt: Packet, ctx: &mut NodeCtx<'_>) {
        pkt.tag = self.epoch;
        ctx.forward(pkt);
    }
}

struct Reader(Rc<RefCell<Vec<u32>>>);

impl NodeProgram for Reader {
    fn on_packet(&mut self, _now: SimTime, _in: PortId, pkt: Packet, ctx: &mut NodeCtx<'_>) {
        if matches!(pkt.payload, netmodels::Payload::Data(_)) {
            self.0.borrow_mut().push(pkt.tag);
        }
        ctx.forward(pkt);
    }
}

#[test]
fn tags_set_by_one_program_reach_the_next_and_timers_fire() {
    // sender — left — marker — reader — right — receiver, built by hand.
    use netmodels::topology::Topology;
    let mut t = Topology::default();
    let l = LinkParams::fixed(1_000_000_000, 10.0, 100);
    let (f, r) = (port_params(&l), port_params(&l));
    let s = t.add_host("sender", 1_000_000_000);
    let d = t.add_host("receiver", 1_000_000_000);
    let left = t.add_switch("left");
    let m = t.add_middlebox("marker", ProgramConfig::Forward);
    let rd = t.add_middlebox("reader", ProgramConfig::Forward);
    let right = t.add_switch("right");
    t.add_link("a", s, left, f.clone(), r.clone());
    t.add_link("b", left, m, f.clone(), r.clone());
    t.add_link("c", m, rd, f.clone(), r.clone());
    t.add_link("d", rd, right, f.clone(), r.clone());
    t.add_link("e", right, d, f, r);
    let mut net = Network::new(t, NetworkOptions::default(), &RngStreams::new(1)).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    assert!(net.set_program(m, Box::new(Marker { epoch: 0 })));
    assert!(net.set_program(rd, Box::new(Reader(seen.clone()))));
    assert!(
        !net.set_program(left, Box::new(Reader(seen.clone()))),
        "a switch has no program"
    );
    net.add_flow(crate::flow(s, d, Some(20_000_000), CcKind::Reno))
        .unwrap();
    let sim = crate::run_for(net, 2);
    assert!(sim.model().all_sized_flows_done());
    let seen = seen.borrow();
    assert!(seen.len() > 10_000);
    // Tags never go down along the path and several epochs passed.
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    assert!(*seen.last().unwrap() >= 5, "epochs seen: {:?}", seen.last());
}

fn port_params(l: &LinkParams) -> netmodels::topology::PortParams {
    netmodels::topology::PortParams {
        link: l.link.clone(),
        delay_us: l.delay_us,
        queue: l.queue.clone(),
        loss: l.loss,
        burst_release_us: None,
    }
}
