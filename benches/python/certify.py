"""Randomized smoothing's CERTIFY (Cohen, Rosenfeld & Kolter 2019) as the
paper's code writes it (locuslab/smoothing, `core.py`: `Smooth.certify`,
`_sample_noise`, `_lower_confidence_bound`), in PyTorch, with SciPy's Beta
quantile for statsmodels' `proportion_confint(n_A, n, alpha=2*alpha,
method="beta")[0]`. advp's `certify` is compared against it in
`tests/parity.rs` on the same model, clips and noise draws.

    python certify.py OUT_DIR --sigma 0.25 --n0 20 --n 200 --alpha 0.001 --batch 64

writes OUT_DIR/net.pt (a small TorchScript video classifier), OUT_DIR/clips.safetensors
(`x`: N×C×T×H×W clips, `y`: labels) and OUT_DIR/certify.json (per clip: the
seed its draws start from, ĉ_A, n_A, p̲_A and the radius, or -1 and 0.0 when
it abstains, the paper's ABSTAIN).
"""

import argparse
import ctypes
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
from scipy.stats import beta, norm

ABSTAIN = -1


def lower_confidence_bound(n_a, n, alpha):
    # statsmodels' Clopper-Pearson interval at level 2*alpha, its lower end.
    return 0.0 if n_a == 0 else float(beta.ppf(alpha, n_a, n - n_a + 1))


def sample_noise(f, x, num, batch_size, sigma, num_classes):
    with torch.no_grad():
        counts = np.zeros(num_classes, dtype=int)
        for _ in range(math.ceil(num / batch_size)):
            this_batch_size = min(batch_size, num)
            num -= this_batch_size
            batch = x.repeat((this_batch_size, 1, 1, 1, 1))
            noise = torch.randn_like(batch) * sigma
            predictions = f(batch + noise).argmax(1)
            counts += np.bincount(predictions.numpy(), minlength=num_classes)
        return counts


def certify(f, x, n0, n, alpha, batch_size, sigma, num_classes):
    counts_selection = sample_noise(f, x, n0, batch_size, sigma, num_classes)
    c_hat = int(counts_selection.argmax())
    counts_estimation = sample_noise(f, x, n, batch_size, sigma, num_classes)
    n_a = int(counts_estimation[c_hat])
    p_bar = lower_confidence_bound(n_a, n, alpha)
    if p_bar < 0.5:
        return ABSTAIN, c_hat, n_a, p_bar, 0.0
    return c_hat, c_hat, n_a, p_bar, sigma * float(norm.ppf(p_bar))


class Net(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 2 * 8 * 8, classes)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def write_safetensors(path, tensors):
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for k, v in tensors.items():
        v = v.detach().contiguous()
        size = v.numel() * v.element_size()
        blobs.append(ctypes.string_at(v.data_ptr(), size))
        header[k] = {"dtype": dtypes[v.dtype], "shape": list(v.shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--sigma", type=float, default=0.25)
    p.add_argument("--n0", type=int, default=20)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--alpha", type=float, default=0.001)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--clips", type=int, default=12)
    a = p.parse_args()
    classes = 4
    torch.manual_seed(0)
    net = Net(classes).eval()
    # Larger weights: confident on some clips (certified), not on others.
    with torch.no_grad():
        net.fc.weight.mul_(8.0)
    torch.jit.script(net).save(f"{a.out}/net.pt")
    x = torch.rand(a.clips, 3, 2, 8, 8)
    with torch.no_grad():
        y = net(x).argmax(1)
    y[:2] = (y[:2] + 1) % classes  # two clips whose label the model misses
    write_safetensors(f"{a.out}/clips.safetensors", {"x": x, "y": y})
    rows = []
    for j in range(a.clips):
        seed = 1000 + j
        torch.manual_seed(seed)
        pred, top, n_a, p_bar, radius = certify(net, x[j : j + 1], a.n0, a.n, a.alpha, a.batch, a.sigma, classes)
        rows.append({"seed": seed, "prediction": pred, "top": top, "count": n_a, "p_lower": p_bar, "radius": radius})
    with open(f"{a.out}/certify.json", "w") as out:
        json.dump(rows, out)


if __name__ == "__main__":
    main()
