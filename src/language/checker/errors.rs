//! Every mistake the checker reports, as data: one variant per kind of error with the
//! facts it needs, and one `match` ([`CheckError::at`]) that gives each its code,
//! message, label, secondary label and help. (Converted file by file: the references,
//! rules, statements and reports files still build `Diagnostic`s inline.)

use super::suggest::hint_then;
use super::util::article;
use crate::language::ast::{DeclKind, Span};
use crate::language::builtins::Ty;
use crate::language::diagnostic::{one_of, Code, Diagnostic};
use crate::language::schedule::MAX_RANGE_VALUES;
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
    UnknownDevice {
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
        help: &'e str,
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
}

impl CheckError<'_> {
    /// The diagnostic for this error at `span` in `file`.
    pub(super) fn at(self, file: FileId, span: Span) -> Diagnostic {
        use CheckError as E;
        let mut also: Option<(Span, &str)> = None;
        let (code, message, label, help): (Code, String, String, String) = match self {
            E::DuplicateSetting { key, first } => {
                also = Some((first, "first set here"));
                (
                    Code::DuplicateSetting,
                    format!("`{key}` is set twice"),
                    "set again here".into(),
                    "keep one; a profile or `--set` can change it for one run".into(),
                )
            }
            E::DuplicateProfile { name, first, first_at } => {
                also = first.map(|s| (s, "first defined here"));
                (
                    Code::DuplicateProfile,
                    format!("profile `{name}` is defined twice"),
                    "defined again here".into(),
                    format!("merge the two, or rename one (the first is at {first_at})"),
                )
            }
            E::ShadowsBuiltin { name } => (
                Code::ShadowsBuiltin,
                format!("`{name}` is the name of a built-in"),
                "this name would hide the built-in".into(),
                format!(
                    "choose another name, e.g. `my_{name}`; calls such as `{name}(…)` then still reach the built-in"
                ),
            ),
            E::DuplicateName { name, first, first_at } => {
                also = first.map(|s| (s, "first declared here"));
                (
                    Code::DuplicateName,
                    format!("`{name}` is declared twice"),
                    "declared again here".into(),
                    format!(
                        "names are unique across a file and its imports; rename one (the first is at {first_at})"
                    ),
                )
            }
            E::UnknownProfile { name, hint, mut defined } => {
                defined.sort();
                let help = match hint {
                    Some(h) => h,
                    None if defined.is_empty() => "this file defines no profiles".to_string(),
                    None => format!("this file defines {}", one_of(&defined)),
                };
                (
                    Code::UnknownProfile,
                    format!("no profile named `{name}`"),
                    "unknown profile".into(),
                    help,
                )
            }
            E::ReplacesNothing { profile, name, hint } => (
                Code::UnknownOverride,
                format!("profile `{profile}` replaces `{name}`, which is not declared"),
                "replaces nothing".into(),
                match hint {
                    Some(h) => format!("{h} a profile replaces declarations of the same name"),
                    None => "a profile replaces declarations of the same name; declare the node outside the profile first".to_string(),
                },
            ),
            E::ProfileChangesKind { name, old, new } => (
                Code::WrongKind,
                format!("`{name}` is a {old} node, but the profile declares it as {new}"),
                format!("expected `{old}`"),
                format!("write `{old} {name} = …`"),
            ),
            E::OverrideParts => (
                Code::UnknownOverride,
                "an override names two parts".into(),
                "expected `kind.argument` or `node.argument`".into(),
                "write e.g. `train.epochs = 8` (every train node) or `at.epochs = 8` (one node)".into(),
            ),
            E::OverrideTarget { head, hint } => (
                Code::UnknownOverride,
                format!("`{head}` names no node and no kind"),
                "overrides nothing".into(),
                hint.unwrap_or_else(|| {
                    "name a declaration (`at.epochs`) or a kind (`train.epochs`)".to_string()
                }),
            ),
            E::OverrideArgument { head, arg, is_stmt, hint, accepted } => {
                let help = if is_stmt {
                    format!("`{arg}` is a block statement; overrides set arguments — replace the declaration in the profile instead")
                } else if let Some(h) = hint {
                    h
                } else if accepted.is_empty() {
                    format!("there is no `{head}` node to override")
                } else {
                    format!("the arguments are {}", one_of(&accepted))
                };
                (
                    Code::UnknownOverride,
                    format!("no `{head}` takes an argument `{arg}`"),
                    "overrides nothing".into(),
                    help,
                )
            }
            E::SetWithoutEquals => (
                Code::InvalidSet,
                "`--set` takes `key=value`".into(),
                "no `=` here".into(),
                "write e.g. `--set train.epochs=2` or `--set seed=3`".into(),
            ),
            E::SetNotAName { part } => (
                Code::InvalidSet,
                format!("`{part}` is not a name"),
                "expected a name".into(),
                "keys look like `seed`, `train.epochs` or `at.lr`".into(),
            ),
            E::SetUnknownSetting { key, hint } => (
                Code::InvalidSet,
                format!("`{key}` is not a setting"),
                "unknown setting".into(),
                hint.unwrap_or_else(|| "a one-part key is `seed`, `threads` or `device`; arguments are `kind.argument` or `node.argument`".into()),
            ),
            E::UnknownDevice { name, hint } => (
                Code::InvalidDevice,
                format!("unknown device `{name}`"),
                "not a device".into(),
                hint_then(hint, "devices are `auto`, `cpu`, `cuda` and `cuda:N`".to_string()),
            ),
            E::NotWhole { what, v } => (
                Code::TypeMismatch,
                format!("{what} must be a whole number"),
                format!("found {v}"),
                format!("write {}", v.round()),
            ),
            E::OutOfRange { what, v, lo, hi, eps_units } => {
                // Counts have no real upper bound; say "at least" rather than print it.
                let (message, label, help) = if v < lo && hi >= 1e9 {
                    (
                        format!("{what} must be at least {lo}"),
                        format!("{v} is too small"),
                        format!("use {lo} or more"),
                    )
                } else {
                    let unit = if eps_units {
                        " (budgets and step sizes are in 0..255 pixel units: `eps 8` means 8/255)"
                    } else {
                        ""
                    };
                    (
                        format!("{what} must be between {lo} and {hi}"),
                        format!("{v} is out of range"),
                        format!("use a value from {lo} to {hi}{unit}"),
                    )
                };
                (Code::OutOfRange, message, label, help)
            }
            E::DivisionByZero => (
                Code::DivisionByZero,
                "division by zero".into(),
                "this is zero".into(),
                "divide by a non-zero number".into(),
            ),
            E::NotANumber { found } => (
                Code::TypeMismatch,
                format!("expected a number, found {found}"),
                "not a number".into(),
                "write a number such as `8` or `0.25`, or arithmetic of numbers".into(),
            ),
            E::NotAnIntChoice { what, v, choices } => (
                Code::InvalidChoice,
                format!("{what} cannot be {v}"),
                "not an accepted value".into(),
                format!("use {}", one_of(&choices)),
            ),
            E::BadNorm { text } => (
                Code::InvalidChoice,
                format!("`norm` cannot be {text}"),
                "not a supported norm".into(),
                "use `inf` or `2`".into(),
            ),
            E::ListLength { what, n, found, default } => (
                Code::TypeMismatch,
                format!("{what} takes {n} numbers, found {found}"),
                format!("{found} numbers"),
                format!("write {n} numbers, e.g. the default `{default}`"),
            ),
            E::NoModels => (
                Code::Empty,
                "no models to evaluate".into(),
                "empty list".into(),
                "list the models, e.g. `[benign, at]`".into(),
            ),
            E::Mismatch { expected, found, help } => (
                Code::TypeMismatch,
                format!("expected {}, found {found}", expected.describe()),
                format!("expected {}", expected.describe()),
                help.to_string(),
            ),
            E::BadChoice { what, word, hint, choices } => (
                Code::InvalidChoice,
                format!("{what} cannot be `{word}`"),
                "not an accepted value".into(),
                hint_then(hint, format!("{what} is one of {}", one_of(choices))),
            ),
            E::EmptyValues { what } => (
                Code::Empty,
                format!("{what} is empty"),
                "no values".into(),
                "give at least one value, e.g. `[0, 4, 8]` or `0..12 step 2`".into(),
            ),
            E::RangeStep { start, end, step, zero } => (
                Code::RangeStep,
                "a range step must be positive".into(),
                "the step's size goes here; the direction comes from the ends".into(),
                if zero {
                    "use a step greater than 0".to_string()
                } else {
                    format!("write `{start}..{end} step {}`", step.trim_start_matches('-'))
                },
            ),
            E::RangeEnd { start, end, step, last, next } => (
                Code::RangeEnd,
                format!("steps of {step} from {start} never land on {end}"),
                format!("stops at {last}, then {next}"),
                format!(
                    "ranges include both ends: write `{start}..{last} step {step}` or `{start}..{next} step {step}`"
                ),
            ),
            E::RangeTooMany { n } => (
                Code::OutOfRange,
                format!("this range has {n} values"),
                "too many values".into(),
                format!("use a larger step; at most {MAX_RANGE_VALUES} values"),
            ),
            E::NoBlock { what } => (
                Code::UnknownStatement,
                format!("{what} takes no block"),
                "unexpected block".into(),
                "remove the `{ … }`".into(),
            ),
            E::Cycle { path } => (
                Code::Cycle,
                format!("dependency cycle: {}", path.join(" → ")),
                "this reference closes the cycle".into(),
                "a declaration cannot depend on itself; break the cycle by calling a built-in directly".into(),
            ),
            E::NeedsCall { kind, name, found } => {
                let example = match kind {
                    DeclKind::Data => "synthetic(classes: 10)",
                    DeclKind::Model => "c3d_small(classes: 10)",
                    DeclKind::Attack => "pgd(steps: 10)",
                    DeclKind::Defense => "video_compression(crf: 28)",
                    DeclKind::Train => "standard(net, data)",
                    DeclKind::Eval => "robustness([net], data.test)",
                    DeclKind::Analyze => "loss_surface(net, data.test)",
                    DeclKind::Rule => "0.2 * (eps + 1)",
                };
                (
                    Code::TypeMismatch,
                    format!("a `{kind}` declaration needs a call, found {found}"),
                    "expected a call".into(),
                    format!("write e.g. `{kind} {name} = {example}`"),
                )
            }
            E::NotCallable { name, kind } => (
                Code::NotCallable,
                format!("`{name}` is a {kind} node and cannot be called"),
                "not callable".into(),
                format!("pass `{name}` as a value, without `(…)`"),
            ),
            E::UnknownFunction { name, hint, mut builtins } => (
                Code::UnknownFunction,
                format!("unknown function `{name}`"),
                "not a built-in or a declared preset".into(),
                hint.unwrap_or_else(|| {
                    builtins.sort();
                    format!("the built-ins here are {}", one_of(&builtins))
                }),
            ),
            E::MakesWrongKind { name, makes, wanted } => (
                Code::WrongKind,
                format!("`{name}` makes {}, not {}", article(makes), article(wanted)),
                format!("a {makes} built-in"),
                format!("declare it as `{makes} … = {name}(…)`, or call a {wanted} built-in"),
            ),
            E::PositionalAfterNamed { named } => {
                also = Some((named, "named argument before it"));
                (
                    Code::PositionalAfterNamed,
                    "a positional argument after a named one".into(),
                    "positional".into(),
                    "put positional arguments first, or name this one".into(),
                )
            }
            E::TooManyArguments { shown, params } => (
                Code::TooManyArguments,
                format!(
                    "`{shown}` takes at most {} argument{}",
                    params.len(),
                    if params.len() == 1 { "" } else { "s" }
                ),
                "one too many".into(),
                format!("its arguments are {}", one_of(&params)),
            ),
            E::UnknownArgument { shown, name, hint, params } => (
                Code::UnknownArgument,
                format!("`{shown}` has no argument `{name}`"),
                "unknown argument".into(),
                hint_then(hint, format!("`{shown}` takes {}", one_of(&params))),
            ),
            E::DuplicateArgument { name, first } => {
                also = Some((first, "first given here"));
                (
                    Code::DuplicateArgument,
                    format!("`{name}` is given twice"),
                    "given again here".into(),
                    "keep one of them".into(),
                )
            }
            E::MissingArgument { shown, name, ty, doc } => (
                Code::MissingArgument,
                format!("`{shown}` needs the argument `{name}`"),
                format!("`{name}` missing"),
                format!("add `{name}: …` ({}: {doc})", ty.describe()),
            ),
        };
        let d = Diagnostic::new(code, file, span, message).label(label);
        let d = match also {
            Some((s, text)) => d.also(s, text),
            None => d,
        };
        d.help(help)
    }
}
