//! The crate's error type: what can go wrong starting, restarting or stopping the hub.
//!
//! Nothing a client sends is an error here: bad input is answered on the wire (a Completion
//! error, a handshake error or a Close with an error) and logged.

use std::net::SocketAddr;

use thiserror::Error;

/// Why the reference hub could not do what it was asked.
#[derive(Debug, Error)]
pub enum RefHubError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The configuration cannot be served (e.g. profile `classic`).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The rooms database could not be opened, read or written.
    #[error("rooms database: {0}")]
    Rooms(#[from] rusqlite::Error),
}
