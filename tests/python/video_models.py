"""Three video classifiers the field attacks, at test size (random
initialisation, no download), for advp's tests of `python(…)` models:
torchvision's R(2+1)D-18 and Swin3D-T and a Hugging Face VideoMAE.

`prep` and `check` are the tests' Python side (run by the venv's python):
`prep MODEL DIR` writes the starting weights and the clips, `check MODEL
DIR` reads what advp trained and compares it with PyTorch's own
computation on the same module.
"""
import os
import signal

import torch
from torch import nn


class StopAfter(nn.Module):
    """The module unchanged; with ADVP_TEST_STOP_AFTER=n set, the n-th
    forward pass in training mode sends this process SIGTERM, as a
    scheduler would: a stop in the middle of an epoch, at a known batch."""

    def __init__(self, m):
        super().__init__()
        self.m = m
        self.calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            n = os.environ.get("ADVP_TEST_STOP_AFTER")
            if n is not None and self.calls == int(n):
                os.kill(os.getpid(), signal.SIGTERM)
        return self.m(x)


def r2plus1d(classes):
    from torchvision.models.video import r2plus1d_18

    return StopAfter(r2plus1d_18(num_classes=classes))


def swin(classes, stochastic_depth=0.1):
    import torchvision
    from torchvision.models.video import swin3d_t

    m = swin3d_t(num_classes=classes)
    for block in m.modules():
        if isinstance(block, torchvision.ops.StochasticDepth):
            block.p = stochastic_depth
    return StopAfter(m)


def videomae(classes, frames, size):
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    config = VideoMAEConfig(
        image_size=size,
        patch_size=8,
        num_frames=frames,
        tubelet_size=2,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=classes,
    )
    return StopAfter(VideoMAEForVideoClassification(config))


# What each model is in the tests: its factory's arguments beyond the
# class count, and how clips reach it (as the `.advp` file says it).
CLASSES, FRAMES, SIZE = 5, 4, 16
KINETICS = dict(mean=[0.43216, 0.394666, 0.37645], std=[0.22803, 0.22145, 0.216989])
MODELS = {
    "r2plus1d": (r2plus1d, {}, dict(layout="ncthw", **KINETICS)),
    "swin": (swin, dict(stochastic_depth=0.0), dict(layout="ncthw", mean=None, std=None)),
    "videomae": (videomae, dict(frames=FRAMES, size=SIZE), dict(layout="ntchw", mean=[0.5], std=[0.5])),
}


# The optimizer of each, as the `.advp` file names it: each family's usual
# one (SGD for the CNN, Adam for the transformers), advp's weight decay.
OPTIMIZERS = {
    "r2plus1d": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=1e-3),
    "swin": lambda p: torch.optim.Adam(p, lr=1e-4, weight_decay=1e-3),
    "videomae": lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=1e-3),
}


class Prepared(nn.Module):
    """What advp does before `forward`: normalise in [0, 1] pixels, lay
    out, and take the logits out of a `ModelOutput`."""

    def __init__(self, m, layout, mean, std):
        super().__init__()
        self.m = m
        self.layout = layout
        self.mean = None if mean is None else torch.tensor(mean).reshape(1, -1, 1, 1, 1)
        self.std = None if std is None else torch.tensor(std).reshape(1, -1, 1, 1, 1)

    def forward(self, x):
        if self.mean is not None:
            x = x - self.mean
        if self.std is not None:
            x = x / self.std
        if self.layout == "ntchw":
            x = x.permute(0, 2, 1, 3, 4)
        out = self.m(x)
        return getattr(out, "logits", out)


def build(name):
    factory, kwargs, _ = MODELS[name]
    return factory(CLASSES, **kwargs)


def prepared(name, weights=None):
    from safetensors.torch import load_file

    m = build(name)
    if weights is not None:
        m.load_state_dict(load_file(weights), strict=True)
    return Prepared(m, **MODELS[name][2]).eval()


def pgd(model, x, y, steps):
    import torchattacks

    atk = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=steps, random_start=False)
    return atk(x, y)


