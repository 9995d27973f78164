//! The FlinkDeployment spec as the operator reads it: typed, with the
//! operator's defaults, serialised field by field in the order the operator's
//! Java classes declare them (so `lastReconciledSpec` reads like the real
//! one, nulls included), plus the effective Flink configuration and the
//! memory, duration and TaskManager-count arithmetic the operator does.
//!
//! Unknown spec fields (such as the seed manifest's `spec.envFrom`) are
//! ignored on read, as the operator's `@JsonIgnoreProperties(ignoreUnknown)`
//! classes ignore them.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `spec` of a FlinkDeployment (operator 1.15 field set).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlinkDeploymentSpec {
    /// Application job; `None` makes a session cluster.
    pub job: Option<JobSpec>,
    /// Changing it to a new non-null value forces a full restart.
    pub restart_nonce: Option<i64>,
    /// Flink configuration overrides, flattened to dotted keys.
    #[serde(default, deserialize_with = "flatten_configuration")]
    pub flink_configuration: Option<BTreeMap<String, String>>,
    /// Image of the JobManager and TaskManager pods.
    pub image: Option<String>,
    /// `Always`, `IfNotPresent` or `Never`.
    pub image_pull_policy: Option<String>,
    /// Service account of the Flink pods.
    pub service_account: Option<String>,
    /// Flink version of the image.
    pub flink_version: Option<FlinkVersion>,
    /// Ingress settings, kept as written.
    pub ingress: Option<Value>,
    /// Base pod template for JobManager and TaskManager pods.
    pub pod_template: Option<Value>,
    /// JobManager settings.
    pub job_manager: Option<JobManagerSpec>,
    /// TaskManager settings.
    pub task_manager: Option<TaskManagerSpec>,
    /// Log configuration files by name.
    pub log_configuration: Option<BTreeMap<String, String>>,
    /// `native` (the default when absent) or `standalone`.
    pub mode: Option<DeploymentMode>,
}

/// `spec.job`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// Job jar, e.g. `local:///opt/flink/usrlib/job.jar`.
    #[serde(rename = "jarURI")]
    pub jar_uri: Option<String>,
    /// Job parallelism; 0 when absent (which the validator rejects). A Java
    /// `int` in the operator, so a larger number cannot be read (see
    /// [`FlinkDeploymentSpec::from_value`]).
    #[serde(default, deserialize_with = "null_as_default")]
    pub parallelism: i32,
    /// Main class.
    pub entry_class: Option<String>,
    /// Program arguments.
    #[serde(default, deserialize_with = "null_as_default")]
    pub args: Vec<String>,
    /// Desired state.
    #[serde(default, deserialize_with = "null_as_default")]
    pub state: JobState,
    /// Changing it triggers a manual savepoint (legacy).
    pub savepoint_trigger_nonce: Option<i64>,
    /// Savepoint to start from on the first deployment.
    pub initial_savepoint_path: Option<String>,
    /// Changing it triggers a manual checkpoint (legacy).
    pub checkpoint_trigger_nonce: Option<i64>,
    /// How the job is stopped and restored on upgrades.
    #[serde(default, deserialize_with = "null_as_default")]
    pub upgrade_mode: UpgradeMode,
    /// Maps to `execution.savepoint.ignore-unclaimed-state`.
    pub allow_non_restored_state: Option<bool>,
    /// Changing it redeploys from `initialSavepointPath`.
    pub savepoint_redeploy_nonce: Option<i64>,
    /// Changing it resets the autoscaler.
    pub autoscaler_reset_nonce: Option<i64>,
}

/// `spec.jobManager`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobManagerSpec {
    /// CPU and memory of each JobManager.
    pub resource: Option<Resource>,
    /// Number of JobManagers (more than one needs HA).
    #[serde(default = "one", deserialize_with = "null_as_one")]
    pub replicas: i32,
    /// JobManager pod template.
    pub pod_template: Option<Value>,
}

impl Default for JobManagerSpec {
    fn default() -> JobManagerSpec {
        JobManagerSpec {
            resource: None,
            replicas: 1,
            pod_template: None,
        }
    }
}

/// `spec.taskManager`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskManagerSpec {
    /// CPU and memory of each TaskManager.
    pub resource: Option<Resource>,
    /// Fixed TaskManager count; overrides `job.parallelism` when set.
    pub replicas: Option<i32>,
    /// TaskManager pod template.
    pub pod_template: Option<Value>,
}

