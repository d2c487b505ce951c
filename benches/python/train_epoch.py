"""One adversarial-training epoch as a plain PyTorch loop: the baseline that
`benches/train_epoch.rs` times advp's training loop against.

The Rust bench writes the initial weights (advp's names), the training clips
`__x` and labels `__y`. Per batch of `--batch` clips, in order: BatchNorm in
eval mode, PGD-`--steps` under L∞ from δ = 0 (advp's `Pgd::run`, op for op:
the gradient of the mean cross-entropy for the input only, δ ← clamp(δ +
α·sign(g), −ε, ε), δ ← clamp(x + δ, 0, 1) − x); then train mode, the
cross-entropy of the attacked clips, and one SGD step (momentum 0.9).
Warms up on one batch, then times `--epochs` whole epochs from the loaded
weights inside the process, and prints one JSON line.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from pgd import C3dSmall, pgd_inf, read_safetensors  # noqa: E402


def epoch(model, x, y, a):
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    n = x.shape[0]
    loss_sum = 0.0
    for i in range(0, n, a.batch):
        xb, yb = x[i : i + a.batch], y[i : i + a.batch]
        model.eval()
        adv = pgd_inf(model, xb, yb, a.eps, a.alpha, a.steps)
        model.train()
        loss = F.cross_entropy(model(adv), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item() * xb.shape[0]
    return loss_sum / n


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--eps", type=float, default=8.0)
    p.add_argument("--alpha", type=float, default=2.0)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--epochs", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    tensors = read_safetensors(a.data)
    x, y = tensors.pop("__x"), tensors.pop("__y")
    init = {k: v for k, v in tensors.items()}
    model = C3dSmall(a.width, a.classes)
    missing, unexpected = model.load_state_dict(init, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"train_epoch.py: weights do not fit: {missing} {unexpected}")
    # Warm-up on one batch, from the same weights as every timed epoch.
    epoch(model, x[: a.batch], y[: a.batch], a)
    times, losses = [], []
    for _ in range(a.epochs):
        model.load_state_dict(init, strict=False)
        t0 = time.perf_counter()
        losses.append(epoch(model, x, y, a))
        times.append(time.perf_counter() - t0)
    print(json.dumps({"median_s": statistics.median(times), "times_s": times,
                      "loss": losses[-1], "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
