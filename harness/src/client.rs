//! One SignalR connection, as a conformance client needs it: every frame kept, nothing hidden.
//!
//! A [`Client`] negotiates (unless told to skip it), opens the WebSocket (ws or wss), does the
//! handshake for its [`ClientOptions::protocol`] (JSON or MessagePack; version 2 when stateful
//! reconnect was granted, else 1) and then runs three small tasks: a *reader* that splits
//! frames into messages and routes them (Completions to the
//! waiting [`Client::invoke`], `Receive` invocations to an arrival-ordered queue, Close, Ack and
//! Sequence to the connection's state), a *pinger* that sends a Ping every
//! [`ClientOptions::ping_interval`] so a server's client timeout never fires, and, with
//! stateful reconnect, an *acker* that sends Ack once a second as `MessageBuffer.cs` does. The
//! wire format itself is `hubspec-wire`'s.
//!
//! Whatever the protocol, the API and the tasks write JSON records (the stateful buffer keeps
//! them too); [`send_on`] sends them as they are under JSON, or re-encoded as MessagePack in a
//! binary frame. Under MessagePack a text frame from the server, a bad length prefix or an
//! oversize message is a `PRO-MSGPACK-FRAMING` finding, a message that does not parse a
//! `PRO-MSGPACK-WELL-FORMED` one.
//!
//! Keep-alive: a Ping from the server is logged and not answered. HubProtocol.md says a Ping
//! "does not require a response"; each side keeps the connection alive with its own Pings, and
//! the .NET and JS clients do the same. A server that closes the connection although our Pings
//! kept coming is a `PRO-PING` finding.
//!
//! The reader never answers the server and never fails: what breaks the protocol becomes a
//! [`Finding`] with a `PRO-` rule ID, and every frame either way is kept in a bounded log
//! ([`RawFrame`]) so that a divergence can show the bytes it rests on. Every wait is bounded,
//! and so is every buffer: the record reader holds at most [`ClientOptions::max_record_bytes`]
//! (a server streaming text without a record separator is a `PRO-WELL-FORMED` finding and the
//! reading stops), the queue of received messages [`ClientOptions::queue_capacity`].
//!
//! The code is split by the data that flows:
//! - [`dial`]: bytes to a socket (negotiate, TLS, WebSocket, handshake);
//! - [`inbound`]: frames → records → Completions, the receive queue and findings, callable
//!   without a socket;
//! - `state`: what the connection knows, shared by the API and the reader task;
//! - this file: the API ([`ClientOptions`], [`Client`]) and the writing tasks.
//!
//! This file is one file at about 700 lines (a tenth of them unit tests) because what is
//! left is one job: the calls a session makes on a connection and the two tasks that write
//! on its behalf (pinger, acker), which share the socket's sending half with those calls.

mod dial;
mod inbound;
mod state;

pub use dial::load_ca_file;
pub use state::{Direction, Finding, FrameKind, RawFrame, Received, Unread};

use crate::error::ClientError;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hubspec_wire::negotiate::{append_query_param, connect_url, negotiate_url};
use hubspec_wire::reconnect::ACK_INTERVAL;
use hubspec_wire::{CompletionResult, HubMessage, HubProtocol, MessageBuffer, NegotiateResponse};
use inbound::Reader;
use serde_json::Value;
use state::{lock, ResumePhase, Shared, Transport};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

/// What an invocation's Completion carried.
pub type Completion = CompletionResult;

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;
type WsSink = SplitSink<WsStream, Message>;

/// The default cap on one record (and on the bytes buffered while waiting for its separator):
/// 32 times ASP.NET Core's default maximum message size, far above anything the contract's
/// messages need.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// A point to wait until, with the bound it was set from. A timeout reports the bound, not
/// the time left: once the deadline has passed the time left is zero, and "timed out after
/// 0 ms" says nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    /// When the wait ends.
    pub at: Instant,
    /// How long the wait was allowed, as reported by a timeout.
    pub bound: Duration,
}

impl Deadline {
    /// The deadline `bound` from now. Share one among several waits (a barrier over every
    /// connection) and each timeout reports the configured bound.
    pub fn after(bound: Duration) -> Self {
        Deadline {
            at: Instant::now() + bound,
            bound,
        }
    }
}

