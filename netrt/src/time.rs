//! Nanosecond time that is the same type on every runtime.
//!
//! [`Instant`] counts nanoseconds since the runtime's epoch: the start of a simulation, or the
//! moment a real runtime was created. [`Duration`] is a span of nanoseconds. Both are `u64`
//! inside (about 584 years) and every operation saturates instead of wrapping or panicking, so
//! arithmetic on values read from the network cannot crash a datapath. The representation is
//! private; construct values with the `from_*` functions and read them with the `as_*` ones.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

/// An instant, in nanoseconds since the runtime's epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    nanos: u64,
}

/// A span of time, in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    nanos: u64,
}

impl Instant {
    /// The epoch: the start of every simulation.
    pub const ZERO: Instant = Instant { nanos: 0 };
    /// The far future; nothing is ever scheduled here.
    pub const MAX: Instant = Instant { nanos: u64::MAX };

    /// The instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant { nanos }
    }
    /// The instant `micros` microseconds after the epoch (saturating).
    pub const fn from_micros(micros: u64) -> Instant {
        Instant {
            nanos: micros.saturating_mul(1_000),
        }
    }
    /// The instant `secs` seconds after the epoch, rounded to the nearest nanosecond.
    pub fn from_secs_f64(secs: f64) -> Instant {
        Instant::ZERO + Duration::from_secs_f64(secs)
    }
    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }
    /// Microseconds since the epoch (truncated).
    pub const fn as_micros(self) -> u64 {
        self.nanos / 1_000
    }
    /// Seconds since the epoch, as a float (for output only).
    pub fn as_secs_f64(self) -> f64 {
        self.nanos as f64 * 1e-9
    }
    /// The span from the epoch to this instant.
    pub const fn since_epoch(self) -> Duration {
        Duration { nanos: self.nanos }
    }
    /// Time elapsed since `earlier`, or zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration {
            nanos: self.nanos.saturating_sub(earlier.nanos),
        }
    }
    /// `self + d`, or `None` past [`Instant::MAX`].
    pub const fn checked_add(self, d: Duration) -> Option<Instant> {
        match self.nanos.checked_add(d.nanos) {
            Some(nanos) => Some(Instant { nanos }),
            None => None,
        }
    }
    /// `self - d`, or `None` before the epoch.
    pub const fn checked_sub(self, d: Duration) -> Option<Instant> {
        match self.nanos.checked_sub(d.nanos) {
            Some(nanos) => Some(Instant { nanos }),
            None => None,
        }
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration { nanos: 0 };
    /// The longest representable span.
    pub const MAX: Duration = Duration { nanos: u64::MAX };

    /// A span of `n` nanoseconds.
    pub const fn from_nanos(n: u64) -> Duration {
        Duration { nanos: n }
    }
    /// A span of `n` microseconds (saturating).
    pub const fn from_micros(n: u64) -> Duration {
        Duration {
            nanos: n.saturating_mul(1_000),
        }
    }
    /// A span of `n` milliseconds (saturating).
    pub const fn from_millis(n: u64) -> Duration {
        Duration {
            nanos: n.saturating_mul(1_000_000),
        }
    }
    /// A span of `n` seconds (saturating).
    pub const fn from_secs(n: u64) -> Duration {
        Duration {
            nanos: n.saturating_mul(1_000_000_000),
        }
    }
    /// A span of `secs` seconds, rounded to the nearest nanosecond; negative or NaN gives zero,
    /// too large saturates.
    pub fn from_secs_f64(secs: f64) -> Duration {
        if secs.is_nan() || secs <= 0.0 {
            return Duration::ZERO;
        }
        let ns = (secs * 1e9).round();
        if ns >= u64::MAX as f64 {
            Duration::MAX
        } else {
            Duration { nanos: ns as u64 }
        }
    }
    /// The time `bytes` take to serialize at `bits_per_sec`, rounded up to a whole nanosecond.
    /// A zero rate gives [`Duration::MAX`].
    pub fn transmission(bytes: u64, bits_per_sec: u64) -> Duration {
        if bits_per_sec == 0 {
            return Duration::MAX;
        }
        let num = u128::from(bytes) * 8 * 1_000_000_000;
        let d = num.div_ceil(u128::from(bits_per_sec));
        Duration {
            nanos: u64::try_from(d).unwrap_or(u64::MAX),
        }
    }
    /// Nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }
    /// Microseconds (truncated).
    pub const fn as_micros(self) -> u64 {
        self.nanos / 1_000
    }
    /// Milliseconds (truncated).
    pub const fn as_millis(self) -> u64 {
        self.nanos / 1_000_000
    }
    /// Seconds as a float (for output only).
    pub fn as_secs_f64(self) -> f64 {
        self.nanos as f64 * 1e-9
    }
    /// True for a zero-length span.
    pub const fn is_zero(self) -> bool {
        self.nanos == 0
    }
    /// `self * k`, saturating.
    pub const fn saturating_mul(self, k: u64) -> Duration {
        Duration {
            nanos: self.nanos.saturating_mul(k),
        }
    }
    /// `self - o`, or zero if `o` is longer.
    pub const fn saturating_sub(self, o: Duration) -> Duration {
        Duration {
            nanos: self.nanos.saturating_sub(o.nanos),
        }
    }
    /// `self + o`, or `None` on overflow.
    pub const fn checked_add(self, o: Duration) -> Option<Duration> {
        match self.nanos.checked_add(o.nanos) {
            Some(nanos) => Some(Duration { nanos }),
            None => None,
        }
    }
}

