//! UCF101 and HMDB51 stored as frame folders, as laid out by Hara et al.'s
//! `3D-ResNets-PyTorch`: `root/<class>/<video>/image_00001.jpg`,
//! `image_00002.jpg`, … with the official split files copied into `root`.
//!
//! * UCF101: `classInd.txt` (lines `1 ApplyEyeMakeup`), `trainlist0N.txt`
//!   (lines `ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1`) and
//!   `testlist0N.txt` (lines `ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi`).
//!   A video's folder is the file stem, without `.avi`.
//! * HMDB51: one file per class, `<class>_test_split<N>.txt`, with lines
//!   `<video>.avi <tag>` (tag 1 = train, 2 = test, 0 = unused). Classes sorted
//!   alphabetically get the labels 0, 1, ….
//!
//! Labels are 0-based. Split files may have CRLF line endings and blank lines.
//!
//! Clips come back as plain `Vec<f32>` laid out `C×T×H×W` (C = 3, RGB),
//! row-major, with values in `[0, 1]`; normalisation is left to the caller.
//! Frames are decoded with the `image` crate and resampled bilinearly (half-pixel
//! centres, edge pixels clamped, no antialiasing: PyTorch's
//! `interpolate(mode="bilinear", align_corners=False)`) straight from the RGB8
//! buffer into the output, without intermediate images.

use super::rng::SplitMix;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use image::RgbImage;
use rayon::prelude::*;

/// Which dataset, and so which split files, a root holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// UCF101: `classInd.txt`, `trainlist0N.txt`, `testlist0N.txt`.
    Ucf101,
    /// HMDB51: `<class>_test_split<N>.txt` per class.
    Hmdb51,
}

/// One video: its frame folder, its 0-based label and how many frames it has
/// (`image_00001.jpg` … `image_<frames>.jpg`).
#[derive(Clone, Debug)]
pub struct Video {
    pub dir: PathBuf,
    pub label: i64,
    pub frames: usize,
}

/// A split of a dataset: class names (index = label) and the train and test
/// videos, in the order of the split files.
#[derive(Clone, Debug)]
pub struct Index {
    pub classes: Vec<String>,
    pub train: Vec<Video>,
    pub test: Vec<Video>,
}

/// Reads the split files and counts frames of every listed video. Errors are
/// user-facing strings naming the path and saying how to fix it: missing root,
/// missing split file (name which file was expected), a class folder missing,
/// a video folder missing or with no image_*.jpg frames, a class name in a
/// split file that is not in classInd.txt, a malformed line (file:line).
///
/// `split` is 1, 2 or 3, the official splits of both datasets. Frame folders
/// are listed in parallel; they must hold `image_00001.jpg` … `image_<n>.jpg`
/// with no gaps.
pub fn index(root: &Path, split: u32, kind: Kind) -> Result<Index, String> {
    if !(1..=3).contains(&split) {
        return Err(format!(
            "split must be 1, 2 or 3 (the official splits), not {split}"
        ));
    }
    if !root.is_dir() {
        return Err(format!(
            "dataset root {} does not exist or is not a folder; point it at the folder \
             holding one sub-folder of frame folders per class",
            root.display()
        ));
    }
    let listed = match kind {
        Kind::Ucf101 => list_ucf101(root, split)?,
        Kind::Hmdb51 => list_hmdb51(root, split)?,
    };
    let train = count_all(root, &listed.classes, &listed.train)?;
    let test = count_all(root, &listed.classes, &listed.test)?;
    Ok(Index {
        classes: listed.classes,
        train,
        test,
    })
}

