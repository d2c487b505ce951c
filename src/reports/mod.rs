//! Reports: the tables of evaluations (Markdown like the paper, CSV, JSON), the
//! adversarial clips, and training metrics — written atomically under `--out`.

pub mod html;
pub mod plots;

use crate::language::ast::DeclKind;
use crate::language::diagnostic::{Code, Diagnostic};
use crate::language::program::Program;
use crate::runtime::cache::Cache;
use crate::runtime::eval::Row;
use std::path::{Path, PathBuf};

/// Formats a budget as written in the file (8, not 8.0).
pub fn eps_label(e: f64) -> String {
    if e.fract() == 0.0 {
        format!("{}", e as i64)
    } else {
        format!("{e}")
    }
}

/// An evaluation's rows laid out as its table: one row per model, one
/// column per budget ε of a sweep or per attack of `attacks each {…}`, in
/// the order they first appear. Shared by the Markdown, the HTML page and the
/// figures.
pub struct Grid<'a> {
    rows: &'a [Row],
    pub models: Vec<String>,
    pub columns: Vec<String>,
}

impl<'a> Grid<'a> {
    pub fn column(r: &Row) -> String {
        match &r.attack {
            Some(a) => a.clone(),
            None => format!("ε = {}", eps_label(r.eps)),
        }
    }

    pub fn new(rows: &'a [Row]) -> Self {
        let (mut models, mut columns) = (Vec::<String>::new(), Vec::<String>::new());
        for r in rows {
            if !models.contains(&r.model) {
                models.push(r.model.clone());
            }
            let c = Self::column(r);
            if !columns.contains(&c) {
                columns.push(c);
            }
        }
        Grid {
            rows,
            models,
            columns,
        }
    }

