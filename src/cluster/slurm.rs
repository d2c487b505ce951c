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

use super::{quote, shown, tail, Invocation, Job};
use crate::language::resources::{self, Field};
use crate::util::{printable, quoted};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Defaults for every job; a node's `resources { … }` overrides them.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Slurm: the partition of every job (a node's `resources` may override).
    #[arg(long, value_parser = SlurmValue(Field::Partition))]
    pub partition: Option<String>,
    /// Slurm: generic resources of every job, e.g. `gpu:1`.
    #[arg(long, value_parser = SlurmValue(Field::Gres))]
    pub gres: Option<String>,
    /// Slurm: the time limit of every job, e.g. `12:00:00`.
    #[arg(long, value_parser = SlurmValue(Field::Time))]
    pub time: Option<String>,
    /// Slurm: the account jobs are charged to.
    #[arg(long, value_parser = SlurmValue(Field::Account))]
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

/// clap's parser of a Slurm option: a value of the field's form
/// ([`Field::check`], the checker's test of `resources { … }` too), else exit
/// 2 with the value escaped and the accepted form.
#[derive(Clone, Copy, Debug)]
pub struct SlurmValue(pub Field);

impl clap::builder::TypedValueParser for SlurmValue {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let flag = arg.map_or_else(|| format!("--{}", self.0.key()), |a| a.to_string());
        let text = value.to_string_lossy();
        let why = match (value.to_str(), self.0.check(&text)) {
            (Some(v), Ok(())) => return Ok(v.to_string()),
            (_, Err(e)) => e,
            (None, Ok(())) => format!("{} is not UTF-8", quoted(&text)),
        };
        Err(clap::Error::raw(
            clap::error::ErrorKind::ValueValidation,
            format!(
                "invalid value for {flag}: {why}\n  help: {}\n",
                self.0.form()
            ),
        )
        .with_cmd(cmd))
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
            printable(&args.join(" ")),
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

/// Whether a job in `state` has ended for good. Slurm's base states that
/// end a job (squeue(1), JOB STATE CODES); every other state — `SIGNALING`
/// while the warning signal is delivered, `STAGE_OUT`, `STOPPED`, the held
/// `REQUEUE_HOLD`/`SPECIAL_EXIT`, and any state a later Slurm adds — is a
/// job still under the scheduler, watched until it ends or Slurm forgets it.
pub fn ended(state: &str) -> bool {
    matches!(
        state,
        "BOOT_FAIL"
            | "CANCELLED"
            | "COMPLETED"
            | "DEADLINE"
            | "FAILED"
            | "NODE_FAIL"
            | "OUT_OF_MEMORY"
            | "PREEMPTED"
            | "REVOKED"
            | "TIMEOUT"
    )
}

pub fn active(state: &str) -> bool {
    !ended(state)
}

/// Whether a job in `state` waits for an allocation (or a release).
fn queued(state: &str) -> bool {
    matches!(
        state,
        "PENDING"
            | "CONFIGURING"
            | "REQUEUED"
            | "REQUEUE_FED"
            | "REQUEUE_HOLD"
            | "RESV_DEL_HOLD"
            | "SPECIAL_EXIT"
    )
}

/// One `#SBATCH --key[=value]` line, refused unless the value is of its
/// directive's form: the resource fields by [`Field::check`], the rest by
/// what advp itself writes there. No accepted value holds a control
/// character, a space, a quote or `#`, so none can end the line, start
/// another, or be cut short by sbatch's own reading of the line.
fn directive(key: &str, value: Option<&str>) -> Result<String, String> {
    let digits = |v: &str| !v.is_empty() && v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit());
    let ok = match (key, value) {
        ("requeue", None) => true,
        (_, None) => false,
        ("job-name", Some(v)) => resources::name(v),
        ("output", Some(v)) => log_path(v),
        ("cpus-per-task" | "nodes" | "ntasks-per-node", Some(v)) => digits(v),
        ("dependency", Some(v)) => v
            .strip_prefix("afterok:")
            .is_some_and(|ids| ids.split(':').all(digits)),
        ("kill-on-invalid-dep", Some(v)) => v == "yes",
        ("signal", Some(v)) => v.strip_prefix("B:USR1@").is_some_and(digits),
        ("open-mode", Some(v)) => v == "append",
        (k, Some(v)) => match Field::of(k) {
            Some(f) => {
                return f
                    .check(v)
                    .map(|()| format!("#SBATCH --{k}={v}\n"))
                    .map_err(|e| format!("{e}; {}", f.form()))
            }
            None => false,
        },
    };
    match (ok, value) {
        (true, Some(v)) => Ok(format!("#SBATCH --{key}={v}\n")),
        (true, None) => Ok(format!("#SBATCH --{key}\n")),
        (false, Some(v)) => Err(format!(
            "a job script cannot hold `--{key}={}`",
            printable(v)
        )),
        (false, None) => Err(format!("`--{key}` needs a value")),
    }
}

