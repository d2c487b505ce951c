//! Results over several seeds: the table of every seed's evaluation as one
//! (each cell the mean over seeds with its interval, each seed's value kept),
//! and the paired test of a `compare` claim on the per-clip records.
//! [`stats`](super::stats) says which intervals and tests, and why.

use super::stats;
use super::{ClipRecord, EvalResult, Norms, Row};
use crate::language::program::Claim;
use serde::{Deserialize, Serialize};

/// One seed's value of a cell, kept beside the mean.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeedCell {
    pub seed: u64,
    pub accuracy: f64,
    pub correct: u64,
    pub n: u64,
}

/// The evaluations of one node under each seed (`results[k]` under
/// `seeds[k]`), as one: every cell is the mean over the seeds with the
/// interval of [`stats`]; `per_seed`, `n_seeds` and `n_clips` say what it
/// rests on. The other fields are the first seed's.
pub fn combine(seeds: &[u64], results: &[EvalResult]) -> EvalResult {
    let mut out = results[0].clone();
    out.seeds = seeds.to_vec();
    // Training time: the mean over the seeds.
    for (m, secs) in out.train_seconds.iter_mut() {
        let all: Vec<f64> = results
            .iter()
            .filter_map(|r| r.train_seconds.get(m).copied())
            .collect();
        *secs = all.iter().sum::<f64>() / all.len().max(1) as f64;
    }
    for row in &mut out.rows {
        let same: Vec<(u64, &Row)> = seeds
            .iter()
            .zip(results)
            .filter_map(|(&s, r)| {
                r.rows
                    .iter()
                    .find(|o| o.model == row.model && o.attack == row.attack && o.eps == row.eps)
                    .map(|o| (s, o))
            })
            .collect();
        *row = combine_rows(&same);
    }
    // Flags and mixed machines of any seed are worth a reader's eye.
    for (s, r) in seeds.iter().zip(results).skip(1) {
        if let (Some(first), Some(here)) = (&results[0].machine, &r.machine) {
            if here.differs(first) {
                out.trained_on
                    .insert(format!("{REPLICATE}{s}"), here.clone());
            }
        }
        for f in &r.flags {
            if !out.flags.contains(f) {
                out.flags.push(f.clone());
            }
        }
        for (m, machine) in &r.trained_on {
            out.trained_on
                .entry(m.clone())
                .or_insert_with(|| machine.clone());
        }
    }
    out
}

/// How [`combine`] marks, among `trained_on`, a replicate evaluated on
/// another kind of machine than the first seed's: `seed 2`.
pub const REPLICATE: &str = "seed ";

/// One cell over seeds.
fn combine_rows(same: &[(u64, &Row)]) -> Row {
    let first = same[0].1;
    let k = same.len() as f64;
    let accs: Vec<f64> = same.iter().map(|(_, r)| r.accuracy).collect();
    let (mean, t_lo, t_hi) = stats::mean_t_interval(&accs);
    let n_clips = first.n;
    // Never narrower than n clips can measure: Wilson's at the mean (over
    // the fewest effective clips of any seed where clips share videos).
    let n_effective = same
        .iter()
        .filter_map(|(_, r)| r.n_effective)
        .reduce(f64::min);
    let (w_lo, w_hi) = match n_effective {
        Some(n_eff) => stats::wilson_real(mean * n_eff, n_eff, stats::Z95),
        None => {
            let k_mean = (mean * n_clips as f64).round() as u64;
            stats::wilson(k_mean.min(n_clips), n_clips, stats::Z95)
        }
    };
    let video: Option<Vec<f64>> = same.iter().map(|(_, r)| r.video_accuracy).collect();
    Row {
        model: first.model.clone(),
        attack: first.attack.clone(),
        eps: first.eps,
        alpha: same.iter().map(|(_, r)| r.alpha).sum::<f64>() / k,
        accuracy: mean,
        correct: same.iter().map(|(_, r)| r.correct).sum(),
        n: same.iter().map(|(_, r)| r.n).sum(),
        video_accuracy: video.map(|v| v.iter().sum::<f64>() / k),
        norms: pooled_norms(same),
        ci_low: Some(t_lo.min(w_lo).max(0.0)),
        ci_high: Some(t_hi.max(w_hi).min(1.0)),
        n_seeds: Some(same.len() as u64),
        n_clips: Some(n_clips),
        setting: first.setting.clone(),
        n_videos: first.n_videos,
        n_effective,
        per_seed: same
            .iter()
            .map(|(s, r)| SeedCell {
                seed: *s,
                accuracy: r.accuracy,
                correct: r.correct,
                n: r.n,
            })
            .collect(),
    }
}

