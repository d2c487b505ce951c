//! Lowering: the checked [`Program`] → the typed plan of [`super::spec`].
//!
//! The one place that reads built-in names, argument keys and choice words.
//! Whatever cannot run fails here, before any work (and in `advp check`),
//! with a diagnostic naming the node and what to write (see [`LowerError`]);
//! nothing falls back to a value of its own. Defaults come from the built-in
//! table: the checker fills arguments and the statements a block leaves out
//! ([`Node::defaults`]), such as an evaluation's attack.

use super::attacks::{flicker::Flicker, masks::Position, saliency::SaliencyMode};
use super::attacks::{Attack, Norm, Pgd};
use super::data::frames::Kind as FrameKind;
use super::data::synthetic;
use super::data::{FrameArgs, SyntheticArgs};
use super::models::Arch;
use super::spec::*;
use super::train::optim::Rule;
use crate::language::ast::DeclKind;
use crate::language::builtins::{self, Builtin, ReportMode, ScheduleMode};
use crate::language::diagnostic::{Code, Diagnostic};
use crate::language::program::{Node, Program, StmtValue, Value};
use crate::language::schedule::Schedule;
use crate::results::Through;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
/// Lowers every node and report; what cannot run is listed in
/// [`Lowered::problems`], all at once.
pub fn lower(program: &Program, base: &Path) -> Lowered {
    let index = program.index();
    let cx = Cx {
        program,
        index: &index,
        base,
    };
    let mut problems = Vec::new();
    let mut nodes = Vec::new();
    let mut resources = Vec::new();
    for (i, n) in program.nodes.iter().enumerate() {
        match cx.node(n).and_then(|spec| Ok((spec, resources_of(n)?))) {
            Ok((spec, r)) => {
                nodes.push(spec);
                resources.push(r);
            }
            Err(e) => {
                problems.push((i, unsupported(n, e)));
                nodes.push(NodeSpec::Invalid);
                resources.push(Resources::default());
            }
        }
    }
    if let Some(limit) = bounds::memory_limit() {
        problems.extend(bounds::check(program, &nodes, limit));
    }
    let reports = cx.reports(&mut problems);
    let claims = claims(program, &nodes, &mut problems);
    let warnings = tiny_budgets(program, &nodes);
    Lowered {
        nodes,
        resources,
        reports,
        claims,
        warnings,
        problems,
        missing: missing_files(program, &cx),
    }
}

/// Budgets of 0..1 in a language of 0..255 units: a node whose every
/// nonzero budget ε is below 1 was most likely written in [0, 1] units
/// (`0.03` for 8/255). A warning, since it may be meant. The budgets are
/// those the node runs: a sweep's or a schedule's, else its attacks' ε.
fn tiny_budgets(program: &Program, nodes: &[NodeSpec]) -> Vec<(NodeId, Diagnostic)> {
    let mut out = Vec::new();
    for (i, spec) in nodes.iter().enumerate() {
        let values: Vec<f64> = match spec {
            NodeSpec::Eval(e) => match &e.columns {
                Columns::Budgets(b) => b.clone(),
                Columns::Attacks(list) => list.iter().flatten().map(|a| a.attack.eps()).collect(),
            },
            NodeSpec::Train(t) => match &t.training.schedule {
                ScheduleSpec::Budgets(s) => s.values().into_iter().copied().collect(),
                ScheduleSpec::Types(s) => s.values().iter().map(|a| a.attack.eps()).collect(),
                ScheduleSpec::Clean => Vec::new(),
            },
            _ => Vec::new(),
        };
        let positive: Vec<f64> = values.into_iter().filter(|v| *v > 0.0).collect();
        if positive.is_empty() || positive.iter().any(|v| *v >= 1.0) {
            continue;
        }
        let n = &program.nodes[i];
        let biggest = positive.iter().copied().fold(0.0, f64::max);
        let meant = (biggest * 255.0).round().max(1.0);
        out.push((
            i,
            Diagnostic::new(
                Code::TinyBudget,
                n.file,
                n.name_span,
                format!(
                    "every budget of `{}` is below 1: ε is in 0..255 units, so {biggest} means {biggest}/255 of the pixel range",
                    n.name
                ),
            )
            .label("budgets all below 1")
            .help(format!(
                "did you mean {meant}? Write budgets as the paper does, 8 for 8/255 (0..255 units); leave it if {biggest}/255 is meant"
            ))
            .warning(),
        ));
    }
    out
}

