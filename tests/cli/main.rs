//! The real binary, run in a temporary folder. This file holds the helpers
//! the tests share; the tests are in one module per feature.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
mod checks;
mod clips;
mod data;
mod evaluation;
mod files;
mod jobs;
mod language;
mod lsp;
mod model;
mod models;
mod numbers;
#[cfg(feature = "python")]
mod python;
#[cfg(feature = "python")]
mod ranks;
mod reports;
mod run;
mod seeds;
mod signals;
mod slurm;
mod stop;
mod training;
mod workspace;

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Self {
        // One thread for every advp a test starts, however it starts it: the
        // tests run two at a time on CI's two cores, and two runs of two
        // threads each were slower than one each. A test that needs other
        // threads sets `ADVP_THREADS` for its command.
        static ONE_THREAD: std::sync::Once = std::sync::Once::new();
        ONE_THREAD.call_once(|| std::env::set_var("ADVP_THREADS", "1"));
        Run {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }
    fn advp(&self, args: &[&str]) -> Output {
        self.advp_with(args, &[])
    }
    /// `advp ARGS` with these environment variables set.
    fn advp_with(&self, args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_advp"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            // Every CLI test also proves the binary finds libtorch through its rpath.
            .env_remove("LD_LIBRARY_PATH")
            .envs(envs.iter().copied())
            .output()
            .expect("the binary runs")
    }
}

/// See [`advp::util::skipped`].
fn skip(test: &str, reason: &str) {
    advp::util::skipped(test, reason);
}

