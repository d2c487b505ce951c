//! What finished nodes leave in the cache, as types: the runtime writes them,
//! the reports, the HTML page and later nodes read them, through the same
//! structs. The JSON field names are those of every earlier advp version, so
//! existing caches still read.
//!
//! `result.json` files are written with sorted keys (through
//! [`serde_json::Value`]); `metrics.jsonl` lines keep the field order below.

pub mod columns;
pub mod finite;
pub mod replicates;
pub mod stats;

pub use columns::{Column, ColumnAttack, ColumnKey, FooledBy};
pub use replicates::{ClaimResult, SeedCell, Verdict};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One cell of a robustness table: a model under one attack at one budget.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Row {
    pub model: String,
    /// The attack of an `attacks each {…}` column; `None` in a budget sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack: Option<String>,
    pub eps: f64,
    pub alpha: f64,
    pub accuracy: f64,
    pub correct: u64,
    pub n: u64,
    /// Frame-folder data: accuracy of the mean clip softmax per video.
    pub video_accuracy: Option<f64>,
    /// The perturbations of the clips the attack fooled (clean-misclassified
    /// clips, which were not attacked, are not among them); `None` for the
    /// clean column and in results of advp versions before per-clip records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norms: Option<Norms>,
    /// The 95 % Wilson interval of `accuracy` over the cell's clips
    /// ([`stats::wilson`]); `None` in results of earlier advp versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    /// Over several seeds ([`replicates::combine`]): how many, the clips of
    /// each, and each seed's value (`accuracy` is their mean, `correct` and
    /// `n` their sums, `ci_low`/`ci_high` the interval over seeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_seeds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_clips: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_seed: Vec<SeedCell>,
    /// Where several of the cell's clips come from one video: how many
    /// videos, and the effective number of independent clips the interval
    /// rests on ([`stats::clustered_wilson`]); `None` where every clip is its
    /// own video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_videos: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_effective: Option<f64>,
    /// The column's attack in full (method, norm, ε, α and its rule, steps,
    /// start); `None` in results of earlier advp versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
}

impl Row {
    /// A cell of `correct` of `n` clips with its Wilson interval; no norms,
    /// no per-clip video accuracy, one seed.
    pub fn counted(
        model: &str,
        attack: Option<String>,
        eps: f64,
        alpha: f64,
        correct: u64,
        n: u64,
    ) -> Row {
        let (lo, hi) = stats::wilson(correct, n, stats::Z95);
        Row {
            model: model.to_string(),
            attack,
            eps,
            alpha,
            accuracy: correct as f64 / n.max(1) as f64,
            correct,
            n,
            video_accuracy: None,
            norms: None,
            ci_low: Some(lo),
            ci_high: Some(hi),
            n_seeds: None,
            n_clips: None,
            per_seed: Vec::new(),
            setting: None,
            n_videos: None,
            n_effective: None,
        }
    }

    /// The cell's interval over videos where some of its clips share one
    /// ([`stats::clustered_wilson`]; `groups` as [`ClipRecord::by_video`]
    /// gives them), with `n_videos` and `n_effective` set; unchanged where
    /// every clip is its own video.
    pub fn over_videos(self, groups: &[(u64, u64)]) -> Row {
        if groups.iter().all(|g| g.1 <= 1) {
            return self;
        }
        let (lo, hi, n_eff) = stats::clustered_wilson(groups, stats::Z95);
        Row {
            ci_low: Some(lo),
            ci_high: Some(hi),
            n_videos: Some(groups.len() as u64),
            n_effective: Some(n_eff),
            ..self
        }
    }

    /// Seeds behind the cell (1 for a single run).
    pub fn seeds(&self) -> u64 {
        self.n_seeds.unwrap_or(1)
    }
    /// Clips behind the cell, per seed.
    pub fn clips(&self) -> u64 {
        self.n_clips.unwrap_or(self.n)
    }
}

