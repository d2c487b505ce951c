//! `parse(src) -> Module`: a lexical pre-scan, the pest grammar, then one `x_of_pair` per rule.

use super::ast::*;
use super::diagnostic::{Code, Diagnostic};
use super::source::FileId;
use pest::iterators::Pair;
use pest::Parser as _;
use pest_derive::Parser;

#[derive(Parser)]
#[grammar = "../grammar/advp.pest"]
struct AdvpParser;

/// Nesting deeper than this is refused before pest sees it, so no input can exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// Operands in one expression; trees deeper than this are refused for the same reason.
pub const MAX_OPERANDS: usize = 256;

/// Words that cannot name a declaration.
pub const RESERVED: &[&str] = &[
    "use", "seed", "device", "threads", "profile", "report", "to", "data", "model", "attack",
    "defense", "rule", "train", "eval", "analyze", "true", "false", "inf", "step", "every", "grid",
    "eps", "none",
];

pub type ParseResult<T> = Result<T, Vec<Diagnostic>>;

/// Parses one file. Never panics; every problem comes back as a coded diagnostic.
pub fn parse(src: &str, file: FileId) -> ParseResult<Module> {
    let lexical = prescan(src, file);
    if !lexical.is_empty() {
        return Err(lexical);
    }
    let mut pairs = match AdvpParser::parse(Rule::file, src) {
        Ok(p) => p,
        Err(_) => return Err(vec![detailed_error(Rule::file, src, file)]),
    };
    let mut b = Builder {
        file,
        errors: Vec::new(),
    };
    let file_pair = pairs.next().expect("the file rule always yields one pair");
    let items = file_pair
        .into_inner()
        .filter(|p| p.as_rule() != Rule::EOI)
        .map(|p| b.item(p))
        .collect();
    if b.errors.is_empty() {
        Ok(Module { items })
    } else {
        Err(b.errors)
    }
}

/// Parses a lone expression (a `--set key=value` value, a default in the built-in table).
pub fn parse_expr(src: &str, file: FileId) -> ParseResult<Expr> {
    let lexical = prescan(src, file);
    if !lexical.is_empty() {
        return Err(lexical);
    }
    let wrapped = AdvpParser::parse(Rule::expr, src)
        .map_err(|_| vec![detailed_error(Rule::expr, src, file)])?;
    let mut b = Builder {
        file,
        errors: Vec::new(),
    };
    let pair = wrapped.clone().next().expect("expr yields one pair");
    let end = pair.as_span().end();
    if src[end..].trim().is_empty() {
        let e = b.expr(pair);
        if b.errors.is_empty() {
            Ok(e)
        } else {
            Err(b.errors)
        }
    } else {
        let span = Span::new(end, src.trim_end().len());
        Err(vec![Diagnostic::new(
            Code::Unexpected,
            file,
            span,
            "unexpected text after the value",
        )
        .label("not part of the value")
        .help(
            "a value is one expression, e.g. `8`, `\"path\"`, `[0, 4, 8]` or `pgd(steps: 5)`",
        )])
    }
}

// ------------------------------------------------------------------ pre-scan

