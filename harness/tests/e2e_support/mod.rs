//! Helpers shared by the `e2e_*` integration tests: running `harness e2e`,
//! reading its reports, and a minimal XML well-formedness check (the
//! workspace has no XML parser, and JUnit consumers need nesting and
//! escaping right more than anything else).

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The workspace root (where `scenarios/` and `fixtures/` live).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ has a parent")
        .to_path_buf()
}

/// `tests/data/scenarios/<name>`.
pub(crate) fn test_scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/scenarios")
        .join(name)
}

/// `harness e2e` run from the workspace root, writing reports to `report_dir`.
pub(crate) fn e2e(report_dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("harness").expect("the harness binary is built");
    cmd.current_dir(workspace_root())
        .arg("e2e")
        .arg("--report-dir")
        .arg(report_dir);
    cmd
}

/// Parses `report.json`.
pub(crate) fn read_report(report_dir: &Path) -> Value {
    let text = std::fs::read_to_string(report_dir.join("report.json")).expect("report.json exists");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// The step objects of scenario `name` in a parsed report.
pub(crate) fn steps<'r>(report: &'r Value, name: &str) -> &'r Vec<Value> {
    report["scenarios"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == name))
        .and_then(|s| s["steps"].as_array())
        .unwrap_or_else(|| panic!("scenario {name} is in the report"))
}

/// Checks that `xml` is well formed in the ways JUnit readers care about:
/// tags nest and close, attributes are quoted, and `&` only starts
/// entities. Returns the element names in document order.
pub(crate) fn check_xml(xml: &str) -> Result<Vec<String>, String> {
    let mut open: Vec<String> = Vec::new();
    let mut elements = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        check_text(&rest[..start])?;
        let end = rest[start..].find('>').ok_or("unterminated tag")? + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let expected = open
                .pop()
                .ok_or_else(|| format!("</{name}> closes nothing"))?;
            if expected != name.trim() {
                return Err(format!("</{name}> closes <{expected}>"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name = body
            .split_whitespace()
            .next()
            .ok_or("empty tag")?
            .to_owned();
        check_attributes(&body[name.len()..])?;
        elements.push(name.clone());
        if !self_closing {
            open.push(name);
        }
    }
    check_text(rest)?;
    if let Some(unclosed) = open.pop() {
        return Err(format!("<{unclosed}> is never closed"));
    }
    Ok(elements)
}

fn check_text(text: &str) -> Result<(), String> {
    for (at, _) in text.match_indices('&') {
        let entity = &text[at..];
        let end = entity
            .find(';')
            .ok_or_else(|| format!("bare & in {text:?}"))?;
        let name = &entity[1..end];
        let known = ["amp", "lt", "gt", "quot", "apos"].contains(&name) || name.starts_with('#');
        if !known {
            return Err(format!("unknown entity &{name};"));
        }
    }
    Ok(())
}

fn check_attributes(mut text: &str) -> Result<(), String> {
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return Ok(());
        }
        let eq = text
            .find('=')
            .ok_or_else(|| format!("attribute without value in {text:?}"))?;
        let after = &text[eq + 1..];
        if !after.starts_with('"') {
            return Err(format!("unquoted attribute in {text:?}"));
        }
        let close = after[1..].find('"').ok_or("unterminated attribute")? + 1;
        let value = &after[1..close];
        if value.contains('<') {
            return Err(format!("raw < in attribute {value:?}"));
        }
        check_text(value)?;
        text = &after[close + 1..];
    }
}

/// Counts `<testcase` elements per `<testsuite name="...">`.
pub(crate) fn testcases_per_suite(xml: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for chunk in xml.split("<testsuite ").skip(1) {
        let name = chunk
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_owned();
        let body = chunk.split("</testsuite>").next().unwrap_or_default();
        out.push((name, body.matches("<testcase ").count()));
    }
    out
}