/// A warning for every file or folder a node reads ([`builtins::READ_PATHS`])
/// that does not exist now, relative to the pipeline's folder.
fn missing_files(program: &Program, cx: &Cx) -> Vec<(NodeId, Diagnostic)> {
    let mut out = Vec::new();
    for (i, n) in program.nodes.iter().enumerate() {
        for key in builtins::READ_PATHS {
            let Some(Value::Str(p)) = n.args.get(*key) else {
                continue;
            };
            let path = cx.path(p);
            if p.is_empty() {
                continue;
            }
            if path.exists() {
                // A data file, weights or a module must be a regular file: a
                // FIFO or a device would block the run or never end.
                if *key != "root" {
                    if let Some(d) = not_a_file(n, key, p, &path) {
                        out.push((i, d));
                    }
                }
                continue;
            }
            out.push((
                i,
                Diagnostic::new(
                    Code::MissingFile,
                    n.file,
                    n.name_span,
                    format!("`{}` reads `{key}: \"{p}\"`, and {} does not exist", n.name, path.display()),
                )
                .label(format!("`{}` needs it", n.name))
                .help("put the file there, or change the path (relative paths start at the pipeline's folder); a profile that does not use this node runs without it")
                .warning(),
            ));
        }
    }
    out
}

/// A warning (an error where the node must run) for a file argument that
/// names a folder, a FIFO, a device or a socket.
fn not_a_file(
    n: &crate::language::program::Node,
    key: &str,
    p: &str,
    path: &Path,
) -> Option<Diagnostic> {
    let why = crate::util::not_regular(path)?;
    Some(
        Diagnostic::new(
            Code::NotAFile,
            n.file,
            n.name_span,
            format!("`{}` reads `{key}: \"{p}\"`, and {why}", n.name),
        )
        .label(format!("`{}` reads it", n.name))
        .help("name the file itself (a FIFO, a device or a folder is never read); relative paths start at the pipeline's folder")
        .warning(),
    )
}

/// Every claim's column: a budget of the sweep (`at eps`), or an attack of
/// `attacks each` (`at attack`); either may be left out where the
/// evaluation has one column. A claim naming no column is a problem.
fn claims(
    program: &Program,
    nodes: &[NodeSpec],
    problems: &mut Vec<(NodeId, Diagnostic)>,
) -> Vec<ClaimSpec> {
    let mut out = Vec::new();
    for (i, n) in program.nodes.iter().enumerate() {
        let NodeSpec::Eval(e) = &nodes[i] else {
            continue;
        };
        for c in &n.claims {
            let bad = |message: String, help: &str| {
                Diagnostic::new(Code::InvalidClaim, c.file, c.span, message)
                    .label("this claim")
                    .help(help.to_string())
            };
            let column = match &e.columns {
                Columns::Budgets(budgets) => {
                    let shown: Vec<String> = budgets.iter().map(|b| b.to_string()).collect();
                    match (c.eps, &c.attack) {
                        (_, Some(a)) if *a != e.attack.label => Err(bad(
                            format!("`{}` has one attack, `{}`, in every column; `at attack {a}` names none", n.name, e.attack.label),
                            "name a budget instead: `at eps N`",
                        )),
                        (Some(eps), _) if !budgets.contains(&eps) => Err(bad(
                            format!("`{}` has no column at ε {}: its budgets are {}", n.name, eps, shown.join(", ")),
                            "compare at one of the budgets of the sweep",
                        )),
                        (Some(eps), _) => Ok((e.attack.label.clone(), eps)),
                        (None, _) if budgets.len() == 1 => Ok((e.attack.label.clone(), budgets[0])),
                        (None, _) => Err(bad(
                            format!("`{}` has {} columns ({}); the claim names none", n.name, budgets.len(), shown.join(", ")),
                            "add the budget: `at eps 8`",
                        )),
                    }
                }
                Columns::Attacks(columns) => {
                    let named: Vec<(String, f64)> = columns
                        .iter()
                        .map(|a| match a {
                            None => ("none".to_string(), 0.0),
                            Some(a) => (a.label.clone(), a.attack.eps()),
                        })
                        .collect();
                    let names: Vec<String> = named.iter().map(|(l, _)| format!("`{l}`")).collect();
                    match (&c.attack, c.eps) {
                        (_, Some(_)) => Err(bad(
                            format!(
                                "the columns of `{}` are attacks, each at its own budget",
                                n.name
                            ),
                            "name the column instead: `at attack NAME`",
                        )),
                        (Some(a), None) => {
                            named.iter().find(|(l, _)| l == a).cloned().ok_or_else(|| {
                                bad(
                                    format!(
                                        "`{}` has no column `{a}`: its columns are {}",
                                        n.name,
                                        names.join(", ")
                                    ),
                                    "compare under one of the attacks of `attacks each`",
                                )
                            })
                        }
                        (None, None) if named.len() == 1 => Ok(named[0].clone()),
                        (None, None) => Err(bad(
                            format!(
                                "`{}` has {} columns ({}); the claim names none",
                                n.name,
                                named.len(),
                                names.join(", ")
                            ),
                            "add the column: `at attack NAME`",
                        )),
                    }
                }
            };
            match column {
                Ok((attack, eps)) => out.push(ClaimSpec {
                    eval: EvalId::new(i),
                    claim: c.clone(),
                    attack,
                    eps,
                }),
                Err(d) => problems.push((i, d)),
            }
        }
    }
    out
}

