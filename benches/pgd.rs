//! advp's PGD against the same attack written as a plain PyTorch eager loop
//! (`benches/python/pgd.py`), on the CPU, with the same thread count.
//!
//! Run with `cargo bench --bench pgd`. For each workload the bench builds the
//! model, warms up with one attack, and writes the weights, clips, labels and
//! advp's adversarial clips to a safetensors file that the Python script loads
//! (strictly, by the PyTorch module names), so both sides attack the very same
//! network on the very same clips. Then, for `ADVP_BENCH_ROUNDS` rounds
//! (default 5), interleaved: advp times `k` attacks and takes their median,
//! then the Python script warms up once and times `k` attacks inside its own
//! process (its start-up stays out of the figure). Reported per workload: the
//! median over rounds of each side's per-round median, and python/advp (> 1
//! means advp is faster). The table also goes to `target/bench-pgd.json`.
//!
//! Environment: `ADVP_BENCH_THREADS` (default: available cores),
//! `ADVP_BENCH_ROUNDS` (5), `ADVP_BENCH_REPEATS` (`k`; 5 for c3d_small, 1 for
//! R3D-18), `ADVP_BENCH_ONLY` (name prefixes, comma-separated, e.g. `r3d`),
//! `ADVP_PYTHON` (default `<repo>/.venv/bin/python`), `ADVP_BENCH_DEVICE`
//! (`cpu`, the default, or `cuda`: both sides on GPU 0, each timing ended by
//! a device synchronisation; `scripts/gpu-check` runs it so).
//!
//! Under `cargo test` (no `--bench` argument) it runs once, small, as a smoke
//! test: c3d_small only, batch 2, 2 steps, one round, skipping Python if it is
//! missing; it checks both sides stay in the ε-ball and agree.

mod common;

use advp::runtime::attacks::{Norm, Pgd};
use advp::runtime::models::{save_tensors, Arch, ModelSpec, Net};
use common::{env_usize, median};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

const EPS: f64 = 8.0;
const ALPHA: f64 = 2.0;

struct Workload {
    name: &'static str,
    arch: Arch,
    classes: i64,
    /// N, C, T, H, W.
    shape: [i64; 5],
    steps: usize,
    repeats: usize,
    /// The target for python/advp.
    target: f64,
}

impl Workload {
    fn pgd(&self) -> Pgd {
        Pgd {
            norm: Norm::Inf,
            eps: EPS,
            alpha: ALPHA,
            steps: self.steps,
            random_start: false,
        }
    }

    /// The script's model arguments.
    fn model_args(&self) -> Vec<String> {
        match self.arch {
            Arch::C3dSmall { width } => vec![
                "--model".into(),
                "c3d_small".into(),
                "--width".into(),
                width.to_string(),
            ],
            Arch::R3d { depth } => vec![
                "--model".into(),
                "r3d".into(),
                "--depth".into(),
                depth.to_string(),
            ],
            _ => unreachable!("the bench only builds C3D-small and R3D"),
        }
    }
}

/// Checks an adversarial batch: x + δ in [0, 1] and ‖δ‖∞ ≤ ε/255; returns ‖δ‖∞.
fn check_ball(who: &str, adv: &Tensor, x: &Tensor) -> f64 {
    let linf = (adv - x).abs().max().double_value(&[]);
    let (lo, hi) = (adv.min().double_value(&[]), adv.max().double_value(&[]));
    assert!(
        linf <= EPS / 255.0 + 1e-6,
        "{who}: ‖δ‖∞ = {linf} exceeds ε = {}",
        EPS / 255.0
    );
    assert!(
        lo >= 0.0 && hi <= 1.0,
        "{who}: x + δ leaves [0, 1] ({lo}..{hi})"
    );
    linf
}

/// One Python run: warm-up, then `repeats` timed attacks; its JSON line.
fn python_run(python: &Path, data: &Path, w: &Workload, threads: usize, device: Device) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/pgd.py");
    let out = Command::new(python)
        .arg(&script)
        .arg("--data")
        .arg(data)
        .args(w.model_args())
        .args(["--classes", &w.classes.to_string()])
        .args(["--eps", &EPS.to_string(), "--alpha", &ALPHA.to_string()])
        .args(["--steps", &w.steps.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--repeats", &w.repeats.to_string()])
        .args(["--device", if device.is_cuda() { "cuda" } else { "cpu" }])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} {} failed ({}):\n{}{}",
        python.display(),
        script.display(),
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("pgd.py printed {line:?}: {e}"))
}

