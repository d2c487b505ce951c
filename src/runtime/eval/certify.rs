//! Randomized smoothing (Cohen, Rosenfeld & Kolter, ICML 2019) for clips:
//! the smoothed classifier g(x) = argmax_c P(f(x + N(0, σ²I)) = c) and its
//! certified L2 radius, by the paper's CERTIFY:
//! - n₀ noisy copies of the clip guess the top class ĉ_A;
//! - n more count how often f says ĉ_A (n_A);
//! - p̲_A is the one-sided (1 − α) Clopper–Pearson lower bound of n_A / n
//!   (statsmodels' `proportion_confint(n_A, n, alpha=2α, method="beta")[0]`,
//!   the Beta(n_A, n − n_A + 1) quantile at α);
//! - p̲_A < ½: abstain; otherwise g predicts ĉ_A within the L2 radius
//!   R = σ·Φ⁻¹(p̲_A) with probability at least 1 − α.
//!
//! σ and R are in [0, 1] pixel units, as the paper's (an L2 budget of
//! `pgd(norm: 2)` in 0..255 units is 255·R). The noise is not clipped to the
//! image, as in the paper's code. Each clip's draws come from its own seed,
//! in batches of `batch` copies: the same clip, seed and batch give the same
//! counts on any run.

use crate::runtime::error::{stop_requested, NodeResult};
use statrs::distribution::{Beta, ContinuousCDF, Normal};
use tch::{Kind, Tensor};

/// CERTIFY's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Smoothing {
    /// Noise σ in [0, 1] pixel units.
    pub sigma: f64,
    /// Draws that choose the class.
    pub n0: usize,
    /// Draws that bound its probability.
    pub n: usize,
    /// The failure probability α of each certificate.
    pub alpha: f64,
    /// Noisy copies per forward pass.
    pub batch: usize,
}

/// One clip's certificate.
#[derive(Clone, Debug, PartialEq)]
pub struct Certificate {
    /// ĉ_A, the class the n₀ draws chose.
    pub top: i64,
    /// n_A: of the n draws, how many f classified as ĉ_A.
    pub count: u64,
    /// p̲_A, the lower confidence bound of P(f = ĉ_A).
    pub p_lower: f64,
    /// `None`: abstain (p̲_A < ½); else the certified L2 radius.
    pub radius: Option<f64>,
}

/// The one-sided (1 − α) Clopper–Pearson lower bound of a proportion `k`/`n`.
pub fn lower_bound(k: u64, n: u64, alpha: f64) -> f64 {
    if k == 0 || n == 0 {
        return 0.0;
    }
    match Beta::new(k as f64, (n - k + 1) as f64) {
        Ok(b) => b.inverse_cdf(alpha),
        Err(_) => 0.0,
    }
}

/// σ·Φ⁻¹(p̲_A), or `None` (abstain) when p̲_A < ½.
pub fn radius(sigma: f64, p_lower: f64) -> Option<f64> {
    if p_lower < 0.5 {
        return None;
    }
    let normal = Normal::new(0.0, 1.0).expect("the standard normal");
    Some(sigma * normal.inverse_cdf(p_lower))
}

impl Smoothing {
    /// How often `f` classifies each class on `num` noisy copies of the clip
    /// `x` (1×C×T×H×W), drawn in batches from the current generator.
    pub fn counts(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        num: usize,
    ) -> NodeResult<Vec<u64>> {
        let _g = tch::no_grad_guard();
        let mut counts: Vec<u64> = Vec::new();
        let mut left = num;
        while left > 0 {
            stop_requested()?;
            let b = left.min(self.batch.max(1));
            let mut reps = vec![b as i64];
            reps.extend(std::iter::repeat_n(1, x.dim() - 1));
            let batch = x.repeat(&reps[..]);
            let noise = batch.randn_like() * self.sigma;
            let z = f(&(batch + noise));
            let classes = z.size()[1] as usize;
            if counts.len() < classes {
                counts.resize(classes, 0);
            }
            let predicted = Vec::<i64>::try_from(
                z.argmax(1, false)
                    .to_kind(Kind::Int64)
                    .to_device(tch::Device::Cpu),
            )?;
            for p in predicted {
                counts[p as usize] += 1;
            }
            left -= b;
        }
        Ok(counts)
    }

