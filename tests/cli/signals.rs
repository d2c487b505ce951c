//! Signals and closed pipes: Ctrl-C stops a run, a scheduler's signal
//! checkpoints and requeues its job, a closed pipe ends cleanly.

use super::*;

#[test]
fn ctrl_c_stops_an_evaluation_and_a_second_one_exits_at_once() {
    use std::os::unix::process::ExitStatusExt;
    let r = Run::new();
    r.write(
        "p.advp",
        "seed 1\ndata d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 96, val: 3)\nmodel net = c3d_small(classes: d.classes, width: 4)\ntrain t = standard(net, d, epochs: 1, batch: 12)\neval e = robustness([t], d.test, batch: 8) {\n  attack pgd(steps: 400)\n  budget sweep [2, 4, 8]\n}\nreport e to \"e.csv\"\n",
    );
    // The training finishes first, so every signal below lands in the evaluation.
    let o = r.advp(&["run", "p.advp", "--quiet", "--only", "t"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut stopped = 0;
    // 8 tries in the suite; `ADVP_CTRLC_TRIES=100` for the long check.
    let tries: u64 = std::env::var("ADVP_CTRLC_TRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    for k in 0..tries {
        let child = Command::new(env!("CARGO_BIN_EXE_advp"))
            .args(["run", "p.advp", "--quiet"])
            .current_dir(r.dir.path())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Once this run has started evaluating (it writes the eval's
        // node.json anew), at pseudo-random points in the evaluation.
        let started = std::time::Instant::now();
        let spawned = std::time::SystemTime::now() - std::time::Duration::from_millis(5);
        let cache = r.dir.path().join(".advp/cache");
        let evaluating = || {
            std::fs::read_dir(&cache)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    let node = e.path().join("node.json");
                    e.file_name().to_string_lossy().ends_with(".partial")
                        && std::fs::read_to_string(&node)
                            .is_ok_and(|t| t.contains("\"name\": \"e\""))
                        && std::fs::metadata(&node)
                            .and_then(|m| m.modified())
                            .is_ok_and(|t| t >= spawned)
                })
        };
        while !evaluating() && started.elapsed().as_secs() < 120 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis((k * 7919) % 700));
        let pid = child.id().to_string();
        let signals = if k % 2 == 0 { 1 } else { 2 };
        for _ in 0..signals {
            let _ = Command::new("kill").args(["-INT", &pid]).status();
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            None,
            "try {k}: killed by a signal (a crash): {err}"
        );
        match out.status.code() {
            Some(130) => {
                stopped += 1;
                if signals == 1 {
                    assert!(
                        err.contains("run the same command again to resume"),
                        "try {k}: {err}"
                    );
                }
            }
            Some(0) => {} // finished before the signal
            other => panic!("try {k}: exit {other:?}: {err}"),
        }
        assert!(
            !r.dir.path().join("results/p/e.csv").exists() || out.status.code() == Some(0),
            "an interrupted evaluation writes no table"
        );
    }
    assert!(
        stopped >= 6,
        "the signals landed in the evaluation ({stopped} of 8 stopped)"
    );
    // Nothing half-finished was cached: the next run evaluates and writes the table.
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 node(s) ran, 1 cached"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn closed_pipes_bad_job_counts_and_non_advp_imports_end_cleanly() {
    let r = Run::new();
    // `advp graph … | head -1`: the pipe closes with most of the output unread.
    let mut text = String::from("data d = synthetic(classes: 4)\n");
    for i in 0..3000 {
        text.push_str(&format!(
            "model m{i} = c3d_small(classes: d.classes, width: 4)\n"
        ));
    }
    r.write("big.advp", &text);
    for _ in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_advp"))
            .args(["graph", "big.advp"])
            .current_dir(r.dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked"),
            "a closed pipe is no panic: {err}"
        );
        assert!(
            matches!(out.status.code(), Some(0 | 141)),
            "{:?}: {err}",
            out.status
        );
    }
    // `--jobs 0` is refused by the command line.
    r.write("p.advp", "data d = synthetic(classes: 4)\n");
    let o = r.advp(&["run", "p.advp", "--jobs", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--jobs"), "{}", stderr(&o));
    // `use` reads .advp files only, and never prints another file's lines.
    r.write(
        "secret.txt",
        "data leaked = synthetic(classes: 4)\nTOP-SECRET\n",
    );
    r.write("u.advp", "use \"secret.txt\"\n");
    let o = r.advp(&["check", "u.advp"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("advp::check::import_not_found"), "{err}");
    assert!(err.contains("reads `.advp` files only"), "{err}");
    assert!(!err.contains("TOP-SECRET"), "{err}");
    // An endless input is refused before it is opened (not a regular file).
    let o = r.advp(&["check", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("a character device"), "{}", stderr(&o));
}

#[test]
fn a_scheduler_signal_checkpoints_requeues_the_slurm_job_and_the_next_run_resumes() {
    let r = Run::new();
    r.write(
        "p.advp",
        "data d = synthetic(classes: 4, frames: 4, size: 16, train: 64, test: 8, val: 8)\n\
         model net = c3d_small(classes: d.classes, width: 4)\n\
         train t = standard(net, d, epochs: 30, batch: 16)\n",
    );
    // A stand-in for Slurm's `scontrol`: it records how it was called.
    let bin = r.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("scontrol");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/calls\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cache = r.dir.path().join(".advp/cache");
    // SIGUSR1 is the time-limit warning: the job requeues itself. SIGTERM
    // (`scancel`, a preemption Slurm handles) stops it without a requeue.
    for (signal, warned) in [("-USR1", true), ("-TERM", false)] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_advp"));
        cmd.args(["run", "p.advp", "--quiet"])
            .current_dir(r.dir.path())
            .env("PATH", &path)
            .env_remove("LD_LIBRARY_PATH")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.env("SLURM_JOB_ID", "4242");
        let spawned = std::time::SystemTime::now() - std::time::Duration::from_millis(5);
        let child = cmd.spawn().unwrap();
        // This process trains once it has saved an epoch's checkpoint.
        let t0 = std::time::Instant::now();
        while !std::fs::read_dir(&cache)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.file_name().to_string_lossy().ends_with(".partial")
                    && std::fs::metadata(e.path().join("state.json"))
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t >= spawned)
            })
        {
            assert!(t0.elapsed().as_secs() < 60, "training never started");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(143), "{signal}: {}", stderr(&o));
        let err = words(&stderr(&o));
        if warned {
            assert!(
                err.contains("Job 4242 is requeued and resumes from the checkpoint"),
                "{err}"
            );
        } else {
            assert!(err.contains("stopped by a signal from outside"), "{err}");
        }
        // One requeue, after the warning only.
        let calls = std::fs::read_to_string(bin.join("calls")).unwrap();
        assert_eq!(calls.trim(), "requeue 4242");
        assert!(
            has_checkpoint(&r, Some("t"), &(0..30).collect::<Vec<_>>())
                || err.contains("checkpoint saved"),
            "{err}"
        );
    }
    // The next run resumes from the checkpoint rather than starting again.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_advp"));
    let o = cmd
        .args(["run", "p.advp", "--quiet", "--only", "t"])
        .current_dir(r.dir.path())
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("t: resuming from the checkpoint at epoch"),
        "{}",
        stderr(&o)
    );
}
