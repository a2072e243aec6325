//! The sans-IO engine and its timing loop on a fake clock: exact ideal instants, drops that
//! match a port driven directly, malformed input, star routing, configuration errors.

use bytes::Bytes;
use emulator::config::EmulatorConfig;
use emulator::{Clock, EmulatorError, Engine, FakeClock, Pump};
use netmodels::link::LinkServer;
use netmodels::queue::QueueConfig;
use netmodels::topology::{node_ip, LinkParams, TopologyConfig};
use netmodels::{NodeId, Packet, Port};
use sim_core::{SimDuration, SimTime};

/// An IPv4/UDP packet of `len` bytes in all from host `src` to host `dst`.
fn udp(src: NodeId, dst: NodeId, len: usize, sport: u16) -> Bytes {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&node_ip(src).octets());
    p[16..20].copy_from_slice(&node_ip(dst).octets());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&9u16.to_be_bytes());
    Bytes::from(p)
}

const US: u64 = 1_000;

/// One pair: access links at 1 Gbit/s (8 µs per 1000 bytes) without delay, bottleneck at
/// 10 Mbit/s (800 µs per 1000 bytes) with 10 ms, drop-tail of `queue` packets.
/// (The engine does not depend on the rate ceiling; it is raised for round numbers.)
fn dumbbell(queue: usize) -> EmulatorConfig {
    let mut c = EmulatorConfig::new(TopologyConfig::Dumbbell {
        pairs: 1,
        bottleneck: LinkParams::fixed(10_000_000, 10_000.0, queue),
        access: LinkParams::fixed(1_000_000_000, 0.0, 1000),
        middlebox: None,
    });
    c.max_rate_bps = 1_000_000_000;
    c
}

/// Drives the pump on the fake clock, jumping to every wake-up, until nothing is due; returns
/// (write instant, due instant, host) of every write.
fn drain(pump: &mut Pump<FakeClock>) -> Vec<(SimTime, SimTime, NodeId)> {
    let mut writes = Vec::new();
    loop {
        let now = pump.clock.now();
        let before = pump.timing.samples().len();
        let mut hosts = Vec::new();
        let next = pump.turn(|h, _| {
            hosts.push(h);
            true
        });
        for (i, e) in pump.timing.samples()[before..].iter().enumerate() {
            writes.push((now, now - SimDuration::from_nanos(*e), hosts[i]));
        }
        match next {
            Some(t) => pump.clock.set(t),
            None => return writes,
        }
    }
}

#[test]
fn packets_come_out_at_exactly_the_ideal_instants() {
    let engine = Engine::new(&dumbbell(1000), SimDuration::ZERO).unwrap();
    let mut pump = Pump::new(engine, FakeClock::default());
    // Three packets back to back at 1 ms, one alone at 50 ms.
    pump.clock.set(SimTime::from_nanos(1_000 * US));
    for i in 0..3 {
        pump.ingress(0, udp(0, 1, 1000, i));
    }
    let mut writes = drain(&mut pump);
    pump.clock.set(SimTime::from_nanos(50_000 * US));
    pump.ingress(0, udp(0, 1, 1000, 7));
    writes.extend(drain(&mut pump));
    // Access out at t0 + 8 µs (i + 1), bottleneck out at t0 + 8 + 800 (i + 1) µs, 10 ms of
    // propagation, 8 µs on the receiver's access link.
    let expect: Vec<u64> = (1..=3)
        .map(|i| 1_000 + 8 + 800 * i + 10_000 + 8)
        .chain([50_000 + 8 + 800 + 10_000 + 8])
        .map(|us| us * US)
        .collect();
    let got: Vec<u64> = writes.iter().map(|w| w.1.as_nanos()).collect();
    assert_eq!(got, expect);
    for (at, due, host) in &writes {
        assert_eq!(at, due, "written when due on a clock that wakes on time");
        assert_eq!(*host, 1);
    }
    let t = pump.timing.summary();
    assert_eq!((t.count, t.median_ns, t.p99_ns), (4, 0, 0));
    let c = pump.engine.counters();
    assert_eq!((c.rx_packets, c.delivered_packets), (4, 4));
}

