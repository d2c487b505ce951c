//! The content-addressed cache under `.advp/cache/` (or `--cache DIR`).
//!
//! A node's key hashes (SHA-256) its resolved definition, its inputs' keys, the
//! run seed, the advp version, and the size and modification time of any file
//! it reads (a user's tensors, weights or TorchScript module). A finished node
//! lives in `<cache>/<key>/`; while it runs, in `<key>.partial/` (its
//! checkpoints), renamed into place when done, so a half-written entry is
//! never mistaken for a finished one.

use crate::graph::Plan;
use crate::language::program::{Program, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use crate::language::builtins::FILE_ARGS;

fn file_stamp(base: &Path, p: &str) -> serde_json::Value {
    let path = if Path::new(p).is_absolute() {
        PathBuf::from(p)
    } else {
        base.join(p)
    };
    match std::fs::metadata(&path) {
        Ok(m) => serde_json::json!({
            "size": m.len(),
            "modified": m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos() as u64),
        }),
        Err(_) => serde_json::Value::Null,
    }
}

/// Every node's key, indexed like `program.nodes`.
pub fn keys(program: &Program, plan: &Plan, base: &Path) -> Vec<String> {
    let mut keys = vec![String::new(); program.nodes.len()];
    for &i in &plan.order {
        let n = &program.nodes[i];
        let mut inputs: Vec<(String, String)> = plan
            .inputs(i)
            .into_iter()
            .map(|j| (program.nodes[j].name.clone(), keys[j].clone()))
            .collect();
        inputs.sort();
        let files: Vec<serde_json::Value> = FILE_ARGS
            .iter()
            .filter_map(|k| match n.args.get(*k) {
                Some(Value::Str(p)) => {
                    Some(serde_json::json!({ "arg": k, "stamp": file_stamp(base, p) }))
                }
                _ => None,
            })
            .collect();
        let doc = serde_json::json!({
            "advp": env!("CARGO_PKG_VERSION"),
            "seed": program.settings.seed,
            "kind": n.kind.as_str(),
            "builtin": n.builtin,
            "args": n.args,
            "stmts": n.stmts,
            "inputs": inputs,
            "files": files,
        });
        let digest = Sha256::digest(doc.to_string().as_bytes());
        keys[i] = digest.iter().map(|b| format!("{b:02x}")).collect();
    }
    keys
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
    pub fn partial(&self, key: &str) -> Result<PathBuf, String> {
        let dir = self.root.join(format!("{}.partial", Self::name(key)));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the cache folder {}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// Moves the working folder into place; only then does the node count as finished.
    pub fn finish(&self, key: &str) -> Result<(), String> {
        let from = self.root.join(format!("{}.partial", Self::name(key)));
        let to = self.done(key);
        if to.exists() {
            std::fs::remove_dir_all(&to)
                .map_err(|e| format!("cannot replace {}: {e}", to.display()))?;
        }
        // Checkpoints are only needed while a node runs.
        if let Ok(entries) = std::fs::read_dir(&from) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("checkpoint-") || name == "state.json" {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        std::fs::rename(&from, &to).map_err(|e| format!("cannot finish {}: {e}", to.display()))
    }

    /// Forgets a node: its finished entry and any checkpoint.
    pub fn clear(&self, key: &str) -> Result<(), String> {
        for dir in [
            self.done(key),
            self.root.join(format!("{}.partial", Self::name(key))),
        ] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
            }
        }
        Ok(())
    }

    /// Writes `node.json`: what the entry is, for people browsing the cache.
    pub fn describe(
        &self,
        dir: &Path,
        node: &crate::language::program::Node,
        key: &str,
        seed: u64,
    ) -> Result<(), String> {
        write_json(
            &dir.join("node.json"),
            &serde_json::json!({ "node": node, "key": key, "seed": seed, "advp": env!("CARGO_PKG_VERSION") }),
        )
    }
}

pub fn write_json(path: &Path, v: &serde_json::Value) -> Result<(), String> {
    crate::results::write_json(path, v)
}
