//! Attacks run in turn, each on the clips the earlier ones left robust; a
//! clip counts fooled if any of them fooled it (AutoAttack's worst case).

use super::{pgd, Attack, AttackKind, FooledAt, Found, Victim};
use crate::runtime::error::NodeResult;
use tch::Tensor;

/// Attacks in turn, each member with its name in the records.
#[derive(Clone, Debug, PartialEq)]
pub struct Ensemble {
    pub members: Vec<(String, Attack)>,
}

impl AttackKind for Ensemble {
    fn describe(&self) -> String {
        format!(
            "worst case per clip over {}",
            self.members
                .iter()
                .map(|(n, a)| format!("`{n}` ({})", a.describe()))
                .collect::<Vec<_>>()
                .join(", then ")
        )
    }
    /// The first member's.
    fn eps(&self) -> f64 {
        self.members.first().map_or(0.0, |(_, a)| a.eps())
    }
    fn alpha(&self) -> f64 {
        0.0
    }
    fn steps(&self) -> usize {
        self.members.iter().map(|(_, a)| a.steps()).sum()
    }
    fn at_budget(&self, eps: f64, alpha: Option<f64>) -> Ensemble {
        Ensemble {
            members: self
                .members
                .iter()
                .map(|(n, a)| (n.clone(), a.at_budget(eps, alpha)))
                .collect(),
        }
    }
    fn uses_gradient(&self) -> bool {
        self.members.iter().any(|(_, a)| a.uses_gradient())
    }
    fn run(&self, f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, y: &Tensor) -> NodeResult<Tensor> {
        Ok(self.on_batch(Victim::of(f), x, y, false)?.adv)
    }
    fn run_until_fooled(&self, v: Victim, x: &Tensor, y: &Tensor) -> NodeResult<Found> {
        self.on_batch(v, x, y, true)
    }
    fn run_independent(&self, v: Victim, x: &Tensor, y: &Tensor) -> NodeResult<Found> {
        self.on_batch(v, x, y, false)
    }
}

impl Ensemble {
    /// The ensemble on a batch: members in turn, each on the clips no earlier
    /// member fooled (`worst_case`) or on every clip (`independent`, final
    /// iterates); a clip keeps the first fooling member's clip and step.
    fn on_batch(&self, v: Victim, x: &Tensor, y: &Tensor, worst_case: bool) -> NodeResult<Found> {
        let (f, judge) = (v.f, v.judge);
        let n = x.size()[0] as usize;
        let classify = |v: &Tensor, labels: &Tensor| -> Vec<bool> {
            let _g = tch::no_grad_guard();
            let z = match judge {
                Some(j) => j(v),
                None => f(v),
            };
            Vec::<bool>::try_from(
                z.argmax(-1, false)
                    .ne_tensor(labels)
                    .to_device(tch::Device::Cpu),
            )
            .unwrap_or_default()
        };
        let mut adv = x.detach().copy();
        let mut steps: FooledAt = vec![None; n];
        let mut by: Vec<Option<String>> = vec![None; n];
        let mut spent = 0;
        let mut first = true;
        for (name, a) in &self.members {
            let Some(pgd::Rows {
                at: todo,
                x: xs,
                y: ys,
                ..
            }) = pgd::rows_where(x, y, |i| !worst_case || by[i].is_none())
            else {
                break;
            };
            let found = if worst_case {
                a.run_until_fooled(v, &xs, &ys)?
            } else {
                a.run_independent(v, &xs, &ys)?
            };
            let wrong = classify(&found.adv, &ys);
            let (mut at, mut from) = (Vec::new(), Vec::new());
            for (j, &i) in todo.iter().enumerate() {
                let fooled = wrong.get(j).copied().unwrap_or(false);
                if by[i as usize].is_none() && (fooled || first) {
                    at.push(i);
                    from.push(j as i64);
                }
                let i = i as usize;
                if fooled && by[i].is_none() {
                    let member = found.by.as_ref().and_then(|b| b[j].clone());
                    by[i] = Some(member.unwrap_or_else(|| name.clone()));
                    let s = found.steps.as_ref().and_then(|s| s[j]).unwrap_or(a.steps());
                    steps[i] = Some(spent + s);
                }
            }
            adv = pgd::put_rows(&adv, &at, &found.adv, &from);
            first = false;
            spent += a.steps();
        }
        Ok(Found {
            adv,
            steps: Some(steps),
            by: Some(by),
        })
    }
}
