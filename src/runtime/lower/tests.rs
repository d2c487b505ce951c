//! Every built-in of the table lowers: a pipeline using each one (with each
//! of its choice words) is checked by the real checker and lowered, so a
//! built-in that checks but cannot run fails here, not in a user's run.

use super::lower;
use crate::language::ast::DeclKind;
use crate::language::builtins::{self, Builtin, Default, Ty, BUILTINS};
use crate::runtime::spec::NodeSpec;

/// Declarations every test pipeline starts from: one node of each kind a
/// built-in's argument may name.
const PRELUDE: &str = r#"
data d0 = synthetic(classes: 3, frames: 4, size: 16, train: 4, test: 4, val: 2)
model m0 = c3d_small(classes: d0.classes)
train t0 = standard(m0, d0, epochs: 1)
defense v0 = video_compression()
defense a0 = ape_gan(data: d0, epochs: 1)
"#;

/// A value of the type for a required argument.
fn value(ty: Ty) -> String {
    match ty {
        Ty::Int => "2".into(),
        Ty::Num => "0.5".into(),
        Ty::Str => "\"x.safetensors\"".into(),
        Ty::Bool => "true".into(),
        Ty::Choice(c) => c[0].into(),
        Ty::IntChoice(c) => c[0].to_string(),
        Ty::Norm | Ty::NormL1 => "inf".into(),
        Ty::Noise => "gaussian(0.25)".into(),
        Ty::Position => "random".into(),
        Ty::NumList(0) => "[1]".into(),
        Ty::NumList(n) => format!("[{}]", vec!["1"; n].join(", ")),
        Ty::Numbers => "[1, 2]".into(),
        Ty::Data => "d0".into(),
        Ty::Split => "d0.test".into(),
        Ty::Model => "m0".into(),
        Ty::Models => "[m0]".into(),
        Ty::Attack => "pgd".into(),
        Ty::Attacks => "{pgd, fgsm}".into(),
        Ty::Defense => "v0".into(),
        Ty::Train => "t0".into(),
        Ty::Plain => "[1, 0.5, \"s\", true]".into(),
        Ty::StrList => "[\"lib/\"]".into(),
    }
}

/// The built-in called with its required arguments, plus `extra`.
fn call(b: &Builtin, extra: &[(String, String)]) -> String {
    let mut args: Vec<String> = b
        .params
        .iter()
        .filter(|p| p.default == Default::Required && !extra.iter().any(|(k, _)| k == p.name))
        .map(|p| {
            let v = match (b.name, p.name) {
                ("generative", "ape") => "a0".to_string(),
                (_, "classes") => "3".to_string(),
                _ => value(p.ty),
            };
            format!("{}: {v}", p.name)
        })
        .collect();
    args.extend(extra.iter().map(|(k, v)| format!("{k}: {v}")));
    format!("{}({})", b.name, args.join(", "))
}

/// Statements that make the node runnable (an analysis needs an attack and its axes).
fn block(b: &Builtin) -> &'static str {
    match b.name {
        "loss_surface" => " {\n  attack pgd(steps: 2)\n  budget fixed 4\n  alpha grid [1, 2]\n  steps grid 1..2\n}",
        "step_fit" => " {\n  attack pgd(steps: 2)\n  alpha grid [1, 2]\n}",
        _ => "",
    }
}

/// Checks and lowers a pipeline declaring `b` as node `x`; the node's spec.
fn lowered(b: &Builtin, extra: &[(String, String)]) -> Result<NodeSpec, String> {
    let text = format!(
        "{PRELUDE}{} x = {}{}\n",
        b.kind.as_str(),
        call(b, extra),
        block(b)
    );
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("p.advp");
    std::fs::write(&path, &text).map_err(|e| e.to_string())?;
    let loaded = crate::language::loader::load_path(&path)?;
    let outcome = crate::language::check(&loaded, &crate::language::Options::default());
    let Some(program) = outcome.program else {
        let msgs: Vec<String> = outcome.errors.iter().map(|d| d.message.clone()).collect();
        return Err(format!("does not check:\n{text}\n{}", msgs.join("\n")));
    };
    let l = lower(&program, dir.path());
    if let Some((_, d)) = l.problems.first() {
        return Err(format!("checks but does not lower:\n{text}\n{}", d.message));
    }
    let i = program.nodes.iter().position(|n| n.name == "x").expect("x");
    Ok(l.nodes[i].clone())
}

