//! The language and its tools: `check`, `fmt`, `graph`, profiles and `--set`,
//! the builtins reference, shell completions and help.

use super::*;

#[test]
fn check_accepts_a_good_file_and_stdlib_works_from_any_folder() {
    let r = Run::new();
    r.write("good.advp", GOOD);
    let o = r.advp(&["check", "good.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok: good.advp"));
}

#[test]
fn check_reports_every_error_with_code_span_and_help() {
    let r = Run::new();
    r.write(
        "bad.advp",
        "data d = synthetic(clases: 4)\nmodel net = c3d_small(classes: 300000)\ntrain t = standard(d, d)\n",
    );
    let o = r.advp(&["check", "bad.advp"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    for code in [
        "advp::check::unknown_argument",
        "advp::check::out_of_range",
        "advp::check::wrong_kind",
    ] {
        assert!(err.contains(code), "{code} missing from:\n{err}");
    }
    assert!(err.contains("did you mean `classes`?"), "{err}");
    assert!(err.contains("bad.advp:1:20"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn check_json_is_machine_readable() {
    let r = Run::new();
    r.write("bad.advp", "data d = synthetc()\n");
    let o = r.advp(&["check", "--format", "json", "bad.advp"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON on stdout");
    assert_eq!(v["ok"], false);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "advp::check::unknown_function");
    assert_eq!(d["labels"][0]["line"], 1);
    assert_eq!(d["labels"][0]["column"], 10);
    assert_eq!(d["labels"][0]["start"], 9);
    assert_eq!(d["labels"][0]["end"], 17);
    assert!(d["help"].as_str().unwrap().contains("synthetic"));
}

#[test]
fn missing_file_exits_2_without_panic() {
    let r = Run::new();
    let o = r.advp(&["check", "nope.advp"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read nope.advp"));
}

#[test]
fn relative_use_and_import_errors() {
    let r = Run::new();
    r.write("lib/shared.advp", "data d = synthetic(classes: 4)\n");
    r.write(
        "exp/main.advp",
        "use \"../lib/shared.advp\"\nmodel m = c3d_small(classes: d.classes)\n",
    );
    let o = r.advp(&["check", "exp/main.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    r.write("exp/broken.advp", "use \"missing.advp\"\n");
    let o = r.advp(&["check", "exp/broken.advp"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("advp::check::import_not_found"));
}

#[test]
fn fmt_check_then_write_then_clean() {
    let r = Run::new();
    let p = r.write(
        "messy.advp",
        "seed  1 # s\ndata d=synthetic( classes:4 )\n\n\n\nmodel m = c3d_small(classes: 4)\n",
    );
    let o = r.advp(&["fmt", "--check", "messy.advp"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("would reformat"));
    assert_eq!(
        std::fs::read_to_string(&p).unwrap().lines().count(),
        6,
        "--check must not write"
    );
    let o = r.advp(&["fmt", "messy.advp"]);
    assert!(o.status.success());
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "seed 1  # s\ndata d = synthetic(classes: 4)\n\nmodel m = c3d_small(classes: 4)\n"
    );
    assert!(r.advp(&["fmt", "--check", "messy.advp"]).status.success());
}

#[test]
fn shipped_pipelines_check_and_are_formatted() {
    let r = Run::new();
    let mut files: Vec<String> = std::fs::read_dir(repo("pipelines"))
        .unwrap()
        .chain(std::fs::read_dir(repo("stdlib")).unwrap())
        .flatten()
        .map(|e| e.path().display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 11);
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let o = r.advp(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    args[0] = "fmt";
    args.insert(1, "--check");
    let o = r.advp(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn graph_dot_is_a_digraph_with_every_edge() {
    let r = Run::new();
    let o = r.advp(&["graph", &repo("pipelines/table2.advp"), "--dot"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph \"table2\" {"));
    assert!(dot.trim_end().ends_with('}'));
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    for edge in [
        "\"net\" -> \"cat_up\"",
        "\"cat_up\" -> \"table2\"",
        "\"ucf\" -> \"net\"",
    ] {
        assert!(dot.contains(edge), "{edge} missing:\n{dot}");
    }
}

#[test]
fn graph_text_with_profile_and_set() {
    let r = Run::new();
    let o = r.advp(&[
        "graph",
        &repo("pipelines/table2.advp"),
        "--profile",
        "quick",
        "--set",
        "seed=7",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("table2 (profile quick): 10 nodes"),
        "{text}"
    );
    assert!(text.contains("model    net      = c3d_small"), "{text}");
}

#[test]
fn cycles_are_reported_as_paths() {
    let r = Run::new();
    r.write(
        "cyc.advp",
        "data d = synthetic()\ntrain a = standard(b, d)\ntrain b = standard(a, d)\n",
    );
    let o = r.advp(&["check", "cyc.advp"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("advp::graph::cycle"), "{err}");
    assert!(err.contains("a → b → a"), "{err}");
}

#[test]
fn bad_profile_and_set_are_coded_errors() {
    let r = Run::new();
    r.write("good.advp", GOOD);
    let o = r.advp(&["graph", "good.advp", "--profile", "quik"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("advp::check::unknown_profile") && err.contains("did you mean `quick`?"),
        "{err}"
    );
    let o = r.advp(&["graph", "good.advp", "--set", "train.epoch=3"]);
    assert!(
        stderr(&o).contains("advp::check::unknown_override"),
        "{}",
        stderr(&o)
    );
    let o = r.advp(&["graph", "good.advp", "--set", "train.epochs=many"]);
    assert!(stderr(&o).contains("advp::check::"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(1));
    let o = r.advp(&["graph", "good.advp", "--set", "epochs"]);
    assert!(
        stderr(&o).contains("advp::check::invalid_set"),
        "{}",
        stderr(&o)
    );
    let o = r.advp(&["graph", "good.advp", "--set", "train.epochs=0"]);
    assert!(
        stderr(&o).contains("advp::check::out_of_range"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn builtins_reference_matches_the_docs() {
    let r = Run::new();
    let o = r.advp(&["builtins", "--markdown"]);
    assert!(o.status.success());
    let docs = std::fs::read_to_string(repo("docs/language.md")).expect("docs/language.md");
    let start = docs
        .find("<!-- builtins:start -->\n")
        .expect("start marker")
        + "<!-- builtins:start -->\n".len();
    let end = docs.find("<!-- builtins:end -->").expect("end marker");
    assert_eq!(
        docs[start..end].trim(),
        stdout(&o).trim(),
        "docs/language.md is stale: paste `advp builtins --markdown` between the markers"
    );
    // The eval's default attack is the table's, and shown.
    let o = r.advp(&["builtins"]);
    assert!(
        stdout(&o).contains(
            "robustness(models, split, batch: 32, through: all, protocol: worst_case) { attack pgd }"
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn budgets_written_in_unit_range_warn_and_an_override_gets_its_own_output_folder() {
    let r = Run::new();
    let text = |budgets: &str| {
        format!(
            "data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)\n\
             model net = c3d_small(classes: d.classes, width: 2)\n\
             eval e = robustness([net], d.test, batch: 6) {{\n  attack pgd(steps: 1)\n  budget sweep {budgets}\n}}\n\
             report e to \"e.csv\"\n"
        )
    };
    r.write("tiny.advp", &text("[0, 0.03, 0.06]"));
    r.write("p.advp", &text("[0, 8]"));
    let o = r.advp(&["check", "tiny.advp"]);
    assert!(
        o.status.success(),
        "a warning, not an error: {}",
        stderr(&o)
    );
    let out = words(&format!("{}{}", stdout(&o), stderr(&o)));
    assert!(out.contains("advp::check::tiny_budget"), "{out}");
    assert!(out.contains("did you mean 15?"), "{out}");
    assert!(out.contains("1 warning"), "{out}");
    let o = r.advp(&["check", "p.advp"]);
    assert!(!words(&stdout(&o)).contains("warning"), "{}", stdout(&o));
    // `advp run` shows it too, and runs.
    let o = r.advp(&["run", "tiny.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("advp::check::tiny_budget"),
        "{}",
        stderr(&o)
    );

    // The default folder: one per configuration; the same `--set` twice is
    // the same folder.
    for sets in [
        &[][..],
        &["--set", "seed=2"][..],
        &["--set", "seed=2"][..],
        &["--set", "seed=3"][..],
    ] {
        let mut args = vec!["run", "p.advp", "--quiet"];
        args.extend_from_slice(sets);
        let o = r.advp(&args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let mut folders: Vec<String> = std::fs::read_dir(r.dir.path().join("results"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('p'))
        .collect();
    folders.sort();
    assert_eq!(folders.len(), 3, "{folders:?}");
    assert_eq!(folders[0], "p");
    let two = read(out_dir_named(&r, &folders[1]).join("e.csv"));
    let three = read(out_dir_named(&r, &folders[2]).join("e.csv"));
    assert_ne!(two, three, "seed 2's and seed 3's tables are both kept");
}

fn out_dir_named(r: &Run, name: &str) -> PathBuf {
    r.dir.path().join("results").join(name)
}

#[test]
fn completions_json_status_and_graph_and_help_for_every_argument() {
    for shell in ["bash", "zsh", "fish"] {
        let o = Run::new().advp(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let text = stdout(&o);
        for word in ["run", "report", "status", "profile", "seeds", "verbose"] {
            assert!(text.contains(word), "{shell} completion lacks {word}");
        }
    }
    let r = Run::new();
    r.write("p.advp", &tiny(1));
    let o = r.advp(&["-v", "run", "p.advp", "--quiet", "--only", "benign"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // `-v` names each node's cache key and entry.
    assert!(
        stderr(&o).contains("benign: computing, key "),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&r.advp(&["status", "p.advp", "--format", "json"]))).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    let state = |n: &str| {
        nodes
            .iter()
            .find(|x| x["node"] == n)
            .unwrap_or_else(|| panic!("{n} in {v}"))["state"]
            .clone()
    };
    assert_eq!(state("benign"), "cached");
    assert_eq!(state("at"), "to_run");
    assert_eq!(nodes[0]["key"].as_str().unwrap().len(), 64);
    let g: serde_json::Value =
        serde_json::from_str(&stdout(&r.advp(&["graph", "p.advp", "--format", "json"]))).unwrap();
    let e = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "e")
        .unwrap()
        .clone();
    assert_eq!(e["kind"], "eval");
    assert_eq!(e["inputs"], serde_json::json!(["d", "benign", "at"]));
    assert_eq!(e["replicates"][0]["state"], "to run");
    // Every subcommand's every argument has help text.
    for cmd in [
        "check",
        "fmt",
        "graph",
        "run",
        "status",
        "report",
        "builtins",
        "completions",
        "init",
    ] {
        let o = Run::new().advp(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd}");
        let help = stdout(&o);
        for line in help
            .lines()
            .filter(|l| l.trim_start().starts_with("--") || l.trim_start().starts_with('<'))
        {
            let t = line.trim();
            // clap puts the help on the same line, after the name and value.
            let described = t.split("  ").filter(|s| !s.trim().is_empty()).count() > 1;
            assert!(described, "`advp {cmd}`: no help for `{t}`\n{help}");
        }
    }
}
