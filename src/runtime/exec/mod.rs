//! Runs a checked, planned and lowered program: nodes in dependency order,
//! every finished `train`, `eval` and analysis node (and trained defense)
//! stored in the content-addressed cache.
//!
//! Data, model and attack nodes are cheap descriptions, built only when a node
//! that needs them actually runs, so a second run of a finished pipeline does
//! no tensor work at all. Writing reports is the job of `src/pipeline.rs`,
//! a stage above this one, not the runtime's.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the [`Runner`]: targets, preflight, the cache, the node loop |
//! | `build.rs` | data, networks and defenses from their specs |
//! | `training.rs` | train nodes and trained defenses |
//! | `evaluate.rs` | robustness evaluations |
//! | `analyze.rs` | loss surface, step fit, generalization gap |

mod analyze;
mod build;
mod evaluate;
mod inputs;
mod keys;
mod probe;
mod ranks;
mod tools;
mod training;
mod why;

pub use why::Reason;

use super::cache::{self, Cache};
use super::data::Dataset;
use super::error::NodeError;
use super::lower;
use super::progress::Progress;
use super::spec::{AnalysisSpec, DataId, Lowered, NodeId, NodeSpec, SplitName};
use crate::graph::Plan;
use crate::language::builtins::{self, ReportMode};
use crate::language::diagnostic::{Code, Diagnostic};
use crate::language::program::{Node, Program};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
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
    /// A file or folder the run needs is not there (exit status 2).
    Missing(Vec<Diagnostic>),
    /// An input the run needs cannot serve it (a user's model that gives no
    /// gradient, the wrong shape, NaN): refused before any work (exit status 2).
    Refused(Vec<Diagnostic>),
}

/// What the run did, node by node.
#[derive(Debug, Default)]
pub struct Summary {
    pub ran: Vec<String>,
    pub cached: Vec<String>,
}

/// Whether a node's result is computed and cached (the built-in table's rule).
pub fn computed(n: &Node) -> bool {
    builtins::computed(n.kind, &n.builtin)
}

pub struct Runner<'a> {
    program: &'a Program,
    plan: &'a Plan,
    opts: &'a Options,
    /// The typed plan.
    lowered: Lowered,
    index: HashMap<&'a str, usize>,
    keys: Vec<String>,
    /// What each key hashes.
    ingredients: Vec<cache::key::Ingredients>,
    /// The cache's key records, read on the first `why`.
    records: std::cell::OnceCell<cache::why::Records>,
    cache: Cache,
    data: HashMap<DataId, Rc<Dataset>>,
    progress: Progress,
    /// Eval nodes whose adversarial clips a report asks for.
    keep_adversarial: HashSet<usize>,
    /// Finished entries checked against their manifests, once a run.
    verdicts: std::cell::RefCell<HashMap<usize, cache::Verdict>>,
    summary: Summary,
    /// The nodes being computed, innermost last: when each started and the
    /// seconds its inputs took, so a node's `timing.json` has its own time.
    clock: std::cell::RefCell<Vec<(usize, std::time::Instant, f64)>>,
}

impl<'a> Runner<'a> {
    pub fn new(program: &'a Program, plan: &'a Plan, opts: &'a Options) -> Self {
        let index = program.index();
        let keep_adversarial = program
            .reports
            .iter()
            .filter(|r| {
                matches!(
                    ReportMode::parse(r.mode.as_deref()),
                    Some(ReportMode::Adversarial | ReportMode::Examples)
                )
            })
            .filter_map(|r| index.get(r.target.as_str()).copied())
            .collect();
        let ingredients = cache::key::ingredients(program, plan, &opts.base);
        Runner {
            program,
            plan,
            opts,
            lowered: lower::lower(program, &opts.base),
            index,
            keys: ingredients.iter().map(|k| k.key()).collect(),
            ingredients,
            records: Default::default(),
            cache: Cache::new(opts.cache.clone()),
            data: HashMap::new(),
            progress: Progress::new(opts.quiet),
            keep_adversarial,
            verdicts: Default::default(),
            summary: Summary::default(),
            clock: Default::default(),
        }
    }