    pub fn cell(&self, model: &str, column: &str) -> Option<&'a Row> {
        self.rows
            .iter()
            .find(|r| r.model == model && Self::column(r) == column)
    }

    /// The best accuracy of a column (the paper's bold).
    pub fn best(&self, column: &str) -> f64 {
        self.rows
            .iter()
            .filter(|r| Self::column(r) == column)
            .map(|r| r.accuracy)
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// Rows as a Markdown table: one row per model, one column per ε, the best
/// accuracy of each column in bold (as in the paper's tables).
pub fn markdown(title: &str, rows: &[Row]) -> String {
    let grid = Grid::new(rows);
    let (models, columns) = (&grid.models, &grid.columns);
    let what = if rows.iter().any(|r| r.attack.is_some()) {
        "under each attack"
    } else {
        "under attack at budget ε (0..255 units)"
    };
    let mut out = format!("# {title}\n\nTop-1 accuracy (%) {what}.\n\n| model |");
    for c in columns {
        out.push_str(&format!(" {c} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for m in models {
        out.push_str(&format!("| {m} |"));
        for c in columns {
            match grid.cell(m, c) {
                Some(r) => {
                    let v = format!("{:.1}", 100.0 * r.accuracy);
                    if r.accuracy == grid.best(c) {
                        out.push_str(&format!(" **{v}** |"));
                    } else {
                        out.push_str(&format!(" {v} |"));
                    }
                }
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    let n = rows.first().map_or(0, |r| r.n);
    out.push_str(&format!("\n{n} clips per cell.\n"));
    out
}

/// What the attacks differentiated, and the defenses in front of each model,
/// from an evaluation's result.
fn pipeline_note(v: &serde_json::Value) -> String {
    let mut out = String::new();
    let behind: Vec<String> = v["defenses"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(m, d)| {
            let d: Vec<&str> = d.as_array()?.iter().filter_map(|x| x.as_str()).collect();
            (!d.is_empty()).then(|| format!("`{m}` runs behind {}", d.join(" → ")))
        })
        .collect();
    if !behind.is_empty() {
        out.push_str(&format!(
            "{}.
",
            behind.join("; ")
        ));
        out.push_str(if v["through"] == "classifier" {
            "Attacks were computed on the classifier alone; the defenses in front were not attacked (`through: classifier`).\n"
        } else {
            "Attacks were computed through the whole pipeline, defenses included (white-box).\n"
        });
    }
    out
}

pub fn csv(rows: &[Row], seed: u64) -> String {
    let mut out = String::from("model,attack,eps,alpha,accuracy,correct,n,video_accuracy,seed\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{seed}\n",
            r.model,
            r.attack.as_deref().unwrap_or(""),
            eps_label(r.eps),
            r.alpha,
            r.accuracy,
            r.correct,
            r.n,
            r.video_accuracy.map_or(String::new(), |v| v.to_string())
        ));
    }
    out
}

fn err(r: &crate::language::program::ReportNode, message: String) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::new(Code::NodeFailed, r.file, r.span, message)
            .label("this report")
            .help("results stay in the cache; fix the cause and run again to write the report"),
    )
}

/// Writes every report whose target this run finished (or found cached).
pub fn write_all(
    program: &Program,
    targets: &[usize],
    keys: &[String],
    cache: &Cache,
    out: &Path,
) -> Result<Vec<PathBuf>, Box<Diagnostic>> {
    let mut written = Vec::new();
    for r in &program.reports {
        let Some(t) = program.nodes.iter().position(|n| n.name == r.target) else {
            continue;
        };
        if !targets.contains(&t) {
            continue;
        }
        let node = &program.nodes[t];
        let dir = cache.done(&keys[t]);
        for p in &r.paths {
            let dest = out.join(p);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| err(r, format!("cannot create {}: {e}", parent.display())))?;
            }
            let ext = Path::new(p)
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("");
            let kind = if node.kind == DeclKind::Defense && crate::runtime::exec::computed(node) {
                DeclKind::Train
            } else {
                node.kind
            };
            let bytes: Vec<u8> = match (r.mode.as_deref(), kind, ext) {
                (Some("examples"), _, _) => {
                    let src = dir.join("adversarial.safetensors");
                    let files = examples(&src, &dest).map_err(|e| err(r, e))?;
                    written.extend(files);
                    continue;
                }
                (Some("adversarial"), _, _) => {
                    let src = dir.join("adversarial.safetensors");
                    std::fs::read(&src)
                        .map_err(|e| err(r, format!("cannot read {}: {e}", src.display())))?
                }
                (None, _, "html") => html::node_page(node, &dir)
                    .map_err(|e| err(r, e))?
                    .into_bytes(),
                (None, _, "svg" | "png") => {
                    let fig = figure(node, &dir).map_err(|e| err(r, e))?;
                    let format = plots::Format::of(ext).unwrap_or(plots::Format::Svg);
                    plots::render(&fig, format).map_err(|e| err(r, e))?
                }
                (None, DeclKind::Analyze, _) => {
                    let src = dir.join("result.json");
                    let text = std::fs::read_to_string(&src)
                        .map_err(|e| err(r, format!("cannot read {}: {e}", src.display())))?;
                    match ext {
                        "csv" => {
                            let v: serde_json::Value =
                                serde_json::from_str(&text).map_err(|e| {
                                    err(r, format!("{} is corrupt: {e}", src.display()))
                                })?;
                            analysis_csv(&v).into_bytes()
                        }
                        _ => text.into_bytes(),
                    }
                }
                (None, DeclKind::Eval, _) => {
                    let src = dir.join("result.json");
                    let text = std::fs::read_to_string(&src)
                        .map_err(|e| err(r, format!("cannot read {}: {e}", src.display())))?;
                    let v: serde_json::Value = serde_json::from_str(&text)
                        .map_err(|e| err(r, format!("{} is corrupt: {e}", src.display())))?;
                    let rows: Vec<Row> = serde_json::from_value(v["rows"].clone())
                        .map_err(|e| err(r, format!("{} is corrupt: {e}", src.display())))?;
                    match ext {
                        "md" => {
                            let mut md = markdown(&node.name, &rows);
                            let note = pipeline_note(&v);
                            if !note.is_empty() {
                                md.push('\n');
                                md.push_str(&note);
                            }
                            md.into_bytes()
                        }
                        "csv" => csv(&rows, program.settings.seed).into_bytes(),
                        _ => text.into_bytes(),
                    }
                }
                (None, DeclKind::Train, _) => {
                    let src = dir.join("metrics.jsonl");
                    let text = std::fs::read_to_string(&src)
                        .map_err(|e| err(r, format!("cannot read {}: {e}", src.display())))?;
                    let lines: Vec<serde_json::Value> = text
                        .lines()
                        .filter_map(|l| serde_json::from_str(l).ok())
                        .collect();
                    match ext {
                        "jsonl" => text.into_bytes(),
                        "csv" => {
                            let mut s = String::from(
                                "epoch,lr,eps,train_loss,train_acc,val_loss,val_acc,val_adv_acc,seconds\n",
                            );
                            for l in &lines {
                                let f = |k: &str| match &l[k] {
                                    serde_json::Value::Null => String::new(),
                                    v => v.to_string(),
                                };
                                s.push_str(&format!(
                                    "{},{},{},{},{},{},{},{},{}\n",
                                    f("epoch"),
                                    f("lr"),
                                    f("eps"),
                                    f("train_loss"),
                                    f("train_acc"),
                                    f("val_loss"),
                                    f("val_acc"),
                                    f("val_adv_acc"),
                                    f("seconds")
                                ));
                            }
                            s.into_bytes()
                        }
                        _ => serde_json::to_string_pretty(
                            &serde_json::json!({ "node": node.name, "epochs": lines }),
                        )
                        .unwrap_or_default()
                        .into_bytes(),
                    }
                }
                _ => continue,
            };
            crate::cli::write_atomic(&dest, &bytes)
                .map_err(|e| err(r, format!("cannot write {}: {e}", dest.display())))?;
            written.push(dest);
        }
    }
    Ok(written)
}

