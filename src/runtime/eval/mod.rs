//! `robustness`: each model under each cell's attack, one record per clip
//! ([`ClipRecord`]); the table's cells are computed from the records.
//!
//! Two protocols ([`Protocol`]). `independent` (the paper's) attacks every
//! clip at every cell from scratch and counts the final iterate. `worst_case`
//! (AutoAttack's) does not attack clean-misclassified clips, stops a clip at
//! the first iterate that fools it, and in a budget sweep carries a clip
//! fooled at ε to every larger ε without attacking it again.

pub mod analysis;
pub mod certify;
pub mod sanity;
mod shard;

use super::attacks::Attack;
use super::data::{with_batches, Clips, Job};
use super::error::{stop_requested, NodeError, NodeResult};
use super::progress::Progress;
use super::rng::mix;
pub use crate::results::Row;
use crate::results::{ClipRecord, Column, ColumnAttack, FooledBy, Norms, Protocol};
use tch::{Device, Kind, Tensor};

/// One cell of the table: an attack (or the clean clips) at a budget.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The table's column: the clean clips, a budget of a sweep, or an
    /// attack of `attacks each {…}`.
    pub column: Column,
    /// The attack the records name: the column's label, the sweep's attack
    /// (at every ε), or none in the clean column.
    pub name: ColumnAttack,
    pub eps: f64,
    /// `None`: the clean clips.
    pub attack: Option<Attack>,
    /// The column's attack in full ([`Attack::describe`], with the step
    /// rule), for the tables.
    pub setting: String,
    /// How the column's attack reaches the model, for the sanity checks.
    pub access: Access,
}

/// How a column's attack reaches the model (a sweep's attack, also at ε = 0
/// where its cell attacks nothing): what the black-box check compares.
#[derive(Clone, Debug, PartialEq)]
pub enum Access {
    /// The clean column of `attacks each {…}`: no attack.
    Clean,
    /// Through the model's gradient.
    WhiteBox,
    /// By its scores alone ([`Attack::is_black_box`]).
    BlackBox,
    /// An ensemble of several attacks: its black-box members, by their
    /// names in the records' `fooled_by`.
    Ensemble { black_box: Vec<String> },
}

impl Access {
    /// The access of a column's attack; `None`: the clean column.
    pub fn of(attack: Option<&Attack>) -> Access {
        match attack {
            None => Access::Clean,
            Some(a) if a.members().len() > 1 => Access::Ensemble {
                black_box: a
                    .members()
                    .iter()
                    .filter(|(_, m)| m.is_black_box())
                    .map(|(name, _)| name.clone())
                    .collect(),
            },
            // One member: the member's own access.
            Some(a) if a.members().len() == 1 => Access::of(a.members().first().map(|(_, m)| m)),
            Some(a) if a.is_black_box() => Access::BlackBox,
            Some(_) => Access::WhiteBox,
        }
    }
}

/// One model as an evaluation runs it.
pub struct Model<'a> {
    /// The row label, as written (`d >> m`).
    pub label: &'a str,
    /// The model behind its defenses: what classifies a clip.
    pub net: &'a dyn Fn(&Tensor, bool) -> Tensor,
    /// What the attack differentiates: `net` itself (white-box), or the
    /// classifier alone with the defenses left unattacked (`through: classifier`).
    pub attacked: &'a dyn Fn(&Tensor, bool) -> Tensor,
    /// Whether `attacked` in the attack's BatchNorm mode is `net` in eval
    /// mode (then an attack's own logits tell whether an iterate fooled the clip).
    pub same_function: bool,
    /// This model's seed in this evaluation.
    pub seed: u64,
}

/// An evaluation as every model meets it: the clips, the cells and how
/// they are attacked.
pub struct Evaluation<'a> {
    /// The node's name, for progress lines.
    pub node: &'a str,
    pub clips: &'a Clips,
    pub cells: &'a [Cell],
    /// Attacks run with BatchNorm in training mode.
    pub bn_train: bool,
    /// Clips per batch.
    pub batch: usize,
    /// Whether a report wants the adversarial clips.
    pub keep: bool,
    pub protocol: Protocol,
    pub device: Device,
    pub progress: &'a Progress,
}

