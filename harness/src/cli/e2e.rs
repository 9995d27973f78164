//! `harness e2e`: validate scenarios, start a cluster backend, run, report.
//!
//! Every scenario file is parsed and validated before the backend starts;
//! one invalid file means nothing runs (exit code 2). Otherwise the exit
//! code is 0 when every scenario passed and 1 when any failed.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;

use crate::{
    cluster::{self, BackendConfig, BackendKind},
    runner::{self, RunConfig, report::Outcome},
    scenario::{self, LoadError},
};

/// Arguments of `harness e2e`.
#[derive(Debug, clap::Args)]
pub struct E2eArgs {
    /// Scenario files or directories of them (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// The cluster backend [default: sim, or kubeconfig when --kubeconfig is given].
    #[arg(long, value_enum)]
    pub cluster: Option<ClusterArg>,
    /// Kubeconfig of an existing cluster (default: $KUBECONFIG).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Simulator speed: virtual seconds per real second. Scenario timeouts and
    /// sleeps are cluster time, so at 100 a 5m timeout waits at most 3 s.
    #[arg(long, default_value_t = 100.0)]
    pub speed: f64,
    /// Seed of the simulated cluster (uids, job ids, timings).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where junit.xml, report.json, summary.md and diagnostics go.
    #[arg(long, value_name = "DIR", default_value = "target/e2e")]
    pub report_dir: PathBuf,
    /// Keep each scenario's namespace after the run.
    #[arg(long)]
    pub keep_namespaces: bool,
    /// Stop after the first failing scenario (the rest are reported as skipped).
    #[arg(long)]
    pub fail_fast: bool,
    /// Only parse and validate the scenario files; start nothing.
    #[arg(long)]
    pub validate: bool,
}

/// `--cluster` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterArg {
    /// The embedded simulator with the Flink operator model.
    Sim,
    /// An existing cluster from --kubeconfig or $KUBECONFIG.
    Kubeconfig,
    /// A k3d cluster (not yet supported).
    K3d,
}

/// Runs `harness e2e`.
pub fn run(args: E2eArgs) -> anyhow::Result<ExitCode> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        args.paths.clone()
    };
    let scenarios =
        match scenario::scenario_files(&paths).and_then(|files| scenario::load_all(&files)) {
            Ok(scenarios) => scenarios,
            Err(LoadError::Invalid { diagnostics }) => {
                for diagnostic in &diagnostics {
                    eprintln!("{diagnostic}");
                }
                let files: std::collections::BTreeSet<_> =
                    diagnostics.iter().map(|d| &d.file).collect();
                eprintln!(
                    "error: {} problem{} in {} file{}; nothing was run",
                    diagnostics.len(),
                    if diagnostics.len() == 1 { "" } else { "s" },
                    files.len(),
                    if files.len() == 1 { "" } else { "s" }
                );
                return Ok(ExitCode::from(2));
            }
            Err(other) => return Err(other.into()),
        };
    if args.validate {
        crate::console::outln!(
            "{} scenario file{} valid",
            scenarios.len(),
            if scenarios.len() == 1 { " is" } else { "s are" }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let kind = match (args.cluster, &args.kubeconfig) {
        (Some(ClusterArg::Sim), _) | (None, None) => BackendKind::Sim,
        (Some(ClusterArg::Kubeconfig), _) | (None, Some(_)) => BackendKind::Kubeconfig,
        (Some(ClusterArg::K3d), _) => BackendKind::K3d,
    };
    if kind == BackendKind::Sim && args.kubeconfig.is_some() {
        anyhow::bail!(
            "--kubeconfig names an existing cluster; use it with --cluster kubeconfig, not --cluster sim"
        );
    }
    let backend = BackendConfig {
        kind,
        kubeconfig: args.kubeconfig.clone(),
        speed: args.speed,
        seed: args.seed,
        work_dir: args.report_dir.clone(),
    };
    let config = RunConfig {
        report_dir: args.report_dir.clone(),
        keep_namespaces: args.keep_namespaces,
        fail_fast: args.fail_fast,
        progress: true,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async {
        let mut termination = super::Termination::listen()?;
        let cluster = tokio::select! {
            cluster = cluster::start(&backend) => cluster
                .with_context(|| format!("could not start the {} backend", kind.name()))?,
            () = termination.recv() => return Ok(interrupted(kind)),
        };
        // A signal abandons the run: dropping its future drops the scenario's
        // infrastructure handles, which kill and reap redis-server and the
        // broker, and then the simulator; nothing started here outlives us.
        let report = tokio::select! {
            report = runner::run(&scenarios, &cluster, &config) => report,
            () = termination.recv() => return Ok(interrupted(kind)),
        };
        let paths = runner::write_reports(&report, &config.report_dir, cluster.secrets())
            .with_context(|| {
                format!("could not write reports to {}", config.report_dir.display())
            })?;
        crate::console::outln!(
            "reports: {}, {}, {}",
            paths.junit.display(),
            paths.json.display(),
            paths.markdown.display()
        );
        if args.keep_namespaces {
            crate::console::outln!("kubeconfig: {}", cluster.kubeconfig.display());
        }
        Ok(if report.outcome == Outcome::Pass {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

/// What an interrupted run says, and its exit code (128 + SIGINT, as a shell
/// reports a command Ctrl-C stopped).
fn interrupted(kind: BackendKind) -> ExitCode {
    eprintln!(
        "interrupted: the run was abandoned and its infrastructure stopped; no reports were written"
    );
    if kind != BackendKind::Sim {
        eprintln!(
            "note: namespaces the interrupted scenarios created on the cluster were not deleted"
        );
    }
    ExitCode::from(130)
}
