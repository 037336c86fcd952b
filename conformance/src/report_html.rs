//! `report.html`: the [`RunReport`] as one self-contained page.
//!
//! The page has inline CSS only: no script, no font, no image, no link to anything, so it opens
//! from a CI artifact as it is. Sections: a summary (target, specs, counts, the outcome), the
//! per-rule table (`<table id="rules">`, one `<tr class="verdict-…" data-rule="ID">` per
//! rule), the failures with their transcripts, replay commands and raw frames in `<pre>`, and
//! the coverage, property-based and mutant sections when those parts ran.
//!
//! Everything that can come from the target (payloads, frames, observations, and the target
//! string itself) is untrusted: every piece of text goes through [`escape`], which also turns
//! control characters (the SignalR record separator `\u{1e}` among them) into their visible
//! control pictures (`␞`).

use crate::report::{Finding, RunReport, Verdict};
use crate::report_junit::area;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Escapes text for HTML content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'))
            }
            '\u{7f}' => out.push('\u{2421}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --pass: #1a7f37; --fail: #cf222e; --na: #6e7781; --variant: #9a6700; --blocked: #8250df; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; background: #fff; }
header { padding: 18px 28px; border-bottom: 1px solid #d0d7de; background: #f6f8fa; }
header h1 { margin: 0 0 6px; font-size: 22px; }
main { padding: 8px 28px 40px; max-width: 1400px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dl.meta dt { color: #57606a; }
dl.meta dd { margin: 0; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.outcome { display: inline-block; padding: 3px 12px; border-radius: 6px; color: #fff; font-weight: 600; }
.outcome.passed { background: var(--pass); }
.outcome.failed { background: var(--fail); }
.counts { display: flex; gap: 10px; flex-wrap: wrap; margin: 12px 0 0; padding: 0; list-style: none; }
.counts li { border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 12px; background: #fff; }
.counts b { font-size: 18px; margin-right: 4px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { background: #f6f8fa; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.id { font-family: ui-monospace, monospace; white-space: nowrap; }
.badge { display: inline-block; min-width: 7.5em; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px; font-weight: 600; text-align: center; }
tr.verdict-pass .badge { background: var(--pass); }
tr.verdict-fail .badge { background: var(--fail); }
tr.verdict-fail { background: #ffebe9; }
tr.verdict-not-applicable .badge { background: var(--na); }
tr.verdict-not-applicable td { color: #57606a; }
tr.verdict-allowed-variant .badge { background: var(--variant); }
tr.verdict-blocked .badge { background: var(--blocked); }
tr.verdict-blocked td { color: #57606a; }
.note { color: #57606a; font-size: 13px; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 10px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; font: 12.5px/1.4 ui-monospace, monospace; margin: 4px 0 10px; }
section.finding { border-left: 4px solid var(--fail); padding: 2px 0 2px 14px; margin: 14px 0 22px; }
.kv { font-family: ui-monospace, monospace; }
svg.timeline { width: 100%; height: auto; border: 1px solid #d0d7de; border-radius: 6px; background: #fff; font: 11px ui-monospace, monospace; }
svg.timeline .lane { stroke: #eaeef2; }
svg.timeline .op { fill: #ddf4ff; stroke: #0969da; }
svg.timeline .op.send { fill: #fff8c5; stroke: #9a6700; }
svg.timeline .op.open { stroke-dasharray: 4 3; }
svg.timeline .op.marked { fill: #ffebe9; stroke: var(--fail); stroke-width: 2; }
svg.timeline .dlv { fill: #1a7f37; }
svg.timeline .dlv.marked { fill: var(--fail); }
svg.timeline .end { stroke: #1f2328; stroke-width: 2; }
"#;

fn verdict_detail(v: &Verdict) -> String {
    match v {
        Verdict::NotApplicable { reason } => escape(reason),
        Verdict::Blocked { blocked_by } => {
            let links: Vec<String> = blocked_by
                .iter()
                .map(|id| format!("<a href=\"#fail-{0}\">{0}</a>", escape(id)))
                .collect();
            format!("blocked by {}", links.join(", "))
        }
        Verdict::AllowedVariant { variant } => format!("variant: {}", escape(variant)),
        _ => String::new(),
    }
}

fn finding_html(out: &mut String, f: &Finding) {
    out.push_str("<section class=\"finding\">\n");
    let _ = writeln!(out, "<h3 class=\"kv\">{}</h3>", escape(&f.header()));
    let _ = writeln!(
        out,
        "<dl class=\"meta\"><dt>case</dt><dd>{}</dd><dt>expected</dt><dd>{}</dd><dt>observed</dt><dd>{}</dd></dl>",
        escape(&f.case),
        escape(&f.expected),
        escape(&f.observed)
    );
    let _ = writeln!(
        out,
        "<div class=\"note\">observed transcript</div>\n<pre class=\"transcript\">{}</pre>",
        escape(f.transcript.trim_end())
    );
    let _ = writeln!(
        out,
        "<div class=\"note\">expected transcript (the model)</div>\n<pre class=\"transcript\">{}</pre>",
        escape(f.expected_transcript.trim_end())
    );
    let _ = writeln!(
        out,
        "<div class=\"note\">replay</div>\n<pre class=\"replay\">{}</pre>",
        escape(&f.replay)
    );
    if !f.frames.is_empty() {
        let _ = writeln!(
            out,
            "<div class=\"note\">raw wire frames (␞ is the record separator)</div>\n<pre class=\"frames\">{}</pre>",
            escape(&f.frames.join("\n"))
        );
    }
    out.push_str("</section>\n");
}

/// The report as a self-contained HTML page.
pub fn to_string(report: &RunReport) -> String {
    let c = report.counts();
    let passed = report.passed();
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // No script, no external resource: forbid both, so a report cannot be made to load any.
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    let _ = writeln!(
        out,
        "<title>hubspec report: {} — {}</title>",
        escape(&report.target),
        if passed { "passed" } else { "failed" }
    );
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(
        out,
        "<header>\n<h1>hubspec conformance report <span id=\"outcome\" class=\"outcome {}\">{}</span></h1>",
        if passed { "passed" } else { "failed" },
        if passed { "PASSED" } else { "FAILED" }
    );
    let _ = writeln!(
        out,
        "<dl class=\"meta\"><dt>target</dt><dd>{}</dd><dt>specs</dt><dd>{}</dd><dt>hubspec</dt><dd>{}</dd><dt>started</dt><dd>{} (Unix time)</dd><dt>duration</dt><dd>{:.1} s</dd></dl>",
        escape(&report.target),
        escape(&report.specs.join("; ")),
        escape(&report.hubspec_version),
        report.started_unix,
        report.duration.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "<ul class=\"counts\" id=\"summary\"><li><b>{}</b>root causes</li><li><b>{}</b>rules</li><li><b>{}</b>pass</li><li><b>{}</b>fail</li><li><b>{}</b>blocked</li><li><b>{}</b>not applicable</li><li><b>{}</b>allowed variant</li></ul>\n</header>\n<main>",
        report.root_causes.len(),
        report.rules.len(),
        c.pass,
        c.fail,
        c.blocked,
        c.not_applicable,
        c.allowed_variant
    );

    // Root causes lead: each is one thing to fix, with how many cases it explains.
    if !report.root_causes.is_empty() {
        out.push_str("<h2 id=\"root-causes\">Root causes</h2>\n<table id=\"root-cause-table\">\n<thead><tr><th>rule</th><th>divergence</th><th>at</th><th>cases</th><th>minimal counterexample</th></tr></thead>\n<tbody>\n");
        for root in &report.root_causes {
            let _ = writeln!(
                out,
                "<tr class=\"verdict-fail\" data-root=\"{}\"><td class=\"id\"><a href=\"#fail-{}\">{}</a></td><td>{}</td><td class=\"id\">{}</td><td class=\"num\">{}</td><td><pre class=\"transcript\">{}</pre><pre class=\"replay\">{}</pre></td></tr>",
                escape(root.rule),
                escape(root.rule),
                escape(root.rule),
                escape(root.kind.name()),
                escape(root.op_kind.unwrap_or("–")),
                root.cases,
                escape(root.finding.transcript.trim_end()),
                escape(&root.finding.replay)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }

    out.push_str("<h2>Rules</h2>\n<table id=\"rules\">\n<thead><tr><th>rule</th><th>area</th><th>verdict</th><th>cases</th><th>time</th><th>statement</th><th>detail</th></tr></thead>\n<tbody>\n");
    for r in &report.rules {
        let detail = match &r.verdict {
            Verdict::Fail => r.findings.first().map_or_else(String::new, |f| {
                format!(
                    "<a href=\"#fail-{}\">{} at step {}</a>",
                    escape(&r.id),
                    escape(f.kind.name()),
                    f.step
                )
            }),
            v => verdict_detail(v),
        };
        let _ = writeln!(
            out,
            "<tr class=\"verdict-{}\" data-rule=\"{}\"><td class=\"id\">{}</td><td>{}</td><td><span class=\"badge\">{}</span></td><td class=\"num\">{}</td><td class=\"num\">{:.2} s</td><td>{}</td><td>{}</td></tr>",
            r.verdict.name(),
            escape(&r.id),
            escape(&r.id),
            escape(area(&r.id)),
            r.verdict.name().replace('-', " "),
            r.cases,
            r.duration.as_secs_f64(),
            escape(&r.statement),
            detail
        );
    }
    out.push_str("</tbody>\n</table>\n");

    let failing: Vec<_> = report
        .rules
        .iter()
        .filter(|r| r.verdict.is_failure())
        .collect();
    if !failing.is_empty() {
        out.push_str("<h2 id=\"failures\">Failures</h2>\n");
        for r in failing {
            let _ = writeln!(
                out,
                "<h3 id=\"fail-{}\" class=\"kv\">{}</h3>\n<div class=\"note\">{}</div>",
                escape(&r.id),
                escape(&r.id),
                escape(&r.statement)
            );
            for f in &r.findings {
                finding_html(&mut out, f);
            }
        }
    }

    if let Some(c) = &report.coverage {
        let _ = writeln!(
            out,
            "<h2 id=\"coverage\">Bounded-exhaustive coverage</h2>\n<dl class=\"meta\"><dt>bounds</dt><dd>{}</dd><dt>transitions</dt><dd>{} of {} covered ({:.1} %){}</dd><dt>walks</dt><dd>{}</dd><dt>operations</dt><dd>{}</dd></dl>",
            escape(&c.bounds),
            c.covered,
            c.transitions,
            c.percent(),
            escape(&c.excluded_text()),
            c.walks,
            c.ops
        );
    }
    if let Some(p) = &report.properties {
        let _ = writeln!(
            out,
            "<h2 id=\"properties\">Property-based histories</h2>\n<p>{} random histories, {} operations: {}.</p>",
            p.cases,
            p.ops,
            if p.counterexample.is_some() {
                "a counterexample was found (shrunk)"
            } else {
                "no divergence"
            }
        );
        if let Some(f) = &p.counterexample {
            finding_html(&mut out, f);
        }
    }
    if let Some(mutants) = &report.mutants {
        out.push_str("<h2 id=\"mutants\">Mutants (refhub faults)</h2>\n<table id=\"mutant-table\">\n<thead><tr><th>fault</th><th>breaks</th><th>detected</th><th>by</th><th>time</th><th>operations</th><th>shrunk</th></tr></thead>\n<tbody>\n");
        for m in mutants {
            let _ = writeln!(
                out,
                "<tr class=\"verdict-{}\"><td class=\"id\">{}</td><td>{}</td><td><span class=\"badge\">{}</span></td><td>{}</td><td class=\"num\">{:.2} s</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                if m.detected { "pass" } else { "fail" },
                escape(&m.fault),
                escape(&m.breaks.join(", ")),
                if m.detected { "caught" } else { "missed" },
                escape(m.by.as_deref().unwrap_or("–")),
                m.time_to_detection.as_secs_f64(),
                m.ops_to_detection,
                m.shrunk_len.map_or("–".to_string(), |n| format!("{n} steps"))
            );
        }
        out.push_str("</tbody>\n</table>\n");
        for m in mutants {
            if let Some(cx) = &m.counterexample {
                let _ = writeln!(
                    out,
                    "<div class=\"note\">{}: shrunk counterexample</div>\n<pre>{}</pre>",
                    escape(&m.fault),
                    escape(cx.trim_end())
                );
            }
        }
    }
    if let Some(stats) = &report.concurrent {
        concurrent_html(&mut out, stats);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// The concurrent part's first failing history, as its witness: a timeline per connection.
fn concurrent_html(out: &mut String, stats: &crate::concurrent::ConcurrentStats) {
    let _ = writeln!(
        out,
        "<h2 id=\"concurrent\">Concurrent histories</h2>\n<p>{} histories, {} operations, {} deliveries; {} failed, {} unknown; worst check {:.1} ms. Each is kept as <code>concurrent/&lt;name&gt;.jsonl</code> in the report directory.</p>",
        stats.histories,
        stats.ops,
        stats.deliveries,
        stats.failed,
        stats.unknown,
        stats.worst_check_ms
    );
    let Some(f) = stats.failures.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "<section class=\"finding\" id=\"concurrent-failure\">\n<h3>{} — witness of <span class=\"kv\">{}</span></h3>\n<p class=\"kv\">{}</p>\n<p class=\"note\">One lane per connection: each operation is a bar from its invocation to its Completion (dashed when it never completed), each message a dot on the lane of the connection that received it, a stream's end a bar across its lane. The violation's operations and messages are red; hover for details. Re-check: <code>{}</code></p>",
        escape(f.violation.rule),
        escape(&f.name),
        escape(&f.violation.to_string()),
        escape(&crate::concurrent::recheck_command(&f.name))
    );
    out.push_str(&timeline_svg(
        &f.witness,
        std::slice::from_ref(&f.violation),
    ));
    let _ = writeln!(
        out,
        "<pre>{}</pre>\n</section>",
        escape(hubspec_history::render(&f.witness, std::slice::from_ref(&f.violation)).trim_end())
    );
}

/// A concurrent history as a static SVG (no script: the page's policy forbids it), with a
/// `<title>` on every bar and dot for its details.
pub fn timeline_svg(h: &hubspec_history::History, marks: &[hubspec_history::Violation]) -> String {
    use hubspec_history::{End, StreamEvent, NEVER};
    const LEFT: f64 = 60.0;
    const WIDTH: f64 = 1100.0;
    const LANE: f64 = 44.0;
    let marked_ops: Vec<u64> = marks.iter().flat_map(|v| v.ops.iter().copied()).collect();
    let marked_payloads: Vec<&str> = h
        .ops
        .iter()
        .filter(|o| marked_ops.contains(&o.id))
        .filter_map(|o| o.payload())
        .collect();
    let end_of = |o: &hubspec_history::OpRecord| match o.end {
        End::Completed { ts, .. } | End::Info { ts } => ts,
        End::Pending => o.inv,
    };
    let times = h
        .ops
        .iter()
        .flat_map(|o| [o.inv, end_of(o)])
        .chain(h.streams.values().flatten().map(StreamEvent::ts))
        .filter(|t| *t != NEVER);
    let (lo, hi) = times.fold((u64::MAX, 0), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let (lo, hi) = if lo > hi {
        (0, 1)
    } else {
        (lo, hi.max(lo + 1))
    };
    let x = |t: u64| LEFT + (t.saturating_sub(lo)) as f64 / (hi - lo) as f64 * WIDTH;
    let height = LANE * h.conns.len() as f64 + 24.0;
    let mut s = format!(
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {:.0} {height:.0}\" role=\"img\" aria-label=\"timeline per connection\">\n",
        LEFT + WIDTH + 20.0
    );
    for (i, c) in h.conns.iter().enumerate() {
        let y = 12.0 + LANE * i as f64;
        let user = c
            .user
            .as_deref()
            .map(|u| format!(" {u}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "<g class=\"conn\" data-conn=\"{}\"><line class=\"lane\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/><text x=\"4\" y=\"{:.1}\">{}{}</text>",
            c.id,
            LEFT + WIDTH,
            y + LANE / 2.0,
            y + LANE / 2.0,
            y + LANE / 2.0 + 4.0,
            c.id,
            escape(&user)
        );
        for o in h.ops.iter().filter(|o| o.lane() == Some(c.id)) {
            let (x0, x1) = (x(o.inv), x(end_of(o)).max(x(o.inv) + 2.0));
            let open = !matches!(o.end, End::Completed { .. });
            let class = format!(
                "op{}{}{}",
                if o.payload().is_some() { " send" } else { "" },
                if open { " open" } else { "" },
                if marked_ops.contains(&o.id) {
                    " marked"
                } else {
                    ""
                }
            );
            let result = match &o.end {
                End::Completed { result, .. } => result.to_string(),
                End::Info { .. } => "indeterminate".into(),
                End::Pending => "never completed".into(),
            };
            let _ = writeln!(
                s,
                "<rect class=\"{class}\" data-op=\"{}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\"><title>#{} {} [{} .. {}] -&gt; {}</title></rect>",
                o.id,
                y + 4.0,
                x1 - x0,
                o.id,
                escape(&hubspec_model::format_op(&o.op)),
                o.inv,
                end_of(o),
                escape(&result)
            );
        }
        for e in h.streams.get(&c.id).into_iter().flatten() {
            match e {
                StreamEvent::Deliver { ts, payload } => {
                    let from = h
                        .send_of(payload)
                        .map_or("no send".to_string(), |o| format!("#{}", o.id));
                    let class = if marked_payloads.contains(&payload.as_str()) {
                        "dlv marked"
                    } else {
                        "dlv"
                    };
                    let _ = writeln!(
                        s,
                        "<circle class=\"{class}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"><title>{} received {} ({from}) at {ts}</title></circle>",
                        x(*ts),
                        y + 30.0,
                        c.id,
                        escape(&format!("{payload:?}"))
                    );
                }
                StreamEvent::Close { ts } => {
                    let _ = writeln!(
                        s,
                        "<line class=\"end\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" y2=\"{2:.1}\"><title>{3}'s stream ended at {ts}</title></line>",
                        x(*ts),
                        y + 2.0,
                        y + LANE - 4.0,
                        c.id
                    );
                }
            }
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

/// Writes `report.html` into `dir` (created if missing) and returns its path.
pub fn write(dir: &Path, report: &RunReport) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("report.html");
    std::fs::write(&path, to_string(report))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_json::fixtures::{passing_report, sample_report};

    #[test]
    fn the_page_has_one_row_per_rule_with_its_verdict_class() {
        let html = to_string(&sample_report());
        // One row per rule, one per root cause, one per mutant.
        assert_eq!(html.matches("<tr class=\"verdict-").count(), 5 + 1 + 1);
        assert!(html.contains("<tr class=\"verdict-fail\" data-root=\"GRP-ADD-IDEMPOTENT\">"));
        assert!(
            html.find("id=\"root-causes\"") < html.find("id=\"rules\""),
            "root causes lead"
        );
        assert!(html.contains("blocked by <a href=\"#fail-GRP-ADD-IDEMPOTENT\">"));
        for (class, id) in [
            ("fail", "GRP-ADD-IDEMPOTENT"),
            ("pass", "GRP-REMOVE-ONE"),
            ("blocked", "SND-EXACTLY-ONCE"),
            ("not-applicable", "ROOM-RESTORE-ON-CONNECT"),
            ("allowed-variant", "SND-GROUPS-FANOUT"),
        ] {
            assert!(
                html.contains(&format!(
                    "<tr class=\"verdict-{class}\" data-rule=\"{id}\">"
                )),
                "{id}"
            );
        }
        assert!(html.contains("id=\"failures\"") && html.contains("id=\"mutants\""));
        assert!(html.contains("FAILED"));
    }

    #[test]
    fn nothing_from_the_target_can_inject_markup() {
        let html = to_string(&sample_report());
        assert!(!html.contains("<script>alert"), "payloads are escaped");
        assert!(!html.contains("</pre><b>"), "frames cannot close the <pre>");
        assert!(html.contains("&lt;/pre&gt;&lt;b&gt;x&lt;/b&gt;"));
        assert!(!html.contains('\u{1e}') && !html.contains('\u{7}'));
        assert!(html.contains('\u{241e}'));
    }

    /// A failing concurrent history is drawn: a lane per connection, a bar per operation, a dot
    /// per message, the violation's in red, and nothing from the target unescaped.
    #[test]
    fn a_concurrent_failure_is_drawn_as_a_timeline() {
        use hubspec_history::{End, History};
        use hubspec_model::{ConnId, Op, OpResult, Selector, Spec};
        let mut h = History::new(Spec::default(), &[None, Some("<u>")]);
        let send = h.op(
            Op::Send {
                caller: ConnId(1),
                selector: Selector::Group(Some("g".into())),
                payload: "<m>".into(),
            },
            30,
            End::Completed {
                ts: 40,
                result: OpResult::Ok,
            },
        );
        h.op(
            Op::AddToGroup {
                caller: ConnId(2),
                group: Some("g".into()),
            },
            50,
            End::Completed {
                ts: 60,
                result: OpResult::Ok,
            },
        );
        h.deliver(ConnId(2), 70, "<m>");
        let hubspec_history::Verdict::Violations(vs) =
            hubspec_history::check(&h, std::time::Duration::from_secs(5))
                .unwrap()
                .verdict
        else {
            panic!("the history fails")
        };
        assert_eq!(vs[0].rule, "CC-ATOMIC-SEND");
        assert_eq!(vs[0].ops, [send]);
        let svg = timeline_svg(&h, &vs);
        assert_eq!(svg.matches("<g class=\"conn\"").count(), 2);
        assert_eq!(svg.matches("<rect ").count(), 2);
        assert_eq!(svg.matches("<circle class=\"dlv marked\"").count(), 1);
        assert!(
            svg.contains("class=\"op send marked\" data-op=\"1\""),
            "{svg}"
        );
        assert!(!svg.contains("<m>") && !svg.contains("<u>"), "{svg}");
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = to_string(&sample_report());
        for needle in [
            "<script",
            "<link",
            "<img",
            "src=",
            "url(",
            "@import",
            "http-equiv=\"refresh\"",
        ] {
            assert!(!html.contains(needle), "{needle}");
        }
        let html = to_string(&passing_report());
        assert!(html.contains("PASSED") && !html.contains("id=\"failures\""));
    }
}
