//! `advp cache ls` and `advp cache gc`: the cache's entries, and which of
//! them a collection removes. Only folders advp made are ever listed or
//! removed: an entry (`<32 hex>`), a working folder (`<32 hex>.partial`)
//! or an entry set aside as damaged (`corrupt/<32 hex>-<seconds>`), each
//! a real folder (never a link); anything else in the cache folder is
//! left alone. A locked entry, or one a given pipeline refers to, is never
//! removed.

use super::{read_record, Cache};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What an entry folder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// A finished entry.
    Finished,
    /// A node's working folder: its checkpoints, or a node running now.
    Partial,
    /// Set aside as damaged by a run (`corrupt/`).
    SetAside,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Finished => "finished",
            State::Partial => "partial",
            State::SetAside => "damaged",
        }
    }
}

/// One entry folder of the cache.
#[derive(Clone, Debug)]
pub struct Listed {
    pub dir: PathBuf,
    /// Its 32-digit name (the key's first half).
    pub name: String,
    pub state: State,
    /// The node's name, its pipeline's stem and seed, as the entry says.
    pub node: Option<String>,
    pub pipeline: Option<String>,
    /// The pipeline file that wrote it (absolute), where the entry says.
    pub pipeline_path: Option<String>,
    pub seed: Option<u64>,
    /// The key schema it was written under (1: no `key.json`).
    pub schema: u32,
    pub bytes: u64,
    /// When it was last written.
    pub modified: SystemTime,
    /// Another process holds its lock now.
    pub locked: bool,
}

fn hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A folder of advp's own, never through a link.
fn real_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

fn size_and_time(dir: &Path) -> (u64, SystemTime) {
    let mut bytes = 0;
    let mut newest = std::fs::symlink_metadata(dir)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            // Links are counted as themselves, never followed.
            let Ok(m) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                bytes += m.len();
                if let Ok(t) = m.modified() {
                    newest = newest.max(t);
                }
            }
        }
    }
    (bytes, newest)
}

/// What the entry says it is: `key.json` (schema 2), else `node.json`.
fn describe(
    dir: &Path,
) -> (
    Option<String>,
    Option<String>,
    Option<u64>,
    u32,
    Option<String>,
) {
    if let Some(r) = read_record(dir) {
        let stem = Path::new(&r.pipeline)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned());
        return (
            Some(r.node),
            stem,
            Some(r.ingredients.seed),
            r.schema,
            Some(r.pipeline),
        );
    }
    let node: Option<serde_json::Value> = std::fs::read_to_string(dir.join("node.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    match node {
        Some(v) => (
            v["node"]["name"].as_str().map(str::to_string),
            None,
            v["seed"].as_u64(),
            1,
            None,
        ),
        None => (None, None, None, 1, None),
    }
}

impl Cache {
    /// Every folder of advp's own in the cache, oldest first.
    pub fn listing(&self) -> Vec<Listed> {
        let mut out = Vec::new();
        let mut add = |dir: PathBuf, name: &str, state: State| {
            let (node, pipeline, seed, schema, pipeline_path) = describe(&dir);
            let (bytes, modified) = size_and_time(&dir);
            let locked =
                state != State::SetAside && self.root.join(format!("{name}.lock")).exists();
            out.push(Listed {
                dir,
                name: name.to_string(),
                state,
                node,
                pipeline,
                pipeline_path,
                seed,
                schema,
                bytes,
                modified,
                locked,
            });
        };
        for e in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let file = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if !real_dir(&path) {
                continue;
            }
            if hex32(&file) {
                add(path, &file, State::Finished);
            } else if let Some(name) = file.strip_suffix(".partial").filter(|n| hex32(n)) {
                add(path, name, State::Partial);
            }
        }
        // `corrupt/` itself a real folder: never a link out of the cache.
        let aside = self.root.join("corrupt");
        let entries = real_dir(&aside)
            .then(|| std::fs::read_dir(&aside).ok())
            .flatten();
        for e in entries.into_iter().flatten().flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let aside = file.split_once('-').filter(|(n, secs)| {
                hex32(n) && !secs.is_empty() && secs.bytes().all(|b| b.is_ascii_digit())
            });
            if let (Some((name, _)), true) = (aside, real_dir(&e.path())) {
                add(e.path(), name, State::SetAside);
            }
        }
        out.sort_by(|a, b| (a.modified, &a.name).cmp(&(b.modified, &b.name)));
        out
    }

    /// Removes an entry folder [`Cache::listing`] gave, under its lock
    /// (refused while another process holds it; the lock names this one,
    /// as a run's does): first renamed out of its place in one step, so a
    /// run never sees half of it, then deleted.
    pub fn remove(&self, entry: &Listed) -> Result<(), String> {
        use std::io::Write;
        let lock = self.root.join(format!("{}.lock", entry.name));
        let _held = match entry.state {
            State::SetAside => None,
            _ => match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(mut f) => {
                    let _ = f.write_all(super::lock::Holder::me().line().as_bytes());
                    Some(RemoveOnDrop(lock))
                }
                Err(e) => return Err(format!("it is locked ({e})")),
            },
        };
        if !real_dir(&entry.dir) {
            return Err("it is no longer a folder of the cache".into());
        }
        let trash = self
            .root
            .join(format!(".gc-{}-{}", entry.name, std::process::id()));
        std::fs::rename(&entry.dir, &trash).map_err(|e| e.to_string())?;
        std::fs::remove_dir_all(&trash).map_err(|e| e.to_string())
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What a collection keeps and removes.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// The keys' names (first 32 digits) the given pipelines refer to;
    /// `None`: no pipeline given.
    pub referenced: Option<HashSet<String>>,
    /// Keep the newest N finished entries of each node (its pipeline file,
    /// name and seed; a profile's entries and the file's count as one node's).
    pub keep_last: Option<usize>,
    /// Remove only what was last written longer ago than this.
    pub older_than: Option<Duration>,
}

