//! Negotiation end to end: the same application functions on the simulator and on real UDP
//! loopback.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;

use chunnel::negotiate::{self, NegotiateConfig, ZeroRttCache};
use chunnel::wire::ZeroRttOutcome;
use chunnel::{select, stack, ChunnelConnection, Error, NegotiationError, Registry};
use datapaths::tokio_rt::TokioRuntime;
use netrt::{DatagramSocket, Duration, Runtime};

use crate::common::{echo_app, echo_over, sim, unspecified, Lossy, Tag};

fn msgs() -> Vec<Vec<u8>> {
    (0u8..4).map(|i| vec![i; 8]).collect()
}

async fn select_app<R: Runtime>(srv: R, cli: R, bind: SocketAddr) {
    let server = stack![
        select!(
            Tag::exact("ser", "bincode/1"),
            Tag::exact("ser", "postcard/1")
        ),
        Tag::exact("rel", "v1")
    ];
    let client = stack![Tag::exact("ser", "postcard/1"), Tag::exact("rel", "v1")];
    let r = echo_app(srv, cli, bind, server, client, msgs())
        .await
        .unwrap();
    assert_eq!(r.echoed, msgs());
    assert_eq!(r.server.alternative, 1, "the postcard branch");
    assert_eq!(r.client.alternative, 0);
    assert_eq!(r.server.epoch, r.client.epoch);
    let labels: Vec<_> = r.client.layers.iter().map(|a| a.labels.clone()).collect();
    assert!(labels[0].contains("postcard/1"));
    assert_eq!(
        r.client.layers[0].peer.as_ref().unwrap().implementation,
        "postcard/1"
    );
}

#[test]
fn select_resolves_to_the_compatible_branch_on_the_simulator() {
    let (mut sim, c, s) = sim();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    sim.block_on(async move {
        select_app(s, c, "0.0.0.0:7".parse().unwrap()).await;
        d.set(true);
    })
    .unwrap();
    assert!(done.get());
}

#[test]
fn select_resolves_to_the_compatible_branch_on_udp_loopback() {
    let rt = TokioRuntime::new().unwrap();
    rt.block_on(select_app(
        rt.clone(),
        rt.clone(),
        "127.0.0.1:0".parse().unwrap(),
    ));
}

/// The same application over datagrams carried on real TCP connections.
#[test]
fn select_resolves_to_the_compatible_branch_on_tcp_loopback() {
    let rt = TokioRuntime::new().unwrap();
    let r = rt
        .block_on(async {
            let ssock = rt.bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let csock = rt.bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let server = stack![
                select!(
                    Tag::exact("ser", "bincode/1"),
                    Tag::exact("ser", "postcard/1")
                ),
                Tag::exact("rel", "v1")
            ];
            let client = stack![Tag::exact("ser", "postcard/1"), Tag::exact("rel", "v1")];
            echo_over(rt.clone(), rt.clone(), ssock, csock, server, client, msgs()).await
        })
        .unwrap();
    assert_eq!(r.echoed, msgs());
    assert_eq!(r.server.alternative, 1, "the postcard branch");
}

