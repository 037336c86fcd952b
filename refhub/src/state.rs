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
//! socket, so a slow or dead socket never blocks the lock or another connection. The one
//! blocking call made under the lock is the rooms database write of `JoinRoom` / `LeaveRoom`
//! (see [`State::build`]).
//!
//! Faults are not tested here: every fault-dependent step is a call to a hook of
//! [`FaultState`](crate::faults::FaultState), which returns operations for the model or rewrites a
//! selector or deliveries.
//!
//! One file: the hub's bookkeeping (ids, tokens, sockets, replay buffers) is one state under one
//! lock; fault behaviour lives in `faults`.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use hubspec_model::{
    ConnId, Delivery, ErrorKind, Hub, Mode, Op, OpResult, Outcome, Profile, Selector, Spec, Status,
    Target, Text,
};
use hubspec_wire::{CompletionResult, HubMessage, HubProtocol, MessageBuffer};
use serde_json::Value;

use crate::classic::ClassicConns;
use crate::config::RefHubConfig;
use crate::connection::{Out, Transport};
use crate::dispatch::{errors, Call, Name, Send};
use crate::faults::{Ended, FaultState};
use crate::rooms::RoomsDb;

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
    /// The hub protocol of its handshake, which a resumed socket speaks too (a stateful
    /// reconnect has no handshake).
    protocol: HubProtocol,
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

    /// The socket, while connected.
    pub(crate) fn transport(&self) -> Option<&Transport> {
        self.transport.as_ref()
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
    /// A cluster node's add or remove of a connection another node holds: the Completion
    /// waits for the owner's ack (`backplane`).
    pub(crate) remote: Option<crate::backplane::RemoteChange>,
    /// A race fault's window: the Completion is written this long after the change applied.
    pub(crate) hold: Option<std::time::Duration>,
    /// When a race fault deferred the operation: how long after the Completion it applies.
    pub(crate) defer_for: Option<std::time::Duration>,
}

/// The hub's whole state.
pub(crate) struct State {
    pub(crate) config: RefHubConfig,
    spec: Spec,
    /// The model: memberships, connections, rooms records.
    pub(crate) hub: Hub<Text>,
    pub(crate) entries: HashMap<ConnId, Entry>,
    pub(crate) by_public: HashMap<String, ConnId>,
    pub(crate) tokens: HashMap<String, Token>,
    rooms: RoomsDb,
    /// Bumped on every restart; a task holding an older value is stale.
    pub(crate) epoch: u64,
    next_generation: u64,
    faults: FaultState,
    /// Connections to end once the current operation is done (buffer or queue overflow).
    overflowed: Vec<(ConnId, String)>,
    /// The connections made on the classic endpoint (`/signalr`), with what only they have:
    /// cursors, replay logs, the groups their last token carried.
    pub(crate) classic: ClassicConns,
    /// This hub's part in a cluster (`--redis`); `None` for a single hub.
    pub(crate) backplane: Option<crate::backplane::Node>,
}

impl State {
    /// A fresh state whose model holds the database's rooms records.
    pub(crate) fn new(config: RefHubConfig, rooms: RoomsDb) -> Result<State, crate::RefHubError> {
        let mut hub = Hub::new();
        rooms.load_into(&mut hub)?;
        let classic = ClassicConns::new(config.classic_replay_messages);
        Ok(State {
            spec: config.spec(),
            faults: FaultState::new(config.faults.clone()),
            config,
            hub,
            entries: HashMap::new(),
            by_public: HashMap::new(),
            tokens: HashMap::new(),
            rooms,
            epoch: 0,
            next_generation: 0,
            overflowed: Vec::new(),
            classic,
            backplane: None,
        })
    }

    /// The fault hooks, for the connection tasks.
    pub(crate) fn faults(&self) -> &FaultState {
        &self.faults
    }

    /// A public id for a new connection.
    pub(crate) fn new_public_id(&mut self) -> String {
        self.faults.public_id(crate::server::new_id())
    }

