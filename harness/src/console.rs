//! Standard output that outlives its reader. `harness verify | head` closes
//! the pipe after ten lines; `println!` would then panic (Rust ignores
//! SIGPIPE, so the write fails with `EPIPE`) and a scenario run would die with
//! its infrastructure still up. [`outln!`] and [`out!`] drop what nobody
//! reads and let the command finish: its reports and exit code still say how
//! it went.

use std::io::{ErrorKind, Write as _};

/// Writes to standard output; a closed pipe is not an error.
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_fmt(args).and_then(|()| stdout.flush())
        && err.kind() != ErrorKind::BrokenPipe
    {
        tracing::warn!(error = %err, "could not write to standard output");
    }
}

/// `print!` that survives a closed pipe (see the module doc).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::console::write(format_args!($($arg)*))
    };
}

/// `println!` that survives a closed pipe (see the module doc).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::console::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