fn field(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("pgd.py's output lacks `{key}`: {v}"))
}

fn main() {
    // `cargo bench` passes --bench; `cargo test` runs this once, small, as a smoke test.
    let bench = std::env::args().any(|a| a == "--bench");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = env_usize("ADVP_BENCH_THREADS", cores);
    let device = match std::env::var("ADVP_BENCH_DEVICE").as_deref() {
        Ok("cuda") => {
            assert!(
                tch::Cuda::is_available(),
                "ADVP_BENCH_DEVICE=cuda, but libtorch sees no GPU"
            );
            Device::Cuda(0)
        }
        _ => Device::Cpu,
    };
    let rounds = common::rounds(bench, 5);
    let repeats = |default| {
        if bench {
            env_usize("ADVP_BENCH_REPEATS", default)
        } else {
            1
        }
    };
    tch::set_num_threads(threads as i32);

    let workloads = if bench {
        vec![
            Workload {
                name: "c3d_small",
                arch: Arch::C3dSmall { width: 16 },
                classes: 10,
                shape: [16, 3, 8, 32, 32],
                steps: 10,
                repeats: repeats(5),
                target: 1.3,
            },
            Workload {
                name: "r3d(18)",
                arch: Arch::R3d { depth: 18 },
                classes: 101,
                shape: [2, 3, 16, 112, 112],
                steps: 10,
                repeats: repeats(1),
                target: 1.0,
            },
        ]
    } else {
        vec![Workload {
            name: "c3d_small",
            arch: Arch::C3dSmall { width: 16 },
            classes: 10,
            shape: [2, 3, 8, 32, 32],
            steps: 2,
            repeats: 1,
            target: 1.3,
        }]
    };
    // `ADVP_BENCH_ONLY=r3d` (a comma-separated list of name prefixes) picks workloads.
    let only = std::env::var("ADVP_BENCH_ONLY").unwrap_or_default();
    let workloads: Vec<Workload> = workloads
        .into_iter()
        .filter(|w| only.is_empty() || only.split(',').any(|p| w.name.starts_with(p.trim())))
        .collect();
    assert!(
        !workloads.is_empty(),
        "ADVP_BENCH_ONLY={only:?} matches no workload"
    );

    let python = std::env::var_os("ADVP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let have_python = python.exists();
    if !have_python {
        assert!(
            !bench,
            "no Python at {}; run `source scripts/env.sh` once (it makes .venv) or set ADVP_PYTHON",
            python.display()
        );
        eprintln!(
            "pgd smoke: no Python at {}, checking the advp side only",
            python.display()
        );
    }
    let dir = tempfile::tempdir().expect("a temporary directory");

    let mut rows = Vec::new();
    for w in &workloads {
        tch::manual_seed(0);
        let net = Net::build(
            &ModelSpec {
                arch: w.arch.clone(),
                classes: w.classes,
                pretrained: None,
            },
            device,
        )
        .expect("the bench's models build");
        let x = Tensor::rand(w.shape, (Kind::Float, device));
        let y = Tensor::randint(w.classes, [w.shape[0]], (Kind::Int64, device));
        let pgd = w.pgd();
        let f = |v: &Tensor| net.forward(v, false);

        // Warm-up; its result is the reference the Python side is compared to.
        let reference = pgd.run(&f, &x, &y).unwrap();
        check_ball("advp", &reference, &x);
        let data = dir.path().join(format!("{}.safetensors", w.name));
        if have_python {
            let mut named = net.named();
            named.push(("__x".into(), x.shallow_clone()));
            named.push(("__y".into(), y.shallow_clone()));
            named.push(("__xadv".into(), reference.shallow_clone()));
            save_tensors(&named, &data).expect("the bench writes its data");
        }

        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let mut py_last = Value::Null;
        for round in 1..=rounds {
            let mut times = Vec::with_capacity(w.repeats);
            for _ in 0..w.repeats {
                let t0 = Instant::now();
                let adv = pgd.run(&f, &x, &y).unwrap();
                if let Device::Cuda(i) = device {
                    tch::Cuda::synchronize(i as i64);
                }
                times.push(t0.elapsed().as_secs_f64());
                check_ball("advp", &adv, &x);
            }
            ours.push(median(&times));
            let mut line = format!(
                "pgd {}: round {round}/{rounds}: advp {:.4} s",
                w.name,
                ours[ours.len() - 1]
            );
            if have_python {
                let py = python_run(&python, &data, w, threads, device);
                let linf = field(&py, "max_abs_delta");
                assert!(
                    linf <= EPS / 255.0 + 1e-6,
                    "python: ‖δ‖∞ = {linf} exceeds ε = {}",
                    EPS / 255.0
                );
                assert!(
                    field(&py, "min_adv") >= 0.0 && field(&py, "max_adv") <= 1.0,
                    "python: x + δ leaves [0, 1]: {py}"
                );
                assert_eq!(
                    field(&py, "threads") as usize,
                    threads,
                    "python ran on another thread count"
                );
                theirs.push(field(&py, "median_s"));
                line += &format!(", python {:.4} s", theirs[theirs.len() - 1]);
                py_last = py;
            }
            eprintln!("{line}");
        }

        let advp_s = median(&ours);
        let mut row = json!({
            "workload": w.name,
            "shape": w.shape,
            "steps": w.steps,
            "eps": EPS,
            "alpha": ALPHA,
            "repeats_per_round": w.repeats,
            "advp_median_s": advp_s,
            "advp_rounds_s": ours,
            "advp_linf": check_ball("advp", &reference, &x),
            "target_ratio": w.target,
        });
        if have_python {
            let py_s = median(&theirs);
            // Same weights, clips, kernels and threads: the two attacks should agree
            // (all but a handful of sign flips on near-zero gradients).
            let agree = field(&py_last, "ref_agree");
            assert!(
                agree >= 0.99,
                "advp and PyTorch disagree on {:.2}% of the adversarial pixels (max |diff| {}): not the same attack",
                100.0 * (1.0 - agree),
                field(&py_last, "ref_max_abs_diff")
            );
            row["python_median_s"] = json!(py_s);
            row["python_rounds_s"] = json!(theirs);
            row["python_linf"] = py_last["max_abs_delta"].clone();
            row["ratio_python_over_advp"] = json!(py_s / advp_s);
            row["agreement"] = json!(agree);
            row["ref_max_abs_diff"] = py_last["ref_max_abs_diff"].clone();
            row["torch"] = py_last["torch"].clone();
        }
        rows.push(row);
    }

    print_table(&rows, threads, rounds, bench, device);
    if bench {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let path = target.join("bench-pgd.json");
        let doc =
            json!({ "bench": "pgd", "threads": threads, "rounds": rounds, "workloads": rows });
        std::fs::create_dir_all(&target).expect("the target directory");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&doc).expect("JSON") + "\n",
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        println!("written to {}", path.display());
    }
}

