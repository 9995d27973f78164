//! The regression gate's rules and its verdicts: a pure function from
//! (rules, this run's figures, the baseline's figures) to one check per gated
//! figure, plus the target verdicts shown beside them. No I/O here, so every
//! outcome is unit-tested.
//!
//! Rules come from `ci/bench-gate.txt`, one line per figure:
//! `figure better target max-regression`, where `better` is `higher` or
//! `lower`, `target` is the issue's target (or `-`), and `max-regression` is
//! the largest relative change in the bad direction that still passes (or `-`
//! for a figure that is reported but never gated, such as absolute rates on a
//! noisy machine). `#` starts a comment.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};

/// Which direction is better for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Better {
    /// Rates, ratios.
    Higher,
    /// Round trips, bytes.
    Lower,
}

/// How one figure is judged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rule {
    /// E.g. `core.aggregate_vs_decode`.
    pub(crate) figure: String,
    /// Which direction is better.
    pub(crate) better: Better,
    /// The issue's target, if it sets one.
    pub(crate) target: Option<f64>,
    /// Largest relative change in the bad direction that passes; `None`: not gated.
    pub(crate) max_regression: Option<f64>,
}

impl Rule {
    /// Whether `value` meets the target (`None` when there is no target).
    pub(crate) fn meets_target(&self, value: f64) -> Option<bool> {
        self.target.map(|target| match self.better {
            Better::Higher => value >= target,
            Better::Lower => value <= target,
        })
    }

    /// The target as text, e.g. `>= 0.7`.
    pub(crate) fn target_text(&self) -> String {
        match (self.target, self.better) {
            (None, _) => "-".to_owned(),
            (Some(t), Better::Higher) => format!(">= {}", super::table::compact(t)),
            (Some(t), Better::Lower) => format!("<= {}", super::table::compact(t)),
        }
    }
}

/// Parses the rules file's text.
pub(crate) fn parse_rules(text: &str) -> anyhow::Result<Vec<Rule>> {
    let mut rules: Vec<Rule> = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let rule = parse_rule(line).with_context(|| format!("line {}: `{line}`", idx + 1))?;
        if rules.iter().any(|r| r.figure == rule.figure) {
            bail!("line {}: figure {} appears twice", idx + 1, rule.figure);
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn parse_rule(line: &str) -> anyhow::Result<Rule> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [figure, better, target, max_regression] = words[..] else {
        bail!("expected 4 columns: figure better target max-regression");
    };
    let better = match better {
        "higher" => Better::Higher,
        "lower" => Better::Lower,
        other => bail!("`better` must be higher or lower, not {other}"),
    };
    let optional = |word: &str, what: &str| -> anyhow::Result<Option<f64>> {
        if word == "-" {
            return Ok(None);
        }
        let n: f64 = word
            .parse()
            .with_context(|| format!("{what} `{word}` is not a number"))?;
        if !n.is_finite() || n < 0.0 {
            bail!("{what} must be a non-negative number, not {word}");
        }
        Ok(Some(n))
    };
    Ok(Rule {
        figure: figure.to_owned(),
        better,
        target: optional(target, "target")?,
        max_regression: optional(max_regression, "max-regression")?,
    })
}

/// The verdict on one gated figure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Within the threshold. `change` is relative to the baseline, positive = better.
    Pass { change: f64 },
    /// Better than the baseline by more than the threshold (consider `--save-baseline`).
    Improved { change: f64 },
    /// Worse than the baseline by more than `limit`.
    Regressed { change: f64, limit: f64 },
    /// This run did not produce the figure (a bench failed or was not run).
    Missing,
    /// The baseline has no value for the figure yet.
    NoBaseline,
}

impl Outcome {
    /// Whether this outcome fails the gate.
    pub(crate) fn fails(&self) -> bool {
        matches!(
            self,
            Outcome::Regressed { .. } | Outcome::Missing | Outcome::NoBaseline
        )
    }
}

/// One gated figure's check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    /// The figure.
    pub(crate) figure: String,
    /// The verdict.
    pub(crate) outcome: Outcome,
}

/// Checks every gated rule's figure in `current` against `baseline`.
pub(crate) fn compare(
    rules: &[Rule],
    current: &BTreeMap<String, f64>,
    baseline: &BTreeMap<String, f64>,
) -> Vec<Check> {
    rules
        .iter()
        .filter_map(|rule| {
            let limit = rule.max_regression?;
            let outcome = match (current.get(&rule.figure), baseline.get(&rule.figure)) {
                (None, _) => Outcome::Missing,
                (Some(_), None) => Outcome::NoBaseline,
                (Some(&now), Some(&before)) => {
                    let change = relative_change(rule.better, now, before);
                    if change < -limit {
                        Outcome::Regressed { change, limit }
                    } else if change > limit {
                        Outcome::Improved { change }
                    } else {
                        Outcome::Pass { change }
                    }
                }
            };
            Some(Check {
                figure: rule.figure.clone(),
                outcome,
            })
        })
        .collect()
}

