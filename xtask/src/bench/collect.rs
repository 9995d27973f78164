//! Gathers one run's figures: a rate for every criterion benchmark (elements
//! per second at criterion's median time per iteration), the figures the bench
//! targets recorded themselves (`<bench>.tsv`: counts, bytes), and the
//! same-run ratios the gate compares.

use std::{collections::BTreeMap, fs, path::Path};

use anyhow::{Context as _, bail};

use super::json::{self, Value};

/// A figure's value and unit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Figure {
    /// The value.
    pub(crate) value: f64,
    /// `events/s`, `ratio`, `bytes`, ...
    pub(crate) unit: String,
}

/// Figures by name, e.g. `core.decode.rate`.
pub(crate) type Figures = BTreeMap<String, Figure>;

/// A same-run ratio: a measured rate over its baseline rate from the same run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ratio {
    /// The ratio's name.
    pub(crate) figure: &'static str,
    /// The measured path's rate.
    pub(crate) numerator: &'static str,
    /// The baseline measured beside it.
    pub(crate) denominator: &'static str,
}

/// The ratios the gate compares. Both rates of each come from one bench
/// process, measured minutes apart at most, so load on a shared machine
/// slows both and the ratio moves far less than either rate.
pub(crate) const RATIOS: &[Ratio] = &[
    Ratio {
        figure: "core.aggregate_vs_decode",
        numerator: "core.decode_aggregate.rate",
        denominator: "core.decode.rate",
    },
    Ratio {
        figure: "core.aggregate_vs_serde_json",
        numerator: "core.decode_aggregate.rate",
        denominator: "core.serde_json.rate",
    },
    Ratio {
        figure: "redis_sink.sink_vs_bare",
        numerator: "redis_sink.sink.rate",
        denominator: "redis_sink.bare_pipeline.rate",
    },
    Ratio {
        figure: "end_to_end.pipeline_vs_consumer",
        numerator: "end_to_end.pipeline.rate",
        denominator: "end_to_end.bare_consumer.rate",
    },
];

/// Everything a run produced: criterion rates, recorded figures, ratios.
pub(crate) fn collect(criterion_dir: &Path, figures_dir: &Path) -> anyhow::Result<Figures> {
    let mut figures = criterion_rates(criterion_dir)?;
    figures.extend(recorded(figures_dir)?);
    add_ratios(&mut figures);
    Ok(figures)
}

/// One `<group>.<function>.rate` per criterion benchmark with an
/// `Elements` throughput, from `<dir>/<group>/<function>/new/*.json`.
pub(crate) fn criterion_rates(dir: &Path) -> anyhow::Result<Figures> {
    let mut figures = Figures::new();
    for group in sorted_entries(dir)? {
        for function in sorted_entries(&group)? {
            let new = function.join("new");
            let (Ok(estimates), Ok(benchmark)) = (
                fs::read_to_string(new.join("estimates.json")),
                fs::read_to_string(new.join("benchmark.json")),
            ) else {
                continue;
            };
            let context = || format!("reading criterion's output in {}", new.display());
            let benchmark = json::parse(&benchmark).with_context(context)?;
            let estimates = json::parse(&estimates).with_context(context)?;
            let (Some(group_id), Some(function_id)) = (
                benchmark.get("group_id").and_then(Value::as_str),
                benchmark.get("function_id").and_then(Value::as_str),
            ) else {
                bail!(
                    "{}: benchmark.json names no group_id/function_id",
                    new.display()
                );
            };
            if let Some(rate) = rate(&estimates, &benchmark) {
                figures.insert(
                    format!("{group_id}.{function_id}.rate"),
                    Figure {
                        value: rate,
                        unit: rate_unit(group_id).into(),
                    },
                );
            }
        }
    }
    Ok(figures)
}

/// What a group's elements are: Redis writes for the sink, events elsewhere.
fn rate_unit(group: &str) -> &'static str {
    if group == "redis_sink" {
        "writes/s"
    } else {
        "events/s"
    }
}

/// Elements per second at the median time per iteration, if the benchmark
/// declared an `Elements` throughput.
pub(crate) fn rate(estimates: &Value, benchmark: &Value) -> Option<f64> {
    let elements = benchmark
        .path(&["throughput", "Elements"])
        .and_then(Value::as_f64)?;
    let median_ns = estimates
        .path(&["median", "point_estimate"])
        .and_then(Value::as_f64)?;
    (median_ns > 0.0).then(|| elements * 1e9 / median_ns)
}

/// The figures in every `<dir>/*.tsv` (see `harness_benches::figures`).
pub(crate) fn recorded(dir: &Path) -> anyhow::Result<Figures> {
    let mut figures = Figures::new();
    for path in sorted_entries(dir)? {
        if path.extension().is_some_and(|e| e == "tsv") {
            let text =
                fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            figures
                .extend(parse_tsv(&text).with_context(|| format!("reading {}", path.display()))?);
        }
    }
    Ok(figures)
}

