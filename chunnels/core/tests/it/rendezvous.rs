//! Rendezvous negotiation on the simulator: install, adopt, an upgrade that every peer
//! switches to with no message lost or duplicated, a refused upgrade, and a store failure
//! that connected peers survive.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;

use chunnel::rendezvous::{join, AcceptPolicy, JoinOutcome, MemStore, RendezvousConfig};
use chunnel::{select, stack, ChunnelConnection, Compat, Offer, Registry};
use netmodels::network::NetworkOptions;
use netmodels::topology::LinkParams;
use netmodels::{Network, SimRuntime, TopologyConfig};
use netrt::{Duration, Runtime};
use sim_core::{RngStreams, Simulation};

use crate::common::Tag;

/// A `ser` layer whose label (`v1`, `v2`, ...) is also its wire tag byte, so a message is only
/// decoded by the generation that sent it.
fn ser(v: &str, prio: i32) -> Tag {
    Tag {
        offer: Offer::new("ser", v, Compat::Exact).label(v).priority(prio),
        byte: v.as_bytes()[1],
    }
}

fn sim(hosts: usize) -> (Simulation<Network>, Vec<SimRuntime>) {
    let topo = TopologyConfig::Star {
        senders: hosts as u32 - 1,
        link: LinkParams::fixed(1_000_000_000, 100.0, 1000),
        receiver_link: None,
    }
    .build()
    .unwrap();
    let net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(3)).unwrap();
    let sim = Simulation::new(net);
    let rts = (0..hosts)
        .map(|n| sim.model().runtime(sim.handle(), n as u32).unwrap())
        .collect();
    (sim, rts)
}

type Log = Rc<RefCell<BTreeMap<(String, String), Vec<u32>>>>;

/// Sends a numbered message to every known peer each millisecond until `until`, and records
/// what was sent and received.
fn traffic<R: Runtime, C>(
    rt: &R,
    conn: Rc<C>,
    me: String,
    peers: impl Fn() -> Vec<SocketAddr> + 'static,
    until: netrt::Instant,
    sent: Log,
    got: Log,
) where
    C: ChunnelConnection<Data = (SocketAddr, Vec<u8>)> + 'static,
{
    let (rt2, c2, me2) = (rt.clone(), conn.clone(), me.clone());
    rt.spawn(async move {
        let mut seq = 0u32;
        while rt2.now() < until {
            for p in peers() {
                let mut m = seq.to_le_bytes().to_vec();
                m.extend_from_slice(me2.as_bytes());
                if c2.send((p, m)).await.is_ok() {
                    sent.borrow_mut()
                        .entry((me2.clone(), p.to_string()))
                        .or_default()
                        .push(seq);
                }
            }
            seq += 1;
            rt2.sleep(Duration::from_millis(1)).await;
        }
    });
    rt.spawn(async move {
        while let Ok((_, m)) = conn.recv().await {
            let seq = u32::from_le_bytes(m[..4].try_into().unwrap());
            let from = String::from_utf8(m[4..].to_vec()).unwrap();
            got.borrow_mut()
                .entry((from, me.clone()))
                .or_default()
                .push(seq);
        }
    });
}

#[test]
fn an_upgrade_switches_every_peer_and_loses_and_duplicates_nothing() {
    let (mut sim, rts) = sim(4);
    let store = Rc::new(MemStore::new(rts[0].clone()));
    let sent: Log = Rc::default();
    let got: Log = Rc::default();
    let results = Rc::new(RefCell::new(Vec::new()));
    let cfg = RendezvousConfig::default();
    let until = netrt::Instant::from_nanos(1_200_000_000);
    for (i, rt) in rts.iter().enumerate() {
        let (rt, store, sent, got, results) = (
            rt.clone(),
            store.clone(),
            sent.clone(),
            got.clone(),
            results.clone(),
        );
        rts[0].spawn(async move {
            // A and B join first with v1 preferred; C joins at 300 ms preferring v2 and
            // proposes it; D joins at 700 ms proposing v3, which nobody else can run.
            let (start, stackdef, propose): (u64, u8, bool) = match i {
                0 => (0, 1, false),
                1 => (50, 1, false),
                2 => (300, 2, true),
                _ => (700, 3, true),
            };
            rt.sleep(Duration::from_millis(start)).await;
            let sock = Rc::new(rt.bind_udp("0.0.0.0:9000".parse().unwrap()).await.unwrap());
            let policy = AcceptPolicy {
                propose,
                ..AcceptPolicy::default()
            };
            let stack = match stackdef {
                1 => stack![select!(ser("v1", 0), ser("v2", 0))],
                2 => stack![select!(ser("v2", 5), ser("v1", 0))],
                _ => stack![select!(ser("v3", 9), ser("v3", 9))],
            };
            let r = join(&rt, store, "g", sock, stack, &Registry::new(), policy, cfg).await;
            match r {
                Ok((conn, outcome)) => {
                    results.borrow_mut().push((i, Ok(outcome)));
                    let conn = Rc::new(conn);
                    let me = conn.id().to_string();
                    let c2 = conn.clone();
                    traffic(&rt, conn.clone(), me, move || c2.peers(), until, sent, got);
                    // Keep the connection alive to the end and report its generation.
                    rt.sleep(Duration::from_millis(1_600 - start)).await;
                    results.borrow_mut().push((
                        i + 10,
                        Ok(match conn.generation() {
                            2 => JoinOutcome::Upgraded,
                            _ => JoinOutcome::Adopted,
                        }),
                    ));
                }
                Err(e) => results.borrow_mut().push((i, Err(e.to_string()))),
            }
        });
    }
    sim.run_until(netrt::Instant::from_nanos(2_000_000_000));
    let results = results.borrow();
    let find = |k: usize| results.iter().find(|r| r.0 == k).map(|r| r.1.clone());
    assert_eq!(find(0), Some(Ok(JoinOutcome::Installed)));
    assert_eq!(find(1), Some(Ok(JoinOutcome::Adopted)));
    assert_eq!(find(2), Some(Ok(JoinOutcome::Upgraded)));
    let d = find(3).unwrap().unwrap_err();
    assert!(d.contains("refused by peer"), "{d}");
    for k in 10..13 {
        assert_eq!(
            find(k),
            Some(Ok(JoinOutcome::Upgraded)),
            "peer {} ends on generation 2",
            k - 10
        );
    }
    let (sent, got) = (sent.borrow(), got.borrow());
    assert!(
        sent.len() >= 6,
        "every ordered pair of A, B, C exchanged data: {:?}",
        sent.keys()
    );
    for (pair, s) in sent.iter() {
        let mut g = got.get(pair).cloned().unwrap_or_default();
        g.sort_unstable();
        assert_eq!(&g, s, "{pair:?}: received exactly what was sent, once");
        assert!(s.len() > 100, "{pair:?}: {} messages", s.len());
    }
}

