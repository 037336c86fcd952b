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
use hubspec_model::{ConnId, Hub, Op, Spec, Status, Target as Id};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The rule of a membership change that lands after its Completion.
pub const LATE_CHANGE: &str = "GRP-EFFECT-BEFORE-COMPLETION";

/// (blamed rule, operation kind, divergence kind) -> whether a pause made the divergence go.
pub type Cache = Arc<Mutex<BTreeMap<(&'static str, &'static str, &'static str), bool>>>;

/// Whether the first divergence of `o` is a missing or extra copy to a group after a
/// membership change of that group: the one shape a late change can explain. Gives the step
/// to cut the history after and the step to pause before (0-based): for a send, the send
/// itself; for a copy a resume replays (or should have), the step after the last change of
/// the recipient in the groups the send addressed, since a pause later could outlast the
/// disconnect timeout of the suspended recipient.
fn could_be_late(o: &CaseOutcome) -> Option<(usize, usize)> {
    let f = first_divergence(&o.findings)?;
    if blamed(f) == LATE_CHANGE {
        return None;
    }
    late_shape(o)
}

/// [`could_be_late`] whatever the first divergence is blamed on.
fn late_shape(o: &CaseOutcome) -> Option<(usize, usize)> {
    let f = first_divergence(&o.findings)?;
    if !matches!(f.kind, DivergenceKind::Lost | DivergenceKind::Unexpected) {
        return None;
    }
    let ops = o.expected.ops();
    let index = f.step.checked_sub(1)?;
    // The connections whose copies differ at the step.
    let expected = o.expected.steps.get(index)?.outcome.per_recipient();
    let observed = o.observed.steps.get(index)?.outcome.per_recipient();
    let differ: Vec<ConnId> = expected
        .keys()
        .chain(observed.keys())
        .filter(|c| expected.get(c) != observed.get(c))
        .copied()
        .collect();
    let send = match ops.get(index)? {
        Op::Send { .. } => index,
        Op::Resume { conn, .. } => {
            // The send whose copy the replay differs in: the first differing payload.
            let (e, s) = (expected.get(conn), observed.get(conn));
            let payload = e
                .into_iter()
                .flatten()
                .find(|m| s.is_none_or(|s| !s.contains(m)))
                .or_else(|| {
                    s.into_iter()
                        .flatten()
                        .find(|m| e.is_none_or(|e| !e.contains(m)))
                })?;
            ops[..index]
                .iter()
                .position(|op| matches!(op, Op::Send { payload: p, .. } if *p == payload.1))?
        }
        _ => return None,
    };
    let Op::Send { selector, .. } = &ops[send] else {
        return None;
    };
    // A change of one of them in an addressed group earlier: only a change of the very
    // recipient can have landed late.
    // A room change of a connection of the recipient's user counts too: a user's new
    // connection is restored to the rooms the user's changes recorded.
    let groups: Vec<&String> = selector.group_names().collect();
    let users = users(&ops);
    let same_user = |a: ConnId, b: ConnId| {
        let user = |c: ConnId| users.get(c.0 as usize - 1).and_then(|u| u.as_ref());
        user(a).is_some() && user(a) == user(b)
    };
    let changed = ops[..send].iter().rposition(|op| {
        op.membership_change().is_some_and(|m| {
            let room_of = |c: ConnId| match op {
                Op::JoinRoom { caller, .. } | Op::LeaveRoom { caller, .. } => same_user(*caller, c),
                _ => false,
            };
            groups.contains(&m.group)
                && differ.iter().any(|c| m.target == Id::Id(*c) || room_of(*c))
        })
    })?;
    let pause = if send == index { index } else { changed + 1 };
    Some((index, pause))
}

/// The user of each connection of `ops`, in connect order (connection `n` at `n - 1`).
fn users(ops: &[Op]) -> Vec<Option<String>> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Connect { user } => Some(user.clone()),
            _ => None,
        })
        .collect()
}

/// A failing case as the suite judges it: first steered around a late membership change
/// ([`steered`]); if that is not what it shows, cut after its first divergence and shrunk
/// ([`crate::shrink::minimise`]), then put through the timing experiments ([`late_change`]).
pub async fn minimal(target: &Target, o: CaseOutcome) -> CaseOutcome {
    if let Some(s) = steered(target, &o).await {
        return s;
    }
    let o = crate::shrink::minimise(target, o).await;
    late_change(target, o).await
}

