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
    "use",
    "seed",
    "device",
    "threads",
    "profile",
    "report",
    "to",
    "data",
    "model",
    "attack",
    "defense",
    "rule",
    "train",
    "eval",
    "analyze",
    "true",
    "false",
    "inf",
    "step",
    "every",
    "grid",
    "eps",
    "none",
    "seeds",
    "compare",
    "precision",
];

pub type ParseResult<T> = Result<T, Vec<Diagnostic>>;

/// Parses one file. Never panics; every problem comes back as a coded diagnostic.
pub fn parse(src: &str, file: FileId) -> ParseResult<Module> {
    let lexical = prescan(src, file);
    if !lexical.is_empty() {
        return Err(lexical);
    }
    // The hand-written parser takes what it can; pest the rest, and words
    // every error.
    if let Some(items) = fast::parse(src) {
        return Ok(Module { items });
    }
    parse_with_pest(src, file)
}

/// [`parse`] by pest alone (the reference the fast path is tested against).
pub fn parse_pest(src: &str, file: FileId) -> ParseResult<Module> {
    let lexical = prescan(src, file);
    if !lexical.is_empty() {
        return Err(lexical);
    }
    parse_with_pest(src, file)
}

fn parse_with_pest(src: &str, file: FileId) -> ParseResult<Module> {
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

mod errors;
mod fast;
mod prescan;
use errors::*;
use prescan::*;

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
            Rule::seed_item
            | Rule::seeds_item
            | Rule::threads_item
            | Rule::device_item
            | Rule::precision_item => Item::Setting(self.setting(p)),
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
            Rule::seeds_item => SettingKey::Seeds,
            Rule::threads_item => SettingKey::Threads,
            Rule::precision_item => SettingKey::Precision,
            _ => SettingKey::Device,
        };
        let v = p.into_inner().nth(1).expect("setting has a value");
        let value = if key.is_word() {
            SettingValue::Word(Ident {
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
            Rule::compare_stmt => {
                let mut inner = p.into_inner();
                let key = self.name(inner.next().expect("compare keyword"));
                let side = |b: &mut Self, p: Pair<Rule>| -> Vec<Ident> {
                    p.into_inner().map(|n| b.name(n)).collect()
                };
                let a = side(self, inner.next().expect("left side"));
                let greater = inner.next().expect("operator").as_str() == ">";
                let b = side(self, inner.next().expect("right side"));
                let mut at = Vec::new();
                for c in inner.filter(|c| c.as_rule() == Rule::compare_at) {
                    let mut parts = c.into_inner();
                    let k = self.name(parts.next().expect("condition key"));
                    let v = self.expr(parts.next().expect("condition value"));
                    at.push((k, v));
                }
                Stmt::Compare {
                    key,
                    a,
                    greater,
                    b,
                    at,
                    span,
                }
            }
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
mod tests;
