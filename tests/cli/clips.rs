//! Clips cut from one video are one unit of evidence: never cut twice, and
//! counted over videos in every interval and claim.

use super::*;

/// A mini UCF101 whose 3 test videos are short (6 frames) and constant: every
/// frame of a video is one colour, so each of its windows looks the same and
/// a model gets all of a video's clips right or all wrong.
fn constant_ucf(root: &Path) {
    let classes = ["ApplyLipstick", "Basketball", "Typing"];
    let mut ind = String::new();
    let (mut train, mut test) = (String::new(), String::new());
    for (c, name) in classes.iter().enumerate() {
        ind.push_str(&format!("{} {name}\n", c + 1));
        for g in 1..=2 {
            let video = format!("v_{name}_g0{g}_c01");
            let dir = root.join(name).join(&video);
            std::fs::create_dir_all(&dir).unwrap();
            let mut rgb = [40u8, 40, 40];
            rgb[c] = 100 + 60 * g as u8;
            let img = image::RgbImage::from_pixel(24, 20, image::Rgb(rgb));
            for f in 1..=6 {
                img.save(dir.join(format!("image_{f:05}.jpg"))).unwrap();
            }
            if g == 1 {
                train.push_str(&format!("{name}/{video}.avi {}\n", c + 1));
            } else {
                test.push_str(&format!("{name}/{video}.avi\n"));
            }
        }
    }
    std::fs::write(root.join("classInd.txt"), ind).unwrap();
    std::fs::write(root.join("trainlist01.txt"), train).unwrap();
    std::fs::write(root.join("testlist01.txt"), test).unwrap();
}

#[test]
fn three_short_videos_with_a_hundred_clips_are_three_units_of_evidence() {
    let r = Run::new();
    constant_ucf(&r.dir.path().join("data/ucf"));
    r.write(
        "u.advp",
        r#"data ucf = ucf101(root: "data/ucf", split: 1, frames: 4, size: 16, clips: 100, val: 0)
model net = c3d_small(classes: 3, width: 4)
model other = c3d_small(classes: 3, width: 2)
eval e = robustness([net, other], ucf.test, batch: 8) {
  attack pgd(steps: 1)
  budget sweep [0, 4]
  compare net > other at eps 0
}
report e to "e.json", "e.md"
report e per_clip to "clips.csv"
"#,
    );
    let o = r.advp(&["run", "u.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Each video of 6 frames has 3 windows of 4: 9 clips, said once.
    let err = words(&stderr(&o));
    assert!(
        err.contains("3 of 3 test videos have fewer distinct windows of 4 frames than the 100 clips asked per video")
            && err.contains("9 clips instead of 300"),
        "{err}"
    );
    assert_eq!(err.matches("distinct windows").count(), 1, "{err}");

    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.dir.path().join("out/e.json")).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for row in rows {
        assert_eq!(
            (row["n"].as_u64(), row["n_videos"].as_u64()),
            (Some(9), Some(3)),
            "{row}"
        );
        // A video's clips agree, so the cell knows as much as 3 clips would:
        // its interval is Wilson's over 3 (at least ±28 points), not over 9
        // clips, let alone 300 (±0.6 at 100 %).
        let p = row["accuracy"].as_f64().unwrap();
        let right = (3.0 * p).round() as u64;
        assert!((p - right as f64 / 3.0).abs() < 1e-12, "{row}");
        let (lo, hi) = advp::results::stats::wilson(right, 3, advp::results::stats::Z95);
        let (cl, ch) = (
            row["ci_low"].as_f64().unwrap(),
            row["ci_high"].as_f64().unwrap(),
        );
        assert!((cl - lo).abs() < 1e-9 && (ch - hi).abs() < 1e-9, "{row}");
        assert!(ch - cl > 0.56, "{row}");
    }
    let md = String::from_utf8(std::fs::read(r.dir.path().join("out/e.md")).unwrap()).unwrap();
    assert!(md.contains("9 clips of 3 videos per cell."), "{md}");
    assert!(md.contains("(intervals over 3 videos)"), "{md}");
    let halves: Vec<f64> = md
        .split("± ")
        .skip(1)
        .filter_map(|s| s.split([' ', '*']).next().unwrap().parse().ok())
        .collect();
    assert_eq!(halves.len(), 4, "{md}");
    assert!(halves.iter().all(|&h| h >= 28.0), "{halves:?}\n{md}");

    // The claim is tested over the 3 videos: at best 3 discordant units,
    // so p ≥ 2/2³.
    let claim = &v["claims"][0];
    assert_eq!(claim["n_videos"].as_u64(), Some(3), "{claim}");
    assert!(
        claim["p_value"].as_f64().unwrap() >= 0.25 - 1e-12,
        "{claim}"
    );
    assert!(md.contains("the clips come from 3 videos"), "{md}");

    // Over two seeds: said once, and each cell's interval never narrower
    // than 3 clips measure at its mean.
    let o = r.advp(&[
        "run", "u.advp", "--quiet", "--out", "out2", "--seeds", "3,4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        words(&stderr(&o)).matches("distinct windows").count(),
        1,
        "{}",
        stderr(&o)
    );
    let v2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.dir.path().join("out2/e.json")).unwrap()).unwrap();
    for row in v2["rows"].as_array().unwrap() {
        assert_eq!(
            (row["n_clips"].as_u64(), row["n_videos"].as_u64()),
            (Some(9), Some(3)),
            "{row}"
        );
        let p = row["accuracy"].as_f64().unwrap();
        let (lo, hi) = advp::results::stats::wilson_real(3.0 * p, 3.0, advp::results::stats::Z95);
        let (cl, ch) = (
            row["ci_low"].as_f64().unwrap(),
            row["ci_high"].as_f64().unwrap(),
        );
        assert!(cl <= lo + 1e-9 && ch >= hi - 1e-9, "{row}");
    }

    // Every per-clip record names its video; no (video, window) twice.
    let csv =
        String::from_utf8(std::fs::read(r.dir.path().join("out/clips.csv")).unwrap()).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (video, clip) = (at("video"), at("clip"));
    let mut per_video: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for line in csv.lines().skip(1).filter(|l| l.contains(",net,")) {
        let cells: Vec<&str> = line.split(',').collect();
        per_video
            .entry(cells[video].to_string())
            .or_default()
            .insert(cells[clip].to_string());
    }
    assert_eq!(per_video.len(), 3, "{csv}");
    assert!(
        per_video.keys().any(|k| k == "Typing/v_Typing_g02_c01"),
        "{per_video:?}"
    );
    assert!(per_video.values().all(|c| c.len() == 3), "{per_video:?}");
}
