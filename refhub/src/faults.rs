//! Named faults ("mutants"): realistic bugs the reference hub can be told to have, so that the
//! conformance suite can prove it catches each one.
//!
//! Every fault is off by default and each is observable through the contract: it changes what
//! some client receives or when. A fault is written as a change to the operations refhub gives
//! the model (a different selector, an extra remove, a late apply) or to the wire (a replay
//! buffer dropped), never as a second implementation of group semantics.
//!
//! **Every** fault's behaviour lives in this file: the hooks of `FaultState` (called by
//! `state`, with the bookkeeping some faults need) and of `WireFaults` (called by `connection`
//! and `server`) are what the rest of refhub calls, and each is a no-op for the correct hub. A hook returns operations for the
//! model to apply, or rewrites a selector, a list of deliveries or what goes on the wire; none
//! decides who is in a group or who receives a send.
//!
//! One file on purpose: every fault and every hook that perturbs refhub is here, so that "faults
//! perturb, never decide" can be audited in one place.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use axum::extract::ws::{Message, Utf8Bytes};
use hubspec_model::{
    ConnId, Delivery, GroupsFanout, Hub, Op, Selector, Spec, Status, Target, Text,
};
use hubspec_wire::classic::{GroupsToken, TokenError};
use hubspec_wire::{CompletionResult, HubMessage, HubProtocol, MessageBuffer, NegotiateResponse};

use crate::dispatch::{Call, Name};

/// One injectable bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// A new connection of a user is put back in the groups the user's earlier connections
    /// were in when they ended.
    StickyGroups,
    /// A stateful resume keeps the connection id and buffered messages but loses its groups.
    NoRejoinOnResume,
    /// `SendToOthersInGroup` also reaches the caller.
    OthersInGroupIncludesCaller,
    /// `SendToGroupExcept` ignores its exclusion list.
    GroupExceptIgnoresList,
    /// `SendToAllExcept` ignores its exclusion list.
    AllExceptIgnoresList,
    /// Group names are folded to lower case before use.
    CaseInsensitiveGroups,
    /// Adding a connection to a group it is already in makes group sends reach it twice.
    DoubleAddDeliversTwice,
    /// `SendToOthersInGroup` writes every copy twice.
    OthersInGroupTwice,
    /// Removing one member from a group removes every member.
    RemoveDropsGroup,
    /// A stateful resume replays nothing: messages buffered while suspended are lost.
    BufferLostOnResume,
    /// Memberships of a user's connections survive a restart and come back on the user's next
    /// connection.
    MembershipsSurviveRestart,
    /// Rooms records are kept but a new connection is not put back in its rooms.
    RoomsNotRestored,
    /// `SendToGroups` fans out the opposite way to the configured `groups_fanout`.
    GroupsFanoutOpposite,
    /// `SendToUser` and `SendToUsers` skip the newest connection of each user.
    UserSendMissesOne,
    /// A membership change takes effect a short moment after its Completion was written.
    LateMembership,
    /// A send to a group no add has ever named fails (the hub expects groups to be created first).
    UnjoinedGroupSendFails,
    /// A group that empties remembers its last member, who is back in it when the group is joined again.
    EmptiedGroupKeepsMember,
    /// Removing a live connection from a group it is not in fails.
    RemoveNonmemberFails,
    /// Adding to or removing from the group named `""` is refused, as if the name were null.
    EmptyNameRefused,
    /// A null group or room name is taken as the empty name instead of being refused.
    NullNameAccepted,
    /// A null connection id given on its own is a silent no-op instead of an error.
    NullConnectionIdIgnored,
    /// Adding a connection to a group takes it out of every other group.
    OneGroupPerConnection,
    /// Adding or removing a connection id that no connection ever had fails.
    UnknownIdFails,
    /// Adding or removing the id of a connection that has ended fails.
    ClosedIdFails,
    /// `AddConnectionToGroup` for another connection completes but adds nothing.
    AddByIdIgnored,
    /// A connection that ends stays in its groups as a dead member, and a send to such a group fails.
    EndedMemberBreaksGroupSend,
    /// A new connection gets the id of the last connection that ended.
    IdsReused,
    /// Without stateful reconnect, a connection whose transport was lost comes back in its groups on its user's next connection.
    CoreDropRejoins,
    /// Adds and removes by id of a suspended connection are ignored.
    SuspendedIgnoresMembership,
    /// A suspended connection never expires: the disconnect timeout does nothing.
    ExpireNever,
    /// A stateful connection the client closed gracefully is only suspended and can be resumed.
    GracefulCloseResumable,
    /// `SendToAll` does not reach the caller.
    SendAllSkipsCaller,
    /// `SendToOthers` also reaches the caller.
    OthersIncludesCaller,
    /// `SendToCaller` is sent as `SendToOthers` (the wrong proxy): everyone but the caller gets it.
    CallerSendToOthers,
    /// `SendToConnection` to an id that is not live fails instead of reaching nobody.
    ConnectionSendToUnknownFails,
    /// `SendToConnections` delivers one copy per time an id is listed.
    ConnectionsDuplicates,
    /// `SendToGroup` skips the caller, as `SendToOthersInGroup` does.
    GroupSendSkipsCaller,
    /// `SendToGroups` skips null and empty names instead of failing at them.
    GroupsEmptyNameSkipped,
    /// A `SendToAll` message to a connection other than the caller is held back and written
    /// after the next message to that connection.
    FifoSwapped,
    /// The tokens of stateful connections survive a restart, so a socket at an old token is accepted.
    RestartKeepsTokens,
    /// `LeaveRoom` removes the caller from the room but keeps the record.
    LeaveRoomKeepsRecord,
    /// A new connection with a user is restored to every user's rooms.
    RoomsAnyUser,
    /// `JoinRoom` and `LeaveRoom` from a connection without a user act as a plain add or remove.
    RoomsWithoutUser,
    /// The negotiate response has no `connectionToken`.
    NegotiateMissingToken,
    /// The handshake answer `{}` is written without its record separator, so the Ping written
    /// right after it runs into it.
    HandshakeWithoutSeparator,
    /// Every frame is written as a binary WebSocket frame.
    BinaryFrames,
    /// `Receive` records are written without their closing brace.
    ReceiveNotJson,
    /// Every Completion that carries an error is written twice (the error path writes it, then
    /// the common path again).
    CompletionTwice,
    /// An invocation of an unknown method gets no Completion.
    UnknownMethodIgnored,
    /// A client Ping less than a second after the previous one is taken for a flood and
    /// closes the connection.
    PingFloodCloses,
    /// A client Close is answered with the close frame alone, no Close message.
    CloseWithoutMessage,
    /// A resume replays without writing a Sequence first.
    SequenceMissingOnResume,
    /// `GetConnectionId` from a connection that is in a group (other than its restored rooms)
    /// is never answered.
    GetConnectionIdHangs,
    // [classic] The classic endpoint's faults (listed in `Fault::CLASSIC`).
    /// A classic reconnect does not verify the groups token: the connection gets back the
    /// groups it had at the drop, whatever token it presents.
    ClassicTokenUnverified,
    /// A classic reconnect rejoins no group, whatever its token.
    ClassicNoRejoin,
    /// A classic reconnect replays nothing from its cursor: messages sent while it was away are lost.
    ClassicNoReplay,
    /// A classic reconnect accepts a groups token issued to another connection and rejoins its groups.
    ClassicForeignToken,
    /// A classic add or remove of an id that is not live completes at once, successfully
    /// (as in ASP.NET Core), instead of being cancelled when no acknowledgement comes.
    ClassicUnknownIdSucceeds,
    /// A classic send to the group named `""` is taken as an ordinary group name (as in
    /// ASP.NET Core) instead of being refused.
    ClassicEmptyNameAccepted,
    // [timing]
    /// `SendToOthers` completes before its messages are queued (a hub method that does not
    /// await `Clients.Others.SendAsync`): they go out a moment after the Completion.
    SendCompletesBeforeQueue,
    /// Rooms records are kept in memory only: a restart forgets them.
    RoomsInMemory,
    /// Under profile `core`, the token of a connection whose transport was lost stays valid,
    /// so a socket at it is accepted (as a new connection with the old id) instead of refused.
    CoreDropResumable,
    // [msgpack]
    /// On a MessagePack connection, every `Receive` has a length prefix that does not end
    /// within 5 bytes.
    MsgpackBadLengthPrefix,
    /// On a MessagePack connection, every `Receive` has its headers as an empty array, not a
    /// map.
    MsgpackHeadersNotAMap,
    // [concurrency] Race faults (listed in `Fault::RACE`): each shows only when operations
    // overlap. Under any of them a membership change's Completion is held `RACE_WINDOW` after
    // the change is applied (legal by itself: the change is inside its interval), and what
    // arrives while such a window is open is mishandled. One at a time the next operation comes
    // after the Completion, so no window is ever open for it.
    /// Two adds of one (connection, group) that overlap both insert it, a racy add-if-absent
    /// (SignalR/SignalR#1819): group sends then reach it twice until it leaves.
    RacyAddDuplicates,
    /// A membership change that arrives while another change's Completion is held is applied
    /// a moment after its own Completion (commands reordered under load).
    BusyChangeAppliesLate,
    /// A group send that arrives while a change's Completion is held is fanned out a moment
    /// after its own Completion (Azure SignalR PRs #1778/#1779: the send overtakes membership).
    BusySendFansOutLate,
}

