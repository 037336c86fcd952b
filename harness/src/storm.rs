//! A cut storm: stateful-reconnect connections in groups send unique, numbered payloads to
//! their group while a [`Proxy`] between them and the hub cuts, resets and cuts mid-frame their
//! links at random (seeded); each connection resumes (`Sequence`, replay) every time. At the
//! end every receiver must hold every payload of every sender of its group exactly once and in
//! the order sent: [`StormReport`] counts what was lost, duplicated or out of order. A few
//! connections are abandoned after their first sends and must have ended once the hub's
//! disconnect timeout passed (their resume refused with 404).
//!
//! The storm's own client is small on purpose (raw WebSocket, [`MessageBuffer`] for the
//! stateful-reconnect bookkeeping), so that a resume can happen anywhere: in the middle of an
//! invocation, of a replay, of a resume. Negotiate goes straight to the hub; every WebSocket
//! goes through the proxy. Every wait has a bound; a connection that cannot go on is a
//! [`StormReport::failures`] line, never a hang.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hubspec_wire::reconnect::MessageBuffer;
use hubspec_wire::{CompletionResult, HandshakeRequest, HubMessage, NegotiateReply, RecordReader};
use serde_json::{json, Value};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::proxy::{Direction, Proxy, ProxyError};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Bound on one connect (TCP, WebSocket upgrade, negotiate).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How many sequenced messages a connection receives before it acks them (it also acks
/// every [`ACK_EVERY`]), well below the hub's replay buffer.
const ACK_AFTER: u32 = 32;
/// The longest a connection goes without acking what it received.
const ACK_EVERY: Duration = Duration::from_millis(100);
/// How many payloads an abandoned connection sends before it is dropped.
const ABANDONED_SENDS: u64 = 3;

/// What to run.
#[derive(Debug, Clone)]
pub struct StormConfig {
    /// Stateful connections, all sending and receiving.
    pub connections: usize,
    /// Groups; connection `i` is in group `i % groups`.
    pub groups: usize,
    /// Cuts to make (links the proxy ended on purpose); the senders stop once they are made.
    pub cuts: u64,
    /// Seeds the choice of link, of the kind of cut and of the pauses between cuts.
    pub seed: u64,
    /// Connections dropped for good after their first sends, whose expiry is checked.
    pub abandoned: usize,
    /// The hub's disconnect timeout: a resume that has not succeeded by then has failed, and
    /// an abandoned connection must be refused once it passed.
    pub disconnect_timeout: Duration,
    /// The longest pause between two cuts (each pause is uniform in 0..=this).
    pub pause_max: Duration,
    /// Bound on one invocation's Completion, resumes included (a hub that loses one fails
    /// that connection after this).
    pub invocation_timeout: Duration,
}

impl Default for StormConfig {
    fn default() -> Self {
        StormConfig {
            connections: 32,
            groups: 8,
            cuts: 500,
            seed: 1,
            abandoned: 2,
            disconnect_timeout: Duration::from_secs(15),
            pause_max: Duration::from_millis(20),
            invocation_timeout: Duration::from_secs(20),
        }
    }
}

/// An abandoned connection and whether it ended as the spec says.
#[derive(Debug, Clone)]
pub struct Abandoned {
    /// Its connection id.
    pub id: String,
    /// Its group.
    pub group: String,
    /// Whether its resume was refused with 404 once the disconnect timeout passed.
    pub refused: bool,
}

/// What a storm came to.
#[derive(Debug, Clone, Default)]
pub struct StormReport {
    /// The seed it ran with.
    pub seed: u64,
    /// Links the proxy ended on purpose (cut, reset, cut after N bytes).
    pub cuts: u64,
    /// The cuts asked for ([`StormConfig::cuts`]).
    pub cuts_asked: u64,
    /// Successful resumes.
    pub resumes: u64,
    /// Payloads sent (each Completed).
    pub sent: u64,
    /// Payloads received, copies included.
    pub delivered: u64,
    /// Payloads a receiver never got.
    pub lost: u64,
    /// Extra copies received.
    pub duplicated: u64,
    /// Payloads received after a later payload of the same sender.
    pub out_of_order: u64,
    /// Connections the hub closed on a resume with "Sequence ID greater than amount of
    /// messages we've received": the hazard of ASP.NET Core's `MessageBuffer` that refhub
    /// keeps (an Ack names the latest id received while a rewind has not caught up; see
    /// refhub's `tests/refhub/cuts.rs`). Counted apart from [`failures`](Self::failures).
    pub rewinds_refused: u64,
    /// Connections that could not go on, and why.
    pub failures: Vec<String>,
    /// The abandoned connections.
    pub abandoned: Vec<Abandoned>,
    /// Each resume's time from the lost socket to the resent `Sequence`, in ms.
    pub resume_ms: Vec<f64>,
    /// Wall time.
    pub elapsed: Duration,
}

impl StormReport {
    /// Every cut asked for made, nothing lost, duplicated or out of order, no failure and no
    /// refused rewind, every abandoned connection ended.
    pub fn is_clean(&self) -> bool {
        self.cuts >= self.cuts_asked
            && self.lost == 0
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.rewinds_refused == 0
            && self.failures.is_empty()
            && self.abandoned.iter().all(|a| a.refused)
    }

    /// The median resume time in ms (NaN with no resume).
    pub fn median_resume_ms(&self) -> f64 {
        let mut v = self.resume_ms.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

impl fmt::Display for StormReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {}/{} cuts, {} resumes (median {:.1} ms), {} sent, {} delivered, {} lost, {} duplicated, {} out of order, {} resumes refused after a rewind, {} failures, {}/{} abandoned connections ended, {:.1} s",
            self.seed,
            self.cuts,
            self.cuts_asked,
            self.resumes,
            self.median_resume_ms(),
            self.sent,
            self.delivered,
            self.lost,
            self.duplicated,
            self.out_of_order,
            self.rewinds_refused,
            self.failures.len(),
            self.abandoned.iter().filter(|a| a.refused).count(),
            self.abandoned.len(),
            self.elapsed.as_secs_f64(),
        )?;
        for failure in &self.failures {
            write!(f, "\n  failure: {failure}")?;
        }
        Ok(())
    }
}

