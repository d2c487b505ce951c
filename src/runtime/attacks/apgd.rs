//! APGD (Croce & Hein, ICML 2020) for clips: APGD-CE, APGD-DLR and APGD-T
//! (targeted DLR against the top other classes), L∞ and L2.
//!
//! Step by step the reference implementation's `attack_single_run`
//! (AutoAttack's `autopgd_base.py`, as torchattacks' `APGD`/`APGDT` carry
//! it), on N×C×T×H×W clips instead of N×C×H×W images:
//! - start x + ε·t/‖t‖ (t uniform in [−1, 1] scaled to L∞ ε, or Gaussian
//!   scaled to L2 ε), clamped to [0, 1]; step η⁽⁰⁾ = 2ε per clip;
//! - z = P(x⁽ᵏ⁾ + η·sign ∇) (L∞; the normalised gradient for L2), then
//!   x⁽ᵏ⁺¹⁾ = P(x⁽ᵏ⁾ + 0.75(z − x⁽ᵏ⁾) + 0.25(x⁽ᵏ⁾ − x⁽ᵏ⁻¹⁾)), the first step
//!   without momentum;
//! - checkpoints after ⌊0.22N⌋ steps, then spacings shrinking by ⌊0.03N⌋ to
//!   at least ⌊0.06N⌋ (the paper's wⱼ = ⌈pⱼN⌉ for N = 100, the reference's
//!   integer rounding otherwise): a clip's η halves, and it restarts from its
//!   best point, when its loss rose in at most ρ = 0.75 of the steps since the
//!   last checkpoint, or η did not halve then and the best loss did not
//!   improve;
//! - the gradient is that of the summed per-clip loss; a clip counts fooled
//!   if any iterate is misclassified (its first such iterate is returned),
//!   otherwise its best-loss iterate is returned.
//!
//! ε is in 0..255 units as everywhere. Restarts and targets attack only the
//! clips still robust, as the reference's `perturb` does.

use super::pgd::{put_rows, rows_where, Norm, Rows};
use super::{norm_name, units, AttackKind};
use crate::runtime::error::{stop_requested, NodeResult};
use tch::{Kind, Reduction, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Cross-entropy.
    Ce,
    /// Difference of logits ratio (untargeted, or targeted when `targets > 0`).
    Dlr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Apgd {
    pub norm: Norm,
    /// Budget ε in 0..255 units.
    pub eps: f64,
    pub steps: usize,
    pub restarts: usize,
    pub loss: Loss,
    /// 0: untargeted; k: APGD-T against each of the top-k other classes.
    pub targets: usize,
    /// The checkpoint's share of loss increases (ρ).
    pub rho: f64,
    /// Gradient samples per step (EOT, for randomized defenses); 1 without.
    pub eot: usize,
}

/// One run from one start: the reference's four outputs, and per clip the
/// first iterate that was misclassified (0: the start point).
pub struct SingleRun {
    /// The best-loss iterate.
    pub best: Tensor,
    /// Whether every iterate was classified correctly.
    pub robust: Vec<bool>,
    pub loss_best: Tensor,
    /// The last misclassified iterate seen for fooled clips (the start otherwise).
    pub best_adv: Tensor,
    pub first_fooled: Vec<Option<usize>>,
}

/// One APGD run between iterations, in the reference's names: the iterate
/// and the one before it (for the momentum), the best-loss and the last
/// misclassified iterates, the step size per clip and the checkpoints'
/// bookkeeping.
struct Run<'a> {
    a: &'a Apgd,
    x: Tensor,
    /// ε in [0, 1] units.
    eps: f64,
    /// N×1×…×1, to broadcast one value a clip.
    shape: Vec<i64>,
    x_adv: Tensor,
    x_adv_old: Tensor,
    x_best: Tensor,
    x_best_adv: Tensor,
    grad: Tensor,
    grad_best: Tensor,
    loss_best: Tensor,
    loss_best_last: Tensor,
    step_size: Tensor,
    robust: Vec<bool>,
    first_fooled: Vec<Option<usize>>,
    /// Per-step losses; the reference reads one row before the first (its
    /// unfilled last row, zeros) at the first checkpoint.
    steps_loss: Vec<Tensor>,
    reduced_last: Vec<bool>,
    /// Steps since the last checkpoint, and the length of this interval.
    counter: usize,
    k: usize,
}

