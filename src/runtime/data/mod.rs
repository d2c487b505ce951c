//! Datasets as the runtime sees them: three splits of labelled clips
//! (N×C×T×H×W in [0, 1]) served in batches.

pub mod decode;
pub mod frames;
pub mod synthetic;
pub mod video;

use crate::runtime::error::{NodeError, NodeResult};
use crate::runtime::rng::mix;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Clips held in memory (synthetic data, a user's safetensors file).
pub struct Memory {
    pub x: Tensor,
    pub y: Tensor,
}

/// Videos decoded on demand, from frame folders or video files.
pub struct Frames {
    pub videos: Vec<frames::Video>,
    /// Test clips asked per video; `None`: training samples one window per video.
    pub test_clips: Option<usize>,
    /// Test samples: (video, view number) pairs, each video's distinct
    /// windows once ([`frames::test_clip_count`]) under each crop; with
    /// `views`, one sample per video.
    pub clips: Vec<(usize, usize)>,
    pub frames: usize,
    pub size: usize,
    /// The step between a clip's frames in the video.
    pub stride: usize,
    /// Square crops of each test window: 1 (the centre) or 3.
    pub crops: usize,
    /// A test video is one sample of all its views (clips × crops),
    /// concatenated along time; the model's logits are averaged over them
    /// ([`views_average`]).
    pub views: bool,
}

impl Frames {
    /// Frame folders as a split: `test_clips` clips per video at test time
    /// (at most each video's distinct windows), one random window per video
    /// for training (`None`).
    pub fn new(
        videos: Vec<frames::Video>,
        test_clips: Option<usize>,
        frames: usize,
        size: usize,
    ) -> Frames {
        Frames::cut(videos, test_clips, frames::Cut::new(frames, size), 1, false)
    }

    /// A split cut at `cut.stride`, with `crops` crops of each test window,
    /// and with `views` each test video one sample.
    pub fn cut(
        videos: Vec<frames::Video>,
        test_clips: Option<usize>,
        cut: frames::Cut,
        crops: usize,
        views: bool,
    ) -> Frames {
        let clips = match test_clips {
            Some(_) if views => (0..videos.len()).map(|v| (v, 0)).collect(),
            Some(n) => videos
                .iter()
                .enumerate()
                .flat_map(|(v, video)| {
                    (0..frames::test_clip_count_cut(video, cut, n) * crops).map(move |c| (v, c))
                })
                .collect(),
            None => Vec::new(),
        };
        Frames {
            videos,
            test_clips,
            clips,
            frames: cut.frames,
            size: cut.size,
            stride: cut.stride,
            crops,
            views,
        }
    }

    /// The clips and labels at `idx`, decoded on the host (any thread);
    /// `seed` drives training-time augmentation, per clip.
    pub fn host(&self, idx: &[usize], seed: u64) -> NodeResult<Host> {
        let (clips, labels): (Vec<Vec<f32>>, Vec<i64>) = match self.test_clips {
            None => {
                let vids: Vec<&frames::Video> = idx.iter().map(|&i| &self.videos[i]).collect();
                let seeds: Vec<u64> = idx.iter().map(|&i| mix(&[seed, i as u64])).collect();
                let clips = frames::train_batch_cut(&vids, self.cut_of(), &seeds)?;
                (clips, vids.iter().map(|v| v.label).collect())
            }
            Some(n) => {
                // Decode each video once, however many of its clips the batch holds.
                use rayon::prelude::*;
                let at = |i: usize| {
                    self.clips.get(i).copied().ok_or_else(|| {
                        NodeError::Data(format!("test clip {i} of {} asked for", self.clips.len()))
                    })
                };
                let places: Vec<(usize, usize)> =
                    idx.iter().map(|&i| at(i)).collect::<Result<_, _>>()?;
                let mut vids: Vec<usize> = places.iter().map(|p| p.0).collect();
                vids.dedup();
                type Decoded = Vec<(usize, Vec<Vec<f32>>)>;
                let cut = self.cut_of();
                let decoded: NodeResult<Decoded> = vids
                    .par_iter()
                    .map(|&v| {
                        let views = frames::test_views(&self.videos[v], cut, n, self.crops)?;
                        Ok((v, views))
                    })
                    .collect();
                let decoded = decoded?;
                let per_sample = self.views_per_sample();
                places
                    .iter()
                    .map(|&(v, c)| {
                        let (_, views) = decoded
                            .iter()
                            .find(|(d, _)| *d == v)
                            .expect("decoded above");
                        let clip = if self.views {
                            concat_views(views, per_sample)
                        } else {
                            views[c].clone()
                        };
                        (clip, self.videos[v].label)
                    })
                    .unzip()
            }
        };
        let frames = self.frames
            * if self.test_clips.is_some() {
                self.views_per_sample()
            } else {
                1
            };
        let per = 3 * frames * self.size * self.size;
        let flat: Vec<f32> = clips.into_iter().flatten().collect();
        if flat.len() != per * idx.len() {
            return Err(NodeError::Data("a decoded clip has the wrong size".into()));
        }
        Ok(Host {
            x: flat,
            y: labels,
            shape: [
                idx.len() as i64,
                3,
                frames as i64,
                self.size as i64,
                self.size as i64,
            ],
        })
    }

    fn cut_of(&self) -> frames::Cut {
        frames::Cut {
            frames: self.frames,
            stride: self.stride,
            size: self.size,
        }
    }

    /// The views one test sample holds (1 unless `views`): the most any
    /// video gives, a shorter video's views repeated to that count.
    pub fn views_per_sample(&self) -> usize {
        match self.test_clips {
            Some(n) if self.views => n * self.crops,
            _ => 1,
        }
    }

    /// When some test videos have fewer distinct windows than the clips
    /// asked: how many videos, the clips cut and the clips asked.
    pub fn shortfall(&self) -> Option<(usize, usize, usize)> {
        let asked = self.test_clips?;
        let cut = self.cut_of();
        let short = self
            .videos
            .iter()
            .filter(|v| frames::test_clip_count_cut(v, cut, asked) < asked)
            .count();
        let cut_clips = if self.views {
            self.videos
                .iter()
                .map(|v| frames::test_clip_count_cut(v, cut, asked) * self.crops)
                .sum()
        } else {
            self.clips.len()
        };
        (short > 0).then(|| (short, cut_clips, asked * self.crops * self.videos.len()))
    }
}

/// The classifier `f` of one view applied to samples of `views` views
/// concatenated along time (N×C×(V·T)×H×W): the mean of its logits over
/// the views, N×K. With one view, `f` itself.
pub fn views_average(views: usize, x: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> Tensor {
    if views <= 1 {
        return f(x);
    }
    let s = x.size();
    let (n, c, t) = (s[0], s[1], s[2] / views as i64);
    let split = x
        .reshape([n, c, views as i64, t, s[3], s[4]])
        .permute([0, 2, 1, 3, 4, 5])
        .reshape([n * views as i64, c, t, s[3], s[4]]);
    let logits = f(&split);
    let k = logits.size()[1];
    logits
        .reshape([n, views as i64, k])
        .mean_dim(1, false, logits.kind())
}

/// A batch decoded on the host, not yet a tensor: what a loader thread
/// hands over.
pub struct Host {
    pub x: Vec<f32>,
    pub y: Vec<i64>,
    pub shape: [i64; 5],
}

impl Host {
    /// The batch as tensors on `device`.
    pub fn to(self, device: Device) -> (Tensor, Tensor) {
        (
            Tensor::from_slice(&self.x)
                .reshape(self.shape)
                .to_device(device),
            Tensor::from_slice(&self.y).to_device(device),
        )
    }
}

pub enum Clips {
    Memory(Memory),
    /// Procedural training clips: new scenes for every batch seed, labels cycling.
    Synthetic {
        spec: synthetic::Spec,
        n: usize,
    },
    Frames(Frames),
}

pub struct Dataset {
    pub classes: i64,
    /// C, T, H, W of one clip.
    pub shape: [i64; 4],
    pub train: Clips,
    pub val: Clips,
    pub test: Clips,
    /// Why the data has no test split (a `tensors` file without `x_test` and
    /// `y_test`): `.test` is refused before any work rather than answered
    /// with training clips.
    pub no_test: Option<String>,
    /// Listed videos that are missing or do not decode: left out of their
    /// split, and named in every result that reads the data.
    pub unreadable: Vec<video::Unreadable>,
}

impl Dataset {
    pub fn split(&self, name: &str) -> &Clips {
        match name {
            "train" => &self.train,
            "val" => &self.val,
            _ => &self.test,
        }
    }
}

impl Clips {
    /// Samples in this split (for frame folders at test time: every clip of every video).
    pub fn len(&self) -> usize {
        match self {
            Clips::Memory(m) => m.y.size()[0] as usize,
            Clips::Synthetic { n, .. } => *n,
            Clips::Frames(f) if f.test_clips.is_some() => f.clips.len(),
            Clips::Frames(f) => f.videos.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The clips and labels at `idx`; `seed` drives training-time augmentation.
    pub fn batch(&self, idx: &[usize], seed: u64, device: Device) -> NodeResult<(Tensor, Tensor)> {
        self.batch_from(idx, seed, 0, device)
    }

    /// Rows `first..` of a batch whose draws are seeded by `seed`: what
    /// [`Clips::batch`] gives for those rows of the whole batch (one rank's
    /// shard of it).
    pub fn batch_from(
        &self,
        idx: &[usize],
        seed: u64,
        first: usize,
        device: Device,
    ) -> NodeResult<(Tensor, Tensor)> {
        match self {
            Clips::Memory(m) => {
                let i = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>());
                Ok((
                    m.x.index_select(0, &i).to_device(device),
                    m.y.index_select(0, &i).to_device(device),
                ))
            }
            Clips::Synthetic { spec, .. } => {
                let labels: Vec<i64> = idx.iter().map(|&i| (i % spec.classes) as i64).collect();
                let x = synthetic::fresh(spec, seed, first, &labels);
                let (t, s) = (spec.frames as i64, spec.size as i64);
                Ok((
                    Tensor::from_slice(&x)
                        .reshape([idx.len() as i64, 3, t, s, s])
                        .to_device(device),
                    Tensor::from_slice(&labels).to_device(device),
                ))
            }
            Clips::Frames(f) => Ok(f.host(idx, seed)?.to(device)),
        }
    }

    /// The views each sample holds along time (`views: true` test data),
    /// else 1.
    pub fn views(&self) -> usize {
        match self {
            Clips::Frames(f) => f.views_per_sample(),
            _ => 1,
        }
    }

    /// For frame folders at test time: the video of each sample (video accuracy).
    pub fn video_of(&self, i: usize) -> Option<usize> {
        match self {
            Clips::Frames(f) if f.test_clips.is_some() => f.clips.get(i).map(|c| c.0),
            _ => None,
        }
    }

    /// The name of sample `i`'s video (`class/video`), where samples are cut
    /// from videos; `None` where each sample is its own.
    pub fn video_name(&self, i: usize) -> Option<String> {
        match self {
            Clips::Frames(f) => self.video_of(i).map(|v| f.videos[v].name()),
            _ => None,
        }
    }
}

/// Views, each C×T×H×W, as one C×(V·T)×H×W clip of `count` views: a video
/// with fewer views than `count` repeats them in turn (each view's weight
/// in the mean then differs by at most one copy).
fn concat_views(views: &[Vec<f32>], count: usize) -> Vec<f32> {
    let per_channel = views.first().map_or(0, |v| v.len() / 3);
    let mut out = Vec::with_capacity(3 * per_channel * count);
    for c in 0..3 {
        for k in 0..count {
            let v = &views[k % views.len().max(1)];
            out.extend_from_slice(&v[c * per_channel..(c + 1) * per_channel]);
        }
    }
    out
}

fn memory(x: Vec<f32>, y: Vec<i64>, shape: [i64; 4]) -> Clips {
    let n = y.len() as i64;
    Clips::Memory(Memory {
        x: Tensor::from_slice(&x).reshape([n, shape[0], shape[1], shape[2], shape[3]]),
        y: Tensor::from_slice(&y),
    })
}

#[derive(Clone, Debug)]
pub struct SyntheticArgs {
    pub spec: synthetic::Spec,
    pub train: usize,
    pub val: usize,
    pub test: usize,
}

pub fn synthetic(a: &SyntheticArgs) -> Dataset {
    let s = &a.spec;
    let shape = [3, s.frames as i64, s.size as i64, s.size as i64];
    let make = |split, n| {
        let (x, y) = synthetic::generate(s, split, n);
        memory(x, y, shape)
    };
    Dataset {
        classes: s.classes as i64,
        shape,
        train: Clips::Synthetic {
            spec: s.clone(),
            n: a.train,
        },
        val: make(synthetic::Split::Val, a.val),
        test: make(synthetic::Split::Test, a.test),
        no_test: None,
        unreadable: Vec::new(),
    }
}

/// A user's clips: `x` N×C×T×H×W float in [0, 1], `y` N int64, optional
/// `x_test`/`y_test`; a fraction `val` of `x` is held out (the last clips).
pub fn tensors(path: &Path, val: f64) -> NodeResult<Dataset> {
    // A FIFO or a device would block or never end: regular files only.
    if let Some(why) = crate::util::not_regular(path) {
        return Err(NodeError::Data(format!(
            "{why}; `tensors` reads a .safetensors file"
        )));
    }
    let named = Tensor::read_safetensors(path).map_err(|e| {
        NodeError::Data(format!(
            "cannot read {}: {e}; `tensors` wants a .safetensors file with `x` and `y`",
            path.display()
        ))
    })?;
    let get = |k: &str| {
        named
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, t)| t.shallow_clone())
    };
    let keys: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
    // A file for evaluation alone may hold only the test pair.
    let (x, y) = match (get("x"), get("y"), get("x_test"), get("y_test")) {
        (Some(x), Some(y), _, _) => (x, y),
        (None, None, Some(xt), Some(yt)) => (xt.narrow(0, 0, 0), yt.narrow(0, 0, 0)),
        _ => {
            return Err(NodeError::Data(format!(
                "{} must hold tensors `x` (N×C×T×H×W) and `y` (N), or for evaluation alone `x_test` and `y_test`; it holds {keys:?}",
                path.display()
            )))
        }
    };
    let (x, y) = checked(&x, &y, "x", "y", path)?;
    let (xt, yt, no_test) = match (get("x_test"), get("y_test")) {
        (Some(a), Some(b)) => {
            let (a, b) = checked(&a, &b, "x_test", "y_test", path)?;
            (a, b, None)
        }
        (Some(_), None) | (None, Some(_)) => {
            let (has, lacks) = if get("x_test").is_some() {
                ("x_test", "y_test")
            } else {
                ("y_test", "x_test")
            };
            return Err(NodeError::Data(format!(
                "{} holds `{has}` but not `{lacks}`: a test split needs both (clips and their labels)",
                path.display()
            )));
        }
        (None, None) => (
            x.narrow(0, 0, 0),
            y.narrow(0, 0, 0),
            Some(format!(
                "{} has no `x_test` and `y_test`, and advp never tests on training clips; add both to the file, or evaluate on the held-out `.val`",
                path.display()
            )),
        ),
    };
    let n = x.size()[0];
    let nval = ((n as f64) * val).round() as i64;
    let classes = class_count(&y, &yt, path)?;
    let xs = x.size();
    Ok(Dataset {
        classes,
        shape: [xs[1], xs[2], xs[3], xs[4]],
        train: Clips::Memory(Memory {
            x: x.narrow(0, 0, n - nval),
            y: y.narrow(0, 0, n - nval),
        }),
        val: Clips::Memory(Memory {
            x: x.narrow(0, n - nval, nval),
            y: y.narrow(0, n - nval, nval),
        }),
        test: Clips::Memory(Memory { x: xt, y: yt }),
        no_test,
        unreadable: Vec::new(),
    })
}

/// The class count the labels `y` and `yt` of a `tensors` file give (the
/// largest label + 1), 2 to 100000.
fn class_count(y: &Tensor, yt: &Tensor, path: &Path) -> NodeResult<i64> {
    let mut classes = if y.numel() > 0 {
        y.max().int64_value(&[]) + 1
    } else {
        0
    };
    if yt.numel() > 0 {
        classes = classes.max(yt.max().int64_value(&[]) + 1);
    }
    if !(2..=100_000).contains(&classes) {
        return Err(NodeError::Data(format!(
            "the labels of {} give {classes} classes (the largest label + 1); advp trains 2 to 100000 classes",
            path.display()
        )));
    }
    Ok(classes)
}

/// Clips `x` and labels `y` of a `tensors` file (named `xn`, `yn` in it),
/// checked: N×C×T×H×W floats in [0, 1], one whole label from 0 per clip.
fn checked(
    x: &Tensor,
    y: &Tensor,
    xn: &str,
    yn: &str,
    path: &Path,
) -> NodeResult<(Tensor, Tensor)> {
    let xs = x.size();
    if xs.len() != 5 {
        return Err(NodeError::Data(format!(
            "`{xn}` in {} has shape {xs:?}; it must be N×C×T×H×W",
            path.display()
        )));
    }
    if y.size() != [xs[0]] {
        return Err(NodeError::Data(format!(
            "`{yn}` in {} has shape {:?}; it must hold one label for each of the {} clips of `{xn}`",
            path.display(),
            y.size(),
            xs[0]
        )));
    }
    let x = x.to_kind(Kind::Float);
    // No clips: nothing to range-check. A node reading an empty split is
    // refused when the run opens the data (`advp::run::empty_split`).
    if xs[0] == 0 {
        return Ok((x, y.to_kind(Kind::Int64)));
    }
    let (lo, hi) = (x.min().double_value(&[]), x.max().double_value(&[]));
    if lo < 0.0 || hi > 1.0 || lo.is_nan() || hi.is_nan() {
        return Err(NodeError::Data(format!(
            "`{xn}` in {} has values in [{lo}, {hi}]; clips must be in [0, 1] (divide by 255, and leave mean/std normalisation to the model)",
            path.display()
        )));
    }
    labels(y, yn, path)?;
    Ok((x, y.to_kind(Kind::Int64)))
}

/// Labels must be whole numbers from 0: refused with the first bad one otherwise.
fn labels(y: &Tensor, name: &str, path: &Path) -> NodeResult<()> {
    let kind = y.kind();
    if !matches!(
        kind,
        Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8
    ) {
        return Err(NodeError::Data(format!(
            "`{name}` in {} holds {kind:?} values; labels must be integers (class indices from 0), e.g. `y.long()` in PyTorch",
            path.display()
        )));
    }
    let y = y.to_kind(Kind::Int64);
    let negative = y.lt(0).nonzero();
    if negative.size()[0] > 0 {
        let i = negative.int64_value(&[0, 0]);
        return Err(NodeError::Data(format!(
            "`{name}` in {} has the label {} at index {i}; labels are class indices from 0",
            path.display(),
            y.int64_value(&[i])
        )));
    }
    Ok(())
}

/// How a video data set's clips are sampled: the arguments every video
/// data built-in shares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    pub cut: frames::Cut,
    /// Test windows per video.
    pub clips: usize,
    /// Square crops of each test window: 1 or 3.
    pub crops: usize,
    /// Each test video one sample of its views.
    pub views: bool,
    /// The fraction of training videos held out.
    pub val: f64,
}

