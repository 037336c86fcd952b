//! Classic hub messages (reference §3), with the keys and omission rules of the 2.x server's
//! Json.NET classes (2.4.3, `src/Microsoft.AspNet.SignalR.Core/Hubs/`):
//!
//! - client to server, one per WebSocket frame: [`HubInvocation`]
//!   `{"H":hub,"M":method,"A":[…],"I":id,"S":{state}}` (`HubRequestParser.HubInvocation`; the
//!   jQuery client writes `H, M, A, I` and `S` only for non-empty state, `I` as a number);
//! - server to client, inside an envelope's `M`: [`ClientHubInvocation`]
//!   `{"H":hub,"M":method,"A":[…]}` plus `S` when not null (`ClientHubInvocation.cs`);
//! - the reply to an invocation, as a bare frame: [`HubResponse`] with keys in declaration
//!   order `S, R, I, P, H, E, T, D`, nulls omitted except `I` (`HubResponse.cs`); progress
//!   reports are `{"I":"P|<id>","P":{"I":"<id>","D":value}}` and go through the bus, inside `M`
//!   (`HubDispatcher.SendProgressUpdate`).
//!
//! Argument, result, state and error-data values are [`serde_json::Value`]s: without
//! serde_json's `preserve_order` feature, the keys of objects inside them come back sorted (the
//! same JSON value, other bytes). Strings are escaped as Json.NET escapes them (control
//! characters, and also U+0085, U+2028 and U+2029).
//!
//! One file: the hub invocation, its result and the server's hub messages share their key names
//! and omission rules, and their tests pin them together.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{opt_id, opt_string, parse_object, ClassicError, Result};

/// The longest round-trip state, in UTF-16 units of its JSON (`HubRequestParser.GetState`).
pub const MAX_STATE_LENGTH: usize = 4096;

/// Serializes with serde_json, then escapes the three characters Json.NET escapes and
/// serde_json does not (they can only occur inside strings).
pub(crate) fn to_json_net<T: Serialize + ?Sized>(value: &T) -> String {
    let text = serde_json::to_string(value).expect("plain data serializes");
    if !text.contains(['\u{85}', '\u{2028}', '\u{2029}']) {
        return text;
    }
    text.replace('\u{85}', "\\u0085")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// A hub method call from the client.
#[derive(Debug, Clone, PartialEq)]
pub struct HubInvocation {
    /// `H`: the hub, matched case-insensitively by the server (the jQuery client sends it
    /// lower-cased).
    pub hub: String,
    /// `M`: the method, matched case-insensitively.
    pub method: String,
    /// `A`: the arguments (absent or `null` reads as none).
    pub args: Vec<Value>,
    /// `I`: the invocation id, echoed in the [`HubResponse`]. The jQuery client counts from
    /// 0 and starts again at 0 after every reconnect.
    pub id: Option<String>,
    /// `S`: the caller's round-trip state, written only when non-empty.
    pub state: Option<Map<String, Value>>,
}

impl HubInvocation {
    /// A call without state.
    pub fn new(
        hub: impl Into<String>,
        method: impl Into<String>,
        args: Vec<Value>,
        id: u64,
    ) -> Self {
        HubInvocation {
            hub: hub.into(),
            method: method.into(),
            args,
            id: Some(id.to_string()),
            state: None,
        }
    }

    /// The frame as the jQuery client writes it: `H, M, A, I, S`. An id made of decimal
    /// digits only (no leading zero) is written as a number, as the client's counter is;
    /// any other id as a string.
    pub fn to_json(&self) -> String {
        to_json_net(self)
    }

    /// Reads a frame as `HubRequestParser` does: `H` and `M` strings, `A` an array or null,
    /// `I` a string or a number (read as its text), `S` an object whose JSON is at most
    /// [`MAX_STATE_LENGTH`] UTF-16 units. Unknown keys are ignored.
    pub fn parse(text: &str) -> Result<Self> {
        let map = parse_object(text)?;
        let args = match map.get("A") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => {
                return Err(ClassicError::WrongType {
                    property: "A",
                    expected: "an array",
                })
            }
        };
        let state = match map.get("S") {
            None | Some(Value::Null) => None,
            Some(Value::Object(state)) => {
                let length = serde_json::to_string(state)
                    .expect("a parsed value serializes")
                    .encode_utf16()
                    .count();
                if length > MAX_STATE_LENGTH {
                    return Err(ClassicError::StateTooLong);
                }
                Some(state.clone())
            }
            Some(_) => {
                return Err(ClassicError::WrongType {
                    property: "S",
                    expected: "an object",
                })
            }
        };
        Ok(HubInvocation {
            hub: opt_string(&map, "H")?.ok_or(ClassicError::MissingProperty("H"))?,
            method: opt_string(&map, "M")?.ok_or(ClassicError::MissingProperty("M"))?,
            args,
            id: opt_id(&map, "I")?,
            state,
        })
    }
}

