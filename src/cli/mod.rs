//! The command line: `advp check | fmt | graph | run | builtins`.

use crate::graph;
use crate::language::{self, diagnostic::Diagnostic, loader, source::SourceMap};
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and check files (every profile too); non-zero exit on any error.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Rewrite files in the canonical layout (comments kept).
    Fmt {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; exit non-zero if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Print the dependency graph as text, or as Graphviz with --dot.
    Graph {
        file: PathBuf,
        #[arg(long)]
        dot: bool,
        #[arg(long)]
        profile: Option<String>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// The cache folder whose entries mark nodes as cached (default: .advp/cache).
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
    },
    /// Run a pipeline: train, attack, evaluate and write its reports; finished
    /// nodes are cached and training resumes from its last checkpoint.
    Run {
        file: PathBuf,
        #[arg(long)]
        profile: Option<String>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Run only this node (and what it reads).
        #[arg(long, value_name = "NODE")]
        only: Option<String>,
        /// Run again even if cached (the `--only` node, or every node).
        #[arg(long)]
        force: bool,
        /// Where reports go (default: results/<pipeline name>/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The cache folder (default: .advp/cache).
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Plain lines instead of progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// List every built-in with its arguments and defaults.
    Builtins {
        /// As the Markdown tables of docs/language.md.
        #[arg(long)]
        markdown: bool,
    },
}

/// Runs the CLI; the exit status: 0 ok, 1 errors in the input, 2 could not run.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { files, format } => check(&files, format),
        Command::Fmt { files, check } => fmt(&files, check),
        Command::Graph {
            file,
            dot,
            profile,
            sets,
            cache,
        } => graph_cmd(&file, dot, profile, sets, cache),
        Command::Run {
            file,
            profile,
            sets,
            only,
            force,
            out,
            cache,
            quiet,
        } => run(
            &file,
            profile,
            sets,
            RunFlags {
                only,
                force,
                out,
                cache,
                quiet,
            },
        ),
        Command::Builtins { markdown } => {
            if markdown {
                print!("{}", language::builtins::reference_markdown());
            } else {
                for b in language::builtins::BUILTINS {
                    let args: Vec<String> = b
                        .params
                        .iter()
                        .map(|p| match p.default {
                            language::builtins::Default::Required => p.name.to_string(),
                            language::builtins::Default::Absent => format!("{}?", p.name),
                            language::builtins::Default::Text(t) => format!("{}: {t}", p.name),
                        })
                        .collect();
                    println!("{:<8} {}({})", b.kind.as_str(), b.name, args.join(", "));
                }
            }
            0
        }
    }
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
        file.display()
    );
}

fn check(files: &[PathBuf], format: Format) -> i32 {
    let mut status = 0;
    let mut json = Vec::new();
    for file in files {
        let loaded = match load(file) {
            Ok(l) => l,
            Err(code) => {
                status = status.max(code);
                continue;
            }
        };
        let outcome = language::check_all(&loaded);
        let mut errors = outcome.errors;
        let mut nodes = 0;
        if let Some(p) = &outcome.program {
            match graph::plan(p) {
                Ok(plan) => nodes = plan.order.len(),
                Err(e) => errors.extend(e),
            }
        }
        match format {
            Format::Json => json.extend(errors.iter().map(|d| d.to_json(&outcome.sources))),
            Format::Text if errors.is_empty() => {
                let profiles = outcome.program.as_ref().map_or(0, |p| p.profiles.len());
                println!(
                    "ok: {} ({nodes} nodes, {profiles} profiles)",
                    file.display()
                );
            }
            Format::Text => {
                print_diagnostics(&errors, &outcome.sources);
                summary(file, errors.len());
            }
        }
        if !errors.is_empty() {
            status = status.max(1);
        }
    }
    if format == Format::Json {
        let out = serde_json::json!({ "ok": status == 0, "diagnostics": json });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("diagnostics serialise")
        );
    }
    status
}

