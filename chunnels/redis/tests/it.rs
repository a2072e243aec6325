//! The Redis store against a real `redis-server` that each test starts on a free loopback port
//! (CI/install-deps.sh installs it): transaction semantics, and rendezvous peers on real UDP
//! loopback that keep exchanging data after Redis is stopped mid-run.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration as StdDuration;

use chunnel::rendezvous::{join, AcceptPolicy, JoinOutcome, RendezvousConfig, Store};
use chunnel::{stack, ChunnelConnection, Registry};
use chunnel_redis::server::RedisServer;
use chunnel_redis::RedisStore;
use datapaths::tokio_rt::TokioRuntime;
use netrt::{Duration, Runtime};

#[test]
fn commits_are_conditional_on_the_versions_read() {
    let srv = RedisServer::start().unwrap();
    let rt = TokioRuntime::new().unwrap();
    rt.block_on(async {
        let s = RedisStore::connect(&srv.url(), "t/", StdDuration::from_secs(2))
            .await
            .unwrap();
        let keys = ["a".to_string(), "b".to_string()];
        let r0 = s.read(&keys).await.unwrap();
        assert_eq!(r0.values, vec![None, None]);
        assert_eq!(r0.versions, vec![0, 0]);
        let w = vec![
            ("a".to_string(), Some(vec![0u8, 255, 7])),
            ("b".to_string(), Some(b"x".to_vec())),
        ];
        assert!(s.commit(&r0, w.clone()).await.unwrap());
        // A second commit on the same (now stale) read changes nothing.
        assert!(!s
            .commit(&r0, vec![("a".to_string(), Some(b"lost".to_vec()))])
            .await
            .unwrap());
        let r1 = s.read(&keys).await.unwrap();
        assert_eq!(
            r1.values,
            vec![Some(vec![0u8, 255, 7]), Some(b"x".to_vec())]
        );
        assert_eq!(r1.versions, vec![1, 1]);
        // Deleting keeps the version: a read from before the delete conflicts.
        let ra = s.read(&keys[..1]).await.unwrap();
        assert!(s.commit(&ra, vec![("a".to_string(), None)]).await.unwrap());
        let r2 = s.read(&keys[..1]).await.unwrap();
        assert_eq!((r2.values[0].clone(), r2.versions[0]), (None, 2));
        assert!(!s
            .commit(&ra, vec![("a".to_string(), Some(b"y".to_vec()))])
            .await
            .unwrap());
        let t1 = s.clock_ms().await.unwrap();
        assert!(t1 > 1_600_000_000_000, "unix milliseconds: {t1}");
    });
}

#[test]
fn connected_peers_keep_working_after_redis_stops() {
    let mut srv = RedisServer::start().unwrap();
    let url = srv.url();
    let rt = TokioRuntime::new().unwrap();
    let cfg = RendezvousConfig {
        heartbeat: Duration::from_millis(20),
        ttl: Duration::from_millis(200),
        drain: Duration::from_millis(100),
        upgrade_timeout: Duration::from_secs(2),
    };
    let got: Rc<RefCell<BTreeMap<usize, Vec<u32>>>> = Rc::default();
    let (outcomes, errors, sent) = rt.block_on({
        let rt = rt.clone();
        let got = got.clone();
        async move {
            let store = Rc::new(
                RedisStore::connect(&url, "g1/", StdDuration::from_millis(300))
                    .await
                    .unwrap(),
            );
            let mut conns = Vec::new();
            let mut outcomes = Vec::new();
            for _ in 0..2 {
                let sock = Rc::new(rt.bind_udp("127.0.0.1:0".parse().unwrap()).await.unwrap());
                let (c, o) = join(
                    &rt,
                    store.clone(),
                    "group",
                    sock,
                    stack![],
                    &Registry::new(),
                    AcceptPolicy::default(),
                    cfg,
                )
                .await
                .unwrap();
                outcomes.push(o);
                conns.push(Rc::new(c));
            }
            rt.sleep(Duration::from_millis(60)).await;
            for (i, c) in conns.iter().enumerate() {
                let (c, got) = (c.clone(), got.clone());
                rt.spawn(async move {
                    while let Ok((_, m)) = c.recv().await {
                        let seq = u32::from_le_bytes(m[..4].try_into().unwrap());
                        got.borrow_mut().entry(i).or_default().push(seq);
                    }
                });
            }
            let mut sent = 0u32;
            for round in 0..40u32 {
                if round == 10 {
                    srv.stop();
                }
                for c in &conns {
                    let peers: Vec<SocketAddr> = c.peers();
                    assert_eq!(peers.len(), 1, "each peer knows the other");
                    c.send((peers[0], round.to_le_bytes().to_vec()))
                        .await
                        .unwrap();
                }
                sent += 1;
                rt.sleep(Duration::from_millis(10)).await;
            }
            rt.sleep(Duration::from_millis(100)).await;
            let errors: Vec<u64> = conns.iter().map(|c| c.stats().store_errors.get()).collect();
            (outcomes, errors, sent)
        }
    });
    assert_eq!(outcomes, vec![JoinOutcome::Installed, JoinOutcome::Adopted]);
    assert!(
        errors.iter().all(|&e| e > 0),
        "heartbeats failed after the stop: {errors:?}"
    );
    let got = got.borrow();
    for i in 0..2 {
        let g = got.get(&i).cloned().unwrap_or_default();
        assert_eq!(
            g,
            (0..sent).collect::<Vec<_>>(),
            "peer {i} received every message once"
        );
    }
}
