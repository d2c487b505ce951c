//! Models: built from a scoped VarStore (or loaded as TorchScript), with weights
//! from safetensors or a PyTorch state dict.

mod c3d;
mod layers;

pub mod ape_nets;
#[cfg(feature = "python")]
pub mod python;
pub mod python_spec;
pub mod resnet;
pub mod torchscript;

use self::c3d::C3dSmall;
use self::torchscript::{
    ivalue_kind, libtorch_text, one_line, pickled, ScriptError, ScriptErrorKind,
};
use crate::language::program::Precision;
use crate::runtime::error::{NodeError, NodeResult};
use std::path::Path;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// What a `model` node describes; `build` makes a fresh copy.
#[derive(Clone, Debug, PartialEq)]
pub enum Arch {
    C3dSmall {
        width: i64,
    },
    R3d {
        depth: i64,
    },
    ResNext101 {
        cardinality: i64,
    },
    TorchScript {
        path: std::path::PathBuf,
    },
    /// A user's `nn.Module`, built by its factory from a Python file or
    /// module and run in this process (`python`).
    Python(Box<python_spec::PythonSpec>),
    /// 3D APE-GAN's generator (clips → restored clips of the same shape).
    ApeGenerator {
        width: i64,
        /// Outputs x + G's map, clamped to the image, instead of the map
        /// through a sigmoid ([`ape_nets::Generator`]).
        residual: bool,
    },
    /// 3D APE-GAN's discriminator for clips of T×H×W = `shape` (clips → one logit).
    ApeDiscriminator {
        width: i64,
        shape: [i64; 3],
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub arch: Arch,
    pub classes: i64,
    pub pretrained: Option<std::path::PathBuf>,
}

enum Body {
    Native(Box<dyn ModuleT>),
    /// A user's exported module; its train/eval mode is switched per call.
    Script(std::cell::RefCell<tch::CModule>),
    /// A user's Python module; its mode is switched per call.
    #[cfg(feature = "python")]
    Python(Box<python::PyModel>),
}

/// A classifier F: N×C×T×H×W in [0, 1] → N×classes logits.
pub struct Net {
    pub vs: nn::VarStore,
    body: Body,
    pub classes: i64,
    /// The forward pass's precision: fp32, or autocast to bf16 or fp16
    /// ([`crate::runtime::precision`]); the logits are fp32 either way.
    pub precision: Precision,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Net({} classes)", self.classes)
    }
}

impl Net {
    /// A fresh model: weights initialised from libtorch's generator (seed it first),
    /// then the pretrained weights if any.
    pub fn build(spec: &ModelSpec, device: Device) -> NodeResult<Net> {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let body = match &spec.arch {
            Arch::C3dSmall { width } => {
                Body::Native(Box::new(C3dSmall::new(&root, *width, spec.classes)))
            }
            Arch::R3d { depth } => {
                Body::Native(Box::new(resnet::r3d(&root, *depth, spec.classes)?))
            }
            Arch::ResNext101 { cardinality } => Body::Native(Box::new(resnet::resnext101(
                &root,
                spec.classes,
                *cardinality,
            )?)),
            Arch::ApeGenerator { width, residual } => Body::Native(Box::new(
                ape_nets::Generator::new(&root, *width).residual(*residual),
            )),
            Arch::ApeDiscriminator { width, shape } => Body::Native(Box::new(
                ape_nets::Discriminator::new(&root, *width, *shape),
            )),
            Arch::TorchScript { path } => {
                // libtorch reads the path itself: a FIFO or a device is
                // refused before it can block or read without end.
                if let Some(why) = crate::util::not_regular(path) {
                    return Err(NodeError::Model(format!(
                        "{why}; `torchscript` loads a .pt file"
                    )));
                }
                let m = tch::CModule::load_on_device(path, device).map_err(|e| {
                    NodeError::Model(match pickled(path) {
                        Some(why) => format!("{} is {why}, not TorchScript", path.display()),
                        None => format!(
                            "cannot load the TorchScript module {}: {}",
                            path.display(),
                            libtorch_text(&e.to_string())
                        ),
                    })
                })?;
                Body::Script(std::cell::RefCell::new(m))
            }
            Arch::Python(p) => python_body(p, spec.classes, device)?,
        };
        let mut net = Net {
            vs,
            body,
            classes: spec.classes,
            precision: Precision::Fp32,
        };
        if let Some(w) = &spec.pretrained {
            net.load_weights(w)?;
        }
        Ok(net)
    }

