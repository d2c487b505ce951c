//! The graph stage: the program's nodes as a petgraph DAG, in a stable execution order.

pub mod plan;

pub use plan::{plan, Plan};
