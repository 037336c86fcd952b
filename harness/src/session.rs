//! Sessions: run an op sequence against a live hub and observe exactly what each op did.
//!
//! A [`Session`] maps the model's connections (`c1`, `c2`, …) to live [`Client`]s and runs the
//! ops one by one. After each op it flushes every connected client with a *barrier*: the
//! client invokes `SendToConnection(own id, marker)` and waits for the marker. The contract
//! says a send completes only after its message is in every recipient's outgoing queue, and a
//! connection's messages arrive in order, so whatever a client received before its marker was
//! sent by an op up to now, and nothing sent so far can still be on its way. No sleeps.
//!
//! Every payload on the wire is `<prefix><step>|<payload>`, so each received message names the
//! op that sent it: one from the current op is a delivery of it; one from an earlier op is a
//! replay (at a resume) or else *late*, unless the connection already has as many copies as
//! the model says (then it is a *duplicate*); one that decodes to no op is *unexpected*; an
//! expected one that never comes is *lost*; a second copy is a *duplicate*. A barrier marker is
//! checked too: on the wrong connection it breaks the barrier, a second copy is a duplicate.
//! What a connection received after its last barrier is attributed when it is disconnected or
//! dropped, or the server restarts. An error's kind is read from the server's text
//! ([`crate::reading`]), never copied from the model. Each step's observed result and
//! deliveries are compared with the model's [`Outcome`], and every mismatch becomes a
//! [`Divergence`] whose rules [`crate::blame`] derives.
//!
//! Isolation: group names, user names and payloads carry a prefix unique to the run, so many
//! runs can share one server; the empty group name is sent literally (it cannot be prefixed
//! without changing its meaning), which is one reason [`is_exclusive`] marks a history as
//! needing the server to itself.
//!
//! What cannot be observed is taken from the model, and said so here: a `Buffered` delivery is
//! seen only when it is replayed at a resume. When the model replays it at a later resume, the
//! observed transcript shows it as buffered only if it was in fact replayed; when the model never
//! replays it (the connection expires, the server restarts, or the history ends first), the
//! model's buffered line is copied into the observed transcript as is.

use crate::blame;
use crate::client::{Client, ClientOptions, RawFrame, Received};
use crate::config::TargetConfig;
use crate::divergence::{replay_command, Divergence, DivergenceKind};
use crate::error::{ClientError, HarnessError};
use crate::reading::{read_error, ErrorReading, ObservedTranscript};
use crate::restart::Restarter;
use hubspec_model::{
    format_op, is_exclusive, Capability, ConnId, Delivery, ErrorKind, Mode, Op, OpResult, Outcome,
    Profile, Selector, Spec, Step, Target, Transcript,
};
use hubspec_wire::CompletionResult;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How many frames of each concerned connection a divergence carries.
const FRAMES_PER_CONN: usize = 24;

/// The result of one run.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// What the target did, in the model's transcript form (the steps that ran).
    pub observed: Transcript,
    /// What the model says.
    pub expected: Transcript,
    /// Every mismatch, in step order.
    pub divergences: Vec<Divergence>,
    /// Whether the history needs the server to itself ([`is_exclusive`]).
    pub exclusive: bool,
    /// How long each step that ran took, its barrier included.
    pub timings: Vec<Duration>,
    /// Steps (1-based) whose result `observed` holds only as a stand-in, with the result as
    /// read from the wire (`error (kind not stated)`…); see [`crate::reading`].
    pub results_as_read: BTreeMap<usize, String>,
}

impl RunReport {
    /// No divergence, and every step ran.
    pub fn passed(&self) -> bool {
        self.divergences.is_empty() && self.observed.steps.len() == self.expected.steps.len()
    }

