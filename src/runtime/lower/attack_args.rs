//! Attack calls as the runtime's [`Attack`]s: one lowering function per
//! attack built-in, found by name in [`LOWERINGS`] (casey/just's
//! `function.rs` table), which a unit test holds to the built-in table.

use super::*;
use crate::runtime::attacks::apgd::{Apgd, Loss as ApgdLoss};
use crate::runtime::attacks::{
    Border, Ensemble, Eot, Fab, FabNorm, Fgsm, GradientAttack, Patch, Saliency, Square,
};

/// An attack and the label its records carry: the built-in's name, or one
/// its arguments refine (`saliency_iterative`, `apgd_t`, `pgd+square`).
struct Labelled {
    attack: Attack,
    label: String,
}

impl Labelled {
    /// An attack labelled with its built-in's name.
    fn plain(a: &Args, attack: impl Into<Attack>) -> R<Labelled> {
        Ok(Labelled {
            attack: attack.into(),
            label: a.builtin.name.to_string(),
        })
    }
}

/// One attack built-in's lowering: its arguments as the runtime's attack.
type Lowering = fn(&Args) -> R<Labelled>;

/// Every attack built-in of the table with its lowering, by name.
const LOWERINGS: &[(&str, Lowering)] = &[
    ("fgsm", fgsm),
    ("pgd", pgd),
    ("masked_pgd", masked_pgd),
    ("frame_border", frame_border),
    ("saliency", saliency),
    ("flicker", flicker),
    ("apgd", apgd),
    ("fab", fab),
    ("square", square),
    ("eot", eot),
    ("ensemble", ensemble),
];

/// The lowering of the attack built-in `name`.
fn lowering(name: &str) -> Option<Lowering> {
    LOWERINGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, lower)| *lower)
}

impl Cx<'_> {
    /// An attack call (or a reference the checker inlined) as the runtime's attack.
    pub(super) fn attack(&self, v: &Value) -> R<AttackSpec> {
        let Value::Call { builtin, args } = v else {
            return Err(Refusal::bug("an attack is needed here"));
        };
        let a = self.args(builtin, args)?;
        if a.builtin.kind != DeclKind::Attack {
            return Err(Refusal::bug(format!("`{builtin}` is not an attack")));
        }
        let bn_train = match a.opt("bn") {
            None => false,
            Some(_) => a.word("bn")? == "train",
        };
        let lower = lowering(builtin)
            .ok_or_else(|| Refusal::bug(format!("the `{builtin}` attack is not executed")))?;
        let Labelled { attack, label } = lower(&a)?;
        Ok(AttackSpec {
            attack,
            bn_train,
            label,
        })
    }
}

fn norm(a: &Args) -> R<Norm> {
    Ok(match a.opt("norm") {
        None => Norm::Inf,
        Some(Value::Inf) => Norm::Inf,
        Some(v) if v.as_f64() == Some(2.0) => Norm::L2,
        Some(v) => return Err(a.bad("norm", v, "`inf` or `2` (L1 is not executed)")),
    })
}

/// The PGD every PGD-based attack steps.
fn pgd_of(a: &Args) -> R<Pgd> {
    Ok(Pgd {
        norm: norm(a)?,
        eps: a.num("eps")?,
        alpha: a.num("step")?,
        steps: a.count("steps")?,
        random_start: match a.opt("random_start") {
            None => false,
            Some(_) => a.boolean("random_start")?,
        },
    })
}

fn fgsm(a: &Args) -> R<Labelled> {
    Labelled::plain(a, Fgsm { eps: a.num("eps")? })
}

fn pgd(a: &Args) -> R<Labelled> {
    Labelled::plain(a, pgd_of(a)?)
}

fn masked_pgd(a: &Args) -> R<Labelled> {
    let pgd = pgd_of(a)?;
    let ratio = a.num("ratio")?;
    let position = match a.get("position")? {
        Value::List(yx) => match (
            yx.first().and_then(Value::as_i64),
            yx.get(1).and_then(Value::as_i64),
            yx.len(),
        ) {
            (Some(y), Some(x), 2) => Position::At(y, x),
            _ => {
                return Err(a.bad(
                    "position",
                    &Value::List(yx.clone()),
                    "`[y, x]` in whole pixels",
                ))
            }
        },
        _ => match a.word("position")? {
            "random" => Position::Random,
            "top_left" => Position::TopLeft,
            "center" => Position::Center,
            w => {
                return Err(Refusal::bug(format!(
                    "the patch position `{w}` is not executed"
                )))
            }
        },
    };
    Labelled::plain(
        a,
        Patch {
            pgd,
            ratio,
            position,
        },
    )
}

fn frame_border(a: &Args) -> R<Labelled> {
    Labelled::plain(
        a,
        Border {
            pgd: pgd_of(a)?,
            ratio: a.num("ratio")?,
        },
    )
}

fn saliency(a: &Args) -> R<Labelled> {
    let inner = match a.attack("inner")?.attack {
        Attack::Pgd(p) => p,
        Attack::Fgsm(f) => Pgd::fgsm(f.eps),
        _ => {
            return Err(Refusal::cannot(
                "the saliency attack steps its `inner` attack on the salient pixels, which must be PGD or FGSM",
                "write `inner: pgd(…)` or `inner: fgsm(…)`",
            ))
        }
    };
    let word = a.word("mode")?;
    let mode = match word {
        "one_shot" => SaliencyMode::OneShot,
        "iterative" => SaliencyMode::Iterative,
        "refresh" => SaliencyMode::Refresh,
        w => {
            return Err(Refusal::bug(format!(
                "the saliency mode `{w}` is not executed"
            )))
        }
    };
    Ok(Labelled {
        attack: Saliency { mode, inner }.into(),
        label: format!("saliency_{word}"),
    })
}

