//! A scenario's infrastructure (`spec.infra`): Kafka and Redis started
//! before its first step, with its topics, and stopped after its namespace
//! is cleaned up (also when a step failed), so a job still running in the
//! cluster is cancelled before its Kafka and Redis go away.
//!
//! Steps reach them through `${infra.kafka.bootstrapServers}`,
//! `${infra.redis.url}` and the providers' names. On the `sim` backend the
//! feature-pipeline jobs run in the harness's own process, so loopback
//! endpoints work; on a real cluster the user's job runs in pods, so the
//! endpoints must be reachable from the cluster (use `external` providers
//! the pods can reach).
//!
//! A Redis password is part of `${infra.redis.url}` (the job needs it), so it
//! is added to the run's secrets and redacted from every report.

use harness_infra::{Endpoint, Infra, InfraSpec, RedisUrl};

/// Starts the providers and creates the topics.
pub(crate) async fn start(spec: &InfraSpec) -> Result<Infra, String> {
    spec.start().await.map_err(|err| {
        format!(
            "could not start the scenario's infrastructure: {}",
            super::error_chain(&err)
        )
    })
}

/// The `${infra.*}` variables.
pub(crate) fn variables(infra: &Infra) -> Vec<(&'static str, String)> {
    vec![
        (
            "infra.kafka.bootstrapServers",
            infra.kafka.bootstrap_servers().to_owned(),
        ),
        ("infra.kafka.provider", infra.kafka.kind().name().to_owned()),
        ("infra.redis.url", infra.redis.url().expose().to_owned()),
        ("infra.redis.provider", infra.redis.kind().name().to_owned()),
    ]
}

/// Credentials in the endpoints (the Redis URL with its password), for redaction.
pub(crate) fn secrets(infra: &Infra) -> Vec<String> {
    url_secrets(infra.redis.url())
}

/// The URL and its password, when it has one.
fn url_secrets(url: &RedisUrl) -> Vec<String> {
    match url.password().filter(|password| !password.is_empty()) {
        Some(password) => vec![url.expose().to_owned(), password.to_owned()],
        None => Vec::new(),
    }
}

/// Where each service is, safe to report.
pub(crate) fn endpoints(infra: &Infra) -> Vec<Endpoint> {
    infra.endpoints()
}

/// Stops everything the providers started. Dropping kills and reaps
/// processes and joins the mock cluster's thread, so it runs off the async
/// workers.
pub(crate) async fn stop(infra: Infra) {
    let _ = tokio::task::spawn_blocking(move || drop(infra)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_password_becomes_a_secret() {
        let url: RedisUrl = "redis://app:s3cret-pw@10.0.0.5:6380/2"
            .parse()
            .expect("url");
        assert_eq!(
            url_secrets(&url),
            vec![
                "redis://app:s3cret-pw@10.0.0.5:6380/2".to_owned(),
                "s3cret-pw".to_owned()
            ]
        );
        let open: RedisUrl = "redis://127.0.0.1:6379".parse().expect("url");
        assert!(url_secrets(&open).is_empty());
    }
}
