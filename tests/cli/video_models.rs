//! The models the field attacks, through `python(…)` as their authors
//! wrote them: torchvision's R(2+1)D-18 and Swin3D-T and a Hugging Face
//! VideoMAE (tests/python/video_models.py, random initialisation at test
//! size). For each: advp's step of PGD-3 adversarial training moves the
//! weights as PyTorch's optimizer does on the same module (torchattacks'
//! PGD making the clips on PyTorch's side) and lowers the loss it descends,
//! the reported weights load back in Python with
//! `load_state_dict(strict=True)` and give advp's own predictions on every
//! test clip, and a run stopped mid-epoch resumes bit for bit.

use super::*;

const MODELS: &str = include_str!("../python/video_models.py");

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

fn py(python: &Path, dir: &Path, what: &str, name: &str) -> String {
    let o = Command::new(python)
        .args(["video_models.py", what, name, "."])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{what} {name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn one_model(python: &Path, name: &str) {
    let r = Run::new();
    r.write("video_models.py", MODELS);
    py(python, r.dir.path(), "prep", name);
    r.write("p.advp", &one_step(name));
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    let said = py(python, r.dir.path(), "check", name);
    eprintln!("{name}: {said}");
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
    let o = Command::new(env!("CARGO_BIN_EXE_advp"))
        .args(["run", "p.advp", "--quiet", "--out", "out"])
        .current_dir(stopped.dir.path())
        .env("ADVP_TEST_STOP_AFTER", "1")
        .output()
        .unwrap();
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

/// The venv's python with the libraries of the models, or the test is
/// listed as skipped.
fn with_models(test: &str) -> Option<PathBuf> {
    let p = python_or_skip(test)?;
    let ok = Command::new(&p)
        .args([
            "-c",
            "import torchvision, transformers, torchattacks, safetensors",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(
            test,
            "torchvision, transformers, torchattacks or safetensors missing from the venv (`scripts/test` installs them)",
        );
    }
    ok.then_some(p)
}

#[test]
fn r2plus1d_trains_round_trips_and_resumes() {
    if let Some(p) = with_models("video_models::r2plus1d") {
        one_model(&p, "r2plus1d");
    }
}

#[test]
fn swin3d_trains_round_trips_and_resumes() {
    if let Some(p) = with_models("video_models::swin3d") {
        one_model(&p, "swin");
    }
}

#[test]
fn videomae_trains_round_trips_and_resumes() {
    if let Some(p) = with_models("video_models::videomae") {
        one_model(&p, "videomae");
    }
}
