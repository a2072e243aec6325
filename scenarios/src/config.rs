//! Scenario files: the TOML schema, loading with `--set` overrides, and semantic validation.
//!
//! Every error names the file and the field (and, for syntax errors, the line and column) and
//! says what was expected. Relative data paths (`path` of a trace link, `cdf` of a workload) are
//! resolved against the scenario file's directory.
//!
//! The config types derive [`JsonSchema`]: [`crate::reference`] generates the scenario-file
//! reference from [`Scenario`]'s schema, with each field's unit (`x-unit`) and the range that
//! [`validate`] (and the topology and network builders) enforce, written as attributes next to
//! the fields; a test checks every bound against the validation code.

use std::path::{Path, PathBuf};

use netmodels::TopologyConfig;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use transport::TransportConfig;

use crate::workload::WorkloadConfig;

/// Errors loading or validating a scenario.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// TOML syntax or schema error (toml's message carries line, column and the field).
    #[error("{file}: {msg}")]
    Parse {
        /// The file.
        file: String,
        /// toml's message.
        msg: String,
    },
    /// A `--set key=value` override is malformed or names no field.
    #[error("--set {arg}: {msg}")]
    Override {
        /// The argument as given.
        arg: String,
        /// What is wrong.
        msg: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{file}: {field}: {msg}")]
    Invalid {
        /// The file.
        file: String,
        /// Dotted path of the field.
        field: String,
        /// What was expected.
        msg: String,
    },
}

/// One scenario file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name; results go to `results/<name>/` by default. Not empty, no `/` or `\`.
    #[schemars(length(min = 1), pattern(r"^[^/\\]*$"))]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Master seed of every random stream (overridden by `--seed`); a TOML integer, so at most
    /// 2^63 − 1.
    #[serde(default = "default_seed")]
    #[schemars(range(min = 0, max = i64::MAX), extend("x-unit" = "seed"))]
    pub seed: u64,
    /// Simulated seconds to run, in (0, 10^6].
    #[schemars(range(max = 1e6), extend("x-unit" = "s", "exclusiveMinimum" = 0))]
    pub duration_s: f64,
    /// End early once every sized flow has completed.
    #[serde(default)]
    pub stop_when_done: bool,
    /// The network.
    pub topology: TopologyConfig,
    /// Transport parameters shared by every flow.
    #[serde(default)]
    pub transport: TransportConfig,
    /// Traffic: a list of `[[workload]]` tables, whose flows are all added.
    #[serde(default)]
    pub workload: Vec<WorkloadConfig>,
    /// What to sample and write besides the always-written result files.
    #[serde(default)]
    pub output: OutputConfig,
}

fn default_seed() -> u64 {
    1
}

/// The `[output]` table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Interval of the time-series sampler in milliseconds: 0 turns time series off, else at
    /// least 0.001 ms, and at most 10^7 samples per series (`duration_s` / interval).
    #[serde(default = "default_sample_ms")]
    #[schemars(
        range(min = 0),
        extend(
            "x-unit" = "ms",
            "x-constraint" = "0 or ≥ 0.001; duration_s / interval ≤ 10^7"
        )
    )]
    pub sample_interval_ms: f64,
    /// Ports whose queue and utilization are sampled and summarized: `<link>` or
    /// `<link>:forward` (the link's forward direction), `<link>:reverse`; each an existing
    /// link, none listed twice. Empty (default): a dumbbell's `bottleneck`, a star's
    /// `receiver`, nothing for other topologies.
    #[serde(default)]
    #[schemars(extend("x-unit" = "link names"))]
    pub monitor_links: Vec<String>,
    /// Record each flow's cwnd and smoothed RTT in the time series. Unset: on for runs with at
    /// most 64 flows ([`crate::runner::AUTO_RECORD_FLOWS`]), off above (per-flow series of
    /// thousands of flows cost more than the simulation); the summary says which applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_flows: Option<bool>,
    /// Links (by name) to capture into pcap files (both directions); each an existing link,
    /// none listed twice.
    #[serde(default)]
    #[schemars(extend("x-unit" = "link names"))]
    pub pcap_links: Vec<String>,
}

fn default_sample_ms() -> f64 {
    10.0
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            sample_interval_ms: 10.0,
            monitor_links: Vec::new(),
            record_flows: None,
            pcap_links: Vec::new(),
        }
    }
}

