//! Train nodes (`standard`, `adversarial`, `generative`) and trained
//! defenses (`ape_gan`), through the one training loop of
//! [`crate::runtime::train`].

use super::{RunError, Runner};
use crate::runtime::data::Dataset;
use crate::runtime::error::NodeError;
use crate::runtime::models::{Arch, ModelSpec, Net};
use crate::runtime::rng::{hash_str, mix};
use crate::runtime::spec::{
    ApeGanSpec, AttackSpec, Learning, NodeId, ScheduleSpec, TrainNode, Training,
};
use crate::runtime::train::generative::GanLearner;
use crate::runtime::train::{self, AttackPlan, TrainError, TrainSchedule, TrainSpec};
use std::path::PathBuf;

impl Runner<'_> {
    /// The training loop's spec: the attack plan (with its fitted lines) and
    /// the attack of each epoch.
    fn train_spec(&mut self, i: NodeId, t: &Training) -> Result<TrainSpec, RunError> {
        let schedule = match (&t.attack, &t.schedule) {
            (None, _) | (_, ScheduleSpec::Clean) => TrainSchedule::Clean,
            (Some(a), ScheduleSpec::Budgets(b)) => {
                let plan = self.attack_plan(i, a, t)?;
                let epochs = b
                    .try_map(|&eps| plan.at(eps))
                    .map_err(|e| self.fail(i, e))?;
                TrainSchedule::Attacked { plan, epochs }
            }
            (Some(a), ScheduleSpec::Types(types)) => {
                let plan = self.attack_plan(i, a, t)?;
                let epochs = types
                    .try_map(|a| {
                        let eps = a.attack.eps();
                        a.attack.at(eps, plan.alpha_at(eps))
                    })
                    .map_err(|e| self.fail(i, e))?;
                TrainSchedule::Attacked { plan, epochs }
            }
        };
        Ok(TrainSpec {
            node: self.program.nodes[i].name.clone(),
            seed: self.program.settings.seed,
            epochs: t.epochs,
            batch: t.batch,
            rule: t.rule.clone(),
            lr: t.lr,
            milestones: t.milestones.clone(),
            lr_decay: t.lr_decay,
            schedule,
            guard: false,
        })
    }

    /// How a training's attack is built at a budget, with the fitted lines
    /// its step-size rule names (computed first if needed).
    fn attack_plan(
        &mut self,
        i: NodeId,
        a: &AttackSpec,
        t: &Training,
    ) -> Result<AttackPlan, RunError> {
        Ok(AttackPlan {
            base: a.attack.clone(),
            alpha: t.alpha.as_ref().map(|r| r.expr.clone()),
            bn_train: a.bn_train,
            fits: self.fits(i, &t.alpha)?,
        })
    }

    /// Trains a `standard`/`adversarial` classifier or a `generative` (GAT) node.
    pub(super) fn run_train(&mut self, i: NodeId, t: &TrainNode) -> Result<(), RunError> {
        let d = self.dataset(t.data)?;
        let spec = TrainSpec {
            guard: t.method == crate::runtime::spec::Method::FgsmRs,
            ..self.train_spec(i, &t.training)?
        };
        let mi = t.model.model;
        let (dir, saved): (PathBuf, Vec<(&str, Net)>) = match t.learning {
            Learning::Generative { ape } => {
                if !self.input_front(t).is_empty() {
                    return Err(self.fail(
                        i,
                        NodeError::Model("GAT trains G in front of the classifier; give it a plain model, not one behind another defense".into()),
                    ));
                }
                self.ensure_done(mi)?;
                let mut f = self.net(mi, i)?;
                self.check_shapes(i, &f, &d)?;
                self.ensure_done(ape)?;
                let a = self.lowered.ape(ape).clone();
                let mut g = self.generator(&a, ape.node(), i, None)?;
                let mut dis = self.generator(&a, ape.node(), i, Some(clip_shape(&d)))?;
                for n in [&mut f, &mut g, &mut dis] {
                    n.precision = t.training.precision;
                }
                // G and D keep the APE-GAN's rate and γ; the schedule drives F.
                let f_rule = Some((spec.rule.clone(), spec.lr));
                let mut learner =
                    GanLearner::new(g, dis, Some(f), a.training.lr, &a.gamma, a.g_steps, f_rule);
                let dir = self.fit(i, &spec, &mut learner, &d)?;
                let f = learner.f.take().expect("GAT trains a classifier");
                let saved = vec![
                    ("weights.safetensors", f),
                    ("generator.safetensors", learner.g),
                    ("discriminator.safetensors", learner.d),
                ];
                (dir, saved)
            }
            Learning::Standard | Learning::Adversarial => {
                self.ensure_done(mi)?;
                let mut net = self.net(mi, i)?;
                net.precision = t.training.precision;
                self.check_shapes(i, &net, &d)?;
                let front = self.input_front(t);
                let pre = self.defenses(&front, i)?;
                let mut learner = train::Classifier::new(&mut net, pre, spec.rule.clone(), spec.lr)
                    .with(t.method, t.loss)
                    .with_noise(t.noise);
                let dir = self.fit(i, &spec, &mut learner, &d)?;
                (dir, vec![("weights.safetensors", net)])
            }
        };
        self.save(i, &dir, &saved)
    }

    /// Trains an `ape_gan` defense's G and D (against a frozen classifier, or alone).
    pub(super) fn run_ape_gan(&mut self, i: NodeId, a: &ApeGanSpec) -> Result<(), RunError> {
        let d = self.dataset(a.data)?;
        let spec = self.train_spec(i, &a.training)?;
        let device = self.opts.device;
        tch::manual_seed(mix(&[
            self.program.settings.seed,
            hash_str(&self.program.nodes[i].name),
        ]) as i64);
        let precision = a.training.precision;
        let build = |arch| {
            Net::build(
                &ModelSpec {
                    arch,
                    classes: 0,
                    pretrained: None,
                },
                device,
            )
            .map(|mut n| {
                n.precision = precision;
                n
            })
        };
        let width = a.width;
        let g = build(Arch::ApeGenerator {
            width,
            residual: a.residual,
        })
        .map_err(|e| self.fail(i, e))?;
        let dis = build(Arch::ApeDiscriminator {
            width,
            shape: clip_shape(&d),
        })
        .map_err(|e| self.fail(i, e))?;
        let f = match &a.classifier {
            Some(c) => {
                let ci = c.model;
                self.ensure_done(ci)?;
                let mut f = self.net(ci, i)?;
                f.precision = precision;
                self.check_shapes(i, &f, &d)?;
                f.vs.freeze();
                Some(f)
            }
            None => None,
        };
        let mut learner = GanLearner::new(g, dis, f, spec.lr, &a.gamma, a.g_steps, None);
        let dir = self.fit(i, &spec, &mut learner, &d)?;
        let saved = vec![
            ("generator.safetensors", learner.g),
            ("discriminator.safetensors", learner.d),
        ];
        self.save(i, &dir, &saved)
    }

    /// The trained networks into the working folder, then the entry is finished.
    fn save(
        &self,
        i: NodeId,
        dir: &std::path::Path,
        saved: &[(&str, Net)],
    ) -> Result<(), RunError> {
        if !crate::runtime::dist::writes() {
            return Ok(());
        }
        for (file, net) in saved {
            net.save(&dir.join(file)).map_err(|e| self.fail(i, e))?;
        }
        self.finish(i)
    }

    /// Trains node `i`'s learner in its working folder (resuming a checkpoint
    /// there); gives the folder. A failure or an interruption is the run's error.
    fn fit(
        &self,
        i: NodeId,
        spec: &TrainSpec,
        learner: &mut dyn train::Learner,
        d: &Dataset,
    ) -> Result<PathBuf, RunError> {
        let dir = self.workdir(i)?;
        self.progress.line(&format!(
            "{}: training ({} epochs, {} clips, checkpoint in {})",
            spec.node,
            spec.epochs,
            d.train.len(),
            dir.display()
        ));
        let r = train::train(spec, learner, d, &dir, &self.progress, self.opts.device);
        let name = &self.program.nodes[i].name;
        match r {
            Ok(_) => Ok(()),
            Err(TrainError::Interrupted { checkpoint, epoch }) => Err(RunError::Interrupted {
                node: name.clone(),
                message: format!(
                    "`{name}` stopped in epoch {} and saved its checkpoint ({}); run the same command again to resume where it stopped",
                    epoch + 1,
                    checkpoint.display()
                ),
            }),
            Err(TrainError::Node(e)) => Err(self.fail(i, e)),
        }?;
        Ok(dir)
    }
}

/// T×H×W of the data's clips.
fn clip_shape(d: &Dataset) -> [i64; 3] {
    [d.shape[1], d.shape[2], d.shape[3]]
}
