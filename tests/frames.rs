//! The frame-folder loader on mini UCF101 and HMDB51 datasets written to a
//! temporary folder.
//!
//! Frames are 40×30 jpgs whose green channel is uniform and encodes the frame
//! number (`10 × k` for `image_k`), so the order of frames in a clip can be
//! read back from its mean green value whatever the crop; red and blue carry
//! gradients (or constants) so that crops and flips change the pixels.

use std::path::{Path, PathBuf};

use advp::runtime::data::frames::*;
use advp::runtime::error::{NodeError, NodeResult};
use image::{Rgb, RgbImage};

const W: u32 = 40;
const H: u32 = 30;

/// What the frames of a video look like.
#[derive(Clone, Copy)]
enum Look {
    /// Red grows left to right, blue top to bottom.
    Gradient,
    /// Every pixel of frame `k` is `(200, 10k, 60)`.
    Constant,
}

fn write_video(root: &Path, class: &str, video: &str, frames: usize, look: Look) -> PathBuf {
    let dir = root.join(class).join(video);
    std::fs::create_dir_all(&dir).unwrap();
    for k in 1..=frames {
        let g = (10 * k) as u8;
        let img = RgbImage::from_fn(W, H, |x, y| match look {
            Look::Gradient => Rgb([(x * 6) as u8, g, (y * 8) as u8]),
            Look::Constant => Rgb([200, g, 60]),
        });
        img.save(dir.join(format!("image_{k:05}.jpg"))).unwrap();
    }
    dir
}

/// (class, video, frames, look, in train list)
const UCF: &[(&str, &str, usize, Look, bool)] = &[
    ("Alpha", "v_Alpha_g01_c01", 12, Look::Gradient, false),
    ("Alpha", "v_Alpha_g02_c01", 5, Look::Gradient, true),
    ("Alpha", "v_Alpha_g03_c01", 8, Look::Gradient, true),
    ("Beta", "v_Beta_g01_c01", 20, Look::Gradient, false),
    ("Beta", "v_Beta_g02_c01", 6, Look::Gradient, true),
    ("Gamma", "v_Gamma_g01_c01", 10, Look::Constant, false),
    ("Gamma", "v_Gamma_g02_c01", 7, Look::Gradient, true),
    ("Gamma", "v_Gamma_g03_c01", 9, Look::Gradient, true),
];

/// A mini UCF101 with split 1; CRLF line endings and trailing blank lines.
fn mini_ucf() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for &(class, video, frames, look, _) in UCF {
        write_video(root, class, video, frames, look);
    }
    std::fs::write(
        root.join("classInd.txt"),
        "1 Alpha\r\n2 Beta\r\n3 Gamma\r\n\r\n",
    )
    .unwrap();
    let label = |c: &str| {
        ["Alpha", "Beta", "Gamma"]
            .iter()
            .position(|x| *x == c)
            .unwrap()
            + 1
    };
    let mut train = String::new();
    let mut test = String::new();
    for &(class, video, _, _, is_train) in UCF {
        if is_train {
            train += &format!("{class}/{video}.avi {}\r\n", label(class));
        } else {
            test += &format!("{class}/{video}.avi\r\n");
        }
    }
    train += "\r\n";
    test += "\n\n";
    std::fs::write(root.join("trainlist01.txt"), train).unwrap();
    std::fs::write(root.join("testlist01.txt"), test).unwrap();
    tmp
}

fn ucf_video(idx: &Index, name: &str) -> Video {
    idx.train
        .iter()
        .chain(&idx.test)
        .find(|v| v.path.ends_with(name))
        .unwrap_or_else(|| panic!("{name} not indexed"))
        .clone()
}

/// Mean of channel `c` of frame `t` of a `3×frames×size×size` clip, in 0..=255.
fn mean(clip: &[f32], frames: usize, size: usize, c: usize, t: usize) -> f32 {
    let plane = size * size;
    let start = c * frames * plane + t * plane;
    clip[start..start + plane].iter().sum::<f32>() / plane as f32 * 255.0
}

