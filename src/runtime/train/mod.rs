//! Training: standard (Eq. 4), adversarial with a fixed budget (AT, Eq. 5),
//! curriculum (CAT), adaptive (AAT, Algorithm 1 / Eq. 8) and uniform budgets.
//!
//! Every random choice is seeded from (run seed, node, epoch, batch), and a
//! checkpoint (model, optimizer, schedule state, the epoch's running sums) is
//! written atomically after every epoch, on Ctrl-C, and every ten minutes
//! inside long epochs, so a run killed anywhere resumes bit-identically.

mod checkpoint;
mod epochs;
pub mod generative;
pub mod methods;
pub mod optim;

use self::checkpoint::State;
use self::epochs::Loop;
use self::optim::{Optimizer, Rule};
use super::attacks::{self, Attack};
use super::data::{Clips, Dataset};
use super::defenses::Defense;
use super::error::{NodeError, NodeResult};
use super::models::{save_tensors, Net};
use super::progress::Progress;
use super::rng::mix;
pub use super::spec::{Method, TrainLoss};
use crate::language::program::RuleExpr;
use crate::language::schedule::{Epoch, Schedule};
pub use crate::results::EpochMetrics;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// How the training attack is built for a budget ε.
#[derive(Clone, Debug)]
pub struct AttackPlan {
    pub base: Attack,
    /// α as a rule of ε; `None`: the attack's own step.
    pub alpha: Option<RuleExpr>,
    /// BatchNorm in train mode during the attack (the released code's behaviour).
    pub bn_train: bool,
    /// The lines (a, b) of the `step_fit` analyses the rule names (`alpha fit`).
    pub fits: std::collections::BTreeMap<String, (f64, f64)>,
}

impl AttackPlan {
    /// α from the file's rule at budget ε (`None`: the attack's own step).
    pub fn alpha_at(&self, eps: f64) -> Option<f64> {
        self.alpha
            .as_ref()
            .and_then(|r| r.eval(eps, &|n| self.fits.get(n).copied()))
    }

    /// The attack at budget ε; an error names the rule when its α cannot be a step.
    pub fn at(&self, eps: f64) -> NodeResult<Attack> {
        self.base
            .at(eps, self.alpha_at(eps))
            .map_err(|e| match &self.alpha {
                // The rule's α is the number the attack cannot use.
                Some(r) => NodeError::Numeric(format!("{e} (the rule `{}`)", r.text())),
                None => e,
            })
    }
}

#[derive(Clone, Debug)]
pub struct TrainSpec {
    pub node: String,
    pub seed: u64,
    pub epochs: usize,
    pub batch: usize,
    pub rule: Rule,
    pub lr: f64,
    pub milestones: Vec<usize>,
    pub lr_decay: f64,
    /// Clean clips (standard training), or the attack of each epoch.
    pub schedule: TrainSchedule,
    /// Fast AT's guard ([`methods::GUARD_DROP`]): stop and restore the best
    /// epoch when the held-out PGD accuracy collapses.
    pub guard: bool,
}

/// What each epoch trains on.
#[derive(Clone, Debug)]
pub enum TrainSchedule {
    /// Standard training: the clean clips, every epoch.
    Clean,
    /// Adversarial training: the plan (how the attack is built, its fitted
    /// lines) and the attack of each epoch from it: budgets (`budget …`) or
    /// attack types (`attacks …`).
    Attacked {
        plan: AttackPlan,
        epochs: Schedule<Attack>,
    },
}

impl TrainSchedule {
    /// The attack plan; `None` for standard training.
    pub fn plan(&self) -> Option<&AttackPlan> {
        match self {
            TrainSchedule::Clean => None,
            TrainSchedule::Attacked { plan, .. } => Some(plan),
        }
    }

    /// The epoch's attack (or attacks to sample from) with its plan; `None`
    /// for standard training.
    fn at(&self, epoch: usize, epochs: usize) -> Option<(Epoch<Attack>, &AttackPlan)> {
        match self {
            TrainSchedule::Clean => None,
            TrainSchedule::Attacked { plan, epochs: s } => {
                Some((s.at(epoch as u64, epochs as u64), plan))
            }
        }
    }
}

