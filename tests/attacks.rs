//! Attack mathematics against closed forms and invariants, on small linear and
//! convex models where the right answer can be computed another way.

use advp::runtime::attacks::{loss, project, Norm, Pgd};
use tch::{Kind, Tensor};

/// A linear classifier over flattened clips: logits = x·Wᵀ + b.
struct Linear {
    w: Tensor,
    b: Tensor,
}

impl Linear {
    fn new(seed: i64, dim: i64, classes: i64) -> Self {
        tch::manual_seed(seed);
        Linear {
            w: Tensor::randn([classes, dim], (Kind::Double, tch::Device::Cpu)),
            b: Tensor::randn([classes], (Kind::Double, tch::Device::Cpu)),
        }
    }
    fn logits(&self, x: &Tensor) -> Tensor {
        x.flatten(1, -1).matmul(&self.w.tr()) + &self.b
    }
}

fn clips(seed: i64, n: i64) -> (Tensor, Tensor) {
    tch::manual_seed(seed);
    let x = Tensor::rand([n, 3, 2, 4, 4], (Kind::Double, tch::Device::Cpu));
    let y = Tensor::randint(5, [n], (Kind::Int64, tch::Device::Cpu));
    (x, y)
}

#[test]
fn fgsm_on_a_linear_model_equals_its_closed_form() {
    let m = Linear::new(1, 96, 5);
    let (x, y) = clips(2, 6);
    let eps = 8.0;
    let adv = Pgd::fgsm(eps).run(&|v| m.logits(v), &x, &y).unwrap();
    // ∇ₓ mean CE = (softmax(z) − onehot(y)) W / N; FGSM: x + ε·sign(∇), clamped.
    let p = m.logits(&x).softmax(-1, Kind::Double);
    let onehot = y.one_hot(5).to_kind(Kind::Double);
    let grad = (p - onehot).matmul(&m.w) / 6.0;
    let want = (x.flatten(1, -1) + grad.sign() * (eps / 255.0))
        .clamp(0.0, 1.0)
        .reshape(x.size());
    let diff = (&adv - &want).abs().max().double_value(&[]);
    assert!(diff < 1e-12, "FGSM differs from the closed form by {diff}");
}

#[test]
fn pgd_inf_stays_in_the_ball_and_the_image_on_every_step() {
    let m = Linear::new(3, 96, 5);
    let (x, y) = clips(4, 8);
    for random_start in [false, true] {
        let pgd = Pgd {
            norm: Norm::Inf,
            eps: 8.0,
            alpha: 3.0,
            steps: 12,
            random_start,
        };
        let mut steps = 0;
        let adv = pgd
            .run_with(&|v| m.logits(v), &x, &y, &mut |delta| {
                steps += 1;
                let linf = delta.abs().max().double_value(&[]);
                assert!(linf <= 8.0 / 255.0 + 1e-12, "‖δ‖∞ = {linf}");
                let xa = &x + delta;
                assert!(xa.min().double_value(&[]) >= 0.0);
                assert!(xa.max().double_value(&[]) <= 1.0);
            })
            .unwrap();
        assert_eq!(steps, 12);
        // The attack uses its budget: some pixel sits on the boundary of the ball.
        let linf = (&adv - &x).abs().max().double_value(&[]);
        assert!((linf - 8.0 / 255.0).abs() < 1e-9, "{linf}");
    }
}

#[test]
fn pgd_2_projects_onto_the_l2_ball_by_rescaling() {
    // A δ outside the ball comes back on its surface, same direction.
    let d = Tensor::from_slice(&[3.0f64, 4.0, 0.0, 0.0, 0.3, 0.4]).reshape([2, 3]);
    let p = project(&d, Norm::L2, 1.0);
    let got: Vec<f64> = Vec::try_from(p.flatten(0, -1)).unwrap();
    let want = [0.6, 0.8, 0.0, 0.0, 0.3, 0.4];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{got:?}");
    }
    // And PGD-2 keeps every sample's ‖δ‖₂ ≤ ε on every step.
    let m = Linear::new(5, 96, 5);
    let (x, y) = clips(6, 8);
    let pgd = Pgd {
        norm: Norm::L2,
        eps: 64.0,
        alpha: 40.0,
        steps: 8,
        random_start: true,
    };
    let _ = pgd
        .run_with(&|v| m.logits(v), &x, &y, &mut |delta| {
            let n = delta
                .flatten(1, -1)
                .norm_scalaropt_dim(2, [1], false)
                .max()
                .double_value(&[]);
            assert!(n <= 64.0 / 255.0 + 1e-9, "‖δ‖₂ = {n}");
            let xa = &x + delta;
            assert!(xa.min().double_value(&[]) >= 0.0 && xa.max().double_value(&[]) <= 1.0);
        })
        .unwrap();
}