/// Per clip, as host booleans.
fn bools(b: &Tensor) -> Vec<bool> {
    Vec::<bool>::try_from(b.to_device(tch::Device::Cpu)).unwrap_or_default()
}

impl<'a> Run<'a> {
    fn new(
        a: &'a Apgd,
        x: Tensor,
        x_adv: Tensor,
        loss: Tensor,
        grad: Tensor,
        z: &Tensor,
        y: &Tensor,
    ) -> Self {
        let eps = a.eps / 255.0;
        let n = x.size()[0];
        let shape = per_clip(n, x.dim());
        let robust = bools(&z.argmax(1, false).eq_tensor(y));
        let first_fooled = robust.iter().map(|&r| (!r).then_some(0)).collect();
        // Single precision, as the reference's step size (its ε·ones·2 is a
        // float32 tensor): a double-precision model then takes the same steps.
        let step_size = Tensor::full(&shape[..], eps, (Kind::Float, x.device())) * 2.0;
        Run {
            a,
            eps,
            x_best: x_adv.copy(),
            x_best_adv: x_adv.copy(),
            x_adv_old: x_adv.copy(),
            grad_best: grad.copy(),
            loss_best: loss.copy(),
            loss_best_last: loss.copy(),
            step_size,
            robust,
            first_fooled,
            steps_loss: Vec::with_capacity(a.steps),
            reduced_last: vec![true; n as usize],
            counter: 0,
            k: ((0.22 * a.steps as f64) as usize).max(1),
            shape,
            x,
            x_adv,
            grad,
        }
    }

    fn project_inf(&self, v: &Tensor) -> Tensor {
        v.maximum(&(&self.x - self.eps))
            .minimum(&(&self.x + self.eps))
            .clamp(0.0, 1.0)
    }

    fn project_2(&self, v: &Tensor, pad: f64) -> Tensor {
        let d = v - &self.x;
        let nd = norm2(&d);
        (&self.x + &d / (&nd + 1e-12) * (&nd + pad).clamp_max(self.eps)).clamp(0.0, 1.0)
    }

    /// x⁽ᵏ⁺¹⁾: a step along the gradient's sign (L∞) or direction (L2),
    /// projected, then momentum 0.75 toward it from x⁽ᵏ⁾ (none at k = 0).
    fn momentum_step(&mut self, i: usize) {
        let _g = tch::no_grad_guard();
        let grad2 = &self.x_adv - &self.x_adv_old;
        self.x_adv_old = self.x_adv.copy();
        let a = if i > 0 { 0.75 } else { 1.0 };
        let x_adv = &self.x_adv;
        self.x_adv = match self.a.norm {
            Norm::Inf => {
                let z1 = self.project_inf(&(x_adv + &self.step_size * self.grad.sign()));
                self.project_inf(&(x_adv + (z1 - x_adv) * a + grad2 * (1.0 - a)))
            }
            Norm::L2 => {
                let z1 = x_adv + &self.step_size * &self.grad / (norm2(&self.grad) + 1e-12);
                let z1 = self.project_2(&z1, 0.0);
                let z1 = x_adv + (z1 - x_adv) * a + grad2 * (1.0 - a);
                self.project_2(&z1, 1e-12)
            }
        };
    }

