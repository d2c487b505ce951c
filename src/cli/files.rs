//! The commands that read files and run nothing: `check`, `fmt`,
//! `builtins` and `cache verify`.

use super::{load, print_diagnostics, summary, Format};
use crate::graph;
use crate::language::{self, source::SourceMap};
use std::path::{Path, PathBuf};

/// `advp cache verify`.
pub(super) fn cache_verify(cache: Option<PathBuf>) -> i32 {
    use crate::runtime::cache::{verify_dir, Cache, Verdict};
    let root = cache.unwrap_or_else(|| PathBuf::from(".advp").join("cache"));
    let entries = Cache::new(root.clone()).entries();
    let (mut bad, mut old) = (0, 0);
    for dir in &entries {
        let name = dir
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        match verify_dir(dir) {
            Verdict::Verified => println!("ok          {name}"),
            Verdict::Unverified => {
                old += 1;
                println!("unverified  {name} (no manifest: written by an earlier advp)");
            }
            Verdict::Corrupt(problems) => {
                bad += 1;
                println!("damaged     {name}: {}", problems.join("; "));
            }
        }
    }
    eprintln!(
        "advp: {} entries in {}: {} damaged, {old} unverified{}",
        entries.len(),
        crate::util::shown(&root),
        bad,
        if bad > 0 {
            "; `advp run` moves damaged entries aside and computes them again"
        } else {
            ""
        }
    );
    i32::from(bad > 0)
}

pub(super) fn builtins(markdown: bool) {
    use language::builtins::{reference_markdown, Default, BUILTINS};
    if markdown {
        print!("{}", reference_markdown());
        return;
    }
    for b in BUILTINS {
        let args: Vec<String> = b
            .params
            .iter()
            .map(|p| match p.default {
                Default::Required => p.name.to_string(),
                Default::Absent => format!("{}?", p.name),
                Default::Text(t) => format!("{}: {t}", p.name),
            })
            .collect();
        // Statement defaults (an evaluation's attack) follow the call.
        let stmts: Vec<String> = b
            .stmts
            .iter()
            .filter_map(|s| s.default.map(|d| format!("{} {d}", s.key)))
            .collect();
        let block = if stmts.is_empty() {
            String::new()
        } else {
            format!(" {{ {} }}", stmts.join("; "))
        };
        println!(
            "{:<8} {}({}){block}",
            b.kind.as_str(),
            b.name,
            args.join(", ")
        );
    }
}

/// Where the pipeline has `python(…)` models: says which Python and torch
/// they run on (stderr), or refuses them at the first with why they cannot
/// run here (no bridge in this build, a torch of another version).
fn python_models(
    p: &crate::language::program::Program,
    nodes: &[crate::runtime::spec::NodeSpec],
) -> Vec<crate::language::diagnostic::Diagnostic> {
    use crate::runtime::models::Arch;
    use crate::runtime::spec::NodeSpec;
    let Some(i) = nodes
        .iter()
        .position(|n| matches!(n, NodeSpec::Model(m) if matches!(m.arch, Arch::Python(_))))
    else {
        return Vec::new();
    };
    match python_found() {
        Ok(words) => {
            eprintln!("advp: {words}");
            Vec::new()
        }
        Err(why) => {
            let n = &p.nodes[i];
            vec![crate::language::diagnostic::Diagnostic::new(
                crate::language::diagnostic::Code::CannotRun,
                n.file,
                n.name_span,
                format!("`{}` is a `python` model, and it cannot run here: {why}", n.name),
            )
            .label("this model")
            .help("run advp built with the project's venv (`scripts/env.sh`), whose torch is the libtorch advp links")]
        }
    }
}

#[cfg(feature = "python")]
fn python_found() -> Result<String, String> {
    crate::runtime::models::python::found()
}

#[cfg(not(feature = "python"))]
fn python_found() -> Result<String, String> {
    Err("this advp was built without the Python bridge (`--no-default-features`)".into())
}

