//! Validation of `spec.infra` and of the pipeline verbs `produce` and
//! `verify`: what serde cannot see (one of two sources, datasets produced
//! before they are verified, generator knobs in range, files that exist,
//! settings that would make the expected output ill-defined).

use std::collections::BTreeSet;

use harness_infra::InfraSpec;
use harness_pipeline::Generator;

use super::{Checker, normalize};
use crate::scenario::{
    path::FieldPath,
    pipeline_verbs::{Produce, Verify},
    template, yaml,
};

impl Checker<'_> {
    /// Topic names and partition counts.
    pub(super) fn infra_spec(&mut self, path: &FieldPath, infra: &InfraSpec) {
        let mut names = BTreeSet::new();
        for (index, topic) in infra.topics.iter().enumerate() {
            let at = path.key("topics").index(index);
            if topic.name.trim().is_empty() {
                self.error(&at.key("name"), "the topic name is empty");
            } else if !names.insert(topic.name.as_str()) {
                self.error(
                    &at.key("name"),
                    format!("topic {:?} is listed twice", topic.name),
                );
            }
            if topic.partitions < 1 {
                self.error(
                    &at.key("partitions"),
                    format!(
                        "a topic needs at least one partition, got {}",
                        topic.partitions
                    ),
                );
            }
        }
    }

    pub(super) fn produce(&mut self, path: &FieldPath, produce: &Produce) {
        self.template(&path.key("topic"), &produce.topic);
        self.endpoint(
            path,
            "bootstrapServers",
            produce.bootstrap_servers.as_deref(),
        );
        if !template::is_var_name(&produce.dataset) {
            self.error(
                &path.key("dataset"),
                format!(
                    "invalid dataset name {:?}: use letters, digits, \"_\" and \"-\"",
                    produce.dataset
                ),
            );
        }
        match (&produce.generate, &produce.file) {
            (Some(generate), None) => {
                let at = path.key("generate");
                if generate.count == 0 {
                    self.error(&at.key("count"), "count must be at least 1");
                }
                let config = generate.config();
                if let Err(err) = Generator::new(config.clone()) {
                    self.error(&at, err.to_string());
                }
                let partitions = self
                    .infra
                    .as_ref()
                    .and_then(|infra| infra.topics.iter().find(|t| t.name == produce.topic))
                    .map(|t| t.partitions);
                if config.late_ratio > 0.0 && partitions.is_some_and(|p| p > 1) {
                    self.error(
                        &at.key("lateRatio"),
                        format!(
                            "late events into {:?}, which has several partitions: whether an event is late then depends on how the \
                             job interleaves partitions, so no oracle can say what Redis must hold; use one partition or lateRatio: 0",
                            produce.topic
                        ),
                    );
                }
            }
            (None, Some(file)) => self.input_file(&path.key("file"), file),
            _ => self.error(path, "needs exactly one of \"generate\" or \"file\""),
        }
        self.datasets.insert(produce.dataset.clone());
    }

    pub(super) fn verify(&mut self, path: &FieldPath, verify: &Verify) {
        match (verify.datasets.is_empty(), &verify.file) {
            (false, None) => {
                for (index, name) in verify.datasets.iter().enumerate() {
                    if !self.datasets.contains(name) {
                        let known: Vec<String> = self.datasets.iter().cloned().collect();
                        let hint = yaml::closest(name, &known)
                            .map(|s| format!(" (did you mean \"{s}\"?)"))
                            .unwrap_or_default();
                        self.error(
                            &path.key("datasets").index(index),
                            format!("dataset {name:?} is not produced by an earlier step{hint}"),
                        );
                    }
                }
            }
            (true, Some(file)) => {
                self.input_file(&path.key("file"), file);
                for (field, set) in [
                    ("consumerGroup", verify.consumer_group.is_some()),
                    ("deadLetters", verify.dead_letters.is_some()),
                ] {
                    if set {
                        self.error(&path.key(field), format!("\"{field}\" needs \"datasets\": it compares with the offsets they were produced at"));
                    }
                }
            }
            _ => self.error(path, "needs exactly one of \"datasets\" or \"file\""),
        }
        self.endpoint(path, "redisUrl", verify.redis_url.as_deref());
        if !verify.drained && verify.consumer_group.is_none() {
            self.error(
                &path.key("drained"),
                "\"drained: false\" needs \"consumerGroup\": without it Redis can match before the job has read the last records",
            );
        }
        if let Some(group) = &verify.consumer_group {
            self.template(&path.key("consumerGroup"), group);
        }
        if let Some(dead_letters) = &verify.dead_letters {
            self.template(&path.key("deadLetters").key("topic"), &dead_letters.topic);
        }
        if let Some(url) = &verify.metrics_url {
            self.template(&path.key("metricsUrl"), url);
        }
        if let Some(keys) = &verify.key_templates
            && let Err(err) = keys.parse()
        {
            self.error(
                &path.key("keyTemplates"),
                format!("invalid key template: {err}"),
            );
        }
    }

    /// An endpoint field: templated when set, else `spec.infra` must provide it.
    fn endpoint(&mut self, path: &FieldPath, field: &str, value: Option<&str>) {
        match value {
            Some(value) => self.template(&path.key(field), value),
            None if self.infra.is_none() => self.error(
                path,
                format!("needs \"{field}\", or spec.infra to take it from"),
            ),
            None => {}
        }
    }

    /// A data file next to the scenario must exist (it is read when the step runs).
    fn input_file(&mut self, path: &FieldPath, file: &str) {
        let resolved = normalize(&self.dir.join(file));
        if !resolved.is_file() {
            self.error(
                path,
                format!("cannot read {}: no such file", resolved.display()),
            );
        }
    }
}
