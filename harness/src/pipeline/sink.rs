//! The Redis sink: executes the engine's [`RedisWrite`]s, and completes
//! checkpoint barriers once everything before them is acknowledged.
//!
//! Writes are pipelined. A round trip carries as many writes as fit both
//! [`MAX_COMMANDS_PER_ROUND_TRIP`] and [`MAX_BYTES_PER_ROUND_TRIP`] (a write
//! is never split), and the sink task coalesces: when it takes a batch from
//! its inbox it also takes the batches already queued behind it, up to a full
//! round trip, so a burst of small batches shares round trips. It never waits
//! for more than is queued: a lone batch is sent at once.
//!
//! A user-feature row is one `HSET`; a hot-item list is
//! `MULTI, DEL, ZADD, EXPIRE, EXEC`, so a reader never sees a half-written
//! list. A failed round trip is retried, with back-off, until it succeeds:
//! the writes are absolute, so repeating them is harmless, and retrying the
//! whole round trip keeps each key's writes in order. While the sink retries,
//! its bounded inbox fills and the engine thread blocks on it: backpressure
//! reaches the source, which simply stops polling. An error retrying cannot
//! fix (redis-rs's `RetryMethod::NoRetry`: a key of another type, a missing
//! ACL permission, out of memory) ends the run with the key named instead;
//! resending the batch for ever would only stall checkpoints.
//!
//! Checkpoint and savepoint barriers travel in the same inbox as the writes
//! (as Flink's barriers travel with the records). Coalescing stops at a
//! barrier: nothing behind it is taken until every write before it has been
//! acknowledged and the checkpoint written, so a checkpoint never claims
//! outputs that Redis does not have.

use std::{path::PathBuf, sync::Arc, time::Duration};

use harness_infra::RedisUrl;
use harness_pipeline::{checkpoint::Checkpoint, redis_model::RedisWrite};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{mpsc, oneshot};

use self::batching::Pending;
use crate::pipeline::{Error, Result, checkpoints::CheckpointStore, metrics::Shared};

mod batching;
#[cfg(test)]
mod tests;

/// The most commands sent in one pipelined round trip. Redis queues a
/// request's replies in memory until it has run every command of it; its
/// pipelining guide suggests batches of about 10,000 commands, which keeps
/// that queue small (here a few bytes per reply, `:8` or `+OK`, so tens of
/// KiB) while the cost of a round trip is spread over thousands of writes.
/// With the pipeline's writes (a user-feature `HSET` is about 300 bytes) the
/// byte cap binds first; this one binds for small commands, e.g. deletions
/// of emptied hot-item lists.
pub const MAX_COMMANDS_PER_ROUND_TRIP: usize = 10_000;

/// The most bytes (RESP-encoded, as sent) in one pipelined round trip: 1 MiB,
/// about 3,500 user-feature rows or 38 hot-item lists of 1,000 members.
/// It bounds how long one request takes, so that the connection's response
/// time-out (10 s, see [`RedisWriter::connect`]) is never reached by a slow
/// but healthy Redis: on this project's 2-core machine a full round trip of
/// user-feature rows takes about 12 ms end to end (the `redis_sink` bench:
/// 17,526 rows in 5 round trips, 61 ms), leaving a margin of ~800x, and even
/// a 10 Mbit/s link carries 1 MiB in under a second. It also bounds what a
/// failed round trip re-sends, and the request buffer redis-rs builds.
pub const MAX_BYTES_PER_ROUND_TRIP: usize = 1 << 20;

/// Batches of writes (and barriers) the sink may hold before the engine blocks.
pub(crate) const INBOX_CAPACITY: usize = 64;

/// Back-off between retries of a failed round trip.
const RETRY_MIN: Duration = Duration::from_millis(20);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// What the engine thread sends the sink, in order.
#[derive(Debug)]
pub(crate) enum SinkMessage {
    /// Writes to execute.
    Writes(Vec<RedisWrite>),
    /// Persist this state once everything before it is acknowledged.
    Barrier(Barrier),
}

