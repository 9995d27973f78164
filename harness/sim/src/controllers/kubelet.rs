//! A kubelet stand-in (with the scheduler's placement step): Pods go from
//! `Pending` to scheduled (`PodScheduled`, `spec.nodeName`), through image
//! pulls and container creation, to `Running` and `Ready`, after modelled
//! delays.
//!
//! When a pod is placed, its whole start-up is laid out as a [`Timeline`]:
//! when each image pull starts and ends (an image already on the node costs
//! nothing with `IfNotPresent`; a cold pull costs [`KubeletConfig::cold_pull`]),
//! when containers run, and when startup/readiness probes pass (after the
//! application start time for the pod, [`KubeletConfig::app_start`]). Every
//! pass then writes the status the timeline gives for `now` and records the
//! events (`Scheduled`, `Pulling`, `Pulled`, `Created`, `Started`) whose time
//! has come, stamped with their own times. So the result does not depend on
//! how often the cluster is stepped, and an idle pod is never rewritten.
//!
//! Seams for the next steps (not implemented): node capacity in
//! `Kubelet::place` (`FailedScheduling ... Insufficient cpu`), image pull
//! failures in `Kubelet::pull` (`ErrImagePull` / `ImagePullBackOff`), and
//! container exits in `Kubelet::container_fate` (`CrashLoopBackOff`).
//!
//! Fidelity: pods are placed on the Ready node with the fewest pods (the real
//! scheduler scores many plugins); `nodeSelector` is honoured, taints and
//! affinity are not. Deleted pods vanish at once (no graceful termination
//! period); the kubelet records `Killing` for their running containers.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::{Controller, Ctx},
    controllers::{
        events::{self, EventRecord, EventType},
        meta, podspec,
    },
    resource::ResourceType,
};

/// How long the modelled steps of a pod's start take, in virtual time.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// From pod creation to binding (scheduler queue and bind).
    pub schedule: Duration,
    /// Pulling an image the node does not have. A Flink image is several
    /// hundred MB; 15 s is a fast registry, a minute a slow one.
    pub cold_pull: Duration,
    /// Re-checking an image the node has, with `imagePullPolicy: Always`.
    pub warm_pull: Duration,
    /// Creating and starting the containers once the images are there.
    pub container_start: Duration,
    /// Running each init container to completion.
    pub init_container_run: Duration,
    /// How long an application takes before its probes pass, unless a rule
    /// in `app_start` matches the pod.
    pub default_app_start: Duration,
    /// Application start times by pod labels; the first matching rule wins.
    pub app_start: Vec<AppStart>,
}

impl KubeletConfig {
    /// Delays measured on real clusters: a second to schedule, 15 s for a
    /// cold pull of a large image, 1 s to start containers, 2 s for a small
    /// application to answer its probes.
    pub fn realistic() -> KubeletConfig {
        KubeletConfig {
            schedule: Duration::from_secs(1),
            cold_pull: Duration::from_secs(15),
            warm_pull: Duration::from_millis(800),
            container_start: Duration::from_secs(1),
            init_container_run: Duration::from_secs(2),
            default_app_start: Duration::from_secs(2),
            app_start: Vec::new(),
        }
    }

    /// The application start time for a pod with `labels`.
    fn app_start_for(&self, labels: &BTreeMap<String, String>) -> Duration {
        self.app_start
            .iter()
            .find(|rule| rule.labels.iter().all(|(k, v)| labels.get(k) == Some(v)))
            .map_or(self.default_app_start, |rule| rule.after)
    }
}

/// How long an application in pods with certain labels takes to start
/// answering its probes (e.g. a Flink JobManager's REST endpoint).
#[derive(Debug, Clone)]
pub struct AppStart {
    /// Labels the pod must carry.
    pub labels: BTreeMap<String, String>,
    /// Time from container start to the first successful probe.
    pub after: Duration,
}

/// The kubelet stand-in; see the module doc.
#[derive(Debug)]
pub struct Kubelet {
    config: KubeletConfig,
    /// Pods this kubelet manages, by uid.
    pods: BTreeMap<String, Tracked>,
    /// When each image is (or will be) present on each node.
    images: BTreeMap<String, BTreeMap<String, SimTime>>,
    /// Last pod IP handed out per node.
    last_ip: BTreeMap<String, u32>,
}

