//! A classic WebSocket: `/signalr/connect` (a new connection, init envelope first) and
//! `/signalr/reconnect` (the same connection: its token's groups rejoined, what it missed
//! replayed from its cursor), the writer that sends envelopes and the `{}` keep-alive, and
//! the read loop that runs hub invocations and answers each with a bare `{"I":…}` result.
//!
//! A classic socket that ends, whatever the reason, does not end its connection: only
//! `/abort` or the disconnect timeout does (2.x `WebSocketTransport.OnClosed` keeps the
//! connection for a reconnect, `TransportHeartbeat` ends it after the disconnect timeout).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State as AxumState;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hubspec_model::{ConnId, ErrorKind, GroupSet as _, Op};
use hubspec_wire::classic::envelope::KEEP_ALIVE;
use hubspec_wire::classic::{split_by_hub, Envelope, HubInvocation, HubResponse};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::connection::{expire_unless_resumed, Out, Transport, LATE_MEMBERSHIP_DELAY};
use crate::dispatch;
use crate::server::Shared;
use crate::state::{error_text, End, State};

use super::conns::qualified;
use super::http::{check, live, refuse};
use super::HUB;

/// The largest frame a client may send (2.x `MaxIncomingWebSocketMessageSize`, 64 KiB).
const MAX_FRAME_BYTES: usize = 64 * 1024;

/// What a socket is for, decided before the upgrade.
enum Mode {
    /// `/connect`: a new model connection under the token's id.
    Connect {
        public_id: String,
        user: Option<String>,
    },
    /// `/reconnect`: the live connection `conn` gets this socket.
    Reconnect {
        conn: ConnId,
        groups_token: Option<String>,
        message_id: Option<String>,
    },
}

/// `GET /signalr/connect?transport=webSockets&connectionToken=…&connectionData=…`.
pub(super) async fn connect(
    AxumState(shared): AxumState<Arc<Shared>>,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let checked = match check(&shared, &uri) {
        Ok(checked) => checked,
        Err(refusal) => return refusal.into_response(),
    };
    let mode = Mode::Connect {
        public_id: checked.public_id,
        user: checked.user,
    };
    upgraded(shared, upgrade, mode)
}

/// `GET /signalr/reconnect?…&groupsToken=…&messageId=…`.
pub(super) async fn reconnect(
    AxumState(shared): AxumState<Arc<Shared>>,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let checked = match check(&shared, &uri) {
        Ok(checked) => checked,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(conn) = live(&shared, &checked.public_id) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "No connection with that ID: it has ended (aborted, or not reconnected within the disconnect timeout).",
        )
        .into_response();
    };
    let mode = Mode::Reconnect {
        conn,
        groups_token: checked.query.groups_token(),
        message_id: checked.query.message_id(),
    };
    upgraded(shared, upgrade, mode)
}

fn upgraded(
    shared: Arc<Shared>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    mode: Mode,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Not a WebSocket request: this server serves the webSockets transport only.",
        )
        .into_response();
    };
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| run(shared, socket, mode))
}

/// Runs a socket to its end.
async fn run(shared: Arc<Shared>, socket: WebSocket, mode: Mode) {
    let (sink, mut stream) = socket.split();
    let (transport, rx, _queued) = Transport::new();
    let writer = tokio::spawn(writer(sink, rx, super::keep_alive(&shared.config)));
    let attached = {
        let mut st = shared.lock();
        let attached = match mode {
            Mode::Connect { public_id, user } => connect_new(&mut st, public_id, user, &transport),
            Mode::Reconnect {
                conn,
                groups_token,
                message_id,
            } => rejoin(
                &mut st,
                conn,
                groups_token.as_deref(),
                message_id.as_deref(),
                &transport,
            ),
        };
        st.settle();
        attached
    };
    if let Some((conn, generation)) = attached {
        read_loop(&shared, conn, generation, &mut stream, &transport).await;
        finish(&shared, conn, generation);
    } else {
        transport.send(Out::Close);
    }
    drop(transport);
    if tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .is_err()
    {
        tracing::debug!("classic writer did not stop in time");
    }
}