/// Why [`train`] stopped before its last epoch.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Ctrl-C between batches: the checkpoint saved at `epoch` resumes it.
    #[error("interrupted at epoch {epoch}; checkpoint {}", checkpoint.display())]
    Interrupted { checkpoint: PathBuf, epoch: usize },
    /// Any other stop, as the node's error (an interruption inside a batch
    /// that could not be saved is [`NodeError::Interrupted`] here).
    #[error(transparent)]
    Node(#[from] NodeError),
}

fn lr_at(spec: &TrainSpec, epoch: usize) -> f64 {
    let passed = spec.milestones.iter().filter(|&&m| m <= epoch).count();
    spec.lr * spec.lr_decay.powi(passed as i32)
}

/// `net` after the frozen `pre` defenses; a defense that fails stops the node
/// (the panic becomes its diagnostic).
pub fn forward(net: &Net, pre: &[Defense], x: &Tensor, train: bool) -> Tensor {
    let mut h = x.shallow_clone();
    for d in pre {
        h = d.apply(&h).unwrap_or_else(|e| panic!("{e}"));
    }
    net.forward(&h, train)
}

/// What a training scheme updates per batch. The loop of [`train`] (data
/// order, seeds, schedules, checkpoints, resume, metrics) is shared; a learner
/// owns its networks and optimizers.
pub trait Learner {
    fn set_lr(&mut self, lr: f64);
    /// One update on a batch, attacked by `attack` (with BatchNorm in train
    /// mode during the attack when the flag is set); `None` trains on the clean
    /// clips. Gives the batch's mean loss and how many clips the classifier got
    /// right (NaN when there is no classifier).
    fn step(&mut self, x: &Tensor, y: &Tensor, attack: Option<(&Attack, bool)>) -> StepOutcome;
    /// Every network's weights and optimizer state, named, for a checkpoint.
    fn checkpoint(&self) -> Named;
    fn restore(&mut self, named: &Named) -> NodeResult<()>;
    /// What a checkpoint holds besides named tensors, as files beside them
    /// (`<stem>.module.pt`: a TorchScript classifier with its buffers); their names.
    fn save_files(&self, _stem: &Path) -> NodeResult<Vec<PathBuf>> {
        Ok(Vec::new())
    }
    /// Reads what [`Learner::save_files`] wrote, before [`Learner::restore`].
    fn restore_files(&mut self, _stem: &Path) -> NodeResult<()> {
        Ok(())
    }
    /// Logits of the whole defended classifier, for the held-out metrics and
    /// Eq. 8; `None` when the learner has no classifier.
    fn classify(&self, x: &Tensor, train: bool) -> Option<Tensor>;
    fn has_classifier(&self) -> bool {
        true
    }
}

pub type Named = Vec<(String, Tensor)>;
/// A batch's mean loss and correct count, or why the step stopped.
pub type StepOutcome = NodeResult<(f64, f64)>;

/// Standard and adversarial training of one classifier, behind frozen defenses.
pub struct Classifier<'a> {
    pub net: &'a mut Net,
    pub pre: Vec<Defense>,
    pub opt: Optimizer,
    pub method: Method,
    pub loss: TrainLoss,
    /// Free AT's δ, carried from batch to batch (in the checkpoint).
    delta: Option<Tensor>,
    /// σ of the Gaussian noise added to each clean training clip.
    noise: Option<f64>,
}

impl<'a> Classifier<'a> {
    pub fn new(net: &'a mut Net, pre: Vec<Defense>, rule: Rule, lr: f64) -> Self {
        let fp16 = net.precision == crate::language::program::Precision::Fp16;
        let opt = Optimizer::new(rule, lr, net.trainable()).scaled(fp16);
        Classifier {
            net,
            pre,
            opt,
            method: Method::Pgd,
            loss: TrainLoss::Ce,
            delta: None,
            noise: None,
        }
    }

    /// The same learner, training on clips plus N(0, σ²) per pixel (not
    /// clipped, as Cohen et al.'s code) where clean clips are trained on.
    pub fn with_noise(mut self, sigma: Option<f64>) -> Self {
        self.noise = sigma;
        self
    }

    /// The same learner, attacking by `method` and training on `loss`.
    pub fn with(mut self, method: Method, loss: TrainLoss) -> Self {
        self.method = method;
        self.loss = loss;
        self
    }

