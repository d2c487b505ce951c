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
