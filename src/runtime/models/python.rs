//! The Python bridge: a user's `nn.Module`, built by their own Python code,
//! run in this process on the libtorch advp links — one libtorch, no copies.
//!
//! CPython is embedded (PyO3) and imports `torch` from the site-packages of
//! the torch advp was built against, so Python's `torch` and advp's engine
//! share one libtorch: its tensors, its autograd graph, its random generator.
//! A tensor crosses with tch's own interop (`THPVariable_Wrap`/`Unpack`):
//! the same tensor on both sides, its autograd history included, so an
//! attack's gradient with respect to the clips flows through the user's
//! `forward`. The GIL is held only inside a call into Python: autograd's
//! backward pass runs with it released, as libtorch requires.
//!
//! The crate's second `unsafe` module: the hand-over takes raw `PyObject`
//! pointers (tch's wrap and unpack, PyO3's owned pointer).
#![allow(unsafe_code)]

use super::torchscript::{ScriptError, ScriptErrorKind};
use crate::runtime::error::{NodeError, NodeResult};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// A user's module, held by the interpreter.
pub struct PyModel {
    module: Py<PyAny>,
    /// The Python file it was built from (its frames are the user's own).
    path: PathBuf,
    /// The mode last set (`module.train(mode)` walks every submodule, so it
    /// is called only when the mode changes, not on every forward pass).
    training: std::cell::Cell<Option<bool>>,
}

/// The site-packages of the torch advp was built against.
fn torch_site() -> Option<PathBuf> {
    std::env::var_os("ADVP_TORCH_SITE")
        .map(PathBuf::from)
        .or_else(|| option_env!("ADVP_TORCH_SITE").map(PathBuf::from))
}

/// Once a process: the interpreter, its `sys.path` led by the site-packages
/// of advp's torch, `torch` imported and checked to be the libtorch advp
/// runs on (two copies of libtorch in one process must never happen).
/// Called without the GIL: a thread waiting here must not hold it while
/// the first one imports torch (which lets the GIL go now and then).
fn ready() -> Result<(), String> {
    static READY: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| Python::attach(|py| {
            let site = torch_site().ok_or(
                "this advp was built without a Python torch (a LIBTORCH of its own), so it cannot run `python(…)` models; build it with the project's venv (`scripts/env.sh`)",
            )?;
            let sys = py.import("sys").map_err(|e| e.to_string())?;
            let path = sys.getattr("path").map_err(|e| e.to_string())?;
            path.call_method1("insert", (0, site.display().to_string()))
                .map_err(|e| e.to_string())?;
            let torch = py.import("torch").map_err(|e| {
                format!(
                    "cannot import torch from {}: {}",
                    crate::util::shown(&site),
                    described(py, &e, None)
                )
            })?;
            let version: String = torch
                .getattr("__version__")
                .and_then(|v| v.extract())
                .map_err(|e| e.to_string())?;
            let linked = env!("ADVP_LIBTORCH_VERSION");
            if version != linked {
                return Err(format!(
                    "Python's torch is {version} and advp runs on libtorch {linked}: two libtorch copies in one process would share nothing; use the torch advp was built with"
                ));
            }
            Ok(())
        }))
        .clone()
}

/// The Python and the torch that `python(…)` models run on, in words (what
/// `advp check` says), or why they cannot run.
pub fn found() -> Result<String, String> {
    ready()?;
    Python::attach(|py| -> PyResult<String> {
        let sys = py.import("sys")?;
        let version: String = sys.getattr("version")?.extract()?;
        let version = version.split_whitespace().next().unwrap_or("?").to_string();
        let prefix: String = sys.getattr("prefix")?.extract()?;
        let torch = py.import("torch")?;
        let tv: String = torch.getattr("__version__")?.extract()?;
        let file: String = torch.getattr("__file__")?.extract()?;
        let at = Path::new(&file)
            .parent()
            .map_or(file.clone(), |p| p.display().to_string());
        Ok(format!(
            "python(…) models run on Python {version} ({prefix}) with torch {tv} from {at}, the libtorch advp is linked to"
        ))
    })
    .map_err(|e| e.to_string())
}

/// `cpu`, `cuda:0`: the device as torch names it.
fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".into(),
        Device::Vulkan => "vulkan".into(),
        _ => "cpu".into(),
    }
}

