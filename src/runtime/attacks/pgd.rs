//! PGD in [0, 1] pixel space under L∞ and L2 (Eq. 7), FGSM as its one-step case;
//! the core every other attack runs.
//!
//! ε and α arrive in 0..255 units and are divided by 255 here. Every step
//! clamps x + δ to [0, 1]. Gradients are taken with respect to the input only
//! (`run_backward` on the clip), so model parameters never accumulate a
//! gradient during an attack; the caller chooses BatchNorm's mode.

use super::{norm_name, units, AttackKind, Found};
use crate::runtime::error::{stop_requested, NoGradient, NodeResult};
use tch::{Kind, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Norm {
    Inf,
    L2,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pgd {
    pub norm: Norm,
    /// Budget ε in 0..255 units.
    pub eps: f64,
    /// Step α in 0..255 units.
    pub alpha: f64,
    pub steps: usize,
    pub random_start: bool,
}

impl Pgd {
    /// FGSM: one signed step of size ε from δ = 0.
    pub fn fgsm(eps: f64) -> Pgd {
        Pgd {
            norm: Norm::Inf,
            eps,
            alpha: eps,
            steps: 1,
            random_start: false,
        }
    }
}

/// Mean cross-entropy of logits against labels.
pub fn loss(logits: &Tensor, y: &Tensor) -> Tensor {
    logits.cross_entropy_for_logits(y)
}

/// What a gradient attack ascends: the mean loss, weighted on one rank of
/// several by its share of the batch ([`crate::runtime::dist::loss_weight`]),
/// so that with BatchNorm synced in train mode the ranks' gradients are the
/// one-process batch's (a constant factor alone changes no step's sign).
pub fn objective(logits: &Tensor, y: &Tensor) -> Tensor {
    let l = loss(logits, y);
    match crate::runtime::dist::loss_weight() {
        w if w != 1.0 => l * w,
        _ => l,
    }
}

/// ∇ₓ of the mean loss at `x`, for the input only.
pub fn input_grad(f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> NodeResult<Tensor> {
    objective_grad(&|v| objective(&f(v), y), x)
}

/// ∇ₓ of a scalar objective at `x`, for the input only.
pub fn objective_grad(objective: &dyn Fn(&Tensor) -> Tensor, x: &Tensor) -> NodeResult<Tensor> {
    Ok(value_and_grad(objective, x)?.1)
}

/// The objective's value at `x` (a detached scalar tensor: reading it is left
/// to the caller, as it waits for the device) and its gradient there.
pub(super) fn value_and_grad(
    objective: &dyn Fn(&Tensor) -> Tensor,
    x: &Tensor,
) -> NodeResult<(Tensor, Tensor)> {
    let xa = x.detach().set_requires_grad(true);
    let l = objective(&xa);
    let v = l.detach();
    let g = grad(&l, &xa)?;
    Ok((v, g))
}

/// ∂`outputs`/∂`inputs` (summed over the outputs), or [`NoGradient`] when
/// the outputs do not depend differentiably on every input. Checked before
/// the backward pass: autograd asked for the gradient of a tensor without a
/// gradient function is an error inside libtorch. The one place attacks
/// and training methods take a gradient with respect to clips.
pub fn gradients(outputs: &[&Tensor], inputs: &[&Tensor]) -> Result<Vec<Tensor>, NoGradient> {
    let none = NoGradient { of: "the input" };
    if outputs.iter().any(|t| !t.requires_grad()) || inputs.iter().any(|t| !t.requires_grad()) {
        return Err(none);
    }
    match Tensor::f_run_backward(outputs, inputs, false, false) {
        Ok(g) if g.len() == inputs.len() && g.iter().all(Tensor::defined) => Ok(g),
        _ => Err(none),
    }
}

/// ∂`output`/∂`input` ([`gradients`]), or the attack stops with
/// [`NodeError::NoGradient`](crate::runtime::error::NodeError::NoGradient).
pub fn grad(output: &Tensor, input: &Tensor) -> NodeResult<Tensor> {
    let mut g = gradients(&[output], &[input])?;
    Ok(g.pop().expect("one gradient per input"))
}

/// The clips an attack still works on: the rows of a batch that `keep`
/// accepts, as indices, an index tensor and their clips and labels.
pub struct Rows {
    pub at: Vec<i64>,
    pub idx: Tensor,
    pub x: Tensor,
    pub y: Tensor,
}

/// The rows of `x` and `y` whose index `keep` accepts; `None` when no row is
/// left (attacks that move a subset of the batch select it this way and
/// write it back with [`put_rows`]).
pub fn rows_where(x: &Tensor, y: &Tensor, keep: impl Fn(usize) -> bool) -> Option<Rows> {
    let at: Vec<i64> = (0..x.size()[0] as usize)
        .filter(|&i| keep(i))
        .map(|i| i as i64)
        .collect();
    if at.is_empty() {
        return None;
    }
    let idx = Tensor::from_slice(&at).to_device(x.device());
    let (x, y) = (x.index_select(0, &idx), y.index_select(0, &idx));
    Some(Rows { at, idx, x, y })
}

/// `dst` with its rows `at` replaced by the rows `from` of `src`, in one copy
/// (attacks that move a subset of the batch write it back this way).
pub fn put_rows(dst: &Tensor, at: &[i64], src: &Tensor, from: &[i64]) -> Tensor {
    if at.is_empty() {
        return dst.shallow_clone();
    }
    let device = dst.device();
    let (at, from) = (
        Tensor::from_slice(at).to_device(device),
        Tensor::from_slice(from).to_device(device),
    );
    dst.index_copy(0, &at, &src.index_select(0, &from))
}

/// Per-sample L2 norm, shaped N×1×…×1 for broadcasting.
fn norms(t: &Tensor) -> Tensor {
    let n = t.size()[0];
    let mut shape = vec![n];
    shape.extend(std::iter::repeat_n(1, t.dim() - 1));
    t.reshape([n, -1])
        .norm_scalaropt_dim(2, [1], false)
        .reshape(&shape[..])
}

/// Projects δ onto the ε-ball of the norm.
pub fn project(delta: &Tensor, norm: Norm, eps: f64) -> Tensor {
    match norm {
        Norm::Inf => delta.clamp(-eps, eps),
        Norm::L2 => {
            let factor = (eps / (norms(delta) + 1e-12)).clamp_max(1.0);
            delta * factor
        }
    }
}

/// A random start inside the ball: uniform per pixel for L∞; for L2 a uniform
/// direction with radius ε·u^(1/d), uniform in the ball's volume. Drawn from
/// libtorch's generator, which the trainer reseeds for every batch.
fn random_start(x: &Tensor, norm: Norm, eps: f64) -> Tensor {
    match norm {
        Norm::Inf => crate::runtime::dist::rand_like(x) * (2.0 * eps) - eps,
        Norm::L2 => {
            let d = x.numel() as f64 / x.size()[0] as f64;
            let dir = crate::runtime::dist::randn_like(x);
            let dir = &dir / (norms(&dir) + 1e-12);
            let n = x.size()[0];
            let mut shape = vec![n];
            shape.extend(std::iter::repeat_n(1, x.dim() - 1));
            let r = crate::runtime::dist::rand(&shape[..], (Kind::Float, x.device()))
                .pow_tensor_scalar(1.0 / d)
                * eps;
            dir * r
        }
    }
}

impl Pgd {
    /// The adversarial clip x + δ. `f` maps clips to logits. `on_step` sees δ
    /// after every step (tests check the constraints on each one).
    pub fn run_with(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
        on_step: &mut dyn FnMut(&Tensor),
    ) -> NodeResult<Tensor> {
        self.run_masked(f, x, y, None, on_step)
    }

    /// PGD whose perturbation lives only where `mask` (N×1×1×H×W of 0/1) is 1:
    /// Eq. 7 inside a patch or a frame border; `None` is the whole clip.
    pub fn run_masked(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
        mask: Option<&Tensor>,
        on_step: &mut dyn FnMut(&Tensor),
    ) -> NodeResult<Tensor> {
        self.maximise(&|v| objective(&f(v), y), x, mask, on_step)
    }

    /// PGD ascent on any scalar objective of the clip (the cross-entropy of a
    /// classifier for every attack above; a generator's reconstruction error
    /// when APE-GAN trains without a classifier).
    pub fn maximise(
        &self,
        objective: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        mask: Option<&Tensor>,
        on_step: &mut dyn FnMut(&Tensor),
    ) -> NodeResult<Tensor> {
        self.ascend(objective, x, mask, on_step, None)
    }

    /// The objective after every step of one run: index m is its value at
    /// x + δ after m steps (0: the start), for m = 0..=steps. PGD evaluates the
    /// objective at each iterate for its gradient anyway; one more evaluation
    /// after the last step completes the trace, so a whole steps axis costs one
    /// run (`loss_surface`).
    pub fn trace(&self, objective: &dyn Fn(&Tensor) -> Tensor, x: &Tensor) -> NodeResult<Vec<f64>> {
        let mut values = Vec::new();
        let adv = self.ascend(objective, x, None, &mut |_| {}, Some(&mut values))?;
        let _g = tch::no_grad_guard();
        values.push(objective(&adv).double_value(&[]));
        Ok(values)
    }

    fn ascend(
        &self,
        objective: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        mask: Option<&Tensor>,
        on_step: &mut dyn FnMut(&Tensor),
        record: Option<&mut Vec<f64>>,
    ) -> NodeResult<Tensor> {
        self.ascend_by(&|p| value_and_grad(objective, p), x, mask, on_step, record)
    }

    /// PGD ascent given the objective's value and gradient at a point
    /// (`ascend` takes them from one backward pass; EOT sums its passes'
    /// gradients one pass at a time, so that no pass's graph outlives it).
    pub(super) fn ascend_by(
        &self,
        value_and_grad: &dyn Fn(&Tensor) -> NodeResult<(Tensor, Tensor)>,
        x: &Tensor,
        mask: Option<&Tensor>,
        on_step: &mut dyn FnMut(&Tensor),
        mut record: Option<&mut Vec<f64>>,
    ) -> NodeResult<Tensor> {
        let x = x.detach();
        if self.eps <= 0.0 || self.steps == 0 {
            return Ok(x);
        }
        let mut delta = self.first_delta(&x, mask, self.steps);
        for _ in 0..self.steps {
            // A stop is seen within a step, however many steps are asked for.
            stop_requested()?;
            let (value, g) = value_and_grad(&(&x + &delta))?;
            if let Some(r) = record.as_deref_mut() {
                r.push(value.double_value(&[]));
            }
            delta = self.next_delta(&g, &x, &delta, mask);
            on_step(&delta);
        }
        Ok((&x + delta).detach())
    }

    pub fn run(&self, f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> NodeResult<Tensor> {
        self.run_with(f, x, y, &mut |_| {})
    }

    /// PGD with early exit (the worst-case protocol): each clip keeps the
    /// first iterate that is misclassified and leaves the batch there. Gives
    /// the clips and, per clip, the step of that iterate (0: the start point)
    /// or `None` if no iterate fooled it. `judge` classifies an iterate when
    /// the attacked function is not the one evaluated (BatchNorm in train
    /// mode, the classifier alone); `None` reads the attack's own logits.
    pub fn run_until_fooled(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        judge: Option<&dyn Fn(&Tensor) -> Tensor>,
        x: &Tensor,
        y: &Tensor,
        mask: Option<&Tensor>,
    ) -> NodeResult<(Tensor, Vec<Option<usize>>)> {
        let n = x.size()[0];
        let eps = self.eps / 255.0;
        let x = x.detach();
        let steps = if eps <= 0.0 { 0 } else { self.steps };
        let mut delta = self.first_delta(&x, mask, steps);
        let mut fooled_at: Vec<Option<usize>> = vec![None; n as usize];
        // The clips still attacked, as indices into the batch.
        let mut active: Vec<i64> = (0..n).collect();
        for s in 0..=steps {
            if active.is_empty() {
                break;
            }
            stop_requested()?;
            let idx = Tensor::from_slice(&active).to_device(x.device());
            let (xs, ys, ds) = (
                x.index_select(0, &idx),
                y.index_select(0, &idx),
                delta.index_select(0, &idx),
            );
            let ms = mask.map(|m| {
                if m.size()[0] == n {
                    m.index_select(0, &idx)
                } else {
                    m.shallow_clone()
                }
            });
            let point = (&xs + &ds).detach().set_requires_grad(s < steps);
            let logits = f(&point);
            let wrong = misclassified(judge, &point, &logits, &ys);
            let keep: Vec<usize> = (0..active.len()).filter(|&j| !wrong[j]).collect();
            for (j, &w) in wrong.iter().enumerate() {
                if w {
                    fooled_at[active[j] as usize] = Some(s);
                }
            }
            if s == steps || keep.is_empty() {
                break;
            }
            // The mean over the whole batch, as plain PGD takes it: each
            // clip's gradient is then the same whoever is still in the batch.
            let objective = loss(&logits, &ys) * (active.len() as f64 / n as f64);
            let g = grad(&objective, &point)?;
            let next = self.next_delta(&g, &xs, &ds, ms.as_ref());
            // Only the clips still robust move; the fooled keep their iterate.
            let kept: Vec<i64> = keep.iter().map(|&j| j as i64).collect();
            let moved_to: Vec<i64> = keep.iter().map(|&j| active[j]).collect();
            delta = put_rows(&delta, &moved_to, &next, &kept);
            active = moved_to;
        }
        Ok(((&x + delta).detach(), fooled_at))
    }

    /// δ⁽⁰⁾: a random start in the (masked) ball where the attack takes a
    /// step, else 0; x + δ stays in [0, 1].
    fn first_delta(&self, x: &Tensor, mask: Option<&Tensor>, steps: usize) -> Tensor {
        let _g = tch::no_grad_guard();
        let d = if self.random_start && steps > 0 {
            masked(random_start(x, self.norm, self.eps / 255.0), mask)
        } else {
            x.zeros_like()
        };
        (x + d).clamp(0.0, 1.0) - x
    }

    /// δ after one step along the (masked) gradient `g`: the sign step (L∞)
    /// or the normalised one (L2) of α, projected to the ε-ball and to
    /// x + δ in [0, 1].
    fn next_delta(&self, g: &Tensor, x: &Tensor, delta: &Tensor, mask: Option<&Tensor>) -> Tensor {
        let _g = tch::no_grad_guard();
        let (eps, alpha) = (self.eps / 255.0, self.alpha / 255.0);
        let g = masked(g.shallow_clone(), mask);
        let step = match self.norm {
            Norm::Inf => g.sign() * alpha,
            Norm::L2 => &g / (norms(&g) + 1e-12) * alpha,
        };
        let next = project(&(delta + step), self.norm, eps);
        (x + &next).clamp(0.0, 1.0) - x
    }
}

/// `t` under the mask (a patch, a border), or `t`.
fn masked(t: Tensor, mask: Option<&Tensor>) -> Tensor {
    match mask {
        Some(m) => t * m,
        None => t,
    }
}

/// Which clips the iterate `point` fools: by `judge` where the attacked
/// function is not the evaluated one, else by the attack's own `logits`.
fn misclassified(
    judge: Option<&dyn Fn(&Tensor) -> Tensor>,
    point: &Tensor,
    logits: &Tensor,
    y: &Tensor,
) -> Vec<bool> {
    let _g = tch::no_grad_guard();
    let l = match judge {
        Some(j) => j(&point.detach()),
        None => logits.detach(),
    };
    Vec::<bool>::try_from(l.argmax(-1, false).ne_tensor(y).to_device(tch::Device::Cpu))
        .unwrap_or_else(|_| vec![false; y.size()[0] as usize])
}

/// FGSM, PGD and the PGDs inside a patch or on a frame border: the PGD each
/// steps and, for a patch or a border, the mask of the clips' shape.
pub trait Masked {
    fn pgd_and_mask(&self, x: &Tensor) -> NodeResult<(Pgd, Option<Tensor>)>;
}

/// A [`Masked`] attack's adversarial clips.
pub(super) fn masked_run(
    a: &dyn Masked,
    f: &dyn Fn(&Tensor) -> Tensor,
    x: &Tensor,
    y: &Tensor,
) -> NodeResult<Tensor> {
    let (pgd, mask) = a.pgd_and_mask(x)?;
    pgd.run_masked(f, x, y, mask.as_ref(), &mut |_| {})
}

/// A [`Masked`] attack with early exit per clip (the worst-case protocol).
pub(super) fn masked_run_until_fooled(
    a: &dyn Masked,
    v: super::Victim,
    x: &Tensor,
    y: &Tensor,
) -> NodeResult<Found> {
    let (pgd, mask) = a.pgd_and_mask(x)?;
    let (adv, steps) = pgd.run_until_fooled(v.f, v.judge, x, y, mask.as_ref())?;
    Ok(Found::tracked(adv, steps))
}

impl Pgd {
    /// `L∞ ε 8, α 2, 10 steps, random start`: the words every PGD-based
    /// attack's description shares.
    pub(super) fn summary(&self) -> String {
        let start = if self.random_start {
            "random start"
        } else {
            "from the clean clip"
        };
        format!(
            "{} ε {}, α {}, {} step{}, {start}",
            norm_name(self.norm),
            units(self.eps),
            units(self.alpha),
            self.steps,
            if self.steps == 1 { "" } else { "s" }
        )
    }

    /// The same PGD at budget ε with step α (kept when `None`).
    pub(super) fn with_budget(&self, eps: f64, alpha: Option<f64>) -> Pgd {
        Pgd {
            eps,
            alpha: alpha.unwrap_or(self.alpha),
            ..self.clone()
        }
    }
}

impl Masked for Pgd {
    fn pgd_and_mask(&self, _x: &Tensor) -> NodeResult<(Pgd, Option<Tensor>)> {
        Ok((self.clone(), None))
    }
}

impl AttackKind for Pgd {
    fn describe(&self) -> String {
        format!("PGD {}", self.summary())
    }
    fn eps(&self) -> f64 {
        self.eps
    }
    fn alpha(&self) -> f64 {
        self.alpha
    }
    fn steps(&self) -> usize {
        self.steps
    }
    fn at_budget(&self, eps: f64, alpha: Option<f64>) -> Pgd {
        self.with_budget(eps, alpha)
    }
    fn as_pgd(&self) -> Option<Pgd> {
        Some(self.clone())
    }
    masked_runs!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn no_gradient_is_a_typed_error_not_a_backward_through_nothing() {
        let x = Tensor::rand([2, 3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let w = Tensor::ones([3, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        // Differentiable: the gradient of Σ x·w is w's row sums.
        let g = gradients(&[&x.matmul(&w).sum(Kind::Float)], &[&x]).unwrap();
        assert!(g[0].allclose(
            &Tensor::full([2, 3], 2.0, (Kind::Float, Device::Cpu)),
            1e-6,
            1e-6,
            false
        ));
        // Under no_grad: the output has no gradient function at all.
        let out = {
            let _g = tch::no_grad_guard();
            x.matmul(&w).sum(Kind::Float)
        };
        assert_eq!(gradients(&[&out], &[&x]).unwrap_err().of, "the input");
        // Through `.detach()`: a gradient to w, none to x.
        let out = x.detach().matmul(&w).sum(Kind::Float);
        assert!(out.requires_grad());
        assert!(gradients(&[&out], &[&x]).is_err());
        // An attack on such a model stops with the typed error.
        let y = Tensor::from_slice(&[0i64, 1]);
        let pgd = Pgd {
            norm: Norm::Inf,
            eps: 8.0,
            alpha: 2.0,
            steps: 2,
            random_start: false,
        };
        let clips = Tensor::rand([2, 3], (Kind::Float, Device::Cpu));
        let stopped = pgd
            .run(&|v: &Tensor| v.detach().matmul(&w), &clips, &y)
            .unwrap_err();
        assert!(
            matches!(
                &stopped,
                crate::runtime::error::NodeError::NoGradient(g) if *g == NoGradient { of: "the input" }
            ),
            "{stopped:?}"
        );
    }
}
