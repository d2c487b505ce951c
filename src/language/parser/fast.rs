//! The fast path of [`super::parse`]: a hand-written recursive-descent
//! parser for the grammar of `grammar/advp.pest`, rule for rule (PEG's
//! ordered choice, implicit whitespace and comments between the tokens of
//! non-atomic rules, none inside atomic ones), building the same tree as
//! pest and the builder. It accepts what the grammar accepts or gives up:
//! on anything it does not take (a syntax error, a reserved name, a number
//! that is not finite, too many operands) it says [`Stop::GiveUp`], and
//! pest parses the file and words the error. `tests/fuzz.rs` holds the two
//! to the same trees on every input it makes.
//!
//! Why: pest took 260 ms for a 1 MB file (about 4 MB/s); this takes a
//! tenth of that (`benches/check.rs`).

use super::{unescape, MAX_OPERANDS, RESERVED};
use crate::language::ast::*;

/// Why a rule did not match.
#[derive(Debug)]
enum Stop {
    /// The rule does not match here (an ordered choice tries the next).
    Fail,
    /// Leave the whole file to pest.
    GiveUp,
}
use Stop::{Fail, GiveUp};

type R<T> = Result<T, Stop>;

/// The file's items, or `None`: pest parses it.
pub(super) fn parse(src: &str) -> Option<Vec<Item>> {
    let mut p = P {
        s: src,
        b: src.as_bytes(),
        i: 0,
        last: 0,
    };
    let mut items = Vec::new();
    loop {
        p.skip();
        if p.i == p.b.len() {
            return Some(items);
        }
        items.push(p.item().ok()?);
    }
}

fn ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

const KINDS: [(&str, DeclKind); 8] = [
    ("data", DeclKind::Data),
    ("model", DeclKind::Model),
    ("attack", DeclKind::Attack),
    ("defense", DeclKind::Defense),
    ("rule", DeclKind::Rule),
    ("train", DeclKind::Train),
    ("eval", DeclKind::Eval),
    ("analyze", DeclKind::Analyze),
];

struct P<'s> {
    s: &'s str,
    b: &'s [u8],
    i: usize,
    /// The end of the last token taken: a node's span ends there.
    last: usize,
}

impl<'s> P<'s> {
    fn at(&self, k: usize) -> u8 {
        self.b.get(self.i + k).copied().unwrap_or(0)
    }

