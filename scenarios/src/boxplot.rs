//! Box plots: panels side by side, one box per variant: the box from p25 to p75, a line at
//! the median, whiskers from p5 to p95, on a linear axis from 0 to the highest p95 (outliers
//! beyond the whiskers are in the samples, not drawn). Used by the Bertha experiments of
//! `testbed reproduce`.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::figures::{ensure_font, FigureError};
use bertha_experiments::quantile;

/// One panel: a title and, per variant, its label and samples (µs).
pub struct BoxPanel {
    /// The panel's title.
    pub title: String,
    /// The y axis label.
    pub y_label: String,
    /// Per variant: label and samples.
    pub boxes: Vec<(String, Vec<f64>)>,
}

const COLORS: [RGBColor; 4] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
];

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[BoxPanel],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(|e| e.to_string())?;
    let area = area
        .titled(title, ("sans-serif", 22))
        .map_err(|e| e.to_string())?;
    let cols = area.split_evenly((1, panels.len().max(1)));
    for (p, a) in panels.iter().zip(cols.iter()) {
        // The axis spans the whiskers (p5..p95 of every box), not the extreme outliers.
        let q_of = |q: f64| -> Vec<f64> {
            p.boxes
                .iter()
                .filter(|b| !b.1.is_empty())
                .map(|b| quantile(&b.1, q))
                .collect()
        };
        let hi = q_of(0.95).into_iter().fold(0.0, f64::max).max(1e-3) * 1.15;
        let n = p.boxes.len();
        let mut chart = ChartBuilder::on(a)
            .caption(&p.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0.0..hi)
            .map_err(|e| e.to_string())?;
        let labels: Vec<String> = p.boxes.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                    labels[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .y_labels(10)
            .y_desc(&p.y_label)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (_, v)) in p.boxes.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            let x = i as f64;
            let c = COLORS[i % COLORS.len()];
            let q = |f| quantile(v, f);
            let (p5, p25, p50, p75, p95) = (q(0.05), q(0.25), q(0.5), q(0.75), q(0.95));
            let w = 0.3;
            chart
                .draw_series([Rectangle::new(
                    [(x - w, p25), (x + w, p75)],
                    c.mix(0.3).filled(),
                )])
                .map_err(|e| e.to_string())?;
            chart
                .draw_series([Rectangle::new(
                    [(x - w, p25), (x + w, p75)],
                    c.stroke_width(2),
                )])
                .map_err(|e| e.to_string())?;
            for seg in [
                vec![(x - w, p50), (x + w, p50)],
                vec![(x, p75), (x, p95)],
                vec![(x, p25), (x, p5)],
                vec![(x - w / 2.0, p95), (x + w / 2.0, p95)],
                vec![(x - w / 2.0, p5), (x + w / 2.0, p5)],
            ] {
                chart
                    .draw_series(LineSeries::new(seg, c.stroke_width(2)))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    area.present().map_err(|e| e.to_string())
}

/// Draws `panels` side by side into `<stem>.png` and `<stem>.svg`.
pub fn boxplots(stem: &Path, title: &str, panels: &[BoxPanel]) -> Result<(), FigureError> {
    ensure_font()?;
    let w = 520 * panels.len().max(1) as u32;
    let (png, svg) = (stem.with_extension("png"), stem.with_extension("svg"));
    let err = |p: &Path, e: String| FigureError::Draw {
        file: p.display().to_string(),
        msg: e,
    };
    draw(
        &BitMapBackend::new(&png, (w, 460)).into_drawing_area(),
        title,
        panels,
    )
    .map_err(|e| err(&png, e))?;
    draw(
        &SVGBackend::new(&svg, (w, 460)).into_drawing_area(),
        title,
        panels,
    )
    .map_err(|e| err(&svg, e))?;
    Ok(())
}
