//! One protocol code, two worlds: a generic echo application (client with per-request
//! timeouts and retries, server that ignores the first attempt of every third request) is
//! compiled once against `netrt` and run on the simulator (virtual time, simulated hosts) and
//! on tokio over real UDP on loopback, passing the same assertions. And two compile-time
//! checks that the simulated socket API cannot drift from the real one.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use datapaths::tokio_rt::TokioRuntime;
use netmodels::network::NetworkOptions;
use netmodels::topology::LinkParams;
use netmodels::{Network, TopologyConfig};
use netrt::{DatagramSocket, Duration, Runtime};
use sim_core::{RngStreams, Simulation};

const REQUESTS: u32 = 30;
const TIMEOUT: Duration = Duration::from_millis(50);
const RETRIES: u32 = 3;

/// What the client saw.
#[derive(Debug, Default)]
struct Report {
    replies: u32,
    retries: u32,
    timeouts: u32,
    max_rtt: Duration,
}

/// Serves echo requests (`seq` as 4 bytes + payload) until told to stop by a zero-length
/// datagram; drops the first attempt of every request whose `seq % 3 == 0`.
async fn echo_server<S: DatagramSocket<Addr = SocketAddr>>(sock: S) -> io::Result<u32> {
    let mut seen = std::collections::BTreeSet::new();
    let mut served = 0;
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = sock.recv_from(&mut buf).await?;
        if n == 0 {
            return Ok(served);
        }
        let seq = u32::from_be_bytes(buf[..4].try_into().expect("4-byte header"));
        if seq % 3 == 0 && seen.insert(seq) {
            continue; // first attempt "lost"
        }
        sock.send_to(&buf[..n], &from).await?;
        served += 1;
    }
}

/// Sends `REQUESTS` requests one at a time, each retried after `TIMEOUT` up to `RETRIES`
/// times; checks every reply echoes its request.
async fn echo_client<R: Runtime>(rt: R, server: SocketAddr) -> io::Result<Report> {
    let sock = rt.bind_udp(unspecified_like(server)).await?;
    let mut report = Report::default();
    let mut buf = vec![0u8; 2048];
    for seq in 0..REQUESTS {
        let mut req = seq.to_be_bytes().to_vec();
        req.extend(std::iter::repeat_n(seq as u8, 100 + seq as usize));
        let mut attempt = 0;
        loop {
            let sent_at = rt.now();
            sock.send_to(&req, &server).await?;
            match rt.timeout(TIMEOUT, sock.recv_from(&mut buf)).await {
                Ok(r) => {
                    let (n, from) = r?;
                    assert_eq!(from, server, "reply from the server");
                    assert_eq!(&buf[..n], &req[..], "the reply echoes request {seq}");
                    report.replies += 1;
                    report.max_rtt = report.max_rtt.max(rt.now() - sent_at);
                    break;
                }
                Err(netrt::Elapsed) => {
                    report.timeouts += 1;
                    attempt += 1;
                    if attempt > RETRIES {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply"));
                    }
                    report.retries += 1;
                }
            }
        }
    }
    sock.send_to(&[], &server).await?;
    Ok(report)
}

/// The wildcard address of the server's family, port 0.
fn unspecified_like(server: SocketAddr) -> SocketAddr {
    if server.ip().is_loopback() {
        "127.0.0.1:0".parse().unwrap()
    } else {
        "0.0.0.0:0".parse().unwrap()
    }
}

/// The whole application: bind the server on `server_rt`, run the client on `client_rt`.
async fn echo_app<R: Runtime>(
    server_rt: R,
    client_rt: R,
    server_bind: SocketAddr,
) -> io::Result<(Report, u32)> {
    let sock = server_rt.bind_udp(server_bind).await?;
    let addr = sock.local_addr()?;
    let server = server_rt.spawn(echo_server(sock));
    let report = client_rt.timeout(
        Duration::from_secs(30),
        echo_client(client_rt.clone(), addr),
    );
    let report = report
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "echo client stuck"))??;
    let served = server
        .await
        .map_err(|e| io::Error::other(e.to_string()))??;
    Ok((report, served))
}

