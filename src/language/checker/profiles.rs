//! Profiles, their overrides, and `--set` from the command line.

use super::suggest::suggest;
use super::util::shift_spans;
use super::{ArgOverride, Checker, Entry};
use crate::language::ast::*;
use crate::language::builtins::{self, Builtin};
use crate::language::diagnostic::{one_of, Code, Diagnostic};
use crate::language::parser;
use crate::language::source::FileId;

impl<'a> Checker<'a> {
    pub(super) fn apply_profile_named(&mut self, name: &str) {
        self.profile = Some(name.to_string());
        let Some((file, profile)) = self.profiles.get(name).cloned() else {
            let text = format!("--profile {name}");
            let id = self.sources.add("<command line>", None, text.clone());
            let names: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            let mut sorted = names.clone();
            sorted.sort();
            let help = match suggest(name, names.iter().copied()) {
                Some(hint) => hint,
                None if sorted.is_empty() => "this file defines no profiles".to_string(),
                None => format!("this file defines {}", one_of(&sorted)),
            };
            self.err(
                Diagnostic::new(
                    Code::UnknownProfile,
                    id,
                    Span::new(10, text.len()),
                    format!("no profile named `{name}`"),
                )
                .label("unknown profile")
                .help(help),
            );
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
            let help = match suggest(&d.name.name, self.index.keys().map(String::as_str)) {
                Some(hint) => format!("{hint} a profile replaces declarations of the same name"),
                None => "a profile replaces declarations of the same name; declare the node outside the profile first".to_string(),
            };
            self.err(
                Diagnostic::new(
                    Code::UnknownOverride,
                    file,
                    d.name.span,
                    format!(
                        "profile `{profile}` replaces `{}`, which is not declared",
                        d.name.name
                    ),
                )
                .label("replaces nothing")
                .help(help),
            );
            return;
        };
        let old_kind = self.entries[i].decl.kind;
        if old_kind != d.kind {
            self.err(
                Diagnostic::new(
                    Code::WrongKind,
                    file,
                    d.kind_span,
                    format!(
                        "`{}` is a {} node, but the profile declares it as {}",
                        d.name.name, old_kind, d.kind
                    ),
                )
                .label(format!("expected `{old_kind}`"))
                .help(format!("write `{old_kind} {} = …`", d.name.name)),
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
            self.err(
                Diagnostic::new(Code::UnknownOverride, file, span, "an override names two parts")
                    .label("expected `kind.argument` or `node.argument`")
                    .help("write e.g. `train.epochs = 8` (every train node) or `at.epochs = 8` (one node)"),
            );
            return;
        }
        let (head, arg) = (&path[0], &path[1]);
        let targets: Vec<usize> = if let Some(kind) = DeclKind::parse(&head.name) {
            (0..self.entries.len())
                .filter(|&i| self.entries[i].decl.kind == kind)
                .collect()
        } else if let Some(&i) = self.index.get(&head.name) {
            vec![i]
        } else {
            let mut candidates: Vec<&str> = self.index.keys().map(String::as_str).collect();
            candidates.extend(DeclKind::ALL.iter().map(|k| k.as_str()));
            let help = suggest(&head.name, candidates).unwrap_or_else(|| {
                "name a declaration (`at.epochs`) or a kind (`train.epochs`)".to_string()
            });
            self.err(
                Diagnostic::new(
                    Code::UnknownOverride,
                    file,
                    head.span,
                    format!("`{}` names no node and no kind", head.name),
                )
                .label("overrides nothing")
                .help(help),
            );
            return;
        };
        let mut accepted: Vec<&str> = Vec::new();
        let mut applied = 0;
        for &i in &targets {
            let Some(b) = self.builtin_of_entry(i) else {
                continue;
            };
            if b.param(&arg.name).is_some() {
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
            let help = if is_stmt {
                format!("`{}` is a block statement; overrides set arguments — replace the declaration in the profile instead", arg.name)
            } else if let Some(hint) = suggest(&arg.name, accepted.iter().copied()) {
                hint
            } else if accepted.is_empty() {
                format!("there is no `{}` node to override", head.name)
            } else {
                format!("the arguments are {}", one_of(&accepted))
            };
            self.err(
                Diagnostic::new(
                    Code::UnknownOverride,
                    file,
                    arg.span,
                    format!("no `{}` takes an argument `{}`", head.name, arg.name),
                )
                .label("overrides nothing")
                .help(help),
            );
        }
    }

    /// `--set key=value`: `seed=3`, `train.epochs=2`, `at.lr=0.1`.
    pub(super) fn apply_set(&mut self, text: &str) {
        let id = self
            .sources
            .add(format!("<--set {text}>"), None, text.to_string());
        let Some((key, value)) = text.split_once('=') else {
            self.err(
                Diagnostic::new(
                    Code::InvalidSet,
                    id,
                    Span::new(0, text.len()),
                    "`--set` takes `key=value`",
                )
                .label("no `=` here")
                .help("write e.g. `--set train.epochs=2` or `--set seed=3`"),
            );
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
                self.err(
                    Diagnostic::new(
                        Code::InvalidSet,
                        id,
                        Span::new(at, at + part.len()),
                        format!("`{part}` is not a name"),
                    )
                    .label("expected a name")
                    .help("keys look like `seed`, `train.epochs` or `at.lr`"),
                );
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
                "threads" => SettingKey::Threads,
                "device" => SettingKey::Device,
                other => {
                    let help = suggest(other, ["seed", "threads", "device"]).unwrap_or_else(|| {
                        "a one-part key is `seed`, `threads` or `device`; arguments are `kind.argument` or `node.argument`".into()
                    });
                    self.err(
                        Diagnostic::new(
                            Code::InvalidSet,
                            id,
                            path[0].span,
                            format!("`{other}` is not a setting"),
                        )
                        .label("unknown setting")
                        .help(help),
                    );
                    return;
                }
            };
            let value = if key == SettingKey::Device {
                SettingValue::Device(Ident {
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
