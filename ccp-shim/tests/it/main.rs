//! The CCP shim on the simulator: CCP flows against native ones, control at its arrival
//! instant, determinism, and the fallback when the agent stops.

mod sim;
