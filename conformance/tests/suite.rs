//! The conformance suite as `cargo test -p hubspec-conformance --test suite`.
//!
//! Against the embedded reference hub (under `core` and `core-stateful`) unless
//! `HUBSPEC_URL`, `HUBSPEC_URLS` or `HUBSPEC_CONFIG` names a target. One test per rule ID,
//! named by it; a rule the target cannot be checked for (an undeclared capability, another
//! profile) is listed as ignored with the reason printed — never counted as passed. Then one
//! test per part: random histories, bounded-exhaustive walks, mutants (embedded hub only),
//! and the expected verdicts of the known target. Against the embedded hub, `part::precision`
//! (`suite/precision.rs`) runs the precision matrix beside them on hubs of its own.

use hubspec_conformance::expected;
use hubspec_conformance::report::{RuleReport, RunReport, Verdict};
use hubspec_conformance::{run_suite, Part, Plan, Progress, Target};
use hubspec_harness::TargetConfig;
use hubspec_model::{scenarios, Area, GroupsFanout, Profile, RULES};
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

#[path = "suite/precision.rs"]
mod precision;

struct World {
    rt: tokio::runtime::Runtime,
    targets: Vec<Target>,
    scenarios: Mutex<Option<Arc<Result<RunReport, String>>>>,
}

/// Progress as lines on stderr; it also records each part's total and units done, so the
/// part tests check that every part reports its progress.
#[derive(Default)]
struct Lines {
    parts: Mutex<Vec<(String, u64, u64)>>,
}

impl Progress for Lines {
    fn part(&self, name: &str, total: u64) {
        eprintln!("  {name}: {total} to run");
        self.parts
            .lock()
            .unwrap()
            .push((name.to_string(), total, 0));
    }
    fn advance(&self, case: &str, passed: bool) {
        if let Some(p) = self.parts.lock().unwrap().last_mut() {
            p.2 += 1;
        }
        if !passed {
            eprintln!("  diverged: {case}");
        }
    }
    fn note(&self, message: &str) {
        eprintln!("  {message}");
    }
}

/// The targets every test shares, started by the first test that needs them: never while
/// the trials are listed (`main` checks).
static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let targets = rt.block_on(async {
            match Target::from_env().unwrap_or_else(|e| panic!("{e}")) {
                Some(config) => vec![Target::from_config(config)],
                None => vec![
                    Target::embedded(Profile::Core, BTreeSet::new())
                        .await
                        .expect("refhub starts"),
                    Target::embedded(Profile::CoreStateful, BTreeSet::new())
                        .await
                        .expect("refhub starts"),
                ],
            }
        });
        World {
            rt,
            targets,
            scenarios: Mutex::new(None),
        }
    })
}

/// The scenario part (and the concurrent one, which alone checks the `CC-` rules), run once
/// for every rule test.
fn scenario_report() -> Arc<Result<RunReport, String>> {
    let w = world();
    let mut slot = w.scenarios.lock().unwrap();
    if let Some(r) = slot.as_ref() {
        return r.clone();
    }
    let plan = Plan {
        parts: [Part::Scenarios, Part::Concurrent].into(),
        ..Plan::from_env()
    };
    let r = Arc::new(
        w.rt.block_on(run_suite(&w.targets, &plan, &Lines::default()))
            .map_err(|e| e.to_string()),
    );
    *slot = Some(r.clone());
    r
}

/// What the targets declare, without starting or reaching any: the configured target's
/// settings, or what the two embedded hubs will declare (and `true`). Enough to list the
/// trials.
fn declared() -> (Vec<TargetConfig>, bool) {
    match Target::from_env().unwrap_or_else(|e| panic!("{e}")) {
        Some(config) => (vec![config], false),
        None => (
            [Profile::Core, Profile::CoreStateful]
                .into_iter()
                .map(|p| Target::embedded_declaration(p, GroupsFanout::PerGroup))
                .collect(),
            true,
        ),
    }
}

