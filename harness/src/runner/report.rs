//! What a run produced, as data: per-step outcomes with real and cluster
//! durations, failures with the deadline that expired and a path-precise
//! diff. The writers (`report_json`, `report_junit`, `report_markdown`,
//! `report_table`) only render this model, so they cannot disagree.

use std::{path::PathBuf, time::Duration};

use serde::Serialize;

use crate::{cluster::BackendInfo, scenario::TimeoutKind};

/// Version tag of `report.json`; bump it when the shape changes.
pub const SCHEMA_VERSION: &str = "harness.flink.dev/report/v1";

/// Pass, fail or skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It ran and held.
    Pass,
    /// It ran and did not hold, or could not run.
    Fail,
    /// It did not run (an earlier step failed, or the backend cannot do it).
    Skip,
}

impl Outcome {
    /// `pass`, `fail` or `skip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
        }
    }
}

/// A duration measured both ways.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Elapsed {
    /// Wall-clock time on the machine running the harness.
    pub real: Duration,
    /// Cluster time (virtual on the simulator).
    pub cluster: Duration,
}

impl Serialize for Elapsed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Elapsed", 2)?;
        s.serialize_field("realMs", &(self.real.as_millis() as u64))?;
        s.serialize_field("clusterMs", &(self.cluster.as_millis() as u64))?;
        s.end()
    }
}

/// The deadline that expired.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredDeadline {
    /// Which timeout (`assert`, `apply`, ...), or `None` for a
    /// `consistently` window.
    pub kind: Option<TimeoutKind>,
    /// Its length as configured, e.g. `5m`.
    pub timeout: String,
    /// Its length in milliseconds of the clock it is measured on.
    pub timeout_ms: u64,
    /// `cluster` or `real`.
    pub clock: &'static str,
    /// The real time it took to expire, in milliseconds.
    pub real_ms: u64,
}

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// One line, e.g. `assert timed out after 5m (cluster time; 3.00s real)`.
    pub message: String,
    /// Set when a deadline expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Box<ExpiredDeadline>>,
    /// Expected-versus-actual lines, each naming a field path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<String>,
    /// Process output (exec), trimmed to its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl Failure {
    /// A failure with just a message.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            deadline: None,
            diff: Vec::new(),
            output: None,
        }
    }

    /// The same failure with diff lines.
    pub fn with_diff(mut self, diff: Vec<String>) -> Failure {
        self.diff = diff;
        self
    }
}

/// One step's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    /// Position: `3` at top level, `4.try.2` inside a block.
    pub id: String,
    /// The step's name, or a summary of its verb.
    pub name: String,
    /// The verb.
    pub verb: &'static str,
    /// Pass, fail or skip.
    pub outcome: Outcome,
    /// How long it took.
    pub durations: Elapsed,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// What it observed or recorded (captured variables, expected rejections).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What happened to the scenario's namespace afterwards.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cleanup {
    /// The namespace.
    pub namespace: String,
    /// `deleted`, `kept` (by request or because it existed before), or
    /// `leaked` (deletion did not finish before the cleanup deadline).
    pub result: &'static str,
    /// Details when it did not go as planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioReport {
    /// `metadata.name`.
    pub name: String,
    /// The scenario file.
    pub file: PathBuf,
    /// `metadata.description`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `metadata.labels`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The namespace it ran in.
    pub namespace: String,
    /// Fail if any step failed or setup failed.
    pub outcome: Outcome,
    /// Total time.
    pub durations: Elapsed,
    /// Every step, including skipped ones, in order.
    pub steps: Vec<StepReport>,
    /// A failure before any step could run (e.g. the namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_error: Option<String>,
    /// Where the diagnostics bundle was written, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<PathBuf>,
    /// The namespace's fate; `None` if the scenario never ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<Cleanup>,
    /// The scenario's Kafka and Redis (`spec.infra`), addresses without passwords.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub infra: Vec<harness_infra::Endpoint>,
    /// Credentials this scenario used, for the report writers to redact;
    /// never serialized.
    #[serde(skip)]
    pub secrets: Secrets,
}

/// Credentials to redact. `Debug` shows only how many there are, so a
/// `{:?}` of a report cannot print them.
#[derive(Clone, Default)]
pub struct Secrets(pub Vec<String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

/// Counts over a run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Scenarios run (or skipped by `--fail-fast`).
    pub scenarios: usize,
    /// Scenarios that passed.
    pub scenarios_passed: usize,
    /// Scenarios that failed.
    pub scenarios_failed: usize,
    /// Scenarios not run.
    pub scenarios_skipped: usize,
    /// Steps in all scenarios.
    pub steps: usize,
    /// Steps that passed.
    pub steps_passed: usize,
    /// Steps that failed.
    pub steps_failed: usize,
    /// Steps skipped.
    pub steps_skipped: usize,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: &'static str,
    /// Versions of the tools involved.
    pub versions: Versions,
    /// Wall-clock start, RFC 3339 UTC.
    pub started_at: String,
    /// The backend (never credentials).
    pub backend: BackendInfo,
    /// Pass if every scenario passed.
    pub outcome: Outcome,
    /// Counts.
    pub totals: Totals,
    /// Total time.
    pub durations: Elapsed,
    /// Each scenario.
    pub scenarios: Vec<ScenarioReport>,
}