#[test]
fn a_late_loop_still_delivers_on_the_ideal_schedule() {
    let engine = Engine::new(&dumbbell(1000), SimDuration::ZERO).unwrap();
    let mut pump = Pump::new(engine, FakeClock::default());
    for i in 0..5 {
        pump.ingress(0, udp(0, 1, 1000, i));
    }
    // The loop oversleeps: it only looks again 20 ms later.
    pump.clock.set(SimTime::from_nanos(20_000 * US));
    let mut dues = Vec::new();
    pump.turn(|_, _| true);
    for e in pump.timing.samples() {
        dues.push(20_000 * US - e);
    }
    let expect: Vec<u64> = (1..=5).map(|i| (8 + 800 * i + 10_000 + 8) * US).collect();
    assert_eq!(
        dues, expect,
        "ideal instants do not depend on when the loop runs"
    );
}

#[test]
fn queue_drops_under_overload_match_a_port_driven_directly() {
    let queue = 10;
    let n = 50u64;
    let engine = Engine::new(&dumbbell(queue), SimDuration::ZERO).unwrap();
    let mut pump = Pump::new(engine, FakeClock::default());
    // 50 packets of 1000 bytes every 100 µs: 80 Mbit/s into 10 Mbit/s.
    for i in 0..n {
        pump.clock.set(SimTime::from_nanos(i * 100 * US));
        pump.turn(|_, _| true);
        pump.ingress(0, udp(0, 1, 1000, i as u16));
    }
    let writes = drain(&mut pump);

    // The same arrivals (each 8 µs later, off the access link) into one port.
    let mut port = Port::new(
        0,
        2,
        3,
        QueueConfig::drop_tail_packets(queue)
            .build(sim_core::RngStreams::new(1).stream("q"))
            .unwrap(),
        LinkServer::fixed(10_000_000),
        SimDuration::from_millis(10),
        None,
    );
    let mut drops = Vec::new();
    let mut arrivals = Vec::new();
    for i in 0..n {
        let t = SimTime::from_nanos((i * 100 + 8) * US);
        while let Some((a, _)) = port.poll(t, &mut drops, |_| {}) {
            arrivals.push(a);
        }
        port.enqueue(t, Packet::test(i, 0, 1000), &mut drops);
    }
    while let Some(t) = port.next_wakeup() {
        while let Some((a, _)) = port.poll(t, &mut drops, |_| {}) {
            arrivals.push(a);
        }
    }
    let bn = &pump.engine.ports()[0]; // bottleneck:forward
    assert_eq!(bn.stats.queue_drops, port.stats.queue_drops);
    assert!(port.stats.queue_drops > 0, "the test overloads the queue");
    assert_eq!(bn.stats.tx_packets, port.stats.tx_packets);
    assert_eq!(bn.stats.max_queue_bytes, port.stats.max_queue_bytes);
    let got: Vec<u64> = writes.iter().map(|w| w.1.as_nanos()).collect();
    let want: Vec<u64> = arrivals.iter().map(|a| a.as_nanos() + 8 * US).collect();
    assert_eq!(got, want);
    let rows = pump.engine.port_rows();
    assert_eq!(rows[0].port, "bottleneck:forward");
    assert_eq!(rows[0].queue_drops, port.stats.queue_drops);
}

#[test]
fn malformed_and_stray_packets_are_dropped_and_counted() {
    let engine = Engine::new(&dumbbell(100), SimDuration::ZERO).unwrap();
    let mut pump = Pump::new(engine, FakeClock::default());
    let mut v6 = vec![0u8; 60];
    v6[0] = 0x60;
    pump.ingress(0, Bytes::from(v6));
    pump.ingress(0, Bytes::new());
    pump.ingress(0, Bytes::from_static(&[0x45, 0, 0]));
    let mut lying = udp(0, 1, 60, 1).to_vec();
    lying[2..4].copy_from_slice(&1500u16.to_be_bytes());
    pump.ingress(0, Bytes::from(lying));
    pump.ingress(0, udp(0, 77, 60, 1)); // no such host
    pump.ingress(0, udp(0, 2, 60, 1)); // a switch, not a host
    pump.ingress(0, udp(0, 0, 60, 1)); // to itself
    pump.ingress(99, udp(0, 1, 60, 1)); // from no host
    let mut garbage = 0u64;
    for len in 0..80 {
        let mut p = vec![0u8; len];
        for (i, b) in p.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(len as u8);
        }
        if let Some(b) = p.first_mut() {
            *b = 0x45 | (*b & 0x0f);
        }
        pump.ingress(0, Bytes::from(p));
        garbage += 1;
    }
    assert!(drain(&mut pump).is_empty());
    let c = pump.engine.counters();
    assert_eq!(c.rx_packets, 8 + garbage);
    assert_eq!(c.not_ipv4, 1);
    assert!(c.malformed >= 3);
    assert!(c.unknown_dst >= 2);
    assert!(c.no_route >= 2);
    assert_eq!(
        c.not_ipv4 + c.malformed + c.unknown_dst + c.no_route,
        c.rx_packets
    );
}