    /// The new iterate's loss and gradient: which clips it fools, and the
    /// best-loss iterate so far.
    fn record(&mut self, i: usize, loss: Tensor, grad: Tensor, z: &Tensor, y: &Tensor) {
        let pred = z.argmax(1, false).eq_tensor(y);
        let wrong = pred.logical_not();
        for (j, ok) in bools(&pred).into_iter().enumerate() {
            if !ok {
                self.robust[j] = false;
                self.first_fooled[j].get_or_insert(i + 1);
            }
        }
        let w = wrong.view(&self.shape[..]);
        self.x_best_adv = self.x_adv.where_self(&w, &self.x_best_adv);
        // Kept in single precision, as the reference's `loss_steps`.
        self.steps_loss.push(loss.to_kind(Kind::Float));
        let better = loss.gt_tensor(&self.loss_best);
        let bw = better.view(&self.shape[..]);
        self.x_best = self.x_adv.where_self(&bw, &self.x_best);
        self.grad_best = grad.where_self(&bw, &self.grad_best);
        self.loss_best = loss.where_self(&better, &self.loss_best);
        self.grad = grad;
        self.counter += 1;
    }

    /// At a checkpoint: halve the step of the clips whose loss rose in at
    /// most ρ of the last k steps, or that did not improve since the last
    /// checkpoint without a cut then, and restart them from their best
    /// iterate; the next interval is shorter.
    fn checkpoint(&mut self, i: usize) {
        let (k, n) = (self.k, self.reduced_last.len());
        let device = self.x.device();
        let mut rose = Tensor::zeros([n as i64], (Kind::Float, device));
        for c in 0..k {
            let now = &self.steps_loss[i - c];
            let before = if i > c {
                self.steps_loss[i - c - 1].shallow_clone()
            } else {
                now.zeros_like()
            };
            rose += now.gt_tensor(&before).to_kind(Kind::Float);
        }
        let oscillating = bools(&rose.le(k as f64 * self.a.rho));
        let no_gain = bools(&self.loss_best_last.ge_tensor(&self.loss_best));
        let halve: Vec<bool> = (0..n)
            .map(|j| oscillating[j] || (!self.reduced_last[j] && no_gain[j]))
            .collect();
        self.reduced_last = halve.clone();
        self.loss_best_last = self.loss_best.copy();
        if halve.iter().any(|&h| h) {
            let h = Tensor::from_slice(&halve).to_device(device);
            let hw = h.view(&self.shape[..]);
            self.step_size = (&self.step_size / 2.0).where_self(&hw, &self.step_size);
            self.x_adv = self.x_best.where_self(&hw, &self.x_adv);
            self.grad = self.grad_best.where_self(&hw, &self.grad);
        }
        self.counter = 0;
        let steps = self.a.steps as f64;
        let (min, decr) = (
            ((0.06 * steps) as usize).max(1),
            ((0.03 * steps) as usize).max(1),
        );
        self.k = k.saturating_sub(decr).max(min);
    }

    fn finish(self) -> SingleRun {
        SingleRun {
            best: self.x_best,
            robust: self.robust,
            loss_best: self.loss_best,
            best_adv: self.x_best_adv,
            first_fooled: self.first_fooled,
        }
    }
}

/// Per-clip norm over every dimension but the first, shaped N×1×…×1.
fn norm2(t: &Tensor) -> Tensor {
    let dims: Vec<i64> = (1..t.dim() as i64).collect();
    (t * t).sum_dim_intlist(&dims[..], true, t.kind()).sqrt()
}

fn per_clip(n: i64, dim: usize) -> Vec<i64> {
    let mut shape = vec![n];
    shape.extend(std::iter::repeat_n(1, dim - 1));
    shape
}

/// DLR (untargeted): −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12).
pub fn dlr(z: &Tensor, y: &Tensor) -> Tensor {
    let (sorted, ind) = z.sort(1, false);
    let c = z.size()[1];
    let top_is_y = ind.select(1, c - 1).eq_tensor(y).to_kind(z.kind());
    let zy = z.gather(1, &y.unsqueeze(1), false).squeeze_dim(1);
    let (s1, s2, s3) = (
        sorted.select(1, c - 1),
        sorted.select(1, c - 2),
        sorted.select(1, c - 3),
    );
    // The reference's order of operations, for bit-equal results.
    let num: Tensor = zy - &s2 * &top_is_y - &s1 * (1.0 - &top_is_y);
    let denom: Tensor = &s1 - &s3 + 1e-12;
    -num / denom
}

