//! Which input files a cached result was computed from.
//!
//! A cache key covers a file the node reads by its contents up to the
//! hashing limit (256 MiB, `ADVP_HASH_LIMIT_MB`), and by size and
//! modification time above it (hashing a large data set on every run would
//! cost too much), so a large file edited in place with its time restored
//! keeps the key. When a node
//! starts computing, every regular file it reads (its own `path`,
//! `pretrained`, and those of the data and model nodes it reads) is hashed
//! into `inputs.json` in its entry, which the manifest covers. The page shows
//! those hashes, and a run warns when a file on disk differs now. Entries of
//! an advp before this record have no `inputs.json`: the page shows the
//! file's hash as it is now, as before.

use crate::language::builtins::READ_PATHS;
use crate::language::program::{Program, Value};
use crate::runtime::error::{NodeError, NodeResult};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The record's file name inside an entry.
pub const INPUTS: &str = "inputs.json";

/// One file a node read, as it was when the node started computing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// The node whose argument names it.
    pub node: String,
    /// The path as the pipeline writes it.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Record {
    files: Vec<InputFile>,
}

/// `path` of the pipeline, resolved against its folder.
pub fn resolve(base: &Path, p: &str) -> PathBuf {
    if Path::new(p).is_absolute() {
        PathBuf::from(p)
    } else {
        base.join(p)
    }
}

/// The regular files the nodes `nodes` name (folders of frames are not
/// hashed): (node, path as written), each path once.
pub fn named_files(program: &Program, base: &Path, nodes: &[usize]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for &j in nodes {
        let n = &program.nodes[j];
        for key in READ_PATHS {
            if let Some(Value::Str(p)) = n.args.get(*key) {
                if resolve(base, p).is_file() && !out.iter().any(|(_, q)| q == p) {
                    out.push((n.name.clone(), p.clone()));
                }
            }
        }
    }
    out
}

/// (path, size, modification time) → SHA-256: a file is hashed once a run
/// however many nodes read it.
type Memo = HashMap<(PathBuf, u64, Option<std::time::SystemTime>), String>;
static HASHED: Mutex<Option<Memo>> = Mutex::new(None);

/// A file's size and SHA-256 now (stopped by a stop request).
pub fn hash_now(path: &Path) -> std::io::Result<(u64, String)> {
    let meta = std::fs::metadata(path)?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    if let Some(h) = HASHED
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(&key).cloned()))
    {
        return Ok((meta.len(), h));
    }
    let h = super::cache::sha256_file_stoppable(path)?;
    if let Ok(mut m) = HASHED.lock() {
        m.get_or_insert_with(HashMap::new).insert(key, h.clone());
    }
    Ok((meta.len(), h))
}

/// Hashes `files` into `dir/inputs.json` (nothing when there are none).
pub fn record(dir: &Path, base: &Path, files: &[(String, String)]) -> NodeResult<()> {
    if files.is_empty() {
        return Ok(());
    }
    let mut out = Vec::new();
    for (node, p) in files {
        let path = resolve(base, p);
        let (size, sha256) = hash_now(&path).map_err(|e| match e.kind() {
            // Hashing stopped for Ctrl-C: the run stops.
            std::io::ErrorKind::Interrupted if crate::util::interrupted() => NodeError::Interrupted,
            _ => NodeError::Failed(format!("cannot read {}: {e}", path.display())),
        })?;
        out.push(InputFile {
            node: node.clone(),
            path: p.clone(),
            size,
            sha256,
        });
    }
    crate::results::write_json(&dir.join(INPUTS), &Record { files: out }).map_err(NodeError::Failed)
}

/// What a finished entry records (`None`: an entry without the record).
pub fn recorded(entry: &Path) -> Option<Vec<InputFile>> {
    let text = std::fs::read_to_string(entry.join(INPUTS)).ok()?;
    serde_json::from_str::<Record>(&text).ok().map(|r| r.files)
}
