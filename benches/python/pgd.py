"""PGD as a plain PyTorch eager loop: the baseline that `benches/pgd.rs` times advp against.

The Rust bench writes one safetensors file holding the model's weights (under
the PyTorch module names advp uses), the clips `__x`, the labels `__y` and
advp's own adversarial clips `__xadv`. This script builds the same network in
PyTorch, loads those weights strictly, warms up with one attack, then times
`--repeats` attacks inside the process (so interpreter and `import torch`
start-up stay out of the figures) and prints one JSON line on stdout.

The attack is the computation of `src/runtime/attacks/pgd.rs` (`Pgd::run`, L∞,
no random start), op for op: per step the gradient of the mean cross-entropy
with respect to the input only, δ ← clamp(δ + α·sign(g), −ε, ε),
δ ← clamp(x + δ, 0, 1) − x. The model is in eval mode.

Only torch is needed (no numpy, no safetensors package).
"""

import argparse
import json
import statistics
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- models


class C3dSmall(nn.Module):
    """`C3dSmall` of src/runtime/models/c3d.rs: three conv(k3, pad 1, no bias)–BN–ReLU–max-pool
    stages of width, 2·width, 4·width channels (pool (1,2,2) first, then (2,2,2), ceil mode),
    a global max over T, H, W, and a linear head."""

    def __init__(self, width, classes):
        super().__init__()
        cin = 3
        for i in range(3):
            cout = width << i
            setattr(self, f"conv{i + 1}", nn.Conv3d(cin, cout, 3, stride=1, padding=1, bias=False))
            setattr(self, f"bn{i + 1}", nn.BatchNorm3d(cout))
            cin = cout
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        for i in range(3):
            conv = getattr(self, f"conv{i + 1}")
            bn = getattr(self, f"bn{i + 1}")
            x = F.relu(bn(conv(x)))
            k = (1, 2, 2) if i == 0 else (2, 2, 2)
            x = F.max_pool3d(x, k, k, 0, 1, ceil_mode=True)
        return self.fc(torch.amax(x, dim=(2, 3, 4)))


class BasicBlock(nn.Module):
    """Hara et al.'s 3D BasicBlock, shortcut B, as `Block` in src/runtime/models/resnet.rs."""

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(
                nn.Conv3d(cin, planes, 1, stride=stride, padding=0, bias=False),
                nn.BatchNorm3d(planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class R3d(nn.Module):
    """Hara et al.'s 3D ResNet with basic blocks (`ResNet3d` of src/runtime/models/resnet.rs)."""

    BLOCKS = {10: [1, 1, 1, 1], 18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}

    def __init__(self, depth, classes):
        super().__init__()
        if depth not in self.BLOCKS:
            raise SystemExit(f"pgd.py: only basic-block depths {sorted(self.BLOCKS)}, got {depth}")
        self.conv1 = nn.Conv3d(3, 64, 7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        cin = 64
        for i, (planes, count) in enumerate(zip([64, 128, 256, 512], self.BLOCKS[depth])):
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(count):
                blocks.append(BasicBlock(cin, planes, stride if j == 0 else 1))
                cin = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.max_pool3d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1, 1, ceil_mode=False)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool3d(x, 1), 1))


# ---------------------------------------------------------------- the attack


def pgd_inf(model, x, y, eps, alpha, steps):
    """PGD under L∞ from δ = 0; ε and α in 0..255 units, as advp's `Pgd`."""
    eps = eps / 255.0
    alpha = alpha / 255.0
    x = x.detach()
    with torch.no_grad():
        delta = (x + torch.zeros_like(x)).clamp(0.0, 1.0) - x
    for _ in range(steps):
        xa = (x + delta).detach().requires_grad_()
        loss = F.cross_entropy(model(xa), y)
        (g,) = torch.autograd.grad(loss, xa)
        with torch.no_grad():
            delta = (delta + g.sign() * alpha).clamp(-eps, eps)
            delta = (x + delta).clamp(0.0, 1.0) - x
    return (x + delta).detach()


# ---------------------------------------------------------------- safetensors

DTYPES = {
    "F32": torch.float32,
    "F64": torch.float64,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path):
    """name → tensor from a .safetensors file, with torch alone."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES[meta["dtype"]]
        start, end = meta["data_offsets"]
        count = (end - start) // dtype.itemsize
        if count == 0:
            t = torch.empty(0, dtype=dtype)
        else:
            t = torch.frombuffer(data, dtype=dtype, count=count, offset=base + start)
        out[name] = t.reshape(meta["shape"]).clone()
    return out


# ---------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="safetensors from benches/pgd.rs")
    p.add_argument("--model", required=True, choices=["c3d_small", "r3d"])
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--depth", type=int, default=18)
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--eps", type=float, default=8.0)
    p.add_argument("--alpha", type=float, default=2.0)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = p.parse_args()
    dev = torch.device(a.device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    torch.set_num_threads(a.threads)
    tensors = read_safetensors(a.data)
    x = tensors.pop("__x")
    y = tensors.pop("__y")
    ref = tensors.pop("__xadv", None)

    if a.model == "c3d_small":
        model = C3dSmall(a.width, a.classes)
    else:
        model = R3d(a.depth, a.classes)
    # Strict: every advp variable has a PyTorch counterpart of the same shape and back.
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"pgd.py: weights do not fit: missing {missing}, unexpected {unexpected}")
    model.eval()
    model.to(dev)
    x, y = x.to(dev), y.to(dev)
    if ref is not None:
        ref = ref.to(dev)

    pgd_inf(model, x, y, a.eps, a.alpha, a.steps)  # warm-up
    sync()
    times = []
    adv = None
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        adv = pgd_inf(model, x, y, a.eps, a.alpha, a.steps)
        sync()
        times.append(time.perf_counter() - t0)

    out = {
        "median_s": statistics.median(times),
        "times_s": times,
        "max_abs_delta": (adv - x).abs().max().item(),
        "min_adv": adv.min().item(),
        "max_adv": adv.max().item(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if ref is not None:
        diff = (adv - ref).abs()
        out["ref_max_abs_diff"] = diff.max().item()
        out["ref_agree"] = (diff <= 1e-6).float().mean().item()
    print(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
