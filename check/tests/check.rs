//! The model checker's own tests: pinned state counts (a tripwire for spec changes), the
//! parallel engine against stateright's, every property proven under every profile, and
//! deliberate bugs that must be caught.

use hubspec_check::model::Mutation;
use hubspec_check::{check, check_model, concretize, Bounds, CheckOptions, Engine, HubModel};
use hubspec_model::sets::Bits;
use hubspec_model::{
    ConnId, GroupSet, GroupsFanout, Hub, Op, Profile, Selector, Small, Spec, Status, Target,
    Transcript,
};

fn bounds(connections: u8, users: u8, groups: u8, buffer: u8) -> Bounds {
    Bounds {
        connections,
        users,
        groups,
        buffer,
        ..Bounds::default()
    }
}

fn opts(threads: usize, engine: Engine) -> CheckOptions {
    CheckOptions {
        threads,
        engine,
        ..CheckOptions::default()
    }
}

/// A change to the spec that changes the reachable graph changes these numbers: update them
/// only when the change is meant, and say so in the commit.
#[test]
fn state_counts_are_pinned_for_two_small_configurations() {
    let r = check(
        Spec::new(Profile::Core),
        bounds(2, 1, 1, 1),
        opts(1, Engine::Parallel),
    );
    assert_eq!((r.unique, r.generated), (108, 6561), "core 2×1×1");
    let r = check(
        Spec::new(Profile::CoreStateful),
        bounds(2, 2, 1, 1),
        opts(1, Engine::Parallel),
    );
    assert_eq!(
        (r.unique, r.generated),
        (PINNED_STATEFUL.0, PINNED_STATEFUL.1),
        "core-stateful 2×2×1"
    );
}

/// GRP-NULL-CONNECTION-ID's null-id actions added transitions only: 6,033 -> 6,561 (core) and
/// 55,905 -> 60,417 (core-stateful) generated, the same 108 and 2,086 states.
const PINNED_STATEFUL: (usize, usize) = (2086, 60417);

#[test]
fn the_parallel_engine_counts_what_stateright_counts() {
    for (spec, b) in [
        (Spec::new(Profile::Core), bounds(2, 2, 2, 1)),
        (Spec::new(Profile::CoreStateful), bounds(2, 2, 1, 2)),
        (
            Spec::new(Profile::Classic).with_verify_rejoin(true),
            bounds(2, 1, 2, 1),
        ),
    ] {
        let reference = check(spec, b, opts(1, Engine::Stateright));
        for threads in [1, 2] {
            let r = check(spec, b, opts(threads, Engine::Parallel));
            assert_eq!(
                (r.unique, r.generated),
                (reference.unique, reference.generated),
                "{spec} {b} threads {threads}"
            );
            let names = |r: &hubspec_check::CheckReport| {
                r.properties
                    .iter()
                    .map(|p| (p.name, p.holds))
                    .collect::<Vec<_>>()
            };
            assert_eq!(names(&r), names(&reference));
        }
    }
}

/// Every property holds, and every step witness that applies was found: each operation and
/// each rule's interesting case happened in the explored graph.
fn proves(spec: Spec, b: Bounds) {
    let r = check(spec, b, opts(2, Engine::Parallel));
    assert!(!r.truncated);
    assert!(r.all_hold(), "{r}");
    let witnesses = hubspec_check::properties::witness_names(&spec, &b);
    assert!(witnesses.len() >= 30, "{} witnesses", witnesses.len());
    for w in witnesses {
        let p = r.properties.iter().find(|p| p.name == w).expect("listed");
        assert!(
            !p.always && p.holds && p.path.is_some(),
            "{w} not witnessed:\n{r}"
        );
    }
    println!("{r}");
}

#[test]
fn every_property_holds_for_3x2x2_under_core() {
    proves(Spec::new(Profile::Core), bounds(3, 2, 2, 1));
}

#[test]
fn every_property_holds_for_3x2x2_under_core_stateful() {
    proves(Spec::new(Profile::CoreStateful), bounds(3, 2, 2, 1));
}

