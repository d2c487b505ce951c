//! The figure of a finished node, from its typed result.

use super::plots::{Figure, Mark, Series};
use super::tables::{eps_label, Grid};
use super::NodeResult;
use crate::results::{line_text, AnalysisResult, EpochMetrics, EvalResult, Validation};

fn pct(v: Option<f64>) -> Option<f64> {
    v.map(|a| 100.0 * a)
}

/// The figure of a finished node: an evaluation's robustness curve (accuracy
/// against ε, a line per model) or per-attack bars (Figure 5), a training's
/// accuracy per epoch, an analysis's surface (Figure 1), step-size fit
/// (Figure 2) or generalization gap (Figure 4).
pub fn figure(name: &str, result: &NodeResult) -> Figure {
    match result {
        NodeResult::Training { metrics, .. } => training(name, metrics),
        NodeResult::Eval { result, .. } => robustness(name, result),
        NodeResult::Analysis { result, .. } => analysis(name, result),
    }
}

fn training(name: &str, m: &[EpochMetrics]) -> Figure {
    let series = |get: fn(&EpochMetrics) -> Option<f64>, label: &str, mark| Series {
        name: label.into(),
        points: m
            .iter()
            .filter_map(|l| Some((l.epoch as f64, pct(get(l))?)))
            .collect(),
        mark,
        band: Vec::new(),
    };
    // A standard training's clips were clean; an adversarial one's attacked
    // (at the epoch's budget: a curriculum's first epochs may be ε 0).
    let attacked = m
        .iter()
        .any(|l| l.eps.is_some_and(|e| e > 0.0) || l.probs.is_some() || l.val_adv_acc.is_some());
    let train = if attacked {
        "train (attacked)"
    } else {
        "train (clean)"
    };
    let series: Vec<Series> = [
        series(|l| l.train_acc, train, Mark::LinePoints),
        series(|l| l.val_acc, "validation (clean)", Mark::LinePoints),
        series(|l| l.val_adv_acc, "validation (attacked)", Mark::Dashed),
    ]
    .into_iter()
    .filter(|s| !s.points.is_empty())
    .collect();
    if series.is_empty() {
        return Figure::Lines {
            title: format!("{name}: training loss"),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: vec![Series {
                name: "train".into(),
                points: m.iter().map(|l| (l.epoch as f64, l.train_loss)).collect(),
                mark: Mark::LinePoints,
                band: Vec::new(),
            }],
        };
    }
    Figure::Lines {
        title: format!("{name}: accuracy per epoch"),
        x_label: "epoch".into(),
        y_label: "top-1 accuracy (%)".into(),
        series,
    }
}

/// A row's 95 % interval in percent, when it has one.
fn interval(r: &crate::results::Row) -> Option<(f64, f64)> {
    Some((100.0 * r.ci_low?, 100.0 * r.ci_high?))
}

fn robustness(name: &str, result: &EvalResult) -> Figure {
    let rows = &result.rows;
    let grid = Grid::new(rows);
    let models = &grid.models;
    if rows.iter().any(|r| r.attack.is_some()) {
        let series = models
            .iter()
            .map(|m| {
                let values = grid
                    .columns
                    .iter()
                    .map(|c| grid.cell(m, c).map_or(0.0, |r| 100.0 * r.accuracy))
                    .collect();
                (m.clone(), values)
            })
            .collect();
        let whiskers = models
            .iter()
            .map(|m| {
                grid.columns
                    .iter()
                    .map(|c| grid.cell(m, c).and_then(interval))
                    .collect()
            })
            .collect();
        return Figure::Bars {
            title: format!("{name}: accuracy under each attack"),
            y_label: "top-1 accuracy (%)".into(),
            categories: grid.columns.clone(),
            series,
            whiskers,
        };
    }
    Figure::Lines {
        title: format!("{name}: robustness"),
        x_label: "attack budget ε (0..255)".into(),
        y_label: "top-1 accuracy (%)".into(),
        series: models
            .iter()
            .map(|m| Series {
                name: m.clone(),
                points: rows
                    .iter()
                    .filter(|r| &r.model == m)
                    .map(|r| (r.eps, 100.0 * r.accuracy))
                    .collect(),
                mark: Mark::LinePoints,
                band: rows
                    .iter()
                    .filter(|r| &r.model == m)
                    .filter_map(|r| interval(r).map(|(lo, hi)| (r.eps, lo, hi)))
                    .collect(),
            })
            .collect(),
    }
}