/// Training clip: a random window of `frames` consecutive frames
/// (loop-padded when the video is shorter), a random resized crop (scale of
/// the area uniform in [0.25, 1], aspect ratio log-uniform in [3/4, 4/3],
/// clipped to the frame) resized to size×size with bilinear interpolation, a
/// horizontal flip with probability 1/2. The crop and the flip are the same
/// for every frame of the clip. All randomness comes from `seed` via a private
/// SplitMix64, so a seed always gives the same clip.
/// Returns C×T×H×W f32 in [0, 1] (C = 3, RGB), row-major, length 3*frames*size*size.
pub fn train_clip(
    video: &Video,
    frames: usize,
    size: usize,
    seed: u64,
) -> Result<Vec<f32>, String> {
    check_request(video, frames, size)?;
    let mut rng = SplitMix::new(seed);
    let start = if video.frames > frames {
        rng.below_shift((video.frames - frames + 1) as u64) as usize
    } else {
        0
    };
    let scale = 0.25 + 0.75 * rng.uniform();
    let log_ratio = (0.75f64).ln() + ((4.0f64 / 3.0).ln() - (0.75f64).ln()) * rng.uniform();
    let (ux, uy) = (rng.uniform(), rng.uniform());
    let flip = rng.uniform() < 0.5;
    let crop = move |w: f64, h: f64| {
        let area = scale * w * h;
        let ratio = log_ratio.exp();
        let bw = (area * ratio).sqrt().min(w);
        let bh = (area / ratio).sqrt().min(h);
        CropBox {
            x0: ux * (w - bw),
            y0: uy * (h - bh),
            w: bw,
            h: bh,
        }
    };
    let windows = [window(video.frames, frames, start)];
    let mut clips = render(video, &windows, size, flip, crop)?;
    Ok(clips.pop().unwrap_or_default())
}

/// Test clips: `clips` windows with evenly spaced starts over the video (one
/// centred window if the video is no longer than `frames`), each frame resized
/// so its short side is `size` (bilinear) then centre-cropped to size×size.
/// A window shorter than `frames` is loop-padded. Each clip is laid out as in
/// [`train_clip`].
pub fn test_clips(
    video: &Video,
    frames: usize,
    size: usize,
    clips: usize,
) -> Result<Vec<Vec<f32>>, String> {
    check_request(video, frames, size)?;
    if clips == 0 {
        return Err("test clips per video must be at least 1".to_string());
    }
    let windows = test_windows(video.frames, frames, clips);
    let centre = |w: f64, h: f64| {
        let side = w.min(h);
        CropBox {
            x0: (w - side) / 2.0,
            y0: (h - side) / 2.0,
            w: side,
            h: side,
        }
    };
    render(video, &windows, size, false, centre)
}

/// Decodes many clips in parallel with rayon; results in the order of jobs
/// (`videos[i]` with `seeds[i]`, see [`train_clip`]).
pub fn train_batch(
    videos: &[&Video],
    frames: usize,
    size: usize,
    seeds: &[u64],
) -> Result<Vec<Vec<f32>>, String> {
    if videos.len() != seeds.len() {
        return Err(format!(
            "train_batch: {} videos but {} seeds; give one seed per video",
            videos.len(),
            seeds.len()
        ));
    }
    videos
        .par_iter()
        .zip(seeds.par_iter())
        .map(|(video, &seed)| train_clip(video, frames, size, seed))
        .collect()
}

/// Video accuracy: the fraction of videos whose mean clip softmax has its
/// argmax at the video's label. `clip_probs[i]` are the softmax probabilities
/// of clip `i`, `clip_video[i]` the index of its video in `labels`. A video
/// with no clips counts as wrong; no videos at all gives 0.
///
/// # Panics
/// If `clip_probs` and `clip_video` differ in length or a clip names a video
/// outside `labels` (both are bugs in the caller, not user input).
pub fn video_accuracy(clip_probs: &[Vec<f32>], clip_video: &[usize], labels: &[i64]) -> f64 {
    assert_eq!(
        clip_probs.len(),
        clip_video.len(),
        "video_accuracy: one video index per clip"
    );
    if labels.is_empty() {
        return 0.0;
    }
    let mut sums: Vec<Vec<f64>> = vec![Vec::new(); labels.len()];
    for (probs, &v) in clip_probs.iter().zip(clip_video) {
        assert!(
            v < labels.len(),
            "video_accuracy: clip of video {v}, but only {} labels",
            labels.len()
        );
        let sum = &mut sums[v];
        if sum.len() < probs.len() {
            sum.resize(probs.len(), 0.0);
        }
        for (s, &p) in sum.iter_mut().zip(probs) {
            *s += f64::from(p);
        }
    }
    let correct = sums
        .iter()
        .zip(labels)
        .filter(|(sum, &label)| argmax(sum).is_some_and(|a| a as i64 == label))
        .count();
    correct as f64 / labels.len() as f64
}