/// Applies `key.path=value` to a TOML document. `value` is parsed as a TOML value (`4`, `0.5`,
/// `"reno"`, `true`); a bare word that is not valid TOML is taken as a string.
pub fn apply_override(doc: &mut toml::Value, arg: &str) -> Result<(), ScenarioError> {
    let err = |msg: &str| ScenarioError::Override {
        arg: arg.into(),
        msg: msg.into(),
    };
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| err("expected key.path=value"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(err("expected key.path=value, got an empty key"));
    }
    let value: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").ok_or_else(|| err("no value"))?,
        Err(_) => toml::Value::String(raw.trim().to_owned()),
    };
    let mut cur = doc;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        cur = match cur {
            toml::Value::Table(t) => {
                if last {
                    t.insert((*p).to_owned(), value);
                    return Ok(());
                }
                t.entry((*p).to_owned())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            toml::Value::Array(a) => {
                let idx: usize = p
                    .parse()
                    .map_err(|_| err(&format!("`{p}` indexes an array: expected a number")))?;
                let len = a.len();
                let slot = a
                    .get_mut(idx)
                    .ok_or_else(|| err(&format!("index {idx} out of range (array has {len})")))?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => return Err(err(&format!("`{p}`: the parent is not a table"))),
        };
    }
    Ok(())
}

/// Inside internally tagged sections (`kind = ...`), serde reports a bad value at the section's
/// header instead of at its field. Find the field: the first `key = <offending value>` line at
/// or after the reported position.
fn field_hint(text: &str, e: &toml::de::Error) -> Option<String> {
    let msg = e.message();
    let rest = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))?;
    let (what, _) = rest.split_once(", expected")?;
    let literal = if let Some(q) = what.find('"') {
        what[q..].to_owned()
    } else {
        what.split('`').nth(1)?.to_owned()
    };
    let start = e.span().map_or(0, |s| s.start);
    let first_line = text[..start.min(text.len())].lines().count().max(1);
    for (i, line) in text.lines().enumerate().skip(first_line - 1) {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.split('#').next().unwrap_or("").trim();
        if v == literal
            || v.starts_with(&format!("{literal},"))
            || line.contains(&format!("= {literal}"))
        {
            return Some(format!(
                "\n  the field at fault is `{}` (line {}: `{}`)",
                k.trim(),
                i + 1,
                line.trim()
            ));
        }
    }
    None
}

fn resolve_paths(v: &mut toml::Value, base: &Path) {
    match v {
        toml::Value::Table(t) => {
            for (k, val) in t.iter_mut() {
                if (k == "path" || k == "cdf") && val.is_str() {
                    if let Some(s) = val.as_str() {
                        let p = Path::new(s);
                        if p.is_relative() {
                            let joined = base.join(p);
                            *val = toml::Value::String(joined.to_string_lossy().into_owned());
                        }
                    }
                } else {
                    resolve_paths(val, base);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(|x| resolve_paths(x, base)),
        _ => {}
    }
}

/// A scenario as loaded: its parsed form, the file it came from, and its effective TOML text
/// (after overrides), which is written next to the results.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The scenario.
    pub scenario: Scenario,
    /// Where it came from.
    pub file: PathBuf,
    /// The effective scenario as TOML, re-runnable as is: overrides applied, data paths
    /// resolved (absolute when the file was loaded from disk), every default written out.
    pub effective_toml: String,
}

/// Parses scenario text. `file` names it in errors; `base` resolves relative data paths.
pub fn parse(
    text: &str,
    file: &str,
    base: &Path,
    overrides: &[String],
) -> Result<Loaded, ScenarioError> {
    let perr = |e: toml::de::Error| ScenarioError::Parse {
        file: file.into(),
        msg: e.to_string().trim_end().to_owned(),
    };
    let mut doc: toml::Value = toml::from_str::<toml::Table>(text)
        .map(toml::Value::Table)
        .map_err(perr)?;
    for o in overrides {
        apply_override(&mut doc, o)?;
    }
    let doc_text = toml::to_string(&doc).unwrap_or_default();
    // Schema errors come from text, so that toml can point at the line and column: the user's
    // own file when the error is already there, else the effective text after overrides.
    let schema_error = |t: &str, f: String, e: toml::de::Error| {
        let mut msg = e.to_string().trim_end().to_owned();
        if let Some(h) = field_hint(t, &e) {
            msg.push_str(&h);
        }
        ScenarioError::Parse { file: f, msg }
    };
    if let Err(e) = toml::from_str::<Scenario>(&doc_text) {
        if overrides.is_empty() {
            // The effective text is the file re-serialized: report against the file itself.
            let e = toml::from_str::<Scenario>(text).err().unwrap_or(e);
            return Err(schema_error(text, file.to_owned(), e));
        }
        return Err(match toml::from_str::<Scenario>(text) {
            Err(orig) if orig.message() == e.message() => schema_error(text, file.to_owned(), orig),
            _ => schema_error(&doc_text, format!("{file} (after --set overrides)"), e),
        });
    }
    let mut resolved = doc;
    resolve_paths(&mut resolved, base);
    let scenario: Scenario = resolved.try_into().map_err(perr)?;
    // Serialized from the parsed scenario: defaults explicit, paths resolved.
    let effective_toml = toml::to_string(&scenario).map_err(|e| ScenarioError::Parse {
        file: file.into(),
        msg: format!("cannot write the effective scenario: {e}"),
    })?;
    let loaded = Loaded {
        scenario,
        file: PathBuf::from(file),
        effective_toml,
    };
    validate(&loaded.scenario, file)?;
    Ok(loaded)
}

/// Reads and parses a scenario file.
pub fn load(path: &Path, overrides: &[String]) -> Result<Loaded, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: file.clone(),
        source,
    })?;
    // An absolute base, so the effective scenario written with results re-runs from anywhere.
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&text, &file, &base, overrides)
}

