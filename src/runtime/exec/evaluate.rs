//! `robustness` evaluations: every model under every column's attack.

use super::{RunError, Runner};
use crate::results::{EvalResult, Row, Through};
use crate::runtime::attacks::Attack;
use crate::runtime::eval;
use crate::runtime::models;
use crate::runtime::rng::{hash_str, mix};
use crate::runtime::spec::{Columns, EvalSpec, NodeId};
use crate::runtime::train::{self, AttackPlan};
use std::collections::BTreeMap;

/// The setting of a column of clean clips.
const CLEAN: &str = "clean clips (no attack)";

impl Runner<'_> {
    pub(super) fn run_eval(&mut self, i: NodeId, e: &EvalSpec) -> Result<(), RunError> {
        let node = self.program.nodes[i].name.clone();
        let d = self.dataset(e.split.data)?;
        let plan = AttackPlan {
            base: e.attack.attack.clone(),
            alpha: e.alpha.as_ref().map(|r| r.expr.clone()),
            bn_train: e.attack.bn_train,
            fits: self.fits(i, &e.alpha)?,
        };
        let rule = e
            .alpha
            .as_ref()
            .map(|r| format!(" (α by the rule `{}`)", r.expr.text()))
            .unwrap_or_default();
        let setting = |a: &Option<Attack>| match a {
            Some(a) => format!("{}{rule}", a.describe()),
            None => CLEAN.to_string(),
        };
        let cells: Vec<eval::Cell> = match &e.columns {
            Columns::Attacks(attacks) => attacks
                .iter()
                .map(|a| match a {
                    None => Ok(eval::Cell {
                        label: Some("none".into()),
                        name: "none".into(),
                        eps: 0.0,
                        attack: None,
                        setting: CLEAN.into(),
                    }),
                    Some(a) => {
                        let eps = a.attack.eps();
                        let attack = Some(a.attack.at(eps, plan.alpha_at(eps))?);
                        Ok(eval::Cell {
                            label: Some(a.label.clone()),
                            name: a.label.clone(),
                            eps,
                            setting: setting(&attack),
                            attack,
                        })
                    }
                })
                .collect::<Result<_, String>>(),
            Columns::Budgets(budgets) => budgets
                .iter()
                .map(|&eps| {
                    let attack = (eps > 0.0 || matches!(plan.base, Attack::Flicker(_)))
                        .then(|| plan.at(eps))
                        .transpose()?;
                    Ok(eval::Cell {
                        label: None,
                        name: e.attack.label.clone(),
                        eps,
                        setting: setting(&attack),
                        attack,
                    })
                })
                .collect::<Result<_, String>>(),
        }
        .map_err(|err| self.fail(i, err))?;
        let keep = self.keep_adversarial.contains(&i);
        let dir = self.workdir(i)?;
        let mut rows: Vec<Row> = Vec::new();
        let mut records = Vec::new();
        let mut flags = Vec::new();
        let mut adversarial: Vec<(String, tch::Tensor)> = Vec::new();
        let mut model_keys = BTreeMap::new();
        let mut model_files = BTreeMap::new();
        let mut fronts = BTreeMap::new();
        let clips = d.split(e.split.split.as_str());
        for m in &e.models {
            let label = &m.label;
            let mi = m.model;
            self.ensure_done(mi)?;
            model_keys.insert(label.clone(), self.keys[mi.node()].clone());
            if let Some(hash) = self.weights_sha256(mi) {
                model_files.insert(label.clone(), hash);
            }
            let net = self.net(mi, i)?;
            self.check_shapes(i, &net, &d)?;
            // The written defenses, then those the model was trained behind.
            let ids = self.model_front(m);
            let defenses = self.defenses(&ids, i)?;
            fronts.insert(label.clone(), self.names(&ids));
            let forward = |v: &tch::Tensor, train: bool| train::forward(&net, &defenses, v, train);
            let classifier_alone = |v: &tch::Tensor, train: bool| net.forward(v, train);
            // White-box by default: the attack differentiates the whole pipeline.
            let attacked: &dyn Fn(&tch::Tensor, bool) -> tch::Tensor = match e.through {
                Through::Classifier => &classifier_alone,
                Through::All => &forward,
            };
            let seed = mix(&[self.program.settings.seed, hash_str(&node), hash_str(label)]);
            let r = eval::robustness(
                &node,
                label,
                &forward,
                attacked,
                e.through == Through::All && !plan.bn_train,
                clips,
                &cells,
                plan.bn_train,
                e.batch,
                seed,
                keep,
                e.protocol,
                self.opts.device,
                &self.progress,
            )
            .map_err(|e| self.fail(i, e))?;
            let model_flags = eval::sanity::sanity(
                label,
                &forward,
                attacked,
                clips,
                &r.records,
                plan.bn_train,
                seed,
                self.opts.device,
            )
            .map_err(|e| self.fail(i, e))?;
            for f in &model_flags {
                self.progress
                    .line(&format!("advp: warning: {}: {}", f.model, f.message));
            }
            flags.extend(model_flags);
            rows.extend(r.rows);
            records.extend(r.records);
            for ((eps, t), cell) in r.adversarial.into_iter().zip(&cells) {
                let column = cell.label.clone().unwrap_or_else(|| format!("eps{eps}"));
                adversarial.push((format!("{label}/{column}"), t));
            }
        }
        if keep {
            let idx: Vec<usize> = (0..clips.len()).collect();
            let (x, y) = clips
                .batch(&idx, 0, tch::Device::Cpu)
                .map_err(|e| self.fail(i, e))?;
            adversarial.push(("clean".into(), x));
            adversarial.push(("labels".into(), y));
            models::save_tensors(&adversarial, &dir.join("adversarial.safetensors"))
                .map_err(|e| self.fail(i, e))?;
        }
        // Models trained elsewhere: the table mixes machines, say so.
        let here = crate::runtime::device::machine(self.opts.device);
        let mut trained_on = BTreeMap::new();
        for m in &e.models {
            if let Some(there) = self.machine_of(m.model).filter(|t| t.differs(&here)) {
                self.progress.line(&format!(
                    "advp: warning: `{}` was trained on {}; this evaluation runs on {}: the table mixes machines (float kernels differ, so numbers may differ in their last digits from one machine's run)",
                    m.label,
                    there.text(),
                    here.text()
                ));
                trained_on.insert(m.label.clone(), there);
            }
        }
        let result = EvalResult {
            seeds: Vec::new(),
            claims: Vec::new(),
            train_seconds: BTreeMap::new(),
            node,
            split: e.split.split.as_str().to_string(),
            seed: self.program.settings.seed,
            key: self.keys[i].clone(),
            model_keys,
            defenses: fronts,
            through: e.through,
            protocol: e.protocol,
            rows,
            attack: matches!(e.columns, Columns::Budgets(_)).then(|| {
                serde_json::json!({
                    "name": e.attack.label,
                    "call": self.program.nodes[i].stmts.get("attack"),
                })
            }),
            model_files,
            machine: Some(here),
            trained_on,
            flags,
        };
        crate::results::finite::refuse_non_finite(&records, "records.jsonl")
            .map_err(|e| self.fail(i, e))?;
        crate::util::write_atomic(
            &dir.join("records.jsonl"),
            crate::results::ClipRecord::jsonl(&records).as_bytes(),
        )
        .map_err(|e| self.fail(i, e.to_string()))?;
        crate::results::write_json(&dir.join("result.json"), &result)
            .map_err(|e| self.fail(i, e))?;
        self.finish(i)
    }
}
