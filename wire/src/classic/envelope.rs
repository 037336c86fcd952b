//! What the server sends on a classic WebSocket (reference §2): one JSON value per text frame,
//! no separator. Either the keep-alive `{}`, a bare hub response `{"I":…}` (never replayed),
//! or a persistent-response envelope.
//!
//! The envelope is written as `Transports/PersistentResponse.WriteJson` (2.4.3) writes it: `C`
//! (the cursor) first, `S:1` on the first envelope after `/connect`, `T:1` while the host shuts
//! down, `G` when the connection's groups changed, `L` for long polling, and `M` (the messages,
//! each the bus's serialized JSON, written raw) last. The 2.x server never writes `E`; clients
//! honour it as a fatal error, so it is read and, if set, written before `M`.
//!
//! Frames are read as the jQuery client's `processMessages` reads them: a value with `I` is a
//! hub response (the client does not touch its cursor or token for it); otherwise an envelope,
//! unknown keys (such as 2.0's obsolete `D`) ignored; `{}` is a keep-alive.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::hub::{to_json_net, HubResponse, ServerHubMessage};
use super::{kind, opt_id, ClassicError, Result};

/// The keep-alive frame (`WebSocketTransport._keepAlive`).
pub const KEEP_ALIVE: &str = "{}";

/// A persistent-response envelope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// `C`: the cursor the client echoes as `messageId` on reconnect. The server always
    /// writes it; clients keep the last non-empty one.
    pub cursor: Option<String>,
    /// `S:1`: the transport is initialized (the client then sends `/start`).
    pub initialized: bool,
    /// `T:1`: reconnect (the host is shutting down); long polling acts on it.
    pub reconnect: bool,
    /// `G`: the new groups token; clients keep the last non-empty one.
    pub groups_token: Option<String>,
    /// `L`: long polling's delay before the next poll, in milliseconds.
    pub long_poll_delay: Option<i64>,
    /// `E`: a fatal error; never written by the 2.x server.
    pub error: Option<String>,
    /// `M`: the messages, each one JSON value as text, written raw. (A text that is not JSON
    /// is written as a JSON string instead, so writing never fails.) The server always writes
    /// `M` (often `[]`); the jQuery client sends `/start` only for an `S` envelope with `M`.
    pub messages: Option<Vec<String>>,
}

impl Envelope {
    /// The first frame after `/connect`: `{"C":cursor,"S":1,"M":[]}`.
    pub fn init(cursor: impl Into<String>) -> Self {
        Envelope {
            cursor: Some(cursor.into()),
            initialized: true,
            messages: Some(Vec::new()),
            ..Self::default()
        }
    }

    /// `{"C":cursor,"M":[…]}` with messages already serialized (e.g.
    /// [`ClientHubInvocation::to_json`](super::ClientHubInvocation::to_json)).
    pub fn with_messages(cursor: impl Into<String>, messages: Vec<String>) -> Self {
        Envelope {
            cursor: Some(cursor.into()),
            messages: Some(messages),
            ..Self::default()
        }
    }

    /// The same envelope carrying a new groups token.
    pub fn with_groups_token(mut self, token: impl Into<String>) -> Self {
        self.groups_token = Some(token.into());
        self
    }

    /// The frame's text.
    pub fn to_json(&self) -> String {
        to_json_net(self)
    }