/// `resource` of a JobManager or TaskManager.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// CPU cores, e.g. 0.5.
    pub cpu: Option<f64>,
    /// Memory, Flink syntax (`1024m`, `1g`) or Kubernetes quantity (`1Gi`).
    pub memory: Option<String>,
    /// Ephemeral storage quantity.
    pub ephemeral_storage: Option<String>,
}

/// `spec.job.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// The job should run.
    #[default]
    Running,
    /// The job should be stopped.
    Suspended,
}

impl JobState {
    /// The spec's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Suspended => "suspended",
        }
    }
}

/// `spec.job.upgradeMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum UpgradeMode {
    /// Cancel and start from empty state.
    #[default]
    #[serde(rename = "stateless")]
    Stateless,
    /// Stop with a savepoint and restore from it.
    #[serde(rename = "savepoint")]
    Savepoint,
    /// Restore from the latest checkpoint.
    #[serde(rename = "last-state")]
    LastState,
}

impl UpgradeMode {
    /// The spec's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeMode::Stateless => "stateless",
            UpgradeMode::Savepoint => "savepoint",
            UpgradeMode::LastState => "last-state",
        }
    }
}

/// `spec.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentMode {
    /// Flink's native Kubernetes integration (the JobManager creates TaskManager pods).
    Native,
    /// Standalone: the operator creates TaskManager Deployments.
    Standalone,
}

/// `spec.flinkVersion`: the values of operator 1.15's enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum FlinkVersion {
    #[serde(rename = "v1_13")]
    V1_13,
    #[serde(rename = "v1_14")]
    V1_14,
    #[serde(rename = "v1_15")]
    V1_15,
    #[serde(rename = "v1_16")]
    V1_16,
    #[serde(rename = "v1_17")]
    V1_17,
    #[serde(rename = "v1_18")]
    V1_18,
    #[serde(rename = "v1_19")]
    V1_19,
    #[serde(rename = "v1_20")]
    V1_20,
    #[serde(rename = "v2_0")]
    V2_0,
    #[serde(rename = "v2_1")]
    V2_1,
    #[serde(rename = "v2_2")]
    V2_2,
    #[serde(rename = "v2_3")]
    V2_3,
    #[serde(rename = "v2_4")]
    V2_4,
}

impl FlinkVersion {
    /// The enum's spelling, e.g. `v1_17`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlinkVersion::V1_13 => "v1_13",
            FlinkVersion::V1_14 => "v1_14",
            FlinkVersion::V1_15 => "v1_15",
            FlinkVersion::V1_16 => "v1_16",
            FlinkVersion::V1_17 => "v1_17",
            FlinkVersion::V1_18 => "v1_18",
            FlinkVersion::V1_19 => "v1_19",
            FlinkVersion::V1_20 => "v1_20",
            FlinkVersion::V2_0 => "v2_0",
            FlinkVersion::V2_1 => "v2_1",
            FlinkVersion::V2_2 => "v2_2",
            FlinkVersion::V2_3 => "v2_3",
            FlinkVersion::V2_4 => "v2_4",
        }
    }

    /// Whether this operator version still supports it (v1_15 and later).
    pub fn is_supported(self) -> bool {
        self >= FlinkVersion::V1_15
    }

    /// The Flink release the simulated image reports (`flink-version` in
    /// `status.clusterInfo`): the last patch release of that minor version
    /// at the time of writing.
    pub fn release(self) -> &'static str {
        match self {
            FlinkVersion::V1_13 => "1.13.6",
            FlinkVersion::V1_14 => "1.14.6",
            FlinkVersion::V1_15 => "1.15.4",
            FlinkVersion::V1_16 => "1.16.3",
            FlinkVersion::V1_17 => "1.17.2",
            FlinkVersion::V1_18 => "1.18.1",
            FlinkVersion::V1_19 => "1.19.2",
            FlinkVersion::V1_20 => "1.20.1",
            FlinkVersion::V2_0 => "2.0.0",
            FlinkVersion::V2_1 => "2.1.0",
            FlinkVersion::V2_2 => "2.2.0",
            FlinkVersion::V2_3 => "2.3.0",
            FlinkVersion::V2_4 => "2.4.0",
        }
    }

    /// The configuration file Flink reads: `config.yaml` since 1.19,
    /// `flink-conf.yaml` before.
    pub fn config_file(self) -> &'static str {
        if self >= FlinkVersion::V1_19 {
            "config.yaml"
        } else {
            "flink-conf.yaml"
        }
    }
}

/// `resource_metadata` of a recorded spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationMetadata {
    /// `flink.apache.org/v1beta1`.
    pub api_version: String,
    /// Whether the recorded spec belongs to the first deployment.
    pub first_deployment: bool,
}

