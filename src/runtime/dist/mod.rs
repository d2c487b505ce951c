//! Past one device: one node's training or evaluation on several processes
//! (ranks), one per device, on PyTorch's own distributed engine (c10d:
//! NCCL between GPUs, Gloo on the CPU) reached through the Python bridge's
//! `torch.distributed` — the same libtorch, so a gradient bucket crosses
//! without a copy. Nothing here speaks a protocol of its own.
//!
//! * [`world`]: who this process is, from `advp`'s launcher, `torchrun` or
//!   a Slurm step.
//! * Training: every rank draws the whole batch's order and seeds, takes its
//!   [`world::shard`] of the batch's clips and attacks and trains on it; a
//!   rank's loss is weighted by its share of the batch, the gradients are
//!   summed over the ranks in flat buckets before every optimizer step (so
//!   every rank takes the same step: the global batch's mean gradient), and
//!   BatchNorm's batch statistics are summed over the ranks during the step
//!   as SyncBatchNorm does ([`batch_norm`]). Random draws inside a step are
//!   the whole batch's, each rank keeping its rows ([`rand_like`]), so they
//!   depend on (seed, node, epoch, batch, clip), never on the rank.
//! * Evaluation: whole batches go round-robin to the ranks (a batch's seed
//!   is its index), and the ranks' records are gathered ([`gather`]) before
//!   anything is counted: the records are a one-process run's.

pub mod world;

#[cfg(feature = "python")]
mod group;
/// Without Python's torch no world can be joined, so none of the
/// collectives is ever reached; joining says why.
#[cfg(not(feature = "python"))]
mod group {
    use super::{DistError, Shard, World};
    use tch::Tensor;
    pub(super) fn init(_: &World, _: tch::Device) -> Result<(), DistError> {
        Err(DistError::NoPython)
    }
    pub(super) fn all_reduce(_: &Tensor) -> Result<(), DistError> {
        Err(DistError::NoPython)
    }
    pub(super) fn sum_values(_: &[f64]) -> Result<Vec<f64>, DistError> {
        Err(DistError::NoPython)
    }
    pub(super) fn synced_sum(_: &Tensor) -> Result<Tensor, DistError> {
        Err(DistError::NoPython)
    }
    pub(super) fn gather(
        _: String,
        _: Vec<Tensor>,
    ) -> Result<Vec<(String, Vec<Tensor>)>, DistError> {
        Err(DistError::NoPython)
    }
    pub(super) fn barrier() -> Result<(), DistError> {
        Err(DistError::NoPython)
    }
    pub(super) fn step(_: Option<Shard>) {}
    pub(super) fn close() {}
}

use std::sync::Mutex;
use tch::{Kind, Tensor};
pub use world::World;

/// Why a world of ranks could not be joined or a collective failed.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("the environment variable {name}={value:?} is not {what}")]
    Variable {
        name: &'static str,
        value: String,
        what: &'static str,
    },
    #[error("{beside} is set but {name} is not: a rank needs both (torchrun and `advp run --ranks` set them together)")]
    Missing {
        name: &'static str,
        beside: &'static str,
    },
    #[error("rank {rank} is not one of {size} ranks")]
    Rank { rank: usize, size: usize },
    #[error("this advp was built without Python's torch (a LIBTORCH of its own), and several ranks run on torch.distributed; build it with the project's venv (`scripts/env.sh`)")]
    NoPython,
    #[error("rank {rank} of {size} could not join the others at {addr}:{port} ({message}); check that every rank was started and that rank 0's host and port are reachable")]
    Join {
        rank: usize,
        size: usize,
        addr: String,
        port: u16,
        message: String,
    },
    #[error("rank {rank} of {size}: a collective with the other ranks failed ({message}); another rank stopped or cannot be reached: its log says why")]
    Collective {
        rank: usize,
        size: usize,
        message: String,
    },
}

/// Whether a collective of this process has failed (another rank stopped):
/// a later failure of the node follows from it.
static LOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a collective of this process failed.
pub fn lost() -> bool {
    LOST.load(std::sync::atomic::Ordering::SeqCst)
}

/// The world this process joined (at most one a process).
static JOINED: std::sync::OnceLock<World> = std::sync::OnceLock::new();

/// Joins `world`'s process group once (NCCL on a GPU, Gloo on the CPU);
/// every rank must call it. A second call with the same world is a no-op.
pub fn join(world: &World, device: tch::Device) -> Result<(), DistError> {
    if JOINED.get().is_some() {
        return Ok(());
    }
    group::init(world, device)?;
    let _ = JOINED.set(world.clone());
    Ok(())
}

/// The world this process joined, if any.
pub fn joined() -> Option<&'static World> {
    JOINED.get()
}

/// Whether this process writes results: alone, or rank 0 of its world.
pub fn writes() -> bool {
    joined().is_none_or(World::writes)
}

/// This rank's rows of the batch being trained on (never none: a batch with
/// fewer clips than ranks is refused before training).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub first: usize,
    pub count: usize,
    /// The whole batch's clips.
    pub of: usize,
}

