//! Negotiate: the body of `POST {hub}/negotiate?negotiateVersion=1`, and the query strings of
//! the negotiate and WebSocket requests.
//!
//! The body is written in `NegotiateProtocol.WriteResponse`'s order (`useStatefulReconnect`
//! only when true, `negotiateVersion`, `url`, `accessToken`, `connectionId`,
//! `connectionToken` only for version 1+, `availableTransports`), and read with the .NET
//! client's required-field rules. Query names are matched case-insensitively, as ASP.NET Core's
//! query collection does.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ProtocolError, Result};
use crate::json;

/// The highest negotiate version ASP.NET Core speaks; a higher request is answered with it.
pub const NEGOTIATE_VERSION: i32 = 1;

/// One transport the server offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailableTransport {
    /// `WebSockets`, `ServerSentEvents` or `LongPolling`.
    pub transport: String,
    /// `Text` and/or `Binary`.
    pub transfer_formats: Vec<String>,
}

impl AvailableTransport {
    /// `{"transport":"WebSockets","transferFormats":["Text","Binary"]}`.
    pub fn websockets() -> Self {
        AvailableTransport {
            transport: "WebSockets".to_owned(),
            transfer_formats: vec!["Text".to_owned(), "Binary".to_owned()],
        }
    }
}

/// A successful (or redirecting) negotiate response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateResponse {
    /// `useStatefulReconnect`, written only when true.
    pub use_stateful_reconnect: bool,
    /// `negotiateVersion` (0 when absent on the wire).
    pub negotiate_version: i32,
    /// `url`: redirect to another server (Azure SignalR), written only when non-empty.
    pub url: Option<String>,
    /// `accessToken` for the redirect, written only when non-empty.
    pub access_token: Option<String>,
    /// `connectionId`: the public id that `Clients.Client` and groups use.
    pub connection_id: Option<String>,
    /// `connectionToken`: the secret the WebSocket request passes as `id` (version 1+).
    pub connection_token: Option<String>,
    /// `availableTransports`.
    pub available_transports: Vec<AvailableTransport>,
}

impl NegotiateResponse {
    /// A version 1 response offering WebSockets only.
    pub fn v1(
        connection_id: impl Into<String>,
        connection_token: impl Into<String>,
        use_stateful_reconnect: bool,
    ) -> Self {
        NegotiateResponse {
            use_stateful_reconnect,
            negotiate_version: NEGOTIATE_VERSION,
            url: None,
            access_token: None,
            connection_id: Some(connection_id.into()),
            connection_token: Some(connection_token.into()),
            available_transports: vec![AvailableTransport::websockets()],
        }
    }

    /// The `id` to put on the WebSocket URL: the token for version 1+, the connection id for
    /// version 0.
    pub fn connect_id(&self) -> Option<&str> {
        if self.negotiate_version > 0 {
            self.connection_token.as_deref()
        } else {
            self.connection_id.as_deref()
        }
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|s| !s.is_empty())
}

impl Serialize for NegotiateResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        if self.use_stateful_reconnect {
            out.serialize_entry("useStatefulReconnect", &true)?;
        }
        out.serialize_entry("negotiateVersion", &self.negotiate_version)?;
        if let Some(url) = non_empty(&self.url) {
            out.serialize_entry("url", url)?;
        }
        if let Some(token) = non_empty(&self.access_token) {
            out.serialize_entry("accessToken", token)?;
        }
        if let Some(id) = non_empty(&self.connection_id) {
            out.serialize_entry("connectionId", id)?;
        }
        if self.negotiate_version > 0 {
            if let Some(token) = non_empty(&self.connection_token) {
                out.serialize_entry("connectionToken", token)?;
            }
        }
        out.serialize_entry("availableTransports", &self.available_transports)?;
        out.end()
    }
}

/// A negotiate body: a response or the error form `{"error":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiateReply {
    /// The connection was created (or the client is redirected).
    Negotiated(NegotiateResponse),
    /// `{"error":"…"}`, e.g. for a bad `negotiateVersion`.
    Error(String),
}

impl NegotiateReply {
    /// The JSON body, byte for byte as ASP.NET Core writes it.
    pub fn to_json(&self) -> String {
        match self {
            NegotiateReply::Negotiated(response) => json::to_string(response),
            NegotiateReply::Error(error) => {
                let mut map = Map::new();
                map.insert("error".into(), error.clone().into());
                json::to_string(&map)
            }
        }
    }