#[derive(Clone, Debug)]
pub struct FrameArgs {
    pub root: PathBuf,
    pub kind: frames::Kind,
    pub split: u32,
    pub sampling: Sampling,
}

/// UCF101 / HMDB51 frame folders.
pub fn frame_folders(a: &FrameArgs) -> NodeResult<Dataset> {
    let index = frames::index(&a.root, a.split, a.kind)?;
    Ok(videos_dataset(
        index.classes.len(),
        index.train,
        index.test,
        &a.sampling,
        Vec::new(),
    ))
}

/// A data set of videos (folders or files): a fraction `val` of the
/// training videos (every k-th) held out, one random window per training
/// video, the test split cut as `s` says.
fn videos_dataset(
    classes: usize,
    train_all: Vec<frames::Video>,
    test: Vec<frames::Video>,
    s: &Sampling,
    unreadable: Vec<video::Unreadable>,
) -> Dataset {
    let k = if s.val > 0.0 {
        (1.0 / s.val).round().max(2.0) as usize
    } else {
        usize::MAX
    };
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (i, v) in train_all.into_iter().enumerate() {
        if k != usize::MAX && i % k == k - 1 {
            val.push(v);
        } else {
            train.push(v);
        }
    }
    let split = |videos, test_clips, crops, views| {
        Clips::Frames(Frames::cut(videos, test_clips, s.cut, crops, views))
    };
    let (frames, size) = (s.cut.frames as i64, s.cut.size as i64);
    Dataset {
        classes: classes as i64,
        shape: [3, frames, size, size],
        train: split(train, None, 1, false),
        val: split(val, Some(1), 1, false),
        test: split(test, Some(s.clips), s.crops, s.views),
        no_test: None,
        unreadable,
    }
}

