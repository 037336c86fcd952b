//! `junit.xml`: the [`RunReport`] as JUnit XML, for CI test-report viewers.
//!
//! One `<testsuite name="hubspec.rules">` holds one `<testcase classname="hubspec.<AREA>"
//! name="<RULE-ID>">` per rule, in catalog order:
//! - pass: an empty test case;
//! - fail: `<failure message="<the first finding's header>" type="<kind>">` with every
//!   finding in full, as its `Display` prints it (expected, observed, transcripts, replay
//!   command, raw frames);
//! - not applicable: `<skipped message="not applicable: <reason>"/>`;
//! - allowed variant: passes, with `<system-out>allowed variant: <variant></system-out>`.
//!
//! Further suites, only when those parts ran: `hubspec.properties` (one case, failing with the
//! shrunk counterexample) and `hubspec.mutants` (one case per refhub fault, failing when the
//! suite missed it). Everything that came from the target is escaped, and characters XML 1.0
//! cannot carry (the SignalR record separator `\u{1e}` among them) are written as their visible
//! Unicode control pictures (`␞`).

use crate::report::{Finding, RunReport, Verdict};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Escapes text for XML content and attribute values; control characters become their
/// control pictures (U+2400 + code), which XML 1.0 accepts and a reader can still see.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'))
            }
            '\u{7f}' => out.push('\u{2421}'),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The area of a rule ID: its prefix before the first dash (`GRP-ADD-IDEMPOTENT` → `GRP`).
pub fn area(rule_id: &str) -> &str {
    rule_id.split('-').next().unwrap_or(rule_id)
}

