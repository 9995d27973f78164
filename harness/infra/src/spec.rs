//! Provider choice as data: [`InfraSpec`] (what scenarios embed, serde) and
//! the short command-line forms (`--kafka embedded|local|containers|external:B`,
//! `--redis local|containers|external:URL`, `--topic NAME[:PARTITIONS]`).
//! One place decides providers for the pipeline, the load generator and
//! scenarios; [`InfraSpec::start`] turns a spec into running handles.

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};

use serde::{Deserialize, Serialize};

use crate::{
    Error, Result,
    docker::ContainerPlan,
    kafka::{self, Kafka},
    redis::{self, Redis, RedisUrl},
};

/// Which Kafka and Redis to run, and which topics to create.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InfraSpec {
    /// The Kafka provider (default `embedded`).
    #[serde(default)]
    pub kafka: KafkaSpec,
    /// The Redis provider (default `local`).
    #[serde(default)]
    pub redis: RedisSpec,
    /// Topics created once Kafka is up.
    #[serde(default)]
    pub topics: Vec<TopicSpec>,
}

/// A Kafka provider, e.g. `{provider: local}` in YAML or `--kafka local`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "provider",
    rename_all = "lowercase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum KafkaSpec {
    /// librdkafka's in-process mock cluster (mind its retention cap: see
    /// [`kafka::embedded`]).
    Embedded {
        /// Number of mock brokers.
        #[serde(default = "one_broker")]
        brokers: i32,
    },
    /// A Kafka-compatible broker binary (`nisshi`/`tansu`) run as a process.
    Local {
        /// The binary; default: the first of `nisshi`, `tansu` on PATH.
        #[serde(default)]
        binary: Option<PathBuf>,
    },
    /// Apache Kafka in a container (needs a Docker engine).
    Containers {
        /// `name:tag`.
        #[serde(default = "default_kafka_image")]
        image: String,
    },
    /// A Kafka the harness does not run.
    External {
        /// `host:port[,host:port...]`.
        bootstrap_servers: String,
    },
}

/// A Redis provider, e.g. `{provider: external, url: redis://...}` or `--redis local`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "provider",
    rename_all = "lowercase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum RedisSpec {
    /// `redis-server` run as a process on a free loopback port.
    Local {
        /// The binary; default: `redis-server` on PATH.
        #[serde(default)]
        binary: Option<PathBuf>,
    },
    /// Redis in a container (needs a Docker engine).
    Containers {
        /// `name:tag`.
        #[serde(default = "default_redis_image")]
        image: String,
    },
    /// A Redis the harness does not run.
    External {
        /// Its URL (redacted whenever printed).
        url: RedisUrl,
    },
}

/// A topic to create: `NAME` or `NAME:PARTITIONS` on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count.
    #[serde(default = "one_partition")]
    pub partitions: i32,
}

/// Running providers. Dropping this stops everything it started.
#[derive(Debug)]
pub struct Infra {
    /// The running Kafka.
    pub kafka: Kafka,
    /// The running Redis.
    pub redis: Redis,
}

/// One line of `harness infra up` output: a service and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// `kafka` or `redis`.
    pub service: &'static str,
    /// The provider's name, e.g. `embedded`.
    pub provider: &'static str,
    /// Bootstrap servers or URL, never with a password.
    pub address: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.service, self.provider, self.address)
    }
}

impl InfraSpec {
    /// Starts Kafka and Redis (concurrently) and creates the topics.
    pub async fn start(&self) -> Result<Infra> {
        let (kafka, redis) =
            tokio::try_join!(Kafka::start(&self.kafka), Redis::start(&self.redis))?;
        for topic in &self.topics {
            kafka.create_topic(&topic.name, topic.partitions).await?;
        }
        Ok(Infra { kafka, redis })
    }
}

