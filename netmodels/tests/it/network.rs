//! Whole-network tests: timing through links and switches, routing and ECMP, datagram sockets,
//! and (proptest) byte conservation, in-order complete delivery, and monotonic time on random
//! small topologies and workloads, with and without programmable nodes on the path.

use netmodels::link::LinkConfig;
use netmodels::network::{Event, NetworkOptions};
use netmodels::network::{FlowProblem, NetworkError};
use netmodels::node::{NodeCtx, NodeProgram, ProgramConfig};
use netmodels::queue::QueueConfig;
use netmodels::topology::MiddleboxConfig;
use netmodels::topology::{ecmp_pick, LinkParams, Routes};
use netmodels::{FlowSpec, Network, TopologyConfig};
use netmodels::{Packet, PortId};
use proptest::prelude::*;
use sim_core::{Handle, Model, RngStreams, SimDuration, SimTime, Simulation};
use std::net::SocketAddr;
use std::rc::Rc;
use transport::{CcKind, TransportConfig};

fn star(senders: u32, rate_bps: u64, delay_us: f64, limit: usize) -> TopologyConfig {
    TopologyConfig::Star {
        senders,
        link: LinkParams::fixed(rate_bps, delay_us, limit),
        receiver_link: None,
    }
}

#[test]
fn datagram_crosses_two_store_and_forward_hops_on_time() {
    // sender0 -> switch -> receiver: 1 Gbit/s, 7 us per link. A 1000-byte payload is a 1028-byte
    // packet: 8224 ns to serialize per hop.
    let topo = star(1, 1_000_000_000, 7.0, 100).build().unwrap();
    let net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).unwrap();
    let mut sim = Simulation::new(net);
    let ra = sim.model().runtime(sim.handle(), 0).unwrap();
    let rb = sim.model().runtime(sim.handle(), 1).unwrap();
    let a_addr: SocketAddr = "10.0.0.1:9".parse().unwrap();
    let b_addr: SocketAddr = "10.0.1.1:7".parse().unwrap();
    let a = ra.bind(a_addr).unwrap();
    let b = rb.bind("0.0.0.0:7".parse().unwrap()).unwrap();
    assert_eq!(
        b.local_addr().unwrap(),
        b_addr,
        "0.0.0.0 binds on the host's address"
    );
    assert_eq!(
        rb.bind(b_addr).err().map(|e| e.kind()),
        Some(std::io::ErrorKind::AddrInUse),
        "double bind must fail"
    );
    // Two tasks wait on the same socket before anything is sent; each must get a datagram
    // (with a single waker slot the first reader would never wake).
    let b = std::rc::Rc::new(b);
    let (b1, b2) = (b.clone(), b.clone());
    let r1 = sim.handle().spawn(async move { b1.recv().await });
    let r2 = sim.handle().spawn(async move { b2.recv().await });
    let got = sim.block_on(async move {
        sim_core::rt::sleep(SimDuration::from_micros(1)).await;
        a.send_to(&[1u8; 10], b_addr).await.unwrap();
        a.send_to(&[2u8; 20], b_addr).await.unwrap();
        let (x, y) = (r1.await.unwrap(), r2.await.unwrap());
        let mut lens = [x.1.len(), y.1.len()];
        lens.sort();
        assert_eq!(lens, [10, 20]);
        let t0 = sim_core::rt::now();
        a.send_to(&[42u8; 1000], b_addr).await.unwrap();
        let mut buf = [0u8; 2000];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        (n, from, sim_core::rt::now() - t0, buf[0])
    });
    let (n, from, at, byte) = got.unwrap();
    assert_eq!((n, from, byte), (1000, a_addr, 42));
    assert_eq!(at, SimDuration::from_nanos(2 * 8224 + 2 * 7_000));
}

