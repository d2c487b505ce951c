//! Generative defenses (ALGORITHMS.md "Training", paper Sec. 4.3): the 3D
//! APE-GAN generator G and discriminator D, their losses (Eq. 9–12), and the
//! per-batch updates of APE-GAN training and of end-to-end GAT (Eq. 14). APE +
//! AT (Eq. 13) is ordinary adversarial training of F behind a frozen G (a
//! `preprocess` defense), so it needs nothing here but [`Generator`].
//!
//! The training loop itself (data order, seeds, budget schedules, checkpoints
//! and resume, metrics) is the one of [`super::train`]; this module supplies a
//! [`Learner`] for it.

use super::optim::{Optimizer, Rule};
use super::{Learner, Named, StepOutcome};
use crate::runtime::attacks::{self, Attack};
use crate::runtime::error::{NodeError, NodeResult};
pub use crate::runtime::models::ape_nets::{Discriminator, Generator};
use crate::runtime::models::Net;
use tch::{Kind, Reduction, Tensor};

/// Mean binary cross-entropy of logits against a constant label (BCE of the
/// sigmoid, computed stably).
pub fn bce(logits: &Tensor, label: f64) -> Tensor {
    logits.binary_cross_entropy_with_logits::<Tensor>(
        &logits.full_like(label),
        None,
        None,
        Reduction::Mean,
    )
}

/// Eq. 11 as a loss to minimise: BCE(D(x), 1) + BCE(D(G(x + δ̂)), 0).
pub fn d_loss(real_logits: &Tensor, fake_logits: &Tensor) -> Tensor {
    bce(real_logits, 1.0) + bce(fake_logits, 0.0)
}

/// Eq. 10: 1/(TWH)·‖X − G(X′)‖²_F per clip (summed over the colour
/// channels, not averaged over them), averaged over the batch.
pub fn mse_eq10(restored: &Tensor, clean: &Tensor) -> Tensor {
    let s = clean.size();
    let channels = if s.len() == 5 { s[1] } else { 1 };
    let per_clip_pixels = (clean.numel() as i64 / channels) as f64;
    restored.mse_loss(clean, Reduction::Sum) / per_clip_pixels
}

/// Eq. 12 (with the usual non-saturating form of the adversarial term):
/// γ₁·L_mse(G(x + δ̂), x) + γ₂·BCE(D(G(x + δ̂)), 1), L_mse of Eq. 10.
pub fn g_loss(restored: &Tensor, clean: &Tensor, fake_logits: &Tensor, gamma: [f64; 2]) -> Tensor {
    mse_eq10(restored, clean) * gamma[0] + bce(fake_logits, 1.0) * gamma[1]
}

/// APE-GAN training (F frozen or absent) and GAT (F trained with G and D).
pub struct GanLearner {
    pub g: Net,
    pub d: Net,
    /// The classifier δ̂ attacks through (F∘G); without one, δ̂ maximises G's
    /// reconstruction error instead.
    pub f: Option<Net>,
    pub opt_g: Optimizer,
    pub opt_d: Optimizer,
    /// GAT: F's optimizer (F is trained); `None`: F stays frozen.
    pub opt_f: Option<Optimizer>,
    pub gamma: [f64; 2],
    pub g_steps: usize,
}

impl GanLearner {
    /// G and D trained with Adam (0.5, 0.999) at `lr`; F frozen (or absent)
    /// unless `f_rule` gives it an optimizer (GAT). `gamma`: [γ₁, γ₂]
    /// (default [0.7, 0.3]).
    pub fn new(
        g: Net,
        d: Net,
        f: Option<Net>,
        lr: f64,
        gamma: &[f64],
        g_steps: usize,
        f_rule: Option<(Rule, f64)>,
    ) -> Self {
        GanLearner {
            opt_g: Optimizer::new(Self::gan_rule(), lr, g.trainable()),
            opt_d: Optimizer::new(Self::gan_rule(), lr, d.trainable()),
            opt_f: match (&f, f_rule) {
                (Some(f), Some((rule, lr))) => Some(Optimizer::new(rule, lr, f.trainable())),
                _ => None,
            },
            g,
            d,
            f,
            gamma: [
                gamma.first().copied().unwrap_or(0.7),
                gamma.get(1).copied().unwrap_or(0.3),
            ],
            g_steps: g_steps.max(1),
        }
    }

    /// Adam (0.5, 0.999) for G and D, the built-in table's `APE_GAN_ADAM`
    /// (F's own rule for GAT is given by the caller).
    pub fn gan_rule() -> Rule {
        let (beta1, beta2, eps) = crate::language::builtins::APE_GAN_ADAM;
        Rule::Adam {
            beta1,
            beta2,
            eps,
            weight_decay: 0.0,
        }
    }