/// The frame numbers a clip shows, read from its green channel.
fn frame_numbers(clip: &[f32], frames: usize, size: usize) -> Vec<usize> {
    (0..frames)
        .map(|t| {
            let g = mean(clip, frames, size, 1, t);
            let k = (g / 10.0).round();
            assert!(
                (g - 10.0 * k).abs() < 3.0,
                "green {g} of frame {t} is not near a multiple of 10"
            );
            k as usize
        })
        .collect()
}

fn err_names(result: NodeResult<impl std::fmt::Debug>, path: &Path) -> String {
    let e = match result.expect_err("an error") {
        NodeError::Data(e) => e,
        other => panic!("expected a data error, got {other:?}"),
    };
    let p = path.display().to_string();
    assert!(e.contains(&p), "error `{e}` does not name {p}");
    e
}

/// The frame numbers of every sample of a split, decoded through the data
/// layer, with each sample's video.
fn shown(clips: &advp::runtime::data::Clips, t: usize, s: usize) -> Vec<(usize, Vec<usize>)> {
    let idx: Vec<usize> = (0..clips.len()).collect();
    let (x, _) = clips.batch(&idx, 0, tch::Device::Cpu).unwrap();
    (0..clips.len())
        .map(|i| {
            let clip = Vec::<f32>::try_from(x.get(i as i64).flatten(0, -1)).unwrap();
            (clips.video_of(i).unwrap(), frame_numbers(&clip, t, s))
        })
        .collect()
}

// -------------------------------------------------------------------- UCF101

#[test]
fn short_test_videos_give_each_distinct_window_once_however_many_clips_are_asked() {
    let tmp = mini_ucf();
    let idx = index(tmp.path(), 1, Kind::Ucf101).unwrap();
    // The 3 test videos have 12, 20 and 10 frames: 5, 13 and 3 windows of 8.
    let (t, s) = (8, 8);
    for v in &idx.test {
        let clips = test_clips(v, t, s, 100).unwrap();
        let windows: Vec<Vec<usize>> = clips.iter().map(|c| frame_numbers(c, t, s)).collect();
        let distinct: std::collections::BTreeSet<&Vec<usize>> = windows.iter().collect();
        assert_eq!(
            distinct.len(),
            windows.len(),
            "{}: a window twice",
            v.name()
        );
        assert_eq!(windows.len(), v.frames - t + 1, "{}", v.name());
        assert_eq!(test_clip_count(v, t, 100), windows.len());
    }

    // The split as an evaluation reads it: 21 samples, never the same
    // (video, window) twice, and the shortfall said with its counts.
    let d = advp::runtime::data::frame_folders(&advp::runtime::data::FrameArgs {
        root: tmp.path().to_path_buf(),
        kind: Kind::Ucf101,
        split: 1,
        sampling: advp::runtime::data::Sampling {
            cut: Cut::new(t, s),
            clips: 100,
            crops: 1,
            views: false,
            val: 0.0,
        },
    })
    .unwrap();
    assert_eq!(d.test.len(), 5 + 13 + 3);
    let samples = shown(&d.test, t, s);
    let distinct: std::collections::BTreeSet<&(usize, Vec<usize>)> = samples.iter().collect();
    assert_eq!(distinct.len(), samples.len(), "a (video, window) twice");
    let advp::runtime::data::Clips::Frames(f) = &d.test else {
        panic!("frame folders")
    };
    assert_eq!(f.shortfall(), Some((3, 21, 300)));
    assert_eq!(
        d.test.video_name(0).as_deref(),
        Some("Alpha/v_Alpha_g01_c01")
    );
}

#[test]
fn ucf_index_lists_classes_labels_frames_and_splits() {
    let tmp = mini_ucf();
    let idx = index(tmp.path(), 1, Kind::Ucf101).unwrap();
    assert_eq!(idx.classes, ["Alpha", "Beta", "Gamma"]);
    assert_eq!(idx.train.len(), 5);
    assert_eq!(idx.test.len(), 3);
    for &(class, video, frames, _, is_train) in UCF {
        let list = if is_train { &idx.train } else { &idx.test };
        let v = list
            .iter()
            .find(|v| v.path.ends_with(video))
            .unwrap_or_else(|| panic!("{video} missing from its list"));
        assert_eq!(v.path, tmp.path().join(class).join(video));
        assert_eq!(v.frames, frames, "{video}");
        let label = idx.classes.iter().position(|c| c == class).unwrap();
        assert_eq!(v.label, label as i64, "{video}");
    }
    // Order follows the split files.
    assert!(idx.train[0].path.ends_with("v_Alpha_g02_c01"));
    assert!(idx.test[2].path.ends_with("v_Gamma_g01_c01"));
}

