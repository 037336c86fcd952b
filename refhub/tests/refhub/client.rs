//! A minimal SignalR client for the tests: raw HTTP negotiate, tokio-tungstenite WebSocket,
//! the wire crate's codec. Every wait has a timeout.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hubspec_refhub::RefHub;
use hubspec_wire::{CompletionResult, NegotiateReply, NegotiateResponse};
use hubspec_wire::{HandshakeRequest, HandshakeResponse, HubMessage, RecordReader};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any single wait may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// A raw HTTP/1.1 request; returns (status, body).
pub async fn http(hub_url: &str, method: &str, path_and_query: &str) -> (u16, String) {
    let host = hub_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let work = async {
        let mut tcp = TcpStream::connect(&host).await.unwrap();
        let request = format!(
            "{method} {path_and_query} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    };
    tokio::time::timeout(WAIT, work)
        .await
        .expect("HTTP request timed out")
}

/// Where a hub listens: an in-process [`RefHub`], or a `hubspec-refhub` process known by the
/// URL it printed.
pub trait HubAt {
    /// `http://HOST:PORT/PATH`.
    fn url(&self) -> String;
}

impl HubAt for RefHub {
    fn url(&self) -> String {
        RefHub::url(self)
    }
}

/// A hub known only by its URL.
pub struct Url(pub String);

impl HubAt for Url {
    fn url(&self) -> String {
        self.0.clone()
    }
}

/// The path part of the hub URL (`/hub`).
pub fn hub_path(hub: &impl HubAt) -> String {
    let url = hub.url();
    let rest = url.trim_start_matches("http://");
    rest[rest.find('/').unwrap()..].to_owned()
}

/// `HOST:PORT` of the hub URL.
fn host(hub: &impl HubAt) -> String {
    let url = hub.url();
    let rest = url.trim_start_matches("http://");
    rest[..rest.find('/').unwrap()].to_owned()
}

/// `POST /hub/negotiate?negotiateVersion=1…`.
pub async fn negotiate(hub: &impl HubAt, user: Option<&str>, stateful: bool) -> NegotiateResponse {
    let mut query = "negotiateVersion=1".to_owned();
    if let Some(u) = user {
        query.push_str(&format!("&user={u}"));
    }
    if stateful {
        query.push_str("&useStatefulReconnect=true");
    }
    let (status, body) = http(
        &hub.url(),
        "POST",
        &format!("{}/negotiate?{query}", hub_path(hub)),
    )
    .await;
    assert_eq!(status, 200, "negotiate: {body}");
    match NegotiateReply::parse(&body).unwrap() {
        NegotiateReply::Negotiated(r) => r,
        NegotiateReply::Error(e) => panic!("negotiate error {e}"),
    }
}

/// Opens a WebSocket to the hub with the given query (no handshake).
pub async fn open(
    hub: &impl HubAt,
    query: &str,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let url = format!("ws://{}{}{}", host(hub), hub_path(hub), query);
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await {
        Ok(r) => r.map(|(ws, _)| ws),
        Err(_) => panic!("WebSocket connect timed out"),
    }
}

/// The HTTP status a failed WebSocket upgrade got.
pub fn status_of(error: tokio_tungstenite::tungstenite::Error) -> u16 {
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP error, got {other}"),
    }
}

/// How a socket ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEnd {
    /// The server sent a WebSocket close frame with this code.
    CloseFrame(u16),
    /// The stream ended or failed without a close frame (the server dropped or aborted it).
    Dropped,
}

/// One connected test client.
pub struct Client {
    pub ws: Ws,
    reader: RecordReader,
    inbox: VecDeque<HubMessage>,
    /// `Receive` payloads seen while waiting for something else, in order.
    pub received: Vec<String>,
    /// The last invocation id used; a resumed client starts higher so that replayed
    /// Completions of the old socket cannot be taken for new ones.
    pub next_invocation: u64,
    /// Completions that answered nothing this client waits for (replayed after a resume).
    pub stray: Vec<HubMessage>,
    /// The connection id (from negotiate or GetConnectionId).
    pub id: String,
    /// The token (negotiated connections only).
    pub token: Option<String>,
    /// How the socket ended, once it has.
    pub ended: Option<SocketEnd>,
}

impl Client {
    /// Negotiate, WebSocket, handshake version 1 (or 2 when `stateful`).
    pub async fn connect(hub: &impl HubAt, user: Option<&str>, stateful: bool) -> Client {
        let n = negotiate(hub, user, stateful).await;
        let token = n.connection_token.clone().unwrap();
        let mut query = format!("?id={token}");
        if let Some(u) = user {
            query.push_str(&format!("&user={u}"));
        }
        let ws = open(hub, &query).await.expect("WebSocket upgrade");
        let mut client = Client::over(ws, n.connection_id.clone().unwrap(), Some(token));
        client.handshake(if stateful { 2 } else { 1 }).await;
        client
    }

    /// Without negotiate (`skipNegotiation`).
    pub async fn connect_skip(hub: &impl HubAt, user: Option<&str>) -> Client {
        let query = user.map(|u| format!("?user={u}")).unwrap_or_default();
        let ws = open(hub, &query).await.expect("WebSocket upgrade");
        let mut client = Client::over(ws, String::new(), None);
        client.handshake(1).await;
        client.id = client
            .invoke("GetConnectionId", json!([]))
            .await
            .unwrap()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        client
    }

