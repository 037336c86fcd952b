//! The two hub protocols side by side: [`HubProtocol`] names them, encodes and parses a
//! [`HubMessage`] in either, and [`MessageReader`] cuts either's byte stream into messages, so
//! a hub or client serves both with one code path after the handshake.

use crate::error::{ProtocolError, Result};
use crate::framing::RecordReader;
use crate::handshake::{JSON_PROTOCOL, JSON_PROTOCOL_VERSION};
use crate::message::HubMessage;
use crate::msgpack::{FrameReader, MESSAGEPACK_PROTOCOL, MESSAGEPACK_PROTOCOL_VERSION};

/// A hub protocol an ASP.NET Core server can offer. Both are at version 2 (stateful
/// reconnect) and accept every lower version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HubProtocol {
    /// `json`: text records ending in 0x1E, sent as WebSocket text frames.
    Json,
    /// `messagepack`: length-prefixed MessagePack arrays, sent as WebSocket binary frames.
    MessagePack,
}

impl HubProtocol {
    /// Both protocols, JSON first (the order ASP.NET Core registers them).
    pub const ALL: [HubProtocol; 2] = [HubProtocol::Json, HubProtocol::MessagePack];

    /// The name in the handshake (`json`, `messagepack`), also .NET's name in its errors.
    pub fn name(self) -> &'static str {
        match self {
            HubProtocol::Json => JSON_PROTOCOL,
            HubProtocol::MessagePack => MESSAGEPACK_PROTOCOL,
        }
    }

    /// The highest version the protocol speaks (`IsVersionSupported(v)` is `v <= version`).
    pub fn version(self) -> i32 {
        match self {
            HubProtocol::Json => JSON_PROTOCOL_VERSION,
            HubProtocol::MessagePack => MESSAGEPACK_PROTOCOL_VERSION,
        }
    }

    /// Whether messages travel in binary WebSocket frames (`TransferFormat.Binary`); the
    /// handshake itself is JSON text either way.
    pub fn is_binary(self) -> bool {
        matches!(self, HubProtocol::MessagePack)
    }

    /// The protocol with this name, compared case-insensitively as
    /// `DefaultHubProtocolResolver` does.
    pub fn from_name(name: &str) -> Option<HubProtocol> {
        HubProtocol::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// One message as it goes on the wire: JSON text and 0x1E, or the length prefix and the
    /// MessagePack array. Send it in a text frame when [`is_binary`](Self::is_binary) is false.
    pub fn encode(self, message: &HubMessage) -> Vec<u8> {
        match self {
            HubProtocol::Json => message.to_wire().into_bytes(),
            HubProtocol::MessagePack => message.to_msgpack_wire(),
        }
    }

    /// Parses one payload returned by this protocol's [`MessageReader`]: a JSON record
    /// (without its 0x1E; it must be UTF-8) or a MessagePack message (without its prefix).
    pub fn parse(self, payload: &[u8]) -> Result<HubMessage> {
        match self {
            HubProtocol::Json => HubMessage::parse(
                std::str::from_utf8(payload).map_err(|_| ProtocolError::InvalidUtf8)?,
            ),
            HubProtocol::MessagePack => HubMessage::parse_msgpack(payload),
        }
    }

    /// A reader for this protocol's stream with a receive limit of `max_message_size` bytes
    /// (`None`: unlimited), counted as ASP.NET Core counts it for the protocol.
    pub fn reader(self, max_message_size: Option<usize>) -> MessageReader {
        let inner = match (self, max_message_size) {
            (HubProtocol::Json, Some(max)) => Inner::Json(RecordReader::with_max_record_size(max)),
            (HubProtocol::Json, None) => Inner::Json(RecordReader::unlimited()),
            (HubProtocol::MessagePack, Some(max)) => {
                Inner::MessagePack(FrameReader::with_max_message_size(max))
            }
            (HubProtocol::MessagePack, None) => Inner::MessagePack(FrameReader::unlimited()),
        };
        MessageReader { inner }
    }
}

/// [`RecordReader`] or [`FrameReader`], chosen by the protocol the handshake settled on.
#[derive(Debug, Clone)]
pub struct MessageReader {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Json(RecordReader),
    MessagePack(FrameReader),
}

impl MessageReader {
    /// The protocol this reader cuts.
    pub fn protocol(&self) -> HubProtocol {
        match self.inner {
            Inner::Json(_) => HubProtocol::Json,
            Inner::MessagePack(_) => HubProtocol::MessagePack,
        }
    }

    /// Appends bytes as received (a frame's payload, or the bytes left over after the
    /// handshake record, see [`RecordReader::take_remaining`]).
    pub fn push(&mut self, chunk: impl AsRef<[u8]>) {
        match &mut self.inner {
            Inner::Json(reader) => reader.push(chunk),
            Inner::MessagePack(reader) => reader.push(chunk),
        }
    }

    /// The next whole message's payload, for [`HubProtocol::parse`]. The errors are the
    /// underlying reader's: a size-limit or length-prefix error is final, an invalid UTF-8
    /// JSON record is consumed.
    pub fn next_payload(&mut self) -> Result<Option<Vec<u8>>> {
        match &mut self.inner {
            Inner::Json(reader) => Ok(reader.next_record()?.map(String::into_bytes)),
            Inner::MessagePack(reader) => reader.next_message(),
        }
    }

    /// Bytes received but not yet returned.
    pub fn pending_len(&self) -> usize {
        match &self.inner {
            Inner::Json(reader) => reader.pending_len(),
            Inner::MessagePack(reader) => reader.pending_len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::CompletionResult;
    use serde_json::json;

    #[test]
    fn both_protocols_carry_the_same_messages_through_one_code_path() {
        let messages = [
            HubMessage::invocation(Some("1"), "Send", vec![json!("hi"), json!(null)]),
            HubMessage::completion("1", CompletionResult::Result(json!({"a": [1, true]}))),
            HubMessage::Ping,
            HubMessage::Ack { sequence_id: 300 },
        ];
        for protocol in HubProtocol::ALL {
            let wire: Vec<u8> = messages.iter().flat_map(|m| protocol.encode(m)).collect();
            let mut reader = protocol.reader(Some(1024));
            assert_eq!(reader.protocol(), protocol);
            let mut parsed = Vec::new();
            for byte in wire {
                reader.push([byte]);
                while let Some(payload) = reader.next_payload().unwrap() {
                    parsed.push(protocol.parse(&payload).unwrap());
                }
            }
            assert_eq!(parsed, messages, "{protocol:?}");
            assert_eq!(reader.pending_len(), 0);
        }
    }

    #[test]
    fn each_protocol_frames_as_aspnet_core_does() {
        assert_eq!(
            HubProtocol::Json.encode(&HubMessage::Ping),
            b"{\"type\":6}\x1e"
        );
        assert_eq!(
            HubProtocol::MessagePack.encode(&HubMessage::Ping),
            [0x02, 0x91, 0x06]
        );
        assert_eq!(
            HubProtocol::Json.parse(b"\xff"),
            Err(ProtocolError::InvalidUtf8)
        );
        assert_eq!(
            HubProtocol::from_name("MESSAGEPACK"),
            Some(HubProtocol::MessagePack)
        );
        assert_eq!(HubProtocol::from_name("xml"), None);
        let mut reader = HubProtocol::MessagePack.reader(Some(2));
        reader.push([0x02, 0x91, 0x06]);
        assert_eq!(
            reader.next_payload(),
            Err(ProtocolError::RecordTooLarge { limit: 2 })
        );
    }
}
