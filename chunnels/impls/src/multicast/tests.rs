use std::collections::BTreeSet;
use std::net::IpAddr;

use chunnel::Registry;
use netmodels::{node_ip, ProgrammableSwitch};

use super::switch::node_of;
use super::*;
use crate::chan::{ChanAddr, ChanConn, ChanNet, Faults};
use crate::util::testrt::run;
use netmodels::offload::{OffloadDevice, Resource};

const SEQ: ChanAddr = 100;
const SENDERS: [ChanAddr; 2] = [1, 2];
const RECEIVERS: [ChanAddr; 3] = [11, 12, 13];

/// The sequencer's connection with some copies dropped on purpose: `(receiver, seq)`.
struct DropSome {
    inner: ChanConn,
    drop: BTreeSet<(ChanAddr, u64)>,
}

impl ChunnelConnection for DropSome {
    type Data = (ChanAddr, Vec<u8>);

    async fn send(&self, (to, b): Self::Data) -> Result<(), Error> {
        if let Some((_, seq, _, _)) = parse_stamped(&b) {
            if self.drop.contains(&(to, seq)) {
                return Ok(());
            }
        }
        self.inner.send((to, b)).await
    }

    async fn recv(&self) -> Result<Self::Data, Error> {
        self.inner.recv().await
    }
}

/// Checks one receiver's deliveries: every stamped number `0..stamped` is delivered once or
/// reported in a gap, in order. Returns the delivered `(seq, sender, payload)` and the lost
/// numbers.
#[allow(clippy::type_complexity)]
fn check_order(
    events: &[Delivery<ChanAddr>],
    stamped: u64,
) -> (Vec<(u64, ChanAddr, Vec<u8>)>, Vec<u64>) {
    let mut next = 0;
    let mut msgs = Vec::new();
    let mut lost = Vec::new();
    for e in events {
        match e {
            Delivery::Msg {
                from, seq, payload, ..
            } => {
                assert_eq!(*seq, next, "in order, no duplicate: {events:?}");
                next += 1;
                msgs.push((*seq, *from, payload.clone()));
            }
            Delivery::Notice(Notice::Gap { from, to, .. }) => {
                assert!(*from == next && to > from, "gap where expected: {e:?}");
                lost.extend(*from..*to);
                next = *to;
            }
            Delivery::Notice(n) => panic!("unexpected {n:?}"),
        }
    }
    assert_eq!(next, stamped, "every stamped number accounted for");
    (msgs, lost)
}

/// Two senders, three receivers and a host sequencer on a chan network with `faults`; the
/// sequencer's copies in `drop` are dropped. Each sender sends `n` messages, then (faults
/// off) sender 1 sends a fence. Returns each receiver's deliveries up to and including the
/// fence, the sequencer's stats and the receivers' stats.
#[allow(clippy::type_complexity)]
fn group_run(
    faults: Faults,
    drop: BTreeSet<(ChanAddr, u64)>,
    n: u8,
) -> (
    Vec<Vec<Delivery<ChanAddr>>>,
    SequencerStats,
    Vec<McastStats>,
) {
    run(move |rt| async move {
        let net = ChanNet::new(faults);
        let seq = HostSequencer::spawn(
            &rt,
            DropSome {
                inner: net.endpoint(SEQ),
                drop,
            },
            SequencerConfig {
                receivers: RECEIVERS.to_vec(),
                session: 1,
            },
        );
        let mut senders = Vec::new();
        for a in SENDERS {
            let c = OrderedMcast::host(rt.clone())
                .with_sequencer(SEQ)
                .connect_wrap(net.endpoint(a))
                .await
                .unwrap();
            senders.push(c);
        }
        let mut receivers = Vec::new();
        for a in RECEIVERS {
            let c = OrderedMcast::host(rt.clone())
                .with_config(McastConfig {
                    reorder_window: 4,
                    gap_timeout: Duration::from_millis(1),
                })
                .connect_wrap(net.endpoint(a))
                .await
                .unwrap();
            receivers.push(c);
        }
        for i in 0..n {
            for (k, s) in senders.iter().enumerate() {
                s.send((SEQ, vec![k as u8, i])).await.unwrap();
            }
            // Let the sequencer run between rounds.
            rt.sleep(Duration::from_micros(10)).await;
        }
        net.set_faults(Faults::none());
        net.release_held();
        rt.sleep(Duration::from_micros(10)).await;
        net.release_held();
        senders[0].send((0, b"fence".to_vec())).await.unwrap();
        let mut all = Vec::new();
        for r in &receivers {
            let mut got = Vec::new();
            loop {
                let e = r.recv_event().await.unwrap();
                let fence = matches!(&e, Delivery::Msg { payload, .. } if payload == b"fence");
                got.push(e);
                if fence {
                    break;
                }
            }
            all.push(got);
        }
        let stats = receivers.iter().map(|r| r.stats()).collect();
        (all, seq.stats(), stats)
    })
}

