//! Field paths such as `spec.steps[2].assert` or
//! `metadata.labels["app.kubernetes.io/name"]`.
//!
//! One type serves both halves of the engine: validation errors name the
//! offending field of a scenario file with it, and assertion diffs name the
//! offending field of a cluster object, so both read the same way.

use std::fmt;

/// One step into a YAML/JSON tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path from the root of a document to one of its nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// The empty path: the document root.
    pub fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// This path extended by a mapping key.
    pub fn key(&self, key: &str) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        FieldPath(segments)
    }

    /// This path extended by a sequence index.
    pub fn index(&self, index: usize) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        FieldPath(segments)
    }

    /// Whether this is the document root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

/// Keys made of these characters print bare (`spec.job`); anything else is
/// quoted in brackets so that a dot inside a label key is not read as nesting.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.starts_with(|c: char| c.is_ascii_digit())
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(root)");
        }
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if is_plain_key(key) => {
                    if position > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) => write!(f, "[{}]", serde_json::Value::String(key.clone()))?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_the_kubernetes_docs() {
        let path = FieldPath::root()
            .key("spec")
            .key("steps")
            .index(2)
            .key("assert");
        assert_eq!(path.to_string(), "spec.steps[2].assert");
        let label = FieldPath::root()
            .key("metadata")
            .key("labels")
            .key("app.kubernetes.io/name");
        assert_eq!(
            label.to_string(),
            r#"metadata.labels["app.kubernetes.io/name"]"#
        );
        assert_eq!(
            FieldPath::root().index(0).key("kind").to_string(),
            "[0].kind"
        );
        assert_eq!(FieldPath::root().to_string(), "(root)");
    }
}
