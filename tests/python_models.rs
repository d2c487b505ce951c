//! advp's PGD on the models the field attacks, through `python(…)`, equals
//! torchattacks' PGD on the same module from the same start: torchvision's
//! R(2+1)D-18 and Swin3D-T and a Hugging Face VideoMAE
//! (tests/python/video_models.py, random initialisation at test size). Both
//! run in this one process on the one libtorch: torchattacks in the
//! interpreter advp embeds, on a module it builds from the same weights.
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

/// Calls `video_models.<what>(*args)` in the embedded interpreter.
fn call(what: &str, args: (&str, &str, Option<i64>)) {
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

fn pgd_equals_torchattacks(name: &str) {
    if !ready(name) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    call("prep", (name, &out, None));
    let data = Tensor::read_safetensors(dir.path().join("data.safetensors")).unwrap();
    let get = |k: &str| data.iter().find(|(n, _)| n == k).unwrap().1.narrow(0, 0, 2);
    let (x, y) = (get("x"), get("y"));
    Tensor::write_safetensors(
        &[("x", &x), ("y", &y)],
        dir.path().join("clips.safetensors"),
    )
    .unwrap();
    call("torchattacks_pgd", (name, &out, Some(10)));
    let theirs = Tensor::read_safetensors(dir.path().join("adv.safetensors")).unwrap();
    let theirs = &theirs[0].1;
    let net = Net::build(
        &ModelSpec {
            arch: Arch::Python(Box::new(spec(name))),
            classes: 5,
            pretrained: Some(dir.path().join("w0.safetensors")),
        },
        Device::Cpu,
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
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

#[test]
fn pgd_on_r2plus1d_equals_torchattacks() {
    pgd_equals_torchattacks("r2plus1d");
}

#[test]
fn pgd_on_swin3d_equals_torchattacks() {
    pgd_equals_torchattacks("swin");
}

#[test]
fn pgd_on_videomae_equals_torchattacks() {
    pgd_equals_torchattacks("videomae");
}
