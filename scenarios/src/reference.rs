//! The scenario-file reference, generated from the config types so that it cannot drift from
//! what the loader accepts.
//!
//! [`Scenario`] and every type reachable from it derive [`schemars::JsonSchema`]: field names,
//! types, nesting and defaults come from the same serde attributes that parse scenario files,
//! descriptions from the doc comments. Each numeric field carries its unit in an `x-unit`
//! extension and the range that validation enforces as `minimum` / `maximum` /
//! `exclusiveMinimum` / `multipleOf`; constraints that involve other fields are spelled out in an
//! `x-constraint` extension. [`json`] is that schema (JSON Schema 2020-12), [`markdown`] a
//! human-readable reference built from it. `testbed schema` prints either; the committed copies
//! are `docs/scenario-schema.json` and `docs/scenario-reference.md`, and a test fails when they
//! differ from what this module generates.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::config::Scenario;

/// Where the committed JSON Schema lives, relative to the workspace root.
pub const JSON_PATH: &str = "docs/scenario-schema.json";
/// Where the committed Markdown reference lives, relative to the workspace root.
pub const MARKDOWN_PATH: &str = "docs/scenario-reference.md";
/// The command that regenerates both committed files (run from the workspace root).
pub const REGENERATE: &str = "cargo run --release -- schema --json --out docs/scenario-schema.json \
                              && cargo run --release -- schema --markdown --out docs/scenario-reference.md";

/// The JSON Schema of a scenario file, as a JSON value.
pub fn schema() -> Value {
    schemars::schema_for!(Scenario).to_value()
}

/// The JSON Schema of a scenario file, pretty-printed, with a final newline.
pub fn json() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).expect("a JSON value always serializes");
    s.push('\n');
    s
}

/// The type definitions (`$defs`) of `schema`.
fn defs(schema: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    schema
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// The name of the definition `s` refers to (`{"$ref": "#/$defs/Name"}`), if it is a reference.
pub fn ref_name(s: &Value) -> Option<&str> {
    s.get("$ref")?.as_str()?.strip_prefix("#/$defs/")
}

/// `s` without the `null` alternative of an optional value: `anyOf: [X, {type: null}]` gives
/// X; a `type: [T, "null"]` list is left as it is.
pub fn non_null(s: &Value) -> &Value {
    if let Some(alts) = s.get("anyOf").and_then(Value::as_array) {
        let rest: Vec<&Value> = alts
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if let [one] = rest[..] {
            return one;
        }
    }
    s
}

/// The `kind` tag value of a variant of an internally tagged enum, if `s` is one.
pub fn variant_tag(s: &Value) -> Option<&str> {
    s.get("properties")?.get("kind")?.get("const")?.as_str()
}

/// The alternatives of a definition that is an enum (`oneOf`), if it is one.
pub fn variants(s: &Value) -> Option<&Vec<Value>> {
    s.get("oneOf").and_then(Value::as_array)
}

/// What a definition is, for rendering.
enum Shape<'a> {
    /// A table with named fields.
    Struct,
    /// An internally tagged enum: tables told apart by `kind`.
    Tagged(&'a [Value]),
    /// A string from a fixed set of names.
    Names(Vec<(String, String)>),
    /// One of several definitions, told apart by their TOML type (an untagged enum:
    /// `anyOf` of references), with each alternative's description.
    Either(Vec<(&'a str, String)>),
}

fn shape(def: &Value) -> Shape<'_> {
    if let Some(alts) = def.get("anyOf").and_then(Value::as_array) {
        let refs: Vec<(&str, String)> = alts
            .iter()
            .filter_map(|a| Some((ref_name(a)?, description(a))))
            .collect();
        if refs.len() == alts.len() && refs.len() > 1 {
            return Shape::Either(refs);
        }
    }
    if let Some(vs) = variants(def) {
        if vs.iter().all(|v| variant_tag(v).is_some()) {
            return Shape::Tagged(vs);
        }
        return Shape::Names(
            vs.iter()
                .filter_map(|v| {
                    let name = v.get("const").and_then(Value::as_str)?;
                    Some((name.to_owned(), description(v)))
                })
                .collect(),
        );
    }
    if let Some(names) = def.get("enum").and_then(Value::as_array) {
        return Shape::Names(
            names
                .iter()
                .filter_map(Value::as_str)
                .map(|n| (n.to_owned(), String::new()))
                .collect(),
        );
    }
    Shape::Struct
}

/// A doc comment as one Markdown table cell: paragraphs joined by `<br>`, lines by spaces,
/// rustdoc links (`` [`x`] ``) as plain code, `|` escaped.
fn cell(text: &str) -> String {
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    let mut out = paragraphs.join("<br>");
    // `[`x`]` → `x` (intra-doc links do not resolve outside rustdoc).
    let mut plain = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("[`") {
        plain.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find("`]") {
            Some(j) if !after[1..j].contains('`') => {
                plain.push_str(&after[..=j]);
                rest = &after[j + 2..];
            }
            _ => {
                plain.push('[');
                rest = after;
            }
        }
    }
    plain.push_str(rest);
    out = plain.replace('|', "\\|");
    out
}

fn description(s: &Value) -> String {
    s.get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// A number as a reader writes it: integers without `.0`.
fn number(v: &Value) -> String {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e16 {
                    return format!("{}", f as i64);
                }
            }
            n.to_string()
        }
        other => other.to_string(),
    }
}

