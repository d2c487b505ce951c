//! Data: UCF101 frame folders, a user's safetensors file, frames extracted
//! from videos.

use super::*;

#[test]
fn ucf101_frame_folders_train_and_report_clip_and_video_accuracy() {
    let r = Run::new();
    mini_ucf(&r.dir.path().join("data/ucf"));
    r.write(
        "u.advp",
        r#"data ucf = ucf101(root: "data/ucf", split: 1, frames: 4, size: 16, clips: 2, val: 0)
model net = c3d_small(classes: 3, width: 4)
train t = standard(net, ucf, epochs: 2, batch: 3)
eval e = robustness([t], ucf.test, batch: 4) {
  attack pgd(steps: 2)
  budget sweep [0, 4]
}
report e to "e.json"
"#,
    );
    let o = r.advp(&["run", "u.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&read(r.dir.path().join("out/e.json"))).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    // 3 test videos × 2 clips each; video accuracy is a fraction of 3 videos.
    assert_eq!(rows[0]["n"], 6);
    let va = rows[0]["video_accuracy"].as_f64().unwrap();
    assert!(
        [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]
            .iter()
            .any(|x| (x - va).abs() < 1e-9),
        "{va}"
    );

    // A corrupt frame is an error naming the file, and no half-written result remains.
    let bad = r
        .dir
        .path()
        .join("data/ucf/Typing/v_Typing_g03_c01/image_00002.jpg");
    std::fs::write(&bad, b"not a jpeg").unwrap();
    r.write(
        "u.advp",
        &std::fs::read_to_string(r.dir.path().join("u.advp"))
            .unwrap()
            .replace("[0, 4]", "[0, 8]"),
    );
    let o = r.advp(&["run", "u.advp", "--quiet", "--out", "out"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("image_00002.jpg"), "{}", stderr(&o));

    // A missing root names the path, before any work (exit 2: could not run).
    std::fs::remove_dir_all(r.dir.path().join("data/ucf")).unwrap();
    let o = r.advp(&["run", "u.advp", "--quiet", "--force"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("data/ucf"), "{}", stderr(&o));
}

#[test]
fn tensors_data_from_a_users_safetensors_file() {
    let r = Run::new();
    tch::manual_seed(0);
    let x = tch::Tensor::rand([12, 3, 4, 16, 16], (tch::Kind::Float, tch::Device::Cpu));
    let y = tch::Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    let xt = x.narrow(0, 0, 6);
    let yt = y.narrow(0, 0, 6);
    let file = r.dir.path().join("clips.safetensors");
    let write =
        |named: &[(&str, &tch::Tensor)]| tch::Tensor::write_safetensors(named, &file).unwrap();
    write(&[("x", &x), ("y", &y), ("x_test", &xt), ("y_test", &yt)]);
    r.write(
        "t.advp",
        "data d = tensors(\"clips.safetensors\", val: 0.25)\nmodel net = c3d_small(classes: d.classes, width: 4)\ntrain t = standard(net, d, epochs: 1, batch: 4)\neval e = robustness([t], d.test) {\n  budget sweep [0]\n}\nreport e to \"e.csv\"\n",
    );
    let o = r.advp(&["run", "t.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = String::from_utf8(read(r.dir.path().join("out/e.csv"))).unwrap();
    assert!(csv.contains("t,pgd,0,"), "{csv}");
    assert!(
        csv.contains(",6,"),
        "the 6 clips of x_test are the test set: {csv}"
    );

    // Every refusal below comes before any training: nothing reaches the cache.
    let refused = |named: &[(&str, &tch::Tensor)], want: &str| {
        write(named);
        let cache = r.dir.path().join(format!("c-{}", want.len()));
        let o = r.advp(&[
            "run",
            "t.advp",
            "--quiet",
            "--out",
            "out2",
            "--cache",
            cache.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{want}: {}", stderr(&o));
        assert!(words(&stderr(&o)).contains(want), "{want}: {}", stderr(&o));
        let trained = std::fs::read_dir(&cache).map_or(0, |d| d.count());
        assert_eq!(trained, 0, "{want}: refused before any training");
    };
    // No test pair: never the training clips.
    refused(
        &[("x", &x), ("y", &y)],
        "advp never tests on training clips",
    );
    // Half a pair.
    refused(
        &[("x", &x), ("y", &y), ("x_test", &xt)],
        "holds `x_test` but not `y_test`",
    );
    // Float labels would be truncated; negative ones reach libtorch.
    let yf = y.to_kind(tch::Kind::Float) + 0.5;
    refused(
        &[("x", &x), ("y", &yf), ("x_test", &xt), ("y_test", &yt)],
        "labels must be integers",
    );
    let yn = y.copy();
    let _ = yn.narrow(0, 5, 1).fill_(-1);
    refused(
        &[("x", &x), ("y", &yn), ("x_test", &xt), ("y_test", &yt)],
        "the label -1 at index 5",
    );
    // A bad test split is refused at once too, not after training.
    let bad_t = yt.narrow(0, 0, 5);
    refused(
        &[("x", &x), ("y", &y), ("x_test", &xt), ("y_test", &bad_t)],
        "`y_test`",
    );
    // Values outside [0, 1] are refused with the reason.
    let bad = &x * 255.0;
    refused(
        &[("x", &bad), ("y", &y), ("x_test", &xt), ("y_test", &yt)],
        "[0, 1]",
    );
}

#[test]
fn extract_frames_lays_out_videos_as_hara_and_ucf101_reads_them() {
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        skip(
            "extract_frames_lays_out_videos_as_hara_and_ucf101_reads_them",
            "ffmpeg is not installed (apt-get install ffmpeg)",
        );
        return;
    }
    let r = Run::new();
    let (src, root) = (
        r.dir.path().join("UCF-101"),
        r.dir.path().join("data/ucf101"),
    );
    let classes = ["Basketball", "Typing"];
    let (mut ind, mut train, mut test) = (String::new(), String::new(), String::new());
    for (c, name) in classes.iter().enumerate() {
        std::fs::create_dir_all(src.join(name)).unwrap();
        ind.push_str(&format!("{} {name}\r\n", c + 1));
        for g in 1..=3 {
            let video = format!("v_{name}_g0{g}_c01");
            // Six frames of a test pattern, each class its own.
            let pattern = if c == 0 { "testsrc" } else { "smptebars" };
            let o = Command::new("ffmpeg")
                .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
                .arg(format!("{pattern}=size=32x24:rate=6:duration=1"))
                .arg(src.join(name).join(format!("{video}.avi")))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            if g < 3 {
                train.push_str(&format!("{name}/{video}.avi {}\r\n", c + 1));
            } else {
                test.push_str(&format!("{name}/{video}.avi\r\n"));
            }
        }
    }
    let run = || {
        Command::new("bash")
            .arg(repo("scripts/extract-frames"))
            .args([src.as_os_str(), root.as_os_str()])
            .args(["--jobs", "2", "--height", "24"])
            .output()
            .unwrap()
    };
    let o = run();
    assert!(o.status.success(), "{}", stderr(&o));
    let folder = root.join("Typing/v_Typing_g02_c01");
    assert!(folder.join("image_00001.jpg").exists());
    assert_eq!(
        std::fs::read_to_string(folder.join("n_frames"))
            .unwrap()
            .trim(),
        "6"
    );
    // A finished folder is kept as it is on a second run.
    let stamp = std::fs::metadata(folder.join("image_00001.jpg"))
        .unwrap()
        .modified()
        .unwrap();
    let o = run();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::metadata(folder.join("image_00001.jpg"))
            .unwrap()
            .modified()
            .unwrap(),
        stamp
    );
    // The split files where the official zip puts them.
    let lists = root.join("ucfTrainTestlist");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(lists.join("classInd.txt"), ind).unwrap();
    std::fs::write(lists.join("trainlist01.txt"), train).unwrap();
    std::fs::write(lists.join("testlist01.txt"), test).unwrap();
    r.write(
        "p.advp",
        "data ucf = ucf101(root: \"data/ucf101\", split: 1, frames: 4, size: 16, clips: 1, val: 0)\n\
         model net = c3d_small(classes: 2, width: 2)\n\
         train t = standard(net, ucf, epochs: 1, batch: 2)\n\
         eval e = robustness([t], ucf.test) {\n  attack pgd(steps: 1)\n  budget sweep [0, 4]\n}\n\
         report e to \"e.json\"\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&read(r.dir.path().join("results/p/e.json"))).unwrap();
    assert_eq!(v["rows"][0]["n"], 2, "one clip of each test video: {v}");
}

/// UCF101's archive layout (`<class>/<video>.avi`, split files beside),
/// each class a moving test pattern of its own: 2 classes × 4 videos of 2
/// seconds at 25 fps, 64×48, and the split lists.
fn ucf_archive(root: &Path) -> (String, String, String) {
    let classes = ["Basketball", "Typing"];
    let (mut ind, mut train, mut test) = (String::new(), String::new(), String::new());
    for (c, name) in classes.iter().enumerate() {
        std::fs::create_dir_all(root.join(name)).unwrap();
        ind.push_str(&format!("{} {name}\n", c + 1));
        for g in 1..=4 {
            let video = format!("v_{name}_g0{g}_c01");
            let pattern = if c == 0 { "testsrc2" } else { "smptebars" };
            let o = Command::new("ffmpeg")
                .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
                .arg(format!("{pattern}=size=64x48:rate=25:duration={}", 1 + g))
                .args(["-c:v", "mpeg4", "-g", "12"])
                .arg(root.join(name).join(format!("{video}.avi")))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            if g < 4 {
                train.push_str(&format!("{name}/{video}.avi {}\n", c + 1));
            } else {
                test.push_str(&format!("{name}/{video}.avi\n"));
            }
        }
    }
    for (file, text) in [
        ("classInd.txt", &ind),
        ("trainlist01.txt", &train),
        ("testlist01.txt", &test),
    ] {
        std::fs::write(root.join(file), text).unwrap();
    }
    (ind, train, test)
}

#[test]
fn videos_decoded_on_the_fly_train_and_evaluate_as_the_same_frames_in_folders() {
    let test = "videos_decoded_on_the_fly_train_and_evaluate_as_the_same_frames_in_folders";
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        skip(test, "ffmpeg is not installed (apt-get install ffmpeg)");
        return;
    }
    let r = Run::new();
    let (frames, videos) = (r.dir.path().join("frames"), r.dir.path().join("videos"));
    mini_ucf(&frames);
    // Each frame folder as a video of the very same JPEGs (MJPEG in AVI,
    // stream-copied): the two layouts hold the same compressed frames, and
    // differ only in the JPEG decoder that reads them.
    for class in ["ApplyLipstick", "Basketball", "Typing"] {
        std::fs::create_dir_all(videos.join(class)).unwrap();
        for g in 1..=3 {
            let video = format!("v_{class}_g0{g}_c01");
            let o = Command::new("ffmpeg")
                .args(["-nostdin", "-loglevel", "error", "-framerate", "25", "-i"])
                .arg(frames.join(class).join(&video).join("image_%05d.jpg"))
                .args(["-c:v", "copy"])
                .arg(videos.join(class).join(format!("{video}.avi")))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
        }
    }
    for f in ["classInd.txt", "trainlist01.txt", "testlist01.txt"] {
        std::fs::copy(frames.join(f), videos.join(f)).unwrap();
    }
    let eval = |name: &str, model: &str, data: &str| {
        format!(
            "eval {name} = robustness([{model}], {data}.test) {{\n  attack pgd(steps: 2)\n  budget sweep [0, 8]\n}}\n\
             report {name} to \"{name}.json\"\n"
        )
    };
    r.write(
        "p.advp",
        &format!(
            "data f = ucf101(root: \"frames\", frames: 4, size: 16, clips: 3, val: 0)\n\
             data v = ucf101(root: \"videos\", format: video, frames: 4, size: 16, clips: 3, val: 0)\n\
             model net = c3d_small(classes: 3, width: 4)\n\
             train tf = standard(net, f, epochs: 8, batch: 2)\n\
             train tv = standard(net, v, epochs: 8, batch: 2)\n{}{}{}",
            eval("on_frames", "tf", "f"),
            eval("on_videos", "tf", "v"),
            eval("trained_on_videos", "tv", "v")
        ),
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = |name: &str| -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_slice(&read(r.dir.path().join(format!("results/p/{name}.json"))))
                .unwrap();
        v["rows"].clone()
    };
    let (frames_rows, video_rows, trained) = (
        rows("on_frames"),
        rows("on_videos"),
        rows("trained_on_videos"),
    );
    let correct = |rows: &serde_json::Value, k: usize| rows[k]["correct"].as_u64().unwrap();
    // Three distinct windows of each of the 3 test videos, read from
    // either layout.
    assert_eq!(frames_rows[0]["n"], 9, "{frames_rows}");
    assert_eq!(video_rows[0]["n"], 9, "{video_rows}");
    // One model on the two layouts: within a clip of the same, clean and
    // under PGD (the decoders round the same JPEGs apart by a few levels,
    // tests/videos.rs, which can tip a clip on the boundary).
    let near = |a: u64, b: u64| a.abs_diff(b) <= 1;
    let both = format!("{frames_rows} vs {video_rows}");
    assert!(
        near(correct(&frames_rows, 0), correct(&video_rows, 0)),
        "{both}"
    );
    assert!(
        near(correct(&frames_rows, 1), correct(&video_rows, 1)),
        "{both}"
    );
    // Trained from the videos, the model learns the classes as it does
    // from the frames.
    assert!(
        correct(&frames_rows, 0) >= 7,
        "the classes are learnt: {frames_rows}"
    );
    assert!(
        near(correct(&trained, 0), correct(&frames_rows, 0)),
        "{trained} vs {frames_rows}"
    );
}

#[test]
fn a_video_list_with_a_damaged_video_names_it_and_views_average_over_a_video() {
    let test = "a_video_list_with_a_damaged_video_names_it_and_views_average_over_a_video";
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        skip(test, "ffmpeg is not installed (apt-get install ffmpeg)");
        return;
    }
    let r = Run::new();
    let root = r.dir.path().join("UCF-101");
    let (_, train, test_list) = ucf_archive(&root);
    // The same videos as `path,label` lists, class names as labels, plus
    // a video that does not decode.
    let as_list = |text: &str, test: bool| -> String {
        text.lines()
            .map(|l| {
                let path = l.split(' ').next().unwrap();
                let class = path.split('/').next().unwrap();
                format!("../UCF-101/{path},{class}\n")
            })
            .chain(test.then(|| "../broken.mp4,Typing\n".to_string()))
            .collect()
    };
    r.write("lists/train.csv", &as_list(&train, false));
    r.write("lists/test.csv", &as_list(&test_list, true));
    r.write("broken.mp4", "not a video");
    r.write(
        "p.advp",
        "data v = videos(train: \"lists/train.csv\", test: \"lists/test.csv\", frames: 4, size: 16, clips: 2, crops: 3, views: true, val: 0)\n\
         model net = c3d_small(classes: 2, width: 2)\n\
         train t = standard(net, v, epochs: 1, batch: 2)\n\
         eval e = robustness([t], v.test) {\n  attack pgd(steps: 1)\n  budget sweep [0, 4]\n}\n\
         report e to \"e.json\"\n",
    );
    let o = r.advp(&["run", "p.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = words(&stderr(&o));
    assert!(
        err.contains("1 listed videos cannot be used") && err.contains("broken.mp4"),
        "{err}"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&read(r.dir.path().join("results/p/e.json"))).unwrap();
    // One sample per test video (its 2 × 3 views averaged), the broken one
    // left out and named.
    assert_eq!(v["rows"][0]["n"], 2, "{v}");
    let unreadable = &v["unreadable"];
    assert_eq!(unreadable.as_array().map(Vec::len), Some(1), "{v}");
    assert!(unreadable[0]["video"]
        .as_str()
        .unwrap()
        .ends_with("broken.mp4"));
}
