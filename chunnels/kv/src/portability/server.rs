//! The portability run's server: per shard socket one task, for each variant.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use bincode::Options as _;
use chunnel::negotiate;
use chunnel::{stack, Chunnel, ChunnelConnection, Error, NegotiateConfig, Registry};
use chunnels::multicast::SocketConn;
use chunnels::serialize::bincode as bincode_layer;
use chunnels::shard::{shard_of, AcceptClientPush};
use datapaths::tokio_rt::TokioRuntime;
use netrt::{DatagramSocket, Duration, JoinHandle, Runtime};

use crate::msg::Msg;
use crate::store::Store;
use crate::KvError;

use super::{Net, ServerStats, Variant};

/// The bincode options of the `bincode` Chunnel (`chunnels::serialize`), written out for the
/// inlined variant.
pub(super) fn wire() -> impl bincode::Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

pub(super) fn encode(m: &Msg) -> Result<Vec<u8>, KvError> {
    wire()
        .serialize(m)
        .map_err(|e| KvError::Serialize(e.to_string()))
}

/// The server's addresses: the front (full only) and the shards'.
pub(super) struct Addrs<A> {
    pub(super) front: Option<A>,
    pub(super) shards: Vec<A>,
}

#[derive(Default)]
pub(super) struct Counters {
    per_shard: RefCell<Vec<u64>>,
    misrouted: Cell<u64>,
    decode_errors: Cell<u64>,
    connections: Cell<u64>,
}

pub(super) struct ServerCore {
    store: Store,
    counters: Counters,
}

impl ServerCore {
    /// Applies `req`, which arrived at shard socket `at`, on its key's shard.
    fn apply(&self, at: usize, req: &Msg) -> Msg {
        let n = self.store.shards();
        let i = shard_of(&req.key, n);
        if i != at {
            self.counters
                .misrouted
                .set(self.counters.misrouted.get() + 1);
        }
        if let Some(c) = self.counters.per_shard.borrow_mut().get_mut(i) {
            *c += 1;
        }
        self.store.apply(i, req)
    }
}

/// Serves one connection carrying `(address, Msg)` for shard socket `at`.
pub(super) async fn serve_conn<C, A>(core: Rc<ServerCore>, conn: C, at: usize)
where
    C: ChunnelConnection<Data = (A, Msg)>,
{
    loop {
        match conn.recv().await {
            Ok((from, req)) => {
                let r = core.apply(at, &req);
                if conn.send((from, r)).await.is_err() {
                    break;
                }
            }
            Err(Error::Decode { .. }) => {
                let d = &core.counters.decode_errors;
                d.set(d.get() + 1);
            }
            Err(_) => break,
        }
    }
}

/// Serves shard socket `at` by hand: receive, decode, apply, encode, send.
pub(super) async fn serve_inlined<S: DatagramSocket>(core: Rc<ServerCore>, sock: S, at: usize) {
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => continue,
            Err(_) => break,
        };
        let req: Msg = match wire().deserialize(&buf[..n]) {
            Ok(m) => m,
            Err(_) => {
                let d = &core.counters.decode_errors;
                d.set(d.get() + 1);
                continue;
            }
        };
        let r = core.apply(at, &req);
        let Ok(out) = encode(&r) else { continue };
        if sock.send_to(&out, &from).await.is_err() {
            break;
        }
    }
}

type Ready<A> = mpsc::Sender<Result<Addrs<A>, String>>;

