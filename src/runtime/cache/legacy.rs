//! Cache keys of schema 1, as advp wrote them before [`super::key`]: kept
//! to find an older entry under its old key and move it under its new
//! one (`advp run` does, and says so) instead of computing it again.
//!
//! A key of schema 1 hashed the node's resolved definition with every
//! argument (defaults too), its inputs' keys, the seed, a low precision,
//! advp's version (0.1.0 for every such entry), a revision string for the
//! built-ins whose results had changed, and the size and modification time
//! of the files it read (a `python(…)` model's by contents).

use crate::graph::Plan;
use crate::language::program::{Precision, Program, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use super::key::{KeyRecord, KEY_FILE};
use super::{verify_dir, Cache, Verdict};
use crate::language::builtins::FILE_ARGS;
use crate::runtime::error::{NodeError, NodeResult};

/// Schema 1's revisions, as they were hashed.
const KEY_REVISIONS: &[(&str, &str)] = &[
    ("ucf101", "distinct test windows"),
    ("hmdb51", "distinct test windows"),
];

/// advp's version, hashed into every key of schema 1.
const VERSION: &str = "0.1.0";

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

/// What a `python(…)` model's key covers beyond its arguments: the torch
/// its module runs on, and the contents of its `.py` file and of every file
/// under its `sources` (an edit to the code is a new model, whatever the
/// file's time). Python's `__pycache__` and hidden entries are left out.
fn python_key(n: &crate::language::program::Node, base: &Path) -> serde_json::Value {
    let mut files: Vec<String> = Vec::new();
    if let Some(Value::Str(p)) = n.args.get("path") {
        files.push(p.clone());
    }
    if let Some(Value::List(items)) = n.args.get("sources") {
        files.extend(items.iter().filter_map(|v| match v {
            Value::Str(p) => Some(p.clone()),
            _ => None,
        }));
    }
    let contents: Vec<serde_json::Value> = files
        .iter()
        .map(|p| {
            let path = if Path::new(p).is_absolute() {
                PathBuf::from(p)
            } else {
                base.join(p)
            };
            serde_json::json!({ "path": p, "sha256": super::tree_sha256(&path) })
        })
        .collect();
    serde_json::json!({
        "torch": env!("ADVP_LIBTORCH_VERSION"),
        "contents": contents,
    })
}

/// Every node's key of schema 1, indexed like `program.nodes`.
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
        let mut doc = serde_json::json!({
            "advp": VERSION,
            "seed": program.settings.seed,
            "kind": n.kind.as_str(),
            "builtin": n.builtin,
            "args": n.args,
            "stmts": n.stmts,
            "inputs": inputs,
            "files": files,
        });
        if n.builtin == "python" {
            doc["python"] = python_key(n, base);
        }
        if let Some((_, revision)) = KEY_REVISIONS.iter().find(|(b, _)| *b == n.builtin) {
            doc["revision"] = (*revision).into();
        }
        // Only a low precision is hashed, so fp32 runs keep their keys.
        if program.settings.precision != Precision::Fp32 {
            doc["precision"] = program.settings.precision.as_str().into();
        }
        let digest = Sha256::digest(doc.to_string().as_bytes());
        keys[i] = digest.iter().map(|b| format!("{b:02x}")).collect();
    }
    keys
}

/// What [`adopt`] did with a node's entry of schema 1.
#[derive(Debug, PartialEq)]
pub enum Adopted {
    /// No entry of schema 1 there (or one of schema 2 already).
    Nothing,
    /// The finished entry, verified, now under its new key.
    Entry,
    /// A training's checkpoints, now under the new key: it resumes.
    Checkpoint,
    /// The finished entry is damaged (its files, one line each): left
    /// where it is, and the node is computed again.
    Damaged(Vec<String>),
}

