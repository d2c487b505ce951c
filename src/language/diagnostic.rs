//! Diagnostics: one code per kind of mistake, a label at the exact span, a help line.
// miette's derive is not used here, but keep the lint quiet for derived fields (miette #458).
#![allow(unused_assignments)]

use super::ast::Span;
use super::source::{FileId, SourceMap};
use crate::util::printable;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde::Serialize;
use std::fmt;

macro_rules! codes {
    ($($variant:ident => $code:literal,)*) => {
        /// Every kind of error advp reports, each with a stable code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($variant,)* }
        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }
        }
    };
}

codes! {
    Unexpected => "advp::parse::unexpected",
    UnclosedDelimiter => "advp::parse::unclosed_delimiter",
    MismatchedDelimiter => "advp::parse::mismatched_delimiter",
    UnmatchedClose => "advp::parse::unmatched_close",
    UnterminatedString => "advp::parse::unterminated_string",
    InvalidEscape => "advp::parse::invalid_escape",
    InvalidCharacter => "advp::parse::invalid_character",
    InvalidNumber => "advp::parse::invalid_number",
    ReservedWord => "advp::parse::reserved_word",
    TooDeep => "advp::parse::too_deep",
    ImportNotFound => "advp::check::import_not_found",
    ImportCycle => "advp::check::import_cycle",
    UnknownName => "advp::check::unknown_name",
    UnknownFunction => "advp::check::unknown_function",
    DuplicateName => "advp::check::duplicate_name",
    ShadowsBuiltin => "advp::check::shadows_builtin",
    WrongKind => "advp::check::wrong_kind",
    UnknownArgument => "advp::check::unknown_argument",
    MissingArgument => "advp::check::missing_argument",
    DuplicateArgument => "advp::check::duplicate_argument",
    TooManyArguments => "advp::check::too_many_arguments",
    PositionalAfterNamed => "advp::check::positional_after_named",
    TypeMismatch => "advp::check::type_mismatch",
    InvalidChoice => "advp::check::invalid_choice",
    OutOfRange => "advp::check::out_of_range",
    RangeStep => "advp::check::range_step",
    RangeEnd => "advp::check::range_end",
    Empty => "advp::check::empty",
    UnknownField => "advp::check::unknown_field",
    NotCallable => "advp::check::not_callable",
    InlineNode => "advp::check::inline_node",
    UnknownStatement => "advp::check::unknown_statement",
    DuplicateStatement => "advp::check::duplicate_statement",
    UnknownMode => "advp::check::unknown_mode",
    MissingMode => "advp::check::missing_mode",
    UnexpectedEvery => "advp::check::unexpected_every",
    UnexpectedGrid => "advp::check::unexpected_grid",
    MissingGrid => "advp::check::missing_grid",
    UnknownOverride => "advp::check::unknown_override",
    UnknownProfile => "advp::check::unknown_profile",
    DuplicateProfile => "advp::check::duplicate_profile",
    DuplicateSetting => "advp::check::duplicate_setting",
    DuplicateSeed => "advp::check::duplicate_seed",
    InvalidClaim => "advp::check::invalid_claim",
    InvalidDevice => "advp::check::invalid_device",
    InvalidPrecision => "advp::check::invalid_precision",
    InvalidSet => "advp::check::invalid_set",
    ReportPath => "advp::check::report_path",
    BadResource => "advp::check::bad_resource",
    ReportFormat => "advp::check::report_format",
    ReportMode => "advp::check::report_mode",
    DivisionByZero => "advp::check::division_by_zero",
    TooComplex => "advp::check::too_complex",
    TooFewClasses => "advp::check::too_few_classes",
    Cycle => "advp::graph::cycle",
    Unsupported => "advp::run::unsupported",
    CannotRun => "advp::run::cannot_run",
    MissingStatement => "advp::run::missing_statement",
    MissingTool => "advp::run::missing_tool",
    NodeFailed => "advp::run::node_failed",
    RankLost => "advp::run::rank_lost",
    ShapeMismatch => "advp::run::shape_mismatch",
    TooLarge => "advp::run::too_large",
    BadOutput => "advp::run::bad_output",
    NoGradient => "advp::run::no_gradient",
    ForwardFailed => "advp::run::forward_failed",
    NotTorchscript => "advp::run::not_torchscript",
    EmptySplit => "advp::run::empty_split",
    NotAFile => "advp::run::not_a_file",
    ForeignFolder => "advp::run::foreign_folder",
    MissingFile => "advp::check::missing_file",
    TinyBudget => "advp::check::tiny_budget",
    FactoryArgument => "advp::check::factory_argument",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secondary label, in the same file as the primary one.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub file: FileId,
    pub span: Span,
    pub label: String,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    /// A warning informs and fails nothing (`advp check` still exits 0).
    pub warning: bool,
}

