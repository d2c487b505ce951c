//! Each kind of node as its spec: data, models, defenses, trainings,
//! evaluations and analyses.

use super::*;
use crate::language::program::Precision;
use crate::runtime::models::python_spec::{Layout, PySource, PythonSpec};

impl Cx<'_> {
    pub(super) fn node(&self, n: &Node) -> R<NodeSpec> {
        let a = self.args(&n.builtin, &n.args);
        if n.kind == DeclKind::Rule {
            return Ok(NodeSpec::Rule);
        }
        let a = a?;
        Ok(match n.kind {
            DeclKind::Data => NodeSpec::Data(self.data(&a)?),
            DeclKind::Model => NodeSpec::Model(self.model(&a)?),
            DeclKind::Attack => NodeSpec::Attack(self.attack(&Value::Call {
                builtin: n.builtin.clone(),
                args: n.args.clone(),
            })?),
            DeclKind::Defense => NodeSpec::Defense(self.defense(n, &a)?),
            DeclKind::Train => NodeSpec::Train(Box::new(self.train(n, &a)?)),
            DeclKind::Eval if a.builtin.name == builtins::CERTIFY => {
                NodeSpec::Analysis(Box::new(certify(&a)?))
            }
            DeclKind::Eval => NodeSpec::Eval(Box::new(self.eval(n, &a)?)),
            DeclKind::Analyze => NodeSpec::Analysis(Box::new(self.analysis(n, &a)?)),
            DeclKind::Rule => NodeSpec::Rule,
        })
    }

    fn data(&self, a: &Args) -> R<DataSpec> {
        Ok(match a.builtin.name {
            "synthetic" => DataSpec::Synthetic(SyntheticArgs {
                spec: synthetic::Spec {
                    classes: a.count("classes")?,
                    frames: a.count("frames")?,
                    size: a.count("size")?,
                    seed: a.count("seed")? as u64,
                    contrast: a.num("contrast")?,
                    noise: a.num("noise")?,
                    distractors: a.count("distractors")?,
                },
                train: a.count("train")?,
                val: a.count("val")?,
                test: a.count("test")?,
            }),
            "tensors" => DataSpec::Tensors {
                path: a.path("path")?,
                val: a.num("val")?,
            },
            kind @ ("ucf101" | "hmdb51") => {
                let fk = if kind == "ucf101" {
                    FrameKind::Ucf101
                } else {
                    FrameKind::Hmdb51
                };
                let split = a.count("split")? as u32;
                if a.word("format")? == "video" {
                    let layout = VideoLayout::Archive {
                        root: a.path("root")?,
                        kind: fk,
                        split,
                    };
                    videos(a, layout, "root")?
                } else {
                    DataSpec::Frames {
                        args: FrameArgs {
                            root: a.path("root")?,
                            kind: fk,
                            split,
                            sampling: sampling(a)?,
                        },
                        root: a.string("root")?.to_string(),
                    }
                }
            }
            "videos" => {
                let layout = VideoLayout::Lists {
                    train: a.path("train")?,
                    test: a.path("test")?,
                };
                videos(a, layout, "train")?
            }
            "kinetics" => videos(
                a,
                VideoLayout::Kinetics {
                    root: a.path("root")?,
                },
                "root",
            )?,
            "ssv2" => videos(
                a,
                VideoLayout::Ssv2 {
                    root: a.path("root")?,
                },
                "root",
            )?,
            other => return Err(Refusal::not_executed(format!("the `{other}` data"))),
        })
    }

    fn model(&self, a: &Args) -> R<ModelNode> {
        let arch = match a.builtin.name {
            "c3d_small" => Arch::C3dSmall {
                width: a.int("width")?,
            },
            "r3d" => Arch::R3d {
                depth: a.int("depth")?,
            },
            "resnext101" => Arch::ResNext101 {
                cardinality: a.int("cardinality")?,
            },
            "torchscript" => Arch::TorchScript {
                path: a.path("path")?,
            },
            "python" => Arch::Python(Box::new(self.python(a)?)),
            other => return Err(Refusal::not_executed(format!("the `{other}` model"))),
        };
        let classes = match a.opt("classes") {
            None => Classes::Unknown,
            Some(Value::Field { node, .. }) => Classes::Of(self.data_id(node)?),
            Some(_) => Classes::Fixed(a.int("classes")?),
        };
        Ok(ModelNode {
            arch,
            classes,
            pretrained: a.opt_path("pretrained")?,
        })
    }

    /// A `python(…)` model: its source, factory arguments and the clips'
    /// way into `forward`.
    fn python(&self, a: &Args) -> R<PythonSpec> {
        let written = a.string("path")?;
        let list = |k: &str| -> R<Option<Vec<f64>>> { a.opt(k).map(|_| a.numbers(k)).transpose() };
        Ok(PythonSpec {
            source: PySource::of(written, a.path("path")?),
            factory: a.string("factory")?.to_string(),
            kwargs: a.extras()?,
            layout: match a.word("layout")? {
                "ntchw" => Layout::Ntchw,
                _ => Layout::Ncthw,
            },
            mean: list("mean")?,
            std: list("std")?,
            output: a
                .opt("output")
                .map(|_| a.string("output"))
                .transpose()?
                .map(str::to_string),
        })
    }

    fn defense(&self, n: &Node, a: &Args) -> R<DefenseSpec> {
        Ok(match a.builtin.name {
            "video_compression" => {
                if a.word("codec")? != "h264" {
                    return Err(Refusal::bug("only the `h264` codec is executed"));
                }
                DefenseSpec::VideoCompression { crf: a.int("crf")? }
            }
            "ape_gan" => {
                let gamma = a.numbers("gamma")?;
                let [g1, g2] = gamma[..] else {
                    return Err(Refusal::bug("`gamma` must hold two numbers"));
                };
                let rule = crate::runtime::train::generative::GanLearner::gan_rule();
                DefenseSpec::ApeGan(Box::new(ApeGanSpec {
                    data: a.data("data")?,
                    width: a.int("width")?,
                    residual: a.word("output")? == "residual",
                    gamma: [g1, g2],
                    g_steps: a.count("g_steps")?,
                    classifier: match a.opt("classifier") {
                        None => None,
                        Some(_) => Some(a.model("classifier")?),
                    },
                    training: self.training(
                        n,
                        a,
                        rule,
                        Some(a.attack("attack")?),
                        (Vec::new(), 1.0),
                    )?,
                }))
            }
            other => return Err(Refusal::not_executed(format!("the `{other}` defense"))),
        })
    }

    /// The optimizer of a train node's `optimizer`, `momentum`, … arguments.
    fn optimizer(&self, a: &Args) -> R<Rule> {
        Ok(match a.word("optimizer")? {
            "adam" => {
                let (beta1, beta2, eps) = builtins::ADAM;
                Rule::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay: a.num("weight_decay")?,
                }
            }
            "sgd" => Rule::Sgd {
                momentum: a.num("momentum")?,
                weight_decay: a.num("weight_decay")?,
                nesterov: a.boolean("nesterov")?,
            },
            w => return Err(Refusal::not_executed(format!("the optimizer `{w}`"))),
        })
    }

    /// Epochs, batch, rate, the attack and its schedule of a training node.
    fn training(
        &self,
        n: &Node,
        a: &Args,
        rule: Rule,
        attack: Option<AttackSpec>,
        (milestones, lr_decay): (Vec<usize>, f64),
    ) -> R<Training> {
        let schedule = match &attack {
            None => ScheduleSpec::Clean,
            Some(base) => match self.schedule(n, "attacks")? {
                Some((mode, values, every)) => {
                    let types = values
                        .iter()
                        .map(|v| self.attack(v))
                        .collect::<R<Vec<_>>>()?;
                    ScheduleSpec::Types(schedule_of(mode, types, every)?)
                }
                None => ScheduleSpec::Budgets(match self.schedule(n, "budget")? {
                    Some((mode, values, every)) => {
                        let vals = values
                            .iter()
                            .map(|v| numbers(v).ok_or_else(|| Refusal::bug("budgets are numbers")))
                            .collect::<Result<Vec<_>, _>>()?
                            .concat();
                        schedule_of(mode, vals, every)?
                    }
                    None => Schedule::Fixed(base.attack.eps()),
                }),
            },
        };
        let precision = match a.opt("precision") {
            Some(_) => Precision::parse(a.word("precision")?)
                .ok_or_else(|| Refusal::bug("`precision` is `fp32`, `bf16` or `fp16`"))?,
            None => self.program.settings.precision,
        };
        // The table's words for `precision:` are those the training runs;
        // the file's `precision fp16` may still reach one that has no fp16.
        let words = match a.builtin.param("precision").map(|p| p.ty) {
            Some(builtins::Ty::Choice(words)) => words,
            _ => &[][..],
        };
        if !words.contains(&precision.as_str()) {
            return Err(Refusal::cannot(
                format!(
                    "`{}` trains several networks with their own optimizers, and fp16's loss scaling covers one classifier's, so it cannot train under the file's `precision {}`",
                    a.builtin.name,
                    precision.as_str()
                ),
                format!(
                    "give this node `precision: bf16` (which needs no loss scale) or `precision: fp32`; the file's other nodes keep `precision {}`",
                    precision.as_str()
                ),
            ));
        }
        Ok(Training {
            precision,
            epochs: a.count("epochs")?,
            batch: a.count("batch")?.max(1),
            rule,
            lr: a.num("lr")?,
            milestones,
            lr_decay,
            attack,
            alpha: self.alpha(n)?,
            schedule,
        })
    }

    fn train(&self, n: &Node, a: &Args) -> R<TrainNode> {
        let learning = match a.builtin.name {
            "standard" => Learning::Standard,
            "adversarial" => Learning::Adversarial,
            "generative" => Learning::Generative { ape: a.ape("ape")? },
            other => return Err(Refusal::not_executed(format!("the `{other}` training"))),
        };
        let attack = match learning {
            Learning::Standard => None,
            _ => Some(a.attack("attack")?),
        };
        let milestones = a
            .numbers("milestones")?
            .iter()
            .map(|&m| m as usize)
            .collect();
        let training = self.training(
            n,
            a,
            self.optimizer(a)?,
            attack,
            (milestones, a.num("lr_decay")?),
        )?;
        let (method, loss) = if a.builtin.name == "adversarial" {
            self.method_and_loss(a, &training)?
        } else {
            (Method::Pgd, TrainLoss::Ce)
        };
        Ok(TrainNode {
            learning,
            model: a.model("model")?,
            data: a.data("data")?,
            preprocess: a.opt_defense("preprocess")?,
            training,
            method,
            loss,
            noise: match a.opt("noise") {
                Some(Value::Call { args, .. }) => args.get("sigma").and_then(Value::as_f64),
                _ => None,
            },
        })
    }

    /// `method:` and `loss:` of an adversarial training; the cheap methods
    /// perturb under L∞ (their step is a sign), and TRADES and MART run PGD.
    fn method_and_loss(&self, a: &Args, training: &Training) -> R<(Method, TrainLoss)> {
        let method = match a.word("method")? {
            "pgd" => Method::Pgd,
            "fgsm_rs" => Method::FgsmRs,
            "free" => Method::Free {
                replays: a.count("replays")?.max(1),
            },
            w => return Err(Refusal::not_executed(format!("`method: {w}`"))),
        };
        let loss = match a.word("loss")? {
            "ce" => TrainLoss::Ce,
            "trades" => TrainLoss::Trades {
                beta: a.num("beta")?,
            },
            "mart" => TrainLoss::Mart {
                beta: a.num("beta")?,
            },
            w => return Err(Refusal::not_executed(format!("`loss: {w}`"))),
        };
        if method != Method::Pgd {
            if loss != TrainLoss::Ce {
                return Err(Refusal::cannot(
                    format!(
                        "`loss: {}` runs its own PGD, and `method: {}` perturbs another way",
                        a.word("loss")?,
                        a.word("method")?
                    ),
                    format!(
                        "write `method: pgd` with `loss: {0}`, or keep `method: {1}` with `loss: ce`",
                        a.word("loss")?,
                        a.word("method")?
                    ),
                ));
            }
            let linf = training
                .attack
                .as_ref()
                .and_then(|t| t.attack.as_pgd())
                .is_some_and(|p| p.norm == super::super::attacks::Norm::Inf);
            if !linf {
                return Err(Refusal::cannot(
                    format!(
                        "`method: {}` takes its budget from an L∞ PGD or FGSM attack, and this training's attack is another",
                        a.word("method")?
                    ),
                    "give it an L∞ PGD or FGSM attack, e.g. `attack: pgd(steps: 5)` or `attack: fgsm`; or write `method: pgd` to train with this attack",
                ));
            }
        }
        if let (TrainLoss::Trades { .. }, Some(t)) = (loss, &training.attack) {
            if t.attack.as_pgd().is_none() {
                return Err(Refusal::cannot(
                    "`loss: trades` maximises its KL term with PGD, and this training's attack is not PGD",
                    "give it a PGD or FGSM attack, e.g. `attack: pgd(steps: 10)`; or write `loss: ce` to train against this attack",
                ));
            }
        }
        Ok((method, loss))
    }

    fn eval(&self, n: &Node, a: &Args) -> R<EvalSpec> {
        if a.builtin.name != "robustness" {
            return Err(Refusal::not_executed(format!(
                "the `{}` evaluation",
                a.builtin.name
            )));
        }
        let attack_v = self
            .setting(n, "attack")?
            .ok_or_else(|| Refusal::bug("an evaluation needs an attack"))?;
        let attack = self.attack(&attack_v)?;
        let columns = match self.schedule(n, "attacks")? {
            Some((_, values, _)) => Columns::Attacks(
                values
                    .iter()
                    .map(|v| match v {
                        Value::NoAttack => Ok(None),
                        call => self.attack(call).map(Some),
                    })
                    .collect::<R<_>>()?,
            ),
            None => Columns::Budgets(match self.schedule(n, "budget")? {
                Some((_, values, _)) => values
                    .iter()
                    .map(|v| numbers(v).ok_or_else(|| Refusal::bug("budgets are numbers")))
                    .collect::<Result<Vec<_>, _>>()?
                    .concat(),
                None => vec![attack.attack.eps()],
            }),
        };
        let models = match a.get("models")? {
            Value::List(items) => items.iter().map(|m| self.model_ref(m)).collect::<R<_>>()?,
            v => return Err(a.bad("models", v, "a list of models")),
        };
        Ok(EvalSpec {
            models,
            split: a.split("split")?,
            batch: a.count("batch")?.max(1),
            through: match a.word("through")? {
                "classifier" => Through::Classifier,
                "all" => Through::All,
                w => return Err(Refusal::not_executed(format!("`through: {w}`"))),
            },
            protocol: match a.word("protocol")? {
                "independent" => crate::results::Protocol::Independent,
                "worst_case" => crate::results::Protocol::WorstCase,
                w => return Err(Refusal::not_executed(format!("`protocol: {w}`"))),
            },
            attack,
            alpha: self.alpha(n)?,
            columns,
        })
    }

    fn analysis(&self, n: &Node, a: &Args) -> R<AnalysisSpec> {
        if a.builtin.name == "generalization_gap" {
            return Ok(AnalysisSpec::Gap {
                train: a.train_node("train")?,
            });
        }
        let attack = match self.setting(n, "attack")? {
            Some(v) => self.attack(&v)?,
            None => return Err(Refusal::bug("an analysis needs an attack")),
        };
        let Some(base) = attack.attack.as_pgd() else {
            return Err(Refusal::cannot(
                format!(
                    "`{}` studies PGD's step size, and its attack `{}` has none",
                    a.builtin.name, attack.label
                ),
                "write `attack pgd(…)` or `attack fgsm` in its block (without the statement it runs `pgd`)",
            ));
        };
        let grid = |key: &str| -> R<Vec<f64>> {
            match self.setting(n, key)? {
                Some(v) => Ok(numbers(&v).unwrap_or_default()),
                None => Ok(Vec::new()),
            }
        };
        let (model, split, samples) = (
            a.model("model")?,
            a.split("split")?,
            a.count("samples")?.max(1),
        );
        // An axis without a grid (none given, and no default in the table,
        // or a rule of `eps`) would search nothing.
        let axis = |key: &str, example: &str| -> R<Vec<f64>> {
            let values = grid(key)?;
            if values.is_empty() {
                return Err(Refusal::missing(
                    format!(
                        "`{}` searches `{key}` over a grid of numbers, and its block gives no grid",
                        n.name
                    ),
                    format!("write `{key} grid {example}` in the block of `{}`", n.name),
                ));
            }
            Ok(values)
        };
        Ok(match a.builtin.name {
            "loss_surface" => AnalysisSpec::Surface {
                pgd: Pgd {
                    eps: match self.schedule(n, "budget")? {
                        Some((_, values, _)) => values
                            .iter()
                            .find_map(|v| numbers(v).and_then(|v| v.first().copied()))
                            .unwrap_or(base.eps),
                        None => base.eps,
                    },
                    ..base
                },
                bn_train: attack.bn_train,
                alphas: axis("alpha", "0.25..16 step 0.25")?,
                steps: axis("steps", "1..20")?
                    .iter()
                    .map(|&m| m as usize)
                    .collect(),
                model,
                split,
                samples,
            },
            "step_fit" => AnalysisSpec::Fit {
                budgets: a.numbers("budgets")?,
                alphas: axis("alpha", "0.25..8 step 0.25")?,
                model,
                split,
                samples,
                pgd: base,
                bn_train: attack.bn_train,
            },
            other => return Err(Refusal::not_executed(format!("the `{other}` analysis"))),
        })
    }
}

