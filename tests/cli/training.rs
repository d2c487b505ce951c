//! Training: behind a defense, generative defenses and adversarial training,
//! every method and loss, low precision.

use super::*;

#[test]
fn training_behind_a_defense_preprocess_and_compose_agree() {
    if std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_err()
    {
        skip(
            "training_behind_a_defense_preprocess_and_compose_agree",
            "ffmpeg is not installed (apt-get install ffmpeg)",
        );
        return;
    }
    let file = |model: &str, extra: &str| {
        format!(
            r#"data d = synthetic(classes: 4, frames: 4, size: 16, train: 32, test: 8, val: 4)
model net = c3d_small(classes: 4, width: 4)
defense h264 = video_compression(crf: 40)
train t = adversarial({model}, d, attack: fgsm(), epochs: 1, batch: 8{extra}) {{
  budget fixed 4
}}
eval e = robustness([t], d.test) {{
  attack pgd(steps: 2)
  budget sweep [0, 4]
}}
report e to "e.json"
"#
        )
    };
    let run = |text: String| {
        let r = Run::new();
        r.write("p.advp", &text);
        let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let json: serde_json::Value =
            serde_json::from_slice(&read(r.dir.path().join("out/e.json"))).unwrap();
        let cache = r.dir.path().join(".advp/cache");
        let w = std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .find(|e| {
                std::fs::read_to_string(e.path().join("node.json"))
                    .is_ok_and(|t| t.contains("\"name\": \"t\""))
            })
            .map(|e| read(e.path().join("weights.safetensors")))
            .unwrap();
        (w, json)
    };
    let (plain, plain_json) = run(file("net", ""));
    let (pre, pre_json) = run(file("net", ", preprocess: h264"));
    let (composed, _) = run(file("h264 >> net", ""));
    assert_ne!(plain, pre, "training saw the compressed clips");
    assert_eq!(
        pre, composed,
        "`preprocess: h264` and `h264 >> net` are one thing"
    );
    assert_eq!(plain_json["defenses"]["t"], serde_json::json!([]));
    assert_eq!(pre_json["defenses"]["t"], serde_json::json!(["h264"]));
}

const GENERATIVE: &str = r#"data d = synthetic(classes: 4, frames: 4, size: 16, train: 96, test: 16, val: 8)
model net = c3d_small(classes: 4, width: 4)
train benign = standard(net, d, epochs: 2, batch: 16)
defense ape = ape_gan(d, attack: pgd(steps: 2), epochs: 4, width: 4, classifier: benign, batch: 16) {
  budget curriculum 0..8 step 4 every 1
  alpha eps
}
train ape_at = adversarial(benign, d, attack: pgd(steps: 2), preprocess: ape, epochs: 1, batch: 16) {
  budget fixed 4
}
train gat = generative(benign, ape, d, attack: pgd(steps: 2), epochs: 3, batch: 16) {
  budget fixed 8
}
eval e = robustness([benign, ape >> benign, ape_at, gat], d.test) {
  attack pgd(steps: 2)
  budget sweep [0, 8]
}
eval f = robustness([ape >> benign, gat], d.test, through: classifier) {
  attack pgd(steps: 2)
  budget sweep [0, 8]
}
report e to "e.json", "e.md"
report f to "f.json", "f.md"
report ape to "ape.jsonl"
"#;

/// The files a finished node left in the cache, by node name.
fn node_file(r: &Run, node: &str, file: &str) -> Vec<u8> {
    let cache = r.dir.path().join(".advp/cache");
    std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .find(|e| {
            !e.path().to_string_lossy().ends_with(".partial")
                && std::fs::read_to_string(e.path().join("node.json"))
                    .is_ok_and(|t| t.contains(&format!("\"name\": \"{node}\"")))
        })
        .map(|e| read(e.path().join(file)))
        .unwrap_or_else(|| panic!("no finished `{node}`"))
}