/// Why a storm could not run at all.
#[derive(Debug, Error)]
pub enum StormError {
    /// The hub URL is not `http://IP:PORT/PATH` on a loopback address.
    #[error("not an http:// URL on a loopback IP address and port: {0}")]
    Url(String),
    /// The proxy did not start.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The configuration cannot run (no connections, no groups, …).
    #[error("{0}")]
    Config(String),
}

/// A small seeded generator (SplitMix64): the storm's choices from its seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What every connection of a storm shares.
struct Ctx {
    config: StormConfig,
    hub: url::Url,
    /// The hub's URL through the proxy, as `ws://`.
    ws: String,
    /// Each connection's count of completed sends, once it stopped sending.
    sent: Mutex<Vec<Option<u64>>>,
    /// Set once the cuts are made: the senders stop.
    stop: AtomicBool,
    /// Every connection joined its group (and the cutter may start).
    joined: tokio::sync::Barrier,
    /// Connections still running: the cutter stops when none is left.
    running: std::sync::atomic::AtomicUsize,
}

/// Runs a storm against the hub at `hub_url` (`http://127.0.0.1:PORT/PATH`, negotiating stateful
/// reconnect) through a proxy of its own.
pub async fn run(hub_url: &str, config: StormConfig) -> Result<StormReport, StormError> {
    if config.connections <= config.abandoned || config.groups == 0 {
        return Err(StormError::Config(format!(
            "{} connections, {} abandoned, {} groups: at least one connection must stay and one group exist",
            config.connections, config.abandoned, config.groups
        )));
    }
    let hub = url::Url::parse(hub_url).map_err(|_| StormError::Url(hub_url.to_owned()))?;
    let upstream: SocketAddr = match (hub.scheme(), hub.host_str(), hub.port()) {
        ("http", Some(host), Some(port)) => format!("{host}:{port}")
            .parse()
            .map_err(|_| StormError::Url(hub_url.to_owned()))?,
        _ => return Err(StormError::Url(hub_url.to_owned())),
    };
    let proxy = Arc::new(Proxy::start(upstream).await?);
    let ws = proxy.url(hub_url)?.replacen("http://", "ws://", 1);
    let ctx = Arc::new(Ctx {
        hub,
        ws,
        sent: Mutex::new(vec![None; config.connections]),
        stop: AtomicBool::new(false),
        joined: tokio::sync::Barrier::new(config.connections + 1),
        running: std::sync::atomic::AtomicUsize::new(config.connections),
        config,
    });
    let started = Instant::now();
    let conns: Vec<_> = (0..ctx.config.connections)
        .map(|index| tokio::spawn(connection(ctx.clone(), index)))
        .collect();
    ctx.joined.wait().await;
    let cuts = cut_storm(&ctx, &proxy).await;
    ctx.stop.store(true, Ordering::Relaxed);
    let mut report = StormReport {
        seed: ctx.config.seed,
        cuts,
        cuts_asked: ctx.config.cuts,
        ..StormReport::default()
    };
    let mut outcomes = Vec::new();
    for (index, conn) in conns.into_iter().enumerate() {
        match conn.await {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => report.failures.push(format!("connection {index}: {e}")),
        }
    }
    tally(&ctx, outcomes, &mut report);
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Makes `config.cuts` cuts on random live links; returns how many links the proxy ended.
async fn cut_storm(ctx: &Ctx, proxy: &Proxy) -> u64 {
    let mut rng = Rng(ctx.config.seed);
    let pause_max = ctx.config.pause_max.as_micros() as u64;
    // A bound, not a pace (10 cuts/s at least; a debug build on two busy cores made 36/s): a
    // storm that cannot make its cuts ends, short of them (see `StormReport::is_clean`).
    let give_up =
        Instant::now() + Duration::from_secs(30) + Duration::from_millis(ctx.config.cuts * 100);
    while proxy.cuts() < ctx.config.cuts
        && Instant::now() < give_up
        && ctx.running.load(Ordering::Relaxed) > 0
    {
        let links = proxy.links();
        if links.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let link = links[rng.below(links.len() as u64) as usize];
        match rng.below(4) {
            0 => proxy.cut(link),
            1 => proxy.reset(link),
            k => {
                let direction = if k == 2 {
                    Direction::ToServer
                } else {
                    Direction::ToClient
                };
                proxy.cut_after(link, direction, rng.below(400))
            }
        };
        tokio::time::sleep(Duration::from_micros(rng.below(pause_max + 1))).await;
    }
    proxy.cuts()
}

/// What one connection brought back.
enum Outcome {
    /// It sent and received to the end: payload numbers received per sender, in order.
    Done {
        index: usize,
        received: BTreeMap<usize, Vec<u64>>,
        resume_ms: Vec<f64>,
    },
    /// It was abandoned; whether it was then refused.
    Abandoned(Abandoned),
    /// The hub refused its resume after a rewind (see [`StormReport::rewinds_refused`]).
    RewindRefused,
    /// It could not go on.
    Failed(String),
}

/// Adds up what every connection received against what every sender sent.
fn tally(ctx: &Ctx, outcomes: Vec<Outcome>, report: &mut StormReport) {
    let sent = ctx.sent.lock().unwrap_or_else(|e| e.into_inner()).clone();
    report.sent = sent.iter().flatten().sum();
    let groups = ctx.config.groups;
    for outcome in outcomes {
        match outcome {
            Outcome::Done {
                index,
                received,
                resume_ms,
            } => {
                report.resumes += resume_ms.len() as u64;
                report.resume_ms.extend(resume_ms);
                for (peer, expected) in sent.iter().enumerate() {
                    if peer % groups != index % groups {
                        continue;
                    }
                    let got = received.get(&peer).map(Vec::as_slice).unwrap_or(&[]);
                    let Some(expected) = expected else {
                        continue;
                    };
                    let (lost, duplicated, out_of_order) = judge(got, *expected);
                    report.delivered += got.len() as u64;
                    report.lost += lost;
                    report.duplicated += duplicated;
                    report.out_of_order += out_of_order;
                }
            }
            Outcome::Abandoned(a) => report.abandoned.push(a),
            Outcome::RewindRefused => report.rewinds_refused += 1,
            Outcome::Failed(why) => report.failures.push(why),
        }
    }
}

/// One receiver's payload numbers from one sender that sent `1..=expected`: (lost,
/// duplicated, out of order).
fn judge(got: &[u64], expected: u64) -> (u64, u64, u64) {
    let mut seen = BTreeSet::new();
    let mut duplicated = 0;
    let mut out_of_order = 0;
    let mut highest = 0;
    for &n in got {
        if !seen.insert(n) {
            duplicated += 1;
            continue;
        }
        if n < highest {
            out_of_order += 1;
        }
        highest = highest.max(n);
    }
    let lost = (1..=expected).filter(|n| !seen.contains(n)).count() as u64;
    (lost, duplicated, out_of_order)
}

/// One connection's whole life in the storm, counted in [`Ctx::running`].
async fn connection(ctx: Arc<Ctx>, index: usize) -> Outcome {
    let outcome = live(&ctx, index).await;
    ctx.running.fetch_sub(1, Ordering::Relaxed);
    outcome
}

async fn live(ctx: &Arc<Ctx>, index: usize) -> Outcome {
    let group = format!("storm-{}", index % ctx.config.groups);
    let mut conn = match Conn::open(ctx, index).await {
        Ok(conn) => conn,
        Err(e) => {
            ctx.joined.wait().await;
            publish(ctx, index, 0);
            return Outcome::Failed(format!("connection {index}: {e}"));
        }
    };
    let joined = conn.invoke("join", "AddToGroup", vec![json!(group)]).await;
    ctx.joined.wait().await;
    if let Err(e) = joined {
        publish(ctx, index, 0);
        return Outcome::Failed(format!("connection {index} ({}): {e}", conn.id));
    }
    if index < ctx.config.abandoned {
        return abandon(ctx, conn, group).await;
    }
    let mut n = 0;
    while !ctx.stop.load(Ordering::Relaxed) {
        let payload = format!("{index}:{}", n + 1);
        if let Err(e) = conn
            .invoke(
                &format!("s{}", n + 1),
                "SendToGroup",
                vec![json!(group), json!(payload)],
            )
            .await
        {
            publish(ctx, index, n);
            if e.is_rewind_refused() {
                return Outcome::RewindRefused;
            }
            return Outcome::Failed(format!(
                "connection {index} ({}): send {}: {e}",
                conn.id,
                n + 1
            ));
        }
        n += 1;
    }
    publish(ctx, index, n);
    if let Err(e) = conn.flush(ctx).await {
        if e.is_rewind_refused() {
            return Outcome::RewindRefused;
        }
        return Outcome::Failed(format!("connection {index} ({}): {e}", conn.id));
    }
    conn.close().await;
    Outcome::Done {
        index,
        received: conn.received,
        resume_ms: conn.resume_ms,
    }
}

fn publish(ctx: &Ctx, index: usize, sent: u64) {
    ctx.sent.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(sent);
}

/// Sends a few payloads, drops the socket for good, and checks, once the disconnect timeout
/// passed, that the hub refuses to resume it (straight to the hub, not through the proxy).
async fn abandon(ctx: &Ctx, mut conn: Conn, group: String) -> Outcome {
    let index = conn.index;
    let mut n = 0;
    for k in 1..=ABANDONED_SENDS {
        let payload = format!("{index}:{k}");
        if conn
            .invoke(
                &format!("s{k}"),
                "SendToGroup",
                vec![json!(group), json!(payload)],
            )
            .await
            .is_err()
        {
            break;
        }
        n = k;
    }
    publish(ctx, index, n);
    conn.ws = None;
    tokio::time::sleep(ctx.config.disconnect_timeout + Duration::from_millis(1500)).await;
    let direct = format!(
        "ws://{}:{}{}?id={}",
        ctx.hub.host_str().unwrap_or_default(),
        ctx.hub.port().unwrap_or_default(),
        ctx.hub.path(),
        conn.token
    );
    let refused = matches!(
        tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(direct)).await,
        Ok(Err(tungstenite::Error::Http(response))) if response.status().as_u16() == 404
    );
    Outcome::Abandoned(Abandoned {
        id: conn.id,
        group,
        refused,
    })
}

