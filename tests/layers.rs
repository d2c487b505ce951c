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

#[test]
fn the_runtime_modules_import_each_other_without_a_cycle() {
    let dir = src().join("runtime");
    let mut all = Vec::new();
    files(&dir, &mut all);
    // Module name (the first component under runtime/) → the modules it uses.
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &all {
        let rel = f.strip_prefix(&dir).expect("under runtime");
        let name = rel
            .components()
            .next()
            .expect("component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if name == "mod" {
            continue;
        }
        let text = code(&std::fs::read_to_string(f).expect("read"));
        let mut used = after(&text, "crate::runtime::");
        // `super::x` in a file directly under runtime/ (or in a folder's
        // mod.rs) is the runtime module `x`.
        let depth = rel.components().count();
        if depth == 1 || (depth == 2 && rel.ends_with("mod.rs")) {
            used.extend(after(&text, "super::"));
        }
        used.remove(&name);
        uses.entry(name).or_default().extend(used);
    }
    assert!(uses.len() > 15, "the scan found the runtime's modules");
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
    for n in uses.keys() {
        if let Some(cycle) = visit(n, &uses, &mut state, &mut Vec::new()) {
            panic!(
                "the runtime's modules import in a circle: {}",
                cycle.join(" → ")
            );
        }
    }
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

/// `unsafe` is denied crate-wide; the one FFI module (libtorch's autocast
/// switches) is the only file that allows it.
#[test]
fn only_the_autocast_module_allows_unsafe_code() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let allowing: Vec<String> = all
        .iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .is_ok_and(|t| t.contains("allow(unsafe_code)") || code(&t).contains("unsafe "))
        })
        .map(|p| p.strip_prefix(src()).unwrap().display().to_string())
        .collect();
    assert_eq!(allowing, ["runtime/train/precision.rs"]);
}
