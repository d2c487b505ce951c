//! Every built-in in one table: its kind, arguments (types, defaults, ranges) and block statements.
//!
//! Defaults are written in `.advp` syntax, so `docs/language.md` and `advp builtins`
//! show them exactly as a user would write them.

use super::ast::DeclKind;
use super::program::Precision;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ty {
    /// A whole number (or `data.classes`).
    Int,
    Num,
    Str,
    Bool,
    /// One of the listed words, written bare: `mode: one_shot`.
    Choice(&'static [&'static str]),
    /// One of the listed whole numbers: `depth: 18`.
    IntChoice(&'static [i64]),
    /// `inf` or `2`.
    Norm,
    /// `inf`, `2` or `1` (FAB minimises L1 too).
    NormL1,
    /// Training noise: `gaussian(σ)`, σ in [0, 1] pixel units.
    Noise,
    /// `random`, `top_left`, `center` or `[y, x]`.
    Position,
    /// A list of numbers of this length (0: any length).
    NumList(usize),
    /// Numbers as a list, set or range: `1..12`, `[0, 4, 8]`.
    Numbers,
    Data,
    /// `ucf.train`, `ucf.test`, `ucf.val`.
    Split,
    /// A `model` or `train` node, or `defense >> model`.
    Model,
    /// A list of models.
    Models,
    Attack,
    /// A set or list of attacks: `{apgd_ce, square}`.
    Attacks,
    Defense,
    /// A `train` node (its logged metrics).
    Train,
    /// A plain value handed to a user's Python code: a number, a string,
    /// `true`/`false`, or a list of them.
    Plain,
    /// A list of strings: `["lib/", "blocks.py"]`.
    StrList,
}

impl Ty {
    pub fn describe(self) -> String {
        match self {
            Ty::Int => "a whole number".into(),
            Ty::Num => "a number".into(),
            Ty::Str => "a string".into(),
            Ty::Bool => "`true` or `false`".into(),
            Ty::Choice(c) => super::diagnostic::one_of(c),
            Ty::IntChoice(c) => {
                super::diagnostic::one_of(&c.iter().map(|v| v.to_string()).collect::<Vec<_>>())
            }
            Ty::Norm => "`inf` or `2`".into(),
            Ty::NormL1 => "`inf`, `2` or `1`".into(),
            Ty::Noise => "`gaussian(σ)`".into(),
            Ty::Position => "`random`, `top_left`, `center` or `[y, x]`".into(),
            Ty::NumList(0) => "a list of numbers".into(),
            Ty::NumList(n) => format!("a list of {n} numbers"),
            Ty::Numbers => "numbers (a range `1..12`, a list `[…]` or a set `{…}`)".into(),
            Ty::Data => "data".into(),
            Ty::Split => "a data split such as `ucf.test`".into(),
            Ty::Model => "a model".into(),
            Ty::Models => "a list of models".into(),
            Ty::Attack => "an attack".into(),
            Ty::Attacks => "a set of attacks".into(),
            Ty::Defense => "a defense".into(),
            Ty::Train => "a train node".into(),
            Ty::Plain => "a number, a string, `true`/`false` or a list of them".into(),
            Ty::StrList => "a list of strings".into(),
        }
    }

    /// How the reference docs name the type.
    pub fn doc_name(self) -> String {
        match self {
            Ty::Int => "int".into(),
            Ty::Num => "number".into(),
            Ty::Str => "string".into(),
            Ty::Bool => "bool".into(),
            Ty::Choice(c) => c.join(" \\| "),
            Ty::IntChoice(c) => c
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" \\| "),
            Ty::Norm => "inf \\| 2".into(),
            Ty::NormL1 => "inf \\| 2 \\| 1".into(),
            Ty::Noise => "gaussian(σ)".into(),
            Ty::Position => "random \\| top_left \\| center \\| [y, x]".into(),
            Ty::NumList(0) => "[number, …]".into(),
            Ty::NumList(n) => format!("[number × {n}]"),
            Ty::Numbers => "range \\| list \\| set".into(),
            Ty::Data => "data".into(),
            Ty::Split => "split".into(),
            Ty::Model => "model".into(),
            Ty::Models => "[model, …]".into(),
            Ty::Attack => "attack".into(),
            Ty::Attacks => "{attack, …}".into(),
            Ty::Defense => "defense".into(),
            Ty::Train => "train".into(),
            Ty::Plain => "number \\| string \\| bool \\| [ … ]".into(),
            Ty::StrList => "[string, …]".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Default {
    Required,
    /// Optional with no value (e.g. no pretrained weights).
    Absent,
    /// A default written in `.advp` syntax.
    Text(&'static str),
}

#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub ty: Ty,
    pub default: Default,
    /// Inclusive bounds for numbers (and for each number of a list).
    pub range: Option<(f64, f64)>,
    pub doc: &'static str,
}

/// What a block statement holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StmtValue {
    /// Budgets ε in 0..255.
    Budget,
    /// Attack types.
    Attacks,
    /// A step-size rule: arithmetic of `eps`, rules and fitted step sizes.
    Alpha,
    Attack,
    /// Numbers of PGD steps.
    Steps,
    /// `{ gpus: 1, time: "12:00:00" }` for cluster executors.
    Resources,
    /// `compare a > b at eps 8`: a claim tested on the results.
    Claim,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GridUse {
    Forbidden,
    Required,
    Optional,
}

#[derive(Clone, Copy, Debug)]
pub struct StmtSpec {
    pub key: &'static str,
    /// Allowed schedule modes; empty for a plain setting.
    pub modes: &'static [&'static str],
    pub value: StmtValue,
    pub grid: GridUse,
    /// What the node does without the statement, in `.advp` syntax (shown by
    /// `advp builtins`); `None`: the statement is optional and has no value then.
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub doc: &'static str,
    /// True for splits (`ucf.test`), false for numbers (`ucf.classes`).
    pub split: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: DeclKind,
    pub params: &'static [Param],
    pub stmts: &'static [StmtSpec],
    pub fields: &'static [Field],
    pub doc: &'static str,
}

impl Builtin {
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.name == name)
    }
    pub fn stmt(&self, key: &str) -> Option<&'static StmtSpec> {
        self.stmts.iter().find(|s| s.key == key)
    }
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