/// Why a connection could not go on.
#[derive(Debug, Error)]
enum ConnError {
    #[error("negotiate: {0}")]
    Negotiate(String),
    #[error("connect: {0}")]
    Connect(String),
    #[error("timed out waiting for {0}")]
    Timeout(String),
    #[error("the hub refused the resume with HTTP {0}")]
    Refused(u16),
    #[error("no resume succeeded within the disconnect timeout")]
    ResumeTimedOut,
    #[error("the hub closed the connection: {0}")]
    Closed(String),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("{0} failed: {1}")]
    Invocation(String, String),
}

impl ConnError {
    /// Whether the hub closed the connection because a resume's `Sequence` was past what it
    /// counted as received.
    fn is_rewind_refused(&self) -> bool {
        matches!(self, ConnError::Closed(e) if e.contains("Sequence ID greater than amount of messages we've received"))
    }
}

/// One stateful connection of the storm.
struct Conn {
    index: usize,
    id: String,
    token: String,
    /// `None` while the transport is lost.
    ws: Option<Ws>,
    /// The WebSocket URL with the token, through the proxy.
    url: String,
    reader: RecordReader,
    buffer: MessageBuffer,
    /// Payload numbers received, per sender, in arrival order.
    received: BTreeMap<usize, Vec<u64>>,
    /// Invocation ids completed, with their error if any.
    completed: BTreeMap<String, Option<String>>,
    resume_ms: Vec<f64>,
    /// Sequenced messages received since the last Ack.
    unacked: u32,
    acked_at: Instant,
    /// The hub's: how long a resume may keep trying.
    disconnect_timeout: Duration,
    invocation_timeout: Duration,
}

