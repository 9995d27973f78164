//! The Kafka source: a `BaseConsumer` polled on a thread of its own (see
//! `feed`), with
//! every partition of the topic assigned explicitly (no consumer group, no
//! committed offsets): positions come from the checkpoint being restored, as
//! Flink's Kafka source takes them from its state, else from the earliest
//! offset.
//!
//! librdkafka fetches in its own threads, so polling here only takes
//! messages from a local queue. A broker outage is logged once when it starts and once when records
//! flow again; librdkafka reconnects by itself and the source keeps polling.
//!
//! Bounded mode reads up to the high watermarks seen at start and then ends.
//! (nisshi 0.6.0's memory storage reports wrong high watermarks; use the
//! embedded or a real broker for bounded runs, or count records instead.)
//!
//! An offset jump inside a partition means the broker no longer had those
//! records; with the embedded mock cluster that is its retention cap (see
//! `harness_infra::kafka::embedded`). It is logged and counted
//! (`pipeline_kafka_offset_gaps_total`), and the output will miss them.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
    time::Duration,
};

use harness_infra::kafka::OffsetContinuity;
use harness_pipeline::{SplitId, checkpoint::Checkpoint};
use rdkafka::{
    ClientConfig, ClientContext, Message, Offset, TopicPartitionList,
    config::RDKafkaLogLevel,
    consumer::{BaseConsumer, Consumer, ConsumerContext},
    error::KafkaError,
};

use super::Polled;
use crate::pipeline::{Error, Result, metrics::Shared};

/// How long one poll waits when nothing is queued (bounds how quickly the
/// engine thread notices a control request while idle).
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// How long metadata requests at start may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The client settings of the pipeline's Kafka consumer for `bootstrap`
/// (`host:port[,...]`). Public so that a bare consumer measured against the
/// pipeline (the `end_to_end` bench) reads exactly as the source does.
pub fn kafka_consumer_config(bootstrap: &str) -> ClientConfig {
    let mut config = harness_infra::kafka::client_config(bootstrap);
    config
        // librdkafka refuses assign() without a group.id; nothing is
        // committed to it and it never joins the group.
        .set("group.id", "harness-pipeline")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Return fetched data at once instead of waiting up to 500 ms for more.
        .set("fetch.wait.max.ms", "10")
        // When the fetcher runs ahead of the engine, the local queue passes
        // librdkafka's thresholds (queued.min.messages) and every
        // partition's next fetch is put off by this much (default 1,000 ms):
        // the end_to_end bench saw a ~0.9 s stall per 160,000 records.
        // Re-check after 10 ms instead.
        .set("fetch.queue.backoff.ms", "10");
    config
}

/// An assigned topic.
pub(crate) struct KafkaSource {
    /// The consumer; its context logs outages.
    consumer: BaseConsumer<SourceContext>,
    /// Its partitions, ascending.
    partitions: Vec<SplitId>,
    /// Bounded mode: the offset each partition must reach.
    end: Option<BTreeMap<SplitId, i64>>,
    /// The next offset per partition.
    position: BTreeMap<SplitId, i64>,
    /// Detects records the broker no longer had.
    continuity: OffsetContinuity,
    /// Counters.
    shared: Arc<Shared>,
    /// Shared with the consumer's context; see [`KafkaSource::closing`].
    closing: Arc<AtomicBool>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("partitions", &self.partitions)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// Logs the start and end of an outage once, and counts errors.
struct SourceContext {
    shared: Arc<Shared>,
    /// Whether an error was seen since records last flowed.
    in_outage: AtomicBool,
    /// Set once the source is being shut down: a broker that goes away now
    /// (a scenario stopping its Kafka after its job) is no outage to warn of.
    closing: Arc<AtomicBool>,
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // librdkafka narrates every reconnect attempt: keep it at debug.
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                tracing::error!(target: "librdkafka", "{facility}: {message}");
            }
            _ => tracing::debug!(target: "librdkafka", "{facility}: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.shared.kafka_errors.fetch_add(1, Relaxed);
        if self.closing.load(Relaxed) {
            tracing::debug!(%error, reason, "kafka error while the source closes");
            return;
        }
        if !self.in_outage.swap(true, Relaxed) {
            tracing::warn!(%error, reason, "kafka is not reachable; librdkafka keeps reconnecting and the source keeps polling");
        }
    }
}

impl ConsumerContext for SourceContext {}