#[test]
fn incompatible_stacks_are_refused_naming_the_chunnel() {
    let (mut sim, c, s) = sim();
    let out = sim
        .block_on(async move {
            echo_app(
                s,
                c,
                "0.0.0.0:7".parse().unwrap(),
                stack![Tag::exact("ser", "bincode/1")],
                stack![Tag::exact("ser", "postcard/1")],
                msgs(),
            )
            .await
        })
        .unwrap();
    match out {
        Err(Error::Negotiation(NegotiationError::Refused(why))) => {
            assert!(why.contains("ser") && why.contains("postcard/1"), "{why}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Connects once through sockets that drop chosen sends; returns the virtual time it took
/// and the listener's resent-reply count.
fn lossy_connect(client_drops: Vec<u32>, server_drops: Vec<u32>) -> (Duration, u64) {
    let (mut sim, c, s) = sim();
    let out = sim
        .block_on(async move {
            let ssock = Rc::new(Lossy {
                inner: s.bind_udp("0.0.0.0:7".parse().unwrap()).await.unwrap(),
                sends: Cell::new(0),
                drop_sends: server_drops,
            });
            let saddr = ssock.inner.local_addr().unwrap();
            let l = negotiate::listen(
                &s,
                ssock,
                stack![Tag::exact("rel", "v1")],
                Registry::new(),
                NegotiateConfig::default(),
            );
            let l = Rc::new(l);
            let l2 = l.clone();
            s.spawn(async move {
                let (_, conn, _) = l2.accept().await.unwrap();
                let (from, d) = conn.recv().await.unwrap();
                conn.send((from, d)).await.unwrap();
            });
            let csock = Rc::new(Lossy {
                inner: c.bind_udp("0.0.0.0:0".parse().unwrap()).await.unwrap(),
                sends: Cell::new(0),
                drop_sends: client_drops,
            });
            let t0 = c.now();
            let (conn, _) = negotiate::connect(
                &c,
                csock,
                saddr,
                stack![Tag::exact("rel", "v1")],
                &Registry::new(),
                &NegotiateConfig::default(),
            )
            .await
            .unwrap();
            let took = c.now() - t0;
            conn.send((saddr, b"ping".to_vec())).await.unwrap();
            assert_eq!(conn.recv().await.unwrap().1, b"ping");
            (took, l.stats().replies_resent.get())
        })
        .unwrap();
    out
}

#[test]
fn lost_hello_and_lost_reply_are_retransmitted() {
    let (clean, resent) = lossy_connect(vec![], vec![]);
    assert_eq!(resent, 0);
    assert!(clean < Duration::from_millis(3), "one 2 ms RTT: {clean}");
    let (lost_hello, resent) = lossy_connect(vec![0], vec![]);
    assert_eq!(resent, 0);
    let rto = NegotiateConfig::default().rto;
    assert!(
        lost_hello >= rto && lost_hello < rto + Duration::from_millis(3),
        "{lost_hello}"
    );
    let (lost_reply, resent) = lossy_connect(vec![], vec![0]);
    assert_eq!(resent, 1, "the retransmitted Hello got the cached reply");
    assert!(lost_reply >= rto, "{lost_reply}");
}

#[test]
fn negotiation_messages_larger_than_a_datagram_are_fragmented() {
    fn layers() -> impl chunnel::Describe
           + chunnel::Chunnel<
        negotiate::DataConn<netmodels::UdpSocket>,
        Connection: ChunnelConnection<Data = (SocketAddr, Vec<u8>)> + 'static,
    > + Clone
           + 'static {
        let long = "x".repeat(300);
        stack![
            Tag::exact("a", &format!("a{long}")),
            Tag::exact("b", &format!("b{long}")),
            Tag::exact("c", &format!("c{long}")),
            Tag::exact("d", &format!("d{long}")),
            Tag::exact("e", &format!("e{long}")),
            Tag::exact("f", &format!("f{long}"))
        ]
    }
    let (mut sim, c, s) = sim();
    let r = sim
        .block_on(async move {
            echo_app(
                s,
                c,
                "0.0.0.0:7".parse().unwrap(),
                layers(),
                layers(),
                msgs(),
            )
            .await
        })
        .unwrap()
        .unwrap();
    assert_eq!(r.echoed, msgs());
    let hello = chunnel::wire::encode(
        &chunnel::wire::NegMsg::Hello {
            epoch: 0,
            alternatives: chunnel::Describe::alternatives(
                &layers(),
                &chunnel::PolicyCtx { peers: 2 },
            ),
            zero_rtt: None,
        },
        0,
    );
    assert!(hello.len() >= 2, "the Hello took {} datagrams", hello.len());
}

/// One 0-RTT client run: connects (with `cache`), pipelines `n` messages, collects the
/// echoes; returns them, the outcome, and the time to the first echo.
async fn zero_rtt_client<R: Runtime>(
    rt: &R,
    saddr: SocketAddr,
    cache: &ZeroRttCache,
    n: u8,
) -> (Vec<Vec<u8>>, ZeroRttOutcome, Duration, bool) {
    let csock = Rc::new(rt.bind_udp(unspecified(saddr)).await.unwrap());
    let t0 = rt.now();
    let client = stack![select!(
        Tag::exact("ser", "bincode/1"),
        Tag::exact("ser", "postcard/1")
    )];
    let (conn, info) = negotiate::connect_zero_rtt(
        rt,
        csock,
        saddr,
        client,
        &Registry::new(),
        cache,
        &NegotiateConfig::default(),
    )
    .await
    .unwrap();
    for i in 0..n {
        conn.send((saddr, vec![i; 8])).await.unwrap();
    }
    let mut got = Vec::new();
    let mut first = None;
    for _ in 0..n {
        got.push(conn.recv().await.unwrap().1);
        first.get_or_insert(rt.now() - t0);
    }
    got.sort();
    (got, info.zero_rtt, first.unwrap(), conn.confirmed())
}

/// Serves an echo that counts served messages; returns the tasks, to stop the server.
fn serve_counting<R: Runtime, S, C>(
    rt: &R,
    l: Rc<negotiate::Listener<S, C>>,
    served: Rc<RefCell<u64>>,
) -> Rc<RefCell<Vec<netrt::JoinHandle<()>>>>
where
    S: DatagramSocket<Addr = SocketAddr> + 'static,
    C: ChunnelConnection<Data = (SocketAddr, Vec<u8>)> + 'static,
{
    let tasks = Rc::new(RefCell::new(Vec::new()));
    let (rt2, t2) = (rt.clone(), tasks.clone());
    let h = rt.spawn(async move {
        while let Ok((_, conn, _)) = l.accept().await {
            let served = served.clone();
            let h = rt2.spawn(async move {
                while let Ok((from, d)) = conn.recv().await {
                    *served.borrow_mut() += 1;
                    if conn.send((from, d)).await.is_err() {
                        break;
                    }
                }
            });
            t2.borrow_mut().push(h);
        }
    });
    tasks.borrow_mut().push(h);
    tasks
}

fn stop(tasks: Rc<RefCell<Vec<netrt::JoinHandle<()>>>>) {
    for t in tasks.borrow_mut().drain(..) {
        t.abort();
    }
}

#[test]
fn zero_rtt_saves_a_round_trip_and_a_rejection_loses_and_duplicates_nothing_on_the_simulator() {
    let (mut sim, _c, s) = sim();
    // Client and server share one simulated host pair: the client runs on node 0.
    let c = _c;
    let out = sim
        .block_on(async move {
            let (srv, cli) = (s, c);
            let _ = &srv;
            zero_rtt_app_split(srv, cli, "0.0.0.0:7".parse().unwrap()).await
        })
        .unwrap();
    let (o1, t1, _, served1) = out[0];
    let (o2, t2, acc2, served2) = out[1];
    let (o3, _, rej3, served3) = out[2];
    assert_eq!(o1, ZeroRttOutcome::NotAsked);
    assert_eq!(o2, ZeroRttOutcome::Pending);
    assert_eq!(acc2, 1);
    assert_eq!((served1, served2), (5, 10), "each message served once");
    assert!(
        t1 >= Duration::from_millis(4),
        "1-RTT: two round trips to the first echo: {t1}"
    );
    assert!(t2 < Duration::from_millis(3), "0-RTT: one round trip: {t2}");
    assert_eq!(o3, ZeroRttOutcome::Pending);
    assert_eq!(rej3, 1);
    assert_eq!(
        served3, 5,
        "the rejected attempt's data was dropped, the replay served once"
    );
}

/// The 0-RTT application with the server on one runtime and clients on another (the
/// simulator needs two hosts; on loopback both are one runtime). Server 1 offers bincode
/// only: client 1 negotiates in one round trip (filling the cache), client 2 goes 0-RTT and
/// is accepted. Server 2, at the same address, offers postcard only: client 3's remembered
/// stack is rejected, it rebuilds and replays, every message echoed exactly once; client 4
/// is then accepted at 0-RTT on the new choice.
async fn zero_rtt_app_split<R: Runtime>(
    srv: R,
    cli: R,
    bind: SocketAddr,
) -> Vec<(ZeroRttOutcome, Duration, u64, u64)> {
    SplitRt { srv, cli }.run(bind).await
}

struct SplitRt<R> {
    srv: R,
    cli: R,
}

impl<R: Runtime> SplitRt<R> {
    async fn run(self, bind: SocketAddr) -> Vec<(ZeroRttOutcome, Duration, u64, u64)> {
        let SplitRt { srv, cli } = self;
        let cache = ZeroRttCache::new();
        let expect: Vec<Vec<u8>> = (0u8..5).map(|i| vec![i; 8]).collect();
        let mut out = Vec::new();
        let ssock = Rc::new(srv.bind_udp(bind).await.unwrap());
        let saddr = ssock.local_addr().unwrap();
        let l = Rc::new(negotiate::listen(
            &srv,
            ssock,
            stack![Tag::exact("ser", "bincode/1")],
            Registry::new(),
            NegotiateConfig::default(),
        ));
        let served = Rc::new(RefCell::new(0u64));
        let tasks = serve_counting(&srv, l.clone(), served.clone());
        for _ in 0..2 {
            let (got, outcome, first, confirmed) = zero_rtt_client(&cli, saddr, &cache, 5).await;
            assert_eq!(got, expect);
            assert!(confirmed);
            out.push((
                outcome,
                first,
                l.stats().zero_rtt_accepted.get(),
                *served.borrow(),
            ));
        }
        drop(l);
        stop(tasks);
        cli.sleep(Duration::from_millis(1)).await;
        let ssock = Rc::new(srv.bind_udp(saddr).await.unwrap());
        let l = Rc::new(negotiate::listen(
            &srv,
            ssock,
            stack![Tag::exact("ser", "postcard/1")],
            Registry::new(),
            NegotiateConfig::default(),
        ));
        let served = Rc::new(RefCell::new(0u64));
        serve_counting(&srv, l.clone(), served.clone());
        let (got, outcome, first, confirmed) = zero_rtt_client(&cli, saddr, &cache, 5).await;
        assert_eq!(got, expect);
        assert!(confirmed);
        out.push((
            outcome,
            first,
            l.stats().zero_rtt_rejected.get(),
            *served.borrow(),
        ));
        let (got, _, _, _) = zero_rtt_client(&cli, saddr, &cache, 5).await;
        assert_eq!(got, expect);
        assert_eq!(l.stats().zero_rtt_accepted.get(), 1);
        out
    }
}

#[test]
fn zero_rtt_rejection_loses_and_duplicates_nothing_on_udp_loopback() {
    let rt = TokioRuntime::new().unwrap();
    let out = rt.block_on(zero_rtt_app_split(
        rt.clone(),
        rt.clone(),
        "127.0.0.1:0".parse().unwrap(),
    ));
    assert_eq!(out[0].0, ZeroRttOutcome::NotAsked);
    assert_eq!(out[1].0, ZeroRttOutcome::Pending);
    assert_eq!((out[0].3, out[1].3), (5, 10));
    assert_eq!(
        (out[2].0, out[2].2, out[2].3),
        (ZeroRttOutcome::Pending, 1, 5)
    );
}

/// A client negotiates with a front address, then sends to a second socket of the service
/// that never saw its `Hello`: with `implicit_alternative` that listener serves it under the
/// client's epoch (how client-pushed shard requests reach shard sockets).
#[test]
fn implicit_listeners_serve_clients_negotiated_elsewhere() {
    let (mut sim, c, s) = sim();
    let out = sim
        .block_on(async move {
            let front = Rc::new(s.bind_udp("0.0.0.0:7".parse().unwrap()).await.unwrap());
            let shard = Rc::new(s.bind_udp("0.0.0.0:8".parse().unwrap()).await.unwrap());
            let (faddr, saddr) = (front.local_addr().unwrap(), shard.local_addr().unwrap());
            let stack = || stack![Tag::exact("ser", "bincode/1")];
            let fl = Rc::new(negotiate::listen(
                &s,
                front,
                stack(),
                Registry::new(),
                NegotiateConfig::default(),
            ));
            let cfg = NegotiateConfig {
                implicit_alternative: Some(0),
                ..NegotiateConfig::default()
            };
            let sl = Rc::new(negotiate::listen(&s, shard, stack(), Registry::new(), cfg));
            let served = Rc::new(RefCell::new(0u64));
            let _f = serve_counting(&s, fl.clone(), Rc::new(RefCell::new(0)));
            let _s = serve_counting(&s, sl.clone(), served.clone());
            let csock = Rc::new(c.bind_udp("0.0.0.0:0".parse().unwrap()).await.unwrap());
            let (conn, info) = negotiate::connect(
                &c,
                csock,
                faddr,
                stack(),
                &Registry::new(),
                &NegotiateConfig::default(),
            )
            .await
            .unwrap();
            conn.send((saddr, b"to-the-shard".to_vec())).await.unwrap();
            let (from, d) = conn.recv().await.unwrap();
            assert_eq!((from, d.as_slice()), (saddr, &b"to-the-shard"[..]));
            let served = *served.borrow();
            (info.epoch, sl.stats().implicit.get(), served)
        })
        .unwrap();
    assert_eq!((out.1, out.2), (1, 1));
}

/// The pump drains a socket while nobody waits on it (see `negotiate::pump`), on real Unix
/// datagram sockets, whose sender blocks once the peer's queue is full (about 512
/// datagrams): two clients each send 3,000 datagrams while the server's connections do not
/// receive, then the server echoes them all while the clients do not receive; every datagram
/// arrives, in order. The datagrams are taken off the sockets by the pumps' background
/// readers, with the connections' own `recv`s taking the reading over when they come.
#[test]
fn sockets_are_drained_while_nobody_receives_on_unix_datagram_sockets() {
    const N: u32 = 3_000;
    let rt = TokioRuntime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let saddr = datapaths::tokio_rt::UnixAddr::from(dir.path().join("server.sock"));
        let listener = negotiate::listen(
            &rt,
            Rc::new(rt.bind_unix(&saddr).unwrap()),
            stack![],
            Registry::new(),
            NegotiateConfig::default(),
        );
        let echo_go = Rc::new(Cell::new(false));
        let (go, srt) = (echo_go.clone(), rt.clone());
        let server = rt.spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..2 {
                conns.push(listener.accept().await.unwrap().1);
            }
            while !go.get() {
                srt.sleep(Duration::from_millis(1)).await;
            }
            for conn in &conns {
                for i in 0..N {
                    let (from, d) = conn.recv().await.unwrap();
                    assert_eq!(d, i.to_le_bytes());
                    conn.send((from, d)).await.unwrap();
                }
            }
        });
        let mut clients = Vec::new();
        for c in 0..2 {
            let sock = Rc::new(rt.bind_unix(dir.path().join(format!("c{c}.sock"))).unwrap());
            let (conn, _) = negotiate::connect(
                &rt,
                sock,
                saddr.clone(),
                stack![],
                &Registry::new(),
                &NegotiateConfig::default(),
            )
            .await
            .unwrap();
            clients.push(conn);
        }
        for conn in &clients {
            for i in 0..N {
                let sent = conn.send((saddr.clone(), i.to_le_bytes().to_vec()));
                rt.timeout(Duration::from_secs(30), sent)
                    .await
                    .expect("the server's socket is drained")
                    .unwrap();
            }
        }
        echo_go.set(true);
        rt.timeout(Duration::from_secs(30), server)
            .await
            .expect("the clients' sockets are drained")
            .unwrap();
        for conn in &clients {
            for i in 0..N {
                let (_, d) = conn.recv().await.unwrap();
                assert_eq!(d, i.to_le_bytes());
            }
        }
    });
}

