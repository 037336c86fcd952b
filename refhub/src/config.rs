//! The reference hub's configuration: where it listens, which profile it serves, its limits
//! and timeouts (ASP.NET Core's defaults unless stated), and the faults it injects.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hubspec_model::{GroupsFanout, Profile, Spec};

use crate::faults::Fault;

/// Everything [`crate::RefHub::start`] needs. `Default` is ASP.NET Core's behaviour on
/// `127.0.0.1:0` at `/hub`, profile `core-stateful`, no database, no fault.
#[derive(Debug, Clone)]
pub struct RefHubConfig {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The hub's path, e.g. `/hub`; negotiate is at `{path}/negotiate`.
    pub path: String,
    /// `core` or `core-stateful` (`classic` is refused here: this path speaks
    /// ASP.NET Core's protocol; classic clients use `/signalr`, served beside it on the same state).
    pub profile: Profile,
    /// How `SendToGroups` fans out.
    pub groups_fanout: GroupsFanout,
    /// SQLite file for the rooms records; `None` keeps them in memory (they still survive an
    /// in-process [`crate::RefHub::restart`]).
    pub rooms_db: Option<PathBuf>,
    /// Faults to inject; empty for the correct hub.
    pub faults: BTreeSet<Fault>,
    /// The server sends a Ping when it has written nothing for this long
    /// (`HubOptions.KeepAliveInterval`, 15 s).
    pub keep_alive: Duration,
    /// The server ends a connection that has sent no hub message for this long
    /// (`HubOptions.ClientTimeoutInterval`, 30 s); stateful or not, it is not suspended.
    pub client_timeout: Duration,
    /// The client must complete the handshake within this (`HubOptions.HandshakeTimeout`, 15 s).
    pub handshake_timeout: Duration,
    /// A suspended stateful connection (and a negotiated connection that never opened its
    /// socket) ends after this (`ConnectionOptions.DisconnectTimeout`, 15 s).
    pub disconnect_timeout: Duration,
    /// Stateful reconnect replay buffer per connection, in bytes
    /// (`HubOptions.StatefulReconnectBufferSize`, 100,000).
    pub replay_buffer_bytes: usize,
    /// The largest incoming record, separator included (`HubOptions.MaximumReceiveMessageSize`,
    /// 32 KiB).
    pub max_message_bytes: usize,
    /// The longest group (or room) name accepted, in UTF-8 bytes (refhub's own limit, 1024,
    /// as Azure SignalR's).
    pub max_group_name_bytes: usize,
    /// Flood limit: the most invocations one read from a client may carry before the hub has
    /// answered them; more closes the connection with an error.
    pub max_pending_invocations: usize,
    /// Flood limit across reads: a connection may send this many invocations in a burst and
    /// then this many per second (a token bucket); faster closes it with an error (refhub
    /// addition; ASP.NET Core stops reading a client while its invocation runs instead). The
    /// default, 100,000, is above what one client waiting for each Completion reaches on
    /// loopback (`hubspec bench`'s sequential round trips), so only a pipelined flood hits it.
    pub max_invocations_per_second: u32,
    /// Slow-consumer limit: the most messages queued to one socket and not yet written; more
    /// closes that connection (refhub addition; ASP.NET Core applies backpressure instead).
    pub max_queued_messages: usize,
    /// Classic endpoint: how long `AddConnectionToGroup` / `RemoveConnectionFromGroup` of an id
    /// that is not live waits before it completes as cancelled (the 2.x `AckHandler`'s
    /// threshold, 30 s; GRP-CLASSIC-UNKNOWN-ID-CANCELLED). Tests shorten it.
    pub classic_ack_timeout: Duration,
    /// Classic endpoint: the messages kept per connection for a reconnect's replay (the 2.x
    /// `DefaultMessageBufferSize`, 1000, which is per topic there).
    pub classic_replay_messages: usize,
    /// A node of a cluster on a Redis backplane (`--redis`); `None`: a single hub.
    pub backplane: Option<crate::backplane::BackplaneConfig>,
}

impl Default for RefHubConfig {
    fn default() -> Self {
        RefHubConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            path: "/hub".to_owned(),
            profile: Profile::CoreStateful,
            groups_fanout: GroupsFanout::PerGroup,
            rooms_db: None,
            faults: BTreeSet::new(),
            keep_alive: Duration::from_secs(15),
            client_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(15),
            disconnect_timeout: Duration::from_secs(15),
            replay_buffer_bytes: hubspec_wire::reconnect::DEFAULT_BUFFER_LIMIT,
            max_message_bytes: hubspec_wire::framing::DEFAULT_MAX_RECORD_SIZE,
            max_group_name_bytes: 1024,
            max_pending_invocations: 256,
            max_invocations_per_second: 100_000,
            max_queued_messages: 100_000,
            classic_ack_timeout: Duration::from_secs(30),
            classic_replay_messages: hubspec_wire::classic::replay::DEFAULT_CAPACITY,
            backplane: None,
        }
    }
}

impl RefHubConfig {
    /// The model's spec this configuration serves (before faults).
    pub fn spec(&self) -> Spec {
        Spec::new(self.profile).with_fanout(self.groups_fanout)
    }

    /// Whether `fault` is switched on.
    pub fn has(&self, fault: Fault) -> bool {
        self.faults.contains(&fault)
    }

    /// The path without a trailing slash, always starting with `/`.
    pub(crate) fn normalized_path(&self) -> String {
        let trimmed = self.path.trim_end_matches('/');
        if trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        }
    }
}
