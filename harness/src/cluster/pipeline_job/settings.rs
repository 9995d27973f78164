//! What a feature-pipeline job reads from its Flink configuration, the way a
//! real Flink job reads its own, and where its `file://` paths live.
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `pipeline.kafka.bootstrap-servers` | the Kafka to consume | required |
//! | `pipeline.kafka.topic` | the input topic | `user_behaviors` |
//! | `pipeline.kafka.dead-letter-topic` | malformed and late events | `user_behaviors_dlq` |
//! | `pipeline.kafka.group-id` | the consumer group offsets are committed to on every checkpoint | `feature-pipeline` |
//! | `pipeline.redis.url` | where features are written | required |
//! | `pipeline.redis.user-key-template`, `pipeline.redis.hot-key-template` | Redis key templates | the pipeline contract's (`harness_pipeline` crate docs) |
//! | `pipeline.watermark-delay` | bounded out-of-orderness (event time) | `30 s` |
//! | `execution.checkpointing.interval` | periodic checkpoints | none (Flink's default: off) |
//! | `state.checkpoints.dir` | checkpoints, under `<dir>/<job id>/` | required |
//! | `metrics.reporter.prom.port` | `/metrics` on 127.0.0.1 | no endpoint |
//!
//! **Paths.** Every `file:///a/b` path (checkpoint and savepoint directories,
//! `execution.savepoint.path`) is mapped to `<data root>/a/b`, as if one
//! volume were mounted at `/` in every JobManager and TaskManager pod of the
//! simulated cluster. The `sim` backend puts the data root at
//! `<report dir>/sim/volume`, so `file:///flink-data/savepoints` is
//! `<report dir>/sim/volume/flink-data/savepoints`. Other schemes (`s3://`,
//! ...) fail the job.
//!
//! Layout: the runtime's state directory is `<state.checkpoints.dir>/<job id>`,
//! holding `checkpoints/chk-<n>` (Flink: `<dir>/<job id>/chk-<n>`, one level
//! less); a stop-with-savepoint's savepoint is moved to
//! `<requested dir>/savepoint-<job id[..6]>-<12 hex>`, Flink's name.
//!
//! Fidelity: the pipeline runs on the wall clock while the cluster runs on
//! virtual time, so the checkpoint interval (which the job measures itself)
//! is divided by the simulator's speed: a `60 s` interval checkpoints every
//! 60 s of cluster time, as a modelled job does. Event time (the watermark
//! delay) is not scaled. The job runs single-threaded whatever its
//! parallelism.

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddr},
    path::{Component, Path, PathBuf},
    time::Duration,
};

use harness_infra::RedisUrl;
use harness_pipeline::{EngineConfig, KeyTemplates, redis_model};
use harness_sim::operator::{
    flink::job::JobSubmission,
    spec::{CHECKPOINTS_DIR, parse_duration},
};

use crate::pipeline::{PipelineConfig, SourceSpec, dead_letters::DEAD_LETTER_TOPIC};

/// The annotation that marks a FlinkDeployment's job...
pub const JOB_ANNOTATION: &str = "harness.flink.dev/job";
/// ...as the feature pipeline.
pub const FEATURE_PIPELINE: &str = "feature-pipeline";

/// `pipeline.kafka.bootstrap-servers`.
pub const BOOTSTRAP_SERVERS: &str = "pipeline.kafka.bootstrap-servers";
/// `pipeline.kafka.topic`.
pub const TOPIC: &str = "pipeline.kafka.topic";
/// `pipeline.kafka.dead-letter-topic`.
pub const DEAD_LETTER_TOPIC_KEY: &str = "pipeline.kafka.dead-letter-topic";
/// `pipeline.kafka.group-id`.
pub const GROUP_ID: &str = "pipeline.kafka.group-id";
/// `pipeline.redis.url`.
pub const REDIS_URL: &str = "pipeline.redis.url";
/// `pipeline.redis.user-key-template`.
pub const USER_KEY_TEMPLATE: &str = "pipeline.redis.user-key-template";
/// `pipeline.redis.hot-key-template`.
pub const HOT_KEY_TEMPLATE: &str = "pipeline.redis.hot-key-template";
/// `pipeline.watermark-delay`.
pub const WATERMARK_DELAY: &str = "pipeline.watermark-delay";
/// Flink's Prometheus reporter port.
pub const METRICS_PORT: &str = "metrics.reporter.prom.port";

