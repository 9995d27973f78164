//! `memory`: resident size of the engine's state with 1,000,000 distinct users
//! in open windows. Not a criterion bench (it measures bytes, not time): a
//! plain `main` that `cargo bench` runs like the others.
//!
//! One event per user (cycling VIEW, LIKE, SHARE, so each creates user-feature
//! state), one tenant and scenario, 5,000 items, timestamps spread over the
//! first 50 minutes of one hour: the watermark never reaches the end of that
//! hour, so every user's 1 h window is still open at the end (checked), while
//! 1-min metrics and 15-min hot-item windows fire as they would. Events are
//! written into one reused buffer, so the growth between the two `VmRSS`
//! readings is the engine's state plus allocator overhead, which is what a
//! deployment pays. Hash tables grow by doubling, so the per-user figure
//! depends a little on where 1,000,000 falls between two table sizes.

use std::{io::Write as _, process::ExitCode};

use harness_benches::{figures::Figures, rss::resident_bytes};
use harness_pipeline::{Engine, EngineConfig};

const USERS: u64 = 1_000_000;
const ITEMS: u64 = 5_000;
/// An hour boundary (epoch ms), so the users' windows all are `[HOUR, HOUR + 1 h)`.
const HOUR: i64 = 1_730_800_800_000;
/// Events are spread over the first 50 minutes of that hour.
const SPREAD_MS: i64 = 50 * 60_000;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("memory: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let config = EngineConfig::default();
    let mut engine = Engine::new(config, &[0]);
    let mut outputs = Vec::new();
    let mut payload = Vec::with_capacity(256);
    let reading =
        |when: &str| resident_bytes().map_err(|err| format!("cannot read VmRSS {when}: {err}"));

    let before = reading("before")?;
    for user in 0..USERS {
        event(&mut payload, user);
        engine.process(0, user as i64, &payload, &mut outputs);
        outputs.clear();
    }
    let after = reading("after")?;

    let stats = engine.stats();
    if stats.valid != USERS || stats.windows_fired.user_features != 0 {
        return Err(format!(
            "the workload is not what this bench measures: {} valid events (want {USERS}), \
             {} user windows fired (want 0)",
            stats.valid, stats.windows_fired.user_features
        ));
    }
    let grown = after.saturating_sub(before);
    let mut figures = Figures::new("memory");
    figures.set("users", USERS as f64, "users");
    figures.set("rss_before_bytes", before as f64, "bytes");
    figures.set("rss_after_bytes", after as f64, "bytes");
    figures.set("open_window_bytes", grown as f64, "bytes");
    figures.set("bytes_per_user", grown as f64 / USERS as f64, "bytes");
    println!(
        "memory: {USERS} distinct users in open windows: VmRSS {before} -> {after} bytes, \
         +{grown} bytes = {:.1} bytes per user",
        grown as f64 / USERS as f64
    );
    figures.write_and_report();
    // Keep the engine alive until after the second reading has been taken.
    drop(std::hint::black_box(engine));
    Ok(())
}

/// Writes the event of user number `user` (the `user`-th event) into `out`.
fn event(out: &mut Vec<u8>, user: u64) {
    const ACTIONS: [&str; 3] = ["VIEW", "LIKE", "SHARE"];
    let action = ACTIONS[(user % 3) as usize];
    let timestamp = HOUR + (user as i64) * SPREAD_MS / USERS as i64;
    out.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        r#"{{"tenant_id":"demo","scenario_id":"vlog_feed","user_id":"user_{user:07}","item_id":"video_{:05}","action_type":"{action}","timestamp":{timestamp}"#,
        user % ITEMS
    );
    if action == "VIEW" {
        let _ = write!(out, r#","watch_duration_ms":{}"#, 1_000 + user % 60_000);
    }
    out.push(b'}');
}
