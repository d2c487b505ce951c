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

use crate::runtime::error::{NodeError, NodeResult};
use crate::runtime::rng::SplitMix;
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

/// One video: its frame folder or file, its 0-based label and how many
/// frames it has (`image_00001.jpg` … `image_<frames>.jpg`, or as its
/// container says).
#[derive(Clone, Debug)]
pub struct Video {
    pub path: PathBuf,
    pub label: i64,
    pub frames: usize,
    pub source: Source,
}

/// Where a video's frames come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A folder of `image_NNNNN.jpg` frames.
    Frames,
    /// A video file (`.avi`, `.mp4`, `.mkv`, `.webm`, …) decoded on the fly.
    File,
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
pub fn index(root: &Path, split: u32, kind: Kind) -> NodeResult<Index> {
    if !(1..=3).contains(&split) {
        return Err(NodeError::Data(format!(
            "split must be 1, 2 or 3 (the official splits), not {split}"
        )));
    }
    if !root.is_dir() {
        return Err(NodeError::Data(format!(
            "dataset root {} does not exist or is not a folder; point it at the folder \
             holding one sub-folder of frame folders per class",
            root.display()
        )));
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

/// How clips are cut from a video: frames per clip, the step between them
/// in the video's frames, and the side of the square they are resized to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub frames: usize,
    pub stride: usize,
    pub size: usize,
}

impl Cut {
    /// Consecutive frames at `size`.
    pub fn new(frames: usize, size: usize) -> Cut {
        Cut {
            frames,
            stride: 1,
            size,
        }
    }

    /// The frames a window covers, first to last.
    fn span(&self) -> usize {
        self.frames.saturating_sub(1) * self.stride.max(1) + 1
    }
}

/// Training clip: a random window of `frames` consecutive frames
/// (loop-padded when the video is shorter), a random resized crop (scale of
/// the area uniform in [0.25, 1], aspect ratio log-uniform in [3/4, 4/3],
/// clipped to the frame) resized to size×size with bilinear interpolation, a
/// horizontal flip with probability 1/2. The crop and the flip are the same
/// for every frame of the clip. All randomness comes from `seed` via a private
/// SplitMix64, so a seed always gives the same clip.
/// Returns C×T×H×W f32 in [0, 1] (C = 3, RGB), row-major, length 3*frames*size*size.
pub fn train_clip(video: &Video, frames: usize, size: usize, seed: u64) -> NodeResult<Vec<f32>> {
    train_clip_cut(video, Cut::new(frames, size), seed)
}

/// [`train_clip`] with every `cut.stride`-th frame: the window spans
/// `(frames − 1) × stride + 1` frames.
pub fn train_clip_cut(video: &Video, cut: Cut, seed: u64) -> NodeResult<Vec<f32>> {
    let mut rng = SplitMix::new(seed);
    let span = cut.span();
    let start = if video.frames > span {
        rng.below_shift((video.frames - span + 1) as u64) as usize
    } else {
        0
    };
    crop_clip(video, cut, start, rng)
}

/// A training clip from the window at `start`, its crop and flip drawn
/// from `seed` (the decode benchmark's clips).
pub fn clip_at(video: &Video, cut: Cut, start: usize, seed: u64) -> NodeResult<Vec<f32>> {
    crop_clip(video, cut, start, SplitMix::new(seed))
}

/// [`train_clip`]'s crop and flip, drawn from `rng`, of the window at `start`.
fn crop_clip(video: &Video, cut: Cut, start: usize, mut rng: SplitMix) -> NodeResult<Vec<f32>> {
    check_request(video, cut.frames, cut.size)?;
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
    let windows = [window(video.frames, cut.frames, start, cut.stride)];
    let mut clips = render(video, &windows, cut.size, flip, &[&crop])?;
    Ok(clips.pop().unwrap_or_default())
}

/// Test clips: up to `clips` windows with evenly spaced starts over the
/// video (one centred window if `clips` is 1, one from the first frame if the
/// video is no longer than `frames`), each frame resized so its short side is
/// `size` (bilinear) then centre-cropped to size×size. A window shorter than
/// `frames` is loop-padded. Each clip is laid out as in [`train_clip`].
///
/// The windows are distinct: a video has [`distinct_windows`] of them, and
/// asking for more gives each once ([`test_clip_count`] clips), never a
/// window twice, since a repeated clip is no new evidence.
pub fn test_clips(
    video: &Video,
    frames: usize,
    size: usize,
    clips: usize,
) -> NodeResult<Vec<Vec<f32>>> {
    test_views(video, Cut::new(frames, size), clips, 1)
}

/// The test views of a video: [`test_clips`]' windows (at `cut.stride`),
/// each under `crops` square crops of the frame resized to a short side of
/// `size`: 1, the centre; 3, the start, centre and end of the long side (the
/// Kinetics protocol's three crops). In window-major order: window `w`,
/// crop `k` is view `w × crops + k`.
pub fn test_views(
    video: &Video,
    cut: Cut,
    clips: usize,
    crops: usize,
) -> NodeResult<Vec<Vec<f32>>> {
    check_request(video, cut.frames, cut.size)?;
    if clips == 0 || !(crops == 1 || crops == 3) {
        return Err(NodeError::Data(format!(
            "test views need at least 1 clip and 1 or 3 crops, not {clips} clips of {crops} crops"
        )));
    }
    let windows = test_windows(video.frames, cut.frames, cut.stride, clips);
    let square = |at: f64| {
        move |w: f64, h: f64| {
            let side = w.min(h);
            CropBox {
                x0: (w - side) * at,
                y0: (h - side) * at,
                w: side,
                h: side,
            }
        }
    };
    let (start, centre, end) = (square(0.0), square(0.5), square(1.0));
    let three: [&dyn Fn(f64, f64) -> CropBox; 3] = [&start, &centre, &end];
    let crops: &[&dyn Fn(f64, f64) -> CropBox] = if crops == 3 { &three } else { &three[1..2] };
    render(video, &windows, cut.size, false, crops)
}

/// Decodes many clips in parallel with rayon; results in the order of jobs
/// (`videos[i]` with `seeds[i]`, see [`train_clip`]).
pub fn train_batch(
    videos: &[&Video],
    frames: usize,
    size: usize,
    seeds: &[u64],
) -> NodeResult<Vec<Vec<f32>>> {
    train_batch_cut(videos, Cut::new(frames, size), seeds)
}

/// [`train_batch`] with clips cut as `cut` says ([`train_clip_cut`]).
pub fn train_batch_cut(videos: &[&Video], cut: Cut, seeds: &[u64]) -> NodeResult<Vec<Vec<f32>>> {
    if videos.len() != seeds.len() {
        return Err(NodeError::Data(format!(
            "train_batch: {} videos but {} seeds; give one seed per video",
            videos.len(),
            seeds.len()
        )));
    }
    videos
        .par_iter()
        .zip(seeds.par_iter())
        .map(|(video, &seed)| train_clip_cut(video, cut, seed))
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

mod splits;
use splits::*;

/// The official split files' classes and videos (class, file stem), before
/// any frame folder or file is looked at.
#[allow(clippy::type_complexity)]
pub(in crate::runtime::data) fn split_lists(
    root: &Path,
    split: u32,
    kind: Kind,
) -> NodeResult<(Vec<String>, Vec<(usize, String)>, Vec<(usize, String)>)> {
    if !(1..=3).contains(&split) {
        return Err(NodeError::Data(format!(
            "split must be 1, 2 or 3 (the official splits), not {split}"
        )));
    }
    let listed = match kind {
        Kind::Ucf101 => list_ucf101(root, split)?,
        Kind::Hmdb51 => list_hmdb51(root, split)?,
    };
    let pairs = |v: Vec<Listed>| v.into_iter().map(|l| (l.class, l.stem)).collect();
    Ok((listed.classes, pairs(listed.train), pairs(listed.test)))
}

// -------------------------------------------------------------- frame folders

/// Finds every listed video's folder and counts its frames, in parallel.
fn count_all(root: &Path, classes: &[String], listed: &[Listed]) -> NodeResult<Vec<Video>> {
    listed
        .par_iter()
        .map(|l| {
            let class_dir = root.join(&classes[l.class]);
            let dir = class_dir.join(&l.stem);
            if !dir.is_dir() {
                if !class_dir.is_dir() {
                    return Err(NodeError::Data(format!(
                        "class folder {} is missing (class `{}`, listed at {}); extract the \
                         frames of every class into the dataset root",
                        class_dir.display(),
                        classes[l.class],
                        l.origin
                    )));
                }
                return Err(NodeError::Data(format!(
                    "video folder {} is missing (listed at {}); extract its frames as \
                     image_00001.jpg, image_00002.jpg, …",
                    dir.display(),
                    l.origin
                )));
            }
            let frames = count_frames(&dir)?;
            Ok(Video {
                path: dir,
                label: l.class as i64,
                frames,
                source: Source::Frames,
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
fn count_frames(dir: &Path) -> NodeResult<usize> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| NodeError::Data(format!("cannot list video folder {}: {e}", dir.display())))?;
    let mut numbers = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            NodeError::Data(format!("cannot list video folder {}: {e}", dir.display()))
        })?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = frame_number(name) {
            if name != format!("image_{n:05}.jpg") {
                return Err(NodeError::Data(format!(
                    "frame {} is not named like image_00001.jpg (five-digit, zero-padded \
                     numbers); re-extract the frames of this video",
                    dir.join(name).display()
                )));
            }
            numbers.push(n);
        }
    }
    if numbers.is_empty() {
        return Err(NodeError::Data(format!(
            "video folder {} has no image_*.jpg frames; extract its frames as image_00001.jpg, \
             image_00002.jpg, …",
            dir.display()
        )));
    }
    numbers.sort_unstable();
    if let Some((_, want)) = numbers.iter().zip(1..).find(|(&have, want)| have != *want) {
        return Err(NodeError::Data(format!(
            "frame {} is missing (the frames of a video must be numbered from image_00001.jpg \
             without gaps); re-extract the frames of this video",
            frame_path(dir, want - 1).display()
        )));
    }
    Ok(numbers.len())
}

// ---------------------------------------------------------------------- clips

fn check_request(video: &Video, frames: usize, size: usize) -> NodeResult<()> {
    if frames == 0 || size == 0 {
        return Err(NodeError::Data(format!(
            "clips need at least one frame of at least 1×1 pixels (asked for {frames} frames of \
             {size}×{size})"
        )));
    }
    if video.frames == 0 {
        return Err(NodeError::Data(format!(
            "video folder {} has no frames",
            video.path.display()
        )));
    }
    Ok(())
}

/// `frames` consecutive 0-based frame indices of a video with `n` frames,
/// starting at `start` and looping back to the first frame when the video
/// runs out (loop padding, as Hara et al.'s `LoopPadding`).
fn window(n: usize, frames: usize, start: usize, stride: usize) -> Vec<usize> {
    (0..frames)
        .map(|k| (start + k * stride.max(1)) % n.max(1))
        .collect()
}

/// How many distinct test windows of `frames` frames a video of `n` frames
/// has: one per start, `n − frames + 1`, at stride 1; one (from the first
/// frame, loop-padded) when the video is no longer than `frames`.
pub fn distinct_windows(n: usize, frames: usize) -> usize {
    if n <= frames {
        1
    } else {
        n - frames + 1
    }
}

/// How many test clips [`test_clips`] cuts from `video` when asked for
/// `clips`: at most its [`distinct_windows`].
pub fn test_clip_count(video: &Video, frames: usize, clips: usize) -> usize {
    test_clip_count_cut(video, Cut::new(frames, 1), clips)
}

/// [`test_clip_count`] for windows at `cut.stride`.
pub fn test_clip_count_cut(video: &Video, cut: Cut, clips: usize) -> usize {
    clips.min(distinct_windows(video.frames, cut.span()))
}

impl Video {
    /// The video's name as the split files give it: `class/video` (its
    /// folder's or file's last two components, a file without its extension).
    pub fn name(&self) -> String {
        let last = match self.source {
            Source::Frames => self.path.file_name(),
            Source::File => self.path.file_stem(),
        };
        let parent = self.path.parent().and_then(Path::file_name);
        [parent, last]
            .into_iter()
            .flatten()
            .map(|c| c.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The test windows: `clips` evenly spaced starts from the first to the last
/// possible one (the centred one when `clips` is 1); one window from the
/// first frame, loop-padded, when the video is no longer than `frames`. At
/// most [`distinct_windows`] of them: consecutive starts then differ by at
/// least one frame (a step `last / (clips − 1)` ≥ 1, and rounding is
/// monotone), so no window comes twice.
fn test_windows(n: usize, frames: usize, stride: usize, clips: usize) -> Vec<Vec<usize>> {
    let span = Cut {
        frames,
        stride,
        size: 1,
    }
    .span();
    if n <= span {
        return vec![window(n, frames, 0, stride)];
    }
    let clips = clips.min(distinct_windows(n, span));
    let last = n - span;
    if clips <= 1 {
        return vec![window(n, frames, last / 2, stride)];
    }
    (0..clips)
        .map(|k| {
            let start = ((k * last) as f64 / (clips - 1) as f64).round() as usize;
            window(n, frames, start.min(last), stride)
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
    crops: &[&dyn Fn(f64, f64) -> CropBox],
) -> NodeResult<Vec<Vec<f32>>> {
    let mut uses: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
    for (c, w) in windows.iter().enumerate() {
        for (t, &i) in w.iter().enumerate() {
            uses.entry(i).or_default().push((c, t));
        }
    }
    let n = crops.len();
    let mut out: Vec<Vec<f32>> = windows
        .iter()
        .flat_map(|w| (0..n).map(|_| vec![0.0; 3 * w.len() * size * size]))
        .collect();
    // Each crop is chosen on the first frame decoded and applied, in
    // proportion, to every frame.
    let mut relative: Option<Vec<CropBox>> = None;
    let mut place = |img: &RgbImage, places: &[(usize, usize)]| {
        let (w, h) = (f64::from(img.width()), f64::from(img.height()));
        let relative = relative.get_or_insert_with(|| {
            crops
                .iter()
                .map(|choose| {
                    let b = choose(w, h);
                    CropBox {
                        x0: b.x0 / w,
                        y0: b.y0 / h,
                        w: b.w / w,
                        h: b.h / h,
                    }
                })
                .collect()
        });
        for (k, r) in relative.iter().enumerate() {
            let boxed = CropBox {
                x0: r.x0 * w,
                y0: r.y0 * h,
                w: r.w * w,
                h: r.h * h,
            };
            for &(c, t) in places {
                let frames = windows[c].len();
                resample(img, boxed, size, flip, &mut out[c * n + k], t, frames);
            }
        }
    };
    match video.source {
        Source::Frames => {
            for (i, places) in &uses {
                place(&decode(&frame_path(&video.path, *i))?, places);
            }
        }
        Source::File => {
            let want = uses.keys().copied().collect();
            super::decode::frames(&video.path, &want, &mut |i, img| {
                place(img, &uses[&i]);
                Ok(())
            })
            .map_err(|e| super::decode::unreadable(&video.path, &e))?;
        }
    }
    Ok(out)
}

/// Decodes one frame to RGB8; errors name the file.
fn decode(path: &Path) -> NodeResult<RgbImage> {
    let fail = |e: &dyn std::fmt::Display| {
        NodeError::Data(format!(
            "cannot decode frame {}: {e}; the file is missing or corrupt, re-extract the frames \
             of this video",
            path.display()
        ))
    };
    // A FIFO or a device named like a frame is refused, never read.
    let file = crate::util::open_regular(path).map_err(|e| fail(&e))?;
    let mut reader = image::ImageReader::new(std::io::BufReader::new(file));
    if let Ok(format) = image::ImageFormat::from_path(path) {
        reader.set_format(format);
    }
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
mod tests;
