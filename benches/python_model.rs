//! The Python bridge's cost: PGD-10 on torchvision's R(2+1)D-18 through
//! `python(…)`, through `torchscript(…)` of the same module scripted, and as
//! a plain PyTorch eager loop (`pgd_inf` of `benches/python/pgd.py`), all
//! three in this one process on the one libtorch (the eager loop in the
//! interpreter advp embeds), same threads, interleaved rounds. Reported per
//! side: the median over rounds of its time per attack, and eager/side
//! (≥ 1 means the side is as fast as PyTorch's own loop; the target for
//! `python(…)` is ≥ 0.97). The table also goes to
//! `target/bench-python_model.json`.
//!
//! Size: batch 4 of 3×16×112×112 clips is the issue's; on a machine of few
//! cores the default is smaller, batch 2 of 3×8×56×56 (`ADVP_BENCH_FULL=1`
//! for the full size). Environment: `ADVP_BENCH_THREADS` (default:
//! available cores), `ADVP_BENCH_ROUNDS` (5).
//!
//! Under `cargo test` it runs once, tiny (2 steps, 3×4×16×16), as a smoke
//! test that the three sides agree.

mod common;

#[cfg(feature = "python")]
fn main() {
    bench::main();
}

#[cfg(not(feature = "python"))]
fn main() {
    eprintln!("python_model: advp was built without the `python` feature; nothing to compare");
}

#[cfg(feature = "python")]
mod bench {
    use super::common::{env_usize, median, rounds};
    use advp::runtime::attacks::{Norm, Pgd};
    use advp::runtime::models::python_spec::{PySource, PythonSpec};
    use advp::runtime::models::{Arch, ModelSpec, Net};
    use pyo3::prelude::*;
    use pyo3::types::PyDict;
    use serde_json::json;
    use std::path::Path;
    use std::time::Instant;
    use tch::{Device, Kind, Tensor};

    const CLASSES: i64 = 10;

    /// The Python side: the module built and saved (weights, and scripted),
    /// the clips read, and `attack()` timing the eager loop.
    const SETUP: &str = r#"
import sys, time, torch, torchvision
from safetensors.torch import load_file, save_file
sys.path.insert(0, BENCHES)
from pgd import pgd_inf
torch.manual_seed(0)
model = torchvision.models.video.r2plus1d_18(num_classes=CLASSES).eval()
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{DIR}/w.safetensors")
torch.jit.script(model).save(f"{DIR}/m.pt")
clips = load_file(f"{DIR}/clips.safetensors")
x, y = clips["x"], clips["y"]

def attack():
    t = time.perf_counter()
    adv = pgd_inf(model, x, y, 8.0, 2.0, STEPS)
    return time.perf_counter() - t, adv

def save(adv):
    save_file({"adv": adv.contiguous()}, f"{DIR}/eager.safetensors")
"#;

