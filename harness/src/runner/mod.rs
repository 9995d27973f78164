//! Runs scenario steps against a cluster, evaluates assertions, and writes
//! reports (JUnit XML, versioned JSON, Markdown summary).
//!
//! [`run`] executes validated scenarios one after another, each in its own
//! namespace, and returns a [`report::RunReport`]; [`write_reports`] renders
//! it. The runner only talks to the cluster through [`crate::cluster::Cluster`],
//! so it does not know (or care) whether that is the simulator.
//!
//! - one module per verb: `apply`, `patch`, `delete`, `assert` (also the
//!   `error` verb), `wait`, `exec`, `produce`, `verify`; `sleep` is one line
//!   in `execute`;
//! - `infra`: the scenario's Kafka and Redis (`spec.infra`), started before
//!   the steps and stopped after them; `datasets`: what `produce` sent, for
//!   `verify`; `verify_kafka`: consumer-group offsets and dead letters;
//! - `execute`: step order, blocks, skips, capability checks;
//! - `deadline`: cluster-time deadlines and polling; [`matcher`]: partial
//!   matching and diffs;
//! - `namespace`, `diagnostics`: per-scenario setup, teardown and failure
//!   bundles;
//! - [`report`] and `report_*`: the result model and its renderings.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

pub mod matcher;
pub mod report;
pub mod report_json;
pub mod report_junit;
pub mod report_markdown;
pub mod report_table;

mod apply;
mod assert;
mod context;
mod datasets;
mod deadline;
mod delete;
mod diagnostics;
mod exec;
mod execute;
mod expect;
mod infra;
mod namespace;
mod objects;
mod patch;
mod produce;
mod verify;
mod verify_kafka;
mod wait;

pub use namespace::SCENARIO_LABEL;
pub use objects::chain as error_chain;

use self::{
    context::Ctx,
    execute::Executor,
    report::{Elapsed, Outcome, RunReport, ScenarioReport, StepReport, Totals, Versions},
};
use crate::{
    cluster::{Cluster, Kinds},
    scenario::{Scenario, model::API_VERSION, template::Vars},
};

/// How long, in real time, a scenario waits for its pipeline jobs to end
/// once its namespace is deleted (a cancel takes milliseconds; this only
/// bounds a stuck one).
const JOBS_SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Where reports and diagnostics go (`target/e2e` by default).
    pub report_dir: PathBuf,
    /// Keep each scenario's namespace for inspection.
    pub keep_namespaces: bool,
    /// Skip the remaining scenarios after the first failure.
    pub fail_fast: bool,
    /// Print the step table to stdout as steps finish.
    pub progress: bool,
}

/// Runs every scenario and returns the report (also for failures: a failed
/// scenario is a result, not an error).
pub async fn run(scenarios: &[Scenario], cluster: &Cluster, config: &RunConfig) -> RunReport {
    let kinds = Kinds::new(cluster.client.clone());
    let started_real = Instant::now();
    let started_cluster = cluster.clock.now();
    let mut report = RunReport {
        schema_version: report::SCHEMA_VERSION,
        versions: Versions {
            harness: env!("CARGO_PKG_VERSION"),
            scenario_api: API_VERSION,
            kubernetes: cluster.info.kubernetes_version.clone(),
        },
        started_at: crate::cluster::ClusterClock::Wall.now().rfc3339(),
        backend: cluster.info.clone(),
        outcome: Outcome::Pass,
        totals: Totals::default(),
        durations: Elapsed::default(),
        scenarios: Vec::new(),
    };
    if config.progress {
        crate::console::outln!("{}", report_table::backend_line(&cluster.info));
    }
    for scenario in scenarios {
        let failed_before = report.scenarios.iter().any(|s| s.outcome == Outcome::Fail);
        let result = if config.fail_fast && failed_before {
            skipped(scenario, "--fail-fast: an earlier scenario failed")
        } else {
            run_scenario(scenario, cluster, &kinds, config).await
        };
        if config.progress {
            // Like the report files, the console is redacted: a step's output
            // (an `exec` that prints its kubeconfig, say) may hold a token.
            let footer = report_table::scenario_footer(&result);
            crate::console::out!("{}", report::redact(&footer, &result.secrets.0));
        }
        report.scenarios.push(result);
    }
    report.durations = Elapsed {
        real: started_real.elapsed(),
        cluster: cluster.clock.now().since(started_cluster),
    };
    report.finish();
    if config.progress {
        crate::console::out!("{}", report_table::run_footer(&report));
    }
    report
}