/// Moves node's entry of schema 1 key `old` (and its checkpoints) under
/// `record.key`, holding both keys' locks: a finished entry is verified
/// against its manifest first, then gets its `key.json` and a manifest
/// that lists it, and is renamed into place.
pub fn adopt(cache: &Cache, old: &str, record: &KeyRecord) -> NodeResult<Adopted> {
    let new = record.key.as_str();
    if cache.done(new).exists() || !(cache.done(old).exists() || cache.partial_path(old).exists()) {
        return Ok(Adopted::Nothing);
    }
    let say = |m: &str| eprintln!("advp: keeping an entry of key schema 1: {m}");
    let _new_lock = cache.lock(new, &say)?;
    let _old_lock = cache.lock(old, &say)?;
    let from = cache.done(old);
    if from.is_dir() && !cache.done(new).exists() {
        if let Verdict::Corrupt(problems) = verify_dir(&from) {
            return Ok(Adopted::Damaged(problems));
        }
        let mut record = record.clone();
        record.migrated_from = Some(old.to_string());
        crate::results::write_json(&from.join(KEY_FILE), &record).map_err(NodeError::Failed)?;
        super::write_manifest(&from)?;
        move_to(&from, &cache.done(new))?;
        return Ok(Adopted::Entry);
    }
    let (from, to) = (cache.partial_path(old), cache.partial_path(new));
    if from.is_dir() && !to.exists() {
        move_to(&from, &to)?;
        return Ok(Adopted::Checkpoint);
    }
    Ok(Adopted::Nothing)
}

fn move_to(from: &Path, to: &Path) -> NodeResult<()> {
    std::fs::rename(from, to).map_err(|e| {
        NodeError::Failed(format!(
            "cannot move {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}

#[cfg(test)]
mod key_tests {
    use super::keys;

    /// Each node's key for `text` checked in a temporary folder.
    fn node_keys(text: &str) -> Vec<(String, String)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.advp");
        std::fs::write(&path, text).unwrap();
        let loaded = crate::language::loader::load_path(&path).unwrap();
        let outcome = crate::language::check(&loaded, &crate::language::Options::default());
        let program = outcome.program.expect("the pipeline checks");
        let plan = crate::graph::plan(&program).expect("a plan");
        let k = keys(&program, &plan, dir.path());
        program
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .zip(k)
            .collect()
    }

    #[test]
    fn a_revised_builtin_gets_new_keys_and_every_other_keeps_its_own() {
        // The keys the advp before frame-data revisions gave these nodes
        // (`advp status --format json`, same version): a built-in without a
        // revision keeps its key, so its cache still reads; frame data
        // changes its key and every key downstream, so it recomputes.
        let synthetic = node_keys(
            "data d = synthetic(classes: 4)\nmodel m = c3d_small(classes: d.classes)\ntrain t = standard(m, d, epochs: 1)\n",
        );
        assert_eq!(
            synthetic[2],
            (
                "t".to_string(),
                "bfa59676f6a2d84c9601f051b0c35deb212dfd0ee6b7aef08111de2d861c66e8".to_string()
            ),
            "a key changed without a revision: every cache would recompute"
        );
        // A named rule is written out in what keys hash, as before rules
        // were shared: `alpha half_optimal` keeps its key.
        let rule = node_keys(&format!(
            "use \"{}/stdlib/attacks.advp\"\ndata d = synthetic(classes: 4)\nmodel m = c3d_small(classes: d.classes)\ntrain t = adversarial(m, d, attack: pgd_inf(steps: 2), epochs: 1) {{\n  budget fixed 8\n  alpha half_optimal\n}}\n",
            env!("CARGO_MANIFEST_DIR")
        ));
        let key = |keys: &[(String, String)], node: &str| {
            keys.iter()
                .find(|(n, _)| n == node)
                .map(|(_, k)| k.clone())
                .unwrap()
        };
        assert_eq!(
            key(&rule, "t"),
            "33134d178b81197a8c2d98892662078d0c1604701fd5b420709c1ff5def58ff7",
            "a named rule changed its key"
        );
        let frames = node_keys(
            "data u = ucf101(root: \"data/ucf101\")\nmodel m = c3d_small(classes: u.classes)\ntrain t = standard(m, u, epochs: 1)\n",
        );
        assert_eq!(frames[2].0, "t");
        assert_ne!(
            frames[2].1, "232b0c5232d7d07ce68a727dcf43023b3be9e2fb65f12fb2ae7805c9c4f4c6f3",
            "frame data's revision must change the keys downstream"
        );
    }
}
