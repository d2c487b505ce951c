//! Block statements: schedules, settings inside a block, and resources.

use super::errors::{CheckError, Fix};
use super::suggest::suggest;
use super::util::snippet;
use super::Checker;
use crate::language::ast::*;
use crate::language::builtins::{self, Builtin, GridUse, StmtSpec, Ty, EPS_RANGE};
use crate::language::program::{self as prog, RuleExpr, Value};
use crate::language::source::FileId;
use std::collections::{BTreeMap, HashMap};

impl<'a> Checker<'a> {
    pub(super) fn resolve_stmts(
        &mut self,
        b: &'static Builtin,
        block: &Block,
        file: FileId,
    ) -> BTreeMap<String, prog::StmtValue> {
        let mut out = BTreeMap::new();
        if b.stmts.is_empty() {
            self.no_block(block, file, &format!("`{}`", b.name));
            return out;
        }
        let mut seen: HashMap<String, Span> = HashMap::new();
        for s in &block.stmts {
            let key = s.key();
            if let Stmt::Compare { .. } = s {
                // Claims are many, each its own statement.
                if b.stmt("compare").is_none() {
                    self.err(CheckError::ClaimOutsideEval { builtin: b.name }.at(file, key.span));
                } else if let Some(c) = self.claim(s, file) {
                    self.claims.push(c);
                }
                continue;
            }
            let Some(spec) = b.stmt(&key.name) else {
                let keys: Vec<&str> = b.stmts.iter().map(|s| s.key).collect();
                self.err(
                    CheckError::UnknownStatement {
                        builtin: b.name,
                        key: &key.name,
                        hint: suggest(&key.name, keys.iter().copied()),
                        keys,
                    }
                    .at(file, key.span),
                );
                continue;
            };
            // `budget` and `attacks` are one slot each.
            if let Some(first) = seen.insert(key.name.clone(), s.span()) {
                self.err(
                    CheckError::DuplicateStatement {
                        key: &key.name,
                        first,
                    }
                    .at(file, s.span()),
                );
                continue;
            }
            if let Some(v) = self.stmt(spec, s, file, b) {
                out.insert(key.name.clone(), v);
            }
        }
        out
    }

    /// The table's defaults of the statements `written` leaves out (an
    /// evaluation's `attack pgd`, a fit's `alpha grid 0.25..8 step 0.25`),
    /// resolved exactly as an argument's default is: the value a user
    /// writing the statement would get.
    pub(super) fn stmt_defaults(
        &mut self,
        b: &'static Builtin,
        written: &BTreeMap<String, prog::StmtValue>,
    ) -> BTreeMap<String, prog::StmtValue> {
        let mut out = BTreeMap::new();
        for s in b.stmts {
            let Some(text) = s.default.filter(|_| !written.contains_key(s.key)) else {
                continue;
            };
            let (ty, grid, text) = match (s.value, text.strip_prefix("grid ")) {
                (builtins::StmtValue::Attack, None) => (Ty::Attack, false, text),
                // An analysis' axis: `grid 0.25..8 step 0.25`, its numbers.
                (builtins::StmtValue::Alpha, Some(range)) => (Ty::Numbers, true, range),
                // No other statement has a default (a test of the table's
                // defaults keeps it so): the lowering refuses the node.
                _ => continue,
            };
            let p = builtins::Param {
                name: "default",
                ty,
                default: builtins::Default::Required,
                range: None,
                doc: "",
            };
            if let Some(value) = self.default_value(&p, text) {
                out.insert(s.key.to_string(), prog::StmtValue::Setting { grid, value });
            }
        }
        out
    }

