//! The scenario-file reference (issue 10, item 14): the committed `docs/scenario-schema.json`
//! and `docs/scenario-reference.md` are what the config types generate; every key of every
//! shipped scenario is in the schema; every field is documented, with a unit when it is a
//! number; the schema's defaults are the values the loader fills in; and every bound the schema
//! states is one the validation enforces, with an error naming the field.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use scenarios::config::{parse, Scenario};
use scenarios::reference::{
    json, markdown, non_null, ref_name, schema, variant_tag, variants, JSON_PATH, MARKDOWN_PATH,
    REGENERATE,
};
use serde_json::Value;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn workspace_root() -> PathBuf {
    scenarios_dir()
        .parent()
        .expect("the scenarios crate sits in the workspace")
        .to_path_buf()
}

/// The scenario files shipped in scenarios/ (found on disk, so a new one cannot be missed).
fn shipped() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let n = p.file_name()?.to_str()?.to_owned();
            (n.ends_with(".toml") && n != "Cargo.toml").then_some(p)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    files
}

/// Scenarios written for these tests: together with the shipped ones they use every `kind` of
/// every type and set every optional field, so every field of the schema is exercised.
const EXTRA: &[(&str, &str)] = &[
    (
        "red-codel-bulk-incast",
        r#"
name = "red-codel-bulk-incast"
duration_s = 1.0
[topology]
kind = "dumbbell"
pairs = 2
[topology.bottleneck]
link = { kind = "fixed", rate_mbps = 100.0 }
delay_us = 1000.0
loss = 0.001
queue = { kind = "red", limit_packets = 100, limit_bytes = 150000, min_th_packets = 5.0, max_th_packets = 15.0, mean_pkt_time_us = 120.0 }
reverse = { link = { kind = "fixed", rate_mbps = 100.0 }, delay_us = 1000.0, loss = 0.001, queue = { kind = "codel", limit_packets = 100, limit_bytes = 150000 } }
[topology.access]
link = { kind = "fixed", rate_mbps = 1000.0 }
[topology.middlebox]
program = { kind = "forward" }
link = { link = { kind = "fixed", rate_mbps = 1000.0 } }
[transport]
delayed_ack_us = 40000.0
[[workload]]
kind = "bulk"
cc = "cubic"
flows = 2
size_bytes = 100000
stagger_s = 0.01
flows_per_pair = 2
duration_s = 0.5
priority = 1
[[workload]]
kind = "incast"
cc = "reno"
packets_per_sender = 10
senders = 2
start_s = 0.5
[[workload]]
kind = "cdf"
cc = "reno"
cdf = "data/websearch.cdf"
load = 0.1
stop_s = 0.5
[output]
record_flows = true
pcap_links = ["bottleneck"]
monitor_links = ["bottleneck:reverse"]
"#,
    ),
    (
        "sfq-priority-stepbytes",
        r#"
name = "sfq-priority-stepbytes"
duration_s = 1.0
[topology]
kind = "star"
senders = 3
[topology.link]
link = { kind = "fixed", rate_mbps = 1000.0 }
queue = { kind = "priority", limit_packets = 100, limit_bytes = 150000 }
[topology.receiver_link]
link = { kind = "fixed", rate_mbps = 1000.0 }
queue = { kind = "sfq", limit_packets = 100, limit_bytes = 150000 }
reverse = { link = { kind = "fixed", rate_mbps = 1000.0 }, queue = { kind = "step_mark", limit_bytes = 150000, k_bytes = 30000 } }
[transport]
[[workload]]
kind = "incast"
cc = "dctcp"
packets_per_sender = 10
[output]
"#,
    ),
    (
        "drop-head-leaf-spine",
        r#"
name = "drop-head-leaf-spine"
duration_s = 0.1
[topology]
kind = "leaf_spine"
leaves = 2
spines = 1
hosts_per_leaf = 2
[topology.host_link]
link = { kind = "fixed", rate_mbps = 1000.0 }
queue = { kind = "drop_head", limit_packets = 100, limit_bytes = 150000 }
[topology.fabric_link]
link = { kind = "fixed", rate_mbps = 1000.0 }
queue = { kind = "drop_tail", limit_packets = 100, limit_bytes = 150000 }
[[workload]]
kind = "bulk"
cc = "reno"
"#,
    ),
];

