//! Every mistake the checker reports, as data: one variant per kind of error with the
//! facts it needs. `wording.rs` gives each kind its code, message, label, secondary
//! label and help in one `match`; [`CheckError::at`] turns that into a [`Diagnostic`].

use crate::language::ast::{DeclKind, Span};
use crate::language::builtins::Ty;
use crate::language::diagnostic::Diagnostic;
use crate::language::source::FileId;

/// A checker error; a `hint` field holds a "did you mean" from `suggest`, if one is close.
pub(super) enum CheckError<'e> {
    // ---- collecting
    DuplicateSetting {
        key: &'e str,
        first: Span,
    },
    DuplicateProfile {
        name: &'e str,
        first: Option<Span>,
        first_at: String,
    },
    ShadowsBuiltin {
        name: &'e str,
    },
    DuplicateName {
        name: &'e str,
        first: Option<Span>,
        first_at: String,
    },
    // ---- profiles and `--set`
    UnknownProfile {
        name: &'e str,
        hint: Option<String>,
        defined: Vec<&'e str>,
    },
    ReplacesNothing {
        profile: &'e str,
        name: &'e str,
        hint: Option<String>,
    },
    ProfileChangesKind {
        name: &'e str,
        old: DeclKind,
        new: DeclKind,
    },
    OverrideParts,
    OverrideTarget {
        head: &'e str,
        hint: Option<String>,
    },
    OverrideArgument {
        head: &'e str,
        arg: &'e str,
        is_stmt: bool,
        hint: Option<String>,
        accepted: Vec<&'e str>,
    },
    SetWithoutEquals,
    SetNotAName {
        part: &'e str,
    },
    SetUnknownSetting {
        key: &'e str,
        hint: Option<String>,
    },
    // ---- settings
    DuplicateSeed {
        seed: u64,
        first: Span,
    },
    UnknownDevice {
        name: &'e str,
        hint: Option<String>,
    },
    UnknownPrecision {
        name: &'e str,
        hint: Option<String>,
    },
    // ---- values
    NotWhole {
        what: &'e str,
        v: f64,
    },
    OutOfRange {
        what: &'e str,
        v: f64,
        lo: f64,
        hi: f64,
        eps_units: bool,
    },
    DivisionByZero,
    NotANumber {
        found: &'e str,
    },
    NotAnIntChoice {
        what: &'e str,
        v: f64,
        choices: Vec<String>,
    },
    BadNorm {
        text: String,
        /// Whether `1` is allowed (FAB).
        l1: bool,
    },
    ListLength {
        what: &'e str,
        n: usize,
        found: usize,
        default: &'e str,
    },
    NoModels,
    Mismatch {
        expected: Ty,
        found: &'e str,
        fix: Fix<'e>,
    },
    BadChoice {
        what: &'e str,
        word: &'e str,
        hint: Option<String>,
        choices: &'e [&'e str],
    },
    EmptyValues {
        what: &'e str,
    },
    RangeStep {
        start: &'e str,
        end: &'e str,
        step: &'e str,
        zero: bool,
    },
    RangeEnd {
        start: &'e str,
        end: &'e str,
        step: &'e str,
        last: f64,
        next: f64,
    },
    RangeTooMany {
        n: usize,
    },
    // ---- references
    NameNotNumber,
    SplitNotNumber {
        node: &'e str,
        field: &'e str,
    },
    /// `nearest` is the field closest to `field`, shown as `node.nearest`.
    UnknownField {
        node: &'e str,
        field: &'e str,
        builtin: &'e str,
        nearest: Option<&'e str>,
        fields: Vec<&'e str>,
    },
    UnknownName {
        name: &'e str,
        hint: Option<String>,
        kind: DeclKind,
    },
    ExpectedKind {
        name: &'e str,
        wanted: &'e [DeclKind],
        found: DeclKind,
    },
    InlineNode {
        kind: DeclKind,
        callee: &'e str,
    },
    DataNotSplit {
        data: &'e str,
    },
    UnknownAttack {
        name: &'e str,
        hint: Option<String>,
    },
    // ---- presets and calls
    NoBlock {
        what: &'e str,
    },
    Cycle {
        path: &'e [String],
    },
    NeedsCall {
        kind: DeclKind,
        name: &'e str,
        found: &'e str,
    },
    NotCallable {
        name: &'e str,
        kind: DeclKind,
    },
    UnknownFunction {
        name: &'e str,
        hint: Option<String>,
        builtins: Vec<&'e str>,
    },
    MakesWrongKind {
        name: &'e str,
        makes: DeclKind,
        wanted: DeclKind,
    },
    PositionalAfterNamed {
        named: Span,
    },
    TooManyArguments {
        shown: &'e str,
        params: Vec<&'e str>,
    },
    UnknownArgument {
        shown: &'e str,
        name: &'e str,
        hint: Option<String>,
        params: Vec<&'e str>,
    },
    DuplicateArgument {
        name: &'e str,
        first: Span,
    },
    MissingArgument {
        shown: &'e str,
        name: &'e str,
        ty: Ty,
        doc: &'e str,
    },
    // ---- step-size rules
    NotARule {
        name: &'e str,
        kind: DeclKind,
    },
    UnknownRuleName {
        name: &'e str,
        hint: Option<String>,
    },
    NotRuleExpr {
        found: &'e str,
    },
    // ---- block statements
    UnknownStatement {
        builtin: &'e str,
        key: &'e str,
        hint: Option<String>,
        keys: Vec<&'e str>,
    },
    DuplicateStatement {
        key: &'e str,
        first: Span,
    },
    UnknownMode {
        key: &'e str,
        mode: &'e str,
        builtin: &'e str,
        elsewhere: bool,
        hint: Option<String>,
        modes: &'e [&'e str],
    },
    UnexpectedEvery {
        key: &'e str,
        mode: &'e str,
    },
    ExpectedAttackSet {
        found: &'e str,
    },
    NoAttacks,
    MissingMode {
        key: &'e str,
        modes: &'e [&'e str],
        value: Option<String>,
    },
    MissingGrid {
        key: &'e str,
    },
    UnexpectedGrid {
        key: &'e str,
    },
    StepsNotWhole {
        bad: f64,
    },
    ExpectedResources {
        found: &'e str,
    },
    UnknownResource {
        name: &'e str,
        hint: Option<String>,
        keys: &'e [&'e str],
    },
    /// A resource string not of Slurm's form for its key.
    BadResource {
        field: crate::language::resources::Field,
        value: &'e str,
    },
    // ---- claims (`compare`)
    ClaimCondition {
        key: &'e str,
        hint: Option<String>,
    },
    ClaimSide {
        side: &'e str,
        eval: &'e str,
        hint: Option<String>,
        models: Vec<String>,
    },
    ClaimForm,
    ClaimSame {
        side: &'e str,
    },
    ClaimAttack {
        found: &'e str,
    },
    ClaimOutsideEval {
        builtin: &'e str,
    },
    // ---- reports
    FixedDefenseReport {
        name: &'e str,
    },
    UnknownReportMode {
        mode: &'e str,
        hint: Option<String>,
    },
    ReportModeNeedsEval {
        mode: &'e str,
        target: &'e str,
        kind: DeclKind,
    },
    ReportPath {
        problem: PathProblem,
    },
    /// Two reports (or a report and the pipeline's HTML page) write one file.
    ReportClash {
        path: &'e str,
        /// The first report of the path, when in the same file.
        first: Option<Span>,
        first_at: String,
        /// The clash is with `<pipeline>.html`, the page every run writes.
        page: bool,
    },
    ReportFormat {
        kind: DeclKind,
        target: &'e str,
        ext: &'e str,
        formats: &'e [&'e str],
    },
    // ---- step sizes
    /// A step-size rule negative or not finite at a budget the node runs.
    BadStep {
        rule: String,
        eps: f64,
        alpha: f64,
    },
    /// A rule past [`super::rules::MAX_RULE_NODES`] operations (`nodes`), or
    /// nested past [`super::rules::MAX_RULE_DEPTH`] rules (`None`).
    TooComplex {
        name: &'e str,
        nodes: Option<usize>,
    },
    // ---- masks against the frames
    /// A `frame_border` ratio that cannot be drawn on `size`×`size` frames
    /// (`why` from `geometry::border_thickness`; `min`: a one-pixel border).
    BorderDoesNotFit {
        node: &'e str,
        ratio: f64,
        data: &'e str,
        size: i64,
        why: String,
        min: f64,
    },
}

