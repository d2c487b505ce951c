//! Argument values: numbers, ranges, type mismatches and choices.

use super::suggest::{hint_then, suggest};
use super::util::{const_eval, default_text, snippet, ConstError};
use super::Checker;
use crate::language::ast::*;
use crate::language::builtins::{Param, Ty, EPS_RANGE};
use crate::language::diagnostic::{one_of, Code, Diagnostic};
use crate::language::program::Value;
use crate::language::schedule::{self, expand_range, RangeError};
use crate::language::source::FileId;

impl<'a> Checker<'a> {
    pub(super) fn int_value(
        &mut self,
        e: &Expr,
        file: FileId,
        range: (f64, f64),
        what: &str,
    ) -> Option<i64> {
        let v = self.number(e, file)?;
        if v.fract() != 0.0 {
            self.err(
                Diagnostic::new(
                    Code::TypeMismatch,
                    file,
                    e.span,
                    format!("{what} must be a whole number"),
                )
                .label(format!("found {v}"))
                .help(format!("write {}", v.round())),
            );
            return None;
        }
        self.check_range(v, range, e.span, file, what)?;
        Some(v as i64)
    }

    pub(super) fn check_range(
        &mut self,
        v: f64,
        (lo, hi): (f64, f64),
        span: Span,
        file: FileId,
        what: &str,
    ) -> Option<()> {
        if v >= lo && v <= hi {
            return Some(());
        }
        // Counts have no real upper bound; say "at least" rather than print it.
        let (message, label, help) = if v < lo && hi >= 1e9 {
            (
                format!("{what} must be at least {lo}"),
                format!("{v} is too small"),
                format!("use {lo} or more"),
            )
        } else {
            let unit = if (lo, hi) == EPS_RANGE {
                " (budgets and step sizes are in 0..255 pixel units: `eps 8` means 8/255)"
            } else {
                ""
            };
            (
                format!("{what} must be between {lo} and {hi}"),
                format!("{v} is out of range"),
                format!("use a value from {lo} to {hi}{unit}"),
            )
        };
        self.err(
            Diagnostic::new(Code::OutOfRange, file, span, message)
                .label(label)
                .help(help),
        );
        None
    }

    pub(super) fn division_by_zero(&mut self, file: FileId, span: Span) {
        self.err(
            Diagnostic::new(Code::DivisionByZero, file, span, "division by zero")
                .label("this is zero")
                .help("divide by a non-zero number"),
        );
    }