/// Index of the largest value (the first one on ties; NaNs never win).
fn argmax(values: &[f64]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, &v) in values.iter().enumerate() {
        if best.is_none_or(|(_, b)| v > b) && !v.is_nan() {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

// ---------------------------------------------------------------- split files

/// A video named by a split file, before its frames are counted.
struct Listed {
    class: usize,
    stem: String,
    /// `file:line`, for error messages.
    origin: String,
}

/// What the split files say, before touching the frame folders.
struct Lists {
    classes: Vec<String>,
    train: Vec<Listed>,
    test: Vec<Listed>,
}

/// Reads a split file, or says which file was expected and how to get it.
fn read_split_file(path: &Path, what: &str) -> Result<String, String> {
    if !path.is_file() {
        return Err(format!(
            "missing split file {}: copy the official {what} split files into the dataset root",
            path.display()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read split file {}: {e}; check it is readable UTF-8 text",
            path.display()
        )
    })
}

/// Non-blank lines with their 1-based numbers, trimmed (so CRLF and a leading
/// byte-order mark do no harm).
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}').trim()))
        .filter(|(_, l)| !l.is_empty())
}

/// The folder name of a video file named in a split file: its stem.
fn video_stem(name: &str) -> &str {
    name.strip_suffix(".avi").unwrap_or(name)
}

fn list_ucf101(root: &Path, split: u32) -> Result<Lists, String> {
    const WHAT: &str = "UCF101 (ucfTrainTestlist: classInd.txt, trainlist0N.txt, testlist0N.txt)";
    let ind_path = root.join("classInd.txt");
    let ind = read_split_file(&ind_path, WHAT)?;
    let mut numbered: BTreeMap<u32, String> = BTreeMap::new();
    for (n, line) in lines(&ind) {
        let at = || format!("{}:{n}", ind_path.display());
        let mut parts = line.split_whitespace();
        let (Some(num), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "{}: malformed line `{line}`; expected `<number> <class>`, e.g. `1 ApplyEyeMakeup`",
                at()
            ));
        };
        let num: u32 = match num.parse() {
            Ok(v) if v >= 1 => v,
            _ => {
                return Err(format!(
                    "{}: malformed line `{line}`; the class number must be 1 or more",
                    at()
                ))
            }
        };
        if numbered.insert(num, name.to_string()).is_some() {
            return Err(format!("{}: class number {num} appears twice", at()));
        }
    }
    if numbered.is_empty() {
        return Err(format!(
            "{} lists no classes; restore the official file",
            ind_path.display()
        ));
    }
    if let Some((_, missing)) = numbered
        .keys()
        .zip(1u32..)
        .find(|(&have, want)| have != *want)
    {
        return Err(format!(
            "{}: class numbers must run 1, 2, … without gaps, but {missing} is missing",
            ind_path.display()
        ));
    }
    let classes: Vec<String> = numbered.into_values().collect();
    let by_name: BTreeMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    if by_name.len() != classes.len() {
        return Err(format!(
            "{}: a class name appears twice",
            ind_path.display()
        ));
    }

    let list = |name: String| -> Result<Vec<Listed>, String> {
        let path = root.join(name);
        let text = read_split_file(&path, WHAT)?;
        let mut out = Vec::new();
        for (n, line) in lines(&text) {
            let origin = format!("{}:{n}", path.display());
            let mut parts = line.split_whitespace();
            let (Some(file), label, None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!(
                    "{origin}: malformed line `{line}`; expected `<class>/<video>.avi [label]`"
                ));
            };
            let Some((class_name, file_name)) = file.split_once(['/', '\\']) else {
                return Err(format!(
                    "{origin}: malformed line `{line}`; expected `<class>/<video>.avi [label]`"
                ));
            };
            let Some(&class) = by_name.get(class_name) else {
                return Err(format!(
                    "{origin}: class `{class_name}` is not in {}; use the classInd.txt of the \
                     same split release",
                    ind_path.display()
                ));
            };
            if let Some(label) = label {
                match label.parse::<usize>() {
                    Ok(l) if l == class + 1 => {}
                    Ok(l) => {
                        return Err(format!(
                            "{origin}: label {l} does not match class `{class_name}`, which is \
                             number {} in {}",
                            class + 1,
                            ind_path.display()
                        ))
                    }
                    Err(_) => {
                        return Err(format!(
                            "{origin}: malformed line `{line}`; the label must be a class number"
                        ))
                    }
                }
            }
            let stem = video_stem(file_name);
            if stem.is_empty() || stem.contains(['/', '\\']) {
                return Err(format!(
                    "{origin}: malformed line `{line}`; expected `<class>/<video>.avi [label]`"
                ));
            }
            out.push(Listed {
                class,
                stem: stem.to_string(),
                origin,
            });
        }
        Ok(out)
    };
    let train = list(format!("trainlist{split:02}.txt"))?;
    let test = list(format!("testlist{split:02}.txt"))?;
    Ok(Lists {
        classes,
        train,
        test,
    })
}