impl Conn {
    /// Negotiate (straight to the hub), WebSocket (through the proxy), handshake v2.
    async fn open(ctx: &Ctx, index: usize) -> Result<Conn, ConnError> {
        let (id, token) = negotiate(&ctx.hub).await?;
        let url = format!("{}?id={token}", ctx.ws);
        let (ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(&url))
            .await
            .map_err(|_| ConnError::Timeout("the WebSocket upgrade".into()))?
            .map_err(|e| ConnError::Connect(e.to_string()))?;
        let mut conn = Conn {
            index,
            id,
            token,
            ws: Some(ws),
            url,
            reader: RecordReader::unlimited(),
            buffer: MessageBuffer::default(),
            received: BTreeMap::new(),
            completed: BTreeMap::new(),
            resume_ms: Vec::new(),
            unacked: 0,
            acked_at: Instant::now(),
            disconnect_timeout: ctx.config.disconnect_timeout,
            invocation_timeout: ctx.config.invocation_timeout,
        };
        conn.write(HandshakeRequest::json(2).to_json() + "\u{1e}")
            .await;
        let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
        let answer = loop {
            if let Some(record) = conn
                .reader
                .next_record()
                .map_err(|e| ConnError::Protocol(e.to_string()))?
            {
                break record;
            }
            match conn.ws.as_mut() {
                Some(ws) => match tokio::time::timeout_at(deadline, ws.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => conn.reader.push(t.as_bytes()),
                    Ok(Some(Ok(_))) => {}
                    Ok(_) => {
                        return Err(ConnError::Connect(
                            "the socket ended during the handshake".into(),
                        ))
                    }
                    Err(_) => return Err(ConnError::Timeout("the handshake answer".into())),
                },
                None => {
                    return Err(ConnError::Connect(
                        "the socket failed during the handshake".into(),
                    ))
                }
            }
        };
        if answer != "{}" {
            return Err(ConnError::Protocol(format!("handshake answered {answer}")));
        }
        Ok(conn)
    }

