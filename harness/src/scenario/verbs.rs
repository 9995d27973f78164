//! The verbs a step can use, one struct each, exactly as written in YAML.
//!
//! Each struct rejects unknown fields. Invariants that need more than one
//! field ("exactly one of `resource`, `resources`, `file`") or the file
//! system are checked by [`super::validate`], which also fills the
//! `objects` of verbs that read manifests.

use std::{collections::BTreeMap, fmt, path::PathBuf};

use serde::{
    Deserialize,
    de::{self, Deserializer, SeqAccess, Visitor},
};
use serde_json::Value;

use super::{duration::Duration, jsonpath::JsonPath, path::FieldPath};

/// A Kubernetes object from a scenario, with where it was written.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The object (before `${...}` expansion).
    pub value: Value,
    /// Where it came from, for messages.
    pub origin: Origin,
}

/// The file, YAML document and path of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file (the scenario itself for inline objects).
    pub file: PathBuf,
    /// The document index within the file.
    pub document: usize,
    /// The path of the object within the document.
    pub path: FieldPath,
}

/// `apply`: create each object, or merge-patch it if it exists (as kuttl does,
/// so a step can be a partial update).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Apply {
    /// One inline object.
    #[serde(default)]
    pub resource: Option<Value>,
    /// Several inline objects.
    #[serde(default)]
    pub resources: Option<Vec<Value>>,
    /// A manifest file relative to the scenario; may hold several documents.
    #[serde(default)]
    pub file: Option<String>,
    /// Put every object in this namespace, replacing what its manifest says
    /// (e.g. `${namespace}` for a manifest written for another namespace).
    #[serde(default)]
    pub namespace: Option<String>,
    /// How the server treats unknown fields: `Strict` (the default, as for
    /// `kubectl apply`) rejects them, `Warn` and `Ignore` prune them.
    #[serde(default, rename = "fieldValidation")]
    pub field_validation: Option<FieldValidation>,
    /// The API must reject every object this way.
    #[serde(default)]
    pub expect: Option<Expect>,
    /// Filled by validation from whichever of the three sources is set.
    #[serde(skip)]
    pub objects: Vec<Manifest>,
}

/// The `fieldValidation` directive of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum FieldValidation {
    /// Unknown or duplicate fields fail the request (400).
    Strict,
    /// Unknown fields are dropped with a warning.
    Warn,
    /// Unknown fields are dropped silently.
    Ignore,
}

impl FieldValidation {
    /// The query-parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldValidation::Strict => "Strict",
            FieldValidation::Warn => "Warn",
            FieldValidation::Ignore => "Ignore",
        }
    }
}

/// An expected API failure on a write verb.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// HTTP status code, e.g. 403 (webhook denial) or 422 (schema).
    pub code: u16,
    /// The `Status.reason`, e.g. `Forbidden`, `Invalid`.
    #[serde(default)]
    pub reason: Option<String>,
    /// A substring of the `Status.message`.
    #[serde(default)]
    pub message: Option<String>,
}

/// How a patch body is interpreted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchType {
    /// RFC 7386 JSON merge patch (`application/merge-patch+json`).
    #[default]
    Merge,
    /// RFC 6902 JSON patch (`application/json-patch+json`).
    Json,
    /// Kubernetes strategic merge patch (built-in kinds only).
    Strategic,
}

/// `patch`: patch one object by apiVersion/kind/name.
// The identity fields are repeated in `Delete` and `Wait` on purpose; see
// the note at `Delete`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Patch {
    /// The object's apiVersion.
    pub api_version: String,
    /// The object's kind.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// Defaults to the scenario's namespace for namespaced kinds.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `merge` (default), `json` or `strategic`.
    #[serde(default, rename = "type")]
    pub patch_type: PatchType,
    /// The body: an object for merge/strategic, a list of operations for json.
    pub patch: Value,
    /// The API must reject the patch this way.
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// `delete`: delete objects by name or label selector, and by default wait
/// until they are gone.
// apiVersion/kind/name/labels/namespace are written out here, in `Patch`
// and in `Wait` rather than shared through `#[serde(flatten)]`: serde does
// not support flatten together with `deny_unknown_fields` (a misspelt field
// would no longer be reported with the fields it could have meant), and a
// flattened struct is read from a buffer, so its errors lose their
// file:line:column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Delete {
    /// The objects' apiVersion.
    pub api_version: String,
    /// The objects' kind.
    pub kind: String,
    /// One object by name...
    #[serde(default)]
    pub name: Option<String>,
    /// ...or every object with these labels.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Defaults to the scenario's namespace for namespaced kinds.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Wait until the objects are gone (default true).
    #[serde(default = "yes")]
    pub wait: bool,
    /// The API must reject the deletion this way.
    #[serde(default)]
    pub expect: Option<Expect>,
}

