//! Mutants: the reference hub with one injected fault each; the suite must catch every one
//! with a divergence naming a rule the fault breaks.

use crate::case::{run_case, CaseOutcome};
use crate::properties::{self, Universe};
use crate::report::MutantReport;
use crate::shrink::shrink;
use crate::target::Target;
use hubspec_model::{scenarios, Profile, Transcript};
use hubspec_refhub::Fault;
use std::collections::BTreeSet;
use std::time::Instant;

/// The profile a fault is hunted under: `core-stateful` (the richer one) when every rule the
/// fault breaks is stated for it, else `core` (a fault of a core-only rule, such as
/// REC-CORE-DROP-ENDS, cannot show under stateful reconnect, and hunting it there would run
/// every part to the end for nothing).
pub fn profile_for(fault: Fault) -> Profile {
    let stateful = fault
        .breaks()
        .iter()
        .all(|id| hubspec_model::rule(id).is_some_and(|r| r.applies_to(Profile::CoreStateful)));
    if stateful {
        Profile::CoreStateful
    } else {
        Profile::Core
    }
}

/// Hunt `fault`: the probes of the protocol rules it breaks, then scenarios in catalog
/// order, then random histories, then the exhaustive walks, stopping at the first divergence that names a rule the fault breaks; then shrink
/// that history. The detection figures (time, operations) stop at the first detection, before
/// any shrinking (proptest's own included) — except a detection by the exhaustive walks, whose
/// part shrinks its failures before it returns; the shrunk length is reported on its own.
pub async fn hunt(fault: Fault, cases: u32) -> MutantReport {
    let start = Instant::now();
    let mut detected_at = None;
    let mut report_probe = None;
    let breaks = fault.breaks();
    let target = Target::embedded(profile_for(fault), BTreeSet::from([fault]))
        .await
        .expect("the embedded hub starts");
    // A protocol deviation read past (tolerant observation) names its rule too.
    let names_fault = |o: &CaseOutcome| {
        o.findings
            .iter()
            .chain(&o.protocol)
            .any(|f| f.rules.iter().any(|r| breaks.contains(r)))
    };
    let mut ops = 0usize;
    let mut found: Option<(String, CaseOutcome)> = None;
    // The protocol rules have probes, not scenarios: a fault of one is hunted by its probe.
    for rule in fault
        .breaks()
        .iter()
        .filter_map(|id| hubspec_model::rule(id))
        .filter(|r| r.area == hubspec_model::Area::Protocol)
    {
        if crate::probes::applicable(rule, &target).is_err() {
            continue;
        }
        if let Some(f) = crate::probes::probe(rule, &target).await {
            detected_at = Some((start.elapsed(), ops));
            report_probe = Some(f);
            break;
        }
    }
    for s in scenarios() {
        if report_probe.is_some() {
            break;
        }
        if crate::scenario::not_applicable(s.rule(), &s, &target).is_some() {
            continue;
        }
        let mut o = crate::scenario::run(&target, &s).await;
        ops += o.ops;
        // A scenario of a rule the fault breaks is judged as the suite judges it: by its
        // minimal counterexample and the timing diagnoses (a copy queued after its Completion
        // arrives after the scenario's end, so it looks lost until the diagnosis waits for it).
        if !o.passed() && !names_fault(&o) && breaks.contains(&s.rule) {
            o = crate::diagnosis::minimal(&target, o).await;
        }
        if names_fault(&o) {
            detected_at = Some((start.elapsed(), ops));
            found = Some(("scenario".into(), o));
            break;
        }
    }
    if found.is_none() && report_probe.is_none() {
        let universe = Universe::for_target(&target);
        let handle = tokio::runtime::Handle::current();
        let t = &target;
        let before = start.elapsed();
        let run = tokio::task::block_in_place(|| {
            properties::run(t, universe, cases, 24, &handle, &crate::Quiet)
        });
        if let Some(o) = run.failure.filter(|o| names_fault(o)) {
            let (time, first_ops) = run
                .first_failure
                .unwrap_or((start.elapsed() - before, run.ops));
            detected_at = Some((before + time, ops + first_ops));
            found = Some(("properties".into(), o));
        }
        ops += run.ops;
    }
    if found.is_none() && report_probe.is_none() {
        let spec = target.config.spec();
        let run = crate::exhaustive::run_with_progress(
            &target,
            spec,
            crate::exhaustive::default_bounds(),
            crate::exhaustive::EXPIRE,
            8,
            &crate::Quiet,
        )
        .await;
        ops += run.ops;
        if let Some(o) = run.failures.into_iter().find(|o| names_fault(o)) {
            // The part reports when every walk has run: the whole part is the cost of this
            // detection.
            detected_at = Some((start.elapsed(), ops));
            found = Some(("exhaustive".into(), o));
        }
    }
    let (time_to_detection, ops_to_detection) = detected_at.unwrap_or((start.elapsed(), ops));
    let probe_counterexample = report_probe.as_ref().map(|f| f.to_string());
    let mut report = MutantReport {
        fault: fault.name().to_string(),
        breaks: breaks.iter().map(|r| r.to_string()).collect(),
        detected: found.is_some() || report_probe.is_some(),
        by: match (&found, &report_probe) {
            (Some(f), _) => Some(f.0.clone()),
            (None, Some(_)) => Some("probe".into()),
            (None, None) => None,
        },
        time_to_detection,
        ops_to_detection,
        shrunk_len: None,
        counterexample: probe_counterexample,
    };
    if let Some((_, outcome)) = found {
        let spec = outcome.expected.spec;
        let shrunk = shrink(spec, outcome.expected.ops(), |h| {
            let target = &target;
            let breaks = &breaks;
            async move {
                let o = run_case(target, spec, "shrinking", &h).await;
                o.findings
                    .iter()
                    .any(|f| f.rules.iter().any(|r| breaks.contains(r)))
            }
        })
        .await;
        report.shrunk_len = Some(shrunk.len());
        report.counterexample = Transcript::run(spec, &shrunk).ok().map(|t| t.to_string());
    }
    target.shutdown().await;
    report
}

/// Hunt `fault` with random histories alone (no scenarios): the property part's own power,
/// and its shrinking. Its `failure` is the minimal failing case, if the fault was caught.
pub async fn hunt_with_properties(fault: Fault, cases: u32) -> properties::PropertyRun {
    let target = Target::embedded(profile_for(fault), BTreeSet::from([fault]))
        .await
        .expect("the embedded hub starts");
    let universe = Universe::for_target(&target);
    let handle = tokio::runtime::Handle::current();
    let t = &target;
    let run = tokio::task::block_in_place(|| {
        properties::run(t, universe, cases, 24, &handle, &crate::Quiet)
    });
    target.shutdown().await;
    run
}
