//! The Python bridge (`python(…)` models): a user's `nn.Module` runs in
//! advp's process on its libtorch. Checked against closed forms: a linear
//! module whose weights the factory sets, so its logits, its gradient with
//! respect to the clips and the effect of an optimizer step are known
//! without running Python.
#![cfg(feature = "python")]

use advp::runtime::models::{Arch, ModelSpec, Net};
use tch::{Device, Kind, Tensor};

/// A factory file in a temp folder; gives (folder, path).
fn module_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.py");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// W[c, i] = (c + 1) · (i + 1) / 100, b[c] = c: a linear map on the
/// flattened 3×2×2×2 clip.
const LINEAR: &str = "\
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.fc = nn.Linear(24, classes)
        with torch.no_grad():
            c = torch.arange(1, classes + 1, dtype=torch.float32)[:, None]
            i = torch.arange(1, 25, dtype=torch.float32)[None, :]
            self.fc.weight.copy_(c * i / 100)
            self.fc.bias.copy_(torch.arange(classes, dtype=torch.float32))
        self.register_buffer('seen', torch.zeros(()))

    def forward(self, x):
        if self.training:
            self.seen += 1
        return self.fc(x.flatten(1))

def build(classes):
    return Net(classes)
";

fn net(path: &std::path::Path, classes: i64) -> Net {
    let spec = ModelSpec {
        arch: Arch::Python {
            path: path.to_path_buf(),
            factory: "build".into(),
        },
        classes,
        pretrained: None,
    };
    Net::build(&spec, Device::Cpu).unwrap_or_else(|e| panic!("{e}"))
}

fn weights(classes: i64) -> (Tensor, Tensor) {
    let c = Tensor::arange_start(1, classes + 1, (Kind::Float, Device::Cpu)).unsqueeze(1);
    let i = Tensor::arange_start(1, 25, (Kind::Float, Device::Cpu)).unsqueeze(0);
    let w = c * i / 100.0;
    let b = Tensor::arange(classes, (Kind::Float, Device::Cpu));
    (w, b)
}

#[test]
fn a_python_module_gives_its_logits_and_the_gradient_reaches_the_clips() {
    let (_dir, path) = module_file(LINEAR);
    let net = net(&path, 3);
    let x = Tensor::rand([2, 3, 2, 2, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let z = net.forward(&x, false);
    let (w, b) = weights(3);
    let want = x.detach().flatten(1, -1).matmul(&w.tr()) + &b;
    let diff = (&z - &want).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "logits differ by {diff}");
    // The same tensor crossed both ways: autograd reaches the Rust clips,
    // the backward pass running outside the GIL.
    z.sum(Kind::Float).backward();
    let g = x.grad();
    let want = w
        .sum_dim_intlist([0].as_slice(), false, Kind::Float)
        .reshape([1, 3, 2, 2, 2]);
    let diff = (&g - want.expand_as(&g)).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "∇ₓ differs by {diff}");
}

#[test]
fn its_parameters_and_buffers_are_the_modules_own_tensors() {
    let (_dir, path) = module_file(LINEAR);
    let net = net(&path, 2);
    let names: Vec<String> = net.named().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["fc.bias", "fc.weight", "seen"]);
    let trainable: Vec<String> = net.trainable().into_iter().map(|(n, _)| n).collect();
    assert_eq!(trainable, ["fc.bias", "fc.weight"]);
    // A step on advp's side moves the module: no copy in between.
    let x = Tensor::ones([1, 3, 2, 2, 2], (Kind::Float, Device::Cpu));
    let before = net.forward(&x, false);
    for (_, p) in net.trainable() {
        let _g = tch::no_grad_guard();
        let _ = p.shallow_clone().f_add_scalar_(1.0).unwrap();
    }
    let after = net.forward(&x, false);
    // Every weight and bias +1: each logit grows by Σx + 1 = 25.
    let diff = (&after - &before - 25.0).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "{diff}");
    // Train mode reaches the module (its buffer counts training passes).
    let _ = net.forward(&x, true);
    let _ = net.forward(&x, true);
    let seen = net
        .named()
        .into_iter()
        .find(|(n, _)| n == "seen")
        .unwrap()
        .1
        .double_value(&[]);
    assert_eq!(seen, 2.0);
}

#[test]
fn a_python_error_is_a_model_error_with_the_users_line() {
    let (_dir, path) = module_file(
        "import torch\n\ndef build(classes):\n    raise ValueError(f'no model for {classes} classes')\n",
    );
    let spec = ModelSpec {
        arch: Arch::Python {
            path: path.clone(),
            factory: "build".into(),
        },
        classes: 7,
        pretrained: None,
    };
    let e = Net::build(&spec, Device::Cpu).unwrap_err().to_string();
    assert!(
        e.contains("ValueError: no model for 7 classes (net.py:4 in build)"),
        "{e}"
    );
    let spec = ModelSpec {
        arch: Arch::Python {
            path: path.clone(),
            factory: "make".into(),
        },
        classes: 7,
        pretrained: None,
    };
    let e = Net::build(&spec, Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("has no `make`"), "{e}");
    let (_d2, other) = module_file("def build(classes):\n    return (1, 2)\n");
    let spec = ModelSpec {
        arch: Arch::Python {
            path: other,
            factory: "build".into(),
        },
        classes: 2,
        pretrained: None,
    };
    let e = Net::build(&spec, Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("returned a tuple, not a torch.nn.Module"), "{e}");
}

/// advp's PGD through the Python module gives the clips it gives on the
/// same function written with advp's own tensors: the bridge changes no
/// number (every element within 1e-6).
#[test]
fn pgd_through_a_python_module_equals_pgd_on_the_same_function_in_rust() {
    use advp::runtime::attacks::pgd::{Norm, Pgd};
    let (_dir, path) = module_file(LINEAR);
    let net = net(&path, 3);
    let (w, b) = weights(3);
    let rust = |v: &Tensor| v.flatten(1, -1).matmul(&w.tr()) + &b;
    let python = |v: &Tensor| net.forward(v, false);
    let x = Tensor::rand([4, 3, 2, 2, 2], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 1]);
    for norm in [Norm::Inf, Norm::L2] {
        let pgd = Pgd {
            norm,
            eps: 8.0,
            alpha: 2.0,
            steps: 10,
            random_start: false,
        };
        let a = pgd.run(&python, &x, &y).unwrap();
        let b = pgd.run(&rust, &x, &y).unwrap();
        let diff = (&a - &b).abs().max().double_value(&[]);
        assert!(diff <= 1e-6, "{norm:?}: {diff}");
        assert!(
            (&a - &x).abs().max().double_value(&[]) > 0.0,
            "PGD moved nothing"
        );
    }
}

/// A factory that draws from Python's `random` builds the same module for
/// the same seed and another for another: advp seeds Python's generators
/// from libtorch's.
#[test]
fn pythons_own_generator_is_seeded_with_the_node() {
    let (_dir, path) = module_file(
        "import random\nimport torch\nfrom torch import nn\n\nclass Net(nn.Module):\n    def __init__(self, classes):\n        super().__init__()\n        self.fc = nn.Linear(24, classes)\n        self.register_buffer('draw', torch.tensor(random.random()))\n\n    def forward(self, x):\n        return self.fc(x.flatten(1))\n\ndef build(classes):\n    return Net(classes)\n",
    );
    let draw = |seed: i64| {
        tch::manual_seed(seed);
        let n = net(&path, 2);
        let d = n.named().into_iter().find(|(k, _)| k == "draw").unwrap().1;
        d.double_value(&[])
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
}
