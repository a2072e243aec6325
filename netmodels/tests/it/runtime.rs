//! `SimRuntime`, the simulator's `netrt::Runtime`: addresses, binding rules, errors, timers and
//! tasks in virtual time.

use std::io::ErrorKind;
use std::net::SocketAddr;

use netmodels::network::NetworkOptions;
use netmodels::topology::LinkParams;
use netmodels::{node_ip, Network, TopologyConfig};
use netrt::{DatagramSocket, Duration, Elapsed, Instant, JoinError, Runtime};
use sim_core::{RngStreams, Simulation};

fn sim() -> Simulation<Network> {
    let topo = TopologyConfig::Star {
        senders: 2,
        link: LinkParams::fixed(1_000_000_000, 10.0, 100),
        receiver_link: None,
    }
    .build()
    .unwrap();
    Simulation::new(Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).unwrap())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn hosts_get_addresses_from_the_topology_and_only_hosts_get_runtimes() {
    let sim = sim();
    let net = sim.model();
    assert_eq!(node_ip(0).to_string(), "10.0.0.1");
    assert_eq!(node_ip(2).to_string(), "10.0.2.1");
    assert_eq!(node_ip(300).to_string(), "10.1.44.1");
    assert!(
        net.runtime(sim.handle(), 2).is_some(),
        "the receiver is a host"
    );
    assert!(
        net.runtime(sim.handle(), 3).is_none(),
        "node 3 is the switch"
    );
}

#[test]
fn bind_rules_and_errors_use_the_usual_io_kinds() {
    let sim = sim();
    let rt = sim.model().runtime(sim.handle(), 1).unwrap();
    let s = rt.bind(addr("0.0.0.0:0")).unwrap();
    assert_eq!(
        s.local_addr().unwrap(),
        addr("10.0.1.1:49152"),
        "lowest free ephemeral port"
    );
    let s2 = rt.bind(addr("10.0.1.1:0")).unwrap();
    assert_eq!(s2.local_addr().unwrap().port(), 49153);
    drop(s);
    let s3 = rt.bind(addr("0.0.0.0:0")).unwrap();
    assert_eq!(
        s3.local_addr().unwrap().port(),
        49152,
        "a closed port is free again"
    );
    let kind = |r: std::io::Result<netmodels::UdpSocket>| r.err().map(|e| e.kind());
    assert_eq!(
        kind(rt.bind(addr("10.0.0.1:5"))),
        Some(ErrorKind::AddrNotAvailable)
    );
    assert_eq!(
        kind(rt.bind(addr("127.0.0.1:5"))),
        Some(ErrorKind::AddrNotAvailable)
    );
    assert_eq!(
        kind(rt.bind(addr("[::]:5"))),
        Some(ErrorKind::AddrNotAvailable)
    );
    assert_eq!(
        kind(rt.bind(addr("10.0.1.1:49153"))),
        Some(ErrorKind::AddrInUse)
    );
    // The same port on another host is free.
    let other = rt.for_host(0);
    assert!(other.bind(addr("10.0.0.1:49153")).is_ok());
}

#[test]
fn sends_that_cannot_be_simulated_fail_with_clear_kinds() {
    let mut sim = sim();
    let rt = sim.model().runtime(sim.handle(), 0).unwrap();
    let got = sim.block_on(async move {
        let s = rt.bind(addr("0.0.0.0:9")).unwrap();
        let big = vec![0u8; 70_000];
        let e1 = s
            .send_to(&big, addr("10.0.1.1:9"))
            .await
            .unwrap_err()
            .kind();
        let e2 = s.send_to(b"x", addr("[::1]:9")).await.unwrap_err().kind();
        let e3 = s
            .send_to(b"x", addr("192.168.0.1:9"))
            .await
            .unwrap_err()
            .kind();
        (e1, e2, e3)
    });
    assert_eq!(
        got,
        Some((
            ErrorKind::InvalidInput,
            ErrorKind::NetworkUnreachable,
            ErrorKind::NetworkUnreachable
        ))
    );
}

