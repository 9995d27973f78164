//! `harness e2e`: run scenarios and write reports.

use std::process::ExitCode;

/// Arguments of `harness e2e`.
#[derive(Debug, clap::Args)]
pub struct E2eArgs {}

/// Runs `harness e2e`.
pub fn run(_args: E2eArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("harness e2e is not built yet")
}
