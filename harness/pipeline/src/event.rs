//! The input event: its model, its validation and its decoding from JSON bytes.
//!
//! Decoding is the first half of the hot path, so strings are borrowed from the
//! payload whenever they contain no escapes (`Cow::Borrowed`), and nothing is
//! allocated for a well-formed event without escapes. Validation follows the
//! crate's contract exactly; every way an event can be malformed has a short,
//! stable, human reason ([`Malformed`]) that ends up in the dead-letter topic, so
//! the wording is part of the interface.

use std::{borrow::Cow, fmt};

use serde::{
    Deserialize, Deserializer, Serialize,
    de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor},
};

/// The largest accepted timestamp: 9999-12-31T23:59:59.999Z in epoch milliseconds.
///
/// The contract only says "an integer ≥ 0"; this upper bound is ours. It
/// keeps all window arithmetic far from `i64` overflow (Flink would overflow or
/// misbehave on such values too) and rejects obviously corrupt timestamps as
/// malformed instead of opening windows thousands of years ahead.
pub const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// The longest `action_type` value quoted verbatim in an "unknown action_type" reason.
const MAX_QUOTED_ACTION_CHARS: usize = 32;

/// The kind of user action an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    /// The user watched the item; carries `watch_duration_ms`.
    View,
    /// The user liked the item.
    Like,
    /// The user shared the item.
    Share,
    /// The user clicked the item.
    Click,
    /// The item was shown to the user.
    Impression,
}

impl Action {
    /// Every action, in the order the contract lists them.
    pub const ALL: [Action; 5] = [
        Action::View,
        Action::Like,
        Action::Share,
        Action::Click,
        Action::Impression,
    ];

    /// The wire name (`VIEW`, `LIKE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::View => "VIEW",
            Action::Like => "LIKE",
            Action::Share => "SHARE",
            Action::Click => "CLICK",
            Action::Impression => "IMPRESSION",
        }
    }

    /// Parses a wire name, case-sensitively as the contract requires.
    pub fn parse(name: &str) -> Option<Action> {
        match name {
            "VIEW" => Some(Action::View),
            "LIKE" => Some(Action::Like),
            "SHARE" => Some(Action::Share),
            "CLICK" => Some(Action::Click),
            "IMPRESSION" => Some(Action::Impression),
            _ => None,
        }
    }

    /// Whether the user-feature and item-hot computations count this action
    /// (they consider VIEW, LIKE and SHARE only).
    pub fn is_engagement(self) -> bool {
        matches!(self, Action::View | Action::Like | Action::Share)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A valid event. Strings borrow from the decoded payload where possible.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event<'a> {
    /// The tenant (non-empty).
    pub tenant_id: Cow<'a, str>,
    /// The recommendation scenario (non-empty).
    pub scenario_id: Cow<'a, str>,
    /// The acting user (non-empty); also the Kafka message key.
    pub user_id: Cow<'a, str>,
    /// The item acted on (non-empty).
    pub item_id: Cow<'a, str>,
    /// What the user did.
    pub action_type: Action,
    /// Event time in epoch milliseconds, `0..=MAX_TIMESTAMP_MS`.
    pub timestamp: i64,
    /// How long a VIEW lasted; 0 when the field is absent.
    pub watch_duration_ms: u64,
}

impl Event<'_> {
    /// Copies every borrowed string so the event outlives its payload.
    pub fn into_owned(self) -> Event<'static> {
        Event {
            tenant_id: Cow::Owned(self.tenant_id.into_owned()),
            scenario_id: Cow::Owned(self.scenario_id.into_owned()),
            user_id: Cow::Owned(self.user_id.into_owned()),
            item_id: Cow::Owned(self.item_id.into_owned()),
            action_type: self.action_type,
            timestamp: self.timestamp,
            watch_duration_ms: self.watch_duration_ms,
        }
    }

    /// Encodes the event as one line of JSON (without a newline), the format
    /// [`decode`] reads; `watch_duration_ms` is written only when non-zero.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::json!({
            "tenant_id": self.tenant_id,
            "scenario_id": self.scenario_id,
            "user_id": self.user_id,
            "item_id": self.item_id,
            "action_type": self.action_type,
            "timestamp": self.timestamp,
        });
        if self.watch_duration_ms != 0 {
            value["watch_duration_ms"] = self.watch_duration_ms.into();
        }
        value.to_string()
    }
}

