//! What the benches share (each bench is its own crate and includes this
//! with `mod common;`).
#![allow(dead_code)]

/// The median of `v` (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A positive whole number from the environment, or `default` when unset.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("{name}={v:?} is not a positive integer")),
        Err(_) => default,
    }
}

/// Rounds of a bench: `ADVP_BENCH_ROUNDS` (or `default`) under `cargo bench`,
/// one in the smoke mode of `cargo test`.
pub fn rounds(bench: bool, default: usize) -> usize {
    if bench {
        env_usize("ADVP_BENCH_ROUNDS", default)
    } else {
        1
    }
}

/// The JSON object a bench's Python script printed last, once it succeeded
/// (the failure shows its stderr).
pub fn json_line(out: &std::process::Output, script: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{script} printed {line:?}: {e}"))
}
