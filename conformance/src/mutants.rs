//! Mutants: the reference hub with one injected fault each; the suite must catch every one
//! with a divergence naming a rule the fault breaks.

use crate::case::{run_case, CaseOutcome};
use crate::properties::{self, Universe};
use crate::report::MutantReport;
use crate::target::Target;
use hubspec_model::{scenarios, Op, Profile, Transcript};
use hubspec_refhub::Fault;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Hunt `fault`: scenarios in catalog order, then random histories, stopping at the first
/// divergence that names a rule the fault breaks; then shrink that history.
pub async fn hunt(fault: Fault, cases: u32) -> MutantReport {
    let start = Instant::now();
    let breaks: Vec<String> = fault.breaks().iter().map(|r| r.to_string()).collect();
    let target = Target::embedded(Profile::CoreStateful, BTreeSet::from([fault]))
        .await
        .expect("the embedded hub starts");
    let names_fault = |o: &CaseOutcome| {
        o.findings
            .iter()
            .any(|f| f.rules.iter().any(|r| breaks.contains(r)))
    };
    let mut ops = 0usize;
    let mut found: Option<(String, CaseOutcome)> = None;
    for s in scenarios() {
        if crate::scenario::not_applicable(s.rule(), &s, &target).is_some() {
            continue;
        }
        let o = crate::scenario::run(&target, &s).await;
        ops += o.ops;
        if names_fault(&o) {
            found = Some(("scenario".into(), o));
            break;
        }
    }
    if found.is_none() {
        let universe = Universe::for_target(&target);
        let handle = tokio::runtime::Handle::current();
        let t = &target;
        let run = tokio::task::block_in_place(|| properties::run(t, universe, cases, 24, &handle));
        ops += run.ops;
        if let Some(o) = run.failure.filter(|o| names_fault(o)) {
            found = Some(("properties".into(), o));
        }
    }
    let time_to_detection = start.elapsed();
    let mut report = MutantReport {
        fault: fault.name().to_string(),
        breaks: breaks.clone(),
        detected: found.is_some(),
        by: found.as_ref().map(|f| f.0.clone()),
        time_to_detection,
        ops_to_detection: ops,
        shrunk_len: None,
        counterexample: None,
    };
    if let Some((_, outcome)) = found {
        let spec = outcome.expected.spec;
        let shrunk = shrink(outcome.expected.ops(), |h| {
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

/// The history without the operation at `i`, or `None` when what is left is not a valid
/// history. Removing a `Connect` removes every operation of that connection and renumbers
/// the later ones, since the hub numbers connections in connect order.
pub fn without(ops: &[Op], i: usize) -> Option<Vec<Op>> {
    let mut out: Vec<Op> = ops
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, op)| op.clone())
        .collect();
    if let Op::Connect { .. } = ops[i] {
        let removed = ops[..=i]
            .iter()
            .filter(|op| matches!(op, Op::Connect { .. }))
            .count() as u32;
        let json = serde_json::to_value(&out).ok()?;
        let renumbered = renumber(json, removed)?;
        out = serde_json::from_value(renumbered).ok()?;
    }
    Transcript::run(hubspec_model::Spec::new(Profile::CoreStateful), &out).ok()?;
    Some(out)
}

/// Connection ids appear as plain numbers under `conn`, `caller` and `Id` keys in the serde
/// form: drop operations mentioning `removed` and shift larger ids down by one.
fn renumber(ops: serde_json::Value, removed: u32) -> Option<serde_json::Value> {
    fn walk(v: &serde_json::Value, removed: u32, hit: &mut bool) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        let v = match (k.as_str(), v.as_u64()) {
                            ("conn" | "caller" | "Id", Some(n)) => {
                                let n = n as u32;
                                if n == removed {
                                    *hit = true;
                                }
                                Value::from(if n > removed { n - 1 } else { n })
                            }
                            _ => walk(v, removed, hit),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, removed, hit)).collect()),
            other => other.clone(),
        }
    }
    let serde_json::Value::Array(ops) = ops else {
        return None;
    };
    let kept = ops
        .iter()
        .filter_map(|op| {
            let mut hit = false;
            let v = walk(op, removed, &mut hit);
            (!hit).then_some(v)
        })
        .collect();
    Some(serde_json::Value::Array(kept))
}

/// Greedy shrinking: drop one operation at a time while the history stays valid and still
/// fails, until no single removal keeps it failing. Bounded by `2 × len²` runs.
pub async fn shrink<F, Fut>(mut ops: Vec<Op>, fails: F) -> Vec<Op>
where
    F: Fn(Vec<Op>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = ops.len();
    while i > 0 && Instant::now() < deadline {
        i -= 1;
        if i >= ops.len() {
            continue;
        }
        if let Some(candidate) = without(&ops, i) {
            if fails(candidate.clone()).await {
                ops = candidate;
                i = ops.len();
            }
        }
    }
    ops
}
