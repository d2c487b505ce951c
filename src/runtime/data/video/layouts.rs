//! Where each layout keeps its videos and labels: the lists of train and
//! test videos, before any is opened.

use super::{Listed, EXTENSIONS};
use crate::runtime::data::frames;
use crate::runtime::error::{NodeError, NodeResult};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Class names (index = label) and the videos of each split.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub classes: Vec<String>,
    pub train: Vec<Listed>,
    pub test: Vec<Listed>,
}

fn data_error(msg: String) -> NodeError {
    NodeError::Data(msg)
}

/// A text file of at most 256 MiB (a list, an annotation file), as UTF-8.
fn read_text(path: &Path, what: &str) -> NodeResult<String> {
    if !path.is_file() {
        return Err(data_error(format!("{what} {} is missing", path.display())));
    }
    let bytes = crate::util::read_regular(path, 256 << 20)
        .map_err(|e| data_error(format!("cannot read {what}: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        data_error(format!(
            "cannot read {what} {}: {e}; it must be UTF-8 text",
            path.display()
        ))
    })
}

/// The fields of one CSV line; a field in double quotes may hold commas
/// (`""` is a quote).
pub fn csv_fields(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field).trim().to_string()),
            _ => field.push(c),
        }
    }
    fields.push(field.trim().to_string());
    fields
}

/// Numbers labels: whole numbers stay as they are; names are numbered in
/// sorted order over every split.
fn number(
    classes_of: &[(PathBuf, String, String)],
    tests: &[(PathBuf, String, String)],
) -> NodeResult<(Vec<String>, Vec<Listed>, Vec<Listed>)> {
    let all = classes_of.iter().chain(tests);
    let numeric = all.clone().all(|(_, l, _)| l.parse::<i64>().is_ok());
    let classes: Vec<String> = if numeric {
        let most = all
            .clone()
            .map(|(_, l, _)| l.parse::<i64>().unwrap_or(0))
            .max()
            .unwrap_or(-1);
        if let Some((_, l, origin)) = all.clone().find(|(_, l, _)| l.starts_with('-')) {
            return Err(data_error(format!(
                "{origin}: the label {l} is negative; labels are class numbers from 0 or class names"
            )));
        }
        (0..=most).map(|i| i.to_string()).collect()
    } else {
        let names: BTreeSet<&str> = all.clone().map(|(_, l, _)| l.as_str()).collect();
        names.into_iter().map(str::to_string).collect()
    };
    let index: BTreeMap<&str, i64> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as i64))
        .collect();
    let listed = |v: &[(PathBuf, String, String)]| {
        v.iter()
            .map(|(p, l, _)| Listed {
                path: p.clone(),
                label: index[l.as_str()],
            })
            .collect()
    };
    Ok((classes.clone(), listed(classes_of), listed(tests)))
}

/// A list file's videos: lines `path,label`, paths relative to the file's
/// folder; a first line `path,label` is a header; blank lines and lines
/// from `#` are skipped.
fn list_file(path: &Path) -> NodeResult<Vec<(PathBuf, String, String)>> {
    let text = read_text(path, "the video list")?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = format!("{}:{}", path.display(), n + 1);
        let f = csv_fields(line);
        if n == 0 && f.len() == 2 && f[0] == "path" && f[1] == "label" {
            continue;
        }
        if f.len() != 2 || f[0].is_empty() || f[1].is_empty() {
            return Err(data_error(format!(
                "{origin}: `{line}` is not `path,label`; each line names one video and its class \
                 (a number from 0 or a name)"
            )));
        }
        out.push((dir.join(&f[0]), f[1].clone(), origin));
    }
    Ok(out)
}

/// `videos(train: …, test: …)`: two list files.
pub fn lists(train: &Path, test: &Path) -> NodeResult<Listing> {
    let (tr, te) = (list_file(train)?, list_file(test)?);
    let (classes, train, test) = number(&tr, &te)?;
    Ok(Listing {
        classes,
        train,
        test,
    })
}