fn fmt(files: &[PathBuf], check_only: bool) -> i32 {
    let mut status = 0;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                status = 2;
                continue;
            }
        };
        let mut sources = SourceMap::default();
        let id = sources.add(file.display().to_string(), Some(file.clone()), text.clone());
        let module = match language::parser::parse(&text, id) {
            Ok(m) => m,
            Err(errs) => {
                print_diagnostics(&errs, &sources);
                summary(file, errs.len());
                status = status.max(1);
                continue;
            }
        };
        let formatted = language::fmt::format(&text, &module);
        if formatted == text {
            continue;
        }
        if check_only {
            eprintln!("would reformat {}", file.display());
            status = status.max(1);
        } else if let Err(e) = write_atomic(file, formatted.as_bytes()) {
            eprintln!("error: cannot write {}: {e}", file.display());
            status = 2;
        } else {
            eprintln!("formatted {}", file.display());
        }
    }
    status
}

/// Writes `path` through a temporary file and a rename, so a crash never leaves half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Loads, checks with the profile and overrides, and plans; diagnostics printed on failure.
fn build(
    file: &Path,
    profile: Option<String>,
    sets: Vec<String>,
) -> Result<(language::Program, graph::Plan), i32> {
    let loaded = load(file)?;
    let outcome = language::check(&loaded, &language::Options { profile, sets });
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

fn graph_cmd(
    file: &Path,
    dot: bool,
    profile: Option<String>,
    sets: Vec<String>,
    cache: Option<PathBuf>,
) -> i32 {
    let (program, plan) = match build(file, profile, sets) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let opts = run_options(
        file,
        &program,
        &RunFlags {
            cache,
            ..RunFlags::default()
        },
        tch::Device::Cpu,
    );
    let runner = crate::runtime::exec::Runner::new(&program, &plan, &opts);
    let status = |i: usize| match program.nodes[i].kind {
        language::ast::DeclKind::Train | language::ast::DeclKind::Eval => Some(
            if runner.is_cached(i) {
                "cached"
            } else {
                "to run"
            }
            .to_string(),
        ),
        _ => None,
    };
    if dot {
        print!("{}", plan.to_dot(&program, &status));
    } else {
        print!("{}", plan.to_text(&program, &status));
    }
    0
}

#[derive(Default)]
struct RunFlags {
    only: Option<String>,
    force: bool,
    out: Option<PathBuf>,
    cache: Option<PathBuf>,
    quiet: bool,
}

fn run_options(
    file: &Path,
    program: &language::Program,
    flags: &RunFlags,
    device: tch::Device,
) -> crate::runtime::exec::Options {
    let stem = file
        .file_stem()
        .map_or("pipeline".into(), |s| s.to_string_lossy().into_owned());
    let name = match &program.profile {
        Some(p) => format!("{stem}-{p}"),
        None => stem,
    };
    let base = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or(PathBuf::from("."), Path::to_path_buf);
    crate::runtime::exec::Options {
        out: flags
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(name)),
        cache: flags
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

fn run(file: &Path, profile: Option<String>, sets: Vec<String>, flags: RunFlags) -> i32 {
    let started = std::time::Instant::now();
    let (program, plan) = match build(file, profile, sets) {
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
    let _ = ctrlc::set_handler(|| {
        if crate::runtime::train::INTERRUPTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // A second Ctrl-C: stop now (the last checkpoint is still on disk).
            std::process::exit(130);
        }
        eprintln!("\nadvp: interrupted; saving a checkpoint (Ctrl-C again to stop at once)");
    });
    let opts = run_options(file, &program, &flags, chosen.device);
    let runner = crate::runtime::exec::Runner::new(&program, &plan, &opts);
    match runner.run() {
        Ok(summary) => {
            for p in &summary.reports {
                println!("wrote {}", p.display());
            }
            eprintln!(
                "advp: done in {:.1} s: {} node(s) ran, {} cached",
                started.elapsed().as_secs_f64(),
                summary.ran.len(),
                summary.cached.len()
            );
            0
        }
        Err(crate::runtime::exec::RunError::Interrupted { message, .. }) => {
            eprintln!("advp: {message}");
            130
        }
        Err(crate::runtime::exec::RunError::Diagnostics(diags)) => {
            print_diagnostics(&diags, &program.sources);
            eprintln!(
                "error: advp stopped: {} problem(s) in {}",
                diags.len(),
                file.display()
            );
            1
        }
    }
}