impl Infra {
    /// Where each service can be reached, safe to print.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        vec![
            Endpoint {
                service: "kafka",
                provider: self.kafka.kind().name(),
                address: self.kafka.bootstrap_servers().to_owned(),
            },
            Endpoint {
                service: "redis",
                provider: self.redis.kind().name(),
                address: self.redis.url().redacted(),
            },
        ]
    }
}

impl Default for KafkaSpec {
    fn default() -> Self {
        KafkaSpec::Embedded {
            brokers: one_broker(),
        }
    }
}

impl Default for RedisSpec {
    fn default() -> Self {
        RedisSpec::Local { binary: None }
    }
}

impl KafkaSpec {
    /// What starting this provider would do, one line per item, without
    /// starting anything (`<port>` stands for the free port chosen at start).
    pub fn describe(&self) -> Vec<String> {
        match self {
            KafkaSpec::Embedded { brokers } => vec![format!(
                "kafka embedded: librdkafka mock cluster, {brokers} broker(s) in-process on loopback; \
                 keeps only ~5 MiB per partition"
            )],
            KafkaSpec::Local { binary } => vec![format!(
                "kafka local: {} broker --listener-url tcp://127.0.0.1:<port> --advertised-listener-url \
                 tcp://127.0.0.1:<port> --storage-engine sqlite://<tmp>/broker.db (memory:// without libsql)",
                program_shown(binary.as_deref(), "nisshi|tansu")
            )],
            KafkaSpec::Containers { image } => {
                container_lines("kafka containers", &kafka::containers::plan(image, 0))
            }
            KafkaSpec::External { bootstrap_servers } => {
                vec![format!("kafka external: {bootstrap_servers}")]
            }
        }
    }
}

impl RedisSpec {
    /// What starting this provider would do (see [`KafkaSpec::describe`]).
    pub fn describe(&self) -> Vec<String> {
        match self {
            RedisSpec::Local { binary } => vec![format!(
                "redis local: {} --bind 127.0.0.1 --port <port> --dir <tmp> --appendonly yes --save \"\"",
                program_shown(binary.as_deref(), redis::local::PROGRAM)
            )],
            RedisSpec::Containers { image } => {
                container_lines("redis containers", &redis::containers::plan(image, 0))
            }
            RedisSpec::External { url } => vec![format!("redis external: {url}")],
        }
    }
}

/// The binary a `local` provider runs: the one given, or what PATH offers.
fn program_shown(binary: Option<&Path>, from_path: &str) -> String {
    binary.map_or_else(|| from_path.to_owned(), |path| path.display().to_string())
}

fn container_lines(prefix: &str, plan: &ContainerPlan) -> Vec<String> {
    // The plan was made with port 0: show where the free port goes.
    plan.describe()
        .into_iter()
        .map(|line| {
            let line = line.replace("127.0.0.1:0 ", "127.0.0.1:<port> ");
            let line = match line.strip_suffix("127.0.0.1:0") {
                Some(head) => format!("{head}127.0.0.1:<port>"),
                None => line,
            };
            format!("{prefix}: {line}")
        })
        .collect()
}

impl FromStr for KafkaSpec {
    type Err = Error;

    /// `embedded`, `local`, `local:/path/to/broker`, `containers`,
    /// `containers:image:tag`, `external:host:port[,...]`.
    fn from_str(input: &str) -> Result<Self> {
        let (kind, arg) = split_kind(input);
        let invalid = invalid_spec("kafka", input.to_owned());
        match (kind, arg) {
            ("embedded", None) => Ok(KafkaSpec::default()),
            ("local", binary) => Ok(KafkaSpec::Local {
                binary: binary.map(PathBuf::from),
            }),
            ("containers", image) => Ok(KafkaSpec::Containers {
                image: image.map_or_else(default_kafka_image, str::to_owned),
            }),
            ("external", Some(bootstrap)) => Ok(KafkaSpec::External {
                bootstrap_servers: bootstrap.to_owned(),
            }),
            ("external", None) => Err(invalid(
                "external needs bootstrap servers: external:host:port",
            )),
            _ => Err(invalid(
                "expected embedded, local[:BINARY], containers[:IMAGE] or external:BOOTSTRAP_SERVERS",
            )),
        }
    }
}