/// The file of a video named `stem` in `dir`, whatever its container.
fn find_video(dir: &Path, stem: &str) -> PathBuf {
    EXTENSIONS
        .iter()
        .map(|e| dir.join(format!("{stem}.{e}")))
        .find(|p| p.is_file())
        .unwrap_or_else(|| dir.join(format!("{stem}.mp4")))
}

/// UCF101 or HMDB51 as their archives extract (`<class>/<video>.avi`), with
/// the official split files as for frame folders.
pub fn archive(root: &Path, split: u32, kind: frames::Kind) -> NodeResult<Listing> {
    let (classes, train, test) = frames::split_lists(root, split, kind)?;
    let listed = |v: Vec<(usize, String)>| {
        v.into_iter()
            .map(|(class, stem)| {
                let dir = root.join(&classes[class]);
                let avi = dir.join(format!("{stem}.avi"));
                Listed {
                    path: if avi.is_file() {
                        avi
                    } else {
                        find_video(&dir, &stem)
                    },
                    label: class as i64,
                }
            })
            .collect()
    };
    Ok(Listing {
        train: listed(train),
        test: listed(test),
        classes,
    })
}

/// The first of `names` that is a folder in `root`.
fn first_dir(root: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| root.join(n)).find(|p| p.is_dir())
}

/// Kinetics-400/600/700. With the official annotations
/// (`annotations/train.csv` and `annotations/validate.csv`, or the same
/// names in the root), each row's video is
/// `<split>/<label>/<youtube_id>_<start:06>_<end:06>.mp4` or the same name
/// flat in `<split>/`; without them, the class folders of `train/` and
/// `val/` (or `validate/`). The test split is Kinetics' validation set (its
/// test labels are not public).
pub fn kinetics(root: &Path) -> NodeResult<Listing> {
    if !root.is_dir() {
        return Err(data_error(format!(
            "Kinetics root {} does not exist or is not a folder",
            root.display()
        )));
    }
    let train_dir = first_dir(root, &["train", "training"]);
    let val_dir = first_dir(root, &["val", "validate", "validation", "valid"]);
    let csv = |names: &[&str]| {
        names
            .iter()
            .flat_map(|n| [root.join("annotations").join(n), root.join(n)])
            .find(|p| p.is_file())
    };
    let (train_csv, val_csv) = (
        csv(&["train.csv"]),
        csv(&["validate.csv", "val.csv", "validation.csv"]),
    );
    let (tr, te) = match (train_csv, val_csv) {
        (Some(t), Some(v)) => (
            kinetics_csv(&t, train_dir.as_deref().unwrap_or(&root.join("train")))?,
            kinetics_csv(&v, val_dir.as_deref().unwrap_or(&root.join("val")))?,
        ),
        _ => match (train_dir, val_dir) {
            (Some(t), Some(v)) => (class_folders(&t)?, class_folders(&v)?),
            _ => {
                return Err(data_error(format!(
                    "{} has neither the Kinetics annotations (annotations/train.csv and \
                     annotations/validate.csv) nor class folders under train/ and val/",
                    root.display()
                )))
            }
        },
    };
    let (classes, train, test) = number(&tr, &te)?;
    Ok(Listing {
        classes,
        train,
        test,
    })
}

/// Rows of a Kinetics annotation file, each with its video's path.
fn kinetics_csv(csv: &Path, videos: &Path) -> NodeResult<Vec<(PathBuf, String, String)>> {
    let text = read_text(csv, "the Kinetics annotation file")?;
    let mut rows = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = rows.next() else {
        return Ok(Vec::new());
    };
    let header = csv_fields(header.trim_start_matches('\u{feff}'));
    let col = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            data_error(format!(
                "{} has no `{name}` column; Kinetics' annotations have \
                 label,youtube_id,time_start,time_end,split",
                csv.display()
            ))
        })
    };
    let (label, id, start, end) = (
        col("label")?,
        col("youtube_id")?,
        col("time_start")?,
        col("time_end")?,
    );
    let mut out = Vec::new();
    for (n, line) in rows {
        let f = csv_fields(line);
        let origin = format!("{}:{}", csv.display(), n + 1);
        let get = |i: usize| f.get(i).map(String::as_str).unwrap_or("");
        let (s, e) = (get(start).parse::<f64>(), get(end).parse::<f64>());
        let (Ok(s), Ok(e)) = (s, e) else {
            return Err(data_error(format!(
                "{origin}: time_start and time_end must be seconds"
            )));
        };
        let stem = format!("{}_{:06}_{:06}", get(id), s as u64, e as u64);
        let class = get(label).to_string();
        let in_class = find_video(&videos.join(&class), &stem);
        let path = if in_class.is_file() {
            in_class
        } else {
            find_video(videos, &stem)
        };
        out.push((path, class, origin));
    }
    Ok(out)
}

