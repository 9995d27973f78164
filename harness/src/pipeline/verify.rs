//! Verification of a live system against the oracle: reads every key the
//! pipeline's key templates can produce from a real Redis into a
//! [`RedisState`], diffs it against the expected state, checks that every
//! hot-item list has a TTL of at most the configured one, and optionally
//! compares a `/metrics` scrape with the oracle's latest metrics windows.
//!
//! Only keys matching the templates are read, so other data in the same Redis
//! database is ignored; a matching key of another type (a string, a list) is
//! reported. The check works for any pipeline that writes the same keys: ours,
//! or the users' Flink job.

use std::collections::{BTreeMap, BTreeSet};

use harness_infra::RedisUrl;
use harness_pipeline::{
    Difference, KeyTemplates, RedisState, RedisValue, WindowMetrics, diff,
    redis_model::render_differences,
};
use redis::aio::MultiplexedConnection;

use super::{
    Error, Result,
    metrics::{WINDOW_GAUGES, series_id},
};

/// Keys read per pipelined round trip.
const READ_BATCH: usize = 500;

/// Differences shown in full before the rest are summarised.
const SHOWN_DIFFERENCES: usize = 200;

/// A key whose time to live is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtlProblem {
    /// The key.
    pub key: String,
    /// What is wrong, e.g. `no TTL` or `TTL 9000 s exceeds 7200 s`.
    pub problem: String,
}

/// What Redis holds under the pipeline's key patterns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedisSnapshot {
    /// Hashes and sorted sets.
    pub state: RedisState,
    /// Sorted-set keys and their TTL in seconds (-1: none).
    pub zset_ttls: BTreeMap<String, i64>,
    /// Matching keys of other types, with their type.
    pub foreign: Vec<(String, String)>,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifyReport {
    /// Keys the oracle expects.
    pub expected_keys: usize,
    /// Keys found under the patterns.
    pub actual_keys: usize,
    /// Expected vs actual state.
    pub differences: Vec<Difference>,
    /// Matching keys that are neither hashes nor sorted sets.
    pub foreign: Vec<(String, String)>,
    /// Hot-item lists with a missing or too long TTL.
    pub ttl_problems: Vec<TtlProblem>,
    /// Metrics that are missing or differ (empty when metrics were not checked).
    pub metric_problems: Vec<String>,
}

impl VerifyReport {
    /// Whether everything matched.
    pub fn is_ok(&self) -> bool {
        self.differences.is_empty()
            && self.foreign.is_empty()
            && self.ttl_problems.is_empty()
            && self.metric_problems.is_empty()
    }

    /// A human-readable report: a summary line, then every problem.
    pub fn render(&self) -> String {
        let mut text = if self.is_ok() {
            format!("ok: redis matches the oracle ({} keys)", self.expected_keys)
        } else {
            format!(
                "MISMATCH: expected {} keys, found {}",
                self.expected_keys, self.actual_keys
            )
        };
        if !self.differences.is_empty() {
            text.push('\n');
            text.push_str(&render_differences(&self.differences, SHOWN_DIFFERENCES));
        }
        for (key, kind) in &self.foreign {
            text.push_str(&format!(
                "\nkey {key} is a {kind}, not a hash or sorted set"
            ));
        }
        for TtlProblem { key, problem } in &self.ttl_problems {
            text.push_str(&format!("\nsorted set {key}: {problem}"));
        }
        for problem in &self.metric_problems {
            text.push_str(&format!("\nmetrics: {problem}"));
        }
        text
    }
}

/// Compares `actual` with `expected` and checks sorted-set TTLs against
/// `max_ttl_secs`.
pub fn compare(expected: &RedisState, actual: &RedisSnapshot, max_ttl_secs: u64) -> VerifyReport {
    let ttl_problems = actual
        .zset_ttls
        .iter()
        .filter_map(|(key, &ttl)| {
            let problem = match ttl {
                -1 => "no TTL (hot-item lists must expire)".to_owned(),
                ttl if ttl < 0 => return None, // expired between the read and the TTL call
                ttl if ttl.unsigned_abs() > max_ttl_secs => {
                    format!("TTL {ttl} s exceeds {max_ttl_secs} s")
                }
                _ => return None,
            };
            Some(TtlProblem {
                key: key.clone(),
                problem,
            })
        })
        .collect();
    VerifyReport {
        expected_keys: expected.len(),
        actual_keys: actual.state.len() + actual.foreign.len(),
        differences: diff(expected, &actual.state),
        foreign: actual.foreign.clone(),
        ttl_problems,
        metric_problems: Vec::new(),
    }
}

