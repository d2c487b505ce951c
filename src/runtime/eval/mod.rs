//! `robustness`: each model under each cell's attack, one record per clip
//! ([`ClipRecord`]); the table's cells are computed from the records.
//!
//! Two protocols ([`Protocol`]). `independent` (the paper's) attacks every
//! clip at every cell from scratch and counts the final iterate. `worst_case`
//! (AutoAttack's) does not attack clean-misclassified clips, stops a clip at
//! the first iterate that fools it, and in a budget sweep carries a clip
//! fooled at ε to every larger ε without attacking it again.

pub mod analysis;
pub mod sanity;

use super::attacks::Attack;
use super::data::Clips;
use super::progress::Progress;
use super::rng::mix;
pub use crate::results::Row;
use crate::results::{ClipRecord, Norms, Protocol};
use tch::{Device, Kind, Tensor};

/// One cell of the table: an attack (or the clean clips) at a budget.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The column's attack name in an `attacks each {…}` table.
    pub label: Option<String>,
    /// The attack's name in the records (`none` for clean clips).
    pub name: String,
    pub eps: f64,
    /// `None`: the clean clips.
    pub attack: Option<Attack>,
    /// The column's attack in full ([`Attack::describe`], with the step
    /// rule), for the tables.
    pub setting: String,
}

