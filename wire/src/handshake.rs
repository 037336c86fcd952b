//! The handshake: the client's first record names the hub protocol and its version; the
//! server answers `{}` or `{"error":"…"}` (then closes).
//!
//! Parsing and writing follow `HandshakeProtocol`; the rejection texts are those of
//! `HubConnectionContext.HandshakeAsync`, so a server built on this crate refuses a client in
//! ASP.NET Core's words.

use serde_json::Map;

use crate::error::{ProtocolError, Result};
use crate::json;
use crate::protocol::HubProtocol;

/// The JSON hub protocol's name.
pub const JSON_PROTOCOL: &str = "json";

/// The highest JSON protocol version: 2 adds stateful reconnect (Ack and Sequence).
pub const JSON_PROTOCOL_VERSION: i32 = 2;

/// The MessagePack hub protocol's name, as the client writes it.
pub const MESSAGEPACK_PROTOCOL: &str = crate::msgpack::MESSAGEPACK_PROTOCOL;

/// The first version that supports stateful reconnect. A client sends it only when negotiate
/// said `useStatefulReconnect`; a server turns the feature off for a lower version.
pub const STATEFUL_RECONNECT_VERSION: i32 = 2;

/// The server's answer when the handshake times out or is larger than the receive limit.
pub const HANDSHAKE_CANCELED: &str = "Handshake was canceled.";

/// The server's answer when the handshake cannot be parsed (without `EnableDetailedErrors`).
pub const HANDSHAKE_FAILED: &str = "An unexpected error occurred during connection handshake.";

/// The client's handshake request, `{"protocol":"json","version":1}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// `protocol`, e.g. `json`.
    pub protocol: String,
    /// `version`.
    pub version: i32,
}

impl HandshakeRequest {
    /// A request for the JSON protocol at `version` (1, or 2 for stateful reconnect).
    pub fn json(version: i32) -> Self {
        HandshakeRequest {
            protocol: JSON_PROTOCOL.to_owned(),
            version,
        }
    }

    /// A request for the MessagePack protocol at `version` (1, or 2 for stateful reconnect).
    pub fn messagepack(version: i32) -> Self {
        HandshakeRequest {
            protocol: MESSAGEPACK_PROTOCOL.to_owned(),
            version,
        }
    }

    /// A request for `protocol` at `version`.
    pub fn for_protocol(protocol: HubProtocol, version: i32) -> Self {
        HandshakeRequest {
            protocol: protocol.name().to_owned(),
            version,
        }
    }

    /// Parses a handshake record (without its separator) as `HandshakeProtocol` does: unknown
    /// properties are skipped; `protocol` must be a string and `version` an Int32; a missing
    /// (or `null`) version and a missing protocol fail with the payload in the message.
    pub fn parse(record: &str) -> Result<Self> {
        let map = json::parse_object(record)?;
        let protocol = json::read_string(&map, "protocol")?;
        let version = json::read_i32(&map, "version")?;
        let missing = |property| ProtocolError::HandshakeMissingProperty {
            property,
            content: record.to_owned(),
        };
        Ok(HandshakeRequest {
            protocol: protocol.ok_or_else(|| missing("protocol"))?,
            version: version.ok_or_else(|| missing("version"))?,
        })
    }

    /// `{"protocol":"…","version":N}` (no separator).
    pub fn to_json(&self) -> String {
        let mut map = Map::new();
        map.insert("protocol".into(), self.protocol.clone().into());
        map.insert("version".into(), self.version.into());
        // serde_json's default map is sorted, and "protocol" < "version" is .NET's order too.
        json::to_string(&map)
    }

    /// What an ASP.NET Core server that offers only the JSON protocol answers: `Ok` to accept,
    /// or the exact error text to put in the [`HandshakeResponse`].
    ///
    /// The protocol name is matched case-insensitively (`DefaultHubProtocolResolver`), and
    /// `JsonHubProtocol.IsVersionSupported(v)` is `v <= 2`, so versions 0 and below pass too.
    pub fn check_json(&self) -> std::result::Result<(), String> {
        self.check(&[HubProtocol::Json]).map(|_| ())
    }

    /// What an ASP.NET Core server that offers `offered` answers: the protocol the connection
    /// will speak, or the exact error text to put in the [`HandshakeResponse`]. The name is
    /// matched case-insensitively; the version error names the resolved protocol.
    pub fn check(&self, offered: &[HubProtocol]) -> std::result::Result<HubProtocol, String> {
        let protocol = HubProtocol::from_name(&self.protocol)
            .filter(|p| offered.contains(p))
            .ok_or_else(|| protocol_not_supported(&self.protocol))?;
        if self.version > protocol.version() {
            return Err(version_not_supported(protocol.name(), self.version));
        }
        Ok(protocol)
    }
}

