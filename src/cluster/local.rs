//! `advp run --jobs N`: up to N nodes at once on this machine, each in its own
//! `advp run --only NODE` process with its own device — GPU k of the machine
//! (as `CUDA_VISIBLE_DEVICES`, so `device auto` picks it) or, on the CPU, an
//! equal share of the cores (`ADVP_THREADS`, unless the file sets `threads`).
//! A node starts when the computed nodes it reads have finished; when one
//! fails, the nodes after it are not started and the others go on.

use super::{shown, tail, Invocation, Job};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[derive(Debug, Default)]
pub struct Outcome {
    pub ran: Vec<String>,
    /// (node, its log).
    pub failed: Vec<(String, PathBuf)>,
    /// Not started because a node they read failed.
    pub cancelled: Vec<String>,
    pub interrupted: bool,
}

enum State {
    Waiting,
    Running(Child, usize),
    Done,
    Failed,
    Cancelled,
}

/// Runs the jobs with at most `n` at once; `say` gets one line per event.
pub fn run(
    jobs: &[Job],
    inv: &Invocation,
    n: usize,
    log_dir: &Path,
    say: &dyn Fn(&str),
) -> Result<Outcome, String> {
    std::fs::create_dir_all(log_dir)
        .map_err(|e| format!("cannot create {}: {e}", shown(log_dir)))?;
    let n = n.max(1);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let threads = (cores / n).max(1);
    let gpus = if tch::Cuda::is_available() {
        tch::Cuda::device_count().max(0) as usize
    } else {
        0
    };
    let mut state: HashMap<usize, State> = jobs.iter().map(|j| (j.id, State::Waiting)).collect();
    let mut slots = vec![false; n];
    let mut out = Outcome::default();
    let log = |j: &Job| log_dir.join(format!("{}.log", j.name));
    loop {
        // Nodes after a failure never start.
        for j in jobs {
            if matches!(state[&j.id], State::Waiting)
                && j.after
                    .iter()
                    .any(|a| matches!(state.get(a), Some(State::Failed | State::Cancelled)))
            {
                state.insert(j.id, State::Cancelled);
                say(&format!("{}: cancelled (an input failed)", j.name));
                out.cancelled.push(j.name.clone());
            }
        }
        // Start what is ready, while there are free slots.
        if !crate::util::interrupted() {
            for j in jobs {
                let ready = matches!(state[&j.id], State::Waiting)
                    && j.after
                        .iter()
                        .all(|a| matches!(state.get(a), Some(State::Done) | None));
                let Some(slot) = slots.iter().position(|busy| !busy) else {
                    break;
                };
                if !ready {
                    continue;
                }
                let file = std::fs::File::create(log(j))
                    .map_err(|e| format!("cannot write {}: {e}", shown(&log(j))))?;
                let mut cmd = Command::new(&inv.exe);
                cmd.args(inv.args(j))
                    .current_dir(&inv.workdir)
                    .stdin(Stdio::null())
                    .stdout(file.try_clone().map_err(|e| e.to_string())?)
                    .stderr(file);
                let device = if gpus > 0 {
                    let g = slot % gpus;
                    cmd.env("CUDA_VISIBLE_DEVICES", g.to_string());
                    format!("cuda:{g}")
                } else {
                    cmd.env("ADVP_THREADS", threads.to_string());
                    format!("{threads} CPU thread(s)")
                };
                let child = cmd
                    .spawn()
                    .map_err(|e| format!("cannot start {}: {e}", shown(&inv.exe)))?;
                slots[slot] = true;
                if crate::util::verbose() {
                    say(&format!(
                        "{}: {}",
                        j.name,
                        crate::util::printable(&inv.shell(j))
                    ));
                }
                say(&format!(
                    "{}: started on {device} (log {})",
                    j.name,
                    shown(&log(j))
                ));
                state.insert(j.id, State::Running(child, slot));
            }
        }
        // Reap what finished.
        for j in jobs {
            let finished = match state.get_mut(&j.id) {
                Some(State::Running(child, slot)) => match child.try_wait() {
                    Ok(Some(status)) => Some((status, *slot)),
                    Ok(None) => None,
                    Err(e) => return Err(format!("waiting for {}: {e}", j.name)),
                },
                _ => None,
            };
            if let Some((status, slot)) = finished {
                slots[slot] = false;
                if status.success() {
                    say(&format!("{}: finished", j.name));
                    out.ran.push(j.name.clone());
                    state.insert(j.id, State::Done);
                } else if status.code() == Some(130) {
                    say(&format!("{}: interrupted; its checkpoint is saved", j.name));
                    out.interrupted = true;
                    state.insert(j.id, State::Failed);
                } else {
                    say(&format!(
                        "{}: failed ({status}); the end of {}:\n{}",
                        j.name,
                        shown(&log(j)),
                        tail(&log(j), 12)
                    ));
                    out.failed.push((j.name.clone(), log(j)));
                    state.insert(j.id, State::Failed);
                }
            }
        }
        let active = state
            .values()
            .any(|s| matches!(s, State::Running(..)) || matches!(s, State::Waiting));
        let running = state.values().any(|s| matches!(s, State::Running(..)));
        if !active || (crate::util::interrupted() && !running) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if crate::util::interrupted() {
        out.interrupted = true;
    }
    Ok(out)
}
