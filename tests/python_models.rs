//! The models the field attacks, through `python(…)` as their authors
//! wrote them: torchvision's R(2+1)D-18 and Swin3D-T and a Hugging Face
//! VideoMAE (tests/python/video_models.py, random initialisation at test
//! size). For each:
//! - advp's PGD-10 equals torchattacks' PGD on the same module from the
//!   same start (every element within 1e-6), both in this one process on
//!   the one libtorch: torchattacks in the interpreter advp embeds;
//! - through the `advp` binary, advp's step of PGD-3 adversarial training
//!   moves the weights as PyTorch's optimizer does on the same module
//!   (torchattacks' PGD making the clips on PyTorch's side) and lowers the
//!   loss it descends;
//! - the reported weights load back in Python with
//!   `load_state_dict(strict=True)` and give advp's own predictions on
//!   every test clip.
//!
//! (Swin3D-T's step through the binary runs with `ADVP_TEST_ALL_MODELS=1`.)
//! A run stopped mid-epoch resumes bit for bit: VideoMAE here (the
//! checkpoint goes through the module's `state_dict` whatever the model;
//! each further model's three runs would cost the suite another half
//! minute, most of it importing torchvision). A binary of its own, so its
//! load does not slow the timing-bound Slurm tests of `tests/cli`, and the
//! Python side runs in this process, its imports paid once.
#![cfg(feature = "python")]

use advp::runtime::attacks::pgd::{Norm, Pgd};
use advp::runtime::models::python_spec::{Layout, PySource, PyValue, PythonSpec};
use advp::runtime::models::{Arch, ModelSpec, Net};
use pyo3::prelude::*;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// The interpreter ready with the test's packages, or the test is listed
/// as skipped (a failure under `CI=true`).
fn ready(test: &str) -> bool {
    if let Err(e) = advp::runtime::models::python::found() {
        advp::util::skipped(test, &format!("no Python torch for advp: {e}"));
        return false;
    }
    let ok = Python::attach(|py| {
        ["torchattacks", "torchvision", "transformers", "safetensors"]
            .iter()
            .all(|m| py.import(*m).is_ok())
    });
    if !ok {
        advp::util::skipped(
            test,
            "torchattacks, torchvision, transformers or safetensors missing from the venv (`scripts/test` installs them)",
        );
    }
    ok
}

/// Held while a test builds a module or runs Python in this process:
/// building draws from libtorch's one generator, which `prep` seeds, so
/// two tests building at once would each start from other weights.
static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn building() -> std::sync::MutexGuard<'static, ()> {
    BUILDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Calls `video_models.<what>(*args)` in the embedded interpreter.
fn call(what: &str, args: (&str, &str, Option<i64>)) {
    let _one = building();
    Python::attach(|py| -> PyResult<()> {
        let sys_path = py.import("sys")?.getattr("path")?;
        let dir = models_dir().display().to_string();
        if !sys_path.contains(&dir)? {
            sys_path.call_method1("insert", (0, dir))?;
        }
        let m = py.import("video_models")?;
        match args.2 {
            Some(n) => m.call_method1(what, (args.0, args.1, n))?,
            None => m.call_method1(what, (args.0, args.1))?,
        };
        Ok(())
    })
    .unwrap_or_else(|e| panic!("video_models.{what}: {e}"));
}

/// The `python(…)` spec of each, as the `.advp` files of tests/cli write it.
fn spec(name: &str) -> PythonSpec {
    let mut s = PythonSpec::new(PySource::File(models_dir().join("video_models.py")), name);
    match name {
        "r2plus1d" => {
            s.mean = Some(vec![0.43216, 0.394666, 0.37645]);
            s.std = Some(vec![0.22803, 0.22145, 0.216989]);
        }
        "swin" => s.kwargs = vec![("stochastic_depth".into(), PyValue::Float(0.0))],
        "videomae" => {
            s.kwargs = vec![
                ("frames".into(), PyValue::Int(4)),
                ("size".into(), PyValue::Int(16)),
            ];
            s.layout = Layout::Ntchw;
            s.mean = Some(vec![0.5]);
            s.std = Some(vec![0.5]);
        }
        _ => unreachable!(),
    }
    s
}

