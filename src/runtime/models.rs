//! Models: built from a scoped VarStore (or loaded as TorchScript), with weights
//! from safetensors or a PyTorch state dict.

use super::resnet;
use crate::language::program::Precision;
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
    /// 3D APE-GAN's generator (clips → restored clips of the same shape).
    ApeGenerator {
        width: i64,
        /// Outputs x + G's map, clamped to the image, instead of the map
        /// through a sigmoid ([`super::ape_nets::Generator`]).
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
}

/// A classifier F: N×C×T×H×W in [0, 1] → N×classes logits.
pub struct Net {
    pub vs: nn::VarStore,
    body: Body,
    pub classes: i64,
    /// The forward pass's precision: fp32, or autocast to bf16 or fp16
    /// ([`super::precision`]); the logits are fp32 either way.
    pub precision: Precision,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Net({} classes)", self.classes)
    }
}

/// The small C3D-style network of the quick profiles: three conv–BN–ReLU–pool
/// stages (width, 2·width, 4·width channels), a global max over space-time (the
/// strongest local motion response: the target is small, and BatchNorm's running
/// statistics lag too far behind an average), a linear head.
#[derive(Debug)]
struct C3dSmall {
    convs: Vec<(nn::Conv3D, nn::BatchNorm)>,
    fc: nn::Linear,
}

impl C3dSmall {
    fn new(p: &nn::Path, width: i64, classes: i64) -> Self {
        let mut convs = Vec::new();
        let mut cin = 3;
        for i in 0..3 {
            let cout = width << i;
            convs.push((
                resnet::conv(p / format!("conv{}", i + 1), cin, cout, 3, 1, 1),
                resnet::batch_norm(p / format!("bn{}", i + 1), cout),
            ));
            cin = cout;
        }
        let fc = nn::linear(p / "fc", cin, classes, Default::default());
        C3dSmall { convs, fc }
    }
}

impl ModuleT for C3dSmall {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut h = xs.shallow_clone();
        for (i, (conv, bn)) in self.convs.iter().enumerate() {
            h = h.apply(conv).apply_t(bn, train).relu();
            // Keep time in the first stage, halve it afterwards.
            let k: [i64; 3] = if i == 0 { [1, 2, 2] } else { [2, 2, 2] };
            h = h.max_pool3d(k, k, [0, 0, 0], [1, 1, 1], true);
        }
        h.amax([2, 3, 4], false).apply(&self.fc)
    }
}

