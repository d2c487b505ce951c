//! The bottom layer: what every stage may use and that uses no stage.
//!
//! Atomic file writes (results, checkpoints, reports, the Slurm record) and
//! the Ctrl-C flag (set by the CLI's handler, read by trainers and executors),
//! and the deterministic random streams ([`rng`]) of training, evaluation and
//! the bootstrap of the statistics.

pub mod rng;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

/// Set by the first Ctrl-C; every long loop (training, evaluation, analyses)
/// checks it once a batch: trainers checkpoint and stop, evaluations stop,
/// executors stop starting nodes.
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Set (with [`INTERRUPTED`]) by SIGUSR1, SIGTERM and SIGHUP: a scheduler is taking
/// the machine back (Slurm's warning before the time limit, a preemption).
/// The run stops as for Ctrl-C, and under Slurm the job requeues itself.
static PREEMPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Set by SIGUSR1 alone: the warning a job script asks for before its time
/// limit (`--signal=B:USR1@…`), after which the job requeues itself. A
/// SIGTERM (`scancel`, a preemption Slurm requeues on its own) never requeues.
static WARNED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Whether the stop came from the scheduler (SIGUSR1, SIGTERM) rather than Ctrl-C.
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `-v/--verbose`: say more (cache keys and entries, child commands).
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn preempted() -> bool {
    PREEMPTED.load(Ordering::SeqCst)
}

/// Whether the stop was the time-limit warning (SIGUSR1).
pub fn warned() -> bool {
    WARNED.load(Ordering::SeqCst)
}

/// Whether Ctrl-C was pressed (or the scheduler asked the run to stop).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Marks the run interrupted; gives whether it already was.
pub fn interrupt() -> bool {
    INTERRUPTED.swap(true, Ordering::SeqCst)
}

/// The exit status of an interrupted run (128 + SIGINT, as a shell reports it).
pub const INTERRUPTED_EXIT: i32 = 130;

/// Set by SIGHUP alone: the terminal (an SSH session) closed. The run stops
/// as for SIGTERM, with the checkpoint saved, and exits 129.
static HUNG_UP: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Whether the stop was a closed terminal (SIGHUP).
pub fn hung_up() -> bool {
    HUNG_UP.load(Ordering::SeqCst)
}

/// The error a loop gives when the run was asked to stop (the executor turns
/// any error raised while the flag is set into its "interrupted" message).
pub fn stop_requested() -> Result<(), String> {
    if interrupted() {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// The stop signals: the first one of any sets the flag, and the run stops
/// within a step (of an attack, a batch elsewhere) with what is resumable
/// saved; a second one of any, while the flag is set, ends the process at
/// once with status 128 + that signal from inside the signal handler
/// (`_exit`: no exit handlers or destructors run, so libtorch is never torn
/// down under a running kernel). SIGINT is Ctrl-C; SIGUSR1 and SIGTERM are a
/// scheduler's (Slurm's warning before the time limit, `scancel`, a
/// preemption); SIGHUP is a closed terminal. All but SIGINT save the
/// checkpoint and stop as a preemption does.
pub fn on_interrupt() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    // Under `nohup` a closed terminal must not stop the run: an ignored
    // SIGHUP stays ignored.
    let hup: &[i32] = if ignored_at_start(SIGHUP) {
        &[]
    } else {
        &[SIGHUP]
    };
    for &sig in [SIGINT, SIGTERM, SIGUSR1].iter().chain(hup) {
        // The conditional exit is registered first, so it sees the flag as
        // the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&INTERRUPTED))?;
        signal_hook::flag::register(sig, Arc::clone(&INTERRUPTED))?;
    }
    // Stop at the next step with the checkpoint saved.
    for &sig in [SIGUSR1, SIGTERM].iter().chain(hup) {
        signal_hook::flag::register(sig, Arc::clone(&PREEMPTED))?;
    }
    signal_hook::flag::register(SIGUSR1, Arc::clone(&WARNED))?;
    for &sig in hup {
        signal_hook::flag::register(sig, Arc::clone(&HUNG_UP))?;
    }
    Ok(())
}

/// Whether this process started with `sig` ignored (`nohup` ignores
/// SIGHUP): the mask `SigIgn` of `/proc/self/status`, bit `sig - 1`.
fn ignored_at_start(sig: i32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        })
        .is_some_and(|mask| sig >= 1 && mask & (1 << (sig - 1)) != 0)
}