/// Versions recorded in reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Versions {
    /// This harness.
    pub harness: &'static str,
    /// The scenario format read.
    pub scenario_api: &'static str,
    /// The cluster's `gitVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<String>,
}

impl ScenarioReport {
    /// How many of its steps ended with `outcome`; the report writers'
    /// per-scenario counts.
    pub fn steps_with(&self, outcome: Outcome) -> usize {
        self.steps.iter().filter(|s| s.outcome == outcome).count()
    }
}

impl RunReport {
    /// Recomputes `totals` and `outcome` from the scenarios.
    pub fn finish(&mut self) {
        let mut totals = Totals {
            scenarios: self.scenarios.len(),
            ..Totals::default()
        };
        for scenario in &self.scenarios {
            match scenario.outcome {
                Outcome::Pass => totals.scenarios_passed += 1,
                Outcome::Fail => totals.scenarios_failed += 1,
                Outcome::Skip => totals.scenarios_skipped += 1,
            }
            for step in &scenario.steps {
                totals.steps += 1;
                match step.outcome {
                    Outcome::Pass => totals.steps_passed += 1,
                    Outcome::Fail => totals.steps_failed += 1,
                    Outcome::Skip => totals.steps_skipped += 1,
                }
            }
        }
        self.outcome = if totals.scenarios_failed > 0 {
            Outcome::Fail
        } else {
            Outcome::Pass
        };
        self.totals = totals;
    }
}

/// Replaces every secret in `text`, and every JWT (a service-account token
/// from `kubectl create token`, on a real cluster or the simulator), with
/// `<redacted>`, and the password of any URL (one written into a manifest or
/// a step rather than taken from `${infra.redis.url}`) with `***`. Every
/// report writer calls this last, so a credential that slipped into an error
/// message, an object dump or a command's output still never reaches a file.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "<redacted>");
        }
    }
    harness_infra::redis::redact(&redact_jwts(&out))
}

/// Replaces each `eyJ…​.…​.…` (three base64url segments, the first a JSON
/// header) with `<redacted>`.
fn redact_jwts(text: &str) -> String {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("eyJ") {
        // A token inside a word is not one, but the `n` of an escaped `\n`
        // (a JSON report of a command's output) is not part of a word.
        let before = &rest[..start];
        let escaped = ["\\n", "\\t", "\\r"].iter().any(|e| before.ends_with(e));
        let preceded = !escaped && before.chars().next_back().is_some_and(is_b64);
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| !(is_b64(c) || c == '.'))
            .unwrap_or(candidate.len());
        // A full stop after the token ends a sentence, not a segment.
        let token = candidate[..end].trim_end_matches('.');
        let end = token.len();
        let segments: Vec<&str> = token.split('.').collect();
        let jwt = !preceded && segments.len() == 3 && segments.iter().all(|s| !s.is_empty());
        out.push_str(&rest[..start]);
        out.push_str(if jwt { "<redacted>" } else { token });
        // At least "eyJ" is consumed, so the loop always advances.
        rest = &candidate[end..];
    }
    out.push_str(rest);
    out
}

/// Writes a report file, redacted, creating its directory.
pub fn write_redacted(
    path: &std::path::Path,
    text: &str,
    secrets: &[String],
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, redact(text, secrets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_every_occurrence() {
        let secrets = vec!["s3cr3t-token-value".to_owned()];
        assert_eq!(
            redact("a s3cr3t-token-value b s3cr3t-token-value", &secrets),
            "a <redacted> b <redacted>"
        );
        assert_eq!(redact("nothing here", &secrets), "nothing here");
    }

    #[test]
    fn redaction_removes_jwts_it_was_not_told_about() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl-_x";
        assert_eq!(
            redact(&format!("token: {jwt}\nBearer {jwt}."), &[]),
            "token: <redacted>\nBearer <redacted>."
        );
        // As report.json escapes a command's output.
        assert_eq!(
            redact(&format!(r#""output": "token:\n{jwt}\n""#), &[]),
            r#""output": "token:\n<redacted>\n""#
        );
        // Base64 JSON that is not a token, and a word that merely contains eyJ.
        for kept in ["eyJhbGciOiJIUzI1NiJ9", "a.eyJx.y", "keyJam.b.c", "eyJ..x"] {
            assert_eq!(redact(kept, &[]), kept);
        }
    }

    #[test]
    fn redaction_removes_url_passwords_it_was_not_told_about() {
        assert_eq!(
            redact(
                "pipeline.redis.url: redis://:hunter2@10.0.0.7:6379/0\n",
                &[]
            ),
            "pipeline.redis.url: redis://:***@10.0.0.7:6379/0\n"
        );
    }
}