#[test]
fn train_clip_shape_range_and_determinism() {
    let tmp = mini_ucf();
    let idx = index(tmp.path(), 1, Kind::Ucf101).unwrap();
    let v = ucf_video(&idx, "v_Beta_g01_c01"); // 20 frames
    let (t, s) = (8, 16);
    let a = train_clip(&v, t, s, 1).unwrap();
    assert_eq!(a.len(), 3 * t * s * s);
    assert!(a.iter().all(|x| (0.0..=1.0).contains(x)));
    assert_eq!(a, train_clip(&v, t, s, 1).unwrap(), "same seed, same clip");
    let b = train_clip(&v, t, s, 2).unwrap();
    assert_ne!(a, b, "different seeds, different clips");
    // The window is consecutive frames inside the video.
    for seed in 0..10 {
        let clip = train_clip(&v, t, s, seed).unwrap();
        let ks = frame_numbers(&clip, t, s);
        assert!(ks[0] >= 1 && ks[t - 1] <= 20, "{ks:?}");
        assert!(ks.windows(2).all(|w| w[1] == w[0] + 1), "{ks:?}");
    }
    // Across seeds the start, crop and flip vary.
    let starts: std::collections::BTreeSet<usize> = (0..20)
        .map(|seed| frame_numbers(&train_clip(&v, t, s, seed).unwrap(), t, s)[0])
        .collect();
    assert!(starts.len() > 1, "the window start never changed");
}

#[test]
fn train_clip_loop_pads_short_videos() {
    let tmp = mini_ucf();
    let idx = index(tmp.path(), 1, Kind::Ucf101).unwrap();
    let v = ucf_video(&idx, "v_Alpha_g02_c01"); // 5 frames
    for seed in [0, 1, 99] {
        let clip = train_clip(&v, 12, 8, seed).unwrap();
        assert_eq!(clip.len(), 3 * 12 * 8 * 8);
        assert_eq!(
            frame_numbers(&clip, 12, 8),
            [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2]
        );
    }
}

#[test]
fn train_batch_keeps_job_order() {
    let tmp = mini_ucf();
    let idx = index(tmp.path(), 1, Kind::Ucf101).unwrap();
    let videos: Vec<&Video> = idx.train.iter().chain(&idx.test).collect();
    let seeds: Vec<u64> = (0..videos.len() as u64).map(|i| 1000 + i).collect();
    let batch = train_batch(&videos, 4, 12, &seeds).unwrap();
    assert_eq!(batch.len(), videos.len());
    for ((v, &seed), clip) in videos.iter().zip(&seeds).zip(&batch) {
        assert_eq!(clip, &train_clip(v, 4, 12, seed).unwrap());
    }
    assert!(train_batch(&videos, 4, 12, &seeds[1..]).is_err());
}

#[test]
fn the_loader_thread_gives_the_batches_asked_in_order_and_stops_when_left() {
    use advp::runtime::data::{with_batches, Clips, Frames, Job};
    let tmp = mini_ucf();
    let idx = index(tmp.path(), 1, Kind::Ucf101).unwrap();
    let n = idx.train.len();
    let clips = Clips::Frames(Frames::cut(
        idx.train.clone(),
        None,
        Cut {
            frames: 3,
            stride: 2,
            size: 8,
        },
        1,
        false,
    ));
    let jobs: Vec<Job> = (0..5)
        .map(|b| Job {
            idx: (0..n).map(|i| (i + b) % n).take(2).collect(),
            seed: 77 + b as u64,
            first: 0,
        })
        .collect();
    let cpu = tch::Device::Cpu;
    let got = with_batches(&clips, jobs.clone(), cpu, |next| {
        let mut got = Vec::new();
        while let Some(b) = next() {
            got.push(b.unwrap());
        }
        got
    });
    assert_eq!(got.len(), 5);
    for (j, (x, y)) in jobs.iter().zip(&got) {
        let (ex, ey) = clips.batch(&j.idx, j.seed, cpu).unwrap();
        assert_eq!(x.size(), [2, 3, 3, 8, 8]);
        assert!(x.equal(&ex) && y.equal(&ey), "batch {:?}", j.idx);
    }
    // A loop that leaves after one batch: the loader stops with it.
    let one = with_batches(&clips, jobs, cpu, |next| next().map(|b| b.is_ok()));
    assert_eq!(one, Some(true));
}

