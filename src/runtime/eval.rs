//! `robustness`: top-1 accuracy of each model under an attack at each budget.

use super::attacks::Attack;
use super::data::Clips;
use super::progress::Progress;
use super::rng::mix;
pub use crate::results::Row;
use tch::{Device, Kind, Tensor};

/// One cell of the table: an attack (or the clean clips) at a budget.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The column's attack name in an `attacks each {…}` table.
    pub label: Option<String>,
    pub eps: f64,
    /// `None`: the clean clips.
    pub attack: Option<Attack>,
}

/// One model's rows, plus its adversarial clips when a report wants them.
pub struct ModelResult {
    pub rows: Vec<Row>,
    /// (ε, adversarial clips) in the split's order.
    pub adversarial: Vec<(f64, Tensor)>,
}

#[allow(clippy::too_many_arguments)]
pub fn robustness(
    label: &str,
    net: &dyn Fn(&Tensor, bool) -> Tensor,
    // What the attack differentiates: `net` itself (white-box), or the
    // classifier alone with the defenses left unattacked (`through: classifier`).
    attacked: &dyn Fn(&Tensor, bool) -> Tensor,
    clips: &Clips,
    cells: &[Cell],
    bn_train: bool,
    batch: usize,
    seed: u64,
    keep: bool,
    device: Device,
    progress: &Progress,
) -> Result<ModelResult, String> {
    let n = clips.len();
    let idx: Vec<usize> = (0..n).collect();
    let mut rows = Vec::new();
    let mut adversarial = Vec::new();
    for (k, cell) in cells.iter().enumerate() {
        let eps = cell.eps;
        let column = match &cell.label {
            Some(l) => l.clone(),
            None => format!("ε {eps}"),
        };
        let bar = progress.bar(&format!("{label} {column}"), n.div_ceil(batch) as u64);
        let mut correct = 0u64;
        let mut kept = Vec::new();
        let mut probs = Vec::new();
        for (b, chunk) in idx.chunks(batch.max(1)).enumerate() {
            if crate::util::interrupted() {
                return Err("interrupted".into());
            }
            tch::manual_seed(mix(&[seed, k as u64, b as u64]) as i64);
            let (x, y) = clips.batch(chunk, 0, device)?;
            let xa = match &cell.attack {
                Some(a) => a.run(&|v| attacked(v, bn_train), &x, &y)?,
                None => x.shallow_clone(),
            };
            let _g = tch::no_grad_guard();
            let logits = net(&xa, false);
            correct += logits
                .argmax(-1, false)
                .eq_tensor(&y)
                .sum(Kind::Int64)
                .int64_value(&[]) as u64;
            if clips.video_of(0).is_some() {
                let p = logits.softmax(-1, Kind::Float).to_device(Device::Cpu);
                let rows = p.size()[0];
                for r in 0..rows {
                    probs.push(Vec::<f32>::try_from(p.get(r)).map_err(|e| e.to_string())?);
                }
            }
            if keep {
                kept.push(xa.to_device(Device::Cpu));
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let video_accuracy = match clips {
            Clips::Frames(f) if !probs.is_empty() => {
                let clip_video: Vec<usize> = (0..n).filter_map(|i| clips.video_of(i)).collect();
                let labels: Vec<i64> = f.videos.iter().map(|v| v.label).collect();
                Some(super::frames::video_accuracy(&probs, &clip_video, &labels))
            }
            _ => None,
        };
        rows.push(Row {
            model: label.to_string(),
            attack: cell.label.clone(),
            eps,
            alpha: cell.attack.as_ref().map_or(0.0, Attack::alpha),
            accuracy: correct as f64 / n.max(1) as f64,
            correct,
            n: n as u64,
            video_accuracy,
        });
        if keep {
            adversarial.push((eps, Tensor::cat(&kept, 0)));
        }
        progress.line(&format!(
            "{label} at {column}: {:.1}% ({correct}/{n})",
            100.0 * correct as f64 / n.max(1) as f64
        ));
    }
    Ok(ModelResult { rows, adversarial })
}