/// What the kubelet remembers about a pod.
#[derive(Debug)]
struct Tracked {
    /// The pod as last seen, for events about it after it is gone.
    last_seen: Arc<Value>,
    first_seen: SimTime,
    state: PodState,
}

#[derive(Debug)]
enum PodState {
    /// Waiting for the scheduler.
    Unscheduled,
    /// The scheduler found no node; retried on every pass.
    Unschedulable { message: String },
    /// Placed; the rest of the start-up is laid out.
    Placed(Box<Timeline>),
}

/// A placed pod's start-up, computed once at placement.
#[derive(Debug, Clone)]
pub struct Timeline {
    node: String,
    host_ip: String,
    pod_ip: String,
    scheduled: SimTime,
    /// Init containers finished (equals `scheduled` without init containers).
    initialized: SimTime,
    /// Main containers running.
    running: SimTime,
    /// Probes pass and the pod is Ready; `None` while an image cannot be pulled.
    ready: Option<SimTime>,
    /// A container that cannot start: (name, waiting reason, message).
    stuck: Option<(String, String, String)>,
    has_startup_probe: bool,
    events: Vec<(SimTime, EventRecord)>,
    /// How many of `events` are recorded already.
    recorded: usize,
}

/// The outcome of pulling one image, the seam for pull failures.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pull {
    /// The node has the image and the policy lets it be used.
    Present,
    /// Pulled from the registry, taking this long.
    Pulled(Duration),
    /// `imagePullPolicy: Never` and the node lacks the image.
    NeverPulled,
}

/// What a started container does, the seam for crashes and restarts.
/// Only "keeps running" exists today; `CrashLoopBackOff` comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContainerFate {
    KeepsRunning,
}

/// Why a pod could not be placed, as the scheduler words it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unschedulable(String);

/// A node as the scheduler sees it.
#[derive(Debug, Clone)]
struct NodeInfo {
    name: String,
    index: usize,
    ip: String,
    labels: BTreeMap<String, String>,
}

impl Kubelet {
    /// A kubelet with the given delays and no images cached on any node.
    pub fn new(config: KubeletConfig) -> Kubelet {
        Kubelet {
            config,
            pods: BTreeMap::new(),
            images: BTreeMap::new(),
            last_ip: BTreeMap::new(),
        }
    }

    /// Picks a node for `pod`: the Ready node with the fewest pods that
    /// matches its `nodeSelector`.
    ///
    /// This is the seam for node capacity: the next step checks requests
    /// against allocatable cpu and memory and fails with
    /// `0/N nodes are available: N Insufficient cpu.`
    fn place(&self, pod: &Value, nodes: &[NodeInfo]) -> Result<NodeInfo, Unschedulable> {
        if nodes.is_empty() {
            return Err(Unschedulable(
                "no nodes available to schedule pods".to_string(),
            ));
        }
        let selector = meta::string_map(&pod["spec"]["nodeSelector"]);
        let fitting: Vec<&NodeInfo> = nodes
            .iter()
            .filter(|n| selector.iter().all(|(k, v)| n.labels.get(k) == Some(v)))
            .collect();
        if fitting.is_empty() {
            let n = nodes.len();
            return Err(Unschedulable(format!(
                "0/{n} nodes are available: {n} node(s) didn't match Pod's node affinity/selector. \
                 preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
            )));
        }
        let load = |node: &str| {
            self.pods
                .values()
                .filter(|t| matches!(&t.state, PodState::Placed(tl) if tl.node == node))
                .count()
        };
        fitting
            .into_iter()
            .min_by_key(|n| (load(&n.name), n.name.clone()))
            .cloned()
            .ok_or_else(|| Unschedulable("no nodes available to schedule pods".to_string()))
    }