/// A new model connection under `public_id` (one already live under that id is replaced:
/// it ends first), then the init envelope `{"C":…,"S":1,"M":[]}` as its first frame.
fn connect_new(
    st: &mut State,
    public_id: String,
    user: Option<String>,
    transport: &Transport,
) -> Option<(ConnId, u64)> {
    if let Some(old) = st.by_public.get(&public_id).copied() {
        if let Some(t) = st.end(old, End::Closed) {
            t.send(Out::Close);
        }
    }
    let (conn, generation) = st.connect(user, public_id.clone(), None, false, transport.clone())?;
    let groups = groups_of(st, conn);
    let cursor = st.classic.insert(conn, public_id.clone(), groups);
    transport.send_text(Envelope::init(cursor).to_json());
    tracing::info!(%conn, id = %public_id, "classic connected");
    Some((conn, generation))
}

/// The groups the model has `conn` in.
fn groups_of(st: &State, conn: ConnId) -> Vec<String> {
    st.hub
        .conn(conn)
        .map(|c| c.groups.items().collect())
        .unwrap_or_default()
}

/// The same connection on a new socket: the socket it had (if the server has not noticed its
/// loss yet) is dropped, the model resumes it with the groups its token carries, and what was
/// logged after its cursor is sent again, before anything new.
fn rejoin(
    st: &mut State,
    conn: ConnId,
    groups_token: Option<&str>,
    message_id: Option<&str>,
    transport: &Transport,
) -> Option<(ConnId, u64)> {
    if !st.entries.contains_key(&conn) {
        return None;
    }
    if let Some(old) = st.transport_of(conn) {
        old.send(Out::Close);
        st.suspend(conn);
    }
    let public_id = st.entries.get(&conn)?.public_id.clone();
    let held: Vec<String> = st
        .hub
        .conn(conn)
        .map(|c| c.token.items().collect())
        .unwrap_or_default();
    let key = st.classic.key().to_vec();
    let rejoined = st
        .faults()
        .classic_rejoin(&key, &public_id, groups_token, &qualified(&held));
    let presented = match rejoined {
        Ok(groups) => {
            let mut mine: Vec<String> = split_by_hub(&groups, &[HUB])
                .into_iter()
                .flat_map(|(_, groups)| groups)
                .collect();
            mine.sort();
            mine.dedup();
            Some(mine)
        }
        Err(failure) => {
            tracing::info!(%conn, %failure, "classic reconnect: the groups token rejoins nothing");
            None
        }
    };
    if presented.as_ref() == Some(&held) {
        st.apply(&Op::Resume {
            conn,
            altered_token: false,
        });
    } else {
        // A token that fails verification rejoins nothing (REC-CLASSIC-ALTERED-TOKEN); an
        // authentic one that is not the last the client was given (2.x honours a stale
        // token of the same connection) rejoins exactly its groups: nothing, then each.
        st.apply(&Op::Resume {
            conn,
            altered_token: true,
        });
        for group in presented.into_iter().flatten() {
            st.apply(&Op::AddToGroup {
                caller: conn,
                group: Some(group),
            });
        }
    }
    let replay = match st.faults().classic_replays() {
        true => st.classic.replay(conn, message_id)?,
        false => st.classic.replay(conn, None)?,
    };
    if !replay.items.is_empty() {
        transport.send_text(Envelope::with_messages(replay.cursor, replay.items).to_json());
    }
    let generation = st.attach(conn, transport.clone())?;
    let groups = groups_of(st, conn);
    st.classic.set_tokened(conn, groups);
    tracing::info!(%conn, id = %public_id, "classic reconnected");
    Some((conn, generation))
}

