//! The process group itself: `c10d.py`'s functions, called with the GIL
//! held only for the call (a collective waits with it released, as
//! libtorch's own Python bindings do).

use super::{DistError, World};
use crate::runtime::bridge::{ready, unwrap, wrap};
use pyo3::prelude::*;
use pyo3::types::PyList;
use tch::Tensor;

static MODULE: std::sync::OnceLock<Py<PyModule>> = std::sync::OnceLock::new();

fn module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    Ok(MODULE
        .get()
        .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("no world was joined"))?
        .bind(py))
}

/// Seconds a collective waits for the other ranks before it fails
/// (`ADVP_DIST_TIMEOUT`, default 600): a rank that died ends the others.
fn timeout() -> u64 {
    std::env::var("ADVP_DIST_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&s: &u64| s > 0)
        .unwrap_or(600)
}

pub(super) fn init(world: &World, device: tch::Device) -> Result<(), DistError> {
    let join_error = |message: String| DistError::Join {
        rank: world.rank,
        size: world.size,
        addr: world.addr.clone(),
        port: world.port,
        message,
    };
    ready().map_err(join_error)?;
    let (backend, cuda) = match device {
        tch::Device::Cuda(i) => ("nccl", Some(i)),
        _ => ("gloo", None),
    };
    Python::attach(|py| -> PyResult<()> {
        let code = std::ffi::CString::new(include_str!("c10d.py")).expect("no NUL in c10d.py");
        let m = PyModule::from_code(py, &code, c"advp_c10d.py", c"advp_c10d")?;
        let args = (
            backend,
            world.addr.as_str(),
            world.port,
            world.rank,
            world.size,
            timeout(),
            cuda,
        );
        m.call_method1("init", args)?;
        let _ = MODULE.set(m.unbind());
        Ok(())
    })
    .map_err(|e| join_error(e.to_string()))
}

fn failed(e: PyErr) -> DistError {
    super::LOST.store(true, std::sync::atomic::Ordering::SeqCst);
    let w = super::joined();
    DistError::Collective {
        rank: w.map_or(0, |w| w.rank),
        size: w.map_or(1, |w| w.size),
        message: e.to_string(),
    }
}

pub(super) fn all_reduce(t: &Tensor) -> Result<(), DistError> {
    Python::attach(|py| -> PyResult<()> {
        let t = wrap(py, t).map_err(pyo3::exceptions::PyRuntimeError::new_err)?;
        module(py)?.call_method1("all_reduce", (t,))?;
        Ok(())
    })
    .map_err(failed)
}

pub(super) fn sum_values(values: &[f64]) -> Result<Vec<f64>, DistError> {
    Python::attach(|py| -> PyResult<Vec<f64>> {
        module(py)?
            .call_method1("sum_values", (values.to_vec(),))?
            .extract()
    })
    .map_err(failed)
}

pub(super) fn synced_sum(t: &Tensor) -> Result<Tensor, DistError> {
    Python::attach(|py| -> PyResult<Tensor> {
        let t = wrap(py, t).map_err(pyo3::exceptions::PyRuntimeError::new_err)?;
        let out = module(py)?.call_method1("synced_sum", (t,))?;
        unwrap(&out).ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err("the synced sum gave no tensor")
        })
    })
    .map_err(failed)
}

pub(super) fn gather(
    text: String,
    tensors: Vec<Tensor>,
) -> Result<Vec<(String, Vec<Tensor>)>, DistError> {
    Python::attach(|py| -> PyResult<Vec<(String, Vec<Tensor>)>> {
        let ts = PyList::empty(py);
        for t in &tensors {
            ts.append(wrap(py, t).map_err(pyo3::exceptions::PyRuntimeError::new_err)?)?;
        }
        let all = module(py)?.call_method1("gather", ((text, ts),))?;
        let mut out = Vec::new();
        for item in all.try_iter()? {
            let item = item?;
            let text: String = item.get_item(0)?.extract()?;
            let mut tensors = Vec::new();
            for t in item.get_item(1)?.try_iter()? {
                tensors.push(unwrap(&t?).ok_or_else(|| {
                    pyo3::exceptions::PyRuntimeError::new_err("a gathered item is no tensor")
                })?);
            }
            out.push((text, tensors));
        }
        Ok(out)
    })
    .map_err(failed)
}

/// Tells the Python side the step under way (a user's BatchNorm syncs
/// inside one).
pub(super) fn step(shard: Option<super::Shard>) {
    let _ = Python::attach(|py| -> PyResult<()> {
        let arg = shard.map(|s| (s.first, s.count, s.of));
        module(py)?.call_method1("step", (arg,))?;
        Ok(())
    });
}

pub(super) fn close() {
    let _ = Python::attach(|py| -> PyResult<()> {
        module(py)?.call_method0("close")?;
        Ok(())
    });
}

pub(super) fn barrier() -> Result<(), DistError> {
    Python::attach(|py| -> PyResult<()> {
        module(py)?.call_method0("barrier")?;
        Ok(())
    })
    .map_err(failed)
}
