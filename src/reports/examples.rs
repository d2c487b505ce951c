//! `report e examples to "dir"`: animated GIFs (and MP4s) of clean and
//! adversarial clips with the perturbation magnified, plus the raw tensors.

use crate::results::columns::{CLEAN_CLIPS, LABELS};
use crate::results::{ClipRecord, Column, ColumnKey, FooledBy};
use std::path::{Path, PathBuf};

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

/// One example animation: which clip of which model and column, what it
/// shows, and the file it is written to.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// `<eval>_<model>_<column>_clip<N>.gif`: unique across evaluations.
    pub file: String,
    /// The stored clips it shows: `model/column`, e.g. `at/eps4`.
    pub key: ColumnKey,
    /// The clip's index in the split, and its row in the stored tensors.
    pub clip: u64,
    pub label: i64,
    pub predicted: i64,
    /// Fooled by the attack (not misclassified clean already).
    pub fooled: bool,
}

/// A stored column's records: a budget's are the records at that ε (of
/// an attack), an attack's or the clean column's are those it names.
fn column_records<'r>(records: &'r [ClipRecord], key: &ColumnKey) -> Vec<&'r ClipRecord> {
    records
        .iter()
        .filter(|r| r.model == key.model)
        .filter(|r| match &key.column {
            Column::Budget(e) => r.eps == *e && !r.attack.is_clean(),
            Column::Clean => r.attack.is_clean(),
            Column::Attack(name) => r.attack.as_str() == name,
        })
        .collect()
}

/// Fooled by an attack, not misclassified clean already.
fn attack_fooled(r: &ClipRecord) -> bool {
    r.fooled && !r.fooled_by.as_ref().is_some_and(FooledBy::is_clean)
}

/// The clips shown for each stored column (`model/column` keys, `clean` and
/// `labels` aside): successful attacks first, then the clips the attack left
/// correct, then those misclassified clean; [`EXAMPLES`] per column.
pub fn chosen(node: &str, keys: &[String], records: &[ClipRecord]) -> Vec<Example> {
    let mut out = Vec::new();
    for key in keys {
        let Ok(key) = key.parse::<ColumnKey>() else {
            continue;
        };
        let mut recs = column_records(records, &key);
        let rank = |r: &ClipRecord| match (r.fooled, &r.fooled_by) {
            (true, Some(FooledBy::Clean)) => 2,
            (true, _) => 0,
            (false, _) => 1,
        };
        recs.sort_by_key(|r| (rank(r), r.clip));
        for r in recs.into_iter().take(EXAMPLES as usize) {
            out.push(Example {
                file: format!(
                    "{}_{}_{}_clip{}.gif",
                    slug(node),
                    slug(&key.model),
                    slug(&key.column.to_string()),
                    r.clip
                ),
                key: key.clone(),
                clip: r.clip,
                label: r.label,
                predicted: r.adv_pred,
                fooled: attack_fooled(r),
            });
        }
    }
    out
}

/// The tensor names of a safetensors file, from its header alone.
pub fn tensor_names(path: &Path) -> Result<Vec<String>, String> {
    use std::io::Read;
    let mut f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let n = u64::from_le_bytes(len).min(100 << 20) as usize;
    let mut header = vec![0u8; n];
    f.read_exact(&mut header)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| format!("{} is not safetensors: {e}", path.display()))?;
    Ok(v.as_object()
        .map(|o| o.keys().filter(|k| *k != "__metadata__").cloned().collect())
        .unwrap_or_default())
}

/// `report e examples to "dir"`: for each model and attacked column, an
/// animated GIF of [`chosen`] clips showing the clean clip, the adversarial
/// clip and the perturbation magnified (mid-grey = 0), side by side; plus the
/// raw tensors of the first clips as safetensors.
pub fn examples(
    node: &str,
    adversarial: &Path,
    records: &[ClipRecord],
    dir: &Path,
) -> Result<Vec<PathBuf>, String> {
    use tch::{Kind, Tensor};
    let named = Tensor::read_safetensors(adversarial)
        .map_err(|e| format!("cannot read {}: {e}", adversarial.display()))?;
    let clean = named
        .iter()
        .find(|(n, _)| n == CLEAN_CLIPS)
        .map(|(_, t)| t.shallow_clone())
        .ok_or_else(|| format!("the adversarial clips lack `{CLEAN_CLIPS}`"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let k = EXAMPLES.min(clean.size()[0]);
    let mut written = Vec::new();
    let mut raw = Vec::new();
    let keys: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
    let picks = chosen(node, &keys, records);
    for (name, adv) in &named {
        raw.push((name.clone(), adv.narrow(0, 0, k)));
        if name == CLEAN_CLIPS || name == LABELS {
            continue;
        }
        let key = name.parse::<ColumnKey>().ok();
        for ex in picks.iter().filter(|p| key.as_ref() == Some(&p.key)) {
            let c = ex.clip as i64;
            if c >= clean.size()[0] {
                continue;
            }
            let frames = side_by_side(&clean.get(c), &adv.get(c).to_kind(Kind::Float));
            let path = dir.join(&ex.file);
            gif(&frames, &path)?;
            written.push(path);
            // The same animation as MP4 (H.264, pixels enlarged 4× without
            // smoothing) when ffmpeg is there; the GIF alone otherwise.
            if let Ok(exe) = crate::runtime::defenses::ffmpeg() {
                let path = dir.join(ex.file.replace(".gif", ".mp4"));
                mp4(&exe, &frames, &path)?;
                written.push(path);
            }
        }
    }
    let path = dir.join("examples.safetensors");
    crate::runtime::models::save_tensors(&raw, &path).map_err(|e| e.to_string())?;
    written.push(path);
    Ok(written)
}

/// One frame per time step of a clean clip `x` and its adversarial clip
/// `a` (C×T×H×W): the two and the perturbation magnified (mid-grey = 0),
/// side by side.
fn side_by_side(x: &tch::Tensor, a: &tch::Tensor) -> Vec<image::RgbaImage> {
    use image::RgbaImage;
    use tch::{Kind, Tensor};
    let delta = a - x;
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
    (0..t as usize)
        .map(|f| {
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
            img
        })
        .collect()
}

/// Writes frames as a looping GIF, 150 ms a frame.
fn gif(frames: &[image::RgbaImage], path: &Path) -> Result<(), String> {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame};
    let file =
        std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut enc = GifEncoder::new_with_speed(file, 10);
    enc.set_repeat(Repeat::Infinite)
        .map_err(|e| e.to_string())?;
    for img in frames {
        enc.encode_frame(Frame::from_parts(
            img.clone(),
            0,
            0,
            Delay::from_numer_denom_ms(150, 1),
        ))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
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
