//! Operations: everything a client, the transport or the operator can do to a hub.
//!
//! An operation names its caller by [`ConnId`]; invocations come from a connected connection.
//! Group names are `Option`s because `null` is a name a client can send, and the hub must
//! answer it with an error rather than treat it as a group.

use crate::ids::{ConnId, Target};
use crate::names::{Names, Text};
use crate::profile::Profile;
use crate::rules::Capability;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A group name as sent by a client: `None` is JSON `null`.
pub type GroupArg<N> = Option<<N as Names>::Group>;

/// One step of a history.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(bound = "")]
pub enum Op<N: Names = Text> {
    /// A new connection (negotiate + WebSocket + handshake), optionally as a user.
    Connect { user: Option<N::User> },
    /// The client closes its connection gracefully (a Close message).
    Disconnect { conn: ConnId },
    /// The transport is lost without a close frame.
    Drop { conn: ConnId },
    /// The client reconnects its transport to the same connection (stateful reconnect, or a
    /// classic reconnect carrying its groups token; `altered_token`: the client tampered with it).
    Resume { conn: ConnId, altered_token: bool },
    /// The server's disconnect timeout passes for a suspended connection.
    Expire { conn: ConnId },
    /// The server process restarts: every connection is gone, durable records stay.
    Restart,
    /// `AddToGroup(group)`: the caller adds itself.
    AddToGroup { caller: ConnId, group: GroupArg<N> },
    /// `RemoveFromGroup(group)`: the caller removes itself.
    RemoveFromGroup { caller: ConnId, group: GroupArg<N> },
    /// `AddConnectionToGroup(id, group)`: any id, unknown and closed ones included.
    AddConnectionToGroup {
        caller: ConnId,
        target: Target,
        group: GroupArg<N>,
    },
    /// `RemoveConnectionFromGroup(id, group)`.
    RemoveConnectionFromGroup {
        caller: ConnId,
        target: Target,
        group: GroupArg<N>,
    },
    /// `JoinRoom(room)`: record (user, room) durably, then add the caller to group `room`.
    JoinRoom { caller: ConnId, room: GroupArg<N> },
    /// `LeaveRoom(room)`: delete the record, then remove the caller from group `room`.
    LeaveRoom { caller: ConnId, room: GroupArg<N> },
    /// A send through one of the `IHubClients` selectors.
    Send {
        caller: ConnId,
        selector: Selector<N>,
        payload: N::Payload,
    },
}

/// The recipients of a send, as `IHubClients` / `IHubCallerClients` name them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(bound = "")]
pub enum Selector<N: Names = Text> {
    /// `Clients.All`.
    All,
    /// `Clients.AllExcept(ids)`.
    AllExcept(Vec<Target>),
    /// `Clients.Others`: everyone but the caller.
    Others,
    /// `Clients.Caller`.
    Caller,
    /// `Clients.Client(id)`.
    Connection(Target),
    /// `Clients.Clients(ids)`.
    Connections(Vec<Target>),
    /// `Clients.Group(group)`.
    Group(GroupArg<N>),
    /// `Clients.Groups(groups)`.
    Groups(Vec<GroupArg<N>>),
    /// `Clients.GroupExcept(group, ids)`.
    GroupExcept(GroupArg<N>, Vec<Target>),
    /// `Clients.OthersInGroup(group)`: the group but the caller.
    OthersInGroup(GroupArg<N>),
    /// `Clients.User(user)`.
    User(N::User),
    /// `Clients.Users(users)`.
    Users(Vec<N::User>),
}

impl<N: Names> Selector<N> {
    /// The contract method that performs this send (`SendToGroup`, …).
    pub fn method(&self) -> &'static str {
        match self {
            Selector::All => "SendToAll",
            Selector::AllExcept(_) => "SendToAllExcept",
            Selector::Others => "SendToOthers",
            Selector::Caller => "SendToCaller",
            Selector::Connection(_) => "SendToConnection",
            Selector::Connections(_) => "SendToConnections",
            Selector::Group(_) => "SendToGroup",
            Selector::Groups(_) => "SendToGroups",
            Selector::GroupExcept(..) => "SendToGroupExcept",
            Selector::OthersInGroup(_) => "SendToOthersInGroup",
            Selector::User(_) => "SendToUser",
            Selector::Users(_) => "SendToUsers",
        }
    }

    /// The group arguments the selector addresses, `null` ones included, in the order sent:
    /// one for `Group`, `GroupExcept` and `OthersInGroup`, each listed one for `Groups`, none
    /// for the selectors that do not address groups.
    pub fn group_args(&self) -> &[GroupArg<N>] {
        match self {
            Selector::Group(g) | Selector::GroupExcept(g, _) | Selector::OthersInGroup(g) => {
                std::slice::from_ref(g)
            }
            Selector::Groups(gs) => gs,
            _ => &[],
        }
    }

    /// The groups the selector addresses by name (its non-null [`group_args`](Self::group_args)).
    pub fn group_names(&self) -> impl Iterator<Item = &N::Group> {
        self.group_args().iter().flatten()
    }

    /// Whether the recipients can include connections outside the sending case's own groups
    /// and connections (`All`, `AllExcept`, `Others`): such cases cannot share a server with
    /// other cases running in parallel.
    pub fn is_broadcast(&self) -> bool {
        matches!(
            self,
            Selector::All | Selector::AllExcept(_) | Selector::Others
        )
    }
}

