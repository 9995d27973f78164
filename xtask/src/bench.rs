//! `cargo xtask bench [--gate] [--save-baseline] [--quick] [--features F]`:
//! runs the criterion benchmarks of `benches/`, collects their figures into
//! `target/bench/results.json`, prints a table (figure, value, target,
//! baseline, verdict), and with `--gate` fails when a gated figure regressed
//! beyond its threshold against `benches/baseline.json`.
//!
//! What gates and why is in `ci/bench-gate.txt`: same-run ratios (a path's
//! rate over a baseline rate measured by the same bench process) and counts
//! (round trips per 1,000 updates, bytes per user). Absolute rates are
//! reported but never gate, because a busy 2-core machine moves them far more
//! than any threshold worth having. A regression must show twice: the gate
//! re-runs the bench targets whose figures regressed once, and fails only if
//! the confirmation run regresses too. `--save-baseline` rewrites the
//! baseline from this run; it refuses quick and slowed runs, whose figures
//! are not the ones to hold future runs to.

mod collect;
mod gate;
mod json;
mod table;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};

use crate::process;

/// The gate's rules: figures, targets, thresholds (relative to the root).
const RULES_FILE: &str = "ci/bench-gate.txt";
/// The committed baseline (relative to the root).
const BASELINE_FILE: &str = "benches/baseline.json";
/// The package holding the benches.
const BENCH_PACKAGE: &str = "harness-benches";

const USAGE: &str = "\
cargo xtask bench [--gate] [--save-baseline] [--quick] [--features F]

  --gate            exit non-zero when a gated figure regressed beyond its threshold
                    (ci/bench-gate.txt) against benches/baseline.json
  --save-baseline   rewrite benches/baseline.json from this run (full profile only)
  --quick           fewer samples and shorter measurements: checks that everything
                    runs; noisier figures
  --features F      cargo features of harness-benches, e.g. `slowed` (a deliberately
                    slowed build that the gate must fail)
";

/// What the command line asked for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    gate: bool,
    save_baseline: bool,
    quick: bool,
    features: Vec<String>,
}

fn parse_args(args: &[String]) -> anyhow::Result<Option<Options>> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--gate" => options.gate = true,
            "--save-baseline" => options.save_baseline = true,
            "--quick" => options.quick = true,
            "--features" => {
                let list = args
                    .next()
                    .context("--features needs a value, e.g. --features slowed")?;
                options.features.extend(split_features(list));
            }
            "-h" | "--help" => return Ok(None),
            other => match other.strip_prefix("--features=") {
                Some(list) => options.features.extend(split_features(list)),
                None => bail!("unknown argument `{other}`\n\n{USAGE}"),
            },
        }
    }
    if options.save_baseline && (options.quick || !options.features.is_empty()) {
        bail!(
            "--save-baseline takes the full profile of the normal build (no --quick, no --features)"
        );
    }
    Ok(Some(options))
}

fn split_features(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split([',', ' '])
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
}

/// Runs the task.
pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let Some(options) = parse_args(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let root = process::project_root();
    let out_dir = target_dir(&root).join("bench");
    let criterion_dir = out_dir.join("criterion");
    let figures_dir = out_dir.join("figures");
    // Stale output from an earlier run must not stand in for a bench that
    // failed to run this time: the gate reports such figures as missing.
    for dir in [&criterion_dir, &figures_dir] {
        match fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("clearing {}", dir.display())),
        }
    }
    let rules = gate::parse_rules(&read(&root.join(RULES_FILE))?)
        .with_context(|| format!("reading {RULES_FILE}"))?;
    let baseline_path = root.join(BASELINE_FILE);
    let baseline = load_baseline(&baseline_path)?;
    let meta = Meta::now(&root, &options);

    // A failed bench target is reported after the table, which then shows
    // its figures as missing; the other targets' figures still count.
    let mut bench_result = run_benches(&options, &criterion_dir, &figures_dir, &[]);
    let mut figures = collect::collect(&criterion_dir, &figures_dir)?;
    let mut checks = gate::compare(&rules, &values(&figures), &baseline);
    println!("\n{}", meta.describe());
    print!("{}", table::render(&figures, &rules, &baseline, &checks));
    println!("{}", table::summary(&checks));

    let retry = gate::regressed_targets(&checks);
    if options.gate && bench_result.is_ok() && !retry.is_empty() {
        // A regression must show twice in a row: a neighbour's build can take
        // a core for a whole bench, and a real regression survives a re-run.
        println!(
            "\nconfirming: running {} once more; the gate fails only if the regression shows again",
            retry.join(", ")
        );
        bench_result = run_benches(&options, &criterion_dir, &figures_dir, &retry);
        figures = collect::collect(&criterion_dir, &figures_dir)?;
        checks = gate::compare(&rules, &values(&figures), &baseline);
        println!(
            "\n{} (confirmation run of {})",
            meta.describe(),
            retry.join(", ")
        );
        print!("{}", table::render(&figures, &rules, &baseline, &checks));
        println!("{}", table::summary(&checks));
    }

    let results_path = out_dir.join("results.json");
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    fs::write(&results_path, render_results(&meta, &figures))
        .with_context(|| format!("writing {}", results_path.display()))?;
    println!("results: {}", results_path.display());

    bench_result.context("a bench target failed; its figures are missing above")?;
    if options.save_baseline {
        fs::write(&baseline_path, render_results(&meta, &figures))
            .with_context(|| format!("writing {}", baseline_path.display()))?;
        println!("baseline saved: {BASELINE_FILE}");
    }
    if options.gate {
        let failures = gate::failures(&checks);
        if !failures.is_empty() {
            bail!("the benchmark gate failed:\n  {}", failures.join("\n  "));
        }
        println!("the benchmark gate passed");
    }
    Ok(())
}

