//! The optimization passes of `chunnels::opt`: each rewrites a matching stack (checked by
//! functions that accept only the rewritten type) whose behaviour is then checked end to end
//! over `chunnels::chan`, leaves a non-matching stack's type and value alone, and raw-offset
//! sharding agrees with the deserializing sharder for every key (proptest).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use chunnel::negotiate::{connect, listen};
use chunnel::opt::{price_pcie, Optimize};
use chunnel::stack::{CxList, CxNil, Select};
use chunnel::{
    select, stack, stack_type, Chunnel, ChunnelConnection, Either, Error, NegotiateConfig, Registry,
};
use chunnels::chan::{ChanAddr, ChanConn, ChanNet, Faults};
use chunnels::encrypt::EncryptChunnel;
use chunnels::encrypt_or_local::EncryptOrLocalChunnel;
use chunnels::framing::{Http2Chunnel, TcpChunnel};
use chunnels::local_or_remote::LocalOrRemoteChunnel;
use chunnels::opt::{FuseEncryptLocal, NicReorder, RawShard};
use chunnels::ordered::OrderedChunnel;
use chunnels::raw_shard::{raw_shard_of, RawKey, RawKeyed, RawServerShard};
use chunnels::reliable::ReliableChunnel;
use chunnels::serialize::{bincode, postcard, Format, SerializeChunnel};
use chunnels::shard::{shard_of, Keyed, ServerShard};
use netmodels::network::NetworkOptions;
use netmodels::offload::Pcie;
use netmodels::topology::LinkParams;
use netmodels::{node_ip, Network, SimRuntime, TopologyConfig};
use netrt::{Duration, Runtime};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sim_core::{RngStreams, SimDuration, Simulation};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Req {
    key: Vec<u8>,
    n: u32,
}

impl Keyed for Req {
    fn key(&self) -> &[u8] {
        &self.key
    }
}