/// One model's rows and records, plus its adversarial clips when a report wants them.
pub struct ModelResult {
    pub rows: Vec<Row>,
    /// One per clip and cell, cell after cell in the cells' order.
    pub records: Vec<ClipRecord>,
    /// (ε, adversarial clips) in the split's order, one per cell.
    pub adversarial: Vec<(f64, Tensor)>,
}

impl ModelResult {
    /// Each cell with its records (one per clip).
    pub fn by_cell<'a>(
        &'a self,
        cells: &'a [Cell],
    ) -> impl Iterator<Item = (&'a Cell, &'a [ClipRecord])> {
        let n = self.records.len() / cells.len().max(1);
        cells.iter().zip(self.records.chunks(n.max(1)))
    }
}

/// What one clip looked like at the point counted.
#[derive(Clone)]
struct Seen {
    pred: i64,
    margin: f64,
    linf: f64,
    l2: f64,
    l0: f64,
    frame_linf: Vec<f64>,
    /// The softmax (frame data: video accuracy averages it per video).
    probs: Option<Vec<f32>>,
    /// Every logit finite: a clip with a NaN or infinite logit has no
    /// prediction, and is never counted correct.
    finite: bool,
}

impl Seen {
    /// Classified as `label`, from finite logits.
    fn right(&self, label: i64) -> bool {
        self.finite && self.pred == label
    }
}

/// A cell's row, its records and (when kept) its adversarial clips.
type CellResult = (Row, Vec<ClipRecord>, Option<Tensor>);

/// A clip as counted in a cell: what fooled it, at which step, and how it looked.
#[derive(Clone)]
struct Counted {
    by: Option<FooledBy>,
    step: Option<u64>,
    seen: Seen,
}

/// A clip fooled earlier in a budget sweep: how it was counted, and its
/// adversarial clip (when kept).
struct Fooled {
    counted: Counted,
    adv: Option<Tensor>,
}

/// A cell's clips as attacked: each clip attacked as counted, and its
/// adversarial clip when kept (on the CPU); `None` for the others.
type Attempt = (Vec<Option<Counted>>, Vec<Option<Tensor>>);

/// What an attack gave on a batch: the clips counted, and per clip the
/// step that fooled it and the ensemble member that did (when tracked).
type Attacked = (
    Tensor,
    Option<Vec<Option<usize>>>,
    Option<Vec<Option<String>>>,
);

/// Per clip of a batch: prediction, margin, norms of δ = xa − x (0..255
/// units), and the softmax when `probs`.
fn measure(logits: &Tensor, x: &Tensor, xa: &Tensor, y: &Tensor, probs: bool) -> Vec<Seen> {
    let _g = tch::no_grad_guard();
    let cpu = Device::Cpu;
    let n = x.size()[0];
    // Each per-clip quantity read to the host once, as a vector.
    let values = |t: Tensor| -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double).to_device(cpu).flatten(0, -1))
            .unwrap_or_default()
    };
    let pred = Vec::<i64>::try_from(logits.argmax(-1, false).to_device(cpu)).unwrap_or_default();
    let finite = Vec::<bool>::try_from(logits.isfinite().all_dim(1, false).to_device(cpu))
        .unwrap_or_default();
    let label_logit = logits.gather(1, &y.unsqueeze(1), false).squeeze_dim(1);
    let others = logits.scatter_value(1, &y.unsqueeze(1), f64::NEG_INFINITY);
    let margin = values(label_logit - others.amax([1], false));
    let size = ((xa - x) * 255.0).to_kind(Kind::Float).abs(); // |δ|, N×C×T×H×W
    let flat = size.reshape([n, -1]);
    let linf = values(flat.amax([1], false));
    let l2 = values(flat.norm_scalaropt_dim(2, [1], false));
    let changed = size.amax([1], false).gt(0.0).to_kind(Kind::Float); // N×T×H×W
    let l0 = values(
        changed
            .reshape([n, -1])
            .mean_dim(&[1i64][..], false, Kind::Float),
    );
    let frames = values(size.amax([1, 3, 4], false)); // N×T, row by row
    let t = (frames.len() / n.max(1) as usize).max(1);
    let soft = probs.then(|| logits.softmax(-1, Kind::Float).to_device(cpu));
    (0..n as usize)
        .map(|i| Seen {
            pred: pred[i],
            // A NaN margin has no JSON number; the record says `non_finite`.
            margin: if finite[i] { margin[i] } else { 0.0 },
            finite: finite[i],
            linf: linf[i],
            l2: l2[i],
            l0: l0[i],
            frame_linf: frames[i * t..(i + 1) * t].to_vec(),
            probs: soft
                .as_ref()
                .and_then(|p| Vec::<f32>::try_from(p.get(i as i64)).ok()),
        })
        .collect()
}