impl FromStr for RedisSpec {
    type Err = Error;

    /// `local`, `local:/path/to/redis-server`, `containers`,
    /// `containers:image:tag`, `external:redis://host:port`.
    fn from_str(input: &str) -> Result<Self> {
        let (kind, arg) = split_kind(input);
        let invalid = invalid_spec("redis", redis::redact_malformed(input));
        match (kind, arg) {
            ("local", binary) => Ok(RedisSpec::Local {
                binary: binary.map(PathBuf::from),
            }),
            ("containers", image) => Ok(RedisSpec::Containers {
                image: image.map_or_else(default_redis_image, str::to_owned),
            }),
            ("external", Some(url)) => Ok(RedisSpec::External { url: url.parse()? }),
            ("external", None) => Err(invalid("external needs a URL: external:redis://host:port")),
            _ => Err(invalid(
                "expected local[:BINARY], containers[:IMAGE] or external:redis://HOST:PORT",
            )),
        }
    }
}

impl FromStr for TopicSpec {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        let invalid = invalid_spec("topic", input.to_owned());
        let (name, partitions) = match input.rsplit_once(':') {
            Some((name, count)) => {
                let partitions = count.parse::<i32>().ok().filter(|n| *n > 0);
                (
                    name,
                    partitions
                        .ok_or_else(|| invalid("the partition count must be a positive integer"))?,
                )
            }
            None => (input, one_partition()),
        };
        if name.is_empty() {
            return Err(invalid("the topic name is empty"));
        }
        Ok(TopicSpec {
            name: name.to_owned(),
            partitions,
        })
    }
}

/// How a rejected spec of `what` reports `input` (already redacted where it
/// may hold a password) and the reason.
fn invalid_spec(what: &'static str, input: String) -> impl Fn(&str) -> Error {
    move |reason| Error::InvalidSpec {
        what,
        input: input.clone(),
        reason: reason.into(),
    }
}

/// `kind[:arg]`; the arg keeps any further colons (URLs, image tags).
fn split_kind(input: &str) -> (&str, Option<&str>) {
    match input.split_once(':') {
        Some((kind, arg)) => (kind, Some(arg).filter(|arg| !arg.is_empty())),
        None => (input, None),
    }
}

/// Splits `registry:5000/name:tag` into (`registry:5000/name`, `tag`); the
/// tag defaults to `latest`.
pub(crate) fn split_image_ref(image: &str) -> (String, String) {
    let name_start = image.rfind('/').map_or(0, |slash| slash + 1);
    match image[name_start..].rsplit_once(':') {
        Some((name, tag)) => (format!("{}{name}", &image[..name_start]), tag.to_owned()),
        None => (image.to_owned(), "latest".to_owned()),
    }
}

fn one_broker() -> i32 {
    1
}

fn one_partition() -> i32 {
    1
}

fn default_kafka_image() -> String {
    kafka::containers::DEFAULT_IMAGE.to_owned()
}

