//! One SignalR connection, as a conformance client needs it: every frame kept, nothing hidden.
//!
//! A [`Client`] negotiates (unless told to skip it), opens the WebSocket (ws or wss), does the
//! JSON handshake (version 2 when stateful reconnect was granted, else 1) and then runs three
//! small tasks: a *reader* that splits frames into records and routes them (Completions to the
//! waiting [`Client::invoke`], `Receive` invocations to an arrival-ordered queue, Close, Ack and
//! Sequence to the connection's state), a *pinger* that sends a Ping every
//! [`ClientOptions::ping_interval`] so a server's client timeout never fires, and, with
//! stateful reconnect, an *acker* that sends Ack once a second as `MessageBuffer.cs` does. The
//! wire format itself is `hubspec-wire`'s.
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

use crate::error::ClientError;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hubspec_wire::handshake::{HandshakeRequest, HandshakeResponse};
use hubspec_wire::negotiate::{append_query_param, connect_url, negotiate_url};
use hubspec_wire::reconnect::ACK_INTERVAL;
use hubspec_wire::{
    CompletionResult, HubMessage, MessageBuffer, NegotiateReply, NegotiateResponse, ProtocolError,
    RecordReader,
};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

/// What an invocation's Completion carried.
pub type Completion = CompletionResult;

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;
type WsSink = SplitSink<WsStream, Message>;

/// The longest text kept per logged frame; the rest is cut (and says so).
const FRAME_TEXT_MAX: usize = 2048;
/// The most findings one connection keeps; later ones are counted only.
const FINDINGS_MAX: usize = 64;
/// How many answered invocation ids are remembered to tell a duplicate Completion from one
/// for an invocation never made.
const COMPLETED_MAX: usize = 4096;
/// The largest negotiate body read.
const NEGOTIATE_BODY_MAX: usize = 1 << 20;
/// The default cap on one record (and on the bytes buffered while waiting for its separator):
/// 32 times ASP.NET Core's default maximum message size, far above anything the contract's
/// messages need.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// Which way a frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the server.
    In,
    /// To the server.
    Out,
}

/// What kind of WebSocket frame (or transport event) a [`RawFrame`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A text frame.
    Text,
    /// A binary frame (shown as lossy UTF-8).
    Binary,
    /// A WebSocket close frame.
    Close,
    /// A WebSocket-level ping.
    Ping,
    /// A WebSocket-level pong.
    Pong,
    /// The transport ended or failed; the text says how.
    Event,
}

/// One frame as it crossed the wire, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFrame {
    /// The connection, as the session names it (`c1`, …).
    pub conn: String,
    /// In or out.
    pub dir: Direction,
    /// The frame kind.
    pub kind: FrameKind,
    /// The payload as text, record separators shown as `\x1e`, cut at 2 KiB.
    pub text: String,
}

impl fmt::Display for RawFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrow = match self.dir {
            Direction::In => "<-",
            Direction::Out => "->",
        };
        let kind = match self.kind {
            FrameKind::Text => "text",
            FrameKind::Binary => "BINARY",
            FrameKind::Close => "close",
            FrameKind::Ping => "ws-ping",
            FrameKind::Pong => "ws-pong",
            FrameKind::Event => "event",
        };
        write!(f, "{} {arrow} {kind} {}", self.conn, self.text)
    }
}

/// A server-to-client invocation (`Receive(payload)` for the conformance hub).
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// The client method the server called.
    pub target: String,
    /// Its arguments.
    pub arguments: Vec<Value>,
}

impl Received {
    /// The payload, if this is the contract's `Receive` with one string argument.
    pub fn payload(&self) -> Option<&str> {
        match (self.target.as_str(), self.arguments.as_slice()) {
            ("Receive", [Value::String(p)]) => Some(p),
            _ => None,
        }
    }
}

/// A protocol problem the reader noticed on its own, with the rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The `PRO-` rule ID.
    pub rule: &'static str,
    /// What happened, with the offending text.
    pub detail: String,
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
        }
    }
}

