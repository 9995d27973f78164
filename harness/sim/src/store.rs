//! The object store: every object the simulated cluster holds, with the
//! bookkeeping a real API server does on each write.
//!
//! The store is pure and synchronous. It assigns `uid`, `resourceVersion`,
//! `generation` and `creationTimestamp`, enforces optimistic concurrency,
//! keeps `status` apart from the rest of an object when the kind has a status
//! subresource, honours finalizers on delete, and keeps a bounded history of
//! changes so watches can resume from a `resourceVersion`. It does not know
//! about HTTP, patches, admission or controllers; those sit around it.
//!
//! Objects are stored as `serde_json::Value` behind an `Arc`, so watchers and
//! list responses share them without copying.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
};

use serde_json::{Map, Value, json};

use crate::{
    clock::SimTime,
    error::{ApiError, Cause},
    resource::ResourceType,
    rng::Rng,
};

/// Where an object lives: group and plural of its kind, namespace ("" for
/// cluster-scoped kinds) and name. Versions share one key space, as in
/// Kubernetes storage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// API group of the kind ("" for core).
    pub group: String,
    /// Plural resource name.
    pub plural: String,
    /// Namespace, or "" for cluster-scoped objects.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectKey {
    /// The key of object `name` of kind `rt` in `namespace`.
    pub fn new(rt: &ResourceType, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            namespace: if rt.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

/// What happened to an object, as a watch reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// The object was created.
    Added,
    /// The object was updated (including gaining a deletionTimestamp).
    Modified,
    /// The object was removed.
    Deleted,
}

impl ChangeType {
    /// The watch event `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One entry of the change history.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion this change produced.
    pub rv: u64,
    /// Added, modified or deleted.
    pub type_: ChangeType,
    /// Which object.
    pub key: ObjectKey,
    /// The object after the change (for deletes: its last state, with the
    /// deletion's resourceVersion).
    pub object: Arc<Value>,
}

/// Which part of an object a write targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// The main resource: with a status subresource, `status` is kept as stored.
    Main,
    /// The `/status` subresource: only `status` is taken from the request.
    Status,
}

/// The result of a delete request.
#[derive(Debug, Clone)]
pub enum Deletion {
    /// The object is gone; this is its last state.
    Deleted(Arc<Value>),
    /// The object has finalizers: it now carries a deletionTimestamp and stays
    /// until they are removed.
    Pending(Arc<Value>),
}

/// How many changes a watch can resume across before it gets 410 Gone.
pub const DEFAULT_HISTORY: usize = 20_000;

/// The cluster's objects and their change history.
#[derive(Debug)]
pub struct Store {
    rv: u64,
    objects: BTreeMap<ObjectKey, Arc<Value>>,
    history: VecDeque<Change>,
    history_limit: usize,
}

impl Default for Store {
    fn default() -> Store {
        Store::with_history(DEFAULT_HISTORY)
    }
}

impl Store {
    /// A store that keeps the last `history_limit` changes for watch resume.
    pub fn with_history(history_limit: usize) -> Store {
        Store {
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit,
        }
    }

    /// The current resourceVersion of the whole store.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The object at `key`, if any.
    pub fn get(&self, key: &ObjectKey) -> Option<&Arc<Value>> {
        self.objects.get(key)
    }

    /// The object at `key`, or the API server's 404 for it.
    pub fn get_existing(
        &self,
        rt: &ResourceType,
        key: &ObjectKey,
    ) -> Result<&Arc<Value>, ApiError> {
        self.get(key)
            .ok_or_else(|| ApiError::not_found(rt, &key.name))
    }

