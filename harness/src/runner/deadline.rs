//! Deadlines and polling.
//!
//! A [`Deadline`] is measured on the cluster's clock (or on real time for
//! `exec`) and knows how to say that it expired: which timeout, its length,
//! and what it cost in real time (`assert timed out after 5m (cluster time;
//! 3.00s real)`). [`until`] polls a check until it holds; [`throughout`]
//! polls it for a whole window and fails at the first miss.

use std::time::{Duration, Instant};

use harness_sim::clock::SimTime;

use super::report::{ExpiredDeadline, Failure};
use crate::{
    cluster::ClusterClock,
    scenario::{TimeoutKind, duration::format_measured, duration::format_spec},
};

/// A point in cluster (or real) time by which something must happen.
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    kind: Option<TimeoutKind>,
    timeout: Duration,
    real_time: bool,
    clock: ClusterClock,
    start_cluster: SimTime,
    start_real: Instant,
}

/// The result of one evaluation of a condition.
pub(crate) enum Check<T> {
    /// It holds.
    Done(T),
    /// Not yet: a summary and diff of the current state, shown if time runs out.
    Pending { summary: String, diff: Vec<String> },
    /// It can never hold (e.g. a write was rejected): stop now.
    Fatal(Failure),
}

impl<T> Check<T> {
    /// Not yet, with a summary and no diff.
    pub(crate) fn pending(summary: impl Into<String>) -> Check<T> {
        Check::Pending {
            summary: summary.into(),
            diff: Vec::new(),
        }
    }
}

impl Deadline {
    /// A deadline of `timeout` from now for a verb of `kind`.
    pub(crate) fn new(kind: TimeoutKind, timeout: Duration, clock: &ClusterClock) -> Deadline {
        Deadline::starting(Some(kind), timeout, kind.is_real_time(), clock)
    }

    /// A `consistently` window of `window` cluster time from now.
    pub(crate) fn window(window: Duration, clock: &ClusterClock) -> Deadline {
        Deadline::starting(None, window, false, clock)
    }

    fn starting(
        kind: Option<TimeoutKind>,
        timeout: Duration,
        real_time: bool,
        clock: &ClusterClock,
    ) -> Deadline {
        Deadline {
            kind,
            timeout,
            real_time,
            clock: clock.clone(),
            start_cluster: clock.now(),
            start_real: Instant::now(),
        }
    }

    /// The configured length.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Time passed since the start, on this deadline's clock.
    pub(crate) fn elapsed(&self) -> Duration {
        if self.real_time {
            self.start_real.elapsed()
        } else {
            self.clock.now().since(self.start_cluster)
        }
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        self.elapsed() >= self.timeout
    }

    /// Real time left, for bounding a single wait.
    pub(crate) fn remaining_real(&self) -> Duration {
        let left = self.timeout.saturating_sub(self.elapsed());
        if self.real_time {
            left
        } else {
            self.clock.to_real(left)
        }
    }

    /// `5m (cluster time; 3.00s real)` or `1m (real time)`.
    pub(crate) fn describe(&self) -> String {
        if self.real_time {
            format!("{} (real time)", format_spec(self.timeout))
        } else {
            format!(
                "{} (cluster time; {} real)",
                format_spec(self.timeout),
                format_measured(self.start_real.elapsed())
            )
        }
    }

    /// The report record of this deadline having expired.
    pub(crate) fn expired_record(&self) -> ExpiredDeadline {
        ExpiredDeadline {
            kind: self.kind,
            timeout: format_spec(self.timeout),
            timeout_ms: self.timeout.as_millis() as u64,
            clock: if self.real_time { "real" } else { "cluster" },
            real_ms: self.start_real.elapsed().as_millis() as u64,
        }
    }

    /// `<what> timed out after <describe>`, with the last state seen.
    pub(crate) fn timed_out(&self, what: &str, summary: &str, diff: Vec<String>) -> Failure {
        let mut message = format!("{what} timed out after {}", self.describe());
        if !summary.is_empty() {
            message.push_str(": ");
            message.push_str(summary);
        }
        Failure {
            message,
            deadline: Some(Box::new(self.expired_record())),
            diff,
            output: None,
        }
    }

    /// Sleeps one poll interval, but not past the deadline.
    async fn pause(&self) {
        tokio::time::sleep(
            self.clock
                .poll_interval()
                .min(self.remaining_real())
                .max(Duration::from_millis(1)),
        )
        .await;
    }
}

