//! The running pipeline: [`Pipeline::start`] wires a source, the engine, the
//! Redis sink, the checkpoint store and the HTTP endpoint together.
//!
//! Threads and tasks, and who owns what:
//!
//! - the **engine thread** (a plain OS thread) owns the source and the
//!   [`Engine`]. It takes a batch of records, feeds each to the engine, routes
//!   the outputs (Redis writes to the sink, metrics to the shared state, dead
//!   letters to their topic or file), and every checkpoint interval sends a
//!   barrier carrying `engine.snapshot()`. It also serves control requests
//!   (savepoint, stop) between batches.
//! - the **Kafka thread** (Kafka source only) polls the consumer and hands the
//!   engine thread batches in reusable buffers, so consuming and computing
//!   overlap (measured here: the engine thread alone reached about half of a
//!   bare consumer's drain rate when it also polled).
//! - the **sink task** (tokio) executes writes and writes barriers to disk once
//!   everything before them is acknowledged (see [`super::sink`]).
//! - the **HTTP task** (tokio, optional) serves metrics and control.
//!
//! Dropping a [`Pipeline`], or [`Pipeline::crash`], stops everything at once
//! with no final checkpoint: what a killed process would leave behind.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, mpsc as std_mpsc},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use harness_infra::RedisUrl;
use harness_pipeline::{Engine, EngineConfig, Output, RedisWrite, Stats, checkpoint::Checkpoint};
use tokio::sync::{mpsc, oneshot};

use super::{
    Error, Result,
    checkpoints::{self, CheckpointStore},
    dead_letters::{self, DeadLetters},
    http::{self, HttpServer},
    metrics::{Progress, Shared},
    sink::{self, Barrier, BarrierKind, RedisWriter, SinkMessage},
    source::{FileSource, KafkaFeed, KafkaSource, Polled, Source},
};

/// The seed's `execution.checkpointing.interval`.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// Records handed from the source to the engine per batch.
const BATCH: usize = 4096;

/// How long the start waits for Redis before giving up.
const REDIS_START_TIMEOUT: Duration = Duration::from_secs(5);

/// Where records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A JSON-lines file (always bounded).
    File {
        /// The file.
        path: PathBuf,
    },
    /// A Kafka topic, every partition.
    Kafka {
        /// `host:port[,...]`.
        bootstrap_servers: String,
        /// The topic (e.g. `user_behaviors`).
        topic: String,
        /// Where dead letters go (default [`dead_letters::DEAD_LETTER_TOPIC`]).
        dead_letter_topic: String,
    },
}

impl SourceSpec {
    /// A Kafka source with the default dead-letter topic.
    pub fn kafka(bootstrap_servers: &str, topic: &str) -> SourceSpec {
        SourceSpec::Kafka {
            bootstrap_servers: bootstrap_servers.to_owned(),
            topic: topic.to_owned(),
            dead_letter_topic: dead_letters::DEAD_LETTER_TOPIC.to_owned(),
        }
    }
}

/// Everything [`Pipeline::start`] needs. [`PipelineConfig::new`] fills in the
/// defaults (60 s checkpoints, unbounded, no metrics endpoint, no restore,
/// the engine settings of the contract in `harness_pipeline`'s crate docs).
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Where records come from.
    pub source: SourceSpec,
    /// Where features are written.
    pub redis: RedisUrl,
    /// Checkpoints, savepoints and (file source) dead letters go here.
    pub state_dir: PathBuf,
    /// A checkpoint or savepoint to resume from (see [`checkpoints::resolve_restore_path`]).
    pub restore: Option<PathBuf>,
    /// Serve `/metrics`, `/healthz`, `POST /savepoints`, `POST /stop` here.
    pub metrics_addr: Option<SocketAddr>,
    /// Time between periodic checkpoints.
    pub checkpoint_interval: Duration,
    /// Kafka: stop at the end offsets seen at start (files always end).
    pub bounded: bool,
    /// The job's settings (windows, keys, TTL).
    pub engine: EngineConfig,
}