fn list_hmdb51(root: &Path, split: u32) -> Result<Lists, String> {
    let suffix = format!("_test_split{split}.txt");
    let entries = std::fs::read_dir(root)
        .map_err(|e| format!("cannot list dataset root {}: {e}", root.display()))?;
    let mut with_split = BTreeSet::new();
    let mut folders = BTreeSet::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| format!("cannot list dataset root {}: {e}", root.display()))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let path = entry.path();
        if path.is_dir() {
            if !name.starts_with('.') {
                folders.insert(name);
            }
        } else if let Some(class) = name.strip_suffix(&suffix) {
            if !class.is_empty() {
                with_split.insert(class.to_string());
            }
        }
    }
    if with_split.is_empty() {
        return Err(format!(
            "missing split files {}: found no `<class>{suffix}` file; copy the official HMDB51 \
             split files (testTrainMulti_7030_splits) into the dataset root",
            root.join(format!("<class>{suffix}")).display()
        ));
    }
    if let Some(folder) = folders.difference(&with_split).next() {
        return Err(format!(
            "missing split file {}: class folder {} has no split file; copy the official HMDB51 \
             split files (testTrainMulti_7030_splits) into the dataset root, or move that folder \
             out of it",
            root.join(format!("{folder}{suffix}")).display(),
            root.join(folder).display()
        ));
    }
    let classes: Vec<String> = with_split.into_iter().collect();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (class, name) in classes.iter().enumerate() {
        let path = root.join(format!("{name}{suffix}"));
        let text = read_split_file(&path, "HMDB51 (testTrainMulti_7030_splits)")?;
        for (n, line) in lines(&text) {
            let origin = format!("{}:{n}", path.display());
            let mut parts = line.split_whitespace();
            let (Some(file), Some(tag), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!(
                    "{origin}: malformed line `{line}`; expected `<video>.avi <tag>` with tag 0, 1 \
                     or 2"
                ));
            };
            let stem = video_stem(file);
            if stem.is_empty() || stem.contains(['/', '\\']) {
                return Err(format!(
                    "{origin}: malformed line `{line}`; expected `<video>.avi <tag>`"
                ));
            }
            let listed = Listed {
                class,
                stem: stem.to_string(),
                origin,
            };
            match tag {
                "1" => train.push(listed),
                "2" => test.push(listed),
                "0" => {}
                _ => {
                    return Err(format!(
                        "{}: malformed line `{line}`; the tag must be 0 (unused), 1 (train) or 2 \
                         (test)",
                        listed.origin
                    ))
                }
            }
        }
    }
    Ok(Lists {
        classes,
        train,
        test,
    })
}

// -------------------------------------------------------------- frame folders

/// Finds every listed video's folder and counts its frames, in parallel.
fn count_all(root: &Path, classes: &[String], listed: &[Listed]) -> Result<Vec<Video>, String> {
    listed
        .par_iter()
        .map(|l| {
            let class_dir = root.join(&classes[l.class]);
            let dir = class_dir.join(&l.stem);
            if !dir.is_dir() {
                if !class_dir.is_dir() {
                    return Err(format!(
                        "class folder {} is missing (class `{}`, listed at {}); extract the \
                         frames of every class into the dataset root",
                        class_dir.display(),
                        classes[l.class],
                        l.origin
                    ));
                }
                return Err(format!(
                    "video folder {} is missing (listed at {}); extract its frames as \
                     image_00001.jpg, image_00002.jpg, …",
                    dir.display(),
                    l.origin
                ));
            }
            let frames = count_frames(&dir)?;
            Ok(Video {
                dir,
                label: l.class as i64,
                frames,
            })
        })
        .collect()
}

