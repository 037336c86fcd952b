//! The suite: every selected rule checked against every target, then verdicts.

use crate::case::CaseOutcome;
use crate::error::SuiteError;
use crate::report::{
    Coverage, Finding, MutantReport, PropertyStats, RuleReport, RunReport, Verdict,
};
use crate::root_causes::RootCauses;
use crate::target::Target;
use crate::variants::{self, Detected};
use crate::{exhaustive, mutants, probes, properties, scenario};
use futures_util::stream::{self, StreamExt};
use hubspec_harness::DivergenceKind;
use hubspec_model::is_exclusive;
use hubspec_model::{scenarios, Area, Rule, RULES};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

/// A part of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// Each rule's scenarios and the protocol probes.
    Scenarios,
    /// Random histories from the model, shrunk on failure.
    Properties,
    /// Every transition of the model's bounded graph.
    Exhaustive,
    /// The reference hub with each fault injected (embedded targets only).
    Mutants,
    /// Several connections at once; the recorded history checked at L1 (`concurrent`).
    Concurrent,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Rule IDs or ID prefixes (`GRP-`); empty selects every rule.
    pub only: Vec<String>,
    /// Random histories per target.
    pub cases: u32,
    /// The parts to run.
    pub parts: BTreeSet<Part>,
    /// Cases run at once against one target (exclusive ones always run alone).
    pub parallel: usize,
    /// What the concurrent part records per target.
    pub concurrent: crate::concurrent::Size,
}

/// Random histories per target when nothing says otherwise.
pub const DEFAULT_CASES: u32 = 32;

impl Default for Plan {
    /// Every rule, every part, [`DEFAULT_CASES`] random histories, 8 cases at once. Reads no
    /// environment: [`Plan::from_env`] does.
    fn default() -> Self {
        Plan {
            only: vec![],
            cases: DEFAULT_CASES,
            parts: [
                Part::Scenarios,
                Part::Properties,
                Part::Exhaustive,
                Part::Mutants,
                Part::Concurrent,
            ]
            .into(),
            parallel: 8,
            concurrent: crate::concurrent::Size::default(),
        }
    }
}