#[test]
fn gaps_are_reported_exactly_where_copies_were_lost() {
    let drop: BTreeSet<(ChanAddr, u64)> = [(11, 3), (11, 4), (12, 0), (13, 17), (13, 39)]
        .into_iter()
        .collect();
    let (all, seq, stats) = group_run(Faults::none(), drop.clone(), 20);
    assert_eq!(seq.stamped, 41);
    let mut orders = Vec::new();
    for (r, events) in RECEIVERS.iter().zip(&all) {
        let (msgs, lost) = check_order(events, seq.stamped);
        let want: Vec<u64> = drop
            .iter()
            .filter(|(a, _)| a == r)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(lost, want, "receiver {r}");
        orders.push(msgs);
    }
    // Gaps are reported as one notice per run of losses.
    assert_eq!(stats[0].gaps, 1);
    assert_eq!(stats[0].lost, 2);
    // The same number is the same message at every receiver.
    let mut by_seq = BTreeMap::new();
    for o in &orders {
        for (s, f, p) in o {
            let prev = by_seq.insert(*s, (*f, p.clone()));
            assert!(prev.is_none() || prev == Some((*f, p.clone())));
        }
    }
    assert_eq!(by_seq.len() as u64, seq.stamped);
}

#[test]
fn loss_duplication_and_reordering_keep_one_order_and_report_every_gap() {
    let faults = Faults {
        loss: 0.08,
        duplicate: 0.1,
        reorder: 0.15,
        seed: 21,
    };
    let (all, seq, stats) = group_run(faults, BTreeSet::new(), 100);
    assert!(seq.stamped > 150, "{seq:?}");
    let mut by_seq: BTreeMap<u64, (ChanAddr, Vec<u8>)> = BTreeMap::new();
    let mut total_lost = 0;
    for events in &all {
        let (msgs, lost) = check_order(events, seq.stamped);
        total_lost += lost.len();
        for (s, f, p) in msgs {
            if let Some(prev) = by_seq.insert(s, (f, p.clone())) {
                assert_eq!(prev, (f, p), "same number, same message everywhere");
            }
        }
    }
    assert!(total_lost > 5, "some copies were lost: {stats:?}");
    assert!(
        stats.iter().map(|s| s.duplicates).sum::<u64>() > 5,
        "{stats:?}"
    );
    assert!(
        stats.iter().map(|s| s.buffered).sum::<u64>() > 5,
        "{stats:?}"
    );
    // Deterministic.
    let (again, _, _) = group_run(faults, BTreeSet::new(), 100);
    assert_eq!(all, again);
}

#[test]
fn recv_reports_a_gap_as_a_notice_and_goes_on() {
    let got = run(|rt| async move {
        let net = ChanNet::new(Faults::none());
        let raw = net.endpoint(SEQ);
        let c = OrderedMcast::host(rt.clone())
            .connect_wrap(net.endpoint(11))
            .await
            .unwrap();
        let me = encode_addr(&7u32).unwrap();
        for s in [0u64, 1, 3] {
            let b = stamp(5, s, &me, &request(&[s as u8])).unwrap();
            raw.send((11, b)).await.unwrap();
        }
        let mut out = Vec::new();
        for _ in 0..4 {
            out.push(c.recv().await.map_err(|e| Notice::of(&e)));
        }
        out
    });
    assert_eq!(
        got,
        vec![
            Ok((7, vec![0])),
            Ok((7, vec![1])),
            Err(Some(Notice::Gap {
                session: 5,
                from: 2,
                to: 3
            })),
            Ok((7, vec![3])),
        ]
    );
}