/// The number of a frame file name `image_<digits>.jpg`.
fn frame_number(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("image_")?.strip_suffix(".jpg")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The path of 0-based frame `i` of a video folder.
fn frame_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("image_{:05}.jpg", i + 1))
}

/// Counts the `image_NNNNN.jpg` files of a video folder, checking they run
/// from `image_00001.jpg` without gaps.
fn count_frames(dir: &Path) -> Result<usize, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list video folder {}: {e}", dir.display()))?;
    let mut numbers = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| format!("cannot list video folder {}: {e}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = frame_number(name) {
            if name != format!("image_{n:05}.jpg") {
                return Err(format!(
                    "frame {} is not named like image_00001.jpg (five-digit, zero-padded \
                     numbers); re-extract the frames of this video",
                    dir.join(name).display()
                ));
            }
            numbers.push(n);
        }
    }
    if numbers.is_empty() {
        return Err(format!(
            "video folder {} has no image_*.jpg frames; extract its frames as image_00001.jpg, \
             image_00002.jpg, …",
            dir.display()
        ));
    }
    numbers.sort_unstable();
    if let Some((_, want)) = numbers.iter().zip(1..).find(|(&have, want)| have != *want) {
        return Err(format!(
            "frame {} is missing (the frames of a video must be numbered from image_00001.jpg \
             without gaps); re-extract the frames of this video",
            frame_path(dir, want - 1).display()
        ));
    }
    Ok(numbers.len())
}

// ---------------------------------------------------------------------- clips

fn check_request(video: &Video, frames: usize, size: usize) -> Result<(), String> {
    if frames == 0 || size == 0 {
        return Err(format!(
            "clips need at least one frame of at least 1×1 pixels (asked for {frames} frames of \
             {size}×{size})"
        ));
    }
    if video.frames == 0 {
        return Err(format!(
            "video folder {} has no frames",
            video.dir.display()
        ));
    }
    Ok(())
}

/// `frames` consecutive 0-based frame indices of a video with `n` frames,
/// starting at `start` and looping back to the first frame when the video
/// runs out (loop padding, as Hara et al.'s `LoopPadding`).
fn window(n: usize, frames: usize, start: usize) -> Vec<usize> {
    (0..frames).map(|k| (start + k) % n.max(1)).collect()
}

/// The test windows: `clips` evenly spaced starts from the first to the last
/// possible one (the centred one when `clips` is 1); one window from the
/// first frame, loop-padded, when the video is no longer than `frames`.
fn test_windows(n: usize, frames: usize, clips: usize) -> Vec<Vec<usize>> {
    if n <= frames {
        return vec![window(n, frames, 0)];
    }
    let last = n - frames;
    if clips <= 1 {
        return vec![window(n, frames, last / 2)];
    }
    (0..clips)
        .map(|k| {
            let start = ((k * last) as f64 / (clips - 1) as f64).round() as usize;
            window(n, frames, start.min(last))
        })
        .collect()
}

/// A region of a frame in pixels (continuous coordinates, pixel centres at
/// `i + 0.5`), to be resampled to the output size.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CropBox {
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
}

/// Decodes each distinct frame of `windows` once and resamples it into every
/// clip position that shows it. The crop box is chosen by `crop` from the size
/// of the first frame decoded and applied, in proportion, to every frame.
fn render(
    video: &Video,
    windows: &[Vec<usize>],
    size: usize,
    flip: bool,
    crop: impl FnOnce(f64, f64) -> CropBox,
) -> Result<Vec<Vec<f32>>, String> {
    let mut uses: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
    for (c, w) in windows.iter().enumerate() {
        for (t, &i) in w.iter().enumerate() {
            uses.entry(i).or_default().push((c, t));
        }
    }
    let mut out: Vec<Vec<f32>> = windows
        .iter()
        .map(|w| vec![0.0; 3 * w.len() * size * size])
        .collect();
    let mut crop = Some(crop);
    let mut relative = CropBox {
        x0: 0.0,
        y0: 0.0,
        w: 1.0,
        h: 1.0,
    };
    for (i, places) in uses {
        let img = decode(&frame_path(&video.dir, i))?;
        let (w, h) = (f64::from(img.width()), f64::from(img.height()));
        if let Some(choose) = crop.take() {
            let b = choose(w, h);
            relative = CropBox {
                x0: b.x0 / w,
                y0: b.y0 / h,
                w: b.w / w,
                h: b.h / h,
            };
        }
        let boxed = CropBox {
            x0: relative.x0 * w,
            y0: relative.y0 * h,
            w: relative.w * w,
            h: relative.h * h,
        };
        for (c, t) in places {
            let frames = windows[c].len();
            resample(&img, boxed, size, flip, &mut out[c], t, frames);
        }
    }
    Ok(out)
}

