//! A Redis URL that never shows its password: `Display` and `Debug` redact it,
//! so the URL can be logged, printed and put in error messages safely, and
//! only [`RedisUrl::expose`] (used to connect) returns it whole.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::Error;

/// A `redis://` or `rediss://` URL (or `unix://` path) whose password is
/// redacted whenever it is formatted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The full URL, password included: for connecting, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }

    /// The password in `scheme://user:password@host`, if there is one.
    pub fn password(&self) -> Option<&str> {
        passwords(&self.0).next().map(|range| &self.0[range])
    }
}

impl FromStr for RedisUrl {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let scheme_ok = ["redis://", "rediss://", "unix://", "redis+unix://"]
            .iter()
            .any(|s| input.starts_with(s));
        if !scheme_ok {
            return Err(Error::InvalidSpec {
                what: "redis",
                input: redact_malformed(input),
                reason: "expected a redis://host:port URL".into(),
            });
        }
        Ok(RedisUrl(input.to_owned()))
    }
}

impl TryFrom<String> for RedisUrl {
    type Error = Error;

    fn try_from(input: String) -> Result<Self, Error> {
        input.parse()
    }
}

impl From<RedisUrl> for String {
    fn from(url: RedisUrl) -> String {
        url.0
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({:?})", self.redacted())
    }
}

/// Replaces the password of every `scheme://user:password@host` URL in
/// `text` with `***`; everything else is returned unchanged. It takes free
/// text, so an error message or a report with a URL in it can be scrubbed
/// as well as a URL on its own.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for password in passwords(text) {
        out.push_str(&text[copied..password.start]);
        out.push_str("***");
        copied = password.end;
    }
    out.push_str(&text[copied..]);
    out
}

/// An input that failed to parse as a URL, safe to quote in the error: its
/// password redacted, or, when it is too malformed to find one but has
/// userinfo (`redis//:pw@host`), everything before the last `@` hidden.
pub fn redact_malformed(input: &str) -> String {
    let redacted = redact(input);
    match redacted.rsplit_once('@') {
        Some((_, host)) if redacted == input => format!("***@{host}"),
        _ => redacted,
    }
}

/// Where the passwords of the URLs in `text` are: for each `://`, the
/// authority runs to the first `/`, `?`, `#`, whitespace or quote, and its
/// password is what follows the first `:` of the userinfo before its last `@`.
fn passwords(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    text.match_indices("://").filter_map(|(at, sep)| {
        let start = at + sep.len();
        let rest = &text[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || "/?#\"'`<>".contains(c))
            .unwrap_or(rest.len());
        let (userinfo, _host) = rest[..end].rsplit_once('@')?;
        let colon = userinfo.find(':')?;
        Some(start + colon + 1..start + userinfo.len())
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn passwords_are_redacted_everywhere_it_is_formatted() {
        let url: RedisUrl = "redis://app:s3cret@10.0.0.5:6380/2".parse().expect("url");
        assert_eq!(url.to_string(), "redis://app:***@10.0.0.5:6380/2");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.expose(), "redis://app:s3cret@10.0.0.5:6380/2");
        assert_eq!(redact("redis://:pw@h:1"), "redis://:***@h:1");
        assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        assert_eq!(url.password(), Some("s3cret"));
        let open: RedisUrl = "redis://127.0.0.1:6379".parse().expect("url");
        assert_eq!(open.password(), None);
    }

    #[test]
    fn malformed_urls_hide_their_userinfo() {
        assert_eq!(redact_malformed("redis//:pw@h:1"), "***@h:1");
        assert_eq!(redact_malformed("http://:pw@h"), "http://:***@h");
        assert_eq!(redact_malformed("localhost:6379"), "localhost:6379");
    }

    #[test]
    fn every_url_in_free_text_is_redacted() {
        assert_eq!(
            redact("connect to redis://:pw1@a:1/0 failed; tried \"rediss://u:pw2@b:2\" too"),
            "connect to redis://:***@a:1/0 failed; tried \"rediss://u:***@b:2\" too"
        );
        assert_eq!(redact("no url here: a@b"), "no url here: a@b");
        assert_eq!(redact("user@host://x"), "user@host://x");
    }

    #[test]
    fn non_redis_urls_are_rejected_without_echoing_the_password() {
        let err = "http://u:topsecret@h"
            .parse::<RedisUrl>()
            .expect_err("scheme")
            .to_string();
        assert!(!err.contains("topsecret"), "{err}");
    }

    proptest! {
        #[test]
        fn a_password_never_survives_redaction(
            user in "[a-z]{0,8}", password in "[A-Za-z0-9]{6,20}", host in "[a-z]{1,10}", port in 1u16..,
        ) {
            let url = format!("redis://{user}:{password}@{host}:{port}/0");
            let redacted = redact(&url);
            prop_assert!(!redacted.contains(&format!(":{password}@")), "{}", redacted);
            prop_assert!(redacted.ends_with(&format!("@{host}:{port}/0")), "{}", redacted);
        }
    }
}