#[test]
fn a_new_session_ends_the_old_one_and_stale_or_malformed_stamps_are_dropped() {
    let (events, stats) = run(|rt| async move {
        let net = ChanNet::new(Faults::none());
        let raw = net.endpoint(SEQ);
        let c = OrderedMcast::host(rt.clone())
            .connect_wrap(net.endpoint(11))
            .await
            .unwrap();
        let me = encode_addr(&7u32).unwrap();
        let st = |sess, s: u64| stamp(sess, s, &me, &request(&[s as u8])).unwrap();
        let mut bad = st(1, 9);
        bad.truncate(STAMP_HEADER + 2); // the address cut short
        for b in [
            st(1, 0),
            st(1, 2),
            vec![TAG_STAMPED, 1],
            vec![],
            bad,
            st(2, 0),
            st(1, 1),
            st(2, 1),
        ] {
            raw.send((11, b)).await.unwrap();
        }
        let mut out = Vec::new();
        for _ in 0..6 {
            out.push(c.recv_event().await.unwrap());
        }
        (out, c.stats())
    });
    let msg = |session, seq: u64| Delivery::Msg {
        from: 7u32,
        session,
        seq,
        payload: vec![seq as u8],
    };
    assert_eq!(
        events,
        vec![
            msg(1, 0),
            Delivery::Notice(Notice::Gap {
                session: 1,
                from: 1,
                to: 2
            }),
            msg(1, 2),
            Delivery::Notice(Notice::NewSession { session: 2 }),
            msg(2, 0),
            msg(2, 1),
        ]
    );
    assert_eq!((stats.malformed, stats.stale), (3, 1), "{stats:?}");
}

#[test]
fn the_plan_picks_the_switch_with_capacity_else_the_host_with_the_reason() {
    let sw = Rc::new(RefCell::new(ProgrammableSwitch::new("tor", 4, 1, None)));
    let table = SequencerTable::new();
    let group = SwitchGroup {
        group: "10.0.0.9:9000".parse().unwrap(),
        receivers: (1..=3)
            .map(|i| format!("10.0.{i}.1:9001").parse().unwrap())
            .collect(),
        session: 1,
    };
    let reg = switch_registry(sw.clone(), &table, group.clone(), SWITCH_PRIORITY);
    let first = plan_sequencer(&reg).unwrap();
    assert!(first.is_switch(), "{first:?}");
    assert!(first.fallbacks.is_empty());
    assert!(table.has(group.group));
    assert_eq!(sw.borrow().available(Resource::TableEntries), Some(1));
    // No room for a second group of three: the host sequencer, and why.
    let second = plan_sequencer(&reg).unwrap();
    assert_eq!(second.chosen.implementation, HOST_IMPL);
    assert!(
        second
            .fallbacks
            .iter()
            .any(|f| f.contains(SWITCH_IMPL) && f.contains("table entries exhausted")),
        "{:?}",
        second.fallbacks
    );
    drop(second);
    drop(first);
    assert!(!table.has(group.group), "teardown removes the group");
    assert_eq!(sw.borrow().available(Resource::TableEntries), Some(4));
    // Not registered at all: the host sequencer.
    let plain = plan_sequencer(&Registry::new()).unwrap();
    assert!(!plain.is_switch());
    assert!(
        plain.fallbacks.iter().any(|f| f.contains("not registered")),
        "{:?}",
        plain.fallbacks
    );
}

#[test]
fn node_addresses_invert() {
    for n in [0, 1, 255, 256, 70_000] {
        assert_eq!(node_of(IpAddr::V4(node_ip(n))), Some(n));
    }
    assert_eq!(node_of("192.168.0.1".parse().unwrap()), None);
    assert_eq!(node_of("10.0.0.0".parse().unwrap()), None);
}