/// Decodes one frame to RGB8; errors name the file.
fn decode(path: &Path) -> Result<RgbImage, String> {
    let fail = |e: &dyn std::fmt::Display| {
        format!(
            "cannot decode frame {}: {e}; the file is missing or corrupt, re-extract the frames \
             of this video",
            path.display()
        )
    };
    let reader = image::ImageReader::open(path).map_err(|e| fail(&e))?;
    let reader = reader.with_guessed_format().map_err(|e| fail(&e))?;
    let img = reader.decode().map_err(|e| fail(&e))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(fail(&"the image is empty"));
    }
    Ok(img.to_rgb8())
}

/// Source taps for one output coordinate: the two neighbouring pixels and the
/// weight of the second.
#[derive(Clone, Copy, Debug)]
struct Tap {
    lo: usize,
    hi: usize,
    frac: f32,
}

/// Bilinear taps for `size` outputs covering `[start, start + len)` of a line
/// of `n` pixels (half-pixel centres, positions clamped to the edge pixels).
fn taps(start: f64, len: f64, n: u32, size: usize) -> Vec<Tap> {
    let last = f64::from(n.max(1) - 1);
    (0..size)
        .map(|o| {
            let src = (start + (o as f64 + 0.5) * len / size as f64 - 0.5).clamp(0.0, last);
            let lo = src.floor();
            let frac = (src - lo) as f32;
            let lo = lo as usize;
            Tap {
                lo,
                hi: (lo + 1).min(last as usize),
                frac,
            }
        })
        .collect()
}