/// Why an entry is kept, or `None`: it is removed.
#[derive(Clone, Debug, PartialEq)]
pub enum Kept {
    Referenced,
    Locked,
    Newest,
    Recent,
}

impl Kept {
    pub fn word(&self) -> &'static str {
        match self {
            Kept::Referenced => "referenced",
            Kept::Locked => "locked",
            Kept::Newest => "newest",
            Kept::Recent => "recent",
        }
    }
}

/// Each entry of `entries` (oldest first) with why it is kept, or `None`
/// where the policy removes it. Every criterion given must hold for an
/// entry to go; a referenced or locked entry always stays.
pub fn judge(entries: &[Listed], policy: &Policy, now: SystemTime) -> Vec<Option<Kept>> {
    // The newest `keep_last` finished entries of each node.
    let mut newest: HashSet<usize> = HashSet::new();
    if let Some(n) = policy.keep_last {
        type Node = (Option<String>, Option<String>, Option<u64>);
        let mut groups: BTreeMap<Node, Vec<usize>> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            if e.state == State::Finished {
                groups
                    .entry((e.pipeline_path.clone(), e.node.clone(), e.seed))
                    .or_default()
                    .push(i);
            }
        }
        for ids in groups.values() {
            newest.extend(ids.iter().rev().take(n));
        }
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if policy
                .referenced
                .as_ref()
                .is_some_and(|r| r.contains(&e.name))
            {
                return Some(Kept::Referenced);
            }
            if e.locked {
                return Some(Kept::Locked);
            }
            if policy.keep_last.is_some() && (newest.contains(&i) || e.state != State::Finished) {
                return Some(Kept::Newest);
            }
            if let Some(d) = policy.older_than {
                if now.duration_since(e.modified).unwrap_or_default() <= d {
                    return Some(Kept::Recent);
                }
            }
            None
        })
        .collect()
}

/// `30d`, `12h`, `90m`, `2w`, `45s`.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{text}` is no age; write a number and a unit: 30d, 12h, 90m, 2w"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => {
            return Err(format!(
                "`{text}`: the unit is s, m, h, d or w (30d, 12h, 90m, 2w)"
            ))
        }
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, node: &str, state: State, age_days: u64, locked: bool) -> Listed {
        Listed {
            dir: PathBuf::from(name),
            name: name.into(),
            state,
            node: Some(node.into()),
            pipeline: Some("p".into()),
            pipeline_path: Some("/w/p.advp".into()),
            seed: Some(0),
            schema: 2,
            bytes: 1,
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(100 * 86400 - age_days * 86400),
            locked,
        }
    }

    #[test]
    fn referenced_and_locked_entries_stay_and_every_criterion_must_hold() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100 * 86400);
        // Oldest first.
        let entries = vec![
            entry("a", "t", State::Finished, 40, false),
            entry("b", "t", State::Finished, 35, true),
            entry("c", "t", State::Finished, 20, false),
            entry("d", "t", State::Finished, 1, false),
            entry("e", "e", State::Partial, 50, false),
        ];
        let words = |policy: &Policy| -> Vec<&'static str> {
            judge(&entries, policy, now)
                .iter()
                .map(|k| k.as_ref().map_or("removed", Kept::word))
                .collect()
        };
        let referenced = Some(HashSet::from(["d".to_string()]));
        assert_eq!(
            words(&Policy {
                referenced: referenced.clone(),
                ..Policy::default()
            }),
            ["removed", "locked", "removed", "referenced", "removed"]
        );
        assert_eq!(
            words(&Policy {
                keep_last: Some(1),
                ..Policy::default()
            }),
            ["removed", "locked", "removed", "newest", "newest"]
        );
        assert_eq!(
            words(&Policy {
                referenced,
                keep_last: Some(2),
                older_than: Some(Duration::from_secs(30 * 86400)),
            }),
            ["removed", "locked", "newest", "referenced", "newest"]
        );
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert!(parse_age("30 days").is_err());
        assert!(parse_age("d").is_err());
    }
}
