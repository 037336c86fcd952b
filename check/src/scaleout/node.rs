//! A hub node: its local connections, their groups, its subscriptions and what it waits for.
//!
//! Who is in a group on a node is the specification's own state: the node keeps its local
//! connections in a `hubspec_model::Hub<Small>` and changes them with the model's `apply`, so
//! nothing here restates the single-hub group semantics. What is new is the scale-out
//! machinery around it: subscriptions, group commands, acks and channel queues.

use super::actor::{Ids, ScaleoutActor};
use super::history::{hub_of, spec};
use super::msg::{Body, Chan, Chans, Msg, Timer};
use super::scenario::{Behaviour, Fault};
use hubspec_model::sets::Bits;
use hubspec_model::{ConnId, GroupSet, Hub, Op, Selector, Small, Target};
use stateright::actor::{model_timeout, Out};

/// Where the outcome of a local membership change goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reply {
    /// A local client's invocation completes.
    Client { client: ConnId, step: u8 },
    /// The requester on another node gets an ack.
    Ack { node: u8, id: ConnId },
}

/// Something a node waits for before it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pending {
    /// The SUBSCRIBE reply for `chan`: the add of `target` takes effect, and completes, only
    /// once its subscription is in place (ASP.NET awaits `SubscribeAsync` before it acks).
    Sub {
        chan: Chan,
        target: ConnId,
        then: Reply,
    },
    /// refhub: the subscriber count of a remote id's channel.
    Count { client: ConnId, step: u8 },
    /// The ack of a group command sent for `client`'s invocation.
    Ack { client: ConnId, step: u8 },
    /// refhub: the node's own group publication coming back.
    Loopback { client: ConnId, step: u8 },
}

/// A node's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeState {
    /// The local connections and their groups (ordinal, as the specification has them).
    pub store: Hub<Small>,
    /// ASP.NET only: each local connection's case-insensitive group set (`RedisFeature.Groups`,
    /// `StringComparer.OrdinalIgnoreCase`), holding folded names (`group / 2`).
    pub folded: Vec<(ConnId, Bits)>,
    /// The channels the node asked the broker for.
    pub subs: Chans,
    /// The channels the broker confirmed.
    pub live: Chans,
    /// What the node waits for.
    pub pending: Vec<Pending>,
    /// Received channel messages not handled yet (ASP.NET and unordered only).
    pub inbox: Vec<(Chan, Body)>,
    /// Whether this state is a restart after a crash (the checked runs exclude it).
    pub restarted: bool,
}

/// The channels node `n` subscribes at start: group commands, its acks, its connections and
/// their groups.
pub fn initial_subs(n: u8, store: &Hub<Small>) -> Chans {
    let mut subs = Chans::default();
    subs.put(Chan::Groups);
    subs.put(Chan::Ack(n));
    for c in &store.conns {
        subs.put(Chan::Conn(Target::Id(c.id)));
        for g in c.groups.items() {
            subs.put(Chan::Group(g));
        }
    }
    subs
}

/// One node of the cluster, as the actor sees it.
pub struct Node<'a> {
    pub index: u8,
    pub behaviour: Behaviour,
    pub fault: Option<Fault>,
    pub ids: Ids,
    pub state: &'a mut NodeState,
    pub out: &'a mut Out<ScaleoutActor>,
}

impl NodeState {
    /// A started node holding `local` connections, subscribed to their channels.
    pub fn start(n: u8, local: &[ConnId], members: &[(ConnId, u8)], restarted: bool) -> Self {
        let mut store = hub_of(local);
        let mut folded: Vec<(ConnId, Bits)> = local.iter().map(|&c| (c, Bits::default())).collect();
        for &(c, g) in members {
            if let Some(i) = local.iter().position(|&l| l == c) {
                store
                    .apply(
                        &spec(),
                        &Op::AddToGroup {
                            caller: c,
                            group: Some(g),
                        },
                    )
                    .expect("a local connection");
                folded[i].1.put(g / 2);
            }
        }
        let subs = initial_subs(n, &store);
        NodeState {
            store,
            folded,
            subs,
            live: subs,
            pending: Vec::new(),
            inbox: Vec::new(),
            restarted,
        }
    }

