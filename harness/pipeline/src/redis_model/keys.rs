//! Redis key templates: where user features and hot-item lists are written.
//!
//! A template is literal text with `{tenant_id}`, `{scenario_id}` and (for user
//! keys) `{user_id}` placeholders, parsed once and rendered per write. The
//! default user key keeps tenants and scenarios apart. The seed's
//! `user:profile:{user_id}` is selectable, but with it one hash holds a user's
//! features from every tenant and scenario: each window written overwrites all
//! fields, so the last window written wins (windows are written in window-end
//! order, ties by tenant then scenario). Nothing checks that the user and hot
//! templates cannot render the same key; the defaults cannot.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The default user-feature key: one hash per (tenant, scenario, user).
pub const DEFAULT_USER_KEY: &str = "user:profile:{tenant_id}:{scenario_id}:{user_id}";
/// The seed's user-feature key: one hash per user, merged across tenants and scenarios.
pub const SEED_USER_KEY: &str = "user:profile:{user_id}";
/// The hot-item key: one sorted set per (tenant, scenario).
pub const DEFAULT_HOT_KEY: &str = "hot:items:{tenant_id}:{scenario_id}";

/// Why a key template was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{` without its `}` (or a stray `}`).
    #[error("key template {template:?} has an unbalanced brace")]
    UnbalancedBrace {
        /// The template as given.
        template: String,
    },
    /// A placeholder this key cannot fill.
    #[error(
        "key template {template:?} uses {{{name}}}, which this key cannot fill (use {allowed})"
    )]
    UnknownPlaceholder {
        /// The template as given.
        template: String,
        /// The placeholder's name.
        name: String,
        /// The placeholders this key can fill, for the message.
        allowed: &'static str,
    },
    /// A user-key template without `{user_id}` would write every user to one hash.
    #[error("key template {template:?} must contain {{user_id}}")]
    MissingUserId {
        /// The template as given.
        template: String,
    },
    /// A hot-item template with no placeholder names one sorted set for
    /// every tenant and scenario: each firing would replace the others' list.
    #[error(
        "key template {template:?} names one key for every tenant and scenario; use {{tenant_id}} and/or {{scenario_id}}"
    )]
    NoPlaceholder {
        /// The template as given.
        template: String,
    },
}

/// A value a template can insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placeholder {
    Tenant,
    Scenario,
    User,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Value(Placeholder),
}

/// A parsed key template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyTemplate {
    source: String,
    parts: Vec<Part>,
}

impl KeyTemplate {
    fn parse(source: &str, allow_user: bool) -> Result<KeyTemplate, TemplateError> {
        let unbalanced = || TemplateError::UnbalancedBrace {
            template: source.to_string(),
        };
        let mut parts = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            let open = rest.find('{');
            let close = rest.find('}');
            match (open, close) {
                (None, None) => {
                    parts.push(Part::Literal(rest.to_string()));
                    rest = "";
                }
                (Some(open), Some(close)) if open < close => {
                    if open > 0 {
                        parts.push(Part::Literal(rest[..open].to_string()));
                    }
                    let name = &rest[open + 1..close];
                    let value = match name {
                        "tenant_id" => Placeholder::Tenant,
                        "scenario_id" => Placeholder::Scenario,
                        "user_id" if allow_user => Placeholder::User,
                        _ => {
                            return Err(TemplateError::UnknownPlaceholder {
                                template: source.to_string(),
                                name: name.to_string(),
                                allowed: if allow_user {
                                    "{tenant_id}, {scenario_id}, {user_id}"
                                } else {
                                    "{tenant_id}, {scenario_id}"
                                },
                            });
                        }
                    };
                    parts.push(Part::Value(value));
                    rest = &rest[close + 1..];
                }
                _ => return Err(unbalanced()),
            }
        }
        Ok(KeyTemplate {
            source: source.to_string(),
            parts,
        })
    }

    /// Parses a user-feature key template (`{tenant_id}`, `{scenario_id}`,
    /// `{user_id}`; `{user_id}` is required).
    pub fn user(source: &str) -> Result<KeyTemplate, TemplateError> {
        let template = KeyTemplate::parse(source, true)?;
        if !template.parts.contains(&Part::Value(Placeholder::User)) {
            return Err(TemplateError::MissingUserId {
                template: source.to_string(),
            });
        }
        Ok(template)
    }

    /// Parses a hot-item key template (`{tenant_id}`, `{scenario_id}`; at
    /// least one of them).
    pub fn hot(source: &str) -> Result<KeyTemplate, TemplateError> {
        let template = KeyTemplate::parse(source, false)?;
        if !template
            .parts
            .iter()
            .any(|part| matches!(part, Part::Value(_)))
        {
            return Err(TemplateError::NoPlaceholder {
                template: source.to_string(),
            });
        }
        Ok(template)
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn render(&self, tenant_id: &str, scenario_id: &str, user_id: &str) -> String {
        let mut key = String::with_capacity(self.source.len() + 32);
        for part in &self.parts {
            key.push_str(match part {
                Part::Literal(text) => text,
                Part::Value(Placeholder::Tenant) => tenant_id,
                Part::Value(Placeholder::Scenario) => scenario_id,
                Part::Value(Placeholder::User) => user_id,
            });
        }
        key
    }

    /// A Redis `SCAN ... MATCH` pattern for every key this template can render:
    /// placeholders become `*`, glob characters in the literal text are escaped.
    pub fn scan_pattern(&self) -> String {
        let mut pattern = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => {
                    for ch in text.chars() {
                        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
                            pattern.push('\\');
                        }
                        pattern.push(ch);
                    }
                }
                Part::Value(_) => pattern.push('*'),
            }
        }
        pattern
    }
}

