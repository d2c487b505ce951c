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
//! - Clips cut from one video (frame folders with several clips per video)
//!   are not independent: the unit of evidence is the video. A cell's
//!   interval is then [`clustered_wilson`] (Wilson's interval at the
//!   effective sample size), McNemar's test becomes [`clustered_mcnemar`]
//!   (Durkalski et al.'s statistic, referred to its exact sign-flip
//!   distribution over videos) and the paired bootstrap resamples videos
//!   ([`cluster_bootstrap_mean`]). Each reduces to the unclustered method,
//!   bit for bit, when every clip is its own video, and copies of a clip
//!   change none of them.

/// z for a two-sided 95 % interval (the 0.975 normal quantile).
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson's score interval for `k` successes in `n` trials at normal
/// quantile `z`: (low, high); (0, 1) for n = 0.
pub fn wilson(k: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    wilson_real(k as f64, n as f64, z)
}

/// Wilson's score interval for a proportion `k / n` measured as finely as
/// `n` independent trials, `n` real (an effective sample size); the formula
/// of [`wilson`]. (0, 1) for n ≤ 0.
pub fn wilson_real(k: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 || n.is_nan() {
        return (0.0, 1.0);
    }
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

/// The effective number of independent clips behind a proportion measured
/// on clusters (`groups`: each video's clips right and clips in all, as
/// `(successes, clips)`): Kish's `n / deff`, with the design effect
/// estimated as Korn & Graubard (1998, "Confidence intervals for proportions
/// with small expected number of positive counts estimated from survey
/// data", Survey Methodology 24:193–201) do: `n* = p̂(1 − p̂) / v̂(p̂)`, `v̂`
/// the linearisation (ratio-estimator) variance over the clusters,
/// `Σ (yᵢ − p̂ mᵢ)² / n²`, and `n*` at most `n` (deff ≥ 1).
///
/// Where every clip has the same outcome (p̂ = 0 or 1) the data cannot
/// estimate the correlation; Korn & Graubard then take `n`, which would let
/// copies of a few videos look like many independent clips. Here the
/// correlation is taken as the largest the design allows (intra-video
/// correlation 1: Kish's `deff = Σ mᵢ² / n`), so `n* = n² / Σ mᵢ²`: the number
/// of videos when they have equally many clips.
///
/// Every clip its own cluster: `n` exactly (deff = 1). Each cluster's clips
/// copied k times: the same `n*` (both `v̂` and `n² / Σ mᵢ²` are invariant).
pub fn effective_size(groups: &[(u64, u64)]) -> f64 {
    let n: u64 = groups.iter().map(|g| g.1).sum();
    if groups.iter().all(|g| g.1 <= 1) {
        return n as f64;
    }
    let k: u64 = groups.iter().map(|g| g.0).sum();
    let nf = n as f64;
    if k == 0 || k == n {
        let squares: f64 = groups.iter().map(|g| (g.1 as f64).powi(2)).sum();
        return nf * nf / squares;
    }
    let p = k as f64 / nf;
    let v = groups
        .iter()
        .map(|&(y, m)| (y as f64 - p * m as f64).powi(2))
        .sum::<f64>()
        / (nf * nf);
    if v <= 0.0 {
        return nf;
    }
    (p * (1.0 - p) / v).min(nf)
}

/// The 95 % interval of a proportion over clustered clips (`groups` as in
/// [`effective_size`]): Wilson's score interval at the effective sample
/// size `n*` and `p̂ n*` successes, the cluster-adjusted Wilson interval
/// evaluated by Dean & Pagano (2015, "Evaluating confidence interval methods
/// for binomial proportions in clustered surveys", J. Surv. Stat. Methodol.
/// 3:484–503). Returns (low, high, n*). With every clip its own cluster it is
/// [`wilson`] over the clips, exactly.
pub fn clustered_wilson(groups: &[(u64, u64)], z: f64) -> (f64, f64, f64) {
    let k: u64 = groups.iter().map(|g| g.0).sum();
    let n: u64 = groups.iter().map(|g| g.1).sum();
    if groups.iter().all(|g| g.1 <= 1) {
        let (lo, hi) = wilson(k, n, z);
        return (lo, hi, n as f64);
    }
    let n_eff = effective_size(groups);
    let (lo, hi) = wilson_real(k as f64 / n as f64 * n_eff, n_eff, z);
    (lo, hi, n_eff)
}

/// The exact two-sided randomisation test of `Σ d = 0` for independent
/// values symmetric about 0 (`d`: one integer per cluster): with the
/// magnitudes fixed, each of the 2^K sign patterns is equally likely, and p
/// is the share of patterns whose `|Σ ± |dₖ||` is at least the observed
/// `|Σ dₖ|`. Computed exactly by convolution (K × Σ|dₖ| steps).
pub fn sign_flip_exact(d: &[i64]) -> f64 {
    let sizes: Vec<usize> = d
        .iter()
        .map(|x| x.unsigned_abs() as usize)
        .filter(|&x| x > 0)
        .collect();
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return 1.0;
    }
    let observed = d.iter().sum::<i64>().unsigned_abs() as usize;
    // probs[total + s]: the chance of the sum s so far.
    let (mut probs, mut next) = (vec![0.0f64; 2 * total + 1], vec![0.0f64; 2 * total + 1]);
    probs[total] = 1.0;
    let mut reach = 0;
    for &a in &sizes {
        for s in total - reach..=total + reach {
            let q = probs[s];
            if q != 0.0 {
                next[s - a] += 0.5 * q;
                next[s + a] += 0.5 * q;
            }
            probs[s] = 0.0;
        }
        reach += a;
        std::mem::swap(&mut probs, &mut next);
    }
    let p: f64 = probs
        .iter()
        .enumerate()
        .filter(|(s, _)| s.abs_diff(total) >= observed)
        .map(|(_, q)| q)
        .sum();
    p.min(1.0)
}

