//! Slurm job scripts take no value that could end a line: hostile resource
//! strings and options are refused before anything is submitted.

use super::*;

/// Stand-ins for `sbatch`, `squeue` and `scontrol` in `<dir>/bin`: `sbatch`
/// records its arguments and the script it was given in `<dir>/bin/calls`
/// and answers job 1; the others know no job. Returns the `PATH` to use.
fn stand_in_slurm(r: &Run) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = r.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, body) in [
        (
            "sbatch",
            "#!/bin/sh\necho \"sbatch $*\" >> \"$(dirname \"$0\")/calls\"\nfor a; do :; done\ncat \"$a\" >> \"$(dirname \"$0\")/calls\"\necho 1\n",
        ),
        ("squeue", "#!/bin/sh\nexit 0\n"),
        ("scontrol", "#!/bin/sh\nexit 1\n"),
    ] {
        let p = bin.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn advp_with_path(r: &Run, path: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_advp"))
        .args(args)
        .current_dir(r.dir.path())
        .env("NO_COLOR", "1")
        .env("PATH", path)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("the binary runs")
}

const SMALL: &str =
    "data d = synthetic(classes: 4, frames: 4, size: 16, train: 16, test: 8, val: 8)\n\
model net = c3d_small(classes: d.classes, width: 4)\n\
train t = standard(net, d, epochs: 1, batch: 8)\n";

#[test]
fn slurm_options_with_a_newline_are_refused_before_anything_is_submitted() {
    let r = Run::new();
    r.write("p.advp", SMALL);
    let path = stand_in_slurm(&r);
    for (flag, value) in [
        ("--partition", "a\nb"),
        ("--account", "lab\n#SBATCH --wrap=id"),
        ("--time", "1:00:00\nid"),
        ("--gres", "gpu:1;id"),
        ("--partition", "a\rb"),
    ] {
        let o = advp_with_path(
            &r,
            &path,
            &["run", "p.advp", "--executor", "slurm", flag, value],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{flag} {value:?}: {err}");
        assert!(err.contains(flag), "{flag}: {err}");
        assert!(err.contains(&format!("{value:?}")), "{flag}: {err}");
        assert!(err.contains("e.g."), "the accepted form: {err}");
        // The value is shown escaped: no line of the message starts with it.
        assert!(
            !err.lines()
                .any(|l| l.starts_with("b") || l.starts_with("#SBATCH") || l == "id"),
            "{err}"
        );
        assert!(!err.contains('\r'), "{err:?}");
        assert!(
            !r.dir.path().join("bin/calls").exists(),
            "{flag} {value:?}: sbatch was called"
        );
    }
}

#[test]
fn a_hostile_resource_string_in_a_file_is_a_check_error_and_submits_nothing() {
    let r = Run::new();
    r.write(
        "p.advp",
        &format!(
            "{SMALL}  {{\n  resources {{ partition: \"gpu\\nrm -rf ~\", time: \"1:00:00\" }}\n}}\n"
        )
        .replacen("batch: 8)\n  {", "batch: 8) {", 1),
    );
    let path = stand_in_slurm(&r);
    let o = advp_with_path(&r, &path, &["check", "p.advp"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("advp::check::bad_resource"), "{err}");
    assert!(
        words(&err).contains(r#""gpu\nrm -rf ~" is not a Slurm partition"#),
        "{err}"
    );
    assert!(
        !err.lines().any(|l| l.trim_start().starts_with("rm -rf")),
        "{err}"
    );
    let o = advp_with_path(&r, &path, &["run", "p.advp", "--executor", "slurm"]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("advp::check::bad_resource"),
        "{}",
        stderr(&o)
    );
    assert!(
        !r.dir.path().join("bin/calls").exists(),
        "sbatch was called"
    );
    // A valid file is submitted with exactly its directives before the first command.
    r.write(
        "p.advp",
        &format!("{SMALL}  {{\n  resources {{ partition: \"gpu,gpu-long\", mem: \"4G\", time: \"2-00:00\" }}\n}}\n")
            .replacen("batch: 8)\n  {", "batch: 8) {", 1),
    );
    let o = advp_with_path(
        &r,
        &path,
        &["run", "p.advp", "--executor", "slurm", "--account", "lab"],
    );
    let calls = std::fs::read_to_string(r.dir.path().join("bin/calls"))
        .unwrap_or_else(|_| panic!("sbatch was not called: {}", stderr(&o)));
    let script: Vec<&str> = calls.lines().skip(1).collect();
    let head: Vec<&str> = script[1..]
        .iter()
        .take_while(|l| l.starts_with('#'))
        .copied()
        .collect();
    for want in [
        "#SBATCH --partition=gpu,gpu-long",
        "#SBATCH --mem=4G",
        "#SBATCH --time=2-00:00",
        "#SBATCH --account=lab",
        "#SBATCH --signal=B:USR1@120",
        "#SBATCH --requeue",
    ] {
        assert!(
            head.contains(&want),
            "{want} not before the first command:\n{calls}"
        );
    }
    assert_eq!(script.len(), 1 + head.len() + 2, "{calls}");
}

#[test]
fn graph_shows_control_characters_in_names_and_paths_escaped() {
    let r = Run::new();
    // A file whose name holds a newline, and a report path with quotes (a
    // report path with a control character is a check error:
    // golden `invalid/85_report_path_control`).
    let name = "p\nq.advp";
    r.write(name, &format!("{GOOD}report e to \"a \\\"x\\\" ~.md\"\n"));
    let o = r.advp(&["graph", name, "--dot"]);
    let dot = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dot.starts_with("digraph \"p\\\\nq\" {\n"), "{dot}");
    assert!(
        dot.contains(r#"[label="report\na \"x\" ~.md", shape=note];"#),
        "{dot}"
    );
    // Every line is a statement of the graph: nothing a string could start.
    for l in dot.lines().skip(1) {
        assert!(
            l == "}" || (l.starts_with("  ") && (l.ends_with(';'))),
            "{l:?} in\n{dot}"
        );
    }
    assert!(!dot.chars().any(|c| c.is_control() && c != '\n'), "{dot:?}");
    let o = r.advp(&["graph", name]);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(text.starts_with("p\\nq: "), "{text}");
    assert!(text.contains(r#"→ a "x" ~.md"#), "{text}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
}

#[test]
fn a_file_name_with_control_characters_is_shown_escaped() {
    let r = Run::new();
    let name = "p\nrm -rf ~\u{1b}[2J.advp";
    // Badly formatted, so `fmt --check` names it.
    r.write(name, "data   d = synthetic(classes: 4)\n");
    for args in [
        vec!["fmt", "--check", name],
        vec!["check", name],
        vec!["init", name],
    ] {
        let o = r.advp(&args);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(
            all.contains(r"p\nrm -rf ~\u{1b}[2J.advp"),
            "{args:?}: {all}"
        );
        assert!(
            !all.lines().any(|l| l.starts_with("rm -rf")),
            "{args:?}: {all}"
        );
        assert!(
            !all.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?}: {all:?}"
        );
    }
    // A file that cannot be read.
    let o = r.advp(&["check", "gone\nrm -rf ~.advp"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(r"cannot read gone\nrm -rf ~.advp"),
        "{}",
        stderr(&o)
    );
}