#[test]
fn ape_gan_ape_at_and_gat_train_evaluate_and_resume_bit_identically() {
    let a = Run::new();
    a.write("g.advp", GENERATIVE);
    let o = a.advp(&["run", "g.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json = |r: &Run, f: &str| -> serde_json::Value {
        serde_json::from_slice(&read(r.dir.path().join("out").join(f))).unwrap()
    };
    let e = json(&a, "e.json");
    // What each row ran behind: a train node's preprocessing stays with it,
    // GAT carries its own generator.
    assert_eq!(e["defenses"]["ape_at"], serde_json::json!(["ape"]));
    assert_eq!(e["defenses"]["ape >> benign"], serde_json::json!(["ape"]));
    assert_eq!(e["defenses"]["gat"], serde_json::json!(["gat"]));
    assert_eq!(e["through"], "all");
    assert_eq!(json(&a, "f.json")["through"], "classifier");
    let md = String::from_utf8(read(a.dir.path().join("out/f.md"))).unwrap();
    assert!(md.contains("classifier alone"), "{md}");
    // The clean column does not depend on what the attack differentiates.
    let clean = |v: &serde_json::Value, m: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == m && r["eps"] == 0.0)
            .unwrap()["accuracy"]
            .clone()
    };
    assert_eq!(clean(&e, "gat"), clean(&json(&a, "f.json"), "gat"));
    // GAT starts from the APE-GAN and changes G; APE + AT leaves it alone.
    assert_ne!(
        node_file(&a, "ape", "generator.safetensors"),
        node_file(&a, "gat", "generator.safetensors")
    );
    let metrics = String::from_utf8(read(a.dir.path().join("out/ape.jsonl"))).unwrap();
    assert_eq!(metrics.lines().count(), 4);

    // Killed while the APE-GAN trains, interrupted while GAT trains, resumed.
    let c = Run::new();
    c.write("g.advp", GENERATIVE);
    for (signal, node) in [("-KILL", "ape"), ("-INT", "gat")] {
        let args = ["run", "g.advp", "--quiet", "--out", "out"];
        interrupt_at_checkpoint(&c, &args, Some(node), &[1], signal, 300);
    }
    let o = c.advp(&["run", "g.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("resuming from the checkpoint"),
        "{}",
        stderr(&o)
    );
    assert_eq!(json(&a, "e.json")["rows"], json(&c, "e.json")["rows"]);
    assert_eq!(json(&a, "f.json")["rows"], json(&c, "f.json")["rows"]);
    for (node, file) in [
        ("ape", "generator.safetensors"),
        ("ape", "discriminator.safetensors"),
        ("gat", "generator.safetensors"),
        ("gat", "discriminator.safetensors"),
        ("gat", "weights.safetensors"),
    ] {
        assert!(
            node_file(&a, node, file) == node_file(&c, node, file),
            "{node}/{file} differs after resuming"
        );
    }
    // Everything is cached now.
    let o = c.advp(&["run", "g.advp", "--quiet", "--out", "out"]);
    assert!(stderr(&o).contains("0 node(s) ran"), "{}", stderr(&o));
}

#[test]
fn every_training_method_and_loss_trains_and_reports_its_time() {
    let r = Run::new();
    let mut text = String::from(
        "data d = synthetic(classes: 4, frames: 4, size: 16, train: 32, test: 16, val: 8)\n\
         model net = c3d_small(classes: d.classes, width: 4)\n",
    );
    let methods = [
        ("pgd_at", ""),
        ("fast", ", method: fgsm_rs"),
        ("free", ", method: free, replays: 2"),
        ("trades", ", loss: trades, beta: 6"),
        ("mart", ", loss: mart, beta: 5"),
    ];
    for (name, extra) in methods {
        text.push_str(&format!(
            "train {name} = adversarial(net, d, attack: pgd(steps: 2){extra}, epochs: 2, batch: 16) {{\n  budget fixed 8\n}}\n"
        ));
    }
    let names: Vec<&str> = methods.iter().map(|m| m.0).collect();
    text.push_str(&format!(
        "eval e = robustness([{}], d.test, batch: 16) {{\n  attack pgd(steps: 2)\n  budget sweep [0, 8]\n}}\nreport e to \"e.md\", \"e.json\"\nreport fast to \"fast.jsonl\"\n",
        names.join(", ")
    ));
    r.write("p.advp", &text);
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = r.dir.path().join("results/p");
    // Each model's training time is under the table (not in the JSON: a
    // wall time does not reproduce).
    let md = String::from_utf8(read(out.join("e.md"))).unwrap();
    for n in &names {
        assert!(md.contains(&format!("`{n}` ")), "{n} in {md}");
    }
    assert!(md.contains("Training time: `fast` "), "{md}");
    let v: serde_json::Value = serde_json::from_slice(&read(out.join("e.json"))).unwrap();
    assert!(v.get("train_seconds").is_none(), "{v}");
    // Fast AT logs the held-out PGD accuracy its guard watches, every epoch.
    let fast = String::from_utf8(read(out.join("fast.jsonl"))).unwrap();
    assert_eq!(fast.lines().count(), 2);
    assert!(
        fast.lines()
            .all(|l| l.contains("\"val_adv_acc\":0") || l.contains("\"val_adv_acc\":1")),
        "{fast}"
    );

    // The cheap methods perturb under L∞, and TRADES runs its own PGD.
    r.write(
        "bad.advp",
        "data d = synthetic(classes: 4)\nmodel net = c3d_small(classes: 4)\n\
         train a = adversarial(net, d, attack: pgd(norm: 2), method: fgsm_rs)\n\
         train b = adversarial(net, d, method: free, loss: trades)\n",
    );
    let o = r.advp(&["check", "bad.advp"]);
    assert!(!o.status.success());
    let err = words(&stderr(&o));
    assert!(
        err.contains("`method: fgsm_rs` takes its budget from an L∞ PGD or FGSM attack"),
        "{err}"
    );
    assert!(
        err.contains("`loss: trades` runs its own PGD, and `method: free` perturbs another way"),
        "{err}"
    );
    assert!(
        err.contains("write `method: pgd` with `loss: trades`"),
        "{err}"
    );
}

