//! What an operation did: its result, and who received what.

use crate::ids::ConnId;
use crate::names::{Names, Text};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a hub answered an invocation with an error instead of performing it.
///
/// The kinds are what a client can tell apart; the exact message text is the server's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// A `null` group name (ASP.NET Core: `ArgumentNullException`).
    NullGroupName,
    /// A `null` connection id as an argument of its own: `AddToGroupAsync`,
    /// `RemoveFromGroupAsync` and `Client(id)` (ASP.NET Core: `ArgumentNullException`, parameter
    /// `connectionId`; classic `GroupManager.Add`/`Remove` likewise).
    NullConnectionId,
    /// A `null` or empty name inside `Groups(list)` (ASP.NET Core: `InvalidOperationException`
    /// "Cannot send to an empty group name.", thrown at the first offending name).
    EmptyGroupName,
    /// A rooms call from a connection that has no user: there is nobody to record the room for.
    NoUser,
    /// A resume of a connection that has ended or never existed (the server answers 404).
    ConnectionGone,
    /// Classic SignalR 2.x: `Groups.Add`/`Remove` for a connection id that is not live on this
    /// server waits for an acknowledgement that never comes and completes as cancelled after
    /// the ack threshold (~30 s, `TaskCanceledException`; `Infrastructure/AckHandler.cs`).
    Cancelled,
}

impl ErrorKind {
    /// The kind's stable name, as in transcripts.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NullGroupName => "null-group-name",
            ErrorKind::NullConnectionId => "null-connection-id",
            ErrorKind::EmptyGroupName => "empty-group-name",
            ErrorKind::NoUser => "no-user",
            ErrorKind::ConnectionGone => "connection-gone",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpResult {
    /// Done (for an invocation: a Completion without error).
    Ok,
    /// A new connection was accepted under this id.
    Connected(ConnId),
    /// Refused with an error (for an invocation: a Completion with an error).
    Error(ErrorKind),
}

impl fmt::Display for OpResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpResult::Ok => f.write_str("ok"),
            OpResult::Connected(c) => write!(f, "ok {c}"),
            OpResult::Error(k) => write!(f, "error {k}"),
        }
    }
}

/// How a message reached its recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Written to a connected connection now.
    Now,
    /// Kept for a suspended connection, to be replayed when it resumes.
    Buffered,
    /// Replayed to a connection that has just resumed (it was `Buffered` earlier).
    Replayed,
}

/// One message to one connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Delivery<N: Names = Text> {
    /// The recipient.
    pub to: ConnId,
    /// The payload, as passed to the client method `Receive`.
    pub payload: N::Payload,
    /// Now, buffered or replayed.
    pub mode: Mode,
}

/// Everything one operation did that a client can observe.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Outcome<N: Names = Text> {
    /// The operation's result.
    pub result: OpResult,
    /// Every message the operation produced, in the order the hub wrote them. Per recipient
    /// this order is the order the recipient sees; across recipients it carries no meaning.
    pub deliveries: Vec<Delivery<N>>,
}

impl<N: Names> Outcome<N> {
    /// The payloads `conn` received (now or replayed), in order.
    pub fn received_by(&self, conn: ConnId) -> Vec<&N::Payload> {
        self.deliveries
            .iter()
            .filter(|d| d.to == conn && d.mode != Mode::Buffered)
            .map(|d| &d.payload)
            .collect()
    }

    /// The deliveries as a canonical per-recipient form: for each recipient (ascending), its
    /// messages in order. Two outcomes that no client can tell apart have equal forms.
    pub fn per_recipient(&self) -> std::collections::BTreeMap<ConnId, Vec<(Mode, N::Payload)>> {
        let mut map: std::collections::BTreeMap<ConnId, Vec<(Mode, N::Payload)>> =
            Default::default();
        for d in &self.deliveries {
            map.entry(d.to)
                .or_default()
                .push((d.mode, d.payload.clone()));
        }
        map
    }
}

/// Where [`crate::Hub::apply_to`] writes deliveries: the readable model collects them into an
/// [`Outcome`], the model checker only inspects them, so the checker's hot path allocates
/// nothing.
pub trait Sink<N: Names> {
    /// One message to one connection.
    fn deliver(&mut self, to: ConnId, payload: &N::Payload, mode: Mode);
}

impl<N: Names> Sink<N> for Vec<Delivery<N>> {
    fn deliver(&mut self, to: ConnId, payload: &N::Payload, mode: Mode) {
        self.push(Delivery {
            to,
            payload: payload.clone(),
            mode,
        });
    }
}

/// A sink that forgets everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl<N: Names> Sink<N> for Discard {
    fn deliver(&mut self, _: ConnId, _: &N::Payload, _: Mode) {}
}