#[test]
fn test_clips_windows_and_centre_crop() {
    let tmp = mini_ucf();
    let idx = index(tmp.path(), 1, Kind::Ucf101).unwrap();
    let (t, s) = (4, 16);

    let long = ucf_video(&idx, "v_Beta_g01_c01"); // 20 frames
    let clips = test_clips(&long, t, s, 3).unwrap();
    assert_eq!(clips.len(), 3);
    assert!(clips.iter().all(|c| c.len() == 3 * t * s * s));
    assert!(clips.iter().flatten().all(|x| (0.0..=1.0).contains(x)));
    let firsts: Vec<Vec<usize>> = clips.iter().map(|c| frame_numbers(c, t, s)).collect();
    assert_eq!(
        firsts,
        [vec![1, 2, 3, 4], vec![9, 10, 11, 12], vec![17, 18, 19, 20]]
    );
    assert_eq!(clips, test_clips(&long, t, s, 3).unwrap(), "deterministic");

    // No longer than the window: a single loop-padded clip.
    let short = ucf_video(&idx, "v_Alpha_g02_c01"); // 5 frames
    let one = test_clips(&short, 8, s, 3).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(frame_numbers(&one[0], 8, s), [1, 2, 3, 4, 5, 1, 2, 3]);

    // The centre crop of a constant frame is that colour.
    let constant = ucf_video(&idx, "v_Gamma_g01_c01"); // 10 frames of (200, 10k, 60)
    let clips = test_clips(&constant, 2, s, 2).unwrap();
    assert_eq!(clips.len(), 2);
    for (clip, first) in clips.iter().zip([1usize, 9]) {
        for frame in 0..2 {
            let want = [200.0, 10.0 * (first + frame) as f32, 60.0];
            for (c, w) in want.iter().enumerate() {
                let plane = s * s;
                let start = c * 2 * plane + frame * plane;
                for &x in &clip[start..start + plane] {
                    assert!(
                        (x * 255.0 - w).abs() < 4.0,
                        "channel {c}: {} vs {w}",
                        x * 255.0
                    );
                }
            }
        }
    }
}

#[test]
fn ucf_missing_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("nowhere");
    err_names(index(&root, 1, Kind::Ucf101), &root);
}

#[test]
fn ucf_missing_split_files() {
    for name in ["classInd.txt", "trainlist01.txt", "testlist01.txt"] {
        let tmp = mini_ucf();
        let path = tmp.path().join(name);
        std::fs::remove_file(&path).unwrap();
        err_names(index(tmp.path(), 1, Kind::Ucf101), &path);
    }
    // Split 2 was never copied in.
    let tmp = mini_ucf();
    err_names(
        index(tmp.path(), 2, Kind::Ucf101),
        &tmp.path().join("trainlist02.txt"),
    );
}

#[test]
fn ucf_missing_class_folder() {
    let tmp = mini_ucf();
    let class = tmp.path().join("Beta");
    std::fs::remove_dir_all(&class).unwrap();
    let e = err_names(index(tmp.path(), 1, Kind::Ucf101), &class);
    assert!(e.contains("class folder"), "{e}");
}

#[test]
fn ucf_missing_or_empty_video_folder() {
    let tmp = mini_ucf();
    let video = tmp.path().join("Gamma").join("v_Gamma_g03_c01");
    std::fs::remove_dir_all(&video).unwrap();
    let e = err_names(index(tmp.path(), 1, Kind::Ucf101), &video);
    assert!(e.contains("trainlist01.txt:5"), "{e}");

    std::fs::create_dir(&video).unwrap();
    std::fs::write(video.join("notes.txt"), "no frames here").unwrap();
    let e = err_names(index(tmp.path(), 1, Kind::Ucf101), &video);
    assert!(e.contains("image_"), "{e}");
}

