//! The typed runtime plan: what [`super::lower`] makes of a checked
//! [`Program`](crate::language::Program), one [`NodeSpec`] per node.
//!
//! Every choice word is an enum here and every argument a field: after
//! lowering, no runtime code matches on a built-in's name or reads an
//! argument by string. A node reference is typed by the kind it names
//! ([`DataId`], [`ModelId`], [`TrainId`], …, PRQL's `ids.rs`): the lowering
//! makes one only after it saw the node's kind, so the runtime reads the
//! node's spec through [`Lowered`] without matching on its kind again.

use super::attacks::{Attack, Pgd};
use super::data::{FrameArgs, SyntheticArgs, VideoArgs};
use super::models::Arch;
use super::train::optim::Rule;
use crate::language::builtins::{Format, ReportMode};
use crate::language::program::{Precision, RuleExpr};
use crate::language::schedule::Schedule;
use crate::results::Through;
use std::path::PathBuf;

/// A node of any kind, by its index in `program.nodes` (cache keys, names,
/// diagnostics).
pub type NodeId = usize;

/// Typed node references: the index of a node of one kind. Only the
/// lowering makes them (after it saw the node's kind); a run refuses every
/// node it reaches whose spec is invalid before any work, so a typed id
/// always names a spec of its kind in [`Lowered`].
macro_rules! node_ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(NodeId);

        impl $name {
            /// Made by the lowering only, for a node of this kind.
            pub(super) fn new(i: NodeId) -> Self {
                $name(i)
            }
            /// The node's index in `program.nodes`.
            pub fn node(self) -> NodeId {
                self.0
            }
        }

        impl From<$name> for NodeId {
            fn from(id: $name) -> NodeId {
                id.0
            }
        }

        impl PartialEq<NodeId> for $name {
            fn eq(&self, i: &NodeId) -> bool {
                self.0 == *i
            }
        }
    )*};
}

node_ids! {
    /// A `data` node.
    DataId;
    /// A `model` node (fresh weights).
    ModelId;
    /// A `train` node.
    TrainId;
    /// A `defense` node.
    DefenseId;
    /// An `ape_gan` defense: a trained generator G and discriminator D.
    ApeId;
    /// A `step_fit` analysis: a fitted line.
    FitId;
    /// An `eval` node.
    EvalId;
}

/// A classifier: a model node's fresh network or a train node's trained one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClassifierId {
    Model(ModelId),
    Train(TrainId),
}

impl ClassifierId {
    pub fn node(self) -> NodeId {
        match self {
            ClassifierId::Model(m) => m.node(),
            ClassifierId::Train(t) => t.node(),
        }
    }
}

impl From<ClassifierId> for NodeId {
    fn from(id: ClassifierId) -> NodeId {
        id.node()
    }
}

/// A frozen defense in front of a classifier: a `defense` node, or the
/// generator G that a GAT `train` node trained with its classifier (on the
/// G and D of the `ape_gan` defense `ape`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrontId {
    Defense(DefenseId),
    Generator { gat: TrainId, ape: ApeId },
}

impl FrontId {
    pub fn node(self) -> NodeId {
        match self {
            FrontId::Defense(d) => d.node(),
            FrontId::Generator { gat, .. } => gat.node(),
        }
    }
}

impl From<FrontId> for NodeId {
    fn from(id: FrontId) -> NodeId {
        id.node()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitName {
    Train,
    Val,
    Test,
}

impl SplitName {
    pub fn parse(word: &str) -> Option<SplitName> {
        match word {
            "train" => Some(SplitName::Train),
            "val" => Some(SplitName::Val),
            "test" => Some(SplitName::Test),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::Val => "val",
            SplitName::Test => "test",
        }
    }
}

/// `ucf.test`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitRef {
    pub data: DataId,
    pub split: SplitName,
}

/// `d1 >> d2 >> m`: the defenses in the order they run, then the classifier
/// (a model or train node).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRef {
    pub defenses: Vec<DefenseId>,
    pub model: ClassifierId,
    /// As written, `d1 >> d2 >> m`: the row label of an evaluation.
    pub label: String,
}

#[derive(Clone, Debug)]
pub enum DataSpec {
    Synthetic(SyntheticArgs),
    Tensors {
        path: PathBuf,
        val: f64,
    },
    /// UCF101 / HMDB51; `root` as the file wrote it, for messages.
    Frames {
        args: FrameArgs,
        root: String,
    },
    /// Video files decoded on the fly; `root` as the file wrote it (the
    /// root, or for lists the train list), for messages.
    Videos {
        args: VideoArgs,
        root: String,
    },
}

