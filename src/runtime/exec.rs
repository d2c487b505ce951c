//! Runs a checked, planned program: nodes in dependency order, every finished
//! `train` and `eval` node stored in the content-addressed cache.
//!
//! Data, model and attack nodes are cheap descriptions, built only when a node
//! that needs them actually runs, so a second run of a finished pipeline does
//! no tensor work at all.

use super::attacks::{Attack, Norm, Pgd};
use super::cache::{self, Cache};
use super::data::{self, Dataset};
use super::defenses::Defense;
use super::eval::{self, Row};
use super::models::{self, Arch, ModelSpec, Net};
use super::optim::Rule;
use super::progress::Progress;
use super::rng::{hash_str, mix};
use super::train::{self, AttackPlan, TrainError, TrainSpec};
use super::video_attacks::{Flicker, Position, SaliencyMode};
use crate::graph::Plan;
use crate::language::ast::DeclKind;
use crate::language::diagnostic::{Code, Diagnostic};
use crate::language::program::{Node, Program, StmtValue, Value};
use crate::language::schedule::Schedule;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub struct Options {
    /// Where reports go.
    pub out: PathBuf,
    pub cache: PathBuf,
    pub only: Option<String>,
    pub force: bool,
    pub quiet: bool,
    /// The pipeline's folder: relative data, weight and module paths start here.
    pub base: PathBuf,
    pub device: tch::Device,
}

#[derive(Debug)]
pub enum RunError {
    /// Diagnostics pointing into the pipeline.
    Diagnostics(Vec<Diagnostic>),
    /// Ctrl-C: the checkpoint is saved.
    Interrupted { node: String, message: String },
}

/// What the run did, node by node.
#[derive(Debug, Default)]
pub struct Summary {
    pub ran: Vec<String>,
    pub cached: Vec<String>,
    pub reports: Vec<PathBuf>,
}

/// The builtins and report formats this runtime executes.
fn supported(node: &Node) -> Result<(), String> {
    let ok = matches!(
        node.builtin.as_str(),
        "synthetic"
            | "tensors"
            | "ucf101"
            | "hmdb51"
            | "c3d_small"
            | "r3d"
            | "resnext101"
            | "torchscript"
            | "fgsm"
            | "pgd"
            | "masked_pgd"
            | "frame_border"
            | "saliency"
            | "flicker"
            | "video_compression"
            | "standard"
            | "adversarial"
            | "robustness"
            | "rule"
    );
    if !ok {
        return Err(format!(
            "`{}` ({}) is checked but not executed by this version of advp yet",
            node.builtin,
            node.kind.as_str()
        ));
    }
    if node
        .args
        .get("preprocess")
        .is_some_and(|v| *v != Value::Bool(false))
    {
        return Err("a `preprocess` defense in training is not executed yet".into());
    }
    Ok(())
}

fn attack_supported(v: &Value) -> Result<(), String> {
    match v {
        Value::Call { .. } => attack_of(v).map(|_| ()),
        _ => Ok(()),
    }
}

