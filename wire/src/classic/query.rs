//! Classic requests: the path suffix that picks the action, and the query strings.
//!
//! The client side ([`ClientUrls`]) builds URLs as the jQuery client 2.4.3 does
//! (`jquery.signalR.transports.common.js`: `getUrl` for connect/reconnect, `getAjaxUrl` +
//! `prepareQueryString` for start/send/abort, `pingServer`, and `jquery.signalR.core.js` for
//! negotiate): parameters in its order, values through `encodeURIComponent`, `clientProtocol`
//! and the user's `qs` raw, `tid` (0..=10) only on connect and reconnect, `groupsToken` on
//! connect and reconnect when held, `messageId` on reconnect when held.
//!
//! The server side ([`ClassicQuery`]) reads them as `PersistentConnection`, `TransportManager`,
//! `TransportDisconnectBase` and `HubDispatcher` do: names case-insensitive, values
//! form-decoded (`+` is a space), the 400 texts for a missing transport or token. The server
//! never reads `tid` (a cache-buster).
//!
//! One file: the client's URL building and the server's query parsing are two sides of one format,
//! tested against each other.

use serde_json::Value;

use super::version::ProtocolVersion;
use super::{ClassicError, Result};
use crate::negotiate::Query;

/// A classic transport (`TransportManager`'s names, matched case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `webSockets`.
    WebSockets,
    /// `serverSentEvents`.
    ServerSentEvents,
    /// `longPolling`.
    LongPolling,
    /// `foreverFrame`.
    ForeverFrame,
}

impl Transport {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Transport::WebSockets => "webSockets",
            Transport::ServerSentEvents => "serverSentEvents",
            Transport::LongPolling => "longPolling",
            Transport::ForeverFrame => "foreverFrame",
        }
    }

    /// The transport named `name`, in any case.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Transport::WebSockets,
            Transport::ServerSentEvents,
            Transport::LongPolling,
            Transport::ForeverFrame,
        ]
        .into_iter()
        .find(|t| t.name().eq_ignore_ascii_case(name))
    }
}

/// What a request asks for, from the last segment of its path (compared case-insensitively,
/// as the server's `EndsWith(…, OrdinalIgnoreCase)` checks do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `/negotiate`: no transport or token needed.
    Negotiate,
    /// `/ping`: `{ "Response": "pong" }`.
    Ping,
    /// `/start`: OnConnected (protocol 1.4+), then `{ "Response": "started" }`.
    Start,
    /// `/connect`: a new transport; the init envelope `S:1` first.
    Connect,
    /// `/reconnect`: the same connection id, groups from the token, replay from `messageId`.
    Reconnect,
    /// `/poll`: long polling's receive request.
    Poll,
    /// `/send`: `data=<json>` in a form body (not used over WebSockets).
    Send,
    /// `/abort`: ends the connection (OnDisconnected with stopCalled true).
    Abort,
}

