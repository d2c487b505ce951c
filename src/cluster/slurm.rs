//! `advp run --executor slurm`: one `sbatch` job per node that is not cached,
//! each running `advp run FILE --only NODE`, with `--dependency=afterok:` on the
//! jobs of the nodes it reads and `--kill-on-invalid-dep=yes`, so Slurm cancels
//! the nodes after a failed one instead of leaving them pending. advp writes
//! the job scripts, submits, then watches with `squeue` and `scontrol` (no
//! accounting database needed) and reads the results from the shared cache.
//!
//! What was submitted is recorded in `<state>/jobs.json` (node → job id, cache
//! key, log), beside the scripts and logs. A second `advp run` resubmits only
//! what is neither cached nor still queued or running under its recorded job;
//! `advp status` reads the same record.

use super::{quote, tail, Invocation, Job};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Defaults for every job; a node's `resources { … }` overrides them.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Slurm: the partition of every job (a node's `resources` may override).
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm: generic resources of every job, e.g. `gpu:1`.
    #[arg(long)]
    pub gres: Option<String>,
    /// Slurm: the time limit of every job, e.g. `12:00:00`.
    #[arg(long)]
    pub time: Option<String>,
    /// Slurm: the account jobs are charged to.
    #[arg(long)]
    pub account: Option<String>,
    /// Slurm: seconds before the time limit at which a job is warned
    /// (SIGUSR1): it checkpoints and requeues itself, and resumes there.
    #[arg(long = "signal-before", value_name = "SECONDS", default_value_t = 120)]
    pub warning: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Submitted {
    pub job: String,
    pub key: String,
    pub log: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            partition: None,
            gres: None,
            time: None,
            account: None,
            warning: 120,
        }
    }
}

/// node name → its last submission.
pub type Record = BTreeMap<String, Submitted>;

