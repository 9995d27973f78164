//! The `local` Redis provider: `redis-server` from PATH on a free loopback
//! port, with its data (append-only file) in a temporary directory that lives
//! as long as the handle, so `restart` brings back the same data on the same
//! port.
//!
//! Durability as configured here: `appendonly yes`, `appendfsync everysec`, no
//! RDB snapshots. A graceful stop (SIGTERM) flushes the AOF, so `restart`
//! loses nothing; `kill` (SIGKILL) can lose up to about a second of
//! acknowledged writes, as a real server with this setting would.

use std::{ffi::OsString, path::Path, time::Duration};

use tempfile::TempDir;

use crate::{
    Error, Fault, Result,
    process::{Supervised, free_port, poll_ready, which},
};

/// The program looked up on PATH.
pub const PROGRAM: &str = "redis-server";

/// What to do when it is missing.
pub const INSTALL_HINT: &str = "`cargo xtask setup` installs Debian's redis-server";

/// How long a start (including loading the AOF) may take.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long redis-server gets to flush and exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How many fresh ports to try when the first start loses a port race.
const START_ATTEMPTS: usize = 3;

/// A redis-server process and its data directory.
#[derive(Debug)]
pub(crate) struct LocalRedis {
    /// The process; same port and dir on every start.
    process: Supervised,
    /// `redis://127.0.0.1:<port>/`.
    url: String,
    /// Data dir (AOF) and log; removed on drop, after the process is gone
    /// (fields drop in declaration order).
    dir: TempDir,
}

impl LocalRedis {
    /// Starts redis-server (`binary`, or `redis-server` from PATH) and waits
    /// until it answers PING.
    pub(crate) async fn start(binary: Option<&Path>) -> Result<Self> {
        let program = match binary {
            Some(path) => path.to_owned(),
            None => which(PROGRAM).ok_or_else(|| Error::BinaryNotFound {
                program: PROGRAM.into(),
                hint: INSTALL_HINT.into(),
            })?,
        };
        let mut attempt = 1;
        loop {
            let dir = tempfile::Builder::new()
                .prefix("harness-redis-")
                .tempdir()
                .map_err(|source| Error::PrepareFailed {
                    what: "a temporary directory",
                    source,
                })?;
            let port = free_port()?;
            let mut redis = LocalRedis {
                process: Supervised::new(
                    PROGRAM,
                    program.clone(),
                    args(port, dir.path()),
                    dir.path(),
                ),
                url: format!("redis://127.0.0.1:{port}/"),
                dir,
            };
            match redis.start_process().await {
                // Another process took the port between reservation and bind.
                Err(Error::ExitedEarly { log, .. })
                    if attempt < START_ATTEMPTS && log.contains("Address already in use") =>
                {
                    tracing::debug!(port, "redis-server lost a port race, retrying");
                    attempt += 1;
                }
                res => return res.map(|()| redis),
            }
        }
    }

    /// `redis://127.0.0.1:<port>/`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// The data directory.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Applies a process fault; `start` and `restart` wait for PING.
    pub(crate) async fn apply(&mut self, fault: Fault) -> Result<()> {
        match fault {
            Fault::Stop => self.process.terminate(STOP_GRACE).await,
            Fault::Kill => self.process.kill(),
            Fault::Start => self.start_process().await,
            Fault::Restart => {
                self.process.terminate(STOP_GRACE).await?;
                self.start_process().await
            }
        }
    }

    async fn start_process(&mut self) -> Result<()> {
        if self.process.is_running() {
            return Ok(());
        }
        self.process.spawn()?;
        let url = self.url.clone();
        let process = &mut self.process;
        poll_ready(
            PROGRAM,
            READY_TIMEOUT,
            || process.check_alive(),
            || super::ping(url.clone()),
        )
        .await
    }
}

fn args(port: u16, dir: &Path) -> Vec<OsString> {
    let port = port.to_string();
    let mut args: Vec<OsString> = [
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        // Log to stdout, which the supervisor appends to the log file.
        "--logfile",
        "",
        "--dir",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push(dir.as_os_str().to_owned());
    args
}
