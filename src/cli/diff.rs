//! `advp diff A B`: two evaluations' cells side by side, each change told
//! inside or beyond the noise of its 95% intervals, and the definition
//! differences that explain them (from the entries' key records).
//!
//! A and B are each a result JSON (a `.json` report of an evaluation, or
//! an entry's `result.json`), a cache entry folder, or an output folder
//! (its `.json` reports, matched by name).

use crate::runtime::cache::key::KeyRecord;
use crate::runtime::cache::{read_record, why, Cache};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A cell: its accuracy, interval and clip count.
#[derive(Clone, Debug, PartialEq)]
struct Cell {
    accuracy: f64,
    low: Option<f64>,
    high: Option<f64>,
    n: Option<u64>,
}

impl Cell {
    fn shown(&self) -> String {
        let pct = |x: f64| format!("{:.1}", 100.0 * x);
        match (self.low, self.high) {
            (Some(l), Some(h)) => format!("{}% [{}, {}]", pct(self.accuracy), pct(l), pct(h)),
            _ => format!("{}%", pct(self.accuracy)),
        }
    }

    fn contains(&self, x: f64) -> Option<bool> {
        Some(self.low? <= x && x <= self.high?)
    }
}

/// An evaluation's cells by (model, setting, ε).
fn cells(doc: &Value) -> Option<BTreeMap<(String, String, String), Cell>> {
    let rows = doc.get("rows")?.as_array()?;
    Some(
        rows.iter()
            .filter_map(|r| {
                let key = (
                    r["model"].as_str()?.to_string(),
                    r["setting"].as_str().unwrap_or_default().to_string(),
                    r["eps"].as_f64().map_or(String::new(), |e| format!("{e}")),
                );
                let cell = Cell {
                    accuracy: r["accuracy"].as_f64()?,
                    low: r["ci_low"].as_f64(),
                    high: r["ci_high"].as_f64(),
                    n: r["n"].as_u64(),
                };
                Some((key, cell))
            })
            .collect(),
    )
}

/// One side: its result JSON, and the key records that can explain it.
struct Side {
    shown: String,
    doc: Value,
    /// The entry folder it came from, if it is one.
    entry: Option<PathBuf>,
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", crate::util::shown(path)))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{} is not JSON: {e}", crate::util::shown(path)))
}

/// The pairs to compare: a file or entry against a file or entry, or the
/// `.json` reports two output folders share.
/// The pairs to compare, and the files only one side has.
type Pairs = (Vec<(Side, Side)>, Vec<String>);

fn pairs(a: &Path, b: &Path) -> Result<Pairs, String> {
    let side = |p: &Path| -> Result<Side, String> {
        let entry = p.is_dir() && p.join("result.json").is_file();
        let file = if entry {
            p.join("result.json")
        } else {
            p.to_path_buf()
        };
        Ok(Side {
            shown: crate::util::shown(p),
            doc: read_json(&file)?,
            entry: entry.then(|| p.to_path_buf()),
        })
    };
    let folder = |p: &Path| p.is_dir() && !p.join("result.json").is_file();
    if !(folder(a) && folder(b)) {
        if folder(a) || folder(b) {
            return Err(
                "compare two files, two cache entries or two output folders (a file or an entry on one side, a folder on the other)".into(),
            );
        }
        return Ok((vec![(side(a)?, side(b)?)], Vec::new()));
    }
    let names = |p: &Path| -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        n.sort();
        n
    };
    let (na, nb) = (names(a), names(b));
    let mut out = Vec::new();
    let mut alone = Vec::new();
    for n in &na {
        if nb.contains(n) {
            out.push((side(&a.join(n))?, side(&b.join(n))?));
        } else {
            alone.push(format!("{n} only in {}", crate::util::shown(a)));
        }
    }
    alone.extend(
        nb.iter()
            .filter(|n| !na.contains(n))
            .map(|n| format!("{n} only in {}", crate::util::shown(b))),
    );
    Ok((out, alone))
}

/// A key's record: in the entry itself, else in the cache.
fn record(cache: &Path, key: &str, entry: Option<&Path>) -> Option<KeyRecord> {
    entry
        .and_then(read_record)
        .filter(|r| r.key == key)
        .or_else(|| Cache::new(cache.to_path_buf()).record(key))
}