impl Net {
    /// A fresh model: weights initialised from libtorch's generator (seed it first),
    /// then the pretrained weights if any.
    pub fn build(spec: &ModelSpec, device: Device) -> Result<Net, String> {
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
                super::ape_nets::Generator::new(&root, *width).residual(*residual),
            )),
            Arch::ApeDiscriminator { width, shape } => Body::Native(Box::new(
                super::ape_nets::Discriminator::new(&root, *width, *shape),
            )),
            Arch::TorchScript { path } => {
                // libtorch reads the path itself: a FIFO or a device is
                // refused before it can block or read without end.
                if let Some(why) = crate::util::not_regular(path) {
                    return Err(format!("{why}; `torchscript` loads a .pt file"));
                }
                let m = tch::CModule::load_on_device(path, device).map_err(|e| {
                    match pickled(path) {
                        Some(why) => format!("{} is {why}, not TorchScript", path.display()),
                        None => format!(
                            "cannot load the TorchScript module {}: {}",
                            path.display(),
                            libtorch_text(&e.to_string())
                        ),
                    }
                })?;
                Body::Script(std::cell::RefCell::new(m))
            }
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
            return super::precision::autocast(self.precision, self.vs.device(), || {
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
    pub fn copy_from(&mut self, named: &[(String, Tensor)]) -> Result<(), String> {
        let mine = self.named();
        let _g = tch::no_grad_guard();
        for (name, t) in &mine {
            let Some((_, src)) = named.iter().find(|(n, _)| n == name) else {
                return Err(format!("weights lack `{name}`"));
            };
            if src.size() != t.size() {
                return Err(format!(
                    "`{name}` has shape {:?} in the weights but {:?} in the model",
                    src.size(),
                    t.size()
                ));
            }
            t.shallow_clone()
                .f_copy_(src)
                .map_err(|e| format!("copying `{name}`: {e}"))?;
        }
        Ok(())
    }

    /// Loads weights from `.safetensors` or a PyTorch `.pt`/`.pth` state dict: a
    /// `module.` prefix (DataParallel) is stripped, and a classifier of another
    /// class count is left freshly initialised (fine-tuning), with a note.
    pub fn load_weights(&mut self, path: &Path) -> Result<Vec<String>, String> {
        if !path.exists() {
            return Err(format!(
                "pretrained weights {} do not exist; fix the path or drop `pretrained`",
                path.display()
            ));
        }
        if let Some(why) = crate::util::not_regular(path) {
            return Err(format!("{why}; `pretrained` reads a weights file"));
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let loaded: Vec<(String, Tensor)> = if ext == "safetensors" {
            Tensor::read_safetensors(path)
        } else {
            Tensor::loadz_multi(path).or_else(|_| Tensor::load_multi(path))
        }
        .map_err(|e| {
            format!(
                "cannot read weights {}: {}; a Python `torch.save` state dict (or a checkpoint holding one) converts with `scripts/to-safetensors {} weights.safetensors`",
                path.display(),
                one_line(&e),
                path.display()
            )
        })?;
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
                        .map_err(|e| format!("loading `{name}`: {e}"))?;
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
                list("missing from the file", &missing),
                list("of another shape", &shapes),
                list("in the file but not in the model", &unexpected),
            ]
            .into_iter()
            .flatten()
            .collect();
            return Err(format!(
                "the weights in {} do not fit this architecture: {}; is it a state dict for this model (its depth, width, input)?",
                path.display(),
                parts.join("; ")
            ));
        }
        Ok(notes)
    }

    /// Saves every parameter and buffer as safetensors (through a temporary
    /// file). A TorchScript module's buffers (BatchNorm's running statistics)
    /// are not reachable by name through libtorch's C API, so the whole module
    /// is saved beside it too ([`module_path`]); [`Net::load_trained`] reads it.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        save_tensors(&self.named(), path)?;
        self.save_module(&module_path(path))
    }

    /// A TorchScript net's whole module (parameters and buffers), atomically;
    /// nothing for built-in nets, whose buffers are named tensors.
    pub fn save_module(&self, path: &Path) -> Result<(), String> {
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
            format!("cannot write {}: {e}", path.display())
        })
    }

    /// Replaces a TorchScript net's module by the one saved at `path`
    /// (parameters and buffers); gives whether it did. The parameters are new
    /// tensors: optimizers built on the old ones must be built again.
    pub fn load_module(&mut self, path: &Path, device: Device) -> Result<bool, String> {
        let Body::Script(m) = &self.body else {
            return Ok(false);
        };
        if !path.exists() {
            return Ok(false);
        }
        let loaded = tch::CModule::load_on_device(path, device)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        *m.borrow_mut() = loaded;
        Ok(true)
    }

    /// A trained net's weights from `path` (written by [`Net::save`]): the
    /// named tensors, and for TorchScript the saved module with its buffers.
    pub fn load_trained(&mut self, path: &Path, device: Device) -> Result<(), String> {
        let named = Tensor::read_safetensors(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
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
        }
    }
}

/// What a TorchScript `forward` returned instead of a tensor, in words.
fn ivalue_kind(v: &tch::IValue) -> String {
    use tch::IValue as V;
    match v {
        V::Tuple(t) => format!("a tuple of {} values", t.len()),
        V::GenericList(l) => format!("a list of {} values", l.len()),
        V::TensorList(l) => format!("a list of {} tensors", l.len()),
        V::GenericDict(_) => "a dict".into(),
        V::None => "None".into(),
        V::Double(_) | V::Int(_) | V::Bool(_) => "a number".into(),
        V::String(_) => "a string".into(),
        _ => "a value that is not a tensor".into(),
    }
}

