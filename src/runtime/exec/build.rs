//! Building blocks from their specs: datasets, networks (fresh or trained),
//! the defenses in front of a classifier, working folders, fitted lines.

use super::{RunError, Runner};
use crate::language::diagnostic::Code;
use crate::results::FitResult;
use crate::runtime::data::frames;
use crate::runtime::data::{self, Dataset};
use crate::runtime::defenses::Defense;
use crate::runtime::error::NodeError;
use crate::runtime::models::{self, Arch, ModelSpec, Net};
use crate::runtime::rng::{hash_str, mix};
use crate::runtime::spec::{
    ApeGanSpec, Classes, ClassifierId, DataId, DataSpec, DefenseSpec, FrontId, Learning, ModelId,
    ModelRef, NodeId, SplitName, StepRule, TrainNode,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

impl Runner<'_> {
    pub(super) fn dataset(&mut self, id: DataId) -> Result<Rc<Dataset>, RunError> {
        if let Some(d) = self.data.get(&id) {
            return Ok(d.clone());
        }
        let i = id.node();
        let d = match self.lowered.data(id) {
            DataSpec::Synthetic(args) => Ok(data::synthetic(args)),
            DataSpec::Tensors { path, val } => data::tensors(path, *val),
            DataSpec::Frames { args, root } => {
                self.progress
                    .line(&format!("{}: indexing {root}", self.program.nodes[i].name));
                data::frame_folders(args)
            }
            DataSpec::Videos { args, root } => {
                self.progress.line(&format!(
                    "{}: indexing and opening the videos of {root}",
                    self.program.nodes[i].name
                ));
                data::video_files(args)
            }
        }
        .map_err(|e| self.fail(i, e))?;
        let warnings = short_videos(&self.program.nodes[i].name, &d)
            .into_iter()
            .chain(unreadable_videos(&self.program.nodes[i].name, &d));
        for warning in warnings {
            // Once a process, however many replicates read the data.
            static SAID: std::sync::Mutex<std::collections::BTreeSet<String>> =
                std::sync::Mutex::new(std::collections::BTreeSet::new());
            if SAID
                .lock()
                .map_or(true, |mut said| said.insert(warning.clone()))
            {
                self.progress.line(&warning);
            }
        }
        let d = Rc::new(d);
        self.data.insert(id, d.clone());
        Ok(d)
    }

    /// A split with no clips, read by node `node`, stops the run before any
    /// work: its every cell would be 0 of 0 clips (shown as 0.0 ± 50.0). The
    /// error names the split and where its clips come from.
    pub(super) fn refuse_empty_split(
        &self,
        node: NodeId,
        d: DataId,
        split: SplitName,
        data: &Dataset,
    ) -> Result<(), RunError> {
        if !data.split(split.as_str()).is_empty() {
            return Ok(());
        }
        let name = &self.program.nodes[d.node()].name;
        let source = match self.lowered.data(d) {
            DataSpec::Tensors { path, val } => match split {
                SplitName::Test => format!("`x_test` in {} holds no clips", path.display()),
                SplitName::Val => format!(
                    "`val: {val}` holds out no clip of `x` in {}",
                    path.display()
                ),
                SplitName::Train => format!("`x` in {} leaves no training clip", path.display()),
            },
            DataSpec::Frames { args, root } => {
                let list = match (args.kind, split) {
                    (frames::Kind::Ucf101, SplitName::Test) => {
                        format!("testlist{:02}.txt", args.split)
                    }
                    (frames::Kind::Ucf101, _) => format!("trainlist{:02}.txt", args.split),
                    (frames::Kind::Hmdb51, _) => format!("<class>_test_split{}.txt", args.split),
                };
                format!("the split list {list} under {root} lists no video for it")
            }
            DataSpec::Videos { root, .. } => format!(
                "{root} lists no usable video for it{}",
                match data.unreadable.len() {
                    0 => String::new(),
                    n => format!(" ({n} listed videos cannot be used)"),
                }
            ),
            DataSpec::Synthetic(_) => format!("`{name}` was given no {} clips", split.as_str()),
        };
        Err(RunError::Diagnostics(vec![self.diag(
            node,
            Code::EmptySplit,
            format!("`{name}.{}` has no clips: {source}", split.as_str()),
            "nothing was run; add clips to the split, or read another split",
        )]))
    }

    /// The model node `m` describes, its class count read off data if needed.
    fn model_spec(&mut self, m: ModelId) -> Result<ModelSpec, RunError> {
        let m = self.lowered.model(m).clone();
        let classes = match m.classes {
            Classes::Fixed(c) => c,
            Classes::Of(d) => self.dataset(d)?.classes,
            Classes::Unknown => 0,
        };
        Ok(ModelSpec {
            arch: m.arch,
            classes,
            pretrained: m.pretrained,
        })
    }

    /// A ready classifier: a model node's (fresh, seeded by its name) or a
    /// finished train node's (its weights from the cache).
    pub(super) fn net(&mut self, c: ClassifierId, for_node: NodeId) -> Result<Net, RunError> {
        match c {
            ClassifierId::Model(m) => {
                let spec = self.model_spec(m)?;
                let name = &self.program.nodes[m.node()].name;
                tch::manual_seed(mix(&[self.program.settings.seed, hash_str(name)]) as i64);
                let mut net =
                    Net::build(&spec, self.opts.device).map_err(|e| self.fail(for_node, e))?;
                net.precision = self.program.settings.precision;
                Ok(net)
            }
            ClassifierId::Train(t) => {
                let model = self.lowered.train(t).model.model;
                let mut net = self.net(model, for_node)?;
                let weights = self
                    .cache
                    .done(&self.keys[t.node()])
                    .join("weights.safetensors");
                net.load_trained(&weights, self.opts.device)
                    .map_err(|e| self.fail(for_node, e))?;
                Ok(net)
            }
        }
    }

    /// The SHA-256 of the file that holds a classifier's weights, if any: a
    /// trained model's weights in the cache (its module beside them for
    /// TorchScript), from the entry's manifest; a `torchscript` module or
    /// `pretrained` weights, hashed.
    pub(super) fn weights_sha256(&mut self, c: ClassifierId) -> Option<String> {
        match c {
            ClassifierId::Train(t) => {
                let dir = self.cache.done(&self.keys[t.node()]);
                let file = if dir.join("weights.module.pt").exists() {
                    "weights.module.pt"
                } else {
                    "weights.safetensors"
                };
                crate::runtime::cache::manifest_sha256(&dir, file)
                    .or_else(|| crate::runtime::cache::sha256_file(&dir.join(file)).ok())
            }
            ClassifierId::Model(m) => {
                let spec = self.model_spec(m).ok()?;
                let path = match spec.arch {
                    crate::runtime::models::Arch::TorchScript { path } => path,
                    _ => spec.pretrained?,
                };
                crate::runtime::cache::sha256_file(&path).ok()
            }
        }
    }

    /// The frozen defenses in front of a classifier, in the order they run:
    /// a train node's `preprocess`, its `d >> model` defenses, then those of
    /// the model it started from (a train node's preprocessing stays with its
    /// weights when it is evaluated or trained further).
    pub(super) fn front(&self, c: ClassifierId) -> Vec<FrontId> {
        let ClassifierId::Train(gat) = c else {
            return Vec::new();
        };
        let t = self.lowered.train(gat);
        // GAT's own generator runs first; then what its classifier saw.
        let mut ids = match t.learning {
            Learning::Generative { ape } => vec![FrontId::Generator { gat, ape }],
            _ => Vec::new(),
        };
        ids.extend(self.input_front(t));
        ids
    }

    /// The frozen defenses a train node's classifier is trained behind.
    pub(super) fn input_front(&self, t: &TrainNode) -> Vec<FrontId> {
        let mut ids: Vec<FrontId> = t.preprocess.into_iter().map(FrontId::Defense).collect();
        ids.extend(t.model.defenses.iter().copied().map(FrontId::Defense));
        ids.extend(self.front(t.model.model));
        ids
    }

    /// The defenses in front of a model reference's classifier: the written
    /// ones (`d >> m`), then those the classifier was trained behind.
    pub(super) fn model_front(&self, m: &ModelRef) -> Vec<FrontId> {
        let mut ids: Vec<FrontId> = m.defenses.iter().copied().map(FrontId::Defense).collect();
        ids.extend(self.front(m.model));
        ids
    }

    /// The names of defense nodes, in order (what a result records).
    pub(super) fn names(&self, ids: &[FrontId]) -> Vec<String> {
        ids.iter()
            .map(|d| self.program.nodes[d.node()].name.clone())
            .collect()
    }

    /// The defenses given, built (trained ones are computed first if needed).
    pub(super) fn defenses(
        &mut self,
        ids: &[FrontId],
        for_node: NodeId,
    ) -> Result<Vec<Defense>, RunError> {
        ids.iter()
            .map(|&d| {
                self.ensure_done(d)?;
                self.defense(d, for_node)
            })
            .collect()
    }

    /// A trained APE-GAN generator of the shape `ape` gives, from the cache
    /// entry of node `weights` (the `ape_gan` defense itself, or a GAT node
    /// that trained it further), or its discriminator for clips of T×H×W =
    /// `discriminator_for`.
    pub(super) fn generator(
        &self,
        ape: &ApeGanSpec,
        weights: NodeId,
        for_node: NodeId,
        discriminator_for: Option<[i64; 3]>,
    ) -> Result<Net, RunError> {
        let width = ape.width;
        let arch = match discriminator_for {
            Some(shape) => Arch::ApeDiscriminator { width, shape },
            None => Arch::ApeGenerator {
                width,
                residual: ape.residual,
            },
        };
        let spec = ModelSpec {
            arch,
            classes: 0,
            pretrained: None,
        };
        let mut net = Net::build(&spec, self.opts.device).map_err(|e| self.fail(for_node, e))?;
        net.precision = self.program.settings.precision;
        let file = match discriminator_for {
            Some(_) => "discriminator.safetensors",
            None => "generator.safetensors",
        };
        let path = self.cache.done(&self.keys[weights]).join(file);
        let named = tch::Tensor::read_safetensors(&path).map_err(|e| {
            let message = format!("cannot read {}: {e}", path.display());
            self.fail(
                for_node,
                NodeError::Damaged {
                    path: path.clone(),
                    message,
                },
            )
        })?;
        net.copy_from(&named).map_err(|e| self.fail(for_node, e))?;
        Ok(net)
    }

    fn defense(&self, d: FrontId, for_node: NodeId) -> Result<Defense, RunError> {
        let mut g = match d {
            FrontId::Defense(id) => match self.lowered.defense(id) {
                DefenseSpec::VideoCompression { crf } => {
                    crate::runtime::defenses::ffmpeg().map_err(|e| self.fail(for_node, e))?;
                    return Ok(Defense::VideoCompression { crf: *crf });
                }
                DefenseSpec::ApeGan(ape) => self.generator(ape, id.node(), for_node, None)?,
            },
            FrontId::Generator { gat, ape } => {
                self.generator(self.lowered.ape(ape), gat.node(), for_node, None)?
            }
        };
        g.vs.freeze();
        Ok(Defense::Generator(Rc::new(g)))
    }

    /// The node's working folder in the cache (kept across runs for resuming), described.
    pub(super) fn workdir(&self, i: NodeId) -> Result<PathBuf, RunError> {
        // A rank other than 0 reads rank 0's folder (its checkpoint) and
        // writes nothing there.
        if !crate::runtime::dist::writes() {
            return Ok(self.cache.partial_path(&self.keys[i]));
        }
        let dir = self
            .cache
            .partial(&self.keys[i])
            .map_err(|e| self.fail(i, e))?;
        self.cache
            .describe(&dir, &self.program.nodes[i], &self.key_record(i))
            .map_err(|e| self.fail(i, e))?;
        Ok(dir)
    }

    pub(super) fn check_shapes(&self, i: NodeId, net: &Net, d: &Dataset) -> Result<(), RunError> {
        models::check_shape(net, &d.shape, d.classes).map_err(|e| {
            RunError::Diagnostics(vec![self.diag(
                i,
                Code::ShapeMismatch,
                e.to_string(),
                "make the model's `classes` match the data (e.g. `classes: ucf.classes`) and its input match the clips",
            )])
        })
    }

    /// (a, b) of every `step_fit` line a step-size rule names, computed first if needed.
    pub(super) fn fits(
        &mut self,
        i: NodeId,
        rule: &Option<StepRule>,
    ) -> Result<BTreeMap<String, (f64, f64)>, RunError> {
        let mut fits = BTreeMap::new();
        for (name, f) in rule.iter().flat_map(|r| r.fits.iter()) {
            self.ensure_done(*f)?;
            let path = self.cache.done(&self.keys[f.node()]).join("result.json");
            let fit: FitResult = crate::results::read_json(&path).map_err(|e| {
                let message = format!("cannot read the fit of `{name}`: {e}");
                self.fail(
                    i,
                    NodeError::Damaged {
                        path: path.clone(),
                        message,
                    },
                )
            })?;
            fits.insert(name.clone(), (fit.a, fit.b));
        }
        Ok(fits)
    }
}

