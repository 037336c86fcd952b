//! The properties the checker proves: invariants that hold in every reachable state, and
//! witnesses that the interesting cases are reachable at all, so that a bound too small to
//! exhibit them fails loudly instead of proving things vacuously.
//!
//! Two facts hold by construction and are therefore *not* properties here: membership is
//! stored on live connections only (`Conn::groups`), so no ended connection can be a member,
//! and the group → members view (`Hub::groups`) is derived from it, so no empty group can be
//! represented. What can go wrong is what a step *does*, and that is what the `always`
//! properties check, each on every transition: who received a message and in which mode, what
//! a membership change touched, what a connect, resume or restart left. Each of them has a
//! test in `check/tests/check.rs` with a deliberate bug that makes it fail.
//!
//! A `sometimes` witness over states alone cannot show that an operation happened, so most
//! witnesses here are *steps*: "some enabled operation of this kind, applied to a reachable
//! state, has this interesting outcome" (an add to a closed id, a resume that replays, a
//! `Groups` send that delivers two copies…). They are evaluated by applying every enabled
//! operation of the state once; the explorer stops evaluating a witness once a shallower one
//! is known, so this costs only the first few levels.
//!
//! One file: most of it is the `STEP_WITNESSES` table, which is read next to the invariants it
//! complements; the machinery around it fits on a screen.

use crate::actions;
use crate::bounds::Bounds;
use crate::model::{HubModel, Tally};
use crate::state::CheckState;
use hubspec_model::{
    ConnId, ErrorKind, GroupSet, GroupsFanout, Hub, Op, OpResult, Profile, Queue, Selector, Small,
    Spec, Status, Target,
};
use stateright::Property;
use std::cell::RefCell;

/// A transition property, checked on each step and recorded in [`CheckState::violations`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A new connection is in groups other than the rooms restored for its user.
    NewConnectionInherits,
    /// A resume left the connection with groups other than those it held when resumed
    /// (core-stateful) or than its verified token (classic), or lost buffered messages.
    ResumeChangesGroups,
    /// A restart left a connection or a membership.
    RestartKeepsMembership,
    /// `User(u)` / `Users(list)` reached other than each listed user's connections once.
    UserSendMisses,
    /// `Group`, `GroupExcept`, `OthersInGroup` or `Groups` reached other than the selected
    /// members with the configured fan-out.
    GroupSendNotExactlyMembers,
    /// `All`, `AllExcept`, `Others`, `Caller`, `Client` or `Clients` reached other than its
    /// recipients, once each.
    BroadcastSendWrong,
    /// Something was delivered to a connection that was not live, in the wrong mode (now to a
    /// suspended one, kept for a connected one), or replayed outside a resume.
    DeliveryToDead,
    /// A membership change touched another connection, another group or another field, or
    /// answered other than its rule says (null name, unknown or closed id, no user).
    MembershipStray,
}

impl Violation {
    /// The violation's bit in [`CheckState::violations`].
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

fn ok(s: &CheckState, v: Violation) -> bool {
    s.violations & v.bit() == 0
}

/// One step as a witness sees it.
pub(crate) struct Step<'a> {
    before: &'a Hub<Small>,
    op: &'a Op<Small>,
    result: OpResult,
    after: &'a Hub<Small>,
    tally: &'a Tally,
}

impl Step<'_> {
    fn conn(&self, id: ConnId) -> Option<&hubspec_model::Conn<Small>> {
        self.before.conn(id)
    }
    fn in_group(&self, id: ConnId, g: u8) -> bool {
        self.conn(id).is_some_and(|c| c.groups.has(&g))
    }
    fn members(&self, g: u8) -> usize {
        self.before.members(&g).count()
    }
    fn live(&self, t: Target) -> bool {
        matches!(t, Target::Id(id) if self.conn(id).is_some())
    }
    fn closed(&self, t: Target) -> bool {
        matches!(t, Target::Id(id) if self.conn(id).is_none())
    }
    fn max_copies(&self) -> u8 {
        self.before
            .conns
            .iter()
            .map(|c| self.tally.total(c.id))
            .max()
            .unwrap_or(0)
    }
}

/// Which specs and universes a witness applies to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum When {
    Always,
    /// A drop suspends (core-stateful, classic).
    Suspending,
    Classic,
    ClassicVerify,
    PerGroup,
    Once,
    Rooms,
    Restart,
    RoomsRestart,
    SuspendingRestart,
}