/// What `advp check` says of a loaded file.
pub struct Diagnosed {
    /// The checker's outcome (its sources, and the program of the file as
    /// written); its errors are in `errors`.
    pub outcome: crate::language::Outcome,
    pub errors: Vec<crate::language::Diagnostic>,
    pub warnings: Vec<crate::language::Diagnostic>,
    /// The nodes of the planned program.
    pub nodes: usize,
}

/// The file as written and under each profile, checked and planned; what
/// checks but cannot run (an error here too, not at run time); files not
/// there; `python` models where the Python bridge cannot run (`python`:
/// whether to ask). `advp check` and `advp lsp` say the same.
pub(super) fn diagnose(
    loaded: &crate::language::loader::Loaded,
    base: &Path,
    python: bool,
) -> Diagnosed {
    let mut outcome = crate::graph::check_all(loaded);
    let mut errors = std::mem::take(&mut outcome.errors);
    let mut warnings = Vec::new();
    let mut nodes = 0;
    if let Some(p) = &outcome.program {
        match graph::plan(p) {
            Ok(plan) => nodes = plan.order.len(),
            Err(e) => errors.extend(e),
        }
        let lowered = crate::runtime::lower::lower(p, base);
        errors.extend(lowered.problems.into_iter().map(|(_, d)| d));
        warnings.extend(lowered.missing.into_iter().map(|(_, d)| d));
        warnings.extend(lowered.warnings.into_iter().map(|(_, d)| d));
        if python {
            errors.extend(python_models(p, &lowered.nodes));
        }
    }
    Diagnosed {
        outcome,
        errors,
        warnings,
        nodes,
    }
}

pub(super) fn check(files: &[PathBuf], format: Format) -> i32 {
    let mut status = 0;
    let mut json = Vec::new();
    for file in files {
        let loaded = match load(file) {
            Ok(l) => l,
            Err(code) => {
                status = status.max(code);
                continue;
            }
        };
        let base = file.parent().unwrap_or(Path::new("."));
        let Diagnosed {
            outcome,
            errors,
            warnings,
            nodes,
        } = diagnose(&loaded, base, true);
        match format {
            Format::Json => json.extend(
                errors
                    .iter()
                    .chain(&warnings)
                    .map(|d| d.to_json(&outcome.sources)),
            ),
            Format::Text if errors.is_empty() => {
                print_diagnostics(&warnings, &outcome.sources);
                let profiles = outcome.program.as_ref().map_or(0, |p| p.profiles.len());
                let w = match warnings.len() {
                    0 => String::new(),
                    1 => ", 1 warning".to_string(),
                    n => format!(", {n} warnings"),
                };
                println!(
                    "ok: {} ({nodes} nodes, {profiles} profiles{w})",
                    crate::util::shown(file)
                );
            }
            Format::Text => {
                print_diagnostics(&errors, &outcome.sources);
                summary(file, errors.len());
            }
        }
        if !errors.is_empty() {
            status = status.max(1);
        }
    }
    if format == Format::Json {
        let out = serde_json::json!({ "ok": status == 0, "diagnostics": json });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("diagnostics serialise")
        );
    }
    status
}

pub(super) fn fmt(files: &[PathBuf], check_only: bool) -> i32 {
    let mut status = 0;
    for file in files {
        let text = match language::loader::read_source(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                status = 2;
                continue;
            }
        };
        let mut sources = SourceMap::default();
        let id = sources.add(file.display().to_string(), Some(file.clone()), text.clone());
        let module = match language::parser::parse(&text, id) {
            Ok(m) => m,
            Err(errs) => {
                print_diagnostics(&errs, &sources);
                summary(file, errs.len());
                status = status.max(1);
                continue;
            }
        };
        let formatted = language::fmt::format(&text, &module);
        if formatted == text {
            continue;
        }
        if check_only {
            eprintln!("would reformat {}", crate::util::shown(file));
            status = status.max(1);
        } else if let Err(e) = crate::util::rewrite_atomic(file, formatted.as_bytes()) {
            eprintln!("error: {e}");
            status = 2;
        } else {
            eprintln!("formatted {}", crate::util::shown(file));
        }
    }
    status
}

/// How `advp init`'s starter takes the user's model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum StarterModel {
    Python,
    Torchscript,
}