fn unsupported(n: &Node, e: Refusal) -> Diagnostic {
    Diagnostic::new(e.code(), n.file, n.name_span, e.to_string())
        .label(e.label(&n.name))
        .help(e.help().to_string())
}

struct Cx<'a> {
    program: &'a Program,
    index: &'a HashMap<&'a str, usize>,
    base: &'a Path,
}

type R<T> = Result<T, Refusal>;

/// A built-in call's arguments, read by the table's names.
struct Args<'a> {
    builtin: &'static Builtin,
    args: &'a BTreeMap<String, Value>,
    cx: &'a Cx<'a>,
}

impl<'a> Args<'a> {
    fn get(&self, k: &str) -> R<&'a Value> {
        debug_assert!(
            self.builtin.param(k).is_some(),
            "`{}` has no parameter `{k}` in the table",
            self.builtin.name
        );
        self.args.get(k).ok_or_else(|| {
            Bug::MissingArgument {
                builtin: self.builtin.name,
                key: k.to_string(),
            }
            .into()
        })
    }
    fn opt(&self, k: &str) -> Option<&'a Value> {
        self.args.get(k)
    }
    fn bad(&self, k: &str, v: &Value, want: &str) -> Refusal {
        Bug::BadArgument {
            builtin: self.builtin.name,
            key: k.to_string(),
            value: serde_json::to_string(v).unwrap_or_default(),
            want: want.to_string(),
        }
        .into()
    }
    fn num(&self, k: &str) -> R<f64> {
        let v = self.get(k)?;
        v.as_f64().ok_or_else(|| self.bad(k, v, "a number"))
    }
    fn int(&self, k: &str) -> R<i64> {
        let v = self.get(k)?;
        match v {
            Value::Int(i) => Ok(*i),
            Value::Num(f) if f.fract() == 0.0 => Ok(*f as i64),
            _ => Err(self.bad(k, v, "a whole number")),
        }
    }
    fn count(&self, k: &str) -> R<usize> {
        let i = self.int(k)?;
        usize::try_from(i)
            .map_err(|_| Refusal::bug(format!("`{}`'s `{k}` is negative", self.builtin.name)))
    }
    fn boolean(&self, k: &str) -> R<bool> {
        match self.get(k)? {
            Value::Bool(b) => Ok(*b),
            v => Err(self.bad(k, v, "`true` or `false`")),
        }
    }
    /// A choice word, checked against the table's words for the parameter.
    fn word(&self, k: &str) -> R<&'a str> {
        let v = self.get(k)?;
        match (v, self.builtin.param(k).map(|p| p.ty)) {
            (Value::Choice(w), Some(builtins::Ty::Choice(words)))
                if words.contains(&w.as_str()) =>
            {
                Ok(w)
            }
            (Value::Choice(w), Some(builtins::Ty::Position)) => Ok(w),
            _ => Err(self.bad(k, v, "one of the listed words")),
        }
    }
    fn string(&self, k: &str) -> R<&'a str> {
        match self.get(k)? {
            Value::Str(s) => Ok(s),
            v => Err(self.bad(k, v, "a string")),
        }
    }
    fn path(&self, k: &str) -> R<PathBuf> {
        Ok(self.cx.path(self.string(k)?))
    }
    fn opt_path(&self, k: &str) -> R<Option<PathBuf>> {
        match self.opt(k) {
            None => Ok(None),
            Some(_) => self.path(k).map(Some),
        }
    }
    fn numbers(&self, k: &str) -> R<Vec<f64>> {
        let v = self.get(k)?;
        numbers(v).ok_or_else(|| self.bad(k, v, "numbers"))
    }
    /// The name of the node argument `k` names.
    fn node_name(&self, k: &str) -> R<&'a str> {
        match self.get(k)? {
            Value::Node(n) => Ok(n),
            v => Err(self.bad(k, v, "a node")),
        }
    }
    fn data(&self, k: &str) -> R<DataId> {
        self.cx.data_id(self.node_name(k)?)
    }
    fn train_node(&self, k: &str) -> R<TrainId> {
        let i = self
            .cx
            .id_of(self.node_name(k)?, DeclKind::Train, "a train node")?;
        Ok(TrainId::new(i))
    }
    fn ape(&self, k: &str) -> R<ApeId> {
        self.cx.ape_id(self.node_name(k)?)
    }
    fn opt_defense(&self, k: &str) -> R<Option<DefenseId>> {
        match self.opt(k) {
            None => Ok(None),
            Some(_) => self.cx.defense_id(self.node_name(k)?).map(Some),
        }
    }
    fn model(&self, k: &str) -> R<ModelRef> {
        self.cx.model_ref(self.get(k)?)
    }
    fn split(&self, k: &str) -> R<SplitRef> {
        self.cx.split(self.get(k)?)
    }
    fn attack(&self, k: &str) -> R<AttackSpec> {
        self.cx.attack(self.get(k)?)
    }
}