/// Finds what pest would report poorly: strings and brackets left open, stray characters.
fn prescan(src: &str, file: FileId) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut too_deep = false;
    let mut string_open = false;
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                while let Some(&(_, c)) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            '"' => {
                let mut closed = false;
                let mut end = src.len();
                while let Some((j, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\n' => {
                            end = j;
                            break;
                        }
                        '\\' => match chars.peek() {
                            Some(&(_, '"' | '\\' | 'n' | 't')) => {
                                chars.next();
                            }
                            Some(&(k, e)) if e != '\n' => {
                                chars.next();
                                errors.push(
                                    Diagnostic::new(
                                        Code::InvalidEscape,
                                        file,
                                        Span::new(j, k + e.len_utf8()),
                                        format!("unknown escape `\\{e}` in a string"),
                                    )
                                    .label("not an escape")
                                    .help("the escapes are `\\\"`, `\\\\`, `\\n` and `\\t`; write `\\\\` for a backslash"),
                                );
                            }
                            _ => {}
                        },
                        _ => {}
                    }
                }
                if !closed {
                    // Brackets after an open string are unreliable; report the string alone.
                    string_open = true;
                    errors.push(
                        Diagnostic::new(
                            Code::UnterminatedString,
                            file,
                            Span::new(i, end),
                            "this string is never closed",
                        )
                        .label("string starts here")
                        .help("add a closing `\"` before the end of the line"),
                    );
                }
            }
            '(' | '[' | '{' => {
                stack.push((c, i));
                if stack.len() > MAX_DEPTH && !too_deep {
                    too_deep = true;
                    errors.push(
                        Diagnostic::new(
                            Code::TooDeep,
                            file,
                            Span::new(i, i + 1),
                            "nesting is too deep",
                        )
                        .label(format!("more than {MAX_DEPTH} levels of brackets"))
                        .help("split the value into named declarations"),
                    );
                }
            }
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                match stack.pop() {
                    Some((open, _)) if open == want => {}
                    Some((open, at)) => {
                        errors.push(
                            Diagnostic::new(
                                Code::MismatchedDelimiter,
                                file,
                                Span::new(i, i + 1),
                                format!("`{c}` does not close `{open}`"),
                            )
                            .label(format!("expected `{}` here", closer(open)))
                            .also(Span::new(at, at + 1), "opened here")
                            .help(format!("close `{open}` with `{}` first", closer(open))),
                        );
                        return errors;
                    }
                    None => {
                        errors.push(
                            Diagnostic::new(
                                Code::UnmatchedClose,
                                file,
                                Span::new(i, i + 1),
                                format!("`{c}` closes nothing"),
                            )
                            .label("no matching opening bracket")
                            .help(format!("remove it, or add the `{want}` it should close")),
                        );
                        return errors;
                    }
                }
            }
            // A byte-order mark from Windows editors is whitespace.
            c if c.is_ascii_alphanumeric()
                || c.is_whitespace()
                || c == '\u{feff}'
                || "_,:.=+-*/>".contains(c) => {}
            c => {
                let help = match c {
                    ';' => "remove `;`: a statement ends where the next keyword begins".to_string(),
                    '\'' => "strings are written in double quotes: \"…\"".to_string(),
                    '<' => "`>>` composes a defense with a model: `h264 >> net`".to_string(),
                    'ε' => "write `eps` for ε".to_string(),
                    'α' => "write `alpha` for α".to_string(),
                    _ => "names use ASCII letters, digits and `_`; other text goes in a string"
                        .to_string(),
                };
                errors.push(
                    Diagnostic::new(
                        Code::InvalidCharacter,
                        file,
                        Span::new(i, i + c.len_utf8()),
                        format!("unexpected character `{c}`"),
                    )
                    .label("not part of the language")
                    .help(help),
                );
            }
        }
    }
    if let Some(&(open, at)) = stack.last().filter(|_| !string_open) {
        errors.push(
            Diagnostic::new(
                Code::UnclosedDelimiter,
                file,
                Span::new(at, at + 1),
                format!("`{open}` is never closed"),
            )
            .label("opened here")
            .also(
                Span::new(src.len(), src.len()),
                format!("expected `{}` before the end of the file", closer(open)),
            )
            .help(format!("add the missing `{}`", closer(open))),
        );
    }
    errors
}

fn closer(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

// -------------------------------------------------------------- pest errors

/// Parses again with pest's attempt tracking on (slow, so only after a failure) for the message.
fn detailed_error(rule: Rule, src: &str, file: FileId) -> Diagnostic {
    pest::set_error_detail(true);
    let result = AdvpParser::parse(rule, src);
    pest::set_error_detail(false);
    match result {
        Err(e) => diagnostic_of_pest(&e, src, file),
        Ok(_) => unreachable!("the same input parsed the second time"),
    }
}

fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::name | Rule::path => "a name",
        Rule::expr
        | Rule::operand
        | Rule::number
        | Rule::signed
        | Rule::range
        | Rule::list
        | Rule::set
        | Rule::record
        | Rule::call
        | Rule::paren
        | Rule::boolean
        | Rule::inf
        | Rule::neg => "a value",
        Rule::string | Rule::str_inner => "a string",
        Rule::decl | Rule::decl_kind => "a declaration (`data`, `model`, `train`, …)",
        Rule::use_item | Rule::kw_use => "`use`",
        Rule::seed_item | Rule::kw_seed => "`seed`",
        Rule::device_item | Rule::kw_device => "`device`",
        Rule::threads_item | Rule::kw_threads => "`threads`",
        Rule::profile | Rule::kw_profile => "`profile`",
        Rule::report | Rule::kw_report => "`report`",
        Rule::kw_to => "`to`",
        Rule::report_mode => "a report mode",
        Rule::every | Rule::kw_every => "`every`",
        Rule::kw_step => "`step`",
        Rule::grid | Rule::kw_grid => "`grid`",
        Rule::mode => {
            "a schedule mode (`fixed`, `curriculum`, `adaptive`, `uniform`, `sweep`, `each`)"
        }
        Rule::block => "a block `{ … }`",
        Rule::schedule_stmt | Rule::schedule_key | Rule::setting_stmt | Rule::setting_key => {
            "a statement"
        }
        Rule::r#override => "an override such as `train.epochs = 8`",
        Rule::device_spec => "a device (`auto`, `cpu`, `cuda`, `cuda:1`)",
        Rule::arg => "an argument",
        Rule::field => "a field `name: value`",
        Rule::compose | Rule::add | Rule::sub | Rule::mul | Rule::div => "an operator",
        Rule::EOI => "the end of the file",
        _ => return None,
    })
}

