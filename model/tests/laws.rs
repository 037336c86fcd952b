//! Laws of the specification, as properties over random valid histories.

use hubspec_model::{
    ConnId, GroupsFanout, Hub, Mode, Op, OpResult, Profile, Selector, Spec, Status, Target,
};
use proptest::prelude::*;

const GROUPS: [&str; 3] = ["a", "b", "A"];
const USERS: [&str; 2] = ["u", "v"];

/// Interpret raw choices as a valid history under `spec`: each choice picks an operation
/// among those whose precondition holds, so every generated history is valid. Every operation
/// kind and every selector is reachable, with null group names, ended and unknown ids, altered
/// tokens (classic) and expiries among the arguments, and null ids (alone and in lists).
fn history(spec: Spec, choices: &[(u8, u8, u8, u8)], rooms: bool) -> (Hub, Vec<Op>) {
    let mut hub = Hub::new();
    let mut ops = Vec::new();
    for &(k, a, b, c) in choices {
        let op = next_op(&hub, spec, (k, a, b, c), rooms, ops.len());
        hub.apply(&spec, &op)
            .expect("generated operations are valid");
        ops.push(op);
    }
    (hub, ops)
}

/// One valid operation for `hub`, chosen by `(k, a, b, c)`.
fn next_op(hub: &Hub, spec: Spec, (k, a, b, c): (u8, u8, u8, u8), rooms: bool, n: usize) -> Op {
    let live: Vec<ConnId> = hub.conns.iter().map(|c| c.id).collect();
    let connected: Vec<ConnId> = hub
        .conns
        .iter()
        .filter(|c| c.status == Status::Connected)
        .map(|c| c.id)
        .collect();
    let suspended = hub.conns.iter().find(|c| c.status == Status::Suspended);
    let pick = |xs: &[ConnId], i: u8| xs[i as usize % xs.len()];
    // One name in eight is null.
    let g = |i: u8| (i % 8 != 7).then(|| GROUPS[i as usize % GROUPS.len()].to_string());
    let closed = hub.closed_id();
    let target = |i: u8| match (i % 5, closed) {
        _ if i % 10 == 9 => Target::Null,
        (0, _) => Target::Unknown,
        (1, Some(x)) => Target::Id(x),
        _ if live.is_empty() => Target::Unknown,
        _ => Target::Id(pick(&live, i)),
    };
    let user = |i: u8| USERS[i as usize % 2].to_string();
    if connected.is_empty() || (k % 16 == 0 && live.len() < 4) {
        return match suspended {
            Some(s) if k % 16 != 0 && c % 3 == 0 => Op::Resume {
                conn: s.id,
                altered_token: spec.profile == Profile::Classic && b % 2 == 0,
            },
            Some(s) if k % 16 != 0 && c % 3 == 1 => Op::Expire { conn: s.id },
            _ => Op::Connect {
                user: (a % 3 != 0).then(|| user(a)),
            },
        };
    }
    let caller = pick(&connected, a);
    match k % 16 {
        1 => Op::AddToGroup {
            caller,
            group: g(b),
        },
        2 => Op::RemoveFromGroup {
            caller,
            group: g(b),
        },
        3 => Op::AddConnectionToGroup {
            caller,
            target: target(c),
            group: g(b),
        },
        4 => Op::RemoveConnectionFromGroup {
            caller,
            target: target(c),
            group: g(b),
        },
        5 if rooms => Op::JoinRoom { caller, room: g(b) },
        6 if rooms => Op::LeaveRoom { caller, room: g(b) },
        7 => match suspended {
            Some(s) if c % 2 == 0 => Op::Resume {
                conn: s.id,
                altered_token: spec.profile == Profile::Classic && b % 3 == 0,
            },
            _ if c % 7 == 0 => Op::Disconnect { conn: caller },
            _ => Op::Drop { conn: caller },
        },
        8 => match suspended {
            Some(s) if c % 2 == 0 => Op::Expire { conn: s.id },
            _ if c % 4 == 0 => Op::Restart,
            _ => Op::Resume {
                conn: closed.unwrap_or(ConnId(hub.next_id + 1)),
                altered_token: false,
            },
        },
        _ => Op::Send {
            caller,
            selector: selector(b, c, &g, &target, &user),
            payload: format!("m{n}"),
        },
    }
}

