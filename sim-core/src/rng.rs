//! Named, seeded random streams.
//!
//! Every stochastic component draws from its own ChaCha stream, derived from the master seed and
//! the component's name: the seed fills the ChaCha key and a stable 64-bit hash of the name
//! selects the ChaCha stream. Adding a component, or changing how many numbers one component
//! draws, never changes the draws of another.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

/// The random number generator every simulation component uses.
pub type SimRng = ChaCha12Rng;

/// Derives independent named streams from one master seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngStreams {
    master: u64,
}

/// FNV-1a, 64 bit: stable across platforms, releases and runs (unlike `std`'s hasher).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl RngStreams {
    /// Streams derived from `master_seed`.
    pub fn new(master_seed: u64) -> Self {
        RngStreams {
            master: master_seed,
        }
    }

    /// The master seed.
    pub fn master_seed(&self) -> u64 {
        self.master
    }

    /// The stream called `name`. Calling this twice with one name gives two generators that
    /// produce the same sequence.
    pub fn stream(&self, name: &str) -> SimRng {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&self.master.to_le_bytes());
        // Spread the seed over the whole key so nearby seeds give unrelated keys.
        let spread = stable_hash(&self.master.to_le_bytes());
        key[8..16].copy_from_slice(&spread.to_le_bytes());
        key[16..24].copy_from_slice(&spread.rotate_left(21).to_le_bytes());
        key[24..32].copy_from_slice(&(!spread).to_le_bytes());
        let mut rng = ChaCha12Rng::from_seed(key);
        rng.set_stream(stable_hash(name.as_bytes()));
        rng
    }

    /// The stream called `name`/`index`, for families of like components (e.g. one per link).
    pub fn indexed(&self, name: &str, index: u64) -> SimRng {
        self.stream(&format!("{name}/{index}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn draws(mut r: SimRng) -> Vec<u64> {
        (0..8).map(|_| r.random::<u64>()).collect()
    }

    #[test]
    fn same_name_same_draws_and_names_are_independent() {
        let s = RngStreams::new(42);
        assert_eq!(draws(s.stream("link/0")), draws(s.stream("link/0")));
        assert_ne!(draws(s.stream("link/0")), draws(s.stream("link/1")));
        assert_ne!(
            draws(s.stream("link/0")),
            draws(RngStreams::new(43).stream("link/0"))
        );
        assert_eq!(draws(s.indexed("link", 3)), draws(s.stream("link/3")));
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    const PINNED: u64 = 0x8bce_fafc_fbf6_214a;

    #[test]
    fn known_first_draw_is_stable_across_builds() {
        // Pins the derivation: if this changes, every published result changes.
        let v = draws(RngStreams::new(1).stream("x"))[0];
        assert_eq!(v, PINNED, "stream derivation changed: {v:#x}");
    }
}