/// What differs between the definitions behind two keys, in words.
fn explain(cache: &Path, a: (&str, Option<&Path>), b: (&str, Option<&Path>)) -> Vec<String> {
    if a.0 == b.0 {
        return vec!["the same key: the same definition".into()];
    }
    match (record(cache, a.0, a.1), record(cache, b.0, b.1)) {
        (Some(ra), Some(rb)) => {
            let upstream = |name: &str| Some((ra.upstream.get(name)?.clone(), rb.upstream.get(name)?.clone()));
            let changes = why::changes(&ra.ingredients, &rb.ingredients, &upstream);
            if changes.is_empty() {
                vec!["other keys with the same ingredients".into()]
            } else {
                changes.iter().map(ToString::to_string).collect()
            }
        }
        _ => vec![format!(
            "keys {} and {}: their definitions are not in the cache {} (an entry keeps them in key.json)",
            &a.0[..12.min(a.0.len())],
            &b.0[..12.min(b.0.len())],
            crate::util::shown(cache)
        )],
    }
}

/// Compares one pair; gives its lines.
fn compare(cache: &Path, a: &Side, b: &Side) -> Vec<String> {
    let mut out = vec![format!("{} → {}", a.shown, b.shown)];
    let (Some(ca), Some(cb)) = (cells(&a.doc), cells(&b.doc)) else {
        out.push("  not an evaluation's result (no rows): nothing to compare".into());
        return out;
    };
    let mut changed = 0;
    for (k, x) in &ca {
        let (model, setting, eps) = k;
        let label = match eps.as_str() {
            "" | "0" => format!("{model}, {setting}"),
            e => format!("{model}, {setting}, ε {e}"),
        };
        let Some(y) = cb.get(k) else {
            out.push(format!("  {label}: only in the first"));
            continue;
        };
        if x == y {
            continue;
        }
        changed += 1;
        let noise = match (x.contains(y.accuracy), y.contains(x.accuracy)) {
            (Some(true), Some(true)) => "within the noise: each inside the other's 95% interval",
            (Some(false), Some(false)) => "beyond the noise: each outside the other's 95% interval",
            (Some(_), Some(_)) => "at the edge of the noise: one inside the other's 95% interval",
            _ => "no intervals to judge the noise by",
        };
        let n = match (x.n, y.n) {
            (Some(p), Some(q)) if p != q => format!(", {p} → {q} clips"),
            _ => String::new(),
        };
        out.push(format!(
            "  {label}: {} → {}{n} ({noise})",
            x.shown(),
            y.shown()
        ));
    }
    for k in cb.keys().filter(|k| !ca.contains_key(*k)) {
        out.push(format!("  {}, {}: only in the second", k.0, k.1));
    }
    out.insert(1, format!("  {changed} of {} cells changed", ca.len()));
    // The definitions behind them: the evaluation's, and each model's.
    let key = |d: &Value| d["key"].as_str().map(str::to_string);
    if let (Some(ka), Some(kb)) = (key(&a.doc), key(&b.doc)) {
        out.push(format!(
            "  evaluation: {}",
            explain(cache, (&ka, a.entry.as_deref()), (&kb, b.entry.as_deref())).join("; ")
        ));
    }
    let models = |d: &Value| -> BTreeMap<String, String> {
        d["model_keys"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (ma, mb) = (models(&a.doc), models(&b.doc));
    for (label, ka) in &ma {
        if let Some(kb) = mb.get(label).filter(|kb| *kb != ka) {
            out.push(format!(
                "  model `{label}`: {}",
                explain(cache, (ka, None), (kb, None)).join("; ")
            ));
        }
    }
    out
}

/// `advp diff A B`.
pub(super) fn diff(a: &Path, b: &Path, cache: Option<PathBuf>) -> i32 {
    let cache = cache.unwrap_or_else(|| PathBuf::from(".advp").join("cache"));
    let (pairs, alone) = match pairs(a, b) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if pairs.is_empty() {
        eprintln!(
            "error: no result JSON in both {} and {}",
            crate::util::shown(a),
            crate::util::shown(b)
        );
        return 2;
    }
    for (x, y) in &pairs {
        for line in compare(&cache, x, y) {
            println!("{line}");
        }
    }
    for line in alone {
        println!("{line}");
    }
    0
}