/// Mean and max L∞ and L2 (0..255 units) of the successful perturbations of
/// a cell, as armory reports them; `None` when no clip was fooled.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Norms {
    /// How many clips the attack fooled (the perturbations measured).
    pub fooled: u64,
    pub linf_mean: Option<f64>,
    pub linf_max: Option<f64>,
    pub l2_mean: Option<f64>,
    pub l2_max: Option<f64>,
}

/// How an evaluation counts a clip robust.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Each ε and attack from scratch; the final iterate counts (the paper's;
    /// every result written before protocols existed).
    #[default]
    Independent,
    /// AutoAttack's: robust at ε only if no attack of the column and no
    /// iterate fooled it at any budget ≤ ε; clean-misclassified clips are not
    /// attacked, a fooled clip leaves the batch.
    WorstCase,
}

/// One clip under one cell (model, attack column, ε): the evaluation's data
/// model. Accuracy cells, norms, plots and statistics are computed from these.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClipRecord {
    /// The replicate's seed, in reports over seeds (the cache's records
    /// leave it out: the entry is one seed's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub model: String,
    /// The column's attack: its name (an `attacks each` column's label, or
    /// a budget sweep's attack), or none (the clean column, `none`).
    pub attack: ColumnAttack,
    pub eps: f64,
    /// The clip's index in the split.
    pub clip: u64,
    /// The video the clip was cut from (frame folders: `class/video`), so
    /// that clips of one video count as one unit of evidence; `None` where
    /// every clip is its own video (synthetic and tensor data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<String>,
    pub label: i64,
    pub clean_pred: i64,
    pub adv_pred: i64,
    /// Misclassified under the cell (clean-misclassified clips included).
    pub fooled: bool,
    /// What first fooled it: nothing (misclassified unattacked, `clean`),
    /// or an attack by name; `None` if nothing did.
    pub fooled_by: Option<FooledBy>,
    /// The attack step whose iterate first fooled it (0: the start point);
    /// under `independent`, the last step (the iterate that counts).
    pub step: Option<u64>,
    /// The label's logit minus the best other one, at the clip counted.
    pub margin: f64,
    /// ‖δ‖∞ and ‖δ‖₂ in 0..255 units, and the fraction of pixels (T×H×W
    /// positions) where any channel changed.
    pub linf: f64,
    pub l2: f64,
    pub l0: f64,
    /// ‖δ‖∞ of each frame (0..255 units).
    pub frame_linf: Vec<f64>,
    /// The logits were NaN or infinite: no prediction, counted fooled
    /// (`margin` is then 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub non_finite: bool,
}

impl ClipRecord {
    /// The CSV columns (pandas-readable; `frame_linf` is in the JSON lines only).
    #[allow(clippy::type_complexity)]
    const CSV: &'static [(&'static str, fn(&ClipRecord) -> String)] = &[
        ("seed", |r| cell(&r.seed)),
        ("model", |r| csv_text(&r.model)),
        ("attack", |r| csv_text(r.attack.as_str())),
        ("eps", |r| cell(&r.eps)),
        ("clip", |r| cell(&r.clip)),
        (VIDEO, |r| {
            r.video.as_deref().map(csv_text).unwrap_or_default()
        }),
        ("label", |r| cell(&r.label)),
        ("clean_pred", |r| cell(&r.clean_pred)),
        ("adv_pred", |r| cell(&r.adv_pred)),
        ("fooled", |r| cell(&r.fooled)),
        ("fooled_by", |r| {
            r.fooled_by
                .as_ref()
                .map(|b| csv_text(b.as_str()))
                .unwrap_or_default()
        }),
        ("step", |r| cell(&r.step)),
        ("margin", |r| cell(&r.margin)),
        ("linf", |r| cell(&r.linf)),
        ("l2", |r| cell(&r.l2)),
        ("l0", |r| cell(&r.l0)),
    ];

    /// The records as CSV; the `video` column only where some record knows
    /// its video (other data keep the columns they always had).
    pub fn csv(records: &[ClipRecord]) -> String {
        let videos = records.iter().any(|r| r.video.is_some());
        let columns: Vec<_> = Self::CSV
            .iter()
            .filter(|(name, _)| videos || *name != VIDEO)
            .collect();
        let header: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let mut out = header.join(",") + "\n";
        for r in records {
            let cells: Vec<String> = columns.iter().map(|(_, get)| get(r)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    /// The records of one cell by video, as `(clips right, clips)`, in the
    /// order of each video's first clip; a record without a video is its
    /// own.
    pub fn by_video(records: &[ClipRecord]) -> Vec<(u64, u64)> {
        let mut at: BTreeMap<(Option<&str>, u64), usize> = BTreeMap::new();
        let mut groups: Vec<(u64, u64)> = Vec::new();
        for r in records {
            let key = match &r.video {
                Some(v) => (Some(v.as_str()), 0),
                None => (None, r.clip),
            };
            let g = *at.entry(key).or_insert_with(|| {
                groups.push((0, 0));
                groups.len() - 1
            });
            groups[g].0 += u64::from(!r.fooled);
            groups[g].1 += 1;
        }
        groups
    }

    /// One JSON object a line.
    pub fn jsonl(records: &[ClipRecord]) -> String {
        records
            .iter()
            .map(|r| serde_json::to_string(r).expect("records serialise") + "\n")
            .collect()
    }

    pub fn parse_jsonl(text: &str) -> Result<Vec<ClipRecord>, String> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| e.to_string()))
            .collect()
    }
}