impl KafkaSource {
    /// Assigns every partition of `topic`, positioned at `restore`'s offsets
    /// (or the earliest offset); in bounded mode also reads the end offsets.
    pub(crate) fn open(
        bootstrap: &str,
        topic: &str,
        restore: Option<&Checkpoint>,
        bounded: bool,
        shared: Arc<Shared>,
    ) -> Result<Self> {
        let closing = Arc::new(AtomicBool::new(false));
        let context = SourceContext {
            shared: Arc::clone(&shared),
            in_outage: AtomicBool::new(false),
            closing: Arc::clone(&closing),
        };
        let consumer: BaseConsumer<SourceContext> = kafka_consumer_config(bootstrap)
            .create_with_context(context)
            .map_err(|source| Error::kafka("create the kafka consumer", source))?;
        let metadata = consumer
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .map_err(|source| Error::kafka(format!("fetch metadata of {topic}"), source))?;
        let partitions: Vec<SplitId> = harness_infra::kafka::partition_ids(&metadata, topic);
        if partitions.is_empty() {
            return Err(Error::TopicMissing {
                topic: topic.to_owned(),
                bootstrap: bootstrap.to_owned(),
            });
        }
        let mut assignment = TopicPartitionList::new();
        let mut continuity = OffsetContinuity::default();
        let mut position = BTreeMap::new();
        for &partition in &partitions {
            let start = restore.and_then(|checkpoint| checkpoint.next_offset(partition));
            let offset = start.map_or(Offset::Beginning, Offset::Offset);
            assignment
                .add_partition_offset(topic, partition, offset)
                .map_err(|source| Error::kafka(format!("assign {topic}/{partition}"), source))?;
            // A fresh topic starts at 0; anything else is a gap worth reporting.
            continuity.expect(partition, start.unwrap_or(0));
            position.insert(partition, start.unwrap_or(0));
        }
        let end = if bounded {
            let mut end = BTreeMap::new();
            for &partition in &partitions {
                let (_, high) = consumer
                    .fetch_watermarks(topic, partition, METADATA_TIMEOUT)
                    .map_err(|source| {
                        Error::kafka(
                            format!("fetch the end offset of {topic}/{partition}"),
                            source,
                        )
                    })?;
                end.insert(partition, high);
            }
            Some(end)
        } else {
            None
        };
        consumer
            .assign(&assignment)
            .map_err(|source| Error::kafka(format!("assign {topic}"), source))?;
        tracing::info!(topic, ?partitions, bounded, "kafka source assigned");
        Ok(KafkaSource {
            consumer,
            partitions,
            end,
            position,
            continuity,
            shared,
            closing,
        })
    }

    /// The flag that, once set, tells the source it is shutting down: the
    /// feed's stop flag, so Kafka errors after it are logged at debug only.
    pub(crate) fn closing(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.closing)
    }

    /// The assigned partitions.
    pub(crate) fn partitions(&self) -> Vec<SplitId> {
        self.partitions.clone()
    }

    /// Hands up to `max` records to `handle`. Waits up to [`POLL_TIMEOUT`]
    /// for the first; takes the rest only if already queued.
    pub(crate) fn poll(
        &mut self,
        max: usize,
        handle: &mut dyn FnMut(SplitId, i64, &[u8]),
    ) -> Polled {
        if self.finished() {
            return Polled::End;
        }
        let mut handed = 0;
        let mut timeout = POLL_TIMEOUT;
        while handed < max {
            let Some(result) = self.consumer.poll(timeout) else {
                break;
            };
            timeout = Duration::ZERO;
            let message = match result {
                Ok(message) => message,
                Err(error) => {
                    self.consumer.context().error(error, "poll");
                    continue;
                }
            };
            let (partition, offset) = (message.partition(), message.offset());
            if let Some(end) = self.end.as_ref().and_then(|end| end.get(&partition)) {
                // Bounded: records produced after the start are not ours.
                if offset >= *end {
                    continue;
                }
            }
            if let Some(gap) = self.continuity.observe(partition, offset) {
                self.shared.offset_gaps.fetch_add(1, Relaxed);
                tracing::warn!(
                    partition,
                    expected = gap.expected,
                    got = gap.got,
                    "kafka offsets jumped: {} records were no longer on the broker (deleted by retention; the embedded provider keeps only ~5 MiB per partition)",
                    gap.skipped()
                );
            }
            self.position.insert(partition, offset + 1);
            handle(partition, offset, message.payload().unwrap_or_default());
            handed += 1;
        }
        if handed > 0 && self.consumer.context().in_outage.swap(false, Relaxed) {
            tracing::info!("kafka is reachable again; records are flowing");
        }
        if self.finished() {
            Polled::End
        } else if handed > 0 {
            Polled::Records
        } else {
            Polled::Idle
        }
    }

    /// Bounded mode: every partition has reached its end offset.
    fn finished(&self) -> bool {
        self.end.as_ref().is_some_and(|end| {
            end.iter().all(|(partition, end)| {
                self.position.get(partition).is_some_and(|next| next >= end)
            })
        })
    }
}
