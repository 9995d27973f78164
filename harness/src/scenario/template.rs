//! Variables in scenario strings: `${namespace}`, `${vars.NAME}` and the
//! endpoints of the scenario's infrastructure (`${infra.kafka.bootstrapServers}`,
//! `${infra.redis.url}`, see [`INFRA_VARS`]).
//!
//! Expansion is environment-free: nothing from the harness's own environment
//! leaks into a scenario unless the scenario declares it, so a scenario means
//! the same on a laptop and in CI. `$${` writes a literal `${`.
//!
//! A string that is exactly one reference takes the variable's type (so
//! `replicas: ${vars.replicas}` stays a number); references inside longer
//! strings are interpolated as text.

use std::collections::BTreeMap;

use serde_json::Value;

/// A variable a template refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reference {
    /// `${namespace}`: the scenario's namespace.
    Namespace,
    /// `${vars.NAME}`: a declared or captured variable.
    Var(String),
    /// `${infra.kafka.bootstrapServers}` and the like: one of [`INFRA_VARS`].
    Infra(&'static str),
}

/// The `${infra.*}` variables, set when `spec.infra` is started.
pub const INFRA_VARS: [&str; 4] = [
    "infra.kafka.bootstrapServers",
    "infra.kafka.provider",
    "infra.redis.url",
    "infra.redis.provider",
];

/// Why a template could not be read or expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${` without a closing `}`.
    #[error("unterminated \"${{\" in {0:?}")]
    Unterminated(String),
    /// `${something}` that is not a known form.
    #[error("unknown variable \"${{{0}}}\", expected \"${{namespace}}\", \"${{vars.NAME}}\" or one of {known}", known = INFRA_VARS.map(|v| format!("\"${{{v}}}\"")).join(", "))]
    UnknownForm(String),
    /// `${infra.*}` in a scenario without `spec.infra`.
    #[error("\"${{{0}}}\" needs infrastructure: declare spec.infra")]
    NoInfra(String),
    /// `${vars.x}` where `x` is neither declared nor captured yet.
    #[error("variable \"{0}\" is not declared in spec.vars or captured by an earlier step")]
    Undefined(String),
}

enum Piece<'a> {
    Text(&'a str),
    Dollar,
    Ref(Reference),
}

fn pieces(text: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push(Piece::Text(&rest[..at]));
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push(Piece::Dollar);
            out.push(Piece::Text("{"));
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| TemplateError::Unterminated(text.to_owned()))?;
            out.push(Piece::Ref(reference(tail[..end].trim())?));
            rest = &tail[end + 1..];
        } else {
            out.push(Piece::Dollar);
            rest = &after[1..];
        }
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

fn reference(expression: &str) -> Result<Reference, TemplateError> {
    if expression == "namespace" {
        return Ok(Reference::Namespace);
    }
    if let Some(name) = INFRA_VARS.iter().find(|name| **name == expression) {
        return Ok(Reference::Infra(name));
    }
    match expression.strip_prefix("vars.") {
        Some(name) if is_var_name(name) => Ok(Reference::Var(name.to_owned())),
        _ => Err(TemplateError::UnknownForm(expression.to_owned())),
    }
}

/// Whether `name` can be a variable name: a letter or `_`, then letters,
/// digits, `_` or `-`.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The references in `text`, in order.
pub fn references(text: &str) -> Result<Vec<Reference>, TemplateError> {
    Ok(pieces(text)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Ref(reference) => Some(reference),
            _ => None,
        })
        .collect())
}

/// Calls `visit` with every string inside `value` (not map keys) and its path.
pub fn each_string<'v>(
    value: &'v Value,
    path: &super::FieldPath,
    visit: &mut dyn FnMut(&super::FieldPath, &'v str),
) {
    match value {
        Value::String(text) => visit(path, text),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                each_string(item, &path.index(index), visit);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                each_string(item, &path.key(key), visit);
            }
        }
        _ => {}
    }
}

/// The variables of one running scenario.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    namespace: String,
    values: BTreeMap<String, Value>,
    /// `${infra.*}`, once the infrastructure runs.
    infra: BTreeMap<&'static str, String>,
}

impl Vars {
    /// Variables for a scenario running in `namespace` with declared `values`.
    pub fn new(namespace: &str, values: BTreeMap<String, Value>) -> Vars {
        Vars {
            namespace: namespace.to_owned(),
            values,
            infra: BTreeMap::new(),
        }
    }