    pub fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        if self.precision != Precision::Fp32 {
            return crate::runtime::precision::autocast(self.precision, self.vs.device(), || {
                self.forward_body(xs, train)
            });
        }
        self.forward_body(xs, train)
    }

    fn forward_body(&self, xs: &Tensor, train: bool) -> Tensor {
        match &self.body {
            Body::Native(m) => m.forward_t(xs, train),
            Body::Script(m) => {
                let mut m = m.borrow_mut();
                if train {
                    m.set_train();
                } else {
                    m.set_eval();
                }
                m.forward_ts(&[xs])
                    .unwrap_or_else(|e| panic!("{}", ScriptError::of(&e.to_string()).text))
            }
            #[cfg(feature = "python")]
            Body::Python(m) => m
                .forward(xs, train)
                .unwrap_or_else(|e| panic!("{}", e.text)),
        }
    }

    /// Every parameter and buffer by name, sorted, for checkpoints and optimizers.
    pub fn named(&self) -> Vec<(String, Tensor)> {
        match &self.body {
            Body::Script(m) => {
                let mut v = m.borrow().named_parameters().unwrap_or_default();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            }
            Body::Native(_) => {
                let mut v: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            }
            #[cfg(feature = "python")]
            Body::Python(m) => {
                let mut v = m.named();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            }
        }
    }

    /// Trainable parameters by name, sorted.
    pub fn trainable(&self) -> Vec<(String, Tensor)> {
        self.named()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect()
    }

    /// Copies `other`'s values into self (same architecture).
    pub fn copy_from(&mut self, named: &[(String, Tensor)]) -> NodeResult<()> {
        let mine = self.named();
        let _g = tch::no_grad_guard();
        for (name, t) in &mine {
            let Some((_, src)) = named.iter().find(|(n, _)| n == name) else {
                return Err(NodeError::Model(format!("weights lack `{name}`")));
            };
            if src.size() != t.size() {
                return Err(NodeError::Model(format!(
                    "`{name}` has shape {:?} in the weights but {:?} in the model",
                    src.size(),
                    t.size()
                )));
            }
            t.shallow_clone()
                .f_copy_(src)
                .map_err(|e| NodeError::Model(format!("copying `{name}`: {e}")))?;
        }
        Ok(())
    }

    /// Loads weights from `.safetensors` or a PyTorch `.pt`/`.pth` state dict: a
    /// `module.` prefix (DataParallel) is stripped, and a classifier of another
    /// class count is left freshly initialised (fine-tuning), with a note.
    pub fn load_weights(&mut self, path: &Path) -> NodeResult<Vec<String>> {
        if !path.exists() {
            return Err(NodeError::Model(format!(
                "pretrained weights {} do not exist; fix the path or drop `pretrained`",
                path.display()
            )));
        }
        if let Some(why) = crate::util::not_regular(path) {
            return Err(NodeError::Model(format!(
                "{why}; `pretrained` reads a weights file"
            )));
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        #[cfg(feature = "python")]
        if ext != "safetensors" && matches!(self.body, Body::Python(_)) {
            // A Python model's checkpoint is read by Python's torch.load.
            let loaded = python::read_checkpoint(path).map_err(|e| {
                NodeError::Model(format!(
                    "cannot read weights {} with `torch.load(weights_only=True)`: {e}",
                    path.display()
                ))
            })?;
            return self.take_weights(path, loaded);
        }
        let loaded: Vec<(String, Tensor)> = if ext == "safetensors" {
            Tensor::read_safetensors(path)
        } else {
            Tensor::loadz_multi(path).or_else(|_| Tensor::load_multi(path))
        }
        .map_err(|e| {
            NodeError::Model(format!(
                "cannot read weights {}: {}; a Python `torch.save` state dict (or a checkpoint holding one) converts with `scripts/to-safetensors {} weights.safetensors`",
                path.display(),
                one_line(&e),
                path.display()
            ))
        })?;
        self.take_weights(path, loaded)
    }

    /// The weights read from `path` copied into the net by name: a
    /// `module.` prefix (DataParallel) stripped, every misfit named at once.
    fn take_weights(
        &mut self,
        path: &Path,
        loaded: Vec<(String, Tensor)>,
    ) -> NodeResult<Vec<String>> {
        let loaded: Vec<(String, Tensor)> = loaded
            .into_iter()
            .map(|(n, t)| (n.strip_prefix("module.").unwrap_or(&n).to_string(), t))
            .collect();
        let mut notes = Vec::new();
        let (mut missing, mut shapes) = (Vec::new(), Vec::new());
        let ours = self.named();
        let _g = tch::no_grad_guard();
        for (name, t) in &ours {
            match loaded.iter().find(|(n, _)| n == name) {
                Some((_, src)) if src.size() == t.size() => {
                    t.shallow_clone()
                        .f_copy_(&src.to_kind(t.kind()))
                        .map_err(|e| NodeError::Model(format!("loading `{name}`: {e}")))?;
                }
                Some((_, src)) if name.starts_with("fc.") => notes.push(format!(
                    "`{name}` has shape {:?} in {} but {:?} here: the classifier is replaced (fresh weights)",
                    src.size(),
                    path.display(),
                    t.size()
                )),
                Some((_, src)) => shapes.push(format!("`{name}` {:?} in the file, {:?} in the model", src.size(), t.size())),
                None if name.ends_with("num_batches_tracked") => {}
                None => missing.push(format!("`{name}`")),
            }
        }
        let unexpected: Vec<String> = loaded
            .iter()
            .filter(|(n, _)| {
                !n.ends_with("num_batches_tracked") && !ours.iter().any(|(o, _)| o == n)
            })
            .map(|(n, _)| format!("`{n}`"))
            .collect();
        if !(missing.is_empty() && shapes.is_empty() && unexpected.is_empty()) {
            return Err(misfit(path, &missing, &shapes, &unexpected));
        }
        Ok(notes)
    }

    /// Saves every parameter and buffer as safetensors (through a temporary
    /// file). A TorchScript module's buffers (BatchNorm's running statistics)
    /// are not reachable by name through libtorch's C API, so the whole module
    /// is saved beside it too ([`module_path`]); [`Net::load_trained`] reads it.
    pub fn save(&self, path: &Path) -> NodeResult<()> {
        save_tensors(&self.named(), path)?;
        self.save_module(&module_path(path))
    }

    /// A TorchScript net's whole module (parameters and buffers), atomically;
    /// nothing for built-in nets, whose buffers are named tensors.
    pub fn save_module(&self, path: &Path) -> NodeResult<()> {
        let Body::Script(m) = &self.body else {
            return Ok(());
        };
        let tmp = path.with_extension(format!("pt.tmp{}", std::process::id()));
        let saved = m
            .borrow()
            .save(&tmp)
            .map_err(|e| one_line(&e))
            .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
        saved.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            NodeError::Failed(format!("cannot write {}: {e}", path.display()))
        })
    }

    /// Replaces a TorchScript net's module by the one saved at `path`
    /// (parameters and buffers); gives whether it did. The parameters are new
    /// tensors: optimizers built on the old ones must be built again.
    pub fn load_module(&mut self, path: &Path, device: Device) -> NodeResult<bool> {
        let Body::Script(m) = &self.body else {
            return Ok(false);
        };
        if !path.exists() {
            return Ok(false);
        }
        let loaded = tch::CModule::load_on_device(path, device).map_err(|e| damaged(path, &e))?;
        *m.borrow_mut() = loaded;
        Ok(true)
    }

    /// A trained net's weights from `path` (written by [`Net::save`]): the
    /// named tensors, and for TorchScript the saved module with its buffers.
    pub fn load_trained(&mut self, path: &Path, device: Device) -> NodeResult<()> {
        let named = Tensor::read_safetensors(path).map_err(|e| damaged(path, &e))?;
        self.copy_from(&named)?;
        self.load_module(&module_path(path), device)?;
        Ok(())
    }

    pub fn is_script(&self) -> bool {
        matches!(self.body, Body::Script(_))
    }

    /// One forward pass in eval mode that reports what went wrong instead of
    /// panicking: the module's own error ([`ScriptError`]), or an output that
    /// is not one tensor (a TorchScript `forward` may return anything).
    pub fn try_forward(&self, xs: &Tensor) -> Result<Tensor, ScriptError> {
        match &self.body {
            Body::Native(_) => catch_libtorch(|| self.forward(xs, false))
                .map_err(|e| ScriptError::of(&e.to_string())),
            Body::Script(m) => {
                let mut m = m.borrow_mut();
                m.set_eval();
                // In fp32 whatever the node's precision: what is checked
                // here (the output's type, shape, values, gradient) is the
                // module's, not the kernels'.
                let out = m.forward_is(&[tch::IValue::Tensor(xs.shallow_clone())]);
                match out.map_err(|e| ScriptError::of(&e.to_string()))? {
                    tch::IValue::Tensor(t) => Ok(t),
                    other => Err(ScriptError {
                        kind: ScriptErrorKind::NotATensor,
                        text: format!(
                            "forward() returns {}, not one tensor of logits",
                            ivalue_kind(&other)
                        ),
                    }),
                }
            }
            // In fp32, as a TorchScript module above.
            #[cfg(feature = "python")]
            Body::Python(m) => m.forward(xs, false),
        }
    }
}

