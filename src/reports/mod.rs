//! Reports: the tables of evaluations (Markdown like the paper, CSV, JSON), the
//! adversarial clips, training metrics and figures — written atomically under
//! `--out`, from the typed results ([`crate::results`]) that finished nodes
//! left in the cache. What each report statement writes comes lowered
//! ([`ReportSpec`]): its format is the built-in table's, decided once.

pub mod examples;
pub mod figures;
pub mod html;
pub mod inputs;
pub mod plots;
pub mod tables;

pub use examples::examples;
pub use figures::figure;
pub use tables::{csv, eps_label, markdown, Grid};

use crate::language::ast::DeclKind;
use crate::language::builtins::{self, Format, ReportMode};
use crate::language::diagnostic::{Code, Diagnostic};
use crate::language::program::{Node, Program, ReportNode};
use crate::results::{AnalysisResult, ClaimResult, ClipRecord, EpochMetrics, EvalResult};
use crate::runtime::cache::Cache;
use crate::runtime::spec::{ClaimSpec, ReportSpec};
use std::path::{Path, PathBuf};

/// Where each seed's results are: `keys[k][i]` is node `i`'s cache key under
/// `seeds[k]` (one replicate per seed), and the claims to test on them.
pub struct Replicates<'a> {
    pub seeds: Vec<u64>,
    pub keys: Vec<&'a [String]>,
    pub cache: &'a Cache,
    pub claims: &'a [ClaimSpec],
    /// `cached[k][i]`: node `i`'s entry under the `k`-th seed is finished and
    /// matches its manifest, as the runner checked it (`Runner::is_cached`,
    /// once a run), so the page never hashes an entry again.
    pub cached: Vec<Vec<bool>>,
    /// Each evaluation's tested claims, once: the run's output, every report
    /// and the page read them (the bootstrap is not redone for each).
    pub tested: std::cell::RefCell<std::collections::HashMap<usize, Vec<ClaimResult>>>,
}

impl Replicates<'_> {
    /// Node `i`'s finished entry under the `k`-th seed.
    pub fn dir(&self, k: usize, i: usize) -> PathBuf {
        self.cache.done(&self.keys[k][i])
    }

    /// Whether node `i` is finished under every seed.
    pub fn done(&self, i: usize) -> bool {
        (0..self.seeds.len()).all(|k| self.dir(k, i).exists())
    }

    /// Node `i`'s per-clip records under each seed, each marked with its seed.
    pub fn records(&self, i: usize) -> Result<Vec<Vec<ClipRecord>>, String> {
        (0..self.seeds.len())
            .map(|k| {
                let src = self.dir(k, i).join("records.jsonl");
                let text = std::fs::read_to_string(&src).map_err(|e| {
                    format!(
                        "cannot read {}: {e} (results of an advp before per-clip records: run with `--force`)",
                        src.display()
                    )
                })?;
                let mut records = ClipRecord::parse_jsonl(&text)
                    .map_err(|e| format!("{} is corrupt: {e}", src.display()))?;
                records.iter_mut().for_each(|r| r.seed = Some(self.seeds[k]));
                Ok(records)
            })
            .collect()
    }

    /// How long each trained model of an evaluation took to train: the sum
    /// of the epochs' seconds in its own cache entry (models that were not
    /// trained have none).
    fn train_seconds(&self, result: &EvalResult) -> std::collections::BTreeMap<String, f64> {
        result
            .model_keys
            .iter()
            .filter_map(|(label, key)| {
                let metrics = crate::results::read_metrics(&self.cache.done(key)).ok()?;
                (!metrics.is_empty())
                    .then(|| (label.clone(), metrics.iter().map(|l| l.seconds).sum()))
            })
            .collect()
    }

    /// The claims of evaluation `i`, tested on its records over every seed.
    pub fn claims(&self, i: usize) -> Result<Vec<ClaimResult>, String> {
        if let Some(done) = self.tested.borrow().get(&i) {
            return Ok(done.clone());
        }
        let tested = self.test_claims(i)?;
        self.tested.borrow_mut().insert(i, tested.clone());
        Ok(tested)
    }

    fn test_claims(&self, i: usize) -> Result<Vec<ClaimResult>, String> {
        let specs: Vec<&ClaimSpec> = self.claims.iter().filter(|c| c.eval == i).collect();
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let records = self.records(i)?;
        specs
            .iter()
            .map(|c| {
                crate::results::replicates::test_claim(
                    &c.claim,
                    &c.attack,
                    c.eps,
                    &self.seeds,
                    &records,
                )
            })
            .collect()
    }

    /// Node `i`'s result over every seed: an evaluation's tables combined
    /// over the seeds ([`crate::results::replicates::combine`]) with its
    /// claims tested; a training's or an analysis's, the first seed's. One
    /// seed and no claims: the entry as it is, its text byte for byte.
    pub fn load(&self, node: &Node, i: usize) -> Result<NodeResult, String> {
        let first = NodeResult::load(node, &self.dir(0, i))?;
        let NodeResult::Eval { mut result, text } = first else {
            return Ok(first);
        };
        let claims = self.claims(i)?;
        if self.seeds.len() == 1 && claims.is_empty() {
            result.train_seconds = self.train_seconds(&result);
            return Ok(NodeResult::Eval { result, text });
        }
        let mut all = vec![*result];
        for k in 1..self.seeds.len() {
            match NodeResult::load(node, &self.dir(k, i))? {
                NodeResult::Eval { result, .. } => all.push(*result),
                _ => {
                    return Err(format!(
                        "`{}`: a seed's entry is not an evaluation",
                        node.name
                    ))
                }
            }
        }
        for r in &mut all {
            r.train_seconds = self.train_seconds(r);
        }
        let mut result = if all.len() == 1 {
            all.remove(0)
        } else {
            crate::results::replicates::combine(&self.seeds, &all)
        };
        result.claims = claims;
        let result = Box::new(result);
        let v = serde_json::to_value(&result).map_err(|e| e.to_string())?;
        let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())? + "\n";
        Ok(NodeResult::Eval { result, text })
    }
}