/// `now` relative to `before`, signed so that positive is better.
pub(crate) fn relative_change(better: Better, now: f64, before: f64) -> f64 {
    let raw = if before == 0.0 {
        if now == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(now)
        }
    } else {
        (now - before) / before.abs()
    };
    match better {
        Better::Higher => raw,
        Better::Lower => -raw,
    }
}

/// The checks that fail the gate, as one line each.
pub(crate) fn failures(checks: &[Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|check| check.outcome.fails())
        .map(|check| format!("{}: {}", check.figure, describe(&check.outcome)))
        .collect()
}

/// The bench targets (a figure's first name component, e.g. `core`) whose
/// figures regressed, sorted and without repeats: what a confirmation run
/// re-runs. Missing figures are not retried: a bench that failed is not noise.
pub(crate) fn regressed_targets(checks: &[Check]) -> Vec<String> {
    let mut targets: Vec<String> = checks
        .iter()
        .filter(|check| matches!(check.outcome, Outcome::Regressed { .. }))
        .filter_map(|check| check.figure.split('.').next())
        .map(str::to_owned)
        .collect();
    targets.sort();
    targets.dedup();
    targets
}

/// A short human description of an outcome.
pub(crate) fn describe(outcome: &Outcome) -> String {
    let pct = |x: f64| format!("{:+.1}%", x * 100.0);
    match outcome {
        Outcome::Pass { change } => format!("ok ({})", pct(*change)),
        Outcome::Improved { change } => format!("improved ({})", pct(*change)),
        Outcome::Regressed { change, limit } => {
            format!(
                "REGRESSED ({} against the baseline; the limit is -{:.0}%)",
                pct(*change),
                limit * 100.0
            )
        }
        Outcome::Missing => "MISSING from this run (did a bench fail?)".to_owned(),
        Outcome::NoBaseline => "NO BASELINE (run `cargo xtask bench --save-baseline`)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), *value))
            .collect()
    }

    fn rule(figure: &str, better: Better, max_regression: Option<f64>) -> Rule {
        Rule {
            figure: figure.to_owned(),
            better,
            target: None,
            max_regression,
        }
    }

    fn only(checks: Vec<Check>) -> Outcome {
        assert_eq!(checks.len(), 1, "{checks:?}");
        checks
            .into_iter()
            .next()
            .map(|c| c.outcome)
            .unwrap_or(Outcome::Missing)
    }

    #[test]
    fn a_small_drop_passes_and_a_large_one_regresses() {
        let rules = [rule("core.ratio", Better::Higher, Some(0.2))];
        let baseline = figures(&[("core.ratio", 0.80)]);
        let ok = only(compare(
            &rules,
            &figures(&[("core.ratio", 0.70)]),
            &baseline,
        ));
        assert!(
            matches!(ok, Outcome::Pass { change } if (change + 0.125).abs() < 1e-9),
            "{ok:?}"
        );
        assert!(!ok.fails());
        let bad = only(compare(
            &rules,
            &figures(&[("core.ratio", 0.60)]),
            &baseline,
        ));
        assert!(
            matches!(bad, Outcome::Regressed { change, limit } if (change + 0.25).abs() < 1e-9 && limit == 0.2)
        );
        assert!(bad.fails());
    }

    #[test]
    fn lower_is_better_figures_regress_upwards() {
        let rules = [rule(
            "redis_sink.round_trips_per_1000",
            Better::Lower,
            Some(0.1),
        )];
        let baseline = figures(&[("redis_sink.round_trips_per_1000", 1.0)]);
        let worse = compare(
            &rules,
            &figures(&[("redis_sink.round_trips_per_1000", 1.5)]),
            &baseline,
        );
        assert!(matches!(only(worse), Outcome::Regressed { .. }));
        let better = compare(
            &rules,
            &figures(&[("redis_sink.round_trips_per_1000", 0.5)]),
            &baseline,
        );
        assert!(
            matches!(only(better), Outcome::Improved { change } if (change - 0.5).abs() < 1e-9)
        );
    }

    #[test]
    fn an_improvement_does_not_fail() {
        let rules = [rule("e2e.ratio", Better::Higher, Some(0.2))];
        let outcome = only(compare(
            &rules,
            &figures(&[("e2e.ratio", 0.9)]),
            &figures(&[("e2e.ratio", 0.6)]),
        ));
        assert!(matches!(outcome, Outcome::Improved { .. }), "{outcome:?}");
        assert!(!outcome.fails());
    }

    #[test]
    fn a_missing_figure_or_baseline_fails() {
        let rules = [
            rule("a", Better::Higher, Some(0.2)),
            rule("b", Better::Higher, Some(0.2)),
        ];
        let checks = compare(&rules, &figures(&[("b", 1.0)]), &figures(&[("a", 1.0)]));
        assert_eq!(checks[0].outcome, Outcome::Missing);
        assert_eq!(checks[1].outcome, Outcome::NoBaseline);
        assert_eq!(failures(&checks).len(), 2);
    }

    #[test]
    fn only_regressed_targets_are_confirmed() {
        let rules = [
            rule("core.a", Better::Higher, Some(0.1)),
            rule("core.b", Better::Higher, Some(0.1)),
            rule("end_to_end.c", Better::Higher, Some(0.1)),
            rule("memory.d", Better::Lower, Some(0.1)),
            rule("redis_sink.e", Better::Higher, Some(0.1)),
        ];
        let current = figures(&[
            ("core.a", 0.5),
            ("core.b", 0.5),
            ("end_to_end.c", 1.0),
            ("redis_sink.e", 0.5),
        ]);
        let baseline = figures(&[
            ("core.a", 1.0),
            ("core.b", 1.0),
            ("end_to_end.c", 1.0),
            ("memory.d", 1.0),
            ("redis_sink.e", 1.0),
        ]);
        let checks = compare(&rules, &current, &baseline);
        // memory.d is missing (a failed bench), end_to_end.c passed.
        assert_eq!(regressed_targets(&checks), ["core", "redis_sink"]);
    }

    #[test]
    fn ungated_figures_are_not_checked() {
        let rules = [rule("core.decode.rate", Better::Higher, None)];
        assert!(compare(&rules, &figures(&[]), &figures(&[])).is_empty());
    }

    #[test]
    fn zero_baselines_do_not_divide_by_zero() {
        assert_eq!(relative_change(Better::Lower, 0.0, 0.0), 0.0);
        assert_eq!(relative_change(Better::Lower, 3.0, 0.0), f64::NEG_INFINITY);
        assert_eq!(relative_change(Better::Higher, 3.0, 0.0), f64::INFINITY);
    }

    #[test]
    fn targets_follow_the_direction() {
        let higher = Rule {
            target: Some(0.7),
            ..rule("r", Better::Higher, None)
        };
        assert_eq!(higher.meets_target(0.7), Some(true));
        assert_eq!(higher.meets_target(0.69), Some(false));
        let lower = Rule {
            target: Some(1.0),
            ..rule("r", Better::Lower, None)
        };
        assert_eq!(lower.meets_target(1.01), Some(false));
        assert_eq!(rule("r", Better::Lower, None).meets_target(5.0), None);
        assert_eq!(higher.target_text(), ">= 0.7");
    }

    #[test]
    fn parses_the_rules_file_format() -> anyhow::Result<()> {
        let text = "# comment\n\ncore.x  higher 1000000 -   # absolute\nsink.rt lower 1 0.1\n";
        let rules = parse_rules(text)?;
        assert_eq!(
            rules,
            vec![
                Rule {
                    figure: "core.x".into(),
                    better: Better::Higher,
                    target: Some(1e6),
                    max_regression: None
                },
                Rule {
                    figure: "sink.rt".into(),
                    better: Better::Lower,
                    target: Some(1.0),
                    max_regression: Some(0.1)
                },
            ]
        );
        for bad in [
            "a higher 1",
            "a sideways 1 -",
            "a higher x -",
            "a higher 1 -0.5",
            "a higher 1 -\na lower - -",
        ] {
            assert!(parse_rules(bad).is_err(), "accepted {bad:?}");
        }
        Ok(())
    }

    /// The committed rules file parses and gates at least the same-run ratios.
    #[test]
    fn the_committed_rules_file_is_valid() -> anyhow::Result<()> {
        let path = crate::process::project_root().join(super::super::RULES_FILE);
        let rules = parse_rules(&std::fs::read_to_string(&path)?)?;
        for figure in super::super::collect::RATIOS.iter().map(|r| r.figure) {
            let rule = rules
                .iter()
                .find(|r| r.figure == figure)
                .with_context(|| format!("no rule for {figure}"))?;
            assert!(
                rule.max_regression.is_some(),
                "{figure} is a same-run ratio and must be gated"
            );
        }
        Ok(())
    }
}