const PRECISION: &str = r#"seed 3
data d = synthetic(classes: 4, frames: 4, size: 16, train: 64, test: 32, val: 16)
model net = c3d_small(classes: d.classes, width: 4)
train at = adversarial(net, d, attack: pgd(steps: 2), epochs: 2, batch: 16) {
  budget fixed 4
}
eval e = robustness([at], d.test, batch: 16) {
  attack pgd(steps: 3)
  budget sweep [0, 4]
}
report e to "e.json"
"#;

#[test]
fn low_precision_trains_deterministically_in_its_own_cache_entries() {
    let accuracies = |r: &Run, out: &str| -> Vec<f64> {
        let v: serde_json::Value =
            serde_json::from_slice(&read(r.dir.path().join(out).join("e.json"))).unwrap();
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["accuracy"].as_f64().unwrap())
            .collect()
    };
    let r = Run::new();
    r.write("p.advp", PRECISION);
    let mut trained = Vec::new();
    let mut fp32 = Vec::new();
    for p in ["fp32", "bf16", "fp16"] {
        let set = format!("precision={p}");
        let o = r.advp(&["run", "p.advp", "--quiet", "--set", &set, "--out", p]);
        assert!(o.status.success(), "{p}: {}", stderr(&o));
        // A low precision is its own entry: nothing of another precision is reused.
        assert!(
            stderr(&o).contains("2 node(s) ran, 0 cached"),
            "{p}: {}",
            stderr(&o)
        );
        let acc = accuracies(&r, p);
        assert!(acc.iter().all(|a| a.is_finite()), "{p}: {acc:?}");
        trained.push(all_weights(&r).len());
        if p == "fp32" {
            fp32 = all_weights(&r)[0].1.clone();
        }
    }
    // Three trainings, three entries; the weights differ between precisions.
    assert_eq!(trained, [1, 2, 3]);
    let w = all_weights(&r);
    assert!(w[0].1 != w[1].1 && w[1].1 != w[2].1 && w[0].1 != w[2].1);
    // The same precision again, in a fresh folder: the same bytes.
    for p in ["bf16", "fp16"] {
        let again = Run::new();
        again.write("p.advp", PRECISION);
        let set = format!("precision={p}");
        let o = again.advp(&["run", "p.advp", "--quiet", "--set", &set, "--out", p]);
        assert!(o.status.success(), "{p}: {}", stderr(&o));
        assert!(
            w.iter()
                .any(|(_, bytes)| *bytes == all_weights(&again)[0].1),
            "{p} is not reproducible"
        );
        assert_eq!(accuracies(&again, p), accuracies(&r, p), "{p}");
    }
    // A train node's own `precision:` wins over the file's.
    let own = Run::new();
    own.write(
        "p.advp",
        &format!(
            "precision bf16\n{}",
            PRECISION.replace(
                "batch: 16) {\n  budget",
                "batch: 16, precision: fp32) {\n  budget"
            )
        ),
    );
    let o = own.advp(&["run", "p.advp", "--quiet", "--only", "at"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // (`w` is sorted by bytes, so the fp32 entry is the one the first run wrote.)
    assert_eq!(all_weights(&own)[0].1, fp32, "fp32 training in a bf16 file");
    // fp16 is refused where its loss scaling does not reach.
    let gan = Run::new();
    gan.write(
        "p.advp",
        "precision fp16\n\
         data d = synthetic(classes: 4, frames: 4, size: 16, train: 32, test: 8, val: 8)\n\
         model net = c3d_small(classes: d.classes, width: 4)\n\
         defense ape = ape_gan(d, epochs: 1)\n\
         train gat = generative(net, ape, d, epochs: 1)\n",
    );
    let o = gan.advp(&["run", "p.advp", "--quiet"]);
    let err = words(&stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("advp::run::cannot_run"), "{err}");
    assert!(err.contains("precision: bf16"), "{err}");
}
