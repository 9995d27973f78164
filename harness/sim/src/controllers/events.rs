//! Kubernetes `v1` Events, recorded the way real components record them.
//!
//! Two recorders exist in a real cluster and both are modelled:
//! client-go's event recorder (kubelet, scheduler, workload controllers)
//! names events `<object>.<hex>` and folds repeats of the same event into one
//! by raising `count`; the Flink operator names events
//! `<Component>.<hash>` itself and updates the event of that name. Either
//! way a repeat bumps `count` and `lastTimestamp` instead of adding an object,
//! which is what `kubectl get events` shows.
//!
//! Both recorders write `eventTime: null`: they use the core `v1` API, where
//! only `firstTimestamp`/`lastTimestamp` are set.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::Ctx,
    controllers::meta,
    error::ApiError,
    resource::ResourceType,
    store::{ObjectKey, Subresource},
};

/// `Normal` or `Warning`, the two event types Kubernetes knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Routine progress.
    Normal,
    /// Something the user should look at.
    Warning,
}

impl EventType {
    /// The `type` field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Which recorder writes the event, which decides its name, deduplication
/// and reporting fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorder {
    /// client-go's recorder: generated name, repeats found by content
    /// (object, reason, message, type, component), `reportingComponent` and
    /// `reportingInstance` copied from the source.
    Kubernetes {
        /// `source.component`, e.g. `kubelet`, `deployment-controller`.
        component: String,
        /// `source.host`, the node name for the kubelet.
        host: Option<String>,
    },
    /// A recorder that picks the event name itself and updates the event of
    /// that name on repeats (the Flink operator's `EventUtils`).
    Named {
        /// `source.component`, e.g. `JobManagerDeployment`.
        component: String,
        /// `metadata.name` of the event.
        name: String,
    },
}

/// One event to record about an object.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// Normal or Warning.
    pub type_: EventType,
    /// Machine-readable reason, e.g. `Scheduled`, `JobStatusChanged`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// Who records it.
    pub recorder: Recorder,
    /// `involvedObject.fieldPath`, e.g. `spec.containers{flink-main-container}`.
    pub field_path: Option<String>,
    /// When it happened; `None` means the pass's `now`. Controllers that
    /// catch up on several transitions in one pass stamp each at its own time.
    pub at: Option<SimTime>,
}

impl EventRecord {
    /// An event from a Kubernetes component such as `kubelet`.
    pub fn kubernetes(
        type_: EventType,
        reason: &str,
        message: String,
        component: &str,
    ) -> EventRecord {
        EventRecord {
            type_,
            reason: reason.to_string(),
            message,
            recorder: Recorder::Kubernetes {
                component: component.to_string(),
                host: None,
            },
            field_path: None,
            at: None,
        }
    }

    /// An event whose name the recorder chose.
    pub fn named(
        type_: EventType,
        reason: &str,
        message: String,
        component: &str,
        name: String,
    ) -> EventRecord {
        EventRecord {
            type_,
            reason: reason.to_string(),
            message,
            recorder: Recorder::Named {
                component: component.to_string(),
                name,
            },
            field_path: None,
            at: None,
        }
    }

    /// Sets `source.host` (client-go recorders only).
    pub fn host(mut self, node: &str) -> EventRecord {
        if let Recorder::Kubernetes { host, .. } = &mut self.recorder {
            *host = Some(node.to_string());
        }
        self
    }

    /// Sets `involvedObject.fieldPath`.
    pub fn field_path(mut self, path: String) -> EventRecord {
        self.field_path = Some(path);
        self
    }

    /// Stamps the event at `at` instead of the pass's `now`.
    pub fn at(mut self, at: SimTime) -> EventRecord {
        self.at = Some(at);
        self
    }

    fn component(&self) -> &str {
        match &self.recorder {
            Recorder::Kubernetes { component, .. } | Recorder::Named { component, .. } => component,
        }
    }
}

