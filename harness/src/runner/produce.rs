//! `produce`: a slice of a seeded generated dataset, or a JSON-lines file,
//! into a Kafka topic. Records are keyed by user id (when the event has one)
//! and placed by librdkafka's partitioner; the step waits until every record
//! is acknowledged, then records the partition and offset of each under the
//! dataset's name (see [`super::datasets`]).
//!
//! One request is in flight per connection, so a retried batch can never
//! overtake an earlier one: within a partition, the production order is the
//! order a consumer reads, which is what the oracle needs.
//!
//! The deadline is real time: it bounds work against a real broker.

use std::{sync::Mutex, time::Duration};

use harness_pipeline::{GeneratedKind, Generator};
use rdkafka::{
    ClientContext, Message,
    producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer},
    types::RDKafkaErrorCode,
};

use super::{
    context::Ctx,
    datasets::{Dataset, Record},
    deadline::Deadline,
    report::Failure,
};
use crate::scenario::pipeline_verbs::{Generate, Produce};

/// A record to send, before it has a place.
struct Outgoing {
    key: Option<String>,
    payload: Vec<u8>,
}

/// Runs a `produce` step; returns notes (what was produced, where the files are).
pub(crate) async fn run(
    ctx: &mut Ctx<'_>,
    produce: &Produce,
    deadline: &Deadline,
) -> Result<Vec<String>, Failure> {
    let topic = ctx.expand(&produce.topic)?;
    let bootstrap = match &produce.bootstrap_servers {
        Some(servers) => ctx.expand(servers)?,
        None => ctx.infra_var("infra.kafka.bootstrapServers")?,
    };
    if let Some(existing) = ctx.datasets.get(&produce.dataset)
        && (existing.topic != topic || existing.bootstrap_servers != bootstrap)
    {
        return Err(Failure::new(format!(
            "dataset {:?} went to topic {} on {}; a dataset stays on one topic",
            produce.dataset, existing.topic, existing.bootstrap_servers
        )));
    }
    let (outgoing, mut notes) = match (&produce.generate, &produce.file) {
        (Some(generate), _) => generated(generate)?,
        (None, Some(file)) => from_file(ctx, file)?,
        (None, None) => {
            return Err(Failure::new(
                "a produce step needs \"generate\" or \"file\"",
            ));
        }
    };
    let partitions = harness_infra::kafka::partition_count(&bootstrap, &topic)
        .await
        .map_err(|err| {
            Failure::new(format!(
                "could not read the partitions of {topic}: {}",
                super::error_chain(&err)
            ))
        })?;
    if partitions == 0 {
        return Err(Failure::new(format!(
            "topic {topic} does not exist on {bootstrap}; list it in spec.infra.topics"
        )));
    }
    let sent = outgoing.len();
    let timeout = deadline.remaining_real();
    let (bootstrap_for_send, topic_for_send) = (bootstrap.clone(), topic.clone());
    let placed = tokio::task::spawn_blocking(move || {
        send_all(&bootstrap_for_send, &topic_for_send, outgoing, timeout)
    })
    .await
    .map_err(|err| Failure::new(format!("the producer thread failed: {err}")))?;
    let placed = placed.map_err(|message| {
        if message.contains("timed out") {
            deadline.timed_out("produce", &message, Vec::new())
        } else {
            Failure::new(message)
        }
    })?;
    let dataset = ctx
        .datasets
        .entry(produce.dataset.clone())
        .or_insert_with(|| Dataset::new(&bootstrap, &topic));
    let first_new = dataset.records.len();
    dataset.records.extend(placed);
    dataset.check_order().map_err(Failure::new)?;
    let mut spread = std::collections::BTreeMap::<i32, (i64, i64)>::new();
    for record in &dataset.records[first_new..] {
        let range = spread
            .entry(record.partition)
            .or_insert((record.offset, record.offset));
        range.0 = range.0.min(record.offset);
        range.1 = range.1.max(record.offset);
    }
    let places: Vec<String> = spread
        .iter()
        .map(|(p, (lo, hi))| format!("{p}: {lo}..={hi}"))
        .collect();
    notes.insert(
        0,
        format!(
            "produced {sent} records to {topic} (partition {})",
            places.join(", partition ")
        ),
    );
    // The embedded broker keeps ~5 MiB per partition: say so when it dropped
    // records, since a job that had not read them yet never will.
    if let Ok(lost) = harness_infra::kafka::retention_loss(&bootstrap, &topic).await {
        for (partition, low) in lost {
            notes.push(format!(
                "warning: {topic} partition {partition} no longer holds offsets below {low} (the broker's retention dropped them); \
                 a job that had not read them will not, and verify will say so"
            ));
        }
    }
    let dir = ctx.out_dir.join("datasets");
    let events = dataset.write(&dir, &produce.dataset).map_err(|err| {
        Failure::new(format!(
            "could not write the dataset to {}: {err}",
            dir.display()
        ))
    })?;
    notes.push(format!(
        "dataset {} holds {} records: {} (its expected state: `harness oracle --events {} --out DIR`)",
        produce.dataset,
        dataset.records.len(),
        events.display(),
        events.display()
    ));
    Ok(notes)
}

