//! Helpers shared by the `e2e_*` integration tests: running `harness e2e`
//! (and checking its exit code), a simulator of a test's own, reading the
//! reports, and a minimal XML well-formedness check (the
//! workspace has no XML parser, and JUnit consumers need nesting and
//! escaping right more than anything else).

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::{
    path::{Path, PathBuf},
    process::Output,
    time::Duration,
};

use assert_cmd::Command;
use harness_sim::{
    api::{SimConfig, SimHandle},
    clock::VirtualClock,
};
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

/// Runs `cmd`, killed after `timeout`, and asserts that it exits with `code`
/// (a mismatch shows its stdout and stderr). Returns the output to check on.
pub(crate) fn run(cmd: &mut Command, timeout: Duration, code: i32) -> Output {
    let output = cmd.timeout(timeout).output().expect("runs");
    assert_exit(&output, code);
    output
}

/// [`run`] from an async test: the command waits on a blocking thread so
/// that the test's own simulator keeps serving it meanwhile.
pub(crate) async fn run_beside(mut cmd: Command, timeout: Duration, code: i32) -> Output {
    let output = tokio::task::spawn_blocking(move || cmd.timeout(timeout).output())
        .await
        .expect("joins")
        .expect("runs");
    assert_exit(&output, code);
    output
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A simulator of the test's own (the standard cluster from `seed`) at
/// `speed`, its kubeconfig written into `dir`: for runs with `--kubeconfig`
/// whose cluster the test looks at itself.
pub(crate) async fn simulator(dir: &Path, seed: u64, speed: f64) -> SimHandle {
    let origin = VirtualClock::starting_now(1.0).now();
    let config = SimConfig {
        speed,
        kubeconfig: Some(dir.join("kubeconfig")),
        origin: Some(origin),
    };
    harness_sim::api::serve(harness_sim::standard_cluster(seed, origin), config)
        .await
        .expect("simulator starts")
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
