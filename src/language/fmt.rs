//! `advp fmt`: one canonical layout, comments kept, idempotent.
//!
//! Comments sit between the items, entries and statements they were written
//! near; a comment inside an expression moves to just above its line. At most
//! one blank line is kept between lines that had one.

use super::ast::*;
use super::parser::{comments, escape};

/// A line longer than this puts each call argument on a line of its own.
pub const WIDTH: usize = 100;

pub fn format(src: &str, module: &Module) -> String {
    let mut f = Formatter {
        src,
        comments: comments(src),
        next_comment: 0,
        out: String::new(),
        last_end: 0,
        indent: 0,
    };
    for item in &module.items {
        f.item(item);
    }
    f.leading(src.len(), true);
    let mut out = f.out.trim_end().to_string();
    out.push('\n');
    if out.trim().is_empty() {
        return String::new();
    }
    out
}

struct Formatter<'a> {
    src: &'a str,
    comments: Vec<Span>,
    next_comment: usize,
    out: String,
    /// Where the last printed thing ended in the source, to see blank lines.
    last_end: usize,
    indent: usize,
}

impl Formatter<'_> {
    fn pad(&self) -> String {
        "  ".repeat(self.indent)
    }

    fn blank_between(&self, from: usize, to: usize) -> bool {
        let gap = &self.src[from.min(to)..to];
        gap.matches('\n').count() >= 2
    }

    fn line(&mut self, text: &str) {
        let pad = self.pad();
        self.out.push_str(&pad);
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Prints the comments that start before `upto`, each on its own line; `between`
    /// says they sit between anchors (blank lines kept), not inside one.
    fn leading(&mut self, upto: usize, between: bool) {
        while self.next_comment < self.comments.len()
            && self.comments[self.next_comment].start < upto
        {
            let c = self.comments[self.next_comment];
            self.next_comment += 1;
            if between && self.blank_between(self.last_end, c.start) && !self.at_block_start() {
                self.out.push('\n');
            }
            let text = self.src[c.start..c.end].trim_end().to_string();
            self.line(&text);
            if between {
                self.last_end = c.end;
            }
        }
    }

    fn at_block_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with("{\n")
    }

    /// A comment on the same source line as `end`, printed after the last line.
    fn trailing(&mut self, end: usize) {
        if let Some(&c) = self.comments.get(self.next_comment) {
            if c.start >= end && !self.src[end..c.start].contains('\n') {
                self.next_comment += 1;
                let text = self.src[c.start..c.end].trim_end();
                // Replace the newline just written with "  # …\n".
                self.out.pop();
                self.out.push_str("  ");
                self.out.push_str(text);
                self.out.push('\n');
                self.last_end = c.end;
            }
        }
    }

    /// Starts an anchor (item, entry, statement) at `span`: comments and a blank line first.
    fn open(&mut self, span: Span) {
        self.leading(span.start, true);
        if self.blank_between(self.last_end, span.start) && !self.at_block_start() {
            self.out.push('\n');
        }
        // Comments inside the anchor's header move above it, with no blank line.
        self.last_end = span.start;
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Use(u) => {
                self.open(u.span);
                self.line(&format!("use \"{}\"", escape(&u.path.value)));
                self.close(u.span.end);
            }
            Item::Setting(s) => self.setting(s),
            Item::Decl(d) => self.decl(d),
            Item::Report(r) => {
                self.open(r.span);
                let mut text = format!("report {}", r.target.name);
                if let Some(m) = &r.mode {
                    text.push(' ');
                    text.push_str(&m.name);
                }
                let paths: Vec<String> = r
                    .paths
                    .iter()
                    .map(|p| format!("\"{}\"", escape(&p.value)))
                    .collect();
                text.push_str(&format!(" to {}", paths.join(", ")));
                self.leading(r.span.end, false);
                self.line(&text);
                self.close(r.span.end);
            }
            Item::Profile(p) => {
                self.open(p.span);
                self.line(&format!("profile {} {{", p.name.name));
                self.last_end = p.name.span.end;
                self.trailing_after_brace(p.name.span.end, p.span.end);
                self.indent += 1;
                for e in &p.entries {
                    match e {
                        ProfileEntry::Decl(d) => self.decl(d),
                        ProfileEntry::Setting(s) => self.setting(s),
                        ProfileEntry::Override(o) => {
                            self.open(o.span);
                            let path: Vec<&str> = o.path.iter().map(|i| i.name.as_str()).collect();
                            self.leading(o.span.end, false);
                            let text = format!("{} = {}", path.join("."), expr(&o.value));
                            self.line(&text);
                            self.close(o.span.end);
                        }
                    }
                }
                self.leading(p.span.end - 1, true);
                self.indent -= 1;
                self.line("}");
                self.close(p.span.end);
            }
        }
    }

    /// After `{`: a comment on the brace's line stays there.
    fn trailing_after_brace(&mut self, from: usize, limit: usize) {
        let brace = self.src[from..limit]
            .find('{')
            .map_or(from, |i| from + i + 1);
        self.trailing(brace);
        self.last_end = self.last_end.max(brace);
    }

    fn close(&mut self, end: usize) {
        self.last_end = end;
        self.trailing(end);
    }

    fn setting(&mut self, s: &Setting) {
        self.open(s.span);
        let value = match &s.value {
            SettingValue::Expr(e) => expr(e),
            SettingValue::Word(d) => d.name.clone(),
        };
        self.line(&format!("{} {}", s.key.as_str(), value));
        self.close(s.span.end);
    }

    fn decl(&mut self, d: &Decl) {
        self.open(d.span);
        let header_end = d.value.span.end;
        self.leading(header_end, false);
        let head = format!("{} {} = ", d.kind.as_str(), d.name.name);
        let suffix = if d.block.is_some() { " {" } else { "" };
        let flat = format!("{head}{}{suffix}", expr(&d.value));
        if self.pad().len() + flat.len() <= WIDTH || !matches!(d.value.kind, ExprKind::Call { .. })
        {
            self.line(&flat);
        } else {
            let ExprKind::Call { callee, args } = &d.value.kind else {
                unreachable!()
            };
            self.line(&format!("{head}{}(", callee.name));
            self.indent += 1;
            for a in args {
                self.line(&format!("{},", arg(a)));
            }
            self.indent -= 1;
            self.line(&format!("){suffix}"));
        }
        match &d.block {
            None => self.close(d.span.end),
            Some(b) => {
                self.last_end = header_end;
                self.trailing_after_brace(header_end, b.span.end);
                self.indent += 1;
                for s in &b.stmts {
                    self.open(s.span());
                    self.leading(s.span().end, false);
                    self.line(&stmt(s));
                    self.close(s.span().end);
                }
                self.leading(b.span.end - 1, true);
                self.indent -= 1;
                // An empty block prints as `{}` on the header line.
                if self.out.ends_with(" {\n") && b.stmts.is_empty() {
                    self.out.truncate(self.out.len() - 1);
                    self.out.push_str("}\n");
                } else {
                    self.line("}");
                }
                self.close(d.span.end);
            }
        }
    }
}

