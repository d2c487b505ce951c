//! Running a pipeline's graph past one process: up to N nodes at once on this
//! machine (`advp run --jobs N`), or one Slurm job per node
//! (`advp run --executor slurm`). The unit of work is the same everywhere:
//! `advp run FILE --only NODE` with the same profile and overrides, against a
//! cache every process sees. A node's result appears in the cache atomically
//! (its `.partial` folder is renamed when done), so the cache is the only
//! shared state and a re-run after any failure runs only what is missing.
//!
//! advp does no scheduling of its own beyond "a node starts when the computed
//! nodes it reads are finished": locally that is the whole job; under Slurm it
//! is expressed as `--dependency=afterok:…` and Slurm does the queueing,
//! placement and cancellation.

pub mod local;
pub mod slurm;

use crate::graph::Plan;
use crate::language::program::Program;
use crate::runtime::exec::{computed, Runner};
use crate::runtime::spec::Resources;
use std::path::{Path, PathBuf};

/// Where the nodes run.
pub enum Executor {
    /// Up to `jobs` nodes at once on this machine; a training or
    /// evaluation node as `ranks` processes (one per GPU with `gpus`).
    Local {
        jobs: usize,
        ranks: usize,
        gpus: bool,
    },
    /// One Slurm job per node.
    Slurm(slurm::Options),
}

/// What a distributed run did.
#[derive(Debug, Default)]
pub struct Distributed {
    /// Nodes that ran in their own processes.
    pub ran: usize,
    /// Nodes that failed, with their logs.
    pub failed: Vec<(String, PathBuf)>,
    pub interrupted: bool,
}

#[derive(Debug)]
pub enum Error {
    /// The program cannot run (the lowering's problems).
    Diagnostics(Vec<crate::language::diagnostic::Diagnostic>),
    Interrupted,
    /// A file the run needs is not there.
    Missing(Vec<crate::language::diagnostic::Diagnostic>),
    /// The executor could not be used.
    Failed(String),
}

/// Where a pipeline's logs and Slurm record live: beside the cache (which
/// every node of a cluster sees), per pipeline and profile.
pub fn state_dir(opts: &crate::runtime::exec::Options, program: &Program, what: &str) -> PathBuf {
    let name = match &program.profile {
        Some(p) => format!("{}-{p}", program.name()),
        None => program.name(),
    };
    absolute(&opts.cache)
        .parent()
        .map_or_else(|| PathBuf::from(".advp"), Path::to_path_buf)
        .join(what)
        .join(name)
}

/// Runs every node the runners (one per seed) would run that is not cached,
/// each replicate as its own `advp run --only NODE` (locally or as Slurm
/// jobs), waiting for them; the reports are the caller's to write afterwards.
pub fn distribute(
    runners: &[Runner],
    file: &Path,
    sets: &[String],
    executor: &Executor,
    say: &dyn Fn(&str),
) -> Result<Distributed, Error> {
    let runner = &runners[0];
    let (program, opts) = (runner.program(), runner.options());
    let mut jobs = Vec::new();
    // Which runner and node each job is.
    let mut of: Vec<(usize, usize)> = Vec::new();
    for (k, r) in runners.iter().enumerate() {
        let targets = match r.prepare() {
            Ok(t) => t,
            Err(crate::runtime::exec::RunError::Diagnostics(d)) => {
                return Err(Error::Diagnostics(d))
            }
            Err(crate::runtime::exec::RunError::Interrupted { .. }) => {
                return Err(Error::Interrupted)
            }
            Err(
                crate::runtime::exec::RunError::Missing(d)
                | crate::runtime::exec::RunError::Refused(d),
            ) => return Err(Error::Missing(d)),
        };
        if let (Executor::Local { .. }, Err(crate::runtime::exec::RunError::Missing(d))) =
            (executor, r.needed_tools(&targets))
        {
            return Err(Error::Missing(d));
        }
        let seed = (runners.len() > 1).then(|| r.program().settings.seed);
        for mut j in pending(r, &targets, jobs.len(), seed) {
            of.push((k, j.node));
            j.id = jobs.len();
            jobs.push(j);
        }
    }
    let cached = |id: usize| {
        let (k, i) = of[id];
        runners[k].is_cached(i)
    };
    let inv = Invocation {
        exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("advp")),
        file: absolute(file),
        profile: program.profile.clone(),
        sets: sets.to_vec(),
        cache: absolute(&opts.cache),
        out: absolute(&opts.out),
        replicates: state_dir(opts, program, "replicates"),
        workdir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let (failed, interrupted) = match executor {
        Executor::Slurm(options) => {
            let state = state_dir(opts, program, "slurm");
            let keys = jobs
                .iter()
                .map(|j| (j.name.clone(), runners[of[j.id].0].key(j.node).to_string()))
                .collect();
            let ids =
                slurm::submit(&jobs, &keys, &inv, options, &state, say).map_err(Error::Failed)?;
            let failed = slurm::watch(&jobs, &ids, &cached, &state, say).map_err(Error::Failed)?;
            (failed, false)
        }
        Executor::Local {
            jobs: n,
            ranks,
            gpus,
        } => {
            let logs = state_dir(opts, program, "logs");
            let places = local::Places {
                jobs: *n,
                ranks: *ranks,
                gpus: *gpus,
            };
            let o = local::run(&jobs, &inv, places, &logs, say).map_err(Error::Failed)?;
            (o.failed, o.interrupted)
        }
    };
    Ok(Distributed {
        ran: jobs.len(),
        failed,
        interrupted,
    })
}