/// Targeted DLR: −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12).
pub fn dlr_targeted(z: &Tensor, y: &Tensor, t: &Tensor) -> Tensor {
    let (sorted, _) = z.sort(1, false);
    let c = z.size()[1];
    let zy = z.gather(1, &y.unsqueeze(1), false).squeeze_dim(1);
    let zt = z.gather(1, &t.unsqueeze(1), false).squeeze_dim(1);
    -(zy - zt)
        / (sorted.select(1, c - 1) - sorted.select(1, c - 3) * 0.5 - sorted.select(1, c - 4) * 0.5
            + 1e-12)
}

impl Apgd {
    /// The step counts after which a checkpoint is taken (cumulative).
    pub fn checkpoints(steps: usize) -> Vec<usize> {
        let first = ((0.22 * steps as f64) as usize).max(1);
        let min = ((0.06 * steps as f64) as usize).max(1);
        let decr = ((0.03 * steps as f64) as usize).max(1);
        let (mut at, mut k) = (Vec::new(), first);
        let mut done = 0;
        while done + k <= steps {
            done += k;
            at.push(done);
            k = k.saturating_sub(decr).max(min);
        }
        at
    }

    /// The smallest class count the DLR loss needs: it reads the
    /// third-largest logit (3 classes), the targeted one the fourth (4), as
    /// AutoAttack's `check_n_classes` says (2 for cross-entropy).
    pub fn min_classes(&self) -> i64 {
        match (self.loss, self.targets) {
            (Loss::Ce, _) => 2,
            (Loss::Dlr, 0) => 3,
            (Loss::Dlr, _) => 4,
        }
    }

