//! The YCSB load generator: workloads A and B, uniform or scrambled-zipfian keys, open-loop
//! Poisson arrivals, all from seeded `rand_chacha` streams (deterministic on the simulator).
//!
//! The zipfian generator is YCSB's (`ZipfianGenerator`, after Gray et al., "Quickly
//! generating billion-record synthetic databases", SIGMOD 1994) and the scrambling YCSB's
//! `ScrambledZipfianGenerator`: draw a zipfian rank over a large item space (10^10 items,
//! with YCSB's precomputed zeta for θ = 0.99), hash it with YCSB's 64-bit FNV and take it
//! modulo the record count, so popular keys are spread over the key space (and the
//! shards) instead of being the lowest record numbers.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::msg::Op;

/// A YCSB core workload (the mix of reads and updates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    /// 50 % reads, 50 % updates.
    A,
    /// 95 % reads, 5 % updates.
    B,
}

impl Workload {
    /// The fraction of reads.
    pub fn read_fraction(self) -> f64 {
        match self {
            Workload::A => 0.5,
            Workload::B => 0.95,
        }
    }
}

/// How keys are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDist {
    /// Uniform over the records.
    Uniform,
    /// YCSB's scrambled zipfian with constant `theta` (YCSB default 0.99).
    Zipfian {
        /// The skew (0 < θ < 1).
        theta: f64,
    },
}

/// YCSB's item count for the scrambled zipfian's underlying generator.
pub const SCRAMBLED_ITEMS: u64 = 10_000_000_000;
/// YCSB's precomputed zeta(10^10, 0.99).
const ZETAN_10E10_099: f64 = 26.469_028_201_783_02;

/// YCSB's 64-bit FNV hash of a long (`Utils.fnvhash64`): FNV-1a over its 8 bytes, low byte
/// first, then the absolute value.
pub fn fnvhash64(mut val: u64) -> u64 {
    const OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
    const PRIME: u64 = 1_099_511_628_211;
    let mut h = OFFSET;
    for _ in 0..8 {
        let octet = val & 0xff;
        val >>= 8;
        h ^= octet;
        h = h.wrapping_mul(PRIME);
    }
    (h as i64).unsigned_abs()
}

fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

/// YCSB's `ZipfianGenerator` over `[0, items)`.
#[derive(Clone, Debug)]
pub struct Zipfian {
    items: u64,
    theta: f64,
    zetan: f64,
    alpha: f64,
    eta: f64,
    half_pow_theta: f64,
}

