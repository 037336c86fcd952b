//! The hub's state: the model's [`Hub`] plus what only a server has (public ids, tokens,
//! sockets, replay buffers), and the one place where contract calls become model operations
//! and the model's deliveries become frames.
//!
//! **Invariant:** group and connection semantics live in the model alone. Every membership or
//! send goes through [`Hub::apply`]; refhub only routes the deliveries it returns. Faults are
//! changes to the operations given to the model (or to the wire), never a second
//! implementation.
//!
//! Everything here runs under one `std::sync::Mutex`, never held across an `.await`: writes
//! to sockets only enqueue on each connection's unbounded channel, whose writer task owns the
//! socket, so a slow or dead socket never blocks the lock or another connection.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use hubspec_model::{
    ConnId, Delivery, ErrorKind, GroupsFanout, Hub, Mode, Op, OpResult, Outcome, Profile, Selector,
    Spec, Status, Target, Text,
};
use hubspec_wire::{CompletionResult, HubMessage, MessageBuffer};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::config::RefHubConfig;
use crate::dispatch::{errors, Call, Name, Send};
use crate::faults::Fault;
use crate::rooms::RoomsDb;

/// What a connection's writer task is asked to do.
#[derive(Debug)]
pub(crate) enum Out {
    /// Write one text frame.
    Text(Utf8Bytes),
    /// Write a WebSocket close frame and stop.
    Close,
    /// Stop without a close frame: the socket is dropped, as ASP.NET Core's WebSocket is
    /// aborted when the server shuts down.
    Abort,
}

/// The sending half of one socket.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    tx: mpsc::UnboundedSender<Out>,
    /// Messages enqueued and not yet written by the writer task.
    queued: Arc<AtomicUsize>,
}

impl Transport {
    /// A transport and the receiving end its writer task drains.
    pub(crate) fn new() -> (Transport, mpsc::UnboundedReceiver<Out>, Arc<AtomicUsize>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Transport {
                tx,
                queued: queued.clone(),
            },
            rx,
            queued,
        )
    }

    /// Enqueues `out`; returns the number of messages now waiting.
    pub(crate) fn send(&self, out: Out) -> usize {
        let n = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        if self.tx.send(out).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        n
    }

    /// Enqueues one framed record.
    pub(crate) fn send_text(&self, text: impl Into<Utf8Bytes>) -> usize {
        self.send(Out::Text(text.into()))
    }

    /// Enqueues a hub `Close` message and then the WebSocket close frame.
    pub(crate) fn close(&self, error: Option<String>, allow_reconnect: bool) {
        let close = HubMessage::Close {
            error,
            allow_reconnect,
        };
        self.send_text(close.to_wire());
        self.send(Out::Close);
    }

    /// Stops the socket's writer where this lands in its queue: no hub Close, no close frame,
    /// and text fed in the same batch is not flushed (an abort is not a graceful end).
    pub(crate) fn abort(&self) {
        self.send(Out::Abort);
    }

    /// Resolves once the writer task has stopped.
    pub(crate) async fn closed(&self) {
        self.tx.closed().await
    }
}

/// A live (connected or suspended) connection as the server sees it.
pub(crate) struct Entry {
    /// The public `connectionId`.
    pub(crate) public_id: String,
    /// The secret `connectionToken` (`None` without negotiate).
    token: Option<String>,
    /// The stateful-reconnect buffer, for connections that negotiated it (handshake v2).
    buffer: Option<MessageBuffer>,
    /// The socket, while connected.
    transport: Option<Transport>,
    /// Bumped on every socket attached; a task holding an older value is stale.
    pub(crate) generation: u64,
}

impl Entry {
    /// Whether this connection uses stateful reconnect.
    pub(crate) fn is_stateful(&self) -> bool {
        self.buffer.is_some()
    }

    /// Whether a socket is attached (connected, not suspended).
    pub(crate) fn has_transport(&self) -> bool {
        self.transport.is_some()
    }
}

/// What a `connectionToken` currently names.
#[derive(Debug, Clone)]
pub(crate) enum Token {
    /// Negotiated; no socket yet.
    Negotiated {
        public_id: String,
        stateful: bool,
        user: Option<String>,
        at: Instant,
    },
    /// A socket is doing the handshake.
    Connecting,
    /// A live connection.
    Live(ConnId),
}

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Closed by the client (Close message or close frame) or by the server with an error.
    Closed,
    /// The socket was lost and the connection cannot be resumed.
    Lost,
    /// The disconnect timeout passed for a suspended connection.
    Expired,
}

