//! The Redis keyspace the pipeline writes, as a deterministic in-memory map.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::redis_model::RedisWrite;

/// The value of one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum RedisValue {
    /// A hash: field -> value.
    Hash(BTreeMap<String, String>),
    /// A sorted set: member -> score.
    Zset(BTreeMap<String, f64>),
}

impl RedisValue {
    /// `hash` or `zset`, as Redis's `TYPE` says.
    pub fn type_name(&self) -> &'static str {
        match self {
            RedisValue::Hash(_) => "hash",
            RedisValue::Zset(_) => "zset",
        }
    }
}

/// Keys and values, sorted by key. Serialises as a JSON object, which is how the
/// oracle stores the expected state (`redis_state.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedisState {
    keys: BTreeMap<String, RedisValue>,
}

impl RedisState {
    /// Applies one write with Redis's semantics: HSET sets the given fields and
    /// keeps others; a sorted-set replacement replaces the key (or deletes it
    /// when there are no members). A write to a key of the other type replaces
    /// it, which is what the runtime's DEL-then-write does.
    pub fn apply(&mut self, write: &RedisWrite) {
        match write {
            RedisWrite::Hash { key, fields } => {
                let value = self
                    .keys
                    .entry(key.clone())
                    .or_insert_with(|| RedisValue::Hash(BTreeMap::new()));
                if !matches!(value, RedisValue::Hash(_)) {
                    *value = RedisValue::Hash(BTreeMap::new());
                }
                if let RedisValue::Hash(hash) = value {
                    for (field, text) in fields {
                        hash.insert((*field).to_string(), text.clone());
                    }
                }
            }
            RedisWrite::ReplaceZset { key, members, .. } => {
                if members.is_empty() {
                    self.keys.remove(key);
                } else {
                    let set = members
                        .iter()
                        .map(|(member, score)| (member.clone(), *score))
                        .collect();
                    self.keys.insert(key.clone(), RedisValue::Zset(set));
                }
            }
        }
    }

    /// Sets a key, as read back from a real Redis.
    pub fn insert(&mut self, key: String, value: RedisValue) {
        self.keys.insert(key, value);
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&RedisValue> {
        self.keys.get(key)
    }

    /// Keys and values in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RedisValue)> {
        self.keys.iter().map(|(key, value)| (key.as_str(), value))
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
