//! `compare a > b at eps 8, attack flicker`: claims in an evaluation's block.
//! Their sides are checked against the evaluation's models here; whether the
//! column exists (a budget of the sweep, an attack of `attacks each`) is the
//! lowering's check, which knows the columns.

use super::errors::CheckError;
use super::suggest::suggest;
use super::Checker;
use crate::language::ast::*;
use crate::language::builtins::EPS_RANGE;
use crate::language::program::{Claim, Value};
use crate::language::source::FileId;
use std::collections::BTreeMap;

/// The row labels of an evaluation's `models` (`h264 >> benign`).
pub(super) fn model_labels(args: &BTreeMap<String, Value>) -> Vec<String> {
    let Some(Value::List(items)) = args.get("models") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|m| match m {
            Value::Node(n) => Some(n.clone()),
            Value::Compose(parts) => parts
                .iter()
                .map(|p| match p {
                    Value::Node(n) => Some(n.as_str()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(|names| names.join(" >> ")),
            _ => None,
        })
        .collect()
}

fn side_text(side: &[Ident]) -> String {
    side.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(" >> ")
}

fn side_span(side: &[Ident]) -> Span {
    side.iter()
        .map(|i| i.span)
        .reduce(Span::join)
        .unwrap_or_default()
}

impl<'a> Checker<'a> {
    /// A `compare` statement's conditions; its sides are checked by
    /// [`Checker::check_claims`] once the evaluation's models are known.
    pub(super) fn claim(&mut self, s: &Stmt, file: FileId) -> Option<Claim> {
        let Stmt::Compare {
            a,
            greater,
            b,
            at,
            span,
            ..
        } = s
        else {
            return None;
        };
        let (mut eps, mut attack) = (None, None);
        let mut ok = true;
        for (key, value) in at {
            match key.name.as_str() {
                "eps" => {
                    let v = self.number(value, file);
                    match v.and_then(|v| {
                        self.check_range(v, EPS_RANGE, value.span, file, "a budget")
                            .map(|_| v)
                    }) {
                        Some(v) => eps = Some(v),
                        None => ok = false,
                    }
                }
                "attack" => match &value.kind {
                    ExprKind::Path(p) if p.len() == 1 => attack = Some(p[0].name.clone()),
                    _ => {
                        let found = super::util::snippet(self.sources.text(file), value.span);
                        self.err(CheckError::ClaimAttack { found: &found }.at(file, value.span));
                        ok = false;
                    }
                },
                other => {
                    self.err(
                        CheckError::ClaimCondition {
                            key: other,
                            hint: suggest(other, ["eps", "attack"]),
                        }
                        .at(file, key.span),
                    );
                    ok = false;
                }
            }
        }
        let (ta, tb) = (side_text(a), side_text(b));
        if ta == tb {
            self.err(CheckError::ClaimSame { side: &ta }.at(file, side_span(b)));
            ok = false;
        }
        let mut text = format!("{ta} {} {tb}", if *greater { ">" } else { "<" });
        let conds: Vec<String> = eps
            .map(|e| format!("eps {e}"))
            .into_iter()
            .chain(attack.as_ref().map(|a| format!("attack {a}")))
            .collect();
        if !conds.is_empty() {
            text.push_str(&format!(" at {}", conds.join(", ")));
        }
        ok.then_some(Claim {
            a: ta,
            greater: *greater,
            b: tb,
            eps,
            attack,
            text,
            file,
            span: *span,
        })
    }

    /// Every side of the claims names a row of the evaluation `eval`.
    pub(super) fn check_claims(
        &mut self,
        eval: &str,
        block: &Block,
        args: &BTreeMap<String, Value>,
        file: FileId,
    ) {
        let models = model_labels(args);
        for s in &block.stmts {
            let Stmt::Compare { a, b, .. } = s else {
                continue;
            };
            for side in [a, b] {
                let text = side_text(side);
                if !models.contains(&text) {
                    self.err(
                        CheckError::ClaimSide {
                            side: &text,
                            eval,
                            hint: suggest(&text, models.iter().map(String::as_str)),
                            models: models.clone(),
                        }
                        .at(file, side_span(side)),
                    );
                }
            }
        }
    }
}