/// A finished node's JSON result from its cache folder.
fn result_json(dir: &Path, file: &str) -> Result<serde_json::Value, String> {
    let src = dir.join(file);
    let text =
        std::fs::read_to_string(&src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is corrupt: {e}", src.display()))
}

/// A train node's metrics, one JSON object per epoch.
fn metrics_of(dir: &Path) -> Result<Vec<serde_json::Value>, String> {
    let src = dir.join("metrics.jsonl");
    let text =
        std::fs::read_to_string(&src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

fn pct(v: &serde_json::Value) -> Option<f64> {
    v.as_f64().map(|a| 100.0 * a)
}

/// The figure of a finished node: an evaluation's robustness curve (accuracy
/// against ε, a line per model) or per-attack bars (Figure 5), a training's
/// accuracy per epoch, an analysis's surface (Figure 1), step-size fit
/// (Figure 2) or generalization gap (Figure 4).
pub fn figure(node: &crate::language::program::Node, dir: &Path) -> Result<plots::Figure, String> {
    use plots::{Figure, Mark, Series};
    let trained = node.kind == DeclKind::Train
        || (node.kind == DeclKind::Defense && crate::runtime::exec::computed(node));
    if trained {
        let m = metrics_of(dir)?;
        let series = |key: &str, name: &str, mark| Series {
            name: name.into(),
            points: m
                .iter()
                .filter_map(|l| Some((l["epoch"].as_f64()?, pct(&l[key])?)))
                .collect(),
            mark,
        };
        let series: Vec<Series> = [
            series("train_acc", "train (attacked)", Mark::LinePoints),
            series("val_acc", "validation (clean)", Mark::LinePoints),
            series("val_adv_acc", "validation (attacked)", Mark::Dashed),
        ]
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .collect();
        if series.is_empty() {
            return Ok(Figure::Lines {
                title: format!("{}: training loss", node.name),
                x_label: "epoch".into(),
                y_label: "loss".into(),
                series: vec![Series {
                    name: "train".into(),
                    points: m
                        .iter()
                        .filter_map(|l| Some((l["epoch"].as_f64()?, l["train_loss"].as_f64()?)))
                        .collect(),
                    mark: Mark::LinePoints,
                }],
            });
        }
        return Ok(Figure::Lines {
            title: format!("{}: accuracy per epoch", node.name),
            x_label: "epoch".into(),
            y_label: "top-1 accuracy (%)".into(),
            series,
        });
    }
    let v = result_json(dir, "result.json")?;
    match (node.kind, node.builtin.as_str()) {
        (DeclKind::Eval, _) => {
            let rows: Vec<Row> =
                serde_json::from_value(v["rows"].clone()).map_err(|e| e.to_string())?;
            let grid = Grid::new(&rows);
            let models = &grid.models;
            if rows.iter().any(|r| r.attack.is_some()) {
                let series = models
                    .iter()
                    .map(|m| {
                        let values = grid
                            .columns
                            .iter()
                            .map(|c| grid.cell(m, c).map_or(0.0, |r| 100.0 * r.accuracy))
                            .collect();
                        (m.clone(), values)
                    })
                    .collect();
                return Ok(Figure::Bars {
                    title: format!("{}: accuracy under each attack", node.name),
                    y_label: "top-1 accuracy (%)".into(),
                    categories: grid.columns.clone(),
                    series,
                });
            }
            Ok(Figure::Lines {
                title: format!("{}: robustness", node.name),
                x_label: "attack budget ε (0..255)".into(),
                y_label: "top-1 accuracy (%)".into(),
                series: models
                    .iter()
                    .map(|m| Series {
                        name: m.clone(),
                        points: rows
                            .iter()
                            .filter(|r| &r.model == m)
                            .map(|r| (r.eps, 100.0 * r.accuracy))
                            .collect(),
                        mark: Mark::LinePoints,
                    })
                    .collect(),
            })
        }
        (_, "loss_surface") => {
            let s: crate::runtime::analysis::Surface =
                serde_json::from_value(v["surface"].clone()).map_err(|e| e.to_string())?;
            Ok(Figure::Surface {
                title: format!(
                    "{}: adversarial loss at ε = {}",
                    node.name,
                    eps_label(s.eps)
                ),
                x_label: "step size α".into(),
                y_label: "steps M".into(),
                z_label: "mean cross-entropy".into(),
                xs: s.alphas,
                ys: s.steps.iter().map(|&m| m as f64).collect(),
                z: s.loss,
            })
        }
        (_, "step_fit") => {
            let f: crate::runtime::analysis::StepFit =
                serde_json::from_value(v["fit"].clone()).map_err(|e| e.to_string())?;
            let (lo, hi) = f
                .best
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                    (a.min(p.eps), b.max(p.eps))
                });
            Ok(Figure::Lines {
                title: format!(
                    "{}: {}",
                    node.name,
                    crate::runtime::analysis::line_text(f.a, f.b, f.r2)
                ),
                x_label: "attack budget ε (0..255)".into(),
                y_label: "best step size α".into(),
                series: vec![
                    Series {
                        name: "best α (highest loss)".into(),
                        points: f.best.iter().map(|p| (p.eps, p.alpha)).collect(),
                        mark: Mark::Points,
                    },
                    Series {
                        name: "least-squares fit".into(),
                        points: [lo, hi]
                            .iter()
                            .filter(|x| x.is_finite())
                            .map(|&x| (x, f.a * x + f.b))
                            .collect(),
                        mark: Mark::Line,
                    },
                ],
            })
        }
        (_, "generalization_gap") => {
            let epochs: Vec<f64> = v["epoch"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_f64())
                .collect();
            let line = |key: &str, name: &str, mark| Series {
                name: name.into(),
                points: epochs
                    .iter()
                    .zip(v[key].as_array().into_iter().flatten())
                    .filter_map(|(&e, a)| Some((e, pct(a)?)))
                    .collect(),
                mark,
            };
            Ok(Figure::Lines {
                title: format!(
                    "{}: generalization gap of `{}`",
                    node.name,
                    v["train"].as_str().unwrap_or("")
                ),
                x_label: "epoch".into(),
                y_label: "top-1 accuracy (%)".into(),
                series: vec![
                    line("train_acc", "train (attacked)", Mark::LinePoints),
                    line(
                        "val_acc",
                        if v["validation"] == "attacked" {
                            "validation (attacked)"
                        } else {
                            "validation (clean)"
                        },
                        Mark::LinePoints,
                    ),
                    line("gap", "gap (train − validation)", Mark::Dashed),
                ],
            })
        }
        _ => Err(format!("`{}` has no figure", node.name)),
    }
}

/// An analysis's numbers as CSV: the surface's grid, the fit's best steps, or
/// the gap per epoch.
fn analysis_csv(v: &serde_json::Value) -> String {
    let num = |x: &serde_json::Value| match x {
        serde_json::Value::Null => String::new(),
        x => x.to_string(),
    };
    if let Some(s) = v.get("surface") {
        let mut out = String::from("steps,alpha,loss\n");
        let alphas = s["alphas"].as_array().cloned().unwrap_or_default();
        for (m, row) in s["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(s["loss"].as_array().into_iter().flatten())
        {
            for (a, l) in alphas.iter().zip(row.as_array().into_iter().flatten()) {
                out.push_str(&format!("{},{},{}\n", num(m), num(a), num(l)));
            }
        }
        return out;
    }
    if let Some(f) = v.get("fit") {
        let mut out = String::from("eps,best_alpha,loss,accuracy,fit_a,fit_b,r2\n");
        for b in f["best"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                num(&b["eps"]),
                num(&b["alpha"]),
                num(&b["loss"]),
                num(&b["accuracy"]),
                num(&f["a"]),
                num(&f["b"]),
                num(&f["r2"])
            ));
        }
        return out;
    }
    let mut out = String::from("epoch,eps,train_acc,val_acc,gap\n");
    let col = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let (e, eps, t, va, g) = (
        col("epoch"),
        col("eps"),
        col("train_acc"),
        col("val_acc"),
        col("gap"),
    );
    for i in 0..e.len() {
        let at = |c: &Vec<serde_json::Value>| c.get(i).map(num).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            at(&e),
            at(&eps),
            at(&t),
            at(&va),
            at(&g)
        ));
    }
    out
}

