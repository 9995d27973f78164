//! The subset of kubectl's JSONPath that `wait` and `capture` need:
//! `{.status.jobStatus.state}`, `{.items[0].metadata.name}`,
//! `{.status.conditions[?(@.type=="Ready")].status}`, `{.spec.containers[*].image}`
//! and escaped dots in keys (`{.metadata.labels.app\.kubernetes\.io/name}`).
//!
//! kubectl's full template language (ranges, multiple expressions, literal
//! text) is deliberately left out: a scenario that needs it can `exec` kubectl.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::Value;

/// A parsed path expression.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    text: String,
    segments: Vec<PathSegment>,
}

#[derive(Debug, Clone, PartialEq)]
enum PathSegment {
    Key(String),
    Index(usize),
    All,
    Filter {
        path: Vec<String>,
        negate: bool,
        literal: Value,
    },
}

/// Why a path expression did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid jsonpath {text:?}: {reason}")]
pub struct JsonPathError {
    /// The expression.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl JsonPath {
    /// Parses `{.a.b[0]}` (the braces and the leading dot are optional).
    pub fn parse(text: &str) -> Result<JsonPath, JsonPathError> {
        let fail = |reason: &str| JsonPathError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        let inner = match (trimmed.strip_prefix('{'), trimmed.ends_with('}')) {
            (Some(rest), true) => &rest[..rest.len() - 1],
            (None, false) => trimmed,
            _ => return Err(fail("unbalanced braces")),
        };
        let chars: Vec<char> = inner.chars().collect();
        let mut segments = Vec::new();
        let mut at = 0;
        if chars.first().is_some_and(|c| *c != '.' && *c != '[') {
            // `status.phase` is accepted as `.status.phase`.
            let (key, next) = read_key(&chars, 0);
            if key.chars().any(char::is_whitespace) {
                return Err(fail("unexpected space; only plain paths are supported"));
            }
            segments.push(PathSegment::Key(key));
            at = next;
        }
        while at < chars.len() {
            match chars[at] {
                '.' => {
                    let (key, next) = read_key(&chars, at + 1);
                    if key.is_empty() {
                        return Err(fail("empty key after \".\""));
                    }
                    if key.chars().any(char::is_whitespace) {
                        return Err(fail("unexpected space; only plain paths are supported"));
                    }
                    segments.push(PathSegment::Key(key));
                    at = next;
                }
                '[' => {
                    let close = find_close(&chars, at).ok_or_else(|| fail("unclosed \"[\""))?;
                    let body: String = chars[at + 1..close].iter().collect();
                    segments.push(parse_bracket(body.trim()).map_err(|reason| fail(&reason))?);
                    at = close + 1;
                }
                other => return Err(fail(&format!("unexpected {other:?}"))),
            }
        }
        if segments.is_empty() {
            return Err(fail("empty path"));
        }
        Ok(JsonPath {
            text: trimmed.to_owned(),
            segments,
        })
    }

    /// All values the path selects in `root` (none if it does not resolve).
    pub fn select<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        let mut current = vec![root];
        for segment in &self.segments {
            let mut next = Vec::new();
            for value in current {
                match segment {
                    PathSegment::Key(key) => next.extend(value.get(key)),
                    PathSegment::Index(index) => next.extend(value.get(*index)),
                    PathSegment::All => match value {
                        Value::Array(items) => next.extend(items.iter()),
                        Value::Object(map) => next.extend(map.values()),
                        _ => {}
                    },
                    PathSegment::Filter {
                        path,
                        negate,
                        literal,
                    } => {
                        if let Value::Array(items) = value {
                            next.extend(items.iter().filter(|item| {
                                let found = path.iter().try_fold(*item, |v, key| v.get(key));
                                found.is_some_and(|found| loosely_equal(found, literal)) != *negate
                            }));
                        }
                    }
                }
            }
            current = next;
        }
        current
    }

    /// The single value the path selects, or why there is not exactly one.
    pub fn select_one<'v>(&self, root: &'v Value) -> Result<&'v Value, String> {
        match self.select(root).as_slice() {
            [one] => Ok(one),
            [] => Err(format!("{} is not set", self.text)),
            many => Err(format!(
                "{} selects {} values, expected one",
                self.text,
                many.len()
            )),
        }
    }
}

/// Renders a selected value as kubectl prints it: strings bare, the rest as JSON.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// kubectl compares the printed form, so `3` equals `"3"` and `true` equals `"true"`.
fn loosely_equal(found: &Value, literal: &Value) -> bool {
    render(found) == render(literal)
}

