//! `core`: the pipeline's pure core on in-memory bytes, no I/O, one thread.
//!
//! Three functions over the identical batch of generated events, measured in
//! the same run so their ratios survive a busy machine:
//! - `serde_json`: bare serde_json decoding into a borrowed struct (no
//!   validation): what "JSON decoding alone" costs at the least;
//! - `decode`: the pipeline's decoding step (`harness_pipeline::decode`:
//!   JSON + validation);
//! - `decode_aggregate`: `Engine::process` for every event, then `drain`, on a
//!   fresh engine: decoding, window assignment, the three computations, and
//!   firing every window (the batch spans minutes of event time, so 1-min
//!   metrics windows fire as it goes and the rest fire at the drain).
//!
//! Targets (from the issue): `decode_aggregate` ≥ 1,000,000 events/s, and
//! ≥ 70% of the decoding rate. `cargo xtask bench` derives the rates and ratios
//! from criterion's estimates.

use std::{borrow::Cow, hint::black_box, process::ExitCode};

use criterion::{BatchSize, Criterion, Throughput};
use harness_benches::{Profile, main_with, slowdown, workload::Batch};
use harness_pipeline::{Engine, EngineConfig, decode};
use serde::Deserialize;

/// The event's fields as plain serde_json sees them: borrowed where the JSON
/// has no escapes, no checks.
#[derive(Deserialize)]
#[allow(dead_code)] // Read only by black_box: decoding them is what is measured.
struct BareEvent<'a> {
    #[serde(borrow)]
    tenant_id: Cow<'a, str>,
    #[serde(borrow)]
    scenario_id: Cow<'a, str>,
    #[serde(borrow)]
    user_id: Cow<'a, str>,
    #[serde(borrow)]
    item_id: Cow<'a, str>,
    #[serde(borrow)]
    action_type: Cow<'a, str>,
    timestamp: i64,
    watch_duration_ms: Option<u64>,
}

fn main() -> ExitCode {
    main_with("core", core)
}

fn core(c: &mut Criterion) -> anyhow::Result<()> {
    let profile = Profile::from_env();
    // The same batch in both profiles, so quick runs' ratios compare with
    // the baseline's; only the sampling is shorter.
    let batch = Batch::standard(200_000);
    let config = EngineConfig::default();

    let mut group = c.benchmark_group("core");
    profile.configure(&mut group);
    group.throughput(Throughput::Elements(batch.len() as u64));

    group.bench_function("serde_json", |b| {
        b.iter(|| {
            for payload in batch.payloads() {
                let _ = black_box(serde_json::from_slice::<BareEvent<'_>>(black_box(payload)));
            }
        })
    });

    group.bench_function("decode", |b| {
        b.iter(|| {
            for payload in batch.payloads() {
                let _ = black_box(decode(black_box(payload)));
            }
        })
    });

    group.bench_function("decode_aggregate", |b| {
        b.iter_batched(
            || (Engine::new(config.clone(), &[0]), Vec::with_capacity(1024)),
            |(mut engine, mut outputs)| {
                for (offset, payload) in batch.payloads().enumerate() {
                    engine.process(0, offset as i64, black_box(payload), &mut outputs);
                    slowdown::per_event(payload);
                    // A runtime hands outputs to the sink as they come; keep the
                    // buffer from growing into something the runtime never holds.
                    if outputs.len() >= 1024 {
                        black_box(&outputs);
                        outputs.clear();
                    }
                }
                engine.drain(&mut outputs);
                black_box(&outputs);
                // Returned so that freeing the engine's state is not timed.
                (engine, outputs)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    Ok(())
}