    /// What runs in place of the DLR loss with `classes` classes, too few for
    /// it: the reference only warns (`check_n_classes`) and its DLR would read
    /// logits that do not exist, so advp attacks with cross-entropy instead,
    /// untargeted for APGD-DLR and the reference's targeted cross-entropy
    /// (`ce-targeted`: −CE(z, t)) for APGD-T. `None`: the loss as written.
    pub fn fallback(&self, classes: i64) -> Option<&'static str> {
        if classes >= self.min_classes() {
            return None;
        }
        Some(match self.targets {
            0 => "cross-entropy in place of the DLR loss, which reads the 3rd-largest logit",
            _ => "the targeted cross-entropy −CE(z, t) in place of the targeted DLR loss, which reads the 4th-largest logit",
        })
    }

    /// The classes APGD-T targets with `classes` classes: `targets`, or
    /// every other class when there are fewer (min(9, classes − 1) for
    /// AutoAttack's 9, as torchattacks' `APGDT` targets classes − 1; the
    /// reference flags more targets than classes − 1 as a mistake).
    pub fn targets_for(&self, classes: i64) -> usize {
        self.targets.min(usize::try_from(classes - 1).unwrap_or(0))
    }

    /// The per-clip loss; below the DLR loss's class count, its
    /// [`Apgd::fallback`].
    fn losses(&self, z: &Tensor, y: &Tensor, target: Option<&Tensor>) -> Tensor {
        let ce = |labels: &Tensor| {
            z.cross_entropy_loss::<Tensor>(labels, None, Reduction::None, -100, 0.0)
        };
        let fallback = self.fallback(z.size()[1]).is_some();
        match (self.loss, target) {
            (Loss::Ce, _) => ce(y),
            (Loss::Dlr, None) if fallback => ce(y),
            (Loss::Dlr, Some(t)) if fallback => -ce(t),
            (Loss::Dlr, None) => dlr(z, y),
            (Loss::Dlr, Some(t)) => dlr_targeted(z, y, t),
        }
    }

    /// Loss per clip and the gradient of their sum at `x`.
    fn loss_grad(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
        target: Option<&Tensor>,
    ) -> NodeResult<(Tensor, Tensor, Tensor)> {
        // EOT as the reference's `eot_iter`: the gradient averaged over
        // `eot` passes; the loss and logits are the last pass's.
        let mut grad: Option<Tensor> = None;
        let mut last = None;
        for _ in 0..self.eot.max(1) {
            // Once a pass: `eot(samples: N)` stops within one.
            stop_requested()?;
            let xa = x.detach().set_requires_grad(true);
            let z = f(&xa);
            let l = self.losses(&z, y, target);
            let g = super::pgd::grad(&l.sum(l.kind()), &xa)?;
            grad = Some(match grad {
                None => g,
                Some(acc) => acc + g,
            });
            last = Some((l.detach(), z.detach()));
        }
        let (l, z) = last.expect("at least one pass");
        let g = grad.expect("at least one pass") / self.eot.max(1) as f64;
        Ok((l, g, z))
    }

    /// One run from the start `t` (uniform in [−1, 1] for L∞, Gaussian for
    /// L2, shaped like `x`), against `target` (APGD-T) or untargeted.
    pub fn single_run(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
        t: &Tensor,
        target: Option<&Tensor>,
    ) -> NodeResult<SingleRun> {
        self.single_run_with(f, x, y, t, target, &mut |_| {})
    }

    /// [`Apgd::single_run`], showing `on_step` every iterate x⁽ᵏ⁾ (tests
    /// check the constraints on each).
    pub fn single_run_with(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
        t: &Tensor,
        target: Option<&Tensor>,
        on_step: &mut dyn FnMut(&Tensor),
    ) -> NodeResult<SingleRun> {
        let x = x.detach();
        let x_adv = self.start(&x, t);
        let (loss, grad, z) = self.loss_grad(f, &x_adv, y, target)?;
        let mut run = Run::new(self, x, x_adv, loss, grad, &z, y);
        for i in 0..self.steps {
            run.momentum_step(i);
            on_step(&run.x_adv);
            let (loss, grad, z) = self.loss_grad(f, &run.x_adv, y, target)?;
            let _g = tch::no_grad_guard();
            run.record(i, loss, grad, &z, y);
            if run.counter == run.k {
                run.checkpoint(i);
            }
        }
        Ok(run.finish())
    }

    /// The start x⁽⁰⁾: `t` scaled to the ε-ball's surface (its largest
    /// element for L∞, its norm for L2), added to `x`, clipped to [0, 1].
    fn start(&self, x: &Tensor, t: &Tensor) -> Tensor {
        let _g = tch::no_grad_guard();
        let eps = self.eps / 255.0;
        let n = x.size()[0];
        let scale = match self.norm {
            Norm::Inf => t
                .reshape([n, -1])
                .abs()
                .amax([1], true)
                .reshape(&per_clip(n, x.dim())[..]),
            Norm::L2 => norm2(t) + 1e-12,
        };
        (x + t * eps / scale).clamp(0.0, 1.0)
    }

    /// The attack as an evaluation runs it: the clips the model gets right
    /// are attacked, restart after restart (and target after target for
    /// APGD-T), each time only those still robust. Gives the clips (a fooled
    /// clip's misclassified iterate, a robust clip's best-loss one) and per
    /// clip the step that first fooled it, counted over all runs.
    pub fn run_tracked(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
    ) -> NodeResult<(Tensor, Vec<Option<usize>>)> {
        let n = x.size()[0] as usize;
        let x = x.detach();
        let mut adv = x.copy();
        let (clean_z, mut fooled_at) = super::clean_start(f, &x, y);
        let targets: Vec<Option<i64>> = if self.targets == 0 {
            vec![None]
        } else {
            let k = self.targets_for(clean_z.size()[1]);
            (2..k as i64 + 2).map(Some).collect()
        };
        let mut spent = 0;
        let mut best_set = vec![false; n];
        for target_rank in targets {
            for _ in 0..self.restarts.max(1) {
                let Some(Rows {
                    at: todo,
                    idx,
                    x: xs,
                    y: ys,
                }) = rows_where(&x, y, |i| fooled_at[i].is_none())
                else {
                    break;
                };
                let t = match self.norm {
                    Norm::Inf => xs.rand_like() * 2.0 - 1.0,
                    Norm::L2 => xs.randn_like(),
                };
                let target = target_rank.map(|r| {
                    let c = clean_z.size()[1];
                    clean_z
                        .index_select(0, &idx)
                        .argsort(1, false)
                        .select(1, c - r)
                });
                let run = self.single_run(f, &xs, &ys, &t, target.as_ref())?;
                let _g = tch::no_grad_guard();
                // Fooled clips take their fooling iterate; a robust clip
                // keeps the first run's best-loss iterate.
                let (mut fooled, mut best) = ((vec![], vec![]), (vec![], vec![]));
                for (j, &i) in todo.iter().enumerate() {
                    let iu = i as usize;
                    if !run.robust[j] {
                        fooled_at[iu] = run.first_fooled[j].map(|s| spent + s);
                        fooled.0.push(i);
                        fooled.1.push(j as i64);
                    } else if !best_set[iu] {
                        best_set[iu] = true;
                        best.0.push(i);
                        best.1.push(j as i64);
                    }
                }
                adv = put_rows(&adv, &fooled.0, &run.best_adv, &fooled.1);
                adv = put_rows(&adv, &best.0, &run.best, &best.1);
                spent += self.steps;
            }
        }
        Ok((adv, fooled_at))
    }
}

