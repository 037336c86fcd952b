//! Negotiate, the WebSocket endpoint, the handshake, invocations and ordering.

use hubspec_wire::{HandshakeRequest, HandshakeResponse, HubMessage};
use serde_json::json;

use crate::client::{http, hub_path, negotiate, open, start, status_of, Client, SocketEnd};

#[tokio::test]
async fn negotiate_answers_a_v1_response_with_websockets_text() {
    let hub = start(|_| {}).await;
    let (status, body) = http(
        &hub.url(),
        "POST",
        &format!("{}/negotiate?negotiateVersion=1", hub_path(&hub)),
    )
    .await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["negotiateVersion"], 1);
    assert!(v["connectionId"].as_str().unwrap().len() >= 16);
    assert!(v["connectionToken"].as_str().unwrap().len() >= 16);
    assert_ne!(v["connectionId"], v["connectionToken"]);
    assert_eq!(
        v["availableTransports"],
        json!([{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}])
    );
    assert!(v.get("useStatefulReconnect").is_none(), "not asked for");
    assert!(
        body.starts_with(r#"{"negotiateVersion":1,"connectionId":"#),
        "{body}"
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn negotiate_offers_stateful_reconnect_only_when_asked_and_allowed() {
    let hub = start(|_| {}).await;
    assert!(negotiate(&hub, None, true).await.use_stateful_reconnect);
    assert!(!negotiate(&hub, None, false).await.use_stateful_reconnect);
    hub.shutdown().await;
    let core = start(|c| c.profile = hubspec_model::Profile::Core).await;
    assert!(!negotiate(&core, None, true).await.use_stateful_reconnect);
    core.shutdown().await;
}

#[tokio::test]
async fn negotiate_rejects_a_non_integer_version_and_a_get() {
    let hub = start(|_| {}).await;
    let (status, body) = http(
        &hub.url(),
        "POST",
        &format!("{}/negotiate?negotiateVersion=x", hub_path(&hub)),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"error":"The client requested a non-integer protocol version."}"#
        )
    );
    let (status, _) = http(&hub.url(), "GET", &format!("{}/negotiate", hub_path(&hub))).await;
    assert_eq!(status, 405);
    let (status, _) = http(&hub.url(), "GET", &hub_path(&hub)).await;
    assert_eq!(status, 400, "a GET without upgrade");
    hub.shutdown().await;
}

#[tokio::test]
async fn a_negotiated_connection_keeps_its_connection_id() {
    let hub = start(|_| {}).await;
    let mut c = Client::connect(&hub, None, false).await;
    let id = c
        .invoke("GetConnectionId", json!([]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id, json!(c.id));
    hub.shutdown().await;
}

#[tokio::test]
async fn skip_negotiation_connects_without_an_id() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect_skip(&hub, None).await;
    let mut b = Client::connect_skip(&hub, None).await;
    assert_ne!(a.id, b.id);
    a.ok("SendToConnection", json!([b.id, "hi"])).await;
    assert_eq!(b.sync().await, vec!["hi"]);
    hub.shutdown().await;
}

