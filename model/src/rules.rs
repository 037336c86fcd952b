//! The rules catalog: every behaviour the specification pins, with one stable ID each.
//!
//! The ID is the unit everything else is keyed by: the docs page `docs/src/rules/<ID>.md`, the
//! scenario tests named after it, the expected-results files and every failure message. IDs are
//! never reused or renumbered; a rule that stops holding is changed in place and its docs page
//! says why.

use crate::profile::Profile;
use serde::Serialize;

/// An optional capability of a target (CONTRACT.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// `JoinRoom` / `LeaveRoom` with durable records restored on every new connection.
    Rooms,
    /// The target can be restarted by a configured command.
    Restart,
    /// ASP.NET Core stateful reconnect (Ack/Sequence, resume at the same token).
    StatefulReconnect,
}

impl Capability {
    /// Every capability, in a stable order.
    pub const ALL: [Capability; 3] = [
        Capability::Rooms,
        Capability::Restart,
        Capability::StatefulReconnect,
    ];

    /// The capability's name in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Rooms => "rooms",
            Capability::Restart => "restart",
            Capability::StatefulReconnect => "stateful-reconnect",
        }
    }
}

impl std::str::FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                format!("unknown capability '{s}' (expected rooms, restart or stateful-reconnect)")
            })
    }
}

/// The area a rule belongs to; the ID's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Area {
    /// `GRP-`: group membership.
    Groups,
    /// `CON-`: connection lifetime.
    Connections,
    /// `REC-`: reconnect, resume and expiry.
    Reconnect,
    /// `SND-`: recipients and delivery of sends.
    Sends,
    /// `RST-`: server restart.
    Restart,
    /// `ROOM-`: membership the application persists.
    Rooms,
    /// `PRO-`: the wire protocol the suite relies on.
    Protocol,
    /// `CC-`: what holds while connections act at once (the concurrent part, issue 16).
    Concurrency,
}

impl Area {
    /// The ID prefix of the area, with its dash.
    pub fn prefix(self) -> &'static str {
        match self {
            Area::Groups => "GRP-",
            Area::Connections => "CON-",
            Area::Reconnect => "REC-",
            Area::Sends => "SND-",
            Area::Restart => "RST-",
            Area::Rooms => "ROOM-",
            Area::Protocol => "PRO-",
            Area::Concurrency => "CC-",
        }
    }
}

/// One rule of the specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable ID, e.g. `GRP-ADD-IDEMPOTENT`.
    pub id: &'static str,
    /// The area (the ID's prefix).
    pub area: Area,
    /// The rule in one sentence.
    pub statement: &'static str,
    /// Where it comes from: seed file names, ASP.NET Core source paths at a commit, docs pages,
    /// issues. The first source is the strongest.
    pub sources: &'static [&'static str],
    /// The profiles the rule is stated for; empty means every profile.
    pub profiles: &'static [Profile],
    /// The capability a target must declare for the rule to apply.
    pub needs: Option<Capability>,
    /// The variant the rule's expectation depends on (e.g. `groups_fanout`), if any.
    pub variant: Option<&'static str>,
}

impl Rule {
    /// Whether the rule is stated for `profile`.
    pub fn applies_to(&self, profile: Profile) -> bool {
        self.profiles.is_empty() || self.profiles.contains(&profile)
    }
}

/// Looks a rule up by ID.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

