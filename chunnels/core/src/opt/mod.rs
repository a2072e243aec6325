//! Optimization passes: declared substitutions over stack *types*, applied at compile time.
//!
//! A pass replaces every occurrence of a pattern of one to three adjacent layers
//! (`[.., A, B, ..]`) by a stack segment of its choice (`[.., AB, ..]`), in any stack that
//! contains it, and is a no-op, type and value, in any stack that does not. It works on
//! stable Rust without specialization: the pattern is matched on *kinds*, zero-sized marker
//! types every layer declares through [`Layer::Kind`], and the decision is a type computed
//! from them, so the choice between "rewrite here" and "keep this layer and go on" is made
//! by the trait solver while the program compiles. The rewritten stack has a different
//! type (a function that accepts only the rewritten type accepts it; see the tests of the
//! `chunnels` crate), and nothing is decided at run time.
//!
//! # Declaring a pass
//! With [`pass!`](crate::pass!): a unit struct, its pattern of [`kind`]s, and one rewrite per
//! combination of concrete layer types the pattern may meet (a rewrite takes the matched
//! layers by value and returns a stack, written with [`stack!`](crate::stack!); its type with
//! [`stack_type!`](crate::stack_type!)):
//!
//! ```
//! use chunnel::opt::{kind, Layer, Optimize};
//! use chunnel::{pass, stack, stack_type};
//!
//! // Two layers and what fuses them (a real layer would also be a Chunnel).
//! #[derive(Debug, PartialEq)] struct Enc(u8);
//! #[derive(Debug, PartialEq)] struct Local(u8);
//! #[derive(Debug, PartialEq)] struct Fused(u8, u8);
//! #[derive(Debug, PartialEq)] struct Ser;
//! impl Layer for Enc { type Kind = kind::Encrypt; }
//! impl Layer for Local { type Kind = kind::LocalOrRemote; }
//! impl Layer for Fused { type Kind = kind::EncryptOrLocal; }
//! impl Layer for Ser { type Kind = kind::Serialize; }
//!
//! pass! {
//!     /// `[.., Encrypt, LocalOrRemote, ..]` → `[.., EncryptOrLocal, ..]`.
//!     pub struct Fuse: [kind::Encrypt, kind::LocalOrRemote];
//!     impl[] (e: Enc, l: Local) -> stack_type![Fused] { stack![Fused(e.0, l.0)] }
//! }
//!
//! let s = stack![Ser, Enc(1), Local(2)].optimize::<Fuse>();
//! assert_eq!(s, stack![Ser, Fused(1, 2)]);
//! // No match: the same type and value.
//! let t: stack_type![Ser, Local, Enc] = stack![Ser, Local(2), Enc(1)].optimize::<Fuse>();
//! assert_eq!(t, stack![Ser, Local(2), Enc(1)]);
//! ```
//!
//! # Semantics
//! - Left to right, non-overlapping: after a rewrite, matching resumes *after* the matched
//!   layers (the replacement is not rescanned). Apply a pass twice, or several passes in a
//!   row (`s.optimize::<P>().optimize::<Q>()`), to compose them.
//! - Nested stacks (a [`CxList`] used as one layer) and both branches of every
//!   [`Select`] are rewritten too. A select none of whose branches
//!   changes is kept as it is. A select whose branch changes is rebuilt with
//!   [`Select::map`], which keeps its tie-break policy. Apply
//!   passes before negotiation.
//! - Every layer of a stack a pass is applied to must implement [`Layer`]; a layer that fits
//!   no pattern declares [`kind::Other`].
//! - Both ends of a connection should apply the same passes: a rewritten layer announces its
//!   own capability, so a peer that did not apply the pass fails negotiation naming it
//!   (unless the rewrite is wire-compatible and describes itself as the layers it replaced).
//!
//! # Pricing PCIe crossings
//! [`price_pcie`] counts the host↔SmartNIC crossings of a stack whose layers of some Chunnel
//! types run on a SmartNIC, and prices them with [`netmodels::offload::Pcie`]; used to show
//! what a reordering pass saves.

