//! A plain-text timeline per connection: its operations as intervals and what it received,
//! merged by time, with the violations marked. The HTML drawing is to come (issue 16).

use crate::history::{End, History, OpRecord, StreamEvent};
use crate::verdict::Violation;
use hubspec_model::format_op;
use std::fmt::Write;

/// The timeline of `h`, one block per connection, marking the operations `marks` name.
pub fn render(h: &History, marks: &[Violation]) -> String {
    let mut out = String::new();
    for c in &h.conns {
        let user = c
            .user
            .as_deref()
            .map(|u| format!(" (user {u})"))
            .unwrap_or_default();
        let _ = writeln!(out, "{}{user}", c.id);
        let mut lines: Vec<(u64, u8, String)> = Vec::new();
        for o in h.ops.iter().filter(|o| o.lane() == Some(c.id)) {
            lines.push((o.inv, 0, op_line(o, marks)));
        }
        for e in h.streams.get(&c.id).into_iter().flatten() {
            let text = match e {
                StreamEvent::Deliver { ts, payload } => {
                    let from = h
                        .send_of(payload)
                        .map_or("no send".to_string(), |s| format!("#{}", s.id));
                    format!("  @{ts:>8}  received {payload:?} ({from})")
                }
                StreamEvent::Close { ts } => format!("  @{ts:>8}  stream ended"),
            };
            lines.push((e.ts(), 1, text));
        }
        // Stable: each stream keeps its order among equal times.
        lines.sort_by_key(|(ts, kind, _)| (*ts, *kind));
        for (_, _, l) in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    for v in marks {
        let _ = writeln!(out, "{v}");
    }
    out
}

fn op_line(o: &OpRecord, marks: &[Violation]) -> String {
    let (ret, result) = match &o.end {
        End::Completed { ts, result } => (ts.to_string(), result.to_string()),
        End::Info { ts } => (format!("?{ts}"), "indeterminate".to_string()),
        End::Pending => ("…".to_string(), "never completed".to_string()),
    };
    let rules: Vec<&str> = marks
        .iter()
        .filter(|v| v.ops.contains(&o.id))
        .map(|v| v.rule)
        .collect();
    let mark = if rules.is_empty() {
        String::new()
    } else {
        format!("   <-- {}", rules.join(", "))
    };
    format!(
        "  [{:>8} .. {ret:>8}] #{} {} -> {result}{mark}",
        o.inv,
        o.id,
        format_op(&o.op)
    )
}
