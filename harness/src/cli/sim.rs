//! `harness sim serve`: run the cluster simulator in the foreground.

use std::process::ExitCode;

/// Subcommands of `harness sim`.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Serve the simulated Kubernetes API until interrupted.
    Serve {},
}

/// Runs `harness sim ...`.
pub fn run(_cmd: SimCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("harness sim is not built yet")
}
