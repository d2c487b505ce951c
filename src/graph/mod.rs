//! The graph stage: the program's nodes as a petgraph DAG, in a stable execution order.

pub mod check;
pub mod plan;

pub use check::check_all;

pub use plan::{plan, Plan};
