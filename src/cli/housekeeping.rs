//! `advp cache ls` and `advp cache gc`.

use super::{offline, replicas, Folders, Format, PipelineArgs, RunArgs};
use crate::runtime::cache::gc::{self, Listed, Policy};
use crate::runtime::cache::{self, Cache};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::SystemTime;

fn root(cache: Option<PathBuf>) -> PathBuf {
    cache.unwrap_or_else(|| PathBuf::from(".advp").join("cache"))
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn age(t: SystemTime, now: SystemTime) -> String {
    let s = now.duration_since(t).unwrap_or_default().as_secs();
    match s {
        s if s >= 86400 => format!("{}d", s / 86400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn json_of(e: &Listed, now: SystemTime) -> serde_json::Value {
    serde_json::json!({
        "entry": e.name,
        "path": e.dir.display().to_string(),
        "state": e.state.word(),
        "node": e.node,
        "pipeline": e.pipeline,
        "seed": e.seed,
        "schema": e.schema,
        "bytes": e.bytes,
        "age_seconds": now.duration_since(e.modified).unwrap_or_default().as_secs(),
        "locked": e.locked,
    })
}

fn line(e: &Listed, now: SystemTime) -> String {
    format!(
        "{:<12} {:<9} {:<16} {:<14} {:>4} {:>10} {:>5}{}",
        &e.name[..12],
        e.state.word(),
        e.node.as_deref().unwrap_or("?"),
        e.pipeline.as_deref().unwrap_or("?"),
        e.seed.map_or("?".into(), |s| s.to_string()),
        size(e.bytes),
        age(e.modified, now),
        if e.locked { "  locked" } else { "" }
    )
}

const HEADER: &str = "entry        state     node             pipeline       seed       size   age";

/// `advp cache ls`: every entry, oldest first.
pub(super) fn ls(cache: Option<PathBuf>, format: Format) -> i32 {
    let root = root(cache);
    let entries = Cache::new(root.clone()).listing();
    let now = SystemTime::now();
    if format == Format::Json {
        let list: Vec<serde_json::Value> = entries.iter().map(|e| json_of(e, now)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return 0;
    }
    println!("{HEADER}");
    for e in &entries {
        println!("{}", line(e, now));
    }
    eprintln!(
        "advp: {} entries in {}, {} in all",
        entries.len(),
        crate::util::shown(&root),
        size(entries.iter().map(|e| e.bytes).sum())
    );
    0
}

/// How the pipelines' entries were run: `--seeds` and `--set`.
type AsRun<'a> = (&'a [u64], &'a [String]);

/// The entry names every node of `file` refers to: under the file itself
/// and each of its profiles, every seed (the file's, and `--seeds`), with
/// `--set`, and its keys of schema 1.
fn referenced(
    file: &std::path::Path,
    (seeds, sets): AsRun,
    names: &mut HashSet<String>,
) -> Result<(), i32> {
    let base = PipelineArgs {
        file: file.to_path_buf(),
        ..PipelineArgs::default()
    };
    let (program, plan, opts) = offline(&base, &RunArgs::default(), &Folders::default())?;
    referenced_by(&program, &plan, &opts.base, names);
    let mut profiles: Vec<Option<String>> = vec![None];
    profiles.extend(program.profiles.iter().cloned().map(Some));
    for profile in profiles {
        // Each profile as written, and each with `--set` and `--seeds`
        // (the file as written is the one above).
        let mut runs = Vec::new();
        if profile.is_some() {
            runs.push((Vec::new(), Vec::new()));
        }
        if !sets.is_empty() || !seeds.is_empty() {
            runs.push((seeds.to_vec(), sets.to_vec()));
        }
        for (seeds, sets) in runs {
            let args = PipelineArgs {
                file: file.to_path_buf(),
                profile: profile.clone(),
                sets,
                seeds,
            };
            let (program, plan, opts) = offline(&args, &RunArgs::default(), &Folders::default())?;
            referenced_by(&program, &plan, &opts.base, names);
        }
    }
    Ok(())
}

fn referenced_by(
    program: &crate::language::Program,
    plan: &crate::graph::Plan,
    base: &std::path::Path,
    names: &mut HashSet<String>,
) {
    for p in replicas(program) {
        for k in cache::key::ingredients(&p, plan, base) {
            names.insert(k.key()[..32].to_string());
        }
        for k in cache::legacy::keys(&p, plan, base) {
            names.insert(k[..32].to_string());
        }
    }
}

/// `advp cache gc`: what the policy removes, removed with `--yes`.
pub(super) fn collect(
    files: &[PathBuf],
    as_run: AsRun,
    keep_last: Option<usize>,
    older_than: Option<String>,
    yes: bool,
    cache: Option<PathBuf>,
) -> i32 {
    if files.is_empty() && keep_last.is_none() && older_than.is_none() {
        eprintln!(
            "error: `advp cache gc` needs what to keep: pipeline files (their entries stay, the others go), `--keep-last N` (each node's N newest) or `--older-than 30d`"
        );
        return 2;
    }
    let older_than = match older_than.as_deref().map(gc::parse_age).transpose() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: --older-than {e}");
            return 2;
        }
    };
    let referenced = match files.is_empty() {
        true => None,
        false => {
            let mut names = HashSet::new();
            for f in files {
                if let Err(code) = referenced(f, as_run, &mut names) {
                    eprintln!(
                        "error: `{}` does not check, so the entries it refers to are unknown; nothing was removed",
                        crate::util::shown(f)
                    );
                    return code;
                }
            }
            Some(names)
        }
    };
    let root = root(cache);
    let store = Cache::new(root.clone());
    let entries = store.listing();
    let now = SystemTime::now();
    let verdicts = gc::judge(
        &entries,
        &Policy {
            referenced,
            keep_last,
            older_than,
        },
        now,
    );
    let (mut freed, mut removed, mut failed) = (0u64, 0usize, 0usize);
    for (e, kept) in entries.iter().zip(&verdicts) {
        match kept {
            Some(why) => println!("keep    {}  ({})", line(e, now), why.word()),
            None if !yes => {
                println!("remove  {}", line(e, now));
                freed += e.bytes;
                removed += 1;
            }
            None => match store.remove(e) {
                Ok(()) => {
                    println!("removed {}", line(e, now));
                    freed += e.bytes;
                    removed += 1;
                }
                Err(why) => {
                    println!("kept    {}  (could not remove: {why})", line(e, now));
                    failed += 1;
                }
            },
        }
    }
    if yes {
        eprintln!(
            "advp: removed {removed} of {} entries in {}, {} freed{}",
            entries.len(),
            crate::util::shown(&root),
            size(freed),
            if failed > 0 {
                format!("; {failed} could not be removed")
            } else {
                String::new()
            }
        );
    } else {
        eprintln!(
            "advp: would remove {removed} of {} entries in {} ({}); nothing was removed: run again with `--yes` to remove them",
            entries.len(),
            crate::util::shown(&root),
            size(freed)
        );
    }
    i32::from(failed > 0)
}