impl PipelineConfig {
    /// A configuration with the defaults listed on the type.
    pub fn new(source: SourceSpec, redis: RedisUrl, state_dir: PathBuf) -> PipelineConfig {
        PipelineConfig {
            source,
            redis,
            state_dir,
            restore: None,
            metrics_addr: None,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            bounded: false,
            engine: EngineConfig::default(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// A bounded input was consumed, drained and checkpointed.
    Finished,
    /// Stopped on request, after a final savepoint.
    Stopped {
        /// The final savepoint.
        savepoint: PathBuf,
    },
}

/// What a completed run reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// How it ended.
    pub exit: Exit,
    /// Counters and the last checkpoint at the end.
    pub progress: Progress,
}

/// Requests to the engine thread.
#[derive(Debug)]
pub(crate) enum Control {
    /// Take a savepoint; answer with its path.
    Savepoint(oneshot::Sender<Result<PathBuf>>),
    /// Stop after a final savepoint (firing every window first if `drain`).
    Stop {
        /// Flink's `stop --drain`.
        drain: bool,
        /// Gets the final savepoint's path.
        reply: oneshot::Sender<Result<PathBuf>>,
    },
}

/// A cloneable way to send [`Control`] requests (the HTTP endpoint has one).
#[derive(Debug, Clone)]
pub(crate) struct ControlHandle(std_mpsc::Sender<Control>);

impl ControlHandle {
    /// Asks for a savepoint and waits for its path.
    pub(crate) async fn savepoint(&self) -> Result<PathBuf> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(Control::Savepoint(reply))
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// Asks the pipeline to stop and waits for the final savepoint's path.
    pub(crate) async fn stop(&self, drain: bool) -> Result<PathBuf> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(Control::Stop { drain, reply })
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)?
    }
}

/// A running pipeline.
#[derive(Debug)]
pub struct Pipeline {
    /// Counters and the abort flag.
    shared: Arc<Shared>,
    /// Requests to the engine thread.
    control: ControlHandle,
    /// The engine thread; it reports its end through `engine_done`.
    engine_thread: Option<JoinHandle<()>>,
    /// The engine thread's result, sent just before it exits.
    engine_done: Option<oneshot::Receiver<Result<EngineExit>>>,
    /// That result, once [`Pipeline::ended`] received it.
    engine_exit: Option<Result<EngineExit>>,
    /// The sink task; it ends when the engine thread drops its inbox.
    sink: Option<tokio::task::JoinHandle<Result<()>>>,
    /// The HTTP endpoint, if any.
    http: Option<HttpServer>,
}

/// How the engine thread ended.
#[derive(Debug)]
enum EngineExit {
    Finished,
    Stopped,
    Aborted,
}

