//! `summary.md`: the run for people (a CI job summary or a PR comment): a
//! table of scenarios, a table of steps per scenario, and each failure with
//! its deadline and diff.

use std::fmt::Write as _;

use super::report::{Outcome, RunReport, ScenarioReport};
use crate::scenario::duration::format_measured;

/// Renders the report as Markdown.
pub fn render(report: &RunReport) -> String {
    let mut out = String::from("# harness e2e\n\n");
    let totals = &report.totals;
    let backend = &report.backend;
    let time = if backend.virtual_time {
        format!("virtual time at {}x", backend.speed)
    } else {
        "real time".to_owned()
    };
    let _ = writeln!(
        out,
        "**{}**: {} of {} scenarios passed, {} steps ({} passed, {} failed, {} skipped). Backend `{}` ({}{}). Real {}, cluster {}.\n",
        report.outcome.as_str().to_uppercase(),
        totals.scenarios_passed,
        totals.scenarios,
        totals.steps,
        totals.steps_passed,
        totals.steps_failed,
        totals.steps_skipped,
        backend.backend,
        backend
            .kubernetes_version
            .as_deref()
            .map(|v| format!("Kubernetes {v}, "))
            .unwrap_or_default(),
        time,
        format_measured(report.durations.real),
        format_measured(report.durations.cluster),
    );
    out.push_str("| Scenario | Result | Steps | Real | Cluster |\n|---|---|---|---|---|\n");
    for scenario in &report.scenarios {
        let passed = scenario.steps_with(Outcome::Pass);
        let _ = writeln!(
            out,
            "| {} | {} | {passed}/{} | {} | {} |",
            cell(&scenario.name),
            badge(scenario.outcome),
            scenario.steps.len(),
            format_measured(scenario.durations.real),
            format_measured(scenario.durations.cluster)
        );
    }
    for scenario in &report.scenarios {
        section(&mut out, scenario);
    }
    out
}

fn section(out: &mut String, scenario: &ScenarioReport) {
    let _ = writeln!(
        out,
        "\n## {} ({})\n",
        scenario.name,
        badge(scenario.outcome)
    );
    if let Some(description) = &scenario.description {
        let _ = writeln!(out, "{}\n", description.trim());
    }
    let _ = writeln!(
        out,
        "File `{}`, namespace `{}`.\n",
        scenario.file.display(),
        scenario.namespace
    );
    if let Some(error) = &scenario.setup_error {
        let _ = writeln!(out, "Setup failed: {}\n", cell(error));
    }
    out.push_str("| # | Step | Result | Real | Cluster |\n|---|---|---|---|---|\n");
    for step in &scenario.steps {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            step.id,
            cell(&step.name),
            badge(step.outcome),
            format_measured(step.durations.real),
            format_measured(step.durations.cluster)
        );
    }
    for step in scenario.steps.iter().filter(|s| s.failure.is_some()) {
        let Some(failure) = &step.failure else {
            continue;
        };
        let _ = writeln!(
            out,
            "\n### Step {}: {}\n\n{}\n",
            step.id,
            cell(&step.name),
            failure.message
        );
        if !failure.diff.is_empty() || failure.output.is_some() {
            out.push_str("```\n");
            for line in &failure.diff {
                let _ = writeln!(out, "{}", line.replace("```", "'''"));
            }
            if let Some(output) = &failure.output {
                let _ = writeln!(out, "{}", output.replace("```", "'''"));
            }
            out.push_str("```\n");
        }
    }
    if let Some(dir) = &scenario.diagnostics {
        let _ = writeln!(out, "\nDiagnostics: `{}`", dir.display());
    }
}

fn badge(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "**FAIL**",
        Outcome::Skip => "skip",
    }
}

/// Keeps a value inside one table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
