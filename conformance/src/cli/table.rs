//! The console view of a [`RunReport`]: the per-rule verdict table, then each failure with its
//! counterexample (expected vs observed, transcripts, replay command, raw frames), then the
//! property, coverage and mutant lines, then the summary.

use hubspec_conformance::report::{Finding, RunReport, Verdict};
use std::fmt::Write as _;

/// Frames longer than this are cut in the console (the reports keep them whole).
const FRAME_CHARS_MAX: usize = 300;

/// A finding's lines (its one text form, [`Finding`]'s `Display`), indented, each shortened
/// except the replay command, which must stay whole to be pasted into a shell.
fn write_finding(out: &mut String, f: &Finding) {
    for line in f.to_string().lines() {
        if line.trim_start().starts_with("replay: ") {
            let _ = writeln!(out, "  {line}");
        } else {
            let _ = writeln!(out, "  {}", shorten(line, FRAME_CHARS_MAX));
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    let visible: String = s
        .chars()
        .map(|c| match c {
            '\u{1e}' => '␞',
            c if c.is_control() && c != '\n' => '�',
            c => c,
        })
        .collect();
    if visible.chars().count() <= max {
        visible
    } else {
        let cut: String = visible.chars().take(max).collect();
        format!("{cut}… ({} chars)", visible.chars().count())
    }
}

/// The whole console report.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hubspec {}  target: {}",
        report.hubspec_version, report.target
    );
    for spec in &report.specs {
        let _ = writeln!(out, "  spec: {spec}");
    }
    // Root causes lead: each is one thing to fix; the failures below show their minimal
    // counterexamples.
    if !report.root_causes.is_empty() {
        let _ = writeln!(out, "\nROOT CAUSES");
        for root in &report.root_causes {
            let _ = writeln!(out, "  {}", root.summary());
        }
    }
    let width = report
        .rules
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "\n{:<width$}  {:<15} {:>5} {:>8}  DETAIL",
        "RULE", "VERDICT", "CASES", "TIME"
    );
    for r in &report.rules {
        let detail = match &r.verdict {
            Verdict::Pass => String::new(),
            Verdict::Fail => r.findings.first().map_or(String::new(), |f| {
                format!("{} at step {} ({})", f.kind.name(), f.step, f.case)
            }),
            Verdict::Blocked { blocked_by } => format!("by {}", blocked_by.join(", ")),
            Verdict::NotApplicable { reason } => reason.clone(),
            Verdict::AllowedVariant { variant } => variant.clone(),
        };
        let name = match &r.verdict {
            Verdict::Fail => "FAIL".to_string(),
            v => v.name().replace('-', " "),
        };
        let row = format!(
            "{:<width$}  {:<15} {:>5} {:>7.2}s  {}",
            r.id,
            name,
            r.cases,
            r.duration.as_secs_f64(),
            shorten(&detail, 120)
        );
        let _ = writeln!(out, "{}", row.trim_end());
    }
    for r in report.rules.iter().filter(|r| r.verdict.is_failure()) {
        let _ = writeln!(out, "\nFAIL  {}  {}", r.id, r.statement);
        for f in &r.findings {
            write_finding(&mut out, f);
        }
    }
    if let Some(p) = &report.properties {
        let _ = write!(
            out,
            "\nproperties: {} random histories, {} operations: ",
            p.cases, p.ops
        );
        match &p.counterexample {
            None => out.push_str("no divergence\n"),
            Some(f) => {
                out.push_str("COUNTEREXAMPLE (shrunk)\n");
                write_finding(&mut out, f);
            }
        }
    }
    if !report.unselected_findings.is_empty() {
        let _ = writeln!(
            out,
            "\nDIVERGENCES OUTSIDE THE SELECTED RULES: {} (they fail the run)",
            report.unselected_findings.len()
        );
        for f in report.unselected_findings.iter().take(3) {
            write_finding(&mut out, f);
        }
    }
    if let Some(c) = &report.coverage {
        let _ = writeln!(
            out,
            "\nexhaustive: {}: {} of {} transitions covered ({:.1} %){}, {} walks, {} operations",
            c.bounds,
            c.covered,
            c.transitions,
            c.percent(),
            c.excluded_text(),
            c.walks,
            c.ops
        );
    }
    if let Some(mutants) = &report.mutants {
        let caught = mutants.iter().filter(|m| m.detected).count();
        let _ = writeln!(out, "\nmutants: {caught} of {} caught", mutants.len());
        for m in mutants {
            let how = if m.detected {
                format!(
                    "caught by {} in {:.2} s after {} ops{}",
                    m.by.as_deref().unwrap_or("?"),
                    m.time_to_detection.as_secs_f64(),
                    m.ops_to_detection,
                    m.shrunk_len
                        .map_or(String::new(), |n| format!(", shrunk to {n} steps"))
                )
            } else {
                "MISSED".to_string()
            };
            let _ = writeln!(out, "  {:<34} {how}  [{}]", m.fault, m.breaks.join(", "));
        }
    }
    let c = report.counts();
    let _ = writeln!(
        out,
        "\n{} root causes; {} rules: {} pass, {} fail, {} blocked, {} not applicable, {} allowed variant; {:.1} s",
        report.root_causes.len(),
        report.rules.len(),
        c.pass,
        c.fail,
        c.blocked,
        c.not_applicable,
        c.allowed_variant,
        report.duration.as_secs_f64()
    );
    out
}
