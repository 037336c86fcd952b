//! Shrinking a failing history by removing operations, renumbering connections as it goes.
//!
//! proptest-state-machine shrinks by deleting transitions, but our operations name connections
//! by the order they connected in, so deleting an early `Connect` invalidates every later
//! reference and that deletion is never tried. This pass finishes the job: it removes an
//! operation (with everything that mentions a removed connection), renumbers the later
//! connections, and keeps the removal when the history still fails.

use crate::case::{run_case, CaseOutcome};
use crate::target::Target;
use hubspec_model::{Op, Spec, Transcript};
use std::time::{Duration, Instant};

/// The history without the operation at `i`, or `None` when what is left is not a valid
/// history. Removing a `Connect` removes every operation of that connection and renumbers
/// the later ones, since the hub numbers connections in connect order.
pub fn without(spec: Spec, ops: &[Op], i: usize) -> Option<Vec<Op>> {
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
    Transcript::run(spec, &out).ok()?;
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
pub async fn shrink<F, Fut>(spec: Spec, mut ops: Vec<Op>, fails: F) -> Vec<Op>
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
        if let Some(candidate) = without(spec, &ops, i) {
            if fails(candidate.clone()).await {
                ops = candidate;
                i = ops.len();
            }
        }
    }
    ops
}

/// What identifies a case's first divergence while its history shrinks: the kind of the
/// operation at that step and the kind of divergence. The blamed rule is left out on
/// purpose: in a shorter history the blame can move to the rule that really decides the step
/// (the resume or the restart that looked responsible goes away when it is not needed).
fn first_signature(o: &CaseOutcome) -> Option<(&'static str, &'static str)> {
    let f = crate::root_causes::first_divergence(&o.findings)?;
    Some((f.op_kind?, f.kind.name()))
}

/// A failing case's minimal counterexample: the history cut after the step of its first
/// divergence, then [`shrink`]ed while the first divergence keeps its signature (operation
/// kind, divergence kind). Returns the outcome of the minimal history, or the case as it was
/// when it cannot be shrunk (no first divergence at a step, or the cut history no longer
/// diverges the same way, which a flaky target can do).
pub async fn minimise(target: &Target, o: CaseOutcome) -> CaseOutcome {
    let Some(signature) = first_signature(&o) else {
        return o;
    };
    let step = crate::root_causes::first_divergence(&o.findings).map_or(0, |f| f.step);
    let spec = o.expected.spec;
    let mut ops = o.expected.ops();
    ops.truncate(step);
    let same = |h: Vec<Op>| async move {
        first_signature(&run_case(target, spec, "shrinking", &h).await) == Some(signature)
    };
    let minimal = shrink(spec, ops, same).await;
    if minimal.len() == o.ops {
        return o;
    }
    let name = format!("{}, shrunk to {} ops", o.name, minimal.len());
    let shrunk = run_case(target, spec, &name, &minimal).await;
    if first_signature(&shrunk) == Some(signature) {
        shrunk
    } else {
        o
    }
}
