//! Video files decoded on the fly with FFmpeg's own libraries (libavformat,
//! libavcodec and libswscale, through the `ffmpeg-next` binding): only the
//! frames a clip needs, each run of them from the key frame before it, never
//! the whole video.
//!
//! Frame `i` of a video is the frame shown at time `i / fps` from the
//! stream's start (`fps`: the stream's average frame rate). For a constant
//! frame rate that is the `i`-th frame decoded; for a variable one it is the
//! frame on screen at that time, as TorchCodec and decord index by time. A
//! frame asked past the last one decoded is the last one (a container that
//! overstates its length).

use super::Probed;
use ffmpeg_next as ff;
use image::RgbImage;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Once;

/// Runs of wanted frames further apart than this are reached by a seek (to
/// the key frame before the run) rather than by decoding through the gap.
const SEEK_GAP: usize = 48;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Decoding warnings (a damaged packet, a missing reference) are
        // FFmpeg's to count, not the terminal's to show: a video that
        // cannot be decoded is reported by advp with its path.
        ff::util::log::set_level(ff::util::log::Level::Fatal);
        let _ = ff::init();
    });
}

/// An opened video: its container, its video stream and how to map times.
struct Opened {
    input: ff::format::context::Input,
    stream: usize,
    /// Seconds per stream time-base tick.
    tb: f64,
    /// The stream's first timestamp, in ticks.
    t0: i64,
    fps: f64,
    frames: usize,
    decoder: ff::decoder::Video,
}

fn open(path: &Path) -> Result<Opened, String> {
    init();
    let input = ff::format::input(&path).map_err(|e| format!("cannot open it: {e}"))?;
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or("it has no video stream")?;
    let rate = |r: ff::Rational| {
        (r.numerator() > 0 && r.denominator() > 0)
            .then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
    };
    let fps = rate(stream.avg_frame_rate())
        .or_else(|| rate(stream.rate()))
        .filter(|f| f.is_finite() && *f > 0.0 && *f < 10_000.0)
        .ok_or("its frame rate is not known")?;
    let tb = rate(stream.time_base()).ok_or("its time base is not known")?;
    let t0 = match stream.start_time() {
        t if t == ff::ffi::AV_NOPTS_VALUE => 0,
        t => t,
    };
    // The container's frame count where it keeps one (AVI, MP4), else its
    // duration at the frame rate (Matroska, WebM).
    let frames = if stream.frames() > 0 {
        stream.frames() as usize
    } else if stream.duration() > 0 {
        (stream.duration() as f64 * tb * fps).round() as usize
    } else if input.duration() > 0 {
        (input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE) * fps).round() as usize
    } else {
        0
    };
    let index = stream.index();
    let context = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| format!("cannot read its codec parameters: {e}"))?;
    let decoder = context
        .decoder()
        .video()
        .map_err(|e| format!("no decoder for its codec: {e}"))?;
    Ok(Opened {
        input,
        stream: index,
        tb,
        t0,
        fps,
        frames,
        decoder,
    })
}

/// A video's length and frame size, with its first frame decoded: a file
/// that opens but whose stream cannot be decoded is found here, before any
/// work, not half-way through an epoch.
pub fn probe(path: &Path) -> Result<Probed, String> {
    let want: BTreeSet<usize> = [0].into();
    let mut opened = open(path)?;
    let frames = opened.frames;
    let mut size = None;
    decode(&mut opened, &want, &mut |_, img| {
        size = Some(img.dimensions());
        Ok(())
    })?;
    let (width, height) = size.ok_or("no frame of it decodes")?;
    Ok(Probed {
        frames: frames.max(1),
        width,
        height,
    })
}

/// A frame number and the frame, as RGB, for each number of `want` in
/// order; one frame at a time is held, however long the video.
pub type Sink<'a> = dyn FnMut(usize, &RgbImage) -> Result<(), String> + 'a;

/// Decodes the frames `want` of a video, each once, into `sink`.
pub fn frames(path: &Path, want: &BTreeSet<usize>, sink: &mut Sink) -> Result<(), String> {
    let mut opened = open(path)?;
    decode(&mut opened, want, sink)
}

/// Converts decoded frames to packed RGB with one scaler, rebuilt when the
/// stream changes size or format mid-way.
struct Rgb {
    scaler: Option<(ff::format::Pixel, u32, u32, ff::software::scaling::Context)>,
    out: ff::frame::Video,
}

impl Rgb {
    fn convert(&mut self, frame: &ff::frame::Video) -> Result<RgbImage, String> {
        let (format, w, h) = (frame.format(), frame.width(), frame.height());
        if w == 0 || h == 0 {
            return Err("a frame of it is empty".into());
        }
        if !matches!(&self.scaler, Some((f, sw, sh, _)) if *f == format && *sw == w && *sh == h) {
            // Bicubic, as the ffmpeg command's own conversion to RGB.
            let ctx = ff::software::scaling::Context::get(
                format,
                w,
                h,
                ff::format::Pixel::RGB24,
                w,
                h,
                ff::software::scaling::Flags::BICUBIC,
            )
            .map_err(|e| format!("cannot convert its frames to RGB: {e}"))?;
            self.scaler = Some((format, w, h, ctx));
            self.out = ff::frame::Video::empty();
        }
        let (.., ctx) = self.scaler.as_mut().expect("set above");
        ctx.run(frame, &mut self.out)
            .map_err(|e| format!("cannot convert a frame to RGB: {e}"))?;
        let (stride, row) = (self.out.stride(0), 3 * w as usize);
        let data = self.out.data(0);
        let mut raw = Vec::with_capacity(row * h as usize);
        for y in 0..h as usize {
            raw.extend_from_slice(&data[y * stride..y * stride + row]);
        }
        RgbImage::from_raw(w, h, raw).ok_or_else(|| "a frame of it has the wrong size".into())
    }
}

