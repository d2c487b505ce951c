//! Cache keys, schema 2: what determines a node's result, in one
//! canonical, order-stable encoding ([`Ingredients`]), hashed with SHA-256.
//!
//! A key covers the node's kind and built-in, the built-in's behaviour
//! version (`builtins::BEHAVIOUR`), the arguments that are not at their
//! default (nested calls such as an attack's too), the statements written,
//! its inputs' keys, the replicate's seed, a low precision, and the files
//! it reads: by their contents up to [`CONTENT_LIMIT`], by size and time
//! above. It covers neither advp's version nor an argument at its default,
//! so an upgrade, or a new argument whose default keeps the old behaviour,
//! keeps every entry; a change of a built-in's numbers bumps its behaviour
//! version and re-runs its nodes (and what reads them) alone.
//!
//! [`SCHEMA`] numbers the encoding itself. An entry of schema 1 (the keys
//! advp wrote before, [`super::legacy`]) is found by its old key and moved
//! under its new one, never silently recomputed.
//!
//! Every entry keeps its ingredients and one hash per component in
//! `key.json` ([`KeyRecord`]), so `advp why` can say what changed.

use crate::graph::Plan;
use crate::language::builtins::{self, FILE_ARGS};
use crate::language::program::{Node, Precision, Program, StmtValue, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The version of the key encoding.
pub const SCHEMA: u32 = 2;

/// Files up to this size are keyed by their contents (a file touched but
/// unchanged keeps its key; modification times mislead on NFS and after a
/// git checkout); larger ones by size and modification time. The
/// environment's `ADVP_HASH_LIMIT_MB` sets another limit in MiB (a file
/// that crosses it changes its key once).
pub const CONTENT_LIMIT: u64 = 256 << 20;

/// [`CONTENT_LIMIT`], or the environment's.
fn content_limit() -> u64 {
    std::env::var("ADVP_HASH_LIMIT_MB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(CONTENT_LIMIT, |mb| mb.saturating_mul(1 << 20))
}

/// The file an entry keeps its key's ingredients in.
pub const KEY_FILE: &str = "key.json";

/// What determines a node's result. Serialized as it is hashed: fields in
/// this order, maps sorted by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ingredients {
    pub schema: u32,
    pub kind: String,
    pub builtin: String,
    /// The behaviour version of every built-in the node runs: its own,
    /// and those it calls (an attack, a defense, a statement's default).
    pub behaviour: BTreeMap<String, u32>,
    /// The arguments not at their default, as the checker resolved them.
    pub args: BTreeMap<String, serde_json::Value>,
    /// The block's statements as written.
    pub stmts: BTreeMap<String, serde_json::Value>,
    /// Each input node's key, by name.
    pub inputs: BTreeMap<String, String>,
    pub seed: u64,
    /// A precision other than fp32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// The files the node reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileStamp>,
    /// The libtorch a `python(…)` model's code runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch: Option<String>,
}

/// A file a node reads, as its key sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileStamp {
    /// The argument that names it (`path`, `pretrained`, `sources`).
    pub arg: String,
    /// As written in the pipeline.
    pub path: String,
    /// Its contents' SHA-256 (a folder's: its files' names and contents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Size and modification time (ns), for a file over [`CONTENT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<u64>,
}

impl FileStamp {
    /// `sha256 1a2b3c4d5e6f`, `512 MiB, modified 2026-…`, `not there`.
    pub fn shown(&self) -> String {
        match (&self.sha256, self.size) {
            (Some(h), _) => format!("sha256 {}", &h[..12.min(h.len())]),
            (None, Some(size)) => format!(
                "{size} bytes, modified at {} s",
                self.modified.map_or(0, |ns| ns / 1_000_000_000)
            ),
            (None, None) => "not there".into(),
        }
    }
}

