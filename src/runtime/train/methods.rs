//! The cheaper and the regularised adversarial trainings: FGSM with a random
//! start (Wong, Rice & Kolter 2020), free AT (Shafahi et al. 2019), and the
//! TRADES (Zhang et al. 2019) and MART (Wang et al. 2020) losses, written as
//! their public implementations compute them.

use crate::runtime::attacks::pgd::{objective_grad, project};
use crate::runtime::attacks::{Norm, Pgd};
use crate::runtime::error::{stop_requested, NodeResult};
use tch::{Kind, Tensor};

/// Wong et al.'s step: α = 1.25 ε.
pub const FGSM_RS_STEP: f64 = 1.25;
/// The guard against catastrophic overfitting: training stops, and the best
/// epoch's weights come back, when the held-out PGD accuracy falls this far
/// below its best (Wong et al. stop on a 20-point drop).
pub const GUARD_DROP: f64 = 0.2;

/// FGSM with a random start at budget ε (0..255 units): δ uniform in the
/// ball, one signed step of 1.25 ε, projected on the ball and the image.
pub fn fgsm_rs(eps: f64) -> Pgd {
    Pgd {
        norm: Norm::Inf,
        eps,
        alpha: FGSM_RS_STEP * eps,
        steps: 1,
        random_start: true,
    }
}

/// KL(p ‖ q) per row, p and q given as log-probabilities (`KLDivLoss`
/// with `reduction='none'`, summed over classes).
fn kl_rows(log_p: &Tensor, log_q: &Tensor) -> Tensor {
    (log_p.exp() * (log_p - log_q)).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float)
}

/// TRADES' inner maximisation: x′ from x + 0.001·N(0, 1), `pgd.steps` signed
/// steps of `pgd.alpha` on KL(f(x) ‖ f(x′)), projected on the L∞ ball around x
/// and the image (Zhang et al.'s `trades_loss`, `distance='l_inf'`).
pub fn trades_attack(f: &dyn Fn(&Tensor) -> Tensor, x: &Tensor, pgd: &Pgd) -> NodeResult<Tensor> {
    let (eps, alpha) = (pgd.eps / 255.0, pgd.alpha / 255.0);
    let x = x.detach();
    let log_nat = {
        let _g = tch::no_grad_guard();
        f(&x).log_softmax(-1, Kind::Float)
    };
    let mut adv = {
        let _g = tch::no_grad_guard();
        &x + crate::runtime::dist::randn_like(&x) * 0.001
    };
    for _ in 0..pgd.steps {
        stop_requested()?;
        let g = objective_grad(
            &|v| kl_rows(&log_nat, &f(v).log_softmax(-1, Kind::Float)).sum(Kind::Float),
            &adv,
        )?;
        let _g = tch::no_grad_guard();
        let step = &adv + g.sign() * alpha;
        adv = (&x + project(&(step - &x), Norm::Inf, eps)).clamp(0.0, 1.0);
    }
    Ok(adv.detach())
}

/// TRADES: CE(f(x), y) + β · mean KL(f(x) ‖ f(x′)).
pub fn trades_loss(nat: &Tensor, adv: &Tensor, y: &Tensor, beta: f64) -> Tensor {
    let ce = nat.cross_entropy_for_logits(y);
    let robust = kl_rows(
        &nat.log_softmax(-1, Kind::Float),
        &adv.log_softmax(-1, Kind::Float),
    )
    .mean(Kind::Float);
    ce + robust * beta
}

