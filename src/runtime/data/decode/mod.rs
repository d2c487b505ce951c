//! Video files decoded with FFmpeg's libraries (the `ffmpeg` child, behind
//! cargo's `video` feature): what the frame cutter and the layouts ask of a
//! video file.

#[cfg(feature = "video")]
mod ffmpeg;

use crate::runtime::error::NodeError;
use image::RgbImage;
use std::collections::BTreeSet;
use std::path::Path;

/// What opening a video tells: its length and frame size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probed {
    pub frames: usize,
    pub width: u32,
    pub height: u32,
}

#[cfg(not(feature = "video"))]
const NOT_BUILT: &str = "this advp was built without video decoding (cargo's `video` feature, \
    which needs FFmpeg's development libraries: libavcodec-dev, libavformat-dev, libavutil-dev, \
    libswscale-dev); build it with the feature, or extract frames with scripts/extract-frames";

/// Whether this advp decodes videos: the reason it cannot, otherwise.
pub fn available() -> Result<(), String> {
    #[cfg(feature = "video")]
    return Ok(());
    #[cfg(not(feature = "video"))]
    Err(NOT_BUILT.into())
}

/// Opens a video and decodes its first frame.
pub fn probe(path: &Path) -> Result<Probed, String> {
    if let Some(why) = crate::util::not_regular(path) {
        return Err(why);
    }
    #[cfg(feature = "video")]
    return ffmpeg::probe(path);
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
    return ffmpeg::frames(path, want, sink);
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
