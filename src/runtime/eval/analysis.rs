//! Analyses (paper Sec. 3.1 and 5.1): the adversarial loss surface over step
//! size α and number of steps M (Figure 1), the best step size per budget and
//! its fitted line (Figure 2), and the generalization gap of a training run
//! (Figure 4). Results are plain JSON; the figures are drawn by the reports.

pub use crate::results::{line_text, BestStep, StepFit, Surface};
use crate::runtime::attacks::{self, Pgd};
use crate::runtime::data::Clips;
use crate::runtime::error::{NodeError, NodeResult};
use crate::runtime::progress::Progress;
use crate::runtime::rng::mix;
use tch::{Device, Kind, Tensor};

type Classifier<'a> = &'a dyn Fn(&Tensor, bool) -> Tensor;

/// What an analysis attacks: the model behind its defenses, the first
/// `samples` clips of a split in batches, and how.
pub struct Subject<'a> {
    pub f: Classifier<'a>,
    pub clips: &'a Clips,
    pub samples: usize,
    /// Clips per batch.
    pub batch: usize,
    /// Attacks run with BatchNorm in training mode.
    pub bn_train: bool,
    pub seed: u64,
    pub device: Device,
}

impl Subject<'_> {
    /// The clips of the first `samples` of the split, in batches.
    fn batches(&self) -> Vec<Vec<usize>> {
        let n = self.clips.len().min(self.samples.max(1));
        (0..n)
            .collect::<Vec<_>>()
            .chunks(self.batch.max(1))
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// Runs `each` on the clips of every batch (indices, clips, labels),
    /// with libtorch's generator seeded from `key` and the batch number first.
    fn for_batches(
        &self,
        chunks: &[Vec<usize>],
        key: &[u64],
        mut each: impl FnMut(&[usize], Tensor, Tensor) -> NodeResult<()>,
    ) -> NodeResult<()> {
        for (b, idx) in chunks.iter().enumerate() {
            if crate::util::interrupted() {
                return Err(NodeError::Interrupted);
            }
            let mut k = key.to_vec();
            k.push(b as u64);
            tch::manual_seed(mix(&k) as i64);
            let (x, y) = self.clips.batch(idx, 0, self.device)?;
            each(idx, x, y)?;
        }
        Ok(())
    }
}

/// One PGD run per α, traced after every step ([`Pgd::trace`]): the whole M
/// axis costs a single run of max(M) steps.
pub fn loss_surface(
    on: &Subject,
    base: &Pgd,
    alphas: &[f64],
    steps: &[usize],
    progress: &Progress,
) -> NodeResult<Surface> {
    let most = steps.iter().copied().max().unwrap_or(0);
    let chunks = on.batches();
    let n: usize = chunks.iter().map(Vec::len).sum();
    let mut sums = vec![vec![0.0; alphas.len()]; most + 1];
    let bar = progress.bar("loss surface", (alphas.len() * chunks.len()) as u64);
    for (a, &alpha) in alphas.iter().enumerate() {
        let pgd = Pgd {
            alpha,
            steps: most,
            ..base.clone()
        };
        on.for_batches(&chunks, &[on.seed, a as u64], |idx, x, y| {
            let objective = |v: &Tensor| attacks::loss(&(on.f)(v, on.bn_train), &y);
            let mut trace = pgd.trace(&objective, &x)?;
            // An attack that cannot move (ε = 0) stays where it started.
            trace.resize(most + 1, *trace.last().unwrap_or(&0.0));
            for (m, v) in trace.iter().enumerate() {
                sums[m][a] += v * idx.len() as f64;
            }
            bar.inc(1);
            Ok(())
        })?;
    }
    bar.finish_and_clear();
    let clean_loss = sums[0].first().copied().unwrap_or(0.0) / n.max(1) as f64;
    Ok(Surface {
        eps: base.eps,
        alphas: alphas.to_vec(),
        steps: steps.to_vec(),
        loss: steps
            .iter()
            .map(|&m| sums[m].iter().map(|s| s / n.max(1) as f64).collect())
            .collect(),
        clean_loss: if base.random_start {
            f64::NAN
        } else {
            clean_loss
        },
        samples: n,
    })
}

