//! Attack calls as the runtime's [`Attack`]s.

use super::*;

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
        let norm = |a: &Args| -> R<Norm> {
            Ok(match a.opt("norm") {
                None => Norm::Inf,
                Some(Value::Inf) => Norm::Inf,
                Some(v) if v.as_f64() == Some(2.0) => Norm::L2,
                Some(v) => return Err(a.bad("norm", v, "`inf` or `2` (L1 is not executed)")),
            })
        };
        let pgd = |a: &Args| -> R<Pgd> {
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
        };
        let bn_train = match a.opt("bn") {
            None => false,
            Some(_) => a.word("bn")? == "train",
        };
        let mut label = builtin.clone();
        let attack = match builtin.as_str() {
            "fgsm" => Attack::Fgsm(a.num("eps")?),
            "pgd" => Attack::Pgd(pgd(&a)?),
            "masked_pgd" => Attack::Patch {
                pgd: pgd(&a)?,
                ratio: a.num("ratio")?,
                position: match a.get("position")? {
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
                },
            },
            "frame_border" => Attack::Border {
                pgd: pgd(&a)?,
                ratio: a.num("ratio")?,
            },
            "saliency" => {
                let inner = match a.attack("inner")?.attack {
                    Attack::Pgd(p) => p,
                    Attack::Fgsm(e) => Pgd::fgsm(e),
                    _ => {
                        return Err(Refusal::cannot(
                            "the saliency attack steps its `inner` attack on the salient pixels, which must be PGD or FGSM",
                            "write `inner: pgd(…)` or `inner: fgsm(…)`",
                        ))
                    }
                };
                let word = a.word("mode")?;
                label = format!("saliency_{word}");
                Attack::Saliency {
                    mode: match word {
                        "one_shot" => SaliencyMode::OneShot,
                        "iterative" => SaliencyMode::Iterative,
                        "refresh" => SaliencyMode::Refresh,
                        w => {
                            return Err(Refusal::bug(format!(
                                "the saliency mode `{w}` is not executed"
                            )))
                        }
                    },
                    inner,
                }
            }
            "flicker" => {
                let beta = a.numbers("beta")?;
                let [b0, b1, b2] = beta[..] else {
                    return Err(Refusal::bug("`beta` must hold three numbers"));
                };
                Attack::Flicker(Flicker {
                    step: a.num("step")?,
                    steps: a.count("steps")?,
                    beta: [b0, b1, b2],
                    margin: a.num("margin")?,
                })
            }
            "apgd" => {
                let loss = match a.word("loss")? {
                    "ce" => super::super::attacks::apgd::Loss::Ce,
                    "dlr" => super::super::attacks::apgd::Loss::Dlr,
                    w => return Err(Refusal::bug(format!("the APGD loss `{w}` is not executed"))),
                };
                let targets = a.count("targets")?;
                if targets > 0 && loss != super::super::attacks::apgd::Loss::Dlr {
                    return Err(Refusal::cannot(
                        format!("APGD-T (`targets: {targets}`) attacks with the targeted DLR loss, not cross-entropy"),
                        "write `loss: dlr` with `targets`, or `targets: 0` for untargeted APGD-CE",
                    ));
                }
                label = match (loss, targets) {
                    (_, t) if t > 0 => "apgd_t".into(),
                    (super::super::attacks::apgd::Loss::Ce, _) => "apgd_ce".into(),
                    (super::super::attacks::apgd::Loss::Dlr, _) => "apgd_dlr".into(),
                };
                Attack::Apgd(super::super::attacks::apgd::Apgd {
                    norm: norm(&a)?,
                    eps: a.num("eps")?,
                    steps: a.count("steps")?,
                    restarts: a.count("restarts")?,
                    loss,
                    targets,
                    rho: a.num("rho")?,
                    eot: 1,
                })
            }
            "square" => Attack::Square(super::super::attacks::square::Square {
                eps: a.num("eps")?,
                queries: a.count("queries")?,
                p_init: a.num("p_init")?,
            }),
            "eot" => {
                let inner = a.attack("inner")?;
                let samples = a.count("samples")?;
                Attack::Eot {
                    inner: Box::new(match inner.attack {
                        Attack::Apgd(p) => Attack::Apgd(super::super::attacks::apgd::Apgd { eot: samples, ..p }),
                        i @ (Attack::Pgd(_) | Attack::Fgsm(_) | Attack::Patch { .. } | Attack::Border { .. }) => i,
                        _ => {
                            return Err(Refusal::cannot(
                                format!("`eot` averages gradients, and `{}` steps without one", inner.label),
                                "wrap a gradient attack: `inner: pgd(…)`, `fgsm`, `masked_pgd`, `frame_border` or `apgd`",
                            ))
                        }
                    }),
                    samples,
                }
            }
            "ensemble" => {
                let Value::List(items) = a.get("attacks")? else {
                    return Err(Refusal::bug("`attacks` must be a set of attacks"));
                };
                let eps = a.num("eps")?;
                let mut members = Vec::new();
                for it in items {
                    let m = self.attack(it)?;
                    if matches!(m.attack, Attack::Ensemble(_)) {
                        return Err(Refusal::cannot(
                            format!("`{}` is an ensemble inside an ensemble", m.label),
                            "list its attacks in the outer ensemble's `attacks` instead",
                        ));
                    }
                    let name = member_name(&m.label, &members);
                    let member = m.attack.at(eps, None).map_err(|e| {
                        Refusal::cannot(e, "write a step size that is finite and ≥ 0 at this ε, e.g. `alpha eps / 4`")
                    })?;
                    members.push((name, member));
                }
                label = members
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join("+");
                Attack::Ensemble(members)
            }
            other => {
                return Err(Refusal::bug(format!(
                    "the `{other}` attack is not executed"
                )))
            }
        };
        Ok(AttackSpec {
            attack,
            bn_train,
            label,
        })
    }
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