/// What kind of failure a forward pass met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptErrorKind {
    /// The module's own `raise` (a `ValueError`, an `AssertionError`, …).
    Raised,
    /// A shape, size or channel count that does not fit.
    Shape,
    /// Any other error inside the module (a dtype, a device).
    Other,
    /// `forward` ran but returned something else than one tensor.
    NotATensor,
}

/// A failure of a model's forward pass as its author needs it: the error
/// line (the user's exception and message, or libtorch's shape or dtype
/// error) and the lines of their code it came through (TorchScript's
/// traceback of the original source), without C++ stack frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    pub kind: ScriptErrorKind,
    pub text: String,
}

impl ScriptError {
    /// From libtorch's text of the error (a `TchError`'s, or a panic's).
    pub fn of(raw: &str) -> ScriptError {
        let clean = libtorch_text(raw);
        let lines: Vec<&str> = clean.lines().collect();
        let last = lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map_or("", |l| l.trim());
        let error = last.strip_prefix("builtins.").unwrap_or(last).to_string();
        // The traceback through the user's own source, else the serialized one.
        let start = [
            "Traceback of TorchScript, original code",
            "Traceback of TorchScript",
        ]
        .iter()
        .find_map(|h| lines.iter().position(|l| l.starts_with(h)));
        let trace: Vec<&str> = match start {
            Some(s) => user_frames(&lines[s + 1..])
                .into_iter()
                .filter(|l| !l.trim().is_empty() && l.trim() != last)
                .collect(),
            None => Vec::new(),
        };
        let name = error.split(':').next().unwrap_or("");
        let raised = start.is_some()
            && !name.contains(' ')
            && (name.ends_with("Error") || name.ends_with("Exception"))
            && name != "RuntimeError";
        let lower = error.to_lowercase();
        let kind = if raised {
            ScriptErrorKind::Raised
        } else if [
            "shape",
            "size",
            "channel",
            "dimension",
            "dims",
            "expected input",
        ]
        .iter()
        .any(|w| lower.contains(w))
        {
            ScriptErrorKind::Shape
        } else {
            ScriptErrorKind::Other
        };
        let text = if trace.is_empty() {
            error
        } else {
            format!("{error}\n{}", trace.join("\n"))
        };
        ScriptError { kind, text }
    }
}

/// A traceback's frames in the user's own code: those in an installed
/// package (PyTorch's `nn.Linear`, …) are left out, unless no other is left.
fn user_frames<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut frames: Vec<Vec<&'a str>> = Vec::new();
    for l in lines {
        match frames.last_mut() {
            Some(f) if !l.trim_start().starts_with("File \"") => f.push(l),
            _ => frames.push(vec![l]),
        }
    }
    let library = |f: &Vec<&str>| {
        f[0].trim_start().starts_with("File \"")
            && (f[0].contains("/site-packages/") || f[0].contains("/dist-packages/"))
    };
    let own: Vec<&'a str> = frames
        .iter()
        .filter(|f| !library(f))
        .flatten()
        .copied()
        .collect();
    if own.iter().any(|l| l.trim_start().starts_with("File \"")) {
        own
    } else {
        lines.to_vec()
    }
}

