//! Partial-object matching with a path-precise diff.
//!
//! An expected object matches an actual one when every key it names matches
//! (keys it does not name are ignored), recursively. Lists compare either
//! `exact` (same length, element by element in order) or `contains` (every
//! expected element matches a distinct actual element, in any order). An
//! expected `null` means "absent or null", so a scenario can require that a
//! field is *not* set. Numbers compare by value (`1` equals `1.0`).
//!
//! The result is the list of [`Mismatch`]es, empty on a match; each names the
//! field (`status.jobStatus.state: expected "RUNNING", got "RECONCILING"`).

use std::fmt;

use serde_json::Value;

use crate::scenario::{FieldPath, verbs::ListMode};

/// One difference between expected and actual.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Where, from the object's root.
    pub path: FieldPath,
    /// What differs.
    pub problem: Problem,
}

/// The kinds of difference.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The field is absent.
    Missing {
        /// What was expected there.
        expected: Value,
    },
    /// The field has another value (or type).
    Different {
        /// What was expected.
        expected: Value,
        /// What is there.
        actual: Value,
    },
    /// `exact` list mode: the lengths differ.
    Length {
        /// Expected number of elements.
        expected: usize,
        /// Actual number of elements.
        actual: usize,
    },
    /// `contains` list mode: no actual element matches expected element `index`.
    NoElement {
        /// Index within the expected list.
        index: usize,
        /// The expected element.
        expected: Value,
        /// The closest actual element and how it differs.
        closest: Option<(usize, Vec<Mismatch>)>,
    },
    /// `contains` list mode: each expected element matches some actual
    /// element, but not all of them distinct ones.
    NotDistinct {
        /// Number of expected elements.
        expected: usize,
    },
    /// Expected `null` (absent), found a value.
    Present {
        /// What is there.
        actual: Value,
    },
}

/// Compares `expected` (partial) with `actual`; empty means they match.
pub fn diff(expected: &Value, actual: &Value, lists: ListMode) -> Vec<Mismatch> {
    let mut out = Vec::new();
    compare(expected, Some(actual), &FieldPath::root(), lists, &mut out);
    out
}

/// Whether `expected` matches `actual`.
pub fn matches(expected: &Value, actual: &Value, lists: ListMode) -> bool {
    diff(expected, actual, lists).is_empty()
}

fn compare(
    expected: &Value,
    actual: Option<&Value>,
    path: &FieldPath,
    lists: ListMode,
    out: &mut Vec<Mismatch>,
) {
    let mismatch = |problem| Mismatch {
        path: path.clone(),
        problem,
    };
    match (expected, actual) {
        (Value::Null, None | Some(Value::Null)) => {}
        (Value::Null, Some(actual)) => out.push(mismatch(Problem::Present {
            actual: actual.clone(),
        })),
        (expected, None) => out.push(mismatch(Problem::Missing {
            expected: expected.clone(),
        })),
        (Value::Object(expected_map), Some(Value::Object(actual_map))) => {
            for (key, expected_value) in expected_map {
                compare(
                    expected_value,
                    actual_map.get(key),
                    &path.key(key),
                    lists,
                    out,
                );
            }
        }
        (Value::Array(expected_items), Some(Value::Array(actual_items))) => match lists {
            ListMode::Exact => {
                if expected_items.len() != actual_items.len() {
                    out.push(mismatch(Problem::Length {
                        expected: expected_items.len(),
                        actual: actual_items.len(),
                    }));
                }
                for (index, (e, a)) in expected_items.iter().zip(actual_items).enumerate() {
                    compare(e, Some(a), &path.index(index), lists, out);
                }
            }
            ListMode::Contains => contains(expected_items, actual_items, path, out),
        },
        (Value::Number(e), Some(Value::Number(a))) => {
            let equal = e == a || matches!((e.as_f64(), a.as_f64()), (Some(x), Some(y)) if x == y);
            if !equal {
                out.push(mismatch(Problem::Different {
                    expected: expected.clone(),
                    actual: Value::Number(a.clone()),
                }));
            }
        }
        (expected, Some(actual)) => {
            if expected != actual {
                out.push(mismatch(Problem::Different {
                    expected: expected.clone(),
                    actual: actual.clone(),
                }));
            }
        }
    }
}

