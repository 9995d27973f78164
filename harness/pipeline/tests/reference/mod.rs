//! A naive, independent implementation of the contract in the crate docs, for the
//! property tests to hold the engine against.
//!
//! It shares no code with the crate: events are parsed with `serde_json::Value`
//! and validated here; lateness is decided by replaying the single-split
//! watermark event by event; and every window's result is computed by brute
//! force, filtering the whole event list once per window. It is slow on
//! purpose and only meant for small inputs. Known difference: a duplicated
//! field is malformed for the engine but "last wins" here (serde_json's
//! `Value`), so the tests never generate duplicates.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const PANE: i64 = 15 * MINUTE;
const MAX_TS: i64 = 253_402_300_799_999;

/// A valid event as the reference sees it.
#[derive(Clone, Debug)]
pub(crate) struct RefEvent {
    pub tenant: String,
    pub scenario: String,
    pub user: String,
    pub item: String,
    pub action: String,
    pub ts: i64,
    pub watch: u64,
}

impl RefEvent {
    fn engaged(&self) -> bool {
        matches!(self.action.as_str(), "VIEW" | "LIKE" | "SHARE")
    }

    fn points(&self) -> u64 {
        match self.action.as_str() {
            "VIEW" => 1,
            "LIKE" => 2,
            "SHARE" => 3,
            _ => 0,
        }
    }
}

/// `None` when the payload is malformed per the contract.
pub(crate) fn parse(payload: &[u8]) -> Option<RefEvent> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let object = value.as_object()?;
    let text = |name: &str| match object.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let action = text("action_type")?;
    if !["VIEW", "LIKE", "SHARE", "CLICK", "IMPRESSION"].contains(&action.as_str()) {
        return None;
    }
    let ts = object
        .get("timestamp")?
        .as_i64()
        .filter(|ts| (0..=MAX_TS).contains(ts))?;
    let watch = match object.get("watch_duration_ms") {
        None => 0,
        Some(value) => value.as_i64().filter(|w| *w >= 0)? as u64,
    };
    Some(RefEvent {
        tenant: text("tenant_id")?,
        scenario: text("scenario_id")?,
        user: text("user_id")?,
        item: text("item_id")?,
        action,
        ts,
        watch,
    })
}

fn floor(ts: i64, size: i64) -> i64 {
    ts - ts.rem_euclid(size)
}

/// A valid event with, for each window it belongs to, whether it arrived in time.
struct Arrival {
    event: RefEvent,
    metrics_on_time: bool,
    user_on_time: bool,
    /// Start of each hot window holding the event -> on time.
    hot_on_time: BTreeMap<i64, bool>,
}