#[test]
fn leaf_spine_routes_use_every_spine_and_ecmp_is_stable() {
    let cfg = TopologyConfig::LeafSpine {
        leaves: 2,
        spines: 4,
        hosts_per_leaf: 2,
        host_link: LinkParams::fixed(10_000_000_000, 1.0, 100),
        fabric_link: LinkParams::fixed(40_000_000_000, 1.0, 100),
    };
    let t = cfg.build().unwrap();
    let r = Routes::compute(&t);
    // Hosts 0,1 on leaf0 (node 4), hosts 2,3 on leaf1 (node 5); spines are 6..10.
    let leaf0 = 4;
    assert_eq!(
        r.candidates(leaf0, 2).len(),
        4,
        "leaf to a remote host: one path per spine"
    );
    assert_eq!(
        r.candidates(leaf0, 1).len(),
        1,
        "leaf to a local host: the host link"
    );
    assert_eq!(
        r.candidates(0, 3).len(),
        1,
        "host to anything: its one link"
    );
    assert!(
        r.candidates(leaf0, 4).is_empty(),
        "switches are not destinations"
    );
    for spine in 6..10 {
        assert_eq!(r.candidates(spine, 3).len(), 1);
    }
    // ECMP spreads flows over the spines and keeps each flow on one path.
    let mut counts = [0; 4];
    for key in 0..4000u64 {
        let k = ecmp_pick(key * 7919, leaf0, 4);
        assert_eq!(k, ecmp_pick(key * 7919, leaf0, 4));
        counts[k] += 1;
    }
    assert!(counts.iter().all(|c| *c > 800), "{counts:?}");
}

