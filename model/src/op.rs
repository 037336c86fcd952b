//! Operations: everything a client, the transport or the operator can do to a hub.
//!
//! An operation names its caller by [`ConnId`]; invocations come from a connected connection.
//! Group names are `Option`s because `null` is a name a client can send, and the hub must
//! answer it with an error rather than treat it as a group.

use crate::ids::{ConnId, Target};
use crate::names::{Names, Text};
use serde::{Deserialize, Serialize};

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
