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
    process::{Patience, Supervised, free_port, which},
};

/// The program looked up on PATH.
pub const PROGRAM: &str = "redis-server";

/// What to do when it is missing.
pub const INSTALL_HINT: &str = "`cargo xtask setup` installs Debian's redis-server";

/// A start (including loading the AOF) may take 20 s; redis-server gets 10 s
/// to flush and exit after SIGTERM.
const PATIENCE: Patience = Patience {
    ready: Duration::from_secs(20),
    stop_grace: Duration::from_secs(10),
};

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
            match redis.apply(Fault::Start).await {
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
        let url = &self.url;
        self.process
            .apply(fault, PATIENCE, || super::ping(url.clone()))
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
        // Log to stdout, which the supervisor appends to the log file.
        "--logfile",
        "",
    ]
    .into_iter()
    .chain(super::DURABILITY_ARGS)
    .chain(["--dir"])
    .map(OsString::from)
    .collect();
    args.push(dir.as_os_str().to_owned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_bind_loopback_keep_the_durability_and_end_with_the_data_dir() {
        let args = args(6390, Path::new("/tmp/data"));
        let text: Vec<&str> = args.iter().filter_map(|arg| arg.to_str()).collect();
        let pair = |flag: &str| {
            let at = text.iter().position(|arg| *arg == flag);
            at.and_then(|at| text.get(at + 1).copied())
        };
        assert_eq!(pair("--bind"), Some("127.0.0.1"));
        assert_eq!(pair("--port"), Some("6390"));
        assert_eq!(pair("--appendonly"), Some("yes"));
        assert_eq!(pair("--appendfsync"), Some("everysec"));
        assert_eq!(pair("--save"), Some(""));
        assert_eq!(pair("--dir"), Some("/tmp/data"));
        assert_eq!(text.last(), Some(&"/tmp/data"));
    }
}