/// Why a report path is refused.
#[derive(Clone, Copy, Debug)]
pub(super) enum PathProblem {
    Empty,
    /// Absolute, or `..` above the output folder.
    Leaves,
    /// The output folder itself (`.`, `x/..`).
    Folder,
    /// Inside `.advp`, advp's own folder (the cache).
    Cache,
    Control(char),
}

/// What a type mismatch suggests writing instead.
pub(super) enum Fix<'e> {
    /// A string argument.
    Quoted,
    /// A string in `resources { … }`.
    QuotedResource,
    Bool,
    OneOf(&'e [&'e str]),
    /// `inf` or `2` (and `1` where `l1`).
    Norm {
        l1: bool,
    },
    Position,
    /// `gaussian(σ)`.
    Noise,
    NumList,
    /// A plain value for a user's Python code.
    Plain,
    StrList,
    /// The name of a node of this kind.
    NodeOf(DeclKind),
    /// A split of this data node.
    SplitOf(&'e str),
    Split,
    Attack,
}

impl CheckError<'_> {
    /// The diagnostic for this error at `span` in `file`.
    pub(super) fn at(self, file: FileId, span: Span) -> Diagnostic {
        let w = self.wording();
        let d = Diagnostic::new(w.code, file, span, w.message).label(w.label);
        let d = match w.also {
            Some((s, text)) => d.also(s, text),
            None => d,
        };
        d.help(w.help)
    }
}
