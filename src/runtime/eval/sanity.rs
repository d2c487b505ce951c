//! AutoAttack's sanity checks of an evaluation: the flags a table carries
//! when its numbers cannot be trusted.

use super::{Access, Cell, Evaluation, Model, ModelResult};
use crate::results::{ClipRecord, Flag, FooledBy};
use crate::runtime::attacks::{self, Norm, Pgd};
use crate::runtime::error::NodeResult;
use crate::runtime::rng::mix;
use std::collections::BTreeSet;
use tch::{Device, Tensor};

/// Clips of the first batch the gradient checks look at.
const CLIPS: usize = 8;

/// AutoAttack's sanity checks of an evaluation, for one model: a zero input
/// gradient, a random forward pass, a black-box attack that beats the
/// white-box ones, accuracy not falling to 0 at ε = 255. Each is run on one
/// small batch (the records for the black-box check).
pub fn sanity(ev: &Evaluation, model: &Model, result: &ModelResult) -> NodeResult<Vec<Flag>> {
    let n = ev.clips.len().min(CLIPS);
    if n == 0 {
        return Ok(Vec::new());
    }
    let idx: Vec<usize> = (0..n).collect();
    let (x, y) = ev.clips.batch(&idx, 0, ev.device)?;
    let check = Check {
        ev,
        model,
        x: &x,
        y: &y,
        n,
    };
    let mut flags = Vec::new();
    flags.extend(check.random_output());
    let gradient = check.gradient();
    flags.extend(check.zero_gradient(gradient.as_ref()));
    flags.extend(check.black_box_stronger(result));
    flags.extend(check.non_finite(&result.records));
    // Without a gradient PGD cannot run: the ε = 255 check is left out.
    if gradient.is_some() {
        flags.extend(check.not_zero_at_255()?);
    }
    Ok(flags)
}

/// One model's checks on the first clips of the split.
struct Check<'a> {
    ev: &'a Evaluation<'a>,
    model: &'a Model<'a>,
    x: &'a Tensor,
    y: &'a Tensor,
    /// Clips in `x`.
    n: usize,
}

