//! Clips per second decoded from videos of UCF101's shape (320×240, 25 fps,
//! MPEG-4 Part 2 in AVI as UCF101 ships, a key frame every 12 frames; 10 s
//! each): 16-frame clips at random starts, resized to 112×112, with N = 1
//! and 2 worker threads. advp's loader (`frames::train_clip_cut`: seek,
//! decode the window, crop and resize; rayon's threads) against TorchCodec,
//! PyAV and decord, whichever the project venv has
//! (`benches/python/decode.py`, the same clips, the same threads, a thread
//! pool, `torch.nn.functional.interpolate` to resize), interleaved rounds.
//! Reported: clips/s of each and advp / the fastest (target ≥ 1.0).
//!
//! Then an end-to-end epoch of `c3d_small` (standard training) from the
//! videos against the same epoch from their frames extracted as JPEG
//! (`scripts/extract-frames`), through the binary.
//!
//! Environment: `ADVP_BENCH_ROUNDS` (3), `ADVP_PYTHON`, `ADVP_BENCH_VIDEOS`
//! (24). Under `cargo test` it runs once, tiny (2 videos of 2 s, 8 clips),
//! and skips what is missing (ffmpeg, the Python side).

mod common;

use advp::runtime::data::frames::{self, Cut, Source, Video};
use common::median;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn ffmpeg_ok() -> bool {
    Command::new("ffmpeg").arg("-version").output().is_ok()
}

fn make_videos(dir: &Path, n: usize, seconds: u32) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let path = dir.join(format!("v{i:03}.avi"));
            let pattern = ["testsrc2", "smptebars", "mandelbrot", "life"][i % 4];
            let o = Command::new("ffmpeg")
                .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
                .arg(format!("{pattern}=size=320x240:rate=25"))
                .args(["-t", &seconds.to_string()])
                .args([
                    "-c:v", "mpeg4", "-q:v", "4", "-g", "12", "-pix_fmt", "yuv420p",
                ])
                .arg(&path)
                .output()
                .expect("ffmpeg runs");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            path
        })
        .collect()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    if !ffmpeg_ok() {
        eprintln!("decode bench: ffmpeg is not installed; skipped");
        return;
    }
    let rounds = common::rounds(bench, 3);
    let (videos, seconds, clips) = if bench {
        (common::env_usize("ADVP_BENCH_VIDEOS", 24), 10, 192)
    } else {
        (2, 2, 8)
    };
    let tmp = tempfile::tempdir().unwrap();
    let paths = make_videos(tmp.path(), videos, seconds);
    let frames_per_video = 25 * seconds as usize;
    let cut = Cut {
        frames: 16,
        stride: 1,
        size: 112,
    };
    // The same clips for every decoder: (video, start).
    let mut rng = advp::runtime::rng::SplitMix::new(7);
    let jobs: Vec<(usize, usize)> = (0..clips)
        .map(|k| {
            let v = k % videos;
            let start = rng.below_shift((frames_per_video - 16 + 1) as u64) as usize;
            (v, start)
        })
        .collect();
    let list = tmp.path().join("clips.json");
    std::fs::write(
        &list,
        serde_json::to_string(&serde_json::json!({
            "videos": paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "clips": jobs,
            "frames": 16,
            "size": 112,
        }))
        .unwrap(),
    )
    .unwrap();
    let python = std::env::var_os("ADVP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let python = python.exists().then_some(python);
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let video = |v: usize| Video {
            path: paths[v].clone(),
            label: 0,
            frames: frames_per_video,
            source: Source::File,
        };
        let (mut ours, mut theirs) = (Vec::new(), Vec::<serde_json::Value>::new());
        for _ in 0..rounds {
            let t = Instant::now();
            pool.install(|| {
                use rayon::prelude::*;
                jobs.par_iter().for_each(|&(v, start)| {
                    // The window at `start`: a video one window long from
                    // there is what the seeded draw would pick; the seed
                    // picks the crop and flip.
                    let clip = frames::clip_at(&video(v), cut, start, start as u64)
                        .expect("the clip decodes");
                    assert_eq!(clip.len(), 3 * 16 * 112 * 112);
                });
            });
            ours.push(clips as f64 / t.elapsed().as_secs_f64());
            if let Some(py) = &python {
                let o = Command::new(py)
                    .arg(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/benches/python/decode.py"
                    ))
                    .arg(&list)
                    .arg(threads.to_string())
                    .env("OMP_NUM_THREADS", "1")
                    .output()
                    .unwrap();
                theirs.push(common::json_line(&o, "benches/python/decode.py"));
            }
        }
        let advp_rate = median(&ours);
        println!("decode, {threads} thread(s): advp {advp_rate:.1} clips/s");
        let mut fastest: Option<(String, f64)> = None;
        if let Some(first) = theirs.first().and_then(|v| v.as_object()) {
            for (name, value) in first {
                if value.is_string() {
                    println!("  {name}: {}", value.as_str().unwrap_or(""));
                    continue;
                }
                let rates: Vec<f64> = theirs.iter().filter_map(|r| r[name].as_f64()).collect();
                let rate = median(&rates);
                println!("  {name}: {rate:.1} clips/s");
                if fastest.as_ref().is_none_or(|(_, f)| rate > *f) {
                    fastest = Some((name.clone(), rate));
                }
            }
        }
        match fastest {
            Some((name, rate)) => println!(
                "  advp / fastest ({name}) = {:.2} (target ≥ 1.0)",
                advp_rate / rate
            ),
            None => println!("  (no Python decoder in the venv to compare with)"),
        }
    }
    if bench {
        epoch(tmp.path(), &paths);
    }
}

/// One epoch of c3d_small from the videos and from their extracted frames.
fn epoch(dir: &Path, paths: &[PathBuf]) {
    let root = dir.join("UCF-101");
    let mut train = String::new();
    for (i, p) in paths.iter().enumerate() {
        let class = format!("C{}", i % 4);
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        std::fs::create_dir_all(root.join(&class)).unwrap();
        std::fs::copy(p, root.join(&class).join(format!("{stem}.avi"))).unwrap();
        train.push_str(&format!("{class}/{stem}.avi {}\n", i % 4 + 1));
    }
    let ind: String = (1..=4).map(|c| format!("{c} C{}\n", c - 1)).collect();
    let frames = dir.join("frames");
    let o = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/extract-frames"
        ))
        .args([root.as_os_str(), frames.as_os_str()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for r in [&root, &frames] {
        std::fs::write(r.join("classInd.txt"), &ind).unwrap();
        std::fs::write(r.join("trainlist01.txt"), &train).unwrap();
        std::fs::write(r.join("testlist01.txt"), &train).unwrap();
    }
    for (name, r, format) in [("videos", &root, "video"), ("frames", &frames, "frames")] {
        let file = dir.join(format!("{name}.advp"));
        std::fs::write(
            &file,
            format!(
                "data d = ucf101(root: \"{}\", format: {format}, frames: 16, size: 112, val: 0)\n\
                 model m = c3d_small(classes: 4, width: 8)\n\
                 train t = standard(m, d, epochs: 1, batch: 8)\n",
                r.display()
            ),
        )
        .unwrap();
        let t = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_advp"))
            .args(["run"])
            .arg(&file)
            .args(["--quiet", "--cache"])
            .arg(dir.join(format!("cache-{name}")))
            .args(["--out"])
            .arg(dir.join(format!("out-{name}")))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        println!(
            "epoch of c3d_small from {name}: {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
}
