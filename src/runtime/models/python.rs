//! `python(…)` models: a user's `nn.Module`, built by their own Python code,
//! run in this process on the libtorch advp links ([`crate::runtime::bridge`]:
//! one libtorch, no copies). A tensor crosses with its autograd history, so
//! an attack's gradient with respect to the clips flows through the user's
//! `forward`. The GIL is held only inside a call into Python: autograd's
//! backward pass runs with it released, as libtorch requires.

use super::python_spec::{Preparer, PySource, PyValue, PythonSpec};
use super::torchscript::{ScriptError, ScriptErrorKind};
pub use crate::runtime::bridge::found;
use crate::runtime::bridge::{described, ready, unwrap, wrap};
use crate::runtime::error::{NodeError, NodeResult};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// A user's module, held by the interpreter.
pub struct PyModel {
    module: Py<PyAny>,
    /// How clips reach `forward` (`mean` and `std` on the model's device).
    prepare: Preparer,
    /// Where the logits are in what `forward` returns.
    output: Option<String>,
    /// The Python file it was built from (its frames are the user's own).
    path: Option<PathBuf>,
    /// The mode last set (`module.train(mode)` walks every submodule, so it
    /// is called only when the mode changes, not on every forward pass).
    training: std::cell::Cell<Option<bool>>,
    /// Its parameters and buffers as first read: what [`PyModel::named`]
    /// gives should a later `state_dict()` fail.
    first: Vec<(String, Tensor)>,
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

/// What a `forward` gave, for a message: `a tuple`, `a dict`, `a str`.
fn kind_of(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "an object".into(), |n| format!("a {n}"))
}

impl PyModel {
    /// Loads the spec's file or module, calls its factory with the class
    /// count and the further arguments, and moves the `nn.Module` it
    /// returns to `device`.
    pub fn build(spec: &PythonSpec, classes: i64, device: Device) -> NodeResult<PyModel> {
        let path = spec.source.file();
        if let Some(why) = path.and_then(crate::util::not_regular) {
            return Err(NodeError::Model(format!(
                "{why}; `python` loads a .py file (or a module by its dotted name)"
            )));
        }
        ready().map_err(NodeError::Model)?;
        let shown = spec.source.shown();
        let factory = &spec.factory;
        Python::attach(|py| {
            let fail = |e: PyErr| {
                NodeError::Model(format!(
                    "building the model of {shown}: {}",
                    described(py, &e, path)
                ))
            };
            seed_python(py).map_err(fail)?;
            let module = match &spec.source {
                PySource::File(p) => load(py, p),
                PySource::Module(m) => py.import(m.as_str()).map(Bound::into_any),
            }
            .map_err(fail)?;
            let build = module.getattr(factory.as_str()).map_err(|_| {
                NodeError::Model(format!(
                    "{shown} has no `{factory}`: `python(…, factory: \"{factory}\")` calls it to build the model"
                ))
            })?;
            let kwargs = PyDict::new(py);
            for (k, v) in &spec.kwargs {
                kwargs
                    .set_item(k, py_value(py, v).map_err(fail)?)
                    .map_err(fail)?;
            }
            let key = classes_keyword(py, &build, &spec.source).map_err(fail)?;
            match key {
                Ok(key) if !kwargs.contains(key).map_err(fail)? => {
                    kwargs.set_item(key, classes).map_err(fail)?;
                }
                Ok(_) => {}
                Err(params) => {
                    return Err(NodeError::Model(format!(
                        "`{factory}` of {shown} takes neither `classes` nor `num_classes` (it takes {params}), so it cannot be told the class count; give it a `classes` argument"
                    )))
                }
            }
            let m = build.call((), Some(&kwargs)).map_err(fail)?;
            let nn = py
                .import("torch.nn")
                .map_err(fail)?
                .getattr("Module")
                .map_err(fail)?;
            if !m.is_instance(&nn).map_err(fail)? {
                return Err(NodeError::Model(format!(
                    "`{factory}` of {shown} returned {}, not a torch.nn.Module",
                    kind_of(&m)
                )));
            }
            let m = m.call_method1("to", (device_name(device),)).map_err(fail)?;
            let first = state(&m).map_err(|e| {
                NodeError::Model(format!(
                    "the module of {shown} gives no `state_dict()`: {}",
                    described(py, &e, path)
                ))
            })?;
            Ok(PyModel {
                module: m.unbind(),
                prepare: spec.preparer(device),
                output: spec.output.clone(),
                path: path.map(Path::to_path_buf),
                training: std::cell::Cell::new(None),
                first,
            })
        })
    }