fn flicker(a: &Args) -> R<Labelled> {
    let beta = a.numbers("beta")?;
    let [b0, b1, b2] = beta[..] else {
        return Err(Refusal::bug("`beta` must hold three numbers"));
    };
    Labelled::plain(
        a,
        Flicker {
            step: a.num("step")?,
            steps: a.count("steps")?,
            beta: [b0, b1, b2],
            margin: a.num("margin")?,
        },
    )
}

fn apgd(a: &Args) -> R<Labelled> {
    let loss = match a.word("loss")? {
        "ce" => ApgdLoss::Ce,
        "dlr" => ApgdLoss::Dlr,
        w => return Err(Refusal::bug(format!("the APGD loss `{w}` is not executed"))),
    };
    let targets = a.count("targets")?;
    if targets > 0 && loss != ApgdLoss::Dlr {
        return Err(Refusal::cannot(
            format!("APGD-T (`targets: {targets}`) attacks with the targeted DLR loss, not cross-entropy"),
            "write `loss: dlr` with `targets`, or `targets: 0` for untargeted APGD-CE",
        ));
    }
    let label = match (loss, targets) {
        (_, t) if t > 0 => "apgd_t",
        (ApgdLoss::Ce, _) => "apgd_ce",
        (ApgdLoss::Dlr, _) => "apgd_dlr",
    };
    let attack = Apgd {
        norm: norm(a)?,
        eps: a.num("eps")?,
        steps: a.count("steps")?,
        restarts: a.count("restarts")?,
        loss,
        targets,
        rho: a.num("rho")?,
        eot: 1,
    };
    Ok(Labelled {
        attack: attack.into(),
        label: label.into(),
    })
}

fn fab(a: &Args) -> R<Labelled> {
    let norm = match a.opt("norm") {
        None | Some(Value::Inf) => FabNorm::Inf,
        Some(v) if v.as_f64() == Some(2.0) => FabNorm::L2,
        Some(v) if v.as_f64() == Some(1.0) => FabNorm::L1,
        Some(v) => return Err(a.bad("norm", v, "`inf`, `2` or `1`")),
    };
    let targets = a.count("targets")?;
    Ok(Labelled {
        attack: Fab {
            norm,
            eps: a.num("eps")?,
            steps: a.count("steps")?,
            restarts: a.count("restarts")?,
            targets,
            alpha_max: a.num("alpha_max")?,
            eta: a.num("eta")?,
            beta: a.num("beta")?,
        }
        .into(),
        label: if targets > 0 { "fab_t" } else { "fab" }.into(),
    })
}

fn square(a: &Args) -> R<Labelled> {
    Labelled::plain(
        a,
        Square {
            eps: a.num("eps")?,
            queries: a.count("queries")?,
            p_init: a.num("p_init")?,
            rescale: a.boolean("rescale_schedule")?,
        },
    )
}

fn eot(a: &Args) -> R<Labelled> {
    let inner = a.attack("inner")?;
    let samples = a.count("samples")?;
    let gradient = GradientAttack::try_from(inner.attack).map_err(|_| {
        Refusal::cannot(
            format!("`eot` averages gradients, and `{}` steps without one", inner.label),
            "wrap a gradient attack: `inner: pgd(…)`, `fgsm`, `masked_pgd`, `frame_border` or `apgd`",
        )
    })?;
    Labelled::plain(a, Eot::new(gradient, samples))
}

fn ensemble(a: &Args) -> R<Labelled> {
    let Value::List(items) = a.get("attacks")? else {
        return Err(Refusal::bug("`attacks` must be a set of attacks"));
    };
    let eps = a.num("eps")?;
    let mut members = Vec::new();
    for it in items {
        let m = a.cx.attack(it)?;
        if m.attack.is_ensemble() {
            return Err(Refusal::cannot(
                format!("`{}` is an ensemble inside an ensemble", m.label),
                "list its attacks in the outer ensemble's `attacks` instead",
            ));
        }
        let name = member_name(&m.label, &members);
        let member = m.attack.at(eps, None).map_err(|e| {
            Refusal::cannot(
                e.to_string(),
                "write a step size that is finite and ≥ 0 at this ε, e.g. `alpha eps / 4`",
            )
        })?;
        members.push((name, member));
    }
    let label = members
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join("+");
    Ok(Labelled {
        attack: Ensemble { members }.into(),
        label,
    })
}

/// A member's name in the records: its attack's, numbered when two share it.
fn member_name(label: &str, members: &[(String, Attack)]) -> String {
    let same = members
        .iter()
        .filter(|(n, _)| n == label || n.starts_with(&format!("{label}#")))
        .count();
    if same == 0 {
        label.to_string()
    } else {
        format!("{label}#{}", same + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::builtins::BUILTINS;
    use std::collections::BTreeSet;

    #[test]
    fn every_attack_of_the_table_has_one_lowering_and_every_lowering_an_attack() {
        let table: BTreeSet<&str> = BUILTINS
            .iter()
            .filter(|b| b.kind == DeclKind::Attack)
            .map(|b| b.name)
            .collect();
        let names: Vec<&str> = LOWERINGS.iter().map(|(n, _)| *n).collect();
        let lowered: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(lowered.len(), names.len(), "a name twice: {names:?}");
        let unlowered: Vec<_> = table.difference(&lowered).collect();
        assert!(
            unlowered.is_empty(),
            "attacks without a lowering: {unlowered:?}"
        );
        let unknown: Vec<_> = lowered.difference(&table).collect();
        assert!(
            unknown.is_empty(),
            "lowerings of no attack built-in: {unknown:?}"
        );
        assert!(table.iter().all(|n| lowering(n).is_some()));
    }
}