#[tokio::test]
async fn an_unknown_token_is_404_and_a_second_socket_is_409() {
    let hub = start(|_| {}).await;
    assert_eq!(status_of(open(&hub, "?id=nope").await.unwrap_err()), 404);
    let c = Client::connect(&hub, None, false).await;
    let token = c.token.clone().unwrap();
    assert_eq!(
        status_of(open(&hub, &format!("?id={token}")).await.unwrap_err()),
        409
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn a_token_is_single_use_after_its_connection_ends() {
    let hub = start(|_| {}).await;
    let mut c = Client::connect(&hub, None, false).await;
    let token = c.token.clone().unwrap();
    c.send(&HubMessage::Close {
        error: None,
        allow_reconnect: false,
    })
    .await;
    assert_eq!(
        c.closed().await,
        Some(HubMessage::Close {
            error: None,
            allow_reconnect: false
        })
    );
    assert_eq!(
        status_of(open(&hub, &format!("?id={token}")).await.unwrap_err()),
        404
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn handshake_version_2_without_stateful_negotiate_is_accepted() {
    let hub = start(|_| {}).await;
    let n = negotiate(&hub, None, false).await;
    let ws = open(&hub, &format!("?id={}", n.connection_token.unwrap()))
        .await
        .unwrap();
    let mut c = Client::over(ws, n.connection_id.unwrap(), None);
    c.handshake(2).await;
    c.ok("SendToCaller", json!(["x"])).await;
    assert_eq!(c.received, vec!["x"]);
    hub.shutdown().await;
}

/// The handshake answer to `request`, and whether the server then closed the socket the way
/// ASP.NET Core does after a failed handshake: no hub Close message (`OnConnectedAsync` returns
/// before the hub connection runs: `if (!await connectionContext.HandshakeAsync(…)) { return; }`,
/// HubConnectionHandler.cs@bf884ebc758a8ca4e6d99efdeba223dcf0e38d6c), then a normal close frame.
async fn handshake_answer(request: &str) -> (String, bool) {
    let hub = start(|_| {}).await;
    let ws = open(&hub, "").await.unwrap();
    let mut c = Client::over(ws, String::new(), None);
    c.send_raw(request).await;
    let record = c.next_record().await.expect("a handshake answer");
    let closed = if record == "{}" {
        false
    } else {
        c.next_record().await.is_none() && c.ended == Some(SocketEnd::CloseFrame(1000))
    };
    hub.shutdown().await;
    (record, closed)
}

#[tokio::test]
async fn handshake_errors_use_aspnet_core_texts_and_close() {
    let (r, closed) = handshake_answer("{\"protocol\":\"xml\",\"version\":1}\u{1e}").await;
    assert_eq!(r, r#"{"error":"The protocol 'xml' is not supported."}"#);
    assert!(closed);
    let (r, closed) = handshake_answer("{\"protocol\":\"json\",\"version\":3}\u{1e}").await;
    assert_eq!(
        r,
        r#"{"error":"The server does not support version 3 of the 'json' protocol."}"#
    );
    assert!(closed);
    let (r, _) = handshake_answer(&(HandshakeRequest::json(1).to_json() + "\u{1e}")).await;
    assert_eq!(
        HandshakeResponse::parse(&r).unwrap(),
        HandshakeResponse::success()
    );
}

#[tokio::test]
async fn a_handshake_split_across_frames_and_sharing_a_frame_with_an_invocation_works() {
    let hub = start(|_| {}).await;
    let ws = open(&hub, "").await.unwrap();
    let mut c = Client::over(ws, String::new(), None);
    c.send_raw("{\"protocol\":\"js").await;
    c.send_raw(&format!(
        "on\",\"version\":1}}\u{1e}{}",
        HubMessage::invocation(Some("7"), "SendToCaller", vec![json!("same-frame")]).to_wire()
    ))
    .await;
    assert_eq!(c.next_record().await.unwrap(), "{}");
    assert_eq!(c.completion("7").await, Ok(None));
    assert_eq!(c.received, vec!["same-frame"]);
    hub.shutdown().await;
}

#[tokio::test]
async fn a_send_is_delivered_to_the_caller_before_its_completion() {
    let hub = start(|_| {}).await;
    let mut c = Client::connect(&hub, None, false).await;
    c.ok("AddToGroup", json!(["g"])).await;
    c.send(&HubMessage::invocation(
        Some("s"),
        "SendToGroup",
        vec![json!("g"), json!("m")],
    ))
    .await;
    let first = c.recv().await.unwrap();
    assert_eq!(
        first,
        HubMessage::invocation(None, "Receive", vec![json!("m")])
    );
    assert_eq!(
        first.to_wire(),
        "{\"type\":1,\"target\":\"Receive\",\"arguments\":[\"m\"]}\u{1e}"
    );
    assert!(
        matches!(c.recv().await.unwrap(), HubMessage::Completion { invocation_id, .. } if invocation_id == "s")
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn an_invocation_without_id_gets_no_completion() {
    let hub = start(|_| {}).await;
    let mut c = Client::connect(&hub, None, false).await;
    c.send(&HubMessage::invocation(
        None,
        "SendToCaller",
        vec![json!("fire")],
    ))
    .await;
    c.send(&HubMessage::invocation(None, "NoSuchMethod", vec![]))
        .await;
    assert_eq!(c.sync().await, vec!["fire"]);
    hub.shutdown().await;
}

/// The Close a client gets when the server stops hearing from it: ASP.NET Core's
/// `CheckClientTimeout` error, detailed, with `allowReconnect` (`AbortAllowReconnect`).
fn timeout_close() -> Option<HubMessage> {
    Some(HubMessage::Close {
        error: Some("Connection closed with an error. OperationCanceledException: Client hasn't sent a message/ping within the configured ClientTimeoutInterval.".into()),
        allow_reconnect: true,
    })
}

#[tokio::test]
async fn the_server_pings_when_idle_and_times_out_a_silent_client() {
    let hub = start(|c| {
        c.keep_alive = std::time::Duration::from_millis(100);
        c.client_timeout = std::time::Duration::from_millis(600);
    })
    .await;
    let mut c = Client::connect(&hub, None, false).await;
    let record = c.next_record().await.unwrap();
    assert_eq!(record, r#"{"type":6}"#);
    // Silent from now on: the server gives up with ASP.NET Core's Close.
    assert_eq!(c.closed().await, timeout_close());
    assert!(hub.model().conns.is_empty(), "the connection ended");
    hub.shutdown().await;
}

/// A stateful connection's socket wakes every second for Acks; that must not restart the
/// client timeout. Past the timeout the connection ends as ASP.NET Core's does (the hub
/// connection's dispatch loop stops, `OnDisconnectedAsync` runs): no suspension, so a resume
/// gets 404.
#[tokio::test]
async fn a_silent_stateful_client_times_out_and_its_connection_ends() {
    let hub = start(|c| {
        c.keep_alive = std::time::Duration::from_millis(100);
        // Longer than the ack interval (1 s), so that ack ticks come before the deadline.
        c.client_timeout = std::time::Duration::from_millis(1_500);
    })
    .await;
    let mut b = Client::connect(&hub, None, false).await;
    let mut c = Client::connect(&hub, None, true).await;
    c.ok("AddToGroup", json!(["g"])).await;
    let token = c.token.clone().unwrap();
    // `b` keeps itself alive while `c` is silent.
    let silent = c.closed();
    let pinging = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            b.send(&HubMessage::Ping).await;
        }
    };
    let close = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        tokio::select! {
            close = silent => close,
            () = pinging => unreachable!(),
        }
    })
    .await
    .expect("the stateful connection timed out");
    assert_eq!(close, timeout_close());
    assert_eq!(
        hub.model().conns.len(),
        1,
        "only b is left: nothing suspended"
    );
    assert_eq!(
        status_of(open(&hub, &format!("?id={token}")).await.unwrap_err()),
        404,
        "a timed-out connection cannot be resumed"
    );
    b.ok("SendToGroup", json!(["g", "nobody"])).await;
    assert!(hub.model().groups().is_empty());
    hub.shutdown().await;
}

/// WebSocket Ping frames are answered by the WebSocket layer and never reach SignalR's
/// dispatch loop, which is what restarts ASP.NET Core's client timeout
/// (`HubConnectionHandler.DispatchMessagesAsync`): only hub messages keep a connection alive.
#[tokio::test]
async fn websocket_ping_frames_do_not_keep_a_connection_alive() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let hub = start(|c| c.client_timeout = std::time::Duration::from_millis(500)).await;
    let mut c = Client::connect(&hub, None, false).await;
    // Three seconds of WebSocket pings, six times the client timeout.
    for _ in 0..15 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let _ = c.ws.send(Message::Ping(vec![1].into())).await;
    }
    // Answered only if the connection were still open.
    let _ =
        c.ws.send(Message::text(
            HubMessage::invocation(Some("late"), "SendToCaller", vec![json!("late")]).to_wire(),
        ))
        .await;
    let mut seen = Vec::new();
    while let Some(m) = c.recv().await {
        seen.push(m);
    }
    assert_eq!(
        seen,
        vec![timeout_close().unwrap()],
        "closed before the late invocation"
    );
    assert!(hub.model().conns.is_empty());
    hub.shutdown().await;
}

#[tokio::test]
async fn pings_keep_a_connection_open_past_the_client_timeout() {
    let hub = start(|c| c.client_timeout = std::time::Duration::from_millis(400)).await;
    let mut c = Client::connect(&hub, None, false).await;
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        c.send(&HubMessage::Ping).await;
    }
    c.ok("SendToCaller", json!(["alive"])).await;
    assert_eq!(c.received, vec!["alive"]);
    hub.shutdown().await;
}

#[tokio::test]
async fn a_client_close_is_answered_with_close_and_ends_the_connection() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect(&hub, None, false).await;
    let mut b = Client::connect(&hub, None, false).await;
    a.ok("AddToGroup", json!(["g"])).await;
    a.send(&HubMessage::Close {
        error: Some("bye".into()),
        allow_reconnect: false,
    })
    .await;
    // `{"type":7}`: the client's error is not echoed, and `Abort()` cleared allowReconnect
    // (`case CloseMessage closeMessage: connection.CloseMessage = closeMessage;
    // connection.Abort();`, DefaultHubDispatcher.cs@953674e31b51d95cb9a99e4f938b003b198ab8a4).
    assert_eq!(
        a.closed().await,
        Some(HubMessage::Close {
            error: None,
            allow_reconnect: false
        })
    );
    assert_eq!(a.ended, Some(SocketEnd::CloseFrame(1000)));
    b.ok("SendToGroup", json!(["g", "after"])).await;
    assert_eq!(hub.model().conns.len(), 1);
    hub.shutdown().await;
}

/// A server shutdown, like ASP.NET Core's, sends no hub Close message and no close frame: the
/// hub learns of it only after the WebSocket transport stopped sending, and the cancelled
/// receive aborts the WebSocket (sources in `close_all`, refhub/src/lib.rs).
#[tokio::test]
async fn a_shutdown_drops_every_socket_without_a_close_message() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect(&hub, None, false).await;
    let mut b = Client::connect(&hub, None, true).await;
    a.ok("AddToGroup", json!(["g"])).await;
    hub.shutdown().await;
    for c in [&mut a, &mut b] {
        assert_eq!(c.closed().await, None, "no Close message");
        assert_eq!(c.ended, Some(SocketEnd::Dropped), "no close frame");
    }
}
