//! Helpers shared by the test modules.

use netrt::Instant;

/// The instant `n` microseconds after the epoch (the datapath language's unit).
pub fn us(n: u64) -> Instant {
    Instant::from_micros(n)
}