impl Pipeline {
    /// Restores (if asked), connects to Redis, opens the source, starts the
    /// engine thread, the sink and the HTTP endpoint, and returns once records
    /// can flow. Must be called within a multi-threaded tokio runtime.
    pub async fn start(config: PipelineConfig) -> Result<Pipeline> {
        let shared = Arc::new(Shared::default());
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|source| Error::io("create the state directory", &config.state_dir, source))?;
        let restored = match &config.restore {
            Some(path) => {
                let (checkpoint, metadata) = checkpoints::load(path)?;
                tracing::info!(from = %metadata.display(), "restoring");
                Some(checkpoint)
            }
            None => None,
        };
        let store = CheckpointStore::open(&config.state_dir)?;
        let listener = match config.metrics_addr {
            Some(addr) => Some(http::bind(addr).await?),
            None => None,
        };
        let writer =
            RedisWriter::connect_shared(&config.redis, Arc::clone(&shared), REDIS_START_TIMEOUT)
                .await?;
        let (inbox_tx, inbox_rx) = mpsc::channel(sink::INBOX_CAPACITY);
        let (control_tx, control_rx) = std_mpsc::channel();
        let control = ControlHandle(control_tx);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        let thread_config = config.clone();
        let engine_thread = std::thread::Builder::new()
            .name("pipeline-engine".into())
            .spawn(move || {
                let mut engine_loop = match EngineLoop::open(
                    &thread_config,
                    restored,
                    inbox_tx,
                    control_rx,
                    thread_shared,
                ) {
                    Ok(engine_loop) => {
                        let _ = ready_tx.send(Ok(()));
                        engine_loop
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let exit = engine_loop.run();
                let EngineLoop {
                    inbox,
                    source,
                    dead_letters,
                    ..
                } = engine_loop;
                // Closing the inbox lets the sink finish; report, then close
                // the Kafka clients: rdkafka waits for a closing consumer in
                // 100 ms polls, which nobody needs to wait for.
                drop(inbox);
                let _ = done_tx.send(exit);
                drop((source, dead_letters));
            })
            .map_err(|source| Error::io("start the engine thread", "pipeline-engine", source))?;
        ready_rx.await.map_err(|_| Error::Panicked {
            which: "engine thread",
        })??;
        let sink = tokio::spawn(sink::run(inbox_rx, writer, store, Arc::clone(&shared)));
        let http =
            listener.map(|listener| http::serve(listener, Arc::clone(&shared), control.clone()));
        Ok(Pipeline {
            shared,
            control,
            engine_thread: Some(engine_thread),
            engine_done: Some(done_rx),
            engine_exit: None,
            sink: Some(sink),
            http,
        })
    }

    /// Where the HTTP endpoint listens (with the actual port if `:0` was asked).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(HttpServer::addr)
    }

    /// The counters right now.
    pub fn progress(&self) -> Progress {
        self.shared.progress()
    }

    /// Takes a savepoint (after every output so far is in Redis) and returns
    /// its directory.
    pub async fn savepoint(&self) -> Result<PathBuf> {
        self.control.savepoint().await
    }

    /// Stops after a final savepoint, firing every open window first if
    /// `drain` (Flink's `stop --drain`), and waits for the end.
    pub async fn stop(self, drain: bool) -> Result<RunSummary> {
        // The summary carries the savepoint path, so the reply is not needed.
        let _ = self.control.stop(drain).await?;
        self.finished().await
    }

    /// Waits until the run ends (a bounded input is complete, a stop was
    /// requested, e.g. `POST /stop`, or Redis refused a write) and says how.
    pub async fn finished(mut self) -> Result<RunSummary> {
        self.ended().await;
        let exit = self.engine_exit.take().ok_or(Error::Stopped)?;
        // The engine thread has reported; it only closes its Kafka clients
        // now and ends on its own, so it is not joined (`crash` joins).
        drop(self.engine_thread.take());
        let sink_result = match self.sink.take() {
            Some(sink) => sink
                .await
                .map_err(|_| Error::Panicked { which: "sink task" })?,
            None => Ok(()),
        };
        if let Some(http) = self.http.take() {
            http.shutdown().await;
        }
        // A sink that ended on its own (Redis refused a write) is why the
        // engine stopped, so its error comes first.
        sink_result?;
        let exit = exit?;
        let progress = self.shared.progress();
        let exit = match exit {
            EngineExit::Finished => Exit::Finished,
            EngineExit::Stopped => Exit::Stopped {
                savepoint: self.shared.last_savepoint().ok_or(Error::Stopped)?,
            },
            EngineExit::Aborted => return Err(Error::Stopped),
        };
        Ok(RunSummary { exit, progress })
    }

    /// Waits until the run has ended, by itself (a bounded input is
    /// complete, or Redis refused a write for good) or on request; after it,
    /// [`Pipeline::finished`] returns at once with how. Cancel-safe, so a
    /// supervisor can wait on it beside its own requests.
    pub async fn ended(&mut self) {
        if let Some(done) = &mut self.engine_done {
            let exit = done.await.unwrap_or(Err(Error::Panicked {
                which: "engine thread",
            }));
            self.engine_done = None;
            self.engine_exit = Some(exit);
        }
    }

