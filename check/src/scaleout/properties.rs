//! The properties of a scaled-out hub, stated over the history.
//!
//! `Always` properties about what has happened hold in every state; the ones about what must
//! have happened ("is delivered", "completes") are checked in terminal states, where nothing
//! but an unused gap can happen any more. A client whose node crashed or closed it is exempt
//! from those: losing its connection is allowed, losing its messages silently is not.

use super::actor::{Ids, PartState, ScaleoutActor};
use super::history::{Event, History};
use super::msg::Timer;
use super::scenario::{Cluster, Scenario};
use hubspec_model::{ConnId, GroupSet, Op, Selector, Small, Target};
use stateright::actor::{ActorModel, ActorModelState};

/// The checked model of one cluster.
pub type ClusterModel = ActorModel<ScaleoutActor, Cluster, History>;
/// A state of it.
pub type ClusterState = ActorModelState<ScaleoutActor, History>;

/// A property's condition.
pub type Condition = fn(&ClusterModel, &ClusterState) -> bool;

/// No recipient is written the same message twice. (That every message arrives at least once
/// is "a completed send is delivered".)
pub const EXACTLY_ONCE: &str = "exactly-once delivery";
/// A group message is written only to a connection the specification has in the group then.
pub const MEMBERSHIP: &str = "membership at delivery time";
/// After an add of a connection on another node completed without error, a group send
/// invoked later reaches it (unless it is removed again, or its node crashed or closed it).
pub const ADD_EFFECTIVE: &str = "a completed cross-node add is effective";
/// A group send that completed reaches every connection that was a member when it was invoked
/// and whose removal was not invoked before the send completed.
pub const SEND_DELIVERED: &str = "a completed send is delivered";
/// A recipient gets one sender's messages in the order the sender invoked them.
pub const FIFO: &str = "per-sender FIFO";
/// A caller that is a member of the group it sends to is written its own message before its
/// Completion.
pub const OWN_FIRST: &str = "the caller sees its own group message before its Completion";
/// An add or remove of an id no node holds completes without error.
pub const UNKNOWN_NOOP: &str = "an unknown id is a no-op";
/// Every invocation of a client that was not closed and whose node did not crash completes.
pub const COMPLETES: &str = "every invocation completes";
/// `Sometimes`: a terminal state in which every client finished its script (the terminal
/// properties are not vacuous).
pub const QUIESCENCE: &str = "some run ends with every script finished";

/// The `Always` properties, in table order.
pub const PROPERTIES: [(&str, Condition); 8] = [
    (EXACTLY_ONCE, exactly_once),
    (MEMBERSHIP, membership),
    (ADD_EFFECTIVE, add_effective),
    (SEND_DELIVERED, send_delivered),
    (FIFO, fifo),
    (OWN_FIRST, own_first),
    (UNKNOWN_NOOP, unknown_noop),
    (COMPLETES, completes),
];

fn log(state: &ClusterState) -> &[Event] {
    &state.history.log
}

fn ids(s: &Scenario) -> Ids {
    Ids {
        nodes: s.nodes,
        clients: s.clients.len() as u8,
    }
}

/// Whether `c` lost its connection: its node crashed or closed it.
fn exempt(model: &ClusterModel, state: &ClusterState, c: ConnId) -> bool {
    let s = &model.cfg.scenario;
    state.crashed[usize::from(ids(s).node(s.node_of(c)))]
        || log(state).contains(&Event::Closed { client: c })
}

/// Nothing but an unused gap can happen any more.
pub fn terminal(model: &ClusterModel, state: &ClusterState) -> bool {
    let n = model.actors.len();
    let in_flight = state
        .network
        .iter_deliverable()
        .any(|e| usize::from(e.dst) < n && !state.crashed[usize::from(e.dst)]);
    let timers = state
        .timers_set
        .iter()
        .any(|t| t.iter().any(|t| !matches!(t, Timer::Gap(_))));
    !in_flight && !timers
}

fn group_sent(op: &Op<Small>) -> Option<u8> {
    match op {
        Op::Send {
            selector: Selector::Group(Some(g)),
            ..
        } => Some(*g),
        _ => None,
    }
}

fn removes(op: &Op<Small>, m: ConnId, g: u8) -> bool {
    match op {
        Op::RemoveFromGroup { caller, group } => *caller == m && *group == Some(g),
        Op::RemoveConnectionFromGroup { target, group, .. } => {
            *target == Target::Id(m) && *group == Some(g)
        }
        _ => false,
    }
}

fn pushed(log: &[Event], to: ConnId, from: ConnId, step: u8) -> Option<usize> {
    log.iter().position(|e| {
        matches!(e, Event::Push { to: t, from: f, step: s, .. } if *t == to && *f == from && *s == step)
    })
}

fn removal_invoked(
    s: &Scenario,
    log: &[Event],
    range: std::ops::Range<usize>,
    m: ConnId,
    g: u8,
) -> bool {
    log[range].iter().any(
        |e| matches!(e, Event::Invoke { client, step, .. } if removes(s.op(*client, *step), m, g)),
    )
}

