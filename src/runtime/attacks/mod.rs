//! Every attack the runtime executes, as one enum over the PGD core
//! ([`pgd`], [`apgd`]), the black-box [`square`] and the video attacks
//! ([`masks`], [`saliency`], [`flicker`]).

pub mod apgd;
pub mod flicker;
pub mod masks;
pub mod pgd;
pub mod saliency;
pub mod square;

pub use self::apgd::Apgd;
pub use self::pgd::{input_grad, loss, objective_grad, project, Norm, Pgd};
pub use self::square::Square;

use self::flicker::Flicker;
use self::masks::Position;
use self::saliency::SaliencyMode;
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
    /// APGD-CE, APGD-DLR or APGD-T ([`apgd`]).
    Apgd(Apgd),
    /// The score-based black-box Square attack ([`square`]).
    Square(Square),
    /// EOT (Athalye et al. 2018): the inner attack's gradient averaged over
    /// `samples` passes of a randomized pipeline (APGD's carries it itself).
    Eot {
        inner: Box<Attack>,
        samples: usize,
    },
    /// Attacks run in turn, each on the clips the earlier ones left robust;
    /// a clip counts fooled if any of them fooled it (AutoAttack's worst
    /// case). Each member with its name.
    Ensemble(Vec<(String, Attack)>),
}

/// What an attack found on a batch, per clip.
pub struct Found {
    pub adv: Tensor,
    /// The step (or query) whose iterate first fooled the clip; `None`
    /// inside: not fooled; `None` outside: not tracked (judge the result).
    pub steps: Option<FooledAt>,
    /// For an ensemble: the member that fooled each clip.
    pub by: Option<Vec<Option<String>>>,
}

/// `4`, `2.5`: a number of 0..255 units as written.
fn units(v: f64) -> String {
    let r = (v * 1000.0).round() / 1000.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r}")
    }
}

fn norm_name(n: Norm) -> &'static str {
    match n {
        Norm::Inf => "L∞",
        Norm::L2 => "L2",
    }
}

/// `PGD L∞, ε 8, α 2, 10 steps, random start`.
fn describe_pgd(p: &Pgd) -> String {
    let start = if p.random_start {
        "random start"
    } else {
        "from the clean clip"
    };
    format!(
        "{} ε {}, α {}, {} step{}, {start}",
        norm_name(p.norm),
        units(p.eps),
        units(p.alpha),
        p.steps,
        if p.steps == 1 { "" } else { "s" }
    )
}

impl Attack {
    /// Whether the attack differentiates the model (Square only queries it).
    pub fn uses_gradient(&self) -> bool {
        match self {
            Attack::Square(_) => false,
            Attack::Eot { inner, .. } => inner.uses_gradient(),
            Attack::Ensemble(members) => members.iter().any(|(_, a)| a.uses_gradient()),
            _ => true,
        }
    }

    /// Whether the attack only queries the model's scores (Square); an
    /// ensemble is when every member is. The sanity checks compare black-box
    /// attacks with white-box ones.
    pub fn is_black_box(&self) -> bool {
        match self {
            Attack::Square(_) => true,
            Attack::Ensemble(members) => {
                !members.is_empty() && members.iter().all(|(_, a)| a.is_black_box())
            }
            _ => false,
        }
    }

