//! Frames → messages → state: what the reader task does with each WebSocket message.
//!
//! Frames go through the protocol's [`MessageReader`] (JSON records or length-prefixed
//! MessagePack messages); each complete message is routed by [`handle_message`]: a Completion to the waiting [`super::Client::invoke`], a `Receive`
//! invocation to the arrival-ordered queue, Close, Ack and Sequence to the connection's
//! state. What breaks the protocol becomes a [`super::Finding`] with a `PRO-` rule; the
//! reader never answers the server and never fails.
//!
//! Everything but [`read_loop`] is synchronous and works on a `&mut Shared`, so the unit
//! tests below feed it records and messages without a socket.
//!
//! One file at about 600 lines because more than half of it is those tests, kept next to
//! the routing they pin; the code itself is under 300 lines.

use super::state::{lock, Direction, Ending, FrameKind, Received, ResumePhase, Shared, Transport};
use super::WsStream;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use hubspec_wire::{HubMessage, HubProtocol, MessageReader, ProtocolError};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::{self, Message};

/// What the reader must do after one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Flow {
    /// A waiter may be able to go on (a message queued, a Sequence accepted).
    pub(super) wake: bool,
    /// Stop reading: the record reader is at its cap, or the socket failed.
    pub(super) stop: bool,
}

/// The reading half's own state: the message reader and how the socket has ended so far.
pub(super) struct Reader {
    records: MessageReader,
    /// How the socket ended, as far as the frames tell (a close frame, an error).
    ending: String,
    /// Why the reading stopped for good (the reader hit its cap, or a MessagePack length
    /// prefix could not be read), if it did.
    stopped: Option<(&'static str, String)>,
}

impl Reader {
    /// A reader that goes on from `records` (which may hold records that came with the
    /// handshake response).
    pub(super) fn new(records: MessageReader) -> Self {
        Reader {
            records,
            ending: "the server closed the socket".into(),
            stopped: None,
        }
    }

    /// Handles the records already buffered (those that came with the handshake response).
    pub(super) fn start(&mut self, s: &mut Shared) -> Flow {
        self.drain(s)
    }

