//! Who holds an entry's lock, and whether that holder can still be running.
//!
//! A lock file holds `PID HOST START BOOT`: the holder's process id, host
//! name, process start time (field 22 of `/proc/PID/stat`, clock ticks since
//! boot) and boot id (`/proc/sys/kernel/random/boot_id`). A process id alone
//! is not enough: after the holder dies its id can be given to another
//! process, and a lock judged by the id alone would then be waited on for
//! ever. Locks of an advp before this record hold `PID HOST` only and are
//! judged as then (stale when the process id is gone).

use std::path::Path;

/// What a lock file says of its holder.
#[derive(Clone, Debug, PartialEq)]
pub struct Holder {
    pub pid: String,
    pub host: String,
    /// Clock ticks after boot at which the holder started (absent in old locks).
    pub start: Option<u64>,
    /// The holder's boot id (absent in old locks).
    pub boot: Option<String>,
}

impl Holder {
    /// This process.
    pub fn me() -> Holder {
        let pid = std::process::id().to_string();
        Holder {
            start: start_time(&pid),
            pid,
            host: hostname(),
            boot: boot_id(),
        }
    }

    /// The lock file's text.
    pub fn line(&self) -> String {
        let mut s = format!("{} {}", self.pid, self.host);
        if let (Some(start), Some(boot)) = (self.start, &self.boot) {
            s.push_str(&format!(" {start} {boot}"));
        }
        s.push('\n');
        s
    }

    /// Reads a lock file's text; `None` when it names no process and host.
    pub fn parse(text: &str) -> Option<Holder> {
        let mut parts = text.split_whitespace();
        let pid = parts.next()?.to_string();
        let host = parts.next()?.to_string();
        if pid.is_empty() || !pid.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let start = parts.next().and_then(|s| s.parse().ok());
        let boot = parts.next().map(str::to_string);
        Some(Holder {
            pid,
            host,
            start,
            boot,
        })
    }
}

/// What can be said of a lock from here.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Judgement {
    /// Its holder runs on this machine: wait.
    Live,
    /// Its holder cannot be running any more: take the lock over.
    Stale,
    /// Another machine's, or unreadable: wait, and say how to remove it.
    Unknown,
}

/// Judges `holder` (`None`: unreadable) from a machine named `host` with
/// boot id `boot`; `start_of(pid)` gives a running process's start time
/// (`None`: no such process).
pub fn judge(
    holder: Option<&Holder>,
    host: &str,
    boot: Option<&str>,
    start_of: &dyn Fn(&str) -> Option<u64>,
) -> Judgement {
    let Some(h) = holder else {
        return Judgement::Unknown;
    };
    if h.host != host {
        return Judgement::Unknown;
    }
    // This machine booted again since the lock was written: every process
    // of then is gone.
    if let (Some(then), Some(now)) = (h.boot.as_deref(), boot) {
        if then != now {
            return Judgement::Stale;
        }
    }
    match (start_of(&h.pid), h.start) {
        (None, _) => Judgement::Stale,
        // The id now belongs to a process started at another time.
        (Some(now), Some(then)) if now != then => Judgement::Stale,
        _ => Judgement::Live,
    }
}

/// Judges the lock at `path` on this machine.
pub fn judge_here(holder: Option<&Holder>) -> Judgement {
    judge(holder, &hostname(), boot_id().as_deref(), &start_time)
}

/// The line a waiting run prints once: who holds the lock and, where it
/// cannot be judged from here, how to remove it and when that is safe.
pub fn waiting_message(holder: Option<&Holder>, judgement: Judgement, path: &Path) -> String {
    // In full, so the command works from any folder.
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path = path.display();
    match (holder, judgement) {
        (Some(h), Judgement::Unknown) => format!(
            "another advp (process {pid} on {host}) is computing this node; waiting for it. Its lock cannot be checked from this machine: if no advp is running on {host} with process id {pid} any more, remove the lock with `rm {path}`",
            pid = h.pid,
            host = h.host
        ),
        (None, _) => format!(
            "the lock of this node cannot be read (it names no process); waiting for it. If no advp is computing this node, remove the lock with `rm {path}`"
        ),
        (Some(h), _) => format!(
            "another advp (process {} on {}) is computing this node; waiting for it (its lock: {path})",
            h.pid, h.host
        ),
    }
}