impl When {
    fn holds(self, spec: &Spec, bounds: &Bounds) -> bool {
        match self {
            When::Always => true,
            When::Suspending => spec.profile.suspends_on_drop(),
            When::Classic => spec.profile == Profile::Classic,
            When::ClassicVerify => spec.profile == Profile::Classic && spec.verify_rejoin,
            When::PerGroup => spec.groups_fanout == GroupsFanout::PerGroup,
            When::Once => spec.groups_fanout == GroupsFanout::Once,
            When::Rooms => bounds.rooms,
            When::Restart => bounds.restart,
            When::RoomsRestart => bounds.rooms && bounds.restart,
            When::SuspendingRestart => spec.profile.suspends_on_drop() && bounds.restart,
        }
    }
}

type StepWitness = fn(&Step) -> bool;

/// Every step witness: its name (the rule whose interesting case it shows, then the case), when
/// it applies, and the step that shows it.
const STEP_WITNESSES: &[(&str, When, StepWitness)] = &[
    (
        "CON-DISCONNECT-LEAVES-GROUPS: Disconnect of a group member",
        When::Always,
        |s| matches!(s.op, Op::Disconnect { conn } if s.conn(*conn).is_some_and(|c| !c.groups.none())),
    ),
    (
        "Drop of a group member",
        When::Always,
        |s| matches!(s.op, Op::Drop { conn } if s.conn(*conn).is_some_and(|c| !c.groups.none())),
    ),
    (
        "GRP-ADD-IDEMPOTENT: AddToGroup of a member",
        When::Always,
        |s| matches!(s.op, Op::AddToGroup { caller, group: Some(g) } if s.in_group(*caller, *g)),
    ),
    (
        "GRP-NULL-NAME: AddToGroup(null) refused",
        When::Always,
        |s| {
            matches!(s.op, Op::AddToGroup { .. })
                && s.result == OpResult::Error(ErrorKind::NullGroupName)
        },
    ),
    (
        "GRP-NULL-CONNECTION-ID: AddConnectionToGroup(null, null) refused for the id",
        When::Always,
        |s| {
            matches!(
                s.op,
                Op::AddConnectionToGroup {
                    target: Target::Null,
                    group: None,
                    ..
                }
            ) && s.result == OpResult::Error(ErrorKind::NullConnectionId)
        },
    ),
    (
        "GRP-NULL-CONNECTION-ID: Client(null) refused",
        When::Always,
        |s| {
            matches!(
                s.op,
                Op::Send {
                    selector: Selector::Connection(Target::Null),
                    ..
                }
            ) && s.result == OpResult::Error(ErrorKind::NullConnectionId)
        },
    ),
    (
        "GRP-NULL-CONNECTION-ID: Clients(ids) with a null reaches a live listed one",
        When::Always,
        |s| {
            matches!(s.op, Op::Send { selector: Selector::Connections(ids), .. }
            if ids.contains(&Target::Null))
                && s.tally.any()
        },
    ),
    (
        "GRP-REMOVE-NONMEMBER: RemoveFromGroup of a non-member of an existing group",
        When::Always,
        |s| {
            matches!(s.op, Op::RemoveFromGroup { caller, group: Some(g) }
            if !s.in_group(*caller, *g) && s.members(*g) > 0)
        },
    ),
    (
        "GRP-REMOVE-ONE: RemoveFromGroup leaves another member",
        When::Always,
        |s| {
            matches!(s.op, Op::RemoveFromGroup { caller, group: Some(g) }
            if s.in_group(*caller, *g) && s.members(*g) >= 2)
        },
    ),
    (
        "GRP-UNKNOWN-ID: AddConnectionToGroup of an id never issued",
        When::Always,
        |s| {
            matches!(
                s.op,
                Op::AddConnectionToGroup {
                    target: Target::Unknown,
                    group: Some(_),
                    ..
                }
            )
        },
    ),
    (
        "GRP-CLOSED-ID: AddConnectionToGroup of an ended id",
        When::Always,
        |s| matches!(s.op, Op::AddConnectionToGroup { target, group: Some(_), .. } if s.closed(*target)),
    ),
    (
        "GRP-CLOSED-ID: RemoveConnectionFromGroup of an ended id",
        When::Always,
        |s| matches!(s.op, Op::RemoveConnectionFromGroup { target, group: Some(_), .. } if s.closed(*target)),
    ),
    (
        "GRP-ADD-BY-ID: RemoveConnectionFromGroup removes another member",
        When::Always,
        |s| {
            matches!(s.op, Op::RemoveConnectionFromGroup { caller, target: Target::Id(t), group: Some(g) }
            if t != caller && s.in_group(*t, *g))
        },
    ),
    (
        "GRP-CLASSIC-UNKNOWN-ID-CANCELLED: an add by id is cancelled",
        When::Classic,
        |s| {
            matches!(s.op, Op::AddConnectionToGroup { .. })
                && s.result == OpResult::Error(ErrorKind::Cancelled)
        },
    ),
    (
        "SND-ALL-EXCEPT: AllExcept excludes a live connection and reaches another",
        When::Always,
        |s| {
            matches!(s.op, Op::Send { selector: Selector::AllExcept(ids), .. }
            if ids.iter().any(|t| s.live(*t)))
                && s.tally.any()
        },
    ),
    (
        "SND-OTHERS: Others reaches another connection",
        When::Always,
        |s| {
            matches!(
                s.op,
                Op::Send {
                    selector: Selector::Others,
                    ..
                }
            ) && s.tally.any()
        },
    ),
    (
        "SND-CALLER: Caller with another connection live",
        When::Always,
        |s| {
            matches!(
                s.op,
                Op::Send {
                    selector: Selector::Caller,
                    ..
                }
            ) && s.before.conns.len() >= 2
        },
    ),
    (
        "SND-CONNECTION: Client(id) of an ended id reaches nobody",
        When::Always,
        |s| matches!(s.op, Op::Send { selector: Selector::Connection(t), .. } if s.closed(*t)),
    ),
    (
        "SND-CONNECTIONS: Clients(ids) with an ended and an unknown id reaches a live one",
        When::Always,
        |s| {
            matches!(s.op, Op::Send { selector: Selector::Connections(ids), .. }
            if ids.iter().any(|t| s.closed(*t)) && ids.contains(&Target::Unknown))
                && s.tally.any()
        },
    ),
    (
        "SND-GROUP: Group(g) reaches two members",
        When::Always,
        |s| matches!(s.op, Op::Send { selector: Selector::Group(Some(g)), .. } if s.members(*g) >= 2),
    ),
    ("SND-GROUP: Group(null) refused", When::Always, |s| {
        matches!(
            s.op,
            Op::Send {
                selector: Selector::Group(None),
                ..
            }
        ) && matches!(s.result, OpResult::Error(_))
    }),
    (
        "SND-GROUPS-FANOUT: Groups(list) delivers two copies to one connection",
        When::PerGroup,
        |s| {
            matches!(
                s.op,
                Op::Send {
                    selector: Selector::Groups(_),
                    ..
                }
            ) && s.max_copies() >= 2
        },
    ),
    (
        "SND-GROUPS-FANOUT: Groups(list) delivers one copy to a member of two listed groups",
        When::Once,
        |s| {
            matches!(s.op, Op::Send { selector: Selector::Groups(gs), .. }
            if s.before.conns.iter().any(|c| gs.iter().flatten().filter(|g| c.groups.has(g)).count() >= 2))
        },
    ),
    (
        "SND-GROUPS-EMPTY-NAME: Groups(list) fails at a null name after writing a group",
        When::Always,
        |s| {
            matches!(
                s.op,
                Op::Send {
                    selector: Selector::Groups(_),
                    ..
                }
            ) && matches!(s.result, OpResult::Error(_))
                && s.tally.any()
        },
    ),
    (
        "SND-GROUP-EXCEPT: GroupExcept lists a live id outside the group",
        When::Always,
        |s| {
            matches!(s.op, Op::Send { selector: Selector::GroupExcept(Some(g), ids), .. }
            if ids.iter().any(|t| matches!(t, Target::Id(id) if s.conn(*id).is_some() && !s.in_group(*id, *g))))
                && s.tally.any()
        },
    ),
    (
        "SND-GROUP-EXCEPT: GroupExcept excludes a member and reaches another",
        When::Always,
        |s| {
            matches!(s.op, Op::Send { selector: Selector::GroupExcept(Some(g), ids), .. }
            if ids.iter().any(|t| matches!(t, Target::Id(id) if s.in_group(*id, *g))))
                && s.tally.any()
        },
    ),
    (
        "SND-OTHERS-IN-GROUP: OthersInGroup from a caller outside the group",
        When::Always,
        |s| {
            matches!(s.op, Op::Send { caller, selector: Selector::OthersInGroup(Some(g)), .. }
            if !s.in_group(*caller, *g))
                && s.tally.any()
        },
    ),
    (
        "SND-OTHERS-IN-GROUP: OthersInGroup from a member reaches another",
        When::Always,
        |s| {
            matches!(s.op, Op::Send { caller, selector: Selector::OthersInGroup(Some(g)), .. }
            if s.in_group(*caller, *g))
                && s.tally.any()
        },
    ),
    (
        "SND-USER: User(u) reaches two connections",
        When::Always,
        |s| {
            matches!(
                s.op,
                Op::Send {
                    selector: Selector::User(_),
                    ..
                }
            ) && s.tally.recipients().count() >= 2
        },
    ),
    (
        "SND-USERS: Users(list) naming a user twice reaches its connection once",
        When::Always,
        |s| {
            matches!(s.op, Op::Send { selector: Selector::Users(us), .. }
            if us.iter().enumerate().any(|(i, u)| us[i + 1..].contains(u)))
                && s.tally.any()
        },
    ),
    (
        "REC-SUSPENDED-KEEPS-GROUPS: a send is kept for a suspended member",
        When::Suspending,
        |s| {
            matches!(
                s.op,
                Op::Send {
                    selector: Selector::Group(Some(_)),
                    ..
                }
            ) && s.tally.recipients().any(|id| s.tally.modes(id).1 > 0)
        },
    ),
    (
        "REC-SUSPENDED-KEEPS-GROUPS: AddConnectionToGroup adds a suspended connection",
        When::Suspending,
        |s| {
            matches!(s.op, Op::AddConnectionToGroup { target: Target::Id(t), group: Some(g), .. }
            if s.conn(*t).is_some_and(|c| c.status == Status::Suspended && !c.groups.has(g)))
        },
    ),
    (
        "REC-SUSPENDED-KEEPS-GROUPS: RemoveConnectionFromGroup removes a suspended member",
        When::Suspending,
        |s| {
            matches!(s.op, Op::RemoveConnectionFromGroup { target: Target::Id(t), group: Some(g), .. }
            if s.conn(*t).is_some_and(|c| c.status == Status::Suspended && c.groups.has(g)))
        },
    ),
    (
        "REC-RESUME-REPLAYS: Resume of a member replays kept messages",
        When::Suspending,
        |s| {
            matches!(s.op, Op::Resume { conn, altered_token: false }
            if s.conn(*conn).is_some_and(|c| !c.groups.none() || !c.token.none()))
                && s.result == OpResult::Ok
                && s.tally.any()
        },
    ),
    (
        "REC-EXPIRE-ENDS: Expire of a member holding messages",
        When::Suspending,
        |s| {
            matches!(s.op, Op::Expire { conn }
            if s.conn(*conn).is_some_and(|c| !c.groups.none() && c.buffer.count() > 0))
        },
    ),
    (
        "REC-GRACEFUL-NO-RESUME: Resume of an ended id refused",
        When::Suspending,
        |s| {
            matches!(s.op, Op::Resume { .. })
                && s.result == OpResult::Error(ErrorKind::ConnectionGone)
        },
    ),
    (
        "REC-CLASSIC-REJOIN: Resume rejoins a non-empty token",
        When::Classic,
        |s| {
            matches!(s.op, Op::Resume { conn, altered_token: false }
            if s.conn(*conn).is_some_and(|c| !c.token.none()))
                && s.result == OpResult::Ok
                && s.after.conns.iter().any(|c| !c.groups.none())
        },
    ),
    (
        "REC-CLASSIC-ALTERED-TOKEN: Resume with an altered non-empty token",
        When::Classic,
        |s| {
            matches!(s.op, Op::Resume { conn, altered_token: true }
            if s.conn(*conn).is_some_and(|c| !c.token.none()))
        },
    ),
    (
        "REC-CLASSIC-VERIFY: Resume drops a token group the store does not confirm",
        When::ClassicVerify,
        |s| {
            matches!(s.op, Op::Resume { conn, altered_token: false }
            if s.conn(*conn).zip(s.after.conn(*conn)).is_some_and(|(b, a)| a.groups.count() < b.token.count() && !a.groups.none()))
        },
    ),
    (
        "ROOM-RESTORE-ON-CONNECT: Connect restores a room",
        When::Rooms,
        |s| matches!(s.result, OpResult::Connected(id) if s.after.conn(id).is_some_and(|c| !c.groups.none())),
    ),
    (
        "ROOM-NEEDS-USER: JoinRoom without a user refused",
        When::Rooms,
        |s| matches!(s.op, Op::JoinRoom { .. }) && s.result == OpResult::Error(ErrorKind::NoUser),
    ),
    (
        "ROOM-LEAVE-DELETES: LeaveRoom deletes a record",
        When::Rooms,
        |s| {
            matches!(s.op, Op::LeaveRoom { caller, room: Some(r) }
            if s.conn(*caller).and_then(|c| c.user).is_some_and(|u| s.before.rooms_of(&u).has(r)))
        },
    ),
    (
        "ROOM-LEAVE-DELETES: LeaveRoom without a record removes the caller from the group",
        When::Rooms,
        |s| {
            matches!(s.op, Op::LeaveRoom { caller, room: Some(r) }
            if s.in_group(*caller, *r)
                && s.conn(*caller).and_then(|c| c.user).is_some_and(|u| !s.before.rooms_of(&u).has(r)))
        },
    ),
    (
        "RST-WIPES-MEMBERSHIP: Restart ends a member",
        When::Restart,
        |s| matches!(s.op, Op::Restart) && s.before.conns.iter().any(|c| !c.groups.none()),
    ),
    (
        "RST-NO-RESUME: Resume refused after a restart",
        When::SuspendingRestart,
        |s| {
            matches!(s.op, Op::Resume { .. })
                && s.before.epoch > 0
                && s.result == OpResult::Error(ErrorKind::ConnectionGone)
        },
    ),
    (
        "GRP-DELETE-ON-EMPTY: RemoveFromGroup of the last member",
        When::Always,
        |s| {
            matches!(s.op, Op::RemoveFromGroup { caller, group: Some(g) }
            if s.in_group(*caller, *g) && s.members(*g) == 1)
        },
    ),
    ("SND-ALL: All reaches two connections", When::Always, |s| {
        matches!(
            s.op,
            Op::Send {
                selector: Selector::All,
                ..
            }
        ) && s.tally.recipients().count() >= 2
    }),
    (
        "ROOM-SURVIVE-RESTART: Connect after a restart restores a room",
        When::RoomsRestart,
        |s| {
            s.before.epoch > 0
                && matches!(s.result, OpResult::Connected(id)
                if s.after.conn(id).is_some_and(|c| !c.groups.none()))
        },
    ),
    (
        "ROOM-PER-USER: Connect of a user without records while another user has some",
        When::Rooms,
        |s| {
            matches!(s.op, Op::Connect { user: Some(u) }
            if s.before.rooms_of(u).none() && s.before.rooms.iter().any(|r| r.user != *u))
        },
    ),
];

