//! What `advp lsp` answers: hover, completion, definitions, references,
//! rename, symbols, formatting and semantic tokens, from an [`Analysis`]
//! of the document and the one built-in table.

use super::index::{Index, Occ, What};
use super::text::{self, Lines};
use super::Analysis;
use crate::language::ast::{DeclKind, Item, ProfileEntry, Span};
use crate::language::builtins::{self, Builtin, Ty, BUILTINS};
use crate::language::source::FileId;
use lsp_types as lsp;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The built-in a name is, through presets and aliases (`pgd_inf` → `pgd`).
pub fn builtin_of(index: &Index, name: &str) -> Option<&'static Builtin> {
    let mut name = name.to_string();
    for _ in 0..32 {
        if index.decl(&name).is_none() {
            return builtins::lookup(&name);
        }
        name = index.decl(&name)?.callee.clone()?;
    }
    None
}

/// Where a file of the analysis is, as a URI: an open document's as its
/// client names it, the stdlib as its read-only copy.
pub fn uri_of_file(a: &Analysis, file: FileId) -> Option<lsp::Uri> {
    let f = a.loaded.sources.file(file);
    match &f.path {
        Some(p) => Some(a.uris.get(p).cloned().unwrap_or_else(|| text::uri_of(p))),
        None => text::stdlib_path(&f.name).map(|p| text::uri_of(&p)),
    }
}

fn location(a: &Analysis, file: FileId, span: Span) -> Option<lsp::Location> {
    let uri = uri_of_file(a, file)?;
    let range = Lines::new(&a.loaded.sources.file(file).text).range(span.start, span.end);
    Some(lsp::Location::new(uri, range))
}

fn markdown(value: String) -> lsp::Hover {
    lsp::Hover {
        contents: lsp::HoverContents::Markup(lsp::MarkupContent {
            kind: lsp::MarkupKind::Markdown,
            value,
        }),
        range: None,
    }
}

fn builtin_hover(b: &Builtin) -> String {
    format!("```advp\n{}\n```\n\n{}", b.signature(), b.markdown())
}

/// Hover at `offset` of `file`.
pub fn hover(
    a: &Analysis,
    file: FileId,
    offset: usize,
    node_state: &dyn Fn(&str) -> Option<String>,
) -> Option<lsp::Hover> {
    let occ = a.index.at(file, offset)?;
    let text = match &occ.what {
        What::Callee | What::Ref if a.index.decl(&occ.name).is_none() => {
            builtin_hover(builtins::lookup(&occ.name)?)
        }
        What::Decl { .. } | What::Ref | What::Callee => node_hover(a, &occ.name, node_state)?,
        What::Arg { callee } => {
            let b = builtin_of(&a.index, callee)?;
            let p = b.param(&occ.name)?;
            let range = p
                .range
                .map_or(String::new(), |(lo, hi)| format!(", {lo} ..= {hi}"));
            format!(
                "`{}` of `{}`: {}, default {}{range}\n\n{}",
                p.name,
                b.name,
                p.ty.doc_name(),
                p.default_text(),
                p.doc
            )
        }
        What::Stmt { decl } => {
            let callee = a.index.decl(decl)?.callee.clone()?;
            let b = builtin_of(&a.index, &callee)?;
            let s = b.stmt(&occ.name)?;
            let modes = match s.modes {
                [] => String::new(),
                m => format!("\n\nforms: {}", m.join(", ")),
            };
            let default = s.default.map_or(String::new(), |d| {
                format!("\n\nwithout it: `{} {d}`", s.key)
            });
            format!(
                "statement `{}` of `{}`: {}{modes}{default}",
                s.key, b.name, s.doc
            )
        }
        What::Field { node } => {
            let callee = a.index.decl(node)?.callee.clone()?;
            let b = builtin_of(&a.index, &callee)?;
            let f = b.field(&occ.name)?;
            format!("`{node}.{}`: {}", f.name, f.doc)
        }
        What::Profile => format!(
            "profile `{}`: `advp run FILE --profile {}`",
            occ.name, occ.name
        ),
    };
    let mut h = markdown(text);
    h.range =
        Some(Lines::new(&a.loaded.sources.file(file).text).range(occ.span.start, occ.span.end));
    Some(h)
}