impl Check<'_> {
    fn flag(&self, check: &str, clips: usize, of: usize, message: String) -> Flag {
        Flag {
            model: self.model.label.to_string(),
            check: check.to_string(),
            clips: clips as u64,
            of: of as u64,
            message,
        }
    }

    /// How many of `values` hold.
    fn count(values: &Tensor) -> usize {
        Vec::<bool>::try_from(values.to_device(Device::Cpu))
            .unwrap_or_default()
            .iter()
            .filter(|v| **v)
            .count()
    }

    /// Two clean passes under different seeds give different logits.
    fn random_output(&self) -> Option<Flag> {
        let (label, n) = (self.model.label, self.n);
        let pass = |s: u64| {
            tch::manual_seed(mix(&[self.model.seed, s]) as i64);
            let _g = tch::no_grad_guard();
            (self.model.net)(self.x, false)
        };
        let (a, b) = (pass(1), pass(2));
        let differ = (&a - &b)
            .abs()
            .reshape([n as i64, -1])
            .amax([1], false)
            .gt(1e-6 * (1.0 + a.abs().max().double_value(&[])));
        let random = Self::count(&differ);
        (random > 0).then(|| self.flag("random_output", random, n, format!(
            "two clean passes of `{label}` give different logits on {random} of {n} clips: the model or a defense is random (dropout left on, a random transform). Attacks then chase noise and robust accuracy is overstated; use EOT (average the gradient over the randomness) or fix the randomness."
        )))
    }

    /// The input gradient of the loss, per clip; none at all when the
    /// model's output does not reach the input.
    fn gradient(&self) -> Option<Tensor> {
        tch::manual_seed(mix(&[self.model.seed, 3]) as i64);
        let xa = self.x.detach().set_requires_grad(true);
        let logits = (self.model.attacked)(&xa, self.ev.bn_train);
        attacks::pgd::gradients(&[&attacks::loss(&logits, self.y)], &[&xa])
            .ok()
            .and_then(|mut g| g.pop())
    }

    /// The input gradient is exactly zero (every clip where there is none).
    fn zero_gradient(&self, gradient: Option<&Tensor>) -> Option<Flag> {
        let n = self.n;
        let zero = match gradient {
            Some(g) => Self::count(&g.abs().reshape([n as i64, -1]).amax([1], false).eq(0.0)),
            None => n,
        };
        (zero > 0).then(|| self.flag("zero_gradient", zero, n, format!(
            "the input gradient is exactly zero for {zero} of {n} clips: gradient masking (a non-differentiable step, saturated outputs). White-box numbers are then meaningless; attack through a differentiable approximation (BPDA), the classifier alone (`through: classifier`), or rely on the black-box `square`."
        )))
    }

    /// A black-box attack fooled clips the white-box ones left: a member of
    /// an ensemble, or a black-box column beside white-box columns at its ε.
    fn black_box_stronger(&self, result: &ModelResult) -> Option<Flag> {
        let black = black_box_wins(result, self.ev.cells);
        let all: BTreeSet<u64> = result.records.iter().map(|r| r.clip).collect();
        (!black.is_empty()).then(|| self.flag("black_box_stronger", black.len(), all.len(), format!(
            "the black-box Square attack fooled {} clip(s) the white-box attacks before it could not: their gradients mislead (gradient masking). Try BPDA, EOT, more steps or restarts, or `through: classifier`.",
            black.len()
        )))
    }

    /// Logits that are NaN or infinite under attack (the clean ones are
    /// refused before): such a clip is counted fooled, never correct.
    fn non_finite(&self, records: &[ClipRecord]) -> Option<Flag> {
        let all: BTreeSet<u64> = records.iter().map(|r| r.clip).collect();
        let broken: BTreeSet<u64> = records
            .iter()
            .filter(|r| r.non_finite)
            .map(|r| r.clip)
            .collect();
        (!broken.is_empty()).then(|| self.flag("non_finite", broken.len(), all.len(), format!(
            "non-finite logits (NaN or infinite) on {} of {} clips under attack: each such clip is counted fooled, never correct, so the accuracies are what the model gives; check its forward pass on the adversarial clips (`report … adversarial`): an overflow, a division by zero, a log of 0.",
            broken.len(),
            all.len()
        )))
    }

    /// Accuracy must reach 0 at ε = 255: every pixel may be set at will.
    fn not_zero_at_255(&self) -> NodeResult<Option<Flag>> {
        let (net, x, y) = (self.model.net, self.x, self.y);
        let ok: Vec<i64> = {
            let _g = tch::no_grad_guard();
            let pred = Vec::<i64>::try_from(net(x, false).argmax(-1, false).to_device(Device::Cpu))
                .unwrap_or_default();
            let labels = Vec::<i64>::try_from(y.to_device(Device::Cpu)).unwrap_or_default();
            (0..self.n)
                .filter(|&i| pred[i] == labels[i])
                .map(|i| i as i64)
                .collect()
        };
        if ok.is_empty() {
            return Ok(None);
        }
        let t = Tensor::from_slice(&ok).to_device(self.ev.device);
        let (xs, ys) = (x.index_select(0, &t), y.index_select(0, &t));
        tch::manual_seed(mix(&[self.model.seed, 4]) as i64);
        let pgd = Pgd {
            norm: Norm::Inf,
            eps: 255.0,
            alpha: 64.0,
            steps: 10,
            random_start: false,
        };
        let adv = pgd.run(&|v| (self.model.attacked)(v, self.ev.bn_train), &xs, &ys)?;
        let _g = tch::no_grad_guard();
        let still = Self::count(&net(&adv, false).argmax(-1, false).eq_tensor(&ys));
        Ok((still > 0).then(|| self.flag("not_zero_at_255", still, ok.len(), format!(
            "PGD at ε = 255 (any pixel value allowed) leaves {still} of {} clips classified correctly: the attack does not reach the model (masked or obfuscated gradients, a broken attack). Try BPDA, EOT or `through: classifier`; the numbers at small ε are not trustworthy.",
            ok.len()
        ))))
    }
}