/// The step witnesses that hold in `s`, as bits in [`STEP_WITNESSES`] order. Every enabled
/// operation is applied once per state; the last state's bits are cached per thread, since
/// the explorer evaluates every property on one state in a row.
fn step_witnesses(m: &HubModel, s: &CheckState) -> u64 {
    thread_local! {
        static LAST: RefCell<Option<(Spec, Bounds, CheckState, u64)>> = const { RefCell::new(None) };
    }
    LAST.with(|last| {
        if let Some((spec, bounds, state, bits)) = &*last.borrow() {
            if *spec == m.spec && *bounds == m.bounds && state == s {
                return *bits;
            }
        }
        // The witnesses that apply to this spec and universe; the others are never read.
        let want = STEP_WITNESSES
            .iter()
            .enumerate()
            .filter(|(_, (_, when, _))| when.holds(&m.spec, &m.bounds))
            .fold(0u64, |b, (i, _)| b | 1 << i);
        let mut ops = Vec::new();
        actions::enabled(&m.spec, &m.bounds, &s.hub, &mut ops);
        let mut bits = 0u64;
        for op in &ops {
            if bits == want {
                break;
            }
            let mut after = s.hub.clone();
            let mut tally = Tally::default();
            let Ok(result) = after.apply_to(&m.spec, op, &mut tally) else {
                continue;
            };
            let step = Step {
                before: &s.hub,
                op,
                result,
                after: &after,
                tally: &tally,
            };
            for (i, (_, _, w)) in STEP_WITNESSES.iter().enumerate() {
                if want & !bits & (1 << i) != 0 && w(&step) {
                    bits |= 1 << i;
                }
            }
        }
        *last.borrow_mut() = Some((m.spec, m.bounds, s.clone(), bits));
        bits
    })
}