    /// Writes one record; a failed write only marks the transport lost (the next read resumes,
    /// and the buffer resends what was sequenced).
    async fn write(&mut self, record: String) {
        if let Some(ws) = self.ws.as_mut() {
            let sent = tokio::time::timeout(CONNECT_TIMEOUT, ws.send(Message::text(record))).await;
            if !matches!(sent, Ok(Ok(()))) {
                self.ws = None;
            }
        }
    }

    /// Invokes `method` as `id` and waits for its Completion, however many resumes it takes.
    async fn invoke(&mut self, id: &str, method: &str, args: Vec<Value>) -> Result<(), ConnError> {
        let record = self
            .buffer
            .write(&HubMessage::invocation(Some(id), method, args));
        self.write(record).await;
        let deadline = tokio::time::Instant::now() + self.invocation_timeout;
        loop {
            if let Some(outcome) = self.completed.remove(id) {
                return match outcome {
                    None => Ok(()),
                    Some(error) => Err(ConnError::Invocation(method.to_owned(), error)),
                };
            }
            if !self.step(deadline).await? {
                return Err(ConnError::Timeout(format!(
                    "the Completion of {method} {id}"
                )));
            }
        }
    }

    /// Once every sender stopped: reads on until every peer has published its count, then a
    /// `SendToCaller` barrier flushes what was queued to this connection before it.
    async fn flush(&mut self, ctx: &Ctx) -> Result<(), ConnError> {
        let deadline = tokio::time::Instant::now() + self.invocation_timeout;
        loop {
            let all = ctx
                .sent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .all(Option::is_some);
            if all {
                break;
            }
            let soon = (tokio::time::Instant::now() + Duration::from_millis(20)).min(deadline);
            if !self.step(soon).await? && soon == deadline {
                return Err(ConnError::Timeout("the other senders to stop".into()));
            }
        }
        self.invoke("flush", "SendToCaller", vec![json!("flush")])
            .await
    }