    /// Pulls `image` on `node` starting at `at` under `policy`; the seam for
    /// `ErrImagePull` / `ImagePullBackOff`, which the next step adds.
    fn pull(&mut self, node: &str, image: &str, policy: &str, at: SimTime) -> (Pull, SimTime) {
        let cached = self
            .images
            .get(node)
            .and_then(|images| images.get(image))
            .copied();
        let (pull, done) = match (policy, cached) {
            ("Never", Some(ready)) | ("IfNotPresent", Some(ready)) if ready <= at => {
                (Pull::Present, at)
            }
            ("Never", _) => return (Pull::NeverPulled, at),
            // Another pod on this node is pulling it: wait for that pull.
            (_, Some(ready)) if ready > at => (Pull::Pulled(ready.since(at)), ready),
            ("Always", Some(_)) => (
                Pull::Pulled(self.config.warm_pull),
                at.plus(self.config.warm_pull),
            ),
            _ => (
                Pull::Pulled(self.config.cold_pull),
                at.plus(self.config.cold_pull),
            ),
        };
        self.images
            .entry(node.to_string())
            .or_default()
            .entry(image.to_string())
            .or_insert(done);
        (pull, done)
    }

    /// What a started container does; see [`ContainerFate`].
    fn container_fate(&self, _pod: &Value, _container: &Value) -> ContainerFate {
        ContainerFate::KeepsRunning
    }

    /// Lays out the start-up of `pod`, placed on `node` at `scheduled`.
    fn plan(&mut self, pod: &Value, node: &NodeInfo, scheduled: SimTime) -> Timeline {
        let ip_suffix = self.last_ip.entry(node.name.clone()).or_insert(1);
        *ip_suffix = *ip_suffix % 250 + 1;
        let pod_ip = format!("10.42.{}.{}", node.index, *ip_suffix + 1);
        let mut events = vec![(
            scheduled,
            EventRecord::kubernetes(
                EventType::Normal,
                "Scheduled",
                format!(
                    "Successfully assigned {}/{} to {}",
                    meta::namespace(pod),
                    meta::name(pod),
                    node.name
                ),
                "default-scheduler",
            ),
        )];
        let kubelet_event = |type_: EventType, reason: &str, message: String, container: &str| {
            EventRecord::kubernetes(type_, reason, message, "kubelet")
                .host(&node.name)
                .field_path(format!("spec.{container}"))
        };
        let mut at = scheduled;
        let mut stuck = None;
        let mut start_containers =
            |list: &str,
             at: &mut SimTime,
             this: &mut Kubelet,
             events: &mut Vec<(SimTime, EventRecord)>| {
                for container in pod["spec"][list].as_array().into_iter().flatten() {
                    let name = container["name"].as_str().unwrap_or_default();
                    let field = format!("{list}{{{name}}}");
                    let image = container["image"].as_str().unwrap_or_default();
                    let policy = container["imagePullPolicy"]
                        .as_str()
                        .unwrap_or(podspec::default_pull_policy(image));
                    let (pull, done) = this.pull(&node.name, image, policy, *at);
                    match pull {
                        Pull::Present => events.push((
                            *at,
                            kubelet_event(
                                EventType::Normal,
                                "Pulled",
                                format!("Container image \"{image}\" already present on machine"),
                                &field,
                            ),
                        )),
                        Pull::Pulled(took) => {
                            events.push((
                                *at,
                                kubelet_event(
                                    EventType::Normal,
                                    "Pulling",
                                    format!("Pulling image \"{image}\""),
                                    &field,
                                ),
                            ));
                            let took = go_duration(took);
                            events.push((
                            done,
                            kubelet_event(
                                EventType::Normal,
                                "Pulled",
                                format!("Successfully pulled image \"{image}\" in {took} ({took} including waiting)"),
                                &field,
                            ),
                        ));
                        }
                        Pull::NeverPulled => {
                            let message = format!(
                                "Container image \"{image}\" is not present with pull policy of Never"
                            );
                            events.push((
                                *at,
                                kubelet_event(
                                    EventType::Warning,
                                    "ErrImageNeverPull",
                                    message.clone(),
                                    &field,
                                ),
                            ));
                            stuck.get_or_insert((
                                name.to_string(),
                                "ErrImageNeverPull".to_string(),
                                message,
                            ));
                            continue;
                        }
                    }
                    *at = done;
                    let created = at.plus(this.config.container_start);
                    events.push((
                        created,
                        kubelet_event(
                            EventType::Normal,
                            "Created",
                            format!("Created container: {name}"),
                            &field,
                        ),
                    ));
                    events.push((
                        created,
                        kubelet_event(
                            EventType::Normal,
                            "Started",
                            format!("Started container {name}"),
                            &field,
                        ),
                    ));
                    *at = if list == "initContainers" {
                        created.plus(this.config.init_container_run)
                    } else {
                        created
                    };
                    let _ = this.container_fate(pod, container);
                }
            };
        start_containers("initContainers", &mut at, self, &mut events);
        let initialized = at;
        start_containers("containers", &mut at, self, &mut events);
        let running = at;
        let containers = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let probe_delay = |probe: &str| {
            containers
                .iter()
                .filter_map(|c| c.get(probe).filter(|p| p.is_object()))
                .map(|p| Duration::from_secs(p["initialDelaySeconds"].as_u64().unwrap_or(0)))
                .max()
        };
        let startup = probe_delay("startupProbe");
        let readiness = probe_delay("readinessProbe");
        let ready = match startup.or(readiness) {
            Some(delay) => running.plus(self.config.app_start_for(&meta::labels(pod)).max(delay)),
            None => running,
        };
        Timeline {
            node: node.name.clone(),
            host_ip: node.ip.clone(),
            pod_ip,
            scheduled,
            initialized,
            running,
            ready: stuck.is_none().then_some(ready),
            stuck,
            has_startup_probe: startup.is_some(),
            events,
            recorded: 0,
        }
    }
}

