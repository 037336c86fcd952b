//! One WebSocket: the handshake (or a stateful resume), the read loop, the writer task, keep-
//! alive, client timeout, Acks, and how the socket's end ends or suspends its connection.
//!
//! Reading and dispatching happen on this task, one record after another, like ASP.NET Core
//! with `MaximumParallelInvocationsPerClient = 1`; everything written goes through the
//! connection's [`Transport`] (the socket's sending half, defined here next to [`writer`],
//! which drains it) to its writer task, in order.
//!
//! One file: one connection's life (handshake, reading, writing, resume, close) is one task and
//! its sending half; the Close cases each cite their ASP.NET Core source.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hubspec_model::ConnId;
use hubspec_wire::handshake::{self, HandshakeRequest, HandshakeResponse};
use hubspec_wire::{HubMessage, HubProtocol, MessageReader, ProtocolError, RecordReader};
use tokio::sync::mpsc;

use crate::dispatch::{self, errors};
use crate::faults::{Fault, WireFaults};
use crate::server::Shared;
use crate::state::{completion, End};

/// `late-membership`: how long after its Completion a membership change takes effect. Long
/// enough that a send started right after the Completion misses it even on a loaded machine
/// (at 200 ms, a suite running every fault's sessions at once on two busy cores once let the
/// change land first); the fault's sessions do not wait for it, so its length costs nothing.
pub(crate) const LATE_MEMBERSHIP_DELAY: Duration = Duration::from_secs(2);

/// How long a socket refhub closed is still read (and its input discarded) for the client's
/// close frame: ASP.NET Core's `WebSocketOptions.CloseTimeout`, "the amount of time the
/// WebSocket transport will wait for a graceful close before starting an ungraceful close",
/// 5 s by default (src/SignalR/common/Http.Connections/src/WebSocketOptions.cs). Dropping a
/// socket with unread input makes the kernel answer with a reset, which discards what was not
/// yet sent (the Close, the close frame) and makes the client's writes fail before it has read
/// them.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most bytes read and discarded from a closed socket. Past it refhub stops reading (TCP's
/// flow control then holds the client back at no cost to refhub) and keeps the socket until
/// [`CLOSE_TIMEOUT`], so a client that never stops writing costs a bounded amount of work.
const LINGER_BYTES_MAX: usize = 1 << 20;

/// RFC 6455 section 7.4.1: "1007 indicates that an endpoint is terminating the connection
/// because it has received data within a message that was not consistent with the type of the
/// message (e.g., non-UTF-8 data within a text message)".
const INVALID_PAYLOAD_DATA: u16 = 1007;

/// What a socket is for, decided by the HTTP handler before the upgrade.
#[derive(Debug)]
pub(crate) enum Mode {
    /// A new connection: handshake, then the model's `Connect`.
    New {
        public_id: String,
        token: Option<String>,
        stateful: bool,
        user: Option<String>,
    },
    /// A stateful reconnect of a live connection: no handshake, `Sequence` and replay.
    Resume { conn: ConnId, token: String },
}

/// Why the read loop stopped.
#[derive(Debug)]
enum Exit {
    /// The client sent a Close message: answered with a Close, connection ended.
    HubClose,
    /// The client closed the WebSocket (close frame) without a Close message.
    ClientClosed,
    /// The socket failed or ended without a close frame.
    Lost,
    /// No hub message of a known type from the client for `client_timeout` (WebSocket pings
    /// and unknown message types do not count: see [`Processed::heard`]).
    Timeout,
    /// Input ASP.NET Core would throw on in its dispatch loop (a malformed or oversized
    /// record, an oversized frame, a bad `Sequence`): Close with this error and
    /// `allowReconnect`, connection ended.
    ProtocolError(String),
    /// One of refhub's own limits (a flood of invocations), which ASP.NET Core does not have:
    /// Close with this error, without `allowReconnect`, connection ended.
    Refused(String),
    /// A text frame that is not UTF-8: Close with ASP.NET Core's error and `allowReconnect`,
    /// then a close frame with status 1007, connection ended.
    InvalidUtf8,
    /// The server closed the socket (restart, overflow, replaced by a resume).
    Superseded,
}

impl Exit {
    /// Whether refhub answers this end with a close frame and then waits for the client's (see
    /// [`linger`]): every end but a lost socket and one the server dropped or replaced.
    fn lingers(&self) -> bool {
        !matches!(self, Exit::Lost | Exit::Superseded)
    }
}