/// The steps (0-based) before which a run steered around late membership changes pauses:
/// each step that could observe a change made since the last pause — a send to one of the
/// changed groups, an end of a changed connection or of the connection that made the change,
/// a restart, a user's new connection after a room change. `None` when such a step comes
/// while a connection is suspended: a pause then could outlast its disconnect timeout, so the
/// history cannot be steered.
pub fn steering_pauses(spec: Spec, ops: &[Op]) -> Option<Vec<usize>> {
    let mut hub = Hub::new();
    // (target, caller, group) of the changes since the last pause.
    let mut pending: Vec<(Id, ConnId, &String)> = Vec::new();
    let mut pending_rooms = false;
    let mut pauses = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let observes = match op {
            Op::Send { selector, .. } => selector
                .group_names()
                .any(|g| pending.iter().any(|(_, _, p)| *p == g)),
            Op::Disconnect { conn } | Op::Drop { conn } | Op::Expire { conn } => pending
                .iter()
                .any(|(t, caller, _)| *t == Id::Id(*conn) || caller == conn),
            Op::Restart => !pending.is_empty(),
            // A user's new connection is restored to the user's rooms.
            Op::Connect { user: Some(_) } => pending_rooms,
            _ => false,
        };
        if observes {
            if hub.conns.iter().any(|c| c.status != Status::Connected) {
                return None;
            }
            pauses.push(i);
            pending.clear();
            pending_rooms = false;
        }
        if let (Some(m), Some(caller)) = (op.membership_change(), op.caller()) {
            pending.push((m.target, caller, m.group));
            pending_rooms |= matches!(op, Op::JoinRoom { .. } | Op::LeaveRoom { .. });
        }
        hub.apply(&spec, op).ok()?;
    }
    Some(pauses)
}

/// A failing case whose first divergence has the shape of a late membership change
/// ([`late_shape`]), run again whole with a pause of one barrier bound before each step that
/// could observe its changes ([`steering_pauses`]). When that divergence goes away, it was a
/// change that took effect after its Completion: it is a root cause of [`LATE_CHANGE`],
/// carried in `steered_around`, and the case's own rule is judged by the steered run (also
/// when the steered run diverges earlier, which the late change hid), so a target whose
/// changes land late is still checked for the rest of the spec rather than having every rule
/// that adds a member blocked. `None` when the case has another shape, cannot be steered, or
/// still diverges there the same way when steered.
///
/// The steered run is [`late_change`]'s experiment on the whole history, so such a case is not
/// shrunk first: its first divergence already says what it is.
pub async fn steered(target: &Target, o: &CaseOutcome) -> Option<CaseOutcome> {
    let f = first_divergence(&o.findings)?;
    late_shape(o)?;
    let (spec, ops) = (o.expected.spec, o.expected.ops());
    let pause = target.config.timeouts.barrier;
    let pauses: Vec<(usize, Duration)> = steering_pauses(spec, &ops)?
        .into_iter()
        .map(|i| (i, pause))
        .collect();
    // Some pause must come before the diverging step (`f.step` is 1-based).
    if !pauses.iter().any(|(i, _)| *i < f.step) {
        return None;
    }
    let name = format!("{}, steered around {LATE_CHANGE}", o.name);
    let mut s = crate::case::run_case_paused(target, spec, &name, &ops, &pauses).await;
    // Pauses change nothing the model says, so the steered run is a run of the case like any
    // other. Its first divergence earlier than `f` is the case's own, which the late change
    // hid: the case is judged by it, and `f` proves nothing. The same divergence at `f`'s step
    // means the changes were not late. Otherwise `f` went away with time: a late change.
    match first_divergence(&s.findings) {
        Some(d) if d.step < f.step => {}
        Some(d) if d.step == f.step && d.kind == f.kind => return None,
        _ => {
            let mut late = f.clone();
            late.rules.retain(|r| *r != LATE_CHANGE);
            late.rules.insert(0, LATE_CHANGE);
            s.steered_around = vec![late];
        }
    }
    Some(s)
}

/// `o` (a minimal counterexample) with [`LATE_CHANGE`] blamed first when its divergence is a
/// late membership change: it goes away when the target is given one barrier bound before the
/// send. Otherwise, [`late_delivery`]'s experiment.
pub async fn late_change(target: &Target, o: CaseOutcome) -> CaseOutcome {
    let o = match could_be_late(&o) {
        Some((index, pause)) => late_change_at(target, o, index, pause).await,
        None => o,
    };
    late_delivery(target, o).await
}

