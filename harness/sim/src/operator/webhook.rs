//! The operator's validating admission webhook,
//! `validationwebhook.flink.apache.org`: CREATE and UPDATE of
//! FlinkDeployments go through [`validate_deployment`], the same validator the
//! reconcile loop runs. On UPDATE the stored status (and so the last
//! reconciled spec) comes from the object being replaced, as the real webhook
//! reads it from the object the API server sends.
//!
//! Fidelity: FlinkSessionJob and FlinkStateSnapshot validation is not
//! modelled (the webhook admits them), and the mutating webhook
//! (`mutationwebhook.flink.apache.org`) is not installed.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    cluster::{Operation, ValidatingWebhook},
    operator::{
        GROUP, spec::FlinkDeploymentSpec, status::FlinkDeploymentStatus,
        validate::validate_deployment,
    },
    resource::ResourceType,
    store::Store,
};

/// The webhook name the API server reports in denials.
pub const WEBHOOK_NAME: &str = "validationwebhook.flink.apache.org";

/// Validates FlinkDeployments on admission.
#[derive(Debug, Clone)]
pub struct FlinkValidationWebhook {
    default_flink_config: BTreeMap<String, String>,
}

impl FlinkValidationWebhook {
    /// A webhook validating against the operator's default Flink configuration.
    pub fn new(default_flink_config: BTreeMap<String, String>) -> FlinkValidationWebhook {
        FlinkValidationWebhook {
            default_flink_config,
        }
    }
}

impl ValidatingWebhook for FlinkValidationWebhook {
    fn name(&self) -> &str {
        WEBHOOK_NAME
    }

    fn applies_to(&self, rt: &ResourceType) -> bool {
        rt.group == GROUP && rt.plural == "flinkdeployments"
    }

    fn validate(
        &self,
        op: Operation,
        new: &Value,
        old: Option<&Value>,
        _store: &Store,
    ) -> Result<(), String> {
        let spec = FlinkDeploymentSpec::from_value(&new["spec"])?;
        let status_source = match (op, old) {
            (Operation::Update, Some(old)) => &old["status"],
            _ => &new["status"],
        };
        let status: FlinkDeploymentStatus =
            serde_json::from_value(status_source.clone()).unwrap_or_default();
        let name = match new["metadata"]["name"].as_str() {
            Some(name) => name.to_string(),
            // Admission sees the generated name; a placeholder suffix stands in.
            None => format!(
                "{}x",
                new["metadata"]["generateName"].as_str().unwrap_or_default()
            ),
        };
        validate_deployment(&name, &spec, &status, &self.default_flink_config)
    }
}
