//! FAB (Croce & Hein, ICML 2020), the Fast Adaptive Boundary attack, for
//! clips: untargeted and targeted (FAB-T, AutoAttack's standard member),
//! L∞, L2 and L1.
//!
//! Step by step the reference implementation (AutoAttack's `fab_base.py`
//! and `fab_projections.py`, as torchattacks' `FAB` carries them), on
//! N×C×T×H×W clips:
//! - at the iterate x⁽ᵏ⁾ the model is linearised: for every other class s
//!   (FAB-T: the one target) the hyperplane fₛ − f_y + ⟨∇fₛ − ∇f_y, · − x⁽ᵏ⁾⟩ = 0,
//!   and the closest one under the norm's dual (`|df| / ‖dg‖_q`) is taken;
//! - the minimal-norm step onto that hyperplane inside the box [0, 1] is
//!   found from x⁽ᵏ⁾ (d₁) and from the clean clip x (d₂) by the exact
//!   projections below, and x⁽ᵏ⁺¹⁾ = clamp((x⁽ᵏ⁾ + η d₁)(1 − α) + (x + η d₂)α)
//!   with α = min(‖d₁‖ / (‖d₁‖ + ‖d₂‖), α_max) (η 1.05, α_max 0.1);
//! - an iterate that is misclassified is kept when closer to x than the
//!   best so far, and the iterate steps back toward x by β = 0.9;
//! - restarts after the first start from x + ½·min(ε, best)·t/‖t‖ (t uniform
//!   in [−1, 1] for L∞, Gaussian for L2 and L1).
//!
//! FAB minimises the norm of the perturbation; a clip counts fooled only if
//! the norm found is ≤ ε (the reference's `perturb`), otherwise it is
//! returned clean. ε is in 0..255 units as everywhere.

use super::pgd::{grad, put_rows, rows_where, Rows};
use super::{units, AttackKind};
use crate::runtime::error::{stop_requested, NodeResult};
use tch::{Kind, Tensor};

/// The norm FAB minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FabNorm {
    Inf,
    L2,
    L1,
}

