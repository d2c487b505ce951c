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

/// The exit status of a rank whose collective with the others failed
/// because another rank stopped (`advp::run::rank_lost`): not the cause.
pub const RANK_LOST_EXIT: i32 = 3;

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

/// `e`, saying which file could not be written: the destination, never the
/// temporary name the write went through.
pub fn failed_write(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
}

/// Removes a temporary file or folder of a write that failed.
fn remove_any(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// Writes `path` through a temporary file and a rename, so a crash never
/// leaves half a file; a failure removes the temporary and names `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temporary(path, "tmp");
    write_synced(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            remove_any(&tmp);
            failed_write(path, e)
        })
}

/// Rewrites the file `path` leads to in place (`advp fmt`): a symbolic link
/// is followed and stays a link, and the file keeps its mode and owner. The
/// new text goes to a temporary file beside the target, renamed over it.
pub fn rewrite_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let target = std::fs::canonicalize(path).map_err(|e| failed_write(path, e))?;
    let meta = std::fs::metadata(&target).map_err(|e| failed_write(&target, e))?;
    let tmp = temporary(&target, "tmp");
    let write = || -> std::io::Result<()> {
        // Private until it has the target's owner and mode.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // Keeping the owner needs the right to; without it the file is the
        // writer's, as any editor leaves it.
        let _ = std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()));
        f.set_permissions(meta.permissions())?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    };
    write().map_err(|e| {
        remove_any(&tmp);
        failed_write(&target, e)
    })
}

/// What a path that is not a regular file is, in words.
fn kind_of(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Why `path` (a symbolic link followed) cannot be read as a file: it is
/// not there, or it is a folder, a FIFO, a device or a socket (which would
/// block a read for ever or never end). `None` for a regular file.
pub fn not_regular(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => None,
        Ok(m) => Some(format!(
            "{} is {}, not a regular file",
            path.display(),
            kind_of(m.file_type())
        )),
        Err(e) => Some(format!("cannot read {}: {e}", path.display())),
    }
}

/// Opens a regular file for reading, after a `stat` (symbolic links
/// followed): a FIFO, a device, a socket or a folder is refused before it
/// is opened, so nothing blocks or reads without end.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    let refuse = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
    let m = std::fs::metadata(path)?;
    if !m.is_file() {
        return Err(refuse(not_regular(path).unwrap_or_default()));
    }
    let f = std::fs::File::open(path)?;
    // Replaced between the stat and the open: look again at what was opened.
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(refuse(format!(
            "{} is {}, not a regular file",
            path.display(),
            kind_of(m.file_type())
        )));
    }
    Ok(f)
}

/// A regular file's bytes, at most `limit` of them: a larger file is
/// refused before it is read whole; special files as [`open_regular`].
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = open_regular(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => e.to_string(),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    let mut bytes = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "{} is larger than {limit} bytes, more than advp reads from such a file",
            path.display()
        ));
    }
    Ok(bytes)
}