    pub fn program(&self) -> &'a Program {
        self.program
    }

    pub fn plan(&self) -> &'a Plan {
        self.plan
    }

    pub fn options(&self) -> &'a Options {
        self.opts
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The cache key of node `i`.
    pub fn key(&self, i: usize) -> &str {
        &self.keys[i]
    }

    /// What node `i`'s key hashes.
    pub fn ingredients(&self, i: usize) -> &cache::key::Ingredients {
        &self.ingredients[i]
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The typed plan.
    pub fn lowered(&self) -> &Lowered {
        &self.lowered
    }

    fn spec(&self, i: usize) -> &NodeSpec {
        &self.lowered.nodes[i]
    }

    fn diag(&self, i: usize, code: Code, message: String, help: &str) -> Diagnostic {
        let n = &self.program.nodes[i];
        Diagnostic::new(code, n.file, n.name_span, message)
            .label(format!("while running `{}`", n.name))
            .help(help.to_string())
    }

    fn fail(&self, i: usize, error: impl Into<NodeError>) -> RunError {
        let error = error.into();
        // Every stop for Ctrl-C is typed where it happens (attacks, cache
        // waits, hashing, training): no flag is read again here.
        if matches!(error, NodeError::Interrupted) {
            let name = &self.program.nodes[i].name;
            return RunError::Interrupted {
                node: name.clone(),
                message: format!(
                    "interrupted while running `{name}`; run the same command again to resume: finished nodes stay cached, training resumes from its last checkpoint, and `{name}` starts again"
                ),
            };
        }
        if let NodeError::NoGradient(e) = &error {
            return self.no_gradient(i, e);
        }
        // Another rank stopped: this one's failure is not the cause (its
        // launcher names the rank that failed first).
        if matches!(
            &error,
            NodeError::Dist(crate::runtime::dist::DistError::Collective { .. })
        ) || crate::runtime::dist::lost()
        {
            return RunError::Diagnostics(vec![self.diag(
                i,
                Code::RankLost,
                error.to_string(),
                "the cause is in the log of the rank that stopped first; fix it and run again: training resumes from rank 0's last checkpoint",
            )]);
        }
        RunError::Diagnostics(vec![self.diag(
            i,
            Code::NodeFailed,
            error.to_string(),
            "fix the cause and run again: finished nodes stay cached, and training resumes from its last checkpoint",
        )])
    }

    /// Nodes this run must finish: `--only` and what it reads, or every node.
    pub fn targets(&self) -> Result<Vec<usize>, RunError> {
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

    /// Refuses, before any work, what this runtime cannot execute: the
    /// lowering's problems of the targets (and of their reports).
    fn preflight(&self, targets: &[usize]) -> Result<(), RunError> {
        let diags: Vec<Diagnostic> = self
            .lowered
            .problems
            .iter()
            .filter(|(node, _)| targets.contains(node))
            .map(|(_, d)| d.clone())
            .collect();
        if diags.is_empty() {
            Ok(())
        } else {
            Err(RunError::Diagnostics(diags))
        }
    }

    /// Whether node `i` is finished in the cache (and has what its reports
    /// need): its entry exists and matches its manifest.
    pub fn is_cached(&self, i: usize) -> bool {
        let n = &self.program.nodes[i];
        if !computed(n) {
            return false;
        }
        let dir = self.cache.done(&self.keys[i]);
        dir.exists()
            && !matches!(self.verdict(i), cache::Verdict::Corrupt(_))
            && (!self.keep_adversarial.contains(&i) || dir.join("adversarial.safetensors").exists())
    }

    /// Node `i`'s finished entry checked against its manifest (once a run).
    fn verdict(&self, i: usize) -> cache::Verdict {
        self.verdicts
            .borrow_mut()
            .entry(i)
            .or_insert_with(|| self.cache.verify(&self.keys[i]))
            .clone()
    }

    /// A damaged entry of node `i` is moved aside, with a warning naming it
    /// and its files, so the node is computed again.
    fn set_aside_if_corrupt(&mut self, i: usize) -> Result<(), RunError> {
        if !self.cache.done(&self.keys[i]).exists() {
            return Ok(());
        }
        let verdict = self.verdict(i);
        // A check cut short by a stop says nothing about the entry.
        super::error::stop_requested().map_err(|e| self.fail(i, e))?;
        if let cache::Verdict::Corrupt(problems) = verdict {
            let to = self
                .cache
                .quarantine(&self.keys[i])
                .map_err(|e| self.fail(i, e))?;
            eprintln!(
                "advp: warning: the cached result of `{}` is damaged ({}); it was moved to {} and `{}` runs again",
                self.program.nodes[i].name,
                problems.join("; "),
                to.display(),
                self.program.nodes[i].name
            );
            self.verdicts.borrow_mut().remove(&i);
        }
        Ok(())
    }

    /// Commits node `i`'s working folder to the cache, with the record of
    /// the machine that computed it (`machine.json`).
    pub(super) fn finish(&self, i: usize) -> Result<(), RunError> {
        if !crate::runtime::dist::writes() {
            return Ok(());
        }
        let dir = self
            .cache
            .partial(&self.keys[i])
            .map_err(|e| self.fail(i, e))?;
        let machine = crate::runtime::device::machine(self.opts.device);
        crate::results::write_json(&dir.join("machine.json"), &machine)
            .map_err(|e| self.fail(i, NodeError::Failed(e)))?;
        let seconds = self
            .clock
            .borrow()
            .iter()
            .rev()
            .find(|(n, _, _)| *n == i)
            .map_or(0.0, |(_, t0, inputs)| {
                (t0.elapsed().as_secs_f64() - inputs).max(0.0)
            });
        let timing = crate::results::Timing {
            seconds,
            finished: crate::util::unix_now(),
            host: crate::util::hostname(),
        };
        crate::results::write_json(&dir.join("timing.json"), &timing)
            .map_err(|e| self.fail(i, NodeError::Failed(e)))?;
        self.cache
            .finish(&self.keys[i])
            .map_err(|e| self.fail(i, e))
    }

    /// The machine that computed node `i`'s cached result, if recorded.
    pub(super) fn machine_of(&self, i: impl Into<NodeId>) -> Option<crate::results::Machine> {
        let dir = self.cache.done(&self.keys[i.into()]);
        let text = std::fs::read_to_string(dir.join("machine.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The nodes a run would touch (all, or `--only`'s and what it reads),
    /// after the checks that refuse unsupported nodes before any work.
    pub fn prepare(&self) -> Result<Vec<usize>, RunError> {
        let targets = self.targets()?;
        self.preflight(&targets)?;
        self.needed_files(&targets)?;
        Ok(targets)
    }

    /// Refuses, before any work, a run that needs a file or folder that is
    /// not there: one read by a node that must run or by one of its inputs.
    /// (A cached result does not need its inputs' files again.)
    fn needed_files(&self, targets: &[usize]) -> Result<(), RunError> {
        if self.lowered.missing.is_empty() {
            return Ok(());
        }
        let mut needed = HashSet::new();
        let mut stack: Vec<usize> = targets
            .iter()
            .copied()
            .filter(|&i| computed(&self.program.nodes[i]) && !self.is_cached(i))
            .collect();
        while let Some(i) = stack.pop() {
            if needed.insert(i) {
                stack.extend(self.plan.inputs(i));
            }
        }
        let diags: Vec<Diagnostic> = self
            .lowered
            .missing
            .iter()
            .filter(|(n, _)| needed.contains(n))
            .map(|(_, d)| Diagnostic {
                warning: false,
                help: Some(match (d.code, &d.help) {
                    (Code::MissingFile, _) | (_, None) => {
                        "nothing was run; put the file there or change the path, and run again"
                            .into()
                    }
                    (_, Some(h)) => format!("nothing was run; {h}"),
                }),
                ..d.clone()
            })
            .collect();
        if diags.is_empty() {
            Ok(())
        } else {
            Err(RunError::Missing(diags))
        }
    }

    /// Runs every target that is not cached; gives what ran and what was cached.
    pub fn run(&mut self) -> Result<(Summary, Vec<usize>), RunError> {
        let targets = self.prepare()?;
        self.needed_tools(&targets)?;
        let forced: HashSet<usize> = match (&self.opts.only, self.opts.force) {
            (_, false) => HashSet::new(),
            (Some(name), true) => HashSet::from([self.index[name.as_str()]]),
            (None, true) => targets.iter().copied().collect(),
        };
        self.join_world(&targets, &forced)?;
        // Of several ranks, rank 0 alone writes to the cache: the others
        // take no lock, set nothing aside and commit nothing, and take rank
        // 0's word for what is cached.
        let writes = crate::runtime::dist::writes();
        for &i in &targets {
            if computed(&self.program.nodes[i]) && writes {
                self.set_aside_if_corrupt(i)?;
            }
        }
        self.open_data(&targets)?;
        self.probe_models(&targets)?;
        for &i in &targets {
            let n = &self.program.nodes[i];
            if !computed(n) {
                continue;
            }
            let cached = self.is_cached(i) && !forced.contains(&i);
            if self.agree(i, cached)? {
                self.progress
                    .line(&format!("{}: cached ({})", n.name, &self.keys[i][..12]));
                self.summary.cached.push(n.name.clone());
                continue;
            }
            if forced.contains(&i) && writes {
                self.cache
                    .clear(&self.keys[i])
                    .map_err(|e| self.fail(i, e))?;
            }
            // Another advp on the same cache may be computing it: wait for its
            // lock, then read its result rather than computing it twice.
            let _lock = if writes { Some(self.lock(i)?) } else { None };
            let cached = self.is_cached(i) && !forced.contains(&i);
            if self.agree(i, cached)? {
                self.progress.line(&format!(
                    "{}: computed by another advp, cached ({})",
                    n.name,
                    &self.keys[i][..12]
                ));
                self.summary.cached.push(n.name.clone());
                continue;
            }
            let outcome = super::models::catch_libtorch(|| self.compute(i));
            match outcome {
                Ok(r) => r?,
                Err(panic) => return Err(self.caught(i, panic)),
            }
            self.summary.ran.push(n.name.clone());
        }
        Ok((std::mem::take(&mut self.summary), targets))
    }

    /// Opens every dataset the nodes to run read, before any node runs: a bad
    /// file, bad labels or a split the data lacks stop the run before any
    /// training, not after it.
    fn open_data(&mut self, targets: &[usize]) -> Result<(), RunError> {
        let mut reads = Vec::new();
        for &i in targets {
            if !computed(&self.program.nodes[i]) || self.is_cached(i) {
                continue;
            }
            match self.spec(i) {
                NodeSpec::Train(t) => reads.push((t.data, None)),
                NodeSpec::Defense(super::spec::DefenseSpec::ApeGan(g)) => {
                    reads.push((g.data, None))
                }
                NodeSpec::Eval(e) => reads.push((e.split.data, Some((i, e.split.split)))),
                NodeSpec::Analysis(a) => match a.as_ref() {
                    AnalysisSpec::Surface { split, .. }
                    | AnalysisSpec::Fit { split, .. }
                    | AnalysisSpec::Certify { split, .. } => {
                        reads.push((split.data, Some((i, split.split))))
                    }
                    AnalysisSpec::Gap { .. } => {}
                },
                _ => {}
            }
        }
        for (d, user) in reads {
            let data = super::models::catch_libtorch(|| self.dataset(d)).map_err(|panic| {
                self.fail(
                    d.node(),
                    NodeError::Data(format!("libtorch failed while opening the data: {panic}")),
                )
            })??;
            if user.is_none() && data.train.is_empty() {
                return Err(RunError::Diagnostics(vec![self.diag(
                    d.node(),
                    Code::NodeFailed,
                    format!(
                        "`{}` has no training clips (a file with only `x_test` and `y_test` is for evaluation)",
                        self.program.nodes[d.node()].name
                    ),
                    "nothing was run; add `x` and `y` to the file to train on it",
                )]));
            }
            if let (Some((i, SplitName::Test)), Some(why)) = (user, &data.no_test) {
                return Err(RunError::Diagnostics(vec![self.diag(
                    i,
                    Code::NodeFailed,
                    format!(
                        "`{}.test` has no clips: {why}",
                        self.program.nodes[d.node()].name
                    ),
                    "nothing was run; fix the data or the split and run again",
                )]));
            }
            let (node, split) = user.unwrap_or((d.node(), SplitName::Train));
            self.refuse_empty_split(node, d, split, &data)?;
        }
        Ok(())
    }

    /// The targets whose results are in the cache (for `advp report`).
    pub fn finished(&self) -> Result<Vec<usize>, RunError> {
        let targets = self.targets()?;
        Ok(targets.into_iter().filter(|&i| self.is_cached(i)).collect())
    }

    /// Computes node `i` (its inputs first, as they are needed).
    fn compute(&mut self, i: usize) -> Result<(), RunError> {
        let precision = match self.spec(i) {
            NodeSpec::Train(t) => t.training.precision,
            NodeSpec::Defense(super::spec::DefenseSpec::ApeGan(g)) => g.training.precision,
            _ => self.program.settings.precision,
        };
        let _kernels = super::precision::NativeCpuKernels::enter(precision, self.opts.device);
        if crate::util::verbose() {
            self.progress.line(&format!(
                "{}: computing, key {} (entry {})",
                self.program.nodes[i].name,
                self.keys[i],
                self.cache.done(&self.keys[i]).display()
            ));
        }
        self.clock
            .borrow_mut()
            .push((i, std::time::Instant::now(), 0.0));
        let recorded = if crate::runtime::dist::writes() {
            self.record_inputs(i)
        } else {
            Ok(())
        };
        let outcome = recorded.and_then(|()| self.compute_spec(i));
        if outcome.is_err() && crate::util::interrupted() && crate::runtime::dist::writes() {
            self.cache.abandon(&self.keys[i]);
        }
        let mut clock = self.clock.borrow_mut();
        if let Some((_, t0, _)) = clock.pop() {
            if let Some(parent) = clock.last_mut() {
                parent.2 += t0.elapsed().as_secs_f64();
            }
        }
        outcome
    }

    fn compute_spec(&mut self, i: usize) -> Result<(), RunError> {
        match self.spec(i).clone() {
            NodeSpec::Eval(e) => self.run_eval(i, &e),
            NodeSpec::Analysis(a) => self.run_analysis(i, &a),
            NodeSpec::Train(t) => self.run_train(i, &t),
            NodeSpec::Defense(super::spec::DefenseSpec::ApeGan(g)) => self.run_ape_gan(i, &g),
            _ => Ok(()),
        }
    }

    /// Computes node `i` if it is a computed node not yet in the cache (an
    /// input of the node running now).
    fn ensure_done(&mut self, i: impl Into<NodeId>) -> Result<(), RunError> {
        let i = i.into();
        let n = &self.program.nodes[i];
        if computed(n) && !matches!(self.spec(i), NodeSpec::Eval(_)) && !self.is_cached(i) {
            let _lock = self.lock(i)?;
            if !self.is_cached(i) {
                self.compute(i)?;
                self.summary.ran.push(self.program.nodes[i].name.clone());
            }
        }
        Ok(())
    }

    /// Node `i`'s cache lock; what it finds afterwards is checked afresh.
    fn lock(&self, i: usize) -> Result<cache::Lock, RunError> {
        let name = &self.program.nodes[i].name;
        let lock = self
            .cache
            .lock(&self.keys[i], &|m| {
                self.progress.line(&format!("{name}: {m}"))
            })
            .map_err(|e| self.fail(i, e))?;
        self.verdicts.borrow_mut().remove(&i);
        Ok(lock)
    }
}