/// A `python(…)` model's body: its module built in this process, or, in an
/// advp built without the bridge, why it cannot be.
fn python_body(spec: &python_spec::PythonSpec, classes: i64, device: Device) -> NodeResult<Body> {
    #[cfg(feature = "python")]
    {
        python::PyModel::build(spec, classes, device).map(|m| Body::Python(Box::new(m)))
    }
    #[cfg(not(feature = "python"))]
    {
        let _ = (spec, classes, device);
        Err(NodeError::Model(
            "this advp was built without the Python bridge (`--no-default-features`, for a LIBTORCH without Python), so it cannot run `python(…)` models; build it with the default features".into(),
        ))
    }
}

/// Weights that do not fit a net: every mismatch at once (names missing
/// from the file, of another shape, in the file only), each list cut at ten.
fn misfit(path: &Path, missing: &[String], shapes: &[String], unexpected: &[String]) -> NodeError {
    // Every mismatch at once, each list cut at ten names.
    let list = |what: &str, v: &[String]| {
        if v.is_empty() {
            return None;
        }
        let more = v.len().saturating_sub(10);
        Some(format!(
            "{} {what}: {}{}",
            v.len(),
            v[..v.len().min(10)].join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ))
    };
    let parts: Vec<String> = [
        list("missing from the file", missing),
        list("of another shape", shapes),
        list("in the file but not in the model", unexpected),
    ]
    .into_iter()
    .flatten()
    .collect();
    NodeError::Model(format!(
        "the weights in {} do not fit this architecture: {}; is it a state dict for this model (its depth, width, input)?",
        path.display(),
        parts.join("; ")
    ))
}

