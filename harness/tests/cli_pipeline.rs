//! The pipeline's commands end to end through the real binary: `load` (to a
//! file and to Kafka), `oracle`, `pipeline run` (file and bounded Kafka),
//! `verify` (a match; a tampered Redis, and a wrong `--metrics-url` scrape,
//! each with its diff and exit code 1), and
//! `infra up` (dry run, a foreground run stopped with Ctrl-C, and a clear
//! error when redis-server is missing).

mod pipeline_common;
mod process_support;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command as StdCommand, Stdio},
    time::Duration,
};

use assert_cmd::Command;
use predicates::prelude::*;

fn harness() -> Command {
    Command::cargo_bin("harness").expect("the harness binary is built")
}

/// `harness load --out` with late and malformed events; returns the file.
fn generate(dir: &Path) -> std::path::PathBuf {
    let events = dir.join("events.jsonl");
    harness()
        .args(["load", "--out"])
        .arg(&events)
        .args([
            "--count", "8000", "--seed", "5", "--users", "300", "--items", "200",
        ])
        .args([
            "--malformed-ratio",
            "0.03",
            "--late-ratio",
            "0.03",
            "--event-time-rate",
            "3",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("wrote 8000 events ("));
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_run_and_verify_agree_and_a_tampered_redis_is_caught() -> anyhow::Result<()> {
    let redis = pipeline_common::redis().await?;
    let url = redis.url().expose().to_owned();
    let dir = tempfile::tempdir()?;
    let events = generate(dir.path());
    let oracle_dir = dir.path().join("oracle");

    harness()
        .args(["oracle", "--events"])
        .arg(&events)
        .arg("--out")
        .arg(&oracle_dir)
        .assert()
        .success();
    for file in [
        "user_features.jsonl",
        "item_hot.jsonl",
        "metrics.jsonl",
        "redis_state.json",
        "stats.json",
    ] {
        assert!(oracle_dir.join(file).is_file(), "{file} missing");
    }

    harness()
        .args(["pipeline", "run", "--events"])
        .arg(&events)
        .args(["--redis", &url, "--state-dir"])
        .arg(dir.path().join("state"))
        .args([
            "--metrics-addr",
            "127.0.0.1:0",
            "--checkpoint-interval",
            "250ms",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("metrics: http://127.0.0.1:")
                .and(predicate::str::contains("processed 8000 records")),
        );

    for expected in [
        ["--oracle", oracle_dir.to_str().expect("utf-8")],
        ["--events", events.to_str().expect("utf-8")],
    ] {
        harness()
            .args(["verify", "--redis", &url])
            .args(expected)
            .assert()
            .code(0)
            .stdout(predicate::str::starts_with(
                "ok: redis matches the oracle (",
            ));
    }

    // --metrics-url: a scrape showing each group's last window passes; one
    // with a wrong value fails with the series named.
    let scrape = last_windows_scrape(&std::fs::read_to_string(oracle_dir.join("metrics.jsonl"))?)?;
    let good = serve_once(scrape.clone()).await?;
    harness()
        .args(["verify", "--redis", &url, "--oracle"])
        .arg(&oracle_dir)
        .args(["--metrics-url", &good])
        .assert()
        .code(0);
    let (first_line, rest) = scrape.split_once('\n').expect("several series");
    let (series, _) = first_line.rsplit_once(' ').expect("name value");
    let bad = serve_once(format!("{series} 123456\n{rest}")).await?;
    harness()
        .args(["verify", "--redis", &url, "--oracle"])
        .arg(&oracle_dir)
        .args(["--metrics-url", &bad])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains(format!("metrics: {series}: expected"))
                .and(predicate::str::contains("found 123456")),
        );

    // Tamper: change one field, delete one key, add a stray key.
    let mut connection = pipeline_common::connect(redis.url()).await?;
    let users: Vec<String> = redis::cmd("KEYS")
        .arg("user:profile:*")
        .query_async(&mut connection)
        .await?;
    let hot: Vec<String> = redis::cmd("KEYS")
        .arg("hot:items:*")
        .query_async(&mut connection)
        .await?;
    let (changed, deleted) = (&users[0], &hot[0]);
    let () = redis::cmd("HSET")
        .arg(changed)
        .arg("view")
        .arg("999")
        .query_async(&mut connection)
        .await?;
    let () = redis::cmd("DEL")
        .arg(deleted)
        .query_async(&mut connection)
        .await?;
    let () = redis::cmd("HSET")
        .arg("user:profile:t:s:intruder")
        .arg("view")
        .arg("1")
        .query_async(&mut connection)
        .await?;

    harness()
        .args(["verify", "--redis", &url, "--oracle"])
        .arg(&oracle_dir)
        .assert()
        .code(1)
        .stdout(
            predicate::str::starts_with("MISMATCH:")
                .and(predicate::str::contains(format!(
                    "hash {changed} field view: expected"
                )))
                .and(predicate::str::contains("found \"999\""))
                .and(predicate::str::contains(format!("missing key {deleted}")))
                .and(predicate::str::contains(
                    "extra key user:profile:t:s:intruder",
                )),
        );

    // Nobody reads the diff (`harness verify ... | head -0`): the verdict
    // still comes as the exit code, with no panic on the closed pipe.
    let mut unread = StdCommand::new(assert_cmd::cargo::cargo_bin("harness"))
        .args(["verify", "--redis", &url, "--oracle"])
        .arg(&oracle_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    drop(unread.stdout.take());
    let output = unread.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    Ok(())
}

#[test]
fn infra_up_dry_run_prints_the_container_plans_without_docker() {
    harness()
        .args([
            "infra",
            "up",
            "--kafka",
            "containers",
            "--redis",
            "containers",
            "--topic",
            "user_behaviors:4",
            "--dry-run",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("kafka containers: image apache/kafka:3.8.0")
                .and(predicate::str::contains(
                    "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:<port>",
                ))
                .and(predicate::str::contains("redis containers: image redis:7"))
                .and(predicate::str::contains(
                    "topic user_behaviors (4 partitions)",
                )),
        );
}

#[test]
fn infra_up_without_redis_server_names_the_fix() {
    let empty = tempfile::tempdir().expect("tempdir");
    harness()
        .args(["infra", "up"])
        .env("PATH", empty.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "redis-server not found on PATH; `cargo xtask setup` installs Debian's redis-server",
        ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_redis_with_the_key_templates_the_oracle_used() -> anyhow::Result<()> {
    let redis = pipeline_common::redis().await?;
    let url = redis.url().expose().to_owned();
    let dir = tempfile::tempdir()?;
    let events = generate(dir.path());
    let oracle_dir = dir.path().join("oracle");
    let seed_keys = ["--key-template", "user:profile:{user_id}"];
    harness()
        .args(["oracle", "--events"])
        .arg(&events)
        .arg("--out")
        .arg(&oracle_dir)
        .args(seed_keys)
        .assert()
        .success();
    harness()
        .args(["pipeline", "run", "--events"])
        .arg(&events)
        .args(["--redis", &url, "--state-dir"])
        .arg(dir.path().join("state"))
        .args(seed_keys)
        .assert()
        .success();
    // No flag: the oracle's record says which keys to read.
    harness()
        .args(["verify", "--redis", &url, "--oracle"])
        .arg(&oracle_dir)
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with(
            "ok: redis matches the oracle (",
        ));
    // A flag that contradicts the record is refused, not misread as missing keys.
    harness()
        .args(["verify", "--redis", &url, "--oracle"])
        .arg(&oracle_dir)
        .args([
            "--key-template",
            "user:profile:{tenant_id}:{scenario_id}:{user_id}",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the oracle was computed with key template \"user:profile:{user_id}\"",
        ));
    Ok(())
}

#[test]
fn a_password_in_a_bad_redis_argument_is_never_echoed() {
    let commands: [&[&str]; 4] = [
        &[
            "verify",
            "--oracle",
            "o",
            "--redis",
            "http://:hunter2@127.0.0.1:1/",
        ],
        &[
            "verify",
            "--oracle",
            "o",
            "--redis",
            "redis//:hunter2@127.0.0.1:1",
        ],
        &[
            "pipeline",
            "run",
            "--events",
            "e",
            "--state-dir",
            "s",
            "--redis",
            "http://u:hunter2@h/",
        ],
        &["infra", "up", "--redis", "external:http://:hunter2@x/"],
    ];
    for args in commands {
        harness()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("invalid value for --redis"))
            .stderr(predicate::str::contains("hunter2").not());
    }
}

#[test]
fn load_refuses_to_start_a_kafka_that_would_die_with_it() {
    harness()
        .args(["load", "--kafka", "embedded", "--count", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "start one with `harness infra up --topic user_behaviors:1`",
        ));
}

#[test]
fn infra_up_serves_until_interrupted_or_terminated_and_leaves_nothing_behind() -> anyhow::Result<()>
{
    // Ctrl-C, then what `kill`, `timeout` and supervisors send.
    for signal in ["-INT", "-TERM"] {
        infra_up_until(signal)?;
    }
    Ok(())
}

fn infra_up_until(signal: &str) -> anyhow::Result<()> {
    let binary = assert_cmd::cargo::cargo_bin("harness");
    let mut child = StdCommand::new(binary)
        .args(["infra", "up", "--topic", "user_behaviors:2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let kafka = lines.next().transpose()?.unwrap_or_default();
    let redis = lines.next().transpose()?.unwrap_or_default();
    assert!(kafka.starts_with("kafka (embedded): 127.0.0.1:"), "{kafka}");
    assert!(
        redis.starts_with("redis (local): redis://127.0.0.1:"),
        "{redis}"
    );
    let redis_addr = redis
        .trim_start_matches("redis (local): redis://")
        .trim_end_matches('/')
        .to_owned();
    assert!(
        std::net::TcpStream::connect(&redis_addr).is_ok(),
        "redis is not serving at {redis_addr}"
    );

    let exit =
        process_support::signal_and_wait(&mut child, signal, Duration::from_secs(20), "infra up");
    assert!(exit.success(), "{exit:?}");
    assert!(
        std::net::TcpStream::connect(&redis_addr).is_err(),
        "redis-server outlived infra up ({signal})"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_into_kafka_run_bounded_and_verify() -> anyhow::Result<()> {
    let redis = pipeline_common::redis().await?;
    let kafka = pipeline_common::kafka("user_behaviors", 2).await?;
    let url = redis.url().expose().to_owned();
    let dir = tempfile::tempdir()?;
    let knobs = [
        "--count",
        "6000",
        "--seed",
        "8",
        "--users",
        "300",
        "--items",
        "200",
        "--malformed-ratio",
        "0.02",
        "--event-time-rate",
        "3",
    ];
    harness()
        .args([
            "load",
            "--kafka",
            &format!("external:{}", kafka.bootstrap_servers()),
            "--partitions",
            "2",
        ])
        .args(knobs)
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .stdout(predicate::str::starts_with("wrote 6000 events"));
    let events = dir.path().join("events.jsonl");
    harness()
        .args(["load", "--out"])
        .arg(&events)
        .args(knobs)
        .assert()
        .success();

    harness()
        .args([
            "pipeline",
            "run",
            "--bootstrap-servers",
            kafka.bootstrap_servers(),
            "--topic",
            "user_behaviors",
        ])
        .args(["--redis", &url, "--bounded", "--state-dir"])
        .arg(dir.path().join("state"))
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .stdout(predicate::str::contains("processed 6000 records"));
    harness()
        .args(["verify", "--redis", &url, "--events"])
        .arg(&events)
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with(
            "ok: redis matches the oracle (",
        ));
    Ok(())
}

/// A Prometheus scrape of each (tenant, scenario)'s last metrics window, as an
/// exporter without `recommendation_window_end_ms` would show it.
fn last_windows_scrape(metrics_jsonl: &str) -> anyhow::Result<String> {
    let mut last = std::collections::BTreeMap::new();
    for line in metrics_jsonl.lines() {
        let row: serde_json::Value = serde_json::from_str(line)?;
        let group = (
            row["tenant_id"].as_str().unwrap_or_default().to_owned(),
            row["scenario_id"].as_str().unwrap_or_default().to_owned(),
        );
        last.insert(group, row);
    }
    let mut text = String::new();
    for ((tenant, scenario), row) in &last {
        for (name, field) in [
            ("recommendation_impressions", "impressions"),
            ("recommendation_clicks", "clicks"),
            ("recommendation_ctr", "ctr"),
            ("recommendation_avg_watch_duration", "avg_watch_s"),
            ("recommendation_completion_rate", "completion_rate"),
        ] {
            if let Some(value) = row[field].as_f64() {
                text.push_str(&format!(
                    "{name}{{tenant_id=\"{tenant}\",scenario_id=\"{scenario}\"}} {value}\n"
                ));
            }
        }
    }
    Ok(text)
}

/// Serves `body` to every request on a loopback port; returns the URL.
async fn serve_once(body: String) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/metrics", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0_u8; 4096];
            let _ = stream.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    Ok(url)
}

#[test]
fn a_topic_with_a_file_source_is_refused_not_ignored() {
    harness()
        .args([
            "pipeline",
            "run",
            "--events",
            "events.jsonl",
            "--topic",
            "t",
        ])
        .args(["--redis", "redis://127.0.0.1:1/", "--state-dir", "state"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the argument '--events <FILE>' cannot be used with '--topic <TOPIC>'",
        ));
}
