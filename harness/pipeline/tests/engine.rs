//! Behaviour of the engine on small, hand-computed inputs: lateness and firing
//! under the watermark, each feature's values, several splits, drains,
//! duplicates, checkpoints and the Redis writes. Every expected value here is
//! worked out by hand from the contract in the crate docs, not taken from the engine.

use std::num::NonZeroU64;

use harness_pipeline::{
    ActivePeriod, Checkpoint, DeadLetterReason, Engine, EngineConfig, KeyTemplates, Output,
    RedisValue, RedisWrite, RestoreError, oracle,
};
use serde_json::json;

/// 2024-11-05 10:00:00 UTC, an hour boundary.
const H: i64 = 1_730_800_800_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn event(user: &str, item: &str, action: &str, ts: i64) -> String {
    json!({"tenant_id": "demo", "scenario_id": "vlog_feed", "user_id": user, "item_id": item, "action_type": action, "timestamp": ts})
        .to_string()
}

fn view(user: &str, item: &str, ts: i64, watch_ms: u64) -> String {
    json!({"tenant_id": "demo", "scenario_id": "vlog_feed", "user_id": user, "item_id": item, "action_type": "VIEW", "timestamp": ts, "watch_duration_ms": watch_ms})
        .to_string()
}

/// Feeds payloads as one split (offsets 0, 1, ...) and returns each call's outputs.
fn run(engine: &mut Engine, payloads: &[String]) -> Vec<Vec<Output>> {
    let first = engine
        .splits()
        .first()
        .and_then(|s| s.next_offset)
        .unwrap_or(0);
    payloads
        .iter()
        .zip(first..)
        .map(|(payload, offset)| {
            let mut out = Vec::new();
            engine.process(0, offset, payload.as_bytes(), &mut out);
            out
        })
        .collect()
}

fn drain(engine: &mut Engine) -> Vec<Output> {
    let mut out = Vec::new();
    engine.drain(&mut out);
    out
}

fn engine() -> Engine {
    Engine::new(EngineConfig::default(), &[0])
}

