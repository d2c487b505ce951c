//! The checker's wording, in one place: for each [`CheckError`] its code, message,
//! label, secondary label and help. The "did you mean" part of a help comes from
//! `suggest`.

use super::errors::{CheckError, Fix, PathProblem};
use super::suggest::{did_you_mean, hint_then};
use super::util::article;
use crate::language::ast::{DeclKind, Span};
use crate::language::diagnostic::{one_of, Code};
use crate::language::schedule::MAX_RANGE_VALUES;

/// What one diagnostic says; [`CheckError::at`] places it at a span.
pub(super) struct Wording {
    pub code: Code,
    pub message: String,
    pub label: String,
    pub help: String,
    /// A secondary label in the same file, such as "first given here".
    pub also: Option<(Span, &'static str)>,
}

impl CheckError<'_> {
    /// Each kind's code, message, label, secondary label and help.
    pub(super) fn wording(self) -> Wording {
        use CheckError as E;
        let mut also: Option<(Span, &'static str)> = None;
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
                hint.unwrap_or_else(|| "a one-part key is `seed`, `seeds`, `threads` or `device`; arguments are `kind.argument` or `node.argument`".into()),
            ),
            E::DuplicateSeed { seed, first } => {
                also = Some((first, "first here"));
                (
                    Code::DuplicateSeed,
                    format!("seed {seed} is listed twice"),
                    "again here".into(),
                    "list each seed once: each is one replicate of every computed node".into(),
                )
            }
            E::ClaimCondition { key, hint } => (
                Code::InvalidClaim,
                format!("`at {key}` is not a condition of `compare`"),
                "unknown condition".into(),
                hint_then(hint, "a claim is compared `at eps N` (a budget column) and/or `at attack NAME` (a column of `attacks each`), e.g. `compare a > b at eps 8`".to_string()),
            ),
            E::ClaimSide { side, eval, hint, models } => (
                Code::InvalidClaim,
                format!("`{side}` is not a model of `{eval}`"),
                "not a row of this evaluation".into(),
                hint_then(hint, format!("a claim compares two rows of the evaluation: {}", models.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "))),
            ),
            E::ClaimForm => (
                Code::InvalidClaim,
                "`compare` needs two models and `>` or `<` between them".into(),
                "not a claim".into(),
                "write e.g. `compare cat_up > cat_down at eps 8`".into(),
            ),
            E::ClaimSame { side } => (
                Code::InvalidClaim,
                format!("`compare` needs two different models; both sides are `{side}`"),
                "the same row".into(),
                "compare one model with another, e.g. `compare at > benign at eps 8`".into(),
            ),
            E::ClaimAttack { found } => (
                Code::InvalidClaim,
                format!("`at attack` takes an attack's name, not {found}"),
                "not a name".into(),
                "write the column's attack as in `attacks each {…}`, e.g. `at attack flicker`".into(),
            ),
            E::ClaimOutsideEval { builtin } => (
                Code::InvalidClaim,
                format!("`{builtin}` has no claims to test"),
                "`compare` is here".into(),
                "`compare` statements go in a `robustness` evaluation's block".into(),
            ),
            E::UnknownDevice { name, hint } => (
                Code::InvalidDevice,
                format!("unknown device `{name}`"),
                "not a device".into(),
                hint_then(hint, "devices are `auto`, `cpu`, `cuda` and `cuda:N`".to_string()),
            ),
            E::UnknownPrecision { name, hint } => (
                Code::InvalidPrecision,
                format!("unknown precision `{name}`"),
                "not a precision".into(),
                hint_then(hint, "precisions are `fp32`, `bf16` and `fp16`".to_string()),
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
                    let pixels = matches!(what, "`mean`" | "`std`") && v > hi && v <= 255.0;
                    let unit = if eps_units {
                        " (budgets and step sizes are in 0..255 pixel units: `eps 8` means 8/255)".to_string()
                    } else if pixels {
                        format!(
                            " (`mean` and `std` are in [0, 1] pixel units, as advp's clips: {v}/255 is {:.4})",
                            v / 255.0
                        )
                    } else {
                        String::new()
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
            E::BadNorm { text, l1 } => (
                Code::InvalidChoice,
                format!("`norm` cannot be {text}"),
                "not a supported norm".into(),
                Fix::Norm { l1 }.wording(),
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
            E::Mismatch {
                expected,
                found,
                fix,
            } => (
                Code::TypeMismatch,
                format!("expected {}, found {found}", expected.describe()),
                format!("expected {}", expected.describe()),
                fix.wording(),
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
            E::NameNotNumber => (
                Code::TypeMismatch,
                "expected a whole number, found a name".into(),
                "expected a whole number".into(),
                "write a number, or a data field such as `ucf.classes`".into(),
            ),
            E::SplitNotNumber { node, field } => (
                Code::TypeMismatch,
                format!("`{node}.{field}` is a split, not a number"),
                "a split".into(),
                did_you_mean(format_args!("{node}.classes")),
            ),
            E::UnknownField { node, field, builtin, nearest, fields } => {
                let help = if fields.is_empty() {
                    format!("`{node}` ({builtin}) has no fields")
                } else if let Some(n) = nearest {
                    did_you_mean(format_args!("{node}.{n}"))
                } else {
                    let dotted: Vec<String> = fields.iter().map(|n| format!(".{n}")).collect();
                    format!("`{node}` has {}", one_of(&dotted))
                };
                (
                    Code::UnknownField,
                    format!("`{node}` has no field `{field}`"),
                    "unknown field".into(),
                    help,
                )
            }
            E::UnknownName { name, hint, kind } => (
                Code::UnknownName,
                format!("unknown name `{name}`"),
                "not declared".into(),
                hint.unwrap_or_else(|| {
                    format!("declare it, e.g. `{kind} {name} = …`, or `use` the file that does")
                }),
            ),
            E::ExpectedKind { name, wanted, found } => {
                let articles: Vec<String> = wanted.iter().map(|k| article(*k)).collect();
                let help = match wanted.first() {
                    Some(DeclKind::Model) => {
                        "a model is a `model` or `train` node, or `defense >> model`".to_string()
                    }
                    Some(k) => format!("pass a node declared with `{k}` here"),
                    None => String::new(),
                };
                (
                    Code::WrongKind,
                    format!(
                        "expected {}, but `{name}` is {}",
                        articles.join(" or "),
                        article(found)
                    ),
                    format!("{found} node"),
                    help,
                )
            }
            E::InlineNode { kind, callee } => (
                Code::InlineNode,
                format!("{} cannot be made inline", article(kind)),
                "inline call".into(),
                format!("declare it on its own line, `{kind} my_{callee} = {callee}(…)`, and pass `my_{callee}` here"),
            ),
            E::DataNotSplit { data } => (
                Code::TypeMismatch,
                format!("expected a split, found the data `{data}`"),
                "which split?".into(),
                format!("write `{data}.test`, `{data}.val` or `{data}.train`"),
            ),
            E::UnknownAttack { name, hint } => (
                Code::UnknownName,
                format!("unknown attack `{name}`"),
                "not an attack".into(),
                hint.unwrap_or_else(|| "name an attack declared with `attack`, a built-in attack, or `use \"stdlib/attacks.advp\"` for the presets".to_string()),
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
            E::NotARule { name, kind } => (
                Code::WrongKind,
                format!("`{name}` is {}, not a step-size rule", article(kind)),
                format!("{kind} node"),
                "a step size is arithmetic of `eps`, numbers, `rule` names and `step_fit` analyses".into(),
            ),
            E::UnknownRuleName { name, hint } => (
                Code::UnknownName,
                format!("unknown name `{name}` in a step-size rule"),
                "not a rule".into(),
                hint.unwrap_or_else(|| "a step size uses `eps`, numbers and rules such as `optimal` (from `use \"stdlib/rules.advp\"`)".to_string()),
            ),
            E::NotRuleExpr { found } => (
                Code::TypeMismatch,
                format!("expected a step-size rule, found {found}"),
                "not arithmetic of `eps`".into(),
                "write e.g. `eps`, `0.2 * (eps + 1)`, `optimal / 2` or `1.5`".into(),
            ),
            E::UnknownStatement { builtin, key, hint, keys } => (
                Code::UnknownStatement,
                format!("`{builtin}` has no statement `{key}`"),
                "unknown statement".into(),
                hint_then(hint, format!("`{builtin}` takes {}", one_of(&keys))),
            ),
            E::DuplicateStatement { key, first } => {
                also = Some((first, "first here"));
                (
                    Code::DuplicateStatement,
                    format!("`{key}` is given twice"),
                    "again here".into(),
                    "keep one statement per block".into(),
                )
            }
            E::UnknownMode { key, mode, builtin, elsewhere, hint, modes } => (
                Code::UnknownMode,
                format!("`{key} {mode}` is not a schedule of `{builtin}`"),
                "unknown mode".into(),
                if elsewhere {
                    format!("`{key}` in `{builtin}` takes {}", one_of(modes))
                } else {
                    hint_then(hint, format!("`{key}` takes {}", one_of(modes)))
                },
            ),
            E::UnexpectedEvery { key, mode } => (
                Code::UnexpectedEvery,
                format!("`{key} {mode}` takes no `every`"),
                "unexpected `every`".into(),
                "`every N` belongs to `curriculum` and `adaptive`, which change over epochs; remove it".into(),
            ),
            E::ExpectedAttackSet { found } => (
                Code::TypeMismatch,
                format!("expected a set of attacks, found {found}"),
                "expected `{…}`".into(),
                "write e.g. `{masked_pgd, frame_border}`".into(),
            ),
            E::NoAttacks => (
                Code::Empty,
                "no attacks listed".into(),
                "empty".into(),
                "list at least one attack".into(),
            ),
            E::MissingMode { key, modes, value } => {
                let example = match value {
                    Some(v) => format!("`{key} {} {v}`", modes[0]),
                    None => format!("`{key} {} …`", modes[0]),
                };
                (
                    Code::MissingMode,
                    format!("`{key}` needs a schedule mode"),
                    "no mode".into(),
                    format!("write {example}; the modes here are {}", one_of(modes)),
                )
            }
            E::MissingGrid { key } => (
                Code::MissingGrid,
                format!("`{key}` here is an axis of values"),
                "expected `grid` before the values".into(),
                format!(
                    "write `{key} grid {}`",
                    if key == "alpha" { "0.25..16 step 0.25" } else { "1..20" }
                ),
            ),
            E::UnexpectedGrid { key } => (
                Code::UnexpectedGrid,
                format!("`{key}` takes no grid here"),
                "unexpected `grid`".into(),
                "grids are for analyses (`loss_surface`, `step_fit`); remove `grid`".into(),
            ),
            E::StepsNotWhole { bad } => (
                Code::TypeMismatch,
                "steps must be whole numbers".into(),
                format!("{bad} is not whole"),
                "write e.g. `steps grid 1..20`".into(),
            ),
            E::ExpectedResources { found } => (
                Code::TypeMismatch,
                format!("expected a record of resources, found {found}"),
                "expected `{ key: value, … }`".into(),
                "write e.g. `resources { gpus: 1, time: \"12:00:00\" }`".into(),
            ),
            E::UnknownResource { name, hint, keys } => (
                Code::UnknownArgument,
                format!("unknown resource `{name}`"),
                "unknown resource".into(),
                hint_then(hint, format!("resources are {}", one_of(keys))),
            ),
            E::BadResource { field, value } => (
                Code::BadResource,
                field.check(value).err().unwrap_or_default(),
                format!("not a Slurm {}", field.noun()),
                field.form().into(),
            ),
            E::FixedDefenseReport { name } => (
                Code::WrongKind,
                format!("`{name}` is a fixed defense: it has no results to report"),
                "nothing to report".into(),
                "report an `eval` that uses it (`eval e = robustness([d >> model], …)`), or a trained defense such as `ape_gan`".into(),
            ),
            E::ReportClash {
                path,
                first,
                first_at,
                page,
            } => {
                also = first.map(|s| (s, "first written here"));
                (
                    Code::ReportPath,
                    format!("two reports write `{path}`"),
                    "written again here".into(),
                    if page {
                        format!("`{path}` is the pipeline's own HTML page, written after every run; name this report otherwise")
                    } else {
                        format!("one would overwrite the other (the first is at {first_at}); give each report its own path")
                    },
                )
            }
            E::UnknownReportMode { mode, hint } => (
                Code::ReportMode,
                format!("unknown report `{mode}`"),
                "unknown report mode".into(),
                match hint {
                    Some(h) => format!("{h} a report is `to` (tables and figures), `adversarial to`, `examples to`, `per_clip to`, `model_info to` or `weights to`"),
                    None => "a report is `report x to …`, or `adversarial`, `examples`, `per_clip`, `model_info` or `weights` before `to`".to_string(),
                },
            ),
            E::ReportModeNeedsEval {
                mode: "weights",
                target,
                kind,
            } => (
                Code::ReportMode,
                format!(
                    "`weights` reports come from trainings, and `{target}` is {}",
                    article(kind)
                ),
                "needs a train node".into(),
                "report a `train` node's (or an `ape_gan` defense's) trained weights".to_string(),
            ),
            E::ReportModeNeedsEval { mode, target, kind } => (
                Code::ReportMode,
                format!(
                    "`{mode}` reports come from evaluations, and `{target}` is {}",
                    article(kind)
                ),
                "needs an eval node".into(),
                format!("report an `eval` node's {mode} clips"),
            ),
            E::ReportPath { problem } => report_path(problem),
            E::ReportFormat { kind, target, ext, formats } => {
                let what = match formats {
                    [""] => "a folder name without an extension".to_string(),
                    f => one_of(&f.iter().map(|x| format!(".{x}")).collect::<Vec<_>>()),
                };
                (
                    Code::ReportFormat,
                    format!("cannot write {} `{target}` as `.{ext}`", article(kind)),
                    "unsupported format".into(),
                    format!("use {what}"),
                )
            }
            E::BadStep { rule, eps, alpha } => (
                Code::OutOfRange,
                format!("the step size `{rule}` is {alpha} at the budget ε = {eps}"),
                format!("α = {alpha} at ε = {eps}"),
                "a step size must be a finite number of 0 or more at every budget the node runs: a negative step walks away from the adversary, and PGD then reports a robustness it does not have; write the rule so it stays ≥ 0, e.g. `alpha eps / 4`".into(),
            ),
            E::TooComplex { name, nodes } => match nodes {
                Some(n) => (
                    Code::TooComplex,
                    format!(
                        "the step size `{name}` takes {n} operations to evaluate, more than {}",
                        super::rules::MAX_RULE_NODES
                    ),
                    "too complex".into(),
                    "a step size needs a few operations of `eps`: write it directly, e.g. `rule r = 0.2 * (eps + 1)`".into(),
                ),
                None => (
                    Code::TooComplex,
                    format!(
                        "the rule `{name}` is reached through more than {} other rules",
                        super::rules::MAX_RULE_DEPTH
                    ),
                    "nested too deep".into(),
                    "write the step size with fewer rules in between, e.g. `rule r = 0.2 * (eps + 1)`".into(),
                ),
            },
            E::BorderDoesNotFit { node, ratio, data, size, why, min } => (
                Code::OutOfRange,
                format!("`{node}` runs `frame_border(ratio: {ratio})` on `{data}`: {why}"),
                format!("`{data}` has {size}×{size} frames"),
                format!(
                    "a one-pixel border of a {size}×{size} frame covers {min:.4} of it: use `ratio` ≥ {min:.4}, or larger frames"
                ),
            ),
        };
        Wording {
            code,
            message,
            label,
            help,
            also,
        }
    }
}

/// A refused report path: code, message, label and help.
fn report_path(problem: PathProblem) -> (Code, String, String, String) {
    let inside = "a report path must stay inside the output folder";
    let (message, label, help) = match problem {
        PathProblem::Empty => (inside.to_string(), "empty path".to_string(), None),
        PathProblem::Leaves => (inside.to_string(), "leaves the output folder".to_string(), None),
        PathProblem::Folder => (
            "a report path must name a file or folder inside the output folder, not the folder itself".to_string(),
            "the output folder itself".to_string(),
            Some("name a folder of its own, e.g. \"examples\": an examples report replaces its folder whole".to_string()),
        ),
        PathProblem::Cache => (
            "a report path must not lead into `.advp`, advp's own folder (the cache)".to_string(),
            "inside `.advp`".to_string(),
            Some("write the report elsewhere, e.g. \"tables/e.md\"".to_string()),
        ),
        PathProblem::Control(c) => (
            "a report path must not hold control characters".to_string(),
            format!("holds {}", c.escape_default()),
            Some("write the name without tabs or line breaks, e.g. \"table2.md\"".to_string()),
        ),
    };
    (
        Code::ReportPath,
        message,
        label,
        help.unwrap_or_else(|| {
            "write a path relative to the output folder, without `..`, e.g. \"table2.md\"".into()
        }),
    )
}

impl Fix<'_> {
    /// The help line of a type mismatch.
    fn wording(self) -> String {
        match self {
            Fix::Quoted => "write it in double quotes: \"…\"".into(),
            Fix::QuotedResource => "write it in double quotes, e.g. `time: \"12:00:00\"`".into(),
            Fix::Bool => "write `true` or `false`".into(),
            Fix::OneOf(choices) => format!("write one of {}", one_of(choices)),
            Fix::Norm { l1: false } => "use `inf` or `2`".into(),
            Fix::Norm { l1: true } => "use `inf`, `2` or `1`".into(),
            Fix::Position => "write `random`, `top_left`, `center` or `[y, x]` in pixels".into(),
            Fix::Noise => "write `noise: gaussian(0.25)`: Gaussian noise of σ 0.25 in [0, 1] pixel units".into(),
            Fix::NumList => "write a list such as `[0.7, 0.3]`".into(),
            Fix::Plain => "write a number, a string in double quotes, `true`/`false`, or a list of them: the factory receives it as written".into(),
            Fix::StrList => "write a list of quoted paths such as `[\"lib/\", \"blocks.py\"]`".into(),
            Fix::NodeOf(kind) => format!("pass the name of {} node", article(kind)),
            Fix::SplitOf(data) => format!("write `{data}.test` (or `.train`, `.val`)"),
            Fix::Split => "write e.g. `ucf.test`".into(),
            Fix::Attack => "name an attack, e.g. `pgd_inf` or `pgd(steps: 10)`".into(),
        }
    }
}
