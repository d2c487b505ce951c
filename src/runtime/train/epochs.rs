//! The steps of [`super::train`]'s loop over epochs: resume, the batches,
//! the held-out metrics (and AAT's Eq. 8), the epoch's line, the next epoch.

use super::checkpoint::{damaged, load_state, save_state, State};
use super::{
    adaptive_probabilities, evaluate, write_metrics, AttackPlan, EpochMetrics, Learner, TrainError,
    TrainSpec,
};
use crate::language::schedule::Epoch;
use crate::runtime::attacks::Attack;
use crate::runtime::data::{with_batches, Dataset, Job};
use crate::runtime::dist;
use crate::runtime::error::NodeError;
use crate::runtime::progress::Progress;
use crate::runtime::rng::{mix, SplitMix};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Tensor};

/// One training run: what every step of [`train`]'s loop reads.
pub(super) struct Loop<'a> {
    pub(super) spec: &'a TrainSpec,
    pub(super) data: &'a Dataset,
    pub(super) dir: &'a Path,
    pub(super) progress: &'a Progress,
    pub(super) device: Device,
    /// The node's seed: batch orders, batches and held-out draws derive
    /// from it.
    pub(super) seed: u64,
}

/// The epoch's attack (by the schedule) and the plan it came from; `None`:
/// clean training.
type ThisEpoch<'s> = Option<(Epoch<Attack>, &'s AttackPlan)>;

/// What the held-out split says after an epoch.
pub(super) struct HeldOut {
    pub(super) loss: Option<f64>,
    pub(super) acc: Option<f64>,
    pub(super) adv_acc: Option<f64>,
    /// AAT's held-out loss per budget or attack (Eq. 8), when it reweighs.
    pub(super) budget_losses: Option<Vec<f64>>,
}