impl RequestKind {
    const ALL: [(RequestKind, &'static str); 8] = [
        (RequestKind::Negotiate, "/negotiate"),
        (RequestKind::Ping, "/ping"),
        (RequestKind::Start, "/start"),
        (RequestKind::Connect, "/connect"),
        (RequestKind::Reconnect, "/reconnect"),
        (RequestKind::Poll, "/poll"),
        (RequestKind::Send, "/send"),
        (RequestKind::Abort, "/abort"),
    ];

    /// The path suffix, e.g. `/connect`.
    pub fn suffix(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("", |(_, s)| s)
    }

    /// Splits a request path into the endpoint's path and the action, or `None` for another
    /// path. (The 2.x server treats any other path that carries a known transport as a
    /// reconnect, `ForeverTransport.ProcessRequestCore`; hubspec does not guess.)
    pub fn split(path: &str) -> Option<(&str, RequestKind)> {
        Self::ALL.iter().find_map(|(kind, suffix)| {
            let start = path.len().checked_sub(suffix.len())?;
            let tail = path.get(start..)?;
            tail.eq_ignore_ascii_case(suffix)
                .then(|| (&path[..start], *kind))
        })
    }
}

/// JavaScript's `encodeURIComponent`: everything but ASCII letters, digits and
/// `-_.!~*'()` is percent-encoded as UTF-8, upper-case hex.
pub fn encode_uri_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `connectionData` as the jQuery hubs client writes it: `JSON.stringify` of
/// `[{name: hub}, …]`, hub names lower-cased (`createHubProxy`).
pub fn connection_data<S: AsRef<str>>(hubs: &[S]) -> String {
    let items: Vec<Value> = hubs
        .iter()
        .map(|h| serde_json::json!({ "name": h.as_ref().to_lowercase() }))
        .collect();
    Value::Array(items).to_string()
}

/// The hub names in a `connectionData` value, as `HubDispatcher.AuthorizeRequest` reads them
/// (Json.NET into `IEnumerable<ClientHubInfo>`): an array of objects whose `name` (any case)
/// is a string; other keys are ignored; JSON `null` or an empty value means no hubs; a name
/// given twice in any case is [`ClassicError::DuplicateHubNames`]. Resolving the names against
/// the server's hubs (`'X' Hub could not be resolved.`) is the caller's business.
pub fn parse_connection_data(raw: &str) -> Result<Vec<String>> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_str(raw).map_err(|e| ClassicError::InvalidJson {
        detail: e.to_string(),
    })?;
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => {
            return Err(ClassicError::WrongType {
                property: "connectionData",
                expected: "an array",
            })
        }
    };
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(object) = item else {
            return Err(ClassicError::WrongType {
                property: "connectionData[]",
                expected: "an object",
            });
        };
        let name = object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("name"))
            .map(|(_, v)| v);
        let name = match name {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => return Err(ClassicError::MissingProperty("name")),
            Some(_) => {
                return Err(ClassicError::WrongType {
                    property: "name",
                    expected: "a string",
                })
            }
        };
        if names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            return Err(ClassicError::DuplicateHubNames);
        }
        names.push(name);
    }
    Ok(names)
}

/// The URLs a classic client requests, built exactly as the jQuery client builds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientUrls {
    /// The endpoint, e.g. `http://127.0.0.1:5000/signalr`: `connection.url`, whose path is the
    /// negotiate response's `Url`. WebSocket URLs get `ws`/`wss` in place of `http`/`https`.
    pub endpoint: String,
    /// `clientProtocol`, written raw (`2.1` for the jQuery client 2.4.3).
    pub client_protocol: String,
    /// The user's `qs`, appended raw after `clientProtocol` (`addQs`), e.g. `user=alice`.
    pub qs: Option<String>,
    /// The transport named on every request but negotiate and ping.
    pub transport: Transport,
    /// The negotiate's `ConnectionToken`, once known.
    pub connection_token: Option<String>,
    /// `connectionData` (see [`connection_data`]).
    pub connection_data: Option<String>,
}

impl ClientUrls {
    /// A hubs client of `endpoint` speaking protocol 2.1 over WebSockets to `hubs`. The hubs
    /// client always sends `connectionData`, `[]` when it subscribed to no hub.
    pub fn new<S: AsRef<str>>(endpoint: impl Into<String>, hubs: &[S]) -> Self {
        ClientUrls {
            endpoint: endpoint.into(),
            client_protocol: ProtocolVersion::CLIENT_2_1.to_string(),
            qs: None,
            transport: Transport::WebSockets,
            connection_token: None,
            connection_data: Some(connection_data(hubs)),
        }
    }

    /// `GET …/negotiate?clientProtocol=…[&qs][&connectionData=…]`. (jQuery then adds its
    /// own `_=<ms>` cache-buster, which the server ignores.)
    pub fn negotiate(&self) -> String {
        self.prepare_query_string(format!("{}/negotiate", self.endpoint))
    }