/// A finished node's result, read from its cache folder, with the text it
/// was read from (a `.json` report copies it byte for byte).
pub enum NodeResult {
    Eval {
        result: Box<EvalResult>,
        text: String,
    },
    Analysis {
        result: AnalysisResult,
        text: String,
    },
    Training {
        metrics: Vec<EpochMetrics>,
        text: String,
    },
}

impl NodeResult {
    /// What node `node` left in `dir`, read as the type its kind writes.
    pub fn load(node: &Node, dir: &Path) -> Result<NodeResult, String> {
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path)
                .map(|t| (path.clone(), t))
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let corrupt = |path: &Path, e: String| format!("{} is corrupt: {e}", path.display());
        match builtins::reports_as(node.kind, &node.builtin) {
            Some(DeclKind::Eval) => {
                let (path, text) = read("result.json")?;
                let result =
                    serde_json::from_str(&text).map_err(|e| corrupt(&path, e.to_string()))?;
                Ok(NodeResult::Eval { result, text })
            }
            Some(DeclKind::Analyze) => {
                let (path, text) = read("result.json")?;
                let result =
                    serde_json::from_str(&text).map_err(|e| corrupt(&path, e.to_string()))?;
                Ok(NodeResult::Analysis { result, text })
            }
            Some(DeclKind::Train) => {
                let (path, text) = read("metrics.jsonl")?;
                let metrics = EpochMetrics::parse_jsonl(&text).map_err(|e| corrupt(&path, e))?;
                Ok(NodeResult::Training { metrics, text })
            }
            _ => Err(format!("`{}` has no results to report", node.name)),
        }
    }
}

fn err(r: &ReportNode, message: String) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::new(Code::NodeFailed, r.file, r.span, message)
            .label("this report")
            .help("results stay in the cache; fix the cause and run again to write the report"),
    )
}

