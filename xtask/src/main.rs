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
            // A child's own exit code passes through (1 failed, 2 invalid
            // input for `harness e2e`); anything else is 1.
            err.downcast_ref::<process::Failed>()
                .and_then(process::Failed::code)
                .and_then(|code| u8::try_from(code).ok())
                .filter(|code| *code != 0)
                .map_or(ExitCode::FAILURE, ExitCode::from)
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
    // cargo runs from the workspace root; paths the user typed are relative
    // to where they typed them.
    let cwd = std::env::current_dir()?;
    cmd.args(from_user_dir(args, &cwd));
    process::run(&mut cmd)
}

/// `harness e2e`'s flags whose value is a path.
const PATH_FLAGS: &[&str] = &["--report-dir", "--kubeconfig"];

/// `args` with every path made absolute against `cwd`: the values of
/// [`PATH_FLAGS`] (`--flag value` and `--flag=value`), and positional
/// arguments naming something that exists under `cwd`.
fn from_user_dir(args: &[String], cwd: &std::path::Path) -> Vec<String> {
    let absolute = |path: &str| cwd.join(path).to_string_lossy().into_owned();
    let mut out = Vec::with_capacity(args.len());
    let mut path_value_next = false;
    for arg in args {
        if std::mem::take(&mut path_value_next) {
            out.push(absolute(arg));
        } else if PATH_FLAGS.contains(&arg.as_str()) {
            path_value_next = true;
            out.push(arg.clone());
        } else if let Some((flag, value)) = arg
            .split_once('=')
            .filter(|(flag, _)| PATH_FLAGS.contains(flag))
        {
            out.push(format!("{flag}={}", absolute(value)));
        } else if !arg.starts_with('-') && cwd.join(arg).exists() {
            out.push(absolute(arg));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

/// `cargo xtask test`: the whole workspace's tests, exactly what CI runs.
fn test(args: &[String]) -> anyhow::Result<()> {
    let mut cmd = process::cargo();
    cmd.args(["test", "--workspace", "--locked"]).args(args);
    process::run(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_typed_in_a_subdirectory_are_made_absolute() {
        let cwd = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let args: Vec<String> = [
            "src/main.rs",
            "--report-dir",
            "out",
            "--kubeconfig=kc",
            "--speed",
            "50",
            "not-a-file.yaml",
        ]
        .map(String::from)
        .to_vec();
        let under = |p: &str| cwd.join(p).to_string_lossy().into_owned();
        assert_eq!(
            from_user_dir(&args, cwd),
            vec![
                under("src/main.rs"),
                "--report-dir".to_owned(),
                under("out"),
                format!("--kubeconfig={}", under("kc")),
                "--speed".to_owned(),
                "50".to_owned(),
                "not-a-file.yaml".to_owned(),
            ]
        );
    }
}
