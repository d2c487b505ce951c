//! FGSM (Goodfellow et al. 2015): one signed step of size ε from the clean
//! clip, L∞; run as the one-step case of the PGD core ([`Pgd::fgsm`]).

use super::pgd::{Masked, Pgd};
use super::{units, AttackKind};
use crate::runtime::error::NodeResult;
use tch::Tensor;

/// One signed step of size ε.
#[derive(Clone, Debug, PartialEq)]
pub struct Fgsm {
    /// Budget ε (and step) in 0..255 units.
    pub eps: f64,
}

impl Masked for Fgsm {
    fn pgd_and_mask(&self, _x: &Tensor) -> NodeResult<(Pgd, Option<Tensor>)> {
        Ok((Pgd::fgsm(self.eps), None))
    }
}

impl AttackKind for Fgsm {
    fn describe(&self) -> String {
        format!("FGSM L∞ ε {0}: one signed step of {0}", units(self.eps))
    }
    fn eps(&self) -> f64 {
        self.eps
    }
    fn alpha(&self) -> f64 {
        self.eps
    }
    fn steps(&self) -> usize {
        1
    }
    fn at_budget(&self, eps: f64, _alpha: Option<f64>) -> Fgsm {
        Fgsm { eps }
    }
    fn as_pgd(&self) -> Option<Pgd> {
        Some(Pgd::fgsm(self.eps))
    }
    masked_runs!();
}