/// Why nothing can check `rule` against any of the `targets` declared, if so.
fn not_applicable(rule: &hubspec_model::Rule, targets: &[TargetConfig]) -> Option<String> {
    let mut reasons = Vec::new();
    for t in targets {
        if rule.area == Area::Concurrency {
            if rule.applies_to(t.spec().profile) {
                return None;
            }
            reasons.push(format!(
                "stated for other profiles than {}",
                t.spec().profile
            ));
            continue;
        }
        if rule.area == Area::Protocol {
            match hubspec_conformance::probes::applicable(rule, t) {
                Ok(()) => return None,
                Err(why) => reasons.push(why),
            }
            continue;
        }
        for s in scenarios().iter().filter(|s| s.rule == rule.id) {
            match hubspec_conformance::scenario::not_applicable(rule, s, t) {
                None => return None,
                Some(why) => reasons.push(why),
            }
        }
    }
    reasons.sort();
    reasons.dedup();
    Some(reasons.join("; "))
}

fn rule_test(id: &'static str) -> Result<(), Failed> {
    let report = scenario_report();
    let report = report
        .as_ref()
        .as_ref()
        .map_err(|e| Failed::from(e.as_str()))?;
    let r = report
        .rules
        .iter()
        .find(|r| r.id == id)
        .ok_or("rule missing from the report")?;
    match &r.verdict {
        Verdict::Pass => Ok(()),
        Verdict::AllowedVariant { variant } => {
            eprintln!("{id}: allowed variant ({variant})");
            Ok(())
        }
        Verdict::NotApplicable { reason } => Err(format!("{id}: no case ran ({reason})").into()),
        Verdict::Fail => Err(failure_message(r).into()),
        Verdict::Blocked { blocked_by } => Err(format!(
            "{id}: blocked by {} (their failures are reported under their own IDs)",
            blocked_by.join(", ")
        )
        .into()),
    }
}

/// A failing rule with its findings.
fn failure_message(r: &RuleReport) -> String {
    let mut msg = format!("[{}] {} — FAILED\n", r.id, r.statement);
    for f in &r.findings {
        msg.push_str(&f.to_string());
    }
    msg
}

fn part(part: Part) -> Result<RunReport, Failed> {
    let w = world();
    let plan = Plan {
        parts: [part].into(),
        ..Plan::from_env()
    };
    let lines = Lines::default();
    let report =
        w.rt.block_on(run_suite(&w.targets, &plan, &lines))
            .map_err(|e| e.to_string())?;
    // Live progress covers the part: it was announced (per target where it runs per target)
    // with a total, and every unit advanced it.
    let parts = lines.parts.into_inner().unwrap();
    let name = format!("{part:?}").to_lowercase();
    let mine: Vec<_> = parts.iter().filter(|p| p.0.starts_with(&name)).collect();
    let want = if part == Part::Mutants {
        1
    } else {
        w.targets.len()
    };
    if mine.len() != want || mine.iter().any(|p| p.1 == 0 || p.2 < p.1) {
        return Err(format!("{name}: progress reported {parts:?}").into());
    }
    Ok(report)
}

fn properties_test() -> Result<(), Failed> {
    let r = part(Part::Properties)?;
    let p = r.properties.expect("the part ran");
    eprintln!("properties: {} cases, {} operations", p.cases, p.ops);
    match p.counterexample {
        None => Ok(()),
        Some(f) => Err(format!("minimal failing history:\n{f}").into()),
    }
}

fn concurrent_test() -> Result<(), Failed> {
    let r = part(Part::Concurrent)?;
    let c = r.concurrent.clone().expect("the part ran");
    eprintln!(
        "concurrent: {} histories, {} operations, {} deliveries, worst check {:.1} ms, {} unknown",
        c.histories, c.ops, c.deliveries, c.worst_check_ms, c.unknown
    );
    if c.histories == 0 || c.deliveries == 0 {
        return Err(format!("the concurrent part checked nothing: {c:?}").into());
    }
    match c.failures.first() {
        None if c.failed == 0 => Ok(()),
        None => Err(format!("{} histories failed ({} unknown)", c.failed, c.unknown).into()),
        Some(f) => Err(format!(
            "{}: {}\n{}",
            f.name,
            f.violation,
            hubspec_history::render(&f.witness, std::slice::from_ref(&f.violation))
        )
        .into()),
    }
}

