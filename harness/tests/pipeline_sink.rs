//! The Redis sink on its own: writes land as the Redis model says they
//! should, in round trips of at most 1,000 commands, with hot-item lists
//! replaced whole and given their TTL.

mod pipeline_common;

use harness::pipeline::{
    sink::{MAX_COMMANDS_PER_ROUND_TRIP, RedisWriter},
    verify,
};
use harness_pipeline::{KeyTemplates, RedisState, RedisWrite};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_pipelined_and_land_as_the_model_says() -> anyhow::Result<()> {
    let redis = pipeline_common::redis().await?;
    let mut writer = RedisWriter::connect(redis.url()).await?;

    // 2,500 one-command writes: three round trips.
    let writes: Vec<RedisWrite> = (0..2500).map(hash).collect();
    writer.execute(&writes).await?;
    assert_eq!(
        writer.round_trips(),
        2500_u64.div_ceil(MAX_COMMANDS_PER_ROUND_TRIP as u64)
    );

    // A list of 1,500 members replaced by one of 3: the old members are gone.
    let replacements = [hot(1500, 7200), hot(3, 7200)];
    writer.execute(&replacements).await?;

    let mut expected = RedisState::default();
    for write in writes.iter().chain(&replacements) {
        expected.apply(write);
    }
    let snapshot = verify::read_redis(redis.url(), &KeyTemplates::default()).await?;
    let report = verify::compare(&expected, &snapshot, 7200);
    assert!(report.is_ok(), "{}", report.render());
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
    let url = redis.url().expose().to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_stop = std::sync::Arc::clone(&stop);
    let reader = tokio::spawn(async move {
        let mut connection = redis::Client::open(url)?
            .get_multiplexed_async_connection()
            .await?;
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