fn yes() -> bool {
    true
}

/// When an assertion is evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Poll until it holds, up to the deadline.
    #[default]
    Eventually,
    /// It must hold at every poll for the whole `window`.
    Consistently,
}

/// Which candidate objects must match when no name is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantifier {
    /// At least one.
    #[default]
    Any,
    /// Every one (and there must be at least one).
    All,
}

/// How expected lists are compared with actual lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListMode {
    /// Same length, element by element in order (each element a partial match).
    #[default]
    Exact,
    /// Every expected element matches a distinct actual element, in any order.
    Contains,
}

/// `assert`: objects must (eventually, or consistently) match a partial object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assert {
    /// One expected (partial) object.
    #[serde(default)]
    pub resource: Option<Value>,
    /// Several expected objects; all must hold.
    #[serde(default)]
    pub resources: Option<Vec<Value>>,
    /// A file of expected objects; all must hold.
    #[serde(default)]
    pub file: Option<String>,
    /// `eventually` (default) or `consistently`.
    #[serde(default)]
    pub mode: Mode,
    /// For `consistently`: how long it must hold (defaults to the timeout).
    #[serde(default)]
    pub window: Option<Duration>,
    /// Without a name: `any` (default) or `all` candidates must match.
    #[serde(default, rename = "match")]
    pub quantifier: Quantifier,
    /// Without a name: exactly this many candidates must match.
    #[serde(default)]
    pub count: Option<usize>,
    /// `exact` (default) or `contains`.
    #[serde(default)]
    pub lists: ListMode,
    /// Variables to set from the (first) matching object: name -> jsonpath.
    #[serde(default)]
    pub capture: BTreeMap<String, JsonPath>,
    /// Filled by validation.
    #[serde(skip)]
    pub objects: Vec<Manifest>,
}

/// `error`: a state that must not be (eventually, or ever during a window)
/// reached: no object may match the partial object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refute {
    /// One forbidden (partial) object.
    #[serde(default)]
    pub resource: Option<Value>,
    /// Several; none may match.
    #[serde(default)]
    pub resources: Option<Vec<Value>>,
    /// A file of forbidden objects.
    #[serde(default)]
    pub file: Option<String>,
    /// `eventually` (default: poll until absent) or `consistently` (never
    /// present during the window).
    #[serde(default)]
    pub mode: Mode,
    /// For `consistently`: how long (defaults to the timeout).
    #[serde(default)]
    pub window: Option<Duration>,
    /// `exact` (default) or `contains`.
    #[serde(default)]
    pub lists: ListMode,
    /// Filled by validation.
    #[serde(skip)]
    pub objects: Vec<Manifest>,
}

/// What `wait` waits for, written as kubectl's `--for`.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitFor {
    /// `delete`: the objects are gone.
    Delete,
    /// `create`: the objects exist.
    Create,
    /// `condition=Ready` or `condition=Ready=False`: a `status.conditions`
    /// entry of that type has that status (default `True`).
    Condition {
        /// The condition type.
        condition: String,
        /// The expected status.
        status: String,
    },
    /// `jsonpath={.status.phase}=Running`, or without `=value`: the path is set.
    JsonPath {
        /// The path.
        path: JsonPath,
        /// The expected printed value.
        value: Option<String>,
    },
}

