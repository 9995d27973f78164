//! Signalling a `harness` child process and waiting for it to exit, shared
//! by the tests that check a foreground command stops cleanly on SIGINT or
//! SIGTERM. `std::process::Child` has no timed wait, hence the short poll.

use std::{
    process::{Child, Command, ExitStatus},
    time::{Duration, Instant},
};

/// Sends `signal` (as `kill` spells it: `-INT`, `-TERM`) to `child` and
/// waits up to `within` for it to exit; panics naming `what` if it does not.
pub(crate) fn signal_and_wait(
    child: &mut Child,
    signal: &str,
    within: Duration,
    what: &str,
) -> ExitStatus {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {} failed", child.id());
    let deadline = Instant::now() + within;
    loop {
        if let Some(exit) = child.try_wait().expect("wait for the child") {
            return exit;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not stop within {within:?} of {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