/// The seed's input topic.
pub const DEFAULT_TOPIC: &str = "user_behaviors";
/// The consumer group offsets are committed to when none is configured.
pub const DEFAULT_GROUP_ID: &str = "feature-pipeline";

/// Checkpoints are "off" when no interval is configured: this long apart.
const NO_CHECKPOINTS: Duration = Duration::from_secs(365 * 24 * 3600);
/// The shortest scaled checkpoint interval (a fast simulator must not make
/// the job checkpoint continuously).
const MIN_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// The directory `file://` paths are mapped into; see the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRoot(PathBuf);

impl DataRoot {
    /// A data root at `path` (made absolute, so reports show where files are).
    pub fn new(path: impl Into<PathBuf>) -> DataRoot {
        let path = path.into();
        DataRoot(std::path::absolute(&path).unwrap_or(path))
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `file:///a/b` (or `file:/a/b`) as a local path under the root.
    pub fn local(&self, uri: &str) -> Result<PathBuf, String> {
        let path = uri
            .strip_prefix("file://")
            .or_else(|| uri.strip_prefix("file:"))
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| {
                format!("{uri:?} is not a file:/// path (the simulator maps file:// paths only)")
            })?;
        let mut local = self.0.clone();
        for component in Path::new(path).components() {
            match component {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(part) => local.push(part),
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(format!("{uri:?} leaves the data volume (\"..\")"));
                }
            }
        }
        Ok(local)
    }

    /// A local path under the root as the `file:///` URI the job reports.
    pub fn uri(&self, local: &Path) -> Option<String> {
        let relative = local.strip_prefix(&self.0).ok()?;
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Some(format!("file:///{}", parts.join("/")))
    }
}

/// Everything a feature-pipeline job needs, derived from its submission.
#[derive(Debug, Clone)]
pub(crate) struct JobPlan {
    /// The runtime's configuration.
    pub(crate) config: PipelineConfig,
    /// `host:port[,...]`.
    pub(crate) bootstrap_servers: String,
    /// The input topic.
    pub(crate) topic: String,
    /// Where checkpointed offsets are committed.
    pub(crate) group_id: String,
}

/// Reads `submission`'s configuration; the error is the cause the job fails with.
pub(crate) fn plan(
    submission: &JobSubmission<'_>,
    root: &DataRoot,
    speed: f64,
) -> Result<JobPlan, String> {
    let conf = submission.conf;
    let get = |key: &str| conf.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let required = |key: &str| {
        get(key).ok_or_else(|| format!("{key} is not set; the feature pipeline needs it"))
    };
    let bootstrap_servers = required(BOOTSTRAP_SERVERS)?.to_owned();
    let topic = get(TOPIC).unwrap_or(DEFAULT_TOPIC).to_owned();
    let redis: RedisUrl = required(REDIS_URL)?
        .parse()
        .map_err(|err| format!("{REDIS_URL}: {err}"))?;
    let checkpoints = CHECKPOINTS_DIR
        .iter()
        .find_map(|key| get(key))
        .ok_or_else(|| {
            format!(
                "{} is not set; the feature pipeline needs it",
                CHECKPOINTS_DIR[0]
            )
        })?;
    let state_dir = root.local(checkpoints)?.join(submission.job_id);
    let restore = submission
        .restore_from
        .map(|path| root.local(path))
        .transpose()?;
    let source = SourceSpec::Kafka {
        bootstrap_servers: bootstrap_servers.clone(),
        topic: topic.clone(),
        dead_letter_topic: get(DEAD_LETTER_TOPIC_KEY)
            .unwrap_or(DEAD_LETTER_TOPIC)
            .to_owned(),
    };
    let mut config = PipelineConfig::new(source, redis, state_dir);
    config.restore = restore;
    config.engine = engine_config(conf)?;
    config.checkpoint_interval =
        checkpoint_interval(get("execution.checkpointing.interval"), speed)?;
    config.metrics_addr = get(METRICS_PORT)
        .map(|port| {
            port.parse::<u16>()
                .map_err(|_| format!("{METRICS_PORT}: expected one port number, got {port:?}"))
        })
        .transpose()?
        .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    Ok(JobPlan {
        config,
        bootstrap_servers,
        topic,
        group_id: get(GROUP_ID).unwrap_or(DEFAULT_GROUP_ID).to_owned(),
    })
}

