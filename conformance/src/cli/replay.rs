//! `hubspec replay`: one history against a target, printing what the model expects next to
//! what the target did, and every divergence. Its arguments are exactly those of
//! [`hubspec_harness::replay_command`], so a failure's replay line can be pasted as it is.

use super::target::{configured, embedded, wait_ready, TargetArgs};
use super::{fail, Exit};
use clap::Args;
use hubspec_conformance::{replay as run_replay, SuiteError, Target};
use hubspec_model::{Op, Profile};

/// `hubspec replay` arguments.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The history: a JSON array of operations (hubspec_model::Op, serde form), as printed in
    /// a failure's replay command.
    #[arg(long, value_name = "JSON")]
    pub ops: String,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Runs `hubspec replay`.
pub async fn replay(args: ReplayArgs) -> Exit {
    let ops: Vec<Op> = match serde_json::from_str(&args.ops) {
        Ok(ops) => ops,
        Err(e) => {
            return fail(
                Exit::Usage,
                format!("--ops is not a JSON array of operations: {e}"),
            )
        }
    };
    if ops.is_empty() {
        return fail(Exit::Usage, "--ops is empty: there is nothing to replay");
    }
    let target = match configured(&args.target) {
        Err(exit) => return exit,
        Ok(Some(config)) => {
            let target = Target::from_config(config);
            if let Err(exit) = wait_ready(&target, args.target.timeouts.ready_timeout_ms).await {
                return exit;
            }
            target
        }
        Ok(None) => {
            let profile = args.target.profile.unwrap_or(Profile::Core);
            match embedded(&args.target, profile).await {
                Ok(t) => t,
                Err(e) => return fail(Exit::Usage, e),
            }
        }
    };
    println!("target: {}", target.describe());
    let spec = target.config.spec();
    let result = run_replay(&target, spec, &ops).await;
    target.shutdown().await;
    let report = match result {
        Ok(report) => report,
        Err(e @ SuiteError::Unreachable(_)) => return fail(Exit::Unreachable, e),
        Err(e) => return fail(Exit::Usage, e),
    };
    println!("expected (the model):\n{}", report.expected);
    println!("observed (the target):\n{}", report.observed);
    if report.passed() {
        println!("no divergence: the target did what the model says");
        Exit::Success
    } else {
        println!("{} divergence(s):", report.divergences.len());
        for d in &report.divergences {
            print!("{d}");
        }
        if report.divergences.is_empty() {
            println!(
                "  only {} of {} steps ran",
                report.observed.steps.len(),
                report.expected.steps.len()
            );
        }
        Exit::Failure
    }
}
