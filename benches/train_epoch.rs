//! One adversarial-training epoch of `c3d_small` on the quick profile's data
//! size (600 clips of 8×32×32, 10 classes, batch 16, PGD-3 L∞ ε 8 α 2, SGD
//! 0.01 with momentum 0.9): advp's training loop (`train::train`, with its
//! checkpoint and metrics at the end of the epoch) against the same loop as
//! plain PyTorch (`benches/python/train_epoch.py`), from the same weights on
//! the same clips, the same threads, interleaved rounds. Reported: the median
//! epoch of each, and python/advp (> 1: advp is faster; target ≥ 1.0).
//!
//! Environment: `ADVP_BENCH_THREADS` (default: the cores), `ADVP_BENCH_ROUNDS`
//! (3), `ADVP_PYTHON`. Under `cargo test` it runs once, tiny (32 clips, PGD-1),
//! as a smoke test, and skips Python when it is missing.

mod common;

use advp::language::schedule::Schedule;
use advp::runtime::attacks::{Attack, Norm, Pgd};
use advp::runtime::data::{Clips, Dataset, Memory};
use advp::runtime::models::{save_tensors, Arch, ModelSpec, Net};
use advp::runtime::progress::Progress;
use advp::runtime::train::optim::Rule;
use advp::runtime::train::{self, AttackPlan, Classifier, TrainSchedule, TrainSpec};
use common::median;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = common::env_usize("ADVP_BENCH_THREADS", cores);
    let rounds = common::rounds(bench, 3);
    tch::set_num_threads(threads as i32);
    let (n, width, steps) = if bench { (600, 8, 3) } else { (32, 4, 1) };
    let classes = 10;
    tch::manual_seed(0);
    let x = Tensor::rand([n, 3, 8, 32, 32], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(classes, [n], (Kind::Int64, Device::Cpu));
    let build = || {
        tch::manual_seed(1);
        Net::build(
            &ModelSpec {
                arch: Arch::C3dSmall { width },
                classes,
                pretrained: None,
            },
            Device::Cpu,
        )
        .expect("the bench's model builds")
    };
    let pgd = Pgd {
        norm: Norm::Inf,
        eps: 8.0,
        alpha: 2.0,
        steps,
        random_start: false,
    };
    let spec = TrainSpec {
        node: "bench".into(),
        seed: 1,
        epochs: 1,
        batch: 16,
        rule: Rule::Sgd {
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: false,
        },
        lr: 0.01,
        milestones: vec![],
        lr_decay: 0.1,
        schedule: TrainSchedule::Attacked {
            plan: AttackPlan {
                base: Attack::Pgd(pgd.clone()),
                alpha: None,
                bn_train: false,
                fits: Default::default(),
            },
            epochs: Schedule::Fixed(Attack::Pgd(pgd)),
        },
        guard: false,
    };
    let data = Dataset {
        classes,
        shape: [3, 8, 32, 32],
        train: Clips::Memory(Memory {
            x: x.shallow_clone(),
            y: y.shallow_clone(),
        }),
        val: Clips::Memory(Memory {
            x: x.narrow(0, 0, 0),
            y: y.narrow(0, 0, 0),
        }),
        test: Clips::Memory(Memory {
            x: x.narrow(0, 0, 0),
            y: y.narrow(0, 0, 0),
        }),
        no_test: None,
        unreadable: Vec::new(),
    };
    let python = std::env::var_os("ADVP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let have_python = python.exists();
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let file = tmp.path().join("epoch.safetensors");
    if have_python {
        let mut named = build().named();
        named.push(("__x".into(), x.shallow_clone()));
        named.push(("__y".into(), y.shallow_clone()));
        save_tensors(&named, &file).expect("the bench writes its data");
    }
    let progress = Progress::new(true);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let mut net = build();
        let dir = tmp.path().join(format!("advp-{round}"));
        std::fs::create_dir_all(&dir).unwrap();
        let t0 = Instant::now();
        let mut learner = Classifier::new(&mut net, Vec::new(), spec.rule.clone(), spec.lr);
        let metrics = train::train(&spec, &mut learner, &data, &dir, &progress, Device::Cpu)
            .unwrap_or_else(|e| panic!("advp's epoch failed: {e:?}"));
        ours.push(t0.elapsed().as_secs_f64());
        let mut line = format!(
            "train_epoch: round {round}/{rounds}: advp {:.2} s (loss {:.3})",
            ours[ours.len() - 1],
            metrics[0].train_loss
        );
        if have_python {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/train_epoch.py");
            let o = Command::new(&python)
                .arg(&script)
                .args(["--data", &file.display().to_string()])
                .args([
                    "--width",
                    &width.to_string(),
                    "--classes",
                    &classes.to_string(),
                ])
                .args([
                    "--steps",
                    &steps.to_string(),
                    "--threads",
                    &threads.to_string(),
                ])
                .output()
                .expect("python runs");
            let v = common::json_line(&o, "train_epoch.py");
            assert_eq!(
                v["threads"].as_u64(),
                Some(threads as u64),
                "python ran on another thread count"
            );
            theirs.push(v["median_s"].as_f64().unwrap());
            line += &format!(
                ", python {:.2} s (loss {:.3})",
                theirs[theirs.len() - 1],
                v["loss"].as_f64().unwrap_or(f64::NAN)
            );
        }
        eprintln!("{line}");
    }
    let (a, p) = (median(&ours), (!theirs.is_empty()).then(|| median(&theirs)));
    println!(
        "train_epoch{}: one PGD-{steps} AT epoch, c3d_small({width}), {n} clips 8×32×32, batch 16, {threads} threads, {rounds} rounds: advp {a:.2} s{}",
        if bench { "" } else { " (smoke)" },
        p.map_or(" (no python)".to_string(), |p| format!(", python {p:.2} s, python/advp {:.2}× (target ≥ 1.0)", p / a))
    );
}