const SEED_NOTE: &str = "seeds/000_32f286d59c83148f.txt";
const SEED_1X: &str = "seeds/001_25d5612a7696b2db.txt";
const SEED_2X: &str = "seeds/002_7acf7a636c5fe51e.txt";
const DHLM: &str = "aspnetcore: src/SignalR/server/Core/src/DefaultHubLifetimeManager.cs @ 5498ce8d9f53a374048a432ee602b086f41dfcd8";
const HGL: &str = "aspnetcore: src/SignalR/server/Core/src/Internal/HubGroupList.cs @ 02fbb9c82fa0eb7691b54d883d7a54524c3945ff";
const HUB_CLIENTS: &str = "aspnetcore: src/SignalR/server/Core/src/Internal/HubClients.cs @ 30819bbede0fefb1dcdf7abd5bcec7651ff7a81b";
const GROUPS_MD: &str = "https://learn.microsoft.com/aspnet/core/signalr/groups";
const CALLER_CLIENTS: &str = "aspnetcore: src/SignalR/server/Core/src/Internal/HubCallerClients.cs @ 6b9bdfff014cba089e7178ebb849ff3bcf96dd5a";
const SCALEOUT_TESTS: &str = "aspnetcore: src/SignalR/server/Specification.Tests/src/ScaleoutHubLifetimeManagerTests.cs @ b89c4a3af6d0d573fb44d616b725bf3c7c238902";
const LIFETIME_TESTS: &str = "aspnetcore: src/SignalR/server/Specification.Tests/src/HubLifetimeManagerTestBase.cs @ 9ce233305d1759bdf4c1b2999fa84cec88017bf5";
const DISPATCHER: &str =
    "aspnetcore: src/SignalR/common/Http.Connections/src/Internal/HttpConnectionDispatcher.cs @ 500e036573fb845ebce9c431e73e762791815c66";
const MESSAGE_BUFFER: &str = "aspnetcore: src/SignalR/common/Shared/MessageBuffer.cs @ 1e0bf1c78ade1e23400977d1e3315af6acb51838";
const HUB_PROTOCOL: &str =
    "aspnetcore: src/SignalR/docs/specs/HubProtocol.md @ 0756473898ca1e9f8e47fcf994bfb379aee2f647";
const MSGPACK_SPEC: &str =
    "aspnetcore: src/SignalR/docs/specs/HubProtocol.md @ a4af6185ea14f8d498db324806bb67471d3c1e23";
const MSGPACK_WORKER: &str = "aspnetcore: src/SignalR/common/Protocols.MessagePack/src/Protocol/MessagePackHubProtocolWorker.cs @ 4931b1929188349b438575803bcec889a9a7d190";
const BINARY_PARSER: &str = "aspnetcore: src/SignalR/common/Shared/BinaryMessageParser.cs @ 4931b1929188349b438575803bcec889a9a7d190";
const TRANSPORTS: &str = "aspnetcore: src/SignalR/docs/specs/TransportProtocols.md @ 407d4948c1b759e93697e5b1f75c0e4aad9b5a95";
const CONFIG_MD: &str =
    "https://learn.microsoft.com/aspnet/core/signalr/configuration (stateful reconnect)";
const CLASSIC_PC: &str = "SignalR/SignalR @ 693053b89: src/Microsoft.AspNet.SignalR.Core/PersistentConnection.cs (VerifyGroups)";
const CLASSIC_GM: &str =
    "SignalR/SignalR @ 693053b89: src/Microsoft.AspNet.SignalR.Core/GroupManager.cs";
const CLASSIC_ACK: &str =
    "SignalR/SignalR @ 693053b89: src/Microsoft.AspNet.SignalR.Core/Infrastructure/AckHandler.cs (30 s threshold, TrySetCanceled)";
const CLASSIC_GROUPS_DOC: &str = "https://learn.microsoft.com/aspnet/signalr/overview/guide-to-the-api/working-with-groups (TaskCanceledException after the request times out)";
const CLASSIC: &[Profile] = &[Profile::Classic];
const STATEFUL: &[Profile] = &[Profile::CoreStateful];
const SUSPENDING: &[Profile] = &[Profile::CoreStateful, Profile::Classic];
const CORE_FAMILY: &[Profile] = &[Profile::Core, Profile::CoreStateful];

macro_rules! rule {
    ($id:literal, $area:ident, $statement:literal, [$($src:expr),* $(,)?]) => {
        rule!($id, $area, $statement, [$($src),*], &[], None, None)
    };
    ($id:literal, $area:ident, $statement:literal, [$($src:expr),* $(,)?], $profiles:expr, $needs:expr, $variant:expr) => {
        Rule {
            id: $id,
            area: Area::$area,
            statement: $statement,
            sources: &[$($src),*],
            profiles: $profiles,
            needs: $needs,
            variant: $variant,
        }
    };
}