fn contains(expected: &[Value], actual: &[Value], path: &FieldPath, out: &mut Vec<Mismatch>) {
    // candidates[i] = actual indices that expected element i matches.
    let candidates: Vec<Vec<usize>> = expected
        .iter()
        .map(|e| {
            (0..actual.len())
                .filter(|&a| matches(e, &actual[a], ListMode::Contains))
                .collect()
        })
        .collect();
    let mut reported = false;
    for (index, found) in candidates.iter().enumerate() {
        if found.is_empty() {
            reported = true;
            let closest = actual
                .iter()
                .enumerate()
                .map(|(a, item)| (a, diff(&expected[index], item, ListMode::Contains)))
                .min_by_key(|(_, mismatches)| mismatches.len());
            let closest = closest.map(|(a, mismatches)| {
                let rebased = mismatches
                    .into_iter()
                    .map(|m| Mismatch {
                        path: FieldPath([path.index(a).0, m.path.0].concat()),
                        problem: m.problem,
                    })
                    .collect();
                (a, rebased)
            });
            out.push(Mismatch {
                path: path.clone(),
                problem: Problem::NoElement {
                    index,
                    expected: expected[index].clone(),
                    closest,
                },
            });
        }
    }
    if !reported && !assign(&candidates, 0, &mut vec![false; actual.len()]) {
        out.push(Mismatch {
            path: path.clone(),
            problem: Problem::NotDistinct {
                expected: expected.len(),
            },
        });
    }
}

/// Backtracking search for a distinct assignment; lists in Kubernetes
/// objects are short, so the worst case never matters in practice.
fn assign(candidates: &[Vec<usize>], next: usize, used: &mut Vec<bool>) -> bool {
    let Some(options) = candidates.get(next) else {
        return true;
    };
    for &a in options {
        if !used[a] {
            used[a] = true;
            if assign(candidates, next + 1, used) {
                return true;
            }
            used[a] = false;
        }
    }
    false
}

