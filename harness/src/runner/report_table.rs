//! The per-step table printed to stdout as a run progresses: aligned
//! columns, real and cluster durations, failures with their diff right under
//! the failing row.

use super::report::{Outcome, RunReport, ScenarioReport, StepReport};
use crate::{
    cluster::BackendInfo,
    scenario::{Scenario, duration::format_measured},
};

const ID_WIDTH: usize = 12;
const NAME_WIDTH: usize = 58;

/// `cluster: sim at http://... (Kubernetes v1.33.0; virtual time at 100x)`.
pub fn backend_line(info: &BackendInfo) -> String {
    let version = info
        .kubernetes_version
        .as_deref()
        .map(|v| format!("Kubernetes {v}; "))
        .unwrap_or_default();
    let time = if info.virtual_time {
        format!("virtual time at {}x", info.speed)
    } else {
        "real time".to_owned()
    };
    format!(
        "cluster: {} at {} ({version}{time})",
        info.backend, info.server
    )
}

/// The scenario's title and the column headings.
pub fn scenario_header(scenario: &Scenario) -> String {
    format!(
        "\nscenario {} ({})\n  {:<ID_WIDTH$} {:<NAME_WIDTH$} {:<6} {:>8} {:>8}",
        scenario.metadata.name,
        scenario.file.display(),
        "#",
        "step",
        "result",
        "real",
        "cluster"
    )
}

/// One step's row, followed by its failure or skip reason.
pub fn step_row(step: &StepReport) -> String {
    let name = fit(&step.name, NAME_WIDTH);
    let (real, cluster) = match step.outcome {
        Outcome::Skip => ("-".to_owned(), "-".to_owned()),
        _ => (
            format_measured(step.durations.real),
            format_measured(step.durations.cluster),
        ),
    };
    let mut out = format!(
        "  {:<ID_WIDTH$} {name:<NAME_WIDTH$} {:<6} {real:>8} {cluster:>8}\n",
        step.id,
        step.outcome.as_str()
    );
    if let Some(failure) = &step.failure {
        out.push_str(&format!("      {}\n", failure.message));
        for line in &failure.diff {
            out.push_str(&format!("        {line}\n"));
        }
        if let Some(output) = &failure.output {
            for line in output.lines().take(20) {
                out.push_str(&format!("        | {line}\n"));
            }
        }
    }
    if let Some(reason) = step
        .skip_reason
        .as_deref()
        .filter(|r| r.contains("backend"))
    {
        out.push_str(&format!("      skipped: {reason}\n"));
    }
    out
}

/// Truncates to `width` characters with a trailing `...`.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        format!("{}...", text.chars().take(width - 3).collect::<String>())
    }
}

/// The scenario's result line, diagnostics location and cleanup warnings.
pub fn scenario_footer(scenario: &ScenarioReport) -> String {
    let mut out = format!(
        "  => {} ({}: {} passed, {} failed, {} skipped; real {}, cluster {})\n",
        scenario.outcome.as_str(),
        counted(scenario.steps.len(), "step"),
        scenario.steps_with(Outcome::Pass),
        scenario.steps_with(Outcome::Fail),
        scenario.steps_with(Outcome::Skip),
        format_measured(scenario.durations.real),
        format_measured(scenario.durations.cluster),
    );
    if let Some(error) = &scenario.setup_error {
        out.push_str(&format!("  setup failed: {error}\n"));
    }
    if let Some(dir) = &scenario.diagnostics {
        out.push_str(&format!("  diagnostics: {}\n", dir.display()));
    }
    if let Some(cleanup) = scenario.cleanup.as_ref().filter(|c| c.result == "leaked") {
        out.push_str(&format!(
            "  warning: namespace {} leaked: {}\n",
            cleanup.namespace,
            cleanup.message.as_deref().unwrap_or("")
        ));
    }
    out
}

/// `1 step`, `2 steps`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The run's result line.
pub fn run_footer(report: &RunReport) -> String {
    let totals = &report.totals;
    format!(
        "\n{}: {} ({} passed, {} failed, {} skipped), {} ({} passed, {} failed, {} skipped); real {}, cluster {}\n",
        report.outcome.as_str().to_uppercase(),
        counted(totals.scenarios, "scenario"),
        totals.scenarios_passed,
        totals.scenarios_failed,
        totals.scenarios_skipped,
        counted(totals.steps, "step"),
        totals.steps_passed,
        totals.steps_failed,
        totals.steps_skipped,
        format_measured(report.durations.real),
        format_measured(report.durations.cluster),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::runner::report::{Elapsed, Failure};

    #[test]
    fn rows_align_and_failures_follow_their_row() {
        let step = StepReport {
            id: "3".into(),
            name: "assert FlinkDeployment/flink-realtime-features".into(),
            verb: "assert",
            outcome: Outcome::Fail,
            durations: Elapsed {
                real: Duration::from_millis(3010),
                cluster: Duration::from_secs(300),
            },
            failure: Some(
                Failure::new("assert timed out after 5m")
                    .with_diff(vec!["status.x: expected 1, got 2".into()]),
            ),
            skip_reason: None,
            notes: Vec::new(),
        };
        let row = step_row(&step);
        let lines: Vec<&str> = row.lines().collect();
        assert_eq!(lines.len(), 3);
        let first = lines[0];
        assert!(first.starts_with("  3 "));
        // Columns: 2 + id + 1 + name + 1, then the result.
        assert_eq!(&first[2 + ID_WIDTH + 1 + NAME_WIDTH + 1..][..4], "fail");
        assert!(first.ends_with("  3.01s    5m00s"), "{first:?}");
        assert_eq!(lines[1], "      assert timed out after 5m");
        assert_eq!(lines[2], "        status.x: expected 1, got 2");
    }

    #[test]
    fn long_names_are_cut() {
        assert_eq!(fit("abcdef", 5), "ab...");
        assert_eq!(fit("abc", 5), "abc");
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(counted(1, "step"), "1 step");
        assert_eq!(counted(0, "scenario"), "0 scenarios");
        assert_eq!(counted(45, "step"), "45 steps");
    }
}
