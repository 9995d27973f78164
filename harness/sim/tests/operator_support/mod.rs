//! Shared helpers for the operator and controller tests: a cluster driven
//! at chosen virtual times, with writes that go through admission as the API
//! edge's do, and readers for objects and events.

#![allow(dead_code, unreachable_pub)]

use std::{sync::Arc, time::Duration};

use harness_sim::{
    clock::SimTime,
    cluster::{Cluster, Operation},
    error::ApiError,
    operator::{
        OperatorConfig,
        flink::{SharedClusters, job::ModelledJobs},
        install::simulated_cluster,
    },
    resource::ResourceType,
    store::{ObjectKey, Subresource},
};
use serde_json::{Value, json};

/// 2024-11-05T09:46:40Z, the timestamp of the seed's example event.
pub const T0: SimTime = SimTime(1_730_800_000_000);

/// A cluster and the virtual time it has been stepped to.
pub struct Sim {
    pub cluster: Cluster,
    pub now: SimTime,
}

impl Sim {
    /// The standard cluster (controllers, CRDs, operator) at `T0`.
    pub fn standard() -> Sim {
        let mut sim = Sim {
            cluster: harness_sim::standard_cluster(7, T0),
            now: T0,
        };
        sim.cluster.step(T0);
        sim
    }

    /// A simulated cluster with the operator configured by `config`, and the
    /// handle on its Flink clusters.
    pub fn with_operator(config: OperatorConfig) -> (Sim, SharedClusters) {
        let jobs = Arc::new(ModelledJobs {
            timings: config.timings.job(),
        });
        let (cluster, flink) = simulated_cluster(7, T0, config, jobs).expect("operator installs");
        (Sim::with(cluster), flink)
    }

