//! Flink configuration as native Kubernetes Flink ships it to its pods: a
//! `flink-config-<cluster>` ConfigMap holding the configuration file (one
//! `key: value` per line), the log4j file and, when there is one, the
//! TaskManager pod template.
//!
//! The operator writes this ConfigMap when it deploys a cluster (as Flink's
//! `KubernetesClusterDescriptor` does in the operator process) and the
//! JobManager model reads it back, so the store is the only channel between
//! the two, as in a real cluster.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{controllers::meta, store::Store};

/// Name of a cluster's configuration ConfigMap.
pub fn config_map_name(cluster: &str) -> String {
    format!("flink-config-{cluster}")
}

/// The ConfigMap key of the TaskManager pod template.
pub const TASKMANAGER_TEMPLATE: &str = "taskmanager-pod-template.yaml";
/// The ConfigMap key of the log4j configuration.
pub const LOG4J: &str = "log4j-console.properties";
/// Both configuration file names Flink reads (`config.yaml` since 1.19).
pub const CONFIG_FILES: [&str; 2] = ["config.yaml", "flink-conf.yaml"];

/// Renders a flat configuration, one `key: value` line per key, in key order.
pub fn render(conf: &BTreeMap<String, String>) -> String {
    conf.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

/// Parses what [`render`] writes; lines without `: ` and comments are skipped.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            line.split_once(": ")
                .or_else(|| line.strip_suffix(':').map(|k| (k, "")))
        })
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// The configuration of `cluster` in `namespace`, read from its ConfigMap,
/// with the name of the file it was found in.
pub fn read(
    store: &Store,
    namespace: &str,
    cluster: &str,
) -> Option<(&'static str, BTreeMap<String, String>)> {
    let name = config_map_name(cluster);
    let cm = store
        .list("", "configmaps", Some(namespace))
        .find(|cm| meta::name(cm) == name)?;
    CONFIG_FILES
        .iter()
        .find_map(|file| cm["data"][*file].as_str().map(|text| (*file, parse(text))))
}

/// The TaskManager pod template stored with `cluster`'s configuration.
pub fn taskmanager_template(store: &Store, namespace: &str, cluster: &str) -> Option<Value> {
    let name = config_map_name(cluster);
    let cm = store
        .list("", "configmaps", Some(namespace))
        .find(|cm| meta::name(cm) == name)?;
    serde_yaml::from_str(cm["data"][TASKMANAGER_TEMPLATE].as_str()?).ok()
}

/// The default `log4j-console.properties` of the Flink image, abridged.
pub fn default_log4j() -> String {
    [
        "rootLogger.level = INFO",
        "rootLogger.appenderRef.console.ref = ConsoleAppender",
        "appender.console.name = ConsoleAppender",
        "appender.console.type = CONSOLE",
        "appender.console.layout.type = PatternLayout",
        "appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n",
        "",
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_parse_round_trip() {
        let conf: BTreeMap<String, String> = [
            (
                "kubernetes.jobmanager.owner.reference",
                "uid:1,kind:FlinkDeployment,name:x",
            ),
            ("execution.savepoint.path", "file:///sp/savepoint-abc-def"),
            (
                "$internal.pipeline.job-id",
                "00112233445566778899aabbccddeeff",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(parse(&render(&conf)), conf);
        assert_eq!(
            parse("# comment\nkey: value\nbroken line\n"),
            [("key".to_string(), "value".to_string())].into()
        );
    }
}