    /// Objects of one kind, in `namespace` or in all namespaces, ordered by
    /// namespace and name.
    pub fn list<'a>(
        &'a self,
        group: &'a str,
        plural: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Arc<Value>> + 'a {
        let start = ObjectKey {
            group: group.to_string(),
            plural: plural.to_string(),
            namespace: namespace.unwrap_or_default().to_string(),
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(move |(k, _)| {
                k.group == group
                    && k.plural == plural
                    && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .map(|(_, v)| v)
    }

    /// Objects whose `metadata.ownerReferences` name `owner_uid`.
    pub fn dependents_of<'a>(
        &'a self,
        owner_uid: &'a str,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a {
        self.objects.iter().filter(move |(_, obj)| {
            obj["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(owner_uid)))
        })
    }

    /// Whether any object has this uid.
    pub fn uid_exists(&self, uid: &str) -> bool {
        self.objects
            .values()
            .any(|obj| obj["metadata"]["uid"].as_str() == Some(uid))
    }

    /// Changes after `rv`, for a watch that resumes from `rv`.
    ///
    /// Fails with 410 Gone when that part of the history has been dropped.
    pub fn changes_since(&self, rv: u64) -> Result<impl Iterator<Item = &Change>, ApiError> {
        let oldest_kept = self.history.front().map(|c| c.rv).unwrap_or(self.rv + 1);
        if rv + 1 < oldest_kept && rv < self.rv && self.history.len() >= self.history_limit {
            return Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                oldest_kept - 1
            )));
        }
        let start = self.history.partition_point(|c| c.rv <= rv);
        Ok(self.history.range(start..))
    }

    /// Creates an object of kind `rt` in `namespace`.
    ///
    /// Fills in `metadata.name` from `generateName`, `uid`, `resourceVersion`,
    /// `generation` and `creationTimestamp`; rejects a missing or malformed
    /// name (422), an existing name (409) and a missing namespace (404).
    pub fn create(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        obj: Value,
        now: SimTime,
        rng: &mut Rng,
    ) -> Result<Arc<Value>, ApiError> {
        let (key, mut obj) = self.prepare_create(rt, namespace, obj, now, rng)?;
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let obj = Arc::new(obj);
        self.objects.insert(key.clone(), obj.clone());
        self.record(rv, ChangeType::Added, key, obj.clone());
        Ok(obj)
    }

    /// What [`Store::create`] would store, without storing it (dry run).
    /// The result has no `resourceVersion`; `rng` advances as in a create.
    pub fn preview_create(
        &self,
        rt: &ResourceType,
        namespace: &str,
        obj: Value,
        now: SimTime,
        rng: &mut Rng,
    ) -> Result<Value, ApiError> {
        self.prepare_create(rt, namespace, obj, now, rng)
            .map(|(_, obj)| obj)
    }

    fn prepare_create(
        &self,
        rt: &ResourceType,
        namespace: &str,
        mut obj: Value,
        now: SimTime,
        rng: &mut Rng,
    ) -> Result<(ObjectKey, Value), ApiError> {
        let Some(map) = obj.as_object_mut() else {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object".into(),
            ));
        };
        map.insert("apiVersion".into(), Value::String(rt.api_version()));
        map.insert("kind".into(), Value::String(rt.kind.clone()));
        let meta = metadata_mut(map);
        let name = match meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(name) => name.to_string(),
            None => match meta
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                Some(prefix) => format!("{prefix}{}", rng.name_suffix(5)),
                None => {
                    return Err(ApiError::invalid(
                        rt,
                        "",
                        vec![Cause {
                            reason: "FieldValueRequired".into(),
                            message: "Required value: name or generateName is required".into(),
                            field: "metadata.name".into(),
                        }],
                    ));
                }
            },
        };
        if let Some(message) = invalid_name(rt, &name) {
            return Err(ApiError::invalid(
                rt,
                &name,
                vec![Cause {
                    reason: "FieldValueInvalid".into(),
                    message,
                    field: "metadata.name".into(),
                }],
            ));
        }
        if rt.namespaced {
            if namespace.is_empty() {
                return Err(ApiError::bad_request(
                    "the namespace of the object must be set".into(),
                ));
            }
            let ns_key = ObjectKey {
                group: String::new(),
                plural: "namespaces".into(),
                namespace: String::new(),
                name: namespace.to_string(),
            };
            if !self.objects.contains_key(&ns_key) {
                return Err(ApiError {
                    code: 404,
                    reason: "NotFound".into(),
                    message: format!("namespaces \"{namespace}\" not found"),
                    details: Some(json!({"name": namespace, "kind": "namespaces"})),
                });
            }
        }
        let key = ObjectKey::new(rt, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(rt, &name));
        }
        meta.insert("name".into(), Value::String(name));
        if rt.namespaced {
            meta.insert("namespace".into(), Value::String(namespace.to_string()));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), Value::String(rng.uid()));
        meta.remove("resourceVersion");
        meta.insert("generation".into(), json!(1));
        meta.insert("creationTimestamp".into(), Value::String(now.rfc3339()));
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        meta.remove("managedFields");
        Ok((key, obj))
    }

    /// Replaces an object (PUT semantics) or its status.
    ///
    /// A non-empty `metadata.resourceVersion` in `new` must match the stored
    /// one (409 otherwise). Server-owned metadata is kept. `generation` is
    /// bumped when anything outside `metadata` and `status` changes. An update
    /// that changes nothing keeps the resourceVersion, as the API server does,
    /// so controllers that write back what they read do not loop.
    pub fn update(
        &mut self,
        rt: &ResourceType,
        key: &ObjectKey,
        new: Value,
        subresource: Subresource,
        _now: SimTime,
    ) -> Result<Arc<Value>, ApiError> {
        let merged = match self.prepare_update(rt, key, new, subresource)? {
            PreparedUpdate::Unchanged(old) => return Ok(old),
            PreparedUpdate::Changed(merged) => merged,
        };
        let rv = self.next_rv();
        let mut merged = merged;
        metadata_mut(&mut merged).insert("resourceVersion".into(), Value::String(rv.to_string()));
        let obj = Arc::new(Value::Object(merged));
        if obj["metadata"].get("deletionTimestamp").is_some() && !holds_deletion(rt, &obj) {
            self.objects.remove(key);
            self.record(rv, ChangeType::Deleted, key.clone(), obj.clone());
        } else {
            self.objects.insert(key.clone(), obj.clone());
            self.record(rv, ChangeType::Modified, key.clone(), obj.clone());
        }
        Ok(obj)
    }

    /// What [`Store::update`] would store, without storing it (dry run). The
    /// resourceVersion is the current one.
    pub fn preview_update(
        &self,
        rt: &ResourceType,
        key: &ObjectKey,
        new: Value,
        subresource: Subresource,
    ) -> Result<Value, ApiError> {
        Ok(match self.prepare_update(rt, key, new, subresource)? {
            PreparedUpdate::Unchanged(old) => (*old).clone(),
            PreparedUpdate::Changed(merged) => Value::Object(merged),
        })
    }

    fn prepare_update(
        &self,
        rt: &ResourceType,
        key: &ObjectKey,
        new: Value,
        subresource: Subresource,
    ) -> Result<PreparedUpdate, ApiError> {
        let old = self.get_existing(rt, key)?.clone();
        let Value::Object(mut new_map) = new else {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object".into(),
            ));
        };
        if let Some(name) = new_map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            && name != key.name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                key.name
            )));
        }
        let requested_rv = new_map
            .get("metadata")
            .and_then(|m| m.get("resourceVersion"))
            .and_then(Value::as_str)
            .filter(|rv| !rv.is_empty())
            .map(str::to_string);
        if let Some(requested) = requested_rv
            && requested
                != old["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
        {
            return Err(ApiError::conflict(rt, &key.name));
        }
        let old_uid = old["metadata"]["uid"].as_str().unwrap_or_default();
        if let Some(uid) = new_map
            .get("metadata")
            .and_then(|m| m.get("uid"))
            .and_then(Value::as_str)
            .filter(|uid| !uid.is_empty() && *uid != old_uid)
        {
            // A uid in the body is a precondition: the object was deleted
            // and recreated under the same name since the client read it.
            return Err(ApiError::precondition_failed(
                rt, &key.name, "UID", uid, old_uid,
            ));
        }
        let old_map = old.as_object().cloned().unwrap_or_default();
        let mut merged = match subresource {
            Subresource::Status => {
                let mut merged = old_map.clone();
                match new_map.remove("status") {
                    Some(status) => merged.insert("status".into(), status),
                    None => merged.remove("status"),
                };
                merged
            }
            Subresource::Main => {
                if rt.status_subresource {
                    match old_map.get("status") {
                        Some(status) => new_map.insert("status".into(), status.clone()),
                        None => new_map.remove("status"),
                    };
                }
                new_map
            }
        };
        merged.insert("apiVersion".into(), Value::String(rt.api_version()));
        merged.insert("kind".into(), Value::String(rt.kind.clone()));
        // Server-owned metadata always comes from the stored object.
        let old_meta = old_map
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let meta = metadata_mut(&mut merged);
        for owned in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
        ] {
            match old_meta.get(owned) {
                Some(v) => meta.insert(owned.into(), v.clone()),
                None => meta.remove(owned),
            };
        }
        meta.remove("managedFields");
        meta.insert(
            "resourceVersion".into(),
            old_meta
                .get("resourceVersion")
                .cloned()
                .unwrap_or(Value::Null),
        );
        if subresource == Subresource::Status {
            // Status writes do not touch metadata either.
            merged.insert("metadata".into(), Value::Object(old_meta.clone()));
        }
        if merged == old_map {
            return Ok(PreparedUpdate::Unchanged(old));
        }
        let spec_changed =
            without(&merged, &["metadata", "status"]) != without(&old_map, &["metadata", "status"]);
        if spec_changed {
            let generation = old_meta
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            metadata_mut(&mut merged).insert("generation".into(), json!(generation + 1));
        }
        Ok(PreparedUpdate::Changed(merged))
    }

    /// Deletes an object, or marks it for deletion if it has finalizers.
    ///
    /// Dependents (ownerReferences) are not touched here; the garbage
    /// collector controller removes them, as background propagation does.
    /// A namespace's `spec.finalizers` hold its deletion like
    /// `metadata.finalizers` do, as on a real cluster.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        key: &ObjectKey,
        now: SimTime,
    ) -> Result<Deletion, ApiError> {
        let (deletion, changed) = self.prepare_delete(rt, key, now)?;
        if !changed {
            return Ok(deletion);
        }
        let rv = self.next_rv();
        let stamp = |obj: &Arc<Value>| {
            let mut obj = (**obj).clone();
            obj["metadata"]["resourceVersion"] = Value::String(rv.to_string());
            Arc::new(obj)
        };
        Ok(match deletion {
            Deletion::Pending(obj) => {
                let obj = stamp(&obj);
                self.objects.insert(key.clone(), obj.clone());
                self.record(rv, ChangeType::Modified, key.clone(), obj.clone());
                Deletion::Pending(obj)
            }
            Deletion::Deleted(obj) => {
                let obj = stamp(&obj);
                self.objects.remove(key);
                self.record(rv, ChangeType::Deleted, key.clone(), obj.clone());
                Deletion::Deleted(obj)
            }
        })
    }

    /// What [`Store::delete`] would do, without doing it (dry run).
    pub fn preview_delete(
        &self,
        rt: &ResourceType,
        key: &ObjectKey,
        now: SimTime,
    ) -> Result<Deletion, ApiError> {
        self.prepare_delete(rt, key, now)
            .map(|(deletion, _)| deletion)
    }

    /// The outcome of a delete and whether it changes the store.
    fn prepare_delete(
        &self,
        rt: &ResourceType,
        key: &ObjectKey,
        now: SimTime,
    ) -> Result<(Deletion, bool), ApiError> {
        let old = self.get_existing(rt, key)?.clone();
        if !holds_deletion(rt, &old) {
            return Ok((Deletion::Deleted(old), true));
        }
        if old["metadata"].get("deletionTimestamp").is_some() {
            // Already terminating: nothing changes, and no rv is consumed.
            return Ok((Deletion::Pending(old), false));
        }
        let mut obj = (*old).clone();
        obj["metadata"]["deletionTimestamp"] = Value::String(now.rfc3339());
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
        obj["metadata"]["generation"] = json!(generation + 1);
        Ok((Deletion::Pending(Arc::new(obj)), true))
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(&mut self, rv: u64, type_: ChangeType, key: ObjectKey, object: Arc<Value>) {
        self.history.push_back(Change {
            rv,
            type_,
            key,
            object,
        });
        while self.history.len() > self.history_limit {
            self.history.pop_front();
        }
    }
}

