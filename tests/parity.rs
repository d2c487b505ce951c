//! Parity with the public implementations users compare against, run from
//! the project venv (`scripts/test` installs `torchattacks==3.5.1` there,
//! pinned beside `torch==2.13.0`).
//!
//! APGD: the reference's `attack_single_run` (torchattacks' `APGD`/`APGDT`,
//! AutoAttack's code) and advp's [`Apgd::single_run`] start from the same
//! point on the same double-precision TorchScript model; every output must
//! agree. torchattacks reads images (`x.shape[1:]` as C, H, W), so its side
//! sees each clip as an image of C·T channels (`x.reshape(N, C·T, H, W)`)
//! through a wrapper that reshapes back: what a user of it does for video.

use advp::runtime::attacks::apgd::{Apgd, Loss};
use advp::runtime::attacks::pgd::Norm;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Kind, Tensor};

/// The venv's python when it has torchattacks; otherwise the test is listed
/// as skipped (a failure under `CI=true`).
fn python_with_torchattacks(test: &str) -> Option<PathBuf> {
    let py = std::env::var_os("ADVP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let ok = Command::new(&py)
        .args(["-c", "import torchattacks"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(py)
    } else {
        advp::util::skipped(
            test,
            "no torchattacks in the venv (`scripts/test` installs it: pip install torchattacks==3.5.1 torch==2.13.0)",
        );
        None
    }
}

/// Runs a reference script in a fresh folder (its text written there as a
/// file, not `-c`: TorchScript reads a module's source) with the folder and
/// `args` on its command line; the folder, and the tensors it wrote to
/// `tensors` there.
fn run_reference(
    py: &Path,
    script: &str,
    args: &[&str],
    tensors: &str,
) -> (tempfile::TempDir, std::collections::HashMap<String, Tensor>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reference.py");
    std::fs::write(&file, script).unwrap();
    let o = Command::new(py)
        .args(["-W", "ignore"])
        .arg(&file)
        .arg(dir.path())
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let named = Tensor::read_safetensors(dir.path().join(tensors))
        .unwrap()
        .into_iter()
        .collect();
    (dir, named)
}

/// What both reference scripts start with: their imports, seed and a small
/// 3D-convolutional network of 6 classes for 3×2×8×8 clips.
const PRELUDE: &str = r#"
import ctypes, json, struct, sys
import torch, torch.nn as nn, torchattacks

out_dir = sys.argv[1]
torch.manual_seed(0)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 2 * 8 * 8, 6)
    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))

"#;

const REFERENCE: &str = r#"
net = Net().double().eval()
torch.jit.script(net).save(f"{out_dir}/net.pt")

class AsImages(nn.Module):
    """Clips N×C×T×H×W seen as images N×(C·T)×H×W, for torchattacks."""
    def __init__(self, m):
        super().__init__()
        self.m = m
    def forward(self, v):
        return self.m(v.reshape(v.shape[0], 3, 2, 8, 8))

images = AsImages(net).eval()
x = torch.rand(16, 3, 2, 8, 8, dtype=torch.float64)
y = net(x).argmax(1)
y[:2] = (y[:2] + 1) % 6  # two clips the clean model gets wrong
x4 = x.reshape(16, 6, 8, 8)
tensors = {"x": x, "y": y}
configs = {
    "ce_inf": (torchattacks.APGD, dict(norm="Linf", eps=4 / 255, loss="ce"), None),
    "dlr_inf": (torchattacks.APGD, dict(norm="Linf", eps=4 / 255, loss="dlr"), None),
    "t_inf": (torchattacks.APGDT, dict(norm="Linf", eps=4 / 255, n_classes=6), 2),
    "ce_2": (torchattacks.APGD, dict(norm="L2", eps=60 / 255, loss="ce"), None),
}
for name, (cls, kw, target_class) in configs.items():
    atk = cls(images, steps=20, n_restarts=1, seed=0, **kw)
    if target_class is not None:
        atk.target_class = target_class
    torch.manual_seed(7)
    t = 2 * torch.rand(x4.shape) - 1 if kw["norm"] == "Linf" else torch.randn(x4.shape)
    torch.manual_seed(7)  # attack_single_run draws the same start
    best, acc, loss_best, best_adv = atk.attack_single_run(x4, y)
    tensors[f"{name}/t"] = t.reshape(x.shape)
    tensors[f"{name}/best"] = best.reshape(x.shape)
    tensors[f"{name}/robust"] = acc.to(torch.uint8)
    tensors[f"{name}/loss_best"] = loss_best
    tensors[f"{name}/best_adv"] = best_adv.reshape(x.shape)