fn is_counter(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 15
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'))
}

impl Serialize for HubInvocation {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        out.serialize_entry("H", &self.hub)?;
        out.serialize_entry("M", &self.method)?;
        out.serialize_entry("A", &self.args)?;
        match self.id.as_deref() {
            Some(id) if is_counter(id) => {
                let number: u64 = id.parse().expect("checked digits");
                out.serialize_entry("I", &number)?;
            }
            Some(id) => out.serialize_entry("I", id)?,
            None => {}
        }
        if let Some(state) = self.state.as_ref().filter(|s| !s.is_empty()) {
            out.serialize_entry("S", state)?;
        }
        out.end()
    }
}

/// A hub method call from the server, an element of an envelope's `M`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientHubInvocation {
    /// `H`: the server's name for the hub (the client lower-cases it to find handlers).
    pub hub: String,
    /// `M`: the client method.
    pub method: String,
    /// `A`: the arguments.
    pub args: Vec<Value>,
    /// `S`: caller state changes (`Clients.Caller` only), written when present.
    pub state: Option<Map<String, Value>>,
}

impl ClientHubInvocation {
    /// `{"H":hub,"M":method,"A":args}`.
    pub fn new(hub: impl Into<String>, method: impl Into<String>, args: Vec<Value>) -> Self {
        ClientHubInvocation {
            hub: hub.into(),
            method: method.into(),
            args,
            state: None,
        }
    }

    /// The JSON, as the server puts it in `M`.
    pub fn to_json(&self) -> String {
        to_json_net(self)
    }

    fn from_map(map: &Map<String, Value>) -> Result<Self> {
        let args = match map.get("A") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => {
                return Err(ClassicError::WrongType {
                    property: "A",
                    expected: "an array",
                })
            }
        };
        Ok(ClientHubInvocation {
            hub: opt_string(map, "H")?.ok_or(ClassicError::MissingProperty("H"))?,
            method: opt_string(map, "M")?.ok_or(ClassicError::MissingProperty("M"))?,
            args,
            state: read_state(map)?,
        })
    }
}

impl Serialize for ClientHubInvocation {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        out.serialize_entry("H", &self.hub)?;
        out.serialize_entry("M", &self.method)?;
        out.serialize_entry("A", &self.args)?;
        if let Some(state) = &self.state {
            out.serialize_entry("S", state)?;
        }
        out.end()
    }
}

fn read_state(map: &Map<String, Value>) -> Result<Option<Map<String, Value>>> {
    match map.get("S") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(state)) => Ok(Some(state.clone())),
        Some(_) => Err(ClassicError::WrongType {
            property: "S",
            expected: "an object",
        }),
    }
}

/// A progress report's `P`: `{"I":"<invocation id>","D":value}` (`D` written even if null).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// `I`: the invocation id the report belongs to.
    #[serde(rename = "I")]
    pub id: String,
    /// `D`: the reported value.
    #[serde(rename = "D")]
    pub data: Value,
}

/// The server's reply to a [`HubInvocation`] (a bare frame), or a progress report (inside `M`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HubResponse {
    /// `S`: caller state changes, only when something changed.
    pub state: Option<Map<String, Value>>,
    /// `R`: the return value; `None` (and JSON null) for void methods, not written.
    pub result: Option<Value>,
    /// `I`: the invocation id, always written (`null` if the call had none).
    pub id: Option<String>,
    /// `P`: a progress report (then `I` is `P|<id>`).
    pub progress: Option<Progress>,
    /// `H`: `true` when `E` comes from a `HubException`.
    pub is_hub_exception: Option<bool>,
    /// `E`: the error message.
    pub error: Option<String>,
    /// `T`: the stack trace (detailed errors in debug mode only).
    pub stack_trace: Option<String>,
    /// `D`: a `HubException`'s error data.
    pub error_data: Option<Value>,
}

