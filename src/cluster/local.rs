//! `advp run --jobs N`: up to N nodes at once on this machine, each in its own
//! `advp run --only NODE` process with its own device — GPU k of the machine
//! (as `CUDA_VISIBLE_DEVICES`, so `device auto` picks it) or, on the CPU, an
//! equal share of the cores (`ADVP_THREADS`, unless the file sets `threads`).
//! A node starts when the computed nodes it reads have finished; when one
//! fails, the nodes after it are not started and the others go on.
//!
//! With `--ranks N` (`--gpus N`) a training or evaluation node is N such
//! processes, told their place as torchrun tells it (`RANK`, `WORLD_SIZE`,
//! `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`): they meet on
//! torch.distributed and rank 0 writes the result. Each rank logs to its own
//! file (`NODE.log` is rank 0's); when one fails the others are stopped and
//! the failure names the rank.

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

/// How many processes a node takes, and on what.
#[derive(Clone, Copy, Debug)]
pub struct Places {
    /// Nodes at once.
    pub jobs: usize,
    /// Processes of a training or evaluation node.
    pub ranks: usize,
    /// One GPU per rank (refused before, when there are too few).
    pub gpus: bool,
}

enum State {
    Waiting,
    /// The node's processes (rank order) and its slot.
    Running(Vec<Child>, usize),
    Done,
    Failed,
    Cancelled,
}

