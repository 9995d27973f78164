//! The operator's Kubernetes events: its reasons, components and naming
//! scheme (facts §3.14).
//!
//! The operator names each event `<Component>.<hash>`, where the hash is
//! Java's `String.hashCode` of reason + message (or a message key) + type +
//! kind + name + uid, masked to a positive int. Repeating an event therefore
//! finds the same object and bumps its `count`; events emitted "once" (such
//! as `SpecChanged`, keyed `SpecChange: <generation>`) are created only if
//! absent.

use serde_json::Value;

use crate::{
    cluster::Ctx,
    controllers::{
        events::{self, EventRecord, EventType},
        meta,
    },
};

/// `source.component` of an operator event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The operator itself (validation, cleanup).
    Operator,
    /// The JobManager deployment (submit, suspend, spec changes).
    JobManagerDeployment,
    /// The Flink job (status changes, recovery).
    Job,
}

impl Component {
    /// The enum name the operator writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Operator => "Operator",
            Component::JobManagerDeployment => "JobManagerDeployment",
            Component::Job => "Job",
        }
    }
}

/// Java's `String.hashCode` over UTF-16 code units.
pub fn java_hash(text: &str) -> i32 {
    text.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The event name the operator generates for `resource`.
pub fn event_name(
    resource: &Value,
    type_: EventType,
    reason: &str,
    message_key: &str,
    component: Component,
) -> String {
    let text = format!(
        "{reason}{message_key}{}{}{}{}",
        type_.as_str(),
        resource["kind"].as_str().unwrap_or_default(),
        meta::name(resource),
        meta::uid(resource)
    );
    format!("{}.{}", component.as_str(), java_hash(&text) & 0x7FFF_FFFF)
}

/// Emits (or repeats) an operator event about `resource`.
pub fn emit(
    ctx: &mut Ctx<'_>,
    resource: &Value,
    type_: EventType,
    reason: &str,
    message: &str,
    component: Component,
) {
    let name = event_name(resource, type_, reason, message, component);
    record_named(ctx, resource, type_, reason, message, component, name);
}

/// Emits an event only if none with the same key exists (`createIfNotExists`).
pub fn emit_once(
    ctx: &mut Ctx<'_>,
    resource: &Value,
    type_: EventType,
    reason: &str,
    message: &str,
    component: Component,
    key: &str,
) {
    let name = event_name(resource, type_, reason, key, component);
    if events::exists(ctx, meta::namespace(resource), &name) {
        return;
    }
    record_named(ctx, resource, type_, reason, message, component, name);
}

/// Records the event `name` about `resource` (creating it or counting a repeat).
fn record_named(
    ctx: &mut Ctx<'_>,
    resource: &Value,
    type_: EventType,
    reason: &str,
    message: &str,
    component: Component,
    name: String,
) {
    let record = EventRecord::named(type_, reason, message.to_string(), component.as_str(), name);
    if let Err(err) = events::record(ctx, resource, &record) {
        // The operator ignores event write failures rather than failing the reconcile.
        tracing::debug!(resource = meta::name(resource), reason, %err, "event not recorded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn java_hash_matches_java() {
        // Values of "".hashCode(), "a".hashCode(), "hello".hashCode() and
        // "polygenelubricants".hashCode() (which is Integer.MIN_VALUE).
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("hello"), 99_162_322);
        assert_eq!(java_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn names_are_component_dot_positive_hash() {
        let resource =
            json!({"kind": "FlinkDeployment", "metadata": {"name": "basic", "uid": "u-1"}});
        let name = event_name(
            &resource,
            EventType::Normal,
            "Submit",
            "Starting deployment",
            Component::JobManagerDeployment,
        );
        let (component, hash) = name.split_once('.').unwrap();
        assert_eq!(component, "JobManagerDeployment");
        assert!(hash.parse::<i64>().unwrap() >= 0);
        let other = event_name(
            &resource,
            EventType::Normal,
            "Submit",
            "Starting deployment!",
            Component::JobManagerDeployment,
        );
        assert_ne!(name, other);
    }
}
