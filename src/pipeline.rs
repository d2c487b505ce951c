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
}

/// Runs every target that is not cached, then writes their reports and the page.
pub fn run(runner: Runner) -> Result<Outcome, RunError> {
    let (program, plan, opts) = (runner.program(), runner.plan(), runner.options());
    let keys = runner.keys().to_vec();
    let specs = runner.lowered().reports.clone();
    let cache = runner.cache().clone();
    let (summary, targets) = runner.run()?;
    let reports = write(program, plan, opts, &specs, &keys, &cache, &targets)?;
    Ok(Outcome { summary, reports })
}

/// `advp report`: the reports and the HTML page from what is cached, running nothing.
pub fn report(runner: &Runner) -> Result<Vec<PathBuf>, RunError> {
    let done = runner.finished()?;
    write(
        runner.program(),
        runner.plan(),
        runner.options(),
        &runner.lowered().reports,
        runner.keys(),
        runner.cache(),
        &done,
    )
}

/// Every report of the targets, then the pipeline's HTML page
/// (`<out>/<pipeline>.html`), written atomically.
fn write(
    program: &crate::language::Program,
    plan: &crate::graph::Plan,
    opts: &crate::runtime::exec::Options,
    specs: &[crate::runtime::spec::ReportSpec],
    keys: &[String],
    cache: &crate::runtime::cache::Cache,
    targets: &[usize],
) -> Result<Vec<PathBuf>, RunError> {
    sweep_temporary(&opts.out);
    // The reports and the page are written as one set: a failure on the way
    // (a full disk) leaves the previous set whole, not a mix of old and new.
    let mut staged = crate::util::Staged::default();
    let mut written =
        crate::reports::write_all(program, specs, targets, keys, cache, &opts.out, &mut staged)
            .map_err(|e| RunError::Diagnostics(vec![*e]))?;
    let html = crate::reports::html::page(
        program,
        &plan.order,
        keys,
        cache,
        &crate::reports::html::Machine::here(opts.device),
    );
    let path = opts.out.join(format!("{}.html", program.name()));
    std::fs::create_dir_all(&opts.out)
        .and_then(|_| staged.file(&path, html.as_bytes()))
        .and_then(|_| staged.commit())
        .map_err(|e| {
            RunError::Diagnostics(vec![Diagnostic::new(
                Code::NodeFailed,
                program.main,
                Span { start: 0, end: 0 },
                format!("cannot write {}: {e}", path.display()),
            )
            .help("results stay in the cache; `advp report FILE` writes the page again")])
        })?;
    written.push(path);
    Ok(written)
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
