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
use super::data::frames::{Cut, Kind as FrameKind};
use super::data::synthetic;
use super::data::{FrameArgs, Sampling, SyntheticArgs, VideoArgs, VideoLayout};
use super::models::Arch;
use super::spec::*;
use super::train::optim::Rule;
use crate::language::ast::DeclKind;
use crate::language::builtins::{self, ReportMode, ScheduleMode};
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
    let claims = claims::claims(program, &nodes, &mut problems);
    let mut warnings = warnings::tiny_budgets(program, &nodes);
    warnings.extend(warnings::factory_arguments(program));
    warnings.extend(crate::language::classes::check(program));
    Lowered {
        nodes,
        resources,
        reports,
        claims,
        warnings,
        problems,
        missing: warnings::missing_files(program, &cx),
    }
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
            "nodes" => r.nodes = int()?,
            "tasks" => r.tasks = int()?,
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

mod args;
mod attack_args;
pub mod bounds;
mod claims;
mod error;
mod nodes;
mod warnings;

use args::{numbers, Args};
pub(super) use error::Refusal;
use error::BUG_HELP;
pub use error::{Bug, LowerError};

#[cfg(test)]
mod tests;
