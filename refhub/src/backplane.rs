//! A refhub node of a cluster: several refhub processes serve one hub by sharing a Redis, over
//! ASP.NET Core's Redis backplane protocol ([`hubspec_wire::backplane`]), so that a refhub node
//! could share a Redis with ASP.NET Core nodes.
//!
//! What a node does (model-faithful, issue 14; scaleout.md §1.3 and §7 for ASP.NET Core's ways):
//! - **Sends.** The node's own model delivers to its local recipients at once, under the state
//!   lock and before the caller's Completion, exactly as a single hub does; then the send is
//!   PUBLISHed to the channels ASP.NET Core uses (`P:all`, `P:group:<g>`, `P:connection:<id>`
//!   for an id not held here, `P:user:<u>`), excluded ids in the payload, with the node's name
//!   as refhub's origin item so that its own echo is skipped. One task publishes in issue order
//!   on one connection, so Redis keeps each sender's order across channels.
//! - **Receiving.** One pub/sub connection: literal SUBSCRIBEs to `P:all`,
//!   `P:internal:groups`, the node's ack channel and `P:connection:<id>` of every local
//!   connection (as ASP.NET Core, so `PUBSUB NUMSUB` tells whether some node holds an id), and
//!   PSUBSCRIBEs to every group and user channel, so a node never has to subscribe before a
//!   membership change takes effect. A received invocation is given to the node's model as a
//!   send by a local connection whose selector does not depend on the caller (`AllExcept`,
//!   `GroupExcept`, `Connection`, `User`): the model still decides who receives it.
//! - **Membership by id.** An id held here is the single hub's path. An id held by another
//!   node: `PUBSUB NUMSUB P:connection:<id>`; 0 means no node holds it and the call completes at
//!   once as a no-op (the model's unknown id); else the GroupCommand is published on
//!   `P:internal:groups`, the owner applies it and publishes the Ack to our ack channel, and
//!   only then is the caller's Completion written. No ack within the ack timeout is
//!   ASP.NET Core's error ("A task was canceled.").
//! - **A lost subscription** (the pub/sub stream ends: Redis gone, `CLIENT KILL TYPE pubsub`):
//!   every local connection is closed with `allowReconnect: true`, never a silent loss, and the
//!   node subscribes again.
//!
//! Known limits: a connection's `P:connection:<id>` subscription is made just after its
//! handshake, so in that moment a remote add by its id is taken for an unknown id (ASP.NET Core
//! has the same window); `SendToGroups` across nodes gives one copy per listed group, whatever
//! `groups_fanout` says; a remote add or remove completes out of the order of the caller's later
//! invocations (they do not wait for its ack); a node whose local connections are all
//! suspended has no stand-in caller for what other nodes send, so its suspended members miss it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use hubspec_model::{ConnId, Op, Selector, Target};
use hubspec_wire::backplane::{Ack, Channel, Channels, GroupAction, GroupCommand, Invocation};
use hubspec_wire::HubMessage;
use redis::AsyncCommands as _;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::dispatch::{errors, Send};
use crate::server::Shared;
use crate::state::{End, State};
use crate::RefHubError;

/// The hub's .NET type name that refhub nodes use as the channel prefix by default.
pub const DEFAULT_HUB_NAME: &str = "HubSpec.ConformanceHub";

/// How long connecting to Redis and the first subscription may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a node waits before subscribing again after a lost subscription.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(200);

/// A node's place in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackplaneConfig {
    /// `redis://host:port`.
    pub redis_url: String,
    /// This node's server name: its ack channel is `P:internal:ack:<node_name>`.
    pub node_name: String,
    /// The channel prefix `P`, the hub's .NET type name for ASP.NET Core nodes.
    pub hub_name: String,
    /// How long a remote add or remove waits for the owner's ack (ASP.NET Core: 30 s).
    pub ack_timeout: Duration,
}

impl BackplaneConfig {
    /// A node named `node_name` on the Redis at `redis_url`, with the default hub name and
    /// ASP.NET Core's 30 s ack timeout.
    pub fn new(redis_url: impl Into<String>, node_name: impl Into<String>) -> Self {
        BackplaneConfig {
            redis_url: redis_url.into(),
            node_name: node_name.into(),
            hub_name: DEFAULT_HUB_NAME.to_owned(),
            ack_timeout: Duration::from_secs(30),
        }
    }
}

