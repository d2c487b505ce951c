//! PGD inside a patch ([`Patch`]) or on a frame border ([`Border`]), and
//! their masks (run by [`Pgd::run_masked`]; ALGORITHMS.md, "Attacks"). Clips are N×C×T×H×W in
//! [0, 1]; budgets and steps in 0..255 units.

use super::pgd::{Masked, Pgd};
use super::{units, AttackKind};
use crate::runtime::error::{NodeError, NodeResult};
use tch::{Device, Kind, Tensor};

/// Where a patch sits on the frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Position {
    /// Uniform over the positions that fit, per clip (libtorch's generator).
    Random,
    TopLeft,
    Center,
    /// Top-left corner in pixels.
    At(i64, i64),
}

pub use crate::language::geometry::{border_thickness, patch_sides};

/// N×1×1×H×W masks of ones on the patch (same rectangle on every frame).
pub fn patch_mask(n: i64, h: i64, w: i64, ratio: f64, pos: &Position, device: Device) -> Tensor {
    let (ph, pw) = patch_sides(h, w, ratio);
    let mask = Tensor::zeros([n, 1, 1, h, w], (Kind::Float, device));
    let (ys, xs): (Vec<i64>, Vec<i64>) = match pos {
        Position::Random => {
            let y = Tensor::randint(h - ph + 1, [n], (Kind::Int64, Device::Cpu));
            let x = Tensor::randint(w - pw + 1, [n], (Kind::Int64, Device::Cpu));
            (
                Vec::<i64>::try_from(y).unwrap_or_default(),
                Vec::<i64>::try_from(x).unwrap_or_default(),
            )
        }
        Position::TopLeft => (vec![0; n as usize], vec![0; n as usize]),
        Position::Center => (
            vec![(h - ph) / 2; n as usize],
            vec![(w - pw) / 2; n as usize],
        ),
        Position::At(y, x) => (
            vec![(*y).clamp(0, h - ph); n as usize],
            vec![(*x).clamp(0, w - pw); n as usize],
        ),
    };
    for i in 0..n as usize {
        let _ = mask
            .get(i as i64)
            .narrow(2, ys[i], ph)
            .narrow(3, xs[i], pw)
            .fill_(1.0);
    }
    mask
}

/// N×1×1×H×W masks of ones on a border of thickness t.
pub fn border_mask(n: i64, h: i64, w: i64, t: i64, device: Device) -> Tensor {
    let inner = Tensor::ones([n, 1, 1, h, w], (Kind::Float, device));
    let (ih, iw) = ((h - 2 * t).max(0), (w - 2 * t).max(0));
    if ih > 0 && iw > 0 {
        let _ = inner.narrow(3, t, ih).narrow(4, t, iw).fill_(0.0);
    }
    inner
}

/// PGD inside a rectangle covering `ratio` of each frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Patch {
    pub pgd: Pgd,
    pub ratio: f64,
    pub position: Position,
}

/// PGD on a frame border covering `ratio` of each frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Border {
    pub pgd: Pgd,
    pub ratio: f64,
}

impl Masked for Patch {
    fn pgd_and_mask(&self, x: &Tensor) -> NodeResult<(Pgd, Option<Tensor>)> {
        let s = x.size();
        let mask = patch_mask(s[0], s[3], s[4], self.ratio, &self.position, x.device());
        Ok((self.pgd.clone(), Some(mask)))
    }
}

impl Masked for Border {
    fn pgd_and_mask(&self, x: &Tensor) -> NodeResult<(Pgd, Option<Tensor>)> {
        let s = x.size();
        let t = border_thickness(s[3], s[4], self.ratio).map_err(NodeError::Numeric)?;
        let mask = border_mask(s[0], s[3], s[4], t, x.device());
        Ok((self.pgd.clone(), Some(mask)))
    }
}

impl AttackKind for Patch {
    fn describe(&self) -> String {
        let at = match &self.position {
            Position::Random => "at a random place per clip".to_string(),
            Position::TopLeft => "at the top left".to_string(),
            Position::Center => "at the centre".to_string(),
            Position::At(y, x) => format!("at [{y}, {x}]"),
        };
        format!(
            "PGD {} in a patch of {}% of each frame {at}",
            self.pgd.summary(),
            units(self.ratio * 100.0)
        )
    }
    pgd_budget!(pgd);
    masked_runs!();
}

impl AttackKind for Border {
    fn describe(&self) -> String {
        format!(
            "PGD {} on a frame border of {}% of each frame",
            self.pgd.summary(),
            units(self.ratio * 100.0)
        )
    }
    pgd_budget!(pgd);
    masked_runs!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::attacks::pgd::{Norm, Pgd};

    #[test]
    fn patch_and_border_geometry_follow_the_closed_forms() {
        assert_eq!(patch_sides(112, 112, 0.15), (43, 43)); // 112·√0.15 = 43.4
        assert_eq!(patch_sides(32, 32, 0.25), (16, 16));
        // 4t² − 2(W+H)t + rWH = 0 at r = 0.15, 112×112: t = 4.46… → 4.
        assert_eq!(border_thickness(112, 112, 0.15).unwrap(), 4);
        assert!(border_thickness(32, 32, 0.001)
            .unwrap_err()
            .contains("thinner than one pixel"));
        for (h, w, r) in [(32i64, 32i64, 0.15), (112, 112, 0.15), (40, 24, 0.3)] {
            let m = patch_mask(3, h, w, r, &Position::Random, Device::Cpu);
            let frac = m.get(0).mean(Kind::Float).double_value(&[]);
            // Within one pixel row/column of the ratio.
            let slack = (h + w) as f64 / (h * w) as f64 + 0.02;
            assert!((frac - r).abs() < slack, "patch {h}×{w} r {r}: {frac}");
            let t = border_thickness(h, w, r).unwrap();
            let b = border_mask(1, h, w, t, Device::Cpu)
                .mean(Kind::Float)
                .double_value(&[]);
            assert!((b - r).abs() < 2.0 * slack, "border {h}×{w} r {r}: {b}");
        }
    }

    #[test]
    fn masked_pgd_changes_no_pixel_outside_the_mask() {
        tch::manual_seed(0);
        let w = Tensor::randn([4, 3 * 2 * 8 * 8], (Kind::Float, Device::Cpu));
        let f = |v: &Tensor| v.flatten(1, -1).matmul(&w.tr());
        let x = Tensor::rand([2, 3, 2, 8, 8], (Kind::Float, Device::Cpu)) * 0.5 + 0.25;
        let y = Tensor::from_slice(&[0i64, 3]);
        let mask = patch_mask(2, 8, 8, 0.25, &Position::Center, Device::Cpu);
        let pgd = Pgd {
            norm: Norm::Inf,
            eps: 255.0,
            alpha: 10.0,
            steps: 5,
            random_start: true,
        };
        let adv = pgd
            .run_masked(&f, &x, &y, Some(&mask), &mut |_| {})
            .unwrap();
        let changed = (&adv - &x).abs().gt(0.0).to_kind(Kind::Float);
        let outside = (&changed * (-&mask + 1.0))
            .sum(Kind::Float)
            .double_value(&[]);
        assert_eq!(outside, 0.0);
        assert!((&changed * &mask).sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
