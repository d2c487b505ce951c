//! The training checkpoint: the learner's tensors and files, then
//! `state.json` naming them with their SHA-256 (the commit point); a resume
//! verifies them before it trusts them.

use super::{EpochMetrics, Learner, Named};
use crate::runtime::error::{NodeError, NodeResult};
use crate::runtime::models::save_tensors;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// What a checkpoint's `state.json` holds besides the tensors.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(super) struct State {
    pub(super) epoch: usize,
    pub(super) batch: usize,
    pub(super) tensors: String,
    pub(super) probs: Option<Vec<f64>>,
    pub(super) loss_sum: f64,
    pub(super) correct: f64,
    pub(super) seen: f64,
    pub(super) seconds: f64,
    pub(super) metrics: Vec<EpochMetrics>,
    /// SHA-256 of the checkpoint's files (tensors, a TorchScript module), by
    /// name: a resume verifies them (absent in checkpoints of earlier advp).
    #[serde(default)]
    pub(super) sha256: std::collections::BTreeMap<String, String>,
    /// The guard's best epoch and its held-out PGD accuracy (its weights in
    /// `checkpoint-guard-best.safetensors`).
    #[serde(default)]
    pub(super) guard_best: Option<(usize, f64)>,
}

/// Tensors first, then `state.json` naming them (the commit point), then the old tensors go.
pub(super) fn save_state(
    dir: &Path,
    state: &mut State,
    learner: &dyn Learner,
) -> NodeResult<PathBuf> {
    let name = format!("checkpoint-e{}-b{}.safetensors", state.epoch, state.batch);
    // Of several ranks, rank 0 writes (every rank holds the same weights).
    if !crate::runtime::dist::writes() {
        return Ok(dir.join(name));
    }
    let committed = state.tensors.clone();
    save_tensors(&learner.checkpoint(), &dir.join(&name))?;
    let saved = commit_state(dir, state, learner, &name);
    if saved.is_err() && name != committed {
        // Files no `state.json` names: a failed save leaves none behind.
        let _ = std::fs::remove_file(dir.join(&name));
        let _ = std::fs::remove_file(crate::runtime::models::module_path(&dir.join(&name)));
    }
    saved
}

/// The rest of [`save_state`], once the tensors are written: the learner's
/// other files, then `state.json` naming them, then the old tensors go.
fn commit_state(
    dir: &Path,
    state: &mut State,
    learner: &dyn Learner,
    name: &str,
) -> NodeResult<PathBuf> {
    let mut files = vec![dir.join(name)];
    files.extend(learner.save_files(&dir.join(name))?);
    state.sha256 = files
        .iter()
        .map(|f| {
            let digest = crate::runtime::cache::sha256_file(f)
                .map_err(|e| NodeError::Failed(format!("cannot read {}: {e}", f.display())))?;
            let name = f
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned());
            Ok((name, digest))
        })
        .collect::<NodeResult<_>>()?;
    let old = std::mem::replace(&mut state.tensors, name.to_string());
    let json = serde_json::to_vec_pretty(&state).map_err(|e| NodeError::Failed(e.to_string()))?;
    let path = dir.join("state.json");
    if let Err(e) = crate::util::write_atomic(&path, &json) {
        state.tensors = old;
        return Err(NodeError::Failed(e.to_string()));
    }
    if !old.is_empty() && old != state.tensors {
        let _ = std::fs::remove_file(dir.join(&old));
        let _ = std::fs::remove_file(crate::runtime::models::module_path(&dir.join(&old)));
    }
    Ok(path)
}

/// The checkpoint in `dir`, if any; `Err` ([`NodeError::Damaged`]) says why
/// it cannot be trusted (unreadable, or its files changed since they were
/// written).
pub(super) fn load_state(dir: &Path) -> NodeResult<Option<(State, Named)>> {
    let path = dir.join("state.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let damaged = |at: &Path, message: String| NodeError::Damaged {
        path: at.to_path_buf(),
        message,
    };
    let state: State = serde_json::from_str(&text).map_err(|e| {
        damaged(
            &path,
            format!("the checkpoint {} is unreadable ({e})", path.display()),
        )
    })?;
    // Only the checkpoint's own files: a forged `state.json` naming
    // `../../dev/zero` or a FIFO is damage, never a read.
    for file in state.sha256.keys().chain([&state.tensors]) {
        if let Some(why) = crate::runtime::cache::not_own_file(dir, file) {
            let message = format!("the checkpoint {} is damaged: {why}", path.display());
            return Err(damaged(&path, message));
        }
    }
    for (file, want) in &state.sha256 {
        let f = dir.join(file);
        let why = match crate::runtime::cache::sha256_file(&f) {
            Ok(got) if &got == want => continue,
            Ok(_) => "changed since it was written".to_string(),
            Err(e) => format!("is unreadable ({e})"),
        };
        let message = format!("the checkpoint file {} {why}", f.display());
        return Err(damaged(&f, message));
    }
    let file = dir.join(&state.tensors);
    let tensors = Tensor::read_safetensors(&file).map_err(|e| {
        let message = format!(
            "the checkpoint tensors {} are unreadable ({e})",
            file.display()
        );
        damaged(&file, message)
    })?;
    Ok(Some((state, tensors)))
}

/// `e`, an error restoring a learner from the checkpoint file `path`, as
/// that checkpoint's damage (its tensors do not fit the learner); a stop
/// stays a stop.
pub(super) fn damaged(path: &Path, e: NodeError) -> NodeError {
    match e {
        NodeError::Interrupted | NodeError::Damaged { .. } => e,
        other => NodeError::Damaged {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    }
}