async fn late_change_at(
    target: &Target,
    mut o: CaseOutcome,
    index: usize,
    pause: usize,
) -> CaseOutcome {
    let f = first_divergence(&o.findings).expect("could_be_late found one");
    let key = (blamed(f), f.op_kind.unwrap_or(""), f.kind.name());
    let ops = &o.expected.ops()[..=index];
    let late = experiment(target, key, o.expected.spec, ops, pause, |r| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Finding;
    use hubspec_harness::ObservedTranscript;
    use hubspec_model::{Profile, Selector, Transcript};

    fn c(n: u32) -> ConnId {
        ConnId(n)
    }
    fn g() -> Option<String> {
        Some("g".into())
    }
    fn connect(user: Option<&str>) -> Op {
        Op::Connect {
            user: user.map(str::to_string),
        }
    }
    fn add(n: u32) -> Op {
        Op::AddToGroup {
            caller: c(n),
            group: g(),
        }
    }
    fn send(n: u32, selector: Selector, payload: &str) -> Op {
        Op::Send {
            caller: c(n),
            selector,
            payload: payload.into(),
        }
    }

    /// A steered run pauses once before each step that could see the changes made since its
    /// last pause, and never before a step that cannot.
    #[test]
    fn a_steered_run_pauses_before_the_steps_that_see_a_change() {
        let spec = Spec::default();
        let ops = vec![
            connect(None),
            connect(None),
            add(1),
            add(2),
            send(2, Selector::Group(g()), "a"),
            send(2, Selector::Group(g()), "b"),
            Op::RemoveFromGroup {
                caller: c(1),
                group: g(),
            },
            send(2, Selector::All, "c"),
            send(2, Selector::Group(g()), "d"),
            add(1),
            Op::Disconnect { conn: c(1) },
        ];
        assert_eq!(steering_pauses(spec, &ops), Some(vec![4, 8, 10]));
        let rooms = vec![
            connect(Some("alice")),
            Op::JoinRoom {
                caller: c(1),
                room: g(),
            },
            connect(None),
            connect(Some("alice")),
        ];
        assert_eq!(steering_pauses(spec, &rooms), Some(vec![3]));
    }

    /// A change whose effect is seen while a connection is suspended cannot be steered around:
    /// a pause there could outlast the target's disconnect timeout.
    #[test]
    fn a_change_seen_while_a_connection_is_suspended_cannot_be_steered() {
        let spec = Spec::new(Profile::CoreStateful);
        let ops = vec![
            connect(None),
            connect(None),
            Op::Drop { conn: c(1) },
            Op::AddConnectionToGroup {
                caller: c(2),
                target: Id::Id(c(1)),
                group: g(),
            },
            send(2, Selector::Group(g()), "m"),
            Op::Resume {
                conn: c(1),
                altered_token: false,
            },
        ];
        assert_eq!(steering_pauses(spec, &ops), None);
    }

    /// A replay that misses a group send made after the recipient joined and then dropped has
    /// the late-change shape: the pause goes right after the join, before the drop.
    #[test]
    fn a_replay_missing_a_copy_after_a_join_could_be_a_late_change() {
        let spec = Spec::new(Profile::CoreStateful);
        let ops = vec![
            connect(None),
            connect(None),
            add(1),
            Op::Drop { conn: c(1) },
            send(2, Selector::Group(g()), "m1"),
            Op::Resume {
                conn: c(1),
                altered_token: false,
            },
        ];
        let expected = Transcript::run(spec, &ops).unwrap();
        let without_late_add: Vec<Op> = ops.iter().filter(|o| **o != add(1)).cloned().collect();
        // What a target whose join landed late shows: the same steps, no replay.
        let mut observed = expected.clone();
        observed.steps[5].outcome = Transcript::run(spec, &without_late_add)
            .unwrap()
            .steps
            .remove(4)
            .outcome;
        assert!(observed.steps[5].outcome.deliveries.is_empty());
        let o = lost_at(expected, observed, 6, "Resume");
        assert_eq!(could_be_late(&o), Some((5, 3)));
    }

    /// A case whose first divergence is a copy lost at `step` (1-based, an `op_kind`).
    fn lost_at(
        expected: Transcript,
        observed: Transcript,
        step: usize,
        op_kind: &'static str,
    ) -> CaseOutcome {
        let finding = Finding {
            case: "c".into(),
            rules: vec!["SND-GROUP"],
            kind: DivergenceKind::Lost,
            step,
            op: None,
            op_kind: Some(op_kind),
            expected: String::new(),
            observed: String::new(),
            transcript: String::new(),
            expected_transcript: String::new(),
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
            observed: ObservedTranscript {
                transcript: observed,
                results_as_read: Default::default(),
            },
        }
    }

    /// A user's new connection missing a send to a room the user joined from an earlier
    /// connection has the late-change shape: the join may have landed after the disconnect.
    #[test]
    fn a_restored_connection_missing_a_room_send_could_be_a_late_join() {
        let spec = Spec::default();
        let ops = vec![
            connect(Some("alice")),
            connect(None),
            Op::JoinRoom {
                caller: c(1),
                room: g(),
            },
            Op::Disconnect { conn: c(1) },
            connect(Some("alice")),
            send(2, Selector::Group(g()), "m"),
        ];
        let expected = Transcript::run(spec, &ops).unwrap();
        let mut observed = expected.clone();
        observed.steps[5].outcome.deliveries.clear();
        let o = lost_at(expected, observed, 6, "SendToGroup");
        assert_eq!(could_be_late(&o), Some((5, 5)));
    }
}
