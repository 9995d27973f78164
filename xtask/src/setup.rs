//! `cargo xtask setup`: make sure the programs the tests and scenarios start
//! are installed.
//!
//! Today that is `redis-server` (the `local` Redis provider spawns it). It is
//! installed from Debian's packages with apt-get when missing, which needs
//! root; otherwise the task stops and prints the command to run. `kubectl` is
//! only reported: the kubectl tests skip, saying why, where none is found.
//! The task is quick and idempotent, so `e2e`, `test` and `bench` run it first.

use std::process::Command;

use anyhow::bail;

use crate::process;

/// Checks and installs prerequisites.
pub(crate) fn run() -> anyhow::Result<()> {
    ensure_redis_server()?;
    report_kubectl();
    Ok(())
}

fn on_path(program: &str) -> bool {
    process::succeeds(Command::new(program).arg("--version"))
}

fn ensure_redis_server() -> anyhow::Result<()> {
    if on_path("redis-server") {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let has_apt = on_path("apt-get");
    if !(is_root && has_apt) {
        bail!(
            "redis-server is not installed and this task cannot install it here \
             (it needs root and apt-get). Install Redis 7 (`sudo apt-get install -y redis-server` on \
             Debian/Ubuntu, `brew install redis` on macOS) and run again"
        );
    }
    eprintln!("xtask: redis-server is missing; installing Debian's redis-server");
    process::run(
        Command::new("apt-get")
            .args(["update", "-qq"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    process::run(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "redis-server",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    // The package starts a system-wide instance on port 6379; the harness runs
    // its own instances on free ports, so that one only costs memory.
    let _ = process::succeeds(Command::new("service").args(["redis-server", "stop"]));
    if !on_path("redis-server") {
        bail!("apt-get reported success but redis-server is still not on PATH");
    }
    Ok(())
}

fn report_kubectl() {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_string());
    if !process::succeeds(Command::new(&kubectl).args(["version", "--client"])) {
        eprintln!(
            "xtask: note: no kubectl found (`{kubectl}`); the kubectl conformance tests will skip"
        );
    }
}