impl From<Instant> for Deadline {
    /// A bare instant: the bound is what is left of it now, when the wait starts.
    fn from(at: Instant) -> Self {
        Deadline {
            at,
            bound: at.saturating_duration_since(Instant::now()),
        }
    }
}

/// How to reach the hub and how long to wait.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The hub URL (`http`, `https`, `ws` or `wss`).
    pub url: Url,
    /// The contract's `user` query parameter.
    pub user: Option<String>,
    /// Connect the WebSocket directly, without negotiate (no token, no stateful reconnect).
    pub skip_negotiation: bool,
    /// Ask for stateful reconnect (negotiate `useStatefulReconnect=true`, handshake v2).
    pub stateful: bool,
    /// Bound on negotiate, WebSocket connect and handshake, each.
    pub connect_timeout: Duration,
    /// Bound on one invocation's Completion and on one write.
    pub invocation_timeout: Duration,
    /// Interval between keep-alive Pings.
    pub ping_interval: Duration,
    /// How many frames the log keeps (the oldest go first).
    pub frame_log_capacity: usize,
    /// How many received invocations may wait in the queue; more is a finding.
    pub queue_capacity: usize,
    /// The most bytes the record reader buffers without a record separator: a longer record
    /// (or a stream that never ends one) is a `PRO-WELL-FORMED` finding and ends the reading.
    pub max_record_bytes: usize,
    /// The name used in frame logs (`c1`, …).
    pub label: String,
    /// A PEM file of extra trusted root certificates for https/wss (a self-signed target).
    pub ca_file: Option<PathBuf>,
    /// The hub protocol to ask for in the handshake.
    pub protocol: HubProtocol,
}

impl ClientOptions {
    /// Options for node `node` of `target`: its URL, negotiation, bounds, record cap and
    /// trusted roots (not stateful; set [`stateful`](Self::stateful) as the profile needs).
    pub fn for_target(target: &crate::TargetConfig, node: usize) -> Self {
        let t = &target.timeouts;
        let mut opts = ClientOptions::new(target.urls[node % target.urls.len()].clone());
        opts.skip_negotiation = target.skip_negotiation;
        opts.connect_timeout = t.connect;
        opts.invocation_timeout = t.invocation;
        opts.ping_interval = t.ping_interval;
        opts.max_record_bytes = target.max_record_bytes;
        opts.ca_file = target.ca_file.clone();
        opts.protocol = target.protocols[0];
        opts
    }

    /// Options with the default bounds for `url`.
    pub fn new(url: Url) -> Self {
        ClientOptions {
            url,
            user: None,
            skip_negotiation: false,
            stateful: false,
            connect_timeout: Duration::from_secs(5),
            invocation_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(5),
            frame_log_capacity: 256,
            queue_capacity: 10_000,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            label: "client".into(),
            ca_file: None,
            protocol: HubProtocol::Json,
        }
    }
}

/// The HTTP(S) form of a hub URL (negotiate is plain HTTP; the WebSocket URL is derived from it).
fn http_form(url: &Url) -> String {
    let s = url.as_str();
    if let Some(rest) = s.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if let Some(rest) = s.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        s.to_string()
    }
}

/// One SignalR connection to the hub.
pub struct Client {
    opts: ClientOptions,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
    sink: Arc<tokio::sync::Mutex<Option<WsSink>>>,
    tasks: Vec<JoinHandle<()>>,
    next_id: AtomicU64,
    ws_url: String,
    /// Whether `ws_url` names the connection (a token from negotiate): only then can a new
    /// socket resume it.
    resumable: bool,
    negotiated: Option<NegotiateResponse>,
    stateful: bool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("label", &self.opts.label)
            .field("ws_url", &self.ws_url)
            .field("stateful", &self.stateful)
            .finish()
    }
}

impl Client {
    /// Negotiate (unless skipped), connect, handshake, send the first Ping and start the tasks.
    pub async fn connect(opts: ClientOptions) -> Result<Client, ClientError> {
        Self::connect_with_frames(opts).await.map_err(|(e, _)| e)
    }

