//! Which operations are enabled in a state of the bounded universe.
//!
//! Every operation of the spec appears here with every argument shape whose semantics differ:
//! the caller itself, another live connection, a closed id, an unknown id, a null group name,
//! a null id. A null id is a few actions only (an add with a null group, to check which null is
//! refused first; a remove; `Client(null)`; a null inside the `Clients` list): each is refused
//! or equals a send without it, so it adds transitions but no state.
//! Arguments that cannot make a difference (a second unknown id) are left out to keep the
//! branching factor small.

use crate::bounds::Bounds;
use hubspec_model::{ConnId, Hub, Op, Profile, Selector, Small, Spec, Status, Target};

/// The target shapes an id argument can take in `state`: every live connection, the highest
/// closed id if any connection has ended, and an id that was never issued.
pub fn targets(hub: &Hub<Small>) -> Vec<Target> {
    let mut out: Vec<Target> = hub.conns.iter().map(|c| Target::Id(c.id)).collect();
    if let Some(closed) = hub.closed_id() {
        out.push(Target::Id(closed));
    }
    out.push(Target::Unknown);
    out
}

/// Append every operation enabled in `hub` to `out`.
pub fn enabled(spec: &Spec, bounds: &Bounds, hub: &Hub<Small>, out: &mut Vec<Op<Small>>) {
    if hub.conns.len() < usize::from(bounds.connections) {
        out.push(Op::Connect { user: None });
        out.extend((0..bounds.users).map(|u| Op::Connect { user: Some(u) }));
    }
    if bounds.restart {
        out.push(Op::Restart);
    }
    if let Some(closed) = hub.closed_id() {
        out.push(Op::Resume {
            conn: closed,
            altered_token: false,
        });
    }
    let targets = targets(hub);
    let groups = 0..bounds.groups;
    for c in &hub.conns {
        let id = c.id;
        if c.status == Status::Suspended {
            out.push(Op::Resume {
                conn: id,
                altered_token: false,
            });
            if spec.profile == Profile::Classic {
                out.push(Op::Resume {
                    conn: id,
                    altered_token: true,
                });
            }
            out.push(Op::Expire { conn: id });
            continue;
        }
        out.push(Op::Disconnect { conn: id });
        out.push(Op::Drop { conn: id });
        out.push(Op::AddToGroup {
            caller: id,
            group: None,
        });
        out.push(Op::AddConnectionToGroup {
            caller: id,
            target: Target::Null,
            group: None,
        });
        if bounds.groups > 0 {
            out.push(Op::RemoveConnectionFromGroup {
                caller: id,
                target: Target::Null,
                group: Some(0),
            });
        }
        for g in groups.clone() {
            out.push(Op::AddToGroup {
                caller: id,
                group: Some(g),
            });
            out.push(Op::RemoveFromGroup {
                caller: id,
                group: Some(g),
            });
            for &t in targets.iter().filter(|t| **t != Target::Id(id)) {
                out.push(Op::AddConnectionToGroup {
                    caller: id,
                    target: t,
                    group: Some(g),
                });
                out.push(Op::RemoveConnectionFromGroup {
                    caller: id,
                    target: t,
                    group: Some(g),
                });
            }
            if bounds.rooms {
                out.push(Op::JoinRoom {
                    caller: id,
                    room: Some(g),
                });
                out.push(Op::LeaveRoom {
                    caller: id,
                    room: Some(g),
                });
            }
        }
        for p in 0..bounds.payloads {
            for selector in selectors(bounds, &targets, id) {
                out.push(Op::Send {
                    caller: id,
                    selector,
                    payload: p,
                });
            }
        }
    }
}

fn selectors(bounds: &Bounds, targets: &[Target], caller: ConnId) -> Vec<Selector<Small>> {
    let mut out = vec![Selector::All, Selector::Others, Selector::Caller];
    for &t in targets {
        out.push(Selector::AllExcept(vec![t]));
        if t != Target::Id(caller) {
            out.push(Selector::Connection(t));
        }
    }
    out.push(Selector::Connection(Target::Null));
    let mut listed = targets.to_vec();
    listed.push(Target::Null);
    out.push(Selector::Connections(listed));
    out.push(Selector::Group(None));
    for g in 0..bounds.groups {
        out.push(Selector::Group(Some(g)));
        out.push(Selector::OthersInGroup(Some(g)));
        for &t in targets {
            out.push(Selector::GroupExcept(Some(g), vec![t]));
        }
    }
    let all_groups: Vec<Option<u8>> = (0..bounds.groups).map(Some).collect();
    out.push(Selector::Groups(all_groups.clone()));
    let mut twice = all_groups;
    twice.push(Some(0));
    out.push(Selector::Groups(twice));
    out.push(Selector::Groups(vec![Some(0), None]));
    for u in 0..bounds.users {
        out.push(Selector::User(u));
    }
    out.push(Selector::Users((0..bounds.users).chain(0..1).collect()));
    out
}
