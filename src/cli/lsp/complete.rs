//! Completion: where the cursor is, read from the text before it (the
//! file need not parse while a line is typed), and what fits there from
//! the one built-in table and the pipeline's nodes.

use super::features::builtin_of;
use super::index::Index;
use crate::language::ast::DeclKind;
use crate::language::builtins::{self, Ty, BUILTINS};
use lsp_types as lsp;
use std::collections::BTreeMap;

/// Where the cursor is, read from the text before it (the file need not
/// parse while it is typed).
#[derive(Debug, PartialEq)]
enum Place {
    /// At the start of a top-level line.
    TopLevel,
    /// After `KIND NAME = `.
    Value { kind: DeclKind },
    /// An argument's name in a call of `callee`, after `positional`
    /// arguments without names and those named `given`.
    ArgName {
        callee: String,
        positional: usize,
        given: Vec<String>,
    },
    /// An argument's value (`name: |`).
    ArgValue { callee: String, arg: String },
    /// A statement's key in the block of a declaration calling `callee`.
    StmtKey { callee: String },
    /// After a schedule's key (`budget |`).
    Mode { callee: String, key: String },
    /// After `report `.
    ReportTarget,
    /// Inside `use "…`.
    UsePath,
    /// Anywhere else.
    Expr,
}

/// The innermost bracket open before `end`, skipping strings and comments.
fn open_bracket(text: &str, end: usize) -> Option<(usize, u8)> {
    let mut stack: Vec<(usize, u8)> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'#' => {
                while i < end && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < end && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b @ (b'(' | b'[' | b'{') => stack.push((i, b)),
            b')' | b']' | b'}' => {
                stack.pop();
            }
            _ => {}
        }
        i += 1;
    }
    stack.pop()
}

/// The word ending at `end` (letters, digits, `_`).
fn word_before(text: &str, end: usize) -> &str {
    let t = text[..end].trim_end();
    let start = t
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    &t[start..]
}

fn place(text: &str, offset: usize) -> Place {
    let before = &text[..offset];
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let typed = line.trim_start();
    let current = word_before(text, offset);
    if typed.starts_with("use ") && typed.matches('"').count() == 1 {
        return Place::UsePath;
    }
    let words: Vec<&str> = typed.split_whitespace().collect();
    match open_bracket(text, offset) {
        None => {
            if words.len() <= 1 && !typed.ends_with(' ') {
                return Place::TopLevel;
            }
            if words.first() == Some(&"report")
                && words.len() <= 2
                && (words.len() == 1 || !typed.ends_with(' '))
            {
                return Place::ReportTarget;
            }
            if let Some(eq) = typed.find('=') {
                let kind = typed.split_whitespace().next().and_then(DeclKind::parse);
                if let (Some(kind), true) = (kind, typed[eq + 1..].trim() == current) {
                    return Place::Value { kind };
                }
            }
            Place::Expr
        }
        Some((at, b'(')) => {
            let callee = word_before(text, at).to_string();
            // The argument being written: since the last `,` or `(` at this depth.
            let inner = &text[at + 1..offset];
            let mut depth = 0i32;
            let mut last = 0;
            let mut given = Vec::new();
            let mut positional = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth -= 1,
                    ',' if depth == 0 => {
                        match inner[last..i].split_once(':') {
                            Some((name, _)) => given.push(name.trim().to_string()),
                            None => positional += 1,
                        }
                        last = i + 1;
                    }
                    _ => {}
                }
            }
            match inner[last..].split_once(':') {
                Some((arg, _)) => Place::ArgValue {
                    callee,
                    arg: arg.trim().to_string(),
                },
                None => Place::ArgName {
                    callee,
                    positional,
                    given,
                },
            }
        }
        Some((at, b'{')) => {
            // A declaration's block: `KIND NAME = callee(…) {`.
            let head = &text[..at];
            let line_start = head.rfind('\n').map_or(0, |i| i + 1);
            let decl_line = head[..at]
                .rmatch_indices('=')
                .next()
                .map(|(i, _)| &head[i + 1..])
                .unwrap_or(&head[line_start..]);
            let callee = decl_line
                .trim_start()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or_default()
                .to_string();
            let opens_block = head.trim_end().ends_with(')') || head[line_start..].contains('=');
            if !opens_block {
                return Place::Expr;
            }
            if words.len() <= 1 && !typed.ends_with(' ') {
                Place::StmtKey { callee }
            } else if words.len() == 1 || (words.len() == 2 && !typed.ends_with(' ')) {
                Place::Mode {
                    callee,
                    key: words[0].to_string(),
                }
            } else {
                Place::Expr
            }
        }
        Some(_) => Place::Expr,
    }
}