/// A node: its declaration, its resolved arguments and its cache state.
fn node_hover(
    a: &Analysis,
    name: &str,
    node_state: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let d = a.index.decl(name)?;
    let f = a.loaded.sources.file(d.file);
    let written = f.text.get(d.span.start..d.span.end).unwrap_or_default();
    let first: String = written.lines().take(12).collect::<Vec<_>>().join("\n");
    let mut out = format!("```advp\n{first}\n```\n\n{} node, in {}", d.kind, f.name);
    if let Some(program) = &a.diagnosed.outcome.program {
        if let Some(n) = program.node(name) {
            let args: Vec<String> = n
                .args
                .iter()
                .map(|(k, v)| {
                    let json = serde_json::to_value(v).unwrap_or_default();
                    format!("`{k}: {}`", crate::runtime::cache::why::shown(&json))
                })
                .collect();
            out.push_str(&format!(
                "\n\nresolved: `{}` with {}",
                n.builtin,
                args.join(", ")
            ));
        }
    }
    if let Some(state) = node_state(name) {
        out.push_str(&format!("\n\ncache: {state}"));
    }
    if let Some(b) = d.callee.as_deref().and_then(|c| builtin_of(&a.index, c)) {
        out.push_str(&format!("\n\n---\n\n{}", builtin_hover(b)));
    }
    Some(out)
}

/// Go-to-definition: a node or preset's declaration, a `use`d file.
pub fn definition(a: &Analysis, file: FileId, offset: usize) -> Option<lsp::Location> {
    if let Some(target) = use_at(a, file, offset) {
        return Some(lsp::Location::new(target, lsp::Range::default()));
    }
    let occ = a.index.at(file, offset)?;
    match occ.what {
        What::Decl { .. } | What::Ref | What::Callee => {
            let d = a.index.decl(&occ.name)?;
            location(a, d.file, d.name_span)
        }
        _ => None,
    }
}

/// The file a `use "…"` at `offset` names.
fn use_at(a: &Analysis, file: FileId, offset: usize) -> Option<lsp::Uri> {
    let (_, module) = a.loaded.modules.iter().find(|(f, _)| *f == file)?;
    let u = module.items.iter().find_map(|i| match i {
        Item::Use(u) if u.path.span.start <= offset && offset <= u.path.span.end => Some(u),
        _ => None,
    })?;
    if let Some(p) = text::stdlib_path(&u.path.value) {
        return Some(text::uri_of(&p));
    }
    let from = a.loaded.sources.file(file).path.as_ref()?;
    let p = from.parent()?.join(&u.path.value);
    Some(text::uri_of(&p.canonicalize().unwrap_or(p)))
}