    pub fn main() {
        let bench = std::env::args().any(|a| a == "--bench");
        if let Err(e) = advp::runtime::models::python::found() {
            advp::util::skipped("bench python_model", &format!("no Python torch: {e}"));
            return;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = env_usize("ADVP_BENCH_THREADS", cores);
        tch::set_num_threads(threads as i32);
        let full = std::env::var("ADVP_BENCH_FULL").as_deref() == Ok("1");
        let (shape, steps): ([i64; 5], usize) = match (bench, full) {
            (false, _) => ([2, 3, 4, 16, 16], 2),
            (true, false) => ([2, 3, 8, 56, 56], 10),
            (true, true) => ([4, 3, 16, 112, 112], 10),
        };
        let dir = tempfile::tempdir().unwrap();
        tch::manual_seed(1);
        let x = Tensor::rand(shape, (Kind::Float, Device::Cpu));
        let y = Tensor::randint(CLASSES, [shape[0]], (Kind::Int64, Device::Cpu));
        Tensor::write_safetensors(
            &[("x", &x), ("y", &y)],
            dir.path().join("clips.safetensors"),
        )
        .unwrap();
        let benches = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python");
        let ns = Python::attach(|py| -> PyResult<Py<PyDict>> {
            let ns = PyDict::new(py);
            ns.set_item("BENCHES", benches.display().to_string())?;
            ns.set_item("DIR", dir.path().display().to_string())?;
            ns.set_item("CLASSES", CLASSES)?;
            ns.set_item("STEPS", steps)?;
            py.run(&std::ffi::CString::new(SETUP).unwrap(), Some(&ns), None)?;
            Ok(ns.unbind())
        })
        .unwrap_or_else(|e| panic!("the Python side: {e}"));
        let weights = Some(dir.path().join("w.safetensors"));
        let python = Net::build(
            &ModelSpec {
                arch: Arch::Python(Box::new(PythonSpec::new(
                    PySource::Module("torchvision.models.video".into()),
                    "r2plus1d_18",
                ))),
                classes: CLASSES,
                pretrained: weights,
            },
            Device::Cpu,
        )
        .unwrap_or_else(|e| panic!("python(…): {e}"));
        let script = Net::build(
            &ModelSpec {
                arch: Arch::TorchScript {
                    path: dir.path().join("m.pt"),
                },
                classes: CLASSES,
                pretrained: None,
            },
            Device::Cpu,
        )
        .unwrap_or_else(|e| panic!("torchscript(…): {e}"));
        let pgd = Pgd {
            norm: Norm::Inf,
            eps: 8.0,
            alpha: 2.0,
            steps,
            random_start: false,
        };
        let time_advp = |net: &Net| {
            let t = Instant::now();
            let adv = pgd
                .run(&|v: &Tensor| net.forward(v, false), &x, &y)
                .unwrap();
            (t.elapsed().as_secs_f64(), adv)
        };
        let time_eager = || {
            Python::attach(|py| -> PyResult<f64> {
                let out = ns.bind(py).get_item("attack")?.unwrap().call0()?;
                let (t, adv): (f64, Bound<'_, PyAny>) = out.extract()?;
                ns.bind(py).get_item("save")?.unwrap().call1((adv,))?;
                Ok(t)
            })
            .unwrap_or_else(|e| panic!("the eager loop: {e}"))
        };
        // Warm-up, and the three sides agree.
        let (_, a) = time_advp(&python);
        let (_, b) = time_advp(&script);
        time_eager();
        let eager = Tensor::read_safetensors(dir.path().join("eager.safetensors")).unwrap();
        let c = &eager[0].1;
        for (who, other) in [("torchscript", &b), ("eager", c)] {
            let d = (&a - other).abs().max().double_value(&[]);
            assert!(d <= 1e-5, "python(…) and {who} differ by {d}");
        }
        let n = rounds(bench, 5);
        let (mut tp, mut ts, mut te) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            tp.push(time_advp(&python).0);
            ts.push(time_advp(&script).0);
            te.push(time_eager());
        }
        let (p, s, e) = (median(&tp), median(&ts), median(&te));
        let table = json!({
            "model": "r2plus1d_18",
            "shape": shape,
            "steps": steps,
            "threads": threads,
            "rounds": n,
            "seconds": {"python": p, "torchscript": s, "eager": e},
            "eager_over_python": e / p,
            "eager_over_torchscript": e / s,
            "target_eager_over_python": 0.97,
        });
        println!(
            "python_model: PGD-{steps} on R(2+1)D-18, {shape:?}, {threads} threads, {n} rounds\n  python(…)    {p:.3} s  eager/python(…)    {:.3}\n  torchscript  {s:.3} s  eager/torchscript  {:.3}\n  eager        {e:.3} s",
            e / p,
            e / s
        );
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-python_model.json");
        let _ = std::fs::write(out, serde_json::to_string_pretty(&table).unwrap());
    }
}
