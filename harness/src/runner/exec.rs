//! `exec`: run a host command (argv, or a script through `sh -c`) in the
//! scenario's directory, with `KUBECONFIG`, `NAMESPACE` and `HARNESS_SCENARIO`
//! set, then check its exit code and output.
//!
//! The deadline is **real time**: a host process runs on the machine's
//! clock, not the cluster's. The command runs in a process group of its own,
//! and on expiry the whole group is killed, so a script's background children
//! do not outlive the step.

use std::process::Stdio;

use rustix::process::{Pid, Signal, kill_process_group};

use super::{context::Ctx, deadline::Deadline, report::Failure};
use crate::scenario::verbs::{Exec, OutputMatch, Stream, Strings};

/// How much of each output stream a failure report keeps (its end).
const OUTPUT_TAIL: usize = 4000;

/// Runs an `exec` step; returns notes (captured variables).
pub(crate) async fn run(
    ctx: &mut Ctx<'_>,
    exec: &Exec,
    deadline: &Deadline,
) -> Result<Vec<String>, Failure> {
    let (program, args, shown) = match (&exec.command, &exec.script) {
        (Some(command), _) => {
            let argv: Vec<String> = command
                .iter()
                .map(|a| ctx.expand(a))
                .collect::<Result<_, _>>()?;
            let Some((program, args)) = argv.split_first() else {
                return Err(Failure::new("the command is empty"));
            };
            (program.clone(), args.to_vec(), argv.join(" "))
        }
        (None, Some(script)) => {
            let script = ctx.expand(script)?;
            (
                "sh".to_owned(),
                vec!["-c".to_owned(), script.clone()],
                script,
            )
        }
        (None, None) => return Err(Failure::new("an exec step needs a command or a script")),
    };
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&args)
        .current_dir(&ctx.scenario.dir)
        .env("KUBECONFIG", &ctx.cluster.kubeconfig)
        .env("NAMESPACE", &ctx.namespace)
        .env("HARNESS_SCENARIO", &ctx.scenario.metadata.name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (key, value) in &exec.env {
        command.env(key, ctx.expand(value)?);
    }
    let child = command
        .spawn()
        .map_err(|err| Failure::new(format!("could not start {program:?}: {err}")))?;
    let group = child.id().and_then(|pid| Pid::from_raw(pid as i32));
    let output = match tokio::time::timeout(deadline.timeout(), child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(err)) => return Err(Failure::new(format!("waiting for {shown:?} failed: {err}"))),
        Err(_) => {
            if let Some(group) = group {
                // The group may be gone already (ESRCH); the child itself is
                // killed and reaped on drop either way.
                let _ = kill_process_group(group, Signal::KILL);
            }
            let mut failure =
                deadline.timed_out("exec", &format!("{shown:?} was killed"), Vec::new());
            failure.output = None;
            return Err(failure);
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut diff = Vec::new();
    let code = output.status.code();
    if code != Some(exec.exit_code) {
        let got = code.map_or_else(|| "killed by a signal".to_owned(), |c| c.to_string());
        diff.push(format!("exit code: expected {}, got {got}", exec.exit_code));
    }
    let stdout_expected = exec
        .stdout
        .as_ref()
        .map(|m| expand_match(ctx, m))
        .transpose()?;
    let stderr_expected = exec
        .stderr
        .as_ref()
        .map(|m| expand_match(ctx, m))
        .transpose()?;
    check_stream("stdout", &stdout, stdout_expected.as_ref(), &mut diff);
    check_stream("stderr", &stderr, stderr_expected.as_ref(), &mut diff);
    if !diff.is_empty() {
        let mut failure =
            Failure::new(format!("exec {shown:?} did not behave as expected")).with_diff(diff);
        failure.output = Some(format!(
            "--- stdout\n{}--- stderr\n{}",
            with_final_newline(tail(&stdout)),
            with_final_newline(tail(&stderr))
        ));
        return Err(failure);
    }
    let mut notes = Vec::new();
    for (name, stream) in &exec.capture {
        let text = match stream {
            Stream::Stdout => &stdout,
            Stream::Stderr => &stderr,
        };
        let value = text.trim_end().to_owned();
        notes.push(format!("captured {name} = {value:?}"));
        ctx.vars.set(name, serde_json::Value::String(value));
    }
    Ok(notes)
}

/// The output checks with `${...}` expanded.
fn expand_match(ctx: &Ctx<'_>, expected: &OutputMatch) -> Result<OutputMatch, Failure> {
    let all = |strings: &Strings| {
        strings
            .0
            .iter()
            .map(|s| ctx.expand(s))
            .collect::<Result<Vec<_>, _>>()
            .map(Strings)
    };
    Ok(OutputMatch {
        equals: expected
            .equals
            .as_deref()
            .map(|s| ctx.expand(s))
            .transpose()?,
        contains: all(&expected.contains)?,
        not_contains: all(&expected.not_contains)?,
    })
}

fn check_stream(label: &str, text: &str, expected: Option<&OutputMatch>, diff: &mut Vec<String>) {
    let Some(expected) = expected else { return };
    if let Some(equals) = expected
        .equals
        .as_ref()
        .filter(|e| text.trim_end() != e.trim_end())
    {
        diff.push(format!(
            "{label}: expected {:?}, got {:?}",
            equals.trim_end(),
            tail(text.trim_end())
        ));
    }
    for needle in &expected.contains.0 {
        if !text.contains(needle.as_str()) {
            diff.push(format!("{label}: expected to contain {needle:?}"));
        }
    }
    for needle in &expected.not_contains.0 {
        if text.contains(needle.as_str()) {
            diff.push(format!("{label}: expected not to contain {needle:?}"));
        }
    }
}

/// The last [`OUTPUT_TAIL`] bytes of `text`, on a character boundary.
fn tail(text: &str) -> &str {
    if text.len() <= OUTPUT_TAIL {
        return text;
    }
    let mut start = text.len() - OUTPUT_TAIL;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// `text` ending in a newline, so the next `--- stderr` header starts a line
/// of its own (and cannot run into a token's last characters).
fn with_final_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_checks_name_each_problem() {
        let expected = OutputMatch {
            equals: Some("hello".into()),
            contains: Strings(vec!["ell".into(), "xyz".into()]),
            not_contains: Strings(vec!["hell".into()]),
        };
        let mut diff = Vec::new();
        check_stream("stdout", "hello\n", Some(&expected), &mut diff);
        assert_eq!(
            diff,
            vec![
                r#"stdout: expected to contain "xyz""#.to_owned(),
                r#"stdout: expected not to contain "hell""#.to_owned()
            ]
        );
    }

    #[test]
    fn tails_respect_character_boundaries() {
        let text = "é".repeat(OUTPUT_TAIL);
        assert!(tail(&text).len() <= OUTPUT_TAIL);
        assert!(tail(&text).chars().all(|c| c == 'é'));
    }
}
