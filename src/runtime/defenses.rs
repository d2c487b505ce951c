//! Preprocessing defenses placed in front of a classifier (`defense >> model`).
//!
//! `video_compression` is ART's `VideoCompression`: each clip is encoded to
//! H.264 (libx264, yuv420p, the given CRF) by a real `ffmpeg` driven over
//! pipes, decoded back, and returned in [0, 1]. Pixels are rounded (not
//! truncated) to uint8; odd sizes are padded for yuv420p and cropped back; the
//! caller's tensor is never modified. When an attack goes through the defense
//! the backward pass is the identity (BPDA): out = x + (h264(x) − x).detach().

use crate::runtime::error::{NodeError, NodeResult};
use std::process::{Command, Stdio};
use tch::{Device, Kind, Tensor};

#[derive(Clone, Debug)]
pub enum Defense {
    VideoCompression {
        crf: i64,
    },
    /// A trained APE-GAN generator, frozen: differentiable, so an attack
    /// through it sees the whole F∘G (white-box).
    Generator(std::rc::Rc<super::models::Net>),
}

impl Defense {
    /// The defended clips; gradients pass through as the identity.
    pub fn apply(&self, x: &Tensor) -> NodeResult<Tensor> {
        match self {
            Defense::VideoCompression { crf } => {
                let y = h264_roundtrip(x, *crf)?;
                Ok(x + (y - x).detach())
            }
            Defense::Generator(g) => Ok(g.forward(x, false)),
        }
    }
}

/// Where ffmpeg is (`$ADVP_FFMPEG` or `ffmpeg` on the PATH), or how to get it.
/// Looked up once per process: starting ffmpeg costs about 0.1 s.
pub fn ffmpeg() -> NodeResult<String> {
    // The program asked for, and whether it ran.
    static FOUND: std::sync::OnceLock<(String, bool)> = std::sync::OnceLock::new();
    let (exe, runs) = FOUND.get_or_init(|| {
        let exe = std::env::var("ADVP_FFMPEG").unwrap_or_else(|_| "ffmpeg".into());
        let runs = Command::new(&exe)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        (exe, runs)
    });
    if *runs {
        Ok(exe.clone())
    } else {
        Err(NodeError::Failed(format!(
            "`video_compression` runs a real H.264 encoder, and `{exe}` was not found; install it (Debian/Ubuntu: `sudo apt-get install ffmpeg`; macOS: `brew install ffmpeg`) or point ADVP_FFMPEG at it"
        )))
    }
}