/// A field of the event, as named on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// `tenant_id`
    TenantId,
    /// `scenario_id`
    ScenarioId,
    /// `user_id`
    UserId,
    /// `item_id`
    ItemId,
    /// `action_type`
    ActionType,
    /// `timestamp`
    Timestamp,
    /// `watch_duration_ms`
    WatchDurationMs,
}

impl Field {
    /// The JSON key.
    pub fn name(self) -> &'static str {
        match self {
            Field::TenantId => "tenant_id",
            Field::ScenarioId => "scenario_id",
            Field::UserId => "user_id",
            Field::ItemId => "item_id",
            Field::ActionType => "action_type",
            Field::Timestamp => "timestamp",
            Field::WatchDurationMs => "watch_duration_ms",
        }
    }

    /// Recognises a key with one comparison: the length and first two bytes
    /// pick the only candidate (matching the seven names in turn cost a
    /// noticeable share of decoding).
    fn from_key(key: &str) -> Option<Field> {
        // Comparing against literals of a length known in each arm compiles to
        // a few word comparisons instead of a call to `memcmp`.
        let bytes = key.as_bytes();
        match (bytes.len(), bytes.first()?, bytes.get(1)?) {
            (9, b't', b'e') if bytes == b"tenant_id" => Some(Field::TenantId),
            (9, b't', b'i') if bytes == b"timestamp" => Some(Field::Timestamp),
            (11, b's', _) if bytes == b"scenario_id" => Some(Field::ScenarioId),
            (11, b'a', _) if bytes == b"action_type" => Some(Field::ActionType),
            (7, b'u', _) if bytes == b"user_id" => Some(Field::UserId),
            (7, b'i', _) if bytes == b"item_id" => Some(Field::ItemId),
            (17, b'w', _) if bytes == b"watch_duration_ms" => Some(Field::WatchDurationMs),
            _ => None,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an event is malformed. The `Display` text is the dead-letter reason:
/// short, stable, lowercase.
///
/// When an event has several problems, the first in this order is reported:
/// invalid JSON, not an object, a duplicated field, then each field in wire
/// order (`tenant_id` ... `watch_duration_ms`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Malformed {
    /// The bytes are not one JSON value (a syntax error, truncation, invalid
    /// UTF-8 or trailing characters).
    #[error("{}", invalid_json_reason(*line, *column))]
    InvalidJson {
        /// The 1-based line of the error, as serde_json reports it.
        line: usize,
        /// The column of the error, as serde_json reports it.
        column: usize,
    },
    /// The JSON value is not an object.
    #[error("expected a JSON object")]
    NotAnObject,
    /// A known field appears twice. The contract does not say which copy wins,
    /// so rather than guess we reject the event.
    #[error("duplicate field {0}")]
    DuplicateField(Field),
    /// A required field is absent.
    #[error("missing field {0}")]
    MissingField(Field),
    /// A field is JSON `null`. This includes `watch_duration_ms`: the contract
    /// allows it to be absent, not null.
    #[error("null field {0}")]
    NullField(Field),
    /// A string field holds another JSON type.
    #[error("field {0} is not a string")]
    NotAString(Field),
    /// A string field is `""`.
    #[error("empty field {0}")]
    EmptyField(Field),
    /// `action_type` is a string but not one of the five actions (the value is
    /// quoted, cut to 32 characters).
    #[error("unknown action_type {0:?}")]
    UnknownActionType(String),
    /// A numeric field holds a non-integer (a float, a string, a boolean, ...).
    #[error("field {0} is not an integer")]
    NotAnInteger(Field),
    /// A numeric field is below zero.
    #[error("negative {0}")]
    Negative(Field),
    /// A numeric field is too large: a timestamp after [`MAX_TIMESTAMP_MS`], or
    /// a watch duration above `i64::MAX` (Flink's BIGINT).
    #[error("{0} out of range")]
    OutOfRange(Field),
}

fn invalid_json_reason(line: usize, column: usize) -> String {
    if line <= 1 {
        format!("invalid JSON at column {column}")
    } else {
        format!("invalid JSON at line {line} column {column}")
    }
}

/// Decodes and validates one event from its JSON bytes.
///
/// Unknown fields are ignored, as Flink's JSON format does by default with
/// `json.ignore-parse-errors` off and extra columns undeclared. Surrounding
/// whitespace (such as a trailing newline) is allowed; anything else after the
/// object is invalid JSON.
pub fn decode(payload: &[u8]) -> Result<Event<'_>, Malformed> {
    // The fields are filled in place through a seed rather than returned by
    // value: the struct is a few hundred bytes and moving it around cost a
    // fifth of the decoding time.
    let mut fields = RawFields::default();
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    let parsed = FieldsSeed(&mut fields)
        .deserialize(&mut deserializer)
        .and_then(|is_object| deserializer.end().map(|()| is_object));
    match parsed {
        Err(err) => Err(Malformed::InvalidJson {
            line: err.line(),
            column: err.column(),
        }),
        Ok(false) => Err(Malformed::NotAnObject),
        Ok(true) => fields.validate(),
    }
}