/// advp's PGD-10 on the module from `dir`'s `w0.safetensors` against
/// torchattacks' on two of its clips.
fn pgd_equals_torchattacks(name: &str, dir: &Path) {
    let out = dir.display().to_string();
    let data = Tensor::read_safetensors(dir.join("data.safetensors")).unwrap();
    let get = |k: &str| data.iter().find(|(n, _)| n == k).unwrap().1.narrow(0, 0, 2);
    let (x, y) = (get("x"), get("y"));
    Tensor::write_safetensors(&[("x", &x), ("y", &y)], dir.join("clips.safetensors")).unwrap();
    call("torchattacks_pgd", (name, &out, Some(10)));
    let theirs = Tensor::read_safetensors(dir.join("adv.safetensors")).unwrap();
    let theirs = &theirs[0].1;
    let net = {
        let _one = building();
        Net::build(
            &ModelSpec {
                arch: Arch::Python(Box::new(spec(name))),
                classes: 5,
                pretrained: Some(dir.join("w0.safetensors")),
            },
            Device::Cpu,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let pgd = Pgd {
        norm: Norm::Inf,
        eps: 8.0,
        alpha: 2.0,
        steps: 10,
        random_start: false,
    };
    let ours = pgd
        .run(&|v: &Tensor| net.forward(v, false), &x, &y)
        .unwrap();
    let diff = (&ours - theirs).abs().max().double_value(&[]);
    assert!(
        diff <= 1e-6,
        "{name}: advp's PGD-10 and torchattacks' differ by {diff}"
    );
    let moved = (&ours - &x).abs().max().double_value(&[]);
    assert!(moved > 7.0 / 255.0, "{name}: PGD hardly moved ({moved})");
}

/// A temp folder to run `advp` in.
struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Run {
        Run {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }
    fn advp_with(&self, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_advp"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("LD_LIBRARY_PATH")
            .envs(envs.iter().copied())
            .output()
            .unwrap()
    }
    fn advp(&self, args: &[&str]) -> std::process::Output {
        self.advp_with(args, &[])
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Text as words: diagnostics wrap, so match on the words.
fn words(t: &str) -> String {
    t.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn read(p: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

const MODELS: &str = include_str!("python/video_models.py");

/// The `model` line of each, as a user writes it.
fn model_line(name: &str) -> &'static str {
    match name {
        "r2plus1d" => "model net = python(\"video_models.py\", factory: \"r2plus1d\", classes: 5, pretrained: \"w0.safetensors\", mean: [0.43216, 0.394666, 0.37645], std: [0.22803, 0.22145, 0.216989])",
        "swin" => "model net = python(\"video_models.py\", factory: \"swin\", classes: 5, stochastic_depth: 0.0, pretrained: \"w0.safetensors\")",
        "videomae" => "model net = python(\"video_models.py\", factory: \"videomae\", classes: 5, frames: 4, size: 16, pretrained: \"w0.safetensors\", layout: ntchw, mean: [0.5], std: [0.5])",
        _ => unreachable!(),
    }
}

/// Each family's usual optimizer: SGD for the CNN (advp's default, lr
/// 0.01), Adam for the transformers (lr 1e-4 for Swin3D-T's 28M
/// parameters, 1e-3 for the tiny VideoMAE), as video_models.py's
/// `OPTIMIZERS` replays them.
fn optimizer(name: &str) -> &'static str {
    match name {
        "swin" => ", optimizer: adam, lr: 0.0001",
        "videomae" => ", optimizer: adam, lr: 0.001",
        _ => "",
    }
}

/// One step of PGD-3 adversarial training on all 16 clips (so that
/// PyTorch can replay it), an evaluation for the clean predictions, and
/// the weights.
fn one_step(name: &str) -> String {
    format!(
        "seed 1\ndata d = tensors(\"data.safetensors\", val: 0)\n{}\ntrain t = adversarial(net, d, attack: pgd(steps: 3), epochs: 1, batch: 16{}) {{\n  budget fixed 8\n}}\neval e = robustness([t], d.test, batch: 4, protocol: independent) {{\n  attack pgd(steps: 1)\n  budget sweep [0]\n}}\nreport e to \"e.json\"\nreport t weights to \"w.safetensors\"\n",
        model_line(name),
        optimizer(name)
    )
}

/// Two steps in one epoch (batches of 8), to be stopped in the middle.
fn two_steps(name: &str) -> String {
    format!(
        "seed 1\ndata d = tensors(\"data.safetensors\", val: 0)\n{}\ntrain t = adversarial(net, d, attack: pgd(steps: 3), epochs: 1, batch: 8{}) {{\n  budget fixed 8\n}}\nreport t weights to \"w.safetensors\"\n",
        model_line(name),
        optimizer(name)
    )
}

/// Everything of one model: its start and clips written (in this
/// process), advp's PGD against torchattacks', (`binary`) one step of
/// training through the binary checked against PyTorch's, and (`resume`)
/// a stopped run resumed.
fn one_model(name: &str, binary: bool, resume: bool) {
    if !ready(name) {
        return;
    }
    let r = Run::new();
    r.write("video_models.py", MODELS);
    let out = r.dir.path().display().to_string();
    call("prep", (name, &out, None));
    pgd_equals_torchattacks(name, r.dir.path());
    if !binary {
        return;
    }
    r.write("p.advp", &one_step(name));
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    call("check", (name, &out, None));
    if !resume {
        return;
    }
    // The whole epoch, then the same stopped by SIGTERM in its first batch
    // (the module sends it) and resumed: the same weights, bit for bit.
    let whole = Run::new();
    let stopped = Run::new();
    for s in [&whole, &stopped] {
        for f in ["video_models.py", "w0.safetensors", "data.safetensors"] {
            std::fs::copy(r.dir.path().join(f), s.dir.path().join(f)).unwrap();
        }
        s.write("p.advp", &two_steps(name));
    }
    let o = whole.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    let want = read(whole.dir.path().join("out/w.safetensors"));
    let o = stopped.advp_with(
        &["run", "p.advp", "--quiet", "--out", "out"],
        &[("ADVP_TEST_STOP_AFTER", "1")],
    );
    let err = words(&stderr(&o));
    assert_eq!(o.status.code(), Some(143), "{name}: {err}");
    assert!(err.contains("checkpoint saved"), "{name}: {err}");
    let o = stopped.advp(&["run", "p.advp", "--out", "out"]);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    assert!(
        words(&stderr(&o)).contains("resuming from the checkpoint"),
        "{name}: {}",
        stderr(&o)
    );
    assert!(
        read(stopped.dir.path().join("out/w.safetensors")) == want,
        "{name}: the resumed training ended elsewhere"
    );
}

#[test]
fn r2plus1d_attacks_and_trains_as_pytorch_does() {
    one_model("r2plus1d", true, false);
}

/// Swin3D-T's training step is checked as the other two's in a run of the
/// binary when `ADVP_TEST_ALL_MODELS=1` (a LayerNorm transformer, as
/// VideoMAE is; its imports cost the suite twenty seconds).
#[test]
fn swin3d_attacks_as_pytorch_does() {
    let all = std::env::var("ADVP_TEST_ALL_MODELS").as_deref() == Ok("1");
    one_model("swin", all, false);
}

#[test]
fn videomae_attacks_trains_as_pytorch_does_and_resumes() {
    one_model("videomae", true, true);
}
