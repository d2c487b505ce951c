//! A pipeline run: execute the nodes ([`crate::runtime::exec`]), then write
//! the reports and the pipeline's HTML page ([`crate::reports`]). `advp report`
//! is the second half alone, from what is cached.

use crate::language::ast::Span;
use crate::language::diagnostic::{Code, Diagnostic};
use crate::runtime::exec::{RunError, Runner, Summary};
use std::path::PathBuf;

/// What a run did, and the files it wrote.
#[derive(Debug, Default)]
pub struct Outcome {
    pub summary: Summary,
    pub reports: Vec<PathBuf>,
    /// Every claim of the targets, tested.
    pub claims: Vec<crate::results::ClaimResult>,
}

/// Runs every target that is not cached, replicate after replicate (one
/// runner per seed, [`Program::replicate`](crate::language::Program::replicate)),
/// then writes their reports and the page.
pub fn run(runners: Vec<Runner>) -> Result<Outcome, RunError> {
    if let Some(first) = runners.first() {
        preflight(first, &first.targets()?)?;
    }
    let mut summary = Summary::default();
    let mut targets = Vec::new();
    let several = runners.len() > 1;
    let mut done: Vec<Runner> = Vec::new();
    let total = runners.len();
    for (k, mut runner) in runners.into_iter().enumerate() {
        let seed = runner.program().settings.seed;
        if several {
            eprintln!("advp: seed {seed} (replicate {} of {total})", k + 1);
        }
        let (s, t) = runner.run()?;
        let tag = |n: String| {
            if several {
                format!("{n} (seed {seed})")
            } else {
                n
            }
        };
        summary.ran.extend(s.ran.into_iter().map(tag));
        summary.cached.extend(s.cached.into_iter().map(tag));
        targets = t;
        done.push(runner);
    }
    // Of several ranks, rank 0 writes the reports.
    let (reports, claims) = if crate::runtime::dist::writes() {
        write(&done, &targets)?
    } else {
        Default::default()
    };
    Ok(Outcome {
        summary,
        reports,
        claims,
    })
}

/// What `advp report` wrote, and the reports it could not write, each with why.
pub struct Reported {
    pub paths: Vec<PathBuf>,
    pub claims: Vec<crate::results::ClaimResult>,
    pub skipped: Vec<String>,
}

/// `advp report`: the reports and the HTML page from what is cached, running
/// nothing; a report whose node is not cached (under every seed, under its
/// current key) is skipped and named.
pub fn report(runners: &[Runner]) -> Result<Reported, RunError> {
    // A target is reported once it is finished under every seed.
    let mut done = runners[0].finished()?;
    for r in &runners[1..] {
        let there = r.finished()?;
        done.retain(|i| there.contains(i));
    }
    let program = runners[0].program();
    let index = program.index();
    let targets = runners[0].targets()?;
    let mut skipped = Vec::new();
    for r in &program.reports {
        let Some(&i) = index.get(r.target.as_str()) else {
            continue;
        };
        if !targets.contains(&i) || done.contains(&i) {
            continue;
        }
        let missing: Vec<String> = runners
            .iter()
            .filter(|run| !run.is_cached(i))
            .map(|run| {
                let key = run.key(i);
                match runners.len() {
                    1 => format!("key {}", &key[..12]),
                    _ => format!("seed {} (key {})", run.program().settings.seed, &key[..12]),
                }
            })
            .collect();
        skipped.push(format!(
            "`report {}{} to {}`: `{}` is not in the cache under its current definition ({}); `advp run` computes it",
            r.target,
            r.mode.as_deref().map_or(String::new(), |m| format!(" {m}")),
            r.paths.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", "),
            r.target,
            missing.join(", ")
        ));
    }
    preflight(&runners[0], &done)?;
    warn_mixed(runners, &done);
    let (paths, claims) = write(runners, &done)?;
    Ok(Reported {
        paths,
        claims,
        skipped,
    })
}

/// Refuses, before any work, reports that would replace what advp did not
/// make: an examples folder of `targets` that exists and is not advp's.
pub fn preflight(runner: &Runner, targets: &[usize]) -> Result<(), RunError> {
    let diags = crate::reports::foreign_folders(
        runner.program(),
        &runner.lowered().reports,
        targets,
        &runner.options().out,
    );
    if diags.is_empty() {
        Ok(())
    } else {
        Err(RunError::Missing(diags))
    }
}

