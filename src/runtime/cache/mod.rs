//! The content-addressed cache under `.advp/cache/` (or `--cache DIR`).
//!
//! A node's key ([`key`]) hashes what determines its result: its
//! definition without the arguments at their defaults, its built-in's
//! behaviour version, its inputs' keys, the replicate's seed, a low
//! precision and the contents of the files it reads. A finished node
//! lives in `<cache>/<key>/` with its ingredients in `key.json`; while it
//! runs, in `<key>.partial/` (its checkpoints), renamed into place when
//! done, so a half-written entry is never mistaken for a finished one. An
//! entry of an older key schema is moved under its new key ([`legacy`]).

use crate::results::write_json;
use crate::runtime::error::{NodeError, NodeResult};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub mod gc;
pub mod key;
pub mod legacy;
pub mod lock;
pub mod why;

/// The SHA-256 of a file, or of a folder's files (their paths inside it
/// and their contents, in name order, links followed, each folder once);
/// `None` where nothing is there (a module named by its dotted name, a
/// missing path). A file that cannot be read is hashed as its error, so
/// the key still follows the others.
pub(crate) fn tree_sha256(path: &Path) -> Option<String> {
    fn file(path: &Path, rel: &str, h: &mut Sha256) {
        h.update(rel.as_bytes());
        match std::fs::read(path) {
            Ok(bytes) => {
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
            Err(e) => h.update(format!("unreadable: {}", e.kind()).as_bytes()),
        }
    }
    fn walk(dir: &Path, rel: &str, h: &mut Sha256, seen: &mut Vec<PathBuf>) {
        let Ok(real) = std::fs::canonicalize(dir) else {
            return;
        };
        if seen.contains(&real) {
            return;
        }
        seen.push(real);
        let mut entries: Vec<_> = match std::fs::read_dir(dir) {
            Ok(d) => d.flatten().collect(),
            Err(e) => {
                h.update(format!("{rel}: unreadable: {}", e.kind()).as_bytes());
                return;
            }
        };
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "__pycache__" {
                continue;
            }
            let rel = format!("{rel}/{name}");
            // Followed: a linked file or folder is part of the sources.
            match std::fs::metadata(e.path()) {
                Ok(m) if m.is_dir() => walk(&e.path(), &rel, h, seen),
                Ok(m) if m.is_file() => file(&e.path(), &rel, h),
                _ => {}
            }
        }
    }
    let meta = std::fs::metadata(path).ok()?;
    let mut h = Sha256::new();
    if meta.is_dir() {
        walk(path, "", &mut h, &mut Vec::new());
    } else if meta.is_file() {
        file(path, "", &mut h);
    } else {
        return None;
    }
    Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: PathBuf) -> Self {
        Cache { root }
    }

    fn name(key: &str) -> &str {
        &key[..key.len().min(32)]
    }

    /// The folder of a finished node.
    pub fn done(&self, key: &str) -> PathBuf {
        self.root.join(Self::name(key))
    }

    /// The working folder of a running node (created; kept across runs for resuming).
    pub fn partial(&self, key: &str) -> NodeResult<PathBuf> {
        let dir = self.partial_path(key);
        std::fs::create_dir_all(&dir).map_err(|e| {
            NodeError::Failed(format!(
                "cannot create the cache folder {}: {e}",
                dir.display()
            ))
        })?;
        Ok(dir)
    }

    /// Where a node's working folder is, made or not.
    pub fn partial_path(&self, key: &str) -> PathBuf {
        self.root.join(format!("{}.partial", Self::name(key)))
    }

    /// Moves the working folder into place; only then does the node count as finished.
    pub fn finish(&self, key: &str) -> NodeResult<()> {
        let from = self.root.join(format!("{}.partial", Self::name(key)));
        let to = self.done(key);
        if to.exists() {
            std::fs::remove_dir_all(&to)
                .map_err(|e| NodeError::Failed(format!("cannot replace {}: {e}", to.display())))?;
        }
        // Checkpoints are only needed while a node runs; temporary files of
        // interrupted writes never belong to a result.
        if let Ok(entries) = std::fs::read_dir(&from) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("checkpoint-") || name == "state.json" || is_temporary(&name) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        // The manifest of every file's SHA-256, written before the rename that
        // commits the entry: reading it back verifies the entry.
        write_manifest(&from)?;
        std::fs::rename(&from, &to)
            .map_err(|e| NodeError::Failed(format!("cannot finish {}: {e}", to.display())))
    }

    /// Removes the working folder of a node that stopped, unless it holds a
    /// checkpoint to resume from (`state.json`): an evaluation or analysis
    /// has no partial result, and starts again on the next run.
    pub fn abandon(&self, key: &str) {
        let dir = self.root.join(format!("{}.partial", Self::name(key)));
        if dir.is_dir() && !dir.join("state.json").exists() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// Checks a finished entry against its manifest.
    pub fn verify(&self, key: &str) -> Verdict {
        verify_dir(&self.done(key))
    }

    /// Moves a damaged entry aside (`<cache>/corrupt/<name>-<seconds>`, never
    /// deleted); gives where it went.
    pub fn quarantine(&self, key: &str) -> NodeResult<PathBuf> {
        let from = self.done(key);
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let dir = self.root.join("corrupt");
        std::fs::create_dir_all(&dir)
            .map_err(|e| NodeError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        let to = dir.join(format!("{}-{secs}", Self::name(key)));
        std::fs::rename(&from, &to)
            .map_err(|e| NodeError::Failed(format!("cannot move {} aside: {e}", from.display())))?;
        Ok(to)
    }

    /// Takes the lock of an entry, waiting while another process holds it
    /// (`waiting` is told once, with the holder). A lock left by a process of
    /// this machine that no longer runs (its pid gone, reused by a process
    /// started at another time, or from before a reboot) is taken over. On a
    /// cluster's shared file system the lock relies on exclusive creation
    /// being atomic there (NFSv3 and later, Lustre, GPFS, BeeGFS); a lock of
    /// another machine is named in the message with how and when to remove it.
    pub fn lock(&self, key: &str, waiting: &dyn Fn(&str)) -> NodeResult<Lock> {
        std::fs::create_dir_all(&self.root).map_err(|e| {
            NodeError::Failed(format!(
                "cannot create the cache folder {}: {e}",
                self.root.display()
            ))
        })?;
        let path = self.root.join(format!("{}.lock", Self::name(key)));
        let me = lock::Holder::me().line();
        let mut told = false;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    let _ = f.write_all(me.as_bytes());
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder = lock::Holder::parse(&text);
                    let judgement = lock::judge_here(holder.as_ref());
                    // Its holder is gone (or its pid now another process's):
                    // taken over, unless another waiter took it first.
                    if judgement == lock::Judgement::Stale
                        && std::fs::read_to_string(&path).is_ok_and(|t| t == text)
                    {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if !told {
                        waiting(&lock::waiting_message(holder.as_ref(), judgement, &path));
                        told = true;
                    }
                    // Ctrl-C while waiting: the run stops, typed as such.
                    crate::runtime::error::stop_requested()?;
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(e) => {
                    return Err(NodeError::Failed(format!(
                        "cannot create the lock {}: {e}",
                        path.display()
                    )))
                }
            }
        }
    }

    /// Every finished entry of the cache (for `advp cache verify`).
    pub fn entries(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_dir()
                    && p.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        !n.ends_with(".partial") && n != "corrupt"
                    })
            })
            .collect();
        out.sort();
        out
    }

    /// Forgets a node: its finished entry and any checkpoint.
    pub fn clear(&self, key: &str) -> NodeResult<()> {
        for dir in [
            self.done(key),
            self.root.join(format!("{}.partial", Self::name(key))),
        ] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| {
                    NodeError::Failed(format!("cannot remove {}: {e}", dir.display()))
                })?;
            }
        }
        Ok(())
    }

    /// Writes `node.json` (what the entry is, for people browsing the
    /// cache) and `key.json` (its key's ingredients, for `advp why`).
    pub fn describe(
        &self,
        dir: &Path,
        node: &crate::language::program::Node,
        record: &key::KeyRecord,
    ) -> NodeResult<()> {
        write_json(
            &dir.join("node.json"),
            &serde_json::json!({ "node": node, "key": record.key, "seed": record.ingredients.seed, "advp": env!("CARGO_PKG_VERSION") }),
        )
        .map_err(NodeError::Failed)?;
        write_json(&dir.join(key::KEY_FILE), record).map_err(NodeError::Failed)
    }

    /// The key record of a finished entry, if it has one (entries of
    /// schema 2).
    pub fn record(&self, key: &str) -> Option<key::KeyRecord> {
        read_record(&self.done(key))
    }
}

