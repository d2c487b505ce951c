//! The closed forms of the masked attacks' geometry, shared by `advp check`
//! (a ratio that cannot fit the data's frames is an error before anything
//! runs) and the runtime (the masks themselves). Plain arithmetic, no tensors.

/// Patch sides H·√r × W·√r, rounded, at least one pixel.
pub fn patch_sides(h: i64, w: i64, ratio: f64) -> (i64, i64) {
    let s = ratio.sqrt();
    (
        ((h as f64 * s).round() as i64).clamp(1, h),
        ((w as f64 * s).round() as i64).clamp(1, w),
    )
}

/// The fraction of an h×w frame that a one-pixel border covers: the smallest
/// ratio `frame_border` can draw.
pub fn min_border_ratio(h: i64, w: i64) -> f64 {
    (2 * (h + w) - 4) as f64 / (h * w) as f64
}

/// Border thickness t = ⌊(2(W+H) − √(4(W+H)² − 16·r·W·H)) / 8⌋, so that the
/// border covers a fraction r of the frame; an error when that is less than a pixel.
pub fn border_thickness(h: i64, w: i64, ratio: f64) -> Result<i64, String> {
    let (hf, wf) = (h as f64, w as f64);
    let disc = 4.0 * (wf + hf).powi(2) - 16.0 * ratio * wf * hf;
    if disc < 0.0 {
        return Err(format!("a border cannot cover {ratio} of a {h}×{w} frame"));
    }
    let t = ((2.0 * (wf + hf) - disc.sqrt()) / 8.0).floor() as i64;
    if t < 1 {
        return Err(format!(
            "a border covering {ratio} of a {h}×{w} frame is thinner than one pixel; raise `ratio` (at least {:.4} here)",
            min_border_ratio(h, w)
        ));
    }
    Ok(t.min(h.min(w) / 2 + 1))
}

use super::ast::DeclKind;
use super::diagnostic::{Code, Diagnostic};
use super::program::{Program, StmtValue, Value};

/// Every `frame_border` attack of a train or eval node whose ratio cannot fit
/// the frames of the data it runs on (known when the data declares `size`).
pub fn check_masks(p: &Program) -> Vec<Diagnostic> {
    fn borders<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Call { builtin, args } => {
                if builtin == "frame_border" {
                    out.push(v);
                }
                args.values().for_each(|a| borders(a, out));
            }
            Value::List(items) | Value::Compose(items) => {
                items.iter().for_each(|a| borders(a, out))
            }
            Value::Record(r) => r.values().for_each(|a| borders(a, out)),
            _ => {}
        }
    }
    let mut errors = Vec::new();
    for n in &p.nodes {
        if !matches!(n.kind, DeclKind::Train | DeclKind::Eval) {
            continue;
        }
        // The frame size of the data this node reads.
        let size = n.args.values().find_map(|v| {
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
        });
        let Some((data, size)) = size else { continue };
        let mut found = Vec::new();
        for v in n.args.values() {
            borders(v, &mut found);
        }
        for s in n.stmts.values() {
            match s {
                StmtValue::Schedule { values, .. } => {
                    values.iter().for_each(|v| borders(v, &mut found))
                }
                StmtValue::Setting { value, .. } => borders(value, &mut found),
            }
        }
        for b in found {
            let Value::Call { args, .. } = b else {
                continue;
            };
            let Some(ratio) = args.get("ratio").and_then(Value::as_f64) else {
                continue;
            };
            if let Err(e) = border_thickness(size, size, ratio) {
                let min = min_border_ratio(size, size);
                errors.push(
                    Diagnostic::new(
                        Code::OutOfRange,
                        n.file,
                        n.name_span,
                        format!("`{}` runs `frame_border(ratio: {ratio})` on `{data}`: {e}", n.name),
                    )
                    .label(format!("`{data}` has {size}×{size} frames"))
                    .help(format!(
                        "a one-pixel border of a {size}×{size} frame covers {min:.4} of it: use `ratio` ≥ {min:.4}, or larger frames"
                    )),
                );
            }
        }
    }
    errors
}
