//! A run stops when asked (within a step of any attack), never waits for ever
//! on a lock, and says which inputs its numbers came from.

use super::*;
use std::time::{Duration, Instant};

/// A trained tiny model and an evaluation whose attack would run for ever
/// (every step of every clip: `independent`, and a budget too small to fool
/// the clips the model gets right, so Square never runs out of clips).
fn long_attack(r: &Run, attack: &str) {
    r.write(
        "p.advp",
        &format!(
            "seed 1\ndata d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 8, val: 3)\nmodel net = c3d_small(classes: d.classes, width: 4)\ntrain t = standard(net, d, epochs: 1, batch: 12)\neval e = robustness([t], d.test, batch: 8, protocol: independent) {{\n  attack {attack}\n  budget sweep [0.01]\n}}\nreport e to \"e.csv\"\n"
        ),
    );
    let o = r.advp(&["run", "p.advp", "--quiet", "--only", "t"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Whether the cache has a `.partial` folder of the node `name` written
/// since `since` (its node.json).
fn running(r: &Run, name: &str, since: std::time::SystemTime) -> bool {
    std::fs::read_dir(r.dir.path().join(".advp/cache"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let node = e.path().join("node.json");
            e.file_name().to_string_lossy().ends_with(".partial")
                && std::fs::read_to_string(&node)
                    .is_ok_and(|t| t.contains(&format!("\"name\": \"{name}\"")))
                && std::fs::metadata(&node)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= since)
        })
}

/// Waits up to `limit` for the child; kills it (and fails) past that.
/// Waits until process `pid` catches SIGTERM (its handler is installed:
/// bit 15 of `SigCgt` in `/proc/PID/status`), at most `limit`.
fn handles_sigterm(pid: u32, limit: Duration) {
    catches(pid, 15, limit)
}

/// `advp run p.advp --quiet` in `r`'s folder, its output piped.
fn spawn_run(r: &Run) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_advp"))
        .args(["run", "p.advp", "--quiet"])
        .current_dir(r.dir.path())
        .env_remove("LD_LIBRARY_PATH")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A one-epoch training run in `r`, then its entry removed (as if another
/// process were computing it again): the cache folder and the entry's name.
fn removed_trained_entry(r: &Run) -> (PathBuf, String) {
    r.write(
        "p.advp",
        "data d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 4, val: 3)\nmodel net = c3d_small(classes: d.classes, width: 4)\ntrain t = standard(net, d, epochs: 1, batch: 12)\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cache = r.dir.path().join(".advp/cache");
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .find(|e| e.path().join("node.json").exists())
        .unwrap()
        .path();
    std::fs::remove_dir_all(&entry).unwrap();
    let name = entry.file_name().unwrap().to_string_lossy().into_owned();
    (cache, name)
}

fn wait_at_most(mut child: std::process::Child, limit: Duration, what: &str) -> Output {
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what}: still running {} s after it was asked to stop: {}",
                limit.as_secs(),
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `advp run p.advp`, waits until node `name` computes, sends each of
/// `signals` (30 ms apart) and gives the output, the process having to end
/// within `limit`.
fn signal_while_running(r: &Run, name: &str, signals: &[&str], limit: Duration) -> Output {
    let spawned = std::time::SystemTime::now() - Duration::from_millis(5);
    let child = spawn_run(r);
    let t0 = Instant::now();
    while !running(r, name, spawned) {
        assert!(t0.elapsed().as_secs() < 120, "`{name}` never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Past the model's loading and the clean pass: inside the attack.
    std::thread::sleep(Duration::from_millis(2000));
    let pid = child.id().to_string();
    for s in signals {
        assert!(Command::new("kill")
            .args([*s, &pid])
            .status()
            .unwrap()
            .success());
        std::thread::sleep(Duration::from_millis(30));
    }
    wait_at_most(child, limit, &signals.join(" "))
}

/// Nothing of a stopped node is left: no lock, no working folder.
fn no_lock_or_partial(r: &Run) {
    let left: Vec<String> = std::fs::read_dir(r.dir.path().join(".advp/cache"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".lock") || n.ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "left in the cache: {left:?}");
}

#[test]
fn one_sigint_or_sigterm_stops_a_million_step_attack_within_seconds() {
    use std::os::unix::process::ExitStatusExt;
    for (attack, signal, code) in [
        ("pgd(steps: 1000000)", "-INT", 130),
        ("pgd(steps: 1000000)", "-TERM", 143),
        ("square(queries: 1000000000)", "-INT", 130),
        (
            "eot(inner: pgd(steps: 2), samples: 1000000000)",
            "-TERM",
            143,
        ),
    ] {
        let r = Run::new();
        long_attack(&r, attack);
        let o = signal_while_running(&r, "e", &[signal], Duration::from_secs(10));
        assert_eq!(o.status.signal(), None, "{attack} {signal}: a signal death");
        assert_eq!(
            o.status.code(),
            Some(code),
            "{attack} {signal}: {}",
            stderr(&o)
        );
        no_lock_or_partial(&r);
        assert!(
            !r.dir.path().join("results/p/e.csv").exists(),
            "{attack}: a stopped evaluation writes no table"
        );
    }
}

#[test]
fn a_second_sigterm_or_sigusr1_ends_the_process_at_once() {
    use std::os::unix::process::ExitStatusExt;
    for (signal, code) in [("-TERM", 143), ("-USR1", 138)] {
        let r = Run::new();
        long_attack(&r, "pgd(steps: 1000000)");
        let o = signal_while_running(&r, "e", &[signal, signal], Duration::from_secs(10));
        assert_eq!(o.status.signal(), None, "{signal}: a signal death");
        // The first one may already have stopped the run (143 for both).
        let got = o.status.code();
        assert!(
            got == Some(code) || got == Some(143),
            "{signal}: exit {got:?}: {}",
            stderr(&o)
        );
    }
    // Where the run looks at the flag only every 200 ms (waiting on another
    // machine's lock), a second SIGUSR1 30 ms after the first ends it from
    // the handler: 138, where stopping normally gives 143.
    let r = Run::new();
    let lock = lock_of_another_host(&r);
    let mut codes = Vec::new();
    for _ in 0..5 {
        let child = spawn_run(&r);
        std::thread::sleep(Duration::from_millis(1500));
        let pid = child.id().to_string();
        for _ in 0..2 {
            let _ = Command::new("kill").args(["-USR1", &pid]).status();
            std::thread::sleep(Duration::from_millis(30));
        }
        let o = wait_at_most(child, Duration::from_secs(10), "-USR1 -USR1");
        assert_eq!(o.status.signal(), None, "a signal death: {}", stderr(&o));
        codes.push(o.status.code());
        if o.status.code() == Some(138) {
            break;
        }
    }
    assert!(codes.contains(&Some(138)), "exits {codes:?}");
    assert!(lock.exists(), "another machine's lock is left alone");
}

/// A trained node of `p.advp` whose entry is gone and whose lock names a
/// process of another machine: a run waits on it. Gives the lock's path.
fn lock_of_another_host(r: &Run) -> PathBuf {
    let (cache, name) = removed_trained_entry(r);
    let lock = cache.join(format!("{name}.lock"));
    std::fs::write(&lock, "4242 elsewhere-node7 99 some-boot\n").unwrap();
    lock
}

#[test]
fn sighup_checkpoints_a_training_like_sigterm() {
    let r = Run::new();
    r.write(
        "p.advp",
        "data d = synthetic(classes: 4, frames: 4, size: 16, train: 64, test: 8, val: 8)\n\
         model net = c3d_small(classes: d.classes, width: 4)\n\
         train t = standard(net, d, epochs: 30, batch: 16)\n",
    );
    let cache = r.dir.path().join(".advp/cache");
    let spawned = std::time::SystemTime::now() - Duration::from_millis(5);
    let child = spawn_run(&r);
    // It trains once it has saved an epoch's checkpoint.
    let t0 = Instant::now();
    while !std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            e.file_name().to_string_lossy().ends_with(".partial")
                && std::fs::metadata(e.path().join("state.json"))
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= spawned)
        })
    {
        assert!(t0.elapsed().as_secs() < 60, "training never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let o = wait_at_most(child, Duration::from_secs(20), "-HUP");
    assert_eq!(o.status.code(), Some(129), "{}", stderr(&o));
    let err = words(&stderr(&o));
    assert!(err.contains("checkpoint saved"), "{err}");
    assert!(err.contains("SIGHUP"), "{err}");
    // The checkpoint the next run resumes from (as after SIGTERM).
    assert!(
        has_checkpoint(&r, Some("t"), &(0..30).collect::<Vec<_>>()),
        "{err}"
    );
}

/// This process's start time (field 22 of /proc/PID/stat).
fn own_start_time() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split_whitespace().nth(19).unwrap().parse().unwrap()
}

#[test]
fn a_lock_whose_pid_was_reused_is_taken_over_not_waited_on() {
    let r = Run::new();
    let (cache, name) = removed_trained_entry(&r);
    // A lock of this host whose pid runs now (this test) but started at
    // another time: the holder died and its pid was given to another process.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_string();
    let lock = cache.join(format!("{name}.lock"));
    std::fs::write(
        &lock,
        format!(
            "{} {host} {} {boot}\n",
            std::process::id(),
            own_start_time() + 1
        ),
    )
    .unwrap();
    let child = spawn_run(&r);
    let o = wait_at_most(child, Duration::from_secs(60), "a run behind a stale lock");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 node(s) ran"),
        "computed, not waited for: {}",
        stderr(&o)
    );
    assert!(!lock.exists());

    // A lock of another host cannot be judged from here: the run waits, and
    // says once how to remove it and when that is safe.
    std::fs::remove_dir_all(cache.join(&name)).ok();
    for e in std::fs::read_dir(&cache).unwrap().flatten() {
        if e.path().join("node.json").exists() {
            std::fs::remove_dir_all(e.path()).unwrap();
        }
    }
    std::fs::write(&lock, format!("4242 elsewhere-node7 99 {boot}\n")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_advp"))
        .args(["run", "p.advp"])
        .current_dir(r.dir.path())
        .env_remove("LD_LIBRARY_PATH")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let o = wait_at_most(child, Duration::from_secs(10), "a wait on a lock");
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let err = words(&stderr(&o));
    assert!(
        err.contains(&format!("rm {}", lock.display())),
        "how to remove it: {err}"
    );
    assert!(
        err.contains("no advp is running on elsewhere-node7 with process id 4242"),
        "when it is safe: {err}"
    );
    assert_eq!(
        err.matches(&format!("rm {}", lock.display())).count(),
        1,
        "said once: {err}"
    );
}

#[test]
fn an_input_edited_after_the_run_is_named_and_the_page_shows_the_recorded_hash() {
    let r = Run::new();
    tch::manual_seed(0);
    let x = tch::Tensor::rand([12, 3, 4, 16, 16], (tch::Kind::Float, tch::Device::Cpu));
    let y = tch::Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    let file = r.dir.path().join("clips.safetensors");
    tch::Tensor::write_safetensors(&[("x", &x), ("y", &y)], &file).unwrap();
    r.write(
        "t.advp",
        "data d = tensors(\"clips.safetensors\", val: 0.25)\nmodel net = c3d_small(classes: d.classes, width: 4)\ntrain t = standard(net, d, epochs: 1, batch: 4)\n",
    );
    // Files over the hashing limit are keyed by size and time (a file
    // under it by its contents: tests/cli/workspace.rs).
    let over = [("ADVP_HASH_LIMIT_MB", std::ffi::OsStr::new("0"))];
    let o = r.advp_with(&["run", "t.advp", "--quiet", "--out", "out"], &over);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = advp::runtime::cache::sha256_file(&file).unwrap();
    let page = std::fs::read_to_string(r.dir.path().join("out/t.html")).unwrap();
    assert!(page.contains(&before), "the page shows the file's hash");
    assert!(
        !words(&stderr(&o)).contains("changed since"),
        "{}",
        stderr(&o)
    );

    // The same size and modification time: the cache key of a file over
    // the limit is the same.
    let stamp = r.dir.path().join("stamp");
    let touch = |from: &Path, to: &Path| {
        assert!(Command::new("touch")
            .arg("-r")
            .arg(from)
            .arg(to)
            .status()
            .unwrap()
            .success())
    };
    touch(&file, &stamp);
    // The lowest bit of x's first value: still a clip in [0, 1].
    let mut bytes = std::fs::read(&file).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let meta: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header]).unwrap();
    let at = 8 + header + meta["x"]["data_offsets"][0].as_u64().unwrap() as usize;
    bytes[at] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    touch(&stamp, &file);
    let now = advp::runtime::cache::sha256_file(&file).unwrap();
    assert_ne!(before, now);

    let o = r.advp_with(&["run", "t.advp", "--quiet", "--out", "out"], &over);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = words(&stderr(&o));
    assert!(err.contains("1 cached"), "the key is the same: {err}");
    assert!(
        err.contains("clips.safetensors") && err.contains("changed since"),
        "the run says the input differs: {err}"
    );
    assert!(
        err.contains(&before[..12]) && err.contains(&now[..12]),
        "{err}"
    );
    let page = std::fs::read_to_string(r.dir.path().join("out/t.html")).unwrap();
    assert!(
        page.contains(&before),
        "the page shows the hash the result was computed from"
    );
    assert!(page.contains("changed since"), "the page warns");
}

#[test]
fn under_nohup_a_sighup_does_not_stop_the_run() {
    use std::os::unix::process::ExitStatusExt;
    if Command::new("nohup").arg("true").status().is_err() {
        skip(
            "under_nohup_a_sighup_does_not_stop_the_run",
            "no `nohup` on this machine",
        );
        return;
    }
    let r = Run::new();
    long_attack(&r, "pgd(steps: 1000000)");
    let spawned = std::time::SystemTime::now() - Duration::from_millis(5);
    let child = Command::new("nohup")
        .arg(env!("CARGO_BIN_EXE_advp"))
        .args(["run", "p.advp", "--quiet"])
        .current_dir(r.dir.path())
        .env_remove("LD_LIBRARY_PATH")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !running(&r, "e", spawned) {
        assert!(t0.elapsed().as_secs() < 120, "`e` never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(2000));
    // nohup execs advp: the child's pid is advp's.
    let pid = child.id().to_string();
    let kill = |s: &str| {
        assert!(Command::new("kill")
            .args([s, &pid])
            .status()
            .unwrap()
            .success())
    };
    kill("-HUP");
    std::thread::sleep(Duration::from_millis(2000));
    // Still attacking; Ctrl-C still stops it.
    assert!(running(&r, "e", spawned), "the SIGHUP stopped a nohup run");
    kill("-INT");
    let o = wait_at_most(child, Duration::from_secs(10), "-INT after -HUP");
    assert_eq!(o.status.signal(), None, "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
}

#[test]
fn sigterm_stops_a_run_while_it_hashes_a_large_input() {
    use std::os::unix::process::ExitStatusExt;
    let r = Run::new();
    // 4 GiB of a sparse file: hashing it for the page takes seconds.
    let big = std::fs::File::create(r.dir.path().join("big.pt")).unwrap();
    big.set_len(4 << 30).unwrap();
    r.write(
        "p.advp",
        "seed 1\ndata d = synthetic(classes: 3, frames: 4, size: 16, train: 12, test: 4, val: 3)\nmodel net = c3d_small(classes: d.classes, width: 4)\nmodel other = torchscript(\"big.pt\", classes: 3)\ntrain t = standard(net, d, epochs: 1, batch: 12)\n",
    );
    let o = r.advp(&["run", "p.advp", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = r.dir.path().join("results/p/p.html");
    let written = std::fs::metadata(&page).unwrap().modified().unwrap();
    // Everything is cached: what this run does is hash the files for the page.
    let child = spawn_run(&r);
    // The signal goes once advp handles it (on a loaded machine loading
    // libtorch alone can take longer than any fixed wait), while it hashes.
    handles_sigterm(child.id(), Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = wait_at_most(child, Duration::from_secs(20), "-TERM while hashing");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "stopped {:.1} s after the signal: {}",
        sent.elapsed().as_secs_f64(),
        stderr(&o)
    );
    assert_eq!(o.status.signal(), None, "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert_eq!(
        std::fs::metadata(&page).unwrap().modified().unwrap(),
        written,
        "a stopped run writes no page"
    );
}