    pub(crate) fn next_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    /// The model's answer to `op`, with the spec the op is judged by.
    fn model(&mut self, op: &Op<Text>) -> Option<Outcome<Text>> {
        // An operation is judged by the protocol of the connection it concerns: classic
        // connections by the classic profile, whatever the core endpoint serves.
        let spec = self
            .faults
            .spec(self.classic.spec_for(op, self.spec, &self.faults));
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
    pub(crate) fn apply(&mut self, op: &Op<Text>) -> Option<OpResult> {
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
        if let Some(frame) = self.classic.push(to, message) {
            // A classic connection: logged for replay, written inside an envelope.
            if let Some(transport) = &entry.transport {
                transport.send_text(frame);
            }
            return;
        }
        let text = match &mut entry.buffer {
            Some(buffer) => Utf8Bytes::from(buffer.write(message)),
            None => text.unwrap_or_else(|| Utf8Bytes::from(message.to_wire())),
        };
        if let Some(transport) = &entry.transport {
            let text = self
                .faults
                .rewrite_record(message, text, transport.protocol);
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
        self.classic.send_new_tokens(&self.hub, &self.entries);
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

    /// The target of a membership change by id.
    fn member_target(&self, id: Option<&str>) -> Target {
        self.faults
            .rewrite_member_target(&self.hub, id, self.target_arg(id))
    }

    fn targets(&self, ids: &[Option<String>]) -> Vec<Target> {
        ids.iter()
            .map(|id| self.target_arg(id.as_deref()))
            .collect()
    }

    fn fold(&self, name: Name) -> Name {
        self.faults.fold(name)
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
                protocol: transport.protocol,
                transport: Some(transport),
                generation,
            },
        );
        if let Some(node) = &self.backplane {
            node.connected(&public_id);
        }
        self.by_public.insert(public_id, id);
        if let Some(token) = token {
            self.tokens.insert(token, Token::Live(id));
        }
        for op in self.faults.on_connect(&self.hub, id) {
            self.apply(&op);
        }
        Some((id, generation))
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
        self.classic.remove(id);
        let suspended = self
            .hub
            .conn(id)
            .is_some_and(|c| c.status == Status::Suspended);
        let lost_on_core = !suspended && how == End::Lost && self.spec.profile == Profile::Core;
        self.faults.on_end(
            &self.hub,
            Ended {
                id,
                public_id: &entry.public_id,
                lost_on_core,
            },
        );
        let user = self.hub.conn(id).and_then(|c| c.user.clone());
        let op = if suspended || how == End::Expired {
            Op::Expire { conn: id }
        } else if how == End::Lost && self.spec.profile == Profile::Core {
            Op::Drop { conn: id }
        } else {
            Op::Disconnect { conn: id }
        };
        self.apply(&op);
        self.by_public.remove(&entry.public_id);
        if let Some(node) = &self.backplane {
            node.ended(&entry.public_id);
        }
        if let Some(token) = &entry.token {
            self.tokens.remove(token);
            // `core-drop-resumable`: the token stays valid, as a negotiated connection's.
            if lost_on_core && self.faults.keeps_token_on_core_drop() {
                let negotiated = Token::Negotiated {
                    public_id: entry.public_id.clone(),
                    stateful: false,
                    user,
                    at: Instant::now(),
                };
                self.tokens.insert(token.clone(), negotiated);
            }
        }
        entry.transport
    }

    /// The socket of a connection, if it has one.
    pub(crate) fn transport_of(&self, id: ConnId) -> Option<Transport> {
        self.entries.get(&id).and_then(|e| e.transport.clone())
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
    /// and the replay buffer writes `Sequence` and every unacked message first. Returns the
    /// generation and the transport, now speaking the connection's protocol.
    pub(crate) fn resume(&mut self, id: ConnId, transport: Transport) -> Option<(u64, Transport)> {
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
        let entry = self.entries.get_mut(&id)?;
        let transport = transport.speaking(entry.protocol);
        let buffer = entry.buffer.as_mut()?;
        let (sequence, records) = self.faults.replay(buffer);
        if let Some(sequence) = sequence {
            transport.send_text(sequence.to_wire());
        }
        for record in records {
            transport.send_text(record);
        }
        entry.transport = Some(transport.clone());
        entry.generation = generation;
        for op in self.faults.on_resume(&self.hub, id) {
            self.apply(&op);
        }
        Some((generation, transport))
    }

    /// A new socket for a suspended connection (a classic reconnect, after the caller's
    /// `Resume`): it becomes the connection's transport under a new generation, so the old
    /// socket's task and expiry timer are stale. Returns the generation.
    pub(crate) fn attach(&mut self, id: ConnId, transport: Transport) -> Option<u64> {
        let generation = self.next_generation();
        let entry = self.entries.get_mut(&id)?;
        entry.transport = Some(transport);
        entry.generation = generation;
        Some(generation)
    }

    /// The in-process restart: every connection ends at once (the model's `Restart`), tokens
    /// die, and the rooms records are reloaded from the database. Returns the sockets to
    /// close.
    pub(crate) fn restart(&mut self) -> Vec<Transport> {
        self.faults.on_restart(&self.hub);
        // `restart-keeps-tokens`: each stateful connection's token stays valid, as a negotiated
        // connection that has not opened its socket yet.
        let kept: Vec<(String, Token)> = if self.faults.keeps_tokens_on_restart() {
            self.entries
                .iter()
                .filter(|(_, e)| e.is_stateful())
                .filter_map(|(id, e)| {
                    let token = e.token.clone()?;
                    let negotiated = Token::Negotiated {
                        public_id: e.public_id.clone(),
                        stateful: true,
                        user: self.hub.conn(*id).and_then(|c| c.user.clone()),
                        at: Instant::now(),
                    };
                    Some((token, negotiated))
                })
                .collect()
        } else {
            Vec::new()
        };
        let transports = self
            .entries
            .drain()
            .filter_map(|(_, e)| e.transport)
            .collect();
        if let Some(node) = &self.backplane {
            self.by_public.keys().for_each(|id| node.ended(id));
        }
        self.by_public.clear();
        self.classic.clear();
        self.tokens.clear();
        self.tokens.extend(kept);
        self.overflowed.clear();
        self.apply(&Op::Restart);
        // `rooms-in-memory`: the records did not outlive the process.
        if self.faults.forgets_rooms_on_restart() {
            if let Err(e) = self.rooms.clear() {
                tracing::error!(error = %e, "cannot forget rooms records");
            }
        }
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
            remote: None,
            hold: None,
            defer_for: None,
        };
        let limit = self.config.max_group_name_bytes;
        if let Some(len) = names_of(&call).map(String::len).find(|len| *len > limit) {
            return done(Err(errors::group_name_too_long(target, len, limit)));
        }
        if let Some(remote) = self.remote_change(&call) {
            return Performed {
                completion: Ok(None),
                deferred: None,
                remote: Some(remote),
                hold: None,
                defer_for: None,
            };
        }
        let op = match self.build(caller, call.clone(), target) {
            Ok(Some(op)) => op,
            Ok(None) => {
                let id = self.entries.get(&caller).map(|e| e.public_id.clone());
                return done(Ok(id.map(Value::String)));
            }
            Err(e) => return done(Err(e)),
        };
        if self.faults.defers(&self.hub, &call, &op) {
            return Performed {
                completion: Ok(None),
                deferred: Some(op),
                remote: None,
                hold: None,
                defer_for: self.faults.deferred_for(),
            };
        }
        let result = self.apply_invocation(&op);
        let applied = !matches!(result, Some(OpResult::Error(_)) | None);
        if applied {
            self.publish(caller, &call);
        }
        self.settle();
        Performed {
            hold: applied.then(|| self.faults.hold(&op)).flatten(),
            ..done(match result {
                Some(OpResult::Error(kind)) => Err(error_text(kind, target)),
                _ => Ok(None),
            })
        }
    }

    /// A cluster node's add or remove by an id no local connection has (with a non-empty
    /// group name; the model judges the others): it goes to the owner over the backplane.
    fn remote_change(&self, call: &Call) -> Option<crate::backplane::RemoteChange> {
        let node = self.backplane.as_ref()?;
        let (action, id, group) = match call {
            Call::AddConnectionToGroup(Some(id), Some(g)) => {
                (hubspec_wire::backplane::GroupAction::Add, id, g)
            }
            Call::RemoveConnectionFromGroup(Some(id), Some(g)) => {
                (hubspec_wire::backplane::GroupAction::Remove, id, g)
            }
            _ => return None,
        };
        if group.is_empty() || self.by_public.contains_key(id) {
            return None;
        }
        Some(node.remote_change(action, group, id))
    }

    /// A cluster node publishes a send its model has delivered locally, for the other nodes.
    fn publish(&self, caller: ConnId, call: &Call) {
        let (Some(node), Call::Send(send, payload)) = (&self.backplane, call) else {
            return;
        };
        let Some(caller) = self.entries.get(&caller) else {
            return;
        };
        node.publish_send(&caller.public_id, send, payload, |id| {
            self.by_public.contains_key(id)
        });
    }

    /// `late-membership`: a deferred operation, applied if its caller is still connected.
    pub(crate) fn apply_deferred(&mut self, op: &Op<Text>) {
        if self.hub.precondition(op).is_ok() {
            self.apply_invocation(op);
            self.settle();
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
                target: self.member_target(id.as_deref()),
                group: self.fold(g),
            },
            Call::RemoveConnectionFromGroup(id, g) => Op::RemoveConnectionFromGroup {
                caller,
                target: self.member_target(id.as_deref()),
                group: self.fold(g),
            },
            Call::JoinRoom(room) => Op::JoinRoom {
                caller,
                room: self.fold(room),
            },
            Call::LeaveRoom(room) => Op::LeaveRoom {
                caller,
                room: self.fold(room),
            },
            Call::Send(send, payload) => Op::Send {
                caller,
                selector: self.selector(send),
                payload,
            },
        };
        let op = self.faults.rewrite_op(&self.hub, op);
        if let Op::JoinRoom {
            caller,
            room: Some(room),
        }
        | Op::LeaveRoom {
            caller,
            room: Some(room),
        } = &op
        {
            if let Some(user) = self.hub.conn(*caller).and_then(|c| c.user.clone()) {
                // The SQLite INSERT / DELETE runs here, under the hub-wide lock and on this
                // connection's task: the record must be written before the Completion is
                // queued (ROOM-RESTORE-ON-CONNECT: a connection made after it must be
                // restored), and the Completion is queued under this lock. With
                // `--rooms-db FILE` this blocks a worker thread, and every other connection
                // waiting for the lock, for one disk write (WAL, `synchronous = NORMAL`); in
                // memory it is a table update.
                let written = if matches!(op, Op::JoinRoom { .. }) {
                    self.rooms.join(&user, room)
                } else {
                    self.rooms.leave(&user, room)
                };
                written.map_err(|e| errors::hub_exception(target, &e.to_string()))?;
            }
        }
        Ok(Some(op))
    }

