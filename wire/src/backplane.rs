//! ASP.NET Core's Redis backplane protocol, sans I/O: the pub/sub channel names and the
//! MessagePack payloads that SignalR servers sharing one Redis exchange.
//!
//! A node that speaks exactly this can share a Redis with ASP.NET Core nodes (scaleout.md §1.7),
//! and ASP.NET Core's own protocol tests are its anchor. Authorities, in dotnet/aspnetcore:
//! - `src/SignalR/server/StackExchangeRedis/src/Internal/RedisChannels.cs` @
//!   `cca91f243918df72a3228817436ab78291684d41`: the channel names ([`Channels`]);
//! - `src/SignalR/server/StackExchangeRedis/src/Internal/RedisProtocol.cs` @
//!   `3bdb2c15978749c61201a11398844507531bee6b`: the payloads ([`Invocation`],
//!   [`GroupCommand`], [`Ack`], [`RemoteCompletion`]) and the one reading error text;
//! - `src/SignalR/server/StackExchangeRedis/test/RedisProtocolTests.cs` @
//!   `6df502e2cba25d45f4208d872dfeae2de3780259`: the byte vectors this module's tests
//!   transcribe.
//!
//! Layout (every payload one MessagePack array; integers in their most compact format, strings
//! as `str`, blobs as `bin`):
//! - Invocation `[excluded: [str], {protocol: bin}]`, or with a client-result return address
//!   `[excluded, {protocol: bin}, invocationId: str, returnChannel: str]`; each `bin` is a whole
//!   framed hub message in that protocol (JSON text + 0x1E, or MessagePack with its VarInt
//!   length prefix), which a receiver writes unchanged to its local connections of that
//!   protocol;
//! - GroupCommand `[id: int32, serverName: str, action: 1 add | 2 remove, group: str,
//!   connectionId: str]`;
//! - Ack `[id: int32]`;
//! - Completion (client results) `[protocol: str, bin]`.
//!
//! One refhub extension, which ASP.NET Core's readers skip ("Any additional items are
//! discarded"): an Invocation may carry its publishing node's name as the item after the ones
//! above (`[excluded, map, origin]`, or 5 items with a return address), so that a node that
//! delivered a send to its own members at once can skip its own publication when Redis echoes
//! it back.
//!
//! Reading follows `RedisProtocol`: an array shorter than its minimum is "Insufficient items in
//! … array."; longer arrays are accepted and their extra items ignored (a later server may add
//! some); an Invocation reads its return address only when it has more than 3 items. Anything
//! else that does not parse is a [`BackplaneError`] naming the field, never a panic.

use rmp::decode::{self, NumValueReadError};
use rmp::{encode, Marker};
use thiserror::Error;

/// A backplane payload that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackplaneError {
    /// The payload's array has fewer items than its kind needs: `RedisProtocol`'s own text.
    #[error("Insufficient items in {kind} array.")]
    InsufficientItems {
        /// `Invocation`, `GroupCommand`, `Ack` or `CompletionMessage`, as .NET names them.
        kind: &'static str,
    },
    /// A field is missing (the bytes end) or has another MessagePack type than its layout's.
    #[error("Reading '{field}' of a backplane {kind} as {expected} failed.")]
    Malformed {
        /// The payload kind, as in [`BackplaneError::InsufficientItems`].
        kind: &'static str,
        /// The field that could not be read.
        field: &'static str,
        /// The MessagePack type the layout has there.
        expected: &'static str,
    },
    /// A GroupCommand's action is neither 1 (add) nor 2 (remove).
    #[error("Unknown group action {0} in a backplane GroupCommand.")]
    UnknownGroupAction(u8),
}

/// What reading a backplane payload gives.
pub type Result<T> = std::result::Result<T, BackplaneError>;

// ---------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------

/// The channel names of one hub: every name starts with the prefix, which is StackExchange.Redis'
/// `ChannelPrefix` (with no separator) followed by the hub's .NET type name, e.g.
/// `MyApp.Hubs.ChatHub`; a Rust node that shares a Redis with ASP.NET Core nodes must be given
/// the same two strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    prefix: String,
}