/// The naive grid: a fresh attack of M steps for every (α, M) cell, with
/// BatchNorm in eval mode. The benchmark's baseline, and the reference the
/// traced surface is tested against.
pub fn loss_surface_naive(
    on: &Subject,
    base: &Pgd,
    alphas: &[f64],
    steps: &[usize],
) -> NodeResult<Vec<Vec<f64>>> {
    let chunks = on.batches();
    let n: usize = chunks.iter().map(Vec::len).sum();
    let mut loss = vec![vec![0.0; alphas.len()]; steps.len()];
    for (a, &alpha) in alphas.iter().enumerate() {
        for (m, &k) in steps.iter().enumerate() {
            let pgd = Pgd {
                alpha,
                steps: k,
                ..base.clone()
            };
            on.for_batches(&chunks, &[on.seed, a as u64], |idx, x, y| {
                let objective = |v: &Tensor| attacks::loss(&(on.f)(v, false), &y);
                let adv = pgd.maximise(&objective, &x, None, &mut |_| {})?;
                let _g = tch::no_grad_guard();
                loss[m][a] += objective(&adv).double_value(&[]) * idx.len() as f64;
                Ok(())
            })?;
            loss[m][a] /= n.max(1) as f64;
        }
    }
    Ok(loss)
}

/// Least squares of y on x: (slope, intercept, R²). R² is 1 for a perfect
/// line and for a constant y that the line reproduces exactly.
pub fn fit_line(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    let n = xs.len().min(ys.len()) as f64;
    if n == 0.0 {
        return (0.0, 0.0, 0.0);
    }
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let a = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let b = my - a * mx;
    let ss_tot: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    let ss_res: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| (y - (a * x + b)).powi(2))
        .sum();
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        1.0
    };
    (a, b, r2)
}

/// For every ε, every α of the grid is run (the attack's own steps); the best
/// is the one with the highest mean loss (the attack's own objective; ties go
/// to the smaller α).
pub fn step_fit(
    on: &Subject,
    base: &Pgd,
    budgets: &[f64],
    alphas: &[f64],
    progress: &Progress,
) -> NodeResult<StepFit> {
    let chunks = on.batches();
    let n: usize = chunks.iter().map(Vec::len).sum();
    let bar = progress.bar("step fit", (budgets.len() * alphas.len()) as u64);
    let mut best = Vec::new();
    for (e, &eps) in budgets.iter().enumerate() {
        let mut losses = Vec::new();
        let mut accs = Vec::new();
        for (a, &alpha) in alphas.iter().enumerate() {
            let pgd = Pgd {
                eps,
                alpha,
                ..base.clone()
            };
            let (loss, accuracy) = mean_loss(on, &pgd, &chunks, &[on.seed, e as u64, a as u64])?;
            losses.push(loss);
            accs.push(accuracy);
            bar.inc(1);
        }
        let k = (0..losses.len()).fold(0, |k, i| if losses[i] > losses[k] { i } else { k });
        let b = BestStep {
            eps,
            alpha: alphas[k],
            loss: losses[k],
            accuracy: accs[k],
            losses,
        };
        progress.line(&format!(
            "step fit: ε {eps}: best α {} (loss {:.3}, accuracy {:.1}%)",
            b.alpha,
            b.loss,
            100.0 * b.accuracy
        ));
        best.push(b);
    }
    bar.finish_and_clear();
    let xs: Vec<f64> = best.iter().map(|b| b.eps).collect();
    let ys: Vec<f64> = best.iter().map(|b| b.alpha).collect();
    let (a, b, r2) = fit_line(&xs, &ys);
    Ok(StepFit {
        alphas: alphas.to_vec(),
        steps: base.steps,
        best,
        a,
        b,
        r2,
        samples: n,
    })
}