/// McNemar's test when the clips come in clusters (videos): `pairs` holds
/// each cluster's discordant clips, `(b, c)` (A right and B wrong, the
/// reverse). The statistic is Durkalski et al.'s (2003, "Analysis of
/// clustered matched-pair data", Stat. Med. 22:2417–2428),
/// `X² = (Σ dₖ)² / Σ dₖ²` with `dₖ = bₖ − cₖ`; its p-value is taken from the
/// exact randomisation distribution ([`sign_flip_exact`]) rather than χ²₁:
/// under "equally accurate" the clips of a cluster are exchangeable between
/// A and B, so each `dₖ` is symmetric about 0, and `Σ dₖ²` does not change
/// with the signs. No cluster with more than one discordant clip (every clip
/// its own video, in particular): the signs are those of single discordant
/// clips and the test is McNemar's exact test, [`mcnemar_exact`], exactly.
/// A cluster's clips copied k times: every `dₖ` times k, the same p.
pub fn clustered_mcnemar(pairs: &[(u64, u64)]) -> f64 {
    if pairs.iter().all(|&(b, c)| b + c <= 1) {
        let b = pairs.iter().map(|p| p.0).sum();
        let c = pairs.iter().map(|p| p.1).sum();
        return mcnemar_exact(b, c);
    }
    let d: Vec<i64> = pairs.iter().map(|&(b, c)| b as i64 - c as i64).collect();
    sign_flip_exact(&d)
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

/// A paired bootstrap over clusters (Davison & Hinkley 1997, §3.8, the
/// cluster bootstrap): `clusters` holds each cluster's sum of the per-clip
/// values and its number of clips; each resampling draws the clusters with
/// replacement and takes the mean over the clips drawn (Σ sums / Σ counts).
/// The 2.5 % and 97.5 % percentiles as [`bootstrap_mean`]'s, which it is,
/// draw for draw, when every cluster is one clip. Copies of a cluster's
/// clips scale its sum and count alike and change no mean.
pub fn cluster_bootstrap_mean(clusters: &[(f64, u64)], resamples: usize, seed: u64) -> (f64, f64) {
    if clusters.iter().all(|c| c.1 == 1) {
        let d: Vec<f64> = clusters.iter().map(|c| c.0).collect();
        return bootstrap_mean(&d, resamples, seed);
    }
    let g = clusters.len();
    if g == 0 || resamples == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = crate::util::rng::SplitMix::new(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let (mut sum, mut count) = (0.0, 0u64);
            for _ in 0..g {
                let (s, m) = clusters[rng.below_shift(g as u64) as usize];
                sum += s;
                count += m;
            }
            sum / count.max(1) as f64
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

    /// Outcomes of 9 videos with 1 to 4 clips each: (clips right, clips).
    const VIDEOS: [(u64, u64); 9] = [
        (0, 3),
        (2, 2),
        (1, 4),
        (3, 3),
        (0, 1),
        (1, 2),
        (4, 4),
        (0, 2),
        (2, 3),
    ];

    fn copies(groups: &[(u64, u64)], k: u64) -> Vec<(u64, u64)> {
        groups.iter().map(|&(y, m)| (k * y, k * m)).collect()
    }

    #[test]
    fn one_clip_per_video_is_wilson_exactly_and_copies_change_no_interval() {
        // Every clip its own video: today's Wilson, to the bit.
        for n in 1..40u64 {
            for k in 0..=n {
                let groups: Vec<(u64, u64)> = (0..n).map(|i| (u64::from(i < k), 1)).collect();
                let (lo, hi, n_eff) = clustered_wilson(&groups, Z95);
                assert_eq!((lo, hi), wilson(k, n, Z95), "{k}/{n}");
                assert_eq!(n_eff, n as f64);
            }
        }
        // Each clip copied k times inside its video: the interval of the
        // clips once (Wilson over the 12 of them), not of 12k clips.
        let once: Vec<(u64, u64)> = (0..12).map(|i| (u64::from(i % 3 != 0), 1)).collect();
        for k in [2, 3, 10, 100] {
            let (lo, hi, n_eff) = clustered_wilson(&copies(&once, k), Z95);
            let (wl, wh) = wilson(8, 12, Z95);
            assert!(
                (lo - wl).abs() < 1e-12 && (hi - wh).abs() < 1e-12,
                "{k}: {lo} {hi}"
            );
            assert!((n_eff - 12.0).abs() < 1e-9, "{n_eff}");
        }
        // Videos of several clips: copies change nothing either.
        let base = clustered_wilson(&VIDEOS, Z95);
        for k in [2, 7] {
            let c = clustered_wilson(&copies(&VIDEOS, k), Z95);
            assert!((c.0 - base.0).abs() < 1e-12 && (c.1 - base.1).abs() < 1e-12);
            assert!((c.2 - base.2).abs() < 1e-9);
        }
        // All right: the videos alone (3 of 100 clips each) measure it, as
        // 3 clips would, not as 300.
        let (lo, hi, n_eff) = clustered_wilson(&[(100, 100); 3], Z95);
        assert_eq!(((lo, hi), n_eff), (wilson(3, 3, Z95), 3.0));
    }

    #[test]
    fn the_effective_size_is_the_ratio_variance_closed_form() {
        // Computed another way: n* = p(1 − p) / v with v the variance of
        // the ratio estimator, from its textbook form
        // G/(G − 1)-free: Σ mᵢ² (p̂ᵢ − p̂)² / n².
        let n: u64 = VIDEOS.iter().map(|g| g.1).sum();
        let k: u64 = VIDEOS.iter().map(|g| g.0).sum();
        let p = k as f64 / n as f64;
        let v: f64 = VIDEOS
            .iter()
            .map(|&(y, m)| (m as f64).powi(2) * (y as f64 / m as f64 - p).powi(2))
            .sum::<f64>()
            / (n as f64).powi(2);
        let want = (p * (1.0 - p) / v).min(n as f64);
        assert!((effective_size(&VIDEOS) - want).abs() < 1e-9);
        // Clustering costs: fewer effective clips than clips, more than videos here.
        assert!(want < n as f64 && want > 1.0, "{want}");
        // Unequal videos all right: Kish's n² / Σ m² (4²/(1 + 9) = 1.6).
        assert!((effective_size(&[(1, 1), (3, 3)]) - 1.6).abs() < 1e-12);
    }

    /// The two-sided sign-flip p by enumerating every sign pattern.
    fn enumerated(d: &[i64]) -> f64 {
        let observed = d.iter().sum::<i64>().abs();
        let k = d.len();
        let hits = (0..1u64 << k)
            .filter(|mask| {
                let s: i64 = (0..k)
                    .map(|i| if mask >> i & 1 == 1 { d[i] } else { -d[i] })
                    .sum();
                s.abs() >= observed
            })
            .count();
        hits as f64 / (1u64 << k) as f64
    }

    #[test]
    fn the_clustered_mcnemar_test_is_the_exact_sign_flip_test_and_mcnemars_for_single_clips() {
        for d in [
            vec![3, -1, 2, 0, 4, 1],
            vec![1, 1, 1, 1, 1, -1, 2, 5],
            vec![-2, -2, 0, 3],
            vec![7],
            vec![1, -1, 1, -1, 1, 1, 1, 1, 1, 1, 1, 1],
        ] {
            let got = sign_flip_exact(&d);
            assert!((got - enumerated(&d)).abs() < 1e-12, "{d:?}: {got}");
        }
        assert_eq!(sign_flip_exact(&[0, 0]), 1.0);
        // One discordant clip per video (or none): McNemar's exact test, to the bit.
        for (b, c) in [(0u64, 0u64), (3, 0), (12, 4), (40, 31)] {
            let mut pairs = vec![(1u64, 0u64); b as usize];
            pairs.extend(vec![(0, 1); c as usize]);
            pairs.extend(vec![(0, 0); 5]);
            assert_eq!(clustered_mcnemar(&pairs), mcnemar_exact(b, c));
            // The sign-flip distribution says the same (the binomial at ½).
            let d: Vec<i64> = pairs.iter().map(|&(b, c)| b as i64 - c as i64).collect();
            assert!((sign_flip_exact(&d) - mcnemar_exact(b, c)).abs() < 1e-12);
            // Every clip copied k times: the same p, not a far smaller one.
            for k in [2, 5] {
                let p = clustered_mcnemar(&copies(&pairs, k));
                assert!((p - mcnemar_exact(b, c)).abs() < 1e-12, "{b} {c} ×{k}: {p}");
            }
        }
        // 3 videos, all for A, 30 copies each: as 3 discordant clips (p = 0.25), not 90.
        assert!((clustered_mcnemar(&[(30, 0); 3]) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn the_cluster_bootstrap_is_the_clip_bootstrap_for_single_clips_and_ignores_copies() {
        let d: Vec<f64> = (0..40)
            .map(|i| f64::from(i % 5 == 0) - f64::from(i % 7 == 0))
            .collect();
        let single: Vec<(f64, u64)> = d.iter().map(|&x| (x, 1)).collect();
        assert_eq!(
            cluster_bootstrap_mean(&single, 2000, 9),
            bootstrap_mean(&d, 2000, 9)
        );
        let (lo, hi) = bootstrap_mean(&d, 2000, 9);
        for k in [3u64, 8] {
            let copied: Vec<(f64, u64)> = d.iter().map(|&x| (k as f64 * x, k)).collect();
            let (cl, ch) = cluster_bootstrap_mean(&copied, 2000, 9);
            assert!((cl - lo).abs() < 1e-12 && (ch - hi).abs() < 1e-12, "{k}");
        }
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