impl Controller for Kubelet {
    fn name(&self) -> &'static str {
        "kubelet"
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        let pod_type = meta::kind(ctx.registry, "", "v1", "pods")?;
        let nodes = ready_nodes(ctx);
        let pods: Vec<Arc<Value>> = ctx.store.list("", "pods", None).cloned().collect();
        let live: BTreeSet<&str> = pods.iter().map(|p| meta::uid(p)).collect();
        // Pods deleted since the last pass: record `Killing` for running containers.
        let gone: Vec<String> = self
            .pods
            .keys()
            .filter(|uid| !live.contains(uid.as_str()))
            .cloned()
            .collect();
        for uid in gone {
            let Some(tracked) = self.pods.remove(&uid) else {
                continue;
            };
            if let PodState::Placed(tl) = &tracked.state
                && tl.running <= ctx.now
            {
                for container in tracked.last_seen["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let name = container["name"].as_str().unwrap_or_default();
                    let event = EventRecord::kubernetes(
                        EventType::Normal,
                        "Killing",
                        format!("Stopping container {name}"),
                        "kubelet",
                    )
                    .host(&tl.node)
                    .field_path(format!("spec.containers{{{name}}}"));
                    record(ctx, &tracked.last_seen, &event);
                }
            }
        }
        let mut wake: Option<SimTime> = None;
        for pod in &pods {
            if meta::is_terminating(pod) || podspec::is_finished(pod) {
                continue;
            }
            if let Some(at) = self.sync_pod(ctx, &pod_type, pod, &nodes) {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        }
        wake
    }
}

