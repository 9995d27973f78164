//! Every use of the YAML library in the harness goes through this module.
//!
//! `serde_yaml` is deprecated upstream, so it is kept behind four functions:
//! [`from_str`] (one typed document with `line:column` errors), [`documents`]
//! (a multi-document manifest file as JSON values), [`locate`] (the
//! `line:column` of any node, by path) and [`to_string`]. Swapping the YAML
//! library means rewriting this file only.
//!
//! [`locate`] is how checks that need context (does a `file:` exist next to
//! the scenario? is `${vars.x}` defined?) still report an exact position: it
//! re-reads the text with a probe that fails exactly at the node in question,
//! and the parser attaches that node's position to the failure.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess,
    Visitor,
};

use super::path::{FieldPath, Segment};

/// A 1-based position in a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// Line, starting at 1.
    pub line: usize,
    /// Column, starting at 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A YAML error split into its parts, with the message made readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Where in the text, when known.
    pub location: Option<Location>,
    /// The field path, e.g. `spec.steps[2].assert`, when known.
    pub path: Option<String>,
    /// What is wrong, lowercase, in quotes rather than backticks.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = self.location {
            write!(f, "{location}: ")?;
        }
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Parses one YAML document into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    if text
        .trim()
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        return Err(YamlError {
            location: None,
            path: None,
            message: "the file is empty".to_owned(),
        });
    }
    serde_yaml::from_str(text).map_err(|err| split(&err))
}

/// Parses a multi-document YAML file (`---` separated) into JSON values,
/// skipping empty documents; each value comes with its document index.
pub fn documents(text: &str) -> Result<Vec<(usize, serde_json::Value)>, YamlError> {
    let mut out = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value =
            <serde_json::Value as serde::Deserialize>::deserialize(document).map_err(|err| {
                let mut error = split(&err);
                if error.path.is_none() && index > 0 {
                    error.path = Some(format!("document {}", index + 1));
                }
                error
            })?;
        if !value.is_null() {
            out.push((index, value));
        }
    }
    Ok(out)
}

/// Renders a JSON value as a YAML document.
pub fn to_string(value: &serde_json::Value) -> String {
    // Serializing a JSON value cannot fail: all its keys are strings.
    serde_yaml::to_string(value)
        .unwrap_or_else(|err| format!("# could not render as YAML: {err}\n"))
}

/// The position of the node at `path` in document `document` of `text`, or
/// `None` if there is no such node.
pub fn locate(text: &str, document: usize, path: &FieldPath) -> Option<Location> {
    let deserializer = serde_yaml::Deserializer::from_str(text).nth(document)?;
    match Probe(&path.0).deserialize(deserializer) {
        Ok(()) => None,
        Err(err) if err.to_string().contains(PROBE_MARK) => err.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        }),
        // A syntax error before the node: the document is not readable, so
        // there is no position to give.
        Err(_) => None,
    }
}

const PROBE_MARK: &str = "__harness_locate_probe__";

/// Walks down `path`, skipping everything else, and fails at its end.
struct Probe<'a>(&'a [Segment]);

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.0.split_first() {
            None => deserializer.deserialize_any(Fail),
            Some((segment, rest)) => deserializer.deserialize_any(Descend { segment, rest }),
        }
    }
}

/// Fails on whatever node it is given; raising the error inside the visitor
/// is what makes the parser stamp the node's own position on it.
struct Fail;

impl<'de> Visitor<'de> for Fail {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(PROBE_MARK))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(PROBE_MARK))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(PROBE_MARK))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(PROBE_MARK))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(PROBE_MARK))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(PROBE_MARK))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(PROBE_MARK))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(PROBE_MARK))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(PROBE_MARK))
    }
}

struct Descend<'a> {
    segment: &'a Segment,
    rest: &'a [Segment],
}

