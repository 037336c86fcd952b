//! Bad input: each gets a documented error (a Completion error, a handshake error or a Close
//! with an error), and never disturbs the server or another connection.

use std::time::Duration;

use futures_util::SinkExt;
use hubspec_refhub::RefHub;
use hubspec_wire::HubMessage;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{open, reconnectable_close, start, status_of, Client, SocketEnd, Ws, WAIT};

/// A connection that is in group "g" and must keep working through the abuse.
async fn bystander(hub: &RefHub) -> Client {
    let mut c = Client::connect(hub, None, false).await;
    c.ok("AddToGroup", json!(["g"])).await;
    c
}

async fn still_fine(hub: &RefHub, bystander: &mut Client) {
    let mut probe = Client::connect(hub, None, false).await;
    probe.ok("SendToGroup", json!(["g", "still here"])).await;
    assert_eq!(bystander.sync().await, vec!["still here"]);
}

/// The Close error a connection gets after sending `raw` (after a good handshake). A protocol
/// error ends ASP.NET Core's dispatch loop with an exception, and its Close carries
/// `allowReconnect` because nothing called `Abort()` (`RunHubAsync` -> `HubOnDisconnectedAsync`
/// -> `SendCloseAsync(connection, exception, connection.AllowReconnect)`, HubConnectionHandler.cs
/// @bf884ebc758a8ca4e6d99efdeba223dcf0e38d6c; `_allowReconnect = true` until `Abort()`,
/// HubConnectionContext.cs@28f53b3eac04a73d624dd5f993c03da83a49cbdb).
async fn close_after(hub: &RefHub, raw: &str) -> Option<String> {
    let mut c = Client::connect(hub, None, false).await;
    c.send_raw(raw).await;
    let close = c.closed().await;
    reconnectable_close(close, &c.ended)
}

#[tokio::test]
async fn malformed_json_closes_that_connection_with_an_error() {
    let hub = start(|_| {}).await;
    let mut b = bystander(&hub).await;
    assert_eq!(
        close_after(&hub, "{\"type\":1,\u{1e}").await.as_deref(),
        Some("Connection closed with an error. InvalidDataException: Error reading JSON.")
    );
    assert_eq!(
        close_after(&hub, "[1,2]\u{1e}").await.as_deref(),
        Some("Connection closed with an error. InvalidDataException: Unexpected JSON Token Type 'Array'. Expected a JSON Object.")
    );
    assert_eq!(
        close_after(&hub, "{\"target\":\"x\"}\u{1e}").await.as_deref(),
        Some("Connection closed with an error. InvalidDataException: Missing required property 'type'.")
    );
    still_fine(&hub, &mut b).await;
    hub.shutdown().await;
}

