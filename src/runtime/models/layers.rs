//! The layers the networks share, initialised as PyTorch does.

use tch::nn;
use tch::Tensor;

/// Convolution weights: Kaiming normal, fan out, ReLU gain (as
/// `nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu')`).
pub(super) const CONV_INIT: nn::Init = nn::Init::Kaiming {
    dist: nn::init::NormalOrUniform::Normal,
    fan: nn::init::FanInOut::FanOut,
    non_linearity: nn::init::NonLinearity::ReLU,
};

/// A convolution without bias, in all three dimensions.
pub(super) fn conv(
    p: nn::Path,
    c_in: i64,
    c_out: i64,
    ksize: i64,
    stride: i64,
    groups: i64,
) -> nn::Conv3D {
    let config = nn::ConvConfig {
        stride,
        padding: ksize / 2,
        groups,
        bias: false,
        ws_init: CONV_INIT,
        ..Default::default()
    };
    nn::conv3d(p, c_in, c_out, ksize, config)
}

/// BatchNorm3d as PyTorch initialises it: weight 1, bias 0, eps 1e-5,
/// momentum 0.1.
pub(super) fn batch_norm(p: nn::Path, channels: i64) -> nn::BatchNorm {
    let config = nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.),
        bs_init: nn::Init::Const(0.),
        ..Default::default()
    };
    nn::batch_norm3d(p, channels, config)
}

/// BatchNorm as the built-in nets apply it: the layer's own kernel, except
/// in train mode inside a training step of several ranks, where the batch
/// statistics are the whole batch's ([`crate::runtime::dist::batch_norm`]).
pub(super) trait Normed {
    fn norm_t(&self, bn: &nn::BatchNorm, train: bool) -> Tensor;
}

impl Normed for Tensor {
    fn norm_t(&self, bn: &nn::BatchNorm, train: bool) -> Tensor {
        train
            .then(|| crate::runtime::dist::batch_norm(bn, self))
            .flatten()
            .unwrap_or_else(|| self.apply_t(bn, train))
    }
}