/// An incoming channel name, classified: what a subscriber does with a message depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel<'a> {
    /// `P:all`: invocations for every connection.
    All,
    /// `P:internal:groups`: group commands for connections on another server.
    GroupManagement,
    /// `P:internal:ack:<server>`: acks of that server's group commands.
    Ack(&'a str),
    /// `P:internal:return:<server>`: client-result completions for that server.
    ReturnResults(&'a str),
    /// `P:connection:<id>`: invocations for one connection.
    Connection(&'a str),
    /// `P:group:<name>`: invocations for one group's members.
    Group(&'a str),
    /// `P:user:<id>`: invocations for one user's connections.
    User(&'a str),
}

impl Channels {
    /// The channels of the hub whose .NET type name is `hub`, without a channel prefix.
    pub fn new(hub: &str) -> Self {
        Self::with_channel_prefix("", hub)
    }

    /// The channels of `hub` under StackExchange.Redis' `ChannelPrefix` `channel_prefix`.
    pub fn with_channel_prefix(channel_prefix: &str, hub: &str) -> Self {
        Self {
            prefix: format!("{channel_prefix}{hub}"),
        }
    }

    /// `P:all`.
    pub fn all(&self) -> String {
        format!("{}:all", self.prefix)
    }

    /// `P:internal:groups`.
    pub fn group_management(&self) -> String {
        format!("{}:internal:groups", self.prefix)
    }

    /// `P:internal:ack:<server>`: where the owner of a connection acks `server`'s commands.
    pub fn ack(&self, server: &str) -> String {
        format!("{}:internal:ack:{server}", self.prefix)
    }

    /// `P:internal:return:<server>`: where client results for `server` go.
    pub fn return_results(&self, server: &str) -> String {
        format!("{}:internal:return:{server}", self.prefix)
    }

    /// `P:connection:<id>`.
    pub fn connection(&self, connection_id: &str) -> String {
        format!("{}:connection:{connection_id}", self.prefix)
    }

    /// `P:group:<name>`: the raw name, compared ordinally by Redis.
    pub fn group(&self, group: &str) -> String {
        format!("{}:group:{group}", self.prefix)
    }

    /// `P:user:<id>`.
    pub fn user(&self, user_id: &str) -> String {
        format!("{}:user:{user_id}", self.prefix)
    }

    /// What `channel` is, or `None` for a name outside this hub's channels.
    pub fn classify<'a>(&self, channel: &'a str) -> Option<Channel<'a>> {
        let rest = channel
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(':')?;
        if rest == "all" {
            return Some(Channel::All);
        }
        if rest == "internal:groups" {
            return Some(Channel::GroupManagement);
        }
        if let Some(server) = rest.strip_prefix("internal:ack:") {
            Some(Channel::Ack(server))
        } else if let Some(server) = rest.strip_prefix("internal:return:") {
            Some(Channel::ReturnResults(server))
        } else if let Some(id) = rest.strip_prefix("connection:") {
            Some(Channel::Connection(id))
        } else if let Some(group) = rest.strip_prefix("group:") {
            Some(Channel::Group(group))
        } else {
            rest.strip_prefix("user:").map(Channel::User)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------------

/// One hub message, serialized once per protocol, for the connections the channel addresses
/// minus `excluded` (SendAllExcept, SendGroupExcept, OthersInGroup).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invocation {
    /// Connection ids that must not receive it.
    pub excluded: Vec<String>,
    /// `(protocol name, framed message)`, in the sender's order: a receiver writes the bytes of
    /// its connection's protocol unchanged.
    pub serializations: Vec<(String, Vec<u8>)>,
    /// Where a client result goes, for an invocation that expects one.
    pub return_address: Option<ReturnAddress>,
    /// The publishing node's name (refhub's extension item; ASP.NET Core nodes write none).
    pub origin: Option<String>,
}

/// The two extra items of an invocation that expects a client result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnAddress {
    /// The invocation id the client answers with (`None` when the item was nil).
    pub invocation_id: Option<String>,
    /// The invoking server's return channel (`None` when the item was nil).
    pub return_channel: Option<String>,
}

impl Invocation {
    /// The serialized message for `protocol`, if the sender included it.
    pub fn serialization(&self, protocol: &str) -> Option<&[u8]> {
        self.serializations
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, bytes)| bytes.as_slice())
    }

    /// The payload's bytes, as `RedisProtocol.WriteInvocation` writes them.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let items = if self.return_address.is_some() { 4 } else { 2 };
        array_len(&mut out, items + usize::from(self.origin.is_some()));
        array_len(&mut out, self.excluded.len());
        for id in &self.excluded {
            string(&mut out, id);
        }
        map_len(&mut out, self.serializations.len());
        for (protocol, bytes) in &self.serializations {
            string(&mut out, protocol);
            encode::write_bin(&mut out, bytes).expect(VEC_WRITE);
        }
        if let Some(address) = &self.return_address {
            optional_string(&mut out, address.invocation_id.as_deref());
            optional_string(&mut out, address.return_channel.as_deref());
        }
        if let Some(origin) = &self.origin {
            string(&mut out, origin);
        }
        out
    }

    /// Reads a payload as `RedisProtocol.ReadInvocation` does.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        const KIND: &str = "Invocation";
        let rd = &mut &payload[..];
        let length = array_header(rd, KIND, 2)?;
        let ids = count(
            decode::read_array_len(rd),
            KIND,
            "excludedConnectionIds",
            "array",
        )?;
        let mut excluded = Vec::new();
        for _ in 0..ids {
            excluded.push(required_string(rd, KIND, "excludedConnectionIds[i]")?);
        }
        let entries = count(decode::read_map_len(rd), KIND, "serializedMessages", "map")?;
        let mut serializations = Vec::new();
        for _ in 0..entries {
            let protocol = required_string(rd, KIND, "protocolName")?;
            let bytes = bytes(rd, KIND, "serializedMessage")?;
            serializations.push((protocol, bytes));
        }
        let return_address = if length > 3 {
            Some(ReturnAddress {
                invocation_id: read_string(rd, KIND, "invocationId")?,
                return_channel: read_string(rd, KIND, "returnChannel")?,
            })
        } else {
            None
        };
        let origin = if length == 3 || length > 4 {
            read_string(rd, KIND, "origin")?
        } else {
            None
        };
        Ok(Self {
            excluded,
            serializations,
            return_address,
            origin,
        })
    }
}

