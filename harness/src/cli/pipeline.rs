//! `harness load | pipeline | oracle | verify | infra`: the feature pipeline's
//! commands, thin wrappers over `harness::pipeline` and `harness_infra`.
//!
//! Each command builds a tokio runtime of its own; stdout carries results
//! (endpoints, the metrics address, diffs), logs go to stderr.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context, bail};
use harness_infra::{InfraSpec, KafkaSpec, RedisSpec, RedisUrl, TopicSpec};
use harness_pipeline::{EngineConfig, KeyTemplates, RedisState, oracle::REDIS_STATE_FILE};

use crate::{
    pipeline::{
        Pipeline, PipelineConfig, SourceSpec, dead_letters, http_client,
        load::{LoadConfig, LoadTarget},
        read_events_file, verify,
    },
    scenario::{duration::Duration as SpecDuration, pipeline_verbs::Generate},
};

/// The input topic of the seed's jobs.
const DEFAULT_TOPIC: &str = "user_behaviors";

/// Arguments of `harness load`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["out", "kafka"]))]
pub struct LoadArgs {
    /// Write JSON lines to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    pub out: Option<PathBuf>,
    /// Produce to a running Kafka: `external:HOST:PORT[,...]` (start one with
    /// `harness infra up`).
    #[arg(long, value_name = "PROVIDER")]
    pub kafka: Option<KafkaSpec>,
    /// The topic to produce to.
    #[arg(long, default_value = DEFAULT_TOPIC)]
    pub topic: String,
    /// Partitions to create the topic with, if it does not exist.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Wall-clock events per second (default: as fast as possible).
    #[arg(long, value_name = "EVENTS_PER_SEC")]
    pub rate: Option<f64>,
    /// How many events, and the generator's settings (the same knobs as a
    /// scenario's `produce.generate`).
    #[command(flatten)]
    pub generator: Generate,
}

/// Where features are written in Redis (shared by `pipeline run`, `oracle`, `verify`).
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// The user-features hash key [default: user:profile:{tenant_id}:{scenario_id}:{user_id}].
    /// The seed's `user:profile:{user_id}` merges a user's features across
    /// tenants and scenarios (the last window written wins). `verify --oracle`
    /// defaults to the template the oracle was computed with.
    #[arg(long, value_name = "TEMPLATE")]
    pub key_template: Option<String>,
    /// The hot-items sorted-set key [default: hot:items:{tenant_id}:{scenario_id}].
    #[arg(long, value_name = "TEMPLATE")]
    pub hot_key_template: Option<String>,
}

/// The file in an `harness oracle` directory that records its key templates,
/// so `verify --oracle` reads Redis with the same ones.
const KEY_TEMPLATES_FILE: &str = "key_templates.json";

/// The key templates an oracle directory was computed with.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecordedKeys {
    user: Option<String>,
    hot: Option<String>,
}

impl KeyArgs {
    fn engine_config(&self) -> anyhow::Result<EngineConfig> {
        self.engine_config_over(&RecordedKeys::default())
    }

    /// The templates given on the command line, else those `recorded` by
    /// an oracle run, else the defaults; a flag that contradicts the record
    /// is an error, since Redis would be read under keys the oracle never had.
    fn engine_config_over(&self, recorded: &RecordedKeys) -> anyhow::Result<EngineConfig> {
        let pick = |flag: &Option<String>, recorded: &Option<String>, default: &'static str| match (
            flag, recorded,
        ) {
            (Some(flag), Some(recorded)) if flag != recorded => bail!(
                "the oracle was computed with key template {recorded:?}, not {flag:?}; drop the flag or recompute the oracle"
            ),
            (Some(chosen), _) | (None, Some(chosen)) => Ok(chosen.clone()),
            (None, None) => Ok(default.to_owned()),
        };
        let user = pick(
            &self.key_template,
            &recorded.user,
            harness_pipeline::redis_model::DEFAULT_USER_KEY,
        )?;
        let hot = pick(
            &self.hot_key_template,
            &recorded.hot,
            harness_pipeline::redis_model::DEFAULT_HOT_KEY,
        )?;
        let key_templates = KeyTemplates::new(&user, &hot).context("invalid key template")?;
        Ok(EngineConfig {
            key_templates,
            ..EngineConfig::default()
        })
    }
}

/// Subcommands of `harness pipeline`.
#[derive(Debug, clap::Subcommand)]
pub enum PipelineCommand {
    /// Run the pipeline: consume events, write features to Redis, checkpoint.
    Run(RunArgs),
}

