//! Analysis nodes: `loss_surface`, `step_fit` and `generalization_gap`, each
//! a typed result in the cache that the reports draw.

use super::{RunError, Runner};
use crate::results::{
    AnalysisResult, CertifiedClip, CertifyResult, FitResult, GapResult, SurfaceResult, Validation,
};
use crate::runtime::error::NodeError;
use crate::runtime::eval::analysis;
use crate::runtime::eval::certify;
use crate::runtime::rng::{hash_str, mix};
use crate::runtime::spec::{AnalysisSpec, ModelRef, NodeId, SplitRef, TrainId};
use crate::runtime::train;

impl Runner<'_> {
    pub(super) fn run_analysis(&mut self, i: NodeId, a: &AnalysisSpec) -> Result<(), RunError> {
        let node = self.program.nodes[i].name.clone();
        let result = match a {
            AnalysisSpec::Gap { train: t } => AnalysisResult::Gap(self.gap(i, *t)?),
            AnalysisSpec::Certify {
                model,
                split,
                samples,
                smoothing,
            } => {
                let certified = self.attacked(i, model, *split, |f, clips, seed, runner| {
                    certify_clips(&|x| f(x, false), clips, *samples, smoothing, seed, runner)
                })?;
                let certs: Vec<(certify::Certificate, i64)> = certified;
                let sigma = smoothing.sigma;
                let radii: Vec<f64> = (0..=16).map(|k| k as f64 * sigma / 4.0).collect();
                let accuracy = radii
                    .iter()
                    .map(|&r| certify::certified_accuracy(&certs, r))
                    .collect();
                let clips = certs
                    .iter()
                    .enumerate()
                    .map(|(j, (c, y))| CertifiedClip {
                        clip: j,
                        label: *y,
                        prediction: c.radius.map(|_| c.top),
                        count: c.count,
                        p_lower: c.p_lower,
                        radius: c.radius,
                        correct: c.radius.is_some() && c.top == *y,
                    })
                    .collect::<Vec<_>>();
                let abstained = certs.iter().filter(|(c, _)| c.radius.is_none()).count();
                self.progress.line(&format!(
                    "{node}: certified accuracy {:.1}% at radius 0, {abstained} of {} clips abstained",
                    100.0 * certify::certified_accuracy(&certs, 0.0),
                    certs.len()
                ));
                AnalysisResult::Certify(CertifyResult {
                    node: node.clone(),
                    model: self.program.nodes[model.model.node()].name.clone(),
                    split: split.split.as_str().to_string(),
                    sigma,
                    n0: smoothing.n0,
                    n: smoothing.n,
                    alpha: smoothing.alpha,
                    batch: smoothing.batch,
                    seed: self.program.settings.seed,
                    clips,
                    radii,
                    accuracy,
                    abstained,
                })
            }
            AnalysisSpec::Surface {
                model,
                split,
                samples,
                pgd,
                bn_train,
                alphas,
                steps,
            } => {
                let surface = self.attacked(i, model, *split, |f, clips, seed, runner| {
                    let on = subject(f, clips, *samples, *bn_train, seed, runner);
                    analysis::loss_surface(&on, pgd, alphas, steps, &runner.progress)
                })?;
                AnalysisResult::Surface(SurfaceResult {
                    node,
                    model: self.program.nodes[model.model.node()].name.clone(),
                    surface,
                })
            }
            AnalysisSpec::Fit {
                model,
                split,
                samples,
                pgd,
                bn_train,
                budgets,
                alphas,
            } => {
                let fit = self.attacked(i, model, *split, |f, clips, seed, runner| {
                    let on = subject(f, clips, *samples, *bn_train, seed, runner);
                    analysis::step_fit(&on, pgd, budgets, alphas, &runner.progress)
                })?;
                self.progress.line(&format!(
                    "{node}: {}",
                    crate::results::line_text(fit.a, fit.b, fit.r2)
                ));
                AnalysisResult::Fit(FitResult {
                    node,
                    model: self.program.nodes[model.model.node()].name.clone(),
                    a: fit.a,
                    b: fit.b,
                    r2: fit.r2,
                    fit,
                })
            }
        };
        let dir = self.workdir(i)?;
        crate::results::write_json(&dir.join("result.json"), &result)
            .map_err(|e| self.fail(i, NodeError::Failed(e)))?;
        self.finish(i)
    }

    /// Runs `each` on the model (behind its defenses) and the split's clips,
    /// with the analysis's seed.
    fn attacked<T>(
        &mut self,
        i: NodeId,
        model: &ModelRef,
        split: SplitRef,
        each: impl FnOnce(
            &dyn Fn(&tch::Tensor, bool) -> tch::Tensor,
            &crate::runtime::data::Clips,
            u64,
            &Self,
        ) -> crate::runtime::error::NodeResult<T>,
    ) -> Result<T, RunError> {
        let d = self.dataset(split.data)?;
        let mi = model.model;
        self.ensure_done(mi)?;
        let net = self.net(mi, i)?;
        self.check_shapes(i, &net, &d)?;
        let ids = self.model_front(model);
        let defenses = self.defenses(&ids, i)?;
        let clips = d.split(split.split.as_str());
        let views = clips.views();
        let f = |v: &tch::Tensor, train: bool| {
            crate::runtime::data::views_average(views, v, |x| {
                train::forward(&net, &defenses, x, train)
            })
        };
        let seed = mix(&[
            self.program.settings.seed,
            hash_str(&self.program.nodes[i].name),
        ]);
        each(&f, clips, seed, self).map_err(|e| self.fail(i, e))
    }

    /// Train and validation accuracy per epoch of train node `t`, and their gap.
    fn gap(&mut self, i: NodeId, t: TrainId) -> Result<GapResult, RunError> {
        self.ensure_done(t)?;
        let entry = self.cache.done(&self.keys[t.node()]);
        let metrics = crate::results::read_metrics(&entry).map_err(|message| {
            self.fail(
                i,
                NodeError::Damaged {
                    path: entry.clone(),
                    message,
                },
            )
        })?;
        // Train accuracy is on attacked clips: compare it with validation
        // under the same attack where the run logged it, else clean.
        let attacked = metrics.iter().any(|m| m.val_adv_acc.is_some());
        let val: Vec<Option<f64>> = metrics
            .iter()
            .map(|m| if attacked { m.val_adv_acc } else { m.val_acc })
            .collect();
        let gap = metrics
            .iter()
            .zip(&val)
            .map(|(m, v)| Some(m.train_acc? - (*v)?))
            .collect();
        Ok(GapResult {
            node: self.program.nodes[i].name.clone(),
            train: self.program.nodes[t.node()].name.clone(),
            epoch: metrics.iter().map(|m| m.epoch).collect(),
            eps: metrics.iter().map(|m| m.eps).collect(),
            train_acc: metrics.iter().map(|m| m.train_acc).collect(),
            val_acc: val,
            val_clean_acc: metrics.iter().map(|m| m.val_acc).collect(),
            validation: if attacked {
                Validation::Attacked
            } else {
                Validation::Clean
            },
            gap,
        })
    }
}

