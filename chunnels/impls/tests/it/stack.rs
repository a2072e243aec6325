use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use chunnel::negotiate::{connect, listen};
use chunnel::{select, stack, ChunnelConnection, NegotiateConfig, PolicyCtx, Registry};
use chunnels::encrypt::EncryptChunnel;
use chunnels::ordered::OrderedChunnel;
use chunnels::reliable::ReliableChunnel;
use chunnels::serialize::{bincode, postcard};
use datapaths::tokio_rt::TokioRuntime;
use netmodels::network::NetworkOptions;
use netmodels::topology::LinkParams;
use netmodels::{node_ip, Network, TopologyConfig};
use netrt::{DatagramSocket, Duration, Runtime};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sim_core::{RngStreams, Simulation};

const MESSAGES: u32 = 200;
/// Every socket drops every `DROP_EVERY`-th datagram it sends (negotiation included).
const DROP_EVERY: u64 = 7;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Msg {
    key: Vec<u8>,
    seq: u32,
    body: Vec<u8>,
}

/// A datagram socket that drops every `every`-th send, deterministically.
struct Lossy<S> {
    inner: S,
    every: u64,
    sent: Cell<u64>,
    dropped: Rc<Cell<u64>>,
}

impl<S: DatagramSocket> DatagramSocket for Lossy<S> {
    type Addr = S::Addr;

    async fn send_to(&self, buf: &[u8], target: &S::Addr) -> io::Result<usize> {
        let n = self.sent.get() + 1;
        self.sent.set(n);
        if n.is_multiple_of(self.every) {
            self.dropped.set(self.dropped.get() + 1);
            return Ok(buf.len());
        }
        self.inner.send_to(buf, target).await
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, S::Addr)> {
        self.inner.recv_from(buf).await
    }

    const POLL_RECV: bool = S::POLL_RECV;

    fn poll_recv_from(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<io::Result<(usize, S::Addr)>> {
        self.inner.poll_recv_from(cx, buf)
    }

    fn local_addr(&self) -> io::Result<S::Addr> {
        self.inner.local_addr()
    }
}

fn lossy<S>(inner: S, dropped: &Rc<Cell<u64>>) -> Rc<Lossy<S>> {
    Rc::new(Lossy {
        inner,
        every: DROP_EVERY,
        sent: Cell::new(0),
        dropped: dropped.clone(),
    })
}

/// What the application saw.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The serialization label both ends agreed on, as the client and the server saw it.
    client_format: Vec<String>,
    server_format: Vec<String>,
    /// Sequence numbers of the requests the server received, in delivery order.
    server_got: Vec<u32>,
    /// Sequence numbers of the echoes the client received, in delivery order.
    client_got: Vec<u32>,
    /// Datagrams the lossy sockets dropped.
    dropped: u64,
}

fn prefer_postcard(_: &PolicyCtx) -> bool {
    false
}

/// The whole application, generic over the runtime: the server listens with a stack that
/// offers both serializers (preferring postcard if `server_prefers_postcard`), the client
/// connects, sends `MESSAGES` requests and waits for every echo.
async fn app<R: Runtime>(
    server_rt: R,
    client_rt: R,
    server_bind: SocketAddr,
    server_prefers_postcard: bool,
) -> io::Result<Outcome> {
    let ssock = server_rt.bind_udp(server_bind).await?;
    let local: SocketAddr = if ssock.local_addr()?.ip().is_loopback() {
        "127.0.0.1:0".parse().unwrap()
    } else {
        "0.0.0.0:0".parse().unwrap()
    };
    let csock = client_rt.bind_udp(local).await?;
    app_over(server_rt, client_rt, ssock, csock, server_prefers_postcard).await
}

