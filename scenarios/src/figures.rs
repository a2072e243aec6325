//! Figures from result files (plotters): per run, the cwnd of every flow and the queueing delay
//! of every monitored link over time, and the CDF of flow completion times with the tail and the
//! ideal marked; for a sweep over the number of incast senders, the tail completion time against
//! the number of senders, beside the ideal (total bytes / bottleneck rate).
//! The paper recipes' multi-panel figures are drawn by [`draw_panels`] (module `panels`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use netmodels::monitoring::series;
use plotters::coord::Shift;
use plotters::prelude::*;

mod panels;

pub use panels::{draw_panels, Line, Panel};

/// Output image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Portable Network Graphics (raster).
    Png,
    /// Scalable Vector Graphics.
    Svg,
}

/// Errors making figures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FigureError {
    /// A results file is unreadable or malformed.
    #[error("{file}: {msg}")]
    Input {
        /// The file.
        file: String,
        /// What is wrong.
        msg: String,
    },
    /// Drawing failed.
    #[error("drawing {file}: {msg}")]
    Draw {
        /// The image.
        file: String,
        /// The cause.
        msg: String,
    },
    /// No font for the figures' text was found.
    #[error("no TrueType font for figure text: set TESTBED_FONT to a .ttf file, or install one of {0} (Debian: fonts-dejavu-core)")]
    NoFont(String),
    /// Nothing to plot was found.
    #[error("{0}: nothing to plot (expected results with time series or flow completion times in it or its subdirectories)")]
    Empty(String),
}

/// One figure: named series of (x, y) points drawn as lines.
pub struct Plot {
    /// Title.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Named series.
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    /// Horizontal reference lines (label, y).
    pub hlines: Vec<(String, f64)>,
    /// Draw points as well as lines.
    pub points: bool,
    /// Where the legend goes.
    pub legend: SeriesLabelPosition,
}

fn draw_on<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, p: &Plot) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let all = p.series.iter().flat_map(|(_, v)| v.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    for (_, y) in &p.hlines {
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    y0 = y0.min(0.0);
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    y1 += (y1 - y0) * 0.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(&p.title, ("sans-serif", 26))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(|e| e.to_string())?;
    let many = p.series.len() > 8;
    for (i, (name, pts)) in p.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let s = chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(1)))
            .map_err(|e| e.to_string())?;
        if !many {
            s.label(name.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
        }
        if p.points {
            chart
                .draw_series(
                    pts.iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
    }
    for (name, y) in &p.hlines {
        let color = BLACK.mix(0.7);
        chart
            .draw_series(LineSeries::new(
                vec![(x0, *y), (x1, *y)],
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2))
            });
    }
    if !many || !p.hlines.is_empty() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .position(p.legend.clone())
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Where figure text looks for a font, after `$TESTBED_FONT`.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// Registers a sans-serif font with plotters once per process. Text is rendered by a pure-Rust
/// rasterizer (`ab_glyph`), so building needs no system font library; drawing needs one font
/// file, found at `$TESTBED_FONT` or a common system path.
pub(crate) fn ensure_font() -> Result<(), FigureError> {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *FONT.get_or_init(|| {
        let env = std::env::var_os("TESTBED_FONT").map(PathBuf::from);
        let candidates = env.into_iter().chain(FONT_PATHS.iter().map(PathBuf::from));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // Leaked once per process: plotters keeps registered fonts for its lifetime.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    });
    if ok {
        Ok(())
    } else {
        Err(FigureError::NoFont(FONT_PATHS.join(", ")))
    }
}

/// Draws `p` into `path` (extension added from `fmt`); returns the file written.
pub fn draw(p: &Plot, path: &Path, fmt: Format) -> Result<PathBuf, FigureError> {
    ensure_font()?;
    let (w, h) = (1000u32, 600u32);
    let out = path.with_extension(match fmt {
        Format::Png => "png",
        Format::Svg => "svg",
    });
    let r = match fmt {
        Format::Png => draw_on(BitMapBackend::new(&out, (w, h)).into_drawing_area(), p),
        Format::Svg => draw_on(SVGBackend::new(&out, (w, h)).into_drawing_area(), p),
    };
    r.map_err(|msg| FigureError::Draw {
        file: out.display().to_string(),
        msg,
    })?;
    Ok(out)
}

fn read_csv_with_headers(
    path: &Path,
) -> Result<(csv::StringRecord, Vec<csv::StringRecord>), FigureError> {
    let ierr = |msg: String| FigureError::Input {
        file: path.display().to_string(),
        msg,
    };
    let mut r = csv::Reader::from_path(path).map_err(|e| ierr(e.to_string()))?;
    let head = r.headers().map_err(|e| ierr(e.to_string()))?.clone();
    let recs = r
        .records()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ierr(e.to_string()))?;
    Ok((head, recs))
}

fn read_csv(path: &Path) -> Result<Vec<csv::StringRecord>, FigureError> {
    let ierr = |msg: String| FigureError::Input {
        file: path.display().to_string(),
        msg,
    };
    let mut r = csv::Reader::from_path(path).map_err(|e| ierr(e.to_string()))?;
    r.records()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ierr(e.to_string()))
}

