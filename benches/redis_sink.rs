//! `redis_sink`: the runtime's real Redis sink (`harness::pipeline::sink::
//! RedisWriter`, pipelined, round trips of up to 10,000 commands and 1 MiB)
//! against a local `redis-server`, beside a bare pipelined HSET loop on the
//! same connection type, the same keys and the same request boundaries,
//! measured in the same run.
//!
//! The writes are what a real engine run emits: the 200,000-event standard
//! batch run through `Engine::process` and drained (user-feature hashes and
//! hot-item lists).
//! - `sink` vs `bare_pipeline`: the user-feature hashes only, so both sides
//!   send identical HSETs in identical requests (the bare loop's boundaries
//!   are the sink's, computed before timing) and the ratio is the sink's own
//!   overhead, sizing included;
//! - `sink_mixed`: every write, hot-item lists (`MULTI, DEL, ZADD` of up to
//!   1,000 members, `EXPIRE, EXEC`) included: reported, not ratioed.
//!
//! Round trips are counted by the sink (`RedisWriter::round_trips`, one per
//! pipelined request Redis acknowledged), not derived from the batch size:
//! `round_trips_per_1000` is over the mixed writes (target ≤ 1, from the
//! issue), `hash_round_trips_per_1000` over the hashes.

use std::{hint::black_box, process::ExitCode, time::Duration};

use anyhow::Context as _;
use criterion::{Criterion, Throughput};
use harness::pipeline::sink::{RedisWriter, round_trip_len};
use harness_benches::{Profile, figures::Figures, main_with, runtime, slowdown, workload};
use harness_infra::{Redis, RedisSpec};
use harness_pipeline::{EngineConfig, RedisWrite};
use redis::aio::MultiplexedConnection;
use tokio::runtime::Runtime;

/// Bounds the sink's connect, which otherwise retries until Redis answers.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    main_with("redis_sink", redis_sink)
}

fn redis_sink(c: &mut Criterion) -> anyhow::Result<()> {
    let profile = Profile::from_env();
    let rt = runtime().context("starting tokio")?;
    let redis = rt
        .block_on(Redis::start(&RedisSpec::default()))
        .context("starting redis-server")?;

    let writes = workload::redis_writes(
        &EngineConfig::default(),
        &workload::Batch::standard(200_000),
    );
    let hashes: Vec<RedisWrite> = writes
        .iter()
        .filter(|w| matches!(w, RedisWrite::Hash { .. }))
        .cloned()
        .collect();
    anyhow::ensure!(
        hashes.len() >= 1000,
        "the workload gave only {} user-feature writes",
        hashes.len()
    );

    let mut writer = rt
        .block_on(async {
            tokio::time::timeout(CONNECT_TIMEOUT, RedisWriter::connect(redis.url())).await
        })
        .context("connecting the sink timed out")?
        .context("connecting the sink")?;
    let client = redis::Client::open(redis.url().expose()).context("parsing the redis url")?;
    let mut bare = rt
        .block_on(client.get_multiplexed_async_connection())
        .context("connecting to redis")?;

    let mut figures = Figures::new("redis_sink");
    figures.set("updates", writes.len() as f64, "writes");
    figures.set("hash_updates", hashes.len() as f64, "writes");
    let mixed = count_round_trips(&rt, &mut writer, &writes)?;
    figures.set(
        "round_trips_per_1000",
        mixed as f64 * 1000.0 / writes.len() as f64,
        "round trips",
    );
    let hash_only = count_round_trips(&rt, &mut writer, &hashes)?;
    figures.set(
        "hash_round_trips_per_1000",
        hash_only as f64 * 1000.0 / hashes.len() as f64,
        "round trips",
    );
    figures.write_and_report();

    let mut group = c.benchmark_group("redis_sink");
    profile.configure(&mut group);
    group.throughput(Throughput::Elements(hashes.len() as u64));
    group.bench_function("sink", |b| {
        b.iter(|| {
            rt.block_on(execute(&mut writer, &hashes))
                .expect("the sink's writes failed")
        })
    });
    let requests = request_lengths(&hashes);
    group.bench_function("bare_pipeline", |b| {
        b.iter(|| {
            rt.block_on(bare_hsets(&mut bare, &hashes, &requests))
                .expect("the bare pipelined HSETs failed")
        })
    });
    group.throughput(Throughput::Elements(writes.len() as u64));
    group.bench_function("sink_mixed", |b| {
        b.iter(|| {
            rt.block_on(execute(&mut writer, &writes))
                .expect("the sink's writes failed")
        })
    });
    group.finish();
    drop(redis);
    Ok(())
}

/// Round trips the sink makes for `writes`, from its own counter.
fn count_round_trips(
    rt: &Runtime,
    writer: &mut RedisWriter,
    writes: &[RedisWrite],
) -> anyhow::Result<u64> {
    let before = writer.round_trips();
    rt.block_on(execute(writer, writes))
        .context("the sink's writes failed")?;
    Ok(writer.round_trips() - before)
}

/// Hands `writes` to the sink as the runtime does: all of a batch at once
/// (in the slowed build, in small slices; see `harness_benches::slowdown`).
async fn execute(writer: &mut RedisWriter, writes: &[RedisWrite]) -> harness::pipeline::Result<()> {
    for slice in writes.chunks(slowdown::sink_slice(writes.len())) {
        writer.execute(slice).await?;
    }
    Ok(())
}

/// How many writes each of the sink's round trips over `writes` carries.
fn request_lengths(writes: &[RedisWrite]) -> Vec<usize> {
    let mut lengths = Vec::new();
    let mut rest = writes;
    while !rest.is_empty() {
        let len = round_trip_len(rest);
        lengths.push(len);
        rest = &rest[len..];
    }
    lengths
}

/// The baseline: the same HSETs in pipelined requests of `requests` writes
/// each, straight through redis-rs.
async fn bare_hsets(
    connection: &mut MultiplexedConnection,
    writes: &[RedisWrite],
    requests: &[usize],
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    let mut rest = writes;
    for &len in requests {
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        pipe.clear();
        for write in chunk {
            if let RedisWrite::Hash { key, fields } = write {
                let cmd = pipe.cmd("HSET").arg(key);
                for (field, value) in fields {
                    cmd.arg(*field).arg(value);
                }
                cmd.ignore();
            }
        }
        pipe.query_async::<()>(black_box(&mut *connection)).await?;
    }
    Ok(())
}
