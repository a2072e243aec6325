//! Clocks. The engine never reads time itself: it is handed `now` by a [`Clock`], the
//! monotonic [`RealClock`] in a real run and a [`FakeClock`] in tests.

use std::cell::Cell;
use std::time::Instant;

use sim_core::{SimDuration, SimTime};

/// A source of the current time, as nanoseconds since the clock's origin.
pub trait Clock {
    /// The current time.
    fn now(&self) -> SimTime;
}

/// The monotonic clock (`CLOCK_MONOTONIC` through [`Instant`]), zero at creation.
#[derive(Clone, Copy, Debug)]
pub struct RealClock {
    origin: Instant,
}

impl RealClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        RealClock {
            origin: Instant::now(),
        }
    }

    /// The [`Instant`] that `t` on this clock stands for.
    pub fn instant_of(&self, t: SimTime) -> Instant {
        self.origin + std::time::Duration::from_nanos(t.as_nanos())
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealClock {
    fn now(&self) -> SimTime {
        let ns = self.origin.elapsed().as_nanos();
        SimTime::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

/// A clock that only moves when told to (tests).
#[derive(Clone, Debug, Default)]
pub struct FakeClock {
    now: Cell<SimTime>,
}

impl FakeClock {
    /// A clock at `t`.
    pub fn at(t: SimTime) -> Self {
        FakeClock { now: Cell::new(t) }
    }
    /// Moves the clock to `t` (never backwards).
    pub fn set(&self, t: SimTime) {
        if t > self.now.get() {
            self.now.set(t);
        }
    }
    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: SimDuration) {
        self.now.set(self.now.get() + d);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SimTime {
        self.now.get()
    }
}