impl fmt::Display for KeyTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The two key templates the pipeline writes with. Serialises as
/// `{"user": "...", "hot": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "KeyTemplateStrings", into = "KeyTemplateStrings")]
pub struct KeyTemplates {
    user: KeyTemplate,
    hot: KeyTemplate,
}

impl KeyTemplates {
    /// Parses both templates.
    pub fn new(user: &str, hot: &str) -> Result<KeyTemplates, TemplateError> {
        Ok(KeyTemplates {
            user: KeyTemplate::user(user)?,
            hot: KeyTemplate::hot(hot)?,
        })
    }

    /// The default templates with the seed's `user:profile:{user_id}` user key
    /// (features merged across tenants and scenarios; see the module doc).
    pub fn seed() -> KeyTemplates {
        KeyTemplates {
            user: builtin(KeyTemplate::user(SEED_USER_KEY)),
            hot: builtin(KeyTemplate::hot(DEFAULT_HOT_KEY)),
        }
    }

    /// The user-feature template.
    pub fn user_template(&self) -> &KeyTemplate {
        &self.user
    }

    /// The hot-item template.
    pub fn hot_template(&self) -> &KeyTemplate {
        &self.hot
    }

    /// The hash holding a user's features.
    pub fn user_key(&self, tenant_id: &str, scenario_id: &str, user_id: &str) -> String {
        self.user.render(tenant_id, scenario_id, user_id)
    }

    /// The sorted set holding a (tenant, scenario)'s hot items.
    pub fn hot_key(&self, tenant_id: &str, scenario_id: &str) -> String {
        self.hot.render(tenant_id, scenario_id, "")
    }
}

impl Default for KeyTemplates {
    /// [`DEFAULT_USER_KEY`] and [`DEFAULT_HOT_KEY`].
    fn default() -> KeyTemplates {
        KeyTemplates {
            user: builtin(KeyTemplate::user(DEFAULT_USER_KEY)),
            hot: builtin(KeyTemplate::hot(DEFAULT_HOT_KEY)),
        }
    }
}

/// Unwraps a built-in template. The constants above are valid (a unit test
/// parses them), so the fallback, a template of literal text, is unreachable.
fn builtin(parsed: Result<KeyTemplate, TemplateError>) -> KeyTemplate {
    parsed.unwrap_or_else(|_| KeyTemplate {
        source: String::new(),
        parts: Vec::new(),
    })
}

#[derive(Serialize, Deserialize)]
struct KeyTemplateStrings {
    user: String,
    hot: String,
}

impl TryFrom<KeyTemplateStrings> for KeyTemplates {
    type Error = TemplateError;

    fn try_from(strings: KeyTemplateStrings) -> Result<KeyTemplates, TemplateError> {
        KeyTemplates::new(&strings.user, &strings.hot)
    }
}

impl From<KeyTemplates> for KeyTemplateStrings {
    fn from(templates: KeyTemplates) -> KeyTemplateStrings {
        KeyTemplateStrings {
            user: templates.user.source,
            hot: templates.hot.source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_parse() {
        assert!(KeyTemplate::user(DEFAULT_USER_KEY).is_ok());
        assert!(KeyTemplate::user(SEED_USER_KEY).is_ok());
        assert!(KeyTemplate::hot(DEFAULT_HOT_KEY).is_ok());
    }

    #[test]
    fn default_keys_render_as_documented() {
        let keys = KeyTemplates::default();
        assert_eq!(
            keys.user_key("demo", "vlog_feed", "user_001"),
            "user:profile:demo:vlog_feed:user_001"
        );
        assert_eq!(
            keys.hot_key("demo", "vlog_feed"),
            "hot:items:demo:vlog_feed"
        );
        assert_eq!(
            KeyTemplates::seed().user_key("demo", "vlog_feed", "user_001"),
            "user:profile:user_001"
        );
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        let err = KeyTemplates::new("user:{user_id", DEFAULT_HOT_KEY)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "key template \"user:{user_id\" has an unbalanced brace"
        );
        let err = KeyTemplates::new("user:{tenant_id}", DEFAULT_HOT_KEY)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "key template \"user:{tenant_id}\" must contain {user_id}"
        );
        let err = KeyTemplates::new(DEFAULT_USER_KEY, "hot:{user_id}")
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "key template \"hot:{user_id}\" uses {user_id}, which this key cannot fill (use {tenant_id}, {scenario_id})"
        );
        assert!(KeyTemplates::new("u}{user_id}", DEFAULT_HOT_KEY).is_err());
        let err = KeyTemplates::new(DEFAULT_USER_KEY, "hot")
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "key template \"hot\" names one key for every tenant and scenario; use {tenant_id} and/or {scenario_id}"
        );
        assert!(KeyTemplates::new(DEFAULT_USER_KEY, "hot:{tenant_id}").is_ok());
    }

    #[test]
    fn scan_patterns_match_every_rendered_key() {
        let keys = KeyTemplates::new("p*[x]:{user_id}", DEFAULT_HOT_KEY).unwrap();
        assert_eq!(keys.user_template().scan_pattern(), "p\\*\\[x\\]:*");
        assert_eq!(keys.hot_template().scan_pattern(), "hot:items:*:*");
    }

    #[test]
    fn templates_round_trip_through_serde() {
        let keys = KeyTemplates::seed();
        let json = serde_json::to_string(&keys).unwrap();
        assert_eq!(
            json,
            r#"{"user":"user:profile:{user_id}","hot":"hot:items:{tenant_id}:{scenario_id}"}"#
        );
        assert_eq!(serde_json::from_str::<KeyTemplates>(&json).unwrap(), keys);
        assert!(serde_json::from_str::<KeyTemplates>(r#"{"user":"x","hot":"y"}"#).is_err());
    }
}
