//! The command line of the reference hub, shared by the `hubspec-refhub` binary and
//! `hubspec serve` so that both take exactly the same flags.

use crate::{Fault, RefHub, RefHubConfig, RefHubError};
use hubspec_model::{GroupsFanout, Profile};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The reference hub's flags.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the URL printed says which).
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub listen: SocketAddr,
    /// The hub's path.
    #[arg(long, default_value = "/hub")]
    pub path: String,
    /// SQLite file for the rooms records (in memory when absent).
    #[arg(long, value_name = "FILE")]
    pub rooms_db: Option<PathBuf>,
    /// Reconnect profile: core or core-stateful.
    #[arg(long, default_value = "core-stateful")]
    pub profile: Profile,
    /// SendToGroups fan-out: per-group (ASP.NET Core) or once.
    #[arg(long, default_value = "per-group")]
    pub groups_fanout: GroupsFanout,
    /// Inject a named fault (repeatable); see --list-faults.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<Fault>,
    /// Stateful reconnect disconnect timeout, in seconds.
    #[arg(long, default_value_t = 15.0)]
    pub disconnect_timeout_secs: f64,
    /// Stateful reconnect replay buffer per connection, in bytes.
    #[arg(long, default_value_t = 100_000)]
    pub replay_buffer_bytes: usize,
    /// Largest incoming message, in bytes.
    #[arg(long, default_value_t = 32 * 1024)]
    pub max_message_bytes: usize,
    /// Longest group name, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub max_group_name_bytes: usize,
    /// Flood limit: invocations one connection may send per second (and in one burst);
    /// faster closes that connection with an error.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_invocations_per_sec: u32,
    /// Classic endpoint: how long an add or remove of an id that is not live waits before it
    /// completes as cancelled, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub classic_ack_timeout_ms: u64,
    /// Serve as a node of a cluster whose nodes share this Redis (`redis://127.0.0.1:6379`),
    /// speaking ASP.NET Core's Redis backplane protocol.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// This node's server name on the backplane (default: `refhub_` and a random id).
    #[arg(long, value_name = "NAME", requires = "redis")]
    pub node_name: Option<String>,
    /// The backplane's channel prefix: the hub's .NET type name for ASP.NET Core nodes.
    #[arg(long, value_name = "NAME", requires = "redis", default_value = crate::backplane::DEFAULT_HUB_NAME)]
    pub backplane_hub: String,
    /// List the faults with the rules each breaks, and exit.
    #[arg(long)]
    pub list_faults: bool,
}

impl ServeArgs {
    /// The hub's configuration.
    pub fn config(&self) -> RefHubConfig {
        RefHubConfig {
            listen: self.listen,
            path: self.path.clone(),
            profile: self.profile,
            groups_fanout: self.groups_fanout,
            rooms_db: self.rooms_db.clone(),
            faults: self.faults.iter().copied().collect(),
            disconnect_timeout: Duration::from_secs_f64(self.disconnect_timeout_secs.max(0.0)),
            replay_buffer_bytes: self.replay_buffer_bytes,
            max_message_bytes: self.max_message_bytes,
            max_group_name_bytes: self.max_group_name_bytes,
            max_invocations_per_second: self.max_invocations_per_sec,
            classic_ack_timeout: Duration::from_millis(self.classic_ack_timeout_ms),
            backplane: self.redis.as_ref().map(|url| {
                let name = self
                    .node_name
                    .clone()
                    .unwrap_or_else(|| format!("refhub_{}", uuid::Uuid::new_v4().simple()));
                crate::backplane::BackplaneConfig {
                    hub_name: self.backplane_hub.clone(),
                    ..crate::backplane::BackplaneConfig::new(url, name)
                }
            }),
            ..RefHubConfig::default()
        }
    }
}

/// Print every fault with its description and the rules it breaks.
pub fn list_faults() {
    for f in Fault::every() {
        println!(
            "{:<34} {} [{}]",
            f.name(),
            f.description(),
            f.breaks().join(", ")
        );
    }
}

/// When `hubspec serve` stops besides SIGINT and SIGTERM. Kept apart from [`ServeArgs`], so
/// `hubspec-refhub` does not accept a flag it would not honour.
#[derive(Debug, Default, clap::Args)]
pub struct StopArgs {
    /// Also stop when stdin reaches end of file. A parent that keeps the write end of the pipe
    /// stops the hub by closing it, or by exiting in any way (even when it is killed), so a
    /// hub started by a test cannot outlive the test.
    #[arg(long)]
    pub exit_on_stdin_eof: bool,
}

/// Start the hub, print its URL on stdout (one flushed line: a parent process can read the
/// port), and serve until SIGINT or SIGTERM, then close every connection.
pub async fn serve_until_signal(config: RefHubConfig) -> Result<(), RefHubError> {
    serve_until_stopped(config, &StopArgs::default()).await
}

/// [`serve_until_signal`], also stopping when `stop` says so.
pub async fn serve_until_stopped(config: RefHubConfig, stop: &StopArgs) -> Result<(), RefHubError> {
    let hub = RefHub::start(config).await?;
    // Listen before the URL is printed: a parent that reads the URL and signals at once must
    // find the handlers in place (otherwise the default action kills the process unclean).
    let signalled = shutdown_signal();
    println!("{}", hub.url());
    let _ = std::io::stdout().flush();
    for f in &hub.config().faults {
        tracing::warn!(fault = %f, "fault injected: {}", f.description());
    }
    let stdin_closed = async {
        if stop.exit_on_stdin_eof {
            let _ = stdin_closed().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = signalled => tracing::info!("shutting down"),
        _ = stdin_closed => tracing::info!("stdin closed: shutting down"),
    }
    hub.shutdown().await;
    Ok(())
}

/// Resolves when stdin reaches end of file (or cannot be read). The read runs on a plain
/// thread, not `spawn_blocking`: a runtime waits for its blocking tasks when it drops, and
/// this read ends only with the pipe, so a signal must not wait for it.
fn stdin_closed() -> tokio::sync::oneshot::Receiver<()> {
    let (closed, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed.send(());
    });
    rx
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
