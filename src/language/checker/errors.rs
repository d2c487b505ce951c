//! Every mistake the checker reports, as data: one variant per kind of error with the
//! facts it needs, and one `match` ([`CheckError::at`]) that gives each its code,
//! message, label, secondary label and help. (Converted file by file: so far collecting,
//! profiles, `--set` and settings; the other files still build `Diagnostic`s inline.)

use super::suggest::hint_then;
use crate::language::ast::{DeclKind, Span};
use crate::language::diagnostic::{one_of, Code, Diagnostic};
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
        };
        let d = Diagnostic::new(code, file, span, message).label(label);
        let d = match also {
            Some((s, text)) => d.also(s, text),
            None => d,
        };
        d.help(help)
    }
}