/// `pgd`'s mean loss and accuracy on the clips of `chunks`, the batches
/// seeded from `key`.
fn mean_loss(
    on: &Subject,
    pgd: &Pgd,
    chunks: &[Vec<usize>],
    key: &[u64],
) -> NodeResult<(f64, f64)> {
    let n: usize = chunks.iter().map(Vec::len).sum();
    let (mut loss, mut correct) = (0.0, 0.0);
    on.for_batches(chunks, key, |idx, x, y| {
        let adv = pgd.run(&|v| (on.f)(v, on.bn_train), &x, &y)?;
        let _g = tch::no_grad_guard();
        let logits = (on.f)(&adv, false);
        loss += attacks::loss(&logits, &y).double_value(&[]) * idx.len() as f64;
        correct += logits
            .argmax(-1, false)
            .eq_tensor(&y)
            .sum(Kind::Float)
            .double_value(&[]);
        Ok(())
    })?;
    Ok((loss / n.max(1) as f64, correct / n.max(1) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::attacks::Norm;
    use crate::runtime::data::Memory;

    #[test]
    fn a_fitted_line_reads_with_its_sign() {
        assert_eq!(
            line_text(0.31, -0.2, 0.965),
            "α̂ = 0.310·ε − 0.200 (R² = 0.965)"
        );
        assert_eq!(line_text(0.2, 0.2, 1.0), "α̂ = 0.200·ε + 0.200 (R² = 1.000)");
    }

    #[test]
    fn least_squares_recovers_a_line_and_scores_the_fit() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        let (a, b, r2) = fit_line(&xs, &[0.4, 0.6, 0.8, 1.0]);
        assert!((a - 0.2).abs() < 1e-12 && (b - 0.2).abs() < 1e-12 && (r2 - 1.0).abs() < 1e-12);
        // y = 1, 3, 2, 4: slope 0.8, intercept 0.5, R² = 1 − 1.8/5 = 0.64.
        let (a, b, r2) = fit_line(&xs, &[1.0, 3.0, 2.0, 4.0]);
        assert!((a - 0.8).abs() < 1e-12 && (b - 0.5).abs() < 1e-12 && (r2 - 0.64).abs() < 1e-12);
    }

    #[test]
    fn the_traced_surface_equals_a_fresh_attack_per_cell() {
        tch::manual_seed(0);
        let w = Tensor::randn([3 * 2 * 4 * 4, 3], (Kind::Float, Device::Cpu));
        let f = move |x: &Tensor, _: bool| x.flatten(1, -1).matmul(&w);
        let clips = Clips::Memory(Memory {
            x: Tensor::rand([6, 3, 2, 4, 4], (Kind::Float, Device::Cpu)),
            y: Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2]),
        });
        let base = Pgd {
            norm: Norm::Inf,
            eps: 8.0,
            alpha: 0.0,
            steps: 0,
            random_start: false,
        };
        let (alphas, steps) = ([0.5, 2.0, 8.0], [1, 2, 5]);
        let progress = Progress::new(true);
        let on = Subject {
            f: &f,
            clips: &clips,
            samples: 6,
            batch: 4,
            bn_train: false,
            seed: 7,
            device: Device::Cpu,
        };
        let s = loss_surface(&on, &base, &alphas, &steps, &progress).unwrap();
        let naive = loss_surface_naive(&on, &base, &alphas, &steps).unwrap();
        for m in 0..steps.len() {
            for a in 0..alphas.len() {
                assert!(
                    (s.loss[m][a] - naive[m][a]).abs() < 1e-5,
                    "M={} α={}: {} vs {}",
                    steps[m],
                    alphas[a],
                    s.loss[m][a],
                    naive[m][a]
                );
            }
        }
        // One small step already raises the loss above the clean clips'.
        assert!(s.loss[0][0] > s.clean_loss);
    }
}
