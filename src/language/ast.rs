//! The syntax tree of one `.advp` file, every node with its byte span.

use serde::{Serialize, Serializer};
use std::fmt;

/// A byte range in one source file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
    pub fn join(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}..{}", self.start, self.end))
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        (s.start, s.len()).into()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Module {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    Use(UseItem),
    Setting(Setting),
    Decl(Decl),
    Report(Report),
    Profile(Profile),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Use(u) => u.span,
            Item::Setting(s) => s.span,
            Item::Decl(d) => d.span,
            Item::Report(r) => r.span,
            Item::Profile(p) => p.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UseItem {
    pub path: StrLit,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

/// `seed 1`, `threads 2`, `device cuda:1`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setting {
    pub key: SettingKey,
    pub value: SettingValue,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingKey {
    Seed,
    /// `seeds [1, 2, 3]`: replicates, each computed node once per seed.
    Seeds,
    Threads,
    Device,
    /// `precision fp32 | bf16 | fp16`.
    Precision,
}

impl SettingKey {
    pub fn as_str(self) -> &'static str {
        match self {
            SettingKey::Seed => "seed",
            SettingKey::Seeds => "seeds",
            SettingKey::Threads => "threads",
            SettingKey::Device => "device",
            SettingKey::Precision => "precision",
        }
    }
    /// Whether the value is a bare word (`device cuda:1`, `precision bf16`), not an expression.
    pub fn is_word(self) -> bool {
        matches!(self, SettingKey::Device | SettingKey::Precision)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingValue {
    Expr(Expr),
    /// A bare word: `cuda:1`, `bf16`.
    Word(Ident),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclKind {
    Data,
    Model,
    Attack,
    Defense,
    Rule,
    Train,
    Eval,
    Analyze,
}

impl DeclKind {
    pub const ALL: [DeclKind; 8] = [
        DeclKind::Data,
        DeclKind::Model,
        DeclKind::Attack,
        DeclKind::Defense,
        DeclKind::Rule,
        DeclKind::Train,
        DeclKind::Eval,
        DeclKind::Analyze,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeclKind::Data => "data",
            DeclKind::Model => "model",
            DeclKind::Attack => "attack",
            DeclKind::Defense => "defense",
            DeclKind::Rule => "rule",
            DeclKind::Train => "train",
            DeclKind::Eval => "eval",
            DeclKind::Analyze => "analyze",
        }
    }

    pub fn parse(s: &str) -> Option<DeclKind> {
        DeclKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for DeclKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `train at = adversarial(net, ucf) { budget fixed 8 }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decl {
    pub kind: DeclKind,
    pub kind_span: Span,
    pub name: Ident,
    pub value: Expr,
    pub block: Option<Block>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stmt {
    /// `budget curriculum 0..12 step 2 every 10`, `attacks each {…}`
    Schedule {
        key: Ident,
        mode: Ident,
        value: Expr,
        every: Option<Expr>,
        span: Span,
    },
    /// `alpha optimal / 2`, `attack pgd_inf`, `steps grid 1..20`
    Setting {
        key: Ident,
        grid: bool,
        value: Expr,
        span: Span,
    },
    /// `compare cat_up > cat_down at eps 8`: a claim tested on the results.
    Compare {
        /// The `compare` keyword.
        key: Ident,
        /// Each side as written: `h264 >> benign` is `[h264, benign]`.
        a: Vec<Ident>,
        greater: bool,
        b: Vec<Ident>,
        /// `at eps 8, attack flicker`.
        at: Vec<(Ident, Expr)>,
        span: Span,
    },
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Schedule { span, .. }
            | Stmt::Setting { span, .. }
            | Stmt::Compare { span, .. } => *span,
        }
    }
    pub fn key(&self) -> &Ident {
        match self {
            Stmt::Schedule { key, .. } | Stmt::Setting { key, .. } | Stmt::Compare { key, .. } => {
                key
            }
        }
    }
}

/// `report table2 to "table2.md", "table2.csv"`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub target: Ident,
    pub mode: Option<Ident>,
    pub paths: Vec<StrLit>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    pub name: Ident,
    pub entries: Vec<ProfileEntry>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileEntry {
    Decl(Decl),
    Setting(Setting),
    Override(Override),
}

impl ProfileEntry {
    pub fn span(&self) -> Span {
        match self {
            ProfileEntry::Decl(d) => d.span,
            ProfileEntry::Setting(s) => s.span,
            ProfileEntry::Override(o) => o.span,
        }
    }
}

/// `train.epochs = 8` (every train node) or `at.epochs = 8` (one node).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Override {
    pub path: Vec<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BinOp {
    Compose,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Compose => ">>",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExprKind {
    /// The literal text is kept so `fmt` writes `2e-4` back as written.
    Number {
        value: f64,
        text: String,
    },
    Str(String),
    Bool(bool),
    Inf,
    List(Vec<Expr>),
    Set(Vec<Expr>),
    Record(Vec<Field>),
    /// Inclusive of both ends; the direction comes from the ends, the step is its size.
    Range {
        start: Number,
        end: Number,
        step: Option<Number>,
    },
    /// `ucf`, `ucf.test`
    Path(Vec<Ident>),
    Call {
        callee: Ident,
        args: Vec<Arg>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Neg(Box<Expr>),
    Paren(Box<Expr>),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Number {
    pub value: f64,
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

impl Expr {
    /// The single name of a plain path (`net`), if that is what this is.
    pub fn as_name(&self) -> Option<&Ident> {
        match &self.kind {
            ExprKind::Path(p) if p.len() == 1 => Some(&p[0]),
            _ => None,
        }
    }

    /// A short description for messages: "a number", "a list", …
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            ExprKind::Number { .. } => "a number",
            ExprKind::Str(_) => "a string",
            ExprKind::Bool(_) => "a boolean",
            ExprKind::Inf => "`inf`",
            ExprKind::List(_) => "a list",
            ExprKind::Set(_) => "a set",
            ExprKind::Record(_) => "a record",
            ExprKind::Range { .. } => "a range",
            ExprKind::Path(_) => "a name",
            ExprKind::Call { .. } => "a call",
            ExprKind::Binary {
                op: BinOp::Compose, ..
            } => "a composition",
            ExprKind::Binary { .. } | ExprKind::Neg(_) => "an arithmetic expression",
            ExprKind::Paren(inner) => inner.describe(),
        }
    }
}
