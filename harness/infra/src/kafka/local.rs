//! The `local` Kafka provider: a Kafka-compatible broker binary from PATH
//! (`nisshi`, or its former name `tansu`) on a free loopback port.
//!
//! Storage: when the binary was built with the `libsql` feature the broker
//! stores its log in `broker.db` in its temp working directory, so a restart
//! keeps every topic and record; otherwise it uses `memory://`, and **a stop
//! or restart loses all topics and records** (a warning is logged). The
//! broker's `--help` lists its storage engines, which is how we tell.
//!
//! Modelled differently from Apache Kafka (see the facts notes): nisshi
//! 0.6.0's high watermark is unreliable on memory storage (count consumed
//! messages instead), and it needs a small `fetch.wait.max.ms` on consumers.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use tempfile::TempDir;

use crate::{
    Error, Fault, Result,
    process::{Patience, Supervised, free_port, which},
};

/// The broker names looked up on PATH, in order.
pub const BROKER_PROGRAMS: [&str; 2] = ["nisshi", "tansu"];

/// How to install a broker when none is on PATH.
pub const INSTALL_HINT: &str = "install one with `cargo install nisshi@0.6.0 --locked --features dynostore,libsql` \
     (it takes about 10 minutes to build on 2 cores; libsql gives it storage that survives restarts)";

/// The first of [`BROKER_PROGRAMS`] on PATH, if any (tests of this provider
/// skip, saying why, where this is `None`).
pub fn find_broker() -> Option<PathBuf> {
    BROKER_PROGRAMS.iter().find_map(|name| which(name))
}

/// A broker may take 30 s to answer its first metadata request, and gets 10 s
/// to exit after SIGTERM (it is slow to exit: >1 s).
const PATIENCE: Patience = Patience {
    ready: Duration::from_secs(30),
    stop_grace: Duration::from_secs(10),
};

/// The SQLite file, relative to the broker's working directory.
const SQLITE_FILE: &str = "broker.db";

/// Where the broker keeps its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerStorage {
    /// In memory: lost on stop.
    Memory,
    /// A SQLite file in the provider's temp dir: survives restarts.
    Sqlite(PathBuf),
}

impl BrokerStorage {
    fn url(&self) -> String {
        match self {
            BrokerStorage::Memory => "memory://harness/".into(),
            // nisshi 0.6.0 resolves an absolute `sqlite:///abs/path` against
            // its working directory (`/abs/path` becomes `./abs/path`), so
            // the path is given relative to the working directory instead.
            BrokerStorage::Sqlite(_) => format!("sqlite://{SQLITE_FILE}"),
        }
    }
}

/// A broker process and the directory it runs in.
#[derive(Debug)]
pub(crate) struct LocalBroker {
    /// The process (same command line on every start).
    process: Supervised,
    /// `127.0.0.1:<port>`.
    bootstrap: String,
    /// Which storage engine the broker uses.
    storage: BrokerStorage,
    /// Working dir, log and SQLite file; removed on drop (after the process,
    /// since fields drop in declaration order).
    _dir: TempDir,
}

impl LocalBroker {
    /// Starts a broker (`binary`, or the first of [`BROKER_PROGRAMS`] on PATH)
    /// and waits until it answers a metadata request.
    pub(crate) async fn start(binary: Option<&Path>) -> Result<Self> {
        let program = match binary {
            Some(path) => path.to_owned(),
            None => find_broker().ok_or_else(|| Error::BinaryNotFound {
                program: "a Kafka-compatible broker (nisshi or tansu)".into(),
                hint: INSTALL_HINT.into(),
            })?,
        };
        let dir = tempfile::Builder::new()
            .prefix("harness-kafka-")
            .tempdir()
            .map_err(|source| Error::PrepareFailed {
                what: "a temporary directory",
                source,
            })?;
        let storage = if supports_sqlite(&program) {
            BrokerStorage::Sqlite(dir.path().join(SQLITE_FILE))
        } else {
            BrokerStorage::Memory
        };
        let port = free_port()?;
        let listener = format!("tcp://127.0.0.1:{port}");
        let args: Vec<OsString> = [
            "broker",
            "--listener-url",
            &listener,
            // librdkafka may resolve `localhost` to ::1 while the broker
            // listens on IPv4 only, so advertise the literal address.
            "--advertised-listener-url",
            &listener,
            "--storage-engine",
            &storage.url(),
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        let mut broker = LocalBroker {
            process: Supervised::new("kafka broker", program, args, dir.path()),
            bootstrap: format!("127.0.0.1:{port}"),
            storage,
            _dir: dir,
        };
        broker.apply(Fault::Start).await?;
        Ok(broker)
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// The broker's storage engine.
    pub(crate) fn storage(&self) -> &BrokerStorage {
        &self.storage
    }

    /// The broker's process id while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Applies a process fault; `start` and `restart` wait for readiness.
    pub(crate) async fn apply(&mut self, fault: Fault) -> Result<()> {
        if matches!(fault, Fault::Stop | Fault::Restart | Fault::Kill)
            && self.storage == BrokerStorage::Memory
        {
            tracing::warn!(
                "the local broker uses memory storage: this {fault} loses every topic and record"
            );
        }
        let bootstrap = &self.bootstrap;
        self.process
            .apply(fault, PATIENCE, || super::probe_metadata(bootstrap.clone()))
            .await
    }
}

/// Whether the broker binary lists `libsql` among its storage engines (the
/// last lines of its top-level `--help`).
fn supports_sqlite(program: &Path) -> bool {
    Command::new(program)
        .arg("--help")
        .output()
        .map(|out| {
            let text = [out.stdout, out.stderr].concat();
            String::from_utf8_lossy(&text)
                .lines()
                .any(|line| line.contains("Storage engines") && line.contains("libsql"))
        })
        .unwrap_or(false)
}
