//! The MessagePack hub protocol on the same hub as JSON: the handshake picks, messages travel
//! in binary frames, the members of one group each receive every send in their own encoding,
//! and malformed MessagePack gets the Close ASP.NET Core gives without disturbing anyone else.

use futures_util::{SinkExt, StreamExt};
use hubspec_refhub::{Fault, RefHub};
use hubspec_wire::{
    HandshakeRequest, HandshakeResponse, HubMessage, HubProtocol, MessageReader, RecordReader,
};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{
    negotiate, open, outcome, reconnectable_close, start, Client, SocketEnd, Ws, WAIT,
};

/// A MessagePack test client: the handshake in JSON text, then binary frames only. It records
/// whether any frame after the handshake was not binary.
struct Packed {
    ws: Ws,
    reader: MessageReader,
    next_invocation: u64,
    /// `Receive` payloads seen while waiting for something else, in order.
    received: Vec<Value>,
    /// Text frames after the handshake answer (a MessagePack socket must have none).
    text_frames: usize,
    ended: Option<SocketEnd>,
}

impl Packed {
    /// Negotiate, WebSocket, `{"protocol":"messagepack","version":1}`.
    async fn connect(hub: &RefHub) -> Packed {
        let n = negotiate(hub, None, false).await;
        let token = n.connection_token.unwrap();
        let mut ws = open(hub, &format!("?id={token}"))
            .await
            .expect("WebSocket upgrade");
        let request = HandshakeRequest::for_protocol(HubProtocol::MessagePack, 1).to_json();
        send(&mut ws, Message::text(request + "\u{1e}")).await;
        let mut records = RecordReader::unlimited();
        let answer = loop {
            if let Some(record) = records.next_record().unwrap() {
                break record;
            }
            match tokio::time::timeout(WAIT, ws.next()).await.expect("answer") {
                Some(Ok(Message::Text(t))) => records.push(t.as_bytes()),
                other => panic!("expected the handshake answer in a text frame, got {other:?}"),
            }
        };
        assert!(HandshakeResponse::parse(&answer).unwrap().is_success());
        let mut reader = HubProtocol::MessagePack.reader(None);
        reader.push(records.take_remaining());
        Packed {
            ws,
            reader,
            next_invocation: 0,
            received: Vec::new(),
            text_frames: 0,
            ended: None,
        }
    }

    async fn send_bytes(&mut self, bytes: Vec<u8>) {
        send(&mut self.ws, Message::binary(bytes)).await;
    }

