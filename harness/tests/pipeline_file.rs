//! The file source against the oracle: generated datasets with malformed and
//! late events run through the real runtime into a real `redis-server` must
//! leave exactly the oracle's Redis state, count and dead-letter every bad
//! event, and never stop for one.

mod pipeline_common;

use std::time::Duration;

use harness::pipeline::{Exit, Pipeline, SourceSpec, checkpoints, dead_letters::DEAD_LETTER_FILE};
use pipeline_common::{assert_redis_matches, config, dataset, flush, occupy_with_strings, redis};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_source_matches_the_oracle_with_malformed_and_late_events() -> anyhow::Result<()> {
    let redis = redis().await?;
    for seed in [1, 2, 3] {
        let data = dataset(seed, 15_000, 0.03, 0.03, 4.0);
        assert!(
            data.expected.stats.malformed > 0 && data.expected.stats.fully_late > 0,
            "seed {seed}: {:?}",
            data.expected.stats
        );
        let dir = tempfile::tempdir()?;
        let events = data.write_file(dir.path())?;
        let state_dir = dir.path().join("state");
        flush(redis.url()).await?;

        let pipeline = Pipeline::start(config(
            SourceSpec::File { path: events },
            redis.url(),
            &state_dir,
        ))
        .await?;
        let summary = pipeline.finished().await?;

        assert_eq!(summary.exit, Exit::Finished);
        assert_eq!(
            summary.stats(),
            &data.expected.stats,
            "seed {seed}: counters differ from the oracle's"
        );
        assert_redis_matches(redis.url(), &data.expected).await?;
        let dead_letters = std::fs::read_to_string(state_dir.join(DEAD_LETTER_FILE))?;
        assert_eq!(
            dead_letters.lines().count(),
            data.expected.dead_letters.len(),
            "seed {seed}"
        );
        for (line, expected) in dead_letters.lines().zip(&data.expected.dead_letters) {
            let letter: serde_json::Value = serde_json::from_str(line)?;
            assert_eq!(
                letter["offset"], expected.offset,
                "seed {seed}: dead letters out of order"
            );
            assert!(
                letter["reason"].is_string() || letter["reason"].is_object(),
                "{letter}"
            );
        }
        // The end of input was checkpointed, after the last write.
        let last = summary
            .progress
            .last_checkpoint
            .clone()
            .expect("a final checkpoint");
        assert_eq!(
            checkpoints::latest_checkpoint(&state_dir),
            Some(last.clone())
        );
        let (checkpoint, _) = checkpoints::load(&last)?;
        assert_eq!(checkpoint.next_offset(0), Some(data.events.len() as i64));
    }
    Ok(())
}

/// A finished run drains: every window fires at the end of its input. Its
/// final checkpoint still holds the state from before the drain, so a run
/// restored from it with more input carries on as if it had never stopped
/// (it used to dead-letter every new event as late).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_resumes_on_more_input_as_if_it_never_stopped() -> anyhow::Result<()> {
    let redis = redis().await?;
    let data = dataset(4, 12_000, 0.03, 0.03, 4.0);
    let dir = tempfile::tempdir()?;
    let state_dir = dir.path().join("state");
    let whole = data.write_file(dir.path())?;
    let first_half = dir.path().join("first-half.jsonl");
    let text = std::fs::read_to_string(&whole)?;
    let half: String = text
        .split_inclusive('\n')
        .take(data.events.len() / 2)
        .collect();
    std::fs::write(&first_half, half)?;

    let source = |path: &std::path::Path| SourceSpec::File {
        path: path.to_owned(),
    };
    let first = Pipeline::start(config(source(&first_half), redis.url(), &state_dir))
        .await?
        .finished()
        .await?;
    assert_eq!(first.exit, Exit::Finished);

    let mut resumed = config(source(&whole), redis.url(), &state_dir);
    resumed.restore = Some(state_dir.clone());
    let summary = Pipeline::start(resumed).await?.finished().await?;

    assert_eq!(summary.exit, Exit::Finished);
    assert_eq!(summary.stats(), &data.expected.stats);
    assert_redis_matches(redis.url(), &data.expected).await?;
    let dead_letters = std::fs::read_to_string(state_dir.join(DEAD_LETTER_FILE))?;
    assert_eq!(
        dead_letters.lines().count(),
        data.expected.dead_letters.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_another_type_stops_the_run_naming_it() -> anyhow::Result<()> {
    // Retrying cannot fix WRONGTYPE: the run must end with the key named,
    // not resend its batch for ever without checkpointing.
    let redis = redis().await?;
    let data = dataset(9, 3_000, 0.0, 0.0, 4.0);
    let (key, _) = data
        .expected
        .redis
        .iter()
        .find(|(_, value)| matches!(value, harness_pipeline::RedisValue::Hash(_)))
        .expect("the dataset writes a user-features hash");
    occupy_with_strings(redis.url(), [key]).await?;
    let dir = tempfile::tempdir()?;
    let events = data.write_file(dir.path())?;
    let pipeline = Pipeline::start(config(
        SourceSpec::File { path: events },
        redis.url(),
        &dir.path().join("state"),
    ))
    .await?;
    let result = tokio::time::timeout(Duration::from_secs(30), pipeline.finished()).await?;
    let err = result.expect_err("the run must fail");
    assert!(
        matches!(&err, harness::pipeline::Error::RedisRefused { key: refused, .. } if refused == key),
        "{err:?}"
    );
    assert!(err.to_string().contains(key), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_nothing_but_garbage_is_counted_not_fatal() -> anyhow::Result<()> {
    let redis = redis().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("garbage.jsonl");
    std::fs::write(&path, "not json\n{\"tenant_id\":1}\n\n[1,2]\n\u{0}\u{1}\n")?;
    let state_dir = dir.path().join("state");
    let summary = Pipeline::start(config(SourceSpec::File { path }, redis.url(), &state_dir))
        .await?
        .finished()
        .await?;
    assert_eq!(summary.stats().events, 5);
    assert_eq!(summary.stats().malformed, 5);
    assert_eq!(
        std::fs::read_to_string(state_dir.join(DEAD_LETTER_FILE))?
            .lines()
            .count(),
        5
    );
    assert_eq!(summary.progress.redis_round_trips, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_fails_the_start_with_its_url() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, "")?;
    // A port nothing listens on (reserved, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url: harness_infra::RedisUrl = format!("redis://:hunter2@127.0.0.1:{port}/").parse()?;
    let started = std::time::Instant::now();
    let err = Pipeline::start(config(SourceSpec::File { path }, &url, dir.path()))
        .await
        .expect_err("no redis");
    let message = format!("{err:#}");
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && !message.contains("hunter2"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_fails_the_start_cleanly() -> anyhow::Result<()> {
    let redis = redis().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, "")?;
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut config = config(SourceSpec::File { path }, redis.url(), dir.path());
    config.metrics_addr = Some(taken.local_addr()?);
    let err = Pipeline::start(config)
        .await
        .expect_err("port taken")
        .to_string();
    assert_eq!(
        err,
        format!("failed to serve metrics on {}", taken.local_addr()?)
    );
    Ok(())
}
