//! The recorder of concurrent histories (issue 16): K connections act at once, and what each
//! saw is written down with its time, judged by nobody here.
//!
//! Unlike [`Session`](crate::Session), which flushes every connection after each operation and
//! so sees no race, the recorder opens its connections, releases every lane at one barrier and
//! lets each run its own operations back to back. It keeps, on one monotonic clock (ns since
//! the release), each operation's invocation and completion (or that it gave up, or that it
//! never ended) and every message each connection received, in that connection's own order.
//! At the end each connection still open flushes itself with a `SendToConnection` marker (the
//! session's barrier, once), so what was queued to it before is in its stream.
//!
//! It records into its own plain types ([`Recording`]) rather than `hubspec-history`'s: the
//! harness observes and the checker judges, and keeping the arrow harness → history out keeps
//! the checker free of sockets and the harness free of the checker (`model/tests/
//! architecture.rs`); `hubspec-conformance` converts one into the other.
//!
//! Names on the wire are the session's (`session/wire.rs`): every name carries a prefix unique
//! to the recording, and a send's payload carries its operation's id, so each message names the
//! send that carried it. Every wait is bounded by the target's timeouts.

use crate::client::{Client, ClientOptions, Deadline, Received};
use crate::config::TargetConfig;
use crate::reading::{read_error, ErrorReading};
use crate::session::wire::{Decoded, Names};
use hubspec_model::{ConnId, ErrorKind, Op, OpResult};
use hubspec_wire::CompletionResult;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;
use tokio::time::Instant;

/// What to record: the connections (one user each, or none) and each one's operations.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// `users[i]` is the user connection `c(i+1)` connects as.
    pub users: Vec<Option<String>>,
    /// `lanes[i]`: the operations connection `c(i+1)` performs, in order. Each is an
    /// invocation whose caller is that connection, or its `Disconnect` (then the lane's last).
    pub lanes: Vec<Vec<Op>>,
}

/// How a recorded operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Its Completion came at `ts` with this result (an error's kind as its text states it).
    Completed {
        /// When the Completion was read.
        ts: u64,
        /// What it carried.
        result: OpResult,
    },
    /// The recorder gave up at `ts`: no Completion within the invocation timeout, or the
    /// connection broke. It may have taken effect or not (Jepsen's `:info`).
    GaveUp {
        /// When.
        ts: u64,
        /// Why, for a person.
        why: String,
    },
}

/// One recorded operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedOp {
    /// Its id: its position in the plan, lane by lane, from 1 (also the step its payload names).
    pub id: u64,
    /// What was invoked.
    pub op: Op,
    /// When it was invoked (ns since the release).
    pub inv: u64,
    /// How it ended; `None`: it never ended before the recording stopped.
    pub end: Option<Ended>,
}

/// One event of a connection's stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A message: the payload of one of the recording's sends, or (`foreign`) anything else,
    /// as received.
    Message {
        /// When the recorder read it (ns).
        ts: u64,
        /// The send's payload, as the plan wrote it, or the whole foreign text.
        payload: String,
    },
    /// The stream ended (the connection closed).
    Closed {
        /// When.
        ts: u64,
    },
}

/// A recorded concurrent history, in the harness's own terms.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    /// The users, as planned (connection `c(i+1)` is `users[i]`).
    pub users: Vec<Option<String>>,
    /// Every operation that was invoked.
    pub ops: Vec<RecordedOp>,
    /// Each connection's stream, in its receive order.
    pub streams: BTreeMap<ConnId, Vec<Event>>,
    /// A connection that could not be opened, or whose end-of-run marker never came back:
    /// the recording is incomplete and says why (a protocol finding of the caller's).
    pub broken: Option<String>,
    /// Wall time from the release to the last lane's end.
    pub elapsed: Duration,
}

/// How long a lane waits for one message before it looks at its invocation again.
const POLL: Duration = Duration::from_millis(20);

/// Records `plan` against `config`, with `case` in every name it sends.
pub async fn record(config: &TargetConfig, plan: &Plan, case: &str) -> Recording {
    let mut names = Names::fresh(case);
    let mut recording = Recording {
        users: plan.users.clone(),
        ..Recording::default()
    };
    // Open c1..cN in order, before anything runs at once.
    let mut clients = Vec::with_capacity(plan.users.len());
    let mut live_ids = BTreeMap::new();
    for (i, user) in plan.users.iter().enumerate() {
        let conn = ConnId(i as u32 + 1);
        let mut opts = ClientOptions::for_target(config, i);
        opts.user = user.as_deref().map(|u| names.user(u));
        opts.label = format!("{conn}");
        opts.protocol = config.protocol_for(conn.0);
        let opened = match Client::connect(opts).await {
            Ok(c) => c.connection_id().await.map(|id| (c, id)),
            Err(e) => Err(e),
        };
        match opened {
            Ok((c, id)) => {
                live_ids.insert(conn, id);
                clients.push(c);
            }
            Err(e) => {
                recording.broken = Some(format!("{conn} could not be opened: {e}"));
                shutdown_all(clients).await;
                return recording;
            }
        }
    }
    // Every invocation's method and arguments, and each lane's end marker, before the release.
    let live = |c: ConnId| live_ids.get(&c).cloned();
    let mut id = 0u64;
    let mut lanes = Vec::new();
    for (i, ops) in plan.lanes.iter().enumerate() {
        let conn = ConnId(i as u32 + 1);
        let mut calls = Vec::new();
        for op in ops {
            id += 1;
            let call = match op {
                Op::Disconnect { .. } => None,
                _ => Some(names.invocation(id as usize, op, &live)),
            };
            calls.push((id, op.clone(), call));
        }
        let marker = names.marker(0, conn);
        let own_id = live_ids.get(&conn).cloned().unwrap_or_default();
        lanes.push((conn, calls, marker, own_id));
    }
    let names = Arc::new(names);
    let start = Instant::now();
    let release = Arc::new(Barrier::new(clients.len()));
    let settled = Arc::new(Barrier::new(clients.len()));
    let mut tasks = Vec::new();
    for (client, (conn, calls, marker, own_id)) in clients.into_iter().zip(lanes) {
        let lane = Lane {
            conn,
            client,
            names: names.clone(),
            start,
            ops: Vec::new(),
            stream: Vec::new(),
            bound: config.timeouts.invocation,
        };
        let (release, settled) = (release.clone(), settled.clone());
        tasks.push(tokio::spawn(async move {
            lane.run(calls, marker, own_id, release, settled).await
        }));
    }
    for t in tasks {
        match t.await {
            Ok((conn, ops, stream, broken)) => {
                recording.ops.extend(ops);
                recording.streams.insert(conn, stream);
                if recording.broken.is_none() {
                    recording.broken = broken;
                }
            }
            Err(e) => recording.broken = Some(format!("a lane's task failed: {e}")),
        }
    }
    recording.ops.sort_by_key(|o| o.id);
    recording.elapsed = start.elapsed();
    recording
}