fn analysis(name: &str, result: &AnalysisResult) -> Figure {
    match result {
        AnalysisResult::Certify(c) => {
            // The exact step curve: every certified radius, and 0 past the last.
            let mut radii: Vec<f64> = c.clips.iter().filter_map(|k| k.radius).collect();
            radii.push(0.0);
            radii.sort_by(f64::total_cmp);
            radii.dedup();
            let n = c.clips.len().max(1) as f64;
            let at = |r: f64| {
                100.0
                    * c.clips
                        .iter()
                        .filter(|k| k.correct && k.radius.is_some_and(|x| x >= r))
                        .count() as f64
                    / n
            };
            // Right-continuous steps: at Rⱼ the clips certified at least Rⱼ,
            // just past it those certified at least Rⱼ₊₁.
            let mut points = Vec::new();
            for (j, &r) in radii.iter().enumerate() {
                points.push((r, at(r)));
                match radii.get(j + 1) {
                    Some(&next) => points.push((r, at(next))),
                    None => {
                        points.push((r, 0.0));
                        points.push((r + c.sigma / 4.0, 0.0));
                    }
                }
            }
            Figure::Lines {
                title: format!(
                    "{name}: certified accuracy of `{}` (σ = {})",
                    c.model, c.sigma
                ),
                x_label: "L2 radius R ([0, 1] units)".into(),
                y_label: "certified accuracy (%)".into(),
                series: vec![Series {
                    name: format!("randomized smoothing, α = {}", c.alpha),
                    points,
                    mark: Mark::Line,
                    band: Vec::new(),
                }],
            }
        }
        AnalysisResult::Surface(s) => {
            let s = &s.surface;
            Figure::Surface {
                title: format!("{name}: adversarial loss at ε = {}", eps_label(s.eps)),
                x_label: "step size α".into(),
                y_label: "steps M".into(),
                z_label: "mean cross-entropy".into(),
                xs: s.alphas.clone(),
                ys: s.steps.iter().map(|&m| m as f64).collect(),
                z: s.loss.clone(),
            }
        }
        AnalysisResult::Fit(f) => {
            let f = &f.fit;
            let (lo, hi) = f
                .best
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                    (a.min(p.eps), b.max(p.eps))
                });
            Figure::Lines {
                title: format!("{name}: {}", line_text(f.a, f.b, f.r2)),
                x_label: "attack budget ε (0..255)".into(),
                y_label: "best step size α".into(),
                series: vec![
                    Series {
                        name: "best α (highest loss)".into(),
                        points: f.best.iter().map(|p| (p.eps, p.alpha)).collect(),
                        mark: Mark::Points,
                        band: Vec::new(),
                    },
                    Series {
                        name: "least-squares fit".into(),
                        points: [lo, hi]
                            .iter()
                            .filter(|x| x.is_finite())
                            .map(|&x| (x, f.a * x + f.b))
                            .collect(),
                        mark: Mark::Line,
                        band: Vec::new(),
                    },
                ],
            }
        }
        AnalysisResult::Gap(g) => {
            let line = |values: &[Option<f64>], label: &str, mark| Series {
                name: label.into(),
                points: g
                    .epoch
                    .iter()
                    .zip(values)
                    .filter_map(|(&e, a)| Some((e as f64, pct(*a)?)))
                    .collect(),
                mark,
                band: Vec::new(),
            };
            Figure::Lines {
                title: format!("{name}: generalization gap of `{}`", g.train),
                x_label: "epoch".into(),
                y_label: "top-1 accuracy (%)".into(),
                series: vec![
                    line(&g.train_acc, "train (attacked)", Mark::LinePoints),
                    line(
                        &g.val_acc,
                        match g.validation {
                            Validation::Attacked => "validation (attacked)",
                            Validation::Clean => "validation (clean)",
                        },
                        Mark::LinePoints,
                    ),
                    line(&g.gap, "gap (train − validation)", Mark::Dashed),
                ],
            }
        }
    }
}
