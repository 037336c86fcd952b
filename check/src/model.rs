//! The stateright `Model` of the specification.

use crate::actions;
use crate::bounds::Bounds;
use crate::properties::{self, Violation};
use crate::state::CheckState;
use hubspec_model::sets::Bits;
use hubspec_model::{
    transcript::small_to_text, ConnId, ErrorKind, GroupsFanout, Hub, Mode, Name, Op, OpResult,
    Profile, Selector, Sink, Small, Spec, Status, Target,
};
use hubspec_model::{GroupSet, Queue};
use stateright::{Model, Property};

/// A buggy state change: called after each step with the step's operation and the new state.
pub type StateBug = fn(&Op<Small>, &mut Hub<Small>);

/// A buggy extra recipient: given the step's operation and the state before it, an id the
/// buggy hub also delivers the step's message to.
pub type DeliveryBug = fn(&Op<Small>, &Hub<Small>) -> Option<ConnId>;

/// A deliberate bug, for tests that show a property can fail (a checker that cannot fail
/// proves nothing). `None` fields change nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mutation {
    /// Called after each step with the step's operation and the new state.
    pub state: Option<StateBug>,
    /// Called on each step with the operation and the state before it: an id the buggy hub
    /// also delivers the step's message to (a recipient the spec's hub never names).
    pub extra_delivery: Option<DeliveryBug>,
}

/// The specification under one spec and one bounded universe.
#[derive(Clone, Debug)]
pub struct HubModel {
    /// The behaviour checked (profile and variants).
    pub spec: Spec,
    /// The universe explored.
    pub bounds: Bounds,
    /// Whether every next state is replaced by the representative of its symmetry class.
    ///
    /// The reduction lives in the model rather than in the checker because stateright 0.31
    /// applies `symmetry()` only under DFS, whose pending jobs each copy their path and ran out
    /// of memory on this graph; in the model it works under BFS and with any thread count. A
    /// path then names connections by their canonical ids at each step: [`crate::concrete`]
    /// maps it back to a history a live server can replay.
    pub symmetry: bool,
    /// A deliberate bug applied after every step, for tests that show the properties can fail
    /// (a checker that cannot fail proves nothing). `None` in every real check.
    pub mutation: Option<Mutation>,
}

impl HubModel {
    /// A model of `spec` over `bounds`.
    pub fn new(spec: Spec, bounds: Bounds) -> Self {
        HubModel {
            spec,
            bounds,
            symmetry: true,
            mutation: None,
        }
    }
}

/// What a step delivered, as far as the transition properties need to know: per recipient,
/// how many copies it got written now, buffered, and replayed. Fixed-size, so the checker's
/// hot path does not allocate.
#[derive(Default)]
pub(crate) struct Tally {
    entries: [(u32, u8, u8, u8); 8],
    len: usize,
    overflow: bool,
}

impl Tally {
    /// The recipients, each once.
    pub(crate) fn recipients(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.entries[..self.len].iter().map(|e| ConnId(e.0))
    }

    /// Copies written now, buffered and replayed for `id`.
    pub(crate) fn modes(&self, id: ConnId) -> (u8, u8, u8) {
        self.entries[..self.len]
            .iter()
            .find(|e| e.0 == id.0)
            .map_or((0, 0, 0), |e| (e.1, e.2, e.3))
    }

    /// Whether anything was delivered.
    pub(crate) fn any(&self) -> bool {
        self.len > 0
    }

    /// Copies of a send delivered to `id`, now or kept for it.
    pub(crate) fn total(&self, id: ConnId) -> u8 {
        let (now, kept, _) = self.modes(id);
        now + kept
    }
}

impl Sink<Small> for Tally {
    fn deliver(&mut self, to: ConnId, _: &u8, mode: Mode) {
        let i = match self.entries[..self.len].iter().position(|e| e.0 == to.0) {
            Some(i) => i,
            None if self.len < self.entries.len() => {
                self.entries[self.len] = (to.0, 0, 0, 0);
                self.len += 1;
                self.len - 1
            }
            None => {
                self.overflow = true;
                return;
            }
        };
        match mode {
            Mode::Now => self.entries[i].1 += 1,
            Mode::Buffered => self.entries[i].2 += 1,
            Mode::Replayed => self.entries[i].3 += 1,
        }
    }
}

impl Model for HubModel {
    type State = CheckState;
    type Action = Op<Small>;

    fn init_states(&self) -> Vec<CheckState> {
        vec![CheckState::default()]
    }

    fn actions(&self, state: &CheckState, out: &mut Vec<Op<Small>>) {
        actions::enabled(&self.spec, &self.bounds, &state.hub, out);
    }