/// What the publisher task sends to Redis, in the order given.
enum Publish {
    /// PUBLISH `payload` on `channel`.
    Message { channel: String, payload: Vec<u8> },
    /// PUBLISH the GroupCommand `payload` on `P:internal:groups` if some node holds the
    /// connection (`PUBSUB NUMSUB presence` > 0); `held` says whether it did.
    Command {
        presence: String,
        channel: String,
        payload: Vec<u8>,
        held: oneshot::Sender<bool>,
    },
}

/// A change to the node's literal subscriptions.
enum Subscription {
    Subscribe(String),
    Unsubscribe(String),
}

/// The ack ids this node waits for.
#[derive(Default)]
struct Acks {
    next: i32,
    waiting: HashMap<i32, oneshot::Sender<()>>,
}

impl Acks {
    fn register(&mut self) -> (i32, oneshot::Receiver<()>) {
        self.next = self.next.wrapping_add(1);
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(self.next, tx);
        (self.next, rx)
    }
}

/// The node's part of the hub state, under the state lock.
pub(crate) struct Node {
    channels: Channels,
    name: String,
    ack_timeout: Duration,
    publish: mpsc::UnboundedSender<Publish>,
    subscribe: mpsc::UnboundedSender<Subscription>,
    acks: Arc<Mutex<Acks>>,
}

impl Node {
    fn publish(&self, channel: String, payload: Vec<u8>) {
        let _ = self.publish.send(Publish::Message { channel, payload });
    }

    /// A local connection now exists: other nodes reach it on its channel.
    pub(crate) fn connected(&self, public_id: &str) {
        let channel = self.channels.connection(public_id);
        let _ = self.subscribe.send(Subscription::Subscribe(channel));
    }

    /// A local connection ended.
    pub(crate) fn ended(&self, public_id: &str) {
        let channel = self.channels.connection(public_id);
        let _ = self.subscribe.send(Subscription::Unsubscribe(channel));
    }

    /// Publishes a send that the node's model has already delivered to its local recipients,
    /// for the other nodes' recipients. `is_local` says whether an id is held here.
    pub(crate) fn publish_send(
        &self,
        caller: &str,
        send: &Send,
        payload: &str,
        is_local: impl Fn(&str) -> bool,
    ) {
        let ids = |ids: &[Option<String>]| ids.iter().flatten().cloned().collect::<Vec<_>>();
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        match send {
            Send::All => out.push((self.channels.all(), Vec::new())),
            Send::AllExcept(excluded) => out.push((self.channels.all(), ids(excluded))),
            Send::Others => out.push((self.channels.all(), vec![caller.to_owned()])),
            Send::Caller => {}
            Send::Connection(Some(id)) if !is_local(id) => {
                out.push((self.channels.connection(id), Vec::new()))
            }
            Send::Connection(_) => {}
            Send::Connections(targets) => out.extend(
                distinct(targets)
                    .into_iter()
                    .filter(|id| !is_local(id))
                    .map(|id| (self.channels.connection(id), Vec::new())),
            ),
            Send::Group(Some(g)) => out.push((self.channels.group(g), Vec::new())),
            Send::Groups(groups) => out.extend(
                distinct(groups)
                    .into_iter()
                    .map(|g| (self.channels.group(g), Vec::new())),
            ),
            Send::GroupExcept(Some(g), excluded) => {
                out.push((self.channels.group(g), ids(excluded)))
            }
            Send::OthersInGroup(Some(g)) => {
                out.push((self.channels.group(g), vec![caller.to_owned()]))
            }
            Send::Group(None) | Send::GroupExcept(None, _) | Send::OthersInGroup(None) => {}
            Send::User(u) => out.push((self.channels.user(u), Vec::new())),
            Send::Users(users) => out.extend(
                distinct(users)
                    .into_iter()
                    .map(|u| (self.channels.user(u), Vec::new())),
            ),
        }
        if out.is_empty() {
            return;
        }
        let serializations = serializations(payload);
        for (channel, excluded) in out {
            let invocation = Invocation {
                excluded,
                serializations: serializations.clone(),
                return_address: None,
                origin: Some(self.name.clone()),
            };
            self.publish(channel, invocation.encode());
        }
    }

    /// Starts an add or remove of a connection held by no local entry.
    pub(crate) fn remote_change(
        &self,
        action: GroupAction,
        group: &str,
        connection_id: &str,
    ) -> RemoteChange {
        let (id, ack) = self
            .acks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .register();
        let command = GroupCommand {
            id,
            server_name: self.name.clone(),
            action,
            group: group.to_owned(),
            connection_id: connection_id.to_owned(),
        };
        let (held, published) = oneshot::channel();
        let _ = self.publish.send(Publish::Command {
            presence: self.channels.connection(connection_id),
            channel: self.channels.group_management(),
            payload: command.encode(),
            held,
        });
        RemoteChange {
            id,
            published,
            ack,
            acks: self.acks.clone(),
            timeout: self.ack_timeout,
        }
    }
}