/// A set of files (and folders) written together: each is written whole
/// under a temporary name first, and only when all of them are written are
/// they renamed into place. A failure while writing (a full disk, a report
/// that cannot be rendered) leaves the previous set untouched; what was
/// staged is removed when the set is dropped uncommitted, or when its commit
/// fails on the way.
#[derive(Default)]
pub struct Staged {
    /// (temporary, destination) in the order staged.
    entries: Vec<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Staged {
    /// Stages `bytes` for `dest`; an error names `dest`.
    pub fn file(&mut self, dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = temporary(dest, "tmp");
        self.entries.push((tmp.clone(), dest.to_path_buf()));
        write_synced(&tmp, bytes).map_err(|e| failed_write(dest, e))
    }

    /// A fresh temporary folder to fill for `dest`, marked as advp's
    /// ([`FOLDER_MARK`]); it replaces `dest` whole on commit. A `dest` that
    /// advp did not make ([`replaceable`]) is refused.
    pub fn folder(&mut self, dest: &Path) -> std::io::Result<std::path::PathBuf> {
        if !replaceable(dest) {
            return Err(not_ours(dest));
        }
        let tmp = temporary(dest, "tmp");
        remove_any(&tmp);
        self.entries.push((tmp.clone(), dest.to_path_buf()));
        std::fs::create_dir_all(&tmp)
            .and_then(|()| write_synced(&tmp.join(FOLDER_MARK), FOLDER_MARK_TEXT.as_bytes()))
            .map_err(|e| failed_write(dest, e))?;
        Ok(tmp)
    }

    /// Renames everything into place, in the order staged (later entries for
    /// one destination win, as later writes would). A failure names the
    /// destination; what is still staged is removed.
    pub fn commit(mut self) -> std::io::Result<()> {
        while !self.entries.is_empty() {
            let (tmp, dest) = self.entries.remove(0);
            if let Err(e) = place(&tmp, &dest) {
                remove_any(&tmp);
                return Err(failed_write(&dest, e));
            }
        }
        Ok(())
    }
}

/// The file advp puts in every folder it writes whole (an examples
/// folder): only a folder holding it is ever replaced.
pub const FOLDER_MARK: &str = ".advp-examples";
const FOLDER_MARK_TEXT: &str =
    "advp wrote this folder and replaces it whole on its next run; delete this file to keep the folder from advp\n";

/// Whether a staged folder may replace `dest`: nothing is there, or a
/// folder (not a link to one) that advp made, holding [`FOLDER_MARK`] or, as
/// an advp before the mark wrote it, nothing but its example animations.
pub fn replaceable(dest: &Path) -> bool {
    match std::fs::symlink_metadata(dest) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(m) => {
            m.is_dir()
                && (std::fs::symlink_metadata(dest.join(FOLDER_MARK)).is_ok_and(|m| m.is_file())
                    || unmarked_examples(dest))
        }
    }
}

/// An examples folder an advp before [`FOLDER_MARK`] wrote: regular files
/// only, at least one, every one named as advp names an example
/// (`<eval>_<model>_<column>_clip<N>.gif` or `.mp4`). One file of any other
/// name, a folder or a link inside, and it is the user's.
fn unmarked_examples(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut any = false;
    for e in entries {
        let Ok(e) = e else { return false };
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            return false;
        };
        let example = [".gif", ".mp4"].iter().any(|ext| {
            name.strip_suffix(ext)
                .and_then(|stem| stem.rsplit_once("_clip"))
                .is_some_and(|(head, n)| {
                    !head.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                })
        });
        if !example || !e.file_type().is_ok_and(|t| t.is_file()) {
            return false;
        }
        any = true;
    }
    any
}

fn not_ours(dest: &Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!(
            "{} exists and advp did not make it; advp replaces only folders it wrote",
            dest.display()
        ),
    )
}

