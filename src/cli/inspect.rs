//! The commands that read a pipeline and its cache without running
//! anything: `advp graph` and `advp status`.

use super::{offline, replicas, runners, Folders, Format, PipelineArgs, RunArgs};
use crate::runtime::exec::Runner;
use std::path::PathBuf;

pub(super) fn graph_cmd(
    pipeline: PipelineArgs,
    dot: bool,
    format: Format,
    cache: Option<PathBuf>,
) -> i32 {
    let folders = Folders { out: None, cache };
    let (program, plan, opts) = match offline(&pipeline, &RunArgs::default(), &folders) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let programs = replicas(&program);
    let runners = runners(&programs, &plan, &opts);
    let word = |r: &Runner, i: usize| if r.is_cached(i) { "cached" } else { "to run" };
    // With several seeds, each node's replicates: `seed 1 cached, seed 2 to run`.
    let status = |i: usize| match &program.nodes[i] {
        n if crate::runtime::exec::computed(n) => Some(match runners.as_slice() {
            [one] => word(one, i).to_string(),
            many => many
                .iter()
                .map(|r| format!("seed {} {}", r.program().settings.seed, word(r, i)))
                .collect::<Vec<_>>()
                .join(", "),
        }),
        _ => None,
    };
    if format == Format::Json {
        let nodes: Vec<serde_json::Value> = plan
            .order
            .iter()
            .map(|&i| {
                let n = &program.nodes[i];
                let replicates: Vec<serde_json::Value> = runners
                    .iter()
                    .filter(|_| crate::runtime::exec::computed(n))
                    .map(|r| {
                        serde_json::json!({
                            "seed": r.program().settings.seed,
                            "state": word(r, i),
                            "key": r.key(i),
                        })
                    })
                    .collect();
                serde_json::json!({
                    "name": n.name,
                    "kind": n.kind.as_str(),
                    "builtin": n.builtin,
                    "inputs": plan.inputs(i).into_iter().map(|j| program.nodes[j].name.clone()).collect::<Vec<_>>(),
                    "replicates": replicates,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "pipeline": program.name(), "nodes": nodes })
            )
            .unwrap_or_default()
        );
    } else if dot {
        print!("{}", plan.to_dot(&program, &status));
    } else {
        print!("{}", plan.to_text(&program, &status));
        // `-v`: why each node to run runs.
        if crate::util::verbose() {
            for r in &runners {
                let old = r.old_keys();
                for &i in &plan.order {
                    let n = &program.nodes[i];
                    if crate::runtime::exec::computed(n) && !r.is_cached(i) {
                        let seed = match runners.len() {
                            1 => String::new(),
                            _ => format!(" (seed {})", r.program().settings.seed),
                        };
                        println!(
                            "why {}{seed}: {}",
                            n.name,
                            r.why(i, false, &old).detail_text()
                        );
                    }
                }
            }
        }
    }
    0
}