/// The per-clip CSV's column of a clip's video.
const VIDEO: &str = "video";

/// A text CSV cell, quoted when it holds a comma or a quote.
fn csv_text(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// What an evaluation attacked: the whole pipeline, or the classifier alone.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Through {
    #[default]
    All,
    Classifier,
}

/// A listed video that no clip can come from (missing, or not decodable), and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    pub video: String,
    pub why: String,
}

/// An `eval` node's `result.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EvalResult {
    pub node: String,
    pub split: String,
    pub seed: u64,
    pub key: String,
    /// Each model's cache key, by its label (`d >> m`).
    #[serde(default)]
    pub model_keys: BTreeMap<String, String>,
    /// The frozen defenses each model's input went through, in order.
    #[serde(default)]
    pub defenses: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub through: Through,
    #[serde(default)]
    pub protocol: Protocol,
    pub rows: Vec<Row>,
    /// A budget sweep's attack: its name and, as written and resolved, its call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack: Option<serde_json::Value>,
    /// SHA-256 of each model's weights or module file (a trained model's
    /// weights in the cache; a `torchscript` or `pretrained` file), by label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub model_files: BTreeMap<String, String>,
    /// What computed the numbers (`None` before advp recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<Machine>,
    /// Models trained on another kind of machine than `machine` (another
    /// CPU or GPU, libtorch or advp), by label: the table mixes machines.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trained_on: BTreeMap<String, Machine>,
    /// AutoAttack's signs of a suspicious evaluation, per model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
    /// Listed videos of the data that are missing or do not decode, left
    /// out of every split: the evaluated split is without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
    /// Seconds each trained model took to train (the sum of its epochs), by
    /// label: read by the reports from the models' own metrics, never part of
    /// the result (a wall time is not a number that reproduces).
    #[serde(skip)]
    pub train_seconds: BTreeMap<String, f64>,
    /// A table over several seeds ([`replicates::combine`]): the seeds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeds: Vec<u64>,
    /// The evaluation's `compare` claims, tested (in reports; the cache's
    /// entry has none: claims change no result).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<ClaimResult>,
}

/// When and where a cache entry was computed, and how long the node itself
/// took (its inputs' time left out): `timing.json`, beside `machine.json`.
/// Not a result: a wall time does not reproduce.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Timing {
    pub seconds: f64,
    /// Seconds since the Unix epoch.
    pub finished: u64,
    pub host: String,
}

impl Timing {
    /// The entry's `timing.json`, if it has one (entries of earlier advp do not).
    pub fn of(entry: &Path) -> Option<Timing> {
        serde_json::from_str(&std::fs::read_to_string(entry.join("timing.json")).ok()?).ok()
    }
}