/// Every use of the node (or preset) named at `offset`, its declaration too.
pub fn references(
    a: &Analysis,
    file: FileId,
    offset: usize,
    declaration: bool,
) -> Vec<(FileId, Span)> {
    let Some(occ) = a.index.at(file, offset) else {
        return Vec::new();
    };
    if !matches!(occ.what, What::Decl { .. } | What::Ref | What::Callee)
        || a.index.decl(&occ.name).is_none()
    {
        return Vec::new();
    }
    a.index
        .occs
        .iter()
        .filter(|o| o.name == occ.name)
        .filter(|o| match o.what {
            What::Decl { .. } => declaration,
            What::Ref | What::Callee => true,
            _ => false,
        })
        .map(|o| (o.file, o.span))
        .collect()
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The edits that rename the node at `offset`; an error a user can act on
/// when it cannot be renamed. (A map keyed by `Uri`, as `WorkspaceEdit`
/// has it; the key's interior cache never changes its hash.)
#[allow(clippy::mutable_key_type)]
pub fn rename(
    a: &Analysis,
    file: FileId,
    offset: usize,
    new: &str,
) -> Result<HashMap<lsp::Uri, Vec<lsp::TextEdit>>, String> {
    let occ = a
        .index
        .at(file, offset)
        .ok_or("place the cursor on a node's name to rename it")?;
    let d = a.index.decl(&occ.name).ok_or_else(|| {
        format!(
            "`{}` is a built-in, not a node of this pipeline; only nodes are renamed",
            occ.name
        )
    })?;
    if a.loaded.sources.file(d.file).path.is_none() {
        return Err(format!(
            "`{}` is declared in the stdlib, which is read-only",
            occ.name
        ));
    }
    if !is_name(new)
        || DeclKind::parse(new).is_some()
        || crate::language::parser::RESERVED.contains(&new)
    {
        return Err(format!("`{new}` is not a name: a letter or `_`, then letters, digits or `_`, and no declaration kind"));
    }
    if a.index.decl(new).is_some() || builtins::lookup(new).is_some() {
        return Err(format!(
            "`{new}` is already declared or a built-in; choose another name"
        ));
    }
    let mut edits: HashMap<lsp::Uri, Vec<lsp::TextEdit>> = HashMap::new();
    for (f, span) in references(a, file, offset, true) {
        if a.loaded.sources.file(f).path.is_none() {
            continue;
        }
        let Some(loc) = location(a, f, span) else {
            continue;
        };
        edits
            .entry(loc.uri)
            .or_default()
            .push(lsp::TextEdit::new(loc.range, new.to_string()));
    }
    Ok(edits)
}

fn symbol_kind(k: DeclKind) -> lsp::SymbolKind {
    match k {
        DeclKind::Data => lsp::SymbolKind::STRUCT,
        DeclKind::Model => lsp::SymbolKind::CLASS,
        DeclKind::Attack | DeclKind::Defense => lsp::SymbolKind::FUNCTION,
        DeclKind::Rule => lsp::SymbolKind::CONSTANT,
        DeclKind::Train | DeclKind::Eval | DeclKind::Analyze => lsp::SymbolKind::METHOD,
    }
}

/// The main file's declarations, reports and profiles.
#[allow(deprecated)]
pub fn symbols(a: &Analysis) -> Vec<lsp::DocumentSymbol> {
    let file = a.loaded.main;
    let lines = Lines::new(&a.loaded.sources.file(file).text);
    let sym =
        |name: &str, detail: String, kind, span: Span, sel: Span, children| lsp::DocumentSymbol {
            name: name.to_string(),
            detail: Some(detail),
            kind,
            tags: None,
            deprecated: None,
            range: lines.range(span.start, span.end),
            selection_range: lines.range(sel.start, sel.end),
            children,
        };
    let decl = |d: &crate::language::ast::Decl| {
        let callee = match &d.value.kind {
            crate::language::ast::ExprKind::Call { callee, .. } => callee.name.clone(),
            _ => String::new(),
        };
        sym(
            &d.name.name,
            format!("{} = {callee}", d.kind),
            symbol_kind(d.kind),
            d.span,
            d.name.span,
            None,
        )
    };
    let Some((_, module)) = a.loaded.modules.iter().find(|(f, _)| *f == file) else {
        return Vec::new();
    };
    module
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Decl(d) => Some(decl(d)),
            Item::Report(r) => Some(sym(
                &format!("report {}", r.target.name),
                r.paths
                    .iter()
                    .map(|p| p.value.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                lsp::SymbolKind::FILE,
                r.span,
                r.target.span,
                None,
            )),
            Item::Profile(p) => Some(sym(
                &p.name.name,
                "profile".into(),
                lsp::SymbolKind::NAMESPACE,
                p.span,
                p.name.span,
                Some(
                    p.entries
                        .iter()
                        .filter_map(|e| match e {
                            ProfileEntry::Decl(d) => Some(decl(d)),
                            _ => None,
                        })
                        .collect(),
                ),
            )),
            Item::Use(_) | Item::Setting(_) => None,
        })
        .collect()
}