/// A Python exception in words: its type, its message and the user's own
/// frame (the last one in `user`, `file:line`), without the rest of the
/// traceback.
fn described(py: Python<'_>, e: &PyErr, user: Option<&Path>) -> String {
    let ty = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let message = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    let mut text = if message.is_empty() {
        ty
    } else {
        format!("{ty}: {message}")
    };
    if let (Some(user), Some(tb)) = (user, e.traceback(py)) {
        if let Some(at) = user_frame(py, &tb, user) {
            text.push_str(&format!(" ({at})"));
        }
    }
    text
}

/// `net.py:12 in forward` for the last frame of the traceback in `user`.
fn user_frame(py: Python<'_>, tb: &Bound<'_, PyAny>, user: &Path) -> Option<String> {
    let frames = py
        .import("traceback")
        .ok()?
        .call_method1("extract_tb", (tb,))
        .ok()?;
    let frames = frames.cast::<PyList>().ok()?;
    let user = std::fs::canonicalize(user).unwrap_or_else(|_| user.to_path_buf());
    let mut found = None;
    for f in frames.iter() {
        let file: String = f.getattr("filename").ok()?.extract().ok()?;
        let same = std::fs::canonicalize(&file).is_ok_and(|p| p == user);
        if same {
            let line: i64 = f.getattr("lineno").ok()?.extract().ok()?;
            let name: String = f.getattr("name").ok()?.extract().ok()?;
            let shown = user
                .file_name()
                .map_or(file.clone(), |n| n.to_string_lossy().into());
            found = Some(format!("{shown}:{line} in {name}"));
        }
    }
    found
}

/// A tensor as a Python `torch.Tensor`: the same tensor, no copy.
fn wrap<'py>(py: Python<'py>, t: &Tensor) -> Result<Bound<'py, PyAny>, String> {
    let ptr = t.pyobject_wrap().map_err(|e| e.to_string())?;
    // SAFETY: `pyobject_wrap` returns a new reference to a valid object
    // (THPVariable_Wrap), or an error above; the GIL is held (`py`).
    Ok(unsafe { Bound::from_owned_ptr(py, ptr as *mut pyo3::ffi::PyObject) })
}

/// A Python `torch.Tensor` as advp's tensor (the same tensor), or `None`
/// when the object is not a tensor.
fn unwrap(obj: &Bound<'_, PyAny>) -> Option<Tensor> {
    // SAFETY: `obj` is a live Python object while its `Bound` lives and the
    // GIL is held; tch checks it is a tensor before unpacking.
    unsafe { Tensor::pyobject_unpack(obj.as_ptr() as *mut tch::python::CPyObject) }
        .ok()
        .flatten()
}

/// What a `forward` gave, for a message: `a tuple`, `a dict`, `a str`.
fn kind_of(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "an object".into(), |n| format!("a {n}"))
}

impl PyModel {
    /// Loads `path` as a module, calls its `factory(classes=…)` and moves
    /// the `nn.Module` it returns to `device`.
    pub fn build(path: &Path, factory: &str, classes: i64, device: Device) -> NodeResult<PyModel> {
        if let Some(why) = crate::util::not_regular(path) {
            return Err(NodeError::Model(format!(
                "{why}; `python` loads a .py file"
            )));
        }
        ready().map_err(NodeError::Model)?;
        Python::attach(|py| {
            let fail = |e: PyErr| {
                NodeError::Model(format!(
                    "building the model of {}: {}",
                    crate::util::shown(path),
                    described(py, &e, Some(path))
                ))
            };
            seed_python(py).map_err(fail)?;
            let module = load(py, path).map_err(fail)?;
            let build = module.getattr(factory).map_err(|_| {
                NodeError::Model(format!(
                    "{} has no `{factory}`: `python(…, factory: \"{factory}\")` calls it to build the model",
                    crate::util::shown(path)
                ))
            })?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("classes", classes).map_err(fail)?;
            let m = build.call((), Some(&kwargs)).map_err(fail)?;
            let nn = py
                .import("torch.nn")
                .map_err(fail)?
                .getattr("Module")
                .map_err(fail)?;
            if !m.is_instance(&nn).map_err(fail)? {
                return Err(NodeError::Model(format!(
                    "`{factory}` of {} returned {}, not a torch.nn.Module",
                    crate::util::shown(path),
                    kind_of(&m)
                )));
            }
            let m = m.call_method1("to", (device_name(device),)).map_err(fail)?;
            Ok(PyModel {
                module: m.unbind(),
                path: path.to_path_buf(),
                training: std::cell::Cell::new(None),
            })
        })
    }

