//! The control side: [`Chunnel`], the per-implementation [`Negotiate`] declaration, typed
//! stacks ([`CxList`], [`CxNil`], the [`stack!`](crate::stack!) macro), alternatives
//! ([`Select`], [`select!`](crate::select!)) and the stack description negotiation works on
//! ([`Describe`]).
//!
//! # Order
//! `stack![a, b, c]` is `a` on top of `b` on top of `c`: outgoing data is processed by `a`
//! first, then `b`, then `c`, then the base connection; incoming data the other way round.
//! Building the datapath calls `c.connect_wrap(base)`, then `b.connect_wrap(that)`, then
//! `a.connect_wrap(that)`, so each layer's input type must be what the layer under it carries:
//! an ill-typed stack does not compile.
//!
//! # Alternatives
//! A stack with selects describes several alternatives, enumerated left branch first, top
//! layer outermost: `stack![select!(a, b), select!(c, d)]` has the alternatives `[a, c]`,
//! `[a, d]`, `[b, c]`, `[b, d]`, indices 0..4. Negotiation picks one index and
//! [`Describe::choose`] fixes every select on it; the select then builds its chosen branch as
//! an [`Either`].

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::caps::{Agreement, Offer};
use crate::conn::{ChunnelConnection, Either, Error};

/// The control side of a Chunnel: wraps an inner connection into one that adds the function.
pub trait Chunnel<InC> {
    /// The connection this Chunnel builds over `InC`.
    type Connection: ChunnelConnection;

    /// Builds the connection over `inner`. Called after negotiation (so
    /// [`Negotiate::picked`] has run); may exchange messages over `inner` (a key exchange).
    fn connect_wrap(&mut self, inner: InC)
        -> impl Future<Output = Result<Self::Connection, Error>>;
}

/// What an implementation declares to negotiation. Every Chunnel that can sit in a stack
/// implements it.
pub trait Negotiate {
    /// The implementation's capability.
    fn capability(&self) -> Offer;

    /// Called once negotiation has picked this implementation, with what both ends agreed
    /// (the peer's offer, the common labels), before [`Chunnel::connect_wrap`].
    fn picked(&mut self, agreement: &Agreement) {
        let _ = agreement;
    }
}

/// What a select's policy predicate sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyCtx {
    /// Endpoints in the connection, this one included (2 for point-to-point).
    pub peers: usize,
}

/// One alternative of a stack: its layers, top first, and how many select policies it goes
/// against (negotiation prefers fewer, after the operator policy's other criteria).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternative {
    /// The layers, top first.
    #[serde(deserialize_with = "crate::wire::bounded_vec")]
    pub layers: Vec<Offer>,
    /// Selects whose policy preferred the other branch.
    pub penalty: u32,
}

/// A stack description: the alternatives it offers and how to fix it on one.
pub trait Describe {
    /// Number of alternatives (1 without selects).
    fn count(&self) -> usize;

    /// The alternatives, in index order (see the module documentation).
    fn alternatives(&self, ctx: &PolicyCtx) -> Vec<Alternative>;

    /// Fixes every select on alternative `alt` and tells each layer of it what was agreed;
    /// `agreements` holds one entry per layer, top first.
    fn choose(&mut self, alt: usize, agreements: &mut std::slice::Iter<'_, Agreement>);
}

impl<T: Negotiate> Describe for T {
    fn count(&self) -> usize {
        1
    }

    fn alternatives(&self, _ctx: &PolicyCtx) -> Vec<Alternative> {
        vec![Alternative {
            layers: vec![self.capability()],
            penalty: 0,
        }]
    }

    fn choose(&mut self, _alt: usize, agreements: &mut std::slice::Iter<'_, Agreement>) {
        if let Some(a) = agreements.next() {
            self.picked(a);
        }
    }
}

/// The empty stack: builds the base connection unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CxNil;

/// A stack: `head` on top of `tail`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CxList<H, T> {
    /// The top layer.
    pub head: H,
    /// The layers under it.
    pub tail: T,
}

