//! The runtime boundary between protocol code and the world it runs in.
//!
//! Application, Chunnel and CCP-agent code depends on this crate only, never on the simulator
//! or on tokio, so the same code runs on the deterministic simulator (`netmodels::SimRuntime`)
//! and on real sockets (`datapaths::tokio_rt::TokioRuntime`, behind the `tokio` feature).
//!
//! Module map:
//! - [`time`]: [`Instant`] and [`Duration`], nanoseconds with a private representation,
//!   convertible from and to [`std::time::Duration`]. The simulator's virtual time, the
//!   transport's timers and the CCP runtime's clock are all this one type.
//! - [`runtime`]: the [`Runtime`] trait (now, sleep, timeout, spawn, bind a UDP socket) and
//!   [`Elapsed`].
//! - [`task`]: [`JoinHandle`] and [`JoinError`], the runtime-independent result of a spawn.
//! - [`socket`]: the [`DatagramSocket`] trait (`send_to`, `recv_from`, `local_addr`, errors as
//!   [`std::io::Error`] with the usual kinds).
//!
//! # Tasks need not be `Send`
//! Every runtime behind this trait is single-threaded: the simulator runs on one thread by
//! construction, and the tokio runtime is a current-thread runtime with a `LocalSet`. So spawned
//! futures, sockets and handles need not be `Send` or `Sync`, and protocol state may live in
//! `Rc<RefCell<_>>`. Parallelism comes from running independent simulations (sweeps) or
//! processes, not from threads inside one runtime.
#![warn(missing_docs)]

pub mod runtime;
pub mod socket;
pub mod task;
pub mod time;

pub use runtime::{Elapsed, Runtime};
pub use socket::DatagramSocket;
pub use task::{joinable, JoinError, JoinHandle, LocalBoxFuture};
pub use time::{Duration, Instant};
