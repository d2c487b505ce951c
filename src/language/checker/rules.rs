//! Step-size rules: arithmetic of `eps`, numbers, `rule` names and `step_fit` analyses.

use super::errors::CheckError;
use super::suggest::suggest;
use super::util::const_eval;
use super::Checker;
use crate::language::ast::*;
use crate::language::program::{Dep, RuleDef, RuleExpr};
use crate::language::source::FileId;
use std::sync::Arc;

/// The most operations one step size may take to evaluate, each rule it
/// uses counted once (the stdlib's take 3 to 6).
pub const MAX_RULE_NODES: usize = 4096;
/// The most rules one rule may reach through others (`r3 = r2 + 1`, …).
pub const MAX_RULE_DEPTH: usize = 256;

impl<'a> Checker<'a> {
    pub(super) fn rule_of(&mut self, name: &str) -> Option<RuleExpr> {
        if let Some(r) = self.rule_memo.get(name) {
            return r.clone();
        }
        let &i = self.index.get(name)?;
        let e = self.entries[i].clone();
        if self.in_cycle(name) {
            return None;
        }
        // Rules inside rules recurse here: the nesting is bounded before it
        // can exhaust the stack.
        let depth = self.stack.iter().filter(|(n, ..)| self.is_rule(n)).count();
        if depth >= MAX_RULE_DEPTH {
            // At the use that goes one rule too deep.
            let (file, span) = match (self.current_ref, self.stack.last()) {
                (Some(span), Some((_, file, _))) => (*file, span),
                _ => (e.file, e.decl.name.span),
            };
            self.err(CheckError::TooComplex { name, nodes: None }.at(file, span));
            self.rule_memo.insert(name.to_string(), None);
            return None;
        }
        self.stack
            .push((name.to_string(), e.file, e.decl.name.span));
        let outer = std::mem::take(&mut self.deps);
        let body = self.rule_expr(&e.decl.value, e.file);
        let mine = std::mem::replace(&mut self.deps, outer);
        self.preset_deps.insert(name.to_string(), mine);
        self.stack.pop();
        // Shared, not copied: every use of the rule holds this definition.
        let r = body.map(|body| {
            RuleExpr::Rule(Arc::new(RuleDef {
                name: name.to_string(),
                body,
            }))
        });
        let r = r.and_then(|r| self.bounded(r, name, e.file, e.decl.name.span));
        self.rule_memo.insert(name.to_string(), r.clone());
        r
    }

    /// Whether `name` is a rule (and not a preset).
    fn is_rule(&self, name: &str) -> bool {
        self.index
            .get(name)
            .is_some_and(|&i| self.entries[i].decl.kind == DeclKind::Rule)
    }

    /// `r` if evaluating it stays within [`MAX_RULE_NODES`] operations, its
    /// rules counted once each; else `advp::check::too_complex` at `span`.
    pub(super) fn bounded(
        &mut self,
        r: RuleExpr,
        name: &str,
        file: FileId,
        span: Span,
    ) -> Option<RuleExpr> {
        let nodes = r.size();
        if nodes > MAX_RULE_NODES {
            self.err(
                CheckError::TooComplex {
                    name,
                    nodes: Some(nodes),
                }
                .at(file, span),
            );
            return None;
        }
        Some(r)
    }

    pub(super) fn rule_expr(&mut self, e: &Expr, file: FileId) -> Option<RuleExpr> {
        Some(match &e.kind {
            ExprKind::Number { value, .. } => RuleExpr::Num(*value),
            ExprKind::Paren(inner) => return self.rule_expr(inner, file),
            ExprKind::Neg(inner) => RuleExpr::Neg(Box::new(self.rule_expr(inner, file)?)),
            ExprKind::Path(p) if p.len() == 1 => {
                let n = &p[0];
                if n.name == "eps" {
                    return Some(RuleExpr::Eps);
                }
                match self
                    .index
                    .get(&n.name)
                    .map(|&i| (self.entries[i].decl.kind, self.builtin_of_entry(i)))
                {
                    Some((DeclKind::Rule, _)) => {
                        self.deps.push(Dep {
                            name: n.name.clone(),
                            span: n.span,
                            file,
                        });
                        self.current_ref = Some(n.span);
                        let r = self.rule_of(&n.name);
                        self.current_ref = None;
                        r?
                    }
                    Some((DeclKind::Analyze, Some(b))) if b.name == "step_fit" => {
                        self.deps.push(Dep {
                            name: n.name.clone(),
                            span: n.span,
                            file,
                        });
                        RuleExpr::Fit(n.name.clone())
                    }
                    Some((kind, _)) => {
                        self.err(
                            CheckError::NotARule {
                                name: &n.name,
                                kind,
                            }
                            .at(file, n.span),
                        );
                        return None;
                    }
                    None => {
                        let mut names: Vec<&str> = self
                            .entries
                            .iter()
                            .filter(|e| e.decl.kind == DeclKind::Rule)
                            .map(|e| e.decl.name.name.as_str())
                            .collect();
                        names.push("eps");
                        let hint = suggest(&n.name, names.iter().copied());
                        self.err(
                            CheckError::UnknownRuleName {
                                name: &n.name,
                                hint,
                            }
                            .at(file, n.span),
                        );
                        return None;
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } if *op != BinOp::Compose => {
                let l = self.rule_expr(lhs, file);
                let r = self.rule_expr(rhs, file);
                let (l, r) = (Box::new(l?), Box::new(r?));
                if *op == BinOp::Div && matches!(const_eval(rhs), Ok(v) if v == 0.0) {
                    self.division_by_zero(file, rhs.span);
                    return None;
                }
                match op {
                    BinOp::Add => RuleExpr::Add(l, r),
                    BinOp::Sub => RuleExpr::Sub(l, r),
                    BinOp::Mul => RuleExpr::Mul(l, r),
                    _ => RuleExpr::Div(l, r),
                }
            }
            _ => {
                self.err(
                    CheckError::NotRuleExpr {
                        found: e.describe(),
                    }
                    .at(file, e.span),
                );
                return None;
            }
        })
    }
}