/// Groups sorted frame numbers into runs no more than [`SEEK_GAP`] apart.
fn runs(want: &BTreeSet<usize>) -> Vec<Vec<usize>> {
    let mut runs: Vec<Vec<usize>> = Vec::new();
    for &i in want {
        match runs.last_mut() {
            Some(run) if i - run[run.len() - 1] <= SEEK_GAP => run.push(i),
            _ => runs.push(vec![i]),
        }
    }
    runs
}

fn decode(o: &mut Opened, want: &BTreeSet<usize>, sink: &mut Sink) -> Result<(), String> {
    let mut rgb = Rgb {
        scaler: None,
        out: ff::frame::Video::empty(),
    };
    for run in runs(want) {
        // From the start when the run is near it; else a seek to the key
        // frame at or before the run's first frame, and once more from the
        // start should the demuxer land past it.
        let seek = run[0] >= SEEK_GAP;
        if !decode_run(o, &run, seek, &mut rgb, sink)? {
            decode_run(o, &run, false, &mut rgb, sink)?;
        }
    }
    Ok(())
}

/// Decodes one run into `sink`; false when a seek landed past the run's
/// first frame (nothing was given then).
fn decode_run(
    o: &mut Opened,
    run: &[usize],
    seek: bool,
    rgb: &mut Rgb,
    got: &mut Sink,
) -> Result<bool, String> {
    let (first, last) = (run[0], run[run.len() - 1]);
    // Half a frame early: the frame shown at the run's start is found even
    // with timestamps rounded to the time base.
    let seconds = |i: usize| o.t0 as f64 * o.tb + (i as f64 - 0.5).max(0.0) / o.fps;
    let target = if seek {
        seconds(first)
    } else {
        o.t0 as f64 * o.tb
    };
    let ts = (target * f64::from(ff::ffi::AV_TIME_BASE)).floor() as i64;
    o.input
        .seek(ts, ..ts)
        .map_err(|e| format!("cannot seek in it: {e}"))?;
    o.decoder.flush();
    let (tb, t0, fps) = (o.tb, o.t0, o.fps);
    let index_of = move |ts: i64| ((ts - t0) as f64 * tb * fps).round().max(0.0) as usize;
    // The frame on screen so far: its number and the frame itself.
    let mut shown: Option<(usize, ff::frame::Video)> = None;
    let mut next = 0usize; // position in `run` of the next frame wanted
    let mut decoded = ff::frame::Video::empty();
    let mut sequential = 0usize;
    let give = |shown: &Option<(usize, ff::frame::Video)>,
                upto: usize,
                next: &mut usize,
                rgb: &mut Rgb,
                got: &mut Sink|
     -> Result<(), String> {
        let Some((_, frame)) = shown else {
            return Ok(());
        };
        let mut img: Option<RgbImage> = None;
        while *next < run.len() && run[*next] < upto {
            let i = run[*next];
            if img.is_none() {
                img = Some(rgb.convert(frame)?);
            }
            got(i, img.as_ref().expect("converted above"))?;
            *next += 1;
        }
        Ok(())
    };
    let handle = |decoded: &ff::frame::Video,
                  shown: &mut Option<(usize, ff::frame::Video)>,
                  next: &mut usize,
                  rgb: &mut Rgb,
                  got: &mut Sink,
                  sequential: &mut usize|
     -> Result<Option<bool>, String> {
        let i = match decoded.timestamp() {
            Some(ts) => index_of(ts),
            None => *sequential,
        };
        *sequential = i + 1;
        if shown.is_none() && seek && i > first {
            return Ok(Some(false));
        }
        // Every wanted frame before `i` shows the frame on screen until now.
        give(shown, i, next, rgb, got)?;
        *shown = Some((i, decoded.clone()));
        Ok((*next >= run.len() || i > last).then_some(true))
    };
    let stream = o.stream;
    // The stream's packets, then the end of the stream: after each, the
    // frames the decoder has ready.
    let mut packets = o
        .input
        .packets()
        .filter(|(s, _)| s.index() == stream)
        .map(|(_, p)| p);
    let mut ended = false;
    'decoding: loop {
        while o.decoder.receive_frame(&mut decoded).is_ok() {
            match handle(&decoded, &mut shown, &mut next, rgb, got, &mut sequential)? {
                Some(false) => return Ok(false),
                Some(true) => break 'decoding,
                None => {}
            }
        }
        if ended {
            break;
        }
        match packets.next() {
            // A damaged packet is skipped: decoding goes on from the next one.
            Some(packet) => {
                let _ = o.decoder.send_packet(&packet);
            }
            None => {
                let _ = o.decoder.send_eof();
                ended = true;
            }
        }
    }
    // Past the end: the last frame decoded stands for the frames asked after it.
    give(&shown, usize::MAX, &mut next, rgb, got)?;
    if next < run.len() {
        return Err(format!("frame {} of it does not decode", run[next] + 1));
    }
    Ok(true)
}