/// The token at `pos`, for "unexpected X" messages.
fn token_at(src: &str, pos: usize) -> Span {
    let rest = &src[pos..];
    let Some(c) = rest.chars().next() else {
        return Span::new(pos, pos);
    };
    let len = if c.is_ascii_alphanumeric() || c == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len())
    } else if c == '"' {
        rest[1..].find('"').map_or(rest.len(), |i| i + 2)
    } else if rest.starts_with(">>") || rest.starts_with("..") {
        2
    } else {
        c.len_utf8()
    };
    // A number like `0..12` must not swallow the dots.
    let tok = &rest[..len];
    let len = if tok.contains("..") {
        tok.find("..").unwrap().max(1)
    } else {
        len
    };
    Span::new(pos, pos + len)
}

fn diagnostic_of_pest(e: &pest::error::Error<Rule>, src: &str, file: FileId) -> Diagnostic {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let attempts = e.parse_attempts();
    let pos = attempts.as_ref().map_or(pos, |a| a.max_position.max(pos));
    let mut pos = pos.min(src.len());
    while pos < src.len() && src[pos..].starts_with(char::is_whitespace) {
        pos += 1;
    }
    let span = token_at(src, pos);
    let mut expected: Vec<String> = Vec::new();
    if let Some(attempts) = attempts {
        for t in attempts.expected_tokens() {
            let token = t.to_string();
            if token.trim().is_empty() || token == "#" || token == "_" {
                continue;
            }
            // Literal tokens only; character ranges and built-ins say nothing useful.
            if token.is_empty()
                || token.contains("..")
                || token == "BUILTIN_RULE"
                || token.chars().all(|c| c.is_ascii_alphanumeric()) && token.len() == 1
            {
                continue;
            }
            let t = format!("`{token}`");
            if !expected.contains(&t) {
                expected.push(t);
            }
        }
    }
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for r in positives {
            if let Some(d) = describe_rule(*r) {
                let d = d.to_string();
                if !expected.contains(&d) {
                    expected.push(d);
                }
            }
        }
    }
    // Plain punctuation first, then words; keep the list short enough to read.
    expected.sort_by_key(|s| (!s.starts_with('`'), s.clone()));
    expected.truncate(6);
    // Inside a call, right after a name: the `:` of a named argument is what is missing.
    let before = src[..pos].trim_end();
    let open_parens = before.matches('(').count() > before.matches(')').count();
    let after_name = before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    let starts_value =
        src[pos..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '"' || c == '[');
    if open_parens && after_name && starts_value {
        expected = vec!["`:`".into(), "`,`".into(), "`)`".into()];
    }
    let found = if span.is_empty() {
        "the end of the file".to_string()
    } else {
        format!("`{}`", &src[span.start..span.end])
    };
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("unexpected {found}; expected {}", join_or(&expected))
    };
    let help = if open_parens && after_name && starts_value {
        "arguments are `name: value`, separated by `,`, e.g. `synthetic(classes: 10, frames: 8)`"
            .to_string()
    } else {
        help_for(src, pos, &expected)
    };
    Diagnostic::new(Code::Unexpected, file, span, message)
        .label("unexpected here")
        .help(help)
}