/// A process's start time: field 22 of `/proc/PID/stat` (after the command
/// name, which may hold spaces and parentheses, so counted from the last `)`).
pub fn start_time(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(Path::new("/proc").join(pid).join("stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // Fields 3 (the state) onwards; field 22 is the 20th of them.
    after.split_whitespace().nth(19)?.parse().ok()
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(text: &str) -> Holder {
        Holder::parse(text).expect("a lock line")
    }

    #[test]
    fn a_lock_line_reads_back_and_old_locks_read_without_start_or_boot() {
        let me = Holder::me();
        assert_eq!(Holder::parse(&me.line()), Some(me.clone()));
        assert!(me.start.is_some(), "this process's start time is readable");
        let old = holder("123 node1");
        assert_eq!((old.start, old.boot), (None, None));
        assert_eq!(Holder::parse(""), None);
        assert_eq!(Holder::parse("123"), None);
        assert_eq!(Holder::parse("x12 node1 5 b"), None);
    }

    #[test]
    fn this_processs_start_time_is_field_22_of_its_stat() {
        let pid = std::process::id().to_string();
        let t = start_time(&pid).expect("our own stat");
        // A second read gives the same; a process that is not there gives none.
        assert_eq!(start_time(&pid), Some(t));
        assert_eq!(start_time("999999999"), None);
    }

    #[test]
    fn a_lock_is_stale_when_its_pid_is_gone_reused_or_from_another_boot() {
        let running = |pid: &str| (pid == "10").then_some(500);
        let j = |text: &str| judge(Some(&holder(text)), "here", Some("b1"), &running);
        // The holder runs, started when the lock says.
        assert_eq!(j("10 here 500 b1"), Judgement::Live);
        // Its process is gone.
        assert_eq!(j("11 here 500 b1"), Judgement::Stale);
        // Its id belongs to a process started at another time.
        assert_eq!(j("10 here 499 b1"), Judgement::Stale);
        // Written before this machine booted again.
        assert_eq!(j("10 here 500 b0"), Judgement::Stale);
        // Another machine's cannot be judged from here, whatever it says.
        assert_eq!(j("11 there 500 b1"), Judgement::Unknown);
        assert_eq!(j("10 there 1 b0"), Judgement::Unknown);
        // An old lock (pid and host): stale only when the pid is gone.
        assert_eq!(j("10 here"), Judgement::Live);
        assert_eq!(j("11 here"), Judgement::Stale);
        // An unreadable one.
        assert_eq!(
            judge(None, "here", Some("b1"), &running),
            Judgement::Unknown
        );
        // Without a boot id here, the start time still decides.
        assert_eq!(
            judge(Some(&holder("10 here 499 b1")), "here", None, &running),
            Judgement::Stale
        );
    }

    #[test]
    fn waiting_on_a_lock_that_may_be_stale_says_how_and_when_to_remove_it() {
        let path = Path::new("/c/abc.lock");
        let h = holder("42 there 7 b");
        let m = waiting_message(Some(&h), Judgement::Unknown, path);
        assert!(m.contains("rm /c/abc.lock"), "{m}");
        assert!(
            m.contains("no advp is running on there with process id 42"),
            "{m}"
        );
        let m = waiting_message(None, Judgement::Unknown, path);
        assert!(m.contains("rm /c/abc.lock"), "{m}");
        // A live holder here is only waited for.
        let m = waiting_message(Some(&h), Judgement::Live, path);
        assert!(!m.contains("rm "), "{m}");
    }
}
