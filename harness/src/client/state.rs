//! What one connection knows, shared by the API and the reader task: the frame log, the
//! findings, the invocations in flight, the receive queue, and the two small state machines
//! that decide what the end of the socket means ([`Ending`]) and whether a resume is complete
//! ([`ResumePhase`]).
//!
//! It lives behind one `std::sync::Mutex` that is never held across an `.await`, so every
//! method here is plain synchronous code that the unit tests drive without a socket.

use super::{ClientOptions, Completion};
use crate::error::ClientError;
use hubspec_wire::{HubProtocol, MessageBuffer};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// The longest text kept per logged frame; the rest is cut (and says so).
const FRAME_TEXT_MAX: usize = 2048;
/// The most findings one connection keeps; later ones are counted only.
const FINDINGS_MAX: usize = 64;
/// How many answered invocation ids are remembered to tell a duplicate Completion from one
/// for an invocation never made.
const COMPLETED_MAX: usize = 4096;

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
    /// A binary frame of the MessagePack protocol, shown as its messages in JSON (or in hex
    /// when they do not parse on their own).
    MessagePack,
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
            FrameKind::MessagePack => "msgpack",
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

/// A message the reader had to drop because it could not be read (a record that is not a hub
/// message and could not be repaired, bytes that are not UTF-8, MessagePack that is not a hub
/// message): what arrived instead of it, for the finding a lost message or a missing
/// Completion is then blamed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unread {
    /// The rule the unreadable message breaks (`PRO-WELL-FORMED`, `PRO-MSGPACK-WELL-FORMED`).
    pub rule: &'static str,
    /// Its first bytes, escaped and cut at [`UNREAD_EXCERPT_MAX`] characters.
    pub excerpt: String,
}

/// The most characters of an unreadable message an [`Unread`] keeps.
pub const UNREAD_EXCERPT_MAX: usize = 80;

impl Unread {
    /// An unreadable message breaking `rule`, whose text (or hex) is `text`.
    pub(super) fn new(rule: &'static str, text: &str) -> Self {
        let mut excerpt: String = text.chars().take(UNREAD_EXCERPT_MAX).collect();
        if excerpt.len() < text.len() {
            excerpt.push('…');
        }
        Unread {
            rule,
            excerpt: format!("{excerpt:?}"),
        }
    }
}

/// Whether the transport is up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Transport {
    Open,
    /// Dropped on purpose; [`super::Client::resume`] may bring it back.
    Suspended,
    /// Ended; the detail says how.
    Closed(String),
}

/// Who is ending the connection, which decides whether the socket's end is a finding.
///
/// One enum rather than three flags, because only these combinations exist: once we close
/// (or the reader gives up) whether a Ping went unanswered no longer matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// Nobody yet: an end now is the server's doing. `ping_unanswered`: we sent a Ping and
    /// nothing has arrived since, so an end now is the server's timeout firing although we
    /// kept pinging (`PRO-PING`).
    NotYet { ping_unanswered: bool },
    /// We sent a Close ([`super::Client::close`]): the server's end is the expected answer.
    ByUs,
    /// The reader hit [`ClientOptions::max_record_bytes`] (or an unreadable MessagePack length
    /// prefix) and reading stopped: the end is ours, but the fault is the target's.
    ReaderFailed {
        /// The rule the target broke: `PRO-WELL-FORMED` (a JSON record over the cap) or
        /// `PRO-MSGPACK-FRAMING` (a MessagePack message over it, or an unreadable prefix).
        rule: &'static str,
    },
}

/// Where a stateful resume stands ([`super::Client::resume`]).
///
/// One enum rather than two flags ("expect a Sequence", "saw a Sequence"), because a
/// Sequence that is still expected cannot have been seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ResumePhase {
    /// No resume is waiting: a fresh connection, or one without stateful reconnect.
    Idle,
    /// Resumed; the next hub message (Pings aside) must be the server's Sequence.
    AwaitingFirst,
    /// Resumed; a first message came (a `PRO-SEQUENCE` finding if it was not a Sequence) and
    /// the server's Sequence has not been accepted yet.
    AwaitingSequence,
    /// The server's Sequence was accepted: the resume is complete.
    Resumed,
}

/// Everything one connection knows, behind the client's one mutex: written by the reader
/// task (records, the socket's end) and by the API (pending invocations, resume, close).
pub(super) struct Shared {
    label: String,
    frames: VecDeque<RawFrame>,
    frame_cap: usize,
    pub(super) pending: HashMap<String, oneshot::Sender<Completion>>,
    /// Ids answered (or given up on) recently: a second Completion for one is a duplicate.
    completed: VecDeque<String>,
    pub(super) received: VecDeque<Received>,
    pub(super) received_cap: usize,
    findings: Vec<Finding>,
    findings_dropped: usize,
    /// The last message dropped as unreadable, and how many were dropped since the connection
    /// opened: a session compares the count step by step, an invocation before and after it
    /// waits (see [`Unread`]).
    pub(super) unread: Option<Unread>,
    pub(super) unread_count: u64,
    /// Whether a message was read after the last unreadable one.
    pub(super) read_since_unread: bool,
    pub(super) transport: Transport,
    /// The server's Close message, if it sent one: (error, allowReconnect).
    pub(super) server_close: Option<(Option<String>, bool)>,
    pub(super) ending: Ending,
    /// The stateful reconnect buffer, when stateful reconnect is in use.
    pub(super) buffer: Option<MessageBuffer>,
    pub(super) resume: ResumePhase,
    /// The highest sequence id our Acks have stated (0: none yet): where a server that
    /// replays without a Sequence is taken to resume from (see `inbound::handle_message`).
    pub(super) last_ack_sent: i64,
    /// The hub protocol asked for in the handshake.
    pub(super) protocol: HubProtocol,
}

