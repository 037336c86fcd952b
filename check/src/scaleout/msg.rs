//! What the actors say to each other: channels, backplane payloads, messages and timers.
//!
//! The channel layout follows ASP.NET Core's Redis backplane (reference/scaleout.md §1.1,
//! `RedisChannels.cs` @cca91f2): one `internal:groups` channel every node subscribes to, one
//! ack channel per node, one channel per connection and one per group.

use hubspec_model::{ConnId, Op, Small, Target};

/// A backplane channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Chan {
    /// `P:internal:groups`: group commands for connections the requester does not hold.
    Groups,
    /// `P:internal:ack:<node>`: acks addressed to one node.
    Ack(u8),
    /// `P:connection:<id>`: sends to one connection, subscribed by its node.
    Conn(Target),
    /// `P:group:<name>`: sends to a group, subscribed by every node with a local member.
    Group(u8),
}

impl Chan {
    /// The bit of this channel in a [`Chans`] set. Unknown and `null` ids share one bit that no
    /// node ever subscribes to.
    fn bit(self) -> u32 {
        match self {
            Chan::Groups => 0,
            Chan::Ack(n) => {
                assert!(n < 3, "at most 3 nodes");
                1 + u32::from(n)
            }
            Chan::Conn(Target::Id(ConnId(c))) => {
                assert!((1..=10).contains(&c), "connection ids 1..=10");
                4 + c
            }
            Chan::Conn(_) => 15,
            Chan::Group(g) => {
                assert!(g < 16, "at most 16 groups");
                16 + u32::from(g)
            }
        }
    }
}

/// A set of channels, one bit each: what a node asked for, or what the broker has on record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Chans(pub u32);

impl Chans {
    /// Whether `chan` is in the set.
    pub fn has(self, chan: Chan) -> bool {
        self.0 & (1 << chan.bit()) != 0
    }
    /// Put `chan` in the set.
    pub fn put(&mut self, chan: Chan) {
        self.0 |= 1 << chan.bit();
    }
    /// Take `chan` out of the set.
    pub fn take(&mut self, chan: Chan) {
        self.0 &= !(1 << chan.bit());
    }
}

/// What travels on a channel (reference/scaleout.md §1.2: Invocation, GroupCommand, Ack).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Body {
    /// A hub message, named by its sender and the sender's script step (the payload is unique
    /// per send, so this is all a recipient needs to attribute it).
    Invocation { from: ConnId, step: u8 },
    /// Add or remove `target` to or from `group`, on behalf of `id`'s invocation on `node`.
    GroupCommand {
        node: u8,
        id: ConnId,
        target: Target,
        group: u8,
        add: bool,
    },
    /// The owner applied the group command of invocation `id`.
    Ack { id: ConnId },
}

/// A message between actors. Writes to a client's socket (`Push`) and the specification's
/// bookkeeping (`Applied`) go to a sink id that no actor has: they are recorded in the history
/// when sent and never delivered, so they add no interleavings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Msg {
    /// Client → its node: invoke step `step` of the client's script.
    Invoke { step: u8, op: Op<Small> },
    /// Node → client: the invocation of `step` completed, with or without an error.
    Completion { step: u8, ok: bool },
    /// Node → client: the node closes the connection with `allowReconnect: true`.
    Closed,
    /// Node → sink: a hub message written to the socket of `to`; `group` is the group it was
    /// addressed to, if any.
    Push {
        to: ConnId,
        from: ConnId,
        step: u8,
        group: Option<u8>,
    },
    /// Node → sink: the owner of `target` carried out an add (or remove) of `group`; the
    /// history's single-hub specification applies the same operation at this instant.
    Applied {
        target: ConnId,
        group: u8,
        add: bool,
    },
    /// Node → broker: SUBSCRIBE.
    Sub(Chan),
    /// Broker → node: the SUBSCRIBE reply.
    SubOk(Chan),
    /// Node → broker: UNSUBSCRIBE.
    Unsub(Chan),
    /// Node → broker: PUBLISH; `count_of` asks for the subscriber count of that channel in the
    /// same step (refhub's NUMSUB pre-check of a remote id, reference/scaleout.md §7.2).
    Pub {
        chan: Chan,
        body: Body,
        count_of: Option<Chan>,
    },
    /// Broker → node: the subscriber count asked for by the publication for invocation `id`.
    PubOk { id: ConnId, count: u8 },
    /// Broker → node: a message on a channel the node subscribes to.
    Deliver { chan: Chan, body: Body },
    /// Broker → node: the node's subscription connection dropped; every subscription is gone.
    Gap,
}

/// A timer: something that happens after an unbounded delay.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Broker: node `n`'s subscription connection drops (at most one gap per run).
    Gap(u8),
    /// Node: the ~30 s wait for the ack of invocation `id` ends (AckHandler @0b1cf03).
    AckTimeout(ConnId),
    /// Node (ASP.NET): the loop of channel `chan` takes the head of its queue.
    Process(Chan),
    /// Node (unordered backplane): this queued message is taken next, whatever its place.
    ProcessMsg(Chan, Body),
}
