//! A fault-injecting TCP proxy for loopback tests: clients connect to the proxy, the proxy
//! connects to the hub, and a test breaks the links between them on purpose — a cut (both
//! sockets closed, as a lost connection; also mid-frame, after a number of bytes), a reset, a
//! stall, a delay, a half-close, and new connections held back and released. It sits below
//! WebSocket and SignalR, so what it does is what a network does: neither side is told.
//!
//! ```no_run
//! # async fn demo(hub_url: &str, hub: std::net::SocketAddr) -> Result<(), hubspec_harness::proxy::ProxyError> {
//! use hubspec_harness::proxy::{Direction, Proxy};
//! let proxy = Proxy::start(hub).await?;
//! let url = proxy.url(hub_url)?; // the same hub, through the proxy
//! // … clients connect to `url` …
//! for link in proxy.links() {
//!     proxy.cut_after(link, Direction::ToClient, 7); // 7 more bytes, then lost
//! }
//! # Ok(()) }
//! ```
//!
//! **Bounds.** Loopback only: the proxy listens on 127.0.0.1 and refuses a non-loopback
//! upstream. Every wait has a bound (connecting upstream [`CONNECT_TIMEOUT`], a held connection
//! [`HOLD_MAX`], a stall [`STALL_MAX`]); each link copies through one buffer of [`CHUNK`] bytes
//! per direction; and every task ends when the [`Proxy`] is dropped (its links' sockets close).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How long the proxy waits to connect to the upstream hub; past it, the client's connection
/// is closed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection held by [`Proxy::hold_new`] waits for [`Proxy::release`]; past it,
/// it is closed, as a connection attempt that timed out.
pub const HOLD_MAX: Duration = Duration::from_secs(30);

/// How long a stalled link stays stalled without [`Proxy::unstall`]; past it, it is cut.
pub const STALL_MAX: Duration = Duration::from_secs(60);

/// The bytes a link reads at once in each direction.
pub const CHUNK: usize = 16 * 1024;

/// Why the proxy cannot start or cannot name a URL.
#[derive(Debug, Error)]
pub enum ProxyError {
    /// The proxy is for loopback tests: it forwards only to a loopback address.
    #[error("the proxy forwards to loopback addresses only, not {0}")]
    NotLoopback(SocketAddr),
    /// Binding 127.0.0.1:0 failed.
    #[error("could not bind the proxy on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    /// [`Proxy::url`] was given something that is not an absolute URL with a host.
    #[error("not an absolute URL with a host: {0}")]
    BadUrl(String),
}

/// Which way bytes flow through a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From the client to the hub.
    ToServer,
    /// From the hub to the client.
    ToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

/// One proxied TCP connection, numbered from 0 in the order the proxy accepted them.
pub type LinkId = u64;

/// How a link ends when the proxy ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Both sockets closed (FIN): each side sees its stream end, with no close frame.
    Cut,
    /// Both sockets reset (RST, `SO_LINGER` 0): each side sees a connection reset.
    Reset,
    /// A socket failed on its own; the link is closed as for a cut, but the proxy did not
    /// order it.
    Broken,
}

/// What a link's two pumps follow; the proxy's methods change it, the pumps watch it.
#[derive(Debug, Clone, Default)]
struct Plan {
    end: Option<End>,
    stalled: bool,
    /// How long each chunk is held before it is written.
    delay: Duration,
    /// Per direction, the bytes still to forward before the link is cut (`None`: no limit).
    budget: [Option<u64>; 2],
    /// Per direction, whether the proxy shut down that direction's writing side.
    half_closed: [bool; 2],
}

/// A live link, as the proxy's methods reach it.
#[derive(Debug)]
struct Link {
    plan: watch::Sender<Plan>,
    /// Bytes forwarded so far, per direction.
    forwarded: [Arc<AtomicU64>; 2],
}

/// What the proxy and its tasks share.
#[derive(Debug)]
struct Shared {
    links: Mutex<BTreeMap<LinkId, Link>>,
    /// Whether new connections are held (not connected upstream) until released.
    holding: watch::Sender<bool>,
    held: AtomicU64,
    accepted: AtomicU64,
    /// Links the proxy ended on order (cut, reset, cut after N bytes, a stall that ran out).
    cuts: AtomicU64,
}