    /// One optimizer step on `loss` (skipped when it is not finite, or under
    /// fp16 when a gradient is not); its value.
    fn update(&mut self, loss: &Tensor) -> crate::runtime::error::NodeResult<f64> {
        let lv = loss.double_value(&[]);
        // Every rank decides alike: a step skipped on one is skipped on all.
        if crate::runtime::dist::all_finite(lv)? {
            self.opt.minimise(loss)?;
        }
        Ok(lv)
    }

    /// Free AT on one batch: `replays` passes, each one weight update and one
    /// step of ε on the carried δ (reset when the batch's shape changes).
    fn free(&mut self, x: &Tensor, y: &Tensor, eps: f64, replays: usize) -> StepOutcome {
        let eps = eps / 255.0;
        // δ is the whole batch's; one rank of several steps its rows.
        let shard = super::dist::shard();
        let mut delta = match (&self.delta, shard) {
            (Some(d), None) if d.size() == x.size() => d.shallow_clone(),
            (Some(d), Some(s)) if d.size()[0] == s.of as i64 && d.size()[1..] == x.size()[1..] => d
                .narrow(0, s.first as i64, s.count as i64)
                .to_device(x.device()),
            _ => x.zeros_like(),
        };
        let (mut lv, mut correct) = (f64::NAN, 0.0);
        for _ in 0..replays {
            let d = delta.detach().set_requires_grad(true);
            let adv = (x + &d).clamp(0.0, 1.0);
            let logits = forward(self.net, &self.pre, &adv, true);
            let loss = attacks::loss(&logits, y);
            lv = loss.double_value(&[]);
            if !crate::runtime::dist::all_finite(lv)? {
                break;
            }
            self.opt.backward(&loss)?;
            // δ's step is the gradient's sign, which fp16's loss scale leaves
            // alone; a skipped (non-finite) step leaves δ too.
            let g = d.grad();
            let stepped = self.opt.finish()?;
            correct = correct_of(&logits, y);
            let _g = tch::no_grad_guard();
            if stepped {
                delta = (&d + g.sign() * eps).clamp(-eps, eps);
            }
        }
        self.delta = Some(match shard {
            None => delta.detach(),
            Some(_) => super::dist::all_rows(&delta.detach())?,
        });
        Ok((lv, correct))
    }
}

/// How many rows of `logits` pick their label.
fn correct_of(logits: &Tensor, y: &Tensor) -> f64 {
    logits
        .argmax(-1, false)
        .eq_tensor(y)
        .sum(Kind::Float)
        .double_value(&[])
}

