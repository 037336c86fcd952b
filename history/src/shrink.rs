//! Shrinking a failing history to a small witness by weakening it (research §6.5 A).
//!
//! Every move only removes constraints, so "the weakened history still fails" implies "the
//! original fails" and the witness is sound: cut at the earliest time that still fails (later
//! operations go, operations still running become indeterminate), drop sends (with their
//! deliveries), turn completed changes into indeterminate ones. No membership change is ever
//! deleted: removing a join can turn an explained delivery into an unexplained one, a false
//! witness. A candidate is kept when it still shows the same anomaly on the same connection.

use crate::check::check;
use crate::error::HistoryError;
use crate::history::{End, History, StreamEvent};
use crate::verdict::{Anomaly, Verdict, Violation};
use std::collections::BTreeSet;
use std::time::Duration;

/// Shrink `h`, checking each candidate within `budget`. `None` when `h` does not fail;
/// otherwise the smallest failing history found and its violation.
pub fn shrink(h: &History, budget: Duration) -> Result<Option<(History, Violation)>, HistoryError> {
    let Some(first) = first_violation(h, budget)? else {
        return Ok(None);
    };
    let sig = (first.anomaly, first.conn);
    let fails = |cand: &History| first_violation_matching(cand, budget, sig);
    let mut best = (h.clone(), first);

    // 1. The earliest cut that still fails (binary search over invocation times).
    let mut times: Vec<u64> = best.0.ops.iter().map(|o| o.inv).collect();
    times.sort_unstable();
    times.dedup();
    let (mut lo, mut hi) = (0, times.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        let cand = cut(&best.0, times[mid]);
        if let Some(v) = fails(&cand)? {
            best = (cand, v);
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }

    // 2. Drop sends, latest first.
    let mut sends: Vec<u64> = best
        .0
        .ops
        .iter()
        .filter(|o| o.payload().is_some())
        .map(|o| o.id)
        .collect();
    sends.sort_unstable_by(|a, b| b.cmp(a));
    for id in sends {
        let cand = drop_send(&best.0, id);
        if let Some(v) = fails(&cand)? {
            best = (cand, v);
        }
    }

    // 3. Completed changes become indeterminate.
    let changes: Vec<u64> = best
        .0
        .ops
        .iter()
        .filter(|o| o.payload().is_none() && matches!(o.end, End::Completed { .. }))
        .map(|o| o.id)
        .collect();
    for id in changes {
        let mut cand = best.0.clone();
        for o in cand.ops.iter_mut().filter(|o| o.id == id) {
            if let End::Completed { ts, .. } = o.end {
                o.end = End::Info { ts };
            }
        }
        if let Some(v) = fails(&cand)? {
            best = (cand, v);
        }
    }

    // 4. Only the failing connection's stream (the other partitions are independent at L1).
    if let Some(conn) = sig.1 {
        let mut cand = best.0.clone();
        cand.streams.retain(|c, _| *c == conn);
        if cand != best.0 {
            if let Some(v) = fails(&cand)? {
                best = (cand, v);
            }
        }
    }
    Ok(Some(best))
}

fn first_violation(h: &History, budget: Duration) -> Result<Option<Violation>, HistoryError> {
    Ok(match check(h, budget)?.verdict {
        Verdict::Violations(v) => v.into_iter().next(),
        _ => None,
    })
}

fn first_violation_matching(
    h: &History,
    budget: Duration,
    sig: (Anomaly, Option<hubspec_model::ConnId>),
) -> Result<Option<Violation>, HistoryError> {
    Ok(match check(h, budget)?.verdict {
        Verdict::Violations(v) => v.into_iter().find(|v| (v.anomaly, v.conn) == sig),
        _ => None,
    })
}

/// `h` up to time `t`: operations invoked later go (a send with its deliveries), operations
/// that had not ended by `t` become indeterminate, stream ends after `t` go.
pub fn cut(h: &History, t: u64) -> History {
    let mut c = h.clone();
    let gone: BTreeSet<String> = c
        .ops
        .iter()
        .filter(|o| o.inv > t)
        .filter_map(|o| o.payload().map(str::to_string))
        .collect();
    c.ops.retain(|o| o.inv <= t);
    for o in &mut c.ops {
        match o.end {
            End::Completed { ts, .. } if ts > t => o.end = End::Info { ts: t },
            End::Pending => o.end = End::Info { ts: t },
            _ => {}
        }
    }
    for s in c.streams.values_mut() {
        s.retain(|e| match e {
            StreamEvent::Deliver { payload, .. } => !gone.contains(payload),
            StreamEvent::Close { ts } => *ts <= t,
        });
    }
    c
}

/// `h` without send `id` and its deliveries.
pub fn drop_send(h: &History, id: u64) -> History {
    let mut c = h.clone();
    let payload = c.get(id).and_then(|o| o.payload().map(str::to_string));
    c.ops.retain(|o| o.id != id);
    if let Some(p) = payload {
        for s in c.streams.values_mut() {
            s.retain(|e| !matches!(e, StreamEvent::Deliver { payload, .. } if *payload == p));
        }
    }
    c
}
