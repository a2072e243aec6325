//! Reading runs back for the recipes: series, binning, quantiles, CDFs.

use std::collections::BTreeMap;
use std::path::Path;

use super::ReproduceError;
use crate::figures::{run_series, run_summary};

/// A run's series by full name.
pub type Series = BTreeMap<String, Vec<(f64, f64)>>;

/// A run's series.
pub fn series(dir: &Path) -> Result<Series, ReproduceError> {
    Ok(run_series(dir)?)
}

/// One series of a run, or an error naming it.
pub fn get<'a>(s: &'a Series, name: &str, dir: &Path) -> Result<&'a [(f64, f64)], ReproduceError> {
    s.get(name).map(Vec::as_slice).ok_or_else(|| {
        ReproduceError::Analysis(format!(
            "{}: no `{name}` series in timeseries.csv",
            dir.display()
        ))
    })
}

/// A numeric summary value of a run.
pub fn summary_num(dir: &Path, key: &str) -> Result<f64, ReproduceError> {
    let s = run_summary(dir)?;
    s.get(key).and_then(|v| v.parse().ok()).ok_or_else(|| {
        ReproduceError::Analysis(format!(
            "{}: no numeric `{key}` in summary.csv",
            dir.display()
        ))
    })
}

/// Whether a run's summary has `key`.
pub fn summary_has(dir: &Path, key: &str) -> Result<bool, ReproduceError> {
    Ok(run_summary(dir)?.contains_key(key))
}

/// A run's `flows.csv`, opened for reading by column name; its errors name the file.
pub struct FlowsCsv {
    path: std::path::PathBuf,
    rd: csv::Reader<std::fs::File>,
    head: csv::StringRecord,
}

impl FlowsCsv {
    /// Opens `dir/flows.csv` and reads its header.
    pub fn open(dir: &Path) -> Result<Self, ReproduceError> {
        let path = dir.join("flows.csv");
        let err = |e: String| ReproduceError::Analysis(format!("{}: {e}", path.display()));
        let mut rd = csv::Reader::from_path(&path).map_err(|e| err(e.to_string()))?;
        let head = rd.headers().map_err(|e| err(e.to_string()))?.clone();
        Ok(FlowsCsv { path, rd, head })
    }

    /// An analysis error about this file.
    pub fn err(&self, e: impl std::fmt::Display) -> ReproduceError {
        ReproduceError::Analysis(format!("{}: {e}", self.path.display()))
    }

    /// The index of column `name`.
    pub fn col(&self, name: &str) -> Result<usize, ReproduceError> {
        self.head
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| self.err(format!("no `{name}` column")))
    }

    /// The rows, in file order.
    pub fn rows(&mut self) -> Result<Vec<csv::StringRecord>, ReproduceError> {
        let path = &self.path;
        self.rd
            .records()
            .map(|r| r.map_err(|e| ReproduceError::Analysis(format!("{}: {e}", path.display()))))
            .collect()
    }
}

/// The sum of a numeric column of a run's `flows.csv` (empty cells count 0).
pub fn flows_column_sum(dir: &Path, column: &str) -> Result<f64, ReproduceError> {
    let mut f = FlowsCsv::open(dir)?;
    let col = f.col(column)?;
    Ok(f.rows()?
        .iter()
        .map(|r| {
            r.get(col)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        })
        .sum())
}

/// The value of `name` in the `cc_state` cell (`name=value;...`: what the controller's
/// algorithm exports) of flow `flow` in a run's `flows.csv`; an error naming the file when
/// the flow or the value is missing.
pub fn flow_cc_state(dir: &Path, flow: u32, name: &str) -> Result<f64, ReproduceError> {
    let mut f = FlowsCsv::open(dir)?;
    let (fc, sc) = (f.col("flow")?, f.col("cc_state")?);
    let rows = f.rows()?;
    let row = rows
        .iter()
        .find(|r| r.get(fc).and_then(|v| v.parse::<u32>().ok()) == Some(flow))
        .ok_or_else(|| f.err(format!("no flow {flow}")))?;
    let cell = row.get(sc).unwrap_or("");
    cell.split(';')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse::<f64>().ok())
        .ok_or_else(|| {
            f.err(format!(
                "flow {flow} exports no `{name}` (cc_state `{cell}`)"
            ))
        })
}

