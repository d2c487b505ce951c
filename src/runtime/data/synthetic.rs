//! The embedded dataset: procedural video made on the fly from a seed.
//!
//! Each clip shows a small square (the *target*) drifting across a textured,
//! noisy background among `distractors` squares of the same size that wander
//! at random. The class is the direction of the target's drift: class k moves
//! at angle 2πk/classes, so neighbouring classes differ by a few degrees of
//! motion over a few frames. No single frame tells the class — a model must
//! use time. Contrast is low and the target's polarity (brighter or darker
//! than the background) is random, so there is no big bright blob for a
//! classifier (or an adversarially trained one) to lean on.
//!
//! Every clip is a pure function of (seed, split, index): the same seed gives
//! the same data on every machine, and clips are generated in parallel.

use crate::runtime::rng::{mix, SplitMix};
use rayon::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub classes: usize,
    pub frames: usize,
    pub size: usize,
    pub seed: u64,
    pub contrast: f64,
    pub noise: f64,
    pub distractors: usize,
}

/// Which split a clip belongs to: mixed into its seed so splits never share clips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train = 1,
    Val = 2,
    Test = 3,
}

/// `n` clips as one C×T×H×W block each (row-major, values in [0, 1]) and their labels.
/// Labels cycle through the classes, so every split is balanced.
pub fn generate(spec: &Spec, split: Split, n: usize) -> (Vec<f32>, Vec<i64>) {
    let per = 3 * spec.frames * spec.size * spec.size;
    let mut data = vec![0f32; n * per];
    data.par_chunks_mut(per.max(1))
        .enumerate()
        .for_each(|(i, out)| {
            render(
                spec,
                mix(&[spec.seed, split as u64, i as u64]),
                i % spec.classes,
                out,
            )
        });
    let labels = (0..n).map(|i| (i % spec.classes) as i64).collect();
    (data, labels)
}

/// Fresh clips for training: clip `i` of a batch drawn with `seed` has label
/// `labels[i]` and its own random scene, so every epoch sees new videos of the
/// same classes (no background to memorise).
pub fn fresh(spec: &Spec, seed: u64, first: usize, labels: &[i64]) -> Vec<f32> {
    let per = 3 * spec.frames * spec.size * spec.size;
    let mut data = vec![0f32; labels.len() * per];
    data.par_chunks_mut(per.max(1))
        .enumerate()
        .for_each(|(i, out)| {
            render(
                spec,
                mix(&[seed, (first + i) as u64]),
                labels[i] as usize,
                out,
            )
        });
    data
}

#[derive(Clone, Copy)]
struct Square {
    x: f64,
    y: f64,
    /// Signed brightness change.
    delta: f64,
}

/// Adds a square of half-width `r` centred at (x, y), anti-aliased by pixel coverage.
fn stamp(frame: &mut [f32], size: usize, sq: Square, r: f64) {
    let x0 = (sq.x - r).floor().max(0.0) as usize;
    let y0 = (sq.y - r).floor().max(0.0) as usize;
    let x1 = ((sq.x + r).ceil() as usize).min(size);
    let y1 = ((sq.y + r).ceil() as usize).min(size);
    for py in y0..y1 {
        let oy = ((py as f64 + 1.0).min(sq.y + r) - (py as f64).max(sq.y - r)).max(0.0);
        for px in x0..x1 {
            let ox = ((px as f64 + 1.0).min(sq.x + r) - (px as f64).max(sq.x - r)).max(0.0);
            frame[py * size + px] += (sq.delta * ox * oy) as f32;
        }
    }
}

