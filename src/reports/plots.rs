//! Figures, drawn with plotters into SVG (text as text) and PNG (text
//! rasterised with the embedded DejaVu Sans, so a PNG looks the same on every
//! machine). A [`Figure`] is plain data; [`render`] draws it.

use plotters::coord::Shift;
use plotters::prelude::*;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mark {
    Line,
    Points,
    LinePoints,
    Dashed,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
    /// A shaded band (x, low, high) behind the line: the 95 % interval of
    /// each point; empty for none.
    pub band: Vec<(f64, f64, f64)>,
}

#[derive(Clone, Debug)]
pub enum Figure {
    /// Lines or points over a shared x axis (robustness curves, train vs
    /// validation accuracy, the step-size fit).
    Lines {
        title: String,
        x_label: String,
        y_label: String,
        series: Vec<Series>,
    },
    /// z[i][j] at (xs[j], ys[i]) as a heatmap beside a 3D surface (Figure 1).
    Surface {
        title: String,
        x_label: String,
        y_label: String,
        z_label: String,
        xs: Vec<f64>,
        ys: Vec<f64>,
        z: Vec<Vec<f64>>,
    },
    /// Grouped bars: one group per category, one bar per series (Figure 5),
    /// with whiskers (low, high) where `whiskers[series][category]` is known.
    Bars {
        title: String,
        y_label: String,
        categories: Vec<String>,
        series: Vec<(String, Vec<f64>)>,
        whiskers: Vec<Vec<Option<(f64, f64)>>>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    pub fn of(ext: &str) -> Option<Format> {
        match ext {
            "svg" => Some(Format::Svg),
            "png" => Some(Format::Png),
            _ => None,
        }
    }
}

const FONT: &str = "sans-serif";

fn fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// The colour of series `i` (a qualitative palette that survives greyscale print).
fn colour(i: usize) -> RGBColor {
    const P: [(u8, u8, u8); 8] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
    ];
    let (r, g, b) = P[i % P.len()];
    RGBColor(r, g, b)
}

/// The figure in the given format: SVG text or PNG bytes.
pub fn render(fig: &Figure, format: Format) -> Result<Vec<u8>, String> {
    fonts();
    let size = match fig {
        Figure::Surface { .. } => (1200, 520),
        _ => (760 + LEGEND_W as u32, 480),
    };
    match format {
        Format::Svg => {
            let mut s = String::new();
            {
                let area = SVGBackend::with_string(&mut s, size).into_drawing_area();
                draw(&area, fig)?;
                area.present().map_err(|e| e.to_string())?;
            }
            Ok(s.into_bytes())
        }
        Format::Png => {
            let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
            {
                let area = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
                draw(&area, fig)?;
                area.present().map_err(|e| e.to_string())?;
            }
            let mut png = Vec::new();
            image::codecs::png::PngEncoder::new(&mut png)
                .write_image(&buf, size.0, size.1, image::ExtendedColorType::Rgb8)
                .map_err(|e| e.to_string())?;
            Ok(png)
        }
    }
}

use image::ImageEncoder;

/// The width of one bar of a group of `k`.
fn w_of(k: f64) -> f64 {
    0.8 / k
}

fn e<E: std::fmt::Display>(x: E) -> String {
    format!("cannot draw the figure: {x}")
}

/// A range that shows every value with a little room, never empty.
fn span(values: impl Iterator<Item = f64>, pad: f64) -> std::ops::Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if hi - lo < 1e-9 {
        return (lo - 0.5)..(hi + 0.5);
    }
    let m = (hi - lo) * pad;
    (lo - m)..(hi + m)
}

/// The width of the legend's panel right of a chart.
const LEGEND_W: i32 = 170;

/// How a legend entry is drawn: a line (dashed or not) or a filled box.
#[derive(Clone, Copy)]
enum Key {
    Line(bool),
    Box,
}

