//! Hub messages (`type` 1 to 9), shared by both hub protocols, and their exact JSON form. Their
//! MessagePack form is in [`crate::msgpack`].
//!
//! Writing follows `JsonHubProtocol.WriteMessageCore` property by property: `type` first, then
//! `headers` (only when non-empty, only on invocation-type messages), then the message's own
//! properties in .NET's order, each optional one omitted exactly when .NET omits it. Parsing
//! follows `JsonHubProtocol.ParseMessage`: unknown properties are skipped, an unknown `type` is
//! returned as [`HubMessage::Unknown`] (which .NET ignores), and every rejection carries .NET's
//! message.
//!
//! Payloads (`arguments`, `item`, `result`) are kept as [`serde_json::Value`]; without serde_json's
//! `preserve_order` feature, the keys of objects inside them come back sorted.
//!
//! One file: every message type's parse and write sit together because each pair must agree byte
//! for byte, and most of the length is their tests.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ProtocolError, Result};
use crate::framing;
use crate::json;

/// Invocation headers (`headers`): string to string, written in key order.
pub type Headers = BTreeMap<String, String>;

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionResult {
    /// A void method: neither `result` nor `error` is written.
    Void,
    /// A value, possibly `null` (`"result":null`).
    Result(Value),
    /// An error message. An empty message is written like [`CompletionResult::Void`], as .NET
    /// does (`string.IsNullOrEmpty`).
    Error(String),
}

/// One hub message, whichever protocol carries it ([`HubMessage::parse`] and
/// [`HubMessage::to_json`] for JSON, [`HubMessage::parse_msgpack`] and
/// [`HubMessage::to_msgpack`] for MessagePack).
#[derive(Debug, Clone, PartialEq)]
pub enum HubMessage {
    /// `type` 1. Without `invocation_id` the call is non-blocking and gets no Completion.
    /// An empty `invocationId` on the wire is read as `None`, as .NET treats it.
    Invocation {
        /// `invocationId`.
        invocation_id: Option<String>,
        /// `target`: the method name.
        target: String,
        /// `arguments`.
        arguments: Vec<Value>,
        /// `streamIds`, written only when `Some` (an empty list is written as `[]`).
        stream_ids: Option<Vec<String>>,
        /// `headers`, written only when non-empty.
        headers: Headers,
    },
    /// `type` 2: one item of a stream.
    StreamItem {
        /// `invocationId`.
        invocation_id: String,
        /// `item`.
        item: Value,
        /// `headers`.
        headers: Headers,
    },
    /// `type` 3: the end of an invocation.
    Completion {
        /// `invocationId`.
        invocation_id: String,
        /// `result`, `error` or neither.
        result: CompletionResult,
        /// `headers`.
        headers: Headers,
    },
    /// `type` 4: a call whose results come back as StreamItems.
    StreamInvocation {
        /// `invocationId` (required).
        invocation_id: String,
        /// `target`.
        target: String,
        /// `arguments`.
        arguments: Vec<Value>,
        /// `streamIds`, written only when `Some`.
        stream_ids: Option<Vec<String>>,
        /// `headers`.
        headers: Headers,
    },
    /// `type` 5: cancels a stream invocation.
    CancelInvocation {
        /// `invocationId`.
        invocation_id: String,
        /// `headers`.
        headers: Headers,
    },
    /// `type` 6: keep-alive, `{"type":6}`.
    Ping,
    /// `type` 7: the sender is closing the connection.
    Close {
        /// `error`, written whenever `Some` (even when empty).
        error: Option<String>,
        /// `allowReconnect`, written only when `true`.
        allow_reconnect: bool,
    },
    /// `type` 8 (stateful reconnect): every sequenced message up to `sequence_id` arrived.
    Ack {
        /// `sequenceId`.
        sequence_id: i64,
    },
    /// `type` 9 (stateful reconnect): the next sequenced message has id `sequence_id`.
    Sequence {
        /// `sequenceId`.
        sequence_id: i64,
    },
    /// A `type` this protocol version does not know. .NET drops such messages ("future
    /// protocol changes can add message types"); writing one gives `{"type":N}` (`[N]` in
    /// MessagePack), which .NET itself never sends.
    Unknown(i32),
}

impl HubMessage {
    /// An Invocation without stream ids or headers.
    pub fn invocation(
        invocation_id: Option<&str>,
        target: impl Into<String>,
        arguments: Vec<Value>,
    ) -> Self {
        HubMessage::Invocation {
            invocation_id: invocation_id.map(str::to_owned),
            target: target.into(),
            arguments,
            stream_ids: None,
            headers: Headers::new(),
        }
    }