/// What an invocation produced.
pub(crate) struct Performed {
    /// The Completion: a result, or an error text.
    pub(crate) completion: Result<Option<Value>, String>,
    /// `late-membership`: the operation to apply after the Completion is written.
    pub(crate) deferred: Option<Op<Text>>,
}

/// Bookkeeping some faults need; empty when no fault is on.
#[derive(Default)]
struct FaultState {
    /// `sticky-groups`: user → groups their ended connections were in.
    sticky: BTreeMap<String, BTreeSet<String>>,
    /// `memberships-survive-restart`: user → groups their connections were in at a restart.
    survived: BTreeMap<String, BTreeSet<String>>,
    /// `double-add-delivers-twice`: (connection, group) added while already a member. An entry
    /// counts only while the connection is still in the group ([`State::doubled`] checks),
    /// so a leave the bookkeeping did not see (a removal another fault makes) cannot leave it
    /// doubled after a later single add.
    doubled: BTreeSet<(ConnId, String)>,
}

/// The hub's whole state.
pub(crate) struct State {
    pub(crate) config: RefHubConfig,
    spec: Spec,
    /// The model: memberships, connections, rooms records.
    pub(crate) hub: Hub<Text>,
    pub(crate) entries: HashMap<ConnId, Entry>,
    by_public: HashMap<String, ConnId>,
    pub(crate) tokens: HashMap<String, Token>,
    rooms: RoomsDb,
    /// Bumped on every restart; a task holding an older value is stale.
    pub(crate) epoch: u64,
    next_generation: u64,
    faults: FaultState,
    /// Connections to end once the current operation is done (buffer or queue overflow).
    overflowed: Vec<(ConnId, String)>,
}

impl State {
    /// A fresh state whose model holds the database's rooms records.
    pub(crate) fn new(config: RefHubConfig, rooms: RoomsDb) -> Result<State, crate::RefHubError> {
        let mut hub = Hub::new();
        rooms.load_into(&mut hub)?;
        Ok(State {
            spec: config.spec(),
            config,
            hub,
            entries: HashMap::new(),
            by_public: HashMap::new(),
            tokens: HashMap::new(),
            rooms,
            epoch: 0,
            next_generation: 0,
            faults: FaultState::default(),
            overflowed: Vec::new(),
        })
    }

    fn has(&self, fault: Fault) -> bool {
        self.config.faults.contains(&fault)
    }

    fn next_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    /// The model's answer to `op`, with the spec the op is judged by.
    fn model(&mut self, op: &Op<Text>) -> Option<Outcome<Text>> {
        let mut spec = self.spec;
        if self.has(Fault::GroupsFanoutOpposite) {
            spec.groups_fanout = match spec.groups_fanout {
                GroupsFanout::PerGroup => GroupsFanout::Once,
                GroupsFanout::Once => GroupsFanout::PerGroup,
            };
        }
        match self.hub.apply(&spec, op) {
            Ok(outcome) => Some(outcome),
            Err(e) => {
                // refhub keeps the model in step with its sockets, so this is a refhub bug.
                tracing::error!(op = %hubspec_model::format_op(op), error = %e, "model refused an operation");
                None
            }
        }
    }

    /// Applies `op` to the model and writes its deliveries.
    fn apply(&mut self, op: &Op<Text>) -> Option<OpResult> {
        let outcome = self.model(op)?;
        self.deliver(&outcome.deliveries);
        Some(outcome.result)
    }

    /// Writes deliveries: `Now` to the socket, `Buffered` into the replay buffer. `Replayed`
    /// is the model's view of a resume; the replay buffer's resend already carries those
    /// messages, so they are not written again.
    fn deliver(&mut self, deliveries: &[Delivery<Text>]) {
        let mut shared: Option<(&str, Utf8Bytes)> = None;
        for d in deliveries {
            if d.mode == Mode::Replayed {
                continue;
            }
            let message = receive(&d.payload);
            let text = match &shared {
                Some((p, t)) if *p == d.payload.as_str() => t.clone(),
                _ => {
                    let t = Utf8Bytes::from(message.to_wire());
                    shared = Some((d.payload.as_str(), t.clone()));
                    t
                }
            };
            self.push(d.to, &message, Some(text));
        }
    }