fn selector(
    b: u8,
    c: u8,
    g: &dyn Fn(u8) -> Option<String>,
    target: &dyn Fn(u8) -> Target,
    user: &dyn Fn(u8) -> String,
) -> Selector {
    match c % 12 {
        0 => Selector::Group(g(b)),
        1 => Selector::Groups(vec![g(b), g(b / 3), g(b)]),
        2 => Selector::OthersInGroup(g(b)),
        3 => Selector::User(user(b)),
        4 => Selector::All,
        5 => Selector::GroupExcept(g(b), vec![target(c / 12), target(b)]),
        6 => Selector::AllExcept(vec![target(b), target(c / 12)]),
        7 => Selector::Connections(vec![target(b), target(c / 12), target(b)]),
        8 => Selector::Users(vec![user(b), user(c / 12), user(b)]),
        9 => Selector::Caller,
        10 => Selector::Others,
        _ => Selector::Connection(target(b)),
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        Just(Spec::new(Profile::Core)),
        Just(Spec::new(Profile::CoreStateful)),
        Just(Spec::new(Profile::Classic)),
        Just(Spec::new(Profile::Core).with_fanout(GroupsFanout::Once)),
    ]
}

fn choices() -> impl Strategy<Value = Vec<(u8, u8, u8, u8)>> {
    prop::collection::vec(any::<(u8, u8, u8, u8)>(), 0..40)
}

fn first_connected(hub: &Hub) -> Option<ConnId> {
    hub.conns
        .iter()
        .find(|c| c.status == Status::Connected)
        .map(|c| c.id)
}

