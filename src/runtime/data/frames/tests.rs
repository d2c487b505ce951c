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
    assert_eq!(window(3, 8, 0, 1), vec![0, 1, 2, 0, 1, 2, 0, 1]);
    assert_eq!(window(10, 4, 6, 1), vec![6, 7, 8, 9]);
    assert_eq!(window(1, 3, 0, 1), vec![0, 0, 0]);
    // Every third frame, looping past the end.
    assert_eq!(window(20, 4, 2, 3), vec![2, 5, 8, 11]);
    assert_eq!(window(10, 4, 6, 2), vec![6, 8, 0, 2]);
}

#[test]
fn strided_test_windows_span_stride_times_the_frames() {
    // 4 frames every 3rd span 10 frames: starts 0..=10 of a 20-frame video.
    let w = test_windows(20, 4, 3, 2);
    assert_eq!(w, vec![vec![0, 3, 6, 9], vec![10, 13, 16, 19]]);
    assert_eq!(test_windows(20, 4, 3, 100).len(), 11);
    // A video shorter than the span: one window from the first frame.
    assert_eq!(test_windows(8, 4, 3, 5), vec![vec![0, 3, 6, 1]]);
}

#[test]
fn test_windows_are_evenly_spaced() {
    assert_eq!(test_windows(5, 8, 1, 3), vec![window(5, 8, 0, 1)]);
    assert_eq!(test_windows(8, 8, 1, 3), vec![window(8, 8, 0, 1)]);
    let starts: Vec<usize> = test_windows(20, 4, 1, 5).iter().map(|w| w[0]).collect();
    assert_eq!(starts, vec![0, 4, 8, 12, 16]);
    assert_eq!(test_windows(20, 4, 1, 1), vec![window(20, 4, 8, 1)]);
}

#[test]
fn test_windows_are_distinct_and_at_most_a_videos_windows() {
    for n in 1..=30 {
        for frames in 1..=10 {
            for clips in 1..=40 {
                let w = test_windows(n, frames, 1, clips);
                let distinct: BTreeSet<&Vec<usize>> = w.iter().collect();
                assert_eq!(
                    distinct.len(),
                    w.len(),
                    "n {n}, frames {frames}, clips {clips}"
                );
                assert_eq!(w.len(), clips.min(distinct_windows(n, frames)));
            }
        }
    }
    assert_eq!((distinct_windows(6, 4), distinct_windows(4, 4)), (3, 1));
    assert_eq!(distinct_windows(3, 8), 1);
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

#[test]
fn a_fifo_named_like_a_frame_is_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("image_00001.jpg");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        crate::util::skipped("a_fifo_named_like_a_frame_is_refused_not_read", "no mkfifo");
        return;
    }
    // Read in a thread: a blocking open fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(decode(&path).map(|_| ()));
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("decode returns instead of blocking on the FIFO");
    let e = match got.unwrap_err() {
        NodeError::Data(e) => e,
        other => panic!("expected a data error, got {other:?}"),
    };
    assert!(e.contains("a FIFO") && e.contains("image_00001.jpg"), "{e}");
    // A split list that is a FIFO likewise.
    let list = dir.path().join("trainlist01.txt");
    std::process::Command::new("mkfifo")
        .arg(&list)
        .status()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(super::splits::read_split_file(&list, "UCF101").map(|_| ()));
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a split list FIFO is refused");
    assert!(got.is_err());
}