    fn next_state(&self, last: &CheckState, op: Op<Small>) -> Option<CheckState> {
        let mut hub = last.hub.clone();
        let mut tally = Tally::default();
        let result = hub.apply_to(&self.spec, &op, &mut tally).ok()?;
        if let Some(m) = self.mutation {
            if let Some(mutate) = m.state {
                mutate(&op, &mut hub);
            }
            if let Some(extra) = m.extra_delivery.and_then(|f| f(&op, &last.hub)) {
                tally.deliver(extra, &0, Mode::Now);
            }
        }
        let mut violations = last.violations;
        for v in transition_violations(&self.spec, &last.hub, &op, result, &hub, &tally) {
            violations |= v.bit();
        }
        let mut next = CheckState { hub, violations };
        if self.symmetry {
            next.canonicalize();
        }
        Some(next)
    }

    fn format_action(&self, op: &Op<Small>) -> String {
        hubspec_model::format_op(&small_to_text(op))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all(&self.spec, &self.bounds)
    }

    fn within_boundary(&self, state: &CheckState) -> bool {
        state
            .hub
            .conns
            .iter()
            .all(|c| c.buffer.count() <= usize::from(self.bounds.buffer))
    }
}

/// The transition properties of one step from `before` to `after`, stated here from the rules
/// rather than by calling the model's own code for the same step: a disagreement between the
/// two is what the checker exists to find.
fn transition_violations(
    spec: &Spec,
    before: &Hub<Small>,
    op: &Op<Small>,
    result: OpResult,
    after: &Hub<Small>,
    tally: &Tally,
) -> Vec<Violation> {
    let mut out = Vec::new();
    // Every delivery goes to a connection live before the step: written now when it is
    // connected, kept when it is suspended, replayed only to the connection a resume resumes.
    let resumed = match op {
        Op::Resume { conn, .. } => Some(*conn),
        _ => None,
    };
    let misdelivered = tally.overflow
        || tally.recipients().any(|id| {
            let (now, kept, replayed) = tally.modes(id);
            match before.conn(id) {
                None => true,
                Some(c) => {
                    (now > 0 && c.status != Status::Connected && resumed != Some(id))
                        || (kept > 0 && c.status != Status::Suspended)
                        || (replayed > 0 && resumed != Some(id))
                }
            }
        });
    if misdelivered {
        out.push(Violation::DeliveryToDead);
    }
    match op {
        Op::Connect { user } => {
            let OpResult::Connected(id) = result else {
                out.push(Violation::NewConnectionInherits);
                return out;
            };
            let c = after.conn(id).expect("connected");
            let restored = match user {
                Some(u) => after.rooms_of(u),
                None => Bits::default(),
            };
            if c.groups != restored {
                out.push(Violation::NewConnectionInherits);
            }
        }
        Op::Resume {
            conn,
            altered_token,
        } => {
            if let (Some(b), Some(a)) = (before.conn(*conn), after.conn(*conn)) {
                // Core-stateful: the groups it holds now, adds and removes by id while it was
                // suspended included (REC-SUSPENDED-KEEPS-GROUPS). Classic: its groups token.
                let expected: Vec<u8> = match spec.profile {
                    Profile::Classic if *altered_token => vec![],
                    Profile::Classic if spec.verify_rejoin => {
                        let store = b
                            .user
                            .as_ref()
                            .map_or(Bits::default(), |u| before.rooms_of(u));
                        b.token.items().filter(|g| store.has(g)).collect()
                    }
                    Profile::Classic => b.token.items().collect(),
                    _ => b.groups.items().collect(),
                };
                let replayed = usize::from(tally.modes(*conn).2);
                if a.groups.items().collect::<Vec<u8>>() != expected
                    || a.status != Status::Connected
                    || replayed != b.buffer.count()
                {
                    out.push(Violation::ResumeChangesGroups);
                }
            }
        }
        Op::Restart if after.conns.iter().any(|c| !c.groups.none()) || !after.conns.is_empty() => {
            out.push(Violation::RestartKeepsMembership);
        }
        Op::AddToGroup { caller, group } | Op::RemoveFromGroup { caller, group } => {
            let add = matches!(op, Op::AddToGroup { .. });
            if !membership_ok(spec, before, after, Target::Id(*caller), group, add, result) {
                out.push(Violation::MembershipStray);
            }
        }
        Op::AddConnectionToGroup { target, group, .. }
        | Op::RemoveConnectionFromGroup { target, group, .. } => {
            let add = matches!(op, Op::AddConnectionToGroup { .. });
            if !membership_ok(spec, before, after, *target, group, add, result) {
                out.push(Violation::MembershipStray);
            }
        }
        Op::JoinRoom { caller, room } | Op::LeaveRoom { caller, room } => {
            let add = matches!(op, Op::JoinRoom { .. });
            let has_user = before.conn(*caller).is_some_and(|c| c.user.is_some());
            let ok = if room.is_some() && !has_user {
                result == OpResult::Error(ErrorKind::NoUser) && after.conns == before.conns
            } else {
                membership_ok(spec, before, after, Target::Id(*caller), room, add, result)
            };
            if !ok {
                out.push(Violation::MembershipStray);
            }
        }
        Op::Send {
            caller, selector, ..
        } => {
            let wrong = before
                .conns
                .iter()
                .any(|c| tally.total(c.id) != expected_copies(spec, *caller, selector, c));
            if wrong {
                out.push(match selector {
                    Selector::User(_) | Selector::Users(_) => Violation::UserSendMisses,
                    Selector::Group(_)
                    | Selector::Groups(_)
                    | Selector::GroupExcept(..)
                    | Selector::OthersInGroup(_) => Violation::GroupSendNotExactlyMembers,
                    _ => Violation::BroadcastSendWrong,
                });
            }
        }
        _ => {}
    }
    out
}