#[test]
fn every_builtin_of_the_table_lowers() {
    let mut failures = Vec::new();
    for b in BUILTINS {
        match lowered(b, &[]) {
            Ok(NodeSpec::Invalid) => failures.push(format!("{}: lowered as invalid", b.name)),
            Ok(spec) => {
                // A node lowers to the kind it reports as (certification's
                // result is an analysis's).
                let kind = match b.kind {
                    DeclKind::Eval => {
                        crate::language::builtins::reports_as(b.kind, b.name).unwrap_or(b.kind)
                    }
                    k => k,
                };
                let ok = matches!(
                    (kind, &spec),
                    (DeclKind::Data, NodeSpec::Data(_))
                        | (DeclKind::Model, NodeSpec::Model(_))
                        | (DeclKind::Attack, NodeSpec::Attack(_))
                        | (DeclKind::Defense, NodeSpec::Defense(_))
                        | (DeclKind::Train, NodeSpec::Train(_))
                        | (DeclKind::Eval, NodeSpec::Eval(_))
                        | (DeclKind::Analyze, NodeSpec::Analysis(_))
                );
                if !ok {
                    failures.push(format!("{}: lowered as another kind: {spec:?}", b.name));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", b.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_choice_word_of_the_table_lowers() {
    let mut failures = Vec::new();
    let mut tried = 0;
    for b in BUILTINS {
        for p in b.params {
            let words: Vec<String> = match p.ty {
                Ty::Choice(c) => c.iter().map(|w| w.to_string()).collect(),
                Ty::IntChoice(c) => c.iter().map(|w| w.to_string()).collect(),
                Ty::Position => vec![
                    "random".into(),
                    "top_left".into(),
                    "center".into(),
                    "[0, 0]".into(),
                ],
                Ty::Norm => vec!["inf".into(), "2".into()],
                Ty::NormL1 => vec!["inf".into(), "2".into(), "1".into()],
                _ => continue,
            };
            for w in words {
                tried += 1;
                if let Err(e) = lowered(b, &[(p.name.to_string(), w.clone())]) {
                    failures.push(format!("{}({}: {w}): {e}", b.name, p.name));
                }
            }
        }
    }
    assert!(tried > 10, "the table has choice parameters");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_schedule_mode_of_the_table_is_a_schedule_word() {
    for b in BUILTINS {
        for s in b.stmts {
            for m in s.modes {
                assert!(
                    builtins::ScheduleMode::parse(m).is_some(),
                    "`{} {m}` of `{}` is not a ScheduleMode",
                    s.key,
                    b.name
                );
            }
        }
    }
}

#[test]
fn statement_defaults_of_the_table_lower() {
    for b in BUILTINS {
        let (defaults, errors) = crate::language::checker::statement_defaults(b);
        assert!(errors.is_empty(), "{}: {errors:?}", b.name);
        for s in b.stmts {
            if s.default.is_some() {
                let v = match defaults.get(s.key) {
                    Some(crate::language::program::StmtValue::Setting { value, .. }) => value,
                    other => panic!("{}'s `{}` default: {other:?}", b.name, s.key),
                };
                let dir = std::path::Path::new(".");
                let program = crate::language::Program {
                    sources: std::default::Default::default(),
                    main: crate::language::source::FileId(0),
                    settings: std::default::Default::default(),
                    nodes: Vec::new(),
                    reports: Vec::new(),
                    profile: None,
                    profiles: Vec::new(),
                    param_defaults: std::default::Default::default(),
                    by_name: std::default::Default::default(),
                };
                let index = std::collections::HashMap::new();
                let cx = super::Cx {
                    program: &program,
                    index: &index,
                    base: dir,
                };
                match s.value {
                    builtins::StmtValue::Attack => {
                        cx.attack(v)
                            .unwrap_or_else(|e| panic!("{}'s `{}` default: {e}", b.name, s.key));
                    }
                    _ => assert!(
                        super::numbers(v).is_some_and(|n| !n.is_empty()),
                        "{}'s `{}` default is no grid: {v:?}",
                        b.name,
                        s.key
                    ),
                }
            }
        }
    }
}

/// Checks and lowers `text` after the prelude; the lowering.
fn lower_text(text: &str) -> crate::runtime::spec::Lowered {
    lower_whole(&format!("{PRELUDE}{text}"))
}

/// Checks and lowers `text` as the whole file.
fn lower_whole(text: &str) -> crate::runtime::spec::Lowered {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.advp");
    std::fs::write(&path, text).unwrap();
    let loaded = crate::language::loader::load_path(&path).unwrap();
    let outcome = crate::language::check(&loaded, &crate::language::Options::default());
    let program = outcome
        .program
        .unwrap_or_else(|| panic!("{:?}", outcome.errors));
    lower(&program, dir.path())
}

#[test]
fn claims_lower_to_their_column_or_name_the_missing_one() {
    let l = lower_text(
        "train t1 = standard(m0, d0, epochs: 1)\n\
         eval e = robustness([t0, v0 >> t1], d0.test) {\n  budget sweep [0, 8]\n  compare t0 > v0 >> t1 at eps 8\n  compare t0 < v0 >> t1 at eps 4\n  compare t0 > v0 >> t1\n}\n\
         eval f = robustness([t0, t1], d0.test) {\n  attacks each {none, flicker(), fgsm}\n  compare t0 > t1 at attack fgsm\n  compare t0 > t1 at attack pgd\n}\n",
    );
    let columns: Vec<(&str, &str, f64)> = l
        .claims
        .iter()
        .map(|c| (c.claim.text.as_str(), c.attack.as_str(), c.eps))
        .collect();
    assert_eq!(
        columns,
        [
            ("t0 > v0 >> t1 at eps 8", "pgd", 8.0),
            ("t0 > t1 at attack fgsm", "fgsm", 8.0),
        ]
    );
    let problems: Vec<&str> = l.problems.iter().map(|(_, d)| d.message.as_str()).collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[0].contains("no column at ε 4: its budgets are 0, 8"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("has 2 columns (0, 8); the claim names none"),
        "{problems:?}"
    );
    assert!(
        problems[2].contains("no column `pgd`: its columns are `none`, `flicker`, `fgsm`"),
        "{problems:?}"
    );
    assert!(l
        .problems
        .iter()
        .all(|(_, d)| d.code == crate::language::diagnostic::Code::InvalidClaim));
}

/// The language's own example, `step_fit(benign, ucf.test, budgets: 1..12)`,
/// runs: PGD without an `attack` statement and the paper's grid without an
/// `alpha` one (the table's defaults); an analysis without an axis that has
/// no default is told what to write, with a code of its own.
#[test]
fn analyses_run_pgd_without_an_attack_statement_and_name_a_missing_grid() {
    use crate::runtime::spec::AnalysisSpec;
    let l = lower_text(
        "analyze fit = step_fit(t0, d0.test, budgets: 1..4) {\n  alpha grid [1, 2]\n}\n\
         analyze surface = loss_surface(t0, d0.test) {\n  alpha grid [1, 2]\n  steps grid 1..2\n}\n\
         analyze bare = step_fit(t0, d0.test)\n\
         analyze flat = loss_surface(t0, d0.test) {\n  alpha grid [1, 2]\n}\n",
    );
    let problems: Vec<String> = l
        .problems
        .iter()
        .map(|(_, d)| {
            format!(
                "{}: {} ({})",
                d.code,
                d.message,
                d.help.clone().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let (i, d) = &l.problems[0];
    assert_eq!(d.code, crate::language::diagnostic::Code::MissingStatement);
    assert!(
        d.help
            .as_deref()
            .unwrap_or("")
            .contains("`steps grid 1..20`"),
        "{problems:#?}"
    );
    assert!(matches!(l.nodes[*i], NodeSpec::Invalid));
    let analyses: Vec<&AnalysisSpec> = l
        .nodes
        .iter()
        .filter_map(|n| match n {
            NodeSpec::Analysis(a) => Some(a.as_ref()),
            _ => None,
        })
        .collect();
    let [AnalysisSpec::Fit { .. }, AnalysisSpec::Surface { .. }, AnalysisSpec::Fit { alphas, pgd, .. }] =
        &analyses[..]
    else {
        panic!("{analyses:?}");
    };
    let grid: Vec<f64> = (1..=32).map(|k| k as f64 * 0.25).collect();
    assert_eq!(alphas, &grid, "the default grid 0.25..8 step 0.25");
    assert!(pgd.steps > 0, "{pgd:?}");
}

/// A refusal says what to do: none of the lowering's messages speaks of
/// the project's process instead ("follow the open issues", "not executed
/// yet").
#[test]
fn no_refusal_of_the_lowering_speaks_of_process() {
    for file in [
        "mod.rs",
        "nodes.rs",
        "attack_args.rs",
        "bounds.rs",
        "error.rs",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/runtime/lower")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        for word in ["issue", "not yet", "yet\"", "yet\")", "follow the", "TODO"] {
            assert!(!text.contains(word), "{file} says `{word}`");
        }
    }
}

/// GAT trains on the G and D of an `ape_gan` defense: another defense as
/// its `ape` cannot run, and the lowering says so before any work.
#[test]
fn gat_on_a_defense_without_a_generator_cannot_run() {
    let l = lower_text("train g = generative(model: m0, ape: v0, data: d0, epochs: 1)\n");
    let problems: Vec<_> = l.problems.iter().map(|(_, d)| d).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0].code,
        crate::language::diagnostic::Code::CannotRun
    );
    assert!(
        problems[0]
            .message
            .contains("`ape: v0` is a `video_compression` defense"),
        "{problems:?}"
    );
}

#[test]
fn the_stdlib_autoattack_presets_are_the_published_versions_and_warn_below_four_classes() {
    use crate::runtime::attacks::autoattack::{version_of, Version};
    for v in Version::ALL {
        let l = lower_whole(&format!(
            "use \"stdlib/attacks.advp\"\n{PRELUDE}eval e = robustness([t0], d0.test) {{\n  attack {}\n}}\n",
            v.preset()
        ));
        assert!(l.problems.is_empty(), "{v:?}: {:?}", l.problems);
        let Some(NodeSpec::Eval(e)) = l.nodes.last() else {
            panic!("{v:?}: the eval is the last node");
        };
        assert_eq!(e.attack.attack, v.attack(8.0), "`{}` is {v:?}", v.preset());
        assert_eq!(version_of(&e.attack.attack), Some(v));
        // 3 classes: APGD-T (standard, plus) attacks with the targeted
        // cross-entropy, and `advp check` warns; APGD-DLR (rand) needs 3.
        let warned: Vec<String> = l
            .warnings
            .iter()
            .filter(|(_, d)| d.code == crate::language::diagnostic::Code::TooFewClasses)
            .map(|(_, d)| d.message.clone())
            .collect();
        if v == Version::Rand {
            assert!(warned.is_empty(), "{warned:?}");
        } else {
            assert_eq!(warned.len(), 1, "{v:?}: {warned:?}");
            assert!(
                warned[0]
                    .contains("`d0` has 3 classes: it attacks with the targeted cross-entropy"),
                "{}",
                warned[0]
            );
        }
    }
}
