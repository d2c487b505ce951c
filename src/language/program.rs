//! The checked program: every node with its arguments resolved, defaults filled in.
//!
//! This is what the planner and the runtime read, and what cache keys hash.

use super::ast::{DeclKind, Span};
use super::source::{FileId, SourceMap};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

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
    /// The built-ins this value calls, nested calls included (an
    /// ensemble's attacks, a defense in `d >> m`).
    pub fn calls<'v>(&'v self, out: &mut Vec<&'v str>) {
        match self {
            Value::Call { builtin, args } => {
                out.push(builtin);
                args.values().for_each(|a| a.calls(out));
            }
            Value::List(items) | Value::Compose(items) => items.iter().for_each(|a| a.calls(out)),
            Value::Record(fields) => fields.values().for_each(|a| a.calls(out)),
            _ => {}
        }
    }

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

/// A step-size rule: arithmetic of `eps`, numbers, fitted step sizes and
/// named `rule`s. A named rule is shared, never copied: every use holds the
/// same [`RuleDef`], so `rule r1 = r0 + r0`, `rule r2 = r1 + r1`, … is as large
/// as its text, and [`RuleExpr::eval`] evaluates each rule once per budget.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleExpr {
    Num(f64),
    Eps,
    /// The line fitted by a `step_fit` analysis node.
    Fit(String),
    /// A `rule` declaration, by reference.
    Rule(Arc<RuleDef>),
    Add(Box<RuleExpr>, Box<RuleExpr>),
    Sub(Box<RuleExpr>, Box<RuleExpr>),
    Mul(Box<RuleExpr>, Box<RuleExpr>),
    Div(Box<RuleExpr>, Box<RuleExpr>),
    Neg(Box<RuleExpr>),
}

/// A `rule NAME = …` declaration: its name and its own expression, whose
/// rules are references again.
pub struct RuleDef {
    pub name: String,
    pub body: RuleExpr,
}

impl PartialEq for RuleDef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other) || (self.name == other.name && self.body == other.body)
    }
}

/// The name only: a definition is printed where it is declared, not at every use.
impl std::fmt::Debug for RuleDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RuleDef({:?})", self.name)
    }
}

impl RuleExpr {
    /// The rule in full, as a reader of a table wants it: `eps / 4`,
    /// `0.2 * (eps + 1) / 2` for `optimal / 2`. A rule whose full text would
    /// exceed [`INLINE_LIMIT`] operations names its rules instead (`r24`).
    pub fn text(&self) -> String {
        self.text_with(self.inlined_size() <= INLINE_LIMIT)
    }

    /// The expression a reader sees at this place: through a named rule when
    /// rules are written out.
    fn shown(&self, inline: bool) -> &RuleExpr {
        match self {
            RuleExpr::Rule(d) if inline => d.body.shown(inline),
            e => e,
        }
    }