    /// Sets the `${infra.*}` variables (names from [`INFRA_VARS`]; others are ignored).
    pub fn set_infra(&mut self, values: impl IntoIterator<Item = (&'static str, String)>) {
        self.infra.extend(
            values
                .into_iter()
                .filter(|(name, _)| INFRA_VARS.contains(name)),
        );
    }

    /// An `${infra.*}` variable's value.
    pub fn infra(&self, name: &str) -> Option<&str> {
        self.infra.get(name).map(String::as_str)
    }

    /// Sets (or replaces) a variable, e.g. one captured by a step.
    pub fn set(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_owned(), value);
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// The scenario's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn lookup(&self, reference: &Reference) -> Result<Value, TemplateError> {
        match reference {
            Reference::Namespace => Ok(Value::String(self.namespace.clone())),
            Reference::Var(name) => self
                .values
                .get(name)
                .cloned()
                .ok_or_else(|| TemplateError::Undefined(name.clone())),
            Reference::Infra(name) => self
                .infra
                .get(name)
                .map(|v| Value::String(v.clone()))
                .ok_or_else(|| TemplateError::NoInfra((*name).to_owned())),
        }
    }

    /// Expands a string; every value is rendered as text.
    pub fn expand_str(&self, text: &str) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(text.len());
        for piece in pieces(text)? {
            match piece {
                Piece::Text(part) => out.push_str(part),
                Piece::Dollar => out.push('$'),
                Piece::Ref(reference) => {
                    out.push_str(&super::jsonpath::render(&self.lookup(&reference)?))
                }
            }
        }
        Ok(out)
    }

    /// Expands every string inside `value`; a string that is exactly one
    /// reference is replaced by the variable's value, keeping its type.
    pub fn expand_value(&self, value: &Value) -> Result<Value, TemplateError> {
        Ok(match value {
            Value::String(text) => {
                let parts = pieces(text)?;
                match parts.as_slice() {
                    [Piece::Text(""), Piece::Ref(reference), Piece::Text("")] => {
                        self.lookup(reference)?
                    }
                    _ => Value::String(self.expand_str(text)?),
                }
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.expand_value(item))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, item)| Ok((key.clone(), self.expand_value(item)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars() -> Vars {
        Vars::new(
            "ns-1",
            BTreeMap::from([
                ("replicas".to_owned(), json!(3)),
                ("name".to_owned(), json!("job")),
            ]),
        )
    }

    #[test]
    fn expands_references_in_strings() {
        assert_eq!(
            vars().expand_str("${namespace}/${vars.name}"),
            Ok("ns-1/job".to_owned())
        );
        assert_eq!(
            vars().expand_str("n=${ vars.replicas }"),
            Ok("n=3".to_owned())
        );
        assert_eq!(
            vars().expand_str("cost: $5 and $${literal}"),
            Ok("cost: $5 and ${literal}".to_owned())
        );
    }

    #[test]
    fn a_lone_reference_keeps_its_type() {
        let expanded = vars().expand_value(
            &json!({"spec": {"replicas": "${vars.replicas}", "label": "x-${vars.replicas}"}}),
        );
        assert_eq!(
            expanded,
            Ok(json!({"spec": {"replicas": 3, "label": "x-3"}}))
        );
    }

    #[test]
    fn names_what_is_wrong() {
        assert_eq!(
            vars().expand_str("${vars.nope}"),
            Err(TemplateError::Undefined("nope".to_owned()))
        );
        assert_eq!(
            references("${env.HOME}"),
            Err(TemplateError::UnknownForm("env.HOME".to_owned()))
        );
        assert_eq!(
            references("${infra.redis.url}"),
            Ok(vec![Reference::Infra("infra.redis.url")])
        );
        assert_eq!(
            references("${infra.redis.password}"),
            Err(TemplateError::UnknownForm(
                "infra.redis.password".to_owned()
            ))
        );
        assert_eq!(
            vars().expand_str("${infra.redis.url}"),
            Err(TemplateError::NoInfra("infra.redis.url".to_owned()))
        );
        let mut with_infra = vars();
        with_infra.set_infra([
            ("infra.kafka.bootstrapServers", "127.0.0.1:9092".to_owned()),
            ("infra.other", "x".to_owned()),
        ]);
        assert_eq!(
            with_infra.expand_str("b=${infra.kafka.bootstrapServers}"),
            Ok("b=127.0.0.1:9092".to_owned())
        );
        assert_eq!(
            with_infra.infra("infra.other"),
            None,
            "only the documented names are set"
        );
        assert_eq!(
            references("${namespace"),
            Err(TemplateError::Unterminated("${namespace".to_owned()))
        );
        assert_eq!(
            references("a ${namespace} b ${vars.x}"),
            Ok(vec![Reference::Namespace, Reference::Var("x".to_owned())])
        );
    }
}
