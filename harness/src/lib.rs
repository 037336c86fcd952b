//! hubspec-harness: drives a live SignalR hub over the JSON hub protocol, observes exactly what
//! each operation did, and compares it with the model.
//!
//! Module map:
//! - [`client`]: one SignalR connection (negotiate, WebSocket, handshake, invocations,
//!   pings, Close, stateful reconnect, abrupt drop), with a bounded log of raw frames.
//! - [`config`]: [`TargetConfig`], from TOML and `HUBSPEC_*` variables, validated.
//! - [`session`]: [`Session`] runs ops, flushes every connection with a barrier after each,
//!   attributes every message to the op that sent it and compares with the model.
//! - [`divergence`]: [`Divergence`], one mismatch with its rules, transcript, replay command
//!   and raw frames; [`replay_command`].
//! - [`blame`]: which rule IDs a mismatch violates, from the op and the history.
//! - [`restart`]: the [`Restarter`] trait and the command-line [`CommandRestarter`].
//! - [`error`]: [`ClientError`] (a connection's failure) and [`HarnessError`] (we cannot run).

pub mod blame;
pub mod client;
pub mod config;
pub mod divergence;
pub mod error;
pub mod restart;
pub mod session;

pub use client::{Client, ClientOptions, Completion, RawFrame, Received};
pub use config::{TargetConfig, Timeouts};
pub use divergence::{replay_command, Divergence, DivergenceKind};
pub use error::{ClientError, HarnessError};
pub use restart::{CommandRestarter, Restarter};
pub use session::{is_exclusive, RunReport, Session};
