//! From canonical paths back to concrete histories.
//!
//! Under symmetry reduction every state on a path is a representative, so an action names
//! connections by their canonical ids *at that step*, and the ids shift as connections come
//! and go. A live server knows nothing of that: it needs a history with stable ids. This
//! module replays a canonical path beside a concrete hub and renames each action's ids.

use crate::state::CheckState;
use hubspec_model::{ConnId, Hub, Op, Selector, Small, Spec, Target};
use std::collections::BTreeMap;

/// The concrete history a canonical path stands for, under `spec`.
///
/// Panics if the path is not a path of the canonical model (a bug in the caller, not a finding).
pub fn concretize(spec: &Spec, path: &[Op<Small>]) -> Vec<Op<Small>> {
    let mut canon = CheckState::default();
    let mut hub: Hub<Small> = Hub::new();
    // Canonical id -> concrete id, for every live connection.
    let mut names: BTreeMap<ConnId, ConnId> = BTreeMap::new();
    let mut out = Vec::with_capacity(path.len());
    for op in path {
        let rename_target = |t: Target| match t {
            Target::Unknown => Target::Unknown,
            Target::Null => Target::Null,
            Target::Id(id) => match names.get(&id) {
                Some(c) => Target::Id(*c),
                None => hub.closed_id().map_or(Target::Unknown, Target::Id),
            },
        };
        let rename = |id: ConnId| match rename_target(Target::Id(id)) {
            Target::Id(c) => c,
            Target::Unknown | Target::Null => ConnId(hub.next_id + 1),
        };
        let concrete = rename_op(op, rename, rename_target);
        hub.apply(spec, &concrete)
            .expect("a canonical path replays concretely");
        let mut next = canon.hub.clone();
        let before_next = next.next_id;
        next.apply(spec, op)
            .expect("the path is a path of the model");
        // The connection a Connect created: canonical id next_id+1 is concrete hub.next_id.
        if next.next_id > before_next {
            names.insert(ConnId(next.next_id), ConnId(hub.next_id));
        }
        let mut state = CheckState {
            hub: next,
            violations: 0,
        };
        let ranked: Vec<ConnId> = state.hub.conns.iter().map(|c| c.id).collect();
        let perm = state.canonicalize();
        let mut renamed = BTreeMap::new();
        for (rank, old) in ranked.iter().enumerate() {
            if let Some(c) = names.get(old) {
                renamed.insert(ConnId(perm[rank]), *c);
            }
        }
        names = renamed;
        canon = state;
        out.push(concrete);
    }
    out
}

fn rename_op(
    op: &Op<Small>,
    id: impl Fn(ConnId) -> ConnId,
    target: impl Fn(Target) -> Target,
) -> Op<Small> {
    let ts = |ts: &Vec<Target>| ts.iter().map(|t| target(*t)).collect::<Vec<_>>();
    match op {
        Op::Connect { user } => Op::Connect { user: *user },
        Op::Disconnect { conn } => Op::Disconnect { conn: id(*conn) },
        Op::Drop { conn } => Op::Drop { conn: id(*conn) },
        Op::Resume {
            conn,
            altered_token,
        } => Op::Resume {
            conn: id(*conn),
            altered_token: *altered_token,
        },
        Op::Expire { conn } => Op::Expire { conn: id(*conn) },
        Op::Restart => Op::Restart,
        Op::AddToGroup { caller, group } => Op::AddToGroup {
            caller: id(*caller),
            group: *group,
        },
        Op::RemoveFromGroup { caller, group } => Op::RemoveFromGroup {
            caller: id(*caller),
            group: *group,
        },
        Op::AddConnectionToGroup {
            caller,
            target: t,
            group,
        } => Op::AddConnectionToGroup {
            caller: id(*caller),
            target: target(*t),
            group: *group,
        },
        Op::RemoveConnectionFromGroup {
            caller,
            target: t,
            group,
        } => Op::RemoveConnectionFromGroup {
            caller: id(*caller),
            target: target(*t),
            group: *group,
        },
        Op::JoinRoom { caller, room } => Op::JoinRoom {
            caller: id(*caller),
            room: *room,
        },
        Op::LeaveRoom { caller, room } => Op::LeaveRoom {
            caller: id(*caller),
            room: *room,
        },
        Op::Send {
            caller,
            selector,
            payload,
        } => Op::Send {
            caller: id(*caller),
            payload: *payload,
            selector: match selector {
                Selector::AllExcept(t) => Selector::AllExcept(ts(t)),
                Selector::Connection(t) => Selector::Connection(target(*t)),
                Selector::Connections(t) => Selector::Connections(ts(t)),
                Selector::GroupExcept(g, t) => Selector::GroupExcept(*g, ts(t)),
                other => other.clone(),
            },
        },
    }
}
