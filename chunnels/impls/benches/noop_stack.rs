//! Criterion benchmarks of issue 12 on real sockets on tokio (`TokioRuntime`, one thread):
//!
//! - `roundtrip/<backend>/{raw,noop_stack}`: one 64-byte message and its echo, over the raw
//!   socket (`send_to`/`recv_from`) vs over a negotiated empty stack (`stack![]`: the
//!   negotiation base connection, `DataConn`, with its epoch framing and the demultiplexing
//!   tasks), side by side in one run, on UDP loopback, on Unix datagram sockets and on
//!   datagrams over loopback TCP connections (`TcpDatagrams`); and
//!   `raw_handoff`, the raw socket with only the demultiplexer's task-to-task handoff added
//!   (where the no-op stack's overhead comes from).
//! - `establish/{plain_datagram,one_rtt,zero_rtt,rendezvous}`: a new client socket, connection
//!   establishment in each negotiation mode, then one 8-byte echo (thesis Fig 3.4's
//!   measurement), on UDP loopback.
//!
//! Short measurement times (the machine is shared): `cargo bench -p chunnels --bench
//! noop_stack`.

mod common;

use std::rc::Rc;
use std::time::{Duration as StdDuration, Instant};

use chunnel::negotiate::{connect, connect_zero_rtt, ZeroRttCache};
use chunnel::queue::Queue;
use chunnel::rendezvous::{join, AcceptPolicy, MemStore, RendezvousConfig};
use chunnel::{stack, ChunnelConnection, NegotiateConfig, Registry};
use common::{noop_echo, raw_echo, tcp, udp, unix};
use criterion::{criterion_group, criterion_main, Criterion};
use datapaths::tokio_rt::TokioRuntime;
use netrt::{DatagramSocket, Runtime};

const PAYLOAD: usize = 64;

/// A task that reads `sock` and queues each datagram (copied out) for another task.
fn queued<S: DatagramSocket + 'static>(
    rt: &TokioRuntime,
    sock: Rc<S>,
) -> Queue<(S::Addr, Vec<u8>)> {
    let q = Queue::new();
    let q2 = q.clone();
    rt.spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            q2.push((from, buf[..n].to_vec()));
        }
        q2.close();
    });
    q
}

/// Times `iters` round trips of `f` inside one `block_on`.
fn timed<F, Fut>(rt: &TokioRuntime, iters: u64, mut f: F) -> StdDuration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        let t = Instant::now();
        for _ in 0..iters {
            f().await;
        }
        t.elapsed()
    })
}

/// Raw vs no-op stack round trips over one backend: `bind` makes a socket at a fresh address.
fn roundtrip<S, B>(c: &mut Criterion, name: &str, bind: B)
where
    S: DatagramSocket + 'static,
    S::Addr: Ord,
    B: Fn(&TokioRuntime) -> S,
{
    let rt = TokioRuntime::new().expect("tokio");
    let mut g = c.benchmark_group(format!("roundtrip/{name}"));
    let payload = vec![7u8; PAYLOAD];

    // Raw socket.
    let ssock = Rc::new(bind(&rt));
    let saddr = ssock.local_addr().expect("addr");
    raw_echo(&rt, ssock);
    let csock = bind(&rt);
    let mut buf = vec![0u8; 65_536];
    g.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    csock.send_to(&payload, &saddr).await.expect("send");
                    let (n, _) = csock.recv_from(&mut buf).await.expect("recv");
                    assert_eq!(n, PAYLOAD);
                }
                t.elapsed()
            })
        })
    });

    // Raw sockets with negotiation's receive structure and nothing else: at each end a task
    // reads the socket, copies the datagram out and hands it over a `chunnel::queue::Queue`
    // to the task that uses it (the demultiplexer → connection handoff), no framing, no
    // negotiation. Isolates what the handoff costs.
    let ssock = Rc::new(bind(&rt));
    let saddr = ssock.local_addr().expect("addr");
    let q = queued(&rt, ssock.clone());
    rt.spawn(async move {
        while let Some((from, d)) = q.pop().await {
            if ssock.send_to(&d, &from).await.is_err() {
                break;
            }
        }
    });
    let csock = Rc::new(bind(&rt));
    let cq = queued(&rt, csock.clone());
    g.bench_function("raw_handoff", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let (csock, cq, saddr, payload) = (&csock, &cq, &saddr, &payload);
                async move {
                    csock.send_to(payload, saddr).await.expect("send");
                    let (_, d) = cq.pop().await.expect("recv");
                    assert_eq!(d.len(), PAYLOAD);
                }
            })
        })
    });

    // The empty stack over negotiation's base connection.
    let ssock = Rc::new(bind(&rt));
    let saddr = ssock.local_addr().expect("addr");
    noop_echo(&rt, ssock);
    let csock = Rc::new(bind(&rt));
    let (conn, _) = rt
        .block_on(connect(
            &rt,
            csock,
            saddr.clone(),
            stack![],
            &Registry::new(),
            &NegotiateConfig::default(),
        ))
        .expect("negotiate");
    g.bench_function("noop_stack", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let (conn, saddr, payload) = (&conn, &saddr, &payload);
                async move {
                    conn.send((saddr.clone(), payload.clone()))
                        .await
                        .expect("send");
                    let (_, got) = conn.recv().await.expect("recv");
                    assert_eq!(got.len(), PAYLOAD);
                }
            })
        })
    });
    g.finish();
}

