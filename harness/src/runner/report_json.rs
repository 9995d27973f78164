//! `report.json`: the run as versioned JSON (`schemaVersion:
//! harness.flink.dev/report/v1`), for tools. Durations are milliseconds,
//! both real (`realMs`) and cluster time (`clusterMs`).

use super::report::RunReport;

/// Renders the report as pretty-printed JSON.
pub fn render(report: &RunReport) -> String {
    // The report holds only strings, numbers and maps with string keys.
    let mut text = serde_json::to_string_pretty(report)
        .unwrap_or_else(|err| format!("{{\"error\": \"{err}\"}}"));
    text.push('\n');
    text
}