/// The bytes of one results report (tables, metrics, figures, a node page).
fn render(
    program: &Program,
    node: &Node,
    result: &NodeResult,
    format: Format,
) -> Result<Vec<u8>, String> {
    Ok(match (format, result) {
        (Format::Html, _) => html::node_page(node, result).into_bytes(),
        (Format::Svg, _) => plots::render(&figure(&node.name, result), plots::Format::Svg)?,
        (Format::Png, _) => plots::render(&figure(&node.name, result), plots::Format::Png)?,
        (Format::Markdown, NodeResult::Eval { result, .. }) => {
            let mut md = markdown(&node.name, &tables::Context::of(result), &result.rows);
            let note = tables::pipeline_note(result);
            if !note.is_empty() {
                md.push('\n');
                md.push_str(&note);
            }
            let flags = tables::flags_markdown(result);
            if !flags.is_empty() {
                md.push('\n');
                md.push_str(&flags);
            }
            md.push_str(&tables::norms_markdown(&result.rows));
            md.push_str(&tables::claims_markdown(&result.claims));
            md.into_bytes()
        }
        (Format::Csv, NodeResult::Eval { result, .. }) => {
            let seeds = if result.seeds.is_empty() {
                vec![program.settings.seed]
            } else {
                result.seeds.clone()
            };
            csv(&result.rows, &seeds, &tables::Context::of(result)).into_bytes()
        }
        (
            Format::Markdown,
            NodeResult::Analysis {
                result: crate::results::AnalysisResult::Certify(c),
                ..
            },
        ) => tables::certify_markdown(&node.name, c).into_bytes(),
        (Format::Markdown, NodeResult::Analysis { result, .. }) => {
            tables::csv_markdown(&node.name, &tables::analysis_csv(result)).into_bytes()
        }
        (Format::Csv, NodeResult::Analysis { result, .. }) => {
            tables::analysis_csv(result).into_bytes()
        }
        (Format::Csv, NodeResult::Training { metrics, .. }) => {
            EpochMetrics::csv(metrics).into_bytes()
        }
        (Format::Jsonl, NodeResult::Training { text, .. }) => text.clone().into_bytes(),
        (Format::Json, NodeResult::Training { metrics, .. }) => {
            let v = serde_json::json!({ "node": node.name, "epochs": metrics });
            serde_json::to_string_pretty(&v)
                .map_err(|e| e.to_string())?
                .into_bytes()
        }
        (Format::Json, NodeResult::Eval { text, .. } | NodeResult::Analysis { text, .. }) => {
            text.clone().into_bytes()
        }
        (f, _) => {
            return Err(format!(
                "`{}` has no `.{}` report",
                node.name,
                f.extension()
            ))
        }
    })
}

/// An examples folder that would replace something advp did not make.
fn foreign(r: &ReportNode, dest: &Path) -> Diagnostic {
    let what = match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => "a folder",
        Ok(m) if m.file_type().is_symlink() => "a symbolic link",
        _ => "a file",
    };
    Diagnostic::new(
        Code::ForeignFolder,
        r.file,
        r.span,
        format!(
            "`{}` examples would replace {}, {what} advp did not make",
            r.target,
            dest.display()
        ),
    )
    .label("this report")
    .help(format!(
        "pick another path for the examples, or remove it yourself ({}) if nothing in it is needed; advp replaces only folders it wrote (they hold `{}`)",
        dest.display(),
        crate::util::FOLDER_MARK
    ))
}

/// Every examples report of `targets` whose folder exists now and is not
/// advp's to replace: refused before any work.
pub fn foreign_folders(
    program: &Program,
    reports: &[ReportSpec],
    targets: &[usize],
    out: &Path,
) -> Vec<Diagnostic> {
    reports
        .iter()
        .filter(|s| s.mode == ReportMode::Examples && targets.contains(&s.target))
        .filter_map(|s| {
            let dest = out.join(&s.path);
            (!crate::util::replaceable(&dest))
                .then(|| foreign(&program.reports[s.statement], &dest))
        })
        .collect()
}

