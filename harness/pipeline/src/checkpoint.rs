//! Checkpoints: the engine's complete state between two events, as versioned
//! JSON.
//!
//! A checkpoint holds each split's next offset and largest timestamp, the
//! effective watermark, all open window state, and the counters. Restoring it
//! and replaying every split from its next offset gives the same outputs as an
//! uninterrupted run; because Redis writes are absolute per window, re-firing a
//! window that was already written before a crash converges to the same state.
//! Everything in it is sorted, so equal states serialise to equal bytes. The
//! runtime decides where checkpoints live (Flink-style `chk-<n>/_metadata`).

use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

use crate::{
    engine::Stats,
    features::{hot::PaneSnapshot, metrics::MetricsSums, user::UserWindowSnapshot},
    watermark::{SplitId, SplitProgress},
};

/// The checkpoint format version this build writes and reads.
pub const CHECKPOINT_VERSION: u32 = 1;

/// A snapshot of an [`Engine`](crate::Engine). Build one with
/// [`Engine::snapshot`](crate::Engine::snapshot), store it with
/// [`Checkpoint::to_json`], and resume with
/// [`Engine::restore`](crate::Engine::restore).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub(crate) version: u32,
    pub(crate) splits: Vec<SplitProgress>,
    pub(crate) watermark: Option<i64>,
    pub(crate) hot_half_life_ms: Option<NonZeroU64>,
    pub(crate) stats: Stats,
    pub(crate) groups: Vec<GroupSnapshot>,
}

/// The open windows of one (tenant, scenario).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupSnapshot {
    pub(crate) tenant_id: String,
    pub(crate) scenario_id: String,
    pub(crate) user_windows: Vec<UserWindowSnapshot>,
    pub(crate) hot_panes: Vec<PaneSnapshot>,
    pub(crate) metrics_windows: Vec<(i64, MetricsSums)>,
}

/// Why a checkpoint could not be read or restored. None of these is worth
/// retrying with the same bytes and configuration.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The bytes are not a checkpoint.
    #[error("decoding the checkpoint failed")]
    Decode(#[source] serde_json::Error),
    /// Another format version wrote it.
    #[error(
        "checkpoint format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// The version in the checkpoint.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The hot-score half-life differs from the one the state was built with.
    #[error(
        "the checkpoint was taken with hot_half_life_ms {checkpoint:?} but the configuration says {config:?}"
    )]
    HalfLifeChanged {
        /// The half-life in the checkpoint.
        checkpoint: Option<NonZeroU64>,
        /// The half-life configured now.
        config: Option<NonZeroU64>,
    },
    /// The checkpoint read splits the source does not have: it was taken
    /// from another input (a Kafka topic's partitions restored onto a file,
    /// or onto a topic with fewer partitions).
    #[error(
        "the checkpoint was taken from input splits {checkpoint:?}, but this source has {source_splits:?}; restore it with the source it was taken from"
    )]
    SplitsMismatch {
        /// The splits the checkpoint holds offsets for.
        checkpoint: Vec<SplitId>,
        /// The splits of the source being restored.
        source_splits: Vec<SplitId>,
    },
    /// The checkpoint is inconsistent (hand-edited or corrupt).
    #[error("the checkpoint is inconsistent: {reason}")]
    InvalidState {
        /// What is wrong.
        reason: String,
    },
}

/// Encoding something as JSON failed. Not expected in practice: everything the
/// crate encodes is plain data with string keys.
#[derive(Debug, thiserror::Error)]
#[error("encoding {what} as JSON failed")]
pub struct EncodeError {
    /// What was being encoded (`the checkpoint`, `user_features.jsonl`, ...).
    pub what: &'static str,
    /// serde_json's error.
    #[source]
    pub source: serde_json::Error,
}

impl Checkpoint {
    /// The format version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Every split's progress, by split.
    pub fn splits(&self) -> &[SplitProgress] {
        &self.splits
    }

    /// Fails unless every split the checkpoint read is one of `source`'s
    /// (a source may have more: partitions added since).
    pub fn check_splits(&self, source: &[SplitId]) -> Result<(), RestoreError> {
        if self
            .splits
            .iter()
            .all(|progress| source.contains(&progress.split))
        {
            return Ok(());
        }
        Err(RestoreError::SplitsMismatch {
            checkpoint: self.splits.iter().map(|progress| progress.split).collect(),
            source_splits: source.to_vec(),
        })
    }

    /// Where to resume reading `split`: `None` if the checkpoint has not read
    /// from it (start from the beginning).
    pub fn next_offset(&self, split: SplitId) -> Option<i64> {
        self.splits
            .iter()
            .find(|progress| progress.split == split)
            .and_then(|progress| progress.next_offset)
    }

    /// The effective watermark at the checkpoint.
    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    /// The counters at the checkpoint.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The checkpoint as JSON bytes.
    pub fn to_json(&self) -> Result<Vec<u8>, EncodeError> {
        serde_json::to_vec(self).map_err(|source| EncodeError {
            what: "the checkpoint",
            source,
        })
    }

    /// Reads a checkpoint written by [`Checkpoint::to_json`], checking the
    /// version before the rest so an old or new format gets a clear error.
    pub fn from_json(bytes: &[u8]) -> Result<Checkpoint, RestoreError> {
        #[derive(Deserialize)]
        struct VersionProbe {
            version: u32,
        }
        let probe: VersionProbe = serde_json::from_slice(bytes).map_err(RestoreError::Decode)?;
        if probe.version != CHECKPOINT_VERSION {
            return Err(RestoreError::UnsupportedVersion {
                found: probe.version,
                supported: CHECKPOINT_VERSION,
            });
        }
        serde_json::from_slice(bytes).map_err(RestoreError::Decode)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Engine, EngineConfig};

    #[test]
    fn a_checkpoint_restores_only_onto_a_source_with_its_splits() {
        let checkpoint = Engine::new(EngineConfig::default(), &[0, 1]).snapshot();
        assert!(checkpoint.check_splits(&[0, 1]).is_ok());
        assert!(
            checkpoint.check_splits(&[0, 1, 2]).is_ok(),
            "partitions added since"
        );
        let err = checkpoint.check_splits(&[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the checkpoint was taken from input splits [0, 1], but this source has [0]; restore it with the source it was taken from"
        );
    }
}
