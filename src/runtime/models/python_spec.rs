//! What a `python(…)` model node says: where its module comes from, what its
//! factory is called with, and how clips reach its `forward`. Plain data,
//! built with or without the Python bridge (the `python` feature).

use std::path::{Path, PathBuf};

/// Where the factory is found.
#[derive(Clone, Debug, PartialEq)]
pub enum PySource {
    /// A `.py` file, resolved against the pipeline's folder.
    File(PathBuf),
    /// An importable module (`torchvision.models.video`).
    Module(String),
}

impl PySource {
    /// A `path:` as written: a dotted name of identifiers that names no
    /// file is a module to import; anything else is a file.
    pub fn of(written: &str, resolved: PathBuf) -> PySource {
        let dotted = !written.is_empty()
            && !written.ends_with(".py")
            && written.split('.').all(|part| {
                let mut c = part.chars();
                c.next()
                    .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                    && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            });
        if dotted && !resolved.exists() {
            PySource::Module(written.to_string())
        } else {
            PySource::File(resolved)
        }
    }

    /// The file, for a file source.
    pub fn file(&self) -> Option<&Path> {
        match self {
            PySource::File(p) => Some(p),
            PySource::Module(_) => None,
        }
    }

    /// The file's path or the module's name, for messages.
    pub fn shown(&self) -> String {
        match self {
            PySource::File(p) => crate::util::shown(p),
            PySource::Module(m) => format!("module `{m}`"),
        }
    }
}

/// A keyword argument for the factory, as the `.advp` file writes it.
#[derive(Clone, Debug, PartialEq)]
pub enum PyValue {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    List(Vec<PyValue>),
}

/// The clip layout `forward` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// N×C×T×H×W, advp's own.
    Ncthw,
    /// N×T×C×H×W (VideoMAE, TimeSformer).
    Ntchw,
}

/// A `python(…)` model.
#[derive(Clone, Debug, PartialEq)]
pub struct PythonSpec {
    pub source: PySource,
    pub factory: String,
    /// The further keyword arguments, in the order of their names.
    pub kwargs: Vec<(String, PyValue)>,
    pub layout: Layout,
    /// Per-channel mean and standard deviation in [0, 1] pixel units,
    /// applied inside advp's graph before `forward`.
    pub mean: Option<Vec<f64>>,
    pub std: Option<Vec<f64>>,
    /// The key or attribute holding the logits in what `forward` returns.
    pub output: Option<String>,
}

impl PythonSpec {
    /// `factory` of `source`, with no further arguments, clips as advp
    /// holds them and the logits as `forward` returns them.
    pub fn new(source: PySource, factory: &str) -> PythonSpec {
        PythonSpec {
            source,
            factory: factory.to_string(),
            kwargs: Vec::new(),
            layout: Layout::Ncthw,
            mean: None,
            std: None,
            output: None,
        }
    }

    /// The clips as `forward` takes them: normalised, then laid out.
    /// Differentiable, so an attack's gradient stays in pixel units.
    pub fn prepare(&self, x: &tch::Tensor) -> Result<tch::Tensor, String> {
        self.preparer(x.device()).apply(x)
    }

    /// What [`PythonSpec::prepare`] does, with `mean` and `std` made
    /// tensors on `device` once (a model holds it for every forward pass).
    pub fn preparer(&self, device: tch::Device) -> Preparer {
        // In double precision as written, and in float for float clips.
        let on = |v: &Option<Vec<f64>>| {
            v.as_ref().map(|v| {
                let double = tch::Tensor::from_slice(v).to_device(device).reshape([
                    1,
                    v.len() as i64,
                    1,
                    1,
                    1,
                ]);
                let float = double.to_kind(tch::Kind::Float);
                [double, float]
            })
        };
        Preparer {
            mean: on(&self.mean),
            std: on(&self.std),
            layout: self.layout,
        }
    }
}

/// A `python(…)` model's way into `forward`: per-channel `mean` and `std`
/// (1×C×1×1×1, or one value) and the layout.
pub struct Preparer {
    mean: Option<[tch::Tensor; 2]>,
    std: Option<[tch::Tensor; 2]>,
    layout: Layout,
}

impl Preparer {
    /// The clips normalised, then laid out; refused when `mean` or `std`
    /// has neither one value nor one a channel.
    pub fn apply(&self, x: &tch::Tensor) -> Result<tch::Tensor, String> {
        let c = x.size().get(1).copied().unwrap_or(0);
        let fit = |[double, float]: &[tch::Tensor; 2], what: &str| -> Result<tch::Tensor, String> {
            let t = if x.kind() == tch::Kind::Float {
                float
            } else {
                double
            };
            let n = t.size()[1];
            if n != 1 && n != c {
                return Err(format!(
                    "`{what}` has {n} values and the clips have {c} channels: give one value, or one a channel"
                ));
            }
            Ok(if t.kind() == x.kind() {
                t.shallow_clone()
            } else {
                t.to_kind(x.kind())
            })
        };
        // Normalised into new tensors, never in place (with neither `mean`
        // nor `std` the module gets the clips themselves, as any model does).
        let x = match &self.mean {
            Some(m) => x - fit(m, "mean")?,
            None => x.shallow_clone(),
        };
        let x = match &self.std {
            Some(s) => x / fit(s, "std")?,
            None => x,
        };
        Ok(match self.layout {
            Layout::Ncthw => x,
            // Contiguous, as a module that `view`s its input expects.
            Layout::Ntchw => x.permute([0, 2, 1, 3, 4]).contiguous(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn a_dotted_name_that_is_no_file_is_a_module() {
        let missing = PathBuf::from("/nonexistent/torchvision.models.video");
        assert_eq!(
            PySource::of("torchvision.models.video", missing.clone()),
            PySource::Module("torchvision.models.video".into())
        );
        assert_eq!(
            PySource::of("net.py", PathBuf::from("/x/net.py")),
            PySource::File("/x/net.py".into())
        );
        assert_eq!(
            PySource::of("models/net", PathBuf::from("/x/models/net")),
            PySource::File("/x/models/net".into())
        );
        // A file that exists is the file, even with a dotted name.
        let here = std::env::current_dir().unwrap().join("Cargo.toml");
        assert_eq!(
            PySource::of("Cargo.toml", here.clone()),
            PySource::File(here)
        );
    }

    #[test]
    fn clips_are_normalised_per_channel_then_laid_out() {
        let x = Tensor::rand([2, 3, 4, 5, 6], (Kind::Double, tch::Device::Cpu));
        let spec = PythonSpec {
            source: PySource::Module("m".into()),
            factory: "build".into(),
            kwargs: vec![],
            layout: Layout::Ntchw,
            mean: Some(vec![0.1, 0.2, 0.3]),
            std: Some(vec![0.5, 0.25, 0.125]),
            output: None,
        };
        let before = x.copy();
        let y = spec.prepare(&x).unwrap();
        assert_eq!(y.size(), [2, 4, 3, 5, 6]);
        assert!(y.is_contiguous());
        assert!(x.equal(&before), "the caller's clips changed");
        // Element (n=1, t=2, c=1, h=3, w=4) is (x[1,1,2,3,4] - 0.2) / 0.25.
        let want = (x.double_value(&[1, 1, 2, 3, 4]) - 0.2) / 0.25;
        assert!((y.double_value(&[1, 2, 1, 3, 4]) - want).abs() < 1e-12);
        let two = PythonSpec {
            mean: Some(vec![0.1, 0.2]),
            ..spec
        };
        assert!(two.prepare(&x).unwrap_err().contains("3 channels"));
    }
}
