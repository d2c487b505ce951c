//! The command line: `advp check | fmt | graph | run | builtins`.

mod diff;
mod files;
mod folders;
mod housekeeping;
mod inspect;
pub mod lsp;

use crate::graph;
use crate::language::{
    self,
    diagnostic::{Code, Diagnostic},
    loader,
    source::SourceMap,
};
use crate::runtime::exec::{Options, RunError, Runner};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "advp",
    version,
    about = "Adversarial-robustness pipelines for video classifiers"
)]
pub struct Cli {
    /// Say more: each node's cache key and entry, the commands of `--jobs`
    /// and Slurm processes.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
}

/// The pipeline a command works on: the file, its profile and overrides.
#[derive(clap::Args, Debug, Default)]
struct PipelineArgs {
    /// The pipeline, a `.advp` file.
    file: PathBuf,
    /// Apply this profile of the file (`profile quick { … }`).
    #[arg(long)]
    profile: Option<String>,
    /// Override a setting (`seed=2`) or an argument (`train.epochs=2`,
    /// `at.lr=0.1`), after the profile; repeatable, applied in order.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Replicates: every computed node once per seed (the file's `seeds`
    /// otherwise), each its own cache entry; tables show the mean and its
    /// interval over the seeds.
    #[arg(long, value_name = "S,S,…", value_delimiter = ',')]
    seeds: Vec<u64>,
}

impl PipelineArgs {
    /// The overrides, `--seeds` last (as `--set seeds=[…]`).
    fn all_sets(&self) -> Vec<String> {
        let mut sets = self.sets.clone();
        if !self.seeds.is_empty() {
            let list: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
            sets.push(format!("seeds=[{}]", list.join(", ")));
        }
        sets
    }
}

/// One program per seed of `program` (its replicates, in the order listed).
fn replicas(program: &language::Program) -> Vec<language::Program> {
    program
        .settings
        .seeds
        .iter()
        .map(|&s| program.replicate(s))
        .collect()
}

/// One runner per replicate, over the same plan and options.
fn runners<'a>(
    programs: &'a [language::Program],
    plan: &'a graph::Plan,
    opts: &'a Options,
) -> Vec<Runner<'a>> {
    programs
        .iter()
        .map(|p| Runner::new(p, plan, opts))
        .collect()
}

/// Where results are read and written.
#[derive(clap::Args, Debug, Default)]
struct Folders {
    /// Where reports go (default: results/<pipeline name>/).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The cache folder (default: .advp/cache).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
}

/// The cache folder alone (commands that write no reports).
#[derive(clap::Args, Debug, Default)]
struct CacheFolder {
    /// The cache folder whose entries mark nodes as cached (default: .advp/cache).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
}

