//! Seeds are replicates: each cached, run in parallel, reported once.

use super::*;

const REPLICATED: &str = r#"seeds [1, 2, 3]
data d = synthetic(classes: 4, frames: 4, size: 16, train: 32, test: 24, val: 8)
model net = c3d_small(classes: d.classes, width: 4)
train benign = standard(net, d, epochs: 1, batch: 16)
train at = adversarial(net, d, attack: pgd(steps: 1), epochs: 1, batch: 16) {
  budget fixed 8
  alpha eps
}
eval e = robustness([benign, at], d.test, batch: 24) {
  attack pgd(steps: 2)
  budget sweep [0, 8]
  alpha eps / 4
  compare at > benign at eps 8
  compare benign > at at eps 0
}
report e to "e.md", "e.csv", "e.json"
report e per_clip to "clips.csv"
"#;

#[test]
fn seeds_are_replicates_each_cached_and_a_new_seed_runs_alone() {
    let r = Run::new();
    r.write("p.advp", REPLICATED);
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = |seeds: &[u64]| -> Vec<(String, u64)> {
        let mut w: Vec<(String, u64)> = ["at", "benign", "e"]
            .iter()
            .flat_map(|n| seeds.iter().map(move |&s| (n.to_string(), s)))
            .collect();
        w.sort();
        w
    };
    assert_eq!(entries(&r), want(&[1, 2, 3]), "three entries per node");
    assert!(
        words(&stderr(&o)).contains("9 node(s) ran, 0 cached"),
        "{}",
        stderr(&o)
    );
    // The graph shows each node's replicates.
    let g = r.advp(&["graph", "p.advp", "--seeds", "1,2,3,4"]);
    assert!(
        stdout(&g).contains("[seed 1 cached, seed 2 cached, seed 3 cached, seed 4 to run] train"),
        "{}",
        stdout(&g)
    );
    // `advp status` has a line per replicate.
    let st = stdout(&r.advp(&["status", "p.advp", "--seeds", "1,2,3,4"]));
    assert!(st.contains("at (seed 3)") && st.contains("cached"), "{st}");
    assert!(
        st.lines()
            .any(|l| l.contains("e (seed 4)") && l.contains("to run")),
        "{st}"
    );
    // A fourth seed runs only its own replicates.
    let o = r.advp(&["run", "p.advp", "--quiet", "--seeds", "1,2,3,4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = words(&stderr(&o));
    assert!(err.contains("3 node(s) ran, 9 cached"), "{err}");
    assert_eq!(entries(&r), want(&[1, 2, 3, 4]));
    // The table: each cell the mean of its four seeds, every seed's value
    // kept, in a folder of its own (the run had `--seeds`).
    let out = out_dir(&r, "p-");
    let v: serde_json::Value = serde_json::from_slice(&read(out.join("e.json"))).unwrap();
    assert_eq!(v["seeds"], serde_json::json!([1, 2, 3, 4]));
    for row in v["rows"].as_array().unwrap() {
        let per: Vec<f64> = row["per_seed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["accuracy"].as_f64().unwrap())
            .collect();
        assert_eq!(per.len(), 4);
        let mean = per.iter().sum::<f64>() / 4.0;
        assert!(
            (row["accuracy"].as_f64().unwrap() - mean).abs() < 1e-12,
            "{row}"
        );
        assert_eq!(
            (row["n_seeds"].as_u64(), row["n_clips"].as_u64()),
            (Some(4), Some(24))
        );
        let (lo, hi) = (
            row["ci_low"].as_f64().unwrap(),
            row["ci_high"].as_f64().unwrap(),
        );
        assert!(lo <= mean && mean <= hi, "{row}");
    }
    let csv = String::from_utf8(read(out.join("e.csv"))).unwrap();
    assert!(csv.starts_with("model,attack,eps,alpha,accuracy,correct,n,video_accuracy,seed,ci_low,ci_high,n_seeds,n_clips,per_seed,setting,defenses,protocol,through\n"), "{csv}");
    assert!(csv.lines().nth(1).unwrap().contains(",1 2 3 4,"), "{csv}");
    let md = String::from_utf8(read(out.join("e.md"))).unwrap();
    assert!(md.contains("24 clips per cell, 4 seeds."), "{md}");
    assert!(md.contains("## Claims"), "{md}");

    // The claims, recomputed from the per-clip records of every seed.
    let clips = String::from_utf8(read(out.join("clips.csv"))).unwrap();
    let mut right: std::collections::BTreeMap<(String, String, String, String), bool> =
        Default::default();
    for l in clips.lines().skip(1) {
        let c: Vec<&str> = l.split(',').collect();
        // seed, model, attack, eps, clip, …, fooled (9th)
        right.insert(
            (c[0].into(), c[1].into(), c[3].into(), c[4].into()),
            c[8] == "false",
        );
    }
    let claims = v["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 2);
    for (c, (a, b, eps)) in claims
        .iter()
        .zip([("at", "benign", "8.0"), ("benign", "at", "0.0")])
    {
        let (mut a_only, mut b_only) = (0u64, 0u64);
        for ((seed, model, e, clip), &ok) in &right {
            if model == a && e == eps {
                let other = right[&(seed.clone(), b.to_string(), e.clone(), clip.clone())];
                a_only += u64::from(ok && !other);
                b_only += u64::from(!ok && other);
            }
        }
        assert_eq!(
            (c["a_only"].as_u64(), c["b_only"].as_u64()),
            (Some(a_only), Some(b_only)),
            "{c}"
        );
        // McNemar's exact p: 2·P(X ≤ min) for X ~ Bin(a_only + b_only, ½), at most 1.
        let (n, k) = (a_only + b_only, a_only.min(b_only));
        let choose =
            |n: u64, k: u64| (0..k).fold(1f64, |acc, i| acc * (n - i) as f64 / (i + 1) as f64);
        let tail: f64 = (0..=k).map(|i| choose(n, i)).sum::<f64>() / 2f64.powi(n as i32);
        let p = if a_only == b_only {
            1.0
        } else {
            (2.0 * tail).min(1.0)
        };
        assert!(
            (c["p_value"].as_f64().unwrap() - p).abs() < 1e-9,
            "{c} vs {p}"
        );
        let verdict = match c["verdict"].as_str().unwrap() {
            "holds" => "holds",
            "does_not_hold" => "does not hold",
            _ => "cannot tell at this size",
        };
        let line = format!("claim {}: {verdict} (", c["claim"].as_str().unwrap());
        assert!(stdout(&o).contains(&line), "{line} in {}", stdout(&o));
    }
    let html = String::from_utf8(read(out.join("p.html"))).unwrap();
    assert!(
        html.contains("<h3>Claims</h3>") && html.contains("seeds 1, 2, 3, 4"),
        "the page"
    );
}

#[test]
fn replicates_run_in_parallel_processes_and_report_once() {
    let r = Run::new();
    r.write("p.advp", REPLICATED);
    let o = r.advp(&["run", "p.advp", "--quiet", "--seeds", "1,2", "--jobs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for job in [
        "benign.seed1",
        "benign.seed2",
        "at.seed2",
        "e.seed1",
        "e.seed2",
    ] {
        assert!(err.contains(&format!("{job}: finished")), "{err}");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&read(out_dir(&r, "p-").join("e.json"))).unwrap();
    assert_eq!(
        v["seeds"],
        serde_json::json!([1, 2]),
        "the table is over both seeds"
    );
    // The same entries as one process computes: a serial run finds them cached.
    let o = r.advp(&["run", "p.advp", "--quiet", "--seeds", "1,2"]);
    assert!(
        words(&stderr(&o)).contains("0 node(s) ran, 6 cached"),
        "{}",
        stderr(&o)
    );
}