    /// The attack in full, as a table's reader needs it: the method, norm,
    /// ε and α (0..255 units), steps or queries, start and masks; e.g.
    /// `PGD L∞ ε 8, α 2, 10 steps, from the clean clip`.
    pub fn describe(&self) -> String {
        match self {
            Attack::Fgsm(e) => format!("FGSM L∞ ε {0}: one signed step of {0}", units(*e)),
            Attack::Pgd(p) => format!("PGD {}", describe_pgd(p)),
            Attack::Patch {
                pgd,
                ratio,
                position,
            } => {
                let at = match position {
                    Position::Random => "at a random place per clip".to_string(),
                    Position::TopLeft => "at the top left".to_string(),
                    Position::Center => "at the centre".to_string(),
                    Position::At(y, x) => format!("at [{y}, {x}]"),
                };
                format!(
                    "PGD {} in a patch of {}% of each frame {at}",
                    describe_pgd(pgd),
                    units(ratio * 100.0)
                )
            }
            Attack::Border { pgd, ratio } => format!(
                "PGD {} on a frame border of {}% of each frame",
                describe_pgd(pgd),
                units(ratio * 100.0)
            ),
            Attack::Saliency { mode, inner } => {
                let how = match mode {
                    SaliencyMode::OneShot => "frames chosen once by saliency",
                    SaliencyMode::Iterative => "frames added by saliency",
                    SaliencyMode::Refresh => "frames re-chosen by saliency each step",
                };
                format!("PGD {} on {how}", describe_pgd(inner))
            }
            Attack::Flicker(f) => format!(
                "flickering (one RGB offset per frame): step {}, {} steps, β [{}], margin {}",
                units(f.step),
                f.steps,
                f.beta.map(units).join(", "),
                units(f.margin)
            ),
            Attack::Apgd(a) => {
                let name = match (a.loss, a.targets) {
                    (apgd::Loss::Ce, _) => "APGD-CE".to_string(),
                    (apgd::Loss::Dlr, 0) => "APGD-DLR".to_string(),
                    (apgd::Loss::Dlr, t) => {
                        format!("APGD-T ({t} target classes, at most classes − 1)")
                    }
                };
                let eot = if a.eot > 1 {
                    format!(", EOT over {} samples", a.eot)
                } else {
                    String::new()
                };
                format!(
                    "{name} {} ε {}, {} steps, {} restart{}, ρ {}{eot}",
                    norm_name(a.norm),
                    units(a.eps),
                    a.steps,
                    a.restarts,
                    if a.restarts == 1 { "" } else { "s" },
                    a.rho
                )
            }
            Attack::Square(s) => format!(
                "Square (black-box) L∞ ε {}, {} queries, p_init {}",
                units(s.eps),
                s.queries,
                s.p_init
            ),
            Attack::Eot { inner, samples } => {
                format!("EOT over {samples} samples of {}", inner.describe())
            }
            Attack::Ensemble(members) => format!(
                "worst case per clip over {}",
                members
                    .iter()
                    .map(|(n, a)| format!("`{n}` ({})", a.describe()))
                    .collect::<Vec<_>>()
                    .join(", then ")
            ),
        }
    }

    /// FGSM and PGD as a [`Pgd`] (FGSM is one step of ε from δ = 0); the
    /// other attacks have masks, frame choices or no ε-ball.
    pub fn as_pgd(&self) -> Option<Pgd> {
        match self {
            Attack::Fgsm(e) => Some(Pgd::fgsm(*e)),
            Attack::Pgd(p) => Some(p.clone()),
            _ => None,
        }
    }

    /// The same attack at budget ε with step α (flickering has no ε-ball and
    /// keeps its step). A step below 0 or not finite is refused where it
    /// would move anything (ε > 0): `advp check` refuses such a rule first,
    /// and a rule of a fitted line is refused here.
    pub fn at(&self, eps: f64, alpha: Option<f64>) -> Result<Attack, String> {
        match alpha {
            Some(a) if eps > 0.0 && !(a.is_finite() && a >= 0.0) => Err(format!(
                "the step size α is {a} at the budget ε = {eps}: a step is a finite number of 0 or more"
            )),
            _ => Ok(self.at_unchecked(eps, alpha)),
        }
    }

