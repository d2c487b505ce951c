//! advp deletes only what it made, and reads and writes only what the user
//! named: examples folders, the output folder against the cache, `fmt` on a
//! link, special files as inputs, manifests naming files outside their entry.

use super::*;

/// An evaluation of an untrained net: runs in seconds.
const EVAL: &str = "seed 1
data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)
model net = c3d_small(classes: d.classes, width: 2)
eval e = robustness([net], d.test, batch: 6) {
  attack pgd(steps: 1)
  budget sweep [0, 4]
}
";

/// The finished entries of a cache folder (no `.partial`, no `corrupt/`).
fn finished(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.len() == 32 && n.chars().all(|c| c.is_ascii_hexdigit())
        })
        .map(|e| e.path())
        .collect()
}

/// The binary, stopped (and the test failed) after `secs` seconds: a read
/// that blocks for ever fails the test instead of hanging the suite.
fn bounded(r: &Run, args: &[&str], secs: u64) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_advp"))
        .args(args)
        .current_dir(r.dir.path())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(o) => o.expect("the binary ends"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("`advp {}` still ran after {secs} s", args.join(" "));
        }
    }
}

/// Every temporary name (`.name.tmp<pid>`, `name.tmp<pid>.ext`) under `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(".tmp") || name.contains(".old") {
                found.push(e.path().display().to_string());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    found
}