fn print_table(rows: &[Value], threads: usize, rounds: usize, bench: bool, device: Device) {
    let mode = if bench { "" } else { " (smoke)" };
    let on = match device {
        Device::Cuda(_) => "GPU 0".to_string(),
        _ => "CPU".to_string(),
    };
    println!(
        "pgd bench{mode}: PGD L∞ ε {EPS} α {ALPHA}, {on}, {threads} threads, {rounds} rounds, median of per-round medians"
    );
    println!(
        "{:<10} {:<16} {:>5} {:>10} {:>11} {:>12} {:>8}  agree",
        "workload", "N×C×T×H×W", "steps", "advp (s)", "python (s)", "python/advp", "target"
    );
    for r in rows {
        let shape: Vec<String> = r["shape"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| d.to_string())
            .collect();
        let py = r["python_median_s"].as_f64();
        let ratio = r["ratio_python_over_advp"].as_f64();
        let target = r["target_ratio"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<10} {:<16} {:>5} {:>10.4} {:>11} {:>12} {:>8}  {}",
            r["workload"].as_str().unwrap_or("?"),
            shape.join("×"),
            r["steps"].as_u64().unwrap_or(0),
            r["advp_median_s"].as_f64().unwrap_or(f64::NAN),
            py.map_or("-".into(), |s| format!("{s:.4}")),
            ratio.map_or("-".into(), |q| format!("{q:.2}×")),
            match ratio {
                Some(q) if q >= target => format!("≥{target:.1} ok"),
                Some(_) => format!("≥{target:.1} no"),
                None => format!("≥{target:.1}"),
            },
            r["agreement"]
                .as_f64()
                .map_or("-".into(), |a| format!("{:.4}%", 100.0 * a)),
        );
    }
}
