//! Video attacks (ALGORITHMS.md, "Attacks"): the masks of PGD inside a patch
//! or a frame border (run by [`Pgd::run_masked`]), ART's frame saliency attack,
//! and Pony et al.'s over-the-air flickering. Clips are N×C×T×H×W in [0, 1]; budgets and steps in 0..255 units.

use super::pgd::{input_grad, Pgd};
use tch::{Device, Kind, Tensor};

/// Where a patch sits on the frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Position {
    /// Uniform over the positions that fit, per clip (libtorch's generator).
    Random,
    TopLeft,
    Center,
    /// Top-left corner in pixels.
    At(i64, i64),
}

pub use crate::language::geometry::{border_thickness, patch_sides};

/// N×1×1×H×W masks of ones on the patch (same rectangle on every frame).
pub fn patch_mask(n: i64, h: i64, w: i64, ratio: f64, pos: &Position, device: Device) -> Tensor {
    let (ph, pw) = patch_sides(h, w, ratio);
    let mask = Tensor::zeros([n, 1, 1, h, w], (Kind::Float, device));
    let (ys, xs): (Vec<i64>, Vec<i64>) = match pos {
        Position::Random => {
            let y = Tensor::randint(h - ph + 1, [n], (Kind::Int64, Device::Cpu));
            let x = Tensor::randint(w - pw + 1, [n], (Kind::Int64, Device::Cpu));
            (
                Vec::<i64>::try_from(y).unwrap_or_default(),
                Vec::<i64>::try_from(x).unwrap_or_default(),
            )
        }
        Position::TopLeft => (vec![0; n as usize], vec![0; n as usize]),
        Position::Center => (
            vec![(h - ph) / 2; n as usize],
            vec![(w - pw) / 2; n as usize],
        ),
        Position::At(y, x) => (
            vec![(*y).clamp(0, h - ph); n as usize],
            vec![(*x).clamp(0, w - pw); n as usize],
        ),
    };
    for i in 0..n as usize {
        let _ = mask
            .get(i as i64)
            .narrow(2, ys[i], ph)
            .narrow(3, xs[i], pw)
            .fill_(1.0);
    }
    mask
}