impl Shard {
    /// This rank's rows of a batch of `n` clips; `None` alone.
    pub fn of_batch(n: usize) -> Option<Shard> {
        joined().map(|w| {
            let (first, count) = world::shard(n, w.rank, w.size);
            Shard {
                first,
                count,
                of: n,
            }
        })
    }
}

static SHARD: Mutex<Option<Shard>> = Mutex::new(None);

/// The shard of a training step under way (`None` outside one, or alone).
pub fn shard() -> Option<Shard> {
    *SHARD.lock().unwrap_or_else(|e| e.into_inner())
}

/// While it lives, a training step on `shard` is under way: losses are
/// weighted, gradients and BatchNorm statistics summed over the ranks.
pub struct Step(());

impl Step {
    pub fn enter(shard: Shard) -> Step {
        *SHARD.lock().unwrap_or_else(|e| e.into_inner()) = Some(shard);
        if joined().is_some() {
            group::step(Some(shard));
        }
        Step(())
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        *SHARD.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if joined().is_some() {
            group::step(None);
        }
    }
}

/// The factor a rank's mean loss takes so that the ranks' gradients sum to
/// the whole batch's mean gradient: its share of the batch (1 alone).
pub fn loss_weight() -> f64 {
    shard().map_or(1.0, |s| s.count as f64 / s.of.max(1) as f64)
}

/// `Tensor::rand_like(x)` as the whole batch draws it: inside a step, a draw
/// of the whole batch's shape of which this rank keeps its rows, so that a
/// clip's random start is the same on any number of ranks.
pub fn rand_like(x: &Tensor) -> Tensor {
    let shape = x.size();
    whole_batch(&shape, |s| Tensor::rand(s, (x.kind(), x.device())))
        .unwrap_or_else(|| x.rand_like())
}

/// [`rand_like`] for the normal distribution.
pub fn randn_like(x: &Tensor) -> Tensor {
    let shape = x.size();
    whole_batch(&shape, |s| Tensor::randn(s, (x.kind(), x.device())))
        .unwrap_or_else(|| x.randn_like())
}

/// `Tensor::rand(shape, opts)` for a tensor with a row per clip of the
/// batch, as [`rand_like`] draws it.
pub fn rand(shape: &[i64], opts: (Kind, tch::Device)) -> Tensor {
    whole_batch(shape, |s| Tensor::rand(s, opts)).unwrap_or_else(|| Tensor::rand(shape, opts))
}

fn whole_batch(shape: &[i64], draw: impl Fn(&[i64]) -> Tensor) -> Option<Tensor> {
    let s = shard()?;
    if shape.first() != Some(&(s.count as i64)) {
        return None;
    }
    let mut whole = shape.to_vec();
    whole[0] = s.of as i64;
    Some(draw(&whole).narrow(0, s.first as i64, s.count as i64))
}

/// The sums over the ranks of a few numbers (the numbers themselves alone).
pub fn sum_values(values: &[f64]) -> Result<Vec<f64>, DistError> {
    if joined().is_none() {
        return Ok(values.to_vec());
    }
    group::sum_values(values)
}

/// Rank 0's numbers on every rank (alone, unchanged): what each rank
/// computed alike but decides on (held-out metrics, Eq. 8's weights) is
/// taken from one rank, so that no rounding or per-rank BatchNorm state
/// sends the ranks different ways.
pub fn from_rank_0(values: &mut [f64]) -> Result<(), DistError> {
    let Some(w) = joined() else {
        return Ok(());
    };
    let mine: Vec<f64> = values
        .iter()
        .map(|&v| if w.writes() { v } else { 0.0 })
        .collect();
    values.copy_from_slice(&sum_values(&mine)?);
    Ok(())
}

/// Whether `value` is finite on every rank: what decides, the same way on
/// every rank, whether a step is taken.
pub fn all_finite(value: f64) -> Result<bool, DistError> {
    if shard().is_none() {
        return Ok(value.is_finite());
    }
    let bad = sum_values(&[f64::from(u8::from(!value.is_finite()))])?;
    Ok(bad[0] == 0.0)
}

/// The most bytes summed in one collective.
const BUCKET_BYTES: i64 = 25 << 20;