#[test]
fn examples_never_replace_a_folder_or_file_advp_did_not_make() {
    let r = Run::new();
    let keep = r.write("out/src/keep.rs", "fn main() {}\n");
    let notes = r.write("out/notes", "mine\n");
    for (dest, shown) in [("src", "out/src"), ("notes", "out/notes")] {
        r.write(
            "p.advp",
            &format!("{EVAL}report e examples to \"{dest}\"\n"),
        );
        let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let err = words(&stderr(&o));
        assert!(err.contains("advp::run::foreign_folder"), "{err}");
        assert!(err.contains(shown), "{err}");
        assert!(err.contains("remove it yourself"), "{err}");
        // Before any work: nothing computed.
        assert!(finished(&r.dir.path().join(".advp/cache")).is_empty());
    }
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "fn main() {}\n");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine\n");
    // A folder advp made is marked, and replaced by the next run.
    r.write("p.advp", &format!("{EVAL}report e examples to \"ex\"\n"));
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ex = r.dir.path().join("out/ex");
    assert!(ex.join(".advp-examples").is_file());
    std::fs::write(ex.join("stale.gif"), "old").unwrap();
    r.write(
        "p.advp",
        &format!(
            "{}report e examples to \"ex\"\n",
            EVAL.replace("seed 1", "seed 2")
        ),
    );
    let o = r.advp(&["run", "p.advp", "--quiet", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(ex.join(".advp-examples").is_file());
    assert!(!ex.join("stale.gif").exists(), "replaced whole");
    assert!(keep.exists());
    assert_eq!(temporaries(&r.dir.path().join("out")), Vec::<String>::new());
    // `advp report` refuses the same way.
    std::fs::create_dir_all(r.dir.path().join("o2/ex")).unwrap();
    r.write("o2/ex/data.csv", "1\n");
    let o = r.advp(&["report", "p.advp", "--out", "o2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(words(&stderr(&o)).contains("advp::run::foreign_folder"));
    assert!(r.dir.path().join("o2/ex/data.csv").exists());
}

#[test]
fn an_output_folder_on_the_cache_is_refused_before_any_work() {
    for args in [
        &["--out", "."][..],
        &["--out", ".advp"],
        &["--out", ".advp/cache/reports"],
        &["--out", "./.advp/cache/"],
        &["--out", "o", "--cache", "o/cache"],
        &["--out", "o/sub", "--cache", "o"],
    ] {
        for command in ["run", "report"] {
            let r = Run::new();
            r.write("p.advp", &format!("{EVAL}report e to \"e.md\"\n"));
            let mut all = vec![command, "p.advp"];
            all.extend_from_slice(args);
            let o = r.advp(&all);
            assert_eq!(o.status.code(), Some(2), "{all:?}: {}", stderr(&o));
            let err = words(&stderr(&o));
            assert!(err.contains("cache folder"), "{all:?}: {err}");
            assert!(err.contains("--out"), "{all:?}: {err}");
            assert!(!err.contains("panicked"), "{err}");
            // Nothing was made: no cache, no report.
            for p in [".advp/cache", "o/cache", "o", "e.md"] {
                assert!(!r.dir.path().join(p).exists(), "{all:?} made {p}");
            }
        }
    }
}

#[test]
fn fmt_rewrites_a_linked_file_in_place_and_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let r = Run::new();
    let real = r.write("real/p.advp", "data   d = synthetic(classes: 4)\n");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("real/p.advp", r.dir.path().join("p.advp")).unwrap();
    let o = r.advp(&["fmt", "p.advp"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let link = std::fs::symlink_metadata(r.dir.path().join("p.advp")).unwrap();
    assert!(link.file_type().is_symlink(), "the link stays a link");
    assert_eq!(
        std::fs::read_to_string(&real).unwrap(),
        "data d = synthetic(classes: 4)\n"
    );
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the mode is kept");
    assert_eq!(temporaries(r.dir.path()), Vec::<String>::new());
}

#[test]
fn special_files_as_inputs_are_refused_not_read() {
    let r = Run::new();
    let fifo = r.dir.path().join("clips.safetensors");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        skip("special_files_as_inputs_are_refused_not_read", "no mkfifo");
        return;
    }
    std::fs::create_dir(r.dir.path().join("weights")).unwrap();
    let cases = [
        (
            "data d = tensors(path: \"clips.safetensors\")\nmodel net = c3d_small(classes: 3, width: 2)\n",
            "clips.safetensors",
            "a FIFO",
        ),
        (
            "data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)\nmodel net = torchscript(path: \"/dev/zero\")\n",
            "/dev/zero",
            "a character device",
        ),
        (
            "data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)\nmodel net = r3d(classes: 3, pretrained: \"weights\")\n",
            "weights",
            "a folder",
        ),
    ];
    for (head, path, what) in cases {
        r.write(
            "p.advp",
            &format!("{head}eval e = robustness([net], d.test, batch: 6) {{\n  attack pgd(steps: 1)\n  budget sweep [0, 4]\n}}\nreport e to \"e.md\"\n"),
        );
        let o = bounded(&r, &["run", "p.advp", "--quiet"], 60);
        assert_eq!(o.status.code(), Some(2), "{path}: {}", stderr(&o));
        let err = words(&stderr(&o));
        assert!(err.contains("advp::run::not_a_file"), "{path}: {err}");
        assert!(err.contains(path) && err.contains(what), "{path}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_manifest_naming_files_outside_its_entry_is_damage_not_a_read() {
    let r = Run::new();
    r.write("p.advp", &format!("{EVAL}report e to \"e.md\"\n"));
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cache = r.dir.path().join(".advp/cache");
    let entries = finished(&cache);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = entries[0].clone();
    let manifest = entry.join("manifest.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let deep = format!("{}dev/zero", "../".repeat(40));
    v["sha256"][deep.as_str()] = "00".into();
    std::fs::write(&manifest, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let o = bounded(&r, &["cache", "verify"], 60);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let name = entry.file_name().unwrap().to_string_lossy().into_owned();
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l.starts_with("damaged") && l.contains(&name) && l.contains("dev/zero")),
        "{out}"
    );
    // Absolute names and files beside the entry alike.
    for forged in ["/dev/zero", "../other", "sub/x"] {
        let mut v = v.clone();
        v["sha256"].as_object_mut().unwrap().remove(deep.as_str());
        v["sha256"][forged] = "00".into();
        std::fs::write(&manifest, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        let o = bounded(&r, &["cache", "verify"], 60);
        assert_eq!(o.status.code(), Some(1), "{forged}: {}", stdout(&o));
    }
    // A run sets the entry aside and computes it again.
    let o = bounded(&r, &["run", "p.advp", "--quiet"], 300);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(words(&stderr(&o)).contains("damaged"), "{}", stderr(&o));
    assert!(cache.join("corrupt").read_dir().unwrap().count() == 1);
    let o = bounded(&r, &["cache", "verify"], 60);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn a_full_disk_while_checkpointing_leaves_no_temporary_and_names_the_checkpoint() {
    // A file size limit stands in for a full disk: small files (the node's
    // record, its metrics) are written, the checkpoint's tensors are not.
    // SIGXFSZ is ignored so the write fails with EFBIG instead of a signal.
    let r = Run::new();
    r.write(
        "p.advp",
        "seed 1\ndata d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 6, val: 3)\nmodel net = c3d_small(classes: d.classes, width: 2)\ntrain t = standard(net, d, epochs: 1, batch: 6)\nreport t to \"t.csv\"\n",
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 16 && exec '{}' run p.advp --quiet",
            env!("CARGO_BIN_EXE_advp")
        ))
        .current_dir(r.dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = words(&stderr(&o));
    assert!(err.contains("File too large"), "{err}");
    assert!(
        err.contains("cannot write") && err.contains("checkpoint-e1-b0.safetensors"),
        "{err}"
    );
    assert!(
        !err.contains(".tmp"),
        "the message names the checkpoint: {err}"
    );
    assert_eq!(
        temporaries(&r.dir.path().join(".advp")),
        Vec::<String>::new()
    );
}