    fn holds(&self, target: Target) -> Option<ConnId> {
        match target {
            Target::Id(c) if self.store.conn(c).is_some() => Some(c),
            _ => None,
        }
    }

    fn take_pending(&mut self, f: impl Fn(&Pending) -> bool) -> Option<Pending> {
        let i = self.pending.iter().position(f)?;
        Some(self.pending.remove(i))
    }
}

impl Node<'_> {
    fn complete(&mut self, client: ConnId, step: u8, ok: bool) {
        self.out
            .send(self.ids.client(client), Msg::Completion { step, ok });
    }

    fn reply(&mut self, reply: Reply) {
        match reply {
            Reply::Client { client, step } => self.complete(client, step, true),
            Reply::Ack { node, id } => self.out.send(
                Ids::broker(),
                Msg::Pub {
                    chan: Chan::Ack(node),
                    body: Body::Ack { id },
                    count_of: None,
                },
            ),
        }
    }

    /// Write `from`'s message of `step` to the socket of local connection `to`.
    fn write(&mut self, to: ConnId, from: ConnId, step: u8, group: Option<u8>) {
        self.out.send(
            self.ids.sink(),
            Msg::Push {
                to,
                from,
                step,
                group,
            },
        );
    }

    fn publish(&mut self, chan: Chan, body: Body, count_of: Option<Chan>) {
        self.out.send(
            Ids::broker(),
            Msg::Pub {
                chan,
                body,
                count_of,
            },
        );
    }

    /// A client's invocation. A connection the node closed gets no answer (its client saw
    /// the Close).
    pub fn invoke(&mut self, step: u8, op: Op<Small>) {
        let Some(caller) = op.caller() else { return };
        if self.state.store.conn(caller).is_none() {
            return;
        }
        let me = Reply::Client {
            client: caller,
            step,
        };
        if let Some(change) = op.membership_change() {
            let (target, group, add) = (change.target, *change.group, change.add);
            return match self.state.holds(target) {
                Some(t) => self.change(t, group, add, me),
                None => self.remote_change(caller, step, target, group, add),
            };
        }
        match op {
            Op::Send {
                selector: Selector::Group(Some(g)),
                ..
            } => self.group_send(caller, step, g),
            Op::Send {
                selector: Selector::Connection(target),
                ..
            } => self.connection_send(caller, step, target),
            other => unreachable!("not in the scale-out scenarios: {other:?}"),
        }
    }

    /// Add `target` (a local connection) to `group`, or remove it, then answer `reply`.
    fn change(&mut self, target: ConnId, group: u8, add: bool, reply: Reply) {
        if self.behaviour == Behaviour::AspNet {
            let folded = &mut self
                .state
                .folded
                .iter_mut()
                .find(|(c, _)| *c == target)
                .expect("a local connection")
                .1;
            if add && !folded.put(group / 2) {
                // `if (!feature.Groups.Add(groupName)) return;`: a case variant is in the set.
                self.applied(target, group, true);
                return self.reply(reply);
            }
            if !add {
                folded.take(&(group / 2));
            }
        }
        let op = if add {
            Op::AddToGroup {
                caller: target,
                group: Some(group),
            }
        } else {
            Op::RemoveFromGroup {
                caller: target,
                group: Some(group),
            }
        };
        self.state
            .store
            .apply(&spec(), &op)
            .expect("a local, connected target");
        let chan = Chan::Group(group);
        if add {
            if !self.state.subs.has(chan) {
                self.state.subs.put(chan);
                self.out.send(Ids::broker(), Msg::Sub(chan));
            }
            if self.state.live.has(chan) {
                self.applied(target, group, true);
                self.reply(reply);
            } else {
                self.state.pending.push(Pending::Sub {
                    chan,
                    target,
                    then: reply,
                });
            }
        } else {
            self.applied(target, group, false);
            if self.state.store.members(&group).next().is_none() && self.state.subs.has(chan) {
                self.state.subs.take(chan);
                self.state.live.take(chan);
                self.out.send(Ids::broker(), Msg::Unsub(chan));
            }
            self.reply(reply);
        }
    }

    /// The add or remove of `target` took effect: the specification changes at this instant,
    /// whatever the node makes of it (the history applies the same operation).
    fn applied(&mut self, target: ConnId, group: u8, add: bool) {
        self.out
            .send(self.ids.sink(), Msg::Applied { target, group, add });
    }

    /// An add or remove of a connection this node does not hold.
    fn remote_change(&mut self, caller: ConnId, step: u8, target: Target, group: u8, add: bool) {
        let body = Body::GroupCommand {
            node: self.index,
            id: caller,
            target,
            group,
            add,
        };
        if self.behaviour == Behaviour::AspNet {
            self.publish(Chan::Groups, body, None);
            self.await_ack(caller, step);
        } else {
            self.publish(Chan::Groups, body, Some(Chan::Conn(target)));
            self.state.pending.push(Pending::Count {
                client: caller,
                step,
            });
        }
    }

    fn await_ack(&mut self, client: ConnId, step: u8) {
        self.state.pending.push(Pending::Ack { client, step });
        if self.fault != Some(Fault::NoAckTimeout) {
            self.out
                .set_timer(Timer::AckTimeout(client), model_timeout());
        }
    }

    fn group_send(&mut self, caller: ConnId, step: u8, group: u8) {
        let chan = Chan::Group(group);
        self.publish(chan, Body::Invocation { from: caller, step }, None);
        if self.behaviour != Behaviour::AspNet && self.state.subs.has(chan) {
            // Local members: complete once they have it.
            self.state.pending.push(Pending::Loopback {
                client: caller,
                step,
            });
        } else {
            self.complete(caller, step, true);
        }
    }

    fn connection_send(&mut self, caller: ConnId, step: u8, target: Target) {
        match self.state.holds(target) {
            Some(to) => self.write(to, caller, step, None),
            None => self.publish(
                Chan::Conn(target),
                Body::Invocation { from: caller, step },
                None,
            ),
        }
        self.complete(caller, step, true);
    }

    /// The SUBSCRIBE reply for `chan`.
    ///
    /// Known simplification: a reply is not matched to its request, so a channel subscribed,
    /// unsubscribed and subscribed again while the first reply is on its way would count as
    /// live one reply early. No scenario subscribes a channel twice.
    pub fn subscribed(&mut self, chan: Chan) {
        self.state.live.put(chan);
        while let Some(Pending::Sub { target, then, .. }) = self
            .state
            .take_pending(|p| matches!(p, Pending::Sub { chan: c, .. } if *c == chan))
        {
            let Chan::Group(group) = chan else {
                unreachable!("only group channels are subscribed after the start")
            };
            self.applied(target, group, true);
            self.reply(then);
        }
    }

    /// The subscriber count of a remote id's channel: none means no node holds it.
    pub fn counted(&mut self, id: ConnId, count: u8) {
        if let Some(Pending::Count { client, step }) = self
            .state
            .take_pending(|p| matches!(p, Pending::Count { client, .. } if *client == id))
        {
            if count == 0 {
                self.complete(client, step, true);
            } else {
                self.await_ack(client, step);
            }
        }
    }

    /// A channel message arrived: handled now, or queued.
    pub fn arrived(&mut self, chan: Chan, body: Body) {
        match self.behaviour {
            Behaviour::Refhub => self.handle(chan, body),
            Behaviour::AspNet => {
                self.state.inbox.push((chan, body));
                self.out.set_timer(Timer::Process(chan), model_timeout());
            }
            Behaviour::Unordered => {
                self.state.inbox.push((chan, body.clone()));
                self.out
                    .set_timer(Timer::ProcessMsg(chan, body), model_timeout());
            }
        }
    }

    /// A queue's turn: ASP.NET takes the head of `chan`'s queue, the unordered backplane the
    /// given message.
    pub fn turn(&mut self, chan: Chan, body: Option<Body>) {
        let inbox = &mut self.state.inbox;
        let Some(i) = inbox
            .iter()
            .position(|(c, b)| *c == chan && body.as_ref().is_none_or(|body| body == b))
        else {
            return;
        };
        let (chan, body) = inbox.remove(i);
        let again = inbox
            .iter()
            .any(|(c, b)| *c == chan && (self.behaviour == Behaviour::AspNet || *b == body));
        if again {
            let timer = match self.behaviour {
                Behaviour::AspNet => Timer::Process(chan),
                _ => Timer::ProcessMsg(chan, body.clone()),
            };
            self.out.set_timer(timer, model_timeout());
        }
        self.handle(chan, body);
    }

    fn handle(&mut self, chan: Chan, body: Body) {
        match (chan, body) {
            (Chan::Group(g), Body::Invocation { from, step }) => {
                let store = &self.state.store;
                let mut members: Vec<ConnId> = match self.fault {
                    Some(Fault::WriteToAll) => store.conns.iter().map(|c| c.id).collect(),
                    _ => store.members(&g).collect(),
                };
                if self.fault == Some(Fault::DoubleWrite) {
                    members.extend(members.clone());
                }
                for to in members {
                    self.write(to, from, step, Some(g));
                }
                if let Some(Pending::Loopback { client, step }) = self.state.take_pending(
                    |p| matches!(p, Pending::Loopback { client, step: s } if *client == from && *s == step),
                ) {
                    self.complete(client, step, true);
                }
            }
            (Chan::Conn(target), Body::Invocation { from, step }) => {
                if let Some(to) = self.state.holds(target) {
                    self.write(to, from, step, None);
                }
            }
            (
                Chan::Groups,
                Body::GroupCommand {
                    node,
                    id,
                    target,
                    group,
                    add,
                },
            ) => {
                if let Some(t) = self.state.holds(target) {
                    self.change(t, group, add, Reply::Ack { node, id });
                }
            }
            (Chan::Ack(_), Body::Ack { id }) => {
                if let Some(Pending::Ack { client, step }) = self
                    .state
                    .take_pending(|p| matches!(p, Pending::Ack { client, .. } if *client == id))
                {
                    self.out.cancel_timer(Timer::AckTimeout(id));
                    self.complete(client, step, true);
                }
            }
            _ => {}
        }
    }

    /// The ack wait of invocation `id` ends: the invocation fails.
    pub fn ack_timeout(&mut self, id: ConnId) {
        if let Some(Pending::Ack { client, step }) = self
            .state
            .take_pending(|p| matches!(p, Pending::Ack { client, .. } if *client == id))
        {
            self.complete(client, step, false);
        }
    }

    /// The node's subscription connection dropped and every subscription with it.
    pub fn gap(&mut self) {
        if self.behaviour == Behaviour::AspNet {
            // StackExchange.Redis resubscribes; what was published meanwhile is lost, and the
            // clients are not told (reference/scaleout.md §1.6).
            self.state.live = Chans::default();
            for bit in 0..32 {
                if self.state.subs.0 & (1 << bit) != 0 {
                    let chan = chan_of_bit(bit);
                    self.out.send(Ids::broker(), Msg::Sub(chan));
                }
            }
            return;
        }
        // Fail-stop: every local client is closed with allowReconnect, so a loss is a
        // disconnect the client sees rather than a silent one.
        let local: Vec<ConnId> = self.state.store.conns.iter().map(|c| c.id).collect();
        for c in local {
            self.out.send(self.ids.client(c), Msg::Closed);
        }
        for p in std::mem::take(&mut self.state.pending) {
            if let Pending::Ack { client, .. } = p {
                self.out.cancel_timer(Timer::AckTimeout(client));
            }
        }
        for (chan, body) in std::mem::take(&mut self.state.inbox) {
            self.out.cancel_timer(Timer::ProcessMsg(chan, body));
        }
        self.state.store.conns.clear();
        self.state.folded.clear();
        self.state.subs = Chans::default();
        self.state.live = Chans::default();
    }
}

/// The channel a bit of [`Chans`] stands for (the inverse of its private `bit`).
fn chan_of_bit(bit: u32) -> Chan {
    match bit {
        0 => Chan::Groups,
        1..=3 => Chan::Ack(bit as u8 - 1),
        5..=14 => Chan::Conn(Target::Id(ConnId(bit - 4))),
        15 => Chan::Conn(Target::Unknown),
        16..=31 => Chan::Group(bit as u8 - 16),
        _ => unreachable!("bit 4 is never set"),
    }
}
