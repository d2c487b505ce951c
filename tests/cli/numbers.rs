//! No wrong number looks right, and every input's work is bounded: step
//! sizes, rules, empty splits, unreadable results, batch estimates and
//! `ADVP_MAX_MEMORY`.

use super::*;
use std::time::{Duration, Instant};

/// `advp ARGS` in `r`, killed after `limit`: `None` if it ran that long.
fn advp_within(r: &Run, args: &[&str], limit: Duration) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_advp"))
        .args(args)
        .current_dir(r.dir.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("waiting for advp").is_some() {
            return Some(child.wait_with_output().expect("its output"));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn rules_that_use_rules_twice_check_in_time_linear_in_their_text() {
    // Once: each rule inlined its rules, so r23 was 2^24 nodes and `advp
    // check` allocated gigabytes; a long chain grew quadratically.
    let r = Run::new();
    let mut doubling = String::from("rule r0 = eps / 4\n");
    for k in 1..24 {
        doubling.push_str(&format!("rule r{k} = r{} + r{}\n", k - 1, k - 1));
    }
    r.write("doubling.advp", &doubling);
    let mut chain = String::from("rule c0 = eps / 4\n");
    for k in 1..1200 {
        chain.push_str(&format!("rule c{k} = c{} + 0.5\n", k - 1));
    }
    chain.push_str(
        "data d = synthetic(classes: 4)\nmodel net = c3d_small(classes: d.classes)\neval e = robustness([net], d.test) {\n  budget sweep [0, 4, 8]\n  alpha c1199\n}\n",
    );
    r.write("chain.advp", &chain);
    for file in ["doubling.advp", "chain.advp"] {
        let o = advp_within(&r, &["check", file], Duration::from_secs(20))
            .unwrap_or_else(|| panic!("`advp check {file}` ran past 20 s"));
        assert!(o.status.success(), "{file}: {}", stderr(&o));
    }
}

#[test]
fn a_step_size_below_zero_at_a_budget_the_node_runs_is_refused_by_check() {
    // Once `alpha 3 - eps` passed: at ε = 8 PGD stepped away from the
    // adversary and a model with no robustness was reported robust.
    let r = Run::new();
    r.write(
        "neg.advp",
        "data d = synthetic(classes: 4)\nmodel net = c3d_small(classes: d.classes)\neval e = robustness([net], d.test) {\n  budget sweep [0, 2, 8]\n  alpha 3 - eps\n}\n",
    );
    let o = r.advp(&["check", "neg.advp"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = words(&stderr(&o));
    assert!(err.contains("advp::check::out_of_range"), "{err}");
    assert!(
        err.contains("the step size `3 - eps` is -5 at the budget ε = 8"),
        "{err}"
    );
    assert!(err.contains("neg.advp:5:3"), "the alpha statement: {err}");
    let o = r.advp(&["run", "neg.advp", "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!r.dir.path().join(".advp/cache").exists(), "nothing ran");
}

#[test]
fn a_split_with_no_clips_is_refused_before_any_work() {
    // Once: an evaluation of no clips printed a bold "0.0 ± 50.0".
    let r = Run::new();
    let refused = |file: &str, want: &[&str]| {
        let o = r.advp(&["run", file, "--quiet", "--cache", &format!("c-{file}")]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
        let err = words(&stderr(&o));
        assert!(err.contains("advp::run::empty_split"), "{file}: {err}");
        for w in want {
            assert!(err.contains(w), "{file}: `{w}` in {err}");
        }
        let cached = std::fs::read_dir(r.dir.path().join(format!("c-{file}")))
            .map_or(0, |d| d.flatten().filter(|e| e.path().is_dir()).count());
        assert_eq!(cached, 0, "{file}: nothing computed");
    };
    // A safetensors file whose `x_test` has no rows.
    tch::manual_seed(0);
    let x = tch::Tensor::rand([8, 3, 4, 16, 16], (tch::Kind::Float, tch::Device::Cpu));
    let y = tch::Tensor::from_slice(&[0i64, 1, 0, 1, 0, 1, 0, 1]);
    let file = r.dir.path().join("clips.safetensors");
    tch::Tensor::write_safetensors(
        &[
            ("x", &x),
            ("y", &y),
            ("x_test", &x.narrow(0, 0, 0)),
            ("y_test", &y.narrow(0, 0, 0)),
        ],
        &file,
    )
    .unwrap();
    r.write(
        "t.advp",
        "data d = tensors(\"clips.safetensors\", val: 0.25)\nmodel net = c3d_small(classes: d.classes, width: 4)\ntrain t = standard(net, d, epochs: 1, batch: 4)\neval e = robustness([t], d.test) {\n  budget sweep [0]\n}\n",
    );
    refused(
        "t.advp",
        &["`d.test` has no clips", "`x_test` in", "clips.safetensors"],
    );
    // Synthetic data given no held-out clips, evaluated on them.
    r.write(
        "s.advp",
        "data d = synthetic(classes: 4, frames: 4, size: 16, train: 8, test: 8, val: 0)\nmodel net = c3d_small(classes: d.classes, width: 4)\neval e = robustness([net], d.val) {\n  budget sweep [0]\n}\n",
    );
    refused("s.advp", &["`d.val` has no clips"]);
    // Frame folders whose test list names no video.
    mini_ucf(&r.dir.path().join("data/ucf"));
    std::fs::write(r.dir.path().join("data/ucf/testlist01.txt"), "").unwrap();
    r.write(
        "u.advp",
        "data ucf = ucf101(root: \"data/ucf\", split: 1, frames: 4, size: 16, clips: 2, val: 0)\nmodel net = c3d_small(classes: 3, width: 4)\neval e = robustness([net], ucf.test) {\n  budget sweep [0]\n}\n",
    );
    refused("u.advp", &["`ucf.test` has no clips", "testlist01.txt"]);
}

#[test]
fn a_result_that_does_not_read_back_is_damaged_and_computed_again() {
    // Once: a `null` where a number belongs (what JSON makes of a NaN) was
    // committed, `advp cache verify` called it fine and every later run
    // failed reading it.
    let r = Run::new();
    r.write(
        "p.advp",
        "seed 2\ndata d = synthetic(classes: 3, frames: 4, size: 16, train: 6, test: 6, val: 3)\nmodel net = c3d_small(classes: d.classes, width: 4)\neval e = robustness([net], d.test, batch: 6) {\n  attack pgd(steps: 1)\n  budget sweep [0, 4]\n}\nreport e to \"e.json\"\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = read(r.dir.path().join("results/p/e.json"));
    let cache = r.dir.path().join(".advp/cache");
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("result.json").exists())
        .expect("the evaluation's entry");
    // A number becomes `null`, and the manifest is made to agree.
    let text = String::from_utf8(read(entry.join("result.json"))).unwrap();
    let at = text.find("\"accuracy\": ").expect("an accuracy") + "\"accuracy\": ".len();
    let end = at + text[at..].find([',', '\n']).unwrap();
    let forged = format!("{}null{}", &text[..at], &text[end..]);
    std::fs::write(entry.join("result.json"), &forged).unwrap();
    let manifest_path = entry.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&read(&manifest_path)).unwrap();
    manifest["sha256"]["result.json"] =
        advp::runtime::cache::sha256_file(&entry.join("result.json"))
            .unwrap()
            .into();
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();

    let o = r.advp(&["cache", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("damaged"), "{out}");
    assert!(
        out.contains("result.json does not read as a result"),
        "{out}"
    );
    // The run sets it aside, computes it again and gives the same table.
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("is damaged"), "{}", stderr(&o));
    assert_eq!(read(r.dir.path().join("results/p/e.json")), table);
    assert!(r.advp(&["cache", "verify"]).status.success());
}

#[test]
fn a_batch_larger_than_its_split_is_estimated_as_the_split() {
    // Once: `batch: 100000000` over 8 clips was refused as needing terabytes.
    let r = Run::new();
    r.write(
        "b.advp",
        "data d = synthetic(classes: 4, frames: 4, size: 16, train: 8, test: 8, val: 2)\nmodel net = c3d_small(classes: d.classes, width: 4)\ntrain t = standard(net, d, epochs: 1, batch: 100000000)\neval e = robustness([t], d.test, batch: 100000000) {\n  budget sweep [0]\n}\n",
    );
    let o = r.advp(&["check", "b.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("too_large"), "{}", stderr(&o));
}

#[test]
fn a_malformed_memory_bound_is_refused_and_units_are_read() {
    // Once `16GB`, `abc` or `inf` disabled the memory guard without a word.
    let r = Run::new();
    r.write(
        "small.advp",
        "data d = synthetic(classes: 4)\nmodel net = c3d_small(classes: d.classes)\ntrain t = standard(net, d)\n",
    );
    let check = |bound: &str| {
        Command::new(env!("CARGO_BIN_EXE_advp"))
            .args(["check", "small.advp"])
            .current_dir(r.dir.path())
            .env("NO_COLOR", "1")
            .env("ADVP_MAX_MEMORY", bound)
            .output()
            .unwrap()
    };
    for bad in ["abc", "inf", "-4G", "16XB"] {
        let o = check(bad);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        let err = words(&stderr(&o));
        assert!(
            err.contains(&format!("ADVP_MAX_MEMORY=\"{bad}\" is not a size")),
            "{bad}: {err}"
        );
        assert!(err.contains("KiB, MiB, GiB, TiB"), "{bad}: {err}");
        assert!(!err.contains("panicked"), "{bad}: {err}");
    }
    // Units are read: 1 MB is too little, 64 GiB is plenty.
    let o = check("1 MB");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("advp::run::too_large"),
        "{}",
        stderr(&o)
    );
    let o = check("64GiB");
    assert!(o.status.success(), "{}", stderr(&o));
}
