//! advp: adversarial-robustness pipelines for video classifiers.
//!
//! Stages, top-down: [`language`] (parse → check) → [`graph`] (plan) → [`runtime`] → reports,
//! driven by [`cli`]; [`cluster`] runs a graph's nodes in several processes
//! (`--jobs N`) or as Slurm jobs.

pub mod cli;
pub mod cluster;
pub mod graph;
pub mod language;
pub mod pipeline;
pub mod reports;
pub mod results;
pub mod runtime;
pub mod util;