/// A table that mixes machines says so in its notes; `advp report` says it
/// on the terminal too, so a cache from another machine is not passed
/// silently (a run says it while it evaluates).
fn warn_mixed(runners: &[Runner], targets: &[usize]) {
    let replicates = replicates(runners);
    let program = runners[0].program();
    for &i in targets {
        let n = &program.nodes[i];
        if let Ok(crate::reports::NodeResult::Eval { result, .. }) = replicates.load(n, i) {
            if result.machine.is_some() && !result.trained_on.is_empty() {
                let who: Vec<&str> = result.trained_on.keys().map(String::as_str).collect();
                eprintln!(
                    "advp: warning: the table of `{}` mixes machines ({}): its last digits may not reproduce on one machine",
                    n.name,
                    who.join(", ")
                );
            }
        }
    }
}

/// Where each seed's results are, for the reports.
fn replicates<'a>(runners: &'a [Runner]) -> crate::reports::Replicates<'a> {
    crate::reports::Replicates {
        cached: runners
            .iter()
            .map(|r| {
                (0..r.program().nodes.len())
                    .map(|i| r.is_cached(i))
                    .collect()
            })
            .collect(),
        seeds: runners.iter().map(|r| r.program().settings.seed).collect(),
        keys: runners.iter().map(|r| r.keys()).collect(),
        cache: runners[0].cache(),
        claims: &runners[0].lowered().claims,
        tested: Default::default(),
    }
}

/// Every report of the targets, then the pipeline's HTML page
/// (`<out>/<pipeline>.html`), written atomically; and the targets' claims.
fn write(
    runners: &[Runner],
    targets: &[usize],
) -> Result<(Vec<PathBuf>, Vec<crate::results::ClaimResult>), RunError> {
    let first = &runners[0];
    let (program, plan, opts) = (first.program(), first.plan(), first.options());
    let specs = &first.lowered().reports;
    let replicates = replicates(runners);
    sweep_temporary(&opts.out);
    let failed = |message: String| {
        RunError::Diagnostics(vec![Diagnostic::new(
            Code::NodeFailed,
            program.main,
            Span { start: 0, end: 0 },
            message,
        )
        .help("results stay in the cache; `advp report FILE` writes the page again")])
    };
    let mut claims = Vec::new();
    for &i in targets {
        claims.extend(replicates.claims(i).map_err(failed)?);
    }
    // The reports and the page are written as one set: a failure on the way
    // (a full disk) leaves the previous set whole, not a mix of old and new.
    let mut staged = crate::util::Staged::default();
    let mut written =
        crate::reports::write_all(program, specs, targets, &replicates, &opts.out, &mut staged)
            .map_err(|e| RunError::Diagnostics(vec![*e]))?;
    for w in crate::reports::inputs::warnings(&crate::reports::inputs::rows(
        program,
        &replicates,
        &opts.base,
    )) {
        eprintln!("advp: warning: {w}");
    }
    let html = crate::reports::html::page(
        program,
        &plan.order,
        &replicates,
        &crate::reports::html::Machine::here(opts.device),
        &opts.base,
    );
    let path = opts.out.join(format!("{}.html", program.name()));
    // A stop while the reports were made (hashing the inputs for the page)
    // commits none of them; the staged files are removed.
    if crate::util::interrupted() {
        return Err(RunError::Interrupted {
            node: String::new(),
            message: "interrupted while writing the reports; the results stay in the cache, and `advp report FILE` writes them".into(),
        });
    }
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| crate::util::failed_write(&opts.out, e))
        .and_then(|_| staged.file(&path, html.as_bytes()))
        .and_then(|_| staged.commit())
        .map_err(|e| failed(e.to_string()))?;
    written.push(path);
    Ok((written, claims))
}

/// Removes what killed writes left under the output folder (`.name.tmp<pid>`
/// of a process that is gone); another advp's writes in progress stay.
fn sweep_temporary(out: &std::path::Path) {
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if crate::runtime::cache::is_temporary(&name) {
                // A staged file or examples folder (`.tmp<pid>`), or an old
                // examples folder moved aside (`.old.tmp<pid>`).
                let pid = name.rsplit_once(".tmp").map_or("", |(_, p)| p);
                let gone = !std::path::Path::new("/proc").join(pid).exists();
                if gone && pid != std::process::id().to_string() {
                    let _ = if is_dir {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
            } else if is_dir {
                stack.push(path);
            }
        }
    }
}
