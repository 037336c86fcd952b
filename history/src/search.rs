//! The L1 linearizability search for one connection (research §4.3, §6.2).
//!
//! What one connection `c` observes of a send depends only on `c`'s own state (alive,
//! connected or suspended, its groups, its user) and the send's arguments (§4.2), so the
//! history is linearizable at L1 iff, for each connection separately, the operations that
//! change `c` and all sends can be placed in one order that respects real time and in which
//! the model gives `c` exactly the copies it received. That is P-compositionality (Horn &
//! Kroening, FORTE 2015), and it is what lets ASP.NET Core's non-snapshot fan-out pass: two
//! recipients may place one send at different points.
//!
//! The search is Wing & Gong's, with Lowe's memo over (placed set, state) so no configuration
//! is explored twice (Porcupine's `checker.go`), plus the forced-reads rule: a send that is
//! enabled, leaves the state unchanged and matches what `c` saw is placed at once, which loses
//! nothing (placing a read removes a constraint and changes no state) and cuts the branching
//! (research §6.3: 2–27x). Each step is the model's own `Hub::apply_to`; no group semantics
//! is restated here. Indeterminate operations return at [`NEVER`] and need not be placed
//! (Jepsen's `:info`; porcupine#8), except a send `c` received a copy of.

use crate::history::{History, OpId, OpRecord, NEVER};
use hubspec_model::{ConnId, Delivery, Hub, Mode, Op, OpResult, Spec};
use std::collections::HashSet;
use std::time::Instant;

/// How a suspension of the connection ends, as far as the history tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resumption {
    /// A resume completed: what was kept must all be replayed.
    Resumed,
    /// No resume followed: what was kept is never seen.
    Lost,
    /// The resume is indeterminate, or the blame step relaxed it: either.
    Either,
}

/// One operation as the search for one connection sees it.
#[derive(Clone, Debug)]
pub struct Item {
    /// The operation's id.
    pub id: OpId,
    /// Invocation time.
    pub inv: u64,
    /// Return time, [`NEVER`] if it did not complete.
    pub ret: u64,
    /// The operation.
    pub op: Op,
    /// The result to match, if known.
    pub result: Option<OpResult>,
    /// For a send: the copies the connection received.
    pub copies: usize,
    /// Whether it must be placed: it completed, or it is a send the connection saw.
    pub mandatory: bool,
    /// For a drop of the connection: which of its suspensions it starts, from 1 (the search
    /// state carries the current one, 0 for none, so a skipped indeterminate drop cannot shift
    /// the count).
    pub suspension: u8,
}

/// The search problem for one connection.
#[derive(Clone, Debug)]
pub struct Partition {
    /// The behaviour claimed.
    pub spec: Spec,
    /// The connection.
    pub conn: ConnId,
    /// The hub after every connection opened.
    pub start: Hub,
    /// The operations, sorted by invocation.
    pub items: Vec<Item>,
    /// How each of the connection's suspensions ends, in order.
    pub suspensions: Vec<Resumption>,
}

impl Partition {
    /// The partition of `conn`: every send, and the operations that change `conn` (its own
    /// lifecycle, membership changes aimed at it), each of which belongs to exactly one
    /// partition so its result is checked once.
    pub fn of(h: &History, conn: ConnId) -> Partition {
        let mut start = Hub::new();
        for c in &h.conns {
            let r = start.apply_to(
                &h.spec,
                &Op::Connect {
                    user: c.user.clone(),
                },
                &mut hubspec_model::outcome::Discard,
            );
            debug_assert_eq!(r, Ok(OpResult::Connected(c.id)), "validated: c1..cN");
        }
        let mut items: Vec<Item> = h
            .ops
            .iter()
            .filter(|o| o.payload().is_some() || home(o) == conn)
            .map(|o| {
                let copies = o.payload().map_or(0, |p| h.copies(conn, p));
                Item {
                    id: o.id,
                    inv: o.inv,
                    ret: o.ret(),
                    op: o.op.clone(),
                    result: o.result(),
                    copies,
                    mandatory: o.ret() != NEVER || copies > 0,
                    suspension: 0,
                }
            })
            .collect();
        items.sort_by_key(|i| (i.inv, i.id));
        let mut suspensions = Vec::new();
        let lane: Vec<&Item> = items
            .iter()
            .filter(|i| crate::history::lane(&i.op) == Some(conn))
            .collect();
        let mut starts = Vec::new();
        for (k, i) in lane.iter().enumerate() {
            if matches!(i.op, Op::Drop { .. }) {
                starts.push(i.id);
                let resume = lane[k + 1..]
                    .iter()
                    .find(|j| matches!(j.op, Op::Resume { .. }));
                suspensions.push(match resume {
                    Some(j) if j.result == Some(OpResult::Ok) => Resumption::Resumed,
                    Some(j) if j.result.is_none() => Resumption::Either,
                    _ => Resumption::Lost,
                });
            }
        }
        for i in &mut items {
            if let Some(n) = starts.iter().position(|id| *id == i.id) {
                i.suspension = u8::try_from(n + 1).unwrap_or(u8::MAX);
            }
        }
        Partition {
            spec: h.spec,
            conn,
            start,
            items,
            suspensions,
        }
    }