    /// One item from the WebSocket stream.
    pub(super) fn frame(
        &mut self,
        s: &mut Shared,
        item: Result<Message, tungstenite::Error>,
    ) -> Flow {
        match item {
            Ok(Message::Text(t)) => {
                s.log(Direction::In, FrameKind::Text, t.as_str());
                s.heard();
                if self.records.protocol() == HubProtocol::MessagePack {
                    s.find(
                        "PRO-MSGPACK-FRAMING",
                        format!("a text frame on a MessagePack connection: {:?}", t.as_str()),
                    );
                }
                self.records.push(t.as_bytes());
                self.drain(s)
            }
            Ok(Message::Binary(b)) if self.records.protocol() == HubProtocol::MessagePack => {
                s.log(Direction::In, FrameKind::MessagePack, &msgpack_text(&b));
                s.heard();
                if let Some(wake) = self.past_a_bad_prefix(s, &b) {
                    return Flow { wake, stop: false };
                }
                self.records.push(&b);
                self.drain(s)
            }
            Ok(Message::Binary(b)) => {
                let text = String::from_utf8_lossy(&b).into_owned();
                s.log(Direction::In, FrameKind::Binary, &text);
                s.heard();
                s.find(
                    "PRO-TEXT-FRAMES",
                    format!("JSON hub protocol data in a binary frame: {text:?}"),
                );
                self.records.push(&b);
                self.drain(s)
            }
            Ok(Message::Close(f)) => {
                self.ending = match &f {
                    Some(f) => format!(
                        "the server closed the socket (close frame {} {:?})",
                        u16::from(f.code),
                        f.reason.as_str()
                    ),
                    None => "the server closed the socket (close frame)".into(),
                };
                log_control(s, &Message::Close(f));
                Flow::default()
            }
            Ok(other) => {
                log_control(s, &other);
                Flow::default()
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => Flow {
                wake: false,
                stop: true,
            },
            Err(e) => {
                self.ending = format!("the socket failed: {e}");
                Flow {
                    wake: false,
                    stop: true,
                }
            }
        }
    }

    /// A frame that starts a message with a length prefix no reader can end (a VarInt still
    /// continued at its fifth byte), when the rest of the frame is one whole hub message: read
    /// as that message, a `PRO-MSGPACK-FRAMING` finding, so the reading goes on (what follows
    /// an unreadable prefix can be found again only at a frame's start). `None` otherwise:
    /// the frame goes to the reader, which stops on the prefix as .NET closes.
    fn past_a_bad_prefix(&mut self, s: &mut Shared, frame: &[u8]) -> Option<bool> {
        const PREFIX_MAX: usize = 5;
        if self.records.pending_len() > 0 || frame.len() <= PREFIX_MAX {
            return None;
        }
        let e = hubspec_wire::msgpack::parse_length_prefix(frame).err()?;
        let message = HubMessage::parse_msgpack(&frame[PREFIX_MAX..]).ok()?;
        let shown = message.to_wire();
        let shown = shown.trim_end_matches('\u{1e}');
        s.find(
            "PRO-MSGPACK-FRAMING",
            format!(
                "a bad length prefix ({e}) in {}; the rest of the frame read as {shown:?}",
                hex(&frame[..PREFIX_MAX])
            ),
        );
        Some(handle_message(s, message, shown))
    }

    /// Handles every complete message. A message over the cap (or bytes that never reach a
    /// separator) or a bad MessagePack length prefix stops the reading for good, as .NET
    /// closes the connection.
    fn drain(&mut self, s: &mut Shared) -> Flow {
        let mut flow = Flow::default();
        let protocol = self.records.protocol();
        loop {
            match self.records.next_payload() {
                Ok(Some(payload)) if protocol == HubProtocol::MessagePack => {
                    flow.wake |= handle_msgpack(s, &payload);
                }
                Ok(Some(record)) => {
                    flow.wake |= handle_record(s, &String::from_utf8_lossy(&record));
                }
                Ok(None) => return flow,
                Err(ProtocolError::InvalidUtf8) => {
                    s.unreadable(
                        "PRO-WELL-FORMED",
                        "(bytes that are not UTF-8)",
                        "a record is not valid UTF-8; it was dropped".into(),
                    );
                }
                Err(ProtocolError::RecordTooLarge { limit }) => {
                    let (rule, what) = match protocol {
                        HubProtocol::Json => (
                            "PRO-WELL-FORMED",
                            "without a record separator (an unterminated or oversized record)",
                        ),
                        HubProtocol::MessagePack => {
                            ("PRO-MSGPACK-FRAMING", "in one MessagePack message")
                        }
                    };
                    s.find(
                        rule,
                        format!("more than {limit} bytes {what}; the harness stopped reading"),
                    );
                    self.stopped = Some((rule, format!("more than {limit} bytes {what}")));
                    return Flow {
                        wake: true,
                        stop: true,
                    };
                }
                Err(e @ ProtocolError::MessageOver2Gb) => {
                    // The length prefix is unreadable: nothing after it can be found again.
                    s.find(
                        "PRO-MSGPACK-FRAMING",
                        format!("a bad length prefix ({e}); the harness stopped reading"),
                    );
                    self.stopped = Some((
                        "PRO-MSGPACK-FRAMING",
                        format!("a bad MessagePack length prefix ({e})"),
                    ));
                    return Flow {
                        wake: true,
                        stop: true,
                    };
                }
                Err(e) => {
                    s.find("PRO-WELL-FORMED", e.to_string());
                    return flow;
                }
            }
        }
    }

    /// The socket ended (or the reading stopped): what the end means, as findings and as the
    /// connection's closed detail. An end we did not ask for without a Close message is
    /// `PRO-CLOSE`; one right after our unanswered Ping, or for a timeout, is `PRO-PING`.
    pub(super) fn finish(self, s: &mut Shared) {
        let mut ending = self.ending;
        if let Some((rule, why)) = self.stopped {
            ending = format!("the harness stopped reading: {why}");
            s.ending = Ending::ReaderFailed { rule };
        }
        s.log(Direction::In, FrameKind::Event, &ending);
        if s.transport != Transport::Open {
            // Dropped or shut down by us: the end is already accounted for.
            return;
        }
        if let Ending::NotYet { ping_unanswered } = s.ending {
            let timeout_close = s
                .server_close
                .as_ref()
                .and_then(|(e, _)| e.as_deref())
                .is_some_and(|e| {
                    let e = e.to_ascii_lowercase();
                    e.contains("timeout") || e.contains("timed out")
                });
            if ping_unanswered || timeout_close {
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
            _ if matches!(s.ending, Ending::ReaderFailed { .. }) => ending,
            Some((Some(e), _)) => format!("{ending} after a Close with error {e:?}"),
            Some((None, _)) => format!("{ending} after a Close"),
            None => format!("{ending} without a Close message"),
        };
        s.transport = Transport::Closed(detail);
        s.pending.clear();
    }
}

/// The reader task: every frame through [`Reader::frame`] until the socket ends or the
/// reading must stop, then [`Reader::finish`].
pub(super) async fn read_loop(
    mut stream: SplitStream<WsStream>,
    mut reader: Reader,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
) {
    let mut flow = reader.start(&mut lock(&shared));
    while !flow.stop {
        if flow.wake {
            notify.notify_one();
        }
        let Some(item) = stream.next().await else {
            break;
        };
        flow = reader.frame(&mut lock(&shared), item);
    }
    reader.finish(&mut lock(&shared));
    notify.notify_one();
}

/// Logs a WebSocket control frame (ping, pong, close); other messages are not control frames.
pub(super) fn log_control(s: &mut Shared, message: &Message) {
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
    s.log(Direction::In, kind, &text);
}

/// A MessagePack frame for the log: its messages as JSON records, or its bytes in hex when
/// they do not parse on their own (a message split over frames, or a malformed one).
fn msgpack_text(bytes: &[u8]) -> String {
    let mut reader = HubProtocol::MessagePack.reader(None);
    reader.push(bytes);
    let mut text = String::new();
    while let Ok(Some(payload)) = reader.next_payload() {
        match HubMessage::parse_msgpack(&payload) {
            Ok(m) => text.push_str(&m.to_wire()),
            Err(_) => return hex(bytes),
        }
    }
    if reader.pending_len() > 0 {
        return hex(bytes);
    }
    text
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::from("0x");
    for b in bytes.iter().take(1024) {
        text.push_str(&format!("{b:02x}"));
    }
    text
}

/// Routes one MessagePack message (without its length prefix), as [`handle_record`] does a
/// JSON record; one that does not parse is `PRO-MSGPACK-WELL-FORMED`.
pub(super) fn handle_msgpack(s: &mut Shared, payload: &[u8]) -> bool {
    match HubMessage::parse_msgpack(payload) {
        Ok(message) => {
            let shown = message.to_wire();
            handle_message(s, message, shown.trim_end_matches('\u{1e}'))
        }
        Err(e) => match headers_as_map(payload).and_then(|p| HubMessage::parse_msgpack(&p).ok()) {
            // Headers are optional (an empty map when there are none): an empty array in their
            // place hides nothing, so the message is read without them.
            Some(message) => {
                let shown = message.to_wire();
                let shown = shown.trim_end_matches('\u{1e}');
                s.find(
                    "PRO-MSGPACK-WELL-FORMED",
                    format!(
                        "a MessagePack message whose headers are an empty array, not a map ({e}): {}; read without headers as {shown:?}",
                        hex(payload)
                    ),
                );
                handle_message(s, message, shown)
            }
            None => {
                s.unreadable(
                    "PRO-MSGPACK-WELL-FORMED",
                    &hex(payload),
                    format!(
                        "a MessagePack message that is not a hub message ({e}): {}; it was dropped",
                        hex(payload)
                    ),
                );
                false
            }
        },
    }
}

/// `payload` with its headers read as an empty map, when they are an empty array: a message
/// array (`0x91`–`0x9f`), a message type (a positive fixint), then `0x90` where `0x80` belongs.
fn headers_as_map(payload: &[u8]) -> Option<Vec<u8>> {
    match payload {
        [0x91..=0x9f, 0x01..=0x7f, 0x90, ..] => {
            let mut fixed = payload.to_vec();
            fixed[2] = 0x80;
            Some(fixed)
        }
        _ => None,
    }
}

/// Routes one JSON record; returns whether a waiter should wake (a message was queued or the
/// server's Sequence was accepted).
pub(super) fn handle_record(s: &mut Shared, record: &str) -> bool {
    match HubMessage::parse(record) {
        Ok(message) => handle_message(s, message, record),
        Err(e) => match closed(record).and_then(|r| Some((HubMessage::parse(&r).ok()?, r))) {
            // Cut short but whole up to its end: read as far as it goes, so what it carried
            // still counts (the finding is the deviation, not the loss of the message).
            Some((message, repaired)) => {
                s.find(
                    "PRO-WELL-FORMED",
                    format!("a record cut short ({e}): {record:?}; read as {repaired:?}"),
                );
                handle_message(s, message, &repaired)
            }
            None => {
                s.unreadable(
                    "PRO-WELL-FORMED",
                    record,
                    format!("a record that is not a hub message ({e}): {record:?}; it was dropped"),
                );
                false
            }
        },
    }
}

/// A JSON text cut short after a complete value inside its objects and arrays, with the
/// closing brackets it lacks: `{"a":[1` becomes `{"a":[1]}`. `None` when nothing is open, or
/// the text ends inside a string, after a key or after a comma (what is missing there cannot
/// be known).
fn closed(text: &str) -> Option<String> {
    let mut open = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    let mut last = ' ';
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else {
            match c {
                '"' => in_string = true,
                '{' => open.push('}'),
                '[' => open.push(']'),
                '}' | ']' => {
                    open.pop()?;
                }
                _ => {}
            }
        }
        if !c.is_whitespace() {
            last = c;
        }
    }
    if in_string || open.is_empty() || matches!(last, ',' | ':') {
        return None;
    }
    Some(text.chars().chain(open.into_iter().rev()).collect())
}

/// Routes one parsed message (`record`: how findings show it); returns whether a waiter
/// should wake.
fn handle_message(s: &mut Shared, message: HubMessage, record: &str) -> bool {
    s.read_since_unread = true;
    let is_sequence = matches!(message, HubMessage::Sequence { .. });
    let mut resumed = false;
    if s.resume == ResumePhase::AwaitingFirst && !matches!(message, HubMessage::Ping) {
        s.resume = ResumePhase::AwaitingSequence;
        if !is_sequence {
            // The server replays without saying from where: taken to resume right after the
            // last message our Acks confirmed, the oldest it may still hold, so what it
            // replays is still read (and a replay we already had is still dropped).
            let from = s.last_ack_sent + 1;
            s.find(
                "PRO-SEQUENCE",
                format!(
                    "the first message after the resume is not a Sequence: {record:?}; read as if a Sequence {from} had come first"
                ),
            );
            if let Some(buffer) = s.buffer.as_mut() {
                if buffer
                    .receive(&HubMessage::Sequence { sequence_id: from })
                    .is_ok()
                {
                    s.resume = ResumePhase::Resumed;
                    resumed = true;
                }
            }
        }
    }
    if let Some(buffer) = s.buffer.as_mut() {
        match buffer.receive(&message) {
            Ok(true) => {}
            Ok(false) => {
                // Ack, Sequence, or a replay already seen: the buffer's, not the application's.
                if is_sequence && s.resume == ResumePhase::AwaitingSequence {
                    s.resume = ResumePhase::Resumed;
                    return true;
                }
                return resumed;
            }
            Err(e) => {
                // A Sequence past the next message this client expects is well-formed: it
                // says the server cannot replay what the client missed, so the messages are
                // lost on the resume (ASP.NET Core's client closes on it: "Sequence ID greater
                // than amount of messages we've received").
                let rule = if is_sequence {
                    "REC-RESUME-REPLAYS"
                } else {
                    "PRO-SEQUENCE"
                };
                s.find(rule, format!("{e}: {record:?}"));
                return resumed;
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
                // The invoker may have given up in the meantime; then nobody needs it.
                let _ = tx.send(result);
            }
            None if s.was_completed(&invocation_id) => {
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
                // Dropped at our cap: what the step then misses is this finding's doing.
                let cap = s.received_cap;
                s.unreadable(
                    "PRO-RESPONSIVE",
                    record,
                    format!(
                        "more than {cap} messages queued without being read; dropped {record:?}"
                    ),
                );
            } else {
                s.received.push_back(Received { target, arguments });
                return true;
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
    resumed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientOptions, Completion};
    use crate::error::ClientError;
    use hubspec_wire::MessageBuffer;
    use serde_json::json;
    use tokio::sync::oneshot;

    fn shared() -> Shared {
        Shared::new(&ClientOptions::new(
            "http://127.0.0.1:1/hub".parse().unwrap(),
        ))
    }

    /// A stateful connection that has just resumed: the buffer waits for the server's
    /// Sequence, as after [`MessageBuffer::resend`].
    fn resumed_stateful() -> Shared {
        let mut s = shared();
        s.buffer = Some(MessageBuffer::default());
        s.resumed();
        s.buffer.as_mut().unwrap().resend();
        s
    }

    fn rules(s: &mut Shared) -> Vec<&'static str> {
        s.take_findings().into_iter().map(|f| f.rule).collect()
    }

    fn text(record: &str) -> Result<Message, tungstenite::Error> {
        Ok(Message::text(format!("{record}\u{1e}")))
    }

    #[test]
    fn a_completion_goes_to_its_invocation_and_nothing_is_found() {
        let mut s = shared();
        let (tx, mut rx) = oneshot::channel::<Completion>();
        s.pending.insert("7".into(), tx);
        let wake = handle_record(&mut s, r#"{"type":3,"invocationId":"7","result":"ok"}"#);
        assert!(!wake, "the invoker waits on its own channel");
        assert_eq!(rx.try_recv().unwrap(), Completion::Result(json!("ok")));
        assert!(s.pending.is_empty());
        assert_eq!(rules(&mut s), Vec::<&str>::new());
    }

    #[test]
    fn a_second_completion_and_one_never_asked_for_are_pro_completion() {
        let mut s = shared();
        let (tx, _rx) = oneshot::channel::<Completion>();
        s.pending.insert("1".into(), tx);
        handle_record(&mut s, r#"{"type":3,"invocationId":"1"}"#);
        handle_record(&mut s, r#"{"type":3,"invocationId":"1"}"#);
        handle_record(&mut s, r#"{"type":3,"invocationId":"99"}"#);
        let findings = s.take_findings();
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert!(findings.iter().all(|f| f.rule == "PRO-COMPLETION"));
        assert!(
            findings[0].detail.contains("a second Completion"),
            "{findings:?}"
        );
        assert!(findings[1].detail.contains("never made"), "{findings:?}");
    }

    #[test]
    fn a_receive_invocation_is_queued_and_wakes_the_waiter() {
        let mut s = shared();
        let wake = handle_record(
            &mut s,
            r#"{"type":1,"target":"Receive","arguments":["m1"]}"#,
        );
        assert!(wake);
        let r = s.received.pop_front().expect("queued");
        assert_eq!(r.payload(), Some("m1"));
        assert_eq!(rules(&mut s), Vec::<&str>::new());
    }

    #[test]
    fn a_full_receive_queue_drops_the_message_as_pro_responsive() {
        let mut s = shared();
        s.received_cap = 1;
        let record = r#"{"type":1,"target":"Receive","arguments":["m"]}"#;
        assert!(handle_record(&mut s, record));
        assert!(!handle_record(&mut s, record));
        assert_eq!(s.received.len(), 1);
        assert_eq!(rules(&mut s), vec!["PRO-RESPONSIVE"]);
    }

    #[test]
    fn a_ping_and_an_unknown_message_type_are_ignored() {
        let mut s = shared();
        assert!(!handle_record(&mut s, r#"{"type":6}"#));
        assert!(!handle_record(&mut s, r#"{"type":99,"future":true}"#));
        assert_eq!(rules(&mut s), Vec::<&str>::new());
        assert!(s.received.is_empty());
        assert_eq!(s.transport, Transport::Open);
    }

    #[test]
    fn a_record_that_is_not_a_hub_message_is_pro_well_formed() {
        let mut s = shared();
        assert!(!handle_record(&mut s, r#"{"type":"#));
        assert!(!handle_record(&mut s, r#"{"type":1,"target":5}"#));
        assert_eq!(rules(&mut s), vec!["PRO-WELL-FORMED", "PRO-WELL-FORMED"]);
    }

    #[test]
    fn a_record_cut_short_is_read_as_far_as_it_goes() {
        let mut s = shared();
        let cut = r#"{"type":1,"target":"Receive","arguments":["m"]"#;
        assert!(handle_record(&mut s, cut), "its message still counts");
        assert_eq!(s.received.pop_front().unwrap().payload(), Some("m"));
        let findings = s.take_findings();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].rule, "PRO-WELL-FORMED");
        assert!(findings[0].detail.contains("cut short"), "{findings:?}");
        assert_eq!(s.unread_count, 0, "nothing was lost");
    }

    #[test]
    fn only_a_text_cut_after_a_whole_value_is_closed() {
        assert_eq!(
            closed(r#"{"a":[1,{"b":"}"}"#).as_deref(),
            Some(r#"{"a":[1,{"b":"}"}]}"#)
        );
        assert_eq!(
            closed(r#"{"a":"x\"y""#).as_deref(),
            Some(r#"{"a":"x\"y"}"#),
            "an escaped quote does not end the string"
        );
        assert_eq!(closed(r#"{"a":"open"#), None, "inside a string");
        assert_eq!(closed(r#"{"a":1,"#), None, "after a comma");
        assert_eq!(closed(r#"{"a":"#), None, "after a key");
        assert_eq!(closed(r#"{"a":1}"#), None, "nothing open");
        assert_eq!(closed(r#"]"a":1}"#), None, "closes what is not open");
    }

    #[test]
    fn an_unreadable_record_is_dropped_and_remembered_for_what_waited_on_it() {
        let mut s = shared();
        assert!(!handle_record(&mut s, "\u{1}<html>"));
        assert_eq!(s.unread_count, 1);
        let unread = s.unread_since(0).expect("what came instead");
        assert_eq!(unread.rule, "PRO-WELL-FORMED");
        assert_eq!(unread.excerpt, r#""\u{1}<html>""#);
        // A readable message since, and nothing unreadable after the wait began: not blamed.
        handle_record(&mut s, r#"{"type":6}"#);
        assert!(s.unread_since(1).is_none());
        let long = "x".repeat(500);
        assert!(!handle_record(&mut s, &long));
        let excerpt = &s.unread_since(1).unwrap().excerpt;
        assert!(excerpt.len() < 100 && excerpt.ends_with("…\""), "{excerpt}");
    }

    #[test]
    fn messagepack_headers_sent_as_an_empty_array_are_read_as_none() {
        let mut s = shared();
        let receive = HubMessage::invocation(None, "Receive", vec![json!("m")]);
        let mut bytes = HubProtocol::MessagePack.encode(&receive);
        let (prefix, _) = hubspec_wire::msgpack::parse_length_prefix(&bytes)
            .unwrap()
            .unwrap();
        assert_eq!(bytes[prefix + 2], 0x80, "an empty headers map");
        bytes[prefix + 2] = 0x90;
        assert!(handle_msgpack(&mut s, &bytes[prefix..]));
        assert_eq!(s.received.pop_front().unwrap().payload(), Some("m"));
        assert_eq!(rules(&mut s), vec!["PRO-MSGPACK-WELL-FORMED"]);
        assert_eq!(s.unread_count, 0);
    }

    #[test]
    fn a_frame_whose_length_prefix_never_ends_is_read_as_the_message_after_it() {
        let mut s = shared();
        let mut reader = Reader::new(HubProtocol::MessagePack.reader(Some(1024)));
        let receive = HubMessage::invocation(None, "Receive", vec![json!("m")]);
        let bytes = HubProtocol::MessagePack.encode(&receive);
        let (prefix, _) = hubspec_wire::msgpack::parse_length_prefix(&bytes)
            .unwrap()
            .unwrap();
        let mut bad = vec![0x80; 5];
        bad.extend_from_slice(&bytes[prefix..]);
        let flow = reader.frame(&mut s, Ok(Message::binary(bad)));
        assert_eq!(
            flow,
            Flow {
                wake: true,
                stop: false
            }
        );
        assert_eq!(s.received.pop_front().unwrap().payload(), Some("m"));
        assert_eq!(rules(&mut s), vec!["PRO-MSGPACK-FRAMING"]);
        // The next frame is read as usual.
        assert!(reader.frame(&mut s, packed(&receive)).wake);
        assert_eq!(rules(&mut s), Vec::<&str>::new());
    }

    #[test]
    fn a_close_without_error_then_the_socket_end_is_a_clean_end() {
        let mut s = shared();
        let mut reader = Reader::new(HubProtocol::Json.reader(None));
        let flow = reader.frame(&mut s, text(r#"{"type":7}"#));
        assert_eq!(flow, Flow::default());
        assert_eq!(s.server_close, Some((None, false)));
        reader.finish(&mut s);
        assert_eq!(rules(&mut s), Vec::<&str>::new());
        assert_eq!(
            s.closed_error(),
            Some(ClientError::Closed {
                detail: "the server closed the socket after a Close".into()
            })
        );
    }

    #[test]
    fn a_close_with_a_timeout_error_is_pro_ping_and_its_error_is_kept() {
        let mut s = shared();
        let mut reader = Reader::new(HubProtocol::Json.reader(None));
        reader.frame(
            &mut s,
            text(r#"{"type":7,"error":"Server timeout elapsed","allowReconnect":true}"#),
        );
        assert_eq!(
            s.server_close,
            Some((Some("Server timeout elapsed".into()), true))
        );
        reader.finish(&mut s);
        assert_eq!(rules(&mut s), vec!["PRO-PING"]);
        let Some(ClientError::Closed { detail }) = s.closed_error() else {
            panic!("closed");
        };
        assert!(
            detail.contains("after a Close with error \"Server timeout elapsed\""),
            "{detail}"
        );
    }

    #[test]
    fn a_socket_end_without_a_close_is_pro_close_and_pro_ping_after_our_ping() {
        let mut s = shared();
        s.ping_sent();
        Reader::new(HubProtocol::Json.reader(None)).finish(&mut s);
        assert_eq!(rules(&mut s), vec!["PRO-PING", "PRO-CLOSE"]);
        assert!(s.pending.is_empty());

        // Traffic after the Ping answers it: only the missing Close is a finding.
        let mut s = shared();
        s.ping_sent();
        let mut reader = Reader::new(HubProtocol::Json.reader(None));
        reader.frame(&mut s, text(r#"{"type":6}"#));
        reader.finish(&mut s);
        assert_eq!(rules(&mut s), vec!["PRO-CLOSE"]);
    }

    #[test]
    fn the_end_of_a_socket_we_closed_is_no_finding() {
        let mut s = shared();
        s.ping_sent();
        s.closing_by_us();
        Reader::new(HubProtocol::Json.reader(None)).finish(&mut s);
        assert_eq!(rules(&mut s), Vec::<&str>::new());
        assert!(matches!(s.closed_error(), Some(ClientError::Closed { .. })));
    }

    #[test]
    fn an_oversize_record_stops_the_reading_as_pro_well_formed() {
        let mut s = shared();
        let mut reader = Reader::new(HubProtocol::Json.reader(Some(16)));
        let flow = reader.frame(&mut s, Ok(Message::text("x".repeat(64))));
        assert_eq!(
            flow,
            Flow {
                wake: true,
                stop: true
            }
        );
        reader.finish(&mut s);
        assert_eq!(
            s.ending,
            Ending::ReaderFailed {
                rule: "PRO-WELL-FORMED"
            }
        );
        // Our Close after the failure does not turn the target's fault into our close.
        s.closing_by_us();
        assert_eq!(
            s.ending,
            Ending::ReaderFailed {
                rule: "PRO-WELL-FORMED"
            }
        );
        let findings = s.take_findings();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].rule, "PRO-WELL-FORMED");
        assert!(findings[0].detail.contains("without a record separator"));
        let Some(ClientError::Protocol { rule, detail }) = s.closed_error() else {
            panic!("the connection's error is the target's fault");
        };
        assert_eq!(rule, "PRO-WELL-FORMED");
        assert!(detail.contains("more than 16 bytes"), "{detail}");
    }

    #[test]
    fn a_binary_frame_is_pro_text_frames_and_its_records_still_count() {
        let mut s = shared();
        let mut reader = Reader::new(HubProtocol::Json.reader(None));
        let record = "{\"type\":1,\"target\":\"Receive\",\"arguments\":[\"b\"]}\u{1e}";
        let flow = reader.frame(&mut s, Ok(Message::binary(record.as_bytes().to_vec())));
        assert!(flow.wake && !flow.stop);
        assert_eq!(rules(&mut s), vec!["PRO-TEXT-FRAMES"]);
        assert_eq!(s.received.pop_front().unwrap().payload(), Some("b"));
    }

    #[test]
    fn records_that_came_with_the_handshake_are_handled_first() {
        let mut s = shared();
        let mut records = HubProtocol::Json.reader(None);
        records.push("{\"type\":1,\"target\":\"Receive\",\"arguments\":[\"early\"]}\u{1e}");
        let flow = Reader::new(records).start(&mut s);
        assert!(flow.wake);
        assert_eq!(s.received.pop_front().unwrap().payload(), Some("early"));
    }

    #[test]
    fn an_expected_sequence_completes_the_resume() {
        let mut s = resumed_stateful();
        assert_eq!(s.resume, ResumePhase::AwaitingFirst);
        // A Ping before the Sequence is fine.
        assert!(!handle_record(&mut s, r#"{"type":6}"#));
        assert_eq!(s.resume, ResumePhase::AwaitingFirst);
        assert!(handle_record(&mut s, r#"{"type":9,"sequenceId":1}"#));
        assert_eq!(s.resume, ResumePhase::Resumed);
        assert_eq!(rules(&mut s), Vec::<&str>::new());
        // After it, messages reach the application again.
        assert!(handle_record(
            &mut s,
            r#"{"type":1,"target":"Receive","arguments":["m"]}"#
        ));
    }

    #[test]
    fn a_first_message_after_a_resume_that_is_not_a_sequence_is_pro_sequence_and_still_read() {
        let mut s = resumed_stateful();
        let m = |n: u8| format!(r#"{{"type":1,"target":"Receive","arguments":["m{n}"]}}"#);
        // Before the drop: m1 and m2 read, and our Acks confirmed m1 only.
        s.resume = ResumePhase::Idle;
        s.buffer = Some(MessageBuffer::default());
        assert!(handle_record(&mut s, &m(1)) && handle_record(&mut s, &m(2)));
        s.last_ack_sent = 1;
        s.resumed();
        s.buffer.as_mut().unwrap().resend();
        s.received.clear();
        // The server replays m2 and m3 without a Sequence: read as if Sequence 2 came first,
        // so m2 is a replay we had and m3 is new.
        let wake = handle_record(&mut s, &m(2));
        assert!(wake, "the resume is complete: its waiter wakes");
        assert_eq!(s.resume, ResumePhase::Resumed);
        assert!(handle_record(&mut s, &m(3)));
        let got: Vec<_> = s
            .received
            .drain(..)
            .map(|r| r.payload().map(String::from))
            .collect();
        assert_eq!(got, vec![Some("m3".to_string())]);
        let findings = s.take_findings();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].rule, "PRO-SEQUENCE");
        assert!(
            findings[0].detail.contains("as if a Sequence 2"),
            "{findings:?}"
        );
        // A Sequence that comes later anyway is no second finding.
        handle_record(&mut s, r#"{"type":9,"sequenceId":4}"#);
        assert_eq!(rules(&mut s), Vec::<&str>::new());
    }

    #[test]
    fn a_sequence_past_the_next_expected_id_loses_the_replay() {
        let mut s = resumed_stateful();
        assert!(!handle_record(&mut s, r#"{"type":9,"sequenceId":5}"#));
        assert_eq!(rules(&mut s), vec!["REC-RESUME-REPLAYS"]);
        assert_ne!(s.resume, ResumePhase::Resumed);
    }

    #[test]
    fn a_sequence_when_none_is_expected_is_no_finding_and_no_resume() {
        // Without stateful reconnect a Sequence is ignored as an unknown message is.
        let mut s = shared();
        assert!(!handle_record(&mut s, r#"{"type":9,"sequenceId":1}"#));
        assert_eq!(s.resume, ResumePhase::Idle);
        assert_eq!(rules(&mut s), Vec::<&str>::new());
        // On a fresh stateful connection the buffer takes it; nothing was resumed.
        let mut s = shared();
        s.buffer = Some(MessageBuffer::default());
        assert!(!handle_record(&mut s, r#"{"type":9,"sequenceId":1}"#));
        assert_eq!(s.resume, ResumePhase::Idle);
        assert_eq!(rules(&mut s), Vec::<&str>::new());
    }

    #[test]
    fn a_stream_error_ends_the_reading_and_says_so() {
        let mut s = shared();
        let mut reader = Reader::new(HubProtocol::Json.reader(None));
        let flow = reader.frame(
            &mut s,
            Err(tungstenite::Error::Io(std::io::Error::other("reset"))),
        );
        assert!(flow.stop);
        reader.finish(&mut s);
        let Some(ClientError::Closed { detail }) = s.closed_error() else {
            panic!("closed");
        };
        assert!(
            detail.starts_with("the socket failed: IO error: reset"),
            "{detail}"
        );
    }

    fn packed(message: &HubMessage) -> Result<Message, tungstenite::Error> {
        Ok(Message::binary(HubProtocol::MessagePack.encode(message)))
    }

    #[test]
    fn messagepack_messages_are_routed_and_logged_as_json() {
        let mut s = shared();
        let mut reader = Reader::new(HubProtocol::MessagePack.reader(Some(1024)));
        let receive = HubMessage::invocation(None, "Receive", vec![json!("m")]);
        let mut both = HubProtocol::MessagePack.encode(&receive);
        both.extend(HubProtocol::MessagePack.encode(&HubMessage::Ping));
        // One message split over two frames, then two in one.
        let (head, tail) = both.split_at(3);
        assert!(
            !reader
                .frame(&mut s, Ok(Message::binary(head.to_vec())))
                .wake
        );
        assert!(
            reader
                .frame(&mut s, Ok(Message::binary(tail.to_vec())))
                .wake
        );
        assert_eq!(s.received.pop_front().unwrap().payload(), Some("m"));
        assert!(reader.frame(&mut s, packed(&receive)).wake);
        assert_eq!(s.received.pop_front().unwrap().payload(), Some("m"));
        assert_eq!(rules(&mut s), Vec::<&str>::new());
        let frames = s.frames();
        assert_eq!(frames[0].kind, FrameKind::MessagePack);
        assert!(frames[0].text.starts_with("0x"), "a partial message in hex");
        assert_eq!(
            frames[2].to_string(),
            "client <- msgpack {\"type\":1,\"target\":\"Receive\",\"arguments\":[\"m\"]}\\x1e"
        );
    }

    #[test]
    fn malformed_messagepack_is_a_msgpack_finding_and_a_bad_prefix_stops_the_reading() {
        let mut s = shared();
        let mut reader = Reader::new(HubProtocol::MessagePack.reader(Some(1024)));
        // Headers that are an array: read without them, and the reading goes on.
        let bad = hubspec_wire::msgpack::frame(&[0x96, 0x01, 0x90, 0xc0, 0xa1, b'R', 0x90, 0x90]);
        assert!(!reader.frame(&mut s, Ok(Message::binary(bad))).stop);
        assert_eq!(rules(&mut s), vec!["PRO-MSGPACK-WELL-FORMED"]);
        let flow = reader.frame(&mut s, Ok(Message::binary(vec![0x80; 6])));
        assert!(flow.stop);
        assert_eq!(rules(&mut s), vec!["PRO-MSGPACK-FRAMING"]);
        reader.finish(&mut s);
        assert!(matches!(s.transport, Transport::Closed(_)));
        let mut s = shared();
        let mut reader = Reader::new(HubProtocol::MessagePack.reader(Some(16)));
        let big = HubMessage::invocation(None, "Receive", vec![json!("x".repeat(32))]);
        assert!(reader.frame(&mut s, packed(&big)).stop);
        assert_eq!(rules(&mut s), vec!["PRO-MSGPACK-FRAMING"]);
        // A text frame on a MessagePack connection (JSON, as a server that ignored the
        // handshake's protocol would send).
        let mut reader = Reader::new(HubProtocol::MessagePack.reader(Some(1024)));
        assert!(!reader.frame(&mut s, text(r#"{"type":6}"#)).stop);
        assert_eq!(rules(&mut s), vec!["PRO-MSGPACK-FRAMING"]);
    }
}