    /// A Completion without headers.
    pub fn completion(invocation_id: impl Into<String>, result: CompletionResult) -> Self {
        HubMessage::Completion {
            invocation_id: invocation_id.into(),
            result,
            headers: Headers::new(),
        }
    }

    /// The numeric `type` of this message.
    pub fn type_code(&self) -> i32 {
        match self {
            HubMessage::Invocation { .. } => 1,
            HubMessage::StreamItem { .. } => 2,
            HubMessage::Completion { .. } => 3,
            HubMessage::StreamInvocation { .. } => 4,
            HubMessage::CancelInvocation { .. } => 5,
            HubMessage::Ping => 6,
            HubMessage::Close { .. } => 7,
            HubMessage::Ack { .. } => 8,
            HubMessage::Sequence { .. } => 9,
            HubMessage::Unknown(code) => *code,
        }
    }

    /// Whether stateful reconnect numbers, buffers and acks this message: the invocation-type
    /// messages (1 to 5, .NET's `HubInvocationMessage`). Ping, Close, Ack, Sequence and unknown
    /// types are not counted.
    pub fn is_sequenced(&self) -> bool {
        (1..=5).contains(&self.type_code()) && !matches!(self, HubMessage::Unknown(_))
    }

    /// The `invocationId`, for the message types that have one.
    pub fn invocation_id(&self) -> Option<&str> {
        match self {
            HubMessage::Invocation { invocation_id, .. } => invocation_id.as_deref(),
            HubMessage::StreamItem { invocation_id, .. }
            | HubMessage::Completion { invocation_id, .. }
            | HubMessage::StreamInvocation { invocation_id, .. }
            | HubMessage::CancelInvocation { invocation_id, .. } => Some(invocation_id),
            _ => None,
        }
    }

    /// Parses one record (without its separator).
    pub fn parse(record: &str) -> Result<HubMessage> {
        let map = json::parse_object(record)?;
        let fields = Fields::read(&map)?;
        fields.bind()
    }

    /// The JSON text, byte for byte as `JsonHubProtocol` writes it (no separator).
    pub fn to_json(&self) -> String {
        json::to_string(self)
    }

    /// The JSON text followed by the record separator: the bytes to send.
    pub fn to_wire(&self) -> String {
        framing::encode(&self.to_json())
    }
}

/// Every property `ParseMessage` understands, read and type-checked before the message type
/// is looked at, as .NET does.
struct Fields {
    message_type: Option<i32>,
    invocation_id: Option<String>,
    stream_ids: Option<Vec<String>>,
    target: Option<String>,
    error: Option<String>,
    allow_reconnect: bool,
    result: Option<Value>,
    item: Option<Value>,
    arguments: Option<Vec<Value>>,
    headers: Headers,
    sequence_id: Option<i64>,
}

impl Fields {
    fn read(map: &Map<String, Value>) -> Result<Fields> {
        let message_type = match map.get("type") {
            None => None,
            Some(_) => Some(
                json::read_i32(map, "type")?.ok_or(ProtocolError::WrongType {
                    property: "type",
                    expected: "Number",
                })?,
            ),
        };
        Ok(Fields {
            message_type,
            invocation_id: json::read_string(map, "invocationId")?,
            stream_ids: read_stream_ids(map)?,
            target: json::read_string(map, "target")?,
            error: json::read_string(map, "error")?,
            allow_reconnect: json::read_bool(map, "allowReconnect")?.unwrap_or(false),
            result: map.get("result").cloned(),
            item: map.get("item").cloned(),
            arguments: match map.get("arguments") {
                None => None,
                Some(Value::Array(items)) => Some(items.clone()),
                Some(_) => {
                    return Err(ProtocolError::WrongType {
                        property: "arguments",
                        expected: "Array",
                    })
                }
            },
            headers: read_headers(map)?,
            sequence_id: json::read_i64(map, "sequenceId")?,
        })
    }

