//! The model probe: every user module a run will use is tried once, before
//! any work, on two clips of the data it will see, so a careless export
//! (`torch.no_grad()` or `.detach()` in `forward`, a tuple out, the wrong
//! number of logits, NaN, a `torch.save` pickle) is refused with its cause
//! and its fix instead of crashing an attack or giving a wrong number.

use super::{RunError, Runner};
use crate::language::diagnostic::{Code, Diagnostic};
use crate::runtime::data::Dataset;
use crate::runtime::error::{NoGradient, NodeError};
use crate::runtime::models::python_spec::PySource;
use crate::runtime::models::torchscript::ScriptErrorKind;
use crate::runtime::models::{self, Arch, Caught, ModelSpec, Net};
use crate::runtime::spec::{
    AnalysisSpec, Classes, ClassifierId, Columns, DataId, Learning, ModelId, NodeId, NodeSpec,
};
use tch::{Kind, Tensor};

/// What a node does with a model, and so what its output must allow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Needs {
    /// An attack differentiates it with respect to the clips.
    input_gradient: bool,
    /// It is trained: trainable parameters the loss reaches.
    training: bool,
}

/// One model a node uses, and the data it sees there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Use {
    /// The node that uses it (where a refusal points).
    node: NodeId,
    /// The `model` node (a train node's model, followed to its start).
    model: ModelId,
    data: DataId,
    split: &'static str,
    needs: Needs,
}

/// The module a probe tries and the names its refusals use.
struct Tried<'a> {
    u: Use,
    path: &'a std::path::Path,
    /// The module's path as shown.
    file: String,
    /// `N×C×T×H×W` of the data.
    shape: String,
    /// The `model` node's name and the data node's.
    model: String,
    data: String,
    /// `classes:` as the model node gives it, when it is a number.
    classes: Option<i64>,
    data_classes: i64,
    redo: Redo,
}

/// How a user makes a changed module reach advp: a TorchScript module is
/// exported again, a `python(…)` module is run as it is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Redo {
    Export,
    Rerun,
}

impl Redo {
    /// The end of a fix: `… and export again` or `… and run again`.
    fn again(self) -> &'static str {
        match self {
            Redo::Export => "export again",
            Redo::Rerun => "run again",
        }
    }
    /// The end of a fix to `forward()`.
    fn module_again(self) -> &'static str {
        match self {
            Redo::Export => "export the module again",
            Redo::Rerun => "run again",
        }
    }
    /// The fix for a forward pass outside autograd.
    fn gradient_fix(self) -> String {
        match self {
            Redo::Export => format!("{FIX_GRADIENT_CODE}, export the module again with `torch.jit.script(model)` or `torch.jit.trace(model, example)`, and run again"),
            Redo::Rerun => format!("{FIX_GRADIENT_CODE} and run again"),
        }
    }
    /// The fix for a module of the wrong width.
    fn outputs(self, c: i64) -> String {
        match self {
            Redo::Export => format!("export the module with {c} outputs"),
            Redo::Rerun => format!("make the module give {c} outputs"),
        }
    }
    /// The fix for a module whose parameters take no gradient.
    fn trainable(self) -> &'static str {
        match self {
            Redo::Export => "export it with its parameters trainable (`requires_grad`)",
            Redo::Rerun => "keep its parameters trainable (`requires_grad`)",
        }
    }
}

/// What to change in `forward()` when it computes outside autograd.
const FIX_GRADIENT_CODE: &str = "remove `torch.no_grad()` and `.detach()` (and conversions through Python numbers or NumPy) from forward()";

