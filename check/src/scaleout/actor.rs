//! The actors: the broker (Redis), the nodes and the clients, and their stateright `Actor`.

use super::msg::{Chans, Msg, Timer};
use super::node::{initial_subs, Node, NodeState};
use super::scenario::Cluster;
use hubspec_model::ConnId;
use stateright::actor::{model_timeout, Actor, Id, Out};
use std::borrow::Cow;
use std::sync::Arc;

/// Actor ids: the broker is 0, node `n` is `1 + n`, connection `c{k}` is `nodes + k`, and the
/// sink (no actor: what is sent there is only recorded) comes after the last client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ids {
    pub nodes: u8,
    pub clients: u8,
}

impl Ids {
    /// The broker.
    pub fn broker() -> Id {
        Id::from(0)
    }

    /// The actor of node `n`.
    pub fn node(self, n: u8) -> Id {
        Id::from(1 + n as usize)
    }
    /// The actor of connection `c`'s client.
    pub fn client(self, c: ConnId) -> Id {
        Id::from(self.nodes as usize + c.0 as usize)
    }
    /// The connection whose client actor is `id`, if it is one.
    pub fn conn(self, id: Id) -> Option<ConnId> {
        let i = usize::from(id);
        let first = self.nodes as usize + 1;
        (first..first + self.clients as usize)
            .contains(&i)
            .then(|| ConnId((i - self.nodes as usize) as u32))
    }
    /// The sink.
    pub fn sink(self) -> Id {
        Id::from(1 + self.nodes as usize + self.clients as usize)
    }
}

/// Which part of the cluster an actor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    Broker,
    Node(u8),
    Client(ConnId),
}

/// One actor of a cluster.
#[derive(Clone, Debug)]
pub struct ScaleoutActor {
    pub part: Part,
    pub cluster: Arc<Cluster>,
}

/// The broker's state: who subscribes to what, and whether the one gap happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerState {
    /// Per node, its subscriptions.
    pub subs: Vec<Chans>,
    pub gap_used: bool,
}

/// A client's state: the next step of its script, and whether its node closed it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientState {
    /// Steps completed.
    pub done: u8,
    pub closed: bool,
}

/// An actor's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PartState {
    Broker(BrokerState),
    Node(NodeState),
    Client(ClientState),
}

impl ScaleoutActor {
    fn ids(&self) -> Ids {
        let s = &self.cluster.scenario;
        Ids {
            nodes: s.nodes,
            clients: s.clients.len() as u8,
        }
    }

    fn local(&self, n: u8) -> Vec<ConnId> {
        let s = &self.cluster.scenario;
        (1..=s.clients.len() as u32)
            .map(ConnId)
            .filter(|&c| s.node_of(c) == n)
            .collect()
    }

    /// Node `n` as it starts.
    fn start(&self, n: u8) -> NodeState {
        NodeState::start(n, &self.local(n), &self.cluster.scenario.members, false)
    }

    fn invoke(&self, c: ConnId, step: u8, o: &mut Out<Self>) {
        let s = &self.cluster.scenario;
        if let Some(op) = s.clients[c.0 as usize - 1].1.get(step as usize) {
            o.send(
                self.ids().node(s.node_of(c)),
                Msg::Invoke {
                    step,
                    op: op.clone(),
                },
            );
        }
    }

    fn node<'a>(
        &self,
        n: u8,
        state: &'a mut Cow<PartState>,
        out: &'a mut Out<Self>,
    ) -> Option<Node<'a>> {
        match state.to_mut() {
            PartState::Node(s) => Some(Node {
                index: n,
                behaviour: self.cluster.behaviour,
                fault: self.cluster.fault,
                ids: self.ids(),
                state: s,
                out,
            }),
            _ => None,
        }
    }
}

impl Actor for ScaleoutActor {
    type Msg = Msg;
    type State = PartState;
    type Timer = Timer;
    type Random = ();
    type Storage = bool;