/// The events `generate` asks for, and a note counting their kinds.
fn generated(generate: &Generate) -> Result<(Vec<Outgoing>, Vec<String>), Failure> {
    let generator =
        Generator::new(generate.config()).map_err(|err| Failure::new(err.to_string()))?;
    let from = usize::try_from(generate.from).map_err(|_| Failure::new("\"from\" is too large"))?;
    let count =
        usize::try_from(generate.count).map_err(|_| Failure::new("\"count\" is too large"))?;
    let (mut late, mut malformed) = (0, 0);
    let outgoing = generator
        .skip(from)
        .take(count)
        .map(|event| {
            match event.kind {
                GeneratedKind::Late => late += 1,
                GeneratedKind::Malformed(_) => malformed += 1,
                GeneratedKind::Valid => {}
            }
            Outgoing {
                key: Some(event.key),
                payload: event.payload,
            }
        })
        .collect();
    let note = format!(
        "generated events {from}..{} of seed {}: {malformed} malformed, {late} late",
        from.saturating_add(count),
        generate.seed
    );
    Ok((outgoing, vec![note]))
}

/// The lines of a JSON-lines file, keyed by their user id where they have one.
fn from_file(ctx: &Ctx<'_>, file: &str) -> Result<(Vec<Outgoing>, Vec<String>), Failure> {
    let path = ctx.scenario.dir.join(file);
    let lines = crate::pipeline::read_events_file(&path)
        .map_err(|err| Failure::new(super::error_chain(&err)))?;
    let outgoing = lines
        .into_iter()
        .map(|payload| Outgoing {
            key: harness_pipeline::decode(&payload)
                .ok()
                .map(|event| event.user_id.into_owned()),
            payload,
        })
        .collect();
    Ok((outgoing, vec![format!("read {}", path.display())]))
}

/// Where the broker put a record (partition, offset), or why it did not.
type Delivery = Result<(i32, i64), String>;

/// Collects delivery reports by record index.
struct Deliveries(Mutex<Vec<Option<Delivery>>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let outcome = match result {
            Ok(message) => Ok((message.partition(), message.offset())),
            Err((err, _)) => Err(err.to_string()),
        };
        if let Some(slot) = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(index)
        {
            *slot = Some(outcome);
        }
    }
}

/// Sends every record and waits for all acknowledgements (blocking).
fn send_all(
    bootstrap: &str,
    topic: &str,
    outgoing: Vec<Outgoing>,
    timeout: Duration,
) -> Result<Vec<Record>, String> {
    let producer: ThreadedProducer<Deliveries> = harness_infra::kafka::client_config(bootstrap)
        .set("linger.ms", "5")
        .set("max.in.flight.requests.per.connection", "1")
        .set(
            "message.timeout.ms",
            timeout.as_millis().clamp(1, i32::MAX as u128).to_string(),
        )
        .create_with_context(Deliveries(Mutex::new(vec![None; outgoing.len()])))
        .map_err(|err| format!("could not create a producer for {bootstrap}: {err}"))?;
    for (index, record) in outgoing.iter().enumerate() {
        let mut message =
            BaseRecord::with_opaque_to(topic, index).payload(record.payload.as_slice());
        if let Some(key) = &record.key {
            message = message.key(key.as_str());
        }
        loop {
            match producer.send(message) {
                Ok(()) => break,
                Err((err, returned))
                    if err.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) =>
                {
                    producer.poll(Duration::from_millis(10));
                    message = returned;
                }
                Err((err, _)) => return Err(format!("could not produce to {topic}: {err}")),
            }
        }
    }
    producer
        .flush(timeout)
        .map_err(|err| format!("not every record was acknowledged: {err} (timed out)"))?;
    let deliveries = std::mem::take(
        &mut *producer
            .context()
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    outgoing
        .into_iter()
        .zip(deliveries)
        .map(|(record, delivery)| match delivery {
            Some(Ok((partition, offset))) => Ok(Record {
                payload: record.payload,
                partition,
                offset,
            }),
            Some(Err(err)) => Err(format!("a record was not delivered to {topic}: {err}")),
            None => Err(format!(
                "a record sent to {topic} has no delivery report (timed out)"
            )),
        })
        .collect()
}
