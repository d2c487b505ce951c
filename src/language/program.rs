//! The checked program: every node with its arguments resolved, defaults filled in.
//!
//! This is what the planner and the runtime read, and what cache keys hash.

use super::ast::{DeclKind, Span};
use super::source::{FileId, SourceMap};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Value {
    Num(f64),
    Int(i64),
    Str(String),
    Bool(bool),
    Inf,
    /// A word from a fixed set: `one_shot`, `sgd`.
    Choice(String),
    List(Vec<Value>),
    /// A reference to a node that computes something (data, model, train, defense, …).
    Node(String),
    /// `ucf.test`
    Split {
        data: String,
        split: String,
    },
    /// A number known only when the node runs (`ucf.classes` of a `tensors` file).
    Field {
        node: String,
        field: String,
    },
    /// A built-in applied to its full argument list, e.g. an attack.
    Call {
        builtin: String,
        args: BTreeMap<String, Value>,
    },
    /// `defense >> model`: the defenses run first, in order.
    Compose(Vec<Value>),
    Rule(RuleExpr),
    Record(BTreeMap<String, Value>),
    /// The clean input in `attacks each {none, …}`.
    NoAttack,
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            Value::Inf => Some(f64::INFINITY),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Choice(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) => Some(v),
            _ => None,
        }
    }
}

/// A step-size rule: arithmetic of `eps`, numbers and fitted step sizes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleExpr {
    Num(f64),
    Eps,
    /// The line fitted by a `step_fit` analysis node.
    Fit(String),
    Add(Box<RuleExpr>, Box<RuleExpr>),
    Sub(Box<RuleExpr>, Box<RuleExpr>),
    Mul(Box<RuleExpr>, Box<RuleExpr>),
    Div(Box<RuleExpr>, Box<RuleExpr>),
    Neg(Box<RuleExpr>),
}

impl RuleExpr {
    /// The rule as written: `eps / 4`, `optimal`, `0.2 * (eps + 1)`.
    pub fn text(&self) -> String {
        let wrap = |e: &RuleExpr| match e {
            RuleExpr::Add(..) | RuleExpr::Sub(..) => format!("({})", e.text()),
            _ => e.text(),
        };
        match self {
            RuleExpr::Num(v) => {
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v}")
                }
            }
            RuleExpr::Eps => "eps".into(),
            RuleExpr::Fit(n) => n.clone(),
            RuleExpr::Add(a, b) => format!("{} + {}", a.text(), b.text()),
            RuleExpr::Sub(a, b) => format!("{} - {}", a.text(), wrap(b)),
            RuleExpr::Mul(a, b) => format!("{} * {}", wrap(a), wrap(b)),
            RuleExpr::Div(a, b) => format!(
                "{} / {}",
                wrap(a),
                match &**b {
                    RuleExpr::Mul(..) | RuleExpr::Div(..) => format!("({})", b.text()),
                    _ => wrap(b),
                }
            ),
            RuleExpr::Neg(a) => format!("-{}", wrap(a)),
        }
    }

    /// α for a budget ε; `fit` gives (a, b) of a fitted line α = a·ε + b.
    pub fn eval(&self, eps: f64, fit: &dyn Fn(&str) -> Option<(f64, f64)>) -> Option<f64> {
        Some(match self {
            RuleExpr::Num(v) => *v,
            RuleExpr::Eps => eps,
            RuleExpr::Fit(n) => {
                let (a, b) = fit(n)?;
                a * eps + b
            }
            RuleExpr::Add(a, b) => a.eval(eps, fit)? + b.eval(eps, fit)?,
            RuleExpr::Sub(a, b) => a.eval(eps, fit)? - b.eval(eps, fit)?,
            RuleExpr::Mul(a, b) => a.eval(eps, fit)? * b.eval(eps, fit)?,
            RuleExpr::Div(a, b) => a.eval(eps, fit)? / b.eval(eps, fit)?,
            RuleExpr::Neg(a) => -a.eval(eps, fit)?,
        })
    }
}

/// A resolved block statement.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "form")]
pub enum StmtValue {
    Schedule {
        mode: String,
        values: Vec<Value>,
        every: Option<u64>,
    },
    Setting {
        grid: bool,
        value: Value,
    },
}