/// What a [`GroupCommand`] does to its connection's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupAction {
    /// `GroupAction.Add` = 1.
    Add,
    /// `GroupAction.Remove` = 2.
    Remove,
}

impl GroupAction {
    fn byte(self) -> u8 {
        match self {
            Self::Add => 1,
            Self::Remove => 2,
        }
    }
}

/// A group add or remove for a connection the requesting server does not hold, published on
/// `P:internal:groups`; the owner applies it and then acks `id` on the requester's ack channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCommand {
    /// The requester's ack id (a per-server counter).
    pub id: i32,
    /// The requester's server name: the ack goes to `P:internal:ack:<server_name>`.
    pub server_name: String,
    /// Add or remove.
    pub action: GroupAction,
    /// The group.
    pub group: String,
    /// The connection whose membership changes.
    pub connection_id: String,
}

impl GroupCommand {
    /// The payload's bytes, as `RedisProtocol.WriteGroupCommand` writes them.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        array_len(&mut out, 5);
        int(&mut out, self.id.into());
        string(&mut out, &self.server_name);
        int(&mut out, self.action.byte().into());
        string(&mut out, &self.group);
        string(&mut out, &self.connection_id);
        out
    }

    /// Reads a payload as `RedisProtocol.ReadGroupCommand` does.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        const KIND: &str = "GroupCommand";
        let rd = &mut &payload[..];
        array_header(rd, KIND, 5)?;
        let id = int32(rd, KIND, "id")?;
        let server_name = required_string(rd, KIND, "serverName")?;
        let action = match decode::read_int::<u8, _>(rd) {
            Ok(1) => GroupAction::Add,
            Ok(2) => GroupAction::Remove,
            Ok(other) => return Err(BackplaneError::UnknownGroupAction(other)),
            Err(_) => return Err(malformed(KIND, "action", "Byte")),
        };
        Ok(Self {
            id,
            server_name,
            action,
            group: required_string(rd, KIND, "groupName")?,
            connection_id: required_string(rd, KIND, "connectionId")?,
        })
    }
}

/// The owner's acknowledgement that it applied the [`GroupCommand`] with this id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ack(pub i32);

