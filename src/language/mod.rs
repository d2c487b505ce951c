//! The language stage: parse → check. No libtorch types here.
//!
//! | stage | function | produces |
//! |---|---|---|
//! | parse | [`parser::parse`] | [`ast::Module`] with byte spans |
//! | load | [`loader::load_path`] | every module reachable through `use` |
//! | check | [`checker::check`] | [`program::Program`]: nodes with resolved arguments |

pub mod ast;
pub mod builtins;
pub mod checker;
pub mod classes;
pub mod diagnostic;
pub mod fmt;
pub mod geometry;
pub mod loader;
pub mod parser;
pub mod program;
pub mod resources;
pub mod schedule;
pub mod source;

pub use checker::{check, Options, Outcome};
pub use diagnostic::{Code, Diagnostic};
pub use program::Program;