impl Learner for Classifier<'_> {
    fn set_lr(&mut self, lr: f64) {
        self.opt.lr = lr;
    }

    fn step(&mut self, x: &Tensor, y: &Tensor, attack: Option<(&Attack, bool)>) -> StepOutcome {
        let Some((a, bn)) = attack else {
            // The batch's draws come from its seed (the loop seeds each
            // batch), drawn for the whole batch on any number of ranks.
            let noisy = self
                .noise
                .map(|sigma| x + super::dist::randn_like(x) * sigma);
            let logits = forward(self.net, &self.pre, noisy.as_ref().unwrap_or(x), true);
            let lv = self.update(&attacks::loss(&logits, y))?;
            return Ok((lv, correct_of(&logits, y)));
        };
        let linf = || {
            a.as_pgd()
                .filter(|p| p.norm == attacks::Norm::Inf)
                .ok_or_else(|| {
                    NodeError::Failed(format!(
                        "this training method perturbs under L∞; the batch's attack is {a:?}"
                    ))
                })
        };
        let (net, pre) = (&*self.net, &self.pre);
        let f = |v: &Tensor| forward(net, pre, v, bn);
        match (self.method, self.loss) {
            (Method::Free { replays }, _) => {
                let eps = linf()?.eps;
                self.free(x, y, eps, replays)
            }
            (Method::FgsmRs, _) => {
                let adv = methods::fgsm_rs(linf()?.eps).run_with(&f, x, y, &mut |_| {})?;
                let logits = forward(self.net, &self.pre, &adv, true);
                let lv = self.update(&attacks::loss(&logits, y))?;
                Ok((lv, correct_of(&logits, y)))
            }
            (Method::Pgd, TrainLoss::Trades { beta }) => {
                let pgd = a.as_pgd().ok_or_else(|| {
                    NodeError::Failed("TRADES maximises its KL term with PGD".into())
                })?;
                let adv = methods::trades_attack(&f, x, &pgd)?;
                let nat = forward(self.net, &self.pre, x, true);
                let logits = forward(self.net, &self.pre, &adv, true);
                let lv = self.update(&methods::trades_loss(&nat, &logits, y, beta))?;
                Ok((lv, correct_of(&logits, y)))
            }
            (Method::Pgd, TrainLoss::Mart { beta }) => {
                let adv = a.run(&f, x, y)?;
                let nat = forward(self.net, &self.pre, x, true);
                let logits = forward(self.net, &self.pre, &adv, true);
                let lv = self.update(&methods::mart_loss(&nat, &logits, y, beta))?;
                Ok((lv, correct_of(&logits, y)))
            }
            (Method::Pgd, TrainLoss::Ce) => {
                let adv = a.run(&f, x, y)?;
                let logits = forward(self.net, &self.pre, &adv, true);
                let lv = self.update(&attacks::loss(&logits, y))?;
                Ok((lv, correct_of(&logits, y)))
            }
        }
    }

    fn checkpoint(&self) -> Named {
        let mut named: Named = self
            .net
            .named()
            .into_iter()
            .map(|(k, t)| (format!("model.{k}"), t))
            .collect();
        named.extend(self.opt.state());
        named.push(("optim.steps".into(), Tensor::from_slice(&[self.opt.steps])));
        if let Some(d) = &self.delta {
            named.push(("free.delta".into(), d.shallow_clone()));
        }
        named
    }

    fn save_files(&self, stem: &Path) -> NodeResult<Vec<PathBuf>> {
        if !self.net.is_script() {
            return Ok(Vec::new());
        }
        let path = super::models::module_path(stem);
        self.net.save_module(&path)?;
        Ok(vec![path])
    }

    fn restore_files(&mut self, stem: &Path) -> NodeResult<()> {
        let device = self.net.vs.device();
        if self
            .net
            .load_module(&super::models::module_path(stem), device)?
        {
            // New parameter tensors: the optimizer follows them (its state
            // comes back from the checkpoint's tensors next).
            self.opt = Optimizer::new(self.opt.rule.clone(), self.opt.lr, self.net.trainable());
        }
        Ok(())
    }

    fn restore(&mut self, named: &Named) -> NodeResult<()> {
        self.net.copy_from(
            &named
                .iter()
                .filter_map(|(k, t)| {
                    k.strip_prefix("model.")
                        .map(|k| (k.to_string(), t.shallow_clone()))
                })
                .collect::<Vec<_>>(),
        )?;
        let steps = named
            .iter()
            .find(|(k, _)| k == "optim.steps")
            .map(|(_, t)| t.int64_value(&[0]))
            .ok_or_else(|| NodeError::Failed("the checkpoint lacks `optim.steps`".into()))?;
        self.delta = named
            .iter()
            .find(|(k, _)| k == "free.delta")
            .map(|(_, t)| t.copy());
        self.opt.restore(named, steps)
    }

    fn classify(&self, x: &Tensor, train: bool) -> Option<Tensor> {
        Some(forward(self.net, &self.pre, x, train))
    }
}

