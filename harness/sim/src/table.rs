//! Server-side printing: `meta.k8s.io/v1` `Table` responses, which
//! `kubectl get` asks for with `Accept: application/json;as=Table;...`.
//!
//! Custom kinds print a `Name` column followed by their CRD's
//! `additionalPrinterColumns`; a CRD without columns gets `Age`, as
//! apiextensions-apiserver does (so a kind that declares columns has no AGE
//! column unless it declares one). Built-in kinds use ports of the API
//! server's printers for pods, deployments, replicasets, services,
//! configmaps, secrets, events, namespaces, nodes, jobs, service accounts and
//! CRDs (wide columns included, with priority 1); other built-ins print
//! `Name` and `Age`. Ages are measured from the simulator's virtual now, with
//! the API server's `HumanDuration` rounding.
//!
//! JSONPath support is the subset printer columns use: `.a.b`, `.a[0].b`,
//! `.a[*].b` (first match), `['dotted.key']` and filters
//! `[?(@.type=="Ready")]` with `==`/`!=` on strings, numbers and booleans.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{clock::SimTime, resource::ResourceType};

/// Which object each row carries, from the `includeObject` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` (the API server's default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses `None`, `Metadata` or `Object`.
    pub fn parse(text: &str) -> Option<IncludeObject> {
        match text {
            "None" => Some(IncludeObject::None),
            "Metadata" => Some(IncludeObject::Metadata),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Header, e.g. `Name` (kubectl upper-cases it).
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// Format hint, e.g. `name` for the primary column.
    pub format: String,
    /// Column description.
    pub description: String,
    /// 0 for default output, 1 for `-o wide` only.
    pub priority: i64,
}

fn column(name: &str, type_: &str, priority: i64, description: &str) -> Column {
    Column {
        name: name.into(),
        type_: type_.into(),
        format: if name == "Name" {
            "name".into()
        } else {
            String::new()
        },
        description: description.into(),
        priority,
    }
}

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some \
     resources may allow a client to request the generation of an appropriate name automatically. Name is primarily \
     intended for creation idempotence and configuration definition. Cannot be updated. More info: \
     https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was \
     created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set \
     this value. It is represented in RFC3339 form and is in UTC.";

/// The API server's `HumanDuration`: about two significant figures.
pub fn human_duration(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// `translateTimestampSince`: the age of an RFC 3339 timestamp, or
/// `<unknown>` when it is absent or unparseable.
pub fn age(timestamp: &Value, now: SimTime) -> String {
    match timestamp.as_str().and_then(SimTime::parse_rfc3339) {
        Some(t) => human_duration(now.0 - t.0),
        None => "<unknown>".into(),
    }
}

/// Duration rendering for a `Duration` (used by job durations).
fn short_duration(duration: Duration) -> String {
    human_duration(duration.as_millis() as i64)
}

// ---------------------------------------------------------------------------
// JSONPath subset

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    All,
    Filter {
        path: Vec<String>,
        negated: bool,
        literal: Value,
    },
}

/// A parse error in a printer column's JSONPath.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported JSONPath {0:?}")]
pub struct JsonPathError(pub String);

fn parse_jsonpath(text: &str) -> Result<Vec<Step>, JsonPathError> {
    let err = || JsonPathError(text.to_string());
    let trimmed = text.trim();
    let body = trimmed
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(trimmed);
    let body = body.strip_prefix('$').unwrap_or(body);
    let bytes = body.as_bytes();
    let mut steps = Vec::new();
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'.' => {
                let start = idx + 1;
                let mut end = start;
                while end < bytes.len() && bytes[end] != b'.' && bytes[end] != b'[' {
                    end += 1;
                }
                if end == start {
                    return Err(err());
                }
                steps.push(Step::Key(body[start..end].to_string()));
                idx = end;
            }
            b'[' => {
                let close = find_bracket_end(body, idx).ok_or_else(err)?;
                let inner = body[idx + 1..close].trim();
                steps.push(parse_bracket(inner).ok_or_else(err)?);
                idx = close + 1;
            }
            _ => return Err(err()),
        }
    }
    Ok(steps)
}