/// Rate (Mbit/s) per `bin_s` bin from a cumulative byte counter sampled over time: the
/// counter's increase between the last samples at or before successive bin ends. Points are at
/// bin ends.
pub fn rate_mbps(cumulative: &[(f64, f64)], bin_s: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let Some(&(t_first, _)) = cumulative.first() else {
        return out;
    };
    // Bins are aligned to multiples of bin_s; the first starts at the first sample's bin.
    let mut edge = (t_first / bin_s).floor() * bin_s + bin_s;
    let mut prev: Option<f64> = None;
    let mut last = 0.0;
    let mut i = 0;
    while i < cumulative.len() {
        let (t, v) = cumulative[i];
        if t <= edge + 1e-9 {
            last = v;
            i += 1;
            continue;
        }
        if let Some(p) = prev {
            out.push((edge, (last - p) * 8.0 / bin_s / 1e6));
        }
        prev = Some(last);
        edge += bin_s;
    }
    if let Some(p) = prev {
        out.push((edge, (last - p) * 8.0 / bin_s / 1e6));
    }
    out
}

/// Mean of the samples in each `bin_s` bin (aligned to multiples of `bin_s`), at bin ends.
pub fn binned_mean(pts: &[(f64, f64)], bin_s: f64) -> Vec<(f64, f64)> {
    let mut bins: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
    for &(t, v) in pts {
        // A sample at a bin's end belongs to it (samples are taken at the end of intervals).
        let k = ((t - 1e-9) / bin_s).floor() as i64;
        let e = bins.entry(k).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    }
    bins.into_iter()
        .map(|(k, (s, n))| ((k + 1) as f64 * bin_s, s / n as f64))
        .collect()
}

/// The `q`-quantile (0..=1) by linear interpolation; NaN for no data.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// The median.
pub fn median(v: &[f64]) -> f64 {
    quantile(v, 0.5)
}

/// The mean; NaN for no data.
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The empirical CDF of `v` as at most `max_points` (value, fraction) points (quantiles at
/// evenly spaced fractions, plus the extremes), for drawing.
pub fn cdf(v: &[f64], max_points: usize) -> Vec<(f64, f64)> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return Vec::new();
    }
    let k = max_points.clamp(2, n.max(2));
    let mut out = Vec::with_capacity(k + 1);
    out.push((s[0], 0.0));
    for j in 1..=k {
        let idx = ((j as f64 / k as f64) * n as f64).ceil() as usize;
        let idx = idx.clamp(1, n);
        out.push((s[idx - 1], idx as f64 / n as f64));
    }
    out
}

/// Time-average of a sampled series (mean of its samples, which are evenly spaced).
pub fn time_mean(pts: &[(f64, f64)]) -> f64 {
    mean(&pts.iter().map(|p| p.1).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_from_a_cumulative_counter() {
        // 1250 bytes every 1 ms = 10 Mbit/s, sampled every 10 ms, binned at 100 ms.
        let pts: Vec<(f64, f64)> = (1..=100)
            .map(|i| (i as f64 * 0.01, i as f64 * 12_500.0))
            .collect();
        let r = rate_mbps(&pts, 0.1);
        assert_eq!(r.len(), 9, "{r:?}");
        for (_, v) in &r {
            assert!((v - 10.0).abs() < 1e-6, "{r:?}");
        }
    }

    #[test]
    fn quantiles_bins_and_cdfs() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(quantile(&[0.0, 10.0], 0.25), 2.5);
        assert!(median(&[]).is_nan());
        let b = binned_mean(&[(0.01, 1.0), (0.1, 3.0), (0.11, 5.0)], 0.1);
        assert_eq!(b, vec![(0.1, 2.0), (0.2, 5.0)]);
        let c = cdf(&[1.0, 2.0, 3.0, 4.0], 4);
        assert_eq!(c.first(), Some(&(1.0, 0.0)));
        assert_eq!(c.last(), Some(&(4.0, 1.0)));
    }
}
