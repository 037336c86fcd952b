//! The classic negotiate body (`GET …/negotiate?clientProtocol=…&connectionData=…`), and the
//! bodies of `/start` and `/ping`.
//!
//! Written as `PersistentConnection.ProcessNegotiationRequest` (2.4.3) writes its anonymous
//! object with Json.NET: `Url`, `ConnectionToken`, `ConnectionId`, `KeepAliveTimeout` (`null`
//! when keep-alive is off), `DisconnectTimeout`, `ConnectionTimeout`, `TryWebSockets`,
//! `ProtocolVersion`, `TransportConnectTimeout`, `LongPollDelay`; times in seconds as doubles
//! (`20.0`). Content type `application/json; charset=UTF-8` (reference §1.3).
//!
//! Read as the jQuery client reads it: `availableTransports` means an ASP.NET Core server;
//! unknown keys (1.x's `WebSocketServerUrl`, 2.0's `RedirectUrl`/`AccessToken`/`Error`, which
//! only the Azure service sends) are ignored; 1.x bodies lack the last three times.

use std::time::Duration;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::version::ProtocolVersion;
use super::{opt_f64, parse_object, req_string, ClassicError, Result};
use serde_json::Value;

/// The `/start` reply, byte for byte (`StartJsonPayload`, with its spaces).
pub const START_RESPONSE: &str = "{ \"Response\": \"started\" }";
/// The `/ping` reply, byte for byte (`PingJsonPayload`).
pub const PING_RESPONSE: &str = "{ \"Response\": \"pong\" }";
/// The `/abort` reply: an empty `text/plain` body.
pub const ABORT_RESPONSE: &str = "";
/// The content type of negotiate, start and ping replies (`SendJsonResponse`).
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=UTF-8";

/// The `Response` of a `/start` or `/ping` body (`started`, `pong`), as the jQuery client
/// reads it; anything else is an error there.
pub fn parse_response_word(body: &str) -> Result<String> {
    req_string(&parse_object(body)?, "Response")
}

/// The server's timing configuration (`DefaultConfigurationManager`, `ConfigurationExtensions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTimeouts {
    /// `DisconnectTimeout`: how long a dropped connection may reconnect (default 30 s).
    pub disconnect: Duration,
    /// `KeepAlive`: the keep-alive interval, `None` when disabled (default disconnect / 3).
    pub keep_alive: Option<Duration>,
    /// `ConnectionTimeout`: long polling only (default 110 s).
    pub connection: Duration,
    /// `TransportConnectTimeout` (default 5 s).
    pub transport_connect: Duration,
    /// `LongPollDelay` (default 0).
    pub long_poll_delay: Duration,
}

impl Default for ServerTimeouts {
    fn default() -> Self {
        Self::with_disconnect(Duration::from_secs(30))
    }
}

impl ServerTimeouts {
    /// The defaults with another disconnect timeout; keep-alive follows it (a third), as
    /// setting `DisconnectTimeout` does on the server.
    pub fn with_disconnect(disconnect: Duration) -> Self {
        ServerTimeouts {
            disconnect,
            keep_alive: Some(disconnect / 3),
            connection: Duration::from_secs(110),
            transport_connect: Duration::from_secs(5),
            long_poll_delay: Duration::ZERO,
        }
    }

    /// `KeepAliveTimeout()`: twice the keep-alive, the silence after which clients reconnect.
    pub fn keep_alive_timeout(&self) -> Option<Duration> {
        self.keep_alive.map(|k| k * 2)
    }
}

/// The negotiate response of a 2.x server.
#[derive(Debug, Clone, PartialEq)]
pub struct NegotiateResponse {
    /// `Url`: the endpoint's path, which the client puts before `/connect`, `/start`, ….
    pub url: String,
    /// `ConnectionToken`: opaque; the client passes it as `connectionToken`.
    pub connection_token: String,
    /// `ConnectionId`: a Guid in "d" format on the real server.
    pub connection_id: String,
    /// `KeepAliveTimeout` in seconds, `None` (written `null`) when keep-alive is off.
    pub keep_alive_timeout: Option<f64>,
    /// `DisconnectTimeout` in seconds.
    pub disconnect_timeout: f64,
    /// `ConnectionTimeout` in seconds (absent from 1.x bodies).
    pub connection_timeout: Option<f64>,
    /// `TryWebSockets`.
    pub try_web_sockets: bool,
    /// `ProtocolVersion`, as text (`Version.ToString()`).
    pub protocol_version: String,
    /// `TransportConnectTimeout` in seconds (absent from 1.x bodies).
    pub transport_connect_timeout: Option<f64>,
    /// `LongPollDelay` in seconds (absent from 1.x bodies).
    pub long_poll_delay: Option<f64>,
}