/// The starter pipeline of `advp init`: a user's model on a user's
/// safetensors clips, evaluated the strong way, then fine-tuned with PGD-AT
/// and evaluated again. `{model}` and `{weights}` are filled per
/// [`StarterModel`].
const STARTER: &str = r#"# A starter pipeline: your video classifier on your clips.
# Check it with `advp check FILE`, run it with `advp run FILE`; every finished
# step is cached, so a second run finishes at once. docs/bring-your-own.md
# says how to write both files.
use "stdlib/attacks.advp"

seed 1
device auto

# Clips as one safetensors file: `x` (N×C×T×H×W, float in [0, 1]) and `y`
# (N, int64 labels) for training, `x_test` and `y_test` for testing.
# `val: 0.1` holds out 10 % of the training clips for the per-epoch checks.
data clips = tensors(path: "clips.safetensors", val: 0.1)

{model}
# Robustness under AutoAttack's standard version (APGD-CE, APGD-T, FAB-T and
# Square, worst case per clip) at each budget ε (0..255 units: 8 means 8/255).
eval robust = robustness([net], clips.test, protocol: worst_case) {
  attack autoattack
  budget sweep [0, 4, 8]
}

# Adversarial fine-tuning (PGD-5 at ε 8, α = ε / 4), then the same evaluation.
train robust_net = adversarial(net, clips, attack: pgd_inf(steps: 5), epochs: 10, batch: 16, lr: 0.001) {
  budget fixed 8
  alpha eps / 4
}

eval after = robustness([net, robust_net], clips.test, protocol: worst_case) {
  attack autoattack
  budget sweep [0, 4, 8]
  # A claim is a paired test on the same clips: holds, does not hold, or
  # cannot tell at this size.
  compare robust_net > net at eps 8
}

report robust to "robust.md", "robust.csv", "robust.json"
report after to "after.md", "after.csv", "after.json"
report robust_net to "robust_net.csv"
report robust_net weights to {weights}
"#;

/// The model lines of the starter, per [`StarterModel`].
const PYTHON_MODEL: &str = r#"# Your PyTorch model as you wrote it: `build(classes=N)` in net.py returns
# the nn.Module, which takes clips N×C×T×H×W in [0, 1] and gives logits (or
# an object with `.logits`). Add `mean: [...]` and `std: [...]` (in [0, 1]
# pixel units) if it expects normalised clips, `layout: ntchw` if it takes
# N×T×C×H×W, `pretrained: "weights.pth"` for your trained weights, and any
# further argument of `build` by its name (`depth: 18`).
model net = python(path: "net.py", factory: "build", classes: clips.classes)
"#;

const TORCHSCRIPT_MODEL: &str = r#"# Your model, exported with torch.jit.script or torch.jit.trace: clips
# N×C×T×H×W in [0, 1] in, logits out, normalisation inside the module.
model net = torchscript(path: "model.pt")
"#;

/// The starter for a model kind, and the files it reads.
fn starter(model: StarterModel) -> (String, &'static str) {
    let (line, weights, files) = match model {
        StarterModel::Python => (PYTHON_MODEL, "\"robust_net.safetensors\"", "net.py"),
        StarterModel::Torchscript => (
            TORCHSCRIPT_MODEL,
            "\"robust_net.safetensors\", \"robust_net.pt\"",
            "model.pt",
        ),
    };
    (
        STARTER
            .replace("{model}", line)
            .replace("{weights}", weights),
        files,
    )
}

/// `advp init FILE`: writes the starter pipeline, never over a file.
pub(super) fn init(file: &Path, model: StarterModel) -> i32 {
    if file.exists() {
        eprintln!(
            "error: {} exists; advp init writes a new file only (give it another name)",
            crate::util::shown(file)
        );
        return 2;
    }
    let (text, reads) = starter(model);
    match crate::util::write_atomic(file, text.as_bytes()) {
        Ok(()) => {
            println!(
                "wrote {}: put your {reads} and clips.safetensors beside it, then `advp check {0}` and `advp run {0}`",
                crate::util::shown(file)
            );
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}
