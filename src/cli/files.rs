//! The commands that read files and run nothing: `check`, `fmt`,
//! `builtins` and `cache verify`.

use super::{load, print_diagnostics, summary, Format};
use crate::graph;
use crate::language::{self, source::SourceMap};
use std::path::{Path, PathBuf};

/// `advp cache verify`.
pub(super) fn cache_verify(cache: Option<PathBuf>) -> i32 {
    use crate::runtime::cache::{verify_dir, Cache, Verdict};
    let root = cache.unwrap_or_else(|| PathBuf::from(".advp").join("cache"));
    let entries = Cache::new(root.clone()).entries();
    let (mut bad, mut old) = (0, 0);
    for dir in &entries {
        let name = dir
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        match verify_dir(dir) {
            Verdict::Verified => println!("ok          {name}"),
            Verdict::Unverified => {
                old += 1;
                println!("unverified  {name} (no manifest: written by an earlier advp)");
            }
            Verdict::Corrupt(problems) => {
                bad += 1;
                println!("damaged     {name}: {}", problems.join("; "));
            }
        }
    }
    eprintln!(
        "advp: {} entries in {}: {} damaged, {old} unverified{}",
        entries.len(),
        root.display(),
        bad,
        if bad > 0 {
            "; `advp run` moves damaged entries aside and computes them again"
        } else {
            ""
        }
    );
    i32::from(bad > 0)
}

pub(super) fn builtins(markdown: bool) {
    use language::builtins::{reference_markdown, Default, BUILTINS};
    if markdown {
        print!("{}", reference_markdown());
        return;
    }
    for b in BUILTINS {
        let args: Vec<String> = b
            .params
            .iter()
            .map(|p| match p.default {
                Default::Required => p.name.to_string(),
                Default::Absent => format!("{}?", p.name),
                Default::Text(t) => format!("{}: {t}", p.name),
            })
            .collect();
        // Statement defaults (an evaluation's attack) follow the call.
        let stmts: Vec<String> = b
            .stmts
            .iter()
            .filter_map(|s| s.default.map(|d| format!("{} {d}", s.key)))
            .collect();
        let block = if stmts.is_empty() {
            String::new()
        } else {
            format!(" {{ {} }}", stmts.join("; "))
        };
        println!(
            "{:<8} {}({}){block}",
            b.kind.as_str(),
            b.name,
            args.join(", ")
        );
    }
}

pub(super) fn check(files: &[PathBuf], format: Format) -> i32 {
    let mut status = 0;
    let mut json = Vec::new();
    for file in files {
        let loaded = match load(file) {
            Ok(l) => l,
            Err(code) => {
                status = status.max(code);
                continue;
            }
        };
        let outcome = crate::graph::check_all(&loaded);
        let mut errors = outcome.errors;
        let mut warnings = Vec::new();
        let mut nodes = 0;
        if let Some(p) = &outcome.program {
            match graph::plan(p) {
                Ok(plan) => nodes = plan.order.len(),
                Err(e) => errors.extend(e),
            }
            // What checks but cannot run is an error here too, not at run time.
            let base = file.parent().unwrap_or(Path::new("."));
            let lowered = crate::runtime::lower::lower(p, base);
            errors.extend(lowered.problems.into_iter().map(|(_, d)| d));
            warnings.extend(lowered.missing.into_iter().map(|(_, d)| d));
            warnings.extend(lowered.warnings.into_iter().map(|(_, d)| d));
        }
        match format {
            Format::Json => json.extend(
                errors
                    .iter()
                    .chain(&warnings)
                    .map(|d| d.to_json(&outcome.sources)),
            ),
            Format::Text if errors.is_empty() => {
                print_diagnostics(&warnings, &outcome.sources);
                let profiles = outcome.program.as_ref().map_or(0, |p| p.profiles.len());
                let w = match warnings.len() {
                    0 => String::new(),
                    1 => ", 1 warning".to_string(),
                    n => format!(", {n} warnings"),
                };
                println!(
                    "ok: {} ({nodes} nodes, {profiles} profiles{w})",
                    file.display()
                );
            }
            Format::Text => {
                print_diagnostics(&errors, &outcome.sources);
                summary(file, errors.len());
            }
        }
        if !errors.is_empty() {
            status = status.max(1);
        }
    }
    if format == Format::Json {
        let out = serde_json::json!({ "ok": status == 0, "diagnostics": json });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("diagnostics serialise")
        );
    }
    status
}

pub(super) fn fmt(files: &[PathBuf], check_only: bool) -> i32 {
    let mut status = 0;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                status = 2;
                continue;
            }
        };
        let mut sources = SourceMap::default();
        let id = sources.add(file.display().to_string(), Some(file.clone()), text.clone());
        let module = match language::parser::parse(&text, id) {
            Ok(m) => m,
            Err(errs) => {
                print_diagnostics(&errs, &sources);
                summary(file, errs.len());
                status = status.max(1);
                continue;
            }
        };
        let formatted = language::fmt::format(&text, &module);
        if formatted == text {
            continue;
        }
        if check_only {
            eprintln!("would reformat {}", file.display());
            status = status.max(1);
        } else if let Err(e) = crate::util::write_atomic(file, formatted.as_bytes()) {
            eprintln!("error: cannot write {}: {e}", file.display());
            status = 2;
        } else {
            eprintln!("formatted {}", file.display());
        }
    }
    status
}
