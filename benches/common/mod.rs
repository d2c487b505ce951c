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
