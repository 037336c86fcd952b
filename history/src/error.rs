//! The crate's error type: a history that cannot be read or is not well formed.
//!
//! A malformed history is the recorder's mistake, not the hub's, so it is an error and never a
//! violation: checking it would blame the hub for what the recorder did.

use crate::history::OpId;
use hubspec_model::ConnId;

/// Why a history cannot be checked.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Reading the JSON Lines failed.
    #[error("reading the history: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a record.
    #[error("line {line}: {source}")]
    Json {
        /// 1-based line number.
        line: usize,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// The first line is not a header, or a second header appears.
    #[error("line {line}: {what}")]
    Header {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// The header's format version is not one this crate reads.
    #[error("line {line}: history format version {found}, this checker reads version 1")]
    Version {
        /// 1-based line number.
        line: usize,
        /// The version found.
        found: u32,
    },
    /// A record names an operation id that was not invoked before it, or invoked twice.
    #[error("line {line}: operation #{id} {what}")]
    OpRecord {
        /// 1-based line number (0 when the history was built in memory).
        line: usize,
        /// The operation.
        id: OpId,
        /// What is wrong.
        what: &'static str,
    },
    /// An operation or a stream names a connection the header does not list.
    #[error("operation or stream of unknown connection {0}")]
    UnknownConn(ConnId),
    /// The header's connections are not c1, c2, … in order.
    #[error("the header must list connections c1..cN in order")]
    ConnOrder,
    /// Something the checker does not model under concurrency.
    #[error("not supported in a concurrent history: {0}")]
    Unsupported(String),
    /// An operation ends before it starts, or overlaps the one before it on its connection.
    #[error("operation #{id}: {what}")]
    Timing {
        /// The operation.
        id: OpId,
        /// What is wrong.
        what: &'static str,
    },
    /// Two sends carry the same payload, so deliveries cannot be attributed.
    #[error("payload {0:?} is sent twice")]
    PayloadReused(String),
    /// A connection's stream goes back in time.
    #[error("the stream of {0} goes back in time")]
    StreamTime(ConnId),
}
