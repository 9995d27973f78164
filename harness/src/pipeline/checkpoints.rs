//! Checkpoints and savepoints on disk, laid out as Flink lays them out under
//! `state.checkpoints.dir` / `state.savepoints.dir`:
//!
//! ```text
//! <state-dir>/checkpoints/chk-<n>/_metadata        the last 3 are kept
//! <state-dir>/savepoints/savepoint-<id>/_metadata  kept until deleted by hand
//! ```
//!
//! `_metadata` holds the engine's [`Checkpoint`] as JSON (per-split offsets,
//! watermark, open windows, counters). Each directory is written under a
//! temporary name, synced, then renamed into place, so a crash leaves either
//! a complete checkpoint or none. Unlike Flink's, the metadata is one JSON
//! file with no separate state files.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use harness_pipeline::checkpoint::Checkpoint;

use crate::pipeline::{Error, Result};

/// The file inside a checkpoint or savepoint directory.
pub const METADATA_FILE: &str = "_metadata";

/// Checkpoints kept; older ones are deleted after a new one is in place.
pub const RETAINED_CHECKPOINTS: usize = 3;

/// Writes checkpoints and savepoints under one state directory.
#[derive(Debug)]
pub(crate) struct CheckpointStore {
    /// `<state-dir>/checkpoints`.
    checkpoints: PathBuf,
    /// `<state-dir>/savepoints`.
    savepoints: PathBuf,
    /// The number of the next checkpoint (continues after existing ones, so a
    /// restored run never overwrites the checkpoint it came from).
    next_checkpoint: u64,
    /// Savepoints written by this store (part of their ids).
    savepoints_written: u64,
}

impl CheckpointStore {
    /// Opens (creating) the state directory's checkpoint and savepoint folders.
    pub(crate) fn open(state_dir: &Path) -> Result<Self> {
        let checkpoints = state_dir.join("checkpoints");
        let savepoints = state_dir.join("savepoints");
        for dir in [&checkpoints, &savepoints] {
            fs::create_dir_all(dir).map_err(|source| Error::io("create", dir, source))?;
        }
        let next_checkpoint = numbered_checkpoints(&checkpoints)?
            .last()
            .map_or(1, |(n, _)| n + 1);
        Ok(CheckpointStore {
            checkpoints,
            savepoints,
            next_checkpoint,
            savepoints_written: 0,
        })
    }

    /// Writes `chk-<n>` and prunes old ones; returns its directory.
    pub(crate) fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<PathBuf> {
        let dir = self
            .checkpoints
            .join(format!("chk-{}", self.next_checkpoint));
        write_atomically(&dir, checkpoint)?;
        self.next_checkpoint += 1;
        let existing = numbered_checkpoints(&self.checkpoints)?;
        for (_, old) in existing.iter().rev().skip(RETAINED_CHECKPOINTS) {
            fs::remove_dir_all(old)
                .map_err(|source| Error::io("delete old checkpoint", old, source))?;
        }
        Ok(dir)
    }

    /// Writes `savepoint-<id>`; returns its directory.
    pub(crate) fn write_savepoint(&mut self, checkpoint: &Checkpoint) -> Result<PathBuf> {
        self.savepoints_written += 1;
        // Wall time only names the directory (sortable, unique across runs);
        // it never enters the state.
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let dir = self
            .savepoints
            .join(format!("savepoint-{millis}-{}", self.savepoints_written));
        write_atomically(&dir, checkpoint)?;
        Ok(dir)
    }
}

/// Resolves `--restore PATH` to a `_metadata` file: PATH may be a checkpoint
/// or savepoint directory, its `_metadata` file, a `checkpoints` directory
/// (its newest `chk-<n>`), or a state directory (its newest checkpoint).
pub fn resolve_restore_path(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_owned());
    }
    let direct = path.join(METADATA_FILE);
    if direct.is_file() {
        return Ok(direct);
    }
    for checkpoints in [path.to_owned(), path.join("checkpoints")] {
        if let Some((_, newest)) = numbered_checkpoints(&checkpoints)
            .ok()
            .and_then(|found| found.last().cloned())
        {
            return Ok(newest.join(METADATA_FILE));
        }
    }
    Err(Error::NothingToRestore {
        path: path.to_owned(),
    })
}