/// Builds a stack: `stack![a, b, c]`, `a` processing outgoing data first.
#[macro_export]
macro_rules! stack {
    () => { $crate::stack::CxNil };
    ($head:expr $(, $rest:expr)* $(,)?) => {
        $crate::stack::CxList { head: $head, tail: $crate::stack![$($rest),*] }
    };
}

/// Offers two alternatives: `select!(a, b)`, or `select!(a, b; prefer_left_if = f)` with
/// `f: fn(&PolicyCtx) -> bool` breaking ties (`true` prefers `a`, `false` prefers `b`).
#[macro_export]
macro_rules! select {
    ($a:expr, $b:expr $(,)?) => {
        $crate::stack::Select::new($a, $b)
    };
    ($a:expr, $b:expr; prefer_left_if = $f:expr $(,)?) => {
        $crate::stack::Select::new($a, $b).prefer_left_if($f)
    };
}

impl<InC: ChunnelConnection> Chunnel<InC> for CxNil {
    type Connection = InC;

    async fn connect_wrap(&mut self, inner: InC) -> Result<InC, Error> {
        Ok(inner)
    }
}

impl<InC, H, T> Chunnel<InC> for CxList<H, T>
where
    T: Chunnel<InC>,
    H: Chunnel<T::Connection>,
{
    type Connection = H::Connection;

    async fn connect_wrap(&mut self, inner: InC) -> Result<H::Connection, Error> {
        let under = self.tail.connect_wrap(inner).await?;
        self.head.connect_wrap(under).await
    }
}

impl Describe for CxNil {
    fn count(&self) -> usize {
        1
    }

    fn alternatives(&self, _ctx: &PolicyCtx) -> Vec<Alternative> {
        vec![Alternative {
            layers: Vec::new(),
            penalty: 0,
        }]
    }

    fn choose(&mut self, _alt: usize, _agreements: &mut std::slice::Iter<'_, Agreement>) {}
}

impl<H: Describe, T: Describe> Describe for CxList<H, T> {
    fn count(&self) -> usize {
        self.head.count().saturating_mul(self.tail.count())
    }

    fn alternatives(&self, ctx: &PolicyCtx) -> Vec<Alternative> {
        let tails = self.tail.alternatives(ctx);
        let mut out = Vec::new();
        for h in self.head.alternatives(ctx) {
            for t in &tails {
                let mut layers = h.layers.clone();
                layers.extend(t.layers.iter().cloned());
                out.push(Alternative {
                    layers,
                    penalty: h.penalty + t.penalty,
                });
            }
        }
        out
    }

    fn choose(&mut self, alt: usize, agreements: &mut std::slice::Iter<'_, Agreement>) {
        let n = self.tail.count().max(1);
        self.head.choose(alt / n, agreements);
        self.tail.choose(alt % n, agreements);
    }
}

/// Which branch of a [`Select`] negotiation chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branch {
    /// The first.
    Left,
    /// The second.
    Right,
}

/// Two alternatives for one place in a stack; built with [`select!`](crate::select!).
#[derive(Clone, Debug)]
pub struct Select<A, B> {
    /// The first alternative.
    pub left: A,
    /// The second alternative.
    pub right: B,
    policy: Option<fn(&PolicyCtx) -> bool>,
    chosen: Option<Branch>,
}

impl<A, B> Select<A, B> {
    /// A select with no policy: ties go to `left` (lower alternative index).
    pub fn new(left: A, right: B) -> Self {
        Select {
            left,
            right,
            policy: None,
            chosen: None,
        }
    }

    /// Ties are broken by `f`: `true` prefers `left`, `false` prefers `right`.
    pub fn prefer_left_if(mut self, f: fn(&PolicyCtx) -> bool) -> Self {
        self.policy = Some(f);
        self
    }

    /// The branch negotiation chose, once it has.
    pub fn chosen(&self) -> Option<Branch> {
        self.chosen
    }

    /// The tie-break policy, if any.
    pub fn policy(&self) -> Option<fn(&PolicyCtx) -> bool> {
        self.policy
    }

