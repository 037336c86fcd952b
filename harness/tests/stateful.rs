//! Keep-alive and stateful reconnect against a fake hub that negotiates, numbers its messages
//! with the wire's `MessageBuffer`, lets a dropped connection resume at its token, and can get
//! the resume wrong.
//!
//! Pings: the JSON hub protocol does not answer Pings (HubProtocol.md: a Ping "does not
//! require a response"); each side sends its own keep-alive. So the client tolerates a Ping
//! from the server without answering it, and sends its own every `ping_interval`.
//!
//! The listener and the record loop are `common`'s; [`Numbered`] says only how it answers.

mod common;

use common::{all, receive, Call, Fake, Listener, Socket, Then, Ws, HANDSHAKE_OK};
use futures_util::SinkExt;
use hubspec_harness::{Client, ClientOptions, DivergenceKind, RunReport, Session, TargetConfig};
use hubspec_model::{Capability, ConnId, Op, Profile, Selector, Spec};
use hubspec_wire::{CompletionResult, HubMessage, MessageBuffer};
use serde_json::json;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// A resume gets no Sequence message.
    OmitSequence,
    /// A resume gets a Sequence that jumps past the next message the client expects.
    WrongSequence,
    /// After a resume's Sequence, a `Receive` whose payload names step 0 of the run.
    MangledReplay,
}

struct Conn {
    id: String,
    buffer: MessageBuffer,
    handshaken: bool,
    /// The run's prefix, learnt from a barrier marker (`<prefix>~<step>.<n>`).
    prefix: Option<String>,
}

struct Hub {
    url: String,
    fault: Fault,
    conns: Mutex<HashMap<String, Conn>>,
    pings: AtomicU32,
    acks: AtomicU32,
    heard: Notify,
    next: AtomicU32,
}

impl Hub {
    /// Waits (bounded) until `count` reaches `n`; false if it did not within 10 s.
    async fn wait_for(&self, count: &AtomicU32, n: u32) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let heard = self.heard.notified();
            if count.load(Ordering::SeqCst) >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, heard).await.is_err() {
                return count.load(Ordering::SeqCst) >= n;
            }
        }
    }
}

async fn start(fault: Fault) -> Arc<Hub> {
    let listener = Listener::bind().await;
    let hub = Arc::new(Hub {
        url: format!("http://{}/hub", listener.addr),
        fault,
        conns: Mutex::new(HashMap::new()),
        pings: AtomicU32::new(0),
        acks: AtomicU32::new(0),
        heard: Notify::new(),
        next: AtomicU32::new(0),
    });
    let h = hub.clone();
    listener.serve(move |tcp, _| {
        let h = h.clone();
        async move {
            let mut head = [0u8; 4];
            if tcp.peek(&mut head).await.is_err() {
                return;
            }
            if &head == b"POST" {
                negotiate(&h, tcp).await;
            } else {
                socket(&h, tcp).await;
            }
        }
    });
    hub
}