    /// The WebSocket `…/connect` URL; `groups_token` only if the client still holds one;
    /// `tid` is the client's `Math.floor(Math.random() * 11)`.
    pub fn connect(&self, groups_token: Option<&str>, tid: u8) -> String {
        self.get_url("/connect", groups_token, None, tid)
    }

    /// The WebSocket `…/reconnect` URL, with the held groups token and cursor (`messageId`).
    pub fn reconnect(
        &self,
        groups_token: Option<&str>,
        message_id: Option<&str>,
        tid: u8,
    ) -> String {
        self.get_url("/reconnect", groups_token, message_id, tid)
    }

    /// `GET …/start?transport=…&clientProtocol=…&connectionToken=…&connectionData=…`.
    pub fn start(&self) -> String {
        self.ajax_url("/start")
    }

    /// `POST …/send?…` (long polling, SSE, forever frame; the body is `data=<json>`).
    pub fn send(&self) -> String {
        self.ajax_url("/send")
    }

    /// `POST …/abort?…`.
    pub fn abort(&self) -> String {
        self.ajax_url("/abort")
    }

    /// `GET …/ping[?qs]`.
    pub fn ping(&self) -> String {
        add_qs(format!("{}/ping", self.endpoint), self.qs.as_deref())
    }

    fn ws_endpoint(&self) -> String {
        match self.endpoint.strip_prefix("http") {
            Some(rest) if rest.starts_with("://") || rest.starts_with("s://") => {
                format!("ws{rest}")
            }
            _ => self.endpoint.clone(),
        }
    }

    fn get_url(
        &self,
        path: &str,
        groups_token: Option<&str>,
        message_id: Option<&str>,
        tid: u8,
    ) -> String {
        let endpoint = if self.transport == Transport::WebSockets {
            self.ws_endpoint()
        } else {
            self.endpoint.clone()
        };
        let mut url = format!("{endpoint}{path}?transport={}", self.transport.name());
        if let Some(token) = groups_token.filter(|t| !t.is_empty()) {
            url.push_str("&groupsToken=");
            url.push_str(&encode_uri_component(token));
        }
        if let Some(id) = message_id.filter(|m| !m.is_empty()) {
            url.push_str("&messageId=");
            url.push_str(&encode_uri_component(id));
        }
        let mut url = self.prepare_query_string(url);
        url.push_str(&format!("&tid={tid}"));
        url
    }

    fn ajax_url(&self, path: &str) -> String {
        self.prepare_query_string(format!(
            "{}{path}?transport={}",
            self.endpoint,
            self.transport.name()
        ))
    }

    fn prepare_query_string(&self, url: String) -> String {
        let url = add_qs(
            url,
            Some(&format!("clientProtocol={}", self.client_protocol)),
        );
        let mut url = add_qs(url, self.qs.as_deref());
        if let Some(token) = self.connection_token.as_deref().filter(|t| !t.is_empty()) {
            url.push_str("&connectionToken=");
            url.push_str(&encode_uri_component(token));
        }
        if let Some(data) = self.connection_data.as_deref().filter(|d| !d.is_empty()) {
            url.push_str("&connectionData=");
            url.push_str(&encode_uri_component(data));
        }
        url
    }
}

/// `transportLogic.addQs` for a string `qs`: `?` or `&` as needed, none if `qs` starts with one.
fn add_qs(mut url: String, qs: Option<&str>) -> String {
    let Some(qs) = qs.filter(|q| !q.is_empty()) else {
        return url;
    };
    if !(qs.starts_with('?') || qs.starts_with('&')) {
        url.push(if url.contains('?') { '&' } else { '?' });
    }
    url.push_str(qs);
    url
}

/// The `data` field of a `/send` form body (`application/x-www-form-urlencoded`): the
/// invocation's JSON. (Over WebSockets the client sends on the socket instead.)
pub fn send_form_data(body: &str) -> Option<String> {
    Query::parse(body).get("data")
}

