//! The connection ids a target has issued, as every session against it saw them.
//!
//! A session maps the ids it sees to model connections, so an id the target gives out twice
//! within one run shows as a `Connect` whose result is an earlier connection (CON-IDS-UNIQUE).
//! But sessions run side by side against one target, and a target that reuses ids reuses
//! whichever ended last, often another session's. Only a ledger that all the sessions of one
//! target share can see that reuse; without it, whether CON-IDS-UNIQUE is caught would depend on
//! how the sessions happened to interleave.
//!
//! A reuse across runs does not spoil the run that sees it (its own connections are still
//! told apart), so it is not that run's divergence: the ledger keeps it, and the caller reports
//! it once for the target (the suite: one CON-IDS-UNIQUE finding).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// The most reuses kept as evidence.
const KEPT: usize = 10;

/// An id issued to a connection of one run, and again to a connection of another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reuse {
    /// The id.
    pub id: String,
    /// The case whose run saw it first.
    pub first: String,
    /// The case whose run saw it again.
    pub again: String,
}

#[derive(Default)]
struct Ledger {
    /// Id → the case that first saw it.
    ids: HashMap<String, String>,
    /// The first reuses, at most [`KEPT`].
    reused: Vec<Reuse>,
    /// Every reuse seen.
    reuses: usize,
}

/// The ids issued so far; clones share one ledger.
#[derive(Clone, Default)]
pub struct IssuedIds(Arc<Mutex<Ledger>>);

impl IssuedIds {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `id`, seen by a run of `case` for the first time in that run; false (and a
    /// [`Reuse`] kept) when a connection of an earlier run already had it.
    pub fn note(&self, id: &str, case: &str) -> bool {
        let mut ledger = self.ledger();
        let Some(first) = ledger.ids.get(id).cloned() else {
            ledger.ids.insert(id.to_owned(), case.to_owned());
            return true;
        };
        ledger.reuses += 1;
        if ledger.reused.len() < KEPT {
            ledger.reused.push(Reuse {
                id: id.to_owned(),
                first,
                again: case.to_owned(),
            });
        }
        false
    }

    /// The first reuses seen (at most ten), and how many there were in all.
    pub fn reused(&self) -> (Vec<Reuse>, usize) {
        let ledger = self.ledger();
        (ledger.reused.clone(), ledger.reuses)
    }

    /// How many distinct ids have been recorded.
    pub fn len(&self) -> usize {
        self.ledger().ids.len()
    }

    /// Whether no id has been recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for IssuedIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ledger = self.ledger();
        write!(
            f,
            "IssuedIds({} ids, {} reused)",
            ledger.ids.len(),
            ledger.reuses
        )
    }
}

/// Any two ledgers are equal: the ledger is what sessions observed, not part of what a target
/// declares, so two configurations that declare the same are the same configuration.
impl PartialEq for IssuedIds {
    fn eq(&self, _: &IssuedIds) -> bool {
        true
    }
}

impl Eq for IssuedIds {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_new_once_and_clones_share_the_ledger() {
        let ledger = IssuedIds::default();
        let other_session = ledger.clone();
        assert!(ledger.note("a", "case-1"));
        assert!(
            !other_session.note("a", "case-2"),
            "a clone sees the first session's id"
        );
        assert!(other_session.note("b", "case-2"));
        assert_eq!(ledger.len(), 2);
        let (reused, all) = ledger.reused();
        assert_eq!(all, 1);
        assert_eq!(
            reused,
            vec![Reuse {
                id: "a".into(),
                first: "case-1".into(),
                again: "case-2".into()
            }]
        );
    }
}
