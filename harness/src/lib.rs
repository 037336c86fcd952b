//! hubspec-harness: drives a live SignalR hub over the JSON hub protocol, observes exactly what
//! each operation did, and compares it with the model.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hubspec_harness::HarnessError> {
//! use hubspec_harness::{Session, TargetConfig};
//! use hubspec_model::scenarios;
//! let config = TargetConfig::for_url("http://127.0.0.1:5000/hub")?;
//! let scenario = &scenarios()[0];
//! let mut session = Session::new(&config, config.spec(), &scenario.key(), None);
//! let report = session.run(&scenario.ops).await?;
//! for d in &report.divergences {
//!     println!("{d}"); // "[RULE-ID] step N (op): kind", expected, observed, transcript, frames
//! }
//! assert_eq!(report.observed.to_string(), report.expected.to_string());
//! session.close().await;
//! # Ok(()) }
//! ```
//!
//! **Invariants.** Every wait has a bound from [`Timeouts`]; every buffer has a cap (the frame
//! log, the receive queue, the findings); a target that misbehaves becomes a [`Divergence`]
//! with a `PRO-` rule and its raw frames, never a panic or a hang of ours. The harness depends
//! on `hubspec-model` for what should happen and on `hubspec-wire` for the wire format, and on
//! the reference hub only in its tests.
//!
//! Module map:
//! - [`client`]: one SignalR connection (negotiate, WebSocket, handshake, invocations,
//!   pings, Close, stateful reconnect, abrupt drop), with a bounded log of raw frames. Split
//!   by the data that flows: `client/dial.rs` (bytes to a socket: negotiate, TLS built once
//!   per CA file, WebSocket, handshake), `client/inbound.rs` (frames → records → Completions,
//!   the receive queue and `PRO-` findings, unit-tested without a socket), `client/state.rs`
//!   (what the API and the reader share, with the `Ending` and `ResumePhase` state
//!   machines), and `client.rs` itself (the API).
//! - [`config`]: [`TargetConfig`], from TOML and `HUBSPEC_*` variables, validated.
//! - [`issued`]: [`IssuedIds`], the connection ids a target issued, shared by every session of
//!   one configuration, so an id reused across sessions is caught (CON-IDS-UNIQUE), once per
//!   target rather than as a divergence of each run it touches.
//! - [`session`]: [`Session`] runs ops, flushes every connection with a barrier after each,
//!   attributes every message to the op that sent it and compares with the model. Inside it,
//!   `session/wire.rs` names ops and payloads on the wire and decodes what comes back, and
//!   `session/compare.rs` is the pure comparator (observed steps in, divergences out).
//! - [`divergence`]: [`Divergence`], one mismatch with its rules, observed transcript and raw
//!   frames (no replay command: that is the caller's); [`target_flags`], the flags that reach a
//!   configured target again.
//! - [`blame`]: which rule IDs a mismatch violates, from the op and the history: a table of
//!   (rule, when it is to blame).
//! - [`reading`]: what an error Completion's text says about the error's kind, and the
//!   observed transcript that shows results as read.
//! - [`restart`]: the [`Restarter`] trait and the command-line [`CommandRestarter`].
//! - [`proxy`]: a fault-injecting TCP proxy for loopback tests (cut, also mid-frame; reset;
//!   stall; delay; half-close; hold new connections and release them).
//! - [`recorder`]: a concurrent history (issue 16): K connections act at once, each
//!   operation's invocation and completion and every message each connection received are
//!   recorded on one clock, into the harness's own plain types ([`recorder::Recording`]).
//! - [`storm`]: a cut storm through the proxy: stateful connections in groups send numbered
//!   payloads while their links are cut at random (seeded) and resumed; [`storm::StormReport`]
//!   counts what was lost, duplicated or out of order.
//! - [`error`]: [`ClientError`] (a connection's failure) and [`HarnessError`] (we cannot run).

pub mod blame;
pub mod client;
pub mod config;
pub mod divergence;
pub mod error;
pub mod issued;
pub mod proxy;
pub mod reading;
pub mod recorder;
pub mod restart;
pub mod session;
pub mod storm;

pub use client::{Client, ClientOptions, Completion, Deadline, RawFrame, Received};
pub use config::{TargetConfig, Timeouts};
pub use divergence::{shell_quote, target_flags, Divergence, DivergenceKind};
pub use error::{ClientError, HarnessError};
pub use issued::{IssuedIds, Reuse};
pub use reading::{read_error, ErrorReading, ObservedTranscript};
pub use restart::{CommandRestarter, Restarter};
pub use session::{RunReport, Session};
