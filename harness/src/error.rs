//! The harness's error types.
//!
//! Two channels are kept apart on purpose (as stateright keeps a malformed history apart from
//! an inconsistent one): a [`HarnessError`] means *we* cannot run (a bad configuration, an
//! invalid history, a restart command that failed), while a misbehaving *target* is a finding
//! that becomes a [`crate::Divergence`]. [`ClientError`] sits in between: the client returns
//! it, and the session turns it into a divergence with a `PRO-` rule ID ([`ClientError::rule`]).

use std::time::Duration;
use thiserror::Error;

/// Why one SignalR connection could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// Nothing answered within the bound; `what` says what was awaited.
    #[error("timed out after {} ms waiting for {what}", after.as_millis())]
    Timeout {
        /// What was awaited (an invocation, a handshake, a marker…).
        what: String,
        /// The bound that passed.
        after: Duration,
    },
    /// The connection is closed (by the server, by a drop, or by us); `detail` says how.
    #[error("connection closed: {detail}")]
    Closed {
        /// How it was closed, with the server's Close error if it sent one.
        detail: String,
    },
    /// A resume was asked of a connection that has no connection token to resume at: its
    /// negotiation was skipped (`skip_negotiation`). Our configuration, not the target's
    /// fault, so it breaks no rule; the connection is simply gone.
    #[error("connection closed: no connection token to resume (negotiation was skipped)")]
    NoConnectionToken,
    /// TCP, TLS or WebSocket connection failed before any HTTP answer.
    #[error("could not connect to {url}: {detail}")]
    Connect {
        /// The URL tried.
        url: String,
        /// The transport's error.
        detail: String,
    },
    /// The server answered an HTTP request (negotiate or the WebSocket upgrade) with a status
    /// other than the one expected: a resume of an ended connection gets 404.
    #[error("HTTP {status} from {url}: {body}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the body, for the report.
        body: String,
    },
    /// The target broke the protocol; `rule` is the `PRO-` rule it broke.
    #[error("[{rule}] {detail}")]
    Protocol {
        /// The `PRO-` rule ID.
        rule: &'static str,
        /// What was wrong, with the offending text.
        detail: String,
    },
}

impl ClientError {
    /// The `PRO-` rule a failure of this kind breaks, if it is the target's fault.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            ClientError::Timeout { .. } => Some("PRO-RESPONSIVE"),
            ClientError::Closed { .. } => Some("PRO-CLOSE"),
            ClientError::Connect { .. } => Some("PRO-RESPONSIVE"),
            ClientError::Status { .. } => Some("PRO-NEGOTIATE"),
            ClientError::Protocol { rule, .. } => Some(rule),
            ClientError::NoConnectionToken => None,
        }
    }

    /// A protocol error.
    pub fn protocol(rule: &'static str, detail: impl Into<String>) -> Self {
        ClientError::Protocol {
            rule,
            detail: detail.into(),
        }
    }

    /// A timeout while waiting for `what`.
    pub fn timeout(what: impl Into<String>, after: Duration) -> Self {
        ClientError::Timeout {
            what: what.into(),
            after,
        }
    }
}

/// Why the harness itself cannot go on.
#[derive(Debug, Error)]
pub enum HarnessError {
    /// The target configuration is invalid; the message names the field and the fix.
    #[error("invalid target configuration: {field}: {message}")]
    Config {
        /// The TOML key or environment variable at fault.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A configuration file could not be read.
    #[error("cannot read {path}: {source}")]
    ConfigFile {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The operations are not a valid history under the model (e.g. an invocation from a
    /// connection that is not connected): the input is wrong, not the target.
    #[error("invalid history: {0}")]
    InvalidHistory(#[from] hubspec_model::transcript::InvalidHistory),
    /// The history needs a capability the target did not declare.
    #[error("the history needs capability '{0}', which the target does not declare")]
    NotApplicable(&'static str),
    /// Restarting the target failed.
    #[error("restart failed: {0}")]
    Restart(String),
    /// A client error that stops the run rather than becoming a divergence: outside a session
    /// (a benchmark), or inside one when the session has no client for an op's caller.
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl HarnessError {
    /// A configuration error for `field`.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        HarnessError::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}
