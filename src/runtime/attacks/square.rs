//! Square (Andriushchenko et al., ECCV 2020), the score-based black-box attack
//! of AutoAttack, under L∞, for clips.
//!
//! As the reference (`autoattack/square.py`): start from vertical stripes of
//! ±ε; each query changes one random square, of side ≈ √(p·H·W) with p from
//! `p_init` halved on the reference's schedule (iterations 10, 50, 200, 500,
//! 1000, 2000, 4000, 6000, 8000 of 10 000, rescaled to the query budget
//! unless `rescale` is off, as AutoAttack runs it), to
//! ±ε; a change is kept when the margin loss z_y − max_{i≠y} z_i decreases
//! (or the clip becomes misclassified); a clip stops being queried once its
//! margin is ≤ 0. Only the still-robust clips are queried.
//!
//! For clips, a square is a tube: the same H×W window on every frame, with
//! its own ±ε per channel *and frame*; the starting stripes differ per frame
//! too. A window over all frames changes the share p of the clip the image
//! schedule intends (one frame alone would change p/T and need T times the
//! queries), and a video model's 3D filters see a coherent change; the
//! per-frame signs let the attack find temporal patterns, which a constant
//! tube could not.

use super::{units, AttackKind, Found, Victim};
use crate::runtime::error::{stop_requested, NodeResult};
use tch::{Device, Kind, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Square {
    /// Budget ε in 0..255 units.
    pub eps: f64,
    /// Queries per clip, the start included.
    pub queries: usize,
    pub p_init: f64,
    /// Whether p's schedule (set for 10 000 queries) is stretched to
    /// `queries` (the reference's `resc_schedule`, its default); AutoAttack
    /// runs Square with 5000 queries on the schedule as it is.
    pub rescale: bool,
}

/// What a run did per clip.
pub struct Outcome {
    pub adv: Tensor,
    /// The query that first made the clip misclassified (0: the start).
    pub fooled_at: Vec<Option<usize>>,
    /// Queries spent on each clip (the start counts one).
    pub queries: Vec<usize>,
}

/// The label's logit minus the best other one, per clip.
pub fn margins(z: &Tensor, y: &Tensor) -> Tensor {
    let zy = z.gather(1, &y.unsqueeze(1), false).squeeze_dim(1);
    let others = z.scatter_value(1, &y.unsqueeze(1), f64::NEG_INFINITY);
    zy - others.amax([1], false)
}

impl Square {
    /// The share p of each frame a square covers at iteration `it`.
    pub fn p_at(&self, it: usize) -> f64 {
        let it = if self.rescale {
            (it as f64 / self.queries.max(1) as f64 * 10000.0) as usize
        } else {
            it
        };
        let halvings = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
            .iter()
            .filter(|&&t| it > t)
            .count();
        self.p_init / 2f64.powi(halvings as i32)
    }

    /// ±1 with equal chance, from libtorch's generator (reseeded per batch by the caller).
    fn signs(shape: &[i64], device: Device) -> Tensor {
        Tensor::randint(2, shape, (Kind::Float, device)) * 2.0 - 1.0
    }

    /// The attack on a batch. `f` gives logits and is queried without
    /// gradients; `on_query` sees each clip's margin after every query (tests).
    pub fn run_with(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
        on_query: &mut dyn FnMut(&[i64], &Tensor),
    ) -> NodeResult<Outcome> {
        let _g = tch::no_grad_guard();
        let eps = self.eps / 255.0;
        let x = x.detach();
        let s = x.size(); // N×C×T×H×W
        let (n, c, t, h, w) = (s[0], s[1], s[2], s[3], s[4]);
        let kind = x.kind();
        let mut best =
            (&x + Self::signs(&[n, c, t, 1, w], x.device()).to_kind(kind) * eps).clamp(0.0, 1.0);
        let mut margin = margins(&f(&best), y);
        let mut queries = vec![1usize; n as usize];
        let to_vec = |m: &Tensor| {
            Vec::<f64>::try_from(m.to_device(Device::Cpu).to_kind(Kind::Double)).unwrap_or_default()
        };
        let mut fooled_at: Vec<Option<usize>> = to_vec(&margin)
            .iter()
            .map(|&m| (m <= 0.0).then_some(0))
            .collect();
        on_query(&(0..n).collect::<Vec<_>>(), &margin);
        let min_size = h.min(w);
        for it in 0..self.queries.saturating_sub(1) {
            let active: Vec<i64> = (0..n)
                .filter(|&i| fooled_at[i as usize].is_none())
                .collect();
            if active.is_empty() {
                break;
            }
            // Once a query: `square(queries: 1e9)` stops within one.
            stop_requested()?;
            let idx = Tensor::from_slice(&active).to_device(x.device());
            let (xc, bc, yc) = (
                x.index_select(0, &idx),
                best.index_select(0, &idx),
                y.index_select(0, &idx),
            );
            let mc = margin.index_select(0, &idx);
            let p = self.p_at(it);
            let side = ((p * (h * w) as f64).sqrt().round() as i64).clamp(1, (min_size - 1).max(1));
            let vh =
                Tensor::randint(h - side + 1, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]);
            let vw =
                Tensor::randint(w - side + 1, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]);
            let delta = Tensor::zeros([c, t, h, w], (kind, x.device()));
            delta
                .narrow(2, vh, side)
                .narrow(3, vw, side)
                .copy_(&(Self::signs(&[c, t, 1, 1], x.device()).to_kind(kind) * (2.0 * eps)));
            let candidate = (&bc + delta)
                .maximum(&(&xc - eps))
                .minimum(&(&xc + eps))
                .clamp(0.0, 1.0);
            let mnew = margins(&f(&candidate), &yc);
            // Kept when the margin decreases (the margin loss) or the clip is fooled.
            let improved = mnew.lt_tensor(&mc).logical_or(&mnew.le(0.0));
            let keep = improved.view([-1, 1, 1, 1, 1]);
            best = best.index_copy(0, &idx, &candidate.where_self(&keep, &bc));
            margin = margin.index_copy(0, &idx, &mnew.where_self(&improved, &mc));
            let now = margin.index_select(0, &idx);
            on_query(&active, &now);
            for (j, m) in to_vec(&now).into_iter().enumerate() {
                let i = active[j] as usize;
                queries[i] += 1;
                if m <= 0.0 {
                    fooled_at[i] = Some(it + 1);
                }
            }
        }
        Ok(Outcome {
            adv: best,
            fooled_at,
            queries,
        })
    }

    /// The attack on a batch, as [`Square::run_with`] without a watcher.
    pub fn outcome(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
    ) -> NodeResult<Outcome> {
        self.run_with(f, x, y, &mut |_, _| {})
    }
}

impl AttackKind for Square {
    fn describe(&self) -> String {
        format!(
            "Square (black-box) L∞ ε {}, {} queries, p_init {}{}",
            units(self.eps),
            self.queries,
            self.p_init,
            if self.rescale {
                ""
            } else {
                ", p's schedule not rescaled"
            }
        )
    }
    fn eps(&self) -> f64 {
        self.eps
    }
    /// A square moves by 2ε.
    fn alpha(&self) -> f64 {
        2.0 * self.eps
    }
    fn steps(&self) -> usize {
        self.queries
    }
    fn at_budget(&self, eps: f64, _alpha: Option<f64>) -> Square {
        Square {
            eps,
            ..self.clone()
        }
    }
    fn uses_gradient(&self) -> bool {
        false
    }
    fn is_black_box(&self) -> bool {
        true
    }
    fn run(&self, f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> NodeResult<Tensor> {
        Ok(self.outcome(f, x, y)?.adv)
    }
    fn run_until_fooled(&self, v: Victim, x: &Tensor, y: &Tensor) -> NodeResult<Found> {
        let o = self.outcome(v.f, x, y)?;
        Ok(Found::tracked(o.adv, o.fooled_at))
    }
}