impl NegotiateResponse {
    /// What a 2.x server answers at `negotiate_path` (the request's path) to a client that
    /// sent `client_protocol`, with WebSockets on.
    pub fn new(
        negotiate_path: &str,
        connection_id: impl Into<String>,
        connection_token: impl Into<String>,
        client_protocol: Option<&str>,
        timeouts: &ServerTimeouts,
    ) -> Self {
        NegotiateResponse {
            url: endpoint_url(negotiate_path),
            connection_token: connection_token.into(),
            connection_id: connection_id.into(),
            keep_alive_timeout: timeouts.keep_alive_timeout().map(|d| d.as_secs_f64()),
            disconnect_timeout: timeouts.disconnect.as_secs_f64(),
            connection_timeout: Some(timeouts.connection.as_secs_f64()),
            try_web_sockets: true,
            protocol_version: ProtocolVersion::resolve(client_protocol).to_string(),
            transport_connect_timeout: Some(timeouts.transport_connect.as_secs_f64()),
            long_poll_delay: Some(timeouts.long_poll_delay.as_secs_f64()),
        }
    }

    /// The body, in the server's key order. Seconds are written as serde_json writes an
    /// `f64` (`30.0`, `2.5`), which is Json.NET's form for every ordinary value.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }

    /// Reads a body as the jQuery client does. The `ProtocolVersion` is not checked here; see
    /// [`ProtocolVersion::accepted_by_jquery_client`].
    pub fn parse(body: &str) -> Result<Self> {
        let map = parse_object(body)?;
        if map.contains_key("availableTransports") {
            return Err(ClassicError::CoreServer);
        }
        let try_web_sockets = match map.get("TryWebSockets") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ClassicError::WrongType {
                    property: "TryWebSockets",
                    expected: "a boolean",
                })
            }
        };
        Ok(NegotiateResponse {
            url: req_string(&map, "Url")?,
            connection_token: req_string(&map, "ConnectionToken")?,
            connection_id: req_string(&map, "ConnectionId")?,
            keep_alive_timeout: opt_f64(&map, "KeepAliveTimeout")?,
            disconnect_timeout: opt_f64(&map, "DisconnectTimeout")?
                .ok_or(ClassicError::MissingProperty("DisconnectTimeout"))?,
            connection_timeout: opt_f64(&map, "ConnectionTimeout")?,
            try_web_sockets,
            protocol_version: req_string(&map, "ProtocolVersion")?,
            transport_connect_timeout: opt_f64(&map, "TransportConnectTimeout")?,
            long_poll_delay: opt_f64(&map, "LongPollDelay")?,
        })
    }
}

impl Serialize for NegotiateResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        out.serialize_entry("Url", &self.url)?;
        out.serialize_entry("ConnectionToken", &self.connection_token)?;
        out.serialize_entry("ConnectionId", &self.connection_id)?;
        out.serialize_entry("KeepAliveTimeout", &self.keep_alive_timeout)?;
        out.serialize_entry("DisconnectTimeout", &self.disconnect_timeout)?;
        if let Some(t) = self.connection_timeout {
            out.serialize_entry("ConnectionTimeout", &t)?;
        }
        out.serialize_entry("TryWebSockets", &self.try_web_sockets)?;
        out.serialize_entry("ProtocolVersion", &self.protocol_version)?;
        if let Some(t) = self.transport_connect_timeout {
            out.serialize_entry("TransportConnectTimeout", &t)?;
        }
        if let Some(t) = self.long_poll_delay {
            out.serialize_entry("LongPollDelay", &t)?;
        }
        out.end()
    }
}