/// Numbers of a list, set or range (flattened), or one number.
fn numbers(v: &Value) -> Option<Vec<f64>> {
    match v {
        Value::List(items) => {
            let mut out = Vec::new();
            for i in items {
                out.extend(numbers(i)?);
            }
            Some(out)
        }
        other => other.as_f64().map(|x| vec![x]),
    }
}

impl<'a> Cx<'a> {
    fn id(&self, name: &str) -> R<NodeId> {
        self.index.get(name).copied().ok_or_else(|| {
            Bug::NoSuchNode {
                name: name.to_string(),
            }
            .into()
        })
    }

    /// Node `name`, which the argument takes to be of `kind` (`what`, in words).
    fn id_of(&self, name: &str, kind: DeclKind, what: &'static str) -> R<NodeId> {
        let i = self.id(name)?;
        if self.program.nodes[i].kind != kind {
            return Err(Bug::WrongKind {
                name: name.to_string(),
                kind: what,
            }
            .into());
        }
        Ok(i)
    }

    fn data_id(&self, name: &str) -> R<DataId> {
        Ok(DataId::new(self.id_of(name, DeclKind::Data, "data")?))
    }

    fn defense_id(&self, name: &str) -> R<DefenseId> {
        Ok(DefenseId::new(self.id_of(
            name,
            DeclKind::Defense,
            "a defense",
        )?))
    }

    /// A model node (fresh weights) or a train node (trained ones).
    fn classifier(&self, name: &str) -> R<ClassifierId> {
        let i = self.id(name)?;
        match self.program.nodes[i].kind {
            DeclKind::Model => Ok(ClassifierId::Model(ModelId::new(i))),
            DeclKind::Train => Ok(ClassifierId::Train(TrainId::new(i))),
            _ => Err(Bug::WrongKind {
                name: name.to_string(),
                kind: "a model",
            }
            .into()),
        }
    }