/// The distinct non-null names of a list, in order (one publication per channel).
fn distinct(names: &[Option<String>]) -> BTreeSet<&String> {
    names.iter().flatten().collect()
}

/// The framed `Receive(payload)` in both hub protocols, as ASP.NET Core puts one entry per
/// supported protocol in the map (JSON first).
fn serializations(payload: &str) -> Vec<(String, Vec<u8>)> {
    let message = HubMessage::invocation(None, "Receive", vec![Value::String(payload.to_owned())]);
    vec![
        ("json".to_owned(), message.to_wire().into_bytes()),
        ("messagepack".to_owned(), message.to_msgpack_wire()),
    ]
}

/// The payload of a `Receive(payload)` invocation from another node, read from its JSON
/// serialization, else its MessagePack one.
fn received_payload(invocation: &Invocation) -> Option<String> {
    let message = if let Some(json) = invocation.serialization("json") {
        let text = std::str::from_utf8(json).ok()?;
        HubMessage::parse(text.strip_suffix('\u{1e}').unwrap_or(text)).ok()?
    } else {
        let framed = invocation.serialization("messagepack")?;
        let (start, length) = hubspec_wire::msgpack::parse_length_prefix(framed).ok()??;
        HubMessage::parse_msgpack(&framed[start..start + length]).ok()?
    };
    match message {
        HubMessage::Invocation {
            target, arguments, ..
        } if target == "Receive" => match arguments.as_slice() {
            [Value::String(payload)] => Some(payload.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// An add or remove waiting for the owner's ack.
pub(crate) struct RemoteChange {
    id: i32,
    published: oneshot::Receiver<bool>,
    ack: oneshot::Receiver<()>,
    acks: Arc<Mutex<Acks>>,
    timeout: Duration,
}

impl RemoteChange {
    /// `Ok` once the owner acked, or at once when no node holds the id; `Err` with the
    /// exception's message when no ack came in time.
    async fn wait(self) -> Result<(), &'static str> {
        let RemoteChange {
            id,
            published,
            ack,
            acks,
            timeout,
        } = self;
        let outcome = tokio::time::timeout(timeout, async {
            match published.await {
                Ok(true) => ack.await.map_err(|_| ()),
                // No node holds the id: the model's no-op.
                Ok(false) => Ok(()),
                Err(_) => Err(()),
            }
        })
        .await;
        acks.lock()
            .unwrap_or_else(|e| e.into_inner())
            .waiting
            .remove(&id);
        match outcome {
            Ok(Ok(())) => Ok(()),
            _ => Err("A task was canceled."),
        }
    }
}

/// Writes the caller's Completion (when it wants one) once a remote change has completed, if
/// its socket is still the one that asked.
pub(crate) fn complete_later(
    shared: Arc<Shared>,
    conn: ConnId,
    generation: u64,
    invocation_id: Option<String>,
    target: String,
    change: RemoteChange,
) {
    tokio::spawn(async move {
        let result = change
            .wait()
            .await
            .map(|()| None)
            .map_err(|e| errors::hub_exception(&target, e));
        let Some(id) = invocation_id else { return };
        let mut st = shared.lock();
        if st.current(conn, generation).is_some() {
            st.push(conn, &crate::state::completion(&id, &result), None);
            st.settle();
        }
    });
}

/// Connects the node: the publishing connection, the first subscription (awaited), and the
/// two tasks that own them. Returns the tasks, for shutdown to abort.
pub(crate) async fn start(
    shared: Arc<Shared>,
    config: BackplaneConfig,
) -> Result<Vec<JoinHandle<()>>, RefHubError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        RefHubError::Config(format!(
            "backplane {}: {what}: {e}",
            config.redis_url.as_str()
        ))
    };
    let client = redis::Client::open(config.redis_url.as_str()).map_err(|e| failed("URL", &e))?;
    let connection =
        tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
            .await
            .map_err(|e| failed("connect", &e))?
            .map_err(|e| failed("connect", &e))?;
    let (publish, published) = mpsc::unbounded_channel();
    let (subscribe, subscriptions) = mpsc::unbounded_channel();
    shared.lock().backplane = Some(Node {
        channels: Channels::new(&config.hub_name),
        name: config.node_name.clone(),
        ack_timeout: config.ack_timeout,
        publish,
        subscribe,
        acks: Arc::default(),
    });
    let publisher = tokio::spawn(publisher(connection, published));
    let (ready, is_ready) = oneshot::channel();
    let subscriber = tokio::spawn(subscriber(client, shared, subscriptions, ready));
    match tokio::time::timeout(CONNECT_TIMEOUT, is_ready).await {
        Ok(Ok(())) => Ok(vec![publisher, subscriber]),
        outcome => {
            publisher.abort();
            subscriber.abort();
            let why = if outcome.is_err() {
                "timed out"
            } else {
                "failed"
            };
            Err(failed("subscribe", &why))
        }
    }
}

/// Publishes in the order given, on one connection.
async fn publisher(
    mut connection: redis::aio::MultiplexedConnection,
    mut queue: mpsc::UnboundedReceiver<Publish>,
) {
    while let Some(item) = queue.recv().await {
        match item {
            Publish::Message { channel, payload } => {
                let sent: redis::RedisResult<usize> = connection.publish(&channel, payload).await;
                if let Err(e) = sent {
                    tracing::warn!(%channel, error = %e, "backplane PUBLISH failed");
                }
            }
            Publish::Command {
                presence,
                channel,
                payload,
                held,
            } => {
                let count: redis::RedisResult<(String, usize)> = redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg(&presence)
                    .query_async(&mut connection)
                    .await;
                let is_held = matches!(count, Ok((_, n)) if n > 0);
                if is_held {
                    let sent: redis::RedisResult<usize> =
                        connection.publish(&channel, payload).await;
                    if let Err(e) = sent {
                        tracing::warn!(%channel, error = %e, "backplane PUBLISH failed");
                    }
                }
                let _ = held.send(is_held);
            }
        }
    }
}

/// Owns the pub/sub connection: subscribes, hands every message to the state, and on a lost
/// subscription closes the local clients and subscribes again.
async fn subscriber(
    client: redis::Client,
    shared: Arc<Shared>,
    mut changes: mpsc::UnboundedReceiver<Subscription>,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        let outcome = session(&client, &shared, &mut changes, &mut ready).await;
        if ready.is_some() {
            // The first subscription failed: `start` reports it.
            return;
        }
        tracing::warn!(error = ?outcome.err(), "backplane subscription lost: closing every local connection");
        fail_stop(&shared);
        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
    }
}