/// The assertions both worlds must pass.
fn check(report: &Report, served: u32) {
    assert_eq!(report.replies, REQUESTS);
    assert_eq!(served, REQUESTS, "one reply per request");
    // Requests 0, 3, ..., 27 lose their first attempt: exactly one retry each.
    assert_eq!(report.retries, REQUESTS / 3);
    assert_eq!(report.timeouts, REQUESTS / 3);
    assert!(report.max_rtt < TIMEOUT, "{:?}", report.max_rtt);
}

#[test]
fn echo_app_passes_on_the_simulator() {
    let topo = TopologyConfig::Star {
        senders: 1,
        link: LinkParams::fixed(100_000_000, 500.0, 100),
        receiver_link: None,
    }
    .build()
    .unwrap();
    let net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).unwrap();
    let mut sim = Simulation::new(net);
    let client = sim.model().runtime(sim.handle(), 0).unwrap();
    let server = sim.model().runtime(sim.handle(), 1).unwrap();
    let out = Rc::new(RefCell::new(None));
    let slot = out.clone();
    let app = echo_app(server, client.clone(), "0.0.0.0:7".parse().unwrap());
    let t0 = client.now();
    sim.block_on(async move {
        *slot.borrow_mut() = Some(app.await);
    });
    let (report, served) = out.borrow_mut().take().unwrap().unwrap();
    check(&report, served);
    // Virtual time: 2 ms RTT (4 × 0.5 ms) plus serialization, exactly reproducible.
    assert!(report.max_rtt > Duration::from_millis(2));
    let elapsed = sim.now() - t0;
    assert!(
        elapsed >= TIMEOUT.saturating_mul(u64::from(REQUESTS / 3)),
        "each retry waited its timeout in virtual time: {elapsed}"
    );
}

#[test]
fn echo_app_passes_on_real_udp_loopback() {
    let rt = TokioRuntime::new().unwrap();
    let app = echo_app(rt.clone(), rt.clone(), "127.0.0.1:0".parse().unwrap());
    let (report, served) = rt.block_on(app).unwrap();
    check(&report, served);
}

// Compile-time parity. 1: both runtimes' sockets implement the same trait with the same
// address type.
#[allow(dead_code)]
fn same_trait<S: DatagramSocket<Addr = SocketAddr>>() {}
#[allow(dead_code)]
fn sockets_implement_the_same_trait() {
    same_trait::<netmodels::UdpSocket>();
    same_trait::<datapaths::tokio_rt::UdpSocket>();
    same_trait::<<netmodels::SimRuntime as Runtime>::UdpSocket>();
    same_trait::<<TokioRuntime as Runtime>::UdpSocket>();
}

// 2: the simulated socket's inherent API is call-compatible with `tokio::net::UdpSocket`'s:
// the same source compiles against both (method names, argument and result types).
macro_rules! tokio_shaped_calls {
    ($sock:expr, $peer:expr) => {
        async move {
            let s = $sock;
            let peer: SocketAddr = $peer;
            let sent: usize = s.send_to(b"ping", peer).await?;
            let mut buf = [0u8; 16];
            let (n, from): (usize, SocketAddr) = s.recv_from(&mut buf).await?;
            let local: SocketAddr = s.local_addr()?;
            Ok::<_, io::Error>((sent, n, from, local))
        }
    };
}

// Returns the macro's async block as is, so both functions share one body verbatim.
#[allow(dead_code, clippy::manual_async_fn)]
fn simulated_calls(
    s: netmodels::UdpSocket,
    peer: SocketAddr,
) -> impl Future<Output = io::Result<(usize, usize, SocketAddr, SocketAddr)>> {
    tokio_shaped_calls!(s, peer)
}

// Returns the macro's async block as is, so both functions share one body verbatim.
#[allow(dead_code, clippy::manual_async_fn)]
fn real_calls(
    s: tokio::net::UdpSocket,
    peer: SocketAddr,
) -> impl Future<Output = io::Result<(usize, usize, SocketAddr, SocketAddr)>> {
    tokio_shaped_calls!(s, peer)
}
