//! `hubspec check`: bounded model checking of the spec (hubspec-check) with a spinner, the
//! figures (states, unique states, states/s) and each property's verdict; a failing property
//! prints its counterexample path and exits 1.

use super::Exit;
use clap::{ArgAction, Args, ValueEnum};
use hubspec_check::{check as run_check, Bounds, CheckOptions, CheckReport, Engine};
use hubspec_model::{GroupsFanout, Profile, Spec};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// The explorer, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// hubspec-check's level-synchronous parallel BFS.
    Parallel,
    /// stateright's own BFS checker.
    Stateright,
}

/// `hubspec check` arguments.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Live (connected or suspended) connections at most.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub connections: u8,
    /// Distinct users (a connection may also have none).
    #[arg(long, value_name = "U", default_value_t = 2)]
    pub users: u8,
    /// Distinct group names.
    #[arg(long, value_name = "G", default_value_t = 2)]
    pub groups: u8,
    /// The longest history explored (default: every reachable state).
    #[arg(long, value_name = "D")]
    pub depth: Option<usize>,
    /// Distinct payloads (they matter only for the order of buffered messages).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub payloads: u8,
    /// Messages buffered for one suspended connection at most.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub buffer: u8,
    /// core, core-stateful or classic.
    #[arg(long, value_name = "P", default_value = "core-stateful")]
    pub profile: Profile,
    /// How SendToGroups fans out: per-group or once.
    #[arg(long, value_name = "V", default_value = "per-group")]
    pub groups_fanout: GroupsFanout,
    /// Include JoinRoom/LeaveRoom and restoration on connect (on by default).
    #[arg(long, overrides_with = "no_rooms", action = ArgAction::SetTrue)]
    pub rooms: bool,
    /// Leave rooms out of the universe.
    #[arg(long, overrides_with = "rooms", action = ArgAction::SetTrue)]
    pub no_rooms: bool,
    /// Include Restart (on by default).
    #[arg(long, overrides_with = "no_restart", action = ArgAction::SetTrue)]
    pub restart: bool,
    /// Leave Restart out of the universe.
    #[arg(long, overrides_with = "restart", action = ArgAction::SetTrue)]
    pub no_restart: bool,
    /// Explore every state, not one per symmetry class (slower).
    #[arg(long)]
    pub no_symmetry: bool,
    /// Checker threads.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub threads: usize,
    /// The explorer.
    #[arg(long, value_enum, default_value_t = EngineArg::Parallel)]
    pub engine: EngineArg,
    /// Stop (and say so: nothing is proven then) beyond this many distinct states.
    #[arg(long, value_name = "N", default_value_t = CheckOptions::default().max_states)]
    pub max_states: u64,
}

impl CheckArgs {
    /// The bounds and options the flags describe.
    pub fn bounds(&self) -> Bounds {
        Bounds {
            connections: self.connections,
            users: self.users,
            groups: self.groups,
            payloads: self.payloads,
            buffer: self.buffer,
            depth: self.depth,
            rooms: !self.no_rooms,
            restart: !self.no_restart,
        }
    }

    /// The checker's options.
    pub fn options(&self) -> CheckOptions {
        CheckOptions {
            symmetry: !self.no_symmetry,
            threads: self.threads.max(1),
            engine: match self.engine {
                EngineArg::Parallel => Engine::Parallel,
                EngineArg::Stateright => Engine::Stateright,
            },
            max_states: self.max_states,
        }
    }
}

/// Runs `check` on a thread while a spinner with the elapsed time turns on stderr.
pub fn with_spinner(spec: Spec, bounds: Bounds, options: CheckOptions) -> CheckReport {
    let spinner = if std::io::stderr().is_terminal() {
        let s = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        s.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .expect("a valid template"),
        );
        s.enable_steady_tick(Duration::from_millis(120));
        s
    } else {
        ProgressBar::hidden()
    };
    spinner.set_message(format!("model checking {spec}; {bounds}"));
    let report = std::thread::scope(|s| {
        s.spawn(move || run_check(spec, bounds, options))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    spinner.finish_and_clear();
    report
}

/// Runs `hubspec check`.
pub fn check(args: CheckArgs) -> Exit {
    let spec = Spec::new(args.profile).with_fanout(args.groups_fanout);
    let (bounds, options) = (args.bounds(), args.options());
    if bounds.connections == 0 || bounds.groups == 0 {
        return super::fail(Exit::Usage, "--connections and --groups must be at least 1");
    }
    if !std::io::stderr().is_terminal() {
        eprintln!("hubspec: model checking {spec}; {bounds}");
    }
    let report = with_spinner(spec, bounds, options);
    print!("{report}");
    let (always, sometimes) = report
        .properties
        .iter()
        .partition::<Vec<_>, _>(|p| p.always);
    let failing = report.properties.iter().filter(|p| !p.holds).count();
    println!(
        "{} invariants, {} reachability properties, {} failing; engine {:?}, {} threads, symmetry {}",
        always.len(),
        sometimes.len(),
        failing,
        options.engine,
        options.threads,
        if options.symmetry { "on" } else { "off" }
    );
    if report.all_hold() {
        println!("PASSED: every property holds");
        Exit::Success
    } else {
        let broken_invariant = report.properties.iter().any(|p| p.always && !p.holds);
        println!(
            "FAILED: {}",
            if report.truncated {
                "the state limit was reached (raise --max-states or lower the bounds)"
            } else if broken_invariant {
                "an invariant is violated (its counterexample path is above)"
            } else {
                "a reachability property was not reached: the bounds are too small for it \
                 (raise --depth, --connections, --users or --groups)"
            }
        );
        Exit::Failure
    }
}
