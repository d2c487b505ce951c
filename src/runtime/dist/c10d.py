"""advp's data parallelism on torch.distributed (c10d): NCCL between GPUs,
Gloo on the CPU. A fixed module: nothing of a pipeline file or of the
environment is ever part of its text; every value arrives as an argument."""

import datetime
import math
import os
import warnings

import torch
import torch.distributed as dist
from torch.distributed.nn.functional import all_reduce as _differentiable_all_reduce

# The differentiable all-reduce SyncBatchNorm itself uses; its successor in
# torch.distributed._functional_collectives is private.
warnings.filterwarnings(
    "ignore", message="torch.distributed.nn.functional.all_reduce is deprecated"
)

# The group small values travel on (sums of a few numbers, records, a
# barrier): the CPU's Gloo, also beside NCCL.
_small = None


# The training step under way on this rank: (first, count, of) rows of the
# batch, or None. Set by advp around each step.
_step = None


def step(shard):
    global _step
    _step = shard


_batch_norm_forward = torch.nn.modules.batchnorm._BatchNorm.forward


def _synced_batch_norm(self, x):
    """BatchNorm in train mode inside a step of several ranks: the batch
    statistics of the whole batch, its sums and sums of squares added over
    the ranks differentiably (as SyncBatchNorm, which PyTorch runs on GPUs
    only); the module's own forward everywhere else."""
    if _step is None or not self.training:
        return _batch_norm_forward(self, x)
    self._check_input_dim(x)
    c = x.shape[1]
    dims = [0] + list(range(2, x.dim()))
    n = _step[2] * math.prod(x.shape[2:])
    xf = x.float()
    sums = _differentiable_all_reduce(torch.cat([xf.sum(dims), (xf * xf).sum(dims)]))
    mean = sums[:c] / n
    var = (sums[c:] / n - mean * mean).clamp_min(0.0)
    if self.track_running_stats and self.running_mean is not None:
        with torch.no_grad():
            if self.num_batches_tracked is not None:
                self.num_batches_tracked.add_(1)
            m = self.momentum
            if m is None:
                m = 1.0 / float(self.num_batches_tracked)
            self.running_mean.mul_(1.0 - m).add_(mean.detach() * m)
            self.running_var.mul_(1.0 - m).add_(var.detach() * (n / max(n - 1, 1)) * m)
    inv = torch.rsqrt(var + self.eps)
    scale = inv * self.weight if self.affine else inv
    shift = self.bias - mean * scale if self.affine else -(mean * scale)
    shape = [1, c] + [1] * (x.dim() - 2)
    return (xf * scale.view(shape) + shift.view(shape)).to(x.dtype)


def init(backend, addr, port, rank, size, timeout_s, cuda_index):
    """Joins the world: rank 0 serves the rendezvous store at addr:port."""
    global _small
    timeout = datetime.timedelta(seconds=timeout_s)
    if cuda_index is not None:
        torch.cuda.set_device(cuda_index)
    # Under torchrun its agent serves the store at MASTER_PORT already.
    serve = rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
    store = dist.TCPStore(addr, port, size, serve, timeout=timeout)
    dist.init_process_group(
        backend=backend, store=store, rank=rank, world_size=size, timeout=timeout
    )
    _small = dist.new_group(backend="gloo", timeout=timeout) if backend != "gloo" else None
    # A user's BatchNorm layers (BatchNorm1d/2d/3d) sync inside a step.
    torch.nn.modules.batchnorm._BatchNorm.forward = _synced_batch_norm


def all_reduce(t):
    """Sums `t` over the ranks, in place (a gradient bucket)."""
    dist.all_reduce(t)


def sum_values(values):
    """The sums over the ranks of a few float64 numbers."""
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, group=_small)
    return t.tolist()


def synced_sum(t):
    """The sum over the ranks of `t`, differentiable: the backward pass sums
    the gradients over the ranks (SyncBatchNorm's statistics)."""
    return _differentiable_all_reduce(t)


def gather(obj):
    """Every rank's `obj` (pickled), in rank order."""
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj, group=_small)
    return out


def barrier():
    dist.barrier(group=_small)


def close():
    if dist.is_initialized():
        dist.destroy_process_group()