impl Runner<'_> {
    /// Refuses, before any work (nothing locked, nothing written), a user
    /// module that cannot serve the nodes to run: each is loaded and run
    /// once on two clips of the data they read. Exit status 2.
    pub(super) fn probe_models(&mut self, targets: &[usize]) -> Result<(), RunError> {
        let mut uses: Vec<Use> = Vec::new();
        for &i in targets {
            if !super::computed(&self.program.nodes[i]) || self.is_cached(i) {
                continue;
            }
            for u in self.uses(i) {
                if !uses.contains(&u) {
                    uses.push(u);
                }
            }
        }
        let mut diags = Vec::new();
        for u in uses {
            if let Err(d) = self.probe(u) {
                if !diags.contains(&*d) {
                    diags.push(*d);
                }
            }
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(RunError::Refused(diags))
        }
    }

    /// The user modules node `i` runs, with what it needs of them.
    fn uses(&self, i: NodeId) -> Vec<Use> {
        let mut out = Vec::new();
        let mut add = |model: ClassifierId, data: DataId, split: &'static str, needs: Needs| {
            if let Some(model) = self.user_module(model) {
                out.push(Use {
                    node: i,
                    model,
                    data,
                    split,
                    needs,
                });
            }
        };
        match self.spec(i) {
            NodeSpec::Eval(e) => {
                let attacked = match &e.columns {
                    Columns::Budgets(b) => {
                        e.attack.attack.uses_gradient()
                            && (b.iter().any(|&eps| eps > 0.0)
                                || matches!(
                                    e.attack.attack,
                                    crate::runtime::attacks::Attack::Flicker(_)
                                ))
                    }
                    Columns::Attacks(a) => a.iter().flatten().any(|a| a.attack.uses_gradient()),
                };
                let needs = Needs {
                    input_gradient: attacked,
                    training: false,
                };
                for m in &e.models {
                    add(m.model, e.split.data, e.split.split.as_str(), needs);
                }
            }
            NodeSpec::Analysis(a) => match a.as_ref() {
                AnalysisSpec::Surface { model, split, .. }
                | AnalysisSpec::Fit { model, split, .. } => {
                    let needs = Needs {
                        input_gradient: true,
                        training: false,
                    };
                    add(model.model, split.data, split.split.as_str(), needs);
                }
                AnalysisSpec::Certify { model, split, .. } => {
                    let needs = Needs {
                        input_gradient: false,
                        training: false,
                    };
                    add(model.model, split.data, split.split.as_str(), needs);
                }
                AnalysisSpec::Gap { .. } => {}
            },
            NodeSpec::Train(t) => {
                let needs = Needs {
                    input_gradient: t
                        .training
                        .attack
                        .as_ref()
                        .is_some_and(|a| a.attack.uses_gradient())
                        || matches!(t.learning, Learning::Generative { .. }),
                    training: true,
                };
                add(t.model.model, t.data, "train", needs);
            }
            _ => {}
        }
        out
    }

    /// The `torchscript` model node a model or train node starts from.
    fn user_module(&self, mut c: ClassifierId) -> Option<ModelId> {
        loop {
            match c {
                ClassifierId::Train(t) => c = self.lowered.train(t).model.model,
                ClassifierId::Model(m) => {
                    let arch = &self.lowered.model(m).arch;
                    return matches!(arch, Arch::TorchScript { .. } | Arch::Python(_)).then_some(m);
                }
            }
        }
    }

    fn refusal(&self, u: Use, code: Code, message: String, help: String) -> Box<Diagnostic> {
        let model = &self.program.nodes[u.model.node()];
        let mut d = Diagnostic::new(code, model.file, model.name_span, message)
            .label(format!("the module of `{}`", model.name))
            .help(format!("nothing was run; {help}"));
        let user = &self.program.nodes[u.node];
        if user.file == model.file && u.node != u.model.node() {
            d = d.also(user.name_span, format!("`{}` uses it", user.name));
        }
        Box::new(d)
    }

    /// Loads the module of `u.model` and runs it once on two clips: it must
    /// load, take the data's clips, give one row of floating-point logits a
    /// clip of the data's class count, all finite, with the gradients the
    /// node needs.
    fn probe(&mut self, u: Use) -> Result<(), Box<Diagnostic>> {
        let m = self.lowered.model(u.model).clone();
        let path: &std::path::Path = match &m.arch {
            Arch::TorchScript { path } => path,
            // A module's dotted name stands where a file's path would.
            Arch::Python(p) => match &p.source {
                PySource::File(path) => path,
                PySource::Module(name) => std::path::Path::new(name),
            },
            _ => return Ok(()),
        };
        let Some(data) = self.data.get(&u.data).cloned() else {
            return Ok(());
        };
        let [c, t, h, w] = data.shape;
        let tried = Tried {
            u,
            path,
            file: path.display().to_string(),
            shape: format!("N×{c}×{t}×{h}×{w}"),
            model: self.program.nodes[u.model.node()].name.clone(),
            data: self.program.nodes[u.data.node()].name.clone(),
            classes: match m.classes {
                Classes::Fixed(c) => Some(c),
                _ => None,
            },
            data_classes: data.classes,
            redo: match m.arch {
                Arch::Python(_) => Redo::Rerun,
                _ => Redo::Export,
            },
        };
        let spec = ModelSpec {
            arch: m.arch.clone(),
            classes: tried.classes.unwrap_or(data.classes),
            pretrained: m.pretrained.clone(),
        };
        let mut net = self.probe_load(&tried, &spec)?;
        net.precision = self.program.settings.precision;
        let x = self.probe_clips(&tried, &data)?;
        let x = x.detach().set_requires_grad(true);
        let out = self.probe_forward(&tried, &net, &x)?;
        self.probe_logits(&tried, &out, x.size()[0])?;
        self.probe_gradients(&tried, &net, &out, &x)
    }

    /// The module built, or why it cannot be (a `torch.save` pickle, a file
    /// that is no module).
    fn probe_load(&self, t: &Tried, spec: &ModelSpec) -> Result<Net, Box<Diagnostic>> {
        let python = matches!(spec.arch, Arch::Python(_));
        Net::build(spec, self.opts.device).map_err(|e| match models::torchscript::pickled(t.path) {
            _ if python => self.refusal(
                t.u,
                Code::NodeFailed,
                e.to_string(),
                "fix the file or its factory, and run again".into(),
            ),
            Some(_) => self.refusal(
                t.u,
                Code::NotTorchscript,
                e.to_string(),
                "`torch.save` keeps weights, not the code that runs them; export the model as TorchScript: `torch.jit.script(model).save(path)`, or `torch.jit.trace(model, example).save(path)` with `example` a batch of clips N×C×T×H×W".into(),
            ),
            None => self.refusal(
                t.u,
                Code::NodeFailed,
                e.to_string(),
                "give the path of a module saved with `torch.jit.script(model).save(path)` or `torch.jit.trace(model, example).save(path)`".into(),
            ),
        })
    }

    /// Two clips of the split the node reads (the one clip twice, or zeros
    /// of the data's shape when the split is empty).
    fn probe_clips(&self, t: &Tried, data: &Dataset) -> Result<Tensor, Box<Diagnostic>> {
        let [c, f, h, w] = data.shape;
        let clips = data.split(t.u.split);
        let take = |rows: &[usize]| {
            clips
                .batch(rows, 0, self.opts.device)
                // A sample of several views: the module is probed on one.
                .map(|(x, _)| x.narrow(2, 0, f))
                .map_err(|e| {
                    self.refusal(
                        t.u,
                        Code::NodeFailed,
                        e.to_string(),
                        "fix the data and run again".into(),
                    )
                })
        };
        match clips.len() {
            0 => Ok(Tensor::zeros(
                [2, c, f, h, w],
                (Kind::Float, self.opts.device),
            )),
            1 => take(&[0]).map(|x| Tensor::cat(&[&x, &x], 0)),
            _ => take(&[0, 1]),
        }
    }

    /// The module's output on `x`, or its own error coded by kind (a shape
    /// it does not take, no tensor out, an exception of its own).
    fn probe_forward(&self, t: &Tried, net: &Net, x: &Tensor) -> Result<Tensor, Box<Diagnostic>> {
        let e = match net.try_forward(x) {
            Ok(out) => return Ok(out),
            Err(e) => e,
        };
        let (shape, dname, file) = (&t.shape, &t.data, &t.file);
        let (code, help) = match e.kind {
            ScriptErrorKind::Shape => (
                Code::ShapeMismatch,
                format!("the module must accept clips {shape} (C×T×H×W of `{dname}`), float in [0, 1]; change its input layer or the data's channels, frames or size"),
            ),
            ScriptErrorKind::NotATensor => (
                Code::BadOutput,
                format!("forward() must return one tensor of logits, N×classes; return only the logits (e.g. `return logits`, not `return logits, features`) and {}", t.redo.again()),
            ),
            ScriptErrorKind::Arguments => (
                Code::ShapeMismatch,
                format!("give `mean` and `std` one value, or one for each channel of `{dname}` (clips {shape})"),
            ),
            ScriptErrorKind::Raised | ScriptErrorKind::Other => (
                Code::ForwardFailed,
                format!("the error above is the module's own, on two clips {shape} of `{dname}`; fix forward() and {}", t.redo.module_again()),
            ),
        };
        let what = if matches!(
            e.kind,
            ScriptErrorKind::NotATensor | ScriptErrorKind::Arguments
        ) {
            format!("{file}: {}", e.text)
        } else {
            format!(
                "the forward pass of {file} failed on clips {shape}:\n{}",
                e.text
            )
        };
        Err(self.refusal(t.u, code, what, help))
    }

    /// `out` is `n` rows of finite floating-point logits, as many a row as
    /// the model says and the data has classes.
    fn probe_logits(&self, t: &Tried, out: &Tensor, n: i64) -> Result<(), Box<Diagnostic>> {
        let (file, name, dname) = (&t.file, &t.model, &t.data);
        let refuse = |code, message, help: String| Err(self.refusal(t.u, code, message, help));
        let got = out.size();
        if !matches!(
            out.kind(),
            Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
        ) {
            return refuse(
                Code::BadOutput,
                format!(
                    "forward() of {file} returns {:?} values; logits must be floating point",
                    out.kind()
                ),
                "return the logits as floats (drop an `argmax` or a `.long()` at the end of forward())".into(),
            );
        }
        if got.len() != 2 || got[0] != n {
            return refuse(
                Code::BadOutput,
                format!(
                    "forward() of {file} returns a tensor of shape {got:?} for {n} clips; it must return N×classes logits"
                ),
                "return one row of logits per clip (flatten or pool what is left of time and space before the last layer)".into(),
            );
        }
        let width = got[1];
        if let Some(c) = t.classes.filter(|&c| c != width) {
            return refuse(
                Code::ShapeMismatch,
                format!(
                    "`{name}` says `classes: {c}` (`{dname}` has {} classes), but its module gives {width} logits a clip",
                    t.data_classes
                ),
                format!("make `classes` {width}, or {}", t.redo.outputs(c)),
            );
        }
        if width != t.data_classes {
            let said = t
                .classes
                .map_or(String::new(), |c| format!("`classes: {c}`, "));
            return refuse(
                Code::ShapeMismatch,
                format!(
                    "`{name}` ({said}{width} logits a clip) is used on `{dname}`, which has {} classes",
                    t.data_classes
                ),
                format!(
                    "use data of {width} classes, or a module with {} outputs (`classes: {dname}.classes` checks it)",
                    t.data_classes
                ),
            );
        }
        let bad = {
            let _g = tch::no_grad_guard();
            i64::try_from(
                out.isfinite()
                    .logical_not()
                    .any_dim(1, false)
                    .sum(Kind::Int64),
            )
            .unwrap_or(0)
        };
        if bad > 0 {
            return refuse(
                Code::BadOutput,
                format!(
                    "forward() of {file} gives NaN or infinite logits on {bad} of {} clean clips of `{dname}`",
                    got[0]
                ),
                format!("an accuracy over NaN logits means nothing; check forward() on these clips in PyTorch (a division by zero, a log of 0, weights that are NaN) and {}", t.redo.again()),
            );
        }
        Ok(())
    }

    /// The gradients the node takes: with respect to the clips (an attack),
    /// with respect to the parameters (training).
    fn probe_gradients(
        &self,
        t: &Tried,
        net: &Net,
        out: &Tensor,
        x: &Tensor,
    ) -> Result<(), Box<Diagnostic>> {
        let (u, file) = (t.u, &t.file);
        if u.needs.input_gradient
            && crate::runtime::attacks::pgd::gradients(&[&out.sum(Kind::Float)], &[x]).is_err()
        {
            return Err(self.refusal(
                u,
                Code::NoGradient,
                format!(
                    "forward() of {file} returns a tensor with no gradient with respect to its input: `{}` attacks it, and an attack needs ∇ₓ",
                    self.program.nodes[u.node].name
                ),
                format!("{}; a black-box attack (`square`) needs no gradient", t.redo.gradient_fix()),
            ));
        }
        if u.needs.training {
            let trainable = net.trainable();
            let reaches = trainable.is_empty() || {
                let out = net.try_forward(&x.detach()).ok();
                out.is_some_and(|o| o.requires_grad())
            };
            if trainable.is_empty() || !reaches {
                let why = if trainable.is_empty() {
                    "has no trainable parameter"
                } else {
                    "returns a tensor with no gradient with respect to its parameters"
                };
                return Err(self.refusal(
                    u,
                    Code::NoGradient,
                    format!(
                        "forward() of {file} {why}: `{}` trains it",
                        self.program.nodes[u.node].name
                    ),
                    format!(
                        "{}; {}, or evaluate it without training",
                        t.redo.gradient_fix(),
                        t.redo.trainable()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A node an attack or a training step stopped for want of a gradient
    /// (what the probe could not see before it ran): `advp::run::no_gradient`.
    pub(super) fn no_gradient(&self, i: NodeId, e: &NoGradient) -> RunError {
        RunError::Diagnostics(vec![self.diag(
            i,
            Code::NoGradient,
            format!("`{}` stopped: {e}", self.program.nodes[i].name),
            &Redo::Export.gradient_fix(),
        )])
    }

    /// A node stopped by what [`models::catch_libtorch`] caught: a libtorch
    /// error inside a model, `node_failed`.
    pub(super) fn caught(&self, i: NodeId, c: Caught) -> RunError {
        let Caught::Failed(m) = c;
        self.fail(
            i,
            NodeError::Torch(format!(
                "libtorch failed while running `{}`: {m}",
                self.program.nodes[i].name
            )),
        )
    }
}