impl Ack {
    /// The payload's bytes, as `RedisProtocol.WriteAck` writes them.
    pub fn encode(self) -> Vec<u8> {
        let mut out = Vec::new();
        array_len(&mut out, 1);
        int(&mut out, self.0.into());
        out
    }

    /// Reads a payload as `RedisProtocol.ReadAck` does.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        const KIND: &str = "Ack";
        let rd = &mut &payload[..];
        array_header(rd, KIND, 1)?;
        Ok(Self(int32(rd, KIND, "id")?))
    }
}

/// A client's Completion for an invocation another server made, on that server's return
/// channel: the framed message in the protocol the client spoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCompletion {
    /// The hub protocol `message` is framed in.
    pub protocol: String,
    /// The framed CompletionMessage.
    pub message: Vec<u8>,
}

impl RemoteCompletion {
    /// The payload's bytes, as `RedisProtocol.WriteCompletionMessage` writes them.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        array_len(&mut out, 2);
        string(&mut out, &self.protocol);
        encode::write_bin(&mut out, &self.message).expect(VEC_WRITE);
        out
    }

    /// Reads a payload as `RedisProtocol.ReadCompletion` does.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        const KIND: &str = "CompletionMessage";
        let rd = &mut &payload[..];
        array_header(rd, KIND, 2)?;
        Ok(Self {
            protocol: required_string(rd, KIND, "protocolName")?,
            message: bytes(rd, KIND, "completionMessage")?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// MessagePack items
// ---------------------------------------------------------------------------------------------

const VEC_WRITE: &str = "writing MessagePack to a Vec cannot fail";

fn array_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).expect("MessagePack holds at most u32::MAX items");
    encode::write_array_len(out, len).expect(VEC_WRITE);
}

fn map_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).expect("MessagePack holds at most u32::MAX items");
    encode::write_map_len(out, len).expect(VEC_WRITE);
}

fn string(out: &mut Vec<u8>, s: &str) {
    encode::write_str(out, s).expect(VEC_WRITE);
}

fn optional_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => encode::write_nil(out).expect(VEC_WRITE),
    }
}

fn int(out: &mut Vec<u8>, n: i64) {
    encode::write_sint(out, n).expect(VEC_WRITE);
}

fn malformed(kind: &'static str, field: &'static str, expected: &'static str) -> BackplaneError {
    BackplaneError::Malformed {
        kind,
        field,
        expected,
    }
}

/// The payload's array header, at least `minimum` items long.
fn array_header(rd: &mut &[u8], kind: &'static str, minimum: u32) -> Result<u32> {
    let length = count(decode::read_array_len(rd), kind, "payload", "array")?;
    if length < minimum {
        return Err(BackplaneError::InsufficientItems { kind });
    }
    Ok(length)
}

fn count<E>(
    read: std::result::Result<u32, E>,
    kind: &'static str,
    field: &'static str,
    expected: &'static str,
) -> Result<u32> {
    read.map_err(|_| malformed(kind, field, expected))
}

fn int32(rd: &mut &[u8], kind: &'static str, field: &'static str) -> Result<i32> {
    decode::read_int::<i32, _>(rd)
        .map_err(|_: NumValueReadError<_>| malformed(kind, field, "Int32"))
}

/// `MessagePackReader.ReadString`: nil is `None`; other strings are decoded with U+FFFD for
/// bytes that are not UTF-8, as .NET's `UTF8Encoding` does.
fn read_string(rd: &mut &[u8], kind: &'static str, field: &'static str) -> Result<Option<String>> {
    let fail = || malformed(kind, field, "String");
    let length = match decode::read_marker(rd).map_err(|_| fail())? {
        Marker::Null => return Ok(None),
        Marker::FixStr(n) => usize::from(n),
        Marker::Str8 => be_len(rd, 1).ok_or_else(fail)?,
        Marker::Str16 => be_len(rd, 2).ok_or_else(fail)?,
        Marker::Str32 => be_len(rd, 4).ok_or_else(fail)?,
        _ => return Err(fail()),
    };
    let bytes = take(rd, length).ok_or_else(fail)?;
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// A string the layout requires: .NET reads nil as null and fails later, we fail here.
fn required_string(rd: &mut &[u8], kind: &'static str, field: &'static str) -> Result<String> {
    read_string(rd, kind, field)?.ok_or_else(|| malformed(kind, field, "String"))
}

/// `MessagePackReader.ReadBytes`: a `bin`, or nil read as empty.
fn bytes(rd: &mut &[u8], kind: &'static str, field: &'static str) -> Result<Vec<u8>> {
    let fail = || malformed(kind, field, "Binary");
    let length = match decode::read_marker(rd).map_err(|_| fail())? {
        Marker::Null => return Ok(Vec::new()),
        Marker::Bin8 => be_len(rd, 1).ok_or_else(fail)?,
        Marker::Bin16 => be_len(rd, 2).ok_or_else(fail)?,
        Marker::Bin32 => be_len(rd, 4).ok_or_else(fail)?,
        _ => return Err(fail()),
    };
    Ok(take(rd, length).ok_or_else(fail)?.to_vec())
}

/// A big-endian length of `width` bytes.
fn be_len(rd: &mut &[u8], width: usize) -> Option<usize> {
    let bytes = take(rd, width)?;
    let n = bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b));
    usize::try_from(n).ok()
}

