//! The same application functions over the simulator and over real UDP loopback.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::rc::Rc;

use datapaths::tokio_rt::TokioRuntime;
use kvstore::loadgen::{open_loop, OpenLoop};
use kvstore::msg::{key_of, value_of, Msg, Op};
use kvstore::server::ServerReport;
use kvstore::ycsb::{KeyDist, Workload};
use kvstore::{ClientMode, CostModel, KvClient, Server, ServerConfig};
use netmodels::network::NetworkOptions;
use netmodels::topology::LinkParams;
use netmodels::{node_ip, Network, TopologyConfig};
use netrt::{Duration, Runtime};
use sim_core::{RngStreams, Simulation};

const KEYS: u64 = 60;
const BURST: u64 = 80;

/// What the application saw.
#[derive(Debug)]
pub struct Outcome {
    pub server: ServerReport,
    /// Per client (push, plain): replies per request id of the burst.
    pub burst_ids: Vec<Vec<u64>>,
    pub open_loop_unanswered: u64,
    pub open_loop_duplicates: u64,
    pub open_loop_completed: u64,
}

/// Starts a server on `srt`, connects a pushing client from `push_rt` and a plain one from
/// `plain_rt`; each puts its keys, reads them back (checking the values), reads a missing
/// key, sends a burst of gets without waiting and collects every reply; then both run a
/// short open loop.
pub async fn app<R: Runtime>(
    srt: R,
    push_rt: R,
    plain_rt: R,
    front: SocketAddr,
    shards: Vec<SocketAddr>,
    costs: CostModel,
) -> Outcome {
    let cfg = ServerConfig {
        shards: shards.len(),
        costs,
        ..ServerConfig::default()
    };
    let server = Server::start(&srt, &cfg, front, &shards, None)
        .await
        .unwrap();
    let t = Duration::from_secs(2);
    let push = KvClient::connect(
        &push_rt,
        ClientMode::Push,
        server.front(),
        server.shard_addrs(),
    )
    .await
    .unwrap();
    let plain = KvClient::connect(
        &plain_rt,
        ClientMode::Plain,
        server.front(),
        server.shard_addrs(),
    )
    .await
    .unwrap();
    assert!(push.pushes() && !plain.pushes());
    let mut burst_ids = Vec::new();
    for (ci, (c, rt)) in [(&push, &push_rt), (&plain, &plain_rt)]
        .into_iter()
        .enumerate()
    {
        let base = ci as u64 * 1000;
        for n in base..base + KEYS {
            let r = c
                .call(rt, Msg::put(key_of(n), n, value_of(n, 7)), t)
                .await
                .unwrap();
            assert_eq!(r.op(), Some(Op::Stored));
        }
        for n in base..base + KEYS {
            let r = c
                .call(rt, Msg::get(key_of(n), 10_000 + n), t)
                .await
                .unwrap();
            assert_eq!(r.op(), Some(Op::Value), "key {n}");
            assert_eq!(r.value, value_of(n, 7), "value of key {n} read back");
        }
        let r = c.call(rt, Msg::get(key_of(999_999), 5), t).await.unwrap();
        assert_eq!(r.op(), Some(Op::NotFound));
        for i in 0..BURST {
            c.send(Msg::get(key_of(base + i % KEYS), 50_000 + i))
                .await
                .unwrap();
        }
        let mut ids = Vec::new();
        while let Ok(r) = rt.timeout(Duration::from_millis(300), c.recv()).await {
            let r = r.unwrap();
            assert_eq!(r.value, value_of(crate::app::rec(&r), 7));
            ids.push(r.id);
        }
        burst_ids.push(ids);
    }
    // Both clients together in an open loop (uniform gets/puts over their keys).
    let clients = vec![Rc::new(push), Rc::new(plain)];
    let spec = OpenLoop {
        workload: Workload::A,
        keys: KeyDist::Uniform,
        records: KEYS,
        offered: 2_000.0,
        duration: Duration::from_millis(200),
        drain: Duration::from_millis(200),
        seed: 3,
    };
    let res = open_loop(&srt, &clients, &spec).await;
    Outcome {
        server: server.report(),
        burst_ids,
        open_loop_unanswered: res.unanswered,
        open_loop_duplicates: res.duplicates,
        open_loop_completed: res.completed,
    }
}

pub fn rec(m: &Msg) -> u64 {
    kvstore::msg::record_of(&m.key)
}

