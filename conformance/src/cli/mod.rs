//! The `hubspec` command line: argument parsing, the subcommands and their exit codes.
//!
//! Module map:
//! - [`run`]: `hubspec run`, the conformance suite against a target (or the embedded hub),
//!   with live progress, the verdict table and the reports.
//! - [`progress`]: the suite's [`hubspec_conformance::Progress`] as an indicatif bar on a
//!   terminal, plain lines otherwise.
//! - [`table`]: the verdict table and the failures, as printed on stdout.
//! - [`check`]: `hubspec check`, the model checker with a spinner.
//! - [`serve`]: `hubspec serve`, the reference hub (the flags of `hubspec-refhub`, and
//!   `--exit-on-stdin-eof`).
//! - [`replay`]: `hubspec replay`, one history against a target, expected vs observed.
//! - [`bench`]: `hubspec bench`, the performance figures in one command.
//!   `bench_concurrency`: `hubspec bench concurrency`, the concurrent part's figures.
//! - [`target`]: the target flags shared by `run` and `replay` (URL, config, timeouts).

mod bench;
mod bench_concurrency;
mod check;
mod progress;
mod replay;
mod run;
mod serve;
mod table;
mod target;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The exit codes, the same for every subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything checked passed.
    Success = 0,
    /// A failure was found: a rule failed, a mutant was missed, a property has a
    /// counterexample, a replay diverged.
    Failure = 1,
    /// The run could not be made: bad usage or configuration, `--only` matched nothing,
    /// zero rules checked.
    Usage = 2,
    /// The target cannot be reached.
    Unreachable = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Conformance testing of SignalR hub group semantics against an executable spec.
#[derive(Debug, Parser)]
#[command(
    name = "hubspec",
    version,
    after_help = "Exit codes: 0 every applicable rule passed; 1 a failure (rule, mutant, property \
                  counterexample, replay divergence); 2 usage or configuration error, --only \
                  matched nothing, or zero rules checked; 3 target unreachable."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the conformance suite against a hub (the embedded reference hub by default).
    Run(run::RunArgs),
    /// Model-check the spec within bounds.
    Check(check::CheckArgs),
    /// Serve the reference hub (the flags of hubspec-refhub, and --exit-on-stdin-eof).
    Serve(serve::ServeCommand),
    /// Replay one history (as printed by a failure) against a hub: expected vs observed.
    Replay(replay::ReplayArgs),
    /// Measure the checker, the harness and the reference hub (use a release build).
    Bench(bench::BenchArgs),
}

/// Parses the command line, runs the subcommand and maps its outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    ExitCode::SUCCESS
                }
                _ => Exit::Usage.into(),
            };
        }
    };
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let exit = match cli.command {
        Command::Check(args) => check::check(args),
        Command::Bench(args) => bench::bench(args),
        Command::Run(args) => block_on(run::run(args)),
        Command::Serve(args) => block_on(serve::serve(args)),
        Command::Replay(args) => block_on(replay::replay(args)),
    };
    exit.into()
}

/// Runs `future` on a multi-threaded tokio runtime.
fn block_on(future: impl std::future::Future<Output = Exit>) -> Exit {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(future),
        Err(e) => {
            eprintln!("hubspec: cannot start the async runtime: {e}");
            Exit::Usage
        }
    }
}

/// Prints `error: message` on stderr and returns `exit`.
fn fail(exit: Exit, message: impl std::fmt::Display) -> Exit {
    eprintln!("hubspec: error: {message}");
    exit
}