/// The token types of semantic highlighting, in legend order.
pub const TOKEN_TYPES: &[&str] = &[
    "keyword",
    "type",
    "function",
    "variable",
    "parameter",
    "property",
    "number",
    "string",
    "comment",
    "operator",
    "namespace",
];
/// The modifiers: declaration, defaultLibrary (a built-in).
pub const TOKEN_MODIFIERS: &[&str] = &["declaration", "defaultLibrary"];

const KEYWORDS: &[&str] = &[
    "use",
    "seed",
    "seeds",
    "device",
    "precision",
    "threads",
    "profile",
    "report",
    "to",
    "every",
    "step",
    "grid",
    "compare",
    "at",
    "true",
    "false",
    "inf",
];

/// Semantic tokens of `file`: a lexical pass, each name classified by its
/// role in the index.
pub fn semantic_tokens(a: &Analysis, file: FileId) -> Vec<lsp::SemanticToken> {
    let text = &a.loaded.sources.file(file).text;
    let roles: HashMap<usize, &Occ> = a
        .index
        .occs
        .iter()
        .filter(|o| o.file == file)
        .map(|o| (o.span.start, o))
        .collect();
    let ty = |n: &str| TOKEN_TYPES.iter().position(|t| *t == n).unwrap_or(0) as u32;
    let lines = Lines::new(text);
    let mut raw: Vec<(usize, usize, u32, u32)> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            raw.push((start, i, ty("comment"), 0));
        } else if c == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
            raw.push((start, i, ty("string"), 0));
        } else if c.is_ascii_digit() {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || (bytes[i] == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)))
            {
                i += 1;
            }
            raw.push((start, i, ty("number"), 0));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &text[start..i];
            let builtin = |n: &str| u32::from(builtins::lookup(n).is_some()) << 1;
            let token = match roles.get(&start).map(|o| &o.what) {
                Some(What::Decl { .. }) => Some((ty("variable"), 1)),
                Some(What::Ref) if a.index.decl(word).is_some() => Some((ty("variable"), 0)),
                Some(What::Ref) | Some(What::Callee) => Some((ty("function"), builtin(word))),
                Some(What::Arg { .. }) => Some((ty("parameter"), 0)),
                Some(What::Stmt { .. }) | Some(What::Field { .. }) => Some((ty("property"), 0)),
                Some(What::Profile) => Some((ty("namespace"), 1)),
                None if DeclKind::parse(word).is_some() => Some((ty("type"), 0)),
                None if KEYWORDS.contains(&word) => Some((ty("keyword"), 0)),
                None => None,
            };
            if let Some((t, m)) = token {
                raw.push((start, i, t, m));
            }
        } else if i + 1 < bytes.len() && (&bytes[i..i + 2] == b">>" || &bytes[i..i + 2] == b"..") {
            i += 2;
            raw.push((start, i, ty("operator"), 0));
        } else {
            if matches!(c, b'=' | b'+' | b'-' | b'*' | b'/' | b'<' | b'>') {
                raw.push((start, i + 1, ty("operator"), 0));
            }
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let (mut line, mut col) = (0u32, 0u32);
    for (s, e, t, m) in raw {
        let (a, b) = (lines.position(s), lines.position(e));
        if a.line != b.line {
            continue;
        }
        let delta_line = a.line - line;
        let delta_start = if delta_line == 0 {
            a.character - col
        } else {
            a.character
        };
        out.push(lsp::SemanticToken {
            delta_line,
            delta_start,
            length: b.character - a.character,
            token_type: t,
            token_modifiers_bitset: m,
        });
        (line, col) = (a.line, a.character);
    }
    out
}

// ------------------------------------------------------------- completion

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

/// `advp fmt`'s layout of the whole main file, as one edit (none when it
/// does not parse, or is formatted).
pub fn format(text: &str, file: &Path) -> Option<Vec<lsp::TextEdit>> {
    let module = crate::language::parser::parse(text, FileId(0)).ok()?;
    let formatted = crate::language::fmt::format(text, &module);
    let _ = file;
    if formatted == text {
        return Some(Vec::new());
    }
    let lines = Lines::new(text);
    Some(vec![lsp::TextEdit::new(
        lines.range(0, text.len()),
        formatted,
    )])
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
