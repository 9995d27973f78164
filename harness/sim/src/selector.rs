//! Label and field selectors, as list and watch requests carry them.
//!
//! Label selectors follow the API server's text syntax (`a=b`, `a!=b`,
//! `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`) and the structured
//! `matchLabels`/`matchExpressions` form that workloads use. Field selectors
//! support `=`, `==` and `!=` on the fields the real API server indexes for
//! each kind (see [`field_value`]); other fields are rejected with the
//! server's message, so a typo fails loudly instead of matching nothing.

use serde_json::{Map, Value};

use crate::resource::ResourceType;

/// A malformed selector; the text is what the API server returns as 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operator {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One term of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels
            .and_then(|l| l.get(&self.key))
            .and_then(Value::as_str);
        match self.operator {
            Operator::Equals | Operator::In => {
                value.is_some_and(|v| self.values.iter().any(|x| x == v))
            }
            Operator::NotEquals | Operator::NotIn => {
                value.is_none_or(|v| self.values.iter().all(|x| x != v))
            }
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(actual), Some(bound)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the `labelSelector` query syntax.
    pub fn parse(text: &str) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_terms(text) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(term)?);
        }
        Ok(LabelSelector { requirements })
    }

    /// Builds a selector from a `metav1.LabelSelector` object
    /// (`matchLabels` and `matchExpressions`), as Deployments and Services carry.
    pub fn from_object(selector: &Value) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (key, value) in labels {
                let value = value
                    .as_str()
                    .ok_or_else(|| SelectorError(format!("matchLabels.{key} must be a string")))?;
                requirements.push(Requirement {
                    key: key.clone(),
                    operator: Operator::Equals,
                    values: vec![value.into()],
                });
            }
        }
        for expr in selector
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = expr["key"].as_str().unwrap_or_default().to_string();
            let values: Vec<String> = expr["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let operator = match expr["operator"].as_str() {
                Some("In") => Operator::In,
                Some("NotIn") => Operator::NotIn,
                Some("Exists") => Operator::Exists,
                Some("DoesNotExist") => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError(format!(
                        "{other:?} is not a valid label selector operator"
                    )));
                }
            };
            requirements.push(Requirement {
                key,
                operator,
                values,
            });
        }
        Ok(LabelSelector { requirements })
    }

    /// A selector that matches exactly these labels (a Service's `spec.selector`).
    pub fn from_labels(labels: &Map<String, Value>) -> LabelSelector {
        let requirements = labels
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k, v)))
            .map(|(key, value)| Requirement {
                key: key.clone(),
                operator: Operator::Equals,
                values: vec![value.into()],
            })
            .collect();
        LabelSelector { requirements }
    }

    /// Whether the selector has no terms (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every term.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj["metadata"]["labels"].as_object();
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The selector in query syntax, as a Scale's `status.selector` shows it.
    pub fn to_query(&self) -> String {
        let terms: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r.operator {
                Operator::Equals => format!("{}={}", r.key, r.values.join(",")),
                Operator::NotEquals => format!("{}!={}", r.key, r.values.join(",")),
                Operator::In => format!("{} in ({})", r.key, r.values.join(",")),
                Operator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                Operator::Exists => r.key.clone(),
                Operator::DoesNotExist => format!("!{}", r.key),
                Operator::GreaterThan => format!("{}>{}", r.key, r.values.join(",")),
                Operator::LessThan => format!("{}<{}", r.key, r.values.join(",")),
            })
            .collect();
        terms.join(",")
    }
}

