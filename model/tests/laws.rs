//! Laws of the specification, as properties over random valid histories.

use hubspec_model::{
    ConnId, GroupsFanout, Hub, Mode, Op, OpResult, Profile, Selector, Spec, Status, Target,
};
use proptest::prelude::*;

const GROUPS: [&str; 3] = ["a", "b", "A"];
const USERS: [&str; 2] = ["u", "v"];

/// Interpret raw choices as a valid history under `spec`: each choice picks an operation
/// among those whose precondition holds, so every generated history is valid.
fn history(spec: Spec, choices: &[(u8, u8, u8, u8)], rooms: bool) -> (Hub, Vec<Op>) {
    let mut hub = Hub::new();
    let mut ops = Vec::new();
    for &(k, a, b, c) in choices {
        let live: Vec<ConnId> = hub.conns.iter().map(|c| c.id).collect();
        let connected: Vec<ConnId> = hub
            .conns
            .iter()
            .filter(|c| c.status == Status::Connected)
            .map(|c| c.id)
            .collect();
        let pick = |xs: &[ConnId], i: u8| xs[i as usize % xs.len()];
        let g = |i: u8| Some(GROUPS[i as usize % GROUPS.len()].to_string());
        let target = |i: u8| {
            if live.is_empty() || i % 5 == 0 {
                Target::Unknown
            } else {
                Target::Id(pick(&live, i))
            }
        };
        let op = if connected.is_empty() || (k % 10 == 0 && live.len() < 4) {
            Op::Connect {
                user: (a % 3 != 0).then(|| USERS[a as usize % 2].to_string()),
            }
        } else {
            let caller = pick(&connected, a);
            match k % 10 {
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
                4 if rooms => Op::JoinRoom { caller, room: g(b) },
                5 => match hub.conns.iter().find(|c| c.status == Status::Suspended) {
                    Some(s) if c % 2 == 0 => Op::Resume {
                        conn: s.id,
                        altered_token: false,
                    },
                    _ if c % 7 == 0 => Op::Disconnect { conn: caller },
                    _ => Op::Drop { conn: caller },
                },
                6 if c % 4 == 0 => Op::Restart,
                _ => Op::Send {
                    caller,
                    selector: match c % 6 {
                        0 => Selector::Group(g(b)),
                        1 => Selector::Groups(vec![g(b), g(b / 3)]),
                        2 => Selector::OthersInGroup(g(b)),
                        3 => Selector::User(USERS[b as usize % 2].into()),
                        4 => Selector::All,
                        _ => Selector::GroupExcept(g(b), vec![target(a)]),
                    },
                    payload: format!("m{}", ops.len()),
                },
            }
        };
        hub.apply(&spec, &op)
            .expect("generated operations are valid");
        ops.push(op);
    }
    (hub, ops)
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

    #[test]
    fn a_new_connection_never_inherits_groups_without_rooms(spec in spec(), cs in choices(), u in 0..2usize) {
        let (mut hub, _) = history(spec, &cs, false);
        let out = hub.apply(&spec, &Op::Connect { user: Some(USERS[u].into()) }).unwrap();
        let OpResult::Connected(id) = out.result else { panic!("connect connects") };
        prop_assert!(hub.conn(id).unwrap().groups.is_empty());
    }

    #[test]
    fn resume_restores_exactly_the_groups_at_the_drop(cs in choices()) {
        let spec = Spec::new(Profile::CoreStateful);
        let (hub, _) = history(spec, &cs, true);
        let Some(c) = first_connected(&hub) else { return Ok(()) };
        let before = hub.conn(c).unwrap().groups.clone();
        let mut h = hub.clone();
        h.apply(&spec, &Op::Drop { conn: c }).unwrap();
        let out = h.apply(&spec, &Op::Resume { conn: c, altered_token: false }).unwrap();
        prop_assert_eq!(&h.conn(c).unwrap().groups, &before);
        prop_assert!(out.deliveries.iter().all(|d| d.mode == Mode::Replayed));
        prop_assert_eq!(h, hub);
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
