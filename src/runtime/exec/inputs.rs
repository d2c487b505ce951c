//! The record of the files a node reads (`inputs.json` in its entry,
//! [`crate::runtime::provenance`]), made as the node starts computing.

use super::{computed, RunError, Runner};
use crate::runtime::provenance;
use std::collections::HashSet;

impl Runner<'_> {
    /// Hashes the files node `i` reads (its own, and those of the data and
    /// model nodes it reads, up to the computed nodes, which record their
    /// own) into its working folder.
    pub(super) fn record_inputs(&self, i: usize) -> Result<(), RunError> {
        let (program, plan) = (self.program(), self.plan());
        let mut nodes = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            if !seen.insert(j) {
                continue;
            }
            nodes.push(j);
            stack.extend(
                plan.inputs(j)
                    .into_iter()
                    .filter(|&k| !computed(&program.nodes[k])),
            );
        }
        let files = provenance::named_files(program, &self.options().base, &nodes);
        if files.is_empty() {
            return Ok(());
        }
        let dir = self
            .cache()
            .partial(self.key(i))
            .map_err(|e| self.fail(i, e))?;
        provenance::record(&dir, &self.options().base, &files).map_err(|e| self.fail(i, e))
    }
}
