//! AutoAttack's three published versions (Croce & Hein 2020), as the
//! reference's `set_version` sets them, L∞, for clips:
//! - `standard`: APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square
//!   (5000 queries), one restart each;
//! - `plus`: APGD-CE and APGD-DLR (5 restarts each), FAB (5 restarts),
//!   Square (5000 queries), APGD-T and FAB-T (9 targets each);
//! - `rand`: APGD-CE and APGD-DLR with EOT over 20 samples, one restart,
//!   for randomized defenses.
//!
//! Each runs as an [`Ensemble`]: every attack on the clips the earlier ones
//! left robust. The stdlib's `autoattack`, `autoattack_plus` and
//! `autoattack_rand` are these (a test holds them equal), and an evaluation
//! names the version it ran only when its attack is one of them exactly.
//! With fewer than 10 classes the targeted members target every other class
//! (min(9, classes − 1)), and below the DLR loss's class count APGD runs
//! with cross-entropy ([`Apgd::fallback`]): [`as_run`] says so.

use super::apgd::{Apgd, Loss};
use super::fab::{Fab, FabNorm};
use super::pgd::Norm;
use super::{Attack, Ensemble, Eot, Square};

/// A published version of AutoAttack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Standard,
    Plus,
    Rand,
}

impl Version {
    pub const ALL: [Version; 3] = [Version::Standard, Version::Plus, Version::Rand];

    /// The reference's name (`version='standard'`).
    pub fn name(self) -> &'static str {
        match self {
            Version::Standard => "standard",
            Version::Plus => "plus",
            Version::Rand => "rand",
        }
    }

    /// The stdlib preset that is this version.
    pub fn preset(self) -> &'static str {
        match self {
            Version::Standard => "autoattack",
            Version::Plus => "autoattack_plus",
            Version::Rand => "autoattack_rand",
        }
    }

    /// The version at budget ε (0..255 units), L∞, its members named as the
    /// stdlib names them.
    pub fn attack(self, eps: f64) -> Attack {
        let apgd = |loss, restarts, targets| Apgd {
            norm: Norm::Inf,
            eps,
            steps: 100,
            restarts,
            loss,
            targets,
            rho: 0.75,
            eot: 1,
        };
        let fab = |restarts, targets| Fab {
            norm: FabNorm::Inf,
            eps,
            steps: 100,
            restarts,
            targets,
            alpha_max: 0.1,
            eta: 1.05,
            beta: 0.9,
        };
        let square = Square {
            eps,
            queries: 5000,
            p_init: 0.8,
            rescale: false,
        };
        let members: Vec<(&str, Attack)> = match self {
            Version::Standard => vec![
                ("apgd_ce", apgd(Loss::Ce, 1, 0).into()),
                ("apgd_t", apgd(Loss::Dlr, 1, 9).into()),
                ("fab_t", fab(1, 9).into()),
                ("square", square.into()),
            ],
            Version::Plus => vec![
                ("apgd_ce", apgd(Loss::Ce, 5, 0).into()),
                ("apgd_dlr", apgd(Loss::Dlr, 5, 0).into()),
                ("fab", fab(5, 0).into()),
                ("square", square.into()),
                ("apgd_t", apgd(Loss::Dlr, 1, 9).into()),
                ("fab_t", fab(1, 9).into()),
            ],
            Version::Rand => vec![
                ("eot", Eot::new(apgd(Loss::Ce, 1, 0).into(), 20).into()),
                ("eot#2", Eot::new(apgd(Loss::Dlr, 1, 0).into(), 20).into()),
            ],
        };
        Ensemble {
            members: members
                .into_iter()
                .map(|(n, a)| (n.to_string(), a))
                .collect(),
        }
        .into()
    }
}

/// The published version `a` is, at its own budget; `None` for any other
/// attack (a member changed, added, left out or reordered).
pub fn version_of(a: &Attack) -> Option<Version> {
    let attacks =
        |a: &Attack| -> Vec<Attack> { a.members().iter().map(|(_, m)| m.clone()).collect() };
    Version::ALL
        .into_iter()
        .find(|v| a.is_ensemble() && attacks(&v.attack(a.eps())) == attacks(a))
}

/// What runs differently from the attack as written on a model of `classes`
/// classes, one line per member concerned: the targets of APGD-T and FAB-T
/// (min(targets, classes − 1)) and the loss in place of DLR.
pub fn as_run(a: &Attack, classes: i64) -> Vec<String> {
    let one = |name: &str, a: &Attack| -> Vec<String> {
        let mut notes = Vec::new();
        let (targets, wanted, fallback) = match a {
            Attack::Apgd(p) => (p.targets_for(classes), p.targets, p.fallback(classes)),
            Attack::Eot(e) => match &e.inner {
                super::GradientAttack::Apgd(p) => {
                    (p.targets_for(classes), p.targets, p.fallback(classes))
                }
                _ => return notes,
            },
            Attack::Fab(f) => (f.targets_for(classes), f.targets, None),
            _ => return notes,
        };
        if targets < wanted {
            notes.push(format!(
                "`{name}` targets the {targets} other classes of {classes}, not {wanted}"
            ));
        }
        if let Some(instead) = fallback {
            notes.push(format!(
                "`{name}` attacks with {instead} ({classes} classes)"
            ));
        }
        notes
    };
    if a.is_ensemble() {
        a.members().iter().flat_map(|(n, m)| one(n, m)).collect()
    } else {
        one("attack", a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_is_itself_and_no_other_and_a_changed_one_is_none() {
        for v in Version::ALL {
            assert_eq!(version_of(&v.attack(8.0)), Some(v), "{v:?}");
            assert_eq!(version_of(&v.attack(4.0)), Some(v), "{v:?} at ε 4");
        }
        let Attack::Ensemble(mut e) = Version::Standard.attack(8.0) else {
            unreachable!()
        };
        e.members.remove(2); // without FAB-T: the preset advp had before
        assert_eq!(version_of(&e.clone().into()), None);
        let Attack::Ensemble(mut fewer) = Version::Standard.attack(8.0) else {
            unreachable!()
        };
        if let Attack::Square(s) = &mut fewer.members[3].1 {
            s.queries = 100;
        }
        assert_eq!(version_of(&fewer.into()), None);
    }

    #[test]
    fn as_run_names_the_targets_and_losses_a_class_count_changes() {
        let standard = Version::Standard.attack(8.0);
        assert!(as_run(&standard, 10).is_empty());
        assert!(as_run(&standard, 101).is_empty());
        let five = as_run(&standard, 5);
        assert_eq!(
            five,
            [
                "`apgd_t` targets the 4 other classes of 5, not 9",
                "`fab_t` targets the 4 other classes of 5, not 9"
            ]
        );
        let three = as_run(&standard, 3).join("\n");
        assert!(
            three.contains("`apgd_t` attacks with the targeted cross-entropy"),
            "{three}"
        );
        let two = as_run(&Version::Rand.attack(8.0), 2).join("\n");
        assert!(
            two.contains("`eot#2` attacks with cross-entropy in place of the DLR"),
            "{two}"
        );
    }
}