/// How `advp run` runs.
#[derive(clap::Args, Debug, Default)]
struct RunArgs {
    /// Run only this node (and what it reads).
    #[arg(long, value_name = "NODE")]
    only: Option<String>,
    /// Run again even if cached (the `--only` node, or every node).
    #[arg(long)]
    force: bool,
    /// Plain lines instead of progress bars.
    #[arg(long)]
    quiet: bool,
    /// Where nodes run: `local` (this machine) or `slurm` (one job per node).
    #[arg(long, value_enum, default_value = "local")]
    executor: Executor,
    /// Local executor: run up to N independent nodes at once, each in its
    /// own process with its own GPU or share of the CPU threads.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    jobs: usize,
    /// Local executor: compute each training and evaluation node as N
    /// processes (ranks) on torch.distributed — Gloo on the CPU, NCCL on GPUs
    /// (one each) — with the result of one process.
    #[arg(long, default_value_t = 1, value_name = "N", conflicts_with = "gpus",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    ranks: usize,
    /// Local executor: `--ranks N` with one GPU for each rank (NCCL); refused
    /// when this machine has fewer than N.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    gpus: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and check files (every profile too); non-zero exit on any error.
    Check {
        /// The `.advp` files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// `text` (diagnostics with spans) or `json` (one object per diagnostic).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Rewrite files in the canonical layout (comments kept).
    Fmt {
        /// The `.advp` files to format in place.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; exit non-zero if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Print the dependency graph as text, or as Graphviz with --dot.
    Graph {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Graphviz DOT instead of text.
        #[arg(long)]
        dot: bool,
        /// `text` (or DOT with `--dot`) or `json`: nodes with kind, built-in,
        /// inputs and each replicate's state.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        cache: CacheFolder,
    },
    /// Run a pipeline: train, attack, evaluate and write its reports; finished
    /// nodes are cached and training resumes from its last checkpoint.
    Run {
        #[command(flatten)]
        pipeline: PipelineArgs,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        folders: Folders,
        #[command(flatten)]
        slurm: crate::cluster::slurm::Options,
    },
    /// Each node's state: cached, queued or running (with its Slurm job),
    /// failed (with its log), or still to run.
    Status {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// `text` or `json`: one object per node and replicate (state, job, key, log).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        cache: CacheFolder,
    },
    /// Why each node runs, in words: never run, which argument, input or
    /// file changed since its last cache entry, a new behaviour version of
    /// its built-in, `--force`; or that it is cached. Runs nothing.
    Why {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Only this node and what it reads.
        node: Option<String>,
        /// As `advp run --force` would run (the node named, or every node).
        #[arg(long)]
        force: bool,
        /// `text` or `json`: one object per node and replicate (runs, reason, changes).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        cache: CacheFolder,
    },
    /// Two evaluations compared: the cells that changed, each inside or
    /// beyond the noise of its 95% intervals, and the definition differences
    /// that explain them. A and B: result JSONs (an evaluation's `.json`
    /// report or an entry's `result.json`), cache entries, or output folders.
    Diff {
        a: PathBuf,
        b: PathBuf,
        #[command(flatten)]
        cache: CacheFolder,
    },
    /// Write the reports and the pipeline's HTML page from the cache, running
    /// nothing (nodes not finished yet are listed as such).
    Report {
        #[command(flatten)]
        pipeline: PipelineArgs,
        #[command(flatten)]
        folders: Folders,
    },
    /// The cache: `verify` its entries against their manifests, `ls` them,
    /// `gc` (collect) those no pipeline refers to or beyond an age or count.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// A Language Server over stdin and stdout, for editors: diagnostics
    /// as you type (those of `advp check`), hover, completion,
    /// go-to-definition, references, rename, symbols, formatting and
    /// semantic tokens (editors/ has VS Code's client and a tree-sitter grammar).
    Lsp,
    /// List every built-in with its arguments and defaults.
    Builtins {
        /// As the Markdown tables of docs/language.md.
        #[arg(long)]
        markdown: bool,
    },
    /// Print a shell's completion script: `advp completions bash >
    /// ~/.local/share/bash-completion/completions/advp`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Write a commented starter pipeline for your own PyTorch model on
    /// your own safetensors clips (refuses to overwrite a file).
    Init {
        /// The file to write.
        #[arg(default_value = "pipeline.advp")]
        file: PathBuf,
        /// How the model reaches advp: `python`, your `nn.Module` as you
        /// wrote it (a .py file and the function that builds it), or
        /// `torchscript`, a module you exported.
        #[arg(long, value_enum, default_value = "python")]
        model: files::StarterModel,
    },
}

#[derive(Subcommand, Debug)]
enum CacheAction {
    /// Every entry: verified, unverified (written before manifests) or
    /// damaged (which files); exit 1 if any is damaged.
    Verify {
        #[command(flatten)]
        cache: CacheFolder,
    },
    /// Every entry, oldest first: node, pipeline, seed, size, age, state
    /// (finished, partial: checkpoints or running, damaged: set aside).
    Ls {
        #[command(flatten)]
        cache: CacheFolder,
        /// `text` or `json`.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Lists, then with `--yes` removes, the entries the given criteria
    /// select (all must hold): not referred to by any given pipeline file
    /// (under any profile or seed), beyond each node's `--keep-last N`,
    /// `--older-than` an age. A locked or referenced entry is never
    /// removed; only folders advp made are touched.
    Gc {
        /// Pipeline files whose entries stay (as written, under each of their
        /// profiles, every seed of the file).
        files: Vec<PathBuf>,
        /// The files' entries as run with these seeds too (`advp run --seeds`).
        #[arg(long, value_name = "S,S,…", value_delimiter = ',')]
        seeds: Vec<u64>,
        /// The files' entries as run with these overrides (`advp run --set`).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Keep each node's N newest finished entries.
        #[arg(long, value_name = "N")]
        keep_last: Option<usize>,
        /// Remove only entries last written longer ago than this: 30d, 12h, 90m, 2w.
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
        /// Remove them (without it, nothing is removed: a dry run).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        cache: CacheFolder,
    },
}

/// Runs the CLI; the exit status: 0 ok, 1 errors in the input, 2 could not run.
pub fn main() -> i32 {
    quiet_on_closed_output();
    let cli = Cli::parse();
    crate::util::set_verbose(cli.verbose);
    if let Err(code) = memory_bound_readable(&cli.command) {
        return code;
    }
    match cli.command {
        Command::Check { files, format } => files::check(&files, format),
        Command::Fmt { files, check } => files::fmt(&files, check),
        Command::Graph {
            pipeline,
            dot,
            format,
            cache,
        } => inspect::graph_cmd(pipeline, dot, format, cache.cache),
        Command::Run {
            pipeline,
            run: flags,
            folders,
            slurm,
        } => run(pipeline, flags, folders, slurm),
        Command::Status {
            pipeline,
            format,
            cache,
        } => inspect::status(
            pipeline,
            format,
            Folders {
                out: None,
                cache: cache.cache,
            },
        ),
        Command::Why {
            pipeline,
            node,
            force,
            format,
            cache,
        } => inspect::why(pipeline, node, force, format, cache.cache),
        Command::Diff { a, b, cache } => diff::diff(&a, &b, cache.cache),
        Command::Report { pipeline, folders } => report(pipeline, folders),
        Command::Cache { action } => match action {
            CacheAction::Verify { cache } => files::cache_verify(cache.cache),
            CacheAction::Ls { cache, format } => housekeeping::ls(cache.cache, format),
            CacheAction::Gc {
                files,
                seeds,
                sets,
                keep_last,
                older_than,
                yes,
                cache,
            } => housekeeping::collect(
                &files,
                (&seeds, &sets),
                keep_last,
                older_than,
                yes,
                cache.cache,
            ),
        },
        Command::Lsp => lsp::main(),
        Command::Builtins { markdown } => {
            files::builtins(markdown);
            0
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            use std::io::Write;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "advp", &mut script);
            // A closed pipe (`| head`) ends it quietly.
            match std::io::stdout().write_all(&script) {
                Ok(()) => 0,
                Err(_) => 141,
            }
        }
        Command::Init { file, model } => files::init(&file, model),
    }
}

/// A malformed `ADVP_MAX_MEMORY` would bound nothing: the commands that
/// estimate sizes refuse it (exit 2) before reading any file.
fn memory_bound_readable(command: &Command) -> Result<(), i32> {
    let estimates = matches!(
        command,
        Command::Check { .. }
            | Command::Graph { .. }
            | Command::Run { .. }
            | Command::Status { .. }
            | Command::Why { .. }
            | Command::Report { .. }
    );
    match crate::runtime::lower::bounds::memory_setting() {
        Err(e) if estimates => {
            eprintln!("error: {e}");
            Err(2)
        }
        _ => Ok(()),
    }
}

/// `advp … | head` closes the pipe early: a write to a closed stdout or
/// stderr ends the program quietly (status 141, as a process stopped by
/// SIGPIPE), never with a panic's message. SIGPIPE itself stays ignored, so a
/// closed pipe to ffmpeg is an error the code handles.
fn quiet_on_closed_output() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to std") {
            std::process::exit(141);
        }
        default(info)
    }));
}