/// Reads frames until the socket ends or the writer stops (replaced, aborted, restarted).
async fn read_loop(
    shared: &Arc<Shared>,
    conn: ConnId,
    generation: u64,
    stream: &mut SplitStream<WebSocket>,
    transport: &Transport,
) {
    loop {
        let message = tokio::select! {
            () = transport.closed() => return,
            message = stream.next() => message,
        };
        match message {
            Some(Ok(Message::Text(text))) => frame(shared, conn, generation, transport, &text),
            Some(Ok(Message::Binary(_))) => {
                tracing::info!(%conn, "classic: binary frame ignored (the protocol is JSON text)");
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
        }
    }
}

/// One client frame: a hub invocation, answered with a bare result on this socket.
fn frame(shared: &Arc<Shared>, conn: ConnId, generation: u64, transport: &Transport, text: &str) {
    let invocation = match HubInvocation::parse(text) {
        Ok(invocation) => invocation,
        Err(error) => {
            // 2.x logs a frame it cannot parse and answers nothing; refhub answers when
            // the frame names an invocation id, so the caller's promise does not hang.
            tracing::info!(%conn, %error, "classic: not a hub invocation");
            if let Some(id) = id_of(text) {
                transport.send_text(HubResponse::detailed_error(id, error.to_string()).to_json());
            }
            return;
        }
    };
    let Some(id) = invocation.id.clone() else {
        tracing::info!(%conn, "classic: an invocation without an id is not answered");
        return;
    };
    if !invocation.hub.eq_ignore_ascii_case(HUB) {
        let error = format!("'{}' Hub could not be resolved.", invocation.hub);
        transport.send_text(HubResponse::detailed_error(id, error).to_json());
        return;
    }
    let method = invocation.method.as_str();
    let call = match dispatch::bind(method, &invocation.args) {
        Ok(call) => call,
        Err(error) => {
            transport.send_text(HubResponse::detailed_error(id, error).to_json());
            return;
        }
    };
    let mut st = shared.lock();
    if st.current(conn, generation).is_none() {
        return;
    }
    let performed = st.invoke(conn, call, method);
    let mut cancelled =
        performed.completion.as_ref().err() == Some(&error_text(ErrorKind::Cancelled, method));
    let response = match performed.completion {
        Ok(result) => HubResponse::result(id, result),
        Err(_) if cancelled && !st.faults().classic_cancels() => {
            cancelled = false;
            HubResponse::result(id, None)
        }
        Err(error) => HubResponse::detailed_error(id, error),
    };
    if let Some(op) = performed.deferred {
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep(LATE_MEMBERSHIP_DELAY).await;
            shared.lock().apply_deferred(&op);
        });
    }
    if cancelled {
        // The 2.x `Groups.Add` of an id nobody acknowledges completes only when the
        // `AckHandler` gives up (GRP-CLASSIC-UNKNOWN-ID-CANCELLED).
        let transport = transport.clone();
        let after = shared.config.classic_ack_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            transport.send_text(response.to_json());
        });
    } else {
        transport.send_text(response.to_json());
    }
}

/// The `I` of a frame that is a JSON object but not a valid invocation.
fn id_of(text: &str) -> Option<String> {
    match serde_json::from_str::<Value>(text).ok()?.get("I")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The socket ended: the connection is suspended (its groups kept for the token, what is
/// sent to it logged for the replay) and ends after the disconnect timeout unless a
/// reconnect comes first.
fn finish(shared: &Arc<Shared>, conn: ConnId, generation: u64) {
    let mut st = shared.lock();
    if st.current(conn, generation).is_none() {
        return;
    }
    let Some(generation) = st.suspend(conn) else {
        return;
    };
    tracing::info!(%conn, "classic socket lost: connection suspended");
    st.settle();
    expire_unless_resumed(shared, conn, generation, st.epoch);
}

/// Writes queued frames in order, and `{}` when nothing was written for `keep_alive`.
async fn writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    keep_alive: Duration,
) {
    let ping = Utf8Bytes::from_static(KEEP_ALIVE);
    loop {
        let next = match tokio::time::timeout(keep_alive, rx.recv()).await {
            Ok(next) => next,
            Err(_) => {
                if sink.send(Message::Text(ping.clone())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        match next {
            Some(Out::Text(text)) => {
                if sink.send(Message::Text(text)).await.is_err() {
                    return;
                }
            }
            Some(close @ (Out::Close | Out::CloseStatus(_))) => {
                let frame = CloseFrame {
                    code: close.close_status().unwrap_or(1000),
                    reason: Utf8Bytes::from_static(""),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                let _ = sink.close().await;
                return;
            }
            Some(Out::Abort) => return,
            // Classic speaks its own JSON envelopes; the core hub protocols do not apply.
            Some(Out::Speak(_)) => {}
            None => {
                let _ = sink.close().await;
                return;
            }
        }
    }
}
