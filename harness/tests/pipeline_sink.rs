//! The Redis sink on its own: writes land as the Redis model says they
//! should, with hot-item lists replaced whole and given their TTL, in round
//! trips bounded by the sink's caps and at most one per 1,000 updates on a
//! realistic batch, counted by the sink's own counter.

mod pipeline_common;

use harness::pipeline::{
    sink::{MAX_BYTES_PER_ROUND_TRIP, MAX_COMMANDS_PER_ROUND_TRIP, RedisWriter},
    verify,
};
use harness_pipeline::{
    Engine, EngineConfig, Generator, GeneratorConfig, KeyTemplates, RedisState, RedisWrite,
};

fn hash(n: usize) -> RedisWrite {
    RedisWrite::Hash {
        key: format!("user:profile:t:s:u{n}"),
        fields: vec![("view", n.to_string()), ("like", "0".into())],
    }
}

fn hot(members: usize, ttl_secs: u64) -> RedisWrite {
    RedisWrite::ReplaceZset {
        key: "hot:items:t:s".into(),
        members: (0..members)
            .map(|i| (format!("item{i}"), (members - i) as f64 * 1.5))
            .collect(),
        ttl_secs,
    }
}

/// The writes an engine run over `events` generated events emits: hours of
/// event time (20 events per second), so user windows and hot-item lists
/// fire many times, as in the benches.
fn engine_writes(events: usize) -> Vec<RedisWrite> {
    let config = EngineConfig::default();
    let generator = Generator::new(GeneratorConfig {
        events_per_second: 20.0,
        ..GeneratorConfig::default()
    })
    .expect("valid generator settings");
    let mut engine = Engine::new(config.clone(), &[0]);
    let mut outputs = Vec::new();
    for (offset, event) in generator.take(events).enumerate() {
        engine.process(0, offset as i64, &event.payload, &mut outputs);
    }
    engine.drain(&mut outputs);
    outputs
        .iter()
        .filter_map(|output| config.redis_write(output))
        .collect()
}

