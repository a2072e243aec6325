//! Deterministic discrete-event simulation kernel.
//!
//! Module map:
//! - [`time`]: [`SimTime`] / [`SimDuration`], nanosecond virtual time (never the wall clock).
//! - [`queue`]: [`EventQueue`], ordered by (time, insertion sequence), cancellable by [`EventId`].
//! - [`rng`]: [`RngStreams`], named ChaCha streams derived from one master seed.
//! - [`sim`]: [`Simulation`], a [`Model`] plus the event loop and a single-threaded async executor.
//! - [`rt`]: tokio-shaped `now`/`sleep`/`timeout`/`spawn` for code running in simulation tasks.
//! - [`sync`]: channels (tokio's runtime-agnostic `mpsc`/`oneshot`), usable in simulation tasks.
//! - [`metrics`]: a time-series [`Recorder`] and a CSV writer for per-flow records.
//!
//! Determinism contract: given the same model, inputs and seed, a run is a pure function of them;
//! nothing here reads the wall clock or iterates a randomly seeded hash container.

#![warn(missing_docs)]

pub mod metrics;
pub mod queue;
pub mod rng;
pub mod rt;
pub mod sim;
pub mod time;

/// Channels for simulation tasks. They never read a clock, so they are deterministic.
pub mod sync {
    pub use tokio::sync::{mpsc, oneshot};
}

pub use metrics::{MetricsError, Recorder, SeriesId};
pub use queue::{EventId, EventQueue};
pub use rng::{stable_hash, RngStreams, SimRng};
pub use sim::{prefetch, Handle, Model, RunStats, Simulation};
pub use time::{SimDuration, SimTime};
