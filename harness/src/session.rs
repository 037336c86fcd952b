//! Sessions: run an op sequence against a live hub and observe exactly what each op did.
//!
//! A [`Session`] maps the model's connections (`c1`, `c2`, …) to live [`Client`]s and runs the
//! ops one by one. After each op it flushes every connected client with a *barrier*: the
//! client invokes `SendToConnection(own id, marker)` and waits for the marker. The contract
//! says a send completes only after its message is in every recipient's outgoing queue, and a
//! connection's messages arrive in order, so whatever a client received before its marker was
//! sent by an op up to now, and nothing sent so far can still be on its way. The barrier is
//! therefore an exchange of messages, never a sleep; the only sleeps in a session are an
//! `Expire`, which waits out the target's disconnect timeout (nothing on the wire says when it
//! has passed), a resume's back-off while the server still answers 409 (see
//! `resume_with_retry`), and the pause a diagnosis asks for ([`Session::settle_before`]).
//!
//! The session is three modules, one per kind of data:
//! - `session/wire.rs`: model ops → contract calls with names unique to the run, and received
//!   payloads → the step that sent them;
//! - `session/compare.rs`: the pure comparator: the model's transcript and what each step
//!   observed → divergences (lost, late, duplicate, unexpected, reordered…; see its module doc);
//! - this file, the driver: connections, one method per kind of op, barriers, and the
//!   classification of a target that stops answering.
//!
//! What a connection received after its last barrier is attributed when it is disconnected or
//! dropped, or the server restarts. An error's kind is read from the server's text
//! ([`crate::reading`]), never copied from the model. The one thing copied from the model into
//! the observed transcript is a buffered delivery that no resume of the run replays (see
//! `Run::observed_transcript` in `session/compare.rs`).
//!
//! The driver is one file (about 690 lines): each op kind's method, the barrier and the
//! classification of a silent target all act on the same live clients and connection states.

mod compare;
pub(crate) mod wire;

use crate::client::{Client, ClientOptions, RawFrame, Received};
use crate::config::TargetConfig;
use crate::divergence::DivergenceKind;
use crate::error::{ClientError, HarnessError};
use crate::reading::ObservedTranscript;
use crate::restart::Restarter;
use compare::{canonical, Run};
use hubspec_model::{
    is_exclusive, Capability, ConnId, ErrorKind, Op, OpResult, Profile, Spec, Transcript,
};
use hubspec_wire::CompletionResult;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use wire::Names;

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
    pub divergences: Vec<crate::divergence::Divergence>,
    /// Whether the history needs the server to itself ([`is_exclusive`]).
    pub exclusive: bool,
    /// How long each step that ran took, its barrier included.
    pub timings: Vec<Duration>,
    /// Steps (1-based) whose result `observed` holds only as a stand-in, with the result as
    /// read from the wire (`error (kind not stated)`…); see [`crate::reading`].
    pub results_as_read: BTreeMap<usize, String>,
    /// Why the run says nothing about the target, when the harness itself was too slow: a
    /// resume refused because it came after the target's disconnect timeout had passed since
    /// the drop (a loaded machine can take that long between two steps). The caller runs the
    /// history again rather than blame the target.
    pub too_slow: Option<String>,
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
    /// When its transport was last dropped: a resume refused after the disconnect timeout
    /// has passed since then is the harness's lateness, not the target's fault.
    dropped_at: Option<Instant>,
    /// How many messages its client had dropped as unreadable at the last sweep.
    unread_seen: u64,
}

/// Whether the run goes on after a step: `Stop` when the target is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Go,
    Stop,
}

