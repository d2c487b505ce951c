//! A careless user model is refused with a diagnostic that names the cause
//! and the fix: never a crash, never a wrong number.

use super::*;

/// Tiny TorchScript modules (mean over space-time, then a linear layer),
/// each with one common export mistake, saved in the run's folder.
const MODELS: &str = r#"
import torch, torch.nn as nn
from typing import List

class Plain(nn.Module):
    def __init__(self, classes: int = 3):
        super().__init__()
        self.fc = nn.Linear(3, classes)
    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3, 4)))

class NoGrad(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
    def forward(self, x):
        with torch.no_grad():
            return self.fc(x.mean(dim=(2, 3, 4)))

class Detach(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
    def forward(self, x):
        return self.fc(x.detach().mean(dim=(2, 3, 4)))

class LateNoGrad(nn.Module):
    """Differentiable on the probe's two clips, outside autograd on more."""
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
    def forward(self, x):
        if x.size(0) > 2:
            with torch.no_grad():
                return self.fc(x.mean(dim=(2, 3, 4)))
        return self.fc(x.mean(dim=(2, 3, 4)))

class Raises(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
    def forward(self, x):
        if x.size(2) != 8:
            raise ValueError("this model wants clips of 8 frames")
        return self.fc(x.mean(dim=(2, 3, 4)))

class Channels(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 3)
    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3, 4)))

class Nan(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3, 4))) * float("nan")

class NanAtTheEdge(nn.Module):
    """Finite on clips inside (0, 1), NaN once a pixel reaches 0 or 1."""
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
    def forward(self, x):
        z = self.fc(x.mean(dim=(2, 3, 4)))
        edge = ((x <= 0.0) | (x >= 1.0)).flatten(1).any(dim=1, keepdim=True)
        return z + torch.where(edge, torch.full_like(z, float("nan")), torch.zeros_like(z))

class Pairs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
    def forward(self, x):
        z = self.fc(x.mean(dim=(2, 3, 4)))
        return z, z

torch.manual_seed(0)
for name, m in [("plain", Plain()), ("wide", Plain(5)), ("nograd", NoGrad()),
                ("detach", Detach()), ("late", LateNoGrad()), ("raises", Raises()), ("channels", Channels()),
                ("nan", Nan()), ("edge", NanAtTheEdge()), ("pairs", Pairs())]:
    torch.jit.script(m.eval()).save(f"{name}.pt")
# A whole module pickled with torch.save: not TorchScript.
torch.save(Plain(), "pickled.pt")
"#;

/// A run folder with every module of [`MODELS`], or `None` (skipped) without
/// the venv's python.
fn models(test: &str) -> Option<Run> {
    let py = python_or_skip(test)?;
    let r = Run::new();
    // TorchScript reads the class source, so the script must be a file.
    r.write("export.py", MODELS);
    let o = Command::new(py)
        .arg("export.py")
        .current_dir(r.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    Some(r)
}

const DATA: &str =
    "data d = synthetic(classes: 3, frames: 4, size: 8, train: 12, test: 6, val: 3)\n";

/// Every `.lock` and `.partial` left in the run's cache.
fn leftovers(r: &Run) -> Vec<String> {
    let cache = r.dir.path().join(".advp/cache");
    std::fs::read_dir(cache)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".lock") || n.ends_with(".partial"))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `p.advp`, which must be refused before any work: exit 2, `code` in
/// the diagnostics, no raw libtorch text, nothing left in the cache.
fn refused(r: &Run, pipeline: &str, code: &str) -> String {
    r.write("p.advp", pipeline);
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(code), "{code} missing from:\n{err}");
    for raw in [
        "panicked",
        "Result::unwrap()",
        "Exception raised from",
        "frame #",
        "libtorch failed",
    ] {
        assert!(!err.contains(raw), "`{raw}` in:\n{err}");
    }
    assert_eq!(leftovers(r), Vec::<String>::new(), "{err}");
    words(&err)
}