pub fn load(state: &Path) -> Record {
    std::fs::read(state.join("jobs.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(state: &Path, record: &Record) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(record).map_err(|e| e.to_string())?;
    crate::util::write_atomic(&state.join("jobs.json"), &json).map_err(|e| e.to_string())
}

/// Runs a Slurm command and returns its stdout, or what went wrong.
fn slurm(cmd: &str, args: &[String]) -> Result<String, String> {
    let out = Command::new(cmd).args(args).output().map_err(|e| {
        format!(
            "cannot run `{cmd}` ({e}): is this a Slurm login node? (`--executor local` runs here)"
        )
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{cmd} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A job's state as Slurm reports it (`PENDING`, `RUNNING`, `COMPLETED`,
/// `FAILED`, `CANCELLED`, `TIMEOUT`, …); `None` when Slurm has forgotten it.
pub fn job_state(id: &str) -> Option<String> {
    if let Ok(out) = slurm(
        "squeue",
        &[
            "-h".into(),
            "-j".into(),
            id.into(),
            "-o".into(),
            "%T".into(),
        ],
    ) {
        if let Some(s) = out.lines().map(str::trim).find(|l| !l.is_empty()) {
            return Some(s.to_string());
        }
    }
    let out = slurm(
        "scontrol",
        &["show".into(), "job".into(), "-o".into(), id.into()],
    )
    .ok()?;
    out.split_whitespace()
        .find_map(|w| w.strip_prefix("JobState="))
        .map(str::to_string)
}

pub fn active(state: &str) -> bool {
    matches!(
        state,
        "PENDING"
            | "RUNNING"
            | "CONFIGURING"
            | "COMPLETING"
            | "REQUEUED"
            | "RESIZING"
            | "SUSPENDED"
    )
}

/// The job script of one node.
fn script(job: &Job, inv: &Invocation, opts: &Options, after: &[String], log: &Path) -> String {
    let mut s = String::from("#!/bin/sh\n");
    let mut opt = |k: &str, v: &str| s.push_str(&format!("#SBATCH --{k}={v}\n"));
    opt("job-name", &format!("advp-{}", job.name));
    opt("output", &log.display().to_string());
    let r = &job.resources;
    if let Some(p) = r.partition.as_ref().or(opts.partition.as_ref()) {
        opt("partition", p);
    }
    match r.gpus {
        Some(g) if g != 0 => opt("gres", &format!("gpu:{g}")),
        Some(_) => {}
        None => {
            if let Some(g) = &opts.gres {
                opt("gres", g);
            }
        }
    }
    if let Some(t) = r.time.as_ref().or(opts.time.as_ref()) {
        opt("time", t);
    }
    if let Some(a) = &opts.account {
        opt("account", a);
    }
    if let Some(c) = r.cpus {
        opt("cpus-per-task", &c.to_string());
    }
    if let Some(m) = &r.mem {
        opt("mem", m);
    }
    if !after.is_empty() {
        opt("dependency", &format!("afterok:{}", after.join(":")));
        opt("kill-on-invalid-dep", "yes");
    }
    // Preemption-safe: a warning signal before the time limit (to the batch
    // shell, which `exec` makes advp itself), on which advp checkpoints and
    // requeues the job; the log grows across the job's runs.
    opt("signal", &format!("B:USR1@{}", opts.warning));
    opt("open-mode", "append");
    s.push_str("#SBATCH --requeue\n");
    s.push_str(&format!(
        "cd {}\nexec {}\n",
        quote(&inv.workdir.display().to_string()),
        inv.shell(job)
    ));
    s
}

/// Submits every job not already queued or running under its recorded id,
/// with dependencies on the jobs of its inputs. Returns node → job id.
pub fn submit(
    jobs: &[Job],
    keys: &BTreeMap<String, String>,
    inv: &Invocation,
    opts: &Options,
    state: &Path,
    say: &dyn Fn(&str),
) -> Result<BTreeMap<usize, String>, String> {
    std::fs::create_dir_all(state.join("logs"))
        .map_err(|e| format!("cannot create {}: {e}", state.display()))?;
    let mut record = load(state);
    let mut ids: BTreeMap<usize, String> = BTreeMap::new();
    for job in jobs {
        let key = keys.get(&job.name).cloned().unwrap_or_default();
        // Still queued or running for the same definition: keep that job.
        if let Some(prev) = record.get(&job.name) {
            if prev.key == key && job_state(&prev.job).is_some_and(|s| active(&s)) {
                say(&format!(
                    "{}: already submitted as job {}",
                    job.name, prev.job
                ));
                ids.insert(job.id, prev.job.clone());
                continue;
            }
        }
        let after: Vec<String> = job
            .after
            .iter()
            .filter_map(|a| ids.get(a).cloned())
            .collect();
        let log = state.join("logs").join(format!("{}-%j.log", job.name));
        let path = state.join(format!("{}.sbatch", job.name));
        std::fs::write(&path, script(job, inv, opts, &after, &log))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if crate::util::verbose() {
            say(&format!("{}: sbatch {}", job.name, path.display()));
        }
        let out = slurm("sbatch", &["--parsable".into(), path.display().to_string()])?;
        let id = out.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() {
            return Err(format!("sbatch gave no job id for {}", job.name));
        }
        say(&format!(
            "{}: submitted as job {id}{}",
            job.name,
            if after.is_empty() {
                String::new()
            } else {
                format!(" (after {})", after.join(", "))
            }
        ));
        let log = state.join("logs").join(format!("{}-{id}.log", job.name));
        record.insert(
            job.name.clone(),
            Submitted {
                job: id.clone(),
                key,
                log,
            },
        );
        save(state, &record)?;
        ids.insert(job.id, id);
    }
    Ok(ids)
}

/// How one node stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Cached,
    Queued(String),
    Running(String),
    /// Job id, its Slurm state, the log.
    Failed(String, String, PathBuf),
    /// Submitted, finished in Slurm's eyes, but its result is not (yet) in the cache.
    Missing(String),
    NotSubmitted,
}

/// The status of a computed node from the cache and the record.
pub fn status(name: &str, key: &str, cached: bool, record: &Record) -> Status {
    if cached {
        return Status::Cached;
    }
    let Some(s) = record.get(name).filter(|s| s.key == key) else {
        return Status::NotSubmitted;
    };
    match job_state(&s.job).as_deref() {
        Some("PENDING") | Some("CONFIGURING") | Some("REQUEUED") => Status::Queued(s.job.clone()),
        Some(st) if active(st) => Status::Running(s.job.clone()),
        Some("COMPLETED") | None => Status::Missing(s.job.clone()),
        Some(other) => Status::Failed(s.job.clone(), other.to_string(), s.log.clone()),
    }
}

/// Waits for the submitted jobs: reports each change, shows the log tail of a
/// failed job, cancels (`scancel`) what still waits on it. Returns the failed
/// nodes with their logs.
pub fn watch(
    jobs: &[Job],
    ids: &BTreeMap<usize, String>,
    is_cached: &dyn Fn(usize) -> bool,
    state: &Path,
    say: &dyn Fn(&str),
) -> Result<Vec<(String, PathBuf)>, String> {
    let record = load(state);
    let mut last: BTreeMap<usize, String> = BTreeMap::new();
    let mut failed = Vec::new();
    let mut open: Vec<&Job> = jobs.iter().filter(|j| ids.contains_key(&j.id)).collect();
    while !open.is_empty() {
        let mut still = Vec::new();
        for j in open {
            let id = &ids[&j.id];
            let st = job_state(id).unwrap_or_else(|| "GONE".into());
            if last.get(&j.id) != Some(&st) {
                say(&format!("{}: job {id} {}", j.name, st.to_lowercase()));
                last.insert(j.id, st.clone());
            }
            if active(&st) {
                still.push(j);
                continue;
            }
            if st == "COMPLETED" || (st == "GONE" && is_cached(j.id)) {
                if !is_cached(j.id) {
                    failed.push((
                        j.name.clone(),
                        record
                            .get(&j.name)
                            .map(|s| s.log.clone())
                            .unwrap_or_default(),
                    ));
                    say(&format!(
                        "{}: job {id} completed but left no result in the cache",
                        j.name
                    ));
                }
                continue;
            }
            let log = record
                .get(&j.name)
                .map(|s| s.log.clone())
                .unwrap_or_default();
            say(&format!(
                "{}: job {id} ended {st}; the end of {}:\n{}",
                j.name,
                log.display(),
                tail(&log, 12)
            ));
            // Slurm cancels dependents (kill-on-invalid-dep); make sure.
            let dependents: Vec<String> = jobs
                .iter()
                .filter(|d| depends_on(jobs, d, j.id))
                .filter_map(|d| ids.get(&d.id).cloned())
                .collect();
            if !dependents.is_empty() {
                let _ = slurm("scancel", &dependents);
            }
            failed.push((j.name.clone(), log));
        }
        open = still;
        if !open.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
    Ok(failed)
}

/// Whether `job` waits (directly or not) on `node`.
fn depends_on(jobs: &[Job], job: &Job, node: usize) -> bool {
    job.after.iter().any(|&a| {
        a == node
            || jobs
                .iter()
                .find(|j| j.id == a)
                .is_some_and(|j| depends_on(jobs, j, node))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_script_has_its_dependencies_resources_and_command() {
        let job = Job {
            id: 3,
            node: 3,
            seed: None,
            name: "cat_up".into(),
            after: vec![1],
            resources: crate::runtime::spec::Resources {
                gpus: Some(1),
                time: Some("12:00:00".into()),
                ..Default::default()
            },
        };
        let inv = Invocation {
            exe: "/opt/advp".into(),
            file: "/w/p.advp".into(),
            profile: Some("quick".into()),
            sets: vec!["seed=2".into()],
            cache: "/shared/cache".into(),
            out: "/shared/out".into(),
            replicates: "/shared/replicates".into(),
            workdir: "/w".into(),
        };
        let opts = Options {
            partition: Some("gpu".into()),
            gres: Some("gpu:2".into()),
            time: Some("1:00:00".into()),
            account: Some("lab".into()),
            warning: 120,
        };
        let s = script(
            &job,
            &inv,
            &opts,
            &["41".into(), "42".into()],
            Path::new("/s/x.log"),
        );
        for line in [
            "#SBATCH --job-name=advp-cat_up",
            "#SBATCH --partition=gpu",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --time=12:00:00",
            "#SBATCH --account=lab",
            "#SBATCH --dependency=afterok:41:42",
            "#SBATCH --kill-on-invalid-dep=yes",
            "#SBATCH --signal=B:USR1@120",
            "#SBATCH --requeue",
            "#SBATCH --open-mode=append",
            "exec /opt/advp run /w/p.advp --only cat_up --quiet --cache /shared/cache --out /shared/out --profile quick --set seed=2",
        ] {
            assert!(s.contains(line), "{line} missing from\n{s}");
        }
    }
}