/// Mean loss and accuracy of a classifier (`f`: clips → logits, with
/// BatchNorm's train flag) on a split, clean or attacked at `attack`.
pub fn evaluate(
    f: &dyn Fn(&Tensor, bool) -> Tensor,
    clips: &Clips,
    batch: usize,
    attack: Option<&Attack>,
    bn_train: bool,
    seed: u64,
    device: Device,
) -> NodeResult<(f64, f64, f64)> {
    let n = clips.len();
    let (mut loss_sum, mut correct) = (0.0, 0.0);
    let idx: Vec<usize> = (0..n).collect();
    // Of several ranks, each takes whole batches in turn (a batch's seed is
    // its index) and the sums are added over the ranks; with BatchNorm in
    // train mode during the attack, whose running statistics move batch
    // after batch, every rank takes every batch, as one process does.
    let shared = super::dist::joined().filter(|_| !(bn_train && attack.is_some()));
    for (b, chunk) in idx.chunks(batch.max(1)).enumerate() {
        if shared.is_some_and(|w| b % w.size != w.rank) {
            continue;
        }
        tch::manual_seed(mix(&[seed, b as u64]) as i64);
        let (x, y) = clips.batch(chunk, 0, device)?;
        let x = match attack {
            Some(a) => a.run(&|v| f(v, bn_train), &x, &y)?,
            None => x,
        };
        let _g = tch::no_grad_guard();
        let logits = f(&x, false);
        loss_sum += logits
            .cross_entropy_loss::<Tensor>(&y, None, tch::Reduction::Sum, -100, 0.0)
            .double_value(&[]);
        correct += logits
            .argmax(-1, false)
            .eq_tensor(&y)
            .sum(Kind::Float)
            .double_value(&[]);
    }
    if shared.is_some() {
        let sums = super::dist::sum_values(&[loss_sum, correct])?;
        (loss_sum, correct) = (sums[0], sums[1]);
    }
    Ok((loss_sum, correct / n.max(1) as f64, n as f64))
}

/// Fast AT's guard after an epoch: keeps the best epoch's weights (by the
/// held-out PGD accuracy); when the accuracy falls [`methods::GUARD_DROP`]
/// below the best, brings them back and says why training stops.
fn guard(
    spec: &TrainSpec,
    state: &mut State,
    learner: &mut dyn Learner,
    dir: &Path,
    epoch: usize,
    acc: Option<f64>,
    progress: &Progress,
) -> Result<Option<String>, TrainError> {
    // A checkpoint file: removed when the node finishes.
    let best_file = dir.join("checkpoint-guard-best.safetensors");
    let Some(acc) = acc else {
        if epoch == 0 {
            progress.line(&format!(
                "{}: warning: the guard against catastrophic overfitting needs a held-out split (`val` > 0) and a fixed budget; it is off",
                spec.node
            ));
        }
        return Ok(None);
    };
    match state.guard_best {
        Some((best_epoch, best)) if acc < best - methods::GUARD_DROP => {
            let named = Tensor::read_safetensors(&best_file).map_err(|e| NodeError::Damaged {
                message: format!(
                    "the guard's best weights {} are unreadable ({e})",
                    best_file.display()
                ),
                path: best_file.clone(),
            })?;
            learner
                .restore(&named)
                .map_err(|e| checkpoint::damaged(&best_file, e))?;
            let why = format!(
                "catastrophic overfitting: held-out PGD accuracy fell from {:.1} % (epoch {best_epoch}) to {:.1} % at epoch {}; epoch {best_epoch}'s weights are kept and training stops",
                100.0 * best,
                100.0 * acc,
                epoch + 1
            );
            progress.line(&format!("{}: {why}", spec.node));
            Ok(Some(why))
        }
        Some((_, best)) if acc <= best => Ok(None),
        _ => {
            let named: Named = learner
                .checkpoint()
                .into_iter()
                .map(|(k, t)| (k, t.copy()))
                .collect();
            if super::dist::writes() {
                save_tensors(&named, &best_file)?;
            }
            // Every rank may read it back at a later epoch.
            super::dist::barrier().map_err(NodeError::from)?;
            state.guard_best = Some((epoch + 1, acc));
            Ok(None)
        }
    }
}