    /// The socket, for a test that reads and writes it concurrently.
    pub fn into_ws(self) -> Ws {
        self.ws
    }

    pub fn over(ws: Ws, id: String, token: Option<String>) -> Client {
        Client {
            ws,
            reader: RecordReader::unlimited(),
            inbox: VecDeque::new(),
            received: Vec::new(),
            next_invocation: 0,
            stray: Vec::new(),
            id,
            token,
            ended: None,
        }
    }

    pub async fn handshake(&mut self, version: i32) {
        self.send_raw(&(HandshakeRequest::json(version).to_json() + "\u{1e}"))
            .await;
        let record = self.next_record().await.expect("handshake response");
        let response = HandshakeResponse::parse(&record).unwrap();
        assert!(response.is_success(), "handshake failed: {record}");
    }

    pub async fn send_raw(&mut self, text: &str) {
        tokio::time::timeout(WAIT, self.ws.send(Message::text(text.to_owned())))
            .await
            .expect("send timed out")
            .expect("send failed");
    }

    pub async fn send(&mut self, message: &HubMessage) {
        self.send_raw(&message.to_wire()).await;
    }

    /// The next record, or `None` when the socket ends.
    pub async fn next_record(&mut self) -> Option<String> {
        loop {
            if let Some(r) = self.reader.next_record().unwrap() {
                return Some(r);
            }
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match frame {
                Some(Ok(Message::Text(t))) => self.reader.push(t.as_bytes()),
                Some(Ok(Message::Binary(b))) => self.reader.push(&b),
                Some(Ok(Message::Close(frame))) => {
                    // A close frame without a body is code 1005 ("no status received").
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    self.ended = Some(SocketEnd::CloseFrame(code));
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

    /// The next hub message other than Ping (and Ack), or `None` when the socket ends.
    pub async fn recv(&mut self) -> Option<HubMessage> {
        if let Some(m) = self.inbox.pop_front() {
            return Some(m);
        }
        loop {
            let record = self.next_record().await?;
            let m =
                HubMessage::parse(&record).unwrap_or_else(|e| panic!("bad record {record:?}: {e}"));
            if !matches!(m, HubMessage::Ping | HubMessage::Ack { .. }) {
                return Some(m);
            }
        }
    }

    /// Invokes `method` and waits for its Completion; `Receive`s seen meanwhile go to
    /// `received`.
    pub async fn invoke(&mut self, method: &str, args: Value) -> Result<Option<Value>, String> {
        self.next_invocation += 1;
        let id = self.next_invocation.to_string();
        let args = args.as_array().unwrap().clone();
        self.send(&HubMessage::invocation(Some(&id), method, args))
            .await;
        self.completion(&id).await
    }

    pub async fn completion(&mut self, id: &str) -> Result<Option<Value>, String> {
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
                other => self.note(other),
            }
        }
    }

    fn note(&mut self, m: HubMessage) {
        match m {
            HubMessage::Invocation {
                target, arguments, ..
            } if target == "Receive" => self
                .received
                .push(arguments[0].as_str().unwrap().to_owned()),
            m @ HubMessage::Completion { .. } => self.stray.push(m),
            other => panic!("unexpected message {other:?}"),
        }
    }

    /// Every payload received up to now: a `SendToCaller` barrier flushes the queue.
    pub async fn sync(&mut self) -> Vec<String> {
        self.invoke("SendToCaller", json!(["__sync"]))
            .await
            .unwrap();
        let mut got = std::mem::take(&mut self.received);
        assert_eq!(got.pop().as_deref(), Some("__sync"));
        got
    }

    /// Invokes and expects success.
    pub async fn ok(&mut self, method: &str, args: Value) {
        if let Err(e) = self.invoke(method, args).await {
            panic!("{method} failed: {e}");
        }
    }

    /// Waits for the socket to end; returns the Close message seen, if any.
    pub async fn closed(&mut self) -> Option<HubMessage> {
        let mut close = None;
        while let Some(m) = self.recv().await {
            if let HubMessage::Close { .. } = m {
                close = Some(m);
            }
        }
        close
    }
}

/// What a Completion carried, as the tests compare it: a result (or none), or the error.
pub fn outcome(result: CompletionResult) -> Result<Option<Value>, String> {
    match result {
        CompletionResult::Void => Ok(None),
        CompletionResult::Result(v) => Ok(Some(v)),
        CompletionResult::Error(e) => Err(e),
    }
}

/// The error of the Close a protocol error gets, after checking that the socket then ended
/// with a close frame and that the Close allows a reconnect (see `bad_input::close_after`).
pub fn reconnectable_close(close: Option<HubMessage>, ended: &Option<SocketEnd>) -> Option<String> {
    assert_eq!(
        ended,
        &Some(SocketEnd::CloseFrame(1000)),
        "then a close frame"
    );
    match close {
        Some(HubMessage::Close {
            error,
            allow_reconnect: true,
        }) => error,
        other => panic!("expected a Close with allowReconnect, got {other:?}"),
    }
}

/// A hub with the given config tweaks, on 127.0.0.1:0.
pub async fn start(tweak: impl FnOnce(&mut hubspec_refhub::RefHubConfig)) -> RefHub {
    let mut config = hubspec_refhub::RefHubConfig::default();
    tweak(&mut config);
    RefHub::start(config).await.expect("refhub starts")
}
