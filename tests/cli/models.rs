//! Models: TorchScript exports, PyTorch state dicts, a Kinetics checkpoint,
//! `advp init` and the bring-your-own guide, exporting built-in weights.

use super::*;

#[test]
fn torchscript_models_exported_from_pytorch_train_and_evaluate() {
    let Some(py) = python_or_skip("torchscript_models_exported_from_pytorch_train_and_evaluate")
    else {
        return;
    };
    let r = Run::new();
    let script = r#"
import torch, torch.nn as nn
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
    def forward(self, x):
        return self.fc(self.conv(x).relu().amax(dim=(2, 3, 4)))
torch.manual_seed(0)
torch.jit.script(M()).save("m.pt")
"#;
    // TorchScript reads the class source, so the script must be a file.
    r.write("export.py", script);
    let o = Command::new(py)
        .arg("export.py")
        .current_dir(r.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let pipeline = |classes: u32| {
        format!(
            "data d = synthetic(classes: {classes}, frames: 4, size: 16, train: 24, test: 12, val: 6)\nmodel net = torchscript(\"m.pt\", classes: {classes})\ntrain t = standard(net, d, epochs: 1, batch: 8)\neval e = robustness([t], d.test) {{\n  attack pgd(steps: 2)\n  budget sweep [0, 8]\n}}\nreport e to \"e.csv\"\n"
        )
    };
    r.write("s.advp", &pipeline(3));
    let o = r.advp(&["run", "s.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = String::from_utf8(read(r.dir.path().join("out/e.csv"))).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");

    // Four classes of data for a three-class module: refused before any work.
    r.write("s.advp", &pipeline(4));
    let o = r.advp(&["run", "s.advp", "--quiet", "--out", "out"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("advp::run::shape_mismatch"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_trained_torchscript_model_keeps_its_batchnorm_statistics() {
    // Once, training a scripted Conv3d+BN module saved only its parameters:
    // evaluation ran with the initial running statistics.
    let Some(py) = python_or_skip("a_trained_torchscript_model_keeps_its_batchnorm_statistics")
    else {
        return;
    };
    let r = Run::new();
    r.write(
        "export.py",
        r#"
import sys, torch, torch.nn as nn
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm3d(8)
        self.fc = nn.Linear(8, 3)
    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).relu().amax(dim=(2, 3, 4)))
if sys.argv[1] == "export":
    torch.manual_seed(0)
    torch.jit.script(M()).save("m.pt")
else:
    # The trained module's statistics moved away from the initial ones.
    a, b = torch.jit.load("m.pt"), torch.jit.load(sys.argv[2])
    moved = (a.bn.running_mean - b.bn.running_mean).abs().max().item()
    print(f"moved {moved} batches {b.bn.num_batches_tracked.item()}")
"#,
    );
    let o = Command::new(&py)
        .args(["export.py", "export"])
        .current_dir(r.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    r.write(
        "s.advp",
        "seed 2\ndata d = synthetic(classes: 3, frames: 4, size: 16, train: 48, test: 24, val: 6)\nmodel net = torchscript(\"m.pt\", classes: 3)\ntrain t = standard(net, d, epochs: 3, batch: 8, lr: 0.05)\neval e = robustness([t], d.test, batch: 24) {\n  budget sweep [0]\n}\nreport e to \"e.json\"\nreport e adversarial to \"adv.safetensors\"\n",
    );
    let o = r.advp(&["run", "s.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let module = std::fs::read_dir(r.dir.path().join(".advp/cache"))
        .unwrap()
        .map(|e| e.unwrap().path().join("weights.module.pt"))
        .find(|p| p.exists())
        .expect("the trained module is saved with its buffers");
    let o = Command::new(&py)
        .args(["export.py", "compare", module.to_str().unwrap()])
        .current_dir(r.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let moved: f64 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(moved > 1e-4, "training moved the running mean: {text}");
    assert!(
        text.contains("batches 18"),
        "3 epochs × 6 batches tracked: {text}"
    );
    // advp's clean accuracy equals the saved module's, evaluated by libtorch
    // in eval mode on the same clips.
    let v: serde_json::Value =
        serde_json::from_slice(&read(r.dir.path().join("out/e.json"))).unwrap();
    let advp = v["rows"][0]["correct"].as_i64().unwrap();
    let named = tch::Tensor::read_safetensors(r.dir.path().join("out/adv.safetensors")).unwrap();
    let get = |k: &str| {
        named
            .iter()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .shallow_clone()
    };
    let (clean, labels) = (get("clean"), get("labels"));
    let eval = |path: &Path, params: Option<&tch::CModule>| {
        let mut m = tch::CModule::load(path).unwrap();
        if let Some(src) = params {
            // The trained parameters with this module's (initial) buffers.
            let _g = tch::no_grad_guard();
            let from = src.named_parameters().unwrap();
            for (n, t) in m.named_parameters().unwrap() {
                let s = &from.iter().find(|(k, _)| *k == n).unwrap().1;
                t.shallow_clone().copy_(s);
            }
        }
        m.set_eval();
        tch::no_grad(|| m.forward_ts(&[&clean]).unwrap())
    };
    let trained = eval(&module, None);
    let correct = trained
        .argmax(-1, false)
        .eq_tensor(&labels)
        .sum(tch::Kind::Int64)
        .int64_value(&[]);
    assert_eq!(
        advp, correct,
        "advp's count equals the saved module's in eval mode"
    );
    // The buffers matter for the outputs: the same parameters with the initial
    // statistics give other logits, so the equality above is not by chance.
    let src = tch::CModule::load(&module).unwrap();
    let initial = eval(&r.dir.path().join("m.pt"), Some(&src));
    let diff = (&trained - &initial).abs().max().double_value(&[]);
    assert!(
        diff > 1e-3,
        "initial statistics change the logits by {diff}"
    );
}

#[test]
fn python_state_dicts_convert_to_safetensors_without_numpy() {
    let Some(py) = python_or_skip("python_state_dicts_convert_to_safetensors_without_numpy") else {
        return;
    };
    let r = Run::new();
    // Hara et al.'s layout: a checkpoint dict with the weights under `state_dict`.
    r.write(
        "save.py",
        "import torch\ntorch.manual_seed(0)\nw = torch.randn(4, 3, 3, 3, 3)\ntorch.save({'epoch': 3, 'state_dict': {'module.conv1.weight': w, 'bn1.num_batches_tracked': torch.tensor(7)}}, 'h.pth')\nprint(repr(w.double().sum().item()), repr(w[1, 2, 0, 1, 2].item()))\n",
    );
    let o = Command::new(&py)
        .arg("save.py")
        .current_dir(r.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let want: Vec<f64> = stdout(&o)
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let o = Command::new(repo("scripts/to-safetensors"))
        .args(["h.pth", "h.safetensors"])
        .current_dir(r.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let named = tch::Tensor::read_safetensors(r.dir.path().join("h.safetensors")).unwrap();
    let get = |k: &str| {
        named
            .iter()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .shallow_clone()
    };
    let w = get("module.conv1.weight");
    assert_eq!(w.size(), [4, 3, 3, 3, 3]);
    assert!(
        (w.to_kind(tch::Kind::Double)
            .sum(tch::Kind::Double)
            .double_value(&[])
            - want[0])
            .abs()
            < 1e-9
    );
    assert_eq!(w.double_value(&[1, 2, 0, 1, 2]), want[1]);
    assert_eq!(get("bn1.num_batches_tracked").int64_value(&[]), 7);
    // advp itself points a user with such a file to the converter.
    r.write(
        "p.advp",
        "data d = synthetic(classes: 4, frames: 4, size: 16, train: 8, test: 4, val: 2)\nmodel net = r3d(classes: d.classes, pretrained: \"h.pth\")\ntrain t = standard(net, d, epochs: 1)\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert_ne!(o.status.code(), Some(0));
    let err = words(&stderr(&o));
    assert!(err.contains("converts with `scripts/to-"), "{err}");
    assert!(
        !err.contains("frame #"),
        "libtorch's C++ backtrace stays out: {err}"
    );
}

#[test]
fn a_hara_kinetics_checkpoint_loads_into_r3d_and_gives_pytorchs_logits() {
    use advp::runtime::models::{Arch, ModelSpec, Net};
    let Some(py) =
        python_or_skip("a_hara_kinetics_checkpoint_loads_into_r3d_and_gives_pytorchs_logits")
    else {
        return;
    };
    let r = Run::new();
    // Hara et al.'s checkpoint exactly: {'epoch', 'arch', 'state_dict' (keys
    // under `module.`, from DataParallel), 'optimizer'}, of a 3D ResNet-10
    // written by PyTorch (the bench's model, named as Hara's code names it),
    // with BatchNorm statistics that are not the defaults.
    r.write(
        "save.py",
        &format!(
            "import sys, json, torch\nsys.path.insert(0, {:?})\nfrom pgd import R3d\n\
             torch.manual_seed(0)\nm = R3d(10, 7)\n\
             for mod in m.modules():\n    if isinstance(mod, torch.nn.BatchNorm3d):\n        mod.running_mean.uniform_(-0.1, 0.1); mod.running_var.uniform_(0.5, 1.5)\n\
             opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)\n\
             m(torch.rand(2, 3, 4, 32, 32)).sum().backward(); opt.step()\n\
             sd = {{'module.' + k: v for k, v in m.state_dict().items()}}\n\
             torch.save({{'epoch': 200, 'arch': 'resnet-10', 'state_dict': sd, 'optimizer': opt.state_dict()}}, 'hara.pth')\n\
             m.eval()\nx = (torch.arange(2 * 3 * 4 * 32 * 32) % 97).float().reshape(2, 3, 4, 32, 32) / 96\n\
             print(json.dumps(m(x).detach().flatten().tolist()))\n",
            repo("benches/python")
        ),
    );
    let o = Command::new(&py)
        .arg("save.py")
        .current_dir(r.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let want: Vec<f64> = serde_json::from_str(stdout(&o).trim()).unwrap();
    let o = Command::new(repo("scripts/to-safetensors"))
        .args(["hara.pth", "hara.safetensors"])
        .current_dir(r.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let build = |depth: i64| {
        Net::build(
            &ModelSpec {
                arch: Arch::R3d { depth },
                classes: 7,
                pretrained: Some(r.dir.path().join("hara.safetensors")),
            },
            tch::Device::Cpu,
        )
    };
    let net = build(10).expect("the checkpoint fits r3d(10)");
    let x = (tch::Tensor::arange(2 * 3 * 4 * 32 * 32, (tch::Kind::Int64, tch::Device::Cpu))
        .remainder(97)
        .to_kind(tch::Kind::Float)
        / 96.0)
        .reshape([2, 3, 4, 32, 32]);
    let got: Vec<f64> = Vec::<f64>::try_from(
        net.forward(&x, false)
            .to_kind(tch::Kind::Double)
            .flatten(0, -1),
    )
    .unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() < 1e-4 * w.abs().max(1.0),
            "advp {g} vs PyTorch {w}"
        );
    }
    // Into another depth: one message with every mismatch.
    let err = match build(18) {
        Err(advp::runtime::error::NodeError::Model(e)) => e,
        Err(e) => panic!("expected a model error, got {e:?}"),
        Ok(_) => panic!("a ResNet-10 checkpoint does not fit r3d(18)"),
    };
    assert!(err.contains("do not fit this architecture"), "{err}");
    assert!(err.contains("40 missing from the file:"), "{err}");
    assert!(
        err.contains("`layer1.1.conv1.weight`") && err.contains("and 30 more"),
        "{err}"
    );
}

/// The Python blocks of docs/bring-your-own.md, by the `# file: NAME` line
/// that opens each.
fn guide_blocks() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("docs/bring-your-own.md")).unwrap();
    let mut out = Vec::new();
    for block in text.split("```python\n").skip(1) {
        let code = block.split("```").next().unwrap();
        let name = code
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# file: "))
            .unwrap_or_else(|| panic!("a Python block of the guide without `# file:`: {code}"));
        out.push((name.trim().to_string(), code.to_string()));
    }
    out
}

#[test]
fn init_writes_a_starter_that_runs_the_bring_your_own_guide() {
    let Some(py) = python_or_skip("init_writes_a_starter_that_runs_the_bring_your_own_guide")
    else {
        return;
    };
    if !Command::new(&py)
        .args(["-c", "import safetensors, numpy"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        skip(
            "init_writes_a_starter_that_runs_the_bring_your_own_guide",
            "the venv has no safetensors or numpy (./scripts/test installs them)",
        );
        return;
    }
    let r = Run::new();
    let blocks = guide_blocks();
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "net.py",
            "export_model.py",
            "write_clips.py",
            "load_weights.py"
        ]
    );
    let python = |name: &str| {
        let code = &blocks.iter().find(|(n, _)| n == name).unwrap().1;
        r.write(name, code);
        let o = Command::new(&py)
            .arg(name)
            .current_dir(r.dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        stdout(&o)
    };
    // Steps 1 and 3: the user's files.
    python("net.py");
    python("write_clips.py");
    // Step 4: the starter; never over a file.
    let o = r.advp(&["init", "mine.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("net.py"), "{}", stdout(&o));
    let o = r.advp(&["init", "mine.advp"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("exists"), "{}", stderr(&o));
    // As written, with smaller attacks and one epoch.
    let small = |file: &str, out: &str| {
        let mut args = vec!["run", file, "--quiet", "--out", out];
        for set in [
            "robust_net.epochs=1",
            "apgd_ce.steps=3",
            "apgd_t.steps=3",
            "fab_t.steps=3",
            "square_5000.queries=20",
        ] {
            args.extend(["--set", set]);
        }
        r.advp(&args)
    };
    let run = |file: &str, out: &str, files: &[&str]| {
        let o = r.advp(&["check", file]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = small(file, out);
        assert!(o.status.success(), "{}", stderr(&o));
        for f in files {
            assert!(r.dir.path().join(out).join(f).exists(), "{f}");
        }
        assert!(
            stdout(&o).contains("claim robust_net > net at eps 8"),
            "{}",
            stdout(&o)
        );
        // The exported weights are the trained ones.
        let exported = read(r.dir.path().join(out).join("robust_net.safetensors"));
        assert!(all_weights(&r)
            .iter()
            .any(|(n, w)| n == "robust_net" && *w == exported));
    };
    if cfg!(feature = "python") {
        run(
            "mine.advp",
            "out",
            &[
                "robust.md",
                "after.csv",
                "robust_net.csv",
                "robust_net.safetensors",
                "mine.html",
            ],
        );
        // Step 6: the user's own code loads the weights by its names.
        let out = python("load_weights.py");
        assert!(out.contains("bn."), "{out}");
        assert!(out.contains("torch.Size([2, 10])"), "{out}");
    }
    // Step 2: the same starter for an exported TorchScript module.
    assert!(python("export_model.py").contains("torch.Size([2, 10])"));
    let o = r.advp(&["init", "--model", "torchscript", "ts.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    run(
        "ts.advp",
        "out-ts",
        &[
            "robust.md",
            "robust_net.safetensors",
            "robust_net.pt",
            "ts.html",
        ],
    );
}

#[test]
fn a_built_in_networks_weights_export_as_safetensors_and_pt_is_refused_with_the_reason() {
    let r = Run::new();
    r.write(
        "p.advp",
        "data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)\n\
         model net = c3d_small(classes: d.classes, width: 2)\n\
         train t = standard(net, d, epochs: 1, batch: 6)\n\
         report t weights to \"t.safetensors\"\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read(r.dir.path().join("results/p/t.safetensors")),
        all_weights(&r)[0].1
    );
    r.write(
        "q.advp",
        "data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)\n\
         model net = c3d_small(classes: d.classes, width: 2)\n\
         train t = standard(net, d, epochs: 1, batch: 6)\n\
         report t weights to \"t.pt\"\n",
    );
    let o = r.advp(&["run", "q.advp", "--quiet"]);
    let err = words(&stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("is not a TorchScript model"), "{err}");
    // An evaluation has no weights.
    r.write(
        "e.advp",
        "data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)\n\
         model net = c3d_small(classes: d.classes, width: 2)\n\
         eval e = robustness([net], d.test)\n\
         report e weights to \"e.safetensors\"\n",
    );
    let o = r.advp(&["check", "e.advp"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("advp::check::report_mode"),
        "{}",
        stderr(&o)
    );
}