/// Each model of an evaluation, under every cell: its rows, records and
/// (kept) adversarial clips. Cells are visited in [`visit_order`]; a budget
/// sweep carries a clip fooled at a smaller ε to the larger ones (worst
/// case), an `attacks each` column starts afresh.
pub fn robustness(ev: &Evaluation, model: &Model) -> NodeResult<ModelResult> {
    let run = Run {
        ev,
        model,
        clean: clean_pass(ev, model)?,
        batch: ev.batch.max(1),
        video: ev.clips.video_of(0).is_some(),
    };
    let n = ev.clips.len();
    let unfooled = || -> Vec<Option<Fooled>> { (0..n).map(|_| None).collect() };
    let mut swept = unfooled();
    let mut results: Vec<Option<CellResult>> = (0..ev.cells.len()).map(|_| None).collect();
    for k in visit_order(ev.cells, ev.protocol) {
        let mut own = unfooled();
        let carried = match ev.cells[k].column {
            Column::Budget(_) => &mut swept,
            Column::Clean | Column::Attack(_) => &mut own,
        };
        results[k] = Some(run.cell(k, carried)?);
    }
    let mut out = ModelResult {
        rows: Vec::new(),
        records: Vec::new(),
        adversarial: Vec::new(),
    };
    for (cell, r) in ev.cells.iter().zip(results) {
        let (row, records, adv) = r.expect("every cell visited");
        out.rows.push(row);
        out.records.extend(records);
        if let Some(t) = adv {
            out.adversarial.push((cell.eps, t));
        }
    }
    Ok(out)
}

/// The order cells are run in: as given, except that under `worst_case` a
/// budget sweep's cells come first by ascending ε (so that a clip fooled
/// at ε is carried to the larger ones); results are written as given.
fn visit_order(cells: &[Cell], protocol: Protocol) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cells.len()).collect();
    if protocol == Protocol::WorstCase {
        let key = |c: &Cell| (!matches!(c.column, Column::Budget(_)), c.eps);
        order.sort_by(|&a, &b| {
            key(&cells[a])
                .partial_cmp(&key(&cells[b]))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
    order
}

/// The clean clips as the model classifies them, with their labels: what
/// every record compares with.
struct Clean {
    seen: Vec<Seen>,
    labels: Vec<i64>,
}

impl Clean {
    /// Clip `i` classified right unattacked.
    fn right(&self, i: usize) -> bool {
        self.seen[i].right(self.labels[i])
    }
}

/// The clean pass (the labels come with it: the clips are read once for
/// both); refused when a clean clip gives NaN or infinite logits.
fn clean_pass(ev: &Evaluation, model: &Model) -> NodeResult<Clean> {
    let n = ev.clips.len();
    let idx: Vec<usize> = (0..n).collect();
    let video = ev.clips.video_of(0).is_some();
    let mut seen: Vec<Option<Counted>> = vec![None; n];
    let mut labels = vec![0i64; n];
    let jobs = Job::chunks(&idx, ev.batch, |b| shard::mine(b, true));
    with_batches(ev.clips, jobs, ev.device, |next| {
        for (b, chunk) in idx.chunks(ev.batch.max(1)).enumerate() {
            if !shard::mine(b, true) {
                continue;
            }
            stop_requested()?;
            tch::manual_seed(mix(&[model.seed, u64::MAX, b as u64]) as i64);
            let (x, y) = next().ok_or_else(loader_stopped)??;
            let _g = tch::no_grad_guard();
            let logits = (model.net)(&x, false);
            let measured = measure(&logits, &x, &x, &y, video);
            let ys = Vec::<i64>::try_from(y.to_device(Device::Cpu))
                .map_err(|e| NodeError::Torch(e.to_string()))?;
            for ((&i, m), l) in chunk.iter().zip(measured).zip(ys) {
                seen[i] = Some(Counted {
                    by: None,
                    step: None,
                    seen: m,
                });
                labels[i] = l;
            }
        }
        Ok::<(), NodeError>(())
    })?;
    shard::share(&mut seen, &mut labels, &mut [], true)?;
    let clean = Clean {
        seen: seen
            .into_iter()
            .map(|c| c.map(|c| c.seen))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| NodeError::Failed("a clip of the clean pass was not computed".into()))?,
        labels,
    };
    let broken = clean.seen.iter().filter(|s| !s.finite).count();
    if broken > 0 {
        let label = model.label;
        return Err(NodeError::NonFiniteLogits {
            model: label.to_string(),
            broken,
            clips: n,
        });
    }
    Ok(clean)
}

/// One model's evaluation under way: what every cell compares with.
struct Run<'a> {
    ev: &'a Evaluation<'a>,
    model: &'a Model<'a>,
    clean: Clean,
    /// Clips per batch (at least one).
    batch: usize,
    /// Frame data: clips are cut from videos.
    video: bool,
}

