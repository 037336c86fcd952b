//! The checked state and its symmetry reduction.

use hubspec_model::{Hub, Small};
use stateright::Representative;

/// A hub state plus the verdicts of the transition properties on the step that produced it.
///
/// Transition properties ("a resume does not change the connection's groups") are checked in
/// `next_state`, where both states are at hand, and a failure is recorded as a bit here. The
/// bits are zero in every correct state, so they add no states; a set bit is a distinct state
/// that the `always` property on it reports with its path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CheckState {
    /// The specification's state.
    pub hub: Hub<Small>,
    /// One bit per transition property that failed on the step into this state.
    pub violations: u16,
}

impl Representative for CheckState {
    fn representative(&self) -> Self {
        let mut s = self.clone();
        s.canonicalize();
        s
    }
}

impl CheckState {
    /// Turn the state into the representative of its symmetry class, in place, and return the
    /// renumbering applied: `perm[i]` is the new id of the connection that had the `i`-th
    /// smallest id before.
    ///
    /// Connections are interchangeable: two states that differ only in which ids the
    /// connections carry are the same case. The representative renumbers the live connections
    /// 1..=n in the order of their contents, keeps "some id has been closed" as id n+1, and
    /// keeps of the restart count only whether one happened (no operation can observe more).
    pub fn canonicalize(&mut self) -> smallvec::SmallVec<[u32; 4]> {
        let hub = &mut self.hub;
        let live = hub.conns.len() as u32;
        let any_closed = hub.next_id > live;
        // Remember each connection's rank by id before sorting by contents.
        for (i, c) in hub.conns.iter_mut().enumerate() {
            c.id = hubspec_model::ConnId(i as u32);
        }
        hub.conns.sort_by(|a, b| {
            (a.status, &a.user, &a.groups, &a.buffer, &a.token)
                .cmp(&(b.status, &b.user, &b.groups, &b.buffer, &b.token))
        });
        let mut perm: smallvec::SmallVec<[u32; 4]> = smallvec::smallvec![0; hub.conns.len()];
        for (i, c) in hub.conns.iter_mut().enumerate() {
            perm[c.id.0 as usize] = i as u32 + 1;
            c.id = hubspec_model::ConnId(i as u32 + 1);
        }
        hub.next_id = live + u32::from(any_closed);
        hub.epoch = hub.epoch.min(1);
        perm
    }
}
