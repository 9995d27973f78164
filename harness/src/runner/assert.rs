//! `assert` and `error`: poll objects and compare them with partial objects.
//!
//! `assert` holds when the named object (or, without a name, any / all /
//! exactly `count` of the objects the labels select) matches. `error` is
//! the negation: no object may match. Either can be `eventually` (poll
//! until it holds, up to the deadline) or `consistently` (it must hold at
//! every poll for a window). On failure the report shows the last state
//! seen as a path-precise diff.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    context::Ctx,
    deadline::{Check, Deadline, throughout, until},
    matcher::{self, brief},
    objects::{self, FetchError, Target},
    report::Failure,
};
use crate::scenario::{
    FieldPath,
    jsonpath::JsonPath,
    verbs::{Assert, ListMode, Mode, Quantifier, Refute},
};

/// How many non-matching candidates a failure shows.
const SHOWN_CANDIDATES: usize = 3;

/// Runs an `assert` step; returns notes (captured variables).
pub(crate) async fn run_assert(
    ctx: &mut Ctx<'_>,
    assert: &Assert,
    deadline: &Deadline,
    window: Option<&Deadline>,
) -> Result<Vec<String>, Failure> {
    let expected: Vec<Value> = assert
        .objects
        .iter()
        .map(|m| ctx.expand_value(&m.value))
        .collect::<Result<_, _>>()?;
    let shared: &Ctx<'_> = ctx;
    let check = async || {
        evaluate(
            shared,
            &expected,
            assert.quantifier,
            assert.count,
            assert.lists,
        )
        .await
    };
    let matched = match (assert.mode, window) {
        (Mode::Consistently, Some(window)) => {
            let mut last = Vec::new();
            throughout(window, "assert", async || match check().await {
                Check::Done(found) => {
                    last = found;
                    Check::Done(())
                }
                Check::Pending { summary, diff } => Check::Pending { summary, diff },
                Check::Fatal(failure) => Check::Fatal(failure),
            })
            .await?;
            last
        }
        _ => until(deadline, "assert", check).await?,
    };
    capture(ctx, &assert.capture, matched.first())
}

/// Sets variables from `object` (the first match); returns report notes.
pub(crate) fn capture(
    ctx: &mut Ctx<'_>,
    captures: &BTreeMap<String, JsonPath>,
    object: Option<&Value>,
) -> Result<Vec<String>, Failure> {
    let mut notes = Vec::new();
    for (name, path) in captures {
        let object = object
            .ok_or_else(|| Failure::new(format!("cannot capture {name}: no object matched")))?;
        let value = path
            .select_one(object)
            .map_err(|reason| Failure::new(format!("cannot capture {name}: {reason}")))?
            .clone();
        notes.push(format!("captured {name} = {}", brief(&value)));
        ctx.vars.set(name, value);
    }
    Ok(notes)
}

/// Runs an `error` step.
pub(crate) async fn run_refute(
    ctx: &Ctx<'_>,
    refute: &Refute,
    deadline: &Deadline,
    window: Option<&Deadline>,
) -> Result<Vec<String>, Failure> {
    let forbidden: Vec<Value> = refute
        .objects
        .iter()
        .map(|m| ctx.expand_value(&m.value))
        .collect::<Result<_, _>>()?;
    let check = async || absent(ctx, &forbidden, refute.lists).await;
    match (refute.mode, window) {
        (Mode::Consistently, Some(window)) => throughout(window, "error", check).await?,
        _ => until(deadline, "error", check).await?,
    }
    Ok(Vec::new())
}

/// One pass of an assert: every expected object must be satisfied.
/// Returns, when it holds, the first matching object of each expectation.
async fn evaluate(
    ctx: &Ctx<'_>,
    expected: &[Value],
    quantifier: Quantifier,
    count: Option<usize>,
    lists: ListMode,
) -> Check<Vec<Value>> {
    let mut matched = Vec::new();
    let mut summaries = Vec::new();
    let mut diff = Vec::new();
    for expectation in expected {
        let target = Target::of(expectation);
        let candidates = match objects::fetch(ctx, &target).await {
            Ok(candidates) => candidates,
            Err(err @ (FetchError::UnknownKind(_) | FetchError::Api(_))) => {
                summaries.push(format!("{}: {}", target.describe(), err.message()));
                continue;
            }
        };
        match judge(
            expectation,
            &target,
            &candidates,
            quantifier,
            count,
            lists,
            &namespace_of(ctx, &target),
        ) {
            Ok(first) => matched.push(first),
            Err((summary, lines)) => {
                summaries.push(summary);
                diff.extend(lines);
            }
        }
    }
    if summaries.is_empty() {
        Check::Done(matched)
    } else {
        Check::Pending {
            summary: summaries.join("; "),
            diff,
        }
    }
}

