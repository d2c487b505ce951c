//! Every attack the runtime executes, as one enum over the PGD core
//! ([`super::pgd`]) and the video attacks ([`super::video_attacks`]).

pub use super::apgd::Apgd;
pub use super::pgd::{input_grad, loss, objective_grad, project, Norm, Pgd};

use super::video_attacks::{self as video, Flicker, Position, SaliencyMode};
use tch::Tensor;

/// Per clip, the step whose iterate first fooled it (`None`: none did).
pub type FooledAt = Vec<Option<usize>>;

/// Every attack the runtime executes, with its budget applied.
#[derive(Clone, Debug, PartialEq)]
pub enum Attack {
    /// One signed step of size ε.
    Fgsm(f64),
    Pgd(Pgd),
    /// PGD inside a rectangle covering `ratio` of each frame.
    Patch {
        pgd: Pgd,
        ratio: f64,
        position: Position,
    },
    /// PGD on a frame border covering `ratio` of each frame.
    Border {
        pgd: Pgd,
        ratio: f64,
    },
    Saliency {
        mode: SaliencyMode,
        inner: Pgd,
    },
    Flicker(Flicker),
    /// APGD-CE, APGD-DLR or APGD-T ([`super::apgd`]).
    Apgd(Apgd),
}

impl Attack {
    /// FGSM and PGD as a [`Pgd`] (FGSM is one step of ε from δ = 0); the
    /// other attacks have masks, frame choices or no ε-ball.
    pub fn as_pgd(&self) -> Option<Pgd> {
        match self {
            Attack::Fgsm(e) => Some(Pgd::fgsm(*e)),
            Attack::Pgd(p) => Some(p.clone()),
            _ => None,
        }
    }

    /// The same attack at budget ε with step α (flickering has no ε-ball and keeps its step).
    pub fn at(&self, eps: f64, alpha: Option<f64>) -> Attack {
        let set = |p: &Pgd| Pgd {
            eps,
            alpha: alpha.unwrap_or(p.alpha),
            ..p.clone()
        };
        match self {
            Attack::Fgsm(_) => Attack::Fgsm(eps),
            Attack::Pgd(p) => Attack::Pgd(set(p)),
            Attack::Patch {
                pgd,
                ratio,
                position,
            } => Attack::Patch {
                pgd: set(pgd),
                ratio: *ratio,
                position: position.clone(),
            },
            Attack::Border { pgd, ratio } => Attack::Border {
                pgd: set(pgd),
                ratio: *ratio,
            },
            Attack::Saliency { mode, inner } => Attack::Saliency {
                mode: *mode,
                inner: set(inner),
            },
            Attack::Flicker(f) => Attack::Flicker(f.clone()),
            // APGD sets its own step size (2ε, halved at checkpoints).
            Attack::Apgd(a) => Attack::Apgd(Apgd { eps, ..a.clone() }),
        }
    }

    /// The budget ε (0 for flickering, which has none).
    pub fn eps(&self) -> f64 {
        match self {
            Attack::Fgsm(e) => *e,
            Attack::Pgd(p) | Attack::Patch { pgd: p, .. } | Attack::Border { pgd: p, .. } => p.eps,
            Attack::Saliency { inner, .. } => inner.eps,
            Attack::Flicker(_) => 0.0,
            Attack::Apgd(a) => a.eps,
        }
    }

    /// The step α (flickering: its sign step).
    pub fn alpha(&self) -> f64 {
        match self {
            Attack::Fgsm(e) => *e,
            Attack::Pgd(p) | Attack::Patch { pgd: p, .. } | Attack::Border { pgd: p, .. } => {
                p.alpha
            }
            Attack::Saliency { inner, .. } => inner.alpha,
            Attack::Flicker(f) => f.step,
            // The initial step η⁽⁰⁾ = 2ε.
            Attack::Apgd(a) => 2.0 * a.eps,
        }
    }

    /// The adversarial clips under the worst-case protocol: PGD-based
    /// attacks stop per clip at the first misclassified iterate (its step
    /// given per clip); the others run whole (`None`: steps not tracked, the
    /// caller judges the result).
    pub fn run_until_fooled(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        judge: Option<&dyn Fn(&Tensor) -> Tensor>,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<(Tensor, Option<FooledAt>), String> {
        let s = x.size();
        let (adv, steps) = match self {
            Attack::Fgsm(e) => Pgd::fgsm(*e).run_until_fooled(f, judge, x, y, None),
            Attack::Pgd(p) => p.run_until_fooled(f, judge, x, y, None),
            Attack::Patch {
                pgd,
                ratio,
                position,
            } => {
                let mask = video::patch_mask(s[0], s[3], s[4], *ratio, position, x.device());
                pgd.run_until_fooled(f, judge, x, y, Some(&mask))
            }
            Attack::Border { pgd, ratio } => {
                let t = video::border_thickness(s[3], s[4], *ratio)?;
                let mask = video::border_mask(s[0], s[3], s[4], t, x.device());
                pgd.run_until_fooled(f, judge, x, y, Some(&mask))
            }
            Attack::Apgd(a) => {
                a.check_classes(f, x)?;
                a.run(f, x, y)
            }
            _ => return Ok((self.run(f, x, y)?, None)),
        };
        Ok((adv, Some(steps)))
    }

    /// The number of steps of the attack (the iterate `independent` counts).
    pub fn steps(&self) -> usize {
        match self {
            Attack::Fgsm(_) => 1,
            Attack::Pgd(p) | Attack::Patch { pgd: p, .. } | Attack::Border { pgd: p, .. } => {
                p.steps
            }
            Attack::Saliency { inner, .. } => inner.steps,
            Attack::Flicker(f) => f.steps,
            Attack::Apgd(a) => a.steps * a.restarts.max(1) * a.targets.max(1),
        }
    }

    /// The adversarial clips.
    pub fn run(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<Tensor, String> {
        let s = x.size();
        Ok(match self {
            Attack::Fgsm(e) => Pgd::fgsm(*e).run(f, x, y),
            Attack::Pgd(p) => p.run(f, x, y),
            Attack::Patch {
                pgd,
                ratio,
                position,
            } => {
                let mask = video::patch_mask(s[0], s[3], s[4], *ratio, position, x.device());
                pgd.run_masked(f, x, y, Some(&mask), &mut |_| {})
            }
            Attack::Border { pgd, ratio } => {
                let t = video::border_thickness(s[3], s[4], *ratio)?;
                let mask = video::border_mask(s[0], s[3], s[4], t, x.device());
                pgd.run_masked(f, x, y, Some(&mask), &mut |_| {})
            }
            Attack::Saliency { mode, inner } => video::saliency(*mode, inner, f, x, y),
            Attack::Flicker(fl) => fl.run(f, x, y).0,
            Attack::Apgd(a) => {
                a.check_classes(f, x)?;
                a.run(f, x, y).0
            }
        })
    }
}