    /// The next hub message other than Ping, or `None` when the socket ends.
    async fn recv(&mut self) -> Option<HubMessage> {
        loop {
            if let Some(payload) = self.reader.next_payload().unwrap() {
                let message = HubProtocol::MessagePack.parse(&payload).unwrap();
                if message != HubMessage::Ping {
                    return Some(message);
                }
                continue;
            }
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match frame {
                Some(Ok(Message::Binary(b))) => self.reader.push(&b),
                Some(Ok(Message::Text(t))) => {
                    self.text_frames += 1;
                    self.reader.push(t.as_bytes());
                }
                Some(Ok(Message::Close(frame))) => {
                    self.ended = Some(SocketEnd::CloseFrame(
                        frame.map_or(1005, |f| u16::from(f.code)),
                    ));
                    return None;
                }
                None | Some(Err(_)) => {
                    self.ended = Some(SocketEnd::Dropped);
                    return None;
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Invokes `method` and waits for its Completion; `Receive`s seen meanwhile are kept.
    async fn invoke(&mut self, method: &str, args: Value) -> Result<Option<Value>, String> {
        self.next_invocation += 1;
        let id = self.next_invocation.to_string();
        let args = args.as_array().unwrap().clone();
        let message = HubMessage::invocation(Some(&id), method, args);
        self.send_bytes(HubProtocol::MessagePack.encode(&message))
            .await;
        self.completion(&id).await
    }

    async fn completion(&mut self, id: &str) -> Result<Option<Value>, String> {
        loop {
            match self
                .recv()
                .await
                .expect("socket ended before the Completion")
            {
                HubMessage::Completion {
                    invocation_id,
                    result,
                    ..
                } if invocation_id == id => return outcome(result),
                HubMessage::Invocation {
                    target, arguments, ..
                } if target == "Receive" => self.received.push(arguments[0].clone()),
                other => panic!("unexpected message {other:?}"),
            }
        }
    }

    async fn ok(&mut self, method: &str, args: Value) {
        if let Err(e) = self.invoke(method, args).await {
            panic!("{method} failed: {e}");
        }
    }

    /// Every payload received up to now, through a `SendToCaller` barrier.
    async fn sync(&mut self) -> Vec<Value> {
        self.ok("SendToCaller", json!(["__sync"])).await;
        let mut got = std::mem::take(&mut self.received);
        assert_eq!(got.pop(), Some(json!("__sync")));
        got
    }

    /// Waits for the socket to end; returns the Close message seen, if any.
    async fn closed(&mut self) -> Option<HubMessage> {
        let mut close = None;
        while let Some(m) = self.recv().await {
            if let HubMessage::Close { .. } = m {
                close = Some(m);
            }
        }
        close
    }
}

async fn send(ws: &mut Ws, message: Message) {
    tokio::time::timeout(WAIT, ws.send(message))
        .await
        .expect("send timed out")
        .expect("send failed");
}

#[tokio::test]
async fn the_members_of_one_group_each_receive_every_send_in_their_own_protocol() {
    let hub = start(|_| {}).await;
    let mut text = Client::connect(&hub, None, false).await;
    let mut packed = Packed::connect(&hub).await;
    let mut other = Packed::connect(&hub).await;
    text.ok("AddToGroup", json!(["g"])).await;
    packed.ok("AddToGroup", json!(["g"])).await;
    other.ok("AddToGroup", json!(["g"])).await;
    // The same arguments decode to the same values whichever protocol carried them.
    let payload = "h\u{e9}llo \u{1f600} \"quoted\" \\ \u{1e}";
    text.ok("SendToGroup", json!(["g", payload])).await;
    packed.ok("SendToGroup", json!(["g", "from msgpack"])).await;
    assert_eq!(text.sync().await, vec![payload, "from msgpack"]);
    assert_eq!(
        packed.sync().await,
        vec![json!(payload), json!("from msgpack")]
    );
    assert_eq!(
        other.sync().await,
        vec![json!(payload), json!("from msgpack")]
    );
    let id = packed.invoke("GetConnectionId", json!([])).await.unwrap();
    assert!(id.is_some_and(|id| id.is_string()));
    assert_eq!(
        packed.text_frames, 0,
        "binary frames only after the handshake"
    );
    assert_eq!(other.text_frames, 0);
    hub.shutdown().await;
}

#[tokio::test]
async fn a_messagepack_invocation_in_the_handshake_frame_is_handled() {
    let hub = start(|_| {}).await;
    let mut ws = open(&hub, "").await.unwrap();
    let mut frame = (HandshakeRequest::for_protocol(HubProtocol::MessagePack, 1).to_json()
        + "\u{1e}")
        .into_bytes();
    frame.extend(HubProtocol::MessagePack.encode(&HubMessage::invocation(
        Some("1"),
        "SendToCaller",
        vec![json!("early")],
    )));
    send(&mut ws, Message::binary(frame)).await;
    let mut records = RecordReader::unlimited();
    let mut packed = loop {
        if let Some(record) = records.next_record().unwrap() {
            assert_eq!(record, "{}");
            let mut reader = HubProtocol::MessagePack.reader(None);
            reader.push(records.take_remaining());
            break Packed {
                ws,
                reader,
                next_invocation: 1,
                received: Vec::new(),
                text_frames: 0,
                ended: None,
            };
        }
        match tokio::time::timeout(WAIT, ws.next()).await.expect("answer") {
            Some(Ok(Message::Text(t))) => records.push(t.as_bytes()),
            other => panic!("expected the handshake answer, got {other:?}"),
        }
    };
    assert_eq!(packed.completion("1").await, Ok(None));
    assert_eq!(packed.received, vec![json!("early")]);
    hub.shutdown().await;
}

/// The Close a MessagePack connection gets after sending `bytes` in one binary frame: the
/// error and allowReconnect, as for malformed JSON (see `bad_input::close_after`), then the
/// close frame.
async fn close_after(hub: &RefHub, bytes: Vec<u8>) -> Option<String> {
    let mut c = Packed::connect(hub).await;
    c.send_bytes(bytes).await;
    let close = c.closed().await;
    reconnectable_close(close, &c.ended)
}

/// `payload` behind a correct length prefix.
fn framed(payload: &[u8]) -> Vec<u8> {
    hubspec_wire::msgpack::frame(payload)
}

#[tokio::test]
async fn malformed_messagepack_closes_that_connection_only_with_aspnet_core_errors() {
    let hub = start(|c| c.max_message_bytes = 1024).await;
    let mut text = Client::connect(&hub, None, false).await;
    let mut packed = Packed::connect(&hub).await;
    text.ok("AddToGroup", json!(["g"])).await;
    packed.ok("AddToGroup", json!(["g"])).await;
    let error = |detail: &str| Some(format!("Connection closed with an error. {detail}"));
    // A length prefix that does not end within 5 bytes (`BinaryMessageParser`).
    assert_eq!(
        close_after(&hub, vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).await,
        error("FormatException: Messages over 2GB in size are not supported.")
    );
    // Truncated: an Invocation array of 6 whose payload ends after the type.
    assert_eq!(
        close_after(&hub, framed(&[0x96, 0x01])).await,
        error("InvalidDataException: Reading map length for 'headers' failed.")
    );
    // Wrong arity: a Completion with no invocation id.
    assert_eq!(
        close_after(&hub, framed(&[0x92, 0x03, 0x80])).await,
        error("InvalidDataException: Reading 'invocationId' as String failed.")
    );
    // Wrong types: a target that is an integer.
    assert_eq!(
        close_after(
            &hub,
            framed(&[0x96, 0x01, 0x80, 0xa1, b'1', 0x05, 0x90, 0x90])
        )
        .await,
        error("InvalidDataException: Reading 'target' as String failed.")
    );
    // Not an array at all.
    assert_eq!(
        close_after(&hub, framed(&[0x2a])).await,
        error("InvalidDataException: The message is not a MessagePack array.")
    );
    // Over `max_message_bytes`, counted with its length prefix.
    assert_eq!(
        close_after(&hub, framed(&[0xc4; 1100])).await,
        error("InvalidDataException: The maximum message size of 1024B was exceeded. The message size can be configured in AddHubOptions.")
    );
    // Nobody else noticed: both protocols still deliver to the group.
    text.ok("SendToGroup", json!(["g", "still here"])).await;
    assert_eq!(text.sync().await, vec!["still here"]);
    assert_eq!(packed.sync().await, vec![json!("still here")]);
    hub.shutdown().await;
}

#[tokio::test]
async fn unreadable_messagepack_arguments_get_a_completion_error_and_the_connection_lives_on() {
    let hub = start(|_| {}).await;
    let mut packed = Packed::connect(&hub).await;
    // `[1, {}, "7", "SendToCaller", 5]`: arguments that are not an array.
    packed
        .send_bytes(framed(&[
            0x95, 0x01, 0x80, 0xa1, b'7', 0xac, b'S', b'e', b'n', b'd', b'T', b'o', b'C', b'a',
            b'l', b'l', b'e', b'r', 0x05,
        ]))
        .await;
    assert_eq!(
        packed.completion("7").await,
        Err("Failed to invoke 'SendToCaller' due to an error on the server. InvalidDataException: Reading array length for 'arguments' failed.".to_owned())
    );
    assert_eq!(packed.sync().await, Vec::<Value>::new());
    hub.shutdown().await;
}

/// The bytes of the next binary frame `c` receives (`None`: the socket ended).
async fn next_binary(c: &mut Packed) -> Option<Vec<u8>> {
    loop {
        match tokio::time::timeout(WAIT, c.ws.next())
            .await
            .expect("a frame")
        {
            Some(Ok(Message::Binary(b))) => return Some(b.to_vec()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// What a MessagePack and a JSON member of one group get for one `SendToGroup` on a hub with
/// `fault`: the MessagePack frame's bytes, the JSON member's payloads.
async fn one_send_with(fault: Fault) -> (Vec<u8>, Vec<String>) {
    let hub = start(|c| {
        c.faults.insert(fault);
    })
    .await;
    let mut text = Client::connect(&hub, None, false).await;
    let mut packed = Packed::connect(&hub).await;
    text.ok("AddToGroup", json!(["g"])).await;
    packed.ok("AddToGroup", json!(["g"])).await;
    let mut sender = Client::connect(&hub, None, false).await;
    sender.ok("SendToGroup", json!(["g", "m"])).await;
    let frame = next_binary(&mut packed).await.expect("the Receive");
    // The JSON member reads its record unless the fault is JSON's own (`receive-not-json`).
    let got = if fault == Fault::ReceiveNotJson {
        Vec::new()
    } else {
        text.sync().await
    };
    hub.shutdown().await;
    (frame, got)
}

#[tokio::test]
async fn the_messagepack_faults_break_only_messagepack_receives() {
    let correct =
        HubProtocol::MessagePack.encode(&HubMessage::invocation(None, "Receive", vec![json!("m")]));
    let (frame, got) = one_send_with(Fault::MsgpackBadLengthPrefix).await;
    assert_eq!(got, vec!["m"], "JSON members are not affected");
    assert_eq!(frame[..5], [0x80; 5], "a prefix that never ends");
    assert_eq!(frame[5..], correct[1..]);
    let (frame, got) = one_send_with(Fault::MsgpackHeadersNotAMap).await;
    assert_eq!(got, vec!["m"]);
    assert_eq!(frame[3], 0x90, "headers as an empty array");
    let mut fixed = frame.clone();
    fixed[3] = 0x80;
    assert_eq!(fixed, correct);
    // And the JSON encoding's fault leaves MessagePack sockets alone.
    let (frame, _) = one_send_with(Fault::ReceiveNotJson).await;
    assert_eq!(frame, correct);
}