/// An entry's `key.json`: its key, the ingredients, and a hash per component.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRecord {
    pub schema: u32,
    pub key: String,
    /// The node's name when the entry was written.
    pub node: String,
    /// The pipeline file that wrote it (absolute).
    pub pipeline: String,
    pub hashes: BTreeMap<String, String>,
    pub ingredients: Ingredients,
    /// The ingredients of the inputs that have no entry of their own (data
    /// and model nodes), by name, as far as the computed nodes: what
    /// changed in them when an input's key changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstream: BTreeMap<String, Ingredients>,
    /// The key of schema 1 it was found under, for an entry moved from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated_from: Option<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hash_of<T: Serialize>(v: &T) -> String {
    let text = serde_json::to_string(v).expect("key ingredients serialize");
    sha256_hex(text.as_bytes())
}

impl Ingredients {
    /// The key: the SHA-256 of the canonical encoding.
    pub fn key(&self) -> String {
        hash_of(self)
    }

    /// One hash per component (as Nextflow's `-dump-hashes`): which part
    /// of two keys differs, without reading the parts.
    pub fn hashes(&self) -> BTreeMap<String, String> {
        let mut h = BTreeMap::new();
        h.insert("schema".into(), hash_of(&self.schema));
        h.insert(
            "definition".into(),
            hash_of(&(&self.kind, &self.builtin, &self.args, &self.stmts)),
        );
        h.insert("behaviour".into(), hash_of(&self.behaviour));
        h.insert("inputs".into(), hash_of(&self.inputs));
        h.insert("seed".into(), hash_of(&self.seed));
        h.insert("precision".into(), hash_of(&self.precision));
        h.insert("files".into(), hash_of(&(&self.files, &self.torch)));
        h
    }

    /// The record an entry keeps.
    pub fn record(
        &self,
        node: &str,
        pipeline: &Path,
        upstream: BTreeMap<String, Ingredients>,
    ) -> KeyRecord {
        KeyRecord {
            upstream,
            schema: SCHEMA,
            key: self.key(),
            node: node.to_string(),
            pipeline: pipeline.display().to_string(),
            hashes: self.hashes(),
            ingredients: self.clone(),
            migrated_from: None,
        }
    }
}

/// The built-in facts a key reads, apart so a test can change them (a
/// built-in's behaviour version, a table with a new argument).
pub struct Table<'a> {
    pub behaviour: &'a dyn Fn(&str) -> u32,
}

impl Table<'static> {
    /// The built-in table of this advp.
    pub fn current() -> Self {
        Table {
            behaviour: &builtins::behaviour,
        }
    }
}

/// Every node's ingredients, indexed like `program.nodes`.
pub fn ingredients(program: &Program, plan: &Plan, base: &Path) -> Vec<Ingredients> {
    ingredients_with(program, plan, base, &Table::current())
        .into_iter()
        .map(|i| i.expect("the plan orders every node"))
        .collect()
}

/// [`ingredients`] under another table.
pub fn ingredients_with(
    program: &Program,
    plan: &Plan,
    base: &Path,
    table: &Table,
) -> Vec<Option<Ingredients>> {
    let mut out: Vec<Option<Ingredients>> = vec![None; program.nodes.len()];
    for &i in &plan.order {
        let n = &program.nodes[i];
        let inputs = plan
            .inputs(i)
            .into_iter()
            .map(|j| {
                let key = out[j].as_ref().map(Ingredients::key).unwrap_or_default();
                (program.nodes[j].name.clone(), key)
            })
            .collect();
        out[i] = Some(Ingredients {
            schema: SCHEMA,
            kind: n.kind.as_str().to_string(),
            builtin: n.builtin.clone(),
            behaviour: behaviours(n, table),
            args: args_of(&n.builtin, &n.args, &program.param_defaults),
            stmts: n
                .stmts
                .iter()
                .map(|(k, s)| (k.clone(), stmt_of(s, &program.param_defaults)))
                .collect(),
            inputs,
            seed: program.settings.seed,
            precision: (program.settings.precision != Precision::Fp32)
                .then(|| program.settings.precision.as_str().to_string()),
            files: files_of(n, base),
            torch: (n.builtin == "python").then(|| env!("ADVP_LIBTORCH_VERSION").to_string()),
        });
    }
    out
}