/// Classic with rooms and groups tokens is the largest graph: at 3 × 2 × 2 with rooms and
/// restarts it has 5,932,266 classes (217 M generated states), about a minute on two cores, and
/// the verify-rejoin variant as many again. They are the profile's full universe, so they are
/// proven here like the others, not left to a benchmark.
#[test]
fn every_property_holds_for_3x2x2_under_classic() {
    proves(Spec::new(Profile::Classic), bounds(3, 2, 2, 1));
}

#[test]
fn every_property_holds_for_3x2x2_under_classic_with_rejoin_verification() {
    proves(
        Spec::new(Profile::Classic).with_verify_rejoin(true),
        bounds(3, 2, 2, 1),
    );
}

#[test]
fn every_property_holds_with_the_once_fanout_variant() {
    proves(
        Spec::new(Profile::Core).with_fanout(GroupsFanout::Once),
        bounds(3, 2, 2, 1),
    );
}

fn mutated(spec: Spec, b: Bounds, mutation: Mutation) -> hubspec_check::CheckReport {
    let model = HubModel {
        mutation: Some(mutation),
        ..HubModel::new(spec, b)
    };
    check_model(model, opts(1, Engine::Parallel))
}

fn state_bug(f: fn(&Op<Small>, &mut Hub<Small>)) -> Mutation {
    Mutation {
        state: Some(f),
        ..Mutation::default()
    }
}

fn delivery_bug(f: fn(&Op<Small>, &Hub<Small>) -> Option<ConnId>) -> Mutation {
    Mutation {
        extra_delivery: Some(f),
        ..Mutation::default()
    }
}

/// Every `always` property, so that a test below shows each can fail.
const ALWAYS: [&str; 9] = [
    "the representation's invariants hold",
    "every delivery goes to a live connection, in its mode",
    "a membership change touches only its target and group",
    "a new connection has no groups unless rooms restore them",
    RESUME,
    "after a restart no connection and no membership",
    "user sends reach each connection of the listed users once",
    "group sends reach exactly the selected members, per the fan-out",
    "connection and broadcast sends reach exactly their recipients once",
];

const RESUME: &str = "a resume keeps the groups held when resumed (classic: the verified token) and replays every kept message";

#[test]
fn the_always_properties_are_the_ones_the_mutation_tests_break() {
    let r = check(
        Spec::new(Profile::Core),
        bounds(1, 1, 1, 1),
        opts(1, Engine::Parallel),
    );
    let always: Vec<&str> = r
        .properties
        .iter()
        .filter(|p| p.always)
        .map(|p| p.name)
        .collect();
    assert_eq!(always, ALWAYS);
}

fn failing<'a>(r: &'a hubspec_check::CheckReport, name: &str) -> &'a [String] {
    let p = r
        .properties
        .iter()
        .find(|p| p.name == name)
        .expect("property exists");
    assert!(!p.holds, "{name} should fail:\n{r}");
    println!("{r}");
    p.path.as_deref().expect("a counterexample")
}

#[test]
fn sticky_groups_on_a_new_connection_are_caught_with_a_counterexample() {
    // Bug: a new connection of a user inherits the groups of the user's other connection.
    let r = mutated(
        Spec::new(Profile::Core),
        bounds(2, 1, 1, 1),
        state_bug(|op, hub| {
            if let Op::Connect { user: Some(u) } = op {
                let inherited = hub
                    .conns
                    .iter()
                    .find(|c| c.user == Some(*u) && !c.groups.none())
                    .map(|c| c.groups);
                if let (Some(g), Some(last)) = (inherited, hub.conns.last_mut()) {
                    last.groups = g;
                }
            }
        }),
    );
    let path = failing(
        &r,
        "a new connection has no groups unless rooms restore them",
    );
    assert!(path.len() >= 3, "connect, join, connect at least: {path:?}");
    assert!(path.last().unwrap().starts_with("connect(user"), "{path:?}");
}

