//! The metrics recorder: named time series kept in memory and written as one long-format CSV
//! (`time_ns,series,value`), plus a helper that writes any serde records (e.g. per-flow results)
//! as CSV. Rows keep the order in which they were recorded, which is deterministic.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::time::SimTime;

/// Errors writing results.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The file could not be created or written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A record could not be serialized as CSV.
    #[error("cannot write {path}: {source}")]
    Csv {
        /// The file.
        path: String,
        /// The cause.
        source: csv::Error,
    },
}

/// Identifies one time series of a [`Recorder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeriesId(u32);

/// In-memory time series, in recording order.
#[derive(Default, Debug, Clone)]
pub struct Recorder {
    names: Vec<String>,
    index: BTreeMap<String, SeriesId>,
    rows: Vec<(SimTime, SeriesId, f64)>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of the series `name`, created on first use.
    pub fn series(&mut self, name: &str) -> SeriesId {
        if let Some(id) = self.index.get(name) {
            return *id;
        }
        let id = SeriesId(self.names.len() as u32);
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), id);
        id
    }

    /// Appends one sample.
    pub fn record(&mut self, id: SeriesId, t: SimTime, value: f64) {
        self.rows.push((t, id, value));
    }

    /// Number of samples recorded.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The samples of one series, in recording order.
    pub fn samples(&self, name: &str) -> Vec<(SimTime, f64)> {
        match self.index.get(name) {
            Some(id) => self
                .rows
                .iter()
                .filter(|r| r.1 == *id)
                .map(|r| (r.0, r.2))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Writes every sample as `time_ns,series,value` rows.
    pub fn write_csv(&self, path: &Path) -> Result<(), MetricsError> {
        let ps = path.display().to_string();
        let io = |source| MetricsError::Io {
            path: ps.clone(),
            source,
        };
        let f = std::fs::File::create(path).map_err(io)?;
        let mut w = std::io::BufWriter::new(f);
        writeln!(w, "time_ns,series,value").map_err(io)?;
        for (t, id, v) in &self.rows {
            writeln!(w, "{},{},{}", t.as_nanos(), self.names[id.0 as usize], v).map_err(io)?;
        }
        w.flush().map_err(io)
    }
}

/// Writes `records` as a CSV file with a header row taken from the record's field names.
pub fn write_records<T: Serialize>(path: &Path, records: &[T]) -> Result<(), MetricsError> {
    let ps = path.display().to_string();
    let mut w = csv::Writer::from_path(path).map_err(|source| MetricsError::Csv {
        path: ps.clone(),
        source,
    })?;
    for r in records {
        w.serialize(r).map_err(|source| MetricsError::Csv {
            path: ps.clone(),
            source,
        })?;
    }
    w.flush()
        .map_err(|source| MetricsError::Io { path: ps, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Flow {
        id: u32,
        fct_s: f64,
    }

    #[test]
    fn writes_long_format_series_and_records() {
        let dir = std::env::temp_dir().join(format!("simcore-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Recorder::new();
        let a = r.series("cwnd/0");
        let b = r.series("qdelay");
        assert_eq!(r.series("cwnd/0"), a);
        r.record(a, SimTime::from_nanos(5), 10.0);
        r.record(b, SimTime::from_nanos(6), 0.5);
        r.record(a, SimTime::from_nanos(7), 20.0);
        assert_eq!(
            r.samples("cwnd/0"),
            vec![
                (SimTime::from_nanos(5), 10.0),
                (SimTime::from_nanos(7), 20.0)
            ]
        );
        let p = dir.join("ts.csv");
        r.write_csv(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "time_ns,series,value\n5,cwnd/0,10\n6,qdelay,0.5\n7,cwnd/0,20\n"
        );
        let p2 = dir.join("flows.csv");
        write_records(&p2, &[Flow { id: 1, fct_s: 0.25 }]).unwrap();
        assert_eq!(std::fs::read_to_string(&p2).unwrap(), "id,fct_s\n1,0.25\n");
        std::fs::remove_dir_all(&dir).ok();
    }
}