    /// The module's logits for `x` (N×C×T×H×W in [0, 1]) in train or eval
    /// mode, or what went wrong.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor, ScriptError> {
        let other = |text: String| ScriptError {
            kind: ScriptErrorKind::Other,
            text,
        };
        let x = self.prepare.apply(x).map_err(|text| ScriptError {
            kind: ScriptErrorKind::Arguments,
            text,
        })?;
        Python::attach(|py| {
            let m = self.module.bind(py);
            let raised = |e: PyErr| ScriptError {
                kind: ScriptErrorKind::Raised,
                text: described(py, &e, self.path.as_deref()),
            };
            if self.training.get() != Some(train) {
                m.call_method1("train", (train,)).map_err(raised)?;
                self.training.set(Some(train));
            }
            let px = wrap(py, &x).map_err(other)?;
            let out = m.call1((px,)).map_err(raised)?;
            logits(&out, self.output.as_deref())
        })
    }

    /// Every parameter and buffer by its `state_dict` name, as advp's
    /// tensors (the module's own: an optimizer's step moves the module).
    pub fn named(&self) -> Vec<(String, Tensor)> {
        Python::attach(|py| state(self.module.bind(py))).unwrap_or_else(|_| {
            self.first
                .iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect()
        })
    }
}

/// A module's `state_dict(keep_vars=True)` as advp's tensors (the same
/// tensors); entries that are no tensors are left out.
fn state(m: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Tensor)>> {
    let kwargs = PyDict::new(m.py());
    kwargs.set_item("keep_vars", true)?;
    tensors_of(&m.call_method("state_dict", (), Some(&kwargs))?)
}

/// A mapping's tensors by their names, as advp's tensors (the same
/// tensors); entries that are no tensors are left out.
fn tensors_of(dict: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Tensor)>> {
    let mut out = Vec::new();
    for item in dict.call_method0("items")?.try_iter()? {
        let (name, value) = item?.extract::<(String, Bound<'_, PyAny>)>()?;
        if let Some(t) = unwrap(&value) {
            out.push((name, t));
        }
    }
    Ok(out)
}

/// The keyword the factory takes the class count by: `classes`, or
/// `num_classes` (torchvision's and timm's); a factory with `**kwargs` gets
/// `classes` from a user's file and `num_classes` from a library module.
/// `Err` with the parameters it has when it takes neither.
fn classes_keyword(
    py: Python<'_>,
    factory: &Bound<'_, PyAny>,
    source: &PySource,
) -> PyResult<Result<&'static str, String>> {
    let inspect = py.import("inspect")?;
    let Ok(sig) = inspect.call_method1("signature", (factory,)) else {
        // No signature to read (a builtin or a C function): as written.
        return Ok(Ok("classes"));
    };
    let params = sig.getattr("parameters")?;
    let has = |name: &str| params.contains(name);
    if has("classes")? {
        return Ok(Ok("classes"));
    }
    if has("num_classes")? {
        return Ok(Ok("num_classes"));
    }
    let var_keyword = inspect.getattr("Parameter")?.getattr("VAR_KEYWORD")?;
    let mut names = Vec::new();
    let mut open = false;
    for p in params.call_method0("values")?.try_iter()? {
        let p = p?;
        open |= p.getattr("kind")?.eq(&var_keyword)?;
        names.push(format!("`{}`", p.getattr("name")?.extract::<String>()?));
    }
    Ok(match (open, source) {
        (true, PySource::File(_)) => Ok("classes"),
        (true, PySource::Module(_)) => Ok("num_classes"),
        (false, _) if names.is_empty() => Err("no arguments".into()),
        (false, _) => Err(names.join(", ")),
    })
}

