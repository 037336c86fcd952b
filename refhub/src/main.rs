//! `hubspec-refhub`: run the reference hub.
//!
//! ```text
//! hubspec-refhub --listen 127.0.0.1:5000 --path /hub [--rooms-db FILE]
//!                [--profile core|core-stateful] [--groups-fanout per-group|once]
//!                [--fault NAME]... [--list-faults]
//!                [--disconnect-timeout-secs S] [--replay-buffer-bytes N]
//!                [--max-message-bytes N] [--max-group-name-bytes N]
//!                [--max-invocations-per-sec N]
//!                [--redis URL [--node-name NAME] [--backplane-hub NAME]]
//! ```
//!
//! Prints its URL on stdout, logs with `tracing` (`RUST_LOG`, default `info`) on stderr, and
//! shuts down cleanly on SIGINT or SIGTERM.

use clap::Parser;
use hubspec_refhub::cli::{list_faults, serve_until_signal, ServeArgs};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "hubspec-refhub",
    version,
    about = "The hubspec reference SignalR hub"
)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> ExitCode {
    let args = Args::parse().serve;
    if args.list_faults {
        list_faults();
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
    match runtime.block_on(serve_until_signal(args.config())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hubspec-refhub: {e}");
            ExitCode::FAILURE
        }
    }
}