/// libtorch's text of an error without what helps no user: `Result::unwrap()`
/// wrapping, escaped newlines of a debug-printed error, the C++ stack after
/// `Exception raised from`, `frame #N` lines.
pub fn libtorch_text(raw: &str) -> String {
    let mut t = raw.trim().to_string();
    if let Some(rest) = t.strip_prefix("called `Result::unwrap()` on an `Err` value: ") {
        t = rest.to_string();
    }
    // A debug-printed `TchError::Torch("…")`.
    if let Some(inner) = t
        .strip_prefix("Torch(\"")
        .and_then(|r| r.strip_suffix("\")"))
    {
        t = inner
            .replace("\\n", "\n")
            .replace("\\\"", "\"")
            .replace("\\'", "'");
    }
    for prefix in ["Internal torch error: ", "TorchScript forward failed: "] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.to_string();
        }
    }
    if let Some(at) = t.find("Exception raised from ") {
        t.truncate(at);
    }
    t.lines()
        .filter(|l| !l.trim_start().starts_with("frame #"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// Why a file given as TorchScript is a `torch.save` pickle instead: a zip
/// archive with `data.pkl` but no `code/` (`torch.save` of a module or a
/// state dict), or a legacy pickle (protocol 2 magic). `None` otherwise.
pub fn pickled(path: &Path) -> Option<&'static str> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut head = [0u8; 2];
    f.read_exact(&mut head).ok()?;
    if head == [0x80, 0x02] {
        return Some("a Python pickle (`torch.save`)");
    }
    if &head != b"PK" {
        return None;
    }
    // The zip's central directory is at its end: its file names are there.
    let tail = len.min(4 << 20);
    f.seek(SeekFrom::Start(len - tail)).ok()?;
    let mut buf = Vec::with_capacity(tail as usize);
    f.take(tail).read_to_end(&mut buf).ok()?;
    let mut names = Vec::new();
    let mut i = 0;
    while i + 46 <= buf.len() {
        if buf[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
            let n = u16::from_le_bytes([buf[i + 28], buf[i + 29]]) as usize;
            if let Some(name) = buf.get(i + 46..i + 46 + n) {
                names.push(String::from_utf8_lossy(name).into_owned());
            }
            i += 46 + n;
        } else {
            i += 1;
        }
    }
    let data = names.iter().any(|n| n.ends_with("data.pkl"));
    let code = names
        .iter()
        .any(|n| n.contains("/code/") || n.starts_with("code/"));
    (data && !code).then_some("a `torch.save` pickle (weights or a pickled module)")
}

/// A libtorch error as its first line (the C++ backtrace after it helps no user).
pub fn one_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("").trim();
    first
        .split(" Exception raised from ")
        .next()
        .unwrap_or(first)
        .to_string()
}

/// Where a TorchScript net's whole module is saved beside its weights:
/// `weights.safetensors` → `weights.module.pt`.
pub fn module_path(weights: &Path) -> std::path::PathBuf {
    weights.with_extension("module.pt")
}

/// Writes named tensors as safetensors atomically (temporary file, fsync, rename).
pub fn save_tensors(named: &[(String, Tensor)], path: &Path) -> Result<(), String> {
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
            format!("cannot write {}: {e}", path.display())
        })
}

/// What stopped a computation [`catch_libtorch`] ran.
#[derive(Clone, Debug, PartialEq)]
pub enum Caught {
    /// An attack or training step found no gradient to take.
    NoGradient(super::attacks::pgd::NoGradient),
    /// A libtorch error (or a model's own), its text cleaned ([`libtorch_text`]).
    Failed(String),
}

impl std::fmt::Display for Caught {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caught::NoGradient(e) => write!(f, "{e}"),
            Caught::Failed(m) => f.write_str(m),
        }
    }
}