/// Where a video data set's lists come from.
#[derive(Clone, Debug, PartialEq)]
pub enum VideoLayout {
    /// `videos(train: …, test: …)`: two `path,label` lists.
    Lists {
        train: PathBuf,
        test: PathBuf,
    },
    /// UCF101 or HMDB51 archives as extracted, with the official splits.
    Archive {
        root: PathBuf,
        kind: frames::Kind,
        split: u32,
    },
    Kinetics {
        root: PathBuf,
    },
    Ssv2 {
        root: PathBuf,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct VideoArgs {
    pub layout: VideoLayout,
    pub sampling: Sampling,
}

/// Video files decoded on the fly: the layout's lists, every video probed
/// (opened and its first frame decoded) in parallel; those that fail are
/// left out and listed.
pub fn video_files(a: &VideoArgs) -> NodeResult<Dataset> {
    decode::available().map_err(NodeError::Data)?;
    let listing = match &a.layout {
        VideoLayout::Lists { train, test } => video::lists(train, test)?,
        VideoLayout::Archive { root, kind, split } => video::archive(root, *split, *kind)?,
        VideoLayout::Kinetics { root } => video::kinetics(root)?,
        VideoLayout::Ssv2 { root } => video::ssv2(root)?,
    };
    let listed = listing.train.len() + listing.test.len();
    let (train_all, mut unreadable) = video::probe_all(&listing.train);
    let (test, bad) = video::probe_all(&listing.test);
    unreadable.extend(bad);
    // Most of a data set unreadable is a wrong root or a missing decoder,
    // not a few damaged files: said before any work.
    if listed > 0 && 2 * unreadable.len() > listed {
        let first = &unreadable[0];
        return Err(NodeError::Data(format!(
            "{} of the {listed} listed videos cannot be used (the first, {}: {}); check the \
             data's root and that its videos are there",
            unreadable.len(),
            first.video,
            first.why
        )));
    }
    Ok(videos_dataset(
        listing.classes.len(),
        train_all,
        test,
        &a.sampling,
        unreadable,
    ))
}

/// One batch a loop will ask for: its samples, its augmentation seed, and
/// (for one rank's shard) the row of the whole batch it starts at.
#[derive(Clone, Debug)]
pub struct Job {
    pub idx: Vec<usize>,
    pub seed: u64,
    pub first: usize,
}

impl Job {
    /// `idx` in batches of `batch`, those whose number `mine` keeps, with
    /// no augmentation (test and held-out clips).
    pub fn chunks(idx: &[usize], batch: usize, mine: impl Fn(usize) -> bool) -> Vec<Job> {
        idx.chunks(batch.max(1))
            .enumerate()
            .filter(|(b, _)| mine(*b))
            .map(|(_, chunk)| Job {
                idx: chunk.to_vec(),
                seed: 0,
                first: 0,
            })
            .collect()
    }
}

/// Batches ahead of the ones a loop is computing on, never more than
/// [`PREFETCH`] of them.
pub const PREFETCH: usize = 2;

/// The batches `jobs`, in order, from `next` inside `body`. Videos (frame
/// folders and files) are decoded by a loader thread that works up to
/// [`PREFETCH`] batches ahead, the clips of a batch in parallel on rayon's
/// pool, so decoding overlaps the loop's compute; clips in memory are cut
/// as asked. Leaving `body` early stops the loader after its batch in hand.
pub fn with_batches<R>(
    clips: &Clips,
    jobs: Vec<Job>,
    device: Device,
    body: impl FnOnce(&mut dyn FnMut() -> Option<NodeResult<(Tensor, Tensor)>>) -> R,
) -> R {
    let Clips::Frames(f) = clips else {
        let mut jobs = jobs.into_iter();
        return body(&mut || {
            jobs.next()
                .map(|j| clips.batch_from(&j.idx, j.seed, j.first, device))
        });
    };
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<NodeResult<Host>>(PREFETCH - 1);
        scope.spawn(move || {
            for j in jobs {
                let host = f.host(&j.idx, j.seed);
                let failed = host.is_err();
                // The loop has gone (done early, or stopped): so does the loader.
                if send.send(host).is_err() || failed {
                    break;
                }
            }
        });
        body(&mut || receive.recv().ok().map(|h| h.map(|h| h.to(device))))
    })
}

