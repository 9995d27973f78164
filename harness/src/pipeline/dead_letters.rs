//! Where dead letters (malformed events, and events late for every window)
//! go: the Kafka topic `user_behaviors_dlq` for the Kafka source, with the
//! reason in a `reason` header and the source partition and offset in
//! `source_partition` / `source_offset` headers; or `<state-dir>/dead-letters.jsonl`
//! for the file source.
//!
//! Delivery is at least once: dead letters are flushed before each barrier,
//! and the records after a restored checkpoint are processed (and
//! dead-lettered) again. A dead-letter topic that stays unreachable does not
//! hold the pipeline: after [`FLUSH_TIMEOUT`] the barrier proceeds and the
//! undelivered letters are counted (`pipeline_dead_letters_undelivered_total`).
//!
//! A letter keeps at most [`MAX_TOPIC_PAYLOAD`] bytes of its record on the
//! topic (Kafka refuses messages over ~1 MB by default); a cut letter says so
//! in a `payload_bytes` header with the record's whole length, and its source
//! partition and offset still find the whole record. A letter the producer
//! refuses for any reason but a full queue is counted as undelivered, never
//! retried: retrying a permanent refusal would stall the engine.

use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Write as _},
    path::{Path, PathBuf},
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use harness_pipeline::{DeadLetter, DeadLetterReason};
use rdkafka::{
    ClientContext,
    error::KafkaError,
    message::{Header, OwnedHeaders},
    producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext},
    types::RDKafkaErrorCode,
};
use serde::Serialize;

use crate::pipeline::{Error, Result, metrics::Shared};

/// The dead-letter topic of the Kafka source.
pub const DEAD_LETTER_TOPIC: &str = "user_behaviors_dlq";

/// The dead-letter file of the file source, inside the state directory.
pub const DEAD_LETTER_FILE: &str = "dead-letters.jsonl";

/// The most of a record a letter on the topic carries: well under the
/// client's and the broker's default `message.max.bytes` (1,000,000 and
/// 1,048,588), leaving room for headers and framing.
pub const MAX_TOPIC_PAYLOAD: usize = 512 * 1024;

/// How long a barrier waits for the dead-letter topic to accept letters.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// A sink for dead letters.
pub(crate) enum DeadLetters {
    /// Produce to a Kafka topic.
    Kafka {
        /// Polled on the engine thread (no thread of its own: a
        /// `ThreadedProducer` takes up to its poll interval to stop);
        /// delivery failures are counted by its context.
        producer: BaseProducer<DeliveryCounter>,
        /// The topic.
        topic: String,
    },
    /// Append JSON lines to a file.
    File {
        /// Buffered; flushed at every barrier and at the end.
        writer: BufWriter<File>,
        /// For error messages.
        path: PathBuf,
    },
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeadLetters::Kafka { topic, .. } => write!(f, "DeadLetters::Kafka({topic})"),
            DeadLetters::File { path, .. } => write!(f, "DeadLetters::File({})", path.display()),
        }
    }
}

/// Counts dead letters the topic did not accept.
pub(crate) struct DeliveryCounter(Arc<Shared>);

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((err, _)) = result {
            count_undelivered(&self.0, err);
        }
    }
}

/// Counts a letter that will not reach the topic; warns for the first.
fn count_undelivered(shared: &Shared, err: &KafkaError) {
    if shared.dead_letters_undelivered.fetch_add(1, Relaxed) == 0 {
        tracing::warn!(error = %err, "a dead letter could not be delivered (further failures are only counted)");
    }
}

/// One line of the dead-letter file.
#[derive(Serialize)]
struct FileLetter<'a> {
    split: i32,
    offset: i64,
    reason: &'a DeadLetterReason,
    /// The record as read (lossy UTF-8; malformed input may not be text).
    payload: std::borrow::Cow<'a, str>,
}

