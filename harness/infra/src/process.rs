//! Supervision of provider processes (`redis-server`, a local Kafka broker):
//! spawn with output to a log file, start-and-wait-ready, graceful stop
//! (SIGTERM, then SIGKILL after a grace period), kill, the [`Fault`]s mapped
//! onto those, and kill-and-reap on drop so no process outlives its handle.
//!
//! Children run in their own process group so that Ctrl-C in a terminal
//! reaches only the harness, which then stops them in order. A harness that is
//! itself SIGKILLed cannot clean up: its children are left running (Linux's
//! parent-death signal needs `unsafe`, which the workspace forbids).

use std::{
    ffi::OsString,
    fs::OpenOptions,
    net::{Ipv4Addr, TcpListener},
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rustix::process::{Pid, Signal, kill_process};

use crate::{Error, Fault, Result};

/// How often a stopping process is checked for exit.
const EXIT_POLL: Duration = Duration::from_millis(10);

/// How long a provider's process may take to become ready, and to exit after
/// SIGTERM before it is killed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patience {
    /// From spawn until the readiness probe first succeeds.
    pub(crate) ready: Duration,
    /// From SIGTERM until SIGKILL.
    pub(crate) stop_grace: Duration,
}

/// A provider process that can be stopped and started again with the same
/// command line (same port, same data directory).
#[derive(Debug)]
pub(crate) struct Supervised {
    /// Provider name used in errors and logs, e.g. `redis-server`.
    what: String,
    /// The executable.
    program: PathBuf,
    /// Its arguments; identical for every (re)start.
    args: Vec<OsString>,
    /// The working directory (so a broker's `.env` lookup stays inside it);
    /// stdout and stderr of every run are appended to `<dir>/<what>.log`.
    dir: PathBuf,
    /// `<dir>/<what>.log`.
    log_path: PathBuf,
    /// The running child, if any. Dropping `Supervised` kills and reaps it.
    child: Option<Child>,
}

impl Supervised {
    /// Prepares (does not start) a process.
    pub(crate) fn new(what: &str, program: PathBuf, args: Vec<OsString>, dir: &Path) -> Self {
        let log_path = dir.join(format!("{what}.log"));
        Supervised {
            what: what.to_owned(),
            program,
            args,
            dir: dir.to_owned(),
            log_path,
            child: None,
        }
    }

    /// Starts the process; a no-op when it is already running.
    pub(crate) fn spawn(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let spawn_failed = |source| Error::SpawnFailed {
            what: self.what.clone(),
            program: self.program.clone(),
            source,
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(spawn_failed)?;
        let log_err = log.try_clone().map_err(spawn_failed)?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .map_err(spawn_failed)?;
        tracing::debug!(what = %self.what, pid = child.id(), "spawned");
        self.child = Some(child);
        Ok(())
    }

    /// Starts the process unless it is running, then polls `probe` until it
    /// succeeds or `timeout` passes; an exit meanwhile fails at once with the
    /// log's tail.
    async fn start_ready<P, Fut, E>(&mut self, timeout: Duration, probe: P) -> Result<()>
    where
        P: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: std::fmt::Display,
    {
        if self.is_running() {
            return Ok(());
        }
        self.spawn()?;
        let what = self.what.clone();
        poll_ready(&what, timeout, || self.check_alive(), probe).await
    }

    /// Applies a process fault: `stop` terminates within the grace period,
    /// `kill` kills, and `start` and `restart` wait until `probe` succeeds.
    pub(crate) async fn apply<P, Fut, E>(
        &mut self,
        fault: Fault,
        patience: Patience,
        probe: P,
    ) -> Result<()>
    where
        P: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: std::fmt::Display,
    {
        match fault {
            Fault::Stop => self.terminate(patience.stop_grace).await,
            Fault::Kill => self.kill(),
            Fault::Start => self.start_ready(patience.ready, probe).await,
            Fault::Restart => {
                self.terminate(patience.stop_grace).await?;
                self.start_ready(patience.ready, probe).await
            }
        }
    }

    /// The OS process id while running.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether a child is running (as far as we know without reaping it).
    pub(crate) fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Fails with [`Error::ExitedEarly`] (including the log's tail) when the
    /// child has exited; used while waiting for readiness.
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Err(Error::NotReady {
                what: self.what.clone(),
                timeout: Duration::ZERO,
                last_error: "the process is not running".into(),
            });
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(Error::ExitedEarly {
                    what: self.what.clone(),
                    status,
                    log: self.log_tail(20),
                })
            }
            Err(source) => Err(Error::SignalFailed {
                what: self.what.clone(),
                source,
            }),
        }
    }

    /// Graceful stop: SIGTERM, then SIGKILL if the process has not exited
    /// within `grace`. Returns once the process is reaped.
    pub(crate) async fn terminate(&mut self, grace: Duration) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        let signal_failed = |source: std::io::Error| Error::SignalFailed {
            what: self.what.clone(),
            source,
        };
        // The child may already have exited (ESRCH); the wait below reaps it.
        let _ = kill_process(Pid::from_child(child), Signal::TERM);
        let deadline = Instant::now() + grace;
        loop {
            match child.try_wait().map_err(signal_failed)? {
                Some(_) => break,
                None if Instant::now() >= deadline => {
                    tracing::warn!(what = %self.what, ?grace, "did not exit after SIGTERM, killing it");
                    child.kill().map_err(signal_failed)?;
                    child.wait().map_err(signal_failed)?;
                    break;
                }
                None => tokio::time::sleep(EXIT_POLL).await,
            }
        }
        self.child = None;
        Ok(())
    }

    /// Abrupt stop: SIGKILL and reap.
    pub(crate) fn kill(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let signal_failed = |source| Error::SignalFailed {
            what: self.what.clone(),
            source,
        };
        child.kill().map_err(signal_failed)?;
        child.wait().map_err(signal_failed)?;
        Ok(())
    }

    /// The last `n` lines of the process's log, for error messages.
    pub(crate) fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL rather than SIGTERM: Drop cannot wait out a grace period,
            // and the data of a dropped provider is thrown away with its dir.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Finds `program` in the directories of `PATH` (an executable regular file).
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Reserves a free loopback port by binding port 0 and releasing it.
///
/// Another process could take the port between this call and the provider's
/// bind; providers detect that as an early exit and the error says so.
pub(crate) fn free_port() -> Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| Error::PrepareFailed {
            what: "a loopback port",
            source,
        })
}

