//! Who this process is in a world of ranks, from its environment: advp's
//! own launcher and `torchrun` set `RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
//! `MASTER_ADDR` and `MASTER_PORT`; a Slurm step (`srun`, one task per
//! device) sets `SLURM_PROCID`, `SLURM_STEP_NUM_TASKS`, `SLURM_LOCALID` and
//! its node list, whose first host serves the rendezvous.

use super::DistError;

/// This process's place among the ranks of one node's computation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct World {
    pub rank: usize,
    pub size: usize,
    /// Its index on its machine (the GPU it takes).
    pub local_rank: usize,
    /// Where rank 0 serves the rendezvous.
    pub addr: String,
    pub port: u16,
    /// Which variables said so: `torchrun` or `Slurm`.
    pub from: &'static str,
}

/// The port a Slurm step's ranks meet on when `MASTER_PORT` is not set:
/// one per job and step, above the well-known and registered ranges that
/// services use most.
fn slurm_port(job: u64, step: u64) -> u16 {
    (20_000 + (job * 7 + step) % 20_000) as u16
}

/// The first host of a Slurm host list (`gpu[03-04,07],cpu1` → `gpu03`).
pub fn first_host(list: &str) -> Option<String> {
    let list = list.trim();
    let mut depth = 0usize;
    let end = list
        .char_indices()
        .find(|&(_, c)| {
            match c {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                _ => {}
            }
            c == ',' && depth == 0
        })
        .map_or(list.len(), |(i, _)| i);
    let first = &list[..end];
    if first.is_empty() {
        return None;
    }
    let Some((prefix, rest)) = first.split_once('[') else {
        return Some(first.to_string());
    };
    let (range, suffix) = rest.split_once(']')?;
    let item = range.split(',').next()?;
    let low = item.split('-').next()?;
    if low.is_empty() || !low.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let rest = if suffix.is_empty() {
        String::new()
    } else {
        first_host(suffix)?
    };
    Some(format!("{prefix}{low}{rest}"))
}

impl World {
    /// The world `var` describes (`None`: one process, no world), or why its
    /// variables do not make one. `var` reads the environment.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<World>, DistError> {
        let number = |name: &'static str, what: &'static str| -> Result<Option<u64>, DistError> {
            match var(name) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| DistError::Variable {
                        name,
                        value: v,
                        what,
                    }),
            }
        };
        let world = if let Some(size) = number("WORLD_SIZE", "a number of ranks")? {
            let rank = number("RANK", "a rank")?.ok_or(DistError::Missing {
                name: "RANK",
                beside: "WORLD_SIZE",
            })?;
            let addr = var("MASTER_ADDR").ok_or(DistError::Missing {
                name: "MASTER_ADDR",
                beside: "WORLD_SIZE",
            })?;
            let port = number("MASTER_PORT", "a port")?.ok_or(DistError::Missing {
                name: "MASTER_PORT",
                beside: "WORLD_SIZE",
            })?;
            World {
                rank: rank as usize,
                size: size as usize,
                local_rank: number("LOCAL_RANK", "a rank")?.unwrap_or(rank) as usize,
                addr,
                port: port_of(port)?,
                from: "torchrun",
            }
        } else if let Some(size) = number("SLURM_STEP_NUM_TASKS", "a number of tasks")? {
            // Only inside an `srun` step: a batch script's own environment
            // (SLURM_NTASKS of the allocation) is not a world of ranks.
            let rank = number("SLURM_PROCID", "a task rank")?.ok_or(DistError::Missing {
                name: "SLURM_PROCID",
                beside: "SLURM_STEP_NUM_TASKS",
            })?;
            let addr = match var("MASTER_ADDR") {
                Some(a) => a,
                None => {
                    let list = var("SLURM_STEP_NODELIST")
                        .or_else(|| var("SLURM_JOB_NODELIST"))
                        .ok_or(DistError::Missing {
                            name: "SLURM_STEP_NODELIST",
                            beside: "SLURM_STEP_NUM_TASKS",
                        })?;
                    first_host(&list).ok_or(DistError::Variable {
                        name: "SLURM_STEP_NODELIST",
                        value: list,
                        what: "a Slurm host list",
                    })?
                }
            };
            let port = match number("MASTER_PORT", "a port")? {
                Some(p) => port_of(p)?,
                None => slurm_port(
                    number("SLURM_JOB_ID", "a job id")?.unwrap_or(0),
                    number("SLURM_STEP_ID", "a step id")?.unwrap_or(0),
                ),
            };
            World {
                rank: rank as usize,
                size: size as usize,
                local_rank: number("SLURM_LOCALID", "a task rank")?.unwrap_or(0) as usize,
                addr,
                port,
                from: "Slurm",
            }
        } else {
            return Ok(None);
        };
        if world.size == 0 || world.rank >= world.size {
            return Err(DistError::Rank {
                rank: world.rank,
                size: world.size,
            });
        }
        Ok((world.size > 1).then_some(world))
    }

    /// The world of this process's environment.
    pub fn from_env() -> Result<Option<World>, DistError> {
        Self::from_vars(&|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
    }

    /// Rank 0 writes checkpoints, results and the cache entry.
    pub fn writes(&self) -> bool {
        self.rank == 0
    }
}

