//! SGD and Adam with their state in plain tensors, so a checkpoint holds the
//! whole optimizer and a resumed run continues bit for bit. The update rules
//! are PyTorch's (`torch.optim.SGD` with dampening 0, `torch.optim.Adam` with
//! L2 weight decay added to the gradient).

use crate::runtime::precision::LossScale;
use tch::Tensor;

#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    Sgd {
        momentum: f64,
        weight_decay: f64,
        nesterov: bool,
    },
    Adam {
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    },
}

pub struct Optimizer {
    pub rule: Rule,
    pub lr: f64,
    params: Vec<(String, Tensor)>,
    /// Momentum buffers (SGD) or first moments (Adam).
    first: Vec<Tensor>,
    /// Second moments (Adam).
    second: Vec<Tensor>,
    /// Steps taken so far.
    pub steps: i64,
    /// fp16's loss scale; `None` in fp32 and bf16.
    pub scale: Option<LossScale>,
}

impl Optimizer {
    pub fn new(rule: Rule, lr: f64, params: Vec<(String, Tensor)>) -> Self {
        let first = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let second = match rule {
            Rule::Adam { .. } => params.iter().map(|(_, p)| p.zeros_like()).collect(),
            Rule::Sgd { .. } => Vec::new(),
        };
        Optimizer {
            rule,
            lr,
            params,
            first,
            second,
            steps: 0,
            scale: None,
        }
    }

    /// The same optimizer with fp16's dynamic loss scaling.
    pub fn scaled(mut self, on: bool) -> Self {
        self.scale = on.then(LossScale::default);
        self
    }

    /// Gradients of `loss` (scaled under fp16), from zero.
    pub fn backward(&mut self, loss: &Tensor) -> crate::runtime::error::NodeResult<()> {
        self.zero_grad();
        if !loss.requires_grad() {
            // A backward pass through a tensor without a gradient function
            // is an error inside libtorch: stop the step with the cause.
            return Err(crate::runtime::error::NoGradient {
                of: "the parameters",
            }
            .into());
        }
        // One rank of several: its share of the batch (its gradients and
        // the others' sum to the whole batch's mean gradient).
        let weight = crate::runtime::dist::loss_weight();
        match &self.scale {
            Some(s) => (loss * (s.scale * weight)).backward(),
            None if weight != 1.0 => (loss * weight).backward(),
            None => loss.backward(),
        }
        Ok(())
    }

    /// The step after [`Optimizer::backward`]: under fp16 the gradients are
    /// unscaled first and the step is skipped when one is not finite. Whether
    /// it stepped.
    pub fn finish(&mut self) -> crate::runtime::error::NodeResult<bool> {
        self.sum_gradients()?;
        if let Some(s) = &mut self.scale {
            if !s.unscale(&self.params) {
                return Ok(false);
            }
        }
        self.apply();
        Ok(true)
    }

    /// On one rank of several, the gradients summed over the ranks (every
    /// rank then takes the same step).
    fn sum_gradients(&self) -> crate::runtime::error::NodeResult<()> {
        Ok(crate::runtime::dist::sum_gradients(
            self.params.iter().map(|(_, p)| p),
        )?)
    }

