//! Block statements: schedules, settings inside a block, and resources.

use super::suggest::{hint_then, suggest};
use super::util::snippet;
use super::Checker;
use crate::language::ast::*;
use crate::language::builtins::{self, Builtin, GridUse, StmtSpec, Ty, EPS_RANGE};
use crate::language::diagnostic::{one_of, Code, Diagnostic};
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
            let Some(spec) = b.stmt(&key.name) else {
                let keys: Vec<&str> = b.stmts.iter().map(|s| s.key).collect();
                let help = hint_then(
                    suggest(&key.name, keys.iter().copied()),
                    format!("`{}` takes {}", b.name, one_of(&keys)),
                );
                self.err(
                    Diagnostic::new(
                        Code::UnknownStatement,
                        file,
                        key.span,
                        format!("`{}` has no statement `{}`", b.name, key.name),
                    )
                    .label("unknown statement")
                    .help(help),
                );
                continue;
            };
            // `budget` and `attacks` are one slot each.
            if let Some(first) = seen.insert(key.name.clone(), s.span()) {
                self.err(
                    Diagnostic::new(
                        Code::DuplicateStatement,
                        file,
                        s.span(),
                        format!("`{}` is given twice", key.name),
                    )
                    .label("again here")
                    .also(first, "first here")
                    .help("keep one statement per block"),
                );
                continue;
            }
            if let Some(v) = self.stmt(spec, s, file, b) {
                out.insert(key.name.clone(), v);
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
                    let help = if elsewhere {
                        format!(
                            "`{}` in `{}` takes {}",
                            key.name,
                            b.name,
                            one_of(spec.modes)
                        )
                    } else {
                        hint_then(
                            suggest(&mode.name, spec.modes.iter().copied()),
                            format!("`{}` takes {}", key.name, one_of(spec.modes)),
                        )
                    };
                    self.err(
                        Diagnostic::new(
                            Code::UnknownMode,
                            file,
                            mode.span,
                            format!(
                                "`{} {}` is not a schedule of `{}`",
                                key.name, mode.name, b.name
                            ),
                        )
                        .label("unknown mode")
                        .help(help),
                    );
                    return None;
                }
                let takes_every = matches!(mode.name.as_str(), "curriculum" | "adaptive");
                let every = match every {
                    Some(ev) if !takes_every => {
                        self.err(
                            Diagnostic::new(Code::UnexpectedEvery, file, ev.span, format!("`{} {}` takes no `every`", key.name, mode.name))
                                .label("unexpected `every`")
                                .help("`every N` belongs to `curriculum` and `adaptive`, which change over epochs; remove it"),
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
                                    Diagnostic::new(
                                        Code::TypeMismatch,
                                        file,
                                        value.span,
                                        format!(
                                            "expected a set of attacks, found {}",
                                            value.describe()
                                        ),
                                    )
                                    .label("expected `{…}`")
                                    .help("write e.g. `{masked_pgd, frame_border}`"),
                                );
                                return None;
                            }
                        };
                        if items.is_empty() {
                            self.err(
                                Diagnostic::new(Code::Empty, file, value.span, "no attacks listed")
                                    .label("empty")
                                    .help("list at least one attack"),
                            );
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
            Stmt::Setting {
                key, grid, value, ..
            } => {
                if !spec.modes.is_empty() {
                    let example = if spec.value == builtins::StmtValue::Budget {
                        format!(
                            "`{} {} {}`",
                            key.name,
                            spec.modes[0],
                            snippet(self.sources.text(file), value.span)
                        )
                    } else {
                        format!("`{} {} …`", key.name, spec.modes[0])
                    };
                    self.err(
                        Diagnostic::new(
                            Code::MissingMode,
                            file,
                            key.span.join(value.span),
                            format!("`{}` needs a schedule mode", key.name),
                        )
                        .label("no mode")
                        .help(format!(
                            "write {example}; the modes here are {}",
                            one_of(spec.modes)
                        )),
                    );
                    return None;
                }
                match (spec.grid, *grid) {
                    (GridUse::Required, false) => {
                        self.err(
                            Diagnostic::new(
                                Code::MissingGrid,
                                file,
                                value.span,
                                format!("`{}` here is an axis of values", key.name),
                            )
                            .label("expected `grid` before the values")
                            .help(format!(
                                "write `{} grid {}`",
                                key.name,
                                if key.name == "alpha" {
                                    "0.25..16 step 0.25"
                                } else {
                                    "1..20"
                                }
                            )),
                        );
                        return None;
                    }
                    (GridUse::Forbidden, true) => {
                        self.err(
                            Diagnostic::new(Code::UnexpectedGrid, file, key.span.join(value.span), format!("`{}` takes no grid here", key.name))
                                .label("unexpected `grid`")
                                .help("grids are for analyses (`loss_surface`, `step_fit`); remove `grid`"),
                        );
                        return None;
                    }
                    _ => {}
                }
                let v = match spec.value {
                    builtins::StmtValue::Alpha if *grid => Value::List(
                        self.numbers(value, file, Some(EPS_RANGE), "a step size")?
                            .into_iter()
                            .map(Value::Num)
                            .collect(),
                    ),
                    builtins::StmtValue::Alpha => {
                        let r = self.rule_expr(value, file)?;
                        if let RuleExpr::Num(v) = r {
                            self.check_range(v, EPS_RANGE, value.span, file, "a step size")?;
                        }
                        Value::Rule(r)
                    }
                    builtins::StmtValue::Attack => self.attack(value, file, false)?,
                    builtins::StmtValue::Steps if *grid => {
                        let nums = self.numbers(value, file, Some((1.0, 1e6)), "steps")?;
                        if let Some(bad) = nums.iter().find(|v| v.fract() != 0.0) {
                            self.err(
                                Diagnostic::new(
                                    Code::TypeMismatch,
                                    file,
                                    value.span,
                                    "steps must be whole numbers",
                                )
                                .label(format!("{bad} is not whole"))
                                .help("write e.g. `steps grid 1..20`"),
                            );
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
                Diagnostic::new(
                    Code::TypeMismatch,
                    file,
                    e.span,
                    format!("expected a record of resources, found {}", e.describe()),
                )
                .label("expected `{ key: value, … }`")
                .help("write e.g. `resources { gpus: 1, time: \"12:00:00\" }`"),
            );
            return None;
        };
        const KEYS: &[&str] = &["gpus", "cpus", "mem", "time", "partition"];
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
                "mem" | "time" | "partition" => match &f.value.kind {
                    ExprKind::Str(s) => Some(Value::Str(s.clone())),
                    _ => self.mismatch(
                        &f.value,
                        file,
                        &Ty::Str,
                        "write it in double quotes, e.g. `time: \"12:00:00\"`",
                    ),
                },
                other => {
                    let help = hint_then(
                        suggest(other, KEYS.iter().copied()),
                        format!("resources are {}", one_of(KEYS)),
                    );
                    self.err(
                        Diagnostic::new(
                            Code::UnknownArgument,
                            file,
                            f.name.span,
                            format!("unknown resource `{other}`"),
                        )
                        .label("unknown resource")
                        .help(help),
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
}
