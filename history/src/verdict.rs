//! What concurrent behaviour the checker holds a hub to, and what it answers.
//!
//! The rule IDs are proposals (issue 16) kept here until each has its docs page and its entry
//! in `model/src/rules.rs`; the `CC-` prefix is no area of the catalog yet, so the tidy test
//! does not scan for it.

use crate::history::OpId;
use hubspec_model::ConnId;
use std::fmt;

/// A connection received a payload no send carried (research F1).
pub const CC_PHANTOM: &str = "CC-PHANTOM";
/// A connection received more copies of one send than any state allows (F2).
pub const CC_DUPLICATE: &str = "CC-DUPLICATE";
/// A connection received `s2` before `s1` although `s1` completed before `s2` was invoked
/// (F3; each connection has one writer, so real-time order is receive order).
pub const CC_FIFO: &str = "CC-FIFO";
/// A connection received something after its stream ended (F5).
pub const CC_AFTER_CLOSE: &str = "CC-AFTER-CLOSE";
/// An invocation on a live connection never completed (F7).
pub const CC_COMPLETES: &str = "CC-COMPLETES";
/// What a send delivered to a connection is explained by no state of that connection between
/// the send's invocation and its completion, even with every membership change allowed to
/// take effect late (L1's per-recipient atomicity). ASP.NET Core's manager enumerates a
/// `ConcurrentDictionary`, which is no snapshot, so only per-recipient atomicity is required,
/// not one snapshot for all recipients (research §4.4).
pub const CC_ATOMIC_SEND: &str = "CC-ATOMIC-SEND";
/// A membership change (or a disconnect) took effect outside its interval: the history is
/// explained only if it may take effect after its completion (research §4.4: "completion
/// means membership is effective", Azure/azure-signalr#87).
pub const CC_EFFECT_AT_COMPLETION: &str = "CC-EFFECT-AT-COMPLETION";
/// A stateful resume did not replay exactly what was kept while the connection was suspended:
/// the history is explained only if the kept messages may be lost or replayed at will.
pub const CC_RESUME_GAP: &str = "CC-RESUME-GAP";

/// Every rule the checker can blame, in the order it checks them.
pub const CC_RULES: [&str; 8] = [
    CC_PHANTOM,
    CC_DUPLICATE,
    CC_FIFO,
    CC_AFTER_CLOSE,
    CC_COMPLETES,
    CC_RESUME_GAP,
    CC_EFFECT_AT_COMPLETION,
    CC_ATOMIC_SEND,
];

/// One broken rule, with the connection and operations it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule ID.
    pub rule: &'static str,
    /// The connection whose stream or search failed.
    pub conn: Option<ConnId>,
    /// The operations involved (for a search: the one no placement could explain).
    pub ops: Vec<OpId>,
    /// One sentence for a person.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.rule)?;
        if let Some(c) = self.conn {
            write!(f, " {c}:")?;
        }
        write!(f, " {}", self.detail)
    }
}

/// The checker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The model explains the history.
    Linearizable,
    /// It does not: the rules broken, stream checks first.
    Violations(Vec<Violation>),
    /// The search for `conn` ran out of its time budget. Counted as a failure, as etcd's
    /// robustness tests do: a timeout may hide a violation (Porcupine's `checker.go`).
    Unknown {
        /// The connection whose search did not finish.
        conn: ConnId,
    },
}

impl Verdict {
    /// Whether the history passes: linearizable, and nothing else.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }

    /// The rules broken, in order (empty unless [`Verdict::Violations`]).
    pub fn rules(&self) -> Vec<&'static str> {
        match self {
            Verdict::Violations(v) => v.iter().map(|v| v.rule).collect(),
            _ => Vec::new(),
        }
    }
}
