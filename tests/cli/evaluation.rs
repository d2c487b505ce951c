//! Evaluations: video attacks and their masks, defenses, worst-case records,
//! ensembles, sanity flags, AutoAttack on a user's module, EOT with BPDA.

use super::*;

/// The clips an `attacks each` evaluation's column left correct.
fn correct_in_column(result: &serde_json::Value, attack: &str) -> u64 {
    result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["attack"] == attack)
        .unwrap_or_else(|| panic!("no `{attack}` column: {result}"))["correct"]
        .as_u64()
        .unwrap()
}

#[test]
fn video_attacks_each_get_a_column_and_stay_in_their_masks() {
    let r = Run::new();
    r.write(
        "v.advp",
        r#"use "stdlib/attacks.advp"
seed 2
data d = synthetic(classes: 4, frames: 4, size: 16, train: 32, test: 8, val: 4)
model net = c3d_small(classes: 4, width: 4)
train t = standard(net, d, epochs: 1, batch: 8)
eval e = robustness([t], d.test) {
  attacks each {none, patch(position: center, steps: 3), border(ratio: 0.3, steps: 3), saliency_iterative(inner: pgd(eps: 8, step: 2, steps: 2)), flickering(steps: 2)}
}
report e to "e.md"
report e adversarial to "adv.safetensors"
report e examples to "examples"
train types = adversarial(net, d, epochs: 2, batch: 8) {
  attacks adaptive {patch(steps: 2), border(ratio: 0.3, steps: 2)} every 1
}
report types to "types.jsonl"
"#,
    );
    let o = r.advp(&["run", "v.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Examples: an animated GIF per attack and clip (clean | adversarial |
    // perturbation side by side, one frame per video frame), and the same as
    // MP4 where ffmpeg is installed.
    // Named by eval node, model and column; successful attacks first.
    let ex = r.dir.path().join("out/examples");
    let mut borders: Vec<String> = std::fs::read_dir(&ex)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("e_t_frame_border_clip") && n.ends_with(".gif"))
        .collect();
    borders.sort();
    assert_eq!(borders.len(), 4, "{borders:?}");
    let records: Vec<serde_json::Value> = std::fs::read_dir(r.dir.path().join(".advp/cache"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("records.jsonl")).ok())
        .flat_map(|t| {
            t.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|v: &serde_json::Value| v["attack"] == "frame_border")
        .collect();
    let fooled = records
        .iter()
        .filter(|v| v["fooled"] == true && v["fooled_by"] != "clean")
        .count();
    let shown_fooled = borders
        .iter()
        .filter(|n| {
            let clip: u64 = n
                .trim_start_matches("e_t_frame_border_clip")
                .trim_end_matches(".gif")
                .parse()
                .unwrap();
            records
                .iter()
                .any(|v| v["clip"] == clip && v["fooled"] == true && v["fooled_by"] != "clean")
        })
        .count();
    assert_eq!(
        shown_fooled,
        fooled.min(4),
        "successful attacks first: {borders:?}"
    );
    // The page shows them, with true and predicted labels.
    let page = String::from_utf8(read(r.dir.path().join("out/v.html"))).unwrap();
    assert!(
        page.contains(&format!("src=\"examples/{}\"", borders[0])),
        "the page shows the examples"
    );
    assert!(page.contains("→ predicted"), "captions with labels");
    assert!(page.contains("<summary>Per-class accuracy (%)</summary>"));
    let gif = std::fs::File::open(ex.join(&borders[0])).unwrap();
    let frames = image::AnimationDecoder::into_frames(
        image::codecs::gif::GifDecoder::new(std::io::BufReader::new(gif)).unwrap(),
    )
    .collect_frames()
    .unwrap();
    assert_eq!(frames.len(), 4);
    assert_eq!(frames[0].buffer().dimensions(), (3 * 16 + 4, 16));
    assert!(ex.join("examples.safetensors").exists());
    if std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok()
    {
        let mp4 = read(ex.join(borders[0].replace(".gif", ".mp4")));
        assert_eq!(&mp4[4..8], b"ftyp", "an MP4 container");
    } else {
        skip("video_attacks (its MP4 check)", "ffmpeg is not installed");
    }
    let md = String::from_utf8(read(r.dir.path().join("out/e.md"))).unwrap();
    assert!(
        md.contains("| model | none | masked_pgd | frame_border | saliency_iterative | flicker |"),
        "{md}"
    );
    let adv = tch::Tensor::read_safetensors(r.dir.path().join("out/adv.safetensors")).unwrap();
    let get = |n: &str| &adv.iter().find(|(k, _)| k == n).unwrap().1;
    let clean = get("clean");
    // The patch: 16·√0.15 ≈ 6 pixels, centred: rows and columns 5..11 only.
    let changed = (get("t/masked_pgd") - clean)
        .abs()
        .sum_dim_intlist([0, 1, 2].as_slice(), false, tch::Kind::Float)
        .gt(0.0);
    let outside = changed.sum(tch::Kind::Int64).int64_value(&[])
        - changed
            .narrow(0, 5, 6)
            .narrow(1, 5, 6)
            .sum(tch::Kind::Int64)
            .int64_value(&[]);
    assert_eq!(
        outside, 0,
        "the patch attack changed pixels outside its rectangle"
    );
    // The border (t = 1 at r = 0.3 of 16×16): the inside of the frame is untouched.
    let inner = (get("t/frame_border") - clean)
        .narrow(3, 2, 12)
        .narrow(4, 2, 12);
    assert_eq!(inner.abs().max().double_value(&[]), 0.0);
}

#[test]
fn compression_defense_composes_with_a_model_in_evaluations() {
    if std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_err()
    {
        skip(
            "compression_defense_composes_with_a_model_in_evaluations",
            "ffmpeg is not installed (apt-get install ffmpeg)",
        );
        return;
    }
    let r = Run::new();
    r.write(
        "c.advp",
        r#"data d = synthetic(classes: 4, frames: 4, size: 16, train: 32, test: 8, val: 4)
model net = c3d_small(classes: 4, width: 4)
train t = standard(net, d, epochs: 1, batch: 8)
defense h264 = video_compression(crf: 28)
eval e = robustness([t, h264 >> t], d.test) {
  attack pgd(steps: 2)
  budget sweep [0, 8]
}
report e to "e.md"
"#,
    );
    let o = r.advp(&["run", "c.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = String::from_utf8(read(r.dir.path().join("out/e.md"))).unwrap();
    assert!(md.contains("| h264 >> t |"), "{md}");
}

#[test]
fn worst_case_records_are_the_table_and_never_beat_independent() {
    let r = Run::new();
    r.write(
        "p.advp",
        "seed 3\n\
         data d = synthetic(classes: 3, frames: 4, size: 16, train: 48, test: 40, val: 3)\n\
         model net = c3d_small(classes: d.classes, width: 4)\n\
         train t = standard(net, d, epochs: 2, batch: 16, optimizer: adam, lr: 0.003)\n\
         eval ind = robustness([t, net], d.test, batch: 16, protocol: independent) {\n  attack pgd(steps: 5, step: 1)\n  budget sweep [0, 2, 4, 8]\n}\n\
         eval wc = robustness([t, net], d.test, batch: 16) {\n  attack pgd(steps: 5, step: 1)\n  budget sweep [8, 0, 2, 4]\n}\n\
         report ind to \"ind.json\"\n\
         report ind per_clip to \"ind.jsonl\"\n\
         report wc to \"wc.json\", \"wc.md\"\n\
         report wc per_clip to \"wc.csv\", \"wc.jsonl\"\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = r.dir.path().join("results/p");
    let json =
        |f: &str| -> serde_json::Value { serde_json::from_slice(&read(out.join(f))).unwrap() };
    let lines = |f: &str| -> Vec<serde_json::Value> {
        String::from_utf8(read(out.join(f)))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (ind, wc) = (json("ind.json"), json("wc.json"));
    assert_eq!(ind["protocol"], "independent");
    assert_eq!(wc["protocol"], "worst_case");
    let cell = |v: &serde_json::Value, m: &str, e: f64| -> serde_json::Value {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == m && r["eps"].as_f64() == Some(e))
            .unwrap()
            .clone()
    };
    let mut strictly_lower = 0;
    for m in ["t", "net"] {
        for e in [0.0, 2.0, 4.0, 8.0] {
            let (a, b) = (cell(&ind, m, e), cell(&wc, m, e));
            let (ai, bi) = (
                a["correct"].as_u64().unwrap(),
                b["correct"].as_u64().unwrap(),
            );
            assert!(bi <= ai, "{m} at ε {e}: worst case {bi} > independent {ai}");
            strictly_lower += usize::from(bi < ai);
        }
    }
    // The rows are counted from the records, in both protocols.
    for (v, f) in [(&ind, "ind.jsonl"), (&wc, "wc.jsonl")] {
        let recs = lines(f);
        assert_eq!(
            recs.len(),
            2 * 4 * 40,
            "{f}: one record per model, ε and clip"
        );
        for row in v["rows"].as_array().unwrap() {
            let of_cell: Vec<&serde_json::Value> = recs
                .iter()
                .filter(|r| r["model"] == row["model"] && r["eps"] == row["eps"])
                .collect();
            assert_eq!(of_cell.len() as u64, row["n"].as_u64().unwrap());
            let robust = of_cell.iter().filter(|r| r["fooled"] == false).count() as u64;
            assert_eq!(robust, row["correct"].as_u64().unwrap(), "{f}: {row}");
            for r in &of_cell {
                assert!(
                    r["linf"].as_f64().unwrap() <= row["eps"].as_f64().unwrap() + 1e-4,
                    "{r}"
                );
                assert_eq!(r["fooled"], r["label"] != r["adv_pred"], "{r}");
            }
        }
    }
    // Worst case: a clip fooled at ε is fooled at every larger ε, by the
    // same attack and step; a clean-misclassified clip is never attacked.
    let recs = lines("wc.jsonl");
    for m in ["t", "net"] {
        for clip in 0..40u64 {
            let mine: Vec<&serde_json::Value> = {
                let mut v: Vec<&serde_json::Value> = recs
                    .iter()
                    .filter(|r| r["model"] == m && r["clip"] == clip)
                    .collect();
                v.sort_by(|a, b| a["eps"].as_f64().partial_cmp(&b["eps"].as_f64()).unwrap());
                v
            };
            assert_eq!(mine.len(), 4);
            for w in mine.windows(2) {
                if w[0]["fooled"] == true {
                    assert_eq!(
                        w[1]["fooled"], true,
                        "{m} clip {clip}: {} then {}",
                        w[0], w[1]
                    );
                    assert_eq!(w[1]["fooled_by"], w[0]["fooled_by"]);
                    assert_eq!(w[1]["linf"], w[0]["linf"]);
                }
            }
            if mine[0]["clean_pred"] != mine[0]["label"] {
                for r in &mine {
                    assert_eq!(r["fooled_by"], "clean", "{r}");
                    assert_eq!(r["step"], 0, "{r}");
                    assert_eq!(r["linf"].as_f64(), Some(0.0), "{r}");
                }
            }
        }
    }
    // Not vacuous: the records hold clips the attack fooled, clips it did
    // not, and clips the clean model already got wrong.
    let count = |by: Option<&str>| {
        recs.iter()
            .filter(|r| r["eps"].as_f64() > Some(0.0) && r["fooled_by"].as_str() == by)
            .count()
    };
    assert!(count(Some("pgd")) > 0 && count(None) > 0 && count(Some("clean")) > 0);
    let csv = String::from_utf8(read(out.join("wc.csv"))).unwrap();
    assert_eq!(
        csv.lines().next(),
        Some("seed,model,attack,eps,clip,label,clean_pred,adv_pred,fooled,fooled_by,step,margin,linf,l2,l0")
    );
    assert_eq!(csv.lines().count(), 1 + 2 * 4 * 40);
    let md = String::from_utf8(read(out.join("wc.md"))).unwrap();
    assert!(md.contains("Protocol `worst_case`"), "{md}");
    assert!(md.contains("L∞ mean / max"), "{md}");
    // The table is written in the order given, whatever order was attacked.
    let eps: Vec<f64> = wc["rows"].as_array().unwrap()[..4]
        .iter()
        .map(|r| r["eps"].as_f64().unwrap())
        .collect();
    assert_eq!(eps, [8.0, 0.0, 2.0, 4.0]);
    eprintln!("worst case strictly lower in {strictly_lower} of 8 cells");
}

#[test]
fn an_ensemble_is_one_worst_case_column_whose_records_name_the_member() {
    let r = Run::new();
    r.write(
        "p.advp",
        "use \"stdlib/attacks.advp\"\nseed 5\n\
         data d = synthetic(classes: 4, frames: 4, size: 16, train: 48, test: 24, val: 3)\n\
         model net = c3d_small(classes: d.classes, width: 4)\n\
         train t = standard(net, d, epochs: 2, batch: 16, optimizer: adam, lr: 0.003)\n\
         attack aa = ensemble(attacks: [apgd(loss: ce, steps: 10), apgd(loss: dlr, targets: 2, steps: 10), square(queries: 40)])\n\
         eval wc = robustness([t], d.test, batch: 8) {\n  attack aa\n  budget sweep [0, 2, 8]\n}\n\
         eval cols = robustness([t], d.test, batch: 8) {\n  attacks each {none, aa, apgd(loss: ce, steps: 10), square(queries: 40)}\n}\n\
         report wc to \"wc.json\"\n\
         report wc per_clip to \"wc.jsonl\"\n\
         report cols to \"cols.json\"\n",
    );
    let o = r.advp(&["check", "p.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = r.dir.path().join("results/p");
    let recs: Vec<serde_json::Value> = String::from_utf8(read(out.join("wc.jsonl")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 3 * 24);
    let members = ["apgd_ce", "apgd_t", "square"];
    let mut by_member = 0;
    for rec in &recs {
        assert_eq!(rec["attack"], "apgd_ce+apgd_t+square", "{rec}");
        match rec["fooled_by"].as_str() {
            None => assert_eq!(rec["fooled"], false),
            Some("clean") => assert_ne!(rec["clean_pred"], rec["label"]),
            Some(m) => {
                assert!(members.contains(&m), "{rec}");
                assert!(rec["linf"].as_f64().unwrap() <= rec["eps"].as_f64().unwrap() + 1e-4);
                by_member += 1;
            }
        }
    }
    assert!(by_member > 0, "the ensemble fooled no clip");
    // One column for the set, beside one per single attack.
    let cols: serde_json::Value = serde_json::from_slice(&read(out.join("cols.json"))).unwrap();
    let names: Vec<&str> = cols["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["attack"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["none", "apgd_ce+apgd_t+square", "apgd_ce", "square"]
    );
    let acc = |name: &str| correct_in_column(&cols, name);
    assert!(acc("apgd_ce+apgd_t+square") <= acc("none"));
}

#[test]
fn sanity_flags_catch_a_masked_gradient_and_a_random_model() {
    let Some(py) = python_or_skip("sanity_flags_catch_a_masked_gradient_and_a_random_model") else {
        return;
    };
    let r = Run::new();
    // `sign`: a step function of the input, whose gradient is zero everywhere.
    // `noisy`: dropout left on in evaluation, so two passes differ.
    r.write(
        "export.py",
        r#"
import torch, torch.nn as nn, torch.nn.functional as F
class Sign(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 4 * 16 * 16, 3)
    def forward(self, x):
        return self.fc(torch.sign(x - 0.5).flatten(1))
class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 4 * 16 * 16, 3)
    def forward(self, x):
        return self.fc(F.dropout(x.flatten(1), p=0.5, training=True))
class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
    def forward(self, x):
        return self.fc(self.conv(x).relu().amax(dim=(2, 3, 4)))
torch.manual_seed(0)
for name, m in [("sign", Sign()), ("noisy", Noisy()), ("plain", Plain())]:
    torch.jit.script(m.eval()).save(f"{name}.pt")
"#,
    );
    let o = Command::new(py)
        .arg("export.py")
        .current_dir(r.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    r.write(
        "p.advp",
        "data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 16, val: 3)\n\
         model sign = torchscript(\"sign.pt\", classes: 3)\n\
         model noisy = torchscript(\"noisy.pt\", classes: 3)\n\
         model plain = torchscript(\"plain.pt\", classes: 3)\n\
         eval e = robustness([sign, noisy, plain], d.test) {\n  attack pgd(steps: 2)\n  budget sweep [0, 8]\n}\n\
         eval b = robustness([sign], d.test) {\n  attacks each {pgd(eps: 64, steps: 2), square(eps: 64, queries: 200)}\n}\n\
         report e to \"e.json\", \"e.md\"\n\
         report b to \"b.json\"\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = words(&stderr(&o));
    assert!(
        err.contains("warning: sign: the input gradient is exactly zero"),
        "{err}"
    );
    assert!(err.contains("warning: noisy: two clean passes"), "{err}");
    let v: serde_json::Value =
        serde_json::from_slice(&read(r.dir.path().join("results/p/e.json"))).unwrap();
    let checks = |m: &str| -> Vec<String> {
        v["flags"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["model"] == m)
            .map(|f| f["check"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(checks("sign").contains(&"zero_gradient".to_string()), "{v}");
    // PGD cannot move a model it has no gradient of.
    assert!(
        checks("sign").contains(&"not_zero_at_255".to_string()),
        "{v}"
    );
    assert!(
        checks("noisy").contains(&"random_output".to_string()),
        "{v}"
    );
    assert!(
        !checks("noisy").contains(&"zero_gradient".to_string()),
        "{v}"
    );
    // A plain differentiable, deterministic model raises none.
    assert_eq!(checks("plain"), Vec::<String>::new(), "{v}");
    let md = String::from_utf8(read(r.dir.path().join("results/p/e.md"))).unwrap();
    assert!(md.contains("**Warning** (`zero_gradient`, `sign`)"), "{md}");
    // Without a gradient PGD cannot move; the black-box Square still fools clips.
    let b: serde_json::Value =
        serde_json::from_slice(&read(r.dir.path().join("results/p/b.json"))).unwrap();
    assert!(
        correct_in_column(&b, "square") < correct_in_column(&b, "pgd"),
        "{b}"
    );
    let flagged: Vec<&str> = b["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert!(flagged.contains(&"black_box_stronger"), "{b}");
}

#[test]
fn video_autoattack_evaluates_a_users_module_and_writes_a_model_info_entry() {
    let Some(py) =
        python_or_skip("video_autoattack_evaluates_a_users_module_and_writes_a_model_info_entry")
    else {
        return;
    };
    let r = Run::new();
    r.write(
        "export.py",
        r#"
import torch, torch.nn as nn
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 5)
    def forward(self, x):
        return self.fc(self.conv(x).relu().amax(dim=(2, 3, 4)))
torch.manual_seed(0)
torch.jit.script(M().eval()).save("model.pt")
"#,
    );
    let o = Command::new(py)
        .arg("export.py")
        .current_dir(r.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Test clips alone: no training pair is needed to evaluate.
    tch::manual_seed(1);
    let x = tch::Tensor::rand([10, 3, 4, 16, 16], (tch::Kind::Float, tch::Device::Cpu));
    let y = tch::Tensor::from_slice(&[0i64, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    tch::Tensor::write_safetensors(
        &[("x_test", &x), ("y_test", &y)],
        r.dir.path().join("clips.safetensors"),
    )
    .unwrap();
    // The shipped pipeline with smaller attacks, as a user's copy.
    let shipped = std::fs::read_to_string(repo("pipelines/video_autoattack.advp")).unwrap();
    let head = shipped.split("profile quick").next().unwrap();
    r.write(
        "v.advp",
        &format!(
            "{head}profile small {{\n  attack apgd_ce = apgd(loss: ce, steps: 5)\n  attack apgd_t = apgd(loss: dlr, targets: 2, steps: 5)\n  attack fab_t = fab(targets: 9, steps: 5)\n  attack square_5000 = square(queries: 20)\n}}\n"
        ),
    );
    let model = r.dir.path().join("model.pt");
    let clips = r.dir.path().join("clips.safetensors");
    let clips_at = format!("clips.path=\"{}\"", clips.display());
    let small = |extra: &[&str]| {
        let mut args = vec!["run", "v.advp", "--profile", "small", "--quiet"];
        args.extend(["--set", &clips_at]);
        args.extend(extra);
        r.advp(&args)
    };
    let o = small(&["--set", &format!("net.path=\"{}\"", model.display())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = out_dir(&r, "v-small-");
    let info: serde_json::Value =
        serde_json::from_slice(&read(out.join("model_info.json"))).unwrap();
    let table: serde_json::Value =
        serde_json::from_slice(&read(out.join("video_autoattack.json"))).unwrap();
    let acc = |e: f64| {
        table["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["eps"].as_f64() == Some(e))
            .unwrap()["accuracy"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(info["clean_acc"], format!("{:.2}", 100.0 * acc(0.0)));
    assert_eq!(info["autoattack_acc"], format!("{:.2}", 100.0 * acc(8.0)));
    assert_eq!(
        info["autoattack_acc_by_eps"]["4/255"],
        format!("{:.2}", 100.0 * acc(4.0))
    );
    assert_eq!(info["eps"], "8/255");
    assert_eq!(info["n_clips"], 10);
    assert_eq!(info["protocol"], "worst_case");
    assert_eq!(info["attack"]["name"], "apgd_ce+apgd_t+fab_t+square");
    // Smaller attacks are not a published version, and on 5 classes FAB-T
    // targets the 4 others: the entry says both.
    assert_eq!(
        info["version"],
        "custom (not a published AutoAttack version)"
    );
    assert_eq!(
        info["as_run"],
        serde_json::json!(["`fab_t` targets the 4 other classes of 5, not 9"])
    );
    assert_eq!(info["advp_version"], env!("CARGO_PKG_VERSION"));
    use sha2::Digest;
    let want: String = sha2::Sha256::digest(read(&model))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(info["model_sha256"], want);
    assert!(acc(8.0) <= acc(4.0) && acc(4.0) <= acc(0.0));
    let csv = String::from_utf8(read(out.join("clips.csv"))).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 10);
    // The same module as Python wrote it, through the shipped `pytorch`
    // profile's model line: the same table.
    let pytorch = shipped
        .split("profile pytorch {")
        .nth(1)
        .and_then(|p| p.split('}').next())
        .expect("the shipped pipeline has a `pytorch` profile");
    r.write(
        "v.advp",
        &format!(
            "{head}profile small {{\n{pytorch}  attack apgd_ce = apgd(loss: ce, steps: 5)\n  attack apgd_t = apgd(loss: dlr, targets: 2, steps: 5)\n  attack fab_t = fab(targets: 9, steps: 5)\n  attack square_5000 = square(queries: 20)\n}}\n"
        ),
    );
    r.write(
        "net.py",
        &std::fs::read_to_string(r.dir.path().join("export.py"))
            .unwrap()
            .replace(
                "torch.manual_seed(0)\ntorch.jit.script(M().eval()).save(\"model.pt\")\n",
                "def build(classes):\n    torch.manual_seed(0)\n    return M()\n",
            ),
    );
    let o = small(&["--set", "net.classes=5", "--out", "py"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let py_table: serde_json::Value =
        serde_json::from_slice(&read(r.dir.path().join("py/video_autoattack.json"))).unwrap();
    assert_eq!(py_table["rows"], table["rows"]);
    // Training on an evaluation-only file is refused before any work.
    r.write(
        "t.advp",
        &format!(
            "data d = tensors(path: \"{}\")\nmodel m = c3d_small(classes: 5, width: 2)\ntrain t = standard(m, d, epochs: 1)\n",
            clips.display()
        ),
    );
    let o = r.advp(&["run", "t.advp", "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        words(&stderr(&o)).contains("has no training clips"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn eot_attacks_through_the_compression_defense_with_bpda() {
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        skip(
            "eot_attacks_through_the_compression_defense_with_bpda",
            "ffmpeg is not installed (apt-get install ffmpeg)",
        );
        return;
    }
    let r = Run::new();
    r.write(
        "c.advp",
        "data d = synthetic(classes: 4, frames: 4, size: 16, train: 32, test: 8, val: 4)\n\
         model net = c3d_small(classes: 4, width: 4)\n\
         train t = standard(net, d, epochs: 1, batch: 8)\n\
         defense h264 = video_compression(crf: 28)\n\
         eval e = robustness([h264 >> t], d.test, protocol: independent) {\n  attack eot(inner: pgd(steps: 2), samples: 3)\n  budget sweep [0, 8]\n}\n\
         report e to \"e.json\"\n\
         report e per_clip to \"e.jsonl\"\n",
    );
    let o = r.advp(&["run", "c.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&read(r.dir.path().join("out/e.json"))).unwrap();
    let flags = v["flags"].as_array().cloned().unwrap_or_default();
    assert!(
        !flags.iter().any(|f| f["check"] == "zero_gradient"),
        "BPDA passes the gradient through the codec: {v}"
    );
    // The perturbation moved every clip (the gradient reached the input) and
    // stayed in the ball.
    let recs: Vec<serde_json::Value> = String::from_utf8(read(r.dir.path().join("out/e.jsonl")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let attacked: Vec<f64> = recs
        .iter()
        .filter(|r| r["eps"] == 8.0)
        .map(|r| r["linf"].as_f64().unwrap())
        .collect();
    assert_eq!(attacked.len(), 8);
    assert!(
        attacked.iter().all(|&l| l > 0.0 && l <= 8.0 + 1e-4),
        "{attacked:?}"
    );
}

/// `eval c = certify(…)` on a model trained with Gaussian noise: one
/// certificate per clip whose bound and radius are Clopper–Pearson's and
/// σ·Φ⁻¹(p̲) of its own counts, the certified accuracy at radius 0 is the
/// share of correct certificates, and the Markdown, CSV and SVG reports are
/// written; noise changes the trained weights; a wrong noise is refused by
/// `advp check` with a fix.
#[test]
fn certify_reports_radii_from_its_counts_on_a_noise_trained_model() {
    use statrs::distribution::{Beta, ContinuousCDF, Normal};
    let r = Run::new();
    r.write(
        "p.advp",
        "data d = synthetic(classes: 3, frames: 4, size: 16, train: 24, val: 3, test: 6)\n\
         model net = c3d_small(classes: d.classes, width: 4)\n\
         train clean = standard(net, d, epochs: 2, batch: 8)\n\
         train noisy = standard(net, d, epochs: 2, batch: 8, noise: gaussian(0.25))\n\
         eval c = certify(noisy, d.test, sigma: 0.25, n0: 8, n: 64, alpha: 0.01, batch: 32)\n\
         report c to \"c.md\", \"c.json\", \"c.csv\", \"c.svg\"\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = r.dir.path().join("out");
    let v: serde_json::Value = serde_json::from_slice(&read(out.join("c.json"))).unwrap();
    let clips = v["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 6, "{v:#}");
    let normal = Normal::new(0.0, 1.0).unwrap();
    let mut correct = 0;
    for c in clips {
        let k = c["count"].as_f64().unwrap();
        assert!(k <= 64.0, "{c}");
        let p = c["p_lower"].as_f64().unwrap();
        let want = if k == 0.0 {
            0.0
        } else {
            Beta::new(k, 64.0 - k + 1.0).unwrap().inverse_cdf(0.01)
        };
        assert!((p - want).abs() < 1e-12, "{c}");
        match c["radius"].as_f64() {
            Some(radius) => {
                assert!(p >= 0.5, "{c}");
                assert!((radius - 0.25 * normal.inverse_cdf(p)).abs() < 1e-12, "{c}");
                if c["prediction"] == c["label"] {
                    correct += 1;
                    assert_eq!(c["correct"], true);
                }
            }
            None => assert!(p < 0.5 && c["prediction"].is_null(), "{c}"),
        }
    }
    let at_zero = v["accuracy"][0].as_f64().unwrap();
    assert!((at_zero - correct as f64 / 6.0).abs() < 1e-12, "{v:#}");
    let accuracy: Vec<f64> = v["accuracy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_f64().unwrap())
        .collect();
    assert!(accuracy.windows(2).all(|w| w[1] <= w[0]), "{accuracy:?}");
    let csv = String::from_utf8(read(out.join("c.csv"))).unwrap();
    assert_eq!(csv.lines().count(), 7, "{csv}");
    let md = String::from_utf8(read(out.join("c.md"))).unwrap();
    assert!(md.contains("| certified accuracy |"), "{md}");
    assert!(md.contains("σ = 0.25"), "{md}");
    assert!(String::from_utf8(read(out.join("c.svg")))
        .unwrap()
        .contains("<svg"));
    // Noise changes what is trained.
    let w = all_weights(&r);
    let of = |name: &str| &w.iter().find(|(n, _)| n == name).expect(name).1;
    assert_ne!(of("clean"), of("noisy"));
    for (bad, said) in [
        ("gaussian(-1)", "the noise's σ"),
        ("laplace(0.25)", "gaussian(0.25)"),
    ] {
        r.write(
            "q.advp",
            &format!(
                "data d = synthetic(classes: 3, frames: 4, size: 16)\n\
                 model net = c3d_small(classes: d.classes, width: 4)\n\
                 train t = standard(net, d, epochs: 1, noise: {bad})\n"
            ),
        );
        let o = r.advp(&["check", "q.advp"]);
        let err = words(&stderr(&o));
        assert_eq!(o.status.code(), Some(1), "{bad}: {err}");
        assert!(err.contains(said), "{bad}: {err}");
    }
}