/// The reproducibility record of a result: float kernels differ across
/// processors, so the same seed reproduces to the bit only on the same
/// kind of machine and libtorch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Machine {
    pub advp: String,
    pub libtorch: String,
    /// `Cpu` or `Cuda(i)`.
    pub device: String,
    /// The CPU model (`/proc/cpuinfo`), and the GPU's when one ran it.
    pub cpu: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    pub threads: usize,
    /// The processes (ranks, one per device) that computed it together;
    /// absent for one. Not part of any cache key: the ranks' result is the
    /// one process's (to float rounding, docs/guarantees.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<usize>,
}

impl Machine {
    /// Whether results of the two may differ in their last bits: another
    /// processor, GPU, device kind, libtorch or advp (threads aside).
    pub fn differs(&self, other: &Machine) -> bool {
        (&self.advp, &self.libtorch, &self.cpu, &self.gpu)
            != (&other.advp, &other.libtorch, &other.cpu, &other.gpu)
            || self.device.starts_with("Cuda") != other.device.starts_with("Cuda")
    }

    /// The device as people write it: `CPU`, `CUDA:0`.
    pub fn device_text(&self) -> String {
        match self.device.as_str() {
            "Cpu" => "CPU".into(),
            d => match d.strip_prefix("Cuda(").and_then(|r| r.strip_suffix(')')) {
                Some(i) => format!("CUDA:{i}"),
                None => d.to_string(),
            },
        }
    }

    pub fn text(&self) -> String {
        format!(
            "{} ({}{}), libtorch {}, advp {}",
            self.cpu,
            self.device_text(),
            self.gpu
                .as_ref()
                .map_or(String::new(), |g| format!(", {g}")),
            self.libtorch,
            self.advp
        )
    }
}

/// A sanity check an evaluation failed: what was seen, what it usually
/// means and what to try.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Flag {
    pub model: String,
    /// `zero_gradient`, `random_output`, `black_box_stronger` or `not_zero_at_255`.
    pub check: String,
    /// How many clips showed it, of how many looked at.
    pub clips: u64,
    pub of: u64,
    pub message: String,
}

/// One line of a train node's `metrics.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub lr: f64,
    /// The budget of the epoch (fixed and curriculum) or the probabilities it sampled with.
    pub eps: Option<f64>,
    pub probs: Option<Vec<f64>>,
    pub train_loss: f64,
    /// `None` when the learner has no classifier (APE-GAN alone).
    pub train_acc: Option<f64>,
    pub val_loss: Option<f64>,
    pub val_acc: Option<f64>,
    /// Validation accuracy under the epoch's training attack (a fixed budget
    /// or the curriculum's current one): with `train_acc` on attacked clips,
    /// the two sides of the robust generalization gap (Figure 4).
    #[serde(default)]
    pub val_adv_acc: Option<f64>,
    /// AAT: the held-out loss of each budget when P was recomputed after this epoch.
    pub budget_losses: Option<Vec<f64>>,
    pub seconds: f64,
    /// Why training stopped after this epoch (fast AT's guard), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// A number as its CSV cell: JSON's spelling, empty for none.
fn cell<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::Null) | Err(_) => String::new(),
        Ok(v) => v.to_string(),
    }
}

