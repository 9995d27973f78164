//! The `harness` subcommands.
//!
//! Each subcommand's arguments and entry point live in a file of their own,
//! and each is a thin layer over a library module, so everything the CLI does
//! is also callable (and tested) as a library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod e2e;
pub mod pipeline;
pub mod sim;

/// Migration rehearsal harness for Flink on Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "harness", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). `RUST_LOG` overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Everything `harness` can do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios against a cluster and write reports.
    E2e(e2e::E2eArgs),
    /// The embedded cluster simulator.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Generate events into a file or a Kafka topic.
    Load(pipeline::LoadArgs),
    /// The feature pipeline.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Compute the exact expected pipeline output from an events file.
    Oracle(pipeline::OracleArgs),
    /// Compare a live Redis (and metrics) against the oracle.
    Verify(pipeline::VerifyArgs),
    /// Start Kafka and Redis providers in the foreground.
    #[command(subcommand)]
    Infra(pipeline::InfraCommand),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::E2e(args) => e2e::run(args),
        Command::Sim(cmd) => sim::run(cmd),
        Command::Load(args) => pipeline::load(args),
        Command::Pipeline(cmd) => pipeline::pipeline(cmd),
        Command::Oracle(args) => pipeline::oracle(args),
        Command::Verify(args) => pipeline::verify(args),
        Command::Infra(cmd) => pipeline::infra(cmd),
    }
}

/// Logs go to stderr so stdout stays parseable (tables, JSON, endpoints).
///
/// Long-running services (`sim serve`, `pipeline run`, `infra up`) log their
/// progress at info by default. Commands whose output is a report (`e2e`,
/// `oracle`, `verify`, `load`) only log warnings by default, so the step table
/// is not interleaved with the in-process simulator's and pipeline's chatter;
/// `-v` or `RUST_LOG` brings it back.
pub fn init_logging(cli: &Cli) {
    let services = matches!(
        cli.command,
        Command::Sim(_) | Command::Pipeline(_) | Command::Infra(_)
    );
    let default = match (cli.verbose, services) {
        (0, true) => "warn,harness=info,harness_sim=info,harness_infra=info",
        (0, false) => "warn",
        (1, _) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only on a terminal: CI logs and redirected files get plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// SIGINT (Ctrl-C) or SIGTERM (what `kill`, `timeout` and supervisors send):
/// either ends a foreground command the same clean way, so the processes it
/// started (redis-server, a broker) stop with it instead of outliving it.
pub(crate) struct Termination {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Termination {
    /// Handles both signals from now on: registering before anything is
    /// printed means a signal sent right after the output is never missed.
    pub(crate) fn listen() -> anyhow::Result<Termination> {
        use anyhow::Context as _;
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Termination {
            interrupt: signal(SignalKind::interrupt()).context("could not listen for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("could not listen for SIGTERM")?,
        })
    }

    /// Resolves at the first of the two signals.
    pub(crate) async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