fn parse_f(path: &Path, s: &str) -> Result<f64, FigureError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(FigureError::Input {
            file: path.display().to_string(),
            msg: format!("expected a finite number, got `{s}`"),
        }),
    }
}

/// Time series of one run grouped by name: `{prefix: {suffix: points}}`.
type SeriesByName = BTreeMap<String, BTreeMap<String, Vec<(f64, f64)>>>;

fn series(dir: &Path) -> Result<SeriesByName, FigureError> {
    let path = dir.join("timeseries.csv");
    let mut m = SeriesByName::new();
    if !path.exists() {
        return Ok(m);
    }
    for rec in read_csv(&path)? {
        let (Some(t), Some(name), Some(v)) = (rec.get(0), rec.get(1), rec.get(2)) else {
            continue;
        };
        let t = parse_f(&path, t)? * 1e-9;
        let v = parse_f(&path, v)?;
        let (prefix, suffix) = series::split(name);
        m.entry(prefix.into())
            .or_default()
            .entry(suffix.into())
            .or_default()
            .push((t, v));
    }
    Ok(m)
}

fn summary(dir: &Path) -> Result<BTreeMap<String, String>, FigureError> {
    let path = dir.join("summary.csv");
    Ok(read_csv(&path)?
        .into_iter()
        .filter_map(|r| Some((r.get(0)?.to_owned(), r.get(1)?.to_owned())))
        .collect())
}