/// Runs op sequences against one target.
pub struct Session {
    config: TargetConfig,
    spec: Spec,
    case: String,
    restarter: Option<Arc<dyn Restarter>>,
    names: Names,
    conns: BTreeMap<ConnId, Live>,
    /// Live connection id -> the model id it was first seen as.
    seen_ids: HashMap<String, ConnId>,
    next_node: usize,
    connects: u32,
    /// Pauses before steps (their 0-based indices): see [`Session::settle_before`].
    settle: Vec<(usize, Duration)>,
    /// Set when the harness was too slow for the run to judge the target (see
    /// [`RunReport::too_slow`]).
    too_slow: Option<String>,
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
        let case = clean_case(case);
        Session {
            config: config.clone(),
            spec,
            names: Names::fresh(&case),
            case,
            restarter,
            conns: BTreeMap::new(),
            seen_ids: HashMap::new(),
            next_node: 0,
            connects: 0,
            settle: Vec::new(),
            too_slow: None,
        }
    }

    /// Makes every later [`run`](Self::run) wait `pause` before step `index` (0-based) — after
    /// the barrier of the step before it; each call adds one pause. A diagnosis, not a test: a
    /// divergence that goes away when the target is given time before a step was a change that
    /// took effect late (and a run steered around such a target pauses after its changes).
    pub fn settle_before(&mut self, index: usize, pause: Duration) {
        self.settle.push((index, pause));
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
        self.names = Names::fresh(&self.case);
        self.seen_ids.clear();
        self.connects = 0;
        self.too_slow = None;
        let mut run = Run::new(ops, &expected);
        let mut timings = Vec::with_capacity(ops.len());
        for index in 0..ops.len() {
            if let Some((_, pause)) = self.settle.iter().find(|(at, _)| *at == index) {
                tokio::time::sleep(*pause).await;
            }
            let started = Instant::now();
            run.begin(index);
            let next = self.step(&mut run, index).await?;
            let barrier = self.barrier(&mut run, index).await;
            let unreadable = self.sweep_findings(&mut run, index);
            // A delivery or result mismatch carries the raw frames of the run's connections.
            run.compare(index, || self.frames());
            for rule in unreadable {
                run.unreadable(index, rule);
            }
            timings.push(started.elapsed());
            if next == Next::Stop || barrier == Next::Stop {
                break;
            }
        }
        let finished = run.finish();
        self.close().await;
        Ok(RunReport {
            observed: finished.observed,
            expected,
            divergences: finished.divergences,
            exclusive: is_exclusive(ops),
            timings,
            results_as_read: finished.results_as_read,
            too_slow: self.too_slow.take(),
        })
    }

    fn client_options(&self, node: usize, label: String, user: Option<String>) -> ClientOptions {
        let mut opts = ClientOptions::for_target(&self.config, node);
        opts.user = user;
        opts.label = label;
        opts.stateful = self.spec.profile == Profile::CoreStateful
            && self.config.has(Capability::StatefulReconnect);
        opts
    }

    // ----- one step, one method per kind of op -----

    /// Performs step `index`.
    async fn step(&mut self, run: &mut Run<'_>, index: usize) -> Result<Next, HarnessError> {
        match run.op(index) {
            Op::Connect { user } => Ok(self.connect(run, index, user.as_deref()).await),
            Op::Disconnect { conn } => {
                self.disconnect(run, index, *conn).await;
                Ok(Next::Go)
            }
            Op::Drop { conn } => {
                self.drop_transport(run, index, *conn).await;
                Ok(Next::Go)
            }
            Op::Resume { conn, .. } => Ok(self.resume(run, index, *conn).await),
            Op::Expire { conn } => {
                self.expire(run, index, *conn).await;
                Ok(Next::Go)
            }
            Op::Restart => {
                self.restart(run, index).await?;
                Ok(Next::Go)
            }
            _ => self.invoke(run, index).await,
        }
    }

    /// `Connect`: opens a client on the next node and learns its live id.
    async fn connect(&mut self, run: &mut Run<'_>, index: usize, user: Option<&str>) -> Next {
        self.connects += 1;
        let model_id = ConnId(self.connects);
        let node = self.next_node % self.config.urls.len();
        self.next_node += 1;
        let mut opts =
            self.client_options(node, model_id.to_string(), user.map(|u| self.names.user(u)));
        opts.protocol = self.config.protocol_for(model_id.0);
        let client = match self.dial(opts).await {
            Ok(c) => c,
            Err((e, frames)) => {
                let e = self.classify_death(node, e).await;
                run.protocol(index, &e, frames);
                return Next::Stop;
            }
        };
        if self.spec.profile == Profile::CoreStateful && !client.is_stateful() {
            // Recorded here; only a resume needs it, and that is where the case stops.
            run.note(
                index,
                vec!["PRO-NEGOTIATE"],
                format!("{model_id}: the target claims stateful reconnect, but the connection did not get it (negotiate did not grant useStatefulReconnect, or gave no token)"),
                client.frames(),
            );
        }
        let (live_id, state, next) = match client.connection_id().await {
            Ok(id) => (id, State::Connected, Next::Go),
            Err(e) => {
                let e = self.classify_timeout(&client, e).await;
                run.protocol(index, &e, client.frames());
                (String::new(), State::Ended, Next::Stop)
            }
        };
        if next == Next::Go {
            let first_sight = !self.seen_ids.contains_key(&live_id);
            let observed_id = *self.seen_ids.entry(live_id.clone()).or_insert(model_id);
            run.set_result(index, OpResult::Connected(observed_id));
            // An id reused within this run shows as an earlier connection's (above); one that a
            // connection of another run had goes to the shared ledger, reported once for the
            // target (see `crate::issued`).
            if first_sight {
                self.config.issued.note(&live_id, &self.case);
            }
        }
        let live = Live {
            client,
            node,
            live_id,
            state,
            dropped_at: None,
            unread_seen: 0,
        };
        self.conns.insert(model_id, live);
        next
    }

    /// Opens a client. A negotiated connection the target forgot because the WebSocket came
    /// only after its disconnect timeout (a 404 on the upgrade, on a loaded machine) is the
    /// harness's lateness, not a finding: it negotiates again, at most twice more.
    async fn dial(&self, opts: ClientOptions) -> Result<Client, (ClientError, Vec<RawFrame>)> {
        let mut attempts = 1;
        loop {
            let started = Instant::now();
            match Client::connect_with_frames(opts.clone()).await {
                Err((ClientError::Status { status: 404, .. }, _))
                    if attempts < 3
                        && started.elapsed() > self.config.timeouts.disconnect_timeout =>
                {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    /// `Disconnect`: closes the client and checks what came after its last barrier.
    async fn disconnect(&mut self, run: &mut Run<'_>, index: usize, conn: ConnId) {
        if let Some(live) = self.conns.get_mut(&conn) {
            // A failed close is a PRO-CLOSE finding, swept after the barrier.
            let _ = live.client.close().await;
            live.state = State::Ended;
            // What arrived after the last barrier (until the socket ended) is checked like a
            // barrier's catch: no barrier will run on this connection again.
            let received = live.client.drain_received();
            self.attribute(run, index, conn, received, None);
        }
        run.set_result(index, OpResult::Ok);
    }

    /// `Drop`: ends the transport without a Close; the connection is suspended.
    async fn drop_transport(&mut self, run: &mut Run<'_>, index: usize, conn: ConnId) {
        if let Some(live) = self.conns.get_mut(&conn) {
            live.client.drop_transport().await;
            live.state = State::Suspended;
            live.dropped_at = Some(Instant::now());
            let received = live.client.drain_received();
            self.attribute(run, index, conn, received, None);
        }
        run.set_result(index, OpResult::Ok);
    }

    /// `Resume`: reconnects with the connection's token; a refusal is connection-gone.
    async fn resume(&mut self, run: &mut Run<'_>, index: usize, conn: ConnId) -> Next {
        let bound = self.config.timeouts.barrier;
        let Some(live) = self.conns.get_mut(&conn) else {
            run.set_result(index, OpResult::Error(ErrorKind::ConnectionGone));
            return Next::Go;
        };
        let stateful_claimed = self.spec.profile == Profile::CoreStateful
            && self.config.has(Capability::StatefulReconnect);
        if stateful_claimed && !live.client.is_stateful() {
            // Negotiate did not make this connection resumable (noted at its connect). A
            // resume the model refuses is refused all the same; one it accepts cannot tell
            // anything about the hub's reconnect rules.
            if run.expected_result(index) != OpResult::Ok {
                live.state = State::Ended;
                run.set_result(index, OpResult::Error(ErrorKind::ConnectionGone));
                return Next::Go;
            }
            let e = ClientError::protocol(
                "PRO-NEGOTIATE",
                format!("{conn} cannot be resumed: negotiate did not give it stateful reconnect"),
            );
            run.protocol(index, &e, live.client.frames());
            return Next::Stop;
        }
        let result = match resume_with_retry(&mut live.client, bound).await {
            Ok(()) => {
                live.state = State::Connected;
                OpResult::Ok
            }
            Err(ClientError::Status { status, .. }) if (400..500).contains(&status) => {
                live.state = State::Ended;
                let timeout = self.config.timeouts.disconnect_timeout;
                let expected_ok = run.expected_result(index) == OpResult::Ok;
                if let Some(since) = live.dropped_at.map(|at| at.elapsed()) {
                    if expected_ok && since > timeout && self.too_slow.is_none() {
                        self.too_slow = Some(format!(
                            "step {}: the resume came {} ms after the drop, past the target's \
                             disconnect timeout of {} ms",
                            index + 1,
                            since.as_millis(),
                            timeout.as_millis()
                        ));
                    }
                }
                OpResult::Error(ErrorKind::ConnectionGone)
            }
            // Without a token (skip_negotiation) there is nothing to resume.
            Err(ClientError::NoConnectionToken) => {
                live.state = State::Ended;
                OpResult::Error(ErrorKind::ConnectionGone)
            }
            Err(ClientError::Protocol { rule, detail }) => {
                // The transport is up; the protocol slip is recorded and the run goes on.
                run.note(
                    index,
                    vec![rule],
                    format!("{conn}: {detail}"),
                    live.client.frames(),
                );
                live.state = State::Connected;
                OpResult::Ok
            }
            Err(e) => {
                run.protocol(index, &e, live.client.frames());
                return Next::Stop;
            }
        };
        run.set_result(index, result);
        Next::Go
    }

    /// `Expire`: sleeps past the target's disconnect timeout (the one wait that cannot be a
    /// barrier: nothing on the wire says when it has passed), then checks that a resume at the
    /// token is refused.
    async fn expire(&mut self, run: &mut Run<'_>, index: usize, conn: ConnId) {
        let wait = self.config.timeouts.disconnect_timeout;
        let margin = (wait / 5).max(Duration::from_millis(500));
        tokio::time::sleep(wait + margin).await;
        if let Some(live) = self.conns.get_mut(&conn) {
            match live.client.resume().await {
                Ok(()) => {
                    live.client.drop_transport().await;
                    run.push(
                        index,
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
                // A connection negotiate did not make resumable (noted at its connect): its
                // expiry cannot be seen.
                Err(ClientError::NoConnectionToken) if !live.client.is_stateful() => {
                    let e = ClientError::protocol(
                        "PRO-NEGOTIATE",
                        format!("{conn}'s expiry cannot be checked: negotiate did not give it stateful reconnect"),
                    );
                    run.protocol(index, &e, live.client.frames());
                }
                Err(e) => run.protocol(index, &e, live.client.frames()),
            }
            live.state = State::Ended;
        }
        run.set_result(index, OpResult::Ok);
    }

    /// `Restart`: every connection ends (what it received since its barrier is checked), then
    /// the restarter restarts the target.
    async fn restart(&mut self, run: &mut Run<'_>, index: usize) -> Result<(), HarnessError> {
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
        run.set_result(index, OpResult::Ok);
        Ok(())
    }

    /// An invocation (membership op or send): the caller invokes it and awaits its Completion.
    async fn invoke(&mut self, run: &mut Run<'_>, index: usize) -> Result<Next, HarnessError> {
        let op = run.op(index);
        let caller = op.caller().expect("an invocation has a caller");
        let conns = &self.conns;
        let live_id = |c: ConnId| conns.get(&c).map(|l| l.live_id.clone());
        let (method, args) = self.names.invocation(index + 1, op, &live_id);
        let Some(live) = self.conns.get(&caller) else {
            return Err(HarnessError::Client(ClientError::Closed {
                detail: format!("{caller} has no client"),
            }));
        };
        match live.client.invoke(method, args).await {
            Ok(CompletionResult::Error(text)) => run.set_error(index, text),
            Ok(_) => run.set_result(index, OpResult::Ok),
            Err(e) => {
                let e = self.classify_timeout(&live.client, e).await;
                let e = self.classify_death(live.node, e).await;
                run.protocol(index, &e, live.client.frames());
                return Ok(Next::Stop);
            }
        }
        Ok(Next::Go)
    }

    // ----- barrier and attribution -----

    /// Flushes every connected client and attributes what it received; a barrier that breaks
    /// stops the run.
    async fn barrier(&mut self, run: &mut Run<'_>, index: usize) -> Next {
        let step = index + 1;
        let bound = self.config.timeouts.barrier;
        let deadline = Instant::now() + bound;
        let mut jobs = Vec::new();
        for (id, live) in &self.conns {
            if live.state == State::Connected {
                jobs.push((*id, self.names.marker(step, *id)));
            }
        }
        let results = futures_util::future::join_all(jobs.iter().map(|(id, marker)| {
            let live = &self.conns[id];
            barrier_one(&live.client, &live.live_id, marker, deadline, bound)
        }))
        .await;
        let resumed = match run.op(index) {
            Op::Resume { conn, .. } if run.result(index) == Some(OpResult::Ok) => Some(*conn),
            _ => None,
        };
        let mut next = Next::Go;
        for ((id, _), (received, problem)) in jobs.iter().zip(results) {
            self.attribute(run, index, *id, received, resumed);
            let Some(problem) = problem else { continue };
            next = Next::Stop;
            let live = self.conns.get_mut(id).expect("barrier ran on it");
            let rules = match &problem {
                ClientError::Timeout { .. } => vec!["SND-CONNECTION", "PRO-RESPONSIVE"],
                other => other.rule().into_iter().collect(),
            };
            if let ClientError::Closed { .. } = problem {
                live.state = State::Ended;
            }
            run.push(
                index,
                DivergenceKind::BrokenBarrier,
                rules,
                format!("{id} gets its own SendToConnection marker back"),
                format!("{id}: {problem}"),
                tail(live.client.frames(), FRAMES_PER_CONN),
            );
        }
        next
    }

    /// Attributes what connection `id` received during step `index` (by its barrier, or
    /// before it was closed or dropped) to the ops that sent it; `resumed` is the connection
    /// this step resumed, whose earlier messages are replays.
    fn attribute(
        &self,
        run: &mut Run<'_>,
        index: usize,
        id: ConnId,
        received: Vec<Received>,
        resumed: Option<ConnId>,
    ) {
        let decoded = received.iter().map(|r| self.names.decode(r));
        run.receive(index, id, decoded, resumed, &|| self.frames_of(&[id]));
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

    /// Turns what the clients' readers noticed on their own into findings. A `PRO-` finding is
    /// a deviation the reader read past (tolerant observation): it is recorded as a tolerated
    /// protocol divergence and the run goes on with what the server sent; any other rule's (a
    /// Sequence past what can be replayed) is a divergence of the history. Returns the rule of
    /// each connection that dropped a message as unreadable during the step: what that step
    /// then misses is that rule's doing ([`Run::unreadable`]).
    fn sweep_findings(&mut self, run: &mut Run<'_>, index: usize) -> Vec<&'static str> {
        let mut unreadable = Vec::new();
        for (id, live) in &mut self.conns {
            let (count, unread) = live.client.unread();
            if count > live.unread_seen {
                live.unread_seen = count;
                unreadable.extend(unread.map(|u| u.rule));
            }
            let findings = live.client.take_findings();
            if findings.is_empty() {
                continue;
            }
            let frames = tail(live.client.frames(), FRAMES_PER_CONN * 2);
            let (tolerated, other): (Vec<_>, Vec<_>) =
                findings.iter().partition(|f| f.rule.starts_with("PRO-"));
            for (group, tolerated) in [(tolerated, true), (other, false)] {
                if group.is_empty() {
                    continue;
                }
                let mut rules: Vec<&'static str> = Vec::new();
                for f in &group {
                    if !rules.contains(&f.rule) {
                        rules.push(f.rule);
                    }
                }
                let observed = group
                    .iter()
                    .map(|f| format!("{id}: [{}] {}", f.rule, f.detail))
                    .collect::<Vec<_>>()
                    .join("; ");
                if tolerated {
                    run.note(index, rules, observed, frames.clone());
                } else {
                    run.push(
                        index,
                        DivergenceKind::Protocol,
                        rules,
                        "the hub protocol, followed to the letter".into(),
                        observed,
                        frames.clone(),
                    );
                }
            }
            if !live.client.is_open() && live.state == State::Connected {
                live.state = State::Ended;
            }
        }
        unreadable
    }

    // ----- a target that stops answering -----

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

/// One connection's barrier: it sends `marker` to itself and collects what comes before it,
/// until `deadline`; `bound` is the configured barrier bound a timeout names.
async fn barrier_one(
    client: &Client,
    live_id: &str,
    marker: &str,
    deadline: Instant,
    bound: Duration,
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
                // The timeout names the configured bound, not what `recv_until` measured.
                let e = match e {
                    ClientError::Timeout { .. } => {
                        ClientError::timeout(format!("the barrier marker {marker:?}"), bound)
                    }
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
