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
use super::generative::GanLearner;
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
            | "loss_surface"
            | "step_fit"
            | "generalization_gap"
            | "ape_gan"
            | "generative"
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
    Ok(())
}

/// Whether a node's result is computed and cached: trainings, evaluations and
/// trained defenses (APE-GAN). Data, models, attacks and fixed defenses are
/// descriptions, built when a computed node needs them.
pub fn computed(n: &Node) -> bool {
    matches!(n.kind, DeclKind::Train | DeclKind::Eval | DeclKind::Analyze)
        || (n.kind == DeclKind::Defense
            && crate::language::builtins::TRAINED_DEFENSES.contains(&n.builtin.as_str()))
}

/// `d1 >> d2 >> m` as (the defense names in order, the model name); a plain
/// node as ([], its name).
fn model_parts(v: &Value) -> Option<(Vec<String>, String)> {
    match v {
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
    }
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
                let target = &self.program.nodes[t];
                // A trained defense (APE-GAN) reports its training metrics.
                let kind = if target.kind == DeclKind::Defense && computed(target) {
                    DeclKind::Train
                } else {
                    target.kind
                };
                let ok = match (r.mode.as_deref(), kind) {
                    (Some("adversarial"), _) => ext == "safetensors",
                    (Some("examples"), DeclKind::Eval) => true,
                    (None, DeclKind::Eval) => {
                        matches!(ext, "md" | "csv" | "json" | "html" | "svg" | "png")
                    }
                    (None, DeclKind::Train) => {
                        matches!(ext, "json" | "csv" | "jsonl" | "svg" | "png")
                    }
                    (None, DeclKind::Analyze) => matches!(ext, "json" | "csv" | "svg" | "png"),
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
            _ if computed(n) => {
                let dir = self.cache.done(&self.keys[i]);
                dir.exists()
                    && (!self.keep_adversarial.contains(&i)
                        || dir.join("adversarial.safetensors").exists())
            }
            _ => false,
        }
    }

    /// The nodes a run would touch (all, or `--only`'s and what it reads),
    /// after the checks that refuse unsupported nodes before any work.
    pub fn prepare(&self) -> Result<Vec<usize>, RunError> {
        let targets = self.targets()?;
        self.preflight(&targets)?;
        Ok(targets)
    }

    /// The cache key of node `i`.
    pub fn key(&self, i: usize) -> &str {
        &self.keys[i]
    }

    pub fn run(mut self) -> Result<Summary, RunError> {
        let targets = self.prepare()?;
        let forced: HashSet<usize> = match (&self.opts.only, self.opts.force) {
            (_, false) => HashSet::new(),
            (Some(name), true) => HashSet::from([self.node(name)]),
            (None, true) => targets.iter().copied().collect(),
        };
        for &i in &targets {
            let n = &self.program.nodes[i];
            if !computed(n) {
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
                DeclKind::Eval => self.run_eval(i),
                DeclKind::Analyze => self.run_analysis(i),
                _ => self.run_train(i),
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
        self.summary.reports = self.write_reports(&targets)?;
        Ok(self.summary)
    }

    /// `advp report`: the reports and the HTML page from what is cached,
    /// running nothing.
    pub fn report(self) -> Result<Vec<PathBuf>, RunError> {
        let targets = self.targets()?;
        let done: Vec<usize> = targets.into_iter().filter(|&i| self.is_cached(i)).collect();
        self.write_reports(&done)
    }

    /// Every report of the targets, then the pipeline's HTML page
    /// (`<out>/<pipeline>.html`), written atomically.
    fn write_reports(&self, targets: &[usize]) -> Result<Vec<PathBuf>, RunError> {
        let mut written = crate::reports::write_all(
            self.program,
            targets,
            &self.keys,
            &self.cache,
            &self.opts.out,
        )
        .map_err(|e| RunError::Diagnostics(vec![*e]))?;
        let html = crate::reports::html::page(
            self.program,
            &self.plan.order,
            &self.keys,
            &self.cache,
            &crate::reports::html::Machine::here(self.opts.device),
        );
        let path = self.opts.out.join(format!("{}.html", self.program.name()));
        std::fs::create_dir_all(&self.opts.out)
            .and_then(|_| crate::cli::write_atomic(&path, html.as_bytes()))
            .map_err(|e| {
                RunError::Diagnostics(vec![Diagnostic::new(
                    Code::NodeFailed,
                    self.program.main,
                    crate::language::ast::Span { start: 0, end: 0 },
                    format!("cannot write {}: {e}", path.display()),
                )
                .help("results stay in the cache; `advp report FILE` writes the page again")])
            })?;
        written.push(path);
        Ok(written)
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
                let Some((_, model)) = n.args.get("model").and_then(model_parts) else {
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

    /// The frozen defenses in front of node `i`'s classifier, in the order they
    /// run: a train node's `preprocess`, its `d >> model` defenses, then those of
    /// the model it started from (a train node's preprocessing stays with its
    /// weights when it is evaluated or trained further).
    fn front(&self, i: usize) -> Vec<String> {
        let n = &self.program.nodes[i];
        if n.kind != DeclKind::Train {
            return Vec::new();
        }
        // GAT's own generator runs first; then what its classifier saw.
        let mut names = if n.builtin == "generative" {
            vec![n.name.clone()]
        } else {
            Vec::new()
        };
        names.extend(self.input_front(i));
        names
    }

    /// The frozen defenses a train node's classifier is trained behind.
    fn input_front(&self, i: usize) -> Vec<String> {
        let n = &self.program.nodes[i];
        let mut names = Vec::new();
        if let Some(Value::Node(p)) = n.args.get("preprocess") {
            names.push(p.clone());
        }
        if let Some((defenses, model)) = n.args.get("model").and_then(model_parts) {
            names.extend(defenses);
            names.extend(self.front(self.node(&model)));
        }
        names
    }

    /// The defenses named, built (trained ones are computed first if needed).
    fn defenses(&mut self, names: &[String], for_node: usize) -> Result<Vec<Defense>, RunError> {
        names
            .iter()
            .map(|dn| {
                let d = self.node(dn);
                self.ensure_done(d)?;
                self.defense(d, for_node)
            })
            .collect()
    }

    /// A trained APE-GAN generator (of an `ape_gan` defense or a GAT node), or
    /// its discriminator for clips of T×H×W = `discriminator_for`.
    fn generator(
        &self,
        d: usize,
        for_node: usize,
        discriminator_for: Option<[i64; 3]>,
    ) -> Result<Net, RunError> {
        let n = &self.program.nodes[d];
        let ape = match n.builtin.as_str() {
            "generative" => match n.args.get("ape") {
                Some(Value::Node(a)) => self.node(a),
                _ => return Err(self.fail(for_node, format!("`{}` names no `ape`", n.name))),
            },
            _ => d,
        };
        let width = int(&self.program.nodes[ape].args, "width");
        let arch = match discriminator_for {
            Some(shape) => Arch::ApeDiscriminator { width, shape },
            None => Arch::ApeGenerator { width },
        };
        let spec = ModelSpec {
            arch,
            classes: 0,
            pretrained: None,
        };
        let mut net = Net::build(&spec, self.opts.device).map_err(|e| self.fail(for_node, e))?;
        let file = match discriminator_for {
            Some(_) => "discriminator.safetensors",
            None => "generator.safetensors",
        };
        let path = self.cache.done(&self.keys[d]).join(file);
        let named = tch::Tensor::read_safetensors(&path)
            .map_err(|e| self.fail(for_node, format!("cannot read {}: {e}", path.display())))?;
        net.copy_from(&named).map_err(|e| self.fail(for_node, e))?;
        Ok(net)
    }

    fn defense(&self, d: usize, for_node: usize) -> Result<Defense, RunError> {
        let n = &self.program.nodes[d];
        match n.builtin.as_str() {
            "ape_gan" | "generative" => {
                let mut g = self.generator(d, for_node, None)?;
                g.vs.freeze();
                Ok(Defense::Generator(Rc::new(g)))
            }
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
        let n = &self.program.nodes[i];
        if computed(n) && n.kind != DeclKind::Eval && !self.is_cached(i) {
            if n.kind == DeclKind::Analyze {
                self.run_analysis(i)?;
            } else {
                self.run_train(i)?;
            }
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

    /// Trains a `standard`/`adversarial` classifier, an `ape_gan` defense or a
    /// `generative` (GAT) node, through the one training loop of [`train`].
    fn run_train(&mut self, i: usize) -> Result<(), RunError> {
        let n = self.program.nodes[i].clone();
        let Some(Value::Node(data_name)) = n.args.get("data").cloned() else {
            return Err(self.fail(i, "this node needs data".into()));
        };
        let d = self.dataset(self.node(&data_name))?;
        let a = &n.args;
        let rule = match (n.builtin.as_str(), string(a, "optimizer").as_deref()) {
            ("ape_gan", _) => GanLearner::gan_rule(),
            (_, Some("adam")) => Rule::Adam {
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
        let attack = if n.builtin == "standard" {
            None
        } else {
            let v = a.get("attack").cloned().unwrap_or(Value::NoAttack);
            let (base, bn_train) = attack_of(&v).map_err(|e| self.fail(i, e))?;
            Some(AttackPlan {
                base,
                alpha: alpha_rule(&n),
                bn_train,
                fits: self.fits(i, &alpha_rule(&n))?,
            })
        };
        let spec = TrainSpec {
            node: n.name.clone(),
            seed: self.program.settings.seed,
            epochs: int(a, "epochs") as usize,
            batch: int(a, "batch").max(1) as usize,
            rule: rule.clone(),
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
        let shape = [d.shape[1], d.shape[2], d.shape[3]];
        let device = self.opts.device;
        // The networks: (what the learner trains, the files it leaves).
        let dir;
        let saved: Vec<(&str, Net)> = match n.builtin.as_str() {
            "ape_gan" => {
                let width = int(a, "width");
                tch::manual_seed(mix(&[self.program.settings.seed, hash_str(&n.name)]) as i64);
                let build = |arch| {
                    Net::build(
                        &ModelSpec {
                            arch,
                            classes: 0,
                            pretrained: None,
                        },
                        device,
                    )
                };
                let g = build(Arch::ApeGenerator { width }).map_err(|e| self.fail(i, e))?;
                let dis =
                    build(Arch::ApeDiscriminator { width, shape }).map_err(|e| self.fail(i, e))?;
                let f = match a.get("classifier") {
                    Some(Value::Node(c)) => {
                        let ci = self.node(c);
                        self.ensure_done(ci)?;
                        let mut f = self.net(ci, i)?;
                        self.check_shapes(i, &f, &d)?;
                        f.vs.freeze();
                        Some(f)
                    }
                    _ => None,
                };
                let gamma = a.get("gamma").map(numbers).unwrap_or_default();
                let g_steps = int(a, "g_steps") as usize;
                let mut learner = GanLearner::new(g, dis, f, spec.lr, &gamma, g_steps, None);
                dir = self.fit(i, &spec, &mut learner, &d)?;
                vec![
                    ("generator.safetensors", learner.g),
                    ("discriminator.safetensors", learner.d),
                ]
            }
            "generative" => {
                let Some((_, model)) = a.get("model").and_then(model_parts) else {
                    return Err(self.fail(i, "a train node needs a model".into()));
                };
                if !self.input_front(i).is_empty() {
                    return Err(self.fail(
                        i,
                        "GAT trains G in front of the classifier; give it a plain model, not one behind another defense".into(),
                    ));
                }
                let mi = self.node(&model);
                self.ensure_done(mi)?;
                let f = self.net(mi, i)?;
                self.check_shapes(i, &f, &d)?;
                let Some(Value::Node(ape)) = a.get("ape") else {
                    return Err(self.fail(i, "`generative` needs `ape`".into()));
                };
                let ai = self.node(ape);
                self.ensure_done(ai)?;
                let g = self.generator(ai, i, None)?;
                let dis = self.generator(ai, i, Some(shape))?;
                // G and D keep the APE-GAN's rate and γ; the schedule drives F.
                let ape_args = &self.program.nodes[ai].args;
                let gamma = ape_args.get("gamma").map(numbers).unwrap_or_default();
                let (gan_lr, g_steps) = (num(ape_args, "lr"), int(ape_args, "g_steps") as usize);
                let f_rule = Some((rule, spec.lr));
                let mut learner = GanLearner::new(g, dis, Some(f), gan_lr, &gamma, g_steps, f_rule);
                dir = self.fit(i, &spec, &mut learner, &d)?;
                let f = learner.f.take().expect("GAT trains a classifier");
                vec![
                    ("weights.safetensors", f),
                    ("generator.safetensors", learner.g),
                    ("discriminator.safetensors", learner.d),
                ]
            }
            _ => {
                let Some((_, model)) = a.get("model").and_then(model_parts) else {
                    return Err(self.fail(i, "a train node needs a model".into()));
                };
                let mi = self.node(&model);
                self.ensure_done(mi)?;
                let mut net = self.net(mi, i)?;
                self.check_shapes(i, &net, &d)?;
                let front = self.input_front(i);
                let pre = self.defenses(&front, i)?;
                let mut learner = train::Classifier::new(&mut net, pre, rule, spec.lr);
                dir = self.fit(i, &spec, &mut learner, &d)?;
                vec![("weights.safetensors", net)]
            }
        };
        for (file, net) in &saved {
            net.save(&dir.join(file)).map_err(|e| self.fail(i, e))?;
        }
        self.cache
            .finish(&self.keys[i])
            .map_err(|e| self.fail(i, e))?;
        Ok(())
    }

    /// (a, b) of every `step_fit` line a step-size rule names, computed first if needed.
    fn fits(
        &mut self,
        i: usize,
        rule: &Option<crate::language::program::RuleExpr>,
    ) -> Result<BTreeMap<String, (f64, f64)>, RunError> {
        use crate::language::program::RuleExpr as R;
        fn names(r: &R, out: &mut Vec<String>) {
            match r {
                R::Fit(n) => out.push(n.clone()),
                R::Add(a, b) | R::Sub(a, b) | R::Mul(a, b) | R::Div(a, b) => {
                    names(a, out);
                    names(b, out);
                }
                R::Neg(a) => names(a, out),
                R::Num(_) | R::Eps => {}
            }
        }
        let mut found = Vec::new();
        if let Some(r) = rule {
            names(r, &mut found);
        }
        let mut fits = BTreeMap::new();
        for name in found {
            let f = self.node(&name);
            self.ensure_done(f)?;
            let path = self.cache.done(&self.keys[f]).join("result.json");
            let v: serde_json::Value = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| self.fail(i, format!("cannot read the fit {}", path.display())))?;
            match (v["a"].as_f64(), v["b"].as_f64()) {
                (Some(a), Some(b)) => {
                    fits.insert(name, (a, b));
                }
                _ => {
                    return Err(self.fail(
                        i,
                        format!("`{name}` is not a `step_fit` result (no fitted line)"),
                    ))
                }
            }
        }
        Ok(fits)
    }

    // --------------------------------------------------------------- analyses

    /// `loss_surface`, `step_fit` and `generalization_gap`: a JSON result in
    /// the cache, drawn by the reports.
    fn run_analysis(&mut self, i: usize) -> Result<(), RunError> {
        let n = self.program.nodes[i].clone();
        let result = if n.builtin == "generalization_gap" {
            let Some(Value::Node(t)) = n.args.get("train") else {
                return Err(self.fail(i, "`generalization_gap` needs a train node".into()));
            };
            let ti = self.node(t);
            self.ensure_done(ti)?;
            let path = self.cache.done(&self.keys[ti]).join("metrics.jsonl");
            let text = std::fs::read_to_string(&path)
                .map_err(|e| self.fail(i, format!("cannot read {}: {e}", path.display())))?;
            let metrics: Vec<train::EpochMetrics> = text
                .lines()
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()
                .map_err(|e| self.fail(i, format!("{} is corrupt: {e}", path.display())))?;
            // Train accuracy is on attacked clips: compare it with validation
            // under the same attack where the run logged it, else clean.
            let attacked = metrics.iter().any(|m| m.val_adv_acc.is_some());
            let val: Vec<Option<f64>> = metrics
                .iter()
                .map(|m| if attacked { m.val_adv_acc } else { m.val_acc })
                .collect();
            let gap: Vec<Option<f64>> = metrics
                .iter()
                .zip(&val)
                .map(|(m, v)| Some(m.train_acc? - (*v)?))
                .collect();
            serde_json::json!({
                "node": n.name,
                "train": t,
                "epoch": metrics.iter().map(|m| m.epoch).collect::<Vec<_>>(),
                "eps": metrics.iter().map(|m| m.eps).collect::<Vec<_>>(),
                "train_acc": metrics.iter().map(|m| m.train_acc).collect::<Vec<_>>(),
                "val_acc": val,
                "val_clean_acc": metrics.iter().map(|m| m.val_acc).collect::<Vec<_>>(),
                "validation": if attacked { "attacked" } else { "clean" },
                "gap": gap,
            })
        } else {
            let Some((defense_names, model)) = n.args.get("model").and_then(model_parts) else {
                return Err(self.fail(i, "an analysis needs a model".into()));
            };
            let Some(Value::Split { data: dn, split }) = n.args.get("split").cloned() else {
                return Err(self.fail(i, "an analysis needs a split".into()));
            };
            let d = self.dataset(self.node(&dn))?;
            let mi = self.node(&model);
            self.ensure_done(mi)?;
            let net = self.net(mi, i)?;
            self.check_shapes(i, &net, &d)?;
            let mut names = defense_names;
            names.extend(self.front(mi));
            let defenses = self.defenses(&names, i)?;
            let f = |v: &tch::Tensor, train: bool| train::forward(&net, &defenses, v, train);
            let attack = match n.stmts.get("attack") {
                Some(StmtValue::Setting { value, .. }) => value.clone(),
                _ => Value::NoAttack,
            };
            let (a, bn_train) = attack_of(&attack).map_err(|e| self.fail(i, e))?;
            let Some(base) = a.as_pgd() else {
                return Err(self.fail(
                    i,
                    "the step-size analyses run PGD (or FGSM); give `attack pgd…`".into(),
                ));
            };
            let grid = |key: &str| match n.stmts.get(key) {
                Some(StmtValue::Setting { value, .. }) => numbers(value),
                _ => Vec::new(),
            };
            let samples = int(&n.args, "samples").max(1) as usize;
            let seed = mix(&[self.program.settings.seed, hash_str(&n.name)]);
            let clips = d.split(&split);
            let (device, batch) = (self.opts.device, 32);
            if n.builtin == "loss_surface" {
                let eps = match n.stmts.get("budget") {
                    Some(StmtValue::Schedule { values, .. }) => {
                        values.iter().flat_map(numbers).next().unwrap_or(base.eps)
                    }
                    _ => base.eps,
                };
                let steps: Vec<usize> = grid("steps").iter().map(|&m| m as usize).collect();
                let s = super::analysis::loss_surface(
                    &f,
                    clips,
                    &Pgd { eps, ..base },
                    &grid("alpha"),
                    &steps,
                    samples,
                    batch,
                    bn_train,
                    seed,
                    device,
                    &self.progress,
                )
                .map_err(|e| self.fail(i, e))?;
                serde_json::json!({ "node": n.name, "model": model, "surface": s })
            } else {
                let budgets = n.args.get("budgets").map(numbers).unwrap_or_default();
                let fit = super::analysis::step_fit(
                    &f,
                    clips,
                    &base,
                    &budgets,
                    &grid("alpha"),
                    samples,
                    batch,
                    bn_train,
                    seed,
                    device,
                    &self.progress,
                )
                .map_err(|e| self.fail(i, e))?;
                self.progress.line(&format!(
                    "{}: {}",
                    n.name,
                    super::analysis::line_text(fit.a, fit.b, fit.r2)
                ));
                serde_json::json!({
                    "node": n.name, "model": model, "a": fit.a, "b": fit.b, "r2": fit.r2, "fit": fit,
                })
            }
        };
        let dir = self.workdir(i)?;
        cache::write_json(&dir.join("result.json"), &result).map_err(|e| self.fail(i, e))?;
        self.cache
            .finish(&self.keys[i])
            .map_err(|e| self.fail(i, e))?;
        Ok(())
    }

    /// Trains node `i`'s learner in its working folder (resuming a checkpoint
    /// there); gives the folder. A failure or an interruption is the run's error.
    fn fit(
        &self,
        i: usize,
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
            Err(TrainError::Failed(e)) => Err(self.fail(i, e)),
        }?;
        Ok(dir)
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
            fits: self.fits(i, &alpha_rule(&n))?,
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
            Some(Value::List(items)) => items.iter().filter_map(model_parts).collect(),
            _ => Vec::new(),
        };
        let batch = int(&n.args, "batch").max(1) as usize;
        let keep = self.keep_adversarial.contains(&i);
        let dir = self.workdir(i)?;
        let mut rows: Vec<Row> = Vec::new();
        let mut adversarial: Vec<(String, tch::Tensor)> = Vec::new();
        let mut model_keys = BTreeMap::new();
        let mut fronts = BTreeMap::new();
        // White-box by default: the attack differentiates the whole pipeline.
        let through_classifier = string(&n.args, "through").as_deref() == Some("classifier");
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
            // The written defenses, then those the model was trained behind.
            let mut names = defense_names.clone();
            names.extend(self.front(mi));
            let defenses = self.defenses(&names, i)?;
            fronts.insert(m.clone(), names);
            let forward = |v: &tch::Tensor, train: bool| train::forward(&net, &defenses, v, train);
            let classifier_alone = |v: &tch::Tensor, train: bool| net.forward(v, train);
            let attacked: &dyn Fn(&tch::Tensor, bool) -> tch::Tensor = if through_classifier {
                &classifier_alone
            } else {
                &forward
            };
            let seed = mix(&[self.program.settings.seed, hash_str(&n.name), hash_str(m)]);
            let r = eval::robustness(
                m,
                &forward,
                attacked,
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
            // The frozen defenses each model's input went through, in order.
            "defenses": fronts,
            "through": if through_classifier { "classifier" } else { "all" },
            "rows": rows,
        });
        cache::write_json(&dir.join("result.json"), &result).map_err(|e| self.fail(i, e))?;
        self.cache
            .finish(&self.keys[i])
            .map_err(|e| self.fail(i, e))?;
        Ok(())
    }
}
