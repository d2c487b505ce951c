//! Preprocessing defenses placed in front of a classifier (`defense >> model`).
//!
//! `video_compression` is ART's `VideoCompression`: each clip is encoded to
//! H.264 (libx264, yuv420p, the given CRF) by a real `ffmpeg` driven over
//! pipes, decoded back, and returned in [0, 1]. Pixels are rounded (not
//! truncated) to uint8; odd sizes are padded for yuv420p and cropped back; the
//! caller's tensor is never modified. When an attack goes through the defense
//! the backward pass is the identity (BPDA): out = x + (h264(x) − x).detach().

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use tch::{Device, Kind, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub enum Defense {
    VideoCompression { crf: i64 },
}

impl Defense {
    /// The defended clips; gradients pass through as the identity.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor, String> {
        match self {
            Defense::VideoCompression { crf } => {
                let y = h264_roundtrip(x, *crf)?;
                Ok(x + (y - x).detach())
            }
        }
    }
}

/// Where ffmpeg is (`$ADVP_FFMPEG` or `ffmpeg` on the PATH), or how to get it.
pub fn ffmpeg() -> Result<String, String> {
    let exe = std::env::var("ADVP_FFMPEG").unwrap_or_else(|_| "ffmpeg".into());
    match Command::new(&exe).arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(s) if s.success() => Ok(exe),
        _ => Err(format!(
            "`video_compression` runs a real H.264 encoder, and `{exe}` was not found; install it (Debian/Ubuntu: `sudo apt-get install ffmpeg`; macOS: `brew install ffmpeg`) or point ADVP_FFMPEG at it"
        )),
    }
}

/// Runs ffmpeg with `input` on stdin and returns its stdout.
fn pipe(exe: &str, args: &[&str], input: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {exe}: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_end(&mut out)
        .map_err(|e| format!("reading from {exe}: {e}"))?;
    let mut err = String::new();
    let _ = child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut err);
    let status = child.wait().map_err(|e| e.to_string())?;
    let _ = writer.join();
    if !status.success() {
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!("{exe} failed: {last}"));
    }
    Ok(out)
}

/// H.264 encode and decode of every clip (N×3×T×H×W in [0, 1]).
pub fn h264_roundtrip(x: &Tensor, crf: i64) -> Result<Tensor, String> {
    let exe = ffmpeg()?;
    let s = x.size();
    if s.len() != 5 || s[1] != 3 {
        return Err(format!(
            "video_compression wants N×3×T×H×W clips, got {s:?}"
        ));
    }
    let (n, t, h, w) = (s[0], s[2], s[3], s[4]);
    let (ph, pw) = (h + h % 2, w + w % 2);
    // Round to uint8 and lay out as T×H×W×C (rgb24), on the CPU.
    let bytes = (x.detach().to_device(Device::Cpu).to_kind(Kind::Float) * 255.0)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .permute([0, 2, 3, 4, 1])
        .contiguous();
    // One encoder and decoder per clip, as ART encodes each video on its own;
    // clips run in parallel (the processes, not libtorch, do the work).
    use rayon::prelude::*;
    let clips: Vec<Vec<u8>> = (0..n)
        .map(|i| Vec::<u8>::try_from(bytes.get(i).flatten(0, -1)).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    // The same command lines for every clip: raw RGB in, H.264 out (padded to
    // even sizes for yuv420p), then back to RGB, cropped to the original size.
    let (size, pad, crf) = (
        format!("{w}x{h}"),
        format!("pad={pw}:{ph}:0:0"),
        crf.to_string(),
    );
    let crop = format!("format=rgb24,crop={w}:{h}:0:0");
    let quiet = ["-hide_banner", "-loglevel", "error"];
    let encode = [
        &quiet[..],
        &[
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &size, "-r", "25", "-i", "-",
        ],
        &[
            "-vf", &pad, "-c:v", "libx264", "-preset", "medium", "-crf", &crf,
        ],
        &["-pix_fmt", "yuv420p", "-f", "h264", "-"],
    ]
    .concat();
    let decode = [
        &quiet[..],
        &["-f", "h264", "-i", "-", "-vf", &crop],
        &["-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    ]
    .concat();
    let decoded: Vec<Vec<u8>> = clips
        .into_par_iter()
        .map(|clip| {
            let h264 = pipe(&exe, &encode, clip)?;
            let raw = pipe(&exe, &decode, h264)?;
            if raw.len() != (t * h * w * 3) as usize {
                return Err(format!(
                    "ffmpeg returned {} bytes for a {t}×{h}×{w} clip (expected {})",
                    raw.len(),
                    t * h * w * 3
                ));
            }
            Ok(raw)
        })
        .collect::<Result<_, String>>()?;
    let out: Vec<u8> = decoded.concat();
    Ok(Tensor::from_slice(&out)
        .reshape([n, t, h, w, 3])
        .permute([0, 4, 1, 2, 3])
        .to_kind(Kind::Float)
        .divide_scalar(255.0)
        .to_device(x.device()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ffmpeg is a system tool: say plainly when a test cannot run.
    fn have_ffmpeg() -> bool {
        match ffmpeg() {
            Ok(_) => true,
            Err(e) => {
                eprintln!("skipped: {e}");
                false
            }
        }
    }

    #[test]
    fn crf0_keeps_a_constant_clip_and_a_high_crf_changes_texture() {
        if !have_ffmpeg() {
            return;
        }
        let flat = Tensor::full([1, 3, 4, 15, 17], 100.0 / 255.0, (Kind::Float, Device::Cpu));
        let y = h264_roundtrip(&flat, 0).unwrap();
        assert_eq!(y.size(), flat.size(), "odd sizes come back as they went in");
        assert!((&y - &flat).abs().max().double_value(&[]) < 0.5 / 255.0);

        tch::manual_seed(0);
        let tex = Tensor::rand([1, 3, 4, 16, 16], (Kind::Float, Device::Cpu));
        let before = tex.copy();
        let z = h264_roundtrip(&tex, 40).unwrap();
        assert!((&z - &tex).abs().mean(Kind::Float).double_value(&[]) > 0.01);
        assert!(tex.equal(&before), "the caller's tensor is unchanged");
    }

    #[test]
    fn the_backward_pass_is_the_identity() {
        if !have_ffmpeg() {
            return;
        }
        let x = Tensor::rand([1, 3, 2, 8, 8], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let out = Defense::VideoCompression { crf: 28 }.apply(&x).unwrap();
        let w = Tensor::rand([1, 3, 2, 8, 8], (Kind::Float, Device::Cpu));
        (&out * &w).sum(Kind::Float).backward();
        assert!(x.grad().allclose(&w, 1e-6, 1e-6, false));
    }
}
