//! Collecting: declarations, settings, reports and profiles from every module.

use super::errors::CheckError;
use super::{Checker, Entry};
use crate::language::ast::{Decl, Item, SettingKey, Span};
use crate::language::builtins;
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
                        // `seed` and `seeds` set one thing.
                        let slot = match s.key {
                            SettingKey::Seeds => SettingKey::Seed,
                            k => k,
                        };
                        let before = module.items.iter().find_map(|i| match i {
                            Item::Setting(t)
                                if t.span
                                    == seen_settings.get(&slot).copied().unwrap_or_default() =>
                            {
                                Some(t.key)
                            }
                            _ => None,
                        });
                        if let Some(first) = seen_settings.insert(slot, s.span) {
                            let key = if before.is_some_and(|k| k != s.key) {
                                "seed` or `seeds"
                            } else {
                                s.key.as_str()
                            };
                            self.err(CheckError::DuplicateSetting { key, first }.at(*file, s.span));
                        }
                        self.settings.push((*file, s.clone()));
                    }
                    Item::Report(r) => self.reports.push((*file, r.clone())),
                    Item::Profile(p) => {
                        if let Some((f0, p0)) = self.profiles.get(&p.name.name) {
                            let d = CheckError::DuplicateProfile {
                                name: &p.name.name,
                                first: (*f0 == *file).then_some(p0.name.span),
                                first_at: self.location(*f0, p0.name.span),
                            }
                            .at(*file, p.name.span);
                            self.err(d);
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
            self.err(CheckError::ShadowsBuiltin { name: &d.name.name }.at(file, d.name.span));
            return;
        }
        if let Some(&i) = self.index.get(&d.name.name) {
            let first = &self.entries[i];
            let (ffile, fspan) = (first.file, first.decl.name.span);
            let diag = CheckError::DuplicateName {
                name: &d.name.name,
                first: (ffile == file).then_some(fspan),
                first_at: self.location(ffile, fspan),
            }
            .at(file, d.name.span);
            self.err(diag);
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