    /// The same select with each branch transformed (an optimization pass rewriting inside
    /// it); the policy and any choice are kept.
    pub fn map<C, D>(self, f: impl FnOnce(A) -> C, g: impl FnOnce(B) -> D) -> Select<C, D> {
        Select {
            left: f(self.left),
            right: g(self.right),
            policy: self.policy,
            chosen: self.chosen,
        }
    }
}

impl<A: Describe, B: Describe> Describe for Select<A, B> {
    fn count(&self) -> usize {
        self.left.count().saturating_add(self.right.count())
    }

    fn alternatives(&self, ctx: &PolicyCtx) -> Vec<Alternative> {
        let (pl, pr) = match self.policy.map(|f| f(ctx)) {
            Some(true) => (0, 1),
            Some(false) => (1, 0),
            None => (0, 0),
        };
        let mut out = self.left.alternatives(ctx);
        for a in &mut out {
            a.penalty += pl;
        }
        for mut a in self.right.alternatives(ctx) {
            a.penalty += pr;
            out.push(a);
        }
        out
    }

    fn choose(&mut self, alt: usize, agreements: &mut std::slice::Iter<'_, Agreement>) {
        let nl = self.left.count();
        if alt < nl {
            self.chosen = Some(Branch::Left);
            self.left.choose(alt, agreements);
        } else {
            self.chosen = Some(Branch::Right);
            self.right.choose(alt - nl, agreements);
        }
    }
}

impl<InC, A, B> Chunnel<InC> for Select<A, B>
where
    A: Chunnel<InC>,
    B: Chunnel<InC>,
    B::Connection: ChunnelConnection<Data = <A::Connection as ChunnelConnection>::Data>,
{
    type Connection = Either<A::Connection, B::Connection>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        match self.chosen {
            Some(Branch::Left) => Ok(Either::Left(self.left.connect_wrap(inner).await?)),
            Some(Branch::Right) => Ok(Either::Right(self.right.connect_wrap(inner).await?)),
            None => Err(Error::layer(
                "select",
                "connect_wrap before negotiation chose a branch",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Compat;

    #[derive(Clone)]
    struct L(&'static str);
    impl Negotiate for L {
        fn capability(&self) -> Offer {
            Offer::new(self.0, self.0, Compat::Exact)
        }
    }

    fn names(a: &Alternative) -> Vec<String> {
        a.layers.iter().map(|o| o.chunnel.clone()).collect()
    }

    #[test]
    fn alternatives_enumerate_left_first_top_outermost() {
        let s = crate::stack![select!(L("a"), L("b")), select!(L("c"), L("d"))];
        assert_eq!(s.count(), 4);
        let alts = s.alternatives(&PolicyCtx { peers: 2 });
        let got: Vec<Vec<String>> = alts.iter().map(names).collect();
        assert_eq!(got, vec![["a", "c"], ["a", "d"], ["b", "c"], ["b", "d"]]);
    }

    #[test]
    fn choose_fixes_each_select() {
        let mut s = crate::stack![select!(L("a"), L("b")), select!(L("c"), L("d"))];
        let alts = s.alternatives(&PolicyCtx { peers: 2 });
        let ags: Vec<Agreement> = alts[2]
            .layers
            .iter()
            .map(|o| Agreement {
                local: o.clone(),
                peer: None,
                labels: Default::default(),
            })
            .collect();
        s.choose(2, &mut ags.iter());
        assert_eq!(s.head.chosen(), Some(Branch::Right));
        assert_eq!(s.tail.head.chosen(), Some(Branch::Left));
    }

    #[test]
    fn policy_penalises_the_unpreferred_branch() {
        let s = select!(L("a"), L("b"); prefer_left_if = |c: &PolicyCtx| c.peers <= 2);
        let two = s.alternatives(&PolicyCtx { peers: 2 });
        assert_eq!((two[0].penalty, two[1].penalty), (0, 1));
        let five = s.alternatives(&PolicyCtx { peers: 5 });
        assert_eq!((five[0].penalty, five[1].penalty), (1, 0));
    }
}