/// `advp status FILE`: every computed node's state.
pub(super) fn status(pipeline: PipelineArgs, format: Format, folders: Folders) -> i32 {
    use crate::cluster::slurm::{self, Status};
    let (program, plan, opts) = match offline(&pipeline, &RunArgs::default(), &folders) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let programs = replicas(&program);
    let runners = runners(&programs, &plan, &opts);
    let state = crate::cluster::state_dir(&opts, &program, "slurm");
    let record = slurm::load(&state);
    let mut failed = false;
    let mut json = Vec::new();
    let old_keys: Vec<Vec<String>> = runners.iter().map(Runner::old_keys).collect();
    for &i in &plan.order {
        let n = &program.nodes[i];
        if !crate::runtime::exec::computed(n) {
            continue;
        }
        for (k, runner) in runners.iter().enumerate() {
            // A replicate's job is `NODE.seedS` in the record, as the executors name it.
            let (name, shown) = match runners.len() {
                1 => (n.name.clone(), n.name.clone()),
                _ => {
                    let seed = runner.program().settings.seed;
                    (
                        format!("{}.seed{seed}", n.name),
                        format!("{} (seed {seed})", n.name),
                    )
                }
            };
            let key = runner.key(i);
            let st = if record.is_empty() {
                if runner.is_cached(i) {
                    Status::Cached
                } else {
                    Status::NotSubmitted
                }
            } else {
                slurm::status(&name, key, runner.is_cached(i), &record)
            };
            if format == Format::Json {
                let (state, job, log) = match &st {
                    Status::Cached => ("cached", None, None),
                    Status::Queued(j) => ("queued", Some(j.clone()), None),
                    Status::Running(j) => ("running", Some(j.clone()), None),
                    Status::Failed(j, _, log) => {
                        ("failed", Some(j.clone()), Some(log.display().to_string()))
                    }
                    Status::Missing(j) => ("missing", Some(j.clone()), None),
                    Status::NotSubmitted => ("to_run", None, None),
                };
                let reason = runner.why(i, false, &old_keys[k]);
                failed |= state == "failed";
                json.push(serde_json::json!({
                    "node": n.name,
                    "kind": n.kind.as_str(),
                    "seed": runner.program().settings.seed,
                    "state": state,
                    "job": job,
                    "log": log,
                    "key": key,
                    "why": reason.detail_text(),
                }));
                continue;
            }
            let text = match &st {
                Status::Cached => format!("cached ({})", &key[..12]),
                Status::Queued(j) => format!("queued (job {j})"),
                Status::Running(j) => format!("running (job {j})"),
                Status::Failed(j, s, log) => {
                    failed = true;
                    format!(
                        "failed (job {j}, {}): {}\n{}",
                        s.to_lowercase(),
                        crate::util::shown(log),
                        crate::cluster::tail(log, 8)
                            .lines()
                            .map(|l| format!("    | {l}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                }
                Status::Missing(j) => format!("job {j} ended without a result; run again"),
                Status::NotSubmitted => format!(
                    "to run: {}",
                    runner.why(i, false, &old_keys[k]).detail_text()
                ),
            };
            println!("{:<8} {:<16} {text}", n.kind.as_str(), shown);
        }
    }
    if format == Format::Json {
        print_nodes(&program, json);
    }
    i32::from(failed)
}

/// `advp why FILE [NODE]`: each computed node's reason to run, or that it
/// is cached; exit 0 either way.
pub(super) fn why(
    pipeline: PipelineArgs,
    node: Option<String>,
    force: bool,
    format: Format,
    cache: Option<PathBuf>,
) -> i32 {
    let folders = Folders { out: None, cache };
    let flags = RunArgs {
        only: node.clone(),
        force,
        ..RunArgs::default()
    };
    let (program, plan, opts) = match offline(&pipeline, &flags, &folders) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let programs = replicas(&program);
    let runners = runners(&programs, &plan, &opts);
    let targets = match runners[0].targets() {
        Ok(t) => t,
        Err(crate::runtime::exec::RunError::Diagnostics(d)) => {
            super::print_diagnostics(&d, &program.sources);
            return 1;
        }
        Err(_) => return 1,
    };
    let forced = |i: usize| force && node.as_deref().is_none_or(|n| program.nodes[i].name == n);
    let mut json = Vec::new();
    for r in &runners {
        let old = r.old_keys();
        for &i in &targets {
            let n = &program.nodes[i];
            if !crate::runtime::exec::computed(n) {
                continue;
            }
            let reason = r.why(i, forced(i), &old);
            let seed = r.program().settings.seed;
            if format == Format::Json {
                let changes: Vec<String> = match &reason {
                    crate::runtime::exec::Reason::Changed { changes, .. } => {
                        changes.iter().map(ToString::to_string).collect()
                    }
                    _ => Vec::new(),
                };
                json.push(serde_json::json!({
                    "node": n.name,
                    "kind": n.kind.as_str(),
                    "seed": seed,
                    "runs": reason.runs(),
                    "reason": reason.word(),
                    "text": reason.to_string(),
                    "changes": changes,
                    "key": r.key(i),
                }));
                continue;
            }
            let shown = match runners.len() {
                1 => n.name.clone(),
                _ => format!("{} (seed {seed})", n.name),
            };
            println!("{:<8} {:<16} {reason}", n.kind.as_str(), shown);
        }
    }
    if format == Format::Json {
        print_nodes(&program, json);
    }
    0
}

/// `{ "pipeline": …, "nodes": […] }`, as `status` and `why` print it.
fn print_nodes(program: &crate::language::Program, nodes: Vec<serde_json::Value>) {
    println!(
        "{}",
        serde_json::to_string_pretty(
            &serde_json::json!({ "pipeline": program.name(), "nodes": nodes })
        )
        .unwrap_or_default()
    );
}