/// The next `n` bytes, or `None` when fewer remain (a declared length is never trusted).
fn take<'a>(rd: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rd.len() < n {
        return None;
    }
    let (head, tail) = rd.split_at(n);
    *rd = tail;
    Some(head)
}

#[cfg(test)]
mod tests {
    //! ASP.NET Core's vectors, from `RedisProtocolTests.cs` @
    //! `6df502e2cba25d45f4208d872dfeae2de3780259` (the test data named in each test), both
    //! ways; then what .NET's reader tolerates and what it rejects.

    use super::*;
    use proptest::prelude::*;

    /// `_ackTestData`: Zero, Fixnum, Uint8, Uint16, Uint32.
    const ACKS: [(i32, &[u8]); 5] = [
        (0, &[0x91, 0x00]),
        (42, &[0x91, 0x2A]),
        (180, &[0x91, 0xCC, 0xB4]),
        (384, &[0x91, 0xCD, 0x01, 0x80]),
        (70_000, &[0x91, 0xCE, 0x00, 0x01, 0x11, 0x70]),
    ];

    #[test]
    fn acks_match_aspnetcore_vectors_both_ways() {
        for (id, bytes) in ACKS {
            assert_eq!(Ack(id).encode(), bytes, "WriteAck({id})");
            assert_eq!(Ack::decode(bytes), Ok(Ack(id)), "ReadAck({id})");
        }
    }

    fn command(action: GroupAction) -> GroupCommand {
        GroupCommand {
            id: 42,
            server_name: "S".into(),
            action,
            group: "G".into(),
            connection_id: "C".into(),
        }
    }

    #[test]
    fn group_commands_match_aspnetcore_vectors_both_ways() {
        // `_groupCommandTestData`: GroupAdd, GroupRemove.
        for (action, byte) in [(GroupAction::Add, 0x01), (GroupAction::Remove, 0x02)] {
            let bytes = [0x95, 0x2A, 0xA1, b'S', byte, 0xA1, b'G', 0xA1, b'C'];
            assert_eq!(
                command(action).encode(),
                bytes,
                "WriteGroupCommand {action:?}"
            );
            assert_eq!(GroupCommand::decode(&bytes), Ok(command(action)));
        }
    }

    /// `_invocationTestData`: the test's two dummy protocols `p1` and `p2` each serialize the
    /// message as the single byte 0x2A.
    fn invocation(excluded: &[&str]) -> (Invocation, Vec<u8>) {
        let mut bytes = vec![0x92];
        bytes.push(0x90 + excluded.len() as u8);
        for id in excluded {
            bytes.extend([0xA1, id.as_bytes()[0]]);
        }
        bytes.extend([0x82, 0xA2, b'p', b'1', 0xC4, 0x01, 0x2A]);
        bytes.extend([0xA2, b'p', b'2', 0xC4, 0x01, 0x2A]);
        let invocation = Invocation {
            excluded: excluded.iter().map(|id| id.to_string()).collect(),
            serializations: vec![("p1".into(), vec![0x2A]), ("p2".into(), vec![0x2A])],
            return_address: None,
            origin: None,
        };
        (invocation, bytes)
    }