/// Every scenario the tests walk: (name, text).
fn all_scenarios() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = shipped()
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    all.extend(
        EXTRA
            .iter()
            .map(|(n, t)| (format!("{n}.toml"), (*t).to_owned())),
    );
    all
}

fn defs(root: &Value) -> &serde_json::Map<String, Value> {
    root["$defs"].as_object().expect("the schema has $defs")
}

/// `s` with `$ref` followed and the `null` alternative of an optional value dropped.
fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    let s = non_null(s);
    match ref_name(s) {
        Some(r) => resolve(root, &defs(root)[r]),
        None => s,
    }
}

/// The object schema that describes `table`: `s` itself, or the variant its `kind` picks.
fn object_for<'a>(root: &'a Value, s: &'a Value, table: &toml::Table) -> Option<&'a Value> {
    let s = resolve(root, s);
    // An untagged choice (`anyOf` of references, e.g. a name or a table): the table's
    // alternative is the one with properties.
    if let Some(alts) = s.get("anyOf").and_then(Value::as_array) {
        let tables: Vec<&Value> = alts
            .iter()
            .map(|a| resolve(root, a))
            .filter(|a| {
                a.get("properties").is_some()
                    || variants(a).is_some_and(|vs| vs.iter().all(|v| variant_tag(v).is_some()))
            })
            .collect();
        if let [one] = tables[..] {
            return object_for(root, one, table);
        }
    }
    match variants(s) {
        Some(vs) => {
            let kind = table.get("kind")?.as_str()?;
            vs.iter().find(|v| variant_tag(v) == Some(kind))
        }
        None => Some(s),
    }
}

/// A name for a field of the schema that stays the same wherever the field is used:
/// `Type.field` or `Type.kind.field`.
fn field_id(root: &Value, owner: &Value, field: &str) -> String {
    if std::ptr::eq(owner, root) {
        return format!("Scenario.{field}");
    }
    for (name, d) in defs(root) {
        if std::ptr::eq(owner, d) {
            return format!("{name}.{field}");
        }
        for v in variants(d).into_iter().flatten() {
            if std::ptr::eq(owner, v) {
                return format!("{name}.{}.{field}", variant_tag(v).unwrap_or("?"));
            }
        }
    }
    format!("?.{field}")
}

/// Every key path of `v` (a scenario document), with the schema of the value there and the id
/// of the field; keys the schema does not have go to `missing`.
fn walk<'a>(
    root: &'a Value,
    s: &'a Value,
    v: &toml::Value,
    path: &str,
    leaves: &mut Vec<(String, String, &'a Value, toml::Value)>,
    missing: &mut Vec<String>,
) {
    match v {
        toml::Value::Table(t) => {
            let free_form = resolve(root, s);
            if free_form.get("properties").is_none()
                && free_form.get("additionalProperties").is_some()
            {
                // A map with free keys (e.g. a CCP algorithm's parameters, which the
                // algorithm validates by name).
                return;
            }
            let Some(obj) = object_for(root, s, t) else {
                missing.push(format!(
                    "{path} (no variant for kind = {:?})",
                    t.get("kind")
                ));
                return;
            };
            for (k, val) in t {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match obj.get("properties").and_then(|ps| ps.get(k)) {
                    Some(ps) => {
                        if !matches!(val, toml::Value::Table(_) | toml::Value::Array(_)) {
                            leaves.push((p.clone(), field_id(root, obj, k), ps, val.clone()));
                        }
                        walk(root, ps, val, &p, leaves, missing);
                    }
                    None => missing.push(p),
                }
            }
        }
        toml::Value::Array(a) => {
            let items = resolve(root, s).get("items");
            for (i, x) in a.iter().enumerate() {
                match items {
                    Some(it) => walk(root, it, x, &format!("{path}.{i}"), leaves, missing),
                    None => missing.push(format!("{path}.{i}")),
                }
            }
        }
        _ => {}
    }
}

