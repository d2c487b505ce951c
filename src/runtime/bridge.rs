//! The embedded Python: CPython in this process (PyO3), its `sys.path` led
//! by the site-packages of the torch advp was built against, so Python's
//! `torch` and advp's engine share one libtorch — its tensors, its autograd
//! graph, its random generator — and a tensor crosses with tch's own interop
//! (`THPVariable_Wrap`/`Unpack`): the same tensor on both sides, no copy.
//! `python(…)` models ([`super::models::python`]) and the ranks' collectives
//! ([`super::dist`]) both go through it.
//!
//! The crate's second `unsafe` module: the hand-over takes raw `PyObject`
//! pointers (tch's wrap and unpack, PyO3's owned pointer).
#![allow(unsafe_code)]

use pyo3::prelude::*;
use pyo3::types::PyList;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The site-packages of the torch advp was built against.
fn torch_site() -> Option<PathBuf> {
    std::env::var_os("ADVP_TORCH_SITE")
        .map(PathBuf::from)
        .or_else(|| option_env!("ADVP_TORCH_SITE").map(PathBuf::from))
}

/// The folders `sys.path` takes first: the site-packages of the
/// interpreter `ADVP_PYTHON` names (its version must be the embedded
/// one's; its standard library is not taken, the embedded one stays), or
/// the site-packages of advp's own torch (the project venv's).
fn search_path(py: Python<'_>) -> Result<(Vec<String>, String), String> {
    let Some(other) = std::env::var_os("ADVP_PYTHON") else {
        let site = torch_site().ok_or(
            "this advp was built without a Python torch (a LIBTORCH of its own), so it cannot run `python(…)` models; build it with the project's venv (`scripts/env.sh`)",
        )?;
        let site = site.display().to_string();
        return Ok((vec![site.clone()], format!("the site-packages {site}")));
    };
    let shown = PathBuf::from(&other).display().to_string();
    // The interpreter is asked with a fixed program: nothing of a pipeline
    // reaches its command line.
    let out = std::process::Command::new(&other)
        .args([
            "-c",
            "import sys, json, site, os; print(json.dumps({'v': list(sys.version_info[:2]), 'path': [p for p in site.getsitepackages() + [site.getusersitepackages()] if os.path.isdir(p)]}))",
        ])
        .output()
        .map_err(|e| format!("ADVP_PYTHON={shown} does not run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ADVP_PYTHON={shown} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("ADVP_PYTHON={shown} gave no answer advp reads: {e}"))?;
    let theirs: Vec<i64> = answer["v"]
        .as_array()
        .map(|v| v.iter().filter_map(|n| n.as_i64()).collect())
        .unwrap_or_default();
    let ours: (i64, i64) = py
        .import("sys")
        .and_then(|s| s.getattr("version_info"))
        .and_then(|v| Ok((v.get_item(0)?.extract()?, v.get_item(1)?.extract()?)))
        .map_err(|e| e.to_string())?;
    if theirs != [ours.0, ours.1] {
        return Err(format!(
            "ADVP_PYTHON={shown} is Python {}, and advp embeds Python {}.{}: its packages are built for another interpreter; name a Python {}.{}, or unset ADVP_PYTHON for the project venv's",
            theirs.iter().map(i64::to_string).collect::<Vec<_>>().join("."),
            ours.0, ours.1, ours.0, ours.1
        ));
    }
    let paths = answer["path"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok((paths, format!("the interpreter ADVP_PYTHON={shown}")))
}

/// Once a process: the interpreter, its `sys.path` led by the folders of
/// [`search_path`] (their `.pth` files read, as `site` does), `torch`
/// imported and checked to be the libtorch advp runs on (two copies of
/// libtorch in one process must never happen). Gives where the packages
/// come from, in words. Called without the GIL: a thread waiting here must
/// not hold it while the first one imports torch (which lets the GIL go
/// now and then).
pub(crate) fn ready() -> Result<String, String> {
    static READY: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| Python::attach(|py| {
            let (paths, from) = search_path(py)?;
            let at = |e: PyErr| e.to_string();
            let sys_path = py.import("sys").and_then(|s| s.getattr("path")).map_err(at)?;
            let site = py.import("site").map_err(at)?;
            for (i, p) in paths.iter().enumerate() {
                sys_path.call_method1("insert", (i, p)).map_err(at)?;
            }
            for p in &paths {
                if p.ends_with("site-packages") || p.ends_with("dist-packages") {
                    site.call_method1("addsitedir", (p,)).map_err(at)?;
                }
            }
            let torch = py.import("torch").map_err(|e| {
                format!("cannot import torch from {from}: {}", described(py, &e, None))
            })?;
            let version: String = torch
                .getattr("__version__")
                .and_then(|v| v.extract())
                .map_err(at)?;
            let linked = env!("ADVP_LIBTORCH_VERSION");
            if version != linked {
                return Err(format!(
                    "Python's torch (from {from}) is {version} and advp runs on libtorch {linked}: two libtorch copies in one process would share nothing; use the torch advp was built with"
                ));
            }
            // The same version from another folder is a second copy too.
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
            if let [first, second, ..] = &libtorch_copies(&maps)[..] {
                return Err(format!(
                    "Python's torch (from {from}) loaded a second libtorch, {second}, beside advp's {first}: two copies in one process would share nothing; use the torch advp was built with (unset ADVP_PYTHON, or build advp against that torch)"
                ));
            }
            Ok(from)
        }))
        .clone()
}

/// The distinct files of libtorch (`libtorch_cpu.so`) mapped into a
/// process, from the text of its `/proc/self/maps`, in the order met.
fn libtorch_copies(maps: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in maps.lines() {
        let Some(path) = line.split_whitespace().nth(5) else {
            continue;
        };
        let name = Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        if name.starts_with("libtorch_cpu.") {
            let real = std::fs::canonicalize(path)
                .map_or_else(|_| path.to_string(), |p| p.display().to_string());
            if !out.contains(&real) {
                out.push(real);
            }
        }
    }
    out
}

/// The Python and the torch that `python(…)` models run on, in words (what
/// `advp check` says), or why they cannot run.
pub fn found() -> Result<String, String> {
    let from = ready()?;
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
            "python(…) models run on Python {version} ({prefix}, packages from {from}) with torch {tv} from {at}, the libtorch advp is linked to"
        ))
    })
    .map_err(|e| e.to_string())
}