/// Runs a socket to its end.
pub(crate) async fn run(shared: Arc<Shared>, socket: WebSocket, mode: Mode) {
    let (sink, mut stream) = socket.split();
    let (transport, rx, queued) = Transport::new();
    let config = shared.config.clone();
    let writer = tokio::spawn(writer(
        sink,
        rx,
        queued,
        config.keep_alive,
        config.faults.clone(),
    ));
    let mut handshake_reader = RecordReader::with_max_record_size(config.max_message_bytes);
    // Whether refhub closed this socket (a close frame is on its way) and should read on until
    // the client's close frame; every path below that sends one sets it.
    let mut lingers = false;

    let attached = match mode {
        Mode::New {
            public_id,
            token,
            stateful,
            user,
        } => {
            match handshake(
                &mut stream,
                &mut handshake_reader,
                &transport,
                config.handshake_timeout,
                &mut lingers,
            )
            .await
            {
                Some((version, protocol)) => {
                    let stateful = stateful && version >= handshake::STATEFUL_RECONNECT_VERSION;
                    let mut st = shared.lock();
                    // Under the lock that registers the connection: `{}` is the first thing
                    // the client reads, and once it has it, the connection is in the model
                    // (with its rooms) for every send that follows.
                    let wire = WireFaults(&config.faults);
                    transport
                        .send_text(wire.handshake_success(HandshakeResponse::success().to_json()));
                    // Everything after `{}` is in the protocol the client asked for.
                    let transport = transport.clone().speaking(protocol);
                    let connected = st.connect(
                        user,
                        public_id.clone(),
                        token.clone(),
                        stateful,
                        transport.clone(),
                    );
                    st.settle();
                    drop(st);
                    if let Some((conn, _)) = connected {
                        tracing::info!(%conn, id = %public_id, stateful, protocol = protocol.name(), "connected");
                    }
                    connected.map(|(conn, generation)| (conn, generation, stateful, transport))
                }
                None => {
                    if let Some(token) = token {
                        shared.lock().tokens.remove(&token);
                    }
                    None
                }
            }
        }
        Mode::Resume { conn, token } => {
            let mut st = shared.lock();
            let resumed = st.resume(conn, transport.clone());
            st.settle();
            drop(st);
            match resumed {
                Some((generation, transport)) => {
                    tracing::info!(%conn, "resumed");
                    Some((conn, generation, true, transport))
                }
                None => {
                    tracing::info!(%conn, %token, "resume of a connection that has ended");
                    transport.send(Out::Close);
                    lingers = true;
                    None
                }
            }
        }
    };

    if let Some((conn, generation, stateful, transport)) = attached {
        // The bytes that came with the handshake record already belong to the hub protocol
        // (a MessagePack client may send its first invocation in the handshake's frame).
        let mut reader = transport.protocol.reader(Some(config.max_message_bytes));
        reader.push(handshake_reader.take_remaining());
        let exit = read_loop(
            &shared,
            conn,
            generation,
            stateful,
            &mut stream,
            &mut reader,
            &transport,
        )
        .await;
        lingers = exit.lingers();
        finish(&shared, conn, generation, stateful, exit);
    }
    drop(transport);
    if lingers {
        linger(&mut stream).await;
    }
    // The writer stops once its queue is drained up to a close, or when every sender is gone.
    if tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .is_err()
    {
        tracing::debug!("writer did not stop in time");
    }
}

