//! hubspec-history: concurrent histories of a hub and their checker against the model.
//!
//! The rest of hubspec runs operations one at a time, so it sees no race. Here K connections
//! act at once; a history records when each operation was invoked and completed (or that it
//! never did), its result, and what every connection received in its own order. The checker
//! then asks whether the model (`hubspec_model::Hub::apply_to`, never a restatement of it) can
//! explain all of it, at the level `../shared/reference/concurrency.md` §4.3 calls L1: every
//! send takes effect for each recipient at one point between its invocation and its
//! completion, and so does every membership change.
//!
//! No crate fits (stateright's tester has no memo, partitions or budget; `todc-utils` has no
//! partitions, no Unknown and no indeterminate operations; research §6.7), so the search is
//! written here: Wing & Gong's backtracking with Lowe's memo over (placed set, state), the
//! "forced reads" rule, one search per connection (the recipient function is separable per
//! connection, §4.2), a time budget that answers Unknown, and Jepsen's indeterminate
//! operations (they may take effect at any time after their invocation, or never).
//!
//! Module map:
//! - [`history`]: the in-memory history (operations, ends, per-connection streams) and its
//!   well-formedness rules.
//! - [`jsonl`]: the JSON Lines form a user keeps and re-checks (a versioned header, one record
//!   per event).
//! - [`verdict`]: what can be found (`Anomaly`), the rule ID each breaks, violations and
//!   verdicts.
//! - [`streams`]: the linear stream checks (phantom, duplicate, FIFO, after close, completion).
//! - [`search`]: the L1 linearizability search for one connection.
//! - [`check`]: the pipeline: well-formedness, stream checks, one search per connection, blame.
//! - [`shrink`]: weakening a failing history to a small witness.
//! - [`timeline`]: a plain-text timeline per connection.
//! - [`generate`]: histories made by running the model (for the tests and the throughput
//!   example).
//! - [`error`]: the crate's error type (a history that is malformed or unreadable).

pub mod check;
pub mod error;
pub mod generate;
pub mod history;
pub mod jsonl;
pub mod search;
pub mod shrink;
pub mod streams;
pub mod timeline;
pub mod verdict;

pub use check::{check, Report};
pub use error::HistoryError;
pub use history::{max_copies_of, ConnInfo, End, History, OpId, OpRecord, StreamEvent, NEVER};
pub use shrink::shrink;
pub use timeline::render;
pub use verdict::{Anomaly, Verdict, Violation};
