//! `cargo xtask setup`: make sure the programs the tests and scenarios start
//! are installed.
//!
//! `redis-server` (the `local` Redis provider spawns it) is installed from
//! Debian's packages with apt-get when missing, which needs root; otherwise the
//! task stops and prints the command to run. That check is quick and
//! idempotent, so `e2e`, `test` and `bench` run it first.
//!
//! The `local` Kafka provider's broker (`nisshi`, a Kafka-compatible broker from
//! crates.io) is built with `cargo install` when missing, for `setup` and `test`
//! only: the broker-restart reliability test needs it, and nothing `e2e` or
//! `bench` runs does. The build takes about 10 minutes on 2 cores, once per
//! machine; `HARNESS_NO_LOCAL_BROKER=1` skips it, and the tests of that provider
//! then skip, saying why. `kubectl` is only reported: the kubectl tests skip,
//! saying why, where none is found.

use std::process::Command;

use anyhow::bail;

use crate::process;

/// Checks and installs the prerequisites of `e2e` and `bench`.
pub(crate) fn run() -> anyhow::Result<()> {
    ensure_redis_server()?;
    report_kubectl();
    Ok(())
}

/// [`run`], plus the `local` Kafka provider's broker: what `cargo xtask setup`
/// and `cargo xtask test` need.
pub(crate) fn run_all() -> anyhow::Result<()> {
    run()?;
    ensure_local_broker()
}

/// The broker programs the `local` Kafka provider looks for on PATH, in its
/// order (`harness_infra::kafka::local`; xtask depends on no workspace crate).
const BROKER_PROGRAMS: &[&str] = &["nisshi", "tansu"];

/// Builds the broker the provider's tests were written against: libsql gives
/// it storage that survives a restart, which the restart test needs.
const BROKER_INSTALL: &[&str] = &[
    "install",
    "nisshi@0.6.0",
    "--locked",
    "--features",
    "dynostore,libsql",
];

/// Set to skip building the broker (the `local` Kafka tests then skip).
const NO_BROKER_ENV: &str = "HARNESS_NO_LOCAL_BROKER";

/// What to do about the local broker, decided from what is on PATH and the
/// opt-out; separate from doing it so the decision is tested.
#[derive(Debug, PartialEq)]
enum BrokerPlan {
    Present(&'static str),
    Skip,
    Install,
}

fn broker_plan(on_path: impl Fn(&str) -> bool, opted_out: bool) -> BrokerPlan {
    match BROKER_PROGRAMS.iter().find(|program| on_path(program)) {
        Some(program) => BrokerPlan::Present(program),
        None if opted_out => BrokerPlan::Skip,
        None => BrokerPlan::Install,
    }
}

fn ensure_local_broker() -> anyhow::Result<()> {
    let opted_out = std::env::var_os(NO_BROKER_ENV).is_some_and(|v| !v.is_empty() && v != "0");
    match broker_plan(on_path, opted_out) {
        BrokerPlan::Present(_) => Ok(()),
        BrokerPlan::Skip => {
            eprintln!(
                "xtask: note: {NO_BROKER_ENV} is set and no nisshi is on PATH; \
                 the local Kafka provider's tests will skip"
            );
            Ok(())
        }
        BrokerPlan::Install => {
            eprintln!(
                "xtask: the local Kafka provider's broker (nisshi) is missing; building it \
                 with cargo install, once per machine (about 10 minutes on 2 cores; \
                 {NO_BROKER_ENV}=1 skips it and those tests)"
            );
            process::run(process::cargo().args(BROKER_INSTALL))?;
            if !on_path(BROKER_PROGRAMS[0]) {
                bail!(
                    "cargo install built nisshi but it is not on PATH: add cargo's bin \
                     directory (usually ~/.cargo/bin) to PATH and run again"
                );
            }
            Ok(())
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_on_path_is_used_as_it_is() {
        let plan = broker_plan(|program| program == "tansu", false);
        assert_eq!(plan, BrokerPlan::Present("tansu"));
        let plan = broker_plan(|_| true, true);
        assert_eq!(plan, BrokerPlan::Present("nisshi"));
    }

    #[test]
    fn a_missing_broker_is_built_unless_opted_out() {
        assert_eq!(broker_plan(|_| false, false), BrokerPlan::Install);
        assert_eq!(broker_plan(|_| false, true), BrokerPlan::Skip);
    }

    #[test]
    fn the_broker_is_built_with_restartable_storage() {
        let features = BROKER_INSTALL
            .windows(2)
            .find(|pair| pair[0] == "--features")
            .map(|pair| pair[1]);
        assert!(features.is_some_and(|f| f.split(',').any(|f| f == "libsql")));
        assert!(BROKER_INSTALL.contains(&"--locked"));
    }
}
