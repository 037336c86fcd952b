//! hubspec-refhub: the reference SignalR hub. Its group and connection logic *is* the
//! `hubspec-model` crate's [`Hub`](hubspec_model::Hub): the server is the spec, served over
//! ASP.NET Core's JSON hub protocol, so the official clients work against it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hubspec_refhub::RefHubError> {
//! use hubspec_refhub::{RefHub, RefHubConfig};
//! let hub = RefHub::start(RefHubConfig::default()).await?;
//! println!("{}", hub.url()); // http://127.0.0.1:PORT/hub
//! hub.restart().await;       // every connection gone, rooms records kept
//! hub.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Module map:
//! - [`config`]: [`RefHubConfig`], ASP.NET Core's defaults for limits and timeouts.
//! - `server`: axum routes, negotiate, the WebSocket endpoint (404 / 409 / resume), the
//!   sweeper of stale negotiations.
//! - `connection`: one socket: handshake, read loop, keep-alive, client timeout, Acks, what the
//!   socket's end means for the connection (end or suspend), and the sending half
//!   (`Transport`, `Out`) with the writer task that drains it.
//! - `dispatch`: the conformance hub's methods bound from an Invocation, and the error texts.
//! - `state`: the model plus ids, tokens, sockets and replay buffers; contract calls become
//!   model operations there, and the model's deliveries become frames.
//! - `rooms`: the rooms records in SQLite.
//! - [`backplane`]: a node of a cluster on Redis (`--redis`): ASP.NET Core's backplane
//!   protocol, sends published after the local deliveries, remote adds and removes acked by the
//!   owner, fail-stop on a lost subscription.
//! - `classic`: the classic ASP.NET SignalR 2.x endpoint at `/signalr` (WebSockets), on the
//!   same state: classic and core connections share groups and sends.
//! - [`cli`]: the flags of `hubspec-refhub` and `hubspec serve`, and serving until a signal.
//! - [`faults`]: the named, off-by-default bugs ([`Fault`]) and every hook through which
//!   they perturb the hub (`FaultState` for `state`, `WireFaults` for `connection` and
//!   `server`); nothing outside it tests which fault is on.
//! - [`error`]: the crate's error type, [`RefHubError`].
//! - [`redis_server`]: a real `redis-server` on a free loopback port, ended on drop, for
//!   tests and embedded clusters.
//!
//! **Architecture invariant:** refhub never decides who is in a group or who receives a
//! send; it asks the model. Faults perturb the operations given to the model (or the wire),
//! they do not reimplement semantics.
//!
//! **Ordering:** one lock guards the state; an operation's deliveries are queued to every
//! recipient, and only then the caller's Completion, all under that lock. Each connection has
//! one writer task draining one FIFO queue, so per-connection order is the order of the
//! model's deliveries.

pub mod backplane;
mod classic;
pub mod cli;
pub mod config;
mod connection;
mod dispatch;
pub mod error;
pub mod faults;
pub mod redis_server;
mod rooms;
mod server;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hubspec_model::Profile;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use backplane::BackplaneConfig;
pub use classic::{HUB as CLASSIC_HUB, PATH as CLASSIC_PATH};
pub use config::RefHubConfig;
pub use error::RefHubError;
pub use faults::Fault;

use crate::server::Shared;

/// A running reference hub.
pub struct RefHub {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    sweeper: JoinHandle<()>,
    /// A cluster node's publisher and subscriber tasks.
    backplane: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RefHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefHub").field("url", &self.url()).finish()
    }
}

