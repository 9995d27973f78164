//! `harness load | pipeline | oracle | verify | infra`: the feature pipeline's commands.

use std::process::ExitCode;

/// Arguments of `harness load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {}

/// Subcommands of `harness pipeline`.
#[derive(Debug, clap::Subcommand)]
pub enum PipelineCommand {
    /// Run the pipeline.
    Run {},
}

/// Arguments of `harness oracle`.
#[derive(Debug, clap::Args)]
pub struct OracleArgs {}

/// Arguments of `harness verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {}

/// Subcommands of `harness infra`.
#[derive(Debug, clap::Subcommand)]
pub enum InfraCommand {
    /// Start the providers and print their endpoints.
    Up {},
}

/// Runs `harness load`.
pub fn load(_args: LoadArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("harness load is not built yet")
}

/// Runs `harness pipeline ...`.
pub fn pipeline(_cmd: PipelineCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("harness pipeline is not built yet")
}

/// Runs `harness oracle`.
pub fn oracle(_args: OracleArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("harness oracle is not built yet")
}

/// Runs `harness verify`.
pub fn verify(_args: VerifyArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("harness verify is not built yet")
}

/// Runs `harness infra ...`.
pub fn infra(_cmd: InfraCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("harness infra is not built yet")
}
