//! `parse`, `check`, `lower` and `plan` never panic: 100 000 random and
//! mutated inputs from a fixed seed in the suite; `ADVP_FUZZ_INPUTS=N` (and
//! `ADVP_FUZZ_SEED`) for long runs outside it (`scripts/fuzz`). Control
//! characters in the input never reach a rendered diagnostic raw; a resource
//! string that is not of Slurm's form is refused by `check`, and one that is
//! gives a job script with exactly its `#SBATCH` lines before its command;
//! a file of step-size rules is refused as `too_complex` exactly when a step
//! size would take more than the bound of operations, rules counted once.

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

/// Control characters: C0, DEL and C1 (`\u{9b}` is a terminal's CSI).
const CONTROLS: &[char] = &[
    '\0', '\u{7}', '\u{8}', '\t', '\n', '\u{b}', '\u{c}', '\r', '\u{1b}', '\u{7f}', '\u{85}',
    '\u{9b}',
];

/// Rendered diagnostics hold no control character but line ends and tabs.
fn printable(rendered: &str) -> bool {
    !rendered
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
}

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
            // From a line's start, so most slices begin with a declaration.
            let start = boundary(base, rng.below(base.len()));
            let start = base[..start].rfind('\n').map_or(0, |k| k + 1);
            let end = boundary(base, start + 200 + rng.below(600));
            if i % 8 == 1 {
                // Control characters after quotes: most inside string
                // literals, which is where the grammar takes them.
                let mut s = base[start..end].to_string();
                for _ in 0..1 + rng.below(3) {
                    let a = boundary(&s, rng.below(s.len() + 1));
                    let at = s[a..].find('"').map_or(a, |q| a + q + 1);
                    s.insert(at, CONTROLS[rng.below(CONTROLS.len())]);
                }
                s
            } else {
                mutate(&mut rng, &base[start..end])
            }
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            let parsed = parser::parse(&input, FileId(0));
            // The hand-written fast path builds pest's tree, or leaves the file to pest.
            let reference = parser::parse_pest(&input, FileId(0));
            assert_eq!(
                parsed.as_ref().ok(),
                reference.as_ref().ok(),
                "the two parsers differ on {input:?}"
            );
            let ok = parsed.is_ok();
            // Checking is slower; every 10th input, and every one given control
            // characters, goes the whole way.
            if ok && (i % 10 == 0 || i % 8 == 1) {
                let loaded = loader::load_source("fuzz.advp", None, input.clone());
                let outcome = advp::graph::check_all(&loaded);
                for d in &outcome.errors {
                    assert!(d.span.start <= d.span.end);
                    let r = d.render_plain(&outcome.sources, 80);
                    assert!(printable(&r), "a raw control character in\n{r:?}");
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
                if i % 10 == 1 || i % 8 == 1 {
                    let loaded = loader::load_source("fuzz.advp", None, input.clone());
                    for d in &loaded.errors {
                        let r = d.render_plain(&loaded.sources, 80);
                        assert!(printable(&r), "a raw control character in\n{r:?}");
                    }
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

// ---- resource strings and job scripts

/// Slurm's forms (sbatch(1)), written here independently of advp's
/// validator: the oracle the checker is held to.
fn slurm_form(key: &str, v: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty()
            && s.len() <= 256
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
    };
    match key {
        "time" => {
            if ["unlimited", "infinite"].contains(&v.to_ascii_lowercase().as_str()) {
                return true;
            }
            // The shape with every run of digits (at most 9) as `d`.
            let mut shape = String::new();
            let mut run = 0;
            for c in v.chars() {
                if c.is_ascii_digit() {
                    run += 1;
                    if run == 1 {
                        shape.push('d');
                    }
                    if run > 9 {
                        return false;
                    }
                } else {
                    run = 0;
                    shape.push(c);
                }
            }
            ["d", "d:d", "d:d:d", "d-d", "d-d:d", "d-d:d:d"].contains(&shape.as_str())
        }
        "mem" => {
            let n = v.trim_end_matches(|c| "KMGTkmgt".contains(c));
            v.len() - n.len() <= 1
                && !n.is_empty()
                && n.len() <= 15
                && n.chars().all(|c| c.is_ascii_digit())
        }
        "partition" => v.split(',').all(name),
        _ => unreachable!(),
    }
}

fn valid_resource(rng: &mut Rng, key: &str) -> String {
    let n = |rng: &mut Rng| (rng.next() % 1000).to_string();
    match key {
        "time" => match rng.below(8) {
            0 => n(rng),
            1 => format!("{}:{}", n(rng), n(rng)),
            2 => format!("{}:{}:{}", n(rng), n(rng), n(rng)),
            3 => format!("{}-{}", n(rng), n(rng)),
            4 => format!("{}-{}:{}", n(rng), n(rng), n(rng)),
            5 => format!("{}-{}:{}:{}", n(rng), n(rng), n(rng), n(rng)),
            6 => "UNLIMITED".into(),
            _ => "infinite".into(),
        },
        "mem" => format!(
            "{}{}",
            n(rng),
            ["", "K", "M", "G", "T", "g", "m"][rng.below(7)]
        ),
        _ => {
            const CHARS: &[u8] = b"abcxyzGPU019_.-";
            (0..1 + rng.below(3))
                .map(|_| {
                    (0..1 + rng.below(8))
                        .map(|_| CHARS[rng.below(CHARS.len())] as char)
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join(",")
        }
    }
}

/// What an attacker would put in a resource string.
const HOSTILE: &[&str] = &[
    "\n",
    "\r",
    "\0",
    "\r\n",
    "\n#SBATCH --wrap=id\n",
    "#SBATCH",
    ";",
    "; rm -rf ~",
    "$(id)",
    "`id`",
    " ",
    "\t",
    "'",
    "\"",
    "\\",
    "\u{1b}[2J",
    "\u{85}",
    "\u{9b}",
    "\u{2028}",
    "é",
    ":",
    "-",
    ",",
    "",
];

fn resource_string(rng: &mut Rng, key: &str) -> String {
    let mut v = valid_resource(rng, key);
    for _ in 0..rng.below(3) {
        let at = boundary(&v, rng.below(v.len() + 1));
        if rng.below(4) == 0 {
            v.insert(at, (rng.below(95) as u8 + 32) as char);
        } else {
            v.insert_str(at, HOSTILE[rng.below(HOSTILE.len())]);
        }
    }
    v
}

/// A string literal of the language holding `v`: `\n`, `\t`, `\"` and `\\`
/// escaped, every other character raw, or, at random, `\n` and `\t` raw too
/// where the grammar allows (a raw newline ends a string).
fn literal(rng: &mut Rng, v: &str) -> String {
    let raw_tab = rng.below(2) == 0;
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '\n' => s.push_str("\\n"),
            '\t' if !raw_tab => s.push_str("\\t"),
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[test]
fn resource_strings_are_refused_unless_of_slurms_form_and_scripts_have_their_lines() {
    use advp::cluster::{self, slurm};
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mut rng = Rng(env("ADVP_FUZZ_SEED").unwrap_or(0x5EED_0000_5C21_0001) | 1);
    // A twentieth of the parse fuzz's inputs: each one is checked and lowered.
    let total = (env("ADVP_FUZZ_INPUTS").unwrap_or(100_000) / 20).max(1) as usize;
    let (mut refused, mut accepted) = (0, 0);
    let inv = cluster::Invocation {
        exe: "/opt/advp".into(),
        file: "/w/p.advp".into(),
        profile: None,
        sets: vec![],
        cache: "/c".into(),
        out: "/o".into(),
        replicates: "/r".into(),
        workdir: "/w".into(),
    };
    for i in 0..total {
        let keys: Vec<&str> = ["time", "mem", "partition"]
            .into_iter()
            .filter(|_| rng.below(2) == 0)
            .collect();
        let values: Vec<String> = keys.iter().map(|k| resource_string(&mut rng, k)).collect();
        let fields: Vec<String> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| format!(", {k}: {}", literal(&mut rng, v)))
            .collect();
        let src = format!(
            "data d = synthetic(classes: 4)\nmodel net = c3d_small(classes: d.classes)\n\
             train t = standard(net, d, epochs: 1) {{\n  resources {{ gpus: 1{} }}\n}}\n",
            fields.concat()
        );
        let result = catch_unwind(AssertUnwindSafe(|| {
            let loaded = loader::load_source("fuzz.advp", None, src.clone());
            let outcome = advp::graph::check_all(&loaded);
            for d in &outcome.errors {
                let r = d.render_plain(&outcome.sources, 80);
                assert!(printable(&r), "a raw control character in\n{r:?}");
            }
            let bad: Vec<(&str, &String)> = keys
                .iter()
                .copied()
                .zip(&values)
                .filter(|(k, v)| !slurm_form(k, v))
                .collect();
            if !bad.is_empty() {
                assert!(outcome.program.is_none(), "{bad:?} was not refused");
                // Refused by the parser (a raw control character it does not
                // take), or once for each bad string by the checker.
                if !loaded.errors.is_empty() {
                    return false;
                }
                assert_eq!(
                    outcome
                        .errors
                        .iter()
                        .filter(|d| d.code == language::Code::BadResource)
                        .count(),
                    bad.len(),
                    "{bad:?}: one refusal each"
                );
                return false;
            }
            let program = outcome.program.as_ref().unwrap_or_else(|| {
                panic!(
                    "{values:?} refused: {:?}",
                    outcome
                        .errors
                        .iter()
                        .map(|d| &d.message)
                        .collect::<Vec<_>>()
                )
            });
            let lowered = advp::runtime::lower::lower(program, std::path::Path::new("."));
            let t = program.nodes.iter().position(|n| n.name == "t").unwrap();
            let resources = lowered.resources[t].clone();
            let job = cluster::Job {
                id: 0,
                node: t,
                seed: None,
                name: "t".into(),
                after: vec![],
                resources,
                shared: true,
            };
            let script = slurm::script(
                &job,
                &inv,
                &slurm::Options::default(),
                &["12".into()],
                std::path::Path::new("/s/t-%j.log"),
            )
            .unwrap_or_else(|e| panic!("{values:?}: {e}"));
            let lines: Vec<&str> = script.split('\n').collect();
            // The shebang; job name, log, gres, the keys given, dependency
            // (2), signal, open mode, requeue; `cd`, `exec`; the last newline.
            let directives = 2 + 1 + keys.len() + 2 + 3;
            assert_eq!(lines.len(), 1 + directives + 2 + 1, "{script}");
            assert_eq!(lines[0], "#!/bin/sh");
            assert!(
                lines[1..=directives]
                    .iter()
                    .all(|l| l.starts_with("#SBATCH --")),
                "{script}"
            );
            for (k, v) in keys.iter().zip(&values) {
                let want = format!("#SBATCH --{k}={v}");
                assert!(
                    lines[1..=directives].contains(&want.as_str()),
                    "{want}:\n{script}"
                );
            }
            for want in ["#SBATCH --signal=B:USR1@120", "#SBATCH --requeue"] {
                assert!(lines[1..=directives].contains(&want), "{want}:\n{script}");
            }
            assert!(lines[directives + 1].starts_with("cd "), "{script}");
            assert!(lines[directives + 2].starts_with("exec "), "{script}");
            assert!(
                !script.chars().any(|c| c.is_control() && c != '\n'),
                "{script:?}"
            );
            true
        }));
        match result {
            Ok(true) => accepted += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("input #{i} failed:\n{src}"),
        }
    }
    // Both sides are explored.
    assert!(
        refused > total / 10 && accepted > total / 10,
        "{refused} refused, {accepted} accepted"
    );
}

// ---- step-size rules: shared, bounded, never expanded

/// One generated `rule` file: its text, and for each rule the operations a
/// step size of it takes with every rule counted once (the checker's measure,
/// computed here from the generator's own bookkeeping) and its nesting depth
/// (the longest chain of rules: the checker's recursion, where rules are
/// used before they are declared, goes at most that deep).
struct RuleFile {
    text: String,
    size: Vec<usize>,
    depth: Vec<usize>,
}

/// `n` rules, each a sum or product of 1 to 6 terms: earlier rules (mostly
/// recent ones, so chains grow deep), `eps` or a number; a fifth of them
/// double the previous rule (`r5 = r4 + r4`), whose full text grows as 2^n.
fn rule_file(rng: &mut Rng, n: usize) -> RuleFile {
    let mut text =
        String::from("data d = synthetic(classes: 4)\nmodel net = c3d_small(classes: d.classes)\n");
    // Each rule's own operations (a named rule counts 1) and the rules it reaches.
    let mut own: Vec<usize> = Vec::new();
    let mut reach: Vec<std::collections::BTreeSet<usize>> = Vec::new();
    let mut depth: Vec<usize> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for i in 0..n {
        let mut terms: Vec<String> = Vec::new();
        let mut uses = std::collections::BTreeSet::new();
        if i > 0 && rng.below(5) == 0 {
            terms = vec![format!("r{}", i - 1), format!("r{}", i - 1)];
            uses.insert(i - 1);
        } else {
            // Most rules build on the one before: chains grow deep.
            if i > 0 && rng.below(10) != 0 {
                uses.insert(i - 1);
                terms.push(format!("r{}", i - 1));
            }
            for _ in 0..rng.below(6) {
                match rng.below(4) {
                    0 | 1 if i > 0 => {
                        let j = if rng.below(3) == 0 {
                            rng.below(i)
                        } else {
                            i - 1 - rng.below(i.min(4))
                        };
                        uses.insert(j);
                        terms.push(format!("r{j}"));
                    }
                    2 => terms.push("eps".into()),
                    _ => terms.push(format!("{}", 1 + rng.below(3))),
                }
            }
        }
        if terms.is_empty() {
            terms.push("eps".into());
        }
        let op = if rng.below(2) == 0 { " + " } else { " * " };
        lines.push(format!("rule r{i} = {}\n", terms.join(op)));
        let mut r = std::collections::BTreeSet::new();
        for &j in &uses {
            r.insert(j);
            r.extend(reach[j].iter().copied());
        }
        depth.push(uses.iter().map(|&j| depth[j] + 1).max().unwrap_or(0));
        own.push(2 * terms.len() - 1);
        reach.push(r);
    }
    // Declared last first, every use is a forward reference: the checker
    // resolves the whole chain at once, so its depth counts.
    if rng.below(2) == 0 {
        lines.reverse();
    }
    text.push_str(&lines.concat());
    // `Rule(r)` itself (1), its body, and every rule it reaches once.
    let size = (0..n)
        .map(|i| 1 + own[i] + reach[i].iter().map(|&j| own[j]).sum::<usize>())
        .collect();
    text.push_str(&format!(
        "eval e = robustness([net], d.test) {{\n  budget sweep [0, 4, 8]\n  alpha r{}\n}}\n",
        n - 1
    ));
    RuleFile { text, size, depth }
}

#[test]
fn rule_files_are_too_complex_exactly_past_the_size_bound() {
    use advp::language::Code;
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mut rng = Rng(env("ADVP_FUZZ_SEED").unwrap_or(0x5EED_0000_0A1F_0001) | 1);
    // A thousandth of the parse fuzz's inputs, each up to 1000 rules.
    let total = (env("ADVP_FUZZ_INPUTS").unwrap_or(100_000) / 1000).max(1) as usize;
    let (mut complex, mut fine) = (0, 0);
    for _ in 0..total {
        let n = 1 + rng.below(1000);
        let f = rule_file(&mut rng, n);
        // Every rule is checked, used or not: the worst one decides. Within
        // 5 % or 10 levels of a bound the count is the checker's business.
        let size = f.size.iter().copied().max().unwrap();
        let depth = f.depth.iter().copied().max().unwrap();
        // The checker's nesting guard sees the path its resolution takes
        // (at most the longest chain), so a deep file may pass it; the size
        // bound caps every chain (each rule adds an operation).
        let over = size > 4096 * 21 / 20;
        let under = size < 4096 * 19 / 20 && depth < 256 - 10;
        // On a stack of the main thread's size, where advp checks (a test
        // thread has 2 MiB; a debug build's frames are large).
        let text = f.text.clone();
        let too_complex = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || {
                let loaded = loader::load_source("rules.advp", None, text);
                let outcome = advp::graph::check_all(&loaded);
                outcome.errors.iter().any(|d| d.code == Code::TooComplex)
            })
            .unwrap()
            .join()
            .unwrap_or_else(|_| panic!("checking panicked:\n{}", f.text));
        if over {
            assert!(
                too_complex,
                "size {size}, depth {depth} passed:\n{}",
                f.text
            );
            complex += 1;
        }
        if under {
            assert!(
                !too_complex,
                "size {size}, depth {depth} was called too complex:\n{}",
                f.text
            );
            fine += 1;
        }
    }
    // Both sides of the bound are explored.
    assert!(
        complex > total / 20 && fine > total / 20,
        "{complex} over, {fine} under of {total}"
    );
}
