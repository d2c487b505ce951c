//! advp: adversarial-robustness pipelines for video classifiers.
//!
//! Stages, top-down: [`language`] (parse → check) → [`graph`] (plan) → [`runtime`] → reports,
//! driven by [`cli`].

pub mod cli;
pub mod graph;
pub mod language;
pub mod reports;
pub mod runtime;