/// Answers a negotiate POST: a new connection, stateful reconnect granted.
async fn negotiate(hub: &Hub, mut tcp: TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let n = hub.next.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("tok-{n}");
    hub.conns.lock().unwrap().insert(
        token.clone(),
        Conn {
            id: format!("conn-{n}"),
            buffer: MessageBuffer::new(1 << 20),
            handshaken: false,
            prefix: None,
        },
    );
    let body = json!({
        "negotiateVersion": 1,
        "connectionId": format!("conn-{n}"),
        "connectionToken": token,
        "useStatefulReconnect": true,
        "availableTransports": [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}],
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(response.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

/// Accepts a WebSocket: a new connection does the handshake; one that resumes at its token
/// gets its Sequence (or the fault's) and its buffered messages first.
async fn socket(hub: &Hub, tcp: TcpStream) {
    let Some(mut socket) = Socket::accept(tcp).await else {
        return;
    };
    let Some(token) = socket
        .uri
        .split("id=")
        .nth(1)
        .map(|t| t.split('&').next().unwrap().to_string())
    else {
        return;
    };
    let (resumed, id) = {
        let conns = hub.conns.lock().unwrap();
        let Some(conn) = conns.get(&token) else {
            return;
        };
        (conn.handshaken, conn.id.clone())
    };
    let mut fake = Numbered { hub, token, id };
    if resumed {
        let (sequence, records, prefix) = {
            let mut conns = hub.conns.lock().unwrap();
            let conn = conns.get_mut(&fake.token).unwrap();
            let (sequence, records) = conn.buffer.resend();
            (sequence, records, conn.prefix.clone())
        };
        let sequence = match (hub.fault, sequence) {
            (Fault::OmitSequence, _) => None,
            (Fault::WrongSequence, HubMessage::Sequence { sequence_id }) => {
                Some(HubMessage::Sequence {
                    sequence_id: sequence_id + 100,
                })
            }
            (_, s) => Some(s),
        };
        let ws = &mut socket.ws;
        if let Some(s) = sequence {
            let _ = ws.send(Message::text(s.to_wire())).await;
        }
        for r in records {
            let _ = ws.send(Message::text(r)).await;
        }
        if hub.fault == Fault::MangledReplay {
            let payload = format!("{}0|boom", prefix.unwrap_or_default());
            fake.send(ws, &receive(&json!(payload))).await;
        }
        socket.handshaken = true;
    }
    socket.serve(&mut fake).await;
}

/// One connection of the hub: every message it writes goes through the connection's buffer,
/// so it is numbered and kept for a resume.
struct Numbered<'a> {
    hub: &'a Hub,
    token: String,
    id: String,
}

impl Fake for Numbered<'_> {
    fn encode(&self, message: &HubMessage) -> Message {
        let mut conns = self.hub.conns.lock().unwrap();
        Message::text(conns.get_mut(&self.token).unwrap().buffer.write(message))
    }

    async fn handshake(&mut self, ws: &mut Ws) -> Then {
        {
            let mut conns = self.hub.conns.lock().unwrap();
            conns.get_mut(&self.token).unwrap().handshaken = true;
        }
        let _ = ws.send(Message::text(HANDSHAKE_OK)).await;
        // A Ping from the server, which the client must tolerate without answering.
        let _ = ws.send(Message::text(HubMessage::Ping.to_wire())).await;
        Then::Next
    }

    fn heard(&mut self, message: &HubMessage) -> ControlFlow<Then> {
        match message {
            HubMessage::Ping => {
                self.hub.pings.fetch_add(1, Ordering::SeqCst);
                self.hub.heard.notify_waiters();
            }
            HubMessage::Ack { .. } => {
                self.hub.acks.fetch_add(1, Ordering::SeqCst);
                self.hub.heard.notify_waiters();
            }
            _ => {}
        }
        let mut conns = self.hub.conns.lock().unwrap();
        match conns.get_mut(&self.token).unwrap().buffer.receive(message) {
            Ok(true) => ControlFlow::Continue(()),
            _ => ControlFlow::Break(Then::Next),
        }
    }

    async fn invoke(&mut self, ws: &mut Ws, call: Call) -> Then {
        let arguments = &call.arguments;
        let result = match call.target.as_str() {
            "GetConnectionId" => CompletionResult::Result(json!(self.id)),
            "SendToConnection" => {
                if arguments[0] == json!(self.id) {
                    if let Some(marker) = arguments[1].as_str() {
                        if let Some(at) = marker.rfind('~') {
                            let mut conns = self.hub.conns.lock().unwrap();
                            conns.get_mut(&self.token).unwrap().prefix =
                                Some(marker[..at].to_string());
                        }
                    }
                    self.send(ws, &receive(&arguments[1])).await;
                }
                CompletionResult::Void
            }
            "SendToCaller" => {
                self.send(ws, &receive(&arguments[0])).await;
                CompletionResult::Void
            }
            _ => CompletionResult::Void,
        };
        self.send(ws, &call.completion(result)).await;
        Then::Next
    }
}

fn options(hub: &Hub, stateful: bool) -> ClientOptions {
    let mut opts = ClientOptions::new(hub.url.parse().unwrap());
    opts.stateful = stateful;
    opts.connect_timeout = Duration::from_secs(2);
    opts.invocation_timeout = Duration::from_secs(2);
    opts
}

#[tokio::test]
async fn an_inbound_ping_is_tolerated_and_the_client_pings_every_interval() {
    let hub = start(Fault::None).await;
    let mut opts = options(&hub, false);
    opts.ping_interval = Duration::from_millis(20);
    let mut client = Client::connect(opts).await.expect("connects");
    // One Ping right after the handshake, then one per interval: three means periodic.
    assert!(
        hub.wait_for(&hub.pings, 3).await,
        "the client sent {} pings",
        hub.pings.load(Ordering::SeqCst)
    );
    assert_eq!(client.connection_id().await.unwrap(), "conn-1");
    let frames: Vec<String> = client.frames().iter().map(|f| f.to_string()).collect();
    assert!(
        frames.iter().any(|f| f.contains("<- text {\"type\":6}")),
        "{frames:#?}"
    );
    assert!(client.take_findings().is_empty(), "an inbound Ping is fine");
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_stateful_client_acks_what_it_received() {
    let hub = start(Fault::None).await;
    let mut client = Client::connect(options(&hub, true))
        .await
        .expect("connects");
    assert!(client.is_stateful());
    assert_eq!(client.connection_id().await.unwrap(), "conn-1");
    // The acker runs once a second; wait for its Ack, bounded.
    assert!(hub.wait_for(&hub.acks, 1).await, "no Ack from the client");
    assert!(client.take_findings().is_empty());
    client.close().await.unwrap();
}

async fn run_resume(fault: Fault) -> RunReport {
    let hub = start(fault).await;
    let mut config = TargetConfig::for_url(&hub.url)
        .unwrap()
        .with_capabilities([Capability::StatefulReconnect])
        .with_profile(Profile::CoreStateful);
    config.timeouts.connect = Duration::from_secs(1);
    config.timeouts.invocation = Duration::from_millis(500);
    config.timeouts.barrier = Duration::from_secs(1);
    let ops = vec![
        Op::Connect { user: None },
        Op::Send {
            caller: ConnId(1),
            selector: Selector::Caller,
            payload: "m1".into(),
        },
        Op::Drop { conn: ConnId(1) },
        Op::Resume {
            conn: ConnId(1),
            altered_token: false,
        },
        Op::Send {
            caller: ConnId(1),
            selector: Selector::Caller,
            payload: "m2".into(),
        },
    ];
    let mut session = Session::new(
        &config,
        Spec::new(Profile::CoreStateful),
        &format!("{fault:?}"),
        None,
    );
    tokio::time::timeout(Duration::from_secs(20), session.run(&ops))
        .await
        .expect("bounded")
        .expect("valid history")
}

#[tokio::test]
async fn a_correct_resume_passes() {
    let report = run_resume(Fault::None).await;
    assert!(report.passed(), "{}", all(&report));
}

/// A resume answered without a Sequence breaks the protocol (PRO-SEQUENCE); one whose
/// Sequence skips past what the client received is well-formed but says the messages in
/// between are gone: lost on the resume (REC-RESUME-REPLAYS).
#[tokio::test]
async fn a_resume_without_a_sequence_or_past_the_missed_messages_is_named_for_what_it_breaks() {
    for (fault, rule) in [
        (Fault::OmitSequence, "PRO-SEQUENCE"),
        (Fault::WrongSequence, "REC-RESUME-REPLAYS"),
    ] {
        let report = run_resume(fault).await;
        let d = report
            .divergences
            .iter()
            .find(|d| d.violates(rule))
            .unwrap_or_else(|| panic!("{fault:?}: no {rule} in\n{}", all(&report)));
        assert_eq!(d.step, 4, "{d}");
        assert_eq!(d.kind, DivergenceKind::Protocol);
    }
}

#[tokio::test]
async fn a_replayed_payload_naming_step_zero_is_unexpected_not_a_crash() {
    let report = run_resume(Fault::MangledReplay).await;
    let d = report
        .divergences
        .iter()
        .find(|d| d.kind == DivergenceKind::Unexpected)
        .unwrap_or_else(|| panic!("no unexpected divergence in\n{}", all(&report)));
    assert_eq!(d.step, 4, "{d}");
    assert_eq!(d.rules, vec!["SND-EXACTLY-ONCE"]);
    assert!(d.observed.contains("0|boom"), "{d}");
}
