//! 3D ResNets and ResNeXt-101 for video classification, after Hara et al.,
//! "Can spatiotemporal 3D CNNs retrace the history of 2D CNNs and ImageNet?"
//! (CVPR 2018) and their `3D-ResNets-PyTorch` (`models/resnet.py`,
//! `models/resnext.py`).
//!
//! The networks take a clip `N×3×T×H×W` (float, already normalised) and return
//! `N×classes` logits. Layout:
//!
//! * stem: conv 7×7×7, stride (1, 2, 2), padding 3, 64 channels, no bias;
//!   BatchNorm; ReLU; max-pool 3×3×3, stride 2, padding 1;
//! * four stages (`layer1` … `layer4`) with strides 1, 2, 2, 2 (in time and
//!   space alike);
//! * shortcut type B: a 1×1×1 convolution (no bias) and BatchNorm where a
//!   block changes the shape, the identity elsewhere;
//! * adaptive average pool to 1×1×1, then the linear classifier `fc`.
//!
//! Variables are created under the PyTorch module names (`conv1.weight`,
//! `bn1.running_mean`, `layer1.0.conv1.weight`,
//! `layer2.0.downsample.0.weight`, `layer2.0.downsample.1.bias`,
//! `fc.weight`, …), so a state dict exported from PyTorch maps one to one onto
//! the [`nn::VarStore`] the network was built in. (Checkpoints saved from
//! `nn.DataParallel` carry an extra `module.` prefix, which the loader has to
//! strip.)
//!
//! Initialisation follows the original: convolutions Kaiming-normal (fan out,
//! ReLU gain), BatchNorm weight 1 and bias 0; `fc` keeps tch's default.
//! BatchNorm uses eps 1e-5 and momentum 0.1, as PyTorch's `BatchNorm3d`.
//!
//! ResNeXt-101 follows the paper's release (`resnext.py` of 2017–2018): a
//! 64-channel stem as in the ResNets. The repository's 2020 rewrite widened
//! that stem to 128 channels, so its ResNeXt checkpoints differ in `conv1`,
//! `bn1` and `layer1.0` and do not load here.

use super::layers::{batch_norm, conv, Normed, CONV_INIT};
use crate::runtime::error::{NodeError, NodeResult};
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// The residual block a network is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    /// Two 3×3×3 convolutions; expansion 1.
    Basic,
    /// 1×1×1 → 3×3×3 → 1×1×1; expansion 4.
    Bottleneck,
    /// 1×1×1 → grouped 3×3×3 → 1×1×1 with `cardinality` groups; expansion 2.
    ResNeXt { cardinality: i64 },
}

impl BlockKind {
    /// Output channels of a block over its `planes`.
    fn expansion(self) -> i64 {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
            BlockKind::ResNeXt { .. } => 2,
        }
    }
}

/// One residual block: the main branch as (convolution, BatchNorm) pairs with
/// a ReLU between them, and the optional projection shortcut.
#[derive(Debug)]
struct Block {
    branch: Vec<(nn::Conv3D, nn::BatchNorm)>,
    downsample: Option<(nn::Conv3D, nn::BatchNorm)>,
}

impl Block {
    /// A block of `kind` under `p` (e.g. `layer2.0`), from `c_in` channels to
    /// `planes * expansion`, striding by `stride`.
    fn new(p: &nn::Path, kind: BlockKind, c_in: i64, planes: i64, stride: i64) -> Block {
        let c_out = planes * kind.expansion();
        // (input channels, output channels, kernel size, stride, groups) per conv.
        let convs: Vec<(i64, i64, i64, i64, i64)> = match kind {
            BlockKind::Basic => vec![(c_in, planes, 3, stride, 1), (planes, planes, 3, 1, 1)],
            BlockKind::Bottleneck => vec![
                (c_in, planes, 1, 1, 1),
                (planes, planes, 3, stride, 1),
                (planes, c_out, 1, 1, 1),
            ],
            BlockKind::ResNeXt { cardinality } => {
                let mid = cardinality * planes / 32;
                vec![
                    (c_in, mid, 1, 1, 1),
                    (mid, mid, 3, stride, cardinality),
                    (mid, c_out, 1, 1, 1),
                ]
            }
        };
        let branch = convs
            .into_iter()
            .enumerate()
            .map(|(i, (ci, co, k, s, g))| {
                let n = i + 1;
                (
                    conv(p / format!("conv{n}"), ci, co, k, s, g),
                    batch_norm(p / format!("bn{n}"), co),
                )
            })
            .collect();
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            let d = p / "downsample";
            (
                conv(&d / 0, c_in, c_out, 1, stride, 1),
                batch_norm(&d / 1, c_out),
            )
        });
        Block { branch, downsample }
    }
}

impl ModuleT for Block {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let last = self.branch.len() - 1;
        let mut ys = xs.shallow_clone();
        for (i, (conv, bn)) in self.branch.iter().enumerate() {
            ys = ys.apply(conv).norm_t(bn, train);
            if i < last {
                ys = ys.relu();
            }
        }
        let shortcut = match &self.downsample {
            Some((conv, bn)) => xs.apply(conv).norm_t(bn, train),
            None => xs.shallow_clone(),
        };
        (ys + shortcut).relu()
    }
}