    /// Stops at once without a final checkpoint, as a crash would, and waits
    /// until every thread and task is gone (so the state directory and Redis
    /// can be reused at once).
    pub async fn crash(mut self) {
        self.shared.abort();
        if let Some(sink) = self.sink.take() {
            sink.abort();
            let _ = sink.await;
        }
        if let Some(thread) = self.engine_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        if let Some(http) = self.http.take() {
            http.shutdown().await;
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Everything still running stops at its next check; the engine thread
        // within one poll time-out.
        self.shared.abort();
        if let Some(sink) = self.sink.take() {
            sink.abort();
        }
        if let Some(http) = self.http.take() {
            http.abort();
        }
    }
}

/// The engine thread's state.
struct EngineLoop {
    engine: Engine,
    source: Source,
    dead_letters: DeadLetters,
    /// The sink's inbox (bounded: a full inbox blocks this thread).
    inbox: mpsc::Sender<SinkMessage>,
    control: std_mpsc::Receiver<Control>,
    shared: Arc<Shared>,
    checkpoint_interval: Duration,
    /// When the next periodic checkpoint is due; `None` when the interval
    /// reaches past what the clock can represent, i.e. never.
    next_checkpoint: Option<Instant>,
    /// Reused output buffer.
    outputs: Vec<Output>,
    /// Writes of the current batch.
    writes: Vec<RedisWrite>,
}

impl EngineLoop {
    /// Opens the source (positioned at the restored offsets) and builds or
    /// restores the engine. Runs on the engine thread: opening Kafka blocks.
    fn open(
        config: &PipelineConfig,
        restored: Option<Checkpoint>,
        inbox: mpsc::Sender<SinkMessage>,
        control: std_mpsc::Receiver<Control>,
        shared: Arc<Shared>,
    ) -> Result<EngineLoop> {
        let (source, dead_letters) = match &config.source {
            SourceSpec::File { path } => {
                let resume_at = restored
                    .as_ref()
                    .and_then(|c| c.next_offset(0))
                    .unwrap_or(0);
                (
                    Source::File(FileSource::open(path, resume_at)?),
                    DeadLetters::file(&config.state_dir)?,
                )
            }
            SourceSpec::Kafka {
                bootstrap_servers,
                topic,
                dead_letter_topic,
            } => {
                let kafka = KafkaSource::open(
                    bootstrap_servers,
                    topic,
                    restored.as_ref(),
                    config.bounded,
                    Arc::clone(&shared),
                )?;
                (
                    Source::Kafka(KafkaFeed::start(kafka, BATCH)?),
                    DeadLetters::kafka(bootstrap_servers, dead_letter_topic, Arc::clone(&shared))?,
                )
            }
        };
        let engine = match restored {
            Some(checkpoint) => {
                let path = config.restore.clone().unwrap_or_default();
                let restore_error = |source| Error::Restore {
                    path: path.clone(),
                    source,
                };
                checkpoint
                    .check_splits(&source.splits())
                    .map_err(restore_error)?;
                let mut engine =
                    Engine::restore(config.engine.clone(), checkpoint).map_err(restore_error)?;
                // Partitions added to the topic since the checkpoint.
                for split in source.splits() {
                    engine.add_split(split);
                }
                engine
            }
            None => Engine::new(config.engine.clone(), &source.splits()),
        };
        shared.publish(engine.stats(), engine.watermark());
        Ok(EngineLoop {
            engine,
            source,
            dead_letters,
            inbox,
            control,
            shared,
            checkpoint_interval: config.checkpoint_interval,
            next_checkpoint: Instant::now().checked_add(config.checkpoint_interval),
            outputs: Vec::new(),
            writes: Vec::new(),
        })
    }

