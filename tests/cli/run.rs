//! `advp run`: train, evaluate, report and cache; a killed or damaged run
//! resumes and changes no number; two runs share one cache.

use super::*;

#[test]
fn run_trains_evaluates_reports_and_caches() {
    let r = Run::new();
    r.write("p.advp", &tiny(2));
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("device auto:"),
        "auto says what it chose: {err}"
    );
    assert!(err.contains("3 node(s) ran"), "{err}");
    let md = String::from_utf8(read(r.dir.path().join("results/p/e.md"))).unwrap();
    assert!(md.contains("| model | ε = 0 | ε = 4 | ε = 8 |"), "{md}");
    // Cells with their intervals; 32 clips separate nothing, so nothing is bold.
    assert!(
        md.contains("| benign |") && md.contains("| at |") && md.contains(" ± "),
        "{md}"
    );
    assert!(md.contains("Wilson interval") && !md.contains("**"), "{md}");
    let csv = String::from_utf8(read(r.dir.path().join("results/p/e.csv"))).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 3, "{csv}");
    let rows = rows(&r);
    assert_eq!(rows.as_array().unwrap().len(), 6);
    assert_eq!(rows[0]["n"], 32);
    // AAT logged its budget probabilities and the held-out loss of each budget.
    let m = metrics(&r);
    assert_eq!(m.len(), 2);
    assert_eq!(m[0]["probs"].as_array().unwrap().len(), 3);
    assert_eq!(m[0]["budget_losses"].as_array().unwrap().len(), 3);
    // Eq. 8: epoch 2 samples budgets with the held-out losses of epoch 1, normalised.
    let losses: Vec<f64> = m[0]["budget_losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let total: f64 = losses.iter().sum();
    for (p, l) in m[1]["probs"].as_array().unwrap().iter().zip(&losses) {
        assert!((p.as_f64().unwrap() - l / total).abs() < 1e-12, "{m:?}");
    }
    assert!(
        losses[2] > losses[0],
        "a larger budget gives a larger held-out loss: {losses:?}"
    );
    // The adversarial clips: one tensor per model and budget, plus the clean clips and labels.
    let adv =
        tch::Tensor::read_safetensors(r.dir.path().join("results/p/adv/e.safetensors")).unwrap();
    let names: Vec<&str> = adv.iter().map(|(n, _)| n.as_str()).collect();
    for n in ["clean", "labels", "benign/eps8", "at/eps4"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let clean = &adv.iter().find(|(n, _)| n == "clean").unwrap().1;
    let at8 = &adv.iter().find(|(n, _)| n == "at/eps8").unwrap().1;
    assert_eq!(clean.size(), [32, 3, 4, 16, 16]);
    // Three steps of α = 0.2·(8 + 1) = 1.8 reach at most 5.4 of the budget 8
    // (under the worst-case protocol a clip fooled earlier keeps its shorter
    // perturbation: at ε 4, three steps of 1.0).
    let linf = (at8 - clean).abs().max().double_value(&[]);
    assert!(linf <= 5.4 / 255.0 + 1e-6 && linf > 0.0, "{linf}");

    // A second run does no tensor work; the graph says so.
    let again = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("0 node(s) ran, 3 cached"),
        "{}",
        stderr(&again)
    );
    let g = r.advp(&["graph", "p.advp"]);
    assert!(stdout(&g).contains("[cached]"), "{}", stdout(&g));

    // Changing the evaluation re-runs it alone; --only and --force pick one node.
    r.write("p.advp", &tiny(2).replace("[0, 4, 8]", "[0, 8]"));
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(
        stderr(&o).contains("1 node(s) ran, 2 cached"),
        "{}",
        stderr(&o)
    );
    let o = r.advp(&["run", "p.advp", "--quiet", "--only", "benign", "--force"]);
    assert!(
        stderr(&o).contains("1 node(s) ran, 0 cached"),
        "{}",
        stderr(&o)
    );
    let o = r.advp(&["run", "p.advp", "--quiet", "--only", "benig"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("did you mean `benign`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn one_seed_gives_identical_numbers_and_a_killed_run_resumes_bit_identically() {
    // Uninterrupted.
    let a = Run::new();
    a.write("p.advp", &tiny(6));
    let o = a.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // The same again in another folder: the same numbers and weights.
    let b = Run::new();
    b.write("p.advp", &tiny(6));
    assert!(b.advp(&["run", "p.advp", "--quiet"]).status.success());
    assert_eq!(rows(&a), rows(&b));
    assert_eq!(weights(&a), weights(&b));

    // Killed with SIGKILL once `at` has a checkpoint, then with Ctrl-C (SIGINT), then resumed.
    let c = Run::new();
    c.write("p.advp", &tiny(6));
    for signal in ["-KILL", "-INT"] {
        let out = interrupt_at_checkpoint(
            &c,
            &["run", "p.advp", "--quiet"],
            None,
            // A checkpoint of one of the first three epochs: a window wide
            // enough to be seen (one thread trains an epoch of this pipeline
            // in tens of milliseconds) that still leaves three epochs of
            // `at` to interrupt and resume.
            &[1, 2, 3],
            signal,
            120,
        );
        if signal == "-INT" {
            let err = String::from_utf8_lossy(&out.stderr);
            if out.status.code() == Some(130) {
                assert!(
                    err.contains("run the same command again to resume"),
                    "{err}"
                );
            }
        }
    }
    let o = c.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("resuming from the checkpoint"),
        "{}",
        stderr(&o)
    );
    assert_eq!(rows(&a), rows(&c));
    assert_eq!(metrics(&a), metrics(&c));
    assert_eq!(
        weights(&a),
        weights(&c),
        "resumed weights differ from an uninterrupted run"
    );
}

#[test]
fn run_links_libtorch_without_ld_library_path_and_resolves_the_device() {
    let r = Run::new();
    let o = r.advp(&[
        "run",
        &repo("pipelines/table2.advp"),
        "--set",
        "device=cuda:64",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cuda:64"), "{}", stderr(&o));
}

#[test]
fn a_damaged_cache_entry_is_set_aside_and_computed_again() {
    let r = Run::new();
    let text = "seed 4\ndata d = synthetic(classes: 3, frames: 4, size: 16, train: 24, test: 12, val: 3)\nmodel net = c3d_small(classes: d.classes, width: 4)\ntrain t = standard(net, d, epochs: 1, batch: 12)\neval e = robustness([t], d.test, batch: 12) {\n  attack pgd(steps: 2)\n  budget sweep [0, 4]\n}\nreport e to \"e.json\"\n";
    r.write("p.advp", text);
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = read(r.dir.path().join("results/p/e.json"));
    let o = r.advp(&["cache", "verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).matches("ok ").count(), 2, "{}", stdout(&o));
    let cache = r.dir.path().join(".advp/cache");
    let entry = |file: &str| {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path().join(file))
            .find(|p| p.exists())
            .unwrap()
    };
    // Flip bytes in the tensor data of the trained weights (the header stays
    // valid, so only the manifest can tell), and edit the eval's result.
    let weights = entry("weights.safetensors");
    let mut bytes = read(&weights);
    let n = bytes.len();
    for b in &mut bytes[n - 64..] {
        *b ^= 0x5a;
    }
    std::fs::write(&weights, bytes).unwrap();
    let result = entry("result.json");
    let edited = String::from_utf8(read(&result)).unwrap().replacen(
        "\"accuracy\": ",
        "\"accuracy\": 0.0",
        1,
    );
    std::fs::write(&result, edited).unwrap();
    let o = r.advp(&["cache", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("weights.safetensors changed"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("result.json changed"), "{}", stdout(&o));
    // The run names both, moves them aside (kept), computes them again and
    // gives the original table.
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.matches("is damaged").count(), 2, "{err}");
    assert!(err.contains("2 node(s) ran, 0 cached"), "{err}");
    assert_eq!(
        std::fs::read_dir(cache.join("corrupt")).unwrap().count(),
        2,
        "damaged entries are kept aside"
    );
    assert_eq!(read(r.dir.path().join("results/p/e.json")), table);
    let o = r.advp(&["cache", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
    // What a killed write left under --out is swept by the next run.
    let left = r.dir.path().join("results/p/.e.json.tmp999999999");
    std::fs::write(&left, "half").unwrap();
    assert!(r.advp(&["run", "p.advp", "--quiet"]).status.success());
    assert!(!left.exists(), "a dead process's temporary file is removed");
}

#[test]
fn a_damaged_checkpoint_restarts_its_node_and_changes_no_number() {
    let a = Run::new();
    a.write("p.advp", &tiny(3));
    assert!(a.advp(&["run", "p.advp", "--quiet"]).status.success());
    // Killed once a checkpoint exists; then its tensors are damaged in place.
    let c = Run::new();
    c.write("p.advp", &tiny(3));
    interrupt_at_checkpoint(
        &c,
        &["run", "p.advp", "--quiet"],
        None,
        &[1, 2],
        "-KILL",
        120,
    );
    let partial = std::fs::read_dir(c.dir.path().join(".advp/cache"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("state.json").exists())
        .expect("a checkpoint");
    let state: serde_json::Value =
        serde_json::from_slice(&read(partial.join("state.json"))).unwrap();
    let tensors = partial.join(state["tensors"].as_str().unwrap());
    let mut bytes = read(&tensors);
    let n = bytes.len();
    bytes[n - 8] ^= 0xff;
    std::fs::write(&tensors, bytes).unwrap();
    let o = c.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("changed since it was written"), "{err}");
    assert!(err.contains("starts again"), "{err}");
    // Started again from scratch: the same weights and table as never stopped.
    assert_eq!(weights(&a), weights(&c));
    assert_eq!(rows(&a), rows(&c));
}

#[test]
fn two_runs_on_one_cache_share_the_work_and_agree() {
    let r = Run::new();
    r.write("p.advp", &tiny(2));
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_advp"))
            .args(["run", "p.advp", "--quiet"])
            .current_dir(r.dir.path())
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(start);
        std::thread::sleep(std::time::Duration::from_millis(150));
        let b = s.spawn(start);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    let both = format!("{}\n{}", stderr(&a), stderr(&b));
    // Each node was computed once: what one ran, the other read from the cache.
    let ran = |o: &Output| -> usize {
        let e = stderr(o);
        let i = e.find(" node(s) ran").expect("a summary line");
        e[..i].rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        ran(&a) + ran(&b),
        3,
        "3 computed nodes, each computed once: {both}"
    );
    assert!(both.contains("computed by another advp"), "{both}");
    let table = rows(&r);
    // The same numbers as a run alone.
    let alone = Run::new();
    alone.write("p.advp", &tiny(2));
    assert!(alone.advp(&["run", "p.advp", "--quiet"]).status.success());
    assert_eq!(rows(&alone), table);
    assert!(
        !std::fs::read_dir(r.dir.path().join(".advp/cache"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".lock")),
        "no lock is left behind"
    );
}
