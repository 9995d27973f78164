//! What a running scenario's steps share: the cluster, the kind cache, the
//! namespace, the variables (declared ones, captures of earlier steps and
//! `${infra.*}`), the datasets produced so far, and the secrets to redact.

use std::{collections::BTreeMap, path::PathBuf};

use serde_json::Value;

use super::{datasets::Dataset, report::Failure};
use crate::{
    cluster::{Cluster, ClusterClock, Kinds},
    scenario::{Scenario, template::Vars},
};

/// The state of one scenario run.
pub(crate) struct Ctx<'a> {
    /// The backend.
    pub(crate) cluster: &'a Cluster,
    /// Resolved kinds, shared by every scenario of the run.
    pub(crate) kinds: &'a Kinds,
    /// The scenario.
    pub(crate) scenario: &'a Scenario,
    /// Where objects without a namespace go.
    pub(crate) namespace: String,
    /// `${namespace}` and `${vars.*}`.
    pub(crate) vars: Vars,
    /// `<report dir>/<scenario name>`.
    pub(crate) out_dir: PathBuf,
    /// What `produce` steps sent, by dataset name.
    pub(crate) datasets: BTreeMap<String, Dataset>,
    /// The cluster's credentials plus the infrastructure's, redacted from
    /// everything written.
    pub(crate) secrets: Vec<String>,
}

impl Ctx<'_> {
    /// The cluster's clock.
    pub(crate) fn clock(&self) -> &ClusterClock {
        &self.cluster.clock
    }

    /// Expands `${...}` in a string.
    pub(crate) fn expand(&self, text: &str) -> Result<String, Failure> {
        self.vars
            .expand_str(text)
            .map_err(|err| Failure::new(err.to_string()))
    }

    /// An `${infra.*}` variable, for a verb field that defaults to it.
    pub(crate) fn infra_var(&self, name: &str) -> Result<String, Failure> {
        self.vars
            .infra(name)
            .map(str::to_owned)
            .ok_or_else(|| Failure::new(format!("no {name}: the scenario declares no spec.infra")))
    }

    /// Expands `${...}` in every string of a value.
    pub(crate) fn expand_value(&self, value: &Value) -> Result<Value, Failure> {
        self.vars
            .expand_value(value)
            .map_err(|err| Failure::new(err.to_string()))
    }
}