    /// An `ape_gan` defense, whose G and D a GAT node trains on.
    fn ape_id(&self, name: &str) -> R<ApeId> {
        let i = self.id_of(name, DeclKind::Defense, "a defense")?;
        let builtin = &self.program.nodes[i].builtin;
        if builtin != "ape_gan" {
            return Err(Refusal::cannot(
                format!("`ape: {name}` is a `{builtin}` defense, and GAT trains the G and D of an `ape_gan` one"),
                "name an `ape_gan` defense: `ape: my_ape`, with `defense my_ape = ape_gan(data: …)`",
            ));
        }
        Ok(ApeId::new(i))
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn args<'b>(&'b self, builtin: &str, args: &'b BTreeMap<String, Value>) -> R<Args<'b>> {
        let builtin = builtins::lookup(builtin).ok_or_else(|| {
            Refusal::bug(format!(
                "`{builtin}` is not a built-in of this version of advp"
            ))
        })?;
        Ok(Args {
            builtin,
            args,
            cx: self,
        })
    }

    fn split(&self, v: &Value) -> R<SplitRef> {
        match v {
            Value::Split { data, split } => Ok(SplitRef {
                data: self.data_id(data)?,
                split: SplitName::parse(split)
                    .ok_or_else(|| Refusal::bug(format!("`{data}` has no split `{split}`")))?,
            }),
            _ => Err(Refusal::bug(
                "a data split such as `ucf.test` is needed here",
            )),
        }
    }

    fn model_ref(&self, v: &Value) -> R<ModelRef> {
        let names: Vec<&str> = match v {
            Value::Node(m) => vec![m],
            Value::Compose(parts) => parts
                .iter()
                .map(|p| match p {
                    Value::Node(m) => Ok(m.as_str()),
                    _ => Err(Refusal::bug("`>>` composes defense and model nodes")),
                })
                .collect::<R<_>>()?,
            _ => return Err(Refusal::bug("a model is needed here")),
        };
        let (model, defenses) = names
            .split_last()
            .ok_or_else(|| Refusal::bug("an empty composition"))?;
        Ok(ModelRef {
            defenses: defenses
                .iter()
                .map(|d| self.defense_id(d))
                .collect::<R<_>>()?,
            model: self.classifier(model)?,
            label: names.join(" >> "),
        })
    }

    /// A statement's value, or its default from the table (which the
    /// checker resolved).
    fn setting(&self, n: &Node, key: &str) -> R<Option<Value>> {
        match n.stmt(key) {
            Some(StmtValue::Setting { value, .. }) => Ok(Some(value.clone())),
            Some(StmtValue::Schedule { .. }) => Err(Refusal::bug(format!(
                "`{key}` takes a value, not a schedule"
            ))),
            None => Ok(None),
        }
    }

    #[allow(clippy::type_complexity)]
    fn schedule<'n>(
        &self,
        n: &'n Node,
        key: &str,
    ) -> R<Option<(ScheduleMode, &'n [Value], Option<u64>)>> {
        match n.stmts.get(key) {
            Some(StmtValue::Schedule {
                mode,
                values,
                every,
            }) => {
                let m = ScheduleMode::parse(mode)
                    .ok_or_else(|| Refusal::not_executed(format!("the schedule `{key} {mode}`")))?;
                if values.is_empty() {
                    return Err(Refusal::bug(format!("`{key} {mode}` lists no values")));
                }
                Ok(Some((m, values, *every)))
            }
            Some(StmtValue::Setting { .. }) => {
                Err(Refusal::bug(format!("`{key}` takes a schedule")))
            }
            None => Ok(None),
        }
    }