/// The index of the `]` that closes the `[` at `open`, skipping quoted text.
fn find_bracket_end(text: &str, open: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (offset, ch) in text[open + 1..].char_indices() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(ch),
            (None, ']') => return Some(open + 1 + offset),
            _ => {}
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Option<Step> {
    if inner == "*" {
        return Some(Step::All);
    }
    if let Ok(index) = inner.parse::<usize>() {
        return Some(Step::Index(index));
    }
    if let Some(quoted) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Some(Step::Key(quoted.to_string()));
    }
    let filter = inner.strip_prefix("?(")?.strip_suffix(')')?.trim();
    let (lhs, negated, rhs) = match filter.split_once("!=") {
        Some((l, r)) => (l, true, r),
        None => {
            let (l, r) = filter.split_once("==")?;
            (l, false, r)
        }
    };
    let path: Vec<String> = lhs
        .trim()
        .strip_prefix("@.")?
        .split('.')
        .map(str::to_string)
        .collect();
    let rhs = rhs.trim();
    let literal = if let Some(s) = rhs.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Value::String(s.into())
    } else if let Some(s) = rhs.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        Value::String(s.into())
    } else {
        serde_json::from_str(rhs).ok()?
    };
    Some(Step::Filter {
        path,
        negated,
        literal,
    })
}

/// Evaluates a printer-column JSONPath against `obj`; the first result, if any.
pub fn jsonpath<'a>(obj: &'a Value, path: &str) -> Result<Option<&'a Value>, JsonPathError> {
    let steps = parse_jsonpath(path)?;
    Ok(eval(obj, &steps))
}

fn eval<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(value);
    };
    match step {
        Step::Key(key) => eval(value.get(key)?, rest),
        Step::Index(idx) => eval(value.get(*idx)?, rest),
        Step::All => value.as_array()?.iter().find_map(|item| eval(item, rest)),
        Step::Filter {
            path,
            negated,
            literal,
        } => value.as_array()?.iter().find_map(|item| {
            let field = path.iter().try_fold(item, |v, k| v.get(k));
            let equal = field == Some(literal);
            if equal != *negated {
                eval(item, rest)
            } else {
                None
            }
        }),
    }
}