/// N×1×1×H×W masks of ones on a border of thickness t.
pub fn border_mask(n: i64, h: i64, w: i64, t: i64, device: Device) -> Tensor {
    let inner = Tensor::ones([n, 1, 1, h, w], (Kind::Float, device));
    let (ih, iw) = ((h - 2 * t).max(0), (w - 2 * t).max(0));
    if ih > 0 && iw > 0 {
        let _ = inner.narrow(3, t, ih).narrow(4, t, iw).fill_(0.0);
    }
    inner
}

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
    pub fn run(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<(Tensor, Tensor), String> {
        let x = x.detach();
        let s = x.size();
        let mut delta = Tensor::zeros([s[0], s[1], s[2], 1, 1], (Kind::Float, x.device()));
        let step = self.step / 255.0;
        for _ in 0..self.steps {
            crate::util::stop_requested()?;
            let d = delta.detach().set_requires_grad(true);
            let xa = (&x + &d).clamp(0.0, 1.0);
            let loss = margin_loss(&f(&xa), y, self.margin) + flicker_regulariser(&d, self.beta);
            let g = super::pgd::grad(&loss, &d);
            let _g = tch::no_grad_guard();
            delta = &delta - g.sign() * step;
        }
        let adv = (&x + &delta).clamp(0.0, 1.0).detach();
        Ok((adv, delta))
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SaliencyMode {
    OneShot,
    Iterative,
    Refresh,
}

/// Mean |∂L/∂x| over each frame: N×T.
pub fn frame_saliency(f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> Tensor {
    // The per-sample gradient of the summed loss (mean would scale all samples alike).
    let g = input_grad(f, x, y) * x.size()[0] as f64;
    g.abs().mean_dim([1, 3, 4].as_slice(), false, Kind::Float)
}

/// ART's FrameSaliencyAttack, with the choice of frames made per sample.
pub fn saliency(
    mode: SaliencyMode,
    inner: &Pgd,
    f: &dyn Fn(&Tensor) -> Tensor,
    x: &Tensor,
    y: &Tensor,
) -> Result<Tensor, String> {
    let full = inner.run(f, x, y)?;
    if mode == SaliencyMode::OneShot {
        return Ok(full);
    }
    let x = x.detach();
    let (n, t) = (x.size()[0], x.size()[2]);
    let cur = x.copy();
    let mut used = vec![vec![false; t as usize]; n as usize];
    let order = |sal: &Tensor| -> Vec<Vec<f32>> {
        (0..n)
            .map(|i| Vec::<f32>::try_from(sal.get(i)).unwrap_or_default())
            .collect()
    };
    let mut sal = order(&frame_saliency(f, &x, y));
    for _ in 0..t {
        crate::util::stop_requested()?;
        let fooled: Vec<bool> = {
            let _g = tch::no_grad_guard();
            let pred = f(&cur).argmax(-1, false).ne_tensor(y);
            Vec::<bool>::try_from(pred).unwrap_or_default()
        };
        if fooled.iter().all(|&b| b) {
            break;
        }
        if mode == SaliencyMode::Refresh {
            sal = order(&frame_saliency(f, &cur, y));
        }
        let _g = tch::no_grad_guard();
        for i in 0..n as usize {
            if fooled[i] {
                continue;
            }
            // The most salient frame of this sample not yet replaced.
            let Some(k) = (0..t as usize)
                .filter(|&k| !used[i][k])
                .max_by(|&a, &b| sal[i][a].total_cmp(&sal[i][b]))
            else {
                continue;
            };
            used[i][k] = true;
            cur.get(i as i64)
                .narrow(1, k as i64, 1)
                .copy_(&full.get(i as i64).narrow(1, k as i64, 1));
        }
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::pgd::Norm;

    #[test]
    fn patch_and_border_geometry_follow_the_closed_forms() {
        assert_eq!(patch_sides(112, 112, 0.15), (43, 43)); // 112·√0.15 = 43.4
        assert_eq!(patch_sides(32, 32, 0.25), (16, 16));
        // 4t² − 2(W+H)t + rWH = 0 at r = 0.15, 112×112: t = 4.46… → 4.
        assert_eq!(border_thickness(112, 112, 0.15).unwrap(), 4);
        assert!(border_thickness(32, 32, 0.001)
            .unwrap_err()
            .contains("thinner than one pixel"));
        for (h, w, r) in [(32i64, 32i64, 0.15), (112, 112, 0.15), (40, 24, 0.3)] {
            let m = patch_mask(3, h, w, r, &Position::Random, Device::Cpu);
            let frac = m.get(0).mean(Kind::Float).double_value(&[]);
            // Within one pixel row/column of the ratio.
            let slack = (h + w) as f64 / (h * w) as f64 + 0.02;
            assert!((frac - r).abs() < slack, "patch {h}×{w} r {r}: {frac}");
            let t = border_thickness(h, w, r).unwrap();
            let b = border_mask(1, h, w, t, Device::Cpu)
                .mean(Kind::Float)
                .double_value(&[]);
            assert!((b - r).abs() < 2.0 * slack, "border {h}×{w} r {r}: {b}");
        }
    }

    #[test]
    fn masked_pgd_changes_no_pixel_outside_the_mask() {
        tch::manual_seed(0);
        let w = Tensor::randn([4, 3 * 2 * 8 * 8], (Kind::Float, Device::Cpu));
        let f = |v: &Tensor| v.flatten(1, -1).matmul(&w.tr());
        let x = Tensor::rand([2, 3, 2, 8, 8], (Kind::Float, Device::Cpu)) * 0.5 + 0.25;
        let y = Tensor::from_slice(&[0i64, 3]);
        let mask = patch_mask(2, 8, 8, 0.25, &Position::Center, Device::Cpu);
        let pgd = Pgd {
            norm: Norm::Inf,
            eps: 255.0,
            alpha: 10.0,
            steps: 5,
            random_start: true,
        };
        let adv = pgd
            .run_masked(&f, &x, &y, Some(&mask), &mut |_| {})
            .unwrap();
        let changed = (&adv - &x).abs().gt(0.0).to_kind(Kind::Float);
        let outside = (&changed * (-&mask + 1.0))
            .sum(Kind::Float)
            .double_value(&[]);
        assert_eq!(outside, 0.0);
        assert!((&changed * &mask).sum(Kind::Float).double_value(&[]) > 0.0);
    }

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
        let (adv, delta) = fl.run(&f, &x, &y).unwrap();
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

    #[test]
    fn saliency_picks_the_frame_the_loss_depends_on_and_decides_per_sample() {
        // The model reads frame 2 of 4 only; sample 1 starts misclassified.
        let w = Tensor::from_slice(&[1.0f32, -1.0]).reshape([2, 1]);
        let f = |v: &Tensor| {
            let frame = v
                .narrow(2, 2, 1)
                .mean_dim([1, 2, 3, 4].as_slice(), false, Kind::Float);
            frame.unsqueeze(1).matmul(&w.tr()) * 50.0
        };
        let x = Tensor::full([2, 1, 4, 2, 2], 0.5, (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1]);
        let sal = frame_saliency(&f, &x, &y);
        let s0 = Vec::<f32>::try_from(sal.get(0)).unwrap();
        assert!(
            s0[2] > 0.0 && s0[0] == 0.0 && s0[1] == 0.0 && s0[3] == 0.0,
            "{s0:?}"
        );
        let inner = Pgd {
            norm: Norm::Inf,
            eps: 64.0,
            alpha: 64.0,
            steps: 1,
            random_start: false,
        };
        let adv = saliency(SaliencyMode::Iterative, &inner, &f, &x, &y).unwrap();
        // Sample 0: only frame 2 was replaced. Sample 1 was already fooled: untouched.
        let changed = (&adv - &x)
            .abs()
            .sum_dim_intlist([1, 3, 4].as_slice(), false, Kind::Float);
        let c: Vec<Vec<f32>> = (0..2)
            .map(|i| Vec::<f32>::try_from(changed.get(i)).unwrap())
            .collect();
        assert!(
            c[0][2] > 0.0 && c[0][0] == 0.0 && c[0][1] == 0.0 && c[0][3] == 0.0,
            "{c:?}"
        );
        assert!(c[1].iter().all(|&v| v == 0.0), "{c:?}");
    }
}