impl Kubelet {
    /// Advances one pod to `now`; returns its next moment of change.
    fn sync_pod(
        &mut self,
        ctx: &mut Ctx<'_>,
        pod_type: &ResourceType,
        pod: &Arc<Value>,
        nodes: &[NodeInfo],
    ) -> Option<SimTime> {
        let uid = meta::uid(pod).to_string();
        let preset_node = pod["spec"]["nodeName"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        if !self.pods.contains_key(&uid) {
            if preset_node.is_some() && pod["status"]["phase"].as_str() == Some("Running") {
                // Running when first seen: started by someone else; leave it be.
                return None;
            }
            self.pods.insert(
                uid.clone(),
                Tracked {
                    last_seen: pod.clone(),
                    first_seen: ctx.now,
                    state: PodState::Unscheduled,
                },
            );
        }
        let tracked = self.pods.get(&uid)?;
        let due = tracked.first_seen.plus(self.config.schedule);
        let needs_placement = !matches!(tracked.state, PodState::Placed(_));
        if needs_placement {
            let placement = match &preset_node {
                // A pod created with nodeName bypasses the scheduler.
                Some(node) => Ok(nodes
                    .iter()
                    .find(|n| &n.name == node)
                    .cloned()
                    .unwrap_or_else(|| NodeInfo {
                        name: node.clone(),
                        index: nodes.len(),
                        ip: String::new(),
                        labels: BTreeMap::new(),
                    })),
                None if due > ctx.now => return Some(due),
                None => self.place(pod, nodes),
            };
            let scheduled = if preset_node.is_some() {
                tracked.first_seen
            } else {
                due
            };
            let state = match placement {
                Ok(node) => PodState::Placed(Box::new(self.plan(pod, &node, scheduled))),
                Err(Unschedulable(message)) => PodState::Unschedulable { message },
            };
            if let Some(tracked) = self.pods.get_mut(&uid) {
                tracked.state = state;
            }
        }
        let tracked = self.pods.get_mut(&uid)?;
        tracked.last_seen = pod.clone();
        match &mut tracked.state {
            PodState::Unscheduled => Some(due),
            PodState::Unschedulable { message } => {
                let message = message.clone();
                let status = json!({
                    "phase": "Pending",
                    "qosClass": podspec::qos_class(&pod["spec"]),
                    "conditions": [{
                        "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                        "lastProbeTime": null, "lastTransitionTime": ctx.now.rfc3339(),
                    }],
                });
                if pod["status"]["conditions"][0]["message"].as_str() != Some(message.as_str()) {
                    write_pod_status(ctx, pod_type, pod, status);
                    let event = EventRecord::kubernetes(
                        EventType::Warning,
                        "FailedScheduling",
                        message,
                        "default-scheduler",
                    );
                    record(ctx, pod, &event);
                }
                None
            }
            PodState::Placed(timeline) => {
                let timeline = timeline.clone();
                let mut current = pod.clone();
                if preset_node.is_none() {
                    let mut bound = (**pod).clone();
                    bound["spec"]["nodeName"] = json!(timeline.node);
                    match meta::write_main(ctx.store, pod_type, bound, ctx.now) {
                        Ok(updated) => current = updated,
                        Err(err) => {
                            tracing::debug!(pod = meta::name(pod), %err, "binding failed; retrying");
                            return Some(ctx.now);
                        }
                    }
                }
                let status = status_at(&current, &timeline, ctx.now);
                write_pod_status(ctx, pod_type, &current, status);
                let mut recorded = timeline.recorded;
                for (at, event) in timeline.events.iter().skip(timeline.recorded) {
                    if *at > ctx.now {
                        break;
                    }
                    record(ctx, &current, &event.clone().at(*at));
                    recorded += 1;
                }
                if let Some(PodState::Placed(tl)) = self.pods.get_mut(&uid).map(|t| &mut t.state) {
                    tl.recorded = recorded;
                }
                next_moment(&timeline, ctx.now)
            }
        }
    }
}

/// The next instant after `now` at which the pod's status or events change.
fn next_moment(timeline: &Timeline, now: SimTime) -> Option<SimTime> {
    let moments = [
        Some(timeline.initialized),
        Some(timeline.running),
        timeline.ready,
    ];
    moments
        .into_iter()
        .flatten()
        .chain(timeline.events.iter().map(|(at, _)| *at))
        .filter(|at| *at > now)
        .min()
}

/// The pod status the timeline gives at `now`.
fn status_at(pod: &Value, tl: &Timeline, now: SimTime) -> Value {
    let running = tl.stuck.is_none() && tl.running <= now;
    let ready_at = tl.ready.filter(|r| *r <= now);
    let container_names = |list: &str| -> Vec<String> {
        pod["spec"][list]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let names = container_names("containers");
    let init_names = container_names("initContainers");
    let condition = |type_: &str, ok: bool, since: SimTime, reason: Option<(&str, String)>| {
        let mut c = json!({
            "type": type_,
            "status": if ok { "True" } else { "False" },
            "lastProbeTime": null,
            "lastTransitionTime": since.rfc3339(),
        });
        if let (false, Some((reason, message))) = (ok, reason) {
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        c
    };
    let unready = format!("containers with unready status: [{}]", names.join(" "));
    let initialized = tl.initialized <= now
        && tl
            .stuck
            .as_ref()
            .is_none_or(|(n, _, _)| !init_names.contains(n));
    let conditions = vec![
        condition("PodReadyToStartContainers", true, tl.scheduled, None),
        condition(
            "Initialized",
            initialized,
            if initialized {
                tl.initialized
            } else {
                tl.scheduled
            },
            Some((
                "ContainersNotInitialized",
                format!(
                    "containers with incomplete status: [{}]",
                    init_names.join(" ")
                ),
            )),
        ),
        condition(
            "Ready",
            ready_at.is_some(),
            ready_at.unwrap_or(tl.scheduled),
            Some(("ContainersNotReady", unready.clone())),
        ),
        condition(
            "ContainersReady",
            ready_at.is_some(),
            ready_at.unwrap_or(tl.scheduled),
            Some(("ContainersNotReady", unready)),
        ),
        condition("PodScheduled", true, tl.scheduled, None),
    ];
    let uid = meta::uid(pod);
    let container_status = |container: &Value, init: bool| {
        let name = container["name"].as_str().unwrap_or_default();
        let image = container["image"].as_str().unwrap_or_default();
        let started_at = if init { tl.scheduled } else { tl.running };
        let mut status = json!({
            "name": name,
            "image": image,
            "imageID": "",
            "ready": false,
            "restartCount": 0,
            "started": false,
            "state": {"waiting": {"reason": if init { "PodInitializing" } else { "ContainerCreating" }}},
            "lastState": {},
        });
        if let Some((stuck_name, reason, message)) = &tl.stuck
            && stuck_name == name
        {
            status["state"] = json!({"waiting": {"reason": reason, "message": message}});
            return status;
        }
        let done = if init { initialized } else { running };
        if done {
            status["imageID"] = json!(image_id(image));
            status["containerID"] = json!(format!(
                "containerd://{}",
                meta::digest_hex(&format!("{uid}/{name}/0"), 64)
            ));
            if init {
                status["state"] = json!({"terminated": {
                    "exitCode": 0, "reason": "Completed",
                    "startedAt": started_at.rfc3339(), "finishedAt": tl.initialized.rfc3339(),
                    "containerID": status["containerID"].clone(),
                }});
            } else {
                status["state"] = json!({"running": {"startedAt": started_at.rfc3339()}});
                status["ready"] = json!(ready_at.is_some());
                status["started"] = json!(!tl.has_startup_probe || ready_at.is_some());
            }
        }
        status
    };
    let mut status = json!({
        "phase": if running { "Running" } else { "Pending" },
        "conditions": conditions,
        "hostIP": tl.host_ip,
        "hostIPs": [{"ip": tl.host_ip}],
        "podIP": tl.pod_ip,
        "podIPs": [{"ip": tl.pod_ip}],
        "startTime": tl.scheduled.rfc3339(),
        "qosClass": podspec::qos_class(&pod["spec"]),
        "containerStatuses": pod["spec"]["containers"].as_array().into_iter().flatten().map(|c| container_status(c, false)).collect::<Vec<_>>(),
    });
    if !init_names.is_empty() {
        status["initContainerStatuses"] = json!(
            pod["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| container_status(c, true))
                .collect::<Vec<_>>()
        );
    }
    status
}

/// `<repository>@sha256:<digest>` with Docker Hub names expanded, as
/// containerd reports `imageID`.
fn image_id(image: &str) -> String {
    let repository = image.split('@').next().unwrap_or_default();
    // Strip a tag, but not a registry port (`localhost:5000/x`).
    let repository = match repository.rfind(':') {
        Some(i) if !repository[i..].contains('/') => &repository[..i],
        _ => repository,
    };
    let qualified = match repository.split('/').collect::<Vec<_>>().as_slice() {
        [single] => format!("docker.io/library/{single}"),
        [first, ..] if !first.contains('.') && !first.contains(':') && *first != "localhost" => {
            format!("docker.io/{repository}")
        }
        _ => repository.to_string(),
    };
    format!("{qualified}@sha256:{}", meta::digest_hex(image, 64))
}

/// Go's `time.Duration` rendering for the values a pull takes (`15s`,
/// `800ms`, `1.5s`, `1m0s`).
fn go_duration(d: Duration) -> String {
    let millis = d.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let secs = d.as_secs_f64();
    let minutes = (secs / 60.0).floor() as u64;
    let rest = secs - minutes as f64 * 60.0;
    let rest_text = format!("{rest:.3}")
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string();
    if minutes > 0 {
        format!("{minutes}m{rest_text}s")
    } else {
        format!("{rest_text}s")
    }
}

fn ready_nodes(ctx: &Ctx<'_>) -> Vec<NodeInfo> {
    let mut all: Vec<&Arc<Value>> = ctx.store.list("", "nodes", None).collect();
    all.sort_by(|a, b| meta::name(a).cmp(meta::name(b)));
    all.iter()
        .enumerate()
        .filter(|(_, n)| {
            n["spec"]["unschedulable"].as_bool() != Some(true)
                && n["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
        .map(|(index, n)| NodeInfo {
            name: meta::name(n).to_string(),
            index,
            ip: n["status"]["addresses"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
                .and_then(|x| x["address"].as_str())
                .unwrap_or_default()
                .to_string(),
            labels: meta::labels(n),
        })
        .collect()
}

fn write_pod_status(ctx: &mut Ctx<'_>, pod_type: &ResourceType, pod: &Value, status: Value) {
    if let Err(err) = meta::write_status(ctx.store, pod_type, pod, status, ctx.now) {
        tracing::debug!(pod = meta::name(pod), %err, "pod status write failed; retrying");
    }
}

fn record(ctx: &mut Ctx<'_>, pod: &Value, event: &EventRecord) {
    if let Err(err) = events::record(ctx, pod, event) {
        tracing::debug!(pod = meta::name(pod), %err, "event not recorded");
    }
}

/// A Ready `v1` Node as a k3s/k3d agent registers it, with `index` deciding
/// its addresses (`172.18.0.<index+2>`, pod CIDR `10.42.<index>.0/24`).
pub fn node_manifest(name: &str, index: usize, cpu: &str, memory: &str, now: SimTime) -> Value {
    let heartbeat = now.rfc3339();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": heartbeat, "lastTransitionTime": heartbeat})
    };
    let resources =
        json!({"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"});
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
            },
        },
        "spec": {"podCIDR": format!("10.42.{index}.0/24"), "podCIDRs": [format!("10.42.{index}.0/24")]},
        "status": {
            "capacity": resources.clone(),
            "allocatable": resources,
            "addresses": [
                {"type": "InternalIP", "address": format!("172.18.0.{}", index + 2)},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0",
                "kubeProxyVersion": "v1.32.0",
                "containerRuntimeVersion": "containerd://1.7.23",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "osImage": "harness-sim",
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_render_like_go() {
        assert_eq!(go_duration(Duration::from_millis(800)), "800ms");
        assert_eq!(go_duration(Duration::from_secs(15)), "15s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
    }

    #[test]
    fn image_ids_are_qualified() {
        assert!(image_id("flink:1.17").starts_with("docker.io/library/flink@sha256:"));
        assert!(image_id("apache/flink:1.17").starts_with("docker.io/apache/flink@sha256:"));
        assert!(
            image_id("ghcr.io/apache/flink-kubernetes-operator:1.10.0")
                .starts_with("ghcr.io/apache/flink-kubernetes-operator@sha256:")
        );
        assert!(image_id("localhost:5000/x:1").starts_with("localhost:5000/x@sha256:"));
        assert_eq!(image_id("flink:1.17"), image_id("flink:1.17"));
        assert_ne!(image_id("flink:1.17"), image_id("flink:1.18"));
    }
}
