//! What `advp lsp` answers: hover, completion, definitions, references,
//! rename, symbols, formatting and semantic tokens, from an [`Analysis`]
//! of the document and the one built-in table.

use super::index::{Index, Occ, What};
use super::text::{self, Lines};
use super::Analysis;
use crate::language::ast::{DeclKind, Item, ProfileEntry, Span};
use crate::language::builtins::{self, Builtin};
use crate::language::source::FileId;
use lsp_types as lsp;
use std::collections::HashMap;

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

/// `advp fmt`'s layout of the whole main file, as one edit (none when it
/// does not parse, or is formatted).
pub fn format(text: &str) -> Option<Vec<lsp::TextEdit>> {
    let module = crate::language::parser::parse(text, FileId(0)).ok()?;
    let formatted = crate::language::fmt::format(text, &module);
    if formatted == text {
        return Some(Vec::new());
    }
    let lines = Lines::new(text);
    Some(vec![lsp::TextEdit::new(
        lines.range(0, text.len()),
        formatted,
    )])
}
