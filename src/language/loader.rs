//! Reads a file and everything it `use`s: the embedded stdlib, or paths relative to the importer.

use super::ast::{Item, Module, Span};
use super::diagnostic::{Code, Diagnostic};
use super::parser;
use super::source::{FileId, SourceMap};
use std::path::{Path, PathBuf};

/// The stdlib, compiled into the binary so `use "stdlib/…"` works from any folder.
pub const STDLIB: &[(&str, &str)] = &[
    (
        "stdlib/attacks.advp",
        include_str!("../../stdlib/attacks.advp"),
    ),
    ("stdlib/data.advp", include_str!("../../stdlib/data.advp")),
    (
        "stdlib/models.advp",
        include_str!("../../stdlib/models.advp"),
    ),
    ("stdlib/rules.advp", include_str!("../../stdlib/rules.advp")),
];

pub fn stdlib(name: &str) -> Option<&'static str> {
    STDLIB.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Every module reachable from the main file, in load order (main first).
pub struct Loaded {
    pub sources: SourceMap,
    pub main: FileId,
    pub modules: Vec<(FileId, Module)>,
    pub errors: Vec<Diagnostic>,
}

/// The largest `.advp` file read (the main file or an import): pipelines are
/// a few kilobytes; a bound keeps `advp run /dev/zero` from reading forever.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// A source file's text, refused past [`MAX_FILE_BYTES`] before it is read whole.
pub fn read_source(path: &Path) -> Result<String, String> {
    use std::io::Read;
    // A FIFO or a device is refused before it is opened (it would block or never end).
    let f = crate::util::open_regular(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => e.to_string(),
        _ => format!("cannot read {}: {e}", crate::util::shown(path)),
    })?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", crate::util::shown(path)))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{} is larger than {} MiB; an .advp pipeline is a short text file (split a generated one with `use`)",
            crate::util::shown(path),
            MAX_FILE_BYTES >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        format!(
            "cannot read {}: it is not UTF-8 text",
            crate::util::shown(path)
        )
    })
}

/// Loads the file at `path`.
pub fn load_path(path: &Path) -> Result<Loaded, String> {
    let text = read_source(path)?;
    Ok(load_source(
        &path.display().to_string(),
        Some(path.to_path_buf()),
        text,
    ))
}

/// Loads a file whose text is given; `path` anchors its relative `use`s.
pub fn load_source(name: &str, path: Option<PathBuf>, text: String) -> Loaded {
    load_with(name, path, text, &|_| None)
}

/// [`load_source`], with the text of some imported files given by
/// `overlay` (by canonical path) instead of read: an editor's unsaved
/// buffers (`advp lsp`).
pub fn load_with(
    name: &str,
    path: Option<PathBuf>,
    text: String,
    overlay: &dyn Fn(&Path) -> Option<String>,
) -> Loaded {
    let mut sources = SourceMap::default();
    let canonical = path
        .as_ref()
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()));
    let main = sources.add(name, canonical, text);
    let mut l = Loaded {
        sources,
        main,
        modules: Vec::new(),
        errors: Vec::new(),
    };
    let mut stack = Vec::new();
    visit(&mut l, main, &mut stack, overlay);
    l
}

type Overlay<'a> = &'a dyn Fn(&Path) -> Option<String>;

fn visit(l: &mut Loaded, id: FileId, stack: &mut Vec<FileId>, overlay: Overlay) {
    let module = match parser::parse(l.sources.text(id), id) {
        Ok(m) => m,
        Err(errs) => {
            l.errors.extend(errs);
            l.modules.push((id, Module { items: Vec::new() }));
            return;
        }
    };
    let uses: Vec<(String, Span)> = module
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Use(u) => Some((u.path.value.clone(), u.path.span)),
            _ => None,
        })
        .collect();
    l.modules.push((id, module));
    stack.push(id);
    for (target, span) in uses {
        let found = resolve(l, id, &target, overlay);
        let child = match found {
            Ok(Resolved::Existing(child)) => {
                if let Some(pos) = stack.iter().position(|f| *f == child) {
                    let mut names: Vec<String> = stack[pos..]
                        .iter()
                        .map(|f| l.sources.file(*f).name.clone())
                        .collect();
                    names.push(l.sources.file(child).name.clone());
                    l.errors.push(
                        Diagnostic::new(
                            Code::ImportCycle,
                            id,
                            span,
                            format!("import cycle: {}", names.join(" → ")),
                        )
                        .label("this import closes the cycle")
                        .help("move the shared declarations into a third file that both import"),
                    );
                }
                continue;
            }
            Ok(Resolved::New(child)) => child,
            Err(help) => {
                l.errors.push(
                    Diagnostic::new(
                        Code::ImportNotFound,
                        id,
                        span,
                        format!("cannot find `{target}`"),
                    )
                    .label("no such file")
                    .help(help),
                );
                continue;
            }
        };
        visit(l, child, stack, overlay);
    }
    stack.pop();
}

enum Resolved {
    Existing(FileId),
    New(FileId),
}

fn resolve(
    l: &mut Loaded,
    from: FileId,
    target: &str,
    overlay: Overlay,
) -> Result<Resolved, String> {
    if target.starts_with("stdlib/") {
        if let Some(id) = l.sources.find_name(target) {
            return Ok(Resolved::Existing(id));
        }
        return match stdlib(target) {
            Some(text) => Ok(Resolved::New(l.sources.add(target, None, text.to_string()))),
            None => {
                let names: Vec<&str> = STDLIB.iter().map(|(n, _)| *n).collect();
                let near = super::diagnostic::nearest(target, names.iter().copied());
                Err(match near {
                    Some(n) => format!("did you mean `{n}`? the stdlib has {}", names.join(", ")),
                    None => format!("the stdlib has {}", names.join(", ")),
                })
            }
        };
    }
    let base = l
        .sources
        .file(from)
        .path
        .as_ref()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let path = base.join(target);
    // Shown relative to how the importer was named, so messages do not depend on the checkout.
    let shown = Path::new(&l.sources.file(from).name)
        .parent()
        .unwrap_or(Path::new(""))
        .join(target);
    // Only `.advp` files are read: a diagnostic quotes the lines of the file
    // it points into, and `use "/etc/shadow"` must not print a secret.
    if Path::new(target).extension().and_then(|e| e.to_str()) != Some("advp") {
        return Err(format!(
            "`use` reads `.advp` files only; {} is not one",
            shown.display()
        ));
    }
    let canonical = match path.canonicalize() {
        Ok(p) if p.is_file() => p,
        _ => {
            return Err(format!(
                "looked for {}; `use` paths are relative to the importing file, and `stdlib/…` names the built-in library",
                shown.display()
            ))
        }
    };
    if let Some(id) = l.sources.find_path(&canonical) {
        return Ok(Resolved::Existing(id));
    }
    let text = match overlay(&canonical) {
        Some(text) => text,
        None => read_source(&canonical)?,
    };
    Ok(Resolved::New(l.sources.add(
        shown.display().to_string(),
        Some(canonical),
        text,
    )))
}