/// Prints diagnostics to stderr: colour on a terminal, plain otherwise.
pub fn print_diagnostics(diags: &[Diagnostic], sources: &SourceMap) {
    let tty = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if tty {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut err = std::io::stderr().lock();
    for d in diags {
        let mut s = String::new();
        if handler.render_report(&mut s, &d.to_miette(sources)).is_ok() {
            let _ = writeln!(err, "{s}");
        }
    }
}

fn load(file: &Path) -> Result<loader::Loaded, i32> {
    loader::load_path(file).map_err(|e| {
        eprintln!("error: {e}");
        2
    })
}

fn summary(file: &Path, n: usize) {
    eprintln!(
        "error: advp found {n} error{} in {}",
        if n == 1 { "" } else { "s" },
        crate::util::shown(file)
    );
}

/// Loads, checks with the profile and overrides, and plans; diagnostics printed on failure.
fn build(pipeline: &PipelineArgs) -> Result<(language::Program, graph::Plan), i32> {
    let file = &pipeline.file;
    let loaded = load(file)?;
    let outcome = language::check(
        &loaded,
        &language::Options {
            profile: pipeline.profile.clone(),
            sets: pipeline.all_sets(),
        },
    );
    let Some(program) = outcome.program else {
        print_diagnostics(&outcome.errors, &outcome.sources);
        summary(file, outcome.errors.len());
        return Err(1);
    };
    match graph::plan(&program) {
        Ok(plan) => Ok((program, plan)),
        Err(errs) => {
            print_diagnostics(&errs, &program.sources);
            summary(file, errs.len());
            Err(1)
        }
    }
}

/// Checks and plans a pipeline for a command that runs nothing (graph,
/// status, report): its options on the CPU.
fn offline(
    pipeline: &PipelineArgs,
    flags: &RunArgs,
    folders: &Folders,
) -> Result<(language::Program, graph::Plan, Options), i32> {
    let (program, plan) = build(pipeline)?;
    let opts = run_options(pipeline, &program, flags, folders, tch::Device::Cpu);
    Ok((program, plan, opts))
}

#[derive(Clone, Copy, Debug, Default, PartialEq, clap::ValueEnum)]
enum Executor {
    #[default]
    Local,
    Slurm,
}

/// The default output folder's name: the pipeline, its profile, and a short
/// hash of the `--set`s and `--seeds` when there are any, so that another
/// configuration never overwrites this one's reports
/// (`results/table2-quick-3f09a1c2`).
fn out_name(file: &Path, program: &language::Program, sets: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let stem = file
        .file_stem()
        .map_or("pipeline".into(), |s| s.to_string_lossy().into_owned());
    let mut name = match &program.profile {
        Some(p) => format!("{stem}-{p}"),
        None => stem,
    };
    if !sets.is_empty() {
        let digest = Sha256::digest(sets.join("\n").as_bytes());
        let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        name = format!("{name}-{short}");
    }
    name
}

fn run_options(
    pipeline: &PipelineArgs,
    program: &language::Program,
    flags: &RunArgs,
    folders: &Folders,
    device: tch::Device,
) -> Options {
    let file = &pipeline.file;
    let name = out_name(file, program, &pipeline.all_sets());
    let base = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or(PathBuf::from("."), Path::to_path_buf);
    Options {
        out: folders
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(name)),
        cache: folders
            .cache
            .clone()
            .unwrap_or_else(|| PathBuf::from(".advp").join("cache")),
        only: flags.only.clone(),
        force: flags.force,
        quiet: flags.quiet,
        base,
        device,
    }
}

