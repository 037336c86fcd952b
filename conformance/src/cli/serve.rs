//! `hubspec serve`: the reference hub, with exactly the flags of the `hubspec-refhub` binary.
//!
//! Prints the hub's URL on stdout (one line, flushed: a parent process can read it to learn
//! the port when listening on port 0), logs on stderr, and shuts down cleanly on SIGINT or
//! SIGTERM.

use super::{fail, Exit};
use clap::Args;
use hubspec_model::{GroupsFanout, Profile};
use hubspec_refhub::{Fault, RefHub, RefHubConfig};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `hubspec serve` arguments (those of `hubspec-refhub`).
#[derive(Debug, Args)]
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
    /// List the faults with the rules each breaks, and exit.
    #[arg(long)]
    pub list_faults: bool,
}

/// Runs `hubspec serve` until SIGINT or SIGTERM.
pub async fn serve(args: ServeArgs) -> Exit {
    if args.list_faults {
        for f in Fault::ALL {
            println!(
                "{:<34} {} [{}]",
                f.name(),
                f.description(),
                f.breaks().join(", ")
            );
        }
        return Exit::Success;
    }
    if args.profile == Profile::Classic {
        return fail(
            Exit::Usage,
            "refhub serves ASP.NET Core's protocol: --profile core or core-stateful",
        );
    }
    let config = RefHubConfig {
        listen: args.listen,
        path: args.path,
        profile: args.profile,
        groups_fanout: args.groups_fanout,
        rooms_db: args.rooms_db,
        faults: args.faults.into_iter().collect(),
        disconnect_timeout: Duration::from_secs_f64(args.disconnect_timeout_secs.max(0.0)),
        replay_buffer_bytes: args.replay_buffer_bytes,
        max_message_bytes: args.max_message_bytes,
        max_group_name_bytes: args.max_group_name_bytes,
        ..RefHubConfig::default()
    };
    let hub = match RefHub::start(config).await {
        Ok(hub) => hub,
        Err(e) => return fail(Exit::Usage, format!("the reference hub did not start: {e}")),
    };
    println!("{}", hub.url());
    let _ = std::io::stdout().flush();
    for f in &hub.config().faults {
        tracing::warn!(fault = %f, "fault injected: {}", f.description());
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    hub.shutdown().await;
    Exit::Success
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