    /// Reads a body as the .NET client does: `error` wins; without `url`, `connectionId`,
    /// `connectionToken` (version 1+) and `availableTransports` are required; a
    /// `ProtocolVersion` property means a classic ASP.NET SignalR server.
    pub fn parse(body: &str) -> Result<Self> {
        let map = json::parse_object(body)?;
        if map.contains_key("ProtocolVersion") {
            return Err(ProtocolError::ClassicServer);
        }
        let response = NegotiateResponse {
            use_stateful_reconnect: json::read_bool(&map, "useStatefulReconnect")?.unwrap_or(false),
            negotiate_version: json::read_i32(&map, "negotiateVersion")?.unwrap_or(0),
            url: json::read_string(&map, "url")?,
            access_token: json::read_string(&map, "accessToken")?,
            connection_id: json::read_string(&map, "connectionId")?,
            connection_token: json::read_string(&map, "connectionToken")?,
            available_transports: Vec::new(),
        };
        let transports = read_transports(&map)?;
        if let Some(error) = json::read_string(&map, "error")? {
            return Ok(NegotiateReply::Error(error));
        }
        if response.url.is_none() {
            if response.connection_id.is_none() {
                return Err(ProtocolError::MissingProperty("connectionId"));
            }
            if response.negotiate_version > 0 && response.connection_token.is_none() {
                return Err(ProtocolError::MissingProperty("connectionToken"));
            }
            if transports.is_none() {
                return Err(ProtocolError::MissingProperty("availableTransports"));
            }
        }
        Ok(NegotiateReply::Negotiated(NegotiateResponse {
            available_transports: transports.unwrap_or_default(),
            ..response
        }))
    }
}

fn read_transports(map: &Map<String, Value>) -> Result<Option<Vec<AvailableTransport>>> {
    let items = match map.get("availableTransports") {
        None => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ProtocolError::NotAnArray {
                found: json::token_name(other),
            })
        }
    };
    let mut transports = Vec::with_capacity(items.len());
    for item in items {
        // The .NET client skips anything in the array that is not an object.
        let Value::Object(object) = item else {
            continue;
        };
        let transport = json::read_string(object, "transport")?
            .ok_or(ProtocolError::MissingProperty("transport"))?;
        let transfer_formats = match object.get("transferFormats") {
            None => return Err(ProtocolError::MissingProperty("transferFormats")),
            Some(Value::Array(formats)) => formats
                .iter()
                .map(|f| match f {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(ProtocolError::WrongType {
                        property: "transferFormats",
                        expected: "String",
                    }),
                })
                .collect::<Result<Vec<_>>>()?,
            Some(other) => {
                return Err(ProtocolError::NotAnArray {
                    found: json::token_name(other),
                })
            }
        };
        transports.push(AvailableTransport {
            transport,
            transfer_formats,
        });
    }
    Ok(Some(transports))
}

/// A decoded query string whose names are compared case-insensitively (ASP.NET Core's
/// `IQueryCollection`). Repeated names are kept; [`Query::get`] joins their values with `,`
/// as `StringValues.ToString()` does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `a=1&b=x%20y` (a leading `?` is allowed). `+` is a space; `%XX` is decoded as
    /// UTF-8; a malformed escape is kept as written.
    pub fn parse(query: &str) -> Self {
        let query = query.strip_prefix('?').unwrap_or(query);
        let pairs = query
            .split('&')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (name, value) = part.split_once('=').unwrap_or((part, ""));
                (percent_decode(name), percent_decode(value))
            })
            .collect();
        Query { pairs }
    }

    /// The value(s) of `name`, any case; several values are joined with `,`.
    pub fn get(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            None
        } else {
            Some(values.join(","))
        }
    }

    /// `id`: the connection token (or, for negotiate version 0, the connection id).
    pub fn id(&self) -> Option<String> {
        self.get("id")
    }

    /// `user`: the conformance contract's user id.
    pub fn user(&self) -> Option<String> {
        self.get("user")
    }

    /// `useStatefulReconnect`, read like .NET's `bool.TryParse`: `true`/`false` in any case,
    /// surrounding whitespace ignored; anything else (or absence) is `false`.
    pub fn use_stateful_reconnect(&self) -> bool {
        self.get("useStatefulReconnect")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// The negotiate version the server answers with, or the error text for `{"error":…}`,
    /// as `HttpConnectionDispatcher.ProcessNegotiate` decides: absent is version 0; a
    /// non-integer is an error; below `minimum` is an error; above 1 is answered with 1.
    pub fn server_negotiate_version(&self, minimum: i32) -> std::result::Result<i32, String> {
        let requested = match self.get("negotiateVersion") {
            None => 0,
            Some(raw) => raw
                .trim()
                .parse::<i32>()
                .map_err(|_| "The client requested a non-integer protocol version.".to_owned())?,
        };
        if requested < minimum {
            return Err(format!(
                "The client requested version '{requested}', but the server does not support this version."
            ));
        }
        Ok(requested.min(NEGOTIATE_VERSION))
    }
}