    /// The module's logits for `x` in train or eval mode, or what went wrong.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor, ScriptError> {
        Python::attach(|py| {
            let m = self.module.bind(py);
            let raised = |e: PyErr| ScriptError {
                kind: ScriptErrorKind::Raised,
                text: described(py, &e, Some(&self.path)),
            };
            if self.training.get() != Some(train) {
                m.call_method1("train", (train,)).map_err(raised)?;
                self.training.set(Some(train));
            }
            let px = wrap(py, x).map_err(|text| ScriptError {
                kind: ScriptErrorKind::Other,
                text,
            })?;
            let out = m.call1((px,)).map_err(raised)?;
            logits(&out)
        })
    }

    /// Every parameter and buffer by its `state_dict` name, as advp's
    /// tensors (the module's own: an optimizer's step moves the module).
    pub fn named(&self) -> Vec<(String, Tensor)> {
        Python::attach(|py| {
            let m = self.module.bind(py);
            let kwargs = PyDict::new(py);
            let Ok(()) = kwargs.set_item("keep_vars", true) else {
                return Vec::new();
            };
            let Ok(state) = m.call_method("state_dict", (), Some(&kwargs)) else {
                return Vec::new();
            };
            let Ok(items) = state.call_method0("items") else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for item in items.try_iter().into_iter().flatten().flatten() {
                let Ok((name, value)) = item.extract::<(String, Bound<'_, PyAny>)>() else {
                    continue;
                };
                if let Some(t) = unwrap(&value) {
                    out.push((name, t));
                }
            }
            out
        })
    }
}

/// Python's own generators seeded from libtorch's (which advp seeds per
/// node and replicate, and Python's `torch` shares): `random`, and NumPy's
/// where it is installed, so a factory that draws from them builds the same
/// module for the same seed.
fn seed_python(py: Python<'_>) -> PyResult<()> {
    let seed: u64 = py
        .import("torch")?
        .call_method0("initial_seed")?
        .extract()?;
    py.import("random")?.call_method1("seed", (seed,))?;
    if let Ok(np) = py.import("numpy") {
        np.getattr("random")?
            .call_method1("seed", (seed % (1 << 32),))?;
    }
    Ok(())
}

/// The logits in what `forward` returned: a tensor, or an object whose
/// `.logits` is one (a Hugging Face `ModelOutput`).
fn logits(out: &Bound<'_, PyAny>) -> Result<Tensor, ScriptError> {
    if let Some(t) = unwrap(out) {
        return Ok(t);
    }
    if let Ok(l) = out.getattr("logits") {
        if let Some(t) = unwrap(&l) {
            return Ok(t);
        }
    }
    Err(ScriptError {
        kind: ScriptErrorKind::NotATensor,
        text: format!(
            "forward() returns {}, not a tensor of logits (nor an object with `.logits`)",
            kind_of(out)
        ),
    })
}

/// The file at `path` as a fresh Python module (its folder first on
/// `sys.path`, so its own imports resolve), under a name of its own.
fn load<'py>(py: Python<'py>, path: &Path) -> PyResult<Bound<'py, PyAny>> {
    static LOADED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = LOADED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("advp_model_{n}");
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(dir) = abs.parent() {
        let sys_path = py.import("sys")?.getattr("path")?;
        let dir = dir.display().to_string();
        if !sys_path.contains(&dir)? {
            sys_path.call_method1("insert", (1, dir))?;
        }
    }
    let util = py.import("importlib.util")?;
    let spec = util.call_method1(
        "spec_from_file_location",
        (&name, abs.display().to_string()),
    )?;
    let module = util.call_method1("module_from_spec", (&spec,))?;
    py.import("sys")?
        .getattr("modules")?
        .set_item(&name, &module)?;
    spec.getattr("loader")?
        .call_method1("exec_module", (&module,))?;
    Ok(module)
}
