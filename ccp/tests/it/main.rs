//! Integration tests of `ccp`, one binary: the language against portus 0.9 and libccp 1.2,
//! the wire format (round-trips and cross-decoding with upstream), the datapath runtime
//! (hand-computed cases, a differential proptest against libccp's `ccp_invoke`, arbitrary
//! agent messages) and the agent core over the in-memory channel.
//!
//! Data: the language corpus lives in `tests/corpus/` (read through `CARGO_MANIFEST_DIR`);
//! `runtime_ffi` (libccp's C API, driven directly) is also included by path by the runtime
//! bench and by `datapaths`' interop tests.

mod runtime_ffi;
mod util;

mod agent_core;
mod lang_differential;
mod lang_libccp;
mod runtime_fuzz;
mod runtime_interp;
mod runtime_libccp;
mod wire_roundtrip;
mod wire_upstream;
