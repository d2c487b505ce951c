//! Golden tests, one per file: ASTs with spans, rendered diagnostics, fmt output and graphs.
//!
//! Snapshots live in `tests/golden/snapshots/`. After an intended change, review with
//! `INSTA_UPDATE=always cargo test --test golden` and `git diff`.

use advp::graph;
use advp::language::{self, ast::Module, fmt, loader, parser, source::FileId};
use datatest_stable::Utf8Path;
use std::path::PathBuf;

type Result = datatest_stable::Result<()>;

fn snapshot_name(path: &Utf8Path) -> String {
    let parent = path.parent().and_then(|p| p.file_name()).unwrap_or("x");
    format!("{parent}__{}", path.file_stem().unwrap_or("x"))
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/snapshots"
    ));
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

/// The name a file is shown under in snapshots: relative, so snapshots do not depend on the checkout.
fn shown(path: &Utf8Path) -> String {
    path.as_str()
        .trim_start_matches("tests/golden/")
        .to_string()
}

fn load(path: &Utf8Path, text: String) -> loader::Loaded {
    let abs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path.as_str());
    loader::load_source(&shown(path), Some(abs), text)
}

/// The AST as JSON with every span removed, to compare trees across layouts.
fn without_spans(m: &Module) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.retain(|k, _| !k.ends_with("span"));
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(m).expect("the AST serialises");
    strip(&mut v);
    v
}

/// fmt is idempotent and keeps the tree; returns the formatted text.
fn check_fmt(name: &str, text: &str, module: &Module) -> String {
    let once = fmt::format(text, module);
    let reparsed = parser::parse(&once, FileId(0))
        .unwrap_or_else(|e| panic!("{name}: fmt output does not parse: {e:?}\n{once}"));
    assert_eq!(
        without_spans(module),
        without_spans(&reparsed),
        "{name}: fmt changed the tree"
    );
    let twice = fmt::format(&once, &reparsed);
    assert_eq!(once, twice, "{name}: fmt is not idempotent");
    let comments = |s: &str| parser::comments(s).len();
    assert_eq!(
        comments(text),
        comments(&once),
        "{name}: fmt lost a comment"
    );
    once
}

/// Checks with every profile and plans; panics with the rendered diagnostics otherwise.
fn checked(path: &Utf8Path, loaded: &loader::Loaded) -> (language::Program, graph::Plan) {
    let outcome = advp::graph::check_all(loaded);
    let rendered: Vec<String> = outcome
        .errors
        .iter()
        .map(|d| d.render_plain(&outcome.sources, 80))
        .collect();
    assert!(
        outcome.errors.is_empty(),
        "{path} should check:\n{}",
        rendered.join("\n")
    );
    let program = outcome.program.expect("a checked program");
    let plan = graph::plan(&program).unwrap_or_else(|e| panic!("{path}: cycle {e:?}"));
    (program, plan)
}

fn valid(path: &Utf8Path, text: String) -> Result {
    let name = snapshot_name(path);
    let loaded = load(path, text.clone());
    let module = loaded.modules[0].1.clone();
    assert!(
        loaded.errors.is_empty(),
        "{path} should parse: {:?}",
        loaded.errors
    );
    let (program, plan) = checked(path, &loaded);
    let formatted = check_fmt(&name, &text, &module);
    settings().bind(|| {
        insta::assert_yaml_snapshot!(format!("{name}.ast"), module);
        insta::assert_snapshot!(format!("{name}.fmt"), formatted);
        insta::assert_snapshot!(format!("{name}.graph"), plan.to_text(&program, &|_| None));
    });
    Ok(())
}

fn invalid(path: &Utf8Path, text: String) -> Result {
    let name = snapshot_name(path);
    let loaded = load(path, text);
    let outcome = advp::graph::check_all(&loaded);
    let mut errors = outcome.errors.clone();
    let mut sources = outcome.sources.clone();
    if let Some(p) = &outcome.program {
        match graph::plan(p) {
            Err(e) => {
                errors.extend(e);
                sources = p.sources.clone();
            }
            // What checks but cannot run: `advp check` lowers too, and shows
            // the lowering's refusals with the checker's errors.
            Ok(_) => {
                let abs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path.as_str());
                let base = abs.parent().expect("a golden file has a folder");
                let lowered = advp::runtime::lower::lower(p, base);
                errors.extend(lowered.problems.into_iter().map(|(_, d)| d));
            }
        }
    }
    assert!(!errors.is_empty(), "{path} should be rejected");
    let mut out = String::new();
    for d in &errors {
        assert!(d.help.is_some(), "{path}: {} has no help line", d.code);
        assert!(!d.label.is_empty(), "{path}: {} has no label", d.code);
        assert!(
            d.span.end <= sources.text(d.file).len(),
            "{path}: span past the end"
        );
        out.push_str(&d.render_plain(&sources, 80));
        out.push('\n');
    }
    settings().bind(|| insta::assert_snapshot!(format!("{name}.diag"), out));
    Ok(())
}

/// Every shipped pipeline and stdlib file checks with every profile, is formatted, and plans.
fn shipped(path: &Utf8Path, text: String) -> Result {
    let name = snapshot_name(path);
    let abs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path.as_str());
    let loaded = loader::load_source(path.as_str(), Some(abs), text.clone());
    let (program, _) = checked(path, &loaded);
    let formatted = check_fmt(&name, &text, &loaded.modules[0].1);
    assert_eq!(
        formatted, text,
        "{path} is not in canonical layout: run `advp fmt {path}`"
    );
    if path.as_str().starts_with("pipelines/") {
        assert!(
            program.profiles.iter().any(|p| p == "quick"),
            "{path} needs a `quick` profile"
        );
        let quick = language::check(
            &loaded,
            &language::Options {
                profile: Some("quick".into()),
                sets: vec![],
            },
        );
        let quick = quick.program.expect("the quick profile checks");
        let plan = graph::plan(&quick).expect("the quick profile plans");
        settings().bind(|| {
            insta::assert_snapshot!(
                format!("{name}.quick.graph"),
                plan.to_text(&quick, &|_| None)
            );
        });
    }
    Ok(())
}

datatest_stable::harness! {
    { test = valid, root = "tests/golden/valid", pattern = r"^[^/]+\.advp$" },
    { test = invalid, root = "tests/golden/invalid", pattern = r"^[^/]+\.advp$" },
    { test = shipped, root = "pipelines", pattern = r"\.advp$" },
    { test = shipped, root = "stdlib", pattern = r"\.advp$" },
}
