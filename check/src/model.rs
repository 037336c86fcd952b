//! The stateright `Model` of the specification.

use crate::actions;
use crate::bounds::Bounds;
use crate::properties::{self, Violation};
use crate::state::CheckState;
use hubspec_model::sets::Bits;
use hubspec_model::{
    transcript::small_to_text, ConnId, Hub, Mode, Op, OpResult, Profile, Selector, Sink, Small,
    Spec, Status,
};
use hubspec_model::{GroupSet, Queue};
use stateright::{Model, Property};

/// A deliberate bug: called after each step with the step's operation and the new state.
pub type Mutation = fn(&Op<Small>, &mut Hub<Small>);

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
/// how many copies it got now (or replayed) and how many were buffered. Fixed-size, so the
/// checker's hot path does not allocate.
#[derive(Default)]
struct Tally {
    entries: [(u32, u8, u8); 8],
    len: usize,
    overflow: bool,
}

impl Tally {
    /// Copies delivered now or replayed to `id`, and copies buffered for it.
    fn get(&self, id: ConnId) -> (u8, u8) {
        self.entries[..self.len]
            .iter()
            .find(|e| e.0 == id.0)
            .map_or((0, 0), |e| (e.1, e.2))
    }

    fn total(&self, id: ConnId) -> u8 {
        let (now, kept) = self.get(id);
        now + kept
    }
}

impl Sink<Small> for Tally {
    fn deliver(&mut self, to: ConnId, _: &u8, mode: Mode) {
        let i = match self.entries[..self.len].iter().position(|e| e.0 == to.0) {
            Some(i) => i,
            None if self.len < self.entries.len() => {
                self.entries[self.len] = (to.0, 0, 0);
                self.len += 1;
                self.len - 1
            }
            None => {
                self.overflow = true;
                return;
            }
        };
        if mode == Mode::Buffered {
            self.entries[i].2 += 1;
        } else {
            self.entries[i].1 += 1;
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
        if let Some(mutate) = self.mutation {
            mutate(&op, &mut hub);
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

/// The transition properties of one step from `before` to `after`.
fn transition_violations(
    spec: &Spec,
    before: &Hub<Small>,
    op: &Op<Small>,
    result: OpResult,
    after: &Hub<Small>,
    tally: &Tally,
) -> Vec<Violation> {
    let mut out = Vec::new();
    if tally.overflow {
        out.push(Violation::DeliveryToUnknown);
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
                // Stated here from the rule, not by calling the model's own resume.
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
                let replayed = usize::from(tally.get(*conn).0);
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
        Op::Send {
            selector: Selector::User(u),
            ..
        } => {
            for c in &before.conns {
                let copies = tally.total(c.id);
                let want = u8::from(c.user == Some(*u));
                if copies != want {
                    out.push(Violation::UserSendMisses);
                }
            }
        }
        Op::Send {
            selector: Selector::Group(Some(g)),
            ..
        } => {
            for c in &before.conns {
                let copies = tally.total(c.id);
                if copies != u8::from(c.groups.has(g)) {
                    out.push(Violation::GroupSendNotExactlyMembers);
                }
            }
        }
        _ => {}
    }
    out
}
