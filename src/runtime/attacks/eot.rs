//! EOT (Athalye et al. 2018): a gradient attack's gradient averaged over
//! `samples` passes of a randomized pipeline (APGD's carries it itself).

use super::pgd::{objective, value_and_grad, Masked, Pgd};
use super::{Apgd, Attack, AttackKind, Border, Fgsm, Patch};
use crate::runtime::error::{stop_requested, NodeResult};
use tch::Tensor;

one_line_per_attack! {
    /// The attacks EOT wraps: those that step along the model's gradient.
    #[derive(Clone, Debug, PartialEq)]
    pub enum GradientAttack {
        Fgsm(Fgsm),
        Pgd(Pgd),
        Patch(Patch),
        Border(Border),
        Apgd(Apgd),
    }
}

/// A gradient attack out of any attack; the others come back as they were.
impl TryFrom<Attack> for GradientAttack {
    type Error = Attack;
    fn try_from(a: Attack) -> Result<GradientAttack, Attack> {
        Ok(match a {
            Attack::Fgsm(a) => a.into(),
            Attack::Pgd(a) => a.into(),
            Attack::Patch(a) => a.into(),
            Attack::Border(a) => a.into(),
            Attack::Apgd(a) => a.into(),
            other => return Err(other),
        })
    }
}

/// The inner attack's gradient averaged over `samples` passes.
#[derive(Clone, Debug, PartialEq)]
pub struct Eot {
    pub inner: GradientAttack,
    pub samples: usize,
}

impl Eot {
    /// EOT over `samples` passes of `inner`; APGD takes the samples into
    /// its own steps.
    pub fn new(inner: GradientAttack, samples: usize) -> Eot {
        let inner = match inner {
            GradientAttack::Apgd(a) => GradientAttack::Apgd(Apgd { eot: samples, ..a }),
            other => other,
        };
        Eot { inner, samples }
    }
}

impl AttackKind for Eot {
    fn describe(&self) -> String {
        format!(
            "EOT over {} samples of {}",
            self.samples,
            self.inner.kind().describe()
        )
    }
    fn eps(&self) -> f64 {
        self.inner.kind().eps()
    }
    fn alpha(&self) -> f64 {
        self.inner.kind().alpha()
    }
    fn steps(&self) -> usize {
        self.inner.kind().steps()
    }
    fn at_budget(&self, eps: f64, alpha: Option<f64>) -> Eot {
        Eot {
            inner: self.inner.at_budget(eps, alpha),
            samples: self.samples,
        }
    }
    fn run(&self, f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> NodeResult<Tensor> {
        let stepped: &dyn Masked = match &self.inner {
            GradientAttack::Apgd(a) => return a.run(f, x, y),
            GradientAttack::Fgsm(a) => a,
            GradientAttack::Pgd(a) => a,
            GradientAttack::Patch(a) => a,
            GradientAttack::Border(a) => a,
        };
        // The mean of `samples` passes' gradients, each pass differentiated
        // and dropped before the next: memory stays that of one pass, and a
        // stop is seen within one, however many samples are asked for.
        let k = self.samples.max(1);
        let mean = |point: &Tensor| -> NodeResult<(Tensor, Tensor)> {
            let (mut value, mut grad) = value_and_grad(&|v| objective(&f(v), y), point)?;
            for _ in 1..k {
                stop_requested()?;
                let (v, g) = value_and_grad(&|v| objective(&f(v), y), point)?;
                value += v;
                grad += g;
            }
            Ok((value / k as f64, grad / k as f64))
        };
        let (pgd, mask) = stepped.pgd_and_mask(x)?;
        pgd.ascend_by(&mean, x, mask.as_ref(), &mut |_| {}, None)
    }
}
