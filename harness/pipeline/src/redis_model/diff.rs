//! Comparing an expected Redis state with an actual one, and saying precisely
//! how they differ.

use std::{collections::BTreeMap, fmt};

use crate::redis_model::{RedisState, RedisValue};

/// One way the actual state differs from the expected one.
#[derive(Clone, Debug, PartialEq)]
pub enum Difference {
    /// An expected key is absent.
    MissingKey {
        /// The key.
        key: String,
        /// `hash` or `zset`.
        expected_type: &'static str,
    },
    /// A key that should not exist does.
    ExtraKey {
        /// The key.
        key: String,
        /// `hash` or `zset`.
        actual_type: &'static str,
    },
    /// The key holds the other type.
    TypeDiffers {
        /// The key.
        key: String,
        /// `hash` or `zset`.
        expected: &'static str,
        /// `hash` or `zset`.
        actual: &'static str,
    },
    /// A hash lacks a field.
    FieldMissing {
        /// The key.
        key: String,
        /// The field.
        field: String,
        /// Its expected value.
        expected: String,
    },
    /// A hash has an unexpected field.
    FieldExtra {
        /// The key.
        key: String,
        /// The field.
        field: String,
        /// Its value.
        actual: String,
    },
    /// A hash field has another value.
    FieldDiffers {
        /// The key.
        key: String,
        /// The field.
        field: String,
        /// The expected value.
        expected: String,
        /// The actual value.
        actual: String,
    },
    /// A sorted set lacks a member.
    MemberMissing {
        /// The key.
        key: String,
        /// The member.
        member: String,
        /// Its expected score.
        expected_score: f64,
    },
    /// A sorted set has an unexpected member.
    MemberExtra {
        /// The key.
        key: String,
        /// The member.
        member: String,
        /// Its score.
        actual_score: f64,
    },
    /// A member has another score.
    ScoreDiffers {
        /// The key.
        key: String,
        /// The member.
        member: String,
        /// The expected score.
        expected: f64,
        /// The actual score.
        actual: f64,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::MissingKey { key, expected_type } => {
                write!(f, "missing key {key} (expected a {expected_type})")
            }
            Difference::ExtraKey { key, actual_type } => {
                write!(f, "extra key {key} (a {actual_type})")
            }
            Difference::TypeDiffers {
                key,
                expected,
                actual,
            } => {
                write!(f, "key {key}: expected a {expected}, found a {actual}")
            }
            Difference::FieldMissing {
                key,
                field,
                expected,
            } => {
                write!(
                    f,
                    "hash {key}: missing field {field} (expected {expected:?})"
                )
            }
            Difference::FieldExtra { key, field, actual } => {
                write!(f, "hash {key}: extra field {field} = {actual:?}")
            }
            Difference::FieldDiffers {
                key,
                field,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "hash {key} field {field}: expected {expected:?}, found {actual:?}"
                )
            }
            Difference::MemberMissing {
                key,
                member,
                expected_score,
            } => {
                write!(
                    f,
                    "zset {key}: missing member {member} (expected score {expected_score})"
                )
            }
            Difference::MemberExtra {
                key,
                member,
                actual_score,
            } => {
                write!(
                    f,
                    "zset {key}: extra member {member} (score {actual_score})"
                )
            }
            Difference::ScoreDiffers {
                key,
                member,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "zset {key} member {member}: expected score {expected}, found {actual}"
                )
            }
        }
    }
}

/// Whether two scores are equal for verification. A whole expected score (a
/// plain hot score: a sum of small integers, exact in a double and in Redis's
/// text) must match exactly; a fractional one (a decayed score) passes
/// through Redis's and JSON's decimal text, which may cost the last digit, so
/// it may differ by a relative 1e-9.
fn same_score(expected: f64, actual: f64) -> bool {
    expected == actual
        || (expected.fract() != 0.0
            && (expected - actual).abs() <= 1e-9 * expected.abs().max(actual.abs()))
}

