//! A node computed by several ranks (`advp run --ranks N`, `--gpus N`,
//! `torchrun`, a Slurm step of several tasks): every rank runs this same
//! program with `--only NODE`, and they meet before the node runs.

use super::{computed, RunError, Runner};
use crate::language::diagnostic::Code;
use crate::runtime::dist::{self, World};
use crate::runtime::spec::{DefenseSpec, NodeSpec};
use std::collections::HashSet;

impl Runner<'_> {
    /// Rank 0's `answer` on every rank (this process's alone): what is
    /// cached is decided where the lock is held.
    pub(super) fn agree(&self, i: usize, answer: bool) -> Result<bool, RunError> {
        if dist::joined().is_none() {
            return Ok(answer);
        }
        let mine = if dist::writes() && answer { 1.0 } else { 0.0 };
        let sum = dist::sum_values(&[mine]).map_err(|e| self.fail(i, e))?;
        Ok(sum[0] > 0.5)
    }

    /// Whether node `i` is computed by several ranks together when there
    /// are several: training (every kind) and evaluation.
    pub fn shared(&self, i: usize) -> bool {
        matches!(
            self.spec(i),
            NodeSpec::Train(_) | NodeSpec::Eval(_) | NodeSpec::Defense(DefenseSpec::ApeGan(_))
        )
    }

    /// Joins the other ranks when this process is one of several, before
    /// any node runs. What is still to compute must be one training or
    /// evaluation node: ranks compute one node together.
    pub(super) fn join_world(
        &mut self,
        targets: &[usize],
        forced: &HashSet<usize>,
    ) -> Result<(), RunError> {
        let todo: Vec<usize> = targets
            .iter()
            .copied()
            .filter(|&i| {
                computed(&self.program.nodes[i]) && (!self.is_cached(i) || forced.contains(&i))
            })
            .collect();
        let Some(&first) = todo.last() else {
            return Ok(());
        };
        let world = match World::from_env() {
            Ok(Some(w)) => w,
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(RunError::Diagnostics(vec![self.diag(
                    first,
                    Code::CannotRun,
                    e.to_string(),
                    "set the ranks' variables as torchrun does (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), or let `advp run FILE --ranks N` start the ranks",
                )]))
            }
        };
        if todo.len() > 1 || !self.shared(first) {
            let names: Vec<String> = todo
                .iter()
                .map(|&i| format!("`{}`", self.program.nodes[i].name))
                .collect();
            return Err(RunError::Diagnostics(vec![self.diag(
                first,
                Code::CannotRun,
                format!(
                    "this process is rank {} of {} ({}), and ranks compute one training or evaluation node together; {} {} still to compute",
                    world.rank,
                    world.size,
                    world.from,
                    names.join(", "),
                    if names.len() == 1 { "is" } else { "are" }
                ),
                &format!(
                    "start the ranks with `advp run FILE --ranks {}` (or `--gpus {}`), which computes each node in order, its training and evaluation nodes on every rank; under torchrun or srun name one node with `--only NODE` once its inputs are computed",
                    world.size, world.size
                ),
            )]));
        }
        dist::join(&world, self.opts.device).map_err(|e| self.fail(first, e))?;
        self.progress.line(&format!(
            "{}: rank {} of {} ({}, rendezvous {}:{})",
            self.program.nodes[first].name,
            world.rank,
            world.size,
            world.from,
            world.addr,
            world.port
        ));
        Ok(())
    }
}