fn render(spec: &Spec, seed: u64, label: usize, out: &mut [f32]) {
    let (t, s) = (spec.frames, spec.size);
    let sf = s as f64;
    let mut rng = SplitMix::new(seed);
    let plane = s * s;

    // Background: a few low-frequency waves per channel, around mid-grey.
    let mut background = vec![0f32; 3 * plane];
    for c in 0..3 {
        let waves: Vec<(f64, f64, f64, f64)> = (0..3)
            .map(|_| {
                let f = 0.5 + 2.5 * rng.uniform();
                let a = std::f64::consts::TAU * rng.uniform();
                (
                    f * a.cos() / sf * std::f64::consts::TAU,
                    f * a.sin() / sf * std::f64::consts::TAU,
                    std::f64::consts::TAU * rng.uniform(),
                    0.03 + 0.04 * rng.uniform(),
                )
            })
            .collect();
        let base = 0.4 + 0.2 * rng.uniform();
        for y in 0..s {
            for x in 0..s {
                let v: f64 = waves
                    .iter()
                    .map(|(fx, fy, ph, amp)| amp * (fx * x as f64 + fy * y as f64 + ph).sin())
                    .sum();
                background[c * plane + y * s + x] = (base + v) as f32;
            }
        }
    }

    let r = (sf / 16.0).max(1.0);
    let speed = 1.5 * sf / 32.0;
    let angle =
        std::f64::consts::TAU * label as f64 / spec.classes as f64 + 0.15 * (rng.uniform() - 0.5);
    let (dx, dy) = (speed * angle.cos(), speed * angle.sin());
    let travel = (t as f64 - 1.0) / 2.0;
    let margin_x = r + 1.0 + (dx * travel).abs();
    let margin_y = r + 1.0 + (dy * travel).abs();
    let mid_x = margin_x + rng.uniform() * (sf - 2.0 * margin_x).max(0.0);
    let mid_y = margin_y + rng.uniform() * (sf - 2.0 * margin_y).max(0.0);
    let polarity = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
    let target_delta = polarity * spec.contrast;

    let mut distractors: Vec<Square> = (0..spec.distractors)
        .map(|_| Square {
            x: r + rng.uniform() * (sf - 2.0 * r),
            y: r + rng.uniform() * (sf - 2.0 * r),
            delta: if rng.uniform() < 0.5 { -1.0 } else { 1.0 } * spec.contrast,
        })
        .collect();

    let mut frame = vec![0f32; plane];
    for k in 0..t {
        frame.iter_mut().for_each(|v| *v = 0.0);
        let off = k as f64 - travel;
        stamp(
            &mut frame,
            s,
            Square {
                x: mid_x + dx * off,
                y: mid_y + dy * off,
                delta: target_delta,
            },
            r,
        );
        for d in &mut distractors {
            stamp(&mut frame, s, *d, r);
            // A random walk: no consistent direction to confuse with a class.
            d.x = (d.x + 0.6 * speed * rng.normal()).clamp(r, sf - r);
            d.y = (d.y + 0.6 * speed * rng.normal()).clamp(r, sf - r);
        }
        for c in 0..3 {
            let dst = &mut out[(c * t + k) * plane..(c * t + k + 1) * plane];
            let bg = &background[c * plane..(c + 1) * plane];
            for i in 0..plane {
                let n = spec.noise * rng.normal();
                dst[i] = (bg[i] as f64 + frame[i] as f64 + n).clamp(0.0, 1.0) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            classes: 10,
            frames: 8,
            size: 32,
            seed: 0,
            contrast: 0.25,
            noise: 0.08,
            distractors: 2,
        }
    }

    #[test]
    fn deterministic_balanced_in_range_and_splits_differ() {
        let (a, ya) = generate(&spec(), Split::Train, 20);
        let (b, _) = generate(&spec(), Split::Train, 20);
        let (c, _) = generate(&spec(), Split::Test, 20);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 20 * 3 * 8 * 32 * 32);
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(ya.iter().filter(|&&y| y == 3).count(), 2);
        let other = Spec { seed: 1, ..spec() };
        assert_ne!(
            generate(&other, Split::Train, 2).0,
            a[..2 * 3 * 8 * 32 * 32]
        );
    }

    #[test]
    fn the_target_moves_in_its_class_direction() {
        // Without noise, background or distractors, the centre of mass of the
        // change between the first and last frame moves along the class angle.
        let s = Spec {
            noise: 0.0,
            distractors: 0,
            contrast: 1.0,
            ..spec()
        };
        let (x, y) = generate(&s, Split::Train, 10);
        let per = 3 * 8 * 32 * 32;
        for i in 0..10 {
            let clip = &x[i * per..(i + 1) * per];
            let centre = |k: usize| {
                let f = &clip[k * 1024..(k + 1) * 1024];
                let mean = f.iter().sum::<f32>() / 1024.0;
                let (mut sx, mut sy, mut w) = (0.0, 0.0, 0.0);
                for (j, v) in f.iter().enumerate() {
                    let d = (v - mean).abs() as f64;
                    if d > 0.3 {
                        sx += d * (j % 32) as f64;
                        sy += d * (j / 32) as f64;
                        w += d;
                    }
                }
                (sx / w, sy / w)
            };
            let (x0, y0) = centre(0);
            let (x1, y1) = centre(7);
            let got = (y1 - y0).atan2(x1 - x0);
            let want = std::f64::consts::TAU * y[i] as f64 / 10.0;
            let diff = (got - want + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU)
                - std::f64::consts::PI;
            assert!(diff.abs() < 0.35, "clip {i}: angle {got} vs {want}");
        }
    }
}