// [concurrency]
/// How long a race fault holds a membership change's Completion after applying it.
pub(crate) const RACE_WINDOW: std::time::Duration = std::time::Duration::from_millis(4);
/// How long after its Completion a race fault applies what it deferred.
pub(crate) const RACE_LATE: std::time::Duration = std::time::Duration::from_millis(25);

impl Fault {
    /// Every fault, in a stable order.
    pub const ALL: [Fault; 58] = [
        Fault::StickyGroups,
        Fault::NoRejoinOnResume,
        Fault::OthersInGroupIncludesCaller,
        Fault::GroupExceptIgnoresList,
        Fault::AllExceptIgnoresList,
        Fault::CaseInsensitiveGroups,
        Fault::DoubleAddDeliversTwice,
        Fault::OthersInGroupTwice,
        Fault::RemoveDropsGroup,
        Fault::BufferLostOnResume,
        Fault::MembershipsSurviveRestart,
        Fault::RoomsNotRestored,
        Fault::GroupsFanoutOpposite,
        Fault::UserSendMissesOne,
        Fault::LateMembership,
        Fault::UnjoinedGroupSendFails,
        Fault::EmptiedGroupKeepsMember,
        Fault::RemoveNonmemberFails,
        Fault::EmptyNameRefused,
        Fault::NullNameAccepted,
        Fault::NullConnectionIdIgnored,
        Fault::OneGroupPerConnection,
        Fault::UnknownIdFails,
        Fault::ClosedIdFails,
        Fault::AddByIdIgnored,
        Fault::EndedMemberBreaksGroupSend,
        Fault::IdsReused,
        Fault::CoreDropRejoins,
        Fault::SuspendedIgnoresMembership,
        Fault::ExpireNever,
        Fault::GracefulCloseResumable,
        Fault::SendAllSkipsCaller,
        Fault::OthersIncludesCaller,
        Fault::CallerSendToOthers,
        Fault::ConnectionSendToUnknownFails,
        Fault::ConnectionsDuplicates,
        Fault::GroupSendSkipsCaller,
        Fault::GroupsEmptyNameSkipped,
        Fault::FifoSwapped,
        Fault::RestartKeepsTokens,
        Fault::LeaveRoomKeepsRecord,
        Fault::RoomsAnyUser,
        Fault::RoomsWithoutUser,
        Fault::NegotiateMissingToken,
        Fault::HandshakeWithoutSeparator,
        Fault::BinaryFrames,
        Fault::ReceiveNotJson,
        Fault::CompletionTwice,
        Fault::UnknownMethodIgnored,
        Fault::PingFloodCloses,
        Fault::CloseWithoutMessage,
        Fault::SequenceMissingOnResume,
        Fault::GetConnectionIdHangs,
        // [timing]
        Fault::SendCompletesBeforeQueue,
        Fault::RoomsInMemory,
        Fault::CoreDropResumable,
        // [msgpack]
        Fault::MsgpackBadLengthPrefix,
        Fault::MsgpackHeadersNotAMap,
    ];

    // [classic]
    /// The classic endpoint's faults. Apart from [`Fault::ALL`] while the suite cannot drive
    /// the classic endpoint (the harness speaks ASP.NET Core only): conformance hunts every
    /// fault of `ALL`, and a fault it cannot reach would fail its mutants part. They are
    /// selected with `--fault` and listed by `--list-faults` like the others, and
    /// refhub's own classic tests show each one breaking its rule.
    pub const CLASSIC: [Fault; 6] = [
        Fault::ClassicTokenUnverified,
        Fault::ClassicNoRejoin,
        Fault::ClassicNoReplay,
        Fault::ClassicForeignToken,
        Fault::ClassicUnknownIdSucceeds,
        Fault::ClassicEmptyNameAccepted,
    ];

    // [concurrency]
    /// The race faults. Apart from [`Fault::ALL`]: the one-at-a-time parts cannot catch them
    /// (no window is open when the next operation arrives), so only the concurrent part hunts
    /// them (`hubspec bench concurrency`, `conformance/tests/concurrent.rs`).
    pub const RACE: [Fault; 3] = [
        Fault::RacyAddDuplicates,
        Fault::BusyChangeAppliesLate,
        Fault::BusySendFansOutLate,
    ];

    /// Every fault: [`Fault::ALL`], then [`Fault::CLASSIC`], then [`Fault::RACE`].
    pub fn every() -> impl Iterator<Item = Fault> {
        Fault::ALL
            .into_iter()
            .chain(Fault::CLASSIC)
            .chain(Fault::RACE)
    }