/// Moves one staged file or folder into place. A folder cannot be renamed
/// over a full one: the old one is moved aside first, put back if the new
/// one cannot take its place, and removed once it has.
fn place(tmp: &Path, dest: &Path) -> std::io::Result<()> {
    if !tmp.is_dir() {
        return std::fs::rename(tmp, dest);
    }
    if !replaceable(dest) {
        return Err(not_ours(dest));
    }
    let old = temporary(dest, "old.tmp");
    let had = std::fs::symlink_metadata(dest).is_ok();
    if had {
        std::fs::rename(dest, &old)?;
    }
    if let Err(e) = std::fs::rename(tmp, dest) {
        if had {
            let _ = std::fs::rename(&old, dest);
        }
        return Err(e);
    }
    if had {
        if let Err(e) = std::fs::remove_dir_all(&old) {
            return Err(std::io::Error::new(
                e.kind(),
                format!("cannot remove the previous {}: {e}", old.display()),
            ));
        }
    }
    Ok(())
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (tmp, _) in &self.entries {
            remove_any(tmp);
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

/// `s` with every control character escaped the way Rust's `escape_debug`
/// writes it (`\n`, `\r`, `\0`, `\u{1b}`): text from a file or a path that
/// can go to a terminal, a log or a generated file without starting a line
/// or moving the cursor. Borrowed when there is nothing to escape.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A path as a message shows it: control characters escaped ([`printable`]).
pub fn shown(p: &Path) -> String {
    printable(&p.display().to_string()).into_owned()
}

/// `s` in double quotes, escaped as Rust's `{:?}` does: for a value in a message.
pub fn quoted(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unmarked_folder_is_replaced_only_when_it_holds_nothing_but_advps_examples() {
        let d = tempfile::tempdir().unwrap();
        let ex = d.path().join("examples");
        std::fs::create_dir(&ex).unwrap();
        // Empty: nothing of advp's in it, so the user's.
        assert!(!super::replaceable(&ex));
        std::fs::write(ex.join("e_net_eps8_clip3.gif"), b"GIF89a").unwrap();
        std::fs::write(ex.join("e_net_eps8_clip3.mp4"), b"mp4").unwrap();
        assert!(super::replaceable(&ex), "an older advp's examples folder");
        std::fs::write(ex.join("notes.txt"), b"mine").unwrap();
        assert!(!super::replaceable(&ex), "a file of the user's inside");
        std::fs::remove_file(ex.join("notes.txt")).unwrap();
        std::fs::write(ex.join("holiday_clip.gif"), b"GIF89a").unwrap();
        assert!(!super::replaceable(&ex), "not advp's name: no clip number");
        std::fs::remove_file(ex.join("holiday_clip.gif")).unwrap();
        std::fs::create_dir(ex.join("a_clip1.gif")).unwrap();
        assert!(!super::replaceable(&ex), "a folder inside");
        std::fs::remove_dir(ex.join("a_clip1.gif")).unwrap();
        assert!(super::replaceable(&ex));
        std::fs::write(ex.join(super::FOLDER_MARK), b"").unwrap();
        std::fs::write(ex.join("notes.txt"), b"").unwrap();
        assert!(super::replaceable(&ex), "marked: advp made it");
    }

    #[test]
    fn printable_text_has_no_control_character() {
        let p = super::printable("a\nb\r\0\u{1b}[31m\u{9b}c\té");
        assert_eq!(p, r"a\nb\r\0\u{1b}[31m\u{9b}c\té");
        assert!(!p.chars().any(char::is_control));
        assert!(matches!(
            super::printable("plain/path é"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00 UTC");
        // 2000-02-29 12:34 UTC, a leap day.
        assert_eq!(super::utc(951_827_640), "2000-02-29 12:34 UTC");
        // 2026-12-02 14:48 UTC.
        assert_eq!(super::utc(1_796_222_880), "2026-12-02 14:48 UTC");
    }

    /// Every `.name.tmp<pid>` (and `.name.old.tmp<pid>`) left in `dir`.
    fn temporaries(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect()
    }

    #[test]
    fn a_failed_atomic_write_removes_its_temporary_and_names_the_target() {
        let dir = tempfile::tempdir().unwrap();
        // The rename fails: the target is a folder that is not empty.
        let target = dir.path().join("result.json");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("x"), "x").unwrap();
        let e = super::write_atomic(&target, b"{}").unwrap_err();
        assert!(e.to_string().contains(&target.display().to_string()), "{e}");
        assert_eq!(temporaries(dir.path()), Vec::<String>::new());
        // The write fails: the folder is not there.
        let gone = dir.path().join("no/such/file.json");
        let e = super::write_atomic(&gone, b"{}").unwrap_err();
        assert!(e.to_string().contains(&gone.display().to_string()), "{e}");
    }

    #[test]
    fn a_set_that_fails_to_commit_leaves_no_staged_file_or_folder() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("b.md");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), "x").unwrap();
        let mut set = super::Staged::default();
        set.file(&dir.path().join("a.md"), b"a").unwrap();
        set.file(&blocked, b"b").unwrap();
        let ex = set.folder(&dir.path().join("ex")).unwrap();
        std::fs::write(ex.join("clip.gif"), "gif").unwrap();
        set.file(&dir.path().join("c.md"), b"c").unwrap();
        let e = set.commit().unwrap_err();
        assert!(
            e.to_string().contains(&blocked.display().to_string()),
            "{e}"
        );
        assert_eq!(temporaries(dir.path()), Vec::<String>::new());
    }
}