fn namespace_of(ctx: &Ctx<'_>, target: &Target) -> String {
    target
        .namespace
        .clone()
        .unwrap_or_else(|| ctx.namespace.clone())
}

/// Decides one expectation against its candidates (pure, so it is unit
/// tested without a cluster). `Ok` carries the first match; `Err` a summary
/// and diff lines.
fn judge(
    expected: &Value,
    target: &Target,
    candidates: &[Value],
    quantifier: Quantifier,
    count: Option<usize>,
    lists: ListMode,
    namespace: &str,
) -> Result<Value, (String, Vec<String>)> {
    if target.name.is_some() {
        let Some(actual) = candidates.first() else {
            return Err((
                format!("{} not found in namespace {namespace}", target.describe()),
                Vec::new(),
            ));
        };
        let mismatches = matcher::diff(expected, actual, lists);
        return if mismatches.is_empty() {
            Ok(actual.clone())
        } else {
            Err((
                format!("{} does not match", target.describe()),
                mismatches.iter().map(ToString::to_string).collect(),
            ))
        };
    }
    if candidates.is_empty() && count != Some(0) {
        return Err((
            format!("no {} in namespace {namespace}", target.describe()),
            Vec::new(),
        ));
    }
    let results: Vec<(&Value, Vec<matcher::Mismatch>)> = candidates
        .iter()
        .map(|c| (c, matcher::diff(expected, c, lists)))
        .collect();
    let matching: Vec<&Value> = results
        .iter()
        .filter(|(_, m)| m.is_empty())
        .map(|(c, _)| *c)
        .collect();
    let holds = match (count, quantifier) {
        (Some(n), _) => matching.len() == n,
        (None, Quantifier::Any) => !matching.is_empty(),
        (None, Quantifier::All) => matching.len() == candidates.len(),
    };
    if holds {
        // With `count: 0` there is nothing to capture from; Null stands in.
        return Ok(matching.first().map_or(Value::Null, |v| (*v).clone()));
    }
    let summary = match (count, quantifier) {
        (Some(n), _) => format!(
            "expected {n} of {} {} to match, {} did",
            candidates.len(),
            target.describe(),
            matching.len()
        ),
        (None, Quantifier::Any) => {
            format!("none of {} {} matches", candidates.len(), target.describe())
        }
        (None, Quantifier::All) => format!(
            "{} of {} {} do not match",
            candidates.len() - matching.len(),
            candidates.len(),
            target.describe()
        ),
    };
    let mut failing: Vec<&(&Value, Vec<matcher::Mismatch>)> =
        results.iter().filter(|(_, m)| !m.is_empty()).collect();
    failing.sort_by_key(|(_, m)| m.len());
    let lines = failing
        .iter()
        .take(SHOWN_CANDIDATES)
        .flat_map(|(candidate, mismatches)| {
            let name = objects::object_name(candidate).to_owned();
            mismatches
                .iter()
                .map(move |m| format!("{}/{name}: {m}", target.kind))
        })
        .collect();
    Err((summary, lines))
}

/// One pass of `error`: done when no object matches any forbidden state.
async fn absent(ctx: &Ctx<'_>, forbidden: &[Value], lists: ListMode) -> Check<()> {
    let mut summaries = Vec::new();
    let mut diff = Vec::new();
    for state in forbidden {
        let target = Target::of(state);
        match objects::fetch(ctx, &target).await {
            // A kind the cluster does not serve has no objects in any state.
            Err(FetchError::UnknownKind(_)) => {}
            Err(FetchError::Api(message)) => {
                summaries.push(format!("{}: {message}", target.describe()))
            }
            Ok(candidates) => {
                for candidate in candidates
                    .iter()
                    .filter(|c| matcher::matches(state, c, lists))
                {
                    let name = objects::object_name(candidate);
                    summaries.push(format!("{}/{name} is in the forbidden state", target.kind));
                    diff.extend(
                        observed(state, candidate)
                            .into_iter()
                            .map(|line| format!("{}/{name}: {line}", target.kind)),
                    );
                }
            }
        }
    }
    if summaries.is_empty() {
        Check::Done(())
    } else {
        Check::Pending {
            summary: summaries.join("; "),
            diff,
        }
    }
}