/// Records `event` about `involved`: creates the Event, or, when the same
/// event was recorded before, increments its `count` and moves its
/// `lastTimestamp` (and, for named events, replaces the message).
pub fn record(
    ctx: &mut Ctx<'_>,
    involved: &Value,
    event: &EventRecord,
) -> Result<Arc<Value>, ApiError> {
    let events = events_type(ctx)?;
    let at = event.at.unwrap_or(ctx.now);
    let namespace = match meta::namespace(involved) {
        "" => "default".to_string(),
        ns => ns.to_string(),
    };
    if let Some(existing) = find_existing(ctx, &namespace, involved, event) {
        let mut updated = (*existing).clone();
        updated["count"] = json!(existing["count"].as_i64().unwrap_or(1) + 1);
        updated["lastTimestamp"] = json!(at.rfc3339());
        updated["message"] = json!(event.message);
        let key = ObjectKey::new(&events, &namespace, meta::name(&existing));
        return ctx
            .store
            .update(&events, &key, updated, Subresource::Main, ctx.now);
    }
    let mut involved_ref = json!({
        "apiVersion": involved["apiVersion"],
        "kind": involved["kind"],
        "name": meta::name(involved),
        "uid": meta::uid(involved),
    });
    if !meta::namespace(involved).is_empty() {
        involved_ref["namespace"] = json!(meta::namespace(involved));
    }
    if let Some(path) = &event.field_path {
        involved_ref["fieldPath"] = json!(path);
    }
    let mut body = json!({
        "metadata": {"namespace": namespace},
        "involvedObject": involved_ref,
        "reason": event.reason,
        "message": event.message,
        "type": event.type_.as_str(),
        "source": {"component": event.component()},
        "firstTimestamp": at.rfc3339(),
        "lastTimestamp": at.rfc3339(),
        "count": 1,
        "eventTime": null,
    });
    match &event.recorder {
        Recorder::Kubernetes { component, host } => {
            // client-go includes the object's resourceVersion and fills the
            // reporting fields from the event source.
            body["involvedObject"]["resourceVersion"] =
                involved["metadata"]["resourceVersion"].clone();
            body["reportingComponent"] = json!(component);
            body["reportingInstance"] = json!(host.clone().unwrap_or_default());
            if let Some(host) = host {
                body["source"]["host"] = json!(host);
            }
            create_with_generated_name(ctx, &events, &namespace, involved, body)
        }
        Recorder::Named { name, .. } => {
            // The Fabric8 client leaves the reporting fields empty.
            body["metadata"]["name"] = json!(name);
            body["reportingComponent"] = json!("");
            body["reportingInstance"] = json!("");
            ctx.store
                .create(&events, &namespace, body, ctx.now, ctx.rng)
        }
    }
}

/// Whether an event named `name` exists in `namespace` (for "record once"
/// events such as the operator's `SpecChanged`).
pub fn exists(ctx: &Ctx<'_>, namespace: &str, name: &str) -> bool {
    ctx.registry.get("", "v1", "events").is_some_and(|events| {
        ctx.store
            .get(&ObjectKey::new(events, namespace, name))
            .is_some()
    })
}

fn events_type(ctx: &Ctx<'_>) -> Result<ResourceType, ApiError> {
    meta::kind(ctx.registry, "", "v1", "events")
        .ok_or_else(|| ApiError::internal("events are not served".into()))
}

fn find_existing(
    ctx: &Ctx<'_>,
    namespace: &str,
    involved: &Value,
    event: &EventRecord,
) -> Option<Arc<Value>> {
    match &event.recorder {
        Recorder::Named { name, .. } => {
            let events = ctx.registry.get("", "v1", "events")?;
            let existing = ctx.store.get(&ObjectKey::new(events, namespace, name))?;
            // The operator only reuses an event that is really about the same
            // object and reason; otherwise it overwrites it as new.
            let same = existing["type"].as_str() == Some(event.type_.as_str())
                && existing["reason"].as_str() == Some(event.reason.as_str())
                && existing["involvedObject"]["name"].as_str() == Some(meta::name(involved))
                && existing["involvedObject"]["kind"] == involved["kind"];
            same.then(|| existing.clone())
        }
        Recorder::Kubernetes { component, .. } => ctx
            .store
            .list("", "events", Some(namespace))
            .find(|e| {
                e["involvedObject"]["uid"].as_str() == Some(meta::uid(involved))
                    && e["reason"].as_str() == Some(event.reason.as_str())
                    && e["message"].as_str() == Some(event.message.as_str())
                    && e["type"].as_str() == Some(event.type_.as_str())
                    && e["source"]["component"].as_str() == Some(component.as_str())
            })
            .cloned(),
    }
}

fn create_with_generated_name(
    ctx: &mut Ctx<'_>,
    events: &ResourceType,
    namespace: &str,
    involved: &Value,
    mut body: Value,
) -> Result<Arc<Value>, ApiError> {
    // client-go names events `<object>.<unix nanos in hex>`; the nanoseconds
    // below the virtual millisecond come from the seeded random source.
    let mut last_err = None;
    for _ in 0..4 {
        let nanos = ctx.now.0.max(0) as u64 * 1_000_000 + ctx.rng.below(1_000_000);
        body["metadata"]["name"] = json!(format!("{}.{nanos:x}", meta::name(involved)));
        match ctx
            .store
            .create(events, namespace, body.clone(), ctx.now, ctx.rng)
        {
            Err(err) if err.code == 409 => last_err = Some(err),
            other => return other,
        }
    }
    Err(last_err.unwrap_or_else(|| ApiError::internal("could not name an event".into())))
}