impl Run<'_> {
    /// Cell `k`: its clips attacked, counted and recorded; `carried` holds
    /// the clips fooled at a smaller ε of the sweep, and gains those fooled here.
    fn cell(&self, k: usize, carried: &mut [Option<Fooled>]) -> NodeResult<CellResult> {
        let (ev, label, n) = (self.ev, self.model.label, self.ev.clips.len());
        let cell = &ev.cells[k];
        let column = match &cell.column {
            Column::Budget(_) => format!("ε {}", cell.eps),
            c => c.to_string(),
        };
        let bar = ev
            .progress
            .bar(&format!("{label} {column}"), n.div_ceil(self.batch) as u64);
        let todo = self.to_attack(cell, carried);
        let (mut seen, kept) = self.attack(k, &todo, &|| bar.inc(1))?;
        bar.finish_and_clear();
        // Every clip's count: attacked here, carried from a smaller ε, or
        // (worst case) not attacked because the clean clip is misclassified.
        let counted: Vec<Counted> = (0..n)
            .map(|i| match (seen[i].take(), &carried[i]) {
                (Some(c), _) => c,
                (None, Some(f)) => f.counted.clone(),
                (None, None) => self.unattacked(i),
            })
            .collect();
        let adv = ev.keep.then(|| self.adversarial(&kept, carried));
        if ev.protocol == Protocol::WorstCase && cell.attack.is_some() {
            for (i, c) in counted.iter().enumerate() {
                if !c.seen.right(self.clean.labels[i]) && carried[i].is_none() {
                    carried[i] = Some(Fooled {
                        counted: c.clone(),
                        adv: kept[i].as_ref().map(Tensor::shallow_clone),
                    });
                }
            }
        }
        let video_accuracy = self.video_accuracy(&counted);
        let records: Vec<ClipRecord> = counted
            .into_iter()
            .enumerate()
            .map(|(i, c)| self.record(cell, i, c))
            .collect();
        let alpha = cell.attack.as_ref().map_or(0.0, |a| a.alpha());
        let row = row_of(label, cell, &records, video_accuracy, alpha);
        ev.progress.line(&format!(
            "{}: {label} at {column}: {:.1}% ({}/{n})",
            ev.node,
            100.0 * row.accuracy,
            row.correct
        ));
        Ok((row, records, adv))
    }

    /// The clips a cell attacks: every clip (`independent`); under
    /// `worst_case` none for the clean clips, else those the model gets
    /// right clean and no smaller ε fooled.
    fn to_attack(&self, cell: &Cell, carried: &[Option<Fooled>]) -> Vec<usize> {
        let n = self.ev.clips.len();
        match (self.ev.protocol, &cell.attack) {
            (Protocol::Independent, _) => (0..n).collect(),
            (Protocol::WorstCase, None) => Vec::new(),
            (Protocol::WorstCase, Some(_)) => (0..n)
                .filter(|&i| self.clean.right(i) && carried[i].is_none())
                .collect(),
        }
    }

    /// Cell `k`'s attack on the clips `todo`, batch after batch: each clip
    /// as counted, and its adversarial clip when kept (on the CPU).
    fn attack(&self, k: usize, todo: &[usize], done: &dyn Fn()) -> NodeResult<Attempt> {
        let (ev, n) = (self.ev, self.ev.clips.len());
        let cell = &ev.cells[k];
        let mut seen: Vec<Option<Counted>> = vec![None; n];
        let mut kept: Vec<Option<Tensor>> = (0..n).map(|_| None).collect();
        let mine = |b: usize| shard::mine(b, !ev.bn_train);
        // This rank's batches, for the loader to decode ahead.
        let jobs = Job::chunks(todo, self.batch, mine);
        with_batches(ev.clips, jobs, ev.device, |next| {
            for (b, chunk) in todo.chunks(self.batch).enumerate() {
                // BatchNorm in train mode during the attack moves its running
                // statistics batch after batch: then every rank attacks every
                // batch, in order, as one process does.
                if !mine(b) {
                    done();
                    continue;
                }
                stop_requested()?;
                tch::manual_seed(mix(&[self.model.seed, k as u64, b as u64]) as i64);
                let (x, y) = next().ok_or_else(loader_stopped)??;
                let (xa, steps, members) = self.attack_batch(cell, &x, &y)?;
                let logits = {
                    let _g = tch::no_grad_guard();
                    (self.model.net)(&xa, false)
                };
                let measured = measure(&logits, &x, &xa, &y, self.video);
                for (j, (&i, m)) in chunk.iter().zip(measured).enumerate() {
                    let step = steps.as_ref().and_then(|s| s[j]);
                    let member = members.as_ref().and_then(|m| m[j].clone());
                    seen[i] = Some(self.count(cell, i, m, step, member));
                    if ev.keep {
                        kept[i] = Some(xa.get(j as i64).to_device(Device::Cpu));
                    }
                }
                done();
            }
            Ok::<(), NodeError>(())
        })?;
        let mut labels = self.clean.labels.clone();
        shard::share(&mut seen, &mut labels, &mut kept, !ev.bn_train)?;
        Ok((seen, kept))
    }

    /// The cell's attack on one batch under the protocol (the clean clips
    /// themselves where the cell has none).
    fn attack_batch(&self, cell: &Cell, x: &Tensor, y: &Tensor) -> NodeResult<Attacked> {
        let (model, bn_train) = (self.model, self.ev.bn_train);
        let judge = |v: &Tensor| (model.net)(v, false);
        let judge: Option<&dyn Fn(&Tensor) -> Tensor> = if model.same_function {
            None
        } else {
            Some(&judge)
        };
        let attacked = |v: &Tensor| (model.attacked)(v, bn_train);
        let victim = crate::runtime::attacks::Victim {
            f: &attacked,
            judge,
        };
        let found = match (&cell.attack, self.ev.protocol) {
            (None, _) => return Ok((x.shallow_clone(), None, None)),
            (Some(a), Protocol::Independent) => a.run_independent(victim, x, y)?,
            (Some(a), Protocol::WorstCase) => a.run_until_fooled(victim, x, y)?,
        };
        Ok((found.adv, found.steps, found.by))
    }

    /// Clip `i` as a cell's attack left it: what fooled it (the clean clip
    /// misclassified already, the ensemble's member, or the column's
    /// attack) and at which step (0 for the clean clips; the attack's last
    /// where it does not track its steps).
    fn count(
        &self,
        cell: &Cell,
        i: usize,
        seen: Seen,
        step: Option<usize>,
        member: Option<String>,
    ) -> Counted {
        let fooled = !seen.right(self.clean.labels[i]);
        let by = fooled.then(|| {
            if !self.clean.right(i) {
                FooledBy::Clean
            } else {
                FooledBy::Attack(member.unwrap_or_else(|| cell.name.to_string()))
            }
        });
        let step = match &cell.attack {
            None => Some(0),
            Some(a) => Some(step.unwrap_or(a.steps()) as u64),
        };
        Counted {
            by,
            step: step.filter(|_| fooled),
            seen,
        }
    }

    /// Clip `i` not attacked in a cell (worst case): its clean count,
    /// fooled by `clean` when misclassified.
    fn unattacked(&self, i: usize) -> Counted {
        let by = (!self.clean.right(i)).then_some(FooledBy::Clean);
        Counted {
            step: by.as_ref().map(|_| 0),
            by,
            seen: self.clean.seen[i].clone(),
        }
    }

    /// Clip `i`'s record in a cell.
    fn record(&self, cell: &Cell, i: usize, c: Counted) -> ClipRecord {
        let m = c.seen;
        ClipRecord {
            seed: None,
            model: self.model.label.to_string(),
            attack: cell.name.clone(),
            eps: cell.eps,
            clip: i as u64,
            video: self.ev.clips.video_name(i),
            label: self.clean.labels[i],
            clean_pred: self.clean.seen[i].pred,
            adv_pred: m.pred,
            fooled: !m.right(self.clean.labels[i]),
            fooled_by: c.by,
            step: c.step,
            margin: m.margin,
            linf: m.linf,
            l2: m.l2,
            l0: m.l0,
            frame_linf: m.frame_linf,
            non_finite: !m.finite,
        }
    }

    /// A cell's adversarial clips in the split's order: attacked here,
    /// carried from a smaller ε, or the clean clip.
    fn adversarial(&self, kept: &[Option<Tensor>], carried: &[Option<Fooled>]) -> Tensor {
        let all: Vec<Tensor> = (0..self.ev.clips.len())
            .map(|i| match (&kept[i], &carried[i]) {
                (Some(t), _) => t.shallow_clone(),
                (None, Some(Fooled { adv: Some(t), .. })) => t.shallow_clone(),
                _ => self
                    .ev
                    .clips
                    .batch(&[i], 0, Device::Cpu)
                    .map(|(x, _)| x.get(0))
                    .unwrap_or_else(|_| Tensor::zeros([0], (Kind::Float, Device::Cpu))),
            })
            .collect();
        Tensor::stack(&all, 0)
    }

    /// Frame data: the accuracy over videos (their clips' softmax averaged).
    fn video_accuracy(&self, counted: &[Counted]) -> Option<f64> {
        let clips = self.ev.clips;
        let Clips::Frames(f) = clips else {
            return None;
        };
        if !self.video {
            return None;
        }
        let probs: Vec<Vec<f32>> = counted
            .iter()
            .map(|c| c.seen.probs.clone().unwrap_or_default())
            .collect();
        let clip_video: Vec<usize> = (0..clips.len()).filter_map(|i| clips.video_of(i)).collect();
        let labels: Vec<i64> = f.videos.iter().map(|v| v.label).collect();
        Some(super::data::frames::video_accuracy(
            &probs,
            &clip_video,
            &labels,
        ))
    }
}