/// A JSON value as seen by the lenient first pass: every type is accepted here
/// and judged by [`RawFields::validate`], so that the reason is ours, not serde's.
enum RawValue<'a> {
    Null,
    Str(Cow<'a, str>),
    Unsigned(u64),
    Negative,
    Other,
}

#[derive(Default)]
struct RawFields<'a> {
    tenant_id: Option<RawValue<'a>>,
    scenario_id: Option<RawValue<'a>>,
    user_id: Option<RawValue<'a>>,
    item_id: Option<RawValue<'a>>,
    action_type: Option<RawValue<'a>>,
    timestamp: Option<RawValue<'a>>,
    watch_duration_ms: Option<RawValue<'a>>,
    duplicate: Option<Field>,
}

impl<'a> RawFields<'a> {
    fn slot(&mut self, field: Field) -> &mut Option<RawValue<'a>> {
        match field {
            Field::TenantId => &mut self.tenant_id,
            Field::ScenarioId => &mut self.scenario_id,
            Field::UserId => &mut self.user_id,
            Field::ItemId => &mut self.item_id,
            Field::ActionType => &mut self.action_type,
            Field::Timestamp => &mut self.timestamp,
            Field::WatchDurationMs => &mut self.watch_duration_ms,
        }
    }

    fn validate(&mut self) -> Result<Event<'a>, Malformed> {
        if let Some(field) = self.duplicate {
            return Err(Malformed::DuplicateField(field));
        }
        let tenant_id = required_string(Field::TenantId, self.tenant_id.take())?;
        let scenario_id = required_string(Field::ScenarioId, self.scenario_id.take())?;
        let user_id = required_string(Field::UserId, self.user_id.take())?;
        let item_id = required_string(Field::ItemId, self.item_id.take())?;
        let action_name = required_string(Field::ActionType, self.action_type.take())?;
        let action_type = Action::parse(&action_name).ok_or_else(|| {
            Malformed::UnknownActionType(
                action_name.chars().take(MAX_QUOTED_ACTION_CHARS).collect(),
            )
        })?;
        let timestamp = match self.timestamp.take() {
            None => return Err(Malformed::MissingField(Field::Timestamp)),
            Some(value) => non_negative_integer(Field::Timestamp, value)?,
        };
        let timestamp = i64::try_from(timestamp)
            .ok()
            .filter(|ts| *ts <= MAX_TIMESTAMP_MS)
            .ok_or(Malformed::OutOfRange(Field::Timestamp))?;
        let watch_duration_ms = match self.watch_duration_ms.take() {
            None => 0,
            Some(value) => non_negative_integer(Field::WatchDurationMs, value)?,
        };
        if i64::try_from(watch_duration_ms).is_err() {
            return Err(Malformed::OutOfRange(Field::WatchDurationMs));
        }
        Ok(Event {
            tenant_id,
            scenario_id,
            user_id,
            item_id,
            action_type,
            timestamp,
            watch_duration_ms,
        })
    }
}

