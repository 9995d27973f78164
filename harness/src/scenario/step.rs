//! A step: one verb plus the keys every step may have (`name`,
//! `description`, `timeout`), or a `try`/`catch`/`finally` block.
//!
//! The step is parsed by hand rather than as a serde enum because a YAML step
//! is a flat map that mixes the verb key with common keys. Adding a verb
//! means one variant in [`Action`], one arm in the visitor, and one module in
//! `runner/`; verbs on the roadmap are recognised already and rejected with a
//! message saying so, rather than as typos.

use std::fmt;

use serde::{
    Deserialize,
    de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor},
};

use super::{
    duration::Duration,
    model::TimeoutKind,
    pipeline_verbs::{Produce, Verify},
    verbs::{Apply, Assert, Delete, Exec, Patch, Refute, Wait},
};

/// One entry of `spec.steps` (or of a block).
#[derive(Debug, Clone)]
pub struct Step {
    /// Shown in reports; defaults to a summary of the verb.
    pub name: Option<String>,
    /// Free text for reports.
    pub description: Option<String>,
    /// Overrides the scenario's default deadline for this verb.
    pub timeout: Option<Duration>,
    /// What the step does.
    pub action: Action,
}

/// The verb of a step.
#[derive(Debug, Clone)]
pub enum Action {
    /// See [`Apply`].
    Apply(Apply),
    /// See [`Patch`].
    Patch(Patch),
    /// See [`Delete`].
    Delete(Delete),
    /// See [`Assert`].
    Assert(Assert),
    /// The `error` verb; see [`Refute`].
    Error(Refute),
    /// See [`Wait`].
    Wait(Wait),
    /// Pause for a duration of cluster time.
    Sleep(Duration),
    /// See [`Exec`].
    Exec(Exec),
    /// See [`Produce`].
    Produce(Produce),
    /// See [`Verify`].
    Verify(Verify),
    /// See [`Block`].
    Block(Block),
}

/// `try` / `catch` / `finally`: if a `try` step fails, the rest of `try` is
/// skipped and `catch` runs; `finally` always runs. The block fails if `try`
/// failed (catch is for diagnostics and compensation, not for hiding failures)
/// or if a `catch`/`finally` step failed.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// The steps to attempt.
    pub try_steps: Vec<Step>,
    /// Run when a `try` step failed.
    pub catch_steps: Vec<Step>,
    /// Always run.
    pub finally_steps: Vec<Step>,
}

impl Action {
    /// The verb's YAML key (`try` for blocks).
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Apply(_) => "apply",
            Action::Patch(_) => "patch",
            Action::Delete(_) => "delete",
            Action::Assert(_) => "assert",
            Action::Error(_) => "error",
            Action::Wait(_) => "wait",
            Action::Sleep(_) => "sleep",
            Action::Exec(_) => "exec",
            Action::Produce(_) => "produce",
            Action::Verify(_) => "verify",
            Action::Block(_) => "try",
        }
    }

    /// The scenario timeout that applies to this verb, if any.
    pub fn timeout_kind(&self) -> Option<TimeoutKind> {
        match self {
            Action::Apply(_) => Some(TimeoutKind::Apply),
            Action::Patch(_) => Some(TimeoutKind::Patch),
            Action::Delete(_) => Some(TimeoutKind::Delete),
            Action::Assert(_) => Some(TimeoutKind::Assert),
            Action::Error(_) => Some(TimeoutKind::Error),
            Action::Wait(_) => Some(TimeoutKind::Wait),
            Action::Exec(_) => Some(TimeoutKind::Exec),
            Action::Produce(_) => Some(TimeoutKind::Produce),
            Action::Verify(_) => Some(TimeoutKind::Verify),
            Action::Sleep(_) | Action::Block(_) => None,
        }
    }
}

const COMMON_KEYS: &[&str] = &["name", "description", "timeout"];
const VERB_KEYS: &[&str] = &[
    "apply", "patch", "delete", "assert", "error", "wait", "sleep", "exec", "produce", "verify",
];
const BLOCK_KEYS: &[&str] = &["try", "catch", "finally"];
/// Every key a step may have, for "expected one of" messages.
const ALL_KEYS: &[&str] = &[
    "name",
    "description",
    "timeout",
    "apply",
    "patch",
    "delete",
    "assert",
    "error",
    "wait",
    "sleep",
    "exec",
    "produce",
    "verify",
    "try",
    "catch",
    "finally",
];
/// Verbs from the roadmap: recognised so that using one says "not yet" instead
/// of "unknown field".
const PLANNED_VERBS: &[&str] = &[
    "migrate",
    "gate",
    "inject",
    "savepoint",
    "rollback",
    "foreach",
    "when",
];