    /// The selector for a send, as the client named it, then as the faults rewrite it.
    fn selector(&self, send: Send) -> Selector<Text> {
        let selector = match send {
            Send::All => Selector::All,
            Send::AllExcept(ids) => Selector::AllExcept(self.targets(&ids)),
            Send::Others => Selector::Others,
            Send::Caller => Selector::Caller,
            Send::Connection(id) => Selector::Connection(self.target_arg(id.as_deref())),
            Send::Connections(ids) => Selector::Connections(self.targets(&ids)),
            Send::Group(g) => Selector::Group(self.fold(g)),
            Send::Groups(gs) => Selector::Groups(gs.into_iter().map(|g| self.fold(g)).collect()),
            Send::GroupExcept(g, ids) => Selector::GroupExcept(self.fold(g), self.targets(&ids)),
            Send::OthersInGroup(g) => Selector::OthersInGroup(self.fold(g)),
            Send::User(u) => Selector::User(u),
            // A null user id matches no connection here (the model's users are strings).
            Send::Users(us) => Selector::Users(us.into_iter().flatten().collect()),
        };
        self.faults.rewrite_selector(&self.hub, selector)
    }

    /// Applies an invocation's operation and writes its deliveries, with the faults that look
    /// at memberships before or after it.
    fn apply_invocation(&mut self, op: &Op<Text>) -> Option<OpResult> {
        let before = self.faults.before_invocation(&self.hub, op);
        let outcome = self.model(op)?;
        let deliveries = self
            .faults
            .rewrite_deliveries(&self.hub, op, &before, outcome.deliveries);
        self.deliver(&deliveries);
        for extra in self.faults.after_invocation(&self.hub, &before) {
            self.apply(&extra);
        }
        Some(outcome.result)
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

pub(crate) fn error_text(kind: ErrorKind, target: &str) -> String {
    match kind {
        ErrorKind::NullGroupName => errors::argument_null(target, "groupName"),
        ErrorKind::NullConnectionId => errors::argument_null(target, "connectionId"),
        ErrorKind::EmptyGroupName => errors::empty_group_name(target),
        ErrorKind::NoUser => errors::no_user(target),
        ErrorKind::ConnectionGone => errors::hub_exception(target, "The connection is gone."),
        // Classic only: an ack that times out (the classic endpoint delays it).
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
