//! A tiny JSON reader and writer helpers, enough for criterion's
//! `estimates.json`/`benchmark.json` and our own baseline and results files.
//! xtask depends on nothing but std and anyhow, so this stays small: values
//! are parsed into a tree, numbers as `f64`, objects into sorted maps.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(BTreeMap<String, Value>),
}

impl Value {
    /// The member `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.get(key),
            _ => None,
        }
    }

    /// Follows `keys` through nested objects.
    pub(crate) fn path(&self, keys: &[&str]) -> Option<&Value> {
        keys.iter().try_fold(self, |value, key| value.get(key))
    }

    /// The number, if this is one.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub(crate) fn as_object(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }
}

/// Parses one JSON document (surrounding whitespace allowed).
pub(crate) fn parse(text: &str) -> anyhow::Result<Value> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let value = parser
        .value()
        .with_context(|| format!("invalid JSON at byte {}", parser.pos))?;
    parser.skip_whitespace();
    if parser.pos != parser.bytes.len() {
        bail!("invalid JSON at byte {}: trailing characters", parser.pos);
    }
    Ok(value)
}

/// `s` as a JSON string literal, quotes included.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `n` as a JSON number (`null` if it is not finite, which JSON cannot hold).
pub(crate) fn number(n: f64) -> String {
    if n.is_finite() {
        format!("{n}")
    } else {
        "null".to_owned()
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_whitespace(&mut self) {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> anyhow::Result<()> {
        if self.peek() != Some(byte) {
            bail!("expected `{}`", byte as char);
        }
        self.pos += 1;
        Ok(())
    }

    fn literal(&mut self, word: &str, value: Value) -> anyhow::Result<Value> {
        if !self.bytes[self.pos..].starts_with(word.as_bytes()) {
            bail!("expected `{word}`");
        }
        self.pos += word.len();
        Ok(value)
    }

    fn value(&mut self) -> anyhow::Result<Value> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(other) => bail!("unexpected `{}`", other as char),
            None => bail!("unexpected end of input"),
        }
    }

    fn object(&mut self) -> anyhow::Result<Value> {
        self.expect(b'{')?;
        let mut members = BTreeMap::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            if self.peek() != Some(b'"') {
                bail!("expected a member name");
            }
            let key = self.string()?;
            self.expect(b':')?;
            members.insert(key, self.value()?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => bail!("expected `,` or `}}`"),
            }
        }
    }

    fn array(&mut self) -> anyhow::Result<Value> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => bail!("expected `,` or `]`"),
            }
        }
    }

    fn number(&mut self) -> anyhow::Result<Value> {
        let start = self.pos;
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
        {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos])?;
        let n: f64 = text
            .parse()
            .with_context(|| format!("bad number `{text}`"))?;
        Ok(Value::Number(n))
    }

    fn string(&mut self) -> anyhow::Result<String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let Some(&byte) = self.bytes.get(self.pos) else {
                bail!("unterminated string")
            };
            self.pos += 1;
            match byte {
                b'"' => return Ok(String::from_utf8(out)?),
                b'\\' => {
                    let Some(&escape) = self.bytes.get(self.pos) else {
                        bail!("unterminated escape")
                    };
                    self.pos += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        other => bail!("bad escape `\\{}`", other as char),
                    };
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                other => out.push(other),
            }
        }
    }

    /// After `\u`: four hex digits, or a surrogate pair `\uD8xx\uDCxx`.
    fn unicode_escape(&mut self) -> anyhow::Result<char> {
        let high = self.hex4()?;
        if !(0xD800..0xDC00).contains(&high) {
            return char::from_u32(high).context("bad \\u escape");
        }
        if !self.bytes[self.pos..].starts_with(b"\\u") {
            bail!("unpaired surrogate");
        }
        self.pos += 2;
        let low = self.hex4()?;
        if !(0xDC00..0xE000).contains(&low) {
            bail!("unpaired surrogate");
        }
        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            .context("bad surrogate pair")
    }

    fn hex4(&mut self) -> anyhow::Result<u32> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .context("short \\u escape")?;
        self.pos += 4;
        let text = std::str::from_utf8(digits)?;
        u32::from_str_radix(text, 16).with_context(|| format!("bad \\u escape `{text}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_estimates() -> anyhow::Result<()> {
        let text = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.5e7,"upper_bound":1.7e7},
            "point_estimate":16012345.5,"standard_error":1234.0},"median":{"confidence_interval":{"confidence_level":0.95,
            "lower_bound":1.4e7,"upper_bound":1.6e7},"point_estimate":15000000.25,"standard_error":99.0},"slope":null}"#;
        let value = parse(text)?;
        assert_eq!(
            value
                .path(&["median", "point_estimate"])
                .and_then(Value::as_f64),
            Some(15_000_000.25)
        );
        assert_eq!(value.get("slope"), Some(&Value::Null));
        assert_eq!(value.path(&["mean", "nope"]), None);
        Ok(())
    }

    #[test]
    fn reads_every_kind_of_value() -> anyhow::Result<()> {
        let value =
            parse(r#" [true, false, null, -1.25e2, "a\"b\\c\/\n\u00e9\ud83d\ude00", [], {}] "#)?;
        let expected = Value::Array(vec![
            Value::Bool(true),
            Value::Bool(false),
            Value::Null,
            Value::Number(-125.0),
            Value::String("a\"b\\c/\né😀".to_owned()),
            Value::Array(vec![]),
            Value::Object(BTreeMap::new()),
        ]);
        assert_eq!(value, expected);
        Ok(())
    }

    #[test]
    fn rejects_broken_documents() {
        for text in [
            "",
            "{",
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            "[1 2]",
            r#""abc"#,
            "tru",
            "1 2",
            r#""\ud800""#,
            "{1:2}",
        ] {
            assert!(parse(text).is_err(), "accepted {text:?}");
        }
    }

    #[test]
    fn quote_and_number_round_trip() -> anyhow::Result<()> {
        let tricky = "tab\tquote\" back\\ bell\u{7} é";
        assert_eq!(parse(&quote(tricky))?, Value::String(tricky.to_owned()));
        for n in [0.0, 1.0 / 3.0, 1_234_567.891, -2.5e-9] {
            assert_eq!(parse(&number(n))?, Value::Number(n));
        }
        assert_eq!(number(f64::NAN), "null");
        Ok(())
    }
}