    /// CERTIFY on one clip (1×C×T×H×W), its draws seeded by `seed`.
    pub fn certify(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        seed: i64,
    ) -> NodeResult<Certificate> {
        tch::manual_seed(seed);
        let selection = self.counts(f, x, self.n0)?;
        // The first of the most frequent, as numpy's argmax.
        let top = selection
            .iter()
            .enumerate()
            .fold(
                (0usize, 0u64),
                |best, (c, &k)| if k > best.1 { (c, k) } else { best },
            )
            .0;
        let estimation = self.counts(f, x, self.n)?;
        let count = estimation.get(top).copied().unwrap_or(0);
        let p_lower = lower_bound(count, self.n as u64, self.alpha);
        Ok(Certificate {
            top: top as i64,
            count,
            p_lower,
            radius: radius(self.sigma, p_lower),
        })
    }
}

/// Certified accuracy at radius r: the share of clips whose certificate is
/// correct and at least r (abstentions count wrong).
pub fn certified_accuracy(certs: &[(Certificate, i64)], r: f64) -> f64 {
    if certs.is_empty() {
        return 0.0;
    }
    let hit = certs
        .iter()
        .filter(|(c, y)| c.top == *y && c.radius.is_some_and(|rad| rad >= r))
        .count();
    hit as f64 / certs.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clopper–Pearson's closed forms: k = n gives α^(1/n), k = 0 gives 0,
    /// and the bound is the Beta quantile, so P(Beta ≤ bound) = α.
    #[test]
    fn the_lower_bound_is_clopper_pearsons() {
        for (n, alpha) in [(100u64, 0.001), (1000, 0.01), (7, 0.05)] {
            let all = lower_bound(n, n, alpha);
            assert!(
                (all - alpha.powf(1.0 / n as f64)).abs() < 1e-10,
                "{n}: {all}"
            );
            assert_eq!(lower_bound(0, n, alpha), 0.0);
        }
        let b = lower_bound(830, 1000, 0.001);
        let beta = Beta::new(830.0, 171.0).unwrap();
        assert!((beta.cdf(b) - 0.001).abs() < 1e-9, "{b}");
        assert!(b < 0.83 && b > 0.78, "{b}");
    }

    /// p̲ < ½ abstains; p̲ = Φ(1) gives R = σ; a constant classifier is
    /// certified with n_A = n on every clip.
    #[test]
    fn radius_and_abstention_follow_the_bound() {
        assert_eq!(radius(0.25, 0.49), None);
        assert_eq!(radius(0.5, 0.5), Some(0.0));
        let phi1 = 0.841_344_746_068_542_9;
        assert!((radius(0.25, phi1).unwrap() - 0.25).abs() < 1e-9);
        let s = Smoothing {
            sigma: 0.5,
            n0: 10,
            n: 50,
            alpha: 0.001,
            batch: 16,
        };
        let constant = |v: &Tensor| {
            let n = v.size()[0];
            Tensor::from_slice(&[0.0f32, 3.0, 1.0]).repeat([n, 1])
        };
        let x = Tensor::rand([1, 3, 2, 4, 4], (Kind::Float, tch::Device::Cpu));
        let c = s.certify(&constant, &x, 7).unwrap();
        assert_eq!((c.top, c.count), (1, 50));
        assert!((c.p_lower - 0.001f64.powf(1.0 / 50.0)).abs() < 1e-12);
        assert!(c.radius.unwrap() > 0.0);
        let certs = [(c.clone(), 1), (c.clone(), 0)];
        assert_eq!(certified_accuracy(&certs, 0.0), 0.5);
        assert_eq!(certified_accuracy(&certs, c.radius.unwrap() + 1e-9), 0.0);
    }
}