/// The server thread: binds, reports its addresses on `ready`, serves until `stop`.
pub(super) fn server_thread<N: Net>(
    net: N,
    variant: Variant,
    shards: usize,
    ready: Ready<N::Addr>,
    stop: Arc<AtomicBool>,
) -> ServerStats {
    let rt = match TokioRuntime::new() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("server runtime: {e}")));
            return ServerStats::default();
        }
    };
    let core = Rc::new(ServerCore {
        store: Store::new(shards),
        counters: Counters {
            per_shard: RefCell::new(vec![0; shards]),
            ..Counters::default()
        },
    });
    let tasks: Rc<RefCell<Vec<JoinHandle<()>>>> = Rc::default();
    rt.block_on(async {
        match start_server(&rt, &net, variant, shards, &core, &tasks).await {
            Ok(a) => {
                if ready.send(Ok(a)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        }
        while !stop.load(Ordering::Acquire) {
            rt.sleep(Duration::from_millis(5)).await;
        }
    });
    for t in tasks.borrow_mut().drain(..) {
        t.abort();
    }
    let k = &core.counters;
    let stats = ServerStats {
        per_shard: k.per_shard.borrow().clone(),
        misrouted: k.misrouted.get(),
        decode_errors: k.decode_errors.get(),
        connections: k.connections.get(),
        records: core.store.total(),
    };
    stats
}

pub(super) async fn start_server<N: Net>(
    rt: &TokioRuntime,
    net: &N,
    variant: Variant,
    shards: usize,
    core: &Rc<ServerCore>,
    tasks: &Rc<RefCell<Vec<JoinHandle<()>>>>,
) -> Result<Addrs<N::Addr>, KvError> {
    let mut socks = Vec::with_capacity(shards);
    let mut addrs = Vec::with_capacity(shards);
    for _ in 0..shards {
        let s = net.bind(rt).await?;
        addrs.push(s.local_addr()?);
        socks.push(s);
    }
    let mut front = None;
    // Collected here and handed over at the end: accept loops push to `tasks` as they run.
    let mut t = Vec::new();
    match variant {
        Variant::Full => {
            for (i, sock) in socks.into_iter().enumerate() {
                // As `Server`'s shard sockets: connections of clients that negotiated with
                // the front open implicitly, under the client's epoch.
                let ncfg = NegotiateConfig {
                    implicit_alternative: Some(0),
                    ..NegotiateConfig::default()
                };
                let l = negotiate::listen(
                    rt,
                    Rc::new(sock),
                    stack![AcceptClientPush, bincode_layer::<Msg>()],
                    Registry::new(),
                    ncfg,
                );
                let (c, rt2, tasks2) = (core.clone(), rt.clone(), tasks.clone());
                t.push(rt.spawn(async move {
                    while let Ok((_peer, conn, _info)) = l.accept().await {
                        let k = &c.counters.connections;
                        k.set(k.get() + 1);
                        let h = rt2.spawn(serve_conn(c.clone(), conn, i));
                        tasks2.borrow_mut().push(h);
                    }
                }));
            }
            let fsock = net.bind(rt).await?;
            front = Some(fsock.local_addr()?);
            let l = negotiate::listen(
                rt,
                Rc::new(fsock),
                stack![AcceptClientPush, bincode_layer::<Msg>()],
                Registry::new(),
                NegotiateConfig::default(),
            );
            let c = core.clone();
            t.push(rt.spawn(async move {
                // Front connections carry no requests (clients push to the shards); they
                // are kept so their negotiation state lives as long as the server.
                let mut held = Vec::new();
                while let Ok((_peer, conn, _info)) = l.accept().await {
                    let k = &c.counters.connections;
                    k.set(k.get() + 1);
                    held.push(conn);
                }
            }));
        }
        Variant::NoNegotiation => {
            for (i, sock) in socks.into_iter().enumerate() {
                let mut st = stack![AcceptClientPush, bincode_layer::<Msg>()];
                let conn = st.connect_wrap(SocketConn::new(sock)).await?;
                t.push(rt.spawn(serve_conn(core.clone(), conn, i)));
            }
        }
        Variant::Inlined => {
            for (i, sock) in socks.into_iter().enumerate() {
                t.push(rt.spawn(serve_inlined(core.clone(), sock, i)));
            }
        }
    }
    tasks.borrow_mut().extend(t);
    Ok(Addrs {
        front,
        shards: addrs,
    })
}
