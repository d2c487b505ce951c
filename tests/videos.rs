//! Video files decoded on the fly, against FFmpeg's own command: videos the
//! test makes with `ffmpeg` (test patterns, several codecs and containers,
//! a key frame every 10 frames so that clips seek), and their frames
//! extracted by `ffmpeg` as PNG. Plus the layouts' lists on folders the test
//! lays out.

// Without the `video` feature only the layouts' tests run.
#![cfg_attr(not(feature = "video"), allow(unused))]

use advp::runtime::data::frames::{self, Cut, Source, Video};
use advp::runtime::data::video::{self, Listed};
use image::RgbImage;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn have_ffmpeg(test: &str) -> bool {
    let ok = Command::new("ffmpeg").arg("-version").output().is_ok();
    if !ok {
        advp::util::skipped(test, "ffmpeg is not installed (apt-get install ffmpeg)");
    }
    ok
}

fn ffmpeg(args: &[&str]) {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        o.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A 4-second 64×48 test pattern at 25 fps (100 frames), moving, with a
/// key frame every 10 frames.
fn make_video(dir: &Path, codec: &str, ext: &str) -> PathBuf {
    let path = dir.join(format!("{codec}.{ext}"));
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=25:duration=4",
        "-c:v",
        codec,
        "-g",
        "10",
    ];
    if codec != "mjpeg" {
        args.extend(["-pix_fmt", "yuv420p"]);
    }
    if codec == "libvpx-vp9" {
        args.extend(["-deadline", "realtime", "-b:v", "200k"]);
    }
    let out = path.to_string_lossy().into_owned();
    args.push(&out);
    ffmpeg(&args);
    path
}

/// Every frame of a video as FFmpeg's command decodes it, as RGB.
fn ffmpeg_frames(video: &Path, dir: &Path) -> Vec<RgbImage> {
    std::fs::create_dir_all(dir).unwrap();
    let pattern = dir.join("f_%05d.png").to_string_lossy().into_owned();
    let input = video.to_string_lossy().into_owned();
    ffmpeg(&[
        "-i",
        &input,
        "-fps_mode",
        "passthrough",
        "-pix_fmt",
        "rgb24",
        &pattern,
    ]);
    let mut out = Vec::new();
    for k in 1.. {
        let p = dir.join(format!("f_{k:05}.png"));
        if !p.exists() {
            break;
        }
        out.push(image::open(&p).unwrap().to_rgb8());
    }
    out
}

fn max_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

/// The sum of absolute differences of two frames.
fn sad(a: &RgbImage, b: &RgbImage) -> u64 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum()
}