impl DeadLetters {
    /// A producer to `topic` on `bootstrap`.
    pub(crate) fn kafka(bootstrap: &str, topic: &str, shared: Arc<Shared>) -> Result<Self> {
        let producer = harness_infra::kafka::client_config(bootstrap)
            .set("linger.ms", "20")
            // Give up on a letter after this long (counted, see the module doc).
            .set("message.timeout.ms", "30000")
            .create_with_context(DeliveryCounter(shared))
            .map_err(|source| Error::kafka("create the dead-letter producer", source))?;
        Ok(DeadLetters::Kafka {
            producer,
            topic: topic.to_owned(),
        })
    }

    /// Appends to `<state_dir>/dead-letters.jsonl`, first cutting off a
    /// half-written last line that a crash or kill left behind (its letter
    /// is after the last checkpoint, so a restored run writes it again).
    pub(crate) fn file(state_dir: &Path) -> Result<Self> {
        let path = state_dir.join(DEAD_LETTER_FILE);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::io("open", &path, source))?;
        let dropped =
            trim_partial_line(&file).map_err(|source| Error::io("repair", &path, source))?;
        if dropped > 0 {
            tracing::warn!(path = %path.display(), bytes = dropped, "dropped a half-written dead letter left by an interrupted run");
        }
        Ok(DeadLetters::File {
            writer: BufWriter::new(file),
            path,
        })
    }

    /// Sends one letter (buffered).
    pub(crate) fn send(&mut self, letter: &DeadLetter, shared: &Shared) -> Result<()> {
        match self {
            DeadLetters::Kafka { producer, topic } => {
                let reason = letter.reason.to_string();
                let partition = letter.split.to_string();
                let offset = letter.offset.to_string();
                let whole = letter.payload.len().to_string();
                let cut = letter.payload.len() > MAX_TOPIC_PAYLOAD;
                let mut headers = OwnedHeaders::new_with_capacity(4)
                    .insert(Header {
                        key: "reason",
                        value: Some(reason.as_str()),
                    })
                    .insert(Header {
                        key: "source_partition",
                        value: Some(partition.as_str()),
                    })
                    .insert(Header {
                        key: "source_offset",
                        value: Some(offset.as_str()),
                    });
                if cut {
                    headers = headers.insert(Header {
                        key: "payload_bytes",
                        value: Some(whole.as_str()),
                    });
                }
                let payload = &letter.payload[..letter.payload.len().min(MAX_TOPIC_PAYLOAD)];
                let mut record = BaseRecord::<(), [u8]>::to(topic)
                    .payload(payload)
                    .headers(headers);
                // A full local queue means the topic is slow or away: wait
                // for room (backpressure), unless the pipeline is aborting.
                loop {
                    match producer.send(record) {
                        Ok(()) => {
                            // Serve delivery reports without waiting.
                            producer.poll(Duration::ZERO);
                            return Ok(());
                        }
                        Err((_, _)) if shared.aborted() => return Err(Error::Stopped),
                        Err((
                            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                            returned,
                        )) => {
                            record = returned;
                            producer.poll(Duration::from_millis(10));
                        }
                        Err((err, _)) => {
                            count_undelivered(shared, &err);
                            return Ok(());
                        }
                    }
                }
            }
            DeadLetters::File { writer, path } => {
                let line = FileLetter {
                    split: letter.split,
                    offset: letter.offset,
                    reason: &letter.reason,
                    payload: String::from_utf8_lossy(&letter.payload),
                };
                serde_json::to_writer(&mut *writer, &line)
                    .map_err(std::io::Error::from)
                    .and_then(|()| writer.write_all(b"\n"))
                    .map_err(|source| Error::io("write a dead letter to", path.clone(), source))
            }
        }
    }

    /// Makes everything sent so far durable (see the module doc for the
    /// Kafka time-out).
    pub(crate) fn flush(&mut self) -> Result<()> {
        match self {
            DeadLetters::Kafka { producer, .. } => {
                if let Err(err) = producer.flush(FLUSH_TIMEOUT) {
                    tracing::warn!(error = %err, "the dead-letter topic did not take every letter in time; continuing");
                }
                Ok(())
            }
            DeadLetters::File { writer, path } => writer
                .flush()
                .map_err(|source| Error::io("flush", path.clone(), source)),
        }
    }
}