    /// The fault's name on the command line (`--fault NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::StickyGroups => "sticky-groups",
            Fault::NoRejoinOnResume => "no-rejoin-on-resume",
            Fault::OthersInGroupIncludesCaller => "others-in-group-includes-caller",
            Fault::GroupExceptIgnoresList => "group-except-ignores-list",
            Fault::AllExceptIgnoresList => "all-except-ignores-list",
            Fault::CaseInsensitiveGroups => "case-insensitive-groups",
            Fault::DoubleAddDeliversTwice => "double-add-delivers-twice",
            Fault::OthersInGroupTwice => "others-in-group-twice",
            Fault::RemoveDropsGroup => "remove-drops-group",
            Fault::BufferLostOnResume => "buffer-lost-on-resume",
            Fault::MembershipsSurviveRestart => "memberships-survive-restart",
            Fault::RoomsNotRestored => "rooms-not-restored",
            Fault::GroupsFanoutOpposite => "groups-fanout-opposite",
            Fault::UserSendMissesOne => "user-send-misses-one",
            Fault::LateMembership => "late-membership",
            Fault::UnjoinedGroupSendFails => "unjoined-group-send-fails",
            Fault::EmptiedGroupKeepsMember => "emptied-group-keeps-member",
            Fault::RemoveNonmemberFails => "remove-nonmember-fails",
            Fault::EmptyNameRefused => "empty-name-refused",
            Fault::NullNameAccepted => "null-name-accepted",
            Fault::NullConnectionIdIgnored => "null-connection-id-ignored",
            Fault::OneGroupPerConnection => "one-group-per-connection",
            Fault::UnknownIdFails => "unknown-id-fails",
            Fault::ClosedIdFails => "closed-id-fails",
            Fault::AddByIdIgnored => "add-by-id-ignored",
            Fault::EndedMemberBreaksGroupSend => "ended-member-breaks-group-send",
            Fault::IdsReused => "ids-reused",
            Fault::CoreDropRejoins => "core-drop-rejoins",
            Fault::SuspendedIgnoresMembership => "suspended-ignores-membership",
            Fault::ExpireNever => "expire-never",
            Fault::GracefulCloseResumable => "graceful-close-resumable",
            Fault::SendAllSkipsCaller => "send-all-skips-caller",
            Fault::OthersIncludesCaller => "others-includes-caller",
            Fault::CallerSendToOthers => "caller-send-to-others",
            Fault::ConnectionSendToUnknownFails => "connection-send-to-unknown-fails",
            Fault::ConnectionsDuplicates => "connections-duplicates",
            Fault::GroupSendSkipsCaller => "group-send-skips-caller",
            Fault::GroupsEmptyNameSkipped => "groups-empty-name-skipped",
            Fault::FifoSwapped => "fifo-swapped",
            Fault::RestartKeepsTokens => "restart-keeps-tokens",
            Fault::LeaveRoomKeepsRecord => "leave-room-keeps-record",
            Fault::RoomsAnyUser => "rooms-any-user",
            Fault::RoomsWithoutUser => "rooms-without-user",
            Fault::NegotiateMissingToken => "negotiate-missing-token",
            Fault::HandshakeWithoutSeparator => "handshake-without-separator",
            Fault::BinaryFrames => "binary-frames",
            Fault::ReceiveNotJson => "receive-not-json",
            Fault::CompletionTwice => "completion-twice",
            Fault::UnknownMethodIgnored => "unknown-method-ignored",
            Fault::PingFloodCloses => "ping-flood-closes",
            Fault::CloseWithoutMessage => "close-without-message",
            Fault::SequenceMissingOnResume => "sequence-missing-on-resume",
            Fault::GetConnectionIdHangs => "get-connection-id-hangs",
            // [classic]
            Fault::ClassicTokenUnverified => "classic-token-unverified",
            Fault::ClassicNoRejoin => "classic-no-rejoin",
            Fault::ClassicNoReplay => "classic-no-replay",
            Fault::ClassicForeignToken => "classic-foreign-token",
            Fault::ClassicUnknownIdSucceeds => "classic-unknown-id-succeeds",
            Fault::ClassicEmptyNameAccepted => "classic-empty-name-accepted",
            // [timing]
            Fault::SendCompletesBeforeQueue => "send-completes-before-queue",
            Fault::RoomsInMemory => "rooms-in-memory",
            Fault::CoreDropResumable => "core-drop-resumable",
            // [msgpack]
            Fault::MsgpackBadLengthPrefix => "msgpack-bad-length-prefix",
            Fault::MsgpackHeadersNotAMap => "msgpack-headers-not-a-map",
            // [concurrency]
            Fault::RacyAddDuplicates => "racy-add-duplicates",
            Fault::BusyChangeAppliesLate => "busy-change-applies-late",
            Fault::BusySendFansOutLate => "busy-send-fans-out-late",
        }
    }

    /// One line saying what the bug does.
    pub fn description(self) -> &'static str {
        match self {
            Fault::StickyGroups => {
                "a new connection of a user rejoins the groups the user's ended connections were in"
            }
            Fault::NoRejoinOnResume => {
                "a stateful resume keeps the id and the buffered messages but drops every group"
            }
            Fault::OthersInGroupIncludesCaller => "SendToOthersInGroup also reaches the caller",
            Fault::GroupExceptIgnoresList => "SendToGroupExcept ignores its excluded ids",
            Fault::AllExceptIgnoresList => "SendToAllExcept ignores its excluded ids",
            Fault::CaseInsensitiveGroups => "group names are compared case-insensitively",
            Fault::OthersInGroupTwice => "SendToOthersInGroup delivers every copy twice",
            Fault::DoubleAddDeliversTwice => {
                "adding a member twice makes each group send reach it twice"
            }
            Fault::RemoveDropsGroup => "removing one member empties the whole group",
            Fault::BufferLostOnResume => {
                "a stateful resume replays nothing: messages sent while suspended are lost"
            }
            Fault::MembershipsSurviveRestart => {
                "after a restart a user's next connection is back in the user's groups"
            }
            Fault::RoomsNotRestored => "a new connection is not put back in its user's rooms",
            Fault::GroupsFanoutOpposite => {
                "SendToGroups fans out opposite to the configured groups_fanout"
            }
            Fault::UserSendMissesOne => "SendToUser/SendToUsers skip each user's newest connection",
            Fault::LateMembership => {
                "a membership change takes effect shortly after its Completion is written"
            }
            Fault::UnjoinedGroupSendFails => "SendToGroup to a group nobody ever joined fails instead of reaching nobody",
            Fault::EmptiedGroupKeepsMember => "a group that emptied keeps its last member, who is back when someone joins it again",
            Fault::RemoveNonmemberFails => "removing a connection from a group it is not in fails",
            Fault::EmptyNameRefused => "add and remove refuse the empty group name",
            Fault::NullNameAccepted => "a null group name is taken as the empty name instead of being refused",
            Fault::NullConnectionIdIgnored => "a null connection id on its own is ignored instead of refused",
            Fault::OneGroupPerConnection => "joining a group leaves every other group",
            Fault::UnknownIdFails => "adding or removing an id no connection has fails",
            Fault::ClosedIdFails => "adding or removing the id of an ended connection fails",
            Fault::AddByIdIgnored => "AddConnectionToGroup of another connection completes and adds nothing",
            Fault::EndedMemberBreaksGroupSend => "an ended connection stays in its groups and a send to them fails",
            Fault::IdsReused => "a new connection gets the id of the last connection that ended",
            Fault::CoreDropRejoins => "under core, a user's next connection after a lost transport is back in the lost one's groups",
            Fault::SuspendedIgnoresMembership => "adds and removes by id of a suspended connection are ignored",
            Fault::ExpireNever => "a suspended connection never expires",
            Fault::GracefulCloseResumable => "a gracefully closed stateful connection is suspended and can be resumed",
            Fault::SendAllSkipsCaller => "SendToAll does not reach the caller",
            Fault::OthersIncludesCaller => "SendToOthers also reaches the caller",
            Fault::CallerSendToOthers => "SendToCaller reaches every other connection instead of the caller",
            Fault::ConnectionSendToUnknownFails => "SendToConnection to an id that is not live fails",
            Fault::ConnectionsDuplicates => "SendToConnections delivers once per listing of an id",
            Fault::GroupSendSkipsCaller => "SendToGroup skips the caller",
            Fault::GroupsEmptyNameSkipped => "SendToGroups skips null and empty names instead of failing",
            Fault::FifoSwapped => "a SendToAll message and the next message to the same connection arrive swapped",
            Fault::RestartKeepsTokens => "stateful connection tokens survive a restart and are accepted again",
            Fault::LeaveRoomKeepsRecord => "LeaveRoom keeps the room record",
            Fault::RoomsAnyUser => "a new connection is restored to every user's rooms",
            Fault::RoomsWithoutUser => "rooms calls without a user act as AddToGroup/RemoveFromGroup",
            Fault::NegotiateMissingToken => "the negotiate response lacks connectionToken",
            Fault::HandshakeWithoutSeparator => "the handshake answer {} has no record separator (a Ping runs into it)",
            Fault::BinaryFrames => "messages travel in binary WebSocket frames",
            Fault::ReceiveNotJson => "Receive records are not valid JSON",
            Fault::CompletionTwice => "every error Completion is written twice",
            Fault::UnknownMethodIgnored => "an unknown method gets no Completion",
            Fault::PingFloodCloses => "a client Ping within a second of the previous one closes the connection",
            Fault::CloseWithoutMessage => "a client Close is answered without a Close message",
            Fault::SequenceMissingOnResume => "a resume replays without a Sequence first",
            Fault::GetConnectionIdHangs => "GetConnectionId from a group member never completes",
            // [classic]
            Fault::ClassicTokenUnverified => "a classic reconnect ignores its groups token and gets back its groups of the drop",
            Fault::ClassicNoRejoin => "a classic reconnect rejoins no group",
            Fault::ClassicNoReplay => "a classic reconnect replays nothing from its cursor",
            Fault::ClassicForeignToken => "a classic reconnect accepts another connection's groups token",
            Fault::ClassicUnknownIdSucceeds => "a classic add or remove of an id not live succeeds at once",
            Fault::ClassicEmptyNameAccepted => "a classic send to the group \"\" is not refused",
            // [timing]
            Fault::SendCompletesBeforeQueue => "SendToOthers completes before its messages are queued; they go out a moment later",
            Fault::RoomsInMemory => "rooms records are kept in memory only and a restart forgets them",
            Fault::CoreDropResumable => "under core, a socket at the token of a lost connection is accepted instead of refused",
            // [msgpack]
            Fault::MsgpackBadLengthPrefix => {
                "MessagePack Receive messages have a length prefix that never ends"
            }
            Fault::MsgpackHeadersNotAMap => "MessagePack Receive messages carry headers as an array",
            // [concurrency]
            Fault::RacyAddDuplicates => "two overlapping adds of one member make group sends reach it twice",
            Fault::BusyChangeAppliesLate => "a membership change made while another's Completion is held applies after its own Completion",
            Fault::BusySendFansOutLate => "a group send made while a change's Completion is held fans out after its own Completion",
        }
    }

    /// The rule IDs (`hubspec_model::RULES`) this fault violates.
    pub fn breaks(self) -> &'static [&'static str] {
        match self {
            Fault::StickyGroups => &["CON-NEW-NO-GROUPS", "REC-RECONNECT-IS-NEW"],
            Fault::NoRejoinOnResume => &["REC-RESUME-KEEPS-GROUPS"],
            Fault::OthersInGroupIncludesCaller => &["SND-OTHERS-IN-GROUP"],
            Fault::GroupExceptIgnoresList => &["SND-GROUP-EXCEPT"],
            Fault::AllExceptIgnoresList => &["SND-ALL-EXCEPT"],
            Fault::CaseInsensitiveGroups => &["GRP-NAMES-ORDINAL"],
            // The second copy is the double add's doing: SND-EXACTLY-ONCE is its echo, and has
            // a fault of its own (`others-in-group-twice`).
            Fault::DoubleAddDeliversTwice => &["GRP-ADD-IDEMPOTENT"],
            Fault::OthersInGroupTwice => &["SND-EXACTLY-ONCE"],
            Fault::RemoveDropsGroup => &["GRP-REMOVE-ONE"],
            Fault::BufferLostOnResume => &["REC-RESUME-REPLAYS"],
            Fault::MembershipsSurviveRestart => &["RST-WIPES-MEMBERSHIP"],
            // After a restart too, but that is the restore's doing; a restart that forgets the
            // records is `rooms-in-memory`.
            Fault::RoomsNotRestored => &["ROOM-RESTORE-ON-CONNECT"],
            Fault::GroupsFanoutOpposite => &["SND-GROUPS-FANOUT"],
            Fault::UserSendMissesOne => &["SND-USER", "SND-USERS"],
            Fault::LateMembership => &["GRP-EFFECT-BEFORE-COMPLETION"],
            Fault::UnjoinedGroupSendFails => &["GRP-CREATE-ON-ADD", "SND-GROUP"],
            Fault::EmptiedGroupKeepsMember => &["GRP-DELETE-ON-EMPTY"],
            Fault::RemoveNonmemberFails => &["GRP-REMOVE-NONMEMBER"],
            Fault::EmptyNameRefused => &["GRP-EMPTY-NAME"],
            Fault::NullNameAccepted => &["GRP-NULL-NAME"],
            Fault::NullConnectionIdIgnored => &["GRP-NULL-CONNECTION-ID"],
            Fault::OneGroupPerConnection => &["GRP-MULTI-MEMBERSHIP"],
            Fault::UnknownIdFails => &["GRP-UNKNOWN-ID"],
            Fault::ClosedIdFails => &["GRP-CLOSED-ID"],
            Fault::AddByIdIgnored => &["GRP-ADD-BY-ID"],
            // The failing send is the dead member's doing: SND-GROUP is its echo, and has
            // faults of its own.
            Fault::EndedMemberBreaksGroupSend => &["CON-DISCONNECT-LEAVES-GROUPS"],
            Fault::IdsReused => &["CON-IDS-UNIQUE"],
            // The lost connection does end; that a socket at its token is refused is
            // `core-drop-resumable`'s.
            Fault::CoreDropRejoins => &["REC-RECONNECT-IS-NEW"],
            Fault::SuspendedIgnoresMembership => &["REC-SUSPENDED-KEEPS-GROUPS"],
            Fault::ExpireNever => &["REC-EXPIRE-ENDS"],
            Fault::GracefulCloseResumable => &["REC-GRACEFUL-NO-RESUME"],
            Fault::SendAllSkipsCaller => &["SND-ALL"],
            Fault::OthersIncludesCaller => &["SND-OTHERS"],
            Fault::CallerSendToOthers => &["SND-CALLER"],
            Fault::ConnectionSendToUnknownFails => &["SND-CONNECTION"],
            Fault::ConnectionsDuplicates => &["SND-CONNECTIONS"],
            Fault::GroupSendSkipsCaller => &["SND-GROUP"],
            Fault::GroupsEmptyNameSkipped => &["SND-GROUPS-EMPTY-NAME"],
            Fault::FifoSwapped => &["SND-FIFO"],
            Fault::RestartKeepsTokens => &["RST-NO-RESUME"],
            Fault::LeaveRoomKeepsRecord => &["ROOM-LEAVE-DELETES"],
            Fault::RoomsAnyUser => &["ROOM-PER-USER"],
            Fault::RoomsWithoutUser => &["ROOM-NEEDS-USER"],
            Fault::NegotiateMissingToken => &["PRO-NEGOTIATE"],
            Fault::HandshakeWithoutSeparator => &["PRO-HANDSHAKE"],
            Fault::BinaryFrames => &["PRO-TEXT-FRAMES"],
            Fault::ReceiveNotJson => &["PRO-WELL-FORMED"],
            Fault::CompletionTwice => &["PRO-COMPLETION"],
            Fault::UnknownMethodIgnored => &["PRO-UNKNOWN-METHOD"],
            Fault::PingFloodCloses => &["PRO-PING"],
            Fault::CloseWithoutMessage => &["PRO-CLOSE"],
            Fault::SequenceMissingOnResume => &["PRO-SEQUENCE"],
            Fault::GetConnectionIdHangs => &["PRO-RESPONSIVE"],
            // [classic]
            Fault::ClassicTokenUnverified => &["REC-CLASSIC-ALTERED-TOKEN"],
            Fault::ClassicNoRejoin => &["REC-CLASSIC-REJOIN"],
            Fault::ClassicNoReplay => &["REC-RESUME-REPLAYS"],
            Fault::ClassicForeignToken => &["REC-CLASSIC-ALTERED-TOKEN"],
            Fault::ClassicUnknownIdSucceeds => &["GRP-CLASSIC-UNKNOWN-ID-CANCELLED"],
            Fault::ClassicEmptyNameAccepted => &["SND-CLASSIC-EMPTY-NAME"],
            // [timing]
            Fault::SendCompletesBeforeQueue => &["SND-DELIVERED-BEFORE-COMPLETION"],
            Fault::RoomsInMemory => &["ROOM-SURVIVE-RESTART"],
            Fault::CoreDropResumable => &["REC-CORE-DROP-ENDS"],
            // [msgpack]
            Fault::MsgpackBadLengthPrefix => &["PRO-MSGPACK-FRAMING"],
            Fault::MsgpackHeadersNotAMap => &["PRO-MSGPACK-WELL-FORMED"],
            // [concurrency]
            // The second copy is a duplicate of the send (the concurrent checker's stream
            // check), not a second add it can see one at a time (GRP-ADD-IDEMPOTENT).
            Fault::RacyAddDuplicates => &["SND-EXACTLY-ONCE"],
            Fault::BusyChangeAppliesLate => &["GRP-EFFECT-BEFORE-COMPLETION"],
            // A late copy fits no point of its send's interval; when a later send to the same
            // connection overtakes it, the stream check sees the reordering first.
            Fault::BusySendFansOutLate => &["CC-ATOMIC-SEND", "SND-FIFO"],
        }
    }
}