/// `--jobs N` or `--executor slurm`: each node that is not cached runs as its
/// own `advp run --only NODE`; then the reports are written from the cache.
fn distributed(
    pipeline: &PipelineArgs,
    runners: &[Runner],
    flags: &RunArgs,
    slurm: &crate::cluster::slurm::Options,
    started: std::time::Instant,
) -> i32 {
    use crate::cluster::{self, Executor as Where};
    let program = runners[0].program();
    let executor = match flags.executor {
        Executor::Slurm => Where::Slurm(slurm.clone()),
        Executor::Local => Where::Local {
            jobs: flags.jobs,
            ranks: flags.gpus.unwrap_or(flags.ranks),
            gpus: flags.gpus.is_some(),
        },
    };
    let say = |l: &str| eprintln!("advp: {l}");
    let outcome = match cluster::distribute(
        runners,
        &pipeline.file,
        &pipeline.all_sets(),
        &executor,
        &say,
    ) {
        Ok(o) => o,
        Err(cluster::Error::Diagnostics(d)) => {
            print_diagnostics(&d, &program.sources);
            return 1;
        }
        Err(cluster::Error::Missing(d)) => {
            print_diagnostics(&d, &program.sources);
            return 2;
        }
        Err(cluster::Error::Interrupted) => return 130,
        Err(cluster::Error::Failed(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    // Reports of nodes that failed are skipped (and said so); the failure
    // itself is what the exit status reports.
    let code = reports_from_cache(runners);
    if code > 1 {
        return code;
    }
    if outcome.interrupted {
        eprintln!("advp: interrupted; run the same command again to resume");
        return 130;
    }
    if !outcome.failed.is_empty() {
        eprintln!(
            "error: advp stopped: {} node(s) failed ({}); fix the cause and run again: finished nodes stay cached",
            outcome.failed.len(),
            outcome
                .failed
                .iter()
                .map(|(n, log)| format!("{n}: {}", crate::cluster::shown(log)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return 1;
    }
    eprintln!(
        "advp: done in {:.1} s: {} node(s) ran in their own processes, the rest cached",
        started.elapsed().as_secs_f64(),
        outcome.ran
    );
    code
}

fn report(pipeline: PipelineArgs, folders: Folders) -> i32 {
    let flags = RunArgs {
        quiet: true,
        ..RunArgs::default()
    };
    let (program, plan, opts) = match offline(&pipeline, &flags, &folders) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Err(e) = folders::apart(&opts.out, &opts.cache) {
        eprintln!("error: {e}");
        return 2;
    }
    // The threads `advp run` would use (`threads`, `ADVP_THREADS`): the
    // page's run section says them as a run's page does.
    crate::runtime::device::apply_threads(&program.settings);
    let programs = replicas(&program);
    let runners = runners(&programs, &plan, &opts);
    runners.iter().for_each(Runner::adopt_older_entries);
    reports_from_cache(&runners)
}

/// The scheduler stopped the run (SIGUSR1 before the time limit, SIGTERM):
/// the checkpoint is saved. After the time-limit warning a Slurm job
/// requeues itself (`scontrol requeue $SLURM_JOB_ID`) and its next run
/// resumes there; after a SIGTERM (`scancel`, a preemption that Slurm
/// requeues by its own policy) it only stops.
fn preempted(message: &str) -> i32 {
    // Of several ranks, rank 0 requeues the job (once).
    let job = std::env::var("SLURM_JOB_ID")
        .ok()
        .filter(|j| !j.is_empty() && crate::util::warned() && crate::runtime::dist::writes());
    match job {
        Some(id) => {
            let ok = std::process::Command::new("scontrol")
                .args(["requeue", &id])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                eprintln!("advp: the scheduler asked job {id} to stop; {message}. Job {id} is requeued and resumes from the checkpoint when it runs again");
            } else {
                eprintln!("advp: the scheduler asked job {id} to stop; {message}. `scontrol requeue {id}` failed: submit the run again to resume");
            }
        }
        None if crate::util::hung_up() => {
            eprintln!("advp: stopped by SIGHUP (the terminal or SSH session closed); {message}");
            return crate::util::HUNG_UP_EXIT;
        }
        None => eprintln!("advp: stopped by a signal from outside (SIGTERM or SIGUSR1); {message}"),
    }
    crate::util::PREEMPTED_EXIT
}

/// Each claim's verdict, one line each (stdout: it is the run's finding).
fn print_claims(claims: &[crate::results::ClaimResult]) {
    for c in claims {
        println!("claim {}", c.line());
    }
}

/// Writes the reports and the HTML page from the cache and lists them; the
/// exit status (0, or 1 with the diagnostics printed).
fn reports_from_cache(runners: &[Runner]) -> i32 {
    let runner = &runners[0];
    match crate::pipeline::report(runners) {
        Ok(r) => {
            for p in &r.paths {
                println!("wrote {}", crate::util::shown(p));
            }
            print_claims(&r.claims);
            for s in &r.skipped {
                eprintln!("advp: skipped {s}");
            }
            i32::from(!r.skipped.is_empty())
        }
        Err(RunError::Diagnostics(diags)) => {
            print_diagnostics(&diags, &runner.program().sources);
            1
        }
        Err(RunError::Interrupted { message, .. }) => {
            eprintln!("advp: {message}");
            130
        }
        Err(RunError::Missing(diags) | RunError::Refused(diags)) => {
            print_diagnostics(&diags, &runner.program().sources);
            2
        }
    }
}

fn run(
    pipeline: PipelineArgs,
    flags: RunArgs,
    folders: Folders,
    slurm: crate::cluster::slurm::Options,
) -> i32 {
    let started = std::time::Instant::now();
    // First, so a Ctrl-C at any point of a run is seen by its loops.
    if let Err(e) = crate::util::on_interrupt() {
        eprintln!("advp: cannot watch for Ctrl-C ({e}); an interrupted run resumes from its last checkpoint");
    }
    let (program, plan) = match build(&pipeline) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let chosen = match crate::runtime::device::resolve(&program.settings.device) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let threads = crate::runtime::device::apply_threads(&program.settings);
    if let Some(note) = &chosen.note {
        eprintln!("advp: {note}");
    }
    if !flags.quiet {
        eprintln!(
            "advp: {} ({threads} threads in use)",
            crate::runtime::device::describe()
        );
    }
    let opts = run_options(&pipeline, &program, &flags, &folders, chosen.device);
    if let Err(e) = folders::apart(&opts.out, &opts.cache) {
        eprintln!("error: {e}");
        return 2;
    }
    let programs = replicas(&program);
    if programs.len() > 1 && !flags.quiet {
        eprintln!(
            "advp: {} replicates (seeds {}): every computed node runs once per seed",
            programs.len(),
            program
                .settings
                .seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let runners = runners(&programs, &plan, &opts);
    runners.iter().for_each(Runner::adopt_older_entries);
    // What runs but was likely not meant (a node process of `--jobs` or
    // Slurm leaves it to the run that started it).
    if flags.only.is_none() {
        let warnings: Vec<Diagnostic> = runners[0]
            .lowered()
            .warnings
            .iter()
            .map(|(_, d)| d.clone())
            .collect();
        print_diagnostics(&warnings, &program.sources);
    }
    if flags.executor == Executor::Slurm && (flags.ranks > 1 || flags.gpus.is_some()) {
        eprintln!(
            "error: `--ranks` and `--gpus` start a node's ranks on this machine, and `--executor slurm` runs each node as a Slurm job; for ranks under Slurm, run `srun --ntasks N advp run FILE --only NODE` in your job script (its tasks find each other from Slurm's variables)"
        );
        return 2;
    }
    if let Some(n) = flags.gpus {
        let here = if tch::Cuda::is_available() {
            tch::Cuda::device_count().max(0) as usize
        } else {
            0
        };
        if here < n * flags.jobs.max(1) && flags.jobs > 1 {
            eprintln!(
                "error: `--gpus {n} --jobs {}` asks for {} GPUs at once, and this machine has {here}; lower `--jobs` to {}",
                flags.jobs,
                n * flags.jobs,
                (here / n.max(1)).max(1)
            );
            return 2;
        }
        if here < n {
            eprintln!(
                "error: `--gpus {n}` asks for {n} GPUs, and this machine has {here}; name at most {here}, or `--ranks {n}` for {n} processes on the CPU (Gloo)"
            );
            return 2;
        }
    }
    if flags.executor == Executor::Slurm
        || flags.jobs > 1
        || flags.ranks > 1
        || flags.gpus.is_some_and(|n| n > 1)
    {
        // What the reports would replace is refused before the jobs start.
        let first = &runners[0];
        let checked = first
            .targets()
            .and_then(|t| crate::pipeline::preflight(first, &t));
        if let Err(RunError::Missing(diags)) = checked {
            print_diagnostics(&diags, &program.sources);
            return 2;
        }
        return distributed(&pipeline, &runners, &flags, &slurm, started);
    }
    let outcome = crate::pipeline::run(runners);
    // Of several ranks: the process group is taken down before the exit.
    crate::runtime::dist::leave();
    match outcome {
        Ok(crate::pipeline::Outcome {
            summary,
            reports,
            claims,
        }) => {
            for p in &reports {
                println!("wrote {}", crate::util::shown(p));
            }
            print_claims(&claims);
            eprintln!(
                "advp: done in {:.1} s: {} node(s) ran, {} cached",
                started.elapsed().as_secs_f64(),
                summary.ran.len(),
                summary.cached.len()
            );
            0
        }
        Err(RunError::Interrupted { message, .. }) if crate::util::preempted() => {
            preempted(&message)
        }
        Err(RunError::Interrupted { message, .. }) => {
            eprintln!("advp: {message}");
            130
        }
        Err(RunError::Diagnostics(diags)) => {
            print_diagnostics(&diags, &program.sources);
            eprintln!(
                "error: advp stopped: {} problem(s) in {}",
                diags.len(),
                crate::util::shown(&pipeline.file)
            );
            // A rank that lost the others exits apart, so that a launcher
            // names the rank that failed first.
            if diags.iter().all(|d| d.code == Code::RankLost) {
                crate::util::RANK_LOST_EXIT
            } else {
                1
            }
        }
        Err(RunError::Missing(diags)) => {
            print_diagnostics(&diags, &program.sources);
            eprintln!(
                "error: advp could not run {}: {} file(s), folder(s) or tool(s) it cannot use",
                crate::util::shown(&pipeline.file),
                diags.len()
            );
            2
        }
        Err(RunError::Refused(diags)) => {
            print_diagnostics(&diags, &program.sources);
            eprintln!(
                "error: advp refused {} before any work: {} problem(s) with its model(s)",
                pipeline.file.display(),
                diags.len()
            );
            2
        }
    }
}