impl AttackKind for Apgd {
    fn describe(&self) -> String {
        let name = match (self.loss, self.targets) {
            (Loss::Ce, _) => "APGD-CE".to_string(),
            (Loss::Dlr, 0) => "APGD-DLR".to_string(),
            (Loss::Dlr, t) => format!("APGD-T ({t} target classes, at most classes − 1)"),
        };
        let eot = if self.eot > 1 {
            format!(", EOT over {} samples", self.eot)
        } else {
            String::new()
        };
        format!(
            "{name} {} ε {}, {} steps, {} restart{}, ρ {}{eot}",
            norm_name(self.norm),
            units(self.eps),
            self.steps,
            self.restarts,
            if self.restarts == 1 { "" } else { "s" },
            self.rho
        )
    }
    fn eps(&self) -> f64 {
        self.eps
    }
    /// The initial step η⁽⁰⁾ = 2ε.
    fn alpha(&self) -> f64 {
        2.0 * self.eps
    }
    fn steps(&self) -> usize {
        self.steps * self.restarts.max(1) * self.targets.max(1)
    }
    /// APGD sets its own step size (2ε, halved at checkpoints).
    fn at_budget(&self, eps: f64, _alpha: Option<f64>) -> Apgd {
        Apgd {
            eps,
            ..self.clone()
        }
    }
    tracked_runs!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::attacks::Attack;
    use tch::Device;

