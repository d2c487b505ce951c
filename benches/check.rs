//! `advp check` on a generated 1 MB pipeline: parse, check and plan, median of 7 runs.
//!
//! Run with `./scripts/bench` (or `cargo bench --bench check`).

use advp::graph;
use advp::language::loader;
use std::time::{Duration, Instant};

/// A pipeline of `blocks` × 5 declarations that reads like a real one.
fn generate(target_bytes: usize) -> (String, usize) {
    let mut s = String::from("use \"stdlib/attacks.advp\"\nuse \"stdlib/rules.advp\"\nseed 1\n\n");
    let mut decls = 0;
    let mut i = 0;
    while s.len() < target_bytes {
        s.push_str(&format!(
            "# block {i}\n\
             data d{i} = synthetic(classes: 10, frames: 8, size: 32, train: 600, test: 200, seed: {i})\n\
             model m{i} = c3d_small(classes: d{i}.classes, width: 16)\n\
             train b{i} = standard(m{i}, d{i}, epochs: 8, lr: 0.01)\n\
             train a{i} = adversarial(m{i}, d{i}, attack: pgd_inf(steps: 5), epochs: 8) {{\n  \
               budget curriculum 0..12 step 2 every 10\n  alpha optimal / 2\n}}\n\
             eval e{i} = robustness([b{i}, a{i}], d{i}.test) {{\n  attack pgd_inf(steps: 10)\n  \
               budget sweep [0, 4, 8, 12, 15]\n  alpha optimal\n}}\n\
             report e{i} to \"e{i}.md\", \"e{i}.csv\"\n\n"
        ));
        decls += 5;
        i += 1;
    }
    (s, decls)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test` runs this once, small, as a smoke test.
    let bench = std::env::args().any(|a| a == "--bench");
    let (size, runs) = if bench { (1 << 20, 7) } else { (1 << 14, 1) };
    let (src, decls) = generate(size);
    let (mut parse, mut check, mut plan, mut total) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let t0 = Instant::now();
        let loaded = loader::load_source("bench.advp", None, src.clone());
        let t1 = Instant::now();
        let outcome = advp::graph::check_all(&loaded);
        let t2 = Instant::now();
        let program = outcome.program.expect("the generated pipeline checks");
        let p = graph::plan(&program).expect("no cycles");
        let t3 = Instant::now();
        assert_eq!(p.order.len(), program.nodes.len());
        parse.push(t1 - t0);
        check.push(t2 - t1);
        plan.push(t3 - t2);
        total.push(t3 - t0);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "check bench: {:.2} MB, {decls} declarations: parse {:.1} ms, check {:.1} ms, plan {:.1} ms, total {:.1} ms (median of {runs}; target < 100 ms)",
        src.len() as f64 / (1 << 20) as f64,
        ms(median(parse)),
        ms(median(check)),
        ms(median(plan)),
        ms(median(total)),
    );
}
