//! Expected API failures on write verbs (`expect: {code, reason, message}`).
//!
//! Negative tests are first-class: an `apply` that must be refused by the
//! operator's webhook passes only if the API answers with that code (and
//! reason and message substring, when given), and fails, saying what came
//! back instead, if the write is accepted or refused differently.

use super::{context::Ctx, objects, report::Failure};
use crate::scenario::verbs::Expect;

/// The expectation with `${...}` expanded in its reason and message.
pub(crate) fn expand(ctx: &Ctx<'_>, expect: Option<&Expect>) -> Result<Option<Expect>, Failure> {
    let Some(expect) = expect else {
        return Ok(None);
    };
    Ok(Some(Expect {
        code: expect.code,
        reason: expect
            .reason
            .as_deref()
            .map(|r| ctx.expand(r))
            .transpose()?,
        message: expect
            .message
            .as_deref()
            .map(|m| ctx.expand(m))
            .transpose()?,
    }))
}

/// `403` or `403 Forbidden containing "..."`.
pub(crate) fn describe(expect: &Expect) -> String {
    let mut out = expect.code.to_string();
    if let Some(reason) = &expect.reason {
        out.push(' ');
        out.push_str(reason);
    }
    if let Some(message) = &expect.message {
        out.push_str(&format!(" containing {message:?}"));
    }
    out
}

/// Whether `err` is the expected rejection.
pub(crate) fn matches(expect: &Expect, err: &kube::Error) -> bool {
    let Some(status) = objects::status_of(err) else {
        return false;
    };
    status.code == expect.code
        && expect
            .reason
            .as_ref()
            .is_none_or(|reason| &status.reason == reason)
        && expect
            .message
            .as_ref()
            .is_none_or(|message| status.message.contains(message.as_str()))
}

/// The failure when a write that should have been refused was accepted.
pub(crate) fn accepted(what: &str, expect: &Expect) -> Failure {
    Failure::new(format!(
        "expected the API to reject {what} with {}, but it was accepted",
        describe(expect)
    ))
}

/// The failure when a write was refused, but not as expected.
pub(crate) fn mismatched(what: &str, expect: &Expect, err: &kube::Error) -> Failure {
    let got = objects::api_error_text(err);
    let mut diff = Vec::new();
    if let Some(status) = objects::status_of(err) {
        if status.code != expect.code {
            diff.push(format!(
                "code: expected {}, got {}",
                expect.code, status.code
            ));
        }
        if let Some(reason) = expect.reason.as_ref().filter(|r| **r != status.reason) {
            diff.push(format!(
                "reason: expected {reason:?}, got {:?}",
                status.reason
            ));
        }
        if let Some(message) = expect
            .message
            .as_ref()
            .filter(|m| !status.message.contains(m.as_str()))
        {
            diff.push(format!(
                "message: expected to contain {message:?}, got {:?}",
                status.message
            ));
        }
    }
    Failure::new(format!(
        "expected the API to reject {what} with {}, got {got}",
        describe(expect)
    ))
    .with_diff(diff)
}

/// The note recorded when a write was refused as expected.
pub(crate) fn note(what: &str, err: &kube::Error) -> String {
    format!(
        "{what} rejected as expected: {}",
        objects::api_error_text(err)
    )
}
