//! Claims: each `claim` of an evaluation tied to the one column it compares.

use crate::language::diagnostic::{Code, Diagnostic};
use crate::language::program::{Claim, Program};
use crate::runtime::spec::*;

/// Every claim's column: a budget of the sweep (`at eps`), or an attack of
/// `attacks each` (`at attack`); either may be left out where the
/// evaluation has one column. A claim naming no column is a problem.
pub(super) fn claims(
    program: &Program,
    nodes: &[NodeSpec],
    problems: &mut Vec<(NodeId, Diagnostic)>,
) -> Vec<ClaimSpec> {
    let mut out = Vec::new();
    for (i, n) in program.nodes.iter().enumerate() {
        let NodeSpec::Eval(e) = &nodes[i] else {
            continue;
        };
        for c in &n.claims {
            let bad = |message: String, help: &str| {
                Box::new(
                    Diagnostic::new(Code::InvalidClaim, c.file, c.span, message)
                        .label("this claim")
                        .help(help.to_string()),
                )
            };
            let column = match &e.columns {
                Columns::Budgets(budgets) => budget_column(&n.name, e, budgets, c, &bad),
                Columns::Attacks(columns) => attack_column(&n.name, columns, c, &bad),
            };
            match column {
                Ok((attack, eps)) => out.push(ClaimSpec {
                    eval: EvalId::new(i),
                    claim: c.clone(),
                    attack,
                    eps,
                }),
                Err(d) => problems.push((i, *d)),
            }
        }
    }
    out
}

/// A refusal of a claim: its message and help.
type Bad<'a> = &'a dyn Fn(String, &str) -> Box<Diagnostic>;

/// The column (attack label, ε) a claim compares where the columns are a
/// sweep's budgets of one attack.
fn budget_column(
    name: &str,
    e: &EvalSpec,
    budgets: &[f64],
    c: &Claim,
    bad: Bad,
) -> Result<(String, f64), Box<Diagnostic>> {
    let shown: Vec<String> = budgets.iter().map(|b| b.to_string()).collect();
    match (c.eps, &c.attack) {
        (_, Some(a)) if *a != e.attack.label => Err(bad(
            format!(
                "`{name}` has one attack, `{}`, in every column; `at attack {a}` names none",
                e.attack.label
            ),
            "name a budget instead: `at eps N`",
        )),
        (Some(eps), _) if !budgets.contains(&eps) => Err(bad(
            format!(
                "`{name}` has no column at ε {}: its budgets are {}",
                eps,
                shown.join(", ")
            ),
            "compare at one of the budgets of the sweep",
        )),
        (Some(eps), _) => Ok((e.attack.label.clone(), eps)),
        (None, _) if budgets.len() == 1 => Ok((e.attack.label.clone(), budgets[0])),
        (None, _) => Err(bad(
            format!(
                "`{name}` has {} columns ({}); the claim names none",
                budgets.len(),
                shown.join(", ")
            ),
            "add the budget: `at eps 8`",
        )),
    }
}

/// The column (attack label, ε) a claim compares where the columns are
/// `attacks each` (a `none` column is the clean one).
fn attack_column(
    name: &str,
    columns: &[Option<AttackSpec>],
    c: &Claim,
    bad: Bad,
) -> Result<(String, f64), Box<Diagnostic>> {
    let named: Vec<(String, f64)> = columns
        .iter()
        .map(|a| match a {
            None => ("none".to_string(), 0.0),
            Some(a) => (a.label.clone(), a.attack.eps()),
        })
        .collect();
    let names: Vec<String> = named.iter().map(|(l, _)| format!("`{l}`")).collect();
    match (&c.attack, c.eps) {
        (_, Some(_)) => Err(bad(
            format!("the columns of `{name}` are attacks, each at its own budget"),
            "name the column instead: `at attack NAME`",
        )),
        (Some(a), None) => named.iter().find(|(l, _)| l == a).cloned().ok_or_else(|| {
            bad(
                format!(
                    "`{name}` has no column `{a}`: its columns are {}",
                    names.join(", ")
                ),
                "compare under one of the attacks of `attacks each`",
            )
        }),
        (None, None) if named.len() == 1 => Ok(named[0].clone()),
        (None, None) => Err(bad(
            format!(
                "`{name}` has {} columns ({}); the claim names none",
                named.len(),
                names.join(", ")
            ),
            "add the column: `at attack NAME`",
        )),
    }
}
