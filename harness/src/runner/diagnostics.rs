//! The diagnostics bundle written when a scenario fails:
//! `<report dir>/<scenario>/diagnostics/` with `failure.txt` (the failed step,
//! its deadline and diff), `events.yaml` (the namespace's events in time
//! order) and `objects/<resource>.yaml` (every object of every listable
//! namespaced kind in the namespace, without managedFields; Secret values
//! redacted).
//!
//! It is collected right after the first failing step, before `catch`,
//! `finally` and cleanup run, so it shows the state that failed. It is scoped
//! to the scenario's namespace to stay readable (kuttl's event dumps of
//! everything are a known complaint).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use kube::{
    Api, Discovery,
    api::{DynamicObject, ListParams},
    discovery::{Scope, verbs},
};
use serde_json::Value;

use super::{
    context::Ctx,
    report::{StepReport, write_redacted},
};
use crate::scenario::yaml;

/// Real time the bundle may take; diagnostics must not hang a failed run.
const BUDGET: Duration = Duration::from_secs(20);

/// Removes what an earlier run of this scenario left in `out_dir` (its
/// diagnostics bundle and datasets), so that a bundle from a failure since
/// fixed does not sit beside a passing report. Only those two directories,
/// which this module and `produce` write, are touched.
pub(crate) fn clear_previous(out_dir: &Path) {
    for dir in ["diagnostics", "datasets"] {
        let _ = std::fs::remove_dir_all(out_dir.join(dir));
    }
}

/// Writes the bundle for `step`'s failure; returns its directory.
pub(crate) async fn collect(ctx: &Ctx<'_>, step: &StepReport) -> PathBuf {
    let dir = ctx.out_dir.join("diagnostics");
    // Only this scenario's previous bundle is removed, never anything else.
    let _ = std::fs::remove_dir_all(&dir);
    let secrets = &ctx.secrets;
    let _ = write_redacted(&dir.join("failure.txt"), &failure_text(ctx, step), secrets);
    if tokio::time::timeout(BUDGET, dump(ctx, &dir)).await.is_err() {
        let _ = write_redacted(
            &dir.join("INCOMPLETE.txt"),
            "collecting diagnostics took too long; the bundle is partial\n",
            secrets,
        );
    }
    dir
}

fn failure_text(ctx: &Ctx<'_>, step: &StepReport) -> String {
    let mut out = format!(
        "scenario: {}\nfile: {}\nnamespace: {}\nstep: {} {}\n",
        ctx.scenario.metadata.name,
        ctx.scenario.file.display(),
        ctx.namespace,
        step.id,
        step.name
    );
    if let Some(failure) = &step.failure {
        out.push_str(&format!("failure: {}\n", failure.message));
        if !failure.diff.is_empty() {
            out.push_str("diff:\n");
            for line in &failure.diff {
                out.push_str(&format!("  {line}\n"));
            }
        }
        if let Some(output) = &failure.output {
            out.push_str(&format!("output:\n{output}\n"));
        }
    }
    out
}

async fn dump(ctx: &Ctx<'_>, dir: &Path) {
    let client = ctx.kinds.client().clone();
    let secrets = &ctx.secrets;
    let discovery = match Discovery::new(client.clone()).run().await {
        Ok(discovery) => discovery,
        Err(err) => {
            let _ = write_redacted(
                &dir.join("ERRORS.txt"),
                &format!("discovery failed: {err}\n"),
                secrets,
            );
            return;
        }
    };
    let mut errors = String::new();
    // Written first so the bundle always has it; replaced below when the
    // namespace has events.
    let _ = write_redacted(
        &dir.join("events.yaml"),
        "# no events in this namespace\n",
        secrets,
    );
    for group in discovery.groups() {
        for (resource, capabilities) in group.recommended_resources() {
            if capabilities.scope != Scope::Namespaced
                || !capabilities.supports_operation(verbs::LIST)
            {
                continue;
            }
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &ctx.namespace, &resource);
            let items = match api.list(&ListParams::default()).await {
                Ok(list) => list.items,
                Err(err) => {
                    errors.push_str(&format!("list {}: {err}\n", resource.plural));
                    continue;
                }
            };
            if items.is_empty() {
                continue;
            }
            let mut values: Vec<Value> = items
                .into_iter()
                .filter_map(|o| serde_json::to_value(o).ok())
                .map(scrub)
                .collect();
            let is_events = resource.kind == "Event";
            if is_events {
                values.sort_by_key(event_time);
            }
            let text: String = values
                .iter()
                .map(|v| format!("---\n{}", yaml::to_string(v)))
                .collect();
            let file = if is_events && resource.group.is_empty() {
                dir.join("events.yaml")
            } else {
                let group = if resource.group.is_empty() {
                    "core".to_owned()
                } else {
                    resource.group.clone()
                };
                dir.join("objects")
                    .join(format!("{}.{group}.yaml", resource.plural))
            };
            let _ = write_redacted(&file, &text, secrets);
        }
    }
    if !errors.is_empty() {
        let _ = write_redacted(&dir.join("ERRORS.txt"), &errors, secrets);
    }
}

/// Drops noise (managedFields) and secret values.
fn scrub(mut value: Value) -> Value {
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    if value.get("kind").and_then(Value::as_str) == Some("Secret") {
        for field in ["data", "stringData"] {
            if let Some(map) = value.get_mut(field).and_then(Value::as_object_mut) {
                for entry in map.values_mut() {
                    *entry = Value::String("<redacted>".to_owned());
                }
            }
        }
    }
    value
}

/// The time an event happened, for ordering (RFC 3339 strings sort in time order).
fn event_time(event: &Value) -> String {
    ["lastTimestamp", "eventTime", "firstTimestamp"]
        .iter()
        .find_map(|field| event.get(*field).and_then(Value::as_str))
        .or_else(|| {
            event
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
        })
        .unwrap_or("")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scrubbing_hides_secret_values_and_managed_fields() {
        let secret = json!({"kind": "Secret", "metadata": {"name": "s", "managedFields": [{}]}, "data": {"token": "c2VjcmV0"}});
        assert_eq!(
            scrub(secret),
            json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"token": "<redacted>"}})
        );
    }
}
