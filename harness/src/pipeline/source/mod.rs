//! Where records come from: a JSON-lines file or a Kafka topic. A source
//! hands each record to the caller as `(split, offset, payload)`, in batches,
//! and says when a bounded input has ended. The file is read on the caller's
//! thread; Kafka is polled on a thread of its own (see `feed`).

mod feed;
mod file;
mod kafka;

use harness_pipeline::SplitId;

pub(crate) use self::{feed::KafkaFeed, file::FileSource, kafka::KafkaSource};
pub use self::{file::read_events_file, kafka::kafka_consumer_config};
use crate::pipeline::Result;

/// What one call to [`Source::poll`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Polled {
    /// Some records were handed over (more may follow).
    Records,
    /// Nothing arrived within the poll time-out (an unbounded source idles).
    Idle,
    /// A bounded input is complete: nothing more will come.
    End,
}

/// An open source.
#[derive(Debug)]
pub(crate) enum Source {
    /// JSON lines from a file: split 0, offset = line number from 0.
    File(FileSource),
    /// A Kafka topic: split = partition, offset = Kafka offset; consumed on
    /// a thread of its own.
    Kafka(KafkaFeed),
}

impl Source {
    /// The splits this source reads (for a fresh engine's watermark).
    pub(crate) fn splits(&self) -> Vec<SplitId> {
        match self {
            Source::File(_) => vec![0],
            Source::Kafka(kafka) => kafka.partitions(),
        }
    }

    /// Hands records to `handle`, in order within each split: up to `max`
    /// from a file, one consumer batch from Kafka.
    pub(crate) fn poll(
        &mut self,
        max: usize,
        handle: &mut dyn FnMut(SplitId, i64, &[u8]),
    ) -> Result<Polled> {
        match self {
            Source::File(file) => file.poll(max, handle),
            Source::Kafka(kafka) => kafka.poll(handle),
        }
    }
}