fn num(args: &BTreeMap<String, Value>, k: &str) -> f64 {
    args.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

fn int(args: &BTreeMap<String, Value>, k: &str) -> i64 {
    args.get(k)
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
        .unwrap_or(0)
}

fn string(args: &BTreeMap<String, Value>, k: &str) -> Option<String> {
    args.get(k).and_then(Value::as_str).map(str::to_string)
}

fn pgd_args(args: &BTreeMap<String, Value>) -> Pgd {
    Pgd {
        norm: match args.get("norm") {
            Some(Value::Inf) | None => Norm::Inf,
            _ => Norm::L2,
        },
        eps: num(args, "eps"),
        alpha: num(args, "step"),
        steps: int(args, "steps").max(0) as usize,
        random_start: args.get("random_start") == Some(&Value::Bool(true)),
    }
}

/// An attack call as the runtime's [`Attack`], and whether BatchNorm stays in train mode.
pub fn attack_of(v: &Value) -> Result<(Attack, bool), String> {
    let Value::Call { builtin, args } = v else {
        return Err("not an attack".into());
    };
    let bn_train = string(args, "bn").as_deref() == Some("train");
    let attack = match builtin.as_str() {
        "fgsm" => Attack::Fgsm(num(args, "eps")),
        "pgd" => Attack::Pgd(pgd_args(args)),
        "masked_pgd" => Attack::Patch {
            pgd: pgd_args(args),
            ratio: num(args, "ratio"),
            position: match args.get("position") {
                Some(Value::List(yx)) if yx.len() == 2 => {
                    Position::At(yx[0].as_i64().unwrap_or(0), yx[1].as_i64().unwrap_or(0))
                }
                Some(v) if v.as_str() == Some("top_left") => Position::TopLeft,
                Some(v) if v.as_str() == Some("center") => Position::Center,
                _ => Position::Random,
            },
        },
        "frame_border" => Attack::Border {
            pgd: pgd_args(args),
            ratio: num(args, "ratio"),
        },
        "saliency" => {
            let inner = match args.get("inner") {
                Some(v @ Value::Call { .. }) => match attack_of(v)?.0 {
                    Attack::Pgd(p) => p,
                    Attack::Fgsm(e) => Pgd::fgsm(e),
                    _ => return Err("the saliency attack's `inner` must be `pgd` or `fgsm`".into()),
                },
                _ => return Err("the saliency attack needs an `inner` attack".into()),
            };
            Attack::Saliency {
                mode: match string(args, "mode").as_deref() {
                    Some("iterative") => SaliencyMode::Iterative,
                    Some("refresh") => SaliencyMode::Refresh,
                    _ => SaliencyMode::OneShot,
                },
                inner,
            }
        }
        "flicker" => {
            let beta = args.get("beta").map(numbers).unwrap_or_default();
            if beta.len() != 3 {
                return Err("`beta` must hold three numbers".into());
            }
            Attack::Flicker(Flicker {
                step: num(args, "step"),
                steps: int(args, "steps").max(0) as usize,
                beta: [beta[0], beta[1], beta[2]],
                margin: num(args, "margin"),
            })
        }
        other => return Err(format!("the `{other}` attack is not executed yet")),
    };
    Ok((attack, bn_train))
}

/// A column name for an attack: the built-in, and the saliency mode.
fn attack_label(v: &Value) -> String {
    match v {
        Value::Call { builtin, args } if builtin == "saliency" => {
            format!("saliency_{}", string(args, "mode").unwrap_or_default())
        }
        Value::Call { builtin, .. } => builtin.clone(),
        _ => "none".into(),
    }
}

fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::List(items) => items.iter().flat_map(numbers).collect(),
        other => other.as_f64().into_iter().collect(),
    }
}

/// A schedule of the given mode over values.
fn schedule_of<T: Clone>(mode: &str, values: Vec<T>, every: Option<u64>) -> Schedule<T> {
    match mode {
        "curriculum" => Schedule::Curriculum { values, every },
        "adaptive" => Schedule::Adaptive { values, every },
        "uniform" => Schedule::Uniform(values),
        _ => Schedule::Fixed(values[0].clone()),
    }
}

/// The budget schedule of a `train` block (default: the attack's own ε, fixed).
fn budget(node: &Node, attack_eps: f64) -> Schedule<f64> {
    match node.stmts.get("budget") {
        Some(StmtValue::Schedule {
            mode,
            values,
            every,
        }) => {
            let vals: Vec<f64> = values.iter().flat_map(numbers).collect();
            match mode.as_str() {
                "curriculum" => Schedule::Curriculum {
                    values: vals,
                    every: *every,
                },
                "adaptive" => Schedule::Adaptive {
                    values: vals,
                    every: *every,
                },
                "uniform" => Schedule::Uniform(vals),
                _ => Schedule::Fixed(vals.first().copied().unwrap_or(attack_eps)),
            }
        }
        _ => Schedule::Fixed(attack_eps),
    }
}

fn alpha_rule(node: &Node) -> Option<crate::language::program::RuleExpr> {
    match node.stmts.get("alpha") {
        Some(StmtValue::Setting {
            value: Value::Rule(r),
            ..
        }) => Some(r.clone()),
        _ => None,
    }
}

pub struct Runner<'a> {
    program: &'a Program,
    plan: &'a Plan,
    opts: &'a Options,
    index: HashMap<&'a str, usize>,
    keys: Vec<String>,
    cache: Cache,
    data: HashMap<usize, Rc<Dataset>>,
    progress: Progress,
    /// Eval nodes whose adversarial clips a report asks for.
    keep_adversarial: HashSet<usize>,
    summary: Summary,
}