/// A file advp wrote (a trained net's weights or module, a checkpoint's)
/// that does not read back.
fn damaged(path: &Path, e: &tch::TchError) -> NodeError {
    NodeError::Damaged {
        path: path.to_path_buf(),
        message: format!("cannot read {}: {e}", path.display()),
    }
}

/// Where a TorchScript net's whole module is saved beside its weights:
/// `weights.safetensors` → `weights.module.pt`.
pub fn module_path(weights: &Path) -> std::path::PathBuf {
    weights.with_extension("module.pt")
}

/// Writes named tensors as safetensors atomically (temporary file, fsync, rename).
pub fn save_tensors(named: &[(String, Tensor)], path: &Path) -> NodeResult<()> {
    let tmp = path.with_extension(format!("tmp{}.safetensors", std::process::id()));
    let cpu: Vec<(String, Tensor)> = named
        .iter()
        .map(|(n, t)| (n.clone(), t.to_device(Device::Cpu).contiguous()))
        .collect();
    // Any failure (a full disk) removes the temporary and names `path`.
    Tensor::write_safetensors(&cpu, &tmp)
        .map_err(|e| one_line(&e))
        .and_then(|()| {
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .and_then(|_| std::fs::rename(&tmp, path))
                .map_err(|e| e.to_string())
        })
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            // The temporary is gone: the message names the file meant.
            let e = e.replace(&tmp.display().to_string(), &path.display().to_string());
            NodeError::Failed(format!("cannot write {}: {e}", path.display()))
        })
}

