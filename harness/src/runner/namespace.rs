//! Each scenario runs in a namespace of its own: created before the first
//! step, deleted (and waited for, within the `cleanup` deadline) after the
//! last, unless `--keep-namespaces` or the namespace existed before the run.
//! A deletion that does not finish in time is reported as a leak rather than
//! failing the scenario, so a slow finalizer cannot hide the real result.

use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api,
    api::{DeleteParams, PostParams},
};

use super::{
    deadline::{Check, Deadline, until},
    objects,
    report::Cleanup,
};
use crate::{
    cluster::Cluster,
    scenario::{Scenario, TimeoutKind},
};

/// Label put on every namespace the harness creates, for finding leaks.
pub const SCENARIO_LABEL: &str = "harness.flink.dev/scenario";

/// The namespace to use, and whether this run created it.
pub(crate) async fn prepare(
    cluster: &Cluster,
    scenario: &Scenario,
) -> Result<(String, bool), String> {
    let name = scenario
        .spec
        .namespace
        .clone()
        .unwrap_or_else(|| generated_name(&scenario.metadata.name));
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(name.clone());
    namespace.metadata.labels = Some(
        [
            (SCENARIO_LABEL.to_owned(), scenario.metadata.name.clone()),
            (
                "app.kubernetes.io/managed-by".to_owned(),
                "harness".to_owned(),
            ),
        ]
        .into(),
    );
    match api.create(&PostParams::default(), &namespace).await {
        Ok(_) => Ok((name, true)),
        Err(err)
            if objects::status_of(&err).is_some_and(|s| s.code == 409)
                && scenario.spec.namespace.is_some() =>
        {
            Ok((name, false))
        }
        Err(err) => Err(format!(
            "could not create namespace {name}: {}",
            objects::api_error_text(&err)
        )),
    }
}

/// `<scenario>-<5 characters>`: unique enough across runs on one cluster,
/// short enough for the 63-character limit (scenario names have at most 40).
fn generated_name(scenario: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let mut seed = u64::from(nanos)
        ^ (u64::from(std::process::id()) << 20)
        ^ (scenario.len() as u64).wrapping_mul(0x9E37_79B9);
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let suffix: String = (0..5)
        .map(|_| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            alphabet[((seed >> 33) % alphabet.len() as u64) as usize] as char
        })
        .collect();
    format!("{scenario}-{suffix}")
}

/// Deletes the namespace if this run created it and it is not to be kept.
pub(crate) async fn cleanup(
    cluster: &Cluster,
    scenario: &Scenario,
    namespace: &str,
    created: bool,
    keep: bool,
) -> Cleanup {
    let kept = |message: &str| Cleanup {
        namespace: namespace.to_owned(),
        result: "kept",
        message: Some(message.to_owned()),
    };
    if keep {
        return kept("--keep-namespaces");
    }
    if !created {
        return kept("it existed before the run");
    }
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    match api.delete(namespace, &DeleteParams::default()).await {
        Err(err) if objects::status_of(&err).is_none_or(|s| s.code != 404) => {
            return Cleanup {
                namespace: namespace.to_owned(),
                result: "leaked",
                message: Some(objects::api_error_text(&err)),
            };
        }
        _ => {}
    }
    let deadline = Deadline::new(
        TimeoutKind::Cleanup,
        scenario.spec.timeouts.get(TimeoutKind::Cleanup),
        &cluster.clock,
    );
    let gone = until(&deadline, "namespace deletion", async || {
        match api.get_opt(namespace).await {
            Ok(None) => Check::Done(()),
            Ok(Some(_)) => Check::pending(format!("namespace {namespace} is still terminating")),
            Err(err) => Check::pending(objects::api_error_text(&err)),
        }
    })
    .await;
    match gone {
        Ok(()) => Cleanup {
            namespace: namespace.to_owned(),
            result: "deleted",
            message: None,
        },
        Err(failure) => Cleanup {
            namespace: namespace.to_owned(),
            result: "leaked",
            message: Some(failure.message),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid_namespaces() {
        let name = generated_name(&"a".repeat(40));
        assert_eq!(name.len(), 46);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