    /// The observed transcript as it should be shown: results as read where the model has
    /// no value for them.
    pub fn observed_text(&self) -> ObservedTranscript {
        ObservedTranscript {
            transcript: self.observed.clone(),
            results_as_read: self.results_as_read.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Connected,
    Suspended,
    Ended,
}

struct Live {
    client: Client,
    /// Index of the node URL it was opened on.
    node: usize,
    live_id: String,
    state: State,
}

/// A decoded payload.
enum Decoded {
    /// A barrier marker of this run (the whole payload).
    Marker(String),
    /// A payload of step `.0` (1-based).
    Payload(usize, String),
    /// Anything else.
    Foreign(String),
}

#[derive(Default)]
struct ObservedStep {
    /// The result in model values; for an error Completion a stand-in (see `reading`).
    result: Option<OpResult>,
    /// For an error Completion: the server's text and what it says about the kind.
    error: Option<(String, ErrorReading)>,
    deliveries: Vec<Delivery>,
}

/// Runs op sequences against one target.
pub struct Session {
    config: TargetConfig,
    spec: Spec,
    case: String,
    restarter: Option<Arc<dyn Restarter>>,
    prefix: String,
    conns: BTreeMap<ConnId, Live>,
    /// Live connection id -> the model id it was first seen as.
    seen_ids: HashMap<String, ConnId>,
    /// Random ids for model ids that were never connected, stable within a run.
    ghost_ids: HashMap<ConnId, String>,
    next_node: usize,
    connects: u32,
    marker_seq: u64,
    /// Every barrier marker of the run -> the connection it was sent to (bounded by steps ×
    /// connections): a marker seen anywhere else is misrouted, seen again is a duplicate.
    markers: HashMap<String, ConnId>,
}

fn clean_case(case: &str) -> String {
    case.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_/.".contains(*c))
        .take(40)
        .collect()
}

impl Session {
    /// A session for `config` under `spec`; `case` seeds the run prefixes; `restarter` realises
    /// `Op::Restart` (required for histories that restart).
    pub fn new(
        config: &TargetConfig,
        spec: Spec,
        case: &str,
        restarter: Option<Arc<dyn Restarter>>,
    ) -> Session {
        Session {
            config: config.clone(),
            spec,
            case: clean_case(case),
            restarter,
            prefix: String::new(),
            conns: BTreeMap::new(),
            seen_ids: HashMap::new(),
            ghost_ids: HashMap::new(),
            next_node: 0,
            connects: 0,
            marker_seq: 0,
            markers: HashMap::new(),
        }
    }

    /// The prefix of the current (or last) run.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The last frames of each client of the current run (up to 24 per connection, in model-id
    /// order): the evidence for a run that ended in a [`HarnessError`] (a restart that failed,
    /// a caller whose client is gone), which has no divergence to carry frames. Call it before
    /// [`close`](Self::close), which ends the clients; a run that returns `Ok` closes them
    /// itself (its divergences carry their frames).
    pub fn frames(&self) -> Vec<RawFrame> {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        self.frames_of(&ids)
    }

    /// Closes every connection of the session.
    pub async fn close(&mut self) {
        for (_, mut live) in std::mem::take(&mut self.conns) {
            live.client.shutdown().await;
        }
    }

    fn check_applicable(&self, ops: &[Op]) -> Result<(), HarnessError> {
        let needs = hubspec_model::needs(ops, self.spec.profile);
        for cap in needs {
            let has = match cap {
                Capability::Restart => self.restarter.is_some(),
                _ => self.config.has(cap),
            };
            if !has {
                return Err(HarnessError::NotApplicable(cap.name()));
            }
        }
        if self.spec.profile == Profile::Classic {
            return Err(HarnessError::config(
                "profile",
                "'classic' cannot be tested over the wire; use 'core' or 'core-stateful'",
            ));
        }
        Ok(())
    }

    /// Runs `ops` from a fresh start (new prefix, no connections) and compares every step with
    /// the model. An invalid history or a missing capability is an error; everything the target
    /// does wrong is in the report.
    pub async fn run(&mut self, ops: &[Op]) -> Result<RunReport, HarnessError> {
        let expected = canonical(Transcript::run(self.spec, ops)?);
        self.check_applicable(ops)?;
        self.close().await;
        let short = uuid::Uuid::new_v4().simple().to_string();
        self.prefix = format!("{}#{}:", self.case, &short[..8]);
        self.seen_ids.clear();
        self.ghost_ids.clear();
        self.markers.clear();
        self.connects = 0;
        let mut run = Run {
            replay: replay_command(Some(&self.config), &self.spec, ops),
            ops,
            expected: &expected,
            observed: Vec::new(),
            divergences: Vec::new(),
            late_seen: Vec::new(),
        };
        let mut timings = Vec::with_capacity(ops.len());
        for index in 0..ops.len() {
            let started = Instant::now();
            run.observed.push(ObservedStep::default());
            let fatal = self.step(&mut run, index).await?;
            let barrier_fatal = self.barrier(&mut run, index).await;
            self.sweep_findings(&mut run, index);
            let before = run.divergences.len();
            run.compare(self.spec, index);
            // A delivery or result mismatch carries the raw frames of the run's connections.
            if run.divergences[before..]
                .iter()
                .any(|d| d.frames.is_empty())
            {
                let ids: Vec<ConnId> = self.conns.keys().copied().collect();
                let frames = self.frames_of(&ids);
                for d in &mut run.divergences[before..] {
                    if d.frames.is_empty() {
                        d.frames = frames.clone();
                    }
                }
            }
            timings.push(started.elapsed());
            if fatal || barrier_fatal {
                break;
            }
        }
        let observed = run.observed_transcript(self.spec);
        let results_as_read: BTreeMap<usize, String> = run
            .observed
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match &o.error {
                Some((_, r @ (ErrorReading::Unstated | ErrorReading::Other(_)))) => {
                    Some((i + 1, r.describe()))
                }
                _ => None,
            })
            .collect();
        let mut divergences = run.divergences;
        divergences.sort_by_key(|d| d.step);
        for d in &mut divergences {
            d.transcript = ObservedTranscript {
                transcript: Transcript {
                    spec: self.spec,
                    steps: observed.steps.iter().take(d.step).cloned().collect(),
                },
                results_as_read: results_as_read
                    .range(..=d.step)
                    .map(|(k, v)| (*k, v.clone()))
                    .collect(),
            };
        }
        self.close().await;
        Ok(RunReport {
            observed,
            expected,
            divergences,
            exclusive: is_exclusive(ops),
            timings,
            results_as_read,
        })
    }

    // ----- names on the wire -----

    fn group_arg(&self, g: &Option<String>) -> Value {
        match g {
            None => Value::Null,
            Some(g) if g.is_empty() => json!(""),
            Some(g) => json!(format!("{}{g}", self.prefix)),
        }
    }

    fn user_arg(&self, u: &str) -> String {
        format!("{}{u}", self.prefix)
    }

    fn target_arg(&mut self, t: &Target) -> Value {
        match t {
            Target::Id(c) => match self.conns.get(c) {
                Some(live) => json!(live.live_id),
                None => json!(self
                    .ghost_ids
                    .entry(*c)
                    .or_insert_with(|| uuid::Uuid::new_v4().to_string())),
            },
            Target::Unknown => json!(uuid::Uuid::new_v4().to_string()),
            // JSON null, as a client passing a null string sends it (GRP-NULL-CONNECTION-ID).
            Target::Null => Value::Null,
        }
    }

    fn targets_arg(&mut self, ts: &[Target]) -> Value {
        Value::Array(ts.iter().map(|t| self.target_arg(t)).collect())
    }

    fn payload_arg(&self, step: usize, payload: &str) -> Value {
        json!(format!("{}{step}|{payload}", self.prefix))
    }

    fn decode(&self, received: &Received) -> Decoded {
        let Some(p) = received.payload() else {
            return Decoded::Foreign(format!("{}({:?})", received.target, received.arguments));
        };
        let Some(rest) = p.strip_prefix(self.prefix.as_str()) else {
            return Decoded::Foreign(p.to_string());
        };
        if rest.starts_with('~') {
            return Decoded::Marker(p.to_string());
        }
        match rest.split_once('|') {
            // Steps are numbered from 1: a mangled `<prefix>0|…` is sent by no op (and must
            // not index step 0 - 1).
            Some((step, payload)) => match step.parse::<usize>() {
                Ok(step) if step >= 1 => Decoded::Payload(step, payload.to_string()),
                _ => Decoded::Foreign(p.to_string()),
            },
            None => Decoded::Foreign(p.to_string()),
        }
    }

    /// The method and arguments an invocation op becomes on the wire.
    fn invocation(&mut self, step: usize, op: &Op) -> (&'static str, Vec<Value>) {
        match op {
            Op::AddToGroup { group, .. } => ("AddToGroup", vec![self.group_arg(group)]),
            Op::RemoveFromGroup { group, .. } => ("RemoveFromGroup", vec![self.group_arg(group)]),
            Op::AddConnectionToGroup { target, group, .. } => (
                "AddConnectionToGroup",
                vec![self.target_arg(target), self.group_arg(group)],
            ),
            Op::RemoveConnectionFromGroup { target, group, .. } => (
                "RemoveConnectionFromGroup",
                vec![self.target_arg(target), self.group_arg(group)],
            ),
            Op::JoinRoom { room, .. } => ("JoinRoom", vec![self.group_arg(room)]),
            Op::LeaveRoom { room, .. } => ("LeaveRoom", vec![self.group_arg(room)]),
            Op::Send {
                selector, payload, ..
            } => {
                let p = self.payload_arg(step, payload);
                let args = match selector {
                    Selector::All | Selector::Others | Selector::Caller => vec![p],
                    Selector::AllExcept(ids) | Selector::Connections(ids) => {
                        vec![self.targets_arg(ids), p]
                    }
                    Selector::Connection(t) => vec![self.target_arg(t), p],
                    Selector::Group(g) | Selector::OthersInGroup(g) => vec![self.group_arg(g), p],
                    Selector::Groups(gs) => {
                        vec![
                            Value::Array(gs.iter().map(|g| self.group_arg(g)).collect()),
                            p,
                        ]
                    }
                    Selector::GroupExcept(g, ids) => {
                        vec![self.group_arg(g), self.targets_arg(ids), p]
                    }
                    Selector::User(u) => vec![json!(self.user_arg(u)), p],
                    Selector::Users(us) => vec![
                        Value::Array(us.iter().map(|u| json!(self.user_arg(u))).collect()),
                        p,
                    ],
                };
                (selector.method(), args)
            }
            _ => unreachable!("only invocations are mapped to methods"),
        }
    }

    fn client_options(&self, node: usize, label: String, user: Option<String>) -> ClientOptions {
        let mut opts = ClientOptions::for_target(&self.config, node);
        opts.user = user;
        opts.label = label;
        opts.stateful = self.spec.profile == Profile::CoreStateful
            && self.config.has(Capability::StatefulReconnect);
        opts
    }

    // ----- one step -----

    /// Performs step `index`; returns whether the run must stop (the target is unusable).
    async fn step(&mut self, run: &mut Run<'_>, index: usize) -> Result<bool, HarnessError> {
        let ops = run.ops;
        let op = &ops[index];
        let step = index + 1;
        match op {
            Op::Connect { user } => {
                self.connects += 1;
                let model_id = ConnId(self.connects);
                let node = self.next_node % self.config.urls.len();
                self.next_node += 1;
                let opts = self.client_options(
                    node,
                    model_id.to_string(),
                    user.as_deref().map(|u| self.user_arg(u)),
                );
                let client = match Client::connect_with_frames(opts).await {
                    Ok(c) => c,
                    Err((e, frames)) => {
                        let e = self.classify_death(node, e).await;
                        run.protocol(step, op, &e, frames);
                        return Ok(true);
                    }
                };
                if self.spec.profile == Profile::CoreStateful && !client.is_stateful() {
                    run.protocol(
                        step,
                        op,
                        &ClientError::protocol(
                            "PRO-NEGOTIATE",
                            "the target claims stateful reconnect, but negotiate did not grant useStatefulReconnect",
                        ),
                        client.frames(),
                    );
                }
                let live_id = match client.connection_id().await {
                    Ok(id) => id,
                    Err(e) => {
                        let e = self.classify_timeout(&client, e).await;
                        run.protocol(step, op, &e, client.frames());
                        self.conns.insert(
                            model_id,
                            Live {
                                client,
                                node,
                                live_id: String::new(),
                                state: State::Ended,
                            },
                        );
                        return Ok(true);
                    }
                };
                let observed_id = *self.seen_ids.entry(live_id.clone()).or_insert(model_id);
                run.observed[index].result = Some(OpResult::Connected(observed_id));
                self.conns.insert(
                    model_id,
                    Live {
                        client,
                        node,
                        live_id,
                        state: State::Connected,
                    },
                );
            }
            Op::Disconnect { conn } => {
                if let Some(live) = self.conns.get_mut(conn) {
                    // A failed close is a PRO-CLOSE finding, swept after the barrier.
                    let _ = live.client.close().await;
                    live.state = State::Ended;
                    // What arrived after the last barrier (until the socket ended) is checked
                    // like a barrier's catch: no barrier will run on this connection again.
                    let received = live.client.drain_received();
                    self.attribute(run, index, *conn, received, None);
                }
                run.observed[index].result = Some(OpResult::Ok);
            }
            Op::Drop { conn } => {
                if let Some(live) = self.conns.get_mut(conn) {
                    live.client.drop_transport().await;
                    live.state = State::Suspended;
                    let received = live.client.drain_received();
                    self.attribute(run, index, *conn, received, None);
                }
                run.observed[index].result = Some(OpResult::Ok);
            }
            Op::Resume { conn, .. } => {
                let bound = self.config.timeouts.barrier;
                let result = match self.conns.get_mut(conn) {
                    None => OpResult::Error(ErrorKind::ConnectionGone),
                    Some(live) => match resume_with_retry(&mut live.client, bound).await {
                        Ok(()) => {
                            live.state = State::Connected;
                            OpResult::Ok
                        }
                        Err(ClientError::Status { status, .. }) if (400..500).contains(&status) => {
                            live.state = State::Ended;
                            OpResult::Error(ErrorKind::ConnectionGone)
                        }
                        // Without a token (skip_negotiation) there is nothing to resume.
                        Err(ClientError::Closed { detail })
                            if detail.contains("no connection token") =>
                        {
                            live.state = State::Ended;
                            OpResult::Error(ErrorKind::ConnectionGone)
                        }
                        Err(e @ ClientError::Protocol { .. }) => {
                            // The transport is up; the protocol slip is reported.
                            run.protocol(step, op, &e, live.client.frames());
                            live.state = State::Connected;
                            OpResult::Ok
                        }
                        Err(e) => {
                            run.protocol(step, op, &e, live.client.frames());
                            return Ok(true);
                        }
                    },
                };
                run.observed[index].result = Some(result);
            }
            Op::Expire { conn } => {
                let wait = self.config.timeouts.disconnect_timeout;
                let margin = (wait / 5).max(Duration::from_millis(500));
                tokio::time::sleep(wait + margin).await;
                if let Some(live) = self.conns.get_mut(conn) {
                    match live.client.resume().await {
                        Ok(()) => {
                            live.client.drop_transport().await;
                            run.push(
                                step,
                                op,
                                DivergenceKind::Result,
                                vec!["REC-EXPIRE-ENDS"],
                                "a resume at the token is refused (the connection ended)".into(),
                                format!(
                                    "a resume at the token was accepted {} ms after the drop, past the disconnect timeout",
                                    (wait + margin).as_millis()
                                ),
                                live.client.frames(),
                            );
                        }
                        Err(ClientError::Status { .. }) => {}
                        Err(e) => {
                            run.protocol(step, op, &e, live.client.frames());
                        }
                    }
                    live.state = State::Ended;
                }
                run.observed[index].result = Some(OpResult::Ok);
            }
            Op::Restart => {
                let mut caught = Vec::new();
                for (id, live) in self.conns.iter_mut() {
                    if live.state != State::Ended {
                        live.client.drop_transport().await;
                    }
                    live.state = State::Ended;
                    caught.push((*id, live.client.drain_received()));
                }
                for (id, received) in caught {
                    self.attribute(run, index, id, received, None);
                }
                let restarter = self
                    .restarter
                    .clone()
                    .ok_or(HarnessError::NotApplicable("restart"))?;
                restarter.restart().await?;
                run.observed[index].result = Some(OpResult::Ok);
            }
            _ => {
                let caller = op.caller().expect("an invocation has a caller");
                let (method, args) = self.invocation(step, op);
                let Some(live) = self.conns.get(&caller) else {
                    return Err(HarnessError::Client(ClientError::Closed {
                        detail: format!("{caller} has no client"),
                    }));
                };
                match live.client.invoke(method, args).await {
                    Ok(CompletionResult::Error(text)) => {
                        // The kind is read from the server's text, never taken from the
                        // model; the stand-in only fills the model-valued transcript.
                        let reading = read_error(&text);
                        let expected = run.expected.steps[index].outcome.result;
                        let kind = match (reading, expected) {
                            (ErrorReading::Kind(k), _) => k,
                            (ErrorReading::Unstated, OpResult::Error(k)) => k,
                            // No invocation expects connection-gone, so a wrong error's
                            // stand-in never equals the expected result.
                            (ErrorReading::Other(_), OpResult::Error(_)) => {
                                ErrorKind::ConnectionGone
                            }
                            _ => guess_error_kind(op),
                        };
                        run.observed[index].result = Some(OpResult::Error(kind));
                        run.observed[index].error = Some((text, reading));
                    }
                    Ok(_) => run.observed[index].result = Some(OpResult::Ok),
                    Err(e) => {
                        let e = self.classify_timeout(&live.client, e).await;
                        let e = self.classify_death(live.node, e).await;
                        let frames = live.client.frames();
                        run.protocol(step, op, &e, frames);
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// A Completion that never came: if the server still answers a `GetConnectionId`, it
    /// omitted that Completion (`PRO-COMPLETION`); otherwise it hangs (`PRO-RESPONSIVE`).
    async fn classify_timeout(&self, client: &Client, e: ClientError) -> ClientError {
        let ClientError::Timeout { what, after } = &e else {
            return e;
        };
        match client.invoke("GetConnectionId", vec![]).await {
            Ok(_) => ClientError::protocol(
                "PRO-COMPLETION",
                format!(
                    "waited {} ms for {what} in vain, although the server answers other invocations: it omitted that Completion",
                    after.as_millis()
                ),
            ),
            Err(_) => ClientError::protocol(
                "PRO-RESPONSIVE",
                format!(
                    "no answer within {} ms to {what}, nor to a probe after it: the server hangs",
                    after.as_millis()
                ),
            ),
        }
    }

    /// A connection that closed or could not connect: if the node no longer accepts TCP
    /// connections, the target died mid-case (`PRO-RESPONSIVE`).
    async fn classify_death(&self, node: usize, e: ClientError) -> ClientError {
        if !matches!(e, ClientError::Closed { .. } | ClientError::Connect { .. }) {
            return e;
        }
        let url = &self.config.urls[node];
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return e;
        };
        let host = host.trim_matches(['[', ']']).to_string();
        let probe = tokio::time::timeout(
            self.config.timeouts.connect,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await;
        match probe {
            Ok(Ok(_)) => e,
            Ok(Err(refused)) => ClientError::protocol(
                "PRO-RESPONSIVE",
                format!("the target died mid-case ({e}); a new TCP connection to {host}:{port} fails: {refused}"),
            ),
            Err(_) => ClientError::protocol(
                "PRO-RESPONSIVE",
                format!("the target stopped accepting connections mid-case ({e})"),
            ),
        }
    }

    // ----- barrier and attribution -----

    /// Flushes every connected client and attributes what it received; returns whether the run
    /// must stop.
    async fn barrier(&mut self, run: &mut Run<'_>, index: usize) -> bool {
        let step = index + 1;
        let deadline = Instant::now() + self.config.timeouts.barrier;
        let mut jobs = Vec::new();
        for (id, live) in &self.conns {
            if live.state != State::Connected {
                continue;
            }
            self.marker_seq += 1;
            let marker = format!("{}~{step}.{}", self.prefix, self.marker_seq);
            self.markers.insert(marker.clone(), *id);
            jobs.push((*id, marker));
        }
        let results = futures_util::future::join_all(jobs.iter().map(|(id, marker)| {
            let live = &self.conns[id];
            barrier_one(&live.client, &live.live_id, marker, deadline)
        }))
        .await;
        let mut fatal = false;
        let ops = run.ops;
        let resumed = match &run.ops[index] {
            Op::Resume { conn, .. } if run.observed[index].result == Some(OpResult::Ok) => {
                Some(*conn)
            }
            _ => None,
        };
        for ((id, _), (received, problem)) in jobs.iter().zip(results) {
            self.attribute(run, index, *id, received, resumed);
            if let Some(problem) = problem {
                let live = self.conns.get_mut(id).expect("barrier ran on it");
                let (rules, stop): (Vec<&'static str>, bool) = match &problem {
                    ClientError::Closed { .. } => {
                        live.state = State::Ended;
                        (vec!["PRO-CLOSE"], true)
                    }
                    ClientError::Timeout { .. } => (vec!["SND-CONNECTION", "PRO-RESPONSIVE"], true),
                    ClientError::Protocol { rule, .. } => (vec![rule], true),
                    other => (other.rule().into_iter().collect(), true),
                };
                fatal |= stop;
                let frames = live.client.frames();
                let frames = tail(frames, FRAMES_PER_CONN);
                run.push(
                    step,
                    &ops[index],
                    DivergenceKind::BrokenBarrier,
                    rules,
                    format!("{id} gets its own SendToConnection marker back"),
                    format!("{id}: {problem}"),
                    frames,
                );
            }
        }
        fatal
    }

    /// Attributes what connection `id` received during step `index` (by its barrier, or
    /// before it was closed or dropped) to the ops that sent it; `resumed` is the connection
    /// this step resumed, whose earlier messages are replays.
    fn attribute(
        &mut self,
        run: &mut Run<'_>,
        index: usize,
        id: ConnId,
        received: Vec<Received>,
        resumed: Option<ConnId>,
    ) {
        let step = index + 1;
        let ops = run.ops;
        for r in received {
            match self.decode(&r) {
                Decoded::Marker(marker) => {
                    // Its own marker ends the barrier and is never seen here: any marker here
                    // is a second copy, or another connection's.
                    let frames = self.frames_of(&[id]);
                    let (kind, rules, expected, observed) = match self.markers.get(&marker) {
                        Some(owner) if *owner == id => (
                            DivergenceKind::Duplicate,
                            vec!["SND-EXACTLY-ONCE", "SND-CONNECTION"],
                            format!("{id} receives its barrier marker once"),
                            format!("{id} <= {marker:?} again (a second copy of its marker)"),
                        ),
                        Some(owner) => (
                            DivergenceKind::BrokenBarrier,
                            vec!["SND-CONNECTION"],
                            format!("only {owner} receives its SendToConnection marker"),
                            format!("{id} <= {marker:?}, the marker {owner} sent to itself"),
                        ),
                        None => (
                            DivergenceKind::Unexpected,
                            vec!["SND-EXACTLY-ONCE"],
                            format!("{id} receives nothing that no op of this case sent"),
                            format!("{id} <= {marker:?} (a marker this run never sent)"),
                        ),
                    };
                    run.push(step, &ops[index], kind, rules, expected, observed, frames);
                }
                Decoded::Payload(origin, payload) if origin == step => {
                    run.observed[index].deliveries.push(Delivery {
                        to: id,
                        payload,
                        mode: Mode::Now,
                    });
                }
                Decoded::Payload(origin, payload) if origin < step && resumed == Some(id) => {
                    run.observed[index].deliveries.push(Delivery {
                        to: id,
                        payload: payload.clone(),
                        mode: Mode::Replayed,
                    });
                    run.observed[origin - 1].deliveries.push(Delivery {
                        to: id,
                        payload,
                        mode: Mode::Buffered,
                    });
                }
                Decoded::Payload(origin, payload) if origin < step => {
                    let frames = self.frames_of(&[id]);
                    run.after_barrier(self.spec, index, origin - 1, id, payload, frames);
                }
                Decoded::Payload(_, payload) | Decoded::Foreign(payload) => {
                    let frames = self.frames_of(&[id]);
                    run.push(
                        step,
                        &ops[index],
                        DivergenceKind::Unexpected,
                        vec!["SND-EXACTLY-ONCE"],
                        format!("{id} receives nothing that no op of this case sent"),
                        format!("{id} <= {payload:?} (sent by no op of this case)"),
                        frames,
                    );
                }
            }
        }
    }

    fn frames_of(&self, ids: &[ConnId]) -> Vec<RawFrame> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(live) = self.conns.get(id) {
                out.extend(tail(live.client.frames(), FRAMES_PER_CONN));
            }
        }
        out
    }

    /// Turns what the clients' readers noticed on their own into protocol divergences.
    fn sweep_findings(&mut self, run: &mut Run<'_>, index: usize) {
        let step = index + 1;
        let ops = run.ops;
        for (id, live) in &mut self.conns {
            let findings = live.client.take_findings();
            if findings.is_empty() {
                continue;
            }
            let frames = tail(live.client.frames(), FRAMES_PER_CONN * 2);
            let mut rules: Vec<&'static str> = Vec::new();
            for f in &findings {
                if !rules.contains(&f.rule) {
                    rules.push(f.rule);
                }
            }
            let observed = findings
                .iter()
                .map(|f| format!("{id}: [{}] {}", f.rule, f.detail))
                .collect::<Vec<_>>()
                .join("; ");
            run.push(
                step,
                &ops[index],
                DivergenceKind::Protocol,
                rules,
                "the JSON hub protocol over text frames".into(),
                observed,
                frames,
            );
            if !live.client.is_open() && live.state == State::Connected {
                live.state = State::Ended;
            }
        }
    }
}

/// A resume, retried while the server still answers 409 (it has not yet noticed the old
/// transport is gone), within `bound`.
async fn resume_with_retry(client: &mut Client, bound: Duration) -> Result<(), ClientError> {
    let deadline = Instant::now() + bound;
    let mut pause = Duration::from_millis(10);
    loop {
        match client.resume().await {
            Err(ClientError::Status { status: 409, .. }) if Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

async fn barrier_one(
    client: &Client,
    live_id: &str,
    marker: &str,
    deadline: Instant,
) -> (Vec<Received>, Option<ClientError>) {
    // On a failed invocation, what came is returned without this barrier's own marker (if
    // it came at all): only a copy beyond the first is a duplicate.
    let drained = || {
        let mut all = client.drain_received();
        if let Some(at) = all.iter().position(|r| r.payload() == Some(marker)) {
            all.remove(at);
        }
        all
    };
    let mut received = Vec::new();
    match client
        .invoke("SendToConnection", vec![json!(live_id), json!(marker)])
        .await
    {
        Ok(CompletionResult::Error(e)) => {
            received.extend(drained());
            return (
                received,
                Some(ClientError::protocol(
                    "SND-CONNECTION",
                    format!("SendToConnection to itself failed: {e}"),
                )),
            );
        }
        Ok(_) => {}
        Err(e) => {
            received.extend(drained());
            return (received, Some(e));
        }
    }
    loop {
        match client.recv_until(deadline).await {
            Ok(r) if r.payload() == Some(marker) => return (received, None),
            Ok(r) => received.push(r),
            Err(e) => {
                let e = match e {
                    ClientError::Timeout { after, .. } => ClientError::Timeout {
                        what: format!("the barrier marker {marker:?}"),
                        after,
                    },
                    e => e,
                };
                return (received, Some(e));
            }
        }
    }
}

fn tail(mut frames: Vec<RawFrame>, n: usize) -> Vec<RawFrame> {
    if frames.len() > n {
        frames.drain(..frames.len() - n);
    }
    frames
}

/// A stand-in kind for the model-valued transcript where the server's error states none and
/// the model expects no error: the kind the op would most plausibly raise. Never compared
/// (see [`crate::reading`]); the divergence shows the error as read, with the server's text.
fn guess_error_kind(op: &Op) -> ErrorKind {
    match op {
        Op::Send {
            selector: Selector::Groups(gs),
            ..
        } if gs.iter().any(|g| g.as_deref().is_none_or(str::is_empty)) => ErrorKind::EmptyGroupName,
        Op::JoinRoom { room: Some(_), .. } | Op::LeaveRoom { room: Some(_), .. } => {
            ErrorKind::NoUser
        }
        _ => ErrorKind::NullGroupName,
    }
}

/// Sorts each step's deliveries by recipient, keeping each recipient's order: the canonical
/// form both transcripts are compared in (order across recipients carries no meaning).
fn canonical(mut t: Transcript) -> Transcript {
    for step in &mut t.steps {
        step.outcome.deliveries.sort_by_key(|d| d.to);
    }
    t
}

/// The state of one run.
struct Run<'a> {
    ops: &'a [Op],
    expected: &'a Transcript,
    observed: Vec<ObservedStep>,
    divergences: Vec<Divergence>,
    replay: String,
    /// (origin step index, recipient, payload) of each message that arrived after its barrier.
    late_seen: Vec<(usize, ConnId, String)>,
}

impl Run<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        step: usize,
        op: &Op,
        kind: DivergenceKind,
        rules: Vec<&'static str>,
        expected: String,
        observed: String,
        frames: Vec<RawFrame>,
    ) {
        self.divergences.push(Divergence {
            rules,
            kind,
            step,
            op: Some(format_op(op)),
            expected,
            observed,
            transcript: ObservedTranscript {
                transcript: Transcript {
                    spec: self.expected.spec,
                    steps: Vec::new(),
                },
                results_as_read: BTreeMap::new(),
            },
            replay: self.replay.clone(),
            frames,
        });
    }

    fn protocol(&mut self, step: usize, op: &Op, e: &ClientError, frames: Vec<RawFrame>) {
        let rules = e.rule().into_iter().collect();
        self.push(
            step,
            op,
            DivergenceKind::Protocol,
            rules,
            "the op completes under the JSON hub protocol".into(),
            e.to_string(),
            tail(frames, FRAMES_PER_CONN * 2),
        );
    }

    /// A message of step `origin` (0-based) reached `to` during step `index`, after the
    /// barrier of its own step: a copy beyond what the model expects (counting what arrived in
    /// time, replays and earlier late arrivals) is a duplicate; otherwise it is late.
    fn after_barrier(
        &mut self,
        spec: Spec,
        index: usize,
        origin: usize,
        to: ConnId,
        payload: String,
        frames: Vec<RawFrame>,
    ) {
        let counted = |ds: &[Delivery]| {
            ds.iter()
                .filter(|d| d.to == to && d.payload == payload && d.mode != Mode::Replayed)
                .count()
        };
        let expected = counted(&self.expected.steps[origin].outcome.deliveries);
        let seen = counted(&self.observed[origin].deliveries)
            + self
                .late_seen
                .iter()
                .filter(|(o, t, p)| *o == origin && *t == to && *p == payload)
                .count();
        if expected == 0 {
            let rules = blame::delivery_rules(
                &spec,
                self.ops,
                origin,
                DivergenceKind::Unexpected,
                to,
                None,
            );
            let op = &self.ops[index];
            self.push(
                index + 1,
                op,
                DivergenceKind::Unexpected,
                rules,
                format!("step {} delivers nothing to {to}", origin + 1),
                format!(
                    "{to} <= {payload:?} from step {}, arriving during step {}",
                    origin + 1,
                    index + 1
                ),
                frames,
            );
            return;
        }
        if seen < expected {
            self.late_seen.push((origin, to, payload.clone()));
            self.late(spec, index, origin, to, payload, frames);
            return;
        }
        let rules =
            blame::delivery_rules(&spec, self.ops, origin, DivergenceKind::Duplicate, to, None);
        let op = &self.ops[index];
        self.push(
            index + 1,
            op,
            DivergenceKind::Duplicate,
            rules,
            format!(
                "{to} <= {payload:?} {} time(s), from step {}",
                expected,
                origin + 1
            ),
            format!(
                "{to} <= {payload:?} once more during step {}, after the barrier of step {}",
                index + 1,
                origin + 1
            ),
            frames,
        );
    }

    /// A message of step `origin` (0-based) reached `to` only during step `index`: the lost
    /// divergence reported at its own step becomes a late one.
    fn late(
        &mut self,
        spec: Spec,
        index: usize,
        origin: usize,
        to: ConnId,
        payload: String,
        frames: Vec<RawFrame>,
    ) {
        let text = format!(
            "{to} <= {payload:?} arrived during step {}, after the barrier of step {}",
            index + 1,
            origin + 1
        );
        if let Some(d) = self.divergences.iter_mut().find(|d| {
            d.step == origin + 1
                && d.kind == DivergenceKind::Lost
                && d.observed.starts_with(&format!("{to} "))
                && d.expected.contains(&format!("{payload:?}"))
        }) {
            d.kind = DivergenceKind::Late;
            d.rules =
                blame::delivery_rules(&spec, self.ops, origin, DivergenceKind::Late, to, None);
            d.observed = format!("{}; {text}", d.observed);
            d.frames.extend(frames);
            return;
        }
        let rules = blame::delivery_rules(&spec, self.ops, origin, DivergenceKind::Late, to, None);
        let op = &self.ops[index];
        self.push(
            index + 1,
            op,
            DivergenceKind::Late,
            rules,
            format!("{payload:?} to {to} by the barrier of step {}", origin + 1),
            text,
            frames,
        );
    }

    /// Compares step `index` with the model: result, then each recipient's messages.
    fn compare(&mut self, spec: Spec, index: usize) {
        let step = index + 1;
        let op = &self.ops[index];
        let exp = &self.expected.steps[index].outcome;
        let Some(result) = self.observed[index].result else {
            return;
        };
        let matches = match &self.observed[index].error {
            Some((_, reading)) => reading.matches(exp.result),
            None => result == exp.result,
        };
        if !matches {
            let text = match &self.observed[index].error {
                Some((t, reading)) => format!("{} ({t:?})", reading.describe()),
                None => result.to_string(),
            };
            self.push(
                step,
                op,
                DivergenceKind::Result,
                blame::result_rules(&spec, self.ops, index),
                exp.result.to_string(),
                text,
                Vec::new(),
            );
        }
        // Buffered deliveries are compared where they become visible: at the resume.
        let visible = |ds: &[Delivery]| {
            let mut map: BTreeMap<ConnId, Vec<(String, Option<usize>)>> = BTreeMap::new();
            for d in ds.iter().filter(|d| d.mode != Mode::Buffered) {
                map.entry(d.to).or_default().push((d.payload.clone(), None));
            }
            map
        };
        let expected = visible(&exp.deliveries);
        let observed = visible(&self.observed[index].deliveries);
        let mut recipients: Vec<ConnId> = expected.keys().chain(observed.keys()).copied().collect();
        recipients.sort();
        recipients.dedup();
        for to in recipients {
            let e: Vec<String> = expected
                .get(&to)
                .map(|v| v.iter().map(|(p, _)| p.clone()).collect())
                .unwrap_or_default();
            let o: Vec<String> = observed
                .get(&to)
                .map(|v| v.iter().map(|(p, _)| p.clone()).collect())
                .unwrap_or_default();
            if e == o {
                continue;
            }
            let count = |v: &[String]| {
                let mut m: BTreeMap<String, usize> = BTreeMap::new();
                for p in v {
                    *m.entry(p.clone()).or_default() += 1;
                }
                m
            };
            let (ce, co) = (count(&e), count(&o));
            let mut kinds = Vec::new();
            for (p, n) in &ce {
                if co.get(p).copied().unwrap_or(0) < *n {
                    kinds.push((DivergenceKind::Lost, p.clone()));
                }
            }
            for (p, n) in &co {
                let want = ce.get(p).copied().unwrap_or(0);
                if *n > want {
                    let kind = if want > 0 {
                        DivergenceKind::Duplicate
                    } else {
                        DivergenceKind::Unexpected
                    };
                    kinds.push((kind, p.clone()));
                }
            }
            if kinds.is_empty() {
                kinds.push((DivergenceKind::Reordered, String::new()));
            }
            let list = |v: &[String]| {
                if v.is_empty() {
                    format!("{to} receives nothing")
                } else {
                    format!(
                        "{to} <= {}",
                        v.iter()
                            .map(|p| format!("{p:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            };
            let mut seen_kinds = Vec::new();
            for (kind, _) in kinds {
                if seen_kinds.contains(&kind) {
                    continue;
                }
                seen_kinds.push(kind);
                let origin = match op {
                    Op::Resume { .. } => self.origin_of_replay(index, &e, &o),
                    _ => None,
                };
                let rules = blame::delivery_rules(&spec, self.ops, index, kind, to, origin);
                self.push(step, op, kind, rules, list(&e), list(&o), Vec::new());
            }
        }
    }

    /// For a wrong replay: the step of the first expected replayed payload (for blame).
    fn origin_of_replay(&self, index: usize, e: &[String], o: &[String]) -> Option<usize> {
        let p = e
            .iter()
            .find(|p| !o.contains(p))
            .or(e.first())
            .or(o.first())?;
        (0..index)
            .rev()
            .find(|&j| matches!(&self.ops[j], Op::Send { payload, .. } if payload == p))
    }

    /// The observed transcript: every step that produced a result, canonical order, with the
    /// model's buffered deliveries copied where they cannot be observed (see the module doc).
    fn observed_transcript(&self, spec: Spec) -> Transcript {
        let mut steps = Vec::new();
        for (index, obs) in self.observed.iter().enumerate() {
            let Some(result) = obs.result else { break };
            let mut deliveries = obs.deliveries.clone();
            let exp = &self.expected.steps[index].outcome;
            for d in exp.deliveries.iter().filter(|d| d.mode == Mode::Buffered) {
                if !self.replayed_later(index, d.to) {
                    deliveries.push(d.clone());
                }
            }
            steps.push(Step {
                op: self.ops[index].clone(),
                outcome: Outcome { result, deliveries },
            });
        }
        canonical(Transcript { spec, steps })
    }

    /// Whether the model replays `to`'s buffer (as of step `index`) at a resume this run
    /// executed: then the observed buffered lines come from what was in fact replayed.
    fn replayed_later(&self, index: usize, to: ConnId) -> bool {
        for k in index + 1..self.ops.len() {
            match &self.ops[k] {
                Op::Resume { conn, .. } if *conn == to => {
                    return self.expected.steps[k].outcome.result == OpResult::Ok
                        && self.observed.get(k).is_some_and(|o| o.result.is_some());
                }
                Op::Expire { conn } if *conn == to => return false,
                Op::Restart => return false,
                _ => {}
            }
        }
        false
    }
}
