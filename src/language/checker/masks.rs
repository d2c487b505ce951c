//! The masked attacks against the frames they run on: a `frame_border`
//! whose ratio cannot be drawn on the data's frames (known when the data
//! declares `size`) is an error before anything runs. The closed forms are
//! in `language/geometry.rs`, shared with the runtime's masks.

use super::errors::CheckError;
use crate::language::ast::DeclKind;
use crate::language::diagnostic::Diagnostic;
use crate::language::geometry::{border_thickness, min_border_ratio};
use crate::language::program::{Node, Program, Value};

/// Every `frame_border` attack of a train or eval node whose ratio cannot fit
/// the frames of the data it runs on.
pub(super) fn check_masks(p: &Program) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for n in &p.nodes {
        if !matches!(n.kind, DeclKind::Train | DeclKind::Eval) {
            continue;
        }
        let Some((data, size)) = frame_size(p, n) else {
            continue;
        };
        let mut found = Vec::new();
        for v in n.written_values() {
            borders(v, &mut found);
        }
        for b in found {
            let Value::Call { args, .. } = b else {
                continue;
            };
            let Some(ratio) = args.get("ratio").and_then(Value::as_f64) else {
                continue;
            };
            if let Err(why) = border_thickness(size, size, ratio) {
                let error = CheckError::BorderDoesNotFit {
                    node: &n.name,
                    ratio,
                    data: &data,
                    size,
                    why,
                    min: min_border_ratio(size, size),
                };
                errors.push(error.at(n.file, n.name_span));
            }
        }
    }
    errors
}

/// The data node a node reads and the side of its frames, when it says.
fn frame_size(p: &Program, n: &Node) -> Option<(String, i64)> {
    n.args.values().find_map(|v| {
        let data = match v {
            Value::Node(d) | Value::Split { data: d, .. } => p.node(d)?,
            _ => return None,
        };
        (data.kind == DeclKind::Data)
            .then(|| {
                data.args
                    .get("size")
                    .and_then(|s| s.as_i64().or(s.as_f64().map(|f| f as i64)))
            })
            .flatten()
            .map(|s| (data.name.clone(), s))
    })
}

/// Every `frame_border` call in a value, however deep.
fn borders<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Call { builtin, args } => {
            if builtin == "frame_border" {
                out.push(v);
            }
            args.values().for_each(|a| borders(a, out));
        }
        Value::List(items) | Value::Compose(items) => items.iter().for_each(|a| borders(a, out)),
        Value::Record(r) => r.values().for_each(|a| borders(a, out)),
        _ => {}
    }
}
