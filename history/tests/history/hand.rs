//! Hand-written histories, one per verdict.

use hubspec_history::Anomaly;
use hubspec_history::{check, End, History, Verdict};
use hubspec_model::{ConnId, ErrorKind, Op, OpResult, Profile, Selector, Spec, Target};
use std::time::{Duration, Instant};

pub const C1: ConnId = ConnId(1);
pub const C2: ConnId = ConnId(2);
pub const C3: ConnId = ConnId(3);
pub const BUDGET: Duration = Duration::from_secs(5);

pub fn ok(ts: u64) -> End {
    End::Completed {
        ts,
        result: OpResult::Ok,
    }
}

pub fn join(c: ConnId, g: &str) -> Op {
    Op::AddToGroup {
        caller: c,
        group: Some(g.into()),
    }
}

pub fn leave(c: ConnId, g: &str) -> Op {
    Op::RemoveFromGroup {
        caller: c,
        group: Some(g.into()),
    }
}

pub fn to_group(c: ConnId, g: &str, p: &str) -> Op {
    Op::Send {
        caller: c,
        selector: Selector::Group(Some(g.into())),
        payload: p.into(),
    }
}

pub fn to_all(c: ConnId, p: &str) -> Op {
    Op::Send {
        caller: c,
        selector: Selector::All,
        payload: p.into(),
    }
}

/// A send to all by `caller` over `[inv, ret]`, received at `at` by each of `to`.
pub fn broadcast(
    h: &mut History,
    caller: ConnId,
    p: &str,
    (inv, ret): (u64, u64),
    at: u64,
    to: &[ConnId],
) {
    h.op(to_all(caller, p), inv, ok(ret));
    for c in to {
        h.deliver(*c, at, p);
    }
}

pub fn three() -> History {
    History::new(Spec::default(), &[None, None, None])
}

pub fn verdict(h: &History) -> Verdict {
    check(h, BUDGET).unwrap().verdict
}

/// What the checker finds in `h`, asserting it finds something.
pub fn found(h: &History) -> Vec<Anomaly> {
    let v = verdict(h);
    assert!(
        !v.passed(),
        "expected a violation:\n{}",
        hubspec_history::render(h, &[])
    );
    v.anomalies()
}