    /// Writes one hub message to a connection: numbered and kept if it is stateful, and
    /// enqueued on its socket if it has one.
    pub(crate) fn push(&mut self, to: ConnId, message: &HubMessage, text: Option<Utf8Bytes>) {
        let limit_queue = self.config.max_queued_messages;
        let Some(entry) = self.entries.get_mut(&to) else {
            return;
        };
        let text = match &mut entry.buffer {
            Some(buffer) => Utf8Bytes::from(buffer.write(message)),
            None => text.unwrap_or_else(|| Utf8Bytes::from(message.to_wire())),
        };
        if let Some(transport) = &entry.transport {
            if transport.send_text(text) > limit_queue {
                self.overflowed.push((
                    to,
                    format!(
                        "Connection closed with an error. HubException: more than {limit_queue} messages were waiting to be written to this connection."
                    ),
                ));
            }
        }
        if let Some(buffer) = &entry.buffer {
            // A suspended connection may keep `replay_buffer_bytes`; a connected one, whose
            // client acks every second, gets ten times that before it is cut (ASP.NET Core
            // would block the sender instead).
            let limit = if entry.transport.is_some() {
                buffer.limit().saturating_mul(10)
            } else {
                buffer.limit()
            };
            if buffer.buffered_bytes() > limit {
                self.overflowed.push((
                    to,
                    format!(
                        "Connection closed with an error. HubException: the stateful reconnect buffer of {} bytes is full.",
                        buffer.limit()
                    ),
                ));
            }
        }
    }

    /// Ends every connection that overflowed during the last operation.
    pub(crate) fn settle(&mut self) {
        while let Some((id, error)) = self.overflowed.pop() {
            tracing::warn!(conn = %id, %error, "ending connection");
            // refhub's own limits (a client that does not read, a full replay buffer); ASP.NET
            // Core blocks the sender instead. Like `Exit::Refused`: the error, no
            // allowReconnect (as for a hub's `Context.Abort()`, HubConnectionHandlerTests.cs@
            // 25538d16083dd2d4a35dbde17951f56edb2eeac7 `AbortFromHubMethodForcesClientDisconnect`:
            // `Assert.False(close.AllowReconnect);`).
            if let Some(transport) = self.end(id, End::Closed) {
                transport.close(Some(error), false);
            }
        }
    }

    /// The model target a client's id string names.
    fn target(&self, id: &str) -> Target {
        self.by_public
            .get(id)
            .map_or(Target::Unknown, |c| Target::Id(*c))
    }

    /// The model target a client's id argument names: `null` is [`Target::Null`], which the
    /// model refuses on its own and matches with no connection inside a list.
    fn target_arg(&self, id: Option<&str>) -> Target {
        id.map_or(Target::Null, |s| self.target(s))
    }

    fn targets(&self, ids: &[Option<String>]) -> Vec<Target> {
        ids.iter()
            .map(|id| self.target_arg(id.as_deref()))
            .collect()
    }

    fn fold(&self, name: Name) -> Name {
        if self.has(Fault::CaseInsensitiveGroups) {
            name.map(|n| n.to_lowercase())
        } else {
            name
        }
    }

    // ----- connections -----

    /// A new connection after a successful handshake. The caller has already enqueued the
    /// handshake response on `transport`, so it precedes everything written here.
    pub(crate) fn connect(
        &mut self,
        user: Option<String>,
        public_id: String,
        token: Option<String>,
        stateful: bool,
        transport: Transport,
    ) -> Option<(ConnId, u64)> {
        let OpResult::Connected(id) = self.apply(&Op::Connect { user: user.clone() })? else {
            return None;
        };
        let generation = self.next_generation();
        self.entries.insert(
            id,
            Entry {
                public_id: public_id.clone(),
                token: token.clone(),
                buffer: stateful.then(|| MessageBuffer::new(self.config.replay_buffer_bytes)),
                transport: Some(transport),
                generation,
            },
        );
        self.by_public.insert(public_id, id);
        if let Some(token) = token {
            self.tokens.insert(token, Token::Live(id));
        }
        if self.has(Fault::RoomsNotRestored) {
            let restored: Vec<String> = self.groups_of(id);
            for group in restored {
                self.apply(&Op::RemoveFromGroup {
                    caller: id,
                    group: Some(group),
                });
            }
        }
        if let Some(user) = &user {
            let mut extra: BTreeSet<String> = BTreeSet::new();
            if self.has(Fault::StickyGroups) {
                extra.extend(self.faults.sticky.get(user).into_iter().flatten().cloned());
            }
            if self.has(Fault::MembershipsSurviveRestart) {
                extra.extend(
                    self.faults
                        .survived
                        .get(user)
                        .into_iter()
                        .flatten()
                        .cloned(),
                );
            }
            for group in extra {
                self.apply(&Op::AddToGroup {
                    caller: id,
                    group: Some(group),
                });
            }
        }
        Some((id, generation))
    }

