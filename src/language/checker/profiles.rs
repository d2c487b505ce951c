//! Profiles, their overrides, and `--set` from the command line.

use super::errors::CheckError;
use super::suggest::suggest;
use super::util::shift_spans;
use super::{ArgOverride, Checker, Entry};
use crate::language::ast::*;
use crate::language::builtins::{self, Builtin};
use crate::language::parser;
use crate::language::source::FileId;

impl<'a> Checker<'a> {
    pub(super) fn apply_profile_named(&mut self, name: &str) {
        self.profile = Some(name.to_string());
        let Some((file, profile)) = self.profiles.get(name).cloned() else {
            let text = format!("--profile {name}");
            let id = self.sources.add("<command line>", None, text.clone());
            let names: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            let d = CheckError::UnknownProfile {
                name,
                hint: suggest(name, names.iter().copied()),
                defined: names,
            }
            .at(id, Span::new(10, text.len()));
            self.err(d);
            return;
        };
        for entry in &profile.entries {
            match entry {
                ProfileEntry::Decl(d) => self.replace_decl(d, file, &profile.name.name),
                ProfileEntry::Setting(s) => self.settings.push((file, s.clone())),
                ProfileEntry::Override(o) => self.apply_override(&o.path, &o.value, file, o.span),
            }
        }
    }

    pub(super) fn replace_decl(&mut self, d: &Decl, file: FileId, profile: &str) {
        let Some(&i) = self.index.get(&d.name.name) else {
            let hint = suggest(&d.name.name, self.index.keys().map(String::as_str));
            self.err(
                CheckError::ReplacesNothing {
                    profile,
                    name: &d.name.name,
                    hint,
                }
                .at(file, d.name.span),
            );
            return;
        };
        let old_kind = self.entries[i].decl.kind;
        if old_kind != d.kind {
            self.err(
                CheckError::ProfileChangesKind {
                    name: &d.name.name,
                    old: old_kind,
                    new: d.kind,
                }
                .at(file, d.kind_span),
            );
            return;
        }
        self.entries[i] = Entry {
            decl: std::rc::Rc::new(d.clone()),
            file,
            overrides: Vec::new(),
        };
    }

    /// The built-in an entry ends up calling, following presets.
    pub(super) fn builtin_of_entry(&self, i: usize) -> Option<&'static Builtin> {
        let mut e = &self.entries[i];
        for _ in 0..64 {
            let callee = match &e.decl.value.kind {
                ExprKind::Call { callee, .. } => &callee.name,
                ExprKind::Path(p) if p.len() == 1 => &p[0].name,
                _ => return None,
            };
            if let Some(&j) = self.index.get(callee) {
                e = &self.entries[j];
            } else {
                return builtins::lookup(callee);
            }
        }
        None
    }

    pub(super) fn apply_override(
        &mut self,
        path: &[Ident],
        value: &Expr,
        file: FileId,
        span: Span,
    ) {
        if path.len() != 2 {
            self.err(CheckError::OverrideParts.at(file, span));
            return;
        }
        let (head, arg) = (&path[0], &path[1]);
        // A whole kind (`model.depth`) reaches the built-ins that declare
        // the argument; only a node named by itself passes a new name to an
        // open parameter (a `python(…)` model's factory).
        let by_kind = DeclKind::parse(&head.name).is_some();
        let targets: Vec<usize> = if let Some(kind) = DeclKind::parse(&head.name) {
            (0..self.entries.len())
                .filter(|&i| self.entries[i].decl.kind == kind)
                .collect()
        } else if let Some(&i) = self.index.get(&head.name) {
            vec![i]
        } else {
            let mut candidates: Vec<&str> = self.index.keys().map(String::as_str).collect();
            candidates.extend(DeclKind::ALL.iter().map(|k| k.as_str()));
            let hint = suggest(&head.name, candidates);
            self.err(
                CheckError::OverrideTarget {
                    head: &head.name,
                    hint,
                }
                .at(file, head.span),
            );
            return;
        };
        let mut accepted: Vec<&str> = Vec::new();
        let mut applied = 0;
        for &i in &targets {
            let Some(b) = self.builtin_of_entry(i) else {
                continue;
            };
            if b.param(&arg.name).is_some() || (!by_kind && b.param(builtins::EXTRA).is_some()) {
                self.entries[i].overrides.push(ArgOverride {
                    name: arg.clone(),
                    value: value.clone(),
                    file,
                });
                applied += 1;
            } else {
                accepted.extend(b.params.iter().map(|p| p.name));
            }
        }
        if applied == 0 {
            accepted.sort();
            accepted.dedup();
            let is_stmt = builtins::all_stmt_keys().contains(&arg.name.as_str());
            let hint = suggest(&arg.name, accepted.iter().copied());
            self.err(
                CheckError::OverrideArgument {
                    head: &head.name,
                    arg: &arg.name,
                    is_stmt,
                    hint,
                    accepted,
                }
                .at(file, arg.span),
            );
        }
    }

    /// `--set key=value`: `seed=3`, `train.epochs=2`, `at.lr=0.1`.
    pub(super) fn apply_set(&mut self, text: &str) {
        let id = self
            .sources
            .add(format!("<--set {text}>"), None, text.to_string());
        let Some((key, value)) = text.split_once('=') else {
            self.err(CheckError::SetWithoutEquals.at(id, Span::new(0, text.len())));
            return;
        };
        let value_start = key.len() + 1;
        // A device is not an expression (`cuda:1`); it is read from the text below.
        let is_device = key.trim() == "device";
        let expr = match parser::parse_expr(if is_device { "0" } else { value }, id) {
            Ok(mut e) => {
                shift_spans(&mut e, value_start);
                e
            }
            Err(errs) => {
                for mut e in errs {
                    e.span = Span::new(e.span.start + value_start, e.span.end + value_start);
                    self.err(e);
                }
                return;
            }
        };
        let mut path = Vec::new();
        let mut at = 0;
        for part in key.split('.') {
            let valid = !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !part.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                self.err(CheckError::SetNotAName { part }.at(id, Span::new(at, at + part.len())));
                return;
            }
            path.push(Ident {
                name: part.to_string(),
                span: Span::new(at, at + part.len()),
            });
            at += part.len() + 1;
        }
        let span = Span::new(0, text.len());
        if path.len() == 1 {
            let key = match path[0].name.as_str() {
                "seed" => SettingKey::Seed,
                "seeds" => SettingKey::Seeds,
                "threads" => SettingKey::Threads,
                "device" => SettingKey::Device,
                "precision" => SettingKey::Precision,
                other => {
                    self.err(
                        CheckError::SetUnknownSetting {
                            key: other,
                            hint: suggest(
                                other,
                                ["seed", "seeds", "threads", "device", "precision"],
                            ),
                        }
                        .at(id, path[0].span),
                    );
                    return;
                }
            };
            let value = if key.is_word() {
                SettingValue::Word(Ident {
                    name: value.trim().to_string(),
                    span: Span::new(value_start, text.len()),
                })
            } else {
                SettingValue::Expr(expr)
            };
            self.settings.push((id, Setting { key, value, span }));
        } else {
            self.apply_override(&path, &expr, id, span);
        }
    }
}
