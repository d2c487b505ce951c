//! Why a node stopped, as a type: what the runner turns into a diagnostic or
//! an interruption. Code that still reports a failure as text reaches it
//! through the one escape hatch, [`NodeError::Failed`].

use std::path::PathBuf;

/// A node's computation that did not finish.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Ctrl-C (or SIGTERM, SIGHUP): the run stops, finished work stays.
    #[error("interrupted")]
    Interrupted,
    /// A model's logits on clean clips are NaN or infinite: no accuracy.
    #[error("`{model}` gives NaN or infinite logits on {broken} of {clips} clean clips: an accuracy over them would mean nothing; check the model's forward pass on these clips (a division by zero, a log of 0, NaN weights)")]
    NonFiniteLogits {
        model: String,
        broken: usize,
        clips: usize,
    },
    /// A file the node writes or reads, with the operating system's reason.
    #[error("{}: {source}", crate::util::shown(path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Any other failure, in words that name its cause and fix.
    #[error("{0}")]
    Failed(String),
}

impl From<String> for NodeError {
    fn from(message: String) -> Self {
        NodeError::Failed(message)
    }
}

impl From<&str> for NodeError {
    fn from(message: &str) -> Self {
        NodeError::Failed(message.to_string())
    }
}

/// A node's result: the value or why it stopped.
pub type NodeResult<T> = Result<T, NodeError>;

/// `Err(Interrupted)` once Ctrl-C was pressed: the check long loops make
/// between batches.
pub fn stop_requested() -> NodeResult<()> {
    if crate::util::interrupted() {
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
        let e: NodeError = "the split has no clips".into();
        assert_eq!(e.to_string(), "the split has no clips");
        let e = NodeError::Io {
            path: PathBuf::from("/tmp/x\ny"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(e.to_string().starts_with("/tmp/x\\ny: "), "{e}");
        assert_eq!(NodeError::Interrupted.to_string(), "interrupted");
    }
}