impl WaitFor {
    /// Parses kubectl's `--for` syntax.
    pub fn parse(text: &str) -> Result<WaitFor, String> {
        let text = text.trim();
        if text == "delete" {
            return Ok(WaitFor::Delete);
        }
        if text == "create" {
            return Ok(WaitFor::Create);
        }
        if let Some(rest) = text.strip_prefix("condition=") {
            let (condition, status) = rest.split_once('=').unwrap_or((rest, "True"));
            if condition.is_empty() {
                return Err(format!(
                    "invalid wait condition {text:?}: missing condition type"
                ));
            }
            return Ok(WaitFor::Condition {
                condition: condition.to_owned(),
                status: status.to_owned(),
            });
        }
        if let Some(rest) = text.strip_prefix("jsonpath=") {
            // kubectl users quote the path for the shell; the quotes mean nothing here.
            let rest = rest.replace('\'', "");
            let (path, value) = match rest.find('}') {
                Some(end) => {
                    let (path, tail) = rest.split_at(end + 1);
                    match tail.strip_prefix('=') {
                        Some(value) => (path.to_owned(), Some(value.to_owned())),
                        None if tail.is_empty() => (path.to_owned(), None),
                        None => {
                            return Err(format!(
                                "invalid wait condition {text:?}: expected \"=VALUE\" after the path"
                            ));
                        }
                    }
                }
                None if rest.starts_with('{') => {
                    return Err(format!("invalid wait condition {text:?}: unclosed \"{{\""));
                }
                None => {
                    return Err(format!(
                        "invalid wait condition {text:?}: the path must be in braces, e.g. jsonpath={{.status.phase}}=Running"
                    ));
                }
            };
            let path = JsonPath::parse(&path).map_err(|err| err.to_string())?;
            return Ok(WaitFor::JsonPath { path, value });
        }
        Err(format!(
            "invalid wait condition {text:?}, expected \"delete\", \"create\", \"condition=TYPE[=STATUS]\" or \"jsonpath={{PATH}}[=VALUE]\""
        ))
    }
}

impl<'de> Deserialize<'de> for WaitFor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WaitForVisitor;
        impl Visitor<'_> for WaitForVisitor {
            type Value = WaitFor;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a kubectl wait condition such as \"condition=Ready\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<WaitFor, E> {
                WaitFor::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(WaitForVisitor)
    }
}

/// `wait`: like `kubectl wait --for=...` on one object or a label selection.
// The identity fields repeat `Delete`'s on purpose; see the note there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Wait {
    /// The objects' apiVersion.
    pub api_version: String,
    /// The objects' kind.
    pub kind: String,
    /// One object by name...
    #[serde(default)]
    pub name: Option<String>,
    /// ...or every object with these labels (at least one must exist).
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Defaults to the scenario's namespace for namespaced kinds.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The condition.
    #[serde(rename = "for")]
    pub condition: WaitFor,
    /// Variables to set from the (first) object once the wait is over.
    #[serde(default)]
    pub capture: BTreeMap<String, JsonPath>,
}

/// One or several strings (`contains: x` or `contains: [x, y]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Strings(pub Vec<String>);

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringsVisitor;
        impl<'de> Visitor<'de> for StringsVisitor {
            type Value = Strings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Strings, E> {
                Ok(Strings(vec![text.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strings, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    out.push(item);
                }
                Ok(Strings(out))
            }
        }
        deserializer.deserialize_any(StringsVisitor)
    }
}

/// Checks on a captured output stream of `exec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OutputMatch {
    /// The whole output, trailing whitespace ignored.
    #[serde(default)]
    pub equals: Option<String>,
    /// Substrings that must appear.
    #[serde(default)]
    pub contains: Strings,
    /// Substrings that must not appear.
    #[serde(default)]
    pub not_contains: Strings,
}

/// Which output of `exec` a capture reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output, trailing whitespace trimmed.
    Stdout,
    /// Standard error, trailing whitespace trimmed.
    Stderr,
}

/// `exec`: run a host command with `KUBECONFIG` and `NAMESPACE` set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Exec {
    /// argv, run without a shell...
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// ...or a script run by `sh -c`.
    #[serde(default)]
    pub script: Option<String>,
    /// Extra environment variables (values may use `${...}`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Expected exit code (default 0).
    #[serde(default)]
    pub exit_code: i32,
    /// Checks on standard output.
    #[serde(default)]
    pub stdout: Option<OutputMatch>,
    /// Checks on standard error.
    #[serde(default)]
    pub stderr: Option<OutputMatch>,
    /// Variables to set from the output: name -> `stdout` | `stderr`.
    #[serde(default)]
    pub capture: BTreeMap<String, Stream>,
}
