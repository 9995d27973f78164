//! Cluster time: virtual on the simulator, wall time elsewhere.
//!
//! Scenario timeouts and `sleep`s are durations of **cluster time**. On the
//! simulator at speed 100, `timeout: 5m` is 3 s of real waiting; on a real
//! cluster (speed 1) it is 5 minutes. The runner never sleeps on a scenario
//! duration directly: it converts through [`ClusterClock::to_real`] and judges
//! deadlines against [`ClusterClock::now`], so a scenario means the same
//! thing on every backend.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harness_sim::clock::{SimTime, VirtualClock};

/// The clock a backend runs on.
#[derive(Debug, Clone)]
pub enum ClusterClock {
    /// The simulator's virtual clock, or a local replica of a remote
    /// simulator's clock learned from `GET /sim/v1/clock`.
    Virtual(VirtualClock),
    /// Real time: a real cluster.
    Wall,
}

impl ClusterClock {
    /// Cluster time now, as milliseconds since the Unix epoch.
    pub fn now(&self) -> SimTime {
        match self {
            ClusterClock::Virtual(clock) => clock.now(),
            ClusterClock::Wall => {
                let since_epoch = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                SimTime(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
            }
        }
    }

    /// Cluster seconds per real second.
    pub fn speed(&self) -> f64 {
        match self {
            ClusterClock::Virtual(clock) => clock.speed(),
            ClusterClock::Wall => 1.0,
        }
    }

    /// Whether cluster time is virtual (it can run faster than real time).
    pub fn is_virtual(&self) -> bool {
        matches!(self, ClusterClock::Virtual(_))
    }

    /// The real duration a cluster duration takes.
    pub fn to_real(&self, cluster: Duration) -> Duration {
        match self {
            ClusterClock::Virtual(clock) => clock.to_real(cluster),
            ClusterClock::Wall => cluster,
        }
    }

    /// Sleeps for a duration of cluster time.
    pub async fn sleep(&self, cluster: Duration) {
        tokio::time::sleep(self.to_real(cluster)).await;
    }

    /// How often to poll the API while waiting: about once per cluster
    /// second, but never faster than every 20 ms nor slower than every
    /// second of real time.
    pub fn poll_interval(&self) -> Duration {
        self.to_real(Duration::from_secs(1))
            .clamp(Duration::from_millis(20), Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_divides_by_the_speed() {
        let clock = ClusterClock::Virtual(VirtualClock::starting_at(SimTime(0), 100.0));
        assert_eq!(
            clock.to_real(Duration::from_secs(300)),
            Duration::from_secs(3)
        );
        assert_eq!(clock.poll_interval(), Duration::from_millis(20));
        assert!(clock.is_virtual());
        assert_eq!(
            ClusterClock::Wall.to_real(Duration::from_secs(300)),
            Duration::from_secs(300)
        );
        assert_eq!(ClusterClock::Wall.poll_interval(), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn sleeping_takes_cluster_time() {
        let clock = ClusterClock::Virtual(VirtualClock::starting_at(SimTime(0), 1000.0));
        let before = clock.now();
        clock.sleep(Duration::from_secs(5)).await;
        assert!(clock.now().since(before) >= Duration::from_secs(5));
    }
}