/// An entry being computed by this process: `<cache>/<name>.lock`, created
/// atomically (`O_CREAT|O_EXCL`), holding `pid host start boot`
/// ([`lock::Holder`]); removed when dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What reading a finished entry found.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Every file matches the manifest.
    Verified,
    /// No manifest: an entry of an advp before manifests, read as it is.
    Unverified,
    /// Files missing, changed or unreadable: one line each.
    Corrupt(Vec<String>),
}

/// The manifest's file name inside an entry.
pub const MANIFEST: &str = "manifest.json";

/// `.name.tmp<pid>`: a write that never reached its rename.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".tmp")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()))
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    sha256_streamed(path, false)
}

/// [`sha256_file`] of an input or of an entry being checked: a stop request
/// ends it within a MiB (`ErrorKind::Interrupted`), so hashing large files
/// never holds up a run that was asked to stop.
pub fn sha256_file_stoppable(path: &Path) -> std::io::Result<String> {
    sha256_streamed(path, true)
}

fn sha256_streamed(path: &Path, stoppable: bool) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = crate::util::open_regular(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if stoppable && crate::util::interrupted() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "stopped by a signal",
            ));
        }
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The files of an entry (recursively, by relative path), the manifest itself
/// and temporary files aside.
fn files_of(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = rel.join(&name);
            // A link is listed, never followed (a link to `/` is no tree to walk).
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if name != MANIFEST && !is_temporary(&name) {
                out.push(path.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// An entry folder's `key.json`.
pub fn read_record(dir: &Path) -> Option<key::KeyRecord> {
    let text = std::fs::read_to_string(dir.join(key::KEY_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_manifest(dir: &Path) -> NodeResult<()> {
    let mut files = std::collections::BTreeMap::new();
    for f in files_of(dir) {
        let digest = sha256_file(&dir.join(&f)).map_err(|e| {
            NodeError::Failed(format!("cannot read {}: {e}", dir.join(&f).display()))
        })?;
        files.insert(f, digest);
    }
    write_json(&dir.join(MANIFEST), &serde_json::json!({ "sha256": files }))
        .map_err(NodeError::Failed)
}

/// A file's SHA-256 as a finished entry's manifest records it (the run
/// verified the entry against it before reading it).
pub fn manifest_sha256(dir: &Path, file: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    manifest["sha256"][file].as_str().map(str::to_string)
}

/// Checks a finished entry's files against its manifest.
pub fn verify_dir(dir: &Path) -> Verdict {
    let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST)) else {
        return Verdict::Unverified;
    };
    let manifest: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Verdict::Corrupt(vec![format!("{MANIFEST} is unreadable ({e})")]),
    };
    let Some(files) = manifest["sha256"].as_object() else {
        return Verdict::Corrupt(vec![format!("{MANIFEST} lists no files")]);
    };
    let mut problems = Vec::new();
    for (f, want) in files {
        if let Some(why) = not_own_file(dir, f) {
            problems.push(format!("{MANIFEST}: {why}"));
            continue;
        }
        match sha256_file_stoppable(&dir.join(f)) {
            Ok(got) if Some(got.as_str()) == want.as_str() => {}
            Ok(_) => problems.push(format!("{f} changed since it was written")),
            Err(e) => problems.push(format!("{f}: {e}")),
        }
    }
    for f in files_of(dir) {
        if !files.contains_key(&f) {
            problems.push(format!("{f} was added after the entry was written"));
        }
    }
    if problems.is_empty() {
        // What matches its hash must still read as its node's result.
        problems = crate::results::finite::unreadable(dir);
    }
    if problems.is_empty() {
        Verdict::Verified
    } else {
        Verdict::Corrupt(problems)
    }
}

/// Why a name in an entry's manifest (or a checkpoint's `state.json`) is
/// not one of the folder's own files: only plain file names (no separator,
/// no `..`, not absolute) of regular files inside it are read, so a forged
/// manifest cannot make `advp run` or `cache verify` read `/dev/zero` or
/// another entry.
pub fn not_own_file(dir: &Path, name: &str) -> Option<String> {
    let plain =
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    if !plain {
        return Some(format!(
            "`{name}` names no file of this folder (a path, `..` or an absolute name)"
        ));
    }
    match std::fs::symlink_metadata(dir.join(name)) {
        Ok(m) if !m.is_file() => Some(format!(
            "`{name}` is not a regular file (a link, a folder or a device)"
        )),
        _ => None,
    }
}