impl EpochMetrics {
    /// The columns of `metrics.csv`, each with how it reads off an epoch.
    #[allow(clippy::type_complexity)]
    const CSV: &'static [(&'static str, fn(&EpochMetrics) -> String)] = &[
        ("epoch", |m| cell(&m.epoch)),
        ("lr", |m| cell(&m.lr)),
        ("eps", |m| cell(&m.eps)),
        ("train_loss", |m| cell(&m.train_loss)),
        ("train_acc", |m| cell(&m.train_acc)),
        ("val_loss", |m| cell(&m.val_loss)),
        ("val_acc", |m| cell(&m.val_acc)),
        ("val_adv_acc", |m| cell(&m.val_adv_acc)),
        ("seconds", |m| cell(&m.seconds)),
    ];

    /// Epochs as CSV, one line each.
    pub fn csv(metrics: &[EpochMetrics]) -> String {
        let header: Vec<&str> = Self::CSV.iter().map(|(name, _)| *name).collect();
        let mut out = header.join(",") + "\n";
        for m in metrics {
            let cells: Vec<String> = Self::CSV.iter().map(|(_, get)| get(m)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    /// `metrics.jsonl` as written by [`EpochMetrics::jsonl`]; unreadable lines are refused.
    pub fn parse_jsonl(text: &str) -> Result<Vec<EpochMetrics>, String> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| e.to_string()))
            .collect()
    }

    pub fn jsonl(metrics: &[EpochMetrics]) -> Result<String, String> {
        finite::refuse_non_finite(metrics, "metrics.jsonl")?;
        let mut text = String::new();
        for m in metrics {
            text.push_str(&serde_json::to_string(m).map_err(|e| e.to_string())?);
            text.push('\n');
        }
        Ok(text)
    }
}

/// Figure 1: `loss[m][a]` is the mean cross-entropy after `steps[m]` PGD steps
/// of size `alphas[a]` at budget `eps`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Surface {
    pub eps: f64,
    pub alphas: Vec<f64>,
    pub steps: Vec<usize>,
    pub loss: Vec<Vec<f64>>,
    /// The mean loss of the clean clips.
    pub clean_loss: f64,
    pub samples: usize,
}

/// One budget of Figure 2: the α that maximised the adversarial loss.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BestStep {
    pub eps: f64,
    pub alpha: f64,
    pub loss: f64,
    pub accuracy: f64,
    /// The mean loss of every α searched, in the order of `alphas`.
    pub losses: Vec<f64>,
}

/// Figure 2: the best α per ε and the least-squares line α̂ = a·ε + b.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepFit {
    pub alphas: Vec<f64>,
    pub steps: usize,
    pub best: Vec<BestStep>,
    pub a: f64,
    pub b: f64,
    pub r2: f64,
    pub samples: usize,
}

/// The fitted line as text: `α̂ = 0.310·ε − 0.205 (R² = 0.97)`.
pub fn line_text(a: f64, b: f64, r2: f64) -> String {
    let sign = if b < 0.0 { '−' } else { '+' };
    format!("α̂ = {a:.3}·ε {sign} {:.3} (R² = {r2:.3})", b.abs())
}

/// A `loss_surface` node's `result.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SurfaceResult {
    pub node: String,
    pub model: String,
    pub surface: Surface,
}

/// A `step_fit` node's `result.json`: the line at the top (what `alpha NAME` reads), and the whole fit.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FitResult {
    pub node: String,
    pub model: String,
    pub a: f64,
    pub b: f64,
    pub r2: f64,
    pub fit: StepFit,
}

/// Which validation accuracy a generalization gap compares with.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Validation {
    /// Under the epoch's training attack (as train accuracy is).
    Attacked,
    Clean,
}

/// A `generalization_gap` node's `result.json`: one entry per epoch in each list.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GapResult {
    pub node: String,
    pub train: String,
    pub epoch: Vec<usize>,
    pub eps: Vec<Option<f64>>,
    pub train_acc: Vec<Option<f64>>,
    /// The validation accuracy compared (see `validation`).
    pub val_acc: Vec<Option<f64>>,
    pub val_clean_acc: Vec<Option<f64>>,
    pub validation: Validation,
    pub gap: Vec<Option<f64>>,
}

/// One clip's randomized-smoothing certificate (a `certify` node).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CertifiedClip {
    /// The clip's index in the split.
    pub clip: usize,
    pub label: i64,
    /// The smoothed classifier's class ĉ_A; `None`: it abstained.
    pub prediction: Option<i64>,
    /// n_A, of the n noisy draws.
    pub count: u64,
    /// p̲_A, the Clopper–Pearson lower bound of P(f = ĉ_A).
    pub p_lower: f64,
    /// The certified L2 radius in [0, 1] pixel units (`None`: abstained).
    pub radius: Option<f64>,
    /// Predicted the label (not abstained).
    pub correct: bool,
}

