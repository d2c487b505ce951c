"""One adversarial-training epoch with PyTorch's DistributedDataParallel on
Gloo: the baseline that `benches/ddp.rs` times `advp run --ranks 2` against.

Reads the clips `x`, labels `y` and advp's initial weights (`init.*`) from
`--data`. `--ranks` processes (torch.multiprocessing, one thread each) take,
batch after batch of `--batch` clips in order, their shard of the batch
(rank r of N: `tensor_split` rows), attack it (BatchNorm in eval mode,
PGD-`--steps` under L∞ from δ = 0, as `train_epoch.py`), then train on it in
train mode through DDP (gradients averaged by its bucketed all-reduce,
overlapped with the backward pass; BatchNorm per rank — PyTorch's
SyncBatchNorm does not run on the CPU) with SGD (momentum 0.9). Times the
epoch between two barriers after a warm-up batch; rank 0 prints one JSON line.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from pgd import C3dSmall, pgd_inf, read_safetensors  # noqa: E402


def epoch(ddp, model, opt, x, y, a, rank, size):
    n = x.shape[0]
    for i in range(0, n, a.batch):
        xb = x[i : i + a.batch].tensor_split(size)[rank]
        yb = y[i : i + a.batch].tensor_split(size)[rank]
        model.eval()
        adv = pgd_inf(model, xb, yb, a.eps, a.alpha, a.steps)
        ddp.train()
        loss = F.cross_entropy(ddp(adv), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


def run(rank, a):
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.ranks)
    tensors = read_safetensors(a.data)
    x, y = tensors.pop("x"), tensors.pop("y")
    init = {k.removeprefix("init."): v for k, v in tensors.items() if k.startswith("init.")}
    model = C3dSmall(a.width, a.classes)
    model.load_state_dict(init, strict=False)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=a.lr, momentum=0.9)
    epoch(ddp, model, opt, x[: a.batch], y[: a.batch], a, rank, a.ranks)
    model.load_state_dict(init, strict=False)
    dist.barrier()
    t0 = time.perf_counter()
    epoch(ddp, model, opt, x, y, a, rank, a.ranks)
    dist.barrier()
    seconds = time.perf_counter() - t0
    if rank == 0:
        print(json.dumps({"seconds": seconds, "ranks": a.ranks,
                          "threads": torch.get_num_threads()}), flush=True)
    dist.destroy_process_group()


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
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(a.port)
    mp.spawn(run, args=(a,), nprocs=a.ranks, join=True)


if __name__ == "__main__":
    main()
