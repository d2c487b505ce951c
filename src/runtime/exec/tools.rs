//! System tools a run needs, found before any work: `video_compression`
//! runs a real ffmpeg, so a run that will code clips through it and has no
//! ffmpeg stops before its first node, not after the training before it.
//! (MP4 examples need no such check: without ffmpeg they are GIFs alone.)

use super::*;
use crate::runtime::spec::DefenseSpec;

impl Runner<'_> {
    /// Refuses a run whose nodes to compute (or what they read) use a
    /// defense whose tool is not installed here: `advp::run::missing_tool`.
    /// Called by a run and by `--jobs` before its first job; not before
    /// Slurm jobs, whose machines may have tools this one lacks (each job's
    /// own run looks on its machine).
    pub fn needed_tools(&self, targets: &[usize]) -> Result<(), RunError> {
        let mut needed = HashSet::new();
        let mut stack: Vec<usize> = targets
            .iter()
            .copied()
            .filter(|&i| computed(&self.program.nodes[i]) && !self.is_cached(i))
            .collect();
        while let Some(i) = stack.pop() {
            if needed.insert(i) {
                stack.extend(self.plan.inputs(i));
            }
        }
        let mut users: Vec<usize> = needed
            .iter()
            .copied()
            .filter(|&i| {
                matches!(
                    self.spec(i),
                    NodeSpec::Defense(DefenseSpec::VideoCompression { .. })
                )
            })
            .collect();
        users.sort_unstable();
        let Some(&first) = users.first() else {
            return Ok(());
        };
        if crate::runtime::defenses::ffmpeg().is_ok() {
            return Ok(());
        }
        let n = &self.program.nodes[first];
        let readers: Vec<String> = needed
            .iter()
            .filter(|&&i| self.plan.inputs(i).iter().any(|d| users.contains(d)))
            .map(|&i| format!("`{}`", self.program.nodes[i].name))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        Err(RunError::Missing(vec![Diagnostic::new(
            Code::MissingTool,
            n.file,
            n.name_span,
            format!(
                "`{}` codes clips with a real ffmpeg for {}, and no ffmpeg was found (on the PATH, or at ADVP_FFMPEG)",
                n.name,
                readers.join(", ")
            ),
        )
        .label(format!("`{}` runs ffmpeg", n.name))
        .help("nothing was run; install ffmpeg (`sudo apt-get install ffmpeg`, or `conda install -c conda-forge ffmpeg`) or set ADVP_FFMPEG to its path, and run again")]))
    }
}