/// A `certify` node's `result.json`: the per-clip certificates and the
/// certified accuracy at each radius.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CertifyResult {
    pub node: String,
    pub model: String,
    pub split: String,
    /// Noise σ in [0, 1] pixel units.
    pub sigma: f64,
    pub n0: usize,
    pub n: usize,
    pub alpha: f64,
    pub batch: usize,
    pub seed: u64,
    pub clips: Vec<CertifiedClip>,
    /// Radii in [0, 1] units (0, σ/4, σ/2, … 4σ) and the certified accuracy
    /// at each: correct and certified at least that far.
    pub radii: Vec<f64>,
    pub accuracy: Vec<f64>,
    pub abstained: usize,
}

/// An analysis node's `result.json`, whichever analysis it is.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum AnalysisResult {
    Surface(SurfaceResult),
    Fit(FitResult),
    Gap(GapResult),
    Certify(CertifyResult),
}

/// Writes a result as pretty JSON with sorted keys, atomically; a number
/// that is not finite (which JSON would write as `null`) is refused.
pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), String> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    finite::refuse_non_finite(v, &name)?;
    let v = serde_json::to_value(v).map_err(|e| e.to_string())?;
    let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
    crate::util::write_atomic(path, format!("{text}\n").as_bytes()).map_err(|e| e.to_string())
}

/// Reads a result written by [`write_json`]; the error names the file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is corrupt: {e}", path.display()))
}