#[test]
fn connected_peers_keep_working_when_the_store_fails() {
    let (mut sim, rts) = sim(3);
    let store = Rc::new(MemStore::new(rts[0].clone()));
    let sent: Log = Rc::default();
    let got: Log = Rc::default();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let until = netrt::Instant::from_nanos(800_000_000);
    for i in 0..2 {
        let (rt, store, sent, got, errors) = (
            rts[i].clone(),
            store.clone(),
            sent.clone(),
            got.clone(),
            errors.clone(),
        );
        rts[0].spawn(async move {
            rt.sleep(Duration::from_millis(10 * i as u64)).await;
            let sock = Rc::new(rt.bind_udp("0.0.0.0:9000".parse().unwrap()).await.unwrap());
            let (conn, _) = join(
                &rt,
                store.clone(),
                "g",
                sock,
                stack![ser("v1", 0)],
                &Registry::new(),
                AcceptPolicy::default(),
                RendezvousConfig::default(),
            )
            .await
            .unwrap();
            let conn = Rc::new(conn);
            let c2 = conn.clone();
            let me = conn.id().to_string();
            rt.sleep(Duration::from_millis(100)).await;
            traffic(&rt, conn.clone(), me, move || c2.peers(), until, sent, got);
            if i == 0 {
                rt.sleep(Duration::from_millis(100)).await;
                store.set_down(true);
            }
            rt.sleep(Duration::from_millis(900)).await;
            errors.borrow_mut().push(conn.stats().store_errors.get());
        });
    }
    sim.run_until(netrt::Instant::from_nanos(2_000_000_000));
    let errors = errors.borrow();
    assert!(
        errors.iter().all(|&e| e > 5),
        "heartbeats failed while the store was down: {errors:?}"
    );
    let (sent, got) = (sent.borrow(), got.borrow());
    assert_eq!(sent.len(), 2);
    for (pair, s) in sent.iter() {
        assert!(s.len() > 500, "{pair:?} kept sending: {}", s.len());
        assert_eq!(got.get(pair), Some(s), "{pair:?}");
    }
}

mod random {
    //! Random joins, leaves, proposals and refusals: whatever happens, no message is lost or
    //! delivered twice.

    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    struct Peer {
        join_ms: u64,
        /// Prefers v2 and proposes it.
        proposes: bool,
        /// Refuses any proposal.
        refuses: bool,
        /// Stops sending and leaves the group at this time.
        leave_ms: Option<u64>,
    }

