//! C3D-small, the network of the quick profiles.

use super::layers::{batch_norm, conv, Normed};
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// The small C3D-style network of the quick profiles: three conv–BN–ReLU–pool
/// stages (width, 2·width, 4·width channels), a global max over space-time (the
/// strongest local motion response: the target is small, and BatchNorm's running
/// statistics lag too far behind an average), a linear head.
#[derive(Debug)]
pub(super) struct C3dSmall {
    convs: Vec<(nn::Conv3D, nn::BatchNorm)>,
    fc: nn::Linear,
}

impl C3dSmall {
    pub(super) fn new(p: &nn::Path, width: i64, classes: i64) -> Self {
        let mut convs = Vec::new();
        let mut cin = 3;
        for i in 0..3 {
            let cout = width << i;
            convs.push((
                conv(p / format!("conv{}", i + 1), cin, cout, 3, 1, 1),
                batch_norm(p / format!("bn{}", i + 1), cout),
            ));
            cin = cout;
        }
        let fc = nn::linear(p / "fc", cin, classes, Default::default());
        C3dSmall { convs, fc }
    }
}

impl ModuleT for C3dSmall {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut h = xs.shallow_clone();
        for (i, (conv, bn)) in self.convs.iter().enumerate() {
            h = h.apply(conv).norm_t(bn, train).relu();
            // Keep time in the first stage, halve it afterwards.
            let k: [i64; 3] = if i == 0 { [1, 2, 2] } else { [2, 2, 2] };
            h = h.max_pool3d(k, k, [0, 0, 0], [1, 1, 1], true);
        }
        h.amax([2, 3, 4], false).apply(&self.fc)
    }
}