fn witnessed<const I: usize>(m: &HubModel, s: &CheckState) -> bool {
    step_witnesses(m, s) & (1 << I) != 0
}

macro_rules! witness_fns {
    ($($i:literal)*) => { [$(witnessed::<$i> as fn(&HubModel, &CheckState) -> bool),*] };
}

/// One condition per entry of [`STEP_WITNESSES`] (stateright takes plain `fn`s).
const WITNESS_FNS: [fn(&HubModel, &CheckState) -> bool; 52] = witness_fns!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23
    24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
    48 49 50 51
);

/// Every property for `spec` over `bounds`.
pub fn all(spec: &Spec, bounds: &Bounds) -> Vec<Property<HubModel>> {
    let mut props = vec![
        Property::always(
            "the representation's invariants hold",
            |_, s: &CheckState| s.hub.check_invariants().is_ok(),
        ),
        Property::always(
            "every delivery goes to a live connection, in its mode",
            |_, s: &CheckState| ok(s, Violation::DeliveryToDead),
        ),
        Property::always(
            "a membership change touches only its target and group",
            |_, s: &CheckState| ok(s, Violation::MembershipStray),
        ),
        Property::always(
            "a new connection has no groups unless rooms restore them",
            |_, s: &CheckState| ok(s, Violation::NewConnectionInherits),
        ),
        Property::always(
            "a resume keeps the groups held when resumed (classic: the verified token) and replays every kept message",
            |_, s: &CheckState| ok(s, Violation::ResumeChangesGroups),
        ),
        Property::always("after a restart no connection and no membership", |_, s: &CheckState| {
            ok(s, Violation::RestartKeepsMembership)
        }),
        Property::always(
            "user sends reach each connection of the listed users once",
            |_, s: &CheckState| ok(s, Violation::UserSendMisses),
        ),
        Property::always(
            "group sends reach exactly the selected members, per the fan-out",
            |_, s: &CheckState| ok(s, Violation::GroupSendNotExactlyMembers),
        ),
        Property::always(
            "connection and broadcast sends reach exactly their recipients once",
            |_, s: &CheckState| ok(s, Violation::BroadcastSendWrong),
        ),
        Property::sometimes("a connection is in two groups", |_, s: &CheckState| {
            s.hub.conns.iter().any(|c| c.groups.count() >= 2)
        }),
        Property::sometimes("a group has two members", |_, s: &CheckState| {
            s.hub.groups().values().any(|m| m.len() >= 2)
        }),
        Property::sometimes("a user has two live connections", |_, s: &CheckState| {
            s.hub.conns.iter().enumerate().any(|(i, a)| {
                a.user.is_some() && s.hub.conns[i + 1..].iter().any(|b| b.user == a.user)
            })
        }),
        Property::sometimes("every connection slot is live", |m: &HubModel, s| {
            s.hub.conns.len() == usize::from(m.bounds.connections)
        }),
    ];
    if spec.profile != Profile::Core {
        props.push(Property::sometimes(
            "a suspended connection holds a full buffer",
            |m: &HubModel, s: &CheckState| {
                s.hub
                    .conns
                    .iter()
                    .any(|c| c.buffer.count() == usize::from(m.bounds.buffer))
            },
        ));
    }
    if bounds.restart && bounds.rooms {
        props.push(Property::sometimes(
            "a restart happened with records kept",
            |_, s: &CheckState| s.hub.epoch > 0 && !s.hub.rooms.is_empty(),
        ));
    }
    for (i, (name, when, _)) in STEP_WITNESSES.iter().enumerate() {
        if when.holds(spec, bounds) {
            props.push(Property::sometimes(name, WITNESS_FNS[i]));
        }
    }
    props
}

/// The names of the step witnesses that apply to `spec` over `bounds`: what a proof must find.
pub fn witness_names(spec: &Spec, bounds: &Bounds) -> Vec<&'static str> {
    STEP_WITNESSES
        .iter()
        .filter(|(_, when, _)| when.holds(spec, bounds))
        .map(|(name, _, _)| *name)
        .collect()
}

// Every step witness has a condition, and its bit fits the `u64` of [`step_witnesses`].
const _: () = assert!(STEP_WITNESSES.len() <= WITNESS_FNS.len() && WITNESS_FNS.len() <= 64);