/// A model's class count: written, read off data when it runs, or not given
/// (a TorchScript module without `classes`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Classes {
    Fixed(i64),
    Of(DataId),
    Unknown,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelNode {
    pub arch: Arch,
    pub classes: Classes,
    pub pretrained: Option<PathBuf>,
}

/// An attack with how it is run.
#[derive(Clone, Debug, PartialEq)]
pub struct AttackSpec {
    pub attack: Attack,
    /// BatchNorm in train mode during the attack (`bn: train`).
    pub bn_train: bool,
    /// The column name: the built-in, and the saliency mode.
    pub label: String,
}

/// The step-size rule α(ε) of a block and the `step_fit` nodes it names.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRule {
    pub expr: RuleExpr,
    /// (the name the rule uses, the fit node).
    pub fits: Vec<(String, FitId)>,
}

/// The attack of each epoch, as written.
#[derive(Clone, Debug, PartialEq)]
pub enum ScheduleSpec {
    /// Standard training: clean clips only.
    Clean,
    /// `budget …` (default: the attack's own ε, fixed).
    Budgets(Schedule<f64>),
    /// `attacks …`: attack types, each at its own budget.
    Types(Schedule<AttackSpec>),
}

/// What every learner's loop reads: epochs, optimizer, attack and schedule.
#[derive(Clone, Debug)]
pub struct Training {
    pub epochs: usize,
    pub batch: usize,
    pub rule: Rule,
    pub lr: f64,
    pub milestones: Vec<usize>,
    pub lr_decay: f64,
    /// The training attack; `None` for standard training.
    pub attack: Option<AttackSpec>,
    pub alpha: Option<StepRule>,
    pub schedule: ScheduleSpec,
    /// The node's `precision:`, else the file's.
    pub precision: Precision,
}

#[derive(Clone, Debug)]
pub enum Learning {
    Standard,
    Adversarial,
    /// GAT (Eq. 14): G and D of `ape` trained with the classifier.
    Generative {
        ape: ApeId,
    },
}

/// How each batch of adversarial training is attacked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// The attack as given (PGD-AT).
    Pgd,
    /// FGSM from a uniform start, step 1.25 ε, with the overfitting guard.
    FgsmRs,
    /// Free AT: each batch replayed `replays` times, δ carried over.
    Free { replays: usize },
}

/// The adversarial training loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TrainLoss {
    Ce,
    Trades { beta: f64 },
    Mart { beta: f64 },
}

#[derive(Clone, Debug)]
pub struct TrainNode {
    pub learning: Learning,
    pub model: ModelRef,
    pub data: DataId,
    pub preprocess: Option<DefenseId>,
    pub training: Training,
    pub method: Method,
    pub loss: TrainLoss,
    /// `noise: gaussian(σ)` on standard training: σ in [0, 1] pixel units.
    pub noise: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct ApeGanSpec {
    pub data: DataId,
    pub width: i64,
    /// G outputs x + its map, clamped (HGD's residual), not the map itself.
    pub residual: bool,
    pub gamma: [f64; 2],
    pub g_steps: usize,
    pub classifier: Option<ModelRef>,
    /// G's and D's training (Adam at `lr`; the attack δ̂ and its schedule).
    pub training: Training,
}

#[derive(Clone, Debug)]
pub enum DefenseSpec {
    VideoCompression { crf: i64 },
    ApeGan(Box<ApeGanSpec>),
}

/// The columns of a robustness table.
#[derive(Clone, Debug, PartialEq)]
pub enum Columns {
    /// One per budget ε of the eval's attack.
    Budgets(Vec<f64>),
    /// `attacks each {none, …}`: `None` is the clean input.
    Attacks(Vec<Option<AttackSpec>>),
}

#[derive(Clone, Debug)]
pub struct EvalSpec {
    pub models: Vec<ModelRef>,
    pub split: SplitRef,
    pub batch: usize,
    pub through: Through,
    pub protocol: crate::results::Protocol,
    pub attack: AttackSpec,
    pub alpha: Option<StepRule>,
    pub columns: Columns,
}

#[derive(Clone, Debug)]
pub enum AnalysisSpec {
    /// Figure 1: the mean loss over α × M at one budget.
    Surface {
        model: ModelRef,
        split: SplitRef,
        samples: usize,
        /// The PGD attacked with (FGSM as one step), at the surface's budget.
        pgd: Pgd,
        bn_train: bool,
        alphas: Vec<f64>,
        steps: Vec<usize>,
    },
    /// Figure 2: the best α per ε and its line.
    Fit {
        model: ModelRef,
        split: SplitRef,
        samples: usize,
        pgd: Pgd,
        bn_train: bool,
        budgets: Vec<f64>,
        alphas: Vec<f64>,
    },
    /// Figure 4: a train node's metrics.
    Gap { train: TrainId },
    /// Randomized smoothing's certified radii (an `eval … = certify(…)`).
    Certify {
        model: ModelRef,
        split: SplitRef,
        samples: usize,
        smoothing: crate::runtime::eval::certify::Smoothing,
    },
}

#[derive(Clone, Debug)]
pub enum NodeSpec {
    Data(DataSpec),
    Model(ModelNode),
    Attack(AttackSpec),
    Defense(DefenseSpec),
    /// A step-size rule: inlined where it is used.
    Rule,
    Train(Box<TrainNode>),
    Eval(Box<EvalSpec>),
    Analysis(Box<AnalysisSpec>),
    /// A node that cannot run; its diagnostic is in [`Lowered::problems`].
    Invalid,
}

/// One file a report statement writes.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportSpec {
    pub target: NodeId,
    /// Relative to the output folder.
    pub path: String,
    pub mode: ReportMode,
    pub format: Format,
    /// Which `report` statement (index into `program.reports`), for messages.
    pub statement: usize,
}

