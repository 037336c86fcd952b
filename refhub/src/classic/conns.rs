//! What refhub keeps for each classic connection beside the model's state: its replay log
//! (with the cursors the client echoes as `messageId`) and the groups its last groups token
//! carried, plus the per-server key that signs both tokens.
//!
//! The model still decides everything: who is in a group, who receives a send, what a
//! reconnect rejoins. This file only turns the model's deliveries into envelopes and the
//! model's memberships into tokens.

use std::collections::HashMap;

use hubspec_model::{ConnId, GroupSet as _, Hub, Op, Profile, Spec};
use hubspec_wire::classic::groups_token::qualify;
use hubspec_wire::classic::{ClientHubInvocation, Envelope, GroupsToken, Replay, ReplayBuffer};
use hubspec_wire::HubMessage;

use crate::faults::FaultState;
use crate::state::Entry;

use super::HUB;

/// One classic connection's bookkeeping.
pub(crate) struct ClassicConn {
    /// Its public id (a Guid), the one in its tokens.
    pub(crate) public_id: String,
    /// Every hub message sent to it (written now or kept while it is away), for replay.
    replay: ReplayBuffer<String>,
    /// The groups the last token it was given carries (seeded with what a connect or rejoin
    /// gave it, which needs no new token, as the 2.x `DiffSet` seeded with the rejoin).
    tokened: Vec<String>,
}

/// Every classic connection, by model id.
pub(crate) struct ClassicConns {
    /// Signs connection tokens and groups tokens (each under its own purpose).
    key: [u8; 32],
    /// The cursor prefix of this server instance; a new one after a restart, so a cursor
    /// from before it replays nothing (as the 2.x cursor prefix).
    epoch: String,
    /// How many messages each replay log keeps.
    capacity: usize,
    conns: HashMap<ConnId, ClassicConn>,
}

impl ClassicConns {
    /// No connections yet, a fresh random key and epoch.
    pub(crate) fn new(capacity: usize) -> ClassicConns {
        let mut key = [0; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        ClassicConns {
            key,
            epoch: new_epoch(),
            capacity,
            conns: HashMap::new(),
        }
    }

    /// The per-server key.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// The spec `op` is judged by: the classic profile when it concerns a classic
    /// connection (its caller, or the connection dropped, resumed or ended), else `base`.
    pub(crate) fn spec_for(&self, op: &Op, base: Spec, faults: &FaultState) -> Spec {
        let conn = match op {
            Op::Disconnect { conn }
            | Op::Drop { conn }
            | Op::Resume { conn, .. }
            | Op::Expire { conn } => Some(*conn),
            other => other.caller(),
        };
        if conn.is_some_and(|c| self.conns.contains_key(&c)) {
            let classic = Spec {
                profile: Profile::Classic,
                verify_rejoin: false,
                ..base
            };
            faults.classic_spec(op, classic, base)
        } else {
            base
        }
    }

    /// Registers a classic connection; `groups` are those it has now (no token is due for
    /// them). Returns the cursor of its empty log, for the init envelope.
    pub(crate) fn insert(&mut self, id: ConnId, public_id: String, groups: Vec<String>) -> String {
        let replay = ReplayBuffer::new(self.epoch.clone(), self.capacity);
        let cursor = replay.cursor();
        self.conns.insert(
            id,
            ClassicConn {
                public_id,
                replay,
                tokened: groups,
            },
        );
        cursor
    }

    /// Whether `id` is a classic connection.
    pub(crate) fn contains(&self, id: ConnId) -> bool {
        self.conns.contains_key(&id)
    }

    /// Forgets a connection that ended.
    pub(crate) fn remove(&mut self, id: ConnId) {
        self.conns.remove(&id);
    }

    /// Forgets every connection (a restart); cursors issued before no longer replay.
    pub(crate) fn clear(&mut self) {
        self.conns.clear();
        self.epoch = new_epoch();
    }

    /// The envelope that carries `message` to classic connection `to` (logged for replay
    /// first), or `None` if `to` is not a classic connection.
    pub(crate) fn push(&mut self, to: ConnId, message: &HubMessage) -> Option<String> {
        let conn = self.conns.get_mut(&to)?;
        let json = client_message(message)?;
        let cursor = conn.replay.push(json.clone());
        Some(Envelope::with_messages(cursor, vec![json]).to_json())
    }

    /// What a reconnect presenting `message_id` is sent again: everything logged after it
    /// (nothing for a cursor of another server instance or a malformed one, as 2.x).
    pub(crate) fn replay(&self, id: ConnId, message_id: Option<&str>) -> Option<Replay<String>> {
        let conn = self.conns.get(&id)?;
        Some(match conn.replay.replay(message_id) {
            Ok(replay) => {
                if replay.missed > 0 {
                    tracing::warn!(%id, missed = replay.missed, "classic replay: messages no longer kept");
                }
                replay
            }
            Err(error) => {
                tracing::info!(%id, %error, "classic reconnect: the cursor replays nothing");
                conn.replay.nothing()
            }
        })
    }

    /// The groups `id` is known to have been given a token for; after a rejoin, what it
    /// rejoined (so no token is due).
    pub(crate) fn set_tokened(&mut self, id: ConnId, groups: Vec<String>) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.tokened = groups;
        }
    }

    /// Sends `{"C":…,"G":…,"M":[]}` to every connected classic connection whose groups (the
    /// model's) changed since its last token.
    pub(crate) fn send_new_tokens(&mut self, hub: &Hub, entries: &HashMap<ConnId, Entry>) {
        for (id, conn) in &mut self.conns {
            let Some(transport) = entries.get(id).and_then(Entry::transport) else {
                continue;
            };
            let groups: Vec<String> = hub
                .conn(*id)
                .map(|c| c.groups.items().collect())
                .unwrap_or_default();
            if groups == conn.tokened {
                continue;
            }
            let token = GroupsToken::sign(&self.key, &conn.public_id, &qualified(&groups));
            conn.tokened = groups;
            let envelope =
                Envelope::with_messages(conn.replay.cursor(), Vec::new()).with_groups_token(token);
            transport.send_text(envelope.to_json());
        }
    }
}

/// Group names as the token carries them: `Hub.group`.
pub(crate) fn qualified(groups: &[String]) -> Vec<String> {
    groups.iter().map(|g| qualify(HUB, g)).collect()
}

/// A core hub message to a client (`Receive(payload)`) as the classic hub's client
/// invocation, `{"H":"ConformanceHub","M":"Receive","A":[…]}`.
fn client_message(message: &HubMessage) -> Option<String> {
    match message {
        HubMessage::Invocation {
            target, arguments, ..
        } => Some(ClientHubInvocation::new(HUB, target.clone(), arguments.clone()).to_json()),
        _ => None,
    }
}

/// A random cursor prefix: 8 upper-case hex digits, as the 2.x `d-<hex>-` prefix.
fn new_epoch() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    format!(
        "{:X}",
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    )
}