fn check(o: &Outcome, shards: usize) {
    for ids in &o.burst_ids {
        let got: BTreeSet<u64> = ids.iter().copied().collect();
        let want: BTreeSet<u64> = (50_000..50_000 + BURST).collect();
        assert_eq!(ids.len(), BURST as usize, "every request answered once");
        assert_eq!(got, want);
    }
    assert_eq!(o.server.records, 2 * KEYS as usize);
    assert_eq!(
        o.server.chosen.get("accept-client-push"),
        Some(&1),
        "{:?}",
        o.server
    );
    assert_eq!(
        o.server.chosen.get("server-host"),
        Some(&1),
        "{:?}",
        o.server
    );
    assert_eq!(o.server.per_shard.len(), shards);
    assert!(
        o.server.per_shard.iter().all(|&n| n > 0),
        "{:?}",
        o.server.per_shard
    );
    assert!(
        o.server.implicit >= 1,
        "the pushing client reached shard sockets"
    );
    assert_eq!(o.server.misrouted, 0);
    assert!(
        o.server.dispatched > 0,
        "the plain client went through the dispatcher"
    );
    assert!(o.open_loop_completed > 300, "{}", o.open_loop_completed);
    assert_eq!(o.open_loop_unanswered, 0);
    assert_eq!(o.open_loop_duplicates, 0);
}

#[test]
fn store_on_the_simulator() {
    let topo = TopologyConfig::Star {
        senders: 2,
        link: LinkParams::fixed(10_000_000_000, 5.0, 1000),
        receiver_link: None,
    }
    .build()
    .unwrap();
    let net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).unwrap();
    let mut sim = Simulation::new(net);
    let c0 = sim.model().runtime(sim.handle(), 0).unwrap();
    let c1 = sim.model().runtime(sim.handle(), 1).unwrap();
    let s = sim.model().runtime(sim.handle(), 2).unwrap();
    let ip = node_ip(2);
    let front = SocketAddr::from((ip, 7000));
    let shards = (0..4).map(|i| SocketAddr::from((ip, 7001 + i))).collect();
    let o = sim
        .block_on(app(s, c0, c1, front, shards, CostModel::MEASURED_LOOPBACK))
        .expect("finishes");
    check(&o, 4);
}

#[test]
fn store_on_real_udp_loopback() {
    let rt = TokioRuntime::new().unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let o = rt.block_on(app(
        rt.clone(),
        rt.clone(),
        rt.clone(),
        any,
        vec![any; 4],
        CostModel::ZERO,
    ));
    check(&o, 4);
}

/// The raw-offset host sharder on real UDP loopback: a plain client negotiates `server-raw`,
/// puts keys and reads them back; each request is applied on its key's shard.
#[test]
fn raw_offset_sharder_on_real_udp_loopback() {
    let rt = TokioRuntime::new().unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    rt.block_on(async {
        let cfg = ServerConfig {
            shards: 4,
            costs: CostModel::ZERO,
            host_sharder: kvstore::HostSharder::RawOffset,
            ..ServerConfig::default()
        };
        let server = Server::start(&rt, &cfg, any, &[any; 4], None)
            .await
            .unwrap();
        let c = KvClient::connect(&rt, ClientMode::Plain, server.front(), &[])
            .await
            .unwrap();
        let t = Duration::from_secs(2);
        for n in 0..KEYS {
            let r = c
                .call(&rt, Msg::put(key_of(n), n, value_of(n, 1)), t)
                .await
                .unwrap();
            assert_eq!(r.op(), Some(Op::Stored), "put {n}: {r:?}");
        }
        for n in 0..KEYS {
            let r = c.call(&rt, Msg::get(key_of(n), 1000 + n), t).await.unwrap();
            assert_eq!(r.op(), Some(Op::Value), "get {n}: {r:?}");
            assert_eq!(r.value, value_of(n, 1), "get {n}");
        }
        let rep = server.report();
        assert_eq!(rep.chosen.get("server-raw"), Some(&1), "{rep:?}");
        assert_eq!(rep.dispatched, 2 * KEYS, "{rep:?}");
        assert_eq!(rep.per_shard.iter().sum::<u64>(), 2 * KEYS, "{rep:?}");
        assert_eq!((rep.misrouted, rep.decode_errors), (0, 0), "{rep:?}");
        assert_eq!(rep.records, KEYS as usize);
    });
}