/// The seeds' norms as one set of perturbations: means weighted by how many
/// each seed measured, maxima over all.
fn pooled_norms(same: &[(u64, &Row)]) -> Option<Norms> {
    let all: Vec<&Norms> = same
        .iter()
        .map(|(_, r)| r.norms.as_ref())
        .collect::<Option<_>>()?;
    let fooled: u64 = all.iter().map(|n| n.fooled).sum();
    let mean = |f: fn(&Norms) -> Option<f64>| {
        let parts: Vec<(f64, u64)> = all
            .iter()
            .filter_map(|n| f(n).map(|v| (v, n.fooled)))
            .collect();
        let w: u64 = parts.iter().map(|p| p.1).sum();
        (w > 0).then(|| parts.iter().map(|(v, c)| v * *c as f64).sum::<f64>() / w as f64)
    };
    let max = |f: fn(&Norms) -> Option<f64>| all.iter().filter_map(|n| f(n)).reduce(f64::max);
    Some(Norms {
        fooled,
        linf_mean: mean(|n| n.linf_mean),
        linf_max: max(|n| n.linf_max),
        l2_mean: mean(|n| n.l2_mean),
        l2_max: max(|n| n.l2_max),
    })
}

/// What the data say of a claim.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The difference has the claimed sign and McNemar's test rejects "equal".
    Holds,
    /// The interval of the difference excludes the claimed direction, or the
    /// test finds the opposite.
    DoesNotHold,
    /// Neither: more clips or seeds could tell.
    CannotTell,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
            Verdict::CannotTell => "cannot tell at this size",
        }
    }
}

/// The significance level of a claim's verdict.
pub const ALPHA: f64 = 0.05;
/// Bootstrap resamples of a claim's interval.
pub const RESAMPLES: usize = 10_000;

/// A claim tested: the paired difference of two rows over the same clips
/// and seeds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClaimResult {
    /// As written: `cat_up > cat_down at eps 8`.
    pub claim: String,
    pub a: String,
    pub b: String,
    pub greater: bool,
    /// The column compared.
    pub attack: String,
    pub eps: f64,
    pub seeds: Vec<u64>,
    /// Clips per seed compared (present in both rows).
    pub n_clips: u64,
    /// Accuracies (0..1), mean over seeds.
    pub accuracy_a: f64,
    pub accuracy_b: f64,
    /// `accuracy_a − accuracy_b` and its 95 % paired-bootstrap interval.
    pub difference: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Discordant clips over all seeds: A right and B wrong, and the reverse.
    pub a_only: u64,
    pub b_only: u64,
    /// McNemar's exact two-sided p-value, discordant pairs pooled over seeds
    /// (over videos where clips share them: [`stats::clustered_mcnemar`]).
    pub p_value: f64,
    pub verdict: Verdict,
    /// Where clips share videos: how many videos the clips come from; the
    /// test and the bootstrap are then over videos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_videos: Option<u64>,
}

impl ClaimResult {
    /// One line: `cat_up > cat_down at eps 8: holds (+32.5 points, 95 % CI
    /// [24.0, 41.0], McNemar p = 1.2e-10, 3 seeds × 200 clips)`.
    pub fn line(&self) -> String {
        format!(
            "{}: {} ({:+.1} points, 95 % CI [{:+.1}, {:+.1}], McNemar p = {}, {} seed{} × {} clips{})",
            self.claim,
            self.verdict.text(),
            100.0 * self.difference,
            100.0 * self.ci_low,
            100.0 * self.ci_high,
            p_text(self.p_value),
            self.seeds.len(),
            if self.seeds.len() == 1 { "" } else { "s" },
            self.n_clips,
            match self.n_videos {
                Some(v) => format!(" of {v} videos, tested over videos"),
                None => String::new(),
            }
        )
    }
}