    fn at_unchecked(&self, eps: f64, alpha: Option<f64>) -> Attack {
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
            Attack::Square(q) => Attack::Square(Square { eps, ..q.clone() }),
            Attack::Eot { inner, samples } => Attack::Eot {
                inner: Box::new(inner.at_unchecked(eps, alpha)),
                samples: *samples,
            },
            Attack::Ensemble(members) => Attack::Ensemble(
                members
                    .iter()
                    .map(|(n, a)| (n.clone(), a.at_unchecked(eps, alpha)))
                    .collect(),
            ),
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
            Attack::Square(q) => q.eps,
            Attack::Eot { inner, .. } => inner.eps(),
            Attack::Ensemble(m) => m.first().map_or(0.0, |(_, a)| a.eps()),
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
            // A square moves by 2ε.
            Attack::Square(q) => 2.0 * q.eps,
            Attack::Eot { inner, .. } => inner.alpha(),
            Attack::Ensemble(_) => 0.0,
        }
    }

    /// A PGD-family attack (FGSM, PGD, patch, border) as its PGD and, for a
    /// patch or a border, the mask of `x`'s shape.
    fn pgd_and_mask(&self, x: &Tensor) -> Result<(Pgd, Option<Tensor>), String> {
        let s = x.size();
        Ok(match self {
            Attack::Fgsm(e) => (Pgd::fgsm(*e), None),
            Attack::Pgd(p) => (p.clone(), None),
            Attack::Patch {
                pgd,
                ratio,
                position,
            } => (
                pgd.clone(),
                Some(masks::patch_mask(
                    s[0],
                    s[3],
                    s[4],
                    *ratio,
                    position,
                    x.device(),
                )),
            ),
            Attack::Border { pgd, ratio } => {
                let t = masks::border_thickness(s[3], s[4], *ratio)?;
                (
                    pgd.clone(),
                    Some(masks::border_mask(s[0], s[3], s[4], t, x.device())),
                )
            }
            _ => {
                return Err(
                    "a gradient attack (pgd, fgsm, masked_pgd, frame_border) is needed here".into(),
                )
            }
        })
    }

    /// The adversarial clips under the worst-case protocol: PGD-based
    /// attacks stop per clip at the first misclassified iterate, APGD and
    /// Square report the first fooling iterate or query, an ensemble runs
    /// its members in turn on the clips still robust; the others run whole
    /// (steps not tracked: the caller judges the result). `judge` classifies
    /// when the attacked function is not the evaluated one.
    pub fn run_until_fooled(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        judge: Option<&dyn Fn(&Tensor) -> Tensor>,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<Found, String> {
        let (adv, steps) = match self {
            Attack::Fgsm(_) | Attack::Pgd(_) | Attack::Patch { .. } | Attack::Border { .. } => {
                let (pgd, mask) = self.pgd_and_mask(x)?;
                pgd.run_until_fooled(f, judge, x, y, mask.as_ref())?
            }
            Attack::Apgd(a) => {
                a.check_classes(f, x)?;
                a.run(f, x, y)?
            }
            Attack::Square(q) => {
                let o = q.run(f, x, y)?;
                (o.adv, o.fooled_at)
            }
            Attack::Ensemble(members) => return ensemble(members, f, judge, x, y, true),
            _ => {
                return Ok(Found {
                    adv: self.run(f, x, y)?,
                    steps: None,
                    by: None,
                })
            }
        };
        Ok(Found {
            adv,
            steps: Some(steps),
            by: None,
        })
    }

    /// The adversarial clips under the independent protocol: every attack
    /// from scratch on every clip, its final iterate counted (an ensemble's
    /// members each on every clip; the first that fools a clip is kept).
    pub fn run_independent(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        judge: Option<&dyn Fn(&Tensor) -> Tensor>,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<Found, String> {
        match self {
            Attack::Ensemble(members) => ensemble(members, f, judge, x, y, false),
            a => Ok(Found {
                adv: a.run(f, x, y)?,
                steps: Some(vec![Some(a.steps()); x.size()[0] as usize]),
                by: None,
            }),
        }
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
            Attack::Square(q) => q.queries,
            Attack::Eot { inner, .. } => inner.steps(),
            Attack::Ensemble(m) => m.iter().map(|(_, a)| a.steps()).sum(),
        }
    }

    /// The adversarial clips.
    pub fn run(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<Tensor, String> {
        Ok(match self {
            Attack::Fgsm(_) | Attack::Pgd(_) | Attack::Patch { .. } | Attack::Border { .. } => {
                let (pgd, mask) = self.pgd_and_mask(x)?;
                pgd.run_masked(f, x, y, mask.as_ref(), &mut |_| {})?
            }
            Attack::Saliency { mode, inner } => saliency::saliency(*mode, inner, f, x, y)?,
            Attack::Flicker(fl) => fl.run(f, x, y)?.0,
            Attack::Apgd(a) => {
                a.check_classes(f, x)?;
                a.run(f, x, y)?.0
            }
            Attack::Square(q) => q.run(f, x, y)?.adv,
            Attack::Eot { inner, samples } => match inner.as_ref() {
                Attack::Apgd(_) => inner.run(f, x, y)?,
                other => {
                    // The mean loss over `samples` passes: its gradient is
                    // the mean of the passes' gradients.
                    let k = (*samples).max(1);
                    // A stop between passes leaves a partial sum: the
                    // step that reads it fails, as `maximise` checks again.
                    let objective = |v: &Tensor| {
                        let mut total = loss(&f(v), y);
                        for _ in 1..k {
                            if crate::util::interrupted() {
                                break;
                            }
                            total += loss(&f(v), y);
                        }
                        total / k as f64
                    };
                    let (pgd, mask) = other.pgd_and_mask(x)?;
                    pgd.maximise(&objective, x, mask.as_ref(), &mut |_| {})?
                }
            },
            Attack::Ensemble(members) => ensemble(members, f, None, x, y, false)?.adv,
        })
    }
}

/// An ensemble on a batch: members in turn, each on the clips no earlier
/// member fooled (`worst_case`) or on every clip (`independent`, final
/// iterates); a clip keeps the first fooling member's clip and step.
fn ensemble(
    members: &[(String, Attack)],
    f: &dyn Fn(&Tensor) -> Tensor,
    judge: Option<&dyn Fn(&Tensor) -> Tensor>,
    x: &Tensor,
    y: &Tensor,
    worst_case: bool,
) -> Result<Found, String> {
    let n = x.size()[0] as usize;
    let classify = |v: &Tensor, labels: &Tensor| -> Vec<bool> {
        let _g = tch::no_grad_guard();
        let z = match judge {
            Some(j) => j(v),
            None => f(v),
        };
        Vec::<bool>::try_from(
            z.argmax(-1, false)
                .ne_tensor(labels)
                .to_device(tch::Device::Cpu),
        )
        .unwrap_or_default()
    };
    let mut adv = x.detach().copy();
    let mut steps: FooledAt = vec![None; n];
    let mut by: Vec<Option<String>> = vec![None; n];
    let mut spent = 0;
    let mut first = true;
    for (name, a) in members {
        let todo: Vec<i64> = (0..n)
            .filter(|&i| !worst_case || by[i].is_none())
            .map(|i| i as i64)
            .collect();
        if todo.is_empty() {
            break;
        }
        let idx = Tensor::from_slice(&todo).to_device(x.device());
        let (xs, ys) = (x.index_select(0, &idx), y.index_select(0, &idx));
        let found = if worst_case {
            a.run_until_fooled(f, judge, &xs, &ys)?
        } else {
            a.run_independent(f, judge, &xs, &ys)?
        };
        let wrong = classify(&found.adv, &ys);
        let (mut at, mut from) = (Vec::new(), Vec::new());
        for (j, &i) in todo.iter().enumerate() {
            let fooled = wrong.get(j).copied().unwrap_or(false);
            if by[i as usize].is_none() && (fooled || first) {
                at.push(i);
                from.push(j as i64);
            }
            let i = i as usize;
            if fooled && by[i].is_none() {
                let member = found.by.as_ref().and_then(|b| b[j].clone());
                by[i] = Some(member.unwrap_or_else(|| name.clone()));
                let s = found.steps.as_ref().and_then(|s| s[j]).unwrap_or(a.steps());
                steps[i] = Some(spent + s);
            }
        }
        adv = pgd::put_rows(&adv, &at, &found.adv, &from);
        first = false;
        spent += a.steps();
    }
    Ok(Found {
        adv,
        steps: Some(steps),
        by: Some(by),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::attacks::pgd::{Norm, Pgd};

    #[test]
    fn an_attack_is_never_built_with_a_step_below_zero_or_not_finite() {
        let pgd = Attack::Pgd(Pgd {
            norm: Norm::Inf,
            eps: 8.0,
            alpha: 2.0,
            steps: 10,
            random_start: false,
        });
        let eot = Attack::Eot {
            inner: Box::new(pgd.clone()),
            samples: 2,
        };
        for a in [&pgd, &eot] {
            for bad in [-0.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let e = a.at(8.0, Some(bad)).unwrap_err();
                assert!(e.contains("at the budget ε = 8"), "{e}");
            }
            // ε = 0 takes no step, so its α moves nothing.
            assert!(a.at(0.0, Some(-1.0)).is_ok());
            assert_eq!(a.at(4.0, Some(0.0)).unwrap().alpha(), 0.0);
            assert_eq!(a.at(4.0, None).unwrap().alpha(), 2.0);
            assert_eq!(a.at(4.0, Some(1.5)).unwrap().eps(), 4.0);
        }
    }
}