impl Shared {
    fn links(&self) -> MutexGuard<'_, BTreeMap<LinkId, Link>> {
        // A panic in a test holding the lock leaves a usable map.
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running proxy; dropping it ends every link and stops listening.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The accept task owns every link's task (a JoinSet), so aborting it ends them all.
        self.accept.abort();
    }
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port) and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<Proxy, ProxyError> {
        if !upstream.ip().is_loopback() {
            return Err(ProxyError::NotLoopback(upstream));
        }
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(ProxyError::Bind)?;
        let addr = listener.local_addr().map_err(ProxyError::Bind)?;
        let shared = Arc::new(Shared {
            links: Mutex::new(BTreeMap::new()),
            holding: watch::Sender::new(false),
            held: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, upstream, shared.clone()));
        Ok(Proxy {
            addr,
            shared,
            accept,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` with its host and port replaced by the proxy's (the same path and query).
    pub fn url(&self, url: &str) -> Result<String, ProxyError> {
        let mut parsed = url::Url::parse(url).map_err(|_| ProxyError::BadUrl(url.to_owned()))?;
        parsed
            .set_ip_host(self.addr.ip())
            .and_then(|()| parsed.set_port(Some(self.addr.port())))
            .map_err(|()| ProxyError::BadUrl(url.to_owned()))?;
        Ok(parsed.to_string())
    }

    /// The live links (connected upstream and not yet ended), oldest first.
    pub fn links(&self) -> Vec<LinkId> {
        self.shared.links().keys().copied().collect()
    }

    /// How many connections the proxy has accepted, held ones included.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// How many links the proxy ended on order (by [`Proxy::cut`], [`Proxy::reset`],
    /// [`Proxy::cut_after`] once its bytes went through, or a stall past [`STALL_MAX`]); a link
    /// that failed on its own does not count.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::Relaxed)
    }

    /// The bytes `link` has forwarded in `direction` (`None` once it has ended).
    pub fn forwarded(&self, link: LinkId, direction: Direction) -> Option<u64> {
        self.shared
            .links()
            .get(&link)
            .map(|l| l.forwarded[direction.index()].load(Ordering::Relaxed))
    }

    /// Changes `link`'s plan; `false` when the link has already ended.
    fn change(&self, link: LinkId, f: impl FnOnce(&mut Plan)) -> bool {
        match self.shared.links().get(&link) {
            Some(l) => {
                l.plan.send_modify(f);
                true
            }
            None => false,
        }
    }

    /// Cuts `link` now: both sockets are closed (each side reads the end of its stream, with
    /// no WebSocket close frame), and what was in flight in the proxy is lost.
    pub fn cut(&self, link: LinkId) -> bool {
        self.change(link, |p| p.end = Some(End::Cut))
    }

    /// Resets `link`: both sockets are closed with `SO_LINGER` 0, so each side gets a reset.
    pub fn reset(&self, link: LinkId) -> bool {
        self.change(link, |p| p.end = Some(End::Reset))
    }

    /// Cuts `link` once `bytes` more bytes went through it in `direction`, wherever that falls
    /// (mid-frame, mid-record); `0` cuts at the next byte.
    pub fn cut_after(&self, link: LinkId, direction: Direction, bytes: u64) -> bool {
        self.change(link, |p| p.budget[direction.index()] = Some(bytes))
    }

    /// Stops forwarding on `link` in both directions (bytes wait in the sockets, and TCP
    /// then holds the senders back) until [`Proxy::unstall`], at most [`STALL_MAX`].
    pub fn stall(&self, link: LinkId) -> bool {
        self.change(link, |p| p.stalled = true)
    }

    /// Forwards again on a stalled `link`.
    pub fn unstall(&self, link: LinkId) -> bool {
        self.change(link, |p| p.stalled = false)
    }

    /// Holds each chunk on `link` for `delay` before writing it, in both directions (a slow
    /// link: latency and throughput both suffer); `Duration::ZERO` stops it.
    pub fn delay(&self, link: LinkId, delay: Duration) -> bool {
        self.change(link, |p| p.delay = delay)
    }

    /// Shuts down `link`'s writing side in `direction` (the receiver there reads the end of its
    /// stream) and stops forwarding that way; the other direction goes on.
    pub fn half_close(&self, link: LinkId, direction: Direction) -> bool {
        self.change(link, |p| p.half_closed[direction.index()] = true)
    }

    /// From now on, new connections are accepted but not connected upstream until
    /// [`Proxy::release`] (each at most [`HOLD_MAX`]).
    pub fn hold_new(&self) {
        self.shared.holding.send_replace(true);
    }

    /// Connects every held connection upstream, and stops holding new ones.
    pub fn release(&self) {
        self.shared.holding.send_replace(false);
    }

    /// How many connections are held right now.
    pub fn held(&self) -> u64 {
        self.shared.held.load(Ordering::Relaxed)
    }
}

/// Accepts connections and runs one task per link; the link tasks live in a `JoinSet` owned
/// here, so aborting this task ends them all.
async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut links = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let id = shared.accepted.fetch_add(1, Ordering::Relaxed);
                    links.spawn(serve(id, client, upstream, shared.clone()));
                }
                // Out of file descriptors and the like: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = links.join_next(), if !links.is_empty() => {}
        }
    }
}

/// One link: held if asked, connected upstream, pumped both ways until both directions ended
/// or the proxy ended it.
async fn serve(id: LinkId, client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    if *shared.holding.borrow() {
        shared.held.fetch_add(1, Ordering::Relaxed);
        let mut holding = shared.holding.subscribe();
        let released = tokio::time::timeout(HOLD_MAX, holding.wait_for(|h| !*h)).await;
        shared.held.fetch_sub(1, Ordering::Relaxed);
        if !matches!(released, Ok(Ok(_))) {
            return;
        }
    }
    let Ok(Ok(server)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await
    else {
        return;
    };
    let _ = server.set_nodelay(true);
    let plan = watch::Sender::new(Plan::default());
    let forwarded = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    shared.links().insert(
        id,
        Link {
            plan: plan.clone(),
            forwarded: forwarded.clone(),
        },
    );
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let [to_server, to_client] = forwarded;
    let ((client_read, server_write), (server_read, client_write)) = tokio::join!(
        pump(
            Direction::ToServer,
            client_read,
            server_write,
            plan.clone(),
            to_server
        ),
        pump(
            Direction::ToClient,
            server_read,
            client_write,
            plan.clone(),
            to_client
        ),
    );
    shared.links().remove(&id);
    let end = plan.borrow().end;
    if matches!(end, Some(End::Cut | End::Reset)) {
        shared.cuts.fetch_add(1, Ordering::Relaxed);
    }
    let reset = end == Some(End::Reset);
    for (read, write) in [(client_read, client_write), (server_read, server_write)] {
        if let Ok(socket) = read.reunite(write) {
            if reset {
                let _ = socket.set_zero_linger();
            }
        }
    }
}

/// Copies `from` to `to` as `plan` says; returns the halves once this direction is done: its
/// stream ended (the end is passed on as a shutdown), a socket failed (the link is cut), or
/// the proxy ended the link.
async fn pump(
    direction: Direction,
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    plan: watch::Sender<Plan>,
    forwarded: Arc<AtomicU64>,
) -> (OwnedReadHalf, OwnedWriteHalf) {
    let d = direction.index();
    let mut changes = plan.subscribe();
    let mut buf = vec![0u8; CHUNK];
    let mut shut = false;
    let cut = |plan: &watch::Sender<Plan>| plan.send_modify(|p| p.end = p.end.or(Some(End::Cut)));
    loop {
        let now = changes.borrow_and_update().clone();
        if now.end.is_some() {
            return (from, to);
        }
        if now.half_closed[d] || now.budget[d] == Some(0) {
            if now.budget[d] == Some(0) {
                cut(&plan);
                return (from, to);
            }
            if !shut {
                shut = true;
                let _ = to.shutdown().await;
            }
            if changes.changed().await.is_err() {
                return (from, to);
            }
            continue;
        }
        if now.stalled {
            match tokio::time::timeout(STALL_MAX, changes.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return (from, to),
                Err(_) => {
                    cut(&plan);
                    continue;
                }
            }
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) => {
                    // The sender closed its side: pass the end on, as TCP would.
                    let _ = to.shutdown().await;
                    return (from, to);
                }
                Ok(n) => n,
                Err(_) => {
                    plan.send_modify(|p| p.end = p.end.or(Some(End::Broken)));
                    return (from, to);
                }
            },
            changed = changes.changed() => {
                if changed.is_err() {
                    return (from, to);
                }
                continue;
            }
        };
        if !forward(&mut to, &buf[..n], &plan, &mut changes, d, &forwarded).await {
            return (from, to);
        }
    }
}

/// Writes one chunk as the plan says (after its delay, within its budget); `false` when the
/// link ended meanwhile or the write failed (then it is cut).
async fn forward(
    to: &mut OwnedWriteHalf,
    chunk: &[u8],
    plan: &watch::Sender<Plan>,
    changes: &mut watch::Receiver<Plan>,
    d: usize,
    forwarded: &AtomicU64,
) -> bool {
    let delay = changes.borrow().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let now = changes.borrow_and_update().clone();
    if now.end.is_some() {
        return false;
    }
    let n = now.budget[d].map_or(chunk.len(), |b| chunk.len().min(b as usize));
    let written = tokio::select! {
        written = to.write_all(&chunk[..n]) => written.is_ok(),
        // A link ended while a write waits on a receiver that does not read.
        _ = changes.wait_for(|p| p.end.is_some()) => return false,
    };
    if !written {
        plan.send_modify(|p| p.end = p.end.or(Some(End::Broken)));
        return false;
    }
    forwarded.fetch_add(n as u64, Ordering::Relaxed);
    if now.budget[d].is_some() {
        plan.send_modify(|p| {
            p.budget[d] = p.budget[d].map(|b| b.saturating_sub(n as u64));
        });
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How long a test waits for anything that should happen.
    const WAIT: Duration = Duration::from_secs(5);
    /// How long a test watches for something that should not happen.
    const QUIET: Duration = Duration::from_millis(150);

    /// An upstream that echoes every byte back and counts its connections; it ends with the
    /// test's runtime.
    async fn echo() -> (SocketAddr, Arc<AtomicU64>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicU64::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        (addr, count)
    }

    /// An upstream that hands each accepted socket to the test.
    async fn sink() -> (SocketAddr, tokio::sync::mpsc::Receiver<TcpStream>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                if tx.send(socket).await.is_err() {
                    return;
                }
            }
        });
        (addr, rx)
    }

    /// A proxy in front of [`sink`], one client connected through it, and the socket the
    /// upstream accepted for it.
    async fn linked() -> (Proxy, TcpStream, TcpStream) {
        let (upstream, mut accepted) = sink().await;
        let proxy = Proxy::start(upstream).await.unwrap();
        let client = TcpStream::connect(proxy.addr()).await.unwrap();
        let server = within(accepted.recv()).await.unwrap();
        (proxy, client, server)
    }

    async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(WAIT, f).await.expect("in time")
    }

    async fn round_trip(client: &mut TcpStream, bytes: &[u8]) -> Vec<u8> {
        client.write_all(bytes).await.unwrap();
        let mut back = vec![0; bytes.len()];
        within(client.read_exact(&mut back)).await.unwrap();
        back
    }

    /// The only link of `proxy`, once it is connected upstream.
    async fn only_link(proxy: &Proxy) -> LinkId {
        within(async {
            loop {
                if let [link] = proxy.links()[..] {
                    return link;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
    }

    /// Reads until the stream ends; the bytes read and how it ended (`Ok` for a clean end).
    async fn read_to_end(socket: &mut TcpStream) -> (Vec<u8>, std::io::Result<()>) {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match within(socket.read(&mut buf)).await {
                Ok(0) => return (got, Ok(())),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Err(e)),
            }
        }
    }

    #[tokio::test]
    async fn forwards_both_ways_and_refuses_a_remote_upstream() {
        let (upstream, _) = echo().await;
        let proxy = Proxy::start(upstream).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut client, b"hello").await, b"hello");
        let link = only_link(&proxy).await;
        assert_eq!(proxy.forwarded(link, Direction::ToServer), Some(5));
        assert_eq!(proxy.forwarded(link, Direction::ToClient), Some(5));
        assert!(matches!(
            Proxy::start("192.0.2.1:80".parse().unwrap()).await,
            Err(ProxyError::NotLoopback(_))
        ));
        assert_eq!(
            proxy.url("http://127.0.0.1:1/hub?x=1").unwrap(),
            format!("http://{}/hub?x=1", proxy.addr())
        );
    }

    #[tokio::test]
    async fn a_cut_ends_both_sides_cleanly_and_the_link_is_gone() {
        let (proxy, mut client, mut server) = linked().await;
        let link = only_link(&proxy).await;
        assert!(proxy.cut(link));
        let (got, end) = read_to_end(&mut client).await;
        assert!(got.is_empty() && end.is_ok(), "{got:?} {end:?}");
        let (got, end) = read_to_end(&mut server).await;
        assert!(got.is_empty() && end.is_ok(), "{got:?} {end:?}");
        within(async {
            while !proxy.links().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(!proxy.cut(link), "an ended link cannot be cut again");
    }

    #[tokio::test]
    async fn a_reset_resets_both_sides() {
        let (proxy, mut client, mut server) = linked().await;
        assert!(proxy.reset(only_link(&proxy).await));
        for socket in [&mut client, &mut server] {
            let (_, end) = read_to_end(socket).await;
            assert_eq!(
                end.map_err(|e| e.kind()),
                Err(std::io::ErrorKind::ConnectionReset)
            );
        }
    }

    /// A cut after N bytes lands wherever N falls: the receiver gets exactly N bytes, then
    /// the end of its stream.
    #[tokio::test]
    async fn a_cut_after_n_bytes_forwards_exactly_n() {
        let (proxy, mut client, mut server) = linked().await;
        let link = only_link(&proxy).await;
        assert!(proxy.cut_after(link, Direction::ToServer, 10));
        client.write_all(&[7u8; 100]).await.unwrap();
        let (got, end) = read_to_end(&mut server).await;
        assert_eq!((got, end.is_ok()), (vec![7u8; 10], true));
        let (got, _) = read_to_end(&mut client).await;
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn a_stall_holds_bytes_until_unstalled() {
        let (upstream, _) = echo().await;
        let proxy = Proxy::start(upstream).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut client, b"a").await, b"a");
        let link = only_link(&proxy).await;
        assert!(proxy.stall(link));
        client.write_all(b"b").await.unwrap();
        let mut one = [0u8; 1];
        assert!(
            tokio::time::timeout(QUIET, client.read_exact(&mut one))
                .await
                .is_err(),
            "nothing gets through a stalled link"
        );
        assert!(proxy.unstall(link));
        within(client.read_exact(&mut one)).await.unwrap();
        assert_eq!(&one, b"b");
    }

    #[tokio::test]
    async fn a_delay_holds_each_chunk() {
        let (upstream, _) = echo().await;
        let proxy = Proxy::start(upstream).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut client, b"a").await, b"a");
        let link = only_link(&proxy).await;
        assert!(proxy.delay(link, Duration::from_millis(100)));
        let started = std::time::Instant::now();
        assert_eq!(round_trip(&mut client, b"b").await, b"b");
        // Once each way: at least twice the delay.
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(proxy.delay(link, Duration::ZERO));
    }

    /// A half-close ends one direction only: the server reads the end of its stream and can
    /// still answer.
    #[tokio::test]
    async fn a_half_close_ends_one_direction_only() {
        let (proxy, mut client, mut server) = linked().await;
        assert!(proxy.half_close(only_link(&proxy).await, Direction::ToServer));
        let (got, end) = read_to_end(&mut server).await;
        assert!(got.is_empty() && end.is_ok());
        server.write_all(b"still here").await.unwrap();
        let mut back = [0u8; 10];
        within(client.read_exact(&mut back)).await.unwrap();
        assert_eq!(&back, b"still here");
    }

    #[tokio::test]
    async fn held_connections_reach_the_server_only_once_released() {
        let (upstream, connections) = echo().await;
        let proxy = Proxy::start(upstream).await.unwrap();
        proxy.hold_new();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        client.write_all(b"early").await.unwrap();
        tokio::time::sleep(QUIET).await;
        assert_eq!(proxy.held(), 1);
        assert_eq!(connections.load(Ordering::Relaxed), 0, "not connected yet");
        assert!(proxy.links().is_empty());
        proxy.release();
        let mut back = [0u8; 5];
        within(client.read_exact(&mut back)).await.unwrap();
        assert_eq!(&back, b"early");
        assert_eq!((proxy.held(), proxy.accepted()), (0, 1));
    }

    #[tokio::test]
    async fn dropping_the_proxy_ends_its_links_and_its_listener() {
        let (proxy, mut client, mut server) = linked().await;
        let addr = proxy.addr();
        drop(proxy);
        let (_, end) = read_to_end(&mut client).await;
        assert!(end.is_ok());
        let (_, end) = read_to_end(&mut server).await;
        assert!(end.is_ok());
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