/// Resamples `boxed` of `img` to `size×size` (mirrored when `flip`) into frame
/// `t` of a `3×frames×size×size` clip, scaling bytes to `[0, 1]`.
fn resample(
    img: &RgbImage,
    boxed: CropBox,
    size: usize,
    flip: bool,
    out: &mut [f32],
    t: usize,
    frames: usize,
) {
    let (w, h) = img.dimensions();
    let mut xs = taps(boxed.x0, boxed.w, w, size);
    if flip {
        xs.reverse();
    }
    let ys = taps(boxed.y0, boxed.h, h, size);
    let raw = img.as_raw();
    let stride = 3 * w as usize;
    let plane = size * size;
    let channel = frames * plane;
    const SCALE: f32 = 1.0 / 255.0;
    for (oy, ty) in ys.iter().enumerate() {
        let row0 = &raw[ty.lo * stride..ty.lo * stride + stride];
        let row1 = &raw[ty.hi * stride..ty.hi * stride + stride];
        let base = t * plane + oy * size;
        for (ox, tx) in xs.iter().enumerate() {
            for c in 0..3 {
                let p00 = f32::from(row0[3 * tx.lo + c]);
                let p01 = f32::from(row0[3 * tx.hi + c]);
                let p10 = f32::from(row1[3 * tx.lo + c]);
                let p11 = f32::from(row1[3 * tx.hi + c]);
                let top = p00 + (p01 - p00) * tx.frac;
                let bottom = p10 + (p11 - p10) * tx.frac;
                let v = top + (bottom - top) * ty.frac;
                out[c * channel + base + ox] = (v * SCALE).clamp(0.0, 1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, gray: &[u8]) -> RgbImage {
        let raw = gray.iter().flat_map(|&g| [g, g, g]).collect();
        RgbImage::from_raw(w, h, raw).expect("sizes match")
    }

    fn full(w: u32, h: u32) -> CropBox {
        CropBox {
            x0: 0.0,
            y0: 0.0,
            w: f64::from(w),
            h: f64::from(h),
        }
    }

    fn close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn bilinear_upscale_matches_hand_computed_values() {
        // 2×2 → 4×4: source positions -0.25 (clamped to 0), 0.25, 0.75, 1.25
        // (clamped to 1) along each axis.
        let img = image(2, 2, &[0, 100, 200, 255]);
        let mut out = vec![0.0; 3 * 16];
        resample(&img, full(2, 2), 4, false, &mut out, 0, 1);
        let want: Vec<f32> = [
            [0.0, 25.0, 75.0, 100.0],
            [50.0, 72.1875, 116.5625, 138.75],
            [150.0, 166.5625, 199.6875, 216.25],
            [200.0, 213.75, 241.25, 255.0],
        ]
        .iter()
        .flatten()
        .map(|v| v / 255.0)
        .collect();
        for c in 0..3 {
            close(&out[c * 16..(c + 1) * 16], &want);
        }
    }

    #[test]
    fn bilinear_downscale_averages_pairs_and_flip_mirrors() {
        // 4×2 → 2×2: source x positions 0.5 and 2.5, y positions 0 and 1.
        let img = image(4, 2, &[0, 10, 20, 30, 100, 110, 120, 130]);
        let mut out = vec![0.0; 3 * 4];
        resample(&img, full(4, 2), 2, false, &mut out, 0, 1);
        close(
            &out[..4],
            &[5.0 / 255.0, 25.0 / 255.0, 105.0 / 255.0, 125.0 / 255.0],
        );
        resample(&img, full(4, 2), 2, true, &mut out, 0, 1);
        close(
            &out[..4],
            &[25.0 / 255.0, 5.0 / 255.0, 125.0 / 255.0, 105.0 / 255.0],
        );
    }

    #[test]
    fn crop_box_selects_a_region_and_frames_land_in_their_slot() {
        // The right-hand 2×2 of a 4×2 image, as frame 1 of a 2-frame clip.
        let img = image(4, 2, &[0, 10, 20, 30, 100, 110, 120, 130]);
        let b = CropBox {
            x0: 2.0,
            y0: 0.0,
            w: 2.0,
            h: 2.0,
        };
        let mut out = vec![-1.0; 3 * 2 * 4];
        resample(&img, b, 2, false, &mut out, 1, 2);
        let want = [20.0 / 255.0, 30.0 / 255.0, 120.0 / 255.0, 130.0 / 255.0];
        for c in 0..3 {
            assert!(out[c * 8..c * 8 + 4].iter().all(|&v| v == -1.0));
            close(&out[c * 8 + 4..c * 8 + 8], &want);
        }
    }

    #[test]
    fn splitmix_matches_the_reference_and_is_deterministic() {
        // Reference outputs of SplitMix64 seeded with 0.
        let mut r = SplitMix::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
        let a: Vec<u64> = (0..8)
            .scan(SplitMix::new(42), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .scan(SplitMix::new(42), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        let mut r = SplitMix::new(7);
        for _ in 0..1000 {
            let f = r.uniform();
            assert!((0.0..1.0).contains(&f));
            assert!(r.below_shift(5) < 5);
        }
    }

    #[test]
    fn windows_loop_pad_short_videos() {
        assert_eq!(window(3, 8, 0), vec![0, 1, 2, 0, 1, 2, 0, 1]);
        assert_eq!(window(10, 4, 6), vec![6, 7, 8, 9]);
        assert_eq!(window(1, 3, 0), vec![0, 0, 0]);
    }

    #[test]
    fn test_windows_are_evenly_spaced() {
        assert_eq!(test_windows(5, 8, 3), vec![window(5, 8, 0)]);
        assert_eq!(test_windows(8, 8, 3), vec![window(8, 8, 0)]);
        let starts: Vec<usize> = test_windows(20, 4, 5).iter().map(|w| w[0]).collect();
        assert_eq!(starts, vec![0, 4, 8, 12, 16]);
        assert_eq!(test_windows(20, 4, 1), vec![window(20, 4, 8)]);
    }

    #[test]
    fn frame_names() {
        assert_eq!(frame_number("image_00001.jpg"), Some(1));
        assert_eq!(frame_number("image_12.jpg"), Some(12));
        assert_eq!(frame_number("image_.jpg"), None);
        assert_eq!(frame_number("image_0001a.jpg"), None);
        assert_eq!(frame_number("img_00001.jpg"), None);
        assert_eq!(
            frame_path(Path::new("v"), 0),
            Path::new("v").join("image_00001.jpg")
        );
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.5, 0.5]), Some(1));
        assert_eq!(argmax(&[f64::NAN, 0.2]), Some(1));
        assert_eq!(argmax(&[]), None);
    }
}
