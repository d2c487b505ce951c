//! Why a node cannot be lowered, worded in one place: what the file asks
//! for and cannot run as written ([`LowerError::CannotRun`], with the fix),
//! a statement the node cannot do without ([`LowerError::MissingStatement`]),
//! or a checked program the lowering does not know ([`LowerError::Bug`]), a
//! bug in advp rather than in the file. Each kind has its diagnostic code.

use crate::language::diagnostic::Code;

/// A node the lowering refuses, and why.
#[derive(Debug, thiserror::Error)]
pub enum LowerError {
    /// The file's own combination that cannot run; `help` says what to write.
    #[error("{message}")]
    CannotRun { message: String, help: String },
    /// A statement the node cannot run without and the table gives no
    /// default; `help` says what to write.
    #[error("{message}")]
    MissingStatement { message: String, help: String },
    /// What the checker accepts and the lowering should take.
    #[error(transparent)]
    Bug(#[from] Bug),
}

/// A checked program the lowering does not know: a bug in advp, not in the file.
#[derive(Debug, thiserror::Error)]
pub enum Bug {
    /// An argument the checker should have filled from the table.
    #[error("`{builtin}` is missing its `{key}` argument (the checker fills every default)")]
    MissingArgument { builtin: &'static str, key: String },
    /// An argument of another type than the table's.
    #[error("`{builtin}`'s `{key}` must be {want}, not {value}")]
    BadArgument {
        builtin: &'static str,
        key: String,
        value: String,
        want: String,
    },
    /// A built-in or a choice word this version does not execute.
    #[error("{what} is not executed")]
    NotExecuted { what: String },
    /// A reference to no node of the program.
    #[error("`{name}` is not a node of this program")]
    NoSuchNode { name: String },
    /// A reference to a node of another kind than the argument takes.
    #[error("`{name}` is not {kind}")]
    WrongKind { name: String, kind: &'static str },
    /// Anything else the lowering did not expect, in words.
    #[error("{0}")]
    Other(String),
}

/// The name the lowering's code uses (`Refusal::cannot(…)`, `R<T>`).
pub type Refusal = LowerError;

impl LowerError {
    /// The file's own combination that cannot run; `help` says what to write.
    pub fn cannot(message: impl Into<String>, help: impl Into<String>) -> Self {
        LowerError::CannotRun {
            message: message.into(),
            help: help.into(),
        }
    }

    /// A statement the node cannot run without and the table gives no
    /// default; `help` says what to write.
    pub fn missing(message: impl Into<String>, help: impl Into<String>) -> Self {
        LowerError::MissingStatement {
            message: message.into(),
            help: help.into(),
        }
    }

    /// What the checker accepts and the lowering should take: a bug in advp.
    pub fn bug(message: impl Into<String>) -> Self {
        LowerError::Bug(Bug::Other(message.into()))
    }

    /// `what` (a built-in or a choice word) is not executed by this version.
    pub fn not_executed(what: impl Into<String>) -> Self {
        LowerError::Bug(Bug::NotExecuted { what: what.into() })
    }

    /// The diagnostic code of this kind.
    pub fn code(&self) -> Code {
        match self {
            LowerError::CannotRun { .. } => Code::CannotRun,
            LowerError::MissingStatement { .. } => Code::MissingStatement,
            LowerError::Bug(_) => Code::Unsupported,
        }
    }

    /// The label at the node's name.
    pub fn label(&self, node: &str) -> String {
        match self {
            LowerError::CannotRun { .. } => format!("`{node}` cannot run as written"),
            LowerError::MissingStatement { .. } => format!("`{node}` has nothing to search"),
            LowerError::Bug(_) => format!("while preparing `{node}`"),
        }
    }

    /// What to do about it.
    pub fn help(&self) -> &str {
        match self {
            LowerError::CannotRun { help, .. } | LowerError::MissingStatement { help, .. } => help,
            LowerError::Bug(_) => BUG_HELP,
        }
    }
}

/// The help of a refusal that is advp's fault, not the file's.
pub const BUG_HELP: &str = "the file checks, so this is a bug in advp, not in the file: please send the pipeline to advp's maintainers; the other nodes still run with `advp run --only NODE`";