fn join_or(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

/// A fix suggestion from what the parser was looking for.
fn help_for(src: &str, pos: usize, expected: &[String]) -> String {
    let line_start = src[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = src[line_start..].lines().next().unwrap_or("").trim();
    let has = |s: &str| expected.iter().any(|e| e == s);
    if line.starts_with("budget") || line.starts_with("attacks") {
        return "a schedule reads `budget fixed 8`, `budget curriculum 0..12 step 2 every 10`, `budget uniform {0, 4, 8}` or `budget sweep [0, 4, 8]`".into();
    }
    if has("`=`") {
        return "a declaration reads `kind name = builtin(arguments)`, e.g. `data ucf = synthetic(classes: 10)`".into();
    }
    if has("`to`") {
        return "a report reads `report node to \"file.md\", \"file.csv\"`".into();
    }
    if has("`,`") || has("`)`") || has("`]`") {
        return "separate items with `,` and close the bracket".into();
    }
    if expected.iter().any(|e| e.starts_with("a declaration")) {
        return "each top-level line starts with `use`, `seed`, `device`, `threads`, `profile`, `report` or a declaration keyword".into();
    }
    if expected.iter().any(|e| e == "a value") {
        return "write a value here: a number, a string, a name, a list `[…]`, a set `{…}`, a range `0..12 step 2` or a call `f(…)`".into();
    }
    "see docs/language.md for the syntax".into()
}

// ------------------------------------------------------------------ builder

struct Builder {
    file: FileId,
    errors: Vec<Diagnostic>,
}

/// The pair's span without the whitespace and comments pest skips after a failed optional.
fn span_of(p: &Pair<Rule>) -> Span {
    let start = p.as_span().start();
    Span::new(start, start + trim_trivia(p.as_str()))
}

/// Length of `text` up to the end of its last token (comments and whitespace after it dropped).
fn trim_trivia(text: &str) -> usize {
    let trimmed = text.trim_end().len();
    if !text[..trimmed].contains('#') {
        return trimmed;
    }
    let mut last = 0;
    let mut in_str = false;
    let mut escaped = false;
    let mut iter = text.char_indices();
    while let Some((i, c)) = iter.next() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
            last = i + c.len_utf8();
        } else if c == '#' {
            for (_, c) in iter.by_ref() {
                if c == '\n' {
                    break;
                }
            }
        } else if !c.is_whitespace() {
            in_str = c == '"';
            last = i + c.len_utf8();
        }
    }
    last
}

impl Builder {
    fn item(&mut self, p: Pair<Rule>) -> Item {
        match p.as_rule() {
            Rule::use_item => {
                let span = span_of(&p);
                let s = p.into_inner().nth(1).expect("use has a string");
                Item::Use(UseItem {
                    path: self.string(s),
                    span,
                })
            }
            Rule::seed_item | Rule::threads_item | Rule::device_item => {
                Item::Setting(self.setting(p))
            }
            Rule::decl => Item::Decl(self.decl(p)),
            Rule::report => Item::Report(self.report(p)),
            Rule::profile => Item::Profile(self.profile(p)),
            r => unreachable!("item rule {r:?}"),
        }
    }

    fn setting(&mut self, p: Pair<Rule>) -> Setting {
        let span = span_of(&p);
        let key = match p.as_rule() {
            Rule::seed_item => SettingKey::Seed,
            Rule::threads_item => SettingKey::Threads,
            _ => SettingKey::Device,
        };
        let v = p.into_inner().nth(1).expect("setting has a value");
        let value = if key == SettingKey::Device {
            SettingValue::Device(Ident {
                name: v.as_str().to_string(),
                span: span_of(&v),
            })
        } else {
            SettingValue::Expr(self.expr(v))
        };
        Setting { key, value, span }
    }

