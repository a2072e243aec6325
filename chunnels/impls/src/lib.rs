//! Bertha Chunnel implementations: the host fallbacks of the Chunnel types of issue 12, over
//! the traits of the [`chunnel`] crate.
//!
//! Each Chunnel is a struct implementing [`chunnel::Negotiate`] (its capability) and
//! [`chunnel::Chunnel`] with typed bounds on the connection under it, so an ill-typed stack
//! does not compile. Each module documents what its Chunnel does, its wire format and its
//! capability. Timers come from a `netrt::Runtime` handle passed to the constructor, never
//! from a clock or a runtime of their own; randomness from a stream passed in; per-peer
//! state lives in ordered maps; so a simulated run is deterministic.
//!
//! | module | Chunnel type | data under → above | capability |
//! | --- | --- | --- | --- |
//! | [`serialize`] | `serialize` | `(A, Vec<u8>)` → `(A, T)` | exact, `bincode/1` or `postcard/1` |
//! | [`reliable`] | `reliable` | `(A, Vec<u8>)` → same | exact, `reliable/1` |
//! | [`ordered`] | `ordered` | `(A, Vec<u8>)` → same | exact, `ordered/1` |
//! | [`at_most_once`] | `at-most-once` | `(A, Vec<u8>)` → same | exact, `at-most-once/1` |
//! | [`batch`] | `nagle` | any `D` → same | provides, `nagle` |
//! | [`batch`] | `batch-frame` | `(A, Vec<u8>)` → same | exact, `batch-frame/1` |
//! | [`encrypt`] | `encrypt` | `(A, Vec<u8>)` → same | exact, `x25519-chacha20poly1305/1` |
//! | [`shard`] | `shard` | `(A, M: Keyed)` → same | provides `client-push` / provides `server` / relies on `client-push` |
//! | [`local_or_remote`] | `local-or-remote` | `(A, Vec<u8>)` (+ a local `(LA, Vec<u8>)`) → `(A, Vec<u8>)` | exact, `local-or-remote/1` |
//! | [`encrypt_or_local`] | `encrypt-or-local` | as `local_or_remote`, encrypted on the remote path only | exact, both labels |
//! | [`raw_shard`] | `shard` + `serialize` | `(A, Vec<u8>)` → `(A, T: RawKeyed)` | provides `server` (`server-raw`), the serializer's |
//! | [`multicast`] | `ordered-mcast` | `(A, Vec<u8>)` → same (+ [`multicast::Notice`] gaps) | exact, `oum-stamp/1` (`host-sequencer`, or `switch-sequencer` in the local network) |
//! | [`framing`] | `http2`, `tcp` | `(A, Vec<u8>)` → same | exact, `http2-frame/1`, `tcp-frame/1` (host or SmartNIC) |
//!
//! [`opt`] declares the optimization passes (fusing encryption with the local fast path,
//! raw-offset sharding, reordering for a SmartNIC) and every Chunnel's pattern kind.
//!
//! [`chan`] is an in-process datagram base with deterministic loss, duplication and
//! reordering, what the unit tests run over.
#![warn(missing_docs)]

pub mod at_most_once;
pub mod batch;
pub mod chan;
pub mod encrypt;
pub mod encrypt_or_local;
pub mod framing;
pub mod local_or_remote;
pub mod multicast;
pub mod opt;
pub mod ordered;
pub mod raw_shard;
pub mod reliable;
pub mod serialize;
pub mod shard;
mod util;
