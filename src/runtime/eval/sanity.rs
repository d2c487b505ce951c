//! AutoAttack's sanity checks of an evaluation: the flags a table carries
//! when its numbers cannot be trusted.

use crate::results::ClipRecord;
use crate::runtime::data::Clips;
use crate::runtime::rng::mix;
use tch::{Device, Tensor};

/// AutoAttack's sanity checks of an evaluation, for one model: a zero input
/// gradient, a random forward pass, a black-box attack that beats the
/// white-box ones, accuracy not falling to 0 at ε = 255. Each is run on one
/// small batch (the records for the black-box check).
#[allow(clippy::too_many_arguments)]
pub fn sanity(
    label: &str,
    net: &dyn Fn(&Tensor, bool) -> Tensor,
    attacked: &dyn Fn(&Tensor, bool) -> Tensor,
    clips: &Clips,
    records: &[ClipRecord],
    bn_train: bool,
    seed: u64,
    device: Device,
) -> Result<Vec<crate::results::Flag>, String> {
    use crate::results::Flag;
    let mut flags = Vec::new();
    let flag = |check: &str, clips: usize, of: usize, message: String| Flag {
        model: label.to_string(),
        check: check.to_string(),
        clips: clips as u64,
        of: of as u64,
        message,
    };
    let n = clips.len().min(8);
    if n == 0 {
        return Ok(flags);
    }
    let idx: Vec<usize> = (0..n).collect();
    let (x, y) = clips.batch(&idx, 0, device)?;
    // Two clean passes under different seeds.
    let pass = |s: u64| {
        tch::manual_seed(mix(&[seed, s]) as i64);
        let _g = tch::no_grad_guard();
        net(&x, false)
    };
    let (a, b) = (pass(1), pass(2));
    let differ = (&a - &b)
        .abs()
        .reshape([n as i64, -1])
        .amax([1], false)
        .gt(1e-6 * (1.0 + a.abs().max().double_value(&[])));
    let random = Vec::<bool>::try_from(differ.to_device(Device::Cpu))
        .unwrap_or_default()
        .iter()
        .filter(|d| **d)
        .count();
    if random > 0 {
        flags.push(flag("random_output", random, n, format!(
            "two clean passes of `{label}` give different logits on {random} of {n} clips: the model or a defense is random (dropout left on, a random transform). Attacks then chase noise and robust accuracy is overstated; use EOT (average the gradient over the randomness) or fix the randomness."
        )));
    }
    // The input gradient of the loss, per clip; none at all when the
    // model's output does not reach the input (then every clip is zero).
    tch::manual_seed(mix(&[seed, 3]) as i64);
    let xa = x.detach().set_requires_grad(true);
    let g = crate::runtime::attacks::pgd::gradients(
        &[&crate::runtime::attacks::loss(&attacked(&xa, bn_train), &y)],
        &[&xa],
    )
    .ok()
    .and_then(|mut g| g.pop());
    let zero = match &g {
        Some(g) => Vec::<bool>::try_from(
            g.abs()
                .reshape([n as i64, -1])
                .amax([1], false)
                .eq(0.0)
                .to_device(Device::Cpu),
        )
        .unwrap_or_default()
        .iter()
        .filter(|z| **z)
        .count(),
        None => n,
    };
    if zero > 0 {
        flags.push(flag("zero_gradient", zero, n, format!(
            "the input gradient is exactly zero for {zero} of {n} clips: gradient masking (a non-differentiable step, saturated outputs). White-box numbers are then meaningless; attack through a differentiable approximation (BPDA), the classifier alone (`through: classifier`), or rely on the black-box `square`."
        )));
    }
    // A black-box attack fooled clips the white-box ones left: a member of
    // an ensemble, or a `square` column beside white-box columns at its ε.
    let is_black = |name: &str| name.starts_with("square");
    let mut black: Vec<&ClipRecord> = records
        .iter()
        .filter(|r| r.fooled_by.as_deref().is_some_and(is_black) && r.attack.contains('+'))
        .collect();
    for r in records
        .iter()
        .filter(|r| is_black(&r.attack) && r.fooled && r.fooled_by.as_deref() != Some("clean"))
    {
        let white: Vec<&ClipRecord> = records
            .iter()
            .filter(|o| {
                o.clip == r.clip
                    && o.eps == r.eps
                    && o.attack != "none"
                    && !is_black(&o.attack)
                    && !o.attack.contains('+')
            })
            .collect();
        if !white.is_empty() && white.iter().all(|o| !o.fooled) {
            black.push(r);
        }
    }
    if !black.is_empty() {
        let distinct: std::collections::BTreeSet<u64> = black.iter().map(|r| r.clip).collect();
        flags.push(flag("black_box_stronger", distinct.len(), records.iter().map(|r| r.clip).collect::<std::collections::BTreeSet<_>>().len(), format!(
            "the black-box Square attack fooled {} clip(s) the white-box attacks before it could not: their gradients mislead (gradient masking). Try BPDA, EOT, more steps or restarts, or `through: classifier`.",
            distinct.len()
        )));
    }
    // Logits that are NaN or infinite under attack (the clean ones are
    // refused before): such a clip is counted fooled, never correct.
    let all: std::collections::BTreeSet<u64> = records.iter().map(|r| r.clip).collect();
    let broken: std::collections::BTreeSet<u64> = records
        .iter()
        .filter(|r| r.non_finite)
        .map(|r| r.clip)
        .collect();
    if !broken.is_empty() {
        flags.push(flag("non_finite", broken.len(), all.len(), format!(
            "non-finite logits (NaN or infinite) on {} of {} clips under attack: each such clip is counted fooled, never correct, so the accuracies are what the model gives; check its forward pass on the adversarial clips (`report … adversarial`): an overflow, a division by zero, a log of 0.",
            broken.len(),
            all.len()
        )));
    }
    if g.is_none() {
        // Without a gradient PGD cannot run: the ε = 255 check is left out.
        return Ok(flags);
    }
    // Accuracy must reach 0 at ε = 255: every pixel may be set at will.
    let ok: Vec<usize> = {
        let _g = tch::no_grad_guard();
        let pred = Vec::<i64>::try_from(net(&x, false).argmax(-1, false).to_device(Device::Cpu))
            .unwrap_or_default();
        let labels = Vec::<i64>::try_from(y.to_device(Device::Cpu)).unwrap_or_default();
        (0..n).filter(|&i| pred[i] == labels[i]).collect()
    };
    if !ok.is_empty() {
        let sub: Vec<i64> = ok.iter().map(|&i| i as i64).collect();
        let t = Tensor::from_slice(&sub).to_device(device);
        let (xs, ys) = (x.index_select(0, &t), y.index_select(0, &t));
        tch::manual_seed(mix(&[seed, 4]) as i64);
        let pgd = crate::runtime::attacks::Pgd {
            norm: crate::runtime::attacks::Norm::Inf,
            eps: 255.0,
            alpha: 64.0,
            steps: 10,
            random_start: false,
        };
        let adv = pgd.run(&|v| attacked(v, bn_train), &xs, &ys)?;
        let _g = tch::no_grad_guard();
        let still = Vec::<bool>::try_from(
            net(&adv, false)
                .argmax(-1, false)
                .eq_tensor(&ys)
                .to_device(Device::Cpu),
        )
        .unwrap_or_default()
        .iter()
        .filter(|s| **s)
        .count();
        if still > 0 {
            flags.push(flag("not_zero_at_255", still, ok.len(), format!(
                "PGD at ε = 255 (any pixel value allowed) leaves {still} of {} clips classified correctly: the attack does not reach the model (masked or obfuscated gradients, a broken attack). Try BPDA, EOT or `through: classifier`; the numbers at small ε are not trustworthy.",
                ok.len()
            )));
        }
    }
    Ok(flags)
}