fn item(
    label: &str,
    kind: lsp::CompletionItemKind,
    detail: String,
    doc: &str,
) -> lsp::CompletionItem {
    lsp::CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail),
        documentation: (!doc.is_empty()).then(|| {
            lsp::Documentation::MarkupContent(lsp::MarkupContent {
                kind: lsp::MarkupKind::Markdown,
                value: doc.to_string(),
            })
        }),
        ..Default::default()
    }
}

fn nodes_of(index: &Index, kinds: &[DeclKind]) -> Vec<lsp::CompletionItem> {
    let mut names: BTreeMap<&str, DeclKind> = BTreeMap::new();
    for (n, ds) in &index.decls {
        if let Some(d) = ds.first() {
            if kinds.is_empty() || kinds.contains(&d.kind) {
                names.insert(n, d.kind);
            }
        }
    }
    names
        .into_iter()
        .map(|(n, k)| {
            item(
                n,
                lsp::CompletionItemKind::VARIABLE,
                format!("{k} node"),
                "",
            )
        })
        .collect()
}

fn builtins_of(kind: Option<DeclKind>) -> Vec<lsp::CompletionItem> {
    BUILTINS
        .iter()
        .filter(|b| kind.is_none_or(|k| b.kind == k))
        .map(|b| {
            item(
                b.name,
                lsp::CompletionItemKind::FUNCTION,
                b.signature(),
                b.doc,
            )
        })
        .collect()
}