impl<'a> Runner<'a> {
    pub fn new(program: &'a Program, plan: &'a Plan, opts: &'a Options) -> Self {
        let index = program
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let keep_adversarial = program
            .reports
            .iter()
            .filter(|r| matches!(r.mode.as_deref(), Some("adversarial" | "examples")))
            .filter_map(|r| program.nodes.iter().position(|n| n.name == r.target))
            .collect();
        let mut runner = Runner {
            program,
            plan,
            opts,
            index,
            keys: Vec::new(),
            cache: Cache::new(opts.cache.clone()),
            data: HashMap::new(),
            progress: Progress::new(opts.quiet),
            keep_adversarial,
            summary: Summary::default(),
        };
        runner.keys = cache::keys(program, plan, &opts.base);
        runner
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    fn diag(&self, i: usize, code: Code, message: String, help: &str) -> Diagnostic {
        let n = &self.program.nodes[i];
        Diagnostic::new(code, n.file, n.name_span, message)
            .label(format!("while running `{}`", n.name))
            .help(help.to_string())
    }

    fn fail(&self, i: usize, message: String) -> RunError {
        RunError::Diagnostics(vec![self.diag(
            i,
            Code::NodeFailed,
            message,
            "fix the cause and run again: finished nodes stay cached, and training resumes from its last checkpoint",
        )])
    }

    fn node(&self, name: &str) -> usize {
        self.index[name]
    }

    /// Nodes this run must finish: `--only` and what it reads, or every train and eval node.
    fn targets(&self) -> Result<Vec<usize>, RunError> {
        let mut wanted = vec![false; self.program.nodes.len()];
        match &self.opts.only {
            Some(name) => {
                let Some(&i) = self.index.get(name.as_str()) else {
                    let names: Vec<&str> =
                        self.program.nodes.iter().map(|n| n.name.as_str()).collect();
                    let hint = crate::language::diagnostic::nearest(name, names.iter().copied())
                        .map_or(String::new(), |n| format!(" (did you mean `{n}`?)"));
                    return Err(RunError::Diagnostics(vec![Diagnostic::new(
                        Code::UnknownName,
                        self.program.main,
                        crate::language::ast::Span { start: 0, end: 0 },
                        format!("--only {name}: no node of that name{hint}"),
                    )
                    .help(format!("nodes: {}", names.join(", ")))]));
                };
                let mut stack = vec![i];
                while let Some(j) = stack.pop() {
                    if !wanted[j] {
                        wanted[j] = true;
                        stack.extend(self.plan.inputs(j));
                    }
                }
            }
            None => wanted.iter_mut().for_each(|w| *w = true),
        }
        Ok(self
            .plan
            .order
            .iter()
            .copied()
            .filter(|&i| wanted[i])
            .collect())
    }

    /// Refuses, before any work, what this runtime cannot execute.
    fn preflight(&self, targets: &[usize]) -> Result<(), RunError> {
        let mut diags = Vec::new();
        for &i in targets {
            let n = &self.program.nodes[i];
            let mut problems = Vec::new();
            if let Err(e) = supported(n) {
                problems.push(e);
            }
            for v in n
                .args
                .values()
                .chain(n.stmts.values().filter_map(|s| match s {
                    StmtValue::Setting { value, .. } => Some(value),
                    _ => None,
                }))
            {
                if let Err(e) = attack_supported(v) {
                    problems.push(e);
                }
                let parts: Vec<&Value> = match v {
                    Value::List(items) => items.iter().collect(),
                    other => vec![other],
                };
                if n.kind != DeclKind::Eval && parts.iter().any(|p| matches!(p, Value::Compose(_)))
                {
                    problems.push(
                        "`defense >> model` is executed in evaluations; in training, not yet"
                            .into(),
                    );
                }
            }
            for p in problems {
                diags.push(self.diag(
                    i,
                    Code::Unsupported,
                    p,
                    "run the nodes that are executed with `--only NODE`, or follow the open issues for the rest",
                ));
            }
        }
        for r in &self.program.reports {
            let Some(&t) = self.index.get(r.target.as_str()) else {
                continue;
            };
            if !targets.contains(&t) {
                continue;
            }
            for p in &r.paths {
                let ext = Path::new(p)
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("");
                let kind = self.program.nodes[t].kind;
                let ok = match (r.mode.as_deref(), kind) {
                    (Some("adversarial"), _) => ext == "safetensors",
                    (Some("examples"), DeclKind::Eval) => true,
                    (None, DeclKind::Eval) => matches!(ext, "md" | "csv" | "json"),
                    (None, DeclKind::Train) => matches!(ext, "json" | "csv" | "jsonl"),
                    _ => false,
                };
                if !ok {
                    diags.push(
                        Diagnostic::new(
                            Code::Unsupported,
                            r.file,
                            r.span,
                            format!("the report `{p}` is checked but not written by this version of advp yet"),
                        )
                        .label("not written yet")
                        .help("evaluations write .md, .csv and .json tables and adversarial .safetensors; train nodes write their metrics as .json, .csv or .jsonl"),
                    );
                }
            }
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(RunError::Diagnostics(diags))
        }
    }

    /// Whether node `i` is finished in the cache (and has what its reports need).
    pub fn is_cached(&self, i: usize) -> bool {
        let n = &self.program.nodes[i];
        match n.kind {
            DeclKind::Train | DeclKind::Eval => {
                let dir = self.cache.done(&self.keys[i]);
                dir.exists()
                    && (!self.keep_adversarial.contains(&i)
                        || dir.join("adversarial.safetensors").exists())
            }
            _ => false,
        }
    }

    pub fn run(mut self) -> Result<Summary, RunError> {
        let targets = self.targets()?;
        self.preflight(&targets)?;
        let forced: HashSet<usize> = match (&self.opts.only, self.opts.force) {
            (_, false) => HashSet::new(),
            (Some(name), true) => HashSet::from([self.node(name)]),
            (None, true) => targets.iter().copied().collect(),
        };
        for &i in &targets {
            let n = &self.program.nodes[i];
            if !matches!(n.kind, DeclKind::Train | DeclKind::Eval) {
                continue;
            }
            if self.is_cached(i) && !forced.contains(&i) {
                self.progress
                    .line(&format!("{}: cached ({})", n.name, &self.keys[i][..12]));
                self.summary.cached.push(n.name.clone());
                continue;
            }
            if forced.contains(&i) {
                self.cache
                    .clear(&self.keys[i])
                    .map_err(|e| self.fail(i, e))?;
            }
            let outcome = super::models::catch_libtorch(|| match n.kind {
                DeclKind::Train => self.run_train(i),
                _ => self.run_eval(i),
            });
            match outcome {
                Ok(r) => r?,
                Err(panic) => {
                    return Err(self.fail(
                        i,
                        format!("libtorch failed while running `{}`: {panic}", n.name),
                    ))
                }
            }
            self.summary.ran.push(n.name.clone());
        }
        let written = super::super::reports::write_all(
            self.program,
            &targets,
            &self.keys,
            &self.cache,
            &self.opts.out,
        )
        .map_err(|e| RunError::Diagnostics(vec![*e]))?;
        self.summary.reports = written;
        Ok(self.summary)
    }

    // ------------------------------------------------------------ building blocks

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.opts.base.join(p)
        }
    }

    fn dataset(&mut self, i: usize) -> Result<Rc<Dataset>, RunError> {
        if let Some(d) = self.data.get(&i) {
            return Ok(d.clone());
        }
        let n = &self.program.nodes[i];
        let a = &n.args;
        let d = match n.builtin.as_str() {
            "synthetic" => Ok(data::synthetic(&data::SyntheticArgs {
                spec: super::synthetic::Spec {
                    classes: int(a, "classes") as usize,
                    frames: int(a, "frames") as usize,
                    size: int(a, "size") as usize,
                    seed: int(a, "seed") as u64,
                    contrast: num(a, "contrast"),
                    noise: num(a, "noise"),
                    distractors: int(a, "distractors") as usize,
                },
                train: int(a, "train") as usize,
                val: int(a, "val") as usize,
                test: int(a, "test") as usize,
            })),
            "tensors" => data::tensors(
                &self.path(&string(a, "path").unwrap_or_default()),
                num(a, "val"),
            ),
            kind @ ("ucf101" | "hmdb51") => {
                self.progress.line(&format!(
                    "{}: indexing {}",
                    n.name,
                    string(a, "root").unwrap_or_default()
                ));
                data::frame_folders(&data::FrameArgs {
                    root: self.path(&string(a, "root").unwrap_or_default()),
                    kind: if kind == "ucf101" {
                        super::frames::Kind::Ucf101
                    } else {
                        super::frames::Kind::Hmdb51
                    },
                    split: int(a, "split") as u32,
                    frames: int(a, "frames") as usize,
                    size: int(a, "size") as usize,
                    clips: int(a, "clips") as usize,
                    val: num(a, "val"),
                })
            }
            other => Err(format!("`{other}` is not data")),
        }
        .map_err(|e| self.fail(i, e))?;
        let d = Rc::new(d);
        self.data.insert(i, d.clone());
        Ok(d)
    }

    fn classes_of(&mut self, v: &Value) -> Result<i64, RunError> {
        match v {
            Value::Field { node, .. } => Ok(self.dataset(self.node(node))?.classes),
            other => Ok(other.as_i64().unwrap_or(0)),
        }
    }

    /// The model node `i` describes (following train nodes back to their model).
    fn model_spec(&mut self, i: usize) -> Result<ModelSpec, RunError> {
        let n = &self.program.nodes[i];
        let a = n.args.clone();
        let arch = match n.builtin.as_str() {
            "c3d_small" => Arch::C3dSmall {
                width: int(&a, "width"),
            },
            "r3d" => Arch::R3d {
                depth: int(&a, "depth"),
            },
            "resnext101" => Arch::ResNext101 {
                cardinality: int(&a, "cardinality"),
            },
            "torchscript" => Arch::TorchScript {
                path: self.path(&string(&a, "path").unwrap_or_default()),
            },
            _ => return Err(self.fail(i, format!("`{}` is not a model", n.name))),
        };
        let classes = match a.get("classes") {
            Some(v) => self.classes_of(v)?,
            None => 0,
        };
        Ok(ModelSpec {
            arch,
            classes,
            pretrained: string(&a, "pretrained").map(|p| self.path(&p)),
        })
    }

    /// A ready classifier for node `i`: a model node (fresh, seeded by its name)
    /// or a finished train node (its weights from the cache).
    fn net(&mut self, i: usize, for_node: usize) -> Result<Net, RunError> {
        let n = &self.program.nodes[i];
        match n.kind {
            DeclKind::Model => {
                let spec = self.model_spec(i)?;
                tch::manual_seed(mix(&[self.program.settings.seed, hash_str(&n.name)]) as i64);
                Net::build(&spec, self.opts.device).map_err(|e| self.fail(for_node, e))
            }
            DeclKind::Train => {
                let Some(Value::Node(model)) = n.args.get("model").cloned() else {
                    return Err(self.fail(i, "a train node needs a model".into()));
                };
                let mut net = self.net(self.node(&model), for_node)?;
                let weights = self.cache.done(&self.keys[i]).join("weights.safetensors");
                let named = tch::Tensor::read_safetensors(&weights).map_err(|e| {
                    self.fail(for_node, format!("cannot read {}: {e}", weights.display()))
                })?;
                net.copy_from(&named).map_err(|e| self.fail(for_node, e))?;
                Ok(net)
            }
            _ => Err(self.fail(for_node, format!("`{}` is not a model", n.name))),
        }
    }

    fn defense(&self, d: usize, for_node: usize) -> Result<Defense, RunError> {
        let n = &self.program.nodes[d];
        match n.builtin.as_str() {
            "video_compression" => {
                super::defenses::ffmpeg().map_err(|e| self.fail(for_node, e))?;
                Ok(Defense::VideoCompression {
                    crf: int(&n.args, "crf"),
                })
            }
            other => Err(self.fail(
                for_node,
                format!("the `{other}` defense is not executed by this version of advp yet"),
            )),
        }
    }

    /// The node's working folder in the cache (kept across runs for resuming), described.
    fn workdir(&self, i: usize) -> Result<PathBuf, RunError> {
        let dir = self
            .cache
            .partial(&self.keys[i])
            .map_err(|e| self.fail(i, e))?;
        self.cache
            .describe(
                &dir,
                &self.program.nodes[i],
                &self.keys[i],
                self.program.settings.seed,
            )
            .map_err(|e| self.fail(i, e))?;
        Ok(dir)
    }

    fn ensure_done(&mut self, i: usize) -> Result<(), RunError> {
        if self.program.nodes[i].kind == DeclKind::Train && !self.is_cached(i) {
            self.run_train(i)?;
            self.summary.ran.push(self.program.nodes[i].name.clone());
        }
        Ok(())
    }

    fn check_shapes(&self, i: usize, net: &Net, d: &Dataset) -> Result<(), RunError> {
        models::check_shape(net, &d.shape, d.classes).map_err(|e| {
            RunError::Diagnostics(vec![self.diag(
                i,
                Code::ShapeMismatch,
                e,
                "make the model's `classes` match the data (e.g. `classes: ucf.classes`) and its input match the clips",
            )])
        })
    }

    // ------------------------------------------------------------------ train

    fn run_train(&mut self, i: usize) -> Result<(), RunError> {
        let n = self.program.nodes[i].clone();
        let Some(Value::Node(data_name)) = n.args.get("data").cloned() else {
            return Err(self.fail(i, "a train node needs data".into()));
        };
        let d = self.dataset(self.node(&data_name))?;
        let Some(Value::Node(model)) = n.args.get("model").cloned() else {
            return Err(self.fail(i, "a train node needs a model".into()));
        };
        let mi = self.node(&model);
        self.ensure_done(mi)?;
        let mut net = self.net(mi, i)?;
        self.check_shapes(i, &net, &d)?;

        let a = &n.args;
        let rule = match string(a, "optimizer").as_deref() {
            Some("adam") => Rule::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: num(a, "weight_decay"),
            },
            _ => Rule::Sgd {
                momentum: num(a, "momentum"),
                weight_decay: num(a, "weight_decay"),
                nesterov: a.get("nesterov") == Some(&Value::Bool(true)),
            },
        };
        let attack = if n.builtin == "adversarial" {
            let v = a.get("attack").cloned().unwrap_or(Value::NoAttack);
            let (base, bn_train) = attack_of(&v).map_err(|e| self.fail(i, e))?;
            Some(AttackPlan {
                base,
                alpha: alpha_rule(&n),
                bn_train,
            })
        } else {
            None
        };
        let spec = TrainSpec {
            node: n.name.clone(),
            seed: self.program.settings.seed,
            epochs: int(a, "epochs") as usize,
            batch: int(a, "batch").max(1) as usize,
            rule,
            lr: num(a, "lr"),
            milestones: a
                .get("milestones")
                .map(numbers)
                .unwrap_or_default()
                .iter()
                .map(|m| *m as usize)
                .collect(),
            lr_decay: num(a, "lr_decay"),
            schedule: match &attack {
                None => Schedule::Fixed(Attack::Fgsm(0.0)),
                Some(plan) => match n.stmts.get("attacks") {
                    Some(StmtValue::Schedule {
                        mode,
                        values,
                        every,
                    }) => {
                        let mut types = Vec::new();
                        for v in values {
                            let (a, _) = attack_of(v).map_err(|e| self.fail(i, e))?;
                            types.push(a.at(a.eps(), plan.alpha_at(a.eps())));
                        }
                        schedule_of(mode, types, *every)
                    }
                    _ => budget(&n, plan.base.eps()).map(|&eps| plan.at(eps)),
                },
            },
            attack,
        };
        let dir = self.workdir(i)?;
        self.progress.line(&format!(
            "{}: training ({} epochs, {} clips, checkpoint in {})",
            n.name,
            spec.epochs,
            d.train.len(),
            dir.display()
        ));
        match train::train(&spec, &mut net, &d, &dir, &self.progress) {
            Ok(_) => {}
            Err(TrainError::Interrupted { checkpoint, epoch }) => {
                return Err(RunError::Interrupted {
                    node: n.name.clone(),
                    message: format!(
                        "`{}` stopped in epoch {} and saved its checkpoint ({}); run the same command again to resume where it stopped",
                        n.name,
                        epoch + 1,
                        checkpoint.display()
                    ),
                })
            }
            Err(TrainError::Failed(e)) => return Err(self.fail(i, e)),
        }
        net.save(&dir.join("weights.safetensors"))
            .map_err(|e| self.fail(i, e))?;
        self.cache
            .finish(&self.keys[i])
            .map_err(|e| self.fail(i, e))?;
        Ok(())
    }

    // ------------------------------------------------------------------- eval

    fn run_eval(&mut self, i: usize) -> Result<(), RunError> {
        let n = self.program.nodes[i].clone();
        let Some(Value::Split { data: dn, split }) = n.args.get("split").cloned() else {
            return Err(self.fail(i, "an evaluation needs a split".into()));
        };
        let d = self.dataset(self.node(&dn))?;
        let attack_v = match n.stmts.get("attack") {
            Some(StmtValue::Setting { value, .. }) => value.clone(),
            _ => Value::Call {
                builtin: "pgd".into(),
                args: BTreeMap::from([
                    ("eps".into(), Value::Num(8.0)),
                    ("step".into(), Value::Num(2.0)),
                    ("steps".into(), Value::Int(10)),
                ]),
            },
        };
        let (base, bn_train) = attack_of(&attack_v).map_err(|e| self.fail(i, e))?;
        let budgets: Vec<f64> = match n.stmts.get("budget") {
            Some(StmtValue::Schedule { values, .. }) => values.iter().flat_map(numbers).collect(),
            _ => vec![base.eps()],
        };
        let plan = AttackPlan {
            base,
            alpha: alpha_rule(&n),
            bn_train,
        };
        let cells: Vec<eval::Cell> = match n.stmts.get("attacks") {
            Some(StmtValue::Schedule { values, .. }) => {
                let mut cells = Vec::new();
                for v in values {
                    cells.push(match v {
                        Value::NoAttack => eval::Cell {
                            label: Some("none".into()),
                            eps: 0.0,
                            attack: None,
                        },
                        call => {
                            let (a, _) = attack_of(call).map_err(|e| self.fail(i, e))?;
                            let eps = a.eps();
                            let alpha = plan.alpha_at(eps);
                            eval::Cell {
                                label: Some(attack_label(call)),
                                eps,
                                attack: Some(a.at(eps, alpha)),
                            }
                        }
                    });
                }
                cells
            }
            _ => budgets
                .iter()
                .map(|&eps| eval::Cell {
                    label: None,
                    eps,
                    attack: (eps > 0.0 || matches!(plan.base, Attack::Flicker(_)))
                        .then(|| plan.at(eps)),
                })
                .collect(),
        };
        // Each model: (defense nodes in order, the classifier node).
        let models: Vec<(Vec<String>, String)> = match n.args.get("models") {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Value::Node(m) => Some((Vec::new(), m.clone())),
                    Value::Compose(parts) => {
                        let names: Vec<String> = parts
                            .iter()
                            .filter_map(|p| match p {
                                Value::Node(m) => Some(m.clone()),
                                _ => None,
                            })
                            .collect();
                        let (last, defenses) = names.split_last()?;
                        Some((defenses.to_vec(), last.clone()))
                    }
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let batch = int(&n.args, "batch").max(1) as usize;
        let keep = self.keep_adversarial.contains(&i);
        let dir = self.workdir(i)?;
        let mut rows: Vec<Row> = Vec::new();
        let mut adversarial: Vec<(String, tch::Tensor)> = Vec::new();
        let mut model_keys = BTreeMap::new();
        let clips = d.split(&split);
        for (defense_names, model) in &models {
            let m = &defense_names
                .iter()
                .chain(std::iter::once(model))
                .cloned()
                .collect::<Vec<_>>()
                .join(" >> ");
            let mi = self.node(model);
            self.ensure_done(mi)?;
            model_keys.insert(m.clone(), self.keys[mi].clone());
            let net = self.net(mi, i)?;
            self.check_shapes(i, &net, &d)?;
            let defenses: Vec<Defense> = defense_names
                .iter()
                .map(|dn| self.defense(self.node(dn), i))
                .collect::<Result<_, _>>()?;
            let forward = |v: &tch::Tensor, train: bool| {
                let mut h = v.shallow_clone();
                for d in &defenses {
                    h = d.apply(&h).unwrap_or_else(|e| panic!("{e}"));
                }
                net.forward(&h, train)
            };
            let seed = mix(&[self.program.settings.seed, hash_str(&n.name), hash_str(m)]);
            let r = eval::robustness(
                m,
                &forward,
                clips,
                &cells,
                plan.bn_train,
                batch,
                seed,
                keep,
                self.opts.device,
                &self.progress,
            )
            .map_err(|e| self.fail(i, e))?;
            rows.extend(r.rows);
            for ((eps, t), cell) in r.adversarial.into_iter().zip(&cells) {
                let column = cell.label.clone().unwrap_or_else(|| format!("eps{eps}"));
                adversarial.push((format!("{m}/{column}"), t));
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
        let result = serde_json::json!({
            "node": n.name,
            "split": split,
            "seed": self.program.settings.seed,
            "key": self.keys[i],
            "model_keys": model_keys,
            "rows": rows,
        });
        cache::write_json(&dir.join("result.json"), &result).map_err(|e| self.fail(i, e))?;
        self.cache
            .finish(&self.keys[i])
            .map_err(|e| self.fail(i, e))?;
        Ok(())
    }
}
