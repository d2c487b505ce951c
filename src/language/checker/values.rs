//! Argument values: numbers, ranges, type mismatches and choices.

use super::errors::{CheckError, Fix};
use super::suggest::suggest;
use super::util::{const_eval, default_text, snippet, ConstError};
use super::Checker;
use crate::language::ast::*;
use crate::language::builtins::{Param, Ty, EPS_RANGE};
use crate::language::program::Value;
use crate::language::schedule::{expand_range, RangeError};
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
            self.err(CheckError::NotWhole { what, v }.at(file, e.span));
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
        let eps_units = (lo, hi) == EPS_RANGE;
        self.err(
            CheckError::OutOfRange {
                what,
                v,
                lo,
                hi,
                eps_units,
            }
            .at(file, span),
        );
        None
    }

    pub(super) fn division_by_zero(&mut self, file: FileId, span: Span) {
        self.err(CheckError::DivisionByZero.at(file, span));
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
                    CheckError::NotANumber {
                        found: e.describe(),
                    }
                    .at(file, e.span),
                );
                None
            }
        }
    }

    /// A plain value for a user's Python code: a number (whole when written
    /// without a point or an exponent, as Python reads it), a string, a
    /// boolean, or a list of them.
    fn plain(&mut self, e: &Expr, file: FileId, ty: &Ty) -> Option<Value> {
        match &e.kind {
            ExprKind::Str(s) => Some(Value::Str(s.clone())),
            ExprKind::Bool(b) => Some(Value::Bool(*b)),
            ExprKind::Paren(inner) => self.plain(inner, file, ty),
            ExprKind::List(items) => {
                let mut out = Vec::new();
                for it in items {
                    out.push(self.plain(it, file, ty)?);
                }
                Some(Value::List(out))
            }
            ExprKind::Number { .. } | ExprKind::Neg(_) | ExprKind::Binary { .. } => {
                let v = self.number(e, file)?;
                Some(
                    if whole_literal(e) && v.fract() == 0.0 && v.abs() < 9.0e15 {
                        Value::Int(v as i64)
                    } else {
                        Value::Num(v)
                    },
                )
            }
            _ => self.mismatch(e, file, ty, Fix::Plain),
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
                _ => self.mismatch(e, file, &p.ty, Fix::Quoted),
            },
            Ty::Bool => match &e.kind {
                ExprKind::Bool(b) => Some(Value::Bool(*b)),
                _ => self.mismatch(e, file, &p.ty, Fix::Bool),
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
                    None => self.mismatch(e, file, &p.ty, Fix::OneOf(choices)),
                }
            }
            Ty::IntChoice(choices) => {
                let v = self.number(e, file)?;
                if choices.iter().any(|c| *c as f64 == v) {
                    Some(Value::Int(v as i64))
                } else {
                    let names: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
                    self.err(
                        CheckError::NotAnIntChoice {
                            what: &what,
                            v,
                            choices: names,
                        }
                        .at(file, e.span),
                    );
                    None
                }
            }
            Ty::Norm | Ty::NormL1 => {
                let l1 = p.ty == Ty::NormL1;
                match &e.kind {
                    ExprKind::Inf => Some(Value::Inf),
                    ExprKind::Number { value, .. } if *value == 2.0 || (l1 && *value == 1.0) => {
                        Some(Value::Int(*value as i64))
                    }
                    ExprKind::Number { .. } => {
                        let text = snippet(self.sources.text(file), e.span);
                        self.err(CheckError::BadNorm { text, l1 }.at(file, e.span));
                        None
                    }
                    _ => self.mismatch(e, file, &p.ty, Fix::Norm { l1 }),
                }
            }
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
                _ => self.mismatch(e, file, &p.ty, Fix::Position),
            },
            Ty::NumList(n) => {
                let ExprKind::List(items) = &e.kind else {
                    return self.mismatch(e, file, &p.ty, Fix::NumList);
                };
                if n > 0 && items.len() != n {
                    self.err(
                        CheckError::ListLength {
                            what: &what,
                            n,
                            found: items.len(),
                            default: default_text(p),
                        }
                        .at(file, e.span),
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
            Ty::Plain => self.plain(e, file, &p.ty),
            Ty::StrList => {
                let ExprKind::List(items) = &e.kind else {
                    return self.mismatch(e, file, &p.ty, Fix::StrList);
                };
                let mut out = Vec::new();
                for it in items {
                    match &it.kind {
                        ExprKind::Str(s) => out.push(Value::Str(s.clone())),
                        _ => return self.mismatch(it, file, &Ty::Str, Fix::Quoted),
                    }
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
                        self.err(CheckError::NoModels.at(file, e.span));
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
            Ty::Noise => {
                let ExprKind::Call { callee, args } = &e.kind else {
                    return self.mismatch(e, file, &p.ty, Fix::Noise);
                };
                let [arg] = args.as_slice() else {
                    return self.mismatch(e, file, &p.ty, Fix::Noise);
                };
                if callee.name != "gaussian" || arg.name.as_ref().is_some_and(|n| n.name != "sigma")
                {
                    return self.mismatch(e, file, &p.ty, Fix::Noise);
                }
                let sigma = self.number(&arg.value, file)?;
                self.check_range(sigma, (1e-6, 10.0), arg.value.span, file, "the noise's σ")?;
                Some(Value::Call {
                    builtin: "gaussian".into(),
                    args: [("sigma".to_string(), Value::Num(sigma))].into(),
                })
            }
            Ty::Attacks => match &e.kind {
                ExprKind::Set(items) | ExprKind::List(items) if !items.is_empty() => {
                    let mut out = Vec::new();
                    let mut ok = true;
                    for it in items {
                        match self.attack(it, file, false) {
                            Some(v) => out.push(v),
                            None => ok = false,
                        }
                    }
                    ok.then_some(Value::List(out))
                }
                ExprKind::Set(_) | ExprKind::List(_) => {
                    self.err(CheckError::NoAttacks.at(file, e.span));
                    None
                }
                _ => {
                    self.err(
                        CheckError::ExpectedAttackSet {
                            found: e.describe(),
                        }
                        .at(file, e.span),
                    );
                    None
                }
            },
        }
    }

    pub(super) fn mismatch(&mut self, e: &Expr, file: FileId, ty: &Ty, fix: Fix) -> Option<Value> {
        self.err(
            CheckError::Mismatch {
                expected: *ty,
                found: e.describe(),
                fix,
            }
            .at(file, e.span),
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
        self.err(
            CheckError::BadChoice {
                what,
                word: w,
                hint: suggest(w, choices.iter().copied()),
                choices,
            }
            .at(file, span),
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
            self.err(CheckError::EmptyValues { what }.at(file, e.span));
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
                self.err(
                    CheckError::RangeStep {
                        start: &start.text,
                        end: &end.text,
                        step: &s.text,
                        zero: s.value == 0.0,
                    }
                    .at(file, s.span),
                );
                None
            }
            Err(RangeError::EndNotReached { last, next }) => {
                self.err(
                    CheckError::RangeEnd {
                        start: &start.text,
                        end: &end.text,
                        step: step.map_or("1", |s| &s.text),
                        last,
                        next,
                    }
                    .at(file, span),
                );
                None
            }
            Err(RangeError::TooMany(n)) => {
                self.err(CheckError::RangeTooMany { n }.at(file, span));
                None
            }
        }
    }
}

/// Whether a constant is written with whole numbers only (`18`, `-2`,
/// `4 * 8`): Python reads it as an `int`, `0.5` or `1e3` as a `float`.
fn whole_literal(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Number { text, .. } => !text.contains(['.', 'e', 'E']),
        ExprKind::Neg(inner) | ExprKind::Paren(inner) => whole_literal(inner),
        ExprKind::Binary { op, lhs, rhs } => {
            !matches!(op, BinOp::Div) && whole_literal(lhs) && whole_literal(rhs)
        }
        _ => false,
    }
}
