//! The figures a bench target records beside criterion's own output: counts
//! (round trips per 1,000 updates), resident sizes, sanity totals. criterion
//! only measures time; `cargo xtask bench` reads these files, adds the rates
//! it derives from criterion's estimates, and gates on the lot.
//!
//! Format, one figure per line, chosen so the dependency-free xtask can read
//! it without a parser: `name<TAB>value<TAB>unit`. Each bench target writes
//! its own file, `<dir>/<bench>.tsv`, where `<dir>` is [`FIGURES_DIR_ENV`] or
//! `target/bench/figures`.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs, io,
    path::{Path, PathBuf},
};

/// Environment variable naming the directory figures are written to.
pub const FIGURES_DIR_ENV: &str = "HARNESS_BENCH_FIGURES";

/// The figures of one bench target, written as one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    bench: &'static str,
    values: BTreeMap<String, (f64, &'static str)>,
}

impl Figures {
    /// No figures yet for the bench target `bench` (e.g. `redis_sink`).
    pub fn new(bench: &'static str) -> Figures {
        Figures {
            bench,
            values: BTreeMap::new(),
        }
    }

    /// Records `value` (in `unit`) as `<bench>.<name>`, replacing an earlier value.
    pub fn set(&mut self, name: &str, value: f64, unit: &'static str) {
        self.values
            .insert(format!("{}.{name}", self.bench), (value, unit));
    }

    /// The recorded value of `<bench>.<name>`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values
            .get(&format!("{}.{name}", self.bench))
            .map(|(value, _)| *value)
    }

    /// The file's text: one `name<TAB>value<TAB>unit` line per figure.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for (name, (value, unit)) in &self.values {
            // `{}` on f64 prints the shortest text that reads back exactly.
            let _ = writeln!(text, "{name}\t{value}\t{unit}");
        }
        text
    }

    /// Writes `<dir>/<bench>.tsv` (see the module doc), returning its path.
    pub fn write(&self) -> io::Result<PathBuf> {
        self.write_to(&figures_dir())
    }

    /// Writes `<dir>/<bench>.tsv`, creating `dir`.
    pub fn write_to(&self, dir: &Path) -> io::Result<PathBuf> {
        fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.tsv", self.bench));
        fs::write(&path, self.render())?;
        Ok(path)
    }

    /// Writes the file and says where on stderr; a failure to write is
    /// reported, not fatal, because the measurements already printed still
    /// stand (the gate then reports the figures as missing).
    pub fn write_and_report(&self) {
        match self.write() {
            Ok(path) => eprintln!("{}: figures written to {}", self.bench, path.display()),
            Err(err) => eprintln!("{}: could not write the figures file: {err}", self.bench),
        }
    }
}

/// Where figures go: [`FIGURES_DIR_ENV`], else the workspace's `target/bench/figures`.
pub fn figures_dir() -> PathBuf {
    match std::env::var_os(FIGURES_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/figures"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_prefixes_the_bench_and_reads_back_exactly() {
        let mut figures = Figures::new("redis_sink");
        figures.set("round_trips_per_1000", 1.0 / 3.0, "round trips");
        figures.set("updates", 12_345.0, "writes");
        let text = figures.render();
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0][0], "redis_sink.round_trips_per_1000");
        assert_eq!(lines[0][1].parse::<f64>().ok(), Some(1.0 / 3.0));
        assert_eq!(lines[0][2], "round trips");
        assert_eq!(lines[1], ["redis_sink.updates", "12345", "writes"]);
    }

    #[test]
    fn set_replaces_and_write_to_creates_the_directory() -> io::Result<()> {
        let mut figures = Figures::new("memory");
        figures.set("bytes_per_user", 1.0, "bytes");
        figures.set("bytes_per_user", 2.0, "bytes");
        assert_eq!(figures.get("bytes_per_user"), Some(2.0));
        let dir =
            std::env::temp_dir().join(format!("harness-benches-figures-{}", std::process::id()));
        let path = figures.write_to(&dir.join("nested"))?;
        assert_eq!(
            fs::read_to_string(&path)?,
            "memory.bytes_per_user\t2\tbytes\n"
        );
        fs::remove_dir_all(&dir)
    }
}
