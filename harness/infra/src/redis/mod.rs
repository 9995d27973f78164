//! Running Redis providers behind one handle, [`Redis`]: its URL (redacted
//! when printed), the faults it supports, and a readiness probe.

pub mod containers;
pub mod local;
mod url;

use std::{path::Path, time::Duration};

use self::local::LocalRedis;
pub use self::url::{RedisUrl, redact, redact_malformed};
use crate::{
    Error, Fault, Result, containers::ContainerService, process::free_port, spec::RedisSpec,
};

/// The durability every Redis the harness runs is configured with: an
/// append-only file synced every second, no RDB snapshots (see [`local`] for
/// what that loses on a kill).
const DURABILITY_ARGS: [&str; 6] = [
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--save",
    "",
];

/// Which provider runs a [`Redis`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisKind {
    /// `redis-server` from PATH.
    Local,
    /// A testcontainers container.
    Containers,
    /// A URL given by the user.
    External,
}

impl RedisKind {
    /// Lowercase provider name.
    pub fn name(self) -> &'static str {
        match self {
            RedisKind::Local => "local",
            RedisKind::Containers => "containers",
            RedisKind::External => "external",
        }
    }
}

/// A running Redis. Dropping it stops whatever it started.
#[derive(Debug)]
pub struct Redis {
    /// Where clients connect.
    url: RedisUrl,
    /// What runs it; owns the process or container.
    running: Running,
}

#[derive(Debug)]
enum Running {
    Local(LocalRedis),
    Containers(Box<ContainerService>),
    External,
}

impl Redis {
    /// Starts the provider a spec names and waits until it answers PING.
    pub async fn start(spec: &RedisSpec) -> Result<Redis> {
        let (url, running) = match spec {
            RedisSpec::Local { binary } => {
                let redis = LocalRedis::start(binary.as_deref()).await?;
                (redis.url().parse()?, Running::Local(redis))
            }
            RedisSpec::Containers { image } => {
                let host_port = free_port()?;
                let url: RedisUrl = format!("redis://127.0.0.1:{host_port}/").parse()?;
                let service = ContainerService::start(containers::plan(image, host_port), |t| {
                    wait_for_ping(&url, t)
                })
                .await?;
                (url, Running::Containers(Box::new(service)))
            }
            RedisSpec::External { url } => (url.clone(), Running::External),
        };
        Ok(Redis { url, running })
    }

    /// The URL to connect to (formats redacted; [`RedisUrl::expose`] to connect).
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// Which provider runs this Redis.
    pub fn kind(&self) -> RedisKind {
        match self.running {
            Running::Local(_) => RedisKind::Local,
            Running::Containers(_) => RedisKind::Containers,
            Running::External => RedisKind::External,
        }
    }

    /// The local server's process id while it runs (`None` for other providers).
    pub fn pid(&self) -> Option<u32> {
        match &self.running {
            Running::Local(redis) => redis.pid(),
            _ => None,
        }
    }

    /// The local server's data directory (`None` for other providers).
    pub fn data_dir(&self) -> Option<&Path> {
        match &self.running {
            Running::Local(redis) => Some(redis.dir()),
            _ => None,
        }
    }

    /// Whether [`Redis::apply`] can apply `fault` to this provider.
    pub fn supports(&self, _fault: Fault) -> bool {
        !matches!(self.running, Running::External)
    }

    /// Applies a fault (see [`Fault`]). `start` and `restart` return once the
    /// server answers PING again.
    pub async fn apply(&mut self, fault: Fault) -> Result<()> {
        match &mut self.running {
            Running::Local(redis) => redis.apply(fault).await,
            Running::Containers(service) => {
                let url = &self.url;
                service.apply(fault, |t| wait_for_ping(url, t)).await
            }
            Running::External => Err(Error::FaultUnsupported {
                fault,
                provider: "redis external".into(),
            }),
        }
    }
}

/// Polls PING until it succeeds or `timeout` passes.
pub async fn wait_for_ping(url: &RedisUrl, timeout: Duration) -> Result<()> {
    let url = url.expose().to_owned();
    crate::process::poll_ready("redis", timeout, || Ok(()), || ping(url.clone())).await
}

/// One PING on a fresh connection with short time-outs.
pub(crate) async fn ping(url: String) -> std::result::Result<(), redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_millis(500)));
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let _: String = redis::cmd("PING").query_async(&mut connection).await?;
    Ok(())
}