/// Stages every report whose target is among `targets` (finished or cached)
/// in `staged`; the caller commits the set once it is whole.
pub fn write_all(
    program: &Program,
    reports: &[ReportSpec],
    targets: &[usize],
    replicates: &Replicates,
    out: &Path,
    staged: &mut crate::util::Staged,
) -> Result<Vec<PathBuf>, Box<Diagnostic>> {
    let mut written = Vec::new();
    for spec in reports {
        if !targets.contains(&spec.target) {
            continue;
        }
        let r = &program.reports[spec.statement];
        let node = &program.nodes[spec.target];
        // Clips and weights are one seed's: the first.
        let dir = replicates.dir(0, spec.target);
        let dest = out.join(&spec.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| err(r, format!("cannot create {}: {e}", parent.display())))?;
            // The checker keeps `..` out of report paths; a symbolic link
            // inside the output folder must not lead the report out either.
            let (inside, base) = (parent.canonicalize(), out.canonicalize());
            if let (Ok(inside), Ok(base)) = (inside, base) {
                if !inside.starts_with(&base) {
                    return Err(err(
                        r,
                        format!(
                            "`{}` would be written to {}, outside the output folder {} (through a symbolic link)",
                            spec.path,
                            inside.display(),
                            base.display()
                        ),
                    ));
                }
            }
        }
        let bytes = match spec.mode {
            ReportMode::Examples => {
                let src = dir.join("adversarial.safetensors");
                // Replaced whole: only a folder advp made.
                if !crate::util::replaceable(&dest) {
                    return Err(Box::new(foreign(r, &dest)));
                }
                let tmp = staged.folder(&dest).map_err(|e| err(r, e.to_string()))?;
                // The first seed's records choose the clips (its clips are stored).
                let records = replicates
                    .records(spec.target)
                    .map_err(|e| err(r, e))?
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                let files = examples(&node.name, &src, &records, &tmp).map_err(|e| err(r, e))?;
                written.extend(
                    files
                        .iter()
                        .filter_map(|f| f.file_name().map(|n| dest.join(n))),
                );
                continue;
            }
            ReportMode::Adversarial => {
                let src = dir.join("adversarial.safetensors");
                std::fs::read(&src)
                    .map_err(|e| err(r, format!("cannot read {}: {e}", src.display())))?
            }
            ReportMode::PerClip => {
                // Every seed's records, each marked with its seed.
                let records: Vec<ClipRecord> = replicates
                    .records(spec.target)
                    .map_err(|e| err(r, e))?
                    .concat();
                match spec.format {
                    Format::Csv => ClipRecord::csv(&records).into_bytes(),
                    _ => ClipRecord::jsonl(&records).into_bytes(),
                }
            }
            ReportMode::Weights => {
                // The trained classifier: its named tensors, or the whole
                // TorchScript module with its buffers (written for models
                // that came in as TorchScript).
                // An `ape_gan` defense's trained network is its generator G.
                let file = match node.kind {
                    crate::language::ast::DeclKind::Defense => "generator.safetensors",
                    _ => "weights.safetensors",
                };
                let src = match spec.format {
                    Format::Pt => crate::runtime::models::module_path(&dir.join(file)),
                    _ => dir.join(file),
                };
                if spec.format == Format::Pt && !src.exists() {
                    return Err(err(
                        r,
                        format!(
                            "`{}` is not a TorchScript model: its weights are written as `.safetensors` (load them with `safetensors.torch.load_file`, or into a `python` model's module with `load_state_dict`); `.pt` is the TorchScript module of a `torchscript` model",
                            node.name
                        ),
                    ));
                }
                std::fs::read(&src)
                    .map_err(|e| err(r, format!("cannot read {}: {e}", src.display())))?
            }
            ReportMode::ModelInfo => {
                let result = replicates.load(node, spec.target).map_err(|e| err(r, e))?;
                let NodeResult::Eval { result, .. } = result else {
                    return Err(err(r, "`model_info` reports an evaluation".into()));
                };
                tables::model_info(&result)
                    .map_err(|e| err(r, e))?
                    .into_bytes()
            }
            ReportMode::Results => {
                let result = replicates.load(node, spec.target).map_err(|e| err(r, e))?;
                render(program, node, &result, spec.format).map_err(|e| err(r, e))?
            }
        };
        staged
            .file(&dest, &bytes)
            .map_err(|e| err(r, e.to_string()))?;
        written.push(dest);
    }
    Ok(written)
}