fn stmt(s: &Stmt) -> String {
    match s {
        Stmt::Schedule {
            key,
            mode,
            value,
            every,
            ..
        } => {
            let mut t = format!("{} {} {}", key.name, mode.name, expr(value));
            if let Some(e) = every {
                t.push_str(&format!(" every {}", expr(e)));
            }
            t
        }
        Stmt::Setting {
            key, grid, value, ..
        } => {
            format!(
                "{}{} {}",
                key.name,
                if *grid { " grid" } else { "" },
                expr(value)
            )
        }
        Stmt::Compare {
            a, greater, b, at, ..
        } => {
            let side = |s: &[Ident]| {
                s.iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" >> ")
            };
            let mut t = format!(
                "compare {} {} {}",
                side(a),
                if *greater { ">" } else { "<" },
                side(b)
            );
            if !at.is_empty() {
                let conds: Vec<String> = at
                    .iter()
                    .map(|(k, v)| format!("{} {}", k.name, expr(v)))
                    .collect();
                t.push_str(&format!(" at {}", conds.join(", ")));
            }
            t
        }
    }
}

fn arg(a: &Arg) -> String {
    match &a.name {
        Some(n) => format!("{}: {}", n.name, expr(&a.value)),
        None => expr(&a.value),
    }
}

fn list(items: &[Expr]) -> String {
    items.iter().map(expr).collect::<Vec<_>>().join(", ")
}

/// An expression on one line, in canonical spacing.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number { text, .. } => text.clone(),
        ExprKind::Str(s) => format!("\"{}\"", escape(s)),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Inf => "inf".into(),
        ExprKind::List(items) => format!("[{}]", list(items)),
        ExprKind::Set(items) => format!("{{{}}}", list(items)),
        ExprKind::Record(fields) => {
            let f: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.name.name, expr(&f.value)))
                .collect();
            format!("{{ {} }}", f.join(", "))
        }
        ExprKind::Range { start, end, step } => match step {
            Some(s) => format!("{}..{} step {}", start.text, end.text, s.text),
            None => format!("{}..{}", start.text, end.text),
        },
        ExprKind::Path(p) => p
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join("."),
        ExprKind::Call { callee, args } => {
            format!(
                "{}({})",
                callee.name,
                args.iter().map(arg).collect::<Vec<_>>().join(", ")
            )
        }
        ExprKind::Binary { op, lhs, rhs } => format!("{} {} {}", expr(lhs), op.symbol(), expr(rhs)),
        ExprKind::Neg(i) => format!("-{}", expr(i)),
        ExprKind::Paren(i) => format!("({})", expr(i)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::parser::parse;
    use crate::language::source::FileId;

    fn fmt(src: &str) -> String {
        format(src, &parse(src, FileId(0)).unwrap())
    }

    #[test]
    fn canonical_spacing() {
        assert_eq!(
            fmt("seed   1\ndata d=synthetic( classes:10 ,frames : 8)\n"),
            "seed 1\ndata d = synthetic(classes: 10, frames: 8)\n"
        );
    }

    #[test]
    fn comments_stay_and_blank_lines_collapse() {
        let src = "# head\n\n\n\nseed 1 # trailing\n# before d\ndata d = synthetic()\n";
        assert_eq!(
            fmt(src),
            "# head\n\nseed 1  # trailing\n# before d\ndata d = synthetic()\n"
        );
    }

    #[test]
    fn blocks_indent_and_keep_inner_comments() {
        let src = "train t = adversarial(n, d) { # why\nbudget curriculum 0..12 step 2 every 10\n# alpha next\nalpha eps\n}\n";
        let want = "train t = adversarial(n, d) {  # why\n  budget curriculum 0..12 step 2 every 10\n  # alpha next\n  alpha eps\n}\n";
        assert_eq!(fmt(src), want);
        assert_eq!(fmt(want), want);
    }

    #[test]
    fn long_calls_wrap_one_argument_per_line() {
        let src = "data ucf = ucf101(root: \"data/ucf101/a/very/long/path/to/frames/of/the/dataset\", split: 1, frames: 16, size: 112)\n";
        let out = fmt(src);
        assert!(out.starts_with("data ucf = ucf101(\n  root: "), "{out}");
        assert_eq!(fmt(&out), out);
    }
}
