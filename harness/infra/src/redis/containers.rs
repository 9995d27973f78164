//! The `containers` Redis provider's plan: the official `redis` image with the
//! same append-only durability as the local provider, on a fixed host port.

use std::collections::BTreeMap;

use crate::docker::ContainerPlan;

/// The image used unless a spec names another.
pub const DEFAULT_IMAGE: &str = "redis:7";

/// Redis's port inside the container.
const CONTAINER_PORT: u16 = 6379;

/// The plan for `image` (`name:tag`) with Redis mapped to `host_port`.
pub fn plan(image: &str, host_port: u16) -> ContainerPlan {
    let (name, tag) = crate::spec::split_image_ref(image);
    ContainerPlan {
        image: name,
        tag,
        cmd: std::iter::once("redis-server")
            .chain(super::DURABILITY_ARGS)
            .map(str::to_owned)
            .collect(),
        env: BTreeMap::new(),
        ports: vec![(host_port, CONTAINER_PORT)],
        ready_log_line: "Ready to accept connections".into(),
    }
}