#[test]
fn pgd_loss_never_decreases_on_a_convex_model() {
    // Cross-entropy of a linear model is convex in x, so a signed step that is
    // then clipped (moving each pixel along sign(g) or not at all) cannot lower it.
    let m = Linear::new(7, 96, 5);
    let (x, y) = clips(8, 16);
    let pgd = Pgd {
        norm: Norm::Inf,
        eps: 16.0,
        alpha: 2.5,
        steps: 15,
        random_start: false,
    };
    let mut losses = vec![loss(&m.logits(&x), &y).double_value(&[])];
    let _ = pgd
        .run_with(&|v| m.logits(v), &x, &y, &mut |delta| {
            losses.push(loss(&m.logits(&(&x + delta)), &y).double_value(&[]));
        })
        .unwrap();
    for w in losses.windows(2) {
        assert!(w[1] >= w[0] - 1e-12, "loss went down: {losses:?}");
    }
    assert!(losses.last().unwrap() > &losses[0]);
}

#[test]
fn attacks_leave_parameters_without_gradient_and_eps_zero_is_clean() {
    let w = Tensor::randn([5, 96], (Kind::Double, tch::Device::Cpu)).set_requires_grad(true);
    let (x, y) = clips(9, 4);
    let f = |v: &Tensor| v.flatten(1, -1).matmul(&w.tr());
    let pgd = Pgd {
        norm: Norm::Inf,
        eps: 8.0,
        alpha: 2.0,
        steps: 3,
        random_start: false,
    };
    let _ = pgd.run(&f, &x, &y).unwrap();
    assert!(
        !w.grad().defined(),
        "the attack left a gradient on a parameter"
    );
    let clean = Pgd { eps: 0.0, ..pgd }.run(&f, &x, &y).unwrap();
    assert!(clean.equal(&x));
}

#[test]
fn early_exit_pgd_keeps_each_clips_first_fooling_iterate_of_plain_pgd() {
    // The worst-case protocol's PGD: a clip leaves the batch at the first
    // iterate that is misclassified. Each clip's update depends on its own
    // gradient only (sign for L∞, per-clip normalisation for L2), so every
    // iterate must be plain PGD's iterate at the same step, bit for bit.
    // Built without libtorch's global generator, which the other tests of
    // this binary reseed from their own threads.
    let det = |shape: &[i64], salt: f64| {
        let n: i64 = shape.iter().product();
        ((Tensor::arange(n, (Kind::Double, tch::Device::Cpu)) * 12.9898 + salt).sin() * 43758.5453)
            .frac()
            .abs()
            .reshape(shape)
    };
    let m = Linear {
        w: (det(&[5, 96], 1.0) - 0.5) * 4.0,
        b: det(&[5], 2.0) - 0.5,
    };
    let x = det(&[16, 3, 2, 4, 4], 3.0);
    let y = m.logits(&x).argmax(-1, false);
    for norm in [Norm::Inf, Norm::L2] {
        let pgd = Pgd {
            norm,
            eps: if norm == Norm::Inf { 6.0 } else { 60.0 },
            alpha: if norm == Norm::Inf { 1.0 } else { 12.0 },
            steps: 8,
            random_start: false,
        };
        let f = |v: &Tensor| m.logits(v);
        let mut iterates = vec![x.copy()];
        let _ = pgd
            .run_with(&f, &x, &y, &mut |d| iterates.push(&x + d))
            .unwrap();
        let (adv, fooled_at) = pgd.run_until_fooled(&f, None, &x, &y, None).unwrap();
        let mut fooled = 0;
        for i in 0..16 {
            let step = fooled_at[i as usize];
            let want = iterates[step.unwrap_or(8)].get(i);
            let diff = (adv.get(i) - &want).abs().max().double_value(&[]);
            assert!(
                diff < 1e-12,
                "{norm:?} clip {i} (step {step:?}) differs by {diff}"
            );
            // The step is the first misclassified iterate.
            let wrong = |t: &Tensor| {
                m.logits(&t.get(i).unsqueeze(0))
                    .argmax(-1, false)
                    .int64_value(&[0])
                    != y.int64_value(&[i])
            };
            match step {
                Some(s) => {
                    fooled += 1;
                    assert!(
                        wrong(&iterates[s]),
                        "{norm:?} clip {i}: step {s} is not fooled"
                    );
                    assert!(
                        iterates[..s].iter().all(|t| !wrong(t)),
                        "{norm:?} clip {i}: fooled before {s}"
                    );
                }
                None => assert!(iterates.iter().all(|t| !wrong(t))),
            }
        }
        assert!(
            fooled > 0 && fooled < 16,
            "{norm:?}: {fooled} of 16 fooled (the test needs both kinds)"
        );
    }
}

