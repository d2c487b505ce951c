//! Attacks against the class counts known when checking. The DLR loss reads
//! the third-largest logit and its targeted form (APGD-T) the fourth, so
//! APGD-DLR needs 3 classes and APGD-T 4, as AutoAttack's `check_n_classes`
//! says; below that the runtime attacks with cross-entropy in their place
//! (`Apgd::fallback`), and `advp check` warns here where it knows the count:
//! the data's `classes` (`synthetic`), a fixed dataset's count (the table's
//! `KNOWN_CLASSES`) or a model's `classes: N`. A user's tensors learn theirs
//! when they run, and the records say what ran. (APGD-T and FAB-T target
//! min(`targets`, classes − 1) classes, as the reference's 9 on 10 classes.)

use super::ast::DeclKind;
use super::builtins;
use super::diagnostic::{Code, Diagnostic};
use super::program::{Program, Value};

/// A warning for every train, eval or defense node with an APGD whose loss
/// needs more classes than its data has, by node index: what runs instead.
pub fn check(p: &Program) -> Vec<(usize, Diagnostic)> {
    let mut warnings = Vec::new();
    for (i, n) in p.nodes.iter().enumerate() {
        if !matches!(n.kind, DeclKind::Train | DeclKind::Eval | DeclKind::Defense) {
            continue;
        }
        let Some((whose, classes)) = classes_of(p, n.args.values()) else {
            continue;
        };
        let mut found = Vec::new();
        for v in n.written_values() {
            apgds(v, &mut found);
        }
        // One warning per node: the most demanding APGD it runs.
        let Some((need, call)) = found.into_iter().max_by_key(|(need, _)| *need) else {
            continue;
        };
        if classes >= need {
            continue;
        }
        let (what, instead) = match need {
            4 => (
                format!("APGD-T, whose targeted DLR loss reads the 4th-largest logit (`{call}`; `autoattack`, `autoattack_plus` and `apgd_t` include it)"),
                "the targeted cross-entropy −CE(z, t)",
            ),
            _ => (
                format!("APGD with the DLR loss, which reads the 3rd-largest logit (`{call}`)"),
                "cross-entropy",
            ),
        };
        warnings.push((
            i,
            Diagnostic::new(
                Code::TooFewClasses,
                n.file,
                n.name_span,
                format!(
                    "`{}` runs {what}, and {whose} has {classes} classes: it attacks with {instead} instead",
                    n.name
                ),
            )
            .label(format!("{whose} has {classes} classes"))
            .help(fix(classes))
            .warning(),
        ));
    }
    warnings
}

/// What to write to say so.
fn fix(classes: i64) -> String {
    let others = classes - 1;
    format!(
        "leave it to run AutoAttack as {classes} classes allow (its targeted attacks target the {others} other class{}; the records and `model_info` name the loss that ran), or attack with cross-entropy by name: `attack ensemble(attacks: [apgd_ce, fab_t, square_5000])`",
        if others == 1 { "" } else { "es" }
    )
}

/// The class count of the data a node reads, else of a model it names.
fn classes_of<'a>(
    p: &Program,
    args: impl Iterator<Item = &'a Value> + Clone,
) -> Option<(String, i64)> {
    let of_data = args.clone().find_map(|v| {
        let d = match v {
            Value::Node(d) | Value::Split { data: d, .. } => p.node(d)?,
            _ => return None,
        };
        if d.kind != DeclKind::Data {
            return None;
        }
        let c = match d.builtin.as_str() {
            "synthetic" => d.args.get("classes").and_then(Value::as_i64),
            b => builtins::known_classes(b),
        }?;
        Some((format!("`{}`", d.name), c))
    });
    of_data.or_else(|| {
        let mut models = Vec::new();
        for v in args {
            model_names(v, &mut models);
        }
        models.into_iter().find_map(|m| {
            // A trained model is its `model` argument's network.
            let mut m = p.node(m)?;
            for _ in 0..p.nodes.len() {
                match (m.kind, m.args.get("model")) {
                    (DeclKind::Train, Some(Value::Node(next))) => m = p.node(next)?,
                    _ => break,
                }
            }
            let c = match m.args.get("classes")? {
                Value::Int(c) => *c,
                _ => return None,
            };
            (m.kind == DeclKind::Model).then(|| (format!("`{}`", m.name), c))
        })
    })
}

fn model_names<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Node(m) => out.push(m),
        Value::List(items) | Value::Compose(items) => {
            items.iter().for_each(|i| model_names(i, out))
        }
        _ => {}
    }
}

/// Every `apgd` call inside a value (ensembles and `eot` included), with
/// the classes its loss needs and how it reads.
fn apgds(v: &Value, out: &mut Vec<(i64, String)>) {
    match v {
        Value::Call { builtin, args } => {
            if builtin == "apgd" {
                let dlr = matches!(args.get("loss"), Some(Value::Choice(w)) if w == "dlr");
                let targets = args.get("targets").and_then(Value::as_i64).unwrap_or(0);
                let need = match (dlr, targets) {
                    (false, _) => 2,
                    (true, 0) => 3,
                    (true, _) => 4,
                };
                let shown = if targets > 0 {
                    format!("apgd(loss: dlr, targets: {targets})")
                } else if dlr {
                    "apgd(loss: dlr)".to_string()
                } else {
                    "apgd(loss: ce)".to_string()
                };
                out.push((need, shown));
            }
            args.values().for_each(|a| apgds(a, out));
        }
        Value::List(items) | Value::Compose(items) => items.iter().for_each(|a| apgds(a, out)),
        Value::Record(r) => r.values().for_each(|a| apgds(a, out)),
        _ => {}
    }
}
