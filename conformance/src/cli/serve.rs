//! `hubspec serve`: the reference hub, with exactly the flags of the `hubspec-refhub` binary
//! plus `--exit-on-stdin-eof` ([`StopArgs`]).
//!
//! Prints the hub's URL on stdout (one line, flushed: a parent process can read it to learn
//! the port when listening on port 0), logs on stderr, and shuts down cleanly on SIGINT or
//! SIGTERM, and with `--exit-on-stdin-eof` when stdin closes.

use super::{fail, Exit};
use clap::Args;
use hubspec_model::Profile;
use hubspec_refhub::cli::{list_faults, serve_until_stopped, ServeArgs, StopArgs};

/// `hubspec serve` arguments: the reference hub's, and when to stop.
#[derive(Debug, Args)]
pub struct ServeCommand {
    #[command(flatten)]
    pub hub: ServeArgs,
    #[command(flatten)]
    pub stop: StopArgs,
}

/// Runs `hubspec serve` until SIGINT or SIGTERM (or stdin's end, when asked).
pub async fn serve(args: ServeCommand) -> Exit {
    let ServeCommand { hub: args, stop } = args;
    if args.list_faults {
        list_faults();
        return Exit::Success;
    }
    if args.profile == Profile::Classic {
        return fail(
            Exit::Usage,
            "refhub serves ASP.NET Core's protocol: --profile core or core-stateful",
        );
    }
    match serve_until_stopped(args.config(), &stop).await {
        Ok(()) => Exit::Success,
        Err(e) => fail(Exit::Usage, format!("the reference hub did not start: {e}")),
    }
}