/// One pub/sub connection's life; returns when it is lost.
async fn session(
    client: &redis::Client,
    shared: &Arc<Shared>,
    changes: &mut mpsc::UnboundedReceiver<Subscription>,
    ready: &mut Option<oneshot::Sender<()>>,
) -> redis::RedisResult<()> {
    let (mut sink, mut stream) = client.get_async_pubsub().await?.split();
    let (fixed, patterns, connections) = {
        let st = shared.lock();
        let Some(node) = &st.backplane else {
            return Ok(());
        };
        let c = &node.channels;
        let fixed = vec![c.all(), c.group_management(), c.ack(&node.name)];
        let patterns = vec![
            format!("{}*", glob_escape(&c.group(""))),
            format!("{}*", glob_escape(&c.user(""))),
        ];
        let connections: Vec<String> = st.by_public.keys().map(|id| c.connection(id)).collect();
        (fixed, patterns, connections)
    };
    sink.subscribe(&fixed).await?;
    sink.psubscribe(&patterns).await?;
    for channel in &connections {
        sink.subscribe(channel).await?;
    }
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return Ok(()) };
                let mut st = shared.lock();
                receive(&mut st, message.get_channel_name(), message.get_payload_bytes());
            }
            change = changes.recv() => match change {
                Some(Subscription::Subscribe(channel)) => sink.subscribe(&channel).await?,
                Some(Subscription::Unsubscribe(channel)) => sink.unsubscribe(&channel).await?,
                // The state is gone: the hub has stopped.
                None => std::future::pending::<()>().await,
            },
        }
    }
}

/// A literal for a Redis glob pattern: the hub name may hold `*`, `?`, `[` or `\`.
fn glob_escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    for ch in literal.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The node lost its subscription and may have missed messages: every local connection is
/// closed with `allowReconnect: true`, so the loss is a disconnect the clients see.
fn fail_stop(shared: &Shared) {
    let mut st = shared.lock();
    let ids: Vec<ConnId> = st.entries.keys().copied().collect();
    for id in ids {
        let classic = st.classic.contains(id);
        if let Some(transport) = st.end(id, End::Closed) {
            if classic {
                transport.abort();
            } else {
                transport.close(None, true);
            }
        }
    }
    st.settle();
}

