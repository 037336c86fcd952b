//! Classic ASP.NET SignalR 2.x (the protocol of SignalR 1.x/2.x, not ASP.NET Core), sans I/O.
//!
//! A classic connection is: `GET …/negotiate?clientProtocol=…&connectionData=…` (a JSON body,
//! [`NegotiateResponse`]), a WebSocket upgrade on `…/connect?transport=webSockets&…`, the init
//! envelope `{"C":…,"S":1,"M":[]}`, then `GET …/start` (`{ "Response": "started" }`). From then
//! on every WebSocket text frame is one JSON value: the server sends envelopes ([`Envelope`]:
//! cursor, init flag, groups token, messages), bare hub results (`{"I":…}`, [`HubResponse`]) and
//! the keep-alive `{}`; the client sends hub invocations ([`HubInvocation`]). After a dropped
//! socket the client opens `…/reconnect?…&groupsToken=…&messageId=…`: the same connection id,
//! the groups in its signed token rejoined ([`GroupsToken`]) and what it missed replayed from
//! its cursor ([`ReplayBuffer`]).
//!
//! Module map:
//! - [`version`]: [`ProtocolVersion`], `clientProtocol` parsed like .NET's `Version.TryParse`
//!   and resolved like `ProtocolResolver` (clamped to 1.2..=2.0).
//! - [`negotiate`]: the negotiate body both ways, [`ServerTimeouts`] and the `/start` and
//!   `/ping` bodies.
//! - [`query`]: the request kinds routed on the path's suffix ([`RequestKind`]), [`Transport`],
//!   the query strings the JS client builds ([`ClientUrls`]) and what a server reads from them
//!   ([`ClassicQuery`]), `connectionData`'s hub list.
//! - [`envelope`]: [`Envelope`] (`C`, `S`, `T`, `G`, `L`, `M`) written in `PersistentResponse`'s
//!   order, and [`ServerFrame`], which tells an envelope, a bare hub response and a keep-alive
//!   apart as the clients do; [`ClientState`], the cursor and token a client keeps from them.
//! - [`hub`]: [`HubInvocation`] (client to server), [`ClientHubInvocation`] (server to client,
//!   inside `M`), [`HubResponse`] (results, errors, progress) with Json.NET's omission rules.
//! - [`groups_token`]: [`GroupsToken`], hubspec's HMAC-SHA256 groups token, verified in
//!   constant time, [`TokenError`]; [`GroupSet`], the server's `DiffSet` that decides when a
//!   new token (`G`) is due; [`split_by_hub`], the rejoin's per-hub split; [`tamper`], an
//!   altered token for tests.
//! - [`connection_token`]: [`ConnectionToken`], the signed `connectionId:user` of negotiate's
//!   `ConnectionToken`, with the server's 400/403 refusals ([`ConnectionTokenError`]).
//! - [`replay`]: [`ReplayBuffer`], a connection's bounded log of what was sent to it, with
//!   opaque cursors, replayed from the client's `messageId` on reconnect.
//!
//! # Using it
//!
//! A server, per request: [`RequestKind::split`] the path; [`ClassicQuery::parse`] the query.
//! Negotiate: [`NegotiateResponse::new`] with a [`ConnectionToken::sign`]ed token. Other
//! requests: [`ClassicQuery::transport`], [`ClassicQuery::connection_token`] then
//! [`ConnectionToken::verify`] (400/403), [`ClassicQuery::hubs`]; on connect and reconnect
//! [`GroupsToken::groups_to_rejoin`] and [`split_by_hub`] seed a [`GroupSet`]; connect sends
//! [`Envelope::init`], reconnect sends what [`ReplayBuffer::replay`] gives from
//! [`ClassicQuery::message_id`]. Frames in: [`HubInvocation::parse`]; out: [`HubResponse`] bare,
//! hub messages ([`ClientHubInvocation`]) pushed into the connection's [`ReplayBuffer`] and sent
//! in an [`Envelope`] whose `G` is [`GroupSet::token_if_changed`]; [`envelope::KEEP_ALIVE`]
//! every keep-alive interval.
//!
//! A client: [`ClientUrls`] for every URL, [`NegotiateResponse::parse`], [`ServerFrame::parse`]
//! for every frame, [`ClientState`] for the `messageId` and `groupsToken` to present on
//! reconnect, [`HubInvocation::to_json`] to call, [`tamper`] to present an altered token.
//!
//! # Sources
//!
//! - `SignalR/SignalR` @ `7f53f266daf1aad3dabb1b6d7a71d4c1501ec8dc` (tag `2.4.3`), read at
//!   `693053b89a9e1f5ce819e3233ed159a6409de22b` (HEAD; `src/Microsoft.AspNet.SignalR.Core` is
//!   identical between the two). Server files, under `src/Microsoft.AspNet.SignalR.Core/`:
//!   `PersistentConnection.cs` (negotiate, start, ping, `VerifyGroups`), `Infrastructure/
//!   ProtocolResolver.cs`, `Infrastructure/Purposes.cs`, `Transports/PersistentResponse.cs`,
//!   `Hubs/HubDispatcher.cs` (`connectionData`, `ProcessResponse`, `SendProgressUpdate`),
//!   `Hubs/HubRequestParser.cs`, `Hubs/HubResponse.cs`, `Hubs/ClientHubInvocation.cs`,
//!   `Hubs/StateChangeTracker.cs`, `Infrastructure/DiffSet.cs`, `Infrastructure/Connection.cs`,
//!   `Messaging/MessageStore.cs`, `Configuration/DefaultConfigurationManager.cs`,
//!   `Resources.resx` (the error texts).
//! - The jQuery client, `src/Microsoft.AspNet.SignalR.JS/jquery.signalR.core.js`,
//!   `jquery.signalR.transports.common.js` (`getUrl`, `getAjaxUrl`, `prepareQueryString`,
//!   `maximizePersistentResponse`, `processMessages`) and `jquery.signalR.hubs.js` at the same
//!   tag, which npm `signalr@2.4.3` ships joined as `jquery.signalR.js`.
//! - `../shared/reference/classic-protocol.md` (§ numbers below), which cites the same files.
//!
//! Nothing is copied from those files but the wire's own strings (keys, error texts); the
//! behaviour is re-stated and tested, with vectors from the 2.x repository's own tests at the
//! same commit (`test/Microsoft.AspNet.SignalR.Tests/`: `Server/ProtocolResolverFacts.cs`,
//! `Server/DiffSetFacts.cs`, `PersistentResponseFacts.cs`, `Server/Hubs/HubDispatcherFacts.cs`;
//! `test/Microsoft.AspNet.SignalR.Client.JS.Tests/wwwroot/Tests/UnitTests/Common/`:
//! `UrlFacts.js`, `ResponseFacts.js`).
//!
//! # Where hubspec differs from the 2.x server
//!
//! - The groups token: the server protects `connectionId:["Hub.group",…]` with the machine-key
//!   (DPAPI/OWIN) protector, purpose `SignalR.Groups.v1.1`, which signs *and encrypts*. hubspec
//!   keeps the same plaintext and purpose but only signs it, with HMAC-SHA256 and a per-server
//!   key (the choice, reference §4.5): group names are readable in the token. Clients
//!   treat the token as opaque, so nothing else changes.
//! - The server answers a bad token silently with no groups; [`GroupsToken::verify`] says why
//!   in a [`TokenError`] (the caller still rejoins nothing).
//! - Cursors: the server's `messageId` is one cursor per bus topic (`d-<hex>-A,1|B,0…`); hubspec
//!   keeps one log per connection, with one cursor `d-<epoch>-<hex seq>`. Clients only echo it.
//!   A cursor too old for the buffer is reported ([`Replay::missed`]) where the server silently
//!   jumps to its oldest retained messages.
//! - The connection token: the server protects `connectionId:user` (purpose
//!   `SignalR.ConnectionToken`); hubspec signs it like the groups token, under that purpose.
//! - Routing: the server treats any unrecognised path that names a transport as a reconnect;
//!   [`RequestKind::split`] recognises only the eight suffixes.
//! - Numbers: seconds are written as serde_json writes an `f64`, which is Json.NET's form for
//!   every ordinary value (`30.0`, `2.5`) but not for exponents (`1e16` against `1E+16`).