fn parse_text(name: &str, text: &str, overrides: &[String]) -> Result<Scenario, String> {
    let loaded = parse(text, name, &scenarios_dir(), overrides).map_err(|e| e.to_string())?;
    scenarios::runner::build(&loaded.scenario, name, None).map_err(|e| e.to_string())?;
    Ok(loaded.scenario)
}

#[test]
fn committed_reference_matches_the_config_types() {
    let root = workspace_root();
    for (path, generated) in [(JSON_PATH, json()), (MARKDOWN_PATH, markdown())] {
        let committed = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        if committed != generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(committed.lines().count().min(generated.lines().count()));
            panic!(
                "{path} is out of date with the scenario config types (first difference at line \
                 {}). Regenerate it from the workspace root with:\n    {REGENERATE}",
                line + 1
            );
        }
    }
    // The CLI prints the same text.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(["schema", "--markdown"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), markdown());
}

#[test]
fn every_key_of_every_scenario_is_in_the_schema() {
    let root = schema();
    for (name, text) in all_scenarios() {
        let loaded = parse(&text, &name, &scenarios_dir(), &[]).unwrap_or_else(|e| panic!("{e}"));
        // The file as written, and the effective scenario with every default written out.
        for doc in [text.as_str(), loaded.effective_toml.as_str()] {
            let v = toml::Value::Table(toml::from_str(doc).unwrap());
            let (mut leaves, mut missing) = (Vec::new(), Vec::new());
            walk(&root, &root, &v, "", &mut leaves, &mut missing);
            assert!(
                missing.is_empty(),
                "{name}: keys the schema (and so docs/scenario-reference.md) does not list: \
                 {missing:?}"
            );
        }
    }
}

/// Every field (object property other than a `kind` tag) of `root`, with its id.
fn all_fields(root: &Value) -> Vec<(String, &Value, &Value)> {
    let mut objects: Vec<&Value> = vec![root];
    for d in defs(root).values() {
        objects.push(d);
        objects.extend(variants(d).into_iter().flatten());
    }
    let mut fields = Vec::new();
    for o in objects {
        for (k, p) in o
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if k != "kind" {
                fields.push((field_id(root, o, k), o, p));
            }
        }
    }
    fields
}

fn is_numeric(root: &Value, p: &Value) -> bool {
    let p = resolve(root, p);
    let ty = |t: &str| match p.get("type") {
        Some(Value::String(s)) => s == t,
        Some(Value::Array(a)) => a.iter().any(|x| x == t),
        _ => false,
    };
    ty("number") || ty("integer") || p.get("items").is_some_and(|i| is_numeric(root, i))
}