/// Reads a dotted key up to the next unescaped `.` or `[`; `\.` is a literal dot.
fn read_key(chars: &[char], mut at: usize) -> (String, usize) {
    let mut key = String::new();
    while at < chars.len() {
        match chars[at] {
            '\\' if at + 1 < chars.len() => {
                key.push(chars[at + 1]);
                at += 2;
            }
            '.' | '[' => break,
            c => {
                key.push(c);
                at += 1;
            }
        }
    }
    (key, at)
}

/// The index of the `]` closing the `[` at `open`, skipping quoted text.
fn find_close(chars: &[char], open: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (index, c) in chars.iter().enumerate().skip(open + 1) {
        match (quote, *c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(*c),
            (None, ']') => return Some(index),
            _ => {}
        }
    }
    None
}

fn parse_bracket(body: &str) -> Result<PathSegment, String> {
    if body == "*" {
        return Ok(PathSegment::All);
    }
    if let Ok(index) = body.parse::<usize>() {
        return Ok(PathSegment::Index(index));
    }
    if let Some(key) = unquote(body) {
        return Ok(PathSegment::Key(key));
    }
    let filter = body
        .strip_prefix("?(")
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| {
            format!(
                "unsupported [{body}]: expected an index, *, a quoted key or ?(@.field==\"value\")"
            )
        })?;
    let (left, negate, right) = match (filter.split_once("!="), filter.split_once("==")) {
        (Some((left, right)), _) => (left, true, right),
        (None, Some((left, right))) => (left, false, right),
        (None, None) => return Err(format!("unsupported filter {filter:?}: expected == or !=")),
    };
    let path = left.trim().strip_prefix("@.").ok_or_else(|| {
        format!("unsupported filter {filter:?}: the left side must start with @.")
    })?;
    let path: Vec<String> = path.split('.').map(str::to_owned).collect();
    let right = right.trim();
    let literal = match unquote(right) {
        Some(text) => Value::String(text),
        None => serde_json::from_str(right)
            .map_err(|_| format!("unsupported literal {right} in filter"))?,
    };
    Ok(PathSegment::Filter {
        path,
        negate,
        literal,
    })
}

fn unquote(text: &str) -> Option<String> {
    let quoted = |q: char| text.len() >= 2 && text.starts_with(q) && text.ends_with(q);
    (quoted('"') || quoted('\'')).then(|| text[1..text.len() - 1].to_owned())
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for JsonPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PathVisitor;
        impl Visitor<'_> for PathVisitor {
            type Value = JsonPath;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a jsonpath such as \"{.status.phase}\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<JsonPath, E> {
                JsonPath::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(PathVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn select(path: &str, value: &Value) -> Vec<Value> {
        JsonPath::parse(path)
            .expect("valid path")
            .select(value)
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn selects_fields_indices_filters_and_wildcards() {
        let pod = json!({
            "metadata": {"labels": {"app.kubernetes.io/name": "x"}},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Scheduled", "status": "False"}
            ], "phase": "Running", "restarts": 3}
        });
        assert_eq!(select("{.status.phase}", &pod), vec![json!("Running")]);
        assert_eq!(select("status.phase", &pod), vec![json!("Running")]);
        assert_eq!(
            select("{.status.conditions[1].type}", &pod),
            vec![json!("Scheduled")]
        );
        assert_eq!(
            select(r#"{.status.conditions[?(@.type=="Ready")].status}"#, &pod),
            vec![json!("True")]
        );
        assert_eq!(
            select("{.status.conditions[?(@.type!='Ready')].type}", &pod),
            vec![json!("Scheduled")]
        );
        assert_eq!(
            select("{.status.conditions[*].type}", &pod),
            vec![json!("Ready"), json!("Scheduled")]
        );
        assert_eq!(
            select(r"{.metadata.labels.app\.kubernetes\.io/name}", &pod),
            vec![json!("x")]
        );
        assert_eq!(
            select(r#"{.metadata.labels["app.kubernetes.io/name"]}"#, &pod),
            vec![json!("x")]
        );
        assert_eq!(select("{.status.restarts}", &pod), vec![json!(3)]);
        assert!(select("{.status.missing.deeper}", &pod).is_empty());
    }

    #[test]
    fn select_one_explains_zero_or_many() {
        let value = json!({"a": [1, 2]});
        let many = JsonPath::parse("{.a[*]}").expect("valid path");
        assert_eq!(
            many.select_one(&value),
            Err("{.a[*]} selects 2 values, expected one".to_owned())
        );
        let none = JsonPath::parse("{.b}").expect("valid path");
        assert_eq!(none.select_one(&value), Err("{.b} is not set".to_owned()));
    }

    #[test]
    fn rejects_what_it_does_not_support() {
        for bad in [
            "{.a",
            "{}",
            ".",
            "{.a[?(@.x)]}",
            "{.a[foo]}",
            "{.a[1}",
            "{range .items[*]}",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
