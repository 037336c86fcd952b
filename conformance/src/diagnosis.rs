//! Diagnoses: experiments that decide which rule a minimal counterexample breaks when its
//! history alone cannot tell.
//!
//! A group send that misses a member right after the member was added looks the same whether
//! the server never adds members (the group's or the selector's rule) or adds them a moment
//! after the Completion (GRP-EFFECT-BEFORE-COMPLETION). The history is the same; time is the
//! difference. So the minimal history is run once more with a pause of one barrier bound
//! before the diverging send: a divergence that goes away was a change that took effect late.
//! Each target keeps what its diagnoses found per signature, so a faulty server that makes
//! fifty cases diverge the same way pays for one experiment.

use crate::case::CaseOutcome;
use crate::root_causes::{blamed, first_divergence};
use crate::target::Target;
use hubspec_harness::{DivergenceKind, Session};
use hubspec_model::{ConnId, Op, Target as Id};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The rule of a membership change that lands after its Completion.
pub const LATE_CHANGE: &str = "GRP-EFFECT-BEFORE-COMPLETION";

/// (blamed rule, operation kind, divergence kind) -> whether a pause made the divergence go.
pub type Cache = Arc<Mutex<BTreeMap<(&'static str, &'static str, &'static str), bool>>>;

/// Whether the first divergence of `o` is a send's missing or extra copy to a group after a
/// membership change of that group: the one shape a late change can explain.
fn could_be_late(o: &CaseOutcome) -> Option<usize> {
    let f = first_divergence(&o.findings)?;
    if !matches!(f.kind, DivergenceKind::Lost | DivergenceKind::Unexpected)
        || blamed(f) == LATE_CHANGE
    {
        return None;
    }
    let ops = o.expected.ops();
    let index = f.step.checked_sub(1)?;
    let Op::Send { selector, .. } = ops.get(index)? else {
        return None;
    };
    // The connections whose copies differ at the step, and a change of one of them in an
    // addressed group earlier: only a change of the very recipient can have landed late.
    let expected = o.expected.steps.get(index)?.outcome.per_recipient();
    let observed = o.observed.steps.get(index)?.outcome.per_recipient();
    let differ: Vec<ConnId> = expected
        .keys()
        .chain(observed.keys())
        .filter(|c| expected.get(c) != observed.get(c))
        .copied()
        .collect();
    let groups: Vec<&String> = selector.group_names().collect();
    let changed = ops[..index].iter().any(|op| {
        op.membership_change().is_some_and(|m| {
            groups.contains(&m.group) && differ.iter().any(|c| m.target == Id::Id(*c))
        })
    });
    changed.then_some(index)
}

/// `o` (a minimal counterexample) with [`LATE_CHANGE`] blamed first when its divergence is a
/// late membership change: it goes away when the target is given one barrier bound before the
/// send.
pub async fn late_change(target: &Target, mut o: CaseOutcome) -> CaseOutcome {
    let Some(index) = could_be_late(&o) else {
        return o;
    };
    let f = first_divergence(&o.findings).expect("could_be_late found one");
    let key = (blamed(f), f.op_kind.unwrap_or(""), f.kind.name());
    let cached = target
        .diagnoses
        .lock()
        .expect("not poisoned")
        .get(&key)
        .copied();
    let late = match cached {
        Some(late) => late,
        None => {
            let spec = o.expected.spec;
            let mut session =
                Session::new(&target.config, spec, "diagnosis", target.restarter.clone());
            session.settle_before(index, target.config.timeouts.barrier);
            let report = session.run(&o.expected.ops()[..=index]).await;
            session.close().await;
            let late = report.is_ok_and(|r| r.divergences.is_empty());
            target
                .diagnoses
                .lock()
                .expect("not poisoned")
                .insert(key, late);
            late
        }
    };
    if late {
        let step = f.step;
        for f in o.findings.iter_mut().filter(|f| f.step == step) {
            f.rules.retain(|r| *r != LATE_CHANGE);
            f.rules.insert(0, LATE_CHANGE);
        }
    }
    o
}