#[test]
fn every_field_has_a_description_a_unit_if_numeric_and_a_default_if_optional() {
    let root = schema();
    let mut problems = Vec::new();
    for (id, owner, p) in all_fields(&root) {
        let desc = p.get("description").and_then(Value::as_str).unwrap_or("");
        if desc.trim().is_empty() {
            problems.push(format!("{id}: no doc comment"));
        }
        if is_numeric(&root, p) && p.get("x-unit").is_none() {
            problems.push(format!("{id}: a number without `x-unit`"));
        }
        let field = id.rsplit('.').next().unwrap();
        let required = owner["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == field));
        // An optional field either has a default or is an Option (absent = unset).
        let nullable = p.get("default").is_some()
            || p["type"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == "null"))
            || p["anyOf"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["type"] == "null"));
        if !required && !nullable {
            problems.push(format!("{id}: optional without a default"));
        }
    }
    // Unknown fields are rejected everywhere.
    let mut objects = vec![&root];
    for d in defs(&root).values() {
        objects.extend(variants(d).into_iter().flatten());
        if variants(d).is_none() && d.get("properties").is_some() {
            objects.push(d);
        }
    }
    for o in objects {
        if o.get("properties").is_some() && o["additionalProperties"] != Value::Bool(false) {
            problems.push(format!("{}: unknown fields not rejected", o["title"]));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // A description that quotes a constant keeps the constant's value.
    let rf = root["$defs"]["OutputConfig"]["properties"]["record_flows"]["description"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let auto = scenarios::runner::AUTO_RECORD_FLOWS;
    assert!(rf.contains(&format!("at most {auto} flows")), "{rf}");
}

/// Checks `instance` (a parsed scenario, as JSON) against the schema's defaults: every field
/// the source document left out has the schema's default (absent or `null` for unset).
fn check_defaults(
    root: &Value,
    s: &Value,
    instance: &Value,
    written: Option<&toml::Value>,
    path: &str,
    problems: &mut Vec<String>,
) {
    let s = resolve(root, s);
    match instance {
        Value::Object(inst) => {
            let obj = match variants(s) {
                Some(vs) => {
                    let kind = inst.get("kind").and_then(Value::as_str);
                    match vs.iter().find(|v| variant_tag(v) == kind) {
                        Some(v) => v,
                        None => return,
                    }
                }
                None => s,
            };
            let Some(props) = obj.get("properties").and_then(Value::as_object) else {
                return;
            };
            for (k, p) in props {
                let given = written.and_then(|w| w.get(k));
                let value = inst.get(k).unwrap_or(&Value::Null);
                let p_path = format!("{path}.{k}");
                if given.is_none() {
                    if let Some(d) = p.get("default") {
                        if d != value {
                            problems.push(format!(
                                "{p_path}: the schema says default {d}, the loader fills in {value}"
                            ));
                        }
                    }
                }
                check_defaults(root, p, value, given, &p_path, problems);
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items") {
                for (i, x) in a.iter().enumerate() {
                    let w = written.and_then(|w| w.as_array()).and_then(|w| w.get(i));
                    check_defaults(root, items, x, w, &format!("{path}.{i}"), problems);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn schema_defaults_are_the_values_the_loader_fills_in() {
    let root = schema();
    let mut problems = Vec::new();
    for (name, text) in all_scenarios() {
        let written = toml::Value::Table(toml::from_str(&text).unwrap());
        let s: Scenario = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let inst = serde_json::to_value(&s).unwrap();
        check_defaults(&root, &root, &inst, Some(&written), &name, &mut problems);
    }
    // A table's default ("each field's default" in the reference) agrees with its fields'.
    for (id, _, p) in all_fields(&root) {
        let (Some(Value::Object(d)), Some(r)) = (p.get("default"), ref_name(non_null(p))) else {
            continue;
        };
        let Some(props) = defs(&root)[r].get("properties") else {
            continue;
        };
        for (k, v) in d {
            if let Some(fd) = props[k].get("default") {
                if fd != v {
                    problems.push(format!(
                        "{id}: an absent table gives {k} = {v}, an absent {k} gives {fd}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A bound, and values just inside and just outside it.
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn of(v: &Value, integer: bool) -> Option<Num> {
        if integer {
            let i = v.as_i64().map(i128::from).or(v.as_u64().map(i128::from))?;
            Some(Num::Int(i))
        } else {
            v.as_f64().map(Num::Float)
        }
    }
    /// The value `n` steps of the smallest relevant size away (1 for integers).
    fn nudge(self, n: i8) -> Num {
        match self {
            Num::Int(i) => Num::Int(i + i128::from(n)),
            Num::Float(f) => {
                let step = if f == 0.0 { 1e-9 } else { f.abs() * 1e-6 };
                Num::Float(f + f64::from(n) * step)
            }
        }
    }
    /// As a TOML literal.
    fn literal(self) -> String {
        match self {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => format!("{f:?}"),
        }
    }
}

/// Bounds a field cannot reach alone in these scenarios because another field's value stands
/// in the way (the schema says so in the field's `x-constraint`): (field id suffix and bound,
/// why). Past these bounds the value is still checked to be an error naming the field.
const NOT_ALONE: &[(&str, &str)] = &[
    (
        ".limit_bytes minimum",
        "a byte limit must hold one full-sized packet (MSS + 40 bytes)",
    ),
    (
        "red.limit_packets minimum",
        "must be at least max_th_packets",
    ),
    ("step_mark.limit_packets minimum", "must exceed k_packets"),
    (
        "TransportConfig.max_rto_s minimum",
        "must be at least min_rto_us",
    ),
    (
        "cdf.max_flows minimum",
        "must admit every flow that arrives",
    ),
];

#[test]
fn schema_bounds_are_the_ones_validation_enforces() {
    let root = schema();
    let mut tried: BTreeSet<String> = BTreeSet::new();
    let mut problems = Vec::new();
    for (name, text) in all_scenarios() {
        let loaded = parse(&text, &name, &scenarios_dir(), &[]).unwrap_or_else(|e| panic!("{e}"));
        // Overrides go onto the effective scenario, where every default is written out.
        let text = loaded.effective_toml;
        let v = toml::Value::Table(toml::from_str(&text).unwrap());
        let (mut leaves, mut missing) = (Vec::new(), Vec::new());
        walk(&root, &root, &v, "", &mut leaves, &mut missing);
        for (path, id, s, _) in leaves {
            let s = resolve(&root, s);
            let integer = s["type"] == "integer"
                || s["type"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == "integer"));
            let key = path.rsplit('.').next().unwrap();
            let num = |k: &str| s.get(k).and_then(|v| Num::of(v, integer));
            // (which bound, a value inside it, a value outside it)
            let mut cases = Vec::new();
            if let Some(m) = num("minimum") {
                cases.push(("minimum", m, m.nudge(-1)));
                if let (Some(Num::Int(k)), Num::Int(lo)) = (num("multipleOf"), m) {
                    cases.push(("multipleOf", m, Num::Int(lo + k / 2)));
                }
            }
            if let Some(m) = num("exclusiveMinimum") {
                cases.push(("exclusiveMinimum", m.nudge(1), m));
            }
            if let Some(m) = num("maximum") {
                cases.push(("maximum", m, m.nudge(1)));
            }
            for (bound, inside, outside) in cases {
                if !tried.insert(format!("{id} {bound}")) {
                    continue;
                }
                let set = |x: Num| vec![format!("{path}={}", x.literal())];
                // A value past the bound is an error that names the field.
                match parse_text(&name, &text, &set(outside)) {
                    Ok(_) => problems.push(format!(
                        "{name}: {path} = {} (past its {bound}) is accepted",
                        outside.literal()
                    )),
                    Err(e) if !e.contains(key) => problems.push(format!(
                        "{name}: {path} = {} (past its {bound}): the error does not name \
                         `{key}`: {e}",
                        outside.literal()
                    )),
                    Err(_) => {}
                }
                // The bound itself is allowed: no error blames this field (errors about other
                // fields that a value here makes inconsistent are fine).
                let alone = !NOT_ALONE
                    .iter()
                    .any(|(f, _)| format!("{id} {bound}").ends_with(f));
                if alone {
                    if let Err(e) = parse_text(&name, &text, &set(inside)) {
                        if e.contains(key) {
                            problems.push(format!(
                                "{name}: {path} = {} (its {bound}) is rejected: {e}",
                                inside.literal()
                            ));
                        }
                    }
                }
            }
        }
    }
    // Every bound of every field was tried.
    for (id, _, p) in all_fields(&root) {
        let p = resolve(&root, p);
        for bound in ["minimum", "exclusiveMinimum", "maximum", "multipleOf"] {
            if p.get(bound).is_some() && !tried.contains(&format!("{id} {bound}")) {
                problems.push(format!(
                    "{id}: its {bound} is not tried (no scenario here sets the field)"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