    /// [`connect`](Self::connect), returning the frames exchanged when it fails.
    pub async fn connect_with_frames(
        opts: ClientOptions,
    ) -> Result<Client, (ClientError, Vec<RawFrame>)> {
        let shared = Arc::new(Mutex::new(Shared::new(&opts)));
        match Self::connect_on(opts, shared.clone()).await {
            Ok(client) => Ok(client),
            Err(e) => Err((e, lock(&shared).frames())),
        }
    }

    async fn connect_on(
        opts: ClientOptions,
        shared: Arc<Mutex<Shared>>,
    ) -> Result<Client, ClientError> {
        let mut base = http_form(&opts.url);
        if let Some(user) = &opts.user {
            base = append_query_param(&base, "user", user);
        }
        let mut negotiated = None;
        let mut stateful = false;
        let mut token = None;
        if !opts.skip_negotiation {
            let url = negotiate_url(&base, 1, opts.stateful);
            let response = dial::negotiate(&url, &opts, &shared).await?;
            stateful = opts.stateful && response.use_stateful_reconnect;
            token = response
                .connect_id()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                // Opened without a token, as with skip_negotiation: a new connection the server
                // numbers itself, which cannot be resumed.
                stateful = false;
                lock(&shared).find(
                    "PRO-NEGOTIATE",
                    "the negotiate response has no connectionToken (or connectionId for version 0); connected without one, as with skip_negotiation (no stateful reconnect)",
                );
            }
            negotiated = Some(response);
        }
        let ws_url = connect_url(&base, token.as_deref());
        let ws = dial::open_websocket(&ws_url, &opts, &shared).await?;
        let (mut sink, mut stream) = ws.split();

