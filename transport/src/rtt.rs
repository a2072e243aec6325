//! The RFC 6298 retransmission-timeout estimator.

use netrt::Duration;

/// Clock granularity G of RFC 6298 (the simulator's clock ticks in nanoseconds).
const GRANULARITY: u64 = 1;

/// SRTT/RTTVAR and the RTO with exponential backoff, per RFC 6298:
/// first sample `R`: `SRTT = R`, `RTTVAR = R/2`; later: `RTTVAR = 3/4·RTTVAR + 1/4·|SRTT − R|`,
/// `SRTT = 7/8·SRTT + 1/8·R`; `RTO = SRTT + max(G, 4·RTTVAR)` clamped to `[min_rto, max_rto]`.
/// Before any sample the RTO is the initial RTO (clamped likewise). A timeout doubles the RTO up
/// to `max_rto`; the next RTT sample (timestamps make every sample unambiguous) clears the backoff.
#[derive(Clone, Debug)]
pub struct RttEstimator {
    srtt: Option<u64>,
    rttvar: u64,
    base_rto: u64,
    backoff: u32,
    min_rto: u64,
    max_rto: u64,
}

impl RttEstimator {
    /// An estimator with no samples.
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        let (min_rto, max_rto) = (min_rto.as_nanos(), max_rto.as_nanos().max(1));
        RttEstimator {
            srtt: None,
            rttvar: 0,
            base_rto: initial_rto.as_nanos().max(min_rto).min(max_rto),
            backoff: 0,
            min_rto,
            max_rto,
        }
    }

    /// Feeds one RTT sample.
    pub fn sample(&mut self, r: Duration) {
        let r = r.as_nanos();
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(r);
                self.rttvar = ((3 * u128::from(self.rttvar) + u128::from(diff)) / 4) as u64;
                self.srtt = Some(((7 * u128::from(s) + u128::from(r)) / 8) as u64);
            }
        }
        let s = self.srtt.unwrap_or(r);
        let var = self.rttvar.saturating_mul(4).max(GRANULARITY);
        self.base_rto = s.saturating_add(var).max(self.min_rto).min(self.max_rto);
        self.backoff = 0;
    }

    /// Doubles the RTO (up to the maximum).
    pub fn backoff(&mut self) {
        self.backoff = self.backoff.saturating_add(1).min(63);
    }

    /// The current RTO, including backoff.
    pub fn rto(&self) -> Duration {
        let shifted = u128::from(self.base_rto) << self.backoff;
        Duration::from_nanos(shifted.min(u128::from(self.max_rto)) as u64)
    }

    /// Smoothed RTT.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt.map(Duration::from_nanos)
    }

    /// RTT variation.
    pub fn rttvar(&self) -> Duration {
        Duration::from_nanos(self.rttvar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rfc6298_numbers() {
        let mut e = RttEstimator::new(ms(1000), ms(200), Duration::from_secs(60));
        assert_eq!(e.rto(), ms(1000));
        assert_eq!(e.srtt(), None);
        // First sample 100 ms: SRTT 100, RTTVAR 50, RTO = 100 + 200 = 300 ms.
        e.sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        assert_eq!(e.rto(), ms(300));
        // Second sample 200 ms: RTTVAR = 3/4·50 + 1/4·100 = 62.5; SRTT = 7/8·100 + 1/8·200 = 112.5;
        // RTO = 112.5 + 250 = 362.5 ms.
        e.sample(ms(200));
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
        // Steady 112.5 ms samples shrink RTTVAR until min_rto binds.
        for _ in 0..100 {
            e.sample(Duration::from_micros(112_500));
        }
        assert_eq!(e.rto(), ms(200));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut e = RttEstimator::new(ms(1000), ms(200), Duration::from_secs(60));
        e.backoff();
        assert_eq!(e.rto(), ms(2000));
        e.backoff();
        assert_eq!(e.rto(), ms(4000));
        for _ in 0..100 {
            e.backoff();
        }
        assert_eq!(e.rto(), Duration::from_secs(60));
        e.sample(ms(10));
        assert_eq!(e.rto(), ms(200));
    }

    #[test]
    fn min_rto_applies_to_small_rtts() {
        let mut e = RttEstimator::new(ms(1000), Duration::from_millis(1), Duration::from_secs(60));
        e.sample(Duration::from_micros(20));
        // 20 us + 4·10 us = 60 us < 1 ms.
        assert_eq!(e.rto(), ms(1));
    }
}
