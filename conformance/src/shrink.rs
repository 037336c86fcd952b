//! Shrinking a failing history by removing operations, renumbering connections as it goes.
//!
//! proptest-state-machine shrinks by deleting transitions, but our operations name connections
//! by the order they connected in, so deleting an early `Connect` invalidates every later
//! reference and that deletion is never tried. This pass finishes the job: it removes an
//! operation (with everything that mentions a removed connection), renumbers the later
//! connections, and keeps the removal when the history still fails.

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
