//! The `harness` command line: see `harness --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = harness::cli::Cli::parse();
    harness::cli::init_logging(&cli);
    match harness::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", harness::runner::error_chain(err.as_ref()));
            ExitCode::from(2)
        }
    }
}