#[test]
#[cfg(feature = "video")]
fn decoded_frames_are_ffmpegs_own_in_every_container_and_after_seeks() {
    if !have_ffmpeg("decoded_frames_are_ffmpegs_own_in_every_container_and_after_seeks") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("libx264", "mp4"),
        ("mpeg4", "avi"),
        ("libvpx-vp9", "webm"),
        ("ffv1", "mkv"),
        ("mjpeg", "avi"),
    ];
    // Near the start, then runs more than 48 frames apart, each reached by
    // a seek to the key frame before it; the last frames.
    let wants: [BTreeSet<usize>; 3] = [
        [0, 1, 7, 60, 61, 62].into(),
        [49, 99].into(),
        [97, 98, 99].into(),
    ];
    for (codec, ext) in cases {
        let path = make_video(tmp.path(), codec, ext);
        let reference = ffmpeg_frames(&path, &tmp.path().join(format!("{codec}-frames")));
        assert_eq!(reference.len(), 100, "{codec}: ffmpeg's frame count");
        // The pattern moves: frames a second apart differ.
        assert!(sad(&reference[0], &reference[25]) > 1000, "{codec}");
        let probed = video::probe(&path).unwrap_or_else(|e| panic!("{codec}: {e}"));
        assert_eq!(probed.frames, 100, "{codec}: the frame count");
        assert_eq!((probed.width, probed.height), (64, 48));
        for want in &wants {
            let mut got = Vec::new();
            video::frames(&path, want, &mut |i, img| {
                got.push((i, img.clone()));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{codec}: {e}"));
            assert_eq!(
                got.iter().map(|g| g.0).collect::<Vec<_>>(),
                want.iter().copied().collect::<Vec<_>>(),
                "{codec}: each wanted frame once, in order"
            );
            for (i, img) in &got {
                // The same libraries and the same conversion to RGB as the
                // command: the same pixels.
                let d = max_diff(img, &reference[*i]);
                assert_eq!(d, 0, "{codec}: frame {i} differs from ffmpeg's");
                // And no other frame matches it better: the frame is the one asked.
                let best = (0..100).map(|j| sad(img, &reference[j])).min().unwrap();
                assert_eq!(sad(img, &reference[*i]), best, "{codec}: frame {i}");
            }
        }
    }
}

#[test]
#[cfg(feature = "video")]
fn clips_from_a_video_file_are_cut_as_from_its_frames() {
    if !have_ffmpeg("clips_from_a_video_file_are_cut_as_from_its_frames") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = make_video(tmp.path(), "ffv1", "mkv");
    let file = Video {
        path: path.clone(),
        label: 0,
        frames: 100,
        source: Source::File,
    };
    // The same frames as a frame folder, written losslessly as JPEG cannot
    // be: so the folder's JPEGs are decoded back, and the file's clip is
    // compared with a clip of a video whose frames are those JPEGs.
    let folder = tmp.path().join("class").join("clip");
    let reference = ffmpeg_frames(&path, &tmp.path().join("png"));
    std::fs::create_dir_all(&folder).unwrap();
    for (k, f) in reference.iter().enumerate() {
        f.save(folder.join(format!("image_{:05}.jpg", k + 1)))
            .unwrap();
    }
    // An mjpeg .avi of exactly those JPEG files (stream copy): both paths
    // then decode the same compressed frames.
    let mjpeg = tmp.path().join("copy.avi");
    ffmpeg(&[
        "-framerate",
        "25",
        "-i",
        &folder.join("image_%05d.jpg").to_string_lossy(),
        "-c:v",
        "copy",
        &mjpeg.to_string_lossy(),
    ]);
    let (from_file, from_folder) = (
        Video {
            path: mjpeg,
            ..file.clone()
        },
        Video {
            path: folder,
            source: Source::Frames,
            ..file.clone()
        },
    );
    let cut = Cut {
        frames: 8,
        stride: 3,
        size: 16,
    };
    for seed in [1u64, 2, 3] {
        let a = frames::train_clip_cut(&from_file, cut, seed).unwrap();
        let b = frames::train_clip_cut(&from_folder, cut, seed).unwrap();
        let d = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        // Two JPEG decoders (FFmpeg's and the image crate's) round apart.
        assert!(d <= 6.0 / 255.0, "seed {seed}: the clips differ by {d}");
    }
    let a = frames::test_views(&from_file, cut, 4, 3).unwrap();
    let b = frames::test_views(&from_folder, cut, 4, 3).unwrap();
    assert_eq!(a.len(), 12, "4 windows × 3 crops");
    for (x, y) in a.iter().zip(&b) {
        let d = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(d <= 6.0 / 255.0, "a test view differs by {d}");
    }
    // The lossless file itself decodes to ffmpeg's frames: its clip
    // starts where a strided window of them does.
    let lossless = frames::test_views(&file, cut, 1, 1).unwrap();
    assert_eq!(lossless[0].len(), 3 * 8 * 16 * 16);
}

#[test]
#[cfg(feature = "video")]
fn a_missing_or_damaged_video_is_listed_with_why_and_the_others_are_kept() {
    if !have_ffmpeg("a_missing_or_damaged_video_is_listed_with_why_and_the_others_are_kept") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let good = make_video(tmp.path(), "libx264", "mp4");
    let garbage = tmp.path().join("garbage.mp4");
    std::fs::write(&garbage, b"this is no video at all, only some bytes").unwrap();
    let truncated = tmp.path().join("truncated.mp4");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..600]).unwrap();
    let missing = tmp.path().join("missing.mp4");
    let listed: Vec<Listed> = [&good, &garbage, &truncated, &missing]
        .into_iter()
        .map(|p| Listed {
            path: p.clone(),
            label: 0,
        })
        .collect();
    let (ok, bad) = video::probe_all(&listed);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].path, good);
    let named: Vec<&str> = bad.iter().map(|u| u.video.as_str()).collect();
    assert_eq!(bad.len(), 3, "{bad:?}");
    for p in [&garbage, &truncated, &missing] {
        assert!(named.contains(&p.to_str().unwrap()), "{bad:?}");
    }
    assert!(bad.iter().all(|u| !u.why.is_empty()));
    assert!(bad
        .iter()
        .any(|u| u.video.ends_with("missing.mp4") && u.why.contains("missing")));
}

