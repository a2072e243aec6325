//! Virtual time: the shared [`netrt::Instant`] and [`netrt::Duration`] under the simulator's
//! historical names. Virtual time never touches the wall clock; an instant is nanoseconds since
//! the start of the simulation.

/// An instant of virtual time, in nanoseconds since the start of the simulation.
pub type SimTime = netrt::Instant;

/// A span of virtual time, in nanoseconds.
pub type SimDuration = netrt::Duration;
