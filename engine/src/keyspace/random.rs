//! A small, fast pseudo-random generator for picking keys and members
//! (RANDOMKEY, SPOP, SRANDMEMBER, active expiry). Nothing here needs
//! cryptographic quality, and none of it reaches a replica: effects carry
//! the primary's choices.

/// SplitMix64.
pub struct FastRng {
    state: u64,
}

impl FastRng {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Seeded from the operating system.
    pub fn from_entropy() -> Self {
        Self::new(rand::random())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `0..bound` (0 when `bound` is 0), by Lemire's
    /// multiply-shift, whose bias is negligible for these uses.
    pub fn below(&mut self, bound: usize) -> usize {
        let bound = bound as u64;
        let scaled = (u128::from(self.next_u64()) * u128::from(bound)) >> 64;
        usize::try_from(scaled).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range() {
        let mut rng = FastRng::new(1);
        assert_eq!(rng.below(0), 0);
        for bound in 1..100 {
            assert!(rng.below(bound) < bound);
        }
    }
}
