//! `parse`, `check`, `lower` and `plan` never panic: 100 000 random and
//! mutated inputs from a fixed seed in the suite; `ADVP_FUZZ_INPUTS=N` (and
//! `ADVP_FUZZ_SEED`) for long runs outside it (`scripts/fuzz`).

use advp::language::{self, loader, parser, source::FileId};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "data",
    "model",
    "attack",
    "defense",
    "rule",
    "train",
    "eval",
    "analyze",
    "report",
    "profile",
    "use",
    "seed",
    "device",
    "threads",
    "to",
    "budget",
    "attacks",
    "alpha",
    "steps",
    "every",
    "step",
    "grid",
    "fixed",
    "curriculum",
    "adaptive",
    "uniform",
    "sweep",
    "each",
    "none",
    "eps",
    "inf",
    "true",
    "false",
    "optimal",
    "pgd",
    "pgd_inf",
    "synthetic",
    "c3d_small",
    "standard",
    "adversarial",
    "robustness",
    "ucf",
    "net",
    "ucf.test",
    "ucf.classes",
    "=",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ".",
    "..",
    ">>",
    "+",
    "-",
    "*",
    "/",
    "0",
    "8",
    "12",
    "0.25",
    "2e-4",
    "1e999",
    "-3",
    "\"x.md\"",
    "\"",
    "\\",
    "#",
    "\n",
    " ",
    "\t",
    ";",
    "@",
    "ε",
    "cuda:1",
    "0..12 step 2",
    "12..0 step 2",
    "h264 >> net",
    "x: 1",
    "resources",
    "{ gpus: 1 }",
];

fn corpus() -> Vec<String> {
    let mut out = Vec::new();
    for dir in [
        "pipelines",
        "stdlib",
        "tests/golden/valid",
        "tests/golden/invalid",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let Ok(entries) = std::fs::read_dir(path) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            if f.extension().is_some_and(|e| e == "advp") {
                out.push(std::fs::read_to_string(f).expect("readable"));
            }
        }
    }
    assert!(!out.is_empty());
    out
}

fn boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(rng: &mut Rng, base: &str) -> String {
    let mut s = base.to_string();
    for _ in 0..1 + rng.below(4) {
        let a = boundary(&s, rng.below(s.len() + 1));
        let b = boundary(&s, a + rng.below(40));
        match rng.below(6) {
            0 => s.replace_range(a..b, ""),
            1 => s.insert_str(a, TOKENS[rng.below(TOKENS.len())]),
            2 => {
                let chunk = s[a..b].to_string();
                let at = boundary(&s, rng.below(s.len() + 1));
                s.insert_str(at, &chunk);
            }
            3 => s.truncate(a),
            4 => s.replace_range(a..b, TOKENS[rng.below(TOKENS.len())]),
            _ => {
                let c = (rng.below(95) as u8 + 32) as char;
                s.insert(a, c);
            }
        }
    }
    s
}

fn random_tokens(rng: &mut Rng) -> String {
    let n = rng.below(40);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(TOKENS[rng.below(TOKENS.len())]);
        s.push(if rng.below(3) == 0 { '\n' } else { ' ' });
    }
    s
}

#[test]
fn parse_and_check_never_panic() {
    let corpus = corpus();
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mut rng = Rng(env("ADVP_FUZZ_SEED").unwrap_or(0x5EED_1234_ABCD_0001) | 1);
    let total = env("ADVP_FUZZ_INPUTS").unwrap_or(100_000) as usize;
    let mut parsed_ok = 0;
    for i in 0..total {
        let input = if i % 4 == 0 {
            random_tokens(&mut rng)
        } else {
            // Mutate a slice of a real file so inputs stay small and near-valid.
            let base = &corpus[rng.below(corpus.len())];
            let start = boundary(base, rng.below(base.len()));
            let end = boundary(base, start + 200 + rng.below(600));
            mutate(&mut rng, &base[start..end])
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            let ok = parser::parse(&input, FileId(0)).is_ok();
            // Checking is slower; every 10th input goes the whole way.
            if ok && i % 10 == 0 {
                let loaded = loader::load_source("fuzz.advp", None, input.clone());
                let outcome = advp::graph::check_all(&loaded);
                for d in &outcome.errors {
                    assert!(d.span.start <= d.span.end);
                    let _ = d.render_plain(&outcome.sources, 80);
                }
                if let Some(p) = &outcome.program {
                    let _ = advp::graph::plan(p);
                    // What checks, lowers without a panic: as a spec or a coded problem.
                    let l = advp::runtime::lower::lower(p, std::path::Path::new("."));
                    assert_eq!(l.nodes.len(), p.nodes.len());
                    for (_, d) in &l.problems {
                        let _ = d.render_plain(&outcome.sources, 80);
                    }
                }
            } else if !ok {
                for d in parser::parse(&input, FileId(0)).unwrap_err() {
                    assert!(d.span.end <= input.len(), "span past the end");
                }
            }
            ok
        }));
        match result {
            Ok(true) => parsed_ok += 1,
            Ok(false) => {}
            Err(_) => panic!("input #{i} panicked:\n{input:?}"),
        }
    }
    // The mutations should leave a fair share valid, or the test explores nothing.
    assert!(parsed_ok > total / 50, "only {parsed_ok} inputs parsed");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src = format!(
        "data d = synthetic(classes: {}1{})",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let errs = parser::parse(&src, FileId(0)).unwrap_err();
    assert_eq!(errs[0].code, language::Code::TooDeep);
    let long_chain = format!("rule r = {}1", "1 + ".repeat(20_000));
    let errs = parser::parse(&long_chain, FileId(0)).unwrap_err();
    assert_eq!(errs[0].code, language::Code::TooDeep);
    let fine = format!("rule r = {}eps", "1 + ".repeat(200));
    assert!(parser::parse(&fine, FileId(0)).is_ok());
}