fn exhaustive_test() -> Result<(), Failed> {
    let r = part(Part::Exhaustive)?;
    let c = r.coverage.clone().expect("the part ran");
    eprintln!(
        "exhaustive: {} of {} transitions covered ({:.1} %), {} walks, {} operations; bounds {}",
        c.covered,
        c.transitions,
        c.percent(),
        c.walks,
        c.ops,
        c.bounds
    );
    if r.passed() {
        return Ok(());
    }
    let mut msg = format!(
        "coverage {:.1} % ({} of {} transitions)\n",
        c.percent(),
        c.covered,
        c.transitions
    );
    for rule in r.rules.iter().filter(|r| r.verdict.is_failure()) {
        msg.push_str(&failure_message(rule));
    }
    for f in &r.unselected_findings {
        msg.push_str(&f.to_string());
    }
    Err(msg.into())
}

/// A failing exhaustive walk is shrunk to a minimal history, and its finding carries that
/// history's transcript and a replay command that works (here: a fresh embedded hub with the
/// fault). Small bounds keep it quick; the part's own bounds are in `part::exhaustive`.
fn exhaustive_shrinks_test() -> Result<(), Failed> {
    use hubspec_check::Bounds;
    use hubspec_conformance::exhaustive;
    use hubspec_refhub::Fault;
    let w = world();
    let bounds = Bounds {
        connections: 2,
        users: 1,
        groups: 1,
        depth: Some(4),
        ..exhaustive::default_bounds()
    };
    let run = w.rt.block_on(async {
        let t = Target::embedded(Profile::Core, [Fault::DoubleAddDeliversTwice].into())
            .await
            .expect("refhub starts");
        let run = exhaustive::run(&t, t.config.spec(), bounds, 1).await;
        t.shutdown().await;
        run
    });
    let first = run
        .failures
        .iter()
        .find(|o| o.violates("GRP-ADD-IDEMPOTENT"))
        .ok_or("the fault went unnoticed")?;
    let f = first
        .findings
        .iter()
        .find(|f| f.rules.contains(&"GRP-ADD-IDEMPOTENT"))
        .expect("it violates the rule");
    eprintln!("{f}");
    let steps = first.observed.steps.len();
    if first.ops > 4 || steps > 4 {
        return Err(format!("not shrunk: {} ops, {steps} observed steps\n{f}", first.ops).into());
    }
    if !f.replay.contains("--fault double-add-delivers-twice") || f.replay.contains("--url") {
        return Err(format!(
            "the replay does not start a faulty embedded hub: {}",
            f.replay
        )
        .into());
    }
    Ok(())
}

fn mutants_test() -> Result<(), Failed> {
    let r = part(Part::Mutants)?;
    let m = r.mutants.expect("the part ran");
    let caught = m.iter().filter(|m| m.detected).count();
    eprintln!(
        "mutation score: {caught}/{} = {:.0} %",
        m.len(),
        100.0 * caught as f64 / m.len() as f64
    );
    eprintln!(
        "  {:<34} {:>8} {:>6} {:>7}  by",
        "fault", "time ms", "ops", "shrunk"
    );
    for x in &m {
        eprintln!(
            "  {:<34} {:>8} {:>6} {:>7}  {}",
            x.fault,
            x.time_to_detection.as_millis(),
            x.ops_to_detection,
            x.shrunk_len.map_or("-".into(), |n| n.to_string()),
            x.by.as_deref().unwrap_or("MISSED")
        );
    }
    if caught == m.len() {
        Ok(())
    } else {
        let missed: Vec<&str> = m
            .iter()
            .filter(|m| !m.detected)
            .map(|m| m.fault.as_str())
            .collect();
        Err(format!("mutants not caught: {missed:?}").into())
    }
}