/// Runs ffmpeg with `args` and returns its last error line on failure.
fn run_ffmpeg(exe: &str, args: &[String]) -> NodeResult<()> {
    let out = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NodeError::Failed(format!("cannot start {exe}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Err(NodeError::Failed(format!("{exe} failed: {last}")))
}

/// H.264 encode and decode of every clip (N×3×T×H×W in [0, 1]).
///
/// Every clip gets its own encoder and decoder instance, as ART encodes each
/// video on its own, so a clip's result does not depend on the others in its
/// batch (tested). Starting ffmpeg costs about 0.1 s, far more than coding a
/// small clip, so one ffmpeg process codes a whole chunk of clips as separate
/// inputs and outputs (one encoder per output stream), and the chunks run in
/// parallel. Encoders and decoders are single-threaded (`-threads 1`): x264's
/// output depends on its thread count, and results must not depend on the
/// machine's core count.
pub fn h264_roundtrip(x: &Tensor, crf: i64) -> NodeResult<Tensor> {
    let exe = ffmpeg()?;
    let s = x.size();
    if s.len() != 5 || s[1] != 3 {
        return Err(NodeError::Data(format!(
            "video_compression wants N×3×T×H×W clips, got {s:?}"
        )));
    }
    let (n, t, h, w) = (s[0], s[2], s[3], s[4]);
    let clip_bytes = (t * h * w * 3) as usize;
    // Round to uint8 and lay out as T×H×W×C (rgb24), on the CPU.
    let bytes = (x.detach().to_device(Device::Cpu).to_kind(Kind::Float) * 255.0)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .permute([0, 2, 3, 4, 1])
        .contiguous();
    let all =
        Vec::<u8>::try_from(bytes.flatten(0, -1)).map_err(|e| NodeError::Torch(e.to_string()))?;
    let workers = rayon::current_num_threads().max(1);
    let per = (n as usize).div_ceil(workers).clamp(1, 32);
    use rayon::prelude::*;
    let decoded: Vec<Vec<u8>> = all
        .par_chunks(per * clip_bytes)
        .map(|chunk| roundtrip_chunk(&exe, chunk, clip_bytes, (t, h, w), crf))
        .collect::<NodeResult<_>>()?;
    let out: Vec<u8> = decoded.concat();
    Ok(Tensor::from_slice(&out)
        .reshape([n, t, h, w, 3])
        .permute([0, 4, 1, 2, 3])
        .to_kind(Kind::Float)
        .divide_scalar(255.0)
        .to_device(x.device()))
}

/// One encode process and one decode process for consecutive clips of `chunk`
/// (raw rgb24, `clip_bytes` each), through files in a private temp folder.
fn roundtrip_chunk(
    exe: &str,
    chunk: &[u8],
    clip_bytes: usize,
    (t, h, w): (i64, i64, i64),
    crf: i64,
) -> NodeResult<Vec<u8>> {
    let dir = tempfile::Builder::new()
        .prefix("advp-h264-")
        .tempdir_in(if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        })
        .or_else(|_| tempfile::tempdir())
        .map_err(|e| NodeError::Failed(format!("cannot make a temp folder for ffmpeg: {e}")))?;
    let k = chunk.len() / clip_bytes;
    let file = |i: usize, ext: &str| dir.path().join(format!("{i}.{ext}")).display().to_string();
    for i in 0..k {
        std::fs::write(file(i, "rgb"), &chunk[i * clip_bytes..(i + 1) * clip_bytes])
            .map_err(|e| NodeError::Failed(format!("cannot write a clip for ffmpeg: {e}")))?;
    }
    run_ffmpeg(exe, &encode_args(k, &file, (h, w), crf))?;
    run_ffmpeg(exe, &decode_args(k, &file, (h, w)))?;
    let mut out = Vec::with_capacity(chunk.len());
    for i in 0..k {
        let raw = std::fs::read(file(i, "raw"))
            .map_err(|e| NodeError::Failed(format!("reading ffmpeg's output: {e}")))?;
        if raw.len() != clip_bytes {
            return Err(NodeError::Failed(format!(
                "ffmpeg returned {} bytes for a {t}×{h}×{w} clip (expected {clip_bytes})",
                raw.len()
            )));
        }
        out.extend(raw);
    }
    Ok(out)
}

/// ffmpeg's quiet, overwriting, stdin-free start of a command line.
const QUIET: [&str; 5] = ["-hide_banner", "-loglevel", "error", "-y", "-nostdin"];

/// Raw RGB clips `0.rgb`…  in, padded to even sizes for yuv420p, H.264
/// `0.h264`… out (one ffmpeg for the `k` clips, one thread each).
fn encode_args(
    k: usize,
    file: &dyn Fn(usize, &str) -> String,
    (h, w): (i64, i64),
    crf: i64,
) -> Vec<String> {
    let mut args: Vec<String> = QUIET.map(String::from).to_vec();
    let size = format!("{w}x{h}");
    for i in 0..k {
        args.extend(
            [
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &size, "-r", "25", "-i",
            ]
            .map(String::from),
        );
        args.push(file(i, "rgb"));
    }
    let pad = format!("pad={}:{}:0:0", w + w % 2, h + h % 2);
    let crf = crf.to_string();
    for i in 0..k {
        let stream = format!("{i}:v");
        args.extend(
            [
                "-map", &stream, "-vf", &pad, "-c:v", "libx264", "-preset", "medium", "-crf", &crf,
                "-threads", "1", "-pix_fmt", "yuv420p", "-f", "h264",
            ]
            .map(String::from),
        );
        args.push(file(i, "h264"));
    }
    args
}

/// H.264 `0.h264`… in, back to RGB `0.raw`… cropped to the original size.
fn decode_args(k: usize, file: &dyn Fn(usize, &str) -> String, (h, w): (i64, i64)) -> Vec<String> {
    let mut args: Vec<String> = QUIET.map(String::from).to_vec();
    for i in 0..k {
        args.extend(["-threads", "1", "-f", "h264", "-i"].map(String::from));
        args.push(file(i, "h264"));
    }
    let crop = format!("format=rgb24,crop={w}:{h}:0:0");
    for i in 0..k {
        let stream = format!("{i}:v");
        args.extend(
            [
                "-map", &stream, "-vf", &crop, "-f", "rawvideo", "-pix_fmt", "rgb24",
            ]
            .map(String::from),
        );
        args.push(file(i, "raw"));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ffmpeg is a system tool: say plainly when a test cannot run.
    fn have_ffmpeg() -> bool {
        match ffmpeg() {
            Ok(_) => true,
            Err(e) => {
                crate::util::skipped("defenses unit tests", &e.to_string());
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

    #[test]
    fn a_clip_codes_the_same_alone_and_in_a_batch() {
        if !have_ffmpeg() {
            return;
        }
        tch::manual_seed(3);
        let x = Tensor::rand([5, 3, 4, 10, 12], (Kind::Float, Device::Cpu));
        let batch = h264_roundtrip(&x, 28).unwrap();
        for i in 0..5 {
            let alone = h264_roundtrip(&x.narrow(0, i, 1), 28).unwrap();
            assert!(alone.equal(&batch.narrow(0, i, 1)), "clip {i}");
        }
    }
}