proptest! {
    #[test]
    fn add_is_idempotent(spec in spec(), cs in choices(), gi in 0..3usize) {
        let (hub, _) = history(spec, &cs, true);
        let Some(c) = first_connected(&hub) else { return Ok(()) };
        let add = Op::AddToGroup { caller: c, group: Some(GROUPS[gi].into()) };
        let mut once = hub.clone();
        once.apply(&spec, &add).unwrap();
        let mut twice = once.clone();
        let out = twice.apply(&spec, &add).unwrap();
        prop_assert_eq!(&once, &twice);
        prop_assert!(out.deliveries.is_empty());
    }

    #[test]
    fn remove_undoes_add(spec in spec(), cs in choices(), gi in 0..3usize) {
        let (hub, _) = history(spec, &cs, true);
        let Some(c) = first_connected(&hub) else { return Ok(()) };
        let g = GROUPS[gi].to_string();
        prop_assume!(!hub.conn(c).unwrap().groups.contains(&g));
        let mut h = hub.clone();
        h.apply(&spec, &Op::AddToGroup { caller: c, group: Some(g.clone()) }).unwrap();
        h.apply(&spec, &Op::RemoveFromGroup { caller: c, group: Some(g) }).unwrap();
        prop_assert_eq!(h, hub);
    }

    #[test]
    fn others_in_group_is_group_except_the_caller(spec in spec(), cs in choices(), gi in 0..3usize) {
        let (hub, _) = history(spec, &cs, true);
        let Some(c) = first_connected(&hub) else { return Ok(()) };
        let g = Some(GROUPS[gi].to_string());
        let send = |sel| Op::Send { caller: c, selector: sel, payload: "p".into() };
        let (mut h1, mut h2) = (hub.clone(), hub.clone());
        let o1 = h1.apply(&spec, &send(Selector::OthersInGroup(g.clone()))).unwrap();
        let o2 = h2.apply(&spec, &send(Selector::GroupExcept(g, vec![Target::Id(c)]))).unwrap();
        prop_assert_eq!(o1, o2);
        prop_assert_eq!(h1, h2);
    }

    #[test]
    fn groups_fan_out_per_variant(spec in spec(), cs in choices()) {
        let (hub, _) = history(spec, &cs, true);
        let Some(c) = first_connected(&hub) else { return Ok(()) };
        let listed = ["a", "b", "a"];
        let op = Op::Send { caller: c, selector: Selector::Groups(listed.iter().map(|g| Some(g.to_string())).collect()), payload: "p".into() };
        let mut h = hub.clone();
        let out = h.apply(&spec, &op).unwrap();
        for conn in &hub.conns {
            let k = listed.iter().filter(|g| conn.groups.contains(&g.to_string())).count();
            let want = match spec.groups_fanout { GroupsFanout::PerGroup => k, GroupsFanout::Once => k.min(1) };
            let got = out.deliveries.iter().filter(|d| d.to == conn.id).count();
            prop_assert_eq!(got, want, "connection {} in {} listed groups", conn.id, k);
        }
    }

    /// GRP-NULL-CONNECTION-ID: a null id on its own is refused, before the group name, with
    /// nothing changed and nothing delivered; inside a list it is an entry that matches
    /// nobody, so the send equals the one without it.
    #[test]
    fn a_null_id_is_refused_alone_and_matches_nobody_in_a_list(
        spec in spec(), cs in choices(), gi in 0..4usize, t in any::<u8>(), p in 0..3usize,
    ) {
        let (hub, _) = history(spec, &cs, true);
        let Some(c) = first_connected(&hub) else { return Ok(()) };
        let group = GROUPS.get(gi).map(|g| g.to_string());
        let refused = [
            Op::AddConnectionToGroup { caller: c, target: Target::Null, group: group.clone() },
            Op::RemoveConnectionFromGroup { caller: c, target: Target::Null, group: group.clone() },
            Op::Send { caller: c, selector: Selector::Connection(Target::Null), payload: "p".into() },
        ];
        for op in refused {
            let mut h = hub.clone();
            let out = h.apply(&spec, &op).unwrap();
            prop_assert_eq!(out.result, OpResult::Error(hubspec_model::ErrorKind::NullConnectionId), "{:?}", op);
            prop_assert!(out.deliveries.is_empty());
            prop_assert_eq!(&h, &hub);
        }
        let other = match t % 3 {
            0 => Target::Unknown,
            1 => Target::Id(c),
            _ => Target::Id(hub.conns[t as usize % hub.conns.len()].id),
        };
        let mut with_null = vec![other, other];
        with_null.insert(p.min(2), Target::Null);
        let g = Some(GROUPS[gi % GROUPS.len()].to_string());
        for (a, b) in [
            (Selector::AllExcept(with_null.clone()), Selector::AllExcept(vec![other])),
            (Selector::Connections(with_null.clone()), Selector::Connections(vec![other])),
            (Selector::GroupExcept(g.clone(), with_null.clone()), Selector::GroupExcept(g, vec![other])),
        ] {
            let send = |sel| Op::Send { caller: c, selector: sel, payload: "p".into() };
            let (mut h1, mut h2) = (hub.clone(), hub.clone());
            let o1 = h1.apply(&spec, &send(a)).unwrap();
            let o2 = h2.apply(&spec, &send(b)).unwrap();
            prop_assert_eq!(o1, o2);
            prop_assert_eq!(h1, h2);
        }
    }

    #[test]
    fn a_new_connection_never_inherits_groups_without_rooms(spec in spec(), cs in choices(), u in 0..2usize) {
        let (mut hub, _) = history(spec, &cs, false);
        let out = hub.apply(&spec, &Op::Connect { user: Some(USERS[u].into()) }).unwrap();
        let OpResult::Connected(id) = out.result else { panic!("connect connects") };
        prop_assert!(hub.conn(id).unwrap().groups.is_empty());
    }

    /// A resume changes no membership (REC-RESUME-KEEPS-GROUPS): under core-stateful the
    /// connection resumes with its groups at the drop as changed by adds and removes by id while
    /// it was suspended; under classic with the groups of the token it got at the drop (none for
    /// an altered one). Either way it gets every message kept meanwhile, once and in order
    /// (REC-RESUME-REPLAYS), and nothing else.
    #[test]
    fn resume_keeps_the_groups_and_replays_what_was_kept(
        classic in any::<bool>(),
        cs in choices(),
        during in prop::collection::vec(any::<(u8, u8, u8, u8)>(), 0..12),
        altered in any::<bool>(),
    ) {
        let spec = Spec::new(if classic { Profile::Classic } else { Profile::CoreStateful });
        let (hub, _) = history(spec, &cs, true);
        let Some(c) = first_connected(&hub) else { return Ok(()) };
        let mut h = hub.clone();
        h.apply(&spec, &Op::Drop { conn: c }).unwrap();
        let at_drop = h.conn(c).unwrap().groups.clone();
        let mut expected = at_drop.clone();
        let mut kept = Vec::new();
        // Activity while suspended: anything valid except what ends or resumes `c`.
        for &choice in &during {
            let op = next_op(&h, spec, choice, true, 100 + kept.len());
            let touches_c = match &op {
                Op::Resume { conn, .. } | Op::Expire { conn } => *conn == c,
                Op::Restart => true,
                _ => false,
            };
            if touches_c || h.precondition(&op).is_err() {
                continue;
            }
            let out = h.apply(&spec, &op).unwrap();
            match &op {
                Op::AddConnectionToGroup { target, group: Some(g), .. }
                    if *target == Target::Id(c) && !expected.contains(g) =>
                {
                    expected.push(g.clone());
                    expected.sort();
                }
                Op::RemoveConnectionFromGroup { target, group: Some(g), .. }
                    if *target == Target::Id(c) =>
                {
                    expected.retain(|x| x != g);
                }
                _ => {}
            }
            for d in out.deliveries.iter().filter(|d| d.to == c) {
                prop_assert_eq!(d.mode, Mode::Buffered);
                kept.push(d.payload.clone());
            }
        }
        prop_assert_eq!(&h.conn(c).unwrap().groups, &expected);
        let altered = classic && altered;
        let out = h.apply(&spec, &Op::Resume { conn: c, altered_token: altered }).unwrap();
        let resumed = &h.conn(c).unwrap().groups;
        let want: Vec<String> = match (classic, altered) {
            (true, true) => vec![],
            (true, false) => at_drop.to_vec(),
            (false, _) => expected.to_vec(),
        };
        prop_assert_eq!(resumed.to_vec(), want);
        prop_assert_eq!(h.conn(c).unwrap().status, Status::Connected);
        prop_assert!(out.deliveries.iter().all(|d| d.to == c && d.mode == Mode::Replayed));
        let replayed: Vec<String> = out.deliveries.iter().map(|d| d.payload.clone()).collect();
        prop_assert_eq!(replayed, kept);
    }

    #[test]
    fn restart_clears_every_membership_but_not_rooms_records(spec in spec(), cs in choices()) {
        let (mut hub, _) = history(spec, &cs, true);
        let rooms = hub.rooms.clone();
        hub.apply(&spec, &Op::Restart).unwrap();
        prop_assert!(hub.conns.is_empty());
        prop_assert!(hub.groups().is_empty());
        prop_assert_eq!(hub.rooms, rooms);
    }

    #[test]
    fn every_reachable_state_keeps_the_representation_invariants(spec in spec(), cs in choices()) {
        let (hub, _) = history(spec, &cs, true);
        prop_assert_eq!(hub.check_invariants(), Ok(()));
    }
}