pub mod connection_token;
pub mod envelope;
pub mod groups_token;
pub mod hub;
pub mod negotiate;
pub mod query;
pub mod replay;
pub mod version;

pub use connection_token::{ConnectionToken, ConnectionTokenError};
pub use envelope::{ClientState, Envelope, ServerFrame};
pub use groups_token::{split_by_hub, tamper, GroupSet, GroupsToken, TokenError};
pub use hub::{ClientHubInvocation, HubInvocation, HubResponse, Progress, ServerHubMessage};
pub use negotiate::{NegotiateResponse, ServerTimeouts};
pub use query::{ClassicQuery, ClientUrls, RequestKind, Transport};
pub use replay::{CursorError, Replay, ReplayBuffer};
pub use version::ProtocolVersion;

use serde_json::{Map, Value};
use thiserror::Error;

/// A classic request, frame or body that breaks the protocol. Where the 2.x server or the
/// jQuery client has a text for the failure, `Display` is that text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClassicError {
    /// The text is not JSON; `detail` is serde_json's explanation.
    #[error("Error reading JSON: {detail}")]
    InvalidJson {
        /// Where and why parsing failed.
        detail: String,
    },
    /// The value is not a JSON object; `found` names what it is.
    #[error("Expected a JSON object, found {found}.")]
    NotAnObject {
        /// `array`, `string`, `number`, `boolean` or `null`.
        found: &'static str,
    },
    /// A property the message needs is absent.
    #[error("Missing required property '{0}'.")]
    MissingProperty(&'static str),
    /// A property has the wrong JSON type.
    #[error("Expected '{property}' to be {expected}.")]
    WrongType {
        /// The property (or `connectionData[]` for an item of the hub list).
        property: &'static str,
        /// What it should be, e.g. `a string`.
        expected: &'static str,
    },
    /// `transport` is absent or not one of the four (`TransportManager`, 400).
    #[error("Protocol error: Unknown transport.")]
    UnknownTransport,
    /// `connectionToken` is absent or empty (`PersistentConnection.ProcessRequest`, 400).
    #[error("Protocol error: Missing connection token.")]
    MissingConnectionToken,
    /// `connectionData` names a hub twice, in any case (`HubDispatcher.AuthorizeRequest`).
    #[error("Duplicate Hub names found.")]
    DuplicateHubNames,
    /// An invocation's round-trip state is over 4096 characters of JSON (`HubRequestParser`).
    #[error("State has exceeded the maximum length of 4096 bytes.")]
    StateTooLong,
    /// A negotiate body with `availableTransports`: an ASP.NET Core server (jQuery client's
    /// `aspnetCoreSignalrServer`).
    #[error("Detected a connection attempt to an ASP.NET Core SignalR Server. This client only supports connecting to an ASP.NET SignalR Server. See https://aka.ms/signalr-core-differences for details.")]
    CoreServer,
}