    fn restore_net(net: &mut Net, prefix: &str, named: &Named) -> NodeResult<()> {
        let mine: Vec<(String, Tensor)> = named
            .iter()
            .filter_map(|(k, t)| {
                k.strip_prefix(prefix)
                    .map(|k| (k.to_string(), t.shallow_clone()))
            })
            .collect();
        net.copy_from(&mine)
    }

    fn optimizers(&mut self) -> Vec<(&'static str, &mut Optimizer)> {
        let mut v = vec![("g.", &mut self.opt_g), ("d.", &mut self.opt_d)];
        if let Some(o) = self.opt_f.as_mut() {
            v.push(("f.", o));
        }
        v
    }
}

impl Learner for GanLearner {
    /// The schedule's learning rate: F's under GAT (G and D keep the
    /// APE-GAN's Adam rate), G's and D's when training APE-GAN alone.
    fn set_lr(&mut self, lr: f64) {
        match self.opt_f.as_mut() {
            Some(o) => o.lr = lr,
            None => {
                self.opt_g.lr = lr;
                self.opt_d.lr = lr;
            }
        }
    }

    fn step(&mut self, x: &Tensor, y: &Tensor, attack: Option<(&Attack, bool)>) -> StepOutcome {
        let (g, d) = (&self.g, &self.d);
        // δ̂ against F∘G (or G's reconstruction error), BatchNorm as asked.
        let adv = match (attack, &self.f) {
            (None, _) => x.shallow_clone(),
            (Some((a, bn)), Some(f)) => a.run(&|v| f.forward(&g.forward(v, bn), bn), x, y)?,
            (Some((a, bn)), None) => match a {
                Attack::Fgsm(_) | Attack::Pgd(_) => {
                    let pgd = a.as_pgd().expect("fgsm and pgd are PGD");
                    let objective = |v: &Tensor| g.forward(v, bn).mse_loss(x, Reduction::Sum);
                    pgd.maximise(&objective, x, None, &mut |_| {})?
                }
                _ => {
                    return Err(NodeError::Failed(
                        "without `classifier`, APE-GAN's attack maximises G's reconstruction error, which only `fgsm` and `pgd` can do; name the classifier F the attack sees (`classifier: benign`)".into(),
                    ))
                }
            },
        };
        // D: tell clean clips from G's restorations.
        let restored = g.forward(&adv, true).detach();
        let ld = d_loss(&d.forward(x, true), &d.forward(&restored, true));
        self.opt_d.minimise(&ld)?;
        // G (and F under GAT): `g_steps` updates per D update.
        let (mut loss, mut correct) = (0.0, 0.0);
        let steps = self.g_steps.max(1);
        for k in 0..steps {
            // The batch's loss and accuracy are those of the last G step.
            let last = k + 1 == steps;
            let restored = self.g.forward(&adv, true);
            let mut l = g_loss(&restored, x, &self.d.forward(&restored, true), self.gamma);
            let logits = match (&self.f, &self.opt_f) {
                (Some(f), Some(_)) => {
                    let logits = f.forward(&restored, true);
                    l += attacks::loss(&logits, y);
                    Some(logits)
                }
                (Some(f), None) if last => {
                    let _g = tch::no_grad_guard();
                    Some(f.forward(&restored.detach(), false))
                }
                _ => None,
            };
            if let Some(o) = self.opt_f.as_mut() {
                o.zero_grad();
            }
            self.opt_g.backward(&l)?;
            self.opt_g.step()?;
            if let Some(o) = self.opt_f.as_mut() {
                o.step()?;
            }
            if last {
                loss = l.double_value(&[]);
                correct = logits.map_or(f64::NAN, |lg| {
                    lg.argmax(-1, false)
                        .eq_tensor(y)
                        .sum(Kind::Float)
                        .double_value(&[])
                });
            }
        }
        Ok((loss, correct))
    }

    fn checkpoint(&self) -> Named {
        let mut out = Vec::new();
        let mut nets = vec![("g.", &self.g, &self.opt_g), ("d.", &self.d, &self.opt_d)];
        if let (Some(f), Some(o)) = (&self.f, &self.opt_f) {
            nets.push(("f.", f, o));
        }
        for (p, net, opt) in nets {
            out.extend(
                net.named()
                    .into_iter()
                    .map(|(k, t)| (format!("{p}model.{k}"), t)),
            );
            out.extend(opt.state().into_iter().map(|(k, t)| (format!("{p}{k}"), t)));
            out.push((format!("{p}optim.steps"), Tensor::from_slice(&[opt.steps])));
        }
        out
    }

