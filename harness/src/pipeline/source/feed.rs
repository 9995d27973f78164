//! Runs the Kafka source on a thread of its own, so polling librdkafka and
//! running the engine overlap instead of taking turns on one thread.
//!
//! The consumer thread copies each batch of records into one contiguous
//! buffer (one `memcpy` per record, no allocation per record) and sends it
//! over a bounded channel; the engine thread hands the records to the engine
//! and sends the buffer back for reuse. The channel holds at most
//! [`BATCHES_IN_FLIGHT`] batches, so a slow engine stops the consumer
//! (backpressure) and librdkafka's own prefetch limits apply behind it.

use std::{
    ops::Range,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering::Relaxed},
        mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel},
    },
    time::Duration,
};

use harness_pipeline::SplitId;

use super::{KafkaSource, Polled};
use crate::pipeline::{Error, Result};

/// Batches the consumer may be ahead of the engine.
const BATCHES_IN_FLIGHT: usize = 4;

/// How long the engine waits for a batch before reporting idle (so it can
/// serve control requests and checkpoints).
const IDLE_AFTER: Duration = Duration::from_millis(100);

/// A batch of records in one buffer.
#[derive(Debug, Default)]
struct Batch {
    /// The payloads, back to back.
    bytes: Vec<u8>,
    /// (split, offset, range in `bytes`) per record, in consumption order.
    records: Vec<(SplitId, i64, Range<usize>)>,
    /// The source reported the end of a bounded input after these records.
    end: bool,
}

/// The engine's side of a Kafka source running on its own thread.
#[derive(Debug)]
pub(crate) struct KafkaFeed {
    /// The source's partitions.
    partitions: Vec<SplitId>,
    /// Filled batches from the consumer thread.
    batches: Receiver<Batch>,
    /// Emptied batches back to the consumer thread.
    recycle: SyncSender<Batch>,
    /// Tells the consumer thread to stop; it also stops when `batches` is
    /// dropped. The thread is not joined: it closes its consumer (which
    /// rdkafka does in 100 ms polls) and ends on its own.
    stop: Arc<AtomicBool>,
    /// The bounded input has ended.
    ended: bool,
}

impl KafkaFeed {
    /// Moves `source` to a new consumer thread with `batch_size` records per batch.
    pub(crate) fn start(mut source: KafkaSource, batch_size: usize) -> Result<Self> {
        let partitions = source.partitions();
        let (batch_tx, batches) = sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        // One more than can be in flight, so returning a buffer never blocks.
        let (recycle, recycled) = sync_channel::<Batch>(BATCHES_IN_FLIGHT + 2);
        // The source's own closing flag: once the feed stops, errors from a
        // broker going away are expected, not an outage.
        let stop = source.closing();
        let thread_stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("pipeline-kafka".into())
            .spawn(move || {
                while !thread_stop.load(Relaxed) {
                    let mut batch: Batch = recycled.try_recv().unwrap_or_default();
                    let polled = source.poll(batch_size, &mut |split, offset, payload| {
                        let start = batch.bytes.len();
                        batch.bytes.extend_from_slice(payload);
                        batch
                            .records
                            .push((split, offset, start..batch.bytes.len()));
                    });
                    batch.end = polled == Polled::End;
                    if (!batch.records.is_empty() || batch.end) && batch_tx.send(batch).is_err() {
                        return;
                    }
                    if polled == Polled::End {
                        return;
                    }
                }
            })
            .map_err(|source| Error::io("start the kafka thread", "pipeline-kafka", source))?;
        Ok(KafkaFeed {
            partitions,
            batches,
            recycle,
            stop,
            ended: false,
        })
    }

    /// The assigned partitions.
    pub(crate) fn partitions(&self) -> Vec<SplitId> {
        self.partitions.clone()
    }

    /// Hands the next batch's records to `handle`.
    pub(crate) fn poll(&mut self, handle: &mut dyn FnMut(SplitId, i64, &[u8])) -> Result<Polled> {
        if self.ended {
            return Ok(Polled::End);
        }
        let mut batch = match self.batches.recv_timeout(IDLE_AFTER) {
            Ok(batch) => batch,
            Err(RecvTimeoutError::Timeout) => return Ok(Polled::Idle),
            // It only ends after sending the end of a bounded input.
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Error::Panicked {
                    which: "kafka consumer thread",
                });
            }
        };
        for (split, offset, range) in &batch.records {
            handle(*split, *offset, &batch.bytes[range.clone()]);
        }
        self.ended = batch.end;
        batch.bytes.clear();
        batch.records.clear();
        batch.end = false;
        let _ = self.recycle.try_send(batch);
        Ok(if self.ended {
            Polled::End
        } else {
            Polled::Records
        })
    }
}

impl Drop for KafkaFeed {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}