/// The series' names in a panel of their own right of the chart, so the
/// legend never covers a point.
fn legend_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor, Key)],
) -> Result<(), String> {
    let (w, _) = area.dim_in_pixel();
    for (i, (name, c, key)) in entries.iter().enumerate() {
        let y = 58 + 24 * i as i32;
        match key {
            Key::Line(dashed) => {
                let pts = if *dashed {
                    vec![(6, y), (12, y)]
                } else {
                    vec![(6, y), (26, y)]
                };
                area.draw(&PathElement::new(pts, c.stroke_width(3)))
                    .map_err(e)?;
                if *dashed {
                    area.draw(&PathElement::new(vec![(18, y), (26, y)], c.stroke_width(3)))
                        .map_err(e)?;
                }
            }
            Key::Box => area
                .draw(&Rectangle::new([(8, y - 6), (22, y + 6)], c.filled()))
                .map_err(e)?,
        }
        // Long names are shortened to the panel's width.
        let room = ((w as i32 - 36) / 7).max(4) as usize;
        let shown: String = if name.chars().count() > room {
            name.chars().take(room - 1).chain(['…']).collect()
        } else {
            name.clone()
        };
        area.draw(&Text::new(shown, (32, y - 8), (FONT, 14)))
            .map_err(e)?;
    }
    Ok(())
}

/// Whether a y axis is a percentage (accuracy axes run 0–100).
fn percent(y_label: &str) -> bool {
    y_label.ends_with("(%)")
}

fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, fig: &Figure) -> Result<(), String> {
    area.fill(&WHITE).map_err(e)?;
    let (width, _) = area.dim_in_pixel();
    let (plot, panel) = match fig {
        Figure::Surface { .. } => (area.clone(), None),
        _ => {
            let (l, r) = area.split_horizontally(width as i32 - LEGEND_W);
            (l, Some(r))
        }
    };
    let area = &plot;
    let mut keys: Vec<(String, RGBColor, Key)> = Vec::new();
    match fig {
        Figure::Lines {
            title,
            x_label,
            y_label,
            series,
        } => {
            let xs = span(
                series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
                0.03,
            );
            let pct_axis = percent(y_label);
            let ys = if pct_axis {
                0.0..100.0
            } else {
                span(
                    series.iter().flat_map(|s| {
                        s.points
                            .iter()
                            .map(|p| p.1)
                            .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
                    }),
                    0.08,
                )
            };
            // Whole x values (epochs, budgets) are labelled as whole numbers.
            let whole = series
                .iter()
                .flat_map(|s| s.points.iter())
                .all(|p| p.0.fract() == 0.0);
            let x_ticks = if whole {
                ((xs.end - xs.start).round() as usize + 1).clamp(2, 12)
            } else {
                10
            };
            let mut chart = ChartBuilder::on(area)
                .caption(title, (FONT, 22))
                .margin(12)
                .x_label_area_size(42)
                .y_label_area_size(56)
                .build_cartesian_2d(xs, ys)
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_labels(x_ticks)
                .x_label_formatter(&|x: &f64| {
                    if whole {
                        if x.fract().abs() < 1e-9 {
                            format!("{x:.0}")
                        } else {
                            String::new()
                        }
                    } else {
                        let t = format!("{x:.3}");
                        t.trim_end_matches('0').trim_end_matches('.').to_string()
                    }
                })
                .y_label_formatter(&|y: &f64| {
                    if pct_axis {
                        format!("{y:.0}")
                    } else {
                        let t = format!("{y:.3}");
                        t.trim_end_matches('0').trim_end_matches('.').to_string()
                    }
                })
                .x_desc(x_label.as_str())
                .y_desc(y_label.as_str())
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 15))
                .light_line_style(BLACK.mix(0.05))
                .draw()
                .map_err(e)?;
            for (i, s) in series.iter().enumerate() {
                let c = colour(i);
                if !s.band.is_empty() {
                    let mut outline: Vec<(f64, f64)> = s.band.iter().map(|b| (b.0, b.1)).collect();
                    outline.extend(s.band.iter().rev().map(|b| (b.0, b.2)));
                    chart
                        .draw_series(std::iter::once(Polygon::new(outline, c.mix(0.15).filled())))
                        .map_err(e)?;
                }
                let pts = s.points.clone();
                keys.push((s.name.clone(), c, Key::Line(s.mark == Mark::Dashed)));
                match s.mark {
                    Mark::Points => {
                        chart
                            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                            .map_err(e)?;
                    }
                    Mark::Dashed => {
                        chart
                            .draw_series(DashedLineSeries::new(pts, 8, 5, c.stroke_width(2)))
                            .map_err(e)?;
                    }
                    Mark::Line | Mark::LinePoints => {
                        if s.mark == Mark::LinePoints {
                            chart
                                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                                .map_err(e)?;
                        }
                        chart
                            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                            .map_err(e)?;
                    }
                }
            }
        }
        Figure::Surface {
            title,
            x_label,
            y_label,
            z_label,
            xs,
            ys,
            z,
        } => {
            let area = area.titled(title, (FONT, 22)).map_err(e)?;
            let (left, right) = area.split_horizontally(560);
            let zr = span(z.iter().flatten().copied(), 0.0);
            let (zlo, zhi) = (zr.start, zr.end);
            let norm = |v: f64| ((v - zlo) / (zhi - zlo)).clamp(0.0, 1.0);
            let step = |v: &[f64], k: usize| -> f64 {
                if v.len() > 1 {
                    if k + 1 < v.len() {
                        v[k + 1] - v[k]
                    } else {
                        v[k] - v[k - 1]
                    }
                } else {
                    1.0
                }
            };
            // Heatmap: each cell a rectangle from its value to the next grid value.
            let xr = xs.first().copied().unwrap_or(0.0)
                ..xs.last().copied().unwrap_or(1.0) + step(xs, xs.len().saturating_sub(1));
            let yr = ys.first().copied().unwrap_or(0.0)
                ..ys.last().copied().unwrap_or(1.0) + step(ys, ys.len().saturating_sub(1));
            let mut chart = ChartBuilder::on(&left)
                .margin(12)
                .x_label_area_size(42)
                .y_label_area_size(48)
                .build_cartesian_2d(xr, yr)
                .map_err(e)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc(x_label.as_str())
                .y_desc(y_label.as_str())
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 15))
                .draw()
                .map_err(e)?;
            chart
                .draw_series(z.iter().enumerate().flat_map(|(i, row)| {
                    row.iter().enumerate().map(move |(j, &v)| {
                        let (x0, y0) = (xs[j], ys[i]);
                        Rectangle::new(
                            [(x0, y0), (x0 + step(xs, j), y0 + step(ys, i))],
                            ViridisRGB.get_color(norm(v)).filled(),
                        )
                    })
                }))
                .map_err(e)?;
            // The surface, z over the same grid.
            let mut chart3 = ChartBuilder::on(&right)
                .margin(12)
                .caption(z_label, (FONT, 15))
                .build_cartesian_3d(
                    span(xs.iter().copied(), 0.0),
                    span(z.iter().flatten().copied(), 0.05),
                    span(ys.iter().copied(), 0.0),
                )
                .map_err(e)?;
            chart3.with_projection(|mut pb| {
                pb.yaw = 0.6;
                pb.pitch = 0.35;
                pb.scale = 0.85;
                pb.into_matrix()
            });
            chart3
                .configure_axes()
                .label_style((FONT, 12))
                .light_grid_style(BLACK.mix(0.1))
                .max_light_lines(3)
                .draw()
                .map_err(e)?;
            let idx = |v: &[f64], x: f64| v.iter().position(|&a| a == x).unwrap_or(0);
            chart3
                .draw_series(
                    SurfaceSeries::xoz(xs.iter().copied(), ys.iter().copied(), |x, y| {
                        z[idx(ys, y)][idx(xs, x)]
                    })
                    .style_func(&|&v| ViridisRGB.get_color(norm(v)).mix(0.85).filled()),
                )
                .map_err(e)?;
        }
        Figure::Bars {
            title,
            y_label,
            categories,
            series,
            whiskers,
        } => {
            let k = series.len().max(1) as f64;
            let top = series
                .iter()
                .flat_map(|s| s.1.iter().copied())
                .fold(1.0f64, f64::max);
            let mut chart = ChartBuilder::on(area)
                .caption(title, (FONT, 22))
                .margin(12)
                .x_label_area_size(42)
                .y_label_area_size(56)
                .build_cartesian_2d(
                    0.0..categories.len() as f64,
                    if percent(y_label) {
                        0.0..100.0
                    } else {
                        0.0..top * 1.1
                    },
                )
                .map_err(e)?;
            let cats = categories.clone();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(categories.len().max(1))
                .x_label_formatter(&move |x| {
                    let i = x.floor() as usize;
                    if (x - i as f64 - 0.5).abs() < 0.26 {
                        cats.get(i).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_desc(y_label.as_str())
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 15))
                .draw()
                .map_err(e)?;
            for (s, (name, values)) in series.iter().enumerate() {
                let c = colour(s);
                let w = 0.8 / k;
                chart
                    .draw_series(values.iter().enumerate().map(|(i, &v)| {
                        let x0 = i as f64 + 0.1 + s as f64 * w;
                        Rectangle::new([(x0, 0.0), (x0 + w * 0.92, v)], c.filled())
                    }))
                    .map_err(e)?;
                keys.push((name.clone(), c, Key::Box));
                // Whiskers: the interval of each bar, with caps.
                let ends = whiskers.get(s).cloned().unwrap_or_default();
                chart
                    .draw_series(ends.iter().enumerate().filter_map(|(i, w)| {
                        let (lo, hi) = (*w)?;
                        let mid = i as f64 + 0.1 + s as f64 * w_of(k) + w_of(k) * 0.46;
                        let cap = w_of(k) * 0.2;
                        Some(PathElement::new(
                            vec![
                                (mid - cap, lo),
                                (mid + cap, lo),
                                (mid, lo),
                                (mid, hi),
                                (mid - cap, hi),
                                (mid + cap, hi),
                            ],
                            BLACK.stroke_width(1),
                        ))
                    }))
                    .map_err(e)?;
            }
        }
    }
    if let Some(panel) = panel {
        legend_panel(&panel, &keys)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Figure {
        Figure::Lines {
            title: "robustness".into(),
            x_label: "ε".into(),
            y_label: "accuracy (%)".into(),
            series: vec![
                Series {
                    name: "benign".into(),
                    points: vec![(0.0, 96.5), (4.0, 0.0), (8.0, 0.0)],
                    mark: Mark::LinePoints,
                    band: vec![(0.0, 93.0, 98.3), (4.0, 0.0, 1.9), (8.0, 0.0, 1.9)],
                },
                Series {
                    name: "AT".into(),
                    points: vec![(0.0, 99.0), (4.0, 74.0), (8.0, 21.0)],
                    mark: Mark::Dashed,
                    band: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn svg_has_the_title_labels_and_legend_as_text() {
        let svg = String::from_utf8(render(&lines(), Format::Svg).unwrap()).unwrap();
        assert!(svg.starts_with("<svg"));
        for t in ["robustness", "accuracy (%)", "benign", "AT"] {
            assert!(svg.contains(t), "{t} missing");
        }
        // The interval band is drawn (one polygon for the one band).
        assert_eq!(svg.matches("<polygon").count(), 1, "{svg}");
    }

    #[test]
    fn png_decodes_with_the_size_and_drawn_pixels() {
        for fig in [
            lines(),
            Figure::Surface {
                title: "loss".into(),
                x_label: "α".into(),
                y_label: "M".into(),
                z_label: "loss".into(),
                xs: vec![0.5, 1.0, 2.0],
                ys: vec![1.0, 2.0],
                z: vec![vec![0.1, 0.5, 0.9], vec![0.2, 0.8, 1.2]],
            },
            Figure::Bars {
                title: "attacks".into(),
                y_label: "accuracy (%)".into(),
                categories: vec!["none".into(), "patch".into()],
                series: vec![
                    ("a".into(), vec![90.0, 10.0]),
                    ("b".into(), vec![80.0, 40.0]),
                ],
                whiskers: vec![
                    vec![Some((85.0, 94.0)), None],
                    vec![None, Some((33.0, 47.0))],
                ],
            },
        ] {
            let png = render(&fig, Format::Png).unwrap();
            let img = image::load_from_memory(&png).unwrap().to_rgb8();
            let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
            assert!(colours.len() > 8, "more than a blank canvas: {fig:?}");
        }
    }
}
