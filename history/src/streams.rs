//! The stream checks: what each connection received, judged without any search.
//!
//! Payloads are unique per send, so every delivery names its send, and these checks are
//! linear, like Jepsen's queue checkers (research §3): a payload no send carried, too many
//! copies, an order that contradicts real time on one connection, anything after the end of
//! the stream, and an invocation that never ended. They run first and, as in etcd's
//! robustness tests, a history that fails them is not searched: the search would fail too and
//! bury the simpler finding.

use crate::history::{max_copies, End, History, OpRecord, StreamEvent};
use crate::verdict::{violation, Anomaly, Violation};
use std::collections::BTreeMap;

/// Every stream violation of `h`, by connection, then by kind.
pub fn stream_violations(h: &History) -> Vec<Violation> {
    let sends: BTreeMap<&str, &OpRecord> = h
        .ops
        .iter()
        .filter_map(|o| o.payload().map(|p| (p, o)))
        .collect();
    let mut out = Vec::new();
    for (conn, stream) in &h.streams {
        let v = |anomaly, ops, detail| violation(anomaly, Some(*conn), ops, detail);
        let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
        // FIFO sweep (research F3): a violation iff a delivery's send returned before the
        // latest invocation among the sends received before it.
        let mut latest: Option<&OpRecord> = None;
        let mut closed = false;
        for e in stream {
            let payload = match e {
                StreamEvent::Close { .. } => {
                    closed = true;
                    continue;
                }
                StreamEvent::Deliver { payload, .. } => payload.as_str(),
            };
            if closed {
                out.push(v(
                    Anomaly::AfterClose,
                    sends.get(payload).map(|s| vec![s.id]).unwrap_or_default(),
                    format!("received {payload:?} after its stream ended"),
                ));
            }
            let Some(send) = sends.get(payload) else {
                out.push(v(
                    Anomaly::Phantom,
                    vec![],
                    format!("received {payload:?}, which no send carried"),
                ));
                continue;
            };
            let n = copies.entry(payload).or_default();
            *n += 1;
            if *n == max_copies(&h.spec, &send.op) + 1 {
                out.push(v(
                    Anomaly::Duplicate,
                    vec![send.id],
                    format!(
                        "received {payload:?} (#{}) more than {} time(s)",
                        send.id,
                        *n - 1
                    ),
                ));
            }
            if let Some(before) = latest {
                if send.ret() < before.inv {
                    out.push(v(
                        Anomaly::Reordered,
                        vec![before.id, send.id],
                        format!(
                            "received #{} after #{}, though #{} completed before #{} was invoked",
                            send.id, before.id, send.id, before.id
                        ),
                    ));
                }
            }
            if latest.is_none_or(|l| send.inv > l.inv) {
                latest = Some(send);
            }
        }
    }
    for o in &h.ops {
        if o.end == End::Pending {
            out.push(violation(
                Anomaly::Hung,
                o.lane(),
                vec![o.id],
                format!("#{} ({}) never completed", o.id, o.op.kind()),
            ));
        }
    }
    out
}