async fn shutdown_all(clients: Vec<Client>) {
    for mut c in clients {
        c.shutdown().await;
    }
}

/// What a lane hands back: its connection, operations, stream, and why it broke, if it did.
type LaneResult = (ConnId, Vec<RecordedOp>, Vec<Event>, Option<String>);

/// One connection's lane while it runs.
struct Lane {
    conn: ConnId,
    client: Client,
    names: Arc<Names>,
    start: Instant,
    ops: Vec<RecordedOp>,
    stream: Vec<Event>,
    /// The bound on the end-of-run marker (the target's invocation timeout).
    bound: Duration,
}

type Call = (u64, Op, Option<(&'static str, Vec<Value>)>);

impl Lane {
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Keeps one received message, read at `ts`.
    fn keep(&mut self, ts: u64, r: &Received) {
        let payload = match self.names.decode(r) {
            Decoded::Payload(_, p) => p,
            Decoded::Marker { marker, .. } => marker,
            Decoded::Foreign(f) => f,
        };
        self.stream.push(Event::Message { ts, payload });
    }

    fn drain(&mut self) {
        for r in self.client.drain_received() {
            self.keep(self.now(), &r);
        }
    }

    async fn run(
        mut self,
        calls: Vec<Call>,
        marker: String,
        own_id: String,
        release: Arc<Barrier>,
        settled: Arc<Barrier>,
    ) -> LaneResult {
        release.wait().await;
        let mut open = true;
        for (id, op, call) in calls {
            let inv = self.now();
            let end = match call {
                None => {
                    let _ = self.client.close().await;
                    self.drain();
                    let ts = self.now();
                    self.stream.push(Event::Closed { ts });
                    open = false;
                    Some(Ended::Completed {
                        ts,
                        result: OpResult::Ok,
                    })
                }
                Some((method, args)) => Some(self.invoke(method, args).await),
            };
            let gave_up = matches!(end, Some(Ended::GaveUp { .. }));
            self.ops.push(RecordedOp { id, op, inv, end });
            if !open || gave_up {
                // A lane that gave up stops: its connection may be broken, and one
                // outstanding operation per lane is what the checker assumes.
                break;
            }
        }
        // Every lane has finished before any flushes, so nothing is sent after a marker.
        settled.wait().await;
        let mut broken = None;
        if open && self.client.is_open() {
            broken = self.flush(&marker, &own_id).await.err();
        }
        self.client.shutdown().await;
        (self.conn, self.ops, self.stream, broken)
    }

    /// Invokes `method`, reading what arrives meanwhile.
    async fn invoke(&mut self, method: &'static str, args: Vec<Value>) -> Ended {
        let mut received = Vec::new();
        let outcome = {
            let client = &self.client;
            let invocation = client.invoke(method, args);
            tokio::pin!(invocation);
            loop {
                tokio::select! {
                    biased;
                    done = &mut invocation => break done,
                    r = client.recv_until(Deadline::after(POLL)) => {
                        if let Ok(r) = r {
                            received.push((self.now(), r));
                        }
                    }
                }
            }
        };
        for (ts, r) in received {
            self.keep(ts, &r);
        }
        self.drain();
        let ts = self.now();
        match outcome {
            Ok(CompletionResult::Error(text)) => Ended::Completed {
                ts,
                result: OpResult::Error(match read_error(&text) {
                    ErrorReading::Kind(k) => k,
                    // No generated operation expects an error: any stand-in mismatches.
                    _ => ErrorKind::ConnectionGone,
                }),
            },
            Ok(_) => Ended::Completed {
                ts,
                result: OpResult::Ok,
            },
            Err(e) => Ended::GaveUp {
                ts,
                why: e.to_string(),
            },
        }
    }

    /// Sends `marker` to itself and reads until it comes back: everything queued to this
    /// connection before it is then in the stream.
    async fn flush(&mut self, marker: &str, own_id: &str) -> Result<(), String> {
        let sent = self
            .client
            .invoke("SendToConnection", vec![json!(own_id), json!(marker)])
            .await;
        if let Err(e) = sent {
            return Err(format!("{}: the end-of-run marker: {e}", self.conn));
        }
        let deadline = Deadline::after(self.bound);
        loop {
            match self.client.recv_until(deadline).await {
                Ok(r) if r.payload() == Some(marker) => return Ok(()),
                Ok(r) => self.keep(self.now(), &r),
                Err(e) => {
                    return Err(format!(
                        "{}: its end-of-run marker did not come back: {e}",
                        self.conn
                    ))
                }
            }
        }
    }
}