/// Completions at `offset` of the main file's text.
pub fn complete(index: &Index, text: &str, offset: usize) -> Vec<lsp::CompletionItem> {
    let offset = offset.min(text.len());
    match place(text, offset) {
        Place::TopLevel => {
            let mut out: Vec<lsp::CompletionItem> = DeclKind::ALL
                .iter()
                .map(|k| {
                    let mut i = item(
                        k.as_str(),
                        lsp::CompletionItemKind::KEYWORD,
                        format!("{k} NAME = …"),
                        "",
                    );
                    i.insert_text = Some(format!("{k} ${{1:name}} = $0"));
                    i.insert_text_format = Some(lsp::InsertTextFormat::SNIPPET);
                    i
                })
                .collect();
            for (k, d) in [
                ("use", "use \"stdlib/attacks.advp\""),
                ("report", "report NODE to \"NODE.md\""),
                ("profile", "profile NAME { … }"),
                ("seed", "seed 1"),
                ("seeds", "seeds [1, 2, 3]"),
                ("device", "device cuda:0"),
                ("precision", "precision bf16"),
                ("threads", "threads 4"),
            ] {
                out.push(item(k, lsp::CompletionItemKind::KEYWORD, d.to_string(), ""));
            }
            out
        }
        Place::Value { kind } => {
            let mut out = builtins_of(Some(kind));
            out.extend(nodes_of(index, &[kind]));
            out
        }
        Place::ArgName {
            callee,
            positional,
            given,
        } => {
            let Some(b) = builtin_of(index, &callee) else {
                return nodes_of(index, &[]);
            };
            b.params
                .iter()
                .skip(positional)
                .filter(|p| p.name != builtins::EXTRA && !given.iter().any(|g| g == p.name))
                .map(|p| {
                    let mut i = item(
                        p.name,
                        lsp::CompletionItemKind::FIELD,
                        format!("{}, default {}", p.ty.doc_name(), p.default_text()),
                        p.doc,
                    );
                    i.insert_text = Some(format!("{}: ", p.name));
                    i
                })
                .collect()
        }
        Place::ArgValue { callee, arg } => {
            let Some(p) = builtin_of(index, &callee).and_then(|b| b.param(&arg)) else {
                return nodes_of(index, &[]);
            };
            match p.ty {
                Ty::Choice(words) => words
                    .iter()
                    .map(|w| {
                        item(
                            w,
                            lsp::CompletionItemKind::ENUM_MEMBER,
                            format!("`{}`", p.name),
                            "",
                        )
                    })
                    .collect(),
                Ty::Bool => ["true", "false"]
                    .iter()
                    .map(|w| item(w, lsp::CompletionItemKind::KEYWORD, "bool".into(), ""))
                    .collect(),
                Ty::Data | Ty::Split => nodes_of(index, &[DeclKind::Data]),
                Ty::Model | Ty::Models => nodes_of(
                    index,
                    &[DeclKind::Model, DeclKind::Train, DeclKind::Defense],
                ),
                Ty::Train => nodes_of(index, &[DeclKind::Train]),
                Ty::Attack | Ty::Attacks => {
                    let mut out = builtins_of(Some(DeclKind::Attack));
                    out.extend(nodes_of(index, &[DeclKind::Attack]));
                    out
                }
                Ty::Defense => {
                    let mut out = builtins_of(Some(DeclKind::Defense));
                    out.extend(nodes_of(index, &[DeclKind::Defense]));
                    out
                }
                _ => Vec::new(),
            }
        }
        Place::StmtKey { callee } => builtin_of(index, &callee)
            .map(|b| {
                b.stmts
                    .iter()
                    .map(|s| {
                        let detail = match (s.modes, s.default) {
                            ([], Some(d)) => format!("default: {} {d}", s.key),
                            ([], None) => "a setting".into(),
                            (m, _) => format!("forms: {}", m.join(", ")),
                        };
                        item(s.key, lsp::CompletionItemKind::PROPERTY, detail, s.doc)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Place::Mode { callee, key } => builtin_of(index, &callee)
            .and_then(|b| b.stmt(&key))
            .map(|s| {
                s.modes
                    .iter()
                    .map(|m| {
                        item(
                            m,
                            lsp::CompletionItemKind::ENUM_MEMBER,
                            format!("{key} {m} …"),
                            "",
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Place::ReportTarget => nodes_of(
            index,
            &[
                DeclKind::Train,
                DeclKind::Eval,
                DeclKind::Analyze,
                DeclKind::Defense,
            ],
        ),
        Place::UsePath => crate::language::loader::STDLIB
            .iter()
            .map(|(n, _)| item(n, lsp::CompletionItemKind::FILE, "the stdlib".into(), ""))
            .collect(),
        Place::Expr => {
            let mut out = nodes_of(index, &[]);
            out.extend(builtins_of(None));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> (String, usize) {
        let i = text.find('|').unwrap();
        (text.replace('|', ""), i)
    }

    #[test]
    fn the_place_of_the_cursor_is_read_from_the_text_before_it() {
        let cases = [
            ("da|", Place::TopLevel),
            (
                "train t = |",
                Place::Value {
                    kind: DeclKind::Train,
                },
            ),
            (
                "train t = adv|",
                Place::Value {
                    kind: DeclKind::Train,
                },
            ),
            (
                "train t = adversarial(m, d, ep|",
                Place::ArgName {
                    callee: "adversarial".into(),
                    positional: 2,
                    given: vec![],
                },
            ),
            (
                "train t = adversarial(m, d, epochs: 2, |",
                Place::ArgName {
                    callee: "adversarial".into(),
                    positional: 2,
                    given: vec!["epochs".into()],
                },
            ),
            (
                "train t = adversarial(m, d, optimizer: |",
                Place::ArgValue {
                    callee: "adversarial".into(),
                    arg: "optimizer".into(),
                },
            ),
            (
                "eval e = robustness([t], d.test) {\n  |",
                Place::StmtKey {
                    callee: "robustness".into(),
                },
            ),
            (
                "eval e = robustness([t], d.test) {\n  budget |",
                Place::Mode {
                    callee: "robustness".into(),
                    key: "budget".into(),
                },
            ),
            ("report |", Place::ReportTarget),
            ("use \"std|", Place::UsePath),
        ];
        for (text, want) in cases {
            let (t, i) = at(text);
            assert_eq!(place(&t, i), want, "{text}");
        }
    }
}
