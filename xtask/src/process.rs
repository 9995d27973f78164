//! Running commands from the workspace root, echoing them first so a CI log
//! shows exactly what ran.

use std::{
    path::PathBuf,
    process::{Command, ExitStatus, Stdio},
};

use anyhow::Context;

/// The workspace root (the parent of this crate's directory).
pub(crate) fn project_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// A `cargo` command for the toolchain that runs this xtask, in the workspace root.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// A command that ran and exited unsuccessfully; `main` exits with its code,
/// so `cargo xtask e2e` keeps `harness e2e`'s distinction between a failing
/// scenario (1) and invalid input (2).
#[derive(Debug)]
pub(crate) struct Failed {
    command: String,
    status: ExitStatus,
}

impl Failed {
    /// The child's exit code, where it exited rather than being killed.
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` failed ({})", self.command, self.status)
    }
}

impl std::error::Error for Failed {}

/// Runs `cmd` with inherited stdio; fails with [`Failed`] if it does not exit 0.
pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", render(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{}`", render(cmd)))?;
    if !status.success() {
        return Err(Failed {
            command: render(cmd),
            status,
        }
        .into());
    }
    Ok(())
}

/// Runs `cmd` quietly and returns whether it exited 0 (false if it could not start).
pub(crate) fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn render(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}