    fn restore(&mut self, named: &Named) -> NodeResult<()> {
        Self::restore_net(&mut self.g, "g.model.", named)?;
        Self::restore_net(&mut self.d, "d.model.", named)?;
        if self.opt_f.is_some() {
            if let Some(f) = self.f.as_mut() {
                Self::restore_net(f, "f.model.", named)?;
            }
        }
        for (p, opt) in self.optimizers() {
            let mine: Named = named
                .iter()
                .filter_map(|(k, t)| {
                    k.strip_prefix(p)
                        .map(|k| (k.to_string(), t.shallow_clone()))
                })
                .collect();
            let steps = mine
                .iter()
                .find(|(k, _)| k == "optim.steps")
                .map(|(_, t)| t.int64_value(&[0]))
                .ok_or_else(|| {
                    NodeError::Failed(format!("the checkpoint lacks `{p}optim.steps`"))
                })?;
            opt.restore(&mine, steps)?;
        }
        Ok(())
    }

    fn classify(&self, x: &Tensor, train: bool) -> Option<Tensor> {
        self.f
            .as_ref()
            .map(|f| f.forward(&self.g.forward(x, train), train))
    }

    fn has_classifier(&self) -> bool {
        self.f.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, ModuleT};
    use tch::Device;

    #[test]
    fn the_generator_keeps_the_shape_and_the_range() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let g = Generator::new(&vs.root(), 4);
        for (t, s) in [(8, 32), (5, 17), (16, 24), (1, 8)] {
            let x = Tensor::rand([2, 3, t, s, s + 3], (Kind::Float, Device::Cpu));
            for train in [true, false] {
                let y = g.forward_t(&x, train);
                assert_eq!(y.size(), x.size(), "T={t} size={s}");
                assert!(y.min().double_value(&[]) >= 0.0 && y.max().double_value(&[]) <= 1.0);
            }
        }
    }

    #[test]
    fn the_discriminator_takes_any_clip_shape() {
        tch::manual_seed(0);
        for shape in [[8, 32, 32], [4, 16, 16], [16, 112, 112], [3, 9, 13]] {
            let vs = nn::VarStore::new(Device::Cpu);
            let d = Discriminator::new(&vs.root(), 4, shape);
            let x = Tensor::rand(
                [2, 3, shape[0], shape[1], shape[2]],
                (Kind::Float, Device::Cpu),
            );
            assert_eq!(d.forward_t(&x, true).size(), [2], "{shape:?}");
        }
    }

    #[test]
    fn the_losses_equal_a_hand_computation() {
        let s = |v: f64| 1.0 / (1.0 + (-v).exp());
        let real = Tensor::from_slice(&[0.0f32, 2.0]);
        let fake = Tensor::from_slice(&[-1.0f32, 0.5]);
        // D: −½[ln σ(0) + ln σ(2)] − ½[ln(1 − σ(−1)) + ln(1 − σ(0.5))].
        let want_d =
            -0.5 * (s(0.0).ln() + s(2.0).ln()) - 0.5 * ((1.0 - s(-1.0)).ln() + (1.0 - s(0.5)).ln());
        let got_d = d_loss(&real, &fake).double_value(&[]);
        assert!((got_d - want_d).abs() < 1e-6, "{got_d} vs {want_d}");
        // G: γ₁·(1/(TWH))·Σ(r − x)² per clip, averaged over the batch, +
        // γ₂·(−½[ln σ(−1) + ln σ(0.5)]). Two clips of 3×1×1×2 (T = H = 1, W = 2).
        let x = Tensor::from_slice(&[
            0.0f32, 0.5, 1.0, 0.25, 0.0, 0.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5,
        ])
        .reshape([2, 3, 1, 1, 2]);
        let r = Tensor::from_slice(&[
            0.1f32, 0.5, 0.7, 0.25, 0.0, 0.0, 1.0, 0.8, 0.5, 0.5, 0.5, 0.9,
        ])
        .reshape([2, 3, 1, 1, 2]);
        // Clip 1: (0.01 + 0.09) / 2 pixels; clip 2: (0.04 + 0.16) / 2.
        let mse = (0.1 / 2.0 + 0.2 / 2.0) / 2.0;
        let want_g = 0.7 * mse + 0.3 * (-0.5 * (s(-1.0).ln() + s(0.5).ln()));
        let got_g = g_loss(&r, &x, &fake, [0.7, 0.3]).double_value(&[]);
        assert!((got_g - want_g).abs() < 1e-6, "{got_g} vs {want_g}");
    }

    fn net(arch: crate::runtime::models::Arch) -> Net {
        Net::build(
            &crate::runtime::models::ModelSpec {
                arch,
                classes: 4,
                pretrained: None,
            },
            Device::Cpu,
        )
        .unwrap()
    }

    fn snapshot(n: &Net) -> Vec<(String, Tensor)> {
        n.named().into_iter().map(|(k, t)| (k, t.copy())).collect()
    }

    fn same(a: &[(String, Tensor)], b: &Net) -> bool {
        a.iter().zip(b.named()).all(|((_, x), (_, y))| x.equal(&y))
    }

    fn batch() -> (Tensor, Tensor) {
        let x = Tensor::rand([4, 3, 4, 8, 8], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        (x, y)
    }

    #[test]
    fn a_frozen_generator_is_bit_identical_after_ape_plus_at() {
        use crate::runtime::attacks::Pgd;
        use crate::runtime::defenses::Defense;
        use crate::runtime::models::Arch;
        use crate::runtime::train::{Classifier, Learner};
        tch::manual_seed(1);
        let mut g = net(Arch::ApeGenerator {
            width: 2,
            residual: false,
        });
        g.vs.freeze();
        let before = snapshot(&g);
        let mut f = net(Arch::C3dSmall { width: 2 });
        let f_before = snapshot(&f);
        let mut learner = Classifier::new(
            &mut f,
            vec![Defense::Generator(std::rc::Rc::new(g))],
            GanLearner::gan_rule(),
            0.01,
        );
        let pgd = Attack::Pgd(Pgd {
            norm: crate::runtime::attacks::Norm::Inf,
            eps: 8.0,
            alpha: 2.0,
            steps: 2,
            random_start: false,
        });
        for _ in 0..3 {
            let (x, y) = batch();
            learner.step(&x, &y, Some((&pgd, false))).unwrap();
        }
        let Defense::Generator(g) = &learner.pre[0] else {
            unreachable!()
        };
        assert!(same(&before, g), "G changed under APE + AT");
        assert!(!same(&f_before, learner.net), "F did not train");
    }

    #[test]
    fn gat_changes_all_three_networks_and_ape_gan_leaves_f_alone() {
        use crate::runtime::attacks::Pgd;
        use crate::runtime::models::Arch;
        let pgd = Attack::Pgd(Pgd {
            norm: crate::runtime::attacks::Norm::Inf,
            eps: 8.0,
            alpha: 4.0,
            steps: 2,
            random_start: false,
        });
        for gat in [true, false] {
            tch::manual_seed(2);
            let g = net(Arch::ApeGenerator {
                width: 2,
                residual: false,
            });
            let d = net(Arch::ApeDiscriminator {
                width: 2,
                shape: [4, 8, 8],
            });
            let f = net(Arch::C3dSmall { width: 2 });
            let (gb, db, fb) = (snapshot(&g), snapshot(&d), snapshot(&f));
            let rule = GanLearner::gan_rule();
            let mut l = GanLearner {
                opt_g: Optimizer::new(rule.clone(), 2e-4, g.trainable()),
                opt_d: Optimizer::new(rule.clone(), 2e-4, d.trainable()),
                opt_f: gat.then(|| Optimizer::new(rule.clone(), 0.01, f.trainable())),
                g,
                d,
                f: Some(f),
                gamma: [0.7, 0.3],
                g_steps: 2,
            };
            let (x, y) = batch();
            let (loss, correct) = l.step(&x, &y, Some((&pgd, false))).unwrap();
            assert!(loss.is_finite() && (0.0..=4.0).contains(&correct));
            assert!(!same(&gb, &l.g) && !same(&db, &l.d), "G and D train");
            assert_eq!(
                !same(&fb, l.f.as_ref().unwrap()),
                gat,
                "F trains under GAT only"
            );
            // Two G steps per D step.
            assert_eq!((l.opt_g.steps, l.opt_d.steps), (2, 1));
        }
    }

    #[test]
    fn without_a_classifier_the_attack_raises_the_reconstruction_error() {
        use crate::runtime::attacks::Pgd;
        use crate::runtime::models::Arch;
        tch::manual_seed(3);
        let g = net(Arch::ApeGenerator {
            width: 2,
            residual: false,
        });
        let (x, _) = batch();
        let err = |v: &Tensor| {
            let _n = tch::no_grad_guard();
            g.forward(v, false)
                .mse_loss(&x, Reduction::Sum)
                .double_value(&[])
        };
        let pgd = Pgd {
            norm: crate::runtime::attacks::Norm::Inf,
            eps: 8.0,
            alpha: 2.0,
            steps: 4,
            random_start: false,
        };
        let adv = pgd
            .maximise(
                &|v: &Tensor| g.forward(v, false).mse_loss(&x, Reduction::Sum),
                &x,
                None,
                &mut |_| {},
            )
            .unwrap();
        assert!(err(&adv) > err(&x));
        assert!((&adv - &x).abs().max().double_value(&[]) <= 8.0 / 255.0 + 1e-6);
    }
}