    fn text_with(&self, inline: bool) -> String {
        let wrap = |e: &RuleExpr| match e.shown(inline) {
            RuleExpr::Add(..) | RuleExpr::Sub(..) => format!("({})", e.text_with(inline)),
            _ => e.text_with(inline),
        };
        match self.shown(inline) {
            RuleExpr::Num(v) => {
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v}")
                }
            }
            RuleExpr::Eps => "eps".into(),
            RuleExpr::Fit(n) => n.clone(),
            RuleExpr::Rule(d) => d.name.clone(),
            RuleExpr::Add(a, b) => format!("{} + {}", a.text_with(inline), b.text_with(inline)),
            RuleExpr::Sub(a, b) => format!("{} - {}", a.text_with(inline), wrap(b)),
            RuleExpr::Mul(a, b) => format!("{} * {}", wrap(a), wrap(b)),
            RuleExpr::Div(a, b) => format!(
                "{} / {}",
                wrap(a),
                match b.shown(inline) {
                    RuleExpr::Mul(..) | RuleExpr::Div(..) => format!("({})", b.text_with(inline)),
                    _ => wrap(b),
                }
            ),
            RuleExpr::Neg(a) => format!("-{}", wrap(a)),
        }
    }

    /// Operations of the expression with every named rule written out
    /// (saturating: 24 doubling rules are 2^24 operations, counted in 24 steps).
    pub fn inlined_size(&self) -> usize {
        fn walk(e: &RuleExpr, memo: &mut HashMap<*const RuleDef, usize>) -> usize {
            match e {
                RuleExpr::Rule(d) => {
                    if let Some(n) = memo.get(&Arc::as_ptr(d)) {
                        return *n;
                    }
                    let n = walk(&d.body, memo);
                    memo.insert(Arc::as_ptr(d), n);
                    n
                }
                RuleExpr::Add(a, b)
                | RuleExpr::Sub(a, b)
                | RuleExpr::Mul(a, b)
                | RuleExpr::Div(a, b) => 1usize
                    .saturating_add(walk(a, memo))
                    .saturating_add(walk(b, memo)),
                RuleExpr::Neg(a) => 1usize.saturating_add(walk(a, memo)),
                RuleExpr::Num(_) | RuleExpr::Eps | RuleExpr::Fit(_) => 1,
            }
        }
        walk(self, &mut HashMap::new())
    }

    /// α for a budget ε; `fit` gives (a, b) of a fitted line α = a·ε + b.
    /// Each named rule is evaluated once, however often it is used.
    pub fn eval(&self, eps: f64, fit: &dyn Fn(&str) -> Option<(f64, f64)>) -> Option<f64> {
        self.eval_in(eps, fit, &mut HashMap::new())
    }

    fn eval_in(
        &self,
        eps: f64,
        fit: &dyn Fn(&str) -> Option<(f64, f64)>,
        memo: &mut HashMap<*const RuleDef, Option<f64>>,
    ) -> Option<f64> {
        Some(match self {
            RuleExpr::Num(v) => *v,
            RuleExpr::Eps => eps,
            RuleExpr::Fit(n) => {
                let (a, b) = fit(n)?;
                a * eps + b
            }
            RuleExpr::Rule(d) => {
                let key = Arc::as_ptr(d);
                if let Some(v) = memo.get(&key) {
                    return *v;
                }
                let v = d.body.eval_in(eps, fit, memo);
                memo.insert(key, v);
                v?
            }
            RuleExpr::Add(a, b) => a.eval_in(eps, fit, memo)? + b.eval_in(eps, fit, memo)?,
            RuleExpr::Sub(a, b) => a.eval_in(eps, fit, memo)? - b.eval_in(eps, fit, memo)?,
            RuleExpr::Mul(a, b) => a.eval_in(eps, fit, memo)? * b.eval_in(eps, fit, memo)?,
            RuleExpr::Div(a, b) => a.eval_in(eps, fit, memo)? / b.eval_in(eps, fit, memo)?,
            RuleExpr::Neg(a) => -a.eval_in(eps, fit, memo)?,
        })
    }

    /// Every named rule this expression uses, directly or through other
    /// rules, each once, a rule after the rules it uses.
    pub fn rules(&self) -> Vec<&Arc<RuleDef>> {
        fn walk<'e>(
            e: &'e RuleExpr,
            seen: &mut HashSet<*const RuleDef>,
            out: &mut Vec<&'e Arc<RuleDef>>,
        ) {
            match e {
                RuleExpr::Rule(d) => {
                    if seen.insert(Arc::as_ptr(d)) {
                        walk(&d.body, seen, out);
                        out.push(d);
                    }
                }
                RuleExpr::Add(a, b)
                | RuleExpr::Sub(a, b)
                | RuleExpr::Mul(a, b)
                | RuleExpr::Div(a, b) => {
                    walk(a, seen, out);
                    walk(b, seen, out);
                }
                RuleExpr::Neg(a) => walk(a, seen, out),
                RuleExpr::Num(_) | RuleExpr::Eps | RuleExpr::Fit(_) => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &mut HashSet::new(), &mut out);
        out
    }

    /// Operations of this expression alone, a named rule counting as one.
    fn own_size(&self) -> usize {
        match self {
            RuleExpr::Add(a, b)
            | RuleExpr::Sub(a, b)
            | RuleExpr::Mul(a, b)
            | RuleExpr::Div(a, b) => 1 + a.own_size() + b.own_size(),
            RuleExpr::Neg(a) => 1 + a.own_size(),
            _ => 1,
        }
    }

    /// Operations evaluated for one budget: this expression's and each named
    /// rule's it uses, once each.
    pub fn size(&self) -> usize {
        self.rules()
            .iter()
            .map(|d| d.body.own_size())
            .fold(self.own_size(), usize::saturating_add)
    }

    /// The `step_fit` nodes the expression (or a rule it uses) names.
    pub fn fits(&self) -> Vec<String> {
        fn walk(e: &RuleExpr, out: &mut Vec<String>) {
            match e {
                RuleExpr::Fit(n) => {
                    if !out.contains(n) {
                        out.push(n.clone())
                    }
                }
                RuleExpr::Add(a, b)
                | RuleExpr::Sub(a, b)
                | RuleExpr::Mul(a, b)
                | RuleExpr::Div(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                RuleExpr::Neg(a) => walk(a, out),
                RuleExpr::Rule(_) | RuleExpr::Num(_) | RuleExpr::Eps => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        for d in self.rules() {
            walk(&d.body, &mut out);
        }
        out
    }
}

/// What cache keys hash. An expression of at most [`INLINE_LIMIT`]
/// operations with its rules written out is that tree (`{"div": [{"eps": …},
/// …]}`), as advp wrote every rule before rules were shared, so the keys of
/// existing pipelines (`alpha optimal`) and their caches stay. A larger one is
/// its tree with rules by name and every rule it uses once, in order:
/// `{"expr": …, "rules": [[name, body], …]}`, linear in the text however often
/// a rule is used.
impl Serialize for RuleExpr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        if self.inlined_size() <= INLINE_LIMIT {
            return Shallow(self, true).serialize(s);
        }
        let defs: Vec<(&str, Shallow)> = self
            .rules()
            .iter()
            .map(|d| (d.name.as_str(), Shallow(&d.body, false)))
            .collect();
        let mut st = s.serialize_struct("Rule", 2)?;
        st.serialize_field("expr", &Shallow(self, false))?;
        st.serialize_field("rules", &defs)?;
        st.end()
    }
}

