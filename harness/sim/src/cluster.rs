//! The simulated cluster: registry + store + controllers + admission, stepped
//! by virtual time.
//!
//! [`Cluster::step`] runs every controller, in registration order, until a
//! full round changes nothing, and returns the earliest virtual time at which
//! some controller asked to run again. The async edge calls it after every
//! API write and whenever that time arrives; nothing else drives the
//! controllers, so a run is reproducible from its seed, its inputs and the
//! times at which they arrived.

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    error::ApiError,
    resource::{Registry, ResourceType},
    rng::Rng,
    store::Store,
};

/// What a controller sees during one reconcile pass.
pub struct Ctx<'a> {
    /// The kinds currently served.
    pub registry: &'a Registry,
    /// All objects; controllers write through the same store methods as the API.
    pub store: &'a mut Store,
    /// The cluster's seeded random source (uids, names, job ids).
    pub rng: &'a mut Rng,
    /// Virtual time of this pass.
    pub now: SimTime,
}

/// A level-triggered control loop inside the simulator (kubelet stand-in,
/// Deployment controller, garbage collector, Flink operator, ...).
///
/// Implementations are pure state machines: they read the store, write the
/// store, and keep their own timers. They must be idempotent: running a pass
/// twice at the same time with nothing changed must change nothing.
pub trait Controller: Send {
    /// Short name for logs, e.g. `deployment-controller`.
    fn name(&self) -> &'static str;

    /// One pass at `ctx.now`. Returns the earliest virtual time at which the
    /// controller needs another pass even if no object changes, if any.
    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime>;
}

/// The operation an admission webhook is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// POST of a new object.
    Create,
    /// PUT or PATCH of an existing object's main resource.
    Update,
}

/// A validating admission webhook, such as the Flink operator's
/// `validationwebhook.flink.apache.org`.
///
/// It runs after schema validation, on writes to the main resource only (not
/// `/status`), exactly where the API server calls webhooks.
pub trait ValidatingWebhook: Send {
    /// The webhook name the API server reports in denials.
    fn name(&self) -> &str;

    /// Whether this webhook intercepts writes to kind `rt`.
    fn applies_to(&self, rt: &ResourceType) -> bool;

    /// Returns the denial message, or `Ok` to admit.
    fn validate(
        &self,
        op: Operation,
        new: &Value,
        old: Option<&Value>,
        store: &Store,
    ) -> Result<(), String>;
}

/// Upper bound on controller rounds per step; more means controllers are
/// fighting over an object, which is a bug worth a log line, not a hang.
const MAX_ROUNDS: usize = 64;

/// Registry, store, controllers and webhooks of one simulated cluster.
pub struct Cluster {
    /// The kinds currently served (built-ins plus established CRDs).
    pub registry: Registry,
    /// All objects.
    pub store: Store,
    /// Seeded randomness for the pure core.
    pub rng: Rng,
    controllers: Vec<Box<dyn Controller>>,
    webhooks: Vec<Box<dyn ValidatingWebhook>>,
}

impl Cluster {
    /// An empty cluster with the built-in kinds, the namespaces every
    /// cluster has (`default`, `kube-system`, `kube-public`, `kube-node-lease`)
    /// and the bootstrap RBAC policy ([`crate::rbac::bootstrap_policy`]).
    pub fn new(seed: u64, now: SimTime) -> Cluster {
        let mut cluster = Cluster {
            registry: Registry::with_builtins(),
            store: Store::default(),
            rng: Rng::seeded(seed),
            controllers: Vec::new(),
            webhooks: Vec::new(),
        };
        let ns = cluster
            .registry
            .get("", "v1", "namespaces")
            .expect("namespaces are built in")
            .clone();
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            cluster
                .store
                .create(&ns, "", obj, now, &mut cluster.rng)
                .expect("fresh store accepts built-in namespaces");
        }
        for (plural, obj) in crate::rbac::bootstrap_policy() {
            let rt = cluster
                .registry
                .get("rbac.authorization.k8s.io", "v1", plural)
                .expect("RBAC kinds are built in")
                .clone();
            cluster
                .store
                .create(&rt, "", obj, now, &mut cluster.rng)
                .expect("fresh store accepts the bootstrap policy");
        }
        cluster
    }

    /// Adds a controller; controllers run in the order they were added.
    pub fn add_controller(&mut self, controller: Box<dyn Controller>) {
        self.controllers.push(controller);
    }

    /// Adds a validating admission webhook.
    pub fn add_webhook(&mut self, webhook: Box<dyn ValidatingWebhook>) {
        self.webhooks.push(webhook);
    }

    /// Runs the webhooks that apply to `rt`; the first denial wins, as 403.
    pub fn admit(
        &self,
        rt: &ResourceType,
        op: Operation,
        new: &Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        for webhook in self.webhooks.iter().filter(|w| w.applies_to(rt)) {
            if let Err(message) = webhook.validate(op, new, old, &self.store) {
                return Err(ApiError::denied_by_webhook(webhook.name(), &message));
            }
        }
        Ok(())
    }

    /// Runs controllers until the store is quiet; returns the next wake-up.
    pub fn step(&mut self, now: SimTime) -> Option<SimTime> {
        let mut wake: Option<SimTime> = None;
        for round in 0.. {
            let before = self.store.resource_version();
            wake = None;
            for controller in &mut self.controllers {
                let mut ctx = Ctx {
                    registry: &self.registry,
                    store: &mut self.store,
                    rng: &mut self.rng,
                    now,
                };
                if let Some(at) = controller.reconcile(&mut ctx) {
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                }
            }
            if self.store.resource_version() == before {
                break;
            }
            if round + 1 == MAX_ROUNDS {
                tracing::warn!(
                    rounds = MAX_ROUNDS,
                    "controllers did not settle; stopping this step"
                );
                break;
            }
        }
        wake
    }
}