/// An edge: this node reads `name`, referenced at `span`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dep {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    #[serde(skip)]
    pub file: FileId,
}

/// `compare a > b at eps 8, attack flicker` in an evaluation's block, checked:
/// a claim tested on the evaluation's per-clip records (it changes no result,
/// so it is not part of the node's cache key).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claim {
    /// Row labels as the evaluation writes them (`h264 >> benign`).
    pub a: String,
    /// `a > b` (else `a < b`).
    pub greater: bool,
    pub b: String,
    /// `at eps 8`: the column's budget (0..255 units).
    pub eps: Option<f64>,
    /// `at attack flicker`: the column of an `attacks each {…}`.
    pub attack: Option<String>,
    /// As written, in canonical spacing: `cat_up > cat_down at eps 8`.
    pub text: String,
    #[serde(skip)]
    pub file: FileId,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    pub name: String,
    pub kind: DeclKind,
    pub builtin: String,
    pub args: BTreeMap<String, Value>,
    pub stmts: BTreeMap<String, StmtValue>,
    /// The `compare` statements of an evaluation, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<Claim>,
    #[serde(skip)]
    pub deps: Vec<Dep>,
    #[serde(skip)]
    pub file: FileId,
    #[serde(skip)]
    pub span: Span,
    #[serde(skip)]
    pub name_span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportNode {
    pub target: String,
    pub mode: Option<String>,
    pub paths: Vec<String>,
    #[serde(skip)]
    pub file: FileId,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Auto,
    Cpu,
    Cuda(usize),
}

/// The floating-point precision of models' forward passes: `fp32`, or
/// autocast to `bf16` or `fp16` (with loss scaling when training). Attacks
/// keep their perturbations in fp32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    #[default]
    Fp32,
    Bf16,
    Fp16,
}

impl Precision {
    pub const WORDS: [&'static str; 3] = ["fp32", "bf16", "fp16"];
    pub fn parse(s: &str) -> Option<Precision> {
        match s {
            "fp32" => Some(Precision::Fp32),
            "bf16" => Some(Precision::Bf16),
            "fp16" => Some(Precision::Fp16),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        Precision::WORDS[self as usize]
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// The seed this program runs with: the first of `seeds`, or one
    /// replicate's ([`Program::replicate`]).
    pub seed: u64,
    /// `seeds [1, 2, 3]` (`seed 1` is `[1]`): every computed node runs once per seed.
    pub seeds: Vec<u64>,
    pub device: Device,
    /// `precision bf16`: every model's forward pass under autocast.
    pub precision: Precision,
    /// `None`: as many as the machine has.
    pub threads: Option<usize>,
}

impl std::default::Default for Settings {
    fn default() -> Self {
        Settings {
            seed: 0,
            seeds: vec![0],
            device: Device::Auto,
            precision: Precision::Fp32,
            threads: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Program {
    pub sources: SourceMap,
    pub main: FileId,
    pub settings: Settings,
    /// The nodes of the main file and everything they read, in declaration order.
    pub nodes: Vec<Node>,
    pub reports: Vec<ReportNode>,
    /// The profile applied, if any.
    pub profile: Option<String>,
    /// Every profile the file defines.
    pub profiles: Vec<String>,
}

impl Program {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
    /// Node indices by name.
    pub fn index(&self) -> std::collections::HashMap<&str, usize> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect()
    }
    /// The program of one replicate: the same nodes, run with `seed`. Cache
    /// keys hash the seed, so each replicate has its own entries, and a
    /// replicate's entries are those of a run with `seed` alone.
    pub fn replicate(&self, seed: u64) -> Program {
        let mut p = self.clone();
        p.settings.seed = seed;
        p.settings.seeds = vec![seed];
        p
    }
    /// The pipeline's name: the main file's stem.
    pub fn name(&self) -> String {
        let f = self.sources.file(self.main);
        std::path::Path::new(&f.name).file_stem().map_or_else(
            || "pipeline".to_string(),
            |s| s.to_string_lossy().into_owned(),
        )
    }
}