impl Zipfian {
    /// A generator over `items` items with skew `theta` (in (0, 1)); `zetan` if known
    /// (computing it is O(items)).
    pub fn new(items: u64, theta: f64, zetan: Option<f64>) -> Self {
        let items = items.max(1);
        let zetan = zetan.unwrap_or_else(|| zeta(items, theta));
        let zeta2 = zeta(2, theta);
        Zipfian {
            items,
            theta,
            zetan,
            alpha: 1.0 / (1.0 - theta),
            eta: (1.0 - (2.0 / items as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan),
            half_pow_theta: 0.5f64.powf(theta),
        }
    }

    /// The next rank (0 most popular).
    pub fn next(&self, rng: &mut impl Rng) -> u64 {
        let u: f64 = rng.random();
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + self.half_pow_theta {
            return 1.min(self.items - 1);
        }
        let r = (self.items as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        r.min(self.items - 1)
    }

    /// The skew.
    pub fn theta(&self) -> f64 {
        self.theta
    }
}

/// Draws record numbers in `[0, records)`.
#[derive(Clone, Debug)]
pub enum KeyGen {
    /// Uniform.
    Uniform(u64),
    /// Scrambled zipfian.
    Scrambled {
        /// The underlying generator.
        zipf: Zipfian,
        /// Records.
        records: u64,
    },
}

impl KeyGen {
    /// A generator of `dist` over `records` records (at least 1).
    pub fn new(dist: KeyDist, records: u64) -> Self {
        let records = records.max(1);
        match dist {
            KeyDist::Uniform => KeyGen::Uniform(records),
            KeyDist::Zipfian { theta } => {
                let zetan = ((theta - 0.99).abs() < 1e-12).then_some(ZETAN_10E10_099);
                let items = if zetan.is_some() {
                    SCRAMBLED_ITEMS
                } else {
                    // Without YCSB's constant, zeta over 10^10 items is too slow: use the
                    // record count as the item space.
                    records
                };
                KeyGen::Scrambled {
                    zipf: Zipfian::new(items, theta, zetan),
                    records,
                }
            }
        }
    }

    /// The next record number.
    pub fn next(&self, rng: &mut impl Rng) -> u64 {
        match self {
            KeyGen::Uniform(n) => rng.random_range(0..*n),
            KeyGen::Scrambled { zipf, records } => fnvhash64(zipf.next(rng)) % records,
        }
    }
}

/// A seeded stream of YCSB operations.
#[derive(Clone, Debug)]
pub struct OpStream {
    workload: Workload,
    keys: KeyGen,
    rng: ChaCha8Rng,
}

impl OpStream {
    /// Operations of `workload` over `records` records drawn by `dist`, from `seed`.
    pub fn new(workload: Workload, dist: KeyDist, records: u64, seed: u64) -> Self {
        OpStream {
            workload,
            keys: KeyGen::new(dist, records),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The next operation ([`Op::Get`] or [`Op::Put`]) and record number.
    pub fn next_op(&mut self) -> (Op, u64) {
        let read = self.rng.random::<f64>() < self.workload.read_fraction();
        let rec = self.keys.next(&mut self.rng);
        (if read { Op::Get } else { Op::Put }, rec)
    }
}

/// Poisson arrivals at a rate: exponential gaps, seeded.
#[derive(Clone, Debug)]
pub struct Poisson {
    mean_gap_ns: f64,
    rng: ChaCha8Rng,
}

impl Poisson {
    /// Arrivals at `rate` per second (> 0), from `seed`.
    pub fn new(rate: f64, seed: u64) -> Self {
        Poisson {
            mean_gap_ns: 1e9 / rate.max(1e-9),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The gap to the next arrival, in ns.
    pub fn next_gap_ns(&mut self) -> u64 {
        let u: f64 = self.rng.random();
        // 1 - u is in (0, 1]: ln never sees 0.
        (-(1.0 - u).ln() * self.mean_gap_ns).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_mix_matches() {
        let mut s = OpStream::new(Workload::B, KeyDist::Uniform, 1000, 1);
        let reads = (0..20_000).filter(|_| s.next_op().0 == Op::Get).count();
        assert!((18_700..19_300).contains(&reads), "{reads}");
        let mut s = OpStream::new(Workload::A, KeyDist::Uniform, 1000, 1);
        let reads = (0..20_000).filter(|_| s.next_op().0 == Op::Get).count();
        assert!((9_700..10_300).contains(&reads), "{reads}");
    }

    #[test]
    fn zipfian_is_skewed_and_in_range() {
        let z = Zipfian::new(1000, 0.99, None);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[z.next(&mut rng) as usize] += 1;
        }
        // Rank 0 is the most popular, roughly twice rank 1 (θ ≈ 1).
        assert!(
            counts[0] > counts[1] && counts[1] > counts[10],
            "{:?}",
            &counts[..12]
        );
        let f0 = f64::from(counts[0]) / 100_000.0;
        let expect = 1.0 / zeta(1000, 0.99);
        assert!((f0 - expect).abs() < 0.01, "{f0} vs {expect}");
        let kg = KeyGen::new(KeyDist::Zipfian { theta: 0.99 }, 12_000);
        let mut hits = std::collections::BTreeMap::new();
        for _ in 0..50_000 {
            let k = kg.next(&mut rng);
            assert!(k < 12_000);
            *hits.entry(k).or_insert(0u32) += 1;
        }
        let top = hits.values().max().copied().unwrap_or(0);
        assert!(top > 1_000, "a hot key: {top}");
    }

    #[test]
    fn fnvhash64_matches_ycsb() {
        // FNV-1a-64 of eight zero bytes (computed independently), then YCSB's abs().
        assert_eq!(
            fnvhash64(0),
            (0xa8c7_f832_281a_39c5u64 as i64).unsigned_abs()
        );
        assert_ne!(fnvhash64(1), fnvhash64(0));
    }

    #[test]
    fn poisson_mean_gap() {
        let mut p = Poisson::new(100_000.0, 9);
        let n = 100_000;
        let total: u64 = (0..n).map(|_| p.next_gap_ns()).sum();
        let mean = total as f64 / n as f64;
        assert!((mean - 10_000.0).abs() < 150.0, "{mean}");
    }
}