/// A JSON value as TOML (defaults): `"s"`, `1`, `true`, `[]`, `{ k = v }`; `null` is "unset".
fn toml_value(v: &Value) -> String {
    match v {
        Value::Null => "unset".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Number(_) => number(v),
        Value::Bool(b) => b.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => format!(
            "{{ {} }}",
            o.iter()
                .map(|(k, v)| format!("{k} = {}", toml_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// GitHub's anchor of a `## `Name`` heading.
fn anchor(name: &str) -> String {
    name.to_lowercase()
}

fn link(name: &str) -> String {
    format!("[`{name}`](#{})", anchor(name))
}

/// The Rust integer type schemars names in `format`.
fn int_format(s: &Value) -> Option<&'static str> {
    Some(match s.get("format")?.as_str()? {
        "uint8" => "u8",
        "uint16" => "u16",
        "uint32" => "u32",
        "uint64" => "u64",
        "uint" => "usize",
        "int8" => "i8",
        "int16" => "i16",
        "int32" => "i32",
        "int64" => "i64",
        "int" => "isize",
        _ => return None,
    })
}

/// The type column: TOML's type, the Rust integer width, or a link to a definition.
fn type_name(s: &Value, defs: &Map<String, Value>) -> String {
    let s = non_null(s);
    if let Some(r) = ref_name(s) {
        return match defs.get(r).map(shape) {
            Some(Shape::Names(_)) => format!("string ({})", link(r)),
            Some(Shape::Either(alts)) => {
                let kinds: Vec<&str> = alts
                    .iter()
                    .map(|(a, _)| match defs.get(*a).map(shape) {
                        Some(Shape::Names(_)) => "string",
                        _ => "table",
                    })
                    .collect();
                format!("{} ({})", kinds.join(" or "), link(r))
            }
            _ => format!("table ({})", link(r)),
        };
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("any"),
        _ => "any",
    };
    match ty {
        "integer" => match int_format(s) {
            Some(f) => format!("integer ({f})"),
            None => "integer".into(),
        },
        "number" => "number".into(),
        "boolean" => "bool".into(),
        "string" => "string".into(),
        "array" => match s.get("items") {
            Some(items) => match type_name(items, defs).strip_prefix("table ") {
                Some(def) => format!("array of tables {def}"),
                None => format!("array of {}", type_name(items, defs)),
            },
            None => "array".into(),
        },
        other => other.into(),
    }
}

/// The allowed-range column: bounds, `multipleOf`, string rules, enum names and `x-constraint`.
fn range(s: &Value, defs: &Map<String, Value>) -> String {
    let s = non_null(s);
    let mut parts = Vec::new();
    if let Some(r) = ref_name(s) {
        if let Some(Shape::Names(names)) = defs.get(r).map(shape) {
            parts.push(
                names
                    .iter()
                    .map(|(n, _)| format!("`{n:?}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
    }
    let lo = s
        .get("exclusiveMinimum")
        .map(|v| ("(", number(v)))
        .or_else(|| s.get("minimum").map(|v| ("[", number(v))));
    let hi = s
        .get("exclusiveMaximum")
        .map(|v| (")", number(v)))
        .or_else(|| s.get("maximum").map(|v| ("]", number(v))));
    match (lo, hi) {
        (Some((l, a)), Some((h, b))) => parts.push(format!("{l}{a}, {b}{h}")),
        (Some(("(", a)), None) => parts.push(format!("> {a}")),
        (Some((_, a)), None) => parts.push(format!("≥ {a}")),
        (None, Some((")", b))) => parts.push(format!("< {b}")),
        (None, Some((_, b))) => parts.push(format!("≤ {b}")),
        (None, None) => {}
    }
    if let Some(m) = s.get("multipleOf") {
        parts.push(format!("multiple of {}", number(m)));
    }
    if s.get("minLength").and_then(Value::as_u64) == Some(1) {
        parts.push("non-empty".into());
    } else if let Some(m) = s.get("minLength") {
        parts.push(format!("at least {} characters", number(m)));
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        parts.push(format!("matches `{p}`"));
    }
    if let Some(c) = s.get("x-constraint").and_then(Value::as_str) {
        parts.push(c.to_owned());
    }
    if parts.is_empty() {
        "any".into()
    } else {
        cell(&parts.join("; "))
    }
}

/// The default column: "required", "unset", the value as TOML, or "each field's default" for a
/// table (a test checks that such a default agrees with the defaults of the table's fields).
fn default(s: &Value, required: bool, defs: &Map<String, Value>) -> String {
    if required {
        return "required".into();
    }
    match s.get("default") {
        None | Some(Value::Null) => "unset".into(),
        Some(Value::Object(_))
            if ref_name(non_null(s))
                .and_then(|r| defs.get(r))
                .is_some_and(|d| matches!(shape(d), Shape::Struct)) =>
        {
            "each field's default".into()
        }
        Some(v) => format!("`{}`", toml_value(v)),
    }
}

/// One row per field of an object schema (the `kind` tag of a variant excluded).
fn field_table(out: &mut String, obj: &Value, defs: &Map<String, Value>) {
    let required: Vec<&str> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = obj.get("properties").and_then(Value::as_object) else {
        return;
    };
    let fields: Vec<(&String, &Value)> = props.iter().filter(|(k, _)| *k != "kind").collect();
    if fields.is_empty() {
        out.push_str("No fields besides `kind`.\n\n");
        return;
    }
    out.push_str("| field | type | unit: description | default | allowed range |\n");
    out.push_str("|---|---|---|---|---|\n");
    for (name, p) in fields {
        let unit = p
            .get("x-unit")
            .and_then(Value::as_str)
            .map_or(String::new(), |u| format!("**{u}**: "));
        let _ = writeln!(
            out,
            "| `{name}` | {} | {unit}{} | {} | {} |",
            type_name(p, defs),
            cell(&description(p)),
            default(p, required.contains(&name.as_str()), defs),
            range(p, defs),
        );
    }
    out.push('\n');
}

/// Definitions referenced by `s`, in the order they appear.
fn refs_in<'a>(s: &'a Value, found: &mut Vec<&'a str>) {
    match s {
        Value::Object(o) => {
            if let Some(r) = ref_name(s) {
                found.push(r);
            }
            for v in o.values() {
                refs_in(v, found);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs_in(v, found)),
        _ => {}
    }
}

/// Where each definition is used: for each definition, the types (in schema order) whose
/// fields hold it, each with those fields.
fn uses(schema: &Value) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    let mut uses: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    let mut owners: Vec<(&str, &Value)> = vec![("Scenario", schema)];
    for (name, d) in defs(schema) {
        owners.push((name, d));
    }
    for (owner, d) in owners {
        let mut objects = vec![d];
        objects.extend(variants(d).into_iter().flatten());
        for o in objects {
            let Some(props) = o.get("properties").and_then(Value::as_object) else {
                continue;
            };
            for (field, p) in props {
                let mut found = Vec::new();
                refs_in(p, &mut found);
                for r in found {
                    let list = uses.entry(r.to_owned()).or_default();
                    let at = match list.iter().position(|(o, _)| o == owner) {
                        Some(i) => i,
                        None => {
                            list.push((owner.to_owned(), Vec::new()));
                            list.len() - 1
                        }
                    };
                    if !list[at].1.contains(field) {
                        list[at].1.push(field.clone());
                    }
                }
            }
        }
    }
    uses
}

/// The definitions in reading order: depth first from the root, in field order.
fn reading_order(schema: &Value) -> Vec<String> {
    fn visit(name: &str, schema: &Value, order: &mut Vec<String>) {
        if order.iter().any(|o| o == name) {
            return;
        }
        order.push(name.to_owned());
        let Some(d) = defs(schema).get(name) else {
            return;
        };
        let mut found = Vec::new();
        refs_in(d, &mut found);
        for r in found {
            visit(r, schema, order);
        }
    }
    let mut order = Vec::new();
    let mut found = Vec::new();
    refs_in(schema, &mut found);
    // References from the root's own fields first (`$defs` itself holds references too).
    if let Some(props) = schema.get("properties") {
        let mut top = Vec::new();
        refs_in(props, &mut top);
        for r in top {
            visit(r, schema, &mut order);
        }
    }
    for r in found {
        visit(r, schema, &mut order);
    }
    order
}

/// The scenario-file reference as Markdown: one section per type, one table per table type or
/// `kind` variant (field, type, unit and description, default, allowed range).
pub fn markdown() -> String {
    let schema = schema();
    let defs = defs(&schema);
    let uses = uses(&schema);
    let mut out = String::new();
    let _ = write!(
        out,
        "# Scenario file reference\n\n\
         <!-- Generated by `testbed schema --markdown` from the config types; do not edit.\n     \
         Regenerate (a test fails until you do): {REGENERATE} -->\n\n\
         A scenario file is TOML. Its schema is generated from the Rust config types that parse it \
         (`{JSON_PATH}`, JSON Schema 2020-12); this page is generated from that schema, so it lists \
         exactly what the loader accepts. Unknown fields are an error everywhere.\n\n\
         - **type**: TOML's. A `number` field also takes an integer (`rate_mbps = 96`). TOML \
         integers are 64-bit signed, so no integer field takes more than 9223372036854775807 \
         whatever its Rust type. A table may be written as `[section]` or inline (`{{ k = v }}`); \
         a type with variants is chosen by its `kind` field.\n\
         - **unit**: what the number counts; the field name's suffix says the same \
         (`_us` microseconds, `_ms` milliseconds, `_s` seconds, `_mbps` 10^6 bit/s).\n\
         - **default**: the value taken when the field is absent; *required* fields have none; \
         *unset* means absent (the description says what that does).\n\
         - **allowed range**: what validation enforces (`testbed validate` reports the first \
         violation, naming the field): `[a, b]` inclusive, `(a, b]` excluding a. Constraints that \
         involve other fields are spelled out too; numbers must also be finite.\n\n\
         Sections: [`Scenario`](#scenario) (the top level), then every type it uses.\n\n"
    );
    let mut sections: Vec<(String, &Value)> = vec![("Scenario".into(), &schema)];
    for name in reading_order(&schema) {
        if let Some(d) = defs.get(&name) {
            sections.push((name, d));
        }
    }
    for (name, d) in sections {
        let _ = write!(out, "## `{name}`\n\n");
        if name == "Scenario" {
            out.push_str("The top level of a scenario file.\n\n");
        } else if let Some(u) = uses.get(&name) {
            let owners: Vec<String> = u
                .iter()
                .map(|(owner, fields)| {
                    let fields: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
                    format!("{} {}", link(owner), fields.join(", "))
                })
                .collect();
            let _ = write!(out, "Used by: {}.\n\n", owners.join("; "));
        }
        let desc = description(d);
        if !desc.is_empty() && name != "Scenario" {
            let _ = write!(out, "{}\n\n", cell(&desc).replace("<br>", "\n\n"));
        }
        match shape(d) {
            Shape::Struct => field_table(&mut out, d, defs),
            Shape::Names(names) => {
                out.push_str("A string, one of:\n\n| value | meaning |\n|---|---|\n");
                for (n, desc) in names {
                    let _ = writeln!(out, "| `{n:?}` | {} |", cell(&desc));
                }
                out.push('\n');
            }
            Shape::Either(alts) => {
                out.push_str("One of:\n\n| alternative | meaning |\n|---|---|\n");
                for (a, desc) in alts {
                    let _ = writeln!(out, "| {} | {} |", link(a), cell(&desc));
                }
                out.push('\n');
            }
            Shape::Tagged(vs) => {
                let kinds: Vec<String> = vs
                    .iter()
                    .filter_map(variant_tag)
                    .map(|t| format!("`{t:?}`"))
                    .collect();
                let _ = write!(
                    out,
                    "A table whose `kind` (required) is one of {}; the other fields depend on \
                     it.\n\n",
                    kinds.join(", ")
                );
                for v in vs {
                    let tag = variant_tag(v).unwrap_or_default();
                    let _ = write!(out, "### `{name}`: `kind = {tag:?}`\n\n");
                    let desc = description(v);
                    if !desc.is_empty() {
                        let _ = write!(out, "{}\n\n", cell(&desc).replace("<br>", "\n\n"));
                    }
                    field_table(&mut out, v, defs);
                }
            }
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
