//! A whole evaluation against the same evaluation written with the peers:
//! a five-budget sweep (ε 0, 4, 8, 12, 15) of PGD-10 on 200 synthetic clips
//! of 8×32×32 with a trained C3D-small, as one TorchScript module for every
//! side, the same thread count, interleaved rounds.
//!
//! - advp `worst_case` (AutoAttack's protocol: early exit, a clip fooled at ε
//!   is not attacked at larger ε, clean mistakes not attacked) and advp
//!   `independent` (every ε from scratch, as the peers below);
//! - `benches/python/eval_sweep.py`: a plain PyTorch loop, torchattacks'
//!   `PGD` per ε (clips reshaped to N×(C·T)×H×W images, as its image code
//!   needs), ART's `ProjectedGradientDescent` (when installed in the venv).
//!
//! Then AutoAttack's standard version on 100 clips at ε 8: advp's `autoattack`
//! (APGD-CE, APGD-T ×9, FAB-T ×9, Square 5000, 100 iterations each) against
//! torchattacks' `AutoAttack(version="standard")` set to the reference's 100
//! iterations (torchattacks' default is 10), with the same reshape: time and
//! robust accuracy side by side.
//!
//! Run with `cargo bench --bench eval_sweep` (or `./scripts/bench eval_sweep`).
//! The model is trained once by the advp binary (cached in
//! `target/bench-eval/`). Ratios are peer time / advp time (> 1: advp is
//! faster); the table also goes to `target/bench-eval.json`.
//! Environment: `ADVP_BENCH_THREADS`, `ADVP_BENCH_ROUNDS` (3),
//! `ADVP_PYTHON`. Under `cargo test` it runs once, tiny, as a smoke test.

use advp::results::{Column, ColumnAttack, Protocol};
use advp::runtime::attacks::autoattack::Version;
use advp::runtime::attacks::{Attack, Norm, Pgd};
use advp::runtime::data::{Clips, Memory};
use advp::runtime::eval::{robustness, Access, Cell, Evaluation, Model};
use advp::runtime::models::{Arch, ModelSpec, Net};
use advp::runtime::progress::Progress;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tch::{Device, Tensor};

struct Setup {
    clips: usize,
    budgets: Vec<f64>,
    steps: usize,
    train: usize,
    epochs: usize,
    aa_clips: usize,
    aa: bool,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn python() -> Option<PathBuf> {
    std::env::var_os("ADVP_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")))
        .filter(|p| p.exists())
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/eval_sweep.py")
}

fn run_python(py: &Path, args: &[String]) -> Value {
    let out = Command::new(py)
        .arg("-W")
        .arg("ignore")
        .arg(script())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "eval_sweep.py {args:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("{}");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("eval_sweep.py printed {line:?}: {e}"))
}

