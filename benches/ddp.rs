//! Data parallelism on the CPU: one PGD-3 adversarial-training epoch of
//! `c3d_small` on the quick profile's data size (600 clips of 8×32×32, 10
//! classes, batch 16, ε 8, α 2, SGD 0.01 with momentum 0.9, no held-out
//! split), through the real binary: `advp run` as one rank of 2 threads,
//! `advp run --ranks 2` (two ranks of one thread each, Gloo), and PyTorch's
//! DistributedDataParallel doing the same on two processes of one thread
//! (`benches/python/ddp_epoch.py`), interleaved rounds. advp's epoch time is
//! the `seconds` its `metrics.jsonl` records (process start and imports
//! left out, as the Python script leaves them out).
//!
//! Reported: the medians, the scaling efficiency T(1 rank × 2 threads) /
//! T(2 ranks × 1 thread) (1.0: two ranks are as fast as one process on the
//! same cores), and PyTorch DDP / advp with two ranks (> 1: advp is faster;
//! target ≥ 1.0). advp syncs BatchNorm over the ranks; PyTorch's
//! SyncBatchNorm does not run on the CPU, so its ranks normalise alone.
//!
//! Environment: `ADVP_BENCH_ROUNDS` (3), `ADVP_PYTHON`. Under `cargo test`
//! it runs once, tiny (32 clips, PGD-1), as a smoke test of the commands.

mod common;

use advp::runtime::models::save_tensors;
use common::median;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, Kind, Tensor};

/// The epoch's seconds from the one training entry of `dir`'s cache.
fn epoch_seconds(dir: &Path) -> f64 {
    for e in std::fs::read_dir(dir.join(".advp/cache"))
        .expect("a cache")
        .flatten()
    {
        if let Ok(text) = std::fs::read_to_string(e.path().join("metrics.jsonl")) {
            let v: Value = serde_json::from_str(text.lines().next().unwrap_or("")).unwrap();
            return v["seconds"].as_f64().expect("the epoch's seconds");
        }
    }
    panic!("no training entry in {}", dir.display())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rounds = common::rounds(bench, 3);
    let (n, width, steps) = if bench { (600, 8, 3) } else { (32, 4, 1) };
    let classes = 10;
    tch::manual_seed(0);
    let x = Tensor::rand([n, 3, 8, 32, 32], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(classes, [n], (Kind::Int64, Device::Cpu));
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let data = tmp.path().join("clips.safetensors");
    save_tensors(&[("x".into(), x), ("y".into(), y)], &data).expect("the bench writes its clips");
    let pipeline = format!(
        "data d = tensors(path: \"{}\", val: 0)\n\
         model net = c3d_small(classes: {classes}, width: {width})\n\
         train t = adversarial(net, d, attack: pgd(steps: {steps}, eps: 8, step: 2), epochs: 1, batch: 16, lr: 0.01) {{\n  budget fixed 8\n}}\n",
        data.display()
    );
    let python = std::env::var_os("ADVP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let have_python = bench && python.exists();
    let advp = |round: usize, ranks: usize| -> f64 {
        let dir = tmp.path().join(format!("r{round}-{ranks}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("p.advp"), &pipeline).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_advp"));
        cmd.args(["run", "p.advp", "--quiet", "--out", "out"])
            .current_dir(&dir);
        if ranks > 1 {
            // The launcher gives each rank its share of the cores.
            cmd.args(["--ranks", &ranks.to_string()]);
        } else {
            cmd.env("ADVP_THREADS", "2");
        }
        let o = cmd.output().expect("advp runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        epoch_seconds(&dir)
    };
    let (mut one, mut two, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        one.push(advp(round, 1));
        two.push(advp(round, 2));
        let mut line = format!(
            "ddp: round {round}/{rounds}: advp 1 rank × 2 threads {:.2} s, 2 ranks × 1 thread {:.2} s",
            one[one.len() - 1],
            two[two.len() - 1]
        );
        if have_python {
            let port = std::net::TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port");
            let o = Command::new(&python)
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/ddp_epoch.py"))
                .args(["--data", &data.display().to_string()])
                .args([
                    "--width",
                    &width.to_string(),
                    "--classes",
                    &classes.to_string(),
                ])
                .args(["--steps", &steps.to_string(), "--port", &port.to_string()])
                .output()
                .expect("python runs");
            let v = common::json_line(&o, "ddp_epoch.py");
            theirs.push(v["seconds"].as_f64().unwrap());
            line += &format!(", PyTorch DDP 2 × 1 {:.2} s", theirs[theirs.len() - 1]);
        }
        eprintln!("{line}");
    }
    let (a1, a2) = (median(&one), median(&two));
    let p = (!theirs.is_empty()).then(|| median(&theirs));
    println!(
        "ddp{}: one PGD-{steps} AT epoch, c3d_small({width}), {n} clips 8×32×32, batch 16, {rounds} rounds: advp 1×2 {a1:.2} s, 2×1 {a2:.2} s, scaling efficiency {:.2}{}",
        if bench { "" } else { " (smoke)" },
        a1 / a2,
        p.map_or(String::new(), |p| format!(
            ", PyTorch DDP 2×1 {p:.2} s, DDP/advp {:.2}× (target ≥ 1.0)",
            p / a2
        ))
    );
}
