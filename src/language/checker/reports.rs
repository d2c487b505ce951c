//! `report` lines: targets, modes, paths and formats.

use super::suggest::suggest;
use super::util::article;
use super::Checker;
use crate::language::ast::*;
use crate::language::builtins;
use crate::language::diagnostic::{one_of, Code, Diagnostic};
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
                        Diagnostic::new(
                            Code::WrongKind,
                            file,
                            r.target.span,
                            format!(
                                "`{}` is a fixed defense: it has no results to report",
                                r.target.name
                            ),
                        )
                        .label("nothing to report")
                        .help("report an `eval` that uses it (`eval e = robustness([d >> model], …)`), or a trained defense such as `ape_gan`"),
                    );
                    continue;
                }
                (k, _) => *k,
            };
            let mode = r.mode.as_ref().map(|m| m.name.clone());
            if let Some(m) = &r.mode {
                const MODES: &[&str] = &["adversarial", "examples"];
                if !MODES.contains(&m.name.as_str()) {
                    let help = match suggest(&m.name, MODES.iter().copied()) {
                        Some(hint) => format!("{hint} a report is `to` (tables and figures), `adversarial to` or `examples to`"),
                        None => "a report is `report x to …`, `report x adversarial to …` or `report x examples to …`".to_string(),
                    };
                    self.err(
                        Diagnostic::new(
                            Code::ReportMode,
                            file,
                            m.span,
                            format!("unknown report `{}`", m.name),
                        )
                        .label("unknown report mode")
                        .help(help),
                    );
                    continue;
                }
                if kind != DeclKind::Eval {
                    self.err(
                        Diagnostic::new(
                            Code::ReportMode,
                            file,
                            m.span,
                            format!(
                                "`{}` reports come from evaluations, and `{}` is {}",
                                m.name,
                                r.target.name,
                                article(kind)
                            ),
                        )
                        .label("needs an eval node")
                        .help(format!("report an `eval` node's {} clips", m.name)),
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
                        Diagnostic::new(Code::ReportPath, file, p.span, "a report path must stay inside the output folder")
                            .label(if p.value.is_empty() { "empty path" } else { "leaves the output folder" })
                            .help("write a path relative to the output folder, without `..`, e.g. \"table2.md\""),
                    );
                    continue;
                }
                let ext = path
                    .extension()
                    .map(|e| e.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                if !formats.contains(&ext.as_str()) {
                    let what = match formats {
                        [""] => "a folder name without an extension".to_string(),
                        f => one_of(&f.iter().map(|x| format!(".{x}")).collect::<Vec<_>>()),
                    };
                    self.err(
                        Diagnostic::new(
                            Code::ReportFormat,
                            file,
                            p.span,
                            format!(
                                "cannot write {} `{}` as `.{}`",
                                article(kind),
                                r.target.name,
                                ext
                            ),
                        )
                        .label("unsupported format")
                        .help(format!("use {what}")),
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