/// The engine settings the configuration overrides.
fn engine_config(conf: &BTreeMap<String, String>) -> Result<EngineConfig, String> {
    let mut engine = EngineConfig::default();
    if let Some(delay) = conf.get(WATERMARK_DELAY) {
        let delay = parse_duration(delay)
            .ok_or_else(|| format!("{WATERMARK_DELAY}: {delay:?} is not a duration"))?;
        engine.watermark_delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    }
    let user = conf
        .get(USER_KEY_TEMPLATE)
        .map_or(redis_model::DEFAULT_USER_KEY, String::as_str);
    let hot = conf
        .get(HOT_KEY_TEMPLATE)
        .map_or(redis_model::DEFAULT_HOT_KEY, String::as_str);
    engine.key_templates =
        KeyTemplates::new(user, hot).map_err(|err| format!("invalid redis key template: {err}"))?;
    Ok(engine)
}

/// The interval in wall-clock time; see the module doc.
fn checkpoint_interval(configured: Option<&str>, speed: f64) -> Result<Duration, String> {
    let Some(text) = configured else {
        return Ok(NO_CHECKPOINTS);
    };
    let interval = parse_duration(text)
        .ok_or_else(|| format!("execution.checkpointing.interval: {text:?} is not a duration"))?;
    if interval.is_zero() {
        return Ok(NO_CHECKPOINTS);
    }
    let speed = if harness_sim::clock::valid_speed(speed) {
        speed
    } else {
        1.0
    };
    let real = harness_sim::clock::real_secs(interval.as_secs_f64() / speed);
    Ok(real.max(MIN_CHECKPOINT_INTERVAL))
}

#[cfg(test)]
mod tests {
    use harness_sim::clock::SimTime;

    use super::*;

    fn submission_plan(conf: &[(&str, &str)], restore: Option<&str>) -> Result<JobPlan, String> {
        let conf: BTreeMap<String, String> = conf
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let annotations = BTreeMap::new();
        let submission = JobSubmission {
            namespace: "ns",
            cluster: "c",
            job_id: "00112233445566778899aabbccddeeff",
            job_name: "c",
            conf: &conf,
            annotations: &annotations,
            restore_from: restore,
            submitted_at: SimTime(0),
        };
        plan(&submission, &DataRoot::new("/data"), 100.0)
    }

    const MINIMAL: [(&str, &str); 3] = [
        (BOOTSTRAP_SERVERS, "127.0.0.1:9092"),
        (REDIS_URL, "redis://127.0.0.1:6379"),
        ("state.checkpoints.dir", "file:///flink-data/checkpoints"),
    ];