/// Clips per batch in the step-size analyses.
const BATCH: usize = 32;

/// What an analysis attacks: `f` on the first `samples` clips, in batches of [`BATCH`].
fn subject<'a>(
    f: &'a dyn Fn(&tch::Tensor, bool) -> tch::Tensor,
    clips: &'a crate::runtime::data::Clips,
    samples: usize,
    bn_train: bool,
    seed: u64,
    runner: &Runner,
) -> analysis::Subject<'a> {
    analysis::Subject {
        f,
        clips,
        samples,
        batch: BATCH,
        bn_train,
        seed,
        device: runner.opts.device,
    }
}

/// CERTIFY on the split's first `samples` clips, one at a time, each with its
/// own seed (the analysis's seed and the clip's index): its certificate and
/// label.
fn certify_clips(
    f: &dyn Fn(&tch::Tensor) -> tch::Tensor,
    clips: &crate::runtime::data::Clips,
    samples: usize,
    smoothing: &certify::Smoothing,
    seed: u64,
    runner: &Runner,
) -> crate::runtime::error::NodeResult<Vec<(certify::Certificate, i64)>> {
    let n = clips.len().min(samples);
    let bar = runner.progress.bar("certify", n as u64);
    let mut out = Vec::with_capacity(n);
    for j in 0..n {
        let (x, y) = clips.batch(&[j], mix(&[seed, j as u64]), runner.opts.device)?;
        let c = smoothing.certify(f, &x, mix(&[seed, j as u64, 1]) as i64)?;
        out.push((c, y.int64_value(&[0])));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out)
}
