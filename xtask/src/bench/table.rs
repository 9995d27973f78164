//! The table `cargo xtask bench` prints: one row per figure with its value,
//! the target and whether it is met, the baseline, and the gate's
//! verdict. Pure text formatting.

use std::collections::BTreeMap;

use super::{
    collect::Figures,
    gate::{Check, Outcome, Rule, describe},
};

/// A number short enough for a table: integers with thousands separators
/// from 1,000 up, otherwise three significant decimals at most.
pub(crate) fn compact(n: f64) -> String {
    if !n.is_finite() {
        return format!("{n}");
    }
    if n.abs() >= 1000.0 {
        let digits = format!("{:.0}", n.abs());
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        return if n < 0.0 {
            format!("-{grouped}")
        } else {
            grouped
        };
    }
    let text = format!("{n:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// Renders the table. Figures named by a rule but absent from this run get a
/// row too, so a bench that failed to run is visible.
pub(crate) fn render(
    figures: &Figures,
    rules: &[Rule],
    baseline: &BTreeMap<String, f64>,
    checks: &[Check],
) -> String {
    let mut names: Vec<&str> = figures.keys().map(String::as_str).collect();
    names.extend(
        rules
            .iter()
            .map(|r| r.figure.as_str())
            .filter(|f| !figures.contains_key(*f)),
    );
    names.sort_unstable();

    let header = ["figure", "value", "unit", "target", "baseline", "gate"].map(str::to_owned);
    let mut rows = vec![header];
    for name in names {
        let figure = figures.get(name);
        let rule = rules.iter().find(|r| r.figure == name);
        let target = match (rule, figure) {
            (Some(rule), Some(figure)) => match rule.meets_target(figure.value) {
                Some(true) => format!("{} met", rule.target_text()),
                Some(false) => format!("{} MISSED", rule.target_text()),
                None => String::new(),
            },
            (Some(rule), None) if rule.target.is_some() => rule.target_text(),
            _ => String::new(),
        };
        let gate = match checks.iter().find(|c| c.figure == name) {
            Some(check) => describe(&check.outcome),
            None => "not gated".to_owned(),
        };
        rows.push([
            name.to_owned(),
            figure.map_or_else(|| "-".to_owned(), |f| compact(f.value)),
            figure.map_or_else(String::new, |f| f.unit.clone()),
            target,
            baseline
                .get(name)
                .map_or_else(|| "-".to_owned(), |b| compact(*b)),
            gate,
        ]);
    }

    let widths: Vec<usize> = (0..6)
        .map(|col| {
            rows.iter()
                .map(|row| row[col].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(col, (cell, width))| {
                // Numbers right-aligned, text left-aligned; the last column is not padded.
                if col == 5 {
                    cell.clone()
                } else if col == 1 || col == 4 {
                    format!("{cell:>width$}")
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The gate's one-line summary.
pub(crate) fn summary(checks: &[Check]) -> String {
    let failed = checks.iter().filter(|c| c.outcome.fails()).count();
    let improved = checks
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Improved { .. }))
        .count();
    format!(
        "{} gated figures: {} failed, {} improved beyond the threshold",
        checks.len(),
        failed,
        improved
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{
        collect::Figure,
        gate::{Better, compare},
    };

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(1_234_567.8), "1,234,568");
        assert_eq!(compact(1000.0), "1,000");
        assert_eq!(compact(-20_000.0), "-20,000");
        assert_eq!(compact(0.71234), "0.712");
        assert_eq!(compact(1.5), "1.5");
        assert_eq!(compact(2.0), "2");
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(0.0001), "0");
    }

    #[test]
    fn rows_show_targets_baselines_and_missing_figures() {
        let figures: Figures = [(
            "core.ratio".to_owned(),
            Figure {
                value: 0.5,
                unit: "ratio".into(),
            },
        )]
        .into_iter()
        .collect();
        let rules = vec![
            Rule {
                figure: "core.ratio".into(),
                better: Better::Higher,
                target: Some(0.7),
                max_regression: Some(0.2),
            },
            Rule {
                figure: "e2e.ratio".into(),
                better: Better::Higher,
                target: Some(0.6),
                max_regression: Some(0.2),
            },
        ];
        let baseline: BTreeMap<String, f64> =
            [("core.ratio".to_owned(), 0.8)].into_iter().collect();
        let current = figures.iter().map(|(k, f)| (k.clone(), f.value)).collect();
        let checks = compare(&rules, &current, &baseline);
        let table = render(&figures, &rules, &baseline, &checks);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(
            lines[1].starts_with("core.ratio") && lines[1].contains(">= 0.7 MISSED"),
            "{table}"
        );
        assert!(
            lines[1].contains("0.8") && lines[1].contains("REGRESSED"),
            "{table}"
        );
        assert!(
            lines[2].starts_with("e2e.ratio") && lines[2].contains("MISSING"),
            "{table}"
        );
        assert!(summary(&checks).contains("2 failed"));
    }
}
