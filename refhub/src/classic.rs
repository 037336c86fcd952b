//! The classic endpoint: ASP.NET SignalR 2.x's protocol at `/signalr`, WebSockets transport,
//! on the same state as the core endpoint, so classic and core connections share groups and
//! reach each other with every send.
//!
//! A classic client negotiates (`GET /signalr/negotiate`), opens `/signalr/connect` (a
//! WebSocket; the server's first frame is the init envelope `{"C":…,"S":1,"M":[]}`), then
//! `GET /signalr/start`; after a lost socket it opens `/signalr/reconnect` with its groups
//! token and cursor, and a graceful stop is `POST /signalr/abort`. The sans-I/O parts
//! (query strings, tokens, envelopes, replay log) are `hubspec_wire::classic`; this module
//! is only the HTTP and socket plumbing around them and the model.
//!
//! Module map:
//! - `conns`: [`ClassicConns`], each classic connection's replay log and last token, the
//!   per-server key.
//! - `http`: request checks (transport, connection token, `connectionData`) and the plain
//!   HTTP requests: negotiate, start, abort, ping, send.
//! - `socket`: connect and reconnect: the upgrade, the writer (envelopes and the `{}`
//!   keep-alive), the read loop (hub invocations and their bare `{"I":…}` results), and what
//!   a lost socket means (the connection is suspended until the disconnect timeout).
//!
//! The model decides who is in a group and who receives a send, as for the core endpoint;
//! an operation that concerns a classic connection is judged by the `classic` profile
//! (`ClassicConns::spec_for`): a drop suspends it and keeps its groups token, a reconnect
//! rejoins the groups its token carries, an add or remove of an id that is not live is
//! cancelled (after [`RefHubConfig::classic_ack_timeout`](crate::RefHubConfig)), an empty
//! group name is refused for a send.
//!
//! Sources: `../shared/reference/classic-protocol.md` and the files it cites,
//! `SignalR/SignalR` @ `7f53f266daf1aad3dabb1b6d7a71d4c1501ec8dc` (tag 2.4.3):
//! `src/Microsoft.AspNet.SignalR.Core/PersistentConnection.cs` (negotiate, start, ping,
//! `VerifyGroups`), `Transports/ForeverTransport.cs` (`S:1` on connect),
//! `Transports/PersistentResponse.cs` (the envelope), `Hubs/HubDispatcher.cs` (bare results),
//! `Infrastructure/AckHandler.cs` (the cancelled add).
//!
//! Where refhub differs from a 2.x server: WebSockets only (other transports get 400); a
//! reconnect of a connection that has ended is refused with 404 (2.x accepts the socket and
//! runs `OnReconnected` for an unknown connection); the cursor is one per connection, not
//! one per bus topic; changes by id to a connection while it is away are not replayed (the
//! model's classic resume rejoins what the token carries); a frame that is not an invocation
//! is answered with an error result when it carries an `I`, and logged otherwise (2.x only
//! logs it).

mod conns;
mod http;
mod socket;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{any, get, post};
use axum::Router;
use hubspec_wire::classic::ServerTimeouts;

pub(crate) use conns::ClassicConns;

use crate::config::RefHubConfig;
use crate::server::Shared;

/// The classic endpoint's path (the 2.x default, which the jQuery client's `hubConnection()`
/// uses).
pub const PATH: &str = "/signalr";

/// The one classic hub: the conformance contract's methods (`dispatch`), under this name.
/// Hub names are matched ignoring case (the jQuery client sends them lower-cased).
pub const HUB: &str = "ConformanceHub";

/// The classic routes, to merge into the server's router.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(&format!("{PATH}/negotiate"), get(http::negotiate))
        .route(&format!("{PATH}/start"), get(http::start))
        .route(&format!("{PATH}/ping"), get(http::ping))
        .route(&format!("{PATH}/abort"), any(http::abort))
        .route(&format!("{PATH}/send"), post(http::send))
        .route(&format!("{PATH}/poll"), any(http::send))
        .route(&format!("{PATH}/connect"), get(socket::connect))
        .route(&format!("{PATH}/reconnect"), get(socket::reconnect))
}

/// The 2.x timeouts this server announces: its disconnect timeout, keep-alive a third of it.
pub(crate) fn timeouts(config: &RefHubConfig) -> ServerTimeouts {
    ServerTimeouts::with_disconnect(config.disconnect_timeout)
}

/// How often the writer sends `{}` on an idle socket (never more often than every 100 ms).
pub(crate) fn keep_alive(config: &RefHubConfig) -> Duration {
    timeouts(config)
        .keep_alive
        .unwrap_or(config.keep_alive)
        .max(Duration::from_millis(100))
}
