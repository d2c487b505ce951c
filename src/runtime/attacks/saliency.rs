//! ART's frame saliency attack (ALGORITHMS.md, "Attacks"): PGD's frames
//! replaced one at a time, the most salient first, per sample. Clips are
//! N×C×T×H×W in [0, 1]; budgets in 0..255 units.

use super::pgd::{input_grad, Pgd};
use super::AttackKind;
use crate::runtime::error::{stop_requested, NodeResult};
use tch::{Kind, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SaliencyMode {
    OneShot,
    Iterative,
    Refresh,
}

/// Mean |∂L/∂x| over each frame: N×T.
pub fn frame_saliency(f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> NodeResult<Tensor> {
    // The per-sample gradient of the summed loss (mean would scale all samples alike).
    let g = input_grad(f, x, y)? * x.size()[0] as f64;
    Ok(g.abs().mean_dim([1, 3, 4].as_slice(), false, Kind::Float))
}

/// ART's FrameSaliencyAttack, with the choice of frames made per sample.
pub fn saliency(
    mode: SaliencyMode,
    inner: &Pgd,
    f: &dyn Fn(&Tensor) -> Tensor,
    x: &Tensor,
    y: &Tensor,
) -> NodeResult<Tensor> {
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
    let mut sal = order(&frame_saliency(f, &x, y)?);
    for _ in 0..t {
        stop_requested()?;
        let fooled: Vec<bool> = {
            let _g = tch::no_grad_guard();
            let pred = f(&cur).argmax(-1, false).ne_tensor(y);
            Vec::<bool>::try_from(pred).unwrap_or_default()
        };
        if fooled.iter().all(|&b| b) {
            break;
        }
        if mode == SaliencyMode::Refresh {
            sal = order(&frame_saliency(f, &cur, y)?);
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

/// PGD whose frames replace the clean ones by saliency ([`saliency`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Saliency {
    pub mode: SaliencyMode,
    pub inner: Pgd,
}

impl AttackKind for Saliency {
    fn describe(&self) -> String {
        let how = match self.mode {
            SaliencyMode::OneShot => "frames chosen once by saliency",
            SaliencyMode::Iterative => "frames added by saliency",
            SaliencyMode::Refresh => "frames re-chosen by saliency each step",
        };
        format!("PGD {} on {how}", self.inner.summary())
    }
    pgd_budget!(inner);
    fn run(&self, f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> NodeResult<Tensor> {
        saliency(self.mode, &self.inner, f, x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::attacks::pgd::Norm;
    use tch::Device;

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
        let sal = frame_saliency(&f, &x, &y).unwrap();
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
