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
                let on_gpu = places.gpus || (gpus > 0 && size == 1);
                let device = match (on_gpu, size) {
                    (true, 1) => format!("cuda:{}", slot % gpus),
                    (true, _) => format!("{size} ranks on GPUs from cuda:{}", (slot * size) % gpus),
                    (false, 1) => format!("{threads} CPU thread(s)"),
                    (false, _) => format!("{size} ranks of {threads} CPU thread(s)"),
                };
                // Where rank 0 serves the rendezvous: a free port of this machine.
                let port = if size > 1 { free_port()? } else { 0 };
                let mut children = Vec::new();
                for r in 0..size {
                    let mut cmd = Command::new(&inv.exe);
                    cmd.args(inv.args(j))
                        .current_dir(&inv.workdir)
                        .stdin(Stdio::null());
                    // A node of one process is no rank, whatever this
                    // process's environment says.
                    for v in [
                        "RANK",
                        "LOCAL_RANK",
                        "WORLD_SIZE",
                        "MASTER_ADDR",
                        "MASTER_PORT",
                    ] {
                        cmd.env_remove(v);
                    }
                    if size > 1 {
                        cmd.env("RANK", r.to_string())
                            .env("LOCAL_RANK", r.to_string())
                            .env("WORLD_SIZE", size.to_string())
                            .env("MASTER_ADDR", "127.0.0.1")
                            .env("MASTER_PORT", port.to_string());
                    }
                    if on_gpu {
                        cmd.env(
                            "CUDA_VISIBLE_DEVICES",
                            ((slot * size + r) % gpus).to_string(),
                        );
                    } else {
                        // `--ranks` on a machine with GPUs: ranks on the CPU.
                        if gpus > 0 {
                            cmd.env("CUDA_VISIBLE_DEVICES", "");
                        }
                        cmd.env("ADVP_THREADS", threads.to_string());
                    }
                    // What cannot start stops the ranks started before it.
                    match spawn_logged(cmd, &rank_log(j, r), &inv.exe) {
                        Ok(c) => children.push(c),
                        Err(e) => {
                            let _ = stop(&mut children, 0);
                            return Err(e);
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
                } else if stopped(&status) {
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

/// Starts `cmd` with its output (both streams) in the file `log`.
fn spawn_logged(mut cmd: Command, log: &Path, exe: &Path) -> Result<Child, String> {
    let file =
        std::fs::File::create(log).map_err(|e| format!("cannot write {}: {e}", shown(log)))?;
    let out = file
        .try_clone()
        .map_err(|e| format!("cannot write {}: {e}", shown(log)))?;
    cmd.stdout(out)
        .stderr(file)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", shown(exe)))
}

/// A run stopped by a signal with its checkpoint saved: Ctrl-C (130), the
/// scheduler's SIGTERM (143) or a closed terminal (129) — on any rank, all
/// ranks stop after the batch.
fn stopped(s: &std::process::ExitStatus) -> bool {
    matches!(
        s.code(),
        Some(130 | crate::util::PREEMPTED_EXIT | crate::util::HUNG_UP_EXIT)
    )
}

/// A port of this machine no process listens on now (rank 0 takes it).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port for the ranks to meet on: {e}"))
}

/// A node's processes once they have all ended: the status that speaks for
/// them and its rank; `None` while they run. The cause of a failure speaks
/// first — a rank that failed on its own, not one that lost the others
/// ([`crate::util::RANK_LOST_EXIT`]) — then a stop (130, 143, 129), then
/// any other failure. When a rank fails on its own the others get SIGTERM
/// (they stop at their next batch or collective) and SIGKILL 10 s on; when
/// one ends otherwise, the others get 30 s to end on their own first.
fn reap(
    children: &mut [Child],
    name: &str,
    say: &dyn Fn(&str),
) -> std::io::Result<Option<(std::process::ExitStatus, usize)>> {
    let cause = |s: &std::process::ExitStatus| {
        !s.success() && !stopped(s) && s.code() != Some(crate::util::RANK_LOST_EXIT)
    };
    // Among causes, a rank killed by a signal first: the others' failures
    // (a collective that broke) follow from it.
    let killed = |s: &std::process::ExitStatus| s.code().is_none();
    let mut statuses = Vec::with_capacity(children.len());
    for c in children.iter_mut() {
        statuses.push(c.try_wait()?);
    }
    let ended_badly = statuses.iter().flatten().any(|s| !s.success());
    if statuses.iter().any(Option::is_none) {
        if !ended_badly {
            return Ok(None);
        }
        let first = statuses
            .iter()
            .position(|s| s.is_some_and(|s| killed(&s)))
            .or_else(|| statuses.iter().position(|s| s.is_some_and(|s| cause(&s))));
        let grace = if first.is_some() { 0 } else { 30 };
        if let Some(r) = first {
            say(&format!(
                "{name}: rank {r} stopped; stopping the other ranks"
            ));
        }
        stop(children, grace)?;
        statuses = children
            .iter_mut()
            .map(|c| c.wait().map(Some))
            .collect::<std::io::Result<_>>()?;
        // The ranks stopped here end by this launcher's signals: the one
        // that failed first speaks.
        if let Some(r) = first {
            return Ok(statuses[r].map(|s| (s, r)));
        }
    }
    let statuses: Vec<std::process::ExitStatus> = statuses.into_iter().flatten().collect();
    let speaks = statuses
        .iter()
        .position(killed)
        .or_else(|| statuses.iter().position(cause))
        .or_else(|| statuses.iter().position(stopped))
        .or_else(|| statuses.iter().position(|s| !s.success()))
        .unwrap_or(0);
    Ok(Some((statuses[speaks], speaks)))
}

/// Waits `grace` seconds for the running ranks to end on their own, then
/// sends them SIGTERM, and SIGKILL to those still running 10 s later.
fn stop(children: &mut [Child], grace: u64) -> std::io::Result<()> {
    let wait_for = |children: &mut [Child], secs: u64| -> std::io::Result<bool> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let mut running = false;
            for c in children.iter_mut() {
                running |= c.try_wait()?.is_none();
            }
            if !running {
                return Ok(true);
            }
            if std::time::Instant::now() > deadline {
                return Ok(false);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    if wait_for(children, grace)? {
        return Ok(());
    }
    for c in children.iter_mut() {
        if c.try_wait()?.is_none() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
    }
    if !wait_for(children, 10)? {
        for c in children.iter_mut() {
            if c.try_wait()?.is_none() {
                let _ = c.kill();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranks(scripts: &[&str]) -> Vec<Child> {
        scripts
            .iter()
            .map(|s| Command::new("sh").args(["-c", s]).spawn().unwrap())
            .collect()
    }

    /// Reaps until every rank has ended.
    fn outcome(children: &mut [Child]) -> (std::process::ExitStatus, usize) {
        loop {
            if let Some(r) = reap(children, "t", &|_| {}).unwrap() {
                return r;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn the_rank_that_failed_first_speaks_not_those_that_lost_it() {
        // Rank 1 is killed; rank 0 then loses it (exit 3): rank 1 speaks.
        let mut c = ranks(&["sleep 0.3; exit 3", "kill -KILL $$"]);
        let (status, rank) = outcome(&mut c);
        assert_eq!((rank, status.code()), (1, None));
        // A rank's own failure (exit 1) speaks before a lost one (exit 3).
        let mut c = ranks(&["exit 3", "sleep 0.2; exit 1"]);
        let (status, rank) = outcome(&mut c);
        assert_eq!((rank, status.code()), (1, Some(1)));
        // A stop on one rank (SIGTERM, 143) and Ctrl-C on another: a stop.
        let mut c = ranks(&["exit 130", "exit 143"]);
        let (status, _) = outcome(&mut c);
        assert!(stopped(&status), "{status}");
        // A rank that fails on its own ends the one still running.
        let mut c = ranks(&["exit 1", "sleep 100"]);
        let t0 = std::time::Instant::now();
        let (status, rank) = outcome(&mut c);
        assert_eq!((rank, status.code()), (0, Some(1)));
        assert!(t0.elapsed().as_secs() < 20, "the other rank was stopped");
    }
}