fn port_of(p: u64) -> Result<u16, DistError> {
    u16::try_from(p)
        .ok()
        .filter(|&p| p > 0)
        .ok_or(DistError::Variable {
            name: "MASTER_PORT",
            value: p.to_string(),
            what: "a port (1–65535)",
        })
}

/// Rank `rank`'s rows of a batch of `n` among `size` ranks: `(first, count)`.
/// The first `n % size` ranks take one row more, so a batch that does not
/// divide evenly differs by at most one row between ranks (as
/// `torch.tensor_split`).
pub fn shard(n: usize, rank: usize, size: usize) -> (usize, usize) {
    let (base, extra) = (n / size, n % size);
    let first = rank * base + rank.min(extra);
    (first, base + usize::from(rank < extra))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn world(vars: &[(&str, &str)]) -> Result<Option<World>, DistError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        World::from_vars(&|n| m.get(n).cloned())
    }

    #[test]
    fn torchrun_variables_make_a_world_and_one_rank_is_none() {
        let w = world(&[
            ("WORLD_SIZE", "4"),
            ("RANK", "2"),
            ("LOCAL_RANK", "0"),
            ("MASTER_ADDR", "node7"),
            ("MASTER_PORT", "29500"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((w.rank, w.size, w.local_rank, w.port), (2, 4, 0, 29500));
        assert_eq!((w.addr.as_str(), w.from), ("node7", "torchrun"));
        assert!(!w.writes());
        let one = world(&[
            ("WORLD_SIZE", "1"),
            ("RANK", "0"),
            ("MASTER_ADDR", "a"),
            ("MASTER_PORT", "1"),
        ]);
        assert_eq!(one.unwrap(), None);
        assert_eq!(world(&[]).unwrap(), None);
    }

    #[test]
    fn a_slurm_step_meets_on_its_first_host_and_a_batch_script_is_no_world() {
        let w = world(&[
            ("SLURM_STEP_NUM_TASKS", "16"),
            ("SLURM_PROCID", "9"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_STEP_NODELIST", "gpu[07-08]"),
            ("SLURM_JOB_ID", "4242"),
            ("SLURM_STEP_ID", "0"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((w.rank, w.size, w.local_rank), (9, 16, 1));
        assert_eq!((w.addr.as_str(), w.from), ("gpu07", "Slurm"));
        assert_eq!(w.port, slurm_port(4242, 0));
        // The batch script of an allocation of 16 tasks runs once.
        assert_eq!(
            world(&[("SLURM_NTASKS", "16"), ("SLURM_PROCID", "0")]).unwrap(),
            None
        );
    }

    #[test]
    fn bad_variables_are_named() {
        let e = world(&[("WORLD_SIZE", "two")]).unwrap_err().to_string();
        assert!(e.contains("WORLD_SIZE") && e.contains("two"), "{e}");
        let e = world(&[("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_ADDR", "h")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("MASTER_PORT"), "{e}");
        let e = world(&[
            ("WORLD_SIZE", "2"),
            ("RANK", "2"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "5"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("rank 2") && e.contains("2 ranks"), "{e}");
        let e = world(&[
            ("WORLD_SIZE", "2"),
            ("RANK", "0"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "70000"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("70000"), "{e}");
    }

    #[test]
    fn slurm_host_lists_give_their_first_host() {
        assert_eq!(first_host("node1").as_deref(), Some("node1"));
        assert_eq!(first_host("gpu[03-04,07],cpu1").as_deref(), Some("gpu03"));
        assert_eq!(first_host("a,b").as_deref(), Some("a"));
        assert_eq!(first_host("rack[2,5]-n[1-4]").as_deref(), Some("rack2-n1"));
        assert_eq!(first_host(""), None);
        assert_eq!(first_host("n[x-y]"), None);
    }

    #[test]
    fn shards_cover_a_batch_once_and_differ_by_at_most_one_row() {
        for n in 0..20 {
            for size in 1..6 {
                let parts: Vec<_> = (0..size).map(|r| shard(n, r, size)).collect();
                let mut next = 0;
                for &(first, count) in &parts {
                    assert_eq!(first, next);
                    next += count;
                }
                assert_eq!(next, n);
                let (lo, hi) = (
                    parts.iter().map(|p| p.1).min().unwrap(),
                    parts.iter().map(|p| p.1).max().unwrap(),
                );
                assert!(hi - lo <= 1);
            }
        }
        assert_eq!(shard(5, 0, 2), (0, 3));
        assert_eq!(shard(5, 1, 2), (3, 2));
    }
}