#[tokio::test]
async fn a_missing_record_separator_runs_into_the_next_record_and_closes_with_an_error() {
    let hub = start(|_| {}).await;
    let mut b = bystander(&hub).await;
    let mut c = Client::connect(&hub, None, false).await;
    // Without its 0x1E the invocation is not complete: nothing happens yet.
    c.send_raw(r#"{"type":1,"invocationId":"1","target":"SendToCaller","arguments":["x"]}"#)
        .await;
    c.send(&HubMessage::Ping).await;
    // The two texts form one record, which is not JSON.
    assert_eq!(
        c.closed().await,
        Some(HubMessage::Close {
            error: Some(
                "Connection closed with an error. InvalidDataException: Error reading JSON.".into()
            ),
            allow_reconnect: true
        })
    );
    still_fine(&hub, &mut b).await;
    hub.shutdown().await;
}

/// ASP.NET Core's JSON protocol parses an unknown `type` to nothing so that it can be
/// ignored ("Future protocol changes can add message types, old clients can ignore them",
/// `JsonHubProtocol.ParseMessage`); refhub ignores it and keeps reading, the records after it
/// in the same frame included. (Released ASP.NET Core with its default MaximumReceiveMessageSize
/// stalls on such a record instead, dotnet/aspnetcore#69285.)
#[tokio::test]
async fn an_unknown_message_type_is_ignored() {
    for stateful in [false, true] {
        let hub = start(|_| {}).await;
        let mut b = bystander(&hub).await;
        let mut c = Client::connect(&hub, None, stateful).await;
        c.send_raw(&format!(
            "{{\"type\":42,\"whatever\":[1]}}\u{1e}{}",
            HubMessage::invocation(Some("1"), "SendToCaller", vec![json!("same frame")]).to_wire()
        ))
        .await;
        assert_eq!(c.completion("1").await, Ok(None));
        c.send_raw("{\"type\":99}\u{1e}").await;
        c.next_invocation = 1;
        c.ok("SendToGroup", json!(["g", "after"])).await;
        assert_eq!(c.received, vec!["same frame"]);
        assert_eq!(b.sync().await, vec!["after"]);
        if stateful {
            // Not a sequenced message: the server acks the two invocations only.
            let ack = tokio::time::timeout(Duration::from_secs(3), async {
                loop {
                    let r = c.next_record().await.unwrap();
                    if let Ok(m @ HubMessage::Ack { .. }) = HubMessage::parse(&r) {
                        return m;
                    }
                }
            })
            .await
            .expect("an Ack within the ack interval");
            assert_eq!(ack, HubMessage::Ack { sequence_id: 2 });
        }
        still_fine(&hub, &mut b).await;
        hub.shutdown().await;
    }
}

#[tokio::test]
async fn unknown_methods_and_bad_arguments_get_a_completion_error_and_the_connection_lives_on() {
    let hub = start(|_| {}).await;
    let mut b = bystander(&hub).await;
    let mut c = Client::connect(&hub, None, false).await;
    assert_eq!(
        c.invoke("Nope", json!([1])).await,
        Err("Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.".into())
    );
    assert_eq!(
        c.invoke("SendToGroup", json!(["g"])).await,
        Err("Failed to invoke 'SendToGroup' due to an error on the server. InvalidDataException: Invocation provides 1 argument(s) but target expects 2.".into())
    );
    assert_eq!(
        c.invoke("SendToGroup", json!([["g"], 5])).await,
        Err("Failed to invoke 'SendToGroup' due to an error on the server. InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.".into())
    );
    assert_eq!(
        c.invoke("AddToGroup", json!([null])).await,
        Err("An unexpected error occurred invoking 'AddToGroup' on the server. ArgumentNullException: Value cannot be null. (Parameter 'groupName')".into())
    );
    c.send(&HubMessage::StreamInvocation {
        invocation_id: "s".into(),
        target: "SendToAll".into(),
        arguments: vec![json!("p")],
        stream_ids: None,
        headers: Default::default(),
    })
    .await;
    assert_eq!(
        c.completion("s").await,
        Err("The client attempted to invoke the non-streaming 'SendToAll' method with a streaming invocation.".into())
    );
    c.ok("SendToGroup", json!(["g", "after errors"])).await;
    assert_eq!(b.sync().await, vec!["after errors"]);
    hub.shutdown().await;
}

#[tokio::test]
async fn a_group_name_over_the_limit_is_refused() {
    let hub = start(|c| c.max_group_name_bytes = 16).await;
    let mut b = bystander(&hub).await;
    let mut c = Client::connect(&hub, Some("u"), false).await;
    let long = "é".repeat(9); // 18 bytes, 9 characters
    for (method, args) in [
        ("AddToGroup", json!([long])),
        ("SendToGroup", json!([long, "p"])),
        ("SendToGroups", json!([["ok", long], "p"])),
        ("JoinRoom", json!([long])),
    ] {
        assert_eq!(
            c.invoke(method, args).await,
            Err(format!("An unexpected error occurred invoking '{method}' on the server. HubException: The group name is 18 bytes long; the limit is 16 bytes."))
        );
    }
    c.ok("AddToGroup", json!(["x".repeat(16)])).await;
    assert_eq!(hub.model().groups().len(), 2, "g and the 16-byte name");
    assert!(hub.model().rooms.is_empty(), "nothing recorded");
    still_fine(&hub, &mut b).await;
    hub.shutdown().await;
}

#[tokio::test]
async fn the_default_group_name_limit_is_1024_bytes() {
    let hub = start(|_| {}).await;
    let mut b = bystander(&hub).await;
    let mut c = Client::connect(&hub, None, false).await;
    c.ok("AddToGroup", json!(["a".repeat(1024)])).await;
    assert_eq!(
        c.invoke("AddToGroup", json!(["a".repeat(1025)])).await,
        Err("An unexpected error occurred invoking 'AddToGroup' on the server. HubException: The group name is 1025 bytes long; the limit is 1024 bytes.".into())
    );
    b.ok("SendToGroup", json!(["a".repeat(1024), "long"])).await;
    assert_eq!(c.sync().await, vec!["long"]);
    still_fine(&hub, &mut b).await;
    hub.shutdown().await;
}

#[tokio::test]
async fn a_record_over_the_maximum_message_size_closes_with_an_error() {
    let hub = start(|_| {}).await;
    let mut b = bystander(&hub).await;
    let big =
        HubMessage::invocation(Some("1"), "SendToAll", vec![json!("x".repeat(40_000))]).to_wire();
    assert_eq!(
        close_after(&hub, &big).await.as_deref(),
        Some("Connection closed with an error. InvalidDataException: The maximum message size of 32768B was exceeded. The message size can be configured in AddHubOptions.")
    );
    let mut c = Client::connect(&hub, None, false).await;
    let fits = HubMessage::invocation(Some("1"), "SendToCaller", vec![json!("y".repeat(30_000))]);
    c.send(&fits).await;
    assert_eq!(c.completion("1").await, Ok(None));
    still_fine(&hub, &mut b).await;
    hub.shutdown().await;
}

#[tokio::test]
async fn handshake_garbage_gets_a_handshake_error() {
    let hub = start(|_| {}).await;
    let mut b = bystander(&hub).await;
    for (request, error) in [
        ("hello\u{1e}", "An unexpected error occurred during connection handshake. InvalidDataException: Error reading JSON."),
        ("{\"protocol\":\"json\"}\u{1e}", "An unexpected error occurred during connection handshake. InvalidDataException: Missing required property 'version'. Message content: {\"protocol\":\"json\"}"),
    ] {
        let ws = open(&hub, "").await.unwrap();
        let mut c = Client::over(ws, String::new(), None);
        c.send_raw(request).await;
        let answer: serde_json::Value = serde_json::from_str(&c.next_record().await.unwrap()).unwrap();
        assert_eq!(answer, json!({ "error": error }));
        // No hub Close message after a failed handshake, just the close frame (see
        // `protocol::handshake_answer`).
        assert!(c.next_record().await.is_none(), "closed after the error");
        assert_eq!(c.ended, Some(SocketEnd::CloseFrame(1000)));
    }
    still_fine(&hub, &mut b).await;
    hub.shutdown().await;
}

#[tokio::test]
async fn a_handshake_that_never_comes_is_canceled() {
    let hub = start(|c| c.handshake_timeout = Duration::from_millis(200)).await;
    let mut b = bystander(&hub).await;
    let ws = open(&hub, "").await.unwrap();
    let mut c = Client::over(ws, String::new(), None);
    assert_eq!(
        c.next_record().await.as_deref(),
        Some(r#"{"error":"Handshake was canceled."}"#)
    );
    assert!(c.next_record().await.is_none());
    assert_eq!(c.ended, Some(SocketEnd::CloseFrame(1000)));
    assert_eq!(hub.model().conns.len(), 1, "only the bystander");
    still_fine(&hub, &mut b).await;
    hub.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_invocations_closes_only_the_flooding_connection() {
    let hub = start(|c| c.max_pending_invocations = 64).await;
    let mut b = bystander(&hub).await;
    let mut c = Client::connect(&hub, None, false).await;
    let flood: String = (0..200)
        .map(|i| {
            HubMessage::invocation(
                Some(&i.to_string()),
                "SendToGroup",
                vec![json!("g"), json!("flood")],
            )
            .to_wire()
        })
        .collect();
    c.send_raw(&flood).await;
    let mut close = None;
    while let Some(m) = c.recv().await {
        if let m @ HubMessage::Close { .. } = m {
            close = Some(m);
        }
    }
    // refhub's own limit: the error, and no allowReconnect (as for a hub that aborts the
    // connection); see the README's "Close messages".
    assert_eq!(
        close,
        Some(HubMessage::Close {
            error: Some("Connection closed with an error. HubException: 200 invocations arrived at once; the limit is 64.".into()),
            allow_reconnect: false,
        })
    );
    still_fine(&hub, &mut b).await;
    // 64 at once is within the limit.
    let mut d = Client::connect(&hub, None, false).await;
    let ok: String = (0..64)
        .map(|i| {
            HubMessage::invocation(Some(&i.to_string()), "SendToCaller", vec![json!("p")]).to_wire()
        })
        .collect();
    d.send_raw(&ok).await;
    assert_eq!(d.completion("63").await, Ok(None));
    hub.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_read_is_cut_without_blocking_others() {
    let hub = start(|c| c.max_queued_messages = 1_000).await;
    let mut b = bystander(&hub).await;
    // A socket that handshakes, joins "flooded", then never reads again.
    let mut slow = Client::connect(&hub, None, false).await;
    slow.ok("AddToGroup", json!(["flooded"])).await;
    let mut sender = Client::connect(&hub, None, false).await;
    assert_eq!(hub.model().conns.len(), 3);
    let payload = "z".repeat(8_000);
    // A bound on the wait, not a speed figure: a sender blocked behind the slow consumer
    // would never get here.
    tokio::time::timeout(Duration::from_secs(60), async {
        for _ in 0..6_000 {
            sender
                .send(&HubMessage::invocation(
                    None,
                    "SendToGroup",
                    vec![json!("flooded"), json!(payload)],
                ))
                .await;
        }
        sender.ok("SendToCaller", json!(["done"])).await;
    })
    .await
    .expect("the sender is not blocked by the slow consumer");
    let mut cut = false;
    for _ in 0..250 {
        if hub.model().conns.len() == 2 {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cut, "the slow consumer was cut");
    still_fine(&hub, &mut b).await;
    drop(slow);
    hub.shutdown().await;
}

/// Sends `frames` on `ws` while reading it (the server may stop reading before the last one
/// is written), and returns every hub message received until the socket ends.
async fn messages_while_sending(ws: Ws, frames: Vec<String>) -> Vec<HubMessage> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (mut sink, mut stream) = ws.split();
    let sending = tokio::spawn(async move {
        for frame in frames {
            if sink.feed(Message::text(frame)).await.is_err() {
                return;
            }
        }
        let _ = sink.flush().await;
        // Keep the sending half (and the socket) open until the server is done.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut reader = hubspec_wire::RecordReader::unlimited();
    let mut seen = Vec::new();
    let read = async {
        while let Some(Ok(frame)) = stream.next().await {
            if let Message::Text(text) = frame {
                reader.push(text.as_bytes());
                while let Some(record) = reader.next_record().unwrap() {
                    let m = HubMessage::parse(&record).unwrap();
                    if !matches!(m, HubMessage::Ping | HubMessage::Ack { .. }) {
                        seen.push(m);
                    }
                }
            }
        }
    };
    tokio::time::timeout(WAIT * 4, read)
        .await
        .expect("the server ended the socket");
    sending.abort();
    seen
}

/// A WebSocket frame over refhub's hard cap (max(4 × max_message_bytes, 1 MiB)) is refused
/// like any record over `max_message_bytes`, as ASP.NET Core refuses whatever goes over
/// MaximumReceiveMessageSize: a Close with the error, and the connection ends, even a stateful
/// one (the client sent too much; its socket was not lost).
#[tokio::test]
async fn a_frame_over_the_websocket_cap_closes_with_an_error_and_is_not_resumable() {
    for stateful in [false, true] {
        let hub = start(|_| {}).await;
        let mut b = bystander(&hub).await;
        let mut c = Client::connect(&hub, None, stateful).await;
        c.ok("AddToGroup", json!(["big"])).await;
        let token = c.token.clone().unwrap();
        let huge = HubMessage::invocation(
            Some("2"),
            "SendToCaller",
            vec![json!("x".repeat(1_500_000))],
        )
        .to_wire();
        let seen = messages_while_sending(c.into_ws(), vec![huge]).await;
        assert_eq!(
            seen.last(),
            Some(&HubMessage::Close {
                error: Some("Connection closed with an error. InvalidDataException: The maximum message size of 32768B was exceeded. The message size can be configured in AddHubOptions.".into()),
                allow_reconnect: true,
            }),
            "stateful: {stateful}, got {seen:?}"
        );
        assert_eq!(
            hub.model().conns.len(),
            1,
            "stateful: {stateful}: ended, not suspended"
        );
        assert_eq!(
            status_of(open(&hub, &format!("?id={token}")).await.unwrap_err()),
            404,
            "stateful: {stateful}: not resumable"
        );
        still_fine(&hub, &mut b).await;
        hub.shutdown().await;
    }
}

/// The flood bound holds across frames: one invocation per frame, faster than
/// `max_invocations_per_second`, closes the connection once the burst allowance is spent.
#[tokio::test]
async fn a_flood_spread_over_many_frames_closes_only_the_flooding_connection() {
    let hub = start(|c| c.max_invocations_per_second = 50).await;
    let mut b = bystander(&hub).await;
    let c = Client::connect(&hub, None, false).await;
    // 2000 invocations, each in its own frame: far more than 50 plus what refills while they
    // arrive.
    let frames: Vec<String> = (0..2000)
        .map(|i| {
            HubMessage::invocation(Some(&i.to_string()), "SendToCaller", vec![json!("flood")])
                .to_wire()
        })
        .collect();
    let seen = messages_while_sending(c.into_ws(), frames).await;
    assert_eq!(
        seen.last(),
        Some(&HubMessage::Close {
            error: Some("Connection closed with an error. HubException: invocations arrived faster than the limit of 50 per second.".into()),
            allow_reconnect: false,
        }),
    );
    let answered = seen
        .iter()
        .filter(|m| matches!(m, HubMessage::Completion { .. }))
        .count();
    assert!(
        (50..2000).contains(&answered),
        "the burst allowance was answered, the rest was not: {answered}"
    );
    assert_eq!(hub.model().conns.len(), 1, "only the bystander");
    still_fine(&hub, &mut b).await;
    // A client within the rate is not affected.
    let mut d = Client::connect(&hub, None, false).await;
    for _ in 0..40 {
        d.ok("SendToCaller", json!(["p"])).await;
    }
    hub.shutdown().await;
}

/// What a client that keeps writing saw of the server's end.
#[derive(Debug)]
struct Ending {
    /// The hub messages read before the socket ended.
    seen: Vec<HubMessage>,
    /// How the socket ended: a close frame or not.
    end: SocketEnd,
    /// How the stream ended after the close frame (`None` for a clean end of the TCP
    /// connection, or the error a read got then).
    after_close: Option<String>,
    /// Why the writing stopped: writes refused because the client saw the close (a clean
    /// ending), or an I/O error, which is how a client learns that the server reset the
    /// connection.
    write_error: String,
}

/// Writes `frame` on `ws` again and again (as fast as the socket takes it) while reading, until
/// the socket ends or a write fails; returns what was read. The writer never waits for the
/// server, so whatever the server decides, it has unread input when it does.
async fn keep_writing(ws: Ws, frame: Message) -> Ending {
    use futures_util::StreamExt;
    let (mut sink, mut stream) = ws.split();
    let writing = tokio::spawn(async move {
        loop {
            if let Err(e) = sink.send(frame.clone()).await {
                return e.to_string();
            }
        }
    });
    let mut reader = hubspec_wire::RecordReader::unlimited();
    let mut seen = Vec::new();
    let read = async {
        let end = loop {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => {
                    reader.push(text.as_bytes());
                    while let Some(record) = reader.next_record().unwrap() {
                        let m = HubMessage::parse(&record).unwrap();
                        if !matches!(m, HubMessage::Ping | HubMessage::Ack { .. }) {
                            seen.push(m);
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    break SocketEnd::CloseFrame(frame.map_or(1005, |f| u16::from(f.code)))
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return (SocketEnd::Dropped, None),
            }
        };
        // Reading on sends the client's answering close frame and sees how the TCP connection
        // then ends.
        let after_close = loop {
            match stream.next().await {
                Some(Ok(_)) => {}
                None => break None,
                Some(Err(e)) => break Some(e.to_string()),
            }
        };
        (end, after_close)
    };
    let (end, after_close) = tokio::time::timeout(WAIT * 2, read)
        .await
        .expect("the server ended the socket");
    let write_error = tokio::time::timeout(WAIT, writing)
        .await
        .expect("the writes stopped")
        .unwrap();
    Ending {
        seen,
        end,
        after_close,
        write_error,
    }
}

/// A client that keeps writing after refhub decided to close it (here a stream of bare 0x1E
/// records, each an empty record, which is not JSON) still gets the Close and the close frame,
/// and the connection ends cleanly: refhub reads and discards its input for a bounded time
/// after closing. Without that the socket is torn down with unread input, which makes the
/// kernel send a reset (and drop what it had not sent yet); a client then sees its writes fail
/// and, depending on its library, never reads the Close.
#[tokio::test]
async fn a_client_that_keeps_writing_after_the_close_still_gets_the_close() {
    let hub = start(|_| {}).await;
    let mut b = bystander(&hub).await;
    for round in 0..3 {
        let c = Client::connect(&hub, None, true).await;
        let ending = keep_writing(c.into_ws(), Message::text("\u{1e}")).await;
        assert_eq!(
            ending.seen.last(),
            Some(&HubMessage::Close {
                error: Some(
                    "Connection closed with an error. InvalidDataException: Error reading JSON."
                        .into()
                ),
                allow_reconnect: true,
            }),
            "round {round}: {ending:?}"
        );
        assert_eq!(ending.end, SocketEnd::CloseFrame(1000), "round {round}");
        assert_eq!(ending.after_close, None, "round {round}: a clean end");
        assert!(
            !ending.write_error.starts_with("IO error"),
            "round {round}: not reset: {ending:?}"
        );
    }
    assert_eq!(hub.model().conns.len(), 1, "only the bystander");
    still_fine(&hub, &mut b).await;
    hub.shutdown().await;
}

/// A text frame whose payload is not UTF-8 (sent as a raw frame: a WebSocket library will not
/// build such a text message).
fn invalid_utf8_text_frame() -> Message {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    Message::Frame(Frame::message(
        vec![b'{', 0xff, 0xfe, b'}', 0x1e],
        OpCode::Data(Data::Text),
        true,
    ))
}

/// Invalid UTF-8 in a text frame ends the connection (stateful or not: the client sent bad
/// input, its socket was not lost) with ASP.NET Core's Close and a close frame with status
/// 1007, as RFC 6455 asks; before the handshake, with the close frame alone.
#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let hub = start(|_| {}).await;
    let mut b = bystander(&hub).await;
    for stateful in [false, true] {
        let mut c = Client::connect(&hub, None, stateful).await;
        c.ok("AddToGroup", json!(["g"])).await;
        let token = c.token.clone().unwrap();
        tokio::time::timeout(WAIT, c.ws.send(invalid_utf8_text_frame()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            c.closed().await,
            Some(HubMessage::Close {
                error: Some("Connection closed with an error. WebSocketException: An exception caused the WebSocket to enter the Aborted state. Please see the InnerException, if present, for more details.".into()),
                allow_reconnect: true,
            }),
            "stateful: {stateful}"
        );
        assert_eq!(c.ended, Some(SocketEnd::CloseFrame(1007)));
        assert_eq!(hub.model().conns.len(), 1, "stateful: {stateful}: ended");
        assert_eq!(
            status_of(open(&hub, &format!("?id={token}")).await.unwrap_err()),
            404,
            "stateful: {stateful}: not resumable"
        );
    }
    let ws = open(&hub, "").await.unwrap();
    let mut c = Client::over(ws, String::new(), None);
    c.ws.send(invalid_utf8_text_frame()).await.unwrap();
    assert_eq!(c.next_record().await, None, "no handshake answer");
    assert_eq!(c.ended, Some(SocketEnd::CloseFrame(1007)));
    still_fine(&hub, &mut b).await;
    hub.shutdown().await;
}