/// `eval c = certify(…)`: randomized smoothing's CERTIFY on a split.
fn certify(a: &Args) -> R<AnalysisSpec> {
    Ok(AnalysisSpec::Certify {
        model: a.model("model")?,
        split: a.split("split")?,
        samples: a.count("samples")?.max(1),
        smoothing: crate::runtime::eval::certify::Smoothing {
            sigma: a.num("sigma")?,
            n0: a.count("n0")?,
            n: a.count("n")?,
            alpha: a.num("alpha")?,
            batch: a.count("batch")?.max(1),
        },
    })
}

/// A video-file data node: its layout and how clips are sampled; `shown`,
/// the argument that names it in messages.
fn videos(a: &Args, layout: VideoLayout, shown: &str) -> R<DataSpec> {
    Ok(DataSpec::Videos {
        args: VideoArgs {
            layout,
            sampling: sampling(a)?,
        },
        root: a.string(shown)?.to_string(),
    })
}

/// The sampling arguments every video data built-in shares.
fn sampling(a: &Args) -> R<Sampling> {
    Ok(Sampling {
        cut: Cut {
            frames: a.count("frames")?,
            stride: a.count("stride")?,
            size: a.count("size")?,
        },
        clips: a.count("clips")?,
        crops: a.count("crops")?,
        views: a.boolean("views")?,
        val: a.num("val")?,
    })
}