    /// The per-type checks of `JsonHubProtocol`, in its order.
    fn bind(self) -> Result<HubMessage> {
        use ProtocolError::MissingProperty;
        let invocation_id = self.invocation_id.filter(|id| !id.is_empty());
        let required_id = || invocation_id.clone().ok_or(MissingProperty("invocationId"));
        let message = match self.message_type {
            None => return Err(MissingProperty("type")),
            Some(1) => HubMessage::Invocation {
                target: self
                    .target
                    .filter(|t| !t.is_empty())
                    .ok_or(MissingProperty("target"))?,
                arguments: self.arguments.ok_or(MissingProperty("arguments"))?,
                invocation_id,
                stream_ids: self.stream_ids,
                headers: self.headers,
            },
            Some(2) => HubMessage::StreamItem {
                invocation_id: required_id()?,
                item: self.item.ok_or(MissingProperty("item"))?,
                headers: self.headers,
            },
            Some(3) => {
                let invocation_id = required_id()?;
                let result = match (self.error, self.result) {
                    (Some(_), Some(_)) => return Err(ProtocolError::ErrorAndResult),
                    (Some(error), None) => CompletionResult::Error(error),
                    (None, Some(value)) => CompletionResult::Result(value),
                    (None, None) => CompletionResult::Void,
                };
                HubMessage::Completion {
                    invocation_id,
                    result,
                    headers: self.headers,
                }
            }
            Some(4) => {
                // .NET checks that `target` exists, then the id, then the arguments, then
                // that the target is not empty.
                let target = self.target.ok_or(MissingProperty("target"))?;
                let invocation_id = required_id()?;
                let arguments = self.arguments.ok_or(MissingProperty("arguments"))?;
                if target.is_empty() {
                    return Err(MissingProperty("target"));
                }
                HubMessage::StreamInvocation {
                    invocation_id,
                    target,
                    arguments,
                    stream_ids: self.stream_ids,
                    headers: self.headers,
                }
            }
            Some(5) => HubMessage::CancelInvocation {
                invocation_id: required_id()?,
                headers: self.headers,
            },
            Some(6) => HubMessage::Ping,
            Some(7) => HubMessage::Close {
                error: self.error,
                allow_reconnect: self.allow_reconnect,
            },
            Some(8) => HubMessage::Ack {
                sequence_id: self.sequence_id.ok_or(MissingProperty("sequenceId"))?,
            },
            Some(9) => HubMessage::Sequence {
                sequence_id: self.sequence_id.ok_or(MissingProperty("sequenceId"))?,
            },
            Some(other) => HubMessage::Unknown(other),
        };
        Ok(message)
    }
}

fn read_stream_ids(map: &Map<String, Value>) -> Result<Option<Vec<String>>> {
    let items = match map.get("streamIds") {
        None => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ProtocolError::WrongType {
                property: "streamIds",
                expected: "Array",
            })
        }
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            Value::Null => Err(ProtocolError::NullStreamId),
            _ => Err(ProtocolError::StreamIdNotString),
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn read_headers(map: &Map<String, Value>) -> Result<Headers> {
    let object = match map.get("headers") {
        None => return Ok(Headers::new()),
        Some(Value::Object(object)) => object,
        Some(_) => {
            return Err(ProtocolError::WrongType {
                property: "headers",
                expected: "StartObject",
            })
        }
    };
    object
        .iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key.clone(), s.clone())),
            _ => Err(ProtocolError::HeaderNotString(key.clone())),
        })
        .collect()
}

impl Serialize for HubMessage {
    /// Writes the properties in `JsonHubProtocol`'s order with its omission rules.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        out.serialize_entry("type", &self.type_code())?;
        match self {
            HubMessage::Invocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
                headers,
            } => {
                write_headers(&mut out, headers)?;
                write_invocation_id(&mut out, invocation_id.as_deref())?;
                out.serialize_entry("target", target)?;
                out.serialize_entry("arguments", arguments)?;
                if let Some(ids) = stream_ids {
                    out.serialize_entry("streamIds", ids)?;
                }
            }
            HubMessage::StreamInvocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
                headers,
            } => {
                write_headers(&mut out, headers)?;
                write_invocation_id(&mut out, Some(invocation_id))?;
                out.serialize_entry("target", target)?;
                out.serialize_entry("arguments", arguments)?;
                if let Some(ids) = stream_ids {
                    out.serialize_entry("streamIds", ids)?;
                }
            }
            HubMessage::StreamItem {
                invocation_id,
                item,
                headers,
            } => {
                write_headers(&mut out, headers)?;
                write_invocation_id(&mut out, Some(invocation_id))?;
                out.serialize_entry("item", item)?;
            }
            HubMessage::Completion {
                invocation_id,
                result,
                headers,
            } => {
                write_headers(&mut out, headers)?;
                write_invocation_id(&mut out, Some(invocation_id))?;
                match result {
                    CompletionResult::Error(error) if !error.is_empty() => {
                        out.serialize_entry("error", error)?;
                    }
                    CompletionResult::Result(value) => out.serialize_entry("result", value)?,
                    CompletionResult::Error(_) | CompletionResult::Void => {}
                }
            }
            HubMessage::CancelInvocation {
                invocation_id,
                headers,
            } => {
                write_headers(&mut out, headers)?;
                write_invocation_id(&mut out, Some(invocation_id))?;
            }
            HubMessage::Ping | HubMessage::Unknown(_) => {}
            HubMessage::Close {
                error,
                allow_reconnect,
            } => {
                if let Some(error) = error {
                    out.serialize_entry("error", error)?;
                }
                if *allow_reconnect {
                    out.serialize_entry("allowReconnect", &true)?;
                }
            }
            HubMessage::Ack { sequence_id } | HubMessage::Sequence { sequence_id } => {
                out.serialize_entry("sequenceId", sequence_id)?;
            }
        }
        out.end()
    }
}