/// Makes the per-run figures of one results directory; returns the files written.
pub fn run_figures(dir: &Path, fmt: Format) -> Result<Vec<PathBuf>, FigureError> {
    let mut out = Vec::new();
    let ts = series(dir)?;
    let sum = summary(dir)?;
    let name = sum.get("scenario").cloned().unwrap_or_default();
    if let Some(cw) = ts.get(series::CWND_BYTES) {
        let series = cw
            .iter()
            .map(|(f, pts)| {
                (
                    format!("flow {f}"),
                    pts.iter().map(|&(t, v)| (t, v / 1e3)).collect(),
                )
            })
            .collect();
        let p = Plot {
            title: format!("{name}: congestion window"),
            x_label: "time (s)".into(),
            y_label: "cwnd (KB)".into(),
            series,
            hlines: Vec::new(),
            points: false,
            legend: SeriesLabelPosition::UpperRight,
        };
        out.push(draw(&p, &dir.join("cwnd"), fmt)?);
    }
    if let Some(qd) = ts.get(series::QDELAY_MS) {
        let series = qd
            .iter()
            .map(|(l, pts)| (format!("link {l}"), pts.clone()))
            .collect();
        let p = Plot {
            title: format!("{name}: queueing delay (backlog ÷ link rate at each sample)"),
            x_label: "time (s)".into(),
            y_label: "queueing delay (ms)".into(),
            series,
            hlines: Vec::new(),
            points: false,
            legend: SeriesLabelPosition::UpperRight,
        };
        out.push(draw(&p, &dir.join("qdelay"), fmt)?);
    }
    // FCT slowdown by flow-size bin (from the summary), the standard datacenter plot.
    let bins: Vec<(usize, &str)> = crate::runner::SIZE_BINS
        .iter()
        .enumerate()
        .filter(|(_, (b, _))| sum.contains_key(&format!("slowdown_p50/{b}")))
        .map(|(i, (b, _))| (i + 1, *b))
        .collect();
    if !bins.is_empty() {
        let get = |k: String| sum.get(&k).and_then(|v| v.parse::<f64>().ok());
        let mut series = Vec::new();
        let mut censored = Vec::new();
        for q in ["p50", "p99"] {
            let pts: Vec<(f64, f64)> = bins
                .iter()
                .filter_map(|(x, b)| Some((*x as f64, get(format!("slowdown_{q}/{b}"))?)))
                .collect();
            for (_, b) in &bins {
                if sum.contains_key(&format!("slowdown_{q}_censored/{b}")) {
                    censored.push(format!("{q} {b}"));
                }
            }
            series.push((format!("slowdown {q}"), pts));
        }
        let legend: Vec<String> = bins.iter().map(|(x, b)| format!("{x}: {b}")).collect();
        let mut title = format!("{name}: FCT slowdown by flow size");
        if !censored.is_empty() {
            title.push_str(&format!(
                " (lower bounds, unfinished flows: {})",
                censored.join(", ")
            ));
        }
        let p = Plot {
            title,
            x_label: format!("flow size bin ({})", legend.join(", ")),
            y_label: "FCT / ideal FCT".into(),
            series,
            hlines: vec![("ideal".into(), 1.0)],
            points: true,
            legend: SeriesLabelPosition::UpperLeft,
        };
        out.push(draw(&p, &dir.join("fct_slowdown"), fmt)?);
    }
    let flows_path = dir.join("flows.csv");
    if flows_path.exists() {
        let (head, recs) = read_csv_with_headers(&flows_path)?;
        let col = |name: &str| {
            head.iter()
                .position(|h| h == name)
                .ok_or_else(|| FigureError::Input {
                    file: flows_path.display().to_string(),
                    msg: format!("expected a `{name}` column"),
                })
        };
        let (size_col, fct_col) = (col("size_bytes")?, col("fct_s")?);
        // Sized flows only: bulk flows never complete. Unfinished sized flows are censored: the
        // CDF is over all sized flows, so it stops below 1 when some did not finish.
        let mut fct = Vec::new();
        let mut sized = 0usize;
        for r in &recs {
            if r.get(size_col).is_none_or(str::is_empty) {
                continue;
            }
            sized += 1;
            if let Some(v) = r.get(fct_col).filter(|v| !v.is_empty()) {
                fct.push(parse_f(&flows_path, v)?);
            }
        }
        fct.sort_by(f64::total_cmp);
        if fct.len() >= 2 {
            let n = sized as f64;
            let pts: Vec<(f64, f64)> = fct
                .iter()
                .enumerate()
                .map(|(i, &x)| (x * 1e3, (i + 1) as f64 / n))
                .collect();
            let unfinished = sized - fct.len();
            let title = if unfinished == 0 {
                format!(
                    "{name}: flow completion times (tail {:.3} ms)",
                    fct[fct.len() - 1] * 1e3
                )
            } else {
                format!(
                    "{name}: FCTs; {unfinished} of {sized} flows UNFINISHED (censored, CDF stops at {:.1}%)",
                    100.0 * fct.len() as f64 / n
                )
            };
            let p = Plot {
                title,
                x_label: "flow completion time (ms)".into(),
                y_label: "CDF over all sized flows".into(),
                series: vec![("finished flows".into(), pts)],
                hlines: Vec::new(),
                points: fct.len() <= 200,
                legend: SeriesLabelPosition::LowerRight,
            };
            out.push(draw(&p, &dir.join("fct_cdf"), fmt)?);
        }
    }
    Ok(out)
}

/// The figures [`sweep_figures`] draws into a sweep directory: `incast_tail.<ext>`, or with
/// many combinations of the other grid axes one `incast_tail-<combination>.<ext>` each.
pub const SWEEP_FIGURES: &[&str] = &["incast_tail"];

/// Whether a file name is one of the figures [`sweep_figures`] draws (see [`SWEEP_FIGURES`]).
pub fn is_sweep_figure(file_name: &str) -> bool {
    let Some((stem, ext)) = file_name.rsplit_once('.') else {
        return false;
    };
    (ext == "png" || ext == "svg")
        && SWEEP_FIGURES
            .iter()
            .any(|f| stem == *f || stem.starts_with(&format!("{f}-")))
}