/// Runs `f`, turning a libtorch panic (tch panics on C++ exceptions in its
/// non-`f_` calls, e.g. a shape error inside a model) into its message
/// without C++ frames, and a [`super::attacks::pgd::NoGradient`] into itself.
pub fn catch_libtorch<T>(f: impl FnOnce() -> T) -> Result<T, Caught> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    out.map_err(|e| {
        if let Some(g) = e.downcast_ref::<super::attacks::pgd::NoGradient>() {
            return Caught::NoGradient(g.clone());
        }
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
pub fn check_shape(net: &Net, shape: &[i64], classes: i64) -> Result<(), String> {
    let mut dims = vec![1];
    dims.extend_from_slice(shape);
    let x = Tensor::zeros(&dims[..], (Kind::Float, net.vs.device()));
    let out = catch_libtorch(|| {
        let _g = tch::no_grad_guard();
        net.forward(&x, false)
    })
    .map_err(|e| format!("the model does not accept clips of shape C×T×H×W = {shape:?}: {e}"))?;
    let got = out.size();
    if got.len() != 2 || got[1] != classes {
        return Err(format!(
            "the model gives outputs of shape {got:?} for one clip, but the data has {classes} classes"
        ));
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
        let err = c3d(4).load_weights(&missing).unwrap_err();
        assert!(err.contains("nope.safetensors"), "{err}");
    }

    /// libtorch's text of a `raise` inside a TorchScript module, as tch
    /// gives it, with C++ frames after it.
    const RAISED: &str =
        "Internal torch error: The following operation failed in the TorchScript interpreter.
Traceback of TorchScript, serialized code (most recent call last):
  File \"code/__torch__.py\", line 11, in forward
      ops.prim.RaiseException(_0, \"builtins.ValueError\")
      ~~~~~~~~~~~~~~~~~~~~~~~ <--- HERE

Traceback of TorchScript, original code (most recent call last):
  File \"/home/u/export.py\", line 33, in forward
            raise ValueError(\"wants 8 frames\")
            ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ <--- HERE
  File \"/venv/lib/python3.11/site-packages/torch/nn/modules/linear.py\", line 134, in forward
        return F.linear(input, self.weight, self.bias)
builtins.ValueError: wants 8 frames

Exception raised from run at /pytorch/torch/csrc/jit/interpreter.cpp:1:
frame #0: c10::Error::Error() + 0x1
frame #1: torch::jit::Code::run() + 0x2
";

    #[test]
    fn a_modules_error_keeps_the_users_exception_and_code_and_drops_cpp_frames() {
        let e = ScriptError::of(RAISED);
        assert_eq!(e.kind, ScriptErrorKind::Raised);
        assert!(
            e.text.starts_with("ValueError: wants 8 frames\n"),
            "{}",
            e.text
        );
        assert!(
            e.text.contains("/home/u/export.py\", line 33"),
            "{}",
            e.text
        );
        assert!(e.text.contains("raise ValueError"), "{}", e.text);
        for gone in [
            "Exception raised",
            "frame #",
            "code/__torch__",
            "site-packages",
            "Internal torch",
        ] {
            assert!(!e.text.contains(gone), "{gone} in {}", e.text);
        }
        // A panic of tch's `unwrap()`: the error's debug text, escaped.
        let unwrapped = format!(
            "called `Result::unwrap()` on an `Err` value: Torch({:?})",
            "mat1 and mat2 shapes cannot be multiplied (2x3 and 5x3)\nException raised from meta at x.cpp:1:\nframe #0: f()"
        );
        let e = ScriptError::of(&unwrapped);
        assert_eq!(e.kind, ScriptErrorKind::Shape);
        assert_eq!(
            e.text,
            "mat1 and mat2 shapes cannot be multiplied (2x3 and 5x3)"
        );
        assert_eq!(
            ScriptError::of("expected scalar type Float but found Double").kind,
            ScriptErrorKind::Other
        );
    }

    #[test]
    fn a_torch_save_pickle_is_told_from_torchscript() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join("legacy.pt");
        std::fs::write(&legacy, [0x80, 0x02, 0x8a, 0x0a]).unwrap();
        assert!(pickled(&legacy).is_some());
        // A zip's central directory entry: signature, fixed fields, name.
        let entry = |name: &str| {
            let mut e = vec![0x50, 0x4b, 0x01, 0x02];
            e.extend([0u8; 24]);
            e.extend((name.len() as u16).to_le_bytes());
            e.extend([0u8; 16]);
            e.extend(name.as_bytes());
            e
        };
        let zip = |names: &[&str]| {
            let mut z = b"PK\x03\x04".to_vec();
            for n in names {
                z.extend(entry(n));
            }
            z
        };
        let saved = dir.path().join("saved.pt");
        std::fs::write(&saved, zip(&["m/data.pkl", "m/data/0", "m/version"])).unwrap();
        assert!(pickled(&saved).is_some());
        let script = dir.path().join("script.pt");
        std::fs::write(
            &script,
            zip(&["m/data.pkl", "m/code/__torch__.py", "m/constants.pkl"]),
        )
        .unwrap();
        assert_eq!(pickled(&script), None);
    }

    #[test]
    fn shape_check_names_the_problem() {
        let net = c3d(4);
        assert!(check_shape(&net, &[3, 4, 16, 16], 4).is_ok());
        let e = check_shape(&net, &[3, 4, 16, 16], 5).unwrap_err();
        assert!(e.contains("5 classes"), "{e}");
        let e = check_shape(&net, &[1, 4, 16, 16], 4).unwrap_err();
        assert!(e.contains("does not accept clips"), "{e}");
    }
}