fn metrics_windows(outputs: &[Output]) -> Vec<(i64, i64)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Metrics(m) => Some((m.window_start, m.window_end)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_window_fires_exactly_when_the_watermark_reaches_its_last_millisecond() {
    let mut engine = engine();
    // Watermark = max timestamp - 30 s. The window [H, H+1min) fires at
    // watermark H + 59,999, i.e. after an event at H + 89,999.
    let outputs = run(
        &mut engine,
        &[
            event("u", "i", "CLICK", H + 5_000),
            event("u", "i", "CLICK", H + 89_998),
        ],
    );
    assert!(outputs.iter().all(|o| o.is_empty()), "not yet: {outputs:?}");
    assert_eq!(engine.watermark(), Some(H + 59_998));
    let outputs = run(&mut engine, &[event("u", "i", "CLICK", H + 89_999)]);
    assert_eq!(metrics_windows(&outputs[0]), vec![(H, H + MIN)]);
    assert_eq!(engine.stats().windows_fired.metrics, 1);
}

#[test]
fn an_event_is_late_only_for_the_windows_that_already_fired() {
    let mut engine = engine();
    run(
        &mut engine,
        &[
            event("u", "i", "VIEW", H + 10_000),
            event("u", "i", "VIEW", H + 2 * MIN),
        ],
    );
    // The watermark is H + 90 s: [H, H+1min) has fired, the hour window has not.
    let outputs = run(&mut engine, &[event("u", "i", "LIKE", H + 30_000)]);
    assert!(
        outputs[0].is_empty(),
        "partly late is not a dead letter: {outputs:?}"
    );
    let stats = engine.stats().clone();
    assert_eq!(
        (
            stats.late.metrics,
            stats.late.user_features,
            stats.late.item_hot,
            stats.fully_late
        ),
        (1, 0, 0, 0)
    );
    let rows: Vec<(u64, u64)> = drain(&mut engine)
        .iter()
        .filter_map(|o| match o {
            Output::UserFeatures(row) => Some((row.view, row.like)),
            _ => None,
        })
        .collect();
    assert_eq!(rows, vec![(2, 1)], "the LIKE still counts in its hour");
}

#[test]
fn an_event_late_for_every_window_is_dead_lettered() {
    let mut engine = engine();
    run(&mut engine, &[event("u", "i", "VIEW", H + 2 * HOUR)]);
    // Watermark H + 2 h - 30 s. An event at H + 10 min belongs to hot windows
    // ending at most H + 1 h 15 min: all fired.
    let late = event("u", "i", "SHARE", H + 10 * MIN);
    let outputs = run(&mut engine, std::slice::from_ref(&late));
    match outputs[0].as_slice() {
        [Output::DeadLetter(letter)] => {
            assert_eq!((letter.split, letter.offset), (0, 1));
            assert_eq!(letter.reason, DeadLetterReason::Late);
            assert_eq!(letter.reason.to_string(), "late for every window");
            assert_eq!(letter.payload, late.as_bytes());
        }
        other => panic!("expected one dead letter, got {other:?}"),
    }
    let stats = engine.stats();
    assert_eq!(
        (
            stats.late.metrics,
            stats.late.user_features,
            stats.late.item_hot
        ),
        (1, 1, 1)
    );
    assert_eq!((stats.fully_late, stats.dead_letters()), (1, 1));
}

#[test]
fn a_sliding_window_can_be_missed_while_later_ones_count() {
    let mut engine = engine();
    // Watermark H + 15 min - 1: the hot window [H - 45 min, H + 15 min) fires.
    run(
        &mut engine,
        &[event("u", "other", "VIEW", H + 15 * MIN - 1 + 30_000)],
    );
    run(&mut engine, &[event("u", "hit", "SHARE", H + 5 * MIN)]);
    assert_eq!(engine.stats().late.item_hot, 1);
    assert_eq!(engine.stats().fully_late, 0);
    let scores: Vec<(i64, Vec<(String, f64)>)> = drain(&mut engine)
        .into_iter()
        .filter_map(|o| match o {
            Output::HotItems(hot) => Some((
                hot.window_end,
                hot.items
                    .into_iter()
                    .map(|i| (i.item_id, i.score))
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    // "other" (t = H + 15 min + 29,999) is in the windows ending H+30, +45, +60, +75 min;
    // "hit" (a SHARE, 3 points) in those ending H+30, +45, +60 min, having missed H+15.
    let expected = vec![
        (
            H + 30 * MIN,
            vec![("hit".to_string(), 3.0), ("other".to_string(), 1.0)],
        ),
        (
            H + 45 * MIN,
            vec![("hit".to_string(), 3.0), ("other".to_string(), 1.0)],
        ),
        (
            H + 60 * MIN,
            vec![("hit".to_string(), 3.0), ("other".to_string(), 1.0)],
        ),
        (H + 75 * MIN, vec![("other".to_string(), 1.0)]),
    ];
    assert_eq!(scores, expected);
}

#[test]
fn malformed_events_are_dead_lettered_and_never_move_the_watermark() {
    let mut engine = engine();
    run(&mut engine, &[event("u", "i", "VIEW", H)]);
    let outputs = run(
        &mut engine,
        &[
            event("u", "i", "VIEW", H + 10 * HOUR).replace("VIEW", "view"),
            "{".to_string(),
        ],
    );
    assert_eq!(engine.watermark(), Some(H - 30_000));
    let reasons: Vec<String> = outputs
        .iter()
        .flatten()
        .map(|o| match o {
            Output::DeadLetter(letter) => letter.reason.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        vec![r#"unknown action_type "view""#, "invalid JSON at column 1"]
    );
    let stats = engine.stats();
    assert_eq!(
        (
            stats.events,
            stats.valid,
            stats.malformed,
            stats.dead_letters()
        ),
        (3, 1, 2, 2)
    );
}

#[test]
fn user_features_count_engagement_per_user_and_name_the_period() {
    let payloads = [
        event("alice", "a", "VIEW", H + 1),
        event("alice", "b", "VIEW", H + 2),
        event("alice", "a", "LIKE", H + 3),
        event("alice", "a", "CLICK", H + 4),
        event("bob", "a", "SHARE", H + HOUR - 1),
        event("carol", "a", "IMPRESSION", H + 5),
        event("alice", "a", "SHARE", H + HOUR),
    ];
    let output = oracle(&EngineConfig::default(), &payloads);
    let rows: Vec<(&str, i64, i64, u64, u64, u64, ActivePeriod)> = output
        .user_features
        .iter()
        .map(|r| {
            (
                r.user_id.as_str(),
                r.window_start,
                r.window_end,
                r.view,
                r.like,
                r.share,
                r.active_period,
            )
        })
        .collect();
    // H is 10:00 UTC: the morning; H + 1 h is 11:00, still the morning.
    assert_eq!(
        rows,
        vec![
            ("alice", H, H + HOUR, 2, 1, 0, ActivePeriod::Morning),
            (
                "alice",
                H + HOUR,
                H + 2 * HOUR,
                0,
                0,
                1,
                ActivePeriod::Morning
            ),
            ("bob", H, H + HOUR, 0, 0, 1, ActivePeriod::Morning),
        ],
        "carol has only an impression: no row"
    );
    let config = EngineConfig {
        active_period_utc_offset_minutes: 8 * 60,
        ..EngineConfig::default()
    };
    let output = oracle(&config, &payloads[..1]);
    assert_eq!(
        output.user_features[0].active_period,
        ActivePeriod::Evening,
        "10:00 UTC is 18:00 at +08:00"
    );
}

#[test]
fn hot_items_rank_by_score_then_item_and_keep_the_top_n() {
    let payloads = [
        event("u", "b", "VIEW", H),
        event("u", "b", "VIEW", H),
        event("u", "b", "VIEW", H),  // b: 3
        event("u", "a", "SHARE", H), // a: 3, ties with b, wins on item_id
        event("u", "c", "LIKE", H),
        event("u", "c", "LIKE", H),
        event("u", "c", "VIEW", H),  // c: 5
        event("u", "d", "LIKE", H),  // d: 2
        event("u", "e", "CLICK", H), // not scored
        event("u", "e", "IMPRESSION", H),
    ];
    let config = EngineConfig {
        hot_top_n: 3,
        ..EngineConfig::default()
    };
    let output = oracle(&config, &payloads);
    let first: Vec<(i64, u32, &str, f64)> = output
        .item_hot
        .iter()
        .filter(|r| r.window_end == H + 15 * MIN)
        .map(|r| (r.window_end, r.rank, r.item_id.as_str(), r.score))
        .collect();
    assert_eq!(
        first,
        vec![
            (H + 15 * MIN, 1, "c", 5.0),
            (H + 15 * MIN, 2, "a", 3.0),
            (H + 15 * MIN, 3, "b", 3.0)
        ]
    );
    // The event at H is in four windows (ending H+15 .. H+60 min), each ranked alike.
    assert_eq!(output.item_hot.len(), 12);
    assert_eq!(output.stats.windows_fired.item_hot, 4);
    let key = "hot:items:demo:vlog_feed";
    let Some(RedisValue::Zset(set)) = output.redis.get(key) else {
        panic!("no zset at {key}: {:?}", output.redis)
    };
    let members: Vec<(&str, f64)> = set.iter().map(|(m, s)| (m.as_str(), *s)).collect();
    assert_eq!(members, vec![("a", 3.0), ("b", 3.0), ("c", 5.0)]);
}

#[test]
fn hot_scores_decay_by_age_when_configured() {
    let config = EngineConfig {
        hot_half_life_ms: NonZeroU64::new(HOUR as u64),
        ..EngineConfig::default()
    };
    // A LIKE (2 points) at H: in the window ending H + 1 h its age is one
    // half-life (2 -> 1); in the one ending H + 15 min it is a quarter (2 · 2^-0.25).
    let output = oracle(&config, &[event("u", "i", "LIKE", H)]);
    let score = |end: i64| {
        output
            .item_hot
            .iter()
            .find(|r| r.window_end == end)
            .map(|r| r.score)
    };
    let close = |got: Option<f64>, want: f64| got.is_some_and(|g| (g - want).abs() < 1e-12);
    assert!(close(score(H + HOUR), 1.0), "{:?}", score(H + HOUR));
    assert!(
        close(score(H + 15 * MIN), 2.0 * 0.5f64.powf(0.25)),
        "{:?}",
        score(H + 15 * MIN)
    );
    assert!(
        close(score(H + 30 * MIN), 2.0 * 0.5f64.powf(0.5)),
        "{:?}",
        score(H + 30 * MIN)
    );
}

#[test]
fn metrics_follow_the_contract_including_empty_ratios() {
    let payloads = [
        event("u", "i", "IMPRESSION", H),
        event("u", "i", "IMPRESSION", H + 1),
        event("u", "i", "IMPRESSION", H + 2),
        event("u", "i", "IMPRESSION", H + 3),
        event("u", "i", "CLICK", H + 4),
        view("u", "i", H + 5, 29_999),
        view("u", "i", H + 6, 30_000),
        view("u", "i", H + 7, 60_001),
        event("u", "i", "VIEW", H + 8),   // no watch_duration_ms: 0
        event("u", "i", "LIKE", H + MIN), // next minute: no impressions, no views
    ];
    let output = oracle(&EngineConfig::default(), &payloads);
    let rows: Vec<_> = output
        .metrics
        .iter()
        .map(|m| {
            (
                m.window_start,
                m.impressions,
                m.clicks,
                m.ctr,
                m.avg_watch_s,
                m.completion_rate,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            // ctr 1/4; watch (29,999 + 30,000 + 60,001 + 0) / 4 views / 1000 = 30 s; 2 of 4 completed.
            (H, 4, 1, Some(0.25), Some(30.0), Some(0.5)),
            (H + MIN, 0, 0, None, None, None),
        ]
    );
    let line = output
        .metrics_jsonl()
        .unwrap()
        .lines()
        .nth(1)
        .map(str::to_string);
    assert_eq!(
        line.as_deref(),
        Some(
            r#"{"tenant_id":"demo","scenario_id":"vlog_feed","window_start":1730800860000,"window_end":1730800920000,"impressions":0,"clicks":0,"ctr":null,"avg_watch_s":null,"completion_rate":null}"#
        )
    );
}

#[test]
fn outputs_of_one_firing_come_in_a_fixed_order() {
    let payloads = [
        json!({"tenant_id": "t2", "scenario_id": "s", "user_id": "z", "item_id": "i", "action_type": "VIEW", "timestamp": H}).to_string(),
        json!({"tenant_id": "t1", "scenario_id": "s", "user_id": "y", "item_id": "i", "action_type": "VIEW", "timestamp": H}).to_string(),
        json!({"tenant_id": "t1", "scenario_id": "s", "user_id": "x", "item_id": "i", "action_type": "VIEW", "timestamp": H}).to_string(),
    ];
    let order = |payloads: &[String]| -> Vec<String> {
        let mut engine = engine();
        run(&mut engine, payloads);
        drain(&mut engine)
            .iter()
            .map(|o| match o {
                Output::Metrics(m) => format!("metrics {} {}", m.window_end - H, m.tenant_id),
                Output::UserFeatures(u) => format!("user {} {}", u.window_end - H, u.tenant_id),
                Output::HotItems(h) => format!("hot {} {}", h.window_end - H, h.tenant_id),
                Output::DeadLetter(d) => format!("dead {}", d.offset),
            })
            .collect()
    };
    let forward = order(&payloads);
    let mut expected = vec![
        "metrics 60000 t1".to_string(),
        "metrics 60000 t2".to_string(),
    ];
    expected.extend(
        [
            "hot 900000 t1",
            "hot 900000 t2",
            "hot 1800000 t1",
            "hot 1800000 t2",
            "hot 2700000 t1",
            "hot 2700000 t2",
        ]
        .map(String::from),
    );
    expected.extend(
        [
            "user 3600000 t1",
            "user 3600000 t1",
            "user 3600000 t2",
            "hot 3600000 t1",
            "hot 3600000 t2",
        ]
        .map(String::from),
    );
    assert_eq!(forward, expected);
    // The order within a window does not depend on arrival order either.
    let users = |payloads: &[String]| -> Vec<String> {
        let mut engine = engine();
        run(&mut engine, payloads);
        drain(&mut engine)
            .into_iter()
            .filter_map(|o| {
                if let Output::UserFeatures(u) = o {
                    Some(u.user_id)
                } else {
                    None
                }
            })
            .collect()
    };
    let reversed: Vec<String> = payloads.iter().rev().cloned().collect();
    assert_eq!(users(&payloads), users(&reversed));
}

#[test]
fn several_splits_take_the_slowest_watermark_and_an_empty_split_holds_it() {
    let mut engine = Engine::new(EngineConfig::default(), &[0, 1]);
    let mut out = Vec::new();
    engine.process(0, 0, event("u", "i", "CLICK", H).as_bytes(), &mut out);
    engine.process(
        0,
        1,
        event("u", "i", "CLICK", H + 10 * MIN).as_bytes(),
        &mut out,
    );
    assert_eq!(engine.watermark(), None, "split 1 has no event yet");
    assert!(out.is_empty());
    engine.process(
        1,
        0,
        event("u", "i", "CLICK", H + 2 * MIN).as_bytes(),
        &mut out,
    );
    assert_eq!(engine.watermark(), Some(H + 2 * MIN - 30_000));
    assert_eq!(metrics_windows(&out), vec![(H, H + MIN)]);
    // An event at H + 100 s is on time: split 1 holds the watermark at H + 90 s.
    out.clear();
    engine.process(
        0,
        2,
        event("u", "i", "CLICK", H + 100_000).as_bytes(),
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(engine.stats().late.metrics, 0);
    assert_eq!(
        engine
            .splits()
            .iter()
            .map(|s| (s.split, s.next_offset))
            .collect::<Vec<_>>(),
        vec![(0, Some(3)), (1, Some(1))]
    );
}

#[test]
fn after_a_drain_everything_is_late_and_nothing_fires_twice() {
    let mut engine = engine();
    run(&mut engine, &[event("u", "i", "VIEW", H)]);
    let drained = drain(&mut engine);
    assert_eq!(
        drained
            .iter()
            .filter(|o| matches!(o, Output::HotItems(_)))
            .count(),
        4
    );
    assert_eq!(engine.watermark(), Some(i64::MAX));
    assert!(
        drain(&mut engine).is_empty(),
        "a second drain fires nothing"
    );
    let outputs = run(&mut engine, &[event("u", "i", "VIEW", H + 5 * HOUR)]);
    assert!(
        matches!(outputs[0].as_slice(), [Output::DeadLetter(d)] if d.reason == DeadLetterReason::Late)
    );
}

#[test]
fn records_already_processed_are_skipped() {
    let mut engine = engine();
    let mut out = Vec::new();
    engine.process(0, 10, event("u", "i", "VIEW", H).as_bytes(), &mut out);
    engine.process(0, 10, event("u", "i", "VIEW", H).as_bytes(), &mut out);
    engine.process(0, 3, b"{", &mut out);
    engine.process(0, 11, event("u", "i", "VIEW", H).as_bytes(), &mut out);
    let stats = engine.stats();
    assert_eq!((stats.events, stats.duplicates, stats.malformed), (2, 2, 0));
    assert_eq!(engine.splits()[0].next_offset, Some(12));
    let views: u64 = drain(&mut engine)
        .iter()
        .filter_map(|o| {
            if let Output::UserFeatures(u) = o {
                Some(u.view)
            } else {
                None
            }
        })
        .sum();
    assert_eq!(views, 2);
}

#[test]
fn redis_writes_are_absolute_and_the_seed_key_merges_tenants() {
    let payloads = [
        json!({"tenant_id": "t1", "scenario_id": "s", "user_id": "u", "item_id": "i", "action_type": "VIEW", "timestamp": H}).to_string(),
        json!({"tenant_id": "t2", "scenario_id": "s", "user_id": "u", "item_id": "i", "action_type": "LIKE", "timestamp": H}).to_string(),
        json!({"tenant_id": "t1", "scenario_id": "s", "user_id": "u", "item_id": "i", "action_type": "SHARE", "timestamp": H - HOUR}).to_string(),
    ];
    let output = oracle(&EngineConfig::default(), &payloads);
    let hash = |state: &harness_pipeline::RedisState, key: &str| match state.get(key) {
        Some(RedisValue::Hash(fields)) => fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        other => format!("{other:?}"),
    };
    assert_eq!(
        hash(&output.redis, "user:profile:t1:s:u"),
        format!(
            "active_period=morning like=0 scenario_id=s share=0 tenant_id=t1 view=1 window_end={} window_start={H}",
            H + HOUR
        ),
        "the later window overwrote the earlier one completely"
    );
    assert_eq!(
        output.redis.len(),
        4,
        "two user hashes and two hot sets: {:?}",
        output.redis
    );
    let config = EngineConfig {
        key_templates: KeyTemplates::seed(),
        ..EngineConfig::default()
    };
    let merged = oracle(&config, &payloads);
    // Both tenants' windows end at H + 1 h; t2 is written after t1, so t2 wins.
    assert_eq!(
        hash(&merged.redis, "user:profile:u"),
        format!(
            "active_period=morning like=1 scenario_id=s share=0 tenant_id=t2 view=0 window_end={} window_start={H}",
            H + HOUR
        )
    );
    let write = config.redis_write(&Output::HotItems(harness_pipeline::HotItems {
        tenant_id: "t".into(),
        scenario_id: "s".into(),
        window_start: 0,
        window_end: HOUR,
        items: vec![],
    }));
    assert_eq!(
        write,
        Some(RedisWrite::ReplaceZset {
            key: "hot:items:t:s".into(),
            members: vec![],
            ttl_secs: 7200
        })
    );
}

#[test]
fn checkpoints_round_trip_and_refuse_what_they_cannot_restore() {
    let mut engine = engine();
    run(
        &mut engine,
        &[
            event("u", "i", "VIEW", H),
            view("v", "j", H + MIN, 40_000),
            "nope".to_string(),
        ],
    );
    let checkpoint = engine.snapshot();
    let bytes = checkpoint.to_json().unwrap();
    let read = Checkpoint::from_json(&bytes).unwrap();
    assert_eq!(read, checkpoint);
    assert_eq!(read.next_offset(0), Some(3));
    assert_eq!(read.next_offset(5), None);
    assert_eq!(read.stats().malformed, 1);
    let restored = Engine::restore(EngineConfig::default(), read.clone()).unwrap();
    assert_eq!(
        restored.snapshot().to_json().unwrap(),
        bytes,
        "restore then snapshot gives the same bytes"
    );

    let text = String::from_utf8(bytes.clone()).unwrap();
    let future = text.replacen("\"version\":1", "\"version\":99", 1);
    let err = Checkpoint::from_json(future.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "checkpoint format version 99 is not supported (this build reads version 1)"
    );
    assert!(matches!(
        Checkpoint::from_json(b"{}"),
        Err(RestoreError::Decode(_))
    ));
    let decayed = EngineConfig {
        hot_half_life_ms: NonZeroU64::new(1000),
        ..EngineConfig::default()
    };
    let err = Engine::restore(decayed, read).map(|_| ()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the checkpoint was taken with hot_half_life_ms None but the configuration says Some(1000)"
    );
    // Offsets that would replay the input on top of its own counts.
    for (forged, reason) in [
        (
            text.replacen("\"next_offset\":3", "\"next_offset\":-5", 1),
            "split 0 resumes at a negative offset",
        ),
        (
            text.replacen("\"next_offset\":3", "\"next_offset\":null", 1),
            "3 records were processed but no split says where to resume",
        ),
        // A window the stored watermark has already passed cannot be open.
        (
            text.replace(
                &format!("\"watermark\":{}", H + MIN - 30_000),
                &format!("\"watermark\":{}", H + 2 * HOUR),
            ),
            "",
        ),
    ] {
        assert_ne!(forged, text);
        let err = Engine::restore(
            EngineConfig::default(),
            Checkpoint::from_json(forged.as_bytes()).unwrap(),
        )
        .map(|_| ())
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("the checkpoint is inconsistent: {reason}")),
            "{message}"
        );
    }
}

#[test]
fn a_restore_with_a_lower_delay_fires_the_windows_the_watermark_passes() {
    // Taken with a 60 s delay: largest timestamp H + 40 s, watermark H - 20 s,
    // so the hot window ending at H (a 15-minute boundary) is still open.
    let slow = EngineConfig {
        watermark_delay_ms: 60_000,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(slow, &[0]);
    run(
        &mut engine,
        &[
            event("u", "a", "LIKE", H - 10 * MIN),
            event("u", "b", "LIKE", H + 40_000),
        ],
    );
    assert_eq!(engine.watermark(), Some(H - 20_000));
    let checkpoint = engine.snapshot();

    // Restored with no delay, the next event moves the watermark past H:
    // the window ending at H fires then, holding item a only.
    let mut restored = Engine::restore(
        EngineConfig {
            watermark_delay_ms: 0,
            ..EngineConfig::default()
        },
        checkpoint,
    )
    .unwrap();
    assert_eq!(restored.watermark(), Some(H - 20_000), "not moved yet");
    let fired: Vec<(i64, Vec<String>)> = run(&mut restored, &[event("u", "c", "LIKE", H + MIN)])
        .concat()
        .into_iter()
        .filter_map(|o| match o {
            Output::HotItems(top) => Some((
                top.window_end,
                top.items.iter().map(|item| item.item_id.clone()).collect(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(fired, [(H, vec!["a".to_string()])]);
    assert_eq!(restored.watermark(), Some(H + MIN));
}