/// The property part on its own catches faults and shrinks them to a handful of steps.
fn properties_catch_mutants_test() -> Result<(), Failed> {
    use hubspec_refhub::Fault;
    let w = world();
    for fault in [
        Fault::DoubleAddDeliversTwice,
        Fault::CaseInsensitiveGroups,
        Fault::OthersInGroupIncludesCaller,
    ] {
        let run =
            w.rt.block_on(hubspec_conformance::mutants::hunt_with_properties(
                fault, 200,
            ));
        let Some(o) = run.failure else {
            return Err(format!("random histories missed {}", fault.name()).into());
        };
        // The detection figures stop at the first failing case, before shrinking (which runs
        // more cases and sends more operations).
        let Some((_, first_ops)) = run.first_failure else {
            return Err(format!("{}: no first detection recorded", fault.name()).into());
        };
        if first_ops >= run.ops {
            return Err(format!(
                "{}: first detection after {first_ops} of {} operations: shrinking counted",
                fault.name(),
                run.ops
            )
            .into());
        }
        let breaks = fault.breaks();
        if o.findings.is_empty() {
            return Err(format!(
                "{}: the minimal case passed on a rerun:\n{}",
                fault.name(),
                o.expected
            )
            .into());
        }
        if !o
            .findings
            .iter()
            .any(|f| f.rules.iter().any(|r| breaks.contains(r)))
        {
            return Err(format!(
                "{}: the divergence names {:?}, not {breaks:?}",
                fault.name(),
                o.findings[0].rules
            )
            .into());
        }
        eprintln!(
            "  {}: caught after {first_ops} operations, shrunk to {} operations:\n{}",
            fault.name(),
            o.ops,
            o.expected
        );
        if o.ops > 8 {
            return Err(format!("{}: shrinking left {} operations", fault.name(), o.ops).into());
        }
    }
    Ok(())
}

/// Embedded hubs under both profiles, serving `served` and declaring `declared`.
/// Embedded hubs serving `served` whose configuration holds `declared`, stated or not.
fn variant_targets(served: GroupsFanout, declared: GroupsFanout, stated: bool) -> Vec<Target> {
    world().rt.block_on(async {
        let mut targets = Vec::new();
        for profile in [Profile::Core, Profile::CoreStateful] {
            let mut t = Target::embedded_with(profile, BTreeSet::new(), served)
                .await
                .expect("refhub starts");
            t.config.groups_fanout = declared;
            t.config.groups_fanout_declared = stated;
            targets.push(t);
        }
        targets
    })
}

fn shutdown(targets: Vec<Target>) {
    world().rt.block_on(async {
        for t in targets {
            t.shutdown().await;
        }
    });
}