    #[test]
    fn invocations_match_aspnetcore_vectors_both_ways() {
        // NoExcludedIds, OneExcludedId, ManyExcludedIds.
        for excluded in [&[][..], &["a"], &["a", "b", "c", "d", "e", "f"]] {
            let (invocation, bytes) = invocation(excluded);
            assert_eq!(invocation.encode(), bytes, "WriteInvocation {excluded:?}");
            assert_eq!(Invocation::decode(&bytes).as_ref(), Ok(&invocation));
            assert_eq!(invocation.serialization("p2"), Some(&[0x2A][..]));
            assert_eq!(invocation.serialization("json"), None);
        }
    }

    #[test]
    fn an_invocation_expecting_a_result_carries_its_return_address_as_items_three_and_four() {
        let (mut invocation, _) = invocation(&[]);
        invocation.return_address = Some(ReturnAddress {
            invocation_id: Some("1".into()),
            return_channel: Some("H:internal:return:n".into()),
        });
        let bytes = invocation.encode();
        assert_eq!(bytes[0], 0x94);
        assert_eq!(Invocation::decode(&bytes), Ok(invocation));
    }

    #[test]
    fn completions_round_trip_as_protocol_and_bin() {
        let completion = RemoteCompletion {
            protocol: "json".into(),
            message: b"{\"type\":3,\"invocationId\":\"1\"}\x1e".to_vec(),
        };
        let bytes = completion.encode();
        assert_eq!(&bytes[..6], &[0x92, 0xA4, b'j', b's', b'o', b'n']);
        assert_eq!(bytes[6], 0xC4);
        assert_eq!(RemoteCompletion::decode(&bytes), Ok(completion));
    }

    #[test]
    fn extra_items_are_ignored_as_dotnet_ignores_them() {
        assert_eq!(Ack::decode(&[0x92, 0x07, 0xC0]), Ok(Ack(7)));
        let mut bytes = command(GroupAction::Add).encode();
        bytes[0] = 0x96;
        bytes.push(0xC3);
        assert_eq!(GroupCommand::decode(&bytes), Ok(command(GroupAction::Add)));
        // Three items: the reader takes the return address only from four.
        let (invocation, mut bytes) = invocation(&["a"]);
        bytes[0] = 0x93;
        bytes.push(0xC0);
        assert_eq!(Invocation::decode(&bytes), Ok(invocation));
    }

    #[test]
    fn refhubs_origin_item_follows_aspnetcores_items_and_round_trips() {
        let (mut invocation, aspnet) = invocation(&["a"]);
        invocation.origin = Some("n1".into());
        let bytes = invocation.encode();
        assert_eq!(bytes[0], 0x93);
        assert_eq!(&bytes[1..], [&aspnet[1..], &[0xA2, b'n', b'1']].concat());
        assert_eq!(Invocation::decode(&bytes).as_ref(), Ok(&invocation));
        invocation.return_address = Some(ReturnAddress {
            invocation_id: Some("7".into()),
            return_channel: Some("r".into()),
        });
        let bytes = invocation.encode();
        assert_eq!(bytes[0], 0x95);
        assert_eq!(Invocation::decode(&bytes), Ok(invocation));
    }

    #[test]
    fn short_arrays_fail_with_dotnets_text() {
        let cases: [(&[u8], &str); 4] = [
            (&[0x90], "Ack"),
            (&[0x94, 0x2A, 0xA1, b'S', 0x01, 0xA1, b'G'], "GroupCommand"),
            (&[0x91, 0x90], "Invocation"),
            (&[0x91, 0xA1, b'p'], "CompletionMessage"),
        ];
        let errors = [
            Ack::decode(cases[0].0).err(),
            GroupCommand::decode(cases[1].0).err(),
            Invocation::decode(cases[2].0).err(),
            RemoteCompletion::decode(cases[3].0).err(),
        ];
        for ((_, kind), error) in cases.iter().zip(errors) {
            let error = error.expect("a short array is an error");
            assert_eq!(
                error.to_string(),
                format!("Insufficient items in {kind} array.")
            );
        }
    }