/// `Url` for a negotiate request's path: `LocalPath.Replace("/negotiate", "")` (every
/// occurrence, case-sensitive, as .NET's `String.Replace`).
pub fn endpoint_url(negotiate_path: &str) -> String {
    negotiate_path.replace("/negotiate", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2a5c3e-8d1b-4c0f-9f7e-2a6b1d4e5f60";

    #[test]
    fn the_default_body_matches_the_2x_server() {
        // Reference §1.3: the default values and the anonymous object's key order.
        let response = NegotiateResponse::new(
            "/signalr/negotiate",
            ID,
            "tok",
            Some("2.1"),
            &ServerTimeouts::default(),
        );
        assert_eq!(
            response.to_json(),
            format!(
                r#"{{"Url":"/signalr","ConnectionToken":"tok","ConnectionId":"{ID}","KeepAliveTimeout":20.0,"DisconnectTimeout":30.0,"ConnectionTimeout":110.0,"TryWebSockets":true,"ProtocolVersion":"2.0","TransportConnectTimeout":5.0,"LongPollDelay":0.0}}"#
            )
        );
        assert_eq!(NegotiateResponse::parse(&response.to_json()), Ok(response));
    }

    #[test]
    fn keep_alive_off_is_written_null_and_short_timeouts_keep_fractions() {
        let mut timeouts = ServerTimeouts::with_disconnect(Duration::from_secs(6));
        assert_eq!(timeouts.keep_alive_timeout(), Some(Duration::from_secs(4)));
        timeouts.keep_alive = None;
        timeouts.transport_connect = Duration::from_millis(2500);
        let json =
            NegotiateResponse::new("/app/signalr/negotiate", "c", "t", Some("1.5"), &timeouts)
                .to_json();
        assert!(json.starts_with(r#"{"Url":"/app/signalr","#), "{json}");
        assert!(
            json.contains(r#""KeepAliveTimeout":null,"DisconnectTimeout":6.0,"#),
            "{json}"
        );
        assert!(
            json.contains(r#""ProtocolVersion":"1.5","TransportConnectTimeout":2.5,"#),
            "{json}"
        );
        let parsed = NegotiateResponse::parse(&json).unwrap();
        assert_eq!(parsed.keep_alive_timeout, None);
    }

    #[test]
    fn a_1x_body_parses_and_an_aspnet_core_body_is_refused() {
        // SignalR 1.2's negotiate (reference §1.2): no ConnectionTimeout, TransportConnectTimeout
        // or LongPollDelay, plus WebSocketServerUrl.
        let body = r#"{"Url":"/signalr","ConnectionToken":"t","ConnectionId":"c","KeepAliveTimeout":20.0,"DisconnectTimeout":30.0,"TryWebSockets":false,"WebSocketServerUrl":null,"ProtocolVersion":"1.2"}"#;
        let parsed = NegotiateResponse::parse(body).unwrap();
        assert_eq!(parsed.protocol_version, "1.2");
        assert_eq!(parsed.transport_connect_timeout, None);
        assert!(!parsed.try_web_sockets);
        assert_eq!(
            NegotiateResponse::parse(
                r#"{"negotiateVersion":1,"connectionId":"c","availableTransports":[]}"#
            ),
            Err(ClassicError::CoreServer)
        );
    }

    #[test]
    fn malformed_bodies_are_typed_errors() {
        for (body, expected) in [
            ("", "Error reading JSON"),
            ("[]", "Expected a JSON object, found array."),
            (
                r#"{"Url":"/s","ConnectionToken":"t","ConnectionId":"c","DisconnectTimeout":30}"#,
                "Missing required property 'ProtocolVersion'.",
            ),
            (
                r#"{"Url":"/s","ConnectionToken":"t","ConnectionId":"c","ProtocolVersion":"2.0"}"#,
                "Missing required property 'DisconnectTimeout'.",
            ),
            (r#"{"Url":1}"#, "Expected 'Url' to be a string."),
            (
                r#"{"Url":"/s","ConnectionToken":"t","ConnectionId":"c","DisconnectTimeout":"30","ProtocolVersion":"2.0"}"#,
                "Expected 'DisconnectTimeout' to be a number.",
            ),
            (
                r#"{"TryWebSockets":"true"}"#,
                "Expected 'TryWebSockets' to be a boolean.",
            ),
        ] {
            let error = NegotiateResponse::parse(body).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{body}: {error}");
        }
    }

    #[test]
    fn start_and_ping_bodies_are_the_servers_bytes() {
        assert_eq!(
            parse_response_word(START_RESPONSE).as_deref(),
            Ok("started")
        );
        assert_eq!(parse_response_word(PING_RESPONSE).as_deref(), Ok("pong"));
        assert!(parse_response_word("{}").is_err());
        assert_eq!(endpoint_url("/signalr/negotiate"), "/signalr");
        assert_eq!(endpoint_url("/a/negotiate/negotiate"), "/a");
    }
}