/// Every video file in the class folders of `dir`, the folder naming the class.
fn class_folders(dir: &Path) -> NodeResult<Vec<(PathBuf, String, String)>> {
    let read = |d: &Path| {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| data_error(format!("cannot list {}: {e}", d.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok::<_, NodeError>(v)
    };
    let mut out = Vec::new();
    for class in read(dir)?.into_iter().filter(|p| p.is_dir()) {
        let name = class
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for file in read(&class)? {
            let video = file
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            if video {
                let origin = file.display().to_string();
                out.push((file, name.clone(), origin));
            }
        }
    }
    Ok(out)
}

/// Something-Something v2: `labels/labels.json` (template → class number),
/// `labels/train.json` and `labels/validation.json` (each video's `id` and
/// `template`, whose `[something]` brackets the labels drop), and the videos
/// `<id>.webm` in `20bn-something-something-v2/`, `videos/` or the root.
pub fn ssv2(root: &Path) -> NodeResult<Listing> {
    let labels_dir = first_dir(root, &["labels"]).unwrap_or_else(|| root.to_path_buf());
    let videos = first_dir(root, &["20bn-something-something-v2", "videos"])
        .unwrap_or_else(|| root.to_path_buf());
    let json = |name: &str| -> NodeResult<serde_json::Value> {
        let path = labels_dir.join(name);
        let text = read_text(&path, "the Something-Something v2 label file")?;
        serde_json::from_str(&text)
            .map_err(|e| data_error(format!("cannot read {}: {e}", path.display())))
    };
    let labels = json("labels.json")?;
    let Some(labels) = labels.as_object() else {
        return Err(data_error(format!(
            "{} must map each template to its class number",
            labels_dir.join("labels.json").display()
        )));
    };
    let mut classes = vec![String::new(); labels.len()];
    let mut index = BTreeMap::new();
    for (template, n) in labels {
        let n = n
            .as_str()
            .and_then(|s| s.parse::<usize>().ok())
            .or_else(|| n.as_u64().map(|n| n as usize))
            .filter(|&n| n < classes.len())
            .ok_or_else(|| {
                data_error(format!(
                    "labels.json gives `{template}` the class {n}; classes are numbered 0 to {}",
                    classes.len().saturating_sub(1)
                ))
            })?;
        classes[n] = template.clone();
        index.insert(template.clone(), n as i64);
    }
    let split = |name: &str| -> NodeResult<Vec<Listed>> {
        let rows = json(name)?;
        let rows = rows.as_array().cloned().unwrap_or_default();
        rows.iter()
            .enumerate()
            .map(|(i, row)| {
                let id = match &row["id"] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => String::new(),
                };
                let template = row["template"]
                    .as_str()
                    .unwrap_or("")
                    .replace(['[', ']'], "");
                let label = index.get(&template).copied().ok_or_else(|| {
                    data_error(format!(
                        "entry {} of {name} (video {id}) has the template `{template}`, which \
                         labels.json does not list",
                        i + 1
                    ))
                })?;
                if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
                    return Err(data_error(format!(
                        "entry {} of {name} has no usable `id`",
                        i + 1
                    )));
                }
                Ok(Listed {
                    path: find_video(&videos, &id),
                    label,
                })
            })
            .collect()
    };
    Ok(Listing {
        train: split("train.json")?,
        test: split("validation.json")?,
        classes,
    })
}
