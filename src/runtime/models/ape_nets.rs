//! 3D APE-GAN's networks (paper Sec. 4.3): the generator G that restores a
//! clip and the discriminator D that tells restored clips from clean ones.
//! Their losses and training live in [`crate::runtime::train::generative`].

use super::layers::Normed;
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// G: Conv3d 3→w→2w→4w (k4 s2 p1, BN, LeakyReLU 0.01), then ConvTranspose3d
/// 4w→2w→w→3 (k4 s2 p1, BN + LeakyReLU on the first two), sigmoid. The paper's
/// widths are w = 64. Any T×H×W works: the input is padded (edge values) to
/// multiples of 8 and the output cropped back, so G(x) has x's shape.
#[derive(Debug)]
pub struct Generator {
    enc: Vec<(nn::Conv3D, nn::BatchNorm)>,
    dec: Vec<(nn::ConvTranspose3D, Option<nn::BatchNorm>)>,
    /// Output x + the last layer, clamped to [0, 1] (no sigmoid).
    residual: bool,
}

fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm3d(p, c, Default::default())
}

impl Generator {
    pub fn new(p: &nn::Path, width: i64) -> Self {
        let conv = nn::ConvConfig {
            stride: 2,
            padding: 1,
            ..Default::default()
        };
        let convt = nn::ConvTransposeConfig {
            stride: 2,
            padding: 1,
            ..Default::default()
        };
        let w = [3, width, 2 * width, 4 * width];
        let enc = (0..3)
            .map(|i| {
                (
                    nn::conv3d(p / format!("enc{i}"), w[i], w[i + 1], 4, conv),
                    bn(p / format!("enc{i}_bn"), w[i + 1]),
                )
            })
            .collect();
        let dec = (0..3)
            .map(|i| {
                let (cin, cout) = (w[3 - i], w[2 - i]);
                (
                    nn::conv_transpose3d(p / format!("dec{i}"), cin, cout, 4, convt),
                    (i < 2).then(|| bn(p / format!("dec{i}_bn"), cout)),
                )
            })
            .collect();
        Generator {
            enc,
            dec,
            residual: false,
        }
    }

    /// The same G, outputting x + its last layer, clamped to the image.
    pub fn residual(mut self, on: bool) -> Self {
        self.residual = on;
        self
    }
}

impl ModuleT for Generator {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let s = xs.size();
        let (t, h, w) = (s[2], s[3], s[4]);
        let up = |n: i64| (8 - n % 8) % 8;
        let padded = if up(t) + up(h) + up(w) > 0 {
            xs.pad([0, up(w), 0, up(h), 0, up(t)], "replicate", None)
        } else {
            xs.shallow_clone()
        };
        let mut z = padded;
        for (c, b) in &self.enc {
            z = z.apply(c).norm_t(b, train).leaky_relu(); // slope 0.01
        }
        for (c, b) in &self.dec {
            z = z.apply(c);
            if let Some(b) = b {
                z = z.norm_t(b, train).leaky_relu();
            }
        }
        let z = z.narrow(2, 0, t).narrow(3, 0, h).narrow(4, 0, w);
        if self.residual {
            (xs + z).clamp(0.0, 1.0)
        } else {
            z.sigmoid()
        }
    }
}

/// D: Conv3d 3→w→2w→4w→8w without bias (BatchNorm after all but the first,
/// LeakyReLU 0.2), then a linear layer to one logit (the sigmoid lives in the
/// loss). Each layer is k4 s2 p1 along a dimension of size ≥ 2 and k1 s1 along
/// a dimension already reduced to 1, and the head is sized from the clip shape
/// it is built for, so any frames × size works.
#[derive(Debug)]
pub struct Discriminator {
    convs: Vec<(nn::Conv<[i64; 3]>, Option<nn::BatchNorm>)>,
    head: nn::Linear,
}

impl Discriminator {
    /// `shape`: T, H, W of the clips it judges.
    pub fn new(p: &nn::Path, width: i64, shape: [i64; 3]) -> Self {
        let mut dims = shape;
        let mut cin = 3;
        let mut convs = Vec::new();
        for i in 0..4 {
            let cout = width << i;
            let k = dims.map(|d| if d >= 2 { 4 } else { 1 });
            let st = dims.map(|d| if d >= 2 { 2 } else { 1 });
            let pad = dims.map(|d| if d >= 2 { 1 } else { 0 });
            let cfg = nn::ConvConfigND::<[i64; 3]> {
                stride: st,
                padding: pad,
                dilation: [1, 1, 1],
                groups: 1,
                bias: false,
                ws_init: nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                },
                bs_init: nn::Init::Const(0.0),
                padding_mode: nn::PaddingMode::Zeros,
            };
            convs.push((
                nn::conv(p / format!("conv{i}"), cin, cout, k, cfg),
                (i > 0).then(|| bn(p / format!("bn{i}"), cout)),
            ));
            for j in 0..3 {
                dims[j] = (dims[j] + 2 * pad[j] - k[j]) / st[j] + 1;
            }
            cin = cout;
        }
        let flat = cin * dims.iter().product::<i64>();
        let head = nn::linear(p / "head", flat, 1, Default::default());
        Discriminator { convs, head }
    }
}

impl ModuleT for Discriminator {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut z = xs.shallow_clone();
        for (c, b) in &self.convs {
            z = z.apply(c);
            if let Some(b) = b {
                z = z.norm_t(b, train);
            }
            z = z.leaky_relu_with_slope(0.2);
        }
        z.flatten(1, -1).apply(&self.head).squeeze_dim(1)
    }
}

trait LeakyWithSlope {
    fn leaky_relu_with_slope(&self, slope: f64) -> Tensor;
}

impl LeakyWithSlope for Tensor {
    fn leaky_relu_with_slope(&self, slope: f64) -> Tensor {
        self.maximum(&(self * slope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn a_residual_generator_with_a_silent_last_layer_is_the_identity() {
        let vs = nn::VarStore::new(Device::Cpu);
        let g = Generator::new(&vs.root(), 2).residual(true);
        let x = Tensor::rand([2, 3, 4, 12, 12], (Kind::Float, Device::Cpu));
        // Any output stays an image.
        let y = g.forward_t(&x, false);
        assert_eq!(y.size(), x.size());
        assert!(y.min().double_value(&[]) >= 0.0 && y.max().double_value(&[]) <= 1.0);
        // The last transposed convolution silenced: G(x) = x exactly.
        let _g = tch::no_grad_guard();
        for (name, mut t) in vs.variables() {
            if name.starts_with("dec2.") {
                let _ = t.zero_();
            }
        }
        assert!(g.forward_t(&x, false).equal(&x));
        // The paper's G cannot: its sigmoid of 0 is ½ everywhere.
        let paper = Generator::new(&vs.root().sub("p"), 2);
        assert!(!paper.forward_t(&x, false).equal(&x));
    }
}