/// `The protocol '<p>' is not supported.`, with the name as the client sent it.
pub fn protocol_not_supported(protocol: &str) -> String {
    format!("The protocol '{protocol}' is not supported.")
}

/// `The server does not support version <v> of the '<p>' protocol.`; .NET puts the resolved
/// protocol's own name here (`json`), not the client's spelling.
pub fn version_not_supported(protocol: &str, version: i32) -> String {
    format!("The server does not support version {version} of the '{protocol}' protocol.")
}

/// The server's answer to an unparsable handshake. With `EnableDetailedErrors` .NET appends
/// the exception's type name and message (`InvalidDataException: …`); pass them as `detail`.
pub fn handshake_failed(detail: Option<&str>) -> String {
    match detail {
        Some(detail) => format!("{HANDSHAKE_FAILED} {detail}"),
        None => HANDSHAKE_FAILED.to_owned(),
    }
}

/// The server's handshake response: `{}` on success, `{"error":"…"}` on failure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandshakeResponse {
    /// `error`; `None` (or empty, which .NET does not write) means success.
    pub error: Option<String>,
}

impl HandshakeResponse {
    /// `{}`.
    pub fn success() -> Self {
        HandshakeResponse { error: None }
    }

    /// `{"error":"…"}`.
    pub fn error(message: impl Into<String>) -> Self {
        HandshakeResponse {
            error: Some(message.into()),
        }
    }

    /// Whether the handshake succeeded (no error, or an empty one).
    pub fn is_success(&self) -> bool {
        self.error.as_deref().is_none_or(str::is_empty)
    }

    /// Parses a response record as the .NET client does: a `type` property means the server
    /// sent a hub message instead (an error); other unknown properties are skipped.
    pub fn parse(record: &str) -> Result<Self> {
        let map = json::parse_object(record)?;
        if map.contains_key("type") {
            return Err(ProtocolError::NotAHandshakeResponse);
        }
        Ok(HandshakeResponse {
            error: json::read_string(&map, "error")?,
        })
    }

