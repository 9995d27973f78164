//! Datasets: what `produce` steps sent, in order, with the partition and
//! offset each record landed at, kept under a name in the scenario's context
//! for `verify`, and written to `<report dir>/<scenario>/datasets/` so a
//! failure can be reproduced with `harness oracle --events <name>.jsonl`:
//!
//! - `<name>.jsonl`: the payloads, one per line, in production order;
//! - `<name>.records.jsonl`: `{"topic", "partition", "offset"}` for each
//!   line of `<name>.jsonl`, in the same order.

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
};

/// One produced record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// What was sent (one JSON line, possibly malformed).
    pub(crate) payload: Vec<u8>,
    /// Where the broker put it.
    pub(crate) partition: i32,
    /// Its offset in that partition.
    pub(crate) offset: i64,
}

/// Per partition, one past the highest offset of `records`: where a
/// consumer that has read them all stands.
pub(crate) fn end_offsets<'a>(records: impl IntoIterator<Item = &'a Record>) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for record in records {
        let end = ends.entry(record.partition).or_insert(0);
        *end = (*end).max(record.offset + 1);
    }
    ends
}

/// Records produced under one name, all to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dataset {
    /// `host:port[,...]`.
    pub(crate) bootstrap_servers: String,
    /// The topic.
    pub(crate) topic: String,
    /// In production order.
    pub(crate) records: Vec<Record>,
}

impl Dataset {
    /// An empty dataset for `topic`.
    pub(crate) fn new(bootstrap_servers: &str, topic: &str) -> Dataset {
        Dataset {
            bootstrap_servers: bootstrap_servers.to_owned(),
            topic: topic.to_owned(),
            records: Vec::new(),
        }
    }

    /// Checks that offsets grow within each partition in production order,
    /// which is what makes the production order the order a consumer reads.
    pub(crate) fn check_order(&self) -> Result<(), String> {
        let mut last: BTreeMap<i32, i64> = BTreeMap::new();
        for record in &self.records {
            if let Some(previous) = last.insert(record.partition, record.offset)
                && previous >= record.offset
            {
                return Err(format!(
                    "partition {} holds offset {} after offset {previous}: the broker did not keep the production order",
                    record.partition, record.offset
                ));
            }
        }
        Ok(())
    }

    /// Writes `<name>.jsonl` and `<name>.records.jsonl` into `dir`; returns
    /// the events file.
    pub(crate) fn write(&self, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let events = dir.join(format!("{name}.jsonl"));
        let mut lines = std::io::BufWriter::new(std::fs::File::create(&events)?);
        let mut placement = std::io::BufWriter::new(std::fs::File::create(
            dir.join(format!("{name}.records.jsonl")),
        )?);
        for record in &self.records {
            lines.write_all(&record.payload)?;
            lines.write_all(b"\n")?;
            let line = serde_json::json!({"topic": self.topic, "partition": record.partition, "offset": record.offset});
            writeln!(placement, "{line}")?;
        }
        lines.flush()?;
        placement.flush()?;
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64) -> Record {
        Record {
            payload: format!("{{\"p\":{partition},\"o\":{offset}}}").into_bytes(),
            partition,
            offset,
        }
    }

    #[test]
    fn end_offsets_and_order_come_from_the_records() {
        let mut data = Dataset::new("b:1", "t");
        data.records = vec![
            record(0, 0),
            record(1, 0),
            record(0, 1),
            record(1, 1),
            record(0, 2),
        ];
        assert_eq!(end_offsets(&data.records), BTreeMap::from([(0, 3), (1, 2)]));
        assert_eq!(data.check_order(), Ok(()));
        data.records.push(record(1, 1));
        assert!(
            data.check_order()
                .unwrap_err()
                .contains("partition 1 holds offset 1 after offset 1")
        );
    }

    #[test]
    fn files_hold_the_payloads_and_their_placement_line_by_line() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut data = Dataset::new("b:1", "t");
        data.records = vec![record(0, 7), record(1, 3)];
        let events = data.write(dir.path(), "events")?;
        // The events file is what `harness oracle --events` reads.
        assert_eq!(
            crate::pipeline::read_events_file(&events)?,
            vec![
                data.records[0].payload.clone(),
                data.records[1].payload.clone()
            ]
        );
        let placement = std::fs::read_to_string(dir.path().join("events.records.jsonl"))?;
        let lines: Vec<serde_json::Value> = placement
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        assert_eq!(
            lines,
            vec![
                serde_json::json!({"topic": "t", "partition": 0, "offset": 7}),
                serde_json::json!({"topic": "t", "partition": 1, "offset": 3})
            ]
        );
        Ok(())
    }
}