fn required_string(field: Field, value: Option<RawValue<'_>>) -> Result<Cow<'_, str>, Malformed> {
    match value {
        None => Err(Malformed::MissingField(field)),
        Some(RawValue::Null) => Err(Malformed::NullField(field)),
        Some(RawValue::Str(text)) if text.is_empty() => Err(Malformed::EmptyField(field)),
        Some(RawValue::Str(text)) => Ok(text),
        Some(_) => Err(Malformed::NotAString(field)),
    }
}

fn non_negative_integer(field: Field, value: RawValue<'_>) -> Result<u64, Malformed> {
    match value {
        RawValue::Unsigned(number) => Ok(number),
        RawValue::Negative => Err(Malformed::Negative(field)),
        RawValue::Null => Err(Malformed::NullField(field)),
        RawValue::Str(_) | RawValue::Other => Err(Malformed::NotAnInteger(field)),
    }
}

/// Fills [`RawFields`] from a JSON object; yields `false` (after consuming the
/// value) when the JSON is not an object.
struct FieldsSeed<'f, 'de>(&'f mut RawFields<'de>);

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_, 'de> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let fields = self.0;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
                Some(field) => {
                    let value = map.next_value::<RawValue<'de>>()?;
                    let slot = fields.slot(field);
                    if slot.is_some() {
                        fields.duplicate.get_or_insert(field);
                    } else {
                        *slot = Some(value);
                    }
                }
            }
        }
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// Recognises a key without allocating: `Some(field)` for the seven known keys,
/// `None` for anything else (ignored).
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<Field>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<Field>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Field::from_key(key))
    }
}

impl<'de> Deserialize<'de> for RawValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawValueVisitor)
    }
}

struct RawValueVisitor;

