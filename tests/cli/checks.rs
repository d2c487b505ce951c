//! What passes `advp check` runs, and what cannot run is refused before any
//! work with a fix: AutoAttack on few classes, a missing ffmpeg, a shape
//! mismatch, sizes that cannot fit, a missing data or weights file.

use super::*;

/// AutoAttack's standard version (APGD-CE, APGD-T, FAB-T, Square) on a 5-class dataset: APGD-T
/// targets the 4 other classes instead of refusing the run. (At ε 0.5 the
/// clip the model gets right survives APGD-CE, so APGD-T runs on it.)
#[test]
fn autoattack_runs_end_to_end_on_five_classes() {
    let r = Run::new();
    r.write(
        "p.advp",
        r#"use "stdlib/attacks.advp"
data d = synthetic(classes: 5, frames: 4, size: 16, train: 40, val: 5, test: 8)
model net = c3d_small(classes: d.classes, width: 4)
train t = standard(net, d, epochs: 3, batch: 10)
eval e = robustness([t], d.test, protocol: worst_case) {
  attack autoattack
  budget sweep [0, 0.5, 8]
}
report e to "e.json"
"#,
    );
    let o = r.advp(&["check", "p.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json = std::fs::read_to_string(r.dir.path().join("out/e.json")).expect("e.json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert!(
        json.contains("APGD-T"),
        "the table names the attack it ran:\n{v:#}"
    );
}

/// Fewer classes than the DLR loss reads: `advp check` warns that APGD-T
/// attacks with the targeted cross-entropy, the run goes on, and the table
/// and its JSON say what ran, with the published version's name.
#[test]
fn autoattack_on_three_classes_warns_runs_and_says_what_ran() {
    let r = Run::new();
    r.write(
        "p.advp",
        r#"use "stdlib/attacks.advp"
data d = synthetic(classes: 3, frames: 4, size: 16, train: 8, val: 2, test: 6)
model net = c3d_small(classes: d.classes, width: 4)
train t = standard(net, d, epochs: 1)
eval e = robustness([t], d.test) {
  attack autoattack
  budget sweep [0, 8]
}
report e to "e.md", "e.json"
"#,
    );
    let o = r.advp(&["check", "p.advp"]);
    let err = words(&stderr(&o));
    assert!(o.status.success(), "{err}");
    assert!(err.contains("advp::check::too_few_classes"), "{err}");
    assert!(
        err.contains(
            "`d` has 3 classes: it attacks with the targeted cross-entropy −CE(z, t) instead"
        ),
        "{err}"
    );
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.dir.path().join("out/e.json")).unwrap()).unwrap();
    let attack = &v["attack"];
    assert_eq!(attack["autoattack"], "standard", "{v:#}");
    let as_run = attack["as_run"].to_string();
    assert!(
        as_run.contains("`apgd_t` targets the 2 other classes of 3, not 9"),
        "{as_run}"
    );
    assert!(
        as_run.contains("`apgd_t` attacks with the targeted cross-entropy"),
        "{as_run}"
    );
    assert!(
        as_run.contains("`fab_t` targets the 2 other classes of 3, not 9"),
        "{as_run}"
    );
    let md = std::fs::read_to_string(r.dir.path().join("out/e.md")).unwrap();
    assert!(
        md.contains("AutoAttack, the published `standard` version."),
        "{md}"
    );
    assert!(
        md.contains("As run on this data: `apgd_t` targets the 2 other classes"),
        "{md}"
    );
}

