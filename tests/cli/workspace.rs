//! Caches that survive upgrades, `advp why`, `advp cache ls | gc`.

use super::*;
use std::time::Duration;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The finished entries of the run's cache.
fn entries(r: &Run) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(r.dir.path().join(".advp/cache"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_cache_of_key_schema_1_is_kept_under_the_new_keys_and_computes_nothing() {
    // tests/fixtures/schema1: p.advp and the cache the advp before key
    // schema 2 wrote for it (its keys hashed advp's version and every
    // defaulted argument).
    let r = Run::new();
    copy_tree(
        Path::new(&repo("tests/fixtures/schema1/cache")),
        &r.dir.path().join(".advp/cache"),
    );
    std::fs::copy(
        repo("tests/fixtures/schema1/p.advp"),
        r.dir.path().join("p.advp"),
    )
    .unwrap();
    let old = entries(&r);
    assert_eq!(old.len(), 2);
    let o = r.advp(&["why", "p.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = words(&stdout(&o));
    assert_eq!(out.matches("cached under key schema 1").count(), 2, "{out}");
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = words(&stderr(&o));
    assert!(
        err.contains("0 node(s) ran, 2 cached"),
        "nothing recomputed: {err}"
    );
    for (node, key) in [("t", &old[0]), ("e", &old[1])] {
        assert!(
            err.contains(&format!(
                "`{node}`: its cache entry of key schema 1 ({}",
                &key[..12]
            )) || err.contains(&format!("its cache entry of key schema 1 ({}", &key[..12])),
            "{node} said: {err}"
        );
    }
    // The entries moved, their files intact (verified, with `key.json`).
    let new = entries(&r);
    assert_eq!(new.len(), 2);
    assert!(new.iter().all(|n| !old.contains(n)), "{old:?} → {new:?}");
    let o = r.advp(&["cache", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o).matches("ok ").count(), 2, "{}", stdout(&o));
    for n in &new {
        let record: serde_json::Value = serde_json::from_slice(&read(
            r.dir.path().join(".advp/cache").join(n).join("key.json"),
        ))
        .unwrap();
        assert_eq!(record["schema"], 2);
        assert!(old.iter().any(|o| record["migrated_from"]
            .as_str()
            .unwrap()
            .starts_with(o.as_str())));
        assert_eq!(record["key"].as_str().unwrap()[..32], n[..]);
    }
    let table = String::from_utf8(read(r.dir.path().join("results/p/e.md"))).unwrap();
    assert!(table.contains("33.3"), "the cached numbers: {table}");
    let o = r.advp(&["why", "p.advp"]);
    assert_eq!(words(&stdout(&o)), "train t cached eval e cached");
}

const CLIPS: &str = "data d = tensors(\"clips.safetensors\", val: 0.25)\n\
    model net = c3d_small(classes: d.classes, width: 4)\n\
    train t = standard(net, d, epochs: 1, batch: 4)\n\
    eval e = robustness([t], d.val) {\n  budget sweep [0]\n}\n";

fn write_clips(r: &Run, first: f64) {
    tch::manual_seed(0);
    let x = tch::Tensor::rand([12, 3, 4, 16, 16], (tch::Kind::Float, tch::Device::Cpu));
    let _ = x.get(0).get(0).get(0).get(0).get(0).fill_(first);
    let y = tch::Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    tch::Tensor::write_safetensors(
        &[("x", &x), ("y", &y)],
        r.dir.path().join("clips.safetensors"),
    )
    .unwrap();
}

#[test]
fn why_names_what_changed_and_a_touched_file_keeps_its_key() {
    let r = Run::new();
    write_clips(&r, 0.5);
    r.write("p.advp", CLIPS);
    let why = |extra: &[&str]| {
        let mut args = vec!["why", "p.advp"];
        args.extend_from_slice(extra);
        let o = r.advp(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        words(&stdout(&o))
    };
    assert_eq!(
        why(&[]),
        "train t runs: never run with this cache eval e runs: never run with this cache"
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(why(&[]), "train t cached eval e cached");

    // Touched: a new time, the same contents; the same key.
    let file = r.dir.path().join("clips.safetensors");
    let f = std::fs::File::options().write(true).open(&file).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(120))
        .unwrap();
    drop(f);
    assert_eq!(why(&[]), "train t cached eval e cached");
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(
        words(&stderr(&o)).contains("0 node(s) ran, 2 cached"),
        "{}",
        stderr(&o)
    );

    // Its contents changed: the file is named, with both hashes, and the
    // entry compared is `t`'s.
    let o = r.advp(&["status", "p.advp", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t_key = status["nodes"][0]["key"].as_str().unwrap().to_string();
    assert_eq!(status["nodes"][0]["node"], "t");
    let before = advp::runtime::cache::sha256_file(&file).unwrap();
    write_clips(&r, 0.25);
    let after = advp::runtime::cache::sha256_file(&file).unwrap();
    let text = why(&[]);
    assert!(
        text.contains(&format!("train t runs: since its entry {}", &t_key[..12]))
            && text.contains(&format!(
            "input `d` changed: file \"clips.safetensors\" (`path`) changed: sha256 {} → sha256 {}",
            &before[..12],
            &after[..12]
        )),
        "{text}"
    );
    assert!(
        text.contains("eval e runs: since its entry")
            && text.ends_with("input `t` changed (see `t`)"),
        "{text}"
    );
    // An argument, and `--force`.
    r.write("p.advp", &CLIPS.replace("batch: 4)", "batch: 4, lr: 0.2)"));
    let text = why(&["t"]);
    assert!(text.contains("argument `lr`: default → 0.2"), "{text}");
    assert!(!text.contains("eval e"), "only t and what it reads: {text}");
    assert_eq!(why(&["e", "--force"]).matches("runs: --force").count(), 1);
    // The same words in `status`, and as JSON.
    let o = r.advp(&["status", "p.advp"]);
    assert!(
        words(&stdout(&o)).contains("to run: since its entry"),
        "{}",
        stdout(&o)
    );
    // A new seed is the change named.
    let text = why(&["--set", "seed=7", "t"]);
    assert!(text.contains("seed 0 → 7"), "{text}");
    let o = r.advp(&["why", "p.advp", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["nodes"][0]["node"], "t");
    assert_eq!(v["nodes"][0]["reason"], "changed");
    assert_eq!(v["nodes"][0]["runs"], true);
    assert!(v["nodes"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().starts_with("argument `lr`")));
}

#[test]
fn cache_gc_lists_first_and_never_removes_a_referenced_locked_or_foreign_folder() {
    let r = Run::new();
    r.write(
        "p.advp",
        &tiny(1).replace("report e adversarial to \"adv/e.safetensors\"\n", ""),
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = entries(&r);
    r.write(
        "p.advp",
        &tiny(2).replace("report e adversarial to \"adv/e.safetensors\"\n", ""),
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all = entries(&r);
    // `benign` is the same; `at` and `e` are new.
    assert_eq!(all.len(), first.len() + 2, "{first:?} {all:?}");
    let o = r.advp(&["cache", "ls", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let nodes: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes.len(), 5);
    assert_eq!(nodes.iter().filter(|n| **n == "at").count(), 2, "{nodes:?}");
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["state"] == "finished" && e["pipeline"] == "p"));

    // A folder that is not advp's, and a lock on one old entry.
    std::fs::create_dir_all(r.dir.path().join(".advp/cache/mine")).unwrap();
    r.write(".advp/cache/notes.txt", "mine");
    let old: Vec<&String> = first
        .iter()
        .filter(|n| all.contains(n))
        .filter(|n| {
            let text =
                std::fs::read_to_string(r.dir.path().join(".advp/cache").join(n).join("key.json"))
                    .unwrap();
            !text.contains("\"node\": \"benign\"")
        })
        .collect();
    assert_eq!(old.len(), 2, "the first run's `at` and `e`");
    let lock = r
        .dir
        .path()
        .join(".advp/cache")
        .join(format!("{}.lock", old[0]));
    r.write(&lock.display().to_string(), "1 elsewhere 0 0\n");

    // A dry run lists, and removes nothing.
    let o = r.advp(&["cache", "gc", "p.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("remove ")).count(),
        1,
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains("(locked)")).count(),
        1,
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains("(referenced)")).count(),
        3,
        "{out}"
    );
    assert!(
        words(&stderr(&o)).contains("nothing was removed"),
        "{}",
        stderr(&o)
    );
    assert_eq!(entries(&r).len(), 6, "five entries and `mine`");
    // With --yes: the unlocked old entry goes, nothing else.
    let o = r.advp(&["cache", "gc", "p.advp", "--yes"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let left = entries(&r);
    assert!(!left.contains(old[1]) && left.contains(old[0]), "{left:?}");
    assert!(left.contains(&"mine".to_string()));
    assert!(r.dir.path().join(".advp/cache/notes.txt").exists());
    assert!(lock.exists(), "another's lock stays");
    // The pipeline still runs from the cache.
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(
        words(&stderr(&o)).contains("0 node(s) ran, 3 cached"),
        "{}",
        stderr(&o)
    );
    // Without what to keep: refused.
    let o = r.advp(&["cache", "gc"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        words(&stderr(&o)).contains("--keep-last N"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn diff_names_the_cells_that_changed_their_noise_and_the_argument_behind_them() {
    let r = Run::new();
    let pipeline = tiny(1).replace("report e adversarial to \"adv/e.safetensors\"\n", "");
    r.write("p.advp", &pipeline);
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "one"]);
    assert!(o.status.success(), "{}", stderr(&o));
    r.write(
        "p.advp",
        &pipeline.replace(
            "train benign = standard(net, d, epochs: 2, batch: 16)",
            "train benign = standard(net, d, epochs: 2, batch: 16, lr: 0.2)",
        ),
    );
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "two"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = r.advp(&["diff", "one", "two"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("one/e.json → two/e.json"), "{out}");
    // `benign`'s cells changed, `at`'s did not (the same key).
    let changed: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(" → ") && l.contains('%'))
        .collect();
    assert!(
        !changed.is_empty()
            && changed
                .iter()
                .all(|l| l.trim_start().starts_with("benign,")),
        "{out}"
    );
    assert!(changed.iter().all(|l| l.contains("noise")), "{out}");
    assert!(
        out.contains("model `benign`: argument `lr`: default → 0.2"),
        "{out}"
    );
    assert!(!out.contains("model `at`"), "{out}");
    // The two evaluations' cache entries say the same.
    let rows = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&read(r.dir.path().join(name).join("e.json"))).unwrap()
    };
    let entry = |name: &str| format!(".advp/cache/{}", &rows(name)["key"].as_str().unwrap()[..32]);
    let o = r.advp(&["diff", &entry("one"), &entry("two")]);
    let again = stdout(&o);
    assert!(
        again.contains("model `benign`: argument `lr`: default → 0.2"),
        "{again}"
    );
    assert_eq!(
        again.lines().filter(|l| l.contains('%')).count(),
        changed.len(),
        "{again}"
    );
    // Identical results: nothing changed.
    let o = r.advp(&["diff", "one/e.json", "one/e.json"]);
    assert!(stdout(&o).contains("0 of "), "{}", stdout(&o));
    assert!(stdout(&o).contains("the same key"), "{}", stdout(&o));
}