/// Runs the jobs with at most `n` at once; `say` gets one line per event.
pub fn run(
    jobs: &[Job],
    inv: &Invocation,
    places: Places,
    log_dir: &Path,
    say: &dyn Fn(&str),
) -> Result<Outcome, String> {
    std::fs::create_dir_all(log_dir)
        .map_err(|e| format!("cannot create {}: {e}", shown(log_dir)))?;
    let n = places.jobs.max(1);
    let ranks = places.ranks.max(1);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let threads = (cores / (n * ranks)).max(1);
    let gpus = if tch::Cuda::is_available() {
        tch::Cuda::device_count().max(0) as usize
    } else {
        0
    };
    let mut state: HashMap<usize, State> = jobs.iter().map(|j| (j.id, State::Waiting)).collect();
    let mut slots = vec![false; n];
    let mut out = Outcome::default();
    let log = |j: &Job| log_dir.join(format!("{}.log", j.name));
    let rank_log = |j: &Job, r: usize| match r {
        0 => log(j),
        r => log_dir.join(format!("{}.rank{r}.log", j.name)),
    };
    let world = |j: &Job| if j.shared { ranks } else { 1 };
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
                let size = world(j);
                // Where rank 0 serves the rendezvous: a free port of this machine.
                let port = if size > 1 { free_port()? } else { 0 };
                let mut children = Vec::new();
                let mut device = String::new();
                for r in 0..size {
                    let path = rank_log(j, r);
                    let file = std::fs::File::create(&path)
                        .map_err(|e| format!("cannot write {}: {e}", shown(&path)))?;
                    let mut cmd = Command::new(&inv.exe);
                    cmd.args(inv.args(j))
                        .current_dir(&inv.workdir)
                        .stdin(Stdio::null())
                        .stdout(file.try_clone().map_err(|e| e.to_string())?)
                        .stderr(file);
                    if size > 1 {
                        cmd.env("RANK", r.to_string())
                            .env("LOCAL_RANK", r.to_string())
                            .env("WORLD_SIZE", size.to_string())
                            .env("MASTER_ADDR", "127.0.0.1")
                            .env("MASTER_PORT", port.to_string());
                    }
                    device = if gpus > 0 {
                        let g = (slot * size + r) % gpus;
                        cmd.env("CUDA_VISIBLE_DEVICES", g.to_string());
                        if size > 1 {
                            format!("{size} ranks on GPUs from cuda:{}", (slot * size) % gpus)
                        } else {
                            format!("cuda:{g}")
                        }
                    } else {
                        cmd.env("ADVP_THREADS", threads.to_string());
                        if size > 1 {
                            format!("{size} ranks of {threads} CPU thread(s)")
                        } else {
                            format!("{threads} CPU thread(s)")
                        }
                    };
                    match cmd.spawn() {
                        Ok(c) => children.push(c),
                        Err(e) => {
                            for mut c in children {
                                let _ = c.kill();
                                let _ = c.wait();
                            }
                            return Err(format!("cannot start {}: {e}", shown(&inv.exe)));
                        }
                    }
                }
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
                state.insert(j.id, State::Running(children, slot));
            }
        }
        // Reap what finished: a node when all its ranks have; when one rank
        // fails, the others are stopped.
        for j in jobs {
            let finished = match state.get_mut(&j.id) {
                Some(State::Running(children, slot)) => reap(children, &j.name, say)
                    .map_err(|e| format!("waiting for {}: {e}", j.name))?
                    .map(|r| (r, *slot)),
                _ => None,
            };
            if let Some(((status, rank), slot)) = finished {
                slots[slot] = false;
                let size = world(j);
                let who = if size > 1 {
                    format!("rank {rank} of {size} ")
                } else {
                    String::new()
                };
                if status.success() {
                    say(&format!("{}: finished", j.name));
                    out.ran.push(j.name.clone());
                    state.insert(j.id, State::Done);
                } else if status.code() == Some(130) {
                    say(&format!("{}: interrupted; its checkpoint is saved", j.name));
                    out.interrupted = true;
                    state.insert(j.id, State::Failed);
                } else {
                    let path = rank_log(j, rank);
                    say(&format!(
                        "{}: {who}failed ({status}){}; the end of {}:\n{}",
                        j.name,
                        if size > 1 {
                            "; the other ranks were stopped"
                        } else {
                            ""
                        },
                        shown(&path),
                        tail(&path, 12)
                    ));
                    out.failed.push((j.name.clone(), path));
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

/// A port of this machine no process listens on now (rank 0 takes it).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port for the ranks to meet on: {e}"))
}

/// A node's processes once they have all ended: the status that speaks for
/// them (the first failure, by the time it was seen, else rank 0's) and its
/// rank; `None` while any runs. When a rank fails, the others get SIGTERM
/// (they stop at their next batch or collective), then after 10 s SIGKILL.
fn reap(
    children: &mut [Child],
    name: &str,
    say: &dyn Fn(&str),
) -> std::io::Result<Option<(std::process::ExitStatus, usize)>> {
    let mut statuses = Vec::with_capacity(children.len());
    for c in children.iter_mut() {
        statuses.push(c.try_wait()?);
    }
    let failed = statuses
        .iter()
        .position(|s| s.is_some_and(|s| !s.success() && s.code() != Some(130)));
    if statuses.iter().all(Option::is_some) {
        let statuses: Vec<_> = statuses.into_iter().flatten().collect();
        let speaks = failed
            .or_else(|| statuses.iter().position(|s| !s.success()))
            .unwrap_or(0);
        return Ok(Some((statuses[speaks], speaks)));
    }
    if let Some(r) = failed {
        if children.len() > 1 {
            say(&format!(
                "{name}: rank {r} stopped; stopping the other ranks"
            ));
            for (k, c) in children.iter_mut().enumerate() {
                if statuses[k].is_none() {
                    let _ = std::process::Command::new("kill")
                        .args(["-TERM", &c.id().to_string()])
                        .status();
                }
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            for c in children.iter_mut() {
                while c.try_wait()?.is_none() {
                    if std::time::Instant::now() > deadline {
                        let _ = c.kill();
                        c.wait()?;
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
            let mut statuses = Vec::new();
            for c in children.iter_mut() {
                statuses.push(c.wait()?);
            }
            return Ok(Some((statuses[r], r)));
        }
    }
    Ok(None)
}
