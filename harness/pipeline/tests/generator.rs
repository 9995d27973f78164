//! The generator: deterministic, realistic, and honest about what it made.

use std::collections::BTreeMap;

use harness_pipeline::{
    EngineConfig, GeneratedKind, Generator, GeneratorConfig, decode, generator::ActionMix,
    generator::MalformedKind, oracle,
};

fn take(config: GeneratorConfig, count: usize) -> Vec<harness_pipeline::GeneratedEvent> {
    Generator::new(config).unwrap().take(count).collect()
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let config = GeneratorConfig {
        malformed_ratio: 0.1,
        late_ratio: 0.1,
        ..GeneratorConfig::default()
    };
    let first = take(config.clone(), 2_000);
    assert_eq!(first, take(config.clone(), 2_000));
    assert_ne!(
        first,
        take(
            GeneratorConfig {
                seed: 1,
                ..config.clone()
            },
            2_000
        )
    );
    let mut generator = Generator::new(config).unwrap();
    let (mut payload, mut key) = (Vec::new(), String::new());
    for expected in &first[..100] {
        let kind = generator.next_into(&mut payload, &mut key);
        assert_eq!(
            (kind, payload.as_slice(), key.as_str()),
            (
                expected.kind,
                expected.payload.as_slice(),
                expected.key.as_str()
            )
        );
    }
}

#[test]
fn valid_events_decode_carry_their_key_and_follow_the_clock() {
    let config = GeneratorConfig {
        events_per_second: 100.0,
        jitter_ms: 2_000,
        ..GeneratorConfig::default()
    };
    let events = take(config.clone(), 10_000);
    for (idx, event) in events.iter().enumerate() {
        assert_eq!(event.kind, GeneratedKind::Valid);
        let decoded = decode(&event.payload).unwrap();
        assert_eq!(decoded.user_id, event.key.as_str());
        // Nominal time start + idx * 10 ms, emitted up to 2 s early.
        let nominal = config.start_ms + idx as i64 * 10;
        assert!(
            (nominal - 2_000..=nominal).contains(&decoded.timestamp),
            "event {idx} at {}",
            decoded.timestamp
        );
        assert_eq!(
            decoded.watch_duration_ms > 0,
            decoded.action_type == harness_pipeline::Action::View
        );
    }
}

#[test]
fn the_mix_is_realistic_and_popularity_is_skewed() {
    let events = take(GeneratorConfig::default(), 50_000);
    let mut actions: BTreeMap<String, usize> = BTreeMap::new();
    let mut users: BTreeMap<String, usize> = BTreeMap::new();
    let mut groups: BTreeMap<(String, String), usize> = BTreeMap::new();
    let (mut views, mut completed) = (0, 0);
    for event in &events {
        let decoded = decode(&event.payload).unwrap();
        *actions.entry(decoded.action_type.to_string()).or_default() += 1;
        *users.entry(decoded.user_id.to_string()).or_default() += 1;
        *groups
            .entry((
                decoded.tenant_id.to_string(),
                decoded.scenario_id.to_string(),
            ))
            .or_default() += 1;
        if decoded.action_type == harness_pipeline::Action::View {
            views += 1;
            completed += usize::from(decoded.watch_duration_ms >= 30_000);
        }
    }
    let share = |name: &str| actions.get(name).copied().unwrap_or(0) as f64 / events.len() as f64;
    // Default weights 70/16/8/4/2 out of 100.
    for (name, want) in [
        ("IMPRESSION", 0.70),
        ("VIEW", 0.16),
        ("CLICK", 0.08),
        ("LIKE", 0.04),
        ("SHARE", 0.02),
    ] {
        assert!(
            (share(name) - want).abs() < 0.01,
            "{name}: {} vs {want}",
            share(name)
        );
    }
    let completion = completed as f64 / views as f64;
    assert!(
        (completion - 0.3).abs() < 0.03,
        "completion rate {completion}"
    );
    assert_eq!(groups.len(), 4, "2 tenants x 2 scenarios: {groups:?}");
    assert!(groups.contains_key(&("demo".to_string(), "vlog_feed".to_string())));
    // Zipf with exponent 1 over 10,000 users: the top user has about 1/H(10000) ≈ 10% of events.
    let top = users.get("user_000001").copied().unwrap_or(0) as f64 / events.len() as f64;
    assert!((0.08..0.13).contains(&top), "top user share {top}");
}

#[test]
fn malformed_events_cover_every_kind_and_are_all_rejected() {
    let events = take(
        GeneratorConfig {
            malformed_ratio: 1.0,
            ..GeneratorConfig::default()
        },
        2_000,
    );
    let mut kinds = BTreeMap::new();
    for event in &events {
        let GeneratedKind::Malformed(kind) = event.kind else {
            panic!("{:?}", event.kind)
        };
        let reason = decode(&event.payload).map(|_| ()).unwrap_err().to_string();
        kinds.entry(format!("{kind:?}")).or_insert(reason);
    }
    assert_eq!(kinds.len(), MalformedKind::ALL.len(), "{kinds:?}");
    assert_eq!(
        kinds
            .get("UnknownAction")
            .map(|r| r.starts_with("unknown action_type")),
        Some(true)
    );
    assert_eq!(
        kinds.get("NotAnObject").map(String::as_str),
        Some("expected a JSON object")
    );
}