/// The JSON the operator stores in `lastReconciledSpec` / `lastStableSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecWithMeta {
    /// The recorded spec.
    pub spec: FlinkDeploymentSpec,
    /// Metadata about the recording.
    pub resource_metadata: ReconciliationMetadata,
}

impl SpecWithMeta {
    /// Parses a recorded spec; `None` when absent or unreadable.
    pub fn parse(text: Option<&str>) -> Option<SpecWithMeta> {
        serde_json::from_str(text?).ok()
    }

    /// The compact JSON text the operator writes.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl FlinkDeploymentSpec {
    /// Reads `spec` leniently: unknown fields are ignored; a field of the
    /// wrong type is an error worded like the operator's deserialisation.
    pub fn from_value(spec: &Value) -> Result<FlinkDeploymentSpec, String> {
        if spec.is_null() {
            return Ok(FlinkDeploymentSpec::default());
        }
        serde_json::from_value(spec.clone()).map_err(|e| format!("could not read spec: {e}"))
    }

    /// Native unless `mode: standalone`.
    pub fn mode(&self) -> DeploymentMode {
        self.mode.unwrap_or(DeploymentMode::Native)
    }

    /// The job's upgrade mode (stateless for session clusters).
    pub fn upgrade_mode(&self) -> UpgradeMode {
        self.job
            .as_ref()
            .map_or(UpgradeMode::Stateless, |j| j.upgrade_mode)
    }

    /// The job's desired state (running for session clusters).
    pub fn job_state(&self) -> JobState {
        self.job.as_ref().map_or(JobState::Running, |j| j.state)
    }
}

/// The configuration a deployment runs with: the operator's defaults
/// overlaid with `spec.flinkConfiguration`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EffectiveConfig(pub BTreeMap<String, String>);

/// Checkpoint directory keys (Flink 1.x name first, then 2.x).
pub const CHECKPOINTS_DIR: [&str; 2] = ["state.checkpoints.dir", "execution.checkpointing.dir"];
/// Savepoint directory keys (Flink 1.x name first, then 2.x).
pub const SAVEPOINTS_DIR: [&str; 2] = [
    "state.savepoints.dir",
    "execution.checkpointing.savepoint-dir",
];

impl EffectiveConfig {
    /// `defaults` overlaid with the spec's configuration.
    pub fn new(defaults: &BTreeMap<String, String>, spec: &FlinkDeploymentSpec) -> EffectiveConfig {
        let mut config = defaults.clone();
        if let Some(overrides) = &spec.flink_configuration {
            config.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        EffectiveConfig(config)
    }

    /// The value of `key`, if set and not blank.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The first of `keys` that is set.
    pub fn first(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }

    /// A boolean option with its default.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.get(key)
            .map_or(default, |v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// Whether high availability is on (`high-availability.type`, or the
    /// older `high-availability`, set to something other than NONE).
    pub fn ha_enabled(&self) -> bool {
        self.first(&["high-availability.type", "high-availability"])
            .is_some_and(|v| !v.trim().eq_ignore_ascii_case("none"))
    }

    /// `state.checkpoints.dir` (or its Flink 2 name).
    pub fn checkpoints_dir(&self) -> Option<&str> {
        self.first(&CHECKPOINTS_DIR)
    }

    /// `state.savepoints.dir` (or its Flink 2 name).
    pub fn savepoints_dir(&self) -> Option<&str> {
        self.first(&SAVEPOINTS_DIR)
    }

    /// `taskmanager.numberOfTaskSlots`, default 1.
    pub fn slots(&self) -> i64 {
        self.get("taskmanager.numberOfTaskSlots")
            .and_then(|v| v.trim().parse().ok())
            .filter(|n: &i64| *n > 0)
            .unwrap_or(1)
    }

    /// `execution.checkpointing.interval`, when checkpointing is on.
    pub fn checkpoint_interval(&self) -> Option<Duration> {
        self.get("execution.checkpointing.interval")
            .and_then(parse_duration)
    }
}

/// The parallelism the job runs with: `taskManager.replicas × slots` when
/// replicas are fixed, else `job.parallelism`.
pub fn effective_parallelism(spec: &FlinkDeploymentSpec, config: &EffectiveConfig) -> i64 {
    match spec.task_manager.as_ref().and_then(|tm| tm.replicas) {
        Some(replicas) => i64::from(replicas).saturating_mul(config.slots()),
        None => spec.job.as_ref().map_or(0, |j| i64::from(j.parallelism)),
    }
}

/// TaskManager count: `taskManager.replicas`, or
/// `ceil(parallelism / taskmanager.numberOfTaskSlots)`.
pub fn task_manager_count(spec: &FlinkDeploymentSpec, config: &EffectiveConfig) -> i64 {
    match spec.task_manager.as_ref().and_then(|tm| tm.replicas) {
        Some(replicas) => i64::from(replicas.max(0)),
        None => {
            let parallelism = effective_parallelism(spec, config).max(0).unsigned_abs();
            let slots = config.slots().unsigned_abs();
            // Both positive and at most i64::MAX, so the quotient fits.
            parallelism.div_ceil(slots) as i64
        }
    }
}

/// Parses a memory size as the operator does: Flink's `MemorySize` syntax
/// (`1024m`, `1 gb`, `100` bytes) first, then Kubernetes binary quantities
/// (`1Gi`, `512Mi`). The error reads like `MemorySize.parse`'s.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("argument is an empty- or whitespace-only string".to_string());
    }
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err("text does not start with a number".to_string());
    }
    let number: u64 = trimmed[..digits].parse().map_err(|_| {
        format!(
            "The value '{}' cannot be re represented as 64bit number (numeric overflow).",
            &trimmed[..digits]
        )
    })?;
    let unit = trimmed[digits..].trim();
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" | "ki" => 1 << 10,
        "m" | "mb" | "mebibytes" | "mi" => 1 << 20,
        "g" | "gb" | "gibibytes" | "gi" => 1 << 30,
        "t" | "tb" | "tebibytes" | "ti" => 1 << 40,
        _ => {
            return Err(format!(
                "Memory size unit '{unit}' does not match any of the recognized units: \
                 (b | bytes) / (k | kb | kibibytes) / (m | mb | mebibytes) / (g | gb | gibibytes) / (t | tb | tebibytes)"
            ));
        }
    };
    number.checked_mul(multiplier).ok_or_else(|| format!("The value '{trimmed}' cannot be re represented as 64bit number of bytes (numeric overflow)."))
}