    fn name(&mut self, p: Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: span_of(&p),
        }
    }

    /// A name that introduces something: reserved words are refused.
    fn binding_name(&mut self, p: Pair<Rule>) -> Ident {
        let id = self.name(p);
        if RESERVED.contains(&id.name.as_str()) {
            self.errors.push(
                Diagnostic::new(
                    Code::ReservedWord,
                    self.file,
                    id.span,
                    format!("`{}` is a reserved word and cannot be a name", id.name),
                )
                .label("reserved word")
                .help(format!(
                    "pick another name, e.g. `{}_1` or `my_{}`",
                    id.name, id.name
                )),
            );
        }
        id
    }

    fn decl(&mut self, p: Pair<Rule>) -> Decl {
        let span = span_of(&p);
        let mut inner = p.into_inner();
        let k = inner.next().expect("decl kind");
        let kind = DeclKind::parse(k.as_str()).expect("grammar admits only kinds");
        let name = self.binding_name(inner.next().expect("decl name"));
        let value = self.expr(inner.next().expect("decl value"));
        let block = inner.next().map(|b| self.block(b));
        Decl {
            kind,
            kind_span: span_of(&k),
            name,
            value,
            block,
            span,
        }
    }

    fn block(&mut self, p: Pair<Rule>) -> Block {
        let span = span_of(&p);
        let stmts = p.into_inner().map(|s| self.stmt(s)).collect();
        Block { stmts, span }
    }

    fn stmt(&mut self, p: Pair<Rule>) -> Stmt {
        let span = span_of(&p);
        match p.as_rule() {
            Rule::schedule_stmt => {
                let mut inner = p.into_inner();
                let key = self.name(inner.next().expect("key"));
                let mode = self.name(inner.next().expect("mode"));
                let value = self.expr(inner.next().expect("value"));
                let every = inner
                    .next()
                    .map(|e| self.expr(e.into_inner().nth(1).expect("every value")));
                Stmt::Schedule {
                    key,
                    mode,
                    value,
                    every,
                    span,
                }
            }
            _ => {
                let mut inner = p.into_inner().peekable();
                let key = self.name(inner.next().expect("key"));
                let grid = inner.peek().is_some_and(|g| g.as_rule() == Rule::grid);
                if grid {
                    inner.next();
                }
                let value = self.expr(inner.next().expect("value"));
                Stmt::Setting {
                    key,
                    grid,
                    value,
                    span,
                }
            }
        }
    }

    fn report(&mut self, p: Pair<Rule>) -> Report {
        let span = span_of(&p);
        let mut target = None;
        let mut mode = None;
        let mut paths = Vec::new();
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::name => target = Some(self.name(q)),
                Rule::report_mode => mode = Some(self.name(q)),
                Rule::string => paths.push(self.string(q)),
                _ => {}
            }
        }
        Report {
            target: target.expect("report target"),
            mode,
            paths,
            span,
        }
    }

    fn profile(&mut self, p: Pair<Rule>) -> Profile {
        let span = span_of(&p);
        let mut inner = p.into_inner();
        inner.next(); // keyword
        let name = self.binding_name(inner.next().expect("profile name"));
        let entries = inner
            .map(|e| match e.as_rule() {
                Rule::decl => ProfileEntry::Decl(self.decl(e)),
                Rule::r#override => {
                    let span = span_of(&e);
                    let mut path = Vec::new();
                    let mut value = None;
                    for q in e.into_inner() {
                        match q.as_rule() {
                            Rule::name => path.push(self.name(q)),
                            _ => value = Some(self.expr(q)),
                        }
                    }
                    ProfileEntry::Override(Override {
                        path,
                        value: value.expect("override value"),
                        span,
                    })
                }
                _ => ProfileEntry::Setting(self.setting(e)),
            })
            .collect();
        Profile {
            name,
            entries,
            span,
        }
    }

    fn string(&mut self, p: Pair<Rule>) -> StrLit {
        let span = span_of(&p);
        let raw = p.into_inner().next().map_or("", |i| i.as_str());
        StrLit {
            value: unescape(raw),
            span,
        }
    }

    fn number(&mut self, p: Pair<Rule>) -> Number {
        let span = span_of(&p);
        let text = p.as_str().to_string();
        let value: f64 = text.parse().unwrap_or(f64::NAN);
        if !value.is_finite() {
            self.errors.push(
                Diagnostic::new(
                    Code::InvalidNumber,
                    self.file,
                    span,
                    format!("`{text}` is not a finite number"),
                )
                .label("too large")
                .help("write `inf` for an unbounded value, or a smaller number"),
            );
        }
        Number { value, text, span }
    }

    /// Operator precedence by climbing: `>>` binds loosest, then `+ -`, then `* /`.
    fn expr(&mut self, p: Pair<Rule>) -> Expr {
        let mut operands: Vec<Expr> = Vec::new();
        let mut ops: Vec<(BinOp, u8)> = Vec::new();
        let mut pending_neg: Option<Span> = None;
        let count = p
            .clone()
            .into_inner()
            .filter(|q| {
                !matches!(
                    q.as_rule(),
                    Rule::neg | Rule::compose | Rule::add | Rule::sub | Rule::mul | Rule::div
                )
            })
            .count();
        if count > MAX_OPERANDS {
            self.errors.push(
                Diagnostic::new(
                    Code::TooDeep,
                    self.file,
                    span_of(&p),
                    format!("an expression with {count} operands"),
                )
                .label(format!("more than {MAX_OPERANDS} operands"))
                .help("split the arithmetic into named rules"),
            );
            return Expr {
                kind: ExprKind::Number {
                    value: 0.0,
                    text: "0".into(),
                },
                span: span_of(&p),
            };
        }
        for q in p.into_inner() {
            let op = match q.as_rule() {
                Rule::neg => {
                    pending_neg = Some(span_of(&q));
                    continue;
                }
                Rule::compose => Some((BinOp::Compose, 0)),
                Rule::add => Some((BinOp::Add, 1)),
                Rule::sub => Some((BinOp::Sub, 1)),
                Rule::mul => Some((BinOp::Mul, 2)),
                Rule::div => Some((BinOp::Div, 2)),
                _ => None,
            };
            if let Some((op, prec)) = op {
                // `>>` groups to the right: `a >> b >> net` is `a >> (b >> net)`.
                while ops
                    .last()
                    .is_some_and(|&(o, p)| p > prec || (p == prec && o != BinOp::Compose))
                {
                    reduce(&mut operands, &mut ops);
                }
                ops.push((op, prec));
                continue;
            }
            let mut e = self.primary(q);
            if let Some(ns) = pending_neg.take() {
                let span = ns.join(e.span);
                e = Expr {
                    kind: ExprKind::Neg(Box::new(e)),
                    span,
                };
            }
            operands.push(e);
        }
        while !ops.is_empty() {
            reduce(&mut operands, &mut ops);
        }
        operands.pop().expect("an expression has an operand")
    }

    fn primary(&mut self, p: Pair<Rule>) -> Expr {
        let span = span_of(&p);
        let kind = match p.as_rule() {
            Rule::number => {
                let n = self.number(p);
                ExprKind::Number {
                    value: n.value,
                    text: n.text,
                }
            }
            Rule::string => ExprKind::Str(self.string(p).value),
            Rule::boolean => ExprKind::Bool(p.as_str() == "true"),
            Rule::inf => ExprKind::Inf,
            Rule::list => ExprKind::List(p.into_inner().map(|e| self.expr(e)).collect()),
            Rule::set => ExprKind::Set(p.into_inner().map(|e| self.expr(e)).collect()),
            Rule::record => ExprKind::Record(
                p.into_inner()
                    .map(|f| {
                        let mut i = f.into_inner();
                        let name = self.name(i.next().expect("field name"));
                        let value = self.expr(i.next().expect("field value"));
                        Field { name, value }
                    })
                    .collect(),
            ),
            Rule::range => {
                let mut nums = p.into_inner().filter(|q| q.as_rule() == Rule::signed);
                let start = self.number(nums.next().expect("range start"));
                let end = self.number(nums.next().expect("range end"));
                let step = nums.next().map(|s| self.number(s));
                ExprKind::Range { start, end, step }
            }
            Rule::call => {
                let mut inner = p.into_inner();
                let callee = self.name(inner.next().expect("callee"));
                let args = inner
                    .map(|a| {
                        let span = span_of(&a);
                        let mut i = a.into_inner();
                        let first = i.next().expect("arg");
                        let (name, value) = if first.as_rule() == Rule::name {
                            let n = self.name(first);
                            (Some(n), self.expr(i.next().expect("arg value")))
                        } else {
                            (None, self.expr(first))
                        };
                        Arg { name, value, span }
                    })
                    .collect();
                ExprKind::Call { callee, args }
            }
            Rule::path => ExprKind::Path(p.into_inner().map(|n| self.name(n)).collect()),
            Rule::paren => {
                ExprKind::Paren(Box::new(self.expr(p.into_inner().next().expect("inner"))))
            }
            r => unreachable!("primary rule {r:?}"),
        };
        Expr { kind, span }
    }
}

