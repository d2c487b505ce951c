//! `python(…)` models: a user's `nn.Module` file, no export step, through
//! training, evaluation, reports, the cache and the probe.

use super::*;

/// A small conv net with BatchNorm (buffers), and two careless ones.
pub(super) const NET: &str = r#"
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, classes, width=4):
        super().__init__()
        self.conv = nn.Conv3d(3, width, 3, padding=1)
        self.bn = nn.BatchNorm3d(width)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        return self.fc(h.mean(dim=(2, 3, 4)))

def build(classes):
    return Net(classes)

class NoGrad(Net):
    def forward(self, x):
        with torch.no_grad():
            return super().forward(x)

def no_grad(classes):
    return NoGrad(classes)

class Pair(Net):
    def forward(self, x):
        z = super().forward(x)
        return z, z

def pair(classes):
    return Pair(classes)

def raises(classes):
    class Fails(Net):
        def forward(self, x):
            raise RuntimeError("this model wants 16 frames")
    return Fails(classes)
"#;

const PIPELINE: &str = r#"data d = synthetic(classes: 3, frames: 4, size: 8, train: 24, test: 12, val: 6)
model net = python(path: "net.py", classes: d.classes)
train at = adversarial(net, d, attack: pgd(steps: 2), epochs: 2, batch: 8) {
  budget fixed 4
}
eval e = robustness([net, at], d.test, batch: 6) {
  attack pgd(steps: 3)
  budget sweep [0, 4]
}
report e to "e.json"
report at weights to "w.safetensors"
"#;

