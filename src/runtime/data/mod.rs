//! Datasets as the runtime sees them: three splits of labelled clips
//! (N×C×T×H×W in [0, 1]) served in batches.

pub mod frames;
pub mod synthetic;

use crate::runtime::error::{NodeError, NodeResult};
use crate::runtime::rng::mix;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Clips held in memory (synthetic data, a user's safetensors file).
pub struct Memory {
    pub x: Tensor,
    pub y: Tensor,
}

/// Videos decoded from frame folders on demand.
pub struct Frames {
    pub videos: Vec<frames::Video>,
    /// Test clips asked per video; `None`: training samples one window per video.
    pub test_clips: Option<usize>,
    /// Test samples: (video, clip number) pairs, each video's distinct
    /// windows once ([`frames::test_clip_count`]).
    pub clips: Vec<(usize, usize)>,
    pub frames: usize,
    pub size: usize,
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
        let clips = match test_clips {
            Some(n) => videos
                .iter()
                .enumerate()
                .flat_map(|(v, video)| {
                    (0..frames::test_clip_count(video, frames, n)).map(move |c| (v, c))
                })
                .collect(),
            None => Vec::new(),
        };
        Frames {
            videos,
            test_clips,
            clips,
            frames,
            size,
        }
    }

    /// When some test videos have fewer distinct windows than the clips
    /// asked: how many videos, the clips cut and the clips asked.
    pub fn shortfall(&self) -> Option<(usize, usize, usize)> {
        let asked = self.test_clips?;
        let short = self
            .videos
            .iter()
            .filter(|v| frames::test_clip_count(v, self.frames, asked) < asked)
            .count();
        (short > 0).then(|| (short, self.clips.len(), asked * self.videos.len()))
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
            Clips::Frames(f) => {
                let (clips, labels): (Vec<Vec<f32>>, Vec<i64>) = match f.test_clips {
                    None => {
                        let vids: Vec<&frames::Video> = idx.iter().map(|&i| &f.videos[i]).collect();
                        let seeds: Vec<u64> = idx.iter().map(|&i| mix(&[seed, i as u64])).collect();
                        let clips = frames::train_batch(&vids, f.frames, f.size, &seeds)?;
                        (clips, vids.iter().map(|v| v.label).collect())
                    }
                    Some(n) => {
                        // Decode each video once, however many of its clips the batch holds.
                        use rayon::prelude::*;
                        let at = |i: usize| {
                            f.clips.get(i).copied().ok_or_else(|| {
                                NodeError::Data(format!(
                                    "test clip {i} of {} asked for",
                                    f.clips.len()
                                ))
                            })
                        };
                        let places: Vec<(usize, usize)> =
                            idx.iter().map(|&i| at(i)).collect::<Result<_, _>>()?;
                        let mut vids: Vec<usize> = places.iter().map(|p| p.0).collect();
                        vids.dedup();
                        type Decoded = Vec<(usize, Vec<Vec<f32>>)>;
                        let decoded: NodeResult<Decoded> = vids
                            .par_iter()
                            .map(|&v| {
                                Ok((v, frames::test_clips(&f.videos[v], f.frames, f.size, n)?))
                            })
                            .collect();
                        let decoded = decoded?;
                        places
                            .iter()
                            .map(|&(v, c)| {
                                let (_, clips) = decoded
                                    .iter()
                                    .find(|(d, _)| *d == v)
                                    .expect("decoded above");
                                (clips[c].clone(), f.videos[v].label)
                            })
                            .unzip()
                    }
                };
                let per = 3 * f.frames * f.size * f.size;
                let flat: Vec<f32> = clips.into_iter().flatten().collect();
                if flat.len() != per * idx.len() {
                    return Err(NodeError::Data("a decoded clip has the wrong size".into()));
                }
                let x = Tensor::from_slice(&flat)
                    .reshape([
                        idx.len() as i64,
                        3,
                        f.frames as i64,
                        f.size as i64,
                        f.size as i64,
                    ])
                    .to_device(device);
                Ok((x, Tensor::from_slice(&labels).to_device(device)))
            }
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

#[derive(Clone, Debug)]
pub struct FrameArgs {
    pub root: PathBuf,
    pub kind: frames::Kind,
    pub split: u32,
    pub frames: usize,
    pub size: usize,
    pub clips: usize,
    pub val: f64,
}

/// UCF101 / HMDB51 frame folders; a fraction `val` of training videos (every
/// k-th) is held out.
pub fn frame_folders(a: &FrameArgs) -> NodeResult<Dataset> {
    let index = frames::index(&a.root, a.split, a.kind)?;
    let k = if a.val > 0.0 {
        (1.0 / a.val).round().max(2.0) as usize
    } else {
        usize::MAX
    };
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (i, v) in index.train.into_iter().enumerate() {
        if k != usize::MAX && i % k == k - 1 {
            val.push(v);
        } else {
            train.push(v);
        }
    }
    let clips =
        |videos, test_clips| Clips::Frames(Frames::new(videos, test_clips, a.frames, a.size));
    Ok(Dataset {
        classes: index.classes.len() as i64,
        shape: [3, a.frames as i64, a.size as i64, a.size as i64],
        train: clips(train, None),
        val: clips(val, Some(1)),
        test: clips(index.test, Some(a.clips)),
        no_test: None,
    })
}
