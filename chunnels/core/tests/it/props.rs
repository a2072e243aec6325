//! Property tests of negotiation: for random stacks with random capabilities, negotiation
//! succeeds iff a compatible choice exists, is deterministic, never uses what a side lacks or
//! could not reserve, and 0-RTT with a stale cache converges to the 1-RTT choice.

use std::cell::RefCell;
use std::rc::Rc;

use chunnel::caps::match_stacks;
use chunnel::negotiate::{decide, decide_zero_rtt};
use chunnel::wire::{ZeroRtt, ZeroRttOutcome};
use chunnel::{Alternative, Compat, Endpoints, Entry, Offer, Registry, Scope};
use netmodels::offload::{Demand, OffloadDevice, ProgrammableSwitch, Resource};
use proptest::prelude::*;

fn offer() -> impl Strategy<Value = Offer> {
    (
        prop::sample::select(vec!["ser", "rel", "shard", "enc"]),
        prop::sample::select(vec!["host", "nic", "switch"]),
        prop::collection::btree_set(prop::sample::select(vec!["x", "y", "z"]), 1..3),
        prop::sample::select(vec![Compat::Exact, Compat::Provides, Compat::Relies]),
        0i32..3,
    )
        .prop_map(|(c, imp, labels, compat, prio)| {
            let mut o = Offer::new(c, imp, compat).priority(prio);
            o.labels = labels.into_iter().map(String::from).collect();
            o.scope = match imp {
                "host" => Scope::Application,
                "nic" => Scope::Host,
                _ => Scope::LocalNetwork,
            };
            o
        })
}

fn alts() -> impl Strategy<Value = Vec<Alternative>> {
    prop::collection::vec(
        (prop::collection::vec(offer(), 0..4), 0u32..2)
            .prop_map(|(layers, penalty)| Alternative { layers, penalty }),
        1..4,
    )
}

/// A registry that deploys the NIC implementations everywhere and the switch ones on a
/// switch with room for `room` of them.
fn registry(room: u64) -> (Registry, Rc<RefCell<ProgrammableSwitch>>) {
    let sw = Rc::new(RefCell::new(ProgrammableSwitch::new("tor", room, 8, None)));
    let reg = Registry::new();
    for c in ["ser", "rel", "shard", "enc"] {
        reg.register(c, "nic", Entry::new(Scope::Host, Endpoints::One, 5));
        reg.register(
            c,
            "switch",
            Entry::new(Scope::LocalNetwork, Endpoints::One, 9)
                .reserve(sw.clone(), Demand::new().table_entries(1)),
        );
    }
    (reg, sw)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn succeeds_iff_a_compatible_deployable_pair_exists(client in alts(), server in alts()) {
        let reg = Registry::new(); // nothing accelerated deployed
        let deployable = |a: &Alternative| a.layers.iter().all(|o| reg.available(o).is_ok());
        let exists = client.iter().any(|c| {
            server.iter().any(|s| deployable(s) && match_stacks(&c.layers, &s.layers).is_ok())
        });
        let d = decide(&client, &server, &reg);
        prop_assert_eq!(d.is_ok(), exists, "{:?}", d.as_ref().err());
        if let Ok(d) = d {
            let (c, s) = (&client[d.client_alt], &server[d.server_alt]);
            // Both ends see the same pair: the agreements mirror each other.
            let m = match_stacks(&c.layers, &s.layers).unwrap();
            prop_assert_eq!(&m, &d.matched);
            prop_assert!(deployable(s), "picked an undeployed implementation");
            for (a, o) in d.matched.server.iter().zip(&s.layers) {
                prop_assert_eq!(&a.local, o);
            }
            // Deterministic.
            let again = decide(&client, &server, &reg).unwrap();
            prop_assert_eq!((again.client_alt, again.server_alt), (d.client_alt, d.server_alt));
        }
    }

    #[test]
    fn reservations_never_exceed_capacity(
        client in alts(),
        server in alts(),
        room in 0u64..3,
        n in 1usize..6,
    ) {
        let (reg, sw) = registry(room);
        let mut leases = Vec::new();
        let mut on_switch = 0;
        for _ in 0..n {
            if let Ok(d) = decide(&client, &server, &reg) {
                let uses = server[d.server_alt]
                    .layers
                    .iter()
                    .filter(|o| o.implementation == "switch")
                    .count() as u64;
                on_switch += uses;
                leases.push(d);
            }
        }
        prop_assert!(on_switch <= room, "{on_switch} switch layers placed, room for {room}");
        let used = room - sw.borrow().available(Resource::TableEntries).unwrap();
        prop_assert_eq!(used, on_switch);
        drop(leases);
        prop_assert_eq!(sw.borrow().available(Resource::TableEntries), Some(room));
    }

    #[test]
    fn zero_rtt_with_a_stale_cache_converges_to_the_one_rtt_choice(
        client in alts(),
        old_server in alts(),
        new_server in alts(),
    ) {
        let reg = Registry::new();
        let Ok(old) = decide(&client, &old_server, &reg) else { return Ok(()) };
        let proposal = ZeroRtt {
            client_alt: old.client_alt as u32,
            server: old.matched.server.iter().map(|a| a.local.clone()).collect(),
        };
        drop(old);
        let fresh = decide(&client, &new_server, &reg);
        let zr = decide_zero_rtt(&client, &proposal, &new_server, &reg);
        match (fresh, zr) {
            (Ok(f), Ok((z, outcome))) => {
                prop_assert_eq!((z.client_alt, z.server_alt), (f.client_alt, f.server_alt));
                let same = proposal.client_alt as usize == f.client_alt
                    && proposal.server == f.matched.server.iter().map(|a| a.local.clone()).collect::<Vec<_>>();
                prop_assert_eq!(outcome == ZeroRttOutcome::Accepted, same);
            }
            (Err(_), Err(_)) => {}
            (f, z) => prop_assert!(false, "1-RTT {:?} vs 0-RTT {:?}", f.is_ok(), z.is_ok()),
        }
    }
}