    fn groups_of(&self, id: ConnId) -> Vec<String> {
        self.hub
            .conn(id)
            .map(|c| c.groups.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn is_member(&self, id: ConnId, group: &str) -> bool {
        self.hub
            .conn(id)
            .is_some_and(|c| c.groups.iter().any(|g| g == group))
    }

    /// The entry for `id` if `generation` is still its socket's.
    pub(crate) fn current(&mut self, id: ConnId, generation: u64) -> Option<&mut Entry> {
        self.entries
            .get_mut(&id)
            .filter(|e| e.generation == generation)
    }

    /// Ends a connection: it leaves every group (the model) and its ids are forgotten.
    /// Returns its socket, if it had one, for the caller to close.
    pub(crate) fn end(&mut self, id: ConnId, how: End) -> Option<Transport> {
        let entry = self.entries.remove(&id)?;
        let conn = self.hub.conn(id);
        let user = conn.and_then(|c| c.user.clone());
        let suspended = conn.is_some_and(|c| c.status == Status::Suspended);
        if self.has(Fault::StickyGroups) {
            if let Some(user) = user {
                let groups = self.groups_of(id);
                self.faults.sticky.entry(user).or_default().extend(groups);
            }
        }
        let op = if suspended || how == End::Expired {
            Op::Expire { conn: id }
        } else if how == End::Lost && self.spec.profile == Profile::Core {
            Op::Drop { conn: id }
        } else {
            Op::Disconnect { conn: id }
        };
        self.apply(&op);
        self.by_public.remove(&entry.public_id);
        if let Some(token) = &entry.token {
            self.tokens.remove(token);
        }
        self.faults.doubled.retain(|(c, _)| *c != id);
        entry.transport
    }

    /// The socket of a stateful connection was lost: the connection is suspended and keeps
    /// its groups; messages to it are buffered. Returns its generation for the expiry timer.
    pub(crate) fn suspend(&mut self, id: ConnId) -> Option<u64> {
        let entry = self.entries.get_mut(&id)?;
        entry.transport = None;
        let generation = entry.generation;
        self.apply(&Op::Drop { conn: id });
        Some(generation)
    }

    /// A new socket for a stateful connection (`?id=` of a live token): it replaces the old
    /// socket if the server has not noticed its loss yet, the model resumes the connection,
    /// and the replay buffer writes `Sequence` and every unacked message first.
    pub(crate) fn resume(&mut self, id: ConnId, transport: Transport) -> Option<u64> {
        let generation = self.next_generation();
        let entry = self.entries.get_mut(&id).filter(|e| e.is_stateful())?;
        if let Some(old) = entry.transport.take() {
            old.send(Out::Close);
            self.apply(&Op::Drop { conn: id });
        }
        self.apply(&Op::Resume {
            conn: id,
            altered_token: false,
        });
        let lose = self.has(Fault::BufferLostOnResume);
        let entry = self.entries.get_mut(&id)?;
        let buffer = entry.buffer.as_mut()?;
        let (sequence, records) = if lose {
            let next = buffer.total_sent();
            buffer.on_ack(next);
            let _ = buffer.resend();
            (
                HubMessage::Sequence {
                    sequence_id: next + 1,
                },
                Vec::new(),
            )
        } else {
            buffer.resend()
        };
        transport.send_text(sequence.to_wire());
        for record in records {
            transport.send_text(record);
        }
        entry.transport = Some(transport);
        entry.generation = generation;
        if self.has(Fault::NoRejoinOnResume) {
            for group in self.groups_of(id) {
                self.apply(&Op::RemoveFromGroup {
                    caller: id,
                    group: Some(group),
                });
            }
        }
        Some(generation)
    }

    /// The in-process restart: every connection ends at once (the model's `Restart`), tokens
    /// die, and the rooms records are reloaded from the database. Returns the sockets to
    /// close.
    pub(crate) fn restart(&mut self) -> Vec<Transport> {
        if self.has(Fault::MembershipsSurviveRestart) {
            for c in &self.hub.conns {
                if let Some(user) = &c.user {
                    self.faults
                        .survived
                        .entry(user.clone())
                        .or_default()
                        .extend(c.groups.iter().cloned());
                }
            }
        }
        let transports = self
            .entries
            .drain()
            .filter_map(|(_, e)| e.transport)
            .collect();
        self.by_public.clear();
        self.tokens.clear();
        self.faults.doubled.clear();
        self.overflowed.clear();
        self.apply(&Op::Restart);
        if let Err(e) = self.rooms.load_into(&mut self.hub) {
            tracing::error!(error = %e, "cannot reload rooms records");
        }
        self.epoch += 1;
        transports
    }

    /// Acks due on a stateful connection's socket (called every second).
    pub(crate) fn ack_due(&mut self, id: ConnId, generation: u64) {
        if let Some(entry) = self.current(id, generation) {
            if let (Some(buffer), Some(transport)) = (&mut entry.buffer, &entry.transport) {
                if let Some(ack) = buffer.ack_due() {
                    transport.send_text(ack.to_wire());
                }
            }
        }
    }

    /// Stateful bookkeeping for a received message: `Ok(false)` when it is consumed here
    /// (Ack, Sequence, a duplicate after a rewind), `Err` for an impossible Sequence.
    pub(crate) fn receive(
        &mut self,
        id: ConnId,
        generation: u64,
        message: &HubMessage,
    ) -> Result<bool, String> {
        match self.current(id, generation) {
            Some(Entry {
                buffer: Some(buffer),
                ..
            }) => buffer
                .receive(message)
                .map_err(|e| errors::sequence_error(&e.to_string())),
            // Without stateful reconnect, Ack and Sequence are ignored
            // (UnsolicitedSequenceAndAckMessagesDoNothing).
            _ => Ok(!matches!(
                message,
                HubMessage::Ack { .. } | HubMessage::Sequence { .. }
            )),
        }
    }

    // ----- invocations -----

    /// Performs one contract call from `caller` and writes its deliveries. The Completion is
    /// the caller's to write (after this returns, under the same lock), so it follows every
    /// delivery of the call in every recipient's queue, the caller's own included.
    pub(crate) fn invoke(&mut self, caller: ConnId, call: Call, target: &str) -> Performed {
        let done = |completion| Performed {
            completion,
            deferred: None,
        };
        let limit = self.config.max_group_name_bytes;
        if let Some(len) = names_of(&call).map(String::len).find(|len| *len > limit) {
            return done(Err(errors::group_name_too_long(target, len, limit)));
        }
        let op = match self.build(caller, call.clone(), target) {
            Ok(Some(op)) => op,
            Ok(None) => {
                let id = self.entries.get(&caller).map(|e| e.public_id.clone());
                return done(Ok(id.map(Value::String)));
            }
            Err(e) => return done(Err(e)),
        };
        if self.has(Fault::LateMembership) && call.is_membership() && self.would_succeed(&op) {
            return Performed {
                completion: Ok(None),
                deferred: Some(op),
            };
        }
        let result = self.apply_invocation(&op);
        self.settle();
        done(match result {
            Some(OpResult::Error(kind)) => Err(error_text(kind, target)),
            _ => Ok(None),
        })
    }

    /// `late-membership`: a deferred operation, applied if its caller is still connected.
    pub(crate) fn apply_deferred(&mut self, op: &Op<Text>) {
        if self.hub.precondition(op).is_ok() {
            self.apply_invocation(op);
            self.settle();
        }
    }

    fn would_succeed(&self, op: &Op<Text>) -> bool {
        match op {
            Op::AddToGroup { group, .. }
            | Op::RemoveFromGroup { group, .. }
            | Op::AddConnectionToGroup { group, .. }
            | Op::RemoveConnectionFromGroup { group, .. } => group.is_some(),
            Op::JoinRoom { caller, room } | Op::LeaveRoom { caller, room } => {
                room.is_some() && self.hub.conn(*caller).is_some_and(|c| c.user.is_some())
            }
            _ => false,
        }
    }

    /// The model operation for a call (`None` for `GetConnectionId`), with the send faults
    /// applied to the selector. Rooms calls write the database first.
    fn build(
        &mut self,
        caller: ConnId,
        call: Call,
        target: &str,
    ) -> Result<Option<Op<Text>>, String> {
        let join = matches!(call, Call::JoinRoom(_));
        let op = match call {
            Call::GetConnectionId => return Ok(None),
            Call::AddToGroup(g) => Op::AddToGroup {
                caller,
                group: self.fold(g),
            },
            Call::RemoveFromGroup(g) => Op::RemoveFromGroup {
                caller,
                group: self.fold(g),
            },
            Call::AddConnectionToGroup(id, g) => Op::AddConnectionToGroup {
                caller,
                target: self.target_arg(id.as_deref()),
                group: self.fold(g),
            },
            Call::RemoveConnectionFromGroup(id, g) => Op::RemoveConnectionFromGroup {
                caller,
                target: self.target_arg(id.as_deref()),
                group: self.fold(g),
            },
            Call::JoinRoom(room) | Call::LeaveRoom(room) => {
                let room = self.fold(room);
                let user = self.hub.conn(caller).and_then(|c| c.user.clone());
                if let (Some(user), Some(room)) = (&user, &room) {
                    let written = if join {
                        self.rooms.join(user, room)
                    } else {
                        self.rooms.leave(user, room)
                    };
                    written.map_err(|e| errors::hub_exception(target, &e.to_string()))?;
                }
                if join {
                    Op::JoinRoom { caller, room }
                } else {
                    Op::LeaveRoom { caller, room }
                }
            }
            Call::Send(send, payload) => Op::Send {
                caller,
                selector: self.selector(send),
                payload,
            },
        };
        Ok(Some(op))
    }

    fn selector(&self, send: Send) -> Selector<Text> {
        let faulty = |f| self.has(f);
        match send {
            Send::All => Selector::All,
            Send::AllExcept(_) if faulty(Fault::AllExceptIgnoresList) => Selector::All,
            Send::AllExcept(ids) => Selector::AllExcept(self.targets(&ids)),
            Send::Others => Selector::Others,
            Send::Caller => Selector::Caller,
            Send::Connection(id) => Selector::Connection(self.target_arg(id.as_deref())),
            Send::Connections(ids) => Selector::Connections(self.targets(&ids)),
            Send::Group(g) => Selector::Group(self.fold(g)),
            Send::Groups(gs) => Selector::Groups(gs.into_iter().map(|g| self.fold(g)).collect()),
            Send::GroupExcept(g, _) if faulty(Fault::GroupExceptIgnoresList) => {
                Selector::Group(self.fold(g))
            }
            Send::GroupExcept(g, ids) => Selector::GroupExcept(self.fold(g), self.targets(&ids)),
            Send::OthersInGroup(g) if faulty(Fault::OthersInGroupIncludesCaller) => {
                Selector::Group(self.fold(g))
            }
            Send::OthersInGroup(g) => Selector::OthersInGroup(self.fold(g)),
            Send::User(u) if faulty(Fault::UserSendMissesOne) => self.users_but_newest(&[Some(u)]),
            Send::User(u) => Selector::User(u),
            Send::Users(us) if faulty(Fault::UserSendMissesOne) => self.users_but_newest(&us),
            // A null user id matches no connection here (the model's users are strings).
            Send::Users(us) => Selector::Users(us.into_iter().flatten().collect()),
        }
    }

    /// `user-send-misses-one`: the users' connections, each user's newest left out.
    fn users_but_newest(&self, users: &[Option<String>]) -> Selector<Text> {
        let mut newest: BTreeMap<&str, ConnId> = BTreeMap::new();
        for c in &self.hub.conns {
            if let Some(u) = c.user.as_deref() {
                if users.iter().any(|x| x.as_deref() == Some(u)) {
                    newest.insert(u, c.id);
                }
            }
        }
        let skip: BTreeSet<ConnId> = newest.into_values().collect();
        Selector::Connections(
            self.hub
                .conns
                .iter()
                .filter(|c| {
                    c.user
                        .as_deref()
                        .is_some_and(|u| users.iter().any(|x| x.as_deref() == Some(u)))
                })
                .filter(|c| !skip.contains(&c.id))
                .map(|c| Target::Id(c.id))
                .collect(),
        )
    }

    /// Applies an invocation's operation, with the faults that need to look at memberships
    /// before or after it.
    fn apply_invocation(&mut self, op: &Op<Text>) -> Option<OpResult> {
        // (connection, group, add?) a membership op is about, when it names a connection id.
        let about: Option<(ConnId, String, bool)> =
            op.membership_change().and_then(|c| match c.target {
                Target::Id(t) => Some((t, c.group.clone(), c.add)),
                _ => None,
            });
        let was_member = about
            .as_ref()
            .is_some_and(|(c, g, _)| self.is_member(*c, g));
        let mut outcome = self.model(op)?;
        if self.has(Fault::DoubleAddDeliversTwice) {
            if let Some((c, g, add)) = &about {
                // Only an add to a group the connection is already in doubles; a first add
                // (or a remove) leaves it single, whatever an earlier membership did.
                if *add && was_member {
                    self.faults.doubled.insert((*c, g.clone()));
                } else {
                    self.faults.doubled.remove(&(*c, g.clone()));
                }
            }
            if let Op::Send { selector, .. } = op {
                outcome.deliveries = self.doubled(selector, outcome.deliveries);
            }
        }
        self.deliver(&outcome.deliveries);
        if self.has(Fault::RemoveDropsGroup) {
            if let (Some((c, g, false)), true) = (&about, was_member) {
                let others: Vec<ConnId> = self.hub.members(g).collect();
                for other in others {
                    self.apply(&Op::RemoveConnectionFromGroup {
                        caller: *c,
                        target: Target::Id(other),
                        group: Some(g.clone()),
                    });
                }
            }
        }
        Some(outcome.result)
    }

    /// `double-add-delivers-twice`: a second copy for each recipient that was added twice to a
    /// group the selector names and is still in it. Only deliveries the model made are copied,
    /// so the fault never reaches a connection the send does not (another session's above all).
    fn doubled(
        &self,
        selector: &Selector<Text>,
        deliveries: Vec<Delivery<Text>>,
    ) -> Vec<Delivery<Text>> {
        let groups: Vec<&String> = selector.group_names().collect();
        if groups.is_empty() {
            return deliveries;
        }
        let mut out = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let twice = groups.iter().any(|g| {
                self.faults.doubled.contains(&(d.to, (*g).clone())) && self.is_member(d.to, g)
            });
            if twice {
                out.push(d.clone());
            }
            out.push(d);
        }
        out
    }
}

/// The server → client message every send writes: `Receive(payload)`.
fn receive(payload: &str) -> HubMessage {
    HubMessage::invocation(None, "Receive", vec![Value::String(payload.to_owned())])
}

/// The Completion for an invocation.
pub(crate) fn completion(
    invocation_id: &str,
    completion: &Result<Option<Value>, String>,
) -> HubMessage {
    let result = match completion {
        Ok(None) => CompletionResult::Void,
        Ok(Some(value)) => CompletionResult::Result(value.clone()),
        Err(error) => CompletionResult::Error(error.clone()),
    };
    HubMessage::completion(invocation_id, result)
}

fn error_text(kind: ErrorKind, target: &str) -> String {
    match kind {
        ErrorKind::NullGroupName => errors::argument_null(target, "groupName"),
        ErrorKind::NullConnectionId => errors::argument_null(target, "connectionId"),
        ErrorKind::EmptyGroupName => errors::empty_group_name(target),
        ErrorKind::NoUser => errors::no_user(target),
        ErrorKind::ConnectionGone => errors::hub_exception(target, "The connection is gone."),
        // Classic only (an ack that times out); refhub serves the core profiles.
        ErrorKind::Cancelled => errors::hub_exception(target, "A task was canceled."),
    }
}

/// Every group or room name a call carries.
fn names_of(call: &Call) -> Box<dyn Iterator<Item = &String> + '_> {
    match call {
        Call::AddToGroup(g)
        | Call::RemoveFromGroup(g)
        | Call::AddConnectionToGroup(_, g)
        | Call::RemoveConnectionFromGroup(_, g)
        | Call::JoinRoom(g)
        | Call::LeaveRoom(g) => Box::new(g.iter()),
        Call::Send(Send::Group(g), _)
        | Call::Send(Send::GroupExcept(g, _), _)
        | Call::Send(Send::OthersInGroup(g), _) => Box::new(g.iter()),
        Call::Send(Send::Groups(gs), _) => Box::new(gs.iter().flatten()),
        _ => Box::new(std::iter::empty()),
    }
}
