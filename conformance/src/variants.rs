//! Variants detected, not assumed.
//!
//! Some rules allow a server one of several behaviours (today `groups_fanout`: whether
//! `Clients.Groups(list)` delivers once per group or once per connection). Before the other
//! parts run, one short history finds which variant the target serves. The run then goes on
//! under that variant, so the rest of the verdicts judge the target's real behaviour:
//! - a variant the target did not state is used and reported as an allowed variant;
//! - a variant it stated and contradicts is one finding on the variant's rule
//!   (SND-GROUPS-FANOUT), and nothing else.
//!
//! A probe history that matches neither variant changes nothing: the rule's own scenarios
//! show that divergence.

use crate::case::{run_case, CaseOutcome};
use crate::report::Finding;
use crate::scenario::matching_fanout;
use crate::target::Target;
use hubspec_model::{ConnId, GroupsFanout, Op, Selector};

/// The rule whose variant `groups_fanout` is.
pub const FANOUT_RULE: &str = "SND-GROUPS-FANOUT";

/// What the probe found on one target.
#[derive(Debug)]
pub enum Detected {
    /// The target serves the variant its configuration holds (stated or the default).
    AsConfigured,
    /// It serves another one, which it did not state: an allowed variant.
    Undeclared(GroupsFanout),
    /// It serves another one than it stated: the findings, blamed on [`FANOUT_RULE`].
    Contradicted(GroupsFanout, Vec<Finding>),
}

/// The history that tells the two fan-outs apart: one member of two groups, and a send to
/// both groups.
pub fn fanout_probe() -> Vec<Op> {
    let g = |n: &str| Some(n.to_string());
    vec![
        Op::Connect { user: None },
        Op::Connect { user: None },
        Op::AddToGroup {
            caller: ConnId(1),
            group: g("g1"),
        },
        Op::AddToGroup {
            caller: ConnId(1),
            group: g("g2"),
        },
        Op::Send {
            caller: ConnId(2),
            selector: Selector::Groups(vec![g("g1"), g("g2")]),
            payload: "m1".into(),
        },
    ]
}

/// Finds the `groups_fanout` `target` serves and returns the target to run the suite on (with
/// that variant) and what was found.
pub async fn detect_fanout(target: &Target) -> (Target, Detected) {
    let spec = target.config.spec();
    let outcome = run_case(
        target,
        spec,
        "variant probe: groups_fanout",
        &fanout_probe(),
    )
    .await;
    let detected = judge(target, &outcome);
    let mut adjusted = target.clone();
    if let Detected::Undeclared(v) | Detected::Contradicted(v, _) = &detected {
        adjusted.config.groups_fanout = *v;
    }
    (adjusted, detected)
}

fn judge(target: &Target, outcome: &CaseOutcome) -> Detected {
    if outcome.passed() {
        return Detected::AsConfigured;
    }
    let Some(observed) = matching_fanout(outcome) else {
        return Detected::AsConfigured;
    };
    if !target.config.groups_fanout_declared {
        return Detected::Undeclared(observed);
    }
    let declared = target.config.groups_fanout;
    let findings = outcome
        .findings
        .iter()
        .map(|f| Finding {
            rules: vec![FANOUT_RULE],
            expected: format!("groups_fanout = {declared}, as declared: {}", f.expected),
            observed: format!(
                "{} (the target serves groups_fanout = {observed}; the run goes on under it)",
                f.observed
            ),
            ..f.clone()
        })
        .collect();
    Detected::Contradicted(observed, findings)
}
