//! Pony et al.'s over-the-air flickering (ART's
//! `OverTheAirFlickeringPyTorch`; ALGORITHMS.md, "Attacks"). Clips are
//! N×C×T×H×W in [0, 1]; steps in 0..255 units.

use super::{units, AttackKind};
use crate::runtime::error::{stop_requested, NodeResult};
use tch::{Kind, Tensor};

/// Flickering hyper-parameters (ART `OverTheAirFlickeringPyTorch`).
#[derive(Clone, Debug, PartialEq)]
pub struct Flicker {
    /// Sign step in 0..255 units.
    pub step: f64,
    pub steps: usize,
    pub beta: [f64; 3],
    pub margin: f64,
}

/// β₀·[β₁·mean(δ²) + β₂·mean((δ − roll₁δ)²) + β₂·mean((−2δ + roll₁δ + roll₋₁δ)²)],
/// rolls circular over time (dimension 2 of N×C×T×1×1).
pub fn flicker_regulariser(delta: &Tensor, beta: [f64; 3]) -> Tensor {
    let r1 = delta.roll([1], [2]);
    let rm1 = delta.roll([-1], [2]);
    let thickness = delta.square().mean(Kind::Float);
    let first = (delta - &r1).square().mean(Kind::Float);
    let second = (delta * -2.0 + &r1 + &rm1).square().mean(Kind::Float);
    (thickness * beta[1] + first * beta[2] + second * beta[2]) * beta[0]
}

/// The margin loss max(0, min(l²/m, l)) with l = p_y − max_{j≠y} p_j + m, mean over the batch.
pub fn margin_loss(logits: &Tensor, y: &Tensor, m: f64) -> Tensor {
    let p = logits.softmax(-1, Kind::Float);
    let classes = p.size()[1];
    let onehot = y.one_hot(classes).to_kind(Kind::Float);
    let py = (&p * &onehot).sum_dim_intlist(1, false, Kind::Float);
    let others = (&p - &onehot * 2.0).amax(1, false);
    let l = py - others + m;
    let quad = l.square() / m;
    quad.minimum(&l).clamp_min(0.0).mean(Kind::Float)
}

impl Flicker {
    /// The adversarial clip and the perturbation (N×C×T×1×1, one offset per frame and channel).
    pub fn run_with_delta(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
    ) -> NodeResult<(Tensor, Tensor)> {
        let x = x.detach();
        let s = x.size();
        let mut delta = Tensor::zeros([s[0], s[1], s[2], 1, 1], (Kind::Float, x.device()));
        let step = self.step / 255.0;
        for _ in 0..self.steps {
            stop_requested()?;
            let d = delta.detach().set_requires_grad(true);
            let xa = (&x + &d).clamp(0.0, 1.0);
            let loss = margin_loss(&f(&xa), y, self.margin) + flicker_regulariser(&d, self.beta);
            let g = super::pgd::grad(&loss, &d)?;
            let _g = tch::no_grad_guard();
            delta = &delta - g.sign() * step;
        }
        let adv = (&x + &delta).clamp(0.0, 1.0).detach();
        Ok((adv, delta))
    }
}

impl AttackKind for Flicker {
    fn describe(&self) -> String {
        format!(
            "flickering (one RGB offset per frame): step {}, {} steps, β [{}], margin {}",
            units(self.step),
            self.steps,
            self.beta.map(units).join(", "),
            units(self.margin)
        )
    }
    /// None: flickering has no ε-ball.
    fn eps(&self) -> f64 {
        0.0
    }
    /// Its sign step.
    fn alpha(&self) -> f64 {
        self.step
    }
    fn steps(&self) -> usize {
        self.steps
    }
    /// Flickering keeps its step at every budget.
    fn at_budget(&self, _eps: f64, _alpha: Option<f64>) -> Flicker {
        self.clone()
    }
    fn run(&self, f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> NodeResult<Tensor> {
        Ok(self.run_with_delta(f, x, y)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn flicker_is_one_offset_per_frame_and_channel_and_the_regulariser_matches_a_hand_computation()
    {
        // δ over T = 3 for one channel: [1, 2, 4]; rolls are circular.
        let d = Tensor::from_slice(&[1.0f32, 2.0, 4.0]).reshape([1, 1, 3, 1, 1]);
        // thickness (1+4+16)/3 = 7; δ − roll₁δ = [1−4, 2−1, 4−2] → (9+1+4)/3 = 14/3;
        // −2δ + roll₁δ + roll₋₁δ = [−2+4+2, −4+1+4, −8+2+1] = [4, 1, −5] → 42/3 = 14.
        let want = 2.0 * (0.1 * 7.0 + 0.9 * 14.0 / 3.0 + 0.9 * 14.0);
        let got = flicker_regulariser(&d, [2.0, 0.1, 0.9]).double_value(&[]);
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");

        tch::manual_seed(1);
        let w = Tensor::randn([5, 3 * 4 * 6 * 6], (Kind::Float, Device::Cpu));
        let f = |v: &Tensor| v.flatten(1, -1).matmul(&w.tr());
        let x = Tensor::rand([2, 3, 4, 6, 6], (Kind::Float, Device::Cpu)) * 0.4 + 0.3;
        let y = Tensor::from_slice(&[1i64, 2]);
        let fl = Flicker {
            step: 2.0,
            steps: 5,
            beta: [2.0, 0.1, 0.9],
            margin: 0.05,
        };
        let (adv, delta) = fl.run_with_delta(&f, &x, &y).unwrap();
        assert_eq!(delta.size(), [2, 3, 4, 1, 1]);
        // No clipping happens at these values: x_adv − x is δ broadcast over H×W.
        let diff = &adv - &x;
        let spread = (&diff - diff.mean_dim([3, 4].as_slice(), true, Kind::Float))
            .abs()
            .max()
            .double_value(&[]);
        assert!(spread < 1e-6, "{spread}");
        assert!(delta.abs().max().double_value(&[]) > 0.0);
    }
}
