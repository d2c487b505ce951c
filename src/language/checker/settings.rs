//! File-level settings: `seed`, `threads`, `device`.

use super::errors::CheckError;
use super::suggest::did_you_mean;
use super::util::parse_device;
use super::Checker;
use crate::language::ast::{Setting, SettingKey, SettingValue};
use crate::language::diagnostic::nearest;
use crate::language::program::Settings;
use crate::language::source::FileId;

impl<'a> Checker<'a> {
    pub(super) fn resolve_settings(&mut self) -> Settings {
        let mut s = Settings::default();
        // Imported files first, then the main file, then profile and --set (pushed last).
        let main = self.loaded.main;
        let mut ordered: Vec<(FileId, Setting)> = self.settings.clone();
        ordered.sort_by_key(|(f, _)| {
            if *f == main {
                1
            } else if f.0 < self.loaded.sources.len() {
                0
            } else {
                2
            }
        });
        for (file, setting) in ordered {
            match (&setting.key, &setting.value) {
                (SettingKey::Seed, SettingValue::Expr(e)) => {
                    if let Some(v) = self.int_value(e, file, (0.0, 9.007e15), "the seed") {
                        s.seed = v as u64;
                    }
                }
                (SettingKey::Threads, SettingValue::Expr(e)) => {
                    if let Some(v) = self.int_value(e, file, (1.0, 4096.0), "threads") {
                        s.threads = Some(v as usize);
                    }
                }
                (SettingKey::Device, SettingValue::Device(d)) => match parse_device(&d.name) {
                    Some(dev) => s.device = dev,
                    None => {
                        let guess = match d.name.as_str() {
                            "gpu" | "cuda0" => Some("cuda"),
                            n if n.starts_with("cuda") || n.starts_with("gpu") => Some("cuda:N"),
                            n => nearest(n, ["auto", "cpu", "cuda"]),
                        };
                        self.err(
                            CheckError::UnknownDevice {
                                name: &d.name,
                                hint: guess.map(did_you_mean),
                            }
                            .at(file, d.span),
                        );
                    }
                },
                _ => {}
            }
        }
        s
    }
}