/// `Result` with [`ClassicError`].
pub type Result<T, E = ClassicError> = std::result::Result<T, E>;

/// Parses `text` as a JSON object.
fn parse_object(text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ClassicError::NotAnObject {
            found: kind(&other),
        }),
        Err(e) => Err(ClassicError::InvalidJson {
            detail: e.to_string(),
        }),
    }
}

/// The JSON kind of `value`, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `property` as an optional string; `null` counts as absent (Json.NET's reading).
fn opt_string(map: &Map<String, Value>, property: &'static str) -> Result<Option<String>> {
    match map.get(property) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ClassicError::WrongType {
            property,
            expected: "a string",
        }),
    }
}

/// `property` as a required string.
fn req_string(map: &Map<String, Value>, property: &'static str) -> Result<String> {
    opt_string(map, property)?.ok_or(ClassicError::MissingProperty(property))
}

/// `property` as an optional number of seconds.
fn opt_f64(map: &Map<String, Value>, property: &'static str) -> Result<Option<f64>> {
    match map.get(property) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(ClassicError::WrongType {
            property,
            expected: "a number",
        }),
    }
}

/// An invocation or response id: a string, or a number read as its JSON text (Json.NET reads
/// the JS client's numeric `I` into a `string`, so `0` becomes `"0"`).
fn opt_id(map: &Map<String, Value>, property: &'static str) -> Result<Option<String>> {
    match map.get(property) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ClassicError::WrongType {
            property,
            expected: "a string or a number",
        }),
    }
}
