//! What concurrent behaviour the checker holds a hub to, and what it answers.
//!
//! Most findings break a rule the catalog already states for one-at-a-time histories and keep
//! its ID. Two are new under concurrency: the catalog's `CC-` rules (`model/src/rules.rs`,
//! area `Concurrency`), named here as constants.

use crate::history::OpId;
use hubspec_model::ConnId;
use std::fmt;

/// A send's deliveries fit no point of its own interval for some recipient, even with every
/// change to that recipient allowed to take effect late: L1's per-recipient atomicity. ASP.NET Core's manager enumerates a
/// `ConcurrentDictionary`, which is no snapshot, so only per-recipient atomicity is required,
/// not one snapshot for all recipients (research §4.4).
pub const CC_ATOMIC_SEND: &str = "CC-ATOMIC-SEND";
/// Something arrived on a connection after its stream ended.
pub const CC_AFTER_CLOSE: &str = "CC-AFTER-CLOSE";

/// What the checker found wrong. Each kind is blamed on one rule ID; where the catalog
/// (`model/src/rules.rs`) already states the rule for one-at-a-time histories, the concurrent
/// finding is the same rule under concurrency and keeps its ID (one rule, one ID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Anomaly {
    /// A connection received a payload no send carried (research F1).
    Phantom,
    /// A connection received more copies of one send than any state allows (F2).
    Duplicate,
    /// A connection received `s2` before `s1` although `s1` completed before `s2` was invoked
    /// (F3; each connection has one writer, so real-time order is send order).
    Reordered,
    /// Something arrived after the connection's stream ended (F5).
    AfterClose,
    /// An invocation never completed and the recorder did not give up on it (F7).
    Hung,
    /// Explained only if a resume may drop or invent what was kept while suspended.
    ResumeGap,
    /// Explained only if a membership change may take effect after its completion (or before
    /// its invocation is impossible, so: late).
    LateChange,
    /// Explained only if a disconnect (or drop, or resume) may take effect after its
    /// completion.
    LateEnd,
    /// Explained by no placement, even with every change late: some send's deliveries fit no
    /// point of its own interval.
    NoPoint,
}

impl Anomaly {
    /// Every kind, in the order the checker looks for them.
    pub const ALL: [Anomaly; 9] = [
        Anomaly::Phantom,
        Anomaly::Duplicate,
        Anomaly::Reordered,
        Anomaly::AfterClose,
        Anomaly::Hung,
        Anomaly::ResumeGap,
        Anomaly::LateChange,
        Anomaly::LateEnd,
        Anomaly::NoPoint,
    ];

    /// The rule ID the anomaly breaks.
    pub fn rule(self) -> &'static str {
        match self {
            Anomaly::Phantom | Anomaly::Duplicate => "SND-EXACTLY-ONCE",
            Anomaly::Reordered => "SND-FIFO",
            Anomaly::AfterClose => CC_AFTER_CLOSE,
            Anomaly::Hung => "PRO-RESPONSIVE",
            Anomaly::ResumeGap => "REC-RESUME-REPLAYS",
            Anomaly::LateChange => "GRP-EFFECT-BEFORE-COMPLETION",
            Anomaly::LateEnd => "CON-DISCONNECT-LEAVES-GROUPS",
            Anomaly::NoPoint => CC_ATOMIC_SEND,
        }
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::Phantom => "phantom",
            Anomaly::Duplicate => "duplicate",
            Anomaly::Reordered => "reordered",
            Anomaly::AfterClose => "after-close",
            Anomaly::Hung => "hung",
            Anomaly::ResumeGap => "resume-gap",
            Anomaly::LateChange => "late-change",
            Anomaly::LateEnd => "late-end",
            Anomaly::NoPoint => "no-point",
        }
    }
}

/// One broken rule, with the connection and operations it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// What was found.
    pub anomaly: Anomaly,
    /// The rule ID it breaks ([`Anomaly::rule`]).
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
        write!(f, "[{}] {}", self.rule, self.anomaly.name())?;
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
        self.anomalies().into_iter().map(Anomaly::rule).collect()
    }

    /// What was found, in order (empty unless [`Verdict::Violations`]).
    pub fn anomalies(&self) -> Vec<Anomaly> {
        match self {
            Verdict::Violations(v) => v.iter().map(|v| v.anomaly).collect(),
            _ => Vec::new(),
        }
    }
}

/// Build a violation of `anomaly`.
pub(crate) fn violation(
    anomaly: Anomaly,
    conn: Option<ConnId>,
    ops: Vec<OpId>,
    detail: String,
) -> Violation {
    Violation {
        anomaly,
        rule: anomaly.rule(),
        conn,
        ops,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_blamed_is_in_the_catalog() {
        for a in Anomaly::ALL {
            let id = a.rule();
            assert!(
                hubspec_model::rule(id).is_some(),
                "{a:?} blames {id}, which is not in the catalog"
            );
        }
    }
}