/// The faults a hub runs with, and the bookkeeping some of them need (empty when no fault is
/// on). Its hooks are called by `state`; each does nothing unless its fault is on.
#[derive(Default)]
pub(crate) struct FaultState {
    on: BTreeSet<Fault>,
    /// `sticky-groups`: user → groups their ended connections were in.
    sticky: BTreeMap<String, BTreeSet<String>>,
    /// `core-drop-rejoins`: user → groups their connections lost under `core` were in.
    dropped: BTreeMap<String, BTreeSet<String>>,
    /// `memberships-survive-restart`: user → groups their connections were in at a restart.
    survived: BTreeMap<String, BTreeSet<String>>,
    /// `double-add-delivers-twice`: (connection, group) added while already a member. An entry
    /// counts only while the connection is still in the group ([`FaultState::doubled`]
    /// checks), so a leave the bookkeeping did not see (a removal another fault makes) cannot
    /// leave it doubled after a later single add.
    doubled: BTreeSet<(ConnId, String)>,
    /// `unjoined-group-send-fails`: every group name an add has named.
    joined: BTreeSet<String>,
    /// `emptied-group-keeps-member`: group → the member whose removal emptied it.
    emptied: BTreeMap<String, ConnId>,
    /// `ended-member-breaks-group-send`: groups an ended connection was in.
    dead: BTreeSet<String>,
    /// `closed-id-fails`, `unknown-id-fails`: the public ids of ended connections.
    closed: BTreeSet<String>,
    /// `ids-reused`: the public id of the last connection that ended, not yet given out again.
    reusable: Option<String>,
    /// `fifo-swapped`: the `SendToAll` delivery held back for each connection, written after
    /// the next delivery to it.
    held: BTreeMap<ConnId, Delivery<Text>>,
    // [concurrency]
    /// The race faults: when the latest held Completion is written.
    busy_until: Option<std::time::Instant>,
    /// `racy-add-duplicates`: (connection, group) → when its add's held Completion is written.
    adding: BTreeMap<(ConnId, String), std::time::Instant>,
}

/// What an invocation's membership change was before the model applied it.
pub(crate) struct Before {
    /// (connection, group, add?) the operation is about, when it names a connection id.
    about: Option<(ConnId, String, bool)>,
    /// Whether that connection was in that group.
    was_member: bool,
    /// Whether that group had no member.
    group_was_empty: bool,
}

/// How a connection ended, as far as the faults care.
pub(crate) struct Ended<'a> {
    pub(crate) id: ConnId,
    pub(crate) public_id: &'a str,
    /// Its transport was lost under profile `core` (the model's `Drop` ends it).
    pub(crate) lost_on_core: bool,
}