fn touch(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b"").unwrap();
}

#[test]
fn a_list_names_videos_by_path_and_label_number_or_name() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("lists")).unwrap();
    std::fs::write(
        d.join("lists/train.csv"),
        "path,label\n../v/a.mp4,jump\n\"../v/b, the second.mp4\",run\n# a comment\n\n",
    )
    .unwrap();
    std::fs::write(d.join("lists/test.csv"), "../v/c.webm,jump\r\n").unwrap();
    let l = video::lists(&d.join("lists/train.csv"), &d.join("lists/test.csv")).unwrap();
    assert_eq!(l.classes, ["jump", "run"]);
    assert_eq!(l.train.len(), 2);
    assert_eq!(l.train[1].path, d.join("lists/../v/b, the second.mp4"));
    assert_eq!(
        (l.train[0].label, l.train[1].label, l.test[0].label),
        (0, 1, 0)
    );
    // Numbers stay numbers, with the classes up to the largest.
    std::fs::write(d.join("lists/n.csv"), "x.mp4,0\ny.mp4,4\n").unwrap();
    let n = video::lists(&d.join("lists/n.csv"), &d.join("lists/n.csv")).unwrap();
    assert_eq!(n.classes.len(), 5);
    assert_eq!(n.train[1].label, 4);
    // A line that is not `path,label` names its file and line.
    std::fs::write(d.join("lists/bad.csv"), "x.mp4,0\ny.mp4\n").unwrap();
    let e = video::lists(&d.join("lists/bad.csv"), &d.join("lists/n.csv"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.csv:2") && e.contains("path,label"), "{e}");
}

#[test]
fn kinetics_reads_its_annotations_or_its_class_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let k = tmp.path().join("k400");
    std::fs::create_dir_all(k.join("annotations")).unwrap();
    std::fs::write(
        k.join("annotations/train.csv"),
        "label,youtube_id,time_start,time_end,split,is_cc\n\
         abseiling,---QUuC4vJs,3,13,train,0\n\
         \"massaging person's head\",--4nwX4jnyk,45,55,train,0\n",
    )
    .unwrap();
    std::fs::write(
        k.join("annotations/validate.csv"),
        "label,youtube_id,time_start,time_end,split\nabseiling,0wR5jVB-WPk,417,427,val\n",
    )
    .unwrap();
    // One video in its class folder, one flat, one not downloaded.
    touch(&k.join("train/abseiling/---QUuC4vJs_000003_000013.mp4"));
    touch(&k.join("val/0wR5jVB-WPk_000417_000427.mp4"));
    let l = video::kinetics(&k).unwrap();
    assert_eq!(l.classes, ["abseiling", "massaging person's head"]);
    assert_eq!(
        l.train[0].path,
        k.join("train/abseiling/---QUuC4vJs_000003_000013.mp4")
    );
    assert_eq!(l.test[0].path, k.join("val/0wR5jVB-WPk_000417_000427.mp4"));
    assert_eq!(l.train[1].label, 1);
    // Listed though missing: probing names it.
    assert!(!l.train[1].path.exists());
    // Class folders alone.
    let f = tmp.path().join("folders");
    touch(&f.join("train/b_class/x.mp4"));
    touch(&f.join("train/a_class/y.mkv"));
    touch(&f.join("train/a_class/notes.txt"));
    touch(&f.join("val/b_class/z.webm"));
    let l = video::kinetics(&f).unwrap();
    assert_eq!(l.classes, ["a_class", "b_class"]);
    assert_eq!(l.train.len(), 2, "notes.txt is no video");
    assert_eq!((l.train[0].label, l.test[0].label), (0, 1));
    let e = video::kinetics(&tmp.path().join("none")).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[test]
fn something_something_v2_reads_its_label_files() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path();
    std::fs::create_dir_all(s.join("labels")).unwrap();
    std::fs::write(
        s.join("labels/labels.json"),
        r#"{"Approaching something with your camera": "0", "Putting something on a surface": "1"}"#,
    )
    .unwrap();
    std::fs::write(
        s.join("labels/train.json"),
        r#"[{"id": "78687", "label": "putting a pen on a table", "template": "Putting [something] on a surface", "placeholders": ["a pen"]},
            {"id": "42326", "label": "approaching a cup with your camera", "template": "Approaching [something] with your camera", "placeholders": ["a cup"]}]"#,
    )
    .unwrap();
    std::fs::write(
        s.join("labels/validation.json"),
        r#"[{"id": "74225", "label": "x", "template": "Putting [something] on a surface", "placeholders": []}]"#,
    )
    .unwrap();
    touch(&s.join("20bn-something-something-v2/78687.webm"));
    let l = video::ssv2(s).unwrap();
    assert_eq!(l.classes[1], "Putting something on a surface");
    assert_eq!(
        l.train[0].path,
        s.join("20bn-something-something-v2/78687.webm")
    );
    assert_eq!(
        (l.train[0].label, l.train[1].label, l.test[0].label),
        (1, 0, 1)
    );
    // A template labels.json does not know is named.
    std::fs::write(
        s.join("labels/validation.json"),
        r#"[{"id": "1", "template": "Dropping [something]"}]"#,
    )
    .unwrap();
    let e = video::ssv2(s).unwrap_err().to_string();
    assert!(
        e.contains("Dropping something") && e.contains("labels.json"),
        "{e}"
    );
}

