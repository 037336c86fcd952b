//! The fuzz targets: every parser of `hubspec-wire` that a peer's bytes reach, each a plain
//! `fn(&[u8])` that must not panic, hang or allocate without bound, whatever the bytes.
//!
//! Shared by the stable-Rust run in `cargo test` (`wire/tests/fuzz/main.rs`: the committed
//! corpus plus seeded mutations) and by the coverage-guided cargo-fuzz targets in `fuzz/`,
//! which include this file by path; so it uses nothing but `hubspec-wire` and std.
//!
//! Besides "no panic", each target asserts what must hold of what it read: a record or frame
//! reader returns the same records however the bytes are cut into chunks, and none longer than
//! its limit; a message we parsed, written again, parses again and then stays the same (our
//! writer and our reader agree); the stateful-reconnect buffer takes any sequence of parsed messages.

use hubspec_wire::classic::negotiate::{
    parse_response_word, NegotiateResponse as ClassicNegotiate,
};
use hubspec_wire::classic::query::{parse_connection_data, send_form_data};
use hubspec_wire::classic::{
    ClassicQuery, ConnectionToken, GroupsToken, HubInvocation, HubResponse, ProtocolVersion,
    ReplayBuffer, RequestKind, ServerFrame, ServerHubMessage, Transport,
};
use hubspec_wire::negotiate::{percent_decode, NegotiateReply, Query};
use hubspec_wire::{
    FrameReader, HandshakeRequest, HandshakeResponse, HubMessage, HubProtocol, MessageBuffer,
    RecordReader,
};

/// A fuzz target.
pub type Target = fn(&[u8]);

/// Every target by name, as the corpus directories and the cargo-fuzz targets are named.
pub const TARGETS: &[(&str, Target)] = &[
    ("json_records", json_records),
    ("msgpack", msgpack),
    ("handshake", handshake),
    ("negotiate", negotiate),
    ("classic_envelope", classic_envelope),
    ("classic_query", classic_query),
];

/// The limit the readers run with here: small, so that the oversize paths are reached by
/// inputs of a fuzzer's size.
const LIMIT: usize = 4096;

/// Where a second reader cuts the same bytes into two chunks.
fn cut(data: &[u8]) -> usize {
    data.len() * 7 / 13
}

/// A text a peer sends: HTTP and WebSocket text arrive as UTF-8, and what is not is replaced.
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Records separated by 0x1E (JSON hub protocol): the reader, each record parsed as a hub
/// message, and the parsed messages fed to a stateful-reconnect buffer.
pub fn json_records(data: &[u8]) {
    let whole = records(&[data]);
    let (a, b) = data.split_at(cut(data));
    assert_eq!(whole, records(&[a, b]), "the chunks changed the records");
    let mut buffer = MessageBuffer::new(LIMIT);
    for record in whole.0.iter().flatten() {
        assert!(record.len() < LIMIT, "a record over the limit");
        if let Ok(message) = HubMessage::parse(record) {
            settles(&message, json_write, json_parse);
            let _ = buffer.receive(&message);
            let _ = buffer.write(&message);
            let _ = buffer.ack_due();
        }
    }
    let _ = buffer.resend();
}

/// Our writer and our reader agree on `message`: written, it parses again, and from then on
/// writing and reading change nothing. (Only the first write may normalise, as .NET's writers
/// do: an empty Close error goes out as none, `string.IsNullOrEmpty`.)
fn settles(
    message: &HubMessage,
    write: fn(&HubMessage) -> Vec<u8>,
    parse: fn(&[u8]) -> hubspec_wire::Result<HubMessage>,
) {
    let once = parse(&write(message));
    let once = once.unwrap_or_else(|e| panic!("{message:?} written does not parse: {e}"));
    let twice = parse(&write(&once));
    assert_eq!(
        twice.as_ref().ok(),
        Some(&once),
        "{message:?} does not settle"
    );
}

fn json_write(message: &HubMessage) -> Vec<u8> {
    message.to_json().into_bytes()
}

fn json_parse(bytes: &[u8]) -> hubspec_wire::Result<HubMessage> {
    HubMessage::parse(std::str::from_utf8(bytes).expect("we write UTF-8"))
}

