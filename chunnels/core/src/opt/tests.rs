//! Tests of the optimization passes and PCIe pricing.

use super::*;
use crate::caps::{Compat, Offer};
use crate::stack::Negotiate;
use crate::{select, stack};
use netmodels::offload::Pcie;
use sim_core::SimDuration;

#[derive(Debug, PartialEq, Clone)]
struct L(&'static str);
impl Negotiate for L {
    fn capability(&self) -> Offer {
        Offer::new(self.0, self.0, Compat::Exact)
    }
}
impl Layer for L {
    type Kind = kind::Other;
}
#[derive(Debug, PartialEq, Clone)]
struct E;
impl Layer for E {
    type Kind = kind::Encrypt;
}
#[derive(Debug, PartialEq, Clone)]
struct H;
impl Layer for H {
    type Kind = kind::Http2;
}
#[derive(Debug, PartialEq, Clone)]
struct T;
impl Layer for T {
    type Kind = kind::Tcp;
}
#[derive(Debug, PartialEq, Clone)]
struct Ht(u8);
impl Layer for Ht {
    type Kind = kind::Other;
}

pass! {
    /// `[E, H, T]` → `[H, E, T]`.
    struct Swap: [kind::Encrypt, kind::Http2, kind::Tcp];
    impl[] (e: E, h: H, t: T) -> stack_type![H, E, T] { stack![h, e, t] }
}
pass! {
    /// `[H]` → `[Ht(1), Ht(2)]` (one layer into two).
    struct Split: [kind::Http2];
    impl[] (_h: H) -> stack_type![Ht, Ht] { stack![Ht(1), Ht(2)] }
}

fn is<X>(_: &X) {}

type Swapped = stack_type![L, H, E, T, H, E, T, E];

#[test]
fn three_layer_pattern_anywhere_and_repeatedly() {
    let s = stack![L("a"), E, H, T, E, H, T, E].optimize::<Swap>();
    is::<Swapped>(&s);
    assert_eq!(s, stack![L("a"), H, E, T, H, E, T, E]);
    // A partial match is no match.
    let s = stack![E, H, L("x"), T];
    assert!(!s.rewritten_by::<Swap>());
    let s2 = s.clone().optimize::<Swap>();
    is::<stack_type![E, H, L, T]>(&s2);
    assert_eq!(s, s2);
}

#[test]
fn one_layer_pattern_splices_a_longer_segment() {
    let s = stack![H, L("a"), H].optimize::<Split>();
    assert_eq!(s, stack![Ht(1), Ht(2), L("a"), Ht(1), Ht(2)]);
    assert_eq!(stack![].optimize::<Split>(), CxNil);
}

#[test]
fn recurses_into_selects_and_nested_stacks_keeping_unchanged_selects() {
    let s = stack![
        select!(stack![E, H, T], L("b")),
        stack![L("n"), E, H, T],
        select!(L("c"), L("d"); prefer_left_if = |_| false)
    ];
    assert!(s.rewritten_by::<Swap>());
    let o = s.optimize::<Swap>();
    is::<
        stack_type![
            Select<stack_type![H, E, T], L>,
            stack_type![L, H, E, T],
            Select<L, L>
        ],
    >(&o);
    assert_eq!(o.head.left, stack![H, E, T]);
    // The unchanged select kept its policy: the right branch is preferred.
    let alts = o.tail.tail.head.alternatives(&PolicyCtx { peers: 2 });
    assert_eq!((alts[0].penalty, alts[1].penalty), (1, 0));
}

#[test]
fn a_rewritten_select_keeps_its_policy() {
    let s = select!(stack![E, H, T], L("b"); prefer_left_if = |_| false);
    let o = s.optimize::<Swap>();
    assert_eq!(o.left, stack![H, E, T]);
    let keeps = o.policy().map(|f| f(&PolicyCtx { peers: 2 }));
    assert_eq!(
        keeps,
        Some(false),
        "the policy (prefer the right branch) survived"
    );
}

#[test]
fn pcie_crossings_of_the_reordering() {
    let pcie = Pcie {
        latency: SimDuration::from_nanos(500),
        bandwidth_bps: 64_000_000_000,
    };
    let nic = |l: &&str| matches!(*l, "encrypt" | "tcp");
    let before = price_layers(&["encrypt", "http2", "tcp"], nic, &pcie, 1000);
    let after = price_layers(&["http2", "encrypt", "tcp"], nic, &pcie, 1000);
    assert_eq!((before.crossings, after.crossings), (3, 1));
    assert_eq!(before.nanos, 3 * after.nanos);
    assert_eq!(after.nanos, pcie.crossing_time(1000).as_nanos());
    let s = stack![L("http2"), L("encrypt"), L("tcp")];
    assert_eq!(price_pcie(&s, &["encrypt", "tcp"], &pcie, 1000), after);
    // All on the host: one crossing, to the NIC at the bottom.
    assert_eq!(price_layers(&["a"], |_| false, &pcie, 1).crossings, 1);
}
