//! The Python bridge (`python(…)` models): a user's `nn.Module` runs in
//! advp's process on its libtorch. Checked against closed forms: a linear
//! module whose weights the factory sets, so its logits, its gradient with
//! respect to the clips and the effect of an optimizer step are known
//! without running Python.
#![cfg(feature = "python")]

use advp::runtime::models::python_spec::{Layout, PySource, PyValue, PythonSpec};
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

/// `factory` of the file at `path`, with nothing else said.
fn file_spec(path: impl Into<std::path::PathBuf>, factory: &str) -> Arch {
    Arch::Python(Box::new(PythonSpec::new(
        PySource::File(path.into()),
        factory,
    )))
}

fn build(arch: Arch, classes: i64, pretrained: Option<std::path::PathBuf>) -> Net {
    let spec = ModelSpec {
        arch,
        classes,
        pretrained,
    };
    Net::build(&spec, Device::Cpu).unwrap_or_else(|e| panic!("{e}"))
}

fn net(path: &std::path::Path, classes: i64) -> Net {
    let spec = ModelSpec {
        arch: file_spec(path.to_path_buf(), "build"),
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
        arch: file_spec(path.clone(), "build"),
        classes: 7,
        pretrained: None,
    };
    let e = Net::build(&spec, Device::Cpu).unwrap_err().to_string();
    assert!(
        e.contains("ValueError: no model for 7 classes (net.py:4 in build)"),
        "{e}"
    );
    let spec = ModelSpec {
        arch: file_spec(path.clone(), "make"),
        classes: 7,
        pretrained: None,
    };
    let e = Net::build(&spec, Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("has no `make`"), "{e}");
    let (_d2, other) = module_file("def build(classes):\n    return (1, 2)\n");
    let spec = ModelSpec {
        arch: file_spec(other, "build"),
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

/// The factory gets the `.advp` file's further arguments with Python's
/// own types (a whole number an `int`, `0.5` a `float`, lists as lists),
/// and the class count as `num_classes` where it takes that name.
#[test]
fn the_factory_gets_its_arguments_with_pythons_types() {
    let (_dir, path) = module_file(
        "import torch\nfrom torch import nn\n\nclass Net(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n        self.fc = nn.Linear(24, n)\n\n    def forward(self, x):\n        return self.fc(x.flatten(1))\n\ndef build(num_classes, depth, rate, name, flag, sizes):\n    got = (type(depth).__name__, depth, type(rate).__name__, rate, name, flag, sizes)\n    want = ('int', 18, 'float', 0.5, 'r(2+1)d', True, [1, 2.5, 'x', [False]])\n    assert got == want, got\n    return Net(num_classes)\n",
    );
    let mut spec = PythonSpec::new(PySource::File(path), "build");
    spec.kwargs = vec![
        ("depth".into(), PyValue::Int(18)),
        ("rate".into(), PyValue::Float(0.5)),
        ("name".into(), PyValue::Str("r(2+1)d".into())),
        ("flag".into(), PyValue::Bool(true)),
        (
            "sizes".into(),
            PyValue::List(vec![
                PyValue::Int(1),
                PyValue::Float(2.5),
                PyValue::Str("x".into()),
                PyValue::List(vec![PyValue::Bool(false)]),
            ]),
        ),
    ];
    let net = build(Arch::Python(Box::new(spec.clone())), 5, None);
    let x = Tensor::rand([2, 3, 2, 2, 2], (Kind::Float, Device::Cpu));
    assert_eq!(net.forward(&x, false).size(), [2, 5]);
    // A mistyped argument fails in the user's own assert, with its line.
    spec.kwargs[0].1 = PyValue::Float(18.0);
    let e = Net::build(
        &ModelSpec {
            arch: Arch::Python(Box::new(spec)),
            classes: 5,
            pretrained: None,
        },
        Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("AssertionError") && e.contains("net.py:15 in build"),
        "{e}"
    );
}

/// A module laid out N×T×C×H×W with its own normalisation gets exactly
/// (x − mean) / std, transposed: the forward here returns its input's
/// first values, so what it received is read back.
#[test]
fn mean_std_and_layout_reach_forward_inside_advps_graph() {
    let (_dir, path) = module_file(
        "import torch\nfrom torch import nn\n\nclass Echo(nn.Module):\n    def __init__(self, classes):\n        super().__init__()\n        self.k = classes\n        self.w = nn.Parameter(torch.ones(()))\n\n    def forward(self, x):\n        return {'scores': x.flatten(1)[:, :self.k] * self.w, 'shape': torch.tensor(x.shape)}\n\ndef build(classes):\n    return Echo(classes)\n",
    );
    let mut spec = PythonSpec::new(PySource::File(path), "build");
    spec.layout = Layout::Ntchw;
    spec.mean = Some(vec![0.25, 0.5, 0.75]);
    spec.std = Some(vec![0.5]);
    spec.output = Some("scores".into());
    let classes = 24;
    let net = build(Arch::Python(Box::new(spec.clone())), classes, None);
    let x = Tensor::rand([2, 3, 2, 2, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let z = net.forward(&x, false);
    let mean = Tensor::from_slice(&[0.25f32, 0.5, 0.75]).reshape([1, 3, 1, 1, 1]);
    let want = ((x.detach() - mean) / 0.5)
        .permute([0, 2, 1, 3, 4])
        .flatten(1, -1);
    let diff = (&z - &want).abs().max().double_value(&[]);
    assert!(diff < 1e-6, "forward saw other clips: {diff}");
    // ε stays in pixels: ∂z/∂x is 1/std where z reads x.
    z.sum(Kind::Float).backward();
    let g = x.grad();
    assert!((g - 2.0).abs().max().double_value(&[]) < 1e-6);
    // Without `output`, a dict is refused with its keys named.
    spec.output = None;
    let net = build(Arch::Python(Box::new(spec.clone())), classes, None);
    let e = net.try_forward(&x.detach()).unwrap_err().text;
    assert!(
        e.contains("returns a dict") && e.contains("`scores`, `shape`") && e.contains("output:"),
        "{e}"
    );
    spec.output = Some("shape".into());
    let net = build(Arch::Python(Box::new(spec.clone())), classes, None);
    let z = net.try_forward(&x.detach()).unwrap();
    assert_eq!(Vec::<i64>::try_from(&z).unwrap(), [2, 2, 3, 2, 2]);
    spec.output = Some("probs".into());
    let net = build(Arch::Python(Box::new(spec)), classes, None);
    let e = net.try_forward(&x.detach()).unwrap_err().text;
    assert!(e.contains("has no `probs`"), "{e}");
}

/// `pretrained:` reads a PyTorch checkpoint in Python with
/// `torch.load(weights_only=True)`: a `state_dict` inside a checkpoint
/// dict (Hara et al.'s layout) with DataParallel's `module.` prefix loads
/// by name and gives the saved module's logits.
#[test]
fn a_pytorch_checkpoint_loads_as_pretrained_weights() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("save_30.pth");
    let path = dir.path().join("net.py");
    std::fs::write(
        &path,
        format!(
            "{LINEAR}\ndef saved(classes):\n    m = Net(classes)\n    with torch.no_grad():\n        m.fc.weight.mul_(-2)\n    sd = {{'module.' + k: v for k, v in m.state_dict().items()}}\n    torch.save({{'epoch': 30, 'arch': 'linear', 'state_dict': sd}}, {:?})\n    return m\n\ndef renamed(classes):\n    m = nn.Module()\n    m.head = nn.Linear(24, classes)\n    return m\n",
            ckpt.display().to_string()
        ),
    )
    .unwrap();
    let saved = build(file_spec(path.clone(), "saved"), 3, None);
    let loaded = build(file_spec(path.clone(), "build"), 3, Some(ckpt.clone()));
    let plain = build(file_spec(path.clone(), "build"), 3, None);
    let x = Tensor::rand([2, 3, 2, 2, 2], (Kind::Float, Device::Cpu));
    let (a, b, c) = (
        saved.forward(&x, false),
        loaded.forward(&x, false),
        plain.forward(&x, false),
    );
    assert!((&a - &b).abs().max().double_value(&[]) < 1e-6);
    assert!((&a - &c).abs().max().double_value(&[]) > 0.1);
    // A checkpoint of another model names each misfit.
    let e = Net::build(
        &ModelSpec {
            arch: file_spec(path, "renamed"),
            classes: 3,
            pretrained: Some(ckpt),
        },
        Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`head.weight`") && e.contains("`fc.weight`"),
        "{e}"
    );
}

/// A library's factory by its dotted module name, told the class count as
/// `num_classes` (torchvision's convention behind `**kwargs` too).
#[test]
fn an_importable_modules_factory_builds_the_model() {
    let mut spec = PythonSpec::new(PySource::Module("torch.nn".into()), "Linear");
    spec.kwargs = vec![("in_features".into(), PyValue::Int(24))];
    // `Linear(in_features, out_features)` takes neither name: refused.
    let e = Net::build(
        &ModelSpec {
            arch: Arch::Python(Box::new(spec)),
            classes: 3,
            pretrained: None,
        },
        Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("takes neither `classes` nor `num_classes`") && e.contains("`out_features`"),
        "{e}"
    );
}