/// Parses a Flink duration (`60s`, `60 s`, `1 min`, `500 ms`, `2h`, a bare
/// number of milliseconds). `None` for anything else, including a value
/// beyond a 64-bit count of milliseconds, which Flink rejects as a numeric
/// overflow.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let trimmed = text.trim();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    let number: u64 = trimmed[..digits].parse().ok()?;
    let unit_millis: u64 = match trimmed[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    let millis = number
        .checked_mul(unit_millis)
        .filter(|ms| i64::try_from(*ms).is_ok())?;
    Some(Duration::from_millis(millis))
}

fn one() -> i32 {
    1
}

fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn null_as_one<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    Ok(Option::<i32>::deserialize(d)?.unwrap_or(1))
}

/// Reads `flinkConfiguration` as flat string keys, flattening nested maps to
/// dotted keys and rendering scalars as text (lists joined with `;`, as
/// Flink writes list options).
fn flatten_configuration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
        let text = match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, child, out);
                }
                return;
            }
            Value::Null => return,
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(";"),
            other => other.to_string(),
        };
        out.insert(prefix.to_string(), text);
    }
    let value = Option::<Value>::deserialize(d)?;
    Ok(value.filter(|v| !v.is_null()).map(|v| {
        let mut out = BTreeMap::new();
        walk("", &v, &mut out);
        out
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recorded_spec_has_the_operators_field_order_and_nulls() {
        let spec = FlinkDeploymentSpec::from_value(&json!({
            "image": "flink:1.17",
            "flinkVersion": "v1_17",
            "serviceAccount": "flink",
            "flinkConfiguration": {"taskmanager.numberOfTaskSlots": 2},
            "jobManager": {"resource": {"cpu": 1, "memory": "2048m"}},
            "taskManager": {"resource": {"cpu": 1, "memory": "2048m"}},
            "job": {"jarURI": "local:///opt/flink/examples/streaming/StateMachineExample.jar", "parallelism": 2},
        }))
        .unwrap();
        let text = SpecWithMeta {
            spec,
            resource_metadata: ReconciliationMetadata {
                api_version: "flink.apache.org/v1beta1".into(),
                first_deployment: true,
            },
        }
        .to_json();
        assert!(text.starts_with(r#"{"spec":{"job":{"jarURI":"local:///opt/flink/examples/streaming/StateMachineExample.jar","parallelism":2,"entryClass":null,"args":[],"state":"running","#), "{text}");
        assert!(text.contains(r#""upgradeMode":"stateless","allowNonRestoredState":null,"savepointRedeployNonce":null,"autoscalerResetNonce":null},"restartNonce":null,"flinkConfiguration":{"taskmanager.numberOfTaskSlots":"2"},"image":"flink:1.17""#), "{text}");
        assert!(text.contains(r#""jobManager":{"resource":{"cpu":1.0,"memory":"2048m","ephemeralStorage":null},"replicas":1,"podTemplate":null}"#), "{text}");
        assert!(text.ends_with(r#""logConfiguration":null,"mode":null},"resource_metadata":{"apiVersion":"flink.apache.org/v1beta1","firstDeployment":true}}"#), "{text}");
        let back = SpecWithMeta::parse(Some(&text)).unwrap();
        assert_eq!(back.to_json(), text, "a recorded spec reads back unchanged");
    }

    #[test]
    fn nested_configuration_is_flattened() {
        let spec = FlinkDeploymentSpec::from_value(&json!({
            "flinkConfiguration": {"taskmanager": {"numberOfTaskSlots": 4}, "state.backend": "rocksdb", "pipeline.jars": ["a.jar", "b.jar"]},
        }))
        .unwrap();
        let config = spec.flink_configuration.unwrap();
        assert_eq!(config["taskmanager.numberOfTaskSlots"], "4");
        assert_eq!(config["state.backend"], "rocksdb");
        assert_eq!(config["pipeline.jars"], "a.jar;b.jar");
    }

    #[test]
    fn task_manager_count_follows_the_operator() {
        let spec = |parallelism: i32, replicas: Option<i32>| FlinkDeploymentSpec {
            job: Some(JobSpec {
                parallelism,
                ..JobSpec::default()
            }),
            task_manager: Some(TaskManagerSpec {
                replicas,
                ..TaskManagerSpec::default()
            }),
            ..FlinkDeploymentSpec::default()
        };
        let slots = |n: &str| {
            EffectiveConfig([("taskmanager.numberOfTaskSlots".to_string(), n.to_string())].into())
        };
        assert_eq!(task_manager_count(&spec(4, None), &slots("4")), 1);
        assert_eq!(task_manager_count(&spec(5, None), &slots("2")), 3);
        assert_eq!(
            task_manager_count(&spec(4, Some(2)), &slots("4")),
            2,
            "replicas win over parallelism"
        );
        assert_eq!(effective_parallelism(&spec(4, Some(2)), &slots("4")), 8);
        assert_eq!(
            task_manager_count(&spec(3, None), &EffectiveConfig::default()),
            3,
            "one slot by default"
        );
        // Extremes neither overflow nor panic.
        assert_eq!(
            task_manager_count(&spec(i32::MAX, None), &slots("2")),
            1 << 30
        );
        assert_eq!(
            effective_parallelism(&spec(1, Some(i32::MAX)), &slots("9223372036854775807")),
            i64::MAX
        );
        assert_eq!(
            task_manager_count(&spec(i32::MAX, None), &slots("9223372036854775807")),
            1
        );
        // A Java int: a larger parallelism cannot be read.
        let err = FlinkDeploymentSpec::from_value(
            &json!({"job": {"parallelism": 9_223_372_036_854_775_807_i64}}),
        )
        .unwrap_err();
        assert!(err.contains("expected i32"), "{err}");
    }

    #[test]
    fn memory_and_durations_parse_like_flink() {
        assert_eq!(parse_memory("1024m"), Ok(1 << 30));
        assert_eq!(parse_memory("1g"), Ok(1 << 30));
        assert_eq!(parse_memory("1Gi"), Ok(1 << 30));
        assert_eq!(parse_memory("100"), Ok(100));
        assert_eq!(
            parse_memory("invalid"),
            Err("text does not start with a number".into())
        );
        assert!(
            parse_memory("12 parsecs")
                .unwrap_err()
                .starts_with("Memory size unit 'parsecs' does not match")
        );
        assert_eq!(parse_duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1 min"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("500"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("999999999999999999d"), None);
        assert_eq!(parse_duration("9223372036854775808"), None);
    }

    #[test]
    fn wrong_types_are_reported_not_panicked_on() {
        assert!(FlinkDeploymentSpec::from_value(&json!({"job": {"parallelism": "four"}})).is_err());
        assert!(FlinkDeploymentSpec::from_value(&json!({"flinkVersion": "v9_9"})).is_err());
        let with_unknown =
            FlinkDeploymentSpec::from_value(&json!({"envFrom": [{"configMapRef": {"name": "x"}}]}));
        assert_eq!(
            with_unknown,
            Ok(FlinkDeploymentSpec::default()),
            "unknown fields are ignored"
        );
    }
}
