//! Uncertainty of evaluation numbers, from the per-clip records.
//!
//! - A cell's accuracy over one seed is a proportion of clips: its 95 %
//!   interval is Wilson's score interval. Wilson rather than a bootstrap
//!   over clips: it is closed-form (no resampling, the same on every
//!   machine), it stays inside [0, 1] and keeps its coverage at the
//!   accuracies robustness tables are full of (near 0 at large ε, near 1
//!   clean), where the normal (Wald) interval collapses to a point.
//! - A cell over several seeds is the mean of the seeds' accuracies with
//!   Student's t interval over the seeds (n − 1 degrees of freedom): the
//!   spread another run on other seeds — or another machine, whose float
//!   kernels differ — shows. It is widened to at least the Wilson interval
//!   of the mean over the cell's clips: seeds that agree closely do not make
//!   a test set of n clips measure more finely than n clips can.
//! - Two models on the same clips: McNemar's exact test on the discordant
//!   clips (one right, the other wrong), i.e. a two-sided binomial test of
//!   b successes in b + c trials at ½. Over several seeds the discordant
//!   pairs of every seed are pooled (the stratified exact test: under "equally
//!   accurate" each discordant pair goes either way with chance ½ in every
//!   seed). The difference's interval is a paired bootstrap over clips: a
//!   clip is resampled with its outcomes under every seed, so the
//!   correlation of one clip across seeds is kept.

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

/// The 0.975 quantile of Student's t with `df` degrees of freedom.
pub fn t975(df: u64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    StudentsT::new(0.0, 1.0, df.max(1) as f64)
        .map(|t| t.inverse_cdf(0.975))
        .unwrap_or(f64::INFINITY)
}

/// The mean of `values` and its 95 % Student's t interval (the values
/// themselves: one value gives the point).
pub fn mean_t_interval(values: &[f64]) -> (f64, f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, mean, mean);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t975(n as u64 - 1) * (var / n as f64).sqrt();
    (mean, mean - half, mean + half)
}

/// A paired bootstrap of the mean of `d` (one value per clip): `resamples`
/// resamplings of the clips with replacement from a SplitMix64 stream seeded
/// with `seed`, and the 2.5 % and 97.5 % percentiles of their means (linear
/// interpolation between order statistics, numpy's default).
pub fn bootstrap_mean(d: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    let n = d.len();
    if n == 0 || resamples == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = crate::util::rng::SplitMix::new(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            (0..n)
                .map(|_| d[rng.below_shift(n as u64) as usize])
                .sum::<f64>()
                / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    (percentile(&means, 0.025), percentile(&means, 0.975))
}

/// The `q` quantile of sorted values, interpolated linearly (numpy's default).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos.fract());
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_tables() {
        // Student's t tables: 12.706 (1 df), 4.303 (2), 2.776 (4), 1.984 (100).
        for (df, t) in [(1, 12.7062), (2, 4.3027), (4, 2.7764), (100, 1.9840)] {
            assert!((t975(df) - t).abs() < 1e-3, "{df}: {}", t975(df));
        }
        // 1, 2, 3: mean 2, s = 1, half-width 4.3027/√3.
        let (m, lo, hi) = mean_t_interval(&[1.0, 2.0, 3.0]);
        let half = 4.302_653 / 3f64.sqrt();
        assert!(
            (m - 2.0).abs() < 1e-12
                && (lo - (2.0 - half)).abs() < 1e-5
                && (hi - (2.0 + half)).abs() < 1e-5
        );
        assert_eq!(mean_t_interval(&[5.0]), (5.0, 5.0, 5.0));
    }

    #[test]
    fn the_bootstrap_agrees_with_the_normal_interval_of_a_paired_difference() {
        // 400 clips: 60 where A alone is right (+1), 20 where B alone is (−1).
        // The closed form of the paired difference: d̄ = 0.1, and its standard
        // error √((b + c)/n − d̄²)/√n = √(0.2 − 0.01)/20 = 0.021 79.
        let mut d = vec![0.0; 400];
        d[..60].iter_mut().for_each(|x| *x = 1.0);
        d[60..80].iter_mut().for_each(|x| *x = -1.0);
        let (lo, hi) = bootstrap_mean(&d, 10_000, 7);
        let se = (0.2f64 - 0.01).sqrt() / 20.0;
        assert!((lo - (0.1 - Z95 * se)).abs() < 0.004, "{lo}");
        assert!((hi - (0.1 + Z95 * se)).abs() < 0.004, "{hi}");
        // The same stream gives the same interval, to the bit.
        assert_eq!(bootstrap_mean(&d, 10_000, 7), (lo, hi));
        // No spread: the interval is the point.
        assert_eq!(bootstrap_mean(&[0.5; 10], 100, 1), (0.5, 0.5));
    }

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