    /// Sends our Close and drops the socket (the storm does not judge the close).
    async fn close(&mut self) {
        let close = HubMessage::Close {
            error: None,
            allow_reconnect: false,
        };
        self.write(close.to_wire()).await;
        self.ws = None;
    }

    /// Reads one frame (resuming first if the transport is lost); `false` when `deadline`
    /// passed with nothing read.
    async fn step(&mut self, deadline: tokio::time::Instant) -> Result<bool, ConnError> {
        let Some(ws) = self.ws.as_mut() else {
            self.resume().await?;
            return Ok(true);
        };
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Ok(false),
            Ok(Some(Ok(Message::Text(text)))) => self.reader.push(text.as_bytes()),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(ConnError::Closed(format!("close frame {frame:?}")))
            }
            Ok(Some(Ok(_))) => {}
            Ok(None | Some(Err(_))) => {
                self.ws = None;
                self.resume().await?;
            }
        }
        self.handle_records().await?;
        Ok(true)
    }

    /// Every complete record read so far, through the stateful-reconnect buffer.
    async fn handle_records(&mut self) -> Result<(), ConnError> {
        while let Some(record) = self
            .reader
            .next_record()
            .map_err(|e| ConnError::Protocol(e.to_string()))?
        {
            let message = HubMessage::parse(&record)
                .map_err(|e| ConnError::Protocol(format!("{e}: {record}")))?;
            let sequenced = message.is_sequenced();
            if !self
                .buffer
                .receive(&message)
                .map_err(|e| ConnError::Protocol(e.to_string()))?
            {
                continue;
            }
            self.unacked += u32::from(sequenced);
            match message {
                HubMessage::Invocation {
                    target, arguments, ..
                } if target == "Receive" => self.note(&arguments),
                HubMessage::Completion {
                    invocation_id,
                    result,
                    ..
                } => {
                    let error = match result {
                        CompletionResult::Error(e) => Some(e),
                        _ => None,
                    };
                    self.completed.insert(invocation_id, error);
                }
                HubMessage::Close { error, .. } => {
                    return Err(ConnError::Closed(error.unwrap_or_default()))
                }
                _ => {}
            }
        }
        if self.unacked >= ACK_AFTER || (self.unacked > 0 && self.acked_at.elapsed() >= ACK_EVERY) {
            if let Some(ack) = self.buffer.ack_due() {
                self.write(ack.to_wire()).await;
            }
            self.unacked = 0;
            self.acked_at = Instant::now();
        }
        Ok(())
    }

    /// Records a received payload `SENDER:N` (the flush marker is not one).
    fn note(&mut self, arguments: &[Value]) {
        let Some((sender, n)) = arguments
            .first()
            .and_then(Value::as_str)
            .and_then(|p| p.split_once(':'))
        else {
            return;
        };
        if let (Ok(sender), Ok(n)) = (sender.parse(), n.parse()) {
            self.received.entry(sender).or_default().push(n);
        }
    }

    /// Reconnects through the proxy with the token until a resume's `Sequence` and replay are
    /// written, within the disconnect timeout.
    async fn resume(&mut self) -> Result<(), ConnError> {
        let lost = Instant::now();
        let give_up = lost + self.disconnect_timeout;
        loop {
            match tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(&self.url))
                .await
            {
                Ok(Ok((ws, _))) => {
                    self.ws = Some(ws);
                    self.reader = RecordReader::unlimited();
                    // `Sequence` and the resent records in one frame, which arrives whole or
                    // not at all. Sent as separate frames (as the official clients do), a cut
                    // between them can leave the hub's receive counter rewound while its Ack
                    // already named the latest id, and the next resume is refused: the hazard
                    // refhub's `an_ack_during_a_rewind_makes_the_next_resume_fail` pins. The
                    // storm is about what refhub loses, so it does not walk into that one.
                    let (sequence, records) = self.buffer.resend();
                    self.write(sequence.to_wire() + &records.concat()).await;
                    if self.ws.is_some() {
                        self.resume_ms.push(lost.elapsed().as_secs_f64() * 1000.0);
                        return Ok(());
                    }
                }
                Ok(Err(tungstenite::Error::Http(response))) => {
                    return Err(ConnError::Refused(response.status().as_u16()))
                }
                _ => {}
            }
            if Instant::now() >= give_up {
                return Err(ConnError::ResumeTimedOut);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// `POST {path}/negotiate?negotiateVersion=1&useStatefulReconnect=true` straight to the hub;
/// the connection id and token.
async fn negotiate(hub: &url::Url) -> Result<(String, String), ConnError> {
    let host = format!(
        "{}:{}",
        hub.host_str().unwrap_or_default(),
        hub.port().unwrap_or_default()
    );
    let request = format!(
        "POST {}/negotiate?negotiateVersion=1&useStatefulReconnect=true HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        hub.path().trim_end_matches('/')
    );
    let exchange = async {
        let mut tcp = TcpStream::connect(&host).await?;
        tcp.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(CONNECT_TIMEOUT, exchange)
        .await
        .map_err(|_| ConnError::Timeout("negotiate".into()))?
        .map_err(|e| ConnError::Negotiate(e.to_string()))?;
    let text = String::from_utf8_lossy(&raw);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    match NegotiateReply::parse(body) {
        Ok(NegotiateReply::Negotiated(r)) if r.use_stateful_reconnect => {
            match (r.connection_id, r.connection_token) {
                (Some(id), Some(token)) => Ok((id, token)),
                _ => Err(ConnError::Negotiate(format!("no id or token: {body}"))),
            }
        }
        _ => Err(ConnError::Negotiate(format!(
            "not a stateful-reconnect answer: {body}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_counts_lost_duplicated_and_out_of_order() {
        assert_eq!(judge(&[1, 2, 3], 3), (0, 0, 0));
        assert_eq!(judge(&[1, 3], 3), (1, 0, 0));
        assert_eq!(judge(&[1, 2, 2, 3], 3), (0, 1, 0));
        assert_eq!(judge(&[2, 1, 3], 3), (0, 0, 1));
        assert_eq!(judge(&[], 2), (2, 0, 0));
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let mut a = Rng(7);
        let mut b = Rng(7);
        let xs: Vec<u64> = (0..5).map(|_| a.below(100)).collect();
        assert_eq!(xs, (0..5).map(|_| b.below(100)).collect::<Vec<_>>());
        assert_ne!(xs, (0..5).map(|_| Rng(8).below(100)).collect::<Vec<_>>());
    }
}