/// (tenant, scenario, user, window_start, window_end, view, like, share, period)
pub(crate) type UserRow = (String, String, String, i64, i64, u64, u64, u64, String);
/// (tenant, scenario, window_end, rank, item, score)
pub(crate) type HotRow = (String, String, i64, u32, String, f64);
/// (tenant, scenario, window_start, window_end, impressions, clicks, ctr, avg_watch_s, completion_rate)
pub(crate) type MetricsRow = (
    String,
    String,
    i64,
    i64,
    u64,
    u64,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

/// What the contract says a run over one ordered input produces.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Reference {
    pub user_rows: Vec<UserRow>,
    pub hot_rows: Vec<HotRow>,
    pub metrics_rows: Vec<MetricsRow>,
    pub valid: u64,
    pub malformed: u64,
    pub fully_late: u64,
    /// Late counters: (user_features, item_hot, metrics).
    pub late: (u64, u64, u64),
    /// key -> hash fields, for the default user key template.
    pub user_hashes: BTreeMap<String, BTreeMap<String, String>>,
    /// key -> member -> score.
    pub hot_sets: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Runs the contract over `payloads` as one ordered input, with the given
/// watermark delay, top N and active-period offset, no decay and the default keys.
pub(crate) fn reference<P: AsRef<[u8]>>(
    payloads: &[P],
    delay: i64,
    top_n: usize,
    offset_minutes: i64,
) -> Reference {
    let mut out = Reference::default();
    let mut max_ts: Option<i64> = None;
    let mut arrivals = Vec::new();
    for payload in payloads {
        let Some(event) = parse(payload.as_ref()) else {
            out.malformed += 1;
            continue;
        };
        out.valid += 1;
        // Late for a window when the watermark before this event has reached
        // the window's last millisecond.
        let on_time = |end: i64| max_ts.is_none_or(|max| max - delay < end - 1);
        let metrics_on_time = on_time(floor(event.ts, MINUTE) + MINUTE);
        let user_on_time = event.engaged() && on_time(floor(event.ts, HOUR) + HOUR);
        let mut hot_on_time = BTreeMap::new();
        if event.engaged() {
            let mut start = floor(event.ts, PANE) - HOUR + PANE;
            while start <= event.ts {
                hot_on_time.insert(start, on_time(start + HOUR));
                start += PANE;
            }
        }
        if !metrics_on_time {
            out.late.2 += 1;
        }
        if event.engaged() && !user_on_time {
            out.late.0 += 1;
        }
        if hot_on_time.values().any(|ok| !ok) {
            out.late.1 += 1;
        }
        if !metrics_on_time && !user_on_time && hot_on_time.values().all(|ok| !ok) {
            out.fully_late += 1;
        }
        max_ts = Some(max_ts.map_or(event.ts, |max| max.max(event.ts)));
        arrivals.push(Arrival {
            event,
            metrics_on_time,
            user_on_time,
            hot_on_time,
        });
    }
    user_features(&arrivals, offset_minutes, &mut out);
    hot_items(&arrivals, top_n, &mut out);
    metrics(&arrivals, &mut out);
    out
}

fn period(start: i64, offset_minutes: i64) -> &'static str {
    let hour = (start + offset_minutes * MINUTE).rem_euclid(24 * HOUR) / HOUR;
    if (5..12).contains(&hour) {
        "morning"
    } else if (12..18).contains(&hour) {
        "midday"
    } else {
        "evening"
    }
}

