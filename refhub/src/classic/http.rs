//! The classic endpoint's plain HTTP requests (negotiate, start, abort, ping, send) and the
//! checks every request after negotiate passes: the transport, the connection token, the hub
//! list. Each refusal has the 2.x server's status and text where it has one
//! (`PersistentConnection.cs`, `TransportManager.cs`, `HubDispatcher.AuthorizeRequest`).

use std::sync::Arc;

use axum::extract::State as AxumState;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hubspec_model::ConnId;
use hubspec_wire::classic::negotiate::{
    ABORT_RESPONSE, JSON_CONTENT_TYPE, PING_RESPONSE, START_RESPONSE,
};
use hubspec_wire::classic::{ClassicQuery, ConnectionToken, NegotiateResponse, Transport};

use crate::connection::Out;
use crate::server::Shared;
use crate::state::End;

use super::{timeouts, HUB, PATH};

/// A request that passed the checks.
pub(super) struct Checked {
    /// The connection id its token carries.
    pub(super) public_id: String,
    /// The request's user (`?user=`), bound into the token.
    pub(super) user: Option<String>,
    /// The query, for what only some requests read (`groupsToken`, `messageId`).
    pub(super) query: ClassicQuery,
}

/// A refused request: its status and plain-text reason.
#[derive(Debug)]
pub(super) struct Refusal {
    status: StatusCode,
    text: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
            self.text,
        )
            .into_response()
    }
}

/// A refusal with `status` and `text`.
pub(super) fn refuse(status: StatusCode, text: impl Into<String>) -> Refusal {
    Refusal {
        status,
        text: text.into(),
    }
}

fn json(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, JSON_CONTENT_TYPE)],
        body,
    )
        .into_response()
}

/// The request's user: `?user=` as on the core endpoint (2.x takes it from authentication).
fn user(query: &ClassicQuery) -> Option<String> {
    query.get("user").filter(|u| !u.is_empty())
}

/// `connectionData`: every hub named must be this server's one hub (ignoring case), and
/// none twice. Absent or `[]` is accepted (a client with no handlers lists no hub).
fn check_hubs(query: &ClassicQuery) -> Result<(), Refusal> {
    let hubs = query
        .hubs()
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, e.to_string()))?;
    match hubs.iter().find(|h| !h.eq_ignore_ascii_case(HUB)) {
        Some(unknown) => Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("'{unknown}' Hub could not be resolved."),
        )),
        None => Ok(()),
    }
}

/// The checks of every request after negotiate: a WebSockets transport, a connection token
/// this server signed for this request's user, a hub list naming this hub.
pub(super) fn check(shared: &Shared, uri: &Uri) -> Result<Checked, Refusal> {
    let query = ClassicQuery::parse(uri.query().unwrap_or(""));
    match query.transport() {
        Ok(Transport::WebSockets) => {}
        Ok(other) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "Protocol error: this server serves the webSockets transport only, not {}.",
                    other.name()
                ),
            ))
        }
        Err(e) => return Err(refuse(StatusCode::BAD_REQUEST, e.to_string())),
    }
    let token = query
        .connection_token()
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, e.to_string()))?;
    let user = user(&query);
    let key = shared.lock().classic.key().to_vec();
    let public_id =
        ConnectionToken::verify(&key, &token, user.as_deref().unwrap_or("")).map_err(|e| {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            refuse(status, e.to_string())
        })?;
    check_hubs(&query)?;
    Ok(Checked {
        public_id,
        user,
        query,
    })
}

/// The live classic connection with this public id.
pub(super) fn live(shared: &Shared, public_id: &str) -> Option<ConnId> {
    let st = shared.lock();
    st.by_public
        .get(public_id)
        .copied()
        .filter(|id| st.classic.contains(*id))
}

/// `GET /signalr/negotiate?clientProtocol=…&connectionData=…`: a new connection id (a Guid)
/// and its signed token; nothing is created until `/connect`.
pub(super) async fn negotiate(AxumState(shared): AxumState<Arc<Shared>>, uri: Uri) -> Response {
    let query = ClassicQuery::parse(uri.query().unwrap_or(""));
    if let Err(refusal) = check_hubs(&query) {
        return refusal.into_response();
    }
    let user = user(&query);
    let public_id = uuid::Uuid::new_v4().to_string();
    let key = shared.lock().classic.key().to_vec();
    let token = ConnectionToken::sign(&key, &public_id, user.as_deref().unwrap_or(""));
    let body = NegotiateResponse::new(
        &format!("{PATH}/negotiate"),
        public_id,
        token,
        query.client_protocol().as_deref(),
        &timeouts(&shared.config),
    );
    json(body.to_json())
}

/// `GET /signalr/start`: `{ "Response": "started" }` for a connection whose socket is open
/// (the 2.x server runs `OnConnected` here; refhub's model connection exists from
/// `/connect`).
pub(super) async fn start(AxumState(shared): AxumState<Arc<Shared>>, uri: Uri) -> Response {
    let checked = match check(&shared, &uri) {
        Ok(checked) => checked,
        Err(refusal) => return refusal.into_response(),
    };
    match live(&shared, &checked.public_id) {
        Some(_) => json(START_RESPONSE.to_owned()),
        None => refuse(
            StatusCode::NOT_FOUND,
            "No connection with that ID: connect first.",
        )
        .into_response(),
    }
}

/// `POST /signalr/abort`: the client stops; its connection ends (2.x `OnDisconnected(true)`).
/// An empty `text/plain` answer, also for a connection that has already ended.
pub(super) async fn abort(AxumState(shared): AxumState<Arc<Shared>>, uri: Uri) -> Response {
    let checked = match check(&shared, &uri) {
        Ok(checked) => checked,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(id) = live(&shared, &checked.public_id) {
        let mut st = shared.lock();
        if let Some(transport) = st.end(id, End::Closed) {
            transport.send(Out::Close);
        }
        st.settle();
        tracing::info!(conn = %id, "classic abort: connection ends");
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        ABORT_RESPONSE,
    )
        .into_response()
}

/// `GET /signalr/ping`: `{ "Response": "pong" }`.
pub(super) async fn ping() -> Response {
    json(PING_RESPONSE.to_owned())
}

/// `POST /signalr/send` and `/poll`: the other transports' requests, which this server does
/// not serve (over WebSockets the client sends on the socket).
pub(super) async fn send() -> Response {
    refuse(
        StatusCode::BAD_REQUEST,
        "Protocol error: this server serves the webSockets transport only; send on the socket.",
    )
    .into_response()
}