/// Polls `probe` until it succeeds or `timeout` passes, checking with `alive`
/// before each attempt that the process under test has not died (so a crash
/// fails at once with its log instead of after the whole timeout).
pub(crate) async fn poll_ready<P, Fut, E>(
    what: &str,
    timeout: Duration,
    mut alive: impl FnMut() -> Result<()>,
    mut probe: P,
) -> Result<()>
where
    P: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<(), E>>,
    E: std::fmt::Display,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        alive()?;
        let last_error = match probe().await {
            Ok(()) => return Ok(()),
            Err(err) => err.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                what: what.to_owned(),
                timeout,
                last_error,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_finds_sh_and_not_a_made_up_name() {
        assert!(which("sh").is_some());
        assert!(which("surely-not-a-real-program-4242").is_none());
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port().expect("port");
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the reserved port is free again");
    }

    #[tokio::test]
    async fn terminate_stops_a_process_and_drop_reaps_another() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sleeper = Supervised::new("sleep", "sleep".into(), vec!["30".into()], dir.path());
        sleeper.spawn().expect("spawn");
        let pid = sleeper.pid().expect("pid");
        sleeper.check_alive().expect("running");
        sleeper
            .terminate(Duration::from_secs(5))
            .await
            .expect("terminate");
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} still exists"
        );

        let mut dropped = Supervised::new("sleep2", "sleep".into(), vec!["30".into()], dir.path());
        dropped.spawn().expect("spawn");
        let pid = dropped.pid().expect("pid");
        drop(dropped);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} leaked"
        );
    }

    #[tokio::test]
    async fn faults_stop_start_and_restart_the_same_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sleeper = Supervised::new("sleep", "sleep".into(), vec!["30".into()], dir.path());
        let patience = Patience {
            ready: Duration::from_secs(5),
            stop_grace: Duration::from_secs(5),
        };
        let probes = std::cell::Cell::new(0);
        let probe = || {
            probes.set(probes.get() + 1);
            async { Ok::<(), String>(()) }
        };
        sleeper
            .apply(Fault::Start, patience, probe)
            .await
            .expect("start");
        let first = sleeper.pid().expect("started");
        sleeper
            .apply(Fault::Restart, patience, probe)
            .await
            .expect("restart");
        let second = sleeper.pid().expect("restarted");
        assert_ne!(first, second);
        assert!(!Path::new(&format!("/proc/{first}")).exists());
        assert_eq!(probes.get(), 2, "start and restart each wait for the probe");
        sleeper
            .apply(Fault::Stop, patience, probe)
            .await
            .expect("stop");
        assert_eq!(sleeper.pid(), None);
        assert!(!Path::new(&format!("/proc/{second}")).exists());
        assert_eq!(probes.get(), 2, "a stop does not probe");
    }

    #[tokio::test]
    async fn an_early_exit_reports_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut failing = Supervised::new(
            "failing",
            "sh".into(),
            vec!["-c".into(), "echo boom-from-child; exit 3".into()],
            dir.path(),
        );
        failing.spawn().expect("spawn");
        let res = poll_ready(
            "failing",
            Duration::from_secs(5),
            || failing.check_alive(),
            || async { Err::<(), _>("never ready") },
        )
        .await;
        match res {
            Err(Error::ExitedEarly { log, status, .. }) => {
                assert!(log.contains("boom-from-child"), "log: {log}");
                assert_eq!(status.code(), Some(3));
            }
            other => panic!("expected ExitedEarly, got {other:?}"),
        }
    }
}