/// Clips shown per example folder.
const EXAMPLES: i64 = 4;

/// A file-name-safe version of a model or column name.
fn slug(s: &str) -> String {
    s.replace(" >> ", "+")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `report e examples to "dir"`: for the first clips, an animated GIF per model
/// and attack showing the clean clip, the adversarial clip and the perturbation
/// magnified (mid-grey = 0), side by side; plus the raw tensors as safetensors.
pub fn examples(adversarial: &Path, dir: &Path) -> Result<Vec<PathBuf>, String> {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame, RgbaImage};
    use tch::{Kind, Tensor};
    let named = Tensor::read_safetensors(adversarial)
        .map_err(|e| format!("cannot read {}: {e}", adversarial.display()))?;
    let clean = named
        .iter()
        .find(|(n, _)| n == "clean")
        .map(|(_, t)| t.shallow_clone())
        .ok_or("the adversarial clips lack `clean`")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let k = EXAMPLES.min(clean.size()[0]);
    let mut written = Vec::new();
    let mut raw = Vec::new();
    for (name, adv) in &named {
        raw.push((name.clone(), adv.narrow(0, 0, k)));
        if name == "clean" || name == "labels" {
            continue;
        }
        for c in 0..k {
            let (x, a) = (clean.get(c), adv.get(c).to_kind(Kind::Float));
            let delta = &a - &x;
            let m = delta.abs().max().double_value(&[]).max(1e-12);
            let magnified = (delta * (0.5 / m) + 0.5).clamp(0.0, 1.0);
            let s = x.size(); // C×T×H×W
            let (t, h, w) = (s[1], s[2] as u32, s[3] as u32);
            let panels = [x.shallow_clone(), a.clamp(0.0, 1.0), magnified];
            let to_u8 = |p: &Tensor| -> Vec<u8> {
                Vec::<u8>::try_from(
                    (p * 255.0)
                        .round()
                        .to_kind(Kind::Uint8)
                        .permute([1, 2, 3, 0])
                        .contiguous()
                        .flatten(0, -1),
                )
                .unwrap_or_default()
            };
            let bytes: Vec<Vec<u8>> = panels.iter().map(to_u8).collect();
            let gap = 2;
            let width = 3 * w + 2 * gap;
            let frames: Vec<RgbaImage> = (0..t as usize)
                .map(|f| {
                    let mut img =
                        RgbaImage::from_pixel(width, h, image::Rgba([255, 255, 255, 255]));
                    for (p, b) in bytes.iter().enumerate() {
                        let x0 = p as u32 * (w + gap);
                        for yy in 0..h {
                            for xx in 0..w {
                                let i =
                                    ((f * h as usize + yy as usize) * w as usize + xx as usize) * 3;
                                if let Some(px) = b.get(i..i + 3) {
                                    img.put_pixel(
                                        x0 + xx,
                                        yy,
                                        image::Rgba([px[0], px[1], px[2], 255]),
                                    );
                                }
                            }
                        }
                    }
                    img
                })
                .collect();
            let path = dir.join(format!("{}_clip{c}.gif", slug(name)));
            let file = std::fs::File::create(&path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            let mut enc = GifEncoder::new_with_speed(file, 10);
            enc.set_repeat(Repeat::Infinite)
                .map_err(|e| e.to_string())?;
            for img in &frames {
                enc.encode_frame(Frame::from_parts(
                    img.clone(),
                    0,
                    0,
                    Delay::from_numer_denom_ms(150, 1),
                ))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            written.push(path);
            // The same animation as MP4 (H.264, pixels enlarged 4× without
            // smoothing) when ffmpeg is there; the GIF alone otherwise.
            if let Ok(exe) = crate::runtime::defenses::ffmpeg() {
                let path = dir.join(format!("{}_clip{c}.mp4", slug(name)));
                mp4(&exe, &frames, &path)?;
                written.push(path);
            }
        }
    }
    let path = dir.join("examples.safetensors");
    crate::runtime::models::save_tensors(&raw, &path)?;
    written.push(path);
    Ok(written)
}

/// Writes RGBA frames as an MP4 (libx264, yuv420p, ~6.7 frames per second),
/// through a temporary name so a half-written file never has the final name.
fn mp4(exe: &str, frames: &[image::RgbaImage], path: &Path) -> Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Some(first) = frames.first() else {
        return Ok(());
    };
    let (w, h) = first.dimensions();
    let tmp = path.with_extension("mp4.partial");
    let mut child = Command::new(exe)
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo"])
        .args([
            "-pix_fmt",
            "rgba",
            "-s",
            &format!("{w}x{h}"),
            "-r",
            "20/3",
            "-i",
            "-",
        ])
        .args([
            "-vf",
            "scale=iw*4:ih*4:flags=neighbor",
            "-c:v",
            "libx264",
            "-crf",
            "12",
        ])
        .args([
            "-threads",
            "1",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ])
        .args(["-f", "mp4"])
        .arg(&tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {exe}: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    for f in frames {
        stdin
            .write_all(f.as_raw())
            .map_err(|e| format!("writing frames to {exe}: {e}"))?;
    }
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{exe} could not write {}: {}",
            path.display(),
            err.lines().last().unwrap_or("")
        ));
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, eps: f64, acc: f64) -> Row {
        Row {
            model: model.into(),
            attack: None,
            eps,
            alpha: 1.0,
            accuracy: acc,
            correct: (acc * 100.0) as u64,
            n: 100,
            video_accuracy: None,
        }
    }

    #[test]
    fn markdown_bolds_the_best_of_each_column() {
        let rows = [
            row("a", 0.0, 0.9),
            row("a", 8.0, 0.1),
            row("b", 0.0, 0.6),
            row("b", 8.0, 0.3),
        ];
        let md = markdown("t", &rows);
        assert!(md.contains("| model | ε = 0 | ε = 8 |"), "{md}");
        assert!(md.contains("| a | **90.0** | 10.0 |"), "{md}");
        assert!(md.contains("| b | 60.0 | **30.0** |"), "{md}");
        let c = csv(&rows, 3);
        assert_eq!(c.lines().nth(2), Some("a,,8,1,0.1,10,100,,3"));
    }
}