    /// AutoAttack's APGD-T (9 targets) on fewer classes targets every other
    /// class, min(9, classes − 1), and runs on 4 classes exactly as APGD-T
    /// with 3 targets does.
    #[test]
    fn apgd_t_targets_at_most_the_other_classes_and_runs_on_four() {
        // Two seeded runs compared: alone, no other test draws in between.
        if !crate::runtime::alone::in_child(
            "runtime::attacks::apgd::tests::apgd_t_targets_at_most_the_other_classes_and_runs_on_four",
        ) {
            return;
        }
        let a = Apgd {
            norm: Norm::Inf,
            eps: 8.0,
            steps: 4,
            restarts: 1,
            loss: Loss::Dlr,
            targets: 9,
            rho: 0.75,
            eot: 1,
        };
        assert_eq!([100, 10, 5, 4].map(|c| a.targets_for(c)), [9, 9, 4, 3]);
        assert_eq!(a.min_classes(), 4);
        assert!(a.fallback(4).is_none() && a.fallback(3).is_some());
        tch::manual_seed(3);
        let w = Tensor::randn([4, 96], (Kind::Double, Device::Cpu));
        let x = Tensor::rand([6, 3, 2, 4, 4], (Kind::Double, Device::Cpu));
        let f = |v: &Tensor| v.flatten(1, -1).matmul(&w.tr());
        // Every clip starts correct, so every target is attacked.
        let y = f(&x).argmax(1, false);
        let run = |targets: usize| {
            let calls = std::cell::Cell::new(0);
            let counted = |v: &Tensor| {
                calls.set(calls.get() + 1);
                f(v)
            };
            tch::manual_seed(7);
            let adv = Attack::Apgd(Apgd {
                targets,
                ..a.clone()
            })
            .run(&counted, &x, &y)
            .unwrap_or_else(|e| panic!("APGD-T with {targets} targets on 4 classes: {e}"));
            (adv, calls.get())
        };
        let (nine, nine_calls) = run(9);
        let (three, three_calls) = run(3);
        assert_eq!(nine_calls, three_calls, "9 targets on 4 classes run 3");
        assert_eq!((&nine - &three).abs().max().double_value(&[]), 0.0);
        assert_eq!(nine.size(), x.size());
    }

    /// Below the DLR loss's class count APGD attacks with cross-entropy:
    /// APGD-T with −CE(z, t), APGD-DLR with CE, each equal to the loss
    /// computed another way; at 4 classes and more, DLR as written.
    #[test]
    fn below_the_dlr_class_count_apgd_attacks_with_cross_entropy() {
        let z3 = Tensor::from_slice(&[2.0f64, 0.5, -1.0, 0.1, 0.3, 3.0]).view([2, 3]);
        let y = Tensor::from_slice(&[0i64, 2]);
        let t = Tensor::from_slice(&[1i64, 0]);
        let log_softmax = |z: &Tensor| z.log_softmax(1, Kind::Double);
        let nll = |z: &Tensor, labels: &Tensor| {
            -log_softmax(z)
                .gather(1, &labels.unsqueeze(1), false)
                .squeeze_dim(1)
        };
        let apgd = |targets| Apgd {
            norm: Norm::Inf,
            eps: 8.0,
            steps: 1,
            restarts: 1,
            loss: Loss::Dlr,
            targets,
            rho: 0.75,
            eot: 1,
        };
        let close = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]) < 1e-12;
        // APGD-T on 3 classes: the targeted cross-entropy −CE(z, t).
        assert!(close(&apgd(9).losses(&z3, &y, Some(&t)), &-nll(&z3, &t)));
        // APGD-DLR on 3 classes is DLR; on 2, cross-entropy.
        assert!(close(&apgd(0).losses(&z3, &y, None), &dlr(&z3, &y)));
        let z2 = z3.narrow(1, 0, 2);
        let y2 = Tensor::from_slice(&[0i64, 1]);
        assert!(close(&apgd(0).losses(&z2, &y2, None), &nll(&z2, &y2)));
        // On 4 classes APGD-T is the targeted DLR loss.
        let z4 = Tensor::cat(
            &[&z3, &Tensor::zeros([2, 1], (Kind::Double, Device::Cpu))],
            1,
        );
        assert!(close(
            &apgd(9).losses(&z4, &y, Some(&t)),
            &dlr_targeted(&z4, &y, &t)
        ));
        assert!(apgd(9)
            .fallback(3)
            .unwrap()
            .contains("targeted cross-entropy"));
        assert!(apgd(0)
            .fallback(2)
            .unwrap()
            .contains("cross-entropy in place of the DLR"));
    }
}