    /// Each message of `M` read as a hub message.
    pub fn hub_messages(&self) -> Result<Vec<ServerHubMessage>> {
        self.messages
            .iter()
            .flatten()
            .map(|m| ServerHubMessage::parse(m))
            .collect()
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        if let Some(cursor) = &self.cursor {
            out.serialize_entry("C", cursor)?;
        }
        if self.initialized {
            out.serialize_entry("S", &1)?;
        }
        if self.reconnect {
            out.serialize_entry("T", &1)?;
        }
        if let Some(token) = &self.groups_token {
            out.serialize_entry("G", token)?;
        }
        if let Some(delay) = self.long_poll_delay {
            out.serialize_entry("L", &delay)?;
        }
        if let Some(error) = &self.error {
            out.serialize_entry("E", error)?;
        }
        if let Some(messages) = &self.messages {
            let raw: Vec<Box<RawValue>> = messages
                .iter()
                .map(|m| match serde_json::from_str::<&RawValue>(m) {
                    Ok(raw) => raw.to_owned(),
                    Err(_) => RawValue::from_string(to_json_net(m)).expect("a JSON string"),
                })
                .collect();
            out.serialize_entry("M", &raw)?;
        }
        out.end()
    }
}

/// One frame from a classic server.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    /// `{}`.
    KeepAlive,
    /// A bare hub response (`I` present).
    Response(HubResponse),
    /// A persistent-response envelope.
    Envelope(Envelope),
}

impl ServerFrame {
    /// Reads a frame. Fails on anything that is not a JSON object, and on known keys of the
    /// wrong type (`C` a string or a number, read as its text; `G`, `E` strings; `L` an
    /// integer; `M` an array). `S` and `T` count when present and not null, whatever their
    /// value, as in the jQuery client.
    pub fn parse(text: &str) -> Result<Self> {
        let raw: Map<String, Value> = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return Err(ClassicError::NotAnObject {
                    found: kind(&other),
                })
            }
            Err(e) => {
                return Err(ClassicError::InvalidJson {
                    detail: e.to_string(),
                })
            }
        };
        if raw.contains_key("I") {
            return HubResponse::parse(text).map(ServerFrame::Response);
        }
        if raw.is_empty() {
            return Ok(ServerFrame::KeepAlive);
        }
        // Read again keeping each message's bytes.
        let fields: std::collections::BTreeMap<String, Box<RawValue>> = serde_json::from_str(text)
            .map_err(|e| ClassicError::InvalidJson {
                detail: e.to_string(),
            })?;
        let string = |key: &'static str| -> Result<Option<String>> {
            match raw.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ClassicError::WrongType {
                    property: key,
                    expected: "a string",
                }),
            }
        };
        let flag = |key: &str| raw.get(key).is_some_and(|v| !v.is_null());
        let long_poll_delay = match raw.get("L") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_i64().ok_or(ClassicError::WrongType {
                property: "L",
                expected: "an integer",
            })?),
            Some(_) => {
                return Err(ClassicError::WrongType {
                    property: "L",
                    expected: "an integer",
                })
            }
        };
        let messages = match fields.get("M") {
            None => None,
            Some(m) if m.get() == "null" => None,
            Some(m) => {
                let items: Vec<Box<RawValue>> =
                    serde_json::from_str(m.get()).map_err(|_| ClassicError::WrongType {
                        property: "M",
                        expected: "an array",
                    })?;
                Some(items.into_iter().map(|i| i.get().to_owned()).collect())
            }
        };
        Ok(ServerFrame::Envelope(Envelope {
            cursor: opt_id(&raw, "C")?,
            initialized: flag("S"),
            reconnect: flag("T"),
            groups_token: string("G")?,
            long_poll_delay,
            error: string("E")?,
            messages,
        }))
    }

    /// The frame's text.
    pub fn to_json(&self) -> String {
        match self {
            ServerFrame::KeepAlive => KEEP_ALIVE.to_owned(),
            ServerFrame::Response(response) => response.to_json(),
            ServerFrame::Envelope(envelope) => envelope.to_json(),
        }
    }
}

/// What a classic client keeps from the server's frames and presents on reconnect
/// (`processMessages`, `updateGroups`): the last non-empty `C` as `messageId` and the last
/// non-empty `G` as `groupsToken`. Hub responses change neither. `stop()` forgets both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientState {
    /// The cursor to send as `messageId`.
    pub message_id: Option<String>,
    /// The token to send as `groupsToken`.
    pub groups_token: Option<String>,
}