/// MART: the boosted CE on x′ (CE plus −log(1 − the best wrong class's
/// probability)) + β · mean[KL(f(x) ‖ f(x′)) · (1 − f_y(x))], with the
/// reference code's guards (1.0001 − p, + 1e-12, 1.0000001 − p_y).
pub fn mart_loss(nat: &Tensor, adv: &Tensor, y: &Tensor, beta: f64) -> Tensor {
    let adv_p = adv.softmax(-1, Kind::Float);
    // The most likely wrong class under attack.
    let top2 = adv_p.argsort(-1, false).narrow(-1, adv_p.size()[1] - 2, 2);
    let (second, first) = (top2.select(-1, 0), top2.select(-1, 1));
    let wrong = second.where_self(&first.eq_tensor(y), &first);
    let boosted =
        adv.cross_entropy_for_logits(y) + (adv_p.neg() + 1.0001 + 1e-12).log().nll_loss(&wrong);
    let nat_p = nat.softmax(-1, Kind::Float);
    let true_p = nat_p.gather(1, &y.unsqueeze(1), false).squeeze_dim(1);
    let kl = (&nat_p * (nat_p.log() - (&adv_p + 1e-12).log())).sum_dim_intlist(
        [-1i64].as_slice(),
        false,
        Kind::Float,
    );
    let robust = (kl * (true_p.neg() + 1.000_000_1)).mean(Kind::Float);
    boosted + robust * beta
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: &[&[f64]]) -> Tensor {
        let n = rows.len() as i64;
        let flat: Vec<f32> = rows
            .iter()
            .flat_map(|r| r.iter().map(|&v| v as f32))
            .collect();
        Tensor::from_slice(&flat).reshape([n, -1])
    }

    fn softmax(z: &[f64]) -> Vec<f64> {
        let m = z.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    const NAT: [&[f64]; 2] = [&[2.0, 0.5, -1.0], &[0.1, 0.2, 1.5]];
    const ADV: [&[f64]; 2] = [&[0.3, 1.2, -0.4], &[1.0, -0.5, 0.9]];
    const Y: [i64; 2] = [0, 2];

    #[test]
    fn trades_loss_is_clean_ce_plus_beta_kl() {
        // By hand in f64: CE on the clean logits, KL(p_nat ‖ p_adv) per row.
        let mut ce = 0.0;
        let mut kl = 0.0;
        for i in 0..2 {
            let (p, q) = (softmax(NAT[i]), softmax(ADV[i]));
            ce -= p[Y[i] as usize].ln();
            kl += p.iter().zip(&q).map(|(a, b)| a * (a / b).ln()).sum::<f64>();
        }
        let want = ce / 2.0 + 6.0 * kl / 2.0;
        let got = trades_loss(&t(&NAT), &t(&ADV), &Tensor::from_slice(&Y), 6.0).double_value(&[]);
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn mart_loss_is_the_reference_formula() {
        let mut total = 0.0;
        for i in 0..2 {
            let (p, q) = (softmax(NAT[i]), softmax(ADV[i]));
            let y = Y[i] as usize;
            // The best wrong class under attack.
            let wrong = (0..3)
                .filter(|&k| k != y)
                .max_by(|&a, &b| q[a].total_cmp(&q[b]))
                .unwrap();
            let boosted = -q[y].ln() - (1.0001 - q[wrong] + 1e-12).ln();
            let kl: f64 = p
                .iter()
                .zip(&q)
                .map(|(a, b)| a * (a.ln() - (b + 1e-12).ln()))
                .sum();
            total += boosted + 5.0 * kl * (1.000_000_1 - p[y]);
        }
        let want = total / 2.0;
        let got = mart_loss(&t(&NAT), &t(&ADV), &Tensor::from_slice(&Y), 5.0).double_value(&[]);
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn fgsm_rs_is_one_step_of_one_and_a_quarter_eps_from_a_uniform_start() {
        // Two seeded runs compared: alone, no other test draws in between.
        if !crate::runtime::alone::in_child(
            "runtime::train::methods::tests::fgsm_rs_is_one_step_of_one_and_a_quarter_eps_from_a_uniform_start",
        ) {
            return;
        }
        // A linear model f(x) = W·x: ∇ₓ CE = Wᵀ(softmax(Wx) − e_y), so the
        // step's sign is known in closed form.
        let w = Tensor::from_slice(&[1.0f32, -2.0, 0.5, 3.0, 0.0, -1.0]).reshape([2, 3]);
        let f = |v: &Tensor| v.reshape([-1, 3]).matmul(&w.tr());
        let x = Tensor::from_slice(&[0.5f32, 0.5, 0.5]).reshape([1, 3]);
        let y = Tensor::from_slice(&[0i64]);
        let eps = 8.0;
        tch::manual_seed(3);
        let adv = fgsm_rs(eps).run_with(&f, &x, &y, &mut |_| {}).unwrap();
        tch::manual_seed(3);
        let start = (x.rand_like() * (2.0 * eps / 255.0) - eps / 255.0 + &x).clamp(0.0, 1.0);
        let p = f(&start).softmax(-1, Kind::Float);
        let g = (p - Tensor::from_slice(&[1.0f32, 0.0]).reshape([1, 2])).matmul(&w);
        let want =
            (&start + g.sign() * (1.25 * eps / 255.0) - &x).clamp(-eps / 255.0, eps / 255.0) + &x;
        let diff = (adv - want.clamp(0.0, 1.0)).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "{diff}");
    }

    #[test]
    fn the_trades_attack_raises_the_kl_and_stays_in_the_ball() {
        let w = Tensor::from_slice(&[1.0f32, -2.0, 0.5, 3.0, 0.0, -1.0, 0.2, 0.4, -0.3])
            .reshape([3, 3]);
        let f = |v: &Tensor| v.reshape([-1, 3]).matmul(&w.tr());
        let x = Tensor::from_slice(&[0.2f32, 0.7, 0.4, 0.9, 0.1, 0.5]).reshape([2, 3]);
        let pgd = Pgd {
            norm: Norm::Inf,
            eps: 16.0,
            alpha: 4.0,
            steps: 10,
            random_start: false,
        };
        tch::manual_seed(0);
        let adv = trades_attack(&f, &x, &pgd).unwrap();
        let d = (&adv - &x).abs().max().double_value(&[]);
        assert!(d <= 16.0 / 255.0 + 1e-6, "{d}");
        let kl = |v: &Tensor| {
            kl_rows(
                &f(&x).log_softmax(-1, Kind::Float),
                &f(v).log_softmax(-1, Kind::Float),
            )
            .sum(Kind::Float)
            .double_value(&[])
        };
        assert!(
            kl(&adv) > 1e-3,
            "the attack moved the prediction: {}",
            kl(&adv)
        );
    }
}
