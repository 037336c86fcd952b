//! What the fake hubs of `fakes.rs` and `stateful.rs` share, written once: the loopback
//! listener, the WebSocket upgrade, the record loop with its handshake, the Close exchange and
//! the hand-off of each invocation. A fake implements [`Fake`] and so states only how it
//! answers, which is where it misbehaves.
//!
//! Each test binary uses only part of this module, hence the `dead_code` allowance.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use hubspec_harness::RunReport;
use hubspec_wire::{CompletionResult, HubMessage, RecordReader};
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// An accepted WebSocket, as the hooks of [`Fake`] write to it.
pub type Ws = WebSocketStream<TcpStream>;

/// The handshake response that accepts the client's protocol.
pub const HANDSHAKE_OK: &str = "{}\u{1e}";

/// Takes a fake server down at once, listener and every accepted socket, the way a crash does
/// (for a fake that dies mid-case).
#[derive(Clone)]
pub struct Kill(watch::Sender<bool>);

impl Kill {
    pub fn now(&self) {
        let _ = self.0.send(true);
    }
}

/// A bound loopback listener, not yet accepting.
pub struct Listener {
    listener: TcpListener,
    pub addr: SocketAddr,
}

impl Listener {
    pub async fn bind() -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        Listener { listener, addr }
    }

    /// Hands each accepted TCP connection, with the server's [`Kill`], to `serve` in a task of
    /// its own, until killed.
    pub fn serve<S, F>(self, serve: S)
    where
        S: Fn(TcpStream, Kill) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let (kill, mut killed) = watch::channel(false);
        let kill = Kill(kill);
        tokio::spawn(async move {
            let mut conns = Vec::new();
            loop {
                tokio::select! {
                    accepted = self.listener.accept() => {
                        let Ok((tcp, _)) = accepted else { break };
                        conns.push(tokio::spawn(serve(tcp, kill.clone())));
                    }
                    _ = killed.changed() => break,
                }
            }
            // Killed: the listener and every socket go at once.
            for c in conns {
                c.abort();
            }
        });
    }
}

/// What the record loop does after a hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Goes on with the next record.
    Next,
    /// Ends the connection: the task returns and drops the socket as it is.
    End,
    /// Reads and answers nothing more, holding the socket open until the client goes.
    Deaf,
}

/// An invocation that expects a Completion.
pub struct Call {
    pub id: String,
    pub target: String,
    pub arguments: Vec<Value>,
}

impl Call {
    /// The Completion that answers this call with `result`.
    pub fn completion(&self, result: CompletionResult) -> HubMessage {
        HubMessage::completion(self.id.clone(), result)
    }
}

/// The `Receive` invocation a hub sends to deliver `payload`.
pub fn receive(payload: &Value) -> HubMessage {
    HubMessage::invocation(None, "Receive", vec![payload.clone()])
}

/// How one connection of a fake hub answers; [`Socket::serve`] does the reading. The provided
/// methods are what a correct hub does.
pub trait Fake {
    /// Answers the client's handshake request (the connection's first record).
    async fn handshake(&mut self, ws: &mut Ws) -> Then;

    /// Answers an invocation that expects a Completion.
    async fn invoke(&mut self, ws: &mut Ws, call: Call) -> Then;

    /// Sees each message before the loop acts on it (answers a Close, hands an invocation to
    /// [`Fake::invoke`]); `Break` leaves it there.
    fn heard(&mut self, _message: &HubMessage) -> ControlFlow<Then> {
        ControlFlow::Continue(())
    }

    /// Whether a client's Close gets a Close back before the socket closes.
    fn answers_close(&self) -> bool {
        true
    }

    /// Text as this fake puts it in a frame.
    fn frame(&self, text: String) -> Message {
        Message::text(text)
    }

    /// A message as this fake writes it.
    fn encode(&self, message: &HubMessage) -> Message {
        self.frame(message.to_wire())
    }

    /// Writes `message`; a failed write shows as the socket's end on the next read.
    async fn send(&self, ws: &mut Ws, message: &HubMessage) {
        let _ = ws.send(self.encode(message)).await;
    }
}

/// An accepted WebSocket and what the record loop keeps for it.
pub struct Socket {
    pub ws: Ws,
    /// The upgrade request's URI (path and query).
    pub uri: String,
    /// Whether the handshake is behind us (a resumed connection has none).
    pub handshaken: bool,
    outbox: mpsc::UnboundedSender<Message>,
    inbox: mpsc::UnboundedReceiver<Message>,
}

impl Socket {
    /// Completes the WebSocket upgrade on `tcp`; `None` if it fails.
    // The header callback's signature is tungstenite's, large error type included.
    #[allow(clippy::result_large_err)]
    pub async fn accept(tcp: TcpStream) -> Option<Socket> {
        let uri = Arc::new(Mutex::new(String::new()));
        let seen = uri.clone();
        let callback = move |req: &Request, resp: Response| {
            *seen.lock().unwrap() = req.uri().to_string();
            Ok(resp)
        };
        let ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
            .await
            .ok()?;
        let uri = uri.lock().unwrap().clone();
        let (outbox, inbox) = mpsc::unbounded_channel();
        Some(Socket {
            ws,
            uri,
            handshaken: false,
            outbox,
            inbox,
        })
    }

    /// Where other connections write frames for this socket to send.
    pub fn outbox(&self) -> mpsc::UnboundedSender<Message> {
        self.outbox.clone()
    }

    /// Reads records until the connection ends: the first is the handshake, a Close is
    /// answered and ends the connection, an invocation with an id goes to `fake`, anything
    /// else is passed over. Frames from the outbox go out as they come.
    pub async fn serve<F: Fake>(mut self, fake: &mut F) {
        let mut reader = RecordReader::new();
        let mut deaf = false;
        loop {
            let msg = tokio::select! {
                msg = self.ws.next() => match msg {
                    Some(Ok(msg)) => msg,
                    _ => return,
                },
                Some(other) = self.inbox.recv() => {
                    let _ = self.ws.send(other).await;
                    continue;
                }
            };
            if deaf {
                continue;
            }
            let data = match msg {
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Binary(b) => b.to_vec(),
                Message::Close(_) => return,
                _ => continue,
            };
            reader.push(&data);
            while let Ok(Some(record)) = reader.next_record() {
                match self.answer(fake, &record).await {
                    Then::Next => {}
                    Then::End => return,
                    Then::Deaf => {
                        deaf = true;
                        break;
                    }
                }
            }
        }
    }

    async fn answer<F: Fake>(&mut self, fake: &mut F, record: &str) -> Then {
        if !self.handshaken {
            self.handshaken = true;
            return fake.handshake(&mut self.ws).await;
        }
        let Ok(message) = HubMessage::parse(record) else {
            return Then::Next;
        };
        if let ControlFlow::Break(then) = fake.heard(&message) {
            return then;
        }
        match message {
            HubMessage::Close { .. } => {
                if fake.answers_close() {
                    let close = HubMessage::Close {
                        error: None,
                        allow_reconnect: false,
                    };
                    let _ = self.ws.send(fake.frame(close.to_wire())).await;
                }
                let _ = self.ws.close(None).await;
                Then::End
            }
            HubMessage::Invocation {
                invocation_id: Some(id),
                target,
                arguments,
                ..
            } => {
                let call = Call {
                    id,
                    target,
                    arguments,
                };
                fake.invoke(&mut self.ws, call).await
            }
            _ => Then::Next,
        }
    }
}

/// Every divergence of `report`, one a line, for failure messages.
pub fn all(report: &RunReport) -> String {
    report
        .divergences
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