/// The invocations that completed without error: (log index, client, step).
fn completed_ok(log: &[Event]) -> impl Iterator<Item = (usize, ConnId, u8)> + '_ {
    log.iter().enumerate().filter_map(|(i, e)| match *e {
        Event::Done {
            client,
            step,
            ok: true,
        } => Some((i, client, step)),
        _ => None,
    })
}

fn exactly_once(_: &ClusterModel, state: &ClusterState) -> bool {
    let log = log(state);
    log.iter().enumerate().all(|(i, e)| match e {
        Event::Push { to, from, step, .. } => pushed(log, *to, *from, *step) == Some(i),
        _ => true,
    })
}

fn membership(_: &ClusterModel, state: &ClusterState) -> bool {
    log(state)
        .iter()
        .all(|e| !matches!(e, Event::Push { member: false, .. }))
}

fn add_effective(model: &ClusterModel, state: &ClusterState) -> bool {
    if !terminal(model, state) {
        return true;
    }
    let s = &model.cfg.scenario;
    let log = log(state);
    completed_ok(log).all(|(i, client, step)| {
        let Op::AddConnectionToGroup {
            target: Target::Id(t),
            group: Some(g),
            ..
        } = *s.op(client, step)
        else {
            return true;
        };
        if s.node_of(t) == s.node_of(client)
            || exempt(model, state, t)
            || removal_invoked(s, log, i..log.len(), t, g)
        {
            return true;
        }
        log[i..].iter().all(|e| match *e {
            Event::Invoke { client, step, .. } if group_sent(s.op(client, step)) == Some(g) => {
                let completed = log.contains(&Event::Done {
                    client,
                    step,
                    ok: true,
                });
                !completed || pushed(log, t, client, step).is_some()
            }
            _ => true,
        })
    })
}

fn send_delivered(model: &ClusterModel, state: &ClusterState) -> bool {
    if !terminal(model, state) {
        return true;
    }
    let s = &model.cfg.scenario;
    let log = log(state);
    completed_ok(log).all(|(d, client, step)| {
        let Some(g) = group_sent(s.op(client, step)) else {
            return true;
        };
        let Some(Event::Invoke { members, .. }) = log.iter().find(
            |e| matches!(e, Event::Invoke { client: c, step: st, .. } if *c == client && *st == step),
        ) else {
            return true;
        };
        members.items().all(|m| {
            let m = ConnId(u32::from(m));
            exempt(model, state, m)
                || removal_invoked(s, log, 0..d, m, g)
                || pushed(log, m, client, step).is_some()
        })
    })
}

fn fifo(_: &ClusterModel, state: &ClusterState) -> bool {
    let log = log(state);
    log.iter().enumerate().all(|(i, e)| match *e {
        Event::Push { to, from, step, .. } => log[i + 1..].iter().all(|later| {
            !matches!(*later, Event::Push { to: t, from: f, step: s, .. } if t == to && f == from && s < step)
        }),
        _ => true,
    })
}

fn own_first(model: &ClusterModel, state: &ClusterState) -> bool {
    let s = &model.cfg.scenario;
    let log = log(state);
    log.iter().enumerate().all(|(d, e)| {
        let Event::Done { client, step, .. } = *e else {
            return true;
        };
        if group_sent(s.op(client, step)).is_none() {
            return true;
        }
        let member_at_invoke = log.iter().any(|e| {
            matches!(*e, Event::Invoke { client: c, step: st, members } if c == client && st == step && members.has(&(client.0 as u8)))
        });
        !member_at_invoke || pushed(&log[..d], client, client, step).is_some()
    })
}

fn unknown_noop(model: &ClusterModel, state: &ClusterState) -> bool {
    let s = &model.cfg.scenario;
    log(state).iter().all(|e| match *e {
        Event::Done { client, step, ok } => {
            let unknown = matches!(
                s.op(client, step),
                Op::AddConnectionToGroup {
                    target: Target::Unknown,
                    ..
                } | Op::RemoveConnectionFromGroup {
                    target: Target::Unknown,
                    ..
                }
            );
            ok || !unknown
        }
        _ => true,
    })
}

fn completes(model: &ClusterModel, state: &ClusterState) -> bool {
    if !terminal(model, state) {
        return true;
    }
    let s = &model.cfg.scenario;
    let ids = ids(s);
    (1..=s.clients.len() as u32).map(ConnId).all(|c| {
        let PartState::Client(cs) = &*state.actor_states[usize::from(ids.client(c))] else {
            return true;
        };
        exempt(model, state, c) || cs.done as usize == s.clients[c.0 as usize - 1].1.len()
    })
}

/// The `Sometimes` witness: a terminal state where every script finished.
pub fn quiescence(model: &ClusterModel, state: &ClusterState) -> bool {
    let s = &model.cfg.scenario;
    let ids = ids(s);
    terminal(model, state)
        && (1..=s.clients.len() as u32).map(ConnId).all(|c| {
            matches!(&*state.actor_states[usize::from(ids.client(c))],
                PartState::Client(cs) if !cs.closed && cs.done as usize == s.clients[c.0 as usize - 1].1.len())
        })
}