impl HubResponse {
    /// The result of call `id`: `{"I":"0"}` for void, `{"R":…,"I":"0"}` otherwise.
    pub fn result(id: impl Into<String>, result: Option<Value>) -> Self {
        HubResponse {
            result,
            id: Some(id.into()),
            ..Self::default()
        }
    }

    /// The error a server without detailed errors sends for any exception that is not a
    /// `HubException` (`Error_HubInvocationFailed`, with the hub and method as the client sent
    /// them).
    pub fn generic_error(id: impl Into<String>, hub: &str, method: &str) -> Self {
        Self::detailed_error(
            id,
            format!("There was an error invoking Hub method '{hub}.{method}'."),
        )
    }

    /// An error with the exception's own message (detailed errors on).
    pub fn detailed_error(id: impl Into<String>, message: impl Into<String>) -> Self {
        HubResponse {
            id: Some(id.into()),
            error: Some(message.into()),
            ..Self::default()
        }
    }

    /// A `HubException`: its message, `H:true`, and its data if any.
    pub fn hub_exception(
        id: impl Into<String>,
        message: impl Into<String>,
        data: Option<Value>,
    ) -> Self {
        HubResponse {
            is_hub_exception: Some(true),
            error_data: data,
            ..Self::detailed_error(id, message)
        }
    }

    /// A progress report for call `id`: `{"I":"P|<id>","P":{"I":"<id>","D":data}}`.
    pub fn progress(id: &str, data: Value) -> Self {
        HubResponse {
            id: Some(format!("P|{id}")),
            progress: Some(Progress {
                id: id.to_owned(),
                data,
            }),
            ..Self::default()
        }
    }

    /// The JSON, byte for byte as Json.NET writes `HubResponse`.
    pub fn to_json(&self) -> String {
        to_json_net(self)
    }

    /// Reads a reply (or a progress report) as the clients do: `I` required (a string, or a
    /// number read as its text), the rest optional with their types checked.
    pub fn parse(text: &str) -> Result<Self> {
        Self::from_map(&parse_object(text)?)
    }

    fn from_map(map: &Map<String, Value>) -> Result<Self> {
        let id = opt_id(map, "I")?.ok_or(ClassicError::MissingProperty("I"))?;
        let progress = match map.get("P") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => Some(Progress {
                id: opt_id(p, "I")?.ok_or(ClassicError::MissingProperty("I"))?,
                data: p.get("D").cloned().unwrap_or(Value::Null),
            }),
            Some(_) => {
                return Err(ClassicError::WrongType {
                    property: "P",
                    expected: "an object",
                })
            }
        };
        let is_hub_exception = match map.get("H") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(ClassicError::WrongType {
                    property: "H",
                    expected: "a boolean",
                })
            }
        };
        Ok(HubResponse {
            state: read_state(map)?,
            result: map.get("R").filter(|v| !v.is_null()).cloned(),
            id: Some(id),
            progress,
            is_hub_exception,
            error: opt_string(map, "E")?,
            stack_trace: opt_string(map, "T")?,
            error_data: map.get("D").filter(|v| !v.is_null()).cloned(),
        })
    }

    /// Whether this is a progress report rather than the final reply.
    pub fn is_progress(&self) -> bool {
        self.progress.is_some()
    }
}

impl Serialize for HubResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        if let Some(state) = &self.state {
            out.serialize_entry("S", state)?;
        }
        if let Some(result) = self.result.as_ref().filter(|r| !r.is_null()) {
            out.serialize_entry("R", result)?;
        }
        out.serialize_entry("I", &self.id)?;
        if let Some(progress) = &self.progress {
            out.serialize_entry("P", progress)?;
        }
        if let Some(h) = self.is_hub_exception {
            out.serialize_entry("H", &h)?;
        }
        if let Some(error) = &self.error {
            out.serialize_entry("E", error)?;
        }
        if let Some(trace) = &self.stack_trace {
            out.serialize_entry("T", trace)?;
        }
        if let Some(data) = self.error_data.as_ref().filter(|d| !d.is_null()) {
            out.serialize_entry("D", data)?;
        }
        out.end()
    }
}

/// One element of an envelope's `M`, told apart as the jQuery hubs client does (`I` first:
/// a progress report or other response; then `H`/`M`: a client invocation).
#[derive(Debug, Clone, PartialEq)]
pub enum ServerHubMessage {
    /// A client method call.
    Invocation(ClientHubInvocation),
    /// A [`HubResponse`] that went through the bus (progress reports).
    Response(HubResponse),
    /// Any other JSON value (a persistent connection's raw message).
    Other(Value),
}