/// Reads every key matching `templates` (hashes with HGETALL, sorted sets
/// with ZRANGE and TTL), in pipelined batches.
pub async fn read_redis(url: &RedisUrl, templates: &KeyTemplates) -> Result<RedisSnapshot> {
    let redis_failed = |step, source| Error::Redis {
        step,
        url: url.redacted(),
        source,
    };
    let client = redis::Client::open(url.expose())
        .map_err(|source| redis_failed("parse the url of", source))?;
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|source| redis_failed("connect to", source))?;
    let mut keys = BTreeSet::new();
    for pattern in [
        templates.user_template().scan_pattern(),
        templates.hot_template().scan_pattern(),
    ] {
        scan(&mut connection, &pattern, &mut keys)
            .await
            .map_err(|source| redis_failed("scan keys of", source))?;
    }
    let keys: Vec<String> = keys.into_iter().collect();
    let mut snapshot = RedisSnapshot::default();
    for batch in keys.chunks(READ_BATCH) {
        read_batch(&mut connection, batch, &mut snapshot)
            .await
            .map_err(|source| redis_failed("read keys of", source))?;
    }
    Ok(snapshot)
}

async fn scan(
    connection: &mut MultiplexedConnection,
    pattern: &str,
    keys: &mut BTreeSet<String>,
) -> redis::RedisResult<()> {
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(connection)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

async fn read_batch(
    connection: &mut MultiplexedConnection,
    keys: &[String],
    snapshot: &mut RedisSnapshot,
) -> redis::RedisResult<()> {
    let mut types = redis::pipe();
    for key in keys {
        types.cmd("TYPE").arg(key);
    }
    let types: Vec<String> = types.query_async(connection).await?;
    let mut reads = redis::pipe();
    let mut pending = Vec::new();
    for (key, kind) in keys.iter().zip(types) {
        match kind.as_str() {
            "hash" => {
                reads.cmd("HGETALL").arg(key);
                pending.push((key, true));
            }
            "zset" => {
                reads
                    .cmd("ZRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .cmd("TTL")
                    .arg(key);
                pending.push((key, false));
            }
            // Expired or deleted since the scan.
            "none" => {}
            other => snapshot.foreign.push((key.clone(), other.to_owned())),
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let values: Vec<redis::Value> = reads.query_async(connection).await?;
    let mut values = values.into_iter();
    for (key, is_hash) in pending {
        let value = values.next().unwrap_or(redis::Value::Nil);
        if is_hash {
            let hash: BTreeMap<String, String> = redis::from_redis_value(value)?;
            snapshot.state.insert(key.clone(), RedisValue::Hash(hash));
        } else {
            let members: Vec<(String, f64)> = redis::from_redis_value(value)?;
            let ttl: i64 = redis::from_redis_value(values.next().unwrap_or(redis::Value::Int(-2)))?;
            snapshot
                .state
                .insert(key.clone(), RedisValue::Zset(members.into_iter().collect()));
            snapshot.zset_ttls.insert(key.clone(), ttl);
        }
    }
    Ok(())
}

/// Compares a Prometheus text scrape with the oracle's metrics rows; returns
/// one line per missing or different series.
///
/// For each (tenant, scenario) of the oracle, the scrape's
/// `recommendation_window_end_ms` names the window its gauges describe, and
/// they are compared with the oracle's row for that window; so a running
/// pipeline can be checked before its last windows fire. A scrape without
/// that gauge (another exporter) is compared with each group's last window.
pub fn check_metrics(scrape: &str, rows: &[WindowMetrics]) -> Vec<String> {
    let series: BTreeMap<&str, f64> = scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name, value.parse().ok()?))
        })
        .collect();
    let has_window_ends = series
        .keys()
        .any(|id| id.starts_with("recommendation_window_end_ms{"));
    let mut windows: BTreeMap<(&str, &str), BTreeMap<i64, &WindowMetrics>> = BTreeMap::new();
    for row in rows {
        windows
            .entry((&row.tenant_id, &row.scenario_id))
            .or_default()
            .insert(row.window_end, row);
    }
    let mut problems = Vec::new();
    for ((tenant, scenario), by_end) in windows {
        let row = if has_window_ends {
            let end_id = series_id("recommendation_window_end_ms", tenant, scenario);
            match series.get(end_id.as_str()) {
                None => {
                    problems.push(format!(
                        "{end_id}: missing (no window reported for this group)"
                    ));
                    continue;
                }
                Some(&end) => match by_end.get(&(end as i64)) {
                    Some(row) => *row,
                    None => {
                        problems.push(format!(
                            "{end_id}: the oracle has no window ending at {end}"
                        ));
                        continue;
                    }
                },
            }
        } else {
            match by_end.values().next_back() {
                Some(row) => *row,
                None => continue,
            }
        };
        // Without the window gauge there is nothing to compare it with.
        let gauges = WINDOW_GAUGES.iter().skip(usize::from(!has_window_ends));
        for (name, _, value) in gauges {
            let id = series_id(name, tenant, scenario);
            match (value(row), series.get(id.as_str())) {
                (Some(expected), Some(&actual)) if close(expected, actual) => {}
                (None, None) => {}
                (Some(expected), Some(actual)) => {
                    problems.push(format!("{id}: expected {expected}, found {actual}"));
                }
                (Some(expected), None) => {
                    problems.push(format!("{id}: missing (expected {expected})"))
                }
                (None, Some(actual)) => {
                    problems.push(format!("{id}: expected no value, found {actual}"))
                }
            }
        }
    }
    problems
}