impl From<std::time::Duration> for Duration {
    /// Saturates at [`Duration::MAX`] (about 584 years).
    fn from(d: std::time::Duration) -> Duration {
        Duration {
            nanos: u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> std::time::Duration {
        std::time::Duration::from_nanos(d.nanos)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating at [`Instant::MAX`].
    fn add(self, d: Duration) -> Instant {
        Instant {
            nanos: self.nanos.saturating_add(d.nanos),
        }
    }
}
impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}
impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturating at the epoch.
    fn sub(self, d: Duration) -> Instant {
        Instant {
            nanos: self.nanos.saturating_sub(d.nanos),
        }
    }
}
impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}
impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an earlier minus a later instant is zero.
    fn sub(self, o: Instant) -> Duration {
        self.saturating_since(o)
    }
}
impl Add for Duration {
    type Output = Duration;
    fn add(self, o: Duration) -> Duration {
        Duration {
            nanos: self.nanos.saturating_add(o.nanos),
        }
    }
}
impl AddAssign for Duration {
    fn add_assign(&mut self, o: Duration) {
        *self = *self + o;
    }
}
impl Sub for Duration {
    type Output = Duration;
    /// Saturating at zero.
    fn sub(self, o: Duration) -> Duration {
        self.saturating_sub(o)
    }
}
impl SubAssign for Duration {
    fn sub_assign(&mut self, o: Duration) {
        *self = *self - o;
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.9}s", self.as_secs_f64())
    }
}
impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({}ns)", self.nanos)
    }
}
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.nanos;
        if ns >= 1_000_000_000 {
            write!(f, "{}s", self.as_secs_f64())
        } else if ns >= 1_000_000 {
            write!(f, "{}ms", ns as f64 / 1e6)
        } else if ns >= 1_000 {
            write!(f, "{}us", ns as f64 / 1e3)
        } else {
            write!(f, "{ns}ns")
        }
    }
}
impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Duration({}ns)", self.nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmission_time_rounds_up() {
        // 1500 bytes at 96 Mbit/s = 125 us exactly.
        assert_eq!(
            Duration::transmission(1500, 96_000_000),
            Duration::from_micros(125)
        );
        // 1 byte at 3 bit/s = 8/3 s, rounded up.
        assert_eq!(Duration::transmission(1, 3).as_nanos(), 2_666_666_667);
        assert_eq!(Duration::transmission(1, 0), Duration::MAX);
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(
            Instant::from_nanos(5) - Instant::from_nanos(9),
            Duration::ZERO
        );
        assert_eq!(Instant::MAX + Duration::from_nanos(1), Instant::MAX);
        assert_eq!(Instant::ZERO - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(Duration::from_secs(u64::MAX), Duration::MAX);
        assert_eq!(Duration::from_secs_f64(-1.0), Duration::ZERO);
        assert_eq!(Duration::from_secs_f64(f64::NAN), Duration::ZERO);
        assert_eq!(Duration::from_secs_f64(1e30), Duration::MAX);
        assert_eq!(Duration::from_secs_f64(0.02), Duration::from_millis(20));
        assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
    }

    #[test]
    fn std_duration_round_trips_and_saturates() {
        let d = std::time::Duration::new(3, 250);
        let ours = Duration::from(d);
        assert_eq!(ours.as_nanos(), 3_000_000_250);
        assert_eq!(std::time::Duration::from(ours), d);
        assert_eq!(Duration::from(std::time::Duration::MAX), Duration::MAX);
    }

    #[test]
    fn display_picks_a_unit() {
        assert_eq!(Duration::from_micros(1500).to_string(), "1.5ms");
        assert_eq!(Duration::from_nanos(7).to_string(), "7ns");
        assert_eq!(
            Instant::from_nanos(1_500_000_000).to_string(),
            "1.500000000s"
        );
    }
}
