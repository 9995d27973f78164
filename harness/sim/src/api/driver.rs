//! The driver task: steps the cluster's controllers after every write and
//! whenever the earliest timer a controller asked for comes due.
//!
//! This is the only place controllers run while the simulator is served. It
//! sleeps in real time for `clock.real_until(next_wake_up)`, so at speed 60 a
//! controller waiting one virtual minute is stepped after one real second.
//! A controller that panics stops the driver and puts the server into a
//! failed state (every request then gets a 500 naming the panic), rather
//! than leaving a cluster that answers but no longer reconciles.

use std::{
    panic::{self, AssertUnwindSafe},
    sync::Arc,
    time::Duration,
};

use tokio::sync::watch;

use super::state::{Shared, panic_message};

/// How long to sleep when no controller asked for a wake-up; writes still
/// wake the driver at once.
const IDLE: Duration = Duration::from_secs(3600);
/// The shortest sleep, so a controller that keeps asking for a time in the
/// past cannot starve the runtime.
const MIN_SLEEP: Duration = Duration::from_millis(1);

/// Runs until `shutdown` flips.
pub(crate) async fn drive(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let stepped = shared.with_cluster(|cluster, now| {
            panic::catch_unwind(AssertUnwindSafe(|| cluster.step(now)))
        });
        let wake_at = match stepped {
            Ok(wake_at) => wake_at,
            Err(payload) => {
                return shared.controllers_stopped(format!(
                    "the simulator's controllers stopped: {}",
                    panic_message(payload.as_ref())
                ));
            }
        };
        let sleep = wake_at
            .map_or(IDLE, |at| shared.clock.real_until(at))
            .max(MIN_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = shared.driver_woken() => {}
            _ = shutdown.changed() => return,
        }
    }
}
