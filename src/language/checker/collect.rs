//! Collecting: declarations, settings, reports and profiles from every module.

use super::{Checker, Entry};
use crate::language::ast::{Decl, Item, SettingKey, Span};
use crate::language::builtins;
use crate::language::diagnostic::{Code, Diagnostic};
use crate::language::source::FileId;
use std::collections::HashMap;

impl<'a> Checker<'a> {
    pub(super) fn collect(&mut self) {
        let loaded = self.loaded;
        // Imports first, so a clash with an imported name is reported in the user's file.
        let order = loaded
            .modules
            .iter()
            .skip(1)
            .chain(loaded.modules.iter().take(1));
        for (file, module) in order {
            let mut seen_settings: HashMap<SettingKey, Span> = HashMap::new();
            for item in &module.items {
                match item {
                    Item::Decl(d) => self.add_decl(d, *file),
                    Item::Setting(s) => {
                        if let Some(first) = seen_settings.insert(s.key, s.span) {
                            self.err(
                                Diagnostic::new(
                                    Code::DuplicateSetting,
                                    *file,
                                    s.span,
                                    format!("`{}` is set twice", s.key.as_str()),
                                )
                                .label("set again here")
                                .also(first, "first set here")
                                .help("keep one; a profile or `--set` can change it for one run"),
                            );
                        }
                        self.settings.push((*file, s.clone()));
                    }
                    Item::Report(r) => self.reports.push((*file, r.clone())),
                    Item::Profile(p) => {
                        if let Some((f0, p0)) = self.profiles.get(&p.name.name) {
                            let d = Diagnostic::new(
                                Code::DuplicateProfile,
                                *file,
                                p.name.span,
                                format!("profile `{}` is defined twice", p.name.name),
                            )
                            .label("defined again here");
                            let d = if *f0 == *file {
                                d.also(p0.name.span, "first defined here")
                            } else {
                                d
                            };
                            let help = format!(
                                "merge the two, or rename one (the first is at {})",
                                self.location(*f0, p0.name.span)
                            );
                            self.err(d.help(help));
                        } else {
                            self.profiles
                                .insert(p.name.name.clone(), (*file, p.clone()));
                        }
                    }
                    Item::Use(_) => {}
                }
            }
        }
    }

    pub(super) fn add_decl(&mut self, d: &Decl, file: FileId) {
        if builtins::lookup(&d.name.name).is_some() {
            self.err(
                Diagnostic::new(
                    Code::ShadowsBuiltin,
                    file,
                    d.name.span,
                    format!("`{}` is the name of a built-in", d.name.name),
                )
                .label("this name would hide the built-in")
                .help(format!(
                    "choose another name, e.g. `my_{}`; calls such as `{}(…)` then still reach the built-in",
                    d.name.name, d.name.name
                )),
            );
            return;
        }
        if let Some(&i) = self.index.get(&d.name.name) {
            let first = &self.entries[i];
            let (ffile, fspan) = (first.file, first.decl.name.span);
            let mut diag = Diagnostic::new(
                Code::DuplicateName,
                file,
                d.name.span,
                format!("`{}` is declared twice", d.name.name),
            )
            .label("declared again here");
            if ffile == file {
                diag = diag.also(fspan, "first declared here");
            }
            let help = format!(
                "names are unique across a file and its imports; rename one (the first is at {})",
                self.location(ffile, fspan)
            );
            self.err(diag.help(help));
            return;
        }
        self.index.insert(d.name.name.clone(), self.entries.len());
        self.entries.push(Entry {
            decl: std::rc::Rc::new(d.clone()),
            file,
            overrides: Vec::new(),
        });
    }
}