/// Clients of [`many_receivers_share_a_socket`].
const SHARING_CLIENTS: usize = 4;

/// Several connections of one listener receive at once, each in its own task, while their
/// clients, each in its own task, send request after request (some two at a time) of
/// distinct contents and lengths: the server's pump hands the socket's reading over between
/// many waiting consumers, and the vectors it reuses for received payloads (those the
/// echoes' sends are done with) never mix two messages up. Every reply is the exact request.
/// `socks` are the server's socket, then one per client.
async fn many_receivers_share_a_socket<S>(rt: &TokioRuntime, mut socks: Vec<S>)
where
    S: DatagramSocket + 'static,
    S::Addr: Ord,
{
    const ROUNDS: usize = 150;
    let server_sock = socks.remove(0);
    let server = server_sock.local_addr().unwrap();
    let listener = negotiate::listen(
        rt,
        Rc::new(server_sock),
        stack![],
        Registry::new(),
        NegotiateConfig::default(),
    );
    let srt = rt.clone();
    let acceptor = rt.spawn(async move {
        let mut echoes = Vec::new();
        for _ in 0..SHARING_CLIENTS {
            let (_, conn, _) = listener.accept().await.unwrap();
            echoes.push(srt.spawn(async move {
                while let Ok(d) = conn.recv().await {
                    if conn.send(d).await.is_err() {
                        break;
                    }
                }
            }));
        }
        (listener, echoes)
    });
    let mut clients = Vec::new();
    for (c, sock) in socks.into_iter().enumerate() {
        let (conn, _) = negotiate::connect(
            rt,
            Rc::new(sock),
            server.clone(),
            stack![],
            &Registry::new(),
            &NegotiateConfig::default(),
        )
        .await
        .unwrap();
        let to = server.clone();
        clients.push(rt.spawn(async move {
            let msg = |r: usize| -> Vec<u8> {
                let len = 1 + (r * 37 + c * 11) % 300;
                (0..len).map(|i| (i + r * 7 + c * 131) as u8).collect()
            };
            let mut r = 0;
            while r < ROUNDS {
                // Every third round sends two before receiving.
                let n = if r % 3 == 0 { 2 } else { 1 };
                for k in 0..n {
                    conn.send((to.clone(), msg(r + k))).await.unwrap();
                }
                for k in 0..n {
                    let (_, got) = conn.recv().await.unwrap();
                    assert_eq!(got, msg(r + k), "client {c}, round {}", r + k);
                }
                r += n;
            }
        }));
    }
    for c in clients {
        rt.timeout(Duration::from_secs(60), c)
            .await
            .expect("every reply arrives")
            .unwrap();
    }
    let (_listener, echoes) = acceptor.await.unwrap();
    for e in echoes {
        e.abort();
    }
}

