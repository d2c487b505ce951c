//! `report` lines: targets, modes, paths and formats.

use super::errors::{CheckError, PathProblem};
use super::suggest::suggest;
use super::Checker;
use crate::language::ast::*;
use crate::language::builtins::{self, ReportMode};
use crate::language::program::ReportNode;
use crate::language::source::FileId;

impl<'a> Checker<'a> {
    pub(super) fn resolve_reports(&mut self) -> Vec<ReportNode> {
        let mut out = Vec::new();
        // Every path written so far: (normalised path → where), starting with
        // the page every run writes, `<pipeline>.html`.
        let main = self.loaded.main;
        let page = std::path::Path::new(&self.sources.file(main).name)
            .file_stem()
            .map(|s| format!("{}.html", s.to_string_lossy()));
        let mut written: std::collections::HashMap<std::path::PathBuf, Option<(FileId, Span)>> =
            page.into_iter().map(|p| (normalise(&p), None)).collect();
        for (file, r) in self.reports.clone() {
            let Some(i) = self.lookup(
                &r.target,
                file,
                &[
                    DeclKind::Eval,
                    DeclKind::Analyze,
                    DeclKind::Train,
                    DeclKind::Defense,
                ],
            ) else {
                continue;
            };
            let decl = self.entries[i].decl.clone();
            // A trained defense (APE-GAN) reports its training metrics like a
            // train node; a fixed one has nothing to report (the table's rule).
            let builtin = match &decl.value.kind {
                ExprKind::Call { callee, .. } => callee.name.as_str(),
                _ => "",
            };
            let Some(kind) = builtins::reports_as(decl.kind, builtin) else {
                self.err(
                    CheckError::FixedDefenseReport {
                        name: &r.target.name,
                    }
                    .at(file, r.target.span),
                );
                continue;
            };
            let mode = r.mode.as_ref().map(|m| m.name.clone());
            let report_mode = ReportMode::parse(mode.as_deref());
            if let Some(m) = &r.mode {
                if report_mode.is_none() {
                    self.err(
                        CheckError::UnknownReportMode {
                            mode: &m.name,
                            hint: suggest(&m.name, ReportMode::WORDS.iter().copied()),
                        }
                        .at(file, m.span),
                    );
                    continue;
                }
                let has =
                    report_mode.is_some_and(|m| !builtins::report_formats(kind, m).is_empty());
                if !has {
                    self.err(
                        CheckError::ReportModeNeedsEval {
                            mode: &m.name,
                            target: &r.target.name,
                            kind,
                        }
                        .at(file, m.span),
                    );
                    continue;
                }
            }
            let report_mode = report_mode.unwrap_or(ReportMode::Results);
            let mut paths = Vec::new();
            for p in &r.paths {
                let key = match inside(&p.value) {
                    Ok(key) => key,
                    Err(problem) => {
                        self.err(CheckError::ReportPath { problem }.at(file, p.span));
                        continue;
                    }
                };
                if let Err(formats) = builtins::report_format(kind, report_mode, &p.value) {
                    let ext = builtins::report_extension(&p.value);
                    let formats: Vec<&str> = formats.iter().map(|f| f.extension()).collect();
                    self.err(
                        CheckError::ReportFormat {
                            kind,
                            target: &r.target.name,
                            ext: &ext,
                            formats: &formats,
                        }
                        .at(file, p.span),
                    );
                    continue;
                }
                if let Some(first) = written.get(&key) {
                    let first = *first;
                    let first_at = first.map_or(String::new(), |(f, s)| self.location(f, s));
                    self.err(
                        CheckError::ReportClash {
                            path: &p.value,
                            first: first.filter(|(f, _)| *f == file).map(|(_, s)| s),
                            first_at,
                            page: first.is_none(),
                        }
                        .at(file, p.span),
                    );
                    continue;
                }
                // Written where the checker looked: `a/../b` is `b`.
                paths.push(key.to_string_lossy().into_owned());
                written.insert(key, Some((file, p.span)));
            }
            out.push(ReportNode {
                target: r.target.name.clone(),
                mode,
                paths,
                file,
                span: r.span,
            });
        }
        out
    }
}

/// A report path as the file system sees it: `./a//b.md` is `a/b.md`.
fn normalise(p: &str) -> std::path::PathBuf {
    std::path::Path::new(p)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// A report path as the file system sees it, inside the output folder:
/// `./a//b.md` and `x/../a/b.md` are `a/b.md`. Refused: empty, absolute, or
/// leaving the folder; naming the output folder itself (`.`, `x/..`), which
/// an examples report would replace whole; leading into `.advp`, advp's own
/// folder (the cache); holding control characters.
fn inside(p: &str) -> Result<std::path::PathBuf, PathProblem> {
    use std::path::Component;
    if p.is_empty() {
        return Err(PathProblem::Empty);
    }
    if let Some(c) = p.chars().find(|c| c.is_control()) {
        return Err(PathProblem::Control(c));
    }
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in std::path::Path::new(p).components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(PathProblem::Leaves);
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(PathProblem::Leaves),
        }
    }
    match parts.first() {
        None => Err(PathProblem::Folder),
        Some(first) if *first == ".advp" => Err(PathProblem::Cache),
        Some(_) => Ok(parts.iter().collect()),
    }
}
