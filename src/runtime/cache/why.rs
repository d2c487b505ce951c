//! Why a node runs: its key's ingredients against those of the entry it
//! had before ([`previous`]), component by component ([`changes`]), in
//! words a user can act on ([`Change`]'s `Display`).

use super::key::{FileStamp, Ingredients, KeyRecord};
use super::Cache;
use std::collections::BTreeMap;
use std::fmt;

/// One difference between a node's previous ingredients and its current.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Schema {
        old: u32,
        new: u32,
    },
    Builtin {
        old: String,
        new: String,
    },
    /// A built-in the node runs computes differently in this advp.
    Behaviour {
        builtin: String,
        old: u32,
        new: u32,
    },
    /// An argument: `None` where it was (or is) at its default.
    Argument {
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// A block statement: `None` where it was (or is) not written.
    Statement {
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// An input's key changed (`old` is `None` for a new input); `why` is
    /// what changed in it where it is no cached node of its own (a data or
    /// model node), else empty: the input's own line says.
    Input {
        name: String,
        added: bool,
        why: Vec<Change>,
    },
    InputRemoved {
        name: String,
    },
    File {
        arg: String,
        path: String,
        old: String,
        new: String,
    },
    Seed {
        old: u64,
        new: u64,
    },
    Precision {
        old: String,
        new: String,
    },
    Torch {
        old: String,
        new: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.to_string());
        match self {
            Change::Schema { old, new } => write!(f, "key schema {old} → {new}"),
            Change::Builtin { old, new } => write!(f, "built-in `{old}` → `{new}`"),
            Change::Behaviour { builtin, old, new } => write!(
                f,
                "`{builtin}` computes differently in this advp (behaviour version {old} → {new})"
            ),
            Change::Argument { name, old, new } => write!(
                f,
                "argument `{name}`: {} → {}",
                or(old, "default"),
                or(new, "default")
            ),
            Change::Statement { name, old, new } => write!(
                f,
                "statement `{name}`: {} → {}",
                or(old, "not written"),
                or(new, "not written")
            ),
            Change::Input {
                name, added: true, ..
            } => write!(f, "new input `{name}`"),
            Change::Input { name, why, .. } if why.is_empty() => {
                write!(f, "input `{name}` changed (see `{name}`)")
            }
            Change::Input { name, why, .. } => write!(
                f,
                "input `{name}` changed: {}",
                why.iter()
                    .map(Change::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Change::InputRemoved { name } => write!(f, "input `{name}` is no longer read"),
            Change::File {
                arg,
                path,
                old,
                new,
            } => {
                write!(f, "file \"{path}\" (`{arg}`) changed: {old} → {new}")
            }
            Change::Seed { old, new } => write!(f, "seed {old} → {new}"),
            Change::Precision { old, new } => write!(f, "precision {old} → {new}"),
            Change::Torch { old, new } => write!(f, "libtorch {old} → {new}"),
        }
    }
}

/// A value of a key's ingredients as `.advp` text: `0.05`, `pgd(steps: 2)`,
/// `[t, u]`, `d.test`.
pub fn shown(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    let list = |items: &J| {
        items
            .as_array()
            .map(|a| a.iter().map(shown).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let (Some(ty), Some(value)) = (v.get("type").and_then(J::as_str), v.get("value")) else {
        return match v.get("type").and_then(J::as_str) {
            Some("inf") => "inf".into(),
            Some("no_attack") => "none".into(),
            _ => v.to_string(),
        };
    };
    match ty {
        "str" => value.to_string(),
        "num" | "int" | "bool" => value.to_string(),
        "choice" | "node" => value.as_str().unwrap_or_default().to_string(),
        "list" => format!("[{}]", list(value).join(", ")),
        "compose" => list(value).join(" >> "),
        "split" | "field" => format!(
            "{}.{}",
            value["data"]
                .as_str()
                .or(value["node"].as_str())
                .unwrap_or_default(),
            value["split"]
                .as_str()
                .or(value["field"].as_str())
                .unwrap_or_default()
        ),
        "call" => format!(
            "{}({})",
            value["builtin"].as_str().unwrap_or_default(),
            fields(&value["args"])
        ),
        "record" => format!("{{{}}}", fields(value)),
        _ => value.to_string(),
    }
}

/// `name: value, …` of a JSON object of values.
fn fields(map: &serde_json::Value) -> String {
    map.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, a)| format!("{k}: {}", shown(a)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A block statement of a key's ingredients as `.advp` text.
fn shown_stmt(s: &serde_json::Value) -> String {
    let values = |v: &serde_json::Value| {
        v.as_array()
            .map(|a| a.iter().map(shown).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    match s["form"].as_str() {
        Some("schedule") => format!(
            "{} {}{}",
            s["mode"].as_str().unwrap_or_default(),
            values(&s["values"]),
            s["every"]
                .as_u64()
                .map_or(String::new(), |e| format!(" every {e}"))
        ),
        Some("setting") => format!(
            "{}{}",
            if s["grid"].as_bool() == Some(true) {
                "grid "
            } else {
                ""
            },
            shown(&s["value"])
        ),
        _ => s.to_string(),
    }
}

fn map_changes<V: PartialEq>(
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
    show: impl Fn(&V) -> String,
    mut make: impl FnMut(String, Option<String>, Option<String>),
) {
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    for n in names {
        let (a, b) = (old.get(n), new.get(n));
        if a != b {
            make(n.clone(), a.map(&show), b.map(&show));
        }
    }
}

/// What differs between the ingredients `old` and `new` of one node;
/// `upstream` gives the ingredients an input had then and has now, for the
/// inputs that are no cached node of their own.
pub fn changes(
    old: &Ingredients,
    new: &Ingredients,
    upstream: &dyn Fn(&str) -> Option<(Ingredients, Ingredients)>,
) -> Vec<Change> {
    let mut out = Vec::new();
    if old.schema != new.schema {
        out.push(Change::Schema {
            old: old.schema,
            new: new.schema,
        });
    }
    if old.builtin != new.builtin {
        out.push(Change::Builtin {
            old: old.builtin.clone(),
            new: new.builtin.clone(),
        });
    } else {
        // A built-in new to the node shows as the argument or statement
        // that calls it; one whose version changed, here.
        for (b, v) in &new.behaviour {
            if let Some(o) = old.behaviour.get(b).filter(|o| *o != v) {
                out.push(Change::Behaviour {
                    builtin: b.clone(),
                    old: *o,
                    new: *v,
                });
            }
        }
    }
    map_changes(&old.args, &new.args, shown, |name, old, new| {
        out.push(Change::Argument { name, old, new })
    });
    map_changes(&old.stmts, &new.stmts, shown_stmt, |name, old, new| {
        out.push(Change::Statement { name, old, new })
    });
    for (name, key) in &new.inputs {
        match old.inputs.get(name) {
            Some(k) if k == key => {}
            Some(_) => out.push(Change::Input {
                name: name.clone(),
                added: false,
                why: upstream(name)
                    .map(|(a, b)| changes(&a, &b, upstream))
                    .unwrap_or_default(),
            }),
            None => out.push(Change::Input {
                name: name.clone(),
                added: true,
                why: Vec::new(),
            }),
        }
    }
    for name in old.inputs.keys().filter(|n| !new.inputs.contains_key(*n)) {
        out.push(Change::InputRemoved { name: name.clone() });
    }
    let files = |fs: &[FileStamp]| -> BTreeMap<String, FileStamp> {
        fs.iter()
            .map(|f| (format!("{}\u{0}{}", f.arg, f.path), f.clone()))
            .collect()
    };
    let (a, b) = (files(&old.files), files(&new.files));
    for (id, f) in &b {
        match a.get(id) {
            Some(o) if o == f => {}
            o => out.push(Change::File {
                arg: f.arg.clone(),
                path: f.path.clone(),
                old: o.map_or_else(|| "not read".to_string(), FileStamp::shown),
                new: f.shown(),
            }),
        }
    }
    for (id, f) in &a {
        if !b.contains_key(id) {
            out.push(Change::File {
                arg: f.arg.clone(),
                path: f.path.clone(),
                old: f.shown(),
                new: "not read".into(),
            });
        }
    }
    if old.seed != new.seed {
        out.push(Change::Seed {
            old: old.seed,
            new: new.seed,
        });
    }
    if old.precision != new.precision {
        let p = |p: &Option<String>| p.clone().unwrap_or_else(|| "fp32".into());
        out.push(Change::Precision {
            old: p(&old.precision),
            new: p(&new.precision),
        });
    }
    if old.torch != new.torch {
        let t = |t: &Option<String>| t.clone().unwrap_or_else(|| "none".into());
        out.push(Change::Torch {
            old: t(&old.torch),
            new: t(&new.torch),
        });
    }
    out
}

/// Every entry's key record, read once (for `why` over many nodes).
pub struct Records(Vec<(std::time::SystemTime, KeyRecord)>);

impl Records {
    pub fn load(cache: &Cache) -> Records {
        Records(
            cache
                .entries()
                .into_iter()
                .filter_map(|dir| {
                    let r = super::read_record(&dir)?;
                    let when = std::fs::metadata(dir.join(super::key::KEY_FILE))
                        .and_then(|m| m.modified())
                        .ok()?;
                    Some((when, r))
                })
                .collect(),
        )
    }

    /// The entry node `node` (of `kind`) of the pipeline file `pipeline`
    /// had before, the newest: of the same seed, else of another (a new
    /// seed is then the change). Entries of other pipelines are not its.
    pub fn previous(
        &self,
        node: &str,
        kind: &str,
        pipeline: &str,
        seed: u64,
    ) -> Option<&KeyRecord> {
        self.0
            .iter()
            .filter(|(_, r)| r.node == node && r.ingredients.kind == kind && r.pipeline == pipeline)
            .max_by_key(|(when, r)| (r.ingredients.seed == seed, *when))
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingredients(args: serde_json::Value, inputs: &[(&str, &str)]) -> Ingredients {
        Ingredients {
            schema: 2,
            kind: "train".into(),
            builtin: "standard".into(),
            behaviour: BTreeMap::from([("standard".to_string(), 1)]),
            args: serde_json::from_value(args).unwrap(),
            stmts: BTreeMap::new(),
            inputs: inputs
                .iter()
                .map(|(n, k)| (n.to_string(), k.to_string()))
                .collect(),
            seed: 0,
            precision: None,
            files: Vec::new(),
            torch: None,
        }
    }

    #[test]
    fn an_argument_and_an_input_that_changed_are_named_with_old_and_new() {
        let old = ingredients(
            serde_json::json!({ "lr": { "type": "num", "value": 0.05 } }),
            &[("m", "k1"), ("d", "k2")],
        );
        let mut new = ingredients(
            serde_json::json!({
                "lr": { "type": "num", "value": 0.1 },
                "attack": { "type": "call", "value": { "builtin": "pgd", "args": { "steps": { "type": "int", "value": 3 } } } }
            }),
            &[("m", "k3"), ("d", "k2")],
        );
        new.seed = 2;
        let upstream = |n: &str| {
            (n == "m").then(|| {
                let a = ingredients(
                    serde_json::json!({ "width": { "type": "int", "value": 4 } }),
                    &[],
                );
                let b = ingredients(serde_json::json!({}), &[]);
                (a, b)
            })
        };
        let words: Vec<String> = changes(&old, &new, &upstream)
            .iter()
            .map(Change::to_string)
            .collect();
        assert_eq!(
            words,
            [
                "argument `attack`: default → pgd(steps: 3)",
                "argument `lr`: 0.05 → 0.1",
                "input `m` changed: argument `width`: 4 → default",
                "seed 0 → 2",
            ]
        );
        assert!(changes(&new, &new, &upstream).is_empty());
    }
}