#[test]
fn a_model_without_a_gradient_is_refused_before_any_work_not_a_crash() {
    let Some(r) = models("a_model_without_a_gradient_is_refused_before_any_work_not_a_crash")
    else {
        return;
    };
    // `torch.no_grad()` in forward: today a segmentation fault in the attack.
    let err = refused(
        &r,
        &format!(
            "{DATA}model net = torchscript(\"nograd.pt\", classes: 3)\neval e = robustness([net], d.test) {{\n  attack pgd(steps: 2)\n  budget sweep [0, 8]\n}}\n"
        ),
        "advp::run::no_gradient",
    );
    assert!(err.contains("torch.no_grad()"), "{err}");
    assert!(err.contains("nograd.pt"), "{err}");
    // Training it is refused the same way.
    let err = refused(
        &r,
        &format!(
            "{DATA}model net = torchscript(\"nograd.pt\", classes: 3)\ntrain t = standard(net, d, epochs: 1, batch: 4)\n"
        ),
        "advp::run::no_gradient",
    );
    assert!(err.contains("torch.no_grad()"), "{err}");
    // `.detach()` in forward under `loss_surface`: the output has a gradient
    // (through the weights) but none reaches the input.
    let err = refused(
        &r,
        &format!(
            "{DATA}model net = torchscript(\"detach.pt\", classes: 3)\nanalyze s = loss_surface(net, d.test, samples: 4) {{\n  attack pgd(steps: 1)\n  budget fixed 8\n  alpha grid [1, 2]\n  steps grid [1, 2]\n}}\n"
        ),
        "advp::run::no_gradient",
    );
    assert!(err.contains(".detach()"), "{err}");
    // A clean-only evaluation differentiates nothing: the same model runs.
    r.write(
        "p.advp",
        &format!(
            "{DATA}model net = torchscript(\"detach.pt\", classes: 3)\neval e = robustness([net], d.test) {{\n  attacks each {{none}}\n}}\nreport e to \"e.json\"\n"
        ),
    );
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn an_attack_that_finds_no_gradient_after_the_probe_stops_its_node_with_the_cause() {
    let Some(r) =
        models("an_attack_that_finds_no_gradient_after_the_probe_stops_its_node_with_the_cause")
    else {
        return;
    };
    // The probe's two clips have a gradient; the batch of six has none.
    r.write(
        "p.advp",
        &format!(
            "{DATA}model net = torchscript(\"late.pt\", classes: 3)\neval e = robustness([net], d.test, protocol: independent) {{\n  attack pgd(steps: 2)\n  budget sweep [0, 8]\n}}\n"
        ),
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("advp::run::no_gradient"), "{err}");
    let err = words(&err);
    assert!(
        err.contains("`e` stopped: the model's output carries no gradient to the input"),
        "{err}"
    );
    assert!(err.contains("torch.no_grad()"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_forward_that_fails_shows_the_users_own_error() {
    let Some(r) = models("a_forward_that_fails_shows_the_users_own_error") else {
        return;
    };
    let eval = |file: &str| {
        format!(
            "{DATA}model net = torchscript(\"{file}\", classes: 3)\neval e = robustness([net], d.test) {{\n  attack pgd(steps: 2)\n  budget sweep [0, 8]\n}}\n"
        )
    };
    // The user's own `raise`, with its message and the line of their code.
    let err = refused(&r, &eval("raises.pt"), "advp::run::forward_failed");
    assert!(
        err.contains("ValueError: this model wants clips of 8 frames"),
        "{err}"
    );
    assert!(err.contains("raise ValueError"), "{err}");
    assert!(!err.contains("`classes`"), "{err}");
    // A layer that does not fit the clips' channels: a shape error, said so.
    let err = refused(&r, &eval("channels.pt"), "advp::run::shape_mismatch");
    assert!(err.contains("cannot be multiplied"), "{err}");
    assert!(err.contains("3×4×8×8"), "{err}");
    // A tuple instead of one tensor of logits.
    let err = refused(&r, &eval("pairs.pt"), "advp::run::bad_output");
    assert!(err.contains("tuple"), "{err}");
}

#[test]
fn a_wrong_class_count_is_refused_with_both_numbers() {
    let Some(r) = models("a_wrong_class_count_is_refused_with_both_numbers") else {
        return;
    };
    // Five logits out, three classes declared and in the data.
    let err = refused(
        &r,
        &format!(
            "{DATA}model net = torchscript(\"wide.pt\", classes: 3)\neval e = robustness([net], d.test) {{\n  attack pgd(steps: 2)\n}}\n"
        ),
        "advp::run::shape_mismatch",
    );
    assert!(err.contains("5 logits"), "{err}");
    assert!(err.contains("3 classes"), "{err}");
    // Three logits and three declared, but four classes in the data.
    let err = refused(
        &r,
        "data d = synthetic(classes: 4, frames: 4, size: 8, train: 12, test: 6, val: 3)\nmodel net = torchscript(\"plain.pt\", classes: 3)\ntrain t = standard(net, d, epochs: 1, batch: 4)\n",
        "advp::run::shape_mismatch",
    );
    assert!(err.contains("classes: 3"), "{err}");
    assert!(err.contains("4 classes"), "{err}");
    // One class is no classifier: a check error, before the model is read.
    r.write(
        "p.advp",
        &format!("{DATA}model net = torchscript(\"plain.pt\", classes: 1)\n"),
    );
    let o = r.advp(&["check", "p.advp"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("advp::check::out_of_range"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_pickled_module_is_not_taken_for_torchscript() {
    let Some(r) = models("a_pickled_module_is_not_taken_for_torchscript") else {
        return;
    };
    let err = refused(
        &r,
        &format!(
            "{DATA}model net = torchscript(\"pickled.pt\", classes: 3)\neval e = robustness([net], d.test) {{\n  attack pgd(steps: 2)\n}}\n"
        ),
        "advp::run::not_torchscript",
    );
    assert!(err.contains("torch.save"), "{err}");
    assert!(err.contains("torch.jit.script(model)"), "{err}");
    assert!(err.contains("torch.jit.trace(model, example)"), "{err}");
}

#[test]
fn non_finite_logits_are_refused_clean_and_flagged_under_attack() {
    let Some(r) = models("non_finite_logits_are_refused_clean_and_flagged_under_attack") else {
        return;
    };
    // NaN on clean clips: no accuracy of a third is printed, the run is refused.
    let err = refused(
        &r,
        &format!(
            "{DATA}model net = torchscript(\"nan.pt\", classes: 3)\neval e = robustness([net], d.test) {{\n  attack pgd(steps: 2)\n  budget sweep [0, 8]\n}}\n"
        ),
        "advp::run::bad_output",
    );
    assert!(err.contains("NaN"), "{err}");
    // Finite on the clean clips (inside (0, 1)), NaN once FGSM at ε = 255
    // pushes pixels to 0 or 1: every attacked clip is counted fooled (not
    // right by the chance of an argmax over NaN), and the evaluation is
    // flagged with the count.
    tch::manual_seed(3);
    let x = tch::Tensor::rand([6, 3, 4, 8, 8], (tch::Kind::Float, tch::Device::Cpu)) * 0.6 + 0.2;
    let y = tch::Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2]);
    tch::Tensor::write_safetensors(
        &[("x_test", &x), ("y_test", &y)],
        r.dir.path().join("clips.safetensors"),
    )
    .unwrap();
    r.write(
        "p.advp",
        "data d = tensors(path: \"clips.safetensors\")\nmodel net = torchscript(\"edge.pt\", classes: 3)\neval e = robustness([net], d.test) {\n  attack fgsm\n  budget sweep [0, 255]\n}\nreport e to \"e.json\", \"e.md\"\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    let err = words(&stderr(&o));
    assert!(o.status.success(), "{err}");
    assert!(err.contains("warning: net: non-finite logits"), "{err}");
    let v: serde_json::Value =
        serde_json::from_slice(&read(r.dir.path().join("out/e.json"))).unwrap();
    let flag = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "non_finite")
        .unwrap_or_else(|| panic!("no non_finite flag: {v}"));
    let at = |e: f64| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["eps"].as_f64() == Some(e))
            .unwrap()["correct"]
            .as_u64()
            .unwrap()
    };
    // Worst case: the clips right on clean inputs are attacked, and each
    // of them gave NaN.
    assert!(at(0.0) > 0, "{v}");
    assert_eq!(flag["clips"].as_u64(), Some(at(0.0)), "{v}");
    assert_eq!(flag["of"], 6, "{v}");
    assert_eq!(at(255.0), 0, "{v}");
    let md = String::from_utf8(read(r.dir.path().join("out/e.md"))).unwrap();
    assert!(md.contains("**Warning** (`non_finite`, `net`)"), "{md}");
}