/// Splits on commas that are not inside a `( ... )` value set.
fn split_terms(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (idx, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&text[start..idx]);
                start = idx + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

fn parse_requirement(term: &str) -> Result<Requirement, SelectorError> {
    let invalid = || {
        SelectorError(format!(
            "unable to parse requirement: found '{term}', expected a valid label selector"
        ))
    };
    if let Some(key) = term.strip_prefix('!') {
        let key = checked_key(key.trim(), term)?;
        return Ok(Requirement {
            key,
            operator: Operator::DoesNotExist,
            values: Vec::new(),
        });
    }
    for (token, operator) in [
        ("!=", Operator::NotEquals),
        ("==", Operator::Equals),
        ("=", Operator::Equals),
    ] {
        if let Some((key, value)) = term.split_once(token) {
            let key = checked_key(key.trim(), term)?;
            let value = value.trim();
            checked_value(value, term)?;
            return Ok(Requirement {
                key,
                operator,
                values: vec![value.to_string()],
            });
        }
    }
    for (token, operator) in [('>', Operator::GreaterThan), ('<', Operator::LessThan)] {
        if let Some((key, value)) = term.split_once(token) {
            let key = checked_key(key.trim(), term)?;
            let value = value.trim();
            if value.parse::<i64>().is_err() {
                return Err(SelectorError(format!(
                    "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: {value}"
                )));
            }
            return Ok(Requirement {
                key,
                operator,
                values: vec![value.to_string()],
            });
        }
    }
    let mut words = term.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    let rest = words.next().unwrap_or_default().trim();
    if rest.is_empty() {
        return Ok(Requirement {
            key: checked_key(key, term)?,
            operator: Operator::Exists,
            values: Vec::new(),
        });
    }
    let (operator, set) = if let Some(set) = rest.strip_prefix("notin") {
        (Operator::NotIn, set)
    } else if let Some(set) = rest.strip_prefix("in") {
        (Operator::In, set)
    } else {
        return Err(invalid());
    };
    let set = set
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(invalid)?;
    let mut values = Vec::new();
    for value in set.split(',').map(str::trim) {
        checked_value(value, term)?;
        values.push(value.to_string());
    }
    Ok(Requirement {
        key: checked_key(key, term)?,
        operator,
        values,
    })
}

fn checked_key(key: &str, term: &str) -> Result<String, SelectorError> {
    let name = key.rsplit('/').next().unwrap_or_default();
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric)
        && name
            .as_bytes()
            .last()
            .is_some_and(u8::is_ascii_alphanumeric);
    if ok {
        Ok(key.to_string())
    } else {
        Err(SelectorError(format!(
            "unable to parse requirement: invalid label key \"{key}\" in '{term}'"
        )))
    }
}

fn checked_value(value: &str, term: &str) -> Result<(), SelectorError> {
    let ok = value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && value
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_alphanumeric)
            && value
                .as_bytes()
                .last()
                .is_some_and(u8::is_ascii_alphanumeric));
    if ok {
        Ok(())
    } else {
        Err(SelectorError(format!(
            "unable to parse requirement: invalid label value \"{value}\" in '{term}'"
        )))
    }
}

/// One `field=value` or `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    negated: bool,
    value: String,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Parses `a=b,c!=d` and checks every field against what kind `rt` supports.
    pub fn parse(text: &str, rt: &ResourceType) -> Result<FieldSelector, SelectorError> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, negated, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, false, v)
            } else {
                return Err(SelectorError(format!(
                    "invalid selector: '{text}'; can't understand '{term}'"
                )));
            };
            let field = field.trim().to_string();
            if !supported_fields(rt).contains(&field.as_str()) {
                return Err(unsupported_field(rt, &field));
            }
            terms.push(FieldTerm {
                field,
                negated,
                value: value.trim().to_string(),
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Whether the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The name this selector pins with `metadata.name=...`, if any, so a
    /// list can be answered by one lookup instead of a scan.
    pub fn exact_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == "metadata.name" && !t.negated)
            .map(|t| t.value.as_str())
    }

    /// The namespace this selector pins with `metadata.namespace=...`, if any.
    pub fn exact_namespace(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == "metadata.namespace" && !t.negated)
            .map(|t| t.value.as_str())
    }

    /// Whether `obj` of kind `rt` satisfies every term.
    pub fn matches(&self, rt: &ResourceType, obj: &Value) -> bool {
        self.terms
            .iter()
            .all(|t| (field_value(rt, obj, &t.field).unwrap_or_default() == t.value) != t.negated)
    }
}

/// The fields the real API server accepts in field selectors for a kind.
fn supported_fields(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "events") => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "pods") => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "namespaces") => &["metadata.name", "status.phase"],
        ("", "secrets") => &["metadata.name", "metadata.namespace", "type"],
        ("", "nodes") => &["metadata.name", "spec.unschedulable"],
        ("apps", "replicasets") => &["metadata.name", "metadata.namespace", "status.replicas"],
        ("batch", "jobs") => &["metadata.name", "metadata.namespace", "status.successful"],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