    pub(super) fn stmt(
        &mut self,
        spec: &'static StmtSpec,
        s: &Stmt,
        file: FileId,
        b: &Builtin,
    ) -> Option<prog::StmtValue> {
        match s {
            Stmt::Schedule {
                key,
                mode,
                value,
                every,
                ..
            } => {
                if !spec.modes.contains(&mode.name.as_str()) {
                    let elsewhere = [
                        "fixed",
                        "curriculum",
                        "adaptive",
                        "uniform",
                        "sweep",
                        "each",
                    ]
                    .contains(&mode.name.as_str());
                    self.err(
                        CheckError::UnknownMode {
                            key: &key.name,
                            mode: &mode.name,
                            builtin: b.name,
                            elsewhere,
                            hint: suggest(&mode.name, spec.modes.iter().copied()),
                            modes: spec.modes,
                        }
                        .at(file, mode.span),
                    );
                    return None;
                }
                let takes_every = matches!(mode.name.as_str(), "curriculum" | "adaptive");
                let every = match every {
                    Some(ev) if !takes_every => {
                        self.err(
                            CheckError::UnexpectedEvery {
                                key: &key.name,
                                mode: &mode.name,
                            }
                            .at(file, ev.span),
                        );
                        return None;
                    }
                    Some(ev) => Some(self.int_value(ev, file, (1.0, 1e9), "`every`")? as u64),
                    None => None,
                };
                let is_budget = spec.value == builtins::StmtValue::Budget;
                let values = match (mode.name.as_str(), is_budget) {
                    ("fixed", true) => {
                        let v = self.number(value, file)?;
                        self.check_range(v, EPS_RANGE, value.span, file, "a budget")?;
                        vec![Value::Num(v)]
                    }
                    (_, true) => self
                        .numbers(value, file, Some(EPS_RANGE), "a budget")?
                        .into_iter()
                        .map(Value::Num)
                        .collect(),
                    ("fixed", false) => vec![self.attack(value, file, false)?],
                    (m, false) => {
                        let items = match &value.kind {
                            ExprKind::Set(items) | ExprKind::List(items) => items,
                            _ => {
                                self.err(
                                    CheckError::ExpectedAttackSet {
                                        found: value.describe(),
                                    }
                                    .at(file, value.span),
                                );
                                return None;
                            }
                        };
                        if items.is_empty() {
                            self.err(CheckError::NoAttacks.at(file, value.span));
                            return None;
                        }
                        let mut out = Vec::new();
                        let mut ok = true;
                        for it in items {
                            match self.attack(it, file, m == "each") {
                                Some(v) => out.push(v),
                                None => ok = false,
                            }
                        }
                        if !ok {
                            return None;
                        }
                        out
                    }
                };
                Some(prog::StmtValue::Schedule {
                    mode: mode.name.clone(),
                    values,
                    every,
                })
            }
            Stmt::Compare { .. } => None,
            Stmt::Setting { key, value, .. } if spec.value == builtins::StmtValue::Claim => {
                self.err(CheckError::ClaimForm.at(file, key.span.join(value.span)));
                None
            }
            Stmt::Setting {
                key, grid, value, ..
            } => {
                if !spec.modes.is_empty() {
                    // A budget's example keeps the value as written; other values are elided.
                    let value_text = (spec.value == builtins::StmtValue::Budget)
                        .then(|| snippet(self.sources.text(file), value.span));
                    self.err(
                        CheckError::MissingMode {
                            key: &key.name,
                            modes: spec.modes,
                            value: value_text,
                        }
                        .at(file, key.span.join(value.span)),
                    );
                    return None;
                }
                match (spec.grid, *grid) {
                    (GridUse::Required, false) => {
                        self.err(CheckError::MissingGrid { key: &key.name }.at(file, value.span));
                        return None;
                    }
                    (GridUse::Forbidden, true) => {
                        self.err(
                            CheckError::UnexpectedGrid { key: &key.name }
                                .at(file, key.span.join(value.span)),
                        );
                        return None;
                    }
                    _ => {}
                }
                let v = match spec.value {
                    builtins::StmtValue::Claim => return None,
                    builtins::StmtValue::Alpha if *grid => Value::List(
                        self.numbers(value, file, Some(EPS_RANGE), "a step size")?
                            .into_iter()
                            .map(Value::Num)
                            .collect(),
                    ),
                    builtins::StmtValue::Alpha => {
                        let r = self.rule_expr(value, file)?;
                        let r = self.bounded(r, &key.name, file, value.span)?;
                        if let RuleExpr::Num(v) = r {
                            self.check_range(v, EPS_RANGE, value.span, file, "a step size")?;
                        }
                        Value::Rule(r)
                    }
                    builtins::StmtValue::Attack => self.attack(value, file, false)?,
                    builtins::StmtValue::Steps if *grid => {
                        let nums = self.numbers(value, file, Some((1.0, 1e6)), "steps")?;
                        if let Some(bad) = nums.iter().find(|v| v.fract() != 0.0) {
                            self.err(CheckError::StepsNotWhole { bad: *bad }.at(file, value.span));
                            return None;
                        }
                        Value::List(nums.into_iter().map(|v| Value::Int(v as i64)).collect())
                    }
                    builtins::StmtValue::Steps => {
                        Value::Int(self.int_value(value, file, (1.0, 1e6), "steps")?)
                    }
                    builtins::StmtValue::Resources => self.resources(value, file)?,
                    builtins::StmtValue::Budget | builtins::StmtValue::Attacks => {
                        unreachable!("schedules have modes")
                    }
                };
                Some(prog::StmtValue::Setting {
                    grid: *grid,
                    value: v,
                })
            }
        }
    }

    pub(super) fn resources(&mut self, e: &Expr, file: FileId) -> Option<Value> {
        let ExprKind::Record(fields) = &e.kind else {
            self.err(
                CheckError::ExpectedResources {
                    found: e.describe(),
                }
                .at(file, e.span),
            );
            return None;
        };
        const KEYS: &[&str] = builtins::RESOURCE_KEYS;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for f in fields {
            let v = match f.name.name.as_str() {
                "gpus" => self
                    .int_value(&f.value, file, (0.0, 64.0), "`gpus`")
                    .map(Value::Int),
                "cpus" => self
                    .int_value(&f.value, file, (1.0, 4096.0), "`cpus`")
                    .map(Value::Int),
                "nodes" => self
                    .int_value(&f.value, file, (1.0, 4096.0), "`nodes`")
                    .map(Value::Int),
                "tasks" => self
                    .int_value(&f.value, file, (1.0, 1024.0), "`tasks`")
                    .map(Value::Int),
                key @ ("mem" | "time" | "partition") => match &f.value.kind {
                    ExprKind::Str(s) => self.resource_string(key, s, file, f.value.span),
                    _ => self.mismatch(&f.value, file, &Ty::Str, Fix::QuotedResource),
                },
                other => {
                    self.err(
                        CheckError::UnknownResource {
                            name: other,
                            hint: suggest(other, KEYS.iter().copied()),
                            keys: KEYS,
                        }
                        .at(file, f.name.span),
                    );
                    None
                }
            };
            match v {
                Some(v) => {
                    out.insert(f.name.name.clone(), v);
                }
                None => ok = false,
            }
        }
        ok.then_some(Value::Record(out))
    }

    /// A resource string of Slurm's form for its key (`resources::Field`).
    fn resource_string(&mut self, key: &str, s: &str, file: FileId, span: Span) -> Option<Value> {
        let Some(field) = crate::language::resources::Field::of(key) else {
            return Some(Value::Str(s.to_string()));
        };
        if field.accepts(s) {
            return Some(Value::Str(s.to_string()));
        }
        self.err(CheckError::BadResource { field, value: s }.at(file, span));
        None
    }
}