#[test]
fn loopback_and_ipc_stay_on_the_host_and_cost_their_latency() {
    let mut sim = sim();
    let rt = sim.model().runtime(sim.handle(), 0).unwrap();
    let got = sim.block_on(async move {
        rt.set_host_costs(netmodels::HostCosts {
            loopback: Duration::from_micros(7),
            ipc: Duration::from_micros(3),
        });
        let a = rt.bind(addr("0.0.0.0:9")).unwrap();
        let b = rt.bind(addr("0.0.0.0:10")).unwrap();
        let mut buf = [0u8; 8];
        // To the host's own address and to 127.0.0.1: the loopback.
        let t0 = rt.now();
        a.send_to(b"own", addr("10.0.0.1:10")).await.unwrap();
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        let own = (rt.now() - t0, buf[..n].to_vec(), from);
        let t1 = rt.now();
        a.send_to(b"lo", addr("127.0.0.1:10")).await.unwrap();
        let (n, _) = b.recv_from(&mut buf).await.unwrap();
        let lo = (rt.now() - t1, buf[..n].to_vec());
        // IPC: host-scoped paths.
        let p = rt.bind_ipc("/srv.sock").unwrap();
        let c = rt.bind_ipc("/cli.sock").unwrap();
        let dup = rt.bind_ipc("/srv.sock").err().map(|e| e.kind());
        let other_host = rt.for_host(1).bind_ipc("/srv.sock").is_ok();
        let t2 = rt.now();
        c.send_to(b"ipc", &"/srv.sock".into()).await.unwrap();
        let (n, from) = p.recv_from(&mut buf).await.unwrap();
        let ipc = (rt.now() - t2, buf[..n].to_vec(), from);
        let missing = c
            .send_to(b"x", &"/nobody.sock".into())
            .await
            .unwrap_err()
            .kind();
        (own, lo, ipc, dup, other_host, missing)
    });
    let (own, lo, ipc, dup, other_host, missing) = got.unwrap();
    assert_eq!(
        own,
        (
            Duration::from_micros(7),
            b"own".to_vec(),
            addr("10.0.0.1:9")
        )
    );
    assert_eq!(lo, (Duration::from_micros(7), b"lo".to_vec()));
    assert_eq!(
        ipc,
        (
            Duration::from_micros(3),
            b"ipc".to_vec(),
            "/cli.sock".into()
        )
    );
    assert_eq!(dup, Some(ErrorKind::AddrInUse));
    assert!(other_host, "paths are per host");
    assert_eq!(missing, ErrorKind::NotFound);
}

#[test]
fn timers_timeouts_and_tasks_run_in_virtual_time() {
    let mut sim = sim();
    let rt = sim.model().runtime(sim.handle(), 0).unwrap();
    let r = rt.clone();
    let out = sim.block_on(async move {
        let t0 = r.now();
        r.sleep(Duration::from_millis(3)).await;
        let slept = r.now() - t0;
        let pending = std::future::pending::<()>();
        let to = r.timeout(Duration::from_millis(5), pending).await;
        let after_timeout = r.now() - t0;
        let fast = r.timeout(Duration::from_secs(1), async { 7 }).await;
        let r2 = r.clone();
        let h = r.spawn(async move {
            r2.sleep(Duration::from_millis(1)).await;
            r2.now()
        });
        let joined = h.await.unwrap();
        let r3 = r.clone();
        let stuck = r.spawn(async move {
            r3.sleep(Duration::from_secs(100)).await;
        });
        stuck.abort();
        let aborted = stuck.await;
        (slept, to, after_timeout, fast, joined, aborted, r.now())
    });
    let (slept, to, after, fast, joined, aborted, end) = out.unwrap();
    assert_eq!(slept, Duration::from_millis(3));
    assert_eq!(to, Err(Elapsed));
    assert_eq!(after, Duration::from_millis(8));
    assert_eq!(fast, Ok(7));
    assert_eq!(joined, Instant::from_nanos(9_000_000));
    assert_eq!(aborted, Err(JoinError::Cancelled));
    assert_eq!(
        end,
        Instant::from_nanos(9_000_000),
        "an aborted sleep does not advance time"
    );
}

#[test]
fn datagram_socket_trait_works_on_simulated_sockets() {
    let mut sim = sim();
    let ra = sim.model().runtime(sim.handle(), 0).unwrap();
    let rb = sim.model().runtime(sim.handle(), 2).unwrap();
    let got = sim.block_on(async move {
        let a = ra.bind_udp(addr("0.0.0.0:0")).await.unwrap();
        let b = rb.bind_udp(addr("0.0.0.0:7")).await.unwrap();
        let to = DatagramSocket::local_addr(&b).unwrap();
        DatagramSocket::send_to(&a, b"hello", &to).await.unwrap();
        let mut buf = [0u8; 3];
        let (n, from) = DatagramSocket::recv_from(&b, &mut buf).await.unwrap();
        (n, buf, from, a.local_addr().unwrap())
    });
    let (n, buf, from, a_addr) = got.unwrap();
    assert_eq!((n, &buf), (3, b"hel"), "truncated like UDP");
    assert_eq!(from, a_addr);
}