    #[test]
    fn file_uris_map_under_the_root_and_back() {
        let root = DataRoot::new("/data");
        for uri in [
            "file:///flink-data/savepoints/sp-1",
            "file:/flink-data/savepoints/sp-1",
            "file:///flink-data//savepoints/./sp-1",
        ] {
            assert_eq!(
                root.local(uri),
                Ok(PathBuf::from("/data/flink-data/savepoints/sp-1")),
                "{uri}"
            );
        }
        assert_eq!(
            root.uri(Path::new("/data/flink-data/savepoints/sp-1"))
                .as_deref(),
            Some("file:///flink-data/savepoints/sp-1")
        );
        assert_eq!(root.uri(Path::new("/elsewhere/x")), None);
        assert!(
            root.local("s3://bucket/savepoints")
                .unwrap_err()
                .contains("file:// paths only")
        );
        assert!(
            root.local("file:///flink-data/../../etc")
                .unwrap_err()
                .contains("leaves the data volume")
        );
        assert!(root.local("file://relative").is_err());
    }

    #[test]
    fn the_configuration_becomes_the_pipelines() {
        let mut conf = MINIMAL.to_vec();
        conf.extend([
            (TOPIC, "events"),
            (WATERMARK_DELAY, "10 s"),
            ("execution.checkpointing.interval", "60s"),
            (METRICS_PORT, "9249"),
            (GROUP_ID, "g"),
        ]);
        let plan = submission_plan(
            &conf,
            Some("file:///flink-data/savepoints/savepoint-001122-abc"),
        )
        .expect("valid");
        assert_eq!(
            plan.config.state_dir,
            PathBuf::from("/data/flink-data/checkpoints/00112233445566778899aabbccddeeff")
        );
        assert_eq!(
            plan.config.restore,
            Some(PathBuf::from(
                "/data/flink-data/savepoints/savepoint-001122-abc"
            ))
        );
        assert_eq!(
            plan.config.source,
            SourceSpec::kafka("127.0.0.1:9092", "events")
        );
        assert_eq!(plan.config.engine.watermark_delay_ms, 10_000);
        // 60 s of cluster time at speed 100.
        assert_eq!(plan.config.checkpoint_interval, Duration::from_millis(600));
        // Absurd intervals are kept or refused; none panics, at any speed.
        let slowest = harness_sim::clock::MIN_SPEED;
        assert!(
            checkpoint_interval(Some("106751991167d"), slowest)
                .is_ok_and(|real| real > Duration::from_secs(1 << 60))
        );
        assert!(checkpoint_interval(Some("999999999999999999d"), 1.0).is_err());
        assert_eq!(
            plan.config.metrics_addr,
            Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 9249)))
        );
        assert_eq!(
            (plan.topic.as_str(), plan.group_id.as_str()),
            ("events", "g")
        );

        let defaults = submission_plan(&MINIMAL, None).expect("valid");
        assert_eq!(
            (defaults.topic.as_str(), defaults.group_id.as_str()),
            (DEFAULT_TOPIC, DEFAULT_GROUP_ID)
        );
        assert_eq!(defaults.config.checkpoint_interval, NO_CHECKPOINTS);
        assert_eq!(
            defaults.config.engine.watermark_delay_ms,
            EngineConfig::default().watermark_delay_ms
        );
    }

    #[test]
    fn missing_or_bad_settings_are_the_failure_cause() {
        let without = |key: &str| {
            MINIMAL
                .iter()
                .copied()
                .filter(|(k, _)| *k != key)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            submission_plan(&without(BOOTSTRAP_SERVERS), None).unwrap_err(),
            format!("{BOOTSTRAP_SERVERS} is not set; the feature pipeline needs it")
        );
        assert!(
            submission_plan(&without(REDIS_URL), None)
                .unwrap_err()
                .starts_with(REDIS_URL)
        );
        assert!(
            submission_plan(&without("state.checkpoints.dir"), None)
                .unwrap_err()
                .starts_with("state.checkpoints.dir")
        );
        let mut bad = MINIMAL.to_vec();
        bad.push((WATERMARK_DELAY, "soon"));
        assert!(
            submission_plan(&bad, None)
                .unwrap_err()
                .contains("is not a duration")
        );
        assert!(
            submission_plan(&MINIMAL, Some("s3://b/sp"))
                .unwrap_err()
                .contains("file:// paths only")
        );
    }
}