    fn peer() -> impl Strategy<Value = Peer> {
        (
            0u64..600,
            any::<bool>(),
            prop::bool::weighted(0.3),
            prop::option::weighted(0.3, 700u64..1000),
        )
            .prop_map(|(join_ms, proposes, refuses, leave_ms)| Peer {
                join_ms,
                proposes,
                refuses,
                leave_ms,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_membership_loses_and_duplicates_nothing(peers in prop::collection::vec(peer(), 2..5)) {
            let (mut sim, rts) = sim(peers.len() + 1);
            let store = Rc::new(MemStore::new(rts[0].clone()));
            let sent: Log = Rc::default();
            let got: Log = Rc::default();
            let end = netrt::Instant::from_nanos(1_300_000_000);
            for (i, p) in peers.iter().cloned().enumerate() {
                let (rt, store, sent, got) =
                    (rts[i].clone(), store.clone(), sent.clone(), got.clone());
                rts[0].spawn(async move {
                    rt.sleep(Duration::from_millis(p.join_ms)).await;
                    let sock = Rc::new(rt.bind_udp("0.0.0.0:9000".parse().unwrap()).await.unwrap());
                    let policy = AcceptPolicy {
                        propose: p.proposes,
                        accept: Rc::new(move |_: &[Offer]| !p.refuses),
                    };
                    let stack = if p.proposes {
                        stack![select!(ser("v2", 5), ser("v1", 0))]
                    } else {
                        stack![select!(ser("v1", 0), ser("v2", 0))]
                    };
                    let cfg = RendezvousConfig::default();
                    let Ok((conn, _)) =
                        join(&rt, store.clone(), "g", sock, stack, &Registry::new(), policy, cfg).await
                    else {
                        return; // a refused proposer does not join
                    };
                    let conn = Rc::new(conn);
                    let until = p
                        .leave_ms
                        .map_or(end, |l| netrt::Instant::from_nanos(l * 1_000_000));
                    let c2 = conn.clone();
                    let me = conn.id().to_string();
                    traffic(&rt, conn.clone(), me, move || c2.peers(), until, sent, got);
                    if let Some(l) = p.leave_ms {
                        rt.sleep_until(netrt::Instant::from_nanos(l * 1_000_000)).await;
                        let _ = conn.leave(&*store, "g").await;
                    }
                    // Keep receiving to the end: messages sent before others saw the leave
                    // still arrive.
                    rt.sleep_until(netrt::Instant::from_nanos(1_900_000_000)).await;
                    drop(conn);
                });
            }
            sim.run_until(netrt::Instant::from_nanos(2_000_000_000));
            let (sent, got) = (sent.borrow(), got.borrow());
            for (pair, s) in sent.iter() {
                let mut g = got.get(pair).cloned().unwrap_or_default();
                g.sort_unstable();
                prop_assert_eq!(&g, s, "{:?}: received exactly what was sent, once", pair);
            }
            for pair in got.keys() {
                prop_assert!(sent.contains_key(pair), "{:?} received but never sent", pair);
            }
        }
    }
}

/// Three peers join one group over real sockets of one kind (the first installs, the others
/// adopt), then each sends `N` numbered messages to every other; every message arrives once.
async fn group_over<S>(rt: datapaths::tokio_rt::TokioRuntime, socks: Vec<S>)
where
    S: netrt::DatagramSocket + 'static,
    S::Addr: chunnel::rendezvous::GroupAddr,
{
    const N: u32 = 20;
    let store = Rc::new(MemStore::new(rt.clone()));
    let mut conns = Vec::new();
    for (i, s) in socks.into_iter().enumerate() {
        let (c, outcome) = join(
            &rt,
            store.clone(),
            "g",
            Rc::new(s),
            stack![ser("v1", 0)],
            &Registry::new(),
            AcceptPolicy::default(),
            RendezvousConfig::default(),
        )
        .await
        .unwrap();
        let want = if i == 0 {
            JoinOutcome::Installed
        } else {
            JoinOutcome::Adopted
        };
        assert_eq!(outcome, want, "peer {i}");
        conns.push(c);
    }
    // Every peer knows the other two once a heartbeat has refreshed the member lists.
    let deadline = rt.now() + Duration::from_secs(5);
    while conns.iter().any(|c| c.peers().len() < 2) {
        assert!(rt.now() < deadline, "peers never saw each other");
        rt.sleep(Duration::from_millis(20)).await;
    }
    for (i, c) in conns.iter().enumerate() {
        for p in c.peers() {
            for seq in 0..N {
                c.send((p.clone(), vec![i as u8, seq as u8])).await.unwrap();
            }
        }
    }
    for (i, c) in conns.iter().enumerate() {
        let mut got: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        while got.values().map(Vec::len).sum::<usize>() < 2 * N as usize {
            let (_, m) = rt
                .timeout(Duration::from_secs(5), c.recv())
                .await
                .unwrap_or_else(|_| panic!("peer {i} got only {got:?}"))
                .unwrap();
            got.entry(m[0]).or_default().push(m[1]);
        }
        let all: Vec<u8> = (0..N as u8).collect();
        for (from, mut seqs) in got {
            assert_ne!(from as usize, i);
            seqs.sort_unstable();
            assert_eq!(seqs, all, "peer {i} from {from}");
        }
    }
}

#[test]
fn a_group_over_real_unix_datagram_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let rt = datapaths::tokio_rt::TokioRuntime::new().unwrap();
    let socks: Vec<_> = (0..3)
        .map(|i| rt.bind_unix(dir.path().join(format!("p{i}.sock"))).unwrap())
        .collect();
    rt.block_on(group_over(rt.clone(), socks));
}

#[test]
fn a_group_over_real_tcp_connections() {
    let rt = datapaths::tokio_rt::TokioRuntime::new().unwrap();
    let r2 = rt.clone();
    rt.block_on(async move {
        let mut socks = Vec::new();
        for _ in 0..3 {
            socks.push(r2.bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap());
        }
        group_over(r2, socks).await;
    });
}
