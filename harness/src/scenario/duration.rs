//! Durations as scenarios write them: `30s`, `5m`, `1h30m`, `250ms`, `1.5s`.
//!
//! The grammar is Go's `time.ParseDuration` restricted to the units a
//! scenario needs (`h`, `m`, `s`, `ms`), because that is what Kubernetes
//! users already type into `kubectl wait --timeout`. A bare number is an
//! error rather than "seconds", so `timeout: 30` cannot silently mean 30 ms
//! to one reader and 30 s to another.

use std::{fmt, time::Duration as StdDuration};

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A duration written in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub StdDuration);

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text was empty.
    #[error("empty duration, expected e.g. \"30s\", \"5m\" or \"1h30m\"")]
    Empty,
    /// A number without a unit (other than a lone `0`).
    #[error("invalid duration {0:?}: missing unit (h, m, s or ms), e.g. \"30s\"")]
    MissingUnit(String),
    /// A unit that is not one of `h`, `m`, `s`, `ms`.
    #[error("invalid duration {text:?}: unknown unit {unit:?}, expected h, m, s or ms")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// Anything else: a sign, a stray character, a missing number.
    #[error("invalid duration {0:?}, expected e.g. \"30s\", \"5m\", \"1h30m\" or \"250ms\"")]
    Malformed(String),
    /// More than the engine can represent.
    #[error("invalid duration {0:?}: too large")]
    Overflow(String),
}

impl Duration {
    /// Parses `text` (see the module docs for the grammar).
    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(DurationError::Empty);
        }
        if trimmed == "0" {
            return Ok(Duration(StdDuration::ZERO));
        }
        let mut rest = trimmed;
        let mut total_nanos: u128 = 0;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let (number, after_number) = rest.split_at(number_len);
            if number.is_empty()
                || number.starts_with('.')
                || number.ends_with('.')
                || number.matches('.').count() > 1
            {
                return Err(DurationError::Malformed(text.to_owned()));
            }
            let unit_len = after_number
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after_number.len());
            let (unit, after_unit) = after_number.split_at(unit_len);
            let unit_nanos: u128 = match unit {
                "h" => 3_600_000_000_000,
                "m" => 60_000_000_000,
                "s" => 1_000_000_000,
                "ms" => 1_000_000,
                "" => return Err(DurationError::MissingUnit(text.to_owned())),
                other if other.chars().all(|c| c.is_ascii_alphabetic()) => {
                    return Err(DurationError::UnknownUnit {
                        text: text.to_owned(),
                        unit: other.to_owned(),
                    });
                }
                _ => return Err(DurationError::Malformed(text.to_owned())),
            };
            total_nanos = total_nanos
                .checked_add(
                    scaled(number, unit_nanos)
                        .ok_or_else(|| DurationError::Overflow(text.to_owned()))?,
                )
                .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
            rest = after_unit;
        }
        // Go's limit (an int64 of nanoseconds, about 292 years), which also
        // keeps every conversion of the duration to the cluster's clock finite.
        if total_nanos > i64::MAX as u128 {
            return Err(DurationError::Overflow(text.to_owned()));
        }
        let secs = (total_nanos / 1_000_000_000) as u64;
        Ok(Duration(StdDuration::new(
            secs,
            (total_nanos % 1_000_000_000) as u32,
        )))
    }

    /// The standard-library duration.
    pub fn std(self) -> StdDuration {
        self.0
    }
}

/// `number` (digits with at most one dot) times `unit_nanos`, exactly.
fn scaled(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u128 = whole.parse().ok()?;
    let mut nanos = whole.checked_mul(unit_nanos)?;
    // Fractions finer than a nanosecond are dropped, as Go does.
    let mut scale = unit_nanos;
    for digit in fraction.chars() {
        scale /= 10;
        nanos = nanos.checked_add(u128::from(digit.to_digit(10)?) * scale)?;
    }
    Some(nanos)
}

