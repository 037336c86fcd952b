//! `hubspec serve`: the reference hub, with exactly the flags of the `hubspec-refhub` binary.
//!
//! Prints the hub's URL on stdout (one line, flushed: a parent process can read it to learn
//! the port when listening on port 0), logs on stderr, and shuts down cleanly on SIGINT or
//! SIGTERM.

use super::{fail, Exit};
use hubspec_model::Profile;
pub use hubspec_refhub::cli::ServeArgs;
use hubspec_refhub::cli::{list_faults, serve_until_signal};

/// Runs `hubspec serve` until SIGINT or SIGTERM.
pub async fn serve(args: ServeArgs) -> Exit {
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
    match serve_until_signal(args.config()).await {
        Ok(()) => Exit::Success,
        Err(e) => fail(Exit::Usage, format!("the reference hub did not start: {e}")),
    }
}