#[test]
fn a_restart_that_keeps_memberships_is_caught() {
    let r = mutated(
        Spec::new(Profile::Core),
        bounds(1, 1, 1, 1),
        state_bug(|op, hub| {
            if let Op::Restart = op {
                hub.conns.push(hubspec_model::Conn {
                    id: hubspec_model::ConnId(hub.next_id + 1),
                    user: None,
                    status: hubspec_model::Status::Connected,
                    groups: Bits(1),
                    buffer: Default::default(),
                    token: Default::default(),
                });
                hub.next_id += 1;
            }
        }),
    );
    failing(&r, "after a restart no connection and no membership");
}

#[test]
fn a_resume_that_loses_groups_is_caught_and_its_path_replays_concretely() {
    let spec = Spec::new(Profile::CoreStateful);
    let r = mutated(
        spec,
        bounds(2, 1, 1, 1),
        state_bug(|op, hub| {
            if let Op::Resume { conn, .. } = op {
                if let Some(c) = hub.conns.iter_mut().find(|c| c.id == *conn) {
                    c.groups.wipe();
                }
            }
        }),
    );
    failing(&r, RESUME);
}

#[test]
fn a_broken_representation_is_caught() {
    // Bug: an add leaves a groups token on a connected connection.
    let r = mutated(
        Spec::new(Profile::Core),
        bounds(1, 1, 1, 1),
        state_bug(|op, hub| {
            if let Op::AddToGroup { caller, .. } = op {
                if let Some(c) = hub.conns.iter_mut().find(|c| c.id == *caller) {
                    c.token = Bits(1);
                }
            }
        }),
    );
    failing(&r, ALWAYS[0]);
}

#[test]
fn a_send_to_an_ended_connection_is_caught() {
    // Bug: every send also reaches the most recently ended connection.
    let r = mutated(
        Spec::new(Profile::Core),
        bounds(2, 1, 1, 1),
        delivery_bug(|op, before| match op {
            Op::Send { .. } => before.closed_id(),
            _ => None,
        }),
    );
    let path = failing(&r, ALWAYS[1]);
    assert!(
        path.iter()
            .any(|s| s.contains("disconnect") || s.contains("drop")),
        "{path:?}"
    );
}

#[test]
fn a_write_now_to_a_suspended_connection_is_caught() {
    // Bug: a send writes "now" to a suspended connection instead of keeping the message.
    let r = mutated(
        Spec::new(Profile::CoreStateful),
        bounds(2, 1, 1, 1),
        delivery_bug(|op, before| match op {
            Op::Send { .. } => before
                .conns
                .iter()
                .find(|c| c.status == Status::Suspended)
                .map(|c| c.id),
            _ => None,
        }),
    );
    failing(&r, ALWAYS[1]);
}

#[test]
fn an_add_of_an_unknown_id_that_adds_the_caller_is_caught() {
    let r = mutated(
        Spec::new(Profile::Core),
        bounds(1, 1, 1, 1),
        state_bug(|op, hub| {
            if let Op::AddConnectionToGroup {
                caller,
                target: Target::Unknown,
                group: Some(g),
            } = op
            {
                if let Some(c) = hub.conns.iter_mut().find(|c| c.id == *caller) {
                    c.groups.put(*g);
                }
            }
        }),
    );
    let path = failing(&r, ALWAYS[2]);
    assert!(
        path.last().unwrap().contains("AddConnectionToGroup"),
        "{path:?}"
    );
}

/// GRP-NULL-CONNECTION-ID: a remove by a null id must be refused, not taken as the caller.
#[test]
fn a_remove_of_a_null_id_that_removes_the_caller_is_caught() {
    let r = mutated(
        Spec::new(Profile::Core),
        bounds(1, 1, 1, 1),
        state_bug(|op, hub| {
            if let Op::RemoveConnectionFromGroup {
                caller,
                target: Target::Null,
                group: Some(g),
            } = op
            {
                if let Some(c) = hub.conns.iter_mut().find(|c| c.id == *caller) {
                    c.groups.take(g);
                }
            }
        }),
    );
    let path = failing(&r, ALWAYS[2]);
    assert!(
        path.last()
            .unwrap()
            .contains("RemoveConnectionFromGroup(null"),
        "{path:?}"
    );
}