/// Runs `cargo bench` on `targets` (every bench target if empty).
fn run_benches(
    options: &Options,
    criterion_dir: &Path,
    figures_dir: &Path,
    targets: &[String],
) -> anyhow::Result<()> {
    let mut cmd = process::cargo();
    // --no-fail-fast: one failing bench target must not keep the others from
    // running; the gate then reports exactly the figures that are missing.
    cmd.args([
        "bench",
        "--locked",
        "--no-fail-fast",
        "--package",
        BENCH_PACKAGE,
    ]);
    if targets.is_empty() {
        cmd.arg("--benches");
    }
    for target in targets {
        cmd.arg("--bench").arg(target);
    }
    if !options.features.is_empty() {
        cmd.arg("--features").arg(options.features.join(","));
    }
    cmd.env("CRITERION_HOME", criterion_dir)
        .env("HARNESS_BENCH_FIGURES", figures_dir)
        .env("HARNESS_BENCH_QUICK", if options.quick { "1" } else { "0" });
    process::run(&mut cmd)
}

/// The figures' values by name.
fn values(figures: &collect::Figures) -> BTreeMap<String, f64> {
    figures
        .iter()
        .map(|(name, f)| (name.clone(), f.value))
        .collect()
}

fn read(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// The baseline's figure values; empty when there is no baseline yet.
fn load_baseline(path: &Path) -> anyhow::Result<BTreeMap<String, f64>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    parse_baseline(&text).with_context(|| format!("reading {}", path.display()))
}

/// `figures.<name>.value` of a results or baseline file.
fn parse_baseline(text: &str) -> anyhow::Result<BTreeMap<String, f64>> {
    let doc = json::parse(text)?;
    let figures = doc
        .get("figures")
        .and_then(json::Value::as_object)
        .context("no `figures` object")?;
    figures
        .iter()
        .map(|(name, figure)| {
            let value = figure.get("value").and_then(json::Value::as_f64);
            Ok((
                name.clone(),
                value.with_context(|| format!("figure {name} has no numeric `value`"))?,
            ))
        })
        .collect()
}

/// Where and how a run was made, recorded beside its figures. No date: the
/// commit names what was measured, and git dates a saved baseline (keeping
/// a calendar here would mean a second copy of the simulator's date code,
/// since xtask depends on no workspace crate).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    command: String,
    profile: &'static str,
    features: String,
    machine: String,
    commit: String,
}

impl Meta {
    fn now(root: &Path, options: &Options) -> Meta {
        let mut command = "cargo xtask bench".to_owned();
        for (on, flag) in [
            (options.gate, " --gate"),
            (options.save_baseline, " --save-baseline"),
            (options.quick, " --quick"),
        ] {
            if on {
                command.push_str(flag);
            }
        }
        if !options.features.is_empty() {
            let _ = write!(command, " --features {}", options.features.join(","));
        }
        let mut git = std::process::Command::new("git");
        git.args(["rev-parse", "--short", "HEAD"]).current_dir(root);
        Meta {
            command,
            profile: if options.quick { "quick" } else { "full" },
            features: options.features.join(","),
            machine: machine(),
            commit: git
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map_or_else(
                    || "unknown".to_owned(),
                    |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
                ),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} ({} profile) on {}, commit {}",
            self.command, self.profile, self.machine, self.commit
        )
    }
}