#[test]
fn ucf_gap_in_frames() {
    let tmp = mini_ucf();
    let missing = tmp
        .path()
        .join("Alpha")
        .join("v_Alpha_g03_c01")
        .join("image_00004.jpg");
    std::fs::remove_file(&missing).unwrap();
    err_names(index(tmp.path(), 1, Kind::Ucf101), &missing);
}

#[test]
fn ucf_unknown_class_and_malformed_lines() {
    let tmp = mini_ucf();
    let list = tmp.path().join("testlist01.txt");
    std::fs::write(
        &list,
        "Alpha/v_Alpha_g01_c01.avi\r\nDelta/v_Delta_g01_c01.avi\r\n",
    )
    .unwrap();
    let e = err_names(index(tmp.path(), 1, Kind::Ucf101), &list);
    assert!(e.contains("testlist01.txt:2") && e.contains("Delta"), "{e}");
    assert!(e.contains("classInd.txt"), "{e}");

    std::fs::write(&list, "Alpha/v_Alpha_g01_c01.avi\n\njust-a-name\n").unwrap();
    let e = err_names(index(tmp.path(), 1, Kind::Ucf101), &list);
    assert!(e.contains("testlist01.txt:3"), "{e}");

    let ind = tmp.path().join("classInd.txt");
    std::fs::write(&ind, "1 Alpha\nBeta\n").unwrap();
    let e = err_names(index(tmp.path(), 1, Kind::Ucf101), &ind);
    assert!(e.contains("classInd.txt:2"), "{e}");
}

#[test]
fn corrupt_jpg_names_the_file() {
    let tmp = mini_ucf();
    let idx = index(tmp.path(), 1, Kind::Ucf101).unwrap();
    let v = ucf_video(&idx, "v_Alpha_g02_c01");
    let bad = v.path.join("image_00003.jpg");
    std::fs::write(&bad, b"this is not a jpeg at all").unwrap();
    err_names(train_clip(&v, 8, 8, 0), &bad);
    err_names(test_clips(&v, 8, 8, 2), &bad);
    err_names(train_batch(&[&v], 8, 8, &[0]), &bad);
}

// -------------------------------------------------------------------- HMDB51

/// A mini HMDB51, split 1: two classes, tags 1 (train), 2 (test), 0 (unused),
/// with the trailing spaces and CRLFs of the official files.
fn mini_hmdb() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Written in reverse so that labels come from sorting, not file order.
    let videos: &[(&str, &str, usize, u8)] = &[
        ("cartwheel", "Cartwheel_1_cart_f_cm_np1_ba_med_0", 9, 2),
        ("cartwheel", "Cartwheel_2_cart_f_cm_np1_le_med_1", 6, 1),
        ("cartwheel", "Cartwheel_3_cart_f_cm_np1_ri_med_2", 5, 0),
        ("brush_hair", "April_09_brush_hair_u_nm_np1_ba_goo_0", 11, 1),
        ("brush_hair", "April_09_brush_hair_u_nm_np1_ba_goo_1", 7, 2),
    ];
    for &(class, video, frames, _) in videos {
        write_video(root, class, video, frames, Look::Gradient);
    }
    for class in ["cartwheel", "brush_hair"] {
        let text: String = videos
            .iter()
            .filter(|v| v.0 == class)
            .map(|v| format!("{}.avi {} \r\n", v.1, v.3))
            .collect();
        std::fs::write(root.join(format!("{class}_test_split1.txt")), text + "\r\n").unwrap();
    }
    tmp
}

