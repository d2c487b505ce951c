"""advp's data parallelism on torch.distributed (c10d): NCCL between GPUs,
Gloo on the CPU. A fixed module: nothing of a pipeline file or of the
environment is ever part of its text; every value arrives as an argument."""

import datetime
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


def init(backend, addr, port, rank, size, timeout_s, cuda_index):
    """Joins the world: rank 0 serves the rendezvous store at addr:port."""
    global _small
    timeout = datetime.timedelta(seconds=timeout_s)
    if cuda_index is not None:
        torch.cuda.set_device(cuda_index)
    store = dist.TCPStore(addr, port, size, rank == 0, timeout=timeout)
    dist.init_process_group(
        backend=backend, store=store, rank=rank, world_size=size, timeout=timeout
    )
    _small = dist.new_group(backend="gloo", timeout=timeout) if backend != "gloo" else None


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
