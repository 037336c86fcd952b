//! The checker's pipeline (research §6.2): the history's assumptions, the stream checks, then
//! one L1 search per connection, and for a connection that fails, the blame.
//!
//! Blame relaxes the failing search one assumption at a time and names the first assumption
//! whose relaxation explains the history: that a resume replays exactly what was kept
//! ([`CC_RESUME_GAP`]), then that membership changes and disconnects take effect by their
//! completion ([`CC_EFFECT_AT_COMPLETION`]); if neither does, a send's deliveries fit no point
//! of its own interval ([`CC_ATOMIC_SEND`]).

use crate::error::HistoryError;
use crate::history::History;
use crate::search::{search, Effort, Found, Partition};
use crate::streams::stream_violations;
use crate::verdict::{Verdict, Violation, CC_ATOMIC_SEND, CC_EFFECT_AT_COMPLETION, CC_RESUME_GAP};
use std::time::{Duration, Instant};

/// The checker's answer with what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// Connections searched.
    pub searched: usize,
    /// Configurations memoised, over all searches.
    pub states: usize,
    /// Model steps tried, over all searches.
    pub steps: u64,
    /// Wall time of the whole check.
    pub elapsed: Duration,
}

/// Check `h` against the model, within `budget` of wall time (searches that do not finish by
/// then answer [`Verdict::Unknown`]).
pub fn check(h: &History, budget: Duration) -> Result<Report, HistoryError> {
    let start = Instant::now();
    let deadline = start + budget;
    h.validate()?;
    let mut report = Report {
        verdict: Verdict::Linearizable,
        searched: 0,
        states: 0,
        steps: 0,
        elapsed: Duration::ZERO,
    };
    let streams = stream_violations(h);
    if !streams.is_empty() {
        report.verdict = Verdict::Violations(streams);
        report.elapsed = start.elapsed();
        return Ok(report);
    }
    let mut violations = Vec::new();
    let mut unknown = None;
    for c in &h.conns {
        let p = Partition::of(h, c.id);
        report.searched += 1;
        let (found, effort) = search(&p, deadline);
        add(&mut report, effort);
        match found {
            Found::Linearizable => {}
            Found::Unknown => unknown = unknown.or(Some(c.id)),
            Found::Illegal { stuck, placed } => {
                let rule = blame(&p, deadline, &mut report);
                let detail = match stuck.and_then(|id| h.get(id)) {
                    Some(o) => format!(
                        "no placement explains #{} ({}) after {placed} placed operation(s)",
                        o.id,
                        o.op.kind()
                    ),
                    None => format!("no placement explains the history after {placed} operations"),
                };
                violations.push(Violation {
                    rule,
                    conn: Some(c.id),
                    ops: stuck.into_iter().collect(),
                    detail,
                });
            }
        }
    }
    report.verdict = match (violations.is_empty(), unknown) {
        (false, _) => Verdict::Violations(violations),
        (true, Some(conn)) => Verdict::Unknown { conn },
        (true, None) => Verdict::Linearizable,
    };
    report.elapsed = start.elapsed();
    Ok(report)
}

fn add(report: &mut Report, effort: Effort) {
    report.states += effort.states;
    report.steps += effort.steps;
}

/// The rule a failing partition breaks: the first relaxation that explains it.
fn blame(p: &Partition, deadline: Instant, report: &mut Report) -> &'static str {
    if !p.suspensions.is_empty() {
        let (found, effort) = search(&p.with_any_replay(), deadline);
        add(report, effort);
        if found == Found::Linearizable {
            return CC_RESUME_GAP;
        }
    }
    let (found, effort) = search(&p.with_late_changes(), deadline);
    add(report, effort);
    if found == Found::Linearizable {
        CC_EFFECT_AT_COMPLETION
    } else {
        CC_ATOMIC_SEND
    }
}