#[test]
fn a_user_send_that_reaches_another_user_is_caught() {
    let r = mutated(
        Spec::new(Profile::Core),
        bounds(2, 2, 1, 1),
        delivery_bug(|op, before| match op {
            Op::Send {
                selector: Selector::User(u),
                ..
            } => before
                .conns
                .iter()
                .find(|c| c.user != Some(*u))
                .map(|c| c.id),
            _ => None,
        }),
    );
    failing(&r, ALWAYS[6]);
}

#[test]
fn a_group_except_that_ignores_its_list_is_caught() {
    let r = mutated(
        Spec::new(Profile::Core),
        bounds(2, 1, 1, 1),
        delivery_bug(|op, before| match op {
            Op::Send {
                selector: Selector::GroupExcept(Some(g), ids),
                ..
            } => ids.iter().find_map(|t| match t {
                Target::Id(id) if before.conn(*id).is_some_and(|c| c.groups.has(g)) => Some(*id),
                _ => None,
            }),
            _ => None,
        }),
    );
    failing(&r, ALWAYS[7]);
}

#[test]
fn others_that_includes_the_caller_is_caught() {
    let r = mutated(
        Spec::new(Profile::Core),
        bounds(2, 1, 1, 1),
        delivery_bug(|op, _| match op {
            Op::Send {
                caller,
                selector: Selector::Others,
                ..
            } => Some(*caller),
            _ => None,
        }),
    );
    failing(&r, ALWAYS[8]);
}

#[test]
fn a_too_small_bound_fails_the_reachability_witnesses() {
    // One connection and one user cannot show a user with two connections or a group with
    // two members: the `sometimes` properties say so instead of passing vacuously.
    let r = check(
        Spec::new(Profile::Core),
        bounds(1, 1, 1, 1),
        opts(1, Engine::Parallel),
    );
    assert!(!r.all_hold());
    assert!(r
        .properties
        .iter()
        .any(|p| !p.always && !p.holds && p.name == "a group has two members"));
}

#[test]
fn canonical_paths_map_back_to_concrete_histories_that_reach_the_same_class() {
    use hubspec_check::CheckState;
    use stateright::Model;
    let spec = Spec::new(Profile::CoreStateful);
    let model = HubModel::new(spec, bounds(3, 2, 2, 1));
    // Connection churn makes canonical ids shift between steps.
    let canonical: Vec<Op<Small>> = vec![
        Op::Connect { user: Some(0) },
        Op::Connect { user: None },
        Op::AddToGroup {
            caller: ConnId(2),
            group: Some(1),
        },
        Op::Connect { user: Some(1) },
        Op::Drop { conn: ConnId(1) },
        Op::AddConnectionToGroup {
            caller: ConnId(2),
            target: hubspec_model::Target::Id(ConnId(3)),
            group: Some(0),
        },
        Op::Disconnect { conn: ConnId(2) },
        Op::Send {
            caller: ConnId(1),
            selector: hubspec_model::Selector::All,
            payload: 0,
        },
    ];
    let mut state = CheckState::default();
    for op in &canonical {
        state = model
            .next_state(&state, op.clone())
            .expect("a valid canonical step");
    }
    let concrete = concretize(&spec, &canonical);
    let mut hub: Hub<Small> = Hub::new();
    for op in &concrete {
        hub.apply(&spec, op).expect("a valid concrete step");
    }
    let mut reached = CheckState { hub, violations: 0 };
    reached.canonicalize();
    assert_eq!(reached, state);
    let text: Vec<_> = concrete
        .iter()
        .map(hubspec_model::transcript::small_to_text)
        .collect();
    Transcript::run(spec, &text).expect("valid readable history");
}