/// Reads the handshake request and answers errors; returns the protocol version and the
/// protocol on success (the caller writes `{}` once the connection is registered). refhub
/// offers both protocols, as an ASP.NET Core hub with `AddMessagePackProtocol()` does.
async fn handshake(
    stream: &mut SplitStream<WebSocket>,
    reader: &mut RecordReader,
    transport: &Transport,
    timeout: Duration,
    lingers: &mut bool,
) -> Option<(i32, HubProtocol)> {
    // A failed handshake gets the handshake error and then the close frame, never a hub
    // Close message: ASP.NET Core returns before the hub connection runs.
    //   HubConnectionHandler.cs@bf884ebc758a8ca4e6d99efdeba223dcf0e38d6c (`OnConnectedAsync`):
    //     `if (!await connectionContext.HandshakeAsync(handshakeTimeout, …)) { return; }`
    let mut fail = |error: String| {
        tracing::info!(%error, "handshake failed");
        transport.send_text(HandshakeResponse::error(error).to_json() + "\u{1e}");
        transport.send(Out::Close);
        *lingers = true;
        None
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let record = loop {
        match reader.next_record() {
            Ok(Some(record)) => break record,
            Ok(None) => {}
            Err(ProtocolError::RecordTooLarge { .. }) => {
                return fail(handshake::HANDSHAKE_CANCELED.to_owned())
            }
            Err(e) => {
                return fail(handshake::handshake_failed(Some(&format!(
                    "InvalidDataException: {e}"
                ))))
            }
        }
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return fail(handshake::HANDSHAKE_CANCELED.to_owned()),
            Ok(Some(Ok(Message::Text(text)))) => reader.push(text.as_bytes()),
            Ok(Some(Ok(Message::Binary(bytes)))) => reader.push(&bytes),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            // As in the read loop, but before the hub connection exists: no Close message.
            Ok(Some(Err(e))) if invalid_utf8(&e) => {
                tracing::warn!(
                    "invalid UTF-8 in a text frame during the handshake: closing with 1007"
                );
                transport.send(Out::CloseStatus(INVALID_PAYLOAD_DATA));
                *lingers = true;
                return None;
            }
            Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => {
                transport.send(Out::Close);
                return None;
            }
        }
    };
    let request = match HandshakeRequest::parse(&record) {
        Ok(request) => request,
        Err(e) => {
            return fail(handshake::handshake_failed(Some(&format!(
                "InvalidDataException: {e}"
            ))))
        }
    };
    match request.check(&HubProtocol::ALL) {
        Ok(protocol) => Some((request.version, protocol)),
        Err(error) => fail(error),
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_loop(
    shared: &Arc<Shared>,
    conn: ConnId,
    generation: u64,
    stateful: bool,
    stream: &mut SplitStream<WebSocket>,
    reader: &mut MessageReader,
    transport: &Transport,
) -> Exit {
    let config = &shared.config;
    let mut ack_tick = tokio::time::interval(hubspec_wire::reconnect::ACK_INTERVAL);
    ack_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One deadline for the socket, moved only when a hub message from the client has been
    // handled. Rebuilding the timeout on every pass of the `select!` would let the ack tick
    // (every second on a stateful connection) restart the countdown forever. ASP.NET Core
    // likewise stops and restarts its client timeout around each parsed message and nothing
    // else (`HubConnectionHandler.DispatchMessagesAsync`: `StopClientTimeout` /
    // `BeginClientTimeout`, dotnet/aspnetcore@bf884ebc758a8ca4e6d99efdeba223dcf0e38d6c).
    let timeout = tokio::time::sleep(config.client_timeout);
    tokio::pin!(timeout);
    let mut flood = Flood::new(config.max_invocations_per_second);
    loop {
        // Every complete message first: the handshake's frame may carry invocations too.
        let mut records = Vec::new();
        let mut failure = None;
        loop {
            match reader.next_payload() {
                Ok(Some(record)) => records.push(record),
                Ok(None) => break,
                Err(e) => {
                    failure = Some(errors::protocol_error(&e));
                    break;
                }
            }
        }
        if !records.is_empty() {
            let protocol = reader.protocol();
            let processed = process(shared, conn, generation, protocol, records, &mut flood);
            if let Some(exit) = processed.exit {
                return exit;
            }
            if processed.heard {
                timeout
                    .as_mut()
                    .reset(tokio::time::Instant::now() + config.client_timeout);
            }
        }
        if let Some(error) = failure {
            return Exit::ProtocolError(error);
        }
        tokio::select! {
            () = &mut timeout => return Exit::Timeout,
            frame = stream.next() => match frame {
                None => return Exit::Lost,
                Some(Err(e)) if too_large(&e) => return Exit::ProtocolError(errors::connection_error(
                    &ProtocolError::RecordTooLarge { limit: config.max_message_bytes }.to_string(),
                )),
                Some(Err(e)) if invalid_utf8(&e) => return Exit::InvalidUtf8,
                Some(Err(_)) => return Exit::Lost,
                Some(Ok(Message::Text(text))) => reader.push(text.as_bytes()),
                Some(Ok(Message::Binary(bytes))) => reader.push(&bytes),
                // WebSocket control frames never reach SignalR's pipe (the WebSocket layer
                // answers them), so they do not count as hearing from the client.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) => return Exit::ClientClosed,
            },
            _ = ack_tick.tick(), if stateful => shared.lock().ack_due(conn, generation),
            _ = transport.closed() => return Exit::Superseded,
        }
    }
}

/// Whether a read failed because a WebSocket frame or message went over the socket's hard cap
/// (`server::frame_limit`): the client sent too much, which is an error to answer, not a lost
/// socket to resume.
fn too_large(error: &axum::Error) -> bool {
    let source = std::error::Error::source(error);
    matches!(
        source.and_then(|e| e.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// Whether a read failed because a text frame was not UTF-8: bad input to refuse, not a lost
/// socket.
fn invalid_utf8(error: &axum::Error) -> bool {
    let source = std::error::Error::source(error);
    matches!(
        source.and_then(|e| e.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Utf8(_))
    )
}

/// After refhub closed a socket: reads and discards what the client still sends until its
/// close frame ends the stream, for at most [`CLOSE_TIMEOUT`] and [`LINGER_BYTES_MAX`] bytes
/// (then it only waits out the time), so that the socket is not dropped with unread input.
async fn linger(stream: &mut SplitStream<WebSocket>) {
    let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
    let mut discarded = 0usize;
    while discarded <= LINGER_BYTES_MAX {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(message))) => discarded += message_len(&message),
            Ok(Some(Err(_)) | None) | Err(_) => return,
        }
    }
    tracing::debug!(discarded, "a closed client keeps writing: no longer read");
    tokio::time::sleep_until(deadline).await;
}

/// The payload bytes of one WebSocket message.
fn message_len(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.len(),
        Message::Close(frame) => frame.as_ref().map_or(0, |f| f.reason.len()),
    }
}

/// refhub's flood bound across reads: a token bucket holding up to `rate` invocations and
/// refilled at `rate` per second, so a client may burst one second's worth and then keep up
/// that pace, however it spreads its invocations over frames. (ASP.NET Core has no such
/// limit: it stops reading a client while that client's invocation runs.)
struct Flood {
    rate: f64,
    tokens: f64,
    at: std::time::Instant,
    /// When the client's last Ping arrived (for `ping-flood-closes`).
    last_ping: Option<std::time::Instant>,
}

impl Flood {
    fn new(rate: u32) -> Flood {
        Flood {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            at: std::time::Instant::now(),
            last_ping: None,
        }
    }

    /// Takes one invocation's token; `false` when the client is over the rate.
    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What handling the records of one read came to.
struct Processed {
    /// `Some` ends the connection.
    exit: Option<Exit>,
    /// Whether a hub message (of a known type) arrived: the client timeout starts over.
    heard: bool,
}

/// Handles the messages of one read (JSON records or MessagePack messages, as `protocol`).
fn process(
    shared: &Arc<Shared>,
    conn: ConnId,
    generation: u64,
    protocol: HubProtocol,
    records: Vec<Vec<u8>>,
    flood: &mut Flood,
) -> Processed {
    let limit = shared.config.max_pending_invocations;
    let mut messages = Vec::with_capacity(records.len());
    let mut bad = None;
    // An unknown message type parses to nothing in .NET (`JsonHubProtocol.ParseMessage`
    // returns null, `TryParseMessage` false), so it does not restart the client timeout.
    let mut heard = false;
    let mut invocations = 0;
    for record in &records {
        match protocol.parse(record) {
            Ok(message) => {
                heard |= !matches!(message, HubMessage::Unknown(_));
                invocations += usize::from(is_invocation(&message));
                messages.push(Inbound::Message(message));
            }
            // MessagePack arguments that cannot be read do not end the connection: .NET's
            // worker makes an `InvocationBindingFailureMessage`, which the dispatcher answers
            // with a Completion error when the invocation is blocking
            // (`DefaultHubDispatcher.ProcessInvocationBindingFailure`).
            Err(ProtocolError::InvocationBindingFailure {
                invocation_id,
                target,
                detail,
            }) => {
                heard = true;
                invocations += 1;
                messages.push(Inbound::BindingFailure {
                    invocation_id,
                    error: errors::binding_failure(&target, &detail),
                });
            }
            Err(e) => {
                // The records before the bad one are still handled, as .NET does.
                bad = Some(Exit::ProtocolError(errors::protocol_error(&e)));
                break;
            }
        }
    }
    if bad.is_none() && invocations > limit {
        return Processed {
            exit: Some(Exit::Refused(format!(
                "Connection closed with an error. HubException: {invocations} invocations arrived at once; the limit is {limit}."
            ))),
            heard,
        };
    }
    let exit = handle_all(shared, conn, generation, messages, flood).or(bad);
    Processed { exit, heard }
}

/// Whether `message` asks the hub to run a method: what the flood bounds count.
fn is_invocation(message: &HubMessage) -> bool {
    matches!(
        message,
        HubMessage::Invocation { .. } | HubMessage::StreamInvocation { .. }
    )
}

/// One parsed message from the client, or an invocation whose arguments could not be read.
enum Inbound {
    Message(HubMessage),
    /// A MessagePack invocation whose arguments did not bind: answered (when blocking) with
    /// this error, nothing performed.
    BindingFailure {
        invocation_id: Option<String>,
        error: String,
    },
}

/// The refusal of a client over `max_invocations_per_second`.
fn flooded(shared: &Shared) -> Exit {
    let rate = shared.config.max_invocations_per_second;
    Exit::Refused(format!(
        "Connection closed with an error. HubException: invocations arrived faster than the limit of {rate} per second."
    ))
}

fn handle_all(
    shared: &Arc<Shared>,
    conn: ConnId,
    generation: u64,
    messages: Vec<Inbound>,
    flood: &mut Flood,
) -> Option<Exit> {
    for inbound in messages {
        let message = match inbound {
            Inbound::Message(message) => message,
            Inbound::BindingFailure {
                invocation_id,
                error,
            } => {
                if !flood.take() {
                    return Some(flooded(shared));
                }
                let mut st = shared.lock();
                st.current(conn, generation)?;
                if let Some(id) = invocation_id {
                    st.push(conn, &completion(&id, &Err(error)), None);
                    st.settle();
                }
                continue;
            }
        };
        if is_invocation(&message) && !flood.take() {
            return Some(flooded(shared));
        }
        if matches!(message, HubMessage::Ping) {
            let now = std::time::Instant::now();
            let previous = flood.last_ping.replace(now);
            if WireFaults(&shared.config.faults).ping_closes(previous.map(|p| now - p)) {
                return Some(Exit::ProtocolError(errors::connection_error(
                    "Pings arrived too fast.",
                )));
            }
        }
        if let Some(exit) = handle(shared, conn, generation, message) {
            return Some(exit);
        }
    }
    None
}

/// Handles one message from the client.
fn handle(
    shared: &Arc<Shared>,
    conn: ConnId,
    generation: u64,
    message: HubMessage,
) -> Option<Exit> {
    let mut st = shared.lock();
    st.current(conn, generation)?;
    match st.receive(conn, generation, &message) {
        Ok(true) => {}
        Ok(false) => return None,
        // A `Sequence` past what was received: .NET's `MessageBuffer.ShouldProcessMessage`
        // throws in the dispatch loop, a protocol error like any other.
        Err(error) => return Some(Exit::ProtocolError(error)),
    }
    match message {
        HubMessage::Invocation {
            invocation_id,
            target,
            arguments,
            ..
        } => {
            let wire = WireFaults(&shared.config.faults);
            let unknown = !dispatch::method_names().any(|m| m.eq_ignore_ascii_case(&target));
            let mut performed = match dispatch::bind(&target, &arguments) {
                Ok(call) => st.invoke(conn, call, &target),
                Err(error) => crate::state::Performed {
                    completion: Err(error),
                    deferred: None,
                    remote: None,
                    hold: None,
                    defer_for: None,
                },
            };
            if let Err(error) = &performed.completion {
                tracing::debug!(%conn, %target, %error, "invocation failed");
            }
            // Without an invocationId the caller wants no answer, errors included.
            // A group other than the rooms its user's records restore.
            let in_group = st.hub.conn(conn).is_some_and(|c| {
                let rooms = st
                    .hub
                    .rooms
                    .iter()
                    .find(|r| Some(&r.user) == c.user.as_ref());
                c.groups
                    .iter()
                    .any(|g| !rooms.is_some_and(|r| r.rooms.iter().any(|x| x == g)))
            });
            let answer = invocation_id.filter(|_| wire.answers(&target, unknown, in_group));
            if let Some(change) = performed.remote.take() {
                // A cluster node's add or remove for another node: answered on its ack.
                let shared = shared.clone();
                crate::backplane::complete_later(shared, conn, generation, answer, target, change);
            } else if let (Some(id), Some(pause)) = (&answer, performed.hold) {
                // A race fault's window (`faults.rs`): the Completion is written later.
                let shared = shared.clone();
                let message = completion(id, &performed.completion);
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    let mut st = shared.lock();
                    if st.current(conn, generation).is_some() {
                        st.push(conn, &message, None);
                        st.settle();
                    }
                });
            } else if let Some(id) = answer {
                st.push(conn, &completion(&id, &performed.completion), None);
                st.settle();
            }
            drop(st);
            if let Some(op) = performed.deferred {
                let shared = shared.clone();
                let pause = performed.defer_for.unwrap_or(LATE_MEMBERSHIP_DELAY);
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    let mut st = shared.lock();
                    st.apply_deferred(&op);
                });
            }
            None
        }
        HubMessage::StreamInvocation {
            invocation_id,
            target,
            ..
        } => {
            let known = dispatch::method_names().any(|m| m.eq_ignore_ascii_case(&target));
            let error = if known {
                errors::not_streaming(&target)
            } else {
                errors::unknown_method(&target)
            };
            st.push(conn, &completion(&invocation_id, &Err(error)), None);
            st.settle();
            None
        }
        // Client results, stream items and cancellations name nothing this hub started.
        HubMessage::Completion { .. }
        | HubMessage::StreamItem { .. }
        | HubMessage::CancelInvocation { .. } => None,
        HubMessage::Ping | HubMessage::Ack { .. } | HubMessage::Sequence { .. } => None,
        HubMessage::Close { error, .. } => {
            tracing::info!(%conn, error = error.as_deref().unwrap_or(""), "client sent Close");
            Some(Exit::HubClose)
        }
        // Ignored, as ASP.NET Core intends: "Future protocol changes can add message types, old
        // clients can ignore them" (`JsonHubProtocol.ParseMessage`, dotnet/aspnetcore@
        // 962135137fbf44093aede4ebedae74b9571cbd25), and as its handler does without a
        // MaximumReceiveMessageSize. With the default size limit, released ASP.NET Core
        // instead stops consuming input at such a record (dotnet/aspnetcore#69285, fix
        // proposed in #69397); refhub follows the protocol's intent, not that bug.
        HubMessage::Unknown(code) => {
            tracing::debug!(%conn, code, "ignored a message of unknown type");
            None
        }
    }
}