fn write_headers<M: SerializeMap>(
    out: &mut M,
    headers: &Headers,
) -> std::result::Result<(), M::Error> {
    if headers.is_empty() {
        Ok(())
    } else {
        out.serialize_entry("headers", headers)
    }
}

/// .NET writes `invocationId` only when it is neither null nor empty.
fn write_invocation_id<M: SerializeMap>(
    out: &mut M,
    invocation_id: Option<&str>,
) -> std::result::Result<(), M::Error> {
    match invocation_id {
        Some(id) if !id.is_empty() => out.serialize_entry("invocationId", id),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn every_message_type() -> Vec<HubMessage> {
        vec![
            HubMessage::invocation(Some("1"), "JoinGroup", vec![json!("room1")]),
            HubMessage::invocation(
                None,
                "Send",
                vec![json!("hello"), json!(null), json!({"a": [1, 2.5]})],
            ),
            HubMessage::Invocation {
                invocation_id: Some("7".into()),
                target: "Upload".into(),
                arguments: vec![],
                stream_ids: Some(vec!["s1".into(), "s2".into()]),
                headers: headers(&[("b", "2"), ("a", "1")]),
            },
            HubMessage::StreamItem {
                invocation_id: "2".into(),
                item: json!(null),
                headers: Headers::new(),
            },
            HubMessage::completion("1", CompletionResult::Void),
            HubMessage::completion("1", CompletionResult::Result(json!(42))),
            HubMessage::completion("1", CompletionResult::Result(json!(null))),
            HubMessage::completion("1", CompletionResult::Error("boom".into())),
            HubMessage::StreamInvocation {
                invocation_id: "3".into(),
                target: "Counter".into(),
                arguments: vec![json!(10)],
                stream_ids: Some(vec![]),
                headers: headers(&[("k", "v")]),
            },
            HubMessage::CancelInvocation {
                invocation_id: "3".into(),
                headers: Headers::new(),
            },
            HubMessage::Ping,
            HubMessage::Close {
                error: None,
                allow_reconnect: false,
            },
            HubMessage::Close {
                error: Some("Connection closed with an error.".into()),
                allow_reconnect: true,
            },
            HubMessage::Close {
                error: Some(String::new()),
                allow_reconnect: false,
            },
            HubMessage::Ack { sequence_id: 1394 },
            HubMessage::Sequence {
                sequence_id: i64::MAX,
            },
            HubMessage::Unknown(42),
        ]
    }

    #[test]
    fn every_message_type_round_trips_through_its_json() {
        for message in every_message_type() {
            let text = message.to_json();
            assert_eq!(HubMessage::parse(&text), Ok(message.clone()), "{text}");
        }
    }

    #[test]
    fn documented_example_frames_are_written_byte_for_byte() {
        let cases = [
            (
                HubMessage::invocation(Some("1"), "JoinGroup", vec![json!("room1")]),
                r#"{"type":1,"invocationId":"1","target":"JoinGroup","arguments":["room1"]}"#,
            ),
            (
                HubMessage::invocation(None, "Send", vec![json!("hello")]),
                r#"{"type":1,"target":"Send","arguments":["hello"]}"#,
            ),
            (
                HubMessage::completion("1", CompletionResult::Void),
                r#"{"type":3,"invocationId":"1"}"#,
            ),
            (
                HubMessage::completion("1", CompletionResult::Result(json!(42))),
                r#"{"type":3,"invocationId":"1","result":42}"#,
            ),
            (
                HubMessage::completion(
                    "1",
                    CompletionResult::Error("Unknown hub method 'x'".into()),
                ),
                r#"{"type":3,"invocationId":"1","error":"Unknown hub method 'x'"}"#,
            ),
            (HubMessage::Ping, r#"{"type":6}"#),
            (
                HubMessage::Close {
                    error: None,
                    allow_reconnect: false,
                },
                r#"{"type":7}"#,
            ),
            (
                HubMessage::Close {
                    error: Some("Connection closed with an error.".into()),
                    allow_reconnect: true,
                },
                r#"{"type":7,"error":"Connection closed with an error.","allowReconnect":true}"#,
            ),
            (
                HubMessage::Ack { sequence_id: 1394 },
                r#"{"type":8,"sequenceId":1394}"#,
            ),
            (
                HubMessage::Sequence { sequence_id: 1234 },
                r#"{"type":9,"sequenceId":1234}"#,
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(message.to_json(), expected);
            assert_eq!(message.to_wire(), format!("{expected}\u{1e}"));
        }
    }

    #[test]
    fn headers_come_right_after_type_and_stream_ids_last() {
        let message = HubMessage::Invocation {
            invocation_id: Some("7".into()),
            target: "Upload".into(),
            arguments: vec![json!(1)],
            stream_ids: Some(vec!["s1".into()]),
            headers: headers(&[("a", "1")]),
        };
        assert_eq!(
            message.to_json(),
            r#"{"type":1,"headers":{"a":"1"},"invocationId":"7","target":"Upload","arguments":[1],"streamIds":["s1"]}"#
        );
        let item = HubMessage::StreamItem {
            invocation_id: "2".into(),
            item: json!("x"),
            headers: Headers::new(),
        };
        assert_eq!(
            item.to_json(),
            r#"{"type":2,"invocationId":"2","item":"x"}"#
        );
        let cancel = HubMessage::CancelInvocation {
            invocation_id: "2".into(),
            headers: Headers::new(),
        };
        assert_eq!(cancel.to_json(), r#"{"type":5,"invocationId":"2"}"#);
    }

    #[test]
    fn a_null_result_is_written_and_an_empty_error_is_omitted_like_dotnet() {
        assert_eq!(
            HubMessage::completion("1", CompletionResult::Result(json!(null))).to_json(),
            r#"{"type":3,"invocationId":"1","result":null}"#
        );
        assert_eq!(
            HubMessage::completion("1", CompletionResult::Error(String::new())).to_json(),
            r#"{"type":3,"invocationId":"1"}"#
        );
    }

    #[test]
    fn an_empty_invocation_id_is_omitted_and_read_as_none() {
        assert_eq!(
            HubMessage::invocation(Some(""), "Send", vec![]).to_json(),
            r#"{"type":1,"target":"Send","arguments":[]}"#
        );
        assert_eq!(
            HubMessage::parse(r#"{"type":1,"invocationId":"","target":"Send","arguments":[]}"#),
            Ok(HubMessage::invocation(None, "Send", vec![]))
        );
    }

    #[test]
    fn a_close_error_is_written_even_when_empty_and_allow_reconnect_only_when_true() {
        let close = HubMessage::Close {
            error: Some(String::new()),
            allow_reconnect: false,
        };
        assert_eq!(close.to_json(), r#"{"type":7,"error":""}"#);
        assert_eq!(
            HubMessage::parse(r#"{"type":7,"allowReconnect":false}"#),
            Ok(HubMessage::Close {
                error: None,
                allow_reconnect: false
            })
        );
    }

    #[test]
    fn property_order_and_unknown_properties_do_not_matter_when_parsing() {
        let parsed = HubMessage::parse(
            r#"{"arguments":["room1"],"extra":{"x":[1]},"target":"JoinGroup","invocationId":"1","type":1}"#,
        );
        assert_eq!(
            parsed,
            Ok(HubMessage::invocation(
                Some("1"),
                "JoinGroup",
                vec![json!("room1")]
            ))
        );
    }

    #[test]
    fn headers_on_a_ping_are_ignored() {
        assert_eq!(
            HubMessage::parse(r#"{"type":6,"headers":{"a":"b"}}"#),
            Ok(HubMessage::Ping)
        );
    }

    #[test]
    fn an_unknown_type_is_returned_as_unknown_rather_than_an_error() {
        assert_eq!(
            HubMessage::parse(r#"{"type":99,"whatever":true}"#),
            Ok(HubMessage::Unknown(99))
        );
        assert_eq!(HubMessage::Unknown(99).to_json(), r#"{"type":99}"#);
    }

    #[test]
    fn only_invocation_type_messages_are_sequenced() {
        let sequenced: Vec<i32> = every_message_type()
            .iter()
            .filter(|m| m.is_sequenced())
            .map(HubMessage::type_code)
            .collect();
        assert!(sequenced.iter().all(|t| (1..=5).contains(t)));
        for t in 1..=5 {
            assert!(sequenced.contains(&t), "type {t} must be sequenced");
        }
        assert!(!HubMessage::Unknown(3).is_sequenced());
    }

    fn parse_error(text: &str) -> String {
        HubMessage::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn each_malformed_message_is_rejected_with_the_dotnet_message() {
        let cases = [
            (r#"{"invocationId":"1"}"#, "Missing required property 'type'."),
            (r#"{"type":"1"}"#, "Expected 'type' to be of type Number."),
            (r#"{"type":null}"#, "Expected 'type' to be of type Number."),
            (
                r#"{"type":1.5}"#,
                "Either the JSON value is not in a supported format, or is out of bounds for an Int32.",
            ),
            (r#"{"type":1,"arguments":[]}"#, "Missing required property 'target'."),
            (r#"{"type":1,"target":"","arguments":[]}"#, "Missing required property 'target'."),
            (r#"{"type":1,"target":"Send"}"#, "Missing required property 'arguments'."),
            (r#"{"type":1,"target":"Send","arguments":{}}"#, "Expected 'arguments' to be of type Array."),
            (r#"{"type":1,"target":5,"arguments":[]}"#, "Expected 'target' to be of type String."),
            (r#"{"type":1,"invocationId":5,"target":"a","arguments":[]}"#, "Expected 'invocationId' to be of type String."),
            (r#"{"type":1,"target":"a","arguments":[],"streamIds":"s"}"#, "Expected 'streamIds' to be of type Array."),
            (r#"{"type":1,"target":"a","arguments":[],"streamIds":[null]}"#, "Null value for 'streamIds' is not valid."),
            (r#"{"type":1,"target":"a","arguments":[],"headers":[]}"#, "Expected 'headers' to be of type StartObject."),
            (r#"{"type":1,"target":"a","arguments":[],"headers":{"h":1}}"#, "Expected header 'h' to be of type String."),
            (r#"{"type":2,"item":1}"#, "Missing required property 'invocationId'."),
            (r#"{"type":2,"invocationId":"1"}"#, "Missing required property 'item'."),
            (r#"{"type":3}"#, "Missing required property 'invocationId'."),
            (r#"{"type":3,"invocationId":""}"#, "Missing required property 'invocationId'."),
            (
                r#"{"type":3,"invocationId":"1","result":1,"error":"e"}"#,
                "The 'error' and 'result' properties are mutually exclusive.",
            ),
            (r#"{"type":3,"invocationId":"1","error":null}"#, "Expected 'error' to be of type String."),
            (r#"{"type":4,"invocationId":"1","arguments":[]}"#, "Missing required property 'target'."),
            (r#"{"type":4,"target":"a","arguments":[]}"#, "Missing required property 'invocationId'."),
            (r#"{"type":4,"invocationId":"1","target":"a"}"#, "Missing required property 'arguments'."),
            (r#"{"type":4,"invocationId":"1","target":"","arguments":[]}"#, "Missing required property 'target'."),
            (r#"{"type":5}"#, "Missing required property 'invocationId'."),
            (r#"{"type":7,"allowReconnect":"yes"}"#, "Expected 'allowReconnect' to be true or false."),
            (r#"{"type":8}"#, "Missing required property 'sequenceId'."),
            (r#"{"type":9,"sequenceId":null}"#, "Missing required property 'sequenceId'."),
            (r#"{"type":9,"sequenceId":"1"}"#, "Expected 'sequenceId' to be of type Number."),
            (r#"[1]"#, "Unexpected JSON Token Type 'Array'. Expected a JSON Object."),
            (r#"{"type":6"#, "Error reading JSON."),
            ("", "Error reading JSON."),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_error(text), expected, "parsing {text}");
        }
    }

    #[test]
    fn control_characters_in_payloads_never_produce_a_raw_record_separator() {
        let message = HubMessage::invocation(None, "Send", vec![json!("a\u{1e}b")]);
        let text = message.to_json();
        assert!(!text.contains('\u{1e}'));
        assert_eq!(
            text,
            r#"{"type":1,"target":"Send","arguments":["a\u001Eb"]}"#
        );
        assert_eq!(HubMessage::parse(&text), Ok(message));
    }
}