/// Every difference between `expected` and `actual`, in key order.
pub fn diff(expected: &RedisState, actual: &RedisState) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut actual_keys = actual.iter().peekable();
    for (key, want) in expected.iter() {
        while let Some((extra, value)) = actual_keys.next_if(|(other, _)| *other < key) {
            out.push(Difference::ExtraKey {
                key: extra.to_string(),
                actual_type: value.type_name(),
            });
        }
        match actual_keys.next_if(|(other, _)| *other == key) {
            None => out.push(Difference::MissingKey {
                key: key.to_string(),
                expected_type: want.type_name(),
            }),
            Some((_, have)) => diff_value(key, want, have, &mut out),
        }
    }
    for (extra, value) in actual_keys {
        out.push(Difference::ExtraKey {
            key: extra.to_string(),
            actual_type: value.type_name(),
        });
    }
    out
}

fn diff_value(key: &str, want: &RedisValue, have: &RedisValue, out: &mut Vec<Difference>) {
    match (want, have) {
        (RedisValue::Hash(want), RedisValue::Hash(have)) => diff_maps(
            want,
            have,
            |a, b| a == b,
            |field, expected| Difference::FieldMissing {
                key: key.into(),
                field: field.into(),
                expected: expected.clone(),
            },
            |field, actual| Difference::FieldExtra {
                key: key.into(),
                field: field.into(),
                actual: actual.clone(),
            },
            |field, expected, actual| Difference::FieldDiffers {
                key: key.into(),
                field: field.into(),
                expected: expected.clone(),
                actual: actual.clone(),
            },
            out,
        ),
        (RedisValue::Zset(want), RedisValue::Zset(have)) => diff_maps(
            want,
            have,
            |a, b| same_score(*a, *b),
            |member, score| Difference::MemberMissing {
                key: key.into(),
                member: member.into(),
                expected_score: *score,
            },
            |member, score| Difference::MemberExtra {
                key: key.into(),
                member: member.into(),
                actual_score: *score,
            },
            |member, expected, actual| Difference::ScoreDiffers {
                key: key.into(),
                member: member.into(),
                expected: *expected,
                actual: *actual,
            },
            out,
        ),
        _ => out.push(Difference::TypeDiffers {
            key: key.into(),
            expected: want.type_name(),
            actual: have.type_name(),
        }),
    }
}

/// Walks two sorted maps together; the callbacks build the differences of one
/// value type (hash fields or sorted-set members).
fn diff_maps<V>(
    want: &BTreeMap<String, V>,
    have: &BTreeMap<String, V>,
    same: impl Fn(&V, &V) -> bool,
    missing: impl Fn(&str, &V) -> Difference,
    extra: impl Fn(&str, &V) -> Difference,
    differs: impl Fn(&str, &V, &V) -> Difference,
    out: &mut Vec<Difference>,
) {
    for (name, expected) in want {
        match have.get(name) {
            None => out.push(missing(name, expected)),
            Some(actual) if !same(expected, actual) => out.push(differs(name, expected, actual)),
            Some(_) => {}
        }
    }
    for (name, actual) in have {
        if !want.contains_key(name) {
            out.push(extra(name, actual));
        }
    }
}

