//! File-level settings: `seed` or `seeds`, `threads`, `device`, `precision`.

use super::errors::CheckError;
use super::suggest::did_you_mean;
use super::util::parse_device;
use super::Checker;
use crate::language::ast::{Expr, ExprKind, Setting, SettingKey, SettingValue, Span};
use crate::language::diagnostic::nearest;
use crate::language::program::{Precision, Settings};
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
        // `seed N` and `seeds [...]` are one slot: the last one written wins.
        let mut seeds = vec![0];
        for (file, setting) in ordered {
            match (&setting.key, &setting.value) {
                (SettingKey::Seed, SettingValue::Expr(e)) => {
                    if let Some(v) = self.int_value(e, file, SEED_RANGE, "the seed") {
                        seeds = vec![v as u64];
                    }
                }
                (SettingKey::Seeds, SettingValue::Expr(e)) => {
                    if let Some(v) = self.seed_list(e, file) {
                        seeds = v;
                    }
                }
                (SettingKey::Threads, SettingValue::Expr(e)) => {
                    if let Some(v) = self.int_value(e, file, (1.0, 4096.0), "threads") {
                        s.threads = Some(v as usize);
                    }
                }
                (SettingKey::Precision, SettingValue::Word(w)) => match Precision::parse(&w.name) {
                    Some(p) => s.precision = p,
                    None => {
                        let guess = match w.name.as_str() {
                            "float32" | "f32" | "float" | "full" => Some("fp32"),
                            "bfloat16" | "bf" => Some("bf16"),
                            "float16" | "half" | "f16" => Some("fp16"),
                            n => nearest(n, ["fp32", "bf16", "fp16"]),
                        };
                        self.err(
                            CheckError::UnknownPrecision {
                                name: &w.name,
                                hint: guess.map(did_you_mean),
                            }
                            .at(file, w.span),
                        );
                    }
                },
                (SettingKey::Device, SettingValue::Word(d)) => match parse_device(&d.name) {
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
        s.seed = seeds[0];
        s.seeds = seeds;
        s
    }

    /// `seeds [1, 2, 3]` or `seeds 1..5`: whole, in range, each once.
    fn seed_list(&mut self, e: &Expr, file: FileId) -> Option<Vec<u64>> {
        let values = self.numbers(e, file, Some(SEED_RANGE), "the seeds")?;
        let spans: Vec<Span> = match &e.kind {
            ExprKind::List(items) | ExprKind::Set(items) => items.iter().map(|i| i.span).collect(),
            _ => vec![e.span; values.len()],
        };
        let mut out: Vec<u64> = Vec::new();
        let mut first: Vec<Span> = Vec::new();
        for (&v, &span) in values.iter().zip(&spans) {
            if v.fract() != 0.0 {
                self.err(CheckError::NotWhole { what: "a seed", v }.at(file, span));
                return None;
            }
            if let Some(k) = out.iter().position(|&s| s == v as u64) {
                self.err(
                    CheckError::DuplicateSeed {
                        seed: v as u64,
                        first: first[k],
                    }
                    .at(file, span),
                );
                return None;
            }
            out.push(v as u64);
            first.push(span);
        }
        Some(out)
    }
}

const SEED_RANGE: (f64, f64) = (0.0, 9.007e15);
