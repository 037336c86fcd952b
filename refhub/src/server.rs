//! HTTP: `POST {path}/negotiate` and the WebSocket endpoint `GET {path}[?id=…]`, on axum;
//! plus the background sweeper that forgets negotiated connections that never connected.
//!
//! Status codes follow `HttpConnectionDispatcher`: an unknown `id` is 404, a second socket
//! for a connection that already has one is 409 (unless it is a stateful reconnect, which
//! replaces the old socket), a GET that is not a WebSocket upgrade is 400 (refhub has no
//! long polling), a negotiate that is not a POST is 405.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State as AxumState;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hubspec_model::Profile;
use hubspec_wire::negotiate::Query;
use hubspec_wire::{AvailableTransport, NegotiateReply, NegotiateResponse};

use crate::config::RefHubConfig;
use crate::connection::{self, Mode};
use crate::state::{State, Token};

/// What every handler and connection task shares.
pub(crate) struct Shared {
    pub(crate) config: RefHubConfig,
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(config: RefHubConfig, state: State) -> Shared {
        Shared {
            config,
            state: Mutex::new(state),
        }
    }

    /// The hub state. A panic while holding the lock would be a refhub bug; the state is
    /// still usable, so poisoning is ignored rather than taking the server down.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The router for a hub at `path`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let path = shared.config.normalized_path();
    Router::new()
        .route(&format!("{path}/negotiate"), post(negotiate))
        .route(&path, get(websocket))
        .merge(crate::classic::routes())
        .with_state(shared)
}

/// A fresh random id: 16 random bytes in URL-safe base64 without padding, the shape of
/// ASP.NET Core's connection ids and tokens.
pub(crate) fn new_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(char::from(ALPHABET[((acc >> bits) & 63) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (6 - bits)) & 63) as usize]));
    }
    out
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `POST {path}/negotiate?negotiateVersion=1[&useStatefulReconnect=true][&user=…]`.
async fn negotiate(AxumState(shared): AxumState<Arc<Shared>>, uri: Uri) -> Response {
    let query = Query::parse(uri.query().unwrap_or(""));
    let version = match query.server_negotiate_version(0) {
        Ok(version) => version,
        Err(error) => return json(StatusCode::OK, NegotiateReply::Error(error).to_json()),
    };
    let stateful = shared.config.profile == Profile::CoreStateful && query.use_stateful_reconnect();
    let public_id = shared.lock().new_public_id();
    // Version 0 has no token: the WebSocket's `id` is the connection id itself.
    let token = if version > 0 {
        new_id()
    } else {
        public_id.clone()
    };
    let mut response = NegotiateResponse::v1(public_id.clone(), token.clone(), stateful);
    response.negotiate_version = version;
    response.available_transports = vec![AvailableTransport {
        transport: "WebSockets".to_owned(),
        transfer_formats: vec!["Text".to_owned(), "Binary".to_owned()],
    }];
    crate::faults::WireFaults(&shared.config.faults).negotiate(&mut response);
    shared.lock().tokens.insert(
        token,
        Token::Negotiated {
            public_id,
            stateful,
            user: query.user(),
            at: Instant::now(),
        },
    );
    json(
        StatusCode::OK,
        NegotiateReply::Negotiated(response).to_json(),
    )
}

/// `GET {path}[?id=token]` with a WebSocket upgrade.
async fn websocket(
    AxumState(shared): AxumState<Arc<Shared>>,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return (
            StatusCode::BAD_REQUEST,
            "This hub only accepts WebSocket requests (no long polling or server-sent events).",
        )
            .into_response();
    };
    let query = Query::parse(uri.query().unwrap_or(""));
    let user = query.user();
    let mode = {
        let mut st = shared.lock();
        match query.id() {
            None => Mode::New {
                public_id: st.new_public_id(),
                token: None,
                stateful: false,
                user,
            },
            Some(token) => match st.tokens.get(&token).cloned() {
                None => {
                    return (StatusCode::NOT_FOUND, "No Connection with that ID").into_response()
                }
                Some(Token::Negotiated {
                    public_id,
                    stateful,
                    user: negotiated_user,
                    ..
                }) => {
                    st.tokens.insert(token.clone(), Token::Connecting);
                    Mode::New {
                        public_id,
                        token: Some(token),
                        stateful,
                        user: user.or(negotiated_user),
                    }
                }
                Some(Token::Live(conn))
                    if st.entries.get(&conn).is_some_and(|e| e.is_stateful()) =>
                {
                    Mode::Resume { conn, token }
                }
                Some(Token::Connecting | Token::Live(_)) => {
                    return (
                        StatusCode::CONFLICT,
                        "Another active WebSocket is already connected to this connection.",
                    )
                        .into_response()
                }
            },
        }
    };
    let failed_token = match &mode {
        Mode::New { token, .. } => token.clone(),
        Mode::Resume { .. } => None,
    };
    let failed_shared = shared.clone();
    // The WebSocket layer's hard cap, so that one frame cannot make refhub buffer without
    // bound; records are limited to `max_message_bytes` above it. A frame over the cap is
    // answered like a record over `max_message_bytes` (`connection::too_large`).
    let frame_limit = shared
        .config
        .max_message_bytes
        .saturating_mul(4)
        .max(1 << 20);
    upgrade
        .max_message_size(frame_limit)
        .max_frame_size(frame_limit)
        .on_failed_upgrade(move |error| {
            tracing::info!(%error, "WebSocket upgrade failed");
            if let Some(token) = failed_token {
                failed_shared.lock().tokens.remove(&token);
            }
        })
        .on_upgrade(move |socket| connection::run(shared, socket, mode))
}

/// Forgets negotiated connections whose socket never came within the disconnect timeout
/// (ASP.NET Core's `HttpConnectionManager.Scan`), once a second.
pub(crate) async fn sweep(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let timeout = shared.config.disconnect_timeout;
        shared.lock().tokens.retain(|_, token| match token {
            Token::Negotiated { at, .. } => at.elapsed() < timeout,
            _ => true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_aspnet_core_ids() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