/// A report of at most `limit` differences, one per line, with a count line
/// first (`3 differences between expected and actual Redis state:`) and a
/// final `... and N more` when cut. Empty input renders as `no differences`.
pub fn render_differences(differences: &[Difference], limit: usize) -> String {
    if differences.is_empty() {
        return "no differences".to_string();
    }
    let noun = if differences.len() == 1 {
        "difference"
    } else {
        "differences"
    };
    let mut text = format!(
        "{} {noun} between expected and actual Redis state:",
        differences.len()
    );
    for difference in differences.iter().take(limit) {
        text.push_str("\n  ");
        text.push_str(&difference.to_string());
    }
    if differences.len() > limit {
        text.push_str(&format!("\n  ... and {} more", differences.len() - limit));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn whole_scores_match_exactly_and_fractional_ones_within_a_rounding() {
        assert!(same_score(255.0, 255.0));
        assert!(!same_score(255.0, 255.000_000_1), "a tampered plain score");
        let decayed = 12.345_678_901_234_567;
        assert!(same_score(decayed, 12.345_678_901_234_56));
        assert!(!same_score(decayed, 12.345_7));
    }
    use crate::redis_model::RedisWrite;

    fn hash(fields: &[(&str, &str)]) -> RedisValue {
        RedisValue::Hash(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn zset(members: &[(&str, f64)]) -> RedisValue {
        RedisValue::Zset(members.iter().map(|(m, s)| (m.to_string(), *s)).collect())
    }

    fn state(keys: Vec<(&str, RedisValue)>) -> RedisState {
        let mut state = RedisState::default();
        for (key, value) in keys {
            state.insert(key.to_string(), value);
        }
        state
    }

    #[test]
    fn equal_states_have_no_differences() {
        let one = state(vec![
            ("a", hash(&[("view", "1")])),
            ("z", zset(&[("i", 3.0)])),
        ]);
        assert_eq!(diff(&one, &one.clone()), vec![]);
        assert_eq!(render_differences(&[], 10), "no differences");
    }

    #[test]
    fn every_kind_of_difference_is_found_and_rendered_precisely() {
        let expected = state(vec![
            ("a:missing", hash(&[("view", "1")])),
            (
                "b:hash",
                hash(&[("view", "1"), ("like", "2"), ("share", "0")]),
            ),
            ("c:type", hash(&[("view", "1")])),
            ("d:zset", zset(&[("i1", 3.0), ("i2", 2.5), ("i3", 1.0)])),
        ]);
        let actual = state(vec![
            (
                "b:hash",
                hash(&[("view", "1"), ("like", "3"), ("extra", "x")]),
            ),
            ("c:type", zset(&[("i", 1.0)])),
            (
                "d:zset",
                zset(&[("i1", 3.5), ("i2", 2.5 + 1e-12), ("i4", 9.0)]),
            ),
            ("e:extra", zset(&[("i", 1.0)])),
        ]);
        let lines: Vec<String> = diff(&expected, &actual)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            vec![
                "missing key a:missing (expected a hash)",
                "hash b:hash field like: expected \"2\", found \"3\"",
                "hash b:hash: missing field share (expected \"0\")",
                "hash b:hash: extra field extra = \"x\"",
                "key c:type: expected a hash, found a zset",
                "zset d:zset member i1: expected score 3, found 3.5",
                "zset d:zset: missing member i3 (expected score 1)",
                "zset d:zset: extra member i4 (score 9)",
                "extra key e:extra (a zset)",
            ],
            "i2, a fractional score, differs by 4e-13 relative, within the tolerance"
        );
        let report = render_differences(&diff(&expected, &actual), 2);
        assert_eq!(
            report,
            "9 differences between expected and actual Redis state:\n  missing key a:missing (expected a hash)\n  hash b:hash field like: expected \"2\", found \"3\"\n  ... and 7 more"
        );
    }

    #[test]
    fn applying_writes_follows_redis_semantics() {
        let mut redis = RedisState::default();
        redis.apply(&RedisWrite::Hash {
            key: "h".into(),
            fields: vec![("view", "1".into()), ("like", "0".into())],
        });
        redis.apply(&RedisWrite::Hash {
            key: "h".into(),
            fields: vec![("view", "2".into())],
        });
        assert_eq!(
            redis.get("h"),
            Some(&hash(&[("like", "0"), ("view", "2")])),
            "HSET keeps other fields"
        );
        redis.apply(&RedisWrite::ReplaceZset {
            key: "z".into(),
            members: vec![("a".into(), 1.0), ("b".into(), 2.0)],
            ttl_secs: 1,
        });
        redis.apply(&RedisWrite::ReplaceZset {
            key: "z".into(),
            members: vec![("c".into(), 5.0)],
            ttl_secs: 1,
        });
        assert_eq!(
            redis.get("z"),
            Some(&zset(&[("c", 5.0)])),
            "a replacement drops old members"
        );
        redis.apply(&RedisWrite::ReplaceZset {
            key: "z".into(),
            members: vec![],
            ttl_secs: 1,
        });
        assert_eq!(redis.get("z"), None, "an empty replacement deletes the key");
        let json = serde_json::to_string(&redis).unwrap();
        assert_eq!(
            json,
            r#"{"h":{"type":"hash","value":{"like":"0","view":"2"}}}"#
        );
        assert_eq!(serde_json::from_str::<RedisState>(&json).unwrap(), redis);
    }
}