    /// [`Optimizer::backward`] then [`Optimizer::finish`].
    pub fn minimise(&mut self, loss: &Tensor) -> crate::runtime::error::NodeResult<bool> {
        self.backward(loss)?;
        self.finish()
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update from the gradients there are (summed over the ranks first
    /// when there are several).
    pub fn step(&mut self) -> crate::runtime::error::NodeResult<()> {
        self.sum_gradients()?;
        self.apply();
        Ok(())
    }

    fn apply(&mut self) {
        let _g = tch::no_grad_guard();
        let t = self.steps + 1;
        for (i, (_, p)) in self.params.iter().enumerate() {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            match self.rule {
                Rule::Sgd {
                    momentum,
                    weight_decay,
                    nesterov,
                } => {
                    let mut d = if weight_decay != 0.0 {
                        &g + p * weight_decay
                    } else {
                        g.shallow_clone()
                    };
                    if momentum != 0.0 {
                        let buf = &mut self.first[i];
                        if self.steps == 0 {
                            buf.copy_(&d);
                        } else {
                            let _ = buf.g_mul_scalar_(momentum).g_add_(&d);
                        }
                        d = if nesterov {
                            d + &*buf * momentum
                        } else {
                            buf.shallow_clone()
                        };
                    }
                    let _ = p.shallow_clone().g_sub_(&(d * self.lr));
                }
                Rule::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                } => {
                    let g = if weight_decay != 0.0 {
                        &g + p * weight_decay
                    } else {
                        g
                    };
                    let m = &mut self.first[i];
                    let _ = m.g_mul_scalar_(beta1).g_add_(&(&g * (1.0 - beta1)));
                    let v = &mut self.second[i];
                    let _ = v.g_mul_scalar_(beta2).g_add_(&(&g * &g * (1.0 - beta2)));
                    let bc1 = 1.0 - beta1.powi(t as i32);
                    let bc2 = 1.0 - beta2.powi(t as i32);
                    let denom = v.sqrt() / bc2.sqrt() + eps;
                    let _ = p
                        .shallow_clone()
                        .g_sub_(&(&self.first[i] / denom * (self.lr / bc1)));
                }
            }
        }
        self.steps = t;
    }

    /// The state as named tensors for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, (n, _)) in self.params.iter().enumerate() {
            out.push((format!("optim.first.{n}"), self.first[i].shallow_clone()));
            if let Some(s) = self.second.get(i) {
                out.push((format!("optim.second.{n}"), s.shallow_clone()));
            }
        }
        if let Some(s) = &self.scale {
            out.push((
                "optim.loss_scale".into(),
                Tensor::from_slice(&[s.scale, s.good as f64]),
            ));
        }
        out
    }

    /// Restores the state written by [`Optimizer::state`].
    pub fn restore(
        &mut self,
        named: &[(String, Tensor)],
        steps: i64,
    ) -> crate::runtime::error::NodeResult<()> {
        let _g = tch::no_grad_guard();
        let find = |key: String| {
            named
                .iter()
                .find(|(n, _)| *n == key)
                .map(|(_, t)| t)
                .ok_or_else(|| {
                    crate::runtime::error::NodeError::Failed(format!(
                        "the checkpoint lacks `{key}`"
                    ))
                })
        };
        for (i, (n, _)) in self.params.iter().enumerate() {
            self.first[i].copy_(find(format!("optim.first.{n}"))?);
            if i < self.second.len() {
                self.second[i].copy_(find(format!("optim.second.{n}"))?);
            }
        }
        if let Some(s) = &mut self.scale {
            let t = find("optim.loss_scale".into())?;
            *s = LossScale {
                scale: t.double_value(&[0]),
                good: t.double_value(&[1]) as i64,
            };
        }
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    /// Hand-computed PyTorch SGD with momentum 0.9, nesterov off, wd 0.1 on f(p) = p²/2 (grad p).
    #[test]
    fn sgd_matches_the_pytorch_recurrence() {
        let p = Tensor::from_slice(&[1.0f64]).set_requires_grad(true);
        let mut o = Optimizer::new(
            Rule::Sgd {
                momentum: 0.9,
                weight_decay: 0.1,
                nesterov: false,
            },
            0.5,
            vec![("p".into(), p.shallow_clone())],
        );
        let (mut want, mut buf) = (1.0f64, 0.0f64);
        for k in 0..3 {
            o.zero_grad();
            let l = (&p * &p).sum(Kind::Double) * 0.5;
            l.backward();
            o.step().unwrap();
            let d = want + 0.1 * want;
            buf = if k == 0 { d } else { 0.9 * buf + d };
            want -= 0.5 * buf;
            assert!((p.double_value(&[0]) - want).abs() < 1e-12);
        }
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // With bias correction, Adam's first step is lr·sign(g) (up to eps).
        let p = Tensor::from_slice(&[2.0f64, -3.0]).set_requires_grad(true);
        let mut o = Optimizer::new(
            Rule::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
            },
            0.1,
            vec![("p".into(), p.shallow_clone())],
        );
        (&p * &p).sum(Kind::Double).backward();
        o.step().unwrap();
        assert!((p.double_value(&[0]) - 1.9).abs() < 1e-6);
        assert!((p.double_value(&[1]) + 2.9).abs() < 1e-6);
    }

    #[test]
    fn a_scaled_step_equals_the_plain_one_and_its_scale_is_checkpointed() {
        let sgd = Rule::Sgd {
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: false,
        };
        let (a, b) = (
            Tensor::from_slice(&[1.5f32, -2.0]).set_requires_grad(true),
            Tensor::from_slice(&[1.5f32, -2.0]).set_requires_grad(true),
        );
        let mut plain = Optimizer::new(sgd.clone(), 0.1, vec![("p".into(), a.shallow_clone())]);
        let mut scaled =
            Optimizer::new(sgd.clone(), 0.1, vec![("p".into(), b.shallow_clone())]).scaled(true);
        for _ in 0..3 {
            assert!(plain.minimise(&(&a * &a).sum(Kind::Float)).unwrap());
            assert!(scaled.minimise(&(&b * &b).sum(Kind::Float)).unwrap());
        }
        // A power-of-two scale divides out exactly.
        assert_eq!(
            Vec::<f32>::try_from(&a).unwrap(),
            Vec::<f32>::try_from(&b).unwrap()
        );
        // An overflowing loss skips the step and halves the scale.
        let before = Vec::<f32>::try_from(&b).unwrap();
        assert!(!scaled
            .minimise(&(&b * f64::INFINITY).sum(Kind::Float))
            .unwrap());
        assert_eq!(Vec::<f32>::try_from(&b).unwrap(), before);
        assert_eq!(scaled.scale.as_ref().unwrap().scale, 32768.0);
        let mut resumed =
            Optimizer::new(sgd, 0.1, vec![("p".into(), b.shallow_clone())]).scaled(true);
        resumed.restore(&scaled.state(), scaled.steps).unwrap();
        assert_eq!(resumed.scale, scaled.scale);
        assert_eq!(resumed.scale.as_ref().unwrap().good, 0);
    }
}