/// Text as words: diagnostics wrap at 100 columns, so match on the words.
fn words(t: &str) -> String {
    t.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn repo(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .display()
        .to_string()
}

const GOOD: &str = r#"use "stdlib/attacks.advp"
data d = synthetic(classes: 4)
model net = c3d_small(classes: d.classes)
train at = adversarial(net, d, attack: pgd_inf(steps: 2), epochs: 3) {
  budget curriculum 0..12 step 2 every 1
  alpha optimal
}
eval e = robustness([at], d.test) {
  budget sweep [0, 8]
}
report e to "e.md"
profile quick {
  train.epochs = 1
}
"#;

/// A pipeline small enough for a test: 4 classes of 4×16×16 clips, a 4-wide C3D.
const TINY: &str = r#"seed 3
data d = synthetic(classes: 4, frames: 4, size: 16, train: 64, test: 32, val: 16)
model net = c3d_small(classes: d.classes, width: 4)
train benign = standard(net, d, epochs: 2, batch: 16)
train at = adversarial(net, d, attack: pgd(steps: 2), epochs: EPOCHS, batch: 16) {
  budget adaptive 0..8 step 4 every 1
  alpha eps
}
eval e = robustness([benign, at], d.test, batch: 16) {
  attack pgd(steps: 3)
  budget sweep [0, 4, 8]
  alpha 0.2 * (eps + 1)
}
report e to "e.md", "e.csv", "e.json"
report e adversarial to "adv/e.safetensors"
report at to "at.jsonl"
"#;

fn tiny(epochs: u32) -> String {
    TINY.replace("EPOCHS", &epochs.to_string())
}

/// The output folder of a run with `--set`s or `--seeds` and no `--out`:
/// `results/<prefix><8 hex digits>`, the one such folder.
fn out_dir(r: &Run, prefix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(r.dir.path().join("results"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.strip_prefix(prefix)
                .is_some_and(|h| h.len() == 8 && h.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one folder results/{prefix}<hash>: {found:?}"
    );
    found[0].clone()
}

fn read(p: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(p.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
}

/// The `rows` of an evaluation's JSON report.
fn rows(r: &Run) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_slice(&read(r.dir.path().join("results/p/e.json"))).unwrap();
    v["rows"].clone()
}

/// metrics.jsonl without the wall-clock seconds.
fn metrics(r: &Run) -> Vec<serde_json::Value> {
    String::from_utf8(read(r.dir.path().join("results/p/at.jsonl")))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

/// The trained weights of node `at` from the run's cache.
fn weights(r: &Run) -> Vec<u8> {
    let cache = r.dir.path().join(".advp/cache");
    let mut found = Vec::new();
    for e in std::fs::read_dir(&cache).unwrap().flatten() {
        let node = e.path().join("node.json");
        if let Ok(text) = std::fs::read_to_string(&node) {
            if text.contains("\"name\": \"at\"") {
                found.push(read(e.path().join("weights.safetensors")));
            }
        }
    }
    assert_eq!(found.len(), 1, "one finished entry for `at`");
    found.pop().unwrap()
}

/// Whether a checkpoint of `node` (any node when `None`) at one of `epochs`
/// is in the run's cache.
fn has_checkpoint(r: &Run, node: Option<&str>, epochs: &[u32]) -> bool {
    std::fs::read_dir(r.dir.path().join(".advp/cache"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            node.is_none_or(|n| {
                std::fs::read_to_string(e.path().join("node.json"))
                    .is_ok_and(|t| t.contains(&format!("\"name\": \"{n}\"")))
            }) && std::fs::read_to_string(e.path().join("state.json")).is_ok_and(|s| {
                epochs
                    .iter()
                    .any(|k| s.contains(&format!("\"epoch\": {k}")))
            })
        })
}

/// Starts `advp ARGS` in the run's folder, waits (up to `limit_s`) until
/// `node` has a checkpoint at one of `epochs` or the process ends, then sends
/// `signal` (`-KILL`, `-INT`) and returns what it printed.
fn interrupt_at_checkpoint(
    r: &Run,
    args: &[&str],
    node: Option<&str>,
    epochs: &[u32],
    signal: &str,
    limit_s: u64,
) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_advp"))
        .args(args)
        .current_dir(r.dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !has_checkpoint(r, node, epochs) && start.elapsed().as_secs() < limit_s {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A signal advp handles goes once its handler is in place: before that
    // a SIGINT is ignored where the test runs in the background (a shell
    // starts background jobs with SIGINT ignored), and the run would finish.
    let number = match signal {
        "-INT" => Some(2),
        "-TERM" => Some(15),
        "-USR1" => Some(10),
        _ => None,
    };
    if let (Some(n), None) = (number, child.try_wait().unwrap()) {
        catches(child.id(), n, std::time::Duration::from_secs(limit_s));
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap()
}

/// Waits until process `pid` catches signal `number` (its handler is
/// installed: that bit of `SigCgt` in `/proc/PID/status`), at most `limit`.
fn catches(pid: u32, number: u32, limit: std::time::Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .unwrap_or(0);
        if caught & (1 << (number - 1)) != 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("advp did not install its handler of signal {number} within {limit:?}");
}

/// Writes a mini UCF101 in Hara et al.'s layout: 3 classes, 3 videos each of 6
/// frames 24×20, where each class has its own colour so a model can learn it.
fn mini_ucf(root: &Path) {
    let classes = ["ApplyLipstick", "Basketball", "Typing"];
    let mut ind = String::new();
    let (mut train, mut test) = (String::new(), String::new());
    for (c, name) in classes.iter().enumerate() {
        ind.push_str(&format!("{} {name}\n", c + 1));
        for g in 1..=3 {
            let video = format!("v_{name}_g0{g}_c01");
            let dir = root.join(name).join(&video);
            std::fs::create_dir_all(&dir).unwrap();
            for f in 1..=6u8 {
                let mut rgb = [40u8, 40, 40];
                rgb[c] = 120 + 20 * f;
                let img = image::RgbImage::from_pixel(24, 20, image::Rgb(rgb));
                img.save(dir.join(format!("image_{f:05}.jpg"))).unwrap();
            }
            if g < 3 {
                train.push_str(&format!("{name}/{video}.avi {}\r\n", c + 1));
            } else {
                test.push_str(&format!("{name}/{video}.avi\r\n"));
            }
        }
    }
    std::fs::write(root.join("classInd.txt"), ind).unwrap();
    std::fs::write(root.join("trainlist01.txt"), train).unwrap();
    std::fs::write(root.join("testlist01.txt"), test).unwrap();
}

/// The project venv's python (with torch), if there is one.
/// The venv's python, or the test says it is skipped.
fn python_or_skip(test: &str) -> Option<PathBuf> {
    let py = python();
    if py.is_none() {
        skip(
            test,
            "no python with torch (.venv/bin/python or ADVP_PYTHON)",
        );
    }
    py
}

fn python() -> Option<PathBuf> {
    std::env::var_os("ADVP_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")))
        .filter(|p| p.exists())
}

/// Two trainings that do not depend on each other, and an evaluation of both.
const PARALLEL: &str = r#"data d = synthetic(classes: 4, frames: 4, size: 16, train: 48, test: 16, val: 8)
model net = c3d_small(classes: 4, width: 4)
train a = standard(net, d, epochs: 3, batch: 16)
train b = adversarial(net, d, attack: pgd(steps: 2), epochs: 3, batch: 16) {
  budget fixed 4
}
eval e = robustness([a, b], d.test) {
  attack pgd(steps: 2)
  budget sweep [0, 4]
}
report e to "e.json"
"#;

fn rows_in(dir: &Path) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&read(dir.join("out/e.json"))).unwrap();
    v["rows"].clone()
}

/// The finished cache entries of a run: (node, seed) of each.
fn entries(r: &Run) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(r.dir.path().join(".advp/cache"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().contains('.'))
        .filter_map(|e| {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(e.path().join("node.json")).ok()?)
                    .ok()?;
            Some((v["node"]["name"].as_str()?.to_string(), v["seed"].as_u64()?))
        })
        .collect();
    out.sort();
    out
}

/// Every `weights.safetensors` in the run's cache, by the node it belongs to.
fn all_weights(r: &Run) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(r.dir.path().join(".advp/cache"))
        .unwrap()
        .flatten()
    {
        let (Ok(node), Ok(w)) = (
            std::fs::read_to_string(e.path().join("node.json")),
            std::fs::read(e.path().join("weights.safetensors")),
        ) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&node).unwrap();
        out.push((v["node"]["name"].as_str().unwrap().to_string(), w));
    }
    out.sort();
    out
}
