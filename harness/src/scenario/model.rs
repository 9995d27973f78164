//! The scenario document: `apiVersion`, `kind`, `metadata` and `spec`.
//!
//! Types here mirror the YAML one to one and reject unknown fields, so a typo
//! is an error with a position instead of a silently ignored setting (the
//! top complaint about kuttl). Steps and verbs live in [`super::step`] and
//! [`super::verbs`].

use std::{collections::BTreeMap, fmt, path::PathBuf, time::Duration as StdDuration};

use serde::{
    Deserialize,
    de::{self, Deserializer, Visitor},
};
use serde_json::Value;

use super::{duration::Duration, step::Step};

/// The only `apiVersion` this engine reads.
pub const API_VERSION: &str = "harness.flink.dev/v1alpha1";
/// The only `kind` this engine reads.
pub const KIND: &str = "Scenario";

/// A validated scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file it was read from, as given on the command line.
    pub file: PathBuf,
    /// The directory `file:` references and `exec` working directories are
    /// relative to.
    pub dir: PathBuf,
    /// Name, description and labels.
    pub metadata: Metadata,
    /// What to run.
    pub spec: Spec,
}

/// The document as written; [`super::validate`] turns it into a [`Scenario`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Document {
    #[allow(dead_code, reason = "checked while parsing; there is only one version")]
    pub(crate) api_version: ApiVersion,
    #[allow(dead_code, reason = "checked while parsing; there is only one kind")]
    pub(crate) kind: ScenarioKind,
    pub(crate) metadata: Metadata,
    pub(crate) spec: Spec,
}

/// `metadata` of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// A DNS-1123 label: it names the report directory and, unless
    /// `spec.namespace` is set, the namespace the scenario runs in.
    pub name: String,
    /// One or two sentences for reports.
    #[serde(default)]
    pub description: Option<String>,
    /// Free-form labels, reported as JUnit properties.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `spec` of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Run in this namespace instead of a fresh one. It is created if missing
    /// and only deleted afterwards if the run created it.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Variables for `${vars.NAME}`.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// Kafka and Redis for the feature pipeline, started before the first
    /// step and stopped after the last (`${infra.*}` variables point at them).
    #[serde(default)]
    pub infra: Option<harness_infra::InfraSpec>,
    /// Per-verb default timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// The steps, run in order.
    pub steps: Vec<Step>,
}

/// Default deadlines per verb; a step's own `timeout` wins.
///
/// All are in **cluster time** (virtual time on the simulator, converted to
/// real time through its speed factor), except `exec`, `produce` and
/// `verify`, which bound work on the machine running the harness (a host
/// process; real Kafka and Redis) and are therefore real time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Until an `apply` is accepted (retries cover CRDs not yet established).
    pub apply: Option<Duration>,
    /// Until a `patch` is accepted.
    pub patch: Option<Duration>,
    /// Until a deleted object is gone.
    pub delete: Option<Duration>,
    /// Until an `assert` holds (`eventually`).
    pub assert: Option<Duration>,
    /// Until an `error` state is absent (`eventually`).
    pub error: Option<Duration>,
    /// Until a `wait` condition holds.
    pub wait: Option<Duration>,
    /// Real time a host command may run.
    pub exec: Option<Duration>,
    /// Real time until every produced record is acknowledged.
    pub produce: Option<Duration>,
    /// Real time until Redis matches the oracle.
    pub verify: Option<Duration>,
    /// Until the scenario's namespace is gone after the run.
    pub cleanup: Option<Duration>,
}

/// The deadline kinds, for defaults and for naming the one that expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeoutKind {
    /// See [`Timeouts::apply`].
    Apply,
    /// See [`Timeouts::patch`].
    Patch,
    /// See [`Timeouts::delete`].
    Delete,
    /// See [`Timeouts::assert`].
    Assert,
    /// See [`Timeouts::error`].
    Error,
    /// See [`Timeouts::wait`].
    Wait,
    /// See [`Timeouts::exec`].
    Exec,
    /// See [`Timeouts::produce`].
    Produce,
    /// See [`Timeouts::verify`].
    Verify,
    /// See [`Timeouts::cleanup`].
    Cleanup,
}

impl TimeoutKind {
    /// The built-in default. Generous in cluster time because on the
    /// simulator a minute costs well under a second.
    pub fn default_duration(self) -> StdDuration {
        let secs = match self {
            TimeoutKind::Apply | TimeoutKind::Patch => 30,
            TimeoutKind::Delete | TimeoutKind::Assert | TimeoutKind::Error | TimeoutKind::Wait => {
                120
            }
            TimeoutKind::Exec | TimeoutKind::Produce | TimeoutKind::Verify => 60,
            TimeoutKind::Cleanup => 120,
        };
        StdDuration::from_secs(secs)
    }

    /// Whether the deadline is measured in real time rather than cluster time.
    pub fn is_real_time(self) -> bool {
        matches!(
            self,
            TimeoutKind::Exec | TimeoutKind::Produce | TimeoutKind::Verify
        )
    }

    /// The verb's name, as in `timeouts.<name>`.
    pub fn name(self) -> &'static str {
        match self {
            TimeoutKind::Apply => "apply",
            TimeoutKind::Patch => "patch",
            TimeoutKind::Delete => "delete",
            TimeoutKind::Assert => "assert",
            TimeoutKind::Error => "error",
            TimeoutKind::Wait => "wait",
            TimeoutKind::Exec => "exec",
            TimeoutKind::Produce => "produce",
            TimeoutKind::Verify => "verify",
            TimeoutKind::Cleanup => "cleanup",
        }
    }
}

impl Timeouts {
    /// The scenario's deadline for `kind`, falling back to the default.
    pub fn get(&self, kind: TimeoutKind) -> StdDuration {
        let set = match kind {
            TimeoutKind::Apply => self.apply,
            TimeoutKind::Patch => self.patch,
            TimeoutKind::Delete => self.delete,
            TimeoutKind::Assert => self.assert,
            TimeoutKind::Error => self.error,
            TimeoutKind::Wait => self.wait,
            TimeoutKind::Exec => self.exec,
            TimeoutKind::Produce => self.produce,
            TimeoutKind::Verify => self.verify,
            TimeoutKind::Cleanup => self.cleanup,
        };
        set.map_or_else(|| kind.default_duration(), Duration::std)
    }
}

/// A string field that must equal one constant; checked while parsing so the
/// error carries the value's position.
macro_rules! constant_field {
    ($name:ident, $value:expr, $what:literal) => {
        #[derive(Debug, Clone)]
        pub(crate) struct $name;

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ConstantVisitor;
                impl Visitor<'_> for ConstantVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{:?}", $value)
                    }
                    fn visit_str<E: de::Error>(self, found: &str) -> Result<$name, E> {
                        if found == $value {
                            Ok($name)
                        } else {
                            Err(E::custom(format!(
                                concat!("unsupported ", $what, " {:?}, expected {:?}"),
                                found, $value
                            )))
                        }
                    }
                }
                deserializer.deserialize_str(ConstantVisitor)
            }
        }
    };
}

constant_field!(ApiVersion, API_VERSION, "apiVersion");
constant_field!(ScenarioKind, KIND, "kind");
