//! The `kubeconfig` backend: an existing cluster (a staging cluster for a
//! rehearsal, a k3d cluster, or a simulator started by `harness sim serve`).
//!
//! It probes `GET /sim/v1/clock`: a simulator answers with its virtual time
//! and speed, and the runner then judges deadlines on a local replica of
//! that clock; any other answer means a real cluster on wall time.

use std::{path::PathBuf, time::Instant};

use harness_sim::clock::{SimTime, VirtualClock};
use kube::Client;

use super::{
    BackendConfig, BackendInfo, Capabilities, Capability, Cluster, ClusterClock, ClusterError,
    connect_kubeconfig,
};

/// The simulator's clock endpoint.
pub const CLOCK_PATH: &str = "/sim/v1/clock";

/// Connects to the cluster in `config.kubeconfig` (or `$KUBECONFIG`).
pub async fn connect(config: &BackendConfig) -> Result<Cluster, ClusterError> {
    let path = match &config.kubeconfig {
        Some(path) => path.clone(),
        None => std::env::var_os("KUBECONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .ok_or(ClusterError::NoKubeconfig)?,
    };
    // Absolute, because `exec` steps run in the scenario's directory.
    let path = std::path::absolute(&path).unwrap_or(path);
    let connection = connect_kubeconfig(&path).await?;
    let clock = probe_clock(&connection.client).await;
    let mut capabilities = Capabilities([Capability::HostExec].into());
    if clock.is_virtual() {
        capabilities.0.insert(Capability::VirtualTime);
    }
    Ok(Cluster {
        info: BackendInfo {
            backend: "kubeconfig",
            server: connection.server,
            kubernetes_version: connection.kubernetes_version,
            speed: clock.speed(),
            virtual_time: clock.is_virtual(),
            seed: None,
        },
        client: connection.client,
        kubeconfig: path,
        clock,
        capabilities,
        secrets: connection.secrets,
        job_tasks: None,
        _sim: None,
    })
}

/// Learns a simulator's clock, or falls back to wall time.
pub async fn probe_clock(client: &Client) -> ClusterClock {
    let Ok(request) = http::Request::get(CLOCK_PATH).body(Vec::new()) else {
        return ClusterClock::Wall;
    };
    let sent = Instant::now();
    let Ok(text) = client.request_text(request).await else {
        return ClusterClock::Wall;
    };
    let round_trip = sent.elapsed();
    parse_clock(&text, round_trip).map_or(ClusterClock::Wall, ClusterClock::Virtual)
}

/// Parses `{"nowMillis": ..., "speed": ...}`; half the round trip is added
/// to `nowMillis` so the replica is not behind by the response's travel time.
fn parse_clock(text: &str, round_trip: std::time::Duration) -> Option<VirtualClock> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let now = value.get("nowMillis")?.as_i64()?;
    let speed = value.get("speed")?.as_f64()?;
    if !harness_sim::clock::valid_speed(speed) {
        return None;
    }
    let in_flight = (round_trip.as_secs_f64() / 2.0 * speed * 1000.0) as i64;
    Some(VirtualClock::starting_at(SimTime(now + in_flight), speed))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn reads_the_simulator_clock() {
        let clock = parse_clock(
            r#"{"now":"2026-01-01T00:00:00Z","nowMillis":1000,"speed":100}"#,
            Duration::ZERO,
        )
        .expect("valid clock");
        assert_eq!(clock.speed(), 100.0);
        assert!(clock.now().0 >= 1000);
    }

    #[test]
    fn anything_else_means_wall_time() {
        for text in [
            "",
            "{}",
            "not json",
            r#"{"nowMillis":1,"speed":0}"#,
            r#"{"nowMillis":1,"speed":-3}"#,
            r#"{"kind":"Status","code":404}"#,
        ] {
            assert!(parse_clock(text, Duration::ZERO).is_none(), "{text}");
        }
    }
}