/// Truncates `file` after its last newline; returns how many bytes went.
fn trim_partial_line(file: &File) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt as _;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let piece = &mut chunk[..(end - start) as usize];
        file.read_exact_at(piece, start)?;
        if let Some(newline) = piece.iter().rposition(|&b| b == b'\n') {
            let keep = start + newline as u64 + 1;
            if keep < len {
                file.set_len(keep)?;
            }
            return Ok(len - keep);
        }
        end = start;
    }
    if len > 0 {
        file.set_len(0)?;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_written_last_letter_is_cut_off_before_appending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DEAD_LETTER_FILE);
        let whole = "{\"split\":0,\"offset\":1,\"reason\":\"late\",\"payload\":\"a\"}\n";
        std::fs::write(&path, format!("{whole}{{\"split\":0,\"offset\":2,\"rea")).expect("write");
        let mut letters = DeadLetters::file(dir.path()).expect("open");
        letters
            .send(
                &DeadLetter {
                    split: 0,
                    offset: 2,
                    reason: DeadLetterReason::Late,
                    payload: b"b".to_vec(),
                },
                &Shared::default(),
            )
            .expect("send");
        letters.flush().expect("flush");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        for line in lines {
            serde_json::from_str::<serde_json::Value>(line).expect("every line is whole JSON");
        }
        assert_eq!(
            trim_partial_line(&File::open(&path).expect("open")).expect("trim"),
            0
        );
    }

    #[tokio::test]
    async fn an_oversized_letter_reaches_the_topic_cut_and_marked() -> anyhow::Result<()> {
        use harness_infra::{
            kafka::{Kafka, partition_reader},
            spec::KafkaSpec,
        };
        use rdkafka::{Message as _, consumer::Consumer as _, message::Headers as _};

        let kafka = Kafka::start(&KafkaSpec::default()).await?;
        kafka.create_topic(DEAD_LETTER_TOPIC, 1).await?;
        let shared = Arc::new(Shared::default());
        let mut letters =
            DeadLetters::kafka(kafka.bootstrap_servers(), DEAD_LETTER_TOPIC, shared.clone())?;
        // Over the client's 1,000,000-byte message limit, which refuses it
        // at once and for good: sending it whole used to retry forever.
        let big = vec![b'x'; 1_500_000];
        for (offset, payload) in [(1, big.clone()), (2, b"small".to_vec())] {
            letters.send(
                &DeadLetter {
                    split: 0,
                    offset,
                    reason: DeadLetterReason::Late,
                    payload,
                },
                &shared,
            )?;
        }
        letters.flush()?;
        assert_eq!(shared.dead_letters_undelivered.load(Relaxed), 0);

        let reader = partition_reader(kafka.bootstrap_servers(), "t", DEAD_LETTER_TOPIC, 0)?;
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while seen.len() < 2 && std::time::Instant::now() < deadline {
            let Some(message) = reader.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message?;
            let whole = message.headers().and_then(|headers| {
                headers
                    .iter()
                    .find(|h| h.key == "payload_bytes")
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            });
            seen.push((message.payload().map_or(0, <[u8]>::len), whole));
        }
        reader.unassign()?;
        assert_eq!(
            seen,
            [(MAX_TOPIC_PAYLOAD, Some("1500000".to_owned())), (5, None)]
        );
        Ok(())
    }

    #[test]
    fn a_file_without_any_newline_is_emptied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("partial");
        std::fs::write(&path, "{\"split\"").expect("write");
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .expect("open");
        assert_eq!(trim_partial_line(&file).expect("trim"), 8);
        assert_eq!(std::fs::read(&path).expect("read").len(), 0);
    }
}