/// A checkpoint or savepoint request travelling behind the writes it covers.
#[derive(Debug)]
pub(crate) struct Barrier {
    /// Checkpoint (numbered, pruned) or savepoint (kept).
    pub(crate) kind: BarrierKind,
    /// The engine state after the last record whose outputs precede this barrier.
    pub(crate) state: Checkpoint,
    /// Who wants the resulting path (a savepoint request).
    pub(crate) reply: Option<oneshot::Sender<Result<PathBuf>>>,
}

/// Which kind of snapshot a barrier asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BarrierKind {
    /// A periodic (or end-of-input) checkpoint.
    Checkpoint,
    /// A savepoint on request (or at stop).
    Savepoint,
}

/// Executes [`RedisWrite`]s against one Redis with pipelining and retries.
pub struct RedisWriter {
    /// Reconnects by itself after a failure (the next command waits for it).
    connection: ConnectionManager,
    /// For log messages (password redacted).
    url: RedisUrl,
    /// Counters shared with the metrics endpoint.
    shared: Arc<Shared>,
    /// Whether the last round trip failed (to log an outage once, not per retry).
    failing: bool,
    /// Reused command buffer.
    pipe: redis::Pipeline,
}

impl std::fmt::Debug for RedisWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisWriter")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RedisWriter {
    /// Connects on its own (outside a pipeline, e.g. in a benchmark),
    /// retrying for up to 10 s while Redis does not answer.
    pub async fn connect(url: &RedisUrl) -> Result<RedisWriter> {
        Self::connect_shared(url, Arc::default(), Duration::from_secs(10)).await
    }

    /// Pipelined requests Redis has acknowledged so far.
    pub fn round_trips(&self) -> u64 {
        self.shared
            .redis_round_trips
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Connects and checks that Redis accepts commands (a PING), retrying
    /// for up to `patience` while it is unreachable, or until the pipeline is
    /// aborted. A refused password, or a Redis that wants one the URL lacks,
    /// is final at once: retrying cannot fix it, and an unauthenticated
    /// connection would otherwise fail every write for ever.
    pub(crate) async fn connect_shared(
        url: &RedisUrl,
        shared: Arc<Shared>,
        patience: Duration,
    ) -> Result<RedisWriter> {
        let client = redis::Client::open(url.expose()).map_err(|source| Error::Redis {
            step: "parse the url of",
            url: url.redacted(),
            source,
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            // Applies to a whole pipelined request: ample for the
            // MAX_BYTES_PER_ROUND_TRIP that one carries at most.
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_millis(500));
        let give_up = std::time::Instant::now() + patience;
        let mut backoff = RETRY_MIN;
        let mut last_refusal: Option<redis::RedisError> = None;
        loop {
            let attempt = async {
                let mut connection = client
                    .get_connection_manager_with_config(config.clone())
                    .await?;
                redis::cmd("PING")
                    .query_async::<()>(&mut connection)
                    .await?;
                Ok::<_, redis::RedisError>(connection)
            };
            let left = give_up.saturating_duration_since(std::time::Instant::now());
            let outcome = tokio::time::timeout(left, attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(redis::RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer within {patience:?}"),
                    )))
                });
            match outcome {
                Ok(connection) => {
                    return Ok(RedisWriter {
                        connection,
                        url: url.clone(),
                        shared,
                        failing: false,
                        pipe: redis::pipe(),
                    });
                }
                Err(source) if is_auth_failure(&source) => {
                    return Err(Error::Redis {
                        step: "authenticate with",
                        url: url.redacted(),
                        source,
                    });
                }
                Err(source) if is_final_answer(&source) => {
                    return Err(Error::Redis {
                        step: "connect to",
                        url: url.redacted(),
                        source,
                    });
                }
                Err(err) if !shared.aborted() && std::time::Instant::now() < give_up => {
                    if last_refusal.is_none() {
                        tracing::warn!(redis = %url, error = %err, "redis is not reachable yet; retrying");
                    }
                    last_refusal = Some(err);
                    tokio::time::sleep(backoff.min(left)).await;
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
                Err(err) => {
                    // An attempt cut short by the deadline says less than
                    // the refusal before it ("connection refused").
                    let source = match last_refusal {
                        Some(refusal) if err.is_timeout() => refusal,
                        _ => err,
                    };
                    return Err(Error::Redis {
                        step: "connect to",
                        url: url.redacted(),
                        source,
                    });
                }
            }
        }
    }

    /// Executes `writes` in order, in as few round trips as the caps allow
    /// (see [`round_trip_len`]), each retried until it succeeds. Returns
    /// early when the pipeline is aborted, or with [`Error::RedisRefused`]
    /// when Redis refuses a write for good.
    pub async fn execute(&mut self, writes: &[RedisWrite]) -> Result<()> {
        let mut rest = writes;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(round_trip_len(rest));
            self.round_trip(chunk).await?;
            rest = tail;
        }
        Ok(())
    }

    async fn round_trip(&mut self, chunk: &[RedisWrite]) -> Result<()> {
        self.pipe.clear();
        for write in chunk {
            add_commands(&mut self.pipe, write);
        }
        let mut backoff = RETRY_MIN;
        loop {
            match self.pipe.query_async::<()>(&mut self.connection).await {
                Ok(()) => {
                    self.shared
                        .redis_round_trips
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if self.failing {
                        tracing::info!(redis = %self.url, "redis is reachable again; writes resumed");
                        self.failing = false;
                    }
                    return Ok(());
                }
                Err(err) if matches!(err.retry_method(), redis::RetryMethod::NoRetry) => {
                    let key = refused_key(chunk, &err).to_owned();
                    tracing::error!(redis = %self.url, %key, error = %err, "redis refused a write; stopping");
                    return Err(Error::RedisRefused {
                        url: self.url.redacted(),
                        key,
                        source: err,
                    });
                }
                Err(err) => {
                    if self.shared.aborted() {
                        return Err(Error::Stopped);
                    }
                    self.shared
                        .redis_retries
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if !self.failing {
                        tracing::warn!(redis = %self.url, error = %err, "redis write failed; retrying until it succeeds");
                        self.failing = true;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

/// Whether Redis refused the credentials (`WRONGPASS`, an auth failure while
/// connecting) or wants some the URL does not carry (`NOAUTH`).
fn is_auth_failure(err: &redis::RedisError) -> bool {
    matches!(err.kind(), redis::ErrorKind::AuthenticationFailed)
        || matches!(err.code(), Some("NOAUTH" | "WRONGPASS"))
}

/// Whether Redis answered the connection's set-up with an error that waiting
/// will not change (`ERR DB index is out of range` for a `/99` database):
/// any error reply but those of a server still starting or failing over.
fn is_final_answer(err: &redis::RedisError) -> bool {
    err.code().is_some_and(|code| {
        !matches!(
            code,
            "LOADING" | "BUSY" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN"
        )
    })
}

/// How many of `writes`, from the front, the sink sends in one round trip:
/// as many as fit [`MAX_COMMANDS_PER_ROUND_TRIP`] and
/// [`MAX_BYTES_PER_ROUND_TRIP`], and at least one however large.
pub fn round_trip_len(writes: &[RedisWrite]) -> usize {
    batching::next_round_trip(writes).0
}

/// The key of the write holding the first command `err` names (by its
/// index in the round trip, as [`add_commands`] laid the commands out).
fn refused_key<'a>(chunk: &'a [RedisWrite], err: &redis::RedisError) -> &'a str {
    let index = err
        .clone()
        .into_server_errors()
        .and_then(|errors| errors.first().map(|(index, _)| *index))
        .unwrap_or(0);
    let mut first_command = 0;
    for write in chunk {
        let (key, commands) = match write {
            RedisWrite::Hash { key, .. } => (key, 1),
            RedisWrite::ReplaceZset { key, members, .. } if members.is_empty() => (key, 1),
            RedisWrite::ReplaceZset { key, .. } => (key, 5),
        };
        if index < first_command + commands {
            return key;
        }
        first_command += commands;
    }
    chunk.first().map_or("", |write| match write {
        RedisWrite::Hash { key, .. } | RedisWrite::ReplaceZset { key, .. } => key,
    })
}

fn add_commands(pipe: &mut redis::Pipeline, write: &RedisWrite) {
    match write {
        RedisWrite::Hash { key, fields } => {
            let cmd = pipe.cmd("HSET").arg(key);
            for (field, value) in fields {
                cmd.arg(*field).arg(value);
            }
            cmd.ignore();
        }
        RedisWrite::ReplaceZset { key, members, .. } if members.is_empty() => {
            pipe.cmd("DEL").arg(key).ignore();
        }
        RedisWrite::ReplaceZset {
            key,
            members,
            ttl_secs,
        } => {
            pipe.cmd("MULTI").ignore();
            pipe.cmd("DEL").arg(key).ignore();
            let zadd = pipe.cmd("ZADD").arg(key);
            for (member, score) in members {
                zadd.arg(*score).arg(member);
            }
            zadd.ignore();
            pipe.cmd("EXPIRE").arg(key).arg(*ttl_secs).ignore();
            pipe.cmd("EXEC").ignore();
        }
    }
}

/// The sink task: executes writes and completes barriers, in arrival order,
/// until the engine thread closes the inbox. Each round trip takes what is
/// already queued, up to a full round trip, but never waits for more; a
/// barrier ends the taking until the writes before it are acknowledged.
pub(crate) async fn run(
    mut inbox: mpsc::Receiver<SinkMessage>,
    mut writer: RedisWriter,
    mut store: CheckpointStore,
    shared: Arc<Shared>,
) -> Result<()> {
    let mut pending = Pending::default();
    // A barrier taken from the inbox; `pending` holds exactly the writes
    // before it, and nothing more is taken until it is completed.
    let mut barrier = None;
    loop {
        if pending.is_empty() {
            if let Some(barrier) = barrier.take() {
                complete(barrier, &mut store, &shared);
            }
            match inbox.recv().await {
                Some(message) => take(message, &mut pending, &mut barrier),
                None => return Ok(()),
            }
        }
        while barrier.is_none() && !pending.fills_round_trip() {
            match inbox.try_recv() {
                Ok(message) => take(message, &mut pending, &mut barrier),
                // Empty: send what we have now. Closed: the next recv says so.
                Err(_) => break,
            }
        }
        if !pending.is_empty() {
            let (writes, size) = pending.next_round_trip();
            let count = writes.len();
            writer.round_trip(writes).await?;
            pending.acknowledged(count, size);
        }
    }
}

/// Queues a message's writes, or holds its barrier.
fn take(message: SinkMessage, pending: &mut Pending, barrier: &mut Option<Barrier>) {
    match message {
        SinkMessage::Writes(writes) => pending.push(writes),
        SinkMessage::Barrier(held) => *barrier = Some(held),
    }
}

/// Writes a barrier's checkpoint or savepoint (every write before it is
/// acknowledged) and answers whoever asked for it.
fn complete(barrier: Barrier, store: &mut CheckpointStore, shared: &Shared) {
    let Barrier { kind, state, reply } = barrier;
    let written = match kind {
        BarrierKind::Checkpoint => store.write_checkpoint(&state),
        BarrierKind::Savepoint => store.write_savepoint(&state),
    };
    match (&written, kind) {
        (Ok(path), BarrierKind::Checkpoint) => {
            tracing::debug!(path = %path.display(), "checkpoint written");
            shared.checkpoint_written(path.clone());
        }
        (Ok(path), BarrierKind::Savepoint) => {
            tracing::info!(path = %path.display(), "savepoint written");
            shared.savepoint_written(path.clone());
        }
        (Err(err), _) => tracing::error!(error = %err, "writing a {kind:?} failed"),
    }
    match reply {
        Some(reply) => {
            let _ = reply.send(written);
        }
        // A failed periodic checkpoint is not fatal: the next one may
        // succeed, and restores use the last good one.
        None => drop(written),
    }
}