/// Ends or suspends the connection after its socket's read loop stopped.
/// Ends the suspended connection `conn` (suspended as `generation`, in `epoch`) when the
/// disconnect timeout passes with no transport back: the one expiry timer of core and classic
/// connections alike. A resume (a new generation), a restart (a new epoch) or `expire-never`
/// keeps it.
pub(crate) fn expire_unless_resumed(
    shared: &Arc<Shared>,
    conn: ConnId,
    generation: u64,
    epoch: u64,
) {
    let timeout = shared.config.disconnect_timeout;
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let mut st = shared.lock();
        let suspended = st
            .entries
            .get(&conn)
            .is_some_and(|e| e.generation == generation && !e.has_transport());
        if st.epoch == epoch && suspended && st.faults().expires() {
            tracing::info!(%conn, "disconnect timeout: connection ends");
            st.end(conn, End::Expired);
            st.settle();
        }
    });
}

fn finish(shared: &Arc<Shared>, conn: ConnId, generation: u64, stateful: bool, exit: Exit) {
    let mut st = shared.lock();
    if st.current(conn, generation).is_none() {
        return;
    }
    tracing::info!(%conn, ?exit, "socket ended");
    let graceful = matches!(exit, Exit::HubClose | Exit::ClientClosed);
    let exit = if stateful && graceful && st.faults().suspends_on_close() {
        // `graceful-close-resumable`: answered as usual, then suspended as if lost.
        if let (Exit::HubClose, Some(t)) = (&exit, st.transport_of(conn)) {
            t.close(None, false);
        }
        Exit::Lost
    } else {
        exit
    };
    match exit {
        Exit::HubClose => {
            // ASP.NET Core answers a client's Close with `{"type":7}`: no error (whatever the
            // client's Close carried) and no allowReconnect, because the dispatcher calls
            // `Abort()`, which clears `_allowReconnect`:
            //   DefaultHubDispatcher.cs@953674e31b51d95cb9a99e4f938b003b198ab8a4:
            //     `case CloseMessage closeMessage: connection.CloseMessage = closeMessage;
            //      connection.Abort();`
            //   HubConnectionContext.cs@28f53b3eac04a73d624dd5f993c03da83a49cbdb:
            //     `public virtual void Abort() { _allowReconnect = false; AbortAllowReconnect(); }`
            //   HubConnectionHandler.cs@bf884ebc758a8ca4e6d99efdeba223dcf0e38d6c
            //     (`HubOnDisconnectedAsync`): `if (connection.CloseMessage is not null) { …
            //     exception = null; …}` then `await SendCloseAsync(connection, exception,
            //     connection.AllowReconnect);`
            if let Some(t) = st.end(conn, End::Closed) {
                if WireFaults(&shared.config.faults).answers_close() {
                    t.close(None, false);
                } else {
                    t.send(Out::Close);
                }
            }
        }
        Exit::ClientClosed => {
            // A close frame without a Close message: no hub Close, just our close frame. (In
            // ASP.NET Core the hub writes a Close only after its input completes, while the
            // WebSocket transport has already stopped sending; whether it gets out is a race,
            // see refhub/README.md "Close messages".)
            if let Some(t) = st.end(conn, End::Closed) {
                t.send(Out::Close);
            }
        }
        Exit::ProtocolError(error) => {
            // An exception escaping ASP.NET Core's dispatch loop (InvalidDataException from the
            // JSON protocol or the size check, InvalidOperationException from a bad Sequence)
            // ends the hub connection with a Close that carries the error and allowReconnect:
            // nothing called `Abort()`, and `_allowReconnect` starts true.
            //   HubConnectionHandler.cs@bf884ebc758a8ca4e6d99efdeba223dcf0e38d6c (`RunHubAsync`):
            //     `catch (Exception ex) { Log.ErrorProcessingRequest(_logger, ex);
            //      await HubOnDisconnectedAsync(connection, ex); …}`, and
            //     `await SendCloseAsync(connection, exception, connection.AllowReconnect);`
            //   HubConnectionContext.cs@28f53b3eac04a73d624dd5f993c03da83a49cbdb:
            //     `private volatile bool _allowReconnect = true;`,
            //     `internal bool AllowReconnect => _allowReconnect;`
            if let Some(t) = st.end(conn, End::Closed) {
                t.close(Some(error), true);
            }
        }
        Exit::Refused(error) => {
            // refhub's own flood limits; ASP.NET Core has none (it stops reading a client
            // while that client's invocation runs). Modelled on a hub that aborts the
            // connection, which ASP.NET Core answers without allowReconnect
            // (`HubConnectionHandlerTests.AbortFromHubMethodForcesClientDisconnect`,
            // HubConnectionHandlerTests.cs@25538d16083dd2d4a35dbde17951f56edb2eeac7:
            // `Assert.False(close.AllowReconnect);`): a client that floods should not be
            // invited straight back. The error text is refhub's (`Context.Abort()` carries
            // none); see refhub/README.md "Close messages".
            if let Some(t) = st.end(conn, End::Closed) {
                t.close(Some(error), false);
            }
        }
        Exit::InvalidUtf8 => {
            // ASP.NET Core's WebSocket (dotnet/runtime `ManagedWebSocket.ReceiveAsyncPrivate`)
            // validates every text frame: `if (header.Opcode == MessageOpcode.Text &&
            // !TryValidateUtf8(…)) { await CloseWithReceiveErrorAndThrowAsync(
            // WebSocketCloseStatus.InvalidPayloadData, WebSocketError.Faulted) }`: a close
            // frame with 1007, then a `WebSocketException(WebSocketError.Faulted)`, whose
            // message is "An exception caused the WebSocket to enter the Aborted state. …". The
            // transport completes the hub's input with it (WebSocketsServerTransport.cs
            // `StartReceiving`: `catch (Exception ex) { … _application.Output.Complete(ex); }`),
            // so the hub connection ends as for any exception in its dispatch loop: logged
            // (`Log.ErrorProcessingRequest`) and answered with a Close carrying the error and
            // allowReconnect (see `Exit::ProtocolError`). There the Close cannot follow the
            // close frame ManagedWebSocket already sent; refhub sends it first, so the client
            // learns why (refhub/README.md "Close messages").
            tracing::warn!(%conn, "invalid UTF-8 in a text frame: closing with 1007");
            if let Some(t) = st.end(conn, End::Closed) {
                t.close_with_status(
                    Some(errors::INVALID_UTF8.to_owned()),
                    true,
                    INVALID_PAYLOAD_DATA,
                );
            }
        }
        Exit::Timeout => {
            // ASP.NET Core, stateful reconnect or not: `CheckClientTimeout` sets CloseException
            // and calls `AbortAllowReconnect` (not `Abort`), which cancels the pending read; the
            // dispatch loop ends, so the hub connection ends (`RunHubAsync` ->
            // `HubOnDisconnectedAsync(connection, connection.CloseException)`, groups removed)
            // with a Close that carries the error and allowReconnect.
            //   HubConnectionContext.cs (current main; the search index's copy shows no commit):
            //     `CloseException ??= new OperationCanceledException($"Client hasn't sent a
            //      message/ping within the configured {nameof(HubConnectionContextOptions.
            //      ClientTimeoutInterval)}."); … AbortAllowReconnect();`
            //   (HubConnectionContext.cs@28f53b3eac04a73d624dd5f993c03da83a49cbdb, older, calls
            //   `AbortAllowReconnect()` without setting CloseException: a Close without error.)
            //   HubConnectionHandler.cs@bf884ebc758a8ca4e6d99efdeba223dcf0e38d6c:
            //     `await HubOnDisconnectedAsync(connection, connection.CloseException);`
            // The reconnect it allows is a new connection; the transport is not suspended, so
            // there is nothing to resume.
            if let Some(t) = st.end(conn, End::Closed) {
                t.close(Some(errors::CLIENT_TIMEOUT.to_owned()), true);
            }
        }
        Exit::Lost | Exit::Superseded if stateful => {
            if let Some(generation) = st.suspend(conn) {
                expire_unless_resumed(shared, conn, generation, st.epoch);
            }
        }
        Exit::Lost | Exit::Superseded => {
            st.end(conn, End::Lost);
        }
    }
    st.settle();
}