/// The negotiate URL for a hub URL, as the JS client builds it: `/negotiate` appended to the
/// path, then `negotiateVersion` and (if asked) `useStatefulReconnect=true` appended to any
/// query already there (e.g. `?user=…`).
pub fn negotiate_url(
    hub_url: &str,
    negotiate_version: i32,
    use_stateful_reconnect: bool,
) -> String {
    let (path, query) = match hub_url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (hub_url, None),
    };
    let separator = if path.ends_with('/') { "" } else { "/" };
    let mut url = format!("{path}{separator}negotiate");
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(query);
    }
    url = append_query_param(&url, "negotiateVersion", &negotiate_version.to_string());
    if use_stateful_reconnect {
        url = append_query_param(&url, "useStatefulReconnect", "true");
    }
    url
}

/// The WebSocket URL for a hub URL: `http(s)` becomes `ws(s)`, and `id=<id>` is appended when
/// negotiate gave one (without negotiate, the server creates a connection on the spot).
pub fn connect_url(hub_url: &str, id: Option<&str>) -> String {
    let url = match hub_url.strip_prefix("http") {
        Some(rest) => format!("ws{rest}"),
        None => hub_url.to_owned(),
    };
    match id {
        Some(id) => append_query_param(&url, "id", id),
        None => url,
    }
}

/// Appends `name=value` (value percent-encoded) with `?` or `&` as needed.
pub fn append_query_param(url: &str, name: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{name}={}", percent_encode(value))
}