    fn run(&mut self) -> Result<EngineExit> {
        loop {
            if self.shared.aborted() {
                return Ok(EngineExit::Aborted);
            }
            match self.control.try_recv() {
                Ok(Control::Savepoint(reply)) => {
                    self.barrier(BarrierKind::Savepoint, self.engine.snapshot(), Some(reply))?
                }
                Ok(Control::Stop { drain, reply }) => {
                    let state = if drain {
                        self.drain()?
                    } else {
                        self.engine.snapshot()
                    };
                    self.barrier(BarrierKind::Savepoint, state, Some(reply))?;
                    return Ok(EngineExit::Stopped);
                }
                Err(std_mpsc::TryRecvError::Empty) => {}
                // Every handle is gone: nobody can stop us gracefully any more.
                Err(std_mpsc::TryRecvError::Disconnected) => return Ok(EngineExit::Aborted),
            }
            let (engine, outputs) = (&mut self.engine, &mut self.outputs);
            let polled = self.source.poll(BATCH, &mut |split, offset, payload| {
                engine.process(split, offset, payload, outputs);
            })?;
            self.route_outputs()?;
            if polled == Polled::End {
                let state = self.drain()?;
                self.barrier(BarrierKind::Checkpoint, state, None)?;
                return Ok(EngineExit::Finished);
            }
            if self
                .next_checkpoint
                .is_some_and(|due| Instant::now() >= due)
            {
                self.barrier(BarrierKind::Checkpoint, self.engine.snapshot(), None)?;
                self.next_checkpoint = Instant::now().checked_add(self.checkpoint_interval);
            }
        }
    }

    /// Sends this batch's outputs on: writes to the sink (one message),
    /// metrics to the shared state, dead letters to their sink.
    fn route_outputs(&mut self) -> Result<()> {
        for output in self.outputs.drain(..) {
            match output {
                Output::Metrics(row) => self.shared.record_metrics(row),
                Output::DeadLetter(letter) => self.dead_letters.send(&letter, &self.shared)?,
                other => self.writes.extend(self.engine.config().redis_write(&other)),
            }
        }
        if !self.writes.is_empty() {
            let writes = std::mem::take(&mut self.writes);
            self.inbox
                .blocking_send(SinkMessage::Writes(writes))
                .map_err(|_| Error::Stopped)?;
        }
        self.shared
            .publish(self.engine.stats(), self.engine.watermark());
        Ok(())
    }

    /// Fires every window (end of input, `stop --drain`) and returns the
    /// state to resume from: the state *before* the drain. A run restored
    /// from it carries on as if the drain had not happened: events after it
    /// are on time as before, and the windows the drain fired early fire
    /// again when their time comes, their absolute writes replacing the early
    /// ones. (The state after a drain has a watermark past every window, so
    /// every later event would be dead-lettered as late. Flink restores no
    /// watermark and no fired window, and its docs warn against resuming a
    /// drained savepoint for that reason.)
    fn drain(&mut self) -> Result<Checkpoint> {
        let resume = self.engine.snapshot();
        self.engine.drain(&mut self.outputs);
        self.route_outputs()?;
        Ok(resume)
    }

    /// Flushes dead letters and sends a barrier with `state`.
    fn barrier(
        &mut self,
        kind: BarrierKind,
        state: Checkpoint,
        reply: Option<oneshot::Sender<Result<PathBuf>>>,
    ) -> Result<()> {
        self.dead_letters.flush()?;
        self.inbox
            .blocking_send(SinkMessage::Barrier(Barrier { kind, state, reply }))
            .map_err(|_| Error::Stopped)
    }
}

impl std::fmt::Debug for EngineLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineLoop")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Counters at the end of a run, for callers that only need numbers.
impl RunSummary {
    /// The engine's counters.
    pub fn stats(&self) -> &Stats {
        &self.progress.stats
    }
}
