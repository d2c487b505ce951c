//! The files the nodes read, for the page's "Files read" and the run's
//! warnings: each file's SHA-256 as the cached results recorded it when they
//! were computed ([`crate::runtime::provenance`]), and whether the file on
//! disk differs now. A file no entry recorded (entries of an advp before the
//! record) shows its hash as it is now, as before.

use super::Replicates;
use crate::language::builtins::READ_PATHS;
use crate::language::program::{Program, Value};
use crate::runtime::provenance;

/// One file a node names.
pub struct FileRow {
    pub node: String,
    pub path: String,
    /// Its SHA-256 now, or why there is none (a folder, not there).
    pub now: Result<String, String>,
    /// The hashes the cached results recorded for it, each once, with the
    /// nodes whose entries recorded it.
    pub recorded: Vec<(String, Vec<String>)>,
}

impl FileRow {
    /// Recorded hashes that differ from the file now.
    pub fn changed(&self) -> Vec<&(String, Vec<String>)> {
        self.recorded
            .iter()
            .filter(|(sha, _)| self.now.as_ref() != Ok(sha))
            .collect()
    }
}

/// Every file the program's nodes name, each once, in the program's order.
pub fn rows(program: &Program, replicates: &Replicates, base: &std::path::Path) -> Vec<FileRow> {
    // Every finished entry's record, once.
    let mut records = Vec::new();
    for (j, n) in program.nodes.iter().enumerate() {
        for k in 0..replicates.seeds.len() {
            if let Some(files) = provenance::recorded(&replicates.dir(k, j)) {
                records.push((n.name.clone(), files));
            }
        }
    }
    let mut out: Vec<FileRow> = Vec::new();
    for n in &program.nodes {
        for key in READ_PATHS {
            let Some(Value::Str(p)) = n.args.get(*key) else {
                continue;
            };
            if out.iter().any(|r| &r.path == p) {
                continue;
            }
            let path = provenance::resolve(base, p);
            let now = if path.is_dir() {
                Err("(a folder)".to_string())
            } else {
                provenance::hash_now(&path)
                    .map(|(_, h)| h)
                    .map_err(|_| "(not there now)".to_string())
            };
            let mut recorded: Vec<(String, Vec<String>)> = Vec::new();
            for (by, files) in &records {
                for f in files.iter().filter(|f| &f.path == p) {
                    match recorded.iter_mut().find(|(sha, _)| sha == &f.sha256) {
                        Some((_, nodes)) if !nodes.contains(by) => nodes.push(by.clone()),
                        Some(_) => {}
                        None => recorded.push((f.sha256.clone(), vec![by.clone()])),
                    }
                }
            }
            out.push(FileRow {
                node: n.name.clone(),
                path: p.clone(),
                now,
                recorded,
            });
        }
    }
    out
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// One warning per file that differs now from what cached results were
/// computed from.
pub fn warnings(rows: &[FileRow]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        for (sha, nodes) in r.changed() {
            let now = match &r.now {
                Ok(h) => format!("now {}…", short(h)),
                Err(why) => why.trim_matches(|c| c == '(' || c == ')').to_string(),
            };
            out.push(format!(
                "`{}` (read by `{}`) changed since the cached results of {} were computed from it: SHA-256 then {}…, {now}. Their numbers are the old file's; run with `--force` to compute them from the file as it is now",
                r.path,
                r.node,
                nodes
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                short(sha)
            ));
        }
    }
    out
}