    /// Creates a namespace.
    pub fn namespace(&mut self, name: &str) {
        let ns = self.rt("", "v1", "namespaces");
        let obj = json!({"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}, "status": {"phase": "Active"}});
        self.cluster
            .store
            .create(&ns, "", obj, self.now, &mut self.cluster.rng)
            .expect("namespace is new");
        self.cluster.step(self.now);
    }

    /// Every stored version of an object since resourceVersion `since`,
    /// oldest first (what a watch would have delivered).
    pub fn history(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        since: u64,
    ) -> Vec<Arc<Value>> {
        self.cluster
            .store
            .changes_since(since)
            .expect("history is kept")
            .filter(|c| {
                c.key.group == group
                    && c.key.plural == plural
                    && c.key.namespace == namespace
                    && c.key.name == name
            })
            .map(|c| c.object.clone())
            .collect()
    }

    /// Wraps an existing cluster at `T0`.
    pub fn with(cluster: Cluster) -> Sim {
        let mut sim = Sim { cluster, now: T0 };
        sim.cluster.step(T0);
        sim
    }

    pub fn rt(&self, group: &str, version: &str, plural: &str) -> ResourceType {
        self.cluster
            .registry
            .get(group, version, plural)
            .unwrap_or_else(|| panic!("{plural} not served"))
            .clone()
    }

    fn rt_of(&self, obj: &Value) -> ResourceType {
        let api_version = obj["apiVersion"].as_str().expect("object has apiVersion");
        let kind = obj["kind"].as_str().expect("object has kind");
        self.cluster
            .registry
            .by_kind(api_version, kind)
            .unwrap_or_else(|| panic!("{kind} not served"))
            .clone()
    }

    fn rt_by_resource(&self, group: &str, plural: &str) -> ResourceType {
        self.cluster
            .registry
            .by_group_resource(group, plural)
            .unwrap_or_else(|| panic!("{plural} not served"))
            .clone()
    }

    /// Creates `obj` in `namespace` as `kubectl create` would (webhooks
    /// included), then steps the cluster.
    pub fn create(&mut self, namespace: &str, obj: Value) -> Result<Arc<Value>, ApiError> {
        let rt = self.rt_of(&obj);
        let mut obj = obj;
        if rt.namespaced {
            obj["metadata"]["namespace"] = Value::String(namespace.to_string());
        }
        self.cluster.admit(&rt, Operation::Create, &obj, None)?;
        let created =
            self.cluster
                .store
                .create(&rt, namespace, obj, self.now, &mut self.cluster.rng)?;
        self.cluster.step(self.now);
        Ok(created)
    }

    /// Applies `edit` to the stored object's main resource (webhooks
    /// included), as `kubectl patch` would, then steps the cluster.
    pub fn patch(
        &mut self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Result<Arc<Value>, ApiError> {
        let rt = self.rt_by_resource(group, plural);
        let key = ObjectKey::new(&rt, namespace, name);
        let old = self.cluster.store.get_existing(&rt, &key)?.clone();
        let mut new = (*old).clone();
        edit(&mut new);
        self.cluster
            .admit(&rt, Operation::Update, &new, Some(&old))?;
        let updated = self
            .cluster
            .store
            .update(&rt, &key, new, Subresource::Main, self.now)?;
        self.cluster.step(self.now);
        Ok(updated)
    }

    /// Deletes an object as `kubectl delete` would, then steps the cluster.
    pub fn delete(&mut self, group: &str, plural: &str, namespace: &str, name: &str) {
        let rt = self.rt_by_resource(group, plural);
        self.cluster
            .store
            .delete(&rt, &ObjectKey::new(&rt, namespace, name), self.now)
            .expect("object exists");
        self.cluster.step(self.now);
    }

    /// Steps the cluster at every wake-up it asks for until `until`, then at
    /// `until` itself.
    pub fn run_until(&mut self, until: SimTime) {
        let mut same_instant = 0;
        loop {
            let wake = self.cluster.step(self.now);
            match wake {
                Some(at) if at <= self.now => {
                    same_instant += 1;
                    assert!(
                        same_instant < 50,
                        "controllers keep asking to run at {:?}",
                        self.now
                    );
                }
                Some(at) if at <= until => {
                    self.now = at;
                    same_instant = 0;
                }
                _ => {
                    self.now = until;
                    self.cluster.step(until);
                    return;
                }
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now.plus(d));
    }

    /// Runs until `done` holds, checking after every wake-up, for at most
    /// `limit`. Returns the virtual time at which it first held.
    pub fn run_until_true(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Option<SimTime> {
        let deadline = self.now.plus(limit);
        loop {
            if done(self) {
                return Some(self.now);
            }
            if self.now >= deadline {
                return None;
            }
            let wake = self.cluster.step(self.now);
            self.now = match wake {
                Some(at) if at > self.now && at <= deadline => at,
                Some(at) if at <= self.now => self.now.plus(Duration::from_millis(1)),
                _ => deadline,
            };
            self.cluster.step(self.now);
        }
    }

    pub fn get(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Value>> {
        let rt = self.cluster.registry.by_group_resource(group, plural)?;
        self.cluster
            .store
            .get(&ObjectKey::new(rt, namespace, name))
            .cloned()
    }

    pub fn list(&self, group: &str, plural: &str, namespace: &str) -> Vec<Arc<Value>> {
        self.cluster
            .store
            .list(group, plural, Some(namespace))
            .cloned()
            .collect()
    }

    /// Pods in `namespace` whose labels include all of `labels`.
    pub fn pods(&self, namespace: &str, labels: &[(&str, &str)]) -> Vec<Arc<Value>> {
        self.list("", "pods", namespace)
            .into_iter()
            .filter(|p| {
                labels
                    .iter()
                    .all(|(k, v)| p["metadata"]["labels"][*k].as_str() == Some(*v))
            })
            .collect()
    }

    /// `(reason, message)` of the events about object `name`, oldest first
    /// (by first timestamp, then creation order).
    pub fn events_about(&self, namespace: &str, name: &str) -> Vec<(String, String)> {
        self.event_objects(namespace, name)
            .iter()
            .map(|e| {
                (
                    e["reason"].as_str().unwrap_or_default().to_string(),
                    e["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The Event objects about object `name`, oldest first.
    pub fn event_objects(&self, namespace: &str, name: &str) -> Vec<Arc<Value>> {
        let mut events: Vec<Arc<Value>> = self
            .list("", "events", namespace)
            .into_iter()
            .filter(|e| e["involvedObject"]["name"].as_str() == Some(name))
            .collect();
        events.sort_by_key(|e| {
            (
                e["firstTimestamp"]
                    .as_str()
                    .and_then(SimTime::parse_rfc3339),
                e["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|rv| rv.parse::<u64>().ok()),
            )
        });
        events
    }

    /// Whether an event with `reason` about `name` exists.
    pub fn has_event(&self, namespace: &str, name: &str, reason: &str) -> bool {
        self.events_about(namespace, name)
            .iter()
            .any(|(r, _)| r == reason)
    }

    pub fn rv(&self) -> u64 {
        self.cluster.store.resource_version()
    }
}

/// Parses a YAML manifest into JSON.
pub fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).expect("test manifest is valid YAML")
}

/// Seconds as a Duration.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
