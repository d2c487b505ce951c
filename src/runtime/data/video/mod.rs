//! Datasets kept as video files (`.avi`, `.mp4`, `.mkv`, `.webm`, …),
//! decoded on the fly: a clip decodes only its own frames (see `decode`).
//!
//! Layouts, as the data sets ship:
//! * a list: lines `path,label` (a path relative to the list file; a label
//!   a class number from 0, or a class name: names are numbered in sorted
//!   order), for `videos(train: …, test: …)`;
//! * UCF101 and HMDB51 archives as extracted (`<class>/<video>.avi`) with
//!   their official split files (`ucf101(format: video)`);
//! * Kinetics-400/600/700 (`kinetics(root)`): the official CSV annotations
//!   (`label,youtube_id,time_start,time_end,…`, files named
//!   `<youtube_id>_<start:06>_<end:06>.mp4` in class folders or flat), or,
//!   without them, class folders;
//! * Something-Something v2 (`ssv2(root)`): `labels/labels.json`,
//!   `labels/train.json` and `labels/validation.json`, and `<id>.webm`.
//!
//! A listed video that is missing or cannot be decoded is counted and named
//! ([`Unreadable`]), never a crash and never silently dropped.

#[cfg(feature = "video")]
mod decode;
mod layouts;

pub use layouts::*;

use super::frames::{Source, Video};
use crate::runtime::error::NodeError;
use image::RgbImage;
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The file extensions of the containers the layouts look for.
pub const EXTENSIONS: &[&str] = &["mp4", "avi", "mkv", "webm", "mov", "m4v"];

/// What opening a video tells: its length and frame size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probed {
    pub frames: usize,
    pub width: u32,
    pub height: u32,
}

pub use crate::results::Unreadable;

#[cfg(not(feature = "video"))]
const NOT_BUILT: &str = "this advp was built without video decoding (cargo's `video` feature, \
    which needs FFmpeg's development libraries: libavcodec-dev, libavformat-dev, libavutil-dev, \
    libswscale-dev); build it with the feature, or extract frames with scripts/extract-frames";

/// Opens a video and decodes its first frame.
pub fn probe(path: &Path) -> Result<Probed, String> {
    if let Some(why) = crate::util::not_regular(path) {
        return Err(why);
    }
    #[cfg(feature = "video")]
    return decode::probe(path);
    #[cfg(not(feature = "video"))]
    Err(NOT_BUILT.into())
}

/// Decodes the frames `want` (0-based) of a video into `sink`, in order.
pub fn frames(
    path: &Path,
    want: &BTreeSet<usize>,
    sink: &mut dyn FnMut(usize, &RgbImage) -> Result<(), String>,
) -> Result<(), String> {
    #[cfg(feature = "video")]
    return decode::frames(path, want, sink);
    #[cfg(not(feature = "video"))]
    {
        let _ = (path, want, sink);
        Err(NOT_BUILT.into())
    }
}

/// The error of a video that stopped decoding after it was indexed.
pub fn unreadable(path: &Path, why: &str) -> NodeError {
    NodeError::Data(format!(
        "cannot decode video {}: {why}; re-encode it (`ffmpeg -i IN -c:v libx264 OUT.mp4`) or \
         leave it out of the list",
        path.display()
    ))
}

/// A video a layout lists: its file, its label and where it was listed.
#[derive(Clone, Debug)]
pub struct Listed {
    pub path: PathBuf,
    pub label: i64,
}

/// Probes every listed video in parallel: those that open and decode, in
/// the order listed, and those that do not, with why.
pub fn probe_all(listed: &[Listed]) -> (Vec<Video>, Vec<Unreadable>) {
    let probed: Vec<Result<Video, Unreadable>> = listed
        .par_iter()
        .map(|l| {
            let name = l.path.display().to_string();
            if !l.path.exists() {
                return Err(Unreadable {
                    video: name,
                    why: "the file is missing".into(),
                });
            }
            match probe(&l.path) {
                Ok(p) => Ok(Video {
                    path: l.path.clone(),
                    label: l.label,
                    frames: p.frames,
                    source: Source::File,
                }),
                Err(why) => Err(Unreadable { video: name, why }),
            }
        })
        .collect();
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for p in probed {
        match p {
            Ok(v) => ok.push(v),
            Err(u) => bad.push(u),
        }
    }
    (ok, bad)
}