impl FaultState {
    /// The bookkeeping for a hub with the faults `on`.
    pub(crate) fn new(on: BTreeSet<Fault>) -> FaultState {
        FaultState {
            on,
            ..FaultState::default()
        }
    }

    fn has(&self, fault: Fault) -> bool {
        self.on.contains(&fault)
    }

    /// The spec operations are judged by: `groups-fanout-opposite` flips the fan-out.
    pub(crate) fn spec(&self, mut spec: Spec) -> Spec {
        if self.has(Fault::GroupsFanoutOpposite) {
            spec.groups_fanout = match spec.groups_fanout {
                GroupsFanout::PerGroup => GroupsFanout::Once,
                GroupsFanout::Once => GroupsFanout::PerGroup,
            };
        }
        spec
    }

    /// A group or room name as the client sent it, as refhub uses it: `case-insensitive-groups`
    /// folds it to lower case, `null-name-accepted` takes null for `""`.
    pub(crate) fn fold(&self, name: Name) -> Name {
        let name = match name {
            None if self.has(Fault::NullNameAccepted) => Some(String::new()),
            name => name,
        };
        if self.has(Fault::CaseInsensitiveGroups) {
            name.map(|n| n.to_lowercase())
        } else {
            name
        }
    }

    /// A new connection's public id: `fresh`, or with `ids-reused` the last ended one's.
    pub(crate) fn public_id(&mut self, fresh: String) -> String {
        match self.reusable.take() {
            Some(id) if self.has(Fault::IdsReused) => id,
            _ => fresh,
        }
    }

    /// The target of `AddConnectionToGroup` / `RemoveConnectionFromGroup` for the client's id
    /// argument `id`, which refhub resolved to `target`.
    pub(crate) fn rewrite_member_target(
        &self,
        hub: &Hub,
        id: Option<&str>,
        target: Target,
    ) -> Target {
        match (id, target) {
            (None, Target::Null) if self.has(Fault::NullConnectionIdIgnored) => Target::Unknown,
            (Some(id), Target::Unknown) if self.closed.contains(id) => {
                if self.has(Fault::ClosedIdFails) {
                    Target::Null
                } else {
                    target
                }
            }
            (Some(_), Target::Unknown) if self.has(Fault::UnknownIdFails) => Target::Null,
            (_, Target::Id(t))
                if self.has(Fault::SuspendedIgnoresMembership)
                    && hub.conn(t).is_some_and(|c| c.status == Status::Suspended) =>
            {
                Target::Unknown
            }
            _ => target,
        }
    }

    /// The operation an invocation gives the model (before its rooms record is written).
    pub(crate) fn rewrite_op(&self, hub: &Hub, op: Op<Text>) -> Op<Text> {
        let member =
            |c: ConnId, g: &Option<String>| g.as_deref().is_some_and(|g| is_member(hub, c, g));
        let no_user = |c: ConnId| hub.conn(c).is_some_and(|c| c.user.is_none());
        match op {
            Op::AddToGroup {
                caller,
                group: Some(g),
            } if g.is_empty() && self.has(Fault::EmptyNameRefused) => Op::AddToGroup {
                caller,
                group: None,
            },
            Op::RemoveFromGroup {
                caller,
                group: Some(g),
            } if g.is_empty() && self.has(Fault::EmptyNameRefused) => Op::RemoveFromGroup {
                caller,
                group: None,
            },
            Op::RemoveFromGroup { caller, group }
                if self.has(Fault::RemoveNonmemberFails) && !member(caller, &group) =>
            {
                Op::RemoveFromGroup {
                    caller,
                    group: None,
                }
            }
            Op::RemoveConnectionFromGroup {
                caller,
                target: Target::Id(t),
                group,
            } if self.has(Fault::RemoveNonmemberFails)
                && hub.conn(t).is_some()
                && !member(t, &group) =>
            {
                Op::RemoveConnectionFromGroup {
                    caller,
                    target: Target::Id(t),
                    group: None,
                }
            }
            Op::AddConnectionToGroup {
                caller,
                target: Target::Id(t),
                group,
            } if t != caller && self.has(Fault::AddByIdIgnored) => Op::AddConnectionToGroup {
                caller,
                target: Target::Unknown,
                group,
            },
            Op::JoinRoom { caller, room }
                if no_user(caller) && self.has(Fault::RoomsWithoutUser) =>
            {
                Op::AddToGroup {
                    caller,
                    group: room,
                }
            }
            Op::LeaveRoom { caller, room }
                if (no_user(caller) && self.has(Fault::RoomsWithoutUser))
                    || self.has(Fault::LeaveRoomKeepsRecord) =>
            {
                Op::RemoveFromGroup {
                    caller,
                    group: room,
                }
            }
            op => op,
        }
    }

    /// Operations to apply right after the model connected `id` (already in its rooms):
    /// `rooms-not-restored` takes it out of them; `sticky-groups`, `core-drop-rejoins` and
    /// `memberships-survive-restart` put it in its user's old groups, `rooms-any-user` in
    /// every other user's rooms.
    pub(crate) fn on_connect(&self, hub: &Hub, id: ConnId) -> Vec<Op<Text>> {
        let mut ops = Vec::new();
        if self.has(Fault::RoomsNotRestored) {
            ops.extend(
                groups_of(hub, id)
                    .into_iter()
                    .map(|group| Op::RemoveFromGroup {
                        caller: id,
                        group: Some(group),
                    }),
            );
        }
        let Some(user) = hub.conn(id).and_then(|c| c.user.as_ref()) else {
            return ops;
        };
        let mut extra: BTreeSet<String> = BTreeSet::new();
        if self.has(Fault::StickyGroups) {
            extra.extend(self.sticky.get(user).into_iter().flatten().cloned());
        }
        if self.has(Fault::CoreDropRejoins) {
            extra.extend(self.dropped.get(user).into_iter().flatten().cloned());
        }
        if self.has(Fault::MembershipsSurviveRestart) {
            extra.extend(self.survived.get(user).into_iter().flatten().cloned());
        }
        if self.has(Fault::RoomsAnyUser) {
            for records in hub.rooms.iter().filter(|r| &r.user != user) {
                extra.extend(records.rooms.iter().cloned());
            }
        }
        ops.extend(extra.into_iter().map(|group| Op::AddToGroup {
            caller: id,
            group: Some(group),
        }));
        ops
    }

    /// Called before the model ends a connection: what some faults remember of it.
    pub(crate) fn on_end(&mut self, hub: &Hub, ended: Ended<'_>) {
        let id = ended.id;
        let user = hub.conn(id).and_then(|c| c.user.clone());
        let groups = groups_of(hub, id);
        if let Some(user) = user {
            if self.has(Fault::StickyGroups) {
                let sticky = self.sticky.entry(user.clone()).or_default();
                sticky.extend(groups.iter().cloned());
            }
            if self.has(Fault::CoreDropRejoins) && ended.lost_on_core {
                let dropped = self.dropped.entry(user).or_default();
                dropped.extend(groups.iter().cloned());
            }
        }
        if self.has(Fault::EndedMemberBreaksGroupSend) {
            self.dead.extend(groups);
        }
        if self.has(Fault::ClosedIdFails) || self.has(Fault::UnknownIdFails) {
            // `unknown-id-fails` needs them too, to leave an ended connection's id alone.
            self.closed.insert(ended.public_id.to_owned());
        }
        if self.has(Fault::IdsReused) {
            self.reusable = Some(ended.public_id.to_owned());
        }
        self.doubled.retain(|(c, _)| *c != id);
        self.held.remove(&id);
    }

    /// `graceful-close-resumable`: whether a stateful connection the client closed is only
    /// suspended.
    pub(crate) fn suspends_on_close(&self) -> bool {
        self.has(Fault::GracefulCloseResumable)
    }

    /// Whether the disconnect timeout ends a suspended connection (`expire-never`: no).
    pub(crate) fn expires(&self) -> bool {
        !self.has(Fault::ExpireNever)
    }

    // [timing]
    /// Whether a restart forgets the rooms records (`rooms-in-memory`).
    pub(crate) fn forgets_rooms_on_restart(&self) -> bool {
        self.has(Fault::RoomsInMemory)
    }

    // [timing]
    /// Whether the token of a connection lost under `core` stays valid (`core-drop-resumable`).
    pub(crate) fn keeps_token_on_core_drop(&self) -> bool {
        self.has(Fault::CoreDropResumable)
    }

    /// Whether the tokens of stateful connections survive a restart (`restart-keeps-tokens`).
    pub(crate) fn keeps_tokens_on_restart(&self) -> bool {
        self.has(Fault::RestartKeepsTokens)
    }

