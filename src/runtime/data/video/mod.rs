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

mod layouts;

pub use super::decode::{frames, probe, unreadable, Probed};
pub use crate::results::Unreadable;
pub use layouts::*;

use super::frames::{Source, Video};
use rayon::prelude::*;
use std::path::PathBuf;

/// The file extensions of the containers the layouts look for.
pub const EXTENSIONS: &[&str] = &["mp4", "avi", "mkv", "webm", "mov", "m4v"];

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
