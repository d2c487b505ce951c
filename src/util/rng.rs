//! Deterministic randomness that does not depend on libtorch's global generator.
//!
//! Every random choice of a run (data order, budgets sampled by AAT, synthetic
//! clips) comes from a SplitMix64 stream seeded by a hash of (run seed, node,
//! epoch, batch …). Resuming at any batch therefore replays exactly the same
//! choices, which is what makes a killed-and-resumed run bit-identical.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for shuffling.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n.max(1)
    }
    /// Uniform in `0..n` (`n` > 0) by the multiply-shift method: the frame
    /// folders' draw (its exact output is part of every resumable run on them).
    pub fn below_shift(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    /// A permutation of 0..n (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            p.swap(i, j);
        }
        p
    }
    /// An index drawn with the given probabilities (which sum to 1).
    pub fn categorical(&mut self, probs: &[f64]) -> usize {
        let u = self.uniform();
        let mut acc = 0.0;
        for (i, p) in probs.iter().enumerate() {
            acc += p;
            if u < acc {
                return i;
            }
        }
        probs.len().saturating_sub(1)
    }
}

/// Mixes numbers into one seed; order matters.
pub fn mix(parts: &[u64]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64;
    for p in parts {
        h = SplitMix::new(h ^ p.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64();
    }
    h
}

/// A stable 64-bit hash of a string (FNV-1a), for mixing names into seeds.
pub fn hash_str(s: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_permutations_are_permutations() {
        let a: Vec<u64> = (0..5)
            .map(|_| 0)
            .scan(SplitMix::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .map(|_| 0)
            .scan(SplitMix::new(7), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        let mut p = SplitMix::new(3).permutation(100);
        p.sort();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
        assert_ne!(mix(&[1, 2]), mix(&[2, 1]));
    }

    #[test]
    fn normal_has_unit_variance() {
        let mut r = SplitMix::new(11);
        let xs: Vec<f64> = (0..200_000).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
    }

    #[test]
    fn categorical_follows_the_probabilities() {
        let mut r = SplitMix::new(5);
        let probs = [0.1, 0.6, 0.3];
        let mut counts = [0usize; 3];
        for _ in 0..100_000 {
            counts[r.categorical(&probs)] += 1;
        }
        for (c, p) in counts.iter().zip(probs) {
            assert!((*c as f64 / 100_000.0 - p).abs() < 0.01);
        }
    }
}