    /// Whitespace (`\u{FEFF}` too) and `#` comments.
    fn skip(&mut self) {
        loop {
            match self.at(0) {
                b' ' | b'\t' | b'\r' | b'\n' => self.i += 1,
                0xEF if self.b[self.i..].starts_with(&[0xEF, 0xBB, 0xBF]) => self.i += 3,
                b'#' => {
                    while self.i < self.b.len() && self.b[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn take(&mut self, n: usize) {
        self.i += n;
        self.last = self.i;
    }

    /// `text` here (no skipping).
    fn lit(&mut self, text: &str) -> R<()> {
        if self.b[self.i..].starts_with(text.as_bytes()) {
            self.take(text.len());
            Ok(())
        } else {
            Err(Fail)
        }
    }

    /// A keyword: `text` not followed by a name's character.
    fn is_kw(&self, text: &str) -> bool {
        self.b[self.i..].starts_with(text.as_bytes()) && !ident_char(self.at(text.len()))
    }

    fn kw(&mut self, text: &str) -> R<Ident> {
        if !self.is_kw(text) {
            return Err(Fail);
        }
        let start = self.i;
        self.take(text.len());
        Ok(Ident {
            name: text.to_string(),
            span: Span::new(start, self.i),
        })
    }

    /// `ident_char+`, or a name (a letter or `_` first).
    fn word(&mut self, name: bool) -> R<Ident> {
        let start = self.i;
        let first = self.at(0);
        if !(ident_char(first) && (!name || !first.is_ascii_digit())) {
            return Err(Fail);
        }
        let mut end = start;
        while end < self.b.len() && ident_char(self.b[end]) {
            end += 1;
        }
        self.i = start;
        self.take(end - start);
        Ok(Ident {
            name: self.s[start..end].to_string(),
            span: Span::new(start, end),
        })
    }

    fn name(&mut self) -> R<Ident> {
        self.word(true)
    }

    /// A name that introduces something: a reserved word is pest's to report.
    fn binding(&mut self) -> R<Ident> {
        let id = self.name()?;
        if RESERVED.contains(&id.name.as_str()) {
            return Err(GiveUp);
        }
        Ok(id)
    }

    fn item(&mut self) -> R<Item> {
        let start = self.i;
        if self.is_kw("use") {
            self.kw("use")?;
            self.skip();
            let path = self.string().map_err(|_| GiveUp)?;
            return Ok(Item::Use(UseItem {
                path,
                span: Span::new(start, self.last),
            }));
        }
        if let Some(s) = self.setting()? {
            return Ok(Item::Setting(s));
        }
        if self.is_kw("profile") {
            return self.profile().map(Item::Profile);
        }
        if self.is_kw("report") {
            return self.report().map(Item::Report);
        }
        self.decl().map(Item::Decl).map_err(|_| GiveUp)
    }

    /// `seeds`, `seed`, `device`, `precision`, `threads`: `None` if none starts here.
    fn setting(&mut self) -> R<Option<Setting>> {
        let start = self.i;
        let key = [
            ("seeds", SettingKey::Seeds),
            ("seed", SettingKey::Seed),
            ("device", SettingKey::Device),
            ("precision", SettingKey::Precision),
            ("threads", SettingKey::Threads),
        ]
        .into_iter()
        .find(|(w, _)| self.is_kw(w));
        let Some((word, key)) = key else {
            return Ok(None);
        };
        self.kw(word)?;
        self.skip();
        let value = match key {
            SettingKey::Device => {
                let mut id = self.word(false).map_err(|_| GiveUp)?;
                if self.at(0) == b':' && self.at(1).is_ascii_digit() {
                    let mut end = self.i + 1;
                    while end < self.b.len() && self.b[end].is_ascii_digit() {
                        end += 1;
                    }
                    self.take(end - self.i);
                    id = Ident {
                        name: self.s[id.span.start..end].to_string(),
                        span: Span::new(id.span.start, end),
                    };
                }
                SettingValue::Word(id)
            }
            SettingKey::Precision => SettingValue::Word(self.word(false).map_err(|_| GiveUp)?),
            _ => SettingValue::Expr(self.expr().map_err(|_| GiveUp)?),
        };
        Ok(Some(Setting {
            key,
            value,
            span: Span::new(start, self.last),
        }))
    }

    fn decl(&mut self) -> R<Decl> {
        let start = self.i;
        let (word, kind) = KINDS.into_iter().find(|(w, _)| self.is_kw(w)).ok_or(Fail)?;
        self.take(word.len());
        let kind_span = Span::new(start, self.i);
        self.skip();
        let name = self.binding()?;
        self.skip();
        self.lit("=")?;
        self.skip();
        let value = self.expr()?;
        let save = (self.i, self.last);
        self.skip();
        let block = if self.at(0) == b'{' {
            // A `{` after the value can only be its block.
            Some(self.block().map_err(|_| GiveUp)?)
        } else {
            (self.i, self.last) = save;
            None
        };
        Ok(Decl {
            kind,
            kind_span,
            name,
            value,
            block,
            span: Span::new(start, self.last),
        })
    }

    fn block(&mut self) -> R<Block> {
        let start = self.i;
        self.lit("{")?;
        let mut stmts = Vec::new();
        loop {
            self.skip();
            if self.at(0) == b'}' {
                self.take(1);
                return Ok(Block {
                    stmts,
                    span: Span::new(start, self.i),
                });
            }
            stmts.push(self.stmt()?);
        }
    }

    fn stmt(&mut self) -> R<Stmt> {
        let start = self.i;
        if self.is_kw("compare") {
            return self.compare().map_err(|_| GiveUp);
        }
        if self.is_kw("budget") || self.is_kw("attacks") {
            let key = self.word(false)?;
            self.skip();
            let is_mode = (self.at(0).is_ascii_alphabetic() || self.at(0) == b'_')
                && !self.is_kw("every")
                && !self.is_kw("grid");
            if is_mode {
                let mode = self.name()?;
                self.skip();
                let value = self.expr().map_err(|_| GiveUp)?;
                let save = (self.i, self.last);
                self.skip();
                let every = if self.is_kw("every") {
                    self.kw("every")?;
                    self.skip();
                    Some(self.expr().map_err(|_| GiveUp)?)
                } else {
                    (self.i, self.last) = save;
                    None
                };
                return Ok(Stmt::Schedule {
                    key,
                    mode,
                    value,
                    every,
                    span: Span::new(start, self.last),
                });
            }
            // Not a schedule: a setting of that name.
            self.i = start;
        }
        let key = self.word(false)?;
        self.skip();
        let grid = self.is_kw("grid");
        if grid {
            self.kw("grid")?;
            self.skip();
        }
        let value = self.expr().map_err(|_| GiveUp)?;
        Ok(Stmt::Setting {
            key,
            grid,
            value,
            span: Span::new(start, self.last),
        })
    }

    fn compare(&mut self) -> R<Stmt> {
        let start = self.i;
        let key = self.kw("compare")?;
        self.skip();
        let a = self.side()?;
        self.skip();
        let greater = match self.at(0) {
            b'>' => true,
            b'<' => false,
            _ => return Err(Fail),
        };
        self.take(1);
        self.skip();
        let b = self.side()?;
        let save = (self.i, self.last);
        self.skip();
        let mut at = Vec::new();
        if self.is_kw("at") {
            self.kw("at")?;
            loop {
                self.skip();
                let k = self.name()?;
                self.skip();
                at.push((k, self.expr()?));
                let save = (self.i, self.last);
                self.skip();
                if self.at(0) != b',' {
                    (self.i, self.last) = save;
                    break;
                }
                self.take(1);
            }
        } else {
            (self.i, self.last) = save;
        }
        Ok(Stmt::Compare {
            key,
            a,
            greater,
            b,
            at,
            span: Span::new(start, self.last),
        })
    }

    /// `(sep item)*` after a first item: each repetition taken whole or
    /// not at all (PEG's `*` over a sequence).
    fn repeat<T>(&mut self, sep: &str, item: fn(&mut Self) -> R<T>, out: &mut Vec<T>) {
        loop {
            let save = (self.i, self.last);
            self.skip();
            if self.lit(sep).is_ok() {
                self.skip();
                if let Ok(x) = item(self) {
                    out.push(x);
                    continue;
                }
            }
            (self.i, self.last) = save;
            return;
        }
    }

    /// `name (>> name)*`.
    fn side(&mut self) -> R<Vec<Ident>> {
        let mut names = vec![self.name()?];
        self.repeat(">>", Self::name, &mut names);
        Ok(names)
    }

    fn report(&mut self) -> R<Report> {
        let start = self.i;
        self.kw("report")?;
        self.skip();
        let target = self.name().map_err(|_| GiveUp)?;
        self.skip();
        let mode = if !self.is_kw("to") && ident_char(self.at(0)) {
            let m = self.word(false)?;
            self.skip();
            Some(m)
        } else {
            None
        };
        self.kw("to").map_err(|_| GiveUp)?;
        self.skip();
        let mut paths = vec![self.string().map_err(|_| GiveUp)?];
        self.repeat(",", Self::string, &mut paths);
        Ok(Report {
            target,
            mode,
            paths,
            span: Span::new(start, self.last),
        })
    }

    fn profile(&mut self) -> R<Profile> {
        let start = self.i;
        self.kw("profile")?;
        self.skip();
        let name = self.binding().map_err(|_| GiveUp)?;
        self.skip();
        self.lit("{").map_err(|_| GiveUp)?;
        let mut entries = Vec::new();
        loop {
            self.skip();
            if self.at(0) == b'}' {
                self.take(1);
                return Ok(Profile {
                    name,
                    entries,
                    span: Span::new(start, self.i),
                });
            }
            let entry_start = self.i;
            match self.decl() {
                Ok(d) => {
                    entries.push(ProfileEntry::Decl(d));
                    continue;
                }
                Err(GiveUp) => return Err(GiveUp),
                Err(Fail) => self.i = entry_start,
            }
            if let Some(s) = self.setting()? {
                entries.push(ProfileEntry::Setting(s));
                continue;
            }
            entries.push(ProfileEntry::Override(
                self.r#override().map_err(|_| GiveUp)?,
            ));
        }
    }

    fn r#override(&mut self) -> R<Override> {
        let start = self.i;
        let mut path = vec![self.name()?];
        self.repeat(".", Self::name, &mut path);
        if path.len() < 2 {
            return Err(Fail);
        }
        self.skip();
        self.lit("=")?;
        self.skip();
        let value = self.expr()?;
        Ok(Override {
            path,
            value,
            span: Span::new(start, self.last),
        })
    }

    fn string(&mut self) -> R<StrLit> {
        let start = self.i;
        if self.at(0) != b'"' {
            return Err(Fail);
        }
        let mut j = self.i + 1;
        loop {
            match self.b.get(j) {
                None | Some(b'\n') => return Err(Fail),
                Some(b'"') => break,
                Some(b'\\') => {
                    j += 1;
                    // `\` and any one character.
                    let c = self.s.get(j..).and_then(|r| r.chars().next()).ok_or(Fail)?;
                    j += c.len_utf8();
                }
                Some(_) => j += 1,
            }
        }
        let raw = &self.s[start + 1..j];
        self.i = start;
        self.take(j + 1 - start);
        Ok(StrLit {
            value: unescape(raw),
            span: Span::new(start, j + 1),
        })
    }

    /// `number_raw`: digits, an optional fraction, an optional exponent.
    fn number_end(&self, from: usize) -> Option<usize> {
        let digits = |mut k: usize| {
            let s = k;
            while k < self.b.len() && self.b[k].is_ascii_digit() {
                k += 1;
            }
            (k > s).then_some(k)
        };
        let mut end = digits(from)?;
        if self.b.get(end) == Some(&b'.') {
            if let Some(e) = digits(end + 1) {
                end = e;
            }
        }
        if matches!(self.b.get(end), Some(b'e' | b'E')) {
            let mut k = end + 1;
            if matches!(self.b.get(k), Some(b'+' | b'-')) {
                k += 1;
            }
            if let Some(e) = digits(k) {
                end = e;
            }
        }
        Some(end)
    }

    /// A number (`signed`: a `-` may lead), its value finite.
    fn number(&mut self, signed: bool) -> R<Number> {
        let start = self.i;
        let from = if signed && self.at(0) == b'-' {
            start + 1
        } else {
            start
        };
        let end = self.number_end(from).ok_or(Fail)?;
        let text = &self.s[start..end];
        let value: f64 = text.parse().unwrap_or(f64::NAN);
        if !value.is_finite() {
            return Err(GiveUp);
        }
        self.take(end - start);
        Ok(Number {
            value,
            text: text.to_string(),
            span: Span::new(start, end),
        })
    }

    /// `operand (infix operand)*`, grouped as the builder groups it.
    fn expr(&mut self) -> R<Expr> {
        let mut operands = vec![self.operand()?];
        let mut ops: Vec<(BinOp, u8)> = Vec::new();
        let mut count = 1;
        loop {
            let save = (self.i, self.last);
            self.skip();
            let op = match (self.at(0), self.at(1)) {
                (b'>', b'>') => Some((BinOp::Compose, 0, 2)),
                (b'+', _) => Some((BinOp::Add, 1, 1)),
                (b'-', _) => Some((BinOp::Sub, 1, 1)),
                (b'*', _) => Some((BinOp::Mul, 2, 1)),
                (b'/', _) => Some((BinOp::Div, 2, 1)),
                _ => None,
            };
            let Some((op, prec, len)) = op else {
                (self.i, self.last) = save;
                break;
            };
            self.take(len);
            self.skip();
            match self.operand() {
                Ok(e) => {
                    // `>>` groups to the right: `a >> b >> net` is `a >> (b >> net)`.
                    while ops
                        .last()
                        .is_some_and(|&(o, p)| p > prec || (p == prec && o != BinOp::Compose))
                    {
                        reduce(&mut operands, &mut ops);
                    }
                    ops.push((op, prec));
                    operands.push(e);
                    count += 1;
                }
                Err(Fail) => {
                    (self.i, self.last) = save;
                    break;
                }
                Err(GiveUp) => return Err(GiveUp),
            }
            if count > MAX_OPERANDS {
                return Err(GiveUp);
            }
        }
        while !ops.is_empty() {
            reduce(&mut operands, &mut ops);
        }
        Ok(operands.pop().expect("an operand"))
    }

    /// `range | -? primary`.
    fn operand(&mut self) -> R<Expr> {
        let start = self.i;
        match self.range() {
            Ok(e) => return Ok(e),
            Err(GiveUp) => return Err(GiveUp),
            Err(Fail) => self.i = start,
        }
        if self.at(0) == b'-' {
            self.take(1);
            let neg = Span::new(start, self.i);
            self.skip();
            let e = self.primary()?;
            let span = neg.join(e.span);
            return Ok(Expr {
                kind: ExprKind::Neg(Box::new(e)),
                span,
            });
        }
        self.primary()
    }

    fn range(&mut self) -> R<Expr> {
        let start = self.i;
        let first = self.at(usize::from(self.at(0) == b'-'));
        if !first.is_ascii_digit() {
            return Err(Fail);
        }
        let from = self.number(true)?;
        self.skip();
        self.lit("..")?;
        self.skip();
        let to = self.number(true)?;
        let save = (self.i, self.last);
        self.skip();
        let mut step = None;
        if self.is_kw("step") {
            self.kw("step")?;
            self.skip();
            match self.number(true) {
                Ok(n) => step = Some(n),
                Err(GiveUp) => return Err(GiveUp),
                Err(Fail) => (self.i, self.last) = save,
            }
        } else {
            (self.i, self.last) = save;
        }
        Ok(Expr {
            kind: ExprKind::Range {
                start: from,
                end: to,
                step,
            },
            span: Span::new(start, self.last),
        })
    }

    /// Comma-separated expressions up to `close` (a trailing comma allowed).
    fn items(&mut self, close: u8) -> R<Vec<Expr>> {
        let mut out = Vec::new();
        self.skip();
        if self.at(0) != close {
            out.push(self.expr()?);
            loop {
                let save = (self.i, self.last);
                self.skip();
                if self.at(0) != b',' {
                    (self.i, self.last) = save;
                    break;
                }
                self.take(1);
                self.skip();
                match self.expr() {
                    Ok(e) => out.push(e),
                    // A trailing comma.
                    Err(Fail) => break,
                    Err(GiveUp) => return Err(GiveUp),
                }
            }
            self.skip();
        }
        if self.at(0) != close {
            return Err(Fail);
        }
        self.take(1);
        Ok(out)
    }

    fn primary(&mut self) -> R<Expr> {
        let start = self.i;
        let c = self.at(0);
        let kind = if c.is_ascii_digit() {
            let n = self.number(false)?;
            ExprKind::Number {
                value: n.value,
                text: n.text,
            }
        } else if c == b'"' {
            ExprKind::Str(self.string()?.value)
        } else if self.is_kw("true") || self.is_kw("false") {
            let v = self.is_kw("true");
            self.take(if v { 4 } else { 5 });
            ExprKind::Bool(v)
        } else if self.is_kw("inf") {
            self.take(3);
            ExprKind::Inf
        } else if c == b'[' {
            self.take(1);
            ExprKind::List(self.items(b']')?)
        } else if c == b'{' {
            match self.record() {
                Ok(fields) => ExprKind::Record(fields),
                Err(GiveUp) => return Err(GiveUp),
                Err(Fail) => {
                    self.i = start + 1;
                    self.last = self.i;
                    ExprKind::Set(self.items(b'}')?)
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let first = self.name()?;
            let save = (self.i, self.last);
            self.skip();
            if self.at(0) == b'(' {
                self.take(1);
                match self.args() {
                    Ok(args) => ExprKind::Call {
                        callee: first,
                        args,
                    },
                    Err(GiveUp) => return Err(GiveUp),
                    // Not a call: a path (which a `(` cannot follow).
                    Err(Fail) => return Err(Fail),
                }
            } else {
                (self.i, self.last) = save;
                let mut path = vec![first];
                self.repeat(".", Self::name, &mut path);
                ExprKind::Path(path)
            }
        } else if c == b'(' {
            self.take(1);
            self.skip();
            let inner = self.expr()?;
            self.skip();
            self.lit(")")?;
            ExprKind::Paren(Box::new(inner))
        } else {
            return Err(Fail);
        };
        Ok(Expr {
            kind,
            span: Span::new(start, self.last),
        })
    }

    /// `{ name: expr, … }` after the `{`… from the `{`.
    fn record(&mut self) -> R<Vec<Field>> {
        self.take(1);
        let mut fields = Vec::new();
        loop {
            self.skip();
            if !fields.is_empty() && self.at(0) == b'}' {
                self.take(1);
                return Ok(fields);
            }
            let name = self.name()?;
            self.skip();
            self.lit(":")?;
            self.skip();
            let value = self.expr()?;
            fields.push(Field { name, value });
            self.skip();
            match self.at(0) {
                b',' => self.take(1),
                b'}' => {
                    self.take(1);
                    return Ok(fields);
                }
                _ => return Err(Fail),
            }
        }
    }

    /// A call's arguments after its `(`, through the `)`.
    fn args(&mut self) -> R<Vec<Arg>> {
        let mut args = Vec::new();
        loop {
            self.skip();
            if self.at(0) == b')' {
                self.take(1);
                return Ok(args);
            }
            let start = self.i;
            let mut name = None;
            if let Ok(n) = self.name() {
                self.skip();
                if self.at(0) == b':' {
                    self.take(1);
                    self.skip();
                    name = Some(n);
                } else {
                    self.i = start;
                }
            }
            let value = self.expr()?;
            args.push(Arg {
                name,
                value,
                span: Span::new(start, self.last),
            });
            self.skip();
            match self.at(0) {
                b',' => self.take(1),
                b')' => {
                    self.take(1);
                    return Ok(args);
                }
                _ => return Err(Fail),
            }
        }
    }
}

fn reduce(operands: &mut Vec<Expr>, ops: &mut Vec<(BinOp, u8)>) {
    super::reduce(operands, ops)
}