/// Renders a duration the way it would be written in a scenario: the largest
/// units first, no zero parts (`1h30m`, `250ms`, `1m0.5s` becomes `1m500ms`).
pub fn format_spec(duration: StdDuration) -> String {
    let total_ms = duration.as_millis();
    if total_ms == 0 {
        return if duration.is_zero() {
            "0s".to_owned()
        } else {
            format!("{}us", duration.as_micros())
        };
    }
    let mut out = String::new();
    let (hours, rest) = (total_ms / 3_600_000, total_ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1000, rest % 1000);
    for (value, unit) in [(hours, "h"), (minutes, "m"), (seconds, "s"), (millis, "ms")] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

/// Renders a measured duration for reports: `0.42s`, `3.0s`, `2m05s`.
pub fn format_measured(duration: StdDuration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.2}s")
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = duration.as_secs();
        if whole < 3600 {
            format!("{}m{:02}s", whole / 60, whole % 60)
        } else {
            format!("{}h{:02}m{:02}s", whole / 3600, whole / 60 % 60, whole % 60)
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_spec(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Errors are raised inside the visitor so that the YAML deserializer
        // attaches the scalar's own line and column to them.
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"5m\" or \"1h30m\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
                Duration::parse(text).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<Duration, E> {
                self.visit_str(&number.to_string())
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<Duration, E> {
                self.visit_str(&number.to_string())
            }

            fn visit_f64<E: de::Error>(self, number: f64) -> Result<Duration, E> {
                self.visit_str(&number.to_string())
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration(StdDuration::from_millis(millis))
    }

    #[test]
    fn parses_the_units_scenarios_use() {
        assert_eq!(Duration::parse("30s"), Ok(ms(30_000)));
        assert_eq!(Duration::parse("5m"), Ok(ms(300_000)));
        assert_eq!(Duration::parse("1h30m"), Ok(ms(5_400_000)));
        assert_eq!(Duration::parse("250ms"), Ok(ms(250)));
        assert_eq!(Duration::parse("1.5s"), Ok(ms(1500)));
        assert_eq!(Duration::parse("1m0.5s"), Ok(ms(60_500)));
        assert_eq!(Duration::parse("0"), Ok(ms(0)));
        assert_eq!(Duration::parse(" 2h "), Ok(ms(7_200_000)));
    }

    #[test]
    fn rejects_what_a_reader_could_misread() {
        assert_eq!(
            Duration::parse("30"),
            Err(DurationError::MissingUnit("30".into()))
        );
        assert_eq!(Duration::parse(""), Err(DurationError::Empty));
        assert_eq!(
            Duration::parse("5d"),
            Err(DurationError::UnknownUnit {
                text: "5d".into(),
                unit: "d".into()
            })
        );
        assert_eq!(
            Duration::parse("5 s"),
            Err(DurationError::Malformed("5 s".into()))
        );
        assert_eq!(
            Duration::parse("-5s"),
            Err(DurationError::Malformed("-5s".into()))
        );
        assert_eq!(
            Duration::parse("s"),
            Err(DurationError::Malformed("s".into()))
        );
        assert_eq!(
            Duration::parse("1.s"),
            Err(DurationError::Malformed("1.s".into()))
        );
        assert_eq!(
            Duration::parse("1..5s"),
            Err(DurationError::Malformed("1..5s".into()))
        );
        assert!(matches!(
            Duration::parse("99999999999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
        // Go's bound: 2562047h47m16.854775807s is the largest duration.
        assert_eq!(
            Duration::parse("2562047h").map(Duration::std),
            Ok(StdDuration::from_secs(2_562_047 * 3600))
        );
        assert!(matches!(
            Duration::parse("2562048h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_spec(StdDuration::from_millis(5_400_000)), "1h30m");
        assert_eq!(format_spec(StdDuration::from_millis(250)), "250ms");
        assert_eq!(format_spec(StdDuration::ZERO), "0s");
        assert_eq!(format_measured(StdDuration::from_millis(3000)), "3.00s");
        assert_eq!(format_measured(StdDuration::from_millis(12_340)), "12.3s");
        assert_eq!(format_measured(StdDuration::from_secs(125)), "2m05s");
    }

    proptest! {
        #[test]
        fn formatting_round_trips_through_parsing(millis in 0u64..10_000_000_000) {
            let duration = StdDuration::from_millis(millis);
            prop_assert_eq!(Duration::parse(&format_spec(duration)), Ok(Duration(duration)));
        }

        #[test]
        fn parts_add_up(hours in 0u64..100, minutes in 0u64..1000, seconds in 0u64..1000, millis in 0u64..1000) {
            let text = format!("{hours}h{minutes}m{seconds}s{millis}ms");
            let expected = hours * 3_600_000 + minutes * 60_000 + seconds * 1000 + millis;
            prop_assert_eq!(Duration::parse(&text), Ok(ms(expected)));
        }
    }
}