/// A train node's `metrics.jsonl`.
pub fn read_metrics(dir: &Path) -> Result<Vec<EpochMetrics>, String> {
    let path = dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    EpochMetrics::parse_jsonl(&text).map_err(|e| format!("{} is corrupt: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(e: usize, val_adv: Option<f64>) -> EpochMetrics {
        EpochMetrics {
            epoch: e,
            lr: 0.01,
            eps: Some(4.0),
            probs: None,
            train_loss: 1.5,
            train_acc: Some(0.25),
            val_loss: None,
            val_acc: Some(0.5),
            val_adv_acc: val_adv,
            budget_losses: None,
            seconds: 2.0,
            stopped: None,
        }
    }

    #[test]
    fn metrics_csv_has_one_column_per_field_read_and_empty_cells_for_none() {
        let csv = EpochMetrics::csv(&[epoch(0, None), epoch(1, Some(0.125))]);
        assert_eq!(
            csv,
            "epoch,lr,eps,train_loss,train_acc,val_loss,val_acc,val_adv_acc,seconds\n\
             0,0.01,4.0,1.5,0.25,,0.5,,2.0\n\
             1,0.01,4.0,1.5,0.25,,0.5,0.125,2.0\n"
        );
    }

    #[test]
    fn metrics_round_trip_and_old_lines_without_val_adv_acc_read() {
        let m = vec![epoch(0, Some(0.5)), epoch(1, None)];
        let text = EpochMetrics::jsonl(&m).unwrap();
        assert_eq!(EpochMetrics::parse_jsonl(&text).unwrap(), m);
        let old = r#"{"epoch":0,"lr":0.1,"eps":null,"probs":null,"train_loss":1.0,"train_acc":null,"val_loss":null,"val_acc":null,"budget_losses":null,"seconds":1.0}"#;
        assert_eq!(EpochMetrics::parse_jsonl(old).unwrap()[0].val_adv_acc, None);
    }

    #[test]
    fn eval_results_are_written_with_sorted_keys_and_read_back() {
        let r = EvalResult {
            node: "e".into(),
            split: "test".into(),
            seed: 3,
            key: "k".into(),
            model_keys: BTreeMap::from([("m".into(), "km".into())]),
            defenses: BTreeMap::from([("m".into(), vec![])]),
            through: Through::Classifier,
            rows: vec![Row {
                ci_low: None,
                ci_high: None,
                ..Row::counted("m", None, 8.0, 2.0, 1, 2)
            }],
            protocol: Protocol::WorstCase,
            attack: None,
            model_files: BTreeMap::new(),
            machine: None,
            trained_on: BTreeMap::new(),
            flags: Vec::new(),
            unreadable: Vec::new(),
            seeds: Vec::new(),
            claims: Vec::new(),
            train_seconds: BTreeMap::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        write_json(&path, &r).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let keys: Vec<usize> = [
            "defenses",
            "key",
            "model_keys",
            "node",
            "rows",
            "seed",
            "split",
            "through",
        ]
        .iter()
        .map(|k| text.find(&format!("\"{k}\"")).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.contains("\"through\": \"classifier\""));
        assert_eq!(read_json::<EvalResult>(&path).unwrap(), r);
    }

    /// Records as every earlier advp wrote them: `none` for the clean
    /// column, `clean` for a clip misclassified unattacked, `null` (JSON)
    /// or an empty cell (CSV) where nothing fooled it.
    #[test]
    fn records_keep_their_bytes_and_read_back() {
        let record = |attack: &str, fooled_by: Option<&str>| ClipRecord {
            seed: None,
            model: "m".into(),
            attack: attack.into(),
            eps: 0.0,
            clip: 1,
            video: None,
            label: 2,
            clean_pred: 0,
            adv_pred: 0,
            fooled: fooled_by.is_some(),
            fooled_by: fooled_by.map(FooledBy::from),
            step: fooled_by.map(|_| 0),
            margin: -1.5,
            linf: 0.0,
            l2: 0.0,
            l0: 0.0,
            frame_linf: vec![0.0],
            non_finite: false,
        };
        let records = [
            record("none", Some("clean")),
            record("apgd_ce+square", Some("square")),
            record("pgd", None),
        ];
        assert_eq!(records[0].attack, ColumnAttack::Clean);
        assert_eq!(records[0].fooled_by, Some(FooledBy::Clean));
        let jsonl = ClipRecord::jsonl(&records);
        assert_eq!(
            jsonl,
            "{\"model\":\"m\",\"attack\":\"none\",\"eps\":0.0,\"clip\":1,\"label\":2,\"clean_pred\":0,\"adv_pred\":0,\"fooled\":true,\"fooled_by\":\"clean\",\"step\":0,\"margin\":-1.5,\"linf\":0.0,\"l2\":0.0,\"l0\":0.0,\"frame_linf\":[0.0]}\n\
             {\"model\":\"m\",\"attack\":\"apgd_ce+square\",\"eps\":0.0,\"clip\":1,\"label\":2,\"clean_pred\":0,\"adv_pred\":0,\"fooled\":true,\"fooled_by\":\"square\",\"step\":0,\"margin\":-1.5,\"linf\":0.0,\"l2\":0.0,\"l0\":0.0,\"frame_linf\":[0.0]}\n\
             {\"model\":\"m\",\"attack\":\"pgd\",\"eps\":0.0,\"clip\":1,\"label\":2,\"clean_pred\":0,\"adv_pred\":0,\"fooled\":false,\"fooled_by\":null,\"step\":null,\"margin\":-1.5,\"linf\":0.0,\"l2\":0.0,\"l0\":0.0,\"frame_linf\":[0.0]}\n"
        );
        assert_eq!(ClipRecord::parse_jsonl(&jsonl).unwrap(), records);
        assert_eq!(
            ClipRecord::csv(&records),
            "seed,model,attack,eps,clip,label,clean_pred,adv_pred,fooled,fooled_by,step,margin,linf,l2,l0\n\
             ,m,none,0.0,1,2,0,0,true,clean,0,-1.5,0.0,0.0,0.0\n\
             ,m,apgd_ce+square,0.0,1,2,0,0,true,square,0,-1.5,0.0,0.0,0.0\n\
             ,m,pgd,0.0,1,2,0,0,false,,,-1.5,0.0,0.0,0.0\n"
        );
    }
}
