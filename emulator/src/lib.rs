//! A real-time, Mahimahi-like link emulator. Every emulated host is an anonymous network
//! namespace with one TUN device; one emulator process holds all the TUN file descriptors and
//! carries each IP packet through the same [`netmodels::Port`] pipeline (queue discipline →
//! link server → loss → propagation) the simulator uses, hop by hop along the simulator's
//! routes, timed by the monotonic clock.
//!
//! Module map:
//! - [`error`]: [`EmulatorError`], every way starting or running an emulation fails.
//! - [`clock`]: the [`Clock`] trait, the monotonic [`RealClock`] and the test [`FakeClock`].
//! - [`config`]: [`EmulatorConfig`], its validation (supported topologies, the rate ceiling
//!   [`MAX_RATE_BPS`]) and building ports from the topology.
//! - [`ipv4`]: the little IPv4 parsing the emulator needs (destination, flow key, ECN).
//! - [`engine`]: the sans-IO core: [`Engine`] takes (now, packet from host h) and says what to
//!   write to which host's TUN and when to wake next; [`Pump`] is one turn of the timing loop
//!   over a [`Clock`]; [`TimingStats`] holds the departure timing errors.
//! - [`netns`]: anonymous namespaces with a TUN device each, and spawning into them.
//! - [`io`]: the I/O thread (poll on the TUN fds, timeout from the engine, a short busy-spin).
//! - [`emulation`]: [`Emulation`], the running emulator: start, run workloads in hosts, stop,
//!   results (ports.csv, timeseries.csv, pcap files).
//! - [`workload`]: UDP ping and blast between hosts (tests, benchmark, CLI).

#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod emulation;
pub mod engine;
pub mod error;
pub mod io;
pub mod ipv4;
pub mod netns;
pub mod workload;

pub use clock::{Clock, FakeClock, RealClock};
pub use config::{EmulatorConfig, MAX_HOSTS, MAX_RATE_BPS};
pub use emulation::{Emulation, Report};
pub use engine::{Delivery, Engine, EngineCounters, Pump, TimingStats, TimingSummary, Written};
pub use error::EmulatorError;