use netmodels::offload::Pcie;

use crate::stack::{CxList, CxNil, Describe, PolicyCtx, Select};

/// Type-level `true`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct True;
/// Type-level `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct False;

/// A type-level boolean.
pub trait Bool {
    /// Its value.
    const VALUE: bool;
}
impl Bool for True {
    const VALUE: bool = true;
}
impl Bool for False {
    const VALUE: bool = false;
}

/// Type-level `Self || B`.
pub trait Or<B> {
    /// The result.
    type Out: Bool;
}
impl<B: Bool> Or<B> for True {
    type Out = True;
}
impl<B: Bool> Or<B> for False {
    type Out = B;
}

/// Type-level `Self && B`.
pub trait And<B> {
    /// The result.
    type Out: Bool;
}
impl<B: Bool> And<B> for True {
    type Out = B;
}
impl<B: Bool> And<B> for False {
    type Out = False;
}

/// Type-level `if Self { T } else { F }`.
pub trait If<T, F> {
    /// The chosen type.
    type Out;
}
impl<T, F> If<T, F> for True {
    type Out = T;
}
impl<T, F> If<T, F> for False {
    type Out = F;
}

/// Whether two kinds are the same: implemented for every pair of [`kind`]s.
pub trait KindEq<K> {
    /// [`True`] or [`False`].
    type Eq: Bool;
}

/// What a layer is, for pattern matching: implemented by every Chunnel a pass may see.
pub trait Layer {
    /// A marker of [`kind`] ([`kind::Other`] if no pattern should ever match it).
    type Kind;
}

impl Layer for CxNil {
    type Kind = kind::Nil;
}
impl<H, T> Layer for CxList<H, T> {
    type Kind = kind::List;
}
impl<A, B> Layer for Select<A, B> {
    type Kind = kind::Select;
}

/// Pattern-match outcome: no match here.
#[derive(Debug)]
pub struct Miss;
/// Pattern-match outcome: the first layer matches a one-layer pattern.
#[derive(Debug)]
pub struct Hit1;
/// Pattern-match outcome: the first two layers match a two-layer pattern.
#[derive(Debug)]
pub struct Hit2;
/// Pattern-match outcome: the first three layers match a three-layer pattern.
#[derive(Debug)]
pub struct Hit3;