    /// The same problem with some changes made indeterminate: they may take effect at any
    /// time after their invocation, or never (the blame step's relaxations). `ends`: the
    /// disconnects, drops and resumes too, not only the membership changes.
    pub fn with_late_changes(&self, ends: bool) -> Partition {
        let mut p = self.clone();
        for i in &mut p.items {
            let end = matches!(
                i.op,
                Op::Disconnect { .. } | Op::Drop { .. } | Op::Resume { .. }
            );
            if !matches!(i.op, Op::Send { .. }) && (ends || !end) {
                i.ret = NEVER;
                i.result = None;
                i.mandatory = false;
            }
        }
        p
    }

    /// The same problem with every suspension's end unknown.
    pub fn with_any_replay(&self) -> Partition {
        let mut p = self.clone();
        p.suspensions
            .iter_mut()
            .for_each(|s| *s = Resumption::Either);
        p
    }
}

/// The partition an operation that is no send belongs to: the connection a membership change
/// is aimed at when it is one of the history's, otherwise the lane that performed it.
pub fn home(o: &OpRecord) -> ConnId {
    let lane = o.lane().expect("validated");
    match &o.op {
        Op::AddConnectionToGroup {
            target: hubspec_model::Target::Id(t),
            ..
        }
        | Op::RemoveConnectionFromGroup {
            target: hubspec_model::Target::Id(t),
            ..
        } => *t,
        _ => lane,
    }
}

/// What one search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// A placement exists.
    Linearizable,
    /// None exists. `stuck`: the first operation the deepest partial placement could not
    /// place; `placed`: how many that placement held.
    Illegal {
        /// The operation no extension could place.
        stuck: Option<OpId>,
        /// The size of the deepest partial placement.
        placed: usize,
    },
    /// The deadline passed first.
    Unknown,
}

/// How much a search did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effort {
    /// Configurations memoised.
    pub states: usize,
    /// Steps of the model tried.
    pub steps: u64,
}

type Node = (Vec<u64>, Hub, u8);

struct Search<'a> {
    p: &'a Partition,
    deadline: Instant,
    memo: HashSet<Node>,
    placed: Vec<u64>,
    count: usize,
    mandatory: usize,
    best: (usize, Option<OpId>),
    effort: Effort,
    calls: u64,
}

/// Search `p` until `deadline`.
pub fn search(p: &Partition, deadline: Instant) -> (Found, Effort) {
    let mut s = Search {
        p,
        deadline,
        memo: HashSet::new(),
        placed: vec![0; p.items.len().div_ceil(64)],
        count: 0,
        mandatory: p.items.iter().filter(|i| i.mandatory).count(),
        best: (0, None),
        effort: Effort::default(),
        calls: 0,
    };
    let found = match s.dfs(&p.start.clone(), 0, 0) {
        None => Found::Unknown,
        Some(true) => Found::Linearizable,
        Some(false) => Found::Illegal {
            stuck: s.best.1,
            placed: s.best.0,
        },
    };
    s.effort.states = s.memo.len();
    (found, s.effort)
}