/// One model's rows and records, plus its adversarial clips when a report wants them.
pub struct ModelResult {
    pub rows: Vec<Row>,
    pub records: Vec<ClipRecord>,
    /// (ε, adversarial clips) in the split's order.
    pub adversarial: Vec<(f64, Tensor)>,
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
type Counted = (Option<String>, Option<u64>, Seen);

/// A clip fooled earlier in a budget sweep: what fooled it, and how.
struct Fooled {
    by: String,
    step: Option<u64>,
    seen: Seen,
    adv: Option<Tensor>,
}

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

#[allow(clippy::too_many_arguments)]
pub fn robustness(
    node: &str,
    label: &str,
    net: &dyn Fn(&Tensor, bool) -> Tensor,
    // What the attack differentiates: `net` itself (white-box), or the
    // classifier alone with the defenses left unattacked (`through: classifier`).
    attacked: &dyn Fn(&Tensor, bool) -> Tensor,
    // Whether `attacked` in the attack's BatchNorm mode is `net` in eval mode
    // (then an attack's own logits tell whether an iterate fooled the clip).
    same_function: bool,
    clips: &Clips,
    cells: &[Cell],
    bn_train: bool,
    batch: usize,
    seed: u64,
    keep: bool,
    protocol: Protocol,
    device: Device,
    progress: &Progress,
) -> Result<ModelResult, String> {
    let n = clips.len();
    let idx: Vec<usize> = (0..n).collect();
    let batch = batch.max(1);
    let video = clips.video_of(0).is_some();
    let mut labels: Vec<i64> = Vec::with_capacity(n);
    // The clean pass: what every record compares with.
    let mut clean: Vec<Seen> = Vec::with_capacity(n);
    for (b, chunk) in idx.chunks(batch).enumerate() {
        interrupted()?;
        tch::manual_seed(mix(&[seed, u64::MAX, b as u64]) as i64);
        let (x, y) = clips.batch(chunk, 0, device)?;
        let _g = tch::no_grad_guard();
        clean.extend(measure(&net(&x, false), &x, &x, &y, video));
        // The labels come with the clean pass: the clips are read once for both.
        labels.extend(Vec::<i64>::try_from(y.to_device(Device::Cpu)).map_err(|e| e.to_string())?);
    }
    let broken = clean.iter().filter(|s| !s.finite).count();
    if broken > 0 {
        return Err(format!(
            "`{label}` gives NaN or infinite logits on {broken} of {n} clean clips: an accuracy over them would mean nothing; check the model's forward pass on these clips (a division by zero, a log of 0, NaN weights)"
        ));
    }
    let mut rows = Vec::new();
    let mut records = Vec::new();
    let mut adversarial = Vec::new();
    // A budget sweep's clips fooled at a smaller ε (worst case): cells are
    // visited by ascending ε and written in the order given.
    let mut order: Vec<usize> = (0..cells.len()).collect();
    if protocol == Protocol::WorstCase {
        order.sort_by(|&a, &b| {
            (cells[a].label.is_some(), cells[a].eps)
                .partial_cmp(&(cells[b].label.is_some(), cells[b].eps))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
    let mut swept: Vec<Option<Fooled>> = (0..n).map(|_| None).collect();
    let mut results: Vec<Option<CellResult>> = (0..cells.len()).map(|_| None).collect();
    for &k in &order {
        let cell = &cells[k];
        let column = match &cell.label {
            Some(l) => l.clone(),
            None => format!("ε {}", cell.eps),
        };
        // `attacks each` columns are separate attacks: nothing carries over.
        let mut own: Vec<Option<Fooled>> = (0..n).map(|_| None).collect();
        let carried = if cell.label.is_none() {
            &mut swept
        } else {
            &mut own
        };
        let bar = progress.bar(&format!("{label} {column}"), n.div_ceil(batch) as u64);
        let mut seen: Vec<Option<Counted>> = vec![None; n];
        let mut kept: Vec<Option<Tensor>> = (0..n).map(|_| None).collect();
        let attack_here: Vec<usize> = match (protocol, &cell.attack) {
            (Protocol::Independent, _) => idx.clone(),
            (Protocol::WorstCase, None) => Vec::new(),
            (Protocol::WorstCase, Some(_)) => idx
                .iter()
                .copied()
                .filter(|&i| clean[i].right(labels[i]) && carried[i].is_none())
                .collect(),
        };
        for (b, chunk) in attack_here.chunks(batch).enumerate() {
            interrupted()?;
            tch::manual_seed(mix(&[seed, k as u64, b as u64]) as i64);
            let (x, y) = clips.batch(chunk, 0, device)?;
            let judge = |v: &Tensor| net(v, false);
            let judge: Option<&dyn Fn(&Tensor) -> Tensor> =
                if same_function { None } else { Some(&judge) };
            let attacked_here = |v: &Tensor| attacked(v, bn_train);
            let (xa, steps, members) = match (&cell.attack, protocol) {
                (Some(a), Protocol::Independent) => {
                    let found = a.run_independent(&attacked_here, judge, &x, &y)?;
                    (found.adv, found.steps, found.by)
                }
                (Some(a), Protocol::WorstCase) => {
                    let found = a.run_until_fooled(&attacked_here, judge, &x, &y)?;
                    (found.adv, found.steps, found.by)
                }
                (None, _) => (x.shallow_clone(), None, None),
            };
            let logits = {
                let _g = tch::no_grad_guard();
                net(&xa, false)
            };
            let measured = measure(&logits, &x, &xa, &y, video);
            for (j, (&i, m)) in chunk.iter().zip(measured).enumerate() {
                let fooled = !m.right(labels[i]);
                let by = fooled.then(|| {
                    if !clean[i].right(labels[i]) {
                        "clean".to_string()
                    } else {
                        members
                            .as_ref()
                            .and_then(|m| m[j].clone())
                            .unwrap_or_else(|| cell.name.clone())
                    }
                });
                let step = match (&cell.attack, fooled) {
                    (None, _) => Some(0),
                    (Some(_), false) => None,
                    (Some(a), true) => {
                        Some(steps.as_ref().and_then(|s| s[j]).unwrap_or(a.steps()) as u64)
                    }
                };
                seen[i] = Some((by, step.filter(|_| fooled), m));
                if keep {
                    kept[i] = Some(xa.get(j as i64).to_device(Device::Cpu));
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        // Every clip's record: attacked here, carried from a smaller ε, or
        // (worst case) not attacked because the clean clip is misclassified.
        let mut cell_records = Vec::with_capacity(n);
        let mut fooled_now = Vec::new();
        for i in 0..n {
            let (by, step, m) = match (seen[i].take(), &carried[i]) {
                (Some(s), _) => s,
                (None, Some(f)) => (Some(f.by.clone()), f.step, f.seen.clone()),
                (None, None) => {
                    let by = (!clean[i].right(labels[i])).then(|| "clean".to_string());
                    let step = by.as_ref().map(|_| 0);
                    (by, step, clean[i].clone())
                }
            };
            let fooled = !m.right(labels[i]);
            if protocol == Protocol::WorstCase && fooled && carried[i].is_none() {
                fooled_now.push((i, by.clone(), step, m.clone()));
            }
            cell_records.push((
                ClipRecord {
                    seed: None,
                    model: label.to_string(),
                    attack: cell.label.clone().unwrap_or_else(|| cell.name.clone()),
                    eps: cell.eps,
                    clip: i as u64,
                    video: clips.video_name(i),
                    label: labels[i],
                    clean_pred: clean[i].pred,
                    adv_pred: m.pred,
                    fooled,
                    fooled_by: by,
                    step,
                    margin: m.margin,
                    linf: m.linf,
                    l2: m.l2,
                    l0: m.l0,
                    frame_linf: m.frame_linf.clone(),
                    non_finite: !m.finite,
                },
                m.probs,
            ));
        }
        let adv = keep.then(|| {
            let all: Vec<Tensor> = (0..n)
                .map(|i| match (&kept[i], &carried[i]) {
                    (Some(t), _) => t.shallow_clone(),
                    (None, Some(Fooled { adv: Some(t), .. })) => t.shallow_clone(),
                    _ => clips
                        .batch(&[i], 0, Device::Cpu)
                        .map(|(x, _)| x.get(0))
                        .unwrap_or_else(|_| Tensor::zeros([0], (Kind::Float, Device::Cpu))),
                })
                .collect();
            Tensor::stack(&all, 0)
        });
        for (i, by, step, m) in fooled_now {
            if cell.attack.is_some() {
                carried[i] = Some(Fooled {
                    by: by.unwrap_or_default(),
                    step,
                    seen: m,
                    adv: kept[i].as_ref().map(Tensor::shallow_clone),
                });
            }
        }
        let video_accuracy = match clips {
            Clips::Frames(f) if video => {
                let probs: Vec<Vec<f32>> = cell_records
                    .iter()
                    .map(|(_, p)| p.clone().unwrap_or_default())
                    .collect();
                let clip_video: Vec<usize> = (0..n).filter_map(|i| clips.video_of(i)).collect();
                let labels: Vec<i64> = f.videos.iter().map(|v| v.label).collect();
                Some(super::data::frames::video_accuracy(
                    &probs,
                    &clip_video,
                    &labels,
                ))
            }
            _ => None,
        };
        let cell_records: Vec<ClipRecord> = cell_records.into_iter().map(|(r, _)| r).collect();
        let row = row_of(
            label,
            cell,
            &cell_records,
            video_accuracy,
            cell.attack.as_ref().map_or(0.0, Attack::alpha),
        );
        progress.line(&format!(
            "{node}: {label} at {column}: {:.1}% ({}/{n})",
            100.0 * row.accuracy,
            row.correct
        ));
        results[k] = Some((row, cell_records, adv));
    }
    for (k, r) in results.into_iter().enumerate() {
        let (row, recs, adv) = r.expect("every cell visited");
        rows.push(row);
        records.extend(recs);
        if let Some(t) = adv {
            adversarial.push((cells[k].eps, t));
        }
    }
    Ok(ModelResult {
        rows,
        records,
        adversarial,
    })
}

fn interrupted() -> Result<(), String> {
    if crate::util::interrupted() {
        Err("interrupted".into())
    } else {
        Ok(())
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
        ..Row::counted(model, cell.label.clone(), cell.eps, alpha, correct, n)
    }
    .over_videos(&ClipRecord::by_video(records))
}

/// The norms of the perturbations that fooled clips the clean model got right.
pub fn norms(records: &[ClipRecord]) -> Norms {
    let hit: Vec<&ClipRecord> = records
        .iter()
        .filter(|r| r.fooled && r.fooled_by.as_deref() != Some("clean"))
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
