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

fn slurm_up() -> bool {
    Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

// It trains a `python(…)` model: not in a build without Python's torch.
#[cfg(feature = "python")]
#[test]
fn slurm_runs_each_node_as_a_job_and_a_cancelled_job_is_resubmitted() {
    if !slurm_up() {
        skip(
            "slurm_runs_each_node_as_a_job_and_a_cancelled_job_is_resubmitted",
            "no Slurm cluster answers `sinfo` (`eval \"$(./scripts/slurm-local start)\"` starts one)",
        );
        return;
    }
    // `a` trains a `python(…)` model: a Slurm job runs the user's module too.
    let text = PARALLEL
        .replace("epochs: 3", "epochs: 8")
        .replace(
            "model net = c3d_small(classes: 4, width: 4)\n",
            "model net = c3d_small(classes: 4, width: 4)\nmodel pnet = python(\"net.py\", classes: 4)\n",
        )
        .replace("train a = standard(net,", "train a = standard(pnet,")
        // `e` is one allocation of two tasks (`srun`), its batches shared
        // by the two ranks; its records are one process's.
        .replace("robustness([a, b], d.test)", "robustness([a, b], d.test, batch: 4)")
        .replace(
            "  budget sweep [0, 4]\n}",
            "  budget sweep [0, 4]\n  resources { tasks: 2 }\n}",
        );
    assert!(text.contains("standard(pnet,") && text.contains("model pnet"));
    assert!(text.contains("resources { tasks: 2 }") && text.contains("batch: 4"));
    let r = Run::new();
    let local8 = Run::new();
    for run in [&r, &local8] {
        run.write("p.advp", &text);
        run.write("net.py", super::python::NET);
    }
    let o = local8.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Submit; cancel `b`'s job once it has a checkpoint.
    let child = Command::new(env!("CARGO_BIN_EXE_advp"))
        .args(["run", "p.advp", "--executor", "slurm", "--out", "out"])
        .current_dir(r.dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let record = r.dir.path().join(".advp/slurm/p/jobs.json");
    let start = std::time::Instant::now();
    let job_b = loop {
        assert!(
            start.elapsed().as_secs() < 300,
            "no checkpoint of `b` appeared"
        );
        if has_checkpoint(&r, Some("b"), &[1]) {
            let v: serde_json::Value = serde_json::from_slice(&read(&record)).unwrap();
            break v["b"]["job"].as_str().unwrap().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(Command::new("scancel")
        .arg(&job_b)
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("b: job") && err.contains("CANCELLED"), "{err}");
    // `advp status` shows what happened to each node.
    let o = r.advp(&["status", "p.advp"]);
    let st = stdout(&o);
    assert!(st.contains("cached"), "{st}");
    assert!(st.contains("failed (job"), "{st}");

    // Run again: only what is missing is submitted; `b` resumes from its checkpoint.
    let o = r.advp(&["run", "p.advp", "--executor", "slurm", "--out", "out"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("a: submitted"), "a was cached: {err}");
    let log = std::fs::read_dir(r.dir.path().join(".advp/slurm/p/logs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("b-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(log.contains("resuming from the checkpoint"), "{log}");
    let log_of = |node: &str| {
        std::fs::read_dir(r.dir.path().join(".advp/slurm/p/logs"))
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{node}-"))
            })
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
    };
    let e = log_of("e");
    for rank in ["rank 0 of 2 (Slurm", "rank 1 of 2 (Slurm"] {
        assert!(e.contains(rank), "{rank} missing from e's job log:\n{e}");
    }
    assert_eq!(rows_in(local8.dir.path()), rows_in(r.dir.path()));
    let o = r.advp(&["status", "p.advp"]);
    assert!(!stdout(&o).contains("failed"), "{}", stdout(&o));
}

/// The trained weights of the one train node in a cache folder.
fn weights_in(cache: &Path) -> Vec<u8> {
    let mut found: Vec<Vec<u8>> = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("weights.safetensors")).ok())
        .collect();
    assert_eq!(found.len(), 1, "one trained node in {}", cache.display());
    found.pop().unwrap()
}

#[test]
fn slurm_a_job_warned_before_its_time_limit_requeues_itself_and_ends_as_one_long_job() {
    if !slurm_up() {
        skip(
            "slurm_a_job_warned_before_its_time_limit_requeues_itself_and_ends_as_one_long_job",
            "no Slurm cluster answers `sinfo` (`eval \"$(./scripts/slurm-local start)\"` starts one)",
        );
        return;
    }
    // A one-minute time limit and a warning 55 s before it: Slurm signals the
    // job from 5 s on, when its periodic check comes (up to about half a
    // minute later), and every allocation is cut short the same way. The
    // training takes longer than that (about 45 s of epochs), so the first
    // allocation is always cut.
    let text = "data d = synthetic(classes: 4, frames: 4, size: 24, train: 320, test: 16, val: 8)\n\
        model net = c3d_small(classes: 4, width: 8)\n\
        train t = standard(net, d, epochs: 40, batch: 16) {\n  resources { time: \"00:01:00\" }\n}\n";
    // One thread in both runs (the same kernels' rounding), leaving the
    // machine's other cores to the tests beside it.
    let one_thread = [("ADVP_THREADS", std::ffi::OsStr::new("1"))];
    let one = Run::new();
    one.write("p.advp", text);
    let t0 = std::time::Instant::now();
    let o = one.advp_with(&["run", "p.advp", "--quiet"], &one_thread);
    eprintln!(
        "the uninterrupted training took {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = Run::new();
    r.write("p.advp", text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_advp"))
        .args([
            "run",
            "p.advp",
            "--executor",
            "slurm",
            "--signal-before",
            "55",
        ])
        .env("ADVP_THREADS", "1")
        .current_dir(r.dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let logs = r.dir.path().join(".advp/slurm/p/logs");
    let log = || {
        std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
    };
    let start = std::time::Instant::now();
    let mut nudged = 0;
    while child.try_wait().unwrap().is_none() {
        assert!(
            // A bound for a job that never ends, not for speed: on a loaded
            // machine every allocation still trains a few batches.
            start.elapsed().as_secs() < 900,
            "the job never finished:\n{}",
            log()
        );
        // Slurm holds a requeued job back for about two minutes; the test
        // lets it start again sooner (what a cluster does later by itself),
        // once per requeue and a few seconds on: a job started again in the
        // second it was requeued meets its revoked credential and fails
        // ("Killing non-startable batch job: Job credential revoked").
        let requeues = log().matches("is requeued").count();
        if requeues > nudged {
            let record = r.dir.path().join(".advp/slurm/p/jobs.json");
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&read(&record)) {
                if let Some(job) = v["t"]["job"].as_str() {
                    let state = Command::new("squeue")
                        .args(["-h", "-j", job, "-o", "%T"])
                        .output()
                        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                        .unwrap_or_default();
                    if state == "PENDING" {
                        let _ = Command::new("scontrol")
                            .args(["update", &format!("JobId={job}"), "StartTime=now+3"])
                            .output();
                        nudged = requeues;
                    }
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}\n{}", log());
    let log = words(&log());
    assert!(
        log.contains("is requeued and resumes from the checkpoint"),
        "{log}"
    );
    assert!(
        log.contains("t: resuming from the checkpoint at epoch"),
        "{log}"
    );
    // Split over allocations, the training ends bit for bit as one run did.
    assert!(
        weights_in(&r.dir.path().join(".advp/cache"))
            == weights_in(&one.dir.path().join(".advp/cache")),
        "the requeued training differs from one uninterrupted run"
    );
}