#[test]
fn many_receivers_share_a_socket_on_udp_loopback() {
    let rt = TokioRuntime::new().unwrap();
    rt.block_on(async {
        let mut socks = Vec::new();
        for _ in 0..=SHARING_CLIENTS {
            socks.push(rt.bind_udp("127.0.0.1:0".parse().unwrap()).await.unwrap());
        }
        many_receivers_share_a_socket(&rt, socks).await;
    });
}

#[test]
fn many_receivers_share_a_socket_on_unix_datagram_sockets() {
    let rt = TokioRuntime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socks = (0..=SHARING_CLIENTS)
        .map(|i| rt.bind_unix(dir.path().join(format!("s{i}.sock"))).unwrap())
        .collect();
    rt.block_on(many_receivers_share_a_socket(&rt, socks));
}

#[test]
fn many_receivers_share_a_socket_on_tcp_loopback() {
    let rt = TokioRuntime::new().unwrap();
    rt.block_on(async {
        let mut socks = Vec::new();
        for _ in 0..=SHARING_CLIENTS {
            socks.push(rt.bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap());
        }
        many_receivers_share_a_socket(&rt, socks).await;
    });
}

/// Counts its wakes.
struct CountWakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A receive that is already the one the socket's readiness wakes, polled again with another
/// waker (the future moved to another task, or a combinator's waker), is woken through the
/// new one when its datagram comes: the pump's fast path for a consumer that is already the
/// target still keeps the latest waker. Unix datagram and UDP sockets (both polled).
#[test]
fn a_receive_polled_again_with_another_waker_is_woken_through_it() {
    use std::future::Future;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::task::{Context, Waker};

    async fn check<S>(rt: &TokioRuntime, ssock: S, csock: S)
    where
        S: DatagramSocket + 'static,
        S::Addr: Ord,
    {
        let saddr = ssock.local_addr().unwrap();
        let listener = negotiate::listen(
            rt,
            Rc::new(ssock),
            stack![],
            Registry::new(),
            NegotiateConfig::default(),
        );
        rt.spawn(async move {
            let (_, conn, _) = listener.accept().await.unwrap();
            while let Ok(d) = conn.recv().await {
                conn.send(d).await.unwrap();
            }
        });
        let (conn, _) = negotiate::connect(
            rt,
            Rc::new(csock),
            saddr.clone(),
            stack![],
            &Registry::new(),
            &NegotiateConfig::default(),
        )
        .await
        .unwrap();
        for round in 0..3u8 {
            let (a, b) = (
                Arc::new(CountWakes(0.into())),
                Arc::new(CountWakes(0.into())),
            );
            let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
            let mut recv = std::pin::pin!(conn.recv());
            assert!(recv
                .as_mut()
                .poll(&mut Context::from_waker(&wa))
                .is_pending());
            assert!(recv
                .as_mut()
                .poll(&mut Context::from_waker(&wb))
                .is_pending());
            conn.send((saddr.clone(), vec![round; 3])).await.unwrap();
            // The echo arrives: the socket's readiness goes to the latest waker.
            let mut waited = 0;
            while b.0.load(Ordering::SeqCst) == 0 {
                assert!(
                    waited < 5_000,
                    "round {round}: the new waker was never woken"
                );
                rt.sleep(Duration::from_millis(1)).await;
                waited += 1;
            }
            match recv.as_mut().poll(&mut Context::from_waker(&wb)) {
                std::task::Poll::Ready(Ok((_, d))) => assert_eq!(d, vec![round; 3]),
                other => panic!("round {round}: {:?}", other.map(|r| r.map(|(_, d)| d))),
            }
        }
    }

    let rt = TokioRuntime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let s = rt.bind_unix(dir.path().join("s.sock")).unwrap();
        let c = rt.bind_unix(dir.path().join("c.sock")).unwrap();
        check(&rt, s, c).await;
        let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let s = rt.bind_udp(lo).await.unwrap();
        let c = rt.bind_udp(lo).await.unwrap();
        check(&rt, s, c).await;
    });
}