/// A cell of the table, computed from its records; its interval over
/// videos where clips share one ([`Row::over_videos`]).
fn row_of(
    model: &str,
    cell: &Cell,
    records: &[ClipRecord],
    video_accuracy: Option<f64>,
    alpha: f64,
) -> Row {
    let n = records.len() as u64;
    let correct = records.iter().filter(|r| !r.fooled).count() as u64;
    Row {
        video_accuracy,
        norms: cell.attack.as_ref().map(|_| norms(records)),
        setting: Some(cell.setting.clone()),
        ..Row::counted(model, cell.column.row_attack(), cell.eps, alpha, correct, n)
    }
    .over_videos(&ClipRecord::by_video(records))
}

/// The norms of the perturbations that fooled clips the clean model got right.
pub fn norms(records: &[ClipRecord]) -> Norms {
    let hit: Vec<&ClipRecord> = records
        .iter()
        .filter(|r| r.fooled && !r.fooled_by.as_ref().is_some_and(FooledBy::is_clean))
        .collect();
    let mean = |f: fn(&ClipRecord) -> f64| {
        (!hit.is_empty()).then(|| hit.iter().map(|r| f(r)).sum::<f64>() / hit.len() as f64)
    };
    let max = |f: fn(&ClipRecord) -> f64| hit.iter().map(|r| f(r)).reduce(f64::max);
    Norms {
        fooled: hit.len() as u64,
        linf_mean: mean(|r| r.linf),
        linf_max: max(|r| r.linf),
        l2_mean: mean(|r| r.l2),
        l2_max: max(|r| r.l2),
    }
}

fn loader_stopped() -> NodeError {
    NodeError::Failed("the clip loader stopped before the last batch".into())
}