/// Arguments of `harness pipeline run`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["events", "bootstrap_servers"]))]
pub struct RunArgs {
    /// Read events from a JSON-lines file (always bounded).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Consume from this Kafka.
    #[arg(long, value_name = "HOST:PORT", requires = "topic")]
    pub bootstrap_servers: Option<String>,
    /// The Kafka topic.
    #[arg(long, conflicts_with = "events")]
    pub topic: Option<String>,
    /// The dead-letter topic (Kafka source).
    #[arg(long, default_value = dead_letters::DEAD_LETTER_TOPIC)]
    pub dead_letter_topic: String,
    /// Where features are written.
    #[arg(long, value_name = "URL", value_parser = Redacting::<RedisUrl>::new())]
    pub redis: RedisUrl,
    /// Checkpoints, savepoints and the file source's dead letters go here.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Resume from a checkpoint or savepoint (a chk-<n>/savepoint-<id> dir,
    /// its _metadata, or a checkpoints/state dir for the newest checkpoint).
    #[arg(long, value_name = "PATH")]
    pub restore: Option<PathBuf>,
    /// Serve /metrics, /healthz, POST /savepoints and POST /stop here.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Time between checkpoints.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub checkpoint_interval: Duration,
    /// Kafka: consume up to the end offsets seen at start, drain and exit.
    #[arg(long)]
    pub bounded: bool,
    /// Key templates.
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Arguments of `harness oracle`.
#[derive(Debug, clap::Args)]
pub struct OracleArgs {
    /// The events (JSON lines), in the order the pipeline reads them.
    #[arg(long, value_name = "FILE.jsonl")]
    pub events: PathBuf,
    /// Where to write user_features.jsonl, item_hot.jsonl, metrics.jsonl,
    /// redis_state.json and stats.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Key templates.
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Arguments of `harness verify`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("expected").required(true).args(["events", "oracle"]))]
pub struct VerifyArgs {
    /// The Redis to check.
    #[arg(long, value_name = "URL", value_parser = Redacting::<RedisUrl>::new())]
    pub redis: RedisUrl,
    /// Compute the expected state from these events.
    #[arg(long, value_name = "FILE.jsonl")]
    pub events: Option<PathBuf>,
    /// Read the expected state from an `harness oracle` output directory.
    #[arg(long, value_name = "DIR")]
    pub oracle: Option<PathBuf>,
    /// Also compare the `recommendation_*` gauges served here.
    #[arg(long, value_name = "URL")]
    pub metrics_url: Option<String>,
    /// Key templates.
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// A value parser for arguments that may hold a password: clap's own error
/// would quote the raw value ("invalid value 'redis://:pw@...'"), so the error
/// is only the type's message, which redacts what it quotes.
#[derive(Clone)]
struct Redacting<T>(std::marker::PhantomData<T>);

impl<T> Redacting<T> {
    fn new() -> Self {
        Redacting(std::marker::PhantomData)
    }
}

impl<T> clap::builder::TypedValueParser for Redacting<T>
where
    T: std::str::FromStr<Err = harness_infra::Error> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let name = arg.map_or_else(
            || "the argument".to_owned(),
            |a| format!("--{}", a.get_id()),
        );
        let refuse = |reason: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for {name}: {reason}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("not UTF-8".to_owned()))?;
        text.parse()
            .map_err(|err: harness_infra::Error| refuse(err.to_string()))
    }
}

/// Subcommands of `harness infra`.
#[derive(Debug, clap::Subcommand)]
pub enum InfraCommand {
    /// Start the providers, print one line per endpoint, run until Ctrl-C.
    Up(InfraUpArgs),
}