/// Polls `check` until it is done, fails fatally, or `deadline` expires.
/// The check always runs at least once, even with a zero timeout.
pub(crate) async fn until<T>(
    deadline: &Deadline,
    what: &str,
    mut check: impl AsyncFnMut() -> Check<T>,
) -> Result<T, Failure> {
    loop {
        match check().await {
            Check::Done(value) => return Ok(value),
            Check::Fatal(failure) => return Err(failure),
            Check::Pending { summary, diff } => {
                if deadline.expired() {
                    return Err(deadline.timed_out(what, &summary, diff));
                }
            }
        }
        deadline.pause().await;
    }
}

/// Polls `check` for the whole `window`; the first miss fails, naming how far
/// into the window it happened.
pub(crate) async fn throughout(
    window: &Deadline,
    what: &str,
    mut check: impl AsyncFnMut() -> Check<()>,
) -> Result<(), Failure> {
    loop {
        match check().await {
            Check::Fatal(failure) => return Err(failure),
            Check::Pending { summary, diff } => {
                let message = format!(
                    "{what} stopped holding after {} of its {} window (cluster time; {} real){}{}",
                    format_spec(window.elapsed()),
                    format_spec(window.timeout()),
                    format_measured(window.start_real.elapsed()),
                    if summary.is_empty() { "" } else { ": " },
                    summary
                );
                return Err(Failure {
                    message,
                    deadline: None,
                    diff,
                    output: None,
                });
            }
            Check::Done(()) => {
                if window.expired() {
                    return Ok(());
                }
            }
        }
        window.pause().await;
    }
}

#[cfg(test)]
mod tests {
    use harness_sim::clock::VirtualClock;

    use super::*;

    fn fast_clock() -> ClusterClock {
        ClusterClock::Virtual(VirtualClock::starting_at(SimTime(0), 1000.0))
    }

    #[tokio::test]
    async fn until_names_the_deadline_that_expired() {
        let deadline = Deadline::new(TimeoutKind::Assert, Duration::from_secs(5), &fast_clock());
        let mut polls = 0;
        let result: Result<(), Failure> = until(&deadline, "assert", async || {
            polls += 1;
            Check::Pending {
                summary: "not yet".into(),
                diff: vec!["a: expected 1, got 2".into()],
            }
        })
        .await;
        let failure = result.expect_err("never holds");
        assert!(
            failure
                .message
                .starts_with("assert timed out after 5s (cluster time; "),
            "{}",
            failure.message
        );
        assert!(
            failure.message.ends_with(" real): not yet"),
            "{}",
            failure.message
        );
        assert_eq!(failure.diff, vec!["a: expected 1, got 2".to_owned()]);
        let record = failure.deadline.expect("deadline recorded");
        assert_eq!(
            (record.kind, record.timeout.as_str(), record.clock),
            (Some(TimeoutKind::Assert), "5s", "cluster")
        );
        assert!(polls > 1);
    }

    #[test]
    fn exec_deadlines_are_real_time() {
        let deadline = Deadline::new(TimeoutKind::Exec, Duration::from_secs(60), &fast_clock());
        assert_eq!(deadline.describe(), "1m (real time)");
        assert_eq!(deadline.expired_record().clock, "real");
        // A minute of real time is far more than a minute of this clock's time.
        assert!(deadline.remaining_real() > Duration::from_secs(59));
    }

    #[tokio::test]
    async fn until_returns_once_the_check_holds() {
        let deadline = Deadline::new(TimeoutKind::Wait, Duration::from_secs(60), &fast_clock());
        let mut polls = 0;
        let result = until(&deadline, "wait", async || {
            polls += 1;
            if polls == 3 {
                Check::Done(polls)
            } else {
                Check::pending("")
            }
        })
        .await;
        assert_eq!(result.ok(), Some(3));
    }

    #[tokio::test]
    async fn a_zero_timeout_still_checks_once() {
        let deadline = Deadline::new(TimeoutKind::Assert, Duration::ZERO, &fast_clock());
        assert_eq!(
            until(&deadline, "assert", async || Check::Done(7))
                .await
                .ok(),
            Some(7)
        );
    }

    #[tokio::test]
    async fn throughout_fails_at_the_first_miss_and_passes_a_clean_window() {
        let window = Deadline::window(Duration::from_secs(300), &fast_clock());
        let mut polls = 0;
        let failure = throughout(&window, "assert", async || {
            polls += 1;
            if polls < 3 {
                Check::Done(())
            } else {
                Check::pending("changed")
            }
        })
        .await
        .expect_err("stops holding");
        assert!(
            failure.message.starts_with("assert stopped holding after "),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains("of its 5m window"),
            "{}",
            failure.message
        );

        let window = Deadline::window(Duration::from_secs(2), &fast_clock());
        let started = window.clock.now();
        throughout(&window, "assert", async || Check::Done(()))
            .await
            .expect("holds");
        assert!(window.clock.now().since(started) >= Duration::from_secs(2));
    }
}