/// Equal up to the rounding of a decimal round trip.
fn close(expected: f64, actual: f64) -> bool {
    (expected - actual).abs() <= 1e-9 * expected.abs().max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tenant: &str, start: i64, ctr: Option<f64>) -> WindowMetrics {
        WindowMetrics {
            tenant_id: tenant.into(),
            scenario_id: "feed".into(),
            window_start: start,
            window_end: start + 60_000,
            impressions: 10,
            clicks: 2,
            ctr,
            avg_watch_s: None,
            completion_rate: None,
        }
    }

    #[test]
    fn metrics_are_checked_against_the_window_the_scrape_names() {
        let rows = [row("a", 0, Some(0.5)), row("a", 60_000, Some(0.2))];
        let first = "recommendation_window_end_ms{tenant_id=\"a\",scenario_id=\"feed\"} 60000\n\
            recommendation_impressions{tenant_id=\"a\",scenario_id=\"feed\"} 10\n\
            recommendation_clicks{tenant_id=\"a\",scenario_id=\"feed\"} 2\n\
            recommendation_ctr{tenant_id=\"a\",scenario_id=\"feed\"} 0.5\n";
        assert_eq!(check_metrics(first, &rows), Vec::<String>::new());
        // Without the window gauge, the last window is expected.
        let unnamed: String = first
            .lines()
            .skip(1)
            .map(|line| format!("{line}\n"))
            .collect();
        let problems = check_metrics(&unnamed, &rows);
        assert_eq!(
            problems,
            ["recommendation_ctr{tenant_id=\"a\",scenario_id=\"feed\"}: expected 0.2, found 0.5"]
        );
        let bad = first.replace("recommendation_clicks", "other");
        let problems = check_metrics(&bad, &rows);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("recommendation_clicks") && problems[0].contains("missing"),
            "{problems:?}"
        );
        let unknown = first.replace("} 60000", "} 180000");
        assert!(
            check_metrics(&unknown, &rows)[0].contains("the oracle has no window ending at 180000")
        );
    }

    #[test]
    fn ttls_must_exist_and_stay_within_the_limit() {
        let mut snapshot = RedisSnapshot::default();
        snapshot.zset_ttls.insert("hot:a".into(), 7200);
        snapshot.zset_ttls.insert("hot:b".into(), -1);
        snapshot.zset_ttls.insert("hot:c".into(), 9000);
        let report = compare(&RedisState::default(), &snapshot, 7200);
        let keys: Vec<&str> = report.ttl_problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["hot:b", "hot:c"]);
        assert!(!report.is_ok());
        assert!(
            report
                .render()
                .contains("sorted set hot:c: TTL 9000 s exceeds 7200 s"),
            "{}",
            report.render()
        );
    }
}