/// A Python exception in words: its type, its message and the user's own
/// frame (the last one in `user`, `file:line`), without the rest of the
/// traceback.
pub(crate) fn described(py: Python<'_>, e: &PyErr, user: Option<&Path>) -> String {
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
pub(crate) fn wrap<'py>(py: Python<'py>, t: &Tensor) -> Result<Bound<'py, PyAny>, String> {
    let ptr = t.pyobject_wrap().map_err(|e| e.to_string())?;
    // SAFETY: `pyobject_wrap` returns a new reference to a valid object
    // (THPVariable_Wrap), or an error above; the GIL is held (`py`).
    Ok(unsafe { Bound::from_owned_ptr(py, ptr as *mut pyo3::ffi::PyObject) })
}

/// A Python `torch.Tensor` as advp's tensor (the same tensor), or `None`
/// when the object is not a tensor.
pub(crate) fn unwrap(obj: &Bound<'_, PyAny>) -> Option<Tensor> {
    // SAFETY: `obj` is a live Python object while its `Bound` lives and the
    // GIL is held; tch checks it is a tensor before unpacking.
    unsafe { Tensor::pyobject_unpack(obj.as_ptr() as *mut tch::python::CPyObject) }
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_libtorch_files_in_the_maps_are_two_copies() {
        let one = "7f00-7f10 r-xp 00000000 08:01 1 /venv/torch/lib/libtorch_cpu.so\n7f10-7f20 r--p 00100000 08:01 1 /venv/torch/lib/libtorch_cpu.so\n7f20-7f30 r-xp 00000000 08:01 2 /usr/lib/libc.so.6\n7f30-7f40 rw-p 00000000 00:00 0\n";
        assert_eq!(
            super::libtorch_copies(one),
            ["/venv/torch/lib/libtorch_cpu.so"]
        );
        let two =
            format!("{one}7f50-7f60 r-xp 00000000 08:01 3 /conda/torch/lib/libtorch_cpu.so\n");
        assert_eq!(
            super::libtorch_copies(&two),
            [
                "/venv/torch/lib/libtorch_cpu.so",
                "/conda/torch/lib/libtorch_cpu.so"
            ]
        );
    }
}