fn secs(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// The report as JUnit XML.
pub fn to_string(report: &RunReport) -> String {
    let counts = report.counts();
    let mut roots = String::new();
    for root in &report.root_causes {
        let _ = write!(
            roots,
            "    <testcase classname=\"hubspec.root-causes\" name=\"{}\" time=\"0\">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
            escape(&root.summary()),
            escape(&root.finding.header()),
            escape(root.kind.name()),
            escape(&root.finding.to_string())
        );
    }
    let mut rules = String::new();
    for r in &report.rules {
        let _ = write!(
            rules,
            "    <testcase classname=\"hubspec.{}\" name=\"{}\" time=\"{}\"",
            escape(area(&r.id)),
            escape(&r.id),
            secs(r.duration)
        );
        match &r.verdict {
            Verdict::Pass => rules.push_str("/>\n"),
            Verdict::Fail => {
                let message = r
                    .findings
                    .first()
                    .map_or_else(|| "failed".to_string(), Finding::header);
                let kind = r.findings.first().map_or("fail", |f| f.kind.name());
                let body = r
                    .findings
                    .iter()
                    .map(Finding::to_string)
                    .collect::<Vec<_>>()
                    .join("\n");
                let _ = write!(
                    rules,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                    escape(&message),
                    escape(kind),
                    escape(&body)
                );
            }
            Verdict::NotApplicable { reason } => {
                let _ = write!(
                    rules,
                    ">\n      <skipped message=\"not applicable: {}\"/>\n    </testcase>\n",
                    escape(reason)
                );
            }
            Verdict::Blocked { blocked_by } => {
                let _ = write!(
                    rules,
                    ">\n      <skipped message=\"blocked by {}\"/>\n    </testcase>\n",
                    escape(&blocked_by.join(", "))
                );
            }
            Verdict::AllowedVariant { variant } => {
                let _ = write!(
                    rules,
                    ">\n      <system-out>allowed variant: {}</system-out>\n    </testcase>\n",
                    escape(variant)
                );
            }
        }
    }
    // Root causes lead: each is one thing to fix; the rules follow with their verdicts.
    let mut suites = vec![
        (
            "hubspec.root-causes".to_string(),
            report.root_causes.len(),
            report.root_causes.len(),
            0,
            Default::default(),
            roots,
        ),
        (
            "hubspec.rules".to_string(),
            report.rules.len(),
            counts.fail,
            counts.not_applicable + counts.blocked,
            report.duration,
            rules,
        ),
    ];
    if let Some(p) = &report.properties {
        let mut body = format!(
            "    <testcase classname=\"hubspec.properties\" name=\"random histories\" time=\"0\">\n      <system-out>{} cases, {} operations</system-out>\n",
            p.cases, p.ops
        );
        if let Some(f) = &p.counterexample {
            let _ = writeln!(
                body,
                "      <failure message=\"{}\" type=\"counterexample\">{}</failure>",
                escape(&f.header()),
                escape(&f.to_string())
            );
        }
        body.push_str("    </testcase>\n");
        let failed = usize::from(p.counterexample.is_some());
        suites.push((
            "hubspec.properties".into(),
            1,
            failed,
            0,
            Default::default(),
            body,
        ));
    }
    if let Some(mutants) = &report.mutants {
        let mut body = String::new();
        for m in mutants {
            let _ = writeln!(
                body,
                "    <testcase classname=\"hubspec.mutants\" name=\"{}\" time=\"{}\">",
                escape(&m.fault),
                secs(m.time_to_detection)
            );
            if m.detected {
                let _ = writeln!(
                    body,
                    "      <system-out>caught by {} after {} operations (breaks {})</system-out>",
                    escape(m.by.as_deref().unwrap_or("?")),
                    m.ops_to_detection,
                    escape(&m.breaks.join(", "))
                );
            } else {
                let _ = writeln!(
                    body,
                    "      <failure message=\"mutant not detected: {}\" type=\"missed-mutant\"/>",
                    escape(&m.breaks.join(", "))
                );
            }
            body.push_str("    </testcase>\n");
        }
        let missed = mutants.iter().filter(|m| !m.detected).count();
        suites.push((
            "hubspec.mutants".into(),
            mutants.len(),
            missed,
            0,
            Default::default(),
            body,
        ));
    }
    let tests: usize = suites.iter().map(|s| s.1).sum();
    let failures: usize = suites.iter().map(|s| s.2).sum();
    let skipped: usize = suites.iter().map(|s| s.3).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"hubspec\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\">",
        secs(report.duration)
    );
    for (name, tests, failures, skipped, time, body) in suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\">",
            secs(time)
        );
        let _ = writeln!(
            out,
            "    <properties>\n      <property name=\"target\" value=\"{}\"/>\n      <property name=\"specs\" value=\"{}\"/>\n      <property name=\"hubspec_version\" value=\"{}\"/>\n    </properties>",
            escape(&report.target),
            escape(&report.specs.join("; ")),
            escape(&report.hubspec_version)
        );
        out.push_str(&body);
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Writes `junit.xml` into `dir` (created if missing) and returns its path.
pub fn write(dir: &Path, report: &RunReport) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("junit.xml");
    std::fs::write(&path, to_string(report))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_json::fixtures::{passing_report, sample_report};

    #[test]
    fn every_rule_is_one_testcase_named_by_its_id_in_its_area() {
        let xml = to_string(&sample_report());
        let rules_suite = xml
            .split("<testsuite name=\"hubspec.rules\"")
            .nth(1)
            .unwrap()
            .split("</testsuite>")
            .next()
            .unwrap();
        assert_eq!(rules_suite.matches("<testcase ").count(), 5);
        assert!(xml.contains("<skipped message=\"blocked by GRP-ADD-IDEMPOTENT\"/>"));
        // Root causes lead, one testcase each, named by their summary.
        assert!(
            xml.find("hubspec.root-causes") < xml.find("name=\"hubspec.rules\""),
            "root causes first"
        );
        assert!(xml.contains(
            "<testcase classname=\"hubspec.root-causes\" name=\"GRP-ADD-IDEMPOTENT: duplicate at SendToGroup (3 cases)\""
        ));
        assert!(xml.contains("<testcase classname=\"hubspec.GRP\" name=\"GRP-ADD-IDEMPOTENT\""));
        assert!(xml.contains("<skipped message=\"not applicable: needs capability rooms\"/>"));
        assert!(xml.contains("<system-out>allowed variant: groups_fanout = once</system-out>"));
        // The message is the first finding's header; its type the kind.
        assert!(xml.contains(
            "<failure message=\"[GRP-ADD-IDEMPOTENT, SND-EXACTLY-ONCE] step 4 (c2 SendToGroup("
        ));
        assert!(xml.contains("\" type=\"duplicate\">"));
    }

    #[test]
    fn target_content_is_escaped_and_control_characters_are_made_visible() {
        let xml = to_string(&sample_report());
        assert!(!xml.contains("<script>"));
        assert!(xml.contains("&lt;script&gt;"));
        assert!(!xml.contains('\u{1e}') && !xml.contains('\u{7}'));
        assert!(xml.contains('\u{241e}'), "the record separator shows as ␞");
        assert!(xml.contains("]]&gt;"));
        // The attribute values are quoted and their quotes escaped.
        assert!(xml.contains("value=\"http://127.0.0.1:5000/hub?a=1&amp;b=&lt;2&gt;\""));
    }

    #[test]
    fn the_counts_add_up_across_suites() {
        let xml = to_string(&sample_report());
        assert!(xml.contains(
            "<testsuites name=\"hubspec\" tests=\"8\" failures=\"3\" errors=\"0\" skipped=\"2\""
        ));
        let xml = to_string(&passing_report());
        assert!(xml.contains("tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\""));
        assert!(!xml.contains("hubspec.mutants"));
    }
}