/// Whether the transport is up.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Transport {
    Open,
    /// Dropped on purpose; [`Client::resume`] may bring it back.
    Suspended,
    /// Ended; the detail says how.
    Closed(String),
}

struct Shared {
    label: String,
    frames: VecDeque<RawFrame>,
    frame_cap: usize,
    pending: HashMap<String, oneshot::Sender<Completion>>,
    /// Ids answered (or given up on) recently: a second Completion for one is a duplicate.
    completed: VecDeque<String>,
    received: VecDeque<Received>,
    received_cap: usize,
    max_record_bytes: usize,
    findings: Vec<Finding>,
    findings_dropped: usize,
    transport: Transport,
    /// The server's Close message, if it sent one: (error, allowReconnect).
    server_close: Option<(Option<String>, bool)>,
    closing_by_us: bool,
    buffer: Option<MessageBuffer>,
    /// After a resume: the next hub message must be a Sequence.
    expect_sequence: bool,
    sequence_seen: bool,
    /// We sent a Ping and have received nothing since.
    ping_unanswered: bool,
    /// The record reader hit the cap and reading stopped.
    reader_failed: bool,
}

impl Shared {
    fn log(&mut self, dir: Direction, kind: FrameKind, text: &str) {
        let mut text = text.replace('\u{1e}', "\\x1e");
        if text.len() > FRAME_TEXT_MAX {
            let mut cut = FRAME_TEXT_MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("…(cut)");
        }
        if self.frames.len() >= self.frame_cap {
            self.frames.pop_front();
        }
        self.frames.push_back(RawFrame {
            conn: self.label.clone(),
            dir,
            kind,
            text,
        });
    }

    fn find(&mut self, rule: &'static str, detail: impl Into<String>) {
        if self.findings.len() < FINDINGS_MAX {
            self.findings.push(Finding {
                rule,
                detail: detail.into(),
            });
        } else {
            self.findings_dropped += 1;
        }
    }

    /// The error of a closed connection: a reader stopped at the record cap is the target's
    /// `PRO-WELL-FORMED` fault, any other end is `Closed`.
    fn closed_error(&self) -> Option<ClientError> {
        match &self.transport {
            Transport::Closed(detail) if self.reader_failed => {
                Some(ClientError::protocol("PRO-WELL-FORMED", detail.clone()))
            }
            Transport::Closed(detail) => Some(ClientError::Closed {
                detail: detail.clone(),
            }),
            _ => None,
        }
    }