macro_rules! kinds {
    ($($(#[$m:meta])* $k:ident),* $(,)?) => {
        $( $(#[$m])* #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)] pub struct $k; )*
        kinds!(@eq [$($k)*]);
    };
    (@eq []) => {};
    (@eq [$h:ident $($t:ident)*]) => {
        impl super::KindEq<$h> for $h { type Eq = super::True; }
        $(
            impl super::KindEq<$t> for $h { type Eq = super::False; }
            impl super::KindEq<$h> for $t { type Eq = super::False; }
        )*
        kinds!(@eq [$($t)*]);
    };
}

macro_rules! leaf_kinds {
    ($($k:ident),* $(,)?) => {
        $(
            impl<P, X> super::Dispatch<P, X> for $k {
                type Output = X;
                type Changed = super::False;
                fn dispatch(x: X) -> X {
                    x
                }
            }
        )*
    };
}

/// The kinds layers declare ([`Layer::Kind`]) and patterns match. [`End`](kind::End) is what
/// a pattern sees past the end of a stack; [`Nil`](kind::Nil), [`List`](kind::List) and
/// [`Select`](kind::Select) are the kinds of the stack types themselves (a pass looks inside
/// them); the others name Chunnel types.
pub mod kind {
    kinds! {
        /// A layer no pattern matches.
        Other,
        /// Past the end of a stack.
        End,
        /// The empty stack, [`CxNil`](crate::stack::CxNil).
        Nil,
        /// A stack used as one layer, [`CxList`](crate::stack::CxList).
        List,
        /// Alternatives, [`Select`].
        Select,
        /// Serialization.
        Serialize,
        /// Reliability.
        Reliable,
        /// Ordering.
        Ordered,
        /// At-most-once delivery.
        AtMostOnce,
        /// Nagling.
        Nagle,
        /// Batch framing.
        BatchFrame,
        /// Encryption.
        Encrypt,
        /// The local-or-remote fast path.
        LocalOrRemote,
        /// Encryption fused with the local fast path (encrypts only on the remote path).
        EncryptOrLocal,
        /// Client-side sharding.
        ClientShard,
        /// Server-side sharding that decodes the key.
        ServerShard,
        /// Server-side sharding at a raw byte offset, fused with the serializer.
        RawServerShard,
        /// A shard server relying on client push.
        AcceptClientPush,
        /// HTTP/2-style framing.
        Http2,
        /// TCP-style framing.
        Tcp,
    }
    leaf_kinds!(
        Other,
        End,
        Nil,
        Serialize,
        Reliable,
        Ordered,
        AtMostOnce,
        Nagle,
        BatchFrame,
        Encrypt,
        LocalOrRemote,
        EncryptOrLocal,
        ClientShard,
        ServerShard,
        RawServerShard,
        AcceptClientPush,
        Http2,
        Tcp,
    );
}

/// The kinds of a stack's first three layers ([`kind::End`] past its end).
pub trait Window {
    /// The first layer's kind.
    type K0;
    /// The second's.
    type K1;
    /// The third's.
    type K2;
}
impl Window for CxNil {
    type K0 = kind::End;
    type K1 = kind::End;
    type K2 = kind::End;
}
impl<H: Layer, T: Window> Window for CxList<H, T> {
    type K0 = H::Kind;
    type K1 = T::K0;
    type K2 = T::K1;
}

/// A pattern (a tuple of one to three kinds) matched against the start of a stack `W`.
pub trait Pattern<W> {
    /// [`Hit1`], [`Hit2`], [`Hit3`] or [`Miss`].
    type Outcome;
}

type Eq<A, B> = <A as KindEq<B>>::Eq;

impl<W: Window, A> Pattern<W> for (A,)
where
    W::K0: KindEq<A>,
    Eq<W::K0, A>: If<Hit1, Miss>,
{
    type Outcome = <Eq<W::K0, A> as If<Hit1, Miss>>::Out;
}

impl<W: Window, A, B> Pattern<W> for (A, B)
where
    W::K0: KindEq<A>,
    W::K1: KindEq<B>,
    Eq<W::K0, A>: And<Eq<W::K1, B>>,
    <Eq<W::K0, A> as And<Eq<W::K1, B>>>::Out: If<Hit2, Miss>,
{
    type Outcome = <<Eq<W::K0, A> as And<Eq<W::K1, B>>>::Out as If<Hit2, Miss>>::Out;
}

type And3<W, A, B, C> = <<Eq<<W as Window>::K0, A> as And<Eq<<W as Window>::K1, B>>>::Out as And<
    Eq<<W as Window>::K2, C>,
>>::Out;

impl<W: Window, A, B, C> Pattern<W> for (A, B, C)
where
    W::K0: KindEq<A>,
    W::K1: KindEq<B>,
    W::K2: KindEq<C>,
    Eq<W::K0, A>: And<Eq<W::K1, B>>,
    <Eq<W::K0, A> as And<Eq<W::K1, B>>>::Out: And<Eq<W::K2, C>>,
    And3<W, A, B, C>: If<Hit3, Miss>,
{
    type Outcome = <And3<W, A, B, C> as If<Hit3, Miss>>::Out;
}

/// An optimization pass: a pattern (a tuple of [`kind`]s) and, through [`Rewrite1`],
/// [`Rewrite2`] or [`Rewrite3`], what replaces it. Declared with [`pass!`](crate::pass!).
pub trait Pass {
    /// `(A,)`, `(A, B)` or `(A, B, C)` of [`kind`] markers.
    type Pattern;
}

/// The rewrite of a one-layer pattern matched by layer type `A`.
pub trait Rewrite1<A> {
    /// The replacement: a stack (its layers are spliced in).
    type Out;
    /// Builds the replacement from the matched layer.
    fn rewrite(a: A) -> Self::Out;
}

/// The rewrite of a two-layer pattern matched by layer types `A`, `B` (top first).
pub trait Rewrite2<A, B> {
    /// The replacement: a stack (its layers are spliced in).
    type Out;
    /// Builds the replacement from the matched layers.
    fn rewrite(a: A, b: B) -> Self::Out;
}

/// The rewrite of a three-layer pattern matched by layer types `A`, `B`, `C` (top first).
pub trait Rewrite3<A, B, C> {
    /// The replacement: a stack (its layers are spliced in).
    type Out;
    /// Builds the replacement from the matched layers.
    fn rewrite(a: A, b: B, c: C) -> Self::Out;
}

/// Stack concatenation: `self`'s layers on top of `R`'s.
pub trait Concat<R> {
    /// The concatenated stack.
    type Out;
    /// Concatenates.
    fn concat(self, rest: R) -> Self::Out;
}
impl<R> Concat<R> for CxNil {
    type Out = R;
    fn concat(self, rest: R) -> R {
        rest
    }
}
impl<H, T: Concat<R>, R> Concat<R> for CxList<H, T> {
    type Out = CxList<H, T::Out>;
    fn concat(self, rest: R) -> Self::Out {
        CxList {
            head: self.head,
            tail: self.tail.concat(rest),
        }
    }
}

/// Per-kind dispatch of [`Apply`]: identity for layers, pattern matching for stacks, both
/// branches for selects. The dispatch through the kind's associated type is what keeps the
/// impls from overlapping.
pub trait Dispatch<P, X> {
    /// What `X` becomes.
    type Output;
    /// Whether anything was rewritten.
    type Changed: Bool;
    /// Rewrites `x`.
    fn dispatch(x: X) -> Self::Output;
}

/// Applies pass `P` to a layer, a stack or a select (see the module documentation).
pub trait Apply<P> {
    /// The rewritten type (`Self` if nothing matched).
    type Output;
    /// [`True`] if anything was rewritten.
    type Changed: Bool;
    /// Rewrites `self`.
    fn apply(self) -> Self::Output;
}

impl<P, X: Layer> Apply<P> for X
where
    X::Kind: Dispatch<P, X>,
{
    type Output = <X::Kind as Dispatch<P, X>>::Output;
    type Changed = <X::Kind as Dispatch<P, X>>::Changed;
    fn apply(self) -> Self::Output {
        <X::Kind as Dispatch<P, X>>::dispatch(self)
    }
}

/// One step of a pass over a stack, by pattern-match outcome `M`.
pub trait Step<P, M> {
    /// The rewritten stack.
    type Output;
    /// Whether anything was rewritten.
    type Changed: Bool;
    /// Rewrites.
    fn step(self) -> Self::Output;
}

type Outcome<P, S> = <<P as Pass>::Pattern as Pattern<S>>::Outcome;

impl<P, H, T> Dispatch<P, CxList<H, T>> for kind::List
where
    P: Pass,
    P::Pattern: Pattern<CxList<H, T>>,
    CxList<H, T>: Step<P, Outcome<P, CxList<H, T>>>,
{
    type Output = <CxList<H, T> as Step<P, Outcome<P, CxList<H, T>>>>::Output;
    type Changed = <CxList<H, T> as Step<P, Outcome<P, CxList<H, T>>>>::Changed;
    fn dispatch(x: CxList<H, T>) -> Self::Output {
        x.step()
    }
}

impl<P, H, T> Step<P, Miss> for CxList<H, T>
where
    H: Apply<P>,
    T: Apply<P>,
    H::Changed: Or<T::Changed>,
{
    type Output = CxList<H::Output, T::Output>;
    type Changed = <H::Changed as Or<T::Changed>>::Out;
    fn step(self) -> Self::Output {
        CxList {
            head: self.head.apply(),
            tail: self.tail.apply(),
        }
    }
}

impl<P, A, T> Step<P, Hit1> for CxList<A, T>
where
    P: Rewrite1<A>,
    T: Apply<P>,
    P::Out: Concat<T::Output>,
{
    type Output = <P::Out as Concat<T::Output>>::Out;
    type Changed = True;
    fn step(self) -> Self::Output {
        P::rewrite(self.head).concat(self.tail.apply())
    }
}

impl<P, A, B, T> Step<P, Hit2> for CxList<A, CxList<B, T>>
where
    P: Rewrite2<A, B>,
    T: Apply<P>,
    P::Out: Concat<T::Output>,
{
    type Output = <P::Out as Concat<T::Output>>::Out;
    type Changed = True;
    fn step(self) -> Self::Output {
        let CxList {
            head: a,
            tail: CxList { head: b, tail },
        } = self;
        P::rewrite(a, b).concat(tail.apply())
    }
}

impl<P, A, B, C, T> Step<P, Hit3> for CxList<A, CxList<B, CxList<C, T>>>
where
    P: Rewrite3<A, B, C>,
    T: Apply<P>,
    P::Out: Concat<T::Output>,
{
    type Output = <P::Out as Concat<T::Output>>::Out;
    type Changed = True;
    fn step(self) -> Self::Output {
        let CxList {
            head: a,
            tail:
                CxList {
                    head: b,
                    tail: CxList { head: c, tail },
                },
        } = self;
        P::rewrite(a, b, c).concat(tail.apply())
    }
}

/// A select's step, by whether a branch changed (`C`): kept as is, or rebuilt.
pub trait SelectStep<P, C> {
    /// The rewritten select.
    type Output;
    /// Rewrites.
    fn step(self) -> Self::Output;
}

impl<P, A, B> SelectStep<P, False> for Select<A, B> {
    type Output = Select<A, B>;
    fn step(self) -> Self {
        self
    }
}

impl<P, A: Apply<P>, B: Apply<P>> SelectStep<P, True> for Select<A, B> {
    type Output = Select<A::Output, B::Output>;
    fn step(self) -> Self::Output {
        self.map(|l| l.apply(), |r| r.apply())
    }
}

impl<P, A, B> Dispatch<P, Select<A, B>> for kind::Select
where
    A: Apply<P>,
    B: Apply<P>,
    A::Changed: Or<B::Changed>,
    Select<A, B>: SelectStep<P, <A::Changed as Or<B::Changed>>::Out>,
{
    type Output = <Select<A, B> as SelectStep<P, <A::Changed as Or<B::Changed>>::Out>>::Output;
    type Changed = <A::Changed as Or<B::Changed>>::Out;
    fn dispatch(x: Select<A, B>) -> Self::Output {
        x.step()
    }
}

/// `stack.optimize::<P>()`: applies pass `P` (see the module documentation).
pub trait Optimize: Sized {
    /// Applies pass `P`; the result's type is computed at compile time.
    fn optimize<P>(self) -> <Self as Apply<P>>::Output
    where
        Self: Apply<P>,
    {
        self.apply()
    }

    /// Whether pass `P` rewrites anything in this type (a constant of the type).
    fn rewritten_by<P>(&self) -> bool
    where
        Self: Apply<P>,
    {
        <<Self as Apply<P>>::Changed as Bool>::VALUE
    }
}
impl<S> Optimize for S {}

/// The type of a stack: `stack_type![A, B]` is `CxList<A, CxList<B, CxNil>>`, the type of
/// `stack![a, b]`.
#[macro_export]
macro_rules! stack_type {
    () => { $crate::stack::CxNil };
    ($head:ty $(, $rest:ty)* $(,)?) => {
        $crate::stack::CxList<$head, $crate::stack_type![$($rest),*]>
    };
}

/// Declares an optimization pass: a unit struct, its pattern (one to three [`kind`]s, top
/// first) and one or more rewrites, each for one combination of concrete layer types:
///
/// ```text
/// pass! {
///     /// docs
///     pub struct Name: [kind::A, kind::B];
///     impl[generics] (a: TypeA<..>, b: TypeB<..>) -> stack_type![..] where [bounds] { body }
///     ...
/// }
/// ```
///
/// The generics go between brackets (`impl[R: Runtime, A]`); the `where [..]` clause is
/// optional. The body returns the replacement stack (`stack![..]`). See the module
/// documentation for an example.
#[macro_export]
macro_rules! pass {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident : [$($k:ty),+ $(,)?];
        $(
            impl [$($g:tt)*] ($($arg:ident : $ty:ty),+ $(,)?) -> $out:ty
            $(where [$($w:tt)*])? $body:block
        )*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        $vis struct $name;
        impl $crate::opt::Pass for $name {
            type Pattern = ($($k,)+);
        }
        $(
            $crate::pass!(@rewrite $name [$($g)*] ($($arg : $ty),+) -> $out
                [$($($w)*)?] $body);
        )*
    };
    (@rewrite $name:ident [$($g:tt)*] ($a:ident : $ta:ty) -> $out:ty [$($w:tt)*]
        $body:block) => {
        impl<$($g)*> $crate::opt::Rewrite1<$ta> for $name where $($w)* {
            type Out = $out;
            fn rewrite($a: $ta) -> $out $body
        }
    };
    (@rewrite $name:ident [$($g:tt)*] ($a:ident : $ta:ty, $b:ident : $tb:ty) -> $out:ty
        [$($w:tt)*] $body:block) => {
        impl<$($g)*> $crate::opt::Rewrite2<$ta, $tb> for $name where $($w)* {
            type Out = $out;
            fn rewrite($a: $ta, $b: $tb) -> $out $body
        }
    };
    (@rewrite $name:ident [$($g:tt)*] ($a:ident : $ta:ty, $b:ident : $tb:ty, $c:ident : $tc:ty)
        -> $out:ty [$($w:tt)*] $body:block) => {
        impl<$($g)*> $crate::opt::Rewrite3<$ta, $tb, $tc> for $name where $($w)* {
            type Out = $out;
            fn rewrite($a: $ta, $b: $tb, $c: $tc) -> $out $body
        }
    };
}

/// The PCIe cost of a stack whose layers of some Chunnel types run on a SmartNIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcieCost {
    /// Host↔NIC crossings of one message on its way from the application (on the host) down
    /// the stack to the wire (behind the NIC).
    pub crossings: u32,
    /// Their total time, each priced with [`Pcie::crossing_time`] for the message's bytes,
    /// in nanoseconds.
    pub nanos: u64,
}

/// Counts the host↔NIC crossings of a message that starts at the application (host), goes
/// through `layers` top first — each on the NIC if `on_nic(layer)`, on the host otherwise —
/// and leaves through the NIC to the wire; prices each with `pcie.crossing_time(bytes)`.
pub fn price_layers<L>(
    layers: &[L],
    on_nic: impl Fn(&L) -> bool,
    pcie: &Pcie,
    bytes: u32,
) -> PcieCost {
    let mut nic = false;
    let mut crossings = 0u32;
    for l in layers.iter().map(on_nic).chain(std::iter::once(true)) {
        if l != nic {
            crossings += 1;
            nic = l;
        }
    }
    let each = pcie.crossing_time(bytes).as_nanos();
    PcieCost {
        crossings,
        nanos: each.saturating_mul(u64::from(crossings)),
    }
}

/// [`price_layers`] over a stack's first alternative (its [`Describe`]ption, top first), a
/// layer being on the NIC if its Chunnel type is among `nic_offers` (the types a SmartNIC
/// offers).
pub fn price_pcie<S: Describe>(
    stack: &S,
    nic_offers: &[&str],
    pcie: &Pcie,
    bytes: u32,
) -> PcieCost {
    let alts = stack.alternatives(&PolicyCtx { peers: 2 });
    let layers: Vec<String> = alts
        .first()
        .map(|a| a.layers.iter().map(|o| o.chunnel.clone()).collect())
        .unwrap_or_default();
    price_layers(&layers, |l| nic_offers.contains(&l.as_str()), pcie, bytes)
}

#[cfg(test)]
mod tests;