/// Operations up to which a rule is written out in full: in tables, and in
/// what cache keys hash.
pub const INLINE_LIMIT: usize = 4096;

/// One expression, its named rules written out (`true`) or by name.
struct Shallow<'e>(&'e RuleExpr, bool);

impl Serialize for Shallow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTupleVariant;
        const E: &str = "RuleExpr";
        let pair = |s: S, i: u32, name: &'static str, a: &RuleExpr, b: &RuleExpr| {
            let mut t = s.serialize_tuple_variant(E, i, name, 2)?;
            t.serialize_field(&Shallow(a, self.1))?;
            t.serialize_field(&Shallow(b, self.1))?;
            t.end()
        };
        match self.0 {
            RuleExpr::Num(v) => s.serialize_newtype_variant(E, 0, "num", v),
            RuleExpr::Eps => s.serialize_unit_variant(E, 1, "eps"),
            RuleExpr::Fit(n) => s.serialize_newtype_variant(E, 2, "fit", n),
            RuleExpr::Add(a, b) => pair(s, 3, "add", a, b),
            RuleExpr::Sub(a, b) => pair(s, 4, "sub", a, b),
            RuleExpr::Mul(a, b) => pair(s, 5, "mul", a, b),
            RuleExpr::Div(a, b) => pair(s, 6, "div", a, b),
            RuleExpr::Neg(a) => s.serialize_newtype_variant(E, 7, "neg", &Shallow(a, self.1)),
            RuleExpr::Rule(d) if self.1 => Shallow(&d.body, true).serialize(s),
            RuleExpr::Rule(d) => s.serialize_newtype_variant(E, 8, "rule", &d.name),
        }
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
    /// The table's defaults of the statements the block leaves out (an
    /// evaluation's `attack pgd`, a fit's `alpha grid …`), resolved by the
    /// checker as if written. Not part of a cache key: the key hashes the
    /// statements written, so a key is the same as before defaults were kept.
    #[serde(skip)]
    pub defaults: BTreeMap<String, StmtValue>,
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