#[test]
fn hmdb_index() {
    let tmp = mini_hmdb();
    let idx = index(tmp.path(), 1, Kind::Hmdb51).unwrap();
    assert_eq!(idx.classes, ["brush_hair", "cartwheel"]);
    let names = |vs: &[Video]| -> Vec<(String, i64, usize)> {
        vs.iter()
            .map(|v| {
                let name = v.path.file_name().unwrap().to_string_lossy().into_owned();
                (name, v.label, v.frames)
            })
            .collect()
    };
    assert_eq!(
        names(&idx.train),
        [
            ("April_09_brush_hair_u_nm_np1_ba_goo_0".to_string(), 0, 11),
            ("Cartwheel_2_cart_f_cm_np1_le_med_1".to_string(), 1, 6),
        ]
    );
    assert_eq!(
        names(&idx.test),
        [
            ("April_09_brush_hair_u_nm_np1_ba_goo_1".to_string(), 0, 7),
            ("Cartwheel_1_cart_f_cm_np1_ba_med_0".to_string(), 1, 9),
        ]
    );
    assert_eq!(
        idx.train[1].path,
        tmp.path()
            .join("cartwheel")
            .join("Cartwheel_2_cart_f_cm_np1_le_med_1")
    );
    let clip = train_clip(&idx.train[1], 8, 10, 5).unwrap();
    assert_eq!(frame_numbers(&clip, 8, 10), [1, 2, 3, 4, 5, 6, 1, 2]);
}

#[test]
fn hmdb_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hmdb51_jpg");
    err_names(index(&root, 1, Kind::Hmdb51), &root);

    // A class folder without its split file.
    let tmp = mini_hmdb();
    let split = tmp.path().join("cartwheel_test_split1.txt");
    std::fs::remove_file(&split).unwrap();
    err_names(index(tmp.path(), 1, Kind::Hmdb51), &split);

    // No split files at all for the split asked for.
    let tmp = mini_hmdb();
    let e = index(tmp.path(), 2, Kind::Hmdb51).unwrap_err().to_string();
    assert!(e.contains("_test_split2.txt"), "{e}");

    let tmp = mini_hmdb();
    let class = tmp.path().join("brush_hair");
    std::fs::remove_dir_all(&class).unwrap();
    err_names(index(tmp.path(), 1, Kind::Hmdb51), &class);

    let tmp = mini_hmdb();
    let video = tmp
        .path()
        .join("cartwheel")
        .join("Cartwheel_1_cart_f_cm_np1_ba_med_0");
    std::fs::remove_dir_all(&video).unwrap();
    err_names(index(tmp.path(), 1, Kind::Hmdb51), &video);

    let tmp = mini_hmdb();
    let split = tmp.path().join("brush_hair_test_split1.txt");
    std::fs::write(&split, "a.avi 1\nb.avi 7\n").unwrap();
    let e = err_names(index(tmp.path(), 1, Kind::Hmdb51), &split);
    assert!(e.contains("brush_hair_test_split1.txt:2"), "{e}");

    let tmp = mini_hmdb();
    let idx = index(tmp.path(), 1, Kind::Hmdb51).unwrap();
    let bad = idx.test[0].path.join("image_00001.jpg");
    std::fs::write(&bad, [0xFFu8, 0xD8, 0xFF, 0x00, 0x13]).unwrap();
    err_names(test_clips(&idx.test[0], 8, 8, 1), &bad);
}

// ----------------------------------------------------------- video accuracy

#[test]
fn video_accuracy_averages_clips_per_video() {
    // Video 0 (label 1): clips favour 0 (0.6) and 1 (0.9) → mean argmax 1, right.
    // Video 1 (label 0): one clip favouring 2 → wrong.
    // Video 2 (label 2): clips [0.1, 0.2, 0.7] and [0.5, 0.4, 0.1] → mean [0.3, 0.3, 0.4], right.
    // Video 3 (label 0): no clips → wrong.
    let probs = vec![
        vec![0.6, 0.3, 0.1],
        vec![0.1, 0.2, 0.7],
        vec![0.05, 0.9, 0.05],
        vec![0.2, 0.1, 0.7],
        vec![0.5, 0.4, 0.1],
    ];
    let clip_video = [0, 2, 0, 1, 2];
    let labels = [1, 0, 2, 0];
    assert_eq!(video_accuracy(&probs, &clip_video, &labels), 0.5);
    assert_eq!(video_accuracy(&probs, &clip_video, &[1, 2, 2, 0]), 0.75);
    assert_eq!(video_accuracy(&[], &[], &[]), 0.0);
}