#[test]
fn a_python_model_trains_evaluates_reports_and_is_cached() {
    let r = Run::new();
    r.write("net.py", NET);
    r.write("p.advp", PIPELINE);
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = rows_in(r.dir.path());
    // Two models × two budgets.
    assert_eq!(rows.as_array().map(Vec::len), Some(4), "{rows}");
    // The weights report holds the module's own state_dict names.
    let w = tch::Tensor::read_safetensors(r.dir.path().join("out/w.safetensors")).unwrap();
    let names: Vec<&str> = w.iter().map(|(n, _)| n.as_str()).collect();
    for n in [
        "conv.weight",
        "bn.running_mean",
        "bn.num_batches_tracked",
        "fc.bias",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    // The training moved the BatchNorm statistics (train mode reached the
    // module) and the cache keeps everything.
    let mean = w.iter().find(|(n, _)| n == "bn.running_mean").unwrap();
    assert!(mean.1.abs().sum(tch::Kind::Float).double_value(&[]) > 0.0);
    let o = r.advp(&["run", "p.advp", "--out", "out"]);
    assert!(stderr(&o).contains("0 node(s) ran"), "{}", stderr(&o));
    // Editing the Python file is a new model: the nodes run again.
    r.write("net.py", &NET.replace("width=4", "width=5"));
    let o = r.advp(&["run", "p.advp", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("0 node(s) ran"), "{}", stderr(&o));
}

fn refused(r: &Run, factory: &str, code: &str) -> String {
    r.write(
        "p.advp",
        &PIPELINE.replace(
            "python(path: \"net.py\",",
            &format!("python(path: \"net.py\", factory: \"{factory}\","),
        ),
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(code), "{code} missing from:\n{err}");
    for raw in ["panicked", "Traceback", "frame #", "export"] {
        assert!(!err.contains(raw), "`{raw}` in:\n{err}");
    }
    err
}

#[test]
fn a_careless_python_model_is_refused_before_any_work_with_its_own_words() {
    let r = Run::new();
    r.write("net.py", NET);
    let err = refused(&r, "no_grad", "advp::run::no_gradient");
    assert!(err.contains("torch.no_grad()"), "{err}");
    let err = refused(&r, "pair", "advp::run::bad_output");
    assert!(err.contains("a tuple"), "{err}");
    // A tuple cannot name its logits: no `output:` advice for it.
    assert!(!err.contains("output:"), "{err}");
    let err = refused(&r, "raises", "advp::run::forward_failed");
    assert!(
        words(&err).contains("RuntimeError: this model wants 16 frames (net.py:38 in forward)"),
        "{err}"
    );
    let err = refused(&r, "missing", "advp::run::node_failed");
    assert!(err.contains("has no `missing`"), "{err}");
    assert!(!r.dir.path().join(".advp/cache").exists() || leftovers_empty(&r));
}

fn leftovers_empty(r: &Run) -> bool {
    std::fs::read_dir(r.dir.path().join(".advp/cache"))
        .map(|d| d.flatten().count() == 0)
        .unwrap_or(true)
}

/// `advp check` says which Python and torch a `python(…)` model runs on,
/// and refuses a torch other than the libtorch advp links (two copies of
/// libtorch in one process would share nothing).
#[test]
fn check_names_the_python_and_torch_and_refuses_another_torch() {
    let r = Run::new();
    r.write("net.py", NET);
    r.write("p.advp", PIPELINE);
    let o = r.advp(&["check", "p.advp"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("python(…) models run on Python 3."), "{err}");
    assert!(err.contains("with torch 2.13.0"), "{err}");
    // A site-packages whose `torch` is another version.
    r.write("site/torch/__init__.py", "__version__ = '1.0.0'\n");
    let site = r.dir.path().join("site");
    let o = r.advp_with(&["check", "p.advp"], &[("ADVP_TORCH_SITE", site.as_ref())]);
    let err = words(&stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("advp::run::cannot_run"), "{err}");
    assert!(
        err.contains("Python's torch (from the site-packages")
            && err.contains("is 1.0.0 and advp runs on libtorch 2.13.0"),
        "{err}"
    );
    // `ADVP_PYTHON` names the interpreter whose packages are used: the
    // venv's own works; one of another Python version is refused.
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let o = r.advp_with(&["check", "p.advp"], &[("ADVP_PYTHON", venv.as_ref())]);
    let err = words(&stderr(&o));
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("packages from the interpreter ADVP_PYTHON="),
        "{err}"
    );
    r.write(
        "old-python",
        "#!/bin/sh\necho '{\"v\": [2, 7], \"path\": []}'\n",
    );
    let old = r.dir.path().join("old-python");
    std::fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = r.advp_with(&["check", "p.advp"], &[("ADVP_PYTHON", old.as_ref())]);
    let err = words(&stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is Python 2.7, and advp embeds Python 3."),
        "{err}"
    );
}

/// A package of the user's that the model file imports, listed in
/// `sources`: its contents are in the cache key (an edit that keeps the
/// size and the time still runs the model again; a touch does not), and
/// the factory's own arguments reach it.
#[test]
fn sources_and_factory_arguments_are_part_of_the_model() {
    let r = Run::new();
    r.write(
        "net.py",
        "from blocks.head import Head\nfrom torch import nn\n\nclass Net(nn.Module):\n    def __init__(self, classes, width, scale):\n        super().__init__()\n        self.conv = nn.Conv3d(3, width, 3, padding=1)\n        self.head = Head(width, classes, scale)\n\n    def forward(self, x):\n        return self.head(self.conv(x).mean(dim=(2, 3, 4)))\n\ndef build(classes, width, scale):\n    assert isinstance(width, int) and isinstance(scale, float), (width, scale)\n    return Net(classes, width, scale)\n",
    );
    r.write("blocks/__init__.py", "");
    // A file of the package that is a link to another folder's.
    r.write("shared/extra.py", "SCALE = 1\n");
    std::os::unix::fs::symlink("../shared/extra.py", r.dir.path().join("blocks/extra.py")).unwrap();
    let head = "from torch import nn\n\nclass Head(nn.Module):\n    def __init__(self, width, classes, scale):\n        super().__init__()\n        self.fc = nn.Linear(width, classes)\n        self.scale = scale\n\n    def forward(self, h):\n        return self.fc(h) * self.scale\n";
    r.write("blocks/head.py", head);
    r.write(
        "p.advp",
        "data d = synthetic(classes: 3, frames: 4, size: 8, train: 12, test: 6, val: 3)\nmodel net = python(path: \"net.py\", classes: d.classes, sources: [\"blocks/\"], width: 4, scale: 1.0, mean: [0.5], std: [0.25])\neval e = robustness([net], d.test, batch: 6) {\n  attack pgd(steps: 2)\n  budget sweep [0, 4]\n}\nreport e to \"e.json\"\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let file = r.dir.path().join("blocks/head.py");
    let when = std::fs::metadata(&file).unwrap().modified().unwrap();
    // A touch changes nothing the model is.
    let f = std::fs::File::options().write(true).open(&file).unwrap();
    f.set_modified(when + std::time::Duration::from_secs(60))
        .unwrap();
    drop(f);
    let o = r.advp(&["run", "p.advp", "--out", "out"]);
    assert!(stderr(&o).contains("0 node(s) ran"), "{}", stderr(&o));
    // The same size, the time put back: the contents decide.
    r.write(
        "blocks/head.py",
        &head.replace("* self.scale", "/ self.scale"),
    );
    let f = std::fs::File::options().write(true).open(&file).unwrap();
    f.set_modified(when).unwrap();
    drop(f);
    let o = r.advp(&["run", "p.advp", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("0 node(s) ran"), "{}", stderr(&o));
    // An edit to a linked file of the package runs the model again.
    r.write("shared/extra.py", "SCALE = 2\n");
    let o = r.advp(&["run", "p.advp", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("0 node(s) ran"), "{}", stderr(&o));
    // A factory argument changed for one run, with its type (the factory
    // asserts `width` is an int and `scale` a float).
    let o = r.advp(&["run", "p.advp", "--quiet", "--set", "net.width=6"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = r.advp(&["run", "p.advp", "--quiet", "--set", "net.width=6.5"]);
    assert!(!o.status.success());
    assert!(words(&stderr(&o)).contains("(6.5, 1.0)"), "{}", stderr(&o));
}

/// Two Python models in one pipeline, each node in its own process
/// (`--jobs 2`), in bf16 (autocast covers the Python forward), one behind
/// a defense: the same table as one process in fp32 gives where the
/// numbers must agree (the clean column of the bf16 run is its own).
#[test]
fn python_models_run_in_node_processes_behind_defenses_and_in_bf16() {
    let r = Run::new();
    r.write("net.py", NET);
    r.write(
        "other.py",
        "import torch\nfrom torch import nn\n\nclass Mlp(nn.Module):\n    def __init__(self, classes, hidden):\n        super().__init__()\n        self.f = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 8 * 8, hidden), nn.ReLU(), nn.Linear(hidden, classes))\n        self.register_buffer('autocast', torch.zeros(()))\n\n    def forward(self, x):\n        self.autocast.fill_(float(torch.is_autocast_enabled(x.device.type)))\n        return self.f(x)\n\ndef make(classes, hidden):\n    return Mlp(classes, hidden)\n",
    );
    let text = |precision: &str| {
        format!(
            "{precision}data d = synthetic(classes: 3, frames: 4, size: 8, train: 24, test: 12, val: 6)\nmodel a = python(\"net.py\", classes: d.classes)\nmodel b = python(\"other.py\", factory: \"make\", classes: d.classes, hidden: 16)\ndefense v = video_compression(crf: 23)\ntrain ta = standard(a, d, epochs: 1, batch: 8)\ntrain tb = standard(b, d, epochs: 1, batch: 8)\neval e = robustness([ta, tb, v >> tb], d.test, batch: 6) {{\n  attack pgd(steps: 2)\n  budget sweep [0, 4]\n}}\nreport e to \"e.json\"\nreport tb weights to \"tb.safetensors\"\n"
        )
    };
    let autocast = |r: &Run| {
        let w = tch::Tensor::read_safetensors(r.dir.path().join("out/tb.safetensors")).unwrap();
        w.iter()
            .find(|(n, _)| n == "autocast")
            .unwrap()
            .1
            .double_value(&[])
    };
    r.write("p.advp", &text(""));
    let o = r.advp(&["run", "p.advp", "--quiet", "--jobs", "2", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = rows_in(r.dir.path());
    assert_eq!(rows.as_array().map(Vec::len), Some(6), "{rows}");
    // The same pipeline in one process: the same table.
    let one = Run::new();
    for f in ["net.py", "other.py", "p.advp"] {
        std::fs::copy(r.dir.path().join(f), one.dir.path().join(f)).unwrap();
    }
    let o = one.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rows, rows_in(one.dir.path()));
    assert_eq!(autocast(&r), 0.0);
    // In bf16 the Python forward runs under autocast, and every number is
    // finite and in range.
    r.write("p.advp", &text("precision bf16\n"));
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = rows_in(r.dir.path());
    assert_eq!(rows.as_array().map(Vec::len), Some(6), "{rows}");
    for row in rows.as_array().unwrap() {
        let acc = row["accuracy"].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&acc), "{row}");
    }
    assert_eq!(autocast(&r), 1.0, "the Python forward ran outside autocast");
}

/// A preset of a python model keeps its factory arguments; an override of
/// a whole kind (`model.width`) reaches the built-ins that declare it, not
/// the factories; an argument a letter from one of advp's own is warned
/// about; `mean` of another length than the channels is refused before any
/// work, naming the arguments.
#[test]
fn presets_overrides_and_typos_of_python_arguments() {
    let r = Run::new();
    r.write(
        "mlp.py",
        "from torch import nn\n\ndef make(classes, hidden):\n    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 8 * 8, hidden), nn.ReLU(), nn.Linear(hidden, classes))\n",
    );
    let text = |extra: &str| {
        format!(
            "data d = synthetic(classes: 3, frames: 4, size: 8, train: 12, test: 6, val: 3)\nmodel a = python(\"mlp.py\", factory: \"make\", classes: d.classes, hidden: 16{extra})\nmodel b = a(classes: d.classes)\nmodel c = c3d_small(classes: d.classes, width: 2)\neval e = robustness([b, c], d.test, batch: 6) {{\n  budget sweep [0]\n}}\nreport e to \"e.json\"\n"
        )
    };
    r.write("p.advp", &text(""));
    let o = r.advp(&["run", "p.advp", "--quiet", "--set", "model.width=4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A typo of an argument of advp's is a warning, and the run goes on.
    r.write("p.advp", &text(", pretrianed: \"w.pth\""));
    let o = r.advp(&["check", "p.advp"]);
    let err = words(&stderr(&o));
    assert!(err.contains("advp::check::factory_argument"), "{err}");
    assert!(err.contains("did you mean `pretrained`?"), "{err}");
    // Two values of `mean` for clips of three channels.
    r.write("p.advp", &text(", mean: [0.5, 0.5]"));
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    let err = words(&stderr(&o));
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("advp::run::shape_mismatch"), "{err}");
    assert!(
        err.contains("`mean` has 2 values and the clips have 3 channels"),
        "{err}"
    );
    assert!(!err.contains("fix forward()"), "{err}");
}