#[test]
fn without_late_events_nothing_is_late_and_with_them_exactly_those_are() {
    let clean = take(
        GeneratorConfig {
            malformed_ratio: 0.05,
            events_per_second: 20.0,
            ..GeneratorConfig::default()
        },
        30_000,
    );
    let run = oracle(&EngineConfig::default(), clean.iter().map(|e| &e.payload));
    assert_eq!(
        (run.stats.late, run.stats.fully_late),
        (Default::default(), 0)
    );
    let malformed = clean
        .iter()
        .filter(|e| matches!(e.kind, GeneratedKind::Malformed(_)))
        .count() as u64;
    assert_eq!(run.stats.malformed, malformed);

    let late = take(
        GeneratorConfig {
            late_ratio: 0.05,
            events_per_second: 20.0,
            ..GeneratorConfig::default()
        },
        30_000,
    );
    let run = oracle(&EngineConfig::default(), late.iter().map(|e| &e.payload));
    let made = late
        .iter()
        .filter(|e| e.kind == GeneratedKind::Late)
        .count() as u64;
    assert!(made > 1_000, "{made}");
    assert_eq!(run.stats.fully_late, made);
}

#[test]
fn late_events_are_placed_where_the_documented_guarantee_needs_them() {
    // Every late event's timestamp t satisfies t + 1 h + delay <= M, the largest
    // valid timestamp generated before it: the premise of the guarantee.
    let delay = 45_000;
    let config = GeneratorConfig {
        late_ratio: 0.1,
        watermark_delay_ms: delay,
        events_per_second: 50.0,
        ..GeneratorConfig::default()
    };
    let mut max: Option<i64> = None;
    let mut late = 0;
    for event in take(config, 50_000) {
        let Ok(decoded) = decode(&event.payload) else {
            continue;
        };
        if event.kind == GeneratedKind::Late {
            late += 1;
            let latest_allowed = max.map(|m| m - 3_600_000 - delay as i64);
            assert!(
                latest_allowed.is_some_and(|allowed| decoded.timestamp <= allowed),
                "{} vs {latest_allowed:?}",
                decoded.timestamp
            );
        }
        max = Some(max.map_or(decoded.timestamp, |m| m.max(decoded.timestamp)));
    }
    assert!(late > 3_000, "{late}");
}

#[test]
fn bad_settings_are_refused_with_a_reason() {
    let bad = |config: GeneratorConfig| Generator::new(config).map(|_| ()).unwrap_err().to_string();
    assert_eq!(
        bad(GeneratorConfig {
            users: 0,
            ..GeneratorConfig::default()
        }),
        "invalid generator setting users: must be between 1 and 10000000"
    );
    assert_eq!(
        bad(GeneratorConfig {
            malformed_ratio: 0.6,
            late_ratio: 0.6,
            ..GeneratorConfig::default()
        }),
        "invalid generator setting late_ratio: plus malformed_ratio must not exceed 1"
    );
    assert_eq!(
        bad(GeneratorConfig {
            events_per_second: 0.0,
            ..GeneratorConfig::default()
        }),
        "invalid generator setting events_per_second: must be a finite number > 0"
    );
    let silent = ActionMix {
        impression: 0,
        view: 0,
        click: 0,
        like: 0,
        share: 0,
    };
    assert_eq!(
        bad(GeneratorConfig {
            action_mix: silent,
            ..GeneratorConfig::default()
        }),
        "invalid generator setting action_mix: needs at least one non-zero weight"
    );
    assert_eq!(
        bad(GeneratorConfig {
            user_zipf_exponent: f64::NAN,
            ..GeneratorConfig::default()
        }),
        "invalid generator setting user_zipf_exponent: must be a finite number >= 0"
    );
    assert_eq!(
        bad(GeneratorConfig {
            start_ms: -1,
            ..GeneratorConfig::default()
        }),
        "invalid generator setting start_ms: must be between 0 and 253402300799999"
    );
}

#[test]
fn the_configuration_reads_from_json_with_defaults() {
    let config: GeneratorConfig = serde_json::from_str(r#"{"seed": 7, "users": 100, "action_mix": {"impression": 1, "view": 1, "click": 0, "like": 0, "share": 0}}"#).unwrap();
    assert_eq!(
        (config.seed, config.users, config.items),
        (7, 100, GeneratorConfig::default().items)
    );
    assert!(
        serde_json::from_str::<GeneratorConfig>(r#"{"usres": 100}"#).is_err(),
        "typos are errors"
    );
}

#[test]
fn a_large_run_generates_decodes_and_aggregates_correctly() {
    // A sanity check of the benchmark path (generate, decode alone, process),
    // for correctness only: the speed is measured by the criterion benches.
    let events: Vec<Vec<u8>> = Generator::new(GeneratorConfig::default())
        .unwrap()
        .take(100_000)
        .map(|e| e.payload)
        .collect();
    assert!(events.iter().all(|payload| decode(payload).is_ok()));
    let run = oracle(&EngineConfig::default(), &events);
    assert_eq!((run.stats.events, run.stats.valid), (100_000, 100_000));
    let impressions: u64 = run.metrics.iter().map(|m| m.impressions).sum();
    let expected = events
        .iter()
        .filter(|p| decode(p).is_ok_and(|e| e.action_type == harness_pipeline::Action::Impression))
        .count() as u64;
    assert_eq!(impressions, expected);
}
