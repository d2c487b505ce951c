//! `report` lines: targets, modes, paths and formats.

use super::errors::CheckError;
use super::suggest::suggest;
use super::Checker;
use crate::language::ast::*;
use crate::language::builtins;
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
            // train node; a fixed one has nothing to report.
            let kind = match (&decl.kind, &decl.value.kind) {
                (DeclKind::Defense, ExprKind::Call { callee, .. })
                    if builtins::TRAINED_DEFENSES.contains(&callee.name.as_str()) =>
                {
                    DeclKind::Train
                }
                (DeclKind::Defense, _) => {
                    self.err(
                        CheckError::FixedDefenseReport {
                            name: &r.target.name,
                        }
                        .at(file, r.target.span),
                    );
                    continue;
                }
                (k, _) => *k,
            };
            let mode = r.mode.as_ref().map(|m| m.name.clone());
            if let Some(m) = &r.mode {
                const MODES: &[&str] = &["adversarial", "examples"];
                if !MODES.contains(&m.name.as_str()) {
                    self.err(
                        CheckError::UnknownReportMode {
                            mode: &m.name,
                            hint: suggest(&m.name, MODES.iter().copied()),
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
            let formats: &[&str] = match (mode.as_deref(), kind) {
                (Some("adversarial"), _) => &["safetensors"],
                (Some(_), _) => &[""],
                (None, DeclKind::Eval) => &["md", "csv", "json", "html", "svg", "png"],
                (None, DeclKind::Analyze) => &["svg", "png", "json", "csv"],
                (None, DeclKind::Train) => &["json", "jsonl", "csv", "svg", "png"],
                _ => &["json", "csv", "svg", "png"],
            };
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
                let ext = path
                    .extension()
                    .map(|e| e.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                if !formats.contains(&ext.as_str()) {
                    self.err(
                        CheckError::ReportFormat {
                            kind,
                            target: &r.target.name,
                            ext: &ext,
                            formats,
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
