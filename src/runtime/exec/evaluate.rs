//! `robustness` evaluations: every model under every column's attack.

use super::{RunError, Runner};
use crate::results::columns::{CLEAN_CLIPS, LABELS};
use crate::results::{ClipRecord, Column, ColumnAttack, ColumnKey, EvalResult, Flag, Row, Through};
use crate::runtime::attacks::{autoattack, Attack};
use crate::runtime::data::views_average;
use crate::runtime::data::Dataset;
use crate::runtime::error::{NodeError, NodeResult};
use crate::runtime::eval::{self, Access};
use crate::runtime::models;
use crate::runtime::rng::{hash_str, mix};
use crate::runtime::spec::{Columns, EvalSpec, ModelRef, NodeId};
use crate::runtime::train::{self, AttackPlan};
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

/// The setting of a column of clean clips.
const CLEAN: &str = "clean clips (no attack)";

/// An evaluation node under way: what every model meets.
struct Node<'e> {
    i: NodeId,
    e: &'e EvalSpec,
    name: String,
    data: Rc<Dataset>,
    cells: Vec<eval::Cell>,
    bn_train: bool,
    keep: bool,
}

impl Node<'_> {
    fn clips(&self) -> &crate::runtime::data::Clips {
        self.data.split(self.e.split.split.as_str())
    }
}

/// What the models of an evaluation gave, gathered for its result.
#[derive(Default)]
struct Gathered {
    rows: Vec<Row>,
    records: Vec<ClipRecord>,
    flags: Vec<Flag>,
    /// Saved adversarial clips, by their keys ([`ColumnKey`]).
    adversarial: Vec<(String, tch::Tensor)>,
    model_keys: BTreeMap<String, String>,
    model_files: BTreeMap<String, String>,
    fronts: BTreeMap<String, Vec<String>>,
}

impl Runner<'_> {
    pub(super) fn run_eval(&mut self, i: NodeId, e: &EvalSpec) -> Result<(), RunError> {
        let data = self.dataset(e.split.data)?;
        let plan = AttackPlan {
            base: e.attack.attack.clone(),
            alpha: e.alpha.as_ref().map(|r| r.expr.clone()),
            bn_train: e.attack.bn_train,
            fits: self.fits(i, &e.alpha)?,
        };
        let cells = cells(e, &plan).map_err(|err| self.fail(i, err))?;
        let node = Node {
            i,
            e,
            name: self.program.nodes[i].name.clone(),
            data,
            cells,
            bn_train: plan.bn_train,
            keep: self.keep_adversarial.contains(&i),
        };
        let dir = self.workdir(i)?;
        let mut out = Gathered::default();
        for m in &e.models {
            self.eval_model(&node, m, &mut out)?;
        }
        // Every rank holds every record now; rank 0 writes them.
        if !crate::runtime::dist::writes() {
            return Ok(());
        }
        if node.keep {
            self.save_adversarial(&node, std::mem::take(&mut out.adversarial), &dir)?;
        }
        self.write_eval(&node, out, &dir)?;
        self.finish(i)
    }

    /// One model under every cell, with its sanity flags.
    fn eval_model(
        &mut self,
        node: &Node,
        m: &ModelRef,
        out: &mut Gathered,
    ) -> Result<(), RunError> {
        let (i, e, label, mi) = (node.i, node.e, &m.label, m.model);
        self.ensure_done(mi)?;
        out.model_keys
            .insert(label.clone(), self.keys[mi.node()].clone());
        if let Some(hash) = self.weights_sha256(mi) {
            out.model_files.insert(label.clone(), hash);
        }
        let net = self.net(mi, i)?;
        self.check_shapes(i, &net, &node.data)?;
        // The written defenses, then those the model was trained behind.
        let ids = self.model_front(m);
        let defenses = self.defenses(&ids, i)?;
        out.fronts.insert(label.clone(), self.names(&ids));
        // With `views: true` a sample is a video's views along time: the
        // model (behind its defenses) sees each view, and the sample's
        // logits are their mean, which the attack then attacks.
        let views = node.clips().views();
        let forward = |v: &tch::Tensor, train: bool| {
            views_average(views, v, |x| train::forward(&net, &defenses, x, train))
        };
        let classifier_alone =
            |v: &tch::Tensor, train: bool| views_average(views, v, |x| net.forward(x, train));
        // White-box by default: the attack differentiates the whole pipeline.
        let attacked: &dyn Fn(&tch::Tensor, bool) -> tch::Tensor = match e.through {
            Through::Classifier => &classifier_alone,
            Through::All => &forward,
        };
        let model = eval::Model {
            label,
            net: &forward,
            attacked,
            same_function: e.through == Through::All && !node.bn_train,
            seed: mix(&[
                self.program.settings.seed,
                hash_str(&node.name),
                hash_str(label),
            ]),
        };
        let ev = eval::Evaluation {
            node: &node.name,
            clips: node.clips(),
            cells: &node.cells,
            bn_train: node.bn_train,
            batch: e.batch,
            keep: node.keep,
            protocol: e.protocol,
            device: self.opts.device,
            progress: &self.progress,
        };
        let r = eval::robustness(&ev, &model).map_err(|e| self.fail(i, e))?;
        let flags = eval::sanity::sanity(&ev, &model, &r).map_err(|e| self.fail(i, e))?;
        for f in &flags {
            self.progress
                .line(&format!("advp: warning: {}: {}", f.model, f.message));
        }
        out.flags.extend(flags);
        out.rows.extend(r.rows);
        out.records.extend(r.records);
        for ((_, t), cell) in r.adversarial.into_iter().zip(&node.cells) {
            let key = ColumnKey {
                model: label.clone(),
                column: cell.column.clone(),
            };
            out.adversarial.push((key.to_string(), t));
        }
        Ok(())
    }

    /// The adversarial clips a report wants, with the clean clips and labels.
    fn save_adversarial(
        &self,
        node: &Node,
        mut adversarial: Vec<(String, tch::Tensor)>,
        dir: &Path,
    ) -> Result<(), RunError> {
        let clips = node.clips();
        let idx: Vec<usize> = (0..clips.len()).collect();
        let (x, y) = clips
            .batch(&idx, 0, tch::Device::Cpu)
            .map_err(|e| self.fail(node.i, e))?;
        adversarial.push((CLEAN_CLIPS.into(), x));
        adversarial.push((LABELS.into(), y));
        models::save_tensors(&adversarial, &dir.join("adversarial.safetensors"))
            .map_err(|e| self.fail(node.i, e))
    }

    /// The evaluation's `result.json` and `records.jsonl`.
    fn write_eval(&self, node: &Node, out: Gathered, dir: &Path) -> Result<(), RunError> {
        let (i, e) = (node.i, node.e);
        let (here, trained_on) = self.machines(e);
        let result = EvalResult {
            seeds: Vec::new(),
            claims: Vec::new(),
            train_seconds: BTreeMap::new(),
            node: node.name.clone(),
            split: e.split.split.as_str().to_string(),
            seed: self.program.settings.seed,
            key: self.keys[i].clone(),
            model_keys: out.model_keys,
            defenses: out.fronts,
            through: e.through,
            protocol: e.protocol,
            rows: out.rows,
            attack: matches!(e.columns, Columns::Budgets(_)).then(|| {
                let a = &e.attack.attack;
                serde_json::json!({
                    "name": e.attack.label,
                    "call": self.program.nodes[i].stmts.get("attack"),
                    "autoattack": autoattack::version_of(a).map(|v| v.name()),
                    "as_run": autoattack::as_run(a, node.data.classes),
                })
            }),
            model_files: out.model_files,
            machine: Some(here),
            trained_on,
            flags: out.flags,
            unreadable: node.data.unreadable.clone(),
        };
        crate::results::finite::refuse_non_finite(&out.records, "records.jsonl")
            .map_err(|e| self.fail(i, NodeError::Numeric(e)))?;
        let records = dir.join("records.jsonl");
        crate::util::write_atomic(&records, ClipRecord::jsonl(&out.records).as_bytes()).map_err(
            |source| {
                self.fail(
                    i,
                    NodeError::Io {
                        path: records.clone(),
                        source,
                    },
                )
            },
        )?;
        crate::results::write_json(&dir.join("result.json"), &result)
            .map_err(|e| self.fail(i, NodeError::Failed(e)))
    }

    /// This machine, and the models trained on another kind of machine:
    /// the table mixes machines, say so.
    fn machines(
        &self,
        e: &EvalSpec,
    ) -> (
        crate::results::Machine,
        BTreeMap<String, crate::results::Machine>,
    ) {
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
        (here, trained_on)
    }
}

