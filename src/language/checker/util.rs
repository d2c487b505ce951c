//! Free helpers: constant arithmetic, source snippets, span shifting.

use crate::language::ast::*;
use crate::language::builtins::{self, Param};
use crate::language::program::Device;

pub(super) fn article(k: DeclKind) -> String {
    match k {
        DeclKind::Data => "data".into(),
        DeclKind::Attack | DeclKind::Eval | DeclKind::Analyze => format!("an {k}"),
        _ => format!("a {k}"),
    }
}

pub(super) fn snippet(src: &str, span: Span) -> String {
    src.get(span.start..span.end).unwrap_or("…").to_string()
}

pub(super) fn default_text(p: &Param) -> &'static str {
    match p.default {
        builtins::Default::Text(t) => t,
        _ => "…",
    }
}

pub(super) fn parse_device(s: &str) -> Option<Device> {
    match s {
        "auto" => Some(Device::Auto),
        "cpu" => Some(Device::Cpu),
        "cuda" => Some(Device::Cuda(0)),
        _ => s.strip_prefix("cuda:")?.parse().ok().map(Device::Cuda),
    }
}

pub(super) enum ConstError {
    NotConst,
    DivZero(Span),
}

/// Evaluates literal arithmetic (`0.015 * 255`).
pub(super) fn const_eval(e: &Expr) -> Result<f64, ConstError> {
    match &e.kind {
        ExprKind::Number { value, .. } => Ok(*value),
        ExprKind::Paren(i) => const_eval(i),
        ExprKind::Neg(i) => Ok(-const_eval(i)?),
        ExprKind::Binary { op, lhs, rhs } if *op != BinOp::Compose => {
            let l = const_eval(lhs)?;
            let r = const_eval(rhs)?;
            Ok(match op {
                BinOp::Add => l + r,
                BinOp::Sub => l - r,
                BinOp::Mul => l * r,
                _ if r == 0.0 => return Err(ConstError::DivZero(rhs.span)),
                _ => l / r,
            })
        }
        _ => Err(ConstError::NotConst),
    }
}

pub(super) fn shift_spans(e: &mut Expr, by: usize) {
    fn sh(s: &mut Span, by: usize) {
        s.start += by;
        s.end += by;
    }
    fn id(i: &mut Ident, by: usize) {
        sh(&mut i.span, by);
    }
    sh(&mut e.span, by);
    match &mut e.kind {
        ExprKind::List(v) | ExprKind::Set(v) => v.iter_mut().for_each(|x| shift_spans(x, by)),
        ExprKind::Record(fs) => fs.iter_mut().for_each(|f| {
            id(&mut f.name, by);
            shift_spans(&mut f.value, by)
        }),
        ExprKind::Range { start, end, step } => {
            sh(&mut start.span, by);
            sh(&mut end.span, by);
            if let Some(s) = step {
                sh(&mut s.span, by);
            }
        }
        ExprKind::Path(p) => p.iter_mut().for_each(|i| id(i, by)),
        ExprKind::Call { callee, args } => {
            id(callee, by);
            for a in args {
                sh(&mut a.span, by);
                if let Some(n) = &mut a.name {
                    id(n, by);
                }
                shift_spans(&mut a.value, by);
            }
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            shift_spans(lhs, by);
            shift_spans(rhs, by);
        }
        ExprKind::Neg(i) | ExprKind::Paren(i) => shift_spans(i, by),
        ExprKind::Number { .. } | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::Inf => {}
    }
}
