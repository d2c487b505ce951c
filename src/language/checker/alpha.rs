//! A step-size rule at every budget it will run with: α < 0 or not finite
//! walks PGD the wrong way (or nowhere) and makes a model look robust.

use super::errors::CheckError;
use super::Checker;
use crate::language::ast::{Block, DeclKind};
use crate::language::program::{StmtValue, Value};
use crate::language::source::FileId;
use std::collections::BTreeMap;

impl<'a> Checker<'a> {
    /// Refuses a node's `alpha` rule where it is negative or not finite at
    /// one of the node's budgets. A rule that reads a `step_fit` line is known
    /// only when the fit is computed; the attack refuses it there.
    pub(super) fn check_alpha(
        &mut self,
        kind: DeclKind,
        args: &BTreeMap<String, Value>,
        (stmts, defaults): (&BTreeMap<String, StmtValue>, &BTreeMap<String, StmtValue>),
        block: &Block,
        file: FileId,
    ) {
        let Some(StmtValue::Setting {
            value: Value::Rule(rule),
            ..
        }) = stmts.get("alpha")
        else {
            return;
        };
        let Some(span) = block
            .stmts
            .iter()
            .find(|s| s.key().name == "alpha")
            .map(|s| s.span())
        else {
            return;
        };
        let default_attack = || match defaults.get("attack") {
            Some(StmtValue::Setting { value, .. }) => Some(value.clone()),
            _ => None,
        };
        for eps in alpha_budgets(kind, args, stmts, default_attack) {
            let Some(alpha) = rule.eval(eps, &|_| None) else {
                continue;
            };
            if !(alpha.is_finite() && alpha >= 0.0) {
                self.err(
                    CheckError::BadStep {
                        rule: rule.text(),
                        eps,
                        alpha,
                    }
                    .at(file, span),
                );
                return;
            }
        }
    }
}

/// The budgets ε a node builds its attack at, as the runtime does: an
/// `attacks` schedule's attacks' ε, else the `budget` values, else the
/// attack's own ε; ε = 0 takes no step. Analyses take their α from a grid,
/// not from a rule.
pub(super) fn alpha_budgets(
    kind: DeclKind,
    args: &BTreeMap<String, Value>,
    stmts: &BTreeMap<String, StmtValue>,
    default_attack: impl FnOnce() -> Option<Value>,
) -> Vec<f64> {
    if !matches!(kind, DeclKind::Train | DeclKind::Eval | DeclKind::Defense) {
        return Vec::new();
    }
    let mut out: Vec<f64> = if let Some(StmtValue::Schedule { values, .. }) = stmts.get("attacks") {
        values.iter().filter_map(attack_eps).collect()
    } else if let Some(StmtValue::Schedule { values, .. }) = stmts.get("budget") {
        let mut out = Vec::new();
        for v in values {
            match v {
                Value::List(items) => out.extend(items.iter().filter_map(Value::as_f64)),
                v => out.extend(v.as_f64()),
            }
        }
        out
    } else {
        let attack = match (kind, stmts.get("attack")) {
            (DeclKind::Eval, Some(StmtValue::Setting { value, .. })) => Some(value.clone()),
            (DeclKind::Eval, _) => default_attack(),
            _ => args.get("attack").cloned(),
        };
        attack.as_ref().and_then(attack_eps).into_iter().collect()
    };
    // PGD at ε = 0 takes no step (an evaluation's column of ε = 0 is clean).
    out.retain(|&e| e > 0.0);
    out
}

/// An attack's ε (an `eot`'s is its inner attack's); `None` for one without
/// a budget (flickering keeps its own step).
fn attack_eps(v: &Value) -> Option<f64> {
    let Value::Call { args, .. } = v else {
        return None;
    };
    match args.get("inner") {
        Some(inner) => attack_eps(inner),
        None => args.get("eps").and_then(Value::as_f64),
    }
}