/// A `video_compression` run without ffmpeg on the PATH stops before the
/// training it would otherwise finish first, naming the tool, the node and
/// how to install it; with `--jobs` too, before the first job.
#[test]
fn a_missing_ffmpeg_is_found_before_any_work() {
    for jobs in [&[][..], &["--jobs", "2"][..]] {
        let r = Run::new();
        r.write(
            "p.advp",
            "data d = synthetic(classes: 3, frames: 4, size: 16, train: 8, val: 2, test: 4)\n\
             model net = c3d_small(classes: d.classes, width: 4)\n\
             defense h264 = video_compression()\n\
             train t = standard(net, d, epochs: 1)\n\
             eval e = robustness([h264 >> t], d.test) {\n  budget sweep [0]\n}\n",
        );
        let empty = r.dir.path().join("no-tools");
        std::fs::create_dir_all(&empty).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_advp"))
            .args(["run", "p.advp", "--quiet"])
            .args(jobs)
            .current_dir(r.dir.path())
            .env("NO_COLOR", "1")
            // libtorch comes through the binary's rpath, not the environment.
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("ADVP_FFMPEG")
            .env("PATH", &empty)
            .output()
            .expect("the binary runs");
        let err = words(&stderr(&o));
        assert_eq!(o.status.code(), Some(2), "{jobs:?}: {err}");
        assert!(err.contains("advp::run::missing_tool"), "{err}");
        assert!(err.contains("`h264`"), "{err}");
        assert!(err.contains("apt-get install ffmpeg"), "{err}");
        assert!(err.contains("conda"), "{err}");
        let entries = std::fs::read_dir(r.dir.path().join(".advp/cache"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("manifest.json").exists())
            .count();
        assert_eq!(entries, 0, "{jobs:?}: nothing was computed: {err}");
    }
}

/// The language's own `step_fit(benign, ucf.test, budgets: 1..12)` checks
/// and runs: PGD and the α grid are the table's defaults.
#[test]
fn a_step_fit_without_attack_or_alpha_checks_and_runs() {
    let r = Run::new();
    r.write(
        "p.advp",
        "data d = synthetic(classes: 3, frames: 4, size: 16, train: 8, val: 2, test: 4)\n\
         model net = c3d_small(classes: d.classes, width: 4)\n\
         train t = standard(net, d, epochs: 1)\n\
         analyze fit = step_fit(t, d.test, budgets: [2, 4], samples: 4)\n\
         report fit to \"fit.json\"\n",
    );
    let o = r.advp(&["check", "p.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json = std::fs::read_to_string(r.dir.path().join("out/fit.json")).expect("fit.json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        v["fit"]["alphas"].as_array().map(Vec::len),
        Some(32),
        "the default grid 0.25..8 step 0.25: {v:#}"
    );
}

#[test]
fn a_shape_mismatch_fails_before_any_training() {
    let r = Run::new();
    r.write(
        "p.advp",
        "data d = synthetic(classes: 4, frames: 4, size: 16, train: 16, test: 8, val: 4)\nmodel net = c3d_small(classes: 7, width: 4)\ntrain t = standard(net, d, epochs: 1)\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("advp::run::shape_mismatch"), "{err}");
    assert!(err.contains("4 classes"), "{err}");
    assert!(!err.contains("epoch 1/1"), "{err}");
}

#[test]
fn sizes_that_cannot_fit_are_refused_before_any_work() {
    // Once: `test: 1e9` or `frames: 512, size: 1024` passed `advp check` and
    // aborted the run in an allocation (rc 134).
    let r = Run::new();
    r.write(
        "big.advp",
        "data d = synthetic(classes: 4, test: 1000000000)\nmodel net = c3d_small(classes: d.classes)\ntrain t = standard(net, d, epochs: 1)\n",
    );
    r.write(
        "wide.advp",
        "data d = synthetic(classes: 4, frames: 512, size: 1024, train: 8, test: 8, val: 2)\nmodel net = c3d_small(classes: d.classes)\ntrain t = standard(net, d, epochs: 1, batch: 32)\n",
    );
    for (file, want) in [
        ("big.advp", "held-out and test clips"),
        // `batch: 32` over 8 training clips loads 8 at a time.
        ("wide.advp", "a batch of 8 clips"),
    ] {
        let o = r.advp(&["check", file]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
        let err = words(&stderr(&o));
        assert!(err.contains("advp::run::too_large"), "{file}: {err}");
        assert!(err.contains(want), "{file}: {err}");
        let o = r.advp(&["run", file, "--quiet"]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
        assert!(
            !r.dir.path().join(".advp/cache").exists(),
            "{file}: nothing ran"
        );
    }
    // The bound is the machine's memory, or ADVP_MAX_MEMORY.
    r.write("small.advp", "data d = synthetic(classes: 4)\nmodel net = c3d_small(classes: d.classes)\ntrain t = standard(net, d)\n");
    let o = r.advp_with(
        &["check", "small.advp"],
        &[("ADVP_MAX_MEMORY", "1M".as_ref())],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("ADVP_MAX_MEMORY"), "{}", stderr(&o));
    assert!(r.advp(&["check", "small.advp"]).status.success());
}

#[test]
fn check_warns_about_a_missing_data_or_weights_file_and_run_refuses_it() {
    let r = Run::new();
    r.write(
        "p.advp",
        "data d = tensors(path: \"clips.safetensors\")\n\
         model net = c3d_small(classes: 3, width: 2)\n\
         eval e = robustness([net], d.test) {\n  budget sweep [0]\n}\n",
    );
    let o = r.advp(&["check", "p.advp"]);
    assert!(
        o.status.success(),
        "a warning fails nothing: {}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("1 warning"), "{}", stdout(&o));
    let err = words(&stderr(&o));
    assert!(err.contains("advp::check::missing_file"), "{err}");
    assert!(err.contains("clips.safetensors does not exist"), "{err}");
    let o = r.advp(&["check", "p.advp", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["diagnostics"][0]["severity"], "warning");
    assert_eq!(v["diagnostics"][0]["code"], "advp::check::missing_file");
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Once the file is there the warning is gone.
    r.write("clips.safetensors", "");
    let o = r.advp(&["check", "p.advp"]);
    assert!(o.status.success());
    assert!(!stdout(&o).contains("warning"), "{}", stdout(&o));
    assert!(!stderr(&o).contains("missing_file"), "{}", stderr(&o));
}