/// A `compare` claim of an evaluation with its column resolved: the
/// records compared are the two rows' clips under `attack` at `eps`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimSpec {
    pub eval: EvalId,
    pub claim: crate::language::program::Claim,
    /// The column's name in the records (the sweep's attack, or the
    /// `attacks each` entry; `none` for the clean column).
    pub attack: String,
    pub eps: f64,
}

/// A node's `resources { … }` for cluster executors; `None`: the run's default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    pub gpus: Option<i64>,
    pub cpus: Option<i64>,
    pub mem: Option<String>,
    pub time: Option<String>,
    pub partition: Option<String>,
    /// Machines a training or evaluation node's ranks span (Slurm).
    pub nodes: Option<i64>,
    /// Ranks per machine (default: `gpus` when more than one, else 1).
    pub tasks: Option<i64>,
}

impl Resources {
    /// The ranks of a training or evaluation node under Slurm: `nodes` ×
    /// tasks per node.
    pub fn ranks(&self) -> (i64, i64) {
        let per = self
            .tasks
            .unwrap_or(match self.gpus {
                Some(g) if g > 1 => g,
                _ => 1,
            })
            .max(1);
        (self.nodes.unwrap_or(1).max(1), per)
    }
}

/// The lowered program: `nodes[i]` is `program.nodes[i]`.
#[derive(Clone, Debug)]
pub struct Lowered {
    pub nodes: Vec<NodeSpec>,
    /// `resources[i]`: node `i`'s cluster resources.
    pub resources: Vec<Resources>,
    pub reports: Vec<ReportSpec>,
    /// Every evaluation's `compare` claims, in the order written.
    pub claims: Vec<ClaimSpec>,
    /// What cannot run, by the node it concerns (a report's: its target):
    /// a run refuses these before any work when the node is one of its targets.
    pub problems: Vec<(NodeId, crate::language::diagnostic::Diagnostic)>,
    /// Files and folders the nodes read that are not there now (warnings:
    /// `advp check` shows them; a run that reaches the node refuses it).
    pub missing: Vec<(NodeId, crate::language::diagnostic::Diagnostic)>,
    /// What runs but is likely not what was meant (`tiny_budget`): `advp
    /// check` and `advp run` show them.
    pub warnings: Vec<(NodeId, crate::language::diagnostic::Diagnostic)>,
}

/// A node's spec by its typed id. The lowering made the id for a node of
/// this kind, and a run reaches no node whose spec is invalid (`Runner`'s
/// preflight), so a mismatch is a bug in advp: it panics, and the run
/// reports the panic as the node's failure.
macro_rules! specs_by_id {
    ($($name:ident($id:ty) -> $out:ty, $kind:literal: $pat:pat => $v:ident;)*) => {
        impl Lowered {$(
            #[doc = concat!("The spec of ", $kind, " by its id.")]
            pub fn $name(&self, id: $id) -> &$out {
                match &self.nodes[id.0] {
                    $pat => $v,
                    other => panic!(
                        "advp bug: node {} is used as {}, and its spec is {other:?}",
                        id.0, $kind
                    ),
                }
            }
        )*}
    };
}

specs_by_id! {
    data(DataId) -> DataSpec, "data": NodeSpec::Data(d) => d;
    model(ModelId) -> ModelNode, "a model": NodeSpec::Model(m) => m;
    train(TrainId) -> TrainNode, "a train node": NodeSpec::Train(t) => t;
    defense(DefenseId) -> DefenseSpec, "a defense": NodeSpec::Defense(d) => d;
    ape(ApeId) -> ApeGanSpec, "an `ape_gan` defense": NodeSpec::Defense(DefenseSpec::ApeGan(a)) => a;
}
