//! Uncertainty of evaluation numbers, from the per-clip records.
//!
//! - A cell's accuracy over one seed is a proportion of clips: its 95 %
//!   interval is Wilson's score interval. Wilson rather than a bootstrap
//!   over clips: it is closed-form (no resampling, the same on every
//!   machine), it stays inside [0, 1] and keeps its coverage at the
//!   accuracies robustness tables are full of (near 0 at large ε, near 1
//!   clean), where the normal (Wald) interval collapses to a point.
//! - Two models on the same clips: McNemar's exact test on the discordant
//!   clips (one right, the other wrong), i.e. a two-sided binomial test of
//!   b successes in b + c trials at ½.

/// z for a two-sided 95 % interval (the 0.975 normal quantile).
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson's score interval for `k` successes in `n` trials at normal
/// quantile `z`: (low, high); (0, 1) for n = 0.
pub fn wilson(k: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// ln C(n, k).
fn ln_choose(n: u64, k: u64) -> f64 {
    let k = k.min(n - k);
    (0..k)
        .map(|i| ((n - i) as f64).ln() - ((i + 1) as f64).ln())
        .sum()
}

/// The two-sided exact binomial test of `k` successes in `n` trials at
/// p = ½ (McNemar's exact test when k and n − k are the discordant pairs):
/// the probability of an outcome at most as likely as `k`.
pub fn binomial_two_sided_half(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let ln_half_n = n as f64 * 0.5f64.ln();
    let pmf = |i: u64| (ln_choose(n, i) + ln_half_n).exp();
    let observed = pmf(k);
    // Symmetric at ½: the outcomes as extreme as k on both tails.
    let total: f64 = (0..=n)
        .map(pmf)
        .filter(|&p| p <= observed * (1.0 + 1e-7))
        .sum();
    total.min(1.0)
}

/// McNemar's exact test for models A and B on the same clips: `b` clips A
/// gets right and B wrong, `c` the reverse. The p-value of "A and B are
/// equally accurate".
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    binomial_two_sided_half(b, b + c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_its_closed_form_at_known_points() {
        // n = 10, k = 5: 0.5 ± 1.96·√(0.025 + 0.0096)/1.384 = [0.2366, 0.7634].
        let (lo, hi) = wilson(5, 10, Z95);
        assert!(
            (lo - 0.236_593).abs() < 1e-5 && (hi - 0.763_407).abs() < 1e-5,
            "{lo} {hi}"
        );
        // k = 0: the lower end is 0 and the upper z²/(n + z²).
        let (lo, hi) = wilson(0, 20, Z95);
        assert_eq!(lo, 0.0);
        assert!((hi - Z95 * Z95 / (20.0 + Z95 * Z95)).abs() < 1e-12, "{hi}");
        // Symmetry: k and n − k mirror each other.
        let (a, b) = wilson(3, 17, Z95);
        let (c, d) = wilson(14, 17, Z95);
        assert!((a - (1.0 - d)).abs() < 1e-12 && (b - (1.0 - c)).abs() < 1e-12);
        assert_eq!(wilson(0, 0, Z95), (0.0, 1.0));
    }

    #[test]
    fn the_exact_binomial_test_matches_hand_sums() {
        // n = 10, k = 2: 2·(1 + 10 + 45)/1024 = 0.109375.
        assert!((binomial_two_sided_half(2, 10) - 0.109_375).abs() < 1e-12);
        // k = n/2 is the most likely outcome: p = 1.
        assert!((binomial_two_sided_half(5, 10) - 1.0).abs() < 1e-12);
        // n = 1: either outcome has probability ½, so p = 1.
        assert!((binomial_two_sided_half(0, 1) - 1.0).abs() < 1e-12);
        // n = 20, k = 0: 2/2²⁰.
        assert!((binomial_two_sided_half(0, 20) - 2.0 / 1_048_576.0).abs() < 1e-15);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
    }
}
