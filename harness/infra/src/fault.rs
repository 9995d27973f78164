//! The faults a provider can apply to the service it runs, as one vocabulary
//! shared by Kafka and Redis so a scenario's `inject` step names them the same
//! way for both.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A fault applied to a running provider.
///
/// What each one means per provider:
///
/// | fault | local process | embedded Kafka (mock cluster) | containers |
/// |---|---|---|---|
/// | `stop` | SIGTERM, wait for exit (Redis flushes its AOF) | `broker_down`: connections cut and refused | `docker stop` |
/// | `start` | start again on the same port and data dir | `broker_up` | `docker start` |
/// | `restart` | `stop` then `start` | `broker_down` then `broker_up` | `stop` then `start` |
/// | `kill` | SIGKILL (Redis may lose up to ~1 s of acknowledged writes: `appendfsync everysec`) | same as `stop` (the mock has no process to kill) | `docker stop -t 0` |
///
/// External providers support none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// Graceful stop: the service becomes unreachable.
    Stop,
    /// Bring a stopped service back on the same endpoint.
    Start,
    /// Graceful stop followed by start; waits until the service is ready again.
    Restart,
    /// Abrupt termination (no flush); `start` brings it back.
    Kill,
}

impl Fault {
    /// Every fault, for listings and tests.
    pub const ALL: [Fault; 4] = [Fault::Stop, Fault::Start, Fault::Restart, Fault::Kill];

    /// The lowercase name used in scenarios and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Stop => "stop",
            Fault::Start => "start",
            Fault::Restart => "restart",
            Fault::Kill => "kill",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