impl Plan {
    /// The default plan, with `HUBSPEC_CASES` random histories and `HUBSPEC_CC_HISTORIES`
    /// concurrent histories when those variables are numbers.
    pub fn from_env() -> Plan {
        Plan::from_vars(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with any variable source (tests use a map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Plan {
        Plan {
            cases: var("HUBSPEC_CASES")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_CASES),
            concurrent: crate::concurrent::Size {
                histories: var("HUBSPEC_CC_HISTORIES")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(crate::concurrent::DEFAULT_HISTORIES),
                ..crate::concurrent::Size::default()
            },
            ..Plan::default()
        }
    }

    /// Whether the `--only` filter `filter` selects the rule `id`: the exact ID, or a prefix
    /// ending in `-` (`GRP-`).
    fn selects(filter: &str, id: &str) -> bool {
        id == filter || (filter.ends_with('-') && id.starts_with(filter))
    }

    /// The selected rules, in catalog order; an error when a filter matches nothing.
    pub fn rules(&self) -> Result<Vec<&'static Rule>, SuiteError> {
        if let Some(f) = self
            .only
            .iter()
            .find(|f| !RULES.iter().any(|r| Plan::selects(f, r.id)))
        {
            return Err(SuiteError::NothingMatched(f.clone()));
        }
        Ok(RULES
            .iter()
            .filter(|r| self.only.is_empty() || self.only.iter().any(|f| Plan::selects(f, r.id)))
            .collect())
    }
}

/// Live progress: the CLI draws a bar, tests print lines, or nothing. A run reports each part
/// in turn (`part`), then each of its units as it finishes (`advance`): a scenario or probe, a
/// property case (shrinking runs included, so it may pass the total), an exhaustive walk, a
/// mutant hunted.
pub trait Progress: Send + Sync {
    /// A part begins (`scenarios`, `properties`, `exhaustive`, `mutants`, with the target or
    /// profile it runs against), with `total` units.
    fn part(&self, name: &str, total: u64);
    /// One unit finished.
    fn advance(&self, case: &str, passed: bool);
    /// Something worth a line.
    fn note(&self, message: &str);
}

/// No progress output.
pub struct Quiet;

impl Progress for Quiet {
    fn part(&self, _: &str, _: u64) {}
    fn advance(&self, _: &str, _: bool) {}
    fn note(&self, _: &str) {}
}

/// Evidence collected per rule.
#[derive(Default)]
struct Tally {
    cases: usize,
    duration: Duration,
    /// Rules whose root causes stopped a case of this rule before it could be judged.
    blocked_by: BTreeSet<&'static str>,
    not_applicable: Vec<String>,
    variant: Option<String>,
}

type JobResult = (&'static Rule, Option<CaseOutcome>, Vec<Finding>, Duration);

async fn run_job(job: Job<'_>, progress: &dyn Progress) -> JobResult {
    let started = Instant::now();
    match job {
        Job::Scenario(t, rule, s) => {
            let mut o = scenario::run(t, &s).await;
            // A failure that is not wholly an allowed variant is judged by its minimal
            // counterexample: in the scenario's own history, steps that do not matter to the
            // divergence could make the blame fall on them.
            if !o.passed() && scenario::matching_variant(rule, &o).is_none() {
                o = crate::diagnosis::minimal(t, o).await;
            }
            progress.advance(&o.name, o.passed());
            (rule, Some(o), vec![], started.elapsed())
        }
        Job::Probe(t, rule) => {
            let finding = probes::probe(rule, t).await;
            progress.advance(&format!("probe {}", rule.id), finding.is_none());
            (
                rule,
                None,
                finding.into_iter().collect::<Vec<_>>(),
                started.elapsed(),
            )
        }
    }
}

enum Job<'a> {
    Scenario(&'a Target, &'static Rule, hubspec_model::Scenario),
    Probe(&'a Target, &'static Rule),
}

/// Run `plan` against `targets` and give a verdict per rule.
///
/// With [`Part::Properties`] it needs a multi-threaded runtime: that part blocks its thread in
/// [`tokio::task::block_in_place`] (see [`properties::run`]), which panics on a current-thread
/// one (a default `#[tokio::test]`).
pub async fn run_suite(
    targets: &[Target],
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<RunReport, SuiteError> {
    let start = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let rules = plan.rules()?;
    for t in targets {
        t.probe().await?;
    }
    let mut tally: BTreeMap<&'static str, Tally> =
        rules.iter().map(|r| (r.id, Tally::default())).collect();
    let mut roots = RootCauses::default();

    // The variant each target serves, before anything judges it (see `variants`).
    let mut detected_targets = Vec::with_capacity(targets.len());
    for t in targets {
        let (adjusted, detected) = variants::detect_fanout(t).await;
        let fanout = tally.get_mut(variants::FANOUT_RULE);
        match detected {
            Detected::AsConfigured => {}
            Detected::Undeclared(v) => {
                if let Some(t) = fanout {
                    t.variant = Some(format!("groups_fanout = {v}"));
                }
            }
            Detected::Contradicted(_, findings) => {
                if let Some(t) = fanout {
                    t.cases += 1;
                }
                roots.add_case(&findings);
            }
        }
        detected_targets.push(adjusted);
    }
    let targets = &detected_targets[..];

    // Scenarios and probes.
    let mut jobs: Vec<Job> = Vec::new();
    if plan.parts.contains(&Part::Scenarios) {
        let all = scenarios();
        for t in targets {
            for rule in &rules {
                if rule.area == Area::Protocol {
                    match probes::applicable(rule, t) {
                        Ok(()) => jobs.push(Job::Probe(t, rule)),
                        Err(why) => tally.get_mut(rule.id).unwrap().not_applicable.push(why),
                    }
                    continue;
                }
                for s in all.iter().filter(|s| s.rule == rule.id) {
                    match scenario::not_applicable(rule, s, t) {
                        Some(why) => tally.get_mut(rule.id).unwrap().not_applicable.push(why),
                        None => jobs.push(Job::Scenario(t, rule, s.clone())),
                    }
                }
            }
        }
    }
    // No selected rule has a case this target can run: every verdict would be "not
    // applicable", so say so now rather than after the other parts.
    if plan.parts.contains(&Part::Scenarios) {
        if jobs.is_empty() {
            return Err(SuiteError::NothingChecked);
        }
        progress.part("scenarios and probes", jobs.len() as u64);
    }
    let (exclusive, shared): (Vec<Job>, Vec<Job>) = jobs
        .into_iter()
        .partition(|j| matches!(j, Job::Scenario(_, _, s) if is_exclusive(&s.ops)));
    let mut results: Vec<JobResult> = stream::iter(shared)
        .map(|job| run_job(job, progress))
        .buffer_unordered(plan.parallel.max(1))
        .collect()
        .await;
    for job in exclusive {
        results.push(run_job(job, progress).await);
    }
    for (rule, outcome, probe_findings, elapsed) in results {
        let t = tally.get_mut(rule.id).unwrap();
        t.cases += 1;
        t.duration += elapsed;
        // A probe stopped by another rule's deviation leaves its own rule blocked.
        if let Some(blamed) = roots.add_case(&probe_findings) {
            if blamed != rule.id {
                t.blocked_by.insert(blamed);
            }
        }
        if let Some(o) = outcome {
            record_case(&mut tally, &mut roots, rule, &o);
        }
    }

    // Random histories.
    let mut prop_stats = None;
    if plan.parts.contains(&Part::Properties) {
        let mut stats = PropertyStats::default();
        for t in targets {
            progress.part(
                &format!("properties ({})", t.config.spec().profile),
                u64::from(plan.cases),
            );
            let universe = properties::Universe::for_target(t);
            let handle = tokio::runtime::Handle::current();
            let cases = plan.cases;
            let run = tokio::task::block_in_place(|| {
                properties::run(t, universe, cases, 24, &handle, progress)
            });
            stats.cases += run.cases;
            stats.ops += run.ops;
            if let Some(o) = run.failure {
                let o = crate::diagnosis::late_change(t, o).await;
                record_protocol(&mut roots, &o);
                roots.add_case(&o.findings);
                stats.counterexample = stats
                    .counterexample
                    .or_else(|| crate::root_causes::first_divergence(&o.findings).cloned());
            }
        }
        prop_stats = Some(stats);
    }

    // Every transition within bounds.
    let mut coverage = None;
    if plan.parts.contains(&Part::Exhaustive) {
        let mut c = Coverage {
            bounds: exhaustive::describe_default(),
            ..Coverage::default()
        };
        for t in targets {
            let run = exhaustive::run_with_progress(
                t,
                t.config.spec(),
                exhaustive::default_bounds(),
                exhaustive::EXPIRE,
                plan.parallel,
                progress,
            )
            .await;
            c.transitions += run.transitions;
            c.covered += run.covered;
            c.coverable += run.coverable;
            for (rule, n) in run.excluded {
                *c.excluded.entry(rule).or_default() += n;
            }
            c.walks += run.walks;
            c.ops += run.ops;
            for o in run.failures {
                let o = crate::diagnosis::late_change(t, o).await;
                record_protocol(&mut roots, &o);
                roots.add_case(&o.findings);
            }
        }
        coverage = Some(c);
    }

    // Mutants.
    let mut mutant_reports: Option<Vec<MutantReport>> = None;
    if plan.parts.contains(&Part::Mutants) && targets.iter().all(Target::is_embedded) {
        let mut reports = Vec::new();
        progress.part("mutants", hubspec_refhub::Fault::ALL.len() as u64);
        for fault in hubspec_refhub::Fault::ALL {
            let report = mutants::hunt(fault, plan.cases).await;
            progress.advance(&format!("mutant {}", fault.name()), report.detected);
            reports.push(report);
        }
        mutant_reports = Some(reports);
    }

    // Several connections at once (issue 16): each history checked at L1; a violation is a
    // root cause of the rule the checker blames, and the CC- rules count its histories.
    let mut concurrent = None;
    if plan.parts.contains(&Part::Concurrent) {
        let mut stats = crate::concurrent::ConcurrentStats::default();
        for t in targets {
            let profile = t.config.spec().profile;
            if profile == hubspec_model::Profile::Classic {
                continue;
            }
            progress.part(
                &format!("concurrent ({profile})"),
                u64::from(plan.concurrent.histories),
            );
            let (s, findings) = crate::concurrent::run(t, &plan.concurrent, progress).await;
            for rule in rules.iter().filter(|r| r.area == Area::Concurrency) {
                if let Some(t) = tally.get_mut(rule.id) {
                    t.cases += s.histories as usize;
                }
            }
            for f in findings {
                roots.add_case(&[f]);
            }
            stats.merge(s);
        }
        concurrent = Some(stats);
    }

    // An id issued to connections of two runs: one finding for the target, not a divergence of
    // every run it touched (see `hubspec_harness::issued`).
    for t in targets {
        if let Some(f) = reused_ids_finding(t) {
            if let Some(t) = tally.get_mut(f.rules[0]) {
                t.cases += 1;
            }
            roots.add_case(&[f]);
        }
    }

    // Root causes blamed on rules outside `--only` still fail the run: the target diverged.
    let mut unselected: Vec<Finding> = Vec::new();
    for root in roots.clone().into_sorted() {
        if !rules.iter().any(|r| r.id == root.rule) {
            unselected.push(root.finding);
        }
    }
    unselected.sort_by_key(|f| f.transcript.lines().count());
    unselected.truncate(10);
    let report_rules = rules
        .iter()
        .map(|rule| {
            let t = tally.remove(rule.id).unwrap_or_default();
            let verdict = if roots.blames(rule.id) {
                Verdict::Fail
            } else if let Some(variant) = t.variant.clone() {
                Verdict::AllowedVariant { variant }
            } else if t.cases == 0 {
                let mut reasons = t.not_applicable.clone();
                reasons.sort();
                reasons.dedup();
                Verdict::NotApplicable {
                    reason: if reasons.is_empty() {
                        "no case checks it in the selected parts".into()
                    } else {
                        reasons.join("; ")
                    },
                }
            } else if !t.blocked_by.is_empty() {
                let mut blocked_by: Vec<&'static str> = t.blocked_by.iter().copied().collect();
                blocked_by.sort_by_key(|id| RULES.iter().position(|r| r.id == *id));
                Verdict::Blocked { blocked_by }
            } else {
                Verdict::Pass
            };
            let mut findings = roots.findings_of(rule.id);
            findings.truncate(3);
            RuleReport {
                id: rule.id.to_string(),
                statement: rule.statement.to_string(),
                verdict,
                duration: t.duration,
                cases: t.cases,
                findings,
            }
        })
        .collect::<Vec<_>>();
    let report = RunReport {
        hubspec_version: env!("CARGO_PKG_VERSION").to_string(),
        target: targets
            .iter()
            .map(Target::describe)
            .collect::<Vec<_>>()
            .join("; "),
        specs: targets
            .iter()
            .map(|t| t.config.spec().to_string())
            .collect(),
        started_unix,
        duration: start.elapsed(),
        root_causes: roots.into_sorted(),
        rules: report_rules,
        coverage,
        properties: prop_stats,
        mutants: mutant_reports,
        concurrent,
        unselected_findings: unselected,
    };
    if !report.checked_anything() && !report.rules.iter().any(|r| r.verdict.was_checked()) {
        return Err(SuiteError::NothingChecked);
    }
    Ok(report)
}

/// The CON-IDS-UNIQUE finding of a target that gave one id to connections of two runs.
fn reused_ids_finding(target: &Target) -> Option<Finding> {
    let (reused, all) = target.config.issued.reused();
    let first = reused.first()?;
    Some(Finding {
        case: format!("connection ids over the run ({})", target.describe()),
        rules: vec!["CON-IDS-UNIQUE"],
        kind: DivergenceKind::Result,
        step: 0,
        op: None,
        op_kind: Some("Connect"),
        expected: "every new connection gets an id no earlier connection had".into(),
        observed: format!(
            "{all} connection id(s) given to connections of two runs, e.g. `{}` to one of \
             `{}` and again to one of `{}`",
            first.id, first.first, first.again
        ),
        transcript: String::new(),
        expected_transcript: String::new(),
        replay: String::new(),
        frames: Vec::new(),
    })
}

/// A finished scenario of `rule`: a divergence that is wholly an allowed variant marks the
/// rule with it; otherwise its first divergence is a root cause, and when that root cause is
/// blamed on another rule, this case of `rule` could not be judged: `rule` is blocked by it.
/// Decided by this case's own match, never by what an earlier case of the rule showed.
fn record_case(
    tally: &mut BTreeMap<&'static str, Tally>,
    roots: &mut RootCauses,
    rule: &'static Rule,
    o: &CaseOutcome,
) {
    record_protocol(roots, o);
    // Another rule's root cause the case was steered around: it fails that rule, and this
    // case is judged on what the steered run showed.
    roots.add_case(&o.steered_around);
    if o.passed() {
        return;
    }
    let t = tally.get_mut(rule.id).expect("a tally per selected rule");
    match scenario::matching_variant(rule, o) {
        Some(v) => t.variant = Some(v),
        None => {
            if let Some(blamed) = roots.add_case(&o.findings) {
                if blamed != rule.id {
                    t.blocked_by.insert(blamed);
                }
            }
        }
    }
}

/// The protocol deviations a case read past (tolerant observation): each rule's first one is
/// a root cause blamed on that rule, so cases with the same deviation at the same kind of
/// operation are one root cause, recorded once with its count, while the case itself is
/// judged on the rest of what the server sent. Only deviations before the case's first
/// divergence count: after it the model and the server are in different states, and what the
/// server sends then (a socket it should have refused, a replay it should not make) is an echo.
fn record_protocol(roots: &mut RootCauses, o: &CaseOutcome) {
    let first = crate::root_causes::first_divergence(&o.findings).map_or(usize::MAX, |f| f.step);
    let mut seen: Vec<&'static str> = Vec::new();
    for f in o.protocol.iter().filter(|f| f.step < first) {
        let rule = crate::root_causes::blamed(f);
        if !seen.contains(&rule) {
            seen.push(rule);
            roots.add(f);
        }
    }
}

/// Replay one history against a target and return the harness's report.
pub async fn replay(
    target: &Target,
    spec: hubspec_model::Spec,
    ops: &[hubspec_model::Op],
) -> Result<hubspec_harness::RunReport, SuiteError> {
    target.probe().await?;
    let mut session =
        hubspec_harness::Session::new(&target.config, spec, "replay", target.restarter.clone());
    let report = session.run(ops).await;
    session.close().await;
    Ok(report?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubspec_model::{GroupsFanout, Spec, Transcript};
    use std::collections::HashMap;

    /// `HUBSPEC_CASES` reaches the plan only through the variables given, and only as a number.
    #[test]
    fn the_number_of_cases_comes_from_the_variables_given() {
        let vars = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Plan::from_vars(move |name| map.get(name).cloned())
        };
        assert_eq!(vars(&[("HUBSPEC_CASES", "500")]).cases, 500);
        assert_eq!(vars(&[("HUBSPEC_CASES", "many")]).cases, DEFAULT_CASES);
        assert_eq!(vars(&[]).cases, DEFAULT_CASES);
        assert_eq!(Plan::default().cases, DEFAULT_CASES);
    }

    /// One matching rule for both checks: a filter selects what it does not reject.
    #[test]
    fn a_filter_selects_an_id_or_an_area_prefix() {
        let plan = |only: &[&str]| Plan {
            only: only.iter().map(|s| s.to_string()).collect(),
            ..Plan::default()
        };
        let grp = plan(&["GRP-"]).rules().unwrap();
        assert!(!grp.is_empty() && grp.iter().all(|r| r.id.starts_with("GRP-")));
        let one = plan(&["GRP-ADD-IDEMPOTENT"]).rules().unwrap();
        assert_eq!(
            one.iter().map(|r| r.id).collect::<Vec<_>>(),
            ["GRP-ADD-IDEMPOTENT"]
        );
        assert!(plan(&["GRP"]).rules().is_err(), "a prefix ends with a dash");
        assert!(plan(&["GRP-", "GRP-NOPE"]).rules().is_err()); // tidy: unknown rule on purpose
    }

    fn outcome(observed: Transcript, expected: Transcript, rules: &[&'static str]) -> CaseOutcome {
        let finding = Finding {
            case: "c".into(),
            rules: rules.to_vec(),
            kind: hubspec_harness::DivergenceKind::Duplicate,
            step: 1,
            op: None,
            op_kind: Some("SendToGroups"),
            expected: String::new(),
            observed: String::new(),
            transcript: observed.to_string(),
            expected_transcript: expected.to_string(),
            replay: String::new(),
            frames: vec![],
        };
        CaseOutcome {
            name: "c".into(),
            ops: expected.steps.len(),
            duration: Duration::ZERO,
            findings: vec![finding],
            protocol: vec![],
            steered_around: vec![],
            expected,
            observed: hubspec_harness::ObservedTranscript {
                transcript: observed,
                results_as_read: Default::default(),
            },
        }
    }

    /// A case that is wholly an allowed variant does not excuse a later case of the same rule
    /// whose divergence is something else: that one is a root cause blamed on its first rule,
    /// and only that rule fails (the other rule the divergence names is an echo).
    #[test]
    fn an_allowed_variant_is_decided_per_case() {
        let rule = hubspec_model::rule("SND-GROUPS-FANOUT").unwrap();
        let other = hubspec_model::rule("SND-GROUP").unwrap();
        let rules = [rule, other];
        let ops = scenarios()
            .into_iter()
            .find(|s| s.rule == rule.id)
            .unwrap()
            .ops;
        let declared = Spec::default();
        let expected = Transcript::run(declared, &ops).unwrap();
        let once = Transcript::run(declared.with_fanout(GroupsFanout::Once), &ops).unwrap();
        let variant = outcome(once, expected.clone(), &[rule.id]);
        let mut cut = expected.clone();
        cut.steps.truncate(2);
        let broken = outcome(cut, expected, &[rule.id, other.id]);

        let mut tally: BTreeMap<&'static str, Tally> =
            rules.iter().map(|r| (r.id, Tally::default())).collect();
        let mut roots = RootCauses::default();
        record_case(&mut tally, &mut roots, rule, &variant);
        assert_eq!(
            tally[rule.id].variant.as_deref(),
            Some("groups_fanout = once")
        );
        assert!(!roots.blames(rule.id));
        record_case(&mut tally, &mut roots, rule, &broken);
        assert!(roots.blames(rule.id), "the rule fails");
        assert!(!roots.blames(other.id), "the echo does not");
        assert!(tally[rule.id].blocked_by.is_empty());
    }

    /// A scenario whose first divergence is blamed on another rule cannot judge its own rule:
    /// the rule is blocked by the other, which fails.
    #[test]
    fn a_case_stopped_by_another_rules_root_cause_blocks_its_rule() {
        let rule = hubspec_model::rule("SND-EXACTLY-ONCE").unwrap();
        let ops = scenarios()
            .into_iter()
            .find(|s| s.rule == rule.id)
            .unwrap()
            .ops;
        let expected = Transcript::run(Spec::default(), &ops).unwrap();
        let stopped = outcome(expected.clone(), expected, &["GRP-ADD-IDEMPOTENT", rule.id]);
        let mut tally: BTreeMap<&'static str, Tally> = [(rule.id, Tally::default())].into();
        let mut roots = RootCauses::default();
        record_case(&mut tally, &mut roots, rule, &stopped);
        assert_eq!(
            tally[rule.id].blocked_by,
            BTreeSet::from(["GRP-ADD-IDEMPOTENT"])
        );
        assert!(roots.blames("GRP-ADD-IDEMPOTENT") && !roots.blames(rule.id));
    }
}