/// One run of a sweep as `sweep.csv` has it: its overrides and summary rows.
struct SweepRun {
    params: Vec<(String, String)>,
    values: BTreeMap<String, String>,
}

/// The runs of `sweep.csv`, in file order (rows grouped by their `run` column).
fn sweep_runs(path: &Path) -> Result<Vec<SweepRun>, FigureError> {
    let mut runs: Vec<SweepRun> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for rec in read_csv(path)? {
        let (Some(run), Some(params), Some(key), Some(val)) =
            (rec.get(0), rec.get(1), rec.get(3), rec.get(4))
        else {
            continue;
        };
        let i = *index.entry(run.to_owned()).or_insert_with(|| {
            runs.push(SweepRun {
                params: params
                    .split(';')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect(),
                values: BTreeMap::new(),
            });
            runs.len() - 1
        });
        runs[i].values.insert(key.to_owned(), val.to_owned());
    }
    Ok(runs)
}

/// For a sweep directory (with `sweep.csv`) whose grid varies an incast's sender count (a key
/// ending in `senders`): the tail completion time against the number of senders, as the mean
/// over the seeds of each grid point, with one line per combination of the other grid axes
/// (labelled with it), beside the ideal (total bytes / bottleneck rate). Grid points with runs
/// whose completion span is censored (flows unfinished at the end) say so in their label: their
/// mean is a lower bound. With more than 4 combinations, one figure per combination.
pub fn sweep_figures(dir: &Path, fmt: Format) -> Result<Vec<PathBuf>, FigureError> {
    let path = dir.join("sweep.csv");
    if !path.exists() {
        return Ok(Vec::new());
    }
    incast_tail_plots(&path)?
        .iter()
        .map(|(stem, p)| draw(p, &dir.join(stem), fmt))
        .collect()
}