/// The behaviour version of `n`'s built-in and of every built-in it calls,
/// in its arguments, its statements and the statements' defaults.
fn behaviours(n: &Node, table: &Table) -> BTreeMap<String, u32> {
    let mut names = vec![n.builtin.as_str()];
    let stmts = n.stmts.values().chain(n.defaults.values());
    let values = n.args.values().chain(stmts.flat_map(|s| match s {
        StmtValue::Schedule { values, .. } => values.as_slice(),
        StmtValue::Setting { value, .. } => std::slice::from_ref(value),
    }));
    values.for_each(|v| v.calls(&mut names));
    names
        .into_iter()
        .map(|b| (b.to_string(), (table.behaviour)(b)))
        .collect()
}

type Defaults = BTreeMap<String, BTreeMap<String, Value>>;

/// A built-in's arguments that are not at their default, canonical.
fn args_of(
    builtin: &str,
    args: &BTreeMap<String, Value>,
    defaults: &Defaults,
) -> BTreeMap<String, serde_json::Value> {
    let own = defaults.get(builtin);
    args.iter()
        .filter(|(k, v)| own.and_then(|d| d.get(*k)) != Some(*v))
        .map(|(k, v)| (k.clone(), value_of(v, defaults)))
        .collect()
}

/// A value as keys hash it: a nested call (an attack, a defense) without
/// the arguments at its built-in's defaults.
fn value_of(v: &Value, defaults: &Defaults) -> serde_json::Value {
    fn canonical(v: &Value, defaults: &Defaults) -> Value {
        match v {
            Value::Call { builtin, args } => {
                let own = defaults.get(builtin);
                Value::Call {
                    builtin: builtin.clone(),
                    args: args
                        .iter()
                        .filter(|(k, a)| own.and_then(|d| d.get(*k)) != Some(*a))
                        .map(|(k, a)| (k.clone(), canonical(a, defaults)))
                        .collect(),
                }
            }
            Value::List(items) => {
                Value::List(items.iter().map(|a| canonical(a, defaults)).collect())
            }
            Value::Compose(items) => {
                Value::Compose(items.iter().map(|a| canonical(a, defaults)).collect())
            }
            Value::Record(fields) => Value::Record(
                fields
                    .iter()
                    .map(|(k, a)| (k.clone(), canonical(a, defaults)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    serde_json::to_value(canonical(v, defaults)).expect("a value serializes")
}

fn stmt_of(s: &StmtValue, defaults: &Defaults) -> serde_json::Value {
    let canonical = match s {
        StmtValue::Schedule {
            mode,
            values,
            every,
        } => serde_json::json!({
            "form": "schedule",
            "mode": mode,
            "values": values.iter().map(|v| value_of(v, defaults)).collect::<Vec<_>>(),
            "every": every,
        }),
        StmtValue::Setting { grid, value } => serde_json::json!({
            "form": "setting",
            "grid": grid,
            "value": value_of(value, defaults),
        }),
    };
    canonical
}

/// The files node `n` reads: a `python(…)` model's module and `sources`
/// by their contents (whatever their size: the code is the model), any
/// other file argument by [`stamp`].
fn files_of(n: &Node, base: &Path) -> Vec<FileStamp> {
    let resolve = |p: &str| {
        if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            base.join(p)
        }
    };
    let python = n.builtin == "python";
    let mut out = Vec::new();
    if python {
        let mut named: Vec<(&str, &str)> = Vec::new();
        if let Some(Value::Str(p)) = n.args.get("path") {
            named.push(("path", p));
        }
        if let Some(Value::List(items)) = n.args.get("sources") {
            named.extend(items.iter().filter_map(|v| match v {
                Value::Str(p) => Some(("sources", p.as_str())),
                _ => None,
            }));
        }
        out.extend(named.into_iter().map(|(arg, p)| FileStamp {
            arg: arg.into(),
            path: p.into(),
            sha256: super::tree_sha256(&resolve(p)),
            size: None,
            modified: None,
        }));
    }
    // Every other file (a python model's weights too) as any node's.
    out.extend(
        FILE_ARGS
            .iter()
            .filter(|k| !(python && **k == "path"))
            .filter_map(|k| match n.args.get(*k) {
                Some(Value::Str(p)) => Some(stamp(k, p, &resolve(p))),
                _ => None,
            }),
    );
    out
}

/// Contents already hashed in this process, by path, size and time: a file
/// several nodes or replicates read is read once.
static HASHED: Mutex<Option<HashMap<Stamped, String>>> = Mutex::new(None);

/// A file as [`HASHED`] knows it: path, size, modification time.
type Stamped = (PathBuf, u64, u64);

/// A file by its contents up to [`CONTENT_LIMIT`], else by size and time;
/// a folder by its files' contents; nothing for a path that is not there.
pub fn stamp(arg: &str, written: &str, path: &Path) -> FileStamp {
    let mut s = FileStamp {
        arg: arg.into(),
        path: written.into(),
        sha256: None,
        size: None,
        modified: None,
    };
    let Ok(meta) = std::fs::metadata(path) else {
        return s;
    };
    if meta.is_dir() {
        s.sha256 = super::tree_sha256(path);
        return s;
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    if meta.len() > content_limit() {
        s.size = Some(meta.len());
        s.modified = Some(modified);
        return s;
    }
    let memo_key = (path.to_path_buf(), meta.len(), modified);
    if let Some(h) = HASHED
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(&memo_key).cloned()))
    {
        s.sha256 = Some(h);
        return s;
    }
    match super::sha256_file_stoppable(path) {
        Ok(h) => {
            if let Ok(mut m) = HASHED.lock() {
                m.get_or_insert_with(HashMap::new)
                    .insert(memo_key, h.clone());
            }
            s.sha256 = Some(h);
        }
        // Unreadable (or a stop asked for while hashing): its size and time.
        Err(_) => {
            s.size = Some(meta.len());
            s.modified = Some(modified);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(dir: &Path, text: &str) -> (Program, Plan) {
        let path = dir.join("p.advp");
        std::fs::write(&path, text).unwrap();
        let loaded = crate::language::loader::load_path(&path).unwrap();
        let outcome = crate::language::check(&loaded, &crate::language::Options::default());
        let program = outcome.program.expect("the pipeline checks");
        let plan = crate::graph::plan(&program).expect("a plan");
        (program, plan)
    }

    fn keys_by_name(
        program: &Program,
        plan: &Plan,
        dir: &Path,
        table: &Table,
    ) -> BTreeMap<String, String> {
        ingredients_with(program, plan, dir, table)
            .into_iter()
            .zip(&program.nodes)
            .map(|(ing, n)| (n.name.clone(), ing.expect("every node keyed").key()))
            .collect()
    }

    const PIPELINE: &str = "data d = synthetic(classes: 4)\n\
        model m = c3d_small(classes: d.classes)\n\
        model r = r3d(classes: d.classes)\n\
        train t = adversarial(m, d, attack: pgd(steps: 2), epochs: 1)\n\
        train u = standard(r, d, epochs: 1)\n\
        eval e = robustness([t], d.test)\n\
        eval f = robustness([u], d.test)\n";

    #[test]
    fn an_argument_at_its_default_is_not_in_the_key_written_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let (program, plan) = checked(dir.path(), PIPELINE);
        let table = Table::current();
        let keys = keys_by_name(&program, &plan, dir.path(), &table);
        // The table before `standard` had `nesterov`, and before `pgd` had
        // `random_start`: the nodes without them, the defaults without them.
        let mut before = program.clone();
        for n in &mut before.nodes {
            if n.name == "u" {
                assert_eq!(n.args.remove("nesterov"), Some(Value::Bool(false)));
            }
            if n.name == "t" {
                let Some(Value::Call { args, .. }) = n.args.get_mut("attack") else {
                    panic!("t's attack is a call: {:?}", n.args.get("attack"));
                };
                assert!(
                    args.remove("random_start").is_some(),
                    "pgd has random_start: {args:?}"
                );
            }
        }
        before
            .param_defaults
            .get_mut("standard")
            .unwrap()
            .remove("nesterov");
        before
            .param_defaults
            .get_mut("pgd")
            .unwrap()
            .remove("random_start");
        assert_eq!(keys_by_name(&before, &plan, dir.path(), &table), keys);
        // Written at its default: the same key; written otherwise: another.
        let (written, plan2) = checked(
            dir.path(),
            &PIPELINE.replace("epochs: 1)\neval e", "epochs: 1, nesterov: false)\neval e"),
        );
        assert_eq!(keys_by_name(&written, &plan2, dir.path(), &table), keys);
        let (other, plan3) = checked(
            dir.path(),
            &PIPELINE.replace(
                "standard(r, d, epochs: 1)",
                "standard(r, d, epochs: 1, nesterov: true)",
            ),
        );
        let changed = keys_by_name(&other, &plan3, dir.path(), &table);
        let differ: Vec<&String> = keys.keys().filter(|n| keys[*n] != changed[*n]).collect();
        assert_eq!(differ, ["f", "u"]);
    }

    #[test]
    fn a_new_behaviour_version_rekeys_that_builtins_nodes_and_what_reads_them_only() {
        let dir = tempfile::tempdir().unwrap();
        let (program, plan) = checked(dir.path(), PIPELINE);
        let keys = keys_by_name(&program, &plan, dir.path(), &Table::current());
        let bumped = |b: &str| builtins::behaviour(b) + u32::from(b == "c3d_small");
        let after = keys_by_name(&program, &plan, dir.path(), &Table { behaviour: &bumped });
        let differ: Vec<&String> = keys.keys().filter(|n| keys[*n] != after[*n]).collect();
        assert_eq!(differ, ["e", "m", "t"]);
        // A built-in a node calls: `pgd` is `t`'s attack and both
        // evaluations' default attack (`attack pgd`), not `u`'s.
        let bumped = |b: &str| builtins::behaviour(b) + u32::from(b == "pgd");
        let after = keys_by_name(&program, &plan, dir.path(), &Table { behaviour: &bumped });
        let differ: Vec<&String> = keys.keys().filter(|n| keys[*n] != after[*n]).collect();
        assert_eq!(differ, ["e", "f", "t"]);
    }

    #[test]
    fn the_encoding_is_pinned() {
        // A change of this key is a change of the encoding (map order,
        // number printing, a field): bump SCHEMA and keep a way to the
        // older entries (`legacy.rs`), never silently.
        let dir = tempfile::tempdir().unwrap();
        let (program, plan) = checked(dir.path(), PIPELINE);
        let keys = keys_by_name(&program, &plan, dir.path(), &Table::current());
        assert_eq!(
            keys["e"],
            "1017ab30a673bd0c48a8fb129453648898f9108bbdd9b2eff74f354180ce1a3d"
        );
    }

    #[test]
    fn a_file_is_keyed_by_its_contents_not_its_time() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        std::fs::write(&file, b"weights").unwrap();
        let a = stamp("path", "w.safetensors", &file);
        // Touched: a new time, the same contents.
        let f = std::fs::File::options().write(true).open(&file).unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
            .unwrap();
        drop(f);
        assert_eq!(stamp("path", "w.safetensors", &file), a);
        std::fs::write(&file, b"weightz").unwrap();
        let b = stamp("path", "w.safetensors", &file);
        assert_ne!(b.sha256, a.sha256);
        assert_eq!(
            stamp("path", "gone", &dir.path().join("gone")).shown(),
            "not there"
        );
    }
}
