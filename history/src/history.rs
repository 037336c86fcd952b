//! A concurrent history: operations with their intervals and each connection's stream.
//!
//! Times are one monotonic clock of the recorder, in any unit (the JSONL header says which).
//! Intervals are closed, as in Porcupine (`model.go`: half-open intervals reject correct
//! histories when a clock returns equal readings), so `a` precedes `b` in real time only when
//! `ret(a) < inv(b)`.
//!
//! The connections are opened before the concurrent part starts and are c1..cN in order, so
//! the checker can open them in the model as the hub did; an opening racing other operations
//! is not modelled yet.

use crate::error::HistoryError;
use hubspec_model::{ConnId, Op, OpResult, Profile, Selector, Spec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// An operation's id, unique in its history.
pub type OpId = u64;

/// The return time of an operation that never returned: later than every time.
pub const NEVER: u64 = u64::MAX;

/// A connection of the history, as opened before the concurrent part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnInfo {
    /// Its id (the n-th connection is `cn`).
    pub id: ConnId,
    /// The user it connected as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// A Completion arrived at `ts` with this result.
    Completed {
        /// When the Completion was read.
        ts: u64,
        /// The result it carried.
        result: OpResult,
    },
    /// Indeterminate (Jepsen's `:info`): the recorder gave up at `ts` — the connection was cut,
    /// or a shrinker weakened the operation. It may have taken effect at any time after its
    /// invocation, or never.
    Info {
        /// When the recorder gave up (the lane is free again after it).
        ts: u64,
    },
    /// No end at all: the operation hung (a violation of `PRO-RESPONSIVE`).
    Pending,
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRecord {
    /// Its id.
    pub id: OpId,
    /// What was invoked (the model's own operation).
    pub op: Op,
    /// When it was invoked.
    pub inv: u64,
    /// How it ended.
    pub end: End,
}

impl OpRecord {
    /// Its return time for real-time order: [`NEVER`] unless it completed.
    pub fn ret(&self) -> u64 {
        match self.end {
            End::Completed { ts, .. } => ts,
            _ => NEVER,
        }
    }

    /// The result to check, if it completed.
    pub fn result(&self) -> Option<OpResult> {
        match self.end {
            End::Completed { result, .. } => Some(result),
            _ => None,
        }
    }

    /// The connection whose lane performs it: the caller of an invocation, the connection a
    /// disconnect, drop or resume is about.
    pub fn lane(&self) -> Option<ConnId> {
        lane(&self.op)
    }

    /// The payload, if it is a send.
    pub fn payload(&self) -> Option<&str> {
        match &self.op {
            Op::Send { payload, .. } => Some(payload),
            _ => None,
        }
    }
}

/// The lane (connection) that performs `op`.
pub fn lane(op: &Op) -> Option<ConnId> {
    match op {
        Op::Disconnect { conn } | Op::Drop { conn } | Op::Resume { conn, .. } => Some(*conn),
        other => other.caller(),
    }
}

/// The most copies of one send one connection can receive: one per listed group for
/// `Groups(list)` under `per-group` fan-out, one otherwise. A bound for the stream check only;
/// the exact count is always the model's, in the search.
pub fn max_copies(spec: &Spec, op: &Op) -> usize {
    match op {
        Op::Send {
            selector: Selector::Groups(gs),
            ..
        } if spec.groups_fanout == hubspec_model::GroupsFanout::PerGroup => gs.len().max(1),
        _ => 1,
    }
}

/// [`max_copies`] of the send that carried `payload` (0 when none did).
pub fn max_copies_of(h: &History, payload: &str) -> usize {
    h.send_of(payload).map_or(0, |s| max_copies(&h.spec, &s.op))
}

/// What one connection received, in its own order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// A message (the payload of one send).
    Deliver {
        /// When it was read.
        ts: u64,
        /// Its payload.
        payload: String,
    },
    /// The connection's stream ended (a Close, or the socket closed); nothing may follow.
    Close {
        /// When.
        ts: u64,
    },
}

impl StreamEvent {
    /// When it was read.
    pub fn ts(&self) -> u64 {
        match self {
            StreamEvent::Deliver { ts, .. } | StreamEvent::Close { ts } => *ts,
        }
    }
}

/// A concurrent history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// The behaviour the hub claims.
    pub spec: Spec,
    /// The connections, c1..cN.
    pub conns: Vec<ConnInfo>,
    /// The operations, in any order.
    pub ops: Vec<OpRecord>,
    /// Each connection's stream, in its receive order.
    pub streams: BTreeMap<ConnId, Vec<StreamEvent>>,
}