/// What a [`RecordReader`] returns for `chunks`: each record (or a record's invalid UTF-8),
/// then the error that stopped it, if any.
fn records(chunks: &[&[u8]]) -> (Vec<Result<String, String>>, Option<String>) {
    let mut reader = RecordReader::with_max_record_size(LIMIT);
    let mut out = Vec::new();
    for chunk in chunks {
        reader.push(chunk);
        loop {
            match reader.next_record() {
                Ok(Some(record)) => out.push(Ok(record)),
                Ok(None) => break,
                Err(hubspec_wire::ProtocolError::InvalidUtf8) => out.push(Err("utf-8".into())),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    (out, None)
}

/// Length-prefixed MessagePack messages: the frame reader, each message parsed, written again
/// and parsed again; the same bytes through [`HubProtocol::MessagePack`]'s reader.
pub fn msgpack(data: &[u8]) {
    let whole = frames(&[data]);
    let (a, b) = data.split_at(cut(data));
    assert_eq!(whole, frames(&[a, b]), "the chunks changed the messages");
    let mut buffer = MessageBuffer::new(LIMIT);
    for payload in &whole.0 {
        assert!(payload.len() < LIMIT, "a message over the limit");
        if let Ok(message) = HubMessage::parse_msgpack(payload) {
            settles(&message, HubMessage::to_msgpack, HubMessage::parse_msgpack);
            let _ = buffer.receive(&message);
        }
    }
    // A single message too, without a length prefix, as a fuzzer finds most of them.
    if let Ok(message) = HubMessage::parse_msgpack(data) {
        settles(&message, HubMessage::to_msgpack, HubMessage::parse_msgpack);
    }
    let mut reader = HubProtocol::MessagePack.reader(Some(LIMIT));
    reader.push(data);
    while let Ok(Some(payload)) = reader.next_payload() {
        let _ = HubProtocol::MessagePack.parse(&payload);
    }
}

/// What a [`FrameReader`] returns for `chunks`: each message, then the error that stopped it.
fn frames(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Option<String>) {
    let mut reader = FrameReader::with_max_message_size(LIMIT);
    let mut out = Vec::new();
    for chunk in chunks {
        reader.push(chunk);
        loop {
            match reader.next_message() {
                Ok(Some(message)) => out.push(message),
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    (out, None)
}

/// The handshake, both ways: the server reads a request and chooses a protocol, the client
/// reads the response; a MessagePack handshake record with binary bytes after it.
pub fn handshake(data: &[u8]) {
    let mut reader = RecordReader::with_max_record_size(LIMIT);
    reader.push(data);
    if let Ok(Some(record)) = reader.next_record() {
        if let Ok(request) = HandshakeRequest::parse(&record) {
            let _ = request.check_json();
            if let Ok(protocol) = request.check(&[HubProtocol::Json, HubProtocol::MessagePack]) {
                let mut rest = protocol.reader(Some(LIMIT));
                rest.push(reader.take_remaining());
                while let Ok(Some(payload)) = rest.next_payload() {
                    let _ = protocol.parse(&payload);
                }
            }
            let again = HandshakeRequest::parse(&request.to_json());
            assert_eq!(
                again.as_ref().ok(),
                Some(&request),
                "{record:?} → {again:?}"
            );
        }
        if let Ok(response) = HandshakeResponse::parse(&record) {
            let _ = response.is_success();
            let _ = HandshakeResponse::parse(&response.to_json());
        }
    }
    let record = text(data);
    let _ = HandshakeRequest::parse(&record);
    let _ = HandshakeResponse::parse(&record);
}

/// Negotiate, both ways: the client reads the server's body, the server reads the query string
/// of a negotiate or WebSocket request.
pub fn negotiate(data: &[u8]) {
    let body = text(data);
    if let Ok(NegotiateReply::Negotiated(response)) = NegotiateReply::parse(&body) {
        let _ = response.connect_id();
    }
    let query = Query::parse(&body);
    for name in [
        "id",
        "user",
        "negotiateVersion",
        "useStatefulReconnect",
        "access_token",
    ] {
        let _ = query.get(name);
    }
    let _ = (query.id(), query.user(), query.use_stateful_reconnect());
    let _ = query.server_negotiate_version(0);
    let _ = query.server_negotiate_version(1);
    let _ = percent_decode(&body);
}

/// Classic ASP.NET SignalR, the bodies: a server's frame (keep-alive, envelope, hub response)
/// and the hub messages in it, a client's hub invocation, the negotiate body and the
/// start/abort answers.
pub fn classic_envelope(data: &[u8]) {
    let body = text(data);
    if let Ok(frame) = ServerFrame::parse(&body) {
        if let ServerFrame::Envelope(envelope) = &frame {
            let _ = envelope.hub_messages();
        }
        let again = ServerFrame::parse(&frame.to_json());
        assert!(again.is_ok(), "{body:?} → {again:?}");
    }
    if let Ok(invocation) = HubInvocation::parse(&body) {
        let again = HubInvocation::parse(&invocation.to_json());
        assert!(again.is_ok(), "{body:?} → {again:?}");
    }
    let _ = HubResponse::parse(&body);
    let _ = ServerHubMessage::parse(&body);
    let _ = ClassicNegotiate::parse(&body);
    let _ = parse_response_word(&body);
}

/// Classic ASP.NET SignalR, the requests: the path, the query string and what the server reads
/// from it (transport, protocol version, connection data, cursor), the `/send` form body, and
/// the two tokens a client presents.
pub fn classic_query(data: &[u8]) {
    let raw = text(data);
    let _ = RequestKind::split(&raw);
    let query = ClassicQuery::parse(&raw);
    let _ = query.transport();
    let _ = query.client_protocol();
    let _ = query.protocol_version();
    let _ = query.connection_token();
    let _ = query.hubs();
    let _ = query.message_id();
    let _ = (query.get("user"), query.get("tid"));
    let _ = parse_connection_data(&raw);
    let _ = send_form_data(&raw);
    let _ = ProtocolVersion::parse(&raw);
    let _ = ProtocolVersion::resolve(Some(&raw));
    let _ = ProtocolVersion::accepted_by_jquery_client(&raw);
    let _ = Transport::parse(&raw);
    let key = b"fuzz key";
    let token = query.groups_token().unwrap_or_else(|| raw.clone());
    let _ = GroupsToken::verify(key, "id", &token);
    let _ = GroupsToken::open_any_owner(key, &token);
    let _ = GroupsToken::groups_to_rejoin(key, "id", Some(&token));
    let connection_token = query.connection_token().unwrap_or_else(|_| raw.clone());
    let _ = ConnectionToken::verify(key, &connection_token, "user");
    let mut replay: ReplayBuffer<u32> = ReplayBuffer::new("epoch", 4);
    for i in 0..6 {
        replay.push(i);
    }
    let _ = replay.parse_cursor(&raw);
    let _ = replay.replay(query.message_id().as_deref().or(Some(&raw)));
}