/// [`app`] over any datagram sockets: the server's and the client's, already bound.
pub(crate) async fn app_over<R, S>(
    server_rt: R,
    client_rt: R,
    ssock: S,
    csock: S,
    server_prefers_postcard: bool,
) -> io::Result<Outcome>
where
    R: Runtime,
    S: DatagramSocket + 'static,
    S::Addr: Ord + PartialEq,
{
    let dropped = Rc::new(Cell::new(0));
    let ssock = lossy(ssock, &dropped);
    let saddr = ssock.local_addr()?;
    let mut ser = select!(bincode::<Msg>(), postcard::<Msg>());
    if server_prefers_postcard {
        ser = ser.prefer_left_if(prefer_postcard);
    }
    let server_stack = stack![
        ser,
        EncryptChunnel::server(server_rt.clone(), ChaCha20Rng::seed_from_u64(2)),
        OrderedChunnel::new(),
        ReliableChunnel::new(server_rt.clone())
    ];
    let listener = listen(
        &server_rt,
        ssock,
        server_stack,
        Registry::new(),
        NegotiateConfig::default(),
    );
    let server_got = Rc::new(RefCell::new(Vec::new()));
    let server_format = Rc::new(RefCell::new(Vec::new()));
    let (got, fmt) = (server_got.clone(), server_format.clone());
    let server = server_rt.spawn(async move {
        let (_, conn, negotiated) = listener.accept().await?;
        *fmt.borrow_mut() = negotiated.layers[0].labels.iter().cloned().collect();
        loop {
            let (from, m) = conn.recv().await?;
            got.borrow_mut().push(m.seq);
            conn.send((from, m)).await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), chunnel::Error>(())
    });

    let csock = lossy(csock, &dropped);
    let client_stack = stack![
        select!(bincode::<Msg>(), postcard::<Msg>()),
        EncryptChunnel::client(
            client_rt.clone(),
            saddr.clone(),
            ChaCha20Rng::seed_from_u64(1)
        ),
        OrderedChunnel::new(),
        ReliableChunnel::new(client_rt.clone())
    ];
    let client = async {
        let (conn, negotiated) = connect(
            &client_rt,
            csock,
            saddr.clone(),
            client_stack,
            &Registry::new(),
            &NegotiateConfig::default(),
        )
        .await?;
        for seq in 0..MESSAGES {
            let m = Msg {
                key: seq.to_le_bytes().to_vec(),
                seq,
                body: vec![seq as u8; 100],
            };
            conn.send((saddr.clone(), m)).await?;
        }
        let mut echoes = Vec::new();
        while echoes.len() < MESSAGES as usize {
            let (from, m) = conn.recv().await?;
            assert_eq!(from, saddr);
            assert_eq!(m.body, vec![m.seq as u8; 100]);
            echoes.push(m.seq);
        }
        let labels: Vec<String> = negotiated.layers[0].labels.iter().cloned().collect();
        Ok::<_, chunnel::Error>((echoes, labels))
    };
    let (client_got, client_format) = client_rt
        .timeout(Duration::from_secs(60), client)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client stuck"))?
        .map_err(io::Error::other)?;
    server.abort();
    let server_got = server_got.borrow().clone();
    let server_format = server_format.borrow().clone();
    Ok(Outcome {
        client_format,
        server_format,
        server_got,
        client_got,
        dropped: dropped.get(),
    })
}

/// The checks both worlds pass.
pub(crate) fn check(o: &Outcome, format: &str) {
    let all: Vec<u32> = (0..MESSAGES).collect();
    assert_eq!(o.server_got, all, "every request exactly once, in order");
    assert_eq!(o.client_got, all, "every echo exactly once, in order");
    assert_eq!(o.client_format, vec![format.to_string()]);
    assert_eq!(o.server_format, vec![format.to_string()]);
    assert!(
        o.dropped > 2 * u64::from(MESSAGES) / DROP_EVERY,
        "{}",
        o.dropped
    );
}

fn run_sim(server_prefers_postcard: bool) -> Outcome {
    let mut link = LinkParams::fixed(100_000_000, 500.0, 1000);
    link.loss = 0.02;
    let topo = TopologyConfig::Star {
        senders: 1,
        link,
        receiver_link: None,
    }
    .build()
    .unwrap();
    let net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(3)).unwrap();
    let mut sim = Simulation::new(net);
    let client = sim.model().runtime(sim.handle(), 0).unwrap();
    let server = sim.model().runtime(sim.handle(), 1).unwrap();
    let bind = SocketAddr::new(node_ip(1).into(), 7000);
    let app = app(server, client, bind, server_prefers_postcard);
    sim.block_on(app)
        .expect("the application finishes")
        .expect("no error")
}

#[test]
fn full_stack_on_the_simulator_under_loss() {
    let o = run_sim(false);
    check(&o, "bincode/1");
}

#[test]
fn the_server_policy_picks_postcard_on_the_simulator() {
    let o = run_sim(true);
    check(&o, "postcard/1");
}

#[test]
fn the_simulated_run_is_deterministic() {
    let a = run_sim(false);
    let b = run_sim(false);
    assert_eq!(a.dropped, b.dropped);
}

#[test]
fn full_stack_on_real_udp_loopback_under_loss() {
    let rt = TokioRuntime::new().unwrap();
    let o = rt
        .block_on(app(
            rt.clone(),
            rt.clone(),
            "127.0.0.1:0".parse().unwrap(),
            true,
        ))
        .unwrap();
    check(&o, "postcard/1");
}