fn reduce(operands: &mut Vec<Expr>, ops: &mut Vec<(BinOp, u8)>) {
    let (op, _) = ops.pop().expect("an operator to reduce");
    let rhs = operands.pop().expect("right operand");
    let lhs = operands.pop().expect("left operand");
    let span = lhs.span.join(rhs.span);
    operands.push(Expr {
        kind: ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        span,
    });
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The inverse of [`unescape`], for `fmt`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// Comments with their spans, found the way the grammar finds them (outside strings).
pub fn comments(src: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut in_str = false;
    let mut escaped = false;
    let mut iter = src.char_indices();
    while let Some((i, c)) = iter.next() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' | '\n' => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
        } else if c == '#' {
            let end = src[i..].find('\n').map_or(src.len(), |n| i + n);
            out.push(Span::new(i, end));
            while let Some((j, _)) = iter.clone().next() {
                if j >= end {
                    break;
                }
                iter.next();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Module {
        parse(src, FileId(0)).unwrap_or_else(|e| panic!("{src:?}: {e:?}"))
    }
    fn err(src: &str) -> Diagnostic {
        parse(src, FileId(0)).expect_err("should fail").remove(0)
    }

    #[test]
    fn curriculum_line_parses_as_written() {
        let m = ok("train a = adversarial(net, d) {\n  budget curriculum 0..12 step 2 every 10\n}");
        let Item::Decl(d) = &m.items[0] else { panic!() };
        let Stmt::Schedule {
            key,
            mode,
            value,
            every,
            ..
        } = &d.block.as_ref().unwrap().stmts[0]
        else {
            panic!()
        };
        assert_eq!(
            (key.name.as_str(), mode.name.as_str()),
            ("budget", "curriculum")
        );
        let ExprKind::Range { start, end, step } = &value.kind else {
            panic!()
        };
        assert_eq!(
            (start.value, end.value, step.as_ref().unwrap().value),
            (0.0, 12.0, 2.0)
        );
        assert!(
            matches!(every.as_ref().unwrap().kind, ExprKind::Number { value, .. } if value == 10.0)
        );
    }

    #[test]
    fn precedence_and_spans() {
        let e = parse_expr("0.2 * (eps + 1) / 2", FileId(0)).unwrap();
        // ((0.2 * (eps + 1)) / 2)
        let ExprKind::Binary {
            op: BinOp::Div,
            lhs,
            ..
        } = &e.kind
        else {
            panic!("{e:?}")
        };
        assert!(matches!(lhs.kind, ExprKind::Binary { op: BinOp::Mul, .. }));
        assert_eq!(lhs.span, Span::new(0, 15));
        let c = parse_expr("h264 >> a + b", FileId(0)).unwrap();
        assert!(matches!(
            c.kind,
            ExprKind::Binary {
                op: BinOp::Compose,
                ..
            }
        ));
    }

    #[test]
    fn negative_range_ends() {
        let e = parse_expr("-1..1 step 0.5", FileId(0)).unwrap();
        let ExprKind::Range { start, .. } = e.kind else {
            panic!()
        };
        assert_eq!(start.value, -1.0);
    }

    #[test]
    fn unclosed_brace_points_at_opener() {
        let d = err("train a = standard(n, d) {\n  budget fixed 8\n");
        assert_eq!(d.code, Code::UnclosedDelimiter);
        assert_eq!(d.span, Span::new(25, 26));
    }

    #[test]
    fn reserved_word_as_name() {
        let d = err("data train = synthetic()");
        assert_eq!(d.code, Code::ReservedWord);
        assert_eq!(d.span, Span::new(5, 10));
    }

    #[test]
    fn missing_equals_names_it() {
        let d = err("data ucf synthetic()");
        assert_eq!(d.code, Code::Unexpected);
        assert!(d.message.contains("`=`"), "{}", d.message);
        assert_eq!(d.span, Span::new(9, 18));
    }

    #[test]
    fn comments_skip_strings() {
        let src = "use \"a#b\" # real\n# two\n";
        let c = comments(src);
        assert_eq!(c.len(), 2);
        assert_eq!(&src[c[0].start..c[0].end], "# real");
    }
}
