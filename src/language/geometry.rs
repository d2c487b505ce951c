//! The closed forms of the masked attacks' geometry, shared by the checker
//! (`checker/masks.rs`: a ratio that cannot fit the data's frames is an error
//! before anything runs) and the runtime (the masks themselves). Plain
//! arithmetic, no tensors.

/// Patch sides H·√r × W·√r, rounded, at least one pixel.
pub fn patch_sides(h: i64, w: i64, ratio: f64) -> (i64, i64) {
    let s = ratio.sqrt();
    (
        ((h as f64 * s).round() as i64).clamp(1, h),
        ((w as f64 * s).round() as i64).clamp(1, w),
    )
}

/// The fraction of an h×w frame that a one-pixel border covers: the smallest
/// ratio `frame_border` can draw.
pub fn min_border_ratio(h: i64, w: i64) -> f64 {
    (2 * (h + w) - 4) as f64 / (h * w) as f64
}

/// Border thickness t = ⌊(2(W+H) − √(4(W+H)² − 16·r·W·H)) / 8⌋, so that the
/// border covers a fraction r of the frame; an error when that is less than a pixel.
pub fn border_thickness(h: i64, w: i64, ratio: f64) -> Result<i64, String> {
    let (hf, wf) = (h as f64, w as f64);
    let disc = 4.0 * (wf + hf).powi(2) - 16.0 * ratio * wf * hf;
    if disc < 0.0 {
        return Err(format!("a border cannot cover {ratio} of a {h}×{w} frame"));
    }
    let t = ((2.0 * (wf + hf) - disc.sqrt()) / 8.0).floor() as i64;
    if t < 1 {
        return Err(format!(
            "a border covering {ratio} of a {h}×{w} frame is thinner than one pixel; raise `ratio` (at least {:.4} here)",
            min_border_ratio(h, w)
        ));
    }
    Ok(t.min(h.min(w) / 2 + 1))
}