async fn assert_redis_holds(
    redis: &harness_infra::Redis,
    writes: &[RedisWrite],
) -> anyhow::Result<()> {
    let mut expected = RedisState::default();
    for write in writes {
        expected.apply(write);
    }
    let snapshot = verify::read_redis(redis.url(), &KeyTemplates::default()).await?;
    let report = verify::compare(&expected, &snapshot, 7200);
    anyhow::ensure!(report.is_ok(), "{}", report.render());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realistic_batch_takes_at_most_one_round_trip_per_1000_updates() -> anyhow::Result<()> {
    let redis = pipeline_common::redis().await?;
    let mut writer = RedisWriter::connect(redis.url()).await?;
    let writes = engine_writes(100_000);
    let lists = writes
        .iter()
        .filter(|w| matches!(w, RedisWrite::ReplaceZset { .. }))
        .count();
    assert!(
        writes.len() >= 5000 && lists > 0,
        "not a sizeable mixed batch: {} writes, {lists} hot-item lists",
        writes.len()
    );

    writer.execute(&writes).await?;
    let round_trips = writer.round_trips();
    assert!(
        round_trips * 1000 <= writes.len() as u64,
        "{round_trips} round trips for {} updates",
        writes.len()
    );
    assert_redis_holds(&redis, &writes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_respect_the_byte_and_command_caps() -> anyhow::Result<()> {
    let redis = pipeline_common::redis().await?;
    let mut writer = RedisWriter::connect(redis.url()).await?;

    // 4 MiB of values alone: a round trip carries at most 1 MiB, and the sink
    // fills each (the values are 1/64 MiB, so the last one of a round trip
    // wastes at most that much of it).
    let value = "v".repeat(MAX_BYTES_PER_ROUND_TRIP / 64);
    let big: Vec<RedisWrite> = (0..256)
        .map(|n| RedisWrite::Hash {
            key: format!("user:profile:t:s:big{n}"),
            fields: vec![("view", value.clone())],
        })
        .collect();
    writer.execute(&big).await?;
    let at_least = (256 * value.len()).div_ceil(MAX_BYTES_PER_ROUND_TRIP) as u64;
    let round_trips = writer.round_trips();
    assert!(
        (at_least..=at_least + 1).contains(&round_trips),
        "{round_trips} round trips for {at_least} MiB"
    );

    // Small writes: the command cap bounds them.
    let before = writer.round_trips();
    let small: Vec<RedisWrite> = (0..MAX_COMMANDS_PER_ROUND_TRIP * 2 + 1).map(hash).collect();
    writer.execute(&small).await?;
    assert_eq!(writer.round_trips() - before, 3);
    assert_redis_holds(&redis, &[big, small].concat()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_item_lists_are_replaced_whole_with_their_ttl() -> anyhow::Result<()> {
    let redis = pipeline_common::redis().await?;
    let mut writer = RedisWriter::connect(redis.url()).await?;

    // A list of 1,500 members replaced by one of 3: the old members are gone.
    let replacements = [hot(1500, 7200), hot(3, 7200)];
    writer.execute(&replacements).await?;
    assert_redis_holds(&redis, &replacements).await?;
    let snapshot = verify::read_redis(redis.url(), &KeyTemplates::default()).await?;
    let ttl = snapshot.zset_ttls["hot:items:t:s"];
    assert!((7100..=7200).contains(&ttl), "ttl {ttl}");

    // An empty list deletes the key.
    writer.execute(&[hot(0, 7200)]).await?;
    let snapshot = verify::read_redis(redis.url(), &KeyTemplates::default()).await?;
    assert!(snapshot.state.get("hot:items:t:s").is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_never_sees_a_half_written_hot_list() -> anyhow::Result<()> {
    let redis = pipeline_common::redis().await?;
    let mut writer = RedisWriter::connect(redis.url()).await?;
    writer.execute(&[hot(1000, 7200)]).await?;
    let url = redis.url().clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_stop = std::sync::Arc::clone(&stop);
    let reader = tokio::spawn(async move {
        let mut connection = pipeline_common::connect(&url).await?;
        let mut seen = std::collections::BTreeSet::new();
        while !reader_stop.load(std::sync::atomic::Ordering::Relaxed) {
            let cardinality: u64 = redis::cmd("ZCARD")
                .arg("hot:items:t:s")
                .query_async(&mut connection)
                .await?;
            seen.insert(cardinality);
        }
        anyhow::Ok(seen)
    });
    for round in 0..200 {
        writer
            .execute(&[hot(if round % 2 == 0 { 10 } else { 1000 }, 7200)])
            .await?;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = reader.await??;
    assert!(
        seen.iter().all(|n| [10, 1000].contains(n)),
        "a reader saw list sizes {seen:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_credentials_fail_at_once_naming_the_cause() -> anyhow::Result<()> {
    let redis = pipeline_common::redis().await?;
    let mut admin = pipeline_common::connect(redis.url()).await?;
    redis::cmd("CONFIG")
        .arg(&["SET", "requirepass", "s3cret-pw"])
        .query_async::<()>(&mut admin)
        .await?;
    let open = redis.url().expose().to_owned();
    let with_password =
        |password: &str| open.replacen("redis://", &format!("redis://:{password}@"), 1);
    for (url, cause) in [
        (open.clone(), "NOAUTH"),
        (with_password("wrong"), "Password authentication failed"),
    ] {
        let url: harness_infra::RedisUrl = url.parse()?;
        let started = std::time::Instant::now();
        let err = RedisWriter::connect(&url)
            .await
            .expect_err("Redis refuses these credentials");
        let text = format!("{:#}", anyhow::Error::from(err));
        assert!(
            text.contains("failed to authenticate with redis") && text.contains(cause),
            "{text}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "an auth failure is final, not retried for {:?}",
            started.elapsed()
        );
    }
    let url: harness_infra::RedisUrl = with_password("s3cret-pw").parse()?;
    RedisWriter::connect(&url)
        .await?
        .execute(&[hash(1)])
        .await?;

    // Any other refusal at set-up is final too: a database that does not exist.
    let missing_db: harness_infra::RedisUrl = format!(
        "{}99",
        with_password("s3cret-pw").trim_end_matches(|c: char| c.is_ascii_digit())
    )
    .parse()?;
    let started = std::time::Instant::now();
    let err = RedisWriter::connect(&missing_db)
        .await
        .expect_err("there is no database 99");
    let text = format!("{:#}", anyhow::Error::from(err));
    assert!(
        text.contains("failed to connect to redis") && text.contains("DB index is out of range"),
        "{text}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "retried for {:?}",
        started.elapsed()
    );
    Ok(())
}
