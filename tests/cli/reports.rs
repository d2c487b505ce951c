//! Reports: tables, figures and the HTML page, report formats, reports that
//! cannot be written or are skipped, results from two machines.

use super::*;

const ANALYSES: &str = r#"data d = synthetic(classes: 4, frames: 4, size: 16, train: 64, test: 16, val: 8)
model net = c3d_small(classes: 4, width: 4)
train benign = standard(net, d, epochs: 2, batch: 16)
analyze surface = loss_surface(benign, d.test, samples: 8) {
  attack pgd(steps: 1)
  budget fixed 8
  alpha grid 1..16 step 5
  steps grid [1, 2, 4]
}
analyze fit = step_fit(benign, d.test, budgets: [2, 4, 8], samples: 8) {
  attack pgd(steps: 2)
  alpha grid 0.5..4 step 0.5
}
analyze gap = generalization_gap(benign)
train at = adversarial(benign, d, attack: pgd(steps: 1), epochs: 2, batch: 16) {
  budget fixed 4
}
analyze gap_at = generalization_gap(at)
eval fitted = robustness([benign], d.test) {
  attack pgd(steps: 2)
  budget sweep [0, 4, 8]
  alpha fit
}
eval types = robustness([benign], d.test) {
  attacks each {none, fgsm(eps: 4), pgd(eps: 4, step: 1, steps: 2)}
}
report surface to "surface.json", "surface.svg", "surface.png", "surface.csv"
report fit to "fit.json", "fit.svg", "fit.csv"
report gap to "gap.svg", "gap.json"
report gap_at to "gap_at.json"
report fitted to "fitted.json", "fitted.svg", "fitted.png"
report types to "types.svg", "types.html"
report benign to "benign.svg"
"#;

#[test]
fn analyses_figures_and_the_html_report() {
    let r = Run::new();
    r.write("a.advp", ANALYSES);
    let o = r.advp(&["run", "a.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = r.dir.path().join("out");
    let json =
        |f: &str| -> serde_json::Value { serde_json::from_slice(&read(out.join(f))).unwrap() };

    // The surface: one row per M, one column per α, losses at least the clean loss.
    let s = &json("surface.json")["surface"];
    assert_eq!(s["steps"], serde_json::json!([1, 2, 4]));
    assert_eq!(s["alphas"].as_array().unwrap().len(), 4);
    let loss = s["loss"].as_array().unwrap();
    assert_eq!(loss.len(), 3);
    assert!(loss.iter().all(|row| row.as_array().unwrap().len() == 4));
    let csv = String::from_utf8(read(out.join("surface.csv"))).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 4);

    // The fit: a best α per budget from the grid, and the line through them.
    let fit = json("fit.json");
    let best = fit["fit"]["best"].as_array().unwrap();
    assert_eq!(best.len(), 3);
    let (xs, ys): (Vec<f64>, Vec<f64>) = best
        .iter()
        .map(|b| (b["eps"].as_f64().unwrap(), b["alpha"].as_f64().unwrap()))
        .unzip();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let a = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| (x - mx) * (y - my))
        .sum::<f64>()
        / xs.iter().map(|x| (x - mx).powi(2)).sum::<f64>();
    assert!((fit["a"].as_f64().unwrap() - a).abs() < 1e-9, "{fit}");
    assert!((fit["b"].as_f64().unwrap() - (my - a * mx)).abs() < 1e-9);
    // `alpha fit` in a later evaluation uses that line.
    let rows = json("fitted.json")["rows"].clone();
    let alpha8 = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["eps"] == 8.0)
        .unwrap()["alpha"]
        .as_f64()
        .unwrap();
    assert!(
        (alpha8 - (fit["a"].as_f64().unwrap() * 8.0 + fit["b"].as_f64().unwrap())).abs() < 1e-9
    );

    // The gap: train and validation accuracy of each epoch of `benign`.
    let gap = json("gap.json");
    assert_eq!(gap["epoch"], serde_json::json!([1, 2]));
    for (g, (t, v)) in gap["gap"].as_array().unwrap().iter().zip(
        gap["train_acc"]
            .as_array()
            .unwrap()
            .iter()
            .zip(gap["val_acc"].as_array().unwrap()),
    ) {
        assert!((g.as_f64().unwrap() - (t.as_f64().unwrap() - v.as_f64().unwrap())).abs() < 1e-12);
    }

    // After adversarial training the gap compares attacked with attacked.
    let gap = json("gap_at.json");
    assert_eq!(gap["validation"], "attacked");
    let metrics: Vec<serde_json::Value> = String::from_utf8(read(
        std::fs::read_dir(r.dir.path().join(".advp/cache"))
            .unwrap()
            .flatten()
            .find(|e| {
                std::fs::read_to_string(e.path().join("node.json"))
                    .is_ok_and(|t| t.contains("\"name\": \"at\""))
            })
            .unwrap()
            .path()
            .join("metrics.jsonl"),
    ))
    .unwrap()
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    for (k, m) in metrics.iter().enumerate() {
        let want = m["train_acc"].as_f64().unwrap() - m["val_adv_acc"].as_f64().unwrap();
        assert!((gap["gap"][k].as_f64().unwrap() - want).abs() < 1e-12);
    }

    // Figures: SVG with their titles as text, PNG that decode.
    for (f, title) in [
        ("surface.svg", "surface"),
        ("fit.svg", "α̂ ="),
        ("gap.svg", "generalization gap"),
        ("fitted.svg", "robustness"),
        ("types.svg", "under each attack"),
        ("benign.svg", "accuracy per epoch"),
    ] {
        let svg = String::from_utf8(read(out.join(f))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains(title), "{f}");
    }
    let types = String::from_utf8(read(out.join("types.html"))).unwrap();
    assert!(types.contains("<table>") && types.contains("data:image/svg+xml;base64,"));
    for f in ["surface.png", "fitted.png"] {
        let img = image::load_from_memory(&read(out.join(f))).unwrap();
        assert!(img.width() > 100 && img.height() > 100);
    }

    // The page: every computed node's section, figures embedded, the pipeline text.
    let html = String::from_utf8(read(out.join("a.html"))).unwrap();
    for id in [
        "benign", "surface", "fit", "gap", "at", "gap_at", "fitted", "types",
    ] {
        assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
    }
    assert_eq!(html.matches("data:image/svg+xml;base64,").count(), 8);
    assert!(html.contains("analyze surface = loss_surface"));
    assert!(html.contains("seed 0") || html.contains("seed "));

    // `advp report` writes the same page from the cache, running nothing.
    std::fs::remove_dir_all(&out).unwrap();
    let o = r.advp(&["report", "a.advp", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8(read(out.join("a.html"))).unwrap(), html);
    assert!(out.join("surface.png").exists());

    // In a real browser: every figure renders and the console stays clean.
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        skip(
            "the HTML page's browser check",
            "chromium is not installed (apt-get install chromium)",
        );
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let page = out.join("a.html");
    let o = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        dom.contains("data-figures=\"8/8\""),
        "not every figure rendered: {log}"
    );
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    // The page as the browser built it, against the reviewed outline: its
    // headings, disclosures and table headers in order (what moves when the
    // layout changes; numbers, keys and dates left out).
    insta::assert_snapshot!("report_page_outline", dom_outline(&dom));
}

