//! The checker's pipeline (research §6.2): the history's assumptions, the stream checks, then
//! one L1 search per connection, and for a connection that fails, the blame.
//!
//! Blame relaxes the failing search one assumption at a time and names the first assumption
//! whose relaxation explains the history: that a resume replays exactly what was kept
//! ([`Anomaly::ResumeGap`]), that membership changes take effect by their completion
//! ([`Anomaly::LateChange`]), that disconnects, drops and resumes do
//! ([`Anomaly::LateEnd`]); if none does, a send's deliveries fit no point of its own interval
//! ([`Anomaly::NoPoint`]).

use crate::error::HistoryError;
use crate::history::History;
use crate::search::{search, Effort, Found, Partition};
use crate::streams::stream_violations;
use crate::verdict::{violation, Anomaly, Verdict};
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
                let (anomaly, sure) = blame(&p, deadline, &mut report);
                let mut detail = match stuck.and_then(|id| h.get(id)) {
                    Some(o) => match o.payload() {
                        Some(payload) => format!(
                            "received {} cop(ies) of #{} ({}, [{}, {}]); no order of the sends \
                             and {}'s changes within their intervals explains that ({placed} placed)",
                            h.copies(c.id, payload),
                            o.id,
                            o.op.kind(),
                            o.inv,
                            fmt_ret(o.ret()),
                            c.id
                        ),
                        None => format!(
                            "#{} ({}, [{}, {}]) fits no placement ({placed} placed)",
                            o.id,
                            o.op.kind(),
                            o.inv,
                            fmt_ret(o.ret())
                        ),
                    },
                    None => format!("no placement explains the history ({placed} placed)"),
                };
                if !sure {
                    detail.push_str(" (blame inconclusive: a relaxed search ran out of time)");
                }
                violations.push(violation(
                    anomaly,
                    Some(c.id),
                    stuck.into_iter().collect(),
                    detail,
                ));
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

fn fmt_ret(ret: u64) -> String {
    if ret == crate::history::NEVER {
        "never".into()
    } else {
        ret.to_string()
    }
}

fn add(report: &mut Report, effort: Effort) {
    report.states += effort.states;
    report.steps += effort.steps;
}

/// Whether it applies, how to relax a partition, what is found when that explains it.
type Relaxation = (bool, fn(&Partition) -> Partition, Anomaly);

/// What a failing partition shows: the first relaxation that explains it; `false` when a
/// relaxed search ran out of time, so a later kind may be named for an earlier one.
fn blame(p: &Partition, deadline: Instant, report: &mut Report) -> (Anomaly, bool) {
    let mut sure = true;
    let relaxations: [Relaxation; 3] = [
        (
            !p.suspensions.is_empty(),
            Partition::with_any_replay,
            Anomaly::ResumeGap,
        ),
        (true, |p| p.with_late_changes(false), Anomaly::LateChange),
        (true, |p| p.with_late_changes(true), Anomaly::LateEnd),
    ];
    for (applies, relax, anomaly) in relaxations {
        if !applies {
            continue;
        }
        let (found, effort) = search(&relax(p), deadline);
        add(report, effort);
        match found {
            Found::Linearizable => return (anomaly, sure),
            Found::Unknown => sure = false,
            Found::Illegal { .. } => {}
        }
    }
    (Anomaly::NoPoint, sure)
}