        let reader = dial::handshake(&mut sink, &mut stream, stateful, &opts, &shared).await?;
        if stateful {
            lock(&shared).buffer = Some(MessageBuffer::default());
        }
        let mut client = Client {
            shared,
            notify: Arc::new(Notify::new()),
            sink: Arc::new(tokio::sync::Mutex::new(Some(sink))),
            tasks: Vec::new(),
            next_id: AtomicU64::new(1),
            resumable: token.is_some(),
            ws_url,
            negotiated,
            stateful,
            opts,
        };
        client.start_tasks(stream, reader);
        // As the JS client does: a Ping right after the handshake.
        client.send_wire(HubMessage::Ping.to_wire(), true).await?;
        Ok(client)
    }

    fn start_tasks(&mut self, stream: SplitStream<WsStream>, reader: hubspec_wire::MessageReader) {
        let (shared, notify) = (self.shared.clone(), self.notify.clone());
        self.tasks.push(tokio::spawn(inbound::read_loop(
            stream,
            Reader::new(reader),
            shared,
            notify,
        )));
        let (shared, sink, interval) = (
            self.shared.clone(),
            self.sink.clone(),
            self.opts.ping_interval,
        );
        self.tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                if send_on(&sink, &shared, HubMessage::Ping.to_wire(), true, interval)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }));
        if self.stateful {
            let (shared, sink) = (self.shared.clone(), self.sink.clone());
            self.tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ACK_INTERVAL).await;
                    let ack = {
                        let mut s = lock(&shared);
                        let ack = s.buffer.as_mut().and_then(|b| b.ack_due());
                        if let Some(HubMessage::Ack { sequence_id }) = &ack {
                            s.last_ack_sent = *sequence_id;
                        }
                        ack
                    };
                    if let Some(ack) = ack {
                        if send_on(&sink, &shared, ack.to_wire(), false, ACK_INTERVAL * 5)
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }));
        }
    }

    /// The negotiate response, unless negotiation was skipped.
    pub fn negotiated(&self) -> Option<&NegotiateResponse> {
        self.negotiated.as_ref()
    }

    /// Whether stateful reconnect is in use (asked for, granted, handshake version 2).
    pub fn is_stateful(&self) -> bool {
        self.stateful
    }

    async fn send_wire(&self, text: String, is_ping: bool) -> Result<(), ClientError> {
        send_on(
            &self.sink,
            &self.shared,
            text,
            is_ping,
            self.opts.invocation_timeout,
        )
        .await
    }

    /// Sends JSON records as they are in a text frame, or, on a MessagePack connection,
    /// re-encoded in a binary frame (a record that is not a hub message goes length-prefixed as
    /// its raw bytes).
    pub async fn send_raw(&self, text: &str) -> Result<(), ClientError> {
        self.send_wire(text.to_string(), false).await
    }

    /// Invokes `method` and waits for its Completion, at most the invocation timeout.
    pub async fn invoke(&self, method: &str, args: Vec<Value>) -> Result<Completion, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let (tx, rx) = oneshot::channel();
        let (unread_before, text) = {
            let mut s = lock(&self.shared);
            if let Some(e) = s.closed_error() {
                return Err(e);
            }
            s.pending.insert(id.clone(), tx);
            let message = HubMessage::invocation(Some(&id), method, args);
            let text = match s.buffer.as_mut() {
                Some(b) => b.write(&message),
                None => message.to_wire(),
            };
            (s.unread_count, text)
        };
        if let Err(e) = self.send_wire(text, false).await {
            lock(&self.shared).pending.remove(&id);
            return Err(e);
        }
        match timeout(self.opts.invocation_timeout, rx).await {
            Ok(Ok(completion)) => Ok(completion),
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                let mut s = lock(&self.shared);
                s.pending.remove(&id);
                // A Completion that comes after we gave up is late, not "never asked for".
                s.remember_completed(id.clone());
                let bound = self.opts.invocation_timeout;
                // A Completion that may be among what could not be read is not a hang: the
                // finding names what came instead.
                Err(match s.unread_since(unread_before) {
                    Some(unread) => ClientError::protocol(
                        unread.rule,
                        format!(
                            "no Completion of {method} (invocation {id}) within {} ms; what came instead could not be read: {}",
                            bound.as_millis(),
                            unread.excerpt
                        ),
                    ),
                    None => ClientError::timeout(
                        format!("the Completion of {method} (invocation {id})"),
                        bound,
                    ),
                })
            }
        }
    }

    /// `GetConnectionId`: the connection id the hub uses for this connection.
    pub async fn connection_id(&self) -> Result<String, ClientError> {
        match self.invoke("GetConnectionId", vec![]).await? {
            CompletionResult::Result(Value::String(id)) if !id.is_empty() => Ok(id),
            other => Err(ClientError::protocol(
                "PRO-COMPLETION",
                format!("GetConnectionId answered {other:?}, not a connection id string"),
            )),
        }
    }

    fn closed_error(&self) -> ClientError {
        let s = lock(&self.shared);
        if let Some(e) = s.closed_error() {
            return e;
        }
        // A closed transport answered `closed_error` above.
        let detail = match &s.transport {
            Transport::Suspended => "the transport was dropped",
            _ => "the invocation was abandoned",
        }
        .into();
        ClientError::Closed { detail }
    }

    /// The next received invocation, waiting until `deadline` (a [`Deadline`], or a bare
    /// [`Instant`] whose bound is what is left of it now). A timeout reports the deadline's
    /// bound.
    pub async fn recv_until(&self, deadline: impl Into<Deadline>) -> Result<Received, ClientError> {
        let deadline = deadline.into();
        loop {
            let notified = self.notify.notified();
            {
                let mut s = lock(&self.shared);
                if let Some(r) = s.received.pop_front() {
                    return Ok(r);
                }
                if let Some(e) = s.closed_error() {
                    return Err(e);
                }
            }
            if timeout_at(deadline.at, notified).await.is_err() {
                return Err(ClientError::timeout(
                    "a message from the server",
                    deadline.bound,
                ));
            }
        }
    }

    /// Every received invocation queued now, without waiting.
    pub fn drain_received(&self) -> Vec<Received> {
        lock(&self.shared).received.drain(..).collect()
    }

    /// The frame log, oldest first.
    pub fn frames(&self) -> Vec<RawFrame> {
        lock(&self.shared).frames()
    }

    /// How many messages the reader dropped as unreadable since the connection opened, and the
    /// last of them: a session tells by the count which step lost one.
    pub fn unread(&self) -> (u64, Option<Unread>) {
        let s = lock(&self.shared);
        (s.unread_count, s.unread.clone())
    }

    /// The findings so far, emptying the list.
    pub fn take_findings(&self) -> Vec<Finding> {
        lock(&self.shared).take_findings()
    }

    /// Whether the transport is up.
    pub fn is_open(&self) -> bool {
        lock(&self.shared).transport == Transport::Open
    }

    /// The server's Close message (error, allowReconnect), if one arrived.
    pub fn server_close(&self) -> Option<(Option<String>, bool)> {
        lock(&self.shared).server_close.clone()
    }

    fn stop_tasks(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }

    /// Drops the transport abruptly: the socket is closed with no Close message and no
    /// WebSocket close frame, as a lost network would. With stateful reconnect the connection
    /// can then be [resumed](Self::resume).
    pub async fn drop_transport(&mut self) {
        lock(&self.shared).transport = Transport::Suspended;
        self.stop_tasks();
        // Dropping both halves closes the TCP socket without a close frame.
        self.sink.lock().await.take();
        lock(&self.shared).log(
            Direction::Out,
            FrameKind::Event,
            "transport dropped (no close frame)",
        );
    }

    /// Opens a new WebSocket at the same URL (same `?id=token`), with no negotiate and no
    /// handshake. With stateful reconnect it sends our Sequence and unacked messages and waits
    /// for the server's Sequence; replays the client already has are dropped by the wire
    /// buffer. A refused resume is [`ClientError::Status`] (404 for an ended connection).
    pub async fn resume(&mut self) -> Result<(), ClientError> {
        if !self.resumable {
            return Err(ClientError::NoConnectionToken);
        }
        let ws = dial::open_websocket(&self.ws_url, &self.opts, &self.shared).await?;
        let (sink, stream) = ws.split();
        *self.sink.lock().await = Some(sink);
        let resend = {
            let mut s = lock(&self.shared);
            s.resumed();
            s.buffer.as_mut().map(|b| b.resend())
        };
        self.start_tasks(
            stream,
            self.opts.protocol.reader(Some(self.opts.max_record_bytes)),
        );
        if let Some((sequence, records)) = resend {
            self.send_wire(sequence.to_wire(), false).await?;
            for r in records {
                self.send_wire(r, false).await?;
            }
            let deadline = Instant::now() + self.opts.invocation_timeout;
            loop {
                let notified = self.notify.notified();
                {
                    let s = lock(&self.shared);
                    if s.resume == ResumePhase::Resumed {
                        break;
                    }
                    if let Transport::Closed(d) = &s.transport {
                        return Err(ClientError::Closed { detail: d.clone() });
                    }
                }
                if timeout_at(deadline, notified).await.is_err() {
                    return Err(ClientError::protocol(
                        "PRO-SEQUENCE",
                        "no Sequence message from the server after the resume",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Closes gracefully: sends a Close message and waits (bounded) for the server to answer
    /// with its own Close and end the socket. A server that does not is a `PRO-CLOSE` finding.
    pub async fn close(&mut self) -> Result<(), ClientError> {
        let close = HubMessage::Close {
            error: None,
            allow_reconnect: false,
        };
        lock(&self.shared).closing_by_us();
        let sent = self.send_wire(close.to_wire(), false).await;
        let deadline = Instant::now() + self.opts.invocation_timeout;
        let result = match sent {
            Err(e) => Err(e),
            Ok(()) => loop {
                let notified = self.notify.notified();
                {
                    let mut s = lock(&self.shared);
                    if matches!(s.transport, Transport::Closed(_)) {
                        // A reader that stopped for good (its own finding) cannot have seen
                        // the answer.
                        let unread = matches!(s.ending, state::Ending::ReaderFailed { .. });
                        if s.server_close.is_none() && !unread {
                            s.find(
                                "PRO-CLOSE",
                                "the server closed the socket without answering our Close with a Close message",
                            );
                        }
                        break Ok(());
                    }
                }
                if timeout_at(deadline, notified).await.is_err() {
                    let mut s = lock(&self.shared);
                    let detail = if s.server_close.is_some() {
                        "the server answered our Close but kept the socket open"
                    } else {
                        "the server neither answered our Close nor closed the socket"
                    };
                    s.find("PRO-CLOSE", detail);
                    break Err(ClientError::timeout(
                        "the server to close after our Close",
                        self.opts.invocation_timeout,
                    ));
                }
            },
        };
        self.shutdown().await;
        result
    }

    /// Stops every task and drops the socket, without any message.
    pub async fn shutdown(&mut self) {
        {
            let mut s = lock(&self.shared);
            if !matches!(s.transport, Transport::Closed(_)) {
                s.transport = Transport::Closed("closed by the harness".into());
            }
            s.pending.clear();
        }
        self.stop_tasks();
        self.sink.lock().await.take();
        self.notify.notify_one();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop_tasks();
    }
}

/// Writes JSON records `text` in one frame for the connection's protocol (see [`encoded`]),
/// within `bound` for the lock and for the write.
async fn send_on(
    sink: &tokio::sync::Mutex<Option<WsSink>>,
    shared: &Mutex<Shared>,
    text: String,
    is_ping: bool,
    bound: Duration,
) -> Result<(), ClientError> {
    let mut guard = timeout(bound, sink.lock())
        .await
        .map_err(|_| ClientError::timeout("the socket to be writable", bound))?;
    let Some(sink) = guard.as_mut() else {
        let detail = match &lock(shared).transport {
            Transport::Closed(d) => d.clone(),
            _ => "the transport is down".into(),
        };
        return Err(ClientError::Closed { detail });
    };
    let frame = {
        let mut s = lock(shared);
        if is_ping {
            s.ping_sent();
        }
        let (kind, frame) = match s.protocol {
            HubProtocol::Json => (FrameKind::Text, Message::text(text.clone())),
            HubProtocol::MessagePack => (
                FrameKind::MessagePack,
                Message::binary(hubspec_wire::msgpack::from_json_records(&text)),
            ),
        };
        s.log(Direction::Out, kind, &text);
        frame
    };
    match timeout(bound, sink.send(frame)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ClientError::Closed {
            detail: format!("write failed: {e}"),
        }),
        Err(_) => Err(ClientError::timeout(
            "a write to complete (the server does not read)",
            bound,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client with no socket and no tasks: its queue is filled by hand.
    fn detached() -> Client {
        let opts = ClientOptions::new("http://127.0.0.1:1/hub".parse().unwrap());
        Client {
            shared: Arc::new(Mutex::new(Shared::new(&opts))),
            notify: Arc::new(Notify::new()),
            sink: Arc::new(tokio::sync::Mutex::new(None)),
            tasks: Vec::new(),
            next_id: AtomicU64::new(1),
            ws_url: "ws://127.0.0.1:1/hub".into(),
            resumable: false,
            negotiated: None,
            stateful: false,
            opts,
        }
    }

    #[tokio::test]
    async fn a_receive_timeout_reports_the_bound_waited_not_the_time_left() {
        let client = detached();
        let bound = Duration::from_millis(80);
        let started = Instant::now();
        let err = client.recv_until(started + bound).await.unwrap_err();
        let ClientError::Timeout { after, .. } = &err else {
            panic!("{err}");
        };
        // A bare instant's bound is what was left of it when the wait began.
        assert!(*after > bound / 2 && *after <= bound, "{err}");
        assert!(Instant::now() >= started + bound);

        let err = client.recv_until(Deadline::after(bound)).await.unwrap_err();
        assert_eq!(
            err,
            ClientError::timeout("a message from the server", bound)
        );
        assert_eq!(
            err.to_string(),
            "timed out after 80 ms waiting for a message from the server"
        );
    }

    #[tokio::test]
    async fn a_queued_message_is_returned_before_the_deadline() {
        let client = detached();
        lock(&client.shared).received.push_back(Received {
            target: "Receive".into(),
            arguments: vec![Value::String("m1".into())],
        });
        let r = client
            .recv_until(Deadline::after(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(r.payload(), Some("m1"));
    }

    #[tokio::test]
    async fn a_resume_without_a_connection_token_is_its_own_error() {
        let mut client = detached();
        assert_eq!(client.resume().await, Err(ClientError::NoConnectionToken));
        assert_eq!(ClientError::NoConnectionToken.rule(), None);
    }

    #[test]
    fn ws_and_wss_urls_negotiate_over_http_and_https() {
        let form = |u: &str| http_form(&Url::parse(u).unwrap());
        assert_eq!(form("ws://h:1/hub"), "http://h:1/hub");
        assert_eq!(form("wss://h/hub"), "https://h/hub");
        assert_eq!(form("https://[::1]:5001/hub"), "https://[::1]:5001/hub");
    }
}
