//! `hubspec-refhub`: run the reference hub.
//!
//! ```text
//! hubspec-refhub --listen 127.0.0.1:5000 --path /hub [--rooms-db FILE]
//!                [--profile core|core-stateful] [--groups-fanout per-group|once]
//!                [--fault NAME]... [--list-faults]
//! ```
//!
//! Prints its URL on stdout, logs with `tracing` (`RUST_LOG`, default `info`) on stderr, and
//! shuts down cleanly on SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use hubspec_model::{GroupsFanout, Profile};
use hubspec_refhub::{Fault, RefHub, RefHubConfig};

/// The reference SignalR hub: the hubspec model served over ASP.NET Core's JSON hub protocol.
#[derive(Debug, Parser)]
#[command(name = "hubspec-refhub", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5000")]
    listen: SocketAddr,
    /// The hub's path.
    #[arg(long, default_value = "/hub")]
    path: String,
    /// SQLite file for the rooms records (in memory when absent).
    #[arg(long, value_name = "FILE")]
    rooms_db: Option<PathBuf>,
    /// Reconnect profile: core or core-stateful.
    #[arg(long, default_value = "core-stateful")]
    profile: Profile,
    /// SendToGroups fan-out: per-group (ASP.NET Core) or once.
    #[arg(long, default_value = "per-group")]
    groups_fanout: GroupsFanout,
    /// Inject a named fault (repeatable); see --list-faults.
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
    /// Stateful reconnect disconnect timeout, in seconds.
    #[arg(long, default_value_t = 15.0)]
    disconnect_timeout_secs: f64,
    /// Stateful reconnect replay buffer per connection, in bytes.
    #[arg(long, default_value_t = 100_000)]
    replay_buffer_bytes: usize,
    /// Largest incoming message, in bytes.
    #[arg(long, default_value_t = 32 * 1024)]
    max_message_bytes: usize,
    /// Longest group name, in bytes.
    #[arg(long, default_value_t = 1024)]
    max_group_name_bytes: usize,
    /// List the faults with the rules each breaks, and exit.
    #[arg(long)]
    list_faults: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list_faults {
        for f in Fault::ALL {
            println!(
                "{:<34} {} [{}]",
                f.name(),
                f.description(),
                f.breaks().join(", ")
            );
        }
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hubspec-refhub: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> ExitCode {
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
        Err(e) => {
            eprintln!("hubspec-refhub: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", hub.url());
    for f in &hub.config().faults {
        tracing::warn!(fault = %f, "fault injected: {}", f.description());
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    hub.shutdown().await;
    ExitCode::SUCCESS
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
