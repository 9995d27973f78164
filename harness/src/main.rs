//! The `harness` command line: see `harness --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = harness::cli::Cli::parse();
    harness::cli::init_logging(&cli);
    match harness::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // Each cause once: a wrapped I/O error often repeats its source.
            let mut text = err.to_string();
            for cause in err.chain().skip(1).map(ToString::to_string) {
                if !text.contains(&cause) {
                    text.push_str(": ");
                    text.push_str(&cause);
                }
            }
            eprintln!("error: {text}");
            ExitCode::from(2)
        }
    }
}
