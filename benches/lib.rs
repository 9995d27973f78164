//! Shared set-up for the criterion benchmarks in this folder: the run profile
//! (full or `--quick`), the generated workloads, the figures file the bench
//! targets write for `cargo xtask bench`, CPU-time and resident-memory
//! readings, and the deliberate slowdown of the `slowed` feature.
//!
//! The bench targets are `core.rs` (decode + aggregate, no I/O),
//! `redis_sink.rs` (the runtime's pipelined Redis sink), `end_to_end.rs`
//! (Kafka → pipeline → Redis) and `memory.rs` (resident size of open windows).
//! Each measures its own baseline in the same run, so `cargo xtask bench
//! --gate` can compare ratios that a busy machine slows down on both sides.

pub mod cpu;
pub mod figures;
pub mod rss;
pub mod slowdown;
pub mod workload;

use std::{process::ExitCode, time::Duration};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};

/// Environment variable that selects the short profile (`cargo xtask bench --quick`).
pub const QUICK_ENV: &str = "HARNESS_BENCH_QUICK";

/// How long and how much to measure: the full profile for figures worth
/// reporting, the quick one for a CI-ish check that everything still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The short profile: fewer samples, shorter measurement, smaller inputs.
    pub quick: bool,
}

impl Profile {
    /// The profile `cargo xtask bench` asked for ([`QUICK_ENV`] set to `1`).
    pub fn from_env() -> Profile {
        Profile {
            quick: std::env::var(QUICK_ENV).is_ok_and(|v| v == "1"),
        }
    }

    /// `full` in the full profile, `quick` in the quick one.
    pub fn pick<T>(self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }

    /// Sample count and times for a group whose iterations take tens to
    /// hundreds of milliseconds (every bench here processes a whole batch per
    /// iteration). 20 samples over 6 s give a stable median while keeping the
    /// whole `cargo xtask bench` run to a few minutes on 2 cores; criterion's
    /// minimum of 10 samples is the quick profile. Flat sampling (the same
    /// iteration count in every sample) because criterion's default linear
    /// ramp needs 210 iterations for 20 samples, far beyond the time budget
    /// at these iteration lengths.
    pub fn configure(self, group: &mut BenchmarkGroup<'_, WallTime>) {
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(self.pick(20, 10))
            .warm_up_time(self.pick(Duration::from_secs(1), Duration::from_millis(300)))
            .measurement_time(self.pick(Duration::from_secs(6), Duration::from_secs(1)));
    }
}

/// The `main` of a bench target: runs `bench` with a criterion configured
/// from the command line, then criterion's summary. A set-up error (Redis or
/// Kafka would not start, the workload is not what the bench expects) is
/// printed and fails the process, so the gate reports the figures as missing.
pub fn main_with(bench: &str, run: impl FnOnce(&mut Criterion) -> anyhow::Result<()>) -> ExitCode {
    let mut criterion = Criterion::default().configure_from_args();
    match run(&mut criterion) {
        Ok(()) => {
            criterion.final_summary();
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{bench}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A tokio runtime for the I/O benches: two workers, one per core of the
/// project's machine, as the harness binary uses.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_follows_the_profile() {
        assert_eq!(Profile { quick: false }.pick(1, 2), 1);
        assert_eq!(Profile { quick: true }.pick(1, 2), 2);
    }
}