/// How a cell of a custom column is rendered for its declared type.
fn custom_cell(type_: &str, value: Option<&Value>, now: SimTime) -> Value {
    let Some(value) = value else {
        return Value::Null;
    };
    match type_ {
        "integer" => value
            .as_i64()
            .or_else(|| value.as_f64().map(|f| f as i64))
            .map(Value::from)
            .unwrap_or(Value::Null),
        "number" => value.as_f64().map(Value::from).unwrap_or(Value::Null),
        "boolean" => value.as_bool().map(Value::from).unwrap_or(Value::Null),
        "date" => match value.as_str().and_then(SimTime::parse_rfc3339) {
            Some(t) => Value::String(human_duration(now.0 - t.0)),
            None => Value::Null,
        },
        _ => Value::String(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
    }
}

// ---------------------------------------------------------------------------
// Printers

/// The columns kind `rt` prints, in order, wide columns included.
pub fn columns(rt: &ResourceType) -> Vec<Column> {
    if rt.custom {
        // apiextensions-apiserver describes undocumented columns by path.
        let described = |description: &str, path: &str| {
            if description.is_empty() {
                format!("Custom resource definition column (in JSONPath format): {path}")
            } else {
                description.to_string()
            }
        };
        let mut cols = vec![column("Name", "string", 0, NAME_DESCRIPTION)];
        if rt.printer_columns.is_empty() {
            cols.push(column(
                "Age",
                "date",
                0,
                &described("", ".metadata.creationTimestamp"),
            ));
        } else {
            cols.extend(rt.printer_columns.iter().map(|c| Column {
                name: c.name.clone(),
                type_: c.type_.clone(),
                format: c.format.clone(),
                description: described(&c.description, &c.json_path),
                priority: c.priority,
            }));
        }
        return cols;
    }
    let spec: &[(&str, &str, i64)] = match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => &[
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        ("apps", "deployments") => &[
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("apps", "replicasets") => &[
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("", "services") => &[
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ],
        ("", "configmaps") => &[("Data", "integer", 0), ("Age", "string", 0)],
        ("", "secrets") => &[
            ("Type", "string", 0),
            ("Data", "integer", 0),
            ("Age", "string", 0),
        ],
        ("", "serviceaccounts") => &[("Secrets", "integer", 0), ("Age", "string", 0)],
        ("", "namespaces") => &[("Status", "string", 0), ("Age", "string", 0)],
        ("", "nodes") => &[
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
        ],
        ("", "events") => &[
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ],
        ("batch", "jobs") => &[
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("apiextensions.k8s.io", "customresourcedefinitions") => &[("Created At", "date", 0)],
        _ => &[("Age", "string", 0)],
    };
    // Events are the one printer without a leading Name column (their name
    // is the last, wide-only column).
    let mut cols = if rt.group.is_empty() && rt.plural == "events" {
        Vec::new()
    } else {
        vec![column("Name", "string", 0, NAME_DESCRIPTION)]
    };
    cols.extend(spec.iter().map(|(name, type_, priority)| {
        let description = if *name == "Age" { AGE_DESCRIPTION } else { "" };
        column(name, type_, *priority, description)
    }));
    cols
}

/// The cells of one row of `obj`, matching [`columns`].
pub fn cells(rt: &ResourceType, obj: &Value, now: SimTime) -> Vec<Value> {
    let name = Value::String(
        obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    let created = age(&obj["metadata"]["creationTimestamp"], now);
    if rt.custom {
        let mut row = vec![name];
        if rt.printer_columns.is_empty() {
            row.push(Value::String(created));
        } else {
            for col in &rt.printer_columns {
                let value = jsonpath(obj, &col.json_path).ok().flatten();
                row.push(custom_cell(&col.type_, value, now));
            }
        }
        return row;
    }
    let s = |v: &Value| Value::String(v.as_str().unwrap_or_default().to_string());
    let int = |v: &Value| Value::from(v.as_i64().unwrap_or(0));
    if rt.group.is_empty() && rt.plural == "events" {
        return event_cells(obj, now);
    }
    let mut row = vec![name];
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => row.extend(pod_cells(obj, now, created)),
        ("apps", "deployments") => {
            let (containers, images) = container_summary(&obj["spec"]["template"]["spec"]);
            row.extend([
                Value::String(format!(
                    "{}/{}",
                    obj["status"]["readyReplicas"].as_i64().unwrap_or(0),
                    obj["spec"]["replicas"].as_i64().unwrap_or(1)
                )),
                int(&obj["status"]["updatedReplicas"]),
                int(&obj["status"]["availableReplicas"]),
                Value::String(created),
                Value::String(containers),
                Value::String(images),
                Value::String(selector_summary(&obj["spec"]["selector"])),
            ]);
        }
        ("apps", "replicasets") => {
            let (containers, images) = container_summary(&obj["spec"]["template"]["spec"]);
            row.extend([
                int(&obj["spec"]["replicas"]),
                int(&obj["status"]["replicas"]),
                int(&obj["status"]["readyReplicas"]),
                Value::String(created),
                Value::String(containers),
                Value::String(images),
                Value::String(selector_summary(&obj["spec"]["selector"])),
            ]);
        }
        ("", "services") => row.extend(service_cells(obj, created)),
        ("", "configmaps") => {
            let count = obj["data"].as_object().map_or(0, |m| m.len())
                + obj["binaryData"].as_object().map_or(0, |m| m.len());
            row.extend([Value::from(count), Value::String(created)]);
        }
        ("", "secrets") => {
            let count = obj["data"].as_object().map_or(0, |m| m.len());
            let type_ = obj["type"].as_str().unwrap_or("Opaque");
            row.extend([
                Value::String(type_.into()),
                Value::from(count),
                Value::String(created),
            ]);
        }
        ("", "serviceaccounts") => {
            let count = obj["secrets"].as_array().map_or(0, |s| s.len());
            row.extend([Value::from(count), Value::String(created)]);
        }
        ("", "namespaces") => row.extend([s(&obj["status"]["phase"]), Value::String(created)]),
        ("", "nodes") => row.extend(node_cells(obj, created)),
        ("batch", "jobs") => row.extend(job_cells(obj, now, created)),
        ("apiextensions.k8s.io", "customresourcedefinitions") => row.push(Value::String(
            obj["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )),
        _ => row.push(Value::String(created)),
    }
    row
}

fn container_summary(pod_spec: &Value) -> (String, String) {
    let containers = pod_spec["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["image"].as_str())
        .collect();
    (names.join(","), images.join(","))
}

fn selector_summary(selector: &Value) -> String {
    match crate::selector::LabelSelector::from_object(selector) {
        Ok(sel) if !sel.is_empty() => sel.to_query(),
        _ => "<none>".into(),
    }
}

fn pod_cells(obj: &Value, now: SimTime, created: String) -> Vec<Value> {
    let status = &obj["status"];
    let mut reason = status["phase"].as_str().unwrap_or_default().to_string();
    if let Some(r) = status["reason"].as_str().filter(|r| !r.is_empty()) {
        reason = r.to_string();
    }
    let mut restarts = 0i64;
    let mut last_restart: Option<SimTime> = None;
    let mut note_restart = |cs: &Value, restarts: &mut i64| {
        *restarts += cs["restartCount"].as_i64().unwrap_or(0);
        if let Some(t) = cs["lastState"]["terminated"]["finishedAt"]
            .as_str()
            .and_then(SimTime::parse_rfc3339)
        {
            last_restart = Some(last_restart.map_or(t, |l| l.max(t)));
        }
    };
    let init_specs = obj["spec"]["initContainers"]
        .as_array()
        .map_or(0, |a| a.len());
    let mut initializing = false;
    for (idx, cs) in status["initContainerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        note_restart(cs, &mut restarts);
        let terminated = &cs["state"]["terminated"];
        let waiting = &cs["state"]["waiting"];
        if terminated.is_object() && terminated["exitCode"].as_i64() == Some(0) {
            continue;
        }
        initializing = true;
        reason = if terminated.is_object() {
            match terminated["reason"].as_str().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None => format!(
                    "Init:ExitCode:{}",
                    terminated["exitCode"].as_i64().unwrap_or(0)
                ),
            }
        } else if let Some(r) = waiting["reason"]
            .as_str()
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{idx}/{init_specs}")
        };
        break;
    }
    let total = obj["spec"]["containers"].as_array().map_or(0, |a| a.len());
    let mut ready = 0;
    if !initializing {
        restarts = 0;
        let mut has_running = false;
        for cs in status["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .rev()
        {
            note_restart(cs, &mut restarts);
            let state = &cs["state"];
            if let Some(r) = state["waiting"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if let Some(r) = state["terminated"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if state["terminated"].is_object() {
                reason = match state["terminated"]["signal"].as_i64().filter(|s| *s != 0) {
                    Some(signal) => format!("Signal:{signal}"),
                    None => format!(
                        "ExitCode:{}",
                        state["terminated"]["exitCode"].as_i64().unwrap_or(0)
                    ),
                };
            } else if cs["ready"].as_bool() == Some(true) && state["running"].is_object() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            reason = if pod_ready {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    if obj["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        reason = if status["reason"] == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now.0 - t.0)),
        _ => restarts.to_string(),
    };
    let or_none = |v: &Value| {
        Value::String(
            v.as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("<none>")
                .to_string(),
        )
    };
    vec![
        Value::String(format!("{ready}/{total}")),
        Value::String(reason),
        Value::String(restarts_text),
        Value::String(created),
        or_none(&status["podIP"]),
        or_none(&obj["spec"]["nodeName"]),
        or_none(&status["nominatedNodeName"]),
        Value::String("<none>".into()),
    ]
}

fn service_cells(obj: &Value, created: String) -> Vec<Value> {
    let spec = &obj["spec"];
    let type_ = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    let cluster_ip = spec["clusterIP"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("<none>")
        .to_string();
    let external: Vec<String> = spec["externalIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.as_str().map(str::to_string))
        .chain(
            obj["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    i["ip"]
                        .as_str()
                        .or(i["hostname"].as_str())
                        .map(str::to_string)
                }),
        )
        .collect();
    let external = match (type_.as_str(), external.is_empty()) {
        ("ExternalName", _) => spec["externalName"]
            .as_str()
            .unwrap_or("<none>")
            .to_string(),
        ("LoadBalancer", true) => "<pending>".into(),
        (_, true) => "<none>".into(),
        (_, false) => external.join(","),
    };
    let ports: Vec<String> = spec["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let protocol = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64() {
                Some(node_port) => format!("{}:{node_port}/{protocol}", p["port"]),
                None => format!("{}/{protocol}", p["port"]),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    let selector = spec["selector"]
        .as_object()
        .map(|m| crate::selector::LabelSelector::from_labels(m).to_query())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".into());
    vec![
        Value::String(type_),
        Value::String(cluster_ip),
        Value::String(external),
        Value::String(ports),
        Value::String(created),
        Value::String(selector),
    ]
}

fn node_cells(obj: &Value, created: String) -> Vec<Value> {
    let conditions = obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut status = match conditions.iter().find(|c| c["type"] == "Ready") {
        Some(c) if c["status"] == "True" => "Ready".to_string(),
        _ => "NotReady".to_string(),
    };
    if obj["spec"]["unschedulable"].as_bool() == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let roles: Vec<&str> = obj["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let address = |kind: &str| {
        obj["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["type"] == kind)
            .and_then(|a| a["address"].as_str())
            .unwrap_or("<none>")
            .to_string()
    };
    vec![
        Value::String(status),
        Value::String(roles),
        Value::String(created),
        Value::String(
            obj["status"]["nodeInfo"]["kubeletVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
        Value::String(address("InternalIP")),
        Value::String(address("ExternalIP")),
    ]
}

fn event_cells(obj: &Value, now: SimTime) -> Vec<Value> {
    let first = match obj["firstTimestamp"].as_str() {
        Some(_) => age(&obj["firstTimestamp"], now),
        None => age(&obj["eventTime"], now),
    };
    let mut last = if obj["lastTimestamp"].is_string() {
        age(&obj["lastTimestamp"], now)
    } else {
        first.clone()
    };
    let mut count = obj["count"].as_i64().unwrap_or(0);
    if obj["series"].is_object() {
        last = age(&obj["series"]["lastObservedTime"], now);
        count = obj["series"]["count"].as_i64().unwrap_or(count);
    } else if count == 0 {
        count = 1;
    }
    let involved = &obj["involvedObject"];
    let kind = involved["kind"].as_str().unwrap_or_default().to_lowercase();
    let target = match involved["name"].as_str().filter(|n| !n.is_empty()) {
        Some(name) => format!("{kind}/{name}"),
        None => kind,
    };
    let source = {
        let component = obj["source"]["component"]
            .as_str()
            .filter(|c| !c.is_empty())
            .or(obj["reportingComponent"].as_str())
            .unwrap_or_default();
        match obj["source"]["host"].as_str().filter(|h| !h.is_empty()) {
            Some(host) => format!("{component}, {host}"),
            None => component.to_string(),
        }
    };
    let text = |v: &Value| Value::String(v.as_str().unwrap_or_default().trim().to_string());
    vec![
        Value::String(last),
        text(&obj["type"]),
        text(&obj["reason"]),
        Value::String(target),
        text(&involved["fieldPath"]),
        Value::String(source),
        text(&obj["message"]),
        Value::String(first),
        Value::String(count.to_string()),
        text(&obj["metadata"]["name"]),
    ]
}

fn job_cells(obj: &Value, now: SimTime, created: String) -> Vec<Value> {
    let status = &obj["status"];
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let has = |type_: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == type_ && c["status"] == "True")
    };
    let state = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if obj["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let succeeded = status["succeeded"].as_i64().unwrap_or(0);
    let completions = match obj["spec"]["completions"].as_i64() {
        Some(c) => format!("{succeeded}/{c}"),
        None => match obj["spec"]["parallelism"].as_i64() {
            Some(p) if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = status["startTime"]
        .as_str()
        .and_then(SimTime::parse_rfc3339);
    let end = status["completionTime"]
        .as_str()
        .and_then(SimTime::parse_rfc3339)
        .unwrap_or(now);
    let duration = start
        .map(|s| short_duration(end.since(s)))
        .unwrap_or_default();
    let (containers, images) = container_summary(&obj["spec"]["template"]["spec"]);
    vec![
        Value::String(state.into()),
        Value::String(completions),
        Value::String(duration),
        Value::String(created),
        Value::String(containers),
        Value::String(images),
        Value::String(selector_summary(&obj["spec"]["selector"])),
    ]
}

/// The `PartialObjectMetadata` form of an object.
pub fn partial_metadata(obj: &Value, api_version: &str) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": obj["metadata"].clone()})
}

/// Builds a `Table` of `objects` of kind `rt`.
///
/// `table_version` is `v1` or `v1beta1` (of group `meta.k8s.io`), whichever
/// the client accepted; `list_meta` becomes the table's `metadata`.
pub fn table<'a>(
    rt: &ResourceType,
    objects: impl IntoIterator<Item = &'a Value>,
    now: SimTime,
    include: IncludeObject,
    table_version: &str,
    list_meta: Value,
) -> Value {
    let meta_version = format!("meta.k8s.io/{table_version}");
    let column_definitions: Vec<Value> = columns(rt)
        .into_iter()
        .map(|c| {
            json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|obj| {
            let mut row = json!({"cells": cells(rt, obj, now)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => row["object"] = partial_metadata(obj, &meta_version),
                IncludeObject::Object => row["object"] = obj.clone(),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": meta_version,
        "metadata": list_meta,
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{PrinterColumn, Registry};

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    #[test]
    fn human_duration_matches_the_api_server() {
        let cases = [
            (-5_000, "<invalid>"),
            (-1_000, "0s"),
            (0, "0s"),
            (119_999, "119s"),
            (2 * MIN, "2m"),
            (2 * MIN + 5_000, "2m5s"),
            (10 * MIN + 59_000, "10m"),
            (179 * MIN, "179m"),
            (3 * HOUR, "3h"),
            (7 * HOUR + 59 * MIN, "7h59m"),
            (47 * HOUR, "47h"),
            (2 * DAY, "2d"),
            (7 * DAY + 23 * HOUR, "7d23h"),
            (8 * DAY, "8d"),
            (730 * DAY, "2y"),
            (731 * DAY, "2y1d"),
            (8 * 365 * DAY, "8y"),
        ];
        for (millis, expected) in cases {
            assert_eq!(human_duration(millis), expected, "{millis} ms");
        }
    }

    #[test]
    fn jsonpath_subset() {
        let obj = json!({"status": {"conditions": [{"type": "Progressing", "status": "True"}, {"type": "Ready", "status": "False"}],
                                    "jobStatus": {"state": "RUNNING"}, "n": [1, 2]},
                         "metadata": {"labels": {"app.kubernetes.io/name": "x"}}});
        let eval = |p: &str| jsonpath(&obj, p).unwrap().cloned();
        assert_eq!(eval(".status.jobStatus.state"), Some(json!("RUNNING")));
        assert_eq!(eval("{.status.n[1]}"), Some(json!(2)));
        assert_eq!(
            eval(r#".status.conditions[?(@.type=="Ready")].status"#),
            Some(json!("False"))
        );
        assert_eq!(
            eval(r#".status.conditions[?(@.type!="Progressing")].type"#),
            Some(json!("Ready"))
        );
        assert_eq!(
            eval(".status.conditions[*].type"),
            Some(json!("Progressing"))
        );
        assert_eq!(
            eval(".metadata.labels['app.kubernetes.io/name']"),
            Some(json!("x"))
        );
        assert_eq!(eval(".status.missing.deeper"), None);
        assert!(jsonpath(&obj, "status").is_err());
        assert!(jsonpath(&obj, ".a[?(@.b~1)]").is_err());
    }

    fn flink_kind() -> ResourceType {
        let mut rt = Registry::with_builtins()
            .get("", "v1", "configmaps")
            .unwrap()
            .clone();
        rt.custom = true;
        rt.kind = "FlinkDeployment".into();
        rt.printer_columns = vec![
            PrinterColumn {
                name: "Job Status".into(),
                type_: "string".into(),
                format: String::new(),
                priority: 0,
                json_path: ".status.jobStatus.state".into(),
                description: String::new(),
            },
            PrinterColumn {
                name: "Replicas".into(),
                type_: "integer".into(),
                format: String::new(),
                priority: 1,
                json_path: ".spec.replicas".into(),
                description: String::new(),
            },
        ];
        rt
    }

    #[test]
    fn custom_columns_replace_age() {
        let rt = flink_kind();
        let names: Vec<String> = columns(&rt).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Job Status", "Replicas"]);
        assert_eq!(
            columns(&rt)[1].description,
            "Custom resource definition column (in JSONPath format): .status.jobStatus.state"
        );
        let now = SimTime(10 * MIN);
        let obj = json!({"metadata": {"name": "a", "creationTimestamp": "1970-01-01T00:00:00Z"},
                         "spec": {"replicas": 2.0}, "status": {}});
        assert_eq!(
            cells(&rt, &obj, now),
            vec![json!("a"), Value::Null, json!(2)]
        );
        let mut plain = rt.clone();
        plain.printer_columns.clear();
        assert_eq!(
            columns(&plain)
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["Name", "Age"]
        );
        assert_eq!(cells(&plain, &obj, now), vec![json!("a"), json!("10m")]);
    }

    #[test]
    fn pod_printer_reports_ready_status_and_restarts() {
        let pods = Registry::with_builtins()
            .get("", "v1", "pods")
            .unwrap()
            .clone();
        let now = SimTime(20 * MIN);
        let pod = json!({
            "metadata": {"name": "p", "creationTimestamp": "1970-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node-1"},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"finishedAt": "1970-01-01T00:15:00Z"}}}
            ]}
        });
        let row = cells(&pods, &pod, now);
        assert_eq!(
            row[..5],
            [
                json!("p"),
                json!("1/2"),
                json!("CrashLoopBackOff"),
                json!("3 (5m ago)"),
                json!("20m")
            ]
        );
        assert_eq!(row[5..7], [json!("10.0.0.1"), json!("node-1")]);
        assert_eq!(columns(&pods).len(), row.len());

        let mut terminating = pod.clone();
        terminating["metadata"]["deletionTimestamp"] = json!("1970-01-01T00:19:00Z");
        assert_eq!(cells(&pods, &terminating, now)[2], json!("Terminating"));

        let init = json!({"metadata": {"name": "i"}, "spec": {"initContainers": [{"name": "x"}], "containers": [{"name": "a"}]},
                          "status": {"phase": "Pending", "initContainerStatuses": [{"name": "x", "state": {"running": {}}}]}});
        assert_eq!(cells(&pods, &init, now)[2], json!("Init:0/1"));
    }

    #[test]
    fn every_builtin_row_matches_its_columns() {
        let registry = Registry::with_builtins();
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": "1970-01-01T00:00:00Z"},
                         "spec": {"replicas": 2, "ports": [{"port": 80, "protocol": "TCP"}]},
                         "status": {"readyReplicas": 1}});
        for rt in registry.iter() {
            assert_eq!(
                columns(rt).len(),
                cells(rt, &obj, SimTime(0)).len(),
                "{}",
                rt.plural
            );
        }
        let deploy = registry.get("apps", "v1", "deployments").unwrap();
        assert_eq!(cells(deploy, &obj, SimTime(0))[1], json!("1/2"));
        let svc = registry.get("", "v1", "services").unwrap();
        assert_eq!(cells(svc, &obj, SimTime(0))[4], json!("80/TCP"));
    }

    #[test]
    fn table_includes_the_requested_object_form() {
        let rt = flink_kind();
        let obj = json!({"metadata": {"name": "a"}, "spec": {}});
        let t = table(
            &rt,
            [&obj],
            SimTime(0),
            IncludeObject::Metadata,
            "v1",
            json!({"resourceVersion": "5"}),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["metadata"]["resourceVersion"], "5");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        let t = table(
            &rt,
            [&obj],
            SimTime(0),
            IncludeObject::None,
            "v1beta1",
            json!({}),
        );
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
        assert!(t["rows"][0].get("object").is_none());
    }
}