impl Diagnostic {
    pub fn new(code: Code, file: FileId, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            file,
            span,
            label: String::new(),
            secondary: Vec::new(),
            help: None,
            warning: false,
        }
    }
    /// The same diagnostic as a warning.
    pub fn warning(mut self) -> Self {
        self.warning = true;
        self
    }
    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.label = text.into();
        self
    }
    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }
    pub fn also(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// A miette report with its source attached, for rendering.
    ///
    /// Every text is shown with its control characters escaped (`\n`,
    /// `\u{1b}`, …), the source snippet too, so a string from a file or a
    /// path cannot start a line or drive the terminal.
    pub fn to_miette(&self, sources: &SourceMap) -> MietteDiagnostic {
        let file = sources.file(self.file);
        let (text, at) = shown_source(&file.text);
        let span = |s: Span| clamp(Span::new(at(s.start), at(s.end)), text.len());
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(printable(&self.label).into_owned()).filter(|l| !l.is_empty()),
            span(self.span),
        )];
        for l in &self.secondary {
            labels.push(LabeledSpan::new_with_span(
                Some(printable(&l.text).into_owned()),
                span(l.span),
            ));
        }
        MietteDiagnostic {
            code: self.code,
            message: printable(&self.message).into_owned(),
            help: self.help.as_deref().map(|h| printable(h).into_owned()),
            labels,
            source: NamedSource::new(printable(&file.name), text),
            warning: self.warning,
        }
    }

    /// Rendered as text: unicode, no colour, at the given width (what tests snapshot).
    pub fn render_plain(&self, sources: &SourceMap, width: usize) -> String {
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(width)
            .with_links(false);
        let mut out = String::new();
        handler
            .render_report(&mut out, &self.to_miette(sources))
            .expect("rendering into a String cannot fail");
        out
    }

    pub fn to_json(&self, sources: &SourceMap) -> JsonDiagnostic {
        let file = sources.file(self.file);
        let mut labels = vec![JsonLabel::new(file, self.span, &self.label, true)];
        labels.extend(
            self.secondary
                .iter()
                .map(|l| JsonLabel::new(file, l.span, &l.text, false)),
        );
        JsonDiagnostic {
            severity: if self.warning { "warning" } else { "error" },
            code: self.code.as_str(),
            message: self.message.clone(),
            file: file.name.clone(),
            help: self.help.clone(),
            labels,
        }
    }
}

/// A source as a diagnostic shows it: control characters escaped as
/// `escape_debug` writes them, except line ends (`\n`, `\r\n`) and tabs; and
/// where each byte offset of the original is in it.
fn shown_source(text: &str) -> (String, impl Fn(usize) -> usize + '_) {
    let raw = |i: usize, c: char| {
        !c.is_control() || c == '\n' || c == '\t' || (c == '\r' && text[i + 1..].starts_with('\n'))
    };
    let mut shown = String::with_capacity(text.len());
    // (offset in `text` of an escaped character's end, bytes added so far).
    let mut grown: Vec<(usize, usize)> = Vec::new();
    for (i, c) in text.char_indices() {
        if raw(i, c) {
            shown.push(c);
        } else {
            shown.extend(c.escape_debug());
            grown.push((i + c.len_utf8(), shown.len() - (i + c.len_utf8())));
        }
    }
    let at = move |off: usize| {
        let k = grown.partition_point(|&(end, _)| end <= off);
        off + k.checked_sub(1).map_or(0, |k| grown[k].1)
    };
    (shown, at)
}

fn clamp(span: Span, len: usize) -> miette::SourceSpan {
    let start = span.start.min(len);
    let end = span.end.clamp(start, len);
    (start, end - start).into()
}