/// One message from Redis, under the state lock.
fn receive(st: &mut State, channel: &str, payload: &[u8]) {
    let Some(node) = &st.backplane else { return };
    let Some(kind) = node.channels.classify(channel) else {
        return;
    };
    match kind {
        Channel::All | Channel::Group(_) | Channel::Connection(_) | Channel::User(_) => {
            invocation(st, kind, payload)
        }
        Channel::GroupManagement => group_command(st, payload),
        Channel::Ack(server) if server == node.name => match Ack::decode(payload) {
            Ok(Ack(id)) => {
                let mut acks = node.acks.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(waiter) = acks.waiting.remove(&id) {
                    let _ = waiter.send(());
                }
            }
            Err(e) => tracing::warn!(%channel, error = %e, "unreadable backplane ack"),
        },
        Channel::Ack(_) | Channel::ReturnResults(_) => {}
    }
}

/// A local connection that can stand as the caller of a send that came from another node:
/// only selectors that do not depend on the caller are used for those. A core connection is
/// preferred, as an operation is judged by the profile of its caller's endpoint.
fn stand_in_caller(st: &State) -> Option<ConnId> {
    let connected = || {
        st.entries
            .keys()
            .copied()
            .filter(|id| st.hub.is_connected(*id))
    };
    connected()
        .filter(|id| !st.classic.contains(*id))
        .min()
        .or_else(|| connected().min())
}

fn local_target(st: &State, id: &str) -> Target {
    st.by_public
        .get(id)
        .map_or(Target::Unknown, |c| Target::Id(*c))
}

fn invocation(st: &mut State, kind: Channel<'_>, payload: &[u8]) {
    let invocation = match Invocation::decode(payload) {
        Ok(invocation) => invocation,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable backplane invocation");
            return;
        }
    };
    let node_name = st.backplane.as_ref().map(|n| n.name.as_str());
    if invocation.origin.is_some() && invocation.origin.as_deref() == node_name {
        // Our own send: its local recipients already have it.
        return;
    }
    let Some(text) = received_payload(&invocation) else {
        // FIXME(issue 14): only refhub's `Receive(payload)` is fed to the model; another
        // node's other messages are not delivered.
        tracing::warn!("backplane invocation that is not Receive(string): not delivered");
        return;
    };
    let excluded: Vec<Target> = invocation
        .excluded
        .iter()
        .map(|id| local_target(st, id))
        .collect();
    let selector = match kind {
        Channel::All => Selector::AllExcept(excluded),
        Channel::Group(g) => Selector::GroupExcept(Some(g.to_owned()), excluded),
        Channel::User(u) => Selector::User(u.to_owned()),
        Channel::Connection(id) => match local_target(st, id) {
            Target::Id(c) if !excluded.contains(&Target::Id(c)) => {
                Selector::Connection(Target::Id(c))
            }
            _ => return,
        },
        _ => return,
    };
    let Some(caller) = stand_in_caller(st) else {
        return;
    };
    st.apply(&Op::Send {
        caller,
        selector,
        payload: text,
    });
    st.settle();
}

fn group_command(st: &mut State, payload: &[u8]) {
    let command = match GroupCommand::decode(payload) {
        Ok(command) => command,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable backplane group command");
            return;
        }
    };
    let Some(&conn) = st.by_public.get(&command.connection_id) else {
        // Not ours: the owner acks (ASP.NET Core's "user not on this server").
        return;
    };
    if let Some(caller) = stand_in_caller(st) {
        let group = Some(command.group.clone());
        let target = Target::Id(conn);
        let op = match command.action {
            GroupAction::Add => Op::AddConnectionToGroup {
                caller,
                target,
                group,
            },
            GroupAction::Remove => Op::RemoveConnectionFromGroup {
                caller,
                target,
                group,
            },
        };
        st.apply(&op);
        st.settle();
    }
    if let Some(node) = &st.backplane {
        node.publish(
            node.channels.ack(&command.server_name),
            Ack(command.id).encode(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_escape_keeps_a_hub_name_literal() {
        assert_eq!(
            glob_escape("H*b?[x]\\:group:"),
            "H\\*b\\?\\[x\\]\\\\:group:"
        );
    }

    #[test]
    fn a_received_payload_is_read_from_either_serialization() {
        let both = Invocation {
            serializations: serializations("p1"),
            ..Invocation::default()
        };
        assert_eq!(received_payload(&both).as_deref(), Some("p1"));
        let msgpack_only = Invocation {
            serializations: serializations("p2").split_off(1),
            ..Invocation::default()
        };
        assert_eq!(msgpack_only.serializations[0].0, "messagepack");
        assert_eq!(received_payload(&msgpack_only).as_deref(), Some("p2"));
        assert_eq!(received_payload(&Invocation::default()), None);
    }
}