#[cfg(test)]
mod tests {
    use crate::language::diagnostic::Code;

    fn codes(src: &str) -> Vec<(Code, String)> {
        let loaded = crate::language::loader::load_source("t.advp", None, src.to_string());
        let out = crate::language::checker::check(&loaded, &Default::default());
        out.errors
            .iter()
            .filter(|d| !d.warning)
            .map(|d| (d.code, d.message.clone()))
            .collect()
    }

    const HEAD: &str = "data d = synthetic(classes: 10, frames: 8, size: 32, train: 20, val: 10, test: 10)\nmodel m = c3d_small(classes: 10, width: 4)\n";

    #[test]
    fn a_step_size_below_zero_or_infinite_at_a_budget_is_refused() {
        let cases = [
            // a constant, negative
            ("train t = adversarial(m, d) {\n  budget fixed 8\n  alpha -3\n}\n", "-3 at the budget ε = 8"),
            // negative from the sweep's second budget on: the first is named
            ("eval e = robustness(models: [m], split: d.test) {\n  budget sweep [2, 4, 8]\n  alpha 3 - eps\n}\n", "-1 at the budget ε = 4"),
            // infinite at one budget of a curriculum
            ("train t = adversarial(m, d) {\n  budget curriculum [8, 4, 12]\n  alpha 1 / (eps - 4)\n}\n", "inf at the budget ε = 4"),
            // through a rule, at the attack's own ε
            ("rule r = 3 - eps\ntrain t = adversarial(m, d, attack: pgd(eps: 8)) {\n  alpha r\n}\n", "-5 at the budget ε = 8"),
            // NaN: 0 / 0 at ε = 4
            ("eval e = robustness(models: [m], split: d.test) {\n  budget sweep [4]\n  alpha (eps - 4) / (eps - 4)\n}\n", "NaN at the budget ε = 4"),
        ];
        for (body, says) in cases {
            let got = codes(&format!("{HEAD}{body}"));
            assert!(
                got.iter()
                    .any(|(c, m)| *c == Code::OutOfRange && m.contains(says)),
                "{body}: {got:?}"
            );
        }
    }

    #[test]
    fn a_rule_past_the_size_bound_is_too_complex_and_sharing_is_not_counted_twice() {
        // 110 groups of ten ones: 2199 operations a line.
        let group = format!("({})", ["1"; 10].join(" + "));
        let sum = vec![group.as_str(); 110].join(" + ");
        let got = codes(&format!("rule p0 = eps + {sum}\nrule p1 = p0 + {sum}\n"));
        assert!(
            got.iter()
                .any(|(c, m)| *c == Code::TooComplex && m.contains("`p1` takes 4403 operations")),
            "{got:?}"
        );
        // Used many times, a rule counts once: 30 doublings are 91 operations.
        let mut doubling = String::from("rule d0 = eps / 4\n");
        for k in 1..30 {
            doubling.push_str(&format!("rule d{k} = d{} + d{}\n", k - 1, k - 1));
        }
        assert!(codes(&doubling).is_empty());
    }

    #[test]
    fn a_step_size_that_is_fine_where_it_runs_checks() {
        let cases = [
            "eval e = robustness(models: [m], split: d.test) {\n  budget sweep [0, 4, 8]\n  alpha eps / 4\n}\n",
            // 8 / eps is infinite at ε = 0, where PGD takes no step
            "eval e = robustness(models: [m], split: d.test) {\n  budget sweep [0, 4, 8]\n  alpha 8 / eps\n}\n",
            "train t = adversarial(m, d) {\n  budget fixed 8\n  alpha 0\n}\n",
            "rule r = 12 - eps\ntrain t = adversarial(m, d) {\n  budget uniform {4, 8, 12}\n  alpha r\n}\n",
        ];
        for body in cases {
            let got = codes(&format!("{HEAD}{body}"));
            assert!(got.is_empty(), "{body}: {got:?}");
        }
    }
}
