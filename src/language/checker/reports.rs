//! `report` lines: targets, modes, paths and formats.

use super::errors::CheckError;
use super::suggest::suggest;
use super::Checker;
use crate::language::ast::*;
use crate::language::builtins::{self, ReportMode};
use crate::language::program::ReportNode;

impl<'a> Checker<'a> {
    pub(super) fn resolve_reports(&mut self) -> Vec<ReportNode> {
        let mut out = Vec::new();
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
                if kind != DeclKind::Eval {
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
                let path = std::path::Path::new(&p.value);
                if p.value.is_empty()
                    || path.is_absolute()
                    || path
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    self.err(
                        CheckError::ReportPath {
                            empty: p.value.is_empty(),
                        }
                        .at(file, p.span),
                    );
                    continue;
                }
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
                paths.push(p.value.clone());
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
