//! A node's key record (`key.json`), and the entries of an older key
//! schema moved under this run's keys.

use super::{computed, Runner};
use crate::runtime::cache;

impl Runner<'_> {
    /// Node `i`'s key record, as its entry keeps it.
    pub fn key_record(&self, i: usize) -> cache::key::KeyRecord {
        let pipeline = self.pipeline_path();
        // The inputs without an entry of their own, as far as the computed ones.
        let mut upstream = std::collections::BTreeMap::new();
        let mut stack = self.plan.inputs(i);
        while let Some(j) = stack.pop() {
            let n = &self.program.nodes[j];
            if computed(n) || upstream.contains_key(&n.name) {
                continue;
            }
            upstream.insert(n.name.clone(), self.ingredients[j].clone());
            stack.extend(self.plan.inputs(j));
        }
        self.ingredients[i].record(&self.program.nodes[i].name, &pipeline, upstream)
    }

    /// The pipeline file, as entries record it.
    pub fn pipeline_path(&self) -> std::path::PathBuf {
        let file = &self.program.sources.file(self.program.main).name;
        std::fs::canonicalize(file).unwrap_or_else(|_| self.opts.base.join(file))
    }

    /// Moves the entries of an older key schema that this run's nodes
    /// have (finished, or a training's checkpoints) under their keys;
    /// says so in one line a node. Of several ranks, rank 0 alone does.
    pub fn adopt_older_entries(&self) {
        if !crate::runtime::dist::writes() {
            return;
        }
        let computed_nodes: Vec<usize> = (0..self.program.nodes.len())
            .filter(|&i| {
                computed(&self.program.nodes[i]) && !self.cache.done(&self.keys[i]).exists()
            })
            .collect();
        if computed_nodes.is_empty() {
            return;
        }
        let old = cache::legacy::keys(self.program, self.plan, &self.opts.base);
        for i in computed_nodes {
            let name = &self.program.nodes[i].name;
            match cache::legacy::adopt(&self.cache, &old[i], &self.key_record(i)) {
                Ok(cache::legacy::Adopted::Nothing) => {}
                Ok(cache::legacy::Adopted::Entry) => eprintln!(
                    "advp: `{name}`: its cache entry of key schema 1 ({}) is kept under key schema {} ({})",
                    &old[i][..12],
                    cache::key::SCHEMA,
                    &self.keys[i][..12]
                ),
                Ok(cache::legacy::Adopted::Checkpoint) => eprintln!(
                    "advp: `{name}`: its checkpoints of key schema 1 are kept under key schema {}: it resumes",
                    cache::key::SCHEMA
                ),
                Ok(cache::legacy::Adopted::Damaged(problems)) => eprintln!(
                    "advp: warning: `{name}`'s cache entry of key schema 1 ({}) is damaged ({}); `{name}` runs again",
                    crate::util::shown(&self.cache.done(&old[i])),
                    problems.join("; ")
                ),
                Err(e) => eprintln!(
                    "advp: warning: `{name}`'s cache entry of key schema 1 could not be moved ({e}); `{name}` runs again"
                ),
            }
        }
        self.verdicts.borrow_mut().clear();
    }
}