impl FabNorm {
    fn name(self) -> &'static str {
        match self {
            FabNorm::Inf => "L∞",
            FabNorm::L2 => "L2",
            FabNorm::L1 => "L1",
        }
    }

    /// The norm of each row of `d` (M×D), shaped M.
    fn of_rows(self, d: &Tensor) -> Tensor {
        match self {
            FabNorm::Inf => d.abs().amax([1], false),
            FabNorm::L2 => (d * d)
                .sum_dim_intlist([1i64].as_slice(), false, d.kind())
                .sqrt(),
            FabNorm::L1 => d.abs().sum_dim_intlist([1i64].as_slice(), false, d.kind()),
        }
    }

    /// The norm of each clip of `d` (N×…), shaped N.
    pub fn of_clips(self, d: &Tensor) -> Tensor {
        self.of_rows(&d.reshape([d.size()[0], -1]))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fab {
    pub norm: FabNorm,
    /// Budget ε in 0..255 units (of the norm minimised).
    pub eps: f64,
    pub steps: usize,
    pub restarts: usize,
    /// 0: untargeted; k: FAB-T against each of the top-k other classes in
    /// turn (at most classes − 1).
    pub targets: usize,
    pub alpha_max: f64,
    /// Overshooting η.
    pub eta: f64,
    /// The backward step β.
    pub beta: f64,
}

/// One run from one start: per clip the closest misclassified iterate found
/// (the clean clip where none was) and its norm (1e10 where none was), and
/// the step at which an iterate within `eps` was first found.
pub struct SingleRun {
    pub adv: Tensor,
    pub norm: Tensor,
    pub first_within: Vec<Option<usize>>,
}

/// N×1×…×1 for a tensor of `dim` dimensions.
fn per_clip(n: i64, dim: usize) -> Vec<i64> {
    let mut shape = vec![n];
    shape.extend(std::iter::repeat_n(1, dim - 1));
    shape
}

/// `where(cond, a, b)` with `cond` one boolean per row of M×D tensors.
fn rows_select(cond: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
    a.where_self(&cond.unsqueeze(1), b)
}

/// ⌈log₂ D⌉, the reference's bisection length.
fn bisection_steps(d: i64) -> usize {
    (d as f64).log2().ceil().max(0.0) as usize
}

/// The reference's bisection over sorted columns: per row the largest index
/// `lb` in [0, ub₀] where `above(index)` holds, by ⌈log₂ D⌉ halvings
/// (`counter4 = ⌊(lb + ub)/2⌋`, lb ← it where above, ub ← it where not).
/// The bounds are single precision, as the reference's (exact below 2²⁴
/// columns).
fn bisect(
    rows: i64,
    ub0: f64,
    steps: usize,
    device: tch::Device,
    above: &dyn Fn(&Tensor) -> Tensor,
) -> Tensor {
    let mut lb = Tensor::zeros([rows], (Kind::Float, device));
    let mut ub = Tensor::full([rows], ub0, (Kind::Float, device));
    for _ in 0..steps {
        let mid = ((&lb + &ub) / 2.0).floor();
        let c = above(&mid.to_kind(Kind::Int64).unsqueeze(1));
        lb = mid.where_self(&c, &lb);
        ub = ub.where_self(&c, &mid);
    }
    lb
}

/// The reference's `projection_linf`: per row the minimal-L∞ `d` with
/// ⟨w, t + d⟩ = b and t + d in [0, 1] (M×D rows).
pub fn projection_linf(t: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    let (m, dd) = (w.size()[0], w.size()[1]);
    let kind = w.kind();
    let device = w.device();
    let sign = ((w * t).sum_dim_intlist([1i64].as_slice(), false, kind) - b)
        .ge(0.0)
        .to_kind(kind)
        * 2.0
        - 1.0;
    let w = w * sign.unsqueeze(1);
    let b = b * &sign;
    let a = w.lt(0.0).to_kind(kind);
    let nonzero = w.ne(0.0).to_kind(kind);
    let d = (&a - t) * &nonzero;
    let p = &a - t * (&a * 2.0 - 1.0);
    let indp = p.argsort(1, false);
    let b = b - (&w * t).sum_dim_intlist([1i64].as_slice(), false, kind);
    let b0 = (&w * &d).sum_dim_intlist([1i64].as_slice(), false, kind);
    let indp2 = indp.flip([1]);
    let ws = w.gather(1, &indp2, false);
    let bs2 = -&ws * d.gather(1, &indp2, false);
    let s = ws.abs().cumsum(1, kind);
    let sb = bs2.cumsum(1, kind) + b0.unsqueeze(1);
    let last = |v: &Tensor| v.select(1, dd - 1);
    let b2 = last(&sb) - last(&s) * p.gather(1, &indp.narrow(1, 0, 1), false).squeeze_dim(1);
    let c_l = (&b - &b2).gt(0.0);
    let c2 = (&b - &b0).gt(0.0).logical_and(&c_l.logical_not());
    let lb = bisect(m, (dd - 1) as f64, bisection_steps(dd), device, &|mid| {
        let indcurr = indp.gather(1, &(mid.neg() + (dd - 1)), false);
        let b2 = (sb.gather(1, mid, false)
            - s.gather(1, mid, false) * p.gather(1, &indcurr, false))
        .squeeze_dim(1);
        (&b - b2).gt(0.0)
    })
    .to_kind(Kind::Int64)
    .unsqueeze(1);
    let lmbd_l = ((&b - last(&sb)) / -last(&s)).clamp_min(0.0).unsqueeze(1);
    let d_l = (&a * 2.0 - 1.0) * lmbd_l;
    let lmbd = ((&b - sb.gather(1, &lb, false).squeeze_dim(1))
        / -s.gather(1, &lb, false).squeeze_dim(1))
    .clamp_min(0.0)
    .unsqueeze(1);
    let d_2 = lmbd.minimum(&d) * &a + (-&lmbd).maximum(&d) * (1.0 - &a);
    let d = rows_select(&c_l, &d_l, &rows_select(&c2, &d_2, &d));
    d * nonzero
}

/// The hyperplane ⟨w, ·⟩ = b oriented so that each row's point `t` lies on
/// its non-negative side: w and c = ⟨w, t⟩ − b, both times the sign of c
/// (the first lines of the reference's L2 and L1 projections).
fn facing(t: &Tensor, w: &Tensor, b: &Tensor) -> (Tensor, Tensor) {
    let c = (w * t).sum_dim_intlist([1i64].as_slice(), false, w.kind()) - b;
    let ind2 = c.ge(0.0).to_kind(w.kind()) * 2.0 - 1.0;
    (w * ind2.unsqueeze(1), c * &ind2)
}

/// The reference's `projection_l2`: per row the minimal-L2 `d` with
/// ⟨w, t + d⟩ = b and t + d in [0, 1].
pub fn projection_l2(t: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    let (m, dd) = (w.size()[0], w.size()[1]);
    let kind = w.kind();
    let device = w.device();
    let (w, c) = facing(t, w, b);
    let small = w.abs().lt(1e-8);
    let r = (t / &w).maximum(&((t - 1.0) / &w)).clamp(-1e12, 1e12);
    let r = r.masked_fill(&small, 1e12);
    let r = (-&r).where_self(&r.eq(-1e12), &r);
    let (rs, indr) = r.sort(1, false);
    let rs2 = Tensor::cat(
        &[
            rs.narrow(1, 1, dd - 1),
            Tensor::zeros([m, 1], (kind, device)),
        ],
        1,
    );
    let rs = rs.masked_fill(&rs.eq(1e12), 0.0);
    let rs2 = rs2.masked_fill(&rs2.eq(1e12), 0.0);
    let w3s = (&w * &w).gather(1, &indr, false);
    let w5 = w3s.sum_dim_intlist([1i64].as_slice(), true, kind);
    let ws = &w5 - w3s.cumsum(1, kind);
    let d = -(&r * &w) * small.logical_not().to_kind(kind);
    let rs0 = rs.narrow(1, 0, 1);
    let s = Tensor::cat(
        &[
            -&w5 * &rs0,
            ((-&rs2 + &rs) * &ws).cumsum(1, kind) - &w5 * &rs0,
        ],
        1,
    );
    let c4 = (s.select(1, 0) + &c).lt(0.0);
    let c3 = ((&d * &w).sum_dim_intlist([1i64].as_slice(), false, kind) + &c).gt(0.0);
    let c2 = c4.logical_or(&c3).logical_not();
    let lb = bisect(m, (dd - 1) as f64, bisection_steps(dd), device, &|mid| {
        (s.gather(1, mid, false).squeeze_dim(1) + &c).gt(0.0)
    })
    .to_kind(Kind::Int64)
    .unsqueeze(1);
    let alpha4 = (&c / w5.squeeze_dim(-1)).unsqueeze(1);
    let d_4 = -alpha4 * &w;
    let ws_lb = ws.gather(1, &lb, false).squeeze_dim(1);
    let alpha = (s.gather(1, &lb, false).squeeze_dim(1) + &c) / &ws_lb
        + rs.gather(1, &lb, false).squeeze_dim(1);
    let alpha = alpha.masked_fill(&ws_lb.eq(0.0), 0.0).unsqueeze(1);
    let c5 = alpha.gt_tensor(&r).to_kind(kind);
    let d_2 = &d * &c5 - &alpha * &w * (1.0 - &c5);
    let d = rows_select(&c4, &d_4, &rows_select(&c2, &d_2, &d));
    d * small.logical_not().to_kind(kind)
}

/// The reference's `projection_l1`: per row the minimal-L1 `d` with
/// ⟨w, t + d⟩ = b and t + d in [0, 1].
pub fn projection_l1(t: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    let (m, dd) = (w.size()[0], w.size()[1]);
    let kind = w.kind();
    let device = w.device();
    let (w, c) = facing(t, w, b);
    let r = w.reciprocal().abs().clamp_max(1e12);
    let indr = r.argsort(1, false);
    let indr_rev = indr.argsort(1, false);
    let c6 = w.lt(0.0).to_kind(kind);
    let d = (-t + &c6) * w.ne(0.0).to_kind(kind);
    let ds = (-&w * t).minimum(&(&w * (1.0 - t))).gather(1, &indr, false);
    let s = Tensor::cat(&[c.unsqueeze(1), ds], 1).cumsum(1, kind);
    let c2 = s.select(1, dd).lt(0.0);
    let lb = bisect(m, (dd + 1) as f64, bisection_steps(dd), device, &|mid| {
        s.gather(1, mid, false).squeeze_dim(1).gt(0.0)
    });
    // A row outside c2 may end at column D, past `indr`: its result is
    // discarded, so it reads the last column instead.
    let lb2 = lb.to_kind(Kind::Int64).clamp_max(dd - 1).unsqueeze(1);
    let at = indr.gather(1, &lb2, false);
    let alpha = -s.gather(1, &lb2, false) / w.gather(1, &at, false);
    let u3 = indr_rev
        .to_kind(Kind::Float)
        .lt_tensor(&lb.to_kind(Kind::Float).unsqueeze(1));
    let d_2 = (&d * u3.to_kind(kind)).scatter(1, &at, &alpha);
    let d = rows_select(&c2, &d_2, &d);
    d * w.abs().gt(1e-8).to_kind(kind)
}

impl Fab {
    /// The classes FAB-T targets with `classes` classes: min(targets,
    /// classes − 1).
    pub fn targets_for(&self, classes: i64) -> usize {
        self.targets.min(usize::try_from(classes - 1).unwrap_or(0))
    }

    fn project(&self, t: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
        match self.norm {
            FabNorm::Inf => projection_linf(t, w, b),
            FabNorm::L2 => projection_l2(t, w, b),
            FabNorm::L1 => projection_l1(t, w, b),
        }
    }

    /// The logit differences to the label's (1e10 at the label) and their
    /// gradients, N×K and N×K×…, at `x` (untargeted: one backward pass per
    /// class, as the reference); targeted: −(z_y − z_t) and its gradient, N×1.
    fn diffs(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
        target: Option<&Tensor>,
    ) -> NodeResult<(Tensor, Tensor)> {
        let xa = x.detach().set_requires_grad(true);
        let z = f(&xa);
        let n = x.size()[0];
        let u = Tensor::arange(n, (Kind::Int64, x.device()));
        if let Some(t) = target {
            let diffy = -(z.gather(1, &y.unsqueeze(1), false)
                - z.gather(1, &t.unsqueeze(1), false))
            .squeeze_dim(1);
            let g = grad(&diffy.sum(diffy.kind()), &xa)?;
            return Ok((diffy.detach().unsqueeze(1), g.unsqueeze(1)));
        }
        let k = z.size()[1];
        let mut grads = Vec::with_capacity(k as usize);
        for c in 0..k {
            stop_requested()?;
            let out = z.select(1, c).sum(z.kind());
            let g = Tensor::f_run_backward(&[&out], &[&xa], true, false)
                .ok()
                .and_then(|mut g| g.pop())
                .filter(Tensor::defined)
                .ok_or(crate::runtime::error::NoGradient { of: "the input" })?;
            grads.push(g);
        }
        let g2 = Tensor::stack(&grads, 1);
        let z = z.detach();
        let _g = tch::no_grad_guard();
        let zy = z.index(&[Some(&u), Some(y)]).unsqueeze(1);
        let df = &z - zy;
        let gy = g2.index(&[Some(&u), Some(y)]).unsqueeze(1);
        let dg = &g2 - gy;
        let df = df.index_put(
            &[Some(&u), Some(y)],
            &Tensor::from(1e10).to_kind(df.kind()),
            false,
        );
        Ok((df, dg))
    }

    fn predicted(f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor) -> Tensor {
        let _g = tch::no_grad_guard();
        f(x).argmax(1, false)
    }

    /// One run on clips the model classifies correctly, from the clean clip
    /// (`start: None`) or from x + ½·min(ε, ·)·t/‖t‖ for the draw `t`.
    pub fn single_run(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
        start: Option<&Tensor>,
        target: Option<&Tensor>,
    ) -> NodeResult<SingleRun> {
        let x = x.detach();
        let n = x.size()[0];
        let kind = x.kind();
        let device = x.device();
        let shape = per_clip(n, x.dim());
        let eps = self.eps / 255.0;
        let x0 = x.reshape([n, -1]);
        let u = Tensor::arange(n, (Kind::Int64, device));
        let mut adv = x.copy();
        let mut res = Tensor::full([n], 1e10, (kind, device));
        let mut first_within: Vec<Option<usize>> = vec![None; n as usize];
        let mut x1 = match start {
            None => x.copy(),
            Some(t) => {
                let _g = tch::no_grad_guard();
                let scale = res.clamp_max(eps).reshape(&shape[..]);
                let tn = self.norm.of_clips(t).reshape(&shape[..]);
                let x1 = match self.norm {
                    FabNorm::Inf | FabNorm::L2 => &x + scale * t / tn * 0.5,
                    FabNorm::L1 => &x + scale * t / tn / 2.0,
                };
                x1.clamp(0.0, 1.0)
            }
        };
        for step in 0..self.steps {
            stop_requested()?;
            let (df, dg) = self.diffs(f, &x1, y, target)?;
            let _g = tch::no_grad_guard();
            let k = dg.size()[1];
            let dgf = dg.reshape([n, k, -1]);
            let dual = match self.norm {
                FabNorm::Inf => dgf.abs().sum_dim_intlist([-1i64].as_slice(), false, kind),
                FabNorm::L2 => (&dgf * &dgf)
                    .sum_dim_intlist([-1i64].as_slice(), false, kind)
                    .sqrt(),
                FabNorm::L1 => dgf.abs().amax([-1], false),
            };
            let dist1 = df.abs() / (dual + 1e-12);
            let ind = dist1.min_dim(1, false).1;
            let dg2 = dg.index(&[Some(&u), Some(&ind)]);
            let b = -df.index(&[Some(&u), Some(&ind)])
                + (&dg2 * &x1)
                    .reshape([n, -1])
                    .sum_dim_intlist([-1i64].as_slice(), false, kind);
            let w = dg2.reshape([n, -1]);
            let d3 = self.project(
                &Tensor::cat(&[x1.reshape([n, -1]), x0.shallow_clone()], 0),
                &Tensor::cat(&[&w, &w], 0),
                &Tensor::cat(&[&b, &b], 0),
            );
            let d1 = d3.narrow(0, 0, n).reshape(x1.size());
            let d2 = d3.narrow(0, n, n).reshape(x1.size());
            let a0 = self
                .norm
                .of_rows(&d3)
                .clamp_min(1e-8)
                .reshape(&per_clip(2 * n, x.dim())[..]);
            let (a1, a2) = (a0.narrow(0, 0, n), a0.narrow(0, n, n));
            let alpha = (&a1 / (&a1 + &a2)).clamp_min(0.0).clamp_max(self.alpha_max);
            let keep: Tensor = (&x1 + &d1 * self.eta) * (1.0 - &alpha);
            let toward: Tensor = (&x + &d2 * self.eta) * &alpha;
            x1 = (keep + toward).clamp(0.0, 1.0);
            let is_adv = Self::predicted(f, &x1).ne_tensor(y);
            if is_adv.any().int64_value(&[]) != 0 {
                let t = self.norm.of_clips(&(&x1 - &x));
                let closer = t.lt_tensor(&res).logical_and(&is_adv);
                let cw = closer.view(&shape[..]);
                adv = x1.where_self(&cw, &adv);
                res = t.where_self(&closer, &res);
                let within = Vec::<bool>::try_from(
                    is_adv.logical_and(&t.le(eps)).to_device(tch::Device::Cpu),
                )
                .unwrap_or_default();
                for (j, w) in within.into_iter().enumerate() {
                    if w {
                        first_within[j].get_or_insert(step + 1);
                    }
                }
                let aw = is_adv.view(&shape[..]);
                x1 = (&x + (&x1 - &x) * self.beta).where_self(&aw, &x1);
            }
        }
        Ok(SingleRun {
            adv,
            norm: res,
            first_within,
        })
    }

    /// The attack as the reference's `perturb` runs it: the clips the model
    /// gets right are attacked, restart after restart (and target after
    /// target for FAB-T), each on the clips still robust; a clip is fooled
    /// when a run finds a misclassified point within ε. Gives the clips
    /// (fooled ones at their point, the rest clean) and the step that first
    /// fooled each, counted over all runs.
    pub fn run_tracked(
        &self,
        f: &dyn Fn(&Tensor) -> Tensor,
        x: &Tensor,
        y: &Tensor,
    ) -> NodeResult<(Tensor, Vec<Option<usize>>)> {
        let x = x.detach();
        let mut adv = x.copy();
        let eps = self.eps / 255.0;
        let (clean_z, mut fooled_at) = super::clean_start(f, &x, y);
        let classes = clean_z.size()[1];
        let targets: Vec<Option<i64>> = if self.targets == 0 {
            vec![None]
        } else {
            (2..self.targets_for(classes) as i64 + 2)
                .map(Some)
                .collect()
        };
        let mut spent = 0;
        for rank in targets {
            for restart in 0..self.restarts.max(1) {
                let Some(Rows {
                    at: todo,
                    idx,
                    x: xs,
                    y: ys,
                }) = rows_where(&x, y, |i| fooled_at[i].is_none())
                else {
                    break;
                };
                let draw = (restart > 0).then(|| match self.norm {
                    FabNorm::Inf => xs.rand_like() * 2.0 - 1.0,
                    FabNorm::L2 | FabNorm::L1 => xs.randn_like(),
                });
                // The clean pass's logits of these clips (no second forward).
                let target = rank.map(|r| {
                    clean_z
                        .index_select(0, &idx)
                        .argsort(1, false)
                        .select(1, classes - r)
                });
                let run = self.single_run(f, &xs, &ys, draw.as_ref(), target.as_ref())?;
                let _g = tch::no_grad_guard();
                let wrong = Vec::<bool>::try_from(
                    Self::predicted(f, &run.adv)
                        .ne_tensor(&ys)
                        .logical_and(&self.norm.of_clips(&(&xs - &run.adv)).le(eps))
                        .to_device(tch::Device::Cpu),
                )
                .unwrap_or_default();
                let (mut at, mut from) = (vec![], vec![]);
                for (j, &i) in todo.iter().enumerate() {
                    if wrong[j] {
                        fooled_at[i as usize] =
                            Some(spent + run.first_within[j].unwrap_or(self.steps));
                        at.push(i);
                        from.push(j as i64);
                    }
                }
                adv = put_rows(&adv, &at, &run.adv, &from);
                spent += self.steps;
            }
        }
        Ok((adv, fooled_at))
    }
}

impl AttackKind for Fab {
    fn describe(&self) -> String {
        let name = match self.targets {
            0 => "FAB".to_string(),
            t => format!("FAB-T ({t} target classes, at most classes − 1)"),
        };
        format!(
            "{name} {} ε {}, {} steps, {} restart{}, α_max {}, η {}, β {}",
            self.norm.name(),
            units(self.eps),
            self.steps,
            self.restarts,
            if self.restarts == 1 { "" } else { "s" },
            self.alpha_max,
            self.eta,
            self.beta
        )
    }
    fn eps(&self) -> f64 {
        self.eps
    }
    /// FAB has no step size: its steps come from the linearisation.
    fn alpha(&self) -> f64 {
        0.0
    }
    fn steps(&self) -> usize {
        self.steps * self.restarts.max(1) * self.targets.max(1)
    }
    fn at_budget(&self, eps: f64, _alpha: Option<f64>) -> Fab {
        Fab {
            eps,
            ..self.clone()
        }
    }
    tracked_runs!();
}