/// Trains the learner's networks in place. `dir` holds the checkpoint and
/// `metrics.jsonl`; an existing checkpoint there is resumed.
pub fn train(
    spec: &TrainSpec,
    learner: &mut dyn Learner,
    data: &Dataset,
    dir: &Path,
    progress: &Progress,
    device: Device,
) -> Result<Vec<EpochMetrics>, TrainError> {
    if data.train.is_empty() {
        return Err(NodeError::Data("the training split is empty".into()).into());
    }
    if let Some(w) = super::dist::joined() {
        ranks_can_train(spec, data.train.len(), w.size)?;
    }
    let run = Loop {
        spec,
        data,
        dir,
        progress,
        device,
        seed: mix(&[spec.seed, super::rng::hash_str(&spec.node)]),
    };
    let mut state = run.start(learner)?;
    let mut last_save = Instant::now();
    while state.epoch < spec.epochs {
        let epoch = state.epoch;
        let lr = lr_at(spec, epoch);
        learner.set_lr(lr);
        let started = Instant::now();
        let this = spec.schedule.at(epoch, spec.epochs);
        if let Some((Epoch::Sample { from, .. }, _)) = &this {
            if state.probs.is_none() {
                state.probs = Some(vec![1.0 / from.len() as f64; from.len()]);
            }
        }
        run.batches(learner, &mut state, &this, started, &mut last_save)?;
        // The probabilities this epoch drew from, before Eq. 8 updates them.
        let probs_used = state.probs.clone();
        let held = run.held_out(&*learner, &mut state, &this)?;
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            lr,
            eps: match &this {
                Some((Epoch::Fixed(a), _)) => Some(a.eps()),
                _ => None,
            },
            probs: match &this {
                Some((Epoch::Sample { .. }, _)) => probs_used,
                _ => None,
            },
            train_loss: state.loss_sum / state.seen,
            train_acc: Some(state.correct / state.seen).filter(|a| a.is_finite()),
            val_loss: held.loss,
            val_acc: held.acc,
            val_adv_acc: held.adv_acc,
            budget_losses: held.budget_losses,
            seconds: state.seconds + started.elapsed().as_secs_f64(),
            stopped: None,
        };
        run.say(&metrics);
        let stop = if spec.guard {
            guard(
                spec,
                &mut state,
                learner,
                dir,
                epoch,
                metrics.val_adv_acc,
                progress,
            )?
        } else {
            None
        };
        let stopped = stop.is_some();
        state.metrics.push(EpochMetrics {
            stopped: stop,
            ..metrics
        });
        run.next_epoch(&*learner, &mut state, stopped)?;
        last_save = Instant::now();
    }
    Ok(state.metrics)
}

/// What several ranks cannot train as one process does, refused before any
/// work: a batch with fewer clips than ranks (the first or an epoch's
/// last), and, with BatchNorm in train mode during the attack (its
/// statistics summed over the ranks at every forward pass), an attack whose
/// passes depend on the clips (APGD, Square, an ensemble).
fn ranks_can_train(spec: &TrainSpec, clips: usize, ranks: usize) -> NodeResult<()> {
    let last = clips % spec.batch;
    let smallest = if last == 0 {
        spec.batch.min(clips)
    } else {
        last
    };
    if smallest < ranks {
        return Err(NodeError::Data(format!(
            "{clips} training clips in batches of {} leave a batch of {smallest} clip(s), and every one of the {ranks} ranks needs a clip of each batch; choose a `batch` of at least {ranks} whose last batch ({clips} mod batch) is 0 or at least {ranks}, or fewer ranks",
            spec.batch
        )));
    }
    if let TrainSchedule::Attacked { plan, epochs } = &spec.schedule {
        let uneven = epochs.values().into_iter().find(|a| a.as_pgd().is_none());
        if let (true, Some(a)) = (plan.bn_train, uneven) {
            return Err(NodeError::Failed(format!(
                "under {ranks} ranks, an attack with `bn: train` sums BatchNorm's statistics over the ranks at every forward pass, so every rank must make the same passes; {} stops per clip, so it cannot: use `bn: eval`, a PGD or FGSM training attack, or one process",
                a.describe()
            )));
        }
    }
    Ok(())
}

/// Eq. 8: P(εᵢ) = Lᵢ / Σⱼ Lⱼ, the losses summed over a held-out set.
/// All-zero (or non-finite) losses give the uniform distribution.
fn adaptive_probabilities(losses: &[f64]) -> Vec<f64> {
    let total: f64 = losses.iter().sum();
    if !(total.is_finite() && total > 0.0) || losses.iter().any(|l| *l < 0.0) {
        return vec![1.0 / losses.len() as f64; losses.len()];
    }
    losses.iter().map(|l| l / total).collect()
}

/// Writes `metrics.jsonl`, one JSON object per finished epoch.
pub fn write_metrics(dir: &Path, metrics: &[EpochMetrics]) -> NodeResult<()> {
    if !super::dist::writes() {
        return Ok(());
    }
    // What it refuses: a metric that is not a finite number.
    let text = EpochMetrics::jsonl(metrics).map_err(NodeError::Numeric)?;
    crate::util::write_atomic(&dir.join("metrics.jsonl"), text.as_bytes())
        .map_err(|e| NodeError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests;