/// The generator reaches every operation kind and every selector, so the laws above are
/// not stated over a corner of the histories only.
#[test]
fn the_generator_reaches_every_operation() {
    let mut seen = std::collections::BTreeSet::new();
    let mut rng = 0x5eed_u64;
    for spec in [
        Spec::new(Profile::Classic),
        Spec::new(Profile::CoreStateful),
    ] {
        for _ in 0..400 {
            let cs: Vec<(u8, u8, u8, u8)> = (0..40)
                .map(|_| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let x = (rng >> 24).to_le_bytes();
                    (x[0], x[1], x[2], x[3])
                })
                .collect();
            let (_, ops) = history(spec, &cs, true);
            for op in &ops {
                seen.insert(op.kind());
                match op {
                    Op::Resume {
                        altered_token: true,
                        ..
                    } => {
                        seen.insert("altered token");
                    }
                    Op::AddToGroup { group: None, .. } => {
                        seen.insert("null name");
                    }
                    _ => {}
                }
            }
        }
    }
    for kind in [
        "Connect",
        "Disconnect",
        "Drop",
        "Resume",
        "Expire",
        "Restart",
        "AddToGroup",
        "RemoveFromGroup",
        "AddConnectionToGroup",
        "RemoveConnectionFromGroup",
        "JoinRoom",
        "LeaveRoom",
        "SendToAll",
        "SendToAllExcept",
        "SendToOthers",
        "SendToCaller",
        "SendToConnection",
        "SendToConnections",
        "SendToGroup",
        "SendToGroups",
        "SendToGroupExcept",
        "SendToOthersInGroup",
        "SendToUser",
        "SendToUsers",
        "altered token",
        "null name",
    ] {
        assert!(seen.contains(kind), "{kind} never generated");
    }
}