impl Shared {
    /// The state of a connection about to dial, with the caps of `opts`.
    pub(super) fn new(opts: &ClientOptions) -> Self {
        Shared {
            label: opts.label.clone(),
            frames: VecDeque::new(),
            frame_cap: opts.frame_log_capacity.max(8),
            pending: HashMap::new(),
            completed: VecDeque::new(),
            received: VecDeque::new(),
            received_cap: opts.queue_capacity.max(16),
            findings: Vec::new(),
            findings_dropped: 0,
            unread: None,
            unread_count: 0,
            read_since_unread: true,
            transport: Transport::Open,
            server_close: None,
            ending: Ending::NotYet {
                ping_unanswered: false,
            },
            buffer: None,
            resume: ResumePhase::Idle,
            last_ack_sent: 0,
            protocol: opts.protocol,
        }
    }

    /// Keeps one frame in the bounded log (the oldest goes first), cut at 2 KiB.
    pub(super) fn log(&mut self, dir: Direction, kind: FrameKind, text: &str) {
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

    /// The frame log, oldest first.
    pub(super) fn frames(&self) -> Vec<RawFrame> {
        self.frames.iter().cloned().collect()
    }

    /// Records a finding; past [`FINDINGS_MAX`] it is only counted.
    pub(super) fn find(&mut self, rule: &'static str, detail: impl Into<String>) {
        if self.findings.len() < FINDINGS_MAX {
            self.findings.push(Finding {
                rule,
                detail: detail.into(),
            });
        } else {
            self.findings_dropped += 1;
        }
    }

    /// A message is dropped (it could not be read, or the receive queue is full): a finding of
    /// `rule`, and remembered as what arrived instead of what was awaited.
    pub(super) fn unreadable(&mut self, rule: &'static str, text: &str, detail: String) {
        self.find(rule, detail);
        self.unread = Some(Unread::new(rule, text));
        self.unread_count += 1;
        self.read_since_unread = false;
    }

    /// Why a wait that began when [`Shared::unread_count`] was `before` got nothing: an
    /// unreadable message came since, or is the last thing the server sent. `None` when
    /// everything that came was read.
    pub(super) fn unread_since(&self, before: u64) -> Option<&Unread> {
        let blame = self.unread_count > before || !self.read_since_unread;
        self.unread.as_ref().filter(|_| blame)
    }

    /// The findings so far, emptying the list; findings over the cap are summed up in one.
    pub(super) fn take_findings(&mut self) -> Vec<Finding> {
        let mut out: Vec<Finding> = self.findings.drain(..).collect();
        if self.findings_dropped > 0 {
            out.push(Finding {
                rule: "PRO-WELL-FORMED",
                detail: format!("… and {} more findings", self.findings_dropped),
            });
            self.findings_dropped = 0;
        }
        out
    }

    /// The error of a closed connection: a reader that stopped for good is the target's fault
    /// (the rule it recorded), any other end is `Closed`.
    pub(super) fn closed_error(&self) -> Option<ClientError> {
        match (&self.transport, self.ending) {
            (Transport::Closed(detail), Ending::ReaderFailed { rule }) => {
                Some(ClientError::protocol(rule, detail.clone()))
            }
            (Transport::Closed(detail), _) => Some(ClientError::Closed {
                detail: detail.clone(),
            }),
            _ => None,
        }
    }

    /// Remembers an answered (or abandoned) invocation id, so that a second Completion for
    /// it reads as a duplicate, not as one for an invocation never made.
    pub(super) fn remember_completed(&mut self, id: String) {
        if self.completed.len() >= COMPLETED_MAX {
            self.completed.pop_front();
        }
        self.completed.push_back(id);
    }

    /// Whether `id` was answered (or abandoned) recently.
    pub(super) fn was_completed(&self, id: &str) -> bool {
        self.completed.iter().any(|c| c == id)
    }

    /// We sent a Ping: until something arrives, an end is suspicious.
    pub(super) fn ping_sent(&mut self) {
        if let Ending::NotYet { .. } = self.ending {
            self.ending = Ending::NotYet {
                ping_unanswered: true,
            };
        }
    }

    /// Something arrived from the server: our last Ping is answered by traffic.
    pub(super) fn heard(&mut self) {
        if let Ending::NotYet { .. } = self.ending {
            self.ending = Ending::NotYet {
                ping_unanswered: false,
            };
        }
    }

    /// We are sending a Close. A reader that already failed keeps its verdict: the target's
    /// fault does not become our close.
    pub(super) fn closing_by_us(&mut self) {
        if let Ending::NotYet { .. } = self.ending {
            self.ending = Ending::ByUs;
        }
    }

    /// A new socket after a drop: nobody is ending it, and with stateful reconnect the
    /// server's Sequence must come first.
    pub(super) fn resumed(&mut self) {
        self.transport = Transport::Open;
        self.server_close = None;
        self.ending = Ending::NotYet {
            ping_unanswered: false,
        };
        self.resume = if self.buffer.is_some() {
            ResumePhase::AwaitingFirst
        } else {
            ResumePhase::Idle
        };
    }
}

/// Locks the shared state.
pub(super) fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A panic while holding the lock is a bug of ours; the data is still usable for a report.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}
