//! `junit.xml`: one `<testsuite>` per scenario and one `<testcase>` per step,
//! so CI systems show each step (kuttl moved to this granularity for the
//! same reason). Failures carry the message as an attribute and the diff as
//! text; skipped steps carry their reason. Times are real seconds; the
//! cluster time is a property of each suite.

use std::fmt::Write as _;

use super::report::{Outcome, RunReport, ScenarioReport, StepReport};

/// Renders the report as JUnit XML.
pub fn render(report: &RunReport) -> String {
    let totals = &report.totals;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"harness e2e\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
        totals.steps + setup_errors(report),
        totals.steps_failed + setup_errors(report),
        totals.steps_skipped,
        report.durations.real.as_secs_f64()
    );
    for scenario in &report.scenarios {
        suite(&mut out, report, scenario);
    }
    out.push_str("</testsuites>\n");
    out
}

fn setup_errors(report: &RunReport) -> usize {
    report
        .scenarios
        .iter()
        .filter(|s| s.setup_error.is_some())
        .count()
}

fn suite(out: &mut String, report: &RunReport, scenario: &ScenarioReport) {
    let setup = usize::from(scenario.setup_error.is_some());
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
        attr(&scenario.name),
        scenario.steps.len() + setup,
        scenario.steps_with(Outcome::Fail) + setup,
        scenario.steps_with(Outcome::Skip),
        scenario.durations.real.as_secs_f64(),
        attr(report.started_at.trim_end_matches('Z')),
    );
    out.push_str("    <properties>\n");
    let mut properties = vec![
        ("file", scenario.file.display().to_string()),
        ("namespace", scenario.namespace.clone()),
        ("backend", report.backend.backend.to_owned()),
        (
            "clusterTimeSeconds",
            format!("{:.3}", scenario.durations.cluster.as_secs_f64()),
        ),
    ];
    if let Some(dir) = &scenario.diagnostics {
        properties.push(("diagnostics", dir.display().to_string()));
    }
    for (key, value) in &scenario.labels {
        properties.push(("label", format!("{key}={value}")));
    }
    for (name, value) in properties {
        let _ = writeln!(
            out,
            "      <property name=\"{}\" value=\"{}\"/>",
            attr(name),
            attr(&value)
        );
    }
    out.push_str("    </properties>\n");
    if let Some(error) = &scenario.setup_error {
        let _ = writeln!(
            out,
            "    <testcase classname=\"{}\" name=\"setup\" time=\"0.000\">\n      <failure message=\"{}\" type=\"setup\"/>\n    </testcase>",
            attr(&scenario.name),
            attr(error)
        );
    }
    for step in &scenario.steps {
        case(out, scenario, step);
    }
    out.push_str("  </testsuite>\n");
}

fn case(out: &mut String, scenario: &ScenarioReport, step: &StepReport) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
        attr(&scenario.name),
        attr(&format!("{} {}", step.id, step.name)),
        step.durations.real.as_secs_f64()
    );
    match (&step.failure, step.outcome) {
        (Some(failure), _) => {
            let mut body = failure.diff.join("\n");
            if let Some(output) = &failure.output {
                if !body.is_empty() {
                    body.push('\n');
                }
                body.push_str(output);
            }
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                attr(&failure.message),
                step.verb,
                text(&body)
            );
        }
        (None, Outcome::Skip) => {
            let reason = step.skip_reason.as_deref().unwrap_or("");
            let _ = writeln!(
                out,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                attr(reason)
            );
        }
        (None, _) => out.push_str("/>\n"),
    }
}

/// Escapes text content. Characters XML 1.0 cannot represent at all (most
/// control characters) become U+FFFD rather than producing a file parsers
/// reject.
pub fn text(raw: &str) -> String {
    escape(raw, false)
}

/// Escapes an attribute value; line breaks and tabs are kept as character
/// references so parsers do not normalise them to spaces.
pub fn attr(raw: &str) -> String {
    escape(raw, true)
}

fn escape(raw: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn escapes_markup_quotes_and_control_characters() {
        assert_eq!(
            attr(r#"a<b>&"c"'d'"#),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;"
        );
        assert_eq!(attr("line1\nline2\tx"), "line1&#10;line2&#9;x");
        assert_eq!(text("x < y\n\"q\""), "x &lt; y\n\"q\"");
        assert_eq!(text("bell\u{7}nul\u{0}"), "bell\u{FFFD}nul\u{FFFD}");
        assert_eq!(text("]]>"), "]]&gt;");
    }

    /// Reverses the escaping, as an XML parser would.
    fn unescape(escaped: &str) -> String {
        escaped
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#10;", "\n")
            .replace("&#13;", "\r")
            .replace("&#9;", "\t")
            .replace("&amp;", "&")
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_raw_markup_and_round_trips(raw in any::<String>()) {
            for escaped in [attr(&raw), text(&raw)] {
                prop_assert!(!escaped.contains('<'));
                prop_assert!(!escaped.chars().any(|c| (c as u32) < 0x20 && c != '\n' && c != '\t'));
                // Every '&' starts an entity.
                for (at, _) in escaped.match_indices('&') {
                    let rest = &escaped[at..];
                    prop_assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#10;", "&#13;", "&#9;"].iter().any(|e| rest.starts_with(e)));
                }
                let legal: String = raw.chars().map(|c| if ((c as u32) < 0x20 && !"\n\r\t".contains(c)) || c == '\u{FFFE}' || c == '\u{FFFF}' { '\u{FFFD}' } else { c }).collect();
                prop_assert_eq!(unescape(&escaped), legal);
            }
            prop_assert!(!attr(&raw).contains('"'));
        }
    }
}