dtypes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8"}
header, blobs, offset = {}, [], 0
for k, v in tensors.items():
    v = v.detach().contiguous()
    n = v.numel() * v.element_size()
    blobs.append(ctypes.string_at(v.data_ptr(), n))
    header[k] = {"dtype": dtypes[v.dtype], "shape": list(v.shape), "data_offsets": [offset, offset + n]}
    offset += n
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open(f"{out_dir}/reference.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
"#;

/// Asserts ‖xa − x‖ ≤ ε (0..255 units) per clip under `norm`, and xa in [0, 1].
fn in_ball_and_image(what: &str, xa: &Tensor, x: &Tensor, norm: Norm, eps: f64) {
    let d = (xa - x).to_kind(Kind::Double);
    let size = match norm {
        Norm::Inf => d.abs().max().double_value(&[]),
        Norm::L2 => d
            .reshape([d.size()[0], -1])
            .norm_scalaropt_dim(2, [1], false)
            .max()
            .double_value(&[]),
    };
    assert!(size <= eps / 255.0 + 1e-6, "{what}: ‖δ‖ = {size}");
    assert!(
        xa.min().double_value(&[]) >= 0.0 && xa.max().double_value(&[]) <= 1.0,
        "{what}"
    );
}

#[test]
fn apgd_matches_torchattacks_from_the_same_start() {
    let Some(py) = python_with_torchattacks("apgd_matches_torchattacks_from_the_same_start") else {
        return;
    };
    let (dir, named) = run_reference(
        &py,
        &format!("{PRELUDE}{REFERENCE}"),
        &[],
        "reference.safetensors",
    );
    let net = tch::CModule::load(dir.path().join("net.pt")).unwrap();
    let f = |v: &Tensor| net.forward_ts(&[v]).unwrap();
    let (x, y) = (&named["x"], &named["y"]);
    let configs = [
        ("ce_inf", Loss::Ce, Norm::Inf, 4.0, None),
        ("dlr_inf", Loss::Dlr, Norm::Inf, 4.0, None),
        ("t_inf", Loss::Dlr, Norm::Inf, 4.0, Some(2)),
        ("ce_2", Loss::Ce, Norm::L2, 60.0, None),
    ];
    let mut fooled_total = 0;
    for (name, loss, norm, eps, target_rank) in configs {
        let apgd = Apgd {
            norm,
            eps,
            steps: 20,
            restarts: 1,
            loss,
            targets: usize::from(target_rank.is_some()),
            rho: 0.75,
            eot: 1,
        };
        // APGD-T's target: the clean logits' `target_rank`-th class.
        let target = target_rank.map(|r: i64| {
            let z = f(x);
            z.argsort(1, false).select(1, z.size()[1] - r)
        });
        let t = &named[&format!("{name}/t")];
        // Every iterate stays in the ε-ball and the image.
        let mut iterates = 0;
        let run = apgd
            .single_run_with(&f, x, y, t, target.as_ref(), &mut |xa| {
                iterates += 1;
                in_ball_and_image(&format!("{name}: an iterate"), xa, x, norm, eps);
            })
            .unwrap();
        assert_eq!(iterates, 20, "{name}: one call per step");
        let robust: Vec<bool> = Vec::<u8>::try_from(&named[&format!("{name}/robust")])
            .unwrap()
            .into_iter()
            .map(|b| b == 1)
            .collect();
        assert_eq!(run.robust, robust, "{name}: which clips stay robust");
        fooled_total += robust.iter().filter(|r| !**r).count();
        // L∞ is exact; L2's reference rounds its radius through float32
        // (`eps * torch.ones(x.shape)`), a last-bit difference.
        let tol = if norm == Norm::Inf { 1e-12 } else { 1e-6 };
        for (what, mine) in [
            ("best", &run.best),
            ("best_adv", &run.best_adv),
            ("loss_best", &run.loss_best),
        ] {
            let theirs = &named[&format!("{name}/{what}")];
            let diff = (mine - theirs).abs().max().double_value(&[]);
            assert!(diff <= tol, "{name}: {what} differs by {diff}");
        }
        // Every iterate kept stays in the ball and the image.
        for t in [&run.best, &run.best_adv] {
            in_ball_and_image(name, t, x, norm, eps);
        }
    }
    assert!(
        fooled_total > 4,
        "the attacks fooled only {fooled_total} clips: the test needs both kinds"
    );
}

#[test]
fn apgd_checkpoints_are_the_papers_for_100_steps() {
    // wⱼ = ⌈pⱼN⌉, p₀ = 0, p₁ = 0.22, pⱼ₊₁ = pⱼ + max(pⱼ − pⱼ₋₁ − 0.03, 0.06).
    let n = 100.0;
    let (mut p, mut prev) = (0.22f64, 0.0f64);
    let mut paper = Vec::new();
    while p <= 1.0 + 1e-9 {
        paper.push((p * n - 1e-9).ceil() as usize);
        let next = p + (p - prev - 0.03).max(0.06);
        prev = p;
        p = next;
    }
    assert_eq!(Apgd::checkpoints(100), paper);
    assert_eq!(paper[..4], [22, 41, 57, 70]);
}

#[test]
fn wilson_intervals_and_mcnemar_p_values_match_scipy() {
    use advp::results::stats::{mcnemar_exact, wilson, Z95};
    let Some(py) = python_with_torchattacks("wilson_intervals_and_mcnemar_p_values_match_scipy")
    else {
        return;
    };
    // scipy comes with torchattacks. The reference:
    //   binomtest(k, n).proportion_ci(0.95, method="wilson") and
    //   binomtest(b, b + c, 0.5).pvalue (two-sided, exact).
    let cases: Vec<(u64, u64)> = vec![
        (0, 10),
        (1, 10),
        (5, 10),
        (9, 10),
        (10, 10),
        (37, 200),
        (196, 200),
        (3, 7),
    ];
    let mcnemar: Vec<(u64, u64)> = vec![(0, 5), (2, 8), (7, 3), (10, 10), (1, 19), (30, 12)];
    let code = format!(
        "import json\nfrom scipy.stats import binomtest\n\
         w = [list(binomtest(k, n).proportion_ci(0.95, method='wilson')) for k, n in {cases:?}]\n\
         m = [binomtest(b, b + c, 0.5).pvalue for b, c in {mcnemar:?}]\n\
         print(json.dumps({{'w': w, 'm': m}}))\n"
    );
    let o = Command::new(&py).args(["-c", &code]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for (i, &(k, n)) in cases.iter().enumerate() {
        let (lo, hi) = wilson(k, n, Z95);
        let (slo, shi) = (
            v["w"][i][0].as_f64().unwrap(),
            v["w"][i][1].as_f64().unwrap(),
        );
        assert!(
            (lo - slo).abs() < 1e-9 && (hi - shi).abs() < 1e-9,
            "{k}/{n}: {lo}, {hi} vs scipy {slo}, {shi}"
        );
    }
    for (i, &(b, c)) in mcnemar.iter().enumerate() {
        let p = mcnemar_exact(b, c);
        let sp = v["m"][i].as_f64().unwrap();
        assert!((p - sp).abs() < 1e-9, "b {b}, c {c}: {p} vs scipy {sp}");
    }
}

#[test]
fn the_paired_bootstrap_and_t_quantiles_match_scipy() {
    use advp::results::stats::{bootstrap_mean, t975};
    let Some(py) = python_with_torchattacks("the_paired_bootstrap_and_t_quantiles_match_scipy")
    else {
        return;
    };
    // The reference, from other random draws:
    //   scipy.stats.bootstrap((d,), np.mean, n_resamples=20000,
    //       method="percentile", rng=np.random.default_rng(0)).confidence_interval
    // and scipy.stats.t.ppf(0.975, df). Paired differences of 300 clips: 45
    // where A alone is right, 15 where B alone is, then 120 clips of a
    // three-seed mean (±1/3, ±2/3) — the shapes a claim's bootstrap sees.
    let mut d = vec![0.0; 300];
    d[..45].iter_mut().for_each(|x| *x = 1.0);
    d[45..60].iter_mut().for_each(|x| *x = -1.0);
    for (i, x) in d[100..220].iter_mut().enumerate() {
        *x = [1.0 / 3.0, -1.0 / 3.0, 2.0 / 3.0, -2.0 / 3.0, 1.0 / 3.0][i % 5];
    }
    let dfs = [1u64, 2, 3, 9, 29];
    let code = format!(
        "import json, numpy as np\nfrom scipy import stats\n\
         d = np.array({d:?})\n\
         r = stats.bootstrap((d,), np.mean, n_resamples=20000, method='percentile', rng=np.random.default_rng(0))\n\
         t = [float(stats.t.ppf(0.975, df)) for df in {dfs:?}]\n\
         print(json.dumps({{'ci': [float(r.confidence_interval.low), float(r.confidence_interval.high)], 't': t}}))\n"
    );
    let o = Command::new(&py).args(["-c", &code]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (lo, hi) = bootstrap_mean(&d, 20_000, 11);
    let (slo, shi) = (v["ci"][0].as_f64().unwrap(), v["ci"][1].as_f64().unwrap());
    // Two independent Monte Carlo estimates of one interval: its ends agree
    // to a few percent of its width (the draws differ, the clips do not).
    let tol = 0.04 * (shi - slo);
    assert!(
        (lo - slo).abs() < tol && (hi - shi).abs() < tol,
        "advp [{lo}, {hi}] vs scipy [{slo}, {shi}]"
    );
    for (i, &df) in dfs.iter().enumerate() {
        let st = v["t"][i].as_f64().unwrap();
        assert!(
            (t975(df) - st).abs() < 1e-9,
            "df {df}: {} vs scipy {st}",
            t975(df)
        );
    }
}

/// FAB's reference side: torchattacks' `FAB` (AutoAttack's `fab_base.py`
/// as torchattacks carries it) on a single-precision TorchScript model, as
/// a user runs it: `perturb` with its seed for L∞ and L2 (untargeted and
/// FAB-T with every other class, two restarts for the random start), and
/// one `attack_single_run` for L1 (torchattacks' `perturb` has no L1 norm).
const FAB_REFERENCE: &str = r#"
net = Net().eval()
torch.jit.script(net).save(f"{out_dir}/net.pt")

class AsImages(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m
    def forward(self, v):
        return self.m(v.reshape(v.shape[0], 3, 2, 8, 8))

images = AsImages(net).eval()
x = torch.rand(16, 3, 2, 8, 8)
with torch.no_grad():
    y = net(x).argmax(1)
y[:2] = (y[:2] + 1) % 6
x4 = x.reshape(16, 6, 8, 8)
tensors = {"x": x, "y": y}
configs = {
    "inf": dict(norm="Linf", eps=6 / 255, n_restarts=1),
    "inf_restarts": dict(norm="Linf", eps=3 / 255, n_restarts=2),
    "t_inf": dict(norm="Linf", eps=6 / 255, n_restarts=1, multi_targeted=True),
    "l2": dict(norm="L2", eps=60 / 255, n_restarts=1),
    "t_l2": dict(norm="L2", eps=60 / 255, n_restarts=2, multi_targeted=True),
}
for name, kw in configs.items():
    atk = torchattacks.FAB(images, steps=10, seed=3, n_classes=6, **kw)
    tensors[f"{name}/adv"] = atk(x4, y).reshape(x.shape)
ok = (net(x).argmax(1) == y)
atk = torchattacks.FAB(images, norm="L1", steps=10, eps=600 / 255, n_classes=6)
tensors["l1/ok"] = ok.to(torch.uint8)
tensors["l1/adv"] = atk.attack_single_run(x4[ok], y[ok], use_rand_start=False).reshape(x[ok].shape)

dtypes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8"}
header, blobs, offset = {}, [], 0
for k, v in tensors.items():
    v = v.detach().contiguous()
    n = v.numel() * v.element_size()
    blobs.append(ctypes.string_at(v.data_ptr(), n))
    header[k] = {"dtype": dtypes[v.dtype], "shape": list(v.shape), "data_offsets": [offset, offset + n]}
    offset += n
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open(f"{out_dir}/reference.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
"#;

#[test]
fn fab_matches_torchattacks_from_the_same_seed() {
    use advp::runtime::attacks::fab::{Fab, FabNorm};
    use advp::runtime::attacks::AttackKind;
    let Some(py) = python_with_torchattacks("fab_matches_torchattacks_from_the_same_seed") else {
        return;
    };
    let (dir, named) = run_reference(
        &py,
        &format!("{PRELUDE}{FAB_REFERENCE}"),
        &[],
        "reference.safetensors",
    );
    let net = tch::CModule::load(dir.path().join("net.pt")).unwrap();
    let f = |v: &Tensor| net.forward_ts(&[v]).unwrap();
    let (x, y) = (&named["x"], &named["y"]);
    let fab = |norm, eps, restarts, targets| Fab {
        norm,
        eps,
        steps: 10,
        restarts,
        // 9 targets on 6 classes: FAB-T targets the 5 others, as
        // torchattacks' `n_classes - 1`.
        targets,
        alpha_max: 0.1,
        eta: 1.05,
        beta: 0.9,
    };
    let configs = [
        ("inf", fab(FabNorm::Inf, 6.0, 1, 0)),
        ("inf_restarts", fab(FabNorm::Inf, 3.0, 2, 0)),
        ("t_inf", fab(FabNorm::Inf, 6.0, 1, 9)),
        ("l2", fab(FabNorm::L2, 60.0, 1, 0)),
        ("t_l2", fab(FabNorm::L2, 60.0, 2, 9)),
    ];
    let correct = f(x).argmax(1, false).eq_tensor(y);
    let mut fooled_total = 0;
    for (name, a) in configs {
        tch::manual_seed(3);
        let (adv, steps) = a.run_tracked(&f, x, y).unwrap();
        let theirs = &named[&format!("{name}/adv")];
        let diff = (&adv - theirs).abs().max().double_value(&[]);
        assert!(diff <= 1e-6, "{name}: the clips differ by {diff}");
        // A clip is fooled exactly when it is misclassified within ε.
        let wrong = f(&adv).argmax(1, false).ne_tensor(y);
        let size = a.norm.of_clips(&(&adv - x));
        for i in 0..16 {
            let w = wrong.int64_value(&[i]) != 0;
            assert_eq!(steps[i as usize].is_some(), w, "{name}: clip {i}");
            if w && correct.int64_value(&[i]) != 0 {
                fooled_total += 1;
                assert!(
                    size.double_value(&[i]) <= a.eps / 255.0 + 1e-6,
                    "{name}: clip {i}"
                );
            }
        }
        assert!(adv.min().double_value(&[]) >= 0.0 && adv.max().double_value(&[]) <= 1.0);
        assert_eq!(a.steps(), 10 * a.restarts * a.targets.max(1));
    }
    assert!(fooled_total > 8, "FAB fooled only {fooled_total} clips");
    // L1: one run from the clean clips the model gets right.
    let ok: Vec<i64> = (0..16)
        .filter(|&i| named["l1/ok"].int64_value(&[i]) == 1)
        .collect();
    let idx = Tensor::from_slice(&ok);
    let (xo, yo) = (x.index_select(0, &idx), y.index_select(0, &idx));
    let run = fab(FabNorm::L1, 600.0, 1, 0)
        .single_run(&f, &xo, &yo, None, None)
        .unwrap();
    let diff = (&run.adv - &named["l1/adv"]).abs().max().double_value(&[]);
    assert!(diff <= 1e-6, "L1: the clips differ by {diff}");
    let found = run.norm.lt(1e9).sum(Kind::Int64).int64_value(&[]);
    assert!(found > 2, "L1 found only {found} adversarial clips");
    // Found beyond ε, such a clip is not fooled: FAB's budget is a threshold.
    let small = fab(FabNorm::Inf, 0.5, 1, 0);
    let run = small.single_run(&f, &xo, &yo, None, None).unwrap();
    let found: Vec<f64> = Vec::try_from(&run.norm.to_kind(Kind::Double)).unwrap();
    let beyond: Vec<usize> = (0..found.len())
        .filter(|&j| found[j] > 0.5 / 255.0 && found[j] < 1e9)
        .collect();
    assert!(
        !beyond.is_empty(),
        "every point found is within ε = 0.5: {found:?}"
    );
    let (adv, steps) = small.run_tracked(&f, &xo, &yo).unwrap();
    for j in beyond {
        assert!(
            steps[j].is_none(),
            "clip {j} found at {} counted fooled",
            found[j]
        );
        let d = (adv.get(j as i64) - xo.get(j as i64))
            .abs()
            .max()
            .double_value(&[]);
        assert_eq!(d, 0.0, "clip {j} is returned clean");
    }
}

/// Randomized smoothing: advp's CERTIFY and the paper's (`benches/python/
/// certify.py`, Cohen et al.'s `core.py` in PyTorch with SciPy's Beta and
/// normal quantiles) on the same TorchScript model, clips and seeds: the
/// same noise draws, so the same top classes and counts, and bounds and radii
/// equal to rounding.
#[test]
fn certify_matches_the_papers_algorithm_on_the_same_draws() {
    use advp::runtime::eval::certify::Smoothing;
    let Some(py) =
        python_with_torchattacks("certify_matches_the_papers_algorithm_on_the_same_draws")
    else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/certify.py");
    let s = Smoothing {
        sigma: 0.25,
        n0: 20,
        n: 200,
        alpha: 0.001,
        batch: 64,
    };
    let args = [
        "--sigma", "0.25", "--n0", "20", "--n", "200", "--alpha", "0.001", "--batch", "64",
        "--clips", "12",
    ];
    let text = std::fs::read_to_string(script).unwrap();
    let (dir, named) = run_reference(&py, &text, &args, "clips.safetensors");
    let net = tch::CModule::load(dir.path().join("net.pt")).unwrap();
    let f = |v: &Tensor| net.forward_ts(&[v]).unwrap();
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.path().join("certify.json")).unwrap()).unwrap();
    let x = &named["x"];
    let (mut certified, mut abstained) = (0, 0);
    for (j, row) in rows.iter().enumerate() {
        let c = s
            .certify(&f, &x.narrow(0, j as i64, 1), row["seed"].as_i64().unwrap())
            .unwrap();
        assert_eq!(c.top, row["top"].as_i64().unwrap(), "clip {j}: ĉ_A");
        assert_eq!(c.count, row["count"].as_u64().unwrap(), "clip {j}: n_A");
        let p = row["p_lower"].as_f64().unwrap();
        assert!(
            (c.p_lower - p).abs() <= 1e-9 * p.max(1e-3),
            "clip {j}: p̲_A {} vs {p}",
            c.p_lower
        );
        match row["prediction"].as_i64().unwrap() {
            -1 => {
                abstained += 1;
                assert_eq!(c.radius, None, "clip {j} abstains");
            }
            _ => {
                certified += 1;
                let r = row["radius"].as_f64().unwrap();
                let mine = c.radius.expect("certified");
                assert!((mine - r).abs() <= 1e-8, "clip {j}: radius {mine} vs {r}");
            }
        }
    }
    assert!(
        certified >= 2 && abstained >= 1,
        "the test needs both outcomes: {certified} certified, {abstained} abstained"
    );
}