fn unsupported_field(rt: &ResourceType, field: &str) -> SelectorError {
    if rt.custom {
        SelectorError(format!(
            "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        ))
    } else {
        SelectorError(format!("field label not supported: {field}"))
    }
}

/// The value of a selectable field of `obj`, rendered as the API server
/// renders it for matching (missing fields are the empty string, booleans
/// `true`/`false`). `Err` when the kind does not support the field.
pub fn field_value(rt: &ResourceType, obj: &Value, field: &str) -> Result<String, SelectorError> {
    if !supported_fields(rt).contains(&field) {
        return Err(unsupported_field(rt, field));
    }
    // Events call the reporting component's field `source`.
    let path = match field {
        "source" => "source.component",
        other => other,
    };
    let value = path.split('.').fold(obj, |v, key| &v[key]);
    Ok(match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        // Cluster-scoped objects match `metadata.namespace=` with "".
        _ => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resource::Registry;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_selector_terms() {
        let obj = pod(json!({"app": "web", "tier": "front", "n": "5"}));
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (db, web)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("n>4", true),
            ("n<4", false),
            ("app=web,tier in (front,back),!missing", true),
            ("app=web,tier=back", false),
        ];
        for (text, expected) in cases {
            let selector = LabelSelector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(selector.matches(&obj), expected, "{text}");
        }
    }

    #[test]
    fn malformed_label_selectors_are_errors() {
        for text in ["app in web", "=x", "a b c", "app=-bad", "n>x"] {
            assert!(LabelSelector::parse(text).is_err(), "{text} must not parse");
        }
    }

    #[test]
    fn structured_selectors_match_like_the_text_form() {
        let sel = LabelSelector::from_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
        }))
        .unwrap();
        assert!(sel.matches(&pod(json!({"app": "web", "tier": "front"}))));
        assert!(!sel.matches(&pod(json!({"app": "web", "tier": "back"}))));
        let round_trip = LabelSelector::parse(&sel.to_query()).unwrap();
        assert_eq!(round_trip, sel);
        assert!(
            LabelSelector::from_object(
                &json!({"matchExpressions": [{"key": "a", "operator": "Near"}]})
            )
            .is_err()
        );
    }

    #[test]
    fn field_selectors_check_supported_fields() {
        let registry = Registry::with_builtins();
        let pods = registry.get("", "v1", "pods").unwrap();
        let sel = FieldSelector::parse("metadata.name=p,status.phase!=Pending", pods).unwrap();
        assert!(sel.matches(pods, &pod(json!({}))));
        assert_eq!(sel.exact_name(), Some("p"));
        assert!(
            !FieldSelector::parse("status.phase=Pending", pods)
                .unwrap()
                .matches(pods, &pod(json!({})))
        );
        let err = FieldSelector::parse("spec.bogus=1", pods).unwrap_err();
        assert_eq!(err.0, "field label not supported: spec.bogus");

        let events = registry.get("", "v1", "events").unwrap();
        let event = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started",
                           "source": {"component": "kubelet"}});
        let sel = FieldSelector::parse(
            "involvedObject.kind=Pod,involvedObject.name=p,source=kubelet",
            events,
        )
        .unwrap();
        assert!(sel.matches(events, &event));
    }

    #[test]
    fn custom_kinds_report_the_crd_wording() {
        let mut rt = Registry::with_builtins()
            .get("", "v1", "configmaps")
            .unwrap()
            .clone();
        rt.custom = true;
        let err = FieldSelector::parse("spec.x=1", &rt).unwrap_err();
        assert_eq!(
            err.0,
            "\"spec.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
    }

    fn requirement() -> impl proptest::strategy::Strategy<Value = Requirement> {
        use proptest::prelude::*;
        let key = "[a-c]";
        let value = "[x-z]{1,2}";
        prop_oneof![
            (key, value).prop_map(|(k, v)| Requirement {
                key: k,
                operator: Operator::Equals,
                values: vec![v]
            }),
            (key, value).prop_map(|(k, v)| Requirement {
                key: k,
                operator: Operator::NotEquals,
                values: vec![v]
            }),
            (key, prop::collection::vec(value, 1..3)).prop_map(|(k, v)| Requirement {
                key: k,
                operator: Operator::In,
                values: v
            }),
            (key, prop::collection::vec(value, 1..3)).prop_map(|(k, v)| Requirement {
                key: k,
                operator: Operator::NotIn,
                values: v
            }),
            key.prop_map(|k| Requirement {
                key: k,
                operator: Operator::Exists,
                values: vec![]
            }),
            key.prop_map(|k| Requirement {
                key: k,
                operator: Operator::DoesNotExist,
                values: vec![]
            }),
        ]
    }

    proptest::proptest! {
        /// The query form of any selector parses back to the same selector,
        /// and both agree on every label set.
        #[test]
        fn query_form_round_trips(
            requirements in proptest::collection::vec(requirement(), 0..4),
            labels in proptest::collection::btree_map("[a-c]", "[x-z]{1,2}", 0..3),
        ) {
            let selector = LabelSelector { requirements };
            let parsed = LabelSelector::parse(&selector.to_query()).unwrap();
            proptest::prop_assert_eq!(&parsed, &selector);
            let obj = json!({"metadata": {"labels": labels}});
            proptest::prop_assert_eq!(parsed.matches(&obj), selector.matches(&obj));
        }
    }
}