impl Loop<'_> {
    /// The run's state: its checkpoint's, or a fresh one. A damaged
    /// checkpoint costs the work since the node started, never a wrong
    /// result: it is set aside and the node starts again.
    pub(super) fn start(&self, learner: &mut dyn Learner) -> Result<State, TrainError> {
        let (spec, dir, progress) = (self.spec, self.dir, self.progress);
        let resume = match load_state(dir) {
            Ok(r) => r,
            Err(why) => {
                progress.line(&format!(
                    "{}: warning: {why}; the checkpoint is set aside and `{}` starts again",
                    spec.node, spec.node
                ));
                if dist::writes() {
                    let _ = std::fs::rename(dir.join("state.json"), dir.join("state.json.damaged"));
                }
                None
            }
        };
        let Some((st, tensors)) = resume else {
            return Ok(State {
                epoch: 0,
                batch: 0,
                tensors: String::new(),
                probs: None,
                loss_sum: 0.0,
                correct: 0.0,
                seen: 0.0,
                seconds: 0.0,
                metrics: Vec::new(),
                sha256: Default::default(),
                guard_best: None,
            });
        };
        // Verified files that do not restore into this learner: damaged.
        let file = dir.join(&st.tensors);
        learner
            .restore_files(&file)
            .and_then(|()| learner.restore(&tensors))
            .map_err(|e| damaged(&file, e))?;
        progress.line(&format!(
            "{}: resuming from the checkpoint at epoch {}, batch {}",
            spec.node,
            st.epoch + 1,
            st.batch
        ));
        Ok(st)
    }

    /// The epoch's batches from `state.batch` on, each one optimizer step;
    /// a checkpoint every 10 minutes, and on a stop, which ends the run.
    pub(super) fn batches(
        &self,
        learner: &mut dyn Learner,
        state: &mut State,
        this: &ThisEpoch,
        started: Instant,
        last_save: &mut Instant,
    ) -> Result<(), TrainError> {
        let (spec, n, epoch) = (self.spec, self.data.train.len(), state.epoch);
        let batches = n.div_ceil(spec.batch);
        let order = SplitMix::new(mix(&[self.seed, epoch as u64])).permutation(n);
        let bar = self.progress.bar(
            &format!("{} epoch {}/{}", spec.node, epoch + 1, spec.epochs),
            batches as u64,
        );
        bar.set_position(state.batch as u64);
        // The batches this epoch has left, for the loader to decode ahead.
        let jobs = (state.batch..batches)
            .map(|b| {
                let idx = &order[b * spec.batch..((b + 1) * spec.batch).min(n)];
                let shard = dist::Shard::of_batch(idx.len());
                let (first, count) = shard.map_or((0, idx.len()), |s| (s.first, s.count));
                Job {
                    idx: idx[first..first + count].to_vec(),
                    seed: mix(&[self.seed, epoch as u64, b as u64]),
                    first,
                }
            })
            .collect();
        with_batches(&self.data.train, jobs, self.device, |next| {
            while state.batch < batches {
                let b = state.batch;
                let idx = &order[b * spec.batch..((b + 1) * spec.batch).min(n)];
                let batch_seed = mix(&[self.seed, epoch as u64, b as u64]);
                tch::manual_seed(batch_seed as i64);
                let mut rng = SplitMix::new(batch_seed ^ 0x5eed);
                // One rank of several trains on its rows of the batch; the
                // batch's seeds and draws are the whole batch's.
                let shard = dist::Shard::of_batch(idx.len());
                let (x, y) =
                    next().ok_or_else(|| NodeError::Data("the clip loader stopped".into()))??;
                let attack = this.as_ref().map(|(this, a)| {
                    let attack = match this {
                        Epoch::Fixed(at) => at,
                        Epoch::Sample { from, .. } => {
                            &from[rng.categorical(state.probs.as_deref().unwrap_or(&[]))]
                        }
                    };
                    (attack, a.bn_train)
                });
                let step = shard.map(dist::Step::enter);
                let outcome = learner.step(&x, &y, attack);
                drop(step);
                let (lv, correct) = match outcome {
                    Ok(r) => r,
                    // Stopped inside the batch's attack, before its update: the
                    // state is the batch's start, saved as the checkpoint. An
                    // attack with BatchNorm in train mode has moved its
                    // statistics: then the last checkpoint stands.
                    Err(NodeError::Interrupted) if !attack.is_some_and(|(_, bn)| bn) => {
                        state.seconds += started.elapsed().as_secs_f64();
                        let path = save_state(self.dir, state, &*learner)?;
                        bar.abandon();
                        return Err(self.interrupted(path, epoch));
                    }
                    Err(e) => return Err(e.into()),
                };
                // The batch's loss and count over the ranks, and whether any of
                // them was asked to stop (each stops after this batch).
                let mut interrupted = crate::util::interrupted();
                let (lv, correct) = match shard {
                    None => (lv, correct),
                    Some(s) => {
                        let mine = [
                            lv * s.count as f64,
                            correct,
                            f64::from(u8::from(interrupted)),
                        ];
                        let sums = dist::sum_values(&mine).map_err(NodeError::from)?;
                        interrupted = sums[2] > 0.0;
                        (sums[0] / s.of as f64, sums[1])
                    }
                };
                if !lv.is_finite() {
                    return Err(NodeError::Numeric(format!(
                    "the training loss became {lv} at epoch {}, batch {}; the last good checkpoint (epoch {}) is kept in {}. Lower `lr`, or check the data",
                    epoch + 1,
                    b + 1,
                    epoch,
                    self.dir.display()
                ))
                .into());
                }
                let m = idx.len() as f64;
                state.loss_sum += lv * m;
                state.correct += correct;
                state.seen += m;
                state.batch += 1;
                bar.set_position(state.batch as u64);
                bar.set_message(format!(
                    "loss {:.3} acc {:.1}%",
                    state.loss_sum / state.seen,
                    100.0 * state.correct / state.seen
                ));
                if interrupted || last_save.elapsed().as_secs() >= 600 {
                    state.seconds += started.elapsed().as_secs_f64();
                    let path = save_state(self.dir, state, &*learner)?;
                    *last_save = Instant::now();
                    if interrupted {
                        bar.abandon();
                        return Err(self.interrupted(path, epoch));
                    }
                }
            }
            bar.finish_and_clear();
            Ok(())
        })
    }

    /// A stop after its checkpoint was saved: said, and the run ends.
    fn interrupted(&self, checkpoint: PathBuf, epoch: usize) -> TrainError {
        self.progress.line(&format!(
            "{}: interrupted; checkpoint saved (Ctrl-C again stops at once)",
            self.spec.node
        ));
        TrainError::Interrupted { checkpoint, epoch }
    }

    /// The held-out metrics at the end of an epoch, and AAT's Eq. 8 when
    /// due (the next epoch's `state.probs`).
    pub(super) fn held_out(
        &self,
        learner: &dyn Learner,
        state: &mut State,
        this: &ThisEpoch,
    ) -> Result<HeldOut, TrainError> {
        let (batch, val, device) = (self.spec.batch, &self.data.val, self.device);
        let val_seed = mix(&[self.seed, state.epoch as u64, 0xfa1]);
        let classify = |v: &Tensor, train: bool| {
            learner
                .classify(v, train)
                .expect("only learners with a classifier are evaluated")
        };
        let judged = !val.is_empty() && learner.has_classifier();
        let (loss, acc) = if judged {
            let (l, a, cnt) = evaluate(&classify, val, batch, None, false, val_seed, device)?;
            (Some(l / cnt), Some(a))
        } else {
            (None, None)
        };
        let adv_acc = match this {
            Some((Epoch::Fixed(at), a)) if judged => {
                let seed = mix(&[val_seed, 0xad7]);
                let (_, acc, _) =
                    evaluate(&classify, val, batch, Some(at), a.bn_train, seed, device)?;
                Some(acc)
            }
            _ => None,
        };
        let mut budget_losses = None;
        if let Some((
            Epoch::Sample {
                from,
                reweigh: true,
            },
            a,
        )) = this
        {
            if val.is_empty() {
                return Err(NodeError::Data(
                    "adaptive schedules need a held-out split (`val` > 0 in the data) to weigh the budgets or attacks (Eq. 8)".into(),
                )
                .into());
            }
            if !learner.has_classifier() {
                return Err(NodeError::Failed(
                    "adaptive schedules weigh the budgets by a classifier's held-out loss (Eq. 8); name the classifier (`classifier: benign`)".into(),
                )
                .into());
            }
            let mut losses = Vec::new();
            for (i, attack) in from.iter().enumerate() {
                let seed = mix(&[val_seed, i as u64]);
                let (l, _, _) = evaluate(
                    &classify,
                    val,
                    batch,
                    Some(attack),
                    a.bn_train,
                    seed,
                    device,
                )?;
                losses.push(l);
            }
            state.probs = Some(adaptive_probabilities(&losses));
            budget_losses = Some(losses);
        }
        // Of several ranks, rank 0's numbers decide (the guard, Eq. 8).
        let (mut loss, mut acc, mut adv_acc) = (loss, acc, adv_acc);
        let mut decided: Vec<&mut f64> = [&mut loss, &mut acc, &mut adv_acc]
            .into_iter()
            .flatten()
            .chain(budget_losses.iter_mut().flatten())
            .chain(state.probs.iter_mut().flatten())
            .collect();
        let mut values: Vec<f64> = decided.iter().map(|v| **v).collect();
        dist::from_rank_0(&mut values).map_err(NodeError::from)?;
        for (v, x) in decided.iter_mut().zip(values) {
            **v = x;
        }
        Ok(HeldOut {
            loss,
            acc,
            adv_acc,
            budget_losses,
        })
    }

    /// The epoch's line: loss, accuracies, budget and time.
    pub(super) fn say(&self, m: &EpochMetrics) {
        self.progress.line(&format!(
            "{} epoch {}/{}: loss {:.3}{}{}{} ({:.1} s)",
            self.spec.node,
            m.epoch,
            self.spec.epochs,
            m.train_loss,
            m.train_acc
                .map_or(String::new(), |a| format!(", train acc {:.1}%", 100.0 * a)),
            m.val_acc
                .map_or(String::new(), |a| format!(", val acc {:.1}%", 100.0 * a)),
            m.eps.map_or(String::new(), |e| format!(", ε {e}")),
            m.seconds
        ));
    }

    /// On to the next epoch (or the end, when the guard stopped): the
    /// counters reset, the metrics written and the checkpoint saved.
    pub(super) fn next_epoch(
        &self,
        learner: &dyn Learner,
        state: &mut State,
        stopped: bool,
    ) -> Result<(), TrainError> {
        state.epoch = if stopped {
            self.spec.epochs
        } else {
            state.epoch + 1
        };
        state.batch = 0;
        state.loss_sum = 0.0;
        state.correct = 0.0;
        state.seen = 0.0;
        state.seconds = 0.0;
        write_metrics(self.dir, &state.metrics)?;
        save_state(self.dir, state, learner)?;
        Ok(())
    }
}
