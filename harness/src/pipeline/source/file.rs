//! The file source: one event per line (JSON lines), split 0, offset = the
//! line's number counted from 0. A trailing `\r` is dropped; a blank line is a
//! record (a malformed one). [`read_events_file`] reads a whole file the same
//! way, so the oracle and the pipeline always agree on what the records are.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
};

use harness_pipeline::SplitId;

use super::Polled;
use crate::pipeline::{Error, Result};

/// An open events file.
#[derive(Debug)]
pub(crate) struct FileSource {
    /// The file, read sequentially.
    reader: BufReader<File>,
    /// For error messages.
    path: PathBuf,
    /// The offset of the next line.
    next_offset: i64,
    /// Lines below this offset were processed before a restore: skipped unread.
    resume_at: i64,
    /// The current line.
    line: Vec<u8>,
}

impl FileSource {
    /// Opens `path`; lines before `resume_at` are skipped.
    pub(crate) fn open(path: &Path, resume_at: i64) -> Result<Self> {
        let file =
            File::open(path).map_err(|source| Error::io("open events file", path, source))?;
        Ok(FileSource {
            reader: BufReader::with_capacity(1 << 20, file),
            path: path.to_owned(),
            next_offset: 0,
            resume_at,
            line: Vec::with_capacity(512),
        })
    }

    /// Hands up to `max` lines to `handle`; [`Polled::End`] at the end of the file.
    pub(crate) fn poll(
        &mut self,
        max: usize,
        handle: &mut dyn FnMut(SplitId, i64, &[u8]),
    ) -> Result<Polled> {
        for _ in 0..max {
            self.line.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(|source| Error::io("read events from", &self.path, source))?;
            if read == 0 {
                return Ok(Polled::End);
            }
            let offset = self.next_offset;
            self.next_offset += 1;
            if offset >= self.resume_at {
                handle(0, offset, trim_line_end(&self.line));
            }
        }
        Ok(Polled::Records)
    }
}

/// Drops the line terminator (`\n` or `\r\n`).
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Every record of an events file, as the file source reads them.
pub fn read_events_file(path: &Path) -> Result<Vec<Vec<u8>>> {
    let mut source = FileSource::open(path, 0)?;
    let mut events = Vec::new();
    while source.poll(4096, &mut |_, _, payload| events.push(payload.to_vec()))? != Polled::End {}
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_records_with_their_numbers() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, b"a\r\nb\n\nlast-without-newline")?;
        assert_eq!(
            read_events_file(&path)?,
            vec![
                b"a".to_vec(),
                b"b".to_vec(),
                Vec::new(),
                b"last-without-newline".to_vec()
            ]
        );

        let mut resumed = FileSource::open(&path, 2)?;
        let mut seen = Vec::new();
        while resumed.poll(1, &mut |split, offset, payload| {
            seen.push((split, offset, payload.to_vec()))
        })? != Polled::End
        {}
        assert_eq!(
            seen,
            vec![(0, 2, Vec::new()), (0, 3, b"last-without-newline".to_vec())]
        );
        Ok(())
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = read_events_file(Path::new("/nonexistent/events.jsonl"))
            .expect_err("missing")
            .to_string();
        assert_eq!(err, "failed to open events file /nonexistent/events.jsonl");
    }
}