    /// `{}` or `{"error":"…"}` (no separator); an empty error is not written, as in .NET.
    pub fn to_json(&self) -> String {
        let mut map = Map::new();
        if let Some(error) = self.error.as_deref().filter(|e| !e.is_empty()) {
            map.insert("error".into(), error.into());
        }
        json::to_string(&map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_written_as_the_dotnet_client_writes_them() {
        assert_eq!(
            HandshakeRequest::json(1).to_json(),
            r#"{"protocol":"json","version":1}"#
        );
        assert_eq!(
            HandshakeRequest::json(2).to_json(),
            r#"{"protocol":"json","version":2}"#
        );
    }

    #[test]
    fn a_request_parses_whatever_the_property_order_and_extra_properties() {
        assert_eq!(
            HandshakeRequest::parse(r#"{"version":2,"x":[1,{}],"protocol":"json"}"#),
            Ok(HandshakeRequest::json(2))
        );
    }

    #[test]
    fn a_request_without_protocol_is_rejected_with_its_content() {
        let record = r#"{"version":1}"#;
        assert_eq!(
            HandshakeRequest::parse(record).unwrap_err().to_string(),
            r#"Missing required property 'protocol'. Message content: {"version":1}"#
        );
    }

    #[test]
    fn a_request_without_version_or_with_a_null_version_is_rejected() {
        for record in [
            r#"{"protocol":"json"}"#,
            r#"{"protocol":"json","version":null}"#,
        ] {
            assert_eq!(
                HandshakeRequest::parse(record).unwrap_err().to_string(),
                format!("Missing required property 'version'. Message content: {record}")
            );
        }
    }

    #[test]
    fn a_request_with_mistyped_fields_is_rejected() {
        assert_eq!(
            HandshakeRequest::parse(r#"{"protocol":1,"version":1}"#)
                .unwrap_err()
                .to_string(),
            "Expected 'protocol' to be of type String."
        );
        assert_eq!(
            HandshakeRequest::parse(r#"{"protocol":"json","version":"1"}"#)
                .unwrap_err()
                .to_string(),
            "Expected 'version' to be of type Number."
        );
        assert_eq!(
            HandshakeRequest::parse("[]").unwrap_err().to_string(),
            "Unexpected JSON Token Type 'Array'. Expected a JSON Object."
        );
        assert_eq!(
            HandshakeRequest::parse("nope").unwrap_err().to_string(),
            "Error reading JSON."
        );
    }

    #[test]
    fn the_server_check_uses_aspnet_core_words() {
        assert_eq!(HandshakeRequest::json(1).check_json(), Ok(()));
        assert_eq!(HandshakeRequest::json(2).check_json(), Ok(()));
        let upper = HandshakeRequest {
            protocol: "JSON".into(),
            version: 1,
        };
        assert_eq!(
            upper.check_json(),
            Ok(()),
            "protocol names are case-insensitive"
        );
        let msgpack = HandshakeRequest {
            protocol: "messagepack".into(),
            version: 1,
        };
        assert_eq!(
            msgpack.check_json(),
            Err("The protocol 'messagepack' is not supported.".to_string())
        );
        let upper3 = HandshakeRequest {
            protocol: "Json".into(),
            version: 3,
        };
        assert_eq!(
            upper3.check_json(),
            Err("The server does not support version 3 of the 'json' protocol.".to_string())
        );
    }

    #[test]
    fn a_server_offering_both_protocols_resolves_either_by_name() {
        let both = HubProtocol::ALL;
        assert_eq!(
            HandshakeRequest::messagepack(1).to_json(),
            r#"{"protocol":"messagepack","version":1}"#
        );
        assert_eq!(
            HandshakeRequest::parse(r#"{"protocol":"messagepack","version":1}"#),
            Ok(HandshakeRequest::messagepack(1))
        );
        assert_eq!(
            HandshakeRequest::messagepack(2).check(&both),
            Ok(HubProtocol::MessagePack)
        );
        assert_eq!(
            HandshakeRequest::json(1).check(&both),
            Ok(HubProtocol::Json)
        );
        let upper = HandshakeRequest {
            protocol: "MessagePack".into(),
            version: 1,
        };
        assert_eq!(upper.check(&both), Ok(HubProtocol::MessagePack));
        let upper3 = HandshakeRequest {
            protocol: "MessagePack".into(),
            version: 3,
        };
        assert_eq!(
            upper3.check(&both),
            Err("The server does not support version 3 of the 'messagepack' protocol.".into())
        );
        assert_eq!(
            HandshakeRequest::messagepack(1).check(&[HubProtocol::Json]),
            Err("The protocol 'messagepack' is not supported.".into())
        );
        assert!(HubProtocol::MessagePack.is_binary());
        assert!(!HubProtocol::Json.is_binary());
        assert_eq!(
            HandshakeRequest::for_protocol(HubProtocol::MessagePack, 2),
            HandshakeRequest::messagepack(2)
        );
    }

    #[test]
    fn handshake_failure_texts_match_the_server() {
        assert_eq!(
            handshake_failed(None),
            "An unexpected error occurred during connection handshake."
        );
        assert_eq!(
            handshake_failed(Some("InvalidDataException: Missing required property 'version'.")),
            "An unexpected error occurred during connection handshake. InvalidDataException: Missing required property 'version'."
        );
    }

    #[test]
    fn responses_are_empty_on_success_and_carry_the_error_otherwise() {
        assert_eq!(HandshakeResponse::success().to_json(), "{}");
        assert_eq!(
            HandshakeResponse::error("The protocol 'x' is not supported.").to_json(),
            r#"{"error":"The protocol 'x' is not supported."}"#
        );
        assert_eq!(HandshakeResponse::error("").to_json(), "{}");
    }

    #[test]
    fn responses_round_trip_and_report_success() {
        let ok = HandshakeResponse::parse("{}").unwrap();
        assert!(ok.is_success());
        let failed = HandshakeResponse::parse(r#"{"error":"nope","extra":1}"#).unwrap();
        assert_eq!(failed, HandshakeResponse::error("nope"));
        assert!(!failed.is_success());
        assert!(HandshakeResponse::error("").is_success());
    }

    #[test]
    fn a_hub_message_in_place_of_the_response_is_rejected() {
        assert_eq!(
            HandshakeResponse::parse(r#"{"type":7,"error":"x"}"#),
            Err(ProtocolError::NotAHandshakeResponse)
        );
        assert_eq!(
            HandshakeResponse::parse(r#"{"error":1}"#)
                .unwrap_err()
                .to_string(),
            "Expected 'error' to be of type String."
        );
    }
}