/// Whether sbatch reads `p` as one whole `--output` path: no control
/// character, space, quote, backslash or `#` (sbatch splits a directive at
/// spaces, unquotes, and ends it at `#`).
fn log_path(p: &str) -> bool {
    !p.is_empty()
        && !p
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"'\\#".contains(c))
}

/// A word of the job's shell lines: quoted for sh, and refused if it holds a
/// control character (it would show as a line of its own in the script and in
/// every listing of it).
fn shell_word(what: &str, w: &str) -> Result<String, String> {
    if w.chars().any(char::is_control) {
        return Err(format!(
            "{what} {} holds a control character; a job script cannot hold it",
            quoted(w)
        ));
    }
    Ok(quote(w))
}

/// The job script of one node: `#!/bin/sh`, then only `#SBATCH` lines (each
/// from [`directive`]), then `cd` and `exec`: a value that is not of its
/// directive's form is refused, so the script has exactly these lines.
pub fn script(
    job: &Job,
    inv: &Invocation,
    opts: &Options,
    after: &[String],
    log: &Path,
) -> Result<String, String> {
    let mut s = String::from("#!/bin/sh\n");
    let mut opt = |k: &str, v: Option<&str>| -> Result<(), String> {
        s.push_str(&directive(k, v)?);
        Ok(())
    };
    opt("job-name", Some(&format!("advp-{}", job.name)))?;
    let log = log
        .to_str()
        .ok_or_else(|| format!("the log path {} is not UTF-8", shown(log)))?;
    if !log_path(log) {
        return Err(format!(
            "the log path {} holds a space, quote, backslash, `#` or control character, \
             which a `#SBATCH --output` line cannot hold; use a `--cache` folder without them",
            quoted(log)
        ));
    }
    opt("output", Some(log))?;
    let r = &job.resources;
    if let Some(p) = r.partition.as_ref().or(opts.partition.as_ref()) {
        opt("partition", Some(p))?;
    }
    match r.gpus {
        Some(g) if g != 0 => opt("gres", Some(&format!("gpu:{g}")))?,
        Some(_) => {}
        None => {
            if let Some(g) = &opts.gres {
                opt("gres", Some(g))?;
            }
        }
    }
    if let Some(t) = r.time.as_ref().or(opts.time.as_ref()) {
        opt("time", Some(t))?;
    }
    if let Some(a) = &opts.account {
        opt("account", Some(a))?;
    }
    if let Some(c) = r.cpus {
        opt("cpus-per-task", Some(&c.to_string()))?;
    }
    // A training or evaluation node over several ranks: one allocation of
    // `nodes` machines × `tasks` ranks, started by `srun` (which ends every
    // task when one fails, and passes the scheduler's signals to all).
    let (nodes, per_node) = r.ranks();
    let ranked = job.shared && nodes * per_node > 1;
    if ranked {
        opt("nodes", Some(&nodes.to_string()))?;
        opt("ntasks-per-node", Some(&per_node.to_string()))?;
    }
    if let Some(m) = &r.mem {
        opt("mem", Some(m))?;
    }
    if !after.is_empty() {
        opt("dependency", Some(&format!("afterok:{}", after.join(":"))))?;
        opt("kill-on-invalid-dep", Some("yes"))?;
    }
    // Preemption-safe: a warning signal before the time limit (to the batch
    // shell, which `exec` makes advp itself), on which advp checkpoints and
    // requeues the job; the log grows across the job's runs.
    opt("signal", Some(&format!("B:USR1@{}", opts.warning)))?;
    opt("open-mode", Some("append"))?;
    opt("requeue", None)?;
    let workdir = shell_word("the working folder", &inv.workdir.display().to_string())?;
    let command = std::iter::once(inv.exe.display().to_string())
        .chain(inv.args(job))
        .map(|w| shell_word("the command's word", &w))
        .collect::<Result<Vec<_>, _>>()?;
    let launcher = if ranked {
        "srun --kill-on-bad-exit=1 "
    } else {
        ""
    };
    s.push_str(&format!(
        "cd {workdir}\nexec {launcher}{}\n",
        command.join(" ")
    ));
    Ok(s)
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
    let log_of = |job: &Job| state.join("logs").join(format!("{}-%j.log", job.name));
    // Every script can be written, or nothing is submitted.
    for job in jobs {
        script(job, inv, opts, &[], &log_of(job))
            .map_err(|e| format!("no job is submitted: the job script of `{}`: {e}", job.name))?;
    }
    std::fs::create_dir_all(state.join("logs"))
        .map_err(|e| format!("cannot create {}: {e}", shown(state)))?;
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
        let path = state.join(format!("{}.sbatch", job.name));
        let text = script(job, inv, opts, &after, &log_of(job))
            .map_err(|e| format!("the job script of `{}`: {e}", job.name))?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", shown(&path)))?;
        if crate::util::verbose() {
            say(&format!("{}: sbatch {}", job.name, shown(&path)));
        }
        let out = slurm("sbatch", &["--parsable".into(), path.display().to_string()])?;
        let id = out.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "sbatch gave no job id for {}: it answered {}",
                job.name,
                quoted(out.trim())
            ));
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
        Some(st) if queued(st) => Status::Queued(s.job.clone()),
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
            // `None`: Slurm has forgotten the job (it ended a while ago).
            let state = job_state(id);
            let st = state.clone().unwrap_or_else(|| "GONE".into());
            if last.get(&j.id) != Some(&st) {
                say(&format!("{}: job {id} {}", j.name, st.to_lowercase()));
                last.insert(j.id, st.clone());
            }
            if state.as_deref().is_some_and(active) {
                still.push(j);
                continue;
            }
            if state.as_deref() == Some("COMPLETED") || (state.is_none() && is_cached(j.id)) {
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
                shown(&log),
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

    /// The script, or why there is none (`script` returned a bare `String`
    /// before it could refuse).
    trait Outcome {
        fn outcome(self) -> Result<String, String>;
    }
    impl Outcome for String {
        fn outcome(self) -> Result<String, String> {
            Ok(self)
        }
    }
    impl Outcome for Result<String, String> {
        fn outcome(self) -> Result<String, String> {
            self
        }
    }

    fn plain_job(resources: crate::runtime::spec::Resources) -> Job {
        Job {
            id: 0,
            node: 0,
            seed: None,
            name: "t".into(),
            after: vec![],
            resources,
            shared: false,
        }
    }

    fn plain_invocation() -> Invocation {
        Invocation {
            exe: "/opt/advp".into(),
            file: "/w/p.advp".into(),
            profile: None,
            sets: vec![],
            cache: "/c".into(),
            out: "/o".into(),
            replicates: "/r".into(),
            workdir: "/w".into(),
        }
    }

    /// The `#SBATCH` lines before the first command, and the number of lines.
    fn directives(s: &str) -> (Vec<&str>, usize) {
        let lines: Vec<&str> = s.lines().collect();
        let head = lines[1..]
            .iter()
            .take_while(|l| l.starts_with('#') || l.trim().is_empty())
            .copied()
            .collect();
        (head, lines.len())
    }

    /// Every job state squeue(1) documents, and whether advp keeps
    /// watching a job in it. `SIGNALING` (the `--signal-before` warning being
    /// delivered) once ended a watch, failing a job that then requeued itself.
    #[test]
    fn only_the_states_that_end_a_job_end_the_watch() {
        let still = [
            "CONFIGURING",
            "COMPLETING",
            "PENDING",
            "RESV_DEL_HOLD",
            "REQUEUE_FED",
            "REQUEUE_HOLD",
            "REQUEUED",
            "RESIZING",
            "RUNNING",
            "SIGNALING",
            "SPECIAL_EXIT",
            "STAGE_OUT",
            "STOPPED",
            "SUSPENDED",
            "A_STATE_OF_A_LATER_SLURM",
        ];
        let over = [
            "BOOT_FAIL",
            "CANCELLED",
            "COMPLETED",
            "DEADLINE",
            "FAILED",
            "NODE_FAIL",
            "OUT_OF_MEMORY",
            "PREEMPTED",
            "REVOKED",
            "TIMEOUT",
        ];
        for s in still {
            assert!(active(s) && !ended(s), "{s}");
        }
        for s in over {
            assert!(ended(s) && !active(s), "{s}");
        }
        for s in ["PENDING", "REQUEUED", "REQUEUE_HOLD", "SPECIAL_EXIT"] {
            assert!(queued(s), "{s}");
        }
        for s in ["RUNNING", "SIGNALING", "COMPLETING"] {
            assert!(!queued(s), "{s}");
        }
    }

    #[test]
    fn a_hostile_value_cannot_add_a_line_to_the_job_script() {
        use crate::runtime::spec::Resources;
        let hostile = [
            "gpu\nrm -rf ~",
            "gpu\r\n#SBATCH --wrap=id",
            "gpu\0",
            "gpu;id",
            "$(id)",
            "gpu #SBATCH",
        ];
        for v in hostile {
            let cases: Vec<(Resources, Options)> = vec![
                (
                    Resources {
                        partition: Some(v.into()),
                        ..Default::default()
                    },
                    Options::default(),
                ),
                (
                    Resources {
                        time: Some(format!("1:00:00{v}")),
                        ..Default::default()
                    },
                    Options::default(),
                ),
                (
                    Resources {
                        mem: Some(format!("16G{v}")),
                        ..Default::default()
                    },
                    Options::default(),
                ),
                (
                    Resources::default(),
                    Options {
                        account: Some(v.into()),
                        gres: Some(format!("gpu:1{v}")),
                        ..Default::default()
                    },
                ),
            ];
            for (r, opts) in cases {
                let out = script(
                    &plain_job(r.clone()),
                    &plain_invocation(),
                    &opts,
                    &[],
                    Path::new("/s/t-%j.log"),
                )
                .outcome();
                assert!(
                    out.is_err(),
                    "{r:?} {opts:?} gave the script\n{}",
                    out.unwrap()
                );
            }
        }
    }

    #[test]
    fn no_directive_takes_a_value_that_ends_its_line() {
        for key in [
            "job-name",
            "output",
            "partition",
            "gres",
            "time",
            "account",
            "cpus-per-task",
            "mem",
            "dependency",
            "kill-on-invalid-dep",
            "signal",
            "open-mode",
            "requeue",
            "wrap",
        ] {
            for bad in ["\n", "\r", "\0", " #SBATCH --wrap=id", "\u{2028}"] {
                for good in [
                    "1",
                    "yes",
                    "append",
                    "afterok:1",
                    "B:USR1@1",
                    "/s/x.log",
                    "gpu",
                ] {
                    let v = format!("{good}{bad}");
                    assert!(directive(key, Some(&v)).is_err(), "{key}={v:?}");
                }
            }
        }
        assert_eq!(directive("requeue", None).unwrap(), "#SBATCH --requeue\n");
        assert!(directive("time", None).is_err());
        assert!(directive("requeue", Some("x")).is_err());
    }

    #[test]
    fn a_valid_script_has_exactly_its_directives_before_its_first_command() {
        let job = plain_job(crate::runtime::spec::Resources {
            partition: Some("gpu,gpu-long".into()),
            time: Some("2-00:00:00".into()),
            mem: Some("16G".into()),
            cpus: Some(4),
            gpus: Some(1),
            ..Default::default()
        });
        let opts = Options {
            account: Some("lab".into()),
            ..Default::default()
        };
        let s = script(
            &job,
            &plain_invocation(),
            &opts,
            &["7".into()],
            Path::new("/s/t-%j.log"),
        )
        .outcome()
        .unwrap();
        let (head, n) = directives(&s);
        assert_eq!(
            head,
            [
                "#SBATCH --job-name=advp-t",
                "#SBATCH --output=/s/t-%j.log",
                "#SBATCH --partition=gpu,gpu-long",
                "#SBATCH --gres=gpu:1",
                "#SBATCH --time=2-00:00:00",
                "#SBATCH --account=lab",
                "#SBATCH --cpus-per-task=4",
                "#SBATCH --mem=16G",
                "#SBATCH --dependency=afterok:7",
                "#SBATCH --kill-on-invalid-dep=yes",
                "#SBATCH --signal=B:USR1@120",
                "#SBATCH --open-mode=append",
                "#SBATCH --requeue",
            ]
        );
        // The shebang, the directives, `cd` and `exec`.
        assert_eq!(n, 1 + head.len() + 2, "{s}");
    }

    #[test]
    fn a_control_character_in_a_path_or_word_of_the_command_is_refused() {
        let job = plain_job(Default::default());
        let log = Path::new("/s/t-%j.log");
        let opts = Options::default();
        let mut bad = Vec::new();
        let mut inv = plain_invocation();
        inv.workdir = "/w\n#SBATCH --wrap=id\n".into();
        bad.push(inv);
        let mut inv = plain_invocation();
        inv.cache = "/c\rx".into();
        bad.push(inv);
        let mut inv = plain_invocation();
        inv.sets = vec!["seed=1\nid".into()];
        bad.push(inv);
        let mut inv = plain_invocation();
        inv.exe = "/opt/ad\u{1b}[2Jvp".into();
        bad.push(inv);
        for inv in bad {
            let out = script(&job, &inv, &opts, &[], log).outcome();
            assert!(out.is_err(), "{inv:?} gave\n{}", out.unwrap());
        }
        // A log folder whose name sbatch would split or cut at `#`.
        for log in ["/s p/t-%j.log", "/s\n/t.log", "/s#x/t.log", "/s\"/t.log"] {
            let out = script(&job, &plain_invocation(), &opts, &[], Path::new(log)).outcome();
            assert!(out.is_err(), "{log:?} gave\n{}", out.unwrap());
        }
        // A shell word with spaces and quotes is quoted, on one line.
        let mut inv = plain_invocation();
        inv.workdir = "/w/my 'runs'".into();
        let s = script(&job, &inv, &opts, &[], log).outcome().unwrap();
        assert!(s.contains(r"cd '/w/my '\''runs'\'''"), "{s}");
        assert_eq!(directives(&s).1, 1 + directives(&s).0.len() + 2, "{s}");
    }

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
            shared: true,
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
        )
        .outcome()
        .unwrap();
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

    #[test]
    fn a_node_over_several_ranks_is_one_allocation_started_by_srun() {
        use crate::runtime::spec::Resources;
        let inv = plain_invocation();
        let opts = Options::default();
        let log = Path::new("/s/t-%j.log");
        let with = |resources: Resources, shared: bool| {
            let job = Job {
                shared,
                ..plain_job(resources)
            };
            script(&job, &inv, &opts, &[], log).outcome().unwrap()
        };
        // Eight GPUs on each of two machines: sixteen ranks, one per GPU.
        let s = with(
            Resources {
                gpus: Some(8),
                nodes: Some(2),
                ..Default::default()
            },
            true,
        );
        for line in [
            "#SBATCH --gres=gpu:8",
            "#SBATCH --nodes=2",
            "#SBATCH --ntasks-per-node=8",
        ] {
            assert!(s.contains(line), "{line} missing from\n{s}");
        }
        let last = s.lines().last().unwrap();
        assert!(last.starts_with("exec srun --kill-on-bad-exit=1 "), "{s}");
        // Two CPU ranks on one machine.
        let s = with(
            Resources {
                tasks: Some(2),
                ..Default::default()
            },
            true,
        );
        assert!(s.contains("#SBATCH --ntasks-per-node=2\n"), "{s}");
        assert!(s.contains("#SBATCH --nodes=1\n"), "{s}");
        assert!(s.contains("exec srun"), "{s}");
        // One GPU, or a node that is not a training or an evaluation: one
        // process, as before.
        for (r, shared) in [
            (
                Resources {
                    gpus: Some(1),
                    ..Default::default()
                },
                true,
            ),
            (
                Resources {
                    tasks: Some(4),
                    ..Default::default()
                },
                false,
            ),
        ] {
            let s = with(r, shared);
            assert!(!s.contains("srun") && !s.contains("ntasks"), "{s}");
        }
        assert!(directive("ntasks-per-node", Some("2;id")).is_err());
    }
}