/// A node (one seed's replicate of it) that still has to run.
#[derive(Clone, Debug)]
pub struct Job {
    /// The job's index among the run's jobs.
    pub id: usize,
    pub node: usize,
    /// The replicate's seed, when the run has several (`--set seeds=[S]`).
    pub seed: Option<u64>,
    /// The node's name, `NODE.seedS` for a replicate (logs, Slurm's record).
    pub name: String,
    /// The jobs of the computed nodes it reads (directly, or through
    /// descriptions such as a model or an attack) that also still have to run.
    pub after: Vec<usize>,
    /// The node's `resources { … }` block.
    pub resources: Resources,
    /// Whether its ranks compute it together (training and evaluation).
    pub shared: bool,
}

/// The computed nodes of the targets that are not in the cache, in run order,
/// each with the pending computed nodes it waits for; job ids start at
/// `first`, and `seed` names the replicate.
pub fn pending(runner: &Runner, targets: &[usize], first: usize, seed: Option<u64>) -> Vec<Job> {
    let (program, plan): (&Program, &Plan) = (runner.program(), runner.plan());
    let todo: Vec<usize> = plan
        .order
        .iter()
        .copied()
        .filter(|&i| targets.contains(&i) && computed(&program.nodes[i]) && !runner.is_cached(i))
        .collect();
    todo.iter()
        .enumerate()
        .map(|(p, &i)| {
            // Walk the inputs through descriptions to the nearest computed nodes.
            let mut after = Vec::new();
            let mut stack = plan.inputs(i);
            let mut seen = Vec::new();
            while let Some(j) = stack.pop() {
                if seen.contains(&j) {
                    continue;
                }
                seen.push(j);
                if computed(&program.nodes[j]) {
                    if let Some(p) = todo.iter().position(|&t| t == j) {
                        after.push(first + p);
                    }
                } else {
                    stack.extend(plan.inputs(j));
                }
            }
            after.sort();
            let n = &program.nodes[i];
            let resources = runner.lowered().resources[i].clone();
            Job {
                id: first + p,
                node: i,
                seed,
                name: match seed {
                    Some(s) => format!("{}.seed{s}", n.name),
                    None => n.name.clone(),
                },
                after,
                resources,
                shared: runner.shared(i),
            }
        })
        .collect()
}

/// How to run one node in another process: `advp run FILE --only NODE` with the
/// run's profile, overrides, cache and output folders, all absolute so the
/// command works from any working folder on any machine that sees them.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub exe: PathBuf,
    pub file: PathBuf,
    pub profile: Option<String>,
    pub sets: Vec<String>,
    pub cache: PathBuf,
    pub out: PathBuf,
    /// Where a replicate's own process writes its one-seed reports
    /// (`<replicates>/seedS`), so the output folder holds only the tables
    /// over every seed, written once all replicates are done.
    pub replicates: PathBuf,
    pub workdir: PathBuf,
}

pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

impl Invocation {
    pub fn args(&self, job: &Job) -> Vec<String> {
        let node = job.name.split('.').next().unwrap_or(&job.name);
        let mut a = vec![
            "run".to_string(),
            self.file.display().to_string(),
            "--only".into(),
            node.into(),
            "--quiet".into(),
            "--cache".into(),
            self.cache.display().to_string(),
            "--out".into(),
            match job.seed {
                Some(s) => self.replicates.join(format!("seed{s}")),
                None => self.out.clone(),
            }
            .display()
            .to_string(),
        ];
        if let Some(p) = &self.profile {
            a.push("--profile".into());
            a.push(p.clone());
        }
        for s in &self.sets {
            a.push("--set".into());
            a.push(s.clone());
        }
        // One replicate: the last `--set` wins over the run's seeds.
        if let Some(seed) = job.seed {
            a.push("--set".into());
            a.push(format!("seeds=[{seed}]"));
        }
        a
    }

    /// The command line as one shell line (for job scripts and logs).
    pub fn shell(&self, job: &Job) -> String {
        std::iter::once(self.exe.display().to_string())
            .chain(self.args(job))
            .map(|s| quote(&s))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Single-quotes a word for sh when it needs it.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub use crate::util::shown;

/// The last `n` lines of a log file, for a failed node's message.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replicate_runs_as_its_seed_and_writes_its_reports_aside() {
        let inv = Invocation {
            exe: "/opt/advp".into(),
            file: "/w/p.advp".into(),
            profile: None,
            sets: vec!["seeds=[1, 2, 3]".into()],
            cache: "/c".into(),
            out: "/o".into(),
            replicates: "/s/replicates/p".into(),
            workdir: "/w".into(),
        };
        let job = |seed: Option<u64>| Job {
            id: 0,
            node: 0,
            seed,
            name: seed.map_or("at".into(), |s| format!("at.seed{s}")),
            after: vec![],
            resources: Default::default(),
            shared: false,
        };
        assert_eq!(
            inv.shell(&job(Some(2))),
            "/opt/advp run /w/p.advp --only at --quiet --cache /c --out /s/replicates/p/seed2 --set 'seeds=[1, 2, 3]' --set 'seeds=[2]'"
        );
        assert_eq!(
            inv.shell(&job(None)),
            "/opt/advp run /w/p.advp --only at --quiet --cache /c --out /o --set 'seeds=[1, 2, 3]'"
        );
    }

    #[test]
    fn shell_quoting_survives_spaces_and_quotes() {
        assert_eq!(quote("a/b-c.advp"), "a/b-c.advp");
        assert_eq!(quote("x y"), "'x y'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