pub fn lookup(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

pub const EPS_RANGE: (f64, f64) = (0.0, 255.0);
const COUNT: (f64, f64) = (1.0, 1e9);
const UNIT: (f64, f64) = (0.0, 1.0);

/// The name of a built-in's open parameter: an argument of any other name
/// binds to it (a `python(…)` model's factory arguments).
pub const EXTRA: &str = "…";

const fn p(name: &'static str, ty: Ty, default: Default, doc: &'static str) -> Param {
    Param {
        name,
        ty,
        default,
        range: None,
        doc,
    }
}

const fn pr(
    name: &'static str,
    ty: Ty,
    default: Default,
    range: (f64, f64),
    doc: &'static str,
) -> Param {
    Param {
        name,
        ty,
        default,
        range: Some(range),
        doc,
    }
}

use self::Default::{Absent, Required, Text};

/// A video data built-in's arguments: its own (`head`), then how clips are
/// sampled, the same for every layout.
macro_rules! sampled {
    ($($head:expr),* $(,)?) => {
        &[
            $($head,)*
            pr("frames", Ty::Int, Text("16"), (1.0, 512.0), "frames per clip"),
            pr("stride", Ty::Int, Text("1"), (1.0, 64.0), "the step between a clip's frames in the video (2: every other frame)"),
            pr("size", Ty::Int, Text("112"), (8.0, 1024.0), "crop size"),
            pr("clips", Ty::Int, Text("10"), (1.0, 100.0), "evenly spaced test windows per video (at most its distinct windows: each once)"),
            p("crops", Ty::IntChoice(&[1, 3]), Text("1"), "square crops of each test window, the frame resized to a short side of `size`: 1, the centre; 3, the start, centre and end of the long side"),
            p("views", Ty::Bool, Text("false"), "`true`: a test video is one sample of its clips × crops views, the model's logits averaged over them (the Kinetics protocol), and an attack perturbs every view of it (each within ε); `false`: each view is a sample and video accuracy averages their softmax"),
            pr("val", Ty::Num, Text("0.05"), (0.0, 0.9), "fraction of training videos held out"),
        ]
    };
}

const SPLIT_FIELDS: &[Field] = &[
    Field {
        name: "classes",
        doc: "number of classes",
        split: false,
    },
    Field {
        name: "train",
        doc: "the training split",
        split: true,
    },
    Field {
        name: "val",
        doc: "the held-out split (AAT's Eq. 8, validation metrics)",
        split: true,
    },
    Field {
        name: "test",
        doc: "the test split",
        split: true,
    },
];

const RESOURCES: StmtSpec = StmtSpec {
    key: "resources",
    modes: &[],
    value: StmtValue::Resources,
    grid: GridUse::Forbidden,
    default: None,
    doc: "cluster resources for this node: `resources { gpus: 1, time: \"12:00:00\" }`",
};

const TRAIN_STMTS: &[StmtSpec] = &[
    StmtSpec {
        key: "budget",
        modes: &["fixed", "curriculum", "adaptive", "uniform"],
        value: StmtValue::Budget,
        grid: GridUse::Forbidden,
        default: None,
        doc: "the training budget ε: `fixed 8`, `curriculum 0..12 step 2 every 10`, `adaptive 0..12 step 2 every 10`, `uniform {0, 4, 8, 12}`",
    },
    StmtSpec {
        key: "attacks",
        modes: &["fixed", "curriculum", "adaptive", "uniform"],
        value: StmtValue::Attacks,
        grid: GridUse::Forbidden,
        default: None,
        doc: "train over attack types: `attacks adaptive {masked_pgd, frame_border} every 10`",
    },
    StmtSpec {
        key: "alpha",
        modes: &[],
        value: StmtValue::Alpha,
        grid: GridUse::Forbidden,
        default: None,
        doc: "the step size α as a rule of `eps`: `alpha eps`, `alpha optimal / 2`, `alpha 1.5`",
    },
    RESOURCES,
];

const ATTACK_STMT: StmtSpec = StmtSpec {
    key: "attack",
    modes: &[],
    value: StmtValue::Attack,
    grid: GridUse::Forbidden,
    default: None,
    doc: "the attack used: `attack pgd_inf(steps: 10)`",
};

/// An evaluation's attack: without the statement, PGD with its own defaults.
const EVAL_ATTACK_STMT: StmtSpec = StmtSpec {
    default: Some("pgd"),
    ..ATTACK_STMT
};

/// The attack of a step-size analysis: without the statement, PGD with its
/// own defaults, as an evaluation's.
const ANALYSIS_ATTACK_STMT: StmtSpec = StmtSpec {
    default: Some("pgd"),
    doc: "the PGD (or FGSM) whose step size is studied: `attack pgd(steps: 10)`",
    ..ATTACK_STMT
};

const ALPHA_RULE: StmtSpec = StmtSpec {
    key: "alpha",
    modes: &[],
    value: StmtValue::Alpha,
    grid: GridUse::Forbidden,
    default: None,
    doc: "the step size α as a rule of `eps` (default: the attack's own `step`)",
};

const TRAIN_COMMON: [Param; 9] = [
    pr("epochs", Ty::Int, Text("60"), COUNT, "training epochs"),
    pr("batch", Ty::Int, Text("32"), COUNT, "batch size"),
    p(
        "optimizer",
        Ty::Choice(&["sgd", "adam"]),
        Text("sgd"),
        "optimizer (`adam`: β = (0.9, 0.999), ε = 1e-8, as PyTorch's)",
    ),
    pr("lr", Ty::Num, Text("0.01"), (0.0, 10.0), "learning rate"),
    pr("momentum", Ty::Num, Text("0.9"), UNIT, "SGD momentum"),
    pr("weight_decay", Ty::Num, Text("0.001"), UNIT, "weight decay"),
    p("nesterov", Ty::Bool, Text("false"), "Nesterov momentum"),
    p(
        "milestones",
        Ty::NumList(0),
        Text("[]"),
        "epochs at which the learning rate is multiplied by `lr_decay`",
    ),
    pr(
        "lr_decay",
        Ty::Num,
        Text("0.1"),
        UNIT,
        "multistep learning-rate factor",
    ),
];

/// A classifier training's `precision:`.
const PRECISION: Param = p(
    "precision",
    Ty::Choice(&Precision::WORDS),
    Absent,
    "this training's precision (absent: the file's `precision`): `bf16` or `fp16` autocast in the forward passes, fp16 with dynamic loss scaling",
);

/// `precision:` of a training with several networks and optimizers (G, D,
/// F), which fp16's one loss scale does not cover.
const PRECISION_NO_FP16: Param = p(
    "precision",
    Ty::Choice(&["fp32", "bf16"]),
    Absent,
    "this training's precision (absent: the file's `precision`): `bf16` autocast in the forward passes; not `fp16`, whose loss scaling covers one classifier's optimizer",
);

macro_rules! with_common {
    ($($p:expr),* $(,)?) => {
        &[$($p,)* TRAIN_COMMON[0], TRAIN_COMMON[1], TRAIN_COMMON[2], TRAIN_COMMON[3], TRAIN_COMMON[4],
          TRAIN_COMMON[5], TRAIN_COMMON[6], TRAIN_COMMON[7], TRAIN_COMMON[8]]
    };
}

pub const BUILTINS: &[Builtin] = &[
    // ------------------------------------------------------------------ data
    Builtin {
        name: "synthetic",
        kind: DeclKind::Data,
        doc: "Procedural video made on the fly from a seed: classes differ by subtle motion, so a model must use time. No files.",
        params: &[
            pr("classes", Ty::Int, Text("10"), (2.0, 1000.0), "number of classes"),
            pr("frames", Ty::Int, Text("8"), (2.0, 512.0), "frames per clip"),
            pr("size", Ty::Int, Text("32"), (8.0, 1024.0), "frame height and width"),
            pr("train", Ty::Int, Text("600"), COUNT, "training clips"),
            pr("test", Ty::Int, Text("200"), COUNT, "test clips"),
            pr("val", Ty::Int, Text("100"), (0.0, 1e9), "held-out clips"),
            pr("seed", Ty::Int, Text("0"), (0.0, 1e15), "the dataset's own seed"),
            pr("contrast", Ty::Num, Text("0.35"), UNIT, "contrast of moving objects against the background"),
            pr("noise", Ty::Num, Text("0.05"), UNIT, "standard deviation of pixel noise"),
            pr("distractors", Ty::Int, Text("2"), (0.0, 32.0), "moving objects that carry no label"),
        ],
        stmts: &[],
        fields: SPLIT_FIELDS,
    },
    Builtin {
        name: "tensors",
        kind: DeclKind::Data,
        doc: "Clips prepared elsewhere: a safetensors file with `x` (N×C×T×H×W in [0, 1]), `y` (N, int64) and optionally `x_test`, `y_test`.",
        params: &[
            p("path", Ty::Str, Required, "the .safetensors file, relative to the pipeline"),
            pr("val", Ty::Num, Text("0.1"), (0.0, 0.9), "fraction of `x` held out"),
        ],
        stmts: &[],
        fields: SPLIT_FIELDS,
    },
    Builtin {
        name: "ucf101",
        kind: DeclKind::Data,
        doc: "UCF101 with the official split files: frame folders (`root/<class>/<video>/image_00001.jpg`, Hara et al.'s layout) or, with `format: video`, the archive's videos as extracted (`root/<class>/<video>.avi`), decoded on the fly.",
        params: sampled![
            p("root", Ty::Str, Text("\"data/ucf101\""), "the data folder, holding `classInd.txt`, `trainlist0N.txt`, `testlist0N.txt` (or `ucfTrainTestlist/`)"),
            p("format", Ty::Choice(&["frames", "video"]), Text("frames"), "`frames`: folders of JPEG frames; `video`: the `.avi` files themselves"),
            pr("split", Ty::Int, Text("1"), (1.0, 3.0), "official split 1, 2 or 3"),
        ],
        stmts: &[],
        fields: SPLIT_FIELDS,
    },
    Builtin {
        name: "hmdb51",
        kind: DeclKind::Data,
        doc: "HMDB51 in the same layouts as `ucf101` (frame folders, or with `format: video` the `<class>/<video>.avi` files), with its official split files.",
        params: sampled![
            p("root", Ty::Str, Text("\"data/hmdb51\""), "the data folder with the split files"),
            p("format", Ty::Choice(&["frames", "video"]), Text("frames"), "`frames`: folders of JPEG frames; `video`: the `.avi` files themselves"),
            pr("split", Ty::Int, Text("1"), (1.0, 3.0), "official split 1, 2 or 3"),
        ],
        stmts: &[],
        fields: SPLIT_FIELDS,
    },
    Builtin {
        name: "videos",
        kind: DeclKind::Data,
        doc: "Video files (`.mp4`, `.avi`, `.mkv`, `.webm`, …) named by two lists of lines `path,label` (a path relative to its list; a label a class number from 0 or a class name), decoded on the fly.",
        params: sampled![
            p("train", Ty::Str, Required, "the list of training videos"),
            p("test", Ty::Str, Required, "the list of test videos"),
        ],
        stmts: &[],
        fields: SPLIT_FIELDS,
    },
    Builtin {
        name: "kinetics",
        kind: DeclKind::Data,
        doc: "Kinetics-400/600/700 as downloaded: the official annotations (`annotations/train.csv`, `annotations/validate.csv`; videos `<youtube_id>_<start>_<end>.mp4` in class folders or flat under `train/` and `val/`), or class folders alone. Tested on the validation set.",
        params: sampled![
            p("root", Ty::Str, Text("\"data/kinetics\""), "the folder holding `train/`, `val/` and `annotations/`"),
        ],
        stmts: &[],
        fields: SPLIT_FIELDS,
    },
    Builtin {
        name: "ssv2",
        kind: DeclKind::Data,
        doc: "Something-Something v2 as downloaded: `labels/labels.json`, `labels/train.json`, `labels/validation.json` and the `<id>.webm` videos (in `20bn-something-something-v2/`, `videos/` or the root). Tested on the validation set.",
        params: sampled![
            p("root", Ty::Str, Text("\"data/ssv2\""), "the folder holding `labels/` and the videos"),
        ],
        stmts: &[],
        fields: SPLIT_FIELDS,
    },
    // ---------------------------------------------------------------- models
    Builtin {
        name: "c3d_small",
        kind: DeclKind::Model,
        doc: "A small 3-layer C3D-style network for CPU runs.",
        params: &[
            pr("classes", Ty::Int, Required, (2.0, 100000.0), "number of classes"),
            pr("width", Ty::Int, Text("16"), (1.0, 1024.0), "channels of the first layer (doubled per layer)"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "r3d",
        kind: DeclKind::Model,
        doc: "3D ResNet (Hara et al.), shortcut B.",
        params: &[
            p("depth", Ty::IntChoice(&[18, 34, 50]), Text("18"), "network depth"),
            pr("classes", Ty::Int, Required, (2.0, 100000.0), "number of classes"),
            p("pretrained", Ty::Str, Absent, "weights: .safetensors, or a .pt written by libtorch; convert a Python `torch.save` state dict with `scripts/to-safetensors`"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "resnext101",
        kind: DeclKind::Model,
        doc: "3D ResNeXt-101 (Hara et al.): cardinality 32, layers 3-4-23-3, shortcut B.",
        params: &[
            pr("classes", Ty::Int, Required, (2.0, 100000.0), "number of classes"),
            p("pretrained", Ty::Str, Absent, "weights: .safetensors, or a .pt written by libtorch (convert a Python `torch.save` state dict with `scripts/to-safetensors`); a `module.` prefix is stripped, a classifier of another class count replaced"),
            pr("cardinality", Ty::Int, Text("32"), (1.0, 256.0), "groups in each bottleneck"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "python",
        kind: DeclKind::Model,
        doc: "A PyTorch `nn.Module` built by a user's Python code, run as written in advp's process on its libtorch (no export step). Clips reach it in [0, 1] pixels, normalised by `mean`/`std` inside advp's graph, so ε stays in pixel units.",
        params: &[
            p("path", Ty::Str, Required, "the .py file, relative to the pipeline (its folder leads `sys.path`, so its own imports resolve), or an importable module such as `\"torchvision.models.video\"`"),
            p("factory", Ty::Str, Text("\"build\""), "the function that builds the module, called as `factory(classes=N, …)` (as `num_classes=N` where it takes that instead, as torchvision's and timm's do)"),
            pr("classes", Ty::Int, Required, (2.0, 100000.0), "number of classes: passed to the factory, and checked against the module's output and the data"),
            p("pretrained", Ty::Str, Absent, "weights: .safetensors, or a PyTorch checkpoint (`.pth`/`.pt`, read by `torch.load(weights_only=True)`; a `state_dict` inside it and a `module.` prefix are found), loaded by `state_dict` name"),
            p("layout", Ty::Choice(&["ncthw", "ntchw"]), Text("ncthw"), "the clip layout `forward` takes: N×C×T×H×W as advp's, or N×T×C×H×W (VideoMAE, TimeSformer)"),
            pr("mean", Ty::NumList(0), Absent, (0.0, 1.0), "per-channel mean in [0, 1] pixel units, subtracted inside advp's graph before `forward` (Kinetics: `[0.45, 0.45, 0.45]`)"),
            pr("std", Ty::NumList(0), Absent, (0.0001, 1.0), "per-channel standard deviation in [0, 1] pixel units, divided by after `mean`"),
            p("output", Ty::Str, Absent, "where the logits are in what `forward` returns: a key of a dict or an attribute (a tensor, or an object with `.logits`, needs none)"),
            p("sources", Ty::StrList, Absent, "further files or folders (relative to the pipeline) whose contents the cache key covers, such as a package of the user's that `path` imports"),
            p(EXTRA, Ty::Plain, Absent, "any other argument goes to the factory as a keyword argument: `depth: 18`, `dropout: 0.5`, `name: \"s\"`, `pool: true`, `sizes: [1, 2]`"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "torchscript",
        kind: DeclKind::Model,
        doc: "A TorchScript module a user exported (`torch.jit.save`).",
        params: &[
            p("path", Ty::Str, Required, "the .pt file, relative to the pipeline"),
            pr("classes", Ty::Int, Absent, (2.0, 100000.0), "number of classes, checked against the module's output and the data"),
        ],
        stmts: &[],
        fields: &[],
    },
    // --------------------------------------------------------------- attacks
    Builtin {
        name: "fgsm",
        kind: DeclKind::Attack,
        doc: "Fast gradient sign method: δ = ε·sign(∇ₓL), one step.",
        params: &[pr("eps", Ty::Num, Text("8"), EPS_RANGE, "budget ε in 0..255 units")],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "pgd",
        kind: DeclKind::Attack,
        doc: "Projected gradient descent (Eq. 7), L∞ or L2.",
        params: &[
            p("norm", Ty::Norm, Text("inf"), "the norm of the ball"),
            pr("eps", Ty::Num, Text("8"), EPS_RANGE, "budget ε in 0..255 units"),
            pr("step", Ty::Num, Text("2"), EPS_RANGE, "step size α in 0..255 units"),
            pr("steps", Ty::Int, Text("10"), COUNT, "iterations M"),
            p("random_start", Ty::Bool, Text("false"), "start uniformly in the ball (torchattacks, foolbox) instead of at 0 (ART)"),
            p("bn", Ty::Choice(&["eval", "train"]), Text("eval"), "BatchNorm mode during the attack (`train` as in the released code)"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "apgd",
        kind: DeclKind::Attack,
        doc: "APGD (Croce & Hein 2020), AutoAttack's white-box attack for clips: step-size halving at checkpoints, momentum 0.75, best-loss iterate; `targets: 9` is APGD-T.",
        params: &[
            p("loss", Ty::Choice(&["ce", "dlr"]), Text("ce"), "cross-entropy, or the difference of logits ratio (≥ 3 classes; targeted with `targets`, ≥ 4 classes)"),
            p("norm", Ty::Norm, Text("inf"), "the norm of the ball"),
            pr("eps", Ty::Num, Text("8"), EPS_RANGE, "budget ε in 0..255 units"),
            pr("steps", Ty::Int, Text("100"), COUNT, "iterations N per run"),
            pr("restarts", Ty::Int, Text("1"), COUNT, "random restarts, each on the clips still robust"),
            pr("targets", Ty::Int, Text("0"), (0.0, 1000.0), "APGD-T: the top-k other classes targeted in turn, at most classes − 1 (targeted DLR; AutoAttack's standard uses 9); 0 untargeted"),
            pr("rho", Ty::Num, Text("0.75"), UNIT, "the checkpoint test's share ρ of steps whose loss rose"),
            p("bn", Ty::Choice(&["eval", "train"]), Text("eval"), "BatchNorm mode during the attack"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "fab",
        kind: DeclKind::Attack,
        doc: "FAB (Croce & Hein 2020), the fast adaptive boundary attack for clips: the minimal-norm adversarial by linearising the model at each iterate; a clip counts fooled only if the norm found is ≤ ε. `targets: 9` is FAB-T, AutoAttack's standard member.",
        params: &[
            p("norm", Ty::NormL1, Text("inf"), "the norm minimised: `inf`, `2` or `1`"),
            pr("eps", Ty::Num, Text("8"), (0.0, 1e9), "budget ε in 0..255 units (an L1 or L2 ball may exceed 255)"),
            pr("steps", Ty::Int, Text("100"), COUNT, "iterations per run"),
            pr("restarts", Ty::Int, Text("1"), COUNT, "runs, each on the clips still robust; after the first from a random point at ½·ε"),
            pr("targets", Ty::Int, Text("0"), (0.0, 1000.0), "FAB-T: the top-k other classes targeted in turn, at most classes − 1 (AutoAttack's standard uses 9); 0 untargeted (one backward pass per class and step)"),
            pr("alpha_max", Ty::Num, Text("0.1"), UNIT, "the largest weight α of the step from the clean clip"),
            pr("eta", Ty::Num, Text("1.05"), (1.0, 10.0), "overshooting η of each projection"),
            pr("beta", Ty::Num, Text("0.9"), UNIT, "the backward step β toward the clean clip after a misclassified iterate"),
            p("bn", Ty::Choice(&["eval", "train"]), Text("eval"), "BatchNorm mode during the attack"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "square",
        kind: DeclKind::Attack,
        doc: "Square (Andriushchenko et al. 2020), AutoAttack's score-based black-box attack, L∞: a square window over every frame (per-frame ±ε) changed per query, kept when the margin falls; only still-robust clips are queried.",
        params: &[
            pr("eps", Ty::Num, Text("8"), EPS_RANGE, "budget ε in 0..255 units"),
            pr("queries", Ty::Int, Text("5000"), COUNT, "queries per clip, the start included"),
            pr("p_init", Ty::Num, Text("0.8"), UNIT, "the share of each frame the first squares cover (halved on the reference's schedule)"),
            p("rescale_schedule", Ty::Bool, Text("true"), "stretch p's schedule, set for 10 000 queries, to `queries` (the reference's default); AutoAttack runs its 5000 queries on the schedule as it is (`false`)"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "eot",
        kind: DeclKind::Attack,
        doc: "Expectation over transformation (Athalye et al. 2018): the inner gradient attack with its gradient averaged over `samples` passes, for randomized defenses; BPDA through `video_compression` still applies.",
        params: &[
            p("inner", Ty::Attack, Required, "the gradient attack: pgd, fgsm, masked_pgd, frame_border or apgd"),
            pr("samples", Ty::Int, Text("20"), COUNT, "passes averaged per gradient"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "ensemble",
        kind: DeclKind::Attack,
        doc: "Attacks run in turn, each on the clips the earlier ones left robust; a clip counts fooled if any fooled it (one column; AutoAttack's worst case). ε applies to every member.",
        params: &[
            p("attacks", Ty::Attacks, Required, "the attacks, in the order run: `[apgd_ce, apgd_t, square]`"),
            pr("eps", Ty::Num, Text("8"), EPS_RANGE, "budget ε in 0..255 units, for every member"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "masked_pgd",
        kind: DeclKind::Attack,
        doc: "PGD inside one rectangle of H·√r × W·√r, the same on every frame (armory's defaults).",
        params: &[
            pr("ratio", Ty::Num, Text("0.15"), (0.0001, 1.0), "fraction r of each frame covered"),
            p("position", Ty::Position, Text("random"), "where the rectangle sits"),
            pr("eps", Ty::Num, Text("255"), EPS_RANGE, "budget ε inside the mask"),
            pr("step", Ty::Num, Text("1.275"), EPS_RANGE, "step size α (0.005 in [0, 1] units)"),
            pr("steps", Ty::Int, Text("300"), COUNT, "iterations"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "frame_border",
        kind: DeclKind::Attack,
        doc: "PGD on a frame border whose thickness makes it cover the ratio r.",
        params: &[
            pr("ratio", Ty::Num, Text("0.15"), (0.0001, 1.0), "fraction r of each frame covered"),
            pr("eps", Ty::Num, Text("255"), EPS_RANGE, "budget ε on the border"),
            pr("step", Ty::Num, Text("1.275"), EPS_RANGE, "step size α"),
            pr("steps", Ty::Int, Text("300"), COUNT, "iterations"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "saliency",
        kind: DeclKind::Attack,
        doc: "Frame saliency (ART's FrameSaliencyAttack), decided per sample.",
        params: &[
            p("mode", Ty::Choice(&["one_shot", "iterative", "refresh"]), Text("one_shot"), "how frames are chosen"),
            p("inner", Ty::Attack, Text("pgd(eps: 3.825, step: 0.765, steps: 100)"), "the attack run on the clip"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "flicker",
        kind: DeclKind::Attack,
        doc: "Over-the-air flickering (Pony et al.): one offset per frame and channel, no ε-ball.",
        params: &[
            pr("step", Ty::Num, Text("5.1"), EPS_RANGE, "sign step in 0..255 units (0.02 in [0, 1])"),
            pr("steps", Ty::Int, Text("10"), COUNT, "iterations"),
            pr("beta", Ty::NumList(3), Text("[2.0, 0.1, 0.9]"), (0.0, 1e6), "β₀, β₁, β₂ of the regulariser"),
            pr("margin", Ty::Num, Text("0.05"), UNIT, "margin m of the loss"),
        ],
        stmts: &[],
        fields: &[],
    },
    // -------------------------------------------------------------- defenses
    Builtin {
        name: "video_compression",
        kind: DeclKind::Defense,
        doc: "A real H.264 encode and decode (ffmpeg); identity backward (BPDA) when attacked through.",
        params: &[
            pr("crf", Ty::Int, Text("28"), (0.0, 51.0), "constant rate factor"),
            p("codec", Ty::Choice(&["h264"]), Text("h264"), "the codec"),
        ],
        stmts: &[],
        fields: &[],
    },
    Builtin {
        name: "ape_gan",
        kind: DeclKind::Defense,
        doc: "3D APE-GAN (Eq. 9–12): a generator trained to remove perturbations.",
        params: &[
            p("data", Ty::Data, Required, "training data"),
            p("attack", Ty::Attack, Text("pgd"), "the attack δ̂ (computed against F∘G)"),
            pr("epochs", Ty::Int, Text("30"), COUNT, "training epochs"),
            pr("gamma", Ty::NumList(2), Text("[0.7, 0.3]"), (0.0, 1e6), "γ₁ (MSE), γ₂ (adversarial)"),
            pr("lr", Ty::Num, Text("0.0002"), (0.0, 10.0), "Adam learning rate (β = (0.5, 0.999), ε = 1e-8, for G and D)"),
            pr("batch", Ty::Int, Text("16"), COUNT, "batch size"),
            pr("g_steps", Ty::Int, Text("2"), COUNT, "generator steps per discriminator step"),
            p("classifier", Ty::Model, Absent, "the classifier F the attack sees (δ̂ attacks F∘G); without one, δ̂ maximises G's reconstruction error"),
            pr("width", Ty::Int, Text("64"), (1.0, 1024.0), "channels of G's and D's first layer (the paper: 64)"),
            p("output", Ty::Choice(&["image", "residual"]), Text("image"), "what G outputs: `image` (the paper's: its last layer through a sigmoid) or `residual` (x plus its last layer, clamped to [0, 1]: G learns the correction, as HGD's denoiser (Liao et al. 2018) and DnCNN's residual learning do, so leaving a clean clip alone is its easiest map)"),
            PRECISION_NO_FP16,
        ],
        stmts: TRAIN_STMTS,
        fields: &[],
    },
    // -------------------------------------------------------------- training
    Builtin {
        name: "standard",
        kind: DeclKind::Train,
        doc: "Cross-entropy training on clean clips (with `noise: gaussian(σ)`, on clips with Gaussian noise, the base classifier of randomized smoothing).",
        params: with_common![
            p("model", Ty::Model, Required, "the model to train (a fresh copy)"),
            p("data", Ty::Data, Required, "training data"),
            p("preprocess", Ty::Defense, Absent, "a frozen defense applied before the model"),
            p("noise", Ty::Noise, Absent, "`gaussian(σ)`: each training clip plus N(0, σ²) noise per pixel, σ in [0, 1] pixel units, not clipped (Cohen et al. 2019, for `certify` at the same σ)"),
            PRECISION,
        ],
        stmts: &[RESOURCES],
        fields: &[],
    },
    Builtin {
        name: "adversarial",
        kind: DeclKind::Train,
        doc: "Adversarial training (Eq. 5) with budget and attack-type schedules (AAT, CAT).",
        params: with_common![
            p("model", Ty::Model, Required, "the model to train (a fresh copy)"),
            p("data", Ty::Data, Required, "training data"),
            p("attack", Ty::Attack, Text("pgd"), "the training attack; with `method: fgsm_rs` or `free` its budget and norm (L∞), and the PGD that the held-out check runs"),
            p("preprocess", Ty::Defense, Absent, "a frozen defense applied before the model (APE + AT, Eq. 13)"),
            p("method", Ty::Choice(&["pgd", "fgsm_rs", "free"]), Text("pgd"), "how each batch is attacked: `pgd` (the attack as given), `fgsm_rs` (Wong, Rice & Kolter 2020: one signed step of 1.25 ε from a uniform start, with their guard against catastrophic overfitting: when the held-out PGD accuracy falls 20 points below its best, the best epoch's weights come back and training stops), `free` (Shafahi et al. 2019: each batch replayed `replays` times, one weight update and one step of ε on δ each, δ carried to the next batch)"),
            pr("replays", Ty::Int, Text("4"), (1.0, 1000.0), "`method: free`: how many times each batch is replayed (m)"),
            p("loss", Ty::Choice(&["ce", "trades", "mart"]), Text("ce"), "the training loss: cross-entropy on the attacked clips, TRADES (Zhang et al. 2019: clean CE + β·KL(f(x) ‖ f(x′)), x′ maximising the KL from x + 0.001·N(0, 1)) or MART (Wang et al. 2020: boosted CE on x′ + β·KL(f(x) ‖ f(x′))·(1 − f_y(x))); both with `method: pgd`"),
            pr("beta", Ty::Num, Text("6"), (0.0, 1e6), "TRADES' and MART's β"),
            PRECISION,
        ],
        stmts: TRAIN_STMTS,
        fields: &[],
    },
    Builtin {
        name: "generative",
        kind: DeclKind::Train,
        doc: "Generative adversarial training (Eq. 14): G, D and F trained end to end.",
        params: with_common![
            p("model", Ty::Model, Required, "the classifier F"),
            p("ape", Ty::Defense, Required, "the `ape_gan` defense whose G and D are trained on"),
            p("data", Ty::Data, Required, "training data"),
            p("attack", Ty::Attack, Text("pgd"), "the training attack"),
            PRECISION_NO_FP16,
        ],
        stmts: TRAIN_STMTS,
        fields: &[],
    },
    // ------------------------------------------------------------ evaluation
    Builtin {
        name: "robustness",
        kind: DeclKind::Eval,
        doc: "Top-1 accuracy of each model under each budget (or attack type).",
        params: &[
            p("models", Ty::Models, Required, "the models compared, one row each"),
            p("split", Ty::Split, Required, "the split evaluated, e.g. `ucf.test`"),
            pr("batch", Ty::Int, Text("32"), COUNT, "batch size"),
            p("through", Ty::Choice(&["all", "classifier"]), Text("all"), "attack the whole pipeline F∘G (white-box), or the classifier alone"),
            p("protocol", Ty::Choice(&["worst_case", "independent"]), Text("worst_case"), "`worst_case` (AutoAttack's): a clip is robust at ε only if no iterate fooled it at any budget ≤ ε; clean-misclassified clips are not attacked and a fooled clip leaves the batch. `independent` (the paper's): every ε from scratch, the final iterate counts"),
        ],
        stmts: &[
            EVAL_ATTACK_STMT,
            StmtSpec {
                key: "budget",
                modes: &["fixed", "sweep"],
                value: StmtValue::Budget,
                grid: GridUse::Forbidden,
                default: None,
                doc: "budgets ε evaluated: `sweep [0, 4, 8, 12, 15]` gives one column each",
            },
            StmtSpec {
                key: "attacks",
                modes: &["each"],
                value: StmtValue::Attacks,
                grid: GridUse::Forbidden,
                default: None,
                doc: "one column per attack type: `attacks each {none, flicker}`",
            },
            ALPHA_RULE,
            RESOURCES,
            StmtSpec {
                key: "compare",
                modes: &[],
                value: StmtValue::Claim,
                grid: GridUse::Forbidden,
                default: None,
                doc: "a claim tested on the per-clip outcomes, paired over the same clips and seeds: `compare cat_up > cat_down at eps 8` (`at attack flicker` for a column of `attacks each`); the report says whether it holds, does not hold, or cannot be told at this size. Any number of them",
            },
        ],
        fields: &[],
    },
    Builtin {
        name: CERTIFY,
        kind: DeclKind::Eval,
        doc: "Randomized smoothing (Cohen, Rosenfeld & Kolter 2019): the smoothed model's prediction and certified L2 radius per clip by CERTIFY (n₀ draws choose the class, n bound it by Clopper–Pearson; abstain below ½), and the certified accuracy against radius. σ and radii in [0, 1] pixel units (255·R is an L2 budget in 0..255 units).",
        params: &[
            p("model", Ty::Model, Required, "the base classifier f (behind its defenses)"),
            p("split", Ty::Split, Required, "the clips certified, e.g. `ucf.test`"),
            pr("sigma", Ty::Num, Text("0.25"), (1e-6, 10.0), "the noise's σ in [0, 1] pixel units (the paper's 0.12, 0.25, 0.5, 1.0)"),
            pr("n0", Ty::Int, Text("100"), COUNT, "noisy draws that choose the class"),
            pr("n", Ty::Int, Text("100000"), COUNT, "noisy draws that bound its probability"),
            pr("alpha", Ty::Num, Text("0.001"), (1e-12, 0.5), "each certificate fails with probability at most α"),
            pr("samples", Ty::Int, Text("500"), COUNT, "clips certified: the split's first N (all when fewer)"),
            pr("batch", Ty::Int, Text("100"), COUNT, "noisy copies per forward pass"),
        ],
        stmts: &[RESOURCES],
        fields: &[],
    },
    // -------------------------------------------------------------- analyses
    Builtin {
        name: "loss_surface",
        kind: DeclKind::Analyze,
        doc: "Mean adversarial loss over an α × M grid (Figure 1); one attack run per α covers every M.",
        params: &[
            p("model", Ty::Model, Required, "the model attacked"),
            p("split", Ty::Split, Required, "the clips attacked"),
            pr("samples", Ty::Int, Text("256"), COUNT, "clips used"),
        ],
        stmts: &[
            ANALYSIS_ATTACK_STMT,
            StmtSpec {
                key: "budget",
                modes: &["fixed"],
                value: StmtValue::Budget,
                grid: GridUse::Forbidden,
                default: None,
                doc: "the budget ε of the surface",
            },
            StmtSpec {
                key: "alpha",
                modes: &[],
                value: StmtValue::Alpha,
                grid: GridUse::Required,
                default: None,
                doc: "the α axis: `alpha grid 0.25..16 step 0.25`",
            },
            StmtSpec {
                key: "steps",
                modes: &[],
                value: StmtValue::Steps,
                grid: GridUse::Required,
                default: None,
                doc: "the M axis: `steps grid 1..20`",
            },
            RESOURCES,
        ],
        fields: &[],
    },
    Builtin {
        name: "step_fit",
        kind: DeclKind::Analyze,
        doc: "The best α per ε and a least-squares line α̂ = a·ε + b (Figure 2); `alpha NAME` uses the fit.",
        params: &[
            p("model", Ty::Model, Required, "the model attacked"),
            p("split", Ty::Split, Required, "the clips attacked"),
            pr("budgets", Ty::Numbers, Text("1..12"), EPS_RANGE, "the budgets ε fitted"),
            pr("samples", Ty::Int, Text("256"), COUNT, "clips used"),
        ],
        stmts: &[
            ANALYSIS_ATTACK_STMT,
            StmtSpec {
                key: "alpha",
                modes: &[],
                value: StmtValue::Alpha,
                grid: GridUse::Optional,
                default: Some("grid 0.25..8 step 0.25"),
                doc: "the α searched, a grid of numbers",
            },
            RESOURCES,
        ],
        fields: &[],
    },
    Builtin {
        name: "generalization_gap",
        kind: DeclKind::Analyze,
        doc: "Train and validation accuracy per epoch of a train node (Figure 4).",
        params: &[p("train", Ty::Train, Required, "the train node whose metrics are read")],
        stmts: &[],
        fields: &[],
    },
];

/// The certification built-in: an `eval` whose result is an analysis's.
pub const CERTIFY: &str = "certify";

/// Defenses that are trained (a computed, cached node with metrics to
/// report), unlike fixed preprocessors such as `video_compression`.
pub const TRAINED_DEFENSES: &[&str] = &["ape_gan"];

/// Whether a node of this kind and built-in is computed and cached:
/// trainings, evaluations, analyses and trained defenses. Data, models,
/// attacks, rules and fixed defenses are descriptions, built when a computed
/// node needs them.
pub fn computed(kind: DeclKind, builtin: &str) -> bool {
    matches!(kind, DeclKind::Train | DeclKind::Eval | DeclKind::Analyze)
        || (kind == DeclKind::Defense && TRAINED_DEFENSES.contains(&builtin))
}

/// The kind whose reports a node writes: a trained defense (APE-GAN) reports
/// its training metrics like a train node; `None` for a fixed defense and
/// other nodes with nothing to report.
pub fn reports_as(kind: DeclKind, builtin: &str) -> Option<DeclKind> {
    match kind {
        // Certification's result is a typed analysis result, not a table of
        // accuracy under attack.
        DeclKind::Eval if builtin == CERTIFY => Some(DeclKind::Analyze),
        DeclKind::Eval | DeclKind::Analyze | DeclKind::Train => Some(kind),
        DeclKind::Defense if computed(kind, builtin) => Some(DeclKind::Train),
        _ => None,
    }
}

/// Adam's constants (β₁, β₂, ε) for `optimizer: adam`, as PyTorch's defaults.
pub const ADAM: (f64, f64, f64) = (0.9, 0.999, 1e-8);
/// Adam's constants for APE-GAN's G and D (the DCGAN setting of the paper's code).
pub const APE_GAN_ADAM: (f64, f64, f64) = (0.5, 0.999, 1e-8);

/// Classes of the datasets whose class count is fixed (`ucf.classes` is known
/// when checking; other data learn theirs when they run).
pub const KNOWN_CLASSES: &[(&str, i64)] = &[("ucf101", 101), ("hmdb51", 51)];

pub fn known_classes(builtin: &str) -> Option<i64> {
    KNOWN_CLASSES
        .iter()
        .find(|(b, _)| *b == builtin)
        .map(|(_, c)| *c)
}

/// Arguments that name a file a node reads (a user's tensors, weights or
/// TorchScript module): the cache key covers it, by its contents up to the
/// hashing limit, by size and modification time above
/// (`runtime::cache::key::stamp`). (`root` folders of frame data are not
/// stamped.)
pub const FILE_ARGS: &[&str] = &["path", "pretrained", "train", "test"];

/// Each built-in's behaviour version (1 unless listed here), hashed into
/// its nodes' cache keys and so into every key downstream. Bump a
/// built-in's number when a change of advp changes its numbers: its code,
/// or the default of one of its arguments or statements (a key leaves out
/// an argument at its default, so a new default is a new behaviour). A new
/// argument whose default keeps the old behaviour needs no bump: a node
/// that leaves it at its default keeps its key and its cache entry.
pub const BEHAVIOUR: &[(&str, u32)] = &[
    // 2: test clips are distinct windows (a short video no longer gives
    // the same window several times, so old test splits counted copies).
    ("ucf101", 2),
    ("hmdb51", 2),
];

/// A built-in's behaviour version ([`BEHAVIOUR`]).
pub fn behaviour(builtin: &str) -> u32 {
    BEHAVIOUR
        .iter()
        .find(|(b, _)| *b == builtin)
        .map_or(1, |(_, v)| *v)
}

/// Arguments that name a file or folder a node reads: `advp check` warns
/// when one is not there.
pub const READ_PATHS: &[&str] = &["path", "pretrained", "root", "train", "test"];

/// The keys of a `resources { … }` statement, for cluster executors.
pub const RESOURCE_KEYS: &[&str] = &["gpus", "cpus", "mem", "time", "partition", "nodes", "tasks"];

/// The schedule words of block statements (`budget curriculum …`, `attacks each {…}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleMode {
    Fixed,
    Curriculum,
    Adaptive,
    Uniform,
    Sweep,
    Each,
}

impl ScheduleMode {
    pub const ALL: [ScheduleMode; 6] = [
        ScheduleMode::Fixed,
        ScheduleMode::Curriculum,
        ScheduleMode::Adaptive,
        ScheduleMode::Uniform,
        ScheduleMode::Sweep,
        ScheduleMode::Each,
    ];

    pub fn word(self) -> &'static str {
        match self {
            ScheduleMode::Fixed => "fixed",
            ScheduleMode::Curriculum => "curriculum",
            ScheduleMode::Adaptive => "adaptive",
            ScheduleMode::Uniform => "uniform",
            ScheduleMode::Sweep => "sweep",
            ScheduleMode::Each => "each",
        }
    }

    pub fn parse(word: &str) -> Option<ScheduleMode> {
        Self::ALL.into_iter().find(|m| m.word() == word)
    }
}

/// What a `report` statement writes: `report x to …` (tables, figures,
/// metrics), `report e adversarial to …` (the clips), `report e examples to …`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportMode {
    Results,
    Adversarial,
    Examples,
    /// `report e per_clip to "clips.csv"`: one row per (model, attack, ε, clip).
    PerClip,
    /// `report e model_info to "model_info.json"`: RobustBench's entry shape.
    ModelInfo,
    /// `report at weights to "at.safetensors"`: a train node's trained
    /// classifier (`.pt`: the TorchScript module, for a TorchScript model).
    Weights,
}

impl ReportMode {
    /// The words written between the target and `to`.
    pub const WORDS: &'static [&'static str] = &[
        "adversarial",
        "examples",
        "per_clip",
        "model_info",
        "weights",
    ];

    pub fn parse(word: Option<&str>) -> Option<ReportMode> {
        match word {
            None => Some(ReportMode::Results),
            Some("adversarial") => Some(ReportMode::Adversarial),
            Some("examples") => Some(ReportMode::Examples),
            Some("per_clip") => Some(ReportMode::PerClip),
            Some("model_info") => Some(ReportMode::ModelInfo),
            Some("weights") => Some(ReportMode::Weights),
            Some(_) => None,
        }
    }
}

/// A report's file format, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Csv,
    Json,
    Jsonl,
    Html,
    Svg,
    Png,
    Safetensors,
    /// A TorchScript module.
    Pt,
    /// A folder (no extension): example clips.
    Folder,
}

impl Format {
    /// The extension, lower-case, without the dot (empty for a folder).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Html => "html",
            Format::Svg => "svg",
            Format::Png => "png",
            Format::Safetensors => "safetensors",
            Format::Pt => "pt",
            Format::Folder => "",
        }
    }
}

/// Which formats each kind of node writes in each report mode, in the order
/// the help text lists them. Read by `advp check`, `advp run` and `advp report`.
pub const REPORT_FORMATS: &[(DeclKind, ReportMode, &[Format])] = {
    use Format::*;
    &[
        (
            DeclKind::Eval,
            ReportMode::Results,
            &[Markdown, Csv, Json, Html, Svg, Png],
        ),
        (DeclKind::Eval, ReportMode::Adversarial, &[Safetensors]),
        (DeclKind::Eval, ReportMode::Examples, &[Folder]),
        (DeclKind::Eval, ReportMode::PerClip, &[Csv, Jsonl]),
        (DeclKind::Eval, ReportMode::ModelInfo, &[Json]),
        (
            DeclKind::Analyze,
            ReportMode::Results,
            &[Svg, Png, Json, Csv, Markdown],
        ),
        (
            DeclKind::Train,
            ReportMode::Results,
            &[Json, Jsonl, Csv, Svg, Png],
        ),
        (DeclKind::Train, ReportMode::Weights, &[Safetensors, Pt]),
    ]
};

/// The formats a node of `kind` (as [`reports_as`] gives it) writes in `mode`;
/// empty when it has no such report.
pub fn report_formats(kind: DeclKind, mode: ReportMode) -> &'static [Format] {
    REPORT_FORMATS
        .iter()
        .find(|(k, m, _)| *k == kind && *m == mode)
        .map_or(&[], |(_, _, f)| f)
}

/// A report path's extension as the table spells it: lower-case, so
/// `T.MD` is Markdown everywhere.
pub fn report_extension(path: &str) -> String {
    std::path::Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// The format of `path` for a node of `kind` in `mode`; `Err` with what it could be.
pub fn report_format(
    kind: DeclKind,
    mode: ReportMode,
    path: &str,
) -> Result<Format, &'static [Format]> {
    let formats = report_formats(kind, mode);
    let ext = report_extension(path);
    formats
        .iter()
        .copied()
        .find(|f| f.extension() == ext)
        .ok_or(formats)
}

/// Statement keys used by any built-in (for suggestions).
pub fn all_stmt_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = BUILTINS
        .iter()
        .flat_map(|b| b.stmts.iter().map(|s| s.key))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The built-in reference as Markdown (`advp builtins --markdown`, and docs/language.md).
pub fn reference_markdown() -> String {
    let mut out = String::new();
    for kind in DeclKind::ALL {
        let of_kind: Vec<&Builtin> = BUILTINS.iter().filter(|b| b.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        out.push_str(&format!("### `{kind}` built-ins\n\n"));
        for b in of_kind {
            out.push_str(&format!("#### `{}`\n\n", b.name));
            out.push_str(&b.markdown());
        }
    }
    out
}

impl Builtin {
    /// Its doc, arguments (type, default, range, meaning), block statements
    /// and fields, as Markdown: `docs/language.md` and `advp lsp`'s hover.
    pub fn markdown(&self) -> String {
        let b = self;
        let mut out = format!("{}\n\n", b.doc);
        if !b.params.is_empty() {
            out.push_str(
                "| argument | type | default | range | meaning |\n|---|---|---|---|---|\n",
            );
            for p in b.params {
                let range = p
                    .range
                    .map_or(String::new(), |(lo, hi)| format!("{lo} ..= {hi}"));
                out.push_str(&format!(
                    "| `{}` | {} | {} | {} | {} |\n",
                    p.name,
                    p.ty.doc_name(),
                    p.default_text(),
                    range,
                    p.doc
                ));
            }
            out.push('\n');
        }
        if !b.stmts.is_empty() {
            out.push_str("Block statements:\n\n");
            for s in b.stmts {
                let modes = if s.modes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", s.modes.join(", "))
                };
                let default = s
                    .default
                    .map_or(String::new(), |d| format!(" (default: `{d}`)"));
                out.push_str(&format!("- `{}`{}: {}{}\n", s.key, modes, s.doc, default));
            }
            out.push('\n');
        }
        if !b.fields.is_empty() {
            let f: Vec<String> = b
                .fields
                .iter()
                .map(|f| format!("`.{}` ({})", f.name, f.doc))
                .collect();
            out.push_str(&format!("Fields: {}.\n\n", f.join(", ")));
        }
        out
    }

    /// `name(a, b: 8, c: none)`: the call with its defaults.
    pub fn signature(&self) -> String {
        let args: Vec<String> = self
            .params
            .iter()
            .map(|p| match p.default {
                Required => p.name.to_string(),
                Absent => format!("{}: none", p.name),
                Text(t) => format!("{}: {t}", p.name),
            })
            .collect();
        format!("{} {}({})", self.kind, self.name, args.join(", "))
    }
}

impl Param {
    /// `required`, `none` or the default in backticks.
    pub fn default_text(&self) -> String {
        match self.default {
            Required => "required".to_string(),
            Absent => "none".to_string(),
            Text(t) => format!("`{t}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_optimizer_docs_state_the_adam_constants_in_force() {
        let text = |(b1, b2, e): (f64, f64, f64)| format!("β = ({b1}, {b2}), ε = {e:e}");
        let adam = lookup("adversarial").unwrap().param("optimizer").unwrap();
        assert!(adam.doc.contains(&text(ADAM)), "{}", adam.doc);
        let gan = lookup("ape_gan").unwrap().param("lr").unwrap();
        assert!(gan.doc.contains(&text(APE_GAN_ADAM)), "{}", gan.doc);
    }

    #[test]
    fn the_side_tables_name_entries_of_the_table() {
        for a in FILE_ARGS.iter().chain(READ_PATHS) {
            assert!(
                BUILTINS
                    .iter()
                    .any(|b| b.param(a).is_some_and(|p| p.ty == Ty::Str)),
                "`{a}` is no string argument"
            );
        }
        for (b, _) in KNOWN_CLASSES {
            assert_eq!(lookup(b).map(|b| b.kind), Some(DeclKind::Data), "{b}");
        }
        for d in TRAINED_DEFENSES {
            assert_eq!(lookup(d).map(|b| b.kind), Some(DeclKind::Defense), "{d}");
        }
        let eval = lookup("robustness").unwrap().stmt("attack").unwrap();
        assert_eq!(eval.default, Some("pgd"));
    }

    #[test]
    fn report_formats_match_extensions_in_any_case() {
        use Format::*;
        let f = |k, m, p: &str| report_format(k, m, p);
        assert_eq!(f(DeclKind::Eval, ReportMode::Results, "T.MD"), Ok(Markdown));
        assert_eq!(f(DeclKind::Eval, ReportMode::Results, "a/b.Csv"), Ok(Csv));
        assert_eq!(
            f(DeclKind::Train, ReportMode::Results, "m.JSONL"),
            Ok(Jsonl)
        );
        assert_eq!(f(DeclKind::Eval, ReportMode::Examples, "clips"), Ok(Folder));
        assert_eq!(
            f(DeclKind::Eval, ReportMode::Adversarial, "x.SAFETENSORS"),
            Ok(Safetensors)
        );
        assert!(f(DeclKind::Train, ReportMode::Results, "m.md").is_err());
        assert!(f(DeclKind::Analyze, ReportMode::Adversarial, "x.safetensors").is_err());
        assert_eq!(
            reports_as(DeclKind::Defense, "ape_gan"),
            Some(DeclKind::Train)
        );
        assert_eq!(reports_as(DeclKind::Defense, "video_compression"), None);
    }
}
