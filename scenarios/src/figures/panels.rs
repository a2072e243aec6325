//! Multi-panel figures for the paper recipes: [`Panel`]s of [`Line`]s (solid or dashed, up to
//! eight colours, a legend beside each panel) drawn into one PNG or SVG by [`draw_panels`].

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{ensure_font, FigureError, Format};

/// One line of a [`Panel`].
#[derive(Clone, Debug)]
pub struct Line {
    /// Its legend entry.
    pub label: String,
    /// Its points.
    pub points: Vec<(f64, f64)>,
    /// Its colour, an index into a fixed palette (equal indexes, equal colours).
    pub color: usize,
    /// Drawn dashed (e.g. the native baseline beside a CCP line of the same colour).
    pub dashed: bool,
}

/// One chart of a multi-panel figure ([`draw_panels`]).
#[derive(Clone, Debug)]
pub struct Panel {
    /// The panel's title.
    pub title: String,
    /// X axis label, with its unit.
    pub x_label: String,
    /// Y axis label, with its unit.
    pub y_label: String,
    /// The lines.
    pub lines: Vec<Line>,
    /// X range; unset: the data's.
    pub x_range: Option<(f64, f64)>,
    /// Y range; unset: from 0 (or the data's minimum if below) to the data's maximum + 5 %.
    pub y_range: Option<(f64, f64)>,
}

/// Colours that stay distinct in print and for common colour-vision deficiencies (Okabe–Ito).
const LINE_COLORS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

/// Width of the legend column beside each panel, pixels.
const LEGEND_W: u32 = 250;

/// Splits a polyline in pixel coordinates into dashes `on` pixels long with `off`-pixel gaps.
fn dashes(pts: &[(i32, i32)], on: f64, off: f64) -> Vec<Vec<(i32, i32)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(i32, i32)> = Vec::new();
    let (mut drawing, mut left) = (true, on);
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (dx, dy) = (f64::from(b.0 - a.0), f64::from(b.1 - a.1));
        let len = (dx * dx + dy * dy).sqrt();
        let mut pos = 0.0;
        if drawing && cur.is_empty() {
            cur.push(a);
        }
        while len - pos > left {
            pos += left;
            let p = (
                a.0 + (dx * pos / len).round() as i32,
                a.1 + (dy * pos / len).round() as i32,
            );
            if drawing {
                cur.push(p);
                out.push(std::mem::take(&mut cur));
            } else {
                cur.push(p);
            }
            drawing = !drawing;
            left = if drawing { on } else { off };
        }
        left -= len - pos;
        if drawing {
            cur.push(b);
        } else {
            cur.clear();
        }
    }
    if cur.len() >= 2 {
        out.push(cur);
    }
    out
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<(), String> {
    let (w, _) = area.dim_in_pixel();
    let (chart_area, legend_area) = area.split_horizontally(w.saturating_sub(LEGEND_W));
    let all = p.lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in all {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    y0 = y0.min(0.0);
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    // A little room on the right: a line along the data's maximum stays off the frame.
    x1 += (x1 - x0) * 0.02;
    if let Some(r) = p.x_range {
        (x0, x1) = r;
    }
    match p.y_range {
        Some(r) => (y0, y1) = r,
        None => {
            if y1 <= y0 {
                y1 = y0 + 1.0;
            }
            y1 += (y1 - y0) * 0.05;
        }
    }
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(&p.title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| e.to_string())?;
    for l in &p.lines {
        let color = LINE_COLORS[l.color % LINE_COLORS.len()];
        let pts: Vec<(f64, f64)> = l
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        if l.dashed {
            // Dashes in pixel space, so that they look the same at any data scale.
            let plot_area = chart.plotting_area().strip_coord_spec();
            let (bx, by) = plot_area.get_base_pixel();
            let px: Vec<(i32, i32)> = pts
                .iter()
                .map(|&p| {
                    let (x, y) = chart.backend_coord(&p);
                    (x - bx, y - by)
                })
                .collect();
            for seg in dashes(&px, 7.0, 4.0) {
                plot_area
                    .draw(&PathElement::new(seg, color.stroke_width(2)))
                    .map_err(|e| e.to_string())?;
            }
        } else {
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(1)))
                .map_err(|e| e.to_string())?;
        }
    }
    // The legend, in its own column: it never covers data.
    let font = ("sans-serif", 15).into_font();
    for (i, l) in p.lines.iter().enumerate() {
        let color = LINE_COLORS[l.color % LINE_COLORS.len()];
        let y = 50 + 22 * i as i32;
        let seg = vec![(5, y), (35, y)];
        if l.dashed {
            for s in dashes(&seg, 7.0, 4.0) {
                legend_area
                    .draw(&PathElement::new(s, color.stroke_width(2)))
                    .map_err(|e| e.to_string())?;
            }
        } else {
            legend_area
                .draw(&PathElement::new(seg, color.stroke_width(3)))
                .map_err(|e| e.to_string())?;
        }
        legend_area
            .draw(&Text::new(l.label.clone(), (42, y - 8), font.clone()))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Draws `panels` on a grid of `cols` columns under one `title` into `path` (extension from
/// `fmt`), each panel with its legend in a column to its right (so no legend hides data);
/// returns the file written.
pub fn draw_panels(
    title: &str,
    panels: &[Panel],
    cols: usize,
    path: &Path,
    fmt: Format,
) -> Result<PathBuf, FigureError> {
    ensure_font()?;
    let cols = cols.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(cols).max(1);
    let col_w = if cols == 1 { 1200 } else { 780 };
    let (w, h) = (cols as u32 * col_w, rows as u32 * 400 + 40);
    let out = path.with_extension(match fmt {
        Format::Png => "png",
        Format::Svg => "svg",
    });
    fn go<DB: DrawingBackend>(
        root: DrawingArea<DB, Shift>,
        title: &str,
        panels: &[Panel],
        rows: usize,
        cols: usize,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let body = root
            .titled(title, ("sans-serif", 22))
            .map_err(|e| e.to_string())?;
        let areas = body.split_evenly((rows, cols));
        for (a, p) in areas.iter().zip(panels) {
            draw_panel(a, p)?;
        }
        root.present().map_err(|e| e.to_string())
    }
    let r = match fmt {
        Format::Png => go(
            BitMapBackend::new(&out, (w, h)).into_drawing_area(),
            title,
            panels,
            rows,
            cols,
        ),
        Format::Svg => go(
            SVGBackend::new(&out, (w, h)).into_drawing_area(),
            title,
            panels,
            rows,
            cols,
        ),
    };
    r.map_err(|msg| FigureError::Draw {
        file: out.display().to_string(),
        msg,
    })?;
    Ok(out)
}