def prep(name, out):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    m = build(name)
    save_file({k: v.detach().clone().contiguous() for k, v in m.state_dict().items()}, f"{out}/w0.safetensors")
    g = torch.Generator().manual_seed(1)
    shape = (3, FRAMES, SIZE, SIZE)
    data = {
        "x": torch.rand((16,) + shape, generator=g),
        "y": torch.randint(0, CLASSES, (16,), generator=g),
        "x_test": torch.rand((4,) + shape, generator=g),
        "y_test": torch.randint(0, CLASSES, (4,), generator=g),
    }
    save_file(data, f"{out}/data.safetensors")


def check(name, out):
    """What advp trained, against PyTorch on the same module:
    - the reported weights load with `load_state_dict(strict=True)` and
      give advp's own clean prediction on every test clip;
    - advp's one step of PGD-3 adversarial training (one batch of all 16
      clips) moves the weights as PyTorch's optimizer does from the same
      start on the same adversarial clips;
    - that step lowers the loss it descends (the adversarial clips'
      cross-entropy, in training mode as it was computed)."""
    import glob
    import json

    from safetensors.torch import load_file

    data = load_file(f"{out}/data.safetensors")
    w0 = load_file(f"{out}/w0.safetensors")
    w1 = load_file(f"{out}/out/w.safetensors")
    after = prepared(name, f"{out}/out/w.safetensors")
    with torch.no_grad():
        preds = after(data["x_test"]).argmax(1).tolist()
    records = []
    for node in glob.glob(f"{out}/.advp/cache/*/node.json"):
        if '"name": "e"' in open(node).read():
            with open(os.path.join(os.path.dirname(node), "records.jsonl")) as f:
                records = [json.loads(line) for line in f if line.strip()]
    advp = {r["clip"]: r["clean_pred"] for r in records}
    assert len(advp) == 4, f"advp's records: {records}"
    assert [advp[i] for i in range(4)] == preds, f"advp predicts {advp}, PyTorch {preds}"

    x, y = data["x"], data["y"]
    torch_step = prepared(name, f"{out}/w0.safetensors")
    adv = pgd(torch_step.eval(), x, y, 3)
    opt = OPTIMIZERS[name](torch_step.parameters())
    torch_step.train()
    loss = nn.functional.cross_entropy(torch_step(adv), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    mine = torch_step.m.state_dict()
    moved_advp = torch.cat([(w1[k] - w0[k]).flatten().double() for k in w0])
    moved_torch = torch.cat([(mine[k] - w0[k]).flatten().double() for k in w0])
    corr = torch.corrcoef(torch.stack([moved_advp, moved_torch]))[0, 1].item()
    opposite = ((moved_advp * moved_torch) < 0).double().mean().item()
    assert corr > 0.999 and opposite < 1e-3, f"advp's step differs: correlation {corr}, opposite signs {opposite}"

    with torch.no_grad():
        before_loss = nn.functional.cross_entropy(prepared(name, f"{out}/w0.safetensors").train()(adv), y).item()
        after_loss = nn.functional.cross_entropy(after.train()(adv), y).item()
    assert after_loss < before_loss, f"the step's loss before {before_loss}, after {after_loss}"
    print(json.dumps({"preds": preds, "correlation": corr, "opposite": opposite, "loss_before": before_loss, "loss_after": after_loss}))


def torchattacks_pgd(name, out, steps):
    """torchattacks' PGD (L∞, ε 8/255, α 2/255, no random start) on the
    module from `w0.safetensors`, for the clips of `clips.safetensors`:
    the adversarial clips to `adv.safetensors`."""
    from safetensors.torch import load_file, save_file

    clips = load_file(f"{out}/clips.safetensors")
    m = prepared(name, f"{out}/w0.safetensors")
    adv = pgd(m, clips["x"], clips["y"], steps)
    save_file({"adv": adv.contiguous()}, f"{out}/adv.safetensors")


if __name__ == "__main__":
    import sys

    what, name, out = sys.argv[1:4]
    {"prep": prep, "check": check}[what](name, out)