/// The warning for frame folders whose test videos have fewer distinct
/// windows than the clips asked: each window is cut once, never twice.
fn short_videos(name: &str, d: &Dataset) -> Option<String> {
    let data::Clips::Frames(f) = &d.test else {
        return None;
    };
    let (short, cut, asked) = f.shortfall()?;
    Some(format!(
        "advp: warning: `{name}`: {short} of {} test videos have fewer distinct windows of {} \
         frames than the {} clips asked per video; each window is evaluated once: {cut} clips \
         instead of {asked}",
        f.videos.len(),
        f.frames,
        f.test_clips.unwrap_or(0),
    ))
}

/// Listed videos that are left out because they are missing or do not
/// decode: how many, and the first few with why (all are in the results).
fn unreadable_videos(name: &str, d: &Dataset) -> Option<String> {
    let bad = &d.unreadable;
    if bad.is_empty() {
        return None;
    }
    let shown: Vec<String> = bad
        .iter()
        .take(3)
        .map(|u| format!("{} ({})", u.video, u.why))
        .collect();
    Some(format!(
        "advp: warning: `{name}`: {} listed videos cannot be used and are left out of their \
         splits: {}{}; every result of this data lists them",
        bad.len(),
        shown.join(", "),
        if bad.len() > 3 { ", …" } else { "" }
    ))
}