/// A step key, validated as it is read so an unknown key is reported at its
/// own line and column.
struct StepKey;

impl<'de> DeserializeSeed<'de> for StepKey {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for StepKey {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a step key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        if COMMON_KEYS.contains(&key) || VERB_KEYS.contains(&key) || BLOCK_KEYS.contains(&key) {
            Ok(key.to_owned())
        } else if PLANNED_VERBS.contains(&key) {
            Err(E::custom(format!(
                "verb \"{key}\" is on the roadmap but not supported yet"
            )))
        } else {
            Err(E::unknown_field(key, ALL_KEYS))
        }
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = Step;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a step: a map with one verb (apply, patch, delete, assert, error, wait, sleep, exec, produce, verify) or a try block")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
        let mut name = None;
        let mut description = None;
        let mut timeout = None;
        let mut action: Option<Action> = None;
        let mut block: Option<Block> = None;
        let mut has_try = false;
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key_seed(StepKey)? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("duplicate key \"{key}\"")));
            }
            seen.push(key.clone());
            let verb = match key.as_str() {
                "name" => {
                    name = Some(map.next_value()?);
                    continue;
                }
                "description" => {
                    description = Some(map.next_value()?);
                    continue;
                }
                "timeout" => {
                    timeout = Some(map.next_value()?);
                    continue;
                }
                "try" => {
                    has_try = true;
                    block.get_or_insert_with(Block::default).try_steps = map.next_value()?;
                    continue;
                }
                "catch" => {
                    block.get_or_insert_with(Block::default).catch_steps = map.next_value()?;
                    continue;
                }
                "finally" => {
                    block.get_or_insert_with(Block::default).finally_steps = map.next_value()?;
                    continue;
                }
                "apply" => Action::Apply(map.next_value()?),
                "patch" => Action::Patch(map.next_value()?),
                "delete" => Action::Delete(map.next_value()?),
                "assert" => Action::Assert(map.next_value()?),
                "error" => Action::Error(map.next_value()?),
                "wait" => Action::Wait(map.next_value()?),
                "sleep" => Action::Sleep(map.next_value()?),
                "exec" => Action::Exec(map.next_value()?),
                "produce" => Action::Produce(map.next_value()?),
                "verify" => Action::Verify(map.next_value()?),
                other => return Err(de::Error::unknown_field(other, ALL_KEYS)),
            };
            if let Some(previous) = &action {
                return Err(de::Error::custom(format!(
                    "a step has exactly one verb, found \"{}\" and \"{}\"; split it into two steps",
                    previous.verb(),
                    verb.verb()
                )));
            }
            action = Some(verb);
        }
        let action = match (action, block) {
            (Some(action), None) => action,
            (Some(action), Some(_)) => {
                return Err(de::Error::custom(format!(
                    "a step is either a verb or a try block, found \"{}\" and a block key",
                    action.verb()
                )));
            }
            (None, Some(block)) if has_try => {
                if timeout.is_some() {
                    return Err(de::Error::custom(
                        "a try block takes no timeout; set timeouts on its steps",
                    ));
                }
                if block.try_steps.is_empty() {
                    return Err(de::Error::custom("\"try\" needs at least one step"));
                }
                Action::Block(block)
            }
            (None, Some(_)) => {
                return Err(de::Error::custom(
                    "\"catch\" and \"finally\" need a \"try\" in the same step",
                ));
            }
            (None, None) => {
                return Err(de::Error::custom(
                    "a step needs a verb: one of \"apply\", \"patch\", \"delete\", \"assert\", \"error\", \"wait\", \"sleep\", \"exec\", \"produce\", \"verify\", or a \"try\" block",
                ));
            }
        };
        if matches!(action, Action::Sleep(_)) && timeout.is_some() {
            return Err(de::Error::custom(
                "\"sleep\" takes no timeout; its duration is the deadline",
            ));
        }
        Ok(Step {
            name,
            description,
            timeout,
            action,
        })
    }
}