#[derive(Serialize, Debug)]
pub struct JsonDiagnostic {
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub file: String,
    pub help: Option<String>,
    pub labels: Vec<JsonLabel>,
}

/// Lines and columns are 1-based; columns count characters.
#[derive(Serialize, Debug)]
pub struct JsonLabel {
    pub primary: bool,
    pub text: String,
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl JsonLabel {
    fn new(file: &super::source::SourceFile, span: Span, text: &str, primary: bool) -> Self {
        let (line, column) = file.line_col(span.start);
        let (end_line, end_column) = file.line_col(span.end);
        JsonLabel {
            primary,
            text: text.to_string(),
            start: span.start,
            end: span.end,
            line,
            column,
            end_line,
            end_column,
        }
    }
}

/// The miette face of a [`Diagnostic`].
#[derive(Debug)]
pub struct MietteDiagnostic {
    code: Code,
    message: String,
    help: Option<String>,
    labels: Vec<LabeledSpan>,
    source: NamedSource<String>,
    warning: bool,
}

impl fmt::Display for MietteDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MietteDiagnostic {}

impl miette::Diagnostic for MietteDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code.as_str()))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(if self.warning {
            miette::Severity::Warning
        } else {
            miette::Severity::Error
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.as_str()) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// The name among `candidates` closest to `name`, if it is close enough to be a likely typo.
pub fn nearest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (name.chars().count() / 3).max(1) + usize::from(name.len() > 6);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= limit && *c != name)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

/// Edit distance on characters, a swap of two neighbours counting as one edit.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// "a, b or c"
pub fn one_of<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{}`", s.as_ref())).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_matches_hand_counts() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("pgd_inf", "pgd_inf"), 0);
        assert_eq!(edit_distance("trian", "train"), 1);
    }

    #[test]
    fn nearest_finds_typos_but_not_strangers() {
        let names = ["curriculum", "adaptive", "fixed", "uniform"];
        assert_eq!(nearest("curiculum", names), Some("curriculum"));
        assert_eq!(nearest("fixd", names), Some("fixed"));
        assert_eq!(nearest("banana", names), None);
    }

    #[test]
    fn control_characters_in_a_diagnostic_are_shown_escaped() {
        let mut sources = SourceMap::default();
        let text = "data d = tensors(path: \"x\u{1b}[2J\ry\u{0}.st\")\r\nmodel m = n()\n";
        let file = sources.add("dir\nname.advp", None, text.to_string());
        let start = text.find("path").unwrap();
        let end = text.find(".st").unwrap() + 3;
        let m = text.find("model").unwrap();
        let d = Diagnostic::new(
            Code::MissingFile,
            file,
            Span::new(start, end),
            "cannot read \"x\u{1b}[2J\ry\0.st\"\nrm -rf ~",
        )
        .label("not\nthere")
        .also(Span::new(m, m + 5), "second\rlabel")
        .help("h\u{7}elp");
        let out = d.render_plain(&sources, 100);
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        for shown in [
            r#"cannot read "x\u{1b}[2J\ry\0.st"\nrm -rf ~"#,
            r"not\nthere",
            r"second\rlabel",
            r"h\u{7}elp",
            r"dir\nname.advp",
            r#"tensors(path: "x\u{1b}[2J\ry\0.st")"#,
        ] {
            assert!(out.contains(shown), "{shown} missing from\n{out}");
        }
        assert!(!out.lines().any(|l| l.starts_with("rm -rf")), "{out}");
        // Each label still points at its text, past the escapes.
        assert!(out.contains("model m = n()"), "{out}");
    }

    #[test]
    fn a_shown_source_keeps_every_span_on_its_text() {
        let text = "a \"x\u{1b}[2J\ry\u{0}\u{9b}z\" b\r\nc\r d\n";
        let (shown, at) = shown_source(text);
        assert_eq!(shown, "a \"x\\u{1b}[2J\\ry\\0\\u{9b}z\" b\r\nc\\r d\n");
        for word in ["a", "x", "[2J", "y", "z", "b", "c", "d"] {
            let i = text.find(word).unwrap();
            assert_eq!(&shown[at(i)..at(i + word.len())], word);
        }
        assert_eq!(at(text.len()), shown.len());
    }

    #[test]
    fn codes_are_unique_and_namespaced() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(c.as_str().starts_with("advp::"));
        }
    }
}