impl ServerHubMessage {
    /// Reads one element of `M`.
    pub fn parse(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| ClassicError::InvalidJson {
            detail: e.to_string(),
        })?;
        match &value {
            Value::Object(map) if map.contains_key("I") => {
                HubResponse::from_map(map).map(ServerHubMessage::Response)
            }
            Value::Object(map) if map.contains_key("H") && map.contains_key("M") => {
                ClientHubInvocation::from_map(map).map(ServerHubMessage::Invocation)
            }
            _ => Ok(ServerHubMessage::Other(value)),
        }
    }

    /// The JSON for `M`.
    pub fn to_json(&self) -> String {
        match self {
            ServerHubMessage::Invocation(i) => i.to_json(),
            ServerHubMessage::Response(r) => r.to_json(),
            ServerHubMessage::Other(v) => to_json_net(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invocations_are_written_like_the_jquery_client() {
        // Reference §1.4 [EXP]: the first invocation after /start.
        let join = HubInvocation::new("chathub", "join", vec![json!("g1")], 0);
        assert_eq!(
            join.to_json(),
            r#"{"H":"chathub","M":"join","A":["g1"],"I":0}"#
        );
        let mut with_state = HubInvocation::new("chathub", "send", vec![json!("hello")], 1);
        with_state.state = Some(json!({"name":"al"}).as_object().unwrap().clone());
        assert_eq!(
            with_state.to_json(),
            r#"{"H":"chathub","M":"send","A":["hello"],"I":1,"S":{"name":"al"}}"#
        );
        with_state.state = Some(Map::new());
        with_state.id = Some("01".into());
        assert_eq!(
            with_state.to_json(),
            r#"{"H":"chathub","M":"send","A":["hello"],"I":"01"}"#
        );
    }

    #[test]
    fn the_server_reads_numeric_ids_as_text() {
        let parsed =
            HubInvocation::parse(r#"{"H":"chathub","M":"join","A":["g1"],"I":0}"#).unwrap();
        assert_eq!(parsed.id.as_deref(), Some("0"));
        assert_eq!(parsed.args, vec![json!("g1")]);
        let parsed =
            HubInvocation::parse(r#"{"H":"h","M":"m","I":"7","A":null,"extra":1}"#).unwrap();
        assert_eq!((parsed.id.as_deref(), parsed.args.len()), (Some("7"), 0));
        let round = HubInvocation::new("h", "m", vec![json!({"a":[1,2.5,null]})], 12);
        assert_eq!(HubInvocation::parse(&round.to_json()), Ok(round));
    }

    #[test]
    fn malformed_invocations_are_typed_errors() {
        let big = format!(r#"{{"H":"h","M":"m","S":{{"k":"{}"}}}}"#, "x".repeat(4089));
        let fits = format!(r#"{{"H":"h","M":"m","S":{{"k":"{}"}}}}"#, "x".repeat(4088));
        assert!(
            HubInvocation::parse(&fits).is_ok(),
            "{{\"k\":\"…\"}} is 4096 long"
        );
        for (text, expected) in [
            ("{", "Error reading JSON"),
            ("[1]", "Expected a JSON object, found array."),
            (r#"{"M":"m"}"#, "Missing required property 'H'."),
            (r#"{"H":"h"}"#, "Missing required property 'M'."),
            (r#"{"H":1,"M":"m"}"#, "Expected 'H' to be a string."),
            (
                r#"{"H":"h","M":"m","A":{}}"#,
                "Expected 'A' to be an array.",
            ),
            (
                r#"{"H":"h","M":"m","I":true}"#,
                "Expected 'I' to be a string or a number.",
            ),
            (
                r#"{"H":"h","M":"m","S":[]}"#,
                "Expected 'S' to be an object.",
            ),
            (
                big.as_str(),
                "State has exceeded the maximum length of 4096 bytes.",
            ),
        ] {
            let error = HubInvocation::parse(text).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{text}: {error}");
        }
    }

    #[test]
    fn responses_follow_json_nets_order_and_omissions() {
        // Reference §3.3: void → {"I":"0"}; [EXP] {"I":"2","E":"There was an error…"}.
        assert_eq!(HubResponse::result("0", None).to_json(), r#"{"I":"0"}"#);
        assert_eq!(
            HubResponse::result("0", Some(Value::Null)).to_json(),
            r#"{"I":"0"}"#
        );
        assert_eq!(
            HubResponse::result("3", Some(json!(42))).to_json(),
            r#"{"R":42,"I":"3"}"#
        );
        assert_eq!(
            HubResponse::generic_error("2", "chathub", "boom").to_json(),
            r#"{"I":"2","E":"There was an error invoking Hub method 'chathub.boom'."}"#
        );
        assert_eq!(
            HubResponse::hub_exception("4", "No such room", Some(json!({"room":"r"}))).to_json(),
            r#"{"I":"4","H":true,"E":"No such room","D":{"room":"r"}}"#
        );
        let mut with_state = HubResponse::result("5", Some(json!("ok")));
        with_state.state = Some(json!({"n":1}).as_object().unwrap().clone());
        assert_eq!(with_state.to_json(), r#"{"S":{"n":1},"R":"ok","I":"5"}"#);
        assert_eq!(HubResponse::default().to_json(), r#"{"I":null}"#);
    }

    #[test]
    fn the_servers_dispatcher_facts_hold() {
        // SignalR test/Microsoft.AspNet.SignalR.Tests/Server/Hubs/HubDispatcherFacts.cs
        // (DetailedErrorsAreDisabledByDefault): the request, and an error naming 'ErrorHub.Error'
        // without the exception's own text.
        let call = HubInvocation::parse(r#"{"H":"ErrorHub","M":"Error","A":[],"I":0}"#).unwrap();
        let reply = HubResponse::generic_error(call.id.unwrap(), &call.hub, &call.method);
        assert_eq!(
            reply.to_json(),
            r#"{"I":"0","E":"There was an error invoking Hub method 'ErrorHub.Error'."}"#
        );
    }

    #[test]
    fn progress_reports_carry_the_prefixed_id() {
        let report = HubResponse::progress("0", json!(50));
        assert_eq!(report.to_json(), r#"{"I":"P|0","P":{"I":"0","D":50}}"#);
        assert_eq!(
            HubResponse::progress("1", Value::Null).to_json(),
            r#"{"I":"P|1","P":{"I":"1","D":null}}"#
        );
        assert_eq!(
            ServerHubMessage::parse(&report.to_json()),
            Ok(ServerHubMessage::Response(report))
        );
    }

    #[test]
    fn responses_and_server_messages_round_trip() {
        for response in [
            HubResponse::result("0", Some(json!([1, "a", {"b": null}]))),
            HubResponse::hub_exception("9", "m", None),
            HubResponse::generic_error("1", "h", "m"),
        ] {
            assert_eq!(HubResponse::parse(&response.to_json()), Ok(response));
        }
        // signalr-client@0.0.20 lines 735/739 (reference §2): a real server's M element.
        let text = r#"{"H":"TestHub","M":"addMessage","A":["ie","sgds"]}"#;
        let parsed = ServerHubMessage::parse(text).unwrap();
        assert_eq!(
            parsed,
            ServerHubMessage::Invocation(ClientHubInvocation::new(
                "TestHub",
                "addMessage",
                vec![json!("ie"), json!("sgds")]
            ))
        );
        assert_eq!(parsed.to_json(), text);
        assert_eq!(
            ServerHubMessage::parse("\"raw\""),
            Ok(ServerHubMessage::Other(json!("raw")))
        );
        assert_eq!(
            HubResponse::parse(r#"{"R":1}"#),
            Err(ClassicError::MissingProperty("I"))
        );
        assert!(HubResponse::parse(r#"{"I":0,"H":"yes"}"#).is_err());
        assert!(HubResponse::parse(r#"{"I":0,"P":1}"#).is_err());
        assert!(ServerHubMessage::parse(r#"{"H":"h","M":"m","A":1}"#).is_err());
    }

    #[test]
    fn strings_are_escaped_like_json_net() {
        let call = ClientHubInvocation::new("h", "m", vec![json!("a\u{1}\u{2028}b\u{85}/é")]);
        assert_eq!(
            call.to_json(),
            r#"{"H":"h","M":"m","A":["a\u0001\u2028b\u0085/é"]}"#
        );
        let parsed = ServerHubMessage::parse(&call.to_json()).unwrap();
        assert_eq!(parsed, ServerHubMessage::Invocation(call));
    }
}
