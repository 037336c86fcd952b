//! The JSON Lines form of a history: what a recorder writes and a user keeps and re-checks.
//!
//! One record per line, events in time order, so a crashed recorder still leaves a valid
//! prefix, and `jq`/`grep` work on it (research §6.1). The first line is a header with the
//! format version:
//!
//! ```text
//! {"t":"header","v":1,"spec":{...},"conns":[{"id":1,"user":"u0"},{"id":2}],"clock":"ns"}
//! {"t":"invoke","id":7,"ts":12345,"op":{"AddToGroup":{"caller":1,"group":"g1"}}}
//! {"t":"complete","id":7,"ts":12990,"result":"ok"}
//! {"t":"info","id":9,"ts":13010}
//! {"t":"deliver","conn":2,"ts":13002,"payload":"h42-8"}
//! {"t":"close","conn":2,"ts":14000}
//! ```
//!
//! An operation with no `complete` or `info` line hung. Deliveries of one connection are in
//! its receive order.

use crate::error::HistoryError;
use crate::history::{ConnInfo, End, History, OpId, OpRecord, StreamEvent};
use hubspec_model::{ConnId, Op, OpResult, Spec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufRead;

/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;

/// One line.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
enum Record {
    Header {
        v: u32,
        spec: Spec,
        conns: Vec<ConnInfo>,
        #[serde(default)]
        clock: String,
    },
    Invoke {
        id: OpId,
        ts: u64,
        op: Op,
    },
    Complete {
        id: OpId,
        ts: u64,
        result: OpResult,
    },
    Info {
        id: OpId,
        ts: u64,
    },
    Deliver {
        conn: ConnId,
        ts: u64,
        payload: String,
    },
    Close {
        conn: ConnId,
        ts: u64,
    },
}

/// The history as JSON Lines, events in time order (ties keep each stream's own order).
pub fn to_jsonl(h: &History) -> String {
    let header = Record::Header {
        v: VERSION,
        spec: h.spec,
        conns: h.conns.clone(),
        clock: "ns".into(),
    };
    let mut events: Vec<(u64, Record)> = Vec::new();
    for o in &h.ops {
        events.push((
            o.inv,
            Record::Invoke {
                id: o.id,
                ts: o.inv,
                op: o.op.clone(),
            },
        ));
        match o.end {
            End::Completed { ts, result } => events.push((
                ts,
                Record::Complete {
                    id: o.id,
                    ts,
                    result,
                },
            )),
            End::Info { ts } => events.push((ts, Record::Info { id: o.id, ts })),
            End::Pending => {}
        }
    }
    for (conn, stream) in &h.streams {
        for e in stream {
            let r = match e {
                StreamEvent::Deliver { ts, payload } => Record::Deliver {
                    conn: *conn,
                    ts: *ts,
                    payload: payload.clone(),
                },
                StreamEvent::Close { ts } => Record::Close {
                    conn: *conn,
                    ts: *ts,
                },
            };
            events.push((e.ts(), r));
        }
    }
    // Stable: equal times keep insertion order, so an invocation precedes its own completion
    // and each stream keeps its order.
    events.sort_by_key(|(ts, _)| *ts);
    let mut out = String::new();
    for r in std::iter::once(&header).chain(events.iter().map(|(_, r)| r)) {
        out.push_str(&serde_json::to_string(r).expect("a record always serialises"));
        out.push('\n');
    }
    out
}

/// Read a history from JSON Lines. Blank lines are skipped; every error names its line.
pub fn from_jsonl(input: impl BufRead) -> Result<History, HistoryError> {
    let mut header: Option<(Spec, Vec<ConnInfo>)> = None;
    let mut ops: Vec<OpRecord> = Vec::new();
    let mut index: BTreeMap<OpId, usize> = BTreeMap::new();
    let mut streams: BTreeMap<ConnId, Vec<StreamEvent>> = BTreeMap::new();
    for (i, line) in input.lines().enumerate() {
        let line_no = i + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&line).map_err(|source| HistoryError::Json {
            line: line_no,
            source,
        })?;
        let header_err = |what| HistoryError::Header {
            line: line_no,
            what,
        };
        match (record, header.is_some()) {
            (Record::Header { v, spec, conns, .. }, false) => {
                if v != VERSION {
                    return Err(HistoryError::Version {
                        line: line_no,
                        found: v,
                    });
                }
                header = Some((spec, conns));
            }
            (Record::Header { .. }, true) => return Err(header_err("a second header")),
            (_, false) => return Err(header_err("the first record must be the header")),
            (Record::Invoke { id, ts, op }, true) => {
                if index.insert(id, ops.len()).is_some() {
                    return Err(op_err(line_no, id, "is invoked twice"));
                }
                ops.push(OpRecord {
                    id,
                    op,
                    inv: ts,
                    end: End::Pending,
                });
            }
            (Record::Complete { id, ts, result }, true) => {
                end(&mut ops, &index, line_no, id, End::Completed { ts, result })?
            }
            (Record::Info { id, ts }, true) => {
                end(&mut ops, &index, line_no, id, End::Info { ts })?
            }
            (Record::Deliver { conn, ts, payload }, true) => streams
                .entry(conn)
                .or_default()
                .push(StreamEvent::Deliver { ts, payload }),
            (Record::Close { conn, ts }, true) => streams
                .entry(conn)
                .or_default()
                .push(StreamEvent::Close { ts }),
        }
    }
    let Some((spec, conns)) = header else {
        return Err(HistoryError::Header {
            line: 1,
            what: "the history is empty: no header",
        });
    };
    // Canonical order, so a history reads back equal to the one written.
    ops.sort_by_key(|o| o.id);
    let h = History {
        spec,
        conns,
        ops,
        streams,
    };
    h.validate()?;
    Ok(h)
}

fn op_err(line: usize, id: OpId, what: &'static str) -> HistoryError {
    HistoryError::OpRecord { line, id, what }
}

fn end(
    ops: &mut [OpRecord],
    index: &BTreeMap<OpId, usize>,
    line: usize,
    id: OpId,
    e: End,
) -> Result<(), HistoryError> {
    let Some(&i) = index.get(&id) else {
        return Err(op_err(line, id, "ends but was never invoked"));
    };
    if ops[i].end != End::Pending {
        return Err(op_err(line, id, "ends twice"));
    }
    ops[i].end = e;
    Ok(())
}