    /// A constant number: literals and arithmetic of literals.
    pub(super) fn number(&mut self, e: &Expr, file: FileId) -> Option<f64> {
        match const_eval(e) {
            Ok(v) => Some(v),
            Err(ConstError::DivZero(span)) => {
                self.division_by_zero(file, span);
                None
            }
            Err(ConstError::NotConst) => {
                self.err(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        file,
                        e.span,
                        format!("expected a number, found {}", e.describe()),
                    )
                    .label("not a number")
                    .help("write a number such as `8` or `0.25`, or arithmetic of numbers"),
                );
                None
            }
        }
    }

    /// Checks one argument against its type; the resolved value on success.
    pub(super) fn value(&mut self, p: &Param, e: &Expr, file: FileId) -> Option<Value> {
        let what = format!("`{}`", p.name);
        if let ExprKind::Paren(inner) = &e.kind {
            if !matches!(p.ty, Ty::Int | Ty::Num) {
                return self.value(p, inner, file);
            }
        }
        match p.ty {
            Ty::Int => {
                if let ExprKind::Path(path) = &e.kind {
                    return self.field_number(path, file);
                }
                let v = self.int_value(e, file, p.range.unwrap_or((f64::MIN, f64::MAX)), &what)?;
                Some(Value::Int(v))
            }
            Ty::Num => {
                let v = self.number(e, file)?;
                if let Some(r) = p.range {
                    self.check_range(v, r, e.span, file, &what)?;
                }
                Some(Value::Num(v))
            }
            Ty::Str => match &e.kind {
                ExprKind::Str(s) => Some(Value::Str(s.clone())),
                _ => self.mismatch(e, file, &p.ty, "write it in double quotes: \"…\""),
            },
            Ty::Bool => match &e.kind {
                ExprKind::Bool(b) => Some(Value::Bool(*b)),
                _ => self.mismatch(e, file, &p.ty, "write `true` or `false`"),
            },
            Ty::Choice(choices) => {
                let word = match &e.kind {
                    ExprKind::Path(path) if path.len() == 1 => Some(path[0].name.clone()),
                    ExprKind::Str(s) => Some(s.clone()),
                    _ => None,
                };
                match word {
                    Some(w) if choices.contains(&w.as_str()) => Some(Value::Choice(w)),
                    Some(w) => self.bad_choice(&w, e.span, file, &what, choices),
                    None => {
                        self.mismatch(e, file, &p.ty, &format!("write one of {}", one_of(choices)))
                    }
                }
            }
            Ty::IntChoice(choices) => {
                let v = self.number(e, file)?;
                if choices.iter().any(|c| *c as f64 == v) {
                    Some(Value::Int(v as i64))
                } else {
                    let names: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
                    self.err(
                        Diagnostic::new(
                            Code::InvalidChoice,
                            file,
                            e.span,
                            format!("{what} cannot be {v}"),
                        )
                        .label("not an accepted value")
                        .help(format!("use {}", one_of(&names))),
                    );
                    None
                }
            }
            Ty::Norm => match &e.kind {
                ExprKind::Inf => Some(Value::Inf),
                ExprKind::Number { value, .. } if *value == 2.0 => Some(Value::Int(*value as i64)),
                ExprKind::Number { .. } => {
                    self.err(
                        Diagnostic::new(
                            Code::InvalidChoice,
                            file,
                            e.span,
                            format!(
                                "`norm` cannot be {}",
                                snippet(self.sources.text(file), e.span)
                            ),
                        )
                        .label("not a supported norm")
                        .help("use `inf` or `2`"),
                    );
                    None
                }
                _ => self.mismatch(e, file, &p.ty, "use `inf` or `2`"),
            },
            Ty::Position => match &e.kind {
                ExprKind::Path(path) if path.len() == 1 => {
                    let w = &path[0].name;
                    let choices = &["random", "top_left", "center"];
                    if choices.contains(&w.as_str()) {
                        Some(Value::Choice(w.clone()))
                    } else {
                        self.bad_choice(w, e.span, file, &what, choices)
                    }
                }
                ExprKind::List(items) if items.len() == 2 => {
                    let mut out = Vec::new();
                    for it in items {
                        out.push(Value::Int(self.int_value(
                            it,
                            file,
                            (0.0, 1e6),
                            "a position",
                        )?));
                    }
                    Some(Value::List(out))
                }
                _ => self.mismatch(
                    e,
                    file,
                    &p.ty,
                    "write `random`, `top_left`, `center` or `[y, x]` in pixels",
                ),
            },
            Ty::NumList(n) => {
                let ExprKind::List(items) = &e.kind else {
                    return self.mismatch(e, file, &p.ty, "write a list such as `[0.7, 0.3]`");
                };
                if n > 0 && items.len() != n {
                    self.err(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            file,
                            e.span,
                            format!("{what} takes {n} numbers, found {}", items.len()),
                        )
                        .label(format!("{} numbers", items.len()))
                        .help(format!(
                            "write {n} numbers, e.g. the default `{}`",
                            default_text(p)
                        )),
                    );
                    return None;
                }
                let mut out = Vec::new();
                for it in items {
                    let v = self.number(it, file)?;
                    if let Some(r) = p.range {
                        self.check_range(v, r, it.span, file, &what)?;
                    }
                    out.push(Value::Num(v));
                }
                Some(Value::List(out))
            }
            Ty::Numbers => {
                let nums = self.numbers(e, file, p.range, &what)?;
                Some(Value::List(nums.into_iter().map(Value::Num).collect()))
            }
            Ty::Data | Ty::Defense | Ty::Train => {
                let kind = match p.ty {
                    Ty::Data => DeclKind::Data,
                    Ty::Defense => DeclKind::Defense,
                    _ => DeclKind::Train,
                };
                self.node_ref(e, file, &[kind], &p.ty)
            }
            Ty::Model => self.model(e, file),
            Ty::Models => match &e.kind {
                ExprKind::List(items) => {
                    if items.is_empty() {
                        self.err(
                            Diagnostic::new(Code::Empty, file, e.span, "no models to evaluate")
                                .label("empty list")
                                .help("list the models, e.g. `[benign, at]`"),
                        );
                        return None;
                    }
                    let mut out = Vec::new();
                    let mut ok = true;
                    for it in items {
                        match self.model(it, file) {
                            Some(v) => out.push(v),
                            None => ok = false,
                        }
                    }
                    ok.then_some(Value::List(out))
                }
                _ => {
                    let v = self.model(e, file)?;
                    Some(Value::List(vec![v]))
                }
            },
            Ty::Split => self.split(e, file),
            Ty::Attack => self.attack(e, file, false),
        }
    }

    pub(super) fn mismatch(
        &mut self,
        e: &Expr,
        file: FileId,
        ty: &Ty,
        help: &str,
    ) -> Option<Value> {
        self.err(
            Diagnostic::new(
                Code::TypeMismatch,
                file,
                e.span,
                format!("expected {}, found {}", ty.describe(), e.describe()),
            )
            .label(format!("expected {}", ty.describe()))
            .help(help.to_string()),
        );
        None
    }

    pub(super) fn bad_choice(
        &mut self,
        w: &str,
        span: Span,
        file: FileId,
        what: &str,
        choices: &[&str],
    ) -> Option<Value> {
        let help = hint_then(
            suggest(w, choices.iter().copied()),
            format!("{what} is one of {}", one_of(choices)),
        );
        self.err(
            Diagnostic::new(
                Code::InvalidChoice,
                file,
                span,
                format!("{what} cannot be `{w}`"),
            )
            .label("not an accepted value")
            .help(help),
        );
        None
    }

    /// Numbers from a range, list or set, each within `range`.
    pub(super) fn numbers(
        &mut self,
        e: &Expr,
        file: FileId,
        range: Option<(f64, f64)>,
        what: &str,
    ) -> Option<Vec<f64>> {
        let values = match &e.kind {
            ExprKind::Range { start, end, step } => {
                self.range(start, end, step.as_ref(), file, e.span)?
            }
            ExprKind::List(items) | ExprKind::Set(items) => {
                let mut out = Vec::new();
                for it in items {
                    out.push(self.number(it, file)?);
                }
                out
            }
            _ => {
                let v = self.number(e, file)?;
                vec![v]
            }
        };
        if values.is_empty() {
            self.err(
                Diagnostic::new(Code::Empty, file, e.span, format!("{what} is empty"))
                    .label("no values")
                    .help("give at least one value, e.g. `[0, 4, 8]` or `0..12 step 2`"),
            );
            return None;
        }
        if let Some(r) = range {
            let spans: Vec<Span> = match &e.kind {
                ExprKind::List(items) | ExprKind::Set(items) => {
                    items.iter().map(|i| i.span).collect()
                }
                _ => vec![e.span; values.len()],
            };
            for (v, s) in values.iter().zip(spans) {
                self.check_range(*v, r, s, file, what)?;
            }
        }
        Some(values)
    }

    pub(super) fn range(
        &mut self,
        start: &Number,
        end: &Number,
        step: Option<&Number>,
        file: FileId,
        span: Span,
    ) -> Option<Vec<f64>> {
        match expand_range(start.value, end.value, step.map(|s| s.value)) {
            Ok(v) => Some(v),
            Err(RangeError::StepNotPositive) => {
                let s = step.expect("only an explicit step can be non-positive");
                let fix = format!(
                    "{}..{} step {}",
                    start.text,
                    end.text,
                    s.text.trim_start_matches('-')
                );
                self.err(
                    Diagnostic::new(
                        Code::RangeStep,
                        file,
                        s.span,
                        "a range step must be positive",
                    )
                    .label("the step's size goes here; the direction comes from the ends")
                    .help(if s.value == 0.0 {
                        "use a step greater than 0".to_string()
                    } else {
                        format!("write `{fix}`")
                    }),
                );
                None
            }
            Err(RangeError::EndNotReached { last, next }) => {
                let st = step.map_or("1".to_string(), |s| s.text.clone());
                self.err(
                    Diagnostic::new(Code::RangeEnd, file, span, format!("steps of {st} from {} never land on {}", start.text, end.text))
                        .label(format!("stops at {last}, then {next}"))
                        .help(format!("ranges include both ends: write `{}..{last} step {st}` or `{}..{next} step {st}`", start.text, start.text)),
                );
                None
            }
            Err(RangeError::TooMany(n)) => {
                self.err(
                    Diagnostic::new(
                        Code::OutOfRange,
                        file,
                        span,
                        format!("this range has {n} values"),
                    )
                    .label("too many values")
                    .help(format!(
                        "use a larger step; at most {} values",
                        schedule::MAX_RANGE_VALUES
                    )),
                );
                None
            }
        }
    }
}
