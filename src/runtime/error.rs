//! Why a node stopped, as a type: what the runner turns into a diagnostic or
//! an interruption. Code that still reports a failure as text reaches it
//! through the one escape hatch, [`NodeError::Failed`].

use std::path::PathBuf;

/// A node's computation that did not finish. Each kind says whose the
/// failure is — the user's data, the user's model, numbers that mean
/// nothing, a file — so the runner words and codes it in one place
/// ([`NodeError::code`]); the texts are the messages users read today.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Ctrl-C (or SIGTERM, SIGHUP): the run stops, finished work stays.
    #[error("interrupted")]
    Interrupted,
    /// A cache entry or checkpoint that is there but cannot be read back
    /// (truncated, from another model, not advp's).
    #[error("{message}")]
    Damaged { path: PathBuf, message: String },
    /// Data that cannot be read as the file describes it: a split file, a
    /// frame folder, a tensor file, labels out of range, an empty split.
    #[error("{0}")]
    Data(String),
    /// A model that cannot be built, loaded or run as the file describes it:
    /// a class count, weights of another shape, a module that does not load.
    #[error("{0}")]
    Model(String),
    /// A model's logits on clean clips are NaN or infinite: no accuracy.
    #[error("`{model}` gives NaN or infinite logits on {broken} of {clips} clean clips: an accuracy over them would mean nothing; check the model's forward pass on these clips (a division by zero, a log of 0, NaN weights)")]
    NonFiniteLogits {
        model: String,
        broken: usize,
        clips: usize,
    },
    /// Other numbers that mean nothing: a non-finite loss, a step size or
    /// budget an attack cannot use, fewer classes than an attack needs.
    #[error("{0}")]
    Numeric(String),
    /// An attack or a training method found no gradient with respect to
    /// the clips (the model's output does not depend on its input
    /// differentiably).
    #[error(transparent)]
    NoGradient(#[from] NoGradient),
    /// A libtorch error (a C++ exception or a tch error), its text cleaned
    /// of C++ frames: the one place the libtorch boundary's errors enter.
    #[error("{0}")]
    Torch(String),
    /// A file the node writes or reads, with the operating system's reason.
    #[error("{}: {source}", crate::util::shown(path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The ranks of a node computed on several processes could not meet,
    /// or one of them stopped.
    #[error(transparent)]
    Dist(#[from] crate::runtime::dist::DistError),
    /// Any other failure, in words that name its cause and fix.
    #[error("{0}")]
    Failed(String),
}

/// A model's output carries no gradient to what is differentiated: its
/// forward pass leaves autograd (`torch.no_grad()`, `.detach()`, a
/// conversion through a non-tensor value), so no attack or training step
/// can be computed through it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the model's output carries no gradient to {of}: its forward() is computed outside autograd (`torch.no_grad()`, `.detach()`, a value taken out of a tensor)")]
pub struct NoGradient {
    /// What the gradient was wanted for: `the input`, `the parameters`.
    pub of: &'static str,
}

impl From<tch::TchError> for NodeError {
    fn from(e: tch::TchError) -> Self {
        NodeError::Torch(crate::runtime::models::torchscript::libtorch_text(
            &e.to_string(),
        ))
    }
}

impl NodeError {
    /// An I/O error on `path` (what `map_err(NodeError::io(path))` builds).
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> NodeError {
        let path = path.into();
        move |source| NodeError::Io { path, source }
    }
}

/// The bridge back, while the training loop (`train/mod.rs`,
/// `train/generative.rs`) and `exec/evaluate.rs`'s cells still give text:
/// `?` on an attack's result there keeps its words. Remove it once they
/// return [`NodeResult`] (nothing else may use it).
/// A node's result: the value or why it stopped.
pub type NodeResult<T> = Result<T, NodeError>;

/// `Err(Interrupted)` once Ctrl-C was pressed: the check long loops make
/// between batches.
/// Inside a training step of several ranks it never stops: a rank stops
/// with the others, after the batch.
pub fn stop_requested() -> NodeResult<()> {
    if crate::util::interrupted() && crate::runtime::dist::shard().is_none() {
        Err(NodeError::Interrupted)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_errors_keep_their_words_and_io_names_its_path() {
        let e = NodeError::Failed("the split has no clips".into());
        assert_eq!(e.to_string(), "the split has no clips");
        let e = NodeError::Io {
            path: PathBuf::from("/tmp/x\ny"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(e.to_string().starts_with("/tmp/x\\ny: "), "{e}");
        assert_eq!(NodeError::Interrupted.to_string(), "interrupted");
    }
}