#[test]
fn a_star_routes_through_its_switch() {
    let cfg = EmulatorConfig::new(TopologyConfig::Star {
        senders: 3,
        link: LinkParams::fixed(100_000_000, 1_000.0, 100),
        receiver_link: None,
    });
    let engine = Engine::new(&cfg, SimDuration::ZERO).unwrap();
    let mut pump = Pump::new(engine, FakeClock::default());
    pump.ingress(0, udp(0, 3, 1250, 1)); // sender0 → receiver
    pump.ingress(2, udp(2, 1, 1250, 1)); // sender2 → sender1
    let writes = drain(&mut pump);
    // 1250 bytes at 100 Mbit/s: 100 µs per hop, 1 ms per hop, two hops.
    let mut got: Vec<(u64, NodeId)> = writes.iter().map(|w| (w.1.as_nanos(), w.2)).collect();
    got.sort();
    assert_eq!(got, vec![(2_200 * US, 1), (2_200 * US, 3)]);
}

#[test]
fn configuration_errors_name_the_field_before_anything_starts() {
    fn field<T>(r: Result<T, EmulatorError>) -> String {
        match r {
            Err(EmulatorError::Config { field, .. })
            | Err(EmulatorError::Unsupported { field, .. }) => field,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("accepted"),
        }
    }
    let too_fast = EmulatorConfig::dumbbell(1, 20_000_000_000, 0.0, 100, 1_000_000);
    assert_eq!(
        field(too_fast.validate()),
        "topology.bottleneck.link.rate_mbps"
    );
    assert_eq!(
        field(emulator::Emulation::start(&too_fast).map(|_| ())),
        "topology.bottleneck.link.rate_mbps"
    );
    let mut rev = LinkParams::fixed(1_000_000, 0.0, 100);
    rev.reverse = Some(netmodels::topology::PortParams {
        link: netmodels::LinkConfig::fixed_bps(5_000_000_000),
        delay_us: 0.0,
        queue: QueueConfig::drop_tail_packets(10),
        loss: 0.0,
        burst_release_us: None,
    });
    let star = EmulatorConfig::new(TopologyConfig::Star {
        senders: 2,
        link: LinkParams::fixed(1_000_000, 0.0, 100),
        receiver_link: Some(rev),
    });
    assert_eq!(
        field(star.validate()),
        "topology.receiver_link.reverse.link.rate_mbps"
    );
    let mb = EmulatorConfig::new(TopologyConfig::Dumbbell {
        pairs: 1,
        bottleneck: LinkParams::fixed(1_000_000, 0.0, 100),
        access: LinkParams::fixed(1_000_000, 0.0, 100),
        middlebox: Some(Box::new(netmodels::topology::MiddleboxConfig {
            program: netmodels::ProgramConfig::Forward,
            link: LinkParams::fixed(1_000_000, 0.0, 100),
        })),
    });
    assert_eq!(field(mb.validate()), "topology.middlebox");
    let many = EmulatorConfig::dumbbell(100, 1_000_000, 0.0, 100, 1_000_000);
    assert_eq!(field(many.validate()), "topology.pairs");
    let mut mon = EmulatorConfig::dumbbell(1, 1_000_000, 0.0, 100, 1_000_000);
    mon.monitor_links = vec!["nope".into()];
    assert_eq!(field(mon.validate()), "monitor_links");
}

#[test]
fn monitored_ports_get_the_simulators_series() {
    let mut cfg = dumbbell(1000);
    cfg.monitor_links = vec!["bottleneck".into()];
    let engine = Engine::new(&cfg, SimDuration::ZERO).unwrap();
    let mut pump = Pump::new(engine, FakeClock::default());
    for i in 0..20 {
        pump.ingress(0, udp(0, 1, 1000, i));
    }
    pump.clock.set(SimTime::from_nanos(30_000 * US));
    pump.turn(|_, _| true);
    let r = pump.engine.recorder();
    let q = r.samples("qlen_pkts/bottleneck");
    assert_eq!(q.len(), 3, "one sample every 10 ms");
    assert!(q[0].1 > 0.0);
    assert!(!r.samples("util/bottleneck").is_empty());
    assert!(!r.samples("qdelay_ms/bottleneck").is_empty());
    assert!(!r.samples("sojourn_ms/bottleneck").is_empty());
}