/// The table's cells: one per budget of a sweep (its attack at each ε, none
/// at ε = 0 unless it is `flicker`), or one per column of `attacks each {…}`.
fn cells(e: &EvalSpec, plan: &AttackPlan) -> NodeResult<Vec<eval::Cell>> {
    let rule = e
        .alpha
        .as_ref()
        .map(|r| format!(" (α by the rule `{}`)", r.expr.text()))
        .unwrap_or_default();
    let setting = |a: &Option<Attack>| match a {
        Some(a) => format!("{}{rule}", a.describe()),
        None => CLEAN.to_string(),
    };
    match &e.columns {
        Columns::Attacks(attacks) => attacks
            .iter()
            .map(|a| match a {
                None => Ok(eval::Cell {
                    column: Column::Clean,
                    name: ColumnAttack::Clean,
                    eps: 0.0,
                    attack: None,
                    setting: CLEAN.into(),
                    access: Access::Clean,
                }),
                Some(a) => {
                    let eps = a.attack.eps();
                    let attack = Some(a.attack.at(eps, plan.alpha_at(eps))?);
                    Ok(eval::Cell {
                        column: Column::Attack(a.label.clone()),
                        name: ColumnAttack::from(a.label.as_str()),
                        eps,
                        setting: setting(&attack),
                        access: Access::of(attack.as_ref()),
                        attack,
                    })
                }
            })
            .collect(),
        Columns::Budgets(budgets) => budgets
            .iter()
            .map(|&eps| {
                let attack = (eps > 0.0 || matches!(plan.base, Attack::Flicker(_)))
                    .then(|| plan.at(eps))
                    .transpose()?;
                Ok(eval::Cell {
                    column: Column::Budget(eps),
                    name: ColumnAttack::from(e.attack.label.as_str()),
                    eps,
                    setting: setting(&attack),
                    attack,
                    // The sweep's attack, also at ε = 0 where it runs none.
                    access: Access::of(Some(&plan.base)),
                })
            })
            .collect(),
    }
}