/// `path = value` for each leaf the forbidden state names, as found: this is
/// what made the object match.
fn observed(state: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    leaves(state, actual, &FieldPath::root(), &mut out);
    out
}

fn leaves(state: &Value, actual: &Value, path: &FieldPath, out: &mut Vec<String>) {
    match state {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                if let Some(actual_child) = actual.get(key) {
                    leaves(child, actual_child, &path.key(key), out);
                } else {
                    out.push(format!("{} is absent", path.key(key)));
                }
            }
        }
        _ => out.push(format!("{path} = {}", brief(actual))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, phase: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "x"}}, "status": {"phase": phase}})
    }

    fn expect_running(name: Option<&str>) -> Value {
        let mut value = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"app": "x"}}, "status": {"phase": "Running"}});
        if let Some(name) = name {
            value["metadata"]["name"] = json!(name);
        }
        value
    }

    fn run_judge(
        expected: &Value,
        candidates: &[Value],
        quantifier: Quantifier,
        count: Option<usize>,
    ) -> Result<Value, (String, Vec<String>)> {
        judge(
            expected,
            &Target::of(expected),
            candidates,
            quantifier,
            count,
            ListMode::Exact,
            "ns",
        )
    }

    #[test]
    fn a_named_object_must_exist_and_match() {
        let expected = expect_running(Some("a"));
        assert_eq!(
            run_judge(&expected, &[], Quantifier::Any, None)
                .unwrap_err()
                .0,
            "Pod/a not found in namespace ns"
        );
        let (summary, diff) =
            run_judge(&expected, &[pod("a", "Pending")], Quantifier::Any, None).unwrap_err();
        assert_eq!(summary, "Pod/a does not match");
        assert_eq!(
            diff,
            vec![r#"status.phase: expected "Running", got "Pending""#.to_owned()]
        );
        assert!(run_judge(&expected, &[pod("a", "Running")], Quantifier::Any, None).is_ok());
    }

    #[test]
    fn quantifiers_and_counts_over_a_selection() {
        let expected = expect_running(None);
        let mixed = [pod("a", "Running"), pod("b", "Pending")];
        assert_eq!(
            run_judge(&expected, &mixed, Quantifier::Any, None)
                .ok()
                .map(|v| v["metadata"]["name"].clone()),
            Some(json!("a"))
        );
        let (summary, diff) = run_judge(&expected, &mixed, Quantifier::All, None).unwrap_err();
        assert_eq!(summary, "1 of 2 Pod -l app=x do not match");
        assert_eq!(
            diff,
            vec![r#"Pod/b: status.phase: expected "Running", got "Pending""#.to_owned()]
        );
        assert!(run_judge(&expected, &mixed, Quantifier::Any, Some(1)).is_ok());
        assert_eq!(
            run_judge(&expected, &mixed, Quantifier::Any, Some(2))
                .unwrap_err()
                .0,
            "expected 2 of 2 Pod -l app=x to match, 1 did"
        );
        assert_eq!(
            run_judge(&expected, &[], Quantifier::Any, None)
                .unwrap_err()
                .0,
            "no Pod -l app=x in namespace ns"
        );
        assert!(run_judge(&expected, &[], Quantifier::Any, Some(0)).is_ok());
    }

    #[test]
    fn forbidden_states_show_what_matched() {
        let state = json!({"status": {"phase": "Failed", "reason": {}}});
        let actual = json!({"status": {"phase": "Failed", "reason": {"x": 1}}});
        assert_eq!(
            observed(&state, &actual),
            vec![
                r#"status.phase = "Failed""#.to_owned(),
                r#"status.reason = {"x":1}"#.to_owned()
            ]
        );
    }
}