impl ClientState {
    /// Takes in one frame.
    pub fn apply(&mut self, frame: &ServerFrame) {
        if let ServerFrame::Envelope(envelope) = frame {
            if let Some(token) = envelope.groups_token.as_ref().filter(|t| !t.is_empty()) {
                self.groups_token = Some(token.clone());
            }
            if let Some(cursor) = envelope.cursor.as_ref().filter(|c| !c.is_empty()) {
                self.message_id = Some(cursor.clone());
            }
        }
    }

    /// `connection.stop()`: a new `start()` presents no token and no cursor.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::ClientHubInvocation;
    use serde_json::json;

    #[test]
    fn real_frames_parse_and_are_written_back_byte_for_byte() {
        // A 2.x server's frames, quoted in npm signalr-client@0.0.20 signalR.js lines 735/739
        // (reference §2).
        for text in [
            r#"{"C":"d-8F1AB453-B,0|C,0|D,1|E,0","S":1,"M":[]}"#,
            r#"{"C":"d-74C09D5E-B,1|C,0|D,1|E,0","M":[{"H":"TestHub","M":"addMessage","A":["ie","sgds"]}]}"#,
        ] {
            let frame = ServerFrame::parse(text).unwrap();
            assert_eq!(frame.to_json(), text);
        }
        let ServerFrame::Envelope(init) =
            ServerFrame::parse(r#"{"C":"d-8F1AB453-B,0|C,0|D,1|E,0","S":1,"M":[]}"#).unwrap()
        else {
            panic!("an envelope");
        };
        assert!(init.initialized);
        assert_eq!(init, Envelope::init("d-8F1AB453-B,0|C,0|D,1|E,0"));
    }

    #[test]
    fn keys_are_written_in_persistent_response_order() {
        let message =
            ClientHubInvocation::new("ChatHub", "addMessage", vec![json!("hi")]).to_json();
        let envelope = Envelope {
            cursor: Some("d-1-2".into()),
            initialized: true,
            reconnect: true,
            groups_token: Some("tok".into()),
            long_poll_delay: Some(0),
            error: None,
            messages: Some(vec![message.clone(), "  {\"raw\" : 1}".into()]),
        };
        assert_eq!(
            envelope.to_json(),
            r#"{"C":"d-1-2","S":1,"T":1,"G":"tok","L":0,"M":[{"H":"ChatHub","M":"addMessage","A":["hi"]},{"raw" : 1}]}"#
        );
        assert_eq!(
            Envelope::with_messages("c", vec![])
                .with_groups_token("g")
                .to_json(),
            r#"{"C":"c","G":"g","M":[]}"#
        );
        let parsed = ServerFrame::parse(&envelope.to_json()).unwrap();
        let ServerFrame::Envelope(parsed) = parsed else {
            panic!("an envelope")
        };
        assert_eq!(
            parsed.hub_messages().unwrap()[0],
            ServerHubMessage::Invocation(ClientHubInvocation::new(
                "ChatHub",
                "addMessage",
                vec![json!("hi")]
            ))
        );
    }

    #[test]
    fn responses_keep_alives_and_unknown_keys() {
        assert_eq!(ServerFrame::parse("{}"), Ok(ServerFrame::KeepAlive));
        assert_eq!(ServerFrame::parse(" { } "), Ok(ServerFrame::KeepAlive));
        assert_eq!(ServerFrame::KeepAlive.to_json(), "{}");
        // `I:0` is a response even though 0 is falsy in JavaScript.
        assert_eq!(
            ServerFrame::parse(r#"{"I":"0"}"#),
            Ok(ServerFrame::Response(HubResponse::result("0", None)))
        );
        // 2.0.3's obsolete D:1 and anything new are ignored; E is read.
        let ServerFrame::Envelope(e) =
            ServerFrame::parse(r#"{"C":"x","D":1,"Z":{"a":[]},"E":"bad","M":null}"#).unwrap()
        else {
            panic!("an envelope")
        };
        assert_eq!((e.error.as_deref(), e.messages), (Some("bad"), None));
    }

    #[test]
    fn the_client_keeps_the_last_non_empty_cursor_and_token() {
        let mut state = ClientState::default();
        for frame in [
            r#"{"C":"d-1-1","S":1,"M":[]}"#,
            r#"{"C":"d-1-2","G":"tok1","M":[]}"#,
            r#"{"I":"0","R":1}"#,
            "{}",
            r#"{"C":"","G":"","M":[]}"#,
            r#"{"C":"d-1-3","M":[{"H":"h","M":"m","A":[]}]}"#,
        ] {
            state.apply(&ServerFrame::parse(frame).unwrap());
        }
        assert_eq!(state.message_id.as_deref(), Some("d-1-3"));
        assert_eq!(state.groups_token.as_deref(), Some("tok1"));
        state.clear();
        assert_eq!(state, ClientState::default());
    }

    #[test]
    fn the_jquery_clients_response_facts_hold() {
        // SignalR test/Microsoft.AspNet.SignalR.Client.JS.Tests/wwwroot/Tests/UnitTests/Common/
        // ResponseFacts.js, "maximizePersistentResponse decompresses response correctly".
        let text = r#"{"C":1234,"M":[{"uno":1,"dos":2},{"tres":3,"quatro":4}],"T":"Same as above","L":1337,"G":"foo"}"#;
        let ServerFrame::Envelope(e) = ServerFrame::parse(text).unwrap() else {
            panic!("an envelope")
        };
        assert_eq!(e.cursor.as_deref(), Some("1234"));
        assert_eq!(
            e.messages,
            Some(vec![
                r#"{"uno":1,"dos":2}"#.to_string(),
                r#"{"tres":3,"quatro":4}"#.to_string()
            ])
        );
        assert!(e.reconnect && !e.initialized);
        assert_eq!(
            (e.long_poll_delay, e.groups_token.as_deref()),
            (Some(1337), Some("foo"))
        );
        let without_t = r#"{"C":1234,"M":[],"L":1337,"G":"foo"}"#;
        let ServerFrame::Envelope(e) = ServerFrame::parse(without_t).unwrap() else {
            panic!("an envelope")
        };
        assert!(!e.reconnect);
        // "updateGroups copies over token correctly": no G leaves the token unset.
        let mut state = ClientState::default();
        state.apply(&ServerFrame::parse(r#"{"C":"c","M":[]}"#).unwrap());
        assert_eq!(state.groups_token, None);
    }

    #[test]
    fn the_servers_persistent_response_facts_hold() {
        // SignalR test/Microsoft.AspNet.SignalR.Tests/PersistentResponseFacts.cs: the cursor,
        // then the messages, nothing else by default (their fake values made JSON here).
        assert_eq!(
            Envelope::with_messages("Baz", vec!["\"value1\"".into()]).to_json(),
            r#"{"C":"Baz","M":["value1"]}"#
        );
    }

    #[test]
    fn malformed_frames_are_typed_errors() {
        for (text, expected) in [
            ("", "Error reading JSON"),
            ("{\"C\":", "Error reading JSON"),
            ("[]", "Expected a JSON object, found array."),
            ("null", "Expected a JSON object, found null."),
            (r#"{"C":[1]}"#, "Expected 'C' to be a string or a number."),
            (r#"{"G":[]}"#, "Expected 'G' to be a string."),
            (r#"{"L":1.5}"#, "Expected 'L' to be an integer."),
            (r#"{"M":{}}"#, "Expected 'M' to be an array."),
            (r#"{"I":{}}"#, "Expected 'I' to be a string or a number."),
        ] {
            let error = ServerFrame::parse(text).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{text}: {error}");
        }
    }
}