    /// The `Sequence` and the records a resume writes: the replay buffer's; with
    /// `buffer-lost-on-resume` nothing (the buffer is acked away and the Sequence names the
    /// next message); with `sequence-missing-on-resume` no Sequence.
    pub(crate) fn replay(&self, buffer: &mut MessageBuffer) -> (Option<HubMessage>, Vec<String>) {
        if self.has(Fault::BufferLostOnResume) {
            let next = buffer.total_sent();
            buffer.on_ack(next);
            let _ = buffer.resend();
            let sequence = HubMessage::Sequence {
                sequence_id: next + 1,
            };
            return (Some(sequence), Vec::new());
        }
        let (sequence, records) = buffer.resend();
        let sequence = (!self.has(Fault::SequenceMissingOnResume)).then_some(sequence);
        (sequence, records)
    }

    /// Operations to apply once the model resumed `id`: `no-rejoin-on-resume` removes it from
    /// every group.
    pub(crate) fn on_resume(&self, hub: &Hub, id: ConnId) -> Vec<Op<Text>> {
        if !self.has(Fault::NoRejoinOnResume) {
            return Vec::new();
        }
        groups_of(hub, id)
            .into_iter()
            .map(|group| Op::RemoveFromGroup {
                caller: id,
                group: Some(group),
            })
            .collect()
    }

    /// Called before the model's `Restart`: `memberships-survive-restart` remembers each
    /// user's groups.
    pub(crate) fn on_restart(&mut self, hub: &Hub) {
        if self.has(Fault::MembershipsSurviveRestart) {
            for c in &hub.conns {
                if let Some(user) = &c.user {
                    self.survived
                        .entry(user.clone())
                        .or_default()
                        .extend(c.groups.iter().cloned());
                }
            }
        }
        self.doubled.clear();
        self.held.clear();
    }

    /// `late-membership`: whether the operation of `call` is applied only after its Completion
    /// (a membership change the model would perform); `send-completes-before-queue`: the same
    /// for a `SendToOthers`, which cannot fail, so its Completion is right as it is.
    pub(crate) fn defers(&self, hub: &Hub, call: &Call, op: &Op<Text>) -> bool {
        // [concurrency]
        if self.busy() {
            if self.has(Fault::BusyChangeAppliesLate)
                && call.is_membership()
                && op.membership_change().is_some()
            {
                return true;
            }
            if self.has(Fault::BusySendFansOutLate)
                && matches!(
                    op,
                    Op::Send {
                        selector: Selector::Group(Some(_))
                            | Selector::Groups(_)
                            | Selector::OthersInGroup(Some(_))
                            | Selector::GroupExcept(Some(_), _),
                        ..
                    }
                )
            {
                return true;
            }
        }
        // [timing]
        if self.has(Fault::SendCompletesBeforeQueue)
            && matches!(
                op,
                Op::Send {
                    selector: Selector::Others,
                    ..
                }
            )
        {
            return true;
        }
        if !self.has(Fault::LateMembership) || !call.is_membership() {
            return false;
        }
        // Only a change the model would make: a null group or id is refused at once.
        match op {
            Op::AddToGroup { group, .. } | Op::RemoveFromGroup { group, .. } => group.is_some(),
            Op::AddConnectionToGroup { group, target, .. }
            | Op::RemoveConnectionFromGroup { group, target, .. } => {
                group.is_some() && *target != Target::Null
            }
            Op::JoinRoom { caller, room } | Op::LeaveRoom { caller, room } => {
                room.is_some() && hub.conn(*caller).is_some_and(|c| c.user.is_some())
            }
            _ => false,
        }
    }

    /// The selector a send is given to the model with: the client's, or the
    /// faulty one. A selector made to fail names a null group or id, which the model refuses.
    pub(crate) fn rewrite_selector(&self, hub: &Hub, selector: Selector<Text>) -> Selector<Text> {
        match selector {
            Selector::All if self.has(Fault::SendAllSkipsCaller) => Selector::Others,
            Selector::Others if self.has(Fault::OthersIncludesCaller) => Selector::All,
            Selector::Caller if self.has(Fault::CallerSendToOthers) => Selector::Others,
            Selector::Connection(Target::Unknown)
                if self.has(Fault::ConnectionSendToUnknownFails) =>
            {
                Selector::Connection(Target::Null)
            }
            Selector::Connection(Target::Null) if self.has(Fault::NullConnectionIdIgnored) => {
                Selector::Connection(Target::Unknown)
            }
            Selector::Group(Some(g))
                if self.has(Fault::UnjoinedGroupSendFails) && !self.joined.contains(&g) =>
            {
                Selector::Group(None)
            }
            Selector::Group(Some(g))
                if self.has(Fault::EndedMemberBreaksGroupSend) && self.dead.contains(&g) =>
            {
                Selector::Group(None)
            }
            Selector::Group(g) if self.has(Fault::GroupSendSkipsCaller) => {
                Selector::OthersInGroup(g)
            }
            Selector::Groups(gs) if self.has(Fault::GroupsEmptyNameSkipped) => Selector::Groups(
                gs.into_iter()
                    .filter(|g| g.as_deref().is_some_and(|g| !g.is_empty()))
                    .collect(),
            ),
            Selector::AllExcept(_) if self.has(Fault::AllExceptIgnoresList) => Selector::All,
            Selector::GroupExcept(g, _) if self.has(Fault::GroupExceptIgnoresList) => {
                Selector::Group(g)
            }
            Selector::OthersInGroup(g) if self.has(Fault::OthersInGroupIncludesCaller) => {
                Selector::Group(g)
            }
            Selector::User(u) if self.has(Fault::UserSendMissesOne) => users_but_newest(hub, &[u]),
            Selector::Users(us) if self.has(Fault::UserSendMissesOne) => users_but_newest(hub, &us),
            other => other,
        }
    }

    /// Notes what an invocation's operation is about before the model applies it.
    pub(crate) fn before_invocation(&mut self, hub: &Hub, op: &Op<Text>) -> Before {
        if self.has(Fault::UnjoinedGroupSendFails) {
            if let Some(change) = op.membership_change().filter(|c| c.add) {
                self.joined.insert(change.group.clone());
            }
        }
        let about: Option<(ConnId, String, bool)> =
            op.membership_change().and_then(|c| match c.target {
                Target::Id(t) => Some((t, c.group.clone(), c.add)),
                _ => None,
            });
        let was_member = about
            .as_ref()
            .is_some_and(|(c, g, _)| is_member(hub, *c, g));
        let group_was_empty = about
            .as_ref()
            .is_some_and(|(_, g, _)| hub.members(g).next().is_none());
        Before {
            about,
            was_member,
            group_was_empty,
        }
    }

    /// The deliveries to write for an invocation the model has applied:
    /// `double-add-delivers-twice`, `others-in-group-twice` and `connections-duplicates` copy
    /// some, `fifo-swapped`
    /// holds one back or writes it after the next.
    pub(crate) fn rewrite_deliveries(
        &mut self,
        hub: &Hub,
        op: &Op<Text>,
        before: &Before,
        deliveries: Vec<Delivery<Text>>,
    ) -> Vec<Delivery<Text>> {
        let mut deliveries = deliveries;
        // [concurrency]
        if self.has(Fault::RacyAddDuplicates) {
            self.racy_add(before);
            if let Op::Send { selector, .. } = op {
                deliveries = self.doubled(hub, selector, deliveries);
            }
        }
        if self.has(Fault::DoubleAddDeliversTwice) {
            if let Some((c, g, add)) = &before.about {
                // Only an add to a group the connection is already in doubles; a first add
                // (or a remove) leaves it single, whatever an earlier membership did.
                if *add && before.was_member {
                    self.doubled.insert((*c, g.clone()));
                } else {
                    self.doubled.remove(&(*c, g.clone()));
                }
            }
            if let Op::Send { selector, .. } = op {
                deliveries = self.doubled(hub, selector, deliveries);
            }
        }
        if let Op::Send {
            selector: Selector::OthersInGroup(_),
            ..
        } = op
        {
            if self.has(Fault::OthersInGroupTwice) {
                deliveries = deliveries
                    .into_iter()
                    .flat_map(|d| [d.clone(), d])
                    .collect();
            }
        }
        if let Op::Send {
            selector: Selector::Connections(ids),
            ..
        } = op
        {
            if self.has(Fault::ConnectionsDuplicates) {
                deliveries = deliveries
                    .into_iter()
                    .flat_map(|d| {
                        let n = ids.iter().filter(|t| **t == Target::Id(d.to)).count();
                        std::iter::repeat_n(d, n.max(1))
                    })
                    .collect();
            }
        }
        if self.has(Fault::FifoSwapped) {
            let (all, caller) = match op {
                Op::Send {
                    selector, caller, ..
                } => (*selector == Selector::All, Some(*caller)),
                _ => (false, None),
            };
            let mut out = Vec::with_capacity(deliveries.len());
            for d in deliveries {
                if let Some(held) = self.held.remove(&d.to) {
                    out.push(d);
                    out.push(held);
                } else if all && d.mode == hubspec_model::Mode::Now && Some(d.to) != caller {
                    self.held.insert(d.to, d);
                } else {
                    out.push(d);
                }
            }
            deliveries = out;
        }
        deliveries
    }

