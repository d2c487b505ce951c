//! The source tree has no circles: every `crate::…` path in `src/` names a
//! stage below the file's own (ARCHITECTURE.md's stage table), and the
//! runtime's modules import each other without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The stages, bottom first: a module may use only the stages before it.
const LAYERS: &[&str] = &[
    "util", "language", "graph", "results", "runtime", "reports", "pipeline", "cluster", "cli",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments (so a doc link is not an import) and
/// without its unit tests (the `#[cfg(test)]` module at the end), which may
/// use any module they test against.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names that follow `prefix` in the code: `crate::runtime::x` gives `x`
/// for the prefix `crate::runtime::`.
fn after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        // Not part of a longer path such as `x::crate::…`.
        let ok =
            i == 0 || !rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
        rest = &rest[i + prefix.len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ok && !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file of `src/` belongs to.
fn stage(path: &Path) -> String {
    let rel = path.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

#[test]
fn no_stage_imports_a_stage_above_it() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for f in &all {
        let s = stage(f);
        if s == "lib" || s == "main" {
            continue;
        }
        let Some(mine) = LAYERS.iter().position(|l| *l == s) else {
            wrong.push(format!("{}: `{s}` is not in the stage table", f.display()));
            continue;
        };
        seen.insert(s.clone());
        let text = code(&std::fs::read_to_string(f).expect("read"));
        for used in after(&text, "crate::") {
            match LAYERS.iter().position(|l| *l == used) {
                Some(theirs) if theirs <= mine => {}
                Some(_) => wrong.push(format!(
                    "{}: the `{s}` stage uses `crate::{used}`, a stage above it",
                    f.display()
                )),
                None => wrong.push(format!("{}: `crate::{used}` is not a stage", f.display())),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(seen.len() >= 8, "the scan found the stages: {seen:?}");
}

/// The module a file under `src/runtime/` is, as its path below the runtime:
/// `attacks/pgd.rs` is `attacks::pgd`, `attacks/mod.rs` is `attacks`,
/// `cache/lock.rs` is `cache::lock`. `None` for the runtime's own `mod.rs`
/// and for the `tests.rs` files of unit tests, which may use any module they
/// test against (as the `#[cfg(test)]` modules [`code`] leaves out).
fn module_of(rel: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    match stem {
        "tests" => return None,
        "mod" => {}
        _ => parts.push(stem.to_string()),
    }
    (!parts.is_empty()).then_some(parts)
}

/// The paths named by the path or `use` tree at the start of `s`:
/// `a::{b, c::{d, self}, e as f}` gives `a::b`, `a::c::d`, `a::c` and `a::e`.
/// A path ends at the first character that continues none (`*`, `(`, `;`).
fn paths_at(s: &str) -> Vec<Vec<String>> {
    fn blank(s: &[u8], i: &mut usize) {
        while s.get(*i).is_some_and(|c| c.is_ascii_whitespace()) {
            *i += 1;
        }
    }
    fn word(s: &[u8], i: &mut usize) -> String {
        let start = *i;
        while s
            .get(*i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            *i += 1;
        }
        String::from_utf8_lossy(&s[start..*i]).into_owned()
    }
    fn tree(s: &[u8], i: &mut usize, mut path: Vec<String>, out: &mut Vec<Vec<String>>) {
        loop {
            blank(s, i);
            if s.get(*i) == Some(&b'{') {
                *i += 1;
                loop {
                    blank(s, i);
                    if s.get(*i) == Some(&b'}') {
                        *i += 1;
                        return;
                    }
                    tree(s, i, path.clone(), out);
                    blank(s, i);
                    match s.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b'}') => {
                            *i += 1;
                            return;
                        }
                        _ => return,
                    }
                }
            }
            let name = word(s, i);
            if name.is_empty() {
                out.push(path);
                return;
            }
            // `x::{self}` names `x` itself.
            if name != "self" || path.is_empty() {
                path.push(name);
            }
            if s[*i..].starts_with(b"::") {
                *i += 2;
                continue;
            }
            // `x as y`: the path is `x`.
            let mut j = *i;
            blank(s, &mut j);
            if s[j..].starts_with(b"as ") {
                j += 3;
                blank(s, &mut j);
                word(s, &mut j);
                *i = j;
            }
            out.push(path);
            return;
        }
    }
    let mut out = Vec::new();
    tree(s.as_bytes(), &mut 0, Vec::new(), &mut out);
    out
}

/// Which runtime modules each module uses, from `(path below src/runtime/,
/// text)` pairs. Every file is its own module, folders nested at any depth;
/// a path (`crate::runtime::…`, `super::…`, `self::…`, in a `use` or in the
/// code) counts as the longest module it names: `crate::runtime::attacks::
/// pgd::Norm` is `attacks::pgd`, `super::*` in `data/frames/splits.rs` is
/// `data::frames`. A module's use of its own sub-modules is containment (a
/// folder's `mod.rs` declares and re-exports them), not an edge.
fn runtime_uses(files: &[(PathBuf, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeMap<Vec<String>, &str> = files
        .iter()
        .filter_map(|(rel, text)| Some((module_of(rel)?, text.as_str())))
        .collect();
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (me, text) in &modules {
        let used = uses.entry(me.join("::")).or_default();
        let text = code(text);
        for (i, _) in text.char_indices() {
            let rest = &text[i..];
            if !["crate::", "super::", "self::"]
                .iter()
                .any(|p| rest.starts_with(p))
            {
                continue;
            }
            // Not part of a longer path such as `x::super::…` or `myself::`.
            if text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for path in paths_at(rest) {
                let mut base: Vec<String> = me.clone();
                let mut segs = path.as_slice();
                match segs.first().map(String::as_str) {
                    Some("crate") => {
                        if segs.get(1).map(String::as_str) != Some("runtime") {
                            continue;
                        }
                        base.clear();
                        segs = &segs[2..];
                    }
                    Some("self") => segs = &segs[1..],
                    Some("super") => {
                        while segs.first().map(String::as_str) == Some("super") {
                            if base.pop().is_none() {
                                break;
                            }
                            segs = &segs[1..];
                        }
                        if segs.first().map(String::as_str) == Some("super") {
                            continue; // above the runtime
                        }
                    }
                    _ => continue,
                }
                let full: Vec<String> = base.iter().chain(segs).cloned().collect();
                // The longest module the path names.
                let Some(target) = (1..=full.len())
                    .rev()
                    .map(|n| &full[..n])
                    .find(|m| modules.contains_key(*m))
                else {
                    continue;
                };
                if target.starts_with(me) {
                    continue; // itself or one of its sub-modules
                }
                used.insert(target.join("::"));
            }
        }
    }
    uses
}

/// A cycle of the graph, as the modules along it (the first again at the end).
fn cycle(uses: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        uses: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let start = path.iter().position(|p| p == n).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in uses.get(n).into_iter().flatten() {
            if uses.contains_key(m) {
                if let Some(c) = visit(m, uses, state, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    uses.keys()
        .find_map(|n| visit(n, uses, &mut state, &mut Vec::new()))
}

#[test]
fn the_runtime_modules_import_each_other_without_a_cycle() {
    let dir = src().join("runtime");
    let mut all = Vec::new();
    files(&dir, &mut all);
    let texts: Vec<(PathBuf, String)> = all
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&dir).expect("under runtime").to_path_buf();
            (rel, std::fs::read_to_string(f).expect("read"))
        })
        .collect();
    let uses = runtime_uses(&texts);
    // Every file is a module of its own, in the rooms and nested below them.
    for m in [
        "attacks",
        "attacks::pgd",
        "models::resnet",
        "data::frames",
        "data::frames::splits",
        "train::optim",
        "eval::analysis",
        "exec::build",
        "cache::lock",
    ] {
        assert!(
            uses.contains_key(m),
            "the scan sees `{m}`: {:?}",
            uses.keys()
        );
    }
    assert!(
        uses.get("attacks::apgd")
            .is_some_and(|u| u.contains("attacks::pgd")),
        "the scan sees `attacks::apgd` use its sibling `pgd`: {uses:?}"
    );
    if let Some(cycle) = cycle(&uses) {
        panic!(
            "the runtime's modules import in a circle: {}",
            cycle.join(" → ")
        );
    }
}

#[test]
fn the_runtime_scan_finds_a_cycle_through_nested_folders() {
    // The check above would pass on a scan that finds nothing: a circle
    // through modules in different folders, at different depths, written
    // as `crate::runtime::…`, `super::super::…` and `use` trees, is found.
    let file = |p: &str, t: &str| (PathBuf::from(p), t.to_string());
    let files = [
        file("mod.rs", "pub mod attacks;\npub mod models;"),
        file(
            "attacks/mod.rs",
            "pub mod pgd;\npub use self::pgd::{Norm, Pgd};\nuse super::data::Clips;",
        ),
        file(
            "attacks/pgd.rs",
            "use super::super::models::{self, Net as N};",
        ),
        file("attacks/tests.rs", "use crate::runtime::data::frames::x;"),
        file(
            "models/mod.rs",
            "fn f() { crate::runtime::data::frames::read(); }",
        ),
        file("data/mod.rs", "pub mod frames;"),
        file(
            "data/frames/mod.rs",
            "use crate::runtime::{attacks::{pgd::{self, grad}, Attack}, models};\nmod splits;",
        ),
        file("data/frames/splits.rs", "use super::*;"),
    ];
    let uses = runtime_uses(&files);
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        uses["attacks"],
        set(&["data"]),
        "a folder's own modules are no edge"
    );
    assert_eq!(uses["attacks::pgd"], set(&["models"]));
    assert_eq!(uses["models"], set(&["data::frames"]));
    assert_eq!(
        uses["data::frames"],
        set(&["attacks", "attacks::pgd", "models"])
    );
    assert_eq!(uses["data::frames::splits"], set(&["data::frames"]));
    assert!(
        !uses.contains_key("attacks::tests"),
        "unit tests use anything"
    );
    let found = cycle(&uses).expect("the circle is found");
    assert!(
        found.contains(&"data::frames".to_string()) && found.contains(&"models".to_string()),
        "{found:?}"
    );
    // Without the edge that closes it, no circle.
    let mut open = uses.clone();
    open.get_mut("models").unwrap().clear();
    assert_eq!(cycle(&open), None);
}

#[test]
fn the_scan_sees_an_import_against_the_order() {
    // The checks above would pass on a scan that finds nothing: make sure it finds.
    let text =
        code("use crate::cli::x; // crate::pipeline in a comment\nlet y = crate::reports::z;");
    let found = after(&text, "crate::");
    assert_eq!(
        found,
        BTreeSet::from(["cli".to_string(), "reports".to_string()])
    );
}

/// `unsafe` is denied crate-wide; the two FFI modules (libtorch's autocast
/// switches, the Python bridge's tensor hand-over) are the only files that
/// allow it.
#[test]
fn only_the_ffi_modules_allow_unsafe_code() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let allowing: Vec<String> = all
        .iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .is_ok_and(|t| t.contains("allow(unsafe_code)") || code(&t).contains("unsafe "))
        })
        .map(|p| p.strip_prefix(src()).unwrap().display().to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(allowing, ["runtime/bridge.rs", "runtime/precision.rs"]);
}