/// A classic request's query string as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicQuery(Query);

impl ClassicQuery {
    /// Parses `a=1&b=x%20y` (a leading `?` is allowed; `+` is a space; names any case).
    pub fn parse(query: &str) -> Self {
        ClassicQuery(Query::parse(query))
    }

    /// Any parameter, e.g. the conformance contract's `user`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name)
    }

    /// `transport`, or the 400 `Protocol error: Unknown transport.`.
    pub fn transport(&self) -> Result<Transport> {
        self.get("transport")
            .as_deref()
            .and_then(Transport::parse)
            .ok_or(ClassicError::UnknownTransport)
    }

    /// `clientProtocol` as sent.
    pub fn client_protocol(&self) -> Option<String> {
        self.get("clientProtocol")
    }

    /// The version the server speaks with this client ([`ProtocolVersion::resolve`]).
    pub fn protocol_version(&self) -> ProtocolVersion {
        ProtocolVersion::resolve(self.client_protocol().as_deref())
    }

    /// `connectionToken`, or the 400 `Protocol error: Missing connection token.` when absent
    /// or empty.
    pub fn connection_token(&self) -> Result<String> {
        self.get("connectionToken")
            .filter(|t| !t.is_empty())
            .ok_or(ClassicError::MissingConnectionToken)
    }

    /// The hubs in `connectionData` ([`parse_connection_data`]); none when absent.
    pub fn hubs(&self) -> Result<Vec<String>> {
        parse_connection_data(&self.get("connectionData").unwrap_or_default())
    }

    /// `messageId`, the client's cursor; an empty value counts as absent.
    pub fn message_id(&self) -> Option<String> {
        self.get("messageId").filter(|m| !m.is_empty())
    }

    /// `groupsToken`; an empty value counts as absent (`VerifyGroups` returns no groups).
    pub fn groups_token(&self) -> Option<String> {
        self.get("groupsToken").filter(|g| !g.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientUrls {
        ClientUrls {
            connection_token: Some("tok:30744cb6/x+y=".into()),
            ..ClientUrls::new("http://127.0.0.1:5000/signalr", &["ChatHub"])
        }
    }

    #[test]
    fn negotiate_is_built_like_the_jquery_client() {
        // Reference §7: the smoke test's request,
        // GET /signalr/negotiate?clientProtocol=2.1&connectionData=%5B%7B%22name%22%3A%22chathub%22%7D%5D
        let urls = ClientUrls::new("http://127.0.0.1:5000/signalr", &["ChatHub"]);
        assert_eq!(
            urls.negotiate(),
            "http://127.0.0.1:5000/signalr/negotiate?clientProtocol=2.1&connectionData=%5B%7B%22name%22%3A%22chathub%22%7D%5D"
        );
    }

    #[test]
    fn connect_and_reconnect_follow_get_url() {
        let urls = client();
        assert_eq!(
            urls.connect(None, 3),
            "ws://127.0.0.1:5000/signalr/connect?transport=webSockets&clientProtocol=2.1&connectionToken=tok%3A30744cb6%2Fx%2By%3D&connectionData=%5B%7B%22name%22%3A%22chathub%22%7D%5D&tid=3"
        );
        // Reference §1.1's captured reconnect: groupsToken, then messageId, then the rest.
        assert_eq!(
            urls.reconnect(Some("g.t"), Some("d-ABCD1234-B,1"), 8),
            "ws://127.0.0.1:5000/signalr/reconnect?transport=webSockets&groupsToken=g.t&messageId=d-ABCD1234-B%2C1&clientProtocol=2.1&connectionToken=tok%3A30744cb6%2Fx%2By%3D&connectionData=%5B%7B%22name%22%3A%22chathub%22%7D%5D&tid=8"
        );
        let secure = ClientUrls::new("https://h/signalr", &[] as &[&str]);
        assert_eq!(
            secure.connect(Some(""), 0),
            "wss://h/signalr/connect?transport=webSockets&clientProtocol=2.1&connectionData=%5B%5D&tid=0"
        );
    }

    #[test]
    fn start_send_abort_and_ping_follow_get_ajax_url() {
        let mut urls = client();
        urls.qs = Some("user=alice".into());
        let tail = "clientProtocol=2.1&user=alice&connectionToken=tok%3A30744cb6%2Fx%2By%3D&connectionData=%5B%7B%22name%22%3A%22chathub%22%7D%5D";
        assert_eq!(
            urls.start(),
            format!("http://127.0.0.1:5000/signalr/start?transport=webSockets&{tail}")
        );
        assert_eq!(
            urls.send(),
            format!("http://127.0.0.1:5000/signalr/send?transport=webSockets&{tail}")
        );
        assert_eq!(
            urls.abort(),
            format!("http://127.0.0.1:5000/signalr/abort?transport=webSockets&{tail}")
        );
        assert_eq!(urls.ping(), "http://127.0.0.1:5000/signalr/ping?user=alice");
        urls.qs = Some("&x=1".into());
        assert!(urls
            .start()
            .contains("clientProtocol=2.1&x=1&connectionToken"));
    }

    #[test]
    fn the_jquery_clients_url_facts_hold() {
        // SignalR test/Microsoft.AspNet.SignalR.Client.JS.Tests/wwwroot/Tests/UnitTests/Common/
        // UrlFacts.js, "getUrl handles groupsToken correctly": every unsafe character.
        let token = "$&+,/:;=?@ \"<>#%{}|^[]`";
        let expected =
            "&groupsToken=%24%26%2B%2C%2F%3A%3B%3D%3F%40%20%22%3C%3E%23%25%7B%7D%7C%5E%5B%5D%60";
        let urls = client();
        assert!(urls.reconnect(Some(token), None, 0).contains(expected));
        assert!(urls.connect(Some(token), 0).contains(expected));
        let (_, query) = urls
            .reconnect(Some(token), None, 0)
            .split_once('?')
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .unwrap();
        assert_eq!(
            ClassicQuery::parse(&query).groups_token().as_deref(),
            Some(token)
        );
    }

    #[test]
    fn encode_uri_component_keeps_javascripts_unreserved_set() {
        assert_eq!(encode_uri_component("aZ09-_.!~*'()"), "aZ09-_.!~*'()");
        assert_eq!(
            encode_uri_component("a b+c/é|,:"),
            "a%20b%2Bc%2F%C3%A9%7C%2C%3A"
        );
    }

    #[test]
    fn the_server_reads_what_the_client_wrote() {
        let urls = client();
        let url = urls.reconnect(Some("a.b-c_"), Some("d-1F-2A"), 10);
        let (path, query) = url.split_once('?').unwrap();
        assert_eq!(
            RequestKind::split(path),
            Some(("ws://127.0.0.1:5000/signalr", RequestKind::Reconnect))
        );
        let query = ClassicQuery::parse(query);
        assert_eq!(query.transport(), Ok(Transport::WebSockets));
        assert_eq!(query.protocol_version().to_string(), "2.0");
        assert_eq!(query.connection_token().as_deref(), Ok("tok:30744cb6/x+y="));
        assert_eq!(query.hubs(), Ok(vec!["chathub".to_string()]));
        assert_eq!(query.groups_token().as_deref(), Some("a.b-c_"));
        assert_eq!(query.message_id().as_deref(), Some("d-1F-2A"));
        assert_eq!(query.get("tid").as_deref(), Some("10"));
    }

    #[test]
    fn the_server_form_decodes_and_ignores_case() {
        // Reference §1.1: signalr-client-threads writes spaces as '+'.
        let query = ClassicQuery::parse("TRANSPORT=WEBSOCKETS&connectionData=%5B%7B%22name%22%3A+%22ChatHub%22%7D%5D&ConnectionToken=t");
        assert_eq!(query.transport(), Ok(Transport::WebSockets));
        assert_eq!(query.hubs(), Ok(vec!["ChatHub".to_string()]));
        assert_eq!(query.connection_token().as_deref(), Ok("t"));
        assert_eq!(query.protocol_version().to_string(), "1.2");
        assert_eq!(query.message_id(), None);
        assert_eq!(query.groups_token(), None);
    }

    #[test]
    fn bad_parameters_get_the_servers_errors() {
        assert_eq!(
            ClassicQuery::parse("").transport(),
            Err(ClassicError::UnknownTransport)
        );
        assert_eq!(
            ClassicQuery::parse("transport=carrierPigeon").transport(),
            Err(ClassicError::UnknownTransport)
        );
        assert_eq!(
            ClassicQuery::parse("connectionToken=").connection_token(),
            Err(ClassicError::MissingConnectionToken)
        );
        assert_eq!(
            ClassicError::UnknownTransport.to_string(),
            "Protocol error: Unknown transport."
        );
        assert_eq!(
            ClassicError::MissingConnectionToken.to_string(),
            "Protocol error: Missing connection token."
        );
        for (data, expected) in [
            (
                r#"[{"name":"chathub"},{"Name":"ChatHub"}]"#,
                ClassicError::DuplicateHubNames,
            ),
            (r#"[{"x":1}]"#, ClassicError::MissingProperty("name")),
            (
                r#"[{"name":1}]"#,
                ClassicError::WrongType {
                    property: "name",
                    expected: "a string",
                },
            ),
            (
                r#"["chathub"]"#,
                ClassicError::WrongType {
                    property: "connectionData[]",
                    expected: "an object",
                },
            ),
            (
                r#"{"name":"chathub"}"#,
                ClassicError::WrongType {
                    property: "connectionData",
                    expected: "an array",
                },
            ),
        ] {
            assert_eq!(parse_connection_data(data), Err(expected), "{data}");
        }
        assert!(matches!(
            parse_connection_data("[{"),
            Err(ClassicError::InvalidJson { .. })
        ));
        assert_eq!(parse_connection_data("null"), Ok(vec![]));
        assert_eq!(parse_connection_data("[]"), Ok(vec![]));
        assert_eq!(
            parse_connection_data(r#"[{"NAME":"a","other":[1]},{"name":"b"}]"#),
            Ok(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn a_send_body_carries_the_invocation_in_data() {
        let body = format!(
            "data={}",
            encode_uri_component(r#"{"H":"chathub","M":"send","A":["a b"],"I":0}"#)
        );
        assert_eq!(
            send_form_data(&body).as_deref(),
            Some(r#"{"H":"chathub","M":"send","A":["a b"],"I":0}"#)
        );
        assert_eq!(send_form_data("data=%7B%7D+"), Some("{} ".to_string()));
        assert_eq!(send_form_data("x=1"), None);
    }

    #[test]
    fn paths_route_on_their_suffix_in_any_case() {
        assert_eq!(
            RequestKind::split("/signalr/negotiate"),
            Some(("/signalr", RequestKind::Negotiate))
        );
        assert_eq!(
            RequestKind::split("/app/SignalR/CONNECT"),
            Some(("/app/SignalR", RequestKind::Connect))
        );
        assert_eq!(
            RequestKind::split("/signalr/abort"),
            Some(("/signalr", RequestKind::Abort))
        );
        assert_eq!(RequestKind::split("/signalr/hubs"), None);
        assert_eq!(RequestKind::split("/é"), None);
        assert_eq!(RequestKind::split(""), None);
        assert_eq!(RequestKind::Ping.suffix(), "/ping");
        assert_eq!(
            Transport::parse("LongPolling"),
            Some(Transport::LongPolling)
        );
    }
}
