//! The feature pipeline as a simulated Flink job, driven through the
//! `JobModel` seam as the simulator's JobManager drives it: CREATED until its
//! slots register and the runtime consumes, RUNNING, stop-with-savepoint to a
//! real savepoint on disk, a restored job that continues from it, offsets
//! committed to the consumer group, FAILED with the cause when Kafka is
//! unreachable or Redis refuses a running job's writes, and unmarked jobs
//! left to the model.

mod pipeline_common;

use std::{collections::BTreeMap, time::Duration};

use harness::cluster::pipeline_job::{
    DataRoot, FEATURE_PIPELINE, JOB_ANNOTATION, PipelineJobs, settings,
};
use harness_infra::{Kafka, RedisUrl};
use harness_sim::{
    clock::SimTime,
    operator::{
        Timings,
        flink::job::{
            JobFactory, JobModel, JobSubmission, ModelledJobs, Resources, SavepointStatus,
        },
        status::FlinkJobState,
    },
};
use pipeline_common::{
    assert_redis_matches, dataset, eventually, kafka, occupy_with_strings, produce, redis,
};
use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
};

const TOPIC: &str = "user_behaviors";
const T: SimTime = SimTime(1_730_800_000_000);
const WAIT: Duration = Duration::from_secs(30);

fn factory(root: &std::path::Path) -> PipelineJobs {
    let timings = Timings::helm_defaults().job();
    PipelineJobs::new(
        ModelledJobs { timings },
        tokio::runtime::Handle::current(),
        DataRoot::new(root),
        100.0,
    )
}