/// A 3D ResNet or ResNeXt: stem, four stages of residual blocks, global
/// average pool and a linear classifier. Built by [`r3d`] or [`resnext101`].
///
/// `forward_t(xs, train)` maps an `N×3×T×H×W` clip to `N×classes` logits;
/// `train` selects BatchNorm's batch statistics (and updates the running
/// ones) instead of the running statistics.
#[derive(Debug)]
pub struct ResNet3d {
    conv1: nn::Conv3D,
    bn1: nn::BatchNorm,
    layers: Vec<Vec<Block>>,
    fc: nn::Linear,
}

impl ResNet3d {
    /// Builds the network under `p`; `planes` are the four stages' widths
    /// before expansion, `blocks` their lengths.
    fn new(
        p: &nn::Path,
        kind: BlockKind,
        planes: [i64; 4],
        blocks: [i64; 4],
        classes: i64,
    ) -> Self {
        let stem = nn::ConvConfigND::<[i64; 3]> {
            stride: [1, 2, 2],
            padding: [3, 3, 3],
            dilation: [1, 1, 1],
            groups: 1,
            bias: false,
            ws_init: CONV_INIT,
            bs_init: nn::Init::Const(0.),
            padding_mode: nn::PaddingMode::Zeros,
        };
        let conv1 = nn::conv(p / "conv1", 3, 64, [7, 7, 7], stem);
        let bn1 = batch_norm(p / "bn1", 64);
        let mut c_in = 64;
        let mut layers = Vec::with_capacity(4);
        for (i, (&width, &count)) in planes.iter().zip(&blocks).enumerate() {
            let stage = p / format!("layer{}", i + 1);
            let stride = if i == 0 { 1 } else { 2 };
            let layer = (0..count)
                .map(|j| {
                    let s = if j == 0 { stride } else { 1 };
                    let block = Block::new(&(&stage / j), kind, c_in, width, s);
                    c_in = width * kind.expansion();
                    block
                })
                .collect();
            layers.push(layer);
        }
        let fc = nn::linear(p / "fc", c_in, classes, Default::default());
        ResNet3d {
            conv1,
            bn1,
            layers,
            fc,
        }
    }
}

impl ModuleT for ResNet3d {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut ys = xs
            .apply(&self.conv1)
            .norm_t(&self.bn1, train)
            .relu()
            .max_pool3d([3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 1, 1], false);
        for block in self.layers.iter().flatten() {
            ys = ys.apply_t(block, train);
        }
        ys.adaptive_avg_pool3d([1, 1, 1])
            .flatten(1, -1)
            .apply(&self.fc)
    }
}

/// Checks the number of classes.
fn check_classes(classes: i64) -> NodeResult<()> {
    if classes < 1 {
        return Err(NodeError::Model(format!(
            "a classifier needs at least one class, got {classes}"
        )));
    }
    Ok(())
}

/// A 3D ResNet of `depth` layers with a `classes`-way classifier, its
/// variables under `p`.
///
/// Depths 10, 18 and 34 use the basic block (stages of `[1,1,1,1]`,
/// `[2,2,2,2]`, `[3,4,6,3]` blocks), 50, 101, 152 and 200 the bottleneck
/// (`[3,4,6,3]`, `[3,4,23,3]`, `[3,8,36,3]`, `[3,24,36,3]`), as in Hara et
/// al.'s `resnet.py`. Any other depth, or fewer than one class, is an error.
pub fn r3d(p: &nn::Path, depth: i64, classes: i64) -> NodeResult<ResNet3d> {
    let (kind, blocks) = match depth {
        10 => (BlockKind::Basic, [1, 1, 1, 1]),
        18 => (BlockKind::Basic, [2, 2, 2, 2]),
        34 => (BlockKind::Basic, [3, 4, 6, 3]),
        50 => (BlockKind::Bottleneck, [3, 4, 6, 3]),
        101 => (BlockKind::Bottleneck, [3, 4, 23, 3]),
        152 => (BlockKind::Bottleneck, [3, 8, 36, 3]),
        200 => (BlockKind::Bottleneck, [3, 24, 36, 3]),
        _ => {
            return Err(NodeError::Model(format!(
                "no 3D ResNet of depth {depth}; the depths are 10, 18, 34, 50, 101, 152 and 200"
            )))
        }
    };
    check_classes(classes)?;
    Ok(ResNet3d::new(p, kind, [64, 128, 256, 512], blocks, classes))
}

/// ResNeXt-101 (stages of `[3,4,23,3]` blocks, widths 128, 256, 512, 1024,
/// expansion 2, shortcut B) with `cardinality` groups in each block's 3×3×3
/// convolution (Hara et al. use 32) and a `classes`-way classifier, its
/// variables under `p`.
///
/// A block of width `planes` has `cardinality * planes / 32` channels inside,
/// as in Hara et al.'s `resnext.py`. A cardinality below 1, or fewer than one
/// class, is an error.
pub fn resnext101(p: &nn::Path, classes: i64, cardinality: i64) -> NodeResult<ResNet3d> {
    if cardinality < 1 {
        return Err(NodeError::Model(format!(
            "ResNeXt needs a cardinality of at least 1 (32 is the usual), got {cardinality}"
        )));
    }
    check_classes(classes)?;
    Ok(ResNet3d::new(
        p,
        BlockKind::ResNeXt { cardinality },
        [128, 256, 512, 1024],
        [3, 4, 23, 3],
        classes,
    ))
}