/// Compact JSON, cut to a readable length.
pub fn brief(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 120 {
        text
    } else {
        format!("{}...", text.chars().take(117).collect::<String>())
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = &self.path;
        match &self.problem {
            Problem::Missing { expected } => write!(
                f,
                "{path}: expected {}, but the field is missing",
                brief(expected)
            ),
            Problem::Different { expected, actual } => write!(
                f,
                "{path}: expected {}, got {}",
                brief(expected),
                brief(actual)
            ),
            Problem::Length { expected, actual } => {
                write!(f, "{path}: expected {expected} elements, got {actual}")
            }
            Problem::Present { actual } => {
                write!(f, "{path}: expected no value, got {}", brief(actual))
            }
            Problem::NotDistinct { expected } => {
                write!(
                    f,
                    "{path}: each of the {expected} expected elements matches something, but not {expected} distinct elements"
                )
            }
            Problem::NoElement {
                index,
                expected,
                closest,
            } => {
                write!(
                    f,
                    "{path}: no element matches expected[{index}] {}",
                    brief(expected)
                )?;
                match closest {
                    Some((_, mismatches)) if !mismatches.is_empty() => {
                        let first = &mismatches[0];
                        write!(f, "; closest: {first}")?;
                        if mismatches.len() > 1 {
                            write!(f, " (and {} more)", mismatches.len() - 1)?;
                        }
                        Ok(())
                    }
                    _ => write!(f, "; the list is empty"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn lines(expected: Value, actual: Value, lists: ListMode) -> Vec<String> {
        diff(&expected, &actual, lists)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn names_the_field_that_differs() {
        let actual = json!({"status": {"jobStatus": {"state": "RECONCILING"}, "lifecycleState": "DEPLOYED"}});
        let expected = json!({"status": {"jobStatus": {"state": "RUNNING"}, "error": null, "jobManagerDeploymentStatus": "READY"}});
        assert_eq!(
            lines(expected, actual, ListMode::Exact),
            vec![
                r#"status.jobManagerDeploymentStatus: expected "READY", but the field is missing"#,
                r#"status.jobStatus.state: expected "RUNNING", got "RECONCILING""#,
            ]
        );
    }

    #[test]
    fn null_means_absent() {
        assert!(matches(
            &json!({"status": {"error": null}}),
            &json!({"status": {}}),
            ListMode::Exact
        ));
        assert_eq!(
            lines(
                json!({"status": {"error": null}}),
                json!({"status": {"error": "boom"}}),
                ListMode::Exact
            ),
            vec![r#"status.error: expected no value, got "boom""#]
        );
    }

    #[test]
    fn exact_lists_compare_length_and_order() {
        let actual = json!({"items": [{"a": 1}, {"a": 2}]});
        assert!(matches(
            &json!({"items": [{}, {"a": 2}]}),
            &actual,
            ListMode::Exact
        ));
        assert_eq!(
            lines(
                json!({"items": [{"a": 2}]}),
                actual.clone(),
                ListMode::Exact
            ),
            vec![
                "items: expected 1 elements, got 2",
                "items[0].a: expected 2, got 1"
            ]
        );
    }

    #[test]
    fn contains_finds_elements_in_any_order_and_shows_the_closest() {
        let actual = json!({"conditions": [{"type": "Ready", "status": "False"}, {"type": "Running", "status": "True"}]});
        assert!(matches(
            &json!({"conditions": [{"type": "Running"}, {"type": "Ready"}]}),
            &actual,
            ListMode::Contains
        ));
        assert_eq!(
            lines(
                json!({"conditions": [{"type": "Ready", "status": "True"}]}),
                actual.clone(),
                ListMode::Contains
            ),
            vec![
                r#"conditions: no element matches expected[0] {"status":"True","type":"Ready"}; closest: conditions[0].status: expected "True", got "False""#
            ]
        );
        assert_eq!(
            lines(
                json!({"conditions": [{"type": "Ready"}, {"type": "Ready"}]}),
                actual,
                ListMode::Contains
            ),
            vec![
                "conditions: each of the 2 expected elements matches something, but not 2 distinct elements"
            ]
        );
    }

    #[test]
    fn numbers_compare_by_value_and_types_matter() {
        assert!(matches(
            &json!({"n": 1}),
            &json!({"n": 1.0}),
            ListMode::Exact
        ));
        assert_eq!(
            lines(json!({"n": "1"}), json!({"n": 1}), ListMode::Exact),
            vec![r#"n: expected "1", got 1"#]
        );
        assert_eq!(
            lines(json!({"a": {"b": 1}}), json!({"a": "x"}), ListMode::Exact),
            vec![r#"a: expected {"b":1}, got "x""#]
        );
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-z]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("[a-e]{1,3}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Drops map keys (and, in `contains` mode, list elements) pseudo-randomly,
    /// driven by `choices`, giving a sub-object of `value`.
    fn sub_object(
        value: &Value,
        choices: &mut impl Iterator<Item = bool>,
        lists: ListMode,
    ) -> Value {
        match value {
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (key, child) in map {
                    if choices.next().unwrap_or(true) {
                        out.insert(key.clone(), sub_object(child, choices, lists));
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                let mut out = Vec::new();
                for child in items {
                    if lists == ListMode::Exact || choices.next().unwrap_or(true) {
                        out.push(sub_object(child, choices, lists));
                    }
                }
                Value::Array(out)
            }
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn an_object_matches_itself(value in json_value()) {
            prop_assert!(diff(&value, &value, ListMode::Exact).is_empty());
            prop_assert!(diff(&value, &value, ListMode::Contains).is_empty());
        }

        #[test]
        fn an_object_matches_any_sub_object_of_itself(value in json_value(), choices in prop::collection::vec(any::<bool>(), 64)) {
            for lists in [ListMode::Exact, ListMode::Contains] {
                let sub = sub_object(&value, &mut choices.iter().copied().cycle(), lists);
                prop_assert!(diff(&sub, &value, lists).is_empty(), "{} should match {}", sub, value);
            }
        }

        #[test]
        fn changing_a_leaf_is_reported_at_its_path(value in json_value(), key in "[a-e]{1,3}") {
            let expected = json!({ key.clone(): "expected-marker" });
            let actual = json!({ key.clone(): value.clone() });
            let mismatches = diff(&expected, &actual, ListMode::Exact);
            prop_assert_eq!(mismatches.len(), 1);
            prop_assert_eq!(&mismatches[0].path, &FieldPath::root().key(&key));
        }
    }
}