/// Every rule, grouped by area, in the order the docs list them.
pub static RULES: &[Rule] = &[
    // Groups.
    rule!("GRP-CREATE-ON-ADD", Groups,
        "A group exists from the first add of a connection to it; nothing creates groups explicitly.",
        [SEED_NOTE, SEED_1X, SEED_2X, HGL, GROUPS_MD]),
    rule!("GRP-DELETE-ON-EMPTY", Groups,
        "A group ends when its last member leaves; adding to the same name later starts a fresh group that holds only the new member.",
        [SEED_NOTE, SEED_1X, SEED_2X, HGL, "https://github.com/dotnet/aspnetcore/issues/38200", "https://github.com/aspnet/SignalR/issues/2103"]),
    rule!("GRP-ADD-IDEMPOTENT", Groups,
        "Adding a connection to a group it is already in changes nothing: each group send still reaches it exactly once.",
        [DHLM, SCALEOUT_TESTS, "https://github.com/SignalR/SignalR/issues/1819"]),
    rule!("GRP-REMOVE-NONMEMBER", Groups,
        "Removing a connection from a group it is not in completes without error and changes nothing.",
        [DHLM, SCALEOUT_TESTS]),
    rule!("GRP-REMOVE-ONE", Groups,
        "Removing one member leaves every other member of the group in it.",
        [DHLM, HGL, SCALEOUT_TESTS]),
    rule!("GRP-NAMES-ORDINAL", Groups,
        "Group names compare ordinally: case-sensitive, byte for byte, with no trimming or normalisation.",
        [DHLM, GROUPS_MD, "https://github.com/aspnet/SignalR/issues/1797", "https://github.com/dotnet/aspnetcore/pull/53486"]),
    rule!("GRP-EMPTY-NAME", Groups,
        "The empty string is an ordinary group name for add, remove and a single-group send.",
        [DHLM],
        CORE_FAMILY, None, None),
    rule!("GRP-NULL-NAME", Groups,
        "A null group name is refused with an error, and nothing changes.",
        [DHLM, CLASSIC_GM]),
    rule!("GRP-NULL-CONNECTION-ID", Groups,
        "A null connection id given on its own (AddConnectionToGroup, RemoveConnectionFromGroup, Client(id)) is refused with an error, checked before the group name, and nothing changes; a null inside an id list (AllExcept, Clients, GroupExcept) matches no connection.",
        [DHLM, HUB_CLIENTS, CLASSIC_GM]),
    rule!("GRP-MULTI-MEMBERSHIP", Groups,
        "A connection can be in any number of groups at once, and each group's sends reach it.",
        [SEED_NOTE, SEED_1X, SEED_2X]),
    rule!("GRP-UNKNOWN-ID", Groups,
        "Adding or removing a connection id that no connection has is a silent no-op.",
        [DHLM],
        CORE_FAMILY, None, None),
    rule!("GRP-CLOSED-ID", Groups,
        "Adding or removing the id of a connection that has ended is a silent no-op; it does not bring the connection back.",
        [DHLM, "https://github.com/dotnet/aspnetcore/issues/38531"],
        CORE_FAMILY, None, None),
    rule!("GRP-CLASSIC-UNKNOWN-ID-CANCELLED", Groups,
        "Classic SignalR: adding or removing a connection id that is not live on the server (never issued, or ended) changes nothing and completes as cancelled once the acknowledgement times out (~30 s).",
        [CLASSIC_ACK, CLASSIC_GM, SEED_2X, SEED_1X, CLASSIC_GROUPS_DOC],
        CLASSIC, None, None),
    rule!("GRP-ADD-BY-ID", Groups,
        "Any connection can add or remove another connection by its id, with the same effect as the connection doing it itself.",
        [DHLM, SCALEOUT_TESTS, "aspnetcore: src/SignalR/server/Core/src/Internal/GroupManager.cs @ 2729878a5fd00f3a81131aeccd826930eb674689"]),
    rule!("GRP-EFFECT-BEFORE-COMPLETION", Groups,
        "A membership change is complete when its invocation completes: every send that starts afterwards sees it.",
        [SEED_1X, SEED_2X, DHLM]),
    // Connections.
    rule!("CON-DISCONNECT-LEAVES-GROUPS", Connections,
        "When a connection ends it leaves every group at once; nothing needs to remove it.",
        [SEED_1X, SEED_2X, DHLM, "https://github.com/MassTransit/MassTransit/issues/1588"]),
    rule!("CON-NEW-NO-GROUPS", Connections,
        "A new connection starts in no group, even when the same user was in groups on an earlier connection.",
        [SEED_NOTE, SEED_1X, GROUPS_MD]),
    rule!("CON-IDS-UNIQUE", Connections,
        "Every new connection gets an id no earlier connection had.",
        ["aspnetcore: src/SignalR/common/Http.Connections/src/Internal/HttpConnectionManager.cs @ 2b280b180e73a0be81a5d0476cfb498b09519b3d", TRANSPORTS]),
    // Reconnect.
    rule!("REC-CORE-DROP-ENDS", Reconnect,
        "Without stateful reconnect a lost transport ends the connection: its groups are gone and it cannot be resumed.",
        [GROUPS_MD, DISPATCHER, "https://learn.microsoft.com/aspnet/core/signalr/javascript-client (automatic reconnect)"],
        &[Profile::Core], None, None),
    rule!("REC-RECONNECT-IS-NEW", Reconnect,
        "An automatic reconnect after a lost transport is a new connection: a new id and no groups until the client rejoins them.",
        [GROUPS_MD, "https://github.com/SignalR/sample-WithAutomaticReconnect/issues/1"],
        &[Profile::Core], None, None),
    rule!("REC-SUSPENDED-KEEPS-GROUPS", Reconnect,
        "While its transport is down a suspended connection stays in its groups and stays addressable: sends to it are kept, adds and removes by id apply.",
        [DISPATCHER, "aspnetcore: src/SignalR/common/Http.Connections/src/Internal/HttpConnectionContext.cs @ cca91f243918df72a3228817436ab78291684d41"],
        SUSPENDING, None, None),
    rule!("REC-RESUME-KEEPS-GROUPS", Reconnect,
        "A resume changes no membership: the connection keeps its id and the groups it was in at the drop, as changed only by adds and removes applied to it by id while it was suspended.",
        [CONFIG_MD, DISPATCHER, "https://learn.microsoft.com/dotnet/api/microsoft.aspnetcore.http.connections.client.httpconnectionoptions.usestatefulreconnect"],
        STATEFUL, Some(Capability::StatefulReconnect), None),
    rule!("REC-RESUME-REPLAYS", Reconnect,
        "A resumed connection receives every message sent to it while suspended, once each and in order, before anything newer.",
        [MESSAGE_BUFFER, CONFIG_MD],
        SUSPENDING, Some(Capability::StatefulReconnect), None),
    rule!("REC-EXPIRE-ENDS", Reconnect,
        "A suspended connection that is not resumed within the disconnect timeout ends: its groups and kept messages are gone and a resume is refused.",
        [DISPATCHER, "aspnetcore: src/SignalR/common/Http.Connections/src/Internal/HttpConnectionManager.cs (Scan, DisconnectTimeout 15 s) @ 2b280b180e73a0be81a5d0476cfb498b09519b3d"],
        SUSPENDING, Some(Capability::StatefulReconnect), None),
    rule!("REC-GRACEFUL-NO-RESUME", Reconnect,
        "A connection the client closed gracefully has ended and cannot be resumed.",
        ["aspnetcore: src/SignalR/server/SignalR/test/Microsoft.AspNetCore.SignalR.Tests/HubConnectionHandlerTests.cs (GracefulCloseDisablesReconnect) @ 048a9944ed97b1830af9b9db07c07d0e3e18c520", DISPATCHER],
        SUSPENDING, Some(Capability::StatefulReconnect), None),
    rule!("REC-CLASSIC-REJOIN", Reconnect,
        "Classic SignalR: a reconnect after a temporary disruption rejoins the groups carried by the client's groups token.",
        [SEED_1X, SEED_2X, CLASSIC_PC],
        &[Profile::Classic], None, None),
    rule!("REC-CLASSIC-VERIFY", Reconnect,
        "Classic SignalR with rejoin verification: only the token's groups that the application's store confirms for the user are rejoined.",
        [SEED_1X, SEED_2X],
        &[Profile::Classic], None, Some("verify_rejoin")),
    rule!("REC-CLASSIC-ALTERED-TOKEN", Reconnect,
        "Classic SignalR: a groups token the client altered fails verification and rejoins nothing.",
        [CLASSIC_PC, SEED_1X],
        &[Profile::Classic], None, None),
    // Sends.
    rule!("SND-ALL", Sends,
        "All reaches every live connection, the caller included.",
        [CALLER_CLIENTS, LIFETIME_TESTS]),
    rule!("SND-ALL-EXCEPT", Sends,
        "AllExcept(ids) reaches every live connection not listed; ids that match no connection have no effect.",
        [CALLER_CLIENTS, DHLM]),
    rule!("SND-OTHERS", Sends,
        "Others reaches every live connection except the caller.",
        [CALLER_CLIENTS]),
    rule!("SND-CALLER", Sends,
        "Caller reaches the caller only.",
        [CALLER_CLIENTS]),
    rule!("SND-CONNECTION", Sends,
        "Client(id) reaches that connection if it is live, and nobody, without error, otherwise.",
        [DHLM, LIFETIME_TESTS]),
    rule!("SND-CONNECTIONS", Sends,
        "Clients(ids) reaches each live listed connection once, however often it is listed.",
        [DHLM]),
    rule!("SND-GROUP", Sends,
        "Group(g) reaches exactly the members of g; a group with no members reaches nobody, without error.",
        [SEED_NOTE, SEED_1X, DHLM, LIFETIME_TESTS]),
    rule!("SND-GROUPS-FANOUT", Sends,
        "Groups(list) reaches the members of every listed group; a connection in k listed groups gets k copies (per-group, ASP.NET Core) or one (once).",
        [DHLM, "https://github.com/aspnet/SignalR/issues/2527", "https://github.com/dotnet/aspnetcore/issues/14782", "https://github.com/dotnet/aspnetcore/pull/61810"],
        &[], None, Some("groups_fanout")),
    rule!("SND-CLASSIC-EMPTY-NAME", Sends,
        "Classic SignalR: a send to a null or empty group name (Group, GroupExcept, OthersInGroup) is refused with an error and reaches nobody.",
        [CLASSIC_GM],
        CLASSIC, None, None),
    rule!("SND-GROUPS-EMPTY-NAME", Sends,
        "Groups(list) with a null or empty name fails at that name: the groups listed before it have been sent to, the rest not.",
        [DHLM]),
    rule!("SND-GROUP-EXCEPT", Sends,
        "GroupExcept(g, ids) reaches the members of g not listed; listed ids outside the group have no effect.",
        [SEED_1X, SEED_2X, CALLER_CLIENTS, LIFETIME_TESTS]),
    rule!("SND-OTHERS-IN-GROUP", Sends,
        "OthersInGroup(g) reaches the members of g except the caller; from a caller outside g it reaches the whole group.",
        [SEED_1X, SEED_2X, CALLER_CLIENTS]),
    rule!("SND-USER", Sends,
        "User(u) reaches every live connection of user u, and no other.",
        [DHLM, SCALEOUT_TESTS]),
    rule!("SND-USERS", Sends,
        "Users(list) reaches each live connection of a listed user exactly once.",
        [DHLM]),
    rule!("SND-EXACTLY-ONCE", Sends,
        "A send delivers exactly one copy to each recipient its selector names (Groups per its variant aside) and nothing to anyone else.",
        [DHLM, SCALEOUT_TESTS, "https://github.com/aspnet/SignalR/issues/2059"]),
    rule!("SND-FIFO", Sends,
        "Messages to one connection arrive in the order the hub sent them.",
        [DHLM, "aspnetcore: src/SignalR/server/Core/src/HubConnectionContext.cs (_writeLock) @ 28f53b3eac04a73d624dd5f993c03da83a49cbdb"]),
    rule!("SND-DELIVERED-BEFORE-COMPLETION", Sends,
        "A send is complete when its invocation completes: its messages are queued to every recipient before its Completion, so each arrives before anything sent to that recipient afterwards.",
        [DHLM, "aspnetcore: src/SignalR/server/Core/src/Internal/DefaultHubDispatcher.cs (the Completion is written after the hub method's task) @ 953674e31b51d95cb9a99e4f938b003b198ab8a4"]),
    // Restart.
    rule!("RST-WIPES-MEMBERSHIP", Restart,
        "A server restart ends every connection; no membership survives it, and connections made afterwards start in no group.",
        [SEED_NOTE, SEED_1X],
        &[], Some(Capability::Restart), None),
    rule!("RST-NO-RESUME", Restart,
        "A connection from before a restart cannot be resumed after it.",
        [DISPATCHER, "aspnetcore: src/SignalR/common/Http.Connections/src/Internal/HttpConnectionManager.cs (connections held in memory only) @ 2b280b180e73a0be81a5d0476cfb498b09519b3d"],
        STATEFUL, Some(Capability::Restart), None),
    // Rooms.
    rule!("ROOM-RESTORE-ON-CONNECT", Rooms,
        "A new connection of a user with room records is in each recorded room before its first invocation runs.",
        [SEED_NOTE, SEED_1X, SEED_2X],
        &[], Some(Capability::Rooms), None),
    rule!("ROOM-SURVIVE-RESTART", Rooms,
        "Room records survive a server restart: the user's first connection afterwards is back in its rooms.",
        [SEED_NOTE, SEED_1X],
        &[], Some(Capability::Rooms), None),
    rule!("ROOM-LEAVE-DELETES", Rooms,
        "LeaveRoom deletes the record and removes the caller: the user's later connections are not restored to that room.",
        [SEED_1X, SEED_2X],
        &[], Some(Capability::Rooms), None),
    rule!("ROOM-PER-USER", Rooms,
        "Room records belong to one user: another user's new connection is not restored to them.",
        [SEED_1X, SEED_2X],
        &[], Some(Capability::Rooms), None),
    rule!("ROOM-NEEDS-USER", Rooms,
        "JoinRoom from a connection without a user is refused with an error: there is nobody to record the room for.",
        ["hubspec's own decision, not an upstream fact (CONTRACT.md keys room records by user; an application could equally ignore the call)"],
        &[], Some(Capability::Rooms), None),
    // Protocol.
    rule!("PRO-NEGOTIATE", Protocol,
        "POST {url}/negotiate?negotiateVersion=1 answers a v1 negotiate response with a connectionId, a connectionToken and WebSockets among the transports.",
        [TRANSPORTS, "aspnetcore: src/SignalR/common/Http.Connections.Common/src/NegotiateProtocol.cs @ 8e677b511ddb62f238bf59f6a6cc225b0f2f9754"],
        CORE_FAMILY, None, None),
    rule!("PRO-HANDSHAKE", Protocol,
        "The handshake {\"protocol\":\"json\",\"version\":1} (version 2 with stateful reconnect) is answered with {} and a record separator, before any other message.",
        [HUB_PROTOCOL, "aspnetcore: src/SignalR/common/SignalR.Common/src/Protocol/HandshakeProtocol.cs @ 11a52028a91bfa3f9f7c68d5e879089afa3e91f2"],
        CORE_FAMILY, None, None),
    rule!("PRO-TEXT-FRAMES", Protocol,
        "JSON hub protocol messages travel in WebSocket text frames, each message terminated by 0x1E.",
        [HUB_PROTOCOL, TRANSPORTS],
        CORE_FAMILY, None, None),
    rule!("PRO-WELL-FORMED", Protocol,
        "Every record the server sends parses as a JSON hub protocol message of a known shape.",
        [HUB_PROTOCOL, "aspnetcore: src/SignalR/common/Protocols.Json/src/Protocol/JsonHubProtocol.cs @ 962135137fbf44093aede4ebedae74b9571cbd25"],
        CORE_FAMILY, None, None),
    rule!("PRO-COMPLETION", Protocol,
        "Every invocation with an id is answered by exactly one Completion with that id.",
        [HUB_PROTOCOL],
        CORE_FAMILY, None, None),
    rule!("PRO-UNKNOWN-METHOD", Protocol,
        "An invocation of a method the hub does not have is answered by a Completion with an error; the connection stays usable.",
        [HUB_PROTOCOL, "aspnetcore: src/SignalR/server/Core/src/Internal/DefaultHubDispatcher.cs @ 953674e31b51d95cb9a99e4f938b003b198ab8a4"],
        CORE_FAMILY, None, None),
    rule!("PRO-PING", Protocol,
        "Ping messages are accepted at any time and the connection stays open while the client pings within the server's timeout.",
        [HUB_PROTOCOL],
        CORE_FAMILY, None, None),
    rule!("PRO-CLOSE", Protocol,
        "A client Close is answered with a Close before the server closes the socket.",
        [HUB_PROTOCOL, "aspnetcore: src/SignalR/server/SignalR/test/Microsoft.AspNetCore.SignalR.Tests/HubConnectionHandlerTests.cs (ConnectionClosesWhenClientSendsCloseMessage) @ 048a9944ed97b1830af9b9db07c07d0e3e18c520"],
        CORE_FAMILY, None, None),
    rule!("PRO-SEQUENCE", Protocol,
        "Stateful reconnect: after a resume the server's first message is a Sequence naming the first message it replays.",
        [MESSAGE_BUFFER, HUB_PROTOCOL],
        STATEFUL, Some(Capability::StatefulReconnect), None),
    rule!("PRO-RESPONSIVE", Protocol,
        "Every invocation completes within the configured timeout; a hub that hangs is a finding, not a hang of the suite.",
        [HUB_PROTOCOL],
        CORE_FAMILY, None, None),
    rule!("PRO-MSGPACK-FRAMING", Protocol,
        "On a MessagePack connection every message after the handshake travels in WebSocket binary frames, behind a VarInt length prefix of at most 5 bytes that gives its exact length.",
        [MSGPACK_SPEC, BINARY_PARSER],
        CORE_FAMILY, None, None),
    rule!("PRO-MSGPACK-WELL-FORMED", Protocol,
        "Every MessagePack message the server sends is an array of the shape its type requires: headers a map of strings, ids and targets strings, a Completion's result kind 1, 2 or 3.",
        [MSGPACK_SPEC, MSGPACK_WORKER],
        CORE_FAMILY, None, None),
    // [concurrency] Concurrent histories (issue 16): what holds while connections act at once,
    // checked by the suite's concurrent part (`conformance/src/concurrent.rs`, the checker in
    // `history/`). Under concurrency the one-at-a-time rules keep their IDs (SND-FIFO,
    // SND-EXACTLY-ONCE, GRP-EFFECT-BEFORE-COMPLETION, ...); these are what only overlap shows.
    rule!("CC-ATOMIC-SEND", Concurrency,
        "Each send takes effect for each recipient at one point between its invocation and its Completion: what a connection receives of it is what the model gives that connection at some such point; different recipients may see it at different points.",
        [DHLM, "https://learn.microsoft.com/dotnet/api/system.collections.concurrent.concurrentdictionary-2.getenumerator", "https://github.com/Azure/azure-signalr/pull/1778", "https://github.com/Azure/azure-signalr/pull/1779"],
        CORE_FAMILY, None, None),
    rule!("CC-AFTER-CLOSE", Concurrency,
        "Nothing reaches a connection after its stream has ended, whatever other connections do at the time.",
        [HUB_PROTOCOL, "aspnetcore: src/SignalR/server/Core/src/HubConnectionContext.cs (_connectionAborted) @ 28f53b3eac04a73d624dd5f993c03da83a49cbdb"],
        CORE_FAMILY, None, None),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn rule_ids_are_unique_and_carry_their_area_prefix() {
        let mut seen = BTreeSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "duplicate rule id {}", r.id);
            assert!(
                r.id.starts_with(r.area.prefix()),
                "{} is not in area {:?}",
                r.id,
                r.area
            );
            assert!(
                r.id.chars().all(|c| c.is_ascii_uppercase() || c == '-'),
                "{}",
                r.id
            );
            assert!(!r.sources.is_empty(), "{} has no source", r.id);
            assert!(
                r.statement.ends_with('.'),
                "{} statement is not a sentence",
                r.id
            );
        }
        assert!(RULES.len() >= 35, "the catalog has {} rules", RULES.len());
    }

    #[test]
    fn every_seed_is_cited_by_some_rule() {
        for seed in [SEED_NOTE, SEED_1X, SEED_2X] {
            assert!(
                RULES.iter().any(|r| r.sources.contains(&seed)),
                "{seed} is cited by no rule"
            );
        }
    }
}
