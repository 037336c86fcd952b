//! The connection ids a target has issued, as every session against it saw them.
//!
//! A session maps the ids it sees to model connections, so an id the target gives out twice
//! within one run shows as a `Connect` whose result is an earlier connection (CON-IDS-UNIQUE).
//! But sessions run side by side against one target, and a target that reuses ids reuses
//! whichever ended last — often another session's. Only a ledger that all the sessions of one
//! target share can see that reuse; without it, whether CON-IDS-UNIQUE is caught would depend on
//! how the sessions happened to interleave.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// The ids issued so far; clones share one ledger.
#[derive(Clone, Default)]
pub struct IssuedIds(Arc<Mutex<HashSet<String>>>);

impl IssuedIds {
    /// Records `id`; false when some earlier connection already had it.
    pub fn note(&self, id: &str) -> bool {
        let mut ids = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        ids.insert(id.to_owned())
    }

    /// How many distinct ids have been recorded.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no id has been recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for IssuedIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IssuedIds({} ids)", self.len())
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
        assert!(ledger.note("a"));
        assert!(
            !other_session.note("a"),
            "a clone sees the first session's id"
        );
        assert!(other_session.note("b"));
        assert_eq!(ledger.len(), 2);
    }
}