/// The headings (`h1`–`h4`), `summary` texts and table header cells of a
/// page's DOM, one per line, tags stripped.
fn dom_outline(dom: &str) -> String {
    let mut out = Vec::new();
    let mut rest = dom;
    let tags = ["<h1", "<h2", "<h3", "<h4", "<summary", "<th"];
    while let Some((at, tag)) = tags
        .iter()
        .filter_map(|t| rest.find(t).map(|i| (i, *t)))
        .min_by_key(|(i, _)| *i)
    {
        let body = &rest[at..];
        let name = &tag[1..];
        let Some(open_end) = body.find('>') else {
            break;
        };
        let close = format!("</{name}>");
        let Some(end) = body.find(&close) else { break };
        // `<th` also starts `<thead>`: only the cell tag itself counts.
        let after = body.as_bytes().get(tag.len()).copied().unwrap_or(b'>');
        if after == b'>' || after == b' ' {
            let inner = &body[open_end + 1..end];
            let mut text = String::new();
            let mut in_tag = false;
            for ch in inner.chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            out.push(format!(
                "{name}: {}",
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
            rest = &body[end + close.len()..];
        } else {
            rest = &body[tag.len()..];
        }
    }
    out.join("\n")
}

#[test]
fn upper_case_report_extensions_mean_the_same_format_in_check_run_and_report() {
    // One table of report formats: `T.MD` is Markdown for `advp check`,
    // `advp run` and `advp report` alike (once, run refused it and report
    // wrote JSON into it), and `T.TXT` is refused by the checker before any work.
    let r = Run::new();
    let text = "seed 1\n\
        data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)\n\
        model net = c3d_small(classes: d.classes, width: 2)\n\
        eval e = robustness([net], d.test, batch: 6) {\n  attack pgd(steps: 1)\n  budget sweep [0, 4]\n}\n\
        report e to \"T.MD\", \"t.md\", \"T.CSV\"\n";
    r.write("p.advp", text);
    let o = r.advp(&["check", "p.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let upper = String::from_utf8(read(r.dir.path().join("results/p/T.MD"))).unwrap();
    let lower = String::from_utf8(read(r.dir.path().join("results/p/t.md"))).unwrap();
    assert!(
        upper.starts_with("## e") || upper.contains("| model |"),
        "{upper}"
    );
    assert_eq!(upper, lower, "T.MD and t.md hold the same Markdown table");
    let csv = String::from_utf8(read(r.dir.path().join("results/p/T.CSV"))).unwrap();
    assert!(csv.starts_with("model,attack,eps,"), "{csv}");
    std::fs::remove_file(r.dir.path().join("results/p/T.MD")).unwrap();
    let o = r.advp(&["report", "p.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again = String::from_utf8(read(r.dir.path().join("results/p/T.MD"))).unwrap();
    assert_eq!(again, lower, "advp report writes the same Markdown");
    r.write("q.advp", &text.replace("\"T.CSV\"", "\"T.TXT\""));
    let o = r.advp(&["check", "q.advp"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("advp::check::report_format"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("as `.txt`"), "{}", stderr(&o));
    // A symbolic link inside the output folder does not lead a report out of it.
    let outside = tempfile::tempdir().unwrap();
    r.write(
        "s.advp",
        &text.replace("\"T.MD\", \"t.md\", \"T.CSV\"", "\"sub/e.md\""),
    );
    std::fs::create_dir_all(r.dir.path().join("results/s")).unwrap();
    std::os::unix::fs::symlink(outside.path(), r.dir.path().join("results/s/sub")).unwrap();
    let o = r.advp(&["run", "s.advp", "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        words(&stderr(&o)).contains("outside the output folder"),
        "{}",
        stderr(&o)
    );
    assert!(!outside.path().join("e.md").exists());
}

#[test]
fn a_report_that_cannot_be_written_leaves_the_previous_set_whole() {
    // The reports and the page are one set: all are written under temporary
    // names and renamed only when every one is written, so a failure on the
    // way (here a report led out of the folder by a symbolic link; a full
    // disk alike) leaves the previous run's files, not a mix of old and new.
    let r = Run::new();
    let text = |seed: u64| {
        format!(
            "seed {seed}\n\
        data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)\n\
        model net = c3d_small(classes: d.classes, width: 2)\n\
        eval e = robustness([net], d.test, batch: 6) {{\n  attack pgd(steps: 1)\n  budget sweep [0, 4]\n}}\n\
        report e to \"e.csv\", \"sub/e.md\"\n\
        report e examples to \"ex\"\n"
        )
    };
    r.write("p.advp", &text(1));
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = r.dir.path().join("results/p");
    let snapshot = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let kind = e.file_type().unwrap();
                if kind.is_symlink() {
                    continue;
                } else if kind.is_dir() {
                    stack.push(e.path());
                } else {
                    let name = e.path().strip_prefix(dir).unwrap().display().to_string();
                    files.push((name, read(e.path())));
                }
            }
        }
        files.sort();
        files
    };
    let before = snapshot(&out);
    let names: Vec<&str> = before.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"e.csv") && names.contains(&"p.html"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("ex/")), "{names:?}");
    // The second run (another seed: every file differs) cannot write sub/e.md.
    let outside = tempfile::tempdir().unwrap();
    std::fs::remove_dir_all(out.join("sub")).unwrap();
    std::os::unix::fs::symlink(outside.path(), out.join("sub")).unwrap();
    let before = snapshot(&out);
    r.write("p.advp", &text(2));
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        snapshot(&out),
        before,
        "the old set is left whole, no temporary files"
    );
    // Once the link is gone the new set is written whole, the examples folder
    // replaced rather than merged.
    std::fs::remove_file(out.join("sub")).unwrap();
    std::fs::create_dir(out.join("ex/stale")).unwrap();
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = snapshot(&out);
    assert_ne!(after, before);
    assert!(after.iter().any(|(n, _)| n == "sub/e.md"));
    assert!(!out.join("ex/stale").exists());
    assert!(!after.iter().any(|(n, _)| n.contains(".tmp")), "{after:?}");
}

#[test]
fn results_record_their_machine_and_a_table_over_two_machines_says_so() {
    let r = Run::new();
    r.write(
        "p.advp",
        "seed 2\n\
         data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)\n\
         model net = c3d_small(classes: d.classes, width: 2)\n\
         train t = standard(net, d, epochs: 1, batch: 6)\n\
         eval e = robustness([t], d.test, batch: 6) {\n  attack pgd(steps: 1)\n  budget sweep [0, 4]\n}\n\
         report e to \"e.json\", \"e.md\", \"e.csv\"\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("mixes machines"), "{}", stderr(&o));
    let out = r.dir.path().join("results/p");
    let v: serde_json::Value = serde_json::from_slice(&read(out.join("e.json"))).unwrap();
    let m = &v["machine"];
    assert_eq!(m["advp"], env!("CARGO_PKG_VERSION"));
    // The pinned wheel's version (a user's own LIBTORCH: its build-version).
    if std::env::var_os("LIBTORCH").is_none() {
        assert!(m["libtorch"].as_str().unwrap().starts_with("2.13.0"), "{m}");
    }
    assert_eq!(m["device"], "Cpu");
    assert!(!m["cpu"].as_str().unwrap().is_empty() && m["threads"].as_u64().unwrap() >= 1);
    // Intervals: every row carries its Wilson interval around the accuracy.
    for row in v["rows"].as_array().unwrap() {
        let (lo, acc, hi) = (
            row["ci_low"].as_f64().unwrap(),
            row["accuracy"].as_f64().unwrap(),
            row["ci_high"].as_f64().unwrap(),
        );
        assert!(lo <= acc && acc <= hi && hi - lo > 0.0, "{row}");
    }
    let csv = String::from_utf8(read(out.join("e.csv"))).unwrap();
    assert!(
        csv.starts_with(
            "model,attack,eps,alpha,accuracy,correct,n,video_accuracy,seed,ci_low,ci_high,n_seeds,n_clips,per_seed,setting,defenses,protocol,through\n"
        ),
        "{csv}"
    );
    // Say the training ran on another processor: its record and manifest
    // rewritten as another machine's cache would hold them.
    let cache = r.dir.path().join(".advp/cache");
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            std::fs::read_to_string(p.join("node.json"))
                .is_ok_and(|t| t.contains("\"name\": \"t\""))
        })
        .unwrap();
    let mut machine: serde_json::Value =
        serde_json::from_slice(&read(entry.join("machine.json"))).unwrap();
    machine["cpu"] = "Another CPU 9000".into();
    let text = serde_json::to_string_pretty(&machine).unwrap() + "\n";
    std::fs::write(entry.join("machine.json"), &text).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&read(entry.join("manifest.json"))).unwrap();
    use sha2::Digest;
    manifest["sha256"]["machine.json"] = sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into();
    std::fs::write(
        entry.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let o = r.advp(&["run", "p.advp", "--quiet", "--only", "e", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = words(&stderr(&o));
    assert!(err.contains("`t` was trained on Another CPU 9000"), "{err}");
    assert!(err.contains("the table mixes machines"), "{err}");
    assert!(
        !err.contains("damaged"),
        "the rewritten entry verifies: {err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&read(out.join("e.json"))).unwrap();
    assert_eq!(v["trained_on"]["t"]["cpu"], "Another CPU 9000");
    let md = String::from_utf8(read(out.join("e.md"))).unwrap();
    assert!(
        md.contains("Mixed machines: `t` was trained on Another CPU 9000"),
        "{md}"
    );
    // `advp report` over that cache says it too.
    let o = r.advp(&["report", "p.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        words(&stderr(&o)).contains("the table of `e` mixes machines (t)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn report_names_each_report_it_skips_and_exits_non_zero() {
    let r = Run::new();
    let text = "data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)\n\
        model net = c3d_small(classes: d.classes, width: 2)\n\
        train t = standard(net, d, epochs: 1, batch: 6)\n\
        eval e = robustness([t], d.test, batch: 6) {\n  attack pgd(steps: 1)\n  budget sweep [0, 4]\n}\n\
        report t to \"t.csv\"\n\
        report e to \"e.md\", \"e.csv\"\n";
    r.write("p.advp", text);
    let o = r.advp(&["run", "p.advp", "--quiet", "--only", "t"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // `e` is not computed: its report is skipped, said, and the exit is 1;
    // what is cached is still written.
    let o = r.advp(&["report", "p.advp"]);
    let err = words(&stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("skipped `report e to \"e.md\", \"e.csv\"`: `e` is not in the cache"),
        "{err}"
    );
    assert!(!err.contains("report t to"), "{err}");
    assert!(r.dir.path().join("results/p/t.csv").exists());
    // `advp status` agrees.
    let st = stdout(&r.advp(&["status", "p.advp"]));
    assert!(
        st.lines()
            .any(|l| l.contains(" e ") && l.contains("to run")),
        "{st}"
    );
    assert!(
        st.lines()
            .any(|l| l.contains(" t ") && l.contains("cached")),
        "{st}"
    );
    // Once all is cached, report writes everything and exits 0.
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = r.advp(&["report", "p.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("skipped"), "{}", stderr(&o));
}