/// A p-value as a reader takes it: 0.032, 4.1e-6.
pub fn p_text(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// A clip's video (if it has one) and its (A right, B right) under each seed.
type ClipOutcomes = (Option<String>, Vec<(bool, bool)>);

/// Tests `claim` on the records of each seed (`records[k]` under
/// `seeds[k]`) in the column `attack` at `eps`. Clips that either row lacks
/// in a seed are left out of that seed. Where clips share videos, the
/// videos are the units: McNemar's test over each seed's videos
/// ([`stats::clustered_mcnemar`]) and the bootstrap resampling videos
/// ([`stats::cluster_bootstrap_mean`]); otherwise the clips, as ever.
pub fn test_claim(
    claim: &Claim,
    attack: &str,
    eps: f64,
    seeds: &[u64],
    records: &[Vec<ClipRecord>],
) -> Result<ClaimResult, String> {
    use std::collections::BTreeMap;
    // Per clip, its video and its (A right, B right) under each seed.
    let mut clips: BTreeMap<u64, ClipOutcomes> = BTreeMap::new();
    // Per seed and video (a clip without one is its own), the discordant clips.
    let mut pairs: BTreeMap<(usize, Option<String>, u64), (u64, u64)> = BTreeMap::new();
    let (mut a_only, mut b_only) = (0u64, 0u64);
    let mut per_seed_clips = Vec::new();
    let (mut acc_a, mut acc_b) = (0.0, 0.0);
    for (s, recs) in records.iter().enumerate() {
        let outcome = |model: &str| -> BTreeMap<u64, (bool, Option<&str>)> {
            recs.iter()
                .filter(|r| r.model == model && r.attack.as_str() == attack && r.eps == eps)
                .map(|r| (r.clip, (!r.fooled, r.video.as_deref())))
                .collect()
        };
        let (ra, rb) = (outcome(&claim.a), outcome(&claim.b));
        let both: Vec<(u64, bool, bool)> = ra
            .iter()
            .filter_map(|(c, &(x, _))| rb.get(c).map(|&(y, _)| (*c, x, y)))
            .collect();
        if both.is_empty() {
            return Err(format!(
                "`{}`: the results have no clips of both `{}` and `{}` under `{attack}` at ε {eps}",
                claim.text, claim.a, claim.b
            ));
        }
        for &(c, x, y) in &both {
            let video = ra[&c].1.map(str::to_string);
            let group = match &video {
                Some(_) => (s, video.clone(), 0),
                None => (s, None, c),
            };
            let pair = pairs.entry(group).or_default();
            pair.0 += u64::from(x && !y);
            pair.1 += u64::from(!x && y);
            let clip = clips.entry(c).or_insert_with(|| (video, Vec::new()));
            clip.1.push((x, y));
            a_only += u64::from(x && !y);
            b_only += u64::from(!x && y);
        }
        let n = both.len() as f64;
        acc_a += both.iter().filter(|t| t.1).count() as f64 / n;
        acc_b += both.iter().filter(|t| t.2).count() as f64 / n;
        per_seed_clips.push(both.len() as u64);
    }
    let k = records.len() as f64;
    let (accuracy_a, accuracy_b) = (acc_a / k, acc_b / k);
    let difference = accuracy_a - accuracy_b;
    // A clip's paired difference, averaged over the seeds it has, summed
    // over each video's clips (videos in the order of their first clip).
    let mut at: BTreeMap<(Option<&str>, u64), usize> = BTreeMap::new();
    let mut videos: Vec<(f64, u64)> = Vec::new();
    for (&c, (video, o)) in &clips {
        let d = o
            .iter()
            .map(|&(x, y)| f64::from(u8::from(x)) - f64::from(u8::from(y)))
            .sum::<f64>()
            / o.len() as f64;
        let key = match video {
            Some(v) => (Some(v.as_str()), 0),
            None => (None, c),
        };
        let v = *at.entry(key).or_insert_with(|| {
            videos.push((0.0, 0));
            videos.len() - 1
        });
        videos[v].0 += d;
        videos[v].1 += 1;
    }
    let clustered = videos.iter().any(|v| v.1 > 1);
    let seed =
        crate::util::rng::mix(&[crate::util::rng::hash_str(&claim.text), seeds.len() as u64]);
    let (ci_low, ci_high) = stats::cluster_bootstrap_mean(&videos, RESAMPLES, seed);
    let p_value = if clustered {
        stats::clustered_mcnemar(&pairs.into_values().collect::<Vec<_>>())
    } else {
        stats::mcnemar_exact(a_only, b_only)
    };
    // The claimed direction: `a > b` wants a positive difference.
    let sign = if claim.greater { 1.0 } else { -1.0 };
    let (d_claimed, upper_claimed) = (
        sign * difference,
        if claim.greater { ci_high } else { -ci_low },
    );
    let verdict = if p_value < ALPHA && d_claimed > 0.0 {
        Verdict::Holds
    } else if upper_claimed <= 0.0 || (p_value < ALPHA && d_claimed < 0.0) {
        Verdict::DoesNotHold
    } else {
        Verdict::CannotTell
    };
    Ok(ClaimResult {
        claim: claim.text.clone(),
        a: claim.a.clone(),
        b: claim.b.clone(),
        greater: claim.greater,
        attack: attack.to_string(),
        eps,
        seeds: seeds.to_vec(),
        n_clips: per_seed_clips.iter().copied().min().unwrap_or(0),
        accuracy_a,
        accuracy_b,
        difference,
        ci_low,
        ci_high,
        a_only,
        b_only,
        p_value,
        verdict,
        n_videos: clustered.then_some(videos.len() as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records of two models on `n` clips: `a[i]`, `b[i]` whether each gets clip i right.
    fn records(a: &[bool], b: &[bool]) -> Vec<ClipRecord> {
        let one = |model: &str, clip: usize, right: bool| ClipRecord {
            seed: None,
            model: model.into(),
            attack: "pgd".into(),
            eps: 8.0,
            clip: clip as u64,
            video: None,
            label: 0,
            clean_pred: 0,
            adv_pred: i64::from(!right),
            fooled: !right,
            fooled_by: (!right).then(|| "pgd".into()),
            step: None,
            margin: 0.0,
            linf: 0.0,
            l2: 0.0,
            l0: 0.0,
            frame_linf: Vec::new(),
            non_finite: false,
        };
        let mut out: Vec<ClipRecord> = a.iter().enumerate().map(|(i, &r)| one("a", i, r)).collect();
        out.extend(b.iter().enumerate().map(|(i, &r)| one("b", i, r)));
        out
    }

    fn claim(greater: bool) -> Claim {
        Claim {
            a: "a".into(),
            greater,
            b: "b".into(),
            eps: Some(8.0),
            attack: None,
            text: format!("a {} b at eps 8", if greater { ">" } else { "<" }),
            file: crate::language::source::FileId(0),
            span: Default::default(),
        }
    }

    #[test]
    fn a_false_claim_does_not_hold_and_a_true_one_holds() {
        // 100 clips: A is right on 30, B on 70 (B's 70 include A's 30).
        let a: Vec<bool> = (0..100).map(|i| i < 30).collect();
        let b: Vec<bool> = (0..100).map(|i| i < 70).collect();
        let recs = vec![records(&a, &b)];
        let r = test_claim(&claim(true), "pgd", 8.0, &[1], &recs).unwrap();
        assert_eq!((r.a_only, r.b_only), (0, 40));
        assert!((r.difference + 0.4).abs() < 1e-12);
        assert_eq!(r.verdict, Verdict::DoesNotHold, "{}", r.line());
        // The claim the other way round holds: 40 discordant clips, all for B.
        let r = test_claim(&claim(false), "pgd", 8.0, &[1], &recs).unwrap();
        assert_eq!(r.verdict, Verdict::Holds, "{}", r.line());
        assert!((r.p_value - 2.0 * 0.5f64.powi(40)).abs() < 1e-20);
        assert!(r.ci_low < -0.3 && r.ci_high < -0.2, "{}", r.line());
    }

    #[test]
    fn a_small_difference_cannot_be_told_and_equal_rows_do_not_hold() {
        // 3 clips for A alone, 2 for B alone: p = 1.
        let a: Vec<bool> = (0..50).map(|i| i < 3 || (10..20).contains(&i)).collect();
        let b: Vec<bool> = (0..50)
            .map(|i| (3..5).contains(&i) || (10..20).contains(&i))
            .collect();
        let r = test_claim(&claim(true), "pgd", 8.0, &[1], &[records(&a, &b)]).unwrap();
        assert_eq!(r.verdict, Verdict::CannotTell, "{}", r.line());
        // Identical outcomes everywhere: no difference is the whole interval.
        let r = test_claim(&claim(true), "pgd", 8.0, &[1], &[records(&a, &a)]).unwrap();
        assert_eq!((r.difference, r.ci_low, r.ci_high), (0.0, 0.0, 0.0));
        assert_eq!(r.verdict, Verdict::DoesNotHold, "{}", r.line());
    }

    #[test]
    fn seeds_pool_their_discordant_clips() {
        // Each seed alone: 4 clips for A, 0 for B (p = 0.125, cannot tell);
        // three seeds together: 12 to 0, p = 2/2¹² (holds).
        let a: Vec<bool> = (0..20).map(|i| i < 4).collect();
        let b = vec![false; 20];
        let one = records(&a, &b);
        let r = test_claim(&claim(true), "pgd", 8.0, &[1], std::slice::from_ref(&one)).unwrap();
        assert_eq!(r.verdict, Verdict::CannotTell, "{}", r.line());
        let r = test_claim(
            &claim(true),
            "pgd",
            8.0,
            &[1, 2, 3],
            &[one.clone(), one.clone(), one],
        )
        .unwrap();
        assert_eq!((r.a_only, r.b_only), (12, 0));
        assert!((r.p_value - 2.0 / 4096.0).abs() < 1e-15);
        assert_eq!(r.verdict, Verdict::Holds, "{}", r.line());
        // Records without the column are an error, not a verdict.
        assert!(test_claim(&claim(true), "pgd", 4.0, &[1], &[records(&a, &b)]).is_err());
    }

    /// Each clip of `recs` copied `k` times as clips of one video, `v<clip>`
    /// (k = 1: every clip its own video, named).
    fn copied(recs: &[ClipRecord], k: u64) -> Vec<ClipRecord> {
        recs.iter()
            .flat_map(|r| {
                (0..k).map(move |j| ClipRecord {
                    clip: r.clip * k + j,
                    video: Some(format!("v{}", r.clip)),
                    ..r.clone()
                })
            })
            .collect()
    }

    #[test]
    fn copies_of_a_clip_are_one_video_in_every_interval_and_test() {
        // 30 clips: A alone right on 5, B alone on 1 (p = 0.219: cannot tell).
        let a: Vec<bool> = (0..30).map(|i| !(5..20).contains(&i)).collect();
        let b: Vec<bool> = (0..30).map(|i| i == 5 || i >= 20).collect();
        let once = records(&a, &b);
        let today =
            test_claim(&claim(true), "pgd", 8.0, &[1], std::slice::from_ref(&once)).unwrap();
        assert_eq!(today.verdict, Verdict::CannotTell, "{}", today.line());
        // Every clip its own (named) video: today's numbers exactly.
        let named = test_claim(&claim(true), "pgd", 8.0, &[1], &[copied(&once, 1)]).unwrap();
        assert_eq!(named, today);
        for k in [3, 10] {
            // Each clip ten times over: the same evidence, the same numbers
            // (counting the copies would give 50 to 10 discordant clips, p = 1.6e-7, "holds").
            let r = test_claim(&claim(true), "pgd", 8.0, &[1], &[copied(&once, k)]).unwrap();
            assert!(
                (r.p_value - today.p_value).abs() < 1e-12,
                "×{k}: {}",
                r.line()
            );
            assert!(
                (r.ci_low - today.ci_low).abs() < 1e-12,
                "×{k}: {}",
                r.line()
            );
            assert!(
                (r.ci_high - today.ci_high).abs() < 1e-12,
                "×{k}: {}",
                r.line()
            );
            assert!((r.difference - today.difference).abs() < 1e-12);
            assert_eq!(r.verdict, today.verdict, "×{k}: {}", r.line());
            assert_eq!((r.n_videos, r.n_clips), (Some(30), 30 * k));
            assert!(r.line().contains("of 30 videos"), "{}", r.line());
            // Over two seeds too (each seed's videos are its units).
            let two = [copied(&once, k), copied(&once, k)];
            let r2 = test_claim(&claim(true), "pgd", 8.0, &[1, 2], &two).unwrap();
            let t2 = test_claim(
                &claim(true),
                "pgd",
                8.0,
                &[1, 2],
                &[once.clone(), once.clone()],
            )
            .unwrap();
            assert!((r2.p_value - t2.p_value).abs() < 1e-12, "{}", r2.line());
            assert!(
                (r2.ci_low - t2.ci_low).abs() < 1e-12 && (r2.ci_high - t2.ci_high).abs() < 1e-12
            );
        }
        // A cell's interval: Wilson's over the 30 clips, copies or not.
        let cell = |recs: &[ClipRecord]| {
            let mine: Vec<ClipRecord> = recs.iter().filter(|r| r.model == "a").cloned().collect();
            let right = mine.iter().filter(|r| !r.fooled).count() as u64;
            Row::counted("a", None, 8.0, 2.0, right, mine.len() as u64)
                .over_videos(&ClipRecord::by_video(&mine))
        };
        let (lo, hi) = stats::wilson(15, 30, stats::Z95);
        assert_eq!(
            (cell(&once).ci_low, cell(&once).ci_high),
            (Some(lo), Some(hi))
        );
        assert_eq!(cell(&copied(&once, 1)), cell(&once));
        let ten = cell(&copied(&once, 10));
        assert!(
            (ten.ci_low.unwrap() - lo).abs() < 1e-12 && (ten.ci_high.unwrap() - hi).abs() < 1e-12
        );
        assert_eq!((ten.n, ten.n_videos), (300, Some(30)));
    }

    #[test]
    fn a_cell_over_seeds_is_the_mean_with_per_seed_values() {
        let row = |acc: f64, correct: u64| Row {
            accuracy: acc,
            ci_low: None,
            ci_high: None,
            ..Row::counted("m", None, 8.0, 2.0, correct, 200)
        };
        let rows = [row(0.60, 120), row(0.70, 140), row(0.65, 130)];
        let same: Vec<(u64, &Row)> = [1, 2, 3].into_iter().zip(rows.iter()).collect();
        let r = combine_rows(&same);
        assert!((r.accuracy - 0.65).abs() < 1e-12);
        // s = 0.05: half-width 4.3027·0.05/√3 = 0.1242, wider than Wilson's at n = 200.
        let half = 4.302_653 * 0.05 / 3f64.sqrt();
        assert!((r.ci_low.unwrap() - (0.65 - half)).abs() < 1e-5, "{r:?}");
        assert!((r.ci_high.unwrap() - (0.65 + half)).abs() < 1e-5, "{r:?}");
        assert_eq!(
            (r.n_seeds, r.n_clips, r.correct, r.n),
            (Some(3), Some(200), 390, 600)
        );
        assert_eq!(
            r.per_seed.iter().map(|s| s.seed).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // Seeds that agree exactly: the interval is Wilson's over the clips, not a point.
        let same: Vec<(u64, &Row)> = [1, 2].into_iter().zip([&rows[0], &rows[0]]).collect();
        let r = combine_rows(&same);
        let (lo, hi) = stats::wilson(120, 200, stats::Z95);
        assert_eq!((r.ci_low, r.ci_high), (Some(lo), Some(hi)));
        // Clips of 3 videos: never narrower than the 3 effective clips can measure.
        let videos = Row {
            n_videos: Some(3),
            n_effective: Some(3.0),
            ..rows[0].clone()
        };
        let r = combine_rows(&[(1, &videos), (2, &videos)]);
        let (lo, hi) = stats::wilson_real(0.6 * 3.0, 3.0, stats::Z95);
        assert_eq!(
            (r.ci_low, r.ci_high, r.n_videos, r.n_effective),
            (Some(lo), Some(hi), Some(3), Some(3.0))
        );
    }
}