/// A membership change an operation asks for: `target` added to (`add`) or removed from `group`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MembershipChange<'a, N: Names> {
    /// The connection the change is about (the caller, for the self-addressed ops).
    pub target: Target,
    /// The group (or room) name.
    pub group: &'a N::Group,
    /// `true` for an add or join, `false` for a remove or leave.
    pub add: bool,
}

impl<N: Names> Op<N> {
    /// The connection that invokes this operation over its socket, if it is an invocation.
    pub fn caller(&self) -> Option<ConnId> {
        match self {
            Op::AddToGroup { caller, .. }
            | Op::RemoveFromGroup { caller, .. }
            | Op::AddConnectionToGroup { caller, .. }
            | Op::RemoveConnectionFromGroup { caller, .. }
            | Op::JoinRoom { caller, .. }
            | Op::LeaveRoom { caller, .. }
            | Op::Send { caller, .. } => Some(*caller),
            _ => None,
        }
    }

    /// The membership change this operation asks for, if it is a membership operation with a
    /// non-null group name (whether the hub then makes it is the model's business).
    pub fn membership_change(&self) -> Option<MembershipChange<'_, N>> {
        let (target, group, add) = match self {
            Op::AddToGroup { caller, group }
            | Op::JoinRoom {
                caller,
                room: group,
            } => (Target::Id(*caller), group, true),
            Op::RemoveFromGroup { caller, group }
            | Op::LeaveRoom {
                caller,
                room: group,
            } => (Target::Id(*caller), group, false),
            Op::AddConnectionToGroup { target, group, .. } => (*target, group, true),
            Op::RemoveConnectionFromGroup { target, group, .. } => (*target, group, false),
            _ => return None,
        };
        Some(MembershipChange {
            target,
            group: group.as_ref()?,
            add,
        })
    }

    /// Every group or room argument the operation carries, `null` ones included: the group of
    /// a membership op, the groups a send addresses.
    pub fn group_args(&self) -> &[GroupArg<N>] {
        match self {
            Op::AddToGroup { group, .. }
            | Op::RemoveFromGroup { group, .. }
            | Op::AddConnectionToGroup { group, .. }
            | Op::RemoveConnectionFromGroup { group, .. }
            | Op::JoinRoom { room: group, .. }
            | Op::LeaveRoom { room: group, .. } => std::slice::from_ref(group),
            Op::Send { selector, .. } => selector.group_args(),
            _ => &[],
        }
    }

    /// The capabilities a target must have for this operation under `profile`: `restart` for
    /// a restart, `rooms` for a room op, `stateful-reconnect` for a drop, resume or expire
    /// under `core-stateful` (under `core` a drop just ends the connection, and `classic`
    /// reconnects by its own protocol).
    pub fn needs(&self, profile: Profile) -> BTreeSet<Capability> {
        let mut caps = BTreeSet::new();
        match self {
            Op::Restart => {
                caps.insert(Capability::Restart);
            }
            Op::JoinRoom { .. } | Op::LeaveRoom { .. } => {
                caps.insert(Capability::Rooms);
            }
            Op::Drop { .. } | Op::Resume { .. } | Op::Expire { .. }
                if profile == Profile::CoreStateful =>
            {
                caps.insert(Capability::StatefulReconnect);
            }
            _ => {}
        }
        caps
    }

    /// A short stable name of the operation's kind, used in coverage tables.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Connect { .. } => "Connect",
            Op::Disconnect { .. } => "Disconnect",
            Op::Drop { .. } => "Drop",
            Op::Resume { .. } => "Resume",
            Op::Expire { .. } => "Expire",
            Op::Restart => "Restart",
            Op::AddToGroup { .. } => "AddToGroup",
            Op::RemoveFromGroup { .. } => "RemoveFromGroup",
            Op::AddConnectionToGroup { .. } => "AddConnectionToGroup",
            Op::RemoveConnectionFromGroup { .. } => "RemoveConnectionFromGroup",
            Op::JoinRoom { .. } => "JoinRoom",
            Op::LeaveRoom { .. } => "LeaveRoom",
            Op::Send { selector, .. } => selector.method(),
        }
    }
}