/// The exit status of a run the scheduler stopped (128 + SIGTERM).
pub const PREEMPTED_EXIT: i32 = 143;

/// The exit status of a run stopped by a closed terminal (128 + SIGHUP).
pub const HUNG_UP_EXIT: i32 = 129;

/// The temporary name beside `path` that a write goes through:
/// `.name.tmp<pid>` (what the next run sweeps when its process is gone).
fn temporary(path: &Path, tag: &str) -> std::path::PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy().into_owned());
    dir.join(format!(".{name}.{tag}{}", std::process::id()))
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes `path` through a temporary file and a rename, so a crash never leaves half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temporary(path, "tmp");
    write_synced(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// A set of files (and folders) written together: each is written whole
/// under a temporary name first, and only when all of them are written are
/// they renamed into place. A failure while writing (a full disk, a report
/// that cannot be rendered) leaves the previous set untouched; what was
/// staged is removed when the set is dropped uncommitted.
#[derive(Default)]
pub struct Staged {
    /// (temporary, destination) in the order staged.
    entries: Vec<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Staged {
    /// Stages `bytes` for `dest`.
    pub fn file(&mut self, dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = temporary(dest, "tmp");
        self.entries.push((tmp.clone(), dest.to_path_buf()));
        write_synced(&tmp, bytes)
    }

    /// A fresh temporary folder to fill for `dest`; it replaces `dest` whole
    /// on commit.
    pub fn folder(&mut self, dest: &Path) -> std::io::Result<std::path::PathBuf> {
        let tmp = temporary(dest, "tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        self.entries.push((tmp.clone(), dest.to_path_buf()));
        std::fs::create_dir_all(&tmp)?;
        Ok(tmp)
    }

    /// Renames everything into place, in the order staged (later entries for
    /// one destination win, as later writes would).
    pub fn commit(mut self) -> std::io::Result<()> {
        for (tmp, dest) in std::mem::take(&mut self.entries) {
            if tmp.is_dir() {
                // A folder cannot be renamed over a full one: the old one is
                // moved aside first and removed once the new one is in place.
                let old = temporary(&dest, "old.tmp");
                if dest.exists() {
                    std::fs::rename(&dest, &old)?;
                }
                std::fs::rename(&tmp, &dest)?;
                if old.exists() {
                    std::fs::remove_dir_all(&old)?;
                }
            } else {
                std::fs::rename(&tmp, &dest)?;
            }
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (tmp, _) in &self.entries {
            if tmp.is_dir() {
                let _ = std::fs::remove_dir_all(tmp);
            } else {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

/// For the test suite: a test that cannot run on this machine says so where
/// the suite's summary shows it (`target/tmp/skipped-tests.txt`, printed by
/// `scripts/test`), and fails under `CI=true`, whose machine installs every tool.
#[doc(hidden)]
pub fn skipped(test: &str, reason: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run on CI: {reason}");
    }
    eprintln!("skipped: {reason}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("skipped-tests.txt"))
    {
        let _ = f.write_all(format!("{test}: {reason}\n").as_bytes());
    }
}

/// This machine's host name (Linux's, else `$HOSTNAME`), `unknown` without one.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `2026-12-02 14:48 UTC` for seconds since the Unix epoch (the proleptic
/// Gregorian calendar; Hinnant's days-to-civil).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00 UTC");
        // 2000-02-29 12:34 UTC, a leap day.
        assert_eq!(super::utc(951_827_640), "2000-02-29 12:34 UTC");
        // 2026-12-02 14:48 UTC.
        assert_eq!(super::utc(1_796_222_880), "2026-12-02 14:48 UTC");
    }
}