/// The result of checking an update before it is committed.
enum PreparedUpdate {
    /// The update changes nothing; this is the stored object.
    Unchanged(Arc<Value>),
    /// The object to store (its resourceVersion still the old one).
    Changed(Map<String, Value>),
}

/// Whether finalizers keep `obj` in the store after deletion was requested:
/// `metadata.finalizers`, and for namespaces also `spec.finalizers`.
fn holds_deletion(rt: &ResourceType, obj: &Value) -> bool {
    let non_empty = |v: &Value| v.as_array().is_some_and(|f| !f.is_empty());
    non_empty(&obj["metadata"]["finalizers"])
        || (rt.group.is_empty()
            && rt.plural == "namespaces"
            && non_empty(&obj["spec"]["finalizers"]))
}

fn metadata_mut(map: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
        .expect("metadata was just made an object")
}

fn without(map: &Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !keys.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The API server's name rules: DNS-1123 labels for namespaces, path
/// segments for RBAC objects, DNS-1123 subdomains for everything else.
/// Returns the 422 message when invalid.
fn invalid_name(rt: &ResourceType, name: &str) -> Option<String> {
    // Core v1 Events skip name validation for backwards compatibility, as in
    // the API server; the Flink operator names its events
    // `JobManagerDeployment.<hash>`.
    if rt.group.is_empty() && rt.plural == "events" {
        return None;
    }
    // RBAC objects only need to be a path segment (`system:basic-user`).
    if rt.group == "rbac.authorization.k8s.io" {
        return match name {
            "." | ".." => Some(format!("Invalid value: \"{name}\": may not be '{name}'")),
            _ => ['/', '%']
                .into_iter()
                .find(|c| name.contains(*c))
                .map(|c| format!("Invalid value: \"{name}\": may not contain '{c}'")),
        };
    }
    let label_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if rt.group.is_empty() && rt.plural == "namespaces" {
        return (!label_ok(name)).then(|| {
            format!(
                "Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric \
                 characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or \
                 '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            )
        });
    }
    let subdomain_ok = name.len() <= 253 && name.split('.').all(label_ok);
    (!subdomain_ok).then(|| {
        format!(
            "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
             characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', \
             regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Registry;

    fn setup() -> (Store, Registry, Rng) {
        let registry = Registry::with_builtins();
        let mut store = Store::default();
        let mut rng = Rng::seeded(1);
        let ns = registry.get("", "v1", "namespaces").unwrap().clone();
        store
            .create(
                &ns,
                "",
                json!({"metadata": {"name": "default"}}),
                SimTime(0),
                &mut rng,
            )
            .unwrap();
        (store, registry, rng)
    }

    #[test]
    fn create_assigns_server_fields_and_rejects_duplicates() {
        let (mut store, registry, mut rng) = setup();
        let cm = registry.get("", "v1", "configmaps").unwrap();
        let obj = store
            .create(
                cm,
                "default",
                json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
                SimTime(1000),
                &mut rng,
            )
            .unwrap();
        assert_eq!(obj["kind"], "ConfigMap");
        assert_eq!(obj["metadata"]["generation"], 1);
        assert_eq!(obj["metadata"]["creationTimestamp"], "1970-01-01T00:00:01Z");
        assert_eq!(
            obj["metadata"]["resourceVersion"],
            store.resource_version().to_string()
        );
        let err = store
            .create(
                cm,
                "default",
                json!({"metadata": {"name": "a"}}),
                SimTime(0),
                &mut rng,
            )
            .unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (409, "configmaps \"a\" already exists")
        );
        let err = store
            .create(
                cm,
                "nope",
                json!({"metadata": {"name": "b"}}),
                SimTime(0),
                &mut rng,
            )
            .unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (404, "namespaces \"nope\" not found")
        );
        let err = store
            .create(
                cm,
                "default",
                json!({"metadata": {"name": "B_"}}),
                SimTime(0),
                &mut rng,
            )
            .unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message
                .starts_with("ConfigMap \"B_\" is invalid: metadata.name: Invalid value"),
            "{}",
            err.message
        );
    }

    #[test]
    fn update_checks_resource_version_bumps_generation_and_skips_no_ops() {
        let (mut store, registry, mut rng) = setup();
        let deploy = registry.get("apps", "v1", "deployments").unwrap();
        let created = store
            .create(
                deploy,
                "default",
                json!({"metadata": {"name": "d"}, "spec": {"replicas": 1}}),
                SimTime(0),
                &mut rng,
            )
            .unwrap();
        let key = ObjectKey::new(deploy, "default", "d");
        let rv0 = store.resource_version();
        let same = store
            .update(
                deploy,
                &key,
                (*created).clone(),
                Subresource::Main,
                SimTime(0),
            )
            .unwrap();
        assert_eq!(
            store.resource_version(),
            rv0,
            "a no-op update keeps the resourceVersion"
        );
        assert_eq!(same["metadata"]["generation"], 1);

        let mut scaled = (*created).clone();
        scaled["spec"]["replicas"] = json!(3);
        scaled["status"] = json!({"replicas": 99});
        let updated = store
            .update(deploy, &key, scaled.clone(), Subresource::Main, SimTime(0))
            .unwrap();
        assert_eq!(updated["metadata"]["generation"], 2);
        assert!(
            updated.get("status").is_none(),
            "spec writes ignore status when /status is a subresource"
        );
        let err = store
            .update(deploy, &key, scaled, Subresource::Main, SimTime(0))
            .unwrap_err();
        assert_eq!(err.code, 409, "the stale resourceVersion conflicts");

        let mut with_status = (*updated).clone();
        with_status["status"] = json!({"replicas": 3});
        with_status["spec"]["replicas"] = json!(7);
        let status = store
            .update(deploy, &key, with_status, Subresource::Status, SimTime(0))
            .unwrap();
        assert_eq!(status["status"]["replicas"], 3);
        assert_eq!(status["spec"]["replicas"], 3, "status writes ignore spec");
        assert_eq!(
            status["metadata"]["generation"], 2,
            "status writes do not bump generation"
        );

        let mut other_uid = (*status).clone();
        other_uid["metadata"]["uid"] = json!("0000-recreated");
        let err = store
            .update(deploy, &key, other_uid, Subresource::Main, SimTime(0))
            .unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message
                .contains("Precondition failed: UID in precondition: 0000-recreated"),
            "{}",
            err.message
        );
    }

    #[test]
    fn finalizers_delay_deletion_and_history_resumes_watches() {
        let (mut store, registry, mut rng) = setup();
        let cm = registry.get("", "v1", "configmaps").unwrap();
        let start = store.resource_version();
        store
            .create(
                cm,
                "default",
                json!({"metadata": {"name": "f", "finalizers": ["x/y"]}}),
                SimTime(0),
                &mut rng,
            )
            .unwrap();
        let key = ObjectKey::new(cm, "default", "f");
        let Deletion::Pending(pending) = store.delete(cm, &key, SimTime(5000)).unwrap() else {
            panic!("an object with finalizers must not disappear at once")
        };
        assert_eq!(
            pending["metadata"]["deletionTimestamp"],
            "1970-01-01T00:00:05Z"
        );
        let mut cleared = (*pending).clone();
        cleared["metadata"]["finalizers"] = json!([]);
        store
            .update(cm, &key, cleared, Subresource::Main, SimTime(6000))
            .unwrap();
        assert!(
            store.get(&key).is_none(),
            "removing the last finalizer completes the deletion"
        );
        let types: Vec<_> = store
            .changes_since(start)
            .unwrap()
            .map(|c| c.type_)
            .collect();
        assert_eq!(
            types,
            [ChangeType::Added, ChangeType::Modified, ChangeType::Deleted]
        );
    }

    #[test]
    fn previews_change_nothing() {
        let (mut store, registry, mut rng) = setup();
        let cm = registry.get("", "v1", "configmaps").unwrap();
        let rv = store.resource_version();
        let preview = store
            .preview_create(
                cm,
                "default",
                json!({"metadata": {"name": "p"}}),
                SimTime(0),
                &mut rng.clone(),
            )
            .unwrap();
        assert_eq!(preview["metadata"]["name"], "p");
        assert!(preview["metadata"].get("resourceVersion").is_none());
        assert_eq!(store.resource_version(), rv);
        let created = store
            .create(
                cm,
                "default",
                json!({"metadata": {"name": "p"}}),
                SimTime(0),
                &mut rng,
            )
            .unwrap();
        let key = ObjectKey::new(cm, "default", "p");
        let mut changed = (*created).clone();
        changed["data"] = json!({"k": "v"});
        let preview = store
            .preview_update(cm, &key, changed, Subresource::Main)
            .unwrap();
        assert_eq!(preview["data"]["k"], "v");
        assert!(store.get(&key).unwrap().get("data").is_none());
        assert!(matches!(
            store.preview_delete(cm, &key, SimTime(0)).unwrap(),
            Deletion::Deleted(_)
        ));
        assert!(store.get(&key).is_some());
        assert_eq!(store.resource_version(), rv + 1);
    }

    #[test]
    fn namespace_spec_finalizers_hold_deletion() {
        let (mut store, registry, mut rng) = setup();
        let ns = registry.get("", "v1", "namespaces").unwrap();
        store
            .create(
                ns,
                "",
                json!({"metadata": {"name": "t"}, "spec": {"finalizers": ["kubernetes"]}}),
                SimTime(0),
                &mut rng,
            )
            .unwrap();
        let key = ObjectKey::new(ns, "", "t");
        let Deletion::Pending(pending) = store.delete(ns, &key, SimTime(1000)).unwrap() else {
            panic!("spec.finalizers must hold a namespace")
        };
        let mut finalized = (*pending).clone();
        finalized["spec"]["finalizers"] = json!([]);
        store
            .update(ns, &key, finalized, Subresource::Main, SimTime(2000))
            .unwrap();
        assert!(
            store.get(&key).is_none(),
            "clearing spec.finalizers completes the deletion"
        );
    }

    #[test]
    fn old_history_is_gone() {
        let registry = Registry::with_builtins();
        let mut store = Store::with_history(2);
        let mut rng = Rng::seeded(1);
        let ns = registry.get("", "v1", "namespaces").unwrap();
        for name in ["a", "b", "c", "d"] {
            store
                .create(
                    ns,
                    "",
                    json!({"metadata": {"name": name}}),
                    SimTime(0),
                    &mut rng,
                )
                .unwrap();
        }
        assert_eq!(store.changes_since(1).err().map(|e| e.code), Some(410));
        assert_eq!(
            store
                .changes_since(store.resource_version() - 1)
                .unwrap()
                .count(),
            1
        );
    }
}
