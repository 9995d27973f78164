//! `harness sim serve`: run the cluster simulator in the foreground.
//!
//! It builds the standard cluster (built-in controllers and the Flink
//! operator model), serves it on a random loopback port, writes the
//! kubeconfig, prints exactly one ready line to stdout (no token) and runs
//! until SIGINT or SIGTERM.

use std::{io::Write, path::PathBuf, process::ExitCode};

use anyhow::Context;
use harness_sim::{
    api::{SimConfig, serve},
    clock::VirtualClock,
};

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
        // The virtual clock starts at the wall-clock time, so timestamps look
        // current to kubectl at speed 1.
        let origin = VirtualClock::starting_now(1.0).now();
        let cluster = harness_sim::standard_cluster(seed, origin);
        let config = SimConfig {
            speed,
            kubeconfig: Some(kubeconfig.clone()),
            origin: Some(origin),
        };
        let handle = serve(cluster, config)
            .await
            .context("could not start the simulator")?;
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