    // [concurrency]
    /// Whether a race fault is on.
    fn races(&self) -> bool {
        Fault::RACE.iter().any(|f| self.has(*f))
    }

    /// Whether a held Completion's window is open now.
    fn busy(&self) -> bool {
        self.busy_until
            .is_some_and(|t| std::time::Instant::now() < t)
    }

    /// How long after its Completion a deferred operation is applied, when a race fault
    /// deferred it (`None`: `late-membership`'s own delay).
    pub(crate) fn deferred_for(&self) -> Option<std::time::Duration> {
        self.races().then_some(RACE_LATE)
    }

    /// How long the Completion of `op`, just applied, is held: under a race fault a membership
    /// change's is held [`RACE_WINDOW`], and the window it opens is what the race faults look
    /// at.
    pub(crate) fn hold(&mut self, op: &Op<Text>) -> Option<std::time::Duration> {
        if !self.races() {
            return None;
        }
        let change = op.membership_change()?;
        let until = std::time::Instant::now() + RACE_WINDOW;
        self.busy_until = Some(self.busy_until.map_or(until, |b| b.max(until)));
        if let (true, Target::Id(c)) = (change.add, change.target) {
            self.adding.insert((c, change.group.clone()), until);
        }
        Some(RACE_WINDOW)
    }

    /// `racy-add-duplicates`: an add of a (connection, group) whose earlier add's window is
    /// still open doubles it; a remove makes it single again.
    fn racy_add(&mut self, before: &Before) {
        let Some((c, g, add)) = &before.about else {
            return;
        };
        let key = (*c, g.clone());
        let open = self
            .adding
            .get(&key)
            .is_some_and(|t| std::time::Instant::now() < *t);
        if *add && open {
            self.doubled.insert(key);
        } else if !*add {
            self.doubled.remove(&key);
        }
    }

    /// Operations to apply after an invocation's deliveries are written: `remove-drops-group`
    /// removes every other member of the group a member was removed from;
    /// `one-group-per-connection` takes a connection added to a group out of its others;
    /// `emptied-group-keeps-member` puts back the member that emptied a group re-created now.
    pub(crate) fn after_invocation(&mut self, hub: &Hub, before: &Before) -> Vec<Op<Text>> {
        let Some((c, g, add)) = &before.about else {
            return Vec::new();
        };
        let mut ops = Vec::new();
        if !add && before.was_member && self.has(Fault::RemoveDropsGroup) {
            ops.extend(hub.members(g).map(|other| Op::RemoveConnectionFromGroup {
                caller: *c,
                target: Target::Id(other),
                group: Some(g.clone()),
            }));
        }
        if *add && !before.was_member && self.has(Fault::OneGroupPerConnection) {
            ops.extend(
                groups_of(hub, *c)
                    .into_iter()
                    .filter(|other| other != g)
                    .map(|other| Op::RemoveConnectionFromGroup {
                        caller: *c,
                        target: Target::Id(*c),
                        group: Some(other),
                    }),
            );
        }
        if self.has(Fault::EmptiedGroupKeepsMember) {
            if !add && before.was_member && hub.members(g).next().is_none() {
                self.emptied.insert(g.clone(), *c);
            } else if *add && before.group_was_empty && is_member(hub, *c, g) {
                if let Some(old) = self.emptied.remove(g) {
                    if old != *c && hub.conn(old).is_some() {
                        ops.push(Op::AddConnectionToGroup {
                            caller: *c,
                            target: Target::Id(old),
                            group: Some(g.clone()),
                        });
                    }
                }
            }
        }
        ops
    }

    /// The text of one hub message as written to a socket speaking `protocol`:
    /// `receive-not-json` cuts a `Receive`'s closing brace (a bug of JSON encoding: JSON
    /// sockets only), `completion-twice` writes an error Completion twice.
    pub(crate) fn rewrite_record(
        &self,
        message: &HubMessage,
        text: Utf8Bytes,
        protocol: HubProtocol,
    ) -> Utf8Bytes {
        match message {
            HubMessage::Invocation { target, .. }
                if target == "Receive"
                    && self.has(Fault::ReceiveNotJson)
                    && protocol == HubProtocol::Json =>
            {
                let record = text.as_str();
                let cut = record.trim_end_matches('\u{1e}');
                let cut = cut.strip_suffix('}').unwrap_or(cut);
                Utf8Bytes::from(format!("{cut}\u{1e}"))
            }
            HubMessage::Completion {
                result: CompletionResult::Error(_),
                ..
            } if self.has(Fault::CompletionTwice) => {
                Utf8Bytes::from(format!("{0}{0}", text.as_str()))
            }
            _ => text,
        }
    }

    /// `double-add-delivers-twice`: a second copy for each recipient that was added twice to a
    /// group the selector names and is still in it. Only deliveries the model made are copied,
    /// so the fault never reaches a connection the send does not (another session's above all).
    fn doubled(
        &self,
        hub: &Hub,
        selector: &Selector<Text>,
        deliveries: Vec<Delivery<Text>>,
    ) -> Vec<Delivery<Text>> {
        let groups: Vec<&String> = selector.group_names().collect();
        if groups.is_empty() {
            return deliveries;
        }
        let mut out = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let twice = groups
                .iter()
                .any(|g| self.doubled.contains(&(d.to, (*g).clone())) && is_member(hub, d.to, g));
            if twice {
                out.push(d.clone());
            }
            out.push(d);
        }
        out
    }

    // [classic]
    /// What a classic reconnect of `public_id` presenting `token` rejoins, as hub-qualified
    /// names (`Err`: the token is refused and nothing is rejoined; no token rejoins nothing).
    /// `held` is what the model kept for it at the drop, qualified the same way.
    /// `classic-token-unverified`: `held`, whatever the token; `classic-no-rejoin`: nothing;
    /// `classic-foreign-token`: an authentic token of another connection is taken as its own.
    pub(crate) fn classic_rejoin(
        &self,
        key: &[u8],
        public_id: &str,
        token: Option<&str>,
        held: &[String],
    ) -> Result<Vec<String>, TokenError> {
        if self.has(Fault::ClassicTokenUnverified) {
            return Ok(held.to_vec());
        }
        if self.has(Fault::ClassicNoRejoin) {
            return Ok(Vec::new());
        }
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(Vec::new());
        };
        match GroupsToken::verify(key, public_id, token) {
            Err(TokenError::OtherConnection) if self.has(Fault::ClassicForeignToken) => {
                GroupsToken::open_any_owner(key, token).map(|(_, groups)| groups)
            }
            other => other,
        }
    }

    /// Whether a classic reconnect replays what was logged after its cursor
    /// (`classic-no-replay`: no).
    pub(crate) fn classic_replays(&self) -> bool {
        !self.has(Fault::ClassicNoReplay)
    }

    /// Whether a classic add or remove the model cancelled is answered as cancelled after the
    /// ack timeout (`classic-unknown-id-succeeds`: no, as a success at once).
    pub(crate) fn classic_cancels(&self) -> bool {
        !self.has(Fault::ClassicUnknownIdSucceeds)
    }

    /// The spec an operation of a classic connection is judged by: `classic`, or with
    /// `classic-empty-name-accepted`, `base` (the core endpoint's) for a send to one group.
    pub(crate) fn classic_spec(&self, op: &Op<Text>, classic: Spec, base: Spec) -> Spec {
        let one_group = matches!(
            op,
            Op::Send {
                selector: Selector::Group(_)
                    | Selector::GroupExcept(..)
                    | Selector::OthersInGroup(_),
                ..
            }
        );
        if one_group && self.has(Fault::ClassicEmptyNameAccepted) {
            base
        } else {
            classic
        }
    }
}

/// The groups `id` is in.
fn groups_of(hub: &Hub, id: ConnId) -> Vec<String> {
    hub.conn(id)
        .map(|c| c.groups.iter().cloned().collect())
        .unwrap_or_default()
}

fn is_member(hub: &Hub, id: ConnId, group: &str) -> bool {
    hub.conn(id)
        .is_some_and(|c| c.groups.iter().any(|g| g == group))
}

