//! `hubspec replay`: one history against a target, printing what the model expects next to
//! what the target did, and every divergence with a replay line that works as printed. Its
//! arguments are exactly those of [`Target::replay_command`], so a failure's replay line can
//! be pasted as it is.

use super::target::{configured, embedded, wait_ready, TargetArgs};
use super::{fail, Exit};
use clap::Args;
use hubspec_conformance::case::finding;
use hubspec_conformance::{replay as run_replay, SuiteError, Target};
use hubspec_harness::RunReport;
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
    // Built from the target, not the session: for the embedded hub, which ends here, the
    // line starts a fresh one with the same faults.
    let replay_line = target.replay_command(spec, &ops);
    target.shutdown().await;
    let report = match result {
        Ok(report) => report,
        Err(e @ SuiteError::Unreachable { .. }) => return fail(Exit::Unreachable, e),
        Err(e) => return fail(Exit::Usage, e),
    };
    print!("{}", render(&report, &replay_line));
    if report.passed() {
        Exit::Success
    } else {
        Exit::Failure
    }
}

/// What `hubspec replay` prints for a report: the model's transcript, the target's as read
/// ([`RunReport::observed_text`]: an error whose kind the wire does not state is shown as
/// `error (kind not stated)`, never as the model's stand-in value), then the verdict, each
/// divergence as a [`Finding`](hubspec_conformance::report::Finding) whose replay command
/// is `replay_line`.
fn render(report: &RunReport, replay_line: &str) -> String {
    let mut out = format!(
        "expected (the model):\n{}\nobserved (the target):\n{}\n",
        report.expected,
        report.observed_text()
    );
    if report.passed() {
        out.push_str("no divergence: the target did what the model says\n");
        return out;
    }
    if let Some(why) = &report.too_slow {
        out.push_str(&format!(
            "note: this machine was too slow for the run to judge the target ({why}); run it again\n"
        ));
    }
    out.push_str(&format!("{} divergence(s):\n", report.divergences.len()));
    for d in &report.divergences {
        out.push_str(&finding("replay", d, &report.expected, replay_line).to_string());
    }
    if report.divergences.is_empty() {
        out.push_str(&format!(
            "  only {} of {} steps ran\n",
            report.observed.steps.len(),
            report.expected.steps.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubspec_model::{ConnId, ErrorKind, OpResult, Spec, Transcript};
    use std::collections::BTreeMap;

    /// A step whose error kind the wire did not state holds the expected kind only as a
    /// stand-in; the printed observed transcript says what was read instead.
    #[test]
    fn the_observed_transcript_is_printed_as_read() {
        let ops: Vec<Op> = vec![
            Op::Connect { user: None },
            Op::AddToGroup {
                caller: ConnId(1),
                group: None,
            },
        ];
        let expected = Transcript::run(Spec::default(), &ops).unwrap();
        assert_eq!(
            expected.steps[1].outcome.result,
            OpResult::Error(ErrorKind::NullGroupName)
        );
        let report = RunReport {
            observed: expected.clone(),
            expected,
            divergences: vec![],
            exclusive: false,
            timings: vec![],
            results_as_read: BTreeMap::from([(2, "error (kind not stated)".to_string())]),
            too_slow: None,
        };
        let text = render(&report, "cargo run …");
        let observed = text.split("observed (the target):").nth(1).unwrap();
        assert!(observed.contains("-> error (kind not stated)"), "{text}");
        assert!(!observed.contains("null-group-name"), "{text}");
        assert!(text.contains("no divergence"), "{text}");
    }
}