    #[test]
    fn wrong_types_and_unknown_actions_are_typed_errors() {
        assert_eq!(
            Ack::decode(&[0x91, 0xA1, b'x']),
            Err(malformed("Ack", "id", "Int32"))
        );
        assert_eq!(
            Ack::decode(&[0x91, 0xCF, 0, 0, 0, 1, 0, 0, 0, 0]),
            Err(malformed("Ack", "id", "Int32")),
            "an id beyond Int32"
        );
        let mut bytes = command(GroupAction::Add).encode();
        bytes[4] = 0x00;
        assert_eq!(
            GroupCommand::decode(&bytes),
            Err(BackplaneError::UnknownGroupAction(0))
        );
        assert_eq!(
            Invocation::decode(&[0x92, 0x91, 0xC0, 0x80]),
            Err(malformed(
                "Invocation",
                "excludedConnectionIds[i]",
                "String"
            ))
        );
        assert_eq!(
            Invocation::decode(&[0x92, 0x90, 0x81, 0xA1, b'p', 0xA1, b'x']),
            Err(malformed("Invocation", "serializedMessage", "Binary"))
        );
    }

    #[test]
    fn every_truncation_of_a_valid_payload_is_an_error() {
        let (mut invocation, _) = invocation(&["a", "b"]);
        invocation.return_address = Some(ReturnAddress {
            invocation_id: Some("id".into()),
            return_channel: None,
        });
        let completion = RemoteCompletion {
            protocol: "messagepack".into(),
            message: vec![0x01, 0x96],
        };
        type Fails = fn(&[u8]) -> bool;
        let decoders: [(Vec<u8>, Fails); 4] = [
            (invocation.encode(), |b| Invocation::decode(b).is_err()),
            (command(GroupAction::Remove).encode(), |b| {
                GroupCommand::decode(b).is_err()
            }),
            (Ack(70_000).encode(), |b| Ack::decode(b).is_err()),
            (completion.encode(), |b| {
                RemoteCompletion::decode(b).is_err()
            }),
        ];
        for (payload, fails) in decoders {
            for end in 0..payload.len() {
                assert!(fails(&payload[..end]), "{:02x?}", &payload[..end]);
            }
        }
    }

    #[test]
    fn channels_are_aspnetcores_names_and_classify_back() {
        let channels = Channels::new("Hubs.Chat");
        assert_eq!(channels.all(), "Hubs.Chat:all");
        assert_eq!(channels.group_management(), "Hubs.Chat:internal:groups");
        assert_eq!(channels.ack("n1"), "Hubs.Chat:internal:ack:n1");
        assert_eq!(
            channels.return_results("n1"),
            "Hubs.Chat:internal:return:n1"
        );
        assert_eq!(channels.connection("c"), "Hubs.Chat:connection:c");
        assert_eq!(channels.group("g:x"), "Hubs.Chat:group:g:x");
        assert_eq!(channels.user("u"), "Hubs.Chat:user:u");
        let named = [
            (channels.all(), Channel::All),
            (channels.group_management(), Channel::GroupManagement),
            (channels.ack("n1"), Channel::Ack("n1")),
            (channels.return_results("n1"), Channel::ReturnResults("n1")),
            (channels.connection("c"), Channel::Connection("c")),
            (channels.group("*"), Channel::Group("*")),
            (channels.group("g:x"), Channel::Group("g:x")),
            (channels.user("u"), Channel::User("u")),
        ];
        for (name, channel) in &named {
            assert_eq!(channels.classify(name), Some(*channel), "{name}");
        }
        assert_eq!(channels.classify("Other:all"), None);
        assert_eq!(channels.classify("Hubs.Chatty:all"), None);
        assert_eq!(channels.classify("Hubs.Chat:nothing"), None);
        let prefixed = Channels::with_channel_prefix("app", "Hubs.Chat");
        assert_eq!(prefixed.group("g"), "appHubs.Chat:group:g");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Invocation::decode(&bytes);
            let _ = GroupCommand::decode(&bytes);
            let _ = Ack::decode(&bytes);
            let _ = RemoteCompletion::decode(&bytes);
        }

        #[test]
        fn invocations_round_trip(
            excluded in proptest::collection::vec("[a-zA-Z0-9]{0,6}", 0..4),
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let invocation = Invocation {
                excluded,
                serializations: vec![("json".into(), body.clone()), ("messagepack".into(), body)],
                return_address: None,
                origin: None,
            };
            prop_assert_eq!(Invocation::decode(&invocation.encode()), Ok(invocation));
        }
    }
}
