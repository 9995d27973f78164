//! The pure model of what the pipeline writes to Redis: keys, writes, the
//! resulting state, and a precise diff between an expected and an actual state.
//!
//! Writes are absolute per window (never increments), so replaying a window
//! after a restore overwrites it with the same values and the state converges.
//! The runtime executes [`RedisWrite`]s (a hash with HSET; a hot-item list
//! replaced atomically with DEL + ZADD + EXPIRE in one MULTI) and reads real
//! Redis back into a [`RedisState`] to [`diff`](fn@diff) it against the oracle. TTLs are
//! not modelled here: [`RedisState`] never expires keys, and the runtime checks
//! the hot-item TTLs itself.

mod diff;
mod keys;
mod state;

pub use diff::{Difference, diff, render_differences};
pub use keys::{
    DEFAULT_HOT_KEY, DEFAULT_USER_KEY, KeyTemplate, KeyTemplates, SEED_USER_KEY, TemplateError,
};
pub use state::{RedisState, RedisValue};

use crate::{engine::Output, features::hot::HotItems, features::user::UserFeatures};

/// One write the runtime executes.
#[derive(Clone, Debug, PartialEq)]
pub enum RedisWrite {
    /// `HSET key field value ...`: a user's features for one window. Every
    /// write sets the same fields, so the hash always describes one window.
    Hash {
        /// The hash key.
        key: String,
        /// `view`, `like`, `share`, `active_period`, `window_start`,
        /// `window_end`, `tenant_id`, `scenario_id`, in that order.
        fields: Vec<(&'static str, String)>,
    },
    /// Replace the whole sorted set with `members` (item, score) and set its TTL,
    /// atomically. No members means the key is deleted.
    ReplaceZset {
        /// The sorted-set key.
        key: String,
        /// Items and scores, best first.
        members: Vec<(String, f64)>,
        /// Time to live in seconds (the seed's 2 h by default).
        ttl_secs: u64,
    },
}

impl RedisWrite {
    /// The key written.
    pub fn key(&self) -> &str {
        match self {
            RedisWrite::Hash { key, .. } | RedisWrite::ReplaceZset { key, .. } => key,
        }
    }
}

/// The Redis write for one engine output: user features become a hash, hot
/// items a sorted-set replacement; metrics (served to Prometheus) and dead
/// letters (sent to the dead-letter topic) write nothing to Redis.
pub fn write_for(output: &Output, keys: &KeyTemplates, hot_ttl_secs: u64) -> Option<RedisWrite> {
    match output {
        Output::UserFeatures(row) => Some(user_write(row, keys)),
        Output::HotItems(hot) => Some(hot_write(hot, keys, hot_ttl_secs)),
        Output::Metrics(_) | Output::DeadLetter(_) => None,
    }
}

fn user_write(row: &UserFeatures, keys: &KeyTemplates) -> RedisWrite {
    RedisWrite::Hash {
        key: keys.user_key(&row.tenant_id, &row.scenario_id, &row.user_id),
        fields: vec![
            ("view", row.view.to_string()),
            ("like", row.like.to_string()),
            ("share", row.share.to_string()),
            ("active_period", row.active_period.as_str().to_string()),
            ("window_start", row.window_start.to_string()),
            ("window_end", row.window_end.to_string()),
            ("tenant_id", row.tenant_id.clone()),
            ("scenario_id", row.scenario_id.clone()),
        ],
    }
}

fn hot_write(hot: &HotItems, keys: &KeyTemplates, ttl_secs: u64) -> RedisWrite {
    RedisWrite::ReplaceZset {
        key: keys.hot_key(&hot.tenant_id, &hot.scenario_id),
        members: hot
            .items
            .iter()
            .map(|item| (item.item_id.clone(), item.score))
            .collect(),
        ttl_secs,
    }
}