/// The clips a black-box attack fooled and the white-box ones did not: in
/// an ensemble, those its black-box member fooled (the members before it
/// left them); in a black-box column, those fooled there (not misclassified
/// clean) where every white-box column at its ε left the clip correct.
fn black_box_wins(result: &ModelResult, cells: &[Cell]) -> BTreeSet<u64> {
    let by_cell: Vec<(&Cell, &[ClipRecord])> = result.by_cell(cells).collect();
    let white: Vec<&ClipRecord> = by_cell
        .iter()
        .filter(|(c, _)| c.access == Access::WhiteBox)
        .flat_map(|(_, records)| records.iter())
        .collect();
    let mut black = BTreeSet::new();
    for (cell, records) in &by_cell {
        match &cell.access {
            Access::Ensemble { black_box } => black.extend(
                records
                    .iter()
                    .filter(|r| {
                        matches!(&r.fooled_by, Some(FooledBy::Attack(m)) if black_box.contains(m))
                    })
                    .map(|r| r.clip),
            ),
            Access::BlackBox => {
                for r in records
                    .iter()
                    .filter(|r| r.fooled && !r.fooled_by.as_ref().is_some_and(FooledBy::is_clean))
                {
                    let mut here = white
                        .iter()
                        .filter(|o| o.clip == r.clip && o.eps == r.eps)
                        .peekable();
                    if here.peek().is_some() && here.all(|o| !o.fooled) {
                        black.insert(r.clip);
                    }
                }
            }
            Access::Clean | Access::WhiteBox => {}
        }
    }
    black
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Column, ColumnAttack};

    fn cell(column: Column, name: &str, eps: f64, access: Access) -> Cell {
        Cell {
            column,
            name: name.into(),
            eps,
            attack: None,
            setting: String::new(),
            access,
        }
    }

    /// One record per clip of a cell: `fooled[i]` by `by[i]`.
    fn records(name: &str, eps: f64, by: &[Option<&str>]) -> Vec<ClipRecord> {
        by.iter()
            .enumerate()
            .map(|(i, by)| ClipRecord {
                seed: None,
                model: "m".into(),
                attack: ColumnAttack::from(name),
                eps,
                clip: i as u64,
                video: None,
                label: 0,
                clean_pred: 0,
                adv_pred: i64::from(by.is_some()),
                fooled: by.is_some(),
                fooled_by: by.map(FooledBy::from),
                step: None,
                margin: 0.0,
                linf: 0.0,
                l2: 0.0,
                l0: 0.0,
                frame_linf: Vec::new(),
                non_finite: false,
            })
            .collect()
    }

    fn result(cells: &[(Cell, Vec<ClipRecord>)]) -> ModelResult {
        ModelResult {
            rows: Vec::new(),
            records: cells.iter().flat_map(|(_, r)| r.clone()).collect(),
            adversarial: Vec::new(),
        }
    }

    #[test]
    fn a_black_box_column_wins_where_every_white_box_column_at_its_eps_failed() {
        let table = [
            (
                cell(Column::Clean, "none", 0.0, Access::Clean),
                records("none", 0.0, &[None, None, Some("clean"), None]),
            ),
            (
                cell(Column::Attack("pgd".into()), "pgd", 8.0, Access::WhiteBox),
                records("pgd", 8.0, &[None, Some("pgd"), Some("clean"), None]),
            ),
            (
                cell(
                    Column::Attack("square".into()),
                    "square",
                    8.0,
                    Access::BlackBox,
                ),
                records(
                    "square",
                    8.0,
                    &[Some("square"), Some("square"), Some("clean"), None],
                ),
            ),
        ];
        let cells: Vec<Cell> = table.iter().map(|(c, _)| c.clone()).collect();
        // Clip 0: PGD left it, Square fooled it; clip 1: both; clip 2: clean.
        assert_eq!(black_box_wins(&result(&table), &cells), BTreeSet::from([0]));
        // Alone, a black-box column has nothing to beat.
        let alone = [table[0].clone(), table[2].clone()];
        let cells: Vec<Cell> = alone.iter().map(|(c, _)| c.clone()).collect();
        assert!(black_box_wins(&result(&alone), &cells).is_empty());
    }

    #[test]
    fn an_ensembles_black_box_member_wins_where_it_fooled_the_clip() {
        let access = Access::Ensemble {
            black_box: vec!["square".into(), "square#2".into()],
        };
        let label = "apgd_ce+square+square#2";
        let table = [(
            cell(Column::Attack(label.into()), label, 8.0, access),
            records(
                label,
                8.0,
                &[
                    Some("apgd_ce"),
                    Some("square"),
                    Some("clean"),
                    Some("square#2"),
                    None,
                ],
            ),
        )];
        let cells: Vec<Cell> = table.iter().map(|(c, _)| c.clone()).collect();
        assert_eq!(
            black_box_wins(&result(&table), &cells),
            BTreeSet::from([1, 3])
        );
    }
}
