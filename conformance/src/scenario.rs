//! Scenarios: each rule's short histories (hubspec_model::scenarios) run against a target.

use crate::case::{run_case, CaseOutcome};
use crate::target::Target;
use hubspec_harness::TargetConfig;
use hubspec_model::{GroupsFanout, Profile, Rule, Scenario, Spec, Transcript};

/// Why `scenario` cannot run against `target` (a [`Target`] or just its [`TargetConfig`]), if
/// it cannot: decided from what the target declares alone, so nothing is started or reached.
pub fn not_applicable<'a>(
    rule: &Rule,
    scenario: &Scenario,
    target: impl Into<&'a TargetConfig>,
) -> Option<String> {
    let target: &TargetConfig = target.into();
    let profile = target.profile;
    if !rule.applies_to(profile) {
        let names: Vec<&str> = rule.profiles.iter().map(|p| p.name()).collect();
        return Some(format!("stated for profile {} only", names.join(", ")));
    }
    let missing: Vec<&str> = scenario
        .capabilities(profile)
        .into_iter()
        .filter(|c| !target.has(*c))
        .map(|c| c.name())
        .collect();
    if !missing.is_empty() {
        return Some(format!("needs capability {}", missing.join(", ")));
    }
    None
}

/// The case name of `scenario` under `profile`.
pub fn case_name(scenario: &Scenario, profile: Profile) -> String {
    format!("scenario {} ({profile})", scenario.key())
}

/// Run `scenario` against `target` under the target's spec.
pub async fn run(target: &Target, scenario: &Scenario) -> CaseOutcome {
    let spec = target.config.spec();
    run_case(
        target,
        spec,
        &case_name(scenario, spec.profile),
        &scenario.ops,
    )
    .await
}

/// When a case diverged: the variant of the spec the target's observed transcript matches
/// instead, if the rule has one (`groups_fanout`).
pub fn matching_variant(rule: &Rule, outcome: &CaseOutcome) -> Option<String> {
    if rule.variant != Some("groups_fanout") {
        return None;
    }
    matching_fanout(outcome).map(|v| format!("groups_fanout = {v}"))
}

/// The other `groups_fanout` whose transcript the diverged `outcome` shows exactly, if any.
pub fn matching_fanout(outcome: &CaseOutcome) -> Option<GroupsFanout> {
    if outcome.observed.steps.len() != outcome.expected.steps.len() {
        return None;
    }
    let spec = outcome.expected.spec;
    GroupsFanout::ALL
        .into_iter()
        .filter(|v| *v != spec.groups_fanout)
        .find(|v| {
            let alt: Spec = spec.with_fanout(*v);
            Transcript::run(alt, &outcome.expected.ops())
                .is_ok_and(|expected| same_observations(&expected, &outcome.observed))
        })
}

/// Whether two transcripts show the same steps: the same operations and results and, per
/// recipient, the same messages in the same order (the order across recipients carries no
/// meaning, see [`hubspec_model::Outcome::deliveries`]). Their specs may differ.
fn same_observations(a: &Transcript, b: &Transcript) -> bool {
    a.steps.len() == b.steps.len()
        && a.steps.iter().zip(&b.steps).all(|(x, y)| {
            x.op == y.op
                && x.outcome.result == y.outcome.result
                && x.outcome.per_recipient() == y.outcome.per_recipient()
        })
}