impl RefHub {
    /// Binds `config.listen`, loads the rooms records and starts serving.
    pub async fn start(config: RefHubConfig) -> Result<RefHub, RefHubError> {
        if config.profile == Profile::Classic {
            return Err(RefHubError::Config(
                "profile classic is not served: refhub speaks ASP.NET Core SignalR (core, core-stateful)".into(),
            ));
        }
        if config.normalized_path().eq_ignore_ascii_case(classic::PATH) {
            return Err(RefHubError::Config(format!(
                "path {} is the classic endpoint's; serve the core hub at another path",
                classic::PATH
            )));
        }
        let rooms = rooms::RoomsDb::open(config.rooms_db.as_deref())?;
        let state = state::State::new(config.clone(), rooms)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| RefHubError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| RefHubError::Bind {
            addr: config.listen,
            source,
        })?;
        let backplane_config = config.backplane.clone();
        let shared = Arc::new(Shared::new(config, state));
        let backplane = match backplane_config {
            Some(node) => backplane::start(shared.clone(), node).await?,
            None => Vec::new(),
        };
        let (stop, mut stopped) = watch::channel(false);
        let app = server::router(shared.clone());
        let server = tokio::spawn(async move {
            // Without TCP_NODELAY every small SignalR record waits on Nagle's algorithm and
            // the peer's delayed ACK: measured 70× fewer session ops/s at 4 connections.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "server stopped with an error");
            }
        });
        let sweeper = tokio::spawn(server::sweep(shared.clone()));
        tracing::info!(url = %format!("http://{addr}{}", shared.config.normalized_path()), "refhub listening");
        Ok(RefHub {
            shared,
            addr,
            stop,
            server,
            sweeper,
            backplane,
        })
    }

    /// The hub's URL, e.g. `http://127.0.0.1:5000/hub`.
    pub fn url(&self) -> String {
        format!(
            "http://{}{}",
            self.addr,
            self.shared.config.normalized_path()
        )
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &RefHubConfig {
        &self.shared.config
    }

    /// The in-process restart: every socket is dropped without a Close message or a close
    /// frame (as ASP.NET Core's shutdown aborts its WebSockets, see `close_all`), every
    /// connection is gone (the model's `Restart`), tokens die (a resume gets 404), and the
    /// rooms records are reloaded from the database.
    pub async fn restart(&self) {
        let transports = self.shared.lock().restart();
        tracing::info!(
            sockets = transports.len(),
            "restart: every connection closed"
        );
        close_all(transports).await;
    }

    /// Closes every connection and stops serving.
    pub async fn shutdown(self) {
        // First, so that closing the clients is not taken for a lost subscription.
        for task in &self.backplane {
            task.abort();
        }
        let transports = self.shared.lock().restart();
        tracing::info!(
            sockets = transports.len(),
            "shutdown: every connection closed"
        );
        close_all(transports).await;
        let _ = self.stop.send(true);
        self.sweeper.abort();
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(5), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }

    /// The model state right now (for tests and diagnostics).
    pub fn model(&self) -> hubspec_model::Hub {
        self.shared.lock().hub.clone()
    }
}

/// Drops every socket with no hub Close message and no close frame, as ASP.NET Core's
/// shutdown does, and gives the writers a moment to stop. There, the hub learns of the
/// shutdown only after the WebSocket transport has stopped sending, so its Close never gets
/// out, and the cancelled receive aborts the WebSocket:
/// - HttpConnectionManager.cs@2b280b180e73a0be81a5d0476cfb498b09519b3d:
///   `appLifetime.ApplicationStopping.Register(() => CloseConnections());`,
///   `tasks.Add(DisposeAndRemoveAsync(c.Value.Connection, closeGracefully: false));`
/// - HttpConnectionDispatcher.cs@500e036573fb845ebce9c431e73e762791815c66: `// Allow the
///   reads to be cancelled` `connection.Cancellation = new CancellationTokenSource();`
/// - HttpConnectionContext.cs@cca91f243918df72a3228817436ab78291684d41 (`WaitOnTasks`):
///   `// The websocket transport will close the application output automatically when reading
///   is canceled` `Cancellation?.Cancel();`; once the transport is done,
///   `Application?.Output.Complete(…)`, which is when the hub sees its input end.
/// - WebSocketsServerTransport.cs@1e0bf1c78ade1e23400977d1e3315af6acb51838:
///   `await socket.ReceiveAsync(Memory<byte>.Empty, token)`; then
///   `_application.Input.CancelPendingRead();` and the send loop's
///   `if (result.IsCanceled && !ignoreFirstCancel) { break; }`; a close frame only
///   `if (WebSocketCanSend(socket))`.
/// - dotnet/runtime ManagedWebSocket.cs@9cd9166c4c96ca85b1f53d9ff354e60910b544e3
///   (`ReceiveAsyncPrivate`): `cancellationToken.Register(static s =>
///   ((ManagedWebSocket)s!).Abort(), this)`, so the socket is aborted and cannot send one.
async fn close_all(transports: Vec<connection::Transport>) {
    for t in &transports {
        t.abort();
    }
    let all = futures_util::future::join_all(transports.iter().map(|t| t.closed()));
    let _ = tokio::time::timeout(Duration::from_secs(1), all).await;
}