fn conf(bootstrap: &str, redis: &RedisUrl) -> BTreeMap<String, String> {
    [
        (settings::BOOTSTRAP_SERVERS, bootstrap),
        (settings::REDIS_URL, redis.expose()),
        ("state.checkpoints.dir", "file:///flink-data/checkpoints"),
        ("execution.checkpointing.interval", "10s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn marked() -> BTreeMap<String, String> {
    [(JOB_ANNOTATION.to_owned(), FEATURE_PIPELINE.to_owned())].into()
}

fn submit(
    factory: &PipelineJobs,
    job_id: &str,
    conf: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    restore: Option<&str>,
) -> Box<dyn JobModel> {
    factory.create(&JobSubmission {
        namespace: "ns",
        cluster: "feature-pipeline",
        job_id,
        job_name: "feature-pipeline",
        conf,
        annotations,
        restore_from: restore,
        submitted_at: T,
    })
}

const READY: Resources = Resources {
    slots_ready_at: Some(T),
};

/// Advances `job` (as the JobManager does on every pass) until it reports `state`.
async fn until_state(job: &mut Box<dyn JobModel>, state: FlinkJobState) -> anyhow::Result<()> {
    let mut now = T;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        job.advance(now, READY);
        if job.state() == state {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "not {state} within {WAIT:?}: {} ({:?})",
            job.state(),
            job.failure_cause()
        );
        // While it starts, the job asks to be looked at again soon.
        let next = job.next_change(now, READY);
        anyhow::ensure!(
            next.is_some_and(|at| at > now),
            "a starting job must ask for a wake-up, got {next:?}"
        );
        now = next.unwrap_or(now);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Stops `job` with a savepoint into the standard directory; returns its location.
async fn stop(job: &mut Box<dyn JobModel>, drain: bool) -> anyhow::Result<String> {
    let trigger = job
        .stop_with_savepoint("file:///flink-data/savepoints", drain, T)
        .map_err(anyhow::Error::msg)?;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match job.savepoint_status(&trigger) {
            Some(SavepointStatus::Completed(location)) => return Ok(location),
            Some(SavepointStatus::InProgress) => {
                anyhow::ensure!(
                    job.state() == FlinkJobState::Running,
                    "running while the savepoint is written"
                );
                anyhow::ensure!(
                    std::time::Instant::now() < deadline,
                    "savepoint not written within {WAIT:?}"
                );
            }
            other => anyhow::bail!("savepoint {trigger}: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The offset the job's consumer group has committed for partition 0.
fn committed(kafka: &Kafka) -> anyhow::Result<Option<i64>> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", settings::DEFAULT_GROUP_ID)
        .create()?;
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition(TOPIC, 0);
    let offsets = consumer.committed_offsets(partitions, Duration::from_secs(5))?;
    Ok(offsets.elements().first().and_then(|e| match e.offset() {
        Offset::Offset(n) => Some(n),
        _ => None,
    }))
}

async fn until_committed(kafka: &Kafka, offset: i64) -> anyhow::Result<()> {
    eventually(&format!("offset {offset} committed"), WAIT, || async {
        matches!(committed(kafka), Ok(Some(n)) if n == offset)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marked_job_runs_the_pipeline_and_resumes_from_its_own_savepoint() -> anyhow::Result<()> {
    let redis = redis().await?;
    let kafka = kafka(TOPIC, 1).await?;
    // One partition, so late events are late exactly as the oracle says.
    let data = dataset(41, 3000, 0.05, 0.02, 0.5);
    let root = tempfile::tempdir()?;
    let factory = factory(root.path());
    let conf = conf(kafka.bootstrap_servers(), redis.url());
    produce(&kafka, TOPIC, 1, &data, 0..1500)?;

    let mut first = submit(
        &factory,
        "11111111111111111111111111111111",
        &conf,
        &marked(),
        None,
    );
    first.advance(
        T,
        Resources {
            slots_ready_at: None,
        },
    );
    assert_eq!(first.state(), FlinkJobState::Created, "no slots, no tasks");
    assert_eq!(
        first.next_change(
            T,
            Resources {
                slots_ready_at: None
            }
        ),
        None
    );
    until_state(&mut first, FlinkJobState::Running).await?;
    // Checkpoints commit their offsets: this is how a scenario sees the job caught up.
    until_committed(&kafka, 1500).await?;
    assert!(
        first
            .latest_checkpoint()
            .is_some_and(|c| c
                .starts_with("file:///flink-data/checkpoints/11111111111111111111111111111111/")),
        "{:?}",
        first.latest_checkpoint()
    );

    let savepoint = stop(&mut first, false).await?;
    assert!(
        savepoint.starts_with("file:///flink-data/savepoints/savepoint-111111-"),
        "{savepoint}"
    );
    assert_eq!(first.state(), FlinkJobState::Finished);
    assert_eq!(
        first.latest_checkpoint().as_deref(),
        Some(savepoint.as_str())
    );
    let local = root
        .path()
        .join(savepoint.trim_start_matches("file:///"))
        .join("_metadata");
    let (state, _) = harness::pipeline::checkpoints::load(&local)?;
    assert_eq!(
        state.next_offset(0),
        Some(1500),
        "the savepoint holds the real offset"
    );
    assert!(
        first
            .stop_with_savepoint("file:///flink-data/savepoints", false, T)
            .is_err(),
        "a finished job cannot be stopped again"
    );

    produce(&kafka, TOPIC, 1, &data, 1500..3000)?;
    let mut second = submit(
        &factory,
        "22222222222222222222222222222222",
        &conf,
        &marked(),
        Some(&savepoint),
    );
    assert_eq!(second.restored_from().as_deref(), Some(savepoint.as_str()));
    until_state(&mut second, FlinkJobState::Running).await?;
    until_committed(&kafka, 3000).await?;
    // Drain fires the windows still open, as the oracle does at the end of its input.
    let last = stop(&mut second, true).await?;
    assert_ne!(last, savepoint);
    assert_redis_matches(redis.url(), &data.expected).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_kafka_fails_the_job_with_the_cause() -> anyhow::Result<()> {
    let redis = redis().await?;
    let root = tempfile::tempdir()?;
    let factory = factory(root.path());
    // Port 1 on loopback: nothing listens there.
    let mut job = submit(
        &factory,
        "33333333333333333333333333333333",
        &conf("127.0.0.1:1", redis.url()),
        &marked(),
        None,
    );
    until_state(&mut job, FlinkJobState::Failed).await?;
    let cause = job.failure_cause().unwrap_or_default();
    assert!(
        cause.contains("kafka at 127.0.0.1:1 is not reachable"),
        "{cause}"
    );
    assert!(
        job.stop_with_savepoint("file:///flink-data/savepoints", false, T)
            .is_err()
    );
    assert!(job.cancel(T).is_err(), "a failed job is terminal");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_fails_with_the_cause_when_redis_refuses_its_writes() -> anyhow::Result<()> {
    let redis = redis().await?;
    let kafka = kafka(TOPIC, 1).await?;
    // Two hours of event time, so user-feature windows fire while it runs.
    let data = dataset(17, 3000, 0.0, 0.0, 0.4);
    // Every user-features key already holds a string: HSET gets WRONGTYPE.
    let hashes = data
        .expected
        .redis
        .iter()
        .filter(|(_, value)| matches!(value, harness_pipeline::RedisValue::Hash(_)))
        .map(|(key, _)| key);
    occupy_with_strings(redis.url(), hashes).await?;
    produce(&kafka, TOPIC, 1, &data, 0..3000)?;
    let root = tempfile::tempdir()?;
    let factory = factory(root.path());
    let mut job = submit(
        &factory,
        "66666666666666666666666666666666",
        &conf(kafka.bootstrap_servers(), redis.url()),
        &marked(),
        None,
    );
    until_state(&mut job, FlinkJobState::Running).await?;
    // Nobody asks it to stop: the failure must surface by itself. A running
    // job asks for no wake-up (the operator observes it on its own schedule).
    eventually(
        "the job to leave RUNNING after refused writes",
        WAIT,
        || {
            let left = job.state() != FlinkJobState::Running;
            async move { left }
        },
    )
    .await?;
    assert_eq!(job.state(), FlinkJobState::Failed);
    let cause = job.failure_cause().unwrap_or_default();
    assert!(
        cause.starts_with("the feature pipeline failed: redis ")
            && cause.contains("refused the write to user:profile:"),
        "{cause}"
    );
    assert!(job.cancel(T).is_err(), "a failed job is terminal");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_setting_fails_the_job_and_cancel_stops_a_running_one() -> anyhow::Result<()> {
    let redis = redis().await?;
    let kafka = kafka(TOPIC, 1).await?;
    let root = tempfile::tempdir()?;
    let factory = factory(root.path());
    let mut incomplete = conf(kafka.bootstrap_servers(), redis.url());
    incomplete.remove(settings::REDIS_URL);
    let mut job = submit(
        &factory,
        "44444444444444444444444444444444",
        &incomplete,
        &marked(),
        None,
    );
    job.advance(T, READY);
    assert_eq!(job.state(), FlinkJobState::Failed);
    assert_eq!(
        job.failure_cause().as_deref(),
        Some("pipeline.redis.url is not set; the feature pipeline needs it")
    );

    let mut job = submit(
        &factory,
        "55555555555555555555555555555555",
        &conf(kafka.bootstrap_servers(), redis.url()),
        &marked(),
        None,
    );
    until_state(&mut job, FlinkJobState::Running).await?;
    job.cancel(T).map_err(anyhow::Error::msg)?;
    until_state(&mut job, FlinkJobState::Canceled).await?;
    assert_eq!(job.failure_cause(), None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmarked_jobs_are_modelled() {
    let root = tempfile::tempdir().expect("temp dir");
    let factory = factory(root.path());
    // No Kafka, no Redis: a modelled job needs neither.
    let mut job = submit(
        &factory,
        "66666666666666666666666666666666",
        &BTreeMap::new(),
        &BTreeMap::new(),
        None,
    );
    let deploy = Timings::helm_defaults().task_deploy;
    job.advance(T.plus(deploy), READY);
    assert_eq!(
        job.state(),
        FlinkJobState::Running,
        "the model runs after its task-deploy time, without I/O"
    );
}
