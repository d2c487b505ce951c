//! Reports: the tables of evaluations (Markdown like the paper, CSV, JSON), the
//! adversarial clips, and training metrics — written atomically under `--out`.

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

/// Rows as a Markdown table: one row per model, one column per ε, the best
/// accuracy of each column in bold (as in the paper's tables).
pub fn markdown(title: &str, rows: &[Row]) -> String {
    // Columns: budgets ε of a sweep, or attacks of an `attacks each {…}` table.
    let column = |r: &Row| match &r.attack {
        Some(a) => a.clone(),
        None => format!("ε = {}", eps_label(r.eps)),
    };
    let mut models: Vec<&str> = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    for r in rows {
        if !models.contains(&r.model.as_str()) {
            models.push(&r.model);
        }
        if !columns.contains(&column(r)) {
            columns.push(column(r));
        }
    }
    let cell = |m: &str, c: &str| rows.iter().find(|r| r.model == m && column(r) == c);
    let best: Vec<f64> = columns
        .iter()
        .map(|c| {
            rows.iter()
                .filter(|r| column(r) == *c)
                .map(|r| r.accuracy)
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect();
    let what = if rows.iter().any(|r| r.attack.is_some()) {
        "under each attack"
    } else {
        "under attack at budget ε (0..255 units)"
    };
    let mut out = format!("# {title}\n\nTop-1 accuracy (%) {what}.\n\n| model |");
    for c in &columns {
        out.push_str(&format!(" {c} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for m in &models {
        out.push_str(&format!("| {m} |"));
        for (k, c) in columns.iter().enumerate() {
            match cell(m, c) {
                Some(r) => {
                    let v = format!("{:.1}", 100.0 * r.accuracy);
                    if r.accuracy == best[k] {
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
            let bytes: Vec<u8> = match (r.mode.as_deref(), node.kind, ext) {
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
                (None, DeclKind::Eval, _) => {
                    let src = dir.join("result.json");
                    let text = std::fs::read_to_string(&src)
                        .map_err(|e| err(r, format!("cannot read {}: {e}", src.display())))?;
                    let v: serde_json::Value = serde_json::from_str(&text)
                        .map_err(|e| err(r, format!("{} is corrupt: {e}", src.display())))?;
                    let rows: Vec<Row> = serde_json::from_value(v["rows"].clone())
                        .map_err(|e| err(r, format!("{} is corrupt: {e}", src.display())))?;
                    match ext {
                        "md" => markdown(&node.name, &rows).into_bytes(),
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
                                "epoch,lr,eps,train_loss,train_acc,val_loss,val_acc,seconds\n",
                            );
                            for l in &lines {
                                let f = |k: &str| match &l[k] {
                                    serde_json::Value::Null => String::new(),
                                    v => v.to_string(),
                                };
                                s.push_str(&format!(
                                    "{},{},{},{},{},{},{},{}\n",
                                    f("epoch"),
                                    f("lr"),
                                    f("eps"),
                                    f("train_loss"),
                                    f("train_acc"),
                                    f("val_loss"),
                                    f("val_acc"),
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
            let path = dir.join(format!("{}_clip{c}.gif", slug(name)));
            let file = std::fs::File::create(&path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            let mut enc = GifEncoder::new_with_speed(file, 10);
            enc.set_repeat(Repeat::Infinite)
                .map_err(|e| e.to_string())?;
            for f in 0..t as usize {
                let mut img = RgbaImage::from_pixel(width, h, image::Rgba([255, 255, 255, 255]));
                for (p, b) in bytes.iter().enumerate() {
                    let x0 = p as u32 * (w + gap);
                    for yy in 0..h {
                        for xx in 0..w {
                            let i = ((f * h as usize + yy as usize) * w as usize + xx as usize) * 3;
                            if let Some(px) = b.get(i..i + 3) {
                                img.put_pixel(x0 + xx, yy, image::Rgba([px[0], px[1], px[2], 255]));
                            }
                        }
                    }
                }
                enc.encode_frame(Frame::from_parts(
                    img,
                    0,
                    0,
                    Delay::from_numer_denom_ms(150, 1),
                ))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            written.push(path);
        }
    }
    let path = dir.join("examples.safetensors");
    crate::runtime::models::save_tensors(&raw, &path)?;
    written.push(path);
    Ok(written)
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
