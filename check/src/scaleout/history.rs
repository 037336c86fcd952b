//! What the clients saw, in one global order, and the single-hub specification beside it.
//!
//! The history is stateright's auxiliary state: it is folded from the messages the actors send
//! (`record_msg_out`), so the actors never read it. Membership "as the specification has it"
//! is a `hubspec_model::Hub<Small>` holding every connection, changed with the model's `apply`
//! at the instant the owner of a connection carries out an add or remove.

use super::actor::Ids;
use super::msg::Msg;
use super::scenario::Cluster;
use hubspec_model::sets::Bits;
use hubspec_model::{Conn, ConnId, GroupSet, Hub, Op, Profile, Selector, Small, Spec, Status};
use stateright::actor::Envelope;

/// The specification every hub here follows: membership does not depend on the profile.
pub fn spec() -> Spec {
    Spec::new(Profile::Core)
}

/// A hub holding the connections `ids`, connected and in no group (a node's local
/// connections, or every connection of the cluster).
pub fn hub_of(ids: &[ConnId]) -> Hub<Small> {
    let mut hub = Hub::<Small>::new();
    for &id in ids {
        hub.conns.push(Conn {
            id,
            user: None,
            status: Status::Connected,
            groups: Bits::default(),
            buffer: Default::default(),
            token: Bits::default(),
        });
    }
    hub.next_id = ids.iter().map(|c| c.0).max().unwrap_or(0);
    hub
}

/// One thing a client saw or did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// `client` invoked step `step`; for a group send, `members` are the specification's
    /// members of the group at that instant (bit `c` for connection `c`).
    Invoke {
        client: ConnId,
        step: u8,
        members: Bits,
    },
    /// Step `step` of `client` completed.
    Done { client: ConnId, step: u8, ok: bool },
    /// `to` was written the message of `from`'s step `step`; `member`: a group message whose
    /// recipient the specification had in the group at that instant (always true otherwise).
    Push {
        to: ConnId,
        from: ConnId,
        step: u8,
        member: bool,
    },
    /// The node closed `client` (fail-stop on a subscription gap).
    Closed { client: ConnId },
}

/// The history of a run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct History {
    /// The single-hub specification's membership of every connection.
    pub spec: Hub<Small>,
    /// Every event, in the order it happened.
    pub log: Vec<Event>,
}

impl History {
    /// The start of a run: every client connected, in its initial groups.
    pub fn new(clients: u8, members: &[(ConnId, u8)]) -> Self {
        let all: Vec<ConnId> = (1..=u32::from(clients)).map(ConnId).collect();
        let mut hub = hub_of(&all);
        for &(c, g) in members {
            let op = Op::AddToGroup {
                caller: c,
                group: Some(g),
            };
            hub.apply(&spec(), &op).expect("a client of the scenario");
        }
        History {
            spec: hub,
            log: Vec::new(),
        }
    }

    fn member(&self, c: ConnId, group: u8) -> bool {
        self.spec.conn(c).is_some_and(|c| c.groups.has(&group))
    }
}

/// Folds a sent message into the history (stateright's `record_msg_out`).
pub fn record(cluster: &Cluster, h: &History, env: Envelope<&Msg>) -> Option<History> {
    let s = &cluster.scenario;
    let ids = Ids {
        nodes: s.nodes,
        clients: s.clients.len() as u8,
    };
    let event = match env.msg {
        Msg::Invoke { step, op } => {
            let client = ids.conn(env.src)?;
            let mut members = Bits::default();
            if let Op::Send {
                selector: Selector::Group(Some(g)),
                ..
            } = op
            {
                for m in h.spec.members(g) {
                    members.put(m.0 as u8);
                }
            }
            Event::Invoke {
                client,
                step: *step,
                members,
            }
        }
        Msg::Completion { step, ok } => Event::Done {
            client: ids.conn(env.dst)?,
            step: *step,
            ok: *ok,
        },
        Msg::Closed => Event::Closed {
            client: ids.conn(env.dst)?,
        },
        Msg::Push {
            to,
            from,
            step,
            group,
        } => Event::Push {
            to: *to,
            from: *from,
            step: *step,
            member: group.is_none_or(|g| h.member(*to, g)),
        },
        Msg::Applied { target, group, add } => {
            let op = if *add {
                Op::AddToGroup {
                    caller: *target,
                    group: Some(*group),
                }
            } else {
                Op::RemoveFromGroup {
                    caller: *target,
                    group: Some(*group),
                }
            };
            let mut next = h.clone();
            next.spec
                .apply(&spec(), &op)
                .expect("every connection is connected in the specification");
            return Some(next);
        }
        _ => return None,
    };
    let mut next = h.clone();
    next.log.push(event);
    Some(next)
}