/// What stopped a computation [`catch_libtorch`] ran.
#[derive(Clone, Debug, PartialEq)]
pub enum Caught {
    /// A libtorch error (or a model's own), its text cleaned ([`libtorch_text`]).
    Failed(String),
}

impl std::fmt::Display for Caught {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caught::Failed(m) => f.write_str(m),
        }
    }
}

/// Runs `f`, turning a libtorch panic (tch panics on C++ exceptions in its
/// non-`f_` calls, e.g. a shape error inside a model) into its message
/// without C++ frames.
pub fn catch_libtorch<T>(f: impl FnOnce() -> T) -> Result<T, Caught> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    out.map_err(|e| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "libtorch failed".into());
        Caught::Failed(libtorch_text(&msg))
    })
}

/// Checks that a model accepts clips of this shape and gives `classes` logits,
/// before any training starts.
pub fn check_shape(net: &Net, shape: &[i64], classes: i64) -> NodeResult<()> {
    let mut dims = vec![1];
    dims.extend_from_slice(shape);
    let x = Tensor::zeros(&dims[..], (Kind::Float, net.vs.device()));
    let out = catch_libtorch(|| {
        let _g = tch::no_grad_guard();
        net.forward(&x, false)
    })
    .map_err(|e| {
        NodeError::Model(format!(
            "the model does not accept clips of shape C×T×H×W = {shape:?}: {e}"
        ))
    })?;
    let got = out.size();
    if got.len() != 2 || got[1] != classes {
        return Err(NodeError::Model(format!(
            "the model gives outputs of shape {got:?} for one clip, but the data has {classes} classes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c3d(classes: i64) -> Net {
        Net::build(
            &ModelSpec {
                arch: Arch::C3dSmall { width: 2 },
                classes,
                pretrained: None,
            },
            Device::Cpu,
        )
        .unwrap()
    }

    #[test]
    fn weights_load_with_a_module_prefix_and_a_replaced_classifier() {
        let dir = tempfile::tempdir().unwrap();
        tch::manual_seed(1);
        let a = c3d(4);
        // As DataParallel saves them: every name behind `module.`.
        let named: Vec<(String, Tensor)> = a
            .named()
            .into_iter()
            .map(|(n, t)| (format!("module.{n}"), t))
            .collect();
        let path = dir.path().join("w.safetensors");
        save_tensors(&named, &path).unwrap();

        tch::manual_seed(2);
        let mut same = c3d(4);
        assert!(same.load_weights(&path).unwrap().is_empty());
        for ((n, x), (_, y)) in a.named().iter().zip(same.named()) {
            assert!(x.equal(&y), "{n} differs after loading");
        }

        tch::manual_seed(3);
        let mut other = c3d(7);
        let notes = other.load_weights(&path).unwrap();
        assert_eq!(notes.len(), 2, "fc.weight and fc.bias replaced: {notes:?}");
        assert!(notes[0].contains("classifier is replaced"));
        let conv = |n: &Net| {
            n.named()
                .into_iter()
                .find(|(k, _)| k == "conv1.weight")
                .unwrap()
                .1
        };
        assert!(conv(&a).equal(&conv(&other)));

        let missing = dir.path().join("nope.safetensors");
        let err = match c3d(4).load_weights(&missing).unwrap_err() {
            NodeError::Model(e) => e,
            other => panic!("expected a model error, got {other:?}"),
        };
        assert!(err.contains("nope.safetensors"), "{err}");
    }

    #[test]
    fn shape_check_names_the_problem() {
        let net = c3d(4);
        assert!(check_shape(&net, &[3, 4, 16, 16], 4).is_ok());
        let model_error = |shape: &[i64], classes| match check_shape(&net, shape, classes) {
            Err(NodeError::Model(e)) => e,
            other => panic!("expected a model error, got {other:?}"),
        };
        let e = model_error(&[3, 4, 16, 16], 5);
        assert!(e.contains("5 classes"), "{e}");
        let e = model_error(&[1, 4, 16, 16], 4);
        assert!(e.contains("does not accept clips"), "{e}");
    }
}