/// Reads a checkpoint from `--restore PATH` (see [`resolve_restore_path`]).
pub fn load(path: &Path) -> Result<(Checkpoint, PathBuf)> {
    let metadata = resolve_restore_path(path)?;
    let bytes = fs::read(&metadata).map_err(|source| Error::io("read", &metadata, source))?;
    let checkpoint = Checkpoint::from_json(&bytes).map_err(|source| Error::Restore {
        path: metadata.clone(),
        source,
    })?;
    Ok((checkpoint, metadata))
}

/// The newest checkpoint directory under a state directory, if any.
pub fn latest_checkpoint(state_dir: &Path) -> Option<PathBuf> {
    numbered_checkpoints(&state_dir.join("checkpoints"))
        .ok()?
        .pop()
        .map(|(_, dir)| dir)
}

/// `chk-<n>` directories holding a `_metadata` file, by `n`.
fn numbered_checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::io("list", dir, source)),
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let n = name.to_str()?.strip_prefix("chk-")?.parse().ok()?;
            let path = entry.path();
            path.join(METADATA_FILE).is_file().then_some((n, path))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Writes `<dir>.tmp/_metadata`, syncs it, and renames the directory to `dir`.
fn write_atomically(dir: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let json = checkpoint.to_json().map_err(|source| Error::Encode {
        what: "a checkpoint",
        source,
    })?;
    let tmp = dir.with_extension("tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|source| Error::io("clear", &tmp, source))?;
    }
    fs::create_dir_all(&tmp).map_err(|source| Error::io("create", &tmp, source))?;
    let file_path = tmp.join(METADATA_FILE);
    let mut file =
        fs::File::create(&file_path).map_err(|source| Error::io("create", &file_path, source))?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(|source| Error::io("write", &file_path, source))?;
    fs::rename(&tmp, dir).map_err(|source| Error::io("rename into place", dir, source))?;
    // Make the rename itself durable.
    if let Some(parent) = dir.parent() {
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::io("sync", parent, source))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use harness_pipeline::{Engine, EngineConfig};

    use super::*;

    fn checkpoint_after(events: usize) -> Checkpoint {
        let mut engine = Engine::new(EngineConfig::default(), &[0]);
        let mut out = Vec::new();
        for offset in 0..events {
            let line = format!(
                r#"{{"tenant_id":"t","scenario_id":"s","user_id":"u","item_id":"i","action_type":"VIEW","timestamp":{}}}"#,
                1_730_800_000_000 + offset as i64 * 1000
            );
            engine.process(0, offset as i64, line.as_bytes(), &mut out);
        }
        engine.snapshot()
    }

    #[test]
    fn checkpoints_are_numbered_pruned_and_restorable() -> anyhow::Result<()> {
        let state = tempfile::tempdir()?;
        let mut store = CheckpointStore::open(state.path())?;
        let mut written = Vec::new();
        for events in 1..=5 {
            written.push(store.write_checkpoint(&checkpoint_after(events))?);
        }
        let kept: Vec<_> = numbered_checkpoints(&state.path().join("checkpoints"))?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(kept, vec![3, 4, 5]);
        assert_eq!(latest_checkpoint(state.path()).as_ref(), written.last());
        // Every accepted form of --restore finds the newest one.
        for path in [
            state.path().to_owned(),
            state.path().join("checkpoints"),
            written[4].clone(),
            written[4].join(METADATA_FILE),
        ] {
            let (checkpoint, metadata) = load(&path)?;
            assert_eq!(metadata, written[4].join(METADATA_FILE));
            assert_eq!(checkpoint, checkpoint_after(5));
        }
        // A reopened store continues the numbering.
        let mut reopened = CheckpointStore::open(state.path())?;
        assert!(
            reopened
                .write_checkpoint(&checkpoint_after(1))?
                .ends_with("chk-6")
        );
        let savepoint = reopened.write_savepoint(&checkpoint_after(2))?;
        assert!(
            savepoint
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("savepoint-"))
        );
        assert_eq!(load(&savepoint)?.0, checkpoint_after(2));
        Ok(())
    }

    #[test]
    fn bad_restore_paths_say_what_was_expected() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let err = load(dir.path()).expect_err("empty dir").to_string();
        assert!(err.starts_with("no checkpoint or savepoint at "), "{err}");
        let garbage = dir.path().join(METADATA_FILE);
        fs::write(&garbage, b"{not json")?;
        let err = load(dir.path()).expect_err("garbage");
        assert!(matches!(err, Error::Restore { .. }), "{err:?}");
        Ok(())
    }
}