async fn run_scenario(
    scenario: &Scenario,
    cluster: &Cluster,
    kinds: &Kinds,
    config: &RunConfig,
) -> ScenarioReport {
    let started_real = Instant::now();
    let started_cluster = cluster.clock.now();
    let mut result = skipped(scenario, "");
    if config.progress {
        crate::console::outln!("{}", report_table::scenario_header(scenario));
    }
    let running_infra = match &scenario.spec.infra {
        Some(spec) => match infra::start(spec).await {
            Ok(running) => Some(running),
            Err(message) => return setup_failed(result, message, config),
        },
        None => None,
    };
    let (namespace, created) = match namespace::prepare(cluster, scenario).await {
        Ok(found) => found,
        Err(message) => {
            if let Some(running) = running_infra {
                infra::stop(running).await;
            }
            return setup_failed(result, message, config);
        }
    };
    let mut vars = Vars::new(&namespace, scenario.spec.vars.clone());
    let mut secrets = cluster.secrets().to_vec();
    if let Some(running) = &running_infra {
        vars.set_infra(infra::variables(running));
        secrets.extend(infra::secrets(running));
        result.infra = infra::endpoints(running);
        if config.progress {
            for endpoint in &result.infra {
                crate::console::outln!("  {endpoint}");
            }
        }
    }
    result.secrets = report::Secrets(secrets.clone());
    let out_dir = config.report_dir.join(&scenario.metadata.name);
    diagnostics::clear_previous(&out_dir);
    let ctx = Ctx {
        cluster,
        kinds,
        scenario,
        namespace: namespace.clone(),
        vars,
        out_dir,
        datasets: std::collections::BTreeMap::new(),
        secrets,
    };
    let progress = config.progress;
    let console_secrets = ctx.secrets.clone();
    let print = move |step: &StepReport| {
        if progress {
            let row = report_table::step_row(step);
            crate::console::out!("{}", report::redact(&row, &console_secrets));
        }
    };
    let mut executor = Executor {
        ctx,
        reports: Vec::new(),
        diagnostics: None,
        on_step: &print,
    };
    let ok = executor.run_steps(&scenario.spec.steps, "").await;
    result.steps = executor.reports;
    result.diagnostics = executor.diagnostics;
    result.namespace = namespace.clone();
    result.outcome = if ok { Outcome::Pass } else { Outcome::Fail };
    result.cleanup = Some(
        namespace::cleanup(
            cluster,
            scenario,
            &namespace,
            created,
            config.keep_namespaces,
        )
        .await,
    );
    // After the cleanup: jobs in the namespace are cancelled before their
    // Kafka and Redis go, and their tasks have ended (unless the namespace
    // was kept, and its jobs with it).
    if let Some(running) = running_infra {
        let deleted = result
            .cleanup
            .as_ref()
            .is_some_and(|c| c.result == "deleted");
        if deleted && !cluster.jobs_settled(JOBS_SETTLE_TIMEOUT).await {
            tracing::warn!("pipeline jobs still running after their namespace was deleted");
        }
        infra::stop(running).await;
    }
    result.durations = Elapsed {
        real: started_real.elapsed(),
        cluster: cluster.clock.now().since(started_cluster),
    };
    result
}

/// The report of a scenario whose infrastructure or namespace could not be set up.
fn setup_failed(mut result: ScenarioReport, message: String, config: &RunConfig) -> ScenarioReport {
    result.outcome = Outcome::Fail;
    for step in &mut result.steps {
        step.skip_reason = Some("the scenario could not be set up".to_owned());
    }
    if config.progress {
        crate::console::outln!("  setup failed: {message}");
    }
    result.setup_error = Some(message);
    result
}

/// A report for a scenario that did not run: every step skipped.
fn skipped(scenario: &Scenario, reason: &str) -> ScenarioReport {
    let mut steps = Vec::new();
    execute::skip_steps(&scenario.spec.steps, "", reason, &mut steps);
    ScenarioReport {
        name: scenario.metadata.name.clone(),
        file: scenario.file.clone(),
        description: scenario.metadata.description.clone(),
        labels: scenario.metadata.labels.clone(),
        namespace: String::new(),
        outcome: Outcome::Skip,
        durations: Elapsed::default(),
        steps,
        setup_error: None,
        diagnostics: None,
        cleanup: None,
        infra: Vec::new(),
        secrets: report::Secrets::default(),
    }
}

/// Paths of the written reports.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    /// `junit.xml`.
    pub junit: PathBuf,
    /// `report.json`.
    pub json: PathBuf,
    /// `summary.md`.
    pub markdown: PathBuf,
}

/// Writes `junit.xml`, `report.json` and `summary.md` into `dir`, with every
/// string in `secrets`, and every credential of the scenarios' infrastructure,
/// redacted.
pub fn write_reports(
    report: &RunReport,
    dir: &Path,
    secrets: &[String],
) -> std::io::Result<ReportPaths> {
    let paths = ReportPaths {
        junit: dir.join("junit.xml"),
        json: dir.join("report.json"),
        markdown: dir.join("summary.md"),
    };
    let mut secrets = secrets.to_vec();
    secrets.extend(
        report
            .scenarios
            .iter()
            .flat_map(|s| s.secrets.0.iter().cloned()),
    );
    let secrets = secrets.as_slice();
    report::write_redacted(&paths.junit, &report_junit::render(report), secrets)?;
    report::write_redacted(&paths.json, &report_json::render(report), secrets)?;
    report::write_redacted(&paths.markdown, &report_markdown::render(report), secrets)?;
    Ok(paths)
}
