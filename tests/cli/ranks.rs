//! `--ranks N`: a training or evaluation node computed by N processes on
//! torch.distributed (Gloo on the CPU) gives one process's result.

use super::*;
use std::path::Path;

/// PGD-3 adversarial training for two epochs of a built-in net and of a
/// user's PyTorch module (both with BatchNorm), an evaluation and a report.
/// The batch (8) splits evenly over two ranks.
const RANKED: &str = r#"data d = synthetic(classes: 4, frames: 4, size: 16, train: 32, test: 12, val: 16)
model net = c3d_small(classes: 4, width: 4)
model pnet = python("net.py", classes: 4)
train b = adversarial(net, d, attack: pgd(steps: 3), epochs: 2, batch: 8) {
  budget fixed 4
}
train c = adversarial(pnet, d, attack: pgd(steps: 3), epochs: 2, batch: 8) {
  budget fixed 4
}
eval e = robustness([b], d.test, batch: 4) {
  attack pgd(steps: 2)
  budget sweep [0, 4]
}
report e to "e.json"
"#;

/// The finished cache entry of node `node`.
fn entry_of(dir: &Path, node: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join(".advp/cache"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            std::fs::read(p.join("node.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|v| v["node"]["name"] == node)
                && p.join("manifest.json").exists()
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

fn weights(dir: &Path, node: &str) -> Vec<(String, tch::Tensor)> {
    let mut w =
        tch::Tensor::read_safetensors(entry_of(dir, node).join("weights.safetensors")).unwrap();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

/// The largest difference of two sets of weights, relative to each
/// tensor's largest magnitude.
fn worst_relative(a: &[(String, tch::Tensor)], b: &[(String, tch::Tensor)]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|((ka, ta), (kb, tb))| {
            assert_eq!(ka, kb);
            let d = (ta - tb).abs().max().double_value(&[]);
            d / ta.abs().max().double_value(&[]).max(1e-12)
        })
        .fold(0.0, f64::max)
}

fn threads(n: &str) -> [(&'static str, &std::ffi::OsStr); 1] {
    [("ADVP_THREADS", std::ffi::OsStr::new(n))]
}

#[test]
fn two_ranks_train_as_one_process_and_shard_an_evaluation_record_for_record() {
    // One process of one thread; two ranks get one thread each.
    let one = Run::new();
    one.write("p.advp", RANKED);
    one.write("net.py", super::python::NET);
    let o = one.advp_with(&["run", "p.advp", "--quiet", "--out", "out"], &threads("1"));
    assert!(o.status.success(), "{}", stderr(&o));

    let two = Run::new();
    two.write("p.advp", RANKED);
    two.write("net.py", super::python::NET);
    let o = two.advp(&["run", "p.advp", "--ranks", "2", "--out", "out"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("b: started on 2 ranks"), "{err}");
    assert!(err.contains("e: started on 2 ranks"), "{err}");
    // One cache entry per node, with the same key as one process's, and
    // the world in its machine record.
    let machine: serde_json::Value =
        serde_json::from_slice(&read(entry_of(two.dir.path(), "b").join("machine.json"))).unwrap();
    assert_eq!(machine["ranks"], 2, "{machine}");
    // The same weights to float rounding: the gradients are summed in
    // another order, and BatchNorm's statistics (advp's and the user's
    // torch.nn.BatchNorm3d) are sums over the ranks.
    // (A python(…) model's key names its file's folder, another here.)
    assert_eq!(
        entry_of(one.dir.path(), "b").file_name(),
        entry_of(two.dir.path(), "b").file_name()
    );
    for node in ["b", "c"] {
        let worst = worst_relative(
            &weights(one.dir.path(), node),
            &weights(two.dir.path(), node),
        );
        assert!(
            worst < 1e-4,
            "`{node}`: two ranks' weights differ from one process's by {worst:e}"
        );
    }

    // The held-out metrics, computed by the ranks in turn: one process's
    // (the accuracies exactly, the mean loss to float rounding).
    let metrics = |d: &Path| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&read(entry_of(d, "b").join("metrics.jsonl")))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    for (a, b) in metrics(one.dir.path()).iter().zip(metrics(two.dir.path())) {
        assert_eq!(a["val_acc"], b["val_acc"], "{a} {b}");
        assert_eq!(a["val_adv_acc"], b["val_adv_acc"], "{a} {b}");
        let (la, lb) = (
            a["val_loss"].as_f64().unwrap(),
            b["val_loss"].as_f64().unwrap(),
        );
        assert!((la - lb).abs() <= 1e-4 * la.abs().max(1.0), "{a} {b}");
    }

    // The same seed and world size: the same weights, bit for bit.
    let again = Run::new();
    again.write("p.advp", RANKED);
    again.write("net.py", super::python::NET);
    let o = again.advp(&["run", "p.advp", "--ranks", "2", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for node in ["b", "c"] {
        assert_eq!(
            worst_relative(
                &weights(two.dir.path(), node),
                &weights(again.dir.path(), node)
            ),
            0.0
        );
    }

    // torchrun's ranks (its variables, its store) train the same weights.
    let torchrun = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/torchrun");
    if torchrun.exists() {
        let by_torchrun = Run::new();
        by_torchrun.write("p.advp", RANKED);
        by_torchrun.write("net.py", super::python::NET);
        let o = Command::new(&torchrun)
            .args(["--nproc-per-node", "2", "--no-python"])
            .arg(env!("CARGO_BIN_EXE_advp"))
            .args(["run", "p.advp", "--only", "b", "--quiet", "--out", "out"])
            .current_dir(by_torchrun.dir.path())
            .env("ADVP_THREADS", "1")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let err = stderr(&o);
        assert!(o.status.success(), "{err}");
        assert!(err.contains("b: rank 1 of 2 (torchrun"), "{err}");
        assert_eq!(
            worst_relative(
                &weights(two.dir.path(), "b"),
                &weights(by_torchrun.dir.path(), "b")
            ),
            0.0
        );
    } else {
        skip(
            "ranks::two_ranks_train_as_one_process_and_shard_an_evaluation_record_for_record (torchrun)",
            "no torchrun in the venv",
        );
    }

    // The evaluation of one model, sharded over two ranks and in one
    // process: the same records, byte for byte.
    let records = |d: &Path| read(entry_of(d, "e").join("records.jsonl"));
    let sharded = records(two.dir.path());
    let o = two.advp_with(
        &[
            "run", "p.advp", "--only", "e", "--force", "--quiet", "--out", "out",
        ],
        &threads("1"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&sharded),
        String::from_utf8_lossy(&records(two.dir.path()))
    );
}

/// The pid of the advp process of `dir` whose environment says `RANK=r`.
fn rank_pid(dir: &Path, r: usize) -> Option<u32> {
    let want = format!("RANK={r}");
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let cwd = std::fs::read_link(e.path().join("cwd")).ok();
        if cwd.as_deref() == Some(dir) && env.split(|&b| b == 0).any(|v| v == want.as_bytes()) {
            return Some(pid);
        }
    }
    None
}

#[test]
fn a_rank_killed_mid_epoch_fails_the_run_by_name_and_the_next_run_resumes() {
    let r = Run::new();
    r.write(
        "p.advp",
        "data d = synthetic(classes: 4, frames: 4, size: 16, train: 96, test: 4, val: 0)\n\
         model net = c3d_small(classes: 4, width: 4)\n\
         train b = adversarial(net, d, attack: pgd(steps: 3), epochs: 3, batch: 4) {\n  budget fixed 4\n}\n",
    );
    let dir = std::fs::canonicalize(r.dir.path()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_advp"))
        .args(["run", "p.advp", "--ranks", "2", "--out", "out"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Once the first epoch's checkpoint is written, rank 1 dies.
    let started = std::time::Instant::now();
    let state = loop {
        let found = std::fs::read_dir(dir.join(".advp/cache"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("state.json"))
            .find(|p| p.exists());
        if let Some(s) = found {
            break s;
        }
        assert!(
            started.elapsed().as_secs() < 300,
            "no checkpoint was written"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let pid = rank_pid(&dir, 1).expect("rank 1 runs");
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("b: rank 1 of 2 failed"), "{err}");
    assert!(err.contains("signal: 9"), "{err}");
    assert!(state.exists(), "rank 0's checkpoint stays");

    // Run again: the ranks resume from rank 0's checkpoint and finish.
    let o = r.advp(&["run", "p.advp", "--ranks", "2", "--out", "out"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let log = String::from_utf8_lossy(&read(dir.join(".advp/logs/p/b.rank1.log"))).into_owned();
    assert!(
        log.contains("resuming from the checkpoint at epoch"),
        "{log}"
    );
}

#[test]
fn a_world_over_several_nodes_to_compute_is_refused_with_the_launcher_named() {
    let r = Run::new();
    r.write("p.advp", RANKED);
    r.write("net.py", super::python::NET);
    let o = r.advp_with(
        &["run", "p.advp", "--out", "out"],
        &[
            ("WORLD_SIZE", "2".as_ref()),
            ("RANK", "1".as_ref()),
            ("MASTER_ADDR", "127.0.0.1".as_ref()),
            ("MASTER_PORT", "1".as_ref()),
        ],
    );
    let err = words(&stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("advp::run::cannot_run"), "{err}");
    assert!(err.contains("rank 1 of 2 (torchrun)"), "{err}");
    assert!(err.contains("`b`, `c`, `e` are still to compute"), "{err}");
    assert!(err.contains("--ranks 2"), "{err}");
    let o = r.advp_with(
        &["run", "p.advp", "--out", "out"],
        &[("WORLD_SIZE", "two".as_ref())],
    );
    let err = words(&stderr(&o));
    assert!(
        err.contains("WORLD_SIZE=\"two\" is not a number of ranks"),
        "{err}"
    );
}