impl Search<'_> {
    fn is_placed(&self, i: usize) -> bool {
        self.placed[i / 64] & (1 << (i % 64)) != 0
    }

    fn flip(&mut self, i: usize) {
        self.placed[i / 64] ^= 1 << (i % 64);
    }

    /// The earliest return among unplaced operations: nothing invoked after it may go next.
    fn bound(&self) -> u64 {
        (0..self.p.items.len())
            .filter(|i| !self.is_placed(*i))
            .map(|i| self.p.items[i].ret)
            .min()
            .unwrap_or(NEVER)
    }

    /// `None` when the deadline passed; otherwise whether the unplaced rest can be placed
    /// after `hub` (`mandatory_placed` of the mandatory ones are placed already).
    fn dfs(&mut self, hub: &Hub, suspension: u8, mandatory_placed: usize) -> Option<bool> {
        // The clock is read every 64 calls: often enough to stop near the budget, rarely
        // enough to cost nothing. (Not keyed on `steps`, which grows by varying amounts.)
        self.calls += 1;
        if self.calls % 64 == 0 && Instant::now() > self.deadline {
            return None;
        }
        // Forced reads.
        let mut forced = Vec::new();
        let mut mandatory_placed = mandatory_placed;
        loop {
            let bound = self.bound();
            let next = (0..self.p.items.len())
                .take_while(|i| self.p.items[*i].inv <= bound)
                .find(|i| {
                    !self.is_placed(*i)
                        && matches!(self.p.items[*i].op, Op::Send { .. })
                        && self
                            .step(*i, hub, suspension)
                            .is_some_and(|(h, d)| d == suspension && h == *hub)
                });
            let Some(i) = next else { break };
            self.flip(i);
            self.count += 1;
            mandatory_placed += usize::from(self.p.items[i].mandatory);
            forced.push(i);
        }
        let result = self.branch(hub, suspension, mandatory_placed);
        for i in forced {
            self.flip(i);
            self.count -= 1;
        }
        result
    }

    fn branch(&mut self, hub: &Hub, suspension: u8, mandatory_placed: usize) -> Option<bool> {
        if mandatory_placed == self.mandatory {
            return Some(true);
        }
        if !self
            .memo
            .insert((self.placed.clone(), hub.clone(), suspension))
        {
            return Some(false);
        }
        let bound = self.bound();
        if self.count >= self.best.0 {
            let stuck = (0..self.p.items.len())
                .filter(|i| !self.is_placed(*i) && self.p.items[*i].mandatory)
                .min_by_key(|i| self.p.items[*i].ret)
                .map(|i| self.p.items[i].id);
            self.best = (self.count, stuck);
        }
        for i in 0..self.p.items.len() {
            if self.p.items[i].inv > bound {
                break;
            }
            if self.is_placed(i) {
                continue;
            }
            let Some((next, d)) = self.step(i, hub, suspension) else {
                continue;
            };
            self.flip(i);
            self.count += 1;
            let m = mandatory_placed + usize::from(self.p.items[i].mandatory);
            let r = self.dfs(&next, d, m);
            self.flip(i);
            self.count -= 1;
            match r {
                Some(false) => {}
                other => return other,
            }
        }
        Some(false)
    }

    /// Place item `i` after `hub`: the model's step, then what the history says of it.
    fn step(&mut self, i: usize, hub: &Hub, suspension: u8) -> Option<(Hub, u8)> {
        self.effort.steps += 1;
        let item = &self.p.items[i];
        let mut next = hub.clone();
        let mut out: Vec<Delivery> = Vec::new();
        let result = next.apply_to(&self.p.spec, &item.op, &mut out).ok()?;
        if item.result.is_some_and(|r| r != result) {
            return None;
        }
        let mut suspension = suspension;
        match item.op {
            Op::Drop { .. } => suspension = item.suspension,
            Op::Send { .. } => {
                let count = |mode| {
                    out.iter()
                        .filter(|d| d.to == self.p.conn && d.mode == mode)
                        .count()
                };
                let (now, kept) = (count(Mode::Now), count(Mode::Buffered));
                let seen = item.copies;
                let ok = if kept == 0 {
                    seen == now
                } else {
                    // Kept for a suspended connection: seen only if the suspension ends in
                    // a resume (the replay carries it).
                    match self
                        .p
                        .suspensions
                        .get(usize::from(suspension).wrapping_sub(1))
                    {
                        Some(Resumption::Resumed) => seen == now + kept,
                        Some(Resumption::Lost) => seen == now,
                        _ => seen == now || seen == now + kept,
                    }
                };
                if !ok {
                    return None;
                }
            }
            _ => {}
        }
        Some((next, suspension))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::End;
    use hubspec_model::{Profile, Selector, Target};

    fn ok(ts: u64) -> End {
        End::Completed {
            ts,
            result: OpResult::Ok,
        }
    }

    #[test]
    fn each_change_belongs_to_the_connection_it_changes_and_every_send_to_all() {
        let (c1, c2) = (ConnId(1), ConnId(2));
        let mut h = History::new(Spec::new(Profile::CoreStateful), &[None, Some("u")]);
        let by_id = h.op(
            Op::AddConnectionToGroup {
                caller: c1,
                target: Target::Id(c2),
                group: Some("g".into()),
            },
            1,
            ok(2),
        );
        let null = h.op(
            Op::AddConnectionToGroup {
                caller: c1,
                target: Target::Null,
                group: Some("g".into()),
            },
            3,
            ok(4),
        );
        let send = h.op(
            Op::Send {
                caller: c1,
                selector: Selector::All,
                payload: "m".into(),
            },
            5,
            End::Info { ts: 6 },
        );
        let drop = h.op(Op::Drop { conn: c2 }, 7, ok(8));
        h.deliver(c2, 6, "m");
        let ids = |p: &Partition| p.items.iter().map(|i| i.id).collect::<Vec<_>>();
        let p1 = Partition::of(&h, c1);
        let p2 = Partition::of(&h, c2);
        assert_eq!(ids(&p1), [null, send]);
        assert_eq!(ids(&p2), [by_id, send, drop]);
        // The indeterminate send must be placed only where it was seen.
        assert_eq!(
            (p1.items[1].mandatory, p2.items[1].mandatory),
            (false, true)
        );
        assert_eq!(
            (p1.suspensions.len(), p2.suspensions),
            (0, vec![Resumption::Lost])
        );
        assert_eq!(
            p2.items[2].suspension, 1,
            "the drop starts c2's first suspension"
        );
        // Every connection is open in each partition's start, with its user.
        assert_eq!(p2.start.conn(c2).unwrap().user.as_deref(), Some("u"));
        assert!(p1.start.is_connected(c2));
    }
}
