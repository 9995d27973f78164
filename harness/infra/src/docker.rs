//! What the `containers` providers need from Docker, decided without Docker:
//! whether an engine is reachable (checked before testcontainers is touched,
//! so a machine without one fails at once with a clear message), and the
//! [`ContainerPlan`] each provider would run (image, environment, ports), which
//! `harness infra up --dry-run`-style callers print and tests check.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Serialize;
use testcontainers::{
    ContainerRequest, GenericImage, ImageExt,
    core::{IntoContainerPort, WaitFor},
};

use crate::{Error, Result};

/// Everything needed to start one container, independent of Docker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerPlan {
    /// Image name, e.g. `apache/kafka`.
    pub image: String,
    /// Image tag, e.g. `3.8.0`.
    pub tag: String,
    /// Environment variables (sorted, for stable output).
    pub env: BTreeMap<String, String>,
    /// The command, when the image's default one is not wanted.
    pub cmd: Vec<String>,
    /// `(host port on 127.0.0.1, container port)` pairs. Host ports are fixed
    /// (not Docker-assigned) so a restarted container keeps its endpoint.
    pub ports: Vec<(u16, u16)>,
    /// The log line that marks the container as started.
    pub ready_log_line: String,
}

impl ContainerPlan {
    /// `image:tag`.
    pub fn image_ref(&self) -> String {
        format!("{}:{}", self.image, self.tag)
    }

    /// One human-readable line per item: image, ports, environment.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("image {}", self.image_ref())];
        if !self.cmd.is_empty() {
            lines.push(format!("cmd {}", self.cmd.join(" ")));
        }
        lines.extend(
            self.ports
                .iter()
                .map(|(host, container)| format!("port 127.0.0.1:{host} -> {container}")),
        );
        lines.extend(
            self.env
                .iter()
                .map(|(key, value)| format!("env {key}={value}")),
        );
        lines.push(format!("ready when stdout shows {:?}", self.ready_log_line));
        lines
    }

    /// The testcontainers request for this plan.
    pub(crate) fn request(&self) -> ContainerRequest<GenericImage> {
        let mut image = GenericImage::new(self.image.clone(), self.tag.clone())
            .with_wait_for(WaitFor::message_on_stdout(self.ready_log_line.clone()));
        for (_, container) in &self.ports {
            image = image.with_exposed_port(container.tcp());
        }
        let mut request: ContainerRequest<GenericImage> = image.into();
        if !self.cmd.is_empty() {
            request = request.with_cmd(self.cmd.clone());
        }
        for (host, container) in &self.ports {
            request = request.with_mapped_port(*host, container.tcp());
        }
        for (key, value) in &self.env {
            request = request.with_env_var(key.clone(), value.clone());
        }
        request
    }
}

/// Where a Docker engine was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerEngine {
    /// `DOCKER_HOST` is set (not probed further; testcontainers will use it).
    DockerHost(String),
    /// A socket file exists at this path.
    Socket(PathBuf),
}

/// Checks for a Docker engine the way testcontainers looks for one
/// (`DOCKER_HOST`, then the usual socket paths), so the containers providers
/// fail at once, not after testcontainers' own time-outs.
pub fn find_engine() -> Result<DockerEngine> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let mut sockets = vec![PathBuf::from("/var/run/docker.sock")];
    sockets.extend(runtime_dir.map(|dir| dir.join("docker.sock")));
    sockets.extend(home.map(|home| home.join(".docker/run/docker.sock")));
    find_engine_in(std::env::var("DOCKER_HOST").ok(), &sockets, Path::exists)
}

/// [`find_engine`] with its inputs injected, for tests.
pub fn find_engine_in(
    docker_host: Option<String>,
    sockets: &[PathBuf],
    exists: impl Fn(&Path) -> bool,
) -> Result<DockerEngine> {
    if let Some(host) = docker_host.filter(|host| !host.trim().is_empty()) {
        return Ok(DockerEngine::DockerHost(host));
    }
    if let Some(socket) = sockets.iter().find(|socket| exists(socket)) {
        return Ok(DockerEngine::Socket(socket.clone()));
    }
    let looked: Vec<String> = sockets
        .iter()
        .map(|socket| socket.display().to_string())
        .collect();
    Err(Error::DockerUnavailable {
        reason: format!(
            "DOCKER_HOST is not set and there is no socket at {}",
            looked.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_wins_and_missing_everything_is_a_clear_error() {
        let sockets = [PathBuf::from("/nowhere/docker.sock")];
        let found =
            find_engine_in(Some("tcp://10.0.0.1:2375".into()), &sockets, |_| false).expect("host");
        assert_eq!(
            found,
            DockerEngine::DockerHost("tcp://10.0.0.1:2375".into())
        );

        let found = find_engine_in(Some("  ".into()), &sockets, |_| true).expect("socket");
        assert_eq!(found, DockerEngine::Socket(sockets[0].clone()));

        let err = find_engine_in(None, &sockets, |_| false)
            .expect_err("no engine")
            .to_string();
        assert!(
            err.starts_with("the containers provider needs a Docker engine: "),
            "{err}"
        );
        assert!(err.contains("/nowhere/docker.sock"), "{err}");
    }
}