/// Whether an add (`add`) or remove of `target` to `group` did exactly what GRP-ADD-BY-ID,
/// GRP-UNKNOWN-ID, GRP-CLOSED-ID, GRP-CLASSIC-UNKNOWN-ID-CANCELLED, GRP-NULL-NAME and
/// GRP-NULL-CONNECTION-ID (the id is checked before the group name) say:
/// only the target's membership of that one group changed, and the result is the rule's.
fn membership_ok(
    spec: &Spec,
    before: &Hub<Small>,
    after: &Hub<Small>,
    target: Target,
    group: &Option<u8>,
    add: bool,
    result: OpResult,
) -> bool {
    let live = match target {
        Target::Id(id) => before.conn(id).map(|c| c.id),
        Target::Unknown | Target::Null => None,
    };
    let want_result = match (group, live) {
        _ if target == Target::Null => OpResult::Error(ErrorKind::NullConnectionId),
        (None, _) => OpResult::Error(ErrorKind::NullGroupName),
        (Some(_), None) if spec.profile == Profile::Classic => {
            OpResult::Error(ErrorKind::Cancelled)
        }
        _ => OpResult::Ok,
    };
    if result != want_result || after.conns.len() != before.conns.len() {
        return false;
    }
    before.conns.iter().zip(&after.conns).all(|(b, a)| {
        let mut want = b.groups;
        if let (Some(g), Some(id)) = (group, live) {
            if id == b.id {
                if add {
                    want.put(*g);
                } else {
                    want.take(g);
                }
            }
        }
        a.id == b.id
            && a.groups == want
            && a.status == b.status
            && a.user == b.user
            && a.buffer == b.buffer
            && a.token == b.token
    })
}

/// How many copies of a send connection `c` should get, restated from the SND- rules.
fn expected_copies(
    spec: &Spec,
    caller: ConnId,
    selector: &Selector<Small>,
    c: &hubspec_model::Conn<Small>,
) -> u8 {
    let listed = |ids: &[Target]| ids.contains(&Target::Id(c.id));
    let bad_name = |g: &Option<u8>| match g {
        None => true,
        Some(g) => spec.profile == Profile::Classic && g.is_empty_name(),
    };
    match selector {
        Selector::All => 1,
        Selector::AllExcept(ids) => u8::from(!listed(ids)),
        Selector::Others => u8::from(c.id != caller),
        Selector::Caller => u8::from(c.id == caller),
        Selector::Connection(t) => u8::from(*t == Target::Id(c.id)),
        Selector::Connections(ids) => u8::from(listed(ids)),
        Selector::Group(g) if bad_name(g) => 0,
        Selector::Group(Some(g)) => u8::from(c.groups.has(g)),
        Selector::GroupExcept(g, _) | Selector::OthersInGroup(g) if bad_name(g) => 0,
        Selector::GroupExcept(Some(g), ids) => u8::from(c.groups.has(g) && !listed(ids)),
        Selector::OthersInGroup(Some(g)) => u8::from(c.groups.has(g) && c.id != caller),
        Selector::Groups(gs) => {
            // Up to the first null or empty name, which fails the send there.
            let k = gs
                .iter()
                .take_while(|g| g.is_some_and(|g| !g.is_empty_name()))
                .filter(|g| g.is_some_and(|g| c.groups.has(&g)))
                .count() as u8;
            match spec.groups_fanout {
                GroupsFanout::PerGroup => k,
                GroupsFanout::Once => k.min(1),
            }
        }
        Selector::User(u) => u8::from(c.user == Some(*u)),
        Selector::Users(us) => u8::from(c.user.is_some_and(|u| us.contains(&u))),
        Selector::Group(None) | Selector::GroupExcept(None, _) | Selector::OthersInGroup(None) => 0,
    }
}
