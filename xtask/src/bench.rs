//! `cargo xtask bench`: criterion benchmarks and the regression gate.

/// Runs the benchmarks.
pub(crate) fn run(_args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("the benchmarks are not built yet")
}
