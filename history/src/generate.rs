//! Histories made by running the model: one operation at a time at points 100 apart, each
//! interval widened around its point without overlapping its lane's neighbours. The model's own
//! run is a placement inside every interval, so every such history is linearizable; corrupting
//! one shows what the checker catches. The tests drive it with proptest, the throughput
//! example with a seeded generator; it takes its randomness as input, so it stays pure.

use crate::history::{End, History};
use hubspec_model::{ConnId, Hub, Mode, Op, Profile, Selector, Spec, Target};
use std::collections::BTreeSet;

/// Four connections: two of user u0, one of u1, one anonymous.
pub const USERS: [Option<&str>; 4] = [Some("u0"), Some("u1"), None, Some("u0")];

/// One step of a plan: (kind, connection and arguments, widen left, widen right). Kinds: joins
/// and leaves (self and by id), sends through nine selectors, now and then a disconnect or a
/// drop (a drop suspends under `core-stateful`, and that lane's next step is its resume).
pub type Step = (u8, u8, u8, u8);

fn group(b: u8) -> Option<String> {
    match b % 7 {
        6 => None,
        x => Some(format!("g{}", x % 2)),
    }
}

fn target(b: u8) -> Target {
    match b % 6 {
        4 => Target::Unknown,
        5 => Target::Null,
        x => Target::Id(ConnId(u32::from(x) + 1)),
    }
}

fn selector(k: u8, b: u8) -> Selector {
    match k % 9 {
        0 => Selector::All,
        1 => Selector::Others,
        2 => Selector::Caller,
        3 => Selector::Connection(target(b)),
        4 => Selector::Group(group(b)),
        5 => Selector::OthersInGroup(group(b)),
        6 => Selector::Groups(vec![group(b), group(b / 7)]),
        7 => Selector::User(format!("u{}", b % 2)),
        _ => Selector::GroupExcept(group(b), vec![target(b / 7)]),
    }
}

/// Run `steps` on the model over the four connections of [`USERS`]; `widen` false keeps every
/// interval a point (then the model's order is the only placement).
pub fn run(stateful: bool, steps: &[Step], widen: bool) -> History {
    run_with(&USERS, stateful, steps, widen)
}

/// [`run`] over one connection per entry of `users` (at most 255; by-id targets name c1..c4).
pub fn run_with(users: &[Option<&str>], stateful: bool, steps: &[Step], widen: bool) -> History {
    let lanes = users.len() as u8;
    let profile = if stateful {
        Profile::CoreStateful
    } else {
        Profile::Core
    };
    let spec = Spec::new(profile);
    let mut hub = Hub::new();
    let mut h = History::new(spec, users);
    for u in users {
        hub.apply(
            &spec,
            &Op::Connect {
                user: u.map(str::to_string),
            },
        )
        .unwrap();
    }
    let mut ended = BTreeSet::new();
    let mut suspended = BTreeSet::new();
    // (point, lane, op, result, widen left, widen right)
    let mut done = Vec::new();
    for (i, &(k, a, wl, wr)) in steps.iter().enumerate() {
        let c = ConnId(u32::from(a % lanes) + 1);
        if ended.contains(&c) {
            continue;
        }
        let b = (a / 4) ^ k;
        let op = if suspended.contains(&c) {
            Op::Resume {
                conn: c,
                altered_token: false,
            }
        } else {
            match k % 16 {
                0..=2 => Op::AddToGroup {
                    caller: c,
                    group: group(b),
                },
                3 => Op::RemoveFromGroup {
                    caller: c,
                    group: group(b),
                },
                4 => Op::AddConnectionToGroup {
                    caller: c,
                    target: target(b),
                    group: group(b / 6),
                },
                5 => Op::RemoveConnectionFromGroup {
                    caller: c,
                    target: target(b),
                    group: group(b / 6),
                },
                15 if b % 4 == 0 => Op::Disconnect { conn: c },
                15 => Op::Drop { conn: c },
                _ => Op::Send {
                    caller: c,
                    selector: selector(k / 16, b),
                    payload: format!("p{i}"),
                },
            }
        };
        let point = 100 * (i as u64 + 1);
        let out = hub.apply(&spec, &op).expect("the plan keeps preconditions");
        for d in &out.deliveries {
            if d.mode != Mode::Buffered {
                h.deliver(d.to, point, &d.payload);
            }
        }
        match op {
            Op::Disconnect { .. } => {
                h.close(c, point);
                ended.insert(c);
            }
            Op::Drop { .. } if !stateful => {
                h.close(c, point);
                ended.insert(c);
            }
            Op::Drop { .. } => {
                suspended.insert(c);
            }
            Op::Resume { .. } => {
                suspended.remove(&c);
            }
            _ => {}
        }
        done.push((point, c, op, out.result, u64::from(wl), u64::from(wr)));
    }
    for (n, (point, c, op, result, wl, wr)) in done.iter().enumerate() {
        let (wl, wr) = if widen { (*wl, *wr) } else { (0, 0) };
        let prev = done[..n].iter().rev().find(|d| d.1 == *c).map(|d| d.0);
        let next = done[n + 1..].iter().find(|d| d.1 == *c).map(|d| d.0);
        let inv = point
            .saturating_sub(wl)
            .max(prev.map_or(0, |p| p + (point - p) / 2 + 1));
        let ret = (point + wr).min(next.map_or(u64::MAX, |q| point + (q - point) / 2 - 1));
        h.op(
            op.clone(),
            inv.min(*point),
            End::Completed {
                ts: ret.max(*point),
                result: *result,
            },
        );
    }
    h
}
