//! `harness sim serve`: run the cluster simulator in the foreground.
//!
//! It builds the same cluster as the `sim` backend of `harness e2e`
//! (built-in controllers, the Flink operator model, and the real feature
//! pipeline for FlinkDeployments annotated `harness.flink.dev/job:
//! feature-pipeline`, reading and writing the Kafka and Redis their
//! configuration names), serves it on a random loopback port, writes the
//! kubeconfig, prints exactly one ready line to stdout (no token) and runs
//! until SIGINT or SIGTERM.

use std::{io::Write, path::PathBuf, process::ExitCode};

use crate::cluster::sim::serve_cluster;
use anyhow::Context;

/// Subcommands of `harness sim`.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Serve the simulated Kubernetes API until interrupted.
    Serve {
        /// Where to write the kubeconfig (created with mode 0600).
        #[arg(long)]
        kubeconfig: PathBuf,
        /// Virtual seconds per real second.
        #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
        speed: f64,
        /// Seed of the simulator's random source (uids, names, job ids).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if harness_sim::clock::valid_speed(speed) => Ok(speed),
        _ => Err(harness_sim::clock::speed_error(format_args!("{text:?}"))),
    }
}

/// Runs `harness sim ...`.
pub fn run(cmd: SimCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SimCommand::Serve {
            kubeconfig,
            speed,
            seed,
        } => serve_until_signalled(kubeconfig, speed, seed),
    }
}

fn serve_until_signalled(kubeconfig: PathBuf, speed: f64, seed: u64) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async {
        let mut termination = super::Termination::listen()?;
        // The pipeline jobs' data volume lives as long as this process.
        let volume = tempfile::Builder::new()
            .prefix("harness-sim-volume-")
            .tempdir()
            .context("could not create the simulator's data volume")?;
        let (handle, job_tasks) =
            serve_cluster(seed, speed, kubeconfig.clone(), volume.path())
                .await
                .context("could not start the simulator")?;
        tracing::info!(volume = %volume.path().display(), "the pipeline jobs' file:/// paths are under the data volume");
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "harness-sim ready: {} kubeconfig={} speed={speed}",
            handle.server_url(),
            kubeconfig.display()
        )?;
        stdout.flush()?;
        drop(stdout);
        termination.recv().await;
        handle.shutdown().await;
        // Cancelled with their cluster; give them a moment to let go of
        // Kafka and Redis cleanly.
        job_tasks.settled(std::time::Duration::from_secs(5)).await;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_must_be_positive() {
        assert_eq!(parse_speed("2.5"), Ok(2.5));
        for bad in ["0", "-1", "nan", "inf", "fast"] {
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
    }
}
