//! hubspec-harness: drives a live SignalR hub over the JSON hub protocol, observes exactly what
//! each operation did, and compares it with the model.
//!
//! Module map:
//! - [`client`]: one SignalR connection (negotiate, WebSocket, handshake, invocations,
//!   pings, Close, stateful reconnect, abrupt drop), with a bounded log of raw frames.
//! - [`config`]: [`TargetConfig`], from TOML and `HUBSPEC_*` variables, validated.
//! - [`error`]: [`ClientError`] (a connection's failure) and [`HarnessError`] (we cannot run).

pub mod client;
pub mod config;
pub mod error;

pub use client::{Client, ClientOptions, Completion, RawFrame, Received};
pub use config::{TargetConfig, Timeouts};
pub use error::{ClientError, HarnessError};