impl Node {
    /// The statement `key` as written, else its default from the table.
    pub fn stmt(&self, key: &str) -> Option<&StmtValue> {
        self.stmts.get(key).or_else(|| self.defaults.get(key))
    }

    /// Every value the node was written with: its arguments, then the
    /// values of its statements (a schedule's each).
    pub fn written_values(&self) -> impl Iterator<Item = &Value> {
        let stmts = self.stmts.values().flat_map(|s| match s {
            StmtValue::Schedule { values, .. } => values.as_slice(),
            StmtValue::Setting { value, .. } => std::slice::from_ref(value),
        });
        self.args.values().chain(stmts)
    }
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
    /// The table's default of every argument of every built-in the nodes
    /// use (nested calls too), resolved as the checker resolves them: a
    /// cache key leaves out an argument at its default
    /// (`runtime::cache::key`).
    pub param_defaults: BTreeMap<String, BTreeMap<String, Value>>,
    /// Node indices by name, made on first use: [`Program::node`] is a
    /// lookup, not a scan (checks call it for every node of a 10,000-node
    /// file). `nodes` is not changed after the checker makes it.
    pub by_name: std::sync::OnceLock<HashMap<String, usize>>,
}

impl Program {
    pub fn node(&self, name: &str) -> Option<&Node> {
        let by_name = self.by_name.get_or_init(|| {
            self.nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.name.clone(), i))
                .collect()
        });
        by_name.get(name).map(|&i| &self.nodes[i])
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `d0 = eps / 4`, `dk = d(k-1) + d(k-1)`: 2^k uses of `eps`, k + 1 definitions.
    fn doubling(levels: usize) -> RuleExpr {
        let mut r = RuleExpr::Rule(Arc::new(RuleDef {
            name: "d0".into(),
            body: RuleExpr::Div(Box::new(RuleExpr::Eps), Box::new(RuleExpr::Num(4.0))),
        }));
        for k in 1..=levels {
            r = RuleExpr::Rule(Arc::new(RuleDef {
                name: format!("d{k}"),
                body: RuleExpr::Add(Box::new(r.clone()), Box::new(r)),
            }));
        }
        r
    }

    #[test]
    fn a_shared_rule_is_evaluated_and_written_once() {
        // 2^60 leaves inlined; 61 definitions shared.
        let r = doubling(60);
        assert_eq!(r.size(), 1 + 3 + 60 * 3);
        assert_eq!(r.eval(4.0, &|_| None), Some(2f64.powi(60)));
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.len() < 4000, "{} bytes", json.len());
        assert!(json.starts_with(r#"{"expr":{"rule":"d60"},"rules":[["d0",{"div":["eps",{"num":4.0}]}],["d1",{"add":[{"rule":"d0"},{"rule":"d0"}]}]"#), "{json}");
        assert_eq!(r.text(), "d60");
        assert_eq!(format!("{r:?}"), r#"Rule(RuleDef("d60"))"#);
    }

    #[test]
    fn a_rule_without_names_is_written_as_before() {
        let r = RuleExpr::Mul(
            Box::new(RuleExpr::Num(0.2)),
            Box::new(RuleExpr::Add(
                Box::new(RuleExpr::Eps),
                Box::new(RuleExpr::Neg(Box::new(RuleExpr::Fit("f".into())))),
            )),
        );
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"mul":[{"num":0.2},{"add":["eps",{"neg":{"fit":"f"}}]}]}"#
        );
        assert_eq!(r.fits(), vec!["f".to_string()]);
    }
}