/// `user-send-misses-one`: the users' connections, each user's newest left out.
fn users_but_newest(hub: &Hub, users: &[String]) -> Selector<Text> {
    let mut newest: BTreeMap<&str, ConnId> = BTreeMap::new();
    for c in &hub.conns {
        if let Some(u) = c.user.as_deref() {
            if users.iter().any(|x| x == u) {
                newest.insert(u, c.id);
            }
        }
    }
    let skip: BTreeSet<ConnId> = newest.into_values().collect();
    Selector::Connections(
        hub.conns
            .iter()
            .filter(|c| {
                c.user
                    .as_deref()
                    .is_some_and(|u| users.iter().any(|x| x == u))
            })
            .filter(|c| !skip.contains(&c.id))
            .map(|c| Target::Id(c.id))
            .collect(),
    )
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::every().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Fault::every().map(|f| f.name()).collect();
            format!(
                "unknown fault '{s}' (expected one of: {})",
                names.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `late-membership` defers only a change the model would make: a null connection id is
    /// refused at once, as a server that validates its arguments before it queues the change.
    #[test]
    fn late_membership_refuses_a_null_id_at_once() {
        let faults = FaultState::new(BTreeSet::from([Fault::LateMembership]));
        let hub = Hub::new();
        let g = Some("g".to_string());
        let by_id = |target| Op::AddConnectionToGroup {
            caller: ConnId(1),
            target,
            group: g.clone(),
        };
        let call = Call::AddConnectionToGroup(None, g.clone());
        assert!(!faults.defers(&hub, &call, &by_id(Target::Null)));
        let call = Call::AddConnectionToGroup(Some("x".into()), g.clone());
        assert!(faults.defers(&hub, &call, &by_id(Target::Unknown)));
    }

    #[test]
    fn every_fault_round_trips_through_its_name() {
        let mut names = BTreeSet::new();
        for f in Fault::every() {
            assert_eq!(f.name().parse::<Fault>(), Ok(f));
            assert!(names.insert(f.name()), "duplicate name {}", f.name());
            assert!(!f.description().is_empty());
        }
        assert!("no-such-fault".parse::<Fault>().is_err());
    }

    /// Every rule refhub can break (all but those stated for `classic` alone, a profile refhub
    /// does not serve) has a fault that breaks it, so the suite can be shown to catch each.
    #[test]
    fn every_rule_refhub_serves_has_a_fault() {
        // [concurrency] The race faults count: the concurrent part hunts them.
        let named: BTreeSet<&str> = Fault::ALL
            .iter()
            .chain(Fault::RACE.iter())
            .flat_map(|f| f.breaks().iter().copied())
            .collect();
        let served = [
            hubspec_model::Profile::Core,
            hubspec_model::Profile::CoreStateful,
        ];
        // The classic endpoint's rules: `every_classic_rule_refhub_serves_has_a_classic_fault`.
        let missing: Vec<&str> = hubspec_model::RULES
            .iter()
            .filter(|r| served.iter().any(|p| r.applies_to(*p)))
            .map(|r| r.id)
            .filter(|id| !named.contains(id))
            .collect();
        // FIXME(CC-AFTER-CLOSE): no fault breaks it yet. The recorder ends a stream when its
        // own close completes, after which the socket delivers nothing, so a hub that writes
        // after its Close could only be seen by a recorder that marks where the server's Close
        // was read.
        assert_eq!(missing, ["CC-AFTER-CLOSE"], "rules no fault breaks");
    }

    // [classic]
    /// Every rule stated for `classic` alone that the classic endpoint serves has a classic
    /// fault, and so has replay (REC-RESUME-REPLAYS), which classic keeps its own way.
    /// REC-CLASSIC-VERIFY is not served: the endpoint does not verify rejoins.
    #[test]
    fn every_classic_rule_refhub_serves_has_a_classic_fault() {
        let named: BTreeSet<&str> = Fault::CLASSIC
            .iter()
            .flat_map(|f| f.breaks().iter().copied())
            .collect();
        let only = |r: &&hubspec_model::Rule| {
            r.applies_to(hubspec_model::Profile::Classic)
                && !r.applies_to(hubspec_model::Profile::Core)
                && !r.applies_to(hubspec_model::Profile::CoreStateful)
        };
        let mut missing: Vec<&str> = hubspec_model::RULES
            .iter()
            .filter(only)
            .map(|r| r.id)
            .filter(|id| !named.contains(id) && *id != "REC-CLASSIC-VERIFY")
            .collect();
        if !named.contains("REC-RESUME-REPLAYS") {
            missing.push("REC-RESUME-REPLAYS");
        }
        assert!(
            missing.is_empty(),
            "classic rules no classic fault breaks: {missing:?}"
        );
    }

    #[test]
    fn every_fault_breaks_only_rules_that_exist() {
        for f in Fault::every() {
            assert!(!f.breaks().is_empty(), "{f} breaks no rule");
            for id in f.breaks() {
                assert!(
                    hubspec_model::rule(id).is_some(),
                    "{f} names unknown rule {id}"
                );
            }
        }
    }
}

/// The faults of the wire that need no hub state, read from the configuration's fault set by
/// `connection` and `server`.
#[derive(Clone, Copy)]
pub(crate) struct WireFaults<'a>(pub(crate) &'a BTreeSet<Fault>);

impl WireFaults<'_> {
    fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// The frame a record (or a batch of them) travels in: text, or with `binary-frames`
    /// binary.
    pub(crate) fn frame(&self, text: Utf8Bytes) -> Message {
        if self.has(Fault::BinaryFrames) {
            Message::Binary(axum::body::Bytes::copy_from_slice(text.as_bytes()))
        } else {
            Message::Text(text)
        }
    }

    /// The successful handshake answer: `{}` and the separator; under
    /// `handshake-without-separator`, `{}` and at once a Ping, which runs into it.
    pub(crate) fn handshake_success(&self, answer: String) -> String {
        if self.has(Fault::HandshakeWithoutSeparator) {
            answer + &HubMessage::Ping.to_wire()
        } else {
            answer + "\u{1e}"
        }
    }

    /// A negotiate response as sent: `negotiate-missing-token` drops the token.
    pub(crate) fn negotiate(&self, response: &mut NegotiateResponse) {
        if self.has(Fault::NegotiateMissingToken) {
            response.connection_token = None;
        }
    }

    /// Whether an invocation of `target` (`unknown`: not a contract method) from a connection
    /// (`in_group`: in some group other than its user's rooms) gets its Completion: `unknown-method-ignored` leaves an
    /// unknown method unanswered, `get-connection-id-hangs` a `GetConnectionId` from a group
    /// member.
    pub(crate) fn answers(&self, target: &str, unknown: bool, in_group: bool) -> bool {
        !(unknown && self.has(Fault::UnknownMethodIgnored)
            || in_group
                && target.eq_ignore_ascii_case("GetConnectionId")
                && self.has(Fault::GetConnectionIdHangs))
    }

    /// `ping-flood-closes`: whether a client Ping that came `since` the previous one ends the
    /// connection (under a second: taken for a flood).
    pub(crate) fn ping_closes(&self, since: Option<std::time::Duration>) -> bool {
        self.has(Fault::PingFloodCloses)
            && since.is_some_and(|d| d < std::time::Duration::from_secs(1))
    }

    /// Whether a client Close is answered with a Close message (`close-without-message`: no).
    pub(crate) fn answers_close(&self) -> bool {
        !self.has(Fault::CloseWithoutMessage)
    }

    // [msgpack]
    /// One message as written to a MessagePack socket, length prefix included: under
    /// `msgpack-bad-length-prefix` a `Receive` gets a prefix of five continuation bytes (which
    /// .NET's `BinaryMessageParser` refuses), under `msgpack-headers-not-a-map` its empty
    /// headers map (`80`) becomes an empty array (`90`).
    pub(crate) fn msgpack_message(&self, message: &HubMessage, bytes: Vec<u8>) -> Vec<u8> {
        let receive =
            matches!(message, HubMessage::Invocation { target, .. } if target == "Receive");
        if !receive {
            return bytes;
        }
        let Ok(Some((prefix, _))) = hubspec_wire::msgpack::parse_length_prefix(&bytes) else {
            return bytes;
        };
        let mut bytes = bytes;
        if self.has(Fault::MsgpackHeadersNotAMap) && bytes.get(prefix + 2) == Some(&0x80) {
            // `[1, Headers, …]`: the array marker, the type 1, then the headers.
            bytes[prefix + 2] = 0x90;
        }
        if self.has(Fault::MsgpackBadLengthPrefix) {
            let mut bad = vec![0x80; 5];
            bad.extend_from_slice(&bytes[prefix..]);
            bytes = bad;
        }
        bytes
    }
}
