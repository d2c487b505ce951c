"""The peers `benches/eval_sweep.rs` times advp's evaluation against.

`export`: builds advp's C3D-small in PyTorch (`pgd.py`), loads the weights advp
trained, and saves it as TorchScript: the one module every side evaluates.

`time`: a budget sweep of PGD-10 (L∞, α = 2/255, no random start) over the
clips, as a user writes it with each tool, one ε after another from scratch
(the paper's protocol), final iterate counted:
- `plain`: the PyTorch eager loop of `pgd.py`;
- `torchattacks`: `torchattacks.PGD` per ε. It reads images (`x.shape[1:]`
  as C, H, W), so clips go in as N×(C·T)×H×W through a wrapper that reshapes
  them back for the model — what a user must do for video;
- `art`: ART's `ProjectedGradientDescent` on a `PyTorchClassifier` (numpy in,
  numpy out), with the clips' own 5-D shape;
- `autoattack`: torchattacks' `AutoAttack(version="standard")` at one ε, its
  members set to the reference's 100 iterations and Square's unstretched p
  schedule, with the same 4-D reshape.
Warm-up once, then `--repeats` timed sweeps inside the process (start-up and
imports stay out); prints one JSON line: the median seconds and the accuracy
per ε.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgd import C3dSmall, pgd_inf, read_safetensors  # noqa: E402


class AsImages(nn.Module):
    """Clips seen as N×(C·T)×H×W images, for image-only tools."""

    def __init__(self, model, shape):
        super().__init__()
        self.model = model
        self.shape = shape  # C, T, H, W

    def forward(self, v):
        return self.model(v.reshape(v.shape[0], *self.shape))


def export(a):
    model = C3dSmall(a.width, a.classes)
    weights = read_safetensors(a.weights)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"weights do not fit C3D-small: missing {missing}, unexpected {unexpected}")
    # Traced, not scripted: the module's forward reads layers by name.
    example = torch.rand(2, 3, 8, 32, 32)
    torch.jit.trace(model.eval(), example).save(a.out)
    print(json.dumps({"wrote": a.out}))


def sweep(tool, model, x, y, budgets, steps, batch, eps_aa):
    """Accuracy per ε (a dict), attacking every clip at every ε."""
    shape = tuple(x.shape[1:])
    images = AsImages(model, shape).eval()
    acc = {}
    if tool == "art":
        from art.attacks.evasion import ProjectedGradientDescent
        from art.estimators.classification import PyTorchClassifier

        classifier = PyTorchClassifier(
            model=model,
            loss=nn.CrossEntropyLoss(),
            input_shape=shape,
            nb_classes=int(y.max()) + 1,
            clip_values=(0.0, 1.0),
        )
    for e in budgets:
        if tool == "autoattack":
            import torchattacks

            atk = torchattacks.AutoAttack(
                images, norm="Linf", eps=eps_aa / 255, version="standard",
                n_classes=int(y.max()) + 1, seed=0,
            )
            # The reference's settings: 100 iterations (torchattacks' members
            # default to 10) and Square's p schedule not stretched to its 5000
            # queries (AutoAttack's `resc_schedule=False`; torchattacks: True).
            for member in atk._autoattack.attacks:
                if hasattr(member, "steps"):
                    member.steps = 100
                if hasattr(member, "rescale_schedule"):
                    member.rescale_schedule = False
        correct = 0
        for i in range(0, x.shape[0], batch):
            xb, yb = x[i : i + batch], y[i : i + batch]
            if e == 0 and tool != "autoattack":
                adv = xb
            elif tool == "plain":
                adv = pgd_inf(model, xb, yb, e, 2.0, steps)
            elif tool == "torchattacks":
                import torchattacks

                atk = torchattacks.PGD(images, eps=e / 255, alpha=2 / 255, steps=steps, random_start=False)
                adv = atk(xb.reshape(xb.shape[0], -1, *shape[2:]), yb).reshape(xb.shape)
            elif tool == "art":
                pgd = ProjectedGradientDescent(
                    classifier, norm=float("inf"), eps=e / 255, eps_step=2 / 255,
                    max_iter=steps, num_random_init=0, batch_size=batch, verbose=False,
                )
                adv = torch.from_numpy(pgd.generate(xb.numpy(), yb.numpy()))
            elif tool == "autoattack":
                adv = atk(xb.reshape(xb.shape[0], -1, *shape[2:]), yb).reshape(xb.shape)
            with torch.no_grad():
                correct += int((model(adv).argmax(1) == yb).sum())
        acc[str(eps_aa if tool == "autoattack" else e)] = correct / x.shape[0]
        if tool == "autoattack":
            break
    return acc


def timed(a):
    torch.set_num_threads(a.threads)
    model = torch.jit.load(a.model).eval()
    clips = read_safetensors(a.clips)
    x, y = clips["clean"][: a.clips_n].float(), clips["labels"][: a.clips_n].long()
    budgets = [float(b) for b in a.budgets.split(",")]
    if a.tool == "art":
        try:
            import art  # noqa: F401
        except ImportError:
            print(json.dumps({"skipped": "no adversarial-robustness-toolbox in the venv"}))
            return
    if a.tool != "autoattack":  # AutoAttack is long: its one run is timed cold
        acc = sweep(a.tool, model, x, y, budgets, a.steps, a.batch, a.eps)  # warm-up
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        acc = sweep(a.tool, model, x, y, budgets, a.steps, a.batch, a.eps)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": statistics.median(times), "accuracy": acc}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--weights", required=True)
    e.add_argument("--width", type=int, required=True)
    e.add_argument("--classes", type=int, required=True)
    e.add_argument("--out", required=True)
    t = sub.add_parser("time")
    t.add_argument("--tool", choices=["plain", "torchattacks", "art", "autoattack"], required=True)
    t.add_argument("--model", required=True)
    t.add_argument("--clips", required=True)
    t.add_argument("--clips-n", type=int, required=True)
    t.add_argument("--budgets", default="0,4,8,12,15")
    t.add_argument("--eps", type=float, default=8.0, help="AutoAttack's ε")
    t.add_argument("--steps", type=int, default=10)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--repeats", type=int, default=1)
    a = p.parse_args()
    export(a) if a.cmd == "export" else timed(a)


if __name__ == "__main__":
    main()
