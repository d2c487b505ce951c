//! `loss_surface` (one traced PGD run per α) against the naive grid (a fresh
//! PGD run of M steps for every α × M cell), on the small network, in one
//! process, interleaved. The two compute the same numbers (checked here, and
//! in `runtime::eval::analysis`'s tests); the ratio naive / traced is reported.
//!
//! Run with `cargo bench --bench loss_surface`; `ADVP_BENCH_ROUNDS` (default 3).
//! Under `cargo test` it runs once on a tiny grid as a smoke test. The table
//! also goes to `target/bench-loss-surface.json`.

use advp::runtime::attacks::{Norm, Pgd};
use advp::runtime::data::{Clips, Memory};
use advp::runtime::eval::analysis::{loss_surface, loss_surface_naive, Subject};
use advp::runtime::models::{Arch, ModelSpec, Net};
use advp::runtime::progress::Progress;
use std::time::Instant;

mod common;
use tch::{Device, Kind, Tensor};

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rounds = common::rounds(bench, 3);
    // Figure 1's grid, scaled to the CPU: α over 8 values, M = 1..20.
    let (alphas, steps, samples): (Vec<f64>, Vec<usize>, i64) = if bench {
        ((1..=8).map(|k| k as f64).collect(), (1..=20).collect(), 32)
    } else {
        (vec![1.0, 4.0], vec![1, 2, 3], 4)
    };
    tch::manual_seed(0);
    let net = Net::build(
        &ModelSpec {
            arch: Arch::C3dSmall { width: 8 },
            classes: 10,
            pretrained: None,
        },
        Device::Cpu,
    )
    .unwrap();
    let clips = Clips::Memory(Memory {
        x: Tensor::rand([samples, 3, 8, 32, 32], (Kind::Float, Device::Cpu)),
        y: Tensor::arange(samples, (Kind::Int64, Device::Cpu)).remainder(10),
    });
    let base = Pgd {
        norm: Norm::Inf,
        eps: 8.0,
        alpha: 0.0,
        steps: 0,
        random_start: false,
    };
    let f = |x: &Tensor, train: bool| net.forward(x, train);
    let progress = Progress::new(true);
    let on = Subject {
        f: &f,
        clips: &clips,
        samples: samples as usize,
        batch: 32,
        bn_train: false,
        seed: 1,
        device: Device::Cpu,
    };
    let (mut traced, mut naive) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let s = loss_surface(&on, &base, &alphas, &steps, &progress).unwrap();
        traced.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let n = loss_surface_naive(&on, &base, &alphas, &steps).unwrap();
        naive.push(t.elapsed().as_secs_f64());
        let worst = s
            .loss
            .iter()
            .flatten()
            .zip(n.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-4,
            "the traced surface differs from the grid by {worst}"
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (t, n) = (median(&mut traced), median(&mut naive));
    println!(
        "loss_surface: {} α × {} M on {samples} clips (c3d_small, 8×32×32): traced {t:.2} s, naive grid {n:.2} s, ratio {:.1}× ({} threads, {rounds} round(s), medians)",
        alphas.len(),
        steps.len(),
        n / t,
        tch::get_num_threads()
    );
    if bench {
        let json = serde_json::json!({
            "alphas": alphas.len(), "steps": steps.len(), "samples": samples,
            "traced_s": t, "naive_s": n, "ratio": n / t,
        });
        let _ = std::fs::create_dir_all("target");
        let _ = std::fs::write("target/bench-loss-surface.json", json.to_string());
    }
}
