//! What `verify` reads from Kafka: a consumer group's committed offsets (has
//! the job read, and checkpointed, everything produced?) and the dead-letter
//! topic (is every malformed or late record there exactly once?).
//!
//! Both are blocking librdkafka calls and run on blocking threads.

use std::{collections::BTreeMap, time::Duration};

use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    message::Headers,
};

/// How long one metadata, offsets or fetch request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs a blocking Kafka read off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| format!("a kafka read failed: {err}"))?
}

/// Partitions whose committed offset for `group` is below the end the
/// datasets reached: `(partition, committed, end)`. Empty when caught up.
pub(crate) async fn lagging(
    bootstrap: &str,
    group: &str,
    topic: &str,
    ends: &BTreeMap<i32, i64>,
) -> Result<Vec<(i32, Option<i64>, i64)>, String> {
    let (bootstrap, group, topic, ends) = (
        bootstrap.to_owned(),
        group.to_owned(),
        topic.to_owned(),
        ends.clone(),
    );
    blocking(move || {
        let consumer: BaseConsumer = harness_infra::kafka::client_config(&bootstrap)
            .set("group.id", &group)
            .create()
            .map_err(|err| format!("could not create a consumer for {bootstrap}: {err}"))?;
        let mut partitions = TopicPartitionList::new();
        for partition in ends.keys() {
            partitions.add_partition(&topic, *partition);
        }
        let committed = consumer
            .committed_offsets(partitions, REQUEST_TIMEOUT)
            .map_err(|err| {
                format!("could not read the offsets of consumer group {group}: {err}")
            })?;
        let offsets: BTreeMap<i32, i64> = committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(n) => Some((e.partition(), n)),
                _ => None,
            })
            .collect();
        Ok(ends
            .iter()
            .map(|(p, end)| (*p, offsets.get(p).copied(), *end))
            .filter(|(_, committed, end)| committed.is_none_or(|c| c < *end))
            .collect())
    })
    .await
}

/// One letter read from the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Letter {
    /// The source record's partition and offset (headers `source_partition`, `source_offset`).
    pub(crate) source: (i32, i64),
    /// The `reason` header.
    pub(crate) reason: String,
}

/// Every letter on `topic`, from its start to its current end.
pub(crate) async fn dead_letters(bootstrap: &str, topic: &str) -> Result<Vec<Letter>, String> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    blocking(move || {
        let consumer: BaseConsumer = harness_infra::kafka::client_config(&bootstrap)
            .set("group.id", "harness-verify")
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|err| format!("could not create a consumer for {bootstrap}: {err}"))?;
        let metadata = consumer
            .fetch_metadata(Some(&topic), REQUEST_TIMEOUT)
            .map_err(|err| format!("could not read the metadata of {topic}: {err}"))?;
        let partitions = harness_infra::kafka::partition_ids(&metadata, &topic);
        if partitions.is_empty() {
            return Err(format!("dead-letter topic {topic} does not exist"));
        }
        let mut assignment = TopicPartitionList::new();
        let mut ends = BTreeMap::new();
        for partition in partitions {
            let (low, high) = consumer
                .fetch_watermarks(&topic, partition, REQUEST_TIMEOUT)
                .map_err(|err| format!("could not read the end of {topic}/{partition}: {err}"))?;
            if high > low {
                ends.insert(partition, high);
                assignment
                    .add_partition_offset(&topic, partition, Offset::Offset(low))
                    .map_err(|err| err.to_string())?;
            }
        }
        let mut letters = Vec::new();
        if ends.is_empty() {
            return Ok(letters);
        }
        consumer
            .assign(&assignment)
            .map_err(|err| format!("could not read {topic}: {err}"))?;
        let deadline = std::time::Instant::now() + REQUEST_TIMEOUT;
        while !ends.is_empty() {
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "could not read {topic} to its end within {}s",
                    REQUEST_TIMEOUT.as_secs()
                ));
            }
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message.map_err(|err| format!("could not read {topic}: {err}"))?;
            let header = |name: &str| {
                message
                    .headers()
                    .and_then(|headers| headers.iter().find(|h| h.key == name))
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            };
            let source = header("source_partition")
                .and_then(|p| p.parse().ok())
                .zip(header("source_offset").and_then(|o| o.parse().ok()));
            match source {
                Some(source) => letters.push(Letter {
                    source,
                    reason: header("reason").unwrap_or_default(),
                }),
                None => letters.push(Letter {
                    source: (-1, message.offset()),
                    reason: "(no source headers)".to_owned(),
                }),
            }
            if ends
                .get(&message.partition())
                .is_some_and(|end| message.offset() + 1 >= *end)
            {
                ends.remove(&message.partition());
            }
        }
        Ok(letters)
    })
    .await
}

/// Compares the letters found with the expected `(partition, offset) ->
/// reason`; one line per problem. Nothing may be missing, doubled, extra or
/// carry another reason.
pub(crate) fn compare_letters(
    expected: &BTreeMap<(i32, i64), String>,
    found: &[Letter],
) -> Vec<String> {
    let mut seen: BTreeMap<(i32, i64), Vec<&str>> = BTreeMap::new();
    for letter in found {
        seen.entry(letter.source).or_default().push(&letter.reason);
    }
    let mut problems = Vec::new();
    for ((partition, offset), reason) in expected {
        match seen.get(&(*partition, *offset)).map(Vec::as_slice) {
            None => problems.push(format!("dead letter for partition {partition} offset {offset}: missing (expected reason {reason:?})")),
            Some([one]) if one == reason => {}
            Some([one]) => problems.push(format!("dead letter for partition {partition} offset {offset}: reason expected {reason:?}, found {one:?}")),
            Some(many) => problems.push(format!("dead letter for partition {partition} offset {offset}: found {} times (nothing may be doubled)", many.len())),
        }
    }
    for ((partition, offset), reasons) in &seen {
        if !expected.contains_key(&(*partition, *offset)) {
            problems.push(format!(
                "dead letter for partition {partition} offset {offset}: unexpected (reason {:?})",
                reasons.first().copied().unwrap_or_default()
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_must_be_there_once_with_their_reason() {
        let expected: BTreeMap<(i32, i64), String> = [
            ((0, 3), "missing field item_id".to_owned()),
            ((0, 9), "late for every window".to_owned()),
            ((0, 12), "x".to_owned()),
        ]
        .into();
        let letter = |offset, reason: &str| Letter {
            source: (0, offset),
            reason: reason.to_owned(),
        };
        let found = vec![
            letter(3, "missing field item_id"),
            letter(9, "late for every window"),
            letter(9, "late for every window"),
            letter(12, "y"),
            letter(40, "z"),
        ];
        assert_eq!(
            compare_letters(&expected, &found),
            vec![
                "dead letter for partition 0 offset 9: found 2 times (nothing may be doubled)"
                    .to_owned(),
                "dead letter for partition 0 offset 12: reason expected \"x\", found \"y\""
                    .to_owned(),
                "dead letter for partition 0 offset 40: unexpected (reason \"z\")".to_owned(),
            ]
        );
        assert_eq!(
            compare_letters(&expected, &found[..1]).len(),
            2,
            "two missing"
        );
        assert!(compare_letters(&BTreeMap::new(), &[]).is_empty());
    }
}