/// Inside a step, sums the parameters' gradients over the ranks, in flat
/// buckets of at most 25 MiB (DistributedDataParallel's default); a no-op
/// alone. A parameter without a gradient (unused by the step) has none on
/// any rank: every rank runs the same graph.
pub fn sum_gradients<'a>(params: impl IntoIterator<Item = &'a Tensor>) -> Result<(), DistError> {
    if shard().is_none() {
        return Ok(());
    }
    let _g = tch::no_grad_guard();
    let grads: Vec<Tensor> = params
        .into_iter()
        .map(Tensor::grad)
        .filter(Tensor::defined)
        .collect();
    let bytes = |g: &Tensor| g.numel() as i64 * g.kind().elt_size_in_bytes() as i64;
    let mut buckets: Vec<Vec<&Tensor>> = Vec::new();
    let mut filled = 0;
    for g in &grads {
        match buckets.last_mut() {
            Some(b) if filled + bytes(g) <= BUCKET_BYTES && b[0].kind() == g.kind() => {
                filled += bytes(g);
                b.push(g);
            }
            _ => {
                filled = bytes(g);
                buckets.push(vec![g]);
            }
        }
    }
    for bucket in buckets {
        let flat = Tensor::cat(
            &bucket.iter().map(|g| g.reshape([-1])).collect::<Vec<_>>(),
            0,
        );
        all_reduce(&flat)?;
        let mut at = 0;
        for g in bucket {
            let n = g.numel() as i64;
            g.shallow_clone()
                .copy_(&flat.narrow(0, at, n).view(g.size().as_slice()));
            at += n;
        }
    }
    Ok(())
}

/// Sums `t` over the ranks in place.
fn all_reduce(t: &Tensor) -> Result<(), DistError> {
    group::all_reduce(t)
}

/// BatchNorm in train mode with the batch statistics of the whole batch:
/// inside a step, each rank's per-channel sums and sums of squares are
/// summed over the ranks (differentiably: the backward pass sums their
/// gradients too), as `torch.nn.SyncBatchNorm`; `None` outside a step,
/// where the layer's own kernel runs. Every built-in net's BatchNorm has
/// eps 1e-5 and momentum 0.1 (PyTorch's), which this uses.
pub fn batch_norm(bn: &tch::nn::BatchNorm, x: &Tensor) -> Option<Tensor> {
    let s = shard()?;
    let (eps, momentum) = (1e-5, 0.1);
    let size = x.size();
    let c = size[1];
    // Values per channel over the whole batch: its clips × the rest.
    let n = s.of as f64 * size[2..].iter().product::<i64>() as f64;
    let dims: Vec<i64> = (0..x.dim() as i64).filter(|&d| d != 1).collect();
    let xf = x.to_kind(Kind::Float);
    let stats = Tensor::cat(
        &[
            xf.sum_dim_intlist(dims.as_slice(), false, Kind::Float),
            (&xf * &xf).sum_dim_intlist(dims.as_slice(), false, Kind::Float),
        ],
        0,
    );
    let total = synced_sum(&stats).unwrap_or_else(|e| panic!("{e}"));
    let mean = total.narrow(0, 0, c) / n;
    let var = (total.narrow(0, c, c) / n - &mean * &mean).clamp_min(0.0);
    // y = x·scale + shift, per channel: two passes over the clips (and two
    // back), the statistics' gradients through scale and shift.
    // (Out of place: autograd keeps rsqrt's output.)
    let inv = (&var + eps).rsqrt();
    let scale = match &bn.ws {
        Some(w) => &inv * w,
        None => inv,
    };
    let shift = match &bn.bs {
        Some(b) => b - &mean * &scale,
        None => -(&mean * &scale),
    };
    let mut shape = vec![1i64; x.dim()];
    shape[1] = c;
    let y = &xf * scale.view(shape.as_slice()) + shift.view(shape.as_slice());
    {
        let _g = tch::no_grad_guard();
        let unbiased = var.detach() * (n / (n - 1.0).max(1.0));
        let mut rm = bn.running_mean.shallow_clone();
        let mut rv = bn.running_var.shallow_clone();
        let new_m = &rm * (1.0 - momentum) + mean.detach().to_kind(rm.kind()) * momentum;
        let new_v = &rv * (1.0 - momentum) + unbiased.to_kind(rv.kind()) * momentum;
        rm.copy_(&new_m);
        rv.copy_(&new_v);
    }
    Some(y.to_kind(x.kind()))
}

fn synced_sum(t: &Tensor) -> Result<Tensor, DistError> {
    group::synced_sum(t)
}

/// Every rank's `text` (records as JSON) with its tensors, in rank order;
/// alone, this process's.
pub fn gather(text: String, tensors: Vec<Tensor>) -> Result<Vec<(String, Vec<Tensor>)>, DistError> {
    if joined().is_none() {
        return Ok(vec![(text, tensors)]);
    }
    group::gather(text, tensors)
}

/// The ranks' rows of a batch, in rank order (the whole batch's tensor on
/// every rank); alone, `t`.
pub fn all_rows(t: &Tensor) -> Result<Tensor, DistError> {
    if joined().is_none() {
        return Ok(t.shallow_clone());
    }
    let parts: Vec<Tensor> = gather(String::new(), vec![t.to_device(tch::Device::Cpu)])?
        .into_iter()
        .flat_map(|(_, ts)| ts)
        .collect();
    Ok(Tensor::cat(&parts, 0).to_device(t.device()))
}

/// Leaves the process group (a no-op alone): NCCL's must be taken down
/// before the process exits.
pub fn leave() {
    if joined().is_some() {
        group::close();
    }
}

/// Waits for every rank (a no-op alone).
pub fn barrier() -> Result<(), DistError> {
    if joined().is_none() {
        return Ok(());
    }
    group::barrier()
}