#[cfg(test)]
mod view_tests {
    use super::*;

    #[test]
    fn views_concatenate_along_time_and_the_logits_of_each_view_are_averaged() {
        // Three views of C×T×H×W = 3×2×1×1: view v, channel c, frame t
        // holds 100v + 10c + t.
        let views: Vec<Vec<f32>> = (0..3)
            .map(|v| {
                (0..3)
                    .flat_map(|c| (0..2).map(move |t| (100 * v + 10 * c + t) as f32))
                    .collect()
            })
            .collect();
        let x = concat_views(&views, 3);
        // Channel-major, then view, then frame.
        assert_eq!(&x[..6], &[0.0, 1.0, 100.0, 101.0, 200.0, 201.0]);
        assert_eq!(x[6], 10.0);
        // A short video's views repeat to the count.
        assert_eq!(&concat_views(&views[..1], 2)[..4], &[0.0, 1.0, 0.0, 1.0]);
        let x = Tensor::from_slice(&x).reshape([1, 3, 6, 1, 1]);
        // A "classifier" whose one logit is a view's first frame of
        // channel 1, and whose second is its frame count.
        let f = |v: &Tensor| {
            let first = v.narrow(1, 1, 1).narrow(2, 0, 1).reshape([-1, 1]);
            let frames = Tensor::full(
                [v.size()[0], 1],
                v.size()[2] as f64,
                (Kind::Float, Device::Cpu),
            );
            Tensor::cat(&[first, frames], 1)
        };
        let out = views_average(3, &x, f);
        assert_eq!(out.size(), [1, 2]);
        // (10 + 110 + 210) / 3, and every view has 2 frames.
        assert!((out.double_value(&[0, 0]) - 110.0).abs() < 1e-9);
        assert_eq!(out.double_value(&[0, 1]), 2.0);
        // One view: the classifier itself.
        assert_eq!(views_average(1, &x, f).double_value(&[0, 1]), 6.0);
    }
}