impl History {
    /// An empty history of `n` connections with these users (`users[i]` for c(i+1)).
    pub fn new(spec: Spec, users: &[Option<&str>]) -> Self {
        History {
            spec,
            conns: users
                .iter()
                .enumerate()
                .map(|(i, u)| ConnInfo {
                    id: ConnId(i as u32 + 1),
                    user: u.map(str::to_string),
                })
                .collect(),
            ops: Vec::new(),
            streams: BTreeMap::new(),
        }
    }

    /// Add an operation; returns its id (the next free one).
    pub fn op(&mut self, op: Op, inv: u64, end: End) -> OpId {
        let id = self.ops.iter().map(|o| o.id + 1).max().unwrap_or(1);
        self.ops.push(OpRecord { id, op, inv, end });
        id
    }

    /// Append a delivery to `conn`'s stream.
    pub fn deliver(&mut self, conn: ConnId, ts: u64, payload: &str) {
        self.streams
            .entry(conn)
            .or_default()
            .push(StreamEvent::Deliver {
                ts,
                payload: payload.to_string(),
            });
    }

    /// Append the end of `conn`'s stream.
    pub fn close(&mut self, conn: ConnId, ts: u64) {
        self.streams
            .entry(conn)
            .or_default()
            .push(StreamEvent::Close { ts });
    }

    /// The operation with this id.
    pub fn get(&self, id: OpId) -> Option<&OpRecord> {
        self.ops.iter().find(|o| o.id == id)
    }

    /// The send that carried `payload`.
    pub fn send_of(&self, payload: &str) -> Option<&OpRecord> {
        self.ops.iter().find(|o| o.payload() == Some(payload))
    }

    /// How many copies of `payload` `conn` received.
    pub fn copies(&self, conn: ConnId, payload: &str) -> usize {
        self.streams.get(&conn).map_or(0, |s| {
            s.iter()
                .filter(|e| matches!(e, StreamEvent::Deliver { payload: p, .. } if p == payload))
                .count()
        })
    }

    /// Check what the checker assumes (etcd's "assumptions" step): connections c1..cN, known
    /// connections only, supported operations, unique ids and payloads, intervals that end
    /// after they start, one outstanding operation per lane, streams that go forward in time.
    pub fn validate(&self) -> Result<(), HistoryError> {
        if self.spec.profile == Profile::Classic {
            return Err(HistoryError::Unsupported("the classic profile".into()));
        }
        for (i, c) in self.conns.iter().enumerate() {
            if c.id != ConnId(i as u32 + 1) {
                return Err(HistoryError::ConnOrder);
            }
        }
        let known = |c: ConnId| c.0 >= 1 && c.0 as usize <= self.conns.len();
        let mut ids = BTreeSet::new();
        let mut payloads = BTreeSet::new();
        let mut lanes: BTreeMap<ConnId, Vec<&OpRecord>> = BTreeMap::new();
        for o in &self.ops {
            if !ids.insert(o.id) {
                return Err(HistoryError::OpRecord {
                    line: 0,
                    id: o.id,
                    what: "is recorded twice",
                });
            }
            if matches!(o.op, Op::Connect { .. } | Op::Expire { .. } | Op::Restart) {
                return Err(HistoryError::Unsupported(format!(
                    "{} (#{})",
                    o.op.kind(),
                    o.id
                )));
            }
            let lane = o.lane().expect("every supported operation has a lane");
            if !known(lane) {
                return Err(HistoryError::UnknownConn(lane));
            }
            if let Some(p) = o.payload() {
                if !payloads.insert(p) {
                    return Err(HistoryError::PayloadReused(p.to_string()));
                }
            }
            let end = match o.end {
                End::Completed { ts, .. } | End::Info { ts } => ts,
                End::Pending => o.inv,
            };
            if end < o.inv {
                return Err(HistoryError::Timing {
                    id: o.id,
                    what: "ends before it is invoked",
                });
            }
            lanes.entry(lane).or_default().push(o);
        }
        for ops in lanes.values_mut() {
            ops.sort_by_key(|o| o.inv);
            for w in ops.windows(2) {
                let free = match w[0].end {
                    End::Completed { ts, .. } | End::Info { ts } => ts,
                    End::Pending => NEVER,
                };
                if w[1].inv <= free {
                    return Err(HistoryError::Timing {
                        id: w[1].id,
                        what: "is invoked before the previous operation of its connection ended",
                    });
                }
            }
        }
        for (c, s) in &self.streams {
            if !known(*c) {
                return Err(HistoryError::UnknownConn(*c));
            }
            if s.windows(2).any(|w| w[1].ts() < w[0].ts()) {
                return Err(HistoryError::StreamTime(*c));
            }
        }
        Ok(())
    }
}