/// Arguments of `harness infra up`.
#[derive(Debug, clap::Args)]
pub struct InfraUpArgs {
    /// embedded | local[:BINARY] | containers[:IMAGE] | external:HOST:PORT
    #[arg(long, default_value = "embedded")]
    pub kafka: KafkaSpec,
    /// local[:BINARY] | containers[:IMAGE] | external:redis://HOST:PORT
    #[arg(long, default_value = "local", value_parser = Redacting::<RedisSpec>::new())]
    pub redis: RedisSpec,
    /// Topics to create: NAME[:PARTITIONS] (repeatable).
    #[arg(long = "topic", value_name = "NAME[:PARTITIONS]")]
    pub topics: Vec<TopicSpec>,
    /// Print what would be started, start nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `harness load`.
pub fn load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let target = match (&args.out, &args.kafka) {
        (Some(path), _) => LoadTarget::File(path.clone()),
        (None, Some(KafkaSpec::External { bootstrap_servers })) => LoadTarget::Kafka {
            bootstrap_servers: bootstrap_servers.clone(),
            topic: args.topic.clone(),
            partitions: args.partitions,
        },
        (None, Some(_)) => bail!(
            "`harness load` produces to a Kafka that is already running: start one with `harness infra up \
             --topic {}:{}` and pass --kafka external:<bootstrap servers>",
            args.topic,
            args.partitions
        ),
        (None, None) => bail!("give --out FILE or --kafka external:HOST:PORT"),
    };
    let config = LoadConfig {
        generator: args.generator.config(),
        count: args.generator.count,
        rate: args.rate,
        target,
    };
    let report = runtime()?.block_on(crate::pipeline::load::load(&config))?;
    crate::console::outln!(
        "wrote {} events ({} valid, {} late, {} malformed) in {:.2}s",
        report.events,
        report.valid,
        report.late,
        report.malformed,
        report.elapsed.as_secs_f64()
    );
    for (partition, low) in &report.retention_loss {
        eprintln!(
            "warning: partition {partition} no longer holds offsets below {low}: the broker dropped them \
             (the embedded provider keeps ~5 MiB per partition); consumers starting now will miss them"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `harness pipeline ...`.
pub fn pipeline(cmd: PipelineCommand) -> anyhow::Result<ExitCode> {
    let PipelineCommand::Run(args) = cmd;
    let source = match (&args.events, &args.bootstrap_servers, &args.topic) {
        (Some(path), _, _) => SourceSpec::File { path: path.clone() },
        (None, Some(bootstrap_servers), Some(topic)) => SourceSpec::Kafka {
            bootstrap_servers: bootstrap_servers.clone(),
            topic: topic.clone(),
            dead_letter_topic: args.dead_letter_topic.clone(),
        },
        _ => bail!("give --events FILE or --bootstrap-servers B --topic T"),
    };
    let mut config = PipelineConfig::new(source, args.redis.clone(), args.state_dir.clone());
    config.restore = args.restore.clone();
    config.metrics_addr = args.metrics_addr;
    config.checkpoint_interval = args.checkpoint_interval;
    config.bounded = args.bounded;
    config.engine = args.keys.engine_config()?;
    runtime()?.block_on(async {
        let mut interrupted = super::Termination::listen()?;
        let pipeline = Pipeline::start(config).await?;
        if let Some(addr) = pipeline.metrics_addr() {
            crate::console::outln!("metrics: http://{addr}/metrics");
        }
        let summary = tokio::select! {
            summary = pipeline.finished() => summary?,
            _ = interrupted.recv() => {
                // Ctrl-C or SIGTERM is a crash, as for a killed TaskManager: the last
                // checkpoint is where `--restore` resumes. Use POST /stop for
                // a graceful stop with a savepoint.
                eprintln!("interrupted: stopped without a final checkpoint");
                return Ok(ExitCode::from(130));
            }
        };
        let stats = summary.stats();
        crate::console::outln!(
            "processed {} records ({} malformed, {} fully late, {} dead letters); {} windows fired; {} redis round trips; {} checkpoints",
            stats.events,
            stats.malformed,
            stats.fully_late,
            stats.dead_letters(),
            stats.windows_fired.user_features + stats.windows_fired.item_hot + stats.windows_fired.metrics,
            summary.progress.redis_round_trips,
            summary.progress.checkpoints
        );
        if let crate::pipeline::Exit::Stopped { savepoint } = &summary.exit {
            crate::console::outln!("savepoint: {}", savepoint.display());
        } else if let Some(checkpoint) = &summary.progress.last_checkpoint {
            crate::console::outln!("checkpoint: {}", checkpoint.display());
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `harness oracle`.
pub fn oracle(args: OracleArgs) -> anyhow::Result<ExitCode> {
    let config = args.keys.engine_config()?;
    let events = read_events_file(&args.events)?;
    let run = harness_pipeline::oracle(&config, &events);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    let recorded = RecordedKeys {
        user: Some(config.key_templates.user_template().as_str().to_owned()),
        hot: Some(config.key_templates.hot_template().as_str().to_owned()),
    };
    let mut files = run.files()?;
    files.push((
        KEY_TEMPLATES_FILE,
        serde_json::to_string_pretty(&recorded)? + "\n",
    ));
    for (name, contents) in files {
        let path = args.out.join(name);
        std::fs::write(&path, contents)
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    crate::console::outln!(
        "{} events: {} user-feature rows, {} hot-item rows, {} metrics rows, {} dead letters, {} redis keys -> {}",
        run.stats.events,
        run.user_features.len(),
        run.item_hot.len(),
        run.metrics.len(),
        run.dead_letters.len(),
        run.redis.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `harness verify`: exit 0 when Redis (and metrics) match, 1 when not.
pub fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let recorded = match &args.oracle {
        Some(dir) => read_recorded_keys(dir)?,
        None => RecordedKeys::default(),
    };
    let config = args.keys.engine_config_over(&recorded)?;
    let (expected, expected_metrics) = match (&args.events, &args.oracle) {
        (Some(events), _) => {
            let run = harness_pipeline::oracle(&config, &read_events_file(events)?);
            (run.redis, run.metrics)
        }
        (None, Some(dir)) => read_oracle_dir(dir)?,
        (None, None) => bail!("give --events FILE or --oracle DIR"),
    };
    let report = runtime()?.block_on(async {
        let snapshot = verify::read_redis(&args.redis, &config.key_templates).await?;
        let mut report = verify::compare(&expected, &snapshot, config.hot_ttl_secs);
        if let Some(url) = &args.metrics_url {
            let scrape = http_client::get(url).await?;
            if scrape.status != 200 {
                bail!("{url} answered {}", scrape.status);
            }
            report.metric_problems = verify::check_metrics(&scrape.body, &expected_metrics);
        }
        anyhow::Ok(report)
    })?;
    crate::console::outln!("{}", report.render());
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The key templates recorded in an oracle directory (none in one written
/// before they were recorded).
fn read_recorded_keys(dir: &Path) -> anyhow::Result<RecordedKeys> {
    let path = dir.join(KEY_TEMPLATES_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a key-templates file", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(RecordedKeys::default()),
        Err(err) => Err(err).with_context(|| format!("failed to read {}", path.display())),
    }
}

/// The expected Redis state and metrics rows from an oracle directory.
fn read_oracle_dir(
    dir: &Path,
) -> anyhow::Result<(RedisState, Vec<harness_pipeline::WindowMetrics>)> {
    let state_path = dir.join(REDIS_STATE_FILE);
    let text = std::fs::read_to_string(&state_path)
        .with_context(|| format!("failed to read {}", state_path.display()))?;
    let state: RedisState = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a redis state", state_path.display()))?;
    let metrics_path = dir.join(harness_pipeline::oracle::METRICS_FILE);
    let rows = match std::fs::read_to_string(&metrics_path) {
        Ok(text) => text
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{} is not a metrics file", metrics_path.display()))?,
        Err(_) => Vec::new(),
    };
    Ok((state, rows))
}

/// Runs `harness infra ...`.
pub fn infra(cmd: InfraCommand) -> anyhow::Result<ExitCode> {
    let InfraCommand::Up(args) = cmd;
    let spec = InfraSpec {
        kafka: args.kafka,
        redis: args.redis,
        topics: args.topics,
    };
    if args.dry_run {
        for line in spec
            .kafka
            .describe()
            .into_iter()
            .chain(spec.redis.describe())
        {
            crate::console::outln!("{line}");
        }
        for topic in &spec.topics {
            crate::console::outln!("topic {} ({} partitions)", topic.name, topic.partitions);
        }
        return Ok(ExitCode::SUCCESS);
    }
    runtime()?.block_on(async {
        let mut interrupted = super::Termination::listen()?;
        let infra = spec.start().await?;
        for endpoint in infra.endpoints() {
            crate::console::outln!("{endpoint}");
        }
        eprintln!("running; press Ctrl-C (or send SIGTERM) to stop");
        interrupted.recv().await;
        drop(infra);
        eprintln!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    SpecDuration::parse(text)
        .map(SpecDuration::std)
        .map_err(|err| err.to_string())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::runtime::DEFAULT_CHECKPOINT_INTERVAL;

    #[test]
    fn the_default_checkpoint_interval_is_the_seeds() {
        assert_eq!(parse_duration("60s"), Ok(DEFAULT_CHECKPOINT_INTERVAL));
        assert!(parse_duration("60").is_err());
    }
}