/// What a connection's writer task is asked to do.
#[derive(Debug)]
pub(crate) enum Out {
    /// Write one or more JSON records (each with its 0x1E): one text frame under JSON, the
    /// same messages re-encoded into one binary frame under MessagePack (see [`encode_for`]).
    Text(Utf8Bytes),
    /// From here on, write in this protocol (sent once, after the handshake answer).
    Speak(HubProtocol),
    /// Write a WebSocket close frame (status 1000) and stop.
    Close,
    /// Write a WebSocket close frame with this status and stop.
    CloseStatus(u16),
    /// Stop without a close frame: the socket is dropped, as ASP.NET Core's WebSocket is
    /// aborted when the server shuts down.
    Abort,
}

impl Out {
    /// The status of the close frame this asks for, if it asks for one.
    pub(crate) fn close_status(&self) -> Option<u16> {
        match self {
            Out::Close => Some(1000),
            Out::CloseStatus(status) => Some(*status),
            _ => None,
        }
    }
}

/// The sending half of one socket.
///
/// Everything refhub writes (deliveries, Completions, the replay buffer's records, the faults'
/// rewrites) is a JSON record, whatever the socket speaks: one form for the state, the
/// faults and the replay buffer. The writer task encodes it for the socket's protocol, off
/// the state's lock and in parallel across sockets.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    tx: mpsc::UnboundedSender<Out>,
    /// Messages enqueued and not yet written by the writer task.
    queued: Arc<AtomicUsize>,
    /// The hub protocol the socket speaks after its handshake (JSON before it).
    pub(crate) protocol: HubProtocol,
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
                protocol: HubProtocol::Json,
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

    /// This transport once the handshake settled on `protocol`: what is enqueued from now on
    /// is written in it.
    pub(crate) fn speaking(mut self, protocol: HubProtocol) -> Transport {
        if protocol != self.protocol {
            self.send(Out::Speak(protocol));
            self.protocol = protocol;
        }
        self
    }

    /// Enqueues one framed record.
    pub(crate) fn send_text(&self, text: impl Into<Utf8Bytes>) -> usize {
        self.send(Out::Text(text.into()))
    }

    /// Enqueues a hub `Close` message and then the WebSocket close frame.
    pub(crate) fn close(&self, error: Option<String>, allow_reconnect: bool) {
        self.close_with_status(error, allow_reconnect, 1000);
    }

    /// Enqueues a hub `Close` message and then a close frame with `status`.
    pub(crate) fn close_with_status(
        &self,
        error: Option<String>,
        allow_reconnect: bool,
        status: u16,
    ) {
        let close = HubMessage::Close {
            error,
            allow_reconnect,
        };
        self.send_text(close.to_wire());
        self.send(Out::CloseStatus(status));
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

/// Owns the socket's sending half: writes queued frames in order, batching what is already
/// queued, and a Ping when nothing was written for `keep_alive` (once the handshake answer or
/// the resume's Sequence went out).
async fn writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    queued: Arc<AtomicUsize>,
    keep_alive: Duration,
    faults: std::collections::BTreeSet<Fault>,
) {
    let wire = WireFaults(&faults);
    let ping = Utf8Bytes::from(HubMessage::Ping.to_wire());
    let mut protocol = HubProtocol::Json;
    let mut started = false;
    loop {
        let next = if started {
            match tokio::time::timeout(keep_alive, rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    if sink
                        .send(encode_for(protocol, &wire, ping.clone()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let Some(first) = next else {
            let _ = sink.close().await;
            return;
        };
        let mut item = Some(first);
        let mut close = None;
        let mut batch = 0;
        while let Some(out) = item.take() {
            batch += 1;
            queued.fetch_sub(1, Ordering::Relaxed);
            match out {
                Out::Text(text) => {
                    started = true;
                    if sink.feed(encode_for(protocol, &wire, text)).await.is_err() {
                        return;
                    }
                }
                Out::Speak(next) => protocol = next,
                Out::Close | Out::CloseStatus(_) => {
                    close = out.close_status();
                    break;
                }
                // No close frame: dropping the sink (and, once the reader sees this task end,
                // the stream) closes the TCP connection, as an aborted WebSocket does.
                Out::Abort => return,
            }
            if batch < 256 {
                item = rx.try_recv().ok();
            }
        }
        if let Some(code) = close {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(""),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
            let _ = sink.close().await;
            return;
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

/// One frame for JSON records `text` on a socket speaking `protocol`: under JSON the records as
/// they are (a text frame, unless a wire fault says otherwise); under MessagePack each record
/// re-encoded as its MessagePack message, all in one binary frame
/// (`hubspec_wire::msgpack::from_json_records`: a fault's malformed record stays malformed).
fn encode_for(protocol: HubProtocol, wire: &WireFaults<'_>, text: Utf8Bytes) -> Message {
    match protocol {
        HubProtocol::Json => wire.frame(text),
        HubProtocol::MessagePack => {
            let bytes = hubspec_wire::msgpack::from_json_records_with(text.as_str(), |m, b| {
                wire.msgpack_message(m, b)
            });
            Message::Binary(bytes.into())
        }
    }
}