    fn on_start(&self, _id: Id, storage: &Option<bool>, o: &mut Out<Self>) -> PartState {
        match self.part {
            Part::Broker => {
                let nodes = self.cluster.scenario.nodes;
                if self.cluster.scenario.gaps {
                    for n in 0..nodes {
                        o.set_timer(Timer::Gap(n), model_timeout());
                    }
                }
                PartState::Broker(BrokerState {
                    subs: (0..nodes)
                        .map(|n| initial_subs(n, &self.start(n).store))
                        .collect(),
                    gap_used: false,
                })
            }
            Part::Node(n) => {
                o.save(true);
                let mut state = self.start(n);
                state.restarted = storage.is_some();
                PartState::Node(state)
            }
            Part::Client(c) => {
                self.invoke(c, 0, o);
                PartState::Client(ClientState {
                    done: 0,
                    closed: false,
                })
            }
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<PartState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        match self.part {
            Part::Broker => {
                let PartState::Broker(b) = state.to_mut() else {
                    return;
                };
                let from = usize::from(src) - 1;
                match msg {
                    Msg::Sub(chan) => {
                        b.subs[from].put(chan);
                        o.send(src, Msg::SubOk(chan));
                    }
                    Msg::Unsub(chan) => b.subs[from].take(chan),
                    Msg::Pub {
                        chan,
                        body,
                        count_of,
                    } => {
                        let ids = self.ids();
                        for (n, subs) in b.subs.iter().enumerate() {
                            if subs.has(chan) {
                                o.send(
                                    ids.node(n as u8),
                                    Msg::Deliver {
                                        chan,
                                        body: body.clone(),
                                    },
                                );
                            }
                        }
                        if let (Some(of), super::msg::Body::GroupCommand { id, .. }) =
                            (count_of, &body)
                        {
                            let count = b.subs.iter().filter(|s| s.has(of)).count() as u8;
                            o.send(src, Msg::PubOk { id: *id, count });
                        }
                    }
                    _ => {}
                }
            }
            Part::Node(n) => {
                let Some(mut node) = self.node(n, state, o) else {
                    return;
                };
                match msg {
                    Msg::Invoke { step, op } => node.invoke(step, op),
                    Msg::SubOk(chan) => node.subscribed(chan),
                    Msg::PubOk { id, count } => node.counted(id, count),
                    Msg::Deliver { chan, body } => node.arrived(chan, body),
                    Msg::Gap => node.gap(),
                    _ => {}
                }
            }
            Part::Client(c) => match msg {
                Msg::Completion { step, .. } => {
                    let PartState::Client(s) = state.to_mut() else {
                        return;
                    };
                    s.done = step + 1;
                    self.invoke(c, step + 1, o);
                }
                Msg::Closed => {
                    let PartState::Client(s) = state.to_mut() else {
                        return;
                    };
                    s.closed = true;
                }
                _ => {}
            },
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<PartState>, timer: &Timer, o: &mut Out<Self>) {
        match (self.part, timer) {
            (Part::Broker, Timer::Gap(n)) => {
                let PartState::Broker(b) = state.to_mut() else {
                    return;
                };
                if b.gap_used {
                    return;
                }
                b.gap_used = true;
                b.subs[*n as usize] = Chans::default();
                for m in 0..self.cluster.scenario.nodes {
                    if m != *n {
                        o.cancel_timer(Timer::Gap(m));
                    }
                }
                o.send(self.ids().node(*n), Msg::Gap);
            }
            (Part::Node(n), timer) => {
                let Some(mut node) = self.node(n, state, o) else {
                    return;
                };
                match timer {
                    Timer::AckTimeout(id) => node.ack_timeout(*id),
                    Timer::Process(chan) => node.turn(*chan, None),
                    Timer::ProcessMsg(chan, body) => node.turn(*chan, Some(body.clone())),
                    Timer::Gap(_) => {}
                }
            }
            _ => {}
        }
    }
}