fn user_features(arrivals: &[Arrival], offset_minutes: i64, out: &mut Reference) {
    let windows: BTreeSet<(String, String, String, i64)> = arrivals
        .iter()
        .filter(|a| a.user_on_time)
        .map(|a| {
            (
                a.event.tenant.clone(),
                a.event.scenario.clone(),
                a.event.user.clone(),
                floor(a.event.ts, HOUR),
            )
        })
        .collect();
    let mut latest: BTreeMap<String, (i64, String, String, BTreeMap<String, String>)> =
        BTreeMap::new();
    for (tenant, scenario, user, start) in windows {
        let mut counts = [0u64; 3];
        for a in arrivals.iter().filter(|a| {
            a.user_on_time
                && a.event.tenant == tenant
                && a.event.scenario == scenario
                && a.event.user == user
                && start <= a.event.ts
                && a.event.ts < start + HOUR
        }) {
            match a.event.action.as_str() {
                "VIEW" => counts[0] += 1,
                "LIKE" => counts[1] += 1,
                "SHARE" => counts[2] += 1,
                _ => {}
            }
        }
        let name = period(start, offset_minutes).to_string();
        let key = format!("user:profile:{tenant}:{scenario}:{user}");
        let fields: BTreeMap<String, String> = [
            ("view", counts[0].to_string()),
            ("like", counts[1].to_string()),
            ("share", counts[2].to_string()),
            ("active_period", name.clone()),
            ("window_start", start.to_string()),
            ("window_end", (start + HOUR).to_string()),
            ("tenant_id", tenant.clone()),
            ("scenario_id", scenario.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let candidate = (start + HOUR, tenant.clone(), scenario.clone(), fields);
        if latest
            .get(&key)
            .is_none_or(|(end, t, s, _)| (candidate.0, &candidate.1, &candidate.2) > (*end, t, s))
        {
            latest.insert(key, candidate);
        }
        out.user_rows.push((
            tenant,
            scenario,
            user,
            start,
            start + HOUR,
            counts[0],
            counts[1],
            counts[2],
            name,
        ));
    }
    out.user_hashes = latest
        .into_iter()
        .map(|(key, (_, _, _, fields))| (key, fields))
        .collect();
}

fn hot_items(arrivals: &[Arrival], top_n: usize, out: &mut Reference) {
    let windows: BTreeSet<(String, String, i64)> = arrivals
        .iter()
        .flat_map(|a| {
            a.hot_on_time
                .iter()
                .filter(|(_, ok)| **ok)
                .map(|(start, _)| (a.event.tenant.clone(), a.event.scenario.clone(), *start))
        })
        .collect();
    let mut latest: BTreeMap<String, (i64, BTreeMap<String, f64>)> = BTreeMap::new();
    for (tenant, scenario, start) in windows {
        let mut scores: BTreeMap<String, u64> = BTreeMap::new();
        for a in arrivals.iter().filter(|a| {
            a.event.tenant == tenant
                && a.event.scenario == scenario
                && a.hot_on_time.get(&start) == Some(&true)
        }) {
            *scores.entry(a.event.item.clone()).or_default() += a.event.points();
        }
        let mut ranked: Vec<(String, u64)> = scores.into_iter().collect();
        ranked.sort_by(|l, r| r.1.cmp(&l.1).then_with(|| l.0.cmp(&r.0)));
        ranked.truncate(top_n);
        let end = start + HOUR;
        if ranked.is_empty() {
            continue;
        }
        let key = format!("hot:items:{tenant}:{scenario}");
        if latest.get(&key).is_none_or(|(previous, _)| end > *previous) {
            latest.insert(
                key,
                (
                    end,
                    ranked
                        .iter()
                        .map(|(item, score)| (item.clone(), *score as f64))
                        .collect(),
                ),
            );
        }
        for (rank, (item, score)) in ranked.into_iter().enumerate() {
            out.hot_rows.push((
                tenant.clone(),
                scenario.clone(),
                end,
                rank as u32 + 1,
                item,
                score as f64,
            ));
        }
    }
    out.hot_sets = latest
        .into_iter()
        .map(|(key, (_, set))| (key, set))
        .collect();
}

fn metrics(arrivals: &[Arrival], out: &mut Reference) {
    let windows: BTreeSet<(String, String, i64)> = arrivals
        .iter()
        .filter(|a| a.metrics_on_time)
        .map(|a| {
            (
                a.event.tenant.clone(),
                a.event.scenario.clone(),
                floor(a.event.ts, MINUTE),
            )
        })
        .collect();
    for (tenant, scenario, start) in windows {
        let inside: Vec<&RefEvent> = arrivals
            .iter()
            .filter(|a| {
                a.metrics_on_time
                    && a.event.tenant == tenant
                    && a.event.scenario == scenario
                    && start <= a.event.ts
                    && a.event.ts < start + MINUTE
            })
            .map(|a| &a.event)
            .collect();
        let count = |action: &str| inside.iter().filter(|e| e.action == action).count() as u64;
        let (impressions, clicks, views) = (count("IMPRESSION"), count("CLICK"), count("VIEW"));
        let watch: u128 = inside
            .iter()
            .filter(|e| e.action == "VIEW")
            .map(|e| u128::from(e.watch))
            .sum();
        let completed = inside
            .iter()
            .filter(|e| e.action == "VIEW" && e.watch >= 30_000)
            .count() as u64;
        let ctr = (impressions > 0).then(|| clicks as f64 / impressions as f64);
        let avg = (views > 0).then(|| watch as f64 / views as f64 / 1000.0);
        let completion = (views > 0).then(|| completed as f64 / views as f64);
        out.metrics_rows.push((
            tenant,
            scenario,
            start,
            start + MINUTE,
            impressions,
            clicks,
            ctr,
            avg,
            completion,
        ));
    }
}
