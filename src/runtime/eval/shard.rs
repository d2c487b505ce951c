//! An evaluation over several ranks: whole batches go round-robin to the
//! ranks (a batch's seed is its index, so a batch is attacked as one
//! process attacks it), and what each rank counted is gathered by every
//! rank before a cell is counted, so the records are a one-process run's.

use super::{Counted, Seen};
use crate::results::FooledBy;
use crate::runtime::dist;
use crate::runtime::error::{NodeError, NodeResult};
use tch::Tensor;

/// Whether batch `b` is this process's (every batch when alone, or when
/// the pass is not `sharded`).
pub(super) fn mine(b: usize, sharded: bool) -> bool {
    !sharded || dist::joined().is_none_or(|w| b % w.size == w.rank)
}

/// One clip as it travels between ranks: numbers as their bits (NaN and
/// infinities included), so every rank gets exactly what was computed.
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    i: usize,
    label: i64,
    pred: i64,
    /// margin, L∞, L2, L0, then the per-frame L∞.
    numbers: Vec<u64>,
    probs: Option<Vec<u32>>,
    finite: bool,
    /// `None`: not fooled; `Some(None)`: the clean clip; `Some(Some(a))`.
    by: Option<Option<String>>,
    step: Option<u64>,
    /// The clip's adversarial tensor travels beside the text.
    kept: bool,
}

impl Wire {
    fn of(i: usize, label: i64, c: &Counted, kept: bool) -> Wire {
        let s = &c.seen;
        let mut numbers = vec![
            s.margin.to_bits(),
            s.linf.to_bits(),
            s.l2.to_bits(),
            s.l0.to_bits(),
        ];
        numbers.extend(s.frame_linf.iter().map(|v| v.to_bits()));
        Wire {
            i,
            label,
            pred: s.pred,
            numbers,
            probs: s
                .probs
                .as_ref()
                .map(|p| p.iter().map(|v| v.to_bits()).collect()),
            finite: s.finite,
            by: c.by.as_ref().map(|b| match b {
                FooledBy::Clean => None,
                FooledBy::Attack(a) => Some(a.clone()),
            }),
            step: c.step,
            kept,
        }
    }

    fn counted(&self) -> Counted {
        let n: Vec<f64> = self.numbers.iter().map(|&b| f64::from_bits(b)).collect();
        Counted {
            by: self.by.as_ref().map(|b| match b {
                None => FooledBy::Clean,
                Some(a) => FooledBy::Attack(a.clone()),
            }),
            step: self.step,
            seen: Seen {
                pred: self.pred,
                margin: n[0],
                linf: n[1],
                l2: n[2],
                l0: n[3],
                frame_linf: n[4..].to_vec(),
                probs: self
                    .probs
                    .as_ref()
                    .map(|p| p.iter().map(|&b| f32::from_bits(b)).collect()),
                finite: self.finite,
            },
        }
    }
}

/// Every rank's clips of a pass, put where one process would have them:
/// `counted[i]` (with its label in `labels[i]`) and `kept[i]` for the clips
/// other ranks computed. Alone, nothing changes.
pub(super) fn share(
    counted: &mut [Option<Counted>],
    labels: &mut [i64],
    kept: &mut [Option<Tensor>],
    sharded: bool,
) -> NodeResult<()> {
    if dist::joined().is_none() || !sharded {
        return Ok(());
    }
    let mut wires = Vec::new();
    let mut tensors = Vec::new();
    for (i, c) in counted.iter().enumerate() {
        if let Some(c) = c {
            let k = kept.get(i).and_then(Option::as_ref);
            wires.push(Wire::of(i, labels[i], c, k.is_some()));
            if let Some(t) = k {
                tensors.push(t.shallow_clone());
            }
        }
    }
    let text = serde_json::to_string(&wires).map_err(|e| NodeError::Failed(e.to_string()))?;
    for (text, tensors) in dist::gather(text, tensors)? {
        let wires: Vec<Wire> =
            serde_json::from_str(&text).map_err(|e| NodeError::Failed(e.to_string()))?;
        let mut tensors = tensors.into_iter();
        for w in wires {
            if w.i >= counted.len() {
                return Err(NodeError::Failed(format!(
                    "a rank sent clip {} of {}: the ranks do not evaluate the same split",
                    w.i,
                    counted.len()
                )));
            }
            counted[w.i] = Some(w.counted());
            labels[w.i] = w.label;
            if w.kept {
                kept[w.i] = tensors.next();
            }
        }
    }
    Ok(())
}