/// A correct target that declares `groups_fanout = once` (here the embedded hub serving it)
/// passes every rule. (The model's transcripts under `once` are reviewed snapshots in
/// model/tests/snapshots.rs.)
fn once_variant_test() -> Result<(), Failed> {
    let w = world();
    let targets = variant_targets(GroupsFanout::Once, GroupsFanout::Once, true);
    let mut problems = Vec::new();
    let plan = Plan {
        parts: [Part::Scenarios].into(),
        ..Plan::from_env()
    };
    let report = w.rt.block_on(run_suite(&targets, &plan, &Lines::default()));
    shutdown(targets);
    let report = report.map_err(|e| e.to_string())?;
    for r in &report.rules {
        if !matches!(r.verdict, Verdict::Pass | Verdict::NotApplicable { .. }) {
            problems.push(format!("{}: {:?} {:?}", r.id, r.verdict, r.findings));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

/// A hub that serves a fan-out it did not state (its configuration holds the other one, as a
/// default) gets the allowed-variant verdict on SND-GROUPS-FANOUT, naming the variant it
/// showed, and fails nothing.
fn allowed_variant_test() -> Result<(), Failed> {
    let w = world();
    for (served, declared) in [
        (GroupsFanout::Once, GroupsFanout::PerGroup),
        (GroupsFanout::PerGroup, GroupsFanout::Once),
    ] {
        let targets = variant_targets(served, declared, false);
        let plan = Plan {
            only: vec!["SND-GROUPS-FANOUT".into()],
            parts: [Part::Scenarios].into(),
            ..Plan::from_env()
        };
        let report = w.rt.block_on(run_suite(&targets, &plan, &Lines::default()));
        shutdown(targets);
        let report = report.map_err(|e| e.to_string())?;
        let want = Verdict::AllowedVariant {
            variant: format!("groups_fanout = {served}"),
        };
        if report.rules.len() != 1 || report.rules[0].verdict != want {
            return Err(format!(
                "serving {served}, declaring {declared}: want {want:?}, got {:?}",
                report.rules
            )
            .into());
        }
        if !report.passed() {
            return Err(format!("an allowed variant is not a failure: {report:?}").into());
        }
    }
    Ok(())
}

/// A hub that contradicts the fan-out it stated fails SND-GROUPS-FANOUT with one root cause,
/// and the run goes on under the variant it serves: nothing else fails.
fn contradicted_variant_test() -> Result<(), Failed> {
    let w = world();
    let targets = variant_targets(GroupsFanout::Once, GroupsFanout::PerGroup, true);
    let plan = Plan {
        only: vec!["SND-GROUPS-FANOUT".into(), "SND-GROUP".into()],
        parts: [Part::Scenarios].into(),
        ..Plan::from_env()
    };
    let report = w.rt.block_on(run_suite(&targets, &plan, &Lines::default()));
    shutdown(targets);
    let report = report.map_err(|e| e.to_string())?;
    let verdicts: Vec<_> = report
        .rules
        .iter()
        .map(|r| (r.id.as_str(), &r.verdict))
        .collect();
    let want = [
        ("SND-GROUP", &Verdict::Pass),
        ("SND-GROUPS-FANOUT", &Verdict::Fail),
    ];
    if verdicts != want {
        return Err(format!("want {want:?}, got {verdicts:?}").into());
    }
    let causes: Vec<_> = report.root_causes.iter().map(|c| c.rule).collect();
    if causes != ["SND-GROUPS-FANOUT"] {
        return Err(format!("one root cause on the variant's rule, got {causes:?}").into());
    }
    let finding = &report.root_causes[0].finding;
    if !finding.observed.contains("serves groups_fanout = once") {
        return Err(format!("the finding names the variant served: {finding}").into());
    }
    Ok(())
}

fn expected_test() -> Result<(), Failed> {
    let report = scenario_report();
    let report = report
        .as_ref()
        .as_ref()
        .map_err(|e| Failed::from(e.as_str()))?;
    let name = "refhub";
    let want = expected::load(name)?;
    expected::diff(&want, &expected::actual(report), name).map_err(Failed::from)
}

/// The trials that use the suite's shared targets run one at a time: exclusive cases (a
/// restart, an expiry) must not overlap another trial's cases on the same hub.
static SHARED: Mutex<()> = Mutex::new(());

fn shared(trial: impl FnOnce() -> Result<(), Failed>) -> Result<(), Failed> {
    let _turn = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    trial()
}

fn main() {
    let args = Arguments::from_args();
    let (declared, embedded) = declared();
    let mut trials = Vec::new();
    if embedded {
        // First, on a thread of its own: it starts its own hubs and mostly waits on them, so
        // it overlaps the trials below, which take turns on the shared targets.
        trials.push(Trial::test("part::precision", || {
            precision::every_fault_alone_and_sampled_pairs_are_blamed_on_their_own_rules();
            Ok(())
        }));
    }
    for rule in RULES {
        let id = rule.id;
        let trial = Trial::test(id, move || shared(|| rule_test(id))).with_kind("rule");
        trials.push(match not_applicable(rule, &declared) {
            Some(reason) => {
                eprintln!("not applicable: {id} ({reason})");
                trial.with_ignored_flag(true)
            }
            None => trial,
        });
    }
    trials.push(Trial::test("part::properties", || shared(properties_test)));
    trials.push(Trial::test("part::exhaustive", || shared(exhaustive_test)));
    trials.push(Trial::test("part::concurrent", || shared(concurrent_test)));
    if embedded {
        trials.push(Trial::test("part::exhaustive-shrinks", || {
            shared(exhaustive_shrinks_test)
        }));
        trials.push(Trial::test("part::mutants", || shared(mutants_test)));
        trials.push(Trial::test("part::properties-catch-mutants", || {
            shared(properties_catch_mutants_test)
        }));
        trials.push(Trial::test("expected::refhub", || shared(expected_test)));
        trials.push(Trial::test("variant::groups-fanout-once", || {
            shared(once_variant_test)
        }));
        trials.push(Trial::test("variant::allowed", || {
            shared(allowed_variant_test)
        }));
        trials.push(Trial::test("variant::contradicted", || {
            shared(contradicted_variant_test)
        }));
    } else {
        eprintln!("not applicable: part::mutants and expected::refhub (they need the embedded reference hub)");
    }
    // Listing the trials (`-- --list`) starts no hub: only the tests start the world.
    assert!(
        WORLD.get().is_none(),
        "building the trial list started the targets"
    );
    // Two threads: `part::precision` on one, the trials that share the targets taking turns
    // (see `shared`) on the other.
    let args = Arguments {
        test_threads: Some(2),
        ..args
    };
    libtest_mimic::run(&args, trials).exit();
}