/// The CPU model, core count and memory, from `/proc` where it exists.
fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo").ok().and_then(|text| {
        text.lines().find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
    });
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory_gib = fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let kib: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kib / (1024.0 * 1024.0))
    });
    let mut out = format!("{} cores", cores);
    if let Some(cpu) = cpu {
        let _ = write!(out, " ({cpu})");
    }
    if let Some(gib) = memory_gib {
        let _ = write!(out, ", {gib:.0} GiB");
    }
    out
}

/// The results (and baseline) file: how the run was made, then every figure.
fn render_results(meta: &Meta, figures: &collect::Figures) -> String {
    let q = json::quote;
    let mut out = String::from("{\n  \"recorded\": {\n");
    let fields = [
        ("command", meta.command.as_str()),
        ("profile", meta.profile),
        ("features", &meta.features),
        ("machine", &meta.machine),
        ("commit", &meta.commit),
    ];
    for (i, (key, value)) in fields.iter().enumerate() {
        let comma = if i + 1 < fields.len() { "," } else { "" };
        let _ = writeln!(out, "    {}: {}{comma}", q(key), q(value));
    }
    out.push_str("  },\n  \"figures\": {\n");
    for (i, (name, figure)) in figures.iter().enumerate() {
        let comma = if i + 1 < figures.len() { "," } else { "" };
        let _ = writeln!(
            out,
            "    {}: {{ \"value\": {}, \"unit\": {} }}{comma}",
            q(name),
            json::number(figure.value),
            q(&figure.unit)
        );
    }
    out.push_str("  }\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_parse() -> anyhow::Result<()> {
        let options = parse_args(&args(&["--gate", "--quick", "--features", "slowed"]))?;
        assert_eq!(
            options,
            Some(Options {
                gate: true,
                save_baseline: false,
                quick: true,
                features: vec!["slowed".into()]
            })
        );
        let options = parse_args(&args(&["--features=a,b"]))?;
        assert_eq!(
            options.map(|o| o.features),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(parse_args(&args(&["--help"]))?, None);
        assert!(parse_args(&args(&["--gat"])).is_err());
        assert!(parse_args(&args(&["--features"])).is_err());
        Ok(())
    }

    #[test]
    fn a_baseline_is_saved_only_from_a_full_normal_run() {
        assert!(parse_args(&args(&["--save-baseline", "--quick"])).is_err());
        assert!(parse_args(&args(&["--save-baseline", "--features", "slowed"])).is_err());
        assert!(parse_args(&args(&["--save-baseline", "--gate"])).is_ok());
    }

    #[test]
    fn results_read_back_as_a_baseline() -> anyhow::Result<()> {
        let meta = Meta {
            command: "cargo xtask bench --save-baseline".into(),
            profile: "full",
            features: String::new(),
            machine: "2 cores (\"quoted\" cpu)".into(),
            commit: "abc1234".into(),
        };
        let figures: collect::Figures = [
            (
                "core.aggregate_vs_decode".to_owned(),
                collect::Figure {
                    value: 0.712,
                    unit: "ratio".into(),
                },
            ),
            (
                "memory.bytes_per_user".to_owned(),
                collect::Figure {
                    value: 301.25,
                    unit: "bytes".into(),
                },
            ),
        ]
        .into_iter()
        .collect();
        let text = render_results(&meta, &figures);
        let baseline = parse_baseline(&text)?;
        let expected: BTreeMap<String, f64> = [
            ("core.aggregate_vs_decode".to_owned(), 0.712),
            ("memory.bytes_per_user".to_owned(), 301.25),
        ]
        .into_iter()
        .collect();
        assert_eq!(baseline, expected);
        let doc = json::parse(&text)?;
        assert_eq!(
            doc.path(&["recorded", "machine"])
                .and_then(json::Value::as_str),
            Some("2 cores (\"quoted\" cpu)")
        );
        Ok(())
    }

    #[test]
    fn a_baseline_without_values_is_an_error() {
        assert!(parse_baseline(r#"{"figures":{"a":{"unit":"ratio"}}}"#).is_err());
        assert!(parse_baseline(r#"{"recorded":{}}"#).is_err());
    }
}