/// The capabilities a history needs under `profile`: the union of [`Op::needs`].
pub fn needs<N: Names>(ops: &[Op<N>], profile: Profile) -> BTreeSet<Capability> {
    ops.iter().flat_map(|op| op.needs(profile)).collect()
}

/// Whether a history needs the hub to itself rather than sharing it with other histories run
/// in parallel: it broadcasts (`All`, `AllExcept`, `Others`), restarts the server, or names the
/// empty group, which a runner cannot make unique to the history by a prefix.
pub fn is_exclusive(ops: &[Op<Text>]) -> bool {
    ops.iter().any(|op| match op {
        Op::Restart => true,
        Op::Send { selector, .. } if selector.is_broadcast() => true,
        _ => op.group_args().iter().any(|g| g.as_deref() == Some("")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(name: &str) -> GroupArg<Text> {
        Some(name.to_string())
    }

    #[test]
    fn a_membership_change_names_its_target_group_and_direction() {
        let c = ConnId(1);
        let by_id = Op::<Text>::RemoveConnectionFromGroup {
            caller: c,
            target: Target::Unknown,
            group: g("a"),
        };
        let change = by_id.membership_change().unwrap();
        assert_eq!(
            (change.target, change.group.as_str(), change.add),
            (Target::Unknown, "a", false)
        );
        let join = Op::<Text>::JoinRoom {
            caller: c,
            room: g("r"),
        };
        let change = join.membership_change().unwrap();
        assert_eq!(
            (change.target, change.group.as_str(), change.add),
            (Target::Id(c), "r", true)
        );
        // A null name asks for no change; a send is no membership op.
        assert!(Op::<Text>::AddToGroup {
            caller: c,
            group: None
        }
        .membership_change()
        .is_none());
        assert!(Op::<Text>::Send {
            caller: c,
            selector: Selector::All,
            payload: "m".into()
        }
        .membership_change()
        .is_none());
    }

    #[test]
    fn group_args_list_every_addressed_group_nulls_included() {
        let s = Selector::<Text>::Groups(vec![g("a"), None, g("b")]);
        assert_eq!(s.group_args().len(), 3);
        assert_eq!(s.group_names().collect::<Vec<_>>(), ["a", "b"]);
        let s = Selector::<Text>::GroupExcept(g("x"), vec![Target::Unknown]);
        assert_eq!(s.group_names().collect::<Vec<_>>(), ["x"]);
        assert!(Selector::<Text>::Users(vec!["u".into()])
            .group_args()
            .is_empty());
        assert_eq!(
            Op::<Text>::LeaveRoom {
                caller: ConnId(1),
                room: None
            }
            .group_args(),
            [None]
        );
        assert!(Op::<Text>::Restart.group_args().is_empty());
    }

    #[test]
    fn capabilities_follow_the_ops_and_the_profile() {
        let c = ConnId(1);
        let ops = [
            Op::<Text>::Drop { conn: c },
            Op::JoinRoom {
                caller: c,
                room: g("r"),
            },
        ];
        assert_eq!(
            needs(&ops, Profile::CoreStateful),
            [Capability::Rooms, Capability::StatefulReconnect].into()
        );
        assert_eq!(needs(&ops, Profile::Core), [Capability::Rooms].into());
        assert_eq!(
            Op::<Text>::Restart.needs(Profile::Classic),
            [Capability::Restart].into()
        );
    }

    #[test]
    fn broadcasts_restarts_and_the_empty_name_need_the_hub_alone() {
        let c = ConnId(1);
        let send = |selector| Op::<Text>::Send {
            caller: c,
            selector,
            payload: "m".into(),
        };
        assert!(is_exclusive(&[send(Selector::Others)]));
        assert!(is_exclusive(&[Op::Restart]));
        assert!(is_exclusive(&[send(Selector::Groups(vec![g("a"), g("")]))]));
        assert!(is_exclusive(&[Op::AddToGroup {
            caller: c,
            group: g("")
        }]));
        assert!(!is_exclusive(&[
            send(Selector::Group(g("a"))),
            Op::Disconnect { conn: c }
        ]));
    }
}
