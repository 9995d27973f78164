//! Project automation, run as `cargo xtask <task>`.
//!
//! Tasks: `setup` (install what the tests and scenarios need), `e2e` (run the
//! scenarios), `test` (the whole test suite, after `setup`), `bench`
//! (criterion benchmarks and the regression gate). One module per task; this
//! file only dispatches. Everything runs from the workspace root, and cargo is
//! invoked through `$CARGO` so the same toolchain builds everything.

use std::process::ExitCode;

mod bench;
mod process;
mod setup;
#[cfg(test)]
mod tidy;

const HELP: &str = "\
cargo xtask <task> [args]

Tasks:
  setup              install what the tests need if missing: redis-server (apt-get)
                     and the local Kafka broker nisshi (cargo install, ~10 min once;
                     HARNESS_NO_LOCAL_BROKER=1 skips it)
  e2e [ARGS...]      run scenarios (default: every scenarios/*.yaml on the simulator);
                     ARGS go to `harness e2e`, e.g. scenarios/x.yaml --cluster kubeconfig
  test [ARGS...]     run the whole test suite (after setup); ARGS go to `cargo test`
  bench [--gate] [--save-baseline] [--quick]
                     run the criterion benchmarks; --gate fails on a regression against
                     benches/baseline.json, --save-baseline rewrites it
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("setup") => setup::run_all(),
        Some("e2e") => setup::run().and_then(|()| e2e(&rest)),
        Some("test") => setup::run_all().and_then(|()| test(&rest)),
        Some("bench") => setup::run().and_then(|()| bench::run(&rest)),
        Some("-h" | "--help" | "help") | None => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(anyhow::anyhow!("unknown task `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask e2e`: builds the harness and runs `harness e2e` with reports in `target/e2e`.
fn e2e(args: &[String]) -> anyhow::Result<()> {
    let root = process::project_root();
    let mut cmd = process::cargo();
    cmd.args([
        "run",
        "--quiet",
        "--locked",
        "--package",
        "harness",
        "--bin",
        "harness",
        "--",
        "e2e",
    ]);
    if !args
        .iter()
        .any(|a| a == "--report-dir" || a.starts_with("--report-dir="))
    {
        cmd.arg("--report-dir").arg(root.join("target/e2e"));
    }
    cmd.args(args);
    process::run(&mut cmd)
}

/// `cargo xtask test`: the whole workspace's tests, exactly what CI runs.
fn test(args: &[String]) -> anyhow::Result<()> {
    let mut cmd = process::cargo();
    cmd.args(["test", "--workspace", "--locked"]).args(args);
    process::run(&mut cmd)
}
