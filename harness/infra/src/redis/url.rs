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
                input: redact(input),
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

/// Replaces the password in `scheme://user:password@host...` with `***`;
/// other text is returned unchanged.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => userinfo.to_owned(),
    };
    format!("{scheme}://{user}@{host}{tail}")
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
