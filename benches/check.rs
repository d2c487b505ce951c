//! `advp check` on a generated 1 MB pipeline: parse, check and plan, median of 7 runs;
//! and `advp lsp`'s time from a `didChange` of `pipelines/table2.advp` to its
//! `publishDiagnostics` (the server in this process over an in-memory connection).
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

/// The server's time from `didChange` to `publishDiagnostics`, `runs` edits.
fn lsp_round_trips(runs: usize) -> Vec<Duration> {
    use lsp_server::{Connection, Message, Notification, Request, RequestId};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/table2.advp");
    let text = std::fs::read_to_string(&path).unwrap();
    let uri = format!("file://{}", path.display());
    let (server, client) = Connection::memory();
    let thread = std::thread::spawn(move || advp::cli::lsp::serve(&server));
    let send = |m: Message| client.sender.send(m).unwrap();
    let published = || loop {
        match client.receiver.recv().unwrap() {
            Message::Notification(n)
                if n.method == "textDocument/publishDiagnostics"
                    && n.params["uri"] == uri.as_str() =>
            {
                return n.params["diagnostics"].as_array().unwrap().len();
            }
            _ => {}
        }
    };
    send(Message::Request(Request::new(
        RequestId::from(1),
        "initialize".into(),
        serde_json::json!({ "capabilities": {} }),
    )));
    let _ = client.receiver.recv().unwrap();
    send(Message::Notification(Notification::new(
        "initialized".into(),
        serde_json::json!({}),
    )));
    send(Message::Notification(Notification::new(
        "textDocument/didOpen".into(),
        serde_json::json!({ "textDocument": { "uri": uri, "languageId": "advp", "version": 1, "text": text } }),
    )));
    let warnings = published();
    let mut times = Vec::new();
    for k in 0..runs {
        let edited = format!("{text}\n# edit {k}\n");
        let t0 = Instant::now();
        send(Message::Notification(Notification::new(
            "textDocument/didChange".into(),
            serde_json::json!({ "textDocument": { "uri": uri, "version": k + 2 }, "contentChanges": [{ "text": edited }] }),
        )));
        assert_eq!(published(), warnings);
        times.push(t0.elapsed());
    }
    send(Message::Request(Request::new(
        RequestId::from(2),
        "shutdown".into(),
        serde_json::Value::Null,
    )));
    let _ = client.receiver.recv();
    send(Message::Notification(Notification::new(
        "exit".into(),
        serde_json::Value::Null,
    )));
    thread.join().unwrap().unwrap();
    times
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
    let edits = lsp_round_trips(if bench { 21 } else { 2 });
    println!(
        "lsp bench: didChange → publishDiagnostics on pipelines/table2.advp: {:.2} ms (median of {}; target < 10 ms)",
        ms(median(edits.clone())),
        edits.len()
    );
}
