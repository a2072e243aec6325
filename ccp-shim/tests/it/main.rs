//! The CCP shim on the simulator: CCP flows against native ones, control at its arrival
//! instant, determinism, the fallback when the agent stops, and the wire bytes of a simulated
//! run replayed against portus 0.9 and libccp 1.2.

mod replay;
#[path = "../../../ccp/tests/it/runtime_ffi.rs"]
mod runtime_ffi;
mod sim;