impl RawKeyed for Req {
    const KEY: RawKey = RawKey::Bytes;
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct FixedReq {
    key: [u8; 6],
    v: u64,
}

impl Keyed for FixedReq {
    fn key(&self) -> &[u8] {
        &self.key
    }
}

impl RawKeyed for FixedReq {
    const KEY: RawKey = RawKey::Array { len: 6 };
}

fn req(n: u32) -> Req {
    Req {
        key: format!("key-{n:04}").into_bytes(),
        n,
    }
}

/// Runs `f` on a two-host simulation, with host 0's runtime.
fn run<F, Fut>(f: F) -> Fut::Output
where
    F: FnOnce(SimRuntime, SimRuntime) -> Fut,
    Fut: std::future::Future + 'static,
    Fut::Output: 'static,
{
    let topo = TopologyConfig::Star {
        senders: 1,
        link: LinkParams::fixed(1_000_000_000, 10.0, 1000),
        receiver_link: None,
    }
    .build()
    .unwrap();
    let net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(5)).unwrap();
    let mut sim = Simulation::new(net);
    let a = sim.model().runtime(sim.handle(), 0).unwrap();
    let b = sim.model().runtime(sim.handle(), 1).unwrap();
    sim.block_on(f(a, b)).expect("finishes")
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Records what goes through a connection.
struct Spy<C> {
    inner: C,
    sent: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl<C: ChunnelConnection<Data = (ChanAddr, Vec<u8>)>> ChunnelConnection for Spy<C> {
    type Data = (ChanAddr, Vec<u8>);

    async fn send(&self, (to, b): Self::Data) -> Result<(), Error> {
        self.sent.borrow_mut().push(b.clone());
        self.inner.send((to, b)).await
    }

    async fn recv(&self) -> Result<Self::Data, Error> {
        self.inner.recv().await
    }
}

type Log = Rc<RefCell<Vec<Vec<u8>>>>;
type Lor = LocalOrRemoteChunnel<Spy<ChanConn>, ChanAddr, ChanAddr>;

/// Remote addresses 1 and 2 share a host whose fast path has addresses 11 and 12; 3 is on
/// another host. `local`: this endpoint's fast-path network and address, if it has one.
fn lor(local: Option<(ChanNet, ChanAddr)>, log: &Log) -> Lor {
    let log = log.clone();
    LocalOrRemoteChunnel::new(
        move || {
            local.as_ref().map(|(n, a)| Spy {
                inner: n.endpoint(*a),
                sent: log.clone(),
            })
        },
        |a: &ChanAddr| matches!(a, 1 | 2).then_some(a + 10),
        |la: &ChanAddr| matches!(la, 11 | 12).then_some(la - 10),
    )
}

type Fused = EncryptOrLocalChunnel<SimRuntime, ChanAddr, Spy<ChanConn>, ChanAddr>;

/// Accepts only the fused stack.
fn fused_only(
    s: stack_type![SerializeChunnel<Req>, Fused],
) -> stack_type![SerializeChunnel<Req>, Fused] {
    s
}

/// What one echo exchange of `n` requests saw.
#[derive(Debug)]
struct Echo {
    echoed: Vec<u32>,
    remote_sent: u64,
    local_sent: u64,
    local_log: Vec<Vec<u8>>,
}

/// Client at remote address `client` (with a fast path iff `client_local`), server at 2 (with
/// one); both stacks `[bincode, encrypt, local-or-remote]`, fused iff `fuse`.
fn echo(client: ChanAddr, client_local: bool, fuse: bool, n: u32) -> Echo {
    let remote = ChanNet::new(Faults::none());
    let local = ChanNet::new(Faults::none());
    let log: Log = Rc::default();
    let (rc, rs) = (remote.endpoint(client), remote.endpoint(2));
    let (l2, r2, log2) = (local.clone(), remote.clone(), log.clone());
    let echoed = run(move |rt, _| async move {
        let srt = rt.clone();
        let slog = log2.clone();
        let cl = client_local.then(|| (l2.clone(), client + 10));
        macro_rules! go {
            ($server:expr, $client:expr) => {{
                let mut server = $server;
                let s = rt.spawn(async move {
                    let s = server.connect_wrap(rs).await.unwrap();
                    loop {
                        let (from, m) = s.recv().await.unwrap();
                        s.send((from, m)).await.unwrap();
                    }
                });
                // The server's fast path opens in its connect_wrap: let it run first.
                rt.sleep(Duration::from_millis(1)).await;
                let mut client = $client;
                let c = client.connect_wrap(rc).await.unwrap();
                for i in 0..n {
                    c.send((2, req(i))).await.unwrap();
                }
                let mut got = Vec::new();
                while got.len() < n as usize {
                    got.push(c.recv().await.unwrap().1.n);
                }
                s.abort();
                got
            }};
        }
        let server = stack![
            bincode::<Req>(),
            EncryptChunnel::server(srt.clone(), rng(2)),
            lor(Some((l2.clone(), 12)), &slog)
        ];
        let client = stack![
            bincode::<Req>(),
            EncryptChunnel::client(rt.clone(), 2, rng(1)),
            lor(cl, &log2)
        ];
        if fuse {
            go!(
                fused_only(server.optimize::<FuseEncryptLocal>()),
                fused_only(client.optimize::<FuseEncryptLocal>())
            )
        } else {
            go!(server, client)
        }
    });
    let local_log = log.borrow().clone();
    Echo {
        echoed,
        remote_sent: r2.stats().sent,
        local_sent: local.stats().sent,
        local_log,
    }
}

#[test]
fn fused_encryption_skips_encryption_and_the_handshake_between_same_host_peers() {
    let plain: Vec<Vec<u8>> = (0..10)
        .map(|i| Format::Bincode1.encode(&req(i)).unwrap())
        .collect();
    // Fused, same host: everything on the fast path, in the clear, no handshake.
    let f = echo(1, true, true, 10);
    assert_eq!(f.echoed, (0..10).collect::<Vec<_>>());
    assert_eq!((f.remote_sent, f.local_sent), (0, 20));
    let mut sent = f.local_log.clone();
    sent.sort();
    let mut want: Vec<Vec<u8>> = plain.iter().chain(&plain).cloned().collect();
    want.sort();
    assert_eq!(sent, want, "requests and echoes in the clear");
    // Unfused, same host: the fast path carries the handshake and ciphertext.
    let u = echo(1, true, false, 10);
    assert_eq!(u.echoed, (0..10).collect::<Vec<_>>());
    assert_eq!(u.local_sent, 22, "HELLO, REPLY and 20 sealed messages");
    assert!(u.local_log.iter().all(|b| !plain.contains(b)));
    // Fused, another host: the handshake and encryption over the remote path.
    let r = echo(3, false, true, 10);
    assert_eq!(r.echoed, (0..10).collect::<Vec<_>>());
    assert_eq!((r.remote_sent, r.local_sent), (22, 0));
}

#[test]
fn fused_connection_reports_its_path() {
    let remote = ChanNet::new(Faults::none());
    let local = ChanNet::new(Faults::none());
    let log: Log = Rc::default();
    let (r1, r2) = (remote.endpoint(1), remote.endpoint(2));
    let out = run(move |rt, _| async move {
        let mut c = stack![
            EncryptChunnel::client(rt.clone(), 2, rng(1)),
            lor(Some((local.clone(), 11)), &log)
        ]
        .optimize::<FuseEncryptLocal>();
        let mut s = stack![
            EncryptChunnel::server(rt.clone(), rng(2)),
            lor(Some((local.clone(), 12)), &log)
        ]
        .optimize::<FuseEncryptLocal>();
        let s = rt.spawn(async move {
            let s = s.connect_wrap(r2).await.unwrap();
            let m = s.recv().await.unwrap();
            (s.is_local(), s.sealed(), m)
        });
        rt.sleep(Duration::from_millis(1)).await;
        let c = c.connect_wrap(r1).await.unwrap();
        c.send((2, b"hi".to_vec())).await.unwrap();
        let sv = s.await.unwrap();
        (c.is_local(), c.sealed(), sv)
    });
    assert_eq!(out, (true, 0, (true, 0, (1, b"hi".to_vec()))));
}

/// The full stack, with every select: none of the passes matches it.
#[test]
fn passes_leave_non_matching_stacks_unchanged() {
    type Full = stack_type![
        Select<SerializeChunnel<Req>, SerializeChunnel<Req>>,
        EncryptChunnel<SimRuntime, SocketAddr>,
        OrderedChunnel,
        ReliableChunnel<SimRuntime>
    ];
    fn full_only(s: Full) -> Full {
        s
    }
    let (kept, changed) = run(|rt, _| async move {
        let s = stack![
            select!(bincode::<Req>(), postcard::<Req>()),
            EncryptChunnel::client(rt.clone(), "10.0.0.1:1".parse().unwrap(), rng(1)),
            OrderedChunnel::new(),
            ReliableChunnel::new(rt.clone())
        ];
        let changed = (
            s.rewritten_by::<FuseEncryptLocal>(),
            s.rewritten_by::<RawShard>(),
            s.rewritten_by::<NicReorder>(),
        );
        let s = full_only(s.optimize::<FuseEncryptLocal>());
        let s = full_only(s.optimize::<RawShard>());
        let s = full_only(s.optimize::<NicReorder>());
        (s.head.chosen().is_none(), changed)
    });
    assert!(kept);
    assert_eq!(changed, (false, false, false));
    // Encryption over the fast path the other way round is not the pattern.
    let log: Log = Rc::default();
    type Reversed = stack_type![Lor, EncryptChunnel<SimRuntime, ChanAddr>];
    let r: Reversed = run(move |rt, _| async move {
        stack![lor(None, &log), EncryptChunnel::client(rt, 2, rng(1))]
            .optimize::<FuseEncryptLocal>()
    });
    drop(r);
}

/// Accepts only the raw-offset sharder.
fn raw_only<T>(s: stack_type![RawServerShard<T>]) -> RawServerShard<T> {
    s.head
}

#[test]
fn raw_shard_routes_like_the_deserializing_sharder_over_chan() {
    for f in Format::ALL {
        let net = ChanNet::new(Faults::none());
        let (c, s) = (net.endpoint(1), net.endpoint(2));
        let got = run(move |rt, _| async move {
            let sharder = raw_only(
                stack![ServerShard::new(5), SerializeChunnel::<Req>::new(f)].optimize::<RawShard>(),
            );
            assert_eq!(sharder.format(), f);
            let s = stack![sharder].connect_wrap(s).await.unwrap();
            let c = SerializeChunnel::<Req>::new(f)
                .connect_wrap(c)
                .await
                .unwrap();
            for i in 0..60 {
                c.send((2, req(i))).await.unwrap();
            }
            let mut got = Vec::new();
            for i in 0..5 {
                let h = s.shard(i).unwrap();
                while let Ok(r) = rt.timeout(Duration::from_millis(1), h.recv()).await {
                    let (from, r) = r.unwrap();
                    h.send((from, r.clone())).await.unwrap();
                    got.push((i, r.n));
                }
            }
            let mut echoed = 0;
            while rt.timeout(Duration::from_millis(1), c.recv()).await.is_ok() {
                echoed += 1;
            }
            assert_eq!(echoed, 60);
            // A datagram with no key goes to shard 0, whose handle reports it.
            c.inner().send((2, vec![1])).await.unwrap();
            let bad = s.shard(0).unwrap().recv().await;
            assert!(matches!(bad, Err(Error::Decode { .. })), "{bad:?}");
            got
        });
        assert_eq!(got.len(), 60, "{f}");
        for (i, n) in got {
            assert_eq!(i, shard_of(&req(n).key, 5), "{f}: request {n}");
        }
    }
}

/// The server applies the pass to a select of serializers (one sharder per branch); clients
/// that did not apply it negotiate with it as with `[ServerShard, serializer]`, and the key
/// offset follows the format they negotiated.
#[test]
fn raw_shard_negotiates_like_the_pair_and_takes_the_negotiated_offset() {
    for f in Format::ALL {
        let out = run(move |crt, srt| async move {
            let ssock = Rc::new(
                srt.bind_udp(SocketAddr::new(node_ip(1).into(), 7100))
                    .await?,
            );
            let saddr = ssock.local_addr()?;
            let server_stack = stack![select!(
                stack![ServerShard::new(3), bincode::<Req>()],
                stack![ServerShard::new(3), postcard::<Req>()]
            )]
            .optimize::<RawShard>();
            type Raw = stack_type![RawServerShard<Req>];
            let _: &Select<Raw, Raw> = &server_stack.head;
            let listener = listen(
                &srt,
                ssock,
                server_stack,
                Registry::new(),
                NegotiateConfig::default(),
            );
            let got = Rc::new(RefCell::new(Vec::new()));
            let g2 = got.clone();
            let srt2 = srt.clone();
            let server = srt2.spawn(async move {
                let (_, conn, _) = listener.accept().await.unwrap();
                let (Either::Left(conn) | Either::Right(conn)) = conn;
                let fmt = conn.format();
                let handles: Vec<_> = (0..3).map(|i| conn.shard(i).unwrap()).collect();
                loop {
                    for h in &handles {
                        if let Ok(r) = srt.timeout(Duration::from_millis(1), h.recv()).await {
                            g2.borrow_mut().push((fmt, h.index(), r.unwrap().1.n));
                        }
                    }
                }
            });
            let csock = Rc::new(crt.bind_udp(SocketAddr::new(node_ip(0).into(), 0)).await?);
            let client_stack = stack![SerializeChunnel::<Req>::new(f)];
            let (conn, _) = connect(
                &crt,
                csock,
                saddr,
                client_stack,
                &Registry::new(),
                &NegotiateConfig::default(),
            )
            .await
            .map_err(std::io::Error::other)?;
            for i in 0..30 {
                conn.send((saddr, req(i)))
                    .await
                    .map_err(std::io::Error::other)?;
            }
            while got.borrow().len() < 30 {
                crt.sleep(Duration::from_millis(5)).await;
            }
            server.abort();
            let v = got.borrow().clone();
            Ok::<_, std::io::Error>(v)
        })
        .unwrap();
        assert_eq!(out.len(), 30);
        for (fmt, shard, n) in out {
            assert_eq!(fmt, f);
            assert_eq!(shard, shard_of(&req(n).key, 3), "{f}: request {n}");
        }
    }
}

proptest! {
    #[test]
    fn raw_offset_shard_equals_the_deserializing_shard(
        key in proptest::collection::vec(any::<u8>(), 0..300),
        fixed in any::<[u8; 6]>(),
        n in any::<u32>(),
        shards in 1usize..64,
    ) {
        for f in Format::ALL {
            let m = Req { key: key.clone(), n };
            let b = f.encode(&m).unwrap();
            prop_assert_eq!(
                raw_shard_of(f, Req::KEY, &b, shards),
                Some(shard_of(m.key(), shards)),
                "{} key of {} bytes", f, key.len()
            );
            let m = FixedReq { key: fixed, v: u64::from(n) };
            let b = f.encode(&m).unwrap();
            prop_assert_eq!(
                raw_shard_of(f, FixedReq::KEY, &b, shards),
                Some(shard_of(m.key(), shards))
            );
        }
    }

    #[test]
    fn raw_offset_shard_never_panics_on_garbage(
        bytes in proptest::collection::vec(any::<u8>(), 0..40),
        shards in 0usize..8,
    ) {
        for f in Format::ALL {
            for k in [RawKey::Bytes, RawKey::Array { len: 6 }] {
                if let Some(i) = raw_shard_of(f, k, &bytes, shards) {
                    prop_assert!(i < shards.max(1));
                }
            }
        }
    }
}

type Enc = EncryptChunnel<SimRuntime, ChanAddr>;

/// Accepts only the reordered stack.
fn reordered_only(
    s: stack_type![Http2Chunnel, Enc, TcpChunnel],
) -> stack_type![Http2Chunnel, Enc, TcpChunnel] {
    s
}

#[test]
fn nic_reorder_moves_encryption_under_http2_and_saves_two_pcie_crossings() {
    let pcie = Pcie {
        latency: SimDuration::from_nanos(900),
        bandwidth_bps: 63_000_000_000,
    };
    let (a, b) = chunnels::chan::pair(Faults::none());
    let out = run(move |rt, _| async move {
        let client = stack![
            EncryptChunnel::client(rt.clone(), 2, rng(1)),
            Http2Chunnel::host(),
            TcpChunnel::smartnic()
        ];
        let nic = ["encrypt", "tcp"];
        let before = price_pcie(&client, &nic, &pcie, 1024);
        let mut client = reordered_only(client.optimize::<NicReorder>());
        let after = price_pcie(&client, &nic, &pcie, 1024);
        let mut server = reordered_only(
            stack![
                EncryptChunnel::server(rt.clone(), rng(2)),
                Http2Chunnel::host(),
                TcpChunnel::host()
            ]
            .optimize::<NicReorder>(),
        );
        let s = rt.spawn(async move {
            let s = server.connect_wrap(b).await.unwrap();
            let (from, m) = s.recv().await.unwrap();
            s.send((from, m)).await.unwrap();
        });
        let c = client.connect_wrap(a).await.unwrap();
        c.send((2, b"GET /".to_vec())).await.unwrap();
        let echo = c.recv().await.unwrap();
        s.await.unwrap();
        (before, after, echo)
    });
    let (before, after, echo) = out;
    assert_eq!(echo, (2, b"GET /".to_vec()));
    assert_eq!((before.crossings, after.crossings), (3, 1));
    assert_eq!(before.nanos, 3 * after.nanos);
    assert_eq!(after.nanos, pcie.crossing_time(1024).as_nanos());
}

#[test]
fn passes_compose_and_reach_into_nested_stacks() {
    let log: Log = Rc::default();
    let r = run(move |rt, _| async move {
        let s = stack![
            stack![ServerShard::new(2), bincode::<Req>()],
            EncryptChunnel::server(rt.clone(), rng(1)),
            lor(None, &log)
        ];
        s.optimize::<RawShard>().optimize::<FuseEncryptLocal>()
    });
    let _: &CxList<CxList<RawServerShard<Req>, CxNil>, CxList<Fused, CxNil>> = &r;
}