/// The plots [`sweep_figures`] draws from a `sweep.csv`, each with its file stem.
pub fn incast_tail_plots(path: &Path) -> Result<Vec<(String, Plot)>, FigureError> {
    let runs = sweep_runs(path)?;
    // The grid axes: keys whose value differs between runs, in the order they appear.
    let mut keys: Vec<String> = Vec::new();
    for r in &runs {
        for (k, _) in &r.params {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let value = |r: &SweepRun, k: &str| {
        r.params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.clone())
    };
    let axes: Vec<&String> = keys
        .iter()
        .filter(|k| {
            let first = runs.first().and_then(|r| value(r, k));
            runs.iter().any(|r| value(r, k) != first)
        })
        .collect();
    let Some(x_key) = axes.iter().find(|k| k.ends_with("senders")).copied() else {
        return Ok(Vec::new());
    };
    let others: Vec<&String> = axes.iter().copied().filter(|k| *k != x_key).collect();

    #[derive(Default)]
    struct Point {
        spans: Vec<f64>,
        ideals: Vec<f64>,
        censored: usize,
    }
    // Combination of the other axes -> senders -> the runs' values, in first-appearance order.
    let mut groups: Vec<(String, BTreeMap<u64, Point>)> = Vec::new();
    for r in &runs {
        let Some(n) = value(r, x_key).and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        let label = others
            .iter()
            .map(|k| format!("{k}={}", value(r, k).unwrap_or_else(|| "(unset)".into())))
            .collect::<Vec<_>>()
            .join(", ");
        let gi = match groups.iter().position(|(l, _)| *l == label) {
            Some(i) => i,
            None => {
                groups.push((label, BTreeMap::new()));
                groups.len() - 1
            }
        };
        let p = groups[gi].1.entry(n).or_default();
        if let Some(v) = r.values.get("completion_span_s") {
            p.spans.push(parse_f(path, v)? * 1e3);
            if r.values.get("completion_span_censored").map(String::as_str) == Some("true") {
                p.censored += 1;
            }
        }
        if let Some((_, v)) = r.values.iter().find(|(k, _)| k.starts_with("ideal_s/")) {
            p.ideals.push(parse_f(path, v)? * 1e3);
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    /// One combination of the other axes, with at least two sender counts.
    struct Line {
        label: String,
        tail: Vec<(f64, f64)>,
        ideal: Vec<(f64, f64)>,
        /// Runs whose completion span is a lower bound.
        censored: usize,
    }
    let lines: Vec<Line> = groups
        .iter()
        .map(|(label, pts)| {
            let tail = pts
                .iter()
                .filter_map(|(n, p)| Some((*n as f64, mean(&p.spans)?)))
                .collect::<Vec<_>>();
            let ideal = pts
                .iter()
                .filter_map(|(n, p)| Some((*n as f64, mean(&p.ideals)?)))
                .collect::<Vec<_>>();
            let censored = pts.values().map(|p| p.censored).sum();
            Line {
                label: label.clone(),
                tail,
                ideal,
                censored,
            }
        })
        .filter(|l| l.tail.len() >= 2)
        .collect();
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let tail_label = |label: &str, censored: usize| {
        let mut s = if label.is_empty() {
            "simulated tail (mean over seeds)".to_owned()
        } else {
            format!("tail, {label} (mean over seeds)")
        };
        if censored > 0 {
            s.push_str(&format!(
                ": {censored} run(s) with unfinished flows, lower bound"
            ));
        }
        s
    };
    let plot = |series: Vec<(String, Vec<(f64, f64)>)>, subtitle: &str| Plot {
        title: if subtitle.is_empty() {
            "incast: tail completion time vs. senders".into()
        } else {
            format!("incast: tail completion time vs. senders ({subtitle})")
        },
        x_label: "number of senders".into(),
        y_label: "completion time of the last flow (ms)".into(),
        series,
        hlines: Vec::new(),
        points: true,
        legend: SeriesLabelPosition::UpperLeft,
    };
    let ideal_label = "ideal: total bytes / bottleneck rate";
    if lines.len() <= 4 {
        let same_ideal = lines.windows(2).all(|w| w[0].ideal == w[1].ideal);
        let mut series = Vec::new();
        for l in &lines {
            series.push((tail_label(&l.label, l.censored), l.tail.clone()));
            if !same_ideal {
                series.push((format!("ideal, {}", l.label), l.ideal.clone()));
            }
        }
        if same_ideal {
            series.push((ideal_label.into(), lines[0].ideal.clone()));
        }
        return Ok(vec![(SWEEP_FIGURES[0].to_owned(), plot(series, ""))]);
    }
    let mut out = Vec::new();
    for Line {
        label,
        tail,
        ideal,
        censored,
    } in lines
    {
        let file: String = label
            .chars()
            .map(|c| {
                // No `.`: the extension is added after the last one.
                if c.is_ascii_alphanumeric() || "=-_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let series = vec![
            (tail_label("", censored), tail),
            (ideal_label.into(), ideal),
        ];
        out.push((format!("{}-{file}", SWEEP_FIGURES[0]), plot(series, &label)));
    }
    Ok(out)
}

/// Every results directory under `root` (those holding `summary.csv`), in path order.
pub fn find_runs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.join("summary.csv").is_file() {
            out.push(d.clone());
        }
        if let Ok(rd) = std::fs::read_dir(&d) {
            let mut subs: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                // Real directories only: a symlinked subdirectory is not followed.
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            subs.sort();
            stack.extend(subs.into_iter().rev());
        }
    }
    out.sort();
    out
}

/// All figures for `root`: per-run figures for every run found, plus sweep figures.
pub fn figures(root: &Path, fmt: Format) -> Result<Vec<PathBuf>, FigureError> {
    let runs = find_runs(root);
    let mut out = sweep_figures(root, fmt)?;
    for r in runs {
        out.extend(run_figures(&r, fmt)?);
    }
    if out.is_empty() {
        return Err(FigureError::Empty(root.display().to_string()));
    }
    Ok(out)
}

/// Every series of one run's `timeseries.csv` by full name (`cwnd_bytes/0`), as (seconds,
/// value) points in time order; empty without the file.
pub fn run_series(dir: &Path) -> Result<BTreeMap<String, Vec<(f64, f64)>>, FigureError> {
    let mut m: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (prefix, subs) in series(dir)? {
        for (suffix, pts) in subs {
            m.insert(series::name(&prefix, suffix), pts);
        }
    }
    Ok(m)
}

/// One run's `summary.csv` as a map.
pub fn run_summary(dir: &Path) -> Result<BTreeMap<String, String>, FigureError> {
    summary(dir)
}
