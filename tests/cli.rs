//! The real binary, run in a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Self {
        Run {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }
    fn advp(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_advp"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            // Every CLI test also proves the binary finds libtorch through its rpath.
            .env_remove("LD_LIBRARY_PATH")
            .output()
            .expect("the binary runs")
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn repo(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .display()
        .to_string()
}

const GOOD: &str = r#"use "stdlib/attacks.advp"
data d = synthetic(classes: 4)
model net = c3d_small(classes: d.classes)
train at = adversarial(net, d, attack: pgd_inf(steps: 2), epochs: 3) {
  budget curriculum 0..12 step 2 every 1
  alpha optimal
}
eval e = robustness([at], d.test) {
  budget sweep [0, 8]
}
report e to "e.md"
profile quick {
  train.epochs = 1
}
"#;

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
}

#[test]
fn run_links_libtorch_without_ld_library_path_and_resolves_the_device() {
    let r = Run::new();
    let o = r.advp(&[
        "run",
        &repo("pipelines/table2.advp"),
        "--profile",
        "quick",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("libtorch linked"), "{err}");
    assert!(
        err.contains("device auto:"),
        "auto says what it chose: {err}"
    );
    assert!(
        err.contains("not built yet"),
        "run says plainly what it does not do: {err}"
    );
    let o = r.advp(&[
        "run",
        &repo("pipelines/table2.advp"),
        "--set",
        "device=cuda:64",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cuda:64"), "{}", stderr(&o));
}
