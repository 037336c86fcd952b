//! The properties the checker proves: invariants that hold in every reachable state, and
//! witnesses that the interesting cases are reachable at all, so that a bound too small to
//! exhibit them fails loudly instead of proving things vacuously.

use crate::bounds::Bounds;
use crate::model::HubModel;
use crate::state::CheckState;
use hubspec_model::{GroupSet, Profile, Queue, Spec, Status};
use stateright::Property;

/// A transition property, checked on each step and recorded in [`CheckState::violations`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A new connection is in groups other than the rooms restored for its user.
    NewConnectionInherits,
    /// A resume left the connection with groups other than those it had at the drop
    /// (core-stateful) or than its verified token (classic), or lost buffered messages.
    ResumeChangesGroups,
    /// A restart left a connection or a membership.
    RestartKeepsMembership,
    /// `User(u)` missed a connection of `u`, or reached another.
    UserSendMisses,
    /// `Group(g)` reached other than each member exactly once.
    GroupSendNotExactlyMembers,
    /// Something was delivered to an id outside the universe.
    DeliveryToUnknown,
}

impl Violation {
    /// The violation's bit in [`CheckState::violations`].
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

fn ok(s: &CheckState, v: Violation) -> bool {
    s.violations & v.bit() == 0
}

/// Every property for `spec` over `bounds`.
pub fn all(spec: &Spec, bounds: &Bounds) -> Vec<Property<HubModel>> {
    let mut props = vec![
        Property::always(
            "membership only for live connections",
            |_, s: &CheckState| {
                // Membership is stored on live connections and nowhere else, and the
                // representation's own invariants hold (sorted sets, ids in range, buffers only
                // while suspended).
                s.hub.check_invariants().is_ok()
                    && s.hub
                        .groups()
                        .values()
                        .flatten()
                        .all(|c| s.hub.conn(*c).is_some())
            },
        ),
        Property::always("no empty group", |_, s: &CheckState| {
            s.hub.groups().values().all(|members| !members.is_empty())
        }),
        Property::always(
            "a new connection has no groups unless rooms restore them",
            |_, s: &CheckState| ok(s, Violation::NewConnectionInherits),
        ),
        Property::always(
            "a resumed connection has exactly its groups at the drop",
            |_, s: &CheckState| ok(s, Violation::ResumeChangesGroups),
        ),
        Property::always("after a restart no membership", |_, s: &CheckState| {
            ok(s, Violation::RestartKeepsMembership)
        }),
        Property::always(
            "user sends reach every connection of the user",
            |_, s: &CheckState| {
                ok(s, Violation::UserSendMisses) && ok(s, Violation::DeliveryToUnknown)
            },
        ),
        Property::always(
            "group sends reach each member exactly once",
            |_, s: &CheckState| ok(s, Violation::GroupSendNotExactlyMembers),
        ),
        Property::sometimes("a connection is in two groups", |_, s: &CheckState| {
            s.hub.conns.iter().any(|c| c.groups.count() >= 2)
        }),
        Property::sometimes("a group has two members", |_, s: &CheckState| {
            s.hub.groups().values().any(|m| m.len() >= 2)
        }),
        Property::sometimes(
            "a caller outside a non-empty group (OthersInGroup)",
            |_, s: &CheckState| {
                let groups = s.hub.groups();
                s.hub.conns.iter().any(|c| {
                    c.status == Status::Connected && groups.keys().any(|g| !c.groups.has(g))
                })
            },
        ),
        Property::sometimes("a user has two live connections", |_, s: &CheckState| {
            s.hub.conns.iter().enumerate().any(|(i, a)| {
                a.user.is_some() && s.hub.conns[i + 1..].iter().any(|b| b.user == a.user)
            })
        }),
        Property::sometimes("every connection slot is live", |m: &HubModel, s| {
            s.hub.conns.len() == usize::from(m.bounds.connections)
        }),
        Property::sometimes("an id has been closed", |_, s: &CheckState| {
            s.hub.next_id as usize > s.hub.conns.len()
        }),
    ];
    if spec.profile != Profile::Core {
        props.push(Property::sometimes(
            "a suspended connection keeps groups",
            |_, s: &CheckState| {
                s.hub
                    .conns
                    .iter()
                    .any(|c| c.status == Status::Suspended && !c.groups.none())
            },
        ));
        props.push(Property::sometimes(
            "a suspended connection holds messages",
            |m: &HubModel, s: &CheckState| {
                s.hub
                    .conns
                    .iter()
                    .any(|c| c.buffer.count() == usize::from(m.bounds.buffer))
            },
        ));
    }
    if bounds.rooms {
        props.push(Property::sometimes(
            "room records exist",
            |_, s: &CheckState| !s.hub.rooms.is_empty(),
        ));
        props.push(Property::sometimes(
            "a connection was restored into a room",
            |_, s: &CheckState| {
                // A connection in a recorded room of its user that is not the one that joined it:
                // two live connections of the user both in the room.
                s.hub.rooms.iter().any(|r| {
                    r.rooms.items().any(|room| {
                        s.hub
                            .conns
                            .iter()
                            .filter(|c| c.user == Some(r.user) && c.groups.has(&room))
                            .count()
                            >= 2
                    })
                })
            },
        ));
    }
    if bounds.restart && bounds.rooms {
        props.push(Property::sometimes(
            "a restart happened with records kept",
            |_, s: &CheckState| s.hub.epoch > 0 && !s.hub.rooms.is_empty(),
        ));
    } else if bounds.restart {
        props.push(Property::sometimes(
            "a restart happened",
            |_, s: &CheckState| s.hub.epoch > 0,
        ));
    }
    props
}
