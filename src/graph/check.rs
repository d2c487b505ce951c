//! `advp check`: the file as written and with each of its profiles, checked
//! and planned (a profile can close a cycle the base program does not have).
//! It lives here, above the language stage, because it plans.

use crate::language::checker::{check, profiles_of, Options, Outcome};
use crate::language::loader::Loaded;

/// `advp check`: the file as written and with each of its profiles, errors merged.
pub fn check_all(loaded: &Loaded) -> Outcome {
    let base = check(loaded, &Options::default());
    if !loaded.errors.is_empty() {
        return base;
    }
    let mut errors = base.errors;
    let mut sources = base.sources;
    for profile in profiles_of(loaded) {
        let o = check(
            loaded,
            &Options {
                profile: Some(profile),
                sets: Vec::new(),
            },
        );
        // A profile can close a cycle the base program does not have.
        let cycles = o
            .program
            .as_ref()
            .and_then(|p| super::plan(p).err())
            .unwrap_or_default();
        for e in o.errors.into_iter().chain(cycles) {
            if !errors.iter().any(|x| x == &e) {
                errors.push(e);
            }
        }
        sources = o.sources;
    }
    errors.sort_by_key(|e| (e.file, e.span.start, e.code));
    Outcome {
        sources,
        program: if errors.is_empty() {
            base.program
        } else {
            None
        },
        errors,
    }
}