/// Trains the model with the advp binary (cached) and dumps the test clips.
fn prepare(dir: &Path, s: &Setup) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    // Table 2's quick recipe: a benign model, then adversarial fine-tuning
    // (PGD-3 at ε 8), so that robust accuracy is neither 0 nor 100 %.
    let pipeline = format!(
        "seed 1\n\
         data d = synthetic(classes: 10, frames: 8, size: 32, train: {train}, test: {test}, val: 8)\n\
         model net = c3d_small(classes: 10, width: 8)\n\
         train benign = standard(net, d, epochs: {e}, batch: 16, optimizer: adam, lr: 0.003, milestones: [{m}])\n\
         train t = adversarial(benign, d, attack: pgd(steps: 3), epochs: {e}, batch: 16, optimizer: adam, lr: 0.003, milestones: [{m}]) {{\n  budget fixed 8\n  alpha eps\n}}\n\
         eval clips = robustness([t], d.test, protocol: independent) {{\n  budget sweep [0]\n}}\n\
         report clips adversarial to \"clips.safetensors\"\n",
        train = s.train,
        test = s.clips,
        e = s.epochs,
        m = s.epochs.saturating_sub(1).max(1)
    );
    std::fs::write(dir.join("p.advp"), pipeline).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_advp"))
        .args([
            "run", "p.advp", "--quiet", "--cache", "cache", "--out", "out",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The adversarially trained model's entry: its node.json names it (the
    // newest, should an older recipe's `t` still be cached).
    let weights = std::fs::read_dir(dir.join("cache"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            std::fs::read_to_string(p.join("node.json"))
                .is_ok_and(|t| t.contains("\"name\": \"t\""))
        })
        .max_by_key(|p| {
            std::fs::metadata(p.join("node.json"))
                .and_then(|m| m.modified())
                .ok()
        })
        .map(|p| p.join("weights.safetensors"))
        .expect("the trained weights");
    (weights, dir.join("out/clips.safetensors"))
}

fn advp_time(
    net: &Net,
    x: &Tensor,
    y: &Tensor,
    cells: &[Cell],
    protocol: Protocol,
) -> (f64, Vec<f64>) {
    let clips = Clips::Memory(Memory {
        x: x.shallow_clone(),
        y: y.shallow_clone(),
    });
    let f = |v: &Tensor, train: bool| net.forward(v, train);
    let progress = Progress::new(true);
    let t0 = Instant::now();
    let ev = Evaluation {
        node: "bench",
        clips: &clips,
        cells,
        bn_train: false,
        batch: 32,
        keep: false,
        protocol,
        device: Device::Cpu,
        progress: &progress,
    };
    let model = Model {
        label: "m",
        net: &f,
        attacked: &f,
        same_function: true,
        seed: 7,
    };
    let r = robustness(&ev, &model).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    (secs, r.rows.iter().map(|r| r.accuracy).collect())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let threads = env("ADVP_BENCH_THREADS", cores);
    let rounds = if bench {
        env("ADVP_BENCH_ROUNDS", 3)
    } else {
        1
    };
    tch::set_num_threads(threads as i32);
    let s = if bench {
        Setup {
            clips: 200,
            budgets: vec![0.0, 4.0, 8.0, 12.0, 15.0],
            steps: 10,
            train: 600,
            epochs: 8,
            aa_clips: 100,
            aa: true,
        }
    } else {
        Setup {
            clips: 16,
            budgets: vec![0.0, 8.0],
            steps: 2,
            train: 32,
            epochs: 1,
            aa_clips: 0,
            aa: false,
        }
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(if bench {
        "target/bench-eval"
    } else {
        "target/bench-eval-smoke"
    });
    let (weights, clips_file) = prepare(&dir, &s);
    let py = python();
    let model_pt = dir.join("model.pt");
    let Some(py) = py else {
        println!("eval_sweep: no python with torch; nothing to compare with");
        return;
    };
    run_python(
        &py,
        &[
            "export".into(),
            "--weights".into(),
            weights.display().to_string(),
            "--width".into(),
            "8".into(),
            "--classes".into(),
            "10".into(),
            "--out".into(),
            model_pt.display().to_string(),
        ],
    );
    let net = Net::build(
        &ModelSpec {
            arch: Arch::TorchScript {
                path: model_pt.clone(),
            },
            classes: 10,
            pretrained: None,
        },
        Device::Cpu,
    )
    .unwrap();
    let named: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(&clips_file)
        .unwrap()
        .into_iter()
        .collect();
    let x = named["clean"].narrow(0, 0, s.clips as i64);
    let y = named["labels"].narrow(0, 0, s.clips as i64);
    let pgd = |eps: f64| Pgd {
        norm: Norm::Inf,
        eps,
        alpha: 2.0,
        steps: s.steps,
        random_start: false,
    };
    let cells: Vec<Cell> = s
        .budgets
        .iter()
        .map(|&eps| Cell {
            column: Column::Budget(eps),
            name: ColumnAttack::from("pgd"),
            eps,
            attack: (eps > 0.0).then(|| Attack::Pgd(pgd(eps))),
            setting: String::new(),
            access: Access::WhiteBox,
        })
        .collect();
    let budgets: String = s
        .budgets
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let peer_args = |tool: &str, n: usize| -> Vec<String> {
        vec![
            "time".into(),
            "--tool".into(),
            tool.into(),
            "--model".into(),
            model_pt.display().to_string(),
            "--clips".into(),
            clips_file.display().to_string(),
            "--clips-n".into(),
            n.to_string(),
            "--budgets".into(),
            budgets.clone(),
            "--steps".into(),
            s.steps.to_string(),
            "--threads".into(),
            threads.to_string(),
        ]
    };
    let tools = ["plain", "torchattacks", "art"];
    let mut times: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let mut accuracy: std::collections::BTreeMap<String, Value> = Default::default();
    for _ in 0..rounds {
        for (name, protocol) in [
            ("advp worst_case", Protocol::WorstCase),
            ("advp independent", Protocol::Independent),
        ] {
            let (t, acc) = advp_time(&net, &x, &y, &cells, protocol);
            times.entry(name.into()).or_default().push(t);
            accuracy.insert(name.into(), json!(acc));
        }
        for tool in tools {
            let v = run_python(&py, &peer_args(tool, s.clips));
            if let Some(why) = v.get("skipped") {
                accuracy.insert(tool.into(), json!({ "skipped": why }));
                continue;
            }
            times
                .entry(tool.into())
                .or_default()
                .push(v["seconds"].as_f64().unwrap());
            accuracy.insert(tool.into(), v["accuracy"].clone());
        }
    }
    let wc = median(&times["advp worst_case"]);
    println!(
        "\nPGD-10 sweep ε {{{budgets}}} on {} clips of 8×32×32, C3D-small (TorchScript), {threads} thread(s), {rounds} round(s):",
        s.clips
    );
    println!(
        "{:<18} {:>10} {:>22}  accuracy per ε",
        "", "seconds", "time / advp worst_case"
    );
    let mut table = Vec::new();
    for (name, t) in &times {
        let m = median(t);
        println!("{name:<18} {m:>10.2} {:>22.2}  {}", m / wc, accuracy[name]);
        table.push(
            json!({ "tool": name, "seconds": m, "ratio": m / wc, "accuracy": accuracy[name] }),
        );
    }
    for (name, a) in &accuracy {
        if a.get("skipped").is_some() {
            println!("{name:<18} skipped: {}", a["skipped"]);
        }
    }
    // Worst case is never above the independent protocol.
    let (a, b) = (&accuracy["advp worst_case"], &accuracy["advp independent"]);
    for (w, i) in a.as_array().unwrap().iter().zip(b.as_array().unwrap()) {
        assert!(
            w.as_f64() <= i.as_f64(),
            "worst case {w} above independent {i}"
        );
    }
    let mut aa = Value::Null;
    if s.aa {
        let n = s.aa_clips as i64;
        let (xa, ya) = (x.narrow(0, 0, n), y.narrow(0, 0, n));
        // AutoAttack's standard version as published (attacks::autoattack).
        let ensemble = Version::Standard.attack(8.0);
        let cells = [Cell {
            column: Column::Budget(8.0),
            name: ColumnAttack::from("autoattack"),
            eps: 8.0,
            access: Access::of(Some(&ensemble)),
            attack: Some(ensemble),
            setting: String::new(),
        }];
        let (t_advp, acc_advp) = advp_time(&net, &xa, &ya, &cells, Protocol::WorstCase);
        let mut args = peer_args("autoattack", s.aa_clips);
        args.extend(["--eps".into(), "8".into(), "--repeats".into(), "1".into()]);
        let v = run_python(&py, &args);
        let t_ta = v["seconds"].as_f64().unwrap_or(f64::NAN);
        println!(
            "\nAutoAttack standard, ε 8, {} clips: advp {t_advp:.1} s (robust accuracy {:.3}), torchattacks {t_ta:.1} s (robust accuracy {}); ratio {:.2}",
            s.aa_clips,
            acc_advp[0],
            v["accuracy"].as_object().and_then(|m| m.values().next()).unwrap_or(&Value::Null),
            t_ta / t_advp
        );
        aa = json!({ "clips": s.aa_clips, "advp": { "seconds": t_advp, "accuracy": acc_advp[0] }, "torchattacks": v });
    }
    if bench {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-eval.json");
        std::fs::write(
            &out,
            serde_json::to_string_pretty(&json!({ "sweep": table, "autoattack": aa })).unwrap(),
        )
        .unwrap();
        println!("wrote {}", out.display());
    }
}