fn invalid(file: &str, field: &str, msg: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        file: file.into(),
        field: field.into(),
        msg: msg.into(),
    }
}

/// Checks what the schema cannot: ranges and cross-references.
pub fn validate(s: &Scenario, file: &str) -> Result<(), ScenarioError> {
    if !(s.duration_s.is_finite() && s.duration_s > 0.0 && s.duration_s <= 1e6) {
        return Err(invalid(
            file,
            "duration_s",
            format!(
                "expected a number of seconds in (0, 1e6], got {}",
                s.duration_s
            ),
        ));
    }
    let si = s.output.sample_interval_ms;
    if !(si.is_finite() && (si == 0.0 || si >= 0.001)) {
        return Err(invalid(
            file,
            "output.sample_interval_ms",
            format!("expected 0 (off) or at least 0.001 ms, got {si}"),
        ));
    }
    if s.name.is_empty() || s.name.contains(['/', '\\']) {
        return Err(invalid(
            file,
            "name",
            "expected a non-empty name without path separators",
        ));
    }
    s.transport
        .validate()
        .map_err(|e| invalid(file, "transport", e.to_string()))?;
    if si > 0.0 && s.duration_s / (si * 1e-3) > 1e7 {
        return Err(invalid(
            file,
            "output.sample_interval_ms",
            format!(
                "expected at most 10 million samples per series: {} s / {si} ms is {:.0}",
                s.duration_s,
                s.duration_s / (si * 1e-3)
            ),
        ));
    }
    for (i, w) in s.workload.iter().enumerate() {
        w.validate()
            .map_err(|msg| invalid(file, &format!("workload[{i}].{}", msg.0), msg.1))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_sets_nested_and_array_fields() {
        let mut v: toml::Value =
            toml::from_str::<toml::Table>("a = 1\n[t]\nx = \"s\"\n[[w]]\ncc = \"reno\"\n")
                .map(toml::Value::Table)
                .unwrap();
        apply_override(&mut v, "t.x=4").unwrap();
        apply_override(&mut v, "w.0.cc=cubic").unwrap();
        apply_override(&mut v, "new.k=0.5").unwrap();
        assert_eq!(v["t"]["x"].as_integer(), Some(4));
        assert_eq!(v["w"][0]["cc"].as_str(), Some("cubic"));
        assert_eq!(v["new"]["k"].as_float(), Some(0.5));
        let override_error = |v: &mut toml::Value, arg: &str| match apply_override(v, arg) {
            Err(ScenarioError::Override { arg: a, msg }) => {
                assert_eq!(a, arg);
                msg
            }
            other => panic!("{arg}: expected ScenarioError::Override, got {other:?}"),
        };
        assert_eq!(override_error(&mut v, "nokey"), "expected key.path=value");
        assert_eq!(
            override_error(&mut v, "w.9.cc=1"),
            "index 9 out of range (array has 1)"
        );
        assert_eq!(
            override_error(&mut v, "a.b=1"),
            "`b`: the parent is not a table"
        );
    }
}
