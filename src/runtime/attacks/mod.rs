//! Every attack the runtime executes: one type per file, each an
//! [`AttackKind`] (its description, budget, steps and runs), and the
//! [`Attack`] enum over them, which dispatches with one line per attack.
//! The PGD core ([`pgd`]: FGSM, L∞, L2) and [`fgsm`], [`apgd`], the
//! black-box [`square`], the video attacks ([`masks`]: patch and border,
//! [`saliency`], [`flicker`]), the minimal-norm [`fab`], [`eot`] over a gradient attack and the
//! [`ensemble`] of attacks.

/// An enum over attack types, one `Variant(Type)` line each, and its
/// dispatch: `kind` (the variant as its [`AttackKind`]), `at_budget` (the
/// same attack at another budget) and `From` each type.
macro_rules! one_line_per_attack {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident($ty:ty),)+
    }) => {
        $(#[$meta])*
        pub enum $name {
            $($(#[$vmeta])* $variant($ty),)+
        }

        impl $name {
            /// The attack as its kind: every method dispatches through here.
            fn kind(&self) -> &(dyn $crate::runtime::attacks::AttackKind + 'static) {
                match self {
                    $($name::$variant(a) => a,)+
                }
            }

            /// The same attack at budget ε with step α where it has one.
            fn at_budget(&self, eps: f64, alpha: Option<f64>) -> $name {
                match self {
                    $($name::$variant(a) => $name::$variant($crate::runtime::attacks::AttackKind::at_budget(a, eps, alpha)),)+
                }
            }
        }

        $(impl From<$ty> for $name {
            fn from(a: $ty) -> $name {
                $name::$variant(a)
            }
        })+
    };
}

/// `run` and `run_until_fooled` of an attack that is a PGD under a mask
/// ([`pgd::Masked`]: FGSM, PGD, patch, border), inside its `impl AttackKind`.
macro_rules! masked_runs {
    () => {
        fn run(
            &self,
            f: &dyn Fn(&tch::Tensor) -> tch::Tensor,
            x: &tch::Tensor,
            y: &tch::Tensor,
        ) -> $crate::runtime::error::NodeResult<tch::Tensor> {
            $crate::runtime::attacks::pgd::masked_run(self, f, x, y)
        }
        fn run_until_fooled(
            &self,
            v: $crate::runtime::attacks::Victim,
            x: &tch::Tensor,
            y: &tch::Tensor,
        ) -> $crate::runtime::error::NodeResult<$crate::runtime::attacks::Found> {
            $crate::runtime::attacks::pgd::masked_run_until_fooled(self, v, x, y)
        }
    };
}

/// `run` and `run_until_fooled` of an attack with a `run_tracked` (APGD,
/// FAB: the clips, and per clip the step that first fooled it), inside its
/// `impl AttackKind`.
macro_rules! tracked_runs {
    () => {
        fn run(
            &self,
            f: &dyn Fn(&tch::Tensor) -> tch::Tensor,
            x: &tch::Tensor,
            y: &tch::Tensor,
        ) -> $crate::runtime::error::NodeResult<tch::Tensor> {
            Ok(self.run_tracked(f, x, y)?.0)
        }
        fn run_until_fooled(
            &self,
            v: $crate::runtime::attacks::Victim,
            x: &tch::Tensor,
            y: &tch::Tensor,
        ) -> $crate::runtime::error::NodeResult<$crate::runtime::attacks::Found> {
            let (adv, steps) = self.run_tracked(v.f, x, y)?;
            Ok($crate::runtime::attacks::Found::tracked(adv, steps))
        }
    };
}

/// The budget of an attack that steps the [`Pgd`] in its field `$pgd`
/// (patch, border, saliency): `eps`, `alpha`, `steps` and `at_budget`,
/// inside its `impl AttackKind`.
macro_rules! pgd_budget {
    ($pgd:ident) => {
        fn eps(&self) -> f64 {
            self.$pgd.eps
        }
        fn alpha(&self) -> f64 {
            self.$pgd.alpha
        }
        fn steps(&self) -> usize {
            self.$pgd.steps
        }
        fn at_budget(&self, eps: f64, alpha: Option<f64>) -> Self {
            Self {
                $pgd: self.$pgd.with_budget(eps, alpha),
                ..self.clone()
            }
        }
    };
}

pub mod apgd;
pub mod autoattack;
pub mod ensemble;
pub mod eot;
pub mod fab;
pub mod fgsm;
pub mod flicker;
pub mod masks;
pub mod pgd;
pub mod saliency;
pub mod square;

pub use self::apgd::Apgd;
pub use self::ensemble::Ensemble;
pub use self::eot::{Eot, GradientAttack};
pub use self::fab::{Fab, FabNorm};
pub use self::fgsm::Fgsm;
pub use self::flicker::Flicker;
pub use self::masks::{Border, Patch};
pub use self::pgd::{input_grad, loss, objective_grad, project, Norm, Pgd};
pub use self::saliency::Saliency;
pub use self::square::Square;

use crate::runtime::error::{NodeError, NodeResult};
use tch::Tensor;

/// Per clip, the step whose iterate first fooled it (`None`: none did).
pub type FooledAt = Vec<Option<usize>>;

one_line_per_attack! {
    /// Every attack the runtime executes, with its budget applied.
    #[derive(Clone, Debug, PartialEq)]
    pub enum Attack {
        Fgsm(Fgsm),
        Pgd(Pgd),
        Patch(Patch),
        Border(Border),
        Saliency(Saliency),
        Flicker(Flicker),
        Apgd(Apgd),
        Square(Square),
        Fab(Fab),
        Eot(Eot),
        Ensemble(Ensemble),
    }
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

impl Found {
    /// Clips with the step that first fooled each.
    fn tracked(adv: Tensor, steps: FooledAt) -> Found {
        Found {
            adv,
            steps: Some(steps),
            by: None,
        }
    }
}

/// The model an attack runs against.
#[derive(Clone, Copy)]
pub struct Victim<'a> {
    /// Clips to the logits the attack differentiates (or queries).
    pub f: &'a dyn Fn(&Tensor) -> Tensor,
    /// Classifies an iterate when the attacked function is not the
    /// evaluated one (a defense attacked through a surrogate); `None`: `f`.
    pub judge: Option<&'a dyn Fn(&Tensor) -> Tensor>,
}

impl<'a> Victim<'a> {
    /// `f` attacked and judged alike.
    pub fn of(f: &'a dyn Fn(&Tensor) -> Tensor) -> Self {
        Victim { f, judge: None }
    }
}

/// One attack: what a table says of it, its budget, and its runs on a
/// batch ([`Victim`]: the model it runs against).
pub trait AttackKind {
    /// The attack in full, as a table's reader needs it: the method, norm,
    /// ε and α (0..255 units), steps or queries, start and masks.
    fn describe(&self) -> String;
    /// The budget ε (0 for an attack without one).
    fn eps(&self) -> f64;
    /// The step α (or what stands for it).
    fn alpha(&self) -> f64;
    /// The number of steps (the iterate `independent` counts).
    fn steps(&self) -> usize;
    /// The same attack at budget ε with step α where it has one (unchecked:
    /// [`Attack::at`] checks α).
    fn at_budget(&self, eps: f64, alpha: Option<f64>) -> Self
    where
        Self: Sized;
    /// Whether the attack differentiates the model.
    fn uses_gradient(&self) -> bool {
        true
    }
    /// Whether it only queries the model's scores (an ensemble never is:
    /// its members are, one by one).
    fn is_black_box(&self) -> bool {
        false
    }
    /// The attack as a [`Pgd`] over the whole clip, where it is one.
    fn as_pgd(&self) -> Option<Pgd> {
        None
    }
    /// The adversarial clips.
    fn run(&self, f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> NodeResult<Tensor>;
    /// The adversarial clips under the worst-case protocol: PGD-based
    /// attacks stop per clip at the first misclassified iterate, APGD and
    /// Square report the first fooling iterate or query, an ensemble runs
    /// its members in turn on the clips still robust; an attack that cannot
    /// stop per clip runs whole (steps not tracked: the caller judges the
    /// result).
    fn run_until_fooled(&self, v: Victim, x: &Tensor, y: &Tensor) -> NodeResult<Found> {
        Ok(Found {
            adv: self.run(v.f, x, y)?,
            steps: None,
            by: None,
        })
    }
    /// The adversarial clips under the independent protocol: every attack
    /// from scratch on every clip, its final iterate counted (an ensemble's
    /// members each on every clip; the first that fools a clip is kept).
    fn run_independent(&self, v: Victim, x: &Tensor, y: &Tensor) -> NodeResult<Found> {
        Ok(Found::tracked(
            self.run(v.f, x, y)?,
            vec![Some(self.steps()); x.size()[0] as usize],
        ))
    }
}

/// The clean pass a targeted attack starts from (APGD, FAB): the logits of
/// `x`, and per clip `Some(0)` where the model already gets it wrong (fooled
/// before any step, not attacked), `None` where it is right.
fn clean_start(f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> (Tensor, FooledAt) {
    let _g = tch::no_grad_guard();
    let z = f(x);
    let right = Vec::<bool>::try_from(z.argmax(1, false).eq_tensor(y).to_device(tch::Device::Cpu))
        .unwrap_or_default();
    (z, right.iter().map(|&ok| (!ok).then_some(0)).collect())
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

/// An attack is used through its kind: `attack.eps()`, `attack.run(…)`,
/// `attack.run_until_fooled(…)` are [`AttackKind`]'s, one dispatch in
/// [`Attack::kind`] (no forwarding method per question).
impl std::ops::Deref for Attack {
    type Target = dyn AttackKind;
    fn deref(&self) -> &(dyn AttackKind + 'static) {
        self.kind()
    }
}

impl Attack {
    /// Whether the attack is an ensemble of attacks.
    pub fn is_ensemble(&self) -> bool {
        matches!(self, Attack::Ensemble(_))
    }

    /// An ensemble's members with their names (none for one attack).
    pub fn members(&self) -> &[(String, Attack)] {
        match self {
            Attack::Ensemble(e) => &e.members,
            _ => &[],
        }
    }

    /// The same attack at budget ε with step α (flickering has no ε-ball and
    /// keeps its step). A step below 0 or not finite is refused where it
    /// would move anything (ε > 0): `advp check` refuses such a rule first,
    /// and a rule of a fitted line is refused here.
    pub fn at(&self, eps: f64, alpha: Option<f64>) -> NodeResult<Attack> {
        match alpha {
            Some(a) if eps > 0.0 && !(a.is_finite() && a >= 0.0) => Err(NodeError::Numeric(format!(
                "the step size α is {a} at the budget ε = {eps}: a step is a finite number of 0 or more"
            ))),
            _ => Ok(self.at_budget(eps, alpha)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::attacks::pgd::{Norm, Pgd};

    #[test]
    fn an_attack_is_never_built_with_a_step_below_zero_or_not_finite() {
        let inner = Pgd {
            norm: Norm::Inf,
            eps: 8.0,
            alpha: 2.0,
            steps: 10,
            random_start: false,
        };
        let pgd = Attack::Pgd(inner.clone());
        let eot = Attack::Eot(Eot::new(inner.into(), 2));
        for a in [&pgd, &eot] {
            for bad in [-0.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let e = a.at(8.0, Some(bad)).unwrap_err();
                assert!(matches!(e, NodeError::Numeric(_)), "{e:?}");
                assert!(e.to_string().contains("at the budget ε = 8"), "{e}");
            }
            // ε = 0 takes no step, so its α moves nothing.
            assert!(a.at(0.0, Some(-1.0)).is_ok());
            assert_eq!(a.at(4.0, Some(0.0)).unwrap().alpha(), 0.0);
            assert_eq!(a.at(4.0, None).unwrap().alpha(), 2.0);
            assert_eq!(a.at(4.0, Some(1.5)).unwrap().eps(), 4.0);
        }
    }

    #[test]
    fn square_alone_is_a_black_box_and_an_ensemble_only_per_member() {
        let square = Attack::Square(Square {
            eps: 8.0,
            queries: 10,
            p_init: 0.8,
            rescale: true,
        });
        let fgsm = Attack::Fgsm(Fgsm { eps: 8.0 });
        assert!(square.is_black_box() && !square.uses_gradient());
        assert!(!fgsm.is_black_box() && !fgsm.is_ensemble());
        let both = Attack::Ensemble(Ensemble {
            members: vec![("fgsm".into(), fgsm), ("square".into(), square)],
        });
        assert!(both.is_ensemble() && !both.is_black_box() && both.uses_gradient());
        let black: Vec<bool> = both
            .members()
            .iter()
            .map(|(_, a)| a.is_black_box())
            .collect();
        assert_eq!(black, [false, true]);
        assert!(Attack::Eot(Eot::new(Fgsm { eps: 8.0 }.into(), 3)).uses_gradient());
    }
}