fn default_redis_image() -> String {
    redis::containers::DEFAULT_IMAGE.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_forms_parse() {
        assert_eq!(
            "embedded".parse::<KafkaSpec>().expect("embedded"),
            KafkaSpec::Embedded { brokers: 1 }
        );
        assert_eq!(
            "external:10.0.0.1:9092,10.0.0.2:9092"
                .parse::<KafkaSpec>()
                .expect("external"),
            KafkaSpec::External {
                bootstrap_servers: "10.0.0.1:9092,10.0.0.2:9092".into()
            }
        );
        assert_eq!(
            "containers:apache/kafka:3.9.0"
                .parse::<KafkaSpec>()
                .expect("containers"),
            KafkaSpec::Containers {
                image: "apache/kafka:3.9.0".into()
            }
        );
        assert_eq!(
            "local".parse::<KafkaSpec>().expect("local"),
            KafkaSpec::Local { binary: None }
        );
        assert_eq!(
            "local".parse::<RedisSpec>().expect("local"),
            RedisSpec::Local { binary: None }
        );
        let external = "external:redis://:pw@h:1/0"
            .parse::<RedisSpec>()
            .expect("external");
        assert_eq!(
            external,
            RedisSpec::External {
                url: "redis://:pw@h:1/0".parse().expect("url")
            }
        );
        assert_eq!(
            "t:4".parse::<TopicSpec>().expect("topic"),
            TopicSpec {
                name: "t".into(),
                partitions: 4
            }
        );
        assert_eq!(
            "t".parse::<TopicSpec>().expect("topic"),
            TopicSpec {
                name: "t".into(),
                partitions: 1
            }
        );
    }

    #[test]
    fn bad_forms_say_what_is_accepted_without_leaking_passwords() {
        let err = "kafka-please"
            .parse::<KafkaSpec>()
            .expect_err("bad")
            .to_string();
        assert!(err.contains("expected embedded, local"), "{err}");
        assert!("external".parse::<KafkaSpec>().is_err());
        assert!("t:0".parse::<TopicSpec>().is_err());
        assert!(":3".parse::<TopicSpec>().is_err());
        let err = "cloud:redis://u:hunter2@h"
            .parse::<RedisSpec>()
            .expect_err("bad")
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn yaml_specs_deserialise_with_defaults() {
        let spec: InfraSpec = serde_yaml::from_str(
            "kafka: {provider: local, binary: /opt/nisshi}\nredis: {provider: external, url: 'redis://h:6379/'}\ntopics: [{name: user_behaviors, partitions: 4}]\n",
        )
        .expect("yaml");
        assert_eq!(
            spec.kafka,
            KafkaSpec::Local {
                binary: Some("/opt/nisshi".into())
            }
        );
        assert_eq!(
            spec.topics,
            vec![TopicSpec {
                name: "user_behaviors".into(),
                partitions: 4
            }]
        );
        let empty: InfraSpec = serde_yaml::from_str("{}").expect("yaml");
        assert_eq!(empty, InfraSpec::default());
        let external: KafkaSpec =
            serde_yaml::from_str("{provider: external, bootstrapServers: 'b:9092'}")
                .expect("external");
        assert_eq!(
            external,
            KafkaSpec::External {
                bootstrap_servers: "b:9092".into()
            }
        );
        assert!(serde_yaml::from_str::<InfraSpec>("kafka: {provider: embedded, typo: 1}").is_err());
    }

    #[test]
    fn image_refs_split_at_the_tag_not_the_registry_port() {
        assert_eq!(split_image_ref("redis:7"), ("redis".into(), "7".into()));
        assert_eq!(
            split_image_ref("localhost:5000/apache/kafka"),
            ("localhost:5000/apache/kafka".into(), "latest".into())
        );
        assert_eq!(
            split_image_ref("localhost:5000/apache/kafka:3.8.0"),
            ("localhost:5000/apache/kafka".into(), "3.8.0".into())
        );
    }

    #[test]
    fn container_plans_are_describable_without_docker() {
        let lines = KafkaSpec::Containers {
            image: default_kafka_image(),
        }
        .describe();
        assert!(
            lines
                .iter()
                .any(|line| line.contains("image apache/kafka:3.8.0")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|line| line.contains("port 127.0.0.1:<port> -> 9092")),
            "{lines:?}"
        );
        let plan = kafka::containers::plan("apache/kafka:3.8.0", 40123);
        assert_eq!(
            plan.env["KAFKA_ADVERTISED_LISTENERS"],
            "PLAINTEXT://127.0.0.1:40123"
        );
        assert_eq!(plan.ports, vec![(40123, 9092)]);
        let redis_plan = redis::containers::plan("redis:7", 40124);
        assert_eq!(redis_plan.image_ref(), "redis:7");
        assert!(redis_plan.cmd.contains(&"--appendonly".to_owned()));
    }
}