fn roundtrips(c: &mut Criterion) {
    roundtrip(c, "udp", udp);
    roundtrip(c, "unix", unix);
    roundtrip(c, "tcp", tcp);
}

/// Connection establishment (a fresh client socket each time) and one 8-byte echo.
fn establish(c: &mut Criterion) {
    let rt = TokioRuntime::new().expect("tokio");
    let mut g = c.benchmark_group("establish");
    let msg = vec![1u8; 8];
    let cfg = NegotiateConfig::default();
    let reg = Registry::new();

    let ssock = Rc::new(udp(&rt));
    let raw_addr = ssock.local_addr().expect("addr");
    raw_echo(&rt, ssock);
    g.bench_function("plain_datagram", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let (rt, msg) = (&rt, &msg);
                async move {
                    let s = rt.bind_udp("127.0.0.1:0".parse().expect("addr")).await;
                    let s = s.expect("bind");
                    s.send_to(msg, &raw_addr).await.expect("send");
                    let mut buf = [0u8; 64];
                    s.recv_from(&mut buf).await.expect("recv");
                }
            })
        })
    });

    let ssock = Rc::new(udp(&rt));
    let saddr = ssock.local_addr().expect("addr");
    noop_echo(&rt, ssock);
    g.bench_function("one_rtt", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let (rt, msg, cfg, reg) = (&rt, &msg, &cfg, &reg);
                async move {
                    let s = Rc::new(udp_in(rt).await);
                    let (conn, _) = connect(rt, s, saddr, stack![], reg, cfg)
                        .await
                        .expect("connect");
                    conn.send((saddr, msg.clone())).await.expect("send");
                    conn.recv().await.expect("recv");
                }
            })
        })
    });

    let cache = ZeroRttCache::new();
    // Warm the cache: the first connection negotiates in one round trip and remembers.
    rt.block_on(async {
        let s = Rc::new(udp_in(&rt).await);
        let (conn, _) = connect_zero_rtt(&rt, s, saddr, stack![], &reg, &cache, &cfg)
            .await
            .expect("connect");
        conn.send((saddr, msg.clone())).await.expect("send");
        conn.recv().await.expect("recv");
    });
    g.bench_function("zero_rtt", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let (rt, msg, cfg, reg, cache) = (&rt, &msg, &cfg, &reg, &cache);
                async move {
                    let s = Rc::new(udp_in(rt).await);
                    let (conn, _) = connect_zero_rtt(rt, s, saddr, stack![], reg, cache, cfg)
                        .await
                        .expect("connect");
                    conn.send((saddr, msg.clone())).await.expect("send");
                    conn.recv().await.expect("recv");
                }
            })
        })
    });

    // Rendezvous: a server peer joined the group first and echoes; each iteration a new
    // peer joins (adopting the installed stack) and exchanges one echo with it.
    let store = Rc::new(MemStore::new(rt.clone()));
    let rcfg = RendezvousConfig::default();
    let server_addr = rt.block_on(async {
        let s = Rc::new(udp_in(&rt).await);
        let addr = s.local_addr().expect("addr");
        let (conn, _) = join(
            &rt,
            store.clone(),
            "bench",
            s,
            stack![],
            &reg,
            AcceptPolicy::default(),
            rcfg,
        )
        .await
        .expect("join");
        rt.spawn(async move {
            while let Ok(d) = conn.recv().await {
                if conn.send(d).await.is_err() {
                    break;
                }
            }
        });
        addr
    });
    g.bench_function("rendezvous", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let (rt, msg, reg, store) = (&rt, &msg, &reg, &store);
                async move {
                    let s = Rc::new(udp_in(rt).await);
                    let (conn, _) = join(
                        rt,
                        store.clone(),
                        "bench",
                        s,
                        stack![],
                        reg,
                        AcceptPolicy::default(),
                        rcfg,
                    )
                    .await
                    .expect("join");
                    conn.send((server_addr, msg.clone())).await.expect("send");
                    conn.recv().await.expect("recv");
                }
            })
        })
    });
    g.finish();
}

async fn udp_in(rt: &TokioRuntime) -> datapaths::tokio_rt::UdpSocket {
    rt.bind_udp("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind udp")
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(StdDuration::from_millis(500))
        .measurement_time(StdDuration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = roundtrips, establish
}
criterion_main!(benches);
