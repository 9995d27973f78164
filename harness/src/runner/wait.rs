//! `wait`: kubectl-wait semantics over one object or a label selection.
//!
//! `condition=Ready` looks for a `status.conditions` entry of that type with
//! status `True` (compared case-insensitively, as kubectl does);
//! `jsonpath={...}=value` compares the printed value; `delete` waits until
//! nothing is left and `create` until something exists. With labels, every
//! selected object must satisfy the condition and at least one must exist.

use serde_json::Value;

use super::{
    assert::capture,
    context::Ctx,
    deadline::{Check, Deadline, until},
    objects::{self, Target},
    report::Failure,
};
use crate::scenario::{
    jsonpath,
    verbs::{Wait, WaitFor},
};

/// Runs a `wait` step; returns notes (captured variables).
pub(crate) async fn run(
    ctx: &mut Ctx<'_>,
    wait: &Wait,
    deadline: &Deadline,
) -> Result<Vec<String>, Failure> {
    let target = Target::expanded(
        ctx,
        &wait.api_version,
        &wait.kind,
        wait.name.as_deref(),
        wait.labels.as_ref(),
        wait.namespace.as_deref(),
    )?;
    let condition = match &wait.condition {
        WaitFor::JsonPath {
            path,
            value: Some(value),
        } => WaitFor::JsonPath {
            path: path.clone(),
            value: Some(ctx.expand(value)?),
        },
        other => other.clone(),
    };
    let what = format!("wait for {} ({})", target.describe(), describe(&condition));
    let shared: &Ctx<'_> = ctx;
    let objects = until(deadline, &what, async || {
        match objects::fetch(shared, &target).await {
            Err(err) => Check::pending(err.message()),
            Ok(objects) => match satisfied(&condition, &objects) {
                Ok(()) => Check::Done(objects),
                Err(lines) => Check::Pending {
                    summary: if objects.is_empty() {
                        format!("no {} found", target.describe())
                    } else {
                        "condition not met".to_owned()
                    },
                    diff: lines,
                },
            },
        }
    })
    .await?;
    capture(ctx, &wait.capture, objects.first())
}

fn describe(condition: &WaitFor) -> String {
    match condition {
        WaitFor::Delete => "delete".to_owned(),
        WaitFor::Create => "create".to_owned(),
        WaitFor::Condition { condition, status } => format!("condition={condition}={status}"),
        WaitFor::JsonPath {
            path,
            value: Some(value),
        } => format!("jsonpath={path}={value}"),
        WaitFor::JsonPath { path, value: None } => format!("jsonpath={path}"),
    }
}

/// Whether `objects` satisfy `condition`; otherwise one line per object
/// saying what it has instead.
fn satisfied(condition: &WaitFor, objects: &[Value]) -> Result<(), Vec<String>> {
    match condition {
        WaitFor::Delete => {
            if objects.is_empty() {
                Ok(())
            } else {
                Err(objects
                    .iter()
                    .map(|o| format!("{} still exists", objects::object_name(o)))
                    .collect())
            }
        }
        WaitFor::Create if !objects.is_empty() => Ok(()),
        _ if objects.is_empty() => Err(Vec::new()),
        WaitFor::Create => Ok(()),
        WaitFor::Condition { condition, status } => {
            let lines: Vec<String> = objects
                .iter()
                .filter_map(|object| {
                    let found = object
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        // kubectl matches the type ignoring case (strings.EqualFold).
                        .and_then(|list| list.iter().find(|c| c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(condition))))
                        .and_then(|c| c.get("status"))
                        .and_then(Value::as_str);
                    match found {
                        Some(actual) if actual.eq_ignore_ascii_case(status) => None,
                        Some(actual) => Some(format!(
                            "{}: status.conditions[type={condition}].status: expected {status:?}, got {actual:?}",
                            objects::object_name(object)
                        )),
                        None => Some(format!("{}: no condition of type {condition:?}", objects::object_name(object))),
                    }
                })
                .collect();
            if lines.is_empty() { Ok(()) } else { Err(lines) }
        }
        WaitFor::JsonPath { path, value } => {
            let lines: Vec<String> = objects
                .iter()
                .filter_map(|object| {
                    let name = objects::object_name(object);
                    match (path.select_one(object), value) {
                        (Ok(_), None) => None,
                        (Ok(found), Some(want)) if jsonpath::render(found) == *want => None,
                        (Ok(found), Some(want)) => Some(format!(
                            "{name}: {path}: expected {want:?}, got {:?}",
                            jsonpath::render(found)
                        )),
                        (Err(reason), _) => Some(format!("{name}: {reason}")),
                    }
                })
                .collect();
            if lines.is_empty() { Ok(()) } else { Err(lines) }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(ready: &str) -> Value {
        json!({"metadata": {"name": "p"}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}})
    }

    #[test]
    fn conditions_compare_like_kubectl() {
        let ready = WaitFor::parse("condition=Ready").expect("valid");
        assert_eq!(satisfied(&ready, &[pod("True")]), Ok(()));
        assert_eq!(
            satisfied(
                &WaitFor::parse("condition=Ready=false").expect("valid"),
                &[pod("False")]
            ),
            Ok(())
        );
        assert_eq!(
            satisfied(&ready, &[pod("False")]),
            Err(vec![
                r#"p: status.conditions[type=Ready].status: expected "True", got "False""#
                    .to_owned()
            ])
        );
        assert_eq!(satisfied(&ready, &[]), Err(Vec::new()));
        assert_eq!(
            satisfied(
                &WaitFor::parse("condition=ready=TRUE").expect("valid"),
                &[pod("True")]
            ),
            Ok(()),
            "type and status ignore case, as in kubectl"
        );
    }

    #[test]
    fn jsonpath_deletion_and_creation() {
        let running = WaitFor::parse("jsonpath={.status.phase}=Running").expect("valid");
        assert_eq!(satisfied(&running, &[pod("True")]), Ok(()));
        let failed = WaitFor::parse("jsonpath='{.status.phase}'=Failed").expect("valid");
        assert_eq!(
            satisfied(&failed, &[pod("True")]),
            Err(vec![
                r#"p: {.status.phase}: expected "Failed", got "Running""#.to_owned()
            ])
        );
        let set = WaitFor::parse("jsonpath={.status.nope}").expect("valid");
        assert_eq!(
            satisfied(&set, &[pod("True")]),
            Err(vec!["p: {.status.nope} is not set".to_owned()])
        );
        assert_eq!(satisfied(&WaitFor::Delete, &[]), Ok(()));
        assert_eq!(
            satisfied(&WaitFor::Delete, &[pod("True")]),
            Err(vec!["p still exists".to_owned()])
        );
        assert_eq!(satisfied(&WaitFor::Create, &[pod("True")]), Ok(()));
        assert_eq!(satisfied(&WaitFor::Create, &[]), Err(Vec::new()));
    }
}