    fn remember_completed(&mut self, id: String) {
        if self.completed.len() >= COMPLETED_MAX {
            self.completed.pop_front();
        }
        self.completed.push_back(id);
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

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A panic while holding the lock is a bug of ours; the data is still usable for a report.
    shared.lock().unwrap_or_else(|e| e.into_inner())
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

impl Client {
    /// Negotiate (unless skipped), connect, handshake, send the first Ping and start the tasks.
    pub async fn connect(opts: ClientOptions) -> Result<Client, ClientError> {
        Self::connect_with_frames(opts).await.map_err(|(e, _)| e)
    }

    /// [`connect`](Self::connect), returning the frames exchanged when it fails.
    pub async fn connect_with_frames(
        opts: ClientOptions,
    ) -> Result<Client, (ClientError, Vec<RawFrame>)> {
        let shared = Arc::new(Mutex::new(Shared {
            label: opts.label.clone(),
            frames: VecDeque::new(),
            frame_cap: opts.frame_log_capacity.max(8),
            pending: HashMap::new(),
            completed: VecDeque::new(),
            received: VecDeque::new(),
            received_cap: opts.queue_capacity.max(16),
            max_record_bytes: opts.max_record_bytes,
            findings: Vec::new(),
            findings_dropped: 0,
            transport: Transport::Open,
            server_close: None,
            closing_by_us: false,
            buffer: None,
            expect_sequence: false,
            sequence_seen: false,
            ping_unanswered: false,
            reader_failed: false,
        }));
        match Self::connect_on(opts, shared.clone()).await {
            Ok(client) => Ok(client),
            Err(e) => Err((e, lock(&shared).frames.iter().cloned().collect())),
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
            let response = negotiate(&url, &opts, &shared).await?;
            stateful = opts.stateful && response.use_stateful_reconnect;
            token = Some(
                response
                    .connect_id()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        ClientError::protocol(
                            "PRO-NEGOTIATE",
                            "negotiate response has no connectionToken (or connectionId for version 0)",
                        )
                    })?
                    .to_string(),
            );
            negotiated = Some(response);
        }
        let ws_url = connect_url(&base, token.as_deref());
        let ws = open_websocket(&ws_url, &opts, &shared).await?;
        let (mut sink, mut stream) = ws.split();

        // Handshake: the first record each way.
        let version = if stateful { 2 } else { 1 };
        let request = hubspec_wire::framing::encode(&HandshakeRequest::json(version).to_json());
        lock(&shared).log(Direction::Out, FrameKind::Text, &request);
        timeout(opts.connect_timeout, sink.send(Message::text(request)))
            .await
            .map_err(|_| {
                ClientError::timeout("the handshake request to be written", opts.connect_timeout)
            })?
            .map_err(|e| ClientError::Closed {
                detail: format!("writing the handshake failed: {e}"),
            })?;
        let mut reader = RecordReader::with_max_record_size(opts.max_record_bytes);
        let deadline = Instant::now() + opts.connect_timeout;
        let handshake = loop {
            match reader.next_record() {
                Ok(Some(record)) => break record,
                Ok(None) => {}
                Err(e) => return Err(ClientError::protocol("PRO-HANDSHAKE", e.to_string())),
            }
            let frame = timeout_at(deadline, stream.next()).await.map_err(|_| {
                ClientError::timeout("the handshake response", opts.connect_timeout)
            })?;
            match frame {
                Some(Ok(Message::Text(t))) => {
                    lock(&shared).log(Direction::In, FrameKind::Text, t.as_str());
                    reader.push(t.as_bytes());
                }
                Some(Ok(Message::Binary(b))) => {
                    let mut s = lock(&shared);
                    s.log(
                        Direction::In,
                        FrameKind::Binary,
                        &String::from_utf8_lossy(&b),
                    );
                    s.find(
                        "PRO-TEXT-FRAMES",
                        "the handshake response came in a binary frame",
                    );
                    reader.push(&b);
                }
                Some(Ok(other)) => log_control(&shared, &other),
                Some(Err(e)) => {
                    return Err(ClientError::protocol(
                        "PRO-HANDSHAKE",
                        format!("the connection failed before the handshake response: {e}"),
                    ))
                }
                None => {
                    return Err(ClientError::protocol(
                        "PRO-HANDSHAKE",
                        "the server closed the connection before answering the handshake",
                    ))
                }
            }
        };
        match HandshakeResponse::parse(&handshake) {
            Ok(r) if r.is_success() => {}
            Ok(r) => {
                return Err(ClientError::protocol(
                    "PRO-HANDSHAKE",
                    format!(
                        "the server refused the handshake: {}",
                        r.error.unwrap_or_default()
                    ),
                ))
            }
            Err(e) => {
                return Err(ClientError::protocol(
                    "PRO-HANDSHAKE",
                    format!("bad handshake response {handshake:?}: {e}"),
                ))
            }
        }
        if stateful {
            lock(&shared).buffer = Some(MessageBuffer::default());
        }
        let mut client = Client {
            shared,
            notify: Arc::new(Notify::new()),
            sink: Arc::new(tokio::sync::Mutex::new(Some(sink))),
            tasks: Vec::new(),
            next_id: AtomicU64::new(1),
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

    fn start_tasks(&mut self, stream: SplitStream<WsStream>, reader: RecordReader) {
        let (shared, notify) = (self.shared.clone(), self.notify.clone());
        self.tasks
            .push(tokio::spawn(read_loop(stream, reader, shared, notify)));
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
                    let ack = lock(&shared).buffer.as_mut().and_then(|b| b.ack_due());
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

    /// The WebSocket URL (with `?id=token` when negotiated): a resume connects here again.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// The label used in frame logs.
    pub fn label(&self) -> &str {
        &self.opts.label
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

    /// Sends a raw text frame as it is (tests of misbehaving servers use it).
    pub async fn send_raw(&self, text: &str) -> Result<(), ClientError> {
        self.send_wire(text.to_string(), false).await
    }

    /// Invokes `method` and waits for its Completion, at most the invocation timeout.
    pub async fn invoke(&self, method: &str, args: Vec<Value>) -> Result<Completion, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let (tx, rx) = oneshot::channel();
        let text = {
            let mut s = lock(&self.shared);
            if let Some(e) = s.closed_error() {
                return Err(e);
            }
            s.pending.insert(id.clone(), tx);
            let message = HubMessage::invocation(Some(&id), method, args);
            match s.buffer.as_mut() {
                Some(b) => b.write(&message),
                None => message.to_wire(),
            }
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
                Err(ClientError::timeout(
                    format!("the Completion of {method} (invocation {id})"),
                    self.opts.invocation_timeout,
                ))
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

    /// The next received invocation, waiting until `deadline`.
    pub async fn recv_until(&self, deadline: Instant) -> Result<Received, ClientError> {
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
            if timeout_at(deadline, notified).await.is_err() {
                return Err(ClientError::timeout(
                    "a message from the server",
                    deadline.saturating_duration_since(Instant::now()),
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
        lock(&self.shared).frames.iter().cloned().collect()
    }

    /// The findings so far, emptying the list.
    pub fn take_findings(&self) -> Vec<Finding> {
        let mut s = lock(&self.shared);
        let mut out: Vec<Finding> = s.findings.drain(..).collect();
        if s.findings_dropped > 0 {
            out.push(Finding {
                rule: "PRO-WELL-FORMED",
                detail: format!("… and {} more findings", s.findings_dropped),
            });
            s.findings_dropped = 0;
        }
        out
    }

    /// Whether the transport is up.
    pub fn is_open(&self) -> bool {
        lock(&self.shared).transport == Transport::Open
    }

    /// How the connection ended, if it has.
    pub fn closed_reason(&self) -> Option<String> {
        match &lock(&self.shared).transport {
            Transport::Closed(d) => Some(d.clone()),
            _ => None,
        }
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
        if self.negotiated.is_none() {
            return Err(ClientError::Closed {
                detail: "no connection token to resume (negotiation was skipped)".into(),
            });
        }
        let ws = open_websocket(&self.ws_url, &self.opts, &self.shared).await?;
        let (sink, stream) = ws.split();
        *self.sink.lock().await = Some(sink);
        let resend = {
            let mut s = lock(&self.shared);
            s.transport = Transport::Open;
            s.server_close = None;
            s.closing_by_us = false;
            s.reader_failed = false;
            s.sequence_seen = false;
            s.expect_sequence = s.buffer.is_some();
            s.buffer.as_mut().map(|b| b.resend())
        };
        self.start_tasks(
            stream,
            RecordReader::with_max_record_size(self.opts.max_record_bytes),
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
                    if s.sequence_seen {
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
        lock(&self.shared).closing_by_us = true;
        let sent = self.send_wire(close.to_wire(), false).await;
        let deadline = Instant::now() + self.opts.invocation_timeout;
        let result = match sent {
            Err(e) => Err(e),
            Ok(()) => loop {
                let notified = self.notify.notified();
                {
                    let mut s = lock(&self.shared);
                    if matches!(s.transport, Transport::Closed(_)) {
                        if s.server_close.is_none() {
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

fn log_control(shared: &Mutex<Shared>, message: &Message) {
    let (kind, text) = match message {
        Message::Ping(p) => (FrameKind::Ping, String::from_utf8_lossy(p).into_owned()),
        Message::Pong(p) => (FrameKind::Pong, String::from_utf8_lossy(p).into_owned()),
        Message::Close(f) => (
            FrameKind::Close,
            f.as_ref()
                .map(|f| format!("{} {}", u16::from(f.code), f.reason))
                .unwrap_or_default(),
        ),
        _ => return,
    };
    lock(shared).log(Direction::In, kind, &text);
}

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
    {
        let mut s = lock(shared);
        s.log(Direction::Out, FrameKind::Text, &text);
        if is_ping {
            s.ping_unanswered = true;
        }
    }
    match timeout(bound, sink.send(Message::text(text))).await {
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

async fn read_loop(
    mut stream: SplitStream<WsStream>,
    mut reader: RecordReader,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
) {
    // Records that came with the handshake response are handled first.
    let mut overflow = drain_records(&mut reader, &shared, &notify);
    let mut ending = String::from("the server closed the socket");
    while let Some(item) = stream.next().await {
        if overflow {
            break;
        }
        match item {
            Ok(Message::Text(t)) => {
                {
                    let mut s = lock(&shared);
                    s.log(Direction::In, FrameKind::Text, t.as_str());
                    s.ping_unanswered = false;
                }
                reader.push(t.as_bytes());
                overflow = drain_records(&mut reader, &shared, &notify);
            }
            Ok(Message::Binary(b)) => {
                {
                    let mut s = lock(&shared);
                    let text = String::from_utf8_lossy(&b).into_owned();
                    s.log(Direction::In, FrameKind::Binary, &text);
                    s.ping_unanswered = false;
                    s.find(
                        "PRO-TEXT-FRAMES",
                        format!("JSON hub protocol data in a binary frame: {text:?}"),
                    );
                }
                reader.push(&b);
                overflow = drain_records(&mut reader, &shared, &notify);
            }
            Ok(Message::Close(f)) => {
                log_control(&shared, &Message::Close(f.clone()));
                ending = match f {
                    Some(f) => format!(
                        "the server closed the socket (close frame {} {:?})",
                        u16::from(f.code),
                        f.reason.as_str()
                    ),
                    None => "the server closed the socket (close frame)".into(),
                };
            }
            Ok(other) => log_control(&shared, &other),
            Err(e) => {
                ending = match e {
                    tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                        ending
                    }
                    e => format!("the socket failed: {e}"),
                };
                break;
            }
        }
    }
    let mut s = lock(&shared);
    if overflow {
        // The reader is failed (its buffer is at the cap): stop reading, as .NET closes the
        // connection; the finding says why.
        ending = format!(
            "the harness stopped reading: more than {} bytes without a record separator",
            s.max_record_bytes
        );
        s.closing_by_us = true;
        s.reader_failed = true;
    }
    s.log(Direction::In, FrameKind::Event, &ending);
    if s.transport == Transport::Open {
        if !s.closing_by_us {
            let timeout_close = s
                .server_close
                .as_ref()
                .and_then(|(e, _)| e.as_deref())
                .is_some_and(|e| {
                    let e = e.to_ascii_lowercase();
                    e.contains("timeout") || e.contains("timed out")
                });
            if s.ping_unanswered || timeout_close {
                s.find(
                    "PRO-PING",
                    "the server closed the connection although the client kept pinging (it closed right after a Ping, or for a timeout)",
                );
            }
            if s.server_close.is_none() {
                s.find("PRO-CLOSE", format!("{ending} without a Close message"));
            }
        }
        let detail = match &s.server_close {
            _ if overflow => ending,
            Some((Some(e), _)) => format!("{ending} after a Close with error {e:?}"),
            Some((None, _)) => format!("{ending} after a Close"),
            None => format!("{ending} without a Close message"),
        };
        s.transport = Transport::Closed(detail);
        s.pending.clear();
    }
    drop(s);
    notify.notify_one();
}

/// Handles every complete record; returns `true` when the reader failed for good (a record
/// over the cap, or bytes that never reach a separator): the connection must stop reading.
fn drain_records(reader: &mut RecordReader, shared: &Mutex<Shared>, notify: &Notify) -> bool {
    loop {
        match reader.next_record() {
            Ok(Some(record)) => handle_record(&record, shared, notify),
            Ok(None) => return false,
            Err(ProtocolError::InvalidUtf8) => {
                lock(shared).find("PRO-WELL-FORMED", "a record is not valid UTF-8");
            }
            Err(ProtocolError::RecordTooLarge { limit }) => {
                let mut s = lock(shared);
                s.find(
                    "PRO-WELL-FORMED",
                    format!(
                        "more than {limit} bytes without a record separator (an unterminated or oversized record); the harness stopped reading"
                    ),
                );
                drop(s);
                notify.notify_one();
                return true;
            }
            Err(e) => {
                lock(shared).find("PRO-WELL-FORMED", e.to_string());
                return false;
            }
        }
    }
}

fn handle_record(record: &str, shared: &Mutex<Shared>, notify: &Notify) {
    let mut s = lock(shared);
    let message = match HubMessage::parse(record) {
        Ok(m) => m,
        Err(e) => {
            s.find(
                "PRO-WELL-FORMED",
                format!("a record that is not a hub message ({e}): {record:?}"),
            );
            return;
        }
    };
    if s.expect_sequence && !matches!(message, HubMessage::Ping) {
        s.expect_sequence = false;
        if !matches!(message, HubMessage::Sequence { .. }) {
            s.find(
                "PRO-SEQUENCE",
                format!("the first message after the resume is not a Sequence: {record:?}"),
            );
        }
    }
    if let Some(buffer) = s.buffer.as_mut() {
        let was_sequence = matches!(message, HubMessage::Sequence { .. });
        match buffer.receive(&message) {
            Ok(true) => {}
            Ok(false) => {
                if was_sequence {
                    s.sequence_seen = true;
                    drop(s);
                    notify.notify_one();
                }
                return;
            }
            Err(e) => {
                s.find("PRO-SEQUENCE", format!("{e}: {record:?}"));
                return;
            }
        }
    }
    match message {
        HubMessage::Completion {
            invocation_id,
            result,
            ..
        } => match s.pending.remove(&invocation_id) {
            Some(tx) => {
                s.remember_completed(invocation_id);
                let _ = tx.send(result);
            }
            None if s.completed.contains(&invocation_id) => {
                s.find(
                    "PRO-COMPLETION",
                    format!("a second Completion for invocation {invocation_id}: {record:?}"),
                );
            }
            None => {
                s.find(
                    "PRO-COMPLETION",
                    format!("a Completion for invocation {invocation_id}, which was never made: {record:?}"),
                );
            }
        },
        HubMessage::Invocation {
            target, arguments, ..
        } => {
            if s.received.len() >= s.received_cap {
                let cap = s.received_cap;
                s.find(
                    "PRO-RESPONSIVE",
                    format!(
                        "more than {cap} messages queued without being read; dropped {record:?}"
                    ),
                );
            } else {
                s.received.push_back(Received { target, arguments });
                drop(s);
                notify.notify_one();
            }
        }
        HubMessage::Close {
            error,
            allow_reconnect,
        } => {
            s.server_close = Some((error, allow_reconnect));
        }
        // Pings need no answer (HubProtocol.md; our pinger keeps the connection alive); Ack
        // and Sequence are the buffer's; unknown types are ignored as .NET ignores them
        // ("future protocol changes can add message types").
        _ => {}
    }
}

/// The certificates in a PEM file, for [`ClientOptions::ca_file`]; the error says what is wrong.
pub fn load_ca_file(
    path: &Path,
) -> Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>, String> {
    use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The TLS client configuration: the webpki roots plus the certificates of `ca_file`.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<tokio_rustls::rustls::ClientConfig>, String> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in load_ca_file(path)? {
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn open_websocket(
    url: &str,
    opts: &ClientOptions,
    shared: &Mutex<Shared>,
) -> Result<WsStream, ClientError> {
    let bound = opts.connect_timeout;
    let connector = if url.starts_with("wss:") {
        let config =
            tls_config(opts.ca_file.as_deref()).map_err(|detail| ClientError::Connect {
                url: url.to_string(),
                detail,
            })?;
        Some(tokio_tungstenite::Connector::Rustls(config))
    } else {
        None
    };
    lock(shared).log(
        Direction::Out,
        FrameKind::Event,
        &format!("GET {url} (WebSocket upgrade)"),
    );
    match timeout(
        bound,
        tokio_tungstenite::connect_async_tls_with_config(url, None, true, connector),
    )
    .await
    {
        Err(_) => Err(ClientError::timeout(
            format!("the WebSocket connection to {url}"),
            bound,
        )),
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(512)]).into_owned())
                .unwrap_or_default();
            lock(shared).log(
                Direction::In,
                FrameKind::Event,
                &format!("HTTP {status} {body}"),
            );
            Err(ClientError::Status {
                url: url.to_string(),
                status,
                body,
            })
        }
        Ok(Err(e)) => Err(ClientError::Connect {
            url: url.to_string(),
            detail: e.to_string(),
        }),
    }
}

/// `POST {url}/negotiate?negotiateVersion=1[&useStatefulReconnect=true]` over HTTP/1.1 (TLS
/// for https, with the webpki roots and the certificates of `ca_file`).
async fn negotiate(
    url: &str,
    opts: &ClientOptions,
    shared: &Mutex<Shared>,
) -> Result<NegotiateResponse, ClientError> {
    let bound = opts.connect_timeout;
    lock(shared).log(Direction::Out, FrameKind::Event, &format!("POST {url}"));
    let (status, body) = timeout(bound, http_post(url, opts.ca_file.as_deref()))
        .await
        .map_err(|_| ClientError::timeout(format!("the negotiate response from {url}"), bound))??;
    lock(shared).log(
        Direction::In,
        FrameKind::Event,
        &format!("HTTP {status} {body}"),
    );
    if status != 200 {
        return Err(ClientError::Status {
            url: url.to_string(),
            status,
            body,
        });
    }
    match NegotiateReply::parse(&body) {
        Ok(NegotiateReply::Negotiated(r)) if r.url.is_some() => Err(ClientError::protocol(
            "PRO-NEGOTIATE",
            format!(
                "negotiate redirects to {:?}; redirects are not supported",
                r.url
            ),
        )),
        Ok(NegotiateReply::Negotiated(r)) => Ok(r),
        Ok(NegotiateReply::Error(e)) => Err(ClientError::protocol(
            "PRO-NEGOTIATE",
            format!("negotiate answered an error: {e}"),
        )),
        Err(e) => Err(ClientError::protocol(
            "PRO-NEGOTIATE",
            format!("bad negotiate response ({e}): {body:?}"),
        )),
    }
}

async fn http_post(url: &str, ca_file: Option<&Path>) -> Result<(u16, String), ClientError> {
    use http_body_util::{BodyExt, Empty, Limited};
    use hyper::body::Bytes;
    let connect_err = |detail: String| ClientError::Connect {
        url: url.to_string(),
        detail,
    };
    let parsed = Url::parse(url).map_err(|e| connect_err(e.to_string()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| connect_err("no host".into()))?
        .to_string();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| connect_err("no port".into()))?;
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let path = &parsed[url::Position::BeforePath..];
    let request = http::Request::post(path)
        .header(http::header::HOST, format!("{host}:{port}"))
        .header(http::header::CONTENT_LENGTH, "0")
        .body(Empty::<Bytes>::new())
        .map_err(|e| connect_err(e.to_string()))?;
    async fn send<T>(io: T, request: http::Request<Empty<Bytes>>) -> Result<(u16, String), String>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(conn);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), NEGOTIATE_BODY_MAX)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        driver.abort();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
    let result = if parsed.scheme() == "https" {
        use tokio_rustls::rustls;
        let config = tls_config(ca_file).map_err(connect_err)?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| connect_err(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| connect_err(format!("TLS: {e}")))?;
        send(tls, request).await
    } else {
        send(tcp, request).await
    };
    result.map_err(connect_err)
}
