//! The optimization passes of issue 12 over this crate's Chunnels, and the
//! [`Layer`] kind of every Chunnel here (what their patterns match).
//!
//! | pass | pattern | replacement |
//! | --- | --- | --- |
//! | [`FuseEncryptLocal`] | `[.., EncryptChunnel, LocalOrRemoteChunnel, ..]` | `[.., EncryptOrLocalChunnel, ..]`: no encryption between same-host peers |
//! | [`RawShard`] | `[.., ServerShard, SerializeChunnel<T>, ..]` | `[.., RawServerShard<T>, ..]`: shard by the key's bytes at the negotiated format's offset, no decoding in the demultiplexer |
//! | [`NicReorder`] | `[.., EncryptChunnel, Http2Chunnel, TcpChunnel, ..]` | `[.., Http2Chunnel, EncryptChunnel, TcpChunnel, ..]`: with a SmartNIC offering encryption and TCP, one PCIe crossing a message instead of three |
//!
//! All three are applied at compile time (`stack.optimize::<Pass>()`, see [`chunnel::opt`]),
//! rewrite inside nested stacks and select branches, and leave a stack without the pattern
//! unchanged, type and value. To shard raw with a select of serializers, put the sharder in
//! each branch (`select!(stack![ServerShard, bincode], stack![ServerShard, postcard])`): the
//! pass rewrites both.
//!
//! [`FuseEncryptLocal`] and [`NicReorder`] change what the stack announces (a fused Chunnel
//! type; another layer order), so both ends must apply them; [`RawShard`] is
//! wire-compatible and announces the pair it replaced, so only the server needs it.

use chunnel::opt::{kind, Layer};
use chunnel::{pass, stack, stack_type};

use crate::at_most_once::AtMostOnceChunnel;
use crate::batch::{BatchFrameChunnel, NagleChunnel};
use crate::encrypt::EncryptChunnel;
use crate::encrypt_or_local::EncryptOrLocalChunnel;
use crate::framing::{Http2Chunnel, TcpChunnel};
use crate::local_or_remote::LocalOrRemoteChunnel;
use crate::ordered::OrderedChunnel;
use crate::raw_shard::RawServerShard;
use crate::reliable::ReliableChunnel;
use crate::serialize::SerializeChunnel;
use crate::shard::{AcceptClientPush, ClientShard, ServerShard};

macro_rules! layer {
    ($([$($g:ident),*] $t:ty => $k:ident;)*) => {
        $(impl<$($g),*> Layer for $t {
            type Kind = kind::$k;
        })*
    };
}

layer! {
    [T] SerializeChunnel<T> => Serialize;
    [R] ReliableChunnel<R> => Reliable;
    [] OrderedChunnel => Ordered;
    [] AtMostOnceChunnel => AtMostOnce;
    [R] NagleChunnel<R> => Nagle;
    [] BatchFrameChunnel => BatchFrame;
    [R, A] EncryptChunnel<R, A> => Encrypt;
    [LC, A, LA] LocalOrRemoteChunnel<LC, A, LA> => LocalOrRemote;
    [R, A, LC, LA] EncryptOrLocalChunnel<R, A, LC, LA> => EncryptOrLocal;
    [A] ClientShard<A> => ClientShard;
    [] ServerShard => ServerShard;
    [T] RawServerShard<T> => RawServerShard;
    [] AcceptClientPush => AcceptClientPush;
    [] Http2Chunnel => Http2;
    [] TcpChunnel => Tcp;
}

pass! {
    /// `[.., EncryptChunnel, LocalOrRemoteChunnel, ..]` → `[.., EncryptOrLocalChunnel, ..]`:
    /// encryption only on the remote path (see [`crate::encrypt_or_local`]).
    pub struct FuseEncryptLocal: [kind::Encrypt, kind::LocalOrRemote];
    impl[R, A, LC, LA] (e: EncryptChunnel<R, A>, l: LocalOrRemoteChunnel<LC, A, LA>)
        -> stack_type![EncryptOrLocalChunnel<R, A, LC, LA>]
    {
        stack![EncryptOrLocalChunnel::fuse(e, l)]
    }
}

pass! {
    /// `[.., ServerShard, SerializeChunnel<T>, ..]` → `[.., RawServerShard<T>, ..]`: shards
    /// at the key's byte offset in the negotiated format (see [`crate::raw_shard`]).
    pub struct RawShard: [kind::ServerShard, kind::Serialize];
    impl[T] (s: ServerShard, ser: SerializeChunnel<T>) -> stack_type![RawServerShard<T>] {
        stack![RawServerShard::new(s.shards(), ser)]
    }
}

pass! {
    /// `[.., EncryptChunnel, Http2Chunnel, TcpChunnel, ..]` →
    /// `[.., Http2Chunnel, EncryptChunnel, TcpChunnel, ..]`: the functions a SmartNIC offers
    /// (encryption, TCP) become adjacent at the bottom, so a message crosses PCIe once
    /// instead of three times (host → NIC for encryption → host for HTTP/2 → NIC); see
    /// [`chunnel::opt::price_pcie`] and [`crate::framing`].
    pub struct NicReorder: [kind::Encrypt, kind::Http2, kind::Tcp];
    impl[R, A] (e: EncryptChunnel<R, A>, h: Http2Chunnel, t: TcpChunnel)
        -> stack_type![Http2Chunnel, EncryptChunnel<R, A>, TcpChunnel]
    {
        stack![h, e, t]
    }
}