/// `name<TAB>value<TAB>unit` lines.
pub(crate) fn parse_tsv(text: &str) -> anyhow::Result<Figures> {
    let mut figures = Figures::new();
    for (idx, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let mut columns = line.split('\t');
        let (Some(name), Some(value), Some(unit), None) = (
            columns.next(),
            columns.next(),
            columns.next(),
            columns.next(),
        ) else {
            bail!("line {}: expected name<TAB>value<TAB>unit", idx + 1);
        };
        let value: f64 = value
            .parse()
            .with_context(|| format!("line {}: `{value}` is not a number", idx + 1))?;
        figures.insert(
            name.to_owned(),
            Figure {
                value,
                unit: unit.to_owned(),
            },
        );
    }
    Ok(figures)
}

/// Adds every [`RATIOS`] entry whose two rates are present.
pub(crate) fn add_ratios(figures: &mut Figures) {
    for ratio in RATIOS {
        let (Some(num), Some(den)) = (figures.get(ratio.numerator), figures.get(ratio.denominator))
        else {
            continue;
        };
        if den.value > 0.0 {
            let value = num.value / den.value;
            figures.insert(
                ratio.figure.to_owned(),
                Figure {
                    value,
                    unit: "ratio".into(),
                },
            );
        }
    }
}

/// The entries of `dir` sorted by name; none if it does not exist.
fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    let mut paths: Vec<_> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn write_criterion(
        dir: &Path,
        group: &str,
        function: &str,
        elements: u64,
        median_ns: f64,
    ) -> anyhow::Result<()> {
        let new = dir.join(group).join(function).join("new");
        fs::create_dir_all(&new)?;
        fs::write(
            new.join("benchmark.json"),
            format!(
                r#"{{"group_id":"{group}","function_id":"{function}","value_str":null,
                "throughput":{{"Elements":{elements}}},"full_id":"{group}/{function}","directory_name":"{group}/{function}"}}"#
            ),
        )?;
        fs::write(
            new.join("estimates.json"),
            format!(
                r#"{{"mean":{{"point_estimate":1.0}},"median":{{"point_estimate":{median_ns}}}}}"#
            ),
        )?;
        Ok(())
    }

    #[test]
    fn rates_and_ratios_from_criterion_output() -> anyhow::Result<()> {
        let dir = temp_dir("criterion");
        // 200,000 events in 0.1 s and in 0.25 s.
        write_criterion(&dir, "core", "decode", 200_000, 1e8)?;
        write_criterion(&dir, "core", "decode_aggregate", 200_000, 2.5e8)?;
        // A directory criterion left without results is skipped, not fatal.
        fs::create_dir_all(dir.join("core").join("half_done"))?;
        let mut figures = criterion_rates(&dir)?;
        assert_eq!(figures["core.decode.rate"].value, 2_000_000.0);
        assert_eq!(
            figures["core.decode_aggregate.rate"],
            Figure {
                value: 800_000.0,
                unit: "events/s".into()
            }
        );
        add_ratios(&mut figures);
        assert!((figures["core.aggregate_vs_decode"].value - 0.4).abs() < 1e-12);
        // The serde_json baseline was not measured: no ratio rather than a wrong one.
        assert!(!figures.contains_key("core.aggregate_vs_serde_json"));
        fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn recorded_figures_are_read_from_tsv_files() -> anyhow::Result<()> {
        let dir = temp_dir("tsv");
        fs::create_dir_all(&dir)?;
        fs::write(
            dir.join("memory.tsv"),
            "memory.bytes_per_user\t212.5\tbytes\n",
        )?;
        fs::write(dir.join("notes.txt"), "not figures")?;
        let figures = collect(&dir.join("no-criterion-here"), &dir)?;
        assert_eq!(figures.len(), 1);
        assert_eq!(
            figures["memory.bytes_per_user"],
            Figure {
                value: 212.5,
                unit: "bytes".into()
            }
        );
        fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn malformed_tsv_lines_are_errors() {
        assert!(parse_tsv("a\t1\n").is_err());
        assert!(parse_tsv("a\tone\tbytes\n").is_err());
        assert!(parse_tsv("a\t1\tbytes\textra\n").is_err());
        assert!(parse_tsv("\n").is_ok_and(|f| f.is_empty()));
    }

    #[test]
    fn rate_needs_an_elements_throughput() -> anyhow::Result<()> {
        let estimates = json::parse(r#"{"median":{"point_estimate":1000.0}}"#)?;
        assert_eq!(
            rate(
                &estimates,
                &json::parse(r#"{"throughput":{"Elements":5}}"#)?
            ),
            Some(5e6)
        );
        assert_eq!(
            rate(&estimates, &json::parse(r#"{"throughput":{"Bytes":5}}"#)?),
            None
        );
        assert_eq!(
            rate(&estimates, &json::parse(r#"{"throughput":null}"#)?),
            None
        );
        Ok(())
    }
}
