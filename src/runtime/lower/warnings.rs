//! What lowering warns of before any work: budgets that look like [0, 1]
//! units, files a node reads that are not there or are not files.

use super::Cx;
use crate::language::builtins;
use crate::language::diagnostic::{Code, Diagnostic};
use crate::language::program::{Program, Value};
use crate::runtime::models::python_spec::PySource;
use crate::runtime::spec::*;
use std::path::Path;

/// Budgets of 0..1 in a language of 0..255 units: a node whose every
/// nonzero budget ε is below 1 was most likely written in [0, 1] units
/// (`0.03` for 8/255). A warning, since it may be meant. The budgets are
/// those the node runs: a sweep's or a schedule's, else its attacks' ε.
pub(super) fn tiny_budgets(program: &Program, nodes: &[NodeSpec]) -> Vec<(NodeId, Diagnostic)> {
    let mut out = Vec::new();
    for (i, spec) in nodes.iter().enumerate() {
        let values: Vec<f64> = match spec {
            NodeSpec::Eval(e) => match &e.columns {
                Columns::Budgets(b) => b.clone(),
                Columns::Attacks(list) => list.iter().flatten().map(|a| a.attack.eps()).collect(),
            },
            NodeSpec::Train(t) => match &t.training.schedule {
                ScheduleSpec::Budgets(s) => s.values().into_iter().copied().collect(),
                ScheduleSpec::Types(s) => s.values().iter().map(|a| a.attack.eps()).collect(),
                ScheduleSpec::Clean => Vec::new(),
            },
            _ => Vec::new(),
        };
        let positive: Vec<f64> = values.into_iter().filter(|v| *v > 0.0).collect();
        if positive.is_empty() || positive.iter().any(|v| *v >= 1.0) {
            continue;
        }
        let n = &program.nodes[i];
        let biggest = positive.iter().copied().fold(0.0, f64::max);
        let meant = (biggest * 255.0).round().max(1.0);
        out.push((
            i,
            Diagnostic::new(
                Code::TinyBudget,
                n.file,
                n.name_span,
                format!(
                    "every budget of `{}` is below 1: ε is in 0..255 units, so {biggest} means {biggest}/255 of the pixel range",
                    n.name
                ),
            )
            .label("budgets all below 1")
            .help(format!(
                "did you mean {meant}? Write budgets as the paper does, 8 for 8/255 (0..255 units); leave it if {biggest}/255 is meant"
            ))
            .warning(),
        ));
    }
    out
}

/// A warning for a `python(…)` argument that goes to the factory but is a
/// letter or two from one of advp's own (`pretrianed`, `ouput`): most
/// likely a typo that hands the factory what was meant for advp.
pub(super) fn factory_arguments(program: &Program) -> Vec<(NodeId, Diagnostic)> {
    let Some(b) = builtins::lookup("python") else {
        return Vec::new();
    };
    let own: Vec<&str> = b
        .params
        .iter()
        .map(|p| p.name)
        .filter(|n| *n != builtins::EXTRA)
        .collect();
    let mut out = Vec::new();
    for (i, n) in program.nodes.iter().enumerate() {
        if n.builtin != "python" {
            continue;
        }
        for k in n.args.keys().filter(|k| b.param(k).is_none()) {
            let Some(meant) = crate::language::diagnostic::nearest(k, own.iter().copied()) else {
                continue;
            };
            out.push((
                i,
                Diagnostic::new(
                    Code::FactoryArgument,
                    n.file,
                    n.name_span,
                    format!("`{k}` of `{}` goes to its factory as a keyword argument, and advp has an argument `{meant}`", n.name),
                )
                .label(format!("`{}` passes `{k}` on", n.name))
                .help(format!("did you mean `{meant}`? advp reads `{meant}` itself; keep `{k}` if the factory takes it"))
                .warning(),
            ));
        }
    }
    out
}

/// A warning for every file or folder a node reads ([`builtins::READ_PATHS`])
/// that does not exist now, relative to the pipeline's folder.
pub(super) fn missing_files(program: &Program, cx: &Cx) -> Vec<(NodeId, Diagnostic)> {
    let mut out = Vec::new();
    for (i, n) in program.nodes.iter().enumerate() {
        for (key, p) in read_paths(n) {
            let path = cx.path(p);
            if p.is_empty() {
                continue;
            }
            // A `python(…)` model's module named by its dotted name.
            if n.builtin == "python"
                && key == "path"
                && matches!(PySource::of(p, path.clone()), PySource::Module(_))
            {
                continue;
            }
            if path.exists() {
                // A data file, weights or a module must be a regular file: a
                // FIFO or a device would block the run or never end.
                if key != "root" && key != "sources" {
                    if let Some(d) = not_a_file(n, key, p, &path) {
                        out.push((i, d));
                    }
                }
                continue;
            }
            out.push((
                i,
                Diagnostic::new(
                    Code::MissingFile,
                    n.file,
                    n.name_span,
                    format!("`{}` reads `{key}: \"{p}\"`, and {} does not exist", n.name, path.display()),
                )
                .label(format!("`{}` needs it", n.name))
                .help("put the file there, or change the path (relative paths start at the pipeline's folder); a profile that does not use this node runs without it")
                .warning(),
            ));
        }
    }
    out
}

/// The files and folders a node names: its [`builtins::READ_PATHS`]
/// arguments and each of its `sources`, with the argument naming them.
fn read_paths(n: &crate::language::program::Node) -> Vec<(&'static str, &str)> {
    let mut out: Vec<(&'static str, &str)> = builtins::READ_PATHS
        .iter()
        .filter_map(|key| match n.args.get(*key) {
            Some(Value::Str(p)) => Some((*key, p.as_str())),
            _ => None,
        })
        .collect();
    if let Some(Value::List(items)) = n.args.get("sources") {
        out.extend(items.iter().filter_map(|v| match v {
            Value::Str(p) => Some(("sources", p.as_str())),
            _ => None,
        }));
    }
    out
}

/// A warning (an error where the node must run) for a file argument that
/// names a folder, a FIFO, a device or a socket.
fn not_a_file(
    n: &crate::language::program::Node,
    key: &str,
    p: &str,
    path: &Path,
) -> Option<Diagnostic> {
    let why = crate::util::not_regular(path)?;
    Some(
        Diagnostic::new(
            Code::NotAFile,
            n.file,
            n.name_span,
            format!("`{}` reads `{key}: \"{p}\"`, and {why}", n.name),
        )
        .label(format!("`{}` reads it", n.name))
        .help("name the file itself (a FIFO, a device or a folder is never read); relative paths start at the pipeline's folder")
        .warning(),
    )
}