/// A factory argument as a Python object.
fn py_value<'py>(py: Python<'py>, v: &PyValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        PyValue::Int(i) => i.into_pyobject(py)?.into_any(),
        PyValue::Float(f) => f.into_pyobject(py)?.into_any(),
        PyValue::Str(s) => s.into_pyobject(py)?.into_any(),
        PyValue::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        PyValue::List(items) => {
            let list = PyList::empty(py);
            for it in items {
                list.append(py_value(py, it)?)?;
            }
            list.into_any()
        }
    })
}

/// The weights of a PyTorch checkpoint, read in Python by
/// `torch.load(weights_only=True)` (no code in the file runs): the state
/// dict itself, or the one a checkpoint holds under `state_dict` or
/// `model` (Hara et al.'s `.pth`), by name.
pub fn read_checkpoint(path: &Path) -> Result<Vec<(String, Tensor)>, String> {
    ready()?;
    Python::attach(|py| {
        let said = |e: PyErr| described(py, &e, None);
        let torch = py.import("torch").map_err(said)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("weights_only", true).map_err(said)?;
        kwargs.set_item("map_location", "cpu").map_err(said)?;
        let loaded = torch
            .call_method("load", (path.display().to_string(),), Some(&kwargs))
            .map_err(said)?;
        let mut dict = loaded;
        for key in ["state_dict", "model", "model_state_dict"] {
            match dict.get_item(key) {
                Ok(inner) if inner.hasattr("items").unwrap_or(false) => {
                    dict = inner;
                    break;
                }
                _ => {}
            }
        }
        if !dict.hasattr("items").unwrap_or(false) {
            return Err(format!(
                "it holds {}, not a state dict of tensors",
                kind_of(&dict)
            ));
        }
        tensors_of(&dict).map_err(said)
    })
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

/// The logits in what `forward` returned: a tensor, an object whose
/// `.logits` is one (a Hugging Face `ModelOutput`), or what `output` names
/// (a key of a dict, or an attribute).
fn logits(out: &Bound<'_, PyAny>, output: Option<&str>) -> Result<Tensor, ScriptError> {
    let not = |text: String| ScriptError {
        kind: ScriptErrorKind::NotATensor,
        text,
    };
    if let Some(key) = output {
        let found = out.get_item(key).ok().or_else(|| out.getattr(key).ok());
        return match found {
            Some(v) => unwrap(&v).ok_or_else(|| {
                not(format!(
                    "`{key}` of what forward() returns is {}, not a tensor of logits",
                    kind_of(&v)
                ))
            }),
            None => Err(not(format!(
                "forward() returns {}, which has no `{key}` (`output: \"{key}\"`){}",
                kind_of(out),
                keys_of(out)
            ))),
        };
    }
    if let Some(t) = unwrap(out) {
        return Ok(t);
    }
    if let Ok(l) = out.getattr("logits") {
        if let Some(t) = unwrap(&l) {
            return Ok(t);
        }
    }
    // A dict or an object can name its logits; a tuple cannot.
    let named = out.hasattr("keys").unwrap_or(false) || out.hasattr("__dict__").unwrap_or(false);
    let fix = if named {
        "; name where the logits are with `output: \"…\"`"
    } else {
        ""
    };
    Err(not(format!(
        "forward() returns {}, not a tensor of logits (nor an object with `.logits`){}{fix}",
        kind_of(out),
        keys_of(out)
    )))
}

/// `: its keys are `a`, `b`` for a dict, nothing for anything else.
fn keys_of(out: &Bound<'_, PyAny>) -> String {
    let Ok(keys) = out.call_method0("keys") else {
        return String::new();
    };
    let names: Vec<String> = keys
        .try_iter()
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|k| k.str().ok().map(|s| format!("`{s}`")))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(": its keys are {}", names.join(", "))
    }
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