#[test]
fn bad_parameters_are_errors_not_panics() {
    let mut p = LinkParams::fixed(1_000_000, 1.0, 10);
    p.loss = 1.5;
    let cfg = TopologyConfig::Star {
        senders: 2,
        link: p,
        receiver_link: None,
    };
    let e = Network::new(
        cfg.build().unwrap(),
        NetworkOptions::default(),
        &RngStreams::new(1),
    )
    .err()
    .unwrap();
    assert!(
        matches!(
            e,
            NetworkError::Port {
                problem: netmodels::network::PortProblem::Loss(_),
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("loss"), "{e}");
    let e = star(0, 1, 1.0, 1).build().unwrap_err();
    assert!(e.to_string().contains("topology.senders"), "{e}");
    let topo = star(2, 1_000_000, 1.0, 10).build().unwrap();
    let mut net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).unwrap();
    let spec = FlowSpec {
        src: 0,
        dst: 3,
        size: Some(10),
        start: SimTime::ZERO,
        cc: Rc::new(CcKind::Reno),
        priority: 0,
    };
    assert!(
        matches!(
            net.add_flow(spec),
            Err(NetworkError::Flow {
                flow: 0,
                problem: FlowProblem::NotAHost
            })
        ),
        "node 3 is the switch"
    );
}

/// Wraps the network to check, on every event, that time never goes backwards and that every
/// byte is accounted for.
struct Checked {
    net: Network,
    last: SimTime,
    events: u64,
}

impl Model for Checked {
    type Event = Event;
    fn handle(&mut self, now: SimTime, ev: Event, h: &Handle<Event>) {
        assert!(
            now >= self.last,
            "time went backwards: {now} after {}",
            self.last
        );
        self.last = now;
        self.net.handle(now, ev, h);
        self.events += 1;
        if self.events.is_multiple_of(64) {
            let c = self.net.counters();
            assert_eq!(
                c.injected_bytes,
                c.delivered_bytes + c.dropped_bytes + self.net.bytes_in_network()
            );
        }
    }
}

fn topo_strategy() -> impl Strategy<Value = TopologyConfig> {
    let queue = prop_oneof![
        (2usize..40).prop_map(|n| QueueConfig::DropTail {
            limit_packets: Some(n),
            limit_bytes: None
        }),
        (3000u64..60_000).prop_map(|b| QueueConfig::DropTail {
            limit_packets: None,
            limit_bytes: Some(b)
        }),
    ];
    let link = (
        1u64..100,
        0u32..2000,
        queue,
        prop_oneof![Just(0.0), 0.0..0.05],
    )
        .prop_map(|(mbps, d, q, loss)| LinkParams {
            link: LinkConfig::fixed_bps(mbps * 1_000_000),
            delay_us: f64::from(d),
            queue: q,
            loss,
            burst_release_us: None,
            reverse: None,
        });
    prop_oneof![
        (1u32..4, link.clone(), link.clone()).prop_map(|(pairs, b, a)| TopologyConfig::Dumbbell {
            pairs,
            bottleneck: b,
            access: a,
            middlebox: None,
        }),
        (
            1u32..4,
            link.clone(),
            link.clone(),
            link.clone(),
            program_strategy()
        )
            .prop_map(|(pairs, b, a, m, program)| TopologyConfig::Dumbbell {
                pairs,
                bottleneck: b,
                access: a,
                middlebox: Some(Box::new(MiddleboxConfig { program, link: m })),
            }),
        (1u32..6, link.clone()).prop_map(|(senders, l)| TopologyConfig::Star {
            senders,
            link: l,
            receiver_link: None
        }),
        (1u32..3, 1u32..3, 1u32..3, link.clone(), link).prop_map(|(leaves, spines, hpl, h, f)| {
            TopologyConfig::LeafSpine {
                leaves,
                spines,
                hosts_per_leaf: hpl.max(if leaves == 1 { 2 } else { 1 }),
                host_link: h,
                fabric_link: f,
            }
        }),
    ]
}

fn program_strategy() -> impl Strategy<Value = ProgramConfig> {
    prop_oneof![
        Just(ProgramConfig::Forward),
        (1.0f64..200.0).prop_map(|rate_mbps| ProgramConfig::Pacer { rate_mbps }),
    ]
}

/// A user program that drops every `every`-th packet it sees, tags the others, and sends
/// tagged packets out of a port it picks itself (the routed one), exercising every
/// context operation that moves bytes.
struct Chaos {
    every: u64,
    seen: u64,
}

impl NodeProgram for Chaos {
    fn on_packet(&mut self, _now: SimTime, _in: PortId, mut pkt: Packet, ctx: &mut NodeCtx<'_>) {
        self.seen += 1;
        if self.seen.is_multiple_of(self.every) {
            ctx.drop_packet(pkt);
        } else if self.seen.is_multiple_of(2) {
            pkt.tag = self.seen as u32;
            let port = ctx
                .route(&pkt)
                .expect("a middlebox on the path has a route");
            ctx.enqueue(port, pkt)
                .expect("the routed port is the node's own");
        } else {
            ctx.forward(pkt);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn bytes_are_conserved_and_reliable_flows_complete_in_order(
        cfg in topo_strategy(),
        flows in proptest::collection::vec((0u32..1000, 0u32..1000, 1u64..300_000, 0u64..50_000, 0u8..3), 1..6),
        seed in 0u64..1000,
        chaos in proptest::option::of(5u64..50),
    ) {
        let topo = cfg.build().unwrap();
        let hosts = topo.hosts();
        let opts = NetworkOptions {
            transport: TransportConfig { min_rto_us: 5000.0, ..TransportConfig::default() },
            ..NetworkOptions::default()
        };
        let middlebox = topo.nodes.iter().position(|n| n.name == "middlebox");
        let mut net = Network::new(topo, opts, &RngStreams::new(seed)).unwrap();
        if let (Some(m), Some(every)) = (middlebox, chaos) {
            let chaos = Box::new(Chaos { every, seen: 0 });
            prop_assert!(net.set_program(m as u32, chaos), "the middlebox is programmable");
        }
        let mut sizes = Vec::new();
        for (s, d, size, start_us, cc) in flows {
            let src = hosts[s as usize % hosts.len()];
            let mut dst = hosts[d as usize % hosts.len()];
            if dst == src { dst = hosts[(d as usize + 1) % hosts.len()]; }
            let cc: Rc<dyn transport::CcFactory> = Rc::new([CcKind::Reno, CcKind::Cubic, CcKind::Dctcp][cc as usize]);
            let spec = FlowSpec { src, dst, size: Some(size), start: SimTime::from_nanos(start_us * 1000), cc, priority: 0 };
            let id = net.add_flow(spec).unwrap();
            sizes.push((id, size));
        }
        let mut sim = Simulation::new(Checked { net, last: SimTime::ZERO, events: 0 });
        sim.model().net.start_events(sim.handle());
        let mut t = SimTime::ZERO;
        // Up to 300 s: with a chaos middlebox dropping every 5th packet on top of i.i.d. loss
        // and 5-packet queues, a flow can back its RTO off for over a minute and still finish
        // (the saved regression case completes at 64.3 s after 29 timeouts).
        for _ in 0..3000 {
            t += SimDuration::from_millis(100);
            sim.run_until(t);
            let c = sim.model().net.counters();
            prop_assert_eq!(c.injected_bytes, c.delivered_bytes + c.dropped_bytes + sim.model().net.bytes_in_network());
            if sim.model().net.all_sized_flows_done() { break; }
        }
        let net = &sim.model().net;
        prop_assert!(net.all_sized_flows_done(), "flows unfinished after 300 s: {:?}", net.flow_records(sim.now()));
        for (id, size) in sizes {
            // The receiver delivers only in order; complete means exactly `size` bytes.
            prop_assert_eq!(net.flow_delivered(id), size);
        }
    }
}

/// The queue a scenario configures on a host's access link applies to the host's egress port
/// (it used to be replaced by a fixed 10,000-packet drop-tail: 12 MB of queue behind a
/// 10 Mbit/s link with `limit_packets = 10`).
#[test]
fn a_hosts_access_link_queue_is_the_configured_one() {
    let topo = TopologyConfig::Dumbbell {
        pairs: 1,
        bottleneck: LinkParams::fixed(100_000_000, 1_000.0, 1000),
        access: LinkParams::fixed(10_000_000, 1_000.0, 10),
        middlebox: None,
    }
    .build()
    .unwrap();
    let mut net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).unwrap();
    net.add_flow(crate::flow(0, 1, None, CcKind::Cubic))
        .unwrap();
    let sim = crate::run_for(net, 5);
    let net = sim.model();
    let li = net
        .topology()
        .links
        .iter()
        .position(|l| l.name == "access-left0")
        .unwrap();
    let p = &net.ports()[2 * li];
    assert_eq!(p.from, 0, "the sender's egress port");
    assert!(
        p.stats.max_queue_bytes <= 10 * 1500,
        "queue bounded by the configured 10 packets: {} B",
        p.stats.max_queue_bytes
    );
    assert!(p.stats.queue_drops > 0, "Cubic overflows a 10-packet queue");
}

/// Queueing delay is sampled as backlog ÷ rate, so a queue that nothing leaves in a sample
/// interval (a trace link in an outage, or here a link far slower than the sample interval's
/// packet time) does not read 0 ms.
#[test]
fn queueing_delay_samples_are_defined_when_nothing_leaves_the_queue() {
    use netmodels::monitoring::series;
    // 0.1 Mbit/s bottleneck: a 1500-byte packet takes 120 ms; samples every 10 ms.
    let topo = TopologyConfig::Dumbbell {
        pairs: 1,
        bottleneck: LinkParams::fixed(100_000, 1_000.0, 50),
        access: LinkParams::fixed(1_000_000_000, 1.0, 1000),
        middlebox: None,
    }
    .build()
    .unwrap();
    let opts = NetworkOptions {
        sample_interval: Some(SimDuration::from_millis(10)),
        monitor_links: vec!["bottleneck".into()],
        ..NetworkOptions::default()
    };
    let mut net = Network::new(topo, opts, &RngStreams::new(1)).unwrap();
    net.add_flow(crate::flow(0, 1, None, CcKind::Reno)).unwrap();
    let sim = crate::run_for(net, 3);
    let rec = sim.model().recorder();
    let rows = |name: &str| -> Vec<f64> {
        rec.samples(&series::name(name, "bottleneck"))
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    };
    let (q, s) = (rows(series::QDELAY_MS), rows(series::SOJOURN_MS));
    assert_eq!(q.len(), 300, "one queueing-delay sample per interval");
    assert!(
        s.len() < 100,
        "sojourn samples only when a packet left: {}",
        s.len()
    );
    // After slow start the queue holds packets at every sample: no zero readings.
    let late = &q[100..];
    assert!(
        late.iter().all(|v| *v > 100.0),
        "min {:?}",
        late.iter().cloned().fold(f64::MAX, f64::min)
    );
}

/// Capture file names come from link and node names, which a hand-built topology may fill
/// with anything: they never leave the capture directory.
#[test]
fn pcap_file_names_stay_inside_the_capture_directory() {
    use netmodels::topology::{PortParams, Topology};
    let dir = std::env::temp_dir().join(format!("pcap-names-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("cap")).unwrap();
    let l = LinkParams::fixed(1_000_000, 1.0, 10);
    let p = PortParams {
        link: l.link.clone(),
        delay_us: 1.0,
        queue: l.queue.clone(),
        loss: 0.0,
        burst_release_us: None,
    };
    let mut t = Topology::default();
    let a = t.add_host("../a", 1_000_000);
    let b = t.add_host("b/c", 1_000_000);
    t.add_link("../../evil", a, b, p.clone(), p);
    let opts = NetworkOptions {
        pcap: Some((dir.join("cap"), vec!["../../evil".into()])),
        ..NetworkOptions::default()
    };
    Network::new(t, opts, &RngStreams::new(1)).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.join("cap"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["______evil-___a-b_c.pcap", "______evil-b_c-___a.pcap"]
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "nothing outside cap/"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