/// GRP-CLASSIC-UNKNOWN-ID-CANCELLED, GRP-UNKNOWN-ID, GRP-CLOSED-ID: an add or remove by an id
/// that is not live changes nothing; classic answers it as cancelled, the core family with ok.
#[test]
fn an_add_or_remove_by_a_dead_id_changes_nothing_and_classic_cancels_it() {
    for profile in Profile::ALL {
        let spec = Spec::new(profile);
        let mut hub: Hub = Hub::new();
        for op in [
            Op::Connect { user: None },
            Op::Connect { user: None },
            Op::Disconnect { conn: ConnId(2) },
        ] {
            hub.apply(&spec, &op).unwrap();
        }
        let want = match profile {
            Profile::Classic => OpResult::Error(hubspec_model::ErrorKind::Cancelled),
            _ => OpResult::Ok,
        };
        for target in [Target::Unknown, Target::Id(ConnId(2))] {
            for add in [true, false] {
                let group = Some("g".to_string());
                let caller = ConnId(1);
                let op = if add {
                    Op::AddConnectionToGroup {
                        caller,
                        target,
                        group,
                    }
                } else {
                    Op::RemoveConnectionFromGroup {
                        caller,
                        target,
                        group,
                    }
                };
                let before = hub.clone();
                let out = hub.apply(&spec, &op).unwrap();
                assert_eq!(out.result, want, "{profile} {op:?}");
                assert_eq!(hub, before, "{profile} {op:?}");
            }
        }
    }
}

/// SND-CLASSIC-EMPTY-NAME and GRP-EMPTY-NAME: classic refuses a send to "" and reaches nobody;
/// the core family treats "" as an ordinary group.
#[test]
fn a_send_to_the_empty_group_name_is_refused_only_by_classic() {
    for profile in Profile::ALL {
        let spec = Spec::new(profile);
        let mut hub: Hub = Hub::new();
        hub.apply(&spec, &Op::Connect { user: None }).unwrap();
        hub.apply(
            &spec,
            &Op::AddToGroup {
                caller: ConnId(1),
                group: Some(String::new()),
            },
        )
        .unwrap();
        for selector in [
            Selector::Group(Some(String::new())),
            Selector::GroupExcept(Some(String::new()), vec![]),
        ] {
            let out = hub
                .apply(
                    &spec,
                    &Op::Send {
                        caller: ConnId(1),
                        selector,
                        payload: "p".into(),
                    },
                )
                .unwrap();
            if profile == Profile::Classic {
                assert_eq!(
                    out.result,
                    OpResult::Error(hubspec_model::ErrorKind::EmptyGroupName)
                );
                assert!(out.deliveries.is_empty());
            } else {
                assert_eq!(out.result, OpResult::Ok);
                assert_eq!(out.deliveries.len(), 1);
            }
        }
    }
}