impl<'de> Visitor<'de> for Descend<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a sequence")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            let wanted = match (&key, self.segment) {
                (serde_yaml::Value::String(found), Segment::Key(wanted)) => found == wanted,
                _ => false,
            };
            if wanted {
                map.next_value_seed(Probe(self.rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let more = if matches!(self.segment, Segment::Index(wanted) if *wanted == index) {
                seq.next_element_seed(Probe(self.rest))?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    // Scalars have no children: the path does not exist.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Takes serde_yaml's one-line rendering (`path: message at line L column C`)
/// apart, because the library exposes the position but not the path.
fn split(err: &serde_yaml::Error) -> YamlError {
    let location = err.location().map(|l| Location {
        line: l.line(),
        column: l.column(),
    });
    let mut text = err.to_string();
    if let Some(l) = location {
        let suffix = format!(" at line {} column {}", l.line, l.column);
        if let Some(at) = text.find(&suffix) {
            text.replace_range(at..at + suffix.len(), "");
        }
    }
    // A path is only printed when the error has a position, and it never
    // contains a space; our own messages never start with `word: `.
    let (path, message) = match text.split_once(": ") {
        Some((head, tail)) if location.is_some() && !head.contains(' ') && !head.is_empty() => {
            (Some(head.to_owned()), tail.to_owned())
        }
        _ => (None, text),
    };
    YamlError {
        location,
        path,
        message: readable(&message),
    }
}

/// serde's messages quote with backticks; ours quote with double quotes, as
/// the rest of the harness and Kubernetes do. Unknown names get a suggestion.
fn readable(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = Vec::new();
    let mut inside = false;
    let mut current = String::new();
    for c in message.chars() {
        if c == '`' {
            if inside {
                quoted.push(std::mem::take(&mut current));
            }
            inside = !inside;
            out.push('"');
        } else {
            if inside {
                current.push(c);
            }
            out.push(c);
        }
    }
    let is_unknown_name =
        message.starts_with("unknown field") || message.starts_with("unknown variant");
    if let (true, Some((found, candidates))) = (is_unknown_name, quoted.split_first())
        && let Some(suggestion) = closest(found, candidates)
    {
        out.push_str(&format!(" (did you mean \"{suggestion}\"?)"));
    }
    out
}

/// The candidate within a small edit distance of `found`, if exactly one is
/// closest.
pub fn closest<'a>(found: &str, candidates: &'a [String]) -> Option<&'a str> {
    let limit = (found.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    let mut tie = false;
    for candidate in candidates {
        let distance = edit_distance(&found.to_lowercase(), &candidate.to_lowercase());
        if distance > limit {
            continue;
        }
        match best {
            Some((best_distance, _)) if distance > best_distance => {}
            Some((best_distance, _)) if distance == best_distance => tie = true,
            _ => {
                best = Some((distance, candidate));
                tie = false;
            }
        }
    }
    best.filter(|_| !tie).map(|(_, candidate)| candidate)
}

/// Levenshtein distance, with adjacent transpositions counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "a: 1\nspec:\n  steps:\n  - x: 1\n  - name: foo\n    apply:\n      file: \"missing.yaml\"\n  - {apply: {file: other}}\n---\nkind: Second\n";

    fn path(segments: &[&str]) -> FieldPath {
        FieldPath(
            segments
                .iter()
                .map(|s| {
                    s.parse::<usize>()
                        .map(Segment::Index)
                        .unwrap_or_else(|_| Segment::Key((*s).to_owned()))
                })
                .collect(),
        )
    }

    #[test]
    fn locates_block_and_flow_nodes() {
        let at = |line, column| Some(Location { line, column });
        assert_eq!(
            locate(TEXT, 0, &path(&["spec", "steps", "1", "apply", "file"])),
            at(7, 13)
        );
        assert_eq!(
            locate(TEXT, 0, &path(&["spec", "steps", "2", "apply", "file"])),
            at(8, 20)
        );
        assert_eq!(locate(TEXT, 0, &path(&["spec", "steps", "1"])), at(5, 5));
        assert_eq!(locate(TEXT, 1, &path(&["kind"])), at(10, 7));
        assert_eq!(locate(TEXT, 0, &path(&["spec", "nope"])), None);
        assert_eq!(locate(TEXT, 0, &path(&["a", "deeper"])), None);
        assert_eq!(locate(TEXT, 2, &path(&["kind"])), None);
    }

    #[test]
    fn splits_path_position_and_message() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            resource: Option<u32>,
            file: Option<u32>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            inner: Vec<Inner>,
        }
        let err = from_str::<Outer>("inner:\n- file: 1\n- resorce: 2\n").unwrap_err();
        assert_eq!(err.location, Some(Location { line: 3, column: 3 }));
        assert_eq!(err.path.as_deref(), Some("inner[1]"));
        assert_eq!(
            err.message,
            r#"unknown field "resorce", expected "resource" or "file" (did you mean "resource"?)"#
        );
    }

    #[test]
    fn reports_syntax_errors_and_empty_files() {
        let err = from_str::<serde_json::Value>("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.location.is_some(), "{err:?}");
        assert_eq!(
            from_str::<serde_json::Value>("# only a comment\n")
                .unwrap_err()
                .message,
            "the file is empty"
        );
    }

    #[test]
    fn reads_multi_document_files_and_skips_empty_documents() {
        let docs = documents("---\na: 1\n---\n---\nb: 2\n").expect("valid yaml");
        assert_eq!(
            docs,
            vec![
                (0, serde_json::json!({"a": 1})),
                (2, serde_json::json!({"b": 2}))
            ]
        );
    }

    #[test]
    fn suggests_only_clear_winners() {
        let candidates: Vec<String> = ["resource", "resources", "file"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("resorce", &candidates), Some("resource"));
        assert_eq!(closest("fiel", &candidates), Some("file"));
        assert_eq!(closest("zzzzzz", &candidates), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