/// Percent-encodes everything but ASCII letters, digits and `-._~`.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `+` and `%XX`; malformed escapes stay as written, invalid UTF-8 becomes U+FFFD.
pub fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: &u8) -> Option<u8> {
    char::from(*digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_response_is_written_in_aspnet_core_field_order() {
        let response = NegotiateResponse {
            available_transports: vec![
                AvailableTransport::websockets(),
                AvailableTransport {
                    transport: "ServerSentEvents".into(),
                    transfer_formats: vec!["Text".into()],
                },
            ],
            ..NegotiateResponse::v1(
                "807809a5-31bf-470d-9e23-afaee35d8a0d",
                "05265228-1e2c-46c5-82a1-6a5bcc3f0143",
                false,
            )
        };
        assert_eq!(
            NegotiateReply::Negotiated(response).to_json(),
            r#"{"negotiateVersion":1,"connectionId":"807809a5-31bf-470d-9e23-afaee35d8a0d","connectionToken":"05265228-1e2c-46c5-82a1-6a5bcc3f0143","availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]},{"transport":"ServerSentEvents","transferFormats":["Text"]}]}"#
        );
    }

    #[test]
    fn use_stateful_reconnect_is_written_first_and_only_when_true() {
        let json = NegotiateReply::Negotiated(NegotiateResponse::v1("c", "t", true)).to_json();
        assert_eq!(
            json,
            r#"{"useStatefulReconnect":true,"negotiateVersion":1,"connectionId":"c","connectionToken":"t","availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}"#
        );
    }

    #[test]
    fn version_0_has_no_connection_token_and_connects_with_the_connection_id() {
        let response = NegotiateResponse {
            negotiate_version: 0,
            ..NegotiateResponse::v1("c", "t", false)
        };
        assert_eq!(response.connect_id(), Some("c"));
        let json = NegotiateReply::Negotiated(response).to_json();
        assert_eq!(
            json,
            r#"{"negotiateVersion":0,"connectionId":"c","availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}"#
        );
        assert_eq!(
            NegotiateResponse::v1("c", "t", false).connect_id(),
            Some("t")
        );
    }

    #[test]
    fn the_error_form_holds_only_the_error() {
        let reply =
            NegotiateReply::Error("The client requested a non-integer protocol version.".into());
        assert_eq!(
            reply.to_json(),
            r#"{"error":"The client requested a non-integer protocol version."}"#
        );
        assert_eq!(NegotiateReply::parse(&reply.to_json()), Ok(reply));
    }

    #[test]
    fn responses_round_trip_and_unknown_properties_are_ignored() {
        let response = NegotiateResponse::v1("c", "t", true);
        let reply = NegotiateReply::Negotiated(response);
        assert_eq!(NegotiateReply::parse(&reply.to_json()), Ok(reply));
        let with_extra = r#"{"negotiateVersion":1,"future":{"x":1},"connectionId":"c","connectionToken":"t","availableTransports":[]}"#;
        assert!(matches!(
            NegotiateReply::parse(with_extra),
            Ok(NegotiateReply::Negotiated(NegotiateResponse { available_transports, .. })) if available_transports.is_empty()
        ));
    }

    #[test]
    fn required_fields_are_enforced_like_the_dotnet_client() {
        let cases = [
            (
                r#"{"negotiateVersion":1,"connectionToken":"t","availableTransports":[]}"#,
                "Missing required property 'connectionId'.",
            ),
            (
                r#"{"negotiateVersion":1,"connectionId":"c","availableTransports":[]}"#,
                "Missing required property 'connectionToken'.",
            ),
            (
                r#"{"negotiateVersion":1,"connectionId":"c","connectionToken":"t"}"#,
                "Missing required property 'availableTransports'.",
            ),
            (
                r#"{"connectionId":"c","availableTransports":[{"transferFormats":[]}]}"#,
                "Missing required property 'transport'.",
            ),
            (
                r#"{"connectionId":"c","availableTransports":[{"transport":"WebSockets"}]}"#,
                "Missing required property 'transferFormats'.",
            ),
            (
                r#"{"connectionId":"c","availableTransports":{}}"#,
                "Unexpected JSON Token Type 'Object'. Expected a JSON Array.",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                NegotiateReply::parse(body).unwrap_err().to_string(),
                expected,
                "{body}"
            );
        }
        assert!(
            NegotiateReply::parse(r#"{"connectionId":"c","availableTransports":[]}"#).is_ok(),
            "version 0 needs no token"
        );
        assert!(
            NegotiateReply::parse(r#"{"url":"https://x/hub","accessToken":"a"}"#).is_ok(),
            "a redirect needs no id"
        );
        assert_eq!(
            NegotiateReply::parse(r#"{"ProtocolVersion":"1.5","Url":"/signalr"}"#),
            Err(ProtocolError::ClassicServer)
        );
    }

    #[test]
    fn query_names_are_case_insensitive_and_values_are_decoded() {
        let query = Query::parse("?ID=abc%2Bd&User=al+ice%C3%A9&usestatefulreconnect=True&x=%zz");
        assert_eq!(query.id().as_deref(), Some("abc+d"));
        assert_eq!(query.user().as_deref(), Some("al iceé"));
        assert!(query.use_stateful_reconnect());
        assert_eq!(query.get("x").as_deref(), Some("%zz"));
        assert_eq!(query.get("missing"), None);
    }

    #[test]
    fn use_stateful_reconnect_follows_bool_try_parse() {
        for (raw, expected) in [
            ("true", true),
            ("TRUE", true),
            (" true ", true),
            ("1", false),
            ("yes", false),
            ("", false),
        ] {
            let query = Query::parse(&format!("useStatefulReconnect={raw}"));
            assert_eq!(query.use_stateful_reconnect(), expected, "{raw:?}");
        }
        assert!(
            !Query::parse("useStatefulReconnect=true&useStatefulReconnect=true")
                .use_stateful_reconnect(),
            "two values join to 'true,true', which does not parse"
        );
        assert!(!Query::parse("").use_stateful_reconnect());
    }

    #[test]
    fn the_server_negotiate_version_follows_the_dispatcher() {
        assert_eq!(Query::parse("").server_negotiate_version(0), Ok(0));
        assert_eq!(
            Query::parse("negotiateVersion=1").server_negotiate_version(0),
            Ok(1)
        );
        assert_eq!(
            Query::parse("NegotiateVersion=5").server_negotiate_version(0),
            Ok(1)
        );
        assert_eq!(
            Query::parse("negotiateVersion=one").server_negotiate_version(0),
            Err("The client requested a non-integer protocol version.".to_string())
        );
        assert_eq!(
            Query::parse("").server_negotiate_version(1),
            Err(
                "The client requested version '0', but the server does not support this version."
                    .to_string()
            )
        );
    }

    #[test]
    fn urls_are_built_like_the_js_client() {
        assert_eq!(
            negotiate_url("http://127.0.0.1:5000/hub", 1, false),
            "http://127.0.0.1:5000/hub/negotiate?negotiateVersion=1"
        );
        assert_eq!(
            negotiate_url("http://h/hub/?user=a%20b", 1, true),
            "http://h/hub/negotiate?user=a%20b&negotiateVersion=1&useStatefulReconnect=true"
        );
        assert_eq!(
            connect_url("https://h/hub?user=u", Some("tok/en")),
            "wss://h/hub?user=u&id=tok%2Fen"
        );
        assert_eq!(connect_url("http://h/hub", None), "ws://h/hub");
        assert_eq!(
            append_query_param("ws://h/hub", "user", "ä b"),
            "ws://h/hub?user=%C3%A4%20b"
        );
        assert_eq!(percent_decode(&percent_encode("a/b c+ä%")), "a/b c+ä%");
    }
}
