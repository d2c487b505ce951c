//! `advp why`: whether each node runs, and why, in words.

use super::{computed, Runner};
use crate::runtime::cache::{self, why::Change};
use std::fmt;

/// Why a node runs, or that it does not.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// In the cache under its key: it does not run.
    Cached,
    /// An entry of key schema 1 is there: moved under its key, not run.
    OlderSchema { old: String },
    /// `--force`.
    Forced,
    /// Its training's checkpoints are there: it resumes.
    Resumes,
    /// Its entry is damaged (which files): set aside, and it runs again.
    Damaged(Vec<String>),
    /// No entry of this node was ever made in this cache.
    NeverRun,
    /// What differs from the entry it had before (the newest).
    Changed { since: String, changes: Vec<Change> },
    /// Its previous entry (same ingredients) is no longer in the cache.
    Removed,
    /// Its entry lacks the adversarial clips a report asks for.
    NoClips,
}

impl Reason {
    /// Whether the node runs.
    pub fn runs(&self) -> bool {
        !matches!(self, Reason::Cached | Reason::OlderSchema { .. })
    }

    /// One word for tables and JSON.
    pub fn word(&self) -> &'static str {
        match self {
            Reason::Cached => "cached",
            Reason::OlderSchema { .. } => "older_schema",
            Reason::Forced => "forced",
            Reason::Resumes => "resumes",
            Reason::Damaged(_) => "damaged",
            Reason::NeverRun => "never_run",
            Reason::Changed { .. } => "changed",
            Reason::Removed => "removed",
            Reason::NoClips => "no_clips",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.runs() {
            write!(f, "runs: ")?;
        }
        self.detail(f)
    }
}

impl Reason {
    /// The words after "".
    pub fn detail_text(&self) -> String {
        struct D<'r>(&'r Reason);
        impl fmt::Display for D<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.detail(f)
            }
        }
        D(self).to_string()
    }

    fn detail(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Cached => write!(f, "cached"),
            Reason::OlderSchema { old } => write!(
                f,
                "cached under key schema 1 ({}): `advp run` keeps it under its new key, computing nothing",
                &old[..12]
            ),
            Reason::Forced => write!(f, "--force"),
            Reason::Resumes => write!(f, "resumes from its checkpoint"),
            Reason::Damaged(problems) => write!(
                f,
                "its cache entry is damaged ({}) and is set aside",
                problems.join("; ")
            ),
            Reason::NeverRun => write!(f, "never run with this cache"),
            Reason::Changed { since, changes } => write!(
                f,
                "since its entry {}, {}",
                &since[..12.min(since.len())],
                changes
                    .iter()
                    .map(Change::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Reason::Removed => write!(
                f,
                "its entry, of the same definition, is no longer in the cache"
            ),
            Reason::NoClips => write!(
                f,
                "a report asks for its adversarial clips, which its entry does not keep"
            ),
        }
    }
}

impl Runner<'_> {
    /// Why each computed node of `nodes` runs (`forced`: `--force` names
    /// it), in the order given; `old_keys`, schema 1's keys (computed once
    /// by the caller, [`cache::legacy::keys`]).
    pub fn why(&self, i: usize, forced: bool, old_keys: &[String]) -> Reason {
        debug_assert!(computed(&self.program.nodes[i]));
        if forced {
            return Reason::Forced;
        }
        if self.is_cached(i) {
            return Reason::Cached;
        }
        let key = &self.keys[i];
        if self.cache.done(key).exists() {
            return match self.verdict(i) {
                cache::Verdict::Corrupt(problems) => Reason::Damaged(problems),
                // Finished, without the clips a report asks for.
                _ => Reason::NoClips,
            };
        }
        if let Some(old) = old_keys.get(i) {
            if self.cache.done(old).is_dir() {
                return Reason::OlderSchema { old: old.clone() };
            }
            if self.cache.partial_path(old).join("state.json").exists() {
                return Reason::Resumes;
            }
        }
        if self.cache.partial_path(key).join("state.json").exists() {
            return Reason::Resumes;
        }
        let n = &self.program.nodes[i];
        let records = self
            .records
            .get_or_init(|| cache::why::Records::load(&self.cache));
        let Some(before) = records.previous(
            &n.name,
            n.kind.as_str(),
            &self.pipeline_path().display().to_string(),
            self.program.settings.seed,
        ) else {
            return Reason::NeverRun;
        };
        let index = self.program.index();
        let upstream = |name: &str| {
            let then = before.upstream.get(name)?.clone();
            let now = self.ingredients[*index.get(name)?].clone();
            Some((then, now))
        };
        let changes = cache::why::changes(&before.ingredients, &self.ingredients[i], &upstream);
        if changes.is_empty() {
            Reason::Removed
        } else {
            Reason::Changed {
                since: before.key.clone(),
                changes,
            }
        }
    }

    /// Schema 1's keys of this runner's nodes.
    pub fn old_keys(&self) -> Vec<String> {
        cache::legacy::keys(self.program, self.plan, &self.opts.base)
    }
}