#[test]
fn square_never_raises_a_margin_spends_at_most_its_budget_and_queries_only_robust_clips() {
    use advp::runtime::attacks::square::{margins, Square};
    let m = Linear::new(9, 96, 5);
    let (x, _) = clips(10, 12);
    // Labels the model gets right, so every clip starts robust.
    let y = m.logits(&x).argmax(-1, false);
    let sq = Square {
        eps: 16.0,
        queries: 200,
        p_init: 0.8,
        rescale: true,
    };
    let mut last: Vec<Option<f64>> = vec![None; 12];
    let mut fooled_seen = [false; 12];
    let mut calls = 0;
    let out = sq
        .run_with(&|v| m.logits(v), &x, &y, &mut |active, margin| {
            calls += 1;
            let margin = Vec::<f64>::try_from(margin.to_kind(Kind::Double)).unwrap();
            for (&i, &mg) in active.iter().zip(&margin) {
                let i = i as usize;
                assert!(!fooled_seen[i], "clip {i} queried after it was fooled");
                if let Some(prev) = last[i] {
                    assert!(mg <= prev + 1e-12, "clip {i}: margin rose {prev} → {mg}");
                }
                last[i] = Some(mg);
                fooled_seen[i] = mg <= 0.0;
            }
        })
        .unwrap();
    assert!(calls > 1);
    for i in 0..12 {
        assert!(
            out.queries[i] <= 200,
            "clip {i}: {} queries",
            out.queries[i]
        );
        // A fooled clip stopped at the query that fooled it.
        if let Some(q) = out.fooled_at[i] {
            assert_eq!(out.queries[i], q + 1, "clip {i}");
        } else {
            assert_eq!(out.queries[i], 200, "clip {i} robust: the whole budget");
        }
    }
    let d = (&out.adv - &x).abs().max().double_value(&[]);
    assert!(d <= 16.0 / 255.0 + 1e-9, "‖δ‖∞ = {d}");
    let final_margin = margins(&m.logits(&out.adv), &y);
    let fooled = out.fooled_at.iter().filter(|f| f.is_some()).count();
    assert!(
        fooled > 0,
        "Square fooled no clip of a linear model at ε 16"
    );
    for i in 0..12 {
        let mg = final_margin.double_value(&[i]);
        assert_eq!(
            mg <= 0.0,
            out.fooled_at[i as usize].is_some(),
            "clip {i}: {mg}"
        );
    }
    // The schedule: p halves after 10/10000 of the budget, and so on.
    let s = Square {
        eps: 8.0,
        queries: 10000,
        p_init: 0.8,
        rescale: true,
    };
    assert_eq!(
        [s.p_at(0), s.p_at(10), s.p_at(11), s.p_at(51), s.p_at(9000)],
        [0.8, 0.8, 0.4, 0.2, 0.8 / 512.0]
    );
    // 5000 queries: stretched, p halves at iteration 6 (10/10000 of the
    // budget); as AutoAttack runs it (`resc_schedule=False`), at 11, and the
    // last halving it reaches is the 7th (iterations 4001..).
    let stretched = Square { queries: 5000, ..s };
    let autoattack = Square {
        rescale: false,
        ..stretched.clone()
    };
    assert_eq!([stretched.p_at(5), stretched.p_at(6)], [0.8, 0.4]);
    assert_eq!([autoattack.p_at(10), autoattack.p_at(11)], [0.8, 0.4]);
    assert_eq!(autoattack.p_at(4999), 0.8 / 128.0);
    assert_eq!(stretched.p_at(4999), 0.8 / 512.0);
}

#[test]
fn eot_steps_along_the_mean_gradient_of_a_random_model() {
    use advp::runtime::attacks::{input_grad, Attack, Eot, Fgsm};
    use std::cell::Cell;
    // A randomized model whose randomness is a fixed sequence of noises (one
    // per forward pass), so the reference can replay it.
    let m = Linear::new(11, 96, 5);
    let (x, y) = clips(12, 6);
    let calls = Cell::new(0i64);
    let noise = |c: i64| {
        ((Tensor::arange(x.numel() as i64, (Kind::Double, tch::Device::Cpu)) * (0.37 + c as f64))
            .sin()
            * 0.2)
            .reshape(x.size())
    };
    let f = |v: &Tensor| {
        let c = calls.get();
        calls.set(c + 1);
        m.logits(&(v + noise(c)))
    };
    let eps = 8.0;
    for samples in [1usize, 7] {
        calls.set(0);
        let eot = Attack::Eot(Eot::new(Fgsm { eps }.into(), samples));
        let adv = eot.run(&f, &x, &y).unwrap();
        assert_eq!(calls.get(), samples as i64, "one pass per sample");
        // The reference: the mean of the per-pass gradients, then one signed step.
        calls.set(0);
        let mut g = input_grad(&f, &x, &y).unwrap();
        for _ in 1..samples {
            g += input_grad(&f, &x, &y).unwrap();
        }
        let g = g / samples as f64;
        let want = (&x + g.sign() * (eps / 255.0)).clamp(0.0, 1.0);
        let diff = (&adv - &want).abs().max().double_value(&[]);
        assert!(diff < 1e-12, "{samples} samples: differs by {diff}");
    }
    // Seven samples move differently from one: the average matters.
    calls.set(0);
    let one = Attack::Eot(Eot::new(Fgsm { eps }.into(), 1))
        .run(&f, &x, &y)
        .unwrap();
    calls.set(0);
    let seven = Attack::Eot(Eot::new(Fgsm { eps }.into(), 7))
        .run(&f, &x, &y)
        .unwrap();
    assert!((one - seven).abs().max().double_value(&[]) > 0.0);
}