#[test]
fn l1_accepts_a_send_that_reaches_a_later_joiner_and_misses_an_earlier_one() {
    // join(c1) →rt join(c2), both inside one send: no single snapshot has c2 without c1 (L0
    // rejects this), but each recipient may place the send on its own (ASP.NET Core's
    // non-snapshot enumeration of the group, research §4.4).
    let mut h = three();
    h.op(join(C1, "g"), 10, ok(20));
    h.op(join(C2, "g"), 30, ok(40));
    h.op(to_group(C3, "g", "m"), 5, ok(50));
    h.deliver(C2, 45, "m");
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn a_payload_no_send_carried_is_a_phantom() {
    let mut h = three();
    broadcast(&mut h, C1, "m", (10, 20), 15, &[C1, C2, C3]);
    h.deliver(C2, 16, "ghost");
    assert_eq!(found(&h), [Anomaly::Phantom]);
}

#[test]
fn a_second_copy_of_a_single_send_is_a_duplicate() {
    let mut h = three();
    broadcast(&mut h, C1, "m", (10, 20), 15, &[C1, C2, C3, C3]);
    assert_eq!(found(&h), [Anomaly::Duplicate]);
}

#[test]
fn a_send_received_before_one_that_completed_before_it_breaks_fifo() {
    let mut h = three();
    broadcast(&mut h, C1, "a", (10, 20), 15, &[C1, C2]);
    broadcast(&mut h, C2, "b", (30, 40), 35, &[C1, C2, C3]);
    h.deliver(C3, 37, "a");
    assert_eq!(found(&h), [Anomaly::Reordered]);
    // Overlapping sends may arrive in either order.
    let mut h = three();
    h.op(to_all(C1, "a"), 10, ok(40));
    h.op(to_all(C2, "b"), 20, ok(30));
    for c in [C1, C2, C3] {
        h.deliver(c, 25, "b");
        h.deliver(c, 35, "a");
    }
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn nothing_may_arrive_after_a_stream_ends() {
    let mut h = three();
    h.op(Op::Disconnect { conn: C3 }, 10, ok(20));
    h.close(C3, 20);
    broadcast(&mut h, C1, "m", (30, 40), 35, &[C1, C2, C3]);
    assert_eq!(found(&h), [Anomaly::AfterClose]);
}

#[test]
fn an_invocation_that_never_completes_is_reported() {
    let mut h = three();
    h.op(join(C1, "g"), 10, End::Pending);
    assert_eq!(found(&h), [Anomaly::Hung]);
    // Indeterminate is not hung.
    let mut h = three();
    h.op(join(C1, "g"), 10, End::Info { ts: 50 });
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn a_delivery_to_a_connection_that_joined_only_after_the_send_completed_breaks_atomicity() {
    let mut h = three();
    h.op(to_group(C1, "g", "m"), 1, ok(5));
    h.op(join(C2, "g"), 10, ok(20));
    h.deliver(C2, 4, "m");
    assert_eq!(found(&h), [Anomaly::NoPoint]);
}

#[test]
fn a_join_or_leave_that_is_not_effective_at_its_completion_is_blamed() {
    // Joined before the send was invoked, yet missed it.
    let mut h = three();
    h.op(join(C2, "g"), 10, ok(20));
    h.op(to_group(C1, "g", "m"), 30, ok(40));
    assert_eq!(found(&h), [Anomaly::LateChange]);
    // Left before the send was invoked, yet received it.
    let mut h = three();
    h.op(join(C2, "g"), 1, ok(2));
    h.op(leave(C2, "g"), 10, ok(20));
    h.op(to_group(C1, "g", "m"), 30, ok(40));
    h.deliver(C2, 35, "m");
    assert_eq!(found(&h), [Anomaly::LateChange]);
    // Disconnected (by the client's Close) before the send, yet received it: the connection
    // did not leave its groups (here: all) at its end.
    let mut h = three();
    h.op(Op::Disconnect { conn: C3 }, 10, ok(20));
    broadcast(&mut h, C1, "m", (30, 40), 35, &[C1, C2, C3]);
    assert_eq!(found(&h), [Anomaly::LateEnd]);
    assert_eq!(verdict(&h).rules(), ["CON-DISCONNECT-LEAVES-GROUPS"]);
}

#[test]
fn an_indeterminate_join_may_or_may_not_take_effect() {
    for delivered in [false, true] {
        let mut h = three();
        h.op(join(C2, "g"), 10, End::Info { ts: 15 });
        h.op(to_group(C1, "g", "m"), 30, ok(40));
        if delivered {
            h.deliver(C2, 35, "m");
        }
        assert_eq!(verdict(&h), Verdict::Linearizable, "delivered: {delivered}");
    }
    // But not before it was invoked.
    let mut h = three();
    h.op(to_group(C1, "g", "m"), 1, ok(5));
    h.op(join(C2, "g"), 10, End::Info { ts: 15 });
    h.deliver(C2, 4, "m");
    assert_eq!(found(&h), [Anomaly::NoPoint]);
}

#[test]
fn an_indeterminate_send_that_was_seen_took_effect_inside_its_interval() {
    let mut h = three();
    h.op(to_group(C1, "g", "m"), 10, End::Info { ts: 12 });
    h.op(join(C2, "g"), 30, ok(40));
    h.deliver(C2, 50, "m");
    // It may take effect after the join: its interval has no end.
    assert_eq!(verdict(&h), Verdict::Linearizable);
    // Unseen, it may not have happened at all, even though c2 was a member throughout.
    let mut h = three();
    h.op(join(C2, "g"), 1, ok(2));
    h.op(to_group(C1, "g", "m"), 10, End::Info { ts: 12 });
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn a_wrong_result_is_no_linearization() {
    let add_null = Op::AddConnectionToGroup {
        caller: C1,
        target: Target::Null,
        group: Some("g".into()),
    };
    let refused = OpResult::Error(ErrorKind::NullConnectionId);
    for (result, passes) in [(OpResult::Ok, false), (refused, true)] {
        let mut h = three();
        h.op(add_null.clone(), 10, End::Completed { ts: 20, result });
        assert_eq!(verdict(&h).passed(), passes, "{result}");
    }
}

fn stateful(replayed: bool, resumed: bool) -> History {
    let mut h = History::new(Spec::new(Profile::CoreStateful), &[None, None]);
    h.op(join(C2, "g"), 1, ok(2));
    h.op(Op::Drop { conn: C2 }, 10, ok(11));
    h.op(to_group(C1, "g", "m"), 20, ok(30));
    if resumed {
        h.op(
            Op::Resume {
                conn: C2,
                altered_token: false,
            },
            40,
            ok(50),
        );
    }
    if replayed {
        h.deliver(C2, 45, "m");
    }
    h
}

#[test]
fn a_stateful_resume_replays_what_was_kept_and_nothing_else() {
    assert_eq!(verdict(&stateful(true, true)), Verdict::Linearizable);
    assert_eq!(found(&stateful(false, true)), [Anomaly::ResumeGap]);
    // Never resumed: what was kept is never seen.
    assert_eq!(verdict(&stateful(false, false)), Verdict::Linearizable);
    assert_eq!(found(&stateful(true, false)), [Anomaly::ResumeGap]);
}

#[test]
fn a_pathological_history_is_unknown_within_its_budget() {
    // c1 is the target of 18 indeterminate joins of distinct groups (one per lane), and a send
    // to all of them plus a group nobody joins claims 19 copies on c1: impossible, but only
    // after every subset of the joins is tried (2^18 configurations).
    let n = 20;
    let users = vec![None; n];
    let mut h = History::new(Spec::default(), &users);
    let mut groups = Vec::new();
    for x in 3..=n as u32 {
        let g = format!("g{x}");
        h.op(
            Op::AddConnectionToGroup {
                caller: ConnId(x),
                target: Target::Id(C1),
                group: Some(g.clone()),
            },
            10,
            End::Info { ts: 11 },
        );
        groups.push(Some(g));
    }
    groups.push(Some("nobody".into()));
    h.op(
        Op::Send {
            caller: C2,
            selector: Selector::Groups(groups),
            payload: "m".into(),
        },
        100,
        ok(110),
    );
    for _ in 0..19 {
        h.deliver(C1, 105, "m");
    }
    let budget = Duration::from_millis(300);
    let start = Instant::now();
    let report = check(&h, budget).unwrap();
    assert_eq!(report.verdict, Verdict::Unknown { conn: C1 });
    assert!(!report.verdict.passed(), "Unknown counts as a failure");
    // It stopped at its budget (exhausting 2^18 configurations takes over a minute), with slack
    // for a loaded machine; it had explored some of them.
    assert!(start.elapsed() < budget + Duration::from_millis(1500));
    assert!(report.states > 10, "{report:?}");
}

#[test]
fn each_suspension_keeps_its_own_fate() {
    // Dropped, resumed (the kept message replayed), dropped again for good (the kept message
    // never seen).
    let second_seen = |seen: bool| {
        let mut h = stateful(true, true);
        h.op(Op::Drop { conn: C2 }, 60, ok(61));
        h.op(to_group(C1, "g", "k"), 70, ok(80));
        if seen {
            h.deliver(C2, 85, "k");
        }
        h
    };
    assert_eq!(verdict(&second_seen(false)), Verdict::Linearizable);
    assert_eq!(found(&second_seen(true)), [Anomaly::ResumeGap]);
}