impl<'de> Visitor<'de> for RawValueVisitor {
    type Value = RawValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawValue::Null)
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(RawValue::Str(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(RawValue::Str(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(RawValue::Str(Cow::Owned(text)))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
        Ok(RawValue::Unsigned(number))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(number).map_or(RawValue::Negative, RawValue::Unsigned))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
        // serde_json reports integers beyond u64 as floats too; both are "not an
        // integer" we can use, except that a negative one is reported as such.
        Ok(if number < 0.0 {
            RawValue::Negative
        } else {
            RawValue::Other
        })
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawValue::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawValue::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(RawValue::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_EVENT: &str = r#"{"tenant_id":"demo","scenario_id":"vlog_feed","user_id":"user_001","item_id":"video_123","action_type":"VIEW","timestamp":1730800000000}"#;

    fn reason(payload: &str) -> String {
        match decode(payload.as_bytes()) {
            Ok(event) => format!("valid: {event:?}"),
            Err(reason) => reason.to_string(),
        }
    }

    #[test]
    fn the_seed_event_decodes_with_borrowed_strings() {
        let event = decode(SEED_EVENT.as_bytes()).unwrap();
        assert_eq!(event.tenant_id, "demo");
        assert_eq!(event.scenario_id, "vlog_feed");
        assert_eq!(event.user_id, "user_001");
        assert_eq!(event.item_id, "video_123");
        assert_eq!(event.action_type, Action::View);
        assert_eq!(event.timestamp, 1_730_800_000_000);
        assert_eq!(event.watch_duration_ms, 0, "absent means 0");
        assert!(
            matches!(event.user_id, Cow::Borrowed(_)),
            "no allocation without escapes"
        );
    }

    #[test]
    fn escapes_unknown_fields_and_whitespace_are_accepted() {
        let payload = r#"  {"extra":{"nested":[1,2,{"x":null}]},"tenant_id":"d\u00e9mo","scenario_id":"s\"q","user_id":"u","item_id":"i","action_type":"LIKE","timestamp":0,"watch_duration_ms":12}
"#;
        let event = decode(payload.as_bytes()).unwrap();
        assert_eq!(event.tenant_id, "démo");
        assert_eq!(event.scenario_id, "s\"q");
        assert!(matches!(event.tenant_id, Cow::Owned(_)));
        assert_eq!((event.timestamp, event.watch_duration_ms), (0, 12));
    }

    #[test]
    fn every_action_parses_case_sensitively() {
        for action in Action::ALL {
            let payload = SEED_EVENT.replace("VIEW", action.as_str());
            assert_eq!(
                decode(payload.as_bytes()).map(|e| e.action_type),
                Ok(action)
            );
        }
        assert_eq!(
            reason(&SEED_EVENT.replace("VIEW", "View")),
            r#"unknown action_type "View""#
        );
        assert_eq!(
            reason(&SEED_EVENT.replace("VIEW", "FOO")),
            r#"unknown action_type "FOO""#
        );
        let long = "X".repeat(100);
        assert_eq!(
            reason(&SEED_EVENT.replace("VIEW", &long)),
            format!("unknown action_type {:?}", "X".repeat(32))
        );
    }

    #[test]
    fn malformed_events_get_short_stable_reasons() {
        let cases = [
            (r#"{"tenant_id":"demo","#, "invalid JSON at column 20"),
            ("", "invalid JSON at column 0"),
            ("{\n\"a\":}", "invalid JSON at line 2 column 5"),
            (r#"{"tenant_id":"demo"} x"#, "invalid JSON at column 22"),
            ("[1,2]", "expected a JSON object"),
            ("42", "expected a JSON object"),
            ("null", "expected a JSON object"),
            (
                &SEED_EVENT.replace(r#""user_id":"user_001","#, ""),
                "missing field user_id",
            ),
            (
                &SEED_EVENT.replace(r#""user_001""#, "null"),
                "null field user_id",
            ),
            (
                &SEED_EVENT.replace(r#""user_001""#, r#""""#),
                "empty field user_id",
            ),
            (
                &SEED_EVENT.replace(r#""user_001""#, "7"),
                "field user_id is not a string",
            ),
            (
                &SEED_EVENT.replace("1730800000000", "-5"),
                "negative timestamp",
            ),
            (
                &SEED_EVENT.replace("1730800000000", "-1.5"),
                "negative timestamp",
            ),
            (
                &SEED_EVENT.replace("1730800000000", "1.5"),
                "field timestamp is not an integer",
            ),
            (
                &SEED_EVENT.replace("1730800000000", r#""1730800000000""#),
                "field timestamp is not an integer",
            ),
            (
                &SEED_EVENT.replace("1730800000000", "true"),
                "field timestamp is not an integer",
            ),
            (
                &SEED_EVENT.replace("1730800000000", "null"),
                "null field timestamp",
            ),
            (
                &SEED_EVENT.replace("1730800000000", "253402300800000"),
                "timestamp out of range",
            ),
            (
                &SEED_EVENT.replace("1730800000000", "99999999999999999999999"),
                "field timestamp is not an integer",
            ),
            (
                &SEED_EVENT.replace(",\"timestamp\":1730800000000", ""),
                "missing field timestamp",
            ),
            (
                &SEED_EVENT.replace("}", r#","watch_duration_ms":-1}"#),
                "negative watch_duration_ms",
            ),
            (
                &SEED_EVENT.replace("}", r#","watch_duration_ms":null}"#),
                "null field watch_duration_ms",
            ),
            (
                &SEED_EVENT.replace("}", r#","watch_duration_ms":"5"}"#),
                "field watch_duration_ms is not an integer",
            ),
            (
                &SEED_EVENT.replace("}", r#","watch_duration_ms":9223372036854775808}"#),
                "watch_duration_ms out of range",
            ),
            (
                &SEED_EVENT.replace("}", r#","user_id":"again"}"#),
                "duplicate field user_id",
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(reason(payload), want, "payload {payload:?}");
        }
    }

    #[test]
    fn the_first_problem_in_field_order_is_reported() {
        let payload = r#"{"timestamp":-1,"action_type":"NOPE","user_id":""}"#;
        assert_eq!(reason(payload), "missing field tenant_id");
        let payload = SEED_EVENT
            .replace("VIEW", "NOPE")
            .replace("1730800000000", "-1");
        assert_eq!(reason(&payload), r#"unknown action_type "NOPE""#);
    }

    #[test]
    fn the_largest_values_are_accepted() {
        let payload = SEED_EVENT
            .replace("1730800000000", &MAX_TIMESTAMP_MS.to_string())
            .replace("}", &format!(r#","watch_duration_ms":{}}}"#, i64::MAX));
        let event = decode(payload.as_bytes()).unwrap();
        assert_eq!(
            (event.timestamp, event.watch_duration_ms),
            (MAX_TIMESTAMP_MS, i64::MAX as u64)
        );
    }

    #[test]
    fn to_json_round_trips() {
        let event = decode(SEED_EVENT.as_bytes()).unwrap().into_owned();
        assert_eq!(decode(event.to_json().as_bytes()), Ok(event.clone()));
        let watched = Event {
            watch_duration_ms: 31_000,
            ..event
        };
        assert_eq!(decode(watched.to_json().as_bytes()), Ok(watched));
    }

    #[test]
    fn reasons_round_trip_through_serde() {
        let reason = Malformed::UnknownActionType("FOO".into());
        let json = serde_json::to_string(&reason).unwrap();
        assert_eq!(serde_json::from_str::<Malformed>(&json).unwrap(), reason);
    }
}