/// The venv's python with TorchCodec, or the test says it is skipped.
fn torchcodec_python(test: &str) -> Option<PathBuf> {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import torchcodec.decoders"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        advp::util::skipped(
            test,
            "the venv has no TorchCodec (./scripts/test installs torchcodec beside torch)",
        );
        return None;
    }
    Some(py)
}

#[test]
#[cfg(feature = "video")]
fn decoded_frames_are_torchcodecs() {
    if !have_ffmpeg("decoded_frames_are_torchcodecs") {
        return;
    }
    let Some(py) = torchcodec_python("decoded_frames_are_torchcodecs") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let want: BTreeSet<usize> = [0, 1, 7, 49, 60, 61, 99].into();
    let cases = [("libx264", "mp4"), ("mpeg4", "avi"), ("libvpx-vp9", "webm")];
    let videos: Vec<(PathBuf, PathBuf)> = cases
        .iter()
        .map(|(codec, ext)| {
            let raw = tmp.path().join(format!("{codec}.rgb"));
            (make_video(tmp.path(), codec, ext), raw)
        })
        .collect();
    // One Python process decodes every video (importing torch is slow).
    let indices: Vec<String> = want.iter().map(|i| i.to_string()).collect();
    let o = Command::new(&py)
        .arg("-c")
        .arg(
            "import sys\n\
             from torchcodec.decoders import VideoDecoder\n\
             idx = [int(i) for i in sys.argv[1].split(',')]\n\
             for video, raw in zip(sys.argv[2::2], sys.argv[3::2]):\n\
             \x20   d = VideoDecoder(video, seek_mode='exact')\n\
             \x20   x = d.get_frames_at(idx).data.permute(0, 2, 3, 1).contiguous()\n\
             \x20   open(raw, 'wb').write(x.numpy().tobytes())\n",
        )
        .arg(indices.join(","))
        .args(
            videos
                .iter()
                .flat_map(|(v, r)| [v.as_os_str(), r.as_os_str()]),
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for ((codec, _), (path, raw)) in cases.iter().zip(&videos) {
        let theirs = std::fs::read(raw).unwrap();
        let frame = 64 * 48 * 3;
        assert_eq!(theirs.len(), want.len() * frame, "{codec}");
        let mut k = 0;
        video::frames(path, &want, &mut |i, img| {
            let t = &theirs[k * frame..(k + 1) * frame];
            // The same FFmpeg underneath, the same pixels.
            assert!(
                img.as_raw() == t,
                "{codec}: frame {i} differs from TorchCodec's"
            );
            k += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(k, want.len());
    }
}
