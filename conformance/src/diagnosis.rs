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
//!
//! The send half of the timing rule has the mirror experiment. A message queued after its
//! send's Completion arrives after the step's barrier: within a history it is *late*
//! (SND-DELIVERED-BEFORE-COMPLETION, see `hubspec_harness::blame`), but when the minimal
//! history ends with that send, the run is over before it comes, and it looks lost. So a lost
//! copy at a send is rerun with one more step (a `Connect`) after a pause of one barrier bound:
//! a copy that arrives in the pause is late, not lost.

use crate::case::CaseOutcome;
use crate::root_causes::{blamed, first_divergence};
use crate::target::Target;
use hubspec_harness::blame::LATE_DELIVERY;
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

/// A failing case as the suite judges it: cut after its first divergence and shrunk
/// ([`crate::shrink::minimise`]), then put through the timing experiments ([`late_change`]).
pub async fn minimal(target: &Target, o: CaseOutcome) -> CaseOutcome {
    let o = crate::shrink::minimise(target, o).await;
    late_change(target, o).await
}

/// `o` (a minimal counterexample) with [`LATE_CHANGE`] blamed first when its divergence is a
/// late membership change: it goes away when the target is given one barrier bound before the
/// send. Otherwise, [`late_delivery`]'s experiment.
pub async fn late_change(target: &Target, o: CaseOutcome) -> CaseOutcome {
    let o = match could_be_late(&o) {
        Some(index) => late_change_at(target, o, index).await,
        None => o,
    };
    late_delivery(target, o).await
}

async fn late_change_at(target: &Target, mut o: CaseOutcome, index: usize) -> CaseOutcome {
    let f = first_divergence(&o.findings).expect("could_be_late found one");
    let key = (blamed(f), f.op_kind.unwrap_or(""), f.kind.name());
    let ops = &o.expected.ops()[..=index];
    let late = experiment(target, key, o.expected.spec, ops, index, |r| {
        r.divergences.iter().all(|d| d.tolerated)
    })
    .await;
    if late {
        let step = f.step;
        for f in o.findings.iter_mut().filter(|f| f.step == step) {
            f.rules.retain(|r| *r != LATE_CHANGE);
            f.rules.insert(0, LATE_CHANGE);
        }
    }
    o
}

/// Whether the first divergence of `o` is a lost copy of a send: the one shape a delivery
/// queued after the Completion takes when nothing follows the send in the history.
fn could_be_queued_late(o: &CaseOutcome) -> Option<usize> {
    let f = first_divergence(&o.findings)?;
    if f.kind != DivergenceKind::Lost || blamed(f) == LATE_CHANGE || blamed(f) == LATE_DELIVERY {
        return None;
    }
    let index = f.step.checked_sub(1)?;
    matches!(o.expected.ops().get(index)?, Op::Send { .. }).then_some(index)
}

/// `o` (a minimal counterexample) with [`LATE_DELIVERY`] blamed first when its lost copies
/// arrive after all: the history up to the send is rerun with a `Connect` after it, before
/// which the target is given one barrier bound, and every divergence up to the send is then a
/// late copy.
pub async fn late_delivery(target: &Target, mut o: CaseOutcome) -> CaseOutcome {
    let Some(index) = could_be_queued_late(&o) else {
        return o;
    };
    let f = first_divergence(&o.findings).expect("could_be_queued_late found one");
    // Its own kind in the key: the late-change experiment keys the same signature.
    let key = (blamed(f), f.op_kind.unwrap_or(""), "lost, then late?");
    let mut ops = o.expected.ops()[..=index].to_vec();
    ops.push(Op::Connect { user: None });
    let late = experiment(target, key, o.expected.spec, &ops, index + 1, |r| {
        let upto: Vec<_> = r
            .divergences
            .iter()
            .filter(|d| d.step <= index + 1 && !d.tolerated)
            .collect();
        !upto.is_empty() && upto.iter().all(|d| d.kind == DivergenceKind::Late)
    })
    .await;
    if late {
        let step = f.step;
        for f in o
            .findings
            .iter_mut()
            .filter(|f| f.step == step && f.kind == DivergenceKind::Lost)
        {
            f.rules.retain(|r| *r != LATE_DELIVERY);
            f.rules.insert(0, LATE_DELIVERY);
        }
    }
    o
}

/// What the experiment keyed `key` found: from the target's cache, or by running `ops` with a
/// pause of one barrier bound before step `pause_before` (0-based) and asking `found` of the
/// report. A run the harness could not finish found nothing.
async fn experiment(
    target: &Target,
    key: (&'static str, &'static str, &'static str),
    spec: hubspec_model::Spec,
    ops: &[Op],
    pause_before: usize,
    found: impl FnOnce(&hubspec_harness::RunReport) -> bool,
) -> bool {
    let cached = target
        .diagnoses
        .lock()
        .expect("not poisoned")
        .get(&key)
        .copied();
    if let Some(found) = cached {
        return found;
    }
    let mut session = Session::new(&target.config, spec, "diagnosis", target.restarter.clone());
    session.settle_before(pause_before, target.config.timeouts.barrier);
    let report = session.run(ops).await;
    session.close().await;
    let result = report.is_ok_and(|r| found(&r));
    target
        .diagnoses
        .lock()
        .expect("not poisoned")
        .insert(key, result);
    result
}