    fn alpha(&self, n: &Node) -> R<Option<StepRule>> {
        let expr = match n.stmts.get("alpha") {
            Some(StmtValue::Setting {
                value: Value::Rule(r),
                ..
            }) => r.clone(),
            _ => return Ok(None),
        };
        let fits = expr
            .fits()
            .into_iter()
            .map(|name| {
                let id = self.id(&name)?;
                if self.program.nodes[id].builtin != "step_fit" {
                    return Err(Refusal::bug(format!(
                        "`{name}` is not a `step_fit` result (no fitted line)"
                    )));
                }
                Ok((name, FitId::new(id)))
            })
            .collect::<R<_>>()?;
        Ok(Some(StepRule { expr, fits }))
    }

    fn reports(&self, problems: &mut Vec<(NodeId, Diagnostic)>) -> Vec<ReportSpec> {
        let mut out = Vec::new();
        for (statement, r) in self.program.reports.iter().enumerate() {
            let Ok(target) = self.id(&r.target) else {
                continue;
            };
            let node = &self.program.nodes[target];
            let mode = ReportMode::parse(r.mode.as_deref());
            let kind = builtins::reports_as(node.kind, &node.builtin);
            for p in &r.paths {
                let format = match (mode, kind) {
                    (Some(mode), Some(kind)) => builtins::report_format(kind, mode, p).ok(),
                    _ => None,
                };
                match (mode, format) {
                    (Some(mode), Some(format)) => out.push(ReportSpec {
                        target,
                        path: p.clone(),
                        mode,
                        format,
                        statement,
                    }),
                    _ => problems.push((
                        target,
                        Diagnostic::new(
                            Code::Unsupported,
                            r.file,
                            r.span,
                            format!("the report `{p}` checks, but advp has no writer for it"),
                        )
                        .label("no writer for this report")
                        .help(BUG_HELP),
                    )),
                }
            }
        }
        out
    }
}

fn schedule_of<T: Clone>(mode: ScheduleMode, values: Vec<T>, every: Option<u64>) -> R<Schedule<T>> {
    Ok(match mode {
        ScheduleMode::Curriculum => Schedule::Curriculum { values, every },
        ScheduleMode::Adaptive => Schedule::Adaptive { values, every },
        ScheduleMode::Uniform => Schedule::Uniform(values),
        ScheduleMode::Fixed => Schedule::Fixed(
            values
                .first()
                .cloned()
                .ok_or_else(|| Refusal::bug("a fixed schedule needs a value"))?,
        ),
        m => {
            return Err(Refusal::bug(format!(
                "`{}` is not a training schedule",
                m.word()
            )))
        }
    })
}

/// A node's `resources { … }` (keys from the built-in table's `RESOURCE_KEYS`).
fn resources_of(n: &Node) -> R<Resources> {
    let mut r = Resources::default();
    let Some(StmtValue::Setting { value, .. }) = n.stmts.get("resources") else {
        return Ok(r);
    };
    let Value::Record(fields) = value else {
        return Err(Refusal::bug(
            "`resources` is a record: `resources { gpus: 1 }`",
        ));
    };
    for (k, v) in fields {
        // Of Slurm's form, checked again: a job script writes it.
        let text = || match v {
            Value::Str(s) => match crate::language::resources::Field::of(k) {
                Some(f) => f
                    .check(s)
                    .map(|()| Some(s.clone()))
                    .map_err(|e| Refusal::bug(format!("`resources.{k}`: {e}; {}", f.form()))),
                None => Ok(Some(s.clone())),
            },
            _ => Err(Refusal::bug(format!("`resources.{k}` is a string"))),
        };
        let int = || {
            v.as_i64()
                .map(Some)
                .ok_or_else(|| Refusal::bug(format!("`resources.{k}` is a whole number")))
        };
        match k.as_str() {
            "gpus" => r.gpus = int()?,
            "cpus" => r.cpus = int()?,
            "mem" => r.mem = text()?,
            "time" => r.time = text()?,
            "partition" => r.partition = text()?,
            other => {
                debug_assert!(!builtins::RESOURCE_KEYS.contains(&other));
                return Err(Refusal::bug(format!(
                    "the resource `{other}` is not used by any executor"
                )));
            }
        }
    }
    Ok(r)
}

mod attack_args;
pub mod bounds;
mod error;
mod nodes;

pub(super) use error::Refusal;
use error::BUG_HELP;
pub use error::{Bug, LowerError};

#[cfg(test)]
mod tests;
